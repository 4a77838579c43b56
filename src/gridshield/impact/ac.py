"""AC check of a maximal-load-delivery answer: is the DC operating point AC-feasible?

The post-shedding state (served loads with their reactive power scaled alike, the MLD's generator
outputs, damaged and dark elements out of service) goes through an AC Newton-Raphson power flow
(:func:`gridshield.flow.ac.solve_ac`, one slack per island absorbing the losses). Reported:
convergence, buses outside their voltage limits, branches above their rating (MVA, the same rating
the MLD used) and slack generators pushed beyond ``Pmax`` by the losses. An AC maximal load delivery
(Coffrin et al.) is a later step; this check says when the DC answer cannot be trusted as is.
"""

from __future__ import annotations

import numpy as np

from gridshield.grid.model import Grid
from gridshield.impact.result import AcCheck

_VM_TOL = 1e-4
_RATE_TOL = 1e-6
#: Headroom counted for a unit without a finite P limit (MW) when losses are spread.
_ROOM_CAP_MW = 1e6


def operating_grid(
    grid: Grid,
    load_served_mw: np.ndarray,
    gen_p_mw: np.ndarray,
    bus_on: np.ndarray,
    branch_on: np.ndarray,
    gen_on: np.ndarray,
) -> Grid:
    """The grid of a post-shedding state: served loads (reactive power scaled alike), generator
    outputs ``gen_p_mw`` and only the energised elements in service."""
    ld, g = grid.loads, grid.gens
    with np.errstate(divide="ignore", invalid="ignore"):
        # a purely reactive load (P = 0) is never shed: it keeps its MVAr where its bus is live
        frac = np.where(ld.p_mw != 0, load_served_mw / np.where(ld.p_mw != 0, ld.p_mw, 1.0), 1.0)
    load_on = bus_on[ld.bus] & ld.in_service
    return grid.replace(
        buses=grid.buses.replace(in_service=bus_on),
        branches=grid.branches.replace(in_service=branch_on),
        gens=g.replace(p_mw=np.where(gen_on, gen_p_mw, 0.0), in_service=gen_on),
        loads=ld.replace(p_mw=np.where(load_on, load_served_mw, 0.0), q_mvar=np.where(load_on, ld.q_mvar * frac, 0.0)),
    )


