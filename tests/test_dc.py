"""DC power flow against PYPOWER's rundcpf (MATPOWER's DC PF), islands, batch reuse, lossless."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.flow.dc import DcSolver, bus_injection_mw
from gridshield.grid.ppc import to_ppc

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # PYPOWER uses np.matrix

CASES = ["case9", "case14", "case118", "case300", "case2869pegase", "case9241pegase"]


def _rundcpf(grid):
    from pypower.api import ppoption, rundcpf

    ppc = to_ppc(grid)
    ppc.pop("gencost", None)  # not needed for a power flow
    res, ok = rundcpf(ppc, ppoption(VERBOSE=0, OUT_ALL=0))
    assert ok
    return res


@pytest.mark.parametrize("name", CASES)
def test_dc_equals_pypower_rundcpf(name):
    grid = gs.load_case(name)
    r = gs.solve_dc(grid)
    ref = _rundcpf(grid)
    # angles in degrees, flows and generation in MW (1e-8 p.u. = 1e-6 MW on 100 MVA)
    np.testing.assert_allclose(r.va_deg, ref["bus"][:, 8], rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.p_from_mw, ref["branch"][:, 13], rtol=0, atol=1e-8 * grid.base_mva)
    np.testing.assert_allclose(r.p_to_mw, ref["branch"][:, 15], rtol=0, atol=1e-8 * grid.base_mva)
    np.testing.assert_allclose(r.gen_p_mw, ref["gen"][:, 1], rtol=0, atol=1e-8 * grid.base_mva)
    assert r.bus_energised.all() and r.n_islands == 1


THREE_BUS = """
function mpc = three_bus
mpc.version = '2';
mpc.baseMVA = 100.0;
mpc.bus = [
  1 3 0   0 0 0 1 1 0 230 1 1.1 0.9;
  2 1 60  0 0 0 1 1 0 230 1 1.1 0.9;
  3 1 40  0 0 0 1 1 0 230 1 1.1 0.9;
];
mpc.gen = [
  1 100 0 100 -100 1 100 1 200 0;
];
mpc.branch = [
  1 2 0.01 0.10 0 100 0 0 0    0 1 -360 360;
  1 3 0.02 0.20 0 100 0 0 1.05 5 1 -360 360;
  2 3 0.00 0.25 0 100 0 0 0    0 1 -360 360;
];
"""


def test_lossless_convention_hand_computed():
    """b = x / (r^2 + x^2), taps and shifts ignored (PowerModels' DCPPowerModel), by hand."""
    grid = gs.parse_matpower(THREE_BUS)
    b12 = 0.10 / (0.01**2 + 0.10**2)
    b13 = 0.20 / (0.02**2 + 0.20**2)
    b23 = 1 / 0.25
    p2, p3 = -0.6, -0.4
    # [[b12 + b23, -b23], [-b23, b13 + b23]] @ [t2, t3] = [p2, p3]  (Cramer's rule)
    a, b, c, d = b12 + b23, -b23, -b23, b13 + b23
    det = a * d - b * c
    t2, t3 = (p2 * d - b * p3) / det, (a * p3 - c * p2) / det
    r = gs.solve_dc(grid, convention="lossless")
    np.testing.assert_allclose(r.va_deg, np.rad2deg([0.0, t2, t3]), atol=1e-12)
    np.testing.assert_allclose(r.p_from_mw, 100 * np.array([-b12 * t2, -b13 * t3, b23 * (t2 - t3)]), atol=1e-9)
    np.testing.assert_allclose(r.gen_p_mw, [100.0], atol=1e-9)
    # matpower convention on the same case: b = 1/(x tap), with the 5 degree shift
    m = gs.solve_dc(grid)
    ref = _rundcpf(grid)
    np.testing.assert_allclose(m.p_from_mw, ref["branch"][:, 13], atol=1e-9)
    assert np.abs(m.p_from_mw - r.p_from_mw).max() > 1.0  # the conventions really differ here


def _kcl_residual(grid, r):
    """Per energised bus: injection (with the solved generator outputs) minus flows out (MW)."""
    nb = len(grid.buses)
    inj = np.bincount(grid.gens.bus, weights=r.gen_p_mw, minlength=nb)
    inj -= np.bincount(grid.loads.bus[grid.loads.in_service], weights=grid.loads.p_mw[grid.loads.in_service], minlength=nb)
    inj -= np.bincount(grid.shunts.bus, weights=np.where(grid.shunts.in_service, grid.shunts.g_mw, 0), minlength=nb)
    out = np.bincount(grid.branches.from_bus, weights=r.p_from_mw, minlength=nb)
    out += np.bincount(grid.branches.to_bus, weights=r.p_to_mw, minlength=nb)
    return np.where(r.bus_energised, inj - out, 0.0)


def test_islands_each_get_a_slack_and_dark_islands_are_zero():
    grid = gs.load_case("case14")
    br = grid.branches
    # bus 8 hangs on branch 7-8 only (gen at 8 -> own island, no type-3 bus: largest generator)
    # buses 12/13/14 side: cut 6-12, 6-13, 9-14 -> island {12, 13, 14} without generation (dark)
    num = grid.buses.number
    def rows(pairs):
        return [k for k in range(len(br)) if (num[br.from_bus[k]], num[br.to_bus[k]]) in pairs]
    cut = rows({(7, 8), (6, 12), (6, 13), (9, 14)})
    assert len(cut) == 4
    mask = br.in_service.copy()
    mask[cut] = False
    r = gs.solve_dc(grid, branch_in_service=mask)
    bus = {int(n): i for i, n in enumerate(num)}
    dark = [bus[12], bus[13], bus[14]]
    assert not r.bus_energised[dark].any() and r.bus_energised.sum() == 11
    assert np.all(r.va_deg[dark] == 0.0)
    assert np.all(np.isfinite(r.va_deg)) and np.all(np.isfinite(r.p_from_mw))
    in_dark = np.isin(br.from_bus, dark) | np.isin(br.to_bus, dark)
    assert np.all(r.p_from_mw[in_dark] == 0.0)
    # bus 8 is its own island; its generator (case14 gen at bus 8, 0 MW) is the slack with no load
    i8 = r.island[bus[8]]
    assert r.ref_bus[i8] == bus[8]
    assert r.slack_gen[i8] == int(np.flatnonzero(grid.gens.bus == bus[8])[0])
    # every energised bus balances (KCL) with the slacks' new outputs
    np.testing.assert_allclose(_kcl_residual(grid, r), 0.0, atol=1e-9)
    # the main island's slack covers main-island load exactly (lossless DC)
    main = r.island[bus[1]]
    on = r.island == main
    load = grid.loads.p_mw[np.isin(grid.loads.bus, np.flatnonzero(on))].sum()
    gen = r.gen_p_mw[np.isin(grid.gens.bus, np.flatnonzero(on))].sum()
    assert gen == pytest.approx(load, abs=1e-9)
    # the main island equals PYPOWER with the rest isolated (type 4) and the cut branches off
    ppc = to_ppc(grid)
    ppc["branch"][cut, 10] = 0
    iso = [bus[8], *dark]
    ppc["bus"][iso, 1] = 4
    ppc["gen"][np.isin(grid.gens.bus, iso), 7] = 0
    from pypower.api import ppoption, rundcpf

    res, ok = rundcpf(ppc, ppoption(VERBOSE=0, OUT_ALL=0))
    assert ok
    live = ~np.isin(np.arange(len(br)), cut) & ~in_dark
    np.testing.assert_allclose(r.p_from_mw[live], res["branch"][live, 13], atol=1e-8)
    np.testing.assert_allclose(r.va_deg[on], res["bus"][on, 8], atol=1e-8)


def test_batch_solves_reuse_one_factorisation():
    grid = gs.load_case("case118")
    s = DcSolver(grid)
    rng = np.random.default_rng(3)
    p0 = bus_injection_mw(grid)
    cases = p0[:, None] * rng.uniform(0.8, 1.2, size=(len(grid.buses), 7))
    batch = s.solve(cases)
    assert batch.p_from_mw.shape == (len(grid.branches), 7)
    for j in range(7):
        one = s.solve(cases[:, j])
        np.testing.assert_allclose(batch.p_from_mw[:, j], one.p_from_mw, atol=1e-10)
        np.testing.assert_allclose(batch.va_deg[:, j], one.va_deg, atol=1e-12)
    # the base injections reproduce solve_dc, and the mismatch is what the slack absorbs
    r = gs.solve_dc(grid)
    b = s.solve(p0)
    np.testing.assert_allclose(b.p_from_mw, r.p_from_mw, atol=1e-10)
    assert b.mismatch_mw[0] == pytest.approx(-p0.sum(), abs=1e-8)


@pytest.mark.parametrize("backend", ["klu", "splu"])
def test_backends_agree(backend):
    grid = gs.load_case("case300")
    r = DcSolver(grid, backend=backend).result()
    ref = _rundcpf(grid)
    np.testing.assert_allclose(r.p_from_mw, ref["branch"][:, 13], atol=1e-8)


def test_result_frames_and_dict():
    import json

    grid = gs.load_case("case9")
    r = gs.solve_dc(grid)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["branch"]["id"][0] == "branch:1" and len(d["bus"]["va_deg"]) == 9
    assert d["islands"]["ref_bus"] == ["bus:1"]
    assert list(r.to_frame("branch").columns) == ["p_from_mw", "p_to_mw", "rate_a_mva", "loading_pct"]
    assert r.to_frame().shape == (9, 3) and r.to_frame("gen").shape == (3, 1)
    with pytest.raises(gs.GridValidationError):
        gs.solve_dc(grid, convention="ac")
    with pytest.raises(gs.GridValidationError):
        r.to_frame("nodes")


@pytest.mark.parametrize("first_out", [False, True])
def test_slack_is_first_in_service_generator_at_reference(first_out):
    """Two generators at the reference bus: MATPOWER puts the imbalance on the first one in
    service (PYPOWER rundcpf as reference)."""
    grid = gs.load_case("case9")
    cols = grid.gens.columns()
    extra = {k: np.append(v, v[0]) for k, v in cols.items()}
    extra["id"] = np.append(cols["id"], "gen:4")
    extra["p_mw"] = np.append(cols["p_mw"], 25.0)
    if first_out:
        extra["in_service"] = np.array([False, True, True, True])
    g2 = grid.replace(gens=type(grid.gens)(**extra), gencost=None, extra_columns={})
    r = gs.solve_dc(g2)
    ref = _rundcpf(g2)
    np.testing.assert_allclose(r.gen_p_mw, np.where(r.gen_p_mw != 0, ref["gen"][:, 1], 0.0), atol=1e-8)
    np.testing.assert_allclose(r.p_from_mw, ref["branch"][:, 13], atol=1e-8)
    assert r.slack_gen[0] == (3 if first_out else 0)
    assert r.gen_p_mw[3 if first_out else 0] == pytest.approx(r.slack_p_mw[0])
