"""pandapower networks in and out (optional extra: ``pip install 'gridshield[pandapower]'``).

Import
------
:func:`from_pandapower` builds the grid from the model pandapower itself solves: it sets up
``runpp``'s default options (Newton-Raphson, voltage angles, the T model of transformers,
voltage-dependent loads, no distributed slack, no Q-limit enforcement) and calls pandapower's own
converter to its internal case (``_pd2ppc``), in power-flow mode whatever cost tables the net
carries. Every element model - lines with their shunt conductance, two- and three-winding
transformers with tap changers and iron losses, switches (bus-bus switches fuse buses, open line
switches leave the line charged from one end), impedances, wards and extended wards, static
generators, storage, motors and DC lines - is therefore converted exactly as ``runpp`` converts
it, and the grid's AC power flow equals ``runpp``'s (tested on every net of
``pandapower.networks`` that pandapower solves). Reading the element tables ourselves would have
meant re-deriving each of those models and following every change pandapower makes to them; the
one thing missing from the route through ``to_ppc`` was the bookkeeping, which is done here:

- the full internal case is used (out-of-service elements included, with every branch column:
  conductance and asymmetric shunts become the branch end shunts), never the reduced one;
- pandapower element ids are kept: ``bus:<index>``, ``branch:line<i>`` / ``trafo<i>`` /
  ``trafo3w<i>_hv|mv|lv`` / ``impedance<i>`` / ``xward<i>`` / ``switch<i>``, ``gen:<i>`` /
  ``gen:ext_grid<i>`` / ``gen:dcline<i>_from|to`` / ``gen:xward<i>``, ``load:<i>`` /
  ``load:sgen<i>`` / ``load:storage<i>`` / ``load:motor<i>`` / ``load:ward<i>`` / ``load:xward<i>``;
  buses pandapower adds (a three-winding transformer's star point, an extended ward's internal
  bus, the open end of a line) are ``bus:trafo3w<i>``, ``bus:xward<i>``, ``bus:line<i>_open``;
  a DC line's two generators are tied into the link ``hvdc:dcline<i>`` (``Grid.links``: a strike
  on either end stops both);
- what gridshield cannot hold is refused with the element ids: voltage-dependent (ZIP) loads
  (``approximate=True`` reads them as constant power), non-reciprocal impedances, FACTS devices
  (SVC, TCSC, SSC) and VSC converters.

Static generators, storage, motors and wards are first-class loads (negative for generation), so
they can be shed, grouped and struck. Shunts are one per bus (``shunt:<bus index>``), as summed
by pandapower (shunt elements and the impedance part of wards).

Export
------
:func:`to_pandapower` writes a grid as a pandapower net whose ``runpp`` equals gridshield's AC
power flow; see its docstring.
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError, ParseError
from gridshield.grid.model import (
    LINK_COLUMNS, LINKS_TABLE, Branches, Buses, ExtraTable, Generators, Grid, Loads, Shunts,
)

#: pandapower writes this for "no limit" (``p_lim_default`` / ``q_lim_default``); read as unlimited.
_PP_NO_LIMIT = 1e9

#: Element tables that carry something gridshield cannot represent when in service.
_UNSUPPORTED = {
    "svc": "static var compensators (FACTS)",
    "tcsc": "thyristor-controlled series capacitors (FACTS)",
    "ssc": "static synchronous compensators (FACTS)",
    "vsc": "voltage source converters",
    "vsc_stacked": "voltage source converters",
    "b2b_vsc": "back-to-back VSC converters",
}


def _need_pandapower() -> Any:
    try:
        import pandapower
    except ImportError:
        raise GridshieldError("reading pandapower nets needs pandapower: pip install 'gridshield[pandapower]'") from None
    return pandapower


#: The first two numbers of a GeoJSON point's coordinates (a line's coordinates start with "[[": no match).
_POINT_RE = re.compile(r'"coordinates"\s*:\s*\[\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)')
_POINT_PAIR_RE = re.compile(r'"coordinates"\s*:\s*\[\s*([-+0-9.eE]+\s*,\s*[-+0-9.eE]+)')


def _points(geo: Any) -> tuple[np.ndarray, np.ndarray]:
    """x (longitude) and y (latitude) of GeoJSON points (NaN where a value is no point)."""
    import pandas as pd

    texts = [v if isinstance(v, str) else "" for v in geo.tolist()]
    if not any("\n" in v for v in texts):
        found = _POINT_PAIR_RE.findall("\n".join(texts))
        if len(found) == len(texts):  # one point per bus: the numbers parsed in one pass, as JSON
            try:
                xy = np.array(json.loads("[" + ",".join(found) + "]"), dtype=float).reshape(len(texts), 2)
                return xy[:, 0], xy[:, 1]
            except (ValueError, TypeError):  # a malformed number: parse one by one
                pass
    xy = pd.Series(texts, dtype=object).str.extract(_POINT_RE)
    return (pd.to_numeric(xy[0], errors="coerce").to_numpy(float),
            pd.to_numeric(xy[1], errors="coerce").to_numpy(float))


def _coords(net: Any, buses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/x and latitude/y of pandapower buses (``-1``: none), NaN where the net has no point."""
    import pandas as pd

    x = y = pd.Series(np.nan, index=net.bus.index)
    if "geo" in net.bus and net.bus["geo"].notna().any():
        px, py = _points(net.bus["geo"])
        x, y = pd.Series(px, index=net.bus.index), pd.Series(py, index=net.bus.index)
    elif hasattr(net, "bus_geodata") and len(net.bus_geodata):  # pandapower 2's table
        x, y = net.bus_geodata["x"].astype(float), net.bus_geodata["y"].astype(float)
    keys = np.where(buses >= 0, buses, -1)
    return x.reindex(keys).to_numpy(float), y.reindex(keys).to_numpy(float)


