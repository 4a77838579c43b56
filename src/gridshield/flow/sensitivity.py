"""DC sensitivities: PTDF, LODF and post-outage flows for batches of single and multiple outages.

Everything here reuses one factorisation of the reduced DC susceptance matrix
(:class:`gridshield.flow.dc.DcSolver`) and is island-safe:

* ``PTDF = Bf B^-1`` with each island's reference bus as slack (its column is 0); entries
  across islands are 0; dark islands (no generation) have zero rows and columns.
* ``LODF[:, k] = H[:, k] / (1 - H[k, k])`` with ``H = PTDF Cft`` (Wood & Wollenberg). An
  outage that splits its island (a graph bridge, ``1 - H[k, k] = 0``) is *flagged* as
  islanding with the buses it isolates; its LODF column is 0 (diagonal -1), never NaN/inf.
* :func:`outage_flows` gives post-outage flows for a batch of single-branch outages without a
  dense n_branch x n_branch matrix: for a chunk of outages it solves ``B X = (e_f - e_t)`` (one
  column per outage) and post-processes each column in a fused, compiled kernel (flows, maximum
  loading, overloads). Memory is bounded by the chunk size. Islanding outages are solved exactly
  as a fresh DC power flow with the branch removed would: the side that keeps the island's
  reference is balanced by its slack; the isolated side is dark when it has no generation, else
  it becomes an island with its own reference (the case's type-3 bus, else its largest
  generator) whose slack absorbs the lost exchange. In injection form the outage of bridge
  ``u -> v`` (``v`` on the isolated side, flow ``p_uv``) equals the injection change
  ``p_uv (e_u - e_v + e_s2)`` on the intact network.
* :func:`multi_outage_flows` handles k branches at once with the k x k Woodbury system
  ``f' = f + H_K (I - H_KK)^-1 f_K`` (Guler, Gross & Liu 2007, generalised LODF); a set that
  splits an island (singular ``I - H_KK``) is solved on the intact factorisation too: each
  cut-off part gets its own slack (or goes dark) as an injection change, and the outaged
  branches are removed by a consistent least-squares compensation (see
  :func:`_split_set_flows`).

References: A. J. Wood, B. F. Wollenberg, *Power Generation, Operation and Control*, ch. on
sensitivity factors; T. Guler, G. Gross, M. Liu, "Generalized line outage distribution
factors", IEEE Trans. Power Syst. 22(2), 2007.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import depth_first_order

from gridshield.errors import GridValidationError
from gridshield.flow.dc import DcResult, DcSolver, bus_injection_mw
from gridshield.flow.matrices import DcConvention
from gridshield.grid.model import Grid
from gridshield.topology import bridges

#: |1 - H_kk| below this is treated as a split (bridge) even if the graph test missed it.
_SINGULAR_TOL = 1e-9

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _solver(grid: Grid, convention: DcConvention, solver: DcSolver | None) -> DcSolver:
    if solver is None:
        return DcSolver(grid, convention)
    if solver.grid is not grid:
        raise GridValidationError("the DcSolver passed as solver= was built for another grid; build one for this grid")
    return solver


def _rows(grid: Grid, items: Iterable[int | str] | None, table: str) -> np.ndarray:
    """Row indices from ids (``'branch:12'``) or row numbers; all rows when ``items`` is None."""
    tab = getattr(grid, table)
    n = len(tab)
    if items is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(items, np.ndarray) and items.dtype.kind in "iu":
        rows = items.astype(np.int64)
    elif isinstance(items, np.ndarray) and items.dtype == bool:
        if items.shape != (n,):
            raise GridValidationError(f"{table} mask has shape {items.shape}; expected ({n},)")
        return np.flatnonzero(items)
    else:
        rows = np.array([tab.row(x) if isinstance(x, str) else int(x) for x in items], dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        bad = rows[(rows < 0) | (rows >= n)][0]
        raise GridValidationError(f"{table} row {bad} is out of range 0..{n - 1}")
    return rows


def _base_injection(solver: DcSolver, base: Any) -> np.ndarray:
    """Bus injections (MW) of the base case: the grid's dispatch, a DcResult or a vector."""
    grid = solver.grid
    if base is None:
        return bus_injection_mw(grid, None, solver.gen_on)
    if isinstance(base, DcResult):
        return bus_injection_mw(grid, base.gen_p_mw, solver.gen_on)
    p = np.asarray(base, dtype=float)
    if p.shape != (len(grid.buses),):
        raise GridValidationError(
            f"base must be None, a DcResult or bus injections in MW of shape ({len(grid.buses)},); got {p.shape}"
        )
    return p


def _ratings(grid: Grid, rating: str | np.ndarray) -> np.ndarray:
    if isinstance(rating, str):
        col = {"rate_a": "rate_a_mva", "rate_b": "rate_b_mva", "rate_c": "rate_c_mva"}.get(rating)
        if col is None:
            raise GridValidationError(f"rating={rating!r}: use 'rate_a', 'rate_b', 'rate_c' or an array in MVA")
        return np.asarray(getattr(grid.branches, col), dtype=float)
    r = np.asarray(rating, dtype=float)
    if r.shape != (len(grid.branches),):
        raise GridValidationError(f"rating array has shape {r.shape}; expected ({len(grid.branches)},)")
    return r


# ---------------------------------------------------------------------------------------------
# islanding (bridge) information, cached per solver
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _subtree_sizes(order: np.ndarray, pred: np.ndarray, nb: int) -> np.ndarray:  # pragma: no cover - compiled
    size = np.ones(nb + 1, dtype=np.int64)
    for i in range(order.size - 1, 0, -1):
        v = order[i]
        p = pred[v]
        if p >= 0:
            size[p] += size[v]
    return size


@dataclass(frozen=True)
class _SplitInfo:
    is_bridge: np.ndarray  # per branch
    pre: np.ndarray  # preorder position per bus (DFS from each island's reference)
    order: np.ndarray  # buses in preorder
    size: np.ndarray  # subtree size per bus
    pred: np.ndarray  # DFS parent per bus (-1 at roots)
    load_cum: np.ndarray  # prefix sums of in-service load over the preorder (MW)


