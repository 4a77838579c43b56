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


# -- expected-loss mode (Monte Carlo threat scenario) ------------------------------------------------

SC9 = {
    "name": "t9",
    "grid": {"case": "case9", "sites": {"A": [5], "B": [7], "C": [9], "D": [4]}},
    "waves": [{"weapon": "drone", "launched": 6, "interception": {"rate": 0.5},
               "targets": [{"class": "site"}, {"id": "branch:4"}], "destroy": {"site": 0.5, "line": 0.4}}],
}


def _ref_expected(sc, protect, effect, samples, seed):
    """Reference: gs.run_risk (its own sampler, batches, workers=1) on a scenario built by hand."""
    from gridshield.threat.scenario import load_scenario

    base = load_scenario(sc).model_dump(mode="json", by_alias=True, exclude_none=True)
    for w in base["waves"]:
        w["protected"] = list(w.get("protected", [])) + [{"id": a, "reduction": effect} for a in protect]
    return float(gs.run_risk(base, samples=samples, seed=seed, workers=1).lost_mw.mean())


@pytest.mark.parametrize("budget", [3.0e6, 5.0e6])
def test_expected_plan_equals_brute_force_case9(budget):
    costs = {"site:A": 2.0e6, "site:B": 3.0e6, "site:C": 2.5e6, "site:D": 1.0e6}
    n, seed, eff = 120, 7, 0.85
    plan = plan_protection(None, budget=budget, costs=costs, scenario=SC9, samples=n, seed=seed, effect=eff)
    assert plan.mode == "expected" and set(plan.candidates) == set(costs)
    best = np.inf
    cands = sorted(costs)
    for r in range(len(cands) + 1):
        for ps in itertools.combinations(cands, r):
            if sum(costs[p] for p in ps) <= budget + 1e-6:
                best = min(best, _ref_expected(SC9, ps, eff, n, seed))
    assert plan.expected_loss_mw == pytest.approx(best, abs=1e-6)
    assert plan.expected_loss_mw == pytest.approx(_ref_expected(SC9, plan.protect, eff, n, seed), abs=1e-6)
    assert plan.unprotected_expected_loss_mw == pytest.approx(_ref_expected(SC9, (), eff, n, seed), abs=1e-6)
    assert plan.total_cost_usd <= budget + 1e-6
    assert sum(plan.marginal_benefit_mw) == pytest.approx(plan.unprotected_expected_loss_mw - plan.expected_loss_mw)
    ys = [c[1] for c in plan.curve]
    assert ys[0] == pytest.approx(plan.unprotected_expected_loss_mw) and ys[-1] == pytest.approx(plan.expected_loss_mw)
    assert all(b <= a + 1e-9 for a, b in zip(ys, ys[1:], strict=False))
    assert plan.ci95_half_width_mw > 0 and plan.reduction_ci95_half_width_mw > 0
    import json

    d = json.loads(json.dumps(plan.to_dict(), allow_nan=False))
    assert d["mode"] == "expected" and d["worst_case_mw"] is None and d["samples"] == n


def test_expected_plan_errors():
    with pytest.raises(GridshieldError, match="site:Z"):
        plan_protection(None, budget=1e6, scenario=SC9, protectable=["site:Z"], samples=10)
    with pytest.raises(GridshieldError, match="samples"):
        plan_protection(None, budget=1e6, scenario=SC9, samples=1)
    with pytest.raises(GridshieldError, match="case9"):
        plan_protection(gs.load_case("case14"), budget=1e6, scenario=SC9, samples=10)
    with pytest.raises(GridshieldError, match="case9"):
        rank_assets(gs.load_case("case14"), scenario=SC9, samples=10, k_max=0)


