"""Plot builders (plotly): the network map, resilience curve, loss distribution, rankings, heat
and outage timetable. Each returns a ``plotly.graph_objects.Figure``; :func:`save_figure` writes
HTML (plotly.js embedded, works offline) or PNG (kaleido).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.grid.model import Grid

#: Colours of element states on the network map.
STATE_COLORS = {
    "energised": "#2c7fb8",
    "partly served": "#f59e0b",
    "dark": "#252525",
    "damaged": "#e31a1c",
    "overloaded": "#ff7f00",
    "out of service": "#bdbdbd",
}


#: Most sites (or buses, for a grid without sites) named on the network figure; more would cover it.
MAX_SITE_LABELS = 80


def layout_xy(grid: Grid, seed: int = 0, iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Bus coordinates for drawing: the grid's own ``x``/``y`` where known, else the longitude and
    latitude of the bus's site (site table, projected to km around their mean), else a layout.

    The layout is a spectral embedding refined by Fruchterman–Reingold iterations (deterministic
    for a given seed); grids above 3,000 buses keep the spectral embedding only.
    """
    x, y = grid.buses.x, grid.buses.y
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        from gridshield.grid.geometry import Geometry, site_lonlat

        deg = site_lonlat(grid)
        if deg:
            geo = Geometry(areas=(), sites=deg, units="deg")
            x, y = np.array(x, float), np.array(y, float)
            for site, (lon, lat) in deg.items():
                rows = grid.sites[site]
                kx, ky = geo.to_km(np.array([lon]), np.array([lat]))
                free = rows[~(np.isfinite(x[rows]) & np.isfinite(y[rows]))]
                x[free], y[free] = float(kx[0]), float(ky[0])
    if np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
        return np.asarray(x, float), np.asarray(y, float)
    import scipy.sparse as sp
    from scipy.sparse.csgraph import laplacian

    n = len(grid.buses)
    br = grid.branches
    a = sp.coo_matrix((np.ones(len(br)), (br.from_bus, br.to_bus)), shape=(n, n))
    a = ((a + a.T) > 0).astype(float)
    rng = np.random.default_rng(seed)
    pos = rng.standard_normal((n, 2))
    if n > 3:
        lap = laplacian(a.tocsr(), normed=True).toarray() if n <= 3000 else None
        if lap is not None:
            w, v = np.linalg.eigh(lap)
            pos = v[:, 1:3] + 1e-3 * pos
    if n <= 3000:
        k = 1.0 / np.sqrt(max(n, 1))
        pos = (pos - pos.mean(0)) / (pos.std(0) + 1e-12)
        rows, cols = a.nonzero()
        temp = 0.1
        for _ in range(iterations):
            d = pos[:, None, :] - pos[None, :, :]
            dist = np.sqrt((d**2).sum(-1)) + 1e-9
            disp = (d * (k * k / dist**2)[..., None]).sum(1)
            e = pos[rows] - pos[cols]
            el = np.sqrt((e**2).sum(1)) + 1e-9
            np.add.at(disp, rows, -e * (el / k)[:, None])
            length = np.sqrt((disp**2).sum(1)) + 1e-9
            pos += disp / length[:, None] * np.minimum(length, temp)[:, None]
            temp *= 0.95
    out_x, out_y = pos[:, 0].copy(), pos[:, 1].copy()
    known = np.isfinite(x) & np.isfinite(y)
    out_x[known], out_y[known] = x[known], y[known]
    return out_x, out_y


def _segments(xs: np.ndarray, ys: np.ndarray, f: np.ndarray, t: np.ndarray) -> tuple[list, list]:
    sx = np.column_stack([xs[f], xs[t], np.full(f.size, np.nan)]).ravel().tolist()
    sy = np.column_stack([ys[f], ys[t], np.full(f.size, np.nan)]).ravel().tolist()
    return sx, sy


