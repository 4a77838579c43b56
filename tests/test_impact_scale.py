"""The impact engine at scale (issue 15): the rank-k Woodbury DC update and the faster LPs give
the same per-sample answers as before them.

References: ``tests/data/lost_mw_*_seed1_2000.npy`` hold the MW lost by samples 0..1999 (seed 1)
as computed by gridshield at commit 96a9655, before the Woodbury path and the LP changes (fresh
factorisation per damage, PTDF constraint generation adding every violated branch, B-theta
re-solved from the previous sample). Sample ``i`` is drawn from ``default_rng([1, i])``.
The LP answers agree to 1e-9 of the grid's demand (the solvers' own tolerances are 1e-7 p.u.);
fast-path samples agree exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gridshield as gs
from gridshield.impact import ImpactModel
from gridshield.impact.damage import Damage
from gridshield.impact.state import BaseDc, factor, island_refs, islands_of, live_after
from gridshield.threat.sampling import build_grid, compile_threat
from gridshield.threat.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def bench_scenario() -> dict:
    from benchmarks.bench_risk import bench_scenario as bs

    return bs("case2869pegase", "relaxed")


def _lost(scenario, n: int, **options) -> tuple[np.ndarray, list[str], float]:
    sc = load_scenario(scenario)
    grid = build_grid(sc)
    threat = compile_threat(sc, grid)
    model = ImpactModel(grid, **{**sc.impact.options(), **options})
    seen: dict[tuple[str, ...], tuple[float, str]] = {}
    lost, method = [], []
    for i in range(n):
        d = threat.draw(1, i).damage
        if d not in seen:
            r = model.assess(list(d))
            seen[d] = (r.lost_mw, r.method)
        lost.append(seen[d][0])
        method.append(seen[d][1])
    return np.array(lost), method, model.demand_mw


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario, ref",
    [(bench_scenario, "lost_mw_bench2869_seed1_2000.npy"), (ROOT / "examples" / "dec-19-drones.yaml", "lost_mw_dec19_seed1_2000.npy")],
    ids=["bench-case2869pegase", "dec-19-drones"],
)
def test_same_lost_mw_as_before_issue15(scenario, ref):
    want = np.load(DATA / ref)
    got, method, demand = _lost(scenario() if callable(scenario) else scenario, want.size)
    fast = np.array([m == "fast" for m in method])
    assert 0 < fast.sum() < want.size  # both paths are exercised
    np.testing.assert_array_equal(got[fast], want[fast])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * demand)


@pytest.mark.parametrize("case", ["case118", "case2869pegase", "synthetic-city"])
def test_woodbury_flows_equal_a_fresh_factorisation(case):
    """Angles, flows and PTDF rows of random damages (branches, buses, generators; islands and
    destroyed buses included) from the intact factors + Woodbury = a fresh factorisation."""
    grid = gs.load_case(case)
    rng = np.random.default_rng(7)
    base = BaseDc(grid, "matpower")
    br = grid.branches
    ids = [*br.id.tolist(), *grid.buses.id.tolist(), *grid.gens.id.tolist()]
    worst, low_rank = 0.0, 0
    for _ in range(60):
        dmg = Damage.from_ids(grid, [str(x) for x in rng.choice(ids, size=int(rng.integers(1, 7)), replace=False)])
        live = live_after(grid, dmg)
        isl = islands_of(grid, live)
        refs = island_refs(grid, isl, live.gen & isl.energised[grid.gens.bus])
        bus_on = live.bus & isl.energised
        branch_on = live.branch & bus_on[br.from_bus] & bus_on[br.to_bus]
        lr = base.low_rank(live, isl, branch_on, bus_on, refs)
        if lr is None:
            continue
        low_rank += 1
        fresh = factor(grid, "matpower", branch_on, bus_on, refs)
        p = rng.normal(size=len(grid.buses)) * bus_on  # island-balanced injections
        for k in range(isl.count):
            m = (isl.label == k) & bus_on
            if m.any():
                p[m] -= p[m].mean()
        e = np.zeros((len(grid.buses), 2))
        for j, l in enumerate(rng.choice(np.flatnonzero(branch_on), 2)):
            e[br.from_bus[l], j], e[br.to_bus[l], j] = 1.0, -1.0
        th1, th2 = lr.angles(p), fresh.angles(p)
        scale = max(1.0, float(np.abs(th2).max()))
        worst = max(worst, float(np.abs(th1 - th2).max()) / scale,
                    float(np.abs(lr.flows(th1) - fresh.flows(th2)).max()) / scale,
                    float(np.abs(lr.sens(e) - fresh.sens(e)).max()) / max(1.0, float(np.abs(fresh.sens(e)).max())))
    assert low_rank >= 50
    assert worst < 1e-9


def test_low_rank_off_gives_the_same_results():
    grid = gs.load_case("case118")
    rng = np.random.default_rng(3)
    ids = grid.branches.id.tolist()
    a, b = ImpactModel(grid), ImpactModel(grid, low_rank=False)
    for _ in range(30):
        d = [str(x) for x in rng.choice(ids, size=4, replace=False)]
        ra, rb = a.assess(d), b.assess(d)
        assert ra.method == rb.method
        assert ra.lost_mw == pytest.approx(rb.lost_mw, abs=1e-9 * ra.demand_mw)


def _with_condition(k: int, cond: float, rng) -> np.ndarray:
    """A k x k matrix with 2-norm condition number ``cond`` (random orthogonal factors)."""
    q1, _ = np.linalg.qr(rng.normal(size=(k, k)))
    q2, _ = np.linalg.qr(rng.normal(size=(k, k)))
    sv = np.geomspace(1.0, 1.0 / cond, k) if k > 1 else np.ones(1)
    return (q1 * sv) @ q2.T * rng.uniform(0.1, 1e3)


def test_capacitance_conditioning_check_refuses_what_the_svd_refuses():
    """The Woodbury update's conditioning check (LAPACK's 1-norm estimate from the LU, dgecon)
    takes the same decisions as numpy.linalg.cond (2-norm, by SVD) against MAX_COND, except
    within a factor 30 k of the limit, where the two norms may legitimately disagree (they differ
    by at most a factor k, and the estimate is a lower bound of the 1-norm condition number,
    rarely off by more than 3). Singular matrices are refused; accepted ones come with the LU
    ``scipy.linalg.lu_factor`` gives."""
    import scipy.linalg as sla

    from gridshield.impact.state import MAX_COND, _well_conditioned_lu

    rng = np.random.default_rng(5)
    checked = 0
    for k in (2, 3, 5, 12, 30, 48):
        for cond in np.geomspace(10.0, 1e18, 35):
            s = _with_condition(k, cond, rng)
            c2 = np.linalg.cond(s)
            got = _well_conditioned_lu(s)
            if MAX_COND / (30 * k) < c2 < MAX_COND * 30 * k:
                continue
            checked += 1
            assert (got is None) == (c2 > MAX_COND), (k, cond, c2)
            if got is not None:
                lu, piv = sla.lu_factor(s)
                np.testing.assert_array_equal(got[0], lu)
                np.testing.assert_array_equal(got[1], piv)
    assert checked > 150
    singular = _with_condition(6, 10.0, rng)
    singular[:, 2] = 0.0
    assert _well_conditioned_lu(singular) is None
    singular[:, 2] = singular[:, 0]  # rank-deficient without an exact zero pivot
    assert _well_conditioned_lu(singular) is None
    assert _well_conditioned_lu(np.array([[1.0]])) is not None


@pytest.mark.parametrize("case", ["case118", "synthetic-city"])
def test_conditioning_decisions_on_random_damages_equal_the_svd_ones(case, monkeypatch):
    """On the capacitance matrices real damages produce, the dgecon check and the SVD one agree."""
    import gridshield.impact.state as st

    seen: list[tuple[float, bool]] = []
    check = st._well_conditioned_lu

    def spy(s):
        out = check(s)
        seen.append((float(np.linalg.cond(s)), out is not None))
        return out

    monkeypatch.setattr(st, "_well_conditioned_lu", spy)
    grid = gs.load_case(case)
    rng = np.random.default_rng(11)
    base = BaseDc(grid, "matpower")
    br = grid.branches
    ids = [*br.id.tolist(), *grid.buses.id.tolist(), *grid.gens.id.tolist()]
    for _ in range(400):
        dmg = Damage.from_ids(grid, [str(x) for x in rng.choice(ids, size=int(rng.integers(1, 12)), replace=False)])
        live = live_after(grid, dmg)
        isl = islands_of(grid, live)
        bus_on = live.bus & isl.energised
        branch_on = live.branch & bus_on[br.from_bus] & bus_on[br.to_bus]
        base.low_rank(live, isl, branch_on, bus_on, island_refs(grid, isl, live.gen & bus_on[grid.gens.bus]))
    assert len(seen) > 300
    assert all(ok == (c <= st.MAX_COND) for c, ok in seen)


@pytest.mark.parametrize("report_by", ["bus", "group"])
def test_assess_loss_is_assess_bit_for_bit(report_by):
    """ImpactModel.assess_loss (what the Monte Carlo calls) gives exactly the loss numbers of a
    full assess, on fast-path and LP samples of the city; and the sampler's metrics agree."""
    import yaml

    from gridshield.threat.sampling import Sampler, _metrics

    raw = yaml.safe_load((ROOT / "examples" / "dec-19-drones.yaml").read_text())
    raw["grid"]["report_by"] = report_by
    sm = Sampler(load_scenario(raw))
    model = sm.model
    methods = set()
    for i in range(250):
        d = list(sm.threat.draw(1, i).damage)
        model.reset_warm_start()
        full = model.assess(d)
        model.reset_warm_start()
        lean = model.assess_loss(d, groups=report_by == "group")
        methods.add(full.method == "fast")
        assert (lean.demand_mw, lean.served_mw, lean.lost_mw, lean.customers_affected, lean.method) == (
            full.demand_mw, full.served_mw, full.lost_mw, full.customers_affected, full.method)
        np.testing.assert_array_equal(lean.load_served_mw, full.load_served_mw)
        assert lean.by_priority == full.by_priority
        assert lean.by_group == (full.by_group if report_by == "group" else {})
        model.reset_warm_start()
        assert _metrics(lean, sm.groups, sm.areas) == _metrics(full, sm.groups, sm.areas)
    assert methods == {True, False}  # both paths exercised
