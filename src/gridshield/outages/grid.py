"""Customer groups and the deficit from a grid model (and a damage set, via the impact engine).

* Groups: the loads' ``group`` column (a synthetic city uses queues Q1..Q6, ``GPO`` for
  industry and ``EXEMPT`` for critical infrastructure). Queue groups named ``Q<n>`` are published
  as queue ``<n>`` (id ``"1"`` .. ``"6"``; with ``split=2`` the sub-queues ``1.1`` .. ``6.2`` that
  Ukrainian DSOs publish, DOMAIN.md section 1). Critical-priority loads inside a group
  are carved out as ``critical_mw`` (never shed; censor.net 3501035, DOMAIN.md section 1); a
  group whose loads are all critical, or whose name is in ``exempt_groups``, is never switched.
* Deficit after damage: loads in dark islands are out until repair (emergency outages) and are
  left out of the rotation. In the energised part, the impact engine's maximal load delivery
  says how much of the case's demand can be served (its supply, limited by generation and
  transfer capacity). The case's demand is taken as the evening peak, and other hours scale by
  a winter daily shape (peak = 1), so ``deficit[t] = max(0, shape[t] * demand - supply)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gridshield.errors import GridshieldError

#: Winter weekday load shape relative to the evening peak (hour 0..23), as used by the demo.
#: Longest horizon a grid-based deficit is built for (hours): two weeks of half-hour steps.
MAX_HOURS = 24 * 14

WINTER_DAILY_SHAPE = (
    0.74, 0.72, 0.71, 0.71, 0.72, 0.76, 0.84, 0.92, 0.95, 0.93, 0.92, 0.91,
    0.90, 0.90, 0.91, 0.93, 0.97, 1.00, 1.00, 0.99, 0.96, 0.90, 0.84, 0.78,
)

EXEMPT_GROUPS = ("EXEMPT", "CRITICAL")
_QUEUE = re.compile(r"^Q(\d+)$")


def queue_id(group: str) -> str:
    """The published id of a load group: ``Q3`` -> ``3`` (queues as DSOs number them); others as is."""
    m = _QUEUE.match(group)
    return m.group(1) if m else group


def groups_from_grid(grid, impact=None, *, exempt_groups: Sequence[str] = EXEMPT_GROUPS) -> list[dict]:
    """Customer groups from ``grid.loads.group`` (optionally only the energised loads of ``impact``).

    Returns dicts ready for :func:`~gridshield.outages.rotating_schedule`: id, name, load_mw,
    customers, switchable, critical, critical_mw.
    """
    ld = grid.loads
    if len(ld.id) == 0:
        raise GridshieldError(f"grid {grid.name!r} has no loads to schedule")
    demand = np.maximum(np.asarray(ld.p_mw, dtype=float), 0.0) * np.asarray(ld.in_service, dtype=bool)
    if impact is not None:
        energised = np.asarray(impact.bus_energised, dtype=bool)[np.asarray(ld.bus)]
        demand = demand * energised
    names = np.array([g if g else "ungrouped" for g in ld.group.tolist()], dtype=object)
    crit = np.asarray(ld.priority == "critical")
    out = []
    for g in sorted(set(names.tolist())):
        m = names == g
        total = float(demand[m].sum())
        crit_mw = float(demand[m & crit].sum())
        exempt = g.upper() in {x.upper() for x in exempt_groups} or bool(np.all(crit[m]))
        qid = queue_id(g)
        out.append({
            "id": qid, "name": "critical infrastructure (exempt)" if exempt else f"queue {qid}" if qid != g else g,
            "load_mw": total, "customers": int(np.asarray(ld.customers)[m & (demand > 0)].sum()),
            "switchable": not exempt, "critical": exempt, "critical_mw": 0.0 if exempt else crit_mw,
        })
    if not any(d["switchable"] and d["load_mw"] > 0 for d in out):
        raise GridshieldError(f"grid {grid.name!r}: no switchable load groups (loads.group is empty or all exempt)")
    return out


def deficit_from_impact(grid, impact, *, hours: float = 24, start: Any = None, step_h: float = 1.0,
                        supply_mw: float | None = None, shape: Sequence[float] = WINTER_DAILY_SHAPE) -> pd.DataFrame:
    """Deficit (MW) per step in the energised part of a damaged grid (see the module docstring).

    ``start`` defaults to the next local midnight; ``step_h`` (1, 0.5 or 0.25) gives half-hour or
    quarter-hour edges (each step takes its hour's shape value); ``supply_mw`` replaces the supply
    found by the impact engine (an operator's own figure for what the city can get).
    """
    from gridshield.outages.model import parse_start

    if not 0 < float(hours) <= MAX_HOURS:
        raise GridshieldError(f"hours={hours}: the horizon needs at least 1 hour and at most {MAX_HOURS} (--hours)")
    if step_h not in (1.0, 0.5, 0.25):
        raise GridshieldError(f"step {step_h} h: use 1 h, 30 min or 15 min steps (--step 1h|30m|15m)")
    n = int(round(float(hours) / step_h))
    if n < 1:
        raise GridshieldError(f"hours={hours}: the horizon needs at least one {step_h:g} h step (--hours)")
    demand, supply = supply_after(grid, impact)
    if supply_mw is not None:
        if not (np.isfinite(supply_mw) and supply_mw >= 0):
            raise GridshieldError(f"supply {supply_mw!r} MW: give a number >= 0 (--supply-mw)")
        supply = float(supply_mw)
    times = pd.date_range(parse_start(start), periods=n, freq=pd.Timedelta(hours=step_h))
    sh = np.asarray(shape, dtype=float)
    sh = sh / sh.max()
    d = np.maximum(0.0, demand * sh[times.hour] - supply)
    return pd.DataFrame({"time": times, "deficit_mw": np.round(d, 3)})


def supply_after(grid, impact) -> tuple[float, float]:
    """Demand and supply (MW) of the energised part of a damaged grid, as
    :func:`deficit_from_impact` uses them: the demand is taken as the evening peak; the supply is
    what the impact engine serves there or, when nothing is shed, the capacity of the generators
    that can still deliver."""
    ld = grid.loads
    energised = np.asarray(impact.bus_energised, dtype=bool)[np.asarray(ld.bus)]
    dem = np.asarray(impact.load_demand_mw, dtype=float)
    pos = dem > 0
    demand = float(dem[energised & pos].sum())
    supply = float(np.asarray(impact.load_served_mw, dtype=float)[energised & pos].sum())
    if supply >= demand - 1e-6:
        # nothing shed at the peak: the supply is at least the demand (generation can be higher)
        gens = grid.gens
        on = np.asarray(gens.in_service, dtype=bool) & np.asarray(impact.bus_energised, dtype=bool)[np.asarray(gens.bus)]
        stranded = set(impact.stranded_gens)
        ok = np.array([gid not in stranded for gid in gens.id]) & on
        supply = max(supply, float(np.asarray(gens.p_max_mw, dtype=float)[ok].sum()))
    return demand, supply


def groups_and_deficit_from_grid(case: str, damage: str | None, *, hours: float = 24.0, start: Any = None,
                                 step_h: float = 1.0, supply_mw: float | None = None) -> tuple[list[dict], pd.DataFrame]:
    """For ``gridshield schedule --case ... --damage ...``: groups of the energised loads and the
    deficit per step after the damage, from the impact engine."""
    import gridshield as gs

    grid = gs.load_case(case)
    ids = [x.strip() for x in (damage or "").split(",") if x.strip()]
    impact = gs.assess_damage(grid, ids)
    groups = groups_from_grid(grid, impact)
    deficit = deficit_from_impact(grid, impact, hours=hours, start=start, step_h=step_h, supply_mw=supply_mw)
    return groups, deficit
