"""Restoration planning: order and assign repair tasks to crews to minimise weighted energy not served.

The problem
-----------
``n`` repair tasks (one per damaged element) with durations ``d_j`` (a shorter one while a spare
is in stock for spare-limited classes), ``C`` identical crews that each do one task at a time,
optional travel hours ``t_ij`` between task locations (a crew starts at its first task). The
served load is a *set function* ``f(S)`` of the repaired set ``S``, evaluated by the impact
engine (``ImpactModel(grid).assess(remaining damage)``), weighted by load priority. The
objective is the priority-weighted energy not served

    ENS_w = integral over t of ( f(N) - f(S(t)) ) dt,   S(t) = {j : C_j <= t},

which is exact for a piecewise-constant served load (no time discretisation). Along the
completions, the served state is the best one reached so far (an operator keeps a repaired
element open if closing it would shed load); the MILP uses the matching monotone closure
``f*(S) = max_{T subseteq S} f(T)``. Both equal ``f`` when ``f`` is monotone.

Methods
-------
``naive``      the tasks in the order the damage lists them, list-scheduled on the crews
               (each task goes to the crew that can start it first).
``heuristic``  greedy list by restored weighted load per repair hour (Smith's ratio rule),
               with a look-ahead for tasks that only restore load jointly (pairs, then each
               task's criticality ``f(N) - f(N \\ {j})``), then local search over the list
               (insertions and pairwise swaps, first improvement, while it improves); the naive
               list is also improved and the better result kept, so the heuristic is never worse
               than the naive order. List scheduling follows Tan, Kirschen et al. 2017
               (arXiv 1702.08382).
``milp``       exact for small instances (HiGHS): the served-load set function is written in its
               Moebius form ``f*(S) = sum_{T subseteq S} g(T)``, so that
               ``ENS_w = sum_{T != {}} g(T) * max_{j in T} C_j`` (see docs/restoration.md), with
               crew assignment, disjunctive sequencing (big-M), travel and spare choice.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gridshield.errors import GridshieldError, InfeasibleError

#: Largest restoration instance evaluated with the AC maximal load delivery (model="ac"): each of
#: the up to 2^tasks repair states the planner may evaluate costs one Ipopt solve (about 0.1 s on
#: case118, 0.3 s on case300 on the development machine).
AC_MAX_BUSES = 300
AC_MAX_TASKS = 10
#: Largest instance the MILP accepts (2^n served-load evaluations and a big-M model).
MILP_MAX_TASKS = 12
#: ``method="auto"`` uses the MILP up to this many tasks, the heuristic above.
AUTO_MILP_TASKS = 6
#: From this many repair tasks the heuristic searches on a separable model of the served load
#: where the damage's clusters add up (:func:`separable_groups`); below, on the exact value.
SEPARABLE_MIN_TASKS = 16
#: Tolerances of the separability check (relative to the cluster's gain, and to ``|f(N)|``).
SEPARABLE_RTOL = 1e-2
SEPARABLE_ATOL = 1e-5
#: Clusters merged into a coupled group that does not add up, one at a time (the one with the
#: largest bottom-top gap first), before the instance is searched as one group.
SEPARABLE_MERGES = 3

_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# the abstract instance
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instance:
    """A restoration instance independent of the grid (used by every method and by tests).

    Attributes
    ----------
    duration_h
        Per task: hours with a spare in stock (or when the task needs none).
    no_spare_h
        Per task: hours without a spare (equal to ``duration_h`` when no spare is involved).
    spare_class
        Per task: the stock the task draws from (``None``: unlimited / not needed).
    stock
        Spares in stock per class.
    crews
        Number of identical crews.
    travel_h
        ``n x n`` travel hours between tasks, or ``None``.
    value
        Weighted served load (MW) of a repaired set given as a bitmask (bit j = task j repaired).
    clusters
        Optional partition of the tasks into clusters that are close in the grid (see
        :func:`task_clusters`): the heuristic checks whether the served load adds up over them
        and, where it does, searches on that separable model (:class:`SeparableValue`).
    prefetch
        Optional: evaluate ``value`` of many bitmasks at once (a batch of independent
        assessments, possibly in worker processes); later ``value`` calls find them cached.
    upper
        Optional: an upper bound of ``value`` that needs no assessment. The heuristic skips
        greedy candidates and local-search moves that cannot be taken even at their bound, so
        it takes the same decisions as without it with fewer assessments
        (:func:`weighted_ens`, :func:`greedy_order`).
    known
        Optional (with ``upper``): ``value`` of a set when it needs no assessment, else None.
    """

    duration_h: np.ndarray
    no_spare_h: np.ndarray
    spare_class: tuple[str | None, ...]
    stock: Mapping[str, int]
    crews: int
    travel_h: np.ndarray | None
    value: Callable[[int], float]
    clusters: tuple[tuple[int, ...], ...] | None = None
    prefetch: Callable[[Sequence[int]], None] | None = None
    upper: Callable[[int], float] | None = None
    known: Callable[[int], float | None] | None = None

    @property
    def n(self) -> int:
        return int(self.duration_h.shape[0])

    @property
    def full(self) -> int:
        return (1 << self.n) - 1


@dataclass(frozen=True)
class Schedule:
    """A schedule of an :class:`Instance`: per task its crew, start and end (hours), spare use."""

    crew: np.ndarray
    start_h: np.ndarray
    end_h: np.ndarray
    spare: np.ndarray
    travel_h: np.ndarray


def list_schedule(inst: Instance, order: Sequence[int]) -> Schedule:
    """List scheduling: each task in ``order`` goes to the crew that can start it first.

    Spares are consumed in the order tasks start (first come, first served).
    """
    return _ListState(inst).run(order, 0)


class _ListState:
    """List scheduling that can resume after a prefix of a list.

    :meth:`run` schedules ``order[start:]`` from the crews' state after ``order[:start]`` as
    recorded by the last full run (``keep=True``), so that a local-search candidate that shares
    its first ``start`` tasks with the incumbent list is scheduled from there.
    """

    def __init__(self, inst: Instance):
        self.inst = inst
        n = inst.n
        self.crew = [0] * n
        self.start = [0.0] * n
        self.end = [0.0] * n
        self.spare = [False] * n
        self.trav = [0.0] * n
        self._snaps: list[tuple[list[float], list[int], dict[str, int]]] = []
        self._order: list[int] = []

    def run(self, order: Sequence[int], start: int = 0, keep: bool = False) -> Schedule:
        inst = self.inst
        c = inst.crews
        tr = inst.travel_h
        dur, nsp, scls = inst.duration_h, inst.no_spare_h, inst.spare_class
        if start:
            f, la, st = self._snaps[start]
            free, last, stock = list(f), list(la), dict(st)
            crew, begin, end, spare, trav = (list(a) for a in (self.crew, self.start, self.end, self.spare, self.trav))
        else:
            free, last, stock = [0.0] * c, [-1] * c, dict(inst.stock)
            crew, begin, end, spare, trav = [0] * inst.n, [0.0] * inst.n, [0.0] * inst.n, [False] * inst.n, [0.0] * inst.n
        snaps = self._snaps[:start] if keep else None
        for pos in range(start, len(order)):
            j = order[pos]
            if snaps is not None:
                snaps.append((list(free), list(last), dict(stock)))
            best, bs, bt = 0, math.inf, 0.0
            for k in range(c):
                t = 0.0 if (tr is None or last[k] < 0) else float(tr[last[k], j])
                s = free[k] + t
                if s < bs - 1e-12:
                    best, bs, bt = k, s, t
            cls = scls[j]
            if cls is None:
                d = float(dur[j])
                spare[j] = bool(nsp[j] > dur[j])
            elif stock.get(cls, 0) > 0:
                stock[cls] -= 1
                d = float(dur[j])
                spare[j] = True
            else:
                d = float(nsp[j])
                spare[j] = False
            crew[j], begin[j], end[j], trav[j] = best, bs, bs + d, bt
            free[best] = bs + d
            last[best] = j
        if snaps is not None:
            snaps.append((list(free), list(last), dict(stock)))
            self._snaps = snaps
            self.crew, self.start, self.end, self.spare, self.trav = crew, begin, end, spare, trav
        return Schedule(np.array(crew, np.int64), np.array(begin), np.array(end), np.array(spare, bool), np.array(trav))


def chain(inst: Instance, end_h: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Completion times (sorted, unique) and the repaired bitmask right after each."""
    order = np.argsort(end_h, kind="stable")
    times: list[float] = []
    masks: list[int] = []
    m = 0
    for j in order.tolist():
        m |= 1 << j
        t = float(end_h[j])
        if times and abs(t - times[-1]) <= 1e-9:
            masks[-1] = m
        else:
            times.append(t)
            masks.append(m)
    return np.asarray(times), masks


