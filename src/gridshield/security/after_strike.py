"""The grid left standing after a strike, at the operating point the impact engine chose.

"Which next loss would overload or collapse something?" is asked of what is still standing, not
of the intact grid. :func:`post_strike_grid` assesses the damage (maximal load delivery), then
builds the grid an N-1 study starts from: damaged elements and dark or stranded parts out of
service, every load at the MW the engine serves (its reactive power scaled alike), every live
unit at its dispatch, with the losses of the AC power flow spread over the units of each island
by their headroom (:func:`gridshield.impact.ac.ac_start_point`). Where the AC power flow of that DC
point does not converge, the AC load delivery's point is taken instead (its units holding the
voltages it found; grids up to ``MAX_AC_BUSES`` buses). N-1 and AC security analysis of
that grid (``gridshield n1 CASE --damage ... [--ac-verify]``, the dashboard's *next loss* panel)
then answer the question for the post-strike state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid


@dataclass(frozen=True)
class PostStrike:
    """The post-strike grid and how it was built.

    Attributes
    ----------
    grid
        The grid left standing, at its post-strike operating point.
    impact
        The impact assessment the operating point comes from: the DC load delivery, or the AC one
        where the AC power flow of the DC point does not converge (grids up to ``MAX_AC_BUSES``
        buses).
    ac_converged
        Whether the AC power flow of that point converged (when it did not, the engine's dispatch
        is kept and the security analysis reports its own base-case result).
    """

    grid: Grid
    impact: Any
    ac_converged: bool

    def describe(self) -> str:
        """One line: the damage and what the post-strike grid serves."""
        imp = self.impact
        how = ("" if getattr(imp, "model", "dc") != "ac" else
               " (the AC load delivery's point: the AC power flow of the DC one does not converge)")
        if not self.ac_converged:
            how = " (its AC power flow does not converge)"
        return (f"after {', '.join(imp.damage)}: {imp.served_mw:,.1f} of {imp.demand_mw:,.1f} MW served, "
                f"{len(imp.dark_buses)} buses dark{how}; the study starts from that state")


def post_strike_grid(grid: Grid, damage: Sequence[str] | str, *, rate: str = "a") -> PostStrike:
    """The grid left standing after ``damage`` at the impact engine's operating point (see the
    module docstring).

    Parameters
    ----------
    grid
        The intact grid.
    damage
        Asset ids destroyed (``site:...``, ``branch:...``, ...); at least one.
    rate
        Branch rating the load-delivery LP respects (``"a"`` or ``"b"``).
    """
    from gridshield.impact import Damage, ImpactModel
    from gridshield.limits import MAX_AC_BUSES

    dmg = Damage.from_ids(grid, damage)
    if not dmg.ids:
        raise GridshieldError("no damage given: name the destroyed assets (e.g. site:S3,branch:12)")
    imp = ImpactModel(grid, rate=rate).assess(dmg)
    after, converged = _operating_point(grid, dmg, imp)
    if not converged and len(grid.buses) <= MAX_AC_BUSES:
        # no AC power flow of the DC point: take the AC load delivery's point (the units holding
        # the voltages it found), an AC solution by construction
        imp = ImpactModel(grid, rate=rate, model="ac").assess(dmg)
        after, converged = _operating_point(grid, dmg, imp)
    return PostStrike(grid=after.replace(name=f"{grid.name} after the strike"), impact=imp,
                      ac_converged=bool(converged))


def _operating_point(grid: Grid, dmg: Any, imp: Any) -> tuple[Grid, bool]:
    """The post-strike grid at ``imp``'s dispatch (AC losses spread over the units), and whether
    its AC power flow converged (else the engine's own dispatch is kept)."""
    from gridshield.impact.ac import ac_start_point, operating_grid
    from gridshield.topology import islands

    g, br = grid.gens, grid.branches
    bus_on = np.asarray(imp.bus_energised, bool)
    if not bus_on.any():
        raise GridshieldError(f"after {', '.join(dmg.ids)} no part of {grid.name} is supplied: nothing left to study")
    branch_on = br.in_service & ~dmg.branch_out & bus_on[br.from_bus] & bus_on[br.to_bus]
    stranded = np.isin(g.id, list(imp.stranded_gens))
    pg0 = np.asarray(imp.gen_p_mw, float)
    switched_off = (pg0 == 0) & (g.p_min_mw > 0)  # the engine's commitment turned the unit off
    gen_on = g.in_service & ~dmg.gen_out & bus_on[g.bus] & ~stranded & ~switched_off
    if imp.bus_vm_pu is not None:  # an AC answer: the units hold the voltages it found
        grid = grid.replace(gens=g.replace(vg_pu=np.where(gen_on, imp.bus_vm_pu[g.bus], g.vg_pu)))
    isl = islands(grid, branch_on, bus_on, gen_on)
    lo = np.where(gen_on, np.maximum(np.nan_to_num(g.p_min_mw, neginf=0.0), 0.0), 0.0)
    hi = np.where(gen_on, g.p_max_mw, 0.0)
    served0 = np.asarray(imp.load_served_mw, float)
    pf, served, pg = ac_start_point(grid, served0, pg0, bus_on, branch_on, gen_on, lo, hi, np.maximum(isl.label, 0))
    if not pf.converged:  # keep the engine's own dispatch; the study's base case says what it finds
        served, pg = served0, pg0
    return operating_grid(grid, served, pg, bus_on, branch_on, gen_on), bool(pf.converged)


def worst_contingencies(result: Any, top: int = 15) -> Any:
    """The ``top`` worst contingencies of an :class:`~gridshield.security.ac.AcSecurityResult` —
    those not secure or cutting off load — as a data frame: not converged or without generation
    first, then by the load cut off (MW), then by the largest loading (the order of the CLI's and
    the dashboard's tables); ``outcome`` says it in words (status, the reason it did not converge,
    or "cuts off load" for one within every limit that leaves load without supply)."""
    df = result.to_frame()
    df = df[(df.status != "secure") | (df.islanded_mw > 0)].copy()
    df["key"] = (df.status.isin(["not converged", "no generation"]) * 1e6 + df.islanded_mw
                 + df.max_loading_pct.fillna(0) / 1e3)
    df["outcome"] = np.where(df.converged, df.status, df.status + " (" + df.reason + ")")
    df.loc[df.converged & (df.status == "secure"), "outcome"] = "cuts off load"
    return df.sort_values("key", ascending=False).head(top).drop(columns="key")


__all__ = ["PostStrike", "post_strike_grid", "worst_contingencies"]
