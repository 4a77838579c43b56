"""AC power flow: Newton-Raphson in polar form with a fixed-pattern sparse Jacobian and KLU.

Conventions follow MATPOWER's ``runpf`` (Zimmerman, Murillo-Sanchez & Thomas 2011; the MATPOWER
manual, ch. 4): bus types from the case file (a PV/ref bus without an in-service generator is
PQ), the start from the case's voltages with voltage-controlled buses at the generator set point
``Vg``, mismatch in p.u. with the infinity norm, tolerance 1e-8, and ``pfsoln``'s rules for the
slack generator's P and the split of Q among several generators at one bus. Generator Q limits
follow ``ENFORCE_Q_LIMS = 1`` (all violated generators fixed at their limit, their buses made PQ,
then solved again).

Beyond MATPOWER: every island with generation is solved with its own slack (the case's reference
bus when it lies in the island, otherwise the bus of the island's largest in-service generator by
``Pmax``); islands without generation are dark (V = 0, ``bus_energised`` False), never NaN. A
robust mode adds a backtracking line search on the mismatch norm (step-size control in the spirit
of Iwamoto & Tamura 1981) for cases where the plain Newton step overshoots.

The Jacobian pattern is derived once from a Ybus pattern that contains every branch (in service
or not) and every diagonal; values are written in place by numba kernels
(:mod:`gridshield.flow._nr_kernels`) and refactorised by KLU reusing its symbolic analysis
(:mod:`gridshield.flow.linsolve`). :class:`AcSolver` keeps all of that for repeated solves with
other branch statuses (N-1) or warm starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridshieldError, GridValidationError
from gridshield.flow import _nr_kernels as K
from gridshield.flow.linsolve import SingularMatrixError, sparse_lu
from gridshield.flow.matrices import branch_admittance, bus_shunt_pu, end_shunts, pi_admittance
from gridshield.grid.model import Grid
from gridshield.topology import component_labels

InitKind = Literal["case", "flat", "dc"]
INITS = ("case", "flat", "dc")

#: MATPOWER's OPF_VIOLATION, the slack allowed on Q limits before a generator is fixed (MVAr).
Q_LIMIT_TOL_MVAR = 5e-6
#: A mismatch above this (p.u.) is called divergence and stops the iterations.
DIVERGENCE_PU = 1e8

#: In robust mode, damped Newton iterations tried before falling back to the continuation.
ROBUST_NEWTON_ITER = 15

PQ, PV, REF = 1, 2, 3


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AcResult:
    """Result of an AC power flow; arrays follow the grid's row order.

    Attributes
    ----------
    converged
        True only when the mismatch fell below ``tol`` (and Q limits, if enforced, hold).
    reason
        ``"converged"``, ``"max iterations"``, ``"diverged"``, ``"singular Jacobian"``,
        ``"no generation"`` (every bus dark) or ``"q limits infeasible"``.
    iterations
        Newton iterations (summed over Q-limit passes).
    max_mismatch_pu
        Infinity norm of the final power mismatch (p.u. on ``base_mva``).
    vm_pu, va_deg
        Bus voltage magnitude (p.u.) and angle (degrees); 0 at dark buses.
    p_from_mw, q_from_mvar, p_to_mw, q_to_mvar
        Branch flows into the branch at its from and to ends; 0 for branches out of service.
    loss_mw
        Active losses per branch (``p_from_mw + p_to_mw``).
    gen_p_mw, gen_q_mvar
        Generator output; the slack generators' P and every voltage-controlling generator's Q
        come from the solution (MATPOWER ``pfsoln``). 0 for generators off or in dark islands.
    bus_energised
        Per bus: its island has generation and was solved.
    island
        Island label per bus (-1 for buses out of service).
    bus_type
        Bus type used in the final solve (1 PQ, 2 PV, 3 slack, 4 dark/out of service).
    gen_q_limited
        Generators fixed at a Q limit (only with ``enforce_q_limits``).
    """

    converged: bool
    reason: str
    iterations: int
    max_mismatch_pu: float
    vm_pu: np.ndarray
    va_deg: np.ndarray
    p_from_mw: np.ndarray
    q_from_mvar: np.ndarray
    p_to_mw: np.ndarray
    q_to_mvar: np.ndarray
    loss_mw: np.ndarray
    gen_p_mw: np.ndarray
    gen_q_mvar: np.ndarray
    bus_energised: np.ndarray
    island: np.ndarray
    bus_type: np.ndarray
    gen_q_limited: np.ndarray
    bus_id: np.ndarray = field(repr=False)
    branch_id: np.ndarray = field(repr=False)
    gen_id: np.ndarray = field(repr=False)
    rate_a_mva: np.ndarray = field(repr=False)
    init: str = "case"
    linear_solver: str = ""
    continuation_steps: int = 0

    @property
    def total_loss_mw(self) -> float:
        """Total active losses (MW)."""
        return float(self.loss_mw.sum())

    @property
    def n_islands(self) -> int:
        """Number of islands (energised or dark)."""
        return int(self.island.max() + 1) if self.island.size else 0

    @property
    def loading_pct(self) -> np.ndarray:
        """Branch loading: max(|S_from|, |S_to|) in % of rate A; NaN where rate A is 0 (unlimited)."""
        s = np.maximum(np.hypot(self.p_from_mw, self.q_from_mvar), np.hypot(self.p_to_mw, self.q_to_mvar))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.rate_a_mva > 0, 100.0 * s / np.where(self.rate_a_mva > 0, self.rate_a_mva, 1.0), np.nan)

    @property
    def v(self) -> np.ndarray:
        """Complex bus voltages (p.u.), for warm starts."""
        return self.vm_pu * np.exp(1j * np.deg2rad(self.va_deg))

    def summary(self) -> dict[str, Any]:
        """Scalars of the solution (convergence, losses, voltage extremes)."""
        on = self.bus_energised
        out: dict[str, Any] = {
            "converged": bool(self.converged),
            "reason": self.reason,
            "iterations": int(self.iterations),
            "max_mismatch_pu": float(self.max_mismatch_pu),
            "init": self.init,
            "continuation_steps": int(self.continuation_steps),
            "total_loss_mw": self.total_loss_mw,
            "total_gen_mw": float(self.gen_p_mw.sum()),
            "islands": self.n_islands,
            "dark_buses": int((~on).sum()),
        }
        if on.any():
            vm = np.where(on, self.vm_pu, np.inf)
            lo = int(np.argmin(vm))
            hi = int(np.argmax(np.where(on, self.vm_pu, -np.inf)))
            out.update(
                vm_min_pu=float(self.vm_pu[lo]), vm_min_bus=str(self.bus_id[lo]),
                vm_max_pu=float(self.vm_pu[hi]), vm_max_bus=str(self.bus_id[hi]),
            )
        return out

    def to_frame(self, kind: str = "bus"):
        """A pandas DataFrame of the ``"bus"``, ``"branch"`` or ``"gen"`` results, indexed by id."""
        import pandas as pd

        if kind == "bus":
            cols = {
                "vm_pu": self.vm_pu, "va_deg": self.va_deg, "energised": self.bus_energised,
                "island": self.island, "type": self.bus_type,
            }
            return pd.DataFrame(cols, index=pd.Index(self.bus_id, name="id"))
        if kind == "branch":
            cols = {
                "p_from_mw": self.p_from_mw, "q_from_mvar": self.q_from_mvar, "p_to_mw": self.p_to_mw,
                "q_to_mvar": self.q_to_mvar, "loss_mw": self.loss_mw, "loading_pct": self.loading_pct,
            }
            return pd.DataFrame(cols, index=pd.Index(self.branch_id, name="id"))
        if kind == "gen":
            cols = {"p_mw": self.gen_p_mw, "q_mvar": self.gen_q_mvar, "q_limited": self.gen_q_limited}
            return pd.DataFrame(cols, index=pd.Index(self.gen_id, name="id"))
        raise GridshieldError(f"to_frame(kind={kind!r}): use 'bus', 'branch' or 'gen'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the summary and per-element lists keyed by id order."""
        return {
            **self.summary(),
            "bus": {
                "id": self.bus_id.tolist(), "vm_pu": self.vm_pu.tolist(), "va_deg": self.va_deg.tolist(),
                "energised": self.bus_energised.tolist(), "island": self.island.tolist(),
                "type": self.bus_type.tolist(),
            },
            "branch": {
                "id": self.branch_id.tolist(), "p_from_mw": self.p_from_mw.tolist(),
                "q_from_mvar": self.q_from_mvar.tolist(), "p_to_mw": self.p_to_mw.tolist(),
                "q_to_mvar": self.q_to_mvar.tolist(), "loss_mw": self.loss_mw.tolist(),
            },
            "gen": {
                "id": self.gen_id.tolist(), "p_mw": self.gen_p_mw.tolist(), "q_mvar": self.gen_q_mvar.tolist(),
                "q_limited": self.gen_q_limited.tolist(),
            },
        }


