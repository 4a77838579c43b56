"""The district map: districts drawn as areas coloured by supply state, the heat state as a second
layer, sites as named markers (struck ones clearly marked), the network underneath, a legend and
a scale bar. Offline: plain plotly shapes on a km plane, no map tiles.

:func:`impact_map_figure` is the entry point: it draws areas when the grid has district geometry
(:mod:`gridshield.grid.geometry`) and falls back to the bus-level network figure otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.grid.geometry import Geometry, geometry_of
from gridshield.grid.model import Grid

#: Fill colours of the district states (and of the heat layer).
DISTRICT_COLORS = {
    "dark": "#262626",
    "partly served": "#f59e0b",
    "supplied": "#a6d8f0",
    "no load": "#eeeeee",
}
HEAT_OFF_COLOR = "#d7301f"
STRUCK_COLOR = "#e31a1c"
#: Served share below which a district counts as dark, above which as supplied (fractions).
DARK_BELOW, SUPPLIED_ABOVE = 0.005, 0.995


@dataclass(frozen=True)
class DistrictState:
    """Supply and heat of one district after a strike (what the map and its hover show)."""

    id: str
    name: str
    state: str  # dark | partly served | supplied | no load
    demand_mw: float
    served_mw: float
    customers: int
    customers_off: int
    critical_off: tuple[str, ...]  # names of critical loads not fully served
    critical_on: tuple[str, ...]
    heat_off: bool
    hours_to_12c_h: float  # inf when heat is on or homes stay above 12 °C within the horizon
    people_without_heat: int

    @property
    def served_pct(self) -> float:
        return 100.0 * self.served_mw / self.demand_mw if self.demand_mw > 0 else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "demand_mw": self.demand_mw,
            "served_mw": self.served_mw, "served_pct": self.served_pct, "customers": self.customers,
            "customers_off": self.customers_off, "critical_off": list(self.critical_off),
            "critical_on": list(self.critical_on), "heat_off": self.heat_off,
            "hours_to_12c_h": None if not math.isfinite(self.hours_to_12c_h) else self.hours_to_12c_h,
            "people_without_heat": self.people_without_heat,
        }


def supply_state(demand_mw: float, served_mw: float) -> str:
    """dark / partly served / supplied from the served share of a district's demand."""
    if demand_mw <= 1e-9:
        return "no load"
    share = served_mw / demand_mw
    return "dark" if share < DARK_BELOW else "supplied" if share > SUPPLIED_ABOVE else "partly served"


def district_states(grid: Grid, geometry: Geometry, impact: Any = None, heat: Any = None) -> list[DistrictState]:
    """Per area of ``geometry``: served MW, state, customers off, critical loads, heat state.

    ``impact`` is an :class:`~gridshield.impact.ImpactResult` (None: the intact grid) and ``heat``
    a :class:`~gridshield.heat.HeatResult` of the same damage (None: no heat layer).
    """
    ld = grid.loads
    demand = np.where(ld.in_service, np.maximum(ld.p_mw, 0.0), 0.0)
    served = demand if impact is None else np.minimum(np.asarray(impact.load_served_mw, float), demand)
    full = served >= demand - 1e-6
    crit = np.asarray(ld.priority == "critical")
    heat_bus = heat_people = heat_h12 = heat_is_off = None
    if heat is not None:
        from gridshield.heat import HeatNetwork

        heat_bus = HeatNetwork.from_grid(grid).district_bus
        heat_is_off = np.asarray(heat.district_off, bool)
        heat_people = np.asarray(heat.people, float)
        heat_h12 = np.asarray(heat.hours_to_12c_h, float)
    out = []
    for a in geometry.areas:
        m = a.load_mask(grid)
        dem, srv = float(demand[m].sum()), float(served[m].sum())
        names = ld.name[m & crit]
        ok = full[m & crit]
        h_off, h12, ppl = False, math.inf, 0
        if heat_bus is not None:
            k = np.isin(heat_bus, a.bus_rows) & heat_is_off
            if k.any():
                h_off, h12, ppl = True, float(heat_h12[k].min()), int(round(float(heat_people[k].sum())))
        out.append(DistrictState(
            id=a.id, name=a.name, state=supply_state(dem, srv), demand_mw=dem, served_mw=srv,
            customers=int(ld.customers[m].sum()), customers_off=int(ld.customers[m & ~full].sum()),
            critical_off=tuple(str(n) for n, o in zip(names, ok, strict=True) if not o),
            critical_on=tuple(str(n) for n, o in zip(names, ok, strict=True) if o),
            heat_off=h_off, hours_to_12c_h=h12, people_without_heat=ppl,
        ))
    return out