def _split_info(solver: DcSolver) -> _SplitInfo:
    cached = solver._cache.get("split")
    if cached is not None:
        return cached
    grid = solver.grid
    br = grid.branches
    nb = len(grid.buses)
    lon = solver.branch_on
    is_bridge = bridges(grid, lon)
    # adjacency plus a virtual root (index nb) tied to each island's root, so one DFS covers all
    label = solver.island
    roots = []
    for i in range(solver.n_islands):
        r = solver.ref_bus[i]
        roots.append(int(r) if r >= 0 else -1)
    first = np.full(solver.n_islands, -1, dtype=np.int64)
    on = np.flatnonzero(label >= 0)
    _, idx = np.unique(label[on], return_index=True)
    first[label[on][idx]] = on[idx]
    roots_arr = np.where(np.array(roots, dtype=np.int64) >= 0, np.array(roots, dtype=np.int64), first)
    f, t = br.from_bus[lon], br.to_bus[lon]
    rr = np.full(roots_arr.size, nb, dtype=np.int64)
    adj = sp.csr_matrix(
        (np.ones(f.size + rr.size, dtype=np.int8), (np.r_[f, rr], np.r_[t, roots_arr])), shape=(nb + 1, nb + 1)
    )
    order, pred = depth_first_order(adj, nb, directed=False, return_predecessors=True)
    pred = pred.astype(np.int64)
    pred[pred < 0] = -1
    size = _subtree_sizes(order.astype(np.int64), pred, nb)
    pred = pred[:nb].copy()
    pred[pred == nb] = -1
    order = order[1:].astype(np.int64)  # drop the virtual root
    pre = np.full(nb, -1, dtype=np.int64)
    pre[order] = np.arange(order.size)
    ld = grid.loads
    bon = grid.buses.in_service
    lmask = ld.in_service & bon[ld.bus] if len(ld) else np.zeros(0, bool)
    load_bus = np.bincount(ld.bus[lmask], weights=ld.p_mw[lmask], minlength=nb) if len(ld) else np.zeros(nb)
    load_cum = np.r_[0.0, np.cumsum(load_bus[order])]
    info = _SplitInfo(is_bridge=is_bridge, pre=pre, order=order, size=size[:nb], pred=pred, load_cum=load_cum)
    solver._cache["split"] = info
    return info


@dataclass(frozen=True)
class _Bridge:
    near: int  # bus on the side that keeps the reference
    far: int  # bus on the isolated side
    lo: int  # isolated buses = order[lo:hi]
    hi: int
    new_ref: int  # reference of the isolated side, -1 when it is dark


def _bridge_split(solver: DcSolver, info: _SplitInfo, k: int) -> _Bridge:
    """Which side of bridge ``k`` is isolated, and its new reference (if it has generation)."""
    br = solver.grid.branches
    f, t = int(br.from_bus[k]), int(br.to_bus[k])
    child, parent = (t, f) if info.pred[t] == f else (f, t)
    lo = int(info.pre[child])
    hi = lo + int(info.size[child])
    new_ref = _island_reference(solver, info, lo, hi)
    return _Bridge(near=parent, far=child, lo=lo, hi=hi, new_ref=new_ref)


def _island_reference(solver: DcSolver, info: _SplitInfo, lo: int, hi: int) -> int:
    """Reference bus of the island formed by ``order[lo:hi]`` (same rule as :class:`DcSolver`)."""
    g = solver.grid.gens
    gcache = solver._cache.get("gens_by_pre")
    if gcache is None:
        rows = np.flatnonzero(solver.gen_on)
        gpre = info.pre[g.bus[rows]]
        o = np.argsort(gpre, kind="stable")
        gcache = (rows[o], gpre[o])
        solver._cache["gens_by_pre"] = gcache
    grows, gpre = gcache
    a, b = np.searchsorted(gpre, [lo, hi])
    if a == b:
        return -1
    cand = grows[a:b]
    buses = g.bus[cand]
    is3 = solver.grid.buses.type[buses] == 3
    if is3.any():
        return int(buses[is3].min())
    best = np.lexsort((cand, -g.p_mw[cand], -g.p_max_mw[cand]))[0]
    return int(buses[best])


# ---------------------------------------------------------------------------------------------
# PTDF
# ---------------------------------------------------------------------------------------------


def ptdf(
    grid: Grid,
    branches: Iterable[int | str] | None = None,
    buses: Iterable[int | str] | None = None,
    *,
    convention: DcConvention = "matpower",
    solver: DcSolver | None = None,
    chunk: int = 512,
    max_bytes: float = 2e9,
) -> np.ndarray:
    """Power transfer distribution factors (MW of branch flow per MW injected, withdrawn at the
    island's reference bus).

    Parameters
    ----------
    grid
        The grid.
    branches, buses
        Rows (or ids) of the branches (matrix rows) and buses (columns) wanted; all by default.
        For big grids ask only for what you need: the cost is one sparse solve per row or per
        column, whichever set is smaller.
    convention
        DC convention (see :func:`gridshield.solve_dc`).
    solver
        A :class:`DcSolver` of this grid to reuse its factorisation.
    chunk
        Right-hand sides per solve (bounds the working memory).
    max_bytes
        Refuse to build a dense result larger than this (raises with a hint).

    Returns
    -------
    numpy.ndarray
        ``(n_branches, n_buses)`` dense matrix; columns of reference and dark buses and rows of
        out-of-service or dark branches are 0. Equals MATPOWER's ``makePTDF`` with the
        reference bus as slack.
    """
    s = _solver(grid, convention, solver)
    rows = _rows(grid, branches, "branches")
    cols = _rows(grid, buses, "buses")
    nbytes = 8.0 * rows.size * cols.size
    if nbytes > max_bytes:
        raise GridValidationError(
            f"a dense PTDF of {rows.size} x {cols.size} needs {nbytes / 1e9:.1f} GB; pass branches= and/or buses= "
            "to select rows/columns, or use outage_flows() for post-outage flows"
        )
    if rows.size <= cols.size:
        out = np.zeros((rows.size, cols.size))
        bf_red = s.mats.bf[:, s.pvpq].tocsr()
        # rows: PTDF[m, :] = (B^-1 Bf[m, :]^T)^T, B symmetric
        colpos = s.red_index[cols]
        ok = colpos >= 0
        for a in range(0, rows.size, chunk):
            r = rows[a : a + chunk]
            rhs = bf_red[r].T.toarray()
            x = s.lu.solve(np.asfortranarray(rhs))
            out[a : a + chunk][:, ok] = x[colpos[ok]].T
    else:
        # columns: PTDF[:, j] = b_m (theta_f - theta_t) with theta = B^-1 e_j, into an F-order result
        out = np.zeros((rows.size, cols.size), order="F")
        n = s.pvpq.size
        pf_n, pt_n, b = _positions(s, rows)
        handle, block = s.lu.buffer(min(chunk, cols.size))
        for a in range(0, cols.size, chunk):
            c = cols[a : a + chunk]
            pos = s.red_index[c]
            jj = np.flatnonzero(pos >= 0)
            if jj.size == 0:
                continue
            block[:, : c.size] = 0.0
            block[pos[jj], jj] = 1.0
            x = s.lu.solve_buffer(handle, c.size) if n else np.zeros((0, c.size))
            _delta_kernel(x, c.size, pf_n, pt_n, b, out[:, a : a + c.size])
    return out


