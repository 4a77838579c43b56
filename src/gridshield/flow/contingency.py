"""AC contingency analysis by compensation: every outage solved from the base case's LU factors.

Method
------
Unknowns are every bus's voltage angle and magnitude, ``x = (theta, |V|)`` (``2 nb``), and the
equations one P row and one Q row per bus: a *balance* row (power mismatch, as in
Newton-Raphson) or an *identity* row that pins its variable (slack angle, PV magnitude, dark bus).
With this fixed layout every contingency (a branch, a generator, a whole site, an outage that
splits the grid) changes the Jacobian only in a few rows ``R``: the P/Q rows of the buses at the
ends of the removed branches, and rows that change form (a PV bus that loses its last generator or
hits a Q limit, a new island slack, buses left without generation). The base-case Jacobian ``J0``
(with its identity rows) is factorised **once** (``Pr J0 Pc = L U``); for an outage the iteration
matrix is

    ``M = J0 + E_R Delta``,  ``Delta`` = (post-contingency Jacobian rows R) - (rows R of J0),

applied through the Sherman-Morrison-Woodbury identity in factored form (the *compensation
method*: Tinney 1972; Alsac, Stott & Tinney 1983): with ``z = L^-1 Pr F``, ``W = L^-1 Pr E_R`` and
``V = U^-T (Delta Pc)^T``, ``M^-1 F = Pc U^-1 (z - W w)`` where ``(I + V^T W) w = V^T z``. ``W`` and
``V`` are sparse (the elimination-tree paths of the changed rows, Tinney's fast forward; the union
of the paths of their Ybus neighbourhoods in the elimination tree of ``U^T``): a step is one forward and one backward
substitution plus a few hundred operations. ``W`` is cached per row; ``Delta`` is evaluated at the
base case and at the first iterate (:data:`REFRESH`), so the first step is the exact Newton step
and later steps are Newton in rows R, chord elsewhere (linear convergence, about 4 steps to 1e-8
p.u. on the PEGASE cases).

An outage is **converged only when its true post-contingency mismatch** (every bus, the same
infinity norm as :class:`gridshield.flow.ac.AcSolver`) is below ``tol``. One that does not
converge this way (diverging, contracting by less than 10 % per step, needing more than
:data:`MAX_COMPENSATED_ITER` steps at its observed rate, or changing more than :data:`MAX_RANK`
rows) is handed to a fresh Newton-Raphson solve from the base case
(:meth:`AcOutageSolver.reference`), and one that still does not converge is reported as such.

Outages run :data:`BATCH` side by side: the state is an ``(nb, batch)`` array, and the mismatch,
the triangular solves and the updates are loops over the batch inside each network loop (numba,
:mod:`gridshield.flow._ca_kernels`), so the network data is streamed once per batch. The slots
of outages that finish take the next ones before the step (a pipeline in which every step
advances an outage): an outage that starts at the base case enters with the base case's mismatch,
re-evaluated only at its touched buses. The thermal and voltage checks run on blocks of
``batch`` solutions. The kernels use a reverse Cuthill-McKee bus order, and outages are taken in
that order.

Generator Q limits (``q_limits=True``) follow :meth:`AcSolver.solve` with ``enforce_q_limits``:
the pre-contingency Q-limit state is kept (generators at a limit in the base case stay there), and
after convergence every generator beyond a limit is fixed at it, its bus made PQ (the island's
slack moving to its first PV bus if needed), and the outage solved again from where it stopped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridshieldError
from gridshield.flow import _ca_kernels as CK
from gridshield.flow import _nr_kernels as K
from gridshield.flow.ac import PQ, PV, Q_LIMIT_TOL_MVAR, REF, AcResult, AcSolver, frozen_gen_q, switch_to_pq
from gridshield.grid.model import Grid

#: Changed Jacobian rows above which an outage goes to a fresh Newton-Raphson solve instead.
MAX_RANK = 96
#: Compensated iterations allowed (also as predicted from the observed rate of convergence) before an
#: outage is handed to Newton-Raphson (an iteration costs about 1 % of a Newton-Raphson solve).
MAX_COMPENSATED_ITER = 50
#: Outages solved side by side.
BATCH = 48
#: Precision of the right-hand-side blocks of the solves with the base factors (float32 halves
#: their memory traffic but leaves errors near the tolerance: the results must agree to 1e-6).
WORK_DTYPE = np.float64
#: Iterations whose compensation rows are re-evaluated at the iterate (later ones keep the last).
REFRESH = 2
#: Refill the batch when this fraction of its slots is free.
REFILL = 0.25
#: Q-limit passes allowed per outage.
MAX_Q_PASSES = 50
#: Initial entries per Jacobian row of the pools of cached compensation vectors (grown when full;
#: about 100 are used on the PEGASE cases).
_ROW_POOL = 128

REASONS = ("converged", "max iterations", "diverged", "singular Jacobian", "no generation", "q limits infeasible")

_EMPTY = np.zeros(0, dtype=np.int64)
_NO_GOV = (_EMPTY, _EMPTY.astype(bool), _EMPTY.astype(bool), _EMPTY.astype(float))


@dataclass(frozen=True)
class Outage:
    """One contingency: the branch rows and generator rows taken out of service together."""

    branches: tuple[int, ...] = ()
    gens: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class OutageChecks:
    """Per outage (arrays aligned with the outages given): convergence, loading and voltages.

    Attributes
    ----------
    converged, reason
        Whether a post-contingency AC solution was found (mismatch below ``tol``) and, if not, why.
    method
        ``"compensated"`` (base factors plus low-rank update) or ``"newton"`` (fresh solve).
    iterations
        Iterations of the method that produced the answer (summed over Q-limit passes).
    max_loading, max_loading_branch, n_overloads
        Highest branch loading (fraction of ``rating_mva``, MVA at either end), its branch row (-1
        if none rated), and the branches above ``limit_mva``.
    vm_min_pu, vm_min_bus, vm_max_pu, vm_max_bus, n_low_voltage, n_high_voltage
        Extreme voltage magnitudes over energised buses, their bus rows, and the buses outside
        ``[vmin_pu, vmax_pu]``.
    islanded_mw, dark_buses
        Load (MW) and buses left without generation by the outage (energised in the base case).
    q_switched
        Generators that hit a Q limit because of the outage (``q_limits`` only).
    """

    converged: np.ndarray
    reason: tuple[str, ...]
    method: tuple[str, ...]
    iterations: np.ndarray
    max_loading: np.ndarray
    max_loading_branch: np.ndarray
    n_overloads: np.ndarray
    vm_min_pu: np.ndarray
    vm_min_bus: np.ndarray
    vm_max_pu: np.ndarray
    vm_max_bus: np.ndarray
    n_low_voltage: np.ndarray
    n_high_voltage: np.ndarray
    islanded_mw: np.ndarray
    dark_buses: np.ndarray
    q_switched: np.ndarray

    def __len__(self) -> int:
        return int(self.converged.size)


@dataclass
class _Post:
    """Post-contingency bus types and generator states of one outage (full arrays, grid order)."""

    label: np.ndarray
    energised: np.ndarray
    btype: np.ndarray
    gon: np.ndarray
    held: np.ndarray
    qg: np.ndarray


@dataclass
class _Item:
    """One outage of a pass: what its compensation changes, in small arrays (grid bus order)."""

    gid: int
    rem: np.ndarray  # removed branch rows
    tb: np.ndarray  # touched buses (their rows are recomputed with post forms / injections)
    tb_type: np.ndarray
    tb_sbus: np.ndarray
    rows: np.ndarray  # changed Jacobian rows (bus i: P row i, Q row nb + i)
    rows_bal: np.ndarray  # their post form (balance or identity)
    dark: np.ndarray  # buses left without generation
    gov: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # generator overrides: row, on, held, Q
    start: np.ndarray | tuple[np.ndarray, ...] | None  # None (the base case), (bus, |V|) pairs or (Re V, Im V)
    key: int
    post: _Post | None = None  # None: the base case's, or a single bridge outage's (AcOutageSolver._post_of)


class AcOutageSolver:
    """Solves many outages of one grid from its base case (see the module docstring).

    Parameters
    ----------
    grid
        The grid (not modified).
    q_limits
        Generator reactive limits by PV -> PQ switching, from the base case's Q-limit state.
    tol
        Largest power mismatch (p.u.) of a converged solution, for the base case and every outage.
    max_iter
        Newton iterations allowed per solve in the Newton-Raphson fallback (per Q-limit pass).
    """

    def __init__(self, grid: Grid, *, q_limits: bool = True, tol: float = 1e-8, max_iter: int = 30) -> None:
        if not tol > 0:
            raise GridshieldError(f"tol={tol}: the mismatch tolerance must be a positive number of p.u., e.g. 1e-8")
        self.grid = grid
        self.q_limits = bool(q_limits)
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        ac = self.ac = AcSolver(grid)
        base = ac.solve(init="case", tol=tol, enforce_q_limits=q_limits)
        if not base.converged:
            base = ac.solve(init="dc", tol=tol, enforce_q_limits=q_limits, robust=True)
        if not base.converged:
            raise GridshieldError(f"{grid.name}: the base-case AC power flow does not converge ({base.reason}); "
                                  "AC contingency analysis needs a solved base case")
        self.q_fixed = frozen_gen_q(ac, base) if q_limits else None
        if q_limits:  # the pre-contingency state with those generators held (the same solution, 0 iterations)
            base = ac.solve(init=base, tol=tol, enforce_q_limits=True, q_fixed_mvar=self.q_fixed)
        self.base = base
        g = grid.gens
        nb = self.nb = ac.nb
        self.on = ac._mask(None)
        isl, energised, gon, btype = ac._types(self.on, g.in_service)
        qg, held, btype, _ = ac.fix_gen_q(isl.label, gon, btype, self.q_fixed)
        self.label, self.energised, self.gon, self.btype, self.held, self.qg = isl.label, energised, gon, btype, held, qg
        self.sbus_live = self._sbus(gon, qg)  # the scheduled injections, also at dark buses
        self.sbus = np.where(btype == 4, 0.0, self.sbus_live)
        self.bal = np.r_[(btype == PQ) | (btype == PV), btype == PQ]
        self._trees()
        ld = grid.loads
        self.pd_bus_mw = np.bincount(ld.bus[ld.in_service], weights=ld.p_mw[ld.in_service], minlength=nb)
        self.gen_ptr, self.gen_of_bus = _by_bus(g.bus, nb)
        self._internal(base.v)

    def _trees(self) -> None:
        """The bridges, the cut-off side of each, and per branch the data of its outage when it splits nothing."""
        br = self.grid.branches
        nb = self.nb
        f, t = br.from_bus, br.to_bus
        # a spanning forest rooted at the slack buses: a bridge cuts off its child's subtree
        live = np.flatnonzero(self.on & (f != t))
        ends = np.r_[f[live], t[live]]
        other = np.r_[t[live], f[live]]
        eid = np.r_[live, live]
        o = np.argsort(ends, kind="stable")
        ptr = np.r_[0, np.cumsum(np.bincount(ends, minlength=nb))].astype(np.int64)
        nbr, edge = other[o].astype(np.int64), eid[o].astype(np.int64)
        roots = np.flatnonzero(self.btype == REF).astype(np.int64)
        self.t_order, self.t_pre, self.t_size, self.t_pedge = CK.dfs_tree(ptr, nbr, edge, roots, nb)
        self.bridge = CK.tree_bridges(ptr, nbr, edge, self.t_order, self.t_pre, self.t_pedge, f, t, len(br))
        self.simple = self.on & ~self.bridge & (f != t)
        self.s_tb = np.ascontiguousarray(np.c_[f, t].astype(np.int64))
        rows = np.c_[f, nb + f, t, nb + t].astype(np.int64)
        mask = self.bal[rows]
        keep = np.argsort(~mask, axis=1, kind="stable")  # the balance rows first, in order
        self.s_rows = np.take_along_axis(rows, keep, axis=1)
        self.s_nrows = mask.sum(axis=1)
        self.s_type = self.btype[self.s_tb]
        self.s_sbus = self.sbus[self.s_tb]
        self.s_key = np.minimum(f, t)  # replaced by the kernel order in _internal

    # -- the kernels' bus order and base-case matrices --------------------------------------------
    def _internal(self, v0: np.ndarray) -> None:
        """Kernel data in a reverse Cuthill-McKee bus order (neighbours close in memory)."""
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        ac, nb, g = self.ac, self.nb, self.grid.gens
        pat = sp.csr_matrix((np.ones(ac.y_indices.size), ac.y_indices, ac.y_indptr), shape=(nb, nb))
        order = np.asarray(reverse_cuthill_mckee(pat, symmetric_mode=True), dtype=np.int64)
        inv = np.empty(nb, dtype=np.int64)
        inv[order] = np.arange(nb)
        self.order, self.inv = order, inv  # internal bus k is grid bus order[k]; grid bus i is internal inv[i]
        self.s_key = np.minimum(inv[ac.f], inv[ac.t])
        f, t = inv[ac.f], inv[ac.t]
        indptr, indices, pos = K.ybus_pattern(nb, f, t)
        nl = f.size
        self.k_f, self.k_t = f, t
        self.y_indptr, self.y_indices = indptr, indices
        self.pos_ff, self.pos_ft, self.pos_tf, self.pos_tt = (pos[k * nl:(k + 1) * nl] for k in range(4))
        tr = K.transpose_map(indptr, indices)
        self.ydata = K.ybus_values(indices.size, self.pos_ff, self.pos_ft, self.pos_tf, self.pos_tt, ac.yff, ac.yft,
                                   ac.ytf, ac.ytt, self.on, pos[4 * nl:], ac.ysh[order])
        self.yr, self.yi = self.ydata.real.copy(), self.ydata.imag.copy()
        self.k_bal = np.r_[self.bal[:nb][order], self.bal[nb:][order]]
        self.k_sb_r, self.k_sb_i = self.sbus.real[order].copy(), self.sbus.imag[order].copy()
        vk = v0[order]
        self.base_cols = tuple(np.ascontiguousarray(a[:, None]) for a in (vk.real, vk.imag))
        self.k_btype = self.btype[order]
        self.k_energised = self.energised[order]
        self.k_qd = ac.qd_mvar[order]
        self.k_gen_ptr, self.k_gen_of_bus = _by_bus(inv[g.bus], nb)
        self.k_gen_buses = np.unique(inv[g.bus[g.in_service]]).astype(np.int64)
        self._factorise(vk, tr)
        self.rows = _RowCache(self)

    def _sbus(self, gon: np.ndarray, qg: np.ndarray) -> np.ndarray:
        """Scheduled injections (p.u.) as :meth:`AcSolver.solve` builds them (before dark buses are zeroed)."""
        g, nb = self.grid.gens, self.nb
        pg = np.where(gon, g.p_mw, 0.0)
        sg = np.bincount(g.bus[gon], weights=pg[gon], minlength=nb) + 1j * np.bincount(g.bus[gon], weights=qg[gon], minlength=nb)
        return sg / self.ac.base - self.ac.sd

    def _factorise(self, vk: np.ndarray, tr: np.ndarray) -> None:
        """``J0``: the base Jacobian with identity rows (kernel order), its LU factors and its rows."""
        from scipy.sparse.linalg import splu

        nb = self.nb
        n2 = 2 * nb
        ip = np.arange(nb, dtype=np.int64)
        jp, ji, jmap = K.jacobian_pattern(self.y_indptr, self.y_indices, tr, ip, nb + ip, n2)
        ibus = np.empty(nb, dtype=np.complex128)
        K.mismatch(self.y_indptr, self.y_indices, self.ydata, vk, np.zeros(nb, dtype=np.complex128), ip, ip,
                   np.empty(n2), ibus)
        vals = np.zeros(ji.size)
        K.jacobian(self.y_indptr, self.y_indices, self.ydata, vk, ibus, jmap, np.ones(nb, dtype=bool), vals)
        fixed = ~self.k_bal
        col = np.repeat(np.arange(n2), np.diff(jp))
        vals = np.where(fixed[ji], 0.0, vals)
        vals[(ji == col) & fixed[ji]] = 1.0
        j0 = sp.csc_matrix((vals, ji, jp), shape=(n2, n2))
        csr = j0.tocsr()
        csr.sort_indices()
        self.j0_ptr = csr.indptr.astype(np.int64)
        self.j0_val = csr.data.copy()
        try:
            lu = splu(j0, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            b = np.arange(1.0, n2 + 1.0)
            if not np.all(np.isfinite(lu.solve(b))):
                raise RuntimeError("unstable pivots")
        except RuntimeError:  # a zero pivot on the diagonal: let SuperLU pivot
            try:
                lu = splu(j0, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
            except RuntimeError as exc:
                raise GridshieldError(f"{self.grid.name}: the base-case Jacobian is singular ({exc})") from None
        low = lu.L.tocsc()
        low.sort_indices()
        up = lu.U.tocsc()
        up.sort_indices()
        lr = np.repeat(np.arange(n2), np.diff(low.indptr))
        keep = low.indices > lr
        self.l_ptr = np.r_[0, np.cumsum(np.bincount(lr[keep], minlength=n2))].astype(np.int64)
        self.l_idx = low.indices[keep].astype(np.int64)
        self.l_val64 = low.data[keep].astype(np.float64)
        self.l_val = self.l_val64.astype(WORK_DTYPE)
        ur = np.repeat(np.arange(n2), np.diff(up.indptr))
        diag = np.zeros(n2)
        on_diag = up.indices == ur
        diag[ur[on_diag]] = up.data[on_diag]
        if np.any(diag == 0):
            raise GridshieldError(f"{self.grid.name}: the base-case Jacobian is singular")
        keep = up.indices < ur
        self.u_ptr = np.r_[0, np.cumsum(np.bincount(ur[keep], minlength=n2))].astype(np.int64)
        self.u_idx = up.indices[keep].astype(np.int64)
        self.u_val = up.data[keep].astype(WORK_DTYPE)
        self.u_dinv64 = 1.0 / diag
        self.u_dinv = self.u_dinv64.astype(WORK_DTYPE)
        ucsr = sp.csc_matrix((up.data[keep], self.u_idx, self.u_ptr), shape=(n2, n2)).tocsr()
        ucsr.sort_indices()  # U by rows: the graph of U^T for the sparse V solves
        self.ur_ptr = ucsr.indptr.astype(np.int64)
        self.ur_idx = ucsr.indices.astype(np.int64)
        self.ur_val = ucsr.data.astype(np.float64)
        self.perm_r = np.asarray(lu.perm_r, dtype=np.int64)
        self.perm_c = np.asarray(lu.perm_c, dtype=np.int64)
        self.l_parent = CK.etree(self.l_ptr, self.l_idx, n2)  # the sparse paths of the compensation vectors
        self.u_parent = CK.etree(self.ur_ptr, self.ur_idx, n2)
        self.factor_nnz = int(self.l_idx.size + self.u_idx.size + n2)

    def lu_solve(self, b: np.ndarray) -> np.ndarray:
        """``J0^-1 b`` (kernel bus order) for a vector or a block ``(2 nb, m)``."""
        b = np.asarray(b, dtype=float)
        x = b[:, None] if b.ndim == 1 else b
        z = np.empty((x.shape[0], x.shape[1]), dtype=WORK_DTYPE)
        z[self.perm_r] = x
        CK.lu_forward(self.l_ptr, self.l_idx, self.l_val, z, z.shape[1])
        CK.lu_backward(self.u_ptr, self.u_idx, self.u_val, self.u_dinv, z, z.shape[1])
        out = z[self.perm_c].astype(np.float64)
        return out[:, 0] if b.ndim == 1 else out

    # -- one outage, the reference way -------------------------------------------------------------
    def masks(self, outage: Outage) -> tuple[np.ndarray, np.ndarray]:
        """Branch and generator in-service masks after ``outage``."""
        bon = self.grid.branches.in_service.copy()
        bon[list(outage.branches)] = False
        gon = self.grid.gens.in_service.copy()
        gon[list(outage.gens)] = False
        return bon, gon

    def reference(self, outage: Outage) -> AcResult:
        """The outage solved by a fresh Newton-Raphson from the base case (the brute-force way).

        :meth:`AcSolver.solve` with the outage's status masks, warm-started from the base-case
        solution, the base case's Q-limit state held (``q_limits``) and Q limits enforced, at most
        ``max_iter`` iterations per Q-limit pass. An outage it does not solve is reported as not
        converged (no line search or continuation: a contingency whose power flow Newton-Raphson
        cannot solve from the pre-contingency state is insecure).
        """
        bon, gon = self.masks(outage)
        return self.ac.solve(branch_in_service=bon, gen_in_service=gon, init=self.base, tol=self.tol,
                             enforce_q_limits=self.q_limits, q_fixed_mvar=self.q_fixed, max_iter=self.max_iter)

    # -- many outages ------------------------------------------------------------------------------
    def solve(
        self,
        outages: Sequence[Outage],
        *,
        rating_mva: np.ndarray,
        vmin_pu: np.ndarray,
        vmax_pu: np.ndarray,
        limit_mva: np.ndarray | None = None,
        batch: int = BATCH,
        progress: Callable[[int, int], None] | None = None,
    ) -> OutageChecks:
        """Solve every outage and check it against the monitoring limits.

        Parameters
        ----------
        outages
            The contingencies (branch and generator rows).
        rating_mva
            Rating per branch that loadings are reported against (MVA, at either end; 0 = none).
        vmin_pu, vmax_pu
            Voltage limits per bus (p.u.; -inf / inf for none).
        limit_mva
            MVA per branch above which it counts as overloaded (default ``rating_mva``; 0 = not
            monitored).
        batch
            Outages solved side by side.
        progress
            ``progress(done, total)`` callback.
        """
        n = len(outages)
        nb, nl = self.nb, len(self.grid.branches)
        rating = np.ascontiguousarray(rating_mva, dtype=float)
        limit = rating if limit_mva is None else np.ascontiguousarray(limit_mva, dtype=float)
        vmin = np.ascontiguousarray(vmin_pu, dtype=float)
        vmax = np.ascontiguousarray(vmax_pu, dtype=float)
        if rating.shape != (nl,) or limit.shape != (nl,) or vmin.shape != (nb,) or vmax.shape != (nb,):
            raise GridshieldError("rating_mva / limit_mva need one value per branch, vmin_pu / vmax_pu one per bus")
        if not 1 <= batch <= 4096:
            raise GridshieldError(f"batch={batch}: solve between 1 and 4096 outages side by side")
        watched = np.flatnonzero(self.on & ((rating > 0) | (limit > 0)))  # branches whose flows are checked
        mon = (watched, rating, limit, vmin[self.order].copy(), vmax[self.order].copy())
        res = _Results(n)
        outs = self._outages(outages, res)
        big = np.diff(outs.rows.ptr) > MAX_RANK
        newton = [outs.item(c) for c in np.flatnonzero(big).tolist()]
        keep = np.flatnonzero(~big)
        outs = outs.take(keep[np.lexsort((outs.gid[keep], outs.key[keep]))])
        done = [0]

        def tick(k: int) -> None:
            done[0] += k
            if progress is not None:
                progress(min(done[0], n), n)

        passes = 0
        while len(outs):
            again = self._run_pass(_Pass(outs, self), res, mon, newton, batch, tick if passes == 0 else None)
            passes += 1
            if passes >= MAX_Q_PASSES:
                newton += again
                again = []
            outs = _Outages.of_items(again)
        tick(n - len(newton) - done[0])
        for it in newton:
            self._newton(outages[it.gid], it, res, mon)
            tick(1)
        res.vm_min_bus = np.where(res.vm_min_bus >= 0, self.order[np.maximum(res.vm_min_bus, 0)], -1)
        res.vm_max_bus = np.where(res.vm_max_bus >= 0, self.order[np.maximum(res.vm_max_bus, 0)], -1)
        return res.freeze()

    # -- outage data -------------------------------------------------------------------------------
    def _outages(self, outages: Sequence[Outage], res: _Results) -> _Outages:
        """The compensation data of every outage that needs solving, in the order given.

        Single branches in service come in bulk: those that split nothing from per-branch tables,
        bridges from :func:`~gridshield.flow._ca_kernels.bridge_outages`; the others one by one
        (:meth:`_item`). Outages left with nothing to solve get their reason in ``res``.
        """
        br = self.grid.branches
        n, nl = len(outages), len(br)
        ks = np.fromiter((o.branches[0] if len(o.branches) == 1 and not o.gens else -1 for o in outages),
                         dtype=np.int64, count=n)
        kk = np.where((ks >= 0) & (ks < nl), ks, 0)
        one = (ks >= 0) & (ks < nl) & self.on[kk] & (br.from_bus[kk] != br.to_bus[kk])
        simple = one & self.simple[kk]
        bridge = one & self.bridge[kk]
        rest = np.flatnonzero(~simple & ~bridge)
        items = [x for x in (self._item(int(c), outages[c], res) for c in rest.tolist()) if x is not None]
        return _Outages.concat([self._simple_outages(np.flatnonzero(simple), kk),
                                self._bridge_outages(np.flatnonzero(bridge), kk, res), _Outages.of_items(items)])

    def _simple_outages(self, gids: np.ndarray, ks: np.ndarray) -> _Outages:
        """Outages ``gids`` of one branch each (``ks[gids]``) whose loss splits nothing."""
        k = ks[gids]
        m = k.size
        nr = self.s_nrows[k]
        rows = self.s_rows[k][np.arange(4) < nr[:, None]]
        step = np.arange(m + 1, dtype=np.int64)
        none = np.zeros(m + 1, dtype=np.int64)
        return _Outages(gids.astype(np.int64), self.s_key[k], _Ragged(step, (k,)),
                        _Ragged(2 * step, (self.s_tb[k].ravel(), self.s_type[k].ravel(), self.s_sbus[k].ravel())),
                        _Ragged(np.r_[0, np.cumsum(nr)].astype(np.int64), (rows, np.ones(rows.size, dtype=bool))),
                        _Ragged(none, (_EMPTY,)), _Ragged(none, _NO_GOV), np.full(m, None, dtype=object),
                        np.full(m, None, dtype=object))

    def _bridge_outages(self, gids: np.ndarray, ks: np.ndarray, res: _Results) -> _Outages:
        """Outages ``gids`` of one bridge each (``ks[gids]``): the part cut off dark or with a slack of its own
        (:func:`~gridshield.flow._ca_kernels.bridge_outages`); their islanded load into ``res``."""
        k = ks[gids]
        m = k.size
        cap = int(self.t_size[np.where(self.t_pedge[self.grid.branches.from_bus[k]] == k,
                                       self.grid.branches.from_bus[k], self.grid.branches.to_bus[k])].sum()) + m
        status = np.empty(m, dtype=np.int8)
        mw = np.empty(m)
        key = np.empty(m, dtype=np.int64)
        ptrs = [np.empty(m + 1, dtype=np.int64) for _ in range(3)]
        tb = (np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int8), np.empty(cap), np.empty(cap))
        rows = (np.empty(2 * cap, dtype=np.int64), np.empty(2 * cap, dtype=np.bool_))
        dark = np.empty(cap, dtype=np.int64)
        g = self.grid.gens
        CK.bridge_outages(k, self.grid.branches.from_bus, self.grid.branches.to_bus, self.t_order, self.t_pre,
                          self.t_size, self.t_pedge, self.gen_ptr, self.gen_of_bus, g.bus, self.gon, self.held,
                          g.p_max_mw, self.btype, self.energised, self.bal, self.sbus_live.real.copy(),
                          self.sbus_live.imag.copy(), self.pd_bus_mw, self.inv, REF, PV, PQ, 4, status, mw, key,
                          ptrs[0], *tb, ptrs[1], *rows, ptrs[2], dark)
        res.islanded_mw[gids] = mw
        res.dark_buses[gids] = np.diff(ptrs[2])
        for c, st in zip(gids.tolist(), status.tolist(), strict=True):
            if st:
                res.reason[c] = ("no generation", "q limits infeasible")[st - 1]
        nt, nr, nd = (int(x[-1]) for x in ptrs)  # the pools' used lengths
        out = _Outages(gids.astype(np.int64), key, _Ragged(np.arange(m + 1, dtype=np.int64), (k,)),
                       _Ragged(ptrs[0], (tb[0][:nt], tb[1][:nt], tb[2][:nt] + 1j * tb[3][:nt])),
                       _Ragged(ptrs[1], (rows[0][:nr], rows[1][:nr])),
                       _Ragged(ptrs[2], (dark[:nd],)), _Ragged(np.zeros(m + 1, dtype=np.int64), _NO_GOV),
                       np.full(m, None, dtype=object), np.full(m, None, dtype=object))
        return out.take(np.flatnonzero(status == 0))

    def _post_of(self, item: _Item) -> _Post:
        """The post-contingency state of ``item``: its own, else the base case's, where a single bridge
        outage's cut-off part is a new island with its touched buses' types and its dark buses."""
        if item.post is not None:
            return item.post
        label, energised, btype = self.label, self.energised.copy(), self.btype.copy()
        energised[item.dark] = False
        btype[item.tb] = item.tb_type
        k = int(item.rem[0]) if item.rem.size == 1 else -1
        if k >= 0 and self.bridge[k]:
            a, b = self.grid.branches.from_bus[k], self.grid.branches.to_bus[k]
            c = a if self.t_pedge[a] == k else b
            label = label.copy()
            label[self.t_order[self.t_pre[c]:self.t_pre[c] + self.t_size[c]]] = label.max() + 1
        return _Post(label, energised, btype, self.gon, self.held, self.qg)

    def _item(self, gid: int, o: Outage, res: _Results) -> _Item | None:
        """The compensation data of one outage (None when nothing needs solving)."""
        br, g = self.grid.branches, self.grid.gens
        bl = np.unique(np.asarray(o.branches, dtype=np.int64))
        gl = np.unique(np.asarray(o.gens, dtype=np.int64))
        if (bl.size and (bl[0] < 0 or bl[-1] >= len(br))) or (gl.size and (gl[0] < 0 or gl[-1] >= len(g))):
            raise GridshieldError(f"outage {gid}: branch or generator rows out of range")
        bl = bl[self.on[bl]]  # elements already out change nothing
        gl = gl[self.gon[gl]]
        post = self._post_state(bl, gl)
        dark = np.flatnonzero(self.energised & ~post.energised)
        res.islanded_mw[gid] = float(self.pd_bus_mw[dark].sum())
        res.dark_buses[gid] = dark.size
        if not post.energised.any():
            res.reason[gid] = "no generation"
            return None
        if np.any(post.btype < 0):
            res.reason[gid] = "q limits infeasible"
            return None
        return self._changes(gid, bl, gl, post, dark, None)

    def _post_state(self, bl: np.ndarray, gl: np.ndarray) -> _Post:
        """Bus types and generator states after losing branches ``bl`` and generators ``gl`` (AcSolver's rules)."""
        bon = self.on.copy()
        bon[bl] = False
        gen_on = self.gon.copy()
        gen_on[gl] = False
        isl, energised, gon, btype = self.ac._types(bon, gen_on)
        qg, held, btype, ok = self.ac.fix_gen_q(isl.label, gon, btype, self.q_fixed)
        if not ok:
            btype = np.full(self.nb, -1, dtype=np.int8)  # an island whose held slack has no PV bus left
        return _Post(isl.label, energised, btype, gon, held, qg)

    def _changes(self, gid: int, bl: np.ndarray, gl: np.ndarray, post: _Post, dark: np.ndarray,
                 saved: tuple[np.ndarray, ...] | None, cand: np.ndarray | None = None) -> _Item:
        """Touched buses, changed rows and generator overrides of an outage in state ``post``.

        ``cand``: the buses that can differ from the base case (default: all).
        """
        nb = self.nb
        g = self.grid.gens
        br = self.grid.branches
        cand = np.arange(nb) if cand is None else cand
        bt = post.btype[cand]
        bal_p = (bt == PQ) | (bt == PV)
        bal_q = bt == PQ
        gk = self.gen_of_bus[np.concatenate([np.arange(self.gen_ptr[i], self.gen_ptr[i + 1]) for i in cand.tolist()])
                             if cand.size < nb else np.arange(self.gen_of_bus.size)]
        on = post.gon[gk]
        sg = (np.bincount(np.searchsorted(cand, g.bus[gk[on]]), weights=g.p_mw[gk[on]], minlength=cand.size)
              + 1j * np.bincount(np.searchsorted(cand, g.bus[gk[on]]), weights=post.qg[gk[on]], minlength=cand.size))
        sb = np.where(bt == 4, 0.0, sg / self.ac.base - self.ac.sd[cand])
        ends = np.zeros(nb, dtype=bool)
        ends[br.from_bus[bl]] = True
        ends[br.to_bus[bl]] = True
        inc = ends[cand]
        base_p, base_q = self.bal[:nb][cand], self.bal[nb:][cand]
        changed = (inc | (bt != self.btype[cand]) | (bal_p & (sb.real != self.sbus.real[cand]))
                   | (bal_q & (sb.imag != self.sbus.imag[cand])))
        tb = cand[changed]
        rp = (bal_p & inc) | (bal_p != base_p)
        rq = (bal_q & inc) | (bal_q != base_q)
        rows = np.concatenate((cand[rp], nb + cand[rq])).astype(np.int64)
        rows_bal = np.concatenate((bal_p[rp], bal_q[rq]))
        diff = (post.gon[gk] != self.gon[gk]) | (post.held[gk] != self.held[gk]) | (post.qg[gk] != self.qg[gk])
        gk = gk[diff]
        gov = (gk, post.gon[gk], post.held[gk], post.qg[gk])
        start: np.ndarray | tuple[np.ndarray, ...] | None = None
        if saved is not None:
            start = saved
        elif gl.size:  # voltage-controlled buses whose generators changed start at the new set point (last wins)
            vc = (post.btype == PV) | (post.btype == REF)
            gb = np.unique(g.bus[gl])
            gb = gb[vc[gb]]
            if gb.size:
                k = np.flatnonzero(post.gon & vc[g.bus])
                vg = np.zeros(nb)
                vg[g.bus[k]] = g.vg_pu[k]
                gb = gb[vg[gb] > 0]
                start = np.c_[gb, vg[gb]]
        key = int(self.inv[tb].min()) if tb.size else 0
        return _Item(gid, bl, tb, post.btype[tb], sb[changed], rows, rows_bal, dark, gov, start, key, post)

    # -- the batched iteration ---------------------------------------------------------------------
    def _run_pass(self, p: _Pass, res: _Results, mon, newton: list[_Item], batch: int,
                  tick: Callable[[int], None] | None) -> list[_Item]:
        """Iterate the outages of pass ``p``, ``batch`` side by side; returns those to solve again.

        A pipeline of ``batch`` slots. When outages finish, their slots take the next ones before
        the step, so that every step of the batch advances an outage: an outage that starts at the
        base case enters with its mismatch from the base case's (only its touched buses' rows are
        evaluated, :func:`~gridshield.flow._ca_kernels.entrant_mismatch`); one with a start state of
        its own (new voltage set points, a Q-limit restart) enters before the next evaluation of
        the batch's mismatch. Idle slots hold the empty outage ``p.dummy`` (the base case).
        """
        nb = self.nb
        n = p.n
        batch = int(max(1, min(batch, n)))
        col2c = np.full(batch, p.dummy, dtype=np.int64)  # slot -> outage of the pass
        vr, vi = (np.repeat(b, batch, axis=1) for b in self.base_cols)
        f_blk = np.zeros((2 * nb, batch), dtype=WORK_DTYPE)
        norms = np.empty(batch)
        ok = np.ones(batch, dtype=bool)
        conv = np.zeros(batch, dtype=bool)
        bad = np.zeros(batch, dtype=bool)
        it = np.zeros(n + 1, dtype=np.int64)
        best = np.full(n + 1, np.inf)
        prev = np.full(n + 1, np.inf)
        rc = self.rows
        rc.ensure(p.rr_row)
        kcap = max(1, int(np.diff(p.rr_ptr).max()))
        vstore = np.zeros((batch, kcap, max(1, int(rc.v_len[p.rr_row].max()) if p.rr_row.size else 1)))
        cstore = np.zeros((batch, kcap, kcap))
        pstore = np.zeros((batch, kcap), dtype=np.int64)
        y = (self.y_indptr, self.y_indices, self.ydata)
        br = (self.k_f, self.k_t, self.ac.yff, self.ac.yft, self.ac.ytf, self.ac.ytt)
        tb = (p.rem_ptr, p.rem_idx, p.tb_ptr, p.tb_bus, p.tb_bal_p, p.tb_bal_q, p.tb_sb_r, p.tb_sb_i, self.perm_r)
        base_f = np.zeros((2 * nb, 1), dtype=WORK_DTYPE)  # the base case's mismatch, rows as in f_blk
        CK.batch_mismatch(*y, self.yr, self.yi, *self.base_cols, np.array([p.dummy]), self.k_bal, self.k_sb_r,
                          self.k_sb_i, *br, *tb, base_f, np.empty(1))
        base_f = base_f[:, 0].copy()
        base_vr, base_vi = (b[:, 0].copy() for b in self.base_cols)
        base_desc = np.argsort(-np.abs(base_f), kind="stable").astype(np.int64)
        state = (vr, vi)
        restart: list[_Item] = []
        checks = _Checks(self, p, mon, res, batch)
        nxt = 0
        live = 0

        def enter(k: int, at_base: bool = False) -> np.ndarray:
            """The next ``k`` outages into free slots (at most as many as are free); their slots.

            Their start states are written unless ``at_base`` (:func:`entrant_mismatch` writes them)."""
            nonlocal nxt, live
            slots = np.flatnonzero(col2c == p.dummy)[:k]
            new = np.arange(nxt, nxt + slots.size, dtype=np.int64)
            nxt += slots.size
            live += slots.size
            col2c[slots] = new
            ok[slots] = True
            if not at_base:
                p.start_state(self, new, slots, state)
            return slots

        def settle(conv: np.ndarray, bad: np.ndarray) -> None:
            """Converged slots to the checks, bad ones to Newton-Raphson; both slots freed."""
            nonlocal live
            if conv.any():
                restart.extend(self._finish(p, np.flatnonzero(conv), col2c, vr, vi, res, checks))
            if bad.any():
                newton.extend(p.outs.item(k) for k in col2c[bad].tolist())
            q = np.flatnonzero(conv | bad)
            if q.size:
                res.iterations[p.gid[col2c[q]]] += it[col2c[q]]
                if tick is not None:
                    tick(q.size)
                col2c[q] = p.dummy
                live -= q.size

        while True:
            if nxt < n and batch - live >= max(1, REFILL * batch):
                enter(n - nxt)
            if not live:
                break
            CK.batch_mismatch(*y, self.yr, self.yi, vr, vi, col2c, self.k_bal, self.k_sb_r, self.k_sb_i, *br, *tb,
                              f_blk, norms)
            CK.classify(norms, col2c, p.dummy, it, prev, best, self.tol, MAX_COMPENSATED_ITER, conv, bad)
            settle(conv, bad)
            while nxt < n and live < batch and p.plain_to[nxt] > nxt:  # outages starting at the base case
                slots = enter(min(batch - live, p.plain_to[nxt] - nxt), at_base=True)
                CK.entrant_mismatch(slots, col2c, base_vr, base_vi, base_f, base_desc, *y, vr, vi, *br, *tb, f_blk, norms)
                sub = np.full(batch, p.dummy, dtype=np.int64)
                sub[slots] = col2c[slots]
                CK.classify(norms, sub, p.dummy, it, prev, best, self.tol, MAX_COMPENSATED_ITER, conv, bad)
                settle(conv, bad)
            if not live:
                continue
            CK.lu_forward(self.l_ptr, self.l_idx, self.l_val, f_blk, batch)
            CK.compensate(col2c, it[col2c] < REFRESH, f_blk, vr, vi, *y, *br, self.pos_ff, self.pos_ft, self.pos_tf,
                          self.pos_tt, p.rem_ptr, p.rem_idx, self.j0_ptr, self.j0_val, p.rr_ptr, p.rr_row, p.rr_bal,
                          rc.w_ptr, rc.w_len, rc.v_ptr, rc.v_len, rc.w_idx, rc.w_val, rc.v_idx, self.ur_ptr,
                          self.ur_idx, self.ur_val, self.u_dinv64, self.perm_c, vstore, cstore, pstore, rc.scratch, rc.pair,
                          ok)
            CK.lu_backward(self.u_ptr, self.u_idx, self.u_val, self.u_dinv, f_blk, batch)
            settle(np.zeros(batch, dtype=bool), ~ok & (col2c != p.dummy))  # singular compensation
            CK.update_state(f_blk, self.perm_c, vr, vi)
            it[col2c] += 1
        checks.flush()
        return restart

    def _finish(self, p: _Pass, qs: np.ndarray, col2c, vr, vi, res: _Results, checks: _Checks) -> list[_Item]:
        """Converged slots ``qs``: Q-limit check (outages to solve again), else to the monitoring checks."""
        restart: list[_Item] = []
        if self.q_limits:
            restart, stop = self._q_limits(p, qs, col2c, vr, vi, res)
            again = {x.gid for x in restart} | stop
            if again:
                qs = np.array([q for q in qs.tolist() if p.gid[col2c[q]] not in again], dtype=np.int64)
        if qs.size:
            checks.add(qs, col2c, vr, vi)
        return restart

    def _q_limits(self, p: _Pass, qs, col2c, vr, vi, res: _Results) -> tuple[list[_Item], set[int]]:
        """Generators beyond their Q limits in the solved slots ``qs``.

        Returns the outages to solve again and those left without a slack ("q limits infeasible").
        """
        g = self.grid.gens
        cap = len(g) * qs.size + 1
        out_c = np.empty(cap, dtype=np.int64)
        out_g = np.empty(cap, dtype=np.int64)
        out_q = np.empty(cap)
        out_v = np.empty(cap, dtype=np.bool_)
        k = CK.q_check(qs, col2c, vr, vi, self.y_indptr, self.y_indices, self.ydata, self.k_f, self.k_t, self.ac.yff,
                       self.ac.yft, self.ac.ytf, self.ac.ytt, p.rem_ptr, p.rem_idx, self.k_btype, p.tb_ptr, p.tb_bus,
                       p.tb_type, self.k_gen_buses, self.k_gen_ptr, self.k_gen_of_bus, self.gon, self.held, self.qg,
                       p.go_ptr, p.go_gen, p.go_on, p.go_held, p.go_q, g.q_min_mvar, g.q_max_mvar, self.k_qd,
                       self.ac.base, Q_LIMIT_TOL_MVAR, out_c, out_g, out_q, out_v)
        if not k:
            return [], set()
        slot_of = {int(col2c[q]): q for q in qs.tolist()}
        restart = []
        stop: set[int] = set()
        for c in np.unique(out_c[:k]).tolist():
            sel = np.flatnonzero(out_c[:k] == c)
            item = p.outs.item(c)
            post = self._post_of(item)
            gg, qq, vv = out_g[sel], out_q[sel], out_v[sel]
            held = post.held.copy()
            held[gg[vv]] = True
            qg = post.qg.copy()
            qg[gg] = qq
            btype, ok = switch_to_pq(post.btype, post.label, g.bus[gg[vv]])
            res.q_switched[item.gid] += int(vv.sum())
            if not ok:
                res.reason[item.gid] = "q limits infeasible"
                stop.add(item.gid)
                continue
            q = slot_of[c]
            new = _Post(post.label, post.energised, btype, post.gon, held, qg)
            cand = np.unique(np.r_[item.tb, g.bus[gg], np.flatnonzero(btype != self.btype)]).astype(np.int64)
            restart.append(self._changes(item.gid, item.rem, np.zeros(0, dtype=np.int64), new, item.dark,
                                         (vr[:, q].copy(), vi[:, q].copy()), cand))
        return restart, stop

    def _newton(self, outage: Outage, item: _Item, res: _Results, mon) -> None:
        """The outage by a fresh Newton-Raphson solve (:meth:`reference`), checked like the others."""
        r = self.reference(outage)
        gid = item.gid
        res.method[gid] = "newton"
        res.iterations[gid] = r.iterations
        res.converged[gid] = r.converged
        res.reason[gid] = r.reason
        res.q_switched[gid] = int(np.count_nonzero(r.gen_q_limited & ~self.held))
        if r.converged:
            v = r.v[self.order]
            _monitor(self, _Pass(_Outages.of_items([item]), self), np.zeros(1, dtype=np.int64), np.ascontiguousarray(v.real[:, None]),
                     np.ascontiguousarray(v.imag[:, None]), mon, res)


def _by_bus(bus: np.ndarray, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of generator rows by bus: ``rows[ptr[i]:ptr[i + 1]]`` are the generators at bus ``i``."""
    order = np.argsort(bus, kind="stable").astype(np.int64)
    ptr = np.r_[0, np.cumsum(np.bincount(bus, minlength=nb))].astype(np.int64)
    return ptr, order


class _RowCache:
    """Sparse compensation vectors per changed row (kernel order), computed once and shared."""

    def __init__(self, eng: AcOutageSolver) -> None:
        self.eng = eng
        n2 = 2 * eng.nb
        self.w_ptr = np.full(n2, -1, dtype=np.int64)
        self.v_ptr = np.full(n2, -1, dtype=np.int64)
        self.w_len = np.zeros(n2, dtype=np.int64)
        self.v_len = np.zeros(n2, dtype=np.int64)
        cap = _ROW_POOL * n2  # pools not written to cost no memory (np.empty)
        self.w_idx = np.empty(cap, dtype=np.int64)
        self.w_val = np.empty(cap)
        self.v_idx = np.empty(cap, dtype=np.int64)
        self.fill = np.zeros(2, dtype=np.int64)
        self.mark = np.zeros(n2, dtype=np.bool_)
        self.scratch = np.zeros(n2)
        self.pair = np.zeros((n2, 2))

    def ensure(self, rows: np.ndarray) -> None:
        e = self.eng
        while not CK.cache_rows(rows, e.y_indptr, e.y_indices, e.l_ptr, e.l_idx, e.l_val64, e.perm_r, e.l_parent,
                                e.u_parent, e.perm_c, self.w_ptr, self.w_len, self.v_ptr, self.v_len, self.w_idx,
                                self.w_val, self.v_idx, self.fill, self.mark, self.scratch):
            size = 2 * self.w_idx.size + self.mark.size
            self.w_idx, self.w_val = _grown(self.w_idx, self.fill[0], size), _grown(self.w_val, self.fill[0], size)
            self.v_idx = _grown(self.v_idx, self.fill[1], size)


def _grown(a: np.ndarray, used: int, size: int) -> np.ndarray:
    """A pool of ``size`` entries holding the first ``used`` of ``a`` (the rest uninitialised)."""
    out = np.empty(size, dtype=a.dtype)
    out[:used] = a[:used]
    return out


class _Ragged:
    """Variable-length data per outage: outage ``c`` has ``a[ptr[c]:ptr[c + 1]]`` of each array ``a`` of ``data``."""

    def __init__(self, ptr: np.ndarray, data: tuple[np.ndarray, ...]) -> None:
        self.ptr, self.data = ptr, data

    @classmethod
    def of(cls, fields: Sequence[Sequence[np.ndarray]], dtypes: Sequence) -> _Ragged:
        """From per-outage arrays, one sequence of them per field (all of the same lengths)."""
        ptr = np.zeros(len(fields[0]) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(x) for x in fields[0]])
        return cls(ptr, tuple(np.concatenate(f).astype(d) if ptr[-1] else np.zeros(0, dtype=d)
                              for f, d in zip(fields, dtypes, strict=True)))

    def at(self, c: int) -> tuple[np.ndarray, ...]:
        return tuple(a[self.ptr[c]:self.ptr[c + 1]] for a in self.data)

    def take(self, idx: np.ndarray) -> _Ragged:
        """The outages ``idx``, in that order."""
        n = np.diff(self.ptr)[idx]
        ptr = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(n, out=ptr[1:])
        src = np.repeat(self.ptr[idx] - ptr[:-1], n) + np.arange(ptr[-1])
        return _Ragged(ptr, tuple(a[src] for a in self.data))

    @staticmethod
    def concat(parts: Sequence[_Ragged]) -> _Ragged:
        offsets = np.cumsum([0] + [int(x.ptr[-1]) for x in parts])
        ptr = np.concatenate([[0]] + [x.ptr[1:] + o for x, o in zip(parts, offsets, strict=False)])
        return _Ragged(ptr.astype(np.int64), tuple(np.concatenate(a) for a in zip(*(x.data for x in parts),
                                                                                     strict=True)))


_ITEM_FIELDS = (("tb", "tb_type", "tb_sbus"), ("rows", "rows_bal"))
_ITEM_DTYPES = ((np.int64, np.int8, np.complex128), (np.int64, np.bool_))


class _Outages:
    """Outages as ragged arrays (grid bus order; the fields of :class:`_Item`): per outage ``gid``,
    ``key``, ``start``, ``post``, and :class:`_Ragged` ``rem``, ``tb`` (bus, type, injection), ``rows``
    (row, form), ``dark`` and ``gov`` (generator, on, held, Q)."""

    def __init__(self, gid: np.ndarray, key: np.ndarray, rem: _Ragged, tb: _Ragged, rows: _Ragged, dark: _Ragged,
                 gov: _Ragged, start: np.ndarray, post: np.ndarray) -> None:
        self.gid, self.key, self.rem, self.tb, self.rows, self.dark, self.gov = gid, key, rem, tb, rows, dark, gov
        self.start, self.post = start, post

    def __len__(self) -> int:
        return int(self.gid.size)

    @classmethod
    def of_items(cls, items: Sequence[_Item]) -> _Outages:
        def objects(xs: list) -> np.ndarray:
            out = np.empty(len(xs), dtype=object)
            out[:] = xs
            return out

        return cls(np.array([x.gid for x in items], dtype=np.int64), np.array([x.key for x in items], dtype=np.int64),
                   _Ragged.of([[x.rem for x in items]], (np.int64,)),
                   _Ragged.of([[getattr(x, f) for x in items] for f in _ITEM_FIELDS[0]], _ITEM_DTYPES[0]),
                   _Ragged.of([[getattr(x, f) for x in items] for f in _ITEM_FIELDS[1]], _ITEM_DTYPES[1]),
                   _Ragged.of([[x.dark for x in items]], (np.int64,)),
                   _Ragged.of([[x.gov[k] for x in items] for k in range(4)], (np.int64, np.bool_, np.bool_, np.float64)),
                   objects([x.start for x in items]), objects([x.post for x in items]))

    def take(self, idx: np.ndarray) -> _Outages:
        """The outages ``idx``, in that order."""
        return _Outages(self.gid[idx], self.key[idx], self.rem.take(idx), self.tb.take(idx), self.rows.take(idx),
                        self.dark.take(idx), self.gov.take(idx), self.start[idx], self.post[idx])

    @staticmethod
    def concat(parts: Sequence[_Outages]) -> _Outages:
        return _Outages(*(np.concatenate([getattr(x, f) for x in parts]) for f in ("gid", "key")),
                        *(_Ragged.concat([getattr(x, f) for x in parts]) for f in ("rem", "tb", "rows", "dark", "gov")),
                        *(np.concatenate([getattr(x, f) for x in parts]) for f in ("start", "post")))

    def item(self, c: int) -> _Item:
        """Outage ``c`` as an :class:`_Item`."""
        (rem,), (tb, tb_type, tb_sbus), (rows, rows_bal), (dark,) = (self.rem.at(c), self.tb.at(c), self.rows.at(c),
                                                                    self.dark.at(c))
        return _Item(int(self.gid[c]), rem, tb, tb_type, tb_sbus, rows, rows_bal, dark, self.gov.at(c), self.start[c],
                     int(self.key[c]), self.post[c])


class _Pass:
    """The outages of one pass, their arrays in kernel bus order and extended by the empty outage ``dummy``."""

    def __init__(self, outs: _Outages, eng: AcOutageSolver) -> None:
        self.outs = outs
        self.n = len(outs)
        self.dummy = self.n
        nb = eng.nb
        inv = eng.inv

        def ext(r: _Ragged) -> np.ndarray:
            return np.r_[r.ptr, r.ptr[-1]]

        self.gid = np.r_[outs.gid, -1]
        self.rem_ptr, (self.rem_idx,) = ext(outs.rem), outs.rem.data
        self.tb_ptr = ext(outs.tb)
        tb, self.tb_type, sb = outs.tb.data
        self.tb_bus = inv[tb]
        self.tb_sb_r, self.tb_sb_i = sb.real.copy(), sb.imag.copy()
        self.tb_bal_p = (self.tb_type == PQ) | (self.tb_type == PV)
        self.tb_bal_q = self.tb_type == PQ
        self.rr_ptr = ext(outs.rows)
        rows, self.rr_bal = outs.rows.data
        self.rr_row = np.where(rows < nb, inv[rows % nb], nb + inv[rows % nb])
        self.dark_ptr = ext(outs.dark)
        self.dark_bus = inv[outs.dark.data[0]]
        self.go_ptr = ext(outs.gov)
        self.go_gen, self.go_on, self.go_held, self.go_q = outs.gov.data
        # plain_to[c]: the first outage at or after c with a start state of its own (n if none)
        own = np.r_[np.flatnonzero([x is not None for x in outs.start]), self.n]
        self.plain_to = own[np.searchsorted(own, np.arange(self.n + 1))]

    def start_state(self, eng: AcOutageSolver, ids: np.ndarray, slots: np.ndarray, state) -> None:
        """Write the start states of the outages ``ids`` into the slots ``slots`` of ``state`` (Re V, Im V)."""
        CK.copy_columns(eng.base_cols, np.zeros(slots.size, dtype=np.int64), state, slots)
        vr, vi = state
        for q, c in zip(slots.tolist(), ids.tolist(), strict=True):
            st = self.outs.start[c]
            if isinstance(st, tuple):
                vr[:, q], vi[:, q] = st
            elif st is not None:  # new voltage set points
                b = eng.inv[st[:, 0].astype(np.int64)]
                scale = st[:, 1] / np.hypot(vr[b, q], vi[b, q])
                vr[b, q] *= scale
                vi[b, q] *= scale


class _Checks:
    """Solutions waiting for the thermal and voltage checks, which run on blocks of ``width`` of them
    (contiguous columns: the check's loops over the solutions vectorise)."""

    def __init__(self, eng: AcOutageSolver, p: _Pass, mon, res: _Results, width: int) -> None:
        self.eng, self.p, self.mon, self.res = eng, p, mon, res
        self.vr = np.empty((eng.nb, width))
        self.vi = np.empty((eng.nb, width))
        self.cs = np.empty(width, dtype=np.int64)
        self.k = 0

    def add(self, qs: np.ndarray, col2c: np.ndarray, vr: np.ndarray, vi: np.ndarray) -> None:
        """Queue the solutions in slots ``qs`` of ``vr + j vi`` (slot ``q`` holds outage ``col2c[q]`` of the pass)."""
        if self.k + qs.size > self.cs.size:
            self.flush()
        dst = np.arange(self.k, self.k + qs.size, dtype=np.int64)
        CK.copy_columns((vr, vi), qs, (self.vr, self.vi), dst)
        self.cs[dst] = col2c[qs]
        self.k += qs.size

    def flush(self) -> None:
        """Check the queued solutions (into the results)."""
        if self.k:
            _monitor(self.eng, self.p, self.cs[:self.k], self.vr, self.vi, self.mon, self.res)
        self.k = 0


def _monitor(eng: AcOutageSolver, p: _Pass, cs: np.ndarray, vr: np.ndarray, vi: np.ndarray, mon, res: _Results) -> None:
    """The thermal and voltage checks of the solutions of outages ``cs`` of ``p`` (the first columns of
    ``vr + j vi``), into ``res``."""
    ac = eng.ac
    m = cs.size
    ld, vlo, vhi = np.empty(m), np.empty(m), np.empty(m)
    ldk, vloi, vhii = (np.empty(m, dtype=np.int64) for _ in range(3))
    nth, nlo, nhi = (np.empty(m, dtype=np.int64) for _ in range(3))
    watched, *limits = mon
    CK.monitor(cs, vr, vi, ac.base, eng.k_f, eng.k_t, ac.yff, ac.yft, ac.ytf, ac.ytt, watched, p.rem_ptr,
               p.rem_idx, p.dark_ptr, p.dark_bus, eng.k_energised, *limits, ld, ldk, nth, vlo, vloi, vhi, vhii, nlo,
               nhi)
    gid = p.gid[cs]
    res.converged[gid] = True
    for k in gid.tolist():
        res.reason[k] = "converged"
    res.max_loading[gid], res.max_loading_branch[gid], res.n_overloads[gid] = ld, ldk, nth
    res.vm_min_pu[gid], res.vm_min_bus[gid], res.vm_max_pu[gid], res.vm_max_bus[gid] = vlo, vloi, vhi, vhii
    res.n_low_voltage[gid], res.n_high_voltage[gid] = nlo, nhi


class _Results:
    """Mutable per-outage result arrays, frozen into :class:`OutageChecks` at the end."""

    def __init__(self, n: int) -> None:
        self.converged = np.zeros(n, dtype=bool)
        self.reason = ["max iterations"] * n
        self.method = ["compensated"] * n
        self.iterations = np.zeros(n, dtype=np.int64)
        self.max_loading = np.full(n, np.nan)
        self.max_loading_branch = np.full(n, -1, dtype=np.int64)
        self.n_overloads = np.zeros(n, dtype=np.int64)
        self.vm_min_pu = np.full(n, np.nan)
        self.vm_min_bus = np.full(n, -1, dtype=np.int64)
        self.vm_max_pu = np.full(n, np.nan)
        self.vm_max_bus = np.full(n, -1, dtype=np.int64)
        self.n_low_voltage = np.zeros(n, dtype=np.int64)
        self.n_high_voltage = np.zeros(n, dtype=np.int64)
        self.q_switched = np.zeros(n, dtype=np.int64)
        self.islanded_mw = np.zeros(n)
        self.dark_buses = np.zeros(n, dtype=np.int64)

    def freeze(self) -> OutageChecks:
        return OutageChecks(
            converged=self.converged, reason=tuple(self.reason), method=tuple(self.method), iterations=self.iterations,
            max_loading=self.max_loading, max_loading_branch=self.max_loading_branch, n_overloads=self.n_overloads,
            vm_min_pu=self.vm_min_pu, vm_min_bus=self.vm_min_bus, vm_max_pu=self.vm_max_pu, vm_max_bus=self.vm_max_bus,
            n_low_voltage=self.n_low_voltage, n_high_voltage=self.n_high_voltage, islanded_mw=self.islanded_mw,
            dark_buses=self.dark_buses, q_switched=self.q_switched,
        )


__all__ = ["MAX_RANK", "REASONS", "AcOutageSolver", "Outage", "OutageChecks"]
