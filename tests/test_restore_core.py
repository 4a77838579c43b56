"""Restoration planner core on abstract instances: MILP vs brute force, heuristic vs naive.

The served load here is a synthetic monotone set function (loads that need all of one set of
repairs, or any of several), so these tests run without the impact engine; the grid-level
tests are in test_restore.py.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from gridshield.restore.plan import (
    SEPARABLE_MERGES,
    SEPARABLE_MIN_TASKS,
    Instance,
    SeparableValue,
    chain,
    list_schedule,
    separable_groups,
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


# --------------------------------------------------------------------------------------------
# large damages: the separable model, incremental evaluation
# --------------------------------------------------------------------------------------------
def separable_instance(rng, sizes, crews, coupled=None):
    """An instance whose served load is a sum of one integer-valued monotone function per
    cluster (so sums are exact in floating point); ``coupled=(a, b)`` adds a load that needs a
    task of cluster a *and* one of cluster b."""
    clusters, start = [], 0
    for k in sizes:
        clusters.append(tuple(range(start, start + k)))
        start += k
    n = start
    parts = [(c, [(int(rng.integers(1, 60)), [j for j in c if rng.random() < 0.6] or [c[0]]) for _ in range(3)])
             for c in clusters]
    extra = None if coupled is None else (clusters[coupled[0]][0], clusters[coupled[1]][0])

    def value(mask: int) -> float:
        tot = 7.0
        for _, loads in parts:
            tot += sum(w for w, need in loads if all(mask >> j & 1 for j in need))
        if extra is not None and mask >> extra[0] & 1 and mask >> extra[1] & 1:
            tot += 40.0
        return float(tot)

    dur = rng.integers(1, 10, n).astype(float)
    return Instance(dur, dur.copy(), (None,) * n, {}, crews, None, value, clusters=tuple(clusters))


def test_separable_model_equals_a_separable_function():
    rng = np.random.default_rng(11)
    inst = separable_instance(rng, [1, 2, 3, 1, 2, 4, 1, 3, 1, 2], 3)
    groups = separable_groups(inst, inst.clusters)
    assert sorted(groups) == sorted(inst.clusters)
    model = SeparableValue(inst.value, groups, inst.n)
    for m in rng.integers(0, 1 << inst.n, 300).tolist():
        assert model(int(m)) == inst.value(int(m))
    # incrementally along the curve of an order (growing sets), as the search evaluates it
    order = rng.permutation(inst.n).tolist()
    times, masks = chain(inst, list_schedule(inst, order).end_h)
    assert [model(m) for m in masks] == [inst.value(m) for m in masks]


def test_separable_groups_merge_coupled_clusters():
    rng = np.random.default_rng(12)
    inst = separable_instance(rng, [2, 2, 3, 1, 2, 3, 2, 2], 2, coupled=(1, 4))
    groups = separable_groups(inst, inst.clusters)
    merged = tuple(sorted(inst.clusters[1] + inst.clusters[4]))
    assert merged in groups
    assert len(groups) == len(inst.clusters) - 1
    model = SeparableValue(inst.value, groups, inst.n)
    for m in rng.integers(0, 1 << inst.n, 200).tolist():
        assert model(int(m)) == inst.value(int(m))


def test_heuristic_on_separable_model_equals_exact_search():
    """On an exactly separable served load the search on the model visits the same lists as the
    search on the exact value (same objective and order) with far fewer evaluations."""
    for seed in range(3):
        rng = np.random.default_rng(20 + seed)
        inst = separable_instance(rng, [1, 2, 1, 3, 1, 2, 1, 1, 2, 1, 1, 2], 3)
        assert inst.n >= SEPARABLE_MIN_TASKS
        calls = {"n": 0}
        cache: dict[int, float] = {}

        def counted(m: int, f=inst.value) -> float:
            if m not in cache:
                calls["n"] += 1
                cache[m] = f(m)
            return cache[m]

        sep = Instance(inst.duration_h, inst.no_spare_h, inst.spare_class, {}, 3, None, counted, clusters=inst.clusters)
        a = solve_heuristic(sep, time_limit_s=60)
        sep_calls = calls["n"]
        b = solve_heuristic(Instance(inst.duration_h, inst.no_spare_h, inst.spare_class, {}, 3, None, inst.value),
                            time_limit_s=60)
        assert a.info["search_model"] == "separable" and b.info["search_model"] == "exact"
        assert a.objective == b.objective and a.order == b.order
        assert not a.info["stopped_on_budget"]
        assert a.objective == weighted_ens(inst, list_schedule(inst, a.order).end_h)
        assert sep_calls < 600


def test_swap_reassesses_only_the_stages_between():
    """Orders that share a prefix share its assessments: with one crew, swapping positions
    i < j changes the repaired sets of the curve only at stages i..j-1."""
    rng = np.random.default_rng(5)
    n = 9
    base = random_value(rng, n)
    seen: set[int] = set()

    def value(m: int) -> float:
        seen.add(m)
        return base(m)

    inst = Instance(rng.integers(1, 10, n).astype(float), np.ones(n), (None,) * n, {}, 1, None, value)
    order = list(range(n))
    weighted_ens(inst, list_schedule(inst, order).end_h)
    for i, j in ((1, 4), (0, 8), (3, 5)):
        before = set(seen)
        cand = list(order)
        cand[i], cand[j] = cand[j], cand[i]
        weighted_ens(inst, list_schedule(inst, cand).end_h)
        assert len(seen - before) == j - i


def test_list_schedule_resumed_after_a_prefix_equals_a_full_run():
    from gridshield.restore.plan import _ListState

    rng = np.random.default_rng(8)
    for _ in range(20):
        n = int(rng.integers(2, 12))
        inst = make_instance(rng, n, int(rng.integers(1, 4)), travel=bool(rng.random() < 0.5), spares=True)
        base = rng.permutation(n).tolist()
        lists = _ListState(inst)
        lists.run(base, keep=True)
        p = int(rng.integers(0, n))
        cand = base[:p] + rng.permutation(base[p:]).tolist()
        a, b = lists.run(cand, p), list_schedule(inst, cand)
        for f in ("crew", "start_h", "end_h", "spare", "travel_h"):
            assert np.array_equal(getattr(a, f), getattr(b, f))


# --------------------------------------------------------------------------------------------
# upper bounds of the served load: the same decisions with fewer evaluations
# --------------------------------------------------------------------------------------------
def with_upper(inst: Instance, rng, loose: float = 30.0):
    """``inst`` with counted evaluations, and the same instance with an upper bound of its value
    too (the value plus a random slack, 0 on about a third of the sets as where the grid bound
    is exact, fixed per set) and the values of the sets evaluated already."""
    calls = {"plain": 0, "bounded": 0}
    seen: dict[str, set[int]] = {"plain": set(), "bounded": set()}
    slack: dict[int, float] = {}

    def counted(key: str):
        def value(m: int) -> float:
            if m not in seen[key]:
                seen[key].add(m)
                calls[key] += 1
            return inst.value(m)

        return value

    def upper(m: int) -> float:
        if m not in slack:
            slack[m] = 0.0 if rng.random() < 0.35 else float(rng.uniform(0, loose))
        return inst.value(m) + slack[m]

    def known(m: int) -> float | None:
        return inst.value(m) if m in seen["bounded"] else None

    return (replace(inst, value=counted("plain")), replace(inst, value=counted("bounded"), upper=upper, known=known),
            calls)


def test_upper_bound_prunes_without_changing_the_heuristic():
    """Greedy candidates and local-search moves that cannot win at their upper bound are skipped:
    the heuristic returns the same list, schedule and objective (to the last bit) as without the
    bound, with fewer evaluations; on the exact value and on the separable model (>= 16 tasks)."""
    saved = 0
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        if seed % 3 == 2:
            sizes = [1, 2, 1, 3, 1, 2, 1, 1, 2, 1, 1, 2]
            inst = separable_instance(rng, sizes, int(rng.integers(1, 4)), coupled=(0, 3))
        else:
            inst = make_instance(rng, int(rng.integers(5, 11)), int(rng.integers(1, 4)), travel=bool(seed % 2),
                                 spares=bool(seed % 4 == 1))
        plain, bounded, calls = with_upper(inst, rng)
        a = solve_heuristic(plain, time_limit_s=60)
        b = solve_heuristic(bounded, time_limit_s=60)
        assert not a.info["stopped_on_budget"] and not b.info["stopped_on_budget"]
        assert a.order == b.order and a.objective == b.objective
        for f in ("crew", "start_h", "end_h", "spare"):
            assert np.array_equal(getattr(a.schedule, f), getattr(b.schedule, f))
        assert {k: v for k, v in a.info.items() if k != "runtime_s"} == b.info
        assert calls["bounded"] <= calls["plain"]
        saved += calls["plain"] - calls["bounded"]
    assert saved > 0


def test_weighted_ens_bound_with_upper_equals_plain():
    """``weighted_ens`` with a bound answers the same (the objective, or inf) with and without an
    upper bound of the value, for random lists and bounds around their objective."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        inst = make_instance(rng, int(rng.integers(3, 10)), int(rng.integers(1, 4)))
        plain, bounded, _ = with_upper(inst, rng)
        end = list_schedule(inst, rng.permutation(inst.n).tolist()).end_h
        exact = weighted_ens(inst, end)
        for bound in (exact * 0.5, exact, exact * (1 + 1e-12), exact * 1.2, math.inf):
            assert weighted_ens(bounded, end, bound=bound) == weighted_ens(plain, end, bound=bound)