def _positions(s: DcSolver, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduced positions of the ends of branches ``rows`` (n = the zero slot) and their b (p.u.)."""
    br = s.grid.branches
    n = s.pvpq.size
    pos_n = np.where(s.red_index >= 0, s.red_index, n)
    return pos_n[br.from_bus[rows]], pos_n[br.to_bus[rows]], s.b[rows].astype(float)


@njit(cache=True)
def _delta_kernel(x, c, pf, pt, b, out):  # pragma: no cover - compiled
    """out[m, j] = b[m] (x[pf[m], j] - x[pt[m], j]) for j < c; position n reads as 0."""
    n = x.shape[0]
    xj = np.zeros(n + 1)
    for j in range(c):
        for i in range(n):
            xj[i] = x[i, j]
        for m in range(pf.size):
            out[m, j] = b[m] * (xj[pf[m]] - xj[pt[m]])


# ---------------------------------------------------------------------------------------------
# LODF
# ---------------------------------------------------------------------------------------------


def _outage_columns(s: DcSolver, ks: np.ndarray) -> np.ndarray:
    """Solve ``B X = e_f - e_t`` for outages ``ks`` (reduced space, F-order)."""
    br = s.grid.branches
    n = s.pvpq.size
    rhs = np.zeros((n, ks.size), order="F")
    j = np.arange(ks.size)
    pf, pt = s.red_index[br.from_bus[ks]], s.red_index[br.to_bus[ks]]
    live = s.branch_live[ks]
    m = live & (pf >= 0)
    rhs[pf[m], j[m]] += 1.0
    m = live & (pt >= 0)
    rhs[pt[m], j[m]] -= 1.0
    return s.lu.solve(rhs)


def _branch_delta(s: DcSolver, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``b_m (theta_f - theta_t)`` for branches ``rows`` and solution columns ``x`` (reduced)."""
    br = s.grid.branches
    xf = np.vstack([x, np.zeros((1, x.shape[1]))])  # index -1 -> zero row
    pf, pt = s.red_index[br.from_bus[rows]], s.red_index[br.to_bus[rows]]
    return s.b[rows][:, None] * (xf[pf] - xf[pt])


@dataclass(frozen=True)
class LodfResult:
    """Line outage distribution factors.

    Attributes
    ----------
    matrix
        ``(n_monitored, n_outages)``: change of flow on monitored branch m per MW that outaged
        branch k carried (``f_m' = f_m + matrix[m, k] f_k``). Columns of islanding outages are 0
        with -1 on the outaged branch's own row (use :func:`outage_flows` for their flows).
    outages, monitored
        Branch rows of the columns and rows.
    islanding
        Per outage: True when losing the branch splits its island (a bridge).
    isolated_buses
        Per outage: bus rows cut off from the island's reference (empty if not islanding).
    """

    matrix: np.ndarray
    outages: np.ndarray
    monitored: np.ndarray
    islanding: np.ndarray
    isolated_buses: tuple[np.ndarray, ...]
    branch_ids: np.ndarray
    bus_ids: np.ndarray

    def to_frame(self):
        """The matrix as a DataFrame: rows = monitored branch ids, columns = outage ids."""
        import pandas as pd

        return pd.DataFrame(
            self.matrix,
            index=pd.Index(self.branch_ids[self.monitored], name="monitored"),
            columns=pd.Index(self.branch_ids[self.outages], name="outage"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "lodf",
            "outages": self.branch_ids[self.outages].tolist(),
            "monitored": self.branch_ids[self.monitored].tolist(),
            "matrix": self.matrix.tolist(),
            "islanding": self.islanding.tolist(),
            "isolated_buses": [self.bus_ids[b].tolist() for b in self.isolated_buses],
        }


def lodf(
    grid: Grid,
    outages: Iterable[int | str] | None = None,
    monitored: Iterable[int | str] | None = None,
    *,
    convention: DcConvention = "matpower",
    solver: DcSolver | None = None,
    chunk: int = 256,
    max_bytes: float = 2e9,
) -> LodfResult:
    """Line outage distribution factors, island-safe (dense ``n_monitored x n_outages``).

    For many outages on a big grid, prefer :func:`outage_flows`, which never stores the matrix.
    """
    s = _solver(grid, convention, solver)
    ks = _rows(grid, outages, "branches")
    mon = _rows(grid, monitored, "branches")
    nbytes = 8.0 * ks.size * mon.size
    if nbytes > max_bytes:
        raise GridValidationError(
            f"a dense LODF of {mon.size} x {ks.size} needs {nbytes / 1e9:.1f} GB; select outages=/monitored= "
            "or use outage_flows()"
        )
    info = _split_info(s)
    out = np.zeros((mon.size, ks.size), order="F")
    islanding = info.is_bridge[ks].copy()
    n = s.pvpq.size
    pf_m, pt_m, b_m = _positions(s, mon)
    pf_k, pt_k, b_k = _positions(s, ks)
    live_k = s.branch_live[ks]
    handle, block = s.lu.buffer(min(chunk, max(ks.size, 1)))
    for a in range(0, ks.size, chunk):
        sl = slice(a, min(a + chunk, ks.size))
        c = sl.stop - sl.start
        jj = np.arange(c)
        block[:, :c] = 0.0
        pf, pt, lv = pf_k[sl], pt_k[sl], live_k[sl]
        m = lv & (pf < n)
        block[pf[m], jj[m]] += 1.0
        m = lv & (pt < n)
        block[pt[m], jj[m]] -= 1.0
        x = s.lu.solve_buffer(handle, c) if n else np.zeros((0, c))
        col = out[:, sl]
        _delta_kernel(x, c, pf_m, pt_m, b_m, col)
        xz = np.vstack([x[:, :c], np.zeros((1, c))])
        hkk = b_k[sl] * (xz[pf, jj] - xz[pt, jj])
        den = 1.0 - hkk
        sing = lv & (np.abs(den) < _SINGULAR_TOL)
        islanding[sl] |= sing
        bad = islanding[sl] | ~lv
        col *= 1.0 / np.where(bad, 1.0, den)
        col[:, bad] = 0.0
    # the outaged branch itself loses all its flow: -1 on its own row
    pos = {int(m): i for i, m in enumerate(mon.tolist())}
    for j, k in enumerate(ks.tolist()):
        i = pos.get(int(k))
        if i is not None:
            out[i, j] = -1.0
    iso = tuple(
        info.order[(b := _bridge_split(s, info, int(k))).lo : b.hi].copy() if isl else np.zeros(0, np.int64)
        for k, isl in zip(ks.tolist(), islanding.tolist(), strict=True)
    )
    return LodfResult(
        matrix=out,
        outages=ks,
        monitored=mon,
        islanding=islanding,
        isolated_buses=iso,
        branch_ids=grid.branches.id,
        bus_ids=grid.buses.id,
    )


# ---------------------------------------------------------------------------------------------
# batch single outages
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _grow(a, n):  # pragma: no cover - compiled
    b = np.empty(max(2 * a.size, n), dtype=a.dtype)
    b[: a.size] = a
    return b


@njit(cache=True)
def _post_outage_kernel(  # pragma: no cover - compiled
    x, c, j0, pf_mon, pt_mon, mon_b, f0_mon, inv_lim, kind, kpf, kpt, kb, f0k, mult_in, kmon, lo, hi, pre_mon, thr,
    keep, out, maxload, worst, nover, den_out, o_out, o_mon, o_flow, o_load, n_ov, inv_lim2, maxload2,
):
    """Post-outage flows for one chunk; column j of ``x`` solves B x = rhs_j (reduced space).

    Bus positions ``pf_mon``/``pt_mon``/``kpf``/``kpt`` index the reduced system, with n (= one
    past the end) for references and dark buses (angle change 0).
    kind 1: normal outage, flow change = b_m dtheta_m * f_k / (1 - h_kk);
    kind 2: islanding outage, flow change = b_m dtheta_m * mult_in (the rhs already encodes it);
    kind 0: nothing changes (branch out of service or in a dark island).
    The outaged branch (row kmon[j]) and branches on a dark isolated side (lo <= pre < hi)
    get 0. Each column of ``x`` is zeroed after use so the block can be refilled.
    Violations are appended to the growing arrays o_*; returns them and their count.
    ``maxload2[r, j]`` gets the largest |v| * inv_lim2[r, m] (extra ratings, as a fraction).
    """
    n = x.shape[0]
    n_mon = pf_mon.size
    xj = np.zeros(n + 1)
    for j in range(c):
        for i in range(n):
            xj[i] = x[i, j]
            x[i, j] = 0.0
        mult = 0.0
        if kind[j] == 1:
            den = 1.0 - kb[j] * (xj[kpf[j]] - xj[kpt[j]])
            den_out[j] = den
            if abs(den) > 1e-9:
                mult = f0k[j] / den
        elif kind[j] == 2:
            mult = mult_in[j]
            den_out[j] = 0.0
        else:
            den_out[j] = 1.0
        best = 0.0
        w = -1
        cnt = 0
        if n_ov + n_mon > o_out.size:
            o_out = _grow(o_out, n_ov + n_mon)
            o_mon = _grow(o_mon, n_ov + n_mon)
            o_flow = _grow(o_flow, n_ov + n_mon)
            o_load = _grow(o_load, n_ov + n_mon)
        km = kmon[j]
        dark = lo[j] < hi[j]
        for m in range(n_mon):
            v = f0_mon[m] + mon_b[m] * (xj[pf_mon[m]] - xj[pt_mon[m]]) * mult
            if m == km:
                v = 0.0
            if dark:
                if pre_mon[m] >= lo[j] and pre_mon[m] < hi[j]:
                    v = 0.0
            if keep:
                out[m, j] = v
            for r in range(inv_lim2.shape[0]):
                l2 = abs(v) * inv_lim2[r, m]
                if l2 > maxload2[r, j]:
                    maxload2[r, j] = l2
            ld = abs(v) * inv_lim[m]
            if ld > best:
                best = ld
                w = m
            if ld > thr:
                cnt += 1
                o_out[n_ov] = j0 + j
                o_mon[n_ov] = m
                o_flow[n_ov] = v
                o_load[n_ov] = ld * 100.0
                n_ov += 1
        maxload[j] = best * 100.0
        worst[j] = w
        nover[j] = cnt
    return o_out, o_mon, o_flow, o_load, n_ov


@dataclass(frozen=True)
class OutageFlows:
    """Post-outage DC flows for a batch of outages (single branches or sets of branches).

    Attributes
    ----------
    outages
        Per outage, the branch rows taken out (a tuple of 1-element arrays for single outages).
    monitored
        Branch rows whose flows are reported / checked.
    base_flows_mw
        Pre-outage flow of every branch (MW, from end).
    flows_mw
        ``(n_monitored, n_outages)`` post-outage flows (MW), or None when not kept (big batches).
    islanding
        Per outage: True when it splits an island (a bridge, or a set that cuts the grid).
    isolated_buses
        Per outage: bus rows cut off from their island's reference (empty if none).
    isolated_dark
        Per outage: True when the isolated part has no generation (it goes dark).
    isolated_load_mw
        Per outage: in-service load on the isolated buses (MW), dark or not (it is lost when
        ``isolated_dark``; otherwise it depends on the cut-off part's own generation).
    max_loading_pct, worst_branch, n_overloads
        Per outage: highest |P| / rating among monitored branches with a rating (%), the branch
        row where it occurs (-1 if none) and how many monitored branches exceed the threshold.
    overload_outage, overload_branch, overload_flow_mw, overload_loading_pct
        Every violation (outage index, branch row, flow, loading), aligned arrays.
    threshold_pct
        Loading above which a branch counts as overloaded.
    extra_max_loading_pct
        ``(n_extra, n_outages)``: maximum loading (%) against each of ``extra_ratings``.
    """

    outages: tuple[np.ndarray, ...]
    monitored: np.ndarray
    base_flows_mw: np.ndarray
    flows_mw: np.ndarray | None
    islanding: np.ndarray
    isolated_buses: tuple[np.ndarray, ...]
    isolated_dark: np.ndarray
    isolated_load_mw: np.ndarray
    max_loading_pct: np.ndarray
    worst_branch: np.ndarray
    n_overloads: np.ndarray
    overload_outage: np.ndarray
    overload_branch: np.ndarray
    overload_flow_mw: np.ndarray
    overload_loading_pct: np.ndarray
    threshold_pct: float
    branch_ids: np.ndarray
    bus_ids: np.ndarray
    extra_max_loading_pct: np.ndarray | None = None

    @property
    def outage_ids(self) -> list[str]:
        return ["+".join(self.branch_ids[o].tolist()) for o in self.outages]

    def to_frame(self, kind: str = "outage"):
        """Per outage summary (default) or ``kind="overloads"``: one row per violation."""
        import pandas as pd

        if kind == "overloads":
            ids = self.outage_ids
            return pd.DataFrame(
                {
                    "outage": [ids[i] for i in self.overload_outage.tolist()],
                    "branch": self.branch_ids[self.overload_branch].tolist(),
                    "flow_mw": self.overload_flow_mw,
                    "loading_pct": self.overload_loading_pct,
                }
            )
        if kind != "outage":
            raise GridValidationError(f"to_frame(kind={kind!r}): use 'outage' or 'overloads'")
        return pd.DataFrame(
            {
                "islanding": self.islanding,
                "n_isolated_buses": [b.size for b in self.isolated_buses],
                "isolated_dark": self.isolated_dark,
                "isolated_load_mw": self.isolated_load_mw,
                "max_loading_pct": self.max_loading_pct,
                "worst_branch": [self.branch_ids[w] if w >= 0 else "" for w in self.worst_branch.tolist()],
                "n_overloads": self.n_overloads,
            },
            index=pd.Index(self.outage_ids, name="outage"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "outage_flows",
            "threshold_pct": float(self.threshold_pct),
            "outages": [
                {
                    "id": oid,
                    "islanding": bool(self.islanding[i]),
                    "isolated_buses": self.bus_ids[self.isolated_buses[i]].tolist(),
                    "isolated_dark": bool(self.isolated_dark[i]),
                    "isolated_load_mw": float(self.isolated_load_mw[i]),
                    "max_loading_pct": float(self.max_loading_pct[i]),
                    "worst_branch": self.branch_ids[self.worst_branch[i]] if self.worst_branch[i] >= 0 else None,
                    "n_overloads": int(self.n_overloads[i]),
                }
                for i, oid in enumerate(self.outage_ids)
            ],
            "overloads": self.to_frame("overloads").to_dict(orient="records"),
        }


def outage_flows(
    grid: Grid,
    outages: Iterable[int | str] | None = None,
    monitored: Iterable[int | str] | None = None,
    *,
    base: Any = None,
    convention: DcConvention = "matpower",
    solver: DcSolver | None = None,
    rating: str | np.ndarray = "rate_a",
    threshold_pct: float = 100.0,
    chunk: int = 256,
    keep_flows: bool | None = None,
    progress: Any = None,
    extra_ratings: Sequence[np.ndarray] = (),
) -> OutageFlows:
    """Post-outage DC flows for a batch of single-branch outages, without a dense LODF.

    Parameters
    ----------
    grid
        The grid (its in-service branches are the intact topology).
    outages
        Branch rows or ids to take out one at a time (default: every branch).
    monitored
        Branch rows or ids whose flows are computed and checked (default: every branch).
    base
        Base-case injections: None (the grid's dispatch), a :class:`DcResult`, or bus
        injections in MW (nb,).
    convention
        DC convention.
    solver
        A :class:`DcSolver` of this grid to reuse its factorisation.
    rating, threshold_pct
        Ratings (``"rate_a"`` default, ``"rate_b"``, ``"rate_c"`` or an MVA array; 0 =
        unlimited) and the loading (%) above which a branch counts as overloaded.
    chunk
        Outages solved per block; working memory ~ 8 * chunk * (n_bus + n_monitored) bytes.
    keep_flows
        Keep the full ``n_monitored x n_outages`` flow matrix (default: when it is < 256 MB).
    progress
        Optional callable ``progress(done, total)`` called after each chunk.
    extra_ratings
        Further rating arrays (MVA per branch, 0 = unlimited): the maximum loading against each
        is reported in ``extra_max_loading_pct`` from the same pass (e.g. DC and AC-corrected
        ratings without screening twice).

    Returns
    -------
    OutageFlows
        Post-outage flows (when kept), per-outage maximum loading and overload list, and the
        islanding outages with the buses they isolate. Islanding outages are computed as a
        fresh DC power flow with the branch removed would (see the module docstring).
    """
    s = _solver(grid, convention, solver)
    br = grid.branches
    ks = _rows(grid, outages, "branches")
    mon = _rows(grid, monitored, "branches")
    p0 = _base_injection(s, base)
    f0 = s.solve(p0).p_from_mw
    lim = _ratings(grid, rating)
    info = _split_info(s)
    n_out, n_mon = ks.size, mon.size
    if keep_flows is None:
        keep_flows = 8.0 * n_out * n_mon < 256e6
    flows = np.zeros((n_mon, n_out), order="F") if keep_flows else None

    # per-outage description
    live = s.branch_live[ks]
    isl = info.is_bridge[ks] & live
    kind = np.where(live, 1, 0).astype(np.int64)
    kind[isl] = 2
    mult = np.zeros(n_out)
    lo = np.zeros(n_out, dtype=np.int64)
    hi = np.zeros(n_out, dtype=np.int64)
    iso: list[np.ndarray] = [np.zeros(0, np.int64)] * n_out
    dark = np.zeros(n_out, dtype=bool)
    iso_load = np.zeros(n_out)
    near = np.full(n_out, -1, dtype=np.int64)
    far = np.full(n_out, -1, dtype=np.int64)
    new_ref = np.full(n_out, -1, dtype=np.int64)
    for j in np.flatnonzero(info.is_bridge[ks]).tolist():
        k = int(ks[j])
        b = _bridge_split(s, info, k)
        iso[j] = info.order[b.lo : b.hi].copy()
        iso_load[j] = info.load_cum[b.hi] - info.load_cum[b.lo]
        dark[j] = b.new_ref < 0
        if not isl[j]:
            continue  # a bridge inside a dark island: nothing flows
        near[j], far[j], new_ref[j] = b.near, b.far, b.new_ref
        # flow from the near side into the isolated side
        mult[j] = f0[k] if int(br.from_bus[k]) == b.near else -f0[k]
        if dark[j]:
            lo[j], hi[j] = b.lo, b.hi
    kmon_map = np.full(len(br), -1, dtype=np.int64)
    kmon_map[mon] = np.arange(n_mon)
    kmon = kmon_map[ks]
    n = s.pvpq.size
    pos = s.red_index
    pos_n = np.where(pos >= 0, pos, n)  # n = the zero slot of the kernel
    pf_mon = pos_n[br.from_bus[mon]]
    pt_mon = pos_n[br.to_bus[mon]]
    pre_mon = info.pre[br.from_bus[mon]]
    mon_b = s.b[mon].astype(float)
    f0_mon = f0[mon].copy()
    lim_mon = lim[mon].astype(float)
    with np.errstate(divide="ignore"):
        inv_lim = np.where(lim_mon > 0, 1.0 / np.where(lim_mon > 0, lim_mon, 1.0), 0.0)
    inv_lim2 = _inverse_ratings(grid, extra_ratings, mon)
    maxload2 = np.zeros((inv_lim2.shape[0], n_out))
    kpf_all, kpt_all = pos_n[br.from_bus[ks]], pos_n[br.to_bus[ks]]
    kb_all = s.b[ks].astype(float)
    f0k_all = f0[ks].astype(float)
    thr = threshold_pct / 100.0
    maxload = np.zeros(n_out)
    worst = np.full(n_out, -1, dtype=np.int64)
    nover = np.zeros(n_out, dtype=np.int64)
    den = np.ones(n_out)
    cap = max(1024, 4 * n_out)
    o = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap), np.empty(cap))
    n_ov = 0
    width = min(chunk, max(n_out, 1))
    handle, block = s.lu.buffer(width)
    dummy = np.zeros((1, 1), order="F")
    for a in range(0, n_out, chunk):
        sl = slice(a, min(a + chunk, n_out))
        c = sl.stop - sl.start
        kd = kind[sl]
        # right-hand sides: e_f - e_t (normal), e_u - e_v + e_s2 (islanding; e_u if dark)
        jj = np.arange(c)
        pf, pt = kpf_all[sl], kpt_all[sl]
        m1 = (kd == 1) & (pf < n)
        block[pf[m1], jj[m1]] += 1.0
        m1 = (kd == 1) & (pt < n)
        block[pt[m1], jj[m1]] -= 1.0
        for j in np.flatnonzero(kd == 2).tolist():
            u, v, r2 = near[a + j], far[a + j], new_ref[a + j]
            if pos[u] >= 0:
                block[pos[u], j] += 1.0
            if r2 >= 0:
                if pos[v] >= 0:
                    block[pos[v], j] -= 1.0
                if pos[r2] >= 0:
                    block[pos[r2], j] += 1.0
        x = s.lu.solve_buffer(handle, c)
        out = flows[:, sl] if flows is not None else dummy
        *o, n_ov = _post_outage_kernel(
            x, c, a, pf_mon, pt_mon, mon_b, f0_mon, inv_lim, kd, pf, pt, kb_all[sl], f0k_all[sl], mult[sl],
            kmon[sl], lo[sl], hi[sl], pre_mon, thr, flows is not None, out, maxload[sl], worst[sl], nover[sl],
            den[sl], *o, n_ov, inv_lim2, maxload2[:, sl],
        )  # fmt: skip
        if progress is not None:
            progress(sl.stop, n_out)
    ov = [tuple(z[:n_ov] for z in o)]
    # a non-bridge whose removal makes B singular (e.g. cancelling reactances): fresh solve
    for j in np.flatnonzero((kind == 1) & (np.abs(den) < _SINGULAR_TOL)).tolist():
        fj = _fresh_flows(s, p0, np.array([ks[j]]))[mon]
        _replace_column(j, fj, flows, lim_mon, thr, maxload, worst, nover, ov)
        if inv_lim2.shape[0]:
            maxload2[:, j] = (np.abs(fj)[None, :] * inv_lim2).max(axis=1)
        isl[j] = True
    worst_rows = np.where(worst >= 0, mon[np.maximum(worst, 0)], -1)
    o_out, o_mon, o_flow, o_load = (np.concatenate(z) for z in zip(*ov, strict=True))
    order = np.lexsort((o_mon, o_out))
    o_out, o_mon, o_flow, o_load = o_out[order], o_mon[order], o_flow[order], o_load[order]
    return OutageFlows(
        outages=tuple(ks[j : j + 1] for j in range(n_out)),
        monitored=mon,
        base_flows_mw=f0,
        flows_mw=flows,
        islanding=isl | info.is_bridge[ks],
        isolated_buses=tuple(iso),
        isolated_dark=dark,
        isolated_load_mw=iso_load,
        max_loading_pct=maxload,
        worst_branch=worst_rows,
        n_overloads=nover,
        overload_outage=o_out,
        overload_branch=mon[o_mon],
        overload_flow_mw=o_flow,
        overload_loading_pct=o_load,
        threshold_pct=float(threshold_pct),
        branch_ids=br.id,
        bus_ids=grid.buses.id,
        extra_max_loading_pct=100.0 * maxload2,
    )


def _inverse_ratings(grid: Grid, extra: Sequence[np.ndarray], mon: np.ndarray) -> np.ndarray:
    """``1 / rating`` (0 where unlimited) per extra rating and monitored branch, (n_extra, n_mon)."""
    out = np.zeros((len(extra), mon.size))
    for r, lim in enumerate(extra):
        lm = _ratings(grid, np.asarray(lim, dtype=float))[mon]
        with np.errstate(divide="ignore"):
            out[r] = np.where(lm > 0, 1.0 / np.where(lm > 0, lm, 1.0), 0.0)
    return out


def _fresh_flows(s: DcSolver, p0: np.ndarray, out_rows: np.ndarray) -> np.ndarray:
    """Flows (MW, all branches) of a fresh DC solve with ``out_rows`` removed."""
    mask = s.branch_on.copy()
    mask[out_rows] = False
    s2 = DcSolver(s.grid, s.convention, branch_in_service=mask, backend=s.lu.backend)
    p = np.where(s2.bus_energised, p0, 0.0)
    return s2.solve(p).p_from_mw


def _replace_column(j, fj, flows, lim_mon, thr, maxload, worst, nover, ov) -> None:
    if flows is not None:
        flows[:, j] = fj
    with np.errstate(divide="ignore", invalid="ignore"):
        ld = np.where(lim_mon > 0, np.abs(fj) / np.where(lim_mon > 0, lim_mon, 1.0), 0.0)
    maxload[j] = 100.0 * ld.max() if ld.size else 0.0
    worst[j] = int(ld.argmax()) if ld.size and ld.max() > 0 else -1
    over = np.flatnonzero(ld > thr)
    # drop this outage's earlier violations, add the new ones
    for i, o in enumerate(ov):
        keep = o[0] != j
        ov[i] = tuple(z[keep] for z in o)
    nover[j] = over.size
    if over.size:
        ov.append((np.full(over.size, j, np.int64), over.astype(np.int64), fj[over], 100.0 * ld[over]))


# ---------------------------------------------------------------------------------------------
# multiple outages (N-k) with the Woodbury / generalised LODF system
# ---------------------------------------------------------------------------------------------


def multi_outage_flows(
    grid: Grid,
    outage_sets: Sequence[Iterable[int | str]],
    monitored: Iterable[int | str] | None = None,
    *,
    base: Any = None,
    convention: DcConvention = "matpower",
    solver: DcSolver | None = None,
    rating: str | np.ndarray = "rate_a",
    threshold_pct: float = 100.0,
    chunk: int = 256,
    keep_flows: bool | None = None,
    extra_ratings: Sequence[np.ndarray] = (),
) -> OutageFlows:
    """Post-outage DC flows when each *set* of branches fails at once (N-k, substations).

    ``f' = f + H_MK (I - H_KK)^-1 f_K`` with ``H = diag(b) Cft^T B^-1 Cft`` (generalised LODF,
    Guler, Gross & Liu 2007): one sparse solve per outaged branch and a k x k dense solve per set.
    A set that splits an island (``I - H_KK`` singular) is handled as :func:`gridshield.solve_dc`
    handles the damaged topology -- cut-off parts with generation get their own slack, parts
    without go dark -- still on the intact factorisation (one extra solve per such set).
    Parameters are those of :func:`outage_flows`, with ``outage_sets`` a sequence of branch
    row/id collections.
    """
    s = _solver(grid, convention, solver)
    br = grid.branches
    mon = _rows(grid, monitored, "branches")
    if isinstance(outage_sets, np.ndarray) and outage_sets.ndim == 2 and outage_sets.dtype.kind in "iu":
        sets = [np.unique(r) for r in outage_sets.astype(np.int64)]
        if outage_sets.size and (outage_sets.min() < 0 or outage_sets.max() >= len(br)):
            raise GridValidationError(f"outage_sets holds a branch row outside 0..{len(br) - 1}")
    else:
        sets = [np.unique(_rows(grid, list(o), "branches")) for o in outage_sets]
    p0 = _base_injection(s, base)
    f0 = s.solve(p0).p_from_mw
    lim = _ratings(grid, rating)
    lim_mon = lim[mon].astype(float)
    with np.errstate(divide="ignore"):
        inv_lim = np.where(lim_mon > 0, 1.0 / np.where(lim_mon > 0, lim_mon, 1.0), 0.0)
    n_out, n_mon = len(sets), mon.size
    if keep_flows is None:
        keep_flows = 8.0 * n_out * n_mon < 256e6
    flows = np.zeros((n_mon, n_out), order="F") if keep_flows else None
    thr = threshold_pct / 100.0
    maxload = np.zeros(n_out)
    worst = np.full(n_out, -1, dtype=np.int64)
    nover = np.zeros(n_out, dtype=np.int64)
    inv_lim2 = _inverse_ratings(grid, extra_ratings, mon)
    maxload2 = np.zeros((inv_lim2.shape[0], n_out))
    islanding = np.zeros(n_out, dtype=bool)
    iso: list[np.ndarray] = [np.zeros(0, np.int64)] * n_out
    dark = np.zeros(n_out, dtype=bool)
    iso_load = np.zeros(n_out)
    ov: list[tuple[np.ndarray, ...]] = []
    kmon_map = np.full(len(br), -1, dtype=np.int64)
    kmon_map[mon] = np.arange(n_mon)
    n = s.pvpq.size
    pf_m, pt_m, b_m = _positions(s, mon)
    pos_n = np.where(s.red_index >= 0, s.red_index, n)
    live_sets = [k[s.branch_live[k]] for k in sets]
    kmax = max([k.size for k in live_sets] + [1])
    per = max(1, chunk // kmax)  # sets per block
    handle, block = s.lu.buffer(min(per, max(n_out, 1)) * kmax)
    f0_mon = f0[mon]
    for g0 in range(0, n_out, per):
        g1 = min(g0 + per, n_out)
        gn = g1 - g0
        c = gn * kmax
        # sets padded to kmax with dummies (-1): zero right-hand side, b = 0, f = 0
        kk = np.full((gn, kmax), -1, dtype=np.int64)
        for i in range(gn):
            ki = live_sets[g0 + i]
            kk[i, : ki.size] = ki
        valid = kk >= 0
        kc = np.where(valid, kk, 0)
        pf_k = np.where(valid, pos_n[br.from_bus[kc]], n)
        pt_k = np.where(valid, pos_n[br.to_bus[kc]], n)
        b_k = np.where(valid, s.b[kc], 0.0)
        f0_k = np.where(valid, f0[kc], 0.0)
        cols = np.arange(c).reshape(gn, kmax)
        block[:, :c] = 0.0
        m1 = pf_k < n
        block[pf_k[m1], cols[m1]] += 1.0
        m1 = pt_k < n
        block[pt_k[m1], cols[m1]] -= 1.0
        x = s.lu.solve_buffer(handle, c) if n else np.zeros((0, c))
        hmon = np.empty((n_mon, c), order="F")
        _delta_kernel(x, c, pf_m, pt_m, b_m, hmon)
        xz = np.vstack([x[:, :c], np.zeros((1, c))])
        hkk = b_k[:, :, None] * (xz[pf_k[:, :, None], cols[:, None, :]] - xz[pt_k[:, :, None], cols[:, None, :]])
        mm = np.eye(kmax)[None, :, :] - hkk
        sv = np.linalg.svd(mm, compute_uv=False)
        sing = sv[:, -1] <= 1e-9 * np.maximum(1.0, sv[:, 0])
        tt = np.zeros((gn, kmax))
        ok = ~sing
        if ok.any():
            tt[ok] = np.linalg.solve(mm[ok], f0_k[ok][:, :, None])[:, :, 0]
        fb = f0_mon[:, None] + (hmon * tt.reshape(1, c)).reshape(n_mon, gn, kmax).sum(axis=2)
        for i in np.flatnonzero(sing).tolist():
            j = g0 + i
            ki = live_sets[j]
            islanding[j] = True
            res = _split_set_flows(s, p0, f0, ki, x[:, cols[i, : ki.size]], hmon[:, cols[i, : ki.size]], mon)
            if res is None:  # singular without a split (cancelling reactances): fresh solve
                fb[:, i] = _fresh_flows(s, p0, ki)[mon]
            else:
                fb[:, i], iso[j], dark[j], iso_load[j] = res
        # the outaged branches carry nothing (also those already out of service)
        for i in range(gn):
            km = kmon_map[sets[g0 + i]]
            fb[km[km >= 0], i] = 0.0
        if flows is not None:
            flows[:, g0:g1] = fb
        ld = np.abs(fb) * inv_lim[:, None]
        for r in range(inv_lim2.shape[0]):
            maxload2[r, g0:g1] = 100.0 * (np.abs(fb) * inv_lim2[r][:, None]).max(axis=0) if n_mon else 0.0
        if n_mon:
            w = ld.argmax(axis=0)
            best = ld[w, np.arange(gn)]
            maxload[g0:g1] = 100.0 * best
            worst[g0:g1] = np.where(best > 0, mon[w], -1)
        over = ld > thr
        nover[g0:g1] = over.sum(axis=0)
        oj, om = np.nonzero(over.T)
        if oj.size:
            ov.append((g0 + oj, mon[om], fb[om, oj], 100.0 * ld[om, oj]))
    if ov:
        o_out, o_br, o_flow, o_load = (np.concatenate(z) for z in zip(*ov, strict=True))
    else:
        o_out, o_br, o_flow, o_load = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return OutageFlows(
        outages=tuple(sets),
        monitored=mon,
        base_flows_mw=f0,
        flows_mw=flows,
        islanding=islanding,
        isolated_buses=tuple(iso),
        isolated_dark=dark,
        isolated_load_mw=iso_load,
        max_loading_pct=maxload,
        worst_branch=worst,
        n_overloads=nover,
        overload_outage=o_out,
        overload_branch=o_br,
        overload_flow_mw=o_flow,
        overload_loading_pct=o_load,
        threshold_pct=float(threshold_pct),
        branch_ids=br.id,
        bus_ids=grid.buses.id,
        extra_max_loading_pct=maxload2,
    )


def _adjacency(s: DcSolver) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR adjacency over the solver's in-service branches: (ptr, neighbour, branch row)."""
    cached = s._cache.get("adjacency")
    if cached is None:
        br = s.grid.branches
        rows = np.flatnonzero(s.branch_on)
        f, t = br.from_bus[rows], br.to_bus[rows]
        ends, other, eid = np.r_[f, t], np.r_[t, f], np.r_[rows, rows]
        order = np.argsort(ends, kind="stable")
        ptr = np.zeros(len(s.grid.buses) + 1, dtype=np.int64)
        np.add.at(ptr, ends + 1, 1)
        cached = (np.cumsum(ptr), other[order].astype(np.int64), eid[order].astype(np.int64))
        s._cache["adjacency"] = cached
    return cached


@njit(cache=True)
def _components_without(ptr, nbr, edge, removed, nb):  # pragma: no cover - compiled
    """Connected-component label per bus when the branches flagged in ``removed`` are out."""
    lab = np.full(nb, -1, dtype=np.int64)
    stack = np.empty(nb, dtype=np.int64)
    comp = 0
    for root in range(nb):
        if lab[root] >= 0:
            continue
        lab[root] = comp
        top = 0
        stack[0] = root
        top = 1
        while top > 0:
            top -= 1
            v = stack[top]
            for i in range(ptr[v], ptr[v + 1]):
                if removed[edge[i]]:
                    continue
                w = nbr[i]
                if lab[w] < 0:
                    lab[w] = comp
                    stack[top] = w
                    top += 1
        comp += 1
    return lab


def _split_set_flows(
    s: DcSolver, p0: np.ndarray, f0: np.ndarray, k: np.ndarray, xk: np.ndarray, hmon: np.ndarray, mon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool, float] | None:
    """Post-outage flows when the set ``k`` splits islands, without a new factorisation.

    Each part cut off from its island's reference becomes an island of its own: with generation,
    its new reference bus (same rule as :class:`DcSolver`) absorbs its imbalance
    (``delta = -sum p``); without, its injections are removed and its flows set to 0 (dark). In
    the intact network these are injection changes ``dp``; the outaged branches are then removed
    by compensating transfers ``t`` with ``(I - H_KK) t = f_K + H_K dp`` (consistent, since every
    new island is balanced; its null space only moves flow on the cut branches themselves,
    which are set to 0), and ``f' = f + PTDF dp + H_MK t``. Returns None when nothing is cut.
    """
    grid = s.grid
    br = grid.branches
    nb = len(grid.buses)
    ptr, nbr, edge = _adjacency(s)
    removed = np.zeros(len(br), dtype=np.bool_)
    removed[k] = True
    lab = _components_without(ptr, nbr, edge, removed, nb)
    ref_of = np.where(s.island >= 0, s.ref_bus[np.maximum(s.island, 0)], -1)
    cut = (ref_of >= 0) & (lab != lab[np.maximum(ref_of, 0)])
    cut_rows = np.flatnonzero(cut)
    if cut_rows.size == 0:
        return None
    dp = np.zeros(nb)
    g = grid.gens
    gon = np.flatnonzero(s.gen_on)
    dark_bus = np.zeros(nb, dtype=bool)
    for comp in np.unique(lab[cut_rows]).tolist():
        buses = cut_rows[lab[cut_rows] == comp]
        gens = gon[np.isin(g.bus[gon], buses)]
        if gens.size == 0:
            dark_bus[buses] = True
            dp[buses] -= p0[buses]
            continue
        gb = g.bus[gens]
        is3 = grid.buses.type[gb] == 3
        if is3.any():
            new_ref = int(gb[is3].min())
        else:
            new_ref = int(gb[np.lexsort((gens, -g.p_mw[gens], -g.p_max_mw[gens]))[0]])
        dp[new_ref] -= p0[buses].sum()
    n = s.pvpq.size
    xd = s.lu.solve(dp[s.pvpq] / s.base_mva) if n else np.zeros(0)
    xz = np.r_[xd, 0.0]
    pos_n = np.where(s.red_index >= 0, s.red_index, n)
    fd_all = s.b * (xz[pos_n[br.from_bus]] - xz[pos_n[br.to_bus]]) * s.base_mva
    hkk = _branch_delta(s, xk, k)
    m = np.eye(k.size) - hkk
    tk = np.linalg.lstsq(m, f0[k] + fd_all[k], rcond=1e-10)[0]
    fi = f0[mon] + fd_all[mon] + hmon @ tk
    in_dark = dark_bus[br.from_bus[mon]] & dark_bus[br.to_bus[mon]]
    fi[in_dark] = 0.0
    ld = grid.loads
    lm = ld.in_service & cut[ld.bus] if len(ld) else np.zeros(0, bool)
    iso_load = float(ld.p_mw[lm].sum()) if len(ld) else 0.0  # all load cut off, dark or not
    return fi, cut_rows, bool(dark_bus[cut_rows].all()), iso_load


def iter_outage_columns(
    grid: Grid,
    outages: Iterable[int | str] | None = None,
    *,
    convention: DcConvention = "matpower",
    solver: DcSolver | None = None,
    chunk: int = 256,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(outage_rows, X)`` blocks with ``X = B^-1 (e_f - e_t)`` in the reduced space of
    ``solver`` (rows follow ``solver.pvpq``): the raw material of custom screening."""
    s = _solver(grid, convention, solver)
    ks = _rows(grid, outages, "branches")
    for a in range(0, ks.size, chunk):
        k = ks[a : a + chunk]
        yield k, _outage_columns(s, k).reshape(s.pvpq.size, k.size)


__all__ = [
    "LodfResult",
    "OutageFlows",
    "iter_outage_columns",
    "lodf",
    "multi_outage_flows",
    "outage_flows",
    "ptdf",
]