def _detached(net: Any) -> Any:
    """A copy of ``net`` that pandapower's case builder may write into, sharing the element tables.

    The builder writes its own entries (``_options``, ``_is_elements``, ``_pd2ppc_lookups``,
    ``_ppc``, ...) and, for DC lines, appends their generators to ``gen``; it writes into no other
    element table (tested: after an import, every table of every net of ``pandapower.networks``
    and of a net with every element type equals its state before). So the container, those
    entries and ``gen`` are copied; a deep copy of a 9241-bus net costs as much as the conversion.
    """
    from pandapower.auxiliary import pandapowerNet

    if "vsc_stacked" in net and len(net["vsc_stacked"]):  # its builder rewrites several tables
        return copy.deepcopy(net)
    work = pandapowerNet(dict(net))
    # runpp's fresh lookups; no case of an earlier run
    work["_pd2ppc_lookups"] = {k: np.array([], dtype=np.int64) for k in
                               ("bus", "bus_dc", "ext_grid", "gen", "branch", "branch_dc")}
    work["_ppc"] = None
    if "dcline" in net and len(net["dcline"]):
        work["gen"] = net["gen"].copy()
    return work


def _internal_case(net: Any, *, approximate: bool) -> tuple[dict, int]:
    """pandapower's own internal case of ``net`` (a copy) under ``runpp``'s defaults; returns ``(ppc, n_gen)``."""
    from pandapower.auxiliary import _init_runpp_options
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.powerflow import _add_auxiliary_elements

    for table, what in _UNSUPPORTED.items():
        if table in net and len(net[table]) and net[table]["in_service"].astype(bool).any():
            ids = net[table].index[net[table]["in_service"].astype(bool)].tolist()
            raise GridshieldError(
                f"the net has {what} in service ({table} {ids[:10]}); gridshield's grid model has no such element"
            )
    ld = net.load
    zip_cols = [c for c in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent",
                            "const_z_percent", "const_i_percent") if c in ld]
    if zip_cols and len(ld):
        vdep = ld[zip_cols].fillna(0).abs().sum(axis=1) > 0
        vdep &= ld["in_service"].astype(bool)
        if vdep.any() and not approximate:
            raise GridshieldError(
                f"loads {ld.index[vdep].tolist()[:10]} are voltage dependent (const_z/const_i percent); gridshield's "
                "loads draw constant power. Pass approximate=True (--approximate) to read them as constant power "
                "(runpp's voltages then differ)"
            )
    n_gen = len(net.gen)
    try:
        _init_runpp_options(
            net, algorithm="nr", calculate_voltage_angles=True, init="flat", max_iteration="auto",
            tolerance_mva=1e-8, trafo_model="t", trafo_loading="current", enforce_p_lims=False,
            enforce_q_lims=False, check_connectivity=False, voltage_depend_loads=not approximate,
            consider_line_temperature=False, passed_parameters={},
        )
        _add_auxiliary_elements(net)
        ppc, _ = _pd2ppc(net)
    except (UserWarning, ValueError, KeyError, IndexError, NotImplementedError) as exc:
        raise GridshieldError(f"pandapower cannot build a power flow case of this net: {exc}") from None
    return ppc, n_gen


