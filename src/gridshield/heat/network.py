"""District heating and its dependence on electricity.

A :class:`HeatNetwork` is read from a grid's ``gs_heat_*`` cell tables (the synthetic city ships
them; any ``.m`` file may carry them):

``gs_heat_sources``  ``id name kind site bus load capacity_mw_th x y``
    heat sources: ``kind`` ``chp`` (a CHP plant; ``site`` names its plant site) or ``boiler``
    (a boiler house whose pumps and burners are the electric load ``load`` at ``bus``).
``gs_heat_pumps``  ``id name source bus load x y``
    pumping stations: each moves the water of one source and needs power (``load`` at ``bus``).
``gs_heat_districts``  ``id name source pump bus ua_mw_th_per_k x y buildings_<class>... people_<class>...``
    heat districts, supplied by ``source`` through ``pump``; ``bus`` is the electric district
    bus that powers the in-building circulation pumps; ``ua_mw_th_per_k`` the heat-loss
    coefficient (MW_th per K); buildings and people per building class (see
    :mod:`gridshield.heat.cooldown`).

Heat is lost (DOMAIN.md section 4: "a power cut stops the network pumps and in-building
circulation pumps", oulunenergia.fi):

* a CHP source when its plant site is damaged or all its generating units are;
* a boiler house or pumping station when its bus is dark or damaged, or its electric load is
  damaged or not fully served;
* a heat district when its source or pumping station is lost, or (``building_pumps=True``) when
  its own district bus is dark.

Heat demand follows a heating-degree model (DOMAIN.md section 4: ``load = UA max(0, T_base -
T_out)``, HDD base 18 °C, cbs.nl).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import ExtraTable, Grid
from gridshield.heat import cooldown
from gridshield.heat.cooldown import BUILDING_CLASSES, BUILDING_TAU_H, COLD_C, DRAIN_C, INDOOR_START_C

#: Base temperature of the heating-degree model (°C): HDD base 18 °C (cbs.nl; DOMAIN.md section 4).
HEATING_BASE_C = 18.0

_SRC_COLS = ("id", "name", "kind", "site", "bus", "load", "capacity_mw_th", "x", "y")
_PUMP_COLS = ("id", "name", "source", "bus", "load", "x", "y")
_DIST_COLS = ("id", "name", "source", "pump", "bus", "ua_mw_th_per_k", "x", "y")


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _records(grid: Grid, name: str, need: tuple[str, ...]) -> list[dict[str, Any]]:
    tab = grid.extra_tables.get(name)
    if not isinstance(tab, ExtraTable):
        raise GridshieldError(
            f"grid {grid.name!r} has no district-heating table mpc.{name}; heat needs gs_heat_sources, gs_heat_pumps "
            "and gs_heat_districts (the built-in 'synthetic-city' has them; see docs/heat.md for the format)"
        )
    missing = [c for c in need if c not in tab.columns]
    if missing:
        raise GridshieldError(f"mpc.{name}: missing columns {missing}; columns are {list(tab.columns)}")
    return [dict(zip(tab.columns, r, strict=True)) for r in tab.rows]


@dataclass(frozen=True, eq=False)
class HeatNetwork:
    """Heat sources, pumping stations and heat districts of a grid, as row-aligned arrays.

    Rows reference each other by index (``pump_source``, ``district_source``, ``district_pump``)
    and the grid by row (``*_bus``, ``*_load``; ``-1`` = none).
    """

    source_id: tuple[str, ...]
    source_name: tuple[str, ...]
    source_kind: tuple[str, ...]
    source_site: tuple[str, ...]
    source_bus: np.ndarray
    source_load: np.ndarray
    source_capacity_mw_th: np.ndarray
    source_gens: tuple[np.ndarray, ...]  # generator rows of a CHP's plant site
    pump_id: tuple[str, ...]
    pump_name: tuple[str, ...]
    pump_source: np.ndarray
    pump_bus: np.ndarray
    pump_load: np.ndarray
    district_id: tuple[str, ...]
    district_name: tuple[str, ...]
    district_source: np.ndarray
    district_pump: np.ndarray
    district_bus: np.ndarray
    ua_mw_th_per_k: np.ndarray
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    buildings: np.ndarray  # (districts, classes)
    people_by_class: np.ndarray  # (districts, classes)

    @classmethod
    def from_grid(cls, grid: Grid) -> HeatNetwork:
        """Read the heat network from ``grid.extra_tables`` (``gs_heat_sources/pumps/districts``)."""
        srcs = _records(grid, "gs_heat_sources", _SRC_COLS)
        pumps = _records(grid, "gs_heat_pumps", _PUMP_COLS)
        dists = _records(grid, "gs_heat_districts", _DIST_COLS)
        tab = grid.extra_tables["gs_heat_districts"]
        classes = tuple(c[len("people_"):] for c in tab.columns if c.startswith("people_"))
        if not classes:
            raise GridshieldError("mpc.gs_heat_districts: no people_<class> columns; add e.g. people_panel")
        unknown = [c for c in classes if c not in BUILDING_CLASSES]
        if unknown:
            raise GridshieldError(
                f"mpc.gs_heat_districts: unknown building classes {unknown}; use {list(BUILDING_CLASSES)}"
            )

        def bus_row(v: Any, where: str) -> int:
            s = str(v)
            if s == "":
                return -1
            if s not in grid.buses.index:
                raise GridshieldError(f"{where}: bus {s!r} is not a bus of grid {grid.name!r}")
            return grid.buses.index[s]

        def load_row(v: Any, where: str) -> int:
            s = str(v)
            if s == "":
                return -1
            if s not in grid.loads.index:
                raise GridshieldError(f"{where}: load {s!r} is not a load of grid {grid.name!r}")
            return grid.loads.index[s]

        sid = tuple(str(r["id"]) for r in srcs)
        s_index = {s: i for i, s in enumerate(sid)}
        kinds = tuple(str(r["kind"]) for r in srcs)
        for k, r in zip(kinds, srcs, strict=True):
            if k not in ("chp", "boiler"):
                raise GridshieldError(f"mpc.gs_heat_sources {r['id']}: kind must be 'chp' or 'boiler', got {k!r}")
            if k == "chp" and str(r["site"]) not in grid.sites:
                raise GridshieldError(f"mpc.gs_heat_sources {r['id']}: site {r['site']!r} is not a site of the grid")
        gens_of: list[np.ndarray] = []
        for k, r in zip(kinds, srcs, strict=True):
            if k == "chp":
                rows = grid.sites[str(r["site"])]
                gens_of.append(_ro(np.flatnonzero(np.isin(grid.gens.bus, rows))))
            else:
                gens_of.append(_ro(np.zeros(0, np.int64)))

        def ref(v: Any, index: dict[str, int], where: str, what: str) -> int:
            s = str(v)
            if s not in index:
                raise GridshieldError(f"{where}: unknown {what} {s!r}; known: {', '.join(list(index)[:10])}")
            return index[s]

        pid = tuple(str(r["id"]) for r in pumps)
        p_index = {p: i for i, p in enumerate(pid)}
        ncls = len(classes)
        return cls(
            source_id=sid,
            source_name=tuple(str(r["name"]) for r in srcs),
            source_kind=kinds,
            source_site=tuple(str(r["site"]) for r in srcs),
            source_bus=_ro(np.array([bus_row(r["bus"], f"mpc.gs_heat_sources {r['id']}") for r in srcs], np.int64)),
            source_load=_ro(np.array([load_row(r["load"], f"mpc.gs_heat_sources {r['id']}") for r in srcs], np.int64)),
            source_capacity_mw_th=_ro(np.array([float(r["capacity_mw_th"]) for r in srcs])),
            source_gens=tuple(gens_of),
            pump_id=pid,
            pump_name=tuple(str(r["name"]) for r in pumps),
            pump_source=_ro(np.array([ref(r["source"], s_index, f"mpc.gs_heat_pumps {r['id']}", "source")
                                      for r in pumps], np.int64)),
            pump_bus=_ro(np.array([bus_row(r["bus"], f"mpc.gs_heat_pumps {r['id']}") for r in pumps], np.int64)),
            pump_load=_ro(np.array([load_row(r["load"], f"mpc.gs_heat_pumps {r['id']}") for r in pumps], np.int64)),
            district_id=tuple(str(r["id"]) for r in dists),
            district_name=tuple(str(r["name"]) for r in dists),
            district_source=_ro(np.array([ref(r["source"], s_index, f"mpc.gs_heat_districts {r['id']}", "source")
                                          for r in dists], np.int64)),
            district_pump=_ro(np.array([ref(r["pump"], p_index, f"mpc.gs_heat_districts {r['id']}", "pump")
                                        for r in dists], np.int64)),
            district_bus=_ro(np.array([bus_row(r["bus"], f"mpc.gs_heat_districts {r['id']}") for r in dists],
                                      np.int64)),
            ua_mw_th_per_k=_ro(np.array([float(r["ua_mw_th_per_k"]) for r in dists])),
            x=_ro(np.array([float(r["x"]) for r in dists])),
            y=_ro(np.array([float(r["y"]) for r in dists])),
            classes=classes,
            buildings=_ro(np.array([[float(r.get(f"buildings_{c}", 0.0)) for c in classes] for r in dists])
                          .reshape(len(dists), ncls)),
            people_by_class=_ro(np.array([[float(r[f"people_{c}"]) for c in classes] for r in dists])
                                .reshape(len(dists), ncls)),
        )

    @property
    def people(self) -> np.ndarray:
        """People per heat district."""
        return self.people_by_class.sum(axis=1)

    def heat_demand_mw_th(self, temperature_c: float) -> np.ndarray:
        """Heat demand per district (MW_th) at an outdoor temperature: ``UA * max(0, 18 - T)``."""
        return self.ua_mw_th_per_k * max(0.0, HEATING_BASE_C - float(temperature_c))

    def status(
        self,
        grid: Grid,
        damage: Any = None,
        bus_energised: np.ndarray | None = None,
        load_served_mw: np.ndarray | None = None,
        building_pumps: bool = True,
    ) -> HeatStatus:
        """Which sources, pumps and heat districts work under a damage and a supply state.

        Parameters
        ----------
        grid
            The grid the network was read from.
        damage
            A ``Damage``, a list of asset ids or ``None``.
        bus_energised
            Per bus: True when supplied (e.g. ``ImpactResult.bus_energised``); default: every bus
            not damaged is supplied.
        load_served_mw
            Served MW per load (e.g. ``ImpactResult.load_served_mw``): a pump or boiler whose load
            is served below 99 % of its demand is lost. Default: fully served.
        building_pumps
            When True a heat district is also off while its own district bus is dark.
        """
        masks = damage_masks(grid, damage)
        nb = len(grid.buses)
        on = np.ones(nb, bool) if bus_energised is None else np.asarray(bus_energised, bool)
        if on.shape != (nb,):
            raise GridshieldError(f"bus_energised has {on.shape[0]} values; the grid has {nb} buses")
        on = on & ~masks["bus"]
        ld = grid.loads
        load_ok = ~masks["load"]
        if load_served_mw is not None:
            served = np.asarray(load_served_mw, float)
            if served.shape != (len(ld),):
                raise GridshieldError(f"load_served_mw has {served.shape[0]} values; the grid has {len(ld)} loads")
            load_ok = load_ok & (served >= 0.99 * ld.p_mw - 1e-9)

        def powered(bus: int, load: int) -> bool:
            ok = bus < 0 or bool(on[bus])
            return ok and (load < 0 or bool(load_ok[load]))

        ns = len(self.source_id)
        src_ok = np.ones(ns, bool)
        src_reason = [""] * ns
        for i in range(ns):
            if self.source_kind[i] == "chp":
                site_rows = grid.sites.get(self.source_site[i], np.zeros(0, np.int64))
                gens = self.source_gens[i]
                if site_rows.size and masks["bus"][site_rows].any():
                    src_ok[i], src_reason[i] = False, f"plant {self.source_site[i]} damaged"
                elif gens.size and masks["gen"][gens].all():
                    src_ok[i], src_reason[i] = False, f"all units of {self.source_site[i]} damaged"
            elif not powered(int(self.source_bus[i]), int(self.source_load[i])):
                src_ok[i], src_reason[i] = False, f"{self.source_name[i]} without power"
        npump = len(self.pump_id)
        pump_ok = np.ones(npump, bool)
        pump_reason = [""] * npump
        for j in range(npump):
            if not powered(int(self.pump_bus[j]), int(self.pump_load[j])):
                pump_ok[j], pump_reason[j] = False, f"{self.pump_name[j]} without power"
        nd = len(self.district_id)
        d_ok = np.ones(nd, bool)
        d_reason = [""] * nd
        for k in range(nd):
            s, p, b = int(self.district_source[k]), int(self.district_pump[k]), int(self.district_bus[k])
            if not src_ok[s]:
                d_ok[k], d_reason[k] = False, f"source lost: {src_reason[s]}"
            elif not pump_ok[p]:
                d_ok[k], d_reason[k] = False, f"pumping lost: {pump_reason[p]}"
            elif building_pumps and b >= 0 and not on[b]:
                d_ok[k], d_reason[k] = False, "district without power (building circulation pumps)"
        return HeatStatus(
            source_ok=_ro(src_ok), pump_ok=_ro(pump_ok), district_ok=_ro(d_ok),
            source_reason=tuple(src_reason), pump_reason=tuple(pump_reason), district_reason=tuple(d_reason),
        )


@dataclass(frozen=True, eq=False)
class HeatStatus:
    """Per source / pump / heat district: working (True) or lost, and why."""

    source_ok: np.ndarray
    pump_ok: np.ndarray
    district_ok: np.ndarray
    source_reason: tuple[str, ...]
    pump_reason: tuple[str, ...]
    district_reason: tuple[str, ...]

    @property
    def district_off(self) -> np.ndarray:
        return ~self.district_ok


def damage_masks(grid: Grid, damage: Any) -> dict[str, np.ndarray]:
    """Boolean masks ``bus/branch/gen/load`` of a damage (a ``Damage``, ids, a comma string or None).

    Uses :class:`gridshield.impact.Damage` semantics: a site stands for its buses, a damaged bus
    takes its branches, generators and loads.
    """
    if damage is None:
        return {k: np.zeros(len(t), bool) for k, t in (("bus", grid.buses), ("branch", grid.branches),
                                                        ("gen", grid.gens), ("load", grid.loads))}
    if not hasattr(damage, "bus_out"):
        from gridshield.impact.damage import Damage

        damage = Damage.from_ids(grid, damage)
    if damage.bus_out.shape[0] != len(grid.buses) or damage.load_out.shape[0] != len(grid.loads):
        raise GridshieldError(
            "damage was built for another grid (sizes differ); build it with Damage.from_ids(grid, ...)"
        )
    return {"bus": np.asarray(damage.bus_out, bool), "branch": np.asarray(damage.branch_out, bool),
            "gen": np.asarray(damage.gen_out, bool), "load": np.asarray(damage.load_out, bool)}


# ----------------------------------------------------------------------------------------------
# electric load vs outdoor temperature
# ----------------------------------------------------------------------------------------------
#: Share of each priority class's electric load that follows the heating degrees at the reference
#: temperature (electric heaters, heat pumps, circulation pumps; an assumption, documented in docs/heat.md).
HEATING_SHARE: dict[str, float] = {
    "critical": 0.10, "essential": 0.15, "residential": 0.30, "commercial": 0.20, "industrial": 0.05,
}


def load_factor(
    temperature_c: float, reference_c: float, heating_share: float, base_c: float = HEATING_BASE_C
) -> float:
    """Electric load at ``temperature_c`` relative to the load at ``reference_c``.

    ``(1 - h) + h * HDD(T) / HDD(T_ref)`` with ``HDD(T) = max(0, base - T)``: the temperature-
    dependent share ``h`` of the load (at the reference) scales with the heating degrees.
    """
    hdd_ref = max(0.0, base_c - reference_c)
    if hdd_ref <= 0.0:
        raise GridshieldError(
            f"reference temperature {reference_c} °C is not below the heating base {base_c} °C; "
            "loads given above the base cannot be scaled by heating degrees"
        )
    return (1.0 - heating_share) + heating_share * max(0.0, base_c - temperature_c) / hdd_ref


def scale_for_temperature(
    grid: Grid,
    temperature_c: float,
    reference_c: float | None = None,
    heating_share: dict[str, float] | None = None,
    base_c: float = HEATING_BASE_C,
) -> Grid:
    """A new grid whose loads (MW and MVAr) are scaled for an outdoor temperature.

    Parameters
    ----------
    grid
        Loads given at ``reference_c``.
    temperature_c
        Outdoor temperature (°C).
    reference_c
        Outdoor temperature at which the grid's loads are given; default: the grid's scalar
        ``mpc.gs_reference_temperature_c`` (the synthetic city: -5 °C).
    heating_share
        Temperature-dependent share per priority class (defaults :data:`HEATING_SHARE`).
    base_c
        Heating base temperature (°C, default 18).

    The new grid records ``temperature_c`` as its reference (``mpc.gs_reference_temperature_c``)
    and the temperature-dependent shares at it (``mpc.gs_heating_share``), so scalings compose
    exactly, and scaling again for the same temperature returns the grid itself.
    """
    try:
        t_ok = -70.0 <= float(temperature_c) <= 60.0  # False for NaN; beyond any recorded outdoor air
    except (TypeError, ValueError):
        t_ok = False
    if not t_ok:
        raise GridshieldError(
            f"--temperature {temperature_c}: give a finite outdoor temperature in °C (-70..60)"
        )
    if reference_c is None:
        ref = grid.extra_tables.get("gs_reference_temperature_c")
        if not isinstance(ref, float):
            raise GridshieldError(
                f"grid {grid.name!r} does not say at which outdoor temperature its loads are given; "
                "pass reference_c= (°C)"
            )
        reference_c = ref
    if not heating_share and float(temperature_c) == float(reference_c):
        return grid  # loads are already given at this temperature (grids are immutable)
    shares = dict(HEATING_SHARE)
    stored = grid.extra_tables.get("gs_heating_share")
    if isinstance(stored, ExtraTable):  # shares at the grid's reference, left by an earlier scaling
        shares.update({str(r[0]): float(r[1]) for r in stored.rows})
    if heating_share:
        for k, v in heating_share.items():
            if k not in shares:
                raise GridshieldError(f"heating_share: unknown priority class {k!r}; use one of {list(shares)}")
            if not 0.0 <= v <= 1.0:
                raise GridshieldError(f"heating_share[{k!r}] = {v} must be within [0, 1]")
            shares[k] = float(v)
    ld = grid.loads
    fac = {k: load_factor(temperature_c, reference_c, h, base_c) for k, h in shares.items()}
    factor = np.array([fac.get(p, 1.0) for p in ld.priority.tolist()])
    loads = ld.replace(p_mw=ld.p_mw * factor, q_mvar=ld.q_mvar * factor)
    # P(T) = a + b HDD(T): the temperature-dependent share at the new temperature is
    # h' = h HDD(T) / HDD(T_ref) / factor, so that scaling again composes exactly
    hdd_ref = base_c - reference_c
    new_shares = {k: (h * max(0.0, base_c - temperature_c) / hdd_ref) / fac[k] for k, h in shares.items()}
    extra = dict(grid.extra_tables)
    extra["gs_reference_temperature_c"] = float(temperature_c)
    extra["gs_heating_share"] = ExtraTable(("priority", "share"), tuple((k, float(v)) for k, v in new_shares.items()),
                                           cell=True)
    return grid.replace(loads=loads, extra_tables=extra)


# ----------------------------------------------------------------------------------------------
# assessment
# ----------------------------------------------------------------------------------------------
def _none_if_inf(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


@dataclass(frozen=True, eq=False)
class HeatResult:
    """Heat lost after a damage, and how fast the buildings cool.

    Per heat district (arrays in the order of ``district_id``): ``district_off``, ``reason``,
    ``people``, ``hours_to_12c_h`` / ``hours_to_5c_h`` (hours until the district's people-weighted
    mean indoor temperature falls below 12 °C / 5 °C; ``inf`` = not within the horizon or heat
    not lost),
    ``heat_demand_mw_th``. Over time (``time_h`` = 0..hours): ``people_without_heat_t``,
    ``people_below_12c_t``, ``people_below_5c_t`` and the people-weighted indoor temperature
    ``indoor_c`` (shape ``(hours + 1, districts)``). ``hours_to_12c_by_class_h`` and
    ``hours_to_5c_by_class_h``: per building class, from the start of the outage.
    """

    grid_name: str
    damage: tuple[str, ...]
    temperature_c: float | tuple[float, ...]
    hours: int
    indoor_start_c: float
    district_id: tuple[str, ...]
    district_name: tuple[str, ...]
    district_source: tuple[str, ...]
    district_pump: tuple[str, ...]
    district_off: np.ndarray
    reason: tuple[str, ...]
    people: np.ndarray
    hours_to_12c_h: np.ndarray
    hours_to_5c_h: np.ndarray
    heat_demand_mw_th: np.ndarray
    classes: tuple[str, ...]
    hours_to_12c_by_class_h: np.ndarray
    hours_to_5c_by_class_h: np.ndarray
    time_h: np.ndarray
    people_without_heat_t: np.ndarray
    people_below_12c_t: np.ndarray
    people_below_5c_t: np.ndarray
    indoor_c: np.ndarray
    sources_lost: tuple[str, ...]
    pumps_lost: tuple[str, ...]

    @property
    def people_without_heat(self) -> int:
        """People in heat districts whose heat is lost."""
        return int(round(float(self.people[self.district_off].sum())))

    @property
    def people_total(self) -> int:
        return int(round(float(self.people.sum())))

    @property
    def districts_off(self) -> tuple[str, ...]:
        return tuple(d for d, off in zip(self.district_id, self.district_off.tolist(), strict=True) if off)

    @property
    def heat_demand_total_mw_th(self) -> float:
        return float(self.heat_demand_mw_th.sum())

    @property
    def heat_lost_mw_th(self) -> float:
        """Heat demand (MW_th) of the districts without heat."""
        return float(self.heat_demand_mw_th[self.district_off].sum())

    @property
    def first_hours_to_12c_h(self) -> float:
        """Hours until the first district falls below 12 °C (``inf`` if none within the horizon)."""
        return float(self.hours_to_12c_h.min()) if self.hours_to_12c_h.size else float("inf")

    def summary(self) -> dict[str, Any]:
        t = self.temperature_c
        return {
            "grid": self.grid_name,
            "temperature_c": t if isinstance(t, float) else f"hourly series, min {min(t):.1f}, max {max(t):.1f}",
            "hours": self.hours,
            "heat districts": len(self.district_id),
            "heat districts off": int(self.district_off.sum()),
            "people without heat": self.people_without_heat,
            "people total": self.people_total,
            "heat lost (MW_th)": self.heat_lost_mw_th,
            "heat demand (MW_th)": self.heat_demand_total_mw_th,
            "first district below 12 °C (h)": _none_if_inf(self.first_hours_to_12c_h),
            f"people below 12 °C at {self.hours} h": int(self.people_below_12c_t[-1]),
            f"people below 5 °C at {self.hours} h": int(self.people_below_5c_t[-1]),
            "sources lost": ", ".join(self.sources_lost) or "-",
            "pumping stations lost": ", ".join(self.pumps_lost) or "-",
        }

    def to_frame(self):
        """One row per heat district."""
        import pandas as pd

        return pd.DataFrame(
            {
                "name": list(self.district_name),
                "source": list(self.district_source),
                "pump": list(self.district_pump),
                "off": self.district_off,
                "reason": list(self.reason),
                "people": self.people,
                "hours_to_12c_h": self.hours_to_12c_h,
                "hours_to_5c_h": self.hours_to_5c_h,
                "heat_demand_mw_th": self.heat_demand_mw_th,
                f"indoor_c_at_{self.hours}h": self.indoor_c[-1],
            },
            index=pd.Index(list(self.district_id), name="id"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: inf (never within the horizon) is written as null."""
        t = self.temperature_c
        return {
            "grid": self.grid_name,
            "damage": list(self.damage),
            "temperature_c": t if isinstance(t, float) else list(t),
            "hours": self.hours,
            "indoor_start_c": self.indoor_start_c,
            "people_without_heat": self.people_without_heat,
            "people_total": self.people_total,
            "heat_lost_mw_th": self.heat_lost_mw_th,
            "heat_demand_mw_th": self.heat_demand_total_mw_th,
            "sources_lost": list(self.sources_lost),
            "pumps_lost": list(self.pumps_lost),
            "hours_to_12c_by_class_h": {c: _none_if_inf(v) for c, v in
                                        zip(self.classes, self.hours_to_12c_by_class_h.tolist(), strict=True)},
            "hours_to_5c_by_class_h": {c: _none_if_inf(v) for c, v in
                                       zip(self.classes, self.hours_to_5c_by_class_h.tolist(), strict=True)},
            "districts": [
                {
                    "id": self.district_id[k],
                    "name": self.district_name[k],
                    "source": self.district_source[k],
                    "pump": self.district_pump[k],
                    "off": bool(self.district_off[k]),
                    "reason": self.reason[k],
                    "people": float(self.people[k]),
                    "hours_to_12c_h": _none_if_inf(float(self.hours_to_12c_h[k])),
                    "hours_to_5c_h": _none_if_inf(float(self.hours_to_5c_h[k])),
                    "heat_demand_mw_th": float(self.heat_demand_mw_th[k]),
                }
                for k in range(len(self.district_id))
            ],
            "time_h": self.time_h.tolist(),
            "people_without_heat_t": self.people_without_heat_t.tolist(),
            "people_below_12c_t": self.people_below_12c_t.tolist(),
            "people_below_5c_t": self.people_below_5c_t.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"HeatResult({self.grid_name!r}: {int(self.district_off.sum())}/{len(self.district_id)} "
            "heat districts off, "
            f"{self.people_without_heat:,} people without heat)"
        )