def test_separable_groups_merge_a_cluster_with_its_partner():
    """A cluster whose gain depends on another cluster that itself passes the check (its own gain
    is large, the interaction inside the tolerance): the failing cluster is merged with the
    cluster of the largest bottom-top gap, and the merged group adds up; the served load is
    exactly separable over the groups found. Interactions spread over more clusters than
    SEPARABLE_MERGES allows leave one group."""
    import gridshield.restore.plan as rp

    n = 18
    big, small = 3, 11  # task 11 restores nothing alone; with task 3 repaired it adds 2 MW

    def value(m: int) -> float:
        tot = 5.0 + sum(10.0 * (j + 1) for j in range(n) if m >> j & 1 and j not in (big, small))
        tot += 900.0 * (m >> big & 1)
        return tot + 2.0 * (m >> big & 1) * (m >> small & 1)

    clusters = tuple((j,) for j in range(n))
    inst = Instance(np.ones(n), np.ones(n), (None,) * n, {}, 2, None, value, clusters=clusters)
    groups = separable_groups(inst, clusters)
    assert (big, small) in groups and len(groups) == n - 1
    model = SeparableValue(value, groups, n)
    rng = np.random.default_rng(3)
    for m in rng.integers(0, 1 << n, 300).tolist():
        assert model(int(m)) == value(int(m))
    # without merges (the check before): the coupled cluster alone fails, one group
    keep = rp.SEPARABLE_MERGES
    rp.SEPARABLE_MERGES = 0
    try:
        assert separable_groups(inst, clusters) == [tuple(range(n))]
    finally:
        rp.SEPARABLE_MERGES = keep
    # a task that interacts with 8 clusters of 1000 MW (9 MW each: inside their 1 % tolerance);
    # after SEPARABLE_MERGES = 3 merges the group's gap (45 MW) still exceeds its tolerance
    assert SEPARABLE_MERGES == 3
    partners = range(4, 12)

    def spread(m: int) -> float:
        tot = 5.0 + sum(10.0 * (j + 1) for j in range(n) if m >> j & 1 and j not in partners)
        return tot + sum((1000.0 + 9.0 * (m >> 17 & 1)) * (m >> p & 1) for p in partners)

    assert separable_groups(replace(inst, value=spread), clusters) == [tuple(range(n))]