def _names(df: Any) -> list[str]:
    """The ``name`` column as strings (``""`` where a net has none)."""
    import pandas as pd

    if "name" not in df:
        return [""] * len(df)
    names = df["name"].to_numpy(dtype=object)
    if pd.api.types.infer_dtype(names, skipna=True) in ("string", "empty"):  # str or missing: a C-speed path
        return np.where(pd.isna(names), "", names).tolist()
    return [n if isinstance(n, str) else "" for n in names.tolist()]


def _branch_ids(net: Any, ppc: dict) -> tuple[np.ndarray, np.ndarray]:
    """Ids and names of the internal branches, from pandapower's lookup of branch rows per element."""
    nl = ppc["branch"].shape[0]
    ids = np.full(nl, "", dtype=object)
    names = np.full(nl, "", dtype=object)
    for kind, (start, end) in net._pd2ppc_lookups["branch"].items():
        if kind == "trafo3w":  # the three legs: every hv leg, then every mv leg, then every lv leg
            df = net.trafo3w
            ids[start:end] = [f"branch:trafo3w{e}_{side}" for side in ("hv", "mv", "lv") for e in df.index.tolist()]
            names[start:end] = _names(df) * 3
            continue
        df = net[kind]
        if kind == "switch":
            df = df[(df.et == "b") & df.closed & (df.z_ohm > 0)]
        if len(df) != end - start:
            raise GridshieldError(f"pandapower's {kind} rows ({end - start}) do not match net.{kind} ({len(df)})")
        ids[start:end] = [f"branch:{kind}{e}" for e in df.index.tolist()]
        names[start:end] = _names(df)
    if not all(ids):
        raise GridshieldError("pandapower built branches of an element type gridshield does not know")
    return ids, names


