"""The same maximal-load-delivery program in injection (PTDF) form, solved by constraint generation.

For large grids most branch limits are slack; the B-theta program of :mod:`gridshield.impact.mld`
still carries one angle per bus and one flow per branch. Here the variables are only generator
outputs, served loads and commitments; the network enters as

* one balance row per energised island: ``sum pg - sum ps = sum Gs`` (the DC model is lossless and
  phase-shifter injections cancel inside an island), and
* flow rows ``|PTDF_l (Cg pg - Cd ps - Gs - Pshift) + Pf_shift_l| <= rate_l`` (and angle-difference
  rows) **added lazily**: solve, compute the DC flows of the answer with the damaged topology's
  DC solver, add rows for the (at most ``CUTS_PER_ROUND``) most overloaded branches, all from
  one multi-right-hand-side solve, re-solve warm, until nothing is violated. The first pass
  lets generators rise only a little above their pre-strike output (a trust region; see
  :meth:`PtdfMldModel._solve_lp`).

The optimum is the B-theta program's optimum (same feasible set once no limit is violated; the
tests check both against each other and against a scipy formulation). The damaged topology's DC
solves come from :mod:`gridshield.impact.state`: a rank-k Woodbury update of the intact grid's
factors (or a fresh factorisation past its rank limit), handed over by the caller.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gridshield.impact.mld import MldModel, MldSolution, Setting, new_highs
from gridshield.impact.state import LowRankTopo, Topo, factor

#: Flow rows added per round of constraint generation: the most overloaded branches first.
#: Every row is dense (one entry per live generator and load), so adding every violated branch
#: at once (hundreds on case2869pegase) costs more in HiGHS than the extra rounds; measured on
#: case2869pegase, 3-5 hits: all violated 147 ms per LP sample, 50 per round 60 ms, 20 per
#: round 52 ms, 10 per round 56 ms.
CUTS_PER_ROUND = 20
#: Trust region of the first constraint-generation pass (fraction of each generator's range
#: between its pre-strike output and its maximum); see :meth:`PtdfMldModel._solve_lp`.
TRUST = 0.1
_VIOL_TOL = 1e-7


def _top(load: np.ndarray, above: float, most: int) -> np.ndarray:
    """Indices of the ``most`` largest entries of ``load`` that exceed ``above``, largest first
    (ties by index)."""
    cand = np.flatnonzero(load > above)
    return cand[np.argsort(-load[cand], kind="stable")[:most]]


class PtdfMldModel(MldModel):
    """Maximal load delivery by PTDF constraint generation (see the module docstring)."""

    def __init__(self, grid, **kw):
        super().__init__(grid, build=False, **kw)
        g, ld = grid.gens, grid.loads
        ng, nd, nu = self.ng, self.nd, self.nu
        self.c_pg, self.c_ps, self.c_u = 0, ng, ng + nd
        self.ncol = ng + nd + nu
        cost = np.zeros(self.ncol)
        cost[self.c_ps : self.c_ps + nd] = -self.w
        self.cost = cost
        self._gbus, self._dbus = g.bus, ld.bus
        self._conv = kw.get("dc_convention", "matpower")
        self._p0 = g.p_mw / grid.base_mva
        #: set by the caller before ``solve``: the damaged topology's DC flows (reused)
        self.topo_hint: Topo | LowRankTopo | None = None

    # -- per setting ----------------------------------------------------------------------------
    def _prepare(self, s: Setting):
        grid = self.grid
        nb, ng, nd = self.nb, self.ng, self.nd
        topo = self.topo_hint
        if topo is None:
            topo = factor(grid, self._conv, s.branch_on, s.bus_on, s.ref_buses)
        self._topo = topo
        self._s = s
        gs = np.where(s.bus_on, self.gs_pu, 0.0)
        self._gs = gs
        # island balance rows
        lab = s.label if s.label is not None else np.zeros(nb, np.int64)
        isl_ids = np.unique(lab[s.bus_on])
        nbal = isl_ids.size
        gon, lon = s.gen_on, s.load_on
        gi, di = np.flatnonzero(gon), np.flatnonzero(lon)
        self._gi, self._di = gi, di
        rows = [np.searchsorted(isl_ids, lab[self._gbus[gi]]), np.searchsorted(isl_ids, lab[self._dbus[di]])]
        cols = [self.c_pg + gi, self.c_ps + di]
        vals = [np.ones(gi.size), -np.ones(di.size)]
        rhs = np.bincount(np.searchsorted(isl_ids, lab[s.bus_on]), gs[s.bus_on], nbal) if nbal else np.zeros(0)
        # the balance rows; no commitment rows: continuous solves project u out (see _project)
        self._a0 = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(nbal, ng + nd))
        self._rhs0 = rhs
        self._cuts: list[tuple[np.ndarray, np.ndarray, float, float]] = []  # (cols, vals, lo, hi)
        self._flow_row = np.zeros(self.nl, bool)  # branches with a flow row
        self._cut_keys: set[tuple[str, int]] = set()  # ("a", branch) for angle-difference rows
        self._h = None
        self.topo_hint = None
        return self.bounds(s)

    def bounds(self, s: Setting):  # column bounds in this model's column space
        glo, ghi, dlo, dhi, ulo, uhi = self.injection_bounds(s)
        return np.r_[glo, dlo, ulo], np.r_[ghi, dhi, uhi], self._rhs0, self._rhs0

    # -- network ----------------------------------------------------------------------------------
    def _network(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nb = self.nb
        pinj = (
            np.bincount(self._gbus, weights=x[: self.ng], minlength=nb)
            - np.bincount(self._dbus, weights=x[self.ng : self.ng + self.nd], minlength=nb)
            - self._gs
        )
        theta = self._topo.angles(pinj)
        return theta, self._topo.flows(theta)

    def _new_cuts(self, theta: np.ndarray, flow: np.ndarray) -> list:
        """Rows for the most overloaded branches (at most ``CUTS_PER_ROUND``) and every violated
        angle-difference limit, not yet in the model."""
        s = self._s
        br = self.grid.branches
        rate = self.rate_pu
        lim = s.branch_on & (rate > 0)
        over = lim & (np.abs(flow) > rate + _VIOL_TOL * np.maximum(rate, 1.0))
        out: list = []
        if over.any():
            load = np.where(over, np.abs(flow) / np.where(rate > 0, rate, 1.0), 0.0)
            load[self._flow_row] = 0.0
            out += self._branch_cuts(_top(load, 1.0, CUTS_PER_ROUND))
        if self.ang_rows.size:
            r = self.ang_rows
            on = s.branch_on[r]
            d = theta[br.from_bus[r]] - theta[br.to_bus[r]]
            bad = np.flatnonzero(on & ((d < self.ang_lo - _VIOL_TOL) | (d > self.ang_hi + _VIOL_TOL)))
            bad = np.array([j for j in bad.tolist() if ("a", int(r[j])) not in self._cut_keys], np.int64)
            if bad.size:
                self._cut_keys.update(("a", int(r[j])) for j in bad)
                out += self._cuts_for(r[bad], np.ones(bad.size), np.zeros(bad.size), self.ang_lo[bad], self.ang_hi[bad])
        return out

    def _branch_cuts(self, rows: np.ndarray) -> list:
        """Flow-limit rows ``-rate <= flow <= rate`` of branches ``rows``."""
        self._flow_row[rows] = True
        rate = self.rate_pu[rows]
        return self._cuts_for(rows, self.b[rows], self.pf_shift[rows], -rate, rate)

    def _cuts_for(self, rows: np.ndarray, scale: np.ndarray, shift: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list:
        """Rows ``lo <= scale_l (theta_from - theta_to) + shift_l <= hi`` for branches ``rows`` in
        injection form: the PTDF rows of all of them from one batched solve with the damaged
        topology (B symmetric: ``B^-T = B^-1``)."""
        m = rows.size
        if m == 0:
            return []
        br = self.grid.branches
        e = np.zeros((self.nb, m))
        j = np.arange(m)
        e[br.from_bus[rows], j] += scale
        e[br.to_bus[rows], j] -= scale
        ptdf = self._topo.sens(e)  # (nb, m)
        coef = np.vstack([ptdf[self._gbus[self._gi]], -ptdf[self._dbus[self._di]]]).T  # (m, n_on)
        cols = np.r_[self.c_pg + self._gi, self.c_ps + self._di].astype(np.int32)
        const = (-self._gs - self._topo.pbus_shift) @ ptdf + shift
        nz = np.abs(coef) > 1e-12
        return [(cols[nz[i]], coef[i, nz[i]], float(lo[i] - const[i]), float(hi[i] - const[i])) for i in range(m)]

    # -- solves -------------------------------------------------------------------------------------
    def _project(self, cl: np.ndarray, cu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``(pg, ps)`` of the continuous program with the commitment columns projected
        out: ``u lo <= pg <= u hi, ul <= u <= uu`` (``lo > 0``) is exactly ``ul lo <= pg <= uu hi``."""
        n = self.ng + self.nd
        lo, hi = cl[:n].copy(), cu[:n].copy()
        if self.nu:
            uc = self.c_pg + self.uc
            lo[uc] = np.maximum(lo[uc], cl[self.c_u :] * self._lo[self.uc])
            hi[uc] = np.minimum(hi[uc], cu[self.c_u :] * self._hi[self.uc])
        return lo, hi

    def _lift(self, x: np.ndarray, cl: np.ndarray) -> np.ndarray:
        """A point of the full column space (with commitments ``u``) from a projected answer:
        the smallest feasible ``u = max(ul, pg / hi)``."""
        if not self.nu:
            return x
        hi = self._hi[self.uc]
        pg = x[self.c_pg + self.uc]
        u = np.maximum(cl[self.c_u :], np.where(hi > 0, pg / np.where(hi > 0, hi, 1.0), 0.0))
        return np.r_[x, np.minimum(u, 1.0)]

    def _model(self, cl, cu):
        """A HiGHS model of the setting with the flow rows found so far. It has no commitment
        columns or rows (bounds from :meth:`_project`; 2 rows per switchable generator, 332 on
        case2869pegase, that the simplex would otherwise pivot through)."""
        import highspy

        h = new_highs()
        # presolve of these few-row programs costs more than it saves (0.1 s on case9241pegase
        # for the first pass, which has one row per island and no flow row)
        h.setOptionValue("presolve", "off")
        a = self._a0
        ncol = a.shape[1]
        lp = highspy.HighsLp()
        lp.num_col_ = ncol
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = self.cost[:ncol]
        lp.col_lower_ = cl
        lp.col_upper_ = cu
        lp.row_lower_ = self._rhs0
        lp.row_upper_ = self._rhs0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data
        h.passModel(lp)
        self._add_rows(h, self._cuts)
        return h

    @staticmethod
    def _add_rows(h, cuts) -> None:
        if not cuts:
            return
        lo = np.array([c[2] for c in cuts])
        hi = np.array([c[3] for c in cuts])
        starts = np.cumsum([0] + [c[0].size for c in cuts[:-1]]).astype(np.int32)
        idx = np.concatenate([c[0] for c in cuts]).astype(np.int32)
        val = np.concatenate([c[1] for c in cuts])
        h.addRows(len(cuts), lo, hi, idx.size, starts, idx, val)

    def _cg(self, h) -> tuple[str, np.ndarray | None, float]:
        for _ in range(200):
            status, x, obj = self._run(h)
            if status != "optimal":
                return status, None, np.nan
            theta, flow = self._network(x)
            new = self._new_cuts(theta, flow)
            if not new:
                return status, x, obj
            self._cuts.extend(new)
            self._add_rows(h, new)
        return "iteration limit", None, np.nan

    def _solve_lp(self, cl, cu, rl, ru):
        """Constraint generation, first inside a trust region around the case's dispatch.

        Generators may first rise only ``TRUST`` of the way from their pre-strike output ``p0``
        to their maximum. If that serves every live load it is optimal for the full program
        (nothing can serve more), else the region is dropped and the generation goes on from
        the same basis. Staying near ``p0`` keeps the flows near the pre-strike ones, so fewer
        branches need rows (measured on case2869pegase: 34 -> 27 ms per LP sample). They may
        fall freely: a floor near ``p0`` made the first pass infeasible wherever a damage forces
        generation down, and HiGHS's warm dual simplex can take 0.1-1 s to prove that (its
        ratio test sorts the ~2,000 load and generator breakpoints quadratically); measured
        with the floor and without it: LP samples of ``bench_risk`` 15.7 -> 13.4 ms,
        ``bench_restore --scale case2869pegase --scale-sizes 60 --seed 3`` (scattered) 24 ->
        16 s, the same lost MW.
        """
        status, x, obj = self._solve_projected(*self._project(cl, cu))
        return status, (None if x is None else self._lift(x, cl)), obj

    def _solve_projected(self, cl: np.ndarray, cu: np.ndarray) -> tuple[str, np.ndarray | None, float]:
        ng = self.ng
        n = cl.size
        cols = np.arange(n, dtype=np.int32)
        if self._h is not None:
            # a second program of the same setting (the commitment's relaxation after the
            # committed one): the same rows, other column bounds, warm from the last basis
            self._h.changeColsBounds(n, cols, cl, cu)
            status, x, obj = self._cg(self._h)
            if status in ("optimal", "infeasible"):
                return status, x, obj
        hi = cu[:ng]
        p = np.clip(self._p0, cl[:ng], hi)
        cut = cu.copy()
        cut[:ng] = np.minimum(hi, p + TRUST * (hi - p))
        cost = self.cost[:n]
        best = float(cost @ np.where(cost < 0, cu, 0.0))  # every live load fully served
        self._h = self._model(cl, cut)
        status, x, obj = self._cg(self._h)
        if status == "optimal" and obj <= best + 1e-9 * max(1.0, abs(best)):
            return status, x, obj
        self._h.changeColsBounds(n, cols, cl, cu)
        status, x, obj = self._cg(self._h)
        if status not in ("optimal", "infeasible"):  # numerical trouble on a warm start: retry cold
            self._h = self._model(cl, cu)
            status, x, obj = self._cg(self._h)
        return status, x, obj

    def _pack(self, s: Setting, x: np.ndarray, obj: float, method: str) -> MldSolution:
        theta, flow = self._network(x)
        return MldSolution(
            ok=True,
            status="optimal",
            objective=obj,
            pg=x[: self.ng],
            ps=x[self.ng : self.ng + self.nd],
            flow=flow,
            theta=theta,
            gen_off=self._switched_off(s, x[: self.ng]),
            method=method + "-ptdf",
        )


__all__ = ["PtdfMldModel"]
