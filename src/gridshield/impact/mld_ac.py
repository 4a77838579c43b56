"""AC maximal load delivery (AC MLD): the most load the damaged grid can carry with voltages,
reactive power and MVA ratings respected, solved by Ipopt.

The formulation is PowerModelsRestoration's ``build_mld`` / ``build_mld_uc`` with PowerModels'
polar AC model (``ACPPowerModel``). Per energised island (all per-unit on ``grid.base_mva``, angles
in radians), with the variables

* bus voltage angle ``va`` (one reference bus per island fixed at 0) and magnitude ``vm``;
* generator output ``pg``, ``qg``; served fraction ``zd`` in [0, 1] per load (P and Q together, so the
  power factor is kept); shunt factor ``zsh``; generator indicator ``zg``; bus voltage indicator ``zv``;

the constraints

* power balance per bus: ``sum_arcs p + sum Pd zd + Gs vm^2 zsh = sum pg`` and
  ``sum_arcs q + sum Qd zd - Bs vm^2 zsh = sum qg`` with the branch pi-model flows
  (MATPOWER's ``makeYbus`` admittances, tap on the from side) at both ends;
* apparent power at both ends ``p^2 + q^2 <= rate^2`` (rate A, or B / C; 0 = unlimited);
* angle differences within ``[angmin, angmax]`` where the case sets them (MATPOWER's rule);
* ``zv vmin <= vm <= zv vmax``; ``zg Pmin <= pg <= zg Pmax``; ``zg Qmin <= qg <= zg Qmax``;

and the objective of PowerModelsRestoration's ``objective_max_loadability``::

    maximise  sum_bus 10 M zv + sum_gen M zg + sum_shunt M zsh + sum_load w |Pd| zd,
    M = 10 max_load(w |Pd|)

(``w`` are gridshield's priority weights; PowerModelsRestoration's default weight is 1 for every
load, which gives the same optimum as equal weights). The indicator terms keep buses energised and
generators committed unless that is impossible; they are what its published objective values
contain. ``commitment`` selects the variant:

* ``"relaxed"``: ``zv, zg, zsh`` continuous in [0, 1] -- ``run_mld`` exactly;
* ``"milp"``: ``zv, zg`` binary, ``zsh`` continuous -- ``run_mld_uc``. Solved by NLP-based branch and
  bound (as Juniper, the solver PowerModelsRestoration's tests use): the relaxation first; when its
  indicators are integral (the usual case) it is the answer; otherwise depth-first branching on the
  most fractional indicator, each node an Ipopt solve warm-started from its parent, pruned by the
  relaxation value, at most :data:`BNB_MAX_NODES` nodes (the method then reports the remaining gap).
  Ipopt finds local optima, so the node values are bounds only where the relaxation is solved to
  global optimality (it is on the small cases we test against exhaustive enumeration);
* ``"fixed"``: no indicators: every bus on with ``vmin <= vm <= vmax``, every live generator on
  within ``[Pmin, Pmax]``, shunts as in the case; maximise ``sum w Pd zd`` (plain AC load shedding).

Loads with negative demand (injections) are held at their value, as in the DC model, and so are
purely reactive loads (``Pd = 0``: the served-MW answer could not show their shedding); with
``shed=False`` every load is held at its demand.

Two tie-breaks make the optimum unique and the interior point fast (``_Nlp._objective``): a tiny
concave cost of shedding (spread evenly over equal loads), and a quadratic cost of moving generator
P, Q and bus voltage magnitudes away from the warm start (:data:`DISPATCH_TIE`). The MLD has no
generation cost, so without the second the dispatch is free on a large optimal face and the
interior point travels to its analytic centre: on case2869pegase, GWs of redispatch over 100-240
iterations. Its weight (moving a unit across its whole range costs as much as 1e-4 p.u. of
weighted load) moved the served load by at most 0.1 MW on the damages measured (docs/impact.md).
Ipopt sees the objective in p.u. of weighted load (``obj_scaling_factor = M``), so that its
complementarity tolerance does not leave small loads partly unserved.

Rating rows are added lazily (:meth:`AcMldModel._solve_lazy`): first the branch ends loaded at
least :data:`WATCH_LOADING` at the warm start, then every end the answer overloads, re-solving
from the last point and multipliers (Ipopt's warm start); most rated ends never bind, and each row
costs an inequality and a slack in every factorisation. The answer holds every rating.

The warm start is the DC answer with an AC power flow at that point whose losses are spread over
every unit of the island by headroom (:func:`gridshield.impact.ac.ac_start_point`), not left on
one slack unit (GWs on case2869pegase, with its branches far above their ratings).

Derivatives are analytic and vectorised: per branch end, the flows ``p, q`` depend on four variables
(both angles, both magnitudes); their gradients and 3x3 Hessians in (angle difference, own
magnitude, other magnitude) are closed-form, and the Jacobian and the Lagrangian's Hessian are
assembled from them with a fixed sparsity pattern (one ``bincount`` per evaluation). Ipopt (with
MUMPS) comes from casadi's PyPI wheel and calls these NumPy functions through casadi callbacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.flow.matrices import branch_admittance
from gridshield.grid.model import Grid
from gridshield.impact.mld import Setting, angle_limits_rad, branch_rate_mw, resolve_weights
from gridshield.optim import quiet_c_stdout

INF = float("inf")
#: Ipopt's convergence tolerance (scaled NLP) and its tolerance on constraint violation (p.u.).
IPOPT_TOL = 1e-6
CONSTR_VIOL_TOL = 1e-8
IPOPT_MAX_ITER = 500
#: Initial barrier parameter: the start is the DC answer with AC voltages, close to the optimum
#: (Ipopt's default 0.1 is for cold starts).
MU_INIT = 1e-3
#: Largest constraint violation (p.u.) of an answer Ipopt calls "acceptable" (its default is 1e-2).
ACCEPTABLE_VIOL = 1e-6
#: Weight of the quadratic tie-break on shed fractions, relative to each load's value (the served load
#: moves by less than this fraction; see ``_Nlp._objective``).
SHED_REG = 1e-6
#: Weight of the quadratic tie-break that keeps generator P, Q and bus voltage magnitudes near the
#: warm start: moving one of them across its whole range costs as much as serving this much less
#: weighted load (p.u.); see ``_Nlp._objective``. 0 = none.
DISPATCH_TIE = 1e-4
#: Rating rows (|S| <= rate at a branch end) are added lazily: at first only for the ends loaded at
#: least this much at the start point ...
WATCH_LOADING = 0.5
#: ... then, after each solve, for the ends above their rating or loaded at least this much.
WATCH_AGAIN = 0.95
#: Round of NLP solves from which every rating has a row.
WATCH_MAX_ROUNDS = 4
#: Ipopt options of a re-solve from a previous answer and its multipliers (after rating rows were
#: added): start where it stopped, with a small barrier parameter.
WARM_START_OPTIONS: dict[str, object] = {
    "warm_start_init_point": "yes", "mu_init": 1e-6, "warm_start_bound_push": 1e-9, "warm_start_bound_frac": 1e-9,
    "warm_start_slack_bound_push": 1e-9, "warm_start_slack_bound_frac": 1e-9, "warm_start_mult_bound_push": 1e-9,
}
#: Further Ipopt options (name -> value), e.g. ``{"mumps_pivot_order": 5}``.
IPOPT_OPTIONS: dict[str, object] = {}
#: Most NLP solves of the commitment branch and bound (``commitment="milp"``).
BNB_MAX_NODES = 40
#: An indicator within this distance of 0 or 1 counts as integral.
INT_TOL = 1e-5
#: Relative gap accepted by the branch and bound.
BNB_GAP = 1e-6
#: Reactive limits beyond this (MVAr) are treated as this (MATPOWER's default is 9999).
Q_CAP_MVAR = 1e5
#: Ipopt outcomes accepted as a solution.
_OK = ("Solve_Succeeded", "Solved_To_Acceptable_Level")
_INFEASIBLE = ("Infeasible_Problem_Detected",)


def ipopt_available() -> bool:
    """True when casadi (with its bundled Ipopt) can be imported."""
    try:
        import casadi  # noqa: F401
    except ImportError:
        return False
    return True


def _casadi():
    # one thread for the BLAS and OpenMP under MUMPS (loaded with casadi's Ipopt plugin): a
    # multi-threaded BLAS on these small sparse factorisations only spins, and gridshield gets its
    # parallelism from process pools (as HiGHS, see gridshield.optim). Set before the plugin loads;
    # a value the user set is kept.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import casadi
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise GridshieldError(
            "model='ac' needs Ipopt, which gridshield takes from casadi's wheel: pip install 'gridshield[ac]'"
        ) from e
    return casadi


@dataclass(frozen=True)
class AcIsland:
    """Outcome of the AC MLD on one island.

    ``status``: ``"optimal"`` (Ipopt converged), ``"infeasible"`` (Ipopt proved local
    infeasibility; ``message`` says the likely cause) or ``"failed"`` (no convergence).
    """

    island: int
    status: str
    message: str
    method: str
    iterations: int
    objective: float  # PowerModelsRestoration's objective value (p.u. x weights), nan when not solved
    binding: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcMldSolution:
    """AC MLD point, per-unit, grid row order (zeros where dark or not solved)."""

    vm: np.ndarray
    va: np.ndarray
    pg: np.ndarray
    qg: np.ndarray
    zd: np.ndarray  # served fraction per load
    zsh: np.ndarray  # per shunt
    zg: np.ndarray  # per generator
    zv: np.ndarray  # per bus
    p_from: np.ndarray
    q_from: np.ndarray
    p_to: np.ndarray
    q_to: np.ndarray
    solved_bus: np.ndarray  # bool per bus: its island has an AC answer
    islands: dict[int, AcIsland]


# ------------------------------------------------------------------------------------------------
# Flow of one branch end and its derivatives
# ------------------------------------------------------------------------------------------------


def end_flows(g0, b0, g1, b1, phi, a, b):
    """Flow ``p, q`` leaving a branch end with own voltage ``a``, other voltage ``b`` and angle
    difference ``phi`` (own minus other), self admittance ``g0 + j b0``, mutual ``g1 + j b1``;
    also ``u = g1 cos phi + b1 sin phi`` and ``w = g1 sin phi - b1 cos phi``."""
    c, s = np.cos(phi), np.sin(phi)
    u = g1 * c + b1 * s
    w = g1 * s - b1 * c
    ab = a * b
    return g0 * a * a + ab * u, -b0 * a * a + ab * w, u, w


class _Nlp:
    """The AC MLD of one set of buses: index maps, bounds, and the NumPy oracle functions."""

    def __init__(self, m: AcMldModel, s: Setting, buses: np.ndarray, start: dict[str, np.ndarray],
                 watched: np.ndarray | None = None):
        grid = m.grid
        br, g, ld, sh = grid.branches, grid.gens, grid.loads, grid.shunts
        nb_all, nl_all = len(grid.buses), len(br)
        mask = np.zeros(nb_all, bool)
        mask[buses] = True
        self.bidx = np.flatnonzero(mask)
        bpos = np.full(nb_all, -1, np.int64)
        bpos[self.bidx] = np.arange(self.bidx.size)
        self.lidx = np.flatnonzero(s.branch_on & mask[br.from_bus] & mask[br.to_bus])
        self.gidx = np.flatnonzero(s.gen_on & mask[g.bus])
        self.didx = np.flatnonzero(s.load_on & mask[ld.bus])
        self.hidx = np.flatnonzero(sh.in_service & mask[sh.bus] & ((sh.g_mw != 0) | (sh.b_mvar != 0)))
        nbs, nls, ngs, nds, nhs = self.bidx.size, self.lidx.size, self.gidx.size, self.didx.size, self.hidx.size
        self.sizes = (nbs, nls, ngs, nds, nhs)
        self.nl_all = nl_all
        f = bpos[br.from_bus[self.lidx]]
        t = bpos[br.to_bus[self.lidx]]
        self.f, self.t = f, t
        # ends: from ends first, then to ends
        self.es = np.r_[f, t]
        self.eo = np.r_[t, f]
        a = m.adm
        l_ = self.lidx
        self.g0 = np.r_[a.yff[l_].real, a.ytt[l_].real]
        self.b0 = np.r_[a.yff[l_].imag, a.ytt[l_].imag]
        self.g1 = np.r_[a.yft[l_].real, a.ytf[l_].real]
        self.b1 = np.r_[a.yft[l_].imag, a.ytf[l_].imag]
        rate = m.rate_pu[l_]
        lim = rate > 0
        #: every rated end of the island (from ends, then to ends) and its rating (p.u.)
        self.rated_e = np.flatnonzero(np.r_[lim, lim])
        self.rate_e = np.r_[rate, rate][self.rated_e]
        # the rated ends with a constraint row: all, or those ``watched`` (bool per grid branch end,
        # from ends of every grid branch, then to ends)
        keep = np.ones(self.rated_e.size, bool) if watched is None else watched[np.r_[l_, l_ + nl_all]][self.rated_e]
        self.lim_e = self.rated_e[keep]
        self.rate2 = self.rate_e[keep] ** 2
        self.gb = bpos[g.bus[self.gidx]]
        self.db = bpos[ld.bus[self.didx]]
        self.hb = bpos[sh.bus[self.hidx]]
        base = grid.base_mva
        self.pd = ld.p_mw[self.didx] / base
        self.qd = ld.q_mvar[self.didx] / base
        self.gs = sh.g_mw[self.hidx] / base
        self.bs = sh.b_mvar[self.hidx] / base
        in_ang = np.isin(m.ang_rows, self.lidx)
        rows = m.ang_rows[in_ang]
        self.ang_lo, self.ang_hi = m.ang_lo[in_ang], m.ang_hi[in_ang]
        self.af, self.at = bpos[br.from_bus[rows]], bpos[br.to_bus[rows]]
        self.ang_rows = rows
        na = rows.size
        # limits
        b = grid.buses
        self.vmin, self.vmax = b.vmin_pu[self.bidx], b.vmax_pu[self.bidx]
        self.pmin, self.pmax = s.gen_lo[self.gidx], s.gen_hi[self.gidx]
        qcap = Q_CAP_MVAR / base
        self.qmin = np.clip(g.q_min_mvar[self.gidx] / base, -qcap, qcap)
        self.qmax = np.clip(g.q_max_mvar[self.gidx] / base, -qcap, qcap)
        # indicator rows: every bus, and the generators whose range excludes 0 (for the others
        # zg = 1 dominates: a smaller zg only narrows a range that contains 0, at a lower objective)
        fixed = m.commitment == "fixed"
        self.vrow = np.arange(0 if fixed else nbs)
        self.grow = np.flatnonzero(~fixed & ((self.pmin > 0) | (self.pmax < 0) | (self.qmin > 0) | (self.qmax < 0)))
        kv, kg = self.vrow.size, self.grow.size
        # variable offsets
        self.o_va, self.o_vm = 0, nbs
        self.o_pg = 2 * nbs
        self.o_qg = self.o_pg + ngs
        self.o_zd = self.o_qg + ngs
        self.o_zs = self.o_zd + nds
        self.o_zg = self.o_zs + nhs
        self.o_zv = self.o_zg + ngs
        self.n = self.o_zv + nbs
        # constraint offsets
        nt = self.lim_e.size
        self.c_p, self.c_q = 0, nbs
        self.c_t = 2 * nbs
        self.c_a = self.c_t + nt
        self.c_vu = self.c_a + na
        self.c_vl = self.c_vu + kv
        self.c_pu = self.c_vl + kv
        self.c_pl = self.c_pu + kg
        self.c_qu = self.c_pl + kg
        self.c_ql = self.c_qu + kg
        self.m = self.c_ql + kg
        self.commitment = m.commitment
        self._bounds(m, s, bpos)
        self.x0 = self._start_point(start)
        self._objective(m)
        self._jac_pattern()
        self._hess_pattern()

    # -- bounds and objective ------------------------------------------------------------------
    def _bounds(self, m: AcMldModel, s: Setting, bpos: np.ndarray) -> None:
        nbs, nls, ngs, nds, nhs = self.sizes
        lbx = np.zeros(self.n)
        ubx = np.zeros(self.n)
        lbx[:nbs], ubx[:nbs] = -INF, INF
        refs = bpos[s.ref_buses]
        refs = refs[refs >= 0]
        lbx[refs], ubx[refs] = 0.0, 0.0
        fixed = self.commitment == "fixed"
        v = slice(self.o_vm, self.o_vm + nbs)
        lbx[v] = self.vmin if fixed else 0.0
        ubx[v] = self.vmax
        pg = slice(self.o_pg, self.o_pg + ngs)
        qg = slice(self.o_qg, self.o_qg + ngs)
        # generators with indicator rows: [min(0, lo), max(0, hi)] (the rows do the rest)
        ind = np.zeros(ngs, bool)
        ind[self.grow] = True
        lbx[pg], ubx[pg] = np.where(ind, np.minimum(0.0, self.pmin), self.pmin), np.where(ind, np.maximum(0.0, self.pmax), self.pmax)
        lbx[qg], ubx[qg] = np.where(ind, np.minimum(0.0, self.qmin), self.qmin), np.where(ind, np.maximum(0.0, self.qmax), self.qmax)
        zd = slice(self.o_zd, self.o_zd + nds)
        held = (self.pd <= 0) | (not s.shed)  # injections and purely reactive loads are not shed
        lbx[zd], ubx[zd] = np.where(held, 1.0, 0.0), 1.0
        for o, k in ((self.o_zs, nhs), (self.o_zg, ngs), (self.o_zv, nbs)):
            lbx[o : o + k], ubx[o : o + k] = (1.0 if fixed else 0.0), 1.0
        dominated = np.ones(ngs, bool)
        dominated[self.grow] = False
        lbx[self.o_zg + np.flatnonzero(dominated)] = 1.0
        self.lbx, self.ubx = lbx, ubx
        nt = self.lim_e.size
        lbg = np.zeros(self.m)
        ubg = np.zeros(self.m)
        lbg[self.c_t : self.c_t + nt], ubg[self.c_t : self.c_t + nt] = -INF, self.rate2
        lbg[self.c_a : self.c_vu], ubg[self.c_a : self.c_vu] = self.ang_lo, self.ang_hi
        kv, kg = self.vrow.size, self.grow.size
        for c, k in ((self.c_vu, kv), (self.c_pu, kg), (self.c_qu, kg)):
            lbg[c : c + k] = -INF  # x - z hi <= 0
        for c, k in ((self.c_vl, kv), (self.c_pl, kg), (self.c_ql, kg)):
            ubg[c : c + k] = INF  # x - z lo >= 0
        self.lbg, self.ubg = lbg, ubg

    def _objective(self, m: AcMldModel) -> None:
        """Minimise minus PowerModelsRestoration's objective divided by M (same optimum)."""
        nbs, nls, ngs, nds, nhs = self.sizes
        c = np.zeros(self.n)
        c[self.o_zd : self.o_zd + nds] = -m.w[self.didx] * np.abs(self.pd) / m.big_m
        if self.commitment != "fixed":
            c[self.o_zs : self.o_zs + nhs] = -1.0
            c[self.o_zg : self.o_zg + ngs] = -1.0
            c[self.o_zv : self.o_zv + nbs] = -10.0
        self.cost = c
        self.big_m = m.big_m
        # strictly concave tie-breaks (``q_w (x - q_ref)^2`` over the variables ``q_idx``):
        # * shedding a fraction s of a load costs SHED_REG s^2 of its own value on top of the linear
        #   term: the optimum is unique (shedding spread evenly over equally weighted loads);
        # * generator P, Q and bus voltage magnitudes cost DISPATCH_TIE per squared range of their
        #   distance from the warm start: the MLD has no generation cost, so without it the
        #   dispatch is free on a large optimal face, whose analytic centre the interior point
        #   would travel to (GWs of redispatch on large grids, with flat, regularised steps)
        zd = self.o_zd + np.arange(nds)
        tied = np.r_[self.o_pg : self.o_pg + 2 * ngs, self.o_vm : self.o_vm + nbs]
        span = self.ubx[tied] - self.lbx[tied]
        span = np.maximum(np.where(np.isfinite(span), span, 1.0), 1e-3)
        idx, w = [zd, tied], [SHED_REG * np.abs(c[zd]), DISPATCH_TIE / m.big_m / span**2]
        self.q_idx, self.q_w = np.concatenate(idx), np.concatenate(w)
        self.q_ref = np.r_[np.ones(nds), self.x0[self.q_idx[nds:]]]

    def linear_objective(self, x: np.ndarray) -> float:
        """The objective without the tie-breaks: minus PowerModelsRestoration's divided by M."""
        return float(np.sum(self.cost * x))

    def objective(self, x: np.ndarray) -> float:
        d = x[self.q_idx] - self.q_ref
        return float(np.sum(self.cost * x) + np.sum(self.q_w * d * d))  # no BLAS call: it may spin threads

    def objective_grad(self, x: np.ndarray) -> np.ndarray:
        gr = self.cost.copy()
        gr[self.q_idx] += 2.0 * self.q_w * (x[self.q_idx] - self.q_ref)
        return gr

    def _start_point(self, start: dict[str, np.ndarray]) -> np.ndarray:
        """The warm start in this NLP's variables (``start`` in grid row order, see
        :meth:`AcMldModel.solve`), within the bounds."""
        nbs, nls, ngs, nds, nhs = self.sizes
        x = np.zeros(self.n)
        x[:nbs] = start["va"][self.bidx]
        x[self.o_vm : self.o_vm + nbs] = np.clip(start["vm"][self.bidx], self.vmin, self.vmax)
        x[self.o_pg : self.o_pg + ngs] = start["pg"][self.gidx]
        x[self.o_qg : self.o_qg + ngs] = start["qg"][self.gidx]
        x[self.o_zd : self.o_zd + nds] = start["zd"][self.didx]
        x[self.o_zs : self.o_zs + nhs] = 1.0
        x[self.o_zg : self.o_zg + ngs] = np.where(start["gen_on"][self.gidx], 1.0, 0.0)
        x[self.o_zv : self.o_zv + nbs] = 1.0
        return np.clip(x, self.lbx, self.ubx)

    # -- sparsity patterns ---------------------------------------------------------------------
    def _jac_pattern(self) -> None:
        nbs, nls, ngs, nds, nhs = self.sizes
        es, eo = self.es, self.eo
        le = self.lim_e
        nt = le.size
        rows, cols = [], []
        # variable (value-dependent) part, in the order _jac_values fills it
        cva_s, cva_o, cvm_s, cvm_o = es, eo, self.o_vm + es, self.o_vm + eo
        four = np.r_[cva_s, cva_o, cvm_s, cvm_o]
        rows += [np.tile(self.c_p + es, 4), np.tile(self.c_q + es, 4)]
        cols += [four, four]
        trow = self.c_t + np.arange(nt)
        rows.append(np.tile(trow, 4))
        cols.append(np.r_[cva_s[le], cva_o[le], cvm_s[le], cvm_o[le]])
        hb = self.hb
        rows += [self.c_p + hb, self.c_p + hb, self.c_q + hb, self.c_q + hb]
        cols += [self.o_vm + hb, self.o_zs + np.arange(nhs), self.o_vm + hb, self.o_zs + np.arange(nhs)]
        self._nvar_jac = sum(r.size for r in rows)
        # constant part
        di = np.arange(nds)
        na = self.af.size
        ai = np.arange(na)
        bi, gi = self.vrow, self.grow
        kv, kg = bi.size, gi.size
        gall = np.arange(ngs)
        kb, kk = np.arange(kv), np.arange(kg)
        const_r = [self.c_p + self.gb, self.c_q + self.gb, self.c_p + self.db, self.c_q + self.db,
                   self.c_a + ai, self.c_a + ai,
                   self.c_vu + kb, self.c_vu + kb, self.c_vl + kb, self.c_vl + kb,
                   self.c_pu + kk, self.c_pu + kk, self.c_pl + kk, self.c_pl + kk,
                   self.c_qu + kk, self.c_qu + kk, self.c_ql + kk, self.c_ql + kk]
        const_c = [self.o_pg + gall, self.o_qg + gall, self.o_zd + di, self.o_zd + di,
                   self.af, self.at,
                   self.o_vm + bi, self.o_zv + bi, self.o_vm + bi, self.o_zv + bi,
                   self.o_pg + gi, self.o_zg + gi, self.o_pg + gi, self.o_zg + gi,
                   self.o_qg + gi, self.o_zg + gi, self.o_qg + gi, self.o_zg + gi]
        const_v = [-np.ones(ngs), -np.ones(ngs), self.pd, self.qd,
                   np.ones(na), -np.ones(na),
                   np.ones(kv), -self.vmax[bi], np.ones(kv), -self.vmin[bi],
                   np.ones(kg), -self.pmax[gi], np.ones(kg), -self.pmin[gi],
                   np.ones(kg), -self.qmax[gi], np.ones(kg), -self.qmin[gi]]
        r = np.concatenate(rows + const_r).astype(np.int64)
        c = np.concatenate(cols + const_c).astype(np.int64)
        self._jac_const = np.concatenate(const_v) if const_v else np.zeros(0)
        self.jac_sp, self._jac_map = _pattern(r, c, self.m, self.n)

    def _hess_pattern(self) -> None:
        nbs, nls, ngs, nds, nhs = self.sizes
        es, eo = self.es, self.eo
        loc = (es, eo, self.o_vm + es, self.o_vm + eo)  # va_s, va_o, vm_s, vm_o
        pairs = [(0, 0), (1, 1), (0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 2), (3, 3), (2, 3)]
        r = [np.minimum(loc[i], loc[j]) for i, j in pairs]
        c = [np.maximum(loc[i], loc[j]) for i, j in pairs]
        hb = self.hb
        r += [self.o_vm + hb, self.o_vm + hb, self.q_idx]
        c += [self.o_vm + hb, self.o_zs + np.arange(nhs), self.q_idx]
        self.hess_sp, self._hess_map = _pattern(np.concatenate(r), np.concatenate(c), self.n, self.n)

    # -- oracle ---------------------------------------------------------------------------------
    def _split(self, x: np.ndarray):
        nbs, nls, ngs, nds, nhs = self.sizes
        va = x[:nbs]
        vm = x[self.o_vm : self.o_vm + nbs]
        return va, vm

    def flows(self, x: np.ndarray):
        """p, q, u, w, own and other voltage per branch end."""
        va, vm = self._split(x)
        a, b = vm[self.es], vm[self.eo]
        p, q, u, w = end_flows(self.g0, self.b0, self.g1, self.b1, va[self.es] - va[self.eo], a, b)
        return p, q, u, w, a, b

    def rows_from(self, other: _Nlp, lam_g: np.ndarray) -> np.ndarray:
        """Constraint multipliers ``lam_g`` of ``other`` (the same buses, fewer rating rows) in
        this NLP's rows; 0 for the rating rows ``other`` lacks."""
        out = np.zeros(self.m)
        out[: self.c_t] = lam_g[: other.c_t]
        out[self.c_t + np.searchsorted(self.lim_e, other.lim_e)] = lam_g[other.c_t : other.c_a]
        out[self.c_a :] = lam_g[other.c_a :]
        return out

    def loading(self, x: np.ndarray) -> np.ndarray:
        """Apparent power over rating at every rated end (``rated_e`` order)."""
        p, q, *_ = self.flows(x)
        e = self.rated_e
        return np.sqrt(p[e] ** 2 + q[e] ** 2) / self.rate_e

    def ends_of_grid(self, e: np.ndarray) -> np.ndarray:
        """Grid branch-end numbers (from ends ``0..nl-1``, to ends ``nl..2nl-1``) of island ends ``e``."""
        nls = self.sizes[1]
        return np.where(e < nls, self.lidx[e % max(nls, 1)], self.lidx[e % max(nls, 1)] + self.nl_all)

    def g(self, x: np.ndarray) -> np.ndarray:
        nbs, nls, ngs, nds, nhs = self.sizes
        va, vm = self._split(x)
        p, q, _, _, _, _ = self.flows(x)
        pg = x[self.o_pg : self.o_pg + ngs]
        qg = x[self.o_qg : self.o_qg + ngs]
        zd = x[self.o_zd : self.o_zd + nds]
        zs = x[self.o_zs : self.o_zs + nhs]
        zg = x[self.o_zg : self.o_zg + ngs]
        zv = x[self.o_zv : self.o_zv + nbs]
        v2z = vm[self.hb] ** 2 * zs
        out = np.empty(self.m)
        out[: nbs] = (np.bincount(self.es, p, nbs) - np.bincount(self.gb, pg, nbs)
                      + np.bincount(self.db, self.pd * zd, nbs) + np.bincount(self.hb, self.gs * v2z, nbs))
        out[nbs : 2 * nbs] = (np.bincount(self.es, q, nbs) - np.bincount(self.gb, qg, nbs)
                              + np.bincount(self.db, self.qd * zd, nbs) - np.bincount(self.hb, self.bs * v2z, nbs))
        le = self.lim_e
        out[self.c_t : self.c_a] = p[le] ** 2 + q[le] ** 2
        out[self.c_a : self.c_vu] = va[self.af] - va[self.at]
        b, k = self.vrow, self.grow
        out[self.c_vu : self.c_vl] = vm[b] - zv[b] * self.vmax[b]
        out[self.c_vl : self.c_pu] = vm[b] - zv[b] * self.vmin[b]
        out[self.c_pu : self.c_pl] = pg[k] - zg[k] * self.pmax[k]
        out[self.c_pl : self.c_qu] = pg[k] - zg[k] * self.pmin[k]
        out[self.c_qu : self.c_ql] = qg[k] - zg[k] * self.qmax[k]
        out[self.c_ql :] = qg[k] - zg[k] * self.qmin[k]
        return out

    def _end_grads(self, x):
        p, q, u, w, a, b = self.flows(x)
        ab = a * b
        # d/d(phi, a, b)
        p_phi, p_a, p_b = -ab * w, 2 * self.g0 * a + b * u, a * u
        q_phi, q_a, q_b = ab * u, -2 * self.b0 * a + b * w, a * w
        return p, q, u, w, a, b, (p_phi, p_a, p_b), (q_phi, q_a, q_b)

    def jac(self, x: np.ndarray) -> np.ndarray:
        nbs, nls, ngs, nds, nhs = self.sizes
        va, vm = self._split(x)
        p, q, u, w, a, b, dp, dq = self._end_grads(x)
        le = self.lim_e
        th = [2 * (p[le] * dp[k][le] + q[le] * dq[k][le]) for k in range(3)]
        zs = x[self.o_zs : self.o_zs + nhs]
        vh = vm[self.hb]
        vals = np.concatenate([
            dp[0], -dp[0], dp[1], dp[2],
            dq[0], -dq[0], dq[1], dq[2],
            th[0], -th[0], th[1], th[2],
            2 * self.gs * vh * zs, self.gs * vh * vh, -2 * self.bs * vh * zs, -self.bs * vh * vh,
            self._jac_const,
        ])
        return np.bincount(self._jac_map, vals, self.jac_sp[2])

    def hess(self, x: np.ndarray, obj_factor: float, lam: np.ndarray) -> np.ndarray:
        nbs, nls, ngs, nds, nhs = self.sizes
        va, vm = self._split(x)
        p, q, u, w, a, b, dp, dq = self._end_grads(x)
        lp = lam[self.c_p + self.es]
        lq = lam[self.c_q + self.es]
        mu = np.zeros(self.es.size)
        mu[self.lim_e] = lam[self.c_t : self.c_a]
        cp = lp + 2 * mu * p
        cq = lq + 2 * mu * q
        ab = a * b
        # second derivatives in (phi, a, b): p_ff, p_fa, p_fb, p_aa, p_ab (p_bb = 0)
        h_ff = cp * (-ab * u) + cq * (-ab * w)
        h_fa = cp * (-b * w) + cq * (b * u)
        h_fb = cp * (-a * w) + cq * (a * u)
        h_aa = cp * (2 * self.g0) + cq * (-2 * self.b0)
        h_ab = cp * u + cq * w
        h_bb = np.zeros_like(h_ff)
        m2 = 2 * mu
        if self.lim_e.size:
            g_ = (dp, dq)
            h_ff = h_ff + m2 * (g_[0][0] ** 2 + g_[1][0] ** 2)
            h_fa = h_fa + m2 * (g_[0][0] * g_[0][1] + g_[1][0] * g_[1][1])
            h_fb = h_fb + m2 * (g_[0][0] * g_[0][2] + g_[1][0] * g_[1][2])
            h_aa = h_aa + m2 * (g_[0][1] ** 2 + g_[1][1] ** 2)
            h_ab = h_ab + m2 * (g_[0][1] * g_[0][2] + g_[1][1] * g_[1][2])
            h_bb = h_bb + m2 * (g_[0][2] ** 2 + g_[1][2] ** 2)
        # local (va_s, va_o, vm_s, vm_o) in the order of _hess_pattern's pairs
        zs = x[self.o_zs : self.o_zs + nhs]
        vh = vm[self.hb]
        sh = self.gs * lam[self.c_p + self.hb] - self.bs * lam[self.c_q + self.hb]
        vals = np.concatenate([h_ff, h_ff, -h_ff, h_fa, -h_fa, h_fb, -h_fb, h_aa, h_bb, h_ab, 2 * zs * sh, 2 * vh * sh,
                               2.0 * obj_factor * self.q_w])
        return np.bincount(self._hess_map, vals, self.hess_sp[2])


