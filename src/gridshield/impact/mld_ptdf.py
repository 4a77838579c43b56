"""The same maximal-load-delivery program in injection (PTDF) form, solved by constraint generation.

For large grids most branch limits are slack; the B-theta program of :mod:`gridshield.impact.mld`
still carries one angle per bus and one flow per branch. Here the variables are only generator
outputs, served loads and commitments; the network enters as

* one balance row per energised island: ``sum pg - sum ps = sum Gs`` (the DC model is lossless and
  phase-shifter injections cancel inside an island), and
* flow rows ``|PTDF_l (Cg pg - Cd ps - Gs - Pshift) + Pf_shift_l| <= rate_l`` (and angle-difference
  rows) **added lazily**: solve, compute the DC flows of the answer with the kept LU factors of
  the damaged grid's reduced B matrix, add the rows of the violated branches (one transposed
  triangular solve each), re-solve warm, until nothing is violated.

The optimum is the B-theta program's optimum (same feasible set once no limit is violated; the
tests check both against each other and against a scipy formulation). The damage changes the
topology, so the LU factors are rebuilt per damage (one sparse LU of the reduced B matrix).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gridshield.impact.mld import INF, MldModel, MldSolution, Setting, new_highs
from gridshield.impact.state import Topo, factor

#: Rows are added for branches loaded above this fraction of their limit once any limit is violated
#: (1.0: only the violated ones; adding near-binding ones too measured no faster on case2869pegase,
#: whose base dispatch has many branches at their limit, since every row is dense).
_ADD_AT = 1.0
_VIOL_TOL = 1e-7


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
        #: set by the caller before ``solve``: the topology's factors (reused) and branches whose
        #: flow rows to add up front (e.g. those loaded above 90 % by a proportional redispatch)
        self.topo_hint: Topo | None = None
        self.seed_branches: np.ndarray | None = None

    # -- per setting ----------------------------------------------------------------------------
    def _prepare(self, s: Setting):
        grid = self.grid
        nb, ng, nd, nu = self.nb, self.ng, self.nd, self.nu
        topo = self.topo_hint
        if topo is None:
            topo = factor(grid, self._conv, s.branch_on, s.bus_on, s.ref_buses)
        self._m, self._idx, self._lu = topo.m, topo.idx, topo.lu
        self._s = s
        gs = np.where(s.bus_on, self.gs_pu, 0.0)
        self._gs = gs
        # island balance rows
        lab = s.label if s.label is not None else np.zeros(nb, np.int64)
        isl_ids = np.unique(lab[s.bus_on])
        pos = {int(k): r for r, k in enumerate(isl_ids)}
        nbal = isl_ids.size
        gon, lon = s.gen_on, s.load_on
        gi, di = np.flatnonzero(gon), np.flatnonzero(lon)
        rows = [
            np.array([pos[int(k)] for k in lab[self._gbus[gi]]], np.int64),
            np.array([pos[int(k)] for k in lab[self._dbus[di]]], np.int64),
        ]
        cols = [self.c_pg + gi, self.c_ps + di]
        vals = [np.ones(gi.size), -np.ones(di.size)]
        rhs = np.zeros(nbal)
        if nbal:
            np.add.at(rhs, [pos[int(k)] for k in lab[s.bus_on]], gs[s.bus_on])
        if nu:
            ui = np.arange(nu)
            hi_uc = self._hi[self.uc]
            rows += [nbal + ui, nbal + ui, nbal + nu + ui, nbal + nu + ui]
            cols += [self.c_pg + self.uc, self.c_u + ui, self.c_pg + self.uc, self.c_u + ui]
            vals += [np.ones(nu), -hi_uc, np.ones(nu), -self._lo[self.uc]]
        nrow = nbal + 2 * nu
        a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, self.ncol))
        self._a0 = a
        rl = np.r_[rhs, np.full(nu, -INF), np.zeros(nu)]
        ru = np.r_[rhs, np.zeros(nu), np.full(nu, INF)]
        self._rl0, self._ru0 = rl, ru
        self._cuts: list[tuple[np.ndarray, np.ndarray, float, float]] = []  # (cols, vals, lo, hi)
        self._cut_keys: set[tuple[str, int]] = set()
        self._h = None
        if self.seed_branches is not None:
            seeds = []
            for l in np.flatnonzero(self.seed_branches & s.branch_on & (self.rate_pu > 0)):
                self._cut_keys.add(("f", int(l)))
                e = np.zeros(nb)
                e[grid.branches.from_bus[l]] += self.b[l]
                e[grid.branches.to_bus[l]] -= self.b[l]
                seeds.append(self._cut(e, self.pf_shift[l], -self.rate_pu[l], self.rate_pu[l]))
            self._cuts.extend(seeds)
        self.topo_hint = None
        self.seed_branches = None
        return self.bounds(s)

    def bounds(self, s: Setting):  # column bounds in this model's column space
        gon = s.gen_on
        ng, nd = self.ng, self.nd
        cl = np.zeros(self.ncol)
        cu = np.zeros(self.ncol)
        uc_mask = np.zeros(ng, bool)
        uc_mask[self.uc] = True
        if self.commitment == "fixed" or self.nu == 0:
            glo = np.where(gon, s.gen_lo, 0.0)
        else:
            glo = np.where(gon, np.where(uc_mask, 0.0, s.gen_lo), 0.0)
        cl[:ng] = glo
        cu[:ng] = np.where(gon, s.gen_hi, 0.0)
        pd = self.pd_pu
        lon = s.load_on
        cl[ng : ng + nd] = np.where(lon, np.where((pd < 0) | (not s.shed), pd, 0.0), 0.0)
        cu[ng : ng + nd] = np.where(lon, pd, 0.0)
        if self.nu:
            uon = gon[self.uc]
            cl[self.c_u :] = np.where(uon & (self.commitment == "fixed"), 1.0, 0.0)
            cu[self.c_u :] = np.where(uon, 1.0, 0.0)
        return cl, cu, self._rl0, self._ru0

    # -- network ----------------------------------------------------------------------------------
    def _network(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nb = self.nb
        pinj = (
            np.bincount(self._gbus, weights=x[: self.ng], minlength=nb)
            - np.bincount(self._dbus, weights=x[self.ng : self.ng + self.nd], minlength=nb)
            - self._gs
        )
        theta = np.zeros(nb)
        if self._lu is not None:
            theta[self._idx] = self._lu.solve((pinj - self._m.pbus_shift)[self._idx])
        flow = np.where(self._s.branch_on, self._m.bf @ theta + self._m.pf_shift, 0.0)
        return theta, flow

    def _sens(self, e: np.ndarray) -> np.ndarray:
        """Row vector r with r @ theta == e @ theta for theta = B^-1 (P - Pshift): over buses."""
        out = np.zeros(self.nb)
        if self._lu is not None:
            out[self._idx] = self._lu.solve(e[self._idx])  # B is symmetric: B^-T = B^-1
        return out

    def _new_cuts(self, theta: np.ndarray, flow: np.ndarray) -> list:
        s = self._s
        br = self.grid.branches
        rate = self.rate_pu
        lim = s.branch_on & (rate > 0)
        load = np.where(lim, np.abs(flow) / np.where(rate > 0, rate, 1.0), 0.0)
        viol = lim & (np.abs(flow) > rate + _VIOL_TOL * np.maximum(rate, 1.0))
        out = []
        if viol.any():
            cand = np.flatnonzero(lim & (load > _ADD_AT))
            for l in cand:
                key = ("f", int(l))
                if key in self._cut_keys:
                    continue
                self._cut_keys.add(key)
                e = np.zeros(self.nb)
                e[br.from_bus[l]] += self.b[l]
                e[br.to_bus[l]] -= self.b[l]
                out.append(self._cut(e, self.pf_shift[l], -rate[l], rate[l]))
        if self.ang_rows.size:
            r = self.ang_rows
            on = s.branch_on[r]
            d = theta[br.from_bus[r]] - theta[br.to_bus[r]]
            bad = on & ((d < self.ang_lo - _VIOL_TOL) | (d > self.ang_hi + _VIOL_TOL))
            for j in np.flatnonzero(bad):
                l = int(r[j])
                key = ("a", l)
                if key in self._cut_keys:
                    continue
                self._cut_keys.add(key)
                e = np.zeros(self.nb)
                e[br.from_bus[l]] += 1.0
                e[br.to_bus[l]] -= 1.0
                out.append(self._cut(e, 0.0, self.ang_lo[j], self.ang_hi[j]))
        return out

    def _cut(self, e: np.ndarray, shift: float, lo: float, hi: float):
        ptdf = self._sens(e)
        gi = np.flatnonzero(self._s.gen_on)
        di = np.flatnonzero(self._s.load_on)
        cg = ptdf[self._gbus[gi]]
        cd = -ptdf[self._dbus[di]]
        cols = np.r_[self.c_pg + gi, self.c_ps + di]
        vals = np.r_[cg, cd]
        nz = np.abs(vals) > 1e-12
        const = float(ptdf @ (-self._gs - self._m.pbus_shift)) + shift
        return cols[nz].astype(np.int32), vals[nz], lo - const, hi - const

    # -- solves -------------------------------------------------------------------------------------
    def _model(self, cl, cu, integer: bool):
        import highspy

        h = new_highs()
        lp = highspy.HighsLp()
        a = self._a0.tocsc()
        lp.num_col_ = self.ncol
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = self.cost
        lp.col_lower_ = cl
        lp.col_upper_ = cu
        lp.row_lower_ = self._rl0
        lp.row_upper_ = self._ru0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data
        if integer and self.nu:
            integ = [highspy.HighsVarType.kContinuous] * self.ncol
            for j in range(self.c_u, self.ncol):
                integ[j] = highspy.HighsVarType.kInteger
            lp.integrality_ = integ
        h.passModel(lp)
        if integer:
            from gridshield.impact.mld import COMMIT_GAP, MILP_TIME_LIMIT_S

            h.setOptionValue("mip_rel_gap", COMMIT_GAP)
            h.setOptionValue("time_limit", MILP_TIME_LIMIT_S)
        for c in self._cuts:
            self._add_rows(h, [c])
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
        if self._h is None:
            self._h = self._model(cl, cu, integer=False)
        else:
            self._h.changeColsBounds(self.ncol, np.arange(self.ncol, dtype=np.int32), cl, cu)
        status, x, obj = self._cg(self._h)
        if status not in ("optimal", "infeasible"):  # numerical trouble on a warm start: retry cold
            self._h = self._model(cl, cu, integer=False)
            status, x, obj = self._cg(self._h)
        return status, x, obj

    def _solve_milp(self, cl, cu, rl, ru):
        return self._cg(self._model(cl, cu, integer=True))

    def _pack(self, s: Setting, x: np.ndarray, obj: float, method: str) -> MldSolution:
        theta, flow = self._network(x)
        off = np.zeros(self.ng, bool)
        if self.nu:
            off[self.uc] = s.gen_on[self.uc] & (x[self.c_pg + self.uc] <= 1e-9)
        return MldSolution(
            ok=True,
            status="optimal",
            objective=obj,
            pg=x[: self.ng],
            ps=x[self.ng : self.ng + self.nd],
            flow=flow,
            theta=theta,
            gen_off=off,
            method=method + "-ptdf",
        )


__all__ = ["PtdfMldModel"]
