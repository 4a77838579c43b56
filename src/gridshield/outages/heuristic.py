"""Fast heuristic: chronological greedy block covering under a fairness cap, with a search
over the cap and randomised tie-breaks.

For a cap Z on ``weight * hours off``, each group may take at most ``floor(Z / (w L dt))``
blocks. The greedy walks through the steps; at the first step whose requirement is not yet
covered it starts blocks there (the block that starts at the first uncovered step reaches
furthest into the future, as in interval covering), choosing among the groups that are allowed
(on, min-on spacing since their last block, daily cap, block cap) those with the fewest weighted
hours, then the fewest night hours (if the block is at night) and hours that day, then the
larger MW, until the step is covered; groups that the step does not need are dropped again.
The smallest cap for which the greedy covers every step is found by bisection over the
achievable values starting at the lower bound, then a fixed number of randomised-priority tries
below the best value (deterministic for a given seed); redundant blocks are then removed. The
search runs twice, without and with "swaps" (a chosen group replaced by a smaller one that is no
worse for fairness, so less is shed above the need), and the better schedule is kept.
"""

from __future__ import annotations

import time

import numpy as np

from gridshield.outages.core import (
    EPS,
    candidate_values,
    coverable_required,
    lp_bound,
    quick_bound,
    round_up_to_candidates,
)
from gridshield.outages.model import Instance


#: The heuristic solves the LP relaxation for its bound up to this many (group, step) cells; above
#: it uses the closed-form :func:`~gridshield.outages.core.quick_bound` only (the LP takes ~0.3-0.6 s
#: at 24 groups x 168 h and rarely beats it there).
LP_BOUND_MAX_CELLS = 2000
#: Randomised greedy tries = RANDOM_WORK / (switchable groups x steps), clipped to [4, max_fails],
#: for each of the two variants (9 tries at 24 groups x 168 h, 60 on small instances).
RANDOM_WORK = 40_000


def _start_for(inst: Instance) -> np.ndarray:
    """For each step t, the latest allowed block start tau <= t (clamped to T - L)."""
    T, L = inst.n_steps, inst.block
    out = np.full(T, -1, dtype=np.int64)
    last = -1
    for t in range(T):
        if inst.start_ok[t]:
            last = t
        out[t] = last
    for t in range(T - L + 1, T):  # steps after the last start: use the last allowed start
        out[t] = int(np.flatnonzero(inst.start_ok)[-1])
    return out