def struck_sites(grid: Grid, damaged_ids: Sequence[str]) -> set[str]:
    """Sites hit by a damage list: named directly (``site:X``) or holding a damaged element."""
    out = set()
    sub = grid.buses.substation
    for aid in damaged_ids:
        kind, row = grid.locate(aid)
        if kind == "site":
            out.add(aid[5:])
        elif kind == "bus":
            out.add(sub[row])
        elif kind == "gen":
            out.add(sub[grid.gens.bus[row]])
        elif kind == "branch":
            f, t = grid.branches.from_bus[row], grid.branches.to_bus[row]
            if sub[f] and sub[f] == sub[t]:  # a transformer inside a substation
                out.add(sub[f])
    out.discard("")
    return out


def scale_bar_km(width_km: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k km) near a fifth of the map width."""
    target = max(width_km / 5.0, 1e-3)
    p = 10.0 ** math.floor(math.log10(target))
    return max((m * p for m in (1.0, 2.0, 5.0) if m * p <= target), default=p)


def _fmt_h(h: float) -> str:
    return f"{h:.0f} h" if math.isfinite(h) else "not within the horizon"


def _hover(s: DistrictState) -> str:
    lines = [f"<b>{s.name}</b>", f"state: {s.state}" + (f" ({s.served_pct:.0f} % served)" if s.state == "partly served"
                                                         else ""),
             f"served {s.served_mw:,.1f} of {s.demand_mw:,.1f} MW",
             f"customers without full supply: {s.customers_off:,} of {s.customers:,}"]
    if s.critical_off:
        lines.append("critical loads off: " + ", ".join(s.critical_off))
    if s.critical_on:
        lines.append("critical loads on: " + ", ".join(s.critical_on))
    if s.heat_off:
        lines.append(f"heat OFF for {s.people_without_heat:,} people; homes below 12 °C in {_fmt_h(s.hours_to_12c_h)}")
    return "<br>".join(lines)


def district_map_figure(
    grid: Grid,
    geometry: Geometry,
    *,
    impact: Any = None,
    heat: Any = None,
    damaged_ids: Sequence[str] = (),
    title: str | None = None,
) -> Any:
    """Districts as areas coloured by state, heat layer, network, named sites, legend, scale bar.

    Every district trace carries ``meta = {"kind": "district", "id", "name", "state", "heat_off"}``
    so that a page (or a test) can read what is drawn.
    """
    import plotly.graph_objects as go

    states = district_states(grid, geometry, impact, heat)
    fig = go.Figure()
    shown: set[str] = set()
    legend_name = {"dark": "district dark (no supply)", "partly served": "district partly served",
                   "supplied": "district supplied", "no load": "district without load"}
    for a, s in zip(geometry.areas, states, strict=True):
        xs, ys = [], []
        for ring in a.rings:
            x, y = geometry.to_km(ring[:, 0], ring[:, 1])
            xs += [*x.tolist(), float(x[0]), None]
            ys += [*y.tolist(), float(y[0]), None]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", fill="toself", fillcolor=DISTRICT_COLORS[s.state],
            line={"color": "white", "width": 1.5}, name=legend_name[s.state], legendgroup=s.state,
            showlegend=s.state not in shown, hoveron="fills+points", text=_hover(s), hoverinfo="text",
            meta={"kind": "district", "id": s.id, "name": s.name, "state": s.state, "heat_off": s.heat_off},
        ))
        shown.add(s.state)
        if s.heat_off:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", fill="toself", fillcolor="rgba(0,0,0,0)",
                fillpattern={"shape": "/", "fgcolor": HEAT_OFF_COLOR, "size": 9, "solidity": 0.25},
                line={"color": HEAT_OFF_COLOR, "width": 2.5}, name="heat off (hatched; hours to 12 °C indoors)",
                legendgroup="heat", showlegend="heat" not in shown, hoveron="fills", text=_hover(s),
                hoverinfo="text", meta={"kind": "heat", "id": s.id, "state": "heat off"},
            ))
            shown.add("heat")
    # district labels: name, % served when partly, hours to 12 °C when heat is off
    cx, cy, labels = [], [], []
    for a, s in zip(geometry.areas, states, strict=True):
        x0, y0 = a.centroid()
        x1, y1 = geometry.to_km(np.array([x0]), np.array([y0]))
        cx.append(float(x1[0]))
        cy.append(float(y1[0]))
        lab = s.name + (f"<br>{s.served_pct:.0f} %" if s.state == "partly served" else "")
        if s.heat_off:
            lab += f"<br>12 °C in {s.hours_to_12c_h:.0f} h" if math.isfinite(s.hours_to_12c_h) else "<br>heat off"
        labels.append(lab)
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="text", text=labels, hoverinfo="skip", showlegend=False, name="district names",
        textfont={"size": 10, "color": ["#ffffff" if s.state == "dark" else "#222222" for s in states]},
    ))
    _network_layer(fig, grid, geometry, impact, damaged_ids)
    _site_layer(fig, grid, geometry, impact, damaged_ids)
    _frame(fig, geometry, title or f"{grid.name}: districts after the strike" if impact is not None
           else title or f"{grid.name}: districts")
    return fig


def _bus_xy(grid: Grid, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Bus positions in km: the grid's own x/y for a km geometry, else site points / area centroids."""
    x, y = np.asarray(grid.buses.x, float), np.asarray(grid.buses.y, float)
    if geometry.units != "km":
        x, y = np.full(len(grid.buses), np.nan), np.full(len(grid.buses), np.nan)
        for a in geometry.areas:
            cx, cy = a.centroid()
            x[a.bus_rows], y[a.bus_rows] = cx, cy
        for site, rows in grid.sites.items():
            if site in geometry.sites:
                x[rows], y[rows] = geometry.sites[site]
    return geometry.to_km(x, y)


