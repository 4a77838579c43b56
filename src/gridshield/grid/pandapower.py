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
from gridshield.grid.model import Branches, Buses, Generators, Grid, Loads, Shunts

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


def _coords(net: Any) -> tuple[dict[int, float], dict[int, float]]:
    xs: dict[int, float] = {}
    ys: dict[int, float] = {}
    if "geo" in net.bus and net.bus["geo"].notna().any():
        for idx, geo in zip(net.bus.index.tolist(), net.bus["geo"].tolist(), strict=True):
            if isinstance(geo, str) and geo:
                c = json.loads(geo).get("coordinates", [])
                if len(c) >= 2 and not isinstance(c[0], list):
                    xs[int(idx)], ys[int(idx)] = float(c[0]), float(c[1])
    elif hasattr(net, "bus_geodata") and len(net.bus_geodata):
        for idx, row in net.bus_geodata.iterrows():
            xs[int(idx)], ys[int(idx)] = float(row["x"]), float(row["y"])
    return xs, ys


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


def _names_of(df: Any) -> dict[Any, str]:
    """Element index -> name (``""`` where a net has none)."""
    if "name" not in df:
        return {}
    return {i: n for i, n in zip(df.index.tolist(), df["name"].tolist(), strict=True) if isinstance(n, str)}


