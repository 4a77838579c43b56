"""Pieces shared by the MILP and the heuristic: block arithmetic, the LP lower bound, the
"possible outage" layer and the rounding of fairness values."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gridshield.outages.model import Instance
from gridshield.optim import new_highs

ON, OFF, POSSIBLE = 0, 1, 2
STATE_NAMES = ("on", "off", "possible")


def runs_of(row: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end_exclusive, value) runs of equal values in a 1-D array."""
    if row.size == 0:
        return []
    cut = np.flatnonzero(np.diff(row)) + 1
    bounds = np.r_[0, cut, row.size]
    return [(int(a), int(b), int(row[a])) for a, b in zip(bounds[:-1], bounds[1:])]
EPS = 1e-6


def off_from_starts(starts: np.ndarray, L: int) -> np.ndarray:
    """(G, T) 0/1 off matrix from a (G, T) 0/1 matrix of block starts (blocks of L steps)."""
    c = np.cumsum(np.pad(starts.astype(np.int64), ((0, 0), (1, 0))), axis=1)
    T = starts.shape[1]
    hi = c[:, 1:]
    lo = c[:, np.maximum(np.arange(T) - L + 1, 0)]
    return (hi - lo).astype(np.int8)


def block_hours(inst: Instance) -> float:
    return inst.block * inst.step_h


def fairness_value(inst: Instance, starts: np.ndarray) -> float:
    """max_g weight_g * hours off_g over switchable groups (the first objective)."""
    sw = inst.switchable_idx
    if sw.size == 0:
        return 0.0
    hours = starts[sw].sum(axis=1) * block_hours(inst)
    return float(np.max(inst.weight[sw] * hours))


def round_up_to_candidates(inst: Instance, value: float) -> float:
    """Smallest achievable fairness value >= value: each group's hours are a whole number of
    blocks, so max_g w_g * k_g * L * dt lies in {w_g * k * L * dt}."""
    if value <= EPS:
        return 0.0
    bh = block_hours(inst)
    best = np.inf
    for w in np.unique(inst.weight[inst.switchable_idx]):
        k = np.ceil(value / (w * bh) - 1e-6)
        best = min(best, w * k * bh)
    return float(best)


def candidate_values(inst: Instance, lo: float, hi: float) -> np.ndarray:
    """Achievable fairness values in [lo, hi], ascending."""
    bh = block_hours(inst)
    vals = []
    for w in np.unique(inst.weight[inst.switchable_idx]):
        k0 = max(0, int(np.ceil(lo / (w * bh) - 1e-7)))
        k1 = int(np.floor(hi / (w * bh) + 1e-7))
        vals.extend(w * bh * np.arange(k0, k1 + 1))
    return np.unique(np.round(np.asarray(vals, dtype=float), 9))


def coverable_required(inst: Instance) -> np.ndarray:
    """Required MW clipped to what all switchable groups together can shed in each step."""
    return np.minimum(inst.required_mw, inst.shed_mw.sum(axis=0))


def quick_bound(inst: Instance) -> float:
    """A closed-form lower bound on the fairness objective (valid for any schedule that covers
    the coverable requirement).

    With ``a_g = max_t shed[g, t]`` and ``s_t = max_g shed[g, t] / a_g`` we have
    ``shed[g, t] <= a_g s_t``, so coverage gives ``sum_g a_g f[g, t] >= req_t / s_t``; summing
    over steps and using ``w_g * dt * sum_t f[g, t] <= z``:
    ``z >= dt * sum_t req_t / s_t / sum_g (a_g / w_g)``. It equals the LP bound when all groups
    share one load shape and no other rule binds.
    """
    sw = inst.switchable_idx
    if sw.size == 0:
        return 0.0
    shed = inst.shed_mw[sw]
    a = shed.max(axis=1)
    ok = a > EPS
    if not np.any(ok):
        return 0.0
    s_t = (shed[ok] / a[ok, None]).max(axis=0)
    req = coverable_required(inst)
    need = req > EPS
    if not np.any(need):
        return 0.0
    num = inst.step_h * float(np.sum(req[need] / s_t[need]))
    return num / float(np.sum(a[ok] / inst.weight[sw][ok]))


