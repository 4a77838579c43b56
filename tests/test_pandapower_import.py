"""pandapower import: the converted grid solves to pandapower's own answer (PYPOWER as solver)."""

from __future__ import annotations

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")
from pypower.api import ppoption, runpf  # noqa: E402

from gridshield.grid.pandapower import from_pandapower  # noqa: E402
from gridshield.grid.ppc import to_ppc  # noqa: E402


@pytest.mark.parametrize("make", [pn.mv_oberrhein, pn.case9, pn.case30])
def test_import_matches_pandapower_power_flow(make):
    net = make()
    # pi transformer model: the one MATPOWER (and the export) uses; both tools need a DC start here
    pp.runpp(net, calculate_voltage_angles=True, init="dc", max_iteration=30, tolerance_mva=1e-10, trafo_model="pi")
    before = net.bus.copy()
    grid = from_pandapower(net)
    assert net.bus.equals(before)  # the caller's net is not modified
    ppc = to_ppc(grid)
    res, ok = runpf(ppc, ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10))
    assert ok
    vm = res["bus"][:, 7]
    for idx in net.bus.index[net.bus.in_service]:
        row = grid.buses.index.get(f"bus:{idx}")
        if row is None or not np.isfinite(net.res_bus.at[idx, "vm_pu"]):
            continue
        # pandapower's own model adds line shunt conductance that MATPOWER's branch model lacks
        assert abs(vm[row] - net.res_bus.at[idx, "vm_pu"]) < 1e-4, idx
    # exact against PYPOWER on pandapower's own exported MATPOWER data (what the format can hold)
    p = net._ppc
    ref = {"version": "2", "baseMVA": p["baseMVA"], "bus": p["bus"][:, :13].copy(),
           "gen": np.real(p["gen"][:, :21]).copy(), "branch": np.real(p["branch"][:, :13]).copy()}
    ref_res, ok = runpf(ref, ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10))
    assert ok
    lk = net._pd2ppc_lookups["bus"]
    for idx in net.bus.index[net.bus.in_service]:
        row = grid.buses.index.get(f"bus:{idx}")
        if row is not None and lk[idx] >= 0:
            assert abs(vm[row] - ref_res["bus"][lk[idx], 7]) < 1e-8, idx
    named = np.array([not i.startswith(("load:sgen", "load:other")) for i in grid.loads.id])
    assert grid.loads.p_mw[named & grid.loads.in_service].sum() == pytest.approx(net.res_load.p_mw.sum(), abs=1e-6)


def test_names_and_coordinates_kept():
    net = pn.mv_oberrhein()
    grid = from_pandapower(net)
    i = grid.buses.index[f"bus:{net.bus.index[0]}"]
    assert np.isfinite(grid.buses.x[i])
    assert len([x for x in grid.loads.id if x.startswith("load:") and not x.startswith("load:sgen")]) >= len(net.load)
