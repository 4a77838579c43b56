"""Worst-case k-asset loss (DC interdiction): MILP vs exhaustive enumeration, heuristic gap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.security.nk import worst_case
from gridshield.security.shed import ShedModel, default_candidates

from tests.conftest import shared_case


@pytest.fixture(scope="module")
def case14():
    return gs.load_case("case14")


@pytest.fixture(scope="module")
def case30():
    return gs.load_case("case30")


@pytest.fixture(scope="module")
def pg118():
    return gs.load_case(str(shared_case("pglib/pglib_opf_case118_ieee.m")))


def test_shed_lp_generation_only_matches_hand_solution(case14):
    # case14 has no branch limits: after losing generators the shed is max(0, demand - capacity left)
    m = ShedModel(case14)
    d = case14.loads.p_mw.sum()
    pmax = case14.gens.p_max_mw
    for rows in itertools.combinations(range(len(pmax)), 3):
        _, shed = m.evaluate([a for a in default_candidates(case14) if a.gens and a.gens[0] in rows])
        assert shed == pytest.approx(max(0.0, d - (pmax.sum() - pmax[list(rows)].sum())), abs=1e-6)


def test_shed_lp_islanded_load_is_lost(case14):
    # bus 8 (row 7) hangs on branch 14 (7-8) only: losing it loses bus 8's load (0 MW in case14) ->
    # use bus 14 (row 13): branches 9-14 (row 16, id branch:17) and 13-14 (id branch:20) feed it
    m = ShedModel(case14)
    ids = [a for a in default_candidates(case14) if a.id in ("branch:17", "branch:20")]
    _, shed = m.evaluate(ids)
    assert shed == pytest.approx(case14.loads.p_mw[case14.loads.bus == 13].sum(), abs=1e-6)


@pytest.mark.parametrize("k", [2, 3])
def test_milp_equals_enumeration_case14(case14, k):
    m = ShedModel(case14)
    a = worst_case(case14, k=k, method="milp", model=m)
    b = worst_case(case14, k=k, method="enumerate", model=m)
    assert a.optimal and b.optimal
    assert a.weighted_shed == pytest.approx(b.weighted_shed, abs=1e-5)
    assert a.shed_mw == pytest.approx(m.evaluate([x for x in default_candidates(case14) if x.id in a.assets])[1])
    assert len(a.assets) == k


def test_milp_equals_enumeration_case30(case30):
    m = ShedModel(case30)
    # k = 2 over all 47 assets; k = 3 on the 20 strongest (loss alone, then base flow / Pmax)
    a = worst_case(case30, k=2, method="milp", model=m, time_limit_s=60)
    b = worst_case(case30, k=2, method="enumerate", model=m)
    assert a.weighted_shed == pytest.approx(b.weighted_shed, abs=1e-5) and b.weighted_shed > 0
    cands = _strongest(m, case30, 20)
    a = worst_case(case30, k=3, method="milp", model=m, candidates=cands)
    b = worst_case(case30, k=3, method="enumerate", model=m, candidates=cands)
    assert a.weighted_shed == pytest.approx(b.weighted_shed, abs=1e-5)


def _strongest(m, grid, n):
    assets = default_candidates(grid)
    single = np.array([m.evaluate([a])[0] for a in assets])
    score = single * 1e6 + m.asset_size(assets)
    return [assets[i].id for i in np.argsort(-score, kind="stable")[:n]]


@pytest.mark.parametrize("k", [2, 3])
def test_milp_equals_enumeration_case118(pg118, k):
    # PGLib case118 (rate A set; MATPOWER's case118 has none). Candidates restricted to the 22
    # assets with the largest loss alone / base flow, to keep the test quick (C(22,3) = 1540 LPs).
    m = ShedModel(pg118)
    cands = _strongest(m, pg118, 22)
    a = worst_case(pg118, k=k, method="milp", model=m, candidates=cands)
    b = worst_case(pg118, k=k, method="enumerate", model=m, candidates=cands)
    h = worst_case(pg118, k=k, method="heuristic", model=m, candidates=cands)
    assert a.optimal
    assert a.weighted_shed == pytest.approx(b.weighted_shed, rel=1e-6)
    assert h.weighted_shed <= b.weighted_shed + 1e-6
    assert h.weighted_shed >= 0.9 * b.weighted_shed  # measured gap 0 here; 10 % slack


def test_weights_change_the_objective(case14):
    w = np.ones(len(case14.loads))
    w[case14.loads.bus == 13] = 10.0
    m = ShedModel(case14, weights=w)
    a = worst_case(case14, k=2, method="milp", model=m)
    b = worst_case(case14, k=2, method="enumerate", model=m)
    assert a.weighted_shed == pytest.approx(b.weighted_shed, abs=1e-5)


def test_protected_assets_are_never_chosen(case14):
    m = ShedModel(case14)
    a = worst_case(case14, k=2, method="milp", model=m)
    p = worst_case(case14, k=2, method="milp", protected=[a.assets[0]], model=m)
    e = worst_case(case14, k=2, method="enumerate", protected=[a.assets[0]], model=m)
    assert a.assets[0] not in p.assets
    assert p.weighted_shed == pytest.approx(e.weighted_shed, abs=1e-5)
    assert p.weighted_shed <= a.weighted_shed + 1e-6


def test_sites_as_candidates(case14):
    a = worst_case(case14, k=1, method="milp", elements=("sites",))
    b = worst_case(case14, k=1, method="enumerate", elements=("sites",))
    assert a.weighted_shed == pytest.approx(b.weighted_shed, abs=1e-5)
    assert a.assets[0].startswith("bus:")


def test_result_serialises(case14):
    r = worst_case(case14, k=2)
    d = r.to_dict()
    assert d["k"] == 2 and len(d["assets"]) == 2 and isinstance(d["shed_mw"], float)
    assert list(r.to_frame().index) == list(r.assets)


def test_bad_inputs(case14):
    with pytest.raises(UnknownAssetError):
        worst_case(case14, k=2, candidates=["branch:999"])
    with pytest.raises(GridshieldError):
        worst_case(case14, k=0)
    with pytest.raises(GridshieldError):
        worst_case(case14, k=2, method="magic")


def test_all_pairs_with_pruning_equals_brute_force(case30):
    from gridshield.security.nk import all_pairs, enumerate_sets

    m = ShedModel(case30)
    r = all_pairs(case30, model=m)
    assets = default_candidates(case30)
    combos, wv, _ = enumerate_sets(m, assets, 2)
    ref = {frozenset((assets[i].id, assets[j].id)): w for (i, j), w in zip(combos.tolist(), wv, strict=True)}
    assert len(r.pairs) == len(ref) == 1081
    for p, w in zip(r.pairs, r.weighted_shed, strict=True):
        assert w == pytest.approx(ref[frozenset(p)], abs=1e-7)
    assert r.pruned.sum() > 500 and r.n_lp == len(r.pairs) - r.pruned.sum()  # pruning saved most LPs
    assert np.all(r.weighted_shed[r.pruned] == 0)
    assert r.to_frame().shape[0] == 1081 and r.to_dict()["n_pairs"] == 1081