def effective_masks(inst: Instance, masks: Sequence[int]) -> list[int]:
    """Per chain point, the repaired set that is actually switched in.

    An operator does not close a repaired element whose closing would shed load (possible with
    line limits: a Braess-like effect of the DC model): the served state after each completion
    is the best of the states reached so far (running maximum of the weighted served load),
    which is achievable by keeping the elements repaired since then open.
    """
    out: list[int] = []
    best_m, best_v = 0, inst.value(0)
    for m in masks:
        v = inst.value(m)
        if v >= best_v - 1e-9 * max(1.0, abs(best_v)):
            best_m, best_v = m, v
        out.append(best_m)
    return out


def weighted_ens(inst: Instance, end_h: np.ndarray, bound: float = math.inf) -> float:
    """Priority-weighted energy not served (MWh-weighted) of completion times ``end_h``.

    ``integral (f(N) - f(S(t))) dt`` with ``f`` along the chain of completions taken as its running
    maximum (see :func:`effective_masks`); equal to the plain integral when ``f`` is monotone.
    With a finite ``bound`` the integration stops (returning ``inf``) as soon as the partial sum
    reaches it, so that a local search does not assess the later states of a losing candidate.
    With ``inst.upper`` and ``inst.known`` too, before each state that needs an assessment the
    rest of the integral is bounded from below with the upper bound of ``f``, and a candidate
    whose bound reaches ``bound`` is refused without the assessment (the same answer: a lower
    bound of a partial sum that reaches ``bound`` means the partial sum does).
    """
    times, masks = chain(inst, end_h)
    target = inst.value(inst.full)
    tl = times.tolist()
    if bound == math.inf or inst.upper is None or inst.known is None:
        return _integral(tl, masks, target, inst.value, bound)
    upper = inst.upper

    def assess(k: int, m: int, total: float, t: float, prev_v: float) -> float | None:
        """``f`` at the ``k``-th set, unless the rest of the integral at the upper bound reaches ``bound``."""
        if _integral(tl[k:], masks[k:], target, upper, bound, (total, t, prev_v)) == math.inf:
            return None
        return inst.value(m)

    return _integral(tl, masks, target, inst.known, bound, (0.0, 0.0, inst.value(0)), missing=assess)


def _integral(times: list[float], masks: Sequence[int], target: float, f: Callable[[int], float | None],
              bound: float, start: tuple[float, float, float] | None = None,
              missing: Callable[[int, int, float, float, float], float | None] | None = None) -> float:
    """``integral (target - running max of f along the chain) dt`` from ``start`` (the partial sum,
    time and running maximum so far; else from ``0, 0, f(0)``); ``inf`` as soon as a partial sum
    reaches ``bound``. With an upper bound of ``f`` in place of ``f`` (its running maximum is at
    least ``f``'s) every partial sum is a lower bound of the exact one. Where ``f`` answers None,
    ``missing(k, set, partial sum, time, running maximum)`` answers for the ``k``-th set (None:
    ``inf``)."""
    total, prev_t, prev_v = start if start is not None else (0.0, 0.0, f(0))
    for k, (t, m) in enumerate(zip(times, masks, strict=True)):
        if t > prev_t:
            total += (target - prev_v) * (t - prev_t)
            if total >= bound:
                return math.inf
        v = f(m)
        if v is None:
            v = missing(k, m, total, t, prev_v)
            if v is None:
                return math.inf
        prev_t, prev_v = t, max(prev_v, v)
    return total


# --------------------------------------------------------------------------------------------
# separable model of the served load (large damages)
# --------------------------------------------------------------------------------------------
def _bits(tasks: Sequence[int]) -> int:
    m = 0
    for j in tasks:
        m |= 1 << j
    return m


