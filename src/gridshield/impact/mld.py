"""Maximal load delivery (MLD): the DC linear program that decides how much load can still be served.

Formulation (all quantities per-unit on ``grid.base_mva``, angles in radians), one model for the
whole grid; islands are independent blocks of it (the objective is separable), so one solve gives
the optimum of every island at once:

* columns: bus angles ``theta`` (one fixed to 0 per energised island), branch flows ``f``,
  generator outputs ``pg``, served load ``ps`` per load, and commitment ``u`` for generators
  with a positive minimum output;
* bus balance (one row per bus): ``sum pg - sum ps - sum_out f + sum_in f = Gs`` (MATPOWER's DC
  model counts the shunt conductance as a load at 1 p.u. voltage);
* Kirchhoff's voltage law (one row per branch): ``f - b (theta_f - theta_t) = -b shift``;
* branch limits as bounds on ``f`` (rate A, or rate B with ``rate="b"``; 0 = unlimited) and
  angle-difference limits ``angmin <= theta_f - theta_t <= angmax`` where the case sets them
  (MATPOWER's rule: a limit of 0 or beyond +-360 degrees is none);
* ``Pmin u <= pg <= Pmax u``; ``0 <= ps <= Pd`` (or ``ps = Pd`` with ``shed=False``);
* objective: maximise ``sum_d w_d ps_d`` with priority weights ``w`` (:data:`DEFAULT_WEIGHTS`).

Why B-theta with flow columns rather than PTDF: a damage only *changes bounds* in this form (a
branch out = its flow fixed to 0 and its KVL row freed; a dark bus = its columns fixed to 0), so one
HiGHS model is built once and re-solved for many damages with a warm-started dual simplex. A PTDF
form would need a new dense PTDF (and new constraint coefficients) for every topology.

Generators that cannot run in their island (``Pmin`` above what the island can absorb) are handled
by binary commitment (``commitment="milp"``, the default, as PowerModelsRestoration's
``run_mld_uc``), solved exactly but cheaply: the LP relaxation (``u`` continuous, which is
PowerModelsRestoration's ``run_mld``, available as ``commitment="relaxed"``) gives an upper bound;
if its solution already has every committed generator at 0 or at/above ``Pmin`` it is optimal;
otherwise the LP with every generator committed is tried, and only when neither reaches the bound
a branch and bound over the units the relaxation runs between 0 and ``Pmin`` decides them, its
nodes the same continuous program re-solved warm (:meth:`MldModel._branch_and_bound`).
``commitment="fixed"`` keeps every generator on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridshieldError
from gridshield.flow.matrices import bus_shunt_pu, dc_susceptance
from gridshield.grid.model import PRIORITY_CLASSES, Grid
from gridshield.optim import new_highs

#: Default objective weights per priority class (per MW served). Critical load (hospitals,
#: water, heat plants) is shed last, then essential; residential, commercial and industrial are
#: treated alike (maximise MW). The ratios (10x) make the LP shed any amount of a lower class
#: before 1/10 of that amount of a higher one. Override with ``weights={...}``.
DEFAULT_WEIGHTS: dict[str, float] = {
    "critical": 1000.0,
    "essential": 100.0,
    "residential": 10.0,
    "commercial": 10.0,
    "industrial": 10.0,
}

Commitment = Literal["milp", "relaxed", "fixed"]
COMMITMENTS = ("milp", "relaxed", "fixed")
#: Relative optimality gap accepted for the commitment problem (the same as HiGHS's default MIP gap,
#: mip_rel_gap = 1e-4): a heuristic point within this gap of the LP relaxation's bound is accepted.
COMMIT_GAP = 1e-4
#: Most continuous solves (nodes) of the commitment's branch and bound; past it the best answer
#: found is used and its gap to the proven bound is reported in the method. A node count, not a
#: time limit, so that the answer does not depend on the machine's speed.
COMMIT_MAX_NODES = 200
PRESOLVE = "choose"
INF = float("inf")

def resolve_weights(grid: Grid, weights: dict[str, float] | None) -> np.ndarray:
    """Objective weight per load from its priority class (user values override the defaults)."""
    w = dict(DEFAULT_WEIGHTS)
    if weights:
        for k, v in weights.items():
            if k not in PRIORITY_CLASSES:
                raise GridshieldError(f"weights: unknown priority class {k!r}; use one of {PRIORITY_CLASSES}")
            if not (np.isfinite(v) and v > 0):
                raise GridshieldError(f"weights[{k!r}] must be a positive number, got {v!r}")
            w[k] = float(v)
    pri = grid.loads.priority
    out = np.empty(len(pri))
    for i, p in enumerate(pri.tolist()):
        out[i] = w.get(p, w["residential"])
    return out


def branch_rate_mw(grid: Grid, rate: str) -> np.ndarray:
    """Branch limits in MW for ``rate`` ``"a"``, ``"b"`` or ``"c"`` (0 = unlimited)."""
    r = str(rate).lower()
    if r not in ("a", "b", "c"):
        raise GridshieldError(f"--rate {str(rate)!r}: use a, b or c (the branch rating the operators respect)")
    return np.asarray(getattr(grid.branches, f"rate_{r}_mva"), float)


def angle_limits_rad(grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with an angle-difference limit and their bounds (rad), MATPOWER's rule."""
    br = grid.branches
    amin, amax = br.angmin_deg, br.angmax_deg
    has_min = (amin != 0) & (amin > -360)
    has_max = (amax != 0) & (amax < 360)
    rows = np.flatnonzero(has_min | has_max)
    lo = np.where(has_min[rows], np.deg2rad(amin[rows]), -INF)
    hi = np.where(has_max[rows], np.deg2rad(amax[rows]), INF)
    return rows, lo, hi


