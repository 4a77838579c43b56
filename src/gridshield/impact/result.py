"""The result of an impact assessment: what is lost, where and for whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class IslandImpact:
    """One connected part of the damaged grid.

    ``status`` is ``"energised"`` (has generation and an MLD solution), ``"stranded"`` (has
    generators but no load and delivers nothing: generators cut off from every load), ``"dark"``
    (no generation: all its load lost), ``"infeasible"`` (has generation, but no operating point
    exists under the settings; ``reason`` says why; its load is counted as lost) or
    ``"ac-failed"`` (``model="ac"`` only: Ipopt did not converge on the island; its numbers are
    the DC answer, flagged by ``model == "dc"`` and ``reason``).

    ``model`` says which model produced the island's numbers (``"dc"`` or ``"ac"``; empty for a
    dark island); ``binding`` lists the limits the AC answer sits on (``"vmin bus:7"``,
    ``"qmax gen:2"``, ``"rate branch:12"``, ``"angle branch:3"``, ``"pmax gen:1"``).
    """

    island: int
    n_buses: int
    status: str
    demand_mw: float
    served_mw: float
    generation_mw: float
    reason: str = ""
    model: str = ""
    binding: tuple[str, ...] = ()

    @property
    def lost_mw(self) -> float:
        return self.demand_mw - self.served_mw

    def to_dict(self) -> dict[str, Any]:
        return {
            "island": self.island,
            "n_buses": self.n_buses,
            "status": self.status,
            "demand_mw": self.demand_mw,
            "served_mw": self.served_mw,
            "lost_mw": self.lost_mw,
            "generation_mw": self.generation_mw,
            "reason": self.reason,
            "model": self.model,
            "binding": list(self.binding),
        }


@dataclass(frozen=True)
class Trip:
    """One cascading trip: at ``step`` the relay of ``branch`` opened at ``loading`` x its rating."""

    step: int
    branch: str
    flow_mw: float
    rate_mw: float
    loading: float
    lost_mw: float  # cumulative load lost after the islands rebalanced following this trip
    islands: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "branch": self.branch,
            "flow_mw": self.flow_mw,
            "rate_mw": self.rate_mw,
            "loading": self.loading,
            "lost_mw": self.lost_mw,
            "islands": self.islands,
        }


@dataclass(frozen=True)
class AcCheck:
    """AC power flow of the post-shedding state, per energised island."""

    feasible: bool
    converged: bool
    vm_violations: tuple[str, ...]  # bus ids outside [vmin, vmax]
    thermal_violations: tuple[str, ...]  # branch ids above their rating (MVA)
    max_loading: float
    vm_min_pu: float
    vm_max_pu: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feasible": self.feasible,
            "converged": self.converged,
            "vm_violations": list(self.vm_violations),
            "thermal_violations": list(self.thermal_violations),
            "max_loading": self.max_loading,
            "vm_min_pu": self.vm_min_pu,
            "vm_max_pu": self.vm_max_pu,
            "message": self.message,
        }


@dataclass(frozen=True)
class ImpactResult:
    """Impact of one damage set on one grid.

    Arrays follow the row order of the grid's tables. Totals count loads with positive demand
    (a negative MATPOWER load is an injection: it is kept fixed where its bus is energised and is
    not part of the demand totals).

    Attributes
    ----------
    demand_mw, served_mw, lost_mw
        Total demand of the intact grid's in-service loads, what the damaged grid can serve after
        maximal load delivery, and the difference (MW).
    load_served_mw
        Served MW per load (grid.loads row order).
    gen_p_mw, branch_flow_mw
        Generator outputs and branch flows (DC, from side) of the MLD operating point.
    bus_energised
        Per bus: True when the bus is in service, undamaged and in an island with generation.
    islands
        One :class:`IslandImpact` per island of the damaged grid.
    by_group, by_priority
        Breakdowns: ``{name: {"demand_mw", "lost_mw", "customers", "customers_off"}}``.
    customers_affected
        Customers of loads not fully served.
    critical_lost
        Ids of critical loads not fully served.
    dark_buses, stranded_gens
        Ids of buses without supply, and of undamaged generators that cannot deliver (in a
        dark island, or switched off by the MLD's commitment).
    trips
        The cascade's trip sequence (empty without ``cascade=True``).
    lost_by_stage_mw
        Load lost after the damage (stage 0) and after each trip, before operators redispatch.
    ac
        AC check of the operating point, or None when not requested / not available.
    model
        ``"dc"`` (DC maximal load delivery) or ``"ac"`` (AC maximal load delivery; islands where
        it failed carry the DC answer and say so in ``islands[k].model``).
    bus_vm_pu, bus_va_deg, gen_q_mvar
        The AC operating point (``model="ac"`` only, else None): voltage magnitude and angle per
        bus and reactive output per generator (0 where dark or not solved by AC).
    """

    grid_name: str
    damage: tuple[str, ...]
    demand_mw: float
    served_mw: float
    load_ids: tuple[str, ...]
    load_demand_mw: np.ndarray
    load_served_mw: np.ndarray
    gen_p_mw: np.ndarray
    branch_flow_mw: np.ndarray
    bus_energised: np.ndarray
    islands: tuple[IslandImpact, ...]
    by_group: dict[str, dict[str, float]]
    by_priority: dict[str, dict[str, float]]
    customers_total: int
    customers_affected: int
    critical_lost: tuple[str, ...]
    dark_buses: tuple[str, ...]
    stranded_gens: tuple[str, ...]
    trips: tuple[Trip, ...] = ()
    lost_by_stage_mw: tuple[float, ...] = ()
    ac: AcCheck | None = None
    method: str = "lp"
    options: dict[str, Any] = field(default_factory=dict)
    load_priority: tuple[str, ...] = ()
    load_group: tuple[str, ...] = ()
    load_customers: tuple[int, ...] = ()
    load_bus: tuple[str, ...] = ()
    model: str = "dc"
    bus_vm_pu: np.ndarray | None = None
    bus_va_deg: np.ndarray | None = None
    gen_q_mvar: np.ndarray | None = None

    @property
    def lost_mw(self) -> float:
        """Demand not served (MW)."""
        return self.demand_mw - self.served_mw

    @property
    def lost_fraction(self) -> float:
        """Share of demand lost (0..1)."""
        return self.lost_mw / self.demand_mw if self.demand_mw > 0 else 0.0

    @property
    def n_islands(self) -> int:
        return len(self.islands)

    @property
    def infeasible_islands(self) -> tuple[IslandImpact, ...]:
        return tuple(i for i in self.islands if i.status == "infeasible")

    def summary(self) -> dict[str, Any]:
        """Headline numbers (what the CLI prints)."""
        return {
            "damage": ", ".join(self.damage) or "(none)",
            "demand_mw": self.demand_mw,
            "served_mw": self.served_mw,
            "lost_mw": self.lost_mw,
            "lost_pct": 100.0 * self.lost_fraction,
            "customers_affected": self.customers_affected,
            "islands": self.n_islands,
            "dark_buses": len(self.dark_buses),
            "stranded_gens": len(self.stranded_gens),
            "critical_lost": len(self.critical_lost),
            "cascade_trips": len(self.trips),
            "model": self.model_label,
            "method": self.method,
        }

    @property
    def model_label(self) -> str:
        """``"dc"``, ``"ac"``, or ``"ac (DC for islands 3, 5: AC failed)"``."""
        if self.model != "ac":
            return self.model
        fell = [str(i.island) for i in self.islands if i.model == "dc"]
        return f"ac (DC for islands {', '.join(fell)}: AC failed)" if fell else "ac"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``--out x.json`` writes)."""
        return {
            "grid": self.grid_name,
            "damage": list(self.damage),
            "demand_mw": self.demand_mw,
            "served_mw": self.served_mw,
            "lost_mw": self.lost_mw,
            "lost_pct": 100.0 * self.lost_fraction,
            "customers_total": self.customers_total,
            "customers_affected": self.customers_affected,
            "critical_lost": list(self.critical_lost),
            "dark_buses": list(self.dark_buses),
            "stranded_gens": list(self.stranded_gens),
            "islands": [i.to_dict() for i in self.islands],
            "by_group": {k: dict(v) for k, v in self.by_group.items()},
            "by_priority": {k: dict(v) for k, v in self.by_priority.items()},
            "trips": [t.to_dict() for t in self.trips],
            "lost_by_stage_mw": list(self.lost_by_stage_mw),
            "loads": {
                "id": list(self.load_ids),
                "demand_mw": self.load_demand_mw.tolist(),
                "served_mw": self.load_served_mw.tolist(),
            },
            "ac": None if self.ac is None else self.ac.to_dict(),
            "model": self.model,
            "ac_point": None if self.bus_vm_pu is None else {
                "bus_vm_pu": self.bus_vm_pu.tolist(),
                "bus_va_deg": self.bus_va_deg.tolist(),
                "gen_q_mvar": self.gen_q_mvar.tolist(),
            },
            "method": self.method,
            "options": dict(self.options),
        }

    def to_frame(self):
        """One row per load: demand, served and lost MW, bus, priority, group, customers."""
        import pandas as pd

        cols: dict[str, Any] = {
            "demand_mw": self.load_demand_mw,
            "served_mw": self.load_served_mw,
            "lost_mw": self.load_demand_mw - self.load_served_mw,
        }
        n = len(self.load_ids)
        for name, vals in (("bus", self.load_bus), ("priority", self.load_priority), ("group", self.load_group),
                           ("customers", self.load_customers)):
            if len(vals) == n:
                cols[name] = list(vals)
        return pd.DataFrame(cols, index=pd.Index(list(self.load_ids), name="load"))

    def __repr__(self) -> str:
        return (
            f"ImpactResult({self.grid_name!r}, damage={list(self.damage)}, lost {self.lost_mw:.1f} of "
            f"{self.demand_mw:.1f} MW, {len(self.islands)} islands, {len(self.trips)} trips)"
        )


@dataclass(frozen=True)
class ImpactLoss:
    """What a damage costs, without the operating point: the part of an :class:`ImpactResult`
    the Monte Carlo reads (:meth:`gridshield.impact.ImpactModel.assess_loss`), the same numbers.

    ``by_group`` is empty when the breakdown was not asked for. ``repeatable``: the numbers do
    not depend on earlier assessments (the no-LP fast path, no cascade: no solver warm start is
    involved), so a cache may keep them beyond the model's :meth:`reset_warm_start`.
    """

    demand_mw: float
    served_mw: float
    customers_affected: int
    load_served_mw: np.ndarray
    by_priority: dict[str, dict[str, float]]
    by_group: dict[str, dict[str, float]]
    method: str = "lp"
    repeatable: bool = False

    @property
    def lost_mw(self) -> float:
        """Demand not served (MW)."""
        return self.demand_mw - self.served_mw

    @classmethod
    def of(cls, res: ImpactResult) -> ImpactLoss:
        """The loss part of a full result."""
        return cls(res.demand_mw, res.served_mw, res.customers_affected, res.load_served_mw, res.by_priority,
                   res.by_group, res.method)


__all__ = ["AcCheck", "ImpactLoss", "ImpactResult", "IslandImpact", "Trip"]
