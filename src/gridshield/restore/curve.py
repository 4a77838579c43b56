"""The restoration plan result: schedule, resilience curve and the metrics integrated from it.

The served load is piecewise constant between repair completions, so the metrics are exact
integrals of step functions (no time grid):

* energy not served ``ENS = integral (P_intact - P_served(t)) dt`` (MWh), relative to what the
  intact grid serves (so that 0 means "as good as no damage");
* priority-weighted ENS (the planner's objective; weights per priority class, residential = 1);
* customer-hours lost ``integral sum_loads customers * (1 - served/demand) dt`` (fraction of a
  load shed counts that fraction of its customers), relative to the intact grid;
* people-hours without heat (when the heat model is available and the grid has heat data).

Resilience metrics follow the usual EENS / customer-hours definitions (DOMAIN.md section 5:
Panteli, Mancarella et al. 2017 resilience trapezoid; IEEE 1366 for customer-hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def step_integral(times_h: np.ndarray, values: np.ndarray, target: float) -> float:
    """``integral_0^T (target - v(t)) dt`` for a step function ``v`` that jumps at ``times_h``.

    ``values[k]`` holds on ``[times_h[k], times_h[k+1])``; the last value is taken to equal the
    target (the curve ends when the last repair is done).
    """
    if len(times_h) < 2:
        return 0.0
    dt = np.diff(np.asarray(times_h, float))
    return float(np.sum((target - np.asarray(values[:-1], float)) * dt))


@dataclass(frozen=True)
class RestorationPlan:
    """A repair schedule and its resilience curve.

    Attributes
    ----------
    grid_name, damage, method, crews
        What was planned and how (``method``: ``heuristic``, ``milp`` or ``naive``).
    task_id, asset_class, crew, start_h, end_h, travel_h, spare_used
        The schedule, one entry per repair task (sorted by start, then crew).
    duration_h
        Repair hours of each task (end - start).
    time_h
        Curve time points: 0 and each distinct repair completion (hours).
    served_mw, customers_off, weighted_served
        Served load, customers without (full) supply and weighted served load from each time
        point until the next.
    heat_supplied_pct, people_without_heat
        Heat curve (``None`` when the heat model or heat data is not available): heat demand of
        the districts with heat in % of all, and people in districts without heat.
    people_hours_below_12c
        People-hours spent below 12 °C indoors (needs ``temperature_c`` and heat data).
    demand_mw, intact_served_mw
        Total demand, and what the intact grid serves (100 % of the ``restored_pct`` curve).
    ens_mwh, weighted_ens_mwh, customer_hours, people_hours_without_heat
        Integrated metrics (see module docstring).
    makespan_h
        Hours until the last repair is done.
    comparison
        Per method run: weighted ENS, ENS, makespan, runtime, optimal flag.
    improvement_over_naive_pct
        Cut of the weighted ENS against the naive order (as damaged), in %.
    """

    grid_name: str
    damage: tuple[str, ...]
    method: str
    crews: int
    task_id: tuple[str, ...]
    asset_class: tuple[str, ...]
    crew: np.ndarray
    start_h: np.ndarray
    end_h: np.ndarray
    travel_h: np.ndarray
    spare_used: np.ndarray
    time_h: np.ndarray
    served_mw: np.ndarray
    customers_off: np.ndarray
    weighted_served: np.ndarray
    demand_mw: float
    intact_served_mw: float
    ens_mwh: float
    weighted_ens_mwh: float
    customer_hours: float
    makespan_h: float
    comparison: dict[str, dict[str, Any]]
    improvement_over_naive_pct: float
    optimal: bool
    runtime_s: float
    evaluations: int
    heat_supplied_pct: np.ndarray | None = None
    people_without_heat: np.ndarray | None = None
    people_hours_without_heat: float | None = None
    people_hours_below_12c: float | None = None
    temperature_c: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_h(self) -> np.ndarray:
        return self.end_h - self.start_h

    @property
    def served_pct(self) -> np.ndarray:
        """Served load in % of total demand, per curve point."""
        return 100.0 * self.served_mw / self.demand_mw if self.demand_mw > 0 else np.full(self.served_mw.shape, 100.0)

    @property
    def restored_pct(self) -> np.ndarray:
        """Served load in % of what the intact grid serves, per curve point (100 at the end)."""
        if self.intact_served_mw <= 0:
            return np.full(self.served_mw.shape, 100.0)
        return 100.0 * self.served_mw / self.intact_served_mw

    def hours_to_restore(self, pct: float) -> float:
        """First hour at which ``restored_pct`` reaches ``pct`` (``inf`` if never)."""
        hit = np.flatnonzero(self.restored_pct >= pct - 1e-9)
        return float(self.time_h[hit[0]]) if hit.size else float("inf")

    def to_frame(self):
        """The schedule as a DataFrame: one row per task (crew, task, asset class, start, end)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "crew": self.crew,
                "task": list(self.task_id),
                "asset_class": list(self.asset_class),
                "start_h": self.start_h,
                "end_h": self.end_h,
                "duration_h": self.duration_h,
                "travel_h": self.travel_h,
                "spare_used": self.spare_used,
            }
        )

    def curve_frame(self):
        """The resilience curve as a DataFrame: one row per time point (step function)."""
        import pandas as pd

        cols: dict[str, Any] = {
            "time_h": self.time_h,
            "served_mw": self.served_mw,
            "served_pct": self.served_pct,
            "restored_pct": self.restored_pct,
            "customers_off": self.customers_off,
        }
        if self.heat_supplied_pct is not None:
            cols["heat_supplied_pct"] = self.heat_supplied_pct
        if self.people_without_heat is not None:
            cols["people_without_heat"] = self.people_without_heat
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, Any]:
        """Headline numbers for a printed summary."""
        out: dict[str, Any] = {
            "method": self.method + (" (optimal)" if self.optimal else ""),
            "served-load model": self.options.get("model", "dc"),
            "crews": self.crews,
            "repair tasks": len(self.task_id),
            "demand (MW)": self.demand_mw,
            "served at t=0 (MW)": float(self.served_mw[0]) if len(self.served_mw) else self.intact_served_mw,
            "energy not served (MWh)": self.ens_mwh,
            "weighted ENS (MWh, residential=1)": self.weighted_ens_mwh,
            "customer-hours lost": self.customer_hours,
            "hours to 90 % restored": self.hours_to_restore(90.0),
            "hours to 100 % restored": self.hours_to_restore(100.0),
            "makespan (h)": self.makespan_h,
        }
        if self.heat_supplied_pct is not None and len(self.heat_supplied_pct):
            out["heat supplied at t=0 (%)"] = float(self.heat_supplied_pct[0])
        if self.people_hours_without_heat is not None:
            out["people-hours without heat"] = self.people_hours_without_heat
        if self.people_hours_below_12c is not None:
            out["people-hours below 12 °C indoors"] = self.people_hours_below_12c
        if "naive" in self.comparison and self.method != "naive":
            out["improvement over naive order (%)"] = self.improvement_over_naive_pct
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the schedule, the curve and the metrics."""

        def arr(a):
            return None if a is None else [float(v) for v in np.asarray(a, float)]

        return {
            "grid": self.grid_name,
            "damage": list(self.damage),
            "method": self.method,
            "optimal": bool(self.optimal),
            "crews": int(self.crews),
            "temperature_c": self.temperature_c,
            "schedule": [
                {
                    "crew": int(self.crew[k]),
                    "task": self.task_id[k],
                    "asset_class": self.asset_class[k],
                    "start_h": float(self.start_h[k]),
                    "end_h": float(self.end_h[k]),
                    "travel_h": float(self.travel_h[k]),
                    "spare_used": bool(self.spare_used[k]),
                }
                for k in range(len(self.task_id))
            ],
            "curve": {
                "time_h": arr(self.time_h),
                "served_mw": arr(self.served_mw),
                "served_pct": arr(self.served_pct),
                "restored_pct": arr(self.restored_pct),
                "customers_off": arr(self.customers_off),
                "heat_supplied_pct": arr(self.heat_supplied_pct),
                "people_without_heat": arr(self.people_without_heat),
            },
            "demand_mw": float(self.demand_mw),
            "intact_served_mw": float(self.intact_served_mw),
            "ens_mwh": float(self.ens_mwh),
            "weighted_ens_mwh": float(self.weighted_ens_mwh),
            "customer_hours": float(self.customer_hours),
            "people_hours_without_heat": (
                None if self.people_hours_without_heat is None else float(self.people_hours_without_heat)
            ),
            "people_hours_below_12c": (
                None if self.people_hours_below_12c is None else float(self.people_hours_below_12c)
            ),
            "makespan_h": float(self.makespan_h),
            "improvement_over_naive_pct": float(self.improvement_over_naive_pct),
            "comparison": {k: {kk: (float(vv) if isinstance(vv, (int, float, np.floating)) and not isinstance(vv, bool) else vv)
                               for kk, vv in v.items()} for k, v in self.comparison.items()},
            "runtime_s": float(self.runtime_s),
            "evaluations": int(self.evaluations),
            "options": dict(self.options),
        }

    def __repr__(self) -> str:
        return (
            f"RestorationPlan({self.grid_name!r}, {len(self.task_id)} tasks, {self.crews} crews, {self.method}: "
            f"ENS {self.ens_mwh:.1f} MWh, makespan {self.makespan_h:.1f} h)"
        )


__all__ = ["RestorationPlan", "step_integral"]
