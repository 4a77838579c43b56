"""Import of a pandapower network (optional extra: ``pip install 'gridshield[pandapower]'``).

The network goes through pandapower's own MATPOWER export (so its element models — lines,
two- and three-winding transformers, shunts, wards — are converted exactly as pandapower
converts them), then its loads become first-class gridshield loads with their names, and bus
names and coordinates are kept. The caller's ``net`` is not modified (pandapower's export
writes hidden state onto the net; gridshield works on a copy). Transformers use the pi model
(MATPOWER's). Line shunt conductance (pandapower's ``g_us_per_km``), which MATPOWER's branch
model has no column for, is dropped: on nets that use it, voltages differ by ~1e-5 p.u.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.matpower import RawCase, RawTable, grid_from_raw
from gridshield.grid.model import Grid, Loads


def _coords(net: Any) -> tuple[dict[int, float], dict[int, float]]:
    xs: dict[int, float] = {}
    ys: dict[int, float] = {}
    if "geo" in net.bus and net.bus["geo"].notna().any():
        for idx, geo in net.bus["geo"].items():
            if isinstance(geo, str) and geo:
                c = json.loads(geo).get("coordinates", [])
                if len(c) >= 2:
                    xs[int(idx)], ys[int(idx)] = float(c[0]), float(c[1])
    elif hasattr(net, "bus_geodata") and len(net.bus_geodata):
        for idx, row in net.bus_geodata.iterrows():
            xs[int(idx)], ys[int(idx)] = float(row["x"]), float(row["y"])
    return xs, ys


def from_pandapower(net: Any, *, name: str | None = None) -> Grid:
    """Convert a pandapower network to a :class:`Grid`.

    Ids: ``bus:<pandapower bus index>``, ``branch:line<idx>`` / ``branch:trafo<idx>``,
    ``load:<idx>`` (static generators become negative loads ``load:sgen<idx>``).
    """
    try:
        from pandapower.converter.pypower import to_ppc
    except ImportError:
        raise GridshieldError("from_pandapower needs pandapower: pip install 'gridshield[pandapower]'") from None
    net = copy.deepcopy(net)
    try:
        # a solved net hands over its solution as the case's voltages (as a MATPOWER file does)
        solved = bool(getattr(net, "converged", False)) and len(getattr(net, "res_bus", ()))
        ppc = to_ppc(net, init="results" if solved else "dc", calculate_voltage_angles=True, trafo_model="pi")
    except Exception as exc:  # pandapower raises many kinds
        raise GridshieldError(f"pandapower could not export the network: {exc}") from None
    bus = np.real(ppc["bus"][:, :13]).astype(float)
    bus[:, 0] += 1
    gen = np.real(ppc["gen"][:, :10]).astype(float)
    gen[:, 0] += 1
    gen[~np.isfinite(gen[:, 6]), 6] = float(ppc["baseMVA"])  # pandapower leaves mBase NaN for some gens
    branch = np.real(ppc["branch"][:, :13]).astype(float)
    branch[:, :2] += 1
    raw = RawCase(path="<pandapower>", name=name or str(net.name or "pandapower"))
    raw.scalars = {"version": "2", "baseMVA": float(ppc["baseMVA"])}
    for key, data in (("bus", bus), ("gen", gen), ("branch", branch)):
        raw.tables[key] = RawTable(name=key, line=0, data=data)
    grid = grid_from_raw(raw)

    lookup = net._pd2ppc_lookups["bus"]
    nb = bus.shape[0]
    first_net_bus = {}
    for net_idx in net.bus.index:
        row = int(lookup[net_idx])
        if row >= 0:
            first_net_bus.setdefault(row, int(net_idx))
    xs, ys = _coords(net)
    bus_ids = [f"bus:{first_net_bus[r]}" if r in first_net_bus else f"bus:aux{r}" for r in range(nb)]
    names = [str(net.bus.at[first_net_bus[r], "name"] or "") if r in first_net_bus else "" for r in range(nb)]
    bx = [xs.get(first_net_bus.get(r, -1), np.nan) for r in range(nb)]
    by = [ys.get(first_net_bus.get(r, -1), np.nan) for r in range(nb)]
    buses = grid.buses.replace(id=bus_ids, name=names, x=bx, y=by)

    br_ids = [f"branch:{k + 1}" for k in range(branch.shape[0])]
    for kind, (start, end) in net._pd2ppc_lookups["branch"].items():
        elems = net[kind].index.tolist() if kind in net and len(net[kind]) == end - start else None
        for j, k in enumerate(range(start, end)):
            br_ids[k] = f"branch:{kind}{elems[j] if elems is not None else j}"
    branches = grid.branches.replace(id=br_ids)

    ids, rows, p, q, on, lnames = [], [], [], [], [], []
    for table, prefix, sign in (("load", "", 1.0), ("sgen", "sgen", -1.0)):
        if table not in net or not len(net[table]):
            continue
        df = net[table]
        scale = df["scaling"].to_numpy(float) if "scaling" in df else np.ones(len(df))
        for (idx, r), s in zip(df.iterrows(), scale, strict=True):
            row = int(lookup[int(r["bus"])])
            if row < 0:
                continue
            ids.append(f"load:{prefix}{idx}")
            rows.append(row)
            p.append(sign * float(r["p_mw"]) * s)
            q.append(sign * float(r.get("q_mvar", 0.0)) * s)
            on.append(bool(r["in_service"]) and bool(net.bus.at[int(r["bus"]), "in_service"]))
            lnames.append(str(r.get("name") or ""))
    # whatever else pandapower put into Pd/Qd (wards, storage, motors...) stays as a residual load
    pd_named = np.bincount(np.array(rows, dtype=np.int64)[np.array(on, bool)] if rows else np.zeros(0, np.int64),
                           weights=np.array(p)[np.array(on, bool)] if rows else None, minlength=nb)
    qd_named = np.bincount(np.array(rows, dtype=np.int64)[np.array(on, bool)] if rows else np.zeros(0, np.int64),
                           weights=np.array(q)[np.array(on, bool)] if rows else None, minlength=nb)
    res_p, res_q = bus[:, 2] - pd_named, bus[:, 3] - qd_named
    for r in np.flatnonzero((np.abs(res_p) > 1e-9) | (np.abs(res_q) > 1e-9)).tolist():
        ids.append(f"load:other{bus_ids[r][4:]}")
        rows.append(r)
        p.append(float(res_p[r]))
        q.append(float(res_q[r]))
        on.append(True)
        lnames.append("other injections")
    loads = Loads(id=ids, bus=rows, p_mw=p, q_mvar=q, in_service=on, name=lnames)
    return grid.replace(buses=buses, branches=branches, loads=loads)


__all__ = ["from_pandapower"]