def _supply_state(grid: Grid, damage_or_impact: Any, damage: Any) -> tuple[tuple[str, ...], Any, Any, Any]:
    """(damage ids, damage, bus_energised, load_served_mw) from a damage, ids or an ImpactResult."""
    obj = damage_or_impact
    if obj is not None and hasattr(obj, "bus_energised"):
        ids = tuple(damage.ids if hasattr(damage, "ids") else (damage or getattr(obj, "damage", ()) or ()))
        dmg = damage if damage is not None else (list(ids) if ids else None)
        served = getattr(obj, "load_served_mw", None)
        return ids, dmg, np.asarray(obj.bus_energised, bool), None if served is None else np.asarray(served, float)
    dmg = obj if obj is not None else damage
    if dmg is None:
        return (), None, None, None
    if isinstance(dmg, str):
        dmg = [s.strip() for s in dmg.split(",") if s.strip()]
    try:
        from gridshield.impact import assess_damage
    except ImportError:  # impact engine not installed: topology only
        from gridshield.topology import islands

        m = damage_masks(grid, dmg)
        isl = islands(
            grid,
            branch_in_service=grid.branches.in_service & ~m["branch"],
            bus_in_service=grid.buses.in_service & ~m["bus"],
            gen_in_service=grid.gens.in_service & ~m["gen"],
        )
        ids = tuple(dmg.ids) if hasattr(dmg, "ids") else tuple(dmg)
        return ids, dmg, isl.energised, None
    res = assess_damage(grid, dmg)
    ids = tuple(dmg.ids) if hasattr(dmg, "ids") else tuple(dmg)
    return ids, dmg, np.asarray(res.bus_energised, bool), np.asarray(res.load_served_mw, float)