def network_figure(
    grid: Grid,
    *,
    bus_energised: np.ndarray | None = None,
    damaged_ids: Sequence[str] = (),
    branch_loading_pct: np.ndarray | None = None,
    load_lost_mw: np.ndarray | None = None,
    title: str | None = None,
) -> Any:
    """The network drawn on bus coordinates and coloured by state.

    Parameters
    ----------
    bus_energised
        Per bus: True = supplied, False = dark (default: all in-service buses supplied).
    damaged_ids
        Asset ids (``bus:``, ``branch:``, ``gen:``, ``site:``) drawn as damaged.
    branch_loading_pct
        Per branch loading in % of rate A; above 100 % drawn as overloaded.
    load_lost_mw
        Per load MW lost; bus markers are sized by the MW lost at the bus.
    """
    import plotly.graph_objects as go

    b, br = grid.buses, grid.branches
    nb = len(b)
    xs, ys = layout_xy(grid)
    energ = b.in_service.copy() if bus_energised is None else np.asarray(bus_energised, bool)
    dmg_bus = np.zeros(nb, bool)
    dmg_br = np.zeros(len(br), bool)
    dmg_gen = np.zeros(len(grid.gens), bool)
    for aid in damaged_ids:
        kind, row = grid.locate(aid)
        if kind == "site":
            rows = grid.sites[aid[5:]]
            dmg_bus[rows] = True
            dmg_br |= np.isin(br.from_bus, rows) | np.isin(br.to_bus, rows)
        elif kind == "bus":
            dmg_bus[row] = True
        elif kind == "branch":
            dmg_br[row] = True
        elif kind == "gen":
            dmg_gen[row] = True

    over = np.zeros(len(br), bool) if branch_loading_pct is None else np.asarray(branch_loading_pct) > 100.0
    f, t = br.from_bus, br.to_bus
    live = br.in_service & energ[f] & energ[t]
    states = {
        "damaged": dmg_br,
        "overloaded": over & ~dmg_br,
        "energised": live & ~dmg_br & ~over,
        "dark": ~live & br.in_service & ~dmg_br & ~over,
        "out of service": ~br.in_service & ~dmg_br,
    }
    fig = go.Figure()
    for state, mask in states.items():
        if not mask.any():
            continue
        sx, sy = _segments(xs, ys, f[mask], t[mask])
        fig.add_trace(
            go.Scatter(
                x=sx, y=sy, mode="lines", name=f"lines: {state}", hoverinfo="skip",
                line={"color": STATE_COLORS[state], "width": 3 if state in ("damaged", "overloaded") else 1.2,
                      "dash": "dash" if state in ("damaged", "out of service") else "solid"},
            )
        )
    lost_bus = np.zeros(nb)
    if load_lost_mw is not None:
        np.add.at(lost_bus, grid.loads.bus, np.asarray(load_lost_mw, float))
    size = 6 + 24 * np.sqrt(lost_bus / lost_bus.max()) if lost_bus.max() > 0 else np.full(nb, 7.0)
    partly = energ & (lost_bus > 1e-6)
    bus_state = np.where(dmg_bus, "damaged", np.where(energ, np.where(partly, "partly served", "energised"), "dark"))
    gen_bus = np.zeros(nb, bool)
    gen_bus[grid.gens.bus[dmg_gen]] = True
    bus_state = np.where(gen_bus & (bus_state != "damaged"), "damaged", bus_state)
    label = np.array([n or i for i, n in zip(b.id.tolist(), b.name.tolist(), strict=True)], dtype=object)
    legend = {"energised": "buses supplied", "partly served": "buses partly served", "dark": "buses dark (no supply)",
              "damaged": "buses struck"}
    for state in ("energised", "partly served", "dark", "damaged"):
        m = bus_state == state
        if not m.any():
            continue
        text = [
            f"{lab}<br>{sub or ''}<br>state: {state}<br>load lost: {lost:.1f} MW"
            for lab, sub, lost in zip(label[m], b.substation[m], lost_bus[m], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=xs[m], y=ys[m], mode="markers", name=f"buses: {state}", text=text, hoverinfo="text",
                customdata=b.id[m].tolist(),
                marker={"color": STATE_COLORS[state], "size": size[m], "line": {"width": 0.5, "color": "white"},
                        "symbol": "x" if state == "damaged" else "circle"},
                meta={"kind": "buses", "state": state, "legend": legend[state]},
            )
        )
    sites = grid.sites
    if sites and len(sites) <= MAX_SITE_LABELS:  # name the sites (or, without sites, the buses) on the layout
        names = sorted(sites)
        lx, ly = [float(xs[sites[n]].mean()) for n in names], [float(ys[sites[n]].mean()) for n in names]
    elif not sites and nb <= MAX_SITE_LABELS:
        names = [str(v) for v in label]
        lx, ly = xs.tolist(), ys.tolist()
    else:
        names = []
    if names:
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="text", text=names, textposition="top center", hoverinfo="skip",
                                 textfont={"size": 9, "color": "#333"}, showlegend=False, name="names"))
    if lost_bus.max() > 0:
        fig.add_annotation(text=f"marker size: MW lost at the bus (largest {lost_bus.max():,.0f} MW)",
                           xref="paper", yref="paper", x=0, y=1.0, showarrow=False, xanchor="left",
                           font={"size": 11, "color": "#555"})
    fig.update_layout(
        title=title or f"{grid.name}: network state",
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
        plot_bgcolor="white", legend={"orientation": "h"}, margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def resilience_figure(time_h: Sequence[float], served_pct: Sequence[float], heat_pct: Sequence[float] | None = None,
                      title: str = "Resilience curve") -> Any:
    """Served share of demand (and of heat) over time after the strike, as steps."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(time_h), y=list(served_pct), mode="lines", line_shape="hv",
                             name="electricity served (% of demand)"))
    if heat_pct is not None:
        fig.add_trace(go.Scatter(x=list(time_h), y=list(heat_pct), mode="lines", line_shape="hv",
                                 name="heat supplied (%)"))
    fig.update_layout(title=title, xaxis_title="hours after the strike", yaxis_title="% of demand (electricity, heat)",
                      yaxis_range=[0, 105])
    return fig


def loss_distribution_figure(lost_mw: Sequence[float], *, p90: float | None = None, p99: float | None = None,
                             cvar95: float | None = None, title: str = "Load lost per sampled strike") -> Any:
    """Histogram of MW lost over Monte Carlo samples with P90, P99 and CVaR95 marked."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Histogram(x=list(lost_mw), nbinsx=40, name="samples", marker_color="#6baed6"))
    marks = ((p90, "P90", "#fd8d3c", 1.0), (p99, "P99", "#e31a1c", 0.92), (cvar95, "CVaR95", "#54278f", 0.84))
    for value, name, color, y in marks:  # labels at staggered heights so that close values stay readable
        if value is not None and np.isfinite(value):
            fig.add_vline(x=float(value), line_dash="dash", line_color=color,
                          annotation={"text": f"{name} {value:,.0f} MW", "y": y, "yref": "paper",
                                      "xanchor": "left", "font": {"color": color}})
    fig.update_layout(title=title, xaxis_title="MW lost", yaxis_title="samples", showlegend=False)
    return fig


def ranking_figure(names: Sequence[str], values: Sequence[float], *, value_label: str = "MW lost when lost alone",
                   title: str = "Criticality ranking", top: int = 20) -> Any:
    """Horizontal bar chart of the most critical assets."""
    import plotly.graph_objects as go

    order = np.argsort(np.asarray(values, float))[::-1][:top][::-1]
    labels = [str(names[i]) for i in order]
    fig = go.Figure(go.Bar(x=[values[i] for i in order], y=labels, orientation="h", marker_color="#de2d26",
                           text=[f"{values[i]:,.1f}" for i in order], textposition="outside", cliponaxis=False))
    fig.update_layout(title=title, xaxis_title=value_label, margin={"l": 160, "r": 40},
                      height=max(320, 24 * len(labels) + 140),
                      yaxis={"tickmode": "array", "tickvals": labels, "ticktext": labels, "type": "category"})
    return fig


def heat_figure(time_h: Sequence[float], people_without_heat: Sequence[float],
                title: str = "People without heat") -> Any:
    """People without heat over time."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=list(time_h), y=list(people_without_heat), mode="lines", line_shape="hv",
                               fill="tozeroy", line_color="#e6550d"))
    fig.update_layout(title=title, xaxis_title="hours after the strike", yaxis_title="people")
    return fig


def timetable_figure(groups: Sequence[str], hours: Sequence[str], states: np.ndarray,
                     title: str = "Outage timetable") -> Any:
    """Groups x hours grid: white = on, grey = off, light grey = possible outage.

    ``states`` is a (groups x hours) array of 0 (on), 1 (possible outage), 2 (off).
    """
    import plotly.graph_objects as go

    z = np.asarray(states, float)
    scale = [[0.0, "#ffffff"], [0.33, "#ffffff"], [0.34, "#d9d9d9"], [0.66, "#d9d9d9"], [0.67, "#636363"], [1.0, "#636363"]]
    fig = go.Figure(go.Heatmap(z=z, x=list(hours), y=list(groups), zmin=0, zmax=2, colorscale=scale, showscale=False,
                               xgap=1, ygap=1, hovertemplate="%{y} %{x}<extra></extra>"))
    fig.update_layout(title=title, yaxis_autorange="reversed", plot_bgcolor="#ffffff")
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write a figure as self-contained HTML (``.html``, plotly.js embedded) or PNG (``.png``), atomically."""
    from gridshield.errors import GridshieldError
    from gridshield.io import atomic_write, atomic_write_text

    p = Path(path)
    if p.suffix.lower() == ".html":
        return atomic_write_text(p, fig.to_html(include_plotlyjs=True, full_html=True))
    if p.suffix.lower() == ".png":
        try:
            data = fig.to_image(format="png", width=1100, height=650)
        except Exception as exc:  # kaleido missing or unable to start
            raise GridshieldError(f"cannot render {p.name} as PNG: {exc}; install kaleido (pip install 'gridshield[png]')") from None
        return atomic_write(p, lambda q: q.write_bytes(data))
    raise GridshieldError(f"{p}: unknown figure format {p.suffix!r}; use .html or .png")


__all__ = [
    "STATE_COLORS",
    "heat_figure",
    "layout_xy",
    "loss_distribution_figure",
    "network_figure",
    "ranking_figure",
    "resilience_figure",
    "save_figure",
    "timetable_figure",
]
