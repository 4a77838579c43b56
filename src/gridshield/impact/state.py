"""Shared pieces of the impact engine: live element masks, island references, DC flows.

DC flows of a damaged topology come from one of two objects with the same interface
(``angles``, ``flows``, ``sens``, ``pbus_shift``, ``pf_shift``):

* :class:`Topo` -- the damaged topology's own reduced B matrix, factorised afresh;
* :class:`LowRankTopo` -- the intact grid's factorisation (:class:`BaseDc`, built once) corrected
  by the Sherman-Morrison-Woodbury identity for the rank-k change the damage makes. Removing
  branch ``l`` subtracts ``b_l a_l a_l^T`` (``a_l = e_from - e_to``) from the reduced B; a part
  of the grid cut off from every reference (a new island, a dark area, a destroyed bus) gets a
  *soft ground* ``e_g e_g^T`` at its new reference ``g``. With ``K0`` the intact reduced B,
  ``U`` those k columns and ``C`` their signs and susceptances,

      (K0 + U C U^T)^-1 = K0^-1 - W S^-1 W^T,   W = K0^-1 U,   S = C^-1 + U^T W,

  so a damage costs k + 1 triangular solves with the kept factors and a k x k dense solve, no
  refactorisation. A soft ground leaves every row of its island but the ground's own exact, so
  subtracting the ground's angle from its island gives the reduced solution with that bus as the
  reference, as a fresh factorisation would (exact for island-balanced right-hand sides: the
  flows of a balanced dispatch and the PTDF rows of a branch). Above ``MAX_RANK`` changed
  columns, or when ``S`` is ill-conditioned, the topology is factorised afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dgecon as _gecon, dgetrf as _getrf, dgetrs as _getrs

from gridshield.flow.dc import SparseLU
from gridshield.flow.matrices import DcMatrices, dc_susceptance, make_bdc
from gridshield.grid.model import Grid
from gridshield.impact.damage import Damage
from gridshield.topology import Islands, islands

#: Largest rank of a Woodbury update before a fresh factorisation is cheaper. Measured on
#: case2869pegase (KLU): a fresh factorisation of the reduced B costs about as much as 60
#: right-hand sides with the kept factors; the limit stays below that for the dense k x k work.
MAX_RANK = 48
#: Largest condition number of the k x k capacitance matrix accepted (else refactorise; LAPACK's
#: 1-norm estimate, see ``_well_conditioned_lu``).
MAX_COND = 1e10


@dataclass(frozen=True)
class Live:
    """Elements in service after a damage (before looking at islands)."""

    bus: np.ndarray
    branch: np.ndarray
    gen: np.ndarray
    load: np.ndarray


def live_after(grid: Grid, dmg: Damage, extra_branch_out: np.ndarray | None = None) -> Live:
    """In-service and undamaged elements whose buses are in service and undamaged."""
    bus = grid.buses.in_service & ~dmg.bus_out
    br = grid.branches
    branch = br.in_service & ~dmg.branch_out & bus[br.from_bus] & bus[br.to_bus]
    if extra_branch_out is not None:
        branch = branch & ~extra_branch_out
    gen = grid.gens.in_service & ~dmg.gen_out & bus[grid.gens.bus]
    load = grid.loads.in_service & ~dmg.load_out & bus[grid.loads.bus]
    return Live(bus, branch, gen, load)


def island_refs(grid: Grid, isl: Islands, gen_on: np.ndarray) -> np.ndarray:
    """One reference bus per energised island: the case's reference bus (type 3) when it lies in
    the island, else the bus of the island's largest live generator (by ``p_max_mw``)."""
    return grid.gens.bus[slack_gens(grid, isl, gen_on)]


def slack_gens(grid: Grid, isl: Islands, gen_on: np.ndarray) -> np.ndarray:
    """Per energised island, the generator that balances it when the others keep their
    dispatch: the largest live generator at the case's reference bus where that bus lies in the
    island, else the island's largest live generator."""
    g = grid.gens
    rows = np.flatnonzero(gen_on)
    if rows.size == 0:
        return np.zeros(0, np.int64)
    gb = g.bus[rows]
    lab = isl.label[gb]
    is_ref = grid.buses.type[gb] == 3
    order = np.lexsort((-g.p_max_mw[rows], ~is_ref, lab))
    lab_sorted = lab[order]
    first = np.ones(lab_sorted.size, bool)
    first[1:] = lab_sorted[1:] != lab_sorted[:-1]
    return rows[order[first]]


