"""N-k: the k assets whose loss sheds the most load.

Three methods, one answer type (:class:`WorstCaseResult`):

``"milp"``
    The bilevel attacker–operator DC interdiction of Salmeron, Wood and Baldick (2004, IEEE
    Trans. Power Syst. 19(2):905–912), turned into one MILP through the LP dual of the operator's
    load-shedding LP (:mod:`gridshield.security.shed`), solved with HiGHS. The interdiction
    variable ``z`` multiplies dual variables; each product is linearised exactly (big-M) inside
    the bounds below.
``"enumerate"``
    Brute force over every k-set of the candidates (the reference the MILP is tested against).
``"heuristic"``
    Greedy (add the asset with the largest marginal shed) followed by a 1-swap local search,
    for grids where the MILP is too big.

Dual bounds (big-M)
-------------------
With ``w_max`` the largest load weight and ``m`` a multiplier (default 20), the MILP bounds the
nodal prices ``|pi_n| <= M = m w_max``, the angle-coupling duals ``|beta_l| <= 4M``, the flow
limit duals ``0 <= rho_l <= 6M`` (``|pi_f - pi_t - beta_l| <= 2M + 4M``) and the generator
limit duals ``0 <= q_g <= M`` (``q_g = max(pi_bus, 0)`` at an optimum). The ``4M`` on ``beta``
lets an interdicted branch's dual take ``pi_f - pi_t`` whatever the prices (so removing a branch
never constrains ``pi``). Bounding dual variables is the same as letting the operator violate the
nodal balance (or the flow definition) at a price of ``M`` per MW, so the MILP solves exactly an
operator model that is at most as pessimistic as the true one: its value for a set can only be
*below* the true shed. Nodal prices above ``w_max`` arise only through congestion (a MW at one
bus forcing more than a MW of shedding elsewhere), and ``m = 20`` covers loop-flow ratios up to
20. After each solve the chosen set is re-evaluated with the primal LP; if the MILP value falls
short of it, or a price sits at its bound, ``m`` is multiplied by 10 and the MILP solved again
(``WorstCaseResult.big_m`` reports the final value). The tests compare the MILP with exhaustive
enumeration.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid
from gridshield.security.shed import Asset, ShedModel, _highs, as_assets, pass_model


@dataclass(frozen=True)
class WorstCaseResult:
    """The k assets whose loss sheds the most (weighted) load.

    Attributes
    ----------
    assets
        Ids of the chosen assets (sorted by their loss alone, largest first).
    shed_mw
        Load shed (MW) after their loss, from the operator's DC load-shedding LP.
    weighted_shed
        The attacker's objective (weighted shed; equals ``shed_mw`` with unit weights).
    demand_mw
        Total demand (MW).
    k, method
        Budget and the method that found the set (``milp``, ``enumerate``, ``heuristic``).
    optimal
        True when the method proves optimality (``milp`` with a closed gap, ``enumerate``).
    bound
        Upper bound on the weighted shed (the MILP's dual bound; the value itself when optimal).
    single_shed_mw
        Shed (MW) when each chosen asset is lost alone.
    n_candidates, evaluations, runtime_s, big_m
        Problem size, operator-LP evaluations, wall time and (``milp``) the final dual bound ``M``.
    """

    assets: tuple[str, ...]
    shed_mw: float
    weighted_shed: float
    demand_mw: float
    k: int
    method: str
    optimal: bool
    bound: float
    single_shed_mw: tuple[float, ...]
    n_candidates: int
    evaluations: int
    runtime_s: float
    big_m: float | None = None
    protected: tuple[str, ...] = ()
    trace: tuple[dict, ...] = field(default=(), repr=False)

    @property
    def lost_fraction(self) -> float:
        return self.shed_mw / self.demand_mw if self.demand_mw > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "assets": list(self.assets),
            "shed_mw": float(self.shed_mw),
            "weighted_shed": float(self.weighted_shed),
            "demand_mw": float(self.demand_mw),
            "lost_fraction": float(self.lost_fraction),
            "k": int(self.k),
            "method": self.method,
            "optimal": bool(self.optimal),
            "bound": float(self.bound) if np.isfinite(self.bound) else None,
            "single_shed_mw": [float(x) for x in self.single_shed_mw],
            "n_candidates": int(self.n_candidates),
            "evaluations": int(self.evaluations),
            "runtime_s": float(self.runtime_s),
            "big_m": None if self.big_m is None else float(self.big_m),
            "protected": list(self.protected),
        }

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {"asset": list(self.assets), "single_shed_mw": list(self.single_shed_mw)}
        ).assign(set_shed_mw=self.shed_mw, method=self.method, optimal=self.optimal).set_index("asset")


# --------------------------------------------------------------------------------------------
# MILP
# --------------------------------------------------------------------------------------------


@dataclass
class _MilpSolution:
    chosen: list[int]
    objective: float
    bound: float
    optimal: bool
    at_bound: bool


def _interdiction_milp(
    model: ShedModel,
    assets: Sequence[Asset],
    k: float,
    m: float,
    costs: np.ndarray | None = None,
    time_limit: float | None = None,
    forbidden: Sequence[int] = (),
    start: Sequence[int] | None = None,
) -> _MilpSolution:
    net = model.net
    nb, nl, ng = net.nb, net.br.size, net.gen.size
    na = len(assets)
    wmax = max(float(net.w.max()) if net.w.size else 1.0, 1e-9)
    mp = m * wmax
    mb = 4 * mp
    mr = 6 * mp
    # which LP branches / gens can be interdicted, and by which assets
    brpos, gpos = model._brpos, model._gpos
    br_of: dict[int, list[int]] = {}
    g_of: dict[int, list[int]] = {}
    for ai, a in enumerate(assets):
        for r in a.branches:
            p = int(brpos[r])
            if p >= 0:
                br_of.setdefault(p, []).append(ai)
        for r in a.gens:
            p = int(gpos[r])
            if p >= 0:
                g_of.setdefault(p, []).append(ai)
    li = np.array(sorted(br_of), dtype=np.int64)
    gi = np.array(sorted(g_of), dtype=np.int64)
    rated = np.isfinite(net.rate)
    rr = np.flatnonzero(rated)                      # rated LP branches
    rpos = np.full(nl, -1)
    rpos[rr] = np.arange(rr.size)
    ri = li[rated[li]]                              # interdictable rated branches
    pos_pd = np.flatnonzero(net.pd > 0)
    neg_pd = np.flatnonzero(net.pd < 0)
    nli, nri, ngi = li.size, ri.size, gi.size
    # column offsets
    sizes = dict(pi=nb, beta=nl, rp=rr.size, rm=rr.size, q=ng, t=pos_pd.size, tn=neg_pd.size,
                 u=nli, v=nri, x=ngi, zb=nli, zg=ngi, y=na)
    off: dict[str, int] = {}
    c = 0
    for key, n in sizes.items():
        off[key] = c
        c += n
    ncol = c
    R: list[np.ndarray] = []
    C: list[np.ndarray] = []
    V: list[np.ndarray] = []
    rlo: list[np.ndarray] = []
    rhi: list[np.ndarray] = []
    nrow = 0

    def add(rows, cols, vals):
        R.append(np.asarray(rows, dtype=np.int64))
        C.append(np.asarray(cols, dtype=np.int64))
        V.append(np.asarray(vals, dtype=float))

    def rows_block(n, lo, hi):
        nonlocal nrow
        r0 = nrow
        nrow += n
        rlo.append(np.broadcast_to(np.asarray(lo, dtype=float), (n,)).copy())
        rhi.append(np.broadcast_to(np.asarray(hi, dtype=float), (n,)).copy())
        return r0

    il = np.arange(nl)
    b = net.b  # p.u. susceptance (row scaling only)
    # theta rows: sum_l A_nl b_l (beta_l - u_l) = 0
    r0 = rows_block(nb, 0.0, 0.0)
    add(r0 + net.f, off["beta"] + il, b)
    add(r0 + net.t, off["beta"] + il, -b)
    ii = np.arange(nli)
    add(r0 + net.f[li], off["u"] + ii, -b[li])
    add(r0 + net.t[li], off["u"] + ii, b[li])
    # flow rows: pi_f - pi_t - beta_l - rho+ + rho- = 0
    r0 = rows_block(nl, 0.0, 0.0)
    add(r0 + il, off["pi"] + net.f, np.ones(nl))
    add(r0 + il, off["pi"] + net.t, -np.ones(nl))
    add(r0 + il, off["beta"] + il, -np.ones(nl))
    add(r0 + rr, off["rp"] + np.arange(rr.size), -np.ones(rr.size))
    add(r0 + rr, off["rm"] + np.arange(rr.size), np.ones(rr.size))
    # generator rows: q_g - pi_bus >= 0
    r0 = rows_block(ng, 0.0, np.inf)
    add(r0 + np.arange(ng), off["q"] + np.arange(ng), np.ones(ng))
    add(r0 + np.arange(ng), off["pi"] + net.gbus, -np.ones(ng))
    # load rows: t_d - pi_bus >= -w_d ; tn_d + pi_bus >= 0
    n = pos_pd.size
    r0 = rows_block(n, -net.w[pos_pd], np.inf)
    add(r0 + np.arange(n), off["t"] + np.arange(n), np.ones(n))
    add(r0 + np.arange(n), off["pi"] + net.lbus[pos_pd], -np.ones(n))
    n = neg_pd.size
    r0 = rows_block(n, 0.0, np.inf)
    add(r0 + np.arange(n), off["tn"] + np.arange(n), np.ones(n))
    add(r0 + np.arange(n), off["pi"] + net.lbus[neg_pd], np.ones(n))
    # u = z beta (exact for binary z and |beta| <= mb)
    u, zb, be = off["u"] + ii, off["zb"] + ii, off["beta"] + li
    for sgn_u, sgn_b, sgn_z, lo, hi in ((1, 0, -mb, -np.inf, 0.0), (1, 0, mb, 0.0, np.inf),
                                         (1, -1, mb, -np.inf, mb), (1, -1, -mb, -mb, np.inf)):
        r0 = rows_block(nli, lo, hi)
        add(r0 + ii, u, np.full(nli, float(sgn_u)))
        if sgn_b:
            add(r0 + ii, be, np.full(nli, float(sgn_b)))
        add(r0 + ii, zb, np.full(nli, float(sgn_z)))
    # v <= rho+ + rho-, v <= 2 mr z   (v = z rho at the optimum; objective +F v)
    jj = np.arange(nri)
    zpos = np.searchsorted(li, ri)
    r0 = rows_block(nri, -np.inf, 0.0)
    add(r0 + jj, off["v"] + jj, np.ones(nri))
    add(r0 + jj, off["rp"] + rpos[ri], -np.ones(nri))
    add(r0 + jj, off["rm"] + rpos[ri], -np.ones(nri))
    r0 = rows_block(nri, -np.inf, 0.0)
    add(r0 + jj, off["v"] + jj, np.ones(nri))
    add(r0 + jj, off["zb"] + zpos, np.full(nri, -2 * mr))
    # x <= q, x <= mp z
    gg = np.arange(ngi)
    r0 = rows_block(ngi, -np.inf, 0.0)
    add(r0 + gg, off["x"] + gg, np.ones(ngi))
    add(r0 + gg, off["q"] + gi, -np.ones(ngi))
    r0 = rows_block(ngi, -np.inf, 0.0)
    add(r0 + gg, off["x"] + gg, np.ones(ngi))
    add(r0 + gg, off["zg"] + gg, np.full(ngi, -mp))
    # z links: z_e >= y_a for a containing e; z_e <= sum y_a
    for zkey, table, elems in (("zb", br_of, li), ("zg", g_of, gi)):
        for j, e in enumerate(elems.tolist()):
            owners = table[e]
            r0 = rows_block(len(owners), 0.0, np.inf)
            add(r0 + np.arange(len(owners)), np.full(len(owners), off[zkey] + j), np.ones(len(owners)))
            add(r0 + np.arange(len(owners)), off["y"] + np.array(owners), -np.ones(len(owners)))
            r0 = rows_block(1, -np.inf, 0.0)
            add([r0], [off[zkey] + j], [1.0])
            add(np.full(len(owners), r0), off["y"] + np.array(owners), -np.ones(len(owners)))
    # budget
    cst = np.ones(na) if costs is None else np.asarray(costs, dtype=float)
    r0 = rows_block(1, -np.inf, float(k))
    add(np.full(na, r0), off["y"] + np.arange(na), cst)

    a = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(nrow, ncol))
    cost = np.zeros(ncol)
    cost[off["pi"]:off["pi"] + nb] = net.demand
    cost[off["beta"]:off["beta"] + nl] = net.pfs
    cost[off["u"]:off["u"] + nli] = -net.pfs[li]
    cost[off["rp"]:off["rp"] + rr.size] = -net.rate[rr]
    cost[off["rm"]:off["rm"] + rr.size] = -net.rate[rr]
    cost[off["v"]:off["v"] + nri] = net.rate[ri]
    cost[off["q"]:off["q"] + ng] = -net.pmax
    cost[off["x"]:off["x"] + ngi] = net.pmax[gi]
    cost[off["t"]:off["t"] + pos_pd.size] = -net.pd[pos_pd]
    cost[off["tn"]:off["tn"] + neg_pd.size] = net.pd[neg_pd]
    lo = np.zeros(ncol)
    hi = np.full(ncol, np.inf)
    lo[off["pi"]:off["pi"] + nb], hi[off["pi"]:off["pi"] + nb] = -mp, mp
    lo[off["beta"]:off["beta"] + nl], hi[off["beta"]:off["beta"] + nl] = -mb, mb
    hi[off["rp"]:off["rm"] + rr.size] = mr
    hi[off["q"]:off["q"] + ng] = mp
    lo[off["u"]:off["u"] + nli], hi[off["u"]:off["u"] + nli] = -mb, mb
    hi[off["x"]:off["x"] + ngi] = mp
    hi[off["zb"]:off["zg"] + ngi] = 1.0
    hi[off["y"]:off["y"] + na] = 1.0
    for j in forbidden:
        hi[off["y"] + j] = 0.0
    integ = np.zeros(ncol, dtype=int)
    integ[off["y"]:off["y"] + na] = 1
    h = _highs()
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.setOptionValue("mip_abs_gap", 1e-6)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    pass_model(h, cost, lo, hi, a, np.concatenate(rlo), np.concatenate(rhi), integ, maximize=True)
    if start is not None:
        ys = np.zeros(na)
        ys[list(start)] = 1.0
        idx = (off["y"] + np.arange(na)).astype(np.int32)
        try:
            h.setSolution(int(na), idx, ys)
        except Exception:  # pragma: no cover - older highspy without sparse solutions
            pass
    h.run()
    import highspy

    status = h.getModelStatus()
    info = h.getInfo()
    if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit,
                      highspy.HighsModelStatus.kInterrupt) or info.primal_solution_status == 0:
        raise GridshieldError(f"interdiction MILP not solved: {h.modelStatusToString(status)}")
    x = np.asarray(h.getSolution().col_value)
    chosen = [j for j in range(na) if x[off["y"] + j] > 0.5]
    pi = x[off["pi"]:off["pi"] + nb]
    at_bound = bool(np.any(np.abs(pi) > mp * (1 - 1e-7)))
    return _MilpSolution(
        chosen=chosen, objective=float(info.objective_function_value), bound=float(info.mip_dual_bound),
        optimal=status == highspy.HighsModelStatus.kOptimal, at_bound=at_bound,
    )


# --------------------------------------------------------------------------------------------
# enumeration and heuristic
# --------------------------------------------------------------------------------------------


def enumerate_sets(
    model: ShedModel,
    assets: Sequence[Asset],
    k: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every k-set of ``assets``: ``(index sets (n x k), weighted shed, MW shed)``."""
    combos = np.array(list(itertools.combinations(range(len(assets)), k)), dtype=np.int64).reshape(-1, k)
    wv = np.empty(len(combos))
    mw = np.empty(len(combos))
    for i, cmb in enumerate(combos):
        wv[i], mw[i] = model.evaluate(assets[j] for j in cmb)
        if progress is not None and i % 256 == 0:
            progress(i)
    return combos, wv, mw


def _greedy_local(
    model: ShedModel, assets: Sequence[Asset], k: int, pool: int | None = None, max_rounds: int = 50,
    forbidden: Sequence[int] = (),
) -> tuple[list[int], float]:
    na = len(assets)
    allowed = np.ones(na, dtype=bool)
    allowed[list(forbidden)] = False
    single = np.full(na, -np.inf)
    for j in np.flatnonzero(allowed):
        single[j] = model.evaluate([assets[j]])[0]
    # ties (often: nothing shed by any single loss in a meshed grid) are broken by the MW the
    # asset carries in the base case (|flow| of its branches + Pmax of its generators)
    proxy = model.asset_size(assets)
    score = single * (1.0 + proxy.max()) + proxy
    order = np.argsort(-score, kind="stable")
    order = order[allowed[order]]
    cand = order if pool is None else order[:pool]
    seeds: list[tuple[float, list[int]]] = [(-np.inf, [])]
    small = model.net.nb <= 1000
    if k >= 2 and cand.size >= 2:
        # seeds: the best pairs among the strongest assets (single losses miss pair effects), as
        # many of the strongest as ~2,000 pair evaluations allow (300 on grids > 1,000 buses)
        budget = 2000 if small else 300
        top = cand[: min(cand.size, max(16, int(np.sqrt(2 * budget))))].tolist()
        pairs = [(model.evaluate([assets[a_], assets[b_]])[0], [a_, b_]) for a_, b_ in itertools.combinations(top, 2)]
        pairs.sort(key=lambda x: -x[0])
        seeds = pairs[: (8 if small else 2) if k >= 3 else 1]
    best_set: list[int] = []
    best_val = -np.inf
    for value, chosen in seeds:
        chosen = list(chosen)
        for _ in range(min(k, cand.size) - len(chosen)):
            best, best_j = -np.inf, -1
            for j in cand.tolist():
                if j in chosen:
                    continue
                v = model.evaluate([assets[i] for i in chosen + [j]])[0]
                if v > best + 1e-9:
                    best, best_j = v, j
            chosen.append(best_j)
            value = best
        # 1-swap local search (first improvement over the pool)
        for _ in range(max_rounds):
            improved = False
            for pos in range(len(chosen)):
                for j in cand.tolist():
                    if j in chosen:
                        continue
                    trial = chosen.copy()
                    trial[pos] = j
                    v = model.evaluate([assets[i] for i in trial])[0]
                    if v > value + 1e-6:
                        chosen, value, improved = trial, v, True
            if not improved:
                break
        if value > best_val + 1e-9:
            best_set, best_val = chosen, value
    chosen, value = best_set, best_val
    return chosen, value


def worst_case(
    grid: Grid,
    k: int = 3,
    candidates: Sequence[str] | None = None,
    method: str = "auto",
    elements: Sequence[str] = ("branches", "gens"),
    weights=None,
    protected: Sequence[str] = (),
    big_m: float = 20.0,
    time_limit_s: float | None = None,
    pool: int | None = None,
    model: ShedModel | None = None,
) -> WorstCaseResult:
    """The k assets whose loss makes the operator shed the most load (DC interdiction).

    Parameters
    ----------
    grid
        The grid.
    k
        Number of assets the attacker removes.
    candidates
        Asset ids the attacker may choose from (``branch:..``, ``gen:..``, ``bus:..``,
        ``site:..``); default: every in-service element of the kinds in ``elements``.
    method
        ``"milp"`` (exact, Salmeron–Wood–Baldick interdiction MILP), ``"enumerate"`` (brute
        force), ``"heuristic"`` (greedy + 1-swap local search) or ``"auto"`` (enumeration when
        there are at most 5,000 k-sets, else the MILP up to 3,000 buses, else the heuristic).
    elements
        Kinds of default candidates: any of ``"branches"``, ``"gens"``, ``"sites"``.
    weights
        Cost per MW shed (``None``: 1; a dict by priority class; an array per load).
    protected
        Asset ids that cannot be removed (protected sites/assets in a defender–attacker–defender
        plan).
    big_m
        Multiplier of the largest weight bounding the nodal prices in the MILP (see the module
        docstring); raised automatically when it binds.
    time_limit_s
        Time limit of the MILP, all its big-M rounds together; the result then says
        ``optimal=False`` and gives the bound.
    pool
        Heuristic: restrict the search to the ``pool`` assets with the largest loss alone.

    Returns
    -------
    WorstCaseResult
    """
    t0 = time.perf_counter()
    if k < 1:
        raise GridshieldError(f"k must be at least 1, got {k}")
    if method not in ("auto", "milp", "enumerate", "heuristic"):
        raise GridshieldError(f"method {method!r}: use auto, milp, enumerate or heuristic")
    model = model or ShedModel(grid, weights)
    assets = as_assets(grid, candidates, elements)
    if not assets:
        raise GridshieldError("no candidate assets to remove")
    ids = [a.id for a in assets]
    prot = set(protected)
    unknown = prot - set(ids)
    for p in unknown:
        grid.locate(p)  # raises UnknownAssetError for a bad id
    forbidden = [j for j, a in enumerate(assets) if a.id in prot]
    kk = min(k, len(assets) - len(forbidden))
    if method == "auto":
        n_sets = math.comb(len(assets) - len(forbidden), kk)
        method = "enumerate" if n_sets <= 5000 else "milp" if len(grid.buses) <= 3000 else "heuristic"
    n0 = model.n_evaluations
    base = model.evaluate([])[0]
    trace: list[dict] = []
    m_used: float | None = None
    if method == "milp":
        m = big_m
        start = None
        if len(assets) <= 400:
            start, _ = _greedy_local(model, assets, kk, pool=40, forbidden=forbidden)
        for _attempt in range(4):
            left = None if time_limit_s is None else max(1.0, time_limit_s - (time.perf_counter() - t0))
            sol = _interdiction_milp(model, assets, kk, m, time_limit=left, forbidden=forbidden, start=start)
            chosen = sol.chosen
            true_w = model.evaluate([assets[j] for j in chosen])[0]
            trace.append({"big_m": m, "milp": sol.objective, "primal": true_w, "at_bound": sol.at_bound})
            if true_w <= sol.objective + 1e-5 * max(1.0, abs(true_w)):
                break
            m *= 10
        m_used = m
        optimal, bound, value = sol.optimal, max(sol.bound, true_w), true_w
    elif method == "enumerate":
        allowed = [a for j, a in enumerate(assets) if j not in set(forbidden)]
        idx = [j for j in range(len(assets)) if j not in set(forbidden)]
        combos, wv, _ = enumerate_sets(model, allowed, kk)
        best = int(np.argmax(wv))
        chosen = [idx[j] for j in combos[best]]
        value, optimal, bound = float(wv[best]), True, float(wv[best])
    else:
        chosen, value = _greedy_local(model, assets, kk, pool=pool, forbidden=forbidden)
        optimal, bound = False, float("inf")
    # a set with nothing shed is padded by nothing: drop assets that add nothing when the value is the base
    value_w, shed_mw = model.evaluate([assets[j] for j in chosen])
    singles = [model.evaluate([assets[j]])[1] for j in chosen]
    order = np.argsort(-np.asarray(singles), kind="stable")
    res = WorstCaseResult(
        assets=tuple(ids[chosen[i]] for i in order),
        shed_mw=shed_mw,
        weighted_shed=value_w,
        demand_mw=float(np.sum(np.maximum(model.net.pd, 0))),
        k=int(k),
        method=method,
        optimal=bool(optimal),
        bound=float(bound if optimal is False or method != "enumerate" else value_w),
        single_shed_mw=tuple(float(singles[i]) for i in order),
        n_candidates=len(assets),
        evaluations=model.n_evaluations - n0,
        runtime_s=time.perf_counter() - t0,
        big_m=m_used,
        protected=tuple(sorted(prot)),
        trace=tuple(trace),
    )
    del base, value
    return res


@dataclass(frozen=True)
class PairsResult:
    """Load shed after every pair of candidate assets (N-2), largest first.

    ``pruned[i]`` is True when the pair was settled without the LP: its post-outage DC flows at
    the pre-strike dispatch stay within the limits and the grid stays whole, so the operator
    sheds nothing.
    """

    pairs: tuple[tuple[str, str], ...]
    shed_mw: np.ndarray
    weighted_shed: np.ndarray
    pruned: np.ndarray
    n_lp: int
    runtime_s: float

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"first": [p[0] for p in self.pairs], "second": [p[1] for p in self.pairs],
                             "shed_mw": self.shed_mw, "weighted_shed": self.weighted_shed, "pruned": self.pruned})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "n2_pairs", "n_pairs": len(self.pairs), "n_lp": int(self.n_lp), "runtime_s": float(self.runtime_s),
                "pairs": [{"assets": list(p), "shed_mw": float(v), "weighted_shed": float(w), "pruned": bool(q)}
                          for p, v, w, q in zip(self.pairs, self.shed_mw, self.weighted_shed, self.pruned, strict=True)]}


