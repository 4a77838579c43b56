"""The operator's DC load-shedding LP and the assets an attacker can remove.

This is the inner (operator) problem of the attacker–operator interdiction model of
Salmeron, Wood and Baldick (2004): after a set of branches and generators is lost, the operator
redispatches generation (0..Pmax) and sheds load to keep the DC network feasible under the
rate-A limits, minimising the weighted load shed

    min  sum_d w_d s_d
    s.t. sum_{g at n} p_g - sum_l A_nl f_l + sum_{d at n} s_d = D_n     (every bus n)
         f_l - b_l (theta_from - theta_to) = pf_shift_l                  (branch l in service)
         -F_l <= f_l <= F_l,  0 <= p_g <= Pmax_g,  0 <= s_d <= P_d

``A`` is the branch–bus incidence (+1 from, -1 to), ``b`` the MATPOWER DC susceptance
(``make_bdc``), ``F`` rate A (no limit where rate A is 0). Loads with negative demand (injections,
as in the PEGASE cases) may be curtailed at zero weight (``P_d <= s_d <= 0``) so that the LP is
always feasible. A removed branch has ``f_l = 0`` and its angle constraint relaxed; a removed
generator has ``p_g = 0``. The LP is feasible for every damage (shed everything, dispatch
nothing), so its optimum is finite.

The LP is built once with HiGHS and a damage only changes column bounds (the flow-definition row
carries a slack fixed at 0 that is freed when its branch is out), so thousands of evaluations
reuse one model and warm-start from the last basis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.flow.matrices import dc_susceptance
from gridshield.grid.model import Grid

_INF = 1e30  # HiGHS treats >= 1e20 as infinite


@dataclass(frozen=True)
class Asset:
    """Something the attacker can remove: a branch, a generator, a bus or a whole site.

    ``branches`` / ``gens`` are the grid rows it takes out (a bus or site takes every branch
    touching its buses and every generator on them; its loads are then cut off).
    """

    id: str
    branches: tuple[int, ...]
    gens: tuple[int, ...]


def asset_of(grid: Grid, asset_id: str) -> Asset:
    """The :class:`Asset` behind an id (``branch:12``, ``gen:3``, ``bus:5``, ``site:S1``)."""
    kind, row = grid.locate(asset_id)
    if kind == "branch":
        return Asset(asset_id, (row,), ())
    if kind == "gen":
        return Asset(asset_id, (), (row,))
    if kind in ("bus", "site"):
        rows = np.array([row]) if kind == "bus" else grid.sites[asset_id[5:]]
        on_bus = np.zeros(len(grid.buses), dtype=bool)
        on_bus[rows] = True
        br = grid.branches
        b = np.flatnonzero(on_bus[br.from_bus] | on_bus[br.to_bus])
        g = np.flatnonzero(on_bus[grid.gens.bus])
        return Asset(asset_id, tuple(b.tolist()), tuple(g.tolist()))
    raise UnknownAssetError(asset_id, [i for i in grid.asset_ids() if i.split(":")[0] in ("branch", "gen", "bus", "site")],
                            "strikeable asset (branch, gen, bus or site)")


def site_assets(grid: Grid) -> list[Asset]:
    """Whole sites (``site:<name>``) when the grid names substations, else one per bus (``bus:<n>``);
    only sites with a bus in service (a struck site is no further contingency)."""
    if grid.sites:
        on = grid.buses.in_service
        return [asset_of(grid, f"site:{s}") for s, rows in grid.sites.items() if on[rows].any()]
    on = np.flatnonzero(grid.buses.in_service)
    return [asset_of(grid, grid.buses.id[i]) for i in on]


def default_candidates(grid: Grid, elements: Iterable[str] = ("branches", "gens")) -> list[Asset]:
    """In-service branches and generators (and sites when ``"sites"`` is in ``elements``)."""
    elements = tuple(elements)
    bad = [e for e in elements if e not in ("branches", "gens", "sites")]
    if bad:
        raise GridshieldError(f"unknown element kind(s) {bad}; use branches, gens and/or sites")
    out: list[Asset] = []
    if "branches" in elements:
        ids = grid.branches.id.tolist()
        out += [Asset(ids[i], (i,), ()) for i in np.flatnonzero(grid.branches.in_service).tolist()]
    if "gens" in elements:
        ids = grid.gens.id.tolist()
        out += [Asset(ids[i], (), (i,)) for i in np.flatnonzero(grid.gens.in_service).tolist()]
    if "sites" in elements:
        out += site_assets(grid)
    return out


def as_assets(grid: Grid, candidates: Sequence[str | Asset] | None, elements=("branches", "gens")) -> list[Asset]:
    """Normalise a list of ids / assets (``None``: the default candidates)."""
    if candidates is None:
        return default_candidates(grid, elements)
    out = [c if isinstance(c, Asset) else asset_of(grid, str(c)) for c in candidates]
    ids = [a.id for a in out]
    if len(set(ids)) != len(ids):
        raise GridshieldError("candidates: duplicate asset ids; list each asset once")
    return out


def load_weights(grid: Grid, weights: dict[str, float] | np.ndarray | None) -> np.ndarray:
    """Weight per load row: ``None`` = 1 per MW; a dict by priority class; or an array per load."""
    ld = grid.loads
    if weights is None:
        return np.ones(len(ld))
    if isinstance(weights, dict):
        unknown = set(weights) - set(ld.priority.tolist()) - {"critical", "essential", "residential", "commercial", "industrial"}
        if unknown:
            raise GridshieldError(f"weights: unknown priority classes {sorted(unknown)}")
        return np.array([float(weights.get(p, 1.0)) for p in ld.priority.tolist()])
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(ld),) or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise GridshieldError(f"weights: expected {len(ld)} non-negative finite numbers (one per load)")
    return w


@dataclass(frozen=True)
class DcNetwork:
    """The data of the operator LP, restricted to in-service elements (row indices into the grid)."""

    nb: int
    br: np.ndarray        # in-service branch rows
    f: np.ndarray         # from bus per in-service branch
    t: np.ndarray
    b: np.ndarray         # DC susceptance (p.u.)
    pfs: np.ndarray       # phase-shift flow (MW)
    rate: np.ndarray      # rate A (MW); inf where 0
    gen: np.ndarray       # in-service gen rows
    gbus: np.ndarray
    pmax: np.ndarray      # MW, >= 0
    load: np.ndarray      # in-service load rows
    lbus: np.ndarray
    pd: np.ndarray        # MW (may be negative)
    w: np.ndarray         # weight per MW shed (0 for negative loads)
    base_mva: float

    @property
    def demand(self) -> np.ndarray:
        return np.bincount(self.lbus, weights=self.pd, minlength=self.nb)


def dc_network(grid: Grid, weights=None, convention: str = "matpower") -> DcNetwork:
    br = grid.branches
    on = br.in_service & grid.buses.in_service[br.from_bus] & grid.buses.in_service[br.to_bus]
    b_all, shift = dc_susceptance(grid, convention, on)  # type: ignore[arg-type]
    rows = np.flatnonzero(on)
    rate = br.rate_a_mva[rows].astype(float)
    rate = np.where(rate > 0, rate, np.inf)
    g = grid.gens
    gon = np.flatnonzero(g.in_service & grid.buses.in_service[g.bus])
    ld = grid.loads
    lon = np.flatnonzero(ld.in_service & grid.buses.in_service[ld.bus])
    w = load_weights(grid, weights)[lon]
    pd = ld.p_mw[lon].astype(float)
    return DcNetwork(
        nb=len(grid.buses), br=rows, f=br.from_bus[rows], t=br.to_bus[rows], b=b_all[rows],
        pfs=-b_all[rows] * shift[rows] * grid.base_mva, rate=rate, gen=gon, gbus=g.bus[gon],
        pmax=np.maximum(g.p_max_mw[gon], 0.0), load=lon, lbus=ld.bus[lon], pd=pd,
        w=np.where(pd > 0, w, 0.0), base_mva=grid.base_mva,
    )


def _highs():
    """A quiet single-threaded HiGHS (every HiGHS in a process must use the same thread count)."""
    from gridshield.optim import new_highs

    return new_highs()


def pass_model(h, cost, lower, upper, a: sp.csc_matrix, rlo, rhi, integrality=None, maximize=False) -> None:
    """Hand a sparse LP/MILP to HiGHS (column-wise)."""
    import highspy

    a = sp.csc_matrix(a)
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = a.shape[1]
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.clip(np.asarray(lower, dtype=float), -_INF, _INF)
    lp.col_upper_ = np.clip(np.asarray(upper, dtype=float), -_INF, _INF)
    lp.row_lower_ = np.clip(np.asarray(rlo, dtype=float), -_INF, _INF)
    lp.row_upper_ = np.clip(np.asarray(rhi, dtype=float), -_INF, _INF)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_ = a.shape[1]
    lp.a_matrix_.num_row_ = a.shape[0]
    if integrality is not None:
        lp.integrality_ = [highspy.HighsVarType(int(v)) for v in integrality]
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h.passModel(lp)


class ShedModel:
    """Reusable operator LP: ``evaluate(branch_rows, gen_rows)`` -> weighted shed and MW shed.

    Parameters
    ----------
    grid
        The grid (in-service elements only take part).
    weights
        Cost per MW shed: ``None`` (1 for every load), a dict by priority class, or an array per load.
    """

    def __init__(self, grid: Grid, weights=None, convention: str = "matpower") -> None:
        self.grid = grid
        net = dc_network(grid, weights, convention)
        self.net = net
        nb, nl, ng, nd = net.nb, net.br.size, net.gen.size, net.load.size
        # columns: theta (nb) | f (nl) | p (ng) | s (nd) | e (nl)
        self._of = nb
        self._og = nb + nl
        self._os = nb + nl + ng
        self._oe = nb + nl + ng + nd
        ncol = self._oe + nl
        il = np.arange(nl)
        bpu = net.b * net.base_mva  # MW per rad
        rows = np.r_[net.f, net.t, net.gbus, net.lbus, nb + il, nb + il, nb + il, nb + il]
        cols = np.r_[self._of + il, self._of + il, self._og + np.arange(ng), self._os + np.arange(nd),
                     self._of + il, net.f, net.t, self._oe + il]
        vals = np.r_[-np.ones(nl), np.ones(nl), np.ones(ng), np.ones(nd), np.ones(nl), -bpu, bpu, np.ones(nl)]
        a = sp.csc_matrix((vals, (rows, cols)), shape=(nb + nl, ncol))
        rhs = np.r_[net.demand, net.pfs]
        lo = np.r_[np.full(nb, -np.inf), -net.rate, np.zeros(ng), np.minimum(net.pd, 0), np.zeros(nl)]
        hi = np.r_[np.full(nb, np.inf), net.rate, net.pmax, np.maximum(net.pd, 0), np.zeros(nl)]
        cost = np.zeros(ncol)
        cost[self._os:self._oe] = net.w
        self._lo, self._hi = lo, hi
        self._h = _highs()
        pass_model(self._h, cost, lo, hi, a, rhs, rhs)
        # grid row -> position in the LP (-1 when out of service)
        self._brpos = np.full(len(grid.branches), -1)
        self._brpos[net.br] = il
        self._gpos = np.full(len(grid.gens), -1)
        self._gpos[net.gen] = np.arange(ng)
        self.n_evaluations = 0

    def _cols(self, branch_rows, gen_rows):
        bp = self._brpos[np.asarray(list(branch_rows), dtype=np.int64)] if len(branch_rows) else np.zeros(0, int)
        gp = self._gpos[np.asarray(list(gen_rows), dtype=np.int64)] if len(gen_rows) else np.zeros(0, int)
        bp, gp = np.unique(bp[bp >= 0]), np.unique(gp[gp >= 0])
        return bp, gp

    def solve(self, branch_rows: Iterable[int] = (), gen_rows: Iterable[int] = ()) -> tuple[float, np.ndarray]:
        """Weighted shed and the shed MW per in-service load (``net.load`` order) after the removal."""
        h = self._h
        bp, gp = self._cols(tuple(branch_rows), tuple(gen_rows))
        cols = np.r_[self._of + bp, self._oe + bp, self._og + gp].astype(np.int32)
        if cols.size:
            lo = np.r_[np.zeros(bp.size), np.full(bp.size, -_INF), np.zeros(gp.size)]
            hi = np.r_[np.zeros(bp.size), np.full(bp.size, _INF), np.zeros(gp.size)]
            h.changeColsBounds(cols.size, cols, lo, hi)
        h.run()
        status = h.getModelStatus()
        import highspy

        if status != highspy.HighsModelStatus.kOptimal:
            # a fresh solve from scratch before giving up
            h.clearSolver()
            h.run()
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise GridshieldError(f"load-shedding LP not solved: {h.modelStatusToString(status)}")
        obj = float(h.getInfo().objective_function_value)
        x = np.asarray(h.getSolution().col_value)
        shed = x[self._os:self._oe].copy()
        if cols.size:
            h.changeColsBounds(cols.size, cols, np.clip(self._lo[cols], -_INF, _INF), np.clip(self._hi[cols], -_INF, _INF))
        self.n_evaluations += 1
        return obj, shed

    def base_flows(self) -> np.ndarray:
        """Branch flows (MW, LP branch order) of the undamaged operator LP."""
        if not hasattr(self, "_base_f"):
            self.solve()
            x = np.asarray(self._h.getSolution().col_value)
            self._base_f = x[self._of:self._og].copy()
        return self._base_f

    def asset_size(self, assets: Sequence[Asset]) -> np.ndarray:
        """MW an asset carries in the base case: |flow| of its branches plus Pmax of its generators."""
        f = np.abs(self.base_flows())
        out = np.zeros(len(assets))
        for i, a in enumerate(assets):
            bp, gp = self._cols(a.branches, a.gens)
            out[i] = f[bp].sum() + self.net.pmax[gp].sum()
        return out

    def evaluate(self, assets: Iterable[Asset]) -> tuple[float, float]:
        """``(weighted shed, MW shed)`` after removing the assets (positive loads only count as MW)."""
        br: list[int] = []
        gn: list[int] = []
        for a in assets:
            br += a.branches
            gn += a.gens
        obj, shed = self.solve(br, gn)
        return obj, float(np.sum(np.maximum(shed, 0.0)))