def separable_groups(inst: Instance, clusters: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Groups of tasks whose contributions to the served load add up.

    A cluster ``G`` passes when its gain is the same at the bottom and at the top of the lattice
    of repaired sets: ``f(G) - f({}) = f(N) - f(N - G)`` (to :data:`SEPARABLE_RTOL` and
    :data:`SEPARABLE_ATOL` x ``|f(N)|``): repairing it alone restores what it restores last. The
    clusters that fail are merged into one coupled group, which must pass the same check against
    the rest. While it does not, the passing cluster with the largest bottom-top gap joins it
    (an interaction between two clusters shows in the gaps of both, though inside the
    tolerance of a cluster whose own gain is large), up to :data:`SEPARABLE_MERGES` times, two
    assessments each; else the whole instance is one group (no decomposition). The ``2 k + 2``
    assessments of the clusters are independent and go to ``inst.prefetch`` as one batch.
    """
    n, full = inst.n, inst.full
    masks = [_bits(c) for c in clusters]
    if inst.prefetch is not None:
        inst.prefetch([0, full, *masks, *(full & ~m for m in masks)])
    f0, fn = inst.value(0), inst.value(full)
    atol = SEPARABLE_ATOL * max(1.0, abs(fn))

    def gap(m: int) -> float:
        """How far the gain of the tasks ``m`` is from adding up (<= 0: it adds up)."""
        bottom, top = inst.value(m) - f0, fn - inst.value(full & ~m)
        return abs(bottom - top) - atol - SEPARABLE_RTOL * max(abs(bottom), abs(top))

    keep = [tuple(sorted(c)) for c, m in zip(clusters, masks, strict=True) if gap(m) <= 0]
    coupled = tuple(sorted(j for c, m in zip(clusters, masks, strict=True) if gap(m) > 0 for j in c))
    for step in range(SEPARABLE_MERGES + 1):
        if not coupled or not keep:
            break
        m = _bits(coupled)
        if inst.prefetch is not None:
            inst.prefetch([m, full & ~m])
        if gap(m) <= 0:
            break
        if step == SEPARABLE_MERGES:
            return [tuple(range(n))]
        partner = max(keep, key=lambda c: abs(inst.value(_bits(c)) - f0 - fn + inst.value(full & ~_bits(c))))
        keep.remove(partner)
        coupled = tuple(sorted(coupled + partner))
    if coupled:
        keep.append(coupled)
    return keep


class SeparableValue:
    """``f(S) = f({}) + sum_G (f(S & G) - f({}))`` over groups that add up (:func:`separable_groups`).

    Each term is an exact assessment of a repaired set inside one group (the other groups left
    damaged), so a search on this model assesses only the subsets of each group it visits:
    for singleton groups none beyond the check. Evaluated incrementally along a chain of growing
    sets (a curve): only the groups of the newly repaired tasks are looked up; the sum of the
    groups' gains is exactly rounded (``math.fsum``), so the value of a set does not depend on
    the sets evaluated before it.
    """

    def __init__(self, value: Callable[[int], float], groups: Sequence[Sequence[int]], n: int,
                 bound: Callable[[int], float] | None = None):
        self._value = value
        self._bound = bound  # an upper bound of ``value`` (for :meth:`upper`)
        self.groups = [tuple(g) for g in groups]
        self._gmask = [_bits(g) for g in self.groups]
        self._group_of = [0] * n
        for k, g in enumerate(self.groups):
            for j in g:
                self._group_of[j] = k
        self.f0 = float(value(0))
        self._gain: dict[int, float] = {0: 0.0}  # f(T) - f({}) per group subset T seen
        # per use (value, upper bound): the last set and each group's gain (or bound) there
        self._last = {"value": 0, "upper": 0}
        self._parts = {"value": [0.0] * len(self.groups), "upper": [0.0] * len(self.groups)}

    def __call__(self, m: int) -> float:
        return self._sum(m, "value", self._group_gain)

    def known(self, m: int) -> float | None:
        """The value at ``m`` when every group's gain there is known, else None (no assessment)."""
        return self._sum(m, "value", self._gain.get)

    def upper(self, m: int) -> float:
        """An upper bound of the model's value at ``m`` from the upper bound of the exact value
        given at construction: each group's gain as known, else at its bound (no assessment).
        The bound of a group may be kept from an earlier set while its tasks there stay the same."""
        return self._sum(m, "upper", self._upper_gain)

    def _upper_gain(self, t: int) -> float:
        g = self._gain.get(t)
        return g if g is not None else self._bound(t) - self.f0

    def _sum(self, m: int, use: str, gain: Callable[[int], float | None]) -> float | None:
        """``f({}) + sum`` of the groups' ``gain`` at ``m`` (None when a gain is None), updating only
        the groups whose tasks changed since the last set of ``use`` (all unless ``m`` grows it)."""
        parts, last = self._parts[use], self._last[use]
        if m & last != last:
            changed: Iterable[int] = range(len(self.groups))
        else:
            diff, changed = m ^ last, set()
            while diff:
                low = diff & -diff
                changed.add(self._group_of[low.bit_length() - 1])
                diff ^= low
        for k in changed:
            g = gain(m & self._gmask[k])
            if g is None:
                self._last[use] = -1  # the parts match no set now: the next call updates them all
                return None
            parts[k] = g
        self._last[use] = m
        return self.f0 + math.fsum(parts)

    def _group_gain(self, t: int) -> float:
        g = self._gain.get(t)
        if g is None:
            g = self._gain[t] = self._value(t) - self.f0
        return g


def _search_instance(inst: Instance) -> tuple[Instance, dict]:
    """The instance the heuristic searches on: ``inst`` itself, or (from
    :data:`SEPARABLE_MIN_TASKS` tasks, with clusters that add up) the same instance with the
    separable model as its value."""
    if inst.clusters is None or inst.n < SEPARABLE_MIN_TASKS or len(inst.clusters) < 2:
        return inst, {}
    groups = separable_groups(inst, inst.clusters)
    if len(groups) < 2:
        return inst, {"separable_groups": 1}
    model = SeparableValue(inst.value, groups, inst.n, bound=inst.upper)
    coupled = max((len(g) for g in groups), default=0)
    upper = None if inst.upper is None else model.upper
    return (replace(inst, value=model, prefetch=None, upper=upper, known=model.known),
            {"separable_groups": len(groups), "largest_group": coupled})


# --------------------------------------------------------------------------------------------
# naive and heuristic
# --------------------------------------------------------------------------------------------
@dataclass
class _Result:
    method: str
    schedule: Schedule
    objective: float
    runtime_s: float
    optimal: bool = False
    order: list[int] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def solve_naive(inst: Instance) -> _Result:
    """The order as damaged (as listed), list-scheduled."""
    t0 = time.perf_counter()
    order = list(range(inst.n))
    s = list_schedule(inst, order)
    if inst.prefetch is not None:
        inst.prefetch([0, *chain(inst, s.end_h)[1]])  # its curve's states, one batch
    return _Result("naive", s, weighted_ens(inst, s.end_h), time.perf_counter() - t0, order=order)


def greedy_order(inst: Instance, pair_pool: int = 12, time_limit_s: float = math.inf) -> tuple[list[int], bool]:
    """Greedy list: the most restored weighted load per repair hour next, with look-ahead.

    When no single task restores load, pairs among the ``pair_pool`` most critical remaining
    tasks are tried (load restored only jointly, e.g. a line and the bus it feeds); failing
    that, the task with the largest criticality ``f(N) - f(N \\ {j})`` per hour goes next (a
    task's criticality is assessed when first needed). Past ``time_limit_s`` (huge damages on
    large grids) the remaining tasks follow by criticality per hour without further
    assessments of their rates. A candidate whose rate at
    ``inst.upper`` does not beat the best so far is not assessed (it would not be taken).
    Returns the list and whether the time limit cut it short.
    """
    t_end = time.perf_counter() + time_limit_s
    n = inst.n
    full = inst.full
    target = inst.value(full)
    crit: dict[int, float] = {}  # assessed when first needed (often never: no pair look-ahead)
    stock = dict(inst.stock)

    def dur(j: int) -> float:
        cls = inst.spare_class[j]
        if cls is None or stock.get(cls, 0) > 0:
            return float(inst.duration_h[j])
        return float(inst.no_spare_h[j])

    def take(j: int) -> None:
        cls = inst.spare_class[j]
        if cls is not None and stock.get(cls, 0) > 0:
            stock[cls] -= 1

    def by_criticality(j: int) -> tuple[float, float, int]:
        """Sort key: the largest criticality per hour first, then the shortest, then by index."""
        c = crit.get(j)
        if c is None:
            c = crit[j] = target - inst.value(full & ~(1 << j))
        return (-c / max(dur(j), 1e-9), dur(j), j)

    def beaten(m: int, base: float, hours: float, best_rate: float) -> bool:
        """Whether repairing up to ``m`` cannot be taken even at the upper bound of its value."""
        return inst.upper is not None and (inst.upper(m) - base) / hours <= best_rate + _EPS

    done = 0
    remaining = list(range(n))
    order: list[int] = []
    while remaining:
        if time.perf_counter() > t_end:
            order += sorted(remaining, key=by_criticality)
            return order, True
        base = inst.value(done)
        if base >= target - _EPS * max(1.0, abs(target)):
            # everything is already served: no repair left changes the curve, so the rest go
            # shortest first (finishing work sooner) without further assessments
            order += sorted(remaining, key=lambda j: (dur(j), j))
            break
        best, best_rate = -1, 0.0
        for j in remaining:
            m, hours = done | (1 << j), max(dur(j), 1e-9)
            if beaten(m, base, hours, best_rate):
                continue
            rate = (inst.value(m) - base) / hours
            if rate > best_rate + _EPS:
                best, best_rate = j, rate
        picks: list[int] = []
        if best >= 0:
            picks = [best]
        elif len(remaining) >= 2:
            pool = sorted(remaining, key=by_criticality)[:pair_pool]
            best_pair, best_rate = None, 0.0
            for a, b in itertools.combinations(pool, 2):
                m, hours = done | (1 << a) | (1 << b), max(dur(a) + dur(b), 1e-9)
                if beaten(m, base, hours, best_rate):
                    continue
                rate = (inst.value(m) - base) / hours
                if rate > best_rate + _EPS:
                    best_pair, best_rate = (a, b), rate
            if best_pair is not None:
                picks = sorted(best_pair, key=lambda j: (dur(j), j))
        if not picks:
            picks = [min(remaining, key=by_criticality)]
        for j in picks:
            order.append(j)
            remaining.remove(j)
            take(j)
            done |= 1 << j
    return order, False


def local_search(
    inst: Instance,
    order: list[int],
    objective: float,
    max_passes: int = 20,
    time_limit_s: float = 20.0,
    tie_break: bool = False,
) -> tuple[list[int], float, int, bool]:
    """Improve a list by insertions and pairwise swaps (first improvement) while it improves.

    A move is taken when it lowers the weighted ENS, or (``tie_break``) does not raise it and
    lowers the sum of completion times (ties broken toward finishing work sooner, e.g. a spare
    used first); the pair (ENS, sum of completions) decreases strictly, so the search ends.
    Returns the list, its objective, the number of improving moves and whether the time limit
    stopped the search (rather than no move improving).
    """
    t_end = time.perf_counter() + time_limit_s
    n = len(order)
    best = list(order)
    best_obj = objective
    lists = _ListState(inst)  # candidates are scheduled from the incumbent's shared prefix
    best_flow = float(lists.run(best, keep=True).end_h.sum())
    moves = 0

    def tol() -> float:
        return 1e-9 * max(1.0, abs(best_obj))

    def consider(cand: list[int], same: int) -> bool:
        """``cand`` shares its first ``same`` tasks with the incumbent."""
        nonlocal best, best_obj, best_flow, moves
        sch = lists.run(cand, same)
        # a candidate must beat (or tie) the incumbent; stop integrating once it cannot
        obj = weighted_ens(inst, sch.end_h, bound=best_obj + tol())
        if obj > best_obj + tol():
            return False
        flow = float(sch.end_h.sum())
        if obj < best_obj - tol() or (tie_break and obj <= best_obj and flow < best_flow - 1e-9):
            best, best_obj, best_flow = cand, obj, flow
            lists.run(best, keep=True)
            moves += 1
            return True
        return False

    for _ in range(max_passes):
        improved = False
        # insertions: move the task at i to position k
        for i in range(n):
            for k in range(n):
                if k == i or time.perf_counter() > t_end:
                    continue
                cand = best[:i] + best[i + 1 :]
                cand.insert(k, best[i])
                improved |= consider(cand, min(i, k))
        # pairwise swaps
        for i in range(n):
            for k in range(i + 1, n):
                if time.perf_counter() > t_end:
                    break
                cand = list(best)
                cand[i], cand[k] = cand[k], cand[i]
                improved |= consider(cand, i)
        if time.perf_counter() > t_end:
            return best, best_obj, moves, True
        if not improved:
            return best, best_obj, moves, False
    return best, best_obj, moves, False


def solve_heuristic(inst: Instance, time_limit_s: float = 20.0, naive: _Result | None = None) -> _Result:
    """Greedy list + local search; also improves the naive list and keeps the better one.

    On large damages whose clusters add up the search runs on the separable model
    (:func:`_search_instance`); the returned objective is always the exact one, and the naive
    order is kept when it is better (so the heuristic is never worse than the naive order).
    """
    t0 = time.perf_counter()

    def until(share: float) -> float:  # seconds left to ``share`` of the budget, counted from t0
        return max(share * time_limit_s - (time.perf_counter() - t0), 0.0)

    naive = naive or solve_naive(inst)
    search, model_info = _search_instance(inst)
    naive_obj = naive.objective if search is inst else weighted_ens(search, naive.schedule.end_h)
    order, cut = greedy_order(search, time_limit_s=until(0.5))
    obj = weighted_ens(search, list_schedule(search, order).end_h)
    greedy_obj = obj
    order, obj, moves, cut1 = local_search(search, order, obj, time_limit_s=until(0.8))
    cut |= cut1
    start = "greedy"
    if naive_obj < obj - 1e-9 * max(1.0, abs(obj)) or moves == 0 and naive_obj <= obj:
        o2, obj2, _, cut2 = local_search(search, list(naive.order), naive_obj, time_limit_s=until(1.0))
        cut |= cut2
        if obj2 < obj - 1e-9 * max(1.0, abs(obj)):
            order, obj, start = o2, obj2, "naive"
    # polish: among lists with this ENS, prefer finishing work sooner (never raises the ENS)
    if until(1.0) > 0:
        order, obj, _, cut3 = local_search(search, order, obj, max_passes=3, time_limit_s=until(1.0), tie_break=True)
        cut |= cut3
    else:
        cut = True
    sch = list_schedule(inst, order)
    if inst.prefetch is not None and search is not inst:
        inst.prefetch(chain(inst, sch.end_h)[1])  # the chosen curve's states, one batch
    exact = weighted_ens(inst, sch.end_h)
    if search is not inst:
        model_info["model_objective"] = obj
        if naive.objective < exact - 1e-9 * max(1.0, abs(exact)):
            order, sch, exact, start = list(naive.order), naive.schedule, naive.objective, "naive (exact)"
    return _Result(
        "heuristic", sch, exact, time.perf_counter() - t0, order=order,
        info={"greedy_objective": greedy_obj, "local_search_moves": moves, "best_start": start,
              "stopped_on_budget": bool(cut), "search_model": "separable" if search is not inst else "exact",
              **model_info},
    )


# --------------------------------------------------------------------------------------------
# exact MILP
# --------------------------------------------------------------------------------------------
def subset_values(inst: Instance) -> np.ndarray:
    """``f`` over all ``2^n`` repaired subsets (index = bitmask)."""
    return np.array([inst.value(m) for m in range(1 << inst.n)], dtype=float)


def monotone_closure(f: np.ndarray, n: int) -> np.ndarray:
    """``f*(S) = max_{T subseteq S} f(T)``: the operator may keep any repaired element open."""
    g = f.astype(float).copy()
    idx = np.arange(1 << n)
    for j in range(n):
        has = (idx >> j) & 1 == 1
        g[has] = np.maximum(g[has], g[idx[has] ^ (1 << j)])
    return g


def moebius(f: np.ndarray, n: int) -> np.ndarray:
    """Moebius transform: ``g`` with ``f(S) = sum_{T subseteq S} g(T)`` (O(n 2^n))."""
    g = f.astype(float).copy()
    idx = np.arange(1 << n)
    for j in range(n):
        has = (idx >> j) & 1 == 1
        g[has] -= g[idx[has] ^ (1 << j)]
    return g


def solve_milp(inst: Instance, time_limit_s: float = 60.0, incumbent: _Result | None = None) -> _Result:
    """Exact schedule by a mixed-integer program (HiGHS); see the module docstring.

    Variables: start ``s_j``, completion ``C_j``, spare use ``u_j`` (spare-limited tasks), crew
    assignment ``x_jc`` (symmetry broken: task j uses crews 0..j), precedence ``y_ij`` (i before
    j on the same crew; big-M disjunction with travel), and ``M_T >= C_j (j in T)`` for each
    subset T with a non-zero Moebius coefficient ``g(T)``; for ``g(T) < 0`` binaries ``w_Tj``
    pick the latest completion so that ``M_T = max_j C_j``. Objective ``sum_T g(T) M_T``.
    """
    import highspy
    import scipy.sparse as sp

    n, ncrew = inst.n, inst.crews
    if n == 0:
        s = list_schedule(inst, [])
        return _Result("milp", s, 0.0, 0.0, optimal=True)
    if n > MILP_MAX_TASKS:
        raise GridshieldError(
            f"the exact MILP takes at most {MILP_MAX_TASKS} repair tasks, this damage has {n}; use method='heuristic'"
        )
    t0 = time.perf_counter()
    f = monotone_closure(subset_values(inst), n)
    scale = max(1.0, float(np.max(np.abs(f))))
    g = moebius(np.round(f / scale, 9) * scale, n)
    g[np.abs(g) < 1e-7 * scale] = 0.0
    terms = [m for m in range(1, 1 << n) if g[m] != 0.0]

    cols_lo: list[float] = []
    cols_hi: list[float] = []
    cost: list[float] = []
    integ: list[int] = []

    def var(lo: float, hi: float, c: float = 0.0, integer: bool = False) -> int:
        cols_lo.append(lo)
        cols_hi.append(hi)
        cost.append(c)
        integ.append(1 if integer else 0)
        return len(cols_lo) - 1

    tr = inst.travel_h if inst.travel_h is not None else np.zeros((n, n))
    big = float(np.sum(np.maximum(inst.no_spare_h, inst.duration_h))) + n * float(np.max(tr, initial=0.0)) + 1.0
    rows: list[tuple[dict[int, float], float, float]] = []

    def row(coef: dict[int, float], lo: float, hi: float) -> None:
        rows.append((coef, lo, hi))

    s = [var(0.0, big) for _ in range(n)]
    cc = [var(0.0, 2 * big) for _ in range(n)]
    u: dict[int, int] = {}
    for j in range(n):
        cls = inst.spare_class[j]
        if cls is None:
            row({cc[j]: 1.0, s[j]: -1.0}, float(inst.duration_h[j]), float(inst.duration_h[j]))
        else:
            u[j] = var(0.0, 1.0, integer=True)
            dl, dsh = float(inst.no_spare_h[j]), float(inst.duration_h[j])
            # C_j = s_j + dl - (dl - dsh) u_j
            row({cc[j]: 1.0, s[j]: -1.0, u[j]: dl - dsh}, dl, dl)
    for cls in {c for c in inst.spare_class if c is not None}:
        members = [u[j] for j in range(n) if inst.spare_class[j] == cls]
        row({v: 1.0 for v in members}, -math.inf, float(inst.stock.get(cls, 0)))
    yvar: dict[tuple[int, int], int] = {}
    x: dict[tuple[int, int], int] = {}
    if ncrew < n:
        for j in range(n):
            for c in range(min(j + 1, ncrew)):
                x[j, c] = var(0.0, 1.0, integer=True)
            row({x[j, c]: 1.0 for c in range(min(j + 1, ncrew))}, 1.0, 1.0)
        for i in range(n):
            for j in range(i + 1, n):
                yij = var(0.0, 1.0, integer=True)
                yji = var(0.0, 1.0, integer=True)
                yvar[i, j], yvar[j, i] = yij, yji
                row({yij: 1.0, yji: 1.0}, -math.inf, 1.0)
                for c in range(min(i + 1, ncrew)):
                    # y_ij + y_ji >= x_ic + x_jc - 1
                    row({yij: 1.0, yji: 1.0, x[i, c]: -1.0, x[j, c]: -1.0}, -1.0, math.inf)
                # s_j >= C_i + t_ij - big (1 - y_ij)
                row({s[j]: 1.0, cc[i]: -1.0, yij: -big}, float(tr[i, j]) - big, math.inf)
                row({s[i]: 1.0, cc[j]: -1.0, yji: -big}, float(tr[j, i]) - big, math.inf)
    const = 0.0
    mvars: list[tuple[list[int], int, list[int]]] = []  # (members, M_T column, w columns)
    for m in terms:
        members = [j for j in range(n) if m >> j & 1]
        if len(members) == 1:
            cost[cc[members[0]]] += g[m]
            continue
        mt = var(0.0, 2 * big, c=float(g[m]))
        mvars.append((members, mt, []))
        for j in members:
            row({mt: 1.0, cc[j]: -1.0}, 0.0, math.inf)
        if g[m] < 0:
            ws = [var(0.0, 1.0, integer=True) for _ in members]
            mvars[-1] = (members, mt, ws)
            row({w: 1.0 for w in ws}, 1.0, 1.0)
            for j, w in zip(members, ws, strict=True):
                # M_T <= C_j + 2 big (1 - w)
                row({mt: 1.0, cc[j]: -1.0, w: 2 * big}, -math.inf, 2 * big)

    nv = len(cols_lo)
    data, ri, ci = [], [], []
    rlo, rhi = [], []
    for r, (coef, lo, hi) in enumerate(rows):
        for k, v in coef.items():
            ri.append(r)
            ci.append(k)
            data.append(v)
        rlo.append(lo)
        rhi.append(hi)
    a = sp.csc_matrix((data, (ri, ci)), shape=(len(rows), nv))
    lp = highspy.HighsLp()
    lp.num_col_ = nv
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.asarray(cols_lo, float)
    lp.col_upper_ = np.asarray(cols_hi, float)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(rlo), rlo, -inf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(rhi), rhi, inf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous for k in integ]
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.setOptionValue("mip_abs_gap", 1e-7)
    h.passModel(lp)
    if incumbent is not None:  # start from the heuristic's schedule
        start = _milp_start(inst, incumbent.schedule, nv, s, cc, u, x, yvar, mvars)
        if start is not None:
            hs = highspy.HighsSolution()
            hs.col_value = start.tolist()
            hs.value_valid = True
            h.setSolution(hs)
    h.run()
    status = h.getModelStatus()
    sol = np.asarray(h.getSolution().col_value)
    if sol.size != nv or status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit):
        if incumbent is not None:
            return incumbent
        raise InfeasibleError(f"restoration MILP ended with status {h.modelStatusToString(status)}")
    optimal = status == highspy.HighsModelStatus.kOptimal
    # read back: crew, order per crew by start, spare choice; then left-shift (no idle time)
    crew = np.zeros(n, np.int64)
    if ncrew < n:
        for j in range(n):
            crew[j] = max(range(min(j + 1, ncrew)), key=lambda c: sol[x[j, c]])
    else:
        crew = np.arange(n)
    use = np.array([(sol[u[j]] > 0.5) if j in u else False for j in range(n)])
    sched = sequence_schedule(inst, crew, np.asarray([sol[v] for v in s]), use)
    obj = weighted_ens(inst, sched.end_h)
    used_incumbent = False
    if incumbent is not None and incumbent.objective < obj - 1e-9 * max(1.0, abs(obj)):
        sched, obj = incumbent.schedule, incumbent.objective  # time limit hit with a worse MILP point
        used_incumbent = True
    return _Result(
        "milp", sched, obj, time.perf_counter() - t0, optimal=optimal,
        info={"milp_objective": float(h.getInfo().objective_function_value) + const, "terms": len(terms),
              "variables": nv, "constraints": len(rows), "status": h.modelStatusToString(status),
              "mip_gap": float(h.getInfo().mip_gap), "kept_heuristic_schedule": used_incumbent},
    )


