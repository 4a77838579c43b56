"""Geometry for maps: district areas and site positions, read from and written as GeoJSON.

A :class:`Geometry` holds **areas** (districts drawn as polygons, each standing for the loads of
some buses or of a load group) and **site points** (substations and plants as named markers).
Maps draw areas where there are shapes and the computed layout where there are none, offline.

Where geometry comes from (:func:`geometry_of`):

* a GeoJSON the user gives (:func:`read_geojson`): ``Polygon`` / ``MultiPolygon`` features with
  ``properties.buses`` (bus ids, e.g. ``["bus:5", "bus:6"]``) or ``properties.group`` (a
  ``loads.group`` value) are areas; ``Point`` features with ``properties.site`` (a site name of
  ``buses.substation``) or ``properties.bus`` are site points. Coordinates are longitude /
  latitude (RFC 7946) unless the collection says ``"gridshield": {"units": "km"}`` (a local
  plane in km, as the synthetic city uses);
* the case itself: the synthetic city ships fictional district polygons
  (``mpc.gs_district_areas``, generated deterministically with the city) and its sites sit at
  their buses' ``x``/``y`` (km);
* otherwise site points are the mean ``x``/``y`` of each site's buses where known (km), or the
  longitude / latitude of the grid's site table (:class:`~gridshield.grid.model.Sites`, filled by
  the CGMES / PSS/E readers where the model has substation coordinates), and there are no areas.

Every size-like input is bounded before it is parsed (:data:`MAX_GEOJSON_BYTES`,
:data:`MAX_FEATURES`, :data:`MAX_VERTICES`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import ExtraTable, Grid

#: Largest GeoJSON accepted (bytes): city districts need kilobytes; 20 MB holds a detailed country.
MAX_GEOJSON_BYTES = 20 * 1024 * 1024
#: Most features in one GeoJSON (districts + sites).
MAX_FEATURES = 10_000
#: Most polygon vertices in all (a map with more cannot be drawn responsively).
MAX_VERTICES = 500_000
#: Name of the extra table holding a case's district polygons.
AREAS_TABLE = "gs_district_areas"
#: Km per degree of latitude, and of longitude at the equator (WGS84 mean values, for drawing only).
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320


@dataclass(frozen=True, eq=False)
class Area:
    """A district drawn as a polygon.

    Attributes
    ----------
    id, name
        Feature id and the name shown on the map.
    bus_rows
        Rows of the buses whose loads form the district (with ``group``: none).
    group
        The ``loads.group`` value the district stands for ('' when keyed by buses).
    rings
        Outer rings of the polygon(s), each an (n, 2) array of x, y in the geometry's units.
    """

    id: str
    name: str
    bus_rows: np.ndarray
    group: str
    rings: tuple[np.ndarray, ...]

    def load_mask(self, grid: Grid) -> np.ndarray:
        """Loads of ``grid`` that belong to this district."""
        if self.group:
            return np.asarray(grid.loads.group == self.group)
        return np.isin(grid.loads.bus, self.bus_rows)

    def centroid(self) -> tuple[float, float]:
        """Area-weighted centroid of the largest ring (shoelace formula)."""
        ring = max(self.rings, key=lambda r: abs(_signed_area(r)))
        x, y = ring[:, 0], ring[:, 1]
        xs, ys = np.roll(x, -1), np.roll(y, -1)
        cross = x * ys - xs * y
        a = cross.sum() / 2.0
        if abs(a) < 1e-12:
            return float(x.mean()), float(y.mean())
        return float(((x + xs) * cross).sum() / (6 * a)), float(((y + ys) * cross).sum() / (6 * a))


@dataclass(frozen=True, eq=False)
class Geometry:
    """District areas and site positions of one grid, in ``units`` ("km" or "deg")."""

    areas: tuple[Area, ...]
    sites: Mapping[str, tuple[float, float]]
    units: str = "km"
    source: str = ""

    def to_km(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in km on a local plane (an equirectangular projection for degrees)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if self.units == "km":
            return x, y
        lon0, lat0 = self.origin_deg
        return (x - lon0) * KM_PER_DEG_LON * math.cos(math.radians(lat0)), (y - lat0) * KM_PER_DEG_LAT

    @property
    def origin_deg(self) -> tuple[float, float]:
        """Mean longitude and latitude of every vertex and site (the projection's centre)."""
        pts = [r for a in self.areas for r in a.rings] + [np.array([p]) for p in self.sites.values()]
        allp = np.vstack(pts) if pts else np.zeros((1, 2))
        return float(allp[:, 0].mean()), float(allp[:, 1].mean())


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum() / 2.0)


