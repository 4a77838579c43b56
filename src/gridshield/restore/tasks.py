"""Repair tasks: one per damaged element, with a duration from defaults per asset class.

Default repair durations (hours) are from /work/shared/DOMAIN.md section 2 ("Repair and
restoration facts"); each entry of :data:`DEFAULT_DURATIONS_H` names its source. They are
defaults for planning studies, not measurements: override them per asset id or per class.

Asset classes
-------------
``line``            a branch with ``tap == 0`` below 220 kV
``line_hv``         a branch with ``tap == 0`` at 220 kV or more
``transformer``     a branch with a tap or phase shift whose high side is below 220 kV (or unknown)
``autotransformer`` a branch with a tap or phase shift whose high side is 220 kV or more
``bus``             a bus / substation equipment (switchgear, bus bars)
``generator``       a generating unit (power plant equipment)
``load``            a load's own connection (distribution feeder)

Transformers and autotransformers have two durations: with a spare unit in stock, and without
(manufacture / transport of a new unit). Spares are a stock per class consumed by repairs in
the order they start; ``spares=None`` means an unlimited stock (every repair finds a spare).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import LINK_KINDS, Grid

#: Voltage (kV) from which a line is ``line_hv`` and a transformer an ``autotransformer``.
HV_KV = 220.0


@dataclass(frozen=True)
class ClassDefaults:
    """Default repair durations of one asset class.

    ``duration_h`` applies with a spare in stock (or when no spare is needed);
    ``no_spare_h`` is the duration without a spare (``None``: the class needs no spare).
    """

    duration_h: float
    no_spare_h: float | None
    source: str


#: Defaults per asset class (hours), with their source in /work/shared/DOMAIN.md section 2.
DEFAULT_DURATIONS_H: Mapping[str, ClassDefaults] = {
    # Kharkiv Sep 2022: 85 % of lost load back in 4 h; Kyiv oblast 31 Oct 2022: all families back
    # within 2 days (DOMAIN.md s.2, mediacenter.org.ua; interfax 869729): lines take hours to ~2 days.
    "line": ClassDefaults(12.0, None, "DOMAIN.md s.2: lines hours..2 days (Kharkiv 4 h for 85 %; Kyiv oblast <= 2 days)"),
    "line_hv": ClassDefaults(36.0, None, "DOMAIN.md s.2: lines hours..2 days; high-voltage towers at the long end"),
    # Kyiv 23 Nov 2022: nearly all back by day 4; four 750 kV substations restored in 13 days
    # (kyivindependent; unn.ua Brekht Oct 2024): substation equipment takes days.
    "bus": ClassDefaults(72.0, None, "DOMAIN.md s.2: substation equipment days (Kyiv day 4; 4 substations in 13 days)"),
    # Every large TPP/HPP was hit (censor.net 3382299); plant repairs take days to weeks.
    "generator": ClassDefaults(168.0, None, "DOMAIN.md s.2: generating units days..weeks (large TPPs hit 3-8 times)"),
    # Wartime AT installed in 3 weeks with a unit from another region / spare stock; a peacetime
    # 750/330 kV AT swap took 2 months (unn.ua Brekht Oct 2024; ua.energy Donbaska).
    "autotransformer": ClassDefaults(
        504.0, 1440.0, "DOMAIN.md s.2: AT 3 weeks with a spare (unn.ua Brekht), 2 months without (ua.energy)"
    ),
    # Smaller (<220 kV) transformers: assumption scaled from the AT figures (days with a spare,
    # a month without); not a published figure.
    "transformer": ClassDefaults(96.0, 720.0, "assumption: scaled from DOMAIN.md s.2 AT figures (days / a month)"),
    # A load's own feeder: distribution repairs, hours (Kyiv oblast, same-day for 95 % of families).
    "load": ClassDefaults(8.0, None, "DOMAIN.md s.2: distribution repairs same day (Kyiv oblast 31 Oct 2022)"),
}

ASSET_CLASSES = tuple(DEFAULT_DURATIONS_H)


@dataclass(frozen=True)
class RepairTask:
    """One repair: a damaged element and how long it takes.

    Attributes
    ----------
    id
        Element id (``branch:12``, ``bus:5``, ``gen:2``, ``load:7``).
    asset_class
        One of :data:`ASSET_CLASSES`.
    duration_h
        Hours with a spare in stock (or when the class needs none).
    no_spare_h
        Hours without a spare (``None`` when the class needs no spare).
    site
        Site the element belongs to (``""`` if none).
    x_km, y_km
        Location (bus coordinates; NaN when unknown).
    """

    id: str
    asset_class: str
    duration_h: float
    no_spare_h: float | None
    site: str
    x_km: float
    y_km: float

    @property
    def needs_spare(self) -> bool:
        """True when the duration depends on a spare in stock."""
        return self.no_spare_h is not None


def asset_class(grid: Grid, kind: str, row: int) -> str:
    """The asset class of an element (``kind`` as in ids: ``branch``, ``bus``, ``gen``, ``load``)."""
    if kind == "branch":
        br = grid.branches
        kv = max(float(grid.buses.base_kv[br.from_bus[row]]), float(grid.buses.base_kv[br.to_bus[row]]))
        if br.tap[row] != 0.0 or br.shift_deg[row] != 0.0:
            return "autotransformer" if kv >= HV_KV else "transformer"
        return "line_hv" if kv >= HV_KV else "line"
    if kind == "bus":
        return "bus"
    if kind == "gen":
        return "generator"
    if kind == "load":
        return "load"
    raise GridshieldError(f"cannot repair a {kind!r} element; damage buses, branches, generators, loads or sites")


def _location(grid: Grid, kind: str, row: int) -> tuple[float, float, str]:
    b = grid.buses
    if kind == "branch":
        f, t = int(grid.branches.from_bus[row]), int(grid.branches.to_bus[row])
        x, y = 0.5 * (b.x[f] + b.x[t]), 0.5 * (b.y[f] + b.y[t])
        site = b.substation[f] if b.substation[f] == b.substation[t] else ""
        return float(x), float(y), str(site)
    bus = row if kind == "bus" else int(grid.tables[kind].bus[row])
    return float(b.x[bus]), float(b.y[bus]), str(b.substation[bus])


def damaged_elements(grid: Grid, damage) -> list[tuple[str, int]]:
    """``(kind, row)`` of every element to repair, sites expanded, in the order the damage names them.

    ``damage`` is an impact-engine ``Damage`` (or a sequence of asset ids). Only what was hit is
    repaired: a damaged bus takes its branches, generators and loads out of service, but they come
    back with the bus. A site (substation or plant) expands to its buses (switchgear), the
    transformers with both ends at the site and the generators at the site; a link (``hvdc:<id>``)
    to its converter stations.
    """
    ids = damage.ids if hasattr(damage, "ids") else tuple(damage)
    seen: set[tuple[str, int]] = set()
    out: list[tuple[str, int]] = []

    def add(kind: str, row: int) -> None:
        if (kind, row) not in seen:
            seen.add((kind, row))
            out.append((kind, row))

    br = grid.branches
    for aid in ids:
        kind = aid.split(":", 1)[0]
        if kind == "site":
            if aid[5:] not in grid.sites:
                grid.locate(aid)  # raises UnknownAssetError with close matches
            rows = grid.sites[aid[5:]]
            in_site = np.zeros(len(grid.buses), dtype=bool)
            in_site[rows] = True
            for r in rows.tolist():
                add("bus", r)
            inside = in_site[br.from_bus] & in_site[br.to_bus] & (br.is_transformer | (br.from_bus == br.to_bus))
            for r in np.flatnonzero(inside & br.in_service).tolist():
                add("branch", r)
            g = grid.gens
            for r in np.flatnonzero(in_site[g.bus] & g.in_service).tolist():
                add("gen", r)
        elif kind in ("bus", "branch", "gen", "load"):
            add(kind, grid.tables[kind].row(aid))
        elif kind in LINK_KINDS and aid in grid.links:  # a link: each of its converter stations
            for member in grid.links[aid]:
                mk = member.split(":", 1)[0]
                add(mk, grid.tables[mk].row(member))
        else:
            grid.locate(aid)
            raise GridshieldError(f"cannot repair {aid!r}; damage buses, branches, generators, loads or sites")
    return out


def _resolve_override(overrides: Mapping[str, float] | None, task_id: str, cls: str) -> float | None:
    if not overrides:
        return None
    if task_id in overrides:
        return float(overrides[task_id])
    if cls in overrides:
        return float(overrides[cls])
    return None


def build_tasks(
    grid: Grid,
    damage,
    durations: Mapping[str, float] | None = None,
    no_spare_durations: Mapping[str, float] | None = None,
) -> list[RepairTask]:
    """One :class:`RepairTask` per damaged element (sites expanded), in damage order.

    Parameters
    ----------
    grid
        The grid.
    damage
        An impact-engine ``Damage``.
    durations
        Overrides of the (with-spare) duration in hours, by element id (``"branch:12"``) or by
        asset class (``"line"``); an id wins over a class.
    no_spare_durations
        Overrides of the without-spare duration in hours, by id or class.
    """
    for name, ov in (("durations", durations), ("no_spare_durations", no_spare_durations)):
        for k, v in (ov or {}).items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                opt = "--duration" if name == "durations" else name
                raise GridshieldError(f"{opt} {k}={v}: a repair duration must be a positive number of hours")
            if ":" not in k and k not in DEFAULT_DURATIONS_H:
                raise GridshieldError(
                    f"{name}: unknown asset class {k!r}; use an element id (branch:12) or one of {', '.join(ASSET_CLASSES)}"
                )
            if ":" in k:
                grid.locate(k)  # an override for an id that does not exist is a typo: UnknownAssetError
    tasks: list[RepairTask] = []
    for kind, row in damaged_elements(grid, damage):
        tid = str(grid.tables[kind].id[row])
        cls = asset_class(grid, kind, row)
        d = DEFAULT_DURATIONS_H[cls]
        dur = _resolve_override(durations, tid, cls) or d.duration_h
        ns = d.no_spare_h
        if ns is not None:
            ns = _resolve_override(no_spare_durations, tid, cls) or ns
            ns = max(ns, dur)
        x, y, site = _location(grid, kind, row)
        tasks.append(RepairTask(tid, cls, float(dur), None if ns is None else float(ns), site, x, y))
    return tasks


def travel_matrix_h(tasks: Sequence[RepairTask], speed_kmh: float | None) -> np.ndarray | None:
    """Travel hours between task locations (Euclidean distance / speed), or ``None`` without a speed."""
    if speed_kmh is None:
        return None
    if not (math.isfinite(speed_kmh) and speed_kmh > 0):
        raise GridshieldError(f"travel_speed_kmh = {speed_kmh!r}: must be a positive number of km/h")
    xy = np.array([[t.x_km, t.y_km] for t in tasks], dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(xy)):
        bad = [t.id for t in tasks if not (math.isfinite(t.x_km) and math.isfinite(t.y_km))][:5]
        raise GridshieldError(
            f"travel time needs bus coordinates (buses.x/y in km), but {', '.join(bad)} have none; "
            "leave travel_speed_kmh unset (--travel-speed) for this grid"
        )
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    return d / float(speed_kmh)


def parse_spares(spares: Mapping[str, int] | None) -> dict[str, int] | None:
    """Validate a spare stock per class (``{"autotransformer": 1}``); ``None`` = unlimited."""
    if spares is None:
        return None
    out: dict[str, int] = {}
    for k, v in spares.items():
        if k not in DEFAULT_DURATIONS_H:
            raise GridshieldError(f"spares: unknown asset class {k!r}; use one of {', '.join(ASSET_CLASSES)}")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise GridshieldError(f"spares[{k!r}] = {v!r}: a spare stock must be a whole number >= 0")
        out[k] = int(v)
    return out


__all__ = [
    "ASSET_CLASSES",
    "DEFAULT_DURATIONS_H",
    "HV_KV",
    "ClassDefaults",
    "RepairTask",
    "asset_class",
    "build_tasks",
    "damaged_elements",
    "parse_spares",
    "travel_matrix_h",
]