@dataclass(frozen=True)
class Setting:
    """What one MLD solve sees: which elements are live and how generators may move (p.u.)."""

    bus_on: np.ndarray  # energised and in service
    branch_on: np.ndarray
    gen_on: np.ndarray
    load_on: np.ndarray
    ref_buses: np.ndarray  # one bus per energised island whose angle is fixed
    gen_lo: np.ndarray  # per generator, p.u. (used when on)
    gen_hi: np.ndarray
    shed: bool
    label: np.ndarray | None = None  # island number per bus (-1 = out), for per-island checks


@dataclass(frozen=True)
class MldSolution:
    """Raw LP answer, p.u."""

    ok: bool
    status: str
    objective: float
    pg: np.ndarray
    ps: np.ndarray
    flow: np.ndarray
    theta: np.ndarray
    gen_off: np.ndarray  # bool per generator: switched off by the commitment
    method: str


class MldModel:
    """The MLD program of one grid, built once and re-solved for many settings (bounds only)."""

    def __init__(
        self,
        grid: Grid,
        rate: str = "a",
        dc_convention: str = "matpower",
        weights: dict[str, float] | None = None,
        angle_limits: bool = True,
        commitment: Commitment = "milp",
        commit_lo: np.ndarray | None = None,
        commit_hi: np.ndarray | None = None,
        build: bool = True,
    ):
        if commitment not in COMMITMENTS:
            raise GridshieldError(f"commitment must be one of {COMMITMENTS}, got {commitment!r}")
        self.grid = grid
        self.commitment = commitment
        base = grid.base_mva
        br, g, ld = grid.branches, grid.gens, grid.loads
        nb, nl, ng, nd = len(grid.buses), len(br), len(g), len(ld)
        self.nb, self.nl, self.ng, self.nd = nb, nl, ng, nd
        b, shift = dc_susceptance(grid, dc_convention, br.in_service)
        self.b = b
        self.pf_shift = -b * shift
        self.rate_pu = branch_rate_mw(grid, rate) / base
        self.gs_pu = bus_shunt_pu(grid).real
        self.pd_pu = ld.p_mw / base
        self.w = resolve_weights(grid, weights)
        if angle_limits:
            self.ang_rows, self.ang_lo, self.ang_hi = angle_limits_rad(grid)
        else:
            self.ang_rows, self.ang_lo, self.ang_hi = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        na = self.ang_rows.size
        lo = g.p_min_mw / base if commit_lo is None else commit_lo
        hi = g.p_max_mw / base if commit_hi is None else commit_hi
        self._lo = np.asarray(lo, float)
        self._hi = np.asarray(hi, float)
        #: generators that may be switched off (``Pmin > 0``); with ``commitment="relaxed"`` the
        #: on/off relaxation ``u Pmin <= pg <= u Pmax, 0 <= u <= 1`` is projected out exactly
        #: (``0 <= pg <= Pmax``), so only "milp" and "fixed" carry commitment columns ``u``
        self.switch = np.flatnonzero(lo > 0)
        self._switch_mask = np.zeros(ng, bool)
        self._switch_mask[self.switch] = commitment != "fixed"
        self.uc = self.switch if commitment != "relaxed" else np.zeros(0, np.int64)
        nu = self.uc.size
        self.na, self.nu = na, nu
        # column offsets
        self.c_th, self.c_f, self.c_pg, self.c_ps, self.c_u = 0, nb, nb + nl, nb + nl + ng, nb + nl + ng + nd
        ncol = self.c_u + nu
        # row offsets
        self.r_bus, self.r_kvl, self.r_ang = 0, nb, nb + nl
        self.r_uh, self.r_ul = nb + nl + na, nb + nl + na + nu
        nrow = self.r_ul + nu
        self.ncol, self.nrow = ncol, nrow
        self._h = None
        self.cost = np.zeros(0)
        if not build:
            return
        f, t = br.from_bus, br.to_bus
        li = np.arange(nl)
        gi = np.arange(ng)
        di = np.arange(nd)
        rows = [g.bus, ld.bus, f, t, nb + li, nb + li, nb + li]
        cols = [self.c_pg + gi, self.c_ps + di, self.c_f + li, self.c_f + li, self.c_f + li, f, t]
        vals = [np.ones(ng), -np.ones(nd), -np.ones(nl), np.ones(nl), np.ones(nl), -b, b]
        if na:
            ar = self.r_ang + np.arange(na)
            rows += [ar, ar]
            cols += [f[self.ang_rows], t[self.ang_rows]]
            vals += [np.ones(na), -np.ones(na)]
        if nu:
            ui = np.arange(nu)
            rows += [self.r_uh + ui, self.r_uh + ui, self.r_ul + ui, self.r_ul + ui]
            cols += [self.c_pg + self.uc, self.c_u + ui, self.c_pg + self.uc, self.c_u + ui]
            vals += [np.ones(nu), -hi[self.uc], np.ones(nu), -lo[self.uc]]
        a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, ncol))
        a.sum_duplicates()
        a.sort_indices()
        self.a = a
        cost = np.zeros(ncol)
        cost[self.c_ps : self.c_ps + nd] = -self.w
        self.cost = cost
        self._h = None
        self._basis0 = None  # the intact optimum's basis (see start_from)

    def __getstate__(self) -> dict:
        """Picklable (for process pools): solver handles and per-damage state are dropped and
        rebuilt on the next solve."""
        state = self.__dict__.copy()
        for k in ("_topo", "_s", "_cuts", "_cut_keys", "_flow_row", "_a0", "_gs", "_gi", "_di"):
            state.pop(k, None)
        state["_h"] = None
        if "topo_hint" in state:
            state["topo_hint"] = None
        return state

    # ------------------------------------------------------------------------------------------
    def bounds(self, s: Setting) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Column and row bounds for a setting."""
        nb, nl, nd = self.nb, self.nl, self.nd
        cl = np.zeros(self.ncol)
        cu = np.zeros(self.ncol)
        # angles: free on live buses, 0 on dark ones and on each island's reference
        cl[:nb] = np.where(s.bus_on, -INF, 0.0)
        cu[:nb] = np.where(s.bus_on, INF, 0.0)
        cl[s.ref_buses] = 0.0
        cu[s.ref_buses] = 0.0
        rate = np.where(self.rate_pu > 0, self.rate_pu, INF)
        cl[self.c_f : self.c_f + nl] = np.where(s.branch_on, -rate, 0.0)
        cu[self.c_f : self.c_f + nl] = np.where(s.branch_on, rate, 0.0)
        glo, ghi, dlo, dhi, ulo, uhi = self.injection_bounds(s)
        cl[self.c_pg : self.c_pg + self.ng], cu[self.c_pg : self.c_pg + self.ng] = glo, ghi
        cl[self.c_ps : self.c_ps + nd], cu[self.c_ps : self.c_ps + nd] = dlo, dhi
        cl[self.c_u :], cu[self.c_u :] = ulo, uhi
        rl = np.zeros(self.nrow)
        ru = np.zeros(self.nrow)
        gs = np.where(s.bus_on, self.gs_pu, 0.0)
        rl[:nb] = gs
        ru[:nb] = gs
        kv = self.pf_shift
        rl[nb : nb + nl] = np.where(s.branch_on, kv, -INF)
        ru[nb : nb + nl] = np.where(s.branch_on, kv, INF)
        if self.na:
            on = s.branch_on[self.ang_rows]
            rl[self.r_ang : self.r_ang + self.na] = np.where(on, self.ang_lo, -INF)
            ru[self.r_ang : self.r_ang + self.na] = np.where(on, self.ang_hi, INF)
        if self.nu:
            rl[self.r_uh : self.r_uh + self.nu] = -INF  # pg - hi u <= 0
            ru[self.r_uh : self.r_uh + self.nu] = 0.0
            rl[self.r_ul : self.r_ul + self.nu] = 0.0  # pg - lo u >= 0
            ru[self.r_ul : self.r_ul + self.nu] = INF
        return cl, cu, rl, ru

    def injection_bounds(self, s: Setting) -> tuple[np.ndarray, ...]:
        """Bounds of generator outputs, served loads and commitments (p.u.) for a setting."""
        gon = s.gen_on
        glo = np.where(gon, np.where(self._switch_mask, 0.0, s.gen_lo), 0.0)
        ghi = np.where(gon, s.gen_hi, 0.0)
        pd = self.pd_pu
        lon = s.load_on
        dlo = np.where(lon, np.where((pd < 0) | (not s.shed), pd, 0.0), 0.0)
        dhi = np.where(lon, pd, 0.0)
        uon = gon[self.uc]
        ulo = np.where(uon & (self.commitment == "fixed"), 1.0, 0.0)
        uhi = np.where(uon, 1.0, 0.0)
        return glo, ghi, dlo, dhi, ulo, uhi

    def _lp(self, cl, cu, rl, ru):
        import highspy

        lp = highspy.HighsLp()
        lp.num_col_ = self.ncol
        lp.num_row_ = self.nrow
        lp.col_cost_ = self.cost
        lp.col_lower_ = cl
        lp.col_upper_ = cu
        lp.row_lower_ = rl
        lp.row_upper_ = ru
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = self.a.indices.astype(np.int32)
        lp.a_matrix_.value_ = self.a.data
        return lp

    def _run(self, h) -> tuple[str, np.ndarray | None, float]:
        import highspy

        h.run()
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kOptimal:
            sol = np.asarray(h.getSolution().col_value)
            return "optimal", sol, float(h.getInfo().objective_function_value)
        if st in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "infeasible", None, np.nan
        return h.modelStatusToString(st), None, np.nan

    def start_from(self, s: Setting) -> None:
        """Solve ``s`` (the intact grid) and start every fresh model from its optimal basis.

        After :meth:`forget_warm_start` the next solve then begins a few pivots from its answer
        (a damage changes a few bounds) instead of from scratch: measured on case2869pegase,
        0.34 s for a cold solve against 20-40 ms from the intact basis.
        """
        self._h = None
        self.solve(s)
        if self._h is not None:  # kept as status codes: a HighsBasis does not pickle
            b = self._h.getBasis()
            self._basis0 = (tuple(int(v) for v in b.col_status), tuple(int(v) for v in b.row_status))
        self._h = None

    def forget_warm_start(self) -> None:
        """The next solve starts a fresh model (from the intact basis when :meth:`start_from` ran),
        so that its answer does not depend on earlier solves."""
        self._h = None

    def _solve_lp(self, cl, cu, rl, ru) -> tuple[str, np.ndarray | None, float]:
        """Solve the continuous program on the persistent (warm) model: bounds change only."""
        if self._h is None:
            self._h = new_highs()
            self._h.setOptionValue("presolve", PRESOLVE)
            basis0 = getattr(self, "_basis0", None)
            if basis0 is not None:
                # exact steepest-edge weights for a non-slack starting basis cost a solve per row
                # (0.3 s on case2869pegase); Devex weights start free
                self._h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
            self._h.passModel(self._lp(cl, cu, rl, ru))
            if basis0 is not None:
                import highspy

                hb = highspy.HighsBasis()
                hb.col_status = [highspy.HighsBasisStatus(v) for v in basis0[0]]
                hb.row_status = [highspy.HighsBasisStatus(v) for v in basis0[1]]
                hb.valid = True
                self._h.setBasis(hb)
        else:
            h = self._h
            ic = np.arange(self.ncol, dtype=np.int32)
            ir = np.arange(self.nrow, dtype=np.int32)
            h.changeColsBounds(self.ncol, ic, cl, cu)
            h.changeRowsBounds(self.nrow, ir, rl, ru)
        status, x, obj = self._run(self._h)
        if status not in ("optimal", "infeasible"):  # numerical trouble on a warm start: retry cold
            self._h = new_highs()
            self._h.passModel(self._lp(cl, cu, rl, ru))
            status, x, obj = self._run(self._h)
        return status, x, obj

    def solve(self, s: Setting) -> MldSolution:
        """Solve the MLD for one setting (see the module docstring for the commitment logic)."""
        cl, cu, rl, ru = self._prepare(s)
        method = "lp"
        if self.switch.size and s.label is not None and self.commitment != "fixed":
            # a generator whose minimum exceeds all its island could ever absorb can never run
            never = self._cannot_run(s)
            if never.any():
                if self.nu:
                    cu[self.c_u + np.flatnonzero(never)] = 0.0
                    cl[self.c_u + np.flatnonzero(never)] = 0.0
                else:
                    cu[self.c_pg + self.switch[never]] = 0.0
        if self.commitment == "milp" and self.nu:
            # 1) every live generator committed: optimal outright when all live load is served
            cl1 = cl.copy()
            cl1[self.c_u :] = cu[self.c_u :]
            st1, x1, obj1 = self._solve_lp(cl1, cu, rl, ru)
            best = float(self.cost @ np.where(self.cost < 0, cu, 0.0))  # every live load fully served
            if st1 == "optimal" and obj1 <= best + COMMIT_GAP * max(1.0, abs(best)):
                return self._pack(s, x1, obj1, "lp-committed")
        status, x, obj = self._solve_lp(cl, cu, rl, ru)
        if status == "optimal" and self.commitment == "milp" and self.nu and self._fractional(x).any():
            incumbent = (obj1, x1) if st1 == "optimal" else (np.inf, None)
            bb_obj, bb_x, bound = self._branch_and_bound(cl, cu, rl, ru, obj, x, incumbent)
            if bb_x is None:
                return self._fail("infeasible" if bound == np.inf else "node limit")
            method = "lp-committed" if bb_x is x1 else "branch-and-bound"
            gap = (bb_obj - bound) / max(1.0, abs(bound))
            if gap > COMMIT_GAP:
                method += f" (gap {gap:.1e})"
            obj, x = bb_obj, bb_x
        if status != "optimal":
            return self._fail(status)
        return self._pack(s, x, obj, method)

    def _pack(self, s: Setting, x: np.ndarray, obj: float, method: str) -> MldSolution:
        return MldSolution(
            ok=True,
            status="optimal",
            objective=obj,
            pg=x[self.c_pg : self.c_pg + self.ng],
            ps=x[self.c_ps : self.c_ps + self.nd],
            flow=x[self.c_f : self.c_f + self.nl],
            theta=x[: self.nb],
            gen_off=self._switched_off(s, x[self.c_pg : self.c_pg + self.ng]),
            method=method,
        )

    def _switched_off(self, s: Setting, pg: np.ndarray) -> np.ndarray:
        """Per generator: switched off by the commitment (a live switchable one at 0)."""
        off = np.zeros(self.ng, bool)
        sw = self.switch
        off[sw] = s.gen_on[sw] & (pg[sw] <= 1e-9)
        return off

    def _prepare(self, s: Setting):
        return self.bounds(s)

    def _cannot_run(self, s: Setting) -> np.ndarray:
        """Per switchable generator: True when its minimum output exceeds an upper bound on what its
        island can absorb (positive loads + shunt conductance + the absorbing range of generators
        with a negative minimum). Switching those off is exact."""
        grid = self.grid
        lab = s.label
        n = int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0
        if n == 0:
            return np.zeros(self.switch.size, bool)
        ld, g = grid.loads, grid.gens
        lon = s.load_on & (self.pd_pu > 0)
        cap = np.bincount(lab[ld.bus[lon]], weights=self.pd_pu[lon], minlength=n).astype(float)
        bon = s.bus_on & (self.gs_pu > 0)
        cap += np.bincount(lab[bon], weights=self.gs_pu[bon], minlength=n).astype(float)
        neg = s.gen_on & (s.gen_lo < 0)
        cap += np.bincount(lab[g.bus[neg]], weights=-s.gen_lo[neg], minlength=n).astype(float)
        sw = self.switch
        gl = lab[g.bus[sw]]
        return s.gen_on[sw] & (gl >= 0) & (self._lo[sw] > cap[np.maximum(gl, 0)] + 1e-9)

    def _fractional(self, x: np.ndarray) -> np.ndarray:
        """Per commitment column: the answer runs its generator strictly between 0 and ``Pmin``."""
        pg = x[self.c_pg + self.uc]
        return (pg > 1e-9) & (pg < self._lo_uc() - 1e-7)

    def _branch_and_bound(self, cl, cu, rl, ru, obj, x, incumbent):
        """Binary commitment by branch and bound over the continuous program.

        A node fixes some units on (``u = 1``: ``Pmin <= pg <= Pmax``) or off (``u = 0``) and is
        solved by :meth:`_solve_lp` on the one warm model (bounds change only; the PTDF form's
        flow rows hold at every node, so they accumulate). The root is the relaxation
        ``(obj, x)``; ``incumbent`` is an integral answer ``(objective, x)`` or ``(inf, None)``.
        A rounding dive first looks for a better answer (measured on the 20-element damages of
        ``bench_restore --scale case2869pegase``: 293 -> 106 solves). Branching is on the unit
        furthest inside ``(0, Pmin)``. From a node the search plunges into the child nearer the
        relaxation (its sibling waits, solved only when picked), and when a plunge ends it goes
        on from the open node of best bound. Stops when no open node can beat the incumbent by
        more than :data:`COMMIT_GAP`, or after :data:`COMMIT_MAX_NODES` solves.

        Returns ``(objective, x, bound)``: the best integral answer (``x`` None if none) and a
        proven lower bound of the commitment problem's objective (``inf``: infeasible).
        """
        c, pos = self.c_u, self.c_pg + self.uc
        lo = self._lo_uc()
        best_obj, best_x = incumbent
        # open nodes: (bound, u lo, u hi, x); x None until solved (the parent's bound till then)
        open_nodes: list = []
        node = (obj, cl[c:].copy(), cu[c:].copy(), x)
        lost = np.inf  # bound of nodes given up on numerical trouble

        def beaten(bound: float) -> bool:
            return bound >= best_obj - COMMIT_GAP * max(1.0, abs(bound))

        def solve_fixed(ulo: np.ndarray, uhi: np.ndarray):  # the program with these u bounds
            cl_n, cu_n = cl.copy(), cu.copy()
            cl_n[c:], cu_n[c:] = ulo, uhi
            return self._solve_lp(cl_n, cu_n, rl, ru)

        nodes = 0
        # rounding dive for a first answer: units inside (0, Pmin) on from half their minimum
        # up, off below, re-solved until the answer is integral (or worse, or infeasible)
        dlo, dhi, xd = cl[c:].copy(), cu[c:].copy(), x
        while nodes < COMMIT_MAX_NODES and not beaten(obj):
            frac = self._fractional(xd)
            dlo[frac] = dhi[frac] = (xd[pos][frac] >= 0.5 * lo[frac]).astype(float)
            st, xd, od = solve_fixed(dlo, dhi)
            nodes += 1
            if st != "optimal" or od >= best_obj:
                break
            if not self._fractional(xd).any():
                best_obj, best_x = od, xd
                break
        while nodes < COMMIT_MAX_NODES:
            if node is None:  # the plunge ended: the open node of best bound
                if not open_nodes:
                    break
                i = min(range(len(open_nodes)), key=lambda k: open_nodes[k][0])
                if beaten(open_nodes[i][0]):
                    break
                node = open_nodes.pop(i)
            bound, ulo, uhi, xn = node
            node = None
            if xn is None:
                st, xn, on = solve_fixed(ulo, uhi)
                nodes += 1
                if st != "optimal":
                    if st != "infeasible":
                        lost = min(lost, bound)
                    continue
                if on >= best_obj:
                    continue
                if not self._fractional(xn).any():
                    best_obj, best_x = on, xn
                    continue
                bound = on
            if beaten(bound):
                continue
            pg = xn[pos]
            j = int(np.argmax(np.where(self._fractional(xn), np.minimum(pg, lo - pg), -1.0)))
            children = []
            for val in (1.0, 0.0) if pg[j] >= 0.5 * lo[j] else (0.0, 1.0):
                ulo_c, uhi_c = ulo.copy(), uhi.copy()
                ulo_c[j] = uhi_c[j] = val
                children.append((bound, ulo_c, uhi_c, None))
            node = children[0]
            open_nodes.append(children[1])
        if node is not None:
            open_nodes.append(node)
        bound = min([best_obj, lost] + [n[0] for n in open_nodes])
        if best_x is None and bound < np.inf:
            # the node limit came first: every switchable unit off is an answer wherever load may
            # be shed (its gap to the bound is reported)
            off = np.zeros(cl.size - c)
            st, xo, oo = solve_fixed(off, off)
            if st == "optimal":
                best_obj, best_x = oo, xo
        return best_obj, best_x, bound

    def _lo_uc(self) -> np.ndarray:
        return self._lo[self.uc]

    def _fail(self, status: str) -> MldSolution:
        z = np.zeros
        ng = self.ng
        return MldSolution(False, status, np.nan, z(ng), z(self.nd), z(self.nl), z(self.nb), z(ng, bool), "none")


__all__ = ["COMMITMENTS", "DEFAULT_WEIGHTS", "MldModel", "MldSolution", "Setting", "new_highs", "resolve_weights"]
