"""Protection planning (defender-attacker-defender) vs brute force; criticality ranking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError
from gridshield.security.nk import enumerate_sets
from gridshield.security.protect import DEFAULT_COST_USD, plan_protection, read_costs
from gridshield.security.rank import rank_assets
from gridshield.security.shed import ShedModel, as_assets, default_candidates


@pytest.fixture(scope="module")
def case14():
    return gs.load_case("case14")


def _strongest(m, grid, n):
    assets = default_candidates(grid)
    single = np.array([m.evaluate([a])[0] for a in assets])
    score = single * 1e6 + m.asset_size(assets)
    return [assets[i].id for i in np.argsort(-score, kind="stable")[:n]]


def _brute(model, grid, cands, costs, budget, k):
    assets = as_assets(grid, cands)
    best = np.inf
    for n in range(len(cands) + 1):
        for ps in itertools.combinations(range(len(cands)), n):
            if sum(costs[cands[p]] for p in ps) > budget + 1e-6:
                continue
            allowed = [a for j, a in enumerate(assets) if j not in ps]
            _, wv, _ = enumerate_sets(model, allowed, min(k, len(allowed)))
            best = min(best, wv.max())
    return best


@pytest.mark.parametrize("budget_units", [1, 2])
def test_plan_equals_brute_force_case14(case14, budget_units):
    m = ShedModel(case14)
    cands = _strongest(m, case14, 10)
    rng = np.random.default_rng(1)
    costs = {c: float(rng.choice([1.0, 2.0])) * 1e6 for c in cands}
    budget = budget_units * 2e6
    plan = plan_protection(case14, budget=budget, costs=costs, k=2, candidates=cands, method="enumerate", model=m)
    assert plan.optimal
    assert plan.worst_case_mw == pytest.approx(_brute(m, case14, cands, costs, budget, 2), abs=1e-6)
    assert plan.total_cost_usd <= budget + 1e-6
    assert plan.worst_case_mw <= plan.unprotected_worst_case_mw + 1e-9
    # the loss curve is non-increasing in the budget and ends at the plan
    ys = [c[1] for c in plan.curve]
    assert all(b <= a + 1e-9 for a, b in zip(ys, ys[1:], strict=False))
    assert ys[-1] == pytest.approx(plan.worst_case_mw)
    assert sum(plan.marginal_benefit_mw) == pytest.approx(plan.unprotected_worst_case_mw - plan.worst_case_mw, abs=1e-6)


def test_plan_with_milp_attacker_and_default_costs(case14, tmp_path):
    m = ShedModel(case14)
    cands = _strongest(m, case14, 10)
    plan = plan_protection(case14, budget=2 * DEFAULT_COST_USD, k=2, candidates=cands, method="milp", model=m)
    costs = {c: DEFAULT_COST_USD for c in cands}
    assert plan.worst_case_mw == pytest.approx(_brute(m, case14, cands, costs, 2 * DEFAULT_COST_USD, 2), abs=1e-5)
    d = plan.to_dict()
    assert d["budget_usd"] == 2 * DEFAULT_COST_USD and len(d["protect"]) == len(plan.protect)
    assert list(plan.to_frame().index) == list(plan.protect)
    # CSV costs
    p = tmp_path / "costs.csv"
    p.write_text("asset,cost_usd\n" + "".join(f"{c},{DEFAULT_COST_USD}\n" for c in cands))
    assert read_costs(p) == costs
    bad = tmp_path / "bad.csv"
    bad.write_text("asset,cost_usd\nbranch:1,abc\n")
    with pytest.raises(GridshieldError, match="bad.csv:2"):
        read_costs(bad)


def test_rank_assets_case14(case14):
    r = rank_assets(case14, elements=("branches", "gens"), k_max=2, method="auto")
    m = ShedModel(case14)
    alone = {a.id: m.evaluate([a])[1] for a in default_candidates(case14)}
    assert len(r.ids) == len(alone)
    for i, a in enumerate(r.ids):
        assert r.shed_mw[i] == pytest.approx(alone[a], abs=1e-6)
    assert np.all(np.diff(r.shed_mw) <= 1e-9)  # ranked by shed first
    # frequency counts the worst sets for k = 1, 2
    for a, f in zip(r.ids, r.worst_case_freq, strict=True):
        assert f == pytest.approx(sum(a in s for s in r.worst_sets) / 2)
    assert r.to_frame().shape[0] == len(r.ids)
    fig = r.figure(top=5)
    assert len(fig.data[0].x) == 5