def _pattern(rows: np.ndarray, cols: np.ndarray, nrow: int, ncol: int):
    """Compressed-column pattern of COO entries (duplicates summed): ((colind, row, nnz), map)
    where ``map[k]`` is the position of COO entry ``k`` among the nonzeros (column-major)."""
    key = cols.astype(np.int64) * nrow + rows.astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    ucol = uniq // nrow
    urow = uniq % nrow
    colind = np.zeros(ncol + 1, np.int64)
    np.add.at(colind, ucol + 1, 1)
    colind = np.cumsum(colind)
    return (colind, urow, uniq.size), inv.ravel()


# ------------------------------------------------------------------------------------------------
# Ipopt through casadi
# ------------------------------------------------------------------------------------------------


class _Ipopt:
    """One Ipopt instance for one :class:`_Nlp` (re-solved with new bounds by the branch and bound)."""

    def __init__(self, nlp: _Nlp):
        ca = _casadi()
        n, m = nlp.n, nlp.m
        self.nlp = nlp

        def sparsity(p, nr, nc):
            colind, row, _ = p
            return ca.Sparsity(nr, nc, colind.tolist(), row.tolist())

        jsp = sparsity(nlp.jac_sp, m, n)
        hsp = sparsity(nlp.hess_sp, n, n)
        dn = ca.Sparsity.dense
        xin = [dn(n, 1), dn(0, 1)]
        none = np.zeros(0)
        # each function maps input nonzeros (NumPy views of casadi's buffers) to output nonzeros
        jac_g_cb = _Cb("jac_g_x", xin + [dn(m, 1)], [jsp, ca.Sparsity(m, 0)], lambda a: [nlp.jac(a[0]), none])
        jac_f_cb = _Cb("jac_f_x", xin + [dn(1, 1)], [dn(1, n), dn(1, 0)], lambda a: [nlp.objective_grad(a[0]), none])
        f_cb = _Cb("f", xin, [dn(1, 1)], lambda a: [nlp.objective(a[0])], jac_f_cb)
        g_cb = _Cb("g", xin, [dn(m, 1)], lambda a: [nlp.g(a[0])], jac_g_cb)
        grad_f = _Cb("grad_f", xin, [dn(1, 1), dn(n, 1)], lambda a: [nlp.objective(a[0]), nlp.objective_grad(a[0])])
        jac_g = _Cb("jac_g", xin, [dn(m, 1), jsp], lambda a: [nlp.g(a[0]), nlp.jac(a[0])])
        hess = _Cb("hess_lag", xin + [dn(1, 1), dn(m, 1)], [hsp], lambda a: [nlp.hess(a[0], float(a[2][0]), a[3])])
        self._keep = (jac_g_cb, jac_f_cb, f_cb, g_cb, grad_f, jac_g, hess)
        x = ca.MX.sym("x", n)
        p = ca.MX.sym("p", 0)
        opts = {
            "grad_f": grad_f, "jac_g": jac_g, "hess_lag": hess,
            "print_time": False, "verbose_init": False,
            "ipopt.print_level": 0, "ipopt.sb": "yes",
            "ipopt.tol": IPOPT_TOL, "ipopt.constr_viol_tol": CONSTR_VIOL_TOL,
            "ipopt.max_iter": int(IPOPT_MAX_ITER), "ipopt.linear_solver": "mumps",
            "ipopt.mu_strategy": "adaptive",
            "ipopt.mu_init": MU_INIT,
            # the objective in p.u. of weighted load (the NLP's is divided by M): Ipopt's tolerances
            # on complementarity then bound the load left unserved at a bound in p.u., not p.u. / M
            "ipopt.obj_scaling_factor": float(nlp.big_m),
            "ipopt.acceptable_constr_viol_tol": ACCEPTABLE_VIOL,
            **IPOPT_OPTIONS,
        }
        self._problem = {"x": x, "p": p, "f": f_cb(x, p), "g": g_cb(x, p)}
        self._opts = opts
        self._solvers: dict[bool, object] = {}
        #: multipliers of the last solve: (bounds, constraints)
        self.lam: tuple[np.ndarray, np.ndarray] | None = None

    def _solver(self, warm: bool):
        if warm not in self._solvers:
            opts = {**self._opts, **({f"ipopt.{k}": v for k, v in WARM_START_OPTIONS.items()} if warm else {})}
            with quiet_c_stdout():
                self._solvers[warm] = _casadi().nlpsol("ac_mld", "ipopt", self._problem, opts)
        return self._solvers[warm]

    def solve(self, x0: np.ndarray, lbx: np.ndarray, ubx: np.ndarray,
              lam: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[str, np.ndarray, float, int]:
        """Solve from ``x0`` (and, with ``lam``, the multipliers of a previous solve: Ipopt's warm
        start with :data:`WARM_START_OPTIONS`)."""
        nlp = self.nlp
        x0 = np.clip(x0, lbx, ubx)
        solver = self._solver(lam is not None)
        kw = {} if lam is None else {"lam_x0": lam[0], "lam_g0": lam[1]}
        with quiet_c_stdout():
            r = solver(x0=x0, lbx=lbx, ubx=ubx, lbg=nlp.lbg, ubg=nlp.ubg, **kw)
        st = solver.stats()
        x = np.clip(np.asarray(r["x"], dtype=float).ravel(), lbx, ubx)  # Ipopt relaxes bounds by 1e-8
        self.lam = (np.asarray(r["lam_x"], dtype=float).ravel(), np.asarray(r["lam_g"], dtype=float).ravel())
        return str(st.get("return_status", "unknown")), x, float(r["f"]), int(st.get("iter_count", 0))


def _cb_class():
    ca = _casadi()

    class Cb(ca.Callback):
        def __init__(self, name, sp_in, sp_out, fn, jac=None):
            ca.Callback.__init__(self)
            self._i, self._o, self._fn, self._jac = sp_in, sp_out, fn, jac
            self.construct(name, {})

        def get_n_in(self):
            return len(self._i)

        def get_n_out(self):
            return len(self._o)

        def get_sparsity_in(self, i):
            return self._i[i]

        def get_sparsity_out(self, i):
            return self._o[i]

        def has_eval_buffer(self):
            return True

        def eval_buffer(self, arg, res):
            # raw buffers: no conversion to casadi.DM (that costs ~0.2 us per nonzero)
            a = [np.frombuffer(b, dtype=np.float64) if b is not None else np.zeros(0) for b in arg]
            for buf, val in zip(res, self._fn(a)):
                if buf is not None:
                    np.frombuffer(buf, dtype=np.float64)[:] = val
            return 0

        def has_jacobian(self):
            return self._jac is not None

        def get_jacobian(self, name, inames, onames, opts):
            return self._jac

    return Cb


_CB = None


def _Cb(*args, **kw):
    global _CB
    if _CB is None:
        _CB = _cb_class()
    return _CB(*args, **kw)


# ------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------


class AcMldModel:
    """AC maximal load delivery of one grid (what does not depend on the damage is built once).

    Parameters
    ----------
    grid
        The intact grid.
    rate
        Apparent-power rating of branches: ``"a"`` (default, as PowerModels), ``"b"`` or ``"c"``.
    weights
        Priority weights (see :data:`~gridshield.impact.mld.DEFAULT_WEIGHTS`).
    angle_limits
        Enforce the case's angle-difference limits.
    commitment
        ``"milp"`` (binary indicators, ``run_mld_uc``), ``"relaxed"`` (``run_mld``) or ``"fixed"``
        (no indicators); see the module docstring.
    """

    def __init__(
        self,
        grid: Grid,
        rate: str = "a",
        weights: dict[str, float] | None = None,
        angle_limits: bool = True,
        commitment: str = "milp",
    ):
        if commitment not in ("milp", "relaxed", "fixed"):
            raise GridshieldError(f"commitment must be one of ('milp', 'relaxed', 'fixed'), got {commitment!r}")
        _casadi()
        self.grid = grid
        self.commitment = commitment
        self.adm = branch_admittance(grid)
        self.rate_pu = branch_rate_mw(grid, rate) / grid.base_mva
        self.w = resolve_weights(grid, weights)
        if angle_limits:
            self.ang_rows, self.ang_lo, self.ang_hi = angle_limits_rad(grid)
        else:
            self.ang_rows, self.ang_lo, self.ang_hi = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        ld = grid.loads
        on = ld.in_service & grid.buses.in_service[ld.bus]
        scaled = self.w[on] * np.abs(ld.p_mw[on]) / grid.base_mva
        #: PowerModelsRestoration's M: 10 x the largest weighted load (p.u.)
        self.big_m = 10.0 * float(scaled.max()) if scaled.size and scaled.max() > 0 else 10.0

    def solve(self, s: Setting, island_of_bus: np.ndarray, islands: list[int], start: dict[str, np.ndarray]) -> AcMldSolution:
        """AC MLD of the energised islands ``islands`` (numbers in ``island_of_bus``).

        ``start`` holds the warm start in grid row order (p.u., rad): ``va``, ``vm``, ``pg``,
        ``qg``, ``zd`` (served fraction), ``gen_on`` (bool, the DC commitment).
        """
        out = _empty_solution(self.grid)
        res: dict[int, AcIsland] = {}
        if not islands:
            return out
        buses = np.flatnonzero(np.isin(island_of_bus, islands) & s.bus_on)
        ok_all = False
        if len(islands) > 1:
            ok_all = self._solve_into(s, buses, start, out, res, island_of_bus, islands, trial=True)
        if not ok_all:
            for k in islands:
                b = np.flatnonzero((island_of_bus == k) & s.bus_on)
                self._solve_into(s, b, start, out, res, island_of_bus, [k], trial=False)
        return AcMldSolution(**{**out.__dict__, "islands": res})

    def _solve_into(self, s, buses, start, out, res, island_of_bus, isl_ids, trial) -> bool:
        status, nlp, x, obj, it, method = self._solve_lazy(s, buses, start)
        ok = status in _OK
        if trial and not ok:
            return False
        if ok:
            _scatter(nlp, x, out)
            bind = _binding(self, nlp, x, island_of_bus)
            for k in isl_ids:
                res[k] = AcIsland(k, "optimal", "", method, it, -nlp.linear_objective(x) * self.big_m, bind.get(k, ()))
        else:
            k = isl_ids[0]
            if status in _INFEASIBLE:
                res[k] = AcIsland(k, "infeasible", _why_infeasible(self, nlp, status), method, it, float("nan"))
            else:
                res[k] = AcIsland(k, "failed", f"Ipopt did not converge ({status})", method, it, float("nan"))
        return ok

    def _solve_lazy(self, s: Setting, buses: np.ndarray, start: dict[str, np.ndarray]):
        """The AC MLD of ``buses`` with rating rows added lazily: first only the branch ends loaded
        at least :data:`WATCH_LOADING` at the start point; after each solve, every end above its
        rating (or within :data:`WATCH_AGAIN` of it) joins, and the NLP is solved again from the
        last point and its multipliers, until no rating is exceeded (every rating from round
        :data:`WATCH_MAX_ROUNDS` on). The answer satisfies every rating, and a KKT
        point of the rows kept with the others inactive is one of the whole problem."""
        nl = len(self.grid.branches)
        watched = np.zeros(2 * nl, bool)
        nlp = _Nlp(self, s, buses, start, watched)
        x = nlp.x0
        watched[nlp.ends_of_grid(nlp.rated_e[nlp.loading(x) >= WATCH_LOADING])] = True
        iters, rounds, lam = 0, 0, None
        while True:
            nlp_next = _Nlp(self, s, buses, start, watched)
            if lam is not None:
                lam = (lam[0], nlp_next.rows_from(nlp, lam[1]))
            nlp = nlp_next
            solver = _Ipopt(nlp)
            status, x, obj, it, method = self._optimise(nlp, solver, x, lam)
            iters += it
            rounds += 1
            if status not in _OK:
                break
            load = nlp.loading(x)
            over = (load**2 - 1.0) * nlp.rate_e**2 > CONSTR_VIOL_TOL
            if not over.any():
                break
            if rounds + 1 >= WATCH_MAX_ROUNDS:
                watched[:] = True
            else:
                watched[nlp.ends_of_grid(nlp.rated_e[over | (load >= WATCH_AGAIN)])] = True
            # the multipliers belong to x unless a branch and bound moved on from the relaxation
            lam = solver.lam if "branch and bound" not in method else None
        if rounds > 1:
            method += f", {rounds} rounds of rating rows"
        return status, nlp, x, obj, iters, method

    def _optimise(self, nlp: _Nlp, solver: _Ipopt, x0: np.ndarray, lam=None):
        """Relaxation (warm-started with the multipliers ``lam`` if given), then (``milp``) branch
        and bound on fractional indicators."""
        status, x, obj, it = solver.solve(x0, nlp.lbx, nlp.ubx, lam)
        if status not in _OK or self.commitment != "milp":
            return status, x, obj, it, "ipopt"
        idx = np.r_[nlp.o_zg : nlp.o_zg + nlp.sizes[2], nlp.o_zv : nlp.o_zv + nlp.sizes[0]]
        frac = _fractional(x, idx)
        if frac.size == 0:
            return status, x, obj, it, "ipopt (relaxation integral)"
        return _branch_and_bound(nlp, solver, x, obj, it, idx)


def _fractional(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    z = x[idx]
    return idx[(z > INT_TOL) & (z < 1 - INT_TOL)]


def _branch_and_bound(nlp: _Nlp, solver: _Ipopt, x_root, obj_root, it_root, idx):
    """Depth-first NLP branch and bound over the indicators ``idx`` (binary)."""
    best: tuple[float, np.ndarray] | None = None
    iters = it_root
    nodes = 0
    tol = BNB_GAP * max(1.0, abs(obj_root))
    # node = (lbx, ubx, start, parent objective)
    stack = [(nlp.lbx.copy(), nlp.ubx.copy(), x_root, obj_root, True)]
    exhausted = True
    while stack:
        lbx, ubx, xs, parent_obj, is_root = stack.pop()
        if best is not None and parent_obj >= best[0] - tol:
            continue
        if is_root:
            st, x, obj = "Solve_Succeeded", xs, parent_obj
        else:
            if nodes >= BNB_MAX_NODES:
                exhausted = False
                break
            st, x, obj, it = solver.solve(xs, lbx, ubx)
            nodes += 1
            iters += it
            if st not in _OK:
                continue
        if best is not None and obj >= best[0] - tol:
            continue
        frac = _fractional(x, idx)
        if frac.size == 0:
            best = (obj, x)
            continue
        j = frac[np.argmin(np.abs(x[frac] - 0.5))]
        # explore the rounding direction first
        first, second = (1.0, 0.0) if x[j] >= 0.5 else (0.0, 1.0)
        for val in (second, first):
            lb, ub = lbx.copy(), ubx.copy()
            lb[j] = ub[j] = val
            xs2 = x.copy()
            xs2[j] = val
            stack.append((lb, ub, xs2, obj, False))
    if best is None:
        return "Branch_And_Bound_Failed", x_root, obj_root, iters, f"ipopt branch and bound ({nodes} nodes, no integral point)"
    gap = (best[0] - obj_root) / max(1.0, abs(obj_root))
    method = f"ipopt branch and bound ({nodes} nodes)"
    if not exhausted and gap > BNB_GAP:
        method += f", gap {gap:.1e} at the node limit"
    return "Solve_Succeeded", best[1], best[0], iters, method


def _empty_solution(grid: Grid) -> AcMldSolution:
    nb, nl, ng, nd, nh = len(grid.buses), len(grid.branches), len(grid.gens), len(grid.loads), len(grid.shunts)
    z = np.zeros
    return AcMldSolution(z(nb), z(nb), z(ng), z(ng), z(nd), z(nh), z(ng), z(nb), z(nl), z(nl), z(nl), z(nl),
                         z(nb, bool), {})


def _scatter(nlp: _Nlp, x: np.ndarray, out: AcMldSolution) -> None:
    """Write an island's answer into the grid-order arrays of ``out`` (still private, mutable)."""
    nbs, nls, ngs, nds, nhs = nlp.sizes
    out.va[nlp.bidx] = x[:nbs]
    out.vm[nlp.bidx] = x[nlp.o_vm : nlp.o_vm + nbs]
    out.pg[nlp.gidx] = x[nlp.o_pg : nlp.o_pg + ngs]
    out.qg[nlp.gidx] = x[nlp.o_qg : nlp.o_qg + ngs]
    out.zd[nlp.didx] = x[nlp.o_zd : nlp.o_zd + nds]
    out.zsh[nlp.hidx] = x[nlp.o_zs : nlp.o_zs + nhs]
    out.zg[nlp.gidx] = x[nlp.o_zg : nlp.o_zg + ngs]
    out.zv[nlp.bidx] = x[nlp.o_zv : nlp.o_zv + nbs]
    p, q, *_ = nlp.flows(x)
    out.p_from[nlp.lidx], out.p_to[nlp.lidx] = p[:nls], p[nls:]
    out.q_from[nlp.lidx], out.q_to[nlp.lidx] = q[:nls], q[nls:]
    out.solved_bus[nlp.bidx] = True


#: Tolerances for reporting a limit as binding (p.u. / relative to the rating).
BIND_TOL = 1e-5


def _binding(m: AcMldModel, nlp: _Nlp, x: np.ndarray, island_of_bus: np.ndarray) -> dict[int, tuple[str, ...]]:
    """Limits the AC MLD point sits on, per island: ``vmin``/``vmax`` (bus), ``qmin``/``qmax``/
    ``pmax``/``pmin`` (generator), ``rate`` (branch, either end) and ``angle`` (branch)."""
    grid = m.grid
    nbs, nls, ngs, nds, nhs = nlp.sizes
    vm = x[nlp.o_vm : nlp.o_vm + nbs]
    zv = x[nlp.o_zv : nlp.o_zv + nbs]
    pg = x[nlp.o_pg : nlp.o_pg + ngs]
    qg = x[nlp.o_qg : nlp.o_qg + ngs]
    zg = x[nlp.o_zg : nlp.o_zg + ngs]
    out: dict[int, list[str]] = {}

    def add(kind: str, ids, buses, mask) -> None:
        for i, b in zip(np.asarray(ids)[mask].tolist(), np.asarray(buses)[mask].tolist()):
            out.setdefault(int(island_of_bus[b]), []).append(f"{kind} {i}")

    bid, bb = grid.buses.id[nlp.bidx], nlp.bidx
    on = zv > 1 - INT_TOL
    add("vmin", bid, bb, on & (vm <= nlp.vmin + BIND_TOL))
    add("vmax", bid, bb, on & (vm >= nlp.vmax - BIND_TOL))
    gid, gbus = grid.gens.id[nlp.gidx], grid.gens.bus[nlp.gidx]
    gon = zg > 1 - INT_TOL
    add("pmax", gid, gbus, gon & (pg >= nlp.pmax - BIND_TOL) & (nlp.pmax > nlp.pmin))
    add("qmax", gid, gbus, gon & (qg >= nlp.qmax - BIND_TOL) & (nlp.qmax > nlp.qmin))
    add("qmin", gid, gbus, gon & (qg <= nlp.qmin + BIND_TOL) & (nlp.qmax > nlp.qmin))
    at = np.zeros(2 * nls, bool)
    at[nlp.rated_e] = nlp.loading(x) >= 1 - BIND_TOL
    hit = at[:nls] | at[nls:]
    lid, lbus = grid.branches.id[nlp.lidx], grid.branches.from_bus[nlp.lidx]
    add("rate", lid, lbus, hit)
    if nlp.ang_rows.size:
        va = x[:nbs]
        d = va[nlp.af] - va[nlp.at]
        a_hit = (d <= nlp.ang_lo + BIND_TOL) | (d >= nlp.ang_hi - BIND_TOL)
        add("angle", grid.branches.id[nlp.ang_rows], grid.branches.from_bus[nlp.ang_rows], a_hit)
    return {k: tuple(v) for k, v in out.items()}


def _why_infeasible(m: AcMldModel, nlp: _Nlp, status: str) -> str:
    """A one-line likely cause of an infeasible island (checks at the voltage limits)."""
    base = m.grid.base_mva
    nbs, nls, ngs, nds, nhs = nlp.sizes
    held = nlp.lbx[nlp.o_zd : nlp.o_zd + nds] >= 1.0
    pmin = float(np.maximum(nlp.pmin, 0.0).sum())
    absorb = float(nlp.pd[held & (nlp.pd > 0)].sum() + nlp.pd[~held & (nlp.pd > 0)].sum())
    if m.commitment == "fixed" and pmin > absorb + 1e-9:
        return (f"AC: the generators' minimum output {pmin * base:.1f} MW exceeds all the island's load "
                f"{absorb * base:.1f} MW (commitment='fixed'; use 'milp' to switch generators off)")
    # reactive balance at the lowest voltages: line charging and capacitors inject, reactors absorb
    vmin2 = nlp.vmin**2
    charging = float((m.grid.branches.b_pu[nlp.lidx] * 0.5 * (vmin2[nlp.f] + vmin2[nlp.t])).sum())
    cap = float(np.maximum(nlp.bs, 0.0) @ vmin2[nlp.hb])
    reactors = float(np.maximum(-nlp.bs, 0.0) @ (nlp.vmax[nlp.hb] ** 2))
    q_need = float(nlp.qd[held & (nlp.qd > 0)].sum())
    q_absorb = float(-np.minimum(nlp.qmin, 0.0).sum()) + q_need + reactors
    if charging + cap > q_absorb + 1e-9 and m.commitment == "fixed":
        return (f"AC: line charging and capacitors inject at least {(charging + cap) * base:.1f} MVAr at the lowest "
                f"allowed voltages, more than generators and loads can absorb ({q_absorb * base:.1f} MVAr)")
    q_supply = float(np.maximum(nlp.qmax, 0.0).sum()) + charging + cap
    if q_need > q_supply + 1e-9:
        return (f"AC: no reactive support: loads that cannot be shed need {q_need * base:.1f} MVAr, "
                f"generators, capacitors and line charging give at most {q_supply * base:.1f} MVAr")
    return f"AC: no operating point within voltage, generator and branch limits (Ipopt: {status})"
