"""Exact lexicographic MILP, solved with HiGHS (highspy, sparse matrices, no modelling layer).

Variables: ``s[g, tau] in {0, 1}``, a block of L steps of group g starts at step tau (only at
allowed starts, and only so that the block ends inside the horizon); ``z`` (max weighted hours
off), ``y_day`` (max hours off of a group in one day), ``y_night`` (max night hours of a group),
``u[t] >= 0`` (uncovered MW, only when the instance cannot be fully covered).
The off indicator is ``off[g, t] = sum_{tau in (t-L, t]} s[g, tau]``.

Constraints::

    sum_g shed[g, t] * off[g, t] + u[t] >= req[t]          every step t (coverage + margin)
    sum_{tau in (t-L-m, t]} s[g, tau] <= 1                 blocks of L, then >= m steps on
    dt * sum_{t in day d} off[g, t] <= cap                 max hours off per day
    w_g * L * dt * sum_tau s[g, tau] <= z                  fairness
    dt * sum_{t in day d} off[g, t] <= y_day,  dt * sum_{t night} off[g, t] <= y_night

Lexicographic objectives, solved in sequence with the previous optimum fixed as a constraint
and the previous solution as a warm start: (0) min sum u (only if needed); (1) min z;
(2) min y_day + y_night (spread across days and between day and night); (3) min sum s
(fewer blocks = fewer switchings and less over-shedding; to within 2 %). Stage 1 gets most of the
time limit (stages 2 and 3 at most 25 % and 15 % of it) and its dual bound and gap are reported. See Maqsood et al. 2018 (arXiv 1810.08894) and
Rakotonirainy et al. 2019 (ORiON 35(2)) for related integer programmes.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from gridshield.outages.core import EPS, new_highs, off_from_starts
from gridshield.outages.model import Instance


def _build(inst: Instance, with_shortfall: bool):
    import highspy

    sw = inst.switchable_idx
    G, T, L, m, dt = sw.size, inst.n_steps, inst.block, inst.min_on, inst.step_h
    S = np.flatnonzero(inst.start_ok & (np.arange(T) <= T - L))
    nS = S.size
    ns = G * nS
    iz, iyd, iyn = ns, ns + 1, ns + 2
    iu0 = ns + 3
    n = ns + 3 + (T if with_shortfall else 0)
    col_g = np.repeat(np.arange(G), nS)
    col_tau = np.tile(S, G)
    cols_all = np.arange(ns)
    # steps covered by each start column
    cov_c = np.repeat(cols_all, L)
    cov_t = (col_tau[:, None] + np.arange(L)[None, :]).ravel()
    cov_g = col_g[cov_c]
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    req = inst.required_mw
    # (1) coverage rows, one per step with a requirement
    need = np.flatnonzero(req > EPS)
    row_of_t = np.full(T, -1)
    row_of_t[need] = np.arange(need.size)
    keep = row_of_t[cov_t] >= 0
    v = inst.shed_mw[sw[cov_g[keep]], cov_t[keep]]
    rows.append(row_of_t[cov_t[keep]]); cols.append(cov_c[keep]); vals.append(v)
    lo.extend(req[need]); hi.extend([np.inf] * need.size)
    if with_shortfall:
        rows.append(np.arange(need.size)); cols.append(iu0 + need); vals.append(np.ones(need.size))
    r += need.size
    # (2) spacing rows: for each group and end step t, starts in (t-L-m, t] sum to <= 1
    W = L + m
    sp_c = np.repeat(cols_all, W)
    sp_t = (col_tau[:, None] + np.arange(W)[None, :]).ravel()
    ok = sp_t < T
    sp_c, sp_t = sp_c[ok], sp_t[ok]
    sp_row = col_g[sp_c] * T + sp_t
    # drop rows holding a single start (trivially satisfied)
    uniq, inv, counts = np.unique(sp_row, return_inverse=True, return_counts=True)
    multi = counts[inv] > 1
    uniq_multi, inv2 = np.unique(sp_row[multi], return_inverse=True)
    rows.append(r + inv2); cols.append(sp_c[multi]); vals.append(np.ones(inv2.size))
    lo.extend([-np.inf] * uniq_multi.size); hi.extend([1.0] * uniq_multi.size)
    r += uniq_multi.size
    # per (group, day) off steps
    D = inst.n_days
    gd = col_g[cov_c] * D + inst.day[cov_t]
    key = cov_c.astype(np.int64) * (G * D) + gd
    uk, cnt = np.unique(key, return_counts=True)
    gd_c = uk // (G * D)
    gd_row = uk % (G * D)
    if inst.max_off_per_day is not None:
        rows.append(r + gd_row); cols.append(gd_c); vals.append(cnt.astype(float))
        lo.extend([-np.inf] * (G * D)); hi.extend([float(inst.max_off_per_day)] * (G * D))
        r += G * D
    # y_day rows: dt * off steps of (g, d) - y_day <= 0
    rows.append(r + gd_row); cols.append(gd_c); vals.append(cnt * dt)
    rows.append(r + np.arange(G * D)); cols.append(np.full(G * D, iyd)); vals.append(-np.ones(G * D))
    lo.extend([-np.inf] * (G * D)); hi.extend([0.0] * (G * D))
    r += G * D
    # y_night rows
    nn = inst.night[cov_t].astype(float)
    nk = np.bincount(cov_c, weights=nn, minlength=ns)
    nz = nk > 0
    rows.append(r + col_g[nz]); cols.append(cols_all[nz]); vals.append(nk[nz] * dt)
    rows.append(r + np.arange(G)); cols.append(np.full(G, iyn)); vals.append(-np.ones(G))
    lo.extend([-np.inf] * G); hi.extend([0.0] * G)
    r += G
    # fairness rows
    rows.append(r + col_g); cols.append(cols_all); vals.append(inst.weight[sw][col_g] * L * dt)
    rows.append(r + np.arange(G)); cols.append(np.full(G, iz)); vals.append(-np.ones(G))
    lo.extend([-np.inf] * G); hi.extend([0.0] * G)
    r += G
    A = sp.csc_matrix((np.concatenate(vals).astype(float), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(r, n))
    A.sum_duplicates()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, r
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.zeros(n)
    ub = np.full(n, np.inf)
    ub[:ns] = 1.0
    lp.col_upper_ = ub
    lp.row_lower_ = np.asarray(lo, dtype=float)
    lp.row_upper_ = np.asarray(hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    integ = [highspy.HighsVarType.kInteger] * ns + [highspy.HighsVarType.kContinuous] * (n - ns)
    lp.integrality_ = integ
    layout = dict(sw=sw, S=S, nS=nS, ns=ns, iz=iz, iyd=iyd, iyn=iyn, iu0=iu0, n=n, with_shortfall=with_shortfall)
    return lp, layout


def _vector(inst: Instance, lay: dict, starts: np.ndarray) -> np.ndarray:
    """Column vector of a schedule given as (G, T) starts (for warm starts)."""
    sw, S, ns = lay["sw"], lay["S"], lay["ns"]
    x = np.zeros(lay["n"])
    x[:ns] = starts[np.ix_(sw, S)].ravel().astype(float)
    off = off_from_starts(starts, inst.block).astype(float)
    dt = inst.step_h
    hours = off[sw].sum(axis=1) * dt
    x[lay["iz"]] = float(np.max(inst.weight[sw] * hours)) if sw.size else 0.0
    D = inst.n_days
    per_day = np.zeros((sw.size, D))
    for d in range(D):
        per_day[:, d] = off[sw][:, inst.day == d].sum(axis=1) * dt
    x[lay["iyd"]] = per_day.max() if per_day.size else 0.0
    x[lay["iyn"]] = (off[sw][:, inst.night].sum(axis=1) * dt).max() if sw.size else 0.0
    if lay["with_shortfall"]:
        cov = (inst.shed_mw * off).sum(axis=0)
        x[lay["iu0"]: lay["iu0"] + inst.n_steps] = np.maximum(0.0, inst.required_mw - cov)
    return x


def _starts_from(inst: Instance, lay: dict, x: np.ndarray) -> np.ndarray:
    starts = np.zeros((inst.n_groups, inst.n_steps), dtype=bool)
    sw, S, nS = lay["sw"], lay["S"], lay["nS"]
    sel = np.asarray(x[: lay["ns"]]).reshape(sw.size, nS) > 0.5
    for k, g in enumerate(sw):
        starts[g, S[sel[k]]] = True
    return starts


def _solution_matches(h, cost: np.ndarray, info) -> bool:
    """Whether the solution HiGHS hands back has the objective value it reports."""
    obj = float(cost @ np.asarray(h.getSolution().col_value))
    return abs(obj - info.objective_function_value) <= 1e-6 * max(1.0, abs(info.objective_function_value))


def solve_milp(inst: Instance, *, time_limit_s: float = 60.0, warm_starts: np.ndarray | None = None,
               with_shortfall: bool = False, mip_rel_gap: float = 1e-6, threads: int = 1) -> dict:
    """Solve the lexicographic MILP. Returns a dict with starts, shortfall, objective values,
    bound, gap, status and runtime."""
    import highspy

    t0 = time.perf_counter()
    lp, lay = _build(inst, with_shortfall)
    build_s = time.perf_counter() - t0
    h = new_highs()
    h.setOptionValue("mip_rel_gap", mip_rel_gap)
    h.setOptionValue("random_seed", 0)
    # HiGHS keeps one global thread pool per process: every Highs object in the process must ask
    # for the same thread count, and gridshield's other solvers (impact MLD) use 1.
    h.setOptionValue("threads", int(threads or 1))
    h.passModel(lp)
    n = lay["n"]
    x = _vector(inst, lay, warm_starts) if warm_starts is not None else None
    stats: dict = {"build_s": build_s, "stages": []}

    def run(cost_idx: list[int], cost_val: list[float], budget: float):
        nonlocal x
        c = np.zeros(n)
        c[cost_idx] = cost_val
        h.changeColsCost(n, np.arange(n, dtype=np.int32), c)
        if x is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(x)
            sol.value_valid = True
            h.setSolution(sol)
        h.setOptionValue("time_limit", max(0.05, budget))
        ts = time.perf_counter()
        h.run()
        info = h.getInfo()
        if info.primal_solution_status == 2 and not _solution_matches(h, c, info):
            # HiGHS 1.16 can report the optimum yet hand back the warm start it was given
            # (seen when presolve solves the model outright): solve once more without it
            h.clearSolver()
            h.run()
            info = h.getInfo()
        st = h.getModelStatus()
        has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if has_sol and _solution_matches(h, c, info):
            x = np.asarray(h.getSolution().col_value)
        obj = float(c @ x) if x is not None else np.nan
        rec = dict(status=h.modelStatusToString(st), objective=obj, bound=float(info.mip_dual_bound),
                   gap=float(info.mip_gap), seconds=time.perf_counter() - ts, optimal=st == highspy.HighsModelStatus.kOptimal)
        stats["stages"].append(rec)
        return rec

    def fix(idx: list[int], coef: list[float], upper: float):
        h.addRow(-np.inf, upper, len(idx), np.asarray(idx, dtype=np.int32), np.asarray(coef, dtype=float))

    remaining = lambda: time_limit_s - (time.perf_counter() - t0)  # noqa: E731
    if with_shortfall:
        iu = list(range(lay["iu0"], lay["iu0"] + inst.n_steps))
        rec0 = run(iu, [inst.step_h] * len(iu), 0.3 * remaining())
        if x is None:
            raise RuntimeError("HiGHS found no schedule")
        fix(iu, [inst.step_h] * len(iu), rec0["objective"] + 1e-6 * max(1.0, rec0["objective"]))
    rec1 = run([lay["iz"]], [1.0], 0.7 * remaining())
    if x is None:
        raise RuntimeError("HiGHS found no schedule within the time limit")
    z = float(x[lay["iz"]])
    fair = dict(status=rec1["status"], optimal=rec1["optimal"], value=z, bound=rec1["bound"], gap=rec1["gap"])
    fix([lay["iz"]], [1.0], z + 1e-6)
    # the tie-break stages get a bounded share, so that most of the limit goes to fairness
    rec2 = run([lay["iyd"], lay["iyn"]], [1.0, 1.0], min(0.6 * remaining(), 0.25 * time_limit_s))
    v2 = float(x[lay["iyd"]] + x[lay["iyn"]])
    fix([lay["iyd"], lay["iyn"]], [1.0, 1.0], v2 + 1e-6)
    h.setOptionValue("mip_rel_gap", 0.02)  # switchings: within 2 % (about one block in 50) is enough
    run(list(range(lay["ns"])), [1.0] * lay["ns"], min(remaining(), 0.15 * time_limit_s))
    starts = _starts_from(inst, lay, x)
    cov = (inst.shed_mw * off_from_starts(starts, inst.block)).sum(axis=0)
    shortfall = np.maximum(0.0, inst.required_mw - cov)
    shortfall[shortfall <= EPS] = 0.0
    stats.update(fairness=fair, spread=dict(status=rec2["status"], value=v2))
    return dict(starts=starts, shortfall=shortfall, runtime_s=time.perf_counter() - t0, **stats,
                n_binaries=lay["ns"], n_rows=lp.num_row_)