# ------------------------------------------------------------------------------------------------
# the case's own geometry
# ------------------------------------------------------------------------------------------------
def format_ring(ring: np.ndarray) -> str:
    """A ring as text for a cell table: ``"x,y x,y ..."`` (3 decimals)."""
    return " ".join(f"{x:.3f},{y:.3f}" for x, y in np.asarray(ring, float))


def parse_ring(text: str, where: str) -> np.ndarray:
    """The inverse of :func:`format_ring`."""
    try:
        pts = np.array([[float(v) for v in p.split(",")] for p in str(text).split()], float)
    except ValueError:
        raise GridshieldError(f"{where}: a ring must read 'x,y x,y ...' with numbers") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.all(np.isfinite(pts)):
        raise GridshieldError(f"{where}: a ring needs at least 3 finite x,y points")
    return pts


def areas_table(areas: list[tuple[str, str, list[str], np.ndarray]]) -> ExtraTable:
    """The ``mpc.gs_district_areas`` cell table: id, name, buses (';'-joined ids), ring."""
    rows = tuple((aid, name, ";".join(buses), format_ring(ring)) for aid, name, buses, ring in areas)
    return ExtraTable(columns=("id", "name", "buses", "ring"), rows=rows, cell=True)


def site_points(grid: Grid) -> dict[str, tuple[float, float]]:
    """Each site at the mean ``x``/``y`` of its buses (sites without coordinates are left out)."""
    out = {}
    x, y = grid.buses.x, grid.buses.y
    for name, rows in grid.sites.items():
        ok = rows[np.isfinite(x[rows]) & np.isfinite(y[rows])]
        if ok.size:
            out[name] = (float(x[ok].mean()), float(y[ok].mean()))
    return out


def site_lonlat(grid: Grid) -> dict[str, tuple[float, float]]:
    """Sites with a longitude and latitude in the grid's site table (name -> (lon, lat) degrees)."""
    st = grid.site_table
    ok = np.isfinite(st.lon_deg) & np.isfinite(st.lat_deg)
    return {i[5:]: (float(x), float(y)) for i, x, y, k in zip(st.id.tolist(), st.lon_deg, st.lat_deg, ok, strict=True)
            if k}


def case_geometry(grid: Grid) -> Geometry | None:
    """The geometry a case carries: its district polygons (``mpc.gs_district_areas``) and site
    points from bus coordinates (km) or from its site table (degrees); None when it has none."""
    tab = grid.extra_tables.get(AREAS_TABLE)
    sites = site_points(grid)
    if not sites and not isinstance(tab, ExtraTable):
        deg = site_lonlat(grid)
        return Geometry(areas=(), sites=deg, units="deg", source=f"site table of {grid.name}") if deg else None
    areas: list[Area] = []
    if isinstance(tab, ExtraTable):
        bus_index = grid.buses.index
        for k, row in enumerate(tab.rows):
            rec = dict(zip(tab.columns, row, strict=False))
            where = f"mpc.{AREAS_TABLE} row {k + 1}"
            ids = [b for b in str(rec.get("buses", "")).split(";") if b]
            missing = [b for b in ids if b not in bus_index]
            if missing:
                raise GridshieldError(f"{where}: unknown bus id {missing[0]!r}; list bus ids of this grid")
            areas.append(Area(id=str(rec.get("id", k)), name=str(rec.get("name", rec.get("id", k))),
                              bus_rows=np.array([bus_index[b] for b in ids], np.int64), group="",
                              rings=(parse_ring(str(rec.get("ring", "")), where),)))
    if not areas and not sites:
        return None
    return Geometry(areas=tuple(areas), sites=sites, units="km", source=f"case {grid.name}")


