"""Cascading trips: a crafted case whose trip sequence is known by hand, and the invariant that no
remaining branch is above the relay threshold when the cascade stops."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.impact import Damage, ImpactModel, assess_damage
from gridshield.impact.cascade import run_cascade
from gridshield.impact.state import live_after
from tests.test_impact import make_grid, rated


@pytest.fixture()
def four_paths():
    # bus 1: generator; bus 4: 150 MW load. Four routes from 1 to 4, every x = 0.1:
    #   branch 1: 1-4 (rate 60)          branch 2: 1-4 (rate 100, the one the strike hits)
    #   branch 3: 1-2 (100) + branch 4: 2-4 (40)      branch 5: 1-3 (100) + branch 6: 3-4 (110)
    return make_grid(
        [(1, 3, "G"), (2, 1, "B"), (3, 1, "C"), (4, 1, "L")],
        [(1, 4, 0.1, 60.0), (1, 4, 0.1, 100.0), (1, 2, 0.1, 100.0), (2, 4, 0.1, 40.0), (1, 3, 0.1, 100.0), (3, 4, 0.1, 110.0)],
        [(1, 150.0, 0.0, 300.0)],
        [(4, 150.0, "residential", 100, "Q1")],
    )


def test_hand_solved_trip_sequence(four_paths):
    # intact: admittances 10 + 10 + 5 + 5 -> 50 / 50 / 25 / 25 MW, nothing above 1.2 x rate.
    # branch 2 lost: 10 + 5 + 5 -> branch 1 carries 75 MW = 1.25 x 60: trips (step 1);
    # then the two 2-branch paths carry 75 each: branch 4 at 75/40 = 1.875 trips (step 2);
    # then path 1-3-4 carries 150: branch 5 at 1.5 beats branch 6 at 1.36 (step 3): bus 3 and 4 go dark.
    r = assess_damage(four_paths, ["branch:2"], cascade=True)
    seq = [(t.step, t.branch) for t in r.trips]
    assert seq == [(1, "branch:1"), (2, "branch:4"), (3, "branch:5")]
    assert [t.loading for t in r.trips] == pytest.approx([75 / 60, 75 / 40, 150 / 100])
    assert [t.flow_mw for t in r.trips] == pytest.approx([75.0, 75.0, 150.0])
    assert r.lost_by_stage_mw == pytest.approx((0.0, 0.0, 0.0, 150.0))
    assert [t.lost_mw for t in r.trips] == pytest.approx([0.0, 0.0, 150.0])
    assert r.lost_mw == pytest.approx(150.0)  # operators cannot reconnect the dark island
    assert set(r.dark_buses) == {"bus:3", "bus:4"}
    # without the cascade the operators shed instead: one source, so branch 1 always carries half
    # the load (10 of 20 admittance) and its 60 MW rating caps the load at 120 MW -> 30 MW shed
    assert assess_damage(four_paths, ["branch:2"]).lost_mw == pytest.approx(30.0, abs=1e-6)
    # a looser relay (2.0 x rate A) never trips here
    r2 = assess_damage(four_paths, ["branch:2"], cascade=True, relay_threshold=2.0)
    assert r2.trips == () and r2.lost_mw == pytest.approx(30.0, abs=1e-6)
    # relays set on rate B (0 = never trips): no cascade either
    r3 = assess_damage(four_paths, ["branch:2"], cascade=True, relay_rate="b")
    assert r3.trips == ()


def test_cascade_deficit_sheds_proportionally():
    # two generators in two halves joined by one tie; damage the tie: the right half has 30 MW of
    # generation (headroom to 50) for 80 MW of load: UFLS sheds 30 MW proportionally
    g = make_grid(
        [(1, 3, ""), (2, 1, ""), (3, 2, ""), (4, 1, "")],
        [(1, 2, 0.1, 0.0), (2, 3, 0.1, 0.0), (3, 4, 0.1, 0.0)],
        [(1, 70.0, 0.0, 200.0), (3, 30.0, 0.0, 50.0)],
        [(2, 20.0, "residential", 1, ""), (4, 80.0, "residential", 1, "")],
    )
    m = ImpactModel(g, cascade=True)
    cas = run_cascade(m, live_after(g, Damage.from_ids(g, ["branch:2"])))
    assert cas.trips == ()
    assert cas.lost_by_stage_mw == pytest.approx((30.0,))
    assert cas.gen_mw == pytest.approx([20.0, 50.0])
    assert cas.load_mw == pytest.approx([20.0, 50.0])


@pytest.mark.parametrize("seed", [3, 4])
def test_no_branch_above_threshold_after_cascade(case118, seed):
    g = rated(case118, 1.05)
    thr = 1.2
    m = ImpactModel(g, cascade=True, relay_threshold=thr)
    rng = np.random.default_rng(seed)
    ids = g.branches.id.tolist() + g.gens.id.tolist()
    n_trips = 0
    for _ in range(6):
        dmg = Damage.from_ids(g, list(rng.choice(ids, 3, replace=False)))
        cas = run_cascade(m, live_after(g, dmg))
        rate = g.branches.rate_a_mva
        on = cas.branch_on & (rate > 0)
        assert np.all(np.abs(cas.flow_mw[on]) <= thr * rate[on] * (1 + 1e-9))
        assert not (cas.branch_on & cas.tripped).any()
        # load lost never decreases along the cascade
        assert np.all(np.diff(cas.lost_by_stage_mw) >= -1e-6)
        n_trips += len(cas.trips)
        r = m.assess(dmg)
        assert [t.branch for t in r.trips] == [t.branch for t in cas.trips]
    assert n_trips > 0


def test_cascade_on_synthetic_city_runs():
    g = gs.load_case("synthetic-city")
    sites = list(g.sites)
    r = assess_damage(g, [f"site:{sites[1]}", f"site:{sites[2]}"], cascade=True)
    assert r.lost_mw >= 0.0 and len(r.lost_by_stage_mw) == len(r.trips) + 1