def all_pairs(
    grid: Grid,
    candidates: Sequence[str] | None = None,
    elements: Sequence[str] = ("branches", "gens"),
    weights=None,
    model: ShedModel | None = None,
    chunk: int = 512,
) -> PairsResult:
    """Every pair of candidate assets (N-2) with the load the operator must shed, with pruning.

    Pairs of branches are first screened with the generalised LODF
    (:func:`gridshield.flow.sensitivity.multi_outage_flows`, Guler et al. 2007) at the
    pre-strike dispatch: a pair that neither overloads a branch nor splits the grid sheds
    nothing (the pre-strike dispatch stays feasible), so the LP runs only for the others. Pairs
    involving generators always go to the LP. Meant for grids up to a few hundred buses.
    """
    from gridshield.flow.sensitivity import multi_outage_flows

    t0 = time.perf_counter()
    model = model or ShedModel(grid, weights)
    assets = as_assets(grid, candidates, elements)
    combos = list(itertools.combinations(range(len(assets)), 2))
    n = len(combos)
    pruned = np.zeros(n, dtype=bool)
    g = grid.gens
    dispatch_ok = bool(np.all((g.p_mw >= -1e-9) & (g.p_mw <= g.p_max_mw + 1e-9) | ~g.in_service))
    base_w, _ = model.evaluate([])
    br_only = [i for i, (a, b) in enumerate(combos)
               if not assets[a].gens and not assets[b].gens and len(assets[a].branches) == 1 and len(assets[b].branches) == 1]
    if dispatch_ok and base_w <= 1e-9 and br_only:
        for c0 in range(0, len(br_only), chunk):
            idx = br_only[c0:c0 + chunk]
            sets = [[assets[combos[i][0]].branches[0], assets[combos[i][1]].branches[0]] for i in idx]
            mo = multi_outage_flows(grid, sets, keep_flows=False)
            ok = (mo.n_overloads == 0) & ~np.asarray(mo.islanding, dtype=bool)
            pruned[np.asarray(idx)[ok]] = True
    wv = np.zeros(n)
    mw = np.zeros(n)
    n_lp = 0
    for i, (a, b) in enumerate(combos):
        if pruned[i]:
            continue
        wv[i], mw[i] = model.evaluate([assets[a], assets[b]])
        n_lp += 1
    order = np.argsort(-wv, kind="stable")
    return PairsResult(
        pairs=tuple((assets[combos[i][0]].id, assets[combos[i][1]].id) for i in order.tolist()),
        shed_mw=mw[order], weighted_shed=wv[order], pruned=pruned[order], n_lp=n_lp,
        runtime_s=time.perf_counter() - t0,
    )


__all__ = ["PairsResult", "WorstCaseResult", "all_pairs", "enumerate_sets", "worst_case"]
