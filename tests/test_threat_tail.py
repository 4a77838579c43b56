"""Tail sampling (stratified importance sampling of the destroying hits by impact tier) checked
against exact enumeration: the weighted draws reproduce the exact distribution of the destroyed
set, and the run's weighted estimators (mean, CVaR95, P(area dark)) cover the exact values with
their 99 % CIs over repeated seeds; until-ci, workers and resume work with it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gridshield.impact import ImpactModel
from gridshield.threat.runner import Z95, run_risk
from gridshield.threat.sampling import LocalLossModel, build_grid, compile_threat
from gridshield.threat.scenario import load_scenario
from gridshield.threat.tail import TailPlan, tail_plan
from tests.test_threat_impact import SC9
from tests.test_threat_sampling import TINY, _exact_distribution, _wave_damage_dist

Z99 = 2.5758293035489


def _exact_stats(dist: dict, loss: dict, alpha: float = 0.95) -> tuple[float, float]:
    """Exact mean and CVaR_alpha of a discrete distribution {outcome: p} with values loss[outcome]."""
    xs = sorted((loss[d], p) for d, p in dist.items())
    mean = sum(x * p for x, p in xs)
    cum, var = 0.0, xs[-1][0]
    for x, p in xs:
        cum += p
        if cum >= alpha - 1e-12:
            var = x
            break
    return mean, var + sum(p * max(x - var, 0.0) for x, p in xs) / (1 - alpha)


def test_weighted_draws_reproduce_the_exact_damage_distribution():
    sc = load_scenario(TINY)
    grid = build_grid(sc)
    threat = compile_threat(sc, grid)
    plan = tail_plan(threat, LocalLossModel(grid))
    assert plan.mass_left_out < 1e-12 and plan.p.sum() == pytest.approx(1.0, abs=1e-12)
    assert 1.0 / plan.weight.max() >= 0.1 - 1e-12  # the defensive mixture bounds every weight by 10
    exact = _exact_distribution()
    n = 15_000
    draws = [plan.draw(11, i) for i in range(n)]
    w = np.array([d.weight for d in draws])
    assert w.mean() == pytest.approx(1.0, abs=Z99 * w.std() / math.sqrt(n) * 1.5)
    for dset, p in exact.items():
        hit = np.array([frozenset(d.damage) == dset for d in draws], float)
        est, se = float((w * hit).mean()), float((w * hit).std() / math.sqrt(n))
        assert abs(est - p) <= 4.5 * max(se, 1e-4), (sorted(dset), est, p, se)
    # the tail is oversampled: a destroyed set of two or more sites is drawn more often than its probability
    multi = sum(p for d, p in exact.items() if len(d) >= 2)
    assert np.mean([len(d.damage) >= 2 for d in draws]) > 1.5 * multi


def test_estimators_cover_exact_values_with_the_impact_engine():
    """Mean, CVaR95 and P(site B's area dark) of case9 under the engine: each seed's 99 % CI holds
    the exact value for nearly every seed, and the seeds' average is within its own CI."""
    sc = load_scenario(SC9)
    grid = build_grid(sc)
    model = ImpactModel(grid)
    lines = [b for b in grid.branches.id.tolist() if not grid.branches.is_transformer[grid.branches.index[b]]]
    targets = lines + ["site:B"]
    p_hit = [3 / len(lines) / 4] * len(lines) + [1 / 4]
    dist = _wave_damage_dist({3: 1.0}, ("beta", (3.0, 3.0)), targets, p_hit, [0.8] * len(lines) + [0.5])
    loss = {d: model.assess(sorted(d)).lost_mw for d in dist}
    exact_mean, exact_cvar = _exact_stats(dist, loss)
    inside_mean = inside_cvar = 0
    means, cvars = [], []
    seeds = range(12)
    for seed in seeds:
        r = run_risk(sc, samples=500, seed=seed, workers=1, sampling="tail")
        assert r.weights is not None
        d = r.to_dict()["lost_mw"]
        means.append(d["mean"])
        cvars.append(d["cvar95"])
        inside_mean += abs(d["mean"] - exact_mean) <= Z99 / Z95 * d["ci95_half_width"]
        inside_cvar += abs(d["cvar95"] - exact_cvar) <= Z99 / Z95 * d["cvar95_ci95_half_width"]
    assert inside_mean >= 10 and inside_cvar >= 10, (inside_mean, inside_cvar, exact_mean, exact_cvar)
    k = len(seeds)
    assert abs(np.mean(means) - exact_mean) <= Z99 * np.std(means, ddof=1) / math.sqrt(k)
    assert abs(np.mean(cvars) - exact_cvar) <= Z99 * np.std(cvars, ddof=1) / math.sqrt(k) + 0.02 * exact_cvar


def test_until_ci_workers_and_resume_with_tail_sampling(tmp_path):
    sc = load_scenario(SC9)
    a = run_risk(sc, until_ci="4%", max_samples=20_000, batch_size=50, seed=3, workers=1, sampling="tail")
    d = a.to_dict()
    assert a.stopped_by == "until_ci" and d["sampling"] == "tail"
    assert d["lost_mw"]["ci95_half_width"] < 0.04 * d["lost_mw"]["mean"]
    b = run_risk(sc, samples=a.samples, batch_size=50, seed=3, workers=2, sampling="tail")
    np.testing.assert_array_equal(a.lost_mw, b.lost_mw)
    np.testing.assert_array_equal(a.weights, b.weights)
    store = tmp_path / "runs.duckdb"
    full = run_risk(sc, samples=300, batch_size=50, seed=4, workers=1, sampling="tail", store=store)
    from gridshield.threat.runner import load_run

    again = load_run(store, full.run_id)
    np.testing.assert_array_equal(again.weights, full.weights)
    assert again.to_dict()["lost_mw"]["cvar95"] == pytest.approx(full.to_dict()["lost_mw"]["cvar95"], rel=1e-12)
    from gridshield.cli import main

    html = tmp_path / "r.html"
    main(["report", full.run_id, "--store", str(store), "--out", str(html)])
    assert "probability (weighted samples)" in html.read_text(encoding="utf-8")


def test_cli_tail_sampling(tmp_path, capsys):
    from gridshield.cli import main

    out = tmp_path / "r.json"
    main(["risk", "examples/dec-19-drones.yaml", "-n", "128", "--sampling", "tail", "--workers", "1", "--no-store",
          "--out", str(out)])
    text = capsys.readouterr().out
    assert "tail sampling" in text and "CVaR 95%" in text
    d = json.loads(out.read_text())
    assert d["sampling"] == "tail" and d["options"]["sampling"] == "tail"
    with pytest.raises(SystemExit) as exc:
        main(["risk", "examples/dec-19-drones.yaml", "-n", "10", "--sampling", "bogus", "--no-store"])
    assert exc.value.code == 2


def test_plan_refuses_oversized_scenarios():
    from gridshield.errors import GridshieldError

    sc = load_scenario({**TINY, "waves": [{**TINY["waves"][0], "launched": {"poisson": 2000}}]})
    grid = build_grid(sc)
    with pytest.raises(GridshieldError, match="--sampling tail.*at most 400"):
        TailPlan(compile_threat(sc, grid), {t: 1.0 for t in ("site:A", "site:B", "site:C")})