def _milp_start(inst: Instance, sch: Schedule, nv: int, s, cc, u, x, yvar, mvars) -> np.ndarray | None:
    """Column values of the MILP for a given schedule (crews relabelled to fit the symmetry breaking)."""
    n = inst.n
    col = np.zeros(nv)
    relabel: dict[int, int] = {}
    for j in range(n):  # crew of the lowest-index task -> 0, the next new crew -> 1, ...
        relabel.setdefault(int(sch.crew[j]), len(relabel))
    crew = np.array([relabel[int(c)] for c in sch.crew])
    for j in range(n):
        col[s[j]], col[cc[j]] = sch.start_h[j], sch.end_h[j]
        if j in u:
            col[u[j]] = 1.0 if sch.spare[j] else 0.0
        if x:
            if (j, int(crew[j])) not in x:
                return None
            col[x[j, int(crew[j])]] = 1.0
    for (i, j), v in yvar.items():
        col[v] = 1.0 if crew[i] == crew[j] and sch.start_h[i] < sch.start_h[j] else 0.0
    for members, mt, ws in mvars:
        ends = [sch.end_h[j] for j in members]
        col[mt] = max(ends)
        if ws:
            col[ws[int(np.argmax(ends))]] = 1.0
    return col


def _new_highs():
    from gridshield.optim import new_highs

    return new_highs()


