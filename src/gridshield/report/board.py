"""The 72-hour board: the strike, the repair crews' Gantt chart, the resilience curve of load and
heat, the people in homes below 12 °C and the rotating-outage blocks, on one shared clock axis."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Longest window a board draws (hours): two weeks.
MAX_BOARD_HOURS = 24 * 14
#: Bar colours of the repair tasks by asset class.
TASK_COLORS = {"bus": "#6a51a3", "transformer": "#d94801", "autotransformer": "#a63603", "line": "#2171b5",
               "generator": "#238b45"}
_ROWS = ("Repairs (one row per crew)", "Supply after the strike (% of demand)",
         "People in homes below 12 °C", "Rotating outages (white on, grey off, light grey possible)")


def _clock(strike: pd.Timestamp, hours: Any) -> list[pd.Timestamp]:
    return [strike + pd.Timedelta(hours=float(h)) for h in np.atleast_1d(hours)]


def board_figure(
    strike_time: Any,
    *,
    hours: float = 72.0,
    plan: Any = None,
    timeline: Any = None,
    heat: Any = None,
    schedule: Any = None,
    impact: Any = None,
    title: str | None = None,
    no_schedule_note: str = "",
) -> Any:
    """One figure, four rows sharing a clock axis from ``strike_time`` to ``strike_time + hours``.

    Parameters
    ----------
    strike_time
        When the strike happened (local time; a string or timestamp).
    plan, timeline
        A :class:`~gridshield.restore.curve.RestorationPlan` and its
        :class:`~gridshield.restore.timeline.RestorationTimeline` (rows 1-3).
    heat
        The strike's :class:`~gridshield.heat.HeatResult` (people below 12 °C without repairs, dashed).
    schedule
        A rotating-outage :class:`~gridshield.outages.Schedule` (row 4), in local times.
    impact
        The strike's impact (its cascade trips are marked at the strike).
    no_schedule_note
        What row 4 says when there is no schedule.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from gridshield.errors import GridshieldError

    if not 0 < float(hours) <= MAX_BOARD_HOURS:
        raise GridshieldError(f"board hours {hours!r}: give 1 to {MAX_BOARD_HOURS} hours")
    t0 = pd.Timestamp(strike_time)
    t0 = t0.tz_localize(None) if t0.tzinfo is not None else t0
    t1 = t0 + pd.Timedelta(hours=float(hours))
    n_groups = 0 if schedule is None else int((~np.asarray(schedule.exempt)).sum())
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=_ROWS,
                        row_heights=[0.24, 0.22, 0.2, 0.34 if n_groups else 0.1])
    if plan is not None:
        crews = [f"crew {int(c) + 1}" for c in plan.crew]
        shown: set[str] = set()
        for k, tid in enumerate(plan.task_id):
            cls = plan.asset_class[k]
            start = t0 + pd.Timedelta(hours=float(plan.start_h[k]))
            dur_ms = float(plan.end_h[k] - plan.start_h[k]) * 3.6e6
            fig.add_trace(go.Bar(
                y=[crews[k]], x=[dur_ms], base=[start.isoformat()], orientation="h", name=f"repair: {cls}",
                marker_color=TASK_COLORS.get(cls, "#737373"), legendgroup=f"task-{cls}", showlegend=cls not in shown,
                text=[tid.split(":", 1)[-1]], textposition="inside", insidetextanchor="start",
                hovertext=f"{tid} ({cls})<br>{plan.start_h[k]:.0f} h to {plan.end_h[k]:.0f} h after the strike",
                hoverinfo="text", meta={"kind": "repair"},
            ), row=1, col=1)
            shown.add(cls)
        fig.update_yaxes(autorange="reversed", row=1, col=1)
    if timeline is not None and plan is not None:
        th = np.r_[timeline.time_h, float(hours)]
        pct = 100.0 * timeline.served_mw / plan.demand_mw if plan.demand_mw > 0 else np.full(len(th) - 1, 100.0)
        fig.add_trace(go.Scatter(x=_clock(t0, th), y=np.r_[pct, pct[-1]], mode="lines", line_shape="hv",
                                 name="electricity served (% of demand)", line={"color": "#1d3557", "width": 2.5},
                                 meta={"kind": "served"}), row=2, col=1)
        if plan.heat_supplied_pct is not None:
            hp = np.asarray(plan.heat_supplied_pct, float)
            fig.add_trace(go.Scatter(x=_clock(t0, th), y=np.r_[hp, hp[-1]], mode="lines", line_shape="hv",
                                     name="heat supplied (% of heat demand)", line={"color": "#d7301f", "width": 2},
                                     meta={"kind": "heat supplied"}), row=2, col=1)
        fig.update_yaxes(range=[0, 105], ticksuffix=" %", row=2, col=1)
        grid_h = np.arange(0.0, float(hours) + 0.25, 0.25)
        fig.add_trace(go.Scatter(x=_clock(t0, grid_h), y=timeline.people_below_12c(grid_h), mode="lines",
                                 fill="tozeroy", name="people below 12 °C (with the repairs)",
                                 line={"color": "#e6550d"}, meta={"kind": "below 12"}), row=3, col=1)
    if heat is not None:
        h = np.asarray(heat.time_h, float)
        m = h <= float(hours)
        fig.add_trace(go.Scatter(x=_clock(t0, h[m]), y=np.asarray(heat.people_below_12c_t, float)[m], mode="lines",
                                 line={"color": "#7f2704", "dash": "dash"}, name="people below 12 °C without repairs",
                                 line_shape="hv", meta={"kind": "below 12, no repair"}), row=3, col=1)
    fig.update_yaxes(title_text="people", rangemode="tozero", row=3, col=1)
    if schedule is not None and n_groups:
        sw = np.flatnonzero(~np.asarray(schedule.exempt))
        times = pd.DatetimeIndex(schedule.times)
        times = times.tz_localize(None) if times.tz is not None else times
        z = np.where(schedule.state[sw] == 1, 2, np.where(schedule.state[sw] == 2, 1, 0))  # 0 on, 1 possible, 2 off
        scale = [[0.0, "#ffffff"], [0.33, "#ffffff"], [0.34, "#cfcfcf"], [0.66, "#cfcfcf"], [0.67, "#525252"],
                 [1.0, "#525252"]]
        fig.add_trace(go.Heatmap(
            z=z, x=times + pd.Timedelta(hours=schedule.step_h / 2), y=[f"group {schedule.group_ids[g]}" for g in sw],
            zmin=0, zmax=2, colorscale=scale, showscale=False, xgap=0, ygap=2, name="rotating outages",
            text=np.array([["on", "possible outage", "off"][v] for v in z.ravel()]).reshape(z.shape),
            hovertemplate="%{y} %{x|%a %H:%M}: %{text}<extra></extra>", meta={"kind": "outages"},
        ), row=4, col=1)
        fig.update_yaxes(autorange="reversed", row=4, col=1)
        s0 = times[0]
        if s0 > t0:
            fig.add_vrect(x0=t0, x1=min(s0, t1), fillcolor="#fee0d2", opacity=0.5, line_width=0, row=4, col=1)
            fig.add_annotation(x=t0 + (min(s0, t1) - t0) / 2, y=0.5, xref="x4", yref="y4 domain", showarrow=False,
                               text="emergency outages<br>until the schedule starts", font={"size": 11})
    if not n_groups:  # keep the shared time axis drawn, and say why the row is empty
        fig.add_trace(go.Scatter(x=[t0, t1], y=[0, 0], mode="lines", line={"width": 0}, hoverinfo="skip",
                                 showlegend=False), row=4, col=1)
        fig.update_yaxes(visible=False, row=4, col=1)
        fig.add_annotation(x=t0 + (t1 - t0) / 2, y=0.5, xref="x4", yref="y4 domain", showarrow=False,
                           text=no_schedule_note or "no rotating outages scheduled", font={"size": 12})
    # the strike: a red line through every row, cascade trips noted
    for r in range(1, 5):
        fig.add_vline(x=t0, line_color="#e31a1c", line_width=2, row=r, col=1)
    trips = len(getattr(impact, "trips", ()) or ())
    fig.add_annotation(x=t0, y=1.0, yref="paper", yanchor="bottom", showarrow=False, xanchor="left",
                       text="strike" + (f" + cascade ({trips} trips)" if trips else ""),
                       font={"color": "#e31a1c", "size": 12})
    fig.update_xaxes(type="date", range=[t0, t1], tickformat="%a %d %b\n%H:%M", dtick=6 * 3600 * 1000 if hours <= 96 else None,
                     showgrid=True, gridcolor="#eee")
    fig.update_xaxes(title_text=f"local time (strike at {t0:%a %d %b %Y %H:%M})", row=4, col=1)
    fig.update_layout(
        title=title or f"The next {hours:g} hours", barmode="overlay", height=900, plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.08, "yanchor": "top"}, margin={"l": 80, "r": 20, "t": 70, "b": 40},
        bargap=0.25,
    )
    return fig


__all__ = ["MAX_BOARD_HOURS", "board_figure"]
