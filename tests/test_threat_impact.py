"""Monte Carlo risk with the real impact engine (network effects): exact enumeration on case9,
and the same seed giving the same results with 1 worker, 2 workers and a resumed run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridshield.impact import ImpactModel
from gridshield.threat.runner import Z95, mean_ci, run_risk
from gridshield.threat.sampling import build_grid
from gridshield.threat.scenario import load_scenario
from tests.test_threat_sampling import _wave_damage_dist

# case9: a ring of six lines around three generator and three load buses; losing two lines
# (or a site) islands loads, so the loss is not additive over the destroyed assets.
SC9 = {
    "name": "case9-ring",
    "grid": {"case": "case9", "sites": {"A": [5], "B": [7], "C": [9]}},
    "waves": [
        {
            "weapon": "cruise_missile",
            "launched": 3,
            "interception": {"beta": {"alpha": 3, "beta": 3}},
            "targets": [{"class": "line", "weight": 3}, {"id": "site:B", "weight": 1}],
            "destroy": {"line": 0.8, "substation": 0.5},
        }
    ],
}


def test_exact_enumeration_with_impact_engine():
    sc = load_scenario(SC9)
    grid = build_grid(sc)
    model = ImpactModel(grid)
    lines = [b for b in grid.branches.id.tolist() if not grid.branches.is_transformer[grid.branches.index[b]]]
    targets = lines + ["site:B"]
    p_hit = [3 / len(lines) / 4] * len(lines) + [1 / 4]
    p_destroy = [0.8] * len(lines) + [0.5]
    dist = _wave_damage_dist({3: 1.0}, ("beta", (3.0, 3.0)), targets, p_hit, p_destroy)
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
    loss = {d: model.assess(sorted(d)).lost_mw for d in dist}
    exact = sum(p * loss[d] for d, p in dist.items())
    exact_sd = math.sqrt(sum(p * loss[d] ** 2 for d, p in dist.items()) - exact**2)
    assert exact > 1.0  # the scenario does shed load
    # non-additive: some pair of lines costs more than the two lines alone
    r = run_risk(sc, samples=3000, seed=21, workers=1)
    m, h = mean_ci(r.lost_mw)
    assert abs(m - exact) < h / Z95 * 2.5758293035489, (m, exact, h)
    assert h == pytest.approx(Z95 * exact_sd / math.sqrt(3000), rel=0.1)


@pytest.fixture(scope="module")
def city():
    return load_scenario("examples/dec-19-drones.yaml")


def test_city_example_workers_and_resume(city, tmp_path):
    a = run_risk(city, samples=120, seed=3, workers=1, batch_size=20)
    b = run_risk(city, samples=120, seed=3, workers=2, batch_size=20, store=tmp_path / "c.duckdb")
    assert a.batch.damage == b.batch.damage  # the draws are identical
    # the impact engine warm-starts its LP, so re-solves may differ at solver tolerance (~1e-6 MW)
    np.testing.assert_allclose(a.lost_mw, b.lost_mw, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(a.batch.group_dark, b.batch.group_dark)
    d = a.to_dict()
    assert d["lost_mw"]["mean"] > 0 and d["samples"] == 120
    assert len(d["group_dark_probability"]) == 20 and "Ashgrove-10" in d["group_dark_probability"]  # districts
    # a run's per-sample loss equals a direct assessment of its damage
    m = ImpactModel(build_grid(city))
    for i in (0, 7, 55):
        assert a.lost_mw[i] == pytest.approx(m.assess(list(a.batch.damage[i])).lost_mw, abs=1e-5)