def sequence_schedule(inst: Instance, crew: np.ndarray, start_hint: np.ndarray, spare: np.ndarray) -> Schedule:
    """Schedule from a crew assignment and an order per crew (by ``start_hint``), without idle time."""
    n = inst.n
    start = np.zeros(n)
    end = np.zeros(n)
    trav = np.zeros(n)
    spare_used = np.zeros(n, bool)
    tr = inst.travel_h
    for c in np.unique(crew).tolist():
        jobs = sorted(np.flatnonzero(crew == c).tolist(), key=lambda j: (start_hint[j], j))
        t, last = 0.0, -1
        for j in jobs:
            tt = 0.0 if (tr is None or last < 0) else float(tr[last, j])
            if inst.spare_class[j] is None:
                d = float(inst.duration_h[j])
                spare_used[j] = inst.no_spare_h[j] > inst.duration_h[j]
            else:
                d = float(inst.duration_h[j] if spare[j] else inst.no_spare_h[j])
                spare_used[j] = bool(spare[j])
            start[j], trav[j] = t + tt, tt
            end[j] = start[j] + d
            t, last = end[j], j
    return Schedule(np.asarray(crew, np.int64), start, end, spare_used, trav)


def solve(inst: Instance, method: str = "auto", time_limit_s: float = 30.0) -> tuple[_Result, dict[str, _Result]]:
    """Run ``method`` and the naive order (and the heuristic as the MILP's incumbent)."""
    if method not in ("auto", "heuristic", "milp", "naive"):
        raise GridshieldError(f"method={method!r}: use 'auto', 'heuristic', 'milp' or 'naive'")
    if inst.crews < 1:
        raise GridshieldError(f"crews={inst.crews}: at least one repair crew is needed")
    if method == "milp" and inst.n > MILP_MAX_TASKS:
        raise GridshieldError(
            f"the exact MILP takes at most {MILP_MAX_TASKS} repair tasks, this damage has {inst.n}; "
            "use method='heuristic' (or 'auto')"
        )
    runs: dict[str, _Result] = {"naive": solve_naive(inst)}
    if method == "naive":
        return runs["naive"], runs
    runs["heuristic"] = solve_heuristic(inst, time_limit_s=time_limit_s, naive=runs["naive"])
    if method == "heuristic" or (method == "auto" and inst.n > AUTO_MILP_TASKS):
        return runs["heuristic"], runs
    runs["milp"] = solve_milp(inst, time_limit_s=time_limit_s, incumbent=runs["heuristic"])
    return runs["milp"], runs


