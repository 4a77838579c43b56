"""Conversion of a :class:`Grid` to a PYPOWER/MATPOWER case dict (``ppc``).

Used to hand the same case to the reference tools (PYPOWER, pandapower's ``from_ppc``,
lightsim2grid's ``init_from_matpower``) in tests and benchmarks; not used by the solvers.
"""

from __future__ import annotations

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.matpower import parse_matpower_text
from gridshield.grid.model import Grid


def to_ppc(grid: Grid) -> dict:
    """A PYPOWER case dict (``version``, ``baseMVA``, ``bus`` 13 cols, ``gen`` 21 cols, ``branch`` 13 cols,
    ``gencost`` if present) with external bus numbers, rows in the grid's order."""
    from gridshield.grid.matpower import matpower_text

    shunted = grid.branches.has_end_shunts
    if shunted.any():
        ids = grid.branches.id[shunted][:5].tolist()
        raise GridshieldError(
            f"{int(shunted.sum())} branches ({', '.join(ids)}, ...) carry end shunts (g_from_pu, b_from_pu, g_to_pu, "
            "b_to_pu) that a PYPOWER case cannot hold; compare with a tool that reads them (pandapower, pypowsybl)"
        )
    raw = parse_matpower_text(matpower_text(grid), "<grid>")
    bus = raw.tables["bus"].data[:, :13].copy()
    gen10 = raw.tables["gen"].data[:, :10]
    gen = np.zeros((gen10.shape[0], 21))
    gen[:, :10] = gen10
    branch = raw.tables["branch"].data[:, :13].copy()
    ppc = {"version": "2", "baseMVA": float(grid.base_mva), "bus": bus, "gen": gen, "branch": branch}
    if grid.gencost is not None:
        ppc["gencost"] = np.array(grid.gencost, dtype=float)
    return ppc


__all__ = ["to_ppc"]
