"""Printable timetables: self-contained HTML (no scripts) and a plotly figure for PNG."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from gridshield.outages.core import OFF, ON, POSSIBLE

WHITE, GREY, LIGHT = "#ffffff", "#6b6b6b", "#d3d3d3"

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.2em 0 .3em}
p.meta{color:#444;margin:.2em 0}
table.tt{border-collapse:collapse;margin:.3em 0 1em;font-size:11px}
table.tt th,table.tt td{border:1px solid #999;padding:0;text-align:center}
table.tt th{background:#f4f4f4;font-weight:600;padding:2px 3px}
table.tt th.g{text-align:left;white-space:nowrap;padding:2px 6px}
table.tt td.c{width:22px;height:18px}
td.on{background:#ffffff} td.off{background:#6b6b6b} td.pos{background:#d3d3d3}
td.short{outline:2px solid #c00}
tr.mw td{font-size:9px;color:#333;padding:1px}
.legend span{display:inline-block;width:14px;height:12px;border:1px solid #999;vertical-align:middle;margin:0 4px 0 12px}
table.sum{border-collapse:collapse;font-size:12px} table.sum th,table.sum td{border:1px solid #bbb;padding:2px 8px;text-align:right}
table.sum th:first-child,table.sum td:first-child{text-align:left}
.warn{color:#b00;font-weight:600}
@media print{body{margin:0} .day{page-break-inside:avoid} *{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _label(t: pd.Timestamp, step_h: float) -> str:
    return f"{t.hour:02d}" if step_h >= 1 or t.minute == 0 else f":{t.minute:02d}"


def html_timetable(s, title: str = "Rotating outage schedule") -> str:
    e = html.escape
    rep = s.report()
    start, end = s.times[0], s.end
    tzs = f" ({e(s.tz)})" if s.tz else " (local time)"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p class='meta'>{start:%a %d %b %Y %H:%M} to {end:%a %d %b %Y %H:%M}{tzs}. "
             f"{len(s.group_ids)} groups, blocks of {s.block_steps * s.step_h:g} h, at least "
             f"{s.min_on_steps * s.step_h:g} h on between outages.</p>",
             "<p class='legend'>Legend:<span style='background:#fff'></span>power on"
             "<span style='background:#6b6b6b'></span>off (scheduled outage)"
             "<span style='background:#d3d3d3'></span>possible outage (off only if the deficit grows)</p>"]
    if not s.covered:
        parts.append(f"<p class='warn'>Deficit NOT fully covered in {rep['uncovered_steps']} steps "
                     f"(up to {rep['max_shortfall_mw']:.1f} MW, outlined in red): more load must be shed than the "
                     "switchable groups carry under these rules.</p>")
    gap = "" if s.bound_h is None else f", bound {s.bound_h:g} h, gap {rep['gap_h']:g} h"
    parts.append(f"<p class='meta'>Method: {e(s.method)} ({e(s.status)}); most hours off for any group: "
                 f"{s.fairness_h:g} h{gap}.</p>")
    days = pd.Index(s.times.normalize()).unique()
    state_cls = {ON: "on", OFF: "off", POSSIBLE: "pos"}
    order = np.argsort(np.array([s.exempt[g] for g in range(s.n_groups)]), kind="stable")
    for day in days:
        idx = np.flatnonzero(s.times.normalize() == day)
        parts.append(f"<div class='day'><h2>{day:%A %d %B %Y}</h2><table class='tt'><tr><th class='g'>group</th>")
        parts += [f"<th>{_label(s.times[t], s.step_h)}</th>" for t in idx]
        parts.append("<th>h off</th></tr>")
        for g in order:
            name = s.group_names[g]
            lab = e(s.group_ids[g] if name == s.group_ids[g] else f"{s.group_ids[g]} {name}")
            if s.exempt[g]:
                lab += " <small>(exempt)</small>"
            parts.append(f"<tr><th class='g'>{lab}</th>")
            for t in idx:
                v = int(s.state[g, t])
                tip = f"{s.times[t]:%H:%M} {('on', 'off', 'possible outage')[v]}"
                parts.append(f"<td class='c {state_cls[v]}' title='{tip}'></td>")
            parts.append(f"<td>{(s.state[g, idx] == OFF).sum() * s.step_h:g}</td></tr>")
        req_label = "deficit MW" if np.allclose(s.required_mw, s.deficit_mw) else "deficit + margin MW"
        for lab, arr in ((req_label, s.required_mw), ("shed MW", s.shed_total_mw)):
            parts.append(f"<tr class='mw'><th class='g'>{lab}</th>")
            for t in idx:
                cls = " class='short'" if lab == "shed MW" and s.shortfall_mw[t] > 1e-6 else ""
                parts.append(f"<td{cls}>{arr[t]:.0f}</td>")
            parts.append("<td></td></tr>")
        parts.append("</table></div>")
    summ = s.summary()
    parts.append("<h2>Per-group summary</h2><table class='sum'><tr><th>group</th><th>name</th><th>customers</th>"
                 "<th>hours off</th><th>possible h</th><th>outages</th><th>longest (h)</th><th>night outages</th>"
                 "<th>night h off</th><th>max h off in a day</th></tr>")
    for r in summ.itertuples():
        if r.exempt:
            parts.append(f"<tr><td>{e(r.group)}</td><td>{e(r.name)}</td><td>{r.customers:,}</td>"
                         "<td colspan='7' style='text-align:center'>exempt: never switched</td></tr>")
            continue
        parts.append(f"<tr><td>{e(r.group)}</td><td>{e(r.name)}</td><td>{r.customers:,}</td><td>{r.hours_off:g}</td>"
                     f"<td>{r.hours_possible:g}</td><td>{r.outages}</td><td>{r.longest_off_h:g}</td>"
                     f"<td>{r.night_outages}</td><td>{r.night_off_h:g}</td><td>{r.max_off_h_in_a_day:g}</td></tr>")
    parts.append("</table><p class='meta'>Generated by gridshield.</p></body></html>")
    return "".join(parts)


def figure(s, title: str = "Rotating outage schedule"):
    """Two rows on one time axis: the deficit and the MW shed (top), and the groups x steps
    timetable (white on, grey off, light grey possible outage), with a line at each midnight."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    times = s.times + pd.Timedelta(hours=s.step_h / 2)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.28, 0.72], subplot_titles=("Deficit and MW shed", "Groups"))
    edges = list(s.times) + [s.end]
    req_name = "deficit (MW)" if np.allclose(s.required_mw, s.deficit_mw) else "deficit + margin (MW)"
    for name, arr, color in ((req_name, s.required_mw, "#b2182b"), ("shed by the schedule (MW)", s.shed_total_mw,
                                                                    "#525252")):
        fig.add_trace(go.Scatter(x=edges, y=np.r_[arr, arr[-1]], mode="lines", line_shape="hv", name=name,
                                 line={"color": color, "width": 2}), row=1, col=1)
    z = s.state.astype(float)
    colorscale = [[0.0, WHITE], [0.3333, WHITE], [0.3334, GREY], [0.6666, GREY], [0.6667, LIGHT], [1.0, LIGHT]]
    labels = [gid if nm == gid else f"{gid} {nm}" for gid, nm in zip(s.group_ids, s.group_names)]
    text = np.array([["on", "off", "possible"][int(v)] for v in s.state.ravel()]).reshape(s.state.shape)
    fig.add_trace(go.Heatmap(
        z=z, x=times, y=labels, zmin=0, zmax=2, colorscale=colorscale, showscale=False, xgap=1, ygap=1, text=text,
        hovertemplate="%{y} %{x|%a %d %b %Y %H:%M}: %{text}<extra></extra>", name="timetable",
    ), row=2, col=1)
    for d in pd.Index(s.times.normalize()).unique()[1:]:
        fig.add_vline(x=d, line_width=2, line_color="#222")
    hours = s.n_steps * s.step_h
    tz = f" ({s.tz})" if s.tz else " (local time)"
    fig.update_yaxes(title_text="MW", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(autorange="reversed", type="category", row=2, col=1)
    fig.update_xaxes(type="date", tickformat="%H:%M\n%a %d %b %Y", dtick=(6 if hours > 48 else 3) * 3600 * 1000,
                     tickangle=0, showgrid=True, gridcolor="#eee")
    fig.update_layout(
        title=f"{title} (white = on, grey = off, light grey = possible outage){tz}", plot_bgcolor="#ffffff",
        width=max(900, min(2400, 12 * s.n_steps + 260)), height=max(420, 26 * s.n_groups + 320),
        margin=dict(l=10, r=10, t=70, b=40), legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                                                      "xanchor": "right"},
    )
    return fig