def lp_bound(inst: Instance) -> float | None:
    """Lower bound on the fairness objective from an LP relaxation.

    Variables f[g, t] in [0, 1] (fraction of step t that group g is off) and z; minimise z
    subject to coverage of each step, ``w_g * dt * sum_t f[g, t] <= z``, at most L off steps in
    any window of L + m steps (blocks of L separated by >= m steps on), and the daily cap.
    Uses the coverable requirement so that it also bounds best-effort schedules. Returns None
    if HiGHS cannot solve it.
    """
    import highspy

    sw = inst.switchable_idx
    G, T = sw.size, inst.n_steps
    if G == 0:
        return 0.0
    req = coverable_required(inst)
    L, m, dt = inst.block, inst.min_on, inst.step_h
    n = G * T + 1
    zc = G * T
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    shed = inst.shed_mw[sw]
    need = np.flatnonzero(req > EPS)
    # coverage
    for t in need:
        gg = np.arange(G)
        rows.append(np.full(G, r)); cols.append(gg * T + t); vals.append(shed[:, t])
        lo.append(req[t]); hi.append(np.inf); r += 1
    # fairness
    for k in range(G):
        rows.append(np.full(T + 1, r)); cols.append(np.r_[k * T + np.arange(T), zc])
        vals.append(np.r_[np.full(T, inst.weight[sw[k]] * dt), -1.0]); lo.append(-np.inf); hi.append(0.0); r += 1
    # windows of L + m steps hold at most L off steps
    W = L + m
    if m > 0 and W <= T:
        for k in range(G):
            for t0 in range(0, T - W + 1):
                rows.append(np.full(W, r)); cols.append(k * T + t0 + np.arange(W)); vals.append(np.ones(W))
                lo.append(-np.inf); hi.append(float(L)); r += 1
    if inst.max_off_per_day is not None:
        for k in range(G):
            for d in range(inst.n_days):
                ts = np.flatnonzero(inst.day == d)
                rows.append(np.full(ts.size, r)); cols.append(k * T + ts); vals.append(np.ones(ts.size))
                lo.append(-np.inf); hi.append(float(inst.max_off_per_day)); r += 1
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, n))
    h = new_highs()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, r
    cost = np.zeros(n); cost[zc] = 1.0
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n)
    ub = np.ones(n); ub[zc] = np.inf
    lp.col_upper_ = ub
    lp.row_lower_ = np.asarray(lo, dtype=float)
    lp.row_upper_ = np.asarray(hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)


def possible_layer(inst: Instance, off: np.ndarray) -> np.ndarray:
    """Add "possible outage" (light grey) blocks on top of the firm off matrix.

    Where the firm schedule sheds less than ``possible_required_mw``, groups that are on are
    marked possible for a block, chosen chronologically like the firm blocks: groups with the
    fewest (firm + possible) weighted hours first, preferring those whose min-on spacing to
    their firm outages holds. Returns the (G, T) state matrix (0 on, 1 off, 2 possible).
    """
    state = off.astype(np.int8).copy()
    need_total = inst.possible_required_mw - (inst.shed_mw * (off > 0)).sum(axis=0)
    need_total[inst.possible_required_mw <= inst.required_mw + EPS] = 0.0  # no possible slots asked here
    if not np.any(need_total > EPS):
        return state
    L, m, T = inst.block, inst.min_on, inst.n_steps
    sw = inst.switchable_idx
    covered = np.zeros(T)
    hours = off.sum(axis=1).astype(float)
    for t in range(T):
        need = need_total[t] - covered[t]
        if need <= EPS:
            continue
        tau = min(t, T - L)
        lo_, hi_ = max(0, tau - m), min(T, tau + L + m)
        cand = []
        for g in sw:
            if state[g, t] != ON or inst.shed_mw[g, t] <= EPS:
                continue
            spaced = not np.any(state[g, lo_:hi_] == OFF)
            cand.append((0 if spaced else 1, inst.weight[g] * hours[g], g))
        cand.sort()
        for _, _, g in cand:
            if need <= EPS:
                break
            seg = np.arange(tau, tau + L)
            seg = seg[state[g, seg] == ON]
            state[g, seg] = POSSIBLE
            covered[seg] += inst.shed_mw[g, seg]
            hours[g] += seg.size * 0.5  # possible hours count half when ranking
            need -= inst.shed_mw[g, t]
    return state