# --------------------------------------------------------------------------------------------
# the grid-level API
# --------------------------------------------------------------------------------------------
def restoration_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Priority weights of the restoration objective, per priority class (residential = 1).

    Defaults are the impact engine's load-shedding weights scaled to residential = 1 (critical
    100, essential 10, others 1): critical infrastructure first, then households, as crews
    restored it in 2022 (DOMAIN.md s.2, babel.ua 87454). User values override (same scale).
    """
    from gridshield.grid.model import PRIORITY_CLASSES

    try:
        from gridshield.impact.mld import DEFAULT_WEIGHTS as base
    except ImportError:  # pragma: no cover - the impact engine is part of the package
        base = {"critical": 1000.0, "essential": 100.0, "residential": 10.0, "commercial": 10.0, "industrial": 10.0}
    ref = base.get("residential", 1.0) or 1.0
    w = {k: float(v) / ref for k, v in base.items()}
    for k, v in (weights or {}).items():
        if k not in PRIORITY_CLASSES:
            raise GridshieldError(f"weights: unknown priority class {k!r}; use one of {', '.join(PRIORITY_CLASSES)}")
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise GridshieldError(f"weights[{k!r}] = {v!r}: a priority weight must be a positive number")
        w[k] = float(v)
    return w


@dataclass(frozen=True)
class GridState:
    """What the grid serves with a set of repairs done (one impact assessment)."""

    weighted: float  # planner objective value: weighted served MW (+ weighted heat MW_th)
    served_mw: float
    customers_off: float
    heat_mw_th: float  # heat demand of the districts that have heat (0 without heat data)
    people_without_heat: float
    district_off: np.ndarray | None  # per heat district, or None without heat data


class _Heat:
    """District-heating side of the value function (when the grid carries heat tables)."""

    def __init__(self, grid, temperature_c: float | None, weight: float):
        from gridshield.heat import HeatNetwork

        self.net = HeatNetwork.from_grid(grid)
        ref = grid.extra_tables.get("gs_reference_temperature_c")
        t = temperature_c if temperature_c is not None else (ref if isinstance(ref, float) else -10.0)
        self.temperature_c = float(t)
        self.demand_mw_th = np.asarray(self.net.heat_demand_mw_th(self.temperature_c), float)
        if not np.any(self.demand_mw_th > 0):  # above the heating base: share by UA
            self.demand_mw_th = np.asarray(self.net.ua_mw_th_per_k, float)
        self.people = np.asarray(self.net.people, float)
        self.weight = float(weight)

    def off(self, grid, remaining: list[str], res) -> np.ndarray:
        from gridshield.heat import heat_off

        return np.asarray(
            heat_off(grid, remaining, bus_energised=res.bus_energised, load_served_mw=res.load_served_mw,
                     network=self.net),
            bool,
        )


def _heat_for(grid, temperature_c: float | None, weight: float) -> _Heat | None:
    """The heat side when :mod:`gridshield.heat` is available and the grid has heat data, else None."""
    if not any(k.startswith("gs_heat_") for k in grid.extra_tables):
        return None
    try:
        return _Heat(grid, temperature_c, weight)
    except ImportError:  # pragma: no cover - heat is part of the package
        return None


class GridValue:
    """Served load of a repaired subset of tasks, by the impact engine, cached per subset.

    This is the planner's hot path: each distinct set of remaining damage is assessed once
    (``ImpactModel.assess``) and kept in a dict keyed by the repaired-task bitmask.
    """

    def __init__(self, model, grid, task_ids: Sequence[str], load_weight: np.ndarray, heat: _Heat | None = None):
        self.model = model
        self.grid = grid
        self.ids = list(task_ids)
        self.w = np.asarray(load_weight, float)
        self.customers = np.asarray(grid.loads.customers, float)
        self.heat = heat
        self.cache: dict[int, GridState] = {}
        self.by_masks: dict[bytes, GridState] = {}
        self._upper: dict[bytes, float] = {}  # upper bounds of unassessed sets (see upper)
        ld = grid.loads
        self._demand_mw = np.where(ld.in_service & grid.buses.in_service[ld.bus], ld.p_mw, 0.0)  # as the engine's
        self.calls = 0
        #: a :class:`~gridshield.restore.pool.StatePool` for batches (``plan_restoration(workers=...)``)
        self.pool = None
        # Per task, the elements its damage takes out (a bus takes its branches, generators and
        # loads): the remaining damage's masks are the OR of its tasks' masks (Damage.from_ids
        # expands each id on its own), so two repaired sets with the same masks (e.g. a generator
        # repaired while its bus is still out) share one impact assessment.
        from gridshield.impact import Damage

        rows = []
        for tid in self.ids:
            d = Damage.from_ids(grid, [tid])
            rows.append(np.concatenate([d.bus_out, d.branch_out, d.gen_out, d.load_out]))
        width = len(grid.buses) + len(grid.branches) + len(grid.gens) + len(grid.loads)
        self._task_masks = np.array(rows, dtype=bool).reshape(len(self.ids), width)

    def __getstate__(self) -> dict:
        """Picklable for worker processes started by spawn: without caches or the pool."""
        state = self.__dict__.copy()
        state.update(cache={}, by_masks={}, _upper={}, pool=None)
        return state

    def _key(self, mask: int) -> bytes:
        """The element masks of the damage left with the tasks in ``mask`` repaired."""
        rem = [j for j in range(len(self.ids)) if not mask >> j & 1]
        return np.packbits(self._task_masks[rem].any(axis=0)).tobytes() if rem else b""

    def state(self, mask: int) -> GridState:
        """The grid's state with the tasks in bitmask ``mask`` repaired."""
        hit = self.cache.get(mask)
        if hit is not None:
            return hit
        key = self._key(mask)
        hit = self.by_masks.get(key)
        if hit is None:
            hit = self.compute(mask)
            self.calls += 1
            self.by_masks[key] = hit
        self.cache[mask] = hit
        return hit

    def compute(self, mask: int) -> GridState:
        """One impact assessment: the state with the tasks in ``mask`` repaired (not cached)."""
        remaining = [self.ids[j] for j in range(len(self.ids)) if not mask >> j & 1]
        res = self.model.assess(remaining)
        served = np.asarray(res.load_served_mw, float)
        demand = np.asarray(res.load_demand_mw, float)
        pos = demand > 0
        frac_off = np.zeros_like(served)
        frac_off[pos] = np.clip(1.0 - served[pos] / demand[pos], 0.0, 1.0)
        heat_mw = people_off = 0.0
        d_off = None
        if self.heat is not None:
            d_off = self.heat.off(self.grid, remaining, res)
            heat_mw = float(self.heat.demand_mw_th[~d_off].sum())
            people_off = float(self.heat.people[d_off].sum())
        return GridState(self._weighted(served, pos, heat_mw), float(served[pos].sum()),
                         float(np.dot(self.customers, frac_off)), heat_mw, people_off, d_off)

    def _weighted(self, served_mw: np.ndarray, pos: np.ndarray, heat_mw_th: float) -> float:
        """The planner's value of a state: weighted served MW of the loads ``pos`` (positive
        demand) plus the weighted heat supplied."""
        weighted = float(np.dot(self.w[pos], served_mw[pos]))
        if self.heat is not None:
            weighted += self.heat.weight * heat_mw_th
        return weighted

    def weighted(self, mask: int) -> float:
        return self.state(mask).weighted

    def known(self, mask: int) -> float | None:
        """:meth:`weighted` when the set (or one with the same remaining damage) was assessed
        already, else None."""
        hit = self.cache.get(mask)
        if hit is None:
            hit = self.by_masks.get(self._key(mask))
            if hit is None:
                return None
            self.cache[mask] = hit
        return hit.weighted

    def upper(self, mask: int) -> float:
        """An upper bound of :meth:`weighted` without an impact assessment: the value itself when
        the set was assessed already, else every live load of an energised island (one with a
        live generator) served in full, and every heat district supplied. No model serves more
        (the maximal load delivery serves at most a load's demand, and only on energised buses;
        a cascade only trips more); the same sums as :meth:`compute`, so the bound equals the
        value to the last bit where the engine serves all of it."""
        v = self.known(mask)
        if v is not None:
            return v
        key = self._key(mask)
        ub = self._upper.get(key)
        if ub is None:
            ub = self._upper[key] = self._energised_weighted(mask)
        return ub

    def _energised_weighted(self, mask: int) -> float:
        from gridshield.impact import Damage
        from gridshield.impact.state import islands_of, live_after

        grid = self.grid
        rem = [j for j in range(len(self.ids)) if not mask >> j & 1]
        out = self._task_masks[rem].any(axis=0) if rem else np.zeros(self._task_masks.shape[1], bool)
        nb, nl, ng = len(grid.buses), len(grid.branches), len(grid.gens)
        dmg = Damage((), out[:nb], out[nb : nb + nl], out[nb + nl : nb + nl + ng], out[nb + nl + ng :])
        live = live_after(grid, dmg)
        bus_on = live.bus & islands_of(grid, live).energised
        ld = grid.loads
        served = np.where(live.load & bus_on[ld.bus], self._demand_mw, 0.0)
        heat_mw = 0.0 if self.heat is None else float(self.heat.demand_mw_th.sum())
        return self._weighted(served, self._demand_mw > 0, heat_mw)

    def prefetch(self, masks: Sequence[int]) -> None:
        """Assess the repaired sets ``masks`` not yet known, as one batch of independent
        assessments: on the worker processes of :attr:`pool` when there is one (and the batch
        is worth it), else one after the other."""
        todo: dict[bytes, int] = {}
        for m in masks:
            if m in self.cache:
                continue
            key = self._key(m)
            hit = self.by_masks.get(key)
            if hit is not None:
                self.cache[m] = hit
            else:
                todo.setdefault(key, m)
        if self.pool is None or len(todo) < 2:
            for m in todo.values():
                self.state(m)
            return
        for m, st in self.pool.states(list(todo.values())):
            self.calls += 1
            self.cache[m] = st
            self.by_masks[self._key(m)] = st

    def clusters(self) -> tuple[tuple[int, ...], ...]:
        """The tasks in clusters of the grid: two tasks are linked when an element of one sits at
        a bus of the other or at a neighbouring bus (one intact branch away); the clusters are
        the connected components (a struck substation's bus and branches form one)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        grid = self.grid
        nb, nl, ng = len(grid.buses), len(grid.branches), len(grid.gens)
        br = grid.branches
        tm = self._task_masks
        at = tm[:, :nb].copy()  # the buses each task's elements sit at
        for rows, buses in ((slice(nb, nb + nl), br.from_bus), (slice(nb, nb + nl), br.to_bus),
                            (slice(nb + nl, nb + nl + ng), grid.gens.bus), (slice(nb + nl + ng, None), grid.loads.bus)):
            t, e = np.nonzero(tm[:, rows])
            at[t, buses[e]] = True
        on = br.in_service
        adj = csr_matrix((np.ones(2 * int(on.sum())), (np.r_[br.from_bus[on], br.to_bus[on]],
                                                        np.r_[br.to_bus[on], br.from_bus[on]])), shape=(nb, nb))
        a = csr_matrix(at.astype(float))
        zone = a + a @ adj  # buses within one branch of each task's buses
        link = (a @ zone.T) > 0
        k, lab = connected_components(link, directed=False)
        return tuple(tuple(np.flatnonzero(lab == c).tolist()) for c in range(k))


def plan_restoration(
    grid,
    damage,
    crews: int = 6,
    spares: Mapping[str, int] | None = None,
    travel_speed_kmh: float | None = None,
    method: str = "auto",
    temperature_c: float | None = None,
    *,
    durations: Mapping[str, float] | None = None,
    no_spare_durations: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | None = None,
    heat_weight: float = 1.0,
    time_limit_s: float = 30.0,
    model=None,
    workers: int = 1,
    **impact_options,
):
    """Plan the repair of a damage with ``crews`` crews to minimise priority-weighted energy not served.

    Parameters
    ----------
    grid
        The grid (not modified).
    damage
        An impact-engine ``Damage`` or asset ids (``["site:S3", "branch:12"]``); sites expand to
        their buses, internal transformers and generators (one repair task each).
    crews
        Number of repair crews; each does one task at a time.
    spares
        Spare stock per asset class, e.g. ``{"autotransformer": 1}``; a repair of that class takes
        the short (with-spare) duration while the stock lasts, the long one after. ``None``:
        unlimited spares.
    travel_speed_kmh
        Crew speed; travel time between tasks = Euclidean distance between bus coordinates
        (``buses.x/y`` in km) / speed; a crew starts at its first task. ``None``: no travel time.
    method
        ``"heuristic"`` (greedy + local search), ``"milp"`` (exact, up to
        :data:`MILP_MAX_TASKS` tasks), ``"naive"`` (order as damaged), or ``"auto"`` (MILP up to
        :data:`AUTO_MILP_TASKS` tasks, else heuristic). The naive order is always run too, for
        the comparison.
    temperature_c
        Outdoor temperature (deg C). With heat data (the synthetic city) the loads are scaled
        to it (``gridshield.heat.scale_for_temperature``, when the grid names its reference
        temperature) and people without heat / below 12 deg C are counted.
    durations, no_spare_durations
        Repair-hour overrides by element id or asset class (see :mod:`gridshield.restore.tasks`).
    weights
        Priority weights per class for the objective (see :func:`restoration_weights`).
    heat_weight
        Objective weight per MW_th of heat supplied (residential MW = 1), when the grid has
        heat data: restoring heat counts like restoring that much residential load.
    time_limit_s
        Time budget of the heuristic's search, counted from its start (greedy list to 50 %, local
        search to 80 %, the rest for the search from the naive order and a polish), and of the
        MILP. The separability check's and the final curve's assessments are not cut.
    model
        A prebuilt ``ImpactModel`` of ``grid`` to reuse (else one is built with ``impact_options``).
        Its grid is used as is: loads are then *not* rescaled for ``temperature_c`` (scale the
        grid with ``gridshield.heat.scale_for_temperature`` before building the model).
        Or ``"dc"`` / ``"ac"``: the served-load model of every evaluation (``ImpactModel(model=...)``).
        ``"ac"`` (AC maximal load delivery, one Ipopt solve per evaluated repair state) is accepted
        up to :data:`AC_MAX_BUSES` buses and :data:`AC_MAX_TASKS` repair tasks.
    workers
        Local processes for the batches of independent assessments of large damages (from
        :data:`SEPARABLE_MIN_TASKS` tasks: the separability check and the curves of the naive
        and the chosen order); 1 (default) assesses everything in this process.

    Returns
    -------
    RestorationPlan
    """
    from gridshield.impact import Damage, ImpactModel
    from gridshield.restore.curve import RestorationPlan, step_integral
    from gridshield.restore.tasks import build_tasks, parse_spares, travel_matrix_h

    from gridshield.limits import MAX_CREWS, MAX_TIME_LIMIT_S, check_int, check_real

    t0 = time.perf_counter()
    crews = check_int("--crews", crews, low=1, high=MAX_CREWS,
                      why="repair crews (more crews than damaged assets change nothing)")
    if not (isinstance(heat_weight, (int, float)) and math.isfinite(heat_weight) and heat_weight >= 0):
        raise GridshieldError(f"heat_weight={heat_weight!r}: must be a number >= 0")
    check_real("--time-limit", time_limit_s, low=0.0, low_open=True, high=MAX_TIME_LIMIT_S, why="seconds (a week)")
    if temperature_c is not None:
        check_real("--temperature", temperature_c, why="°C")
    if workers != 1:
        from gridshield.limits import check_workers

        workers = check_workers("workers", workers)
    ref_c = grid.extra_tables.get("gs_reference_temperature_c")
    scaled = False
    if isinstance(model, str):  # "dc" / "ac": the served-load model, not a prebuilt ImpactModel
        impact_options["model"] = model
        model = None
    if model is not None:
        if model.grid is not grid:
            raise GridshieldError("model= was built for another grid; pass ImpactModel(grid) of this grid")
    elif temperature_c is not None and isinstance(ref_c, float) and ref_c != float(temperature_c):
        from gridshield.heat import scale_for_temperature

        grid = scale_for_temperature(grid, float(temperature_c))
        scaled = True
    dmg = damage if isinstance(damage, Damage) else Damage.from_ids(grid, damage)
    tasks = build_tasks(grid, dmg, durations, no_spare_durations)
    if impact_options.get("model", getattr(model, "model", "dc")) == "ac":
        _check_ac_size(grid, len(tasks))
    stock = parse_spares(spares)
    travel = travel_matrix_h(tasks, travel_speed_kmh)
    wcls = restoration_weights(weights)
    load_w = np.array([wcls.get(p, 1.0) for p in grid.loads.priority.tolist()], float)
    if model is None:
        model = ImpactModel(grid, **impact_options)
    heat = _heat_for(grid, temperature_c, float(heat_weight))
    value = GridValue(model, grid, [t.id for t in tasks], load_w, heat)
    dur = np.array([t.duration_h for t in tasks], float)
    ns = np.array([t.no_spare_h if t.no_spare_h is not None else t.duration_h for t in tasks], float)
    cls = tuple(
        (t.asset_class if (t.needs_spare and stock is not None and t.asset_class in stock) else None) for t in tasks
    )
    inst = Instance(dur, ns, cls, stock or {}, int(crews), travel, value.weighted, clusters=value.clusters(),
                    prefetch=value.prefetch, upper=value.upper, known=value.known)
    if workers > 1 and len(tasks) >= SEPARABLE_MIN_TASKS and method != "naive":
        from gridshield.restore.pool import StatePool

        value.pool = StatePool(value, workers)
    try:
        best, runs = solve(inst, method, time_limit_s=time_limit_s)
    finally:
        if value.pool is not None:
            value.pool.close()
            value.pool = None

    intact = value.state(inst.full)
    demand = float(model.demand_mw)

    def curve(end_h: np.ndarray) -> tuple[np.ndarray, list[GridState]]:
        times, masks = chain(inst, end_h)
        eff = effective_masks(inst, masks)
        return np.r_[0.0, times], [value.state(0)] + [value.state(m) for m in eff]

    comparison: dict[str, dict] = {}
    for name, r in runs.items():
        th, st = curve(r.schedule.end_h)
        comparison[name] = {
            "weighted_ens_mwh": r.objective,
            "ens_mwh": step_integral(th, np.array([s.served_mw for s in st]), intact.served_mw),
            "makespan_h": float(r.schedule.end_h.max(initial=0.0)),
            "runtime_s": r.runtime_s,
            "optimal": bool(r.optimal),
        }
    th, st = curve(best.schedule.end_h)
    served = np.array([s.served_mw for s in st])
    cust = np.array([s.customers_off for s in st])
    wserved = np.array([s.weighted for s in st])
    naive_w = runs["naive"].objective
    impr = 0.0 if naive_w <= 1e-12 else 100.0 * (naive_w - best.objective) / naive_w
    sch = best.schedule
    order = np.lexsort((sch.crew, sch.start_h))
    heat_pct = people_off = people_hours = below12 = None
    if heat is not None:
        total_th = float(heat.demand_mw_th.sum())
        heat_pct = np.array([100.0 * s.heat_mw_th / total_th if total_th > 0 else 100.0 for s in st])
        people_off = np.array([s.people_without_heat for s in st])
        people_hours = -step_integral(th, people_off, intact.people_without_heat)
        if temperature_c is not None:
            below12 = _people_hours_below_12c(grid, heat, th, st, float(temperature_c))
    plan = RestorationPlan(
        grid_name=grid.name,
        damage=tuple(dmg.ids),
        method=best.method,
        crews=int(crews),
        task_id=tuple(tasks[j].id for j in order),
        asset_class=tuple(tasks[j].asset_class for j in order),
        crew=sch.crew[order],
        start_h=sch.start_h[order],
        end_h=sch.end_h[order],
        travel_h=sch.travel_h[order],
        spare_used=sch.spare[order],
        time_h=th,
        served_mw=served,
        customers_off=cust,
        weighted_served=wserved,
        demand_mw=demand,
        intact_served_mw=intact.served_mw,
        ens_mwh=step_integral(th, served, intact.served_mw),
        weighted_ens_mwh=best.objective,
        customer_hours=-step_integral(th, cust, intact.customers_off),
        makespan_h=float(sch.end_h.max(initial=0.0)),
        comparison=comparison,
        improvement_over_naive_pct=impr,
        optimal=bool(best.optimal),
        stopped_on_budget=_stopped_on_budget(best),
        runtime_s=time.perf_counter() - t0,
        evaluations=value.calls,
        heat_supplied_pct=heat_pct,
        people_without_heat=people_off,
        people_hours_without_heat=people_hours,
        people_hours_below_12c=below12,
        temperature_c=None if temperature_c is None else float(temperature_c),
        options={
            "spares": None if stock is None else dict(stock),
            "travel_speed_kmh": travel_speed_kmh,
            "weights": wcls,
            "heat_weight": float(heat_weight) if heat is not None else None,
            "requested_method": method,
            "loads_scaled_to_temperature": scaled,
            "time_limit_s": float(time_limit_s),
            "workers": int(workers),
            "model": getattr(model, "model", "dc"),
            **({"milp": runs["milp"].info} if "milp" in runs else {}),
            **({"heuristic": runs["heuristic"].info} if "heuristic" in runs else {}),
        },
    )
    return plan


def _stopped_on_budget(r: _Result) -> bool:
    """Whether the time budget (``time_limit_s``) ended the search before it finished: the
    heuristic's greedy or local search, or the MILP before proving optimality."""
    if r.method == "milp":
        return r.info.get("status") == "Time limit reached" or bool(r.info.get("kept_heuristic_schedule"))
    return bool(r.info.get("stopped_on_budget", False))