# ------------------------------------------------------------------------------------------------
# GeoJSON in and out
# ------------------------------------------------------------------------------------------------
def _load_json(source: Any) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        return dict(source), "<geojson>"
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_GEOJSON_BYTES:
            raise GridshieldError(f"GeoJSON of {len(source) / 1e6:.1f} MB is larger than the "
                                  f"{MAX_GEOJSON_BYTES / 2**20:.0f} MB limit; simplify the polygons")
        text, where = bytes(source).decode("utf-8", errors="replace"), "<geojson upload>"
    else:
        p = Path(os.fspath(source))
        if not p.is_file():
            raise GridshieldError(f"{p}: GeoJSON file not found")
        if p.stat().st_size > MAX_GEOJSON_BYTES:
            raise GridshieldError(f"{p}: {p.stat().st_size / 1e6:.1f} MB is larger than the "
                                  f"{MAX_GEOJSON_BYTES / 2**20:.0f} MB limit for a GeoJSON; simplify the polygons")
        text, where = p.read_text(encoding="utf-8", errors="replace"), str(p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GridshieldError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise GridshieldError(f"{where}: a GeoJSON FeatureCollection (a JSON object) is expected")
    return data, where


def _rings_of(geom: Mapping, where: str) -> list[np.ndarray]:
    kind = geom.get("type")
    coords = geom.get("coordinates")
    polys = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else None
    if not isinstance(polys, list):
        raise GridshieldError(f"{where}: an area needs a Polygon or MultiPolygon geometry, not {kind!r}")
    rings = []
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            raise GridshieldError(f"{where}: empty polygon")
        try:
            ring = np.asarray(poly[0], float)  # the outer ring; holes are not drawn
        except (TypeError, ValueError):
            raise GridshieldError(f"{where}: polygon coordinates must be [x, y] numbers") from None
        if ring.ndim != 2 or ring.shape[1] < 2 or len(ring) < 3 or not np.all(np.isfinite(ring[:, :2])):
            raise GridshieldError(f"{where}: a polygon ring needs at least 3 finite [x, y] positions")
        rings.append(ring[:, :2])
    return rings


def read_geojson(source: Any, grid: Grid) -> Geometry:
    """Districts and sites of ``grid`` from a GeoJSON FeatureCollection (path, bytes or dict).

    Area features (Polygon / MultiPolygon) carry ``properties.buses`` (bus ids) or
    ``properties.group`` (a load group); point features carry ``properties.site`` or
    ``properties.bus``. ``properties.name`` is shown on the map. Unknown ids are errors that
    name the feature; features with none of these keys are ignored.
    """
    data, where = _load_json(source)
    feats = data.get("features")
    if data.get("type") != "FeatureCollection" or not isinstance(feats, list):
        raise GridshieldError(f"{where}: expected a GeoJSON FeatureCollection with a 'features' list")
    if len(feats) > MAX_FEATURES:
        raise GridshieldError(f"{where}: {len(feats):,} features; at most {MAX_FEATURES:,} are drawn "
                              "(merge small districts)")
    meta = data.get("gridshield") if isinstance(data.get("gridshield"), Mapping) else {}
    units = str(meta.get("units", "deg"))
    if units not in ("deg", "km"):
        raise GridshieldError(f"{where}: gridshield.units must be 'deg' (longitude/latitude) or 'km', not {units!r}")
    bus_index = grid.buses.index
    groups = set(grid.loads.group.tolist()) - {""}
    areas: list[Area] = []
    sites: dict[str, tuple[float, float]] = {}
    vertices = 0
    for k, f in enumerate(feats):
        fw = f"{where}: feature {k + 1}"
        if not isinstance(f, Mapping) or not isinstance(f.get("geometry"), Mapping):
            raise GridshieldError(f"{fw}: expected a Feature with a geometry")
        props = f.get("properties") if isinstance(f.get("properties"), Mapping) else {}
        geom = f["geometry"]
        name = str(props.get("name") or props.get("site") or props.get("group") or f.get("id") or k + 1)
        if geom.get("type") == "Point":
            try:
                x, y = (float(v) for v in list(geom.get("coordinates"))[:2])
            except (TypeError, ValueError):
                raise GridshieldError(f"{fw}: a Point needs [x, y] numbers") from None
            if props.get("site") is not None:
                site = str(props["site"])
                if site not in grid.sites:
                    raise GridshieldError(f"{fw}: site {site!r} is not a site of {grid.name} (buses.substation)")
                sites[site] = (x, y)
            elif props.get("bus") is not None:
                bid = str(props["bus"])
                if bid not in bus_index:
                    raise GridshieldError(f"{fw}: bus {bid!r} is not a bus id of {grid.name}")
                sites[grid.buses.substation[bus_index[bid]] or bid] = (x, y)
            continue
        if props.get("buses") is None and props.get("group") is None:
            continue
        rings = _rings_of(geom, fw)
        vertices += sum(len(r) for r in rings)
        if vertices > MAX_VERTICES:
            raise GridshieldError(f"{where}: more than {MAX_VERTICES:,} polygon vertices; simplify the polygons")
        group = ""
        rows = np.zeros(0, np.int64)
        if props.get("group") is not None:
            group = str(props["group"])
            if group not in groups:
                raise GridshieldError(f"{fw}: load group {group!r} is not in {grid.name} (loads.group)")
        else:
            ids = props["buses"] if isinstance(props["buses"], list) else [props["buses"]]
            bad = [str(b) for b in ids if str(b) not in bus_index]
            if bad:
                raise GridshieldError(f"{fw}: bus {bad[0]!r} is not a bus id of {grid.name}")
            rows = np.array([bus_index[str(b)] for b in ids], np.int64)
        areas.append(Area(id=str(f.get("id", name)), name=name, bus_rows=rows, group=group, rings=tuple(rings)))
    if units == "deg":
        for r in [r for a in areas for r in a.rings] + [np.array([p]) for p in sites.values()]:
            if np.any(np.abs(r[:, 0]) > 180) or np.any(np.abs(r[:, 1]) > 90):
                raise GridshieldError(f"{where}: coordinates outside longitude/latitude ranges; for a local "
                                      "plane in km add \"gridshield\": {\"units\": \"km\"}")
    if not areas and not sites:
        raise GridshieldError(f"{where}: no feature names buses, a group, a site or a bus of {grid.name}")
    if not sites and units == "km":
        sites = site_points(grid)
    return Geometry(areas=tuple(areas), sites=sites, units=units, source=where)


def to_geojson(geometry: Geometry, grid: Grid) -> dict[str, Any]:
    """The geometry as a GeoJSON FeatureCollection (what :func:`read_geojson` reads back)."""
    feats: list[dict[str, Any]] = []
    for a in geometry.areas:
        polys = [[[[round(float(x), 6), round(float(y), 6)] for x, y in np.vstack([r, r[:1]])]] for r in a.rings]
        geom = ({"type": "Polygon", "coordinates": polys[0]} if len(polys) == 1
                else {"type": "MultiPolygon", "coordinates": polys})
        props: dict[str, Any] = {"kind": "district", "name": a.name}
        if a.group:
            props["group"] = a.group
        else:
            props["buses"] = grid.buses.id[a.bus_rows].tolist()
        feats.append({"type": "Feature", "id": a.id, "properties": props, "geometry": geom})
    for site, (x, y) in sorted(geometry.sites.items()):
        feats.append({"type": "Feature", "id": f"site:{site}", "properties": {"kind": "site", "site": site,
                                                                              "name": site},
                      "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}})
    out: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if geometry.units == "km":
        out["gridshield"] = {"units": "km", "note": "fictional local plane in km, not longitude/latitude"}
    return out


def geometry_of(grid: Grid, geojson: Any = None) -> Geometry | None:
    """The geometry to draw ``grid`` with: a user GeoJSON if given, else what the case carries."""
    if geojson is not None:
        return read_geojson(geojson, grid)
    return case_geometry(grid)


__all__ = [
    "AREAS_TABLE",
    "MAX_FEATURES",
    "MAX_GEOJSON_BYTES",
    "MAX_VERTICES",
    "Area",
    "Geometry",
    "areas_table",
    "case_geometry",
    "format_ring",
    "geometry_of",
    "parse_ring",
    "read_geojson",
    "site_lonlat",
    "site_points",
    "to_geojson",
]
