"""Topology: connected components over in-service branches, energised buses, bridges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from gridshield.grid.model import Grid


@dataclass(frozen=True)
class Islands:
    """Connected parts of a grid.

    Attributes
    ----------
    label
        Island number per bus (``-1`` for buses out of service); islands are numbered 0..n-1.
    count
        Number of islands.
    has_generation
        Per island: True when an in-service generator sits on one of its buses.
    """

    label: np.ndarray
    count: int
    has_generation: np.ndarray

    def buses(self, island: int) -> np.ndarray:
        """Bus rows of one island."""
        return np.flatnonzero(self.label == island)

    @property
    def energised(self) -> np.ndarray:
        """Per bus: True when its island has generation (the bus can be supplied)."""
        ok = np.zeros(self.label.shape[0], dtype=bool)
        on = self.label >= 0
        ok[on] = self.has_generation[self.label[on]]
        return ok


@njit(cache=True, nogil=True)
def component_labels(nb, f, t, on, bus_on):  # pragma: no cover - compiled
    """Union-find components over branches with ``on``: labels numbered in order of each island's
    first bus, ``-1`` for buses out of service; returns ``(label, count)``."""
    parent = np.arange(nb)
    for k in range(f.shape[0]):
        if not on[k]:
            continue
        a, b = f[k], t[k]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    label = np.full(nb, -1, dtype=np.int64)
    root_label = np.full(nb, -1, dtype=np.int64)
    count = 0
    for i in range(nb):
        if not bus_on[i]:
            continue
        r = i
        while parent[r] != r:
            r = parent[r]
        if root_label[r] < 0:
            root_label[r] = count
            count += 1
        label[i] = root_label[r]
    return label, count


def islands(
    grid: Grid,
    branch_in_service: np.ndarray | None = None,
    bus_in_service: np.ndarray | None = None,
    gen_in_service: np.ndarray | None = None,
) -> Islands:
    """Connected components of the grid over in-service branches and buses.

    The optional masks override the grid's own ``in_service`` columns (for damage studies
    without building a new :class:`Grid`).
    """
    br, nb = grid.branches, len(grid.buses)
    bon = grid.buses.in_service if bus_in_service is None else bus_in_service
    lon = br.in_service if branch_in_service is None else branch_in_service
    gon = grid.gens.in_service if gen_in_service is None else gen_in_service
    lon = lon & bon[br.from_bus] & bon[br.to_bus]
    label, count = component_labels(nb, br.from_bus, br.to_bus, lon, bon)
    count = int(count)
    has_gen = np.zeros(count, dtype=bool)
    g = grid.gens
    live = gon & bon[g.bus]
    has_gen[label[g.bus[live]]] = True
    return Islands(label=label, count=count, has_generation=has_gen)


def bridges(grid: Grid, branch_in_service: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of branches whose loss alone splits their island (graph bridges).

    Parallel branches are never bridges. Iterative Tarjan low-link, O(n_bus + n_branch).
    """
    br, nb = grid.branches, len(grid.buses)
    lon = (br.in_service if branch_in_service is None else branch_in_service).copy()
    bon = grid.buses.in_service
    lon &= bon[br.from_bus] & bon[br.to_bus]
    rows = np.flatnonzero(lon & (br.from_bus != br.to_bus))
    f, t = br.from_bus[rows], br.to_bus[rows]
    # adjacency in CSR form: for each bus, (neighbour, edge id)
    ends = np.r_[f, t]
    other = np.r_[t, f]
    eid = np.r_[np.arange(rows.size), np.arange(rows.size)]
    order = np.argsort(ends, kind="stable")
    nbr, edge = other[order], eid[order]
    ptr = np.zeros(nb + 1, dtype=np.int64)
    np.add.at(ptr, ends + 1, 1)
    ptr = np.cumsum(ptr)
    is_bridge = _bridges_kernel(nb, ptr, nbr, edge, rows.size)
    out = np.zeros(len(br), dtype=bool)
    out[rows[is_bridge]] = True
    return out


def _bridges_kernel(nb: int, ptr: np.ndarray, nbr: np.ndarray, edge: np.ndarray, ne: int) -> np.ndarray:
    disc = np.full(nb, -1, dtype=np.int64)
    low = np.zeros(nb, dtype=np.int64)
    out = np.zeros(ne, dtype=bool)
    ptr_l, nbr_l, edge_l = ptr.tolist(), nbr.tolist(), edge.tolist()
    disc_l, low_l = disc.tolist(), low.tolist()
    timer = 0
    for root in range(nb):
        if disc_l[root] >= 0:
            continue
        disc_l[root] = low_l[root] = timer
        timer += 1
        stack = [(root, -1, ptr_l[root])]
        while stack:
            v, pe, i = stack[-1]
            if i < ptr_l[v + 1]:
                stack[-1] = (v, pe, i + 1)
                w, e = nbr_l[i], edge_l[i]
                if e == pe:
                    continue
                if disc_l[w] < 0:
                    disc_l[w] = low_l[w] = timer
                    timer += 1
                    stack.append((w, e, ptr_l[w]))
                elif disc_l[w] < low_l[v]:
                    low_l[v] = disc_l[w]
            else:
                stack.pop()
                if stack:
                    u = stack[-1][0]
                    if low_l[v] < low_l[u]:
                        low_l[u] = low_l[v]
                    if low_l[v] > disc_l[u]:
                        out[pe] = True
    return out


__all__ = ["Islands", "bridges", "component_labels", "islands"]