def _bus_ids(net: Any, ppc: dict, branch_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the internal buses and, for each, the (first) pandapower bus it stands for (-1: none)."""
    nb = ppc["bus"].shape[0]
    lookups = net._pd2ppc_lookups
    index = net.bus.index.to_numpy(np.int64)
    rows = np.asarray(lookups["bus"])[index]
    ok = (rows >= 0) & (rows < nb)
    first = np.full(nb, -1, dtype=np.int64)
    r, at = np.unique(rows[ok], return_index=True)  # buses fused by a switch: the first one names the row
    first[r] = index[ok][at]
    ids = np.full(nb, "", dtype=object)
    ids[first >= 0] = [f"bus:{b}" for b in first[first >= 0].tolist()]
    br = np.real(ppc["branch"][:, :2]).astype(np.int64)
    # buses of elements: the star point of a three-winding transformer is the "to" end of its hv
    # leg, the internal bus of an extended ward the "to" end of its branch
    for kind in ("trafo3w", "xward"):
        span = lookups["branch"].get(kind)
        if span is not None:
            start, n = span[0], len(net[kind])
            for k, e in zip(range(start, start + n), net[kind].index.tolist(), strict=True):
                if not ids[br[k, 1]]:
                    ids[br[k, 1]] = f"bus:{kind}{e}"
    for r in np.flatnonzero(ids == "").tolist():
        # a bus pandapower adds at the open end of a branch (open switch, out-of-service bus)
        at_from, at_to = np.flatnonzero(br[:, 0] == r), np.flatnonzero(br[:, 1] == r)
        if at_from.size:
            ids[r] = f"bus:{branch_ids[at_from[0]][7:]}_open_from"
        elif at_to.size:
            ids[r] = f"bus:{branch_ids[at_to[0]][7:]}_open_to"
        else:
            ids[r] = f"bus:aux{r}"
    return ids, first


def _loads(net: Any, bus_row: np.ndarray, ppc_bus: np.ndarray) -> Loads:
    """Every PQ element as a first-class load, with pandapower's own formulas (``build_bus``)."""
    ise = net._is_elements
    ids, rows, p, q, on, names = [], [], [], [], [], []

    def add(prefix: str, table: str, pv: np.ndarray, qv: np.ndarray) -> None:
        df = net[table]
        active = np.asarray(ise[table], dtype=bool) if table in ise else df["in_service"].to_numpy(bool)
        ids.extend(f"load:{prefix}{i}" for i in df.index.tolist())
        rows.extend(bus_row[df["bus"].to_numpy(np.int64)].tolist())
        p.extend(pv.tolist())
        q.extend(qv.tolist())
        on.extend(active.tolist())
        names.extend(_names(df))

    for table, prefix, sign in (("load", "", 1.0), ("sgen", "sgen", -1.0), ("storage", "storage", 1.0)):
        if table in net and len(net[table]):
            df = net[table]
            s = df["scaling"].to_numpy(float)
            add(prefix, table, sign * df["p_mw"].to_numpy(float) * s, sign * df["q_mvar"].to_numpy(float) * s)
    if "motor" in net and len(net.motor):
        m = net.motor
        pm = m["pn_mech_mw"].to_numpy(float) / m["efficiency_percent"].to_numpy(float) * 100
        pm = pm * m["loading_percent"].to_numpy(float) / 100 * m["scaling"].to_numpy(float)
        add("motor", "motor", pm, np.sqrt((pm / m["cos_phi"].to_numpy(float)) ** 2 - pm**2))
    for table in ("ward", "xward"):
        if table in net and len(net[table]):
            add(table, table, net[table]["ps_mw"].to_numpy(float), net[table]["qs_mvar"].to_numpy(float))
    for table, prefix, sign in (("asymmetric_load", "asym", 1.0), ("asymmetric_sgen", "asym_sgen", -1.0)):
        if table in net and len(net[table]):
            df = net[table]
            s = df["scaling"].to_numpy(float)
            pv = df[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy(float).sum(axis=1) * s
            qv = df[["q_a_mvar", "q_b_mvar", "q_c_mvar"]].to_numpy(float).sum(axis=1) * s
            add(prefix, table, sign * pv, sign * qv)
    loads = Loads(id=ids, bus=rows, p_mw=p, q_mvar=q, in_service=on, name=names)
    # every MW pandapower put on a bus is one of these loads (else a new element type: refuse)
    nb = ppc_bus.shape[0]
    m = loads.in_service
    pd = np.bincount(loads.bus[m], weights=loads.p_mw[m], minlength=nb)
    qd = np.bincount(loads.bus[m], weights=loads.q_mvar[m], minlength=nb)
    bad = np.flatnonzero((np.abs(pd - ppc_bus[:, 2]) > 1e-9) | (np.abs(qd - ppc_bus[:, 3]) > 1e-9))
    if bad.size:
        raise GridshieldError(
            f"pandapower puts {ppc_bus[bad[0], 2]:.6g} MW on internal bus {bad[0]} but the net's load elements "
            f"add up to {pd[bad[0]]:.6g} MW there: an element type gridshield does not read"
        )
    return loads


def from_pandapower(net: Any, *, name: str | None = None, approximate: bool = False) -> Grid:
    """Convert a pandapower network (solved or not) into a :class:`Grid` equal to ``runpp``'s model.

    Parameters
    ----------
    net
        A pandapower net; it is not modified.
    name
        Grid name (default: ``net.name``, else ``"pandapower"``).
    approximate
        Read voltage-dependent (ZIP) loads as constant-power loads instead of refusing them.

    Raises
    ------
    GridshieldError
        When pandapower itself cannot build the case (it names the problem), or the net holds
        elements gridshield cannot represent (listed by id).
    """
    _need_pandapower()
    net = _detached(net)
    ppc, n_gen = _internal_case(net, approximate=approximate)
    br = ppc["branch"]
    if np.iscomplexobj(br):
        if np.any(np.imag(br) != 0):
            raise GridshieldError("pandapower's branch data has complex entries; gridshield reads real pi models")
        br = np.real(br)
    bus = np.real(ppc["bus"]).astype(float)
    gen = np.real(ppc["gen"]).astype(float)
    base = float(ppc["baseMVA"])
    from pandapower.pypower.idx_brch import BR_B_ASYM, BR_G, BR_G_ASYM, BR_R_ASYM, BR_X_ASYM

    branch_ids, branch_names = _branch_ids(net, ppc)
    asym = (br[:, BR_R_ASYM] != 0) | (br[:, BR_X_ASYM] != 0)
    if asym.any():
        raise GridshieldError(
            f"{branch_ids[np.flatnonzero(asym)[:10]].tolist()} have different impedances in the two directions "
            "(rft != rtf or xft != xtf); gridshield's branches are reciprocal"
        )
    bus_ids, first = _bus_ids(net, ppc, branch_ids)
    # rows nothing refers to (the place holders of buses fused by bus-bus switches) are dropped
    used = (first >= 0) | ~np.char.startswith(bus_ids.astype(str), "bus:aux")
    used[br[:, 0].astype(np.int64)] = used[br[:, 1].astype(np.int64)] = True
    used[gen[:, 0].astype(np.int64)] = True
    new_row = np.cumsum(used) - 1
    bus, bus_ids, first = bus[used], bus_ids[used], first[used]
    br = br.copy()
    br[:, 0], br[:, 1] = new_row[br[:, 0].astype(np.int64)], new_row[br[:, 1].astype(np.int64)]
    gen = gen.copy()
    gen[:, 0] = new_row[gen[:, 0].astype(np.int64)]
    nb = bus.shape[0]
    xs, ys = _coords(net, first)
    bus_names = np.array(_names(net.bus), dtype=object)
    pos = net.bus.index.get_indexer(first)
    btype = bus[:, 1].astype(np.int64)
    buses = Buses(
        id=bus_ids, number=np.arange(1, nb + 1), type=np.where(btype == 4, 1, btype), vm_pu=bus[:, 7],
        va_deg=bus[:, 8], base_kv=bus[:, 9], vmax_pu=bus[:, 11], vmin_pu=bus[:, 12], in_service=btype != 4,
        name=np.where(pos >= 0, bus_names[np.maximum(pos, 0)] if bus_names.size else "", ""), x=xs, y=ys,
    )
    f, t = br[:, 0].astype(np.int64), br[:, 1].astype(np.int64)
    g_tot, g_asym, b_asym = br[:, BR_G], br[:, BR_G_ASYM], br[:, BR_B_ASYM]
    # pandapower writes ratio 1 for every branch; only transformers keep it (MATPOWER's 0 = line)
    is_trafo = np.zeros(br.shape[0], dtype=bool)
    for kind in ("trafo", "trafo3w"):
        span = net._pd2ppc_lookups["branch"].get(kind)
        if span is not None:
            is_trafo[span[0]:span[1]] = True
    tap = np.where(~is_trafo & (br[:, 8] == 1.0) & (br[:, 9] == 0.0), 0.0, br[:, 8])
    branches = Branches(
        id=branch_ids, from_bus=f, to_bus=t, r_pu=br[:, 2], x_pu=br[:, 3], b_pu=br[:, 4],
        rate_a_mva=_ratings(net, br), tap=tap, shift_deg=br[:, 9], in_service=br[:, 10] > 0,
        g_from_pu=g_tot / 2, g_to_pu=(g_tot + g_asym) / 2, b_to_pu=b_asym / 2,
        name=branch_names,
    )
    gens = _gens(net, gen, n_gen, base)
    lookup = np.asarray(net._pd2ppc_lookups["bus"])
    loads = _loads(net, np.where(lookup >= 0, new_row[np.maximum(lookup, 0)], -1), ppc["bus"][used])
    sh = np.flatnonzero((bus[:, 4] != 0) | (bus[:, 5] != 0))
    shunts = Shunts(id=[f"shunt:{i[4:]}" for i in bus_ids[sh].tolist()], bus=sh, g_mw=bus[sh, 4], b_mvar=bus[sh, 5])
    extra = {}
    if "dcline" in net and len(net.dcline):  # a DC line stops at both ends when either is struck
        extra[LINKS_TABLE] = ExtraTable(columns=LINK_COLUMNS, rows=tuple(
            (f"hvdc:dcline{e}", f"gen:dcline{e}_{end}") for e in net.dcline.index.tolist() for end in ("from", "to")
        ), cell=True)
    grid = Grid(
        buses=buses, branches=branches, gens=gens, loads=loads, shunts=shunts, base_mva=base,
        name=name or str(net.name or "pandapower"), extra_tables=extra,
    )
    return grid.replace(buses=grid.buses.replace(**_start_voltages(grid)))


def _start_voltages(grid: Grid) -> dict[str, np.ndarray]:
    """The DC start of the AC solver (runpp's ``init="auto"``), stored as the grid's voltages.

    The net's own result tables are not used: they may be stale (a net saved with results of an
    older model), and from this start Newton's method converges in a few iterations anyway.
    """
    from gridshield.flow.ac import AcSolver

    b = grid.buses
    try:
        v = AcSolver(grid).initial_voltages("dc")
    except GridshieldError:
        return {}
    lit = np.abs(v) > 0
    return {"vm_pu": np.where(lit, np.abs(v), b.vm_pu), "va_deg": np.where(lit, np.rad2deg(np.angle(v)), b.va_deg)}


def _ratings(net: Any, br: np.ndarray) -> np.ndarray:
    """Long-term MVA ratings: lines sqrt(3) * max_i_ka * vn_kv * df * parallel, transformers sn_mva * parallel."""
    rate = np.zeros(br.shape[0])
    lk = net._pd2ppc_lookups["branch"]
    if "line" in lk:
        s, e = lk["line"]
        ln = net.line
        vn = net.bus["vn_kv"].to_numpy(float)[net.bus.index.get_indexer(ln.from_bus.to_numpy())]
        rate[s:e] = np.sqrt(3) * ln.max_i_ka.to_numpy(float) * vn * ln.df.to_numpy(float) * ln.parallel.to_numpy(float)
    if "trafo" in lk:
        s, e = lk["trafo"]
        rate[s:e] = net.trafo.sn_mva.to_numpy(float) * net.trafo.parallel.to_numpy(float)
    if "trafo3w" in lk:
        s, e = lk["trafo3w"]
        t3 = net.trafo3w
        rate[s:e] = np.concatenate([t3[f"sn_{side}_mva"].to_numpy(float) for side in ("hv", "mv", "lv")])
    return np.where(np.isfinite(rate) & (rate > 0), rate, 0.0)


def _gens(net: Any, gen: np.ndarray, n_gen: int, base: float) -> Generators:
    ng = gen.shape[0]
    ids = [""] * ng
    names = [""] * ng
    lk = net._pd2ppc_lookups
    for kind in ("ext_grid", "xward"):
        if lk.get(kind) is not None and len(lk[kind]):
            for e, row, nm in zip(net[kind].index.tolist(), np.asarray(lk[kind]).tolist(), _names(net[kind]),
                                  strict=False):
                ids[int(row)], names[int(row)] = f"gen:{kind}{e}", nm
    if lk.get("gen") is not None and len(lk["gen"]):
        dcl = net.dcline.index.tolist() if "dcline" in net else []
        gen_index, gen_names = net.gen.index.tolist(), _names(net.gen)
        for j, row in enumerate(np.asarray(lk["gen"]).tolist()):
            if j < n_gen:
                ids[int(row)], names[int(row)] = f"gen:{gen_index[j]}", gen_names[j]
            else:  # pandapower models each DC line as a "to" and a "from" generator, in that order
                k = j - n_gen
                ids[int(row)] = f"gen:dcline{dcl[k // 2]}_{'to' if k % 2 == 0 else 'from'}"
    if any(not i for i in ids):
        raise GridshieldError("pandapower built generators of an element type gridshield does not know")

    def unlimited(v: np.ndarray, sign: float) -> np.ndarray:
        return np.where(np.abs(v) >= _PP_NO_LIMIT, sign * np.inf, v)

    # an external grid is a slack without reactive limits in runpp (pandapower writes 0 for them)
    slack = np.array([i.startswith("gen:ext_grid") for i in ids])
    gen = gen.copy()
    gen[slack, 3], gen[slack, 4] = np.inf, -np.inf
    mbase = np.where(np.isfinite(gen[:, 6]) & (gen[:, 6] > 0), gen[:, 6], base)
    return Generators(
        id=ids, bus=gen[:, 0].astype(np.int64), p_mw=gen[:, 1], q_mvar=gen[:, 2],
        q_max_mvar=unlimited(gen[:, 3], 1.0), q_min_mvar=unlimited(gen[:, 4], -1.0), vg_pu=gen[:, 5],
        mbase_mva=mbase, in_service=gen[:, 7] > 0, p_max_mw=unlimited(gen[:, 8], 1.0),
        p_min_mw=unlimited(gen[:, 9], -1.0), name=names,
    )


#: Python modules a pandapower JSON file may name for its objects (pandapower's decoder imports them).
_JSON_MODULES = ("pandapower", "pandas", "numpy", "builtins", "geojson", "shapely", "networkx")
_MODULE_RE = re.compile(rb'_module\\?"\s*:\s*\\?"([^"\\]*)')


def read_pandapower_json(path: str | os.PathLike[str], *, approximate: bool = False) -> Grid:
    """Read a pandapower net saved with ``pandapower.to_json`` and convert it (:func:`from_pandapower`).

    pandapower's JSON decoder imports the Python modules the file names for its objects, so the
    file is checked first: every module it names must belong to pandapower, pandas, NumPy,
    geojson, shapely or networkx, else the file is refused without being decoded.
    """
    pandapower = _need_pandapower()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ParseError(str(p), None, f"cannot read the file: {exc.strerror}") from None
    if b"pandapower" not in raw[:4096]:
        raise ParseError(str(p), None, "not a pandapower net (pandapower.to_json writes one); other JSON is not a grid")
    bad = sorted({m.decode("utf-8", "replace") for m in _MODULE_RE.findall(raw)
                  if not m.decode("utf-8", "replace").split(".")[0] in _JSON_MODULES})
    if bad:
        raise ParseError(str(p), None, f"names Python modules {bad[:5]} for its objects; a pandapower net names only "
                                       f"{', '.join(_JSON_MODULES)} - refused without decoding")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pandapower.from_json(str(p))
    except Exception as exc:  # noqa: BLE001 - pandapower raises many kinds on a bad file
        raise ParseError(str(p), None, f"pandapower cannot read it: {' '.join(str(exc).split())[:200]}") from None
    return from_pandapower(net, name=str(net.name or p.stem), approximate=approximate)


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------
def to_pandapower(grid: Grid) -> Any:
    """A pandapower net whose ``runpp`` (defaults) equals gridshield's AC power flow of ``grid``.

    Elements: a bus per bus (``vn_kv`` = base kV, 1 kV where the grid has none), an ``impedance``
    per line (series impedance and each end's shunt admittance on ``sn_mva``, so it switches with
    the line), a ``trafo`` per transformer (series impedance as ``vk``/``vkr`` on ``sn_mva``, the
    off-nominal ratio in ``vn_hv_kv``, the phase shift; no magnetising branch), the transformer's
    end shunts as ``shunt`` elements named after it, an ``ext_grid`` per reference bus, a ``gen``
    per voltage-controlling unit, a ``sgen`` per other unit, ``load`` and ``shunt`` per load and
    shunt. Names carry the gridshield ids. Transformers with a negative reactance cannot be a
    pandapower ``trafo`` and are refused.
    """
    pp = _need_pandapower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _to_pandapower(pp, grid)


def write_pandapower_json(grid: Grid, path: str | os.PathLike[str]) -> Path:
    """Write ``grid`` as a pandapower net (:func:`to_pandapower`) in pandapower's JSON, atomically."""
    from gridshield.io import atomic_write_text

    pp = _need_pandapower()
    net = to_pandapower(grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = pp.to_json(net)
    return atomic_write_text(path, text)


def _to_pandapower(pp: Any, grid: Grid) -> Any:
    sn = float(grid.base_mva)
    net = pp.create_empty_network(name=grid.name, sn_mva=sn)
    b, br, g, ld, sh = grid.buses, grid.branches, grid.gens, grid.loads, grid.shunts
    vn = np.where(b.base_kv > 0, b.base_kv, 1.0)
    idx = np.asarray(pp.create_buses(net, len(b), vn_kv=vn, name=b.id.tolist(), in_service=b.in_service,
                                     max_vm_pu=b.vmax_pu, min_vm_pu=b.vmin_pu))
    known = np.isfinite(b.x) & np.isfinite(b.y)
    if known.any():
        net.bus.loc[idx[known], "geo"] = [json.dumps({"type": "Point", "coordinates": [float(x), float(y)]})
                                          for x, y in zip(b.x[known], b.y[known], strict=True)]
    trafo = br.is_transformer
    bad = trafo & (br.x_pu <= 0)
    if bad.any():
        raise GridshieldError(f"transformers {br.id[bad][:5].tolist()} have a reactance <= 0, which a pandapower trafo "
                              "cannot hold")
    half = br.b_pu / 2
    k = np.flatnonzero(~trafo)
    if k.size:
        pp.create_impedances(
            net, idx[br.from_bus[k]], idx[br.to_bus[k]], rft_pu=br.r_pu[k], xft_pu=br.x_pu[k], rtf_pu=br.r_pu[k],
            xtf_pu=br.x_pu[k], sn_mva=sn, gf_pu=br.g_from_pu[k], bf_pu=br.b_from_pu[k] + half[k],
            gt_pu=br.g_to_pu[k], bt_pu=br.b_to_pu[k] + half[k], name=br.id[k].tolist(), in_service=br.in_service[k],
        )
    k = np.flatnonzero(trafo)
    if k.size:
        f, t, ratio = br.from_bus[k], br.to_bus[k], br.ratio[k]
        pp.create_transformers_from_parameters(
            net, idx[f], idx[t], sn_mva=sn, vn_hv_kv=vn[f] * ratio, vn_lv_kv=vn[t], vkr_percent=100 * br.r_pu[k],
            vk_percent=100 * np.hypot(br.r_pu[k], br.x_pu[k]), pfe_kw=0.0, i0_percent=0.0,
            shift_degree=br.shift_deg[k], name=br.id[k].tolist(), in_service=br.in_service[k],
        )
        # end shunts: the from end's sits behind the ratio (divided by its square)
        y_from = (br.g_from_pu[k] + 1j * (br.b_from_pu[k] + half[k])) / ratio**2
        y_to = br.g_to_pu[k] + 1j * (br.b_to_pu[k] + half[k])
        for bus, y in ((f, y_from), (t, y_to)):
            m = y != 0
            if m.any():
                pp.create_shunts(net, idx[bus[m]], p_mw=y[m].real * sn, q_mvar=-y[m].imag * sn, vn_kv=vn[bus[m]],
                                 name=[f"{i} end shunt" for i in br.id[k][m]], in_service=br.in_service[k][m])
    btype = b.type[g.bus]
    first_ref = np.zeros(len(g), dtype=bool)
    seen: set[int] = set()
    for j in np.flatnonzero(g.in_service & (btype == 3)).tolist():
        if int(g.bus[j]) not in seen:
            seen.add(int(g.bus[j]))
            first_ref[j] = True
    for j in np.flatnonzero(first_ref).tolist():
        pp.create_ext_grid(net, idx[g.bus[j]], vm_pu=g.vg_pu[j], va_degree=b.va_deg[g.bus[j]], name=g.id[j])
    pv = ~first_ref & ((btype == 2) & g.in_service | (btype == 3) & ~g.in_service)
    if pv.any():
        pp.create_gens(net, idx[g.bus[pv]], p_mw=g.p_mw[pv], vm_pu=g.vg_pu[pv], name=g.id[pv].tolist(),
                       in_service=g.in_service[pv], min_q_mvar=g.q_min_mvar[pv], max_q_mvar=g.q_max_mvar[pv],
                       min_p_mw=g.p_min_mw[pv], max_p_mw=g.p_max_mw[pv])
    other = ~first_ref & ~pv
    if other.any():
        pp.create_sgens(net, idx[g.bus[other]], p_mw=g.p_mw[other], q_mvar=np.where(btype[other] == 1, g.q_mvar[other], 0.0),
                        name=g.id[other].tolist(), in_service=g.in_service[other])
    if len(ld):
        pp.create_loads(net, idx[ld.bus], p_mw=ld.p_mw, q_mvar=ld.q_mvar, name=ld.id.tolist(), in_service=ld.in_service)
    if len(sh):
        pp.create_shunts(net, idx[sh.bus], p_mw=sh.g_mw, q_mvar=-sh.b_mvar, vn_kv=vn[sh.bus], name=sh.id.tolist(),
                         in_service=sh.in_service)
    return net


__all__ = ["from_pandapower", "read_pandapower_json", "to_pandapower", "write_pandapower_json"]
