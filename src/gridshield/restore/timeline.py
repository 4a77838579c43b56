"""What a restoration plan means hour by hour: when each load is back, which heat districts are
off when, and how many people sit in homes below 12 °C while crews repair.

The plan's curve (:class:`~gridshield.restore.curve.RestorationPlan`) gives totals at each repair
completion; :func:`restoration_timeline` re-assesses the grid with the damage still unrepaired at
each of those instants (impact engine, then the heat network) and keeps what the totals hide:
served MW per load and heat per district. People below 12 °C follow the heat module's cool-down
(:func:`gridshield.heat.assess_heat`): in a heat district off since ``a``, the people of building
class ``c`` are below 12 °C once ``t - a`` exceeds that class's hours to 12 °C, and are counted
back as soon as heat returns (refilling and reheating take longer in reality, so this is a lower
bound after heat is back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.grid.model import Grid


@dataclass(frozen=True, eq=False)
class RestorationTimeline:
    """A restoration plan as a timeline (arrays aligned with ``time_h``, the plan's change points).

    Attributes
    ----------
    time_h
        0 and each repair completion (hours after the strike), as in the plan's curve.
    served_mw
        Served load from each change point until the next (MW).
    load_back_h
        Per load (grid row order): hours until it is fully served again; 0 when never lost,
        ``inf`` when still not fully served after the last repair.
    heat_district_off
        (change points, heat districts) bool, or None without heat data.
    people_by_class, hours_to_12c_by_class_h
        (heat districts, building classes) people, and (classes,) hours from the start of an
        outage until homes of that class fall below 12 °C (``inf``: not within the heat horizon).
    """

    time_h: np.ndarray
    served_mw: np.ndarray
    load_back_h: np.ndarray
    heat_district_off: np.ndarray | None
    people_by_class: np.ndarray | None
    hours_to_12c_by_class_h: np.ndarray | None

    def _off_since(self, t: np.ndarray) -> np.ndarray:
        """(len(t), districts): start of the outage that holds district d off at time t; NaN if on."""
        off = self.heat_district_off
        k = np.clip(np.searchsorted(self.time_h, t, side="right") - 1, 0, len(self.time_h) - 1)
        since = np.full(off.shape, np.nan)
        start = np.full(off.shape[1], np.nan)
        for i in range(len(self.time_h)):
            start = np.where(off[i], np.where(np.isnan(start), self.time_h[i], start), np.nan)
            since[i] = start
        return since[k]

    def people_without_heat(self, t: Any) -> np.ndarray:
        """People in heat districts without heat at times ``t`` (hours after the strike)."""
        t = np.atleast_1d(np.asarray(t, float))
        if self.heat_district_off is None:
            return np.zeros(t.shape)
        return (~np.isnan(self._off_since(t))) @ self.people_by_class.sum(axis=1)

    def people_below_12c(self, t: Any) -> np.ndarray:
        """People in homes below 12 °C at times ``t`` (hours after the strike)."""
        t = np.atleast_1d(np.asarray(t, float))
        if self.heat_district_off is None:
            return np.zeros(t.shape)
        since = self._off_since(t)  # (T, D)
        gone = t[:, None] - np.nan_to_num(since, nan=np.inf)  # hours without heat so far (-inf when on)
        below = gone[:, :, None] > self.hours_to_12c_by_class_h[None, None, :]  # (T, D, C)
        return (below * self.people_by_class[None, :, :]).sum(axis=(1, 2))


def restoration_timeline(grid: Grid, plan: Any, *, temperature_c: float | None = None, model: Any = None,
                         heat_hours: int = 240) -> RestorationTimeline:
    """The timeline of ``plan`` on ``grid`` (the grid the plan was made on, loads already scaled
    for the temperature). ``temperature_c`` defaults to the plan's; ``model`` is an
    :class:`~gridshield.impact.ImpactModel` of ``grid`` to reuse."""
    from gridshield.impact import ImpactModel

    model = model if model is not None else ImpactModel(grid)
    times = np.asarray(plan.time_h, float)
    end = np.asarray(plan.end_h, float)
    demand = np.maximum(np.asarray(grid.loads.p_mw, float), 0.0) * np.asarray(grid.loads.in_service, bool)
    heat_net = None
    if any(k.startswith("gs_heat_") for k in grid.extra_tables):
        from gridshield.heat import HeatNetwork, heat_off

        heat_net = HeatNetwork.from_grid(grid)
    served = np.zeros(len(times))
    back = np.full(len(demand), np.inf)
    d_off = [] if heat_net is not None else None
    for k, t in enumerate(times):
        remaining = [plan.task_id[j] for j in range(len(end)) if end[j] > t + 1e-9]
        res = model.assess(remaining)
        srv = np.asarray(res.load_served_mw, float)
        served[k] = float(srv[demand > 0].sum())
        full = srv >= demand - 1e-6
        back[np.isinf(back) & full] = t
        if heat_net is not None:
            d_off.append(np.asarray(heat_off(grid, remaining, bus_energised=res.bus_energised,
                                             load_served_mw=res.load_served_mw, network=heat_net), bool))
    people = h12 = None
    if heat_net is not None:
        from types import SimpleNamespace

        from gridshield.heat import assess_heat

        temp = plan.temperature_c if temperature_c is None else temperature_c
        temp = -10.0 if temp is None else float(temp)
        dark = SimpleNamespace(bus_energised=np.zeros(len(grid.buses), bool), load_served_mw=np.zeros(len(demand)),
                               damage=())
        h12 = np.asarray(assess_heat(grid, dark, temp, hours=int(heat_hours), network=heat_net).hours_to_12c_by_class_h,
                         float)
        people = np.asarray(heat_net.people_by_class, float)
    return RestorationTimeline(time_h=times, served_mw=served, load_back_h=back,
                               heat_district_off=None if d_off is None else np.array(d_off, bool),
                               people_by_class=people, hours_to_12c_by_class_h=h12)


__all__ = ["RestorationTimeline", "restoration_timeline"]