def ac_size_refusal(grid, n_tasks: int) -> str:
    """Why restoration with the AC load delivery is refused for ``grid`` and ``n_tasks`` repair
    tasks (one line), or ``""`` when the instance is small enough."""
    nb = len(grid.buses)
    if nb > AC_MAX_BUSES or n_tasks > AC_MAX_TASKS:
        return (f"restoration with the AC load delivery is limited to {AC_MAX_BUSES} buses and {AC_MAX_TASKS} "
                f"repair tasks (one Ipopt solve per evaluated repair state); this instance has {nb} buses and "
                f"{n_tasks} tasks")
    return ""


def _check_ac_size(grid, n_tasks: int) -> None:
    why = ac_size_refusal(grid, n_tasks)
    if why:
        raise GridshieldError(f"model='ac': {why}: use model='dc' (--model dc)")


def _people_hours_below_12c(grid, heat: _Heat, time_h: np.ndarray, states: list[GridState], temperature_c: float) -> float:
    """People-hours spent below 12 deg C indoors: per heat district and each interval without heat
    ``[a, b)``, ``people * max(0, (b - a) - h12)`` with ``h12`` the district's hours to 12 deg C
    (``gridshield.heat.assess_heat``; each outage starts from a warm building, 20 deg C)."""
    from types import SimpleNamespace

    from gridshield.heat import assess_heat

    nd = len(heat.people)
    dark = SimpleNamespace(bus_energised=np.zeros(len(grid.buses), bool),
                           load_served_mw=np.zeros(len(grid.loads)), damage=())
    horizon = int(min(24 * 120, max(48.0, float(time_h[-1]) + 1.0)))
    h12 = np.asarray(assess_heat(grid, dark, temperature_c, hours=horizon, network=heat.net).hours_to_12c_h, float)
    total = 0.0
    for d in range(nd):
        start = None
        for k, s in enumerate(states):
            off = bool(s.district_off[d]) if k < len(states) - 1 else False
            if off and start is None:
                start = float(time_h[k])
            elif not off and start is not None:
                dur = float(time_h[k]) - start
                if np.isfinite(h12[d]) and dur > h12[d]:
                    total += heat.people[d] * (dur - h12[d])
                start = None
    return total


__all__ = [
    "ac_size_refusal",
    "GridState",
    "GridValue",
    "plan_restoration",
    "restoration_weights",
    "AUTO_MILP_TASKS",
    "MILP_MAX_TASKS",
    "Instance",
    "Schedule",
    "chain",
    "greedy_order",
    "list_schedule",
    "local_search",
    "effective_masks",
    "moebius",
    "monotone_closure",
    "sequence_schedule",
    "solve",
    "solve_heuristic",
    "solve_milp",
    "solve_naive",
    "subset_values",
    "weighted_ens",
]