def test_rank_expected_contribution_local_loss():
    """With the local-loss evaluator (a site loses exactly its own load), the contribution
    E[L] - E[L | s immune] equals, sample by sample under common random numbers,
    load(s) x share of samples where s is destroyed; checked also against run_risk."""
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import load_scenario

    ev_spec = "gridshield.threat.sampling:local_loss_evaluator"
    n, seed = 200, 3
    r = rank_assets(None, elements=("sites",), k_max=0, scenario=SC9, samples=n, seed=seed, evaluator=ev_spec)
    g = build_grid(load_scenario(SC9))
    risk = gs.run_risk(SC9, samples=n, seed=seed, workers=1, evaluator=ev_spec)
    assert r.expected_total_mw == pytest.approx(float(risk.lost_mw.mean()))
    for i, a in enumerate(r.ids):
        rows = g.sites[a[5:]]
        load_mw = float(g.loads.p_mw[np.isin(g.loads.bus, rows)].sum())
        share = np.mean([a in d for d in risk.batch.damage])
        assert r.p_destroyed[i] == pytest.approx(share)
        assert r.expected_loss_mw[i] == pytest.approx(load_mw * share, abs=1e-9)
        base = load_scenario(SC9).model_dump(mode="json", by_alias=True, exclude_none=True)
        base["waves"][0]["protected"] = [{"id": a, "destroy_probability": 0.0}]
        immune = gs.run_risk(base, samples=n, seed=seed, workers=1, evaluator=ev_spec)
        assert r.expected_loss_mw[i] == pytest.approx(risk.lost_mw.mean() - immune.lost_mw.mean(), abs=1e-9)
    assert np.all(np.diff(r.expected_loss_mw) <= 1e-12)  # ranked by contribution
    assert "expected_loss_mw" in r.to_frame().columns and r.to_dict()["assets"][0]["p_destroyed"] >= 0


def test_rank_expected_contribution_impact_engine():
    """Impact engine: contribution = run_risk(E[L]) - run_risk(E[L | asset immune]), same seed."""
    n, seed = 80, 5
    r = rank_assets(None, elements=("branches", "sites"), k_max=0, scenario=SC9, samples=n, seed=seed)
    base = float(gs.run_risk(SC9, samples=n, seed=seed, workers=1).lost_mw.mean())
    assert r.expected_total_mw == pytest.approx(base, abs=1e-6)
    from gridshield.threat.scenario import load_scenario

    for a in ("site:C", "branch:4"):
        d = load_scenario(SC9).model_dump(mode="json", by_alias=True, exclude_none=True)
        d["waves"][0]["protected"] = [{"id": a, "destroy_probability": 0.0}]
        immune = float(gs.run_risk(d, samples=n, seed=seed, workers=1).lost_mw.mean())
        assert r.expected_loss_mw[r.ids.index(a)] == pytest.approx(base - immune, abs=1e-6)
    # untargeted assets contribute nothing
    assert r.expected_loss_mw[r.ids.index("branch:8")] == 0.0


def test_cli_protect_and_rank_with_scenario(tmp_path):
    import json
    import subprocess
    import sys

    import yaml

    sc = tmp_path / "t9.yaml"
    sc.write_text(yaml.safe_dump(SC9))
    costs = tmp_path / "c.csv"
    costs.write_text("asset,cost_usd\nsite:D,1e6\nsite:A,2e6\n")
    out = tmp_path / "plan.json"
    cmd = [sys.executable, "-m", "gridshield", "protect", "case9", "--budget", "5e6", "--costs", str(costs),
           "--scenario", str(sc), "--samples", "60", "--seed", "2", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Expected loss against budget" in res.stdout
    d = json.loads(out.read_text())
    api = plan_protection(None, budget=5e6, costs=str(costs), scenario=str(sc), samples=60, seed=2)
    assert d["mode"] == "expected" and d["expected_loss_mw"] == pytest.approx(api.expected_loss_mw)
    assert [p["id"] for p in d["protect"]] == list(api.protect)
    out = tmp_path / "rank.json"
    res = subprocess.run([sys.executable, "-m", "gridshield", "rank", "case9", "--scenario", str(sc), "--elements",
                          "sites", "--k-max", "0", "--samples", "60", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    d = json.loads(out.read_text())
    assert len(d["assets"]) == 4 and "expected_loss_mw" in d["assets"][0]
    res = subprocess.run([sys.executable, "-m", "gridshield", "rank", "case14", "--scenario", str(sc)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "case9" in res.stderr