def _network_layer(fig: Any, grid: Grid, geometry: Geometry, impact: Any, damaged_ids: Sequence[str]) -> None:
    import plotly.graph_objects as go

    xs, ys = _bus_xy(grid, geometry)
    br = grid.branches
    energ = br.in_service.copy() if impact is None else np.asarray(impact.bus_energised, bool)
    f, t = br.from_bus, br.to_bus
    dmg = np.zeros(len(br), bool)
    for aid in damaged_ids:
        kind, row = grid.locate(aid)
        if kind == "branch":
            dmg[row] = True
        elif kind in ("site", "bus"):
            rows = grid.sites[aid[5:]] if kind == "site" else np.array([row])
            dmg |= np.isin(f, rows) | np.isin(t, rows)
    live = br.in_service & energ[f] & energ[t]
    for name, mask, color, width, dash in (
        ("lines in service", live & ~dmg, "#4a6fa5", 1.0, "solid"),
        ("lines without supply", ~live & br.in_service & ~dmg, "#555555", 1.0, "dot"),
        ("lines struck", dmg, STRUCK_COLOR, 2.5, "dash"),
    ):
        ok = mask & np.isfinite(xs[f]) & np.isfinite(xs[t])
        if not ok.any():
            continue
        sx = np.column_stack([xs[f[ok]], xs[t[ok]], np.full(ok.sum(), np.nan)]).ravel()
        sy = np.column_stack([ys[f[ok]], ys[t[ok]], np.full(ok.sum(), np.nan)]).ravel()
        fig.add_trace(go.Scatter(x=sx.tolist(), y=sy.tolist(), mode="lines", name=name, hoverinfo="skip",
                                 line={"color": color, "width": width, "dash": dash}, opacity=0.7,
                                 meta={"kind": "lines"}))