def test_separable_value_is_path_independent_and_known_never_assesses():
    """The separable model's value of a set is the same to the last bit whatever was evaluated
    before (its sum is exactly rounded); ``known`` answers without assessing (None where a
    group's gain is missing, else the value), ``upper`` is never below the value."""
    rng = np.random.default_rng(31)
    n = 20
    gain = rng.uniform(0.1, 97.3, n)  # non-integer gains: rounding would show if the order mattered
    assessed: list[int] = []

    def value(m: int) -> float:
        assessed.append(m)
        return 1234.567 + math.fsum(float(gain[j]) for j in range(n) if m >> j & 1)

    groups = [tuple(range(i, min(i + 3, n))) for i in range(0, n, 3)]
    model = SeparableValue(value, groups, n, bound=lambda m: value(m) + 5.0)
    fresh = SeparableValue(value, groups, n)
    masks = rng.integers(0, 1 << n, 120).tolist()
    for i in range(0, len(masks), 6):  # chains of growing sets (incremental updates)
        grown = 0
        for m in masks[i : i + 6]:
            grown |= m
            assert model(grown) == SeparableValue(value, groups, n)(grown)
    for m in rng.permutation(masks).tolist():  # any order (full updates)
        assert model(m) == fresh(m)
    for m in rng.integers(0, 1 << n, 200).tolist():
        before = len(assessed)
        k = model.known(m)
        assert len(assessed) == before
        assert k is None or k == model(m)
        u = model.upper(m)
        assert u >= model(m)