# ---------------------------------------------------------------------------------------------
# solver
# ---------------------------------------------------------------------------------------------
@dataclass
class _Islands:
    label: np.ndarray
    count: int
    has_generation: np.ndarray


@dataclass
class _Pattern:
    """Jacobian pattern, index maps and LU for one assignment of bus types."""

    p_rows: np.ndarray
    q_rows: np.ndarray
    row_active: np.ndarray
    jmap: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    lu: Any


class AcSolver:
    """Newton-Raphson AC power flow on one grid, with everything reusable cached.

    Caches the Ybus pattern and its index maps, per-branch admittances, and per bus-type
    assignment the Jacobian pattern and the KLU symbolic factorisation. :meth:`solve` takes a
    branch status mask (e.g. an N-1 outage) and a warm start, so that re-solving many outages
    from a base case costs a few refactorisations each.

    Parameters
    ----------
    grid
        The grid (not modified).
    linear_solver
        ``"auto"`` (KLU when kvxopt is installed, else SciPy SuperLU), ``"klu"``, ``"kvxopt"`` or
        ``"scipy"``; see :mod:`gridshield.flow.linsolve`.
    """

    def __init__(self, grid: Grid, *, linear_solver: str = "auto") -> None:
        self.grid = grid
        self.linear_solver = linear_solver
        b, br, g, ld = grid.buses, grid.branches, grid.gens, grid.loads
        nb, nl = len(b), len(br)
        self.nb, self.nl = nb, nl
        self.base = float(grid.base_mva)
        self.f = np.ascontiguousarray(br.from_bus, dtype=np.int64)
        self.t = np.ascontiguousarray(br.to_bus, dtype=np.int64)
        self.zero_z = (br.r_pu == 0) & (br.x_pu == 0)
        adm = branch_admittance(grid, in_service=~self.zero_z)
        self.yff, self.yft, self.ytf, self.ytt = adm.yff, adm.yft, adm.ytf, adm.ytt
        self.ysh = bus_shunt_pu(grid)
        # Ybus pattern: every branch and every diagonal, CSR order (row-major, sorted columns)
        indptr, indices, pos = K.ybus_pattern(nb, self.f, self.t)
        self.y_indptr, self.y_indices = indptr, indices
        self.pos_ff, self.pos_ft, self.pos_tf, self.pos_tt = (pos[k * nl : (k + 1) * nl] for k in range(4))
        self.diag_pos = pos[4 * nl :]
        self.y_tr = K.transpose_map(indptr, indices)
        # injections (p.u.): loads in service, generators handled per solve
        lon = ld.in_service
        self.sd = (
            np.bincount(ld.bus[lon], weights=ld.p_mw[lon], minlength=nb)
            + 1j * np.bincount(ld.bus[lon], weights=ld.q_mvar[lon], minlength=nb)
        ) / self.base
        self.qd_mvar = np.bincount(ld.bus[lon], weights=ld.q_mvar[lon], minlength=nb)
        self.pd_mw = np.bincount(ld.bus[lon], weights=ld.p_mw[lon], minlength=nb)
        self._patterns: dict[bytes, _Pattern] = {}
        self._gen_cache: dict[bytes, tuple] = {}
        self._ybus_cache: tuple[bytes, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # the LU objects hold C pointers: ship the solver to another process without them
        state = self.__dict__.copy()
        state["_patterns"] = {}
        return state

    # -- building blocks -------------------------------------------------------------------
    def initial_voltages(self, init: Any = "dc") -> np.ndarray:
        """The complex start voltages (p.u.) :meth:`solve` would use for ``init`` (0 on dark buses)."""
        on = self._mask(None)
        isl, _, gon, btype = self._types(on, self.grid.gens.in_service)
        self._isl = isl
        return self._v0(init, btype, gon, on)[0]

    def ybus(self, branch_in_service: np.ndarray | None = None) -> sp.csr_matrix:
        """Ybus (CSR, p.u.) for a branch status mask, on the solver's fixed pattern."""
        data = self._ydata(self._mask(branch_in_service))
        return sp.csr_matrix((data, self.y_indices, self.y_indptr), shape=(self.nb, self.nb))

    def _mask(self, branch_in_service: np.ndarray | None) -> np.ndarray:
        br = self.grid.branches
        if branch_in_service is None:
            on = br.in_service
        else:
            on = np.asarray(branch_in_service, dtype=bool)
            if on.shape != (self.nl,):
                raise GridValidationError(
                    f"branch_in_service has shape {on.shape}; expected one bool per branch ({self.nl},)"
                )
        bon = self.grid.buses.in_service
        on = on & bon[self.f] & bon[self.t]
        if np.any(on & self.zero_z):
            k = int(np.flatnonzero(on & self.zero_z)[0])
            raise GridValidationError(f"{br.id[k]} has zero impedance (r = x = 0); give it a small reactance")
        return on

    def _ydata(self, on: np.ndarray) -> np.ndarray:
        key = on.tobytes()
        if self._ybus_cache is not None and self._ybus_cache[0] == key:
            return self._ybus_cache[1]
        data = K.ybus_values(
            self.y_indices.size, self.pos_ff, self.pos_ft, self.pos_tf, self.pos_tt,
            self.yff, self.yft, self.ytf, self.ytt, on, self.diag_pos, self.ysh,
        )
        self._ybus_cache = (key, data)
        return data

    def _pattern(self, btype: np.ndarray, angles_fixed: bool = False) -> _Pattern:
        """Jacobian pattern for the bus types; ``angles_fixed`` keeps only the Q-V block."""
        key = btype.tobytes() + (b"A" if angles_fixed else b"")
        pat = self._patterns.get(key)
        if pat is not None:
            return pat
        nb = self.nb
        pq = np.flatnonzero(btype == PQ)
        pvpq = pq[:0] if angles_fixed else np.flatnonzero((btype == PQ) | (btype == PV))
        npvpq = pvpq.size
        ip = np.full(nb, -1, dtype=np.int64)
        iq = np.full(nb, -1, dtype=np.int64)
        ip[pvpq] = np.arange(npvpq)
        iq[pq] = npvpq + np.arange(pq.size)
        n = npvpq + pq.size
        indptr, indices, jmap = K.jacobian_pattern(self.y_indptr, self.y_indices, self.y_tr, ip, iq, n)
        lu = sparse_lu(n, indptr, indices, self.linear_solver) if n else None
        pat = _Pattern(
            p_rows=pvpq, q_rows=pq, row_active=btype != 4, jmap=jmap, indptr=indptr, indices=indices, lu=lu
        )
        if len(self._patterns) >= 8:
            self._patterns.pop(next(iter(self._patterns)))
        self._patterns[key] = pat
        return pat

    # -- topology and bus types ----------------------------------------------------------------
    def _types(self, on: np.ndarray, gen_on: np.ndarray):
        """Islands, energised buses, bus types (4 = dark) and voltage-controlling gens."""
        grid = self.grid
        b, g = grid.buses, grid.gens
        label, count = component_labels(self.nb, self.f, self.t, on, b.in_service)
        live = gen_on & b.in_service[g.bus]
        has_gen = np.zeros(count, dtype=bool)
        has_gen[label[g.bus[live]]] = True
        energised = np.zeros(self.nb, dtype=bool)
        energised[label >= 0] = has_gen[label[label >= 0]]
        isl = _Islands(label=label, count=int(count), has_generation=has_gen)
        gon = gen_on & b.in_service[g.bus] & energised[g.bus]
        bus_gen = np.zeros(self.nb, dtype=bool)
        bus_gen[g.bus[gon]] = True
        btype = np.full(self.nb, 4, dtype=np.int8)
        btype[energised] = PQ
        btype[energised & (b.type == PV) & bus_gen] = PV
        ref = energised & (b.type == REF) & bus_gen
        btype[ref] = REF
        # islands with generation but no reference bus: slack at the largest generator (Pmax)
        lab = isl.label
        has_ref = np.zeros(isl.count, dtype=bool)
        has_ref[lab[ref]] = True
        need = isl.has_generation & ~has_ref
        if need.any():
            gi = np.flatnonzero(gon & need[np.maximum(lab[g.bus], 0)])
            if gi.size:
                order = np.lexsort((-g.p_max_mw[gi], lab[g.bus[gi]]))
                gi = gi[order]
                first = np.r_[True, lab[g.bus[gi]][1:] != lab[g.bus[gi]][:-1]]
                btype[g.bus[gi[first]]] = REF
        return isl, energised, gon, btype

    def fix_gen_q(self, label: np.ndarray, gon: np.ndarray, btype: np.ndarray, q_fixed_mvar: np.ndarray | None):
        """Generator Q (MVAr) and held mask at the start of a solve, and the bus types after holding.

        Returns ``(qg, held, btype, ok)``; ``ok`` is False when an island whose slack is held has
        no PV bus left to take over.
        """
        g = self.grid.gens
        qg = np.where(gon, g.q_mvar, 0.0)
        if q_fixed_mvar is None:
            return qg, np.zeros(len(g), dtype=bool), btype, True
        q = np.asarray(q_fixed_mvar, dtype=float)
        if q.shape != (len(g),):
            raise GridValidationError(f"q_fixed_mvar has shape {q.shape}; expected one value per generator ({len(g)},)")
        held = gon & np.isfinite(q)
        qg = np.where(held, q, qg)
        btype, ok = switch_to_pq(btype, label, g.bus[held])
        return qg, held, btype, ok

    # -- initial voltages ----------------------------------------------------------------------
    def _v0(self, init: Any, btype: np.ndarray, gon: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, str]:
        b, g = self.grid.buses, self.grid.gens
        nb = self.nb
        va_case = np.deg2rad(b.va_deg)
        if isinstance(init, AcResult):
            v = init.v.copy()
            if v.shape != (nb,):
                raise GridValidationError(f"init result has {v.shape[0]} buses, the grid has {nb}")
            dark_before = np.abs(v) == 0
            v[dark_before] = np.exp(1j * va_case[dark_before])
            label = "warm"
        elif isinstance(init, np.ndarray):
            v = np.asarray(init, dtype=np.complex128).copy()
            if v.shape != (nb,):
                raise GridValidationError(f"init voltages have shape {v.shape}; expected ({nb},)")
            v[np.abs(v) == 0] = 1.0
            label = "warm"
        elif init == "case":
            v = b.vm_pu * np.exp(1j * va_case)
            label = "case"
        elif init == "flat":
            # 1 p.u. and, in each island, the slack's angle from the case everywhere (each
            # reference bus keeps its own case angle, as MATPOWER fixes every reference angle)
            ang = self._island_ref_angle(btype, va_case)
            ang[btype == REF] = va_case[btype == REF]
            v = np.exp(1j * ang)
            label = "flat"
        elif init == "dc":
            v = np.exp(1j * self._dc_angles(btype, gon, on, va_case))
            label = "dc"
        else:
            raise GridValidationError(f"init={init!r}: use one of {INITS}, an AcResult or complex voltages")
        # voltage-controlled buses start at the generator set point (MATPOWER runpf; last gen wins)
        vc = (btype == PV) | (btype == REF)
        k = np.flatnonzero(gon & vc[g.bus])
        vg = np.zeros(nb)
        vg[g.bus[k]] = g.vg_pu[k]
        sel = vc & (vg > 0)
        mag = np.abs(v[sel])
        v[sel] = vg[sel] * np.where(mag > 0, v[sel] / np.where(mag > 0, mag, 1.0), 1.0)
        v[btype == 4] = 0.0
        return v.astype(np.complex128), label

    def _island_ref_angle(self, btype: np.ndarray, va_case: np.ndarray) -> np.ndarray:
        """Per bus: the case angle (rad) of its island's first slack bus (0 for dark buses)."""
        isl = self._isl
        out = np.zeros(self.nb)
        ref = np.flatnonzero(btype == REF)
        ang = np.zeros(isl.count)
        ang[isl.label[ref[::-1]]] = va_case[ref[::-1]]
        on = isl.label >= 0
        out[on] = ang[isl.label[on]]
        return out

    def _dc_angles(self, btype: np.ndarray, gon: np.ndarray, on: np.ndarray, va_case: np.ndarray) -> np.ndarray:
        """DC power flow angles (rad), MATPOWER's B matrix, slack angles from the case."""
        from gridshield.flow.matrices import make_bdc

        g = self.grid.gens
        m = make_bdc(self.grid, "matpower", in_service=on & ~(self.grid.branches.x_pu == 0))
        p = (np.bincount(g.bus[gon], weights=g.p_mw[gon], minlength=self.nb) / self.base - self.sd.real)
        p = p - m.pbus_shift - self.ysh.real
        va = np.where(btype == 4, 0.0, va_case)
        free = np.flatnonzero((btype == PQ) | (btype == PV))
        ref = np.flatnonzero(btype == REF)
        if free.size:
            from gridshield.flow.dc import SparseLU

            # the reduced system over the free buses, from B's triplets (no sparse slicing); the
            # fixed angles (references; dark buses at 0) move to the right-hand side
            bb = m.bbus.tocoo()
            r, c, v = bb.row, bb.col, bb.data
            pos = np.full(self.nb, -1, dtype=np.int64)
            pos[free] = np.arange(free.size)
            inner = (pos[r] >= 0) & (pos[c] >= 0)
            known = (pos[r] >= 0) & (pos[c] < 0)
            rhs = p[free] - np.bincount(pos[r[known]], weights=v[known] * va[c[known]], minlength=free.size)
            try:  # KLU where installed (B is symmetric)
                va[free] = SparseLU((pos[r[inner]], pos[c[inner]], v[inner], free.size)).solve(rhs)
            except GridValidationError:
                pass  # singular DC matrix: keep the case angles
        return va

    # -- Newton-Raphson ---------------------------------------------------------------------------
    def _newton(self, ydata, sbus, v, pat, tol, max_iter, robust):
        nb = self.nb
        p_rows, q_rows = pat.p_rows, pat.q_rows
        n = p_rows.size + q_rows.size
        f = np.empty(n)
        ibus = np.empty(nb, dtype=np.complex128)
        va = np.angle(v)
        vm = np.abs(v)
        norm = K.mismatch(self.y_indptr, self.y_indices, ydata, v, sbus, p_rows, q_rows, f, ibus) if n else 0.0
        if norm < tol:
            return v, True, "converged", 0, norm
        jdata = np.zeros(pat.indices.size)
        it = 0
        f_try = np.empty(n)
        ibus_try = np.empty(nb, dtype=np.complex128)
        v_try = np.empty(nb, dtype=np.complex128)
        while it < max_iter:
            it += 1
            K.jacobian(self.y_indptr, self.y_indices, ydata, v, ibus, pat.jmap, pat.row_active, jdata)
            try:
                pat.lu.factor(jdata)
            except SingularMatrixError:
                return v, False, "singular Jacobian", it, norm
            dx = pat.lu.solve(f)
            if not np.all(np.isfinite(dx)):
                return v, False, "singular Jacobian", it, norm
            if robust:
                # backtracking line search on the 2-norm of the mismatch (Armijo condition)
                f2 = float(f @ f)
                alpha = 1.0
                best = None
                for _ in range(12):
                    va_t, vm_t = va.copy(), vm.copy()
                    K.update_v(va_t, vm_t, dx, p_rows, q_rows, alpha, v_try)
                    nt = K.mismatch(self.y_indptr, self.y_indices, ydata, v_try, sbus, p_rows, q_rows, f_try, ibus_try)
                    ft2 = float(f_try @ f_try)
                    if best is None or ft2 < best[0]:
                        best = (ft2, alpha, va_t, vm_t, v_try.copy(), f_try.copy(), ibus_try.copy(), nt)
                    if np.isfinite(ft2) and ft2 <= (1.0 - 1e-4 * alpha) * f2:
                        break
                    alpha *= 0.5
                _, alpha, va, vm, v, f, ibus, norm = best
            else:
                K.update_v(va, vm, dx, p_rows, q_rows, 1.0, v)
                norm = K.mismatch(self.y_indptr, self.y_indices, ydata, v, sbus, p_rows, q_rows, f, ibus)
            if not np.isfinite(norm) or norm > DIVERGENCE_PU:
                return v, False, "diverged", it, norm
            if norm < tol:
                return v, True, "converged", it, norm
        return v, False, "max iterations", it, norm

    # -- public ----------------------------------------------------------------------------------
    def solve(
        self,
        *,
        branch_in_service: np.ndarray | None = None,
        gen_in_service: np.ndarray | None = None,
        init: Any = "case",
        v0: np.ndarray | None = None,
        enforce_q_limits: bool = False,
        robust: bool = False,
        tol: float = 1e-8,
        max_iter: int = 30,
        q_fixed_mvar: np.ndarray | None = None,
    ) -> AcResult:
        """Solve the AC power flow.

        Parameters
        ----------
        branch_in_service
            Branch status mask (default: the grid's); e.g. the base case with one branch off.
        gen_in_service
            Generator status mask (default: the grid's).
        init
            ``"case"`` (the case's voltages, MATPOWER's default), ``"flat"`` (1 p.u., 0 degrees),
            ``"dc"`` (DC power flow angles), an :class:`AcResult` or an array of complex voltages
            (warm start). Voltage-controlled buses always start at their set point ``Vg``.
        v0
            Complex start voltages (p.u.); same as passing them as ``init``.
        enforce_q_limits
            Fix generators that violate Q limits at the limit and make their buses PQ, then solve
            again (MATPOWER ``ENFORCE_Q_LIMS = 1``).
        robust
            Backtracking line search on the mismatch norm at every Newton step.
        tol
            Tolerance on the largest power mismatch (p.u.).
        max_iter
            Newton iterations allowed (per Q-limit pass).
        q_fixed_mvar
            Per generator: a reactive output (MVAr) at which it is held from the start, NaN for
            the others. A held generator's bus is PQ (as after a Q-limit switch); this starts a
            post-contingency solve from the pre-contingency Q-limit state
            (:func:`frozen_gen_q`).
        """
        grid = self.grid
        g = grid.gens
        on = self._mask(branch_in_service)
        gen_on = g.in_service if gen_in_service is None else np.asarray(gen_in_service, dtype=bool)
        if gen_on.shape != (len(g),):
            raise GridValidationError(f"gen_in_service has shape {gen_on.shape}; expected ({len(g)},)")
        if v0 is not None:
            init = np.asarray(v0, dtype=np.complex128)
        if not tol > 0:  # also catches NaN
            raise GridshieldError(f"tol={tol}: the mismatch tolerance must be a positive number of p.u., e.g. 1e-8")
        if max_iter < 1:
            raise GridshieldError(f"max_iter={max_iter}: allow at least one Newton iteration")
        isl, energised, gon, btype = self._types(on, gen_on)
        self._isl = isl
        ref0 = np.flatnonzero(btype == REF)
        qg, limited, btype, q_ok = self.fix_gen_q(isl.label, gon, btype, q_fixed_mvar)
        v, init_label = self._v0(init, btype, gon, on)
        ydata = self._ydata(on)
        va_ref0 = np.angle(v[ref0]) if ref0.size else np.zeros(0)
        iterations = 0
        continuation_steps = 0
        converged, reason, norm = False, "no generation", 0.0
        if not energised.any():
            v = np.zeros(self.nb, dtype=np.complex128)
        elif not q_ok:
            reason = "q limits infeasible"
        else:
            while True:
                pat = self._pattern(btype)
                pg = np.where(gon, g.p_mw, 0.0)
                sg = np.bincount(g.bus[gon], weights=pg[gon], minlength=self.nb) + 1j * np.bincount(
                    g.bus[gon], weights=qg[gon], minlength=self.nb
                )
                sbus = sg / self.base - self.sd
                sbus[btype == 4] = 0.0
                v_start = v
                # robust mode: damped Newton for at most 15 iterations, then continuation
                first_iter = min(max_iter, ROBUST_NEWTON_ITER) if robust else max_iter
                v, converged, reason, it, norm = self._newton(ydata, sbus, v, pat, tol, first_iter, robust)
                iterations += it
                if robust and not converged and reason in ("max iterations", "diverged"):
                    v_c, ok_c, reason_c, it_c, norm_c, steps = self._continuation(
                        sbus, v_start, pat, on, btype, gon, tol, max_iter
                    )
                    iterations += it_c
                    continuation_steps += steps
                    if ok_c or norm_c < norm:
                        v, converged, reason, norm = v_c, ok_c, reason_c, norm_c
                if not (enforce_q_limits and converged):
                    break
                s_inj = v * np.conj(self._ibus(ydata, v))
                gp, gq = self._gen_pq(s_inj, btype, gon, limited, qg)
                over = gon & ~limited & (gq > g.q_max_mvar + Q_LIMIT_TOL_MVAR)
                under = gon & ~limited & (gq < g.q_min_mvar - Q_LIMIT_TOL_MVAR)
                viol = over | under
                if not viol.any():
                    break
                qg = np.where(gon & ~limited, gq, qg)
                qg = np.where(over, g.q_max_mvar, np.where(under, g.q_min_mvar, qg))
                limited |= viol
                btype, q_ok = switch_to_pq(btype, isl.label, g.bus[viol])
                if not q_ok:
                    converged, reason = False, "q limits infeasible"
                    break
            if ref0.size and converged:
                # keep the original reference angles (MATPOWER shifts back after a slack change)
                now = btype[ref0] != REF
                if now.any():
                    lab = isl.label
                    shift = np.zeros(isl.count)
                    shift[lab[ref0]] = va_ref0 - np.angle(v[ref0])
                    v = np.where(energised, v * np.exp(1j * shift[np.maximum(lab, 0)]), 0)
        res = self._result(v, on, btype, gon, limited, qg, energised, isl, converged, reason, iterations, norm, init_label)
        if continuation_steps:
            object.__setattr__(res, "continuation_steps", continuation_steps)
        return res

    def _continuation(self, sbus, v_start, pat, on, btype, gon, tol, max_iter):
        """Homotopy for robust mode when the damped Newton method fails from the given start.

        Solves a sequence of problems with the injections, the bus shunts, the line charging, the
        off-nominal tap ratios and phase shifts and the generator voltage set points scaled by
        lambda (set points as 1 + lambda (Vg - 1), taps as 1 + lambda (tap - 1)), from lambda = 0,
        where the flat profile is the exact solution, to lambda = 1 (the real problem), each
        started from the previous solution; the step grows after a success and halves after a
        failure. Returns ``(v, converged, reason, iterations, mismatch, steps)``.
        """
        g = self.grid.gens
        vc = (btype == PV) | (btype == REF)
        k = np.flatnonzero(gon & vc[g.bus])
        vg = np.ones(self.nb)
        vg[g.bus[k]] = g.vg_pu[k]
        ref_ang = self._island_ref_angle(btype, np.angle(v_start))
        v = np.where(btype == 4, 0, np.exp(1j * ref_ang)).astype(np.complex128)
        lam, lam_ok, step, total, steps = 0.0, 0.0, 0.2, 0, 0
        budget = 20 * max_iter
        norm = np.inf
        br = self.grid.branches
        with np.errstate(divide="ignore", invalid="ignore"):
            ys = np.where(self.zero_z, 0, 1.0 / np.where(self.zero_z, 1.0, br.r_pu + 1j * br.x_pu))
        ratio, shift, bc = br.ratio, np.deg2rad(br.shift_deg), br.b_pu
        ends = end_shunts(self.grid, np.ones(self.nl, dtype=bool))
        while total < budget:
            # line charging, end shunts, off-nominal taps and phase shifts are scaled too, so
            # that at lambda = 0 the flat profile is the exact solution
            a = pi_admittance(ys, lam * bc, (lam * ends[0], lam * ends[1]), 1.0 + lam * (ratio - 1.0), lam * shift)
            ydata = K.ybus_values(
                self.y_indices.size, self.pos_ff, self.pos_ft, self.pos_tf, self.pos_tt,
                a.yff, a.yft, a.ytf, a.ytt, on, self.diag_pos, self.ysh * lam,
            )
            vv = v.copy()
            target = 1.0 + lam * (vg - 1.0)
            mag = np.abs(vv[vc])
            vv[vc] = target[vc] * vv[vc] / np.where(mag > 0, mag, 1.0)
            last = lam >= 1.0
            vt, ok, reason, it, norm = self._newton(
                ydata, sbus * lam, vv, pat, tol if last else max(tol, 1e-6), min(max_iter, 12), True
            )
            total += it
            steps += 1
            if ok:
                v = vt
                if last:
                    return v, True, "converged", total, norm, steps
                lam_ok = lam
                lam = min(1.0, lam_ok + step)
                step = min(1.5 * step, 0.5)
            else:
                if lam == 0.0:
                    break
                step = (lam - lam_ok) / 2
                if step < 1e-3:
                    break
                lam = lam_ok + step
        return v, False, "max iterations", total, norm, steps

    def _ibus(self, ydata: np.ndarray, v: np.ndarray) -> np.ndarray:
        ibus = np.empty(self.nb, dtype=np.complex128)
        empty = np.zeros(0, dtype=np.int64)
        K.mismatch(self.y_indptr, self.y_indices, ydata, v, np.zeros(self.nb, dtype=np.complex128), empty, empty, np.zeros(0), ibus)
        return ibus

    def _gen_static(self, btype, gon, limited):
        """The parts of :meth:`_gen_pq` that depend only on statuses and bus types (cached)."""
        key = btype.tobytes() + gon.tobytes() + limited.tobytes()
        hit = self._gen_cache.get(key)
        if hit is not None:
            return hit
        g = self.grid.gens
        nb = self.nb
        gi = np.flatnonzero(gon & ~limited)
        gb = g.bus[gi]
        ngg = np.bincount(gb, minlength=nb).astype(float)
        qmin, qmax = g.q_min_mvar[gi], g.q_max_mvar[gi]
        qmin_b = np.bincount(gb, weights=qmin, minlength=nb)[gb]
        qmax_b = np.bincount(gb, weights=qmax, minlength=nb)[gb]
        rng = qmax_b - qmin_b
        equal = (qmin_b == qmax_b) | ~np.isfinite(rng) | ~np.isfinite(qmin) | ~np.isfinite(qmax)
        # MATPOWER pfsoln: Qg = Qmin + (Qbus - Qmin_bus) / (Qmax_bus - Qmin_bus + eps) (Qmax - Qmin)
        slope = np.where(equal, 0.0, (qmax - qmin) / np.where(equal, 1.0, rng + np.finfo(float).eps))
        single = ngg[gb] == 1
        share = 1.0 / ngg[gb]
        # slack generators: the first active generator at each slack bus takes the balance
        rg = gi[btype[gb] == REF]
        _, first_idx = np.unique(g.bus[rg], return_index=True)
        first = rg[first_idx]
        gp0 = np.where(gon, g.p_mw, 0.0)
        others = (
            np.bincount(g.bus[rg], weights=gp0[rg], minlength=nb) - np.bincount(g.bus[first], weights=gp0[first], minlength=nb)
        )[g.bus[first]]
        lim = limited & gon
        qmin, qmin_b = np.where(equal, 0.0, qmin), np.where(equal, 0.0, qmin_b)  # finite where used
        out = (gi, gb, qmin, qmin_b, slope, equal, single, share, first, others, np.flatnonzero(lim))
        if len(self._gen_cache) >= 8:
            self._gen_cache.pop(next(iter(self._gen_cache)))
        self._gen_cache[key] = out
        return out

    def _gen_pq(self, s_inj, btype, gon, limited, qg):
        """Generator P and Q from bus injections (MATPOWER ``pfsoln``), MW and MVAr."""
        g = self.grid.gens
        gp = np.where(gon, g.p_mw, 0.0)
        gq = np.where(gon, qg, 0.0)
        gi, gb, qmin, qmin_b, slope, equal, single, share, first, others, lim = self._gen_static(btype, gon, limited)
        if gi.size == 0:
            return gp, gq
        nb = self.nb
        # Q the active generators at each bus must supply: injection + load - limited gens' Q
        qbus = s_inj.imag * self.base + self.qd_mvar
        pbus = s_inj.real * self.base + self.pd_mw
        if lim.size:
            qbus = qbus - np.bincount(g.bus[lim], weights=qg[lim], minlength=nb)
            pbus = pbus - np.bincount(g.bus[lim], weights=gp[lim], minlength=nb)
        qb = qbus[gb]
        gq[gi] = np.where(single, qb, np.where(equal, qb * share, qmin + (qb - qmin_b) * slope))
        if first.size:
            gp[first] = pbus[g.bus[first]] - others
        return gp, gq

    def _result(self, v, on, btype, gon, limited, qg, energised, isl, converged, reason, iterations, norm, init_label):
        grid = self.grid
        v = np.where(energised, v, 0.0)
        if not np.all(np.isfinite(v)):
            v = np.where(np.isfinite(v), v, 0.0)
        vf, vt = v[self.f], v[self.t]
        yff = np.where(on, self.yff, 0)
        yft = np.where(on, self.yft, 0)
        ytf = np.where(on, self.ytf, 0)
        ytt = np.where(on, self.ytt, 0)
        sf = vf * np.conj(yff * vf + yft * vt) * self.base
        st = vt * np.conj(ytf * vf + ytt * vt) * self.base
        ydata = self._ydata(on)
        s_inj = v * np.conj(self._ibus(ydata, v))
        gp, gq = self._gen_pq(s_inj, btype, gon, limited, qg)
        gp = np.where(gon, gp, 0.0)
        gq = np.where(gon, gq, 0.0)
        gq = np.where(limited, qg, gq)
        return AcResult(
            converged=bool(converged),
            reason=reason,
            iterations=int(iterations),
            max_mismatch_pu=float(norm) if np.isfinite(norm) else float("inf"),
            vm_pu=np.abs(v),
            va_deg=np.where(energised, np.rad2deg(np.angle(v)), 0.0),
            p_from_mw=sf.real,
            q_from_mvar=sf.imag,
            p_to_mw=st.real,
            q_to_mvar=st.imag,
            loss_mw=sf.real + st.real,
            gen_p_mw=gp,
            gen_q_mvar=gq,
            bus_energised=energised.copy(),
            island=isl.label.copy(),
            bus_type=btype.astype(np.int64),
            gen_q_limited=limited.copy(),
            bus_id=grid.buses.id,
            branch_id=grid.branches.id,
            gen_id=grid.gens.id,
            rate_a_mva=grid.branches.rate_a_mva,
            init=init_label,
            linear_solver=next((p.lu.name for p in self._patterns.values() if p.lu is not None), ""),
        )


def switch_to_pq(btype: np.ndarray, label: np.ndarray, buses: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bus types after the generators at ``buses`` stop controlling voltage (Q limit reached).

    The buses become PQ; an island whose slack went PQ takes its first remaining PV bus as slack
    (MATPOWER ``runpf``). Returns ``(btype, ok)``, ``ok`` False when such an island has no PV bus.
    """
    buses = np.asarray(buses, dtype=np.int64)
    if buses.size == 0:
        return btype, True
    btype = btype.copy()
    lost_ref = np.unique(label[buses[btype[buses] == REF]])
    btype[buses] = PQ
    for island in lost_ref.tolist():
        pv_here = np.flatnonzero((label == island) & (btype == PV))
        if pv_here.size == 0:
            return btype, False
        btype[pv_here[0]] = REF
    return btype, True


def frozen_gen_q(solver: AcSolver, result: AcResult, gen_in_service: np.ndarray | None = None) -> np.ndarray:
    """Per generator: its Q (MVAr) where a Q-limit switch left it at a PQ bus in ``result``, else NaN.

    Passing this as ``q_fixed_mvar`` starts another solve (e.g. after an outage) from ``result``'s
    Q-limit state: the generators that hit a limit stay at it, and so do the others at their buses.
    """
    g = solver.grid.gens
    gen_on = g.in_service if gen_in_service is None else gen_in_service
    on = solver._mask(None)
    _, _, gon, btype = solver._types(on, gen_on)
    frozen = gon & (result.bus_type[g.bus] == PQ) & (btype[g.bus] != PQ)
    return np.where(frozen, result.gen_q_mvar, np.nan)


def solve_ac(
    grid: Grid,
    *,
    init: Any = "case",
    enforce_q_limits: bool = False,
    robust: bool = False,
    tol: float = 1e-8,
    max_iter: int = 30,
    branch_in_service: np.ndarray | None = None,
    linear_solver: str = "auto",
) -> AcResult:
    """AC power flow by Newton-Raphson (polar form, MATPOWER conventions).

    Parameters
    ----------
    grid
        The grid.
    init
        ``"case"`` (default: the case file's voltages, like MATPOWER), ``"flat"``, ``"dc"``
        (DC power flow angles), or a previous :class:`AcResult` / complex voltage array (warm start).
    enforce_q_limits
        Generator Q-limit enforcement by PV->PQ switching (MATPOWER ``ENFORCE_Q_LIMS = 1``).
    robust
        Line search on the mismatch norm (for cases where plain Newton diverges).
    tol
        Largest power mismatch allowed (p.u.); MATPOWER's default 1e-8.
    max_iter
        Newton iterations allowed.
    branch_in_service
        Optional branch status mask overriding the grid's.
    linear_solver
        ``"auto"``, ``"klu"``, ``"kvxopt"`` or ``"scipy"``.

    Returns
    -------
    AcResult
        Check ``converged`` (and ``reason``): a result that did not converge is reported as such.
    """
    return AcSolver(grid, linear_solver=linear_solver).solve(
        branch_in_service=branch_in_service, init=init, enforce_q_limits=enforce_q_limits,
        robust=robust, tol=tol, max_iter=max_iter,
    )


__all__ = ["INITS", "AcResult", "AcSolver", "frozen_gen_q", "solve_ac", "switch_to_pq"]