def ac_check(
    grid: Grid,
    load_served_mw: np.ndarray,
    gen_p_mw: np.ndarray,
    bus_on: np.ndarray,
    branch_on: np.ndarray,
    gen_on: np.ndarray,
    rate_mw: np.ndarray,
    enforce_q_limits: bool = True,
) -> AcCheck:
    """AC power flow of the post-shedding state; see the module docstring."""
    from gridshield.flow.ac import solve_ac

    g = grid.gens
    g2 = operating_grid(grid, load_served_mw, gen_p_mw, bus_on, branch_on, gen_on)
    if not gen_on.any():
        return AcCheck(True, True, (), (), 0.0, float("nan"), float("nan"), "no energised island: nothing to check")
    res = solve_ac(g2, init="dc", enforce_q_limits=enforce_q_limits, robust=True)
    if not res.converged:
        return AcCheck(
            False, False, (), (), float("nan"), float("nan"), float("nan"),
            f"AC power flow did not converge ({res.reason}): the DC answer is probably not AC-feasible",
        )
    on = res.bus_energised
    vm = res.vm_pu
    b = grid.buses
    bad_v = on & ((vm < b.vmin_pu - _VM_TOL) | (vm > b.vmax_pu + _VM_TOL))
    s = np.maximum(np.hypot(res.p_from_mw, res.q_from_mvar), np.hypot(res.p_to_mw, res.q_to_mvar))
    lim = branch_on & (rate_mw > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.where(lim, s / np.where(rate_mw > 0, rate_mw, 1.0), 0.0)
    bad_t = lim & (s > rate_mw * (1 + _RATE_TOL))
    over_p = gen_on & (res.gen_p_mw > g.p_max_mw + 1e-6)
    msgs = []
    if bad_v.any():
        msgs.append(f"{int(bad_v.sum())} buses outside their voltage limits")
    if bad_t.any():
        msgs.append(f"{int(bad_t.sum())} branches above their rating")
    if over_p.any():
        msgs.append(f"{int(over_p.sum())} slack generators above Pmax after losses ({', '.join(g.id[over_p][:5])})")
    feasible = not msgs
    msg = "the DC answer is AC-feasible" if feasible else "the DC answer is not AC-feasible: " + "; ".join(msgs)
    return AcCheck(
        feasible=feasible,
        converged=True,
        vm_violations=tuple(b.id[bad_v].tolist()),
        thermal_violations=tuple(grid.branches.id[bad_t].tolist()),
        max_loading=float(loading.max()) if loading.size else 0.0,
        vm_min_pu=float(vm[on].min()) if on.any() else float("nan"),
        vm_max_pu=float(vm[on].max()) if on.any() else float("nan"),
        message=msg,
    )


def ac_start_point(
    grid: Grid,
    load_served_mw: np.ndarray,
    gen_p_mw: np.ndarray,
    bus_on: np.ndarray,
    branch_on: np.ndarray,
    gen_on: np.ndarray,
    gen_lo_mw: np.ndarray,
    gen_hi_mw: np.ndarray,
    island_of_bus: np.ndarray,
):
    """AC power flow of a DC operating point with the losses carried by every unit of an island.

    A plain power flow of the DC point puts all the losses on one slack per island (on a large
    grid, GWs on one unit, far beyond its ``Pmax`` and the ratings of its branches). Here the
    slacks' extra output after a first power flow is moved onto all the island's live units in
    proportion to their headroom within ``[gen_lo_mw, gen_hi_mw]``; where the island has too little
    headroom its served loads are scaled down by the shortfall. A second power flow (warm-started
    from the first) gives the point.

    Returns
    -------
    (AcResult, served MW per load, generator MW per unit)
        The last power flow that converged (its ``converged`` is False when the first did not)
        and the loads and dispatch it was solved for (the slacks' output from the solution).
    """
    from gridshield.flow.ac import solve_ac

    g = grid.gens
    pf = solve_ac(operating_grid(grid, load_served_mw, gen_p_mw, bus_on, branch_on, gen_on), init="dc",
                  enforce_q_limits=True, robust=True)
    if not pf.converged:
        return pf, load_served_mw, gen_p_mw
    n = int(island_of_bus.max()) + 1 if island_of_bus.size else 0
    lab_g = np.where(gen_on, island_of_bus[g.bus], 0)
    excess = np.bincount(lab_g, np.where(gen_on, pf.gen_p_mw - gen_p_mw, 0.0), n)  # the losses, per island
    up = np.where(gen_on, np.clip(gen_hi_mw - gen_p_mw, 0.0, _ROOM_CAP_MW), 0.0)  # unlimited units: a large room
    down = np.where(gen_on, np.clip(gen_p_mw - gen_lo_mw, 0.0, _ROOM_CAP_MW), 0.0)
    room_up, room_down = np.bincount(lab_g, up, n), np.bincount(lab_g, down, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_up = np.where(excess > 0, np.minimum(excess / room_up, 1.0), 0.0)
        f_down = np.where(excess < 0, np.minimum(-excess / room_down, 1.0), 0.0)
    pg = gen_p_mw + up * np.nan_to_num(f_up)[lab_g] - down * np.nan_to_num(f_down)[lab_g]
    ld = grid.loads
    lab_d = np.where(bus_on[ld.bus], island_of_bus[ld.bus], 0)
    pos = np.maximum(load_served_mw, 0.0)
    served_isl = np.bincount(lab_d, pos, n)
    short = np.maximum(excess - room_up, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(served_isl > 0, np.clip(1.0 - short / served_isl, 0.0, 1.0), 1.0)
    served = np.where(load_served_mw > 0, load_served_mw * keep[lab_d], load_served_mw)
    pf2 = solve_ac(operating_grid(grid, served, pg, bus_on, branch_on, gen_on), init=pf, enforce_q_limits=True,
                   robust=True)
    if not pf2.converged:
        return pf, load_served_mw, np.where(gen_on, pf.gen_p_mw, 0.0)
    return pf2, served, np.where(gen_on, pf2.gen_p_mw, 0.0)


__all__ = ["ac_check", "ac_start_point", "operating_grid"]