def greedy(inst: Instance, cap_blocks: np.ndarray, req: np.ndarray, rng: np.random.Generator | None = None,
           start_for: np.ndarray | None = None, swap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One greedy pass. Returns (starts (G, T) bool, shortfall (T,) MW).

    With ``swap``, a chosen group is replaced by a smaller one that is no worse for fairness
    whenever that still covers the step (less over-shedding now, more blocks left for later)."""
    G, T = inst.n_groups, inst.n_steps
    L, m = inst.block, inst.min_on
    shed = inst.shed_mw
    if start_for is None:
        start_for = _start_for(inst)
    starts = np.zeros((G, T), dtype=bool)
    covered = np.zeros(T)
    next_ok = np.zeros(G, dtype=np.int64)  # earliest allowed next start
    used = np.zeros(G, dtype=np.int64)
    hours = np.zeros(G)
    night_h = np.zeros(G)
    D = inst.n_days
    day_steps = np.zeros((G, D), dtype=np.int64)
    cap_day = inst.max_off_per_day
    w = inst.weight
    sw = [int(g) for g in inst.switchable_idx]
    noise = rng.random(G) * 1e-3 if rng is not None else np.zeros(G)
    # randomised runs also perturb the fairness priority by up to `jitter` blocks, per step
    jitter = 0.0 if rng is None else float(rng.choice([0.0, 0.5, 1.0, 1.5]))
    bh = L * inst.step_h
    night = inst.night
    day = inst.day
    start_ok = inst.start_ok
    w_l = [float(x) for x in w]
    used_l = [0] * G
    caps_l = [int(x) for x in cap_blocks]

    def seg_days_of(tt: int) -> np.ndarray:
        return np.bincount(day[tt:tt + L], minlength=D)

    for t in range(T):
        need = req[t] - covered[t]
        if need <= EPS:
            continue
        tau = int(start_for[t])
        if tau < 0 or tau + L <= t:
            continue
        dt_ = int(day[t])
        cand = []
        late = []  # groups that can only help with a block starting before tau (still covering t)
        for g in sw:
            if used_l[g] >= caps_l[g] or shed[g, t] <= EPS:
                continue
            # weighted blocks so far (exact ties for equal weights), jittered in randomised runs
            pri = w_l[g] * used_l[g] + (jitter * rng.random() if jitter else 0.0)
            key = (pri, 0.0, day_steps[g, dt_], -shed[g, t] + noise[g])
            if next_ok[g] <= tau:
                cand.append((key, g, tau))
            else:
                for tau2 in range(tau - 1, max(next_ok[g], t - L + 1) - 1, -1):
                    if start_ok[tau2]:
                        late.append((key, g, tau2))
                        break
        if cap_day is not None:
            cand = [c for c in cand if not np.any(day_steps[c[1]] + seg_days_of(c[2]) > cap_day)]
            late = [c for c in late if not np.any(day_steps[c[1]] + seg_days_of(c[2]) > cap_day)]
        if not cand and not late:
            continue
        if night[t]:
            cand = [((k[0], night_h[g], k[2], k[3]), g, tt) for k, g, tt in cand]
            late = [((k[0], night_h[g], k[2], k[3]), g, tt) for k, g, tt in late]
        cand.sort()
        late.sort()
        chosen = []
        got = 0.0
        for _, g, tt in cand + late:
            if got >= need - EPS:
                break
            chosen.append((g, tt))
            got += shed[g, t]
        # drop groups the step does not need (latest-chosen first)
        for g, tt in list(reversed(chosen)):
            if got - shed[g, t] >= need - EPS:
                chosen.remove((g, tt))
                got -= shed[g, t]
        if swap and got >= need - EPS:
            # swap a chosen group for a smaller one that is no worse for fairness, to shed less
            # above the need (less over-shedding now, more blocks left for later)
            pool = [(k, g, tt) for k, g, tt in cand + late if (g, tt) not in chosen]
            for i in range(len(chosen) - 1, -1, -1):
                g, tt = chosen[i]
                best = None
                for k, c, ct in pool:
                    if w_l[c] * used_l[c] > w_l[g] * used_l[g] + 1e-9 or shed[c, t] >= shed[g, t]:
                        continue
                    new_got = got - shed[g, t] + shed[c, t]
                    if new_got >= need - EPS and (best is None or new_got < best[0]):
                        best = (new_got, c, ct)
                if best is not None:
                    pool = [p for p in pool if p[1] != best[1]] + [((0,), g, tt)]
                    chosen[i] = (best[1], best[2])
                    got = best[0]
        for g, tt in chosen:
            starts[g, tt] = True
            covered[tt:tt + L] += shed[g, tt:tt + L]
            used[g] += 1
            used_l[g] += 1
            next_ok[g] = tt + L + m
            hours[g] += L * inst.step_h
            night_h[g] += int(night[tt:tt + L].sum()) * inst.step_h
            day_steps[g] += seg_days_of(tt)
    shortfall = np.maximum(0.0, req - _covered(inst, starts))
    shortfall[shortfall <= EPS] = 0.0
    return starts, shortfall


def _covered(inst: Instance, starts: np.ndarray) -> np.ndarray:
    from gridshield.outages.core import off_from_starts

    return (inst.shed_mw * off_from_starts(starts, inst.block)).sum(axis=0)


def prune(inst: Instance, starts: np.ndarray, req: np.ndarray) -> np.ndarray:
    """Remove blocks that are not needed for coverage (most-loaded groups first)."""
    starts = starts.copy()
    L = inst.block
    slack = _covered(inst, starts) - req
    hours = starts.sum(axis=1) * inst.weight
    for g in np.argsort(-hours, kind="stable"):
        for tau in np.flatnonzero(starts[g])[::-1]:
            seg = slice(tau, tau + L)
            if np.all(slack[seg] - inst.shed_mw[g, seg] >= -EPS):
                starts[g, tau] = False
                slack[seg] -= inst.shed_mw[g, seg]
    return starts


def solve_heuristic(inst: Instance, *, time_budget_s: float = 0.8, seed: int = 0, max_fails: int = 60) -> dict:
    """Run the heuristic. Returns a dict with starts, shortfall, bound, tries and runtime."""
    t0 = time.perf_counter()
    G = inst.n_groups
    bh = inst.block * inst.step_h
    req = inst.required_mw
    sf = _start_for(inst)
    lb_lp = quick_bound(inst)
    if inst.switchable_idx.size * inst.n_steps <= LP_BOUND_MAX_CELLS:
        lp = lp_bound(inst)
        if lp is not None:
            lb_lp = max(lb_lp, lp)
    bound = round_up_to_candidates(inst, lb_lp)
    big = np.full(G, 10**9, dtype=np.int64)
    first = [greedy(inst, big, req, None, sf, swap) for swap in (False, True)]
    tries = 2
    if all(short.sum() > EPS for _, short in first):
        # not coverable (or the greedy cannot cover) even without a cap: best effort is to
        # cover what can be covered; fairness is then secondary.
        best_starts = min(first, key=lambda r: r[1].sum())[0]
        starts = prune(inst, best_starts, coverable_required(inst))
        return dict(starts=starts, shortfall=np.maximum(0.0, req - _covered(inst, starts)), bound=None,
                    lp_bound=lb_lp, tries=tries, runtime_s=time.perf_counter() - t0)

    def value(starts: np.ndarray) -> float:
        sw = inst.switchable_idx
        return float(np.max(inst.weight[sw] * starts[sw].sum(axis=1) * bh)) if sw.size else 0.0

    def caps(z: float) -> np.ndarray:
        return np.floor(z / (inst.weight * bh) + 1e-7).astype(np.int64)

    # randomised priorities below the best value: a fixed number of tries for a given size (so the
    # result does not depend on machine speed), the time budget only as a safety stop
    n_random = int(np.clip(RANDOM_WORK // max(1, inst.switchable_idx.size * inst.n_steps), 4, max_fails))
    results = []
    for variant, (s0, short0) in zip((False, True), first):
        if short0.sum() > EPS:
            continue
        best_starts, best_val = s0, value(s0)
        cands = candidate_values(inst, bound, best_val)
        lo, hi = 0, len(cands) - 1  # cands[hi] == best_val is feasible
        while lo < hi:
            mid = (lo + hi) // 2
            s, short = greedy(inst, caps(cands[mid]), req, None, sf, variant)
            tries += 1
            if short.sum() <= EPS:
                best_starts, best_val = s, value(s)
                hi = min(mid, int(np.searchsorted(cands, best_val - 1e-9)))
            else:
                lo = mid + 1
        rng = np.random.default_rng(seed + int(variant))
        fails = done_random = 0
        while (best_val > bound + 1e-9 and done_random < n_random
               and time.perf_counter() - t0 < time_budget_s):
            done_random += 1
            k = int(np.searchsorted(cands, best_val - 1e-9)) - 1
            if k < 0:
                break
            s, short = greedy(inst, caps(cands[k]), req, rng, sf, variant)
            tries += 1
            if short.sum() <= EPS:
                best_starts, best_val = s, value(s)
                fails = 0
            else:
                fails += 1
                if fails >= max_fails:
                    break
        pruned = prune(inst, best_starts, req)
        results.append((value(pruned), int(pruned.sum()), len(results), pruned))
        if best_val <= bound + 1e-9:
            break
    best_starts = min(results)[3]
    starts = best_starts
    return dict(starts=starts, shortfall=np.zeros(inst.n_steps), bound=bound, lp_bound=lb_lp, tries=tries,
                runtime_s=time.perf_counter() - t0)