def _branch_ids(net: Any, ppc: dict) -> tuple[list[str], list[str]]:
    """Ids and names of the internal branches, from pandapower's lookup of branch rows per element."""
    nl = ppc["branch"].shape[0]
    ids, names = [""] * nl, [""] * nl
    for kind, (start, end) in net._pd2ppc_lookups["branch"].items():
        if kind == "trafo3w":
            idx = net.trafo3w.index.tolist()
            n = len(idx)
            elems = [(idx[(k - start) % n], "_" + ("hv", "mv", "lv")[(k - start) // n]) for k in range(start, end)]
        else:
            if kind == "switch":
                sw = net.switch
                idx = sw.index[(sw.et == "b") & sw.closed & (sw.z_ohm > 0)].tolist()
            else:
                idx = net[kind].index.tolist()
            if len(idx) != end - start:
                raise GridshieldError(f"pandapower's {kind} rows ({end - start}) do not match net.{kind} ({len(idx)})")
            elems = [(e, "") for e in idx]
        lookup = _names_of(net[kind])
        for k, (e, side) in zip(range(start, end), elems, strict=True):
            ids[k] = f"branch:{kind}{e}{side}"
            names[k] = lookup.get(e, "")
    if not all(ids):
        raise GridshieldError("pandapower built branches of an element type gridshield does not know")
    return ids, names


def _bus_ids(net: Any, ppc: dict, branch_ids: list[str]) -> tuple[list[str], list[int | None]]:
    """Ids of the internal buses and, for each, the (first) pandapower bus it stands for."""
    nb = ppc["bus"].shape[0]
    lookups = net._pd2ppc_lookups
    first: list[int | None] = [None] * nb
    for idx in net.bus.index.tolist():
        row = int(lookups["bus"][idx])
        if 0 <= row < nb and first[row] is None:
            first[row] = int(idx)
    ids = [f"bus:{b}" if b is not None else "" for b in first]
    br = ppc["branch"]
    # internal buses of elements: the star point of a three-winding transformer is the "to" end of
    # its HV leg, the internal bus of an extended ward the "to" end of its branch
    for k, bid in enumerate(branch_ids):
        if bid.startswith("branch:trafo3w") and bid.endswith("_hv") or bid.startswith("branch:xward"):
            row = int(np.real(br[k, 1]))
            if not ids[row]:
                ids[row] = "bus:" + bid[7:].removesuffix("_hv")
    for r in [k for k in range(nb) if not ids[k]]:
        # a bus pandapower adds at the open end of a branch (open switch, out-of-service bus)
        at_from = np.flatnonzero(np.real(br[:, 0]).astype(int) == r)
        at_to = np.flatnonzero(np.real(br[:, 1]).astype(int) == r)
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
        names.extend(str(n) if isinstance(n, str) else "" for n in (df["name"] if "name" in df else [""] * len(df)))

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
    net = copy.deepcopy(net)
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
            f"{[branch_ids[k] for k in np.flatnonzero(asym)[:10]]} have different impedances in the two directions "
            "(rft != rtf or xft != xtf); gridshield's branches are reciprocal"
        )
    bus_ids, first = _bus_ids(net, ppc, branch_ids)
    # rows nothing refers to (the place holders of buses fused by bus-bus switches) are dropped
    used = np.zeros(bus.shape[0], dtype=bool)
    used[[k for k, b in enumerate(first) if b is not None]] = True
    used[br[:, 0].astype(np.int64)] = used[br[:, 1].astype(np.int64)] = True
    used[gen[:, 0].astype(np.int64)] = True
    used[[k for k, i in enumerate(bus_ids) if not i.startswith("bus:aux")]] = True
    new_row = np.cumsum(used) - 1
    bus, bus_ids = bus[used], [i for i, u in zip(bus_ids, used, strict=True) if u]
    first = [b for b, u in zip(first, used, strict=True) if u]
    br = br.copy()
    br[:, 0], br[:, 1] = new_row[br[:, 0].astype(np.int64)], new_row[br[:, 1].astype(np.int64)]
    gen = gen.copy()
    gen[:, 0] = new_row[gen[:, 0].astype(np.int64)]
    nb = bus.shape[0]
    xs, ys = _coords(net)
    bus_names = _names_of(net.bus)
    bnames = [bus_names.get(b, "") if b is not None else "" for b in first]
    btype = bus[:, 1].astype(np.int64)
    in_service = btype != 4
    buses = Buses(
        id=bus_ids, number=np.arange(1, nb + 1), type=np.where(btype == 4, 1, btype), vm_pu=bus[:, 7],
        va_deg=bus[:, 8], base_kv=bus[:, 9], vmax_pu=bus[:, 11], vmin_pu=bus[:, 12], in_service=in_service,
        name=bnames, x=[xs.get(b, np.nan) if b is not None else np.nan for b in first],
        y=[ys.get(b, np.nan) if b is not None else np.nan for b in first],
    )
    f, t = br[:, 0].astype(np.int64), br[:, 1].astype(np.int64)
    g_tot, g_asym, b_asym = br[:, BR_G], br[:, BR_G_ASYM], br[:, BR_B_ASYM]
    # pandapower writes ratio 1 for every branch; only transformers keep it (MATPOWER's 0 = line)
    is_trafo = np.array([i.startswith(("branch:trafo", "branch:trafo3w")) for i in branch_ids], dtype=bool)
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
    shunts = Shunts(id=[f"shunt:{bus_ids[r][4:]}" for r in sh], bus=sh, g_mw=bus[sh, 4], b_mvar=bus[sh, 5])
    grid = Grid(
        buses=buses, branches=branches, gens=gens, loads=loads, shunts=shunts, base_mva=base,
        name=name or str(net.name or "pandapower"),
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
        vn = net.bus.loc[ln.from_bus.to_numpy(), "vn_kv"].to_numpy(float)
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
    for kind, prefix in (("ext_grid", "ext_grid"), ("xward", "xward")):
        if lk.get(kind) is not None and len(lk[kind]):
            lookup = _names_of(net[kind])
            for e, row in zip(net[kind].index.tolist(), np.asarray(lk[kind]).tolist(), strict=False):
                ids[int(row)] = f"gen:{prefix}{e}"
                names[int(row)] = lookup.get(e, "")
    if lk.get("gen") is not None and len(lk["gen"]):
        dcl = net.dcline.index.tolist() if "dcline" in net else []
        gen_index, gen_names = net.gen.index.tolist(), _names_of(net.gen)
        for j, row in enumerate(np.asarray(lk["gen"]).tolist()):
            if j < n_gen:
                ids[int(row)] = f"gen:{gen_index[j]}"
                names[int(row)] = gen_names.get(gen_index[j], "")
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
