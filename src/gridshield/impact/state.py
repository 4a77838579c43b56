"""Shared pieces of the impact engine: live element masks, island references, DC flows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridshield.flow.dc import SparseLU
from gridshield.flow.matrices import DcMatrices, make_bdc
from gridshield.grid.model import Grid
from gridshield.impact.damage import Damage
from gridshield.topology import Islands, islands


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
    first = np.r_[True, lab_sorted[1:] != lab_sorted[:-1]]
    return rows[order[first]]


@dataclass(frozen=True)
class Topo:
    """DC matrices of one topology and the LU factors of its reduced B matrix (energised buses
    minus one reference per island)."""

    m: DcMatrices
    idx: np.ndarray
    lu: object | None
    branch_on: np.ndarray

    def angles(self, p_inj_pu: np.ndarray) -> np.ndarray:
        theta = np.zeros(self.m.bbus.shape[0])
        if self.lu is not None:
            theta[self.idx] = self.lu.solve((p_inj_pu - self.m.pbus_shift)[self.idx])  # type: ignore[attr-defined]
        return theta

    def flows(self, theta: np.ndarray) -> np.ndarray:
        return np.where(self.branch_on, self.m.bf @ theta + self.m.pf_shift, 0.0)


def factor(grid: Grid, convention: str, branch_on: np.ndarray, bus_on: np.ndarray, refs: np.ndarray) -> Topo:
    """Build and factorise the DC matrices of a topology."""
    m = make_bdc(grid, convention, branch_on)  # type: ignore[arg-type]
    keep = bus_on.copy()
    keep[refs] = False
    idx = np.flatnonzero(keep)
    lu = SparseLU(m.bbus[idx][:, idx]) if idx.size else None  # KLU when installed (B is symmetric)
    return Topo(m, idx, lu, branch_on)


def dc_flows(
    grid: Grid,
    convention: str,
    branch_on: np.ndarray,
    bus_on: np.ndarray,
    refs: np.ndarray,
    p_inj_pu: np.ndarray,
    topo: Topo | None = None,
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


__all__ = ["Live", "Topo", "bsum", "dc_flows", "factor", "island_refs", "islands_of", "live_after", "slack_gens"]


def bsum(labels: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(labels, weights, minlength=n)`` as float even when ``labels`` is empty."""
    return np.bincount(labels, weights=weights, minlength=n).astype(float, copy=False)
