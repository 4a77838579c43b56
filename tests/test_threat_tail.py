"""Tail sampling (stratified importance sampling of the destroyed assets by impact tier) checked
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
from gridshield.threat import tail
from gridshield.threat.tail import TailPlan, _distinct_tables, tail_plan
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


@pytest.mark.parametrize("counted", ["distinct assets", "hits"])
def test_weighted_draws_reproduce_the_exact_damage_distribution(counted, monkeypatch):
    """Both ways of counting the major tier (distinct assets destroyed, or destroying hits when
    the occupancy tables would be too large) give the exact law of the destroyed set."""
    if counted == "hits":
        monkeypatch.setattr(tail, "MAX_DISTINCT_WORK", 0)
    sc = load_scenario(TINY)
    grid = build_grid(sc)
    threat = compile_threat(sc, grid)
    plan = tail_plan(threat, LocalLossModel(grid))
    assert plan.info()["major_counted"] == counted
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


def test_distinct_tables_and_conditional_sets_against_enumeration():
    """``P(b distinct | r hits)`` from the occupancy tables equals brute-force enumeration of all
    hit sequences, and the conditional draw of the destroyed major set given (hits, distinct)
    reproduces the enumerated conditional law."""
    import itertools
    from collections import defaultdict

    p = np.array([0.5, 0.3, 0.15, 0.05])
    w = _distinct_tables(p, 5)
    for r in range(6):
        exact = np.zeros(5)
        for seq in itertools.product(range(4), repeat=r):
            exact[len(set(seq))] += float(np.prod(p[list(seq)]))
        np.testing.assert_allclose(w[0, :, r], exact, atol=1e-14)
    # the conditional set sampler, on TINY's first wave (three major sites, unequal probabilities)
    sc = load_scenario(TINY)
    grid = build_grid(sc)
    plan = tail_plan(compile_threat(sc, grid), LocalLossModel(grid))
    wave = plan.waves[0]
    pm = wave.p_major
    for j2, b2 in ((3, 2), (2, 1), (3, 3)):
        cond: dict = defaultdict(float)
        for seq in itertools.product(range(pm.size), repeat=j2):
            if len(set(seq)) == b2:
                cond[frozenset(seq)] += float(np.prod(pm[list(seq)]))
        total = sum(cond.values())
        rng = np.random.default_rng(5)
        n = 6000
        got = [frozenset(plan._majors(rng, wave, j2, b2)) for _ in range(n)]
        assert all(len(g) == b2 for g in got)
        for sset, pr in cond.items():
            f = np.mean([g == sset for g in got])
            pr /= total
            assert abs(f - pr) <= 4.5 * math.sqrt(pr * (1 - pr) / n) + 1e-12, (sorted(sset), f, pr)


def test_strata_follow_a_weyl_sequence():
    """Any run of consecutive samples puts within 3 samples of ``n pi_s`` in every stratum, and the
    sequence's start is uniform over seeds (so each sample's stratum has law ``pi``)."""
    sc = load_scenario("examples/dec-19-drones.yaml")
    grid = build_grid(sc)
    plan = tail_plan(compile_threat(sc, grid), LocalLossModel(grid))
    for seed, (a, b) in ((0, (0, 1000)), (1, (0, 3000)), (7, (640, 2640))):
        st = np.array([plan.stratum(seed, i) for i in range(a, b)])
        assert np.abs(np.bincount(st, minlength=plan.p.size) - (b - a) * plan.pi).max() <= 3.0
    from scipy import stats

    starts = [plan.stratum(seed, 0) for seed in range(400)]
    assert stats.chisquare(*_observed_expected(starts, plan.pi)).pvalue > 1e-3


def _observed_expected(strata: list[int], pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``strata`` and their expectations, the strata of small expectation pooled."""
    obs = np.bincount(strata, minlength=pi.size).astype(float)
    exp = len(strata) * pi
    big = exp >= 5
    return np.append(obs[big], obs[~big].sum()), np.append(exp[big], exp[~big].sum())


def test_stratified_variance_and_running_sums():
    """The within-strata variance estimate: with one stratum the plain ``s^2 / n``; by hand on
    groups; and the run's running sums (batch by batch) give the same half-width as ``mean_ci``."""
    from gridshield.threat.runner import _PrefixSums, mean_ci, stratified_sum_of_squares

    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 10.0, 500)
    assert stratified_sum_of_squares(x, np.ones(500)) == pytest.approx(500 * x.var(ddof=1), rel=1e-12)
    w = rng.choice([0.5, 2.0, 7.0], 500)
    w[17] = 3.0  # a stratum with one sample: its deviation from the overall mean
    z = w * x
    by_hand = sum(((z[w == v] - z[w == v].mean()) ** 2).sum() * (w == v).sum() / ((w == v).sum() - 1)
                  for v in (0.5, 2.0, 7.0)) + (z[17] - z.mean()) ** 2
    assert stratified_sum_of_squares(z, w) == pytest.approx(by_hand, rel=1e-12)
    sums = _PrefixSums()
    for a in range(0, 500, 64):
        sums.add(x[a:a + 64], w[a:a + 64])
    m, h = sums.mean_half_width()
    m2, h2 = mean_ci(z, w)
    assert (m, h) == pytest.approx((m2, h2), rel=1e-12)
    assert h2 == pytest.approx(Z95 * math.sqrt(by_hand) / 500, rel=1e-12)


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


def test_interrupted_tail_run_resumes_bit_identical(tmp_path):
    """A tail run with --until-ci stopped after a few batches and resumed (on 2 workers) stops at
    the same sample and gives the same samples, weights and statistics as an uninterrupted run."""
    from gridshield.errors import GridshieldError
    from gridshield.store import ResultsStore

    sc = load_scenario(SC9)
    kw = dict(until_ci="3%", max_samples=20_000, batch_size=50, seed=8, sampling="tail")
    full = run_risk(sc, workers=1, **kw)
    calls = []

    def stop_after_four_batches(_progress):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt

    store = tmp_path / "runs.duckdb"
    with pytest.raises(GridshieldError, match="interrupted after 200 samples"):
        run_risk(sc, workers=1, store=store, progress=stop_after_four_batches, **kw)
    st = ResultsStore(store)
    run_id = st.runs()[0].run_id
    st.close()
    again = run_risk(resume=run_id, store=store, workers=2)
    assert again.samples == full.samples > 200
    np.testing.assert_array_equal(again.lost_mw, full.lost_mw)
    np.testing.assert_array_equal(again.weights, full.weights)
    assert again.to_dict()["lost_mw"] == full.to_dict()["lost_mw"]
