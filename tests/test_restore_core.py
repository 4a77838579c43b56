"""Restoration planner core on abstract instances: MILP vs brute force, heuristic vs naive.

The served load here is a synthetic monotone set function (loads that need all of one set of
repairs, or any of several), so these tests run without the impact engine; the grid-level
tests are in test_restore.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gridshield.restore.plan import (
    Instance,
    list_schedule,
    moebius,
    solve_heuristic,
    solve_milp,
    solve_naive,
    subset_values,
    weighted_ens,
)


def random_value(rng: np.random.Generator, n: int, n_loads: int = 6):
    """A monotone set function: each load needs every task of a 'series' set and one of a 'parallel' set."""
    loads = []
    for _ in range(n_loads):
        w = float(rng.uniform(1, 50))
        series = [j for j in range(n) if rng.random() < 0.3]
        par = [j for j in range(n) if rng.random() < 0.25]
        loads.append((w, series, par))
    base = float(rng.uniform(0, 20))

    def value(mask: int) -> float:
        tot = base
        for w, series, par in loads:
            if all(mask >> j & 1 for j in series) and (not par or any(mask >> j & 1 for j in par)):
                tot += w
        return tot

    return value


def make_instance(rng, n, crews, travel=False, spares=False):
    dur = rng.integers(1, 10, n).astype(float)
    ns = dur.copy()
    cls: list[str | None] = [None] * n
    stock = {}
    if spares:
        for j in range(n):
            if rng.random() < 0.5:
                cls[j] = "transformer"
                ns[j] = dur[j] + float(rng.integers(2, 12))
        stock = {"transformer": int(rng.integers(0, 2))}
    tr = None
    if travel:
        xy = rng.uniform(0, 4, (n, 2))
        tr = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    return Instance(dur, ns, tuple(cls), stock, crews, tr, random_value(rng, n))


def brute_force(inst: Instance) -> float:
    """Minimum weighted ENS over every order x crew assignment x spare allocation (no idle time)."""
    n, c = inst.n, inst.crews
    full = inst.value((1 << n) - 1)
    limited = [j for j in range(n) if inst.spare_class[j] is not None]
    k = min(len(limited), inst.stock.get("transformer", 0))
    spare_sets = list(itertools.combinations(limited, k)) if limited else [()]
    best = math.inf
    for perm in itertools.permutations(range(n)):
        for assign in itertools.product(range(c), repeat=n):
            for sp_set in spare_sets:
                end = {}
                for crew in range(c):
                    t, last = 0.0, None
                    for j in perm:
                        if assign[j] != crew:
                            continue
                        if last is not None and inst.travel_h is not None:
                            t += inst.travel_h[last, j]
                        d = inst.duration_h[j] if (inst.spare_class[j] is None or j in sp_set) else inst.no_spare_h[j]
                        t += d
                        end[j] = t
                        last = j
                times = sorted(set(end.values()))
                ens, prev = 0.0, 0.0
                for tk in times:
                    done = sum(1 << j for j in range(n) if end[j] < tk - 1e-12)
                    ens += (full - inst.value(done)) * (tk - prev)
                    prev = tk
                best = min(best, ens)
    return best


def test_moebius_reconstructs_f():
    rng = np.random.default_rng(0)
    n = 5
    inst = make_instance(rng, n, 1)
    f = subset_values(inst)
    g = moebius(f, n)
    for m in range(1 << n):
        assert sum(g[t] for t in range(1 << n) if t & m == t) == pytest.approx(f[m], abs=1e-9)


@pytest.mark.parametrize(
    "seed,n,crews,travel,spares",
    [
        (1, 3, 1, False, False),
        (2, 4, 1, False, False),
        (3, 4, 2, False, False),
        (4, 5, 2, False, False),
        (5, 4, 2, True, False),
        (6, 4, 1, False, True),
        (7, 4, 2, True, True),
        (8, 5, 1, True, False),
    ],
)
def test_milp_equals_brute_force(seed, n, crews, travel, spares):
    rng = np.random.default_rng(seed)
    inst = make_instance(rng, n, crews, travel=travel, spares=spares)
    ref = brute_force(inst)
    res = solve_milp(inst)
    assert res.optimal
    assert res.objective == pytest.approx(ref, rel=1e-7, abs=1e-6)
    # the MILP's own objective value agrees with the re-evaluated schedule
    assert res.info["milp_objective"] == pytest.approx(ref, rel=1e-6, abs=1e-5)
    # and the heuristic is never below the optimum, never above the naive order
    h = solve_heuristic(inst)
    assert h.objective >= ref - 1e-6
    assert h.objective <= solve_naive(inst).objective + 1e-9


def test_heuristic_never_worse_than_naive_random():
    rng = np.random.default_rng(42)
    for _ in range(30):
        n = int(rng.integers(3, 12))
        inst = make_instance(rng, n, int(rng.integers(1, 4)), travel=bool(rng.random() < 0.5), spares=bool(rng.random() < 0.5))
        assert solve_heuristic(inst, time_limit_s=5).objective <= solve_naive(inst).objective + 1e-9


def test_list_schedule_respects_crews_and_travel():
    rng = np.random.default_rng(3)
    inst = make_instance(rng, 7, 2, travel=True)
    s = list_schedule(inst, list(range(7)))
    for c in range(2):
        jobs = sorted(np.flatnonzero(s.crew == c), key=lambda j: s.start_h[j])
        for a, b in zip(jobs, jobs[1:]):
            assert s.start_h[b] >= s.end_h[a] + inst.travel_h[a, b] - 1e-9
    assert np.allclose(s.end_h - s.start_h, inst.duration_h)


def test_weighted_ens_hand_example():
    # two tasks, one crew: task 0 (2 h) restores 10 MW, task 1 (1 h) restores 30 MW
    val = lambda m: 10.0 * (m & 1) + 30.0 * (m >> 1 & 1)  # noqa: E731
    inst = Instance(np.array([2.0, 1.0]), np.array([2.0, 1.0]), (None, None), {}, 1, None, val)
    # order 0,1: 40 MW off for 2 h, 30 MW off for 1 h = 110; order 1,0: 40*1 + 10*2 = 60
    assert weighted_ens(inst, list_schedule(inst, [0, 1]).end_h) == pytest.approx(110.0)
    assert weighted_ens(inst, list_schedule(inst, [1, 0]).end_h) == pytest.approx(60.0)
    assert solve_milp(inst).objective == pytest.approx(60.0)
    assert solve_heuristic(inst).objective == pytest.approx(60.0)