def _flows(bf, pf_shift: np.ndarray, branch_on: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.where(branch_on, bf @ theta + pf_shift, 0.0)


@dataclass(frozen=True)
class Topo:
    """DC matrices of one topology and the LU factors of its reduced B matrix (energised buses
    minus one reference per island)."""

    m: DcMatrices
    idx: np.ndarray
    lu: object | None
    branch_on: np.ndarray

    @property
    def pbus_shift(self) -> np.ndarray:
        return self.m.pbus_shift

    @property
    def pf_shift(self) -> np.ndarray:
        return self.m.pf_shift

    def sens(self, rhs: np.ndarray) -> np.ndarray:
        """``B^-1 rhs`` over the reduced buses (0 at references and dark buses); ``rhs`` is
        ``(nb,)`` or ``(nb, k)``."""
        out = np.zeros(rhs.shape)
        if self.lu is not None:
            out[self.idx] = self.lu.solve(rhs[self.idx])  # type: ignore[attr-defined]
        return out

    def angles(self, p_inj_pu: np.ndarray) -> np.ndarray:
        return self.sens(p_inj_pu - self.m.pbus_shift)

    def flows(self, theta: np.ndarray) -> np.ndarray:
        return _flows(self.m.bf, self.m.pf_shift, self.branch_on, theta)


def factor(grid: Grid, convention: str, branch_on: np.ndarray, bus_on: np.ndarray, refs: np.ndarray) -> Topo:
    """Build and factorise the DC matrices of a topology."""
    m = make_bdc(grid, convention, branch_on)  # type: ignore[arg-type]
    keep = bus_on.copy()
    keep[refs] = False
    idx = np.flatnonzero(keep)
    lu = SparseLU(m.bbus[idx][:, idx]) if idx.size else None  # KLU when installed (B is symmetric)
    return Topo(m, idx, lu, branch_on)


class BaseDc:
    """The intact grid's DC matrices and reduced-B factorisation, for :class:`LowRankTopo`.

    Built once per impact model (the LU on first use; it is not pickled).
    """

    def __init__(self, grid: Grid, convention: str):
        self.grid = grid
        self.convention = convention
        br = grid.branches
        live = live_after(grid, Damage.none(grid))
        isl = islands_of(grid, live)
        gen_on = live.gen & isl.energised[grid.gens.bus]
        refs = island_refs(grid, isl, gen_on)
        self.bus_on = live.bus & isl.energised
        self.branch_on = live.branch & self.bus_on[br.from_bus] & self.bus_on[br.to_bus]
        self.is_ref = np.zeros(len(grid.buses), bool)
        self.is_ref[refs] = True
        keep = self.bus_on & ~self.is_ref
        self.idx = np.flatnonzero(keep)
        n0 = self.idx.size
        #: reduced position of each bus (n0 for references and buses outside the reduced system)
        self.pos = np.full(len(grid.buses), n0, np.int64)
        self.pos[self.idx] = np.arange(n0)
        b, shift = dc_susceptance(grid, convention, self.branch_on)  # type: ignore[arg-type]
        self.b = b
        self.pf_shift = -b * shift
        self.m = make_bdc(grid, convention, self.branch_on)  # type: ignore[arg-type]
        self._lu: SparseLU | None = None
        # damage-independent pieces of low_rank
        self._b_on = self.branch_on & (b != 0)
        self._refs0 = np.flatnonzero(self.bus_on & self.is_ref)
        self._on0 = np.flatnonzero(self.bus_on)
        self._on0_free = np.flatnonzero(self.bus_on & ~self.is_ref)
        self._pos_from = self.pos[br.from_bus]
        self._pos_to = self.pos[br.to_bus]

    @property
    def lu(self) -> SparseLU:
        if self._lu is None:
            self._lu = SparseLU(self.m.bbus[self.idx][:, self.idx])
        return self._lu

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_lu"] = None
        return state

    def topology(
        self, live: Live, isl: Islands, branch_on: np.ndarray, bus_on: np.ndarray, refs: np.ndarray
    ) -> LowRankTopo | Topo:
        """DC flows of the damaged topology: a low-rank update of the intact factors when the
        rank is at most :data:`MAX_RANK` and well conditioned, else a fresh factorisation."""
        lr = self.low_rank(live, isl, branch_on, bus_on, refs)
        if lr is not None:
            return lr
        return factor(self.grid, self.convention, branch_on, bus_on, refs)

    def low_rank(
        self, live: Live, isl: Islands, branch_on: np.ndarray, bus_on: np.ndarray, refs: np.ndarray
    ) -> LowRankTopo | None:
        """The Woodbury update (see the module docstring), or None past the rank / condition limits."""
        grid = self.grid
        br = grid.branches
        nb = len(grid.buses)
        removed = np.flatnonzero(self._b_on & ~live.branch)
        # grounds: one per part of the intact energised grid that holds no intact reference
        lab = isl.label
        n = max(isl.count, 1)
        has_ref = np.zeros(n, bool)
        lab_ref = lab[self._refs0]
        has_ref[lab_ref[lab_ref >= 0]] = True
        island_ref = np.full(n, -1, np.int64)
        island_ref[lab[refs]] = refs
        lab_on = lab[self._on0]  # labels of the intact energised buses, ascending bus order
        alive = lab_on >= 0
        cand, lab_cand = self._on0[alive], lab_on[alive]
        # first (lowest) bus of each label: cand is ascending, so each label's first occurrence
        new = np.ones(lab_cand.size, bool)
        order = np.argsort(lab_cand, kind="stable")
        ls = lab_cand[order]
        new[1:] = ls[1:] != ls[:-1]
        comp = ls[new]
        comp = comp[~has_ref[comp]]
        first = np.full(n, nb, np.int64)
        first[ls[new]] = cand[order[new]]
        ir = island_ref[comp]
        grounds = np.where(ir >= 0, ir, first[comp])
        destroyed = self._on0_free[lab[self._on0_free] < 0]  # a destroyed bus is cut off
        if destroyed.size:
            grounds = np.concatenate([grounds, destroyed])
        k = removed.size + grounds.size
        if k > MAX_RANK:
            return None
        pf_shift = np.where(branch_on, self.pf_shift, 0.0)
        pbus_shift = np.bincount(br.from_bus, pf_shift, nb) - np.bincount(br.to_bus, pf_shift, nb)
        # each energised bus's reference, to shift the angles to reference = 0 per island
        ref_of = np.where(bus_on, island_ref[np.maximum(lab, 0)], -1)
        if k == 0:
            return LowRankTopo(self, branch_on, bus_on, pf_shift, pbus_shift, ref_of, None, None, None, None)
        n0 = self.idx.size
        pf = np.empty(k, np.int64)
        pt = np.full(k, n0, np.int64)
        nr = removed.size
        pf[:nr] = self._pos_from[removed]
        pf[nr:] = self.pos[grounds]
        pt[:nr] = self._pos_to[removed]
        u = np.zeros((n0 + 1, k), order="F")  # row n0 collects references (dropped)
        cols = np.arange(k)
        u[pf, cols] += 1.0
        u[pt, cols] -= 1.0
        w = self.lu.solve(u[:n0])
        wz = np.vstack([w, np.zeros((1, k))])
        s = wz[pf] - wz[pt]  # U^T W (symmetric)
        diag = np.ones(k)
        diag[:nr] = -1.0 / self.b[removed]
        s[np.diag_indices(k)] += diag
        s_lu = _well_conditioned_lu(s)
        if s_lu is None:
            return None
        return LowRankTopo(self, branch_on, bus_on, pf_shift, pbus_shift, ref_of, pf, pt, w, s_lu)


def _well_conditioned_lu(s: np.ndarray) -> tuple | None:
    """``scipy.linalg.lu_factor(s)``, or None when ``s`` is singular or its condition number
    exceeds :data:`MAX_COND`.

    The condition number is LAPACK's 1-norm estimate from the factors (``dgecon``: O(k^2) on top
    of the O(k^3) LU, against a k x k SVD for ``numpy.linalg.cond``'s 2-norm one; profiled on the
    synthetic city, ~30 us per damage for the LU and the estimate against ~130 us for
    ``lu_factor`` and ``numpy.linalg.cond``). For a k x k matrix the two condition numbers differ by at
    most a factor k (and the estimate is a lower bound, rarely off by more than 3), so only
    matrices within that factor of the limit can be judged differently; tests/test_impact_scale.py
    checks the decisions are the same away from it and on the matrices of random damages.
    """
    anorm = float(np.abs(s).sum(axis=0).max())
    lu, piv, info = _getrf(s)
    if info != 0 or not np.isfinite(anorm):
        return None
    rcond, info = _gecon(lu, anorm, norm="1")
    if info != 0 or not rcond * MAX_COND > 1.0:
        return None
    return lu, piv


@dataclass(frozen=True)
class LowRankTopo:
    """A damaged topology's DC flows from the intact factors and a Woodbury correction
    (see the module docstring); the same interface as :class:`Topo`."""

    base: BaseDc
    branch_on: np.ndarray
    bus_on: np.ndarray
    pf_shift: np.ndarray
    pbus_shift: np.ndarray
    ref_of: np.ndarray  # per bus: its island's reference bus (-1 when not energised)
    pf: np.ndarray | None  # per update column: reduced positions of its +1 / -1 entries (n0 = none)
    pt: np.ndarray | None
    w: np.ndarray | None  # K0^-1 U
    s_lu: tuple | None  # LU of the capacitance matrix S

    @property
    def rank(self) -> int:
        return 0 if self.pf is None else int(self.pf.size)

    def sens(self, rhs: np.ndarray) -> np.ndarray:
        """``B^-1 rhs`` with each island's reference at 0 (``rhs`` island-balanced), 0 off the grid."""
        b = self.base
        z = b.lu.solve(np.asarray(rhs, float)[b.idx])
        if self.w is not None:
            zz = np.concatenate([z, np.zeros((1,) + z.shape[1:])])
            z = z - self.w @ _getrs(*self.s_lu, zz[self.pf] - zz[self.pt])[0]
        x = np.zeros((len(b.pos) + 1,) + z.shape[1:])
        x[b.idx] = z
        out = x[:-1] - x[self.ref_of]  # ref_of = -1 (not energised) picks the appended zero row
        out[~self.bus_on] = 0.0
        return out

    def angles(self, p_inj_pu: np.ndarray) -> np.ndarray:
        rhs = np.where(self.bus_on, p_inj_pu - self.pbus_shift, 0.0)
        return self.sens(rhs)

    def flows(self, theta: np.ndarray) -> np.ndarray:
        return _flows(self.base.m.bf, self.pf_shift, self.branch_on, theta)


def dc_flows(
    grid: Grid,
    convention: str,
    branch_on: np.ndarray,
    bus_on: np.ndarray,
    refs: np.ndarray,
    p_inj_pu: np.ndarray,
    topo: Topo | LowRankTopo | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """DC angles (rad) and branch flows (p.u.) for injections ``p_inj_pu`` (balanced per island).

    ``bus_on`` marks the energised buses; reference buses get angle 0.
    """
    if topo is None:
        topo = factor(grid, convention, branch_on, bus_on, refs)
    theta = topo.angles(p_inj_pu)
    return theta, topo.flows(theta)


def islands_of(grid: Grid, live: Live) -> Islands:
    return islands(grid, branch_in_service=live.branch, bus_in_service=live.bus, gen_in_service=live.gen)


__all__ = [
    "BaseDc", "Live", "LowRankTopo", "Topo", "bsum", "dc_flows", "factor", "island_refs", "islands_of", "live_after",
    "slack_gens",
]


def bsum(labels: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(labels, weights, minlength=n)`` as float even when ``labels`` is empty."""
    return np.bincount(labels, weights=weights, minlength=n).astype(float, copy=False)