def _mean_crossing(temps: np.ndarray, w: np.ndarray, tau: np.ndarray, out: np.ndarray, thr: float) -> float:
    """First time (hours, exact within the hour by bisection on the closed form) at which the
    people-weighted mean indoor temperature ``sum_c w_c T_c(t)`` falls below ``thr``."""
    mean = temps @ w
    if mean[0] < thr:
        return 0.0
    below = np.flatnonzero(mean[1:] < thr)
    if below.size == 0:
        return float("inf")
    k = int(below[0])
    tk, tout = temps[k], out[k]
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        val = float(w @ (tout + (tk - tout) * np.exp(-mid / tau)))
        lo, hi = (mid, hi) if val >= thr else (lo, mid)
    return k + 0.5 * (lo + hi)


def assess_heat(
    grid: Grid,
    damage_or_impact: Any = None,
    temperature_c: float | Sequence[float] | np.ndarray = -10.0,
    hours: int = 96,
    *,
    damage: Any = None,
    indoor_start_c: float = INDOOR_START_C,
    building_pumps: bool = True,
    network: HeatNetwork | None = None,
) -> HeatResult:
    """Which heat districts lose heat after a damage, and how fast their buildings cool.

    Parameters
    ----------
    grid
        A grid with district-heating tables (e.g. ``load_case("synthetic-city")``).
    damage_or_impact
        A ``Damage``, a list of asset ids (``["site:CHP-Aurora"]``), a comma-separated string,
        an ``ImpactResult`` (its ``bus_energised`` and ``load_served_mw`` are used; pass
        ``damage=`` too for plant damage if the result does not carry its damage ids), or None.
        A damage is assessed with the impact engine (max load delivery) to know which buses are dark.
    temperature_c
        Outdoor temperature (°C): a number, or an hourly series of at least ``hours`` values.
    hours
        Horizon (hours).
    indoor_start_c
        Indoor temperature when heat is lost (°C, default 20).
    building_pumps
        When True (default) a heat district is also off while its own district bus is dark
        (in-building circulation pumps, DOMAIN.md section 4).

    Returns
    -------
    HeatResult
    """
    from gridshield.limits import MAX_HOURS, check_int

    hours = check_int("--hours", hours, low=1, high=MAX_HOURS, why="(a year of hourly steps)")
    net = network if network is not None else HeatNetwork.from_grid(grid)
    ids, dmg, on, served = _supply_state(grid, damage_or_impact, damage)
    st = net.status(grid, dmg, bus_energised=on, load_served_mw=served, building_pumps=building_pumps)
    off = st.district_off
    temps_in = np.asarray(temperature_c, dtype=float)
    if temps_in.ndim == 0:
        temp_series: float | np.ndarray = float(temps_in)
        t_report: float | tuple[float, ...] = float(temps_in)
        t_mean = float(temps_in)
    else:
        series = cooldown._as_series(temps_in, hours)
        temp_series, t_report, t_mean = series, tuple(float(v) for v in series), float(series.mean())
    tau = np.array([BUILDING_TAU_H[c] for c in net.classes])
    temps = cooldown.simulate(tau, temp_series, hours, indoor_start_c)  # (hours+1, classes)
    h12 = cooldown.crossing_hours(tau, temp_series, hours, COLD_C, indoor_start_c)
    h5 = cooldown.crossing_hours(tau, temp_series, hours, DRAIN_C, indoor_start_c)
    ppl = net.people_by_class
    has = ppl > 0
    nd = len(net.district_id)
    hd12 = np.full(nd, np.inf)
    hd5 = np.full(nd, np.inf)
    people = ppl.sum(axis=1)
    weights = np.where(people[:, None] > 0, ppl / np.maximum(people[:, None], 1e-300), 1.0 / len(net.classes))
    out_series = cooldown._as_series(temp_series, hours)
    for k in np.flatnonzero(off):
        if has[k].any():
            hd12[k] = _mean_crossing(temps, weights[k], tau, out_series, COLD_C)
            hd5[k] = _mean_crossing(temps, weights[k], tau, out_series, DRAIN_C)
    p_off = ppl[off]  # (n_off, classes)
    below12 = (temps < COLD_C).astype(float) @ p_off.sum(axis=0)
    below5 = (temps < DRAIN_C).astype(float) @ p_off.sum(axis=0)
    indoor = temps @ weights.T  # (hours+1, districts)
    indoor[:, ~off] = indoor_start_c
    return HeatResult(
        grid_name=grid.name,
        damage=ids,
        temperature_c=t_report,
        hours=hours,
        indoor_start_c=float(indoor_start_c),
        district_id=net.district_id,
        district_name=net.district_name,
        district_source=tuple(net.source_id[i] for i in net.district_source.tolist()),
        district_pump=tuple(net.pump_id[i] for i in net.district_pump.tolist()),
        district_off=_ro(off.copy()),
        reason=st.district_reason,
        people=_ro(people.copy()),
        hours_to_12c_h=_ro(hd12),
        hours_to_5c_h=_ro(hd5),
        heat_demand_mw_th=_ro(net.heat_demand_mw_th(t_mean).copy()),
        classes=net.classes,
        hours_to_12c_by_class_h=_ro(h12),
        hours_to_5c_by_class_h=_ro(h5),
        time_h=_ro(np.arange(hours + 1, dtype=float)),
        people_without_heat_t=_ro(np.full(hours + 1, float(people[off].sum()))),
        people_below_12c_t=_ro(below12),
        people_below_5c_t=_ro(below5),
        indoor_c=_ro(indoor),
        sources_lost=tuple(s for s, ok in zip(net.source_id, st.source_ok.tolist(), strict=True) if not ok),
        pumps_lost=tuple(p for p, ok in zip(net.pump_id, st.pump_ok.tolist(), strict=True) if not ok),
    )


def heat_off(grid: Grid, damage: Any = None, bus_energised: np.ndarray | None = None,
             load_served_mw: np.ndarray | None = None, network: HeatNetwork | None = None,
             building_pumps: bool = True) -> np.ndarray:
    """Per heat district: True when its heat is lost (fast; for restoration loops).

    Pass the ``network`` (``HeatNetwork.from_grid(grid)``) when calling many times.
    """
    net = network if network is not None else HeatNetwork.from_grid(grid)
    return net.status(grid, damage, bus_energised, load_served_mw, building_pumps).district_off


__all__ = [
    "HEATING_BASE_C",
    "HEATING_SHARE",
    "HeatNetwork",
    "HeatResult",
    "HeatStatus",
    "assess_heat",
    "heat_off",
    "damage_masks",
    "load_factor",
    "scale_for_temperature",
]