def _site_layer(fig: Any, grid: Grid, geometry: Geometry, impact: Any, damaged_ids: Sequence[str]) -> None:
    import plotly.graph_objects as go

    struck = struck_sites(grid, damaged_ids)
    energ = None if impact is None else np.asarray(impact.bus_energised, bool)
    plant_sites = {grid.buses.substation[b] for b in grid.gens.bus.tolist()} - {""}
    groups: dict[str, list[tuple[str, float, float, str]]] = {}
    for site, (x0, y0) in sorted(geometry.sites.items()):
        if site not in grid.sites:
            continue
        rows = grid.sites[site]
        kv = grid.buses.base_kv[rows]
        x1, y1 = geometry.to_km(np.array([x0]), np.array([y0]))
        kind = "plant" if site in plant_sites else "substation"
        if site in struck:
            state = "struck"
        elif energ is not None and not energ[rows].any():
            state = "without supply"
        else:
            state = "in service"
        hover = (f"<b>{site}</b><br>{kind}, {', '.join(f'{v:g}' for v in sorted(set(kv.tolist()), reverse=True))} kV"
                 f"<br>{state}")
        groups.setdefault(f"{kind}|{state}", []).append((site, float(x1[0]), float(y1[0]), hover))
    style = {"in service": ("#1d3557", 11), "without supply": ("#000000", 11), "struck": (STRUCK_COLOR, 20)}
    for key, items in groups.items():
        kind, state = key.split("|")
        color, size = style[state]
        symbol = ("x" if state == "struck" else "diamond" if kind == "plant" else "square")
        fig.add_trace(go.Scatter(
            x=[i[1] for i in items], y=[i[2] for i in items], mode="markers+text",
            text=[("STRUCK " if state == "struck" else "") + i[0] for i in items], textposition="top center",
            textfont={"size": 11 if state == "struck" else 9, "color": color}, hovertext=[i[3] for i in items],
            hoverinfo="text", name=f"{kind}s {state}", customdata=[f"site:{i[0]}" for i in items],
            marker={"symbol": symbol, "size": size, "color": color, "line": {"width": 1.5, "color": "white"}},
            meta={"kind": "sites", "state": state},
        ))


def _frame(fig: Any, geometry: Geometry, title: str) -> None:
    """Equal-aspect axes without ticks, a scale bar in km, the legend below."""
    pts = [np.column_stack(geometry.to_km(r[:, 0], r[:, 1])) for a in geometry.areas for r in a.rings]
    pts += [np.column_stack(geometry.to_km(np.array([p[0]]), np.array([p[1]]))) for p in geometry.sites.values()]
    allp = np.vstack(pts)
    x0, x1 = float(allp[:, 0].min()), float(allp[:, 0].max())
    y0, y1 = float(allp[:, 1].min()), float(allp[:, 1].max())
    bar = scale_bar_km(x1 - x0)
    pad = 0.04 * max(x1 - x0, y1 - y0, 1e-3)
    by = y0 - 2 * pad
    fig.add_shape(type="line", x0=x0, x1=x0 + bar, y0=by, y1=by, line={"color": "#222", "width": 4})
    fig.add_annotation(x=x0 + bar / 2, y=by, text=f"{bar:g} km", showarrow=False, yshift=12,
                       font={"size": 12, "color": "#222"}, name="scale bar")
    fig.update_layout(
        title=title, plot_bgcolor="white", hovermode="closest",
        xaxis={"visible": False, "range": [x0 - pad, x1 + pad]},
        yaxis={"visible": False, "scaleanchor": "x", "range": [by - 2 * pad, y1 + pad]},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "font": {"size": 11}},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )


def impact_map_figure(
    grid: Grid,
    *,
    impact: Any = None,
    heat: Any = None,
    damaged_ids: Sequence[str] = (),
    geometry: Geometry | None = None,
    geojson: Any = None,
    title: str | None = None,
) -> Any:
    """The map of a strike: district areas when the grid has them (or a GeoJSON gives them), else
    the bus-level network figure with site names (:func:`gridshield.report.plots.network_figure`)."""
    geo = geometry if geometry is not None else geometry_of(grid, geojson)
    if geo is not None and geo.areas:
        return district_map_figure(grid, geo, impact=impact, heat=heat, damaged_ids=damaged_ids, title=title)
    from gridshield.report.plots import network_figure

    lost = None if impact is None else grid.loads.p_mw - np.asarray(impact.load_served_mw, float)
    return network_figure(grid, bus_energised=None if impact is None else impact.bus_energised,
                          damaged_ids=list(damaged_ids), load_lost_mw=lost, title=title)


__all__ = [
    "DISTRICT_COLORS",
    "DistrictState",
    "district_map_figure",
    "district_states",
    "impact_map_figure",
    "scale_bar_km",
    "struck_sites",
    "supply_state",
]
