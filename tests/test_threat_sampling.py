"""Monte Carlo sampling checked against exact enumeration, Beta posteriors, CI and CVaR formulas.

The reference is an independent enumeration of every outcome of a tiny scenario (case9 with three
one-bus sites): the number of hits follows a Beta-binomial (interception rate ~ Beta posterior),
each hit picks a target and destroys it or not; damage sets of two waves combine by union. The
exact expected loss must lie inside the Monte Carlo 99 % CI, and the CI must shrink as 1/sqrt(N).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from scipy import stats

from gridshield.threat.runner import Z95, cvar, mean_ci, run_risk
from gridshield.threat.sampling import LocalLossModel, Sampler, build_grid, compile_threat
from gridshield.threat.scenario import BetaPrior, beta_posterior, load_scenario

LOCAL = "gridshield.threat.sampling:local_loss_evaluator"

TINY = {
    "name": "tiny",
    "grid": {"case": "case9", "sites": {"A": [5], "B": [7], "C": [9]}, "groups": {"west": [5], "east": [7, 9]}},
    "waves": [
        {
            "weapon": "drone",
            "launched": 3,
            "interception": {"observed": {"shot_down": 2, "launched": 3}},  # Beta(3, 2)
            "targets": [{"id": "site:A", "weight": 1}, {"id": "site:B", "weight": 2}, {"id": "site:C", "weight": 3}],
            "destroy": {"substation": 0.6},
            "protected": [{"id": "site:C", "destroy_probability": 0.2}],
        },
        {
            "weapon": "ballistic_missile",
            "launched": {"uniform_int": [0, 1]},
            "interception": 0.05,
            "targets": [{"class": "substation"}],
            "destroy": {"substation": 0.9},
        },
    ],
}


def _wave_damage_dist(n_dist, rate, targets, p_hit, p_destroy):
    """Exact distribution of the destroyed set of one wave: {frozenset: probability}."""
    out = defaultdict(float)
    for n, pn in n_dist.items():
        if rate[0] == "beta":
            a, b = rate[1]
            k_pmf = {k: stats.betabinom.pmf(k, n, a, b) for k in range(n + 1)}  # intercepted ~ BetaBin
        else:
            k_pmf = {k: stats.binom.pmf(k, n, rate[1]) for k in range(n + 1)}
        for k, pk in k_pmf.items():
            h = n - k
            outcomes = [(t, dz) for t in range(len(targets)) for dz in (True, False)]
            for combo in itertools.product(outcomes, repeat=h):
                p = pn * pk
                dset = set()
                for t, dz in combo:
                    p *= p_hit[t] * (p_destroy[t] if dz else 1 - p_destroy[t])
                    if dz:
                        dset.add(targets[t])
                out[frozenset(dset)] += p
    return out


def _exact_distribution():
    w1 = _wave_damage_dist({3: 1.0}, ("beta", (3.0, 2.0)), ["site:A", "site:B", "site:C"],
                           [1 / 6, 2 / 6, 3 / 6], [0.6, 0.6, 0.2])
    w2 = _wave_damage_dist({0: 0.5, 1: 0.5}, ("fixed", 0.05), ["site:A", "site:B", "site:C"],
                           [1 / 3] * 3, [0.9] * 3)
    both = defaultdict(float)
    for d1, p1 in w1.items():
        for d2, p2 in w2.items():
            both[d1 | d2] += p1 * p2
    return both


@pytest.fixture(scope="module")
def tiny():
    return load_scenario(TINY)


def test_beta_posterior_closed_form():
    post = beta_posterior(30, 35)
    assert (post.alpha, post.beta) == (31.0, 6.0)  # uniform prior Beta(1, 1)
    assert post.mean == pytest.approx(31 / 37, abs=1e-15)
    assert post.variance == pytest.approx(31 * 6 / (37**2 * 38), abs=1e-15)
    # matches scipy's Beta moments
    m, v = stats.beta.stats(31, 6, moments="mv")
    assert post.mean == pytest.approx(float(m), rel=1e-12)
    assert post.variance == pytest.approx(float(v), rel=1e-12)
    # an informative prior: Beta(2, 8) prior + 30/35 -> Beta(32, 13)
    p2 = beta_posterior(30, 35, BetaPrior(alpha=2, beta=8))
    assert (p2.alpha, p2.beta) == (32.0, 13.0)


def test_observed_counts_become_beta_in_the_sampler(tiny):
    sc = load_scenario({**TINY, "waves": [{**TINY["waves"][0], "interception": {"observed": {"shot_down": 30, "launched": 35}}}]})
    thr = compile_threat(sc, build_grid(sc))
    assert thr.waves[0].rate == ("beta", (31.0, 6.0))
    # per-sample rates are draws from Beta(31, 6): moments within 4 standard errors
    rates = np.array([thr.draw(7, i).rate[0] for i in range(4000)])
    assert abs(rates.mean() - 31 / 37) < 4 * math.sqrt(31 * 6 / (37**2 * 38) / 4000)
    assert rates.var() == pytest.approx(31 * 6 / (37**2 * 38), rel=0.1)


def test_draws_depend_only_on_seed_and_index(tiny):
    thr = compile_threat(tiny, build_grid(tiny))
    a = [thr.draw(11, i) for i in range(50)]
    b = [thr.draw(11, i) for i in reversed(range(50))][::-1]
    assert a == b
    assert [thr.draw(12, i) for i in range(50)] != a


def test_exact_enumeration_inside_mc_99ci(tiny):
    dist = _exact_distribution()
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
    grid = build_grid(tiny)
    model = LocalLossModel(grid)
    exact_mean = sum(p * model.assess(sorted(d)).lost_mw for d, p in dist.items())
    exact_sq = sum(p * model.assess(sorted(d)).lost_mw ** 2 for d, p in dist.items())
    exact_sd = math.sqrt(exact_sq - exact_mean**2)
    # P(west dark) = P(site A destroyed); P(east dark) = P(B and C destroyed)
    p_west = sum(p for d, p in dist.items() if "site:A" in d)
    p_east = sum(p for d, p in dist.items() if {"site:B", "site:C"} <= d)

    res = {}
    for n in (1000, 4000):
        r = run_risk(tiny, samples=n, seed=5, workers=1, evaluator=LOCAL)
        res[n] = r
        m, h = mean_ci(r.lost_mw)
        h99 = h / Z95 * 2.5758293035489
        assert abs(m - exact_mean) < h99, (n, m, exact_mean, h99)
    r = res[4000]
    # CI shrinks as 1/sqrt(N): half-width ratio 1000 -> 4000 about 2 (and close to the exact sd's)
    h1 = mean_ci(res[1000].lost_mw)[1]
    h4 = mean_ci(r.lost_mw)[1]
    assert h1 / h4 == pytest.approx(2.0, rel=0.15)
    assert h4 == pytest.approx(Z95 * exact_sd / math.sqrt(4000), rel=0.1)
    d = r.to_dict()
    assert d["group_dark_probability"]["west"] == pytest.approx(p_west, abs=2.58 * math.sqrt(p_west * (1 - p_west) / 4000))
    assert d["group_dark_probability"]["east"] == pytest.approx(p_east, abs=2.58 * math.sqrt(p_east * (1 - p_east) / 4000))
    # quantiles of a discrete distribution: P50 of MC equals the exact median value
    losses = sorted((model.assess(sorted(k)).lost_mw, p) for k, p in dist.items())
    cum, med = 0.0, None
    for v, p in losses:
        cum += p
        if cum >= 0.5:
            med = v
            break
    assert d["lost_mw"]["p50"] == pytest.approx(med)


def test_cvar_matches_tail_mean():
    x = np.random.default_rng(0).exponential(10.0, 10_000)
    tail = np.sort(x)[-500:].mean()  # worst 5 % of 10,000
    assert cvar(x, 0.95) == pytest.approx(tail, rel=1e-12)
    # Rockafellar-Uryasev: CVaR = min_t t + E[(X - t)+] / (1 - a); the minimum over a grid is not below it
    ts = np.linspace(20, 40, 201)
    ru = min(t + np.maximum(x - t, 0).mean() / 0.05 for t in ts)
    assert cvar(x, 0.95) <= ru + 1e-9
    assert cvar(x, 0.95) == pytest.approx(ru, rel=1e-3)
    # exponential: CVaR95 = (ln 20 + 1) * 10 in the limit
    assert cvar(x, 0.95) == pytest.approx(10 * (math.log(20) + 1), rel=0.05)


def test_protection_reduces_destroy_probability(tiny):
    thr = compile_threat(tiny, build_grid(tiny))
    w = thr.waves[0]
    assert dict(zip(w.targets, w.destroy_p.tolist())) == {"site:A": 0.6, "site:B": 0.6, "site:C": 0.2}
    assert w.target_p.tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6])
    # default protection: destroy probability times (1 - 0.85), DOMAIN.md 2 (Shmyhal, 80-90 %)
    sc = load_scenario({**TINY, "waves": [{**TINY["waves"][0], "protected": [{"id": "site:C"}]}]})
    w = compile_threat(sc, build_grid(sc)).waves[0]
    assert w.destroy_p[2] == pytest.approx(0.6 * 0.15)


def test_sampler_caches_identical_damage(tiny):
    s = Sampler(tiny, evaluator=LOCAL)
    d, m = s.sample(1, 3)
    assert s.evaluate(d.damage) is s.evaluate(d.damage)
    assert m.lost_mw == LocalLossModel(s.grid).assess(list(d.damage)).lost_mw


def test_report_by_site_and_bus(tiny):
    dist = _exact_distribution()
    p_a = sum(p for d, p in dist.items() if "site:A" in d)
    for by, name in (("site", "A"), ("bus", "5")):
        sc = load_scenario({**TINY, "grid": {**TINY["grid"], "report_by": by}})
        r = run_risk(sc, samples=2000, seed=8, workers=1, evaluator=LOCAL)
        assert set(r.groups) == ({"A", "B", "C"} if by == "site" else {"5", "7", "9"})
        d = r.to_dict()
        assert sum(d["group_expected_lost_mw"].values()) == pytest.approx(d["lost_mw"]["mean"])
        assert d["group_dark_probability"][name] == pytest.approx(p_a, abs=2.58 * math.sqrt(p_a * (1 - p_a) / 2000))


def test_launched_distributions():
    base = TINY["waves"][0]
    for launched, mean, var in (({"poisson": 12.5}, 12.5, 12.5), ({"uniform_int": [3, 9]}, 6.0, (7**2 - 1) / 12),
                                (7, 7.0, 0.0)):
        sc = load_scenario({**TINY, "waves": [{**base, "launched": launched}]})
        thr = compile_threat(sc, build_grid(sc))
        n = np.array([thr.draw(3, i).launched[0] for i in range(4000)])
        assert abs(n.mean() - mean) < 4 * math.sqrt(var / 4000) + 1e-12
        assert n.var() == pytest.approx(var, rel=0.1, abs=1e-12)
        if "uniform_int" in str(launched):
            assert n.min() == 3 and n.max() == 9


def _draw_with_choice(threat, seed: int, index: int):
    """The draw as written before issue 15 (``Generator.choice`` with ``p``): the reference."""
    from gridshield.threat.sampling import Draw

    rng = np.random.default_rng([int(seed), int(index)])
    launched, rates, inter, hits = [], [], [], []
    destroyed: set[str] = set()
    for w in threat.waves:
        kind, par = w.launched
        if kind == "fixed":
            n = int(par[0])
        elif kind == "poisson":
            n = int(rng.poisson(par[0]))
        else:
            n = int(rng.integers(int(par[0]), int(par[1]), endpoint=True))
        rk, rp = w.rate
        r = float(rng.beta(rp[0], rp[1])) if rk == "beta" else float(rp[0])
        k = int(rng.binomial(n, r)) if n > 0 else 0
        h = n - k
        if h > 0 and len(w.targets):
            tgt = rng.choice(len(w.targets), size=h, p=w.target_p)
            u = rng.random(h)
            for t in tgt[u < w.destroy_p[tgt]].tolist():
                destroyed.add(w.targets[t])
        launched.append(n)
        rates.append(r)
        inter.append(k)
        hits.append(h)
    return Draw(int(index), tuple(launched), tuple(rates), tuple(inter), tuple(hits), tuple(sorted(destroyed)))


@pytest.mark.parametrize("example", ["dec-19-drones.yaml", "case118-missiles.yaml"])
def test_draws_equal_generator_choice(example):
    """Targets drawn by searching the wave's cached CDF are exactly Generator.choice's."""
    from pathlib import Path

    sc = load_scenario(Path(__file__).resolve().parents[1] / "examples" / example)
    threat = compile_threat(sc, build_grid(sc))
    for seed in (1, 7):
        for i in range(1500):
            assert threat.draw(seed, i) == _draw_with_choice(threat, seed, i)


def test_repeatable_results_kept_across_batches_change_nothing():
    """Fast-path results (no LP warm start involved) are kept across batches; the batches are
    bit for bit those of a sampler that re-assesses them in every batch (full assess, no
    ``repeatable`` flag), and fewer assessments are made."""
    from pathlib import Path

    from gridshield.threat.batch import run_batch

    sc = load_scenario(Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml")
    kept, ref = Sampler(sc), Sampler(sc)
    ref._assess = lambda ids: ref.model.assess(ids)  # type: ignore[method-assign]
    for start in range(0, 640, 64):
        a, b = run_batch(kept, 1, start, start + 64), run_batch(ref, 1, start, start + 64)
        for f in ("lost_mw", "served_mw", "customers_affected", "priority_lost_mw", "group_lost_mw", "group_dark"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert kept._kept and kept.model.n_fast < ref.model.n_fast
    assert kept.model.n_solved_lp == ref.model.n_solved_lp
