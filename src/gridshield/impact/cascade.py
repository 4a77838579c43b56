"""Cascading relay trips after a damage: a quasi-steady-state DC simulation (OPA / dcsimsep spirit).

Before operators can act, power flows redistribute by physics alone. The simulation repeats:

1. **islands** of the current topology; islands without generation go dark (their load is lost);
2. **rebalance** each energised island (what governors and under-frequency relays do, in
   proportion):

   * surplus (generation > load): every generator's output is scaled down by the same factor
     (proportional generation drop);
   * deficit: generators pick up in proportion to their headroom ``Pmax - P`` (primary
     reserve); what headroom cannot cover is shed from every load of the island by the same
     fraction (proportional under-frequency load shedding, UFLS);
3. **DC power flow** per island (reference: the case's slack bus where it lies in the island,
   else the largest generator's bus);
4. a branch whose flow exceeds ``relay_threshold`` x its rating (default 1.2 x rate A; a rating
   of 0 never trips) is **tripped** -- only the most overloaded one per step (relays of the worst
   overload act first, as in dcsimsep's time-to-trip ordering);
5. repeat until no branch is above the threshold.

The trip sequence (step, branch, flow, rating, loading) and the load lost at each stage are
returned; the impact engine then lets operators re-dispatch and shed optimally (maximal load
delivery) on the final topology, so load shed by UFLS during the cascade may be picked up again.

References: Dobson, Carreras, Lynch, Newman, "An initial model for complex dynamics in electric
power system blackouts", HICSS 2001, and Chaos 12:985 (2002) (OPA); Eppstein & Hines, "A
'random chemistry' algorithm for identifying collections of multiple contingencies that initiate
cascading failure", IEEE TPWRS 27(3), 2012 (DCSIMSEP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gridshield.flow.matrices import bus_shunt_pu
from gridshield.grid.model import Grid
from gridshield.impact.result import Trip
from gridshield.impact.state import Live, bsum, dc_flows, island_refs, islands_of


class RelaySettings(Protocol):
    """What the cascade reads of its caller (an :class:`~gridshield.impact.ImpactModel` has it all)."""

    grid: Grid
    relay_threshold: float
    relay_rate_mw: np.ndarray
    dc_convention: str


@dataclass(frozen=True)
class CascadeResult:
    """Branches tripped by relays (mask over branch rows), the trip sequence, load lost per stage
    (stage 0 = right after the damage) and the final quasi-steady state (MW)."""

    tripped: np.ndarray
    trips: tuple[Trip, ...]
    lost_by_stage_mw: tuple[float, ...]
    flow_mw: np.ndarray
    load_mw: np.ndarray
    gen_mw: np.ndarray
    branch_on: np.ndarray


def run_cascade(model: RelaySettings, live: Live, max_steps: int | None = None) -> CascadeResult:
    """Simulate relay trips after the damage described by ``live`` (see the module docstring)."""
    grid = model.grid
    base = grid.base_mva
    br, g, ld = grid.branches, grid.gens, grid.loads
    nb = len(grid.buses)
    thr = model.relay_threshold
    rate = model.relay_rate_mw / base
    branch_on = live.branch.copy()
    tripped = np.zeros(len(br), bool)
    load = np.where(live.load, ld.p_mw / base, 0.0)
    gen = np.where(live.gen, g.p_mw / base, 0.0)
    pmax = g.p_max_mw / base
    gs_all = bus_shunt_pu(grid).real if len(grid.shunts) else np.zeros(nb)
    pos = ld.p_mw > 0
    ld_on = ld.in_service & grid.buses.in_service[ld.bus]
    demand = float(ld.p_mw[ld_on & pos].sum())
    trips: list[Trip] = []
    stages: list[float] = []
    pending: tuple | None = None
    steps = max_steps if max_steps is not None else len(br)
    flow = np.zeros(len(br))
    for step in range(steps + 1):
        cur = Live(live.bus, branch_on, live.gen, live.load)
        isl = islands_of(grid, cur)
        eng = isl.energised & live.bus
        load = np.where(eng[ld.bus], load, 0.0)
        gen = np.where(eng[g.bus] & live.gen, gen, 0.0)
        gon = live.gen & eng[g.bus]
        gs = np.where(eng, gs_all, 0.0)
        lab_l = np.where(eng[ld.bus], isl.label[ld.bus], 0)
        lab_g = np.where(gon, isl.label[g.bus], 0)
        n = isl.count
        d_isl = bsum(lab_l, load, n) + bsum(np.where(eng, isl.label, 0), gs, n)
        g_isl = bsum(lab_g, gen, n)
        head = np.where(gon, np.maximum(pmax - gen, 0.0), 0.0)
        h_isl = bsum(lab_g, head, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            # surplus: scale generation down
            ratio = np.maximum(d_isl, 0.0) / np.where(g_isl > 0, g_isl, 1.0)
            down = np.where((g_isl > d_isl) & (g_isl > 0), ratio, 1.0)
            deficit = np.maximum(d_isl - g_isl, 0.0)
            pick = np.minimum(deficit, h_isl)
            up = np.where(h_isl > 0, pick / np.where(h_isl > 0, h_isl, 1.0), 0.0)
            rest = deficit - pick
            l_isl = bsum(lab_l, np.where(load > 0, load, 0.0), n)
            keep = np.where(l_isl > 0, np.clip(1.0 - rest / np.where(l_isl > 0, l_isl, 1.0), 0.0, 1.0), 1.0)
        gen = np.where(gon, gen * down[lab_g] + head * up[lab_g], 0.0)
        load = np.where(eng[ld.bus], np.where(load > 0, load * keep[lab_l], load), 0.0)
        lost = demand - float(load[pos & ld_on].sum() * base)
        lost = 0.0 if abs(lost) < 1e-6 else lost
        if pending is None:
            stages.append(lost)
        else:
            k, fl, rt, lo_, st = pending
            trips.append(Trip(st, str(br.id[k]), fl, rt, lo_, lost, int(isl.count)))
            stages.append(lost)
            pending = None
        refs = island_refs(grid, isl, gon)
        pinj = bsum(g.bus, gen, nb) - bsum(ld.bus, load, nb) - gs
        bus_on = eng
        br_on = branch_on & bus_on[br.from_bus] & bus_on[br.to_bus]
        _, flow = dc_flows(grid, model.dc_convention, br_on, bus_on, refs, pinj)
        with np.errstate(divide="ignore", invalid="ignore"):
            loading = np.where(br_on & (rate > 0), np.abs(flow) / np.where(rate > 0, rate, 1.0), 0.0)
        k = int(np.argmax(loading)) if loading.size else 0
        if not loading.size or loading[k] <= thr * (1 + 1e-12):
            break
        if step == steps:
            break
        branch_on[k] = False
        tripped[k] = True
        pending = (k, float(flow[k] * base), float(rate[k] * base), float(loading[k]), step + 1)
    return CascadeResult(
        tripped=tripped,
        trips=tuple(trips),
        lost_by_stage_mw=tuple(stages),
        flow_mw=flow * base,
        load_mw=load * base,
        gen_mw=gen * base,
        branch_on=branch_on,
    )


__all__ = ["CascadeResult", "RelaySettings", "run_cascade"]
