"""Operator grid models through pypowsybl: CGMES, PSS/E, UCTE, PowerFactory DGS, IIDM, IEEE-CDF.

Optional extra: ``pip install 'gridshield[powsybl]'``. pypowsybl reads the file into its network
model (IIDM); :func:`from_pypowsybl` turns the network's *bus view* (buses after the switches
are applied) into a :class:`~gridshield.grid.model.Grid` with the per-unit model of PowSyBl's
OpenLoadFlow, so that gridshield's AC power flow equals OpenLoadFlow's run with the same
settings (no distributed slack, no transformer voltage control, fixed shunts, the same
reactive-limit rule); tested on pypowsybl's built-in CGMES networks and public CGMES/PSS/E files.

Model (OpenLoadFlow's, per unit on 100 MVA and each voltage level's nominal voltage):

- lines: pi model with the charging and conductance of each end (``g1, b1, g2, b2``); a line
  between two nominal voltages gets the ratio of the nominal voltages;
- two-winding transformers at their current taps (ratio and phase tap changers, with the steps'
  impedance and admittance corrections), magnetising admittance at side 1 behind the ratio;
- three-winding transformers as three legs to a star bus (``bus:<id>_star``) at ``rated_u0``;
- a branch connected at one end only keeps its charging through a bus at its open end
  (``bus:<id>_open``); elements connected nowhere are left out and listed in the import notes;
- dangling lines end at a boundary bus (``bus:<id>_boundary``) with their ``p0, q0`` as a load;
  paired ones (tie lines) meet at one boundary bus (``bus:<tie line id>_boundary``);
- generators and batteries with their reactive limits at the target P (capability curves);
  voltage control as OpenLoadFlow decides it (a reactive range under 1 MVAr, a unit not
  started or a target outside 0.8-1.2 p.u. means no voltage control), static var compensators in
  voltage mode as voltage-controlling units with limits ``b * Vnom^2``;
- HVDC lines as injections at their converter stations (OpenLoadFlow without AC emulation: the
  rectifier draws the set point, the inverter injects it less the converter and line losses;
  VSC stations may control voltage, LCC stations draw ``|P tan(acos(pf))|``);
- shunt compensators at their current section (``b * Vnom^2``); current limits give ratings in MVA
  at nominal voltage (permanent -> ``rate_a``, longest temporary -> ``rate_b``, shortest -> ``rate_c``).

Not representable, refused with the element ids unless ``approximate=True`` (then applied and
listed in the grid's import notes, ``grid.extra_tables["gs_import_notes"]``): remote voltage
control by generators, static var compensators and VSC stations (approximated by local control
with the equivalent local target, as OpenLoadFlow does with remote control switched off).

Ids: PSS/E buses keep their numbers (``bus:<I>``); other buses use the bus-view id
(``bus:<id>``); branches, generators, loads and shunts keep the element ids of the source
(``branch:<id>``, ``gen:<id>``, ``load:<id>``, ``shunt:<id>``). Substations are sites
(``site:<substation id>``) with their names, voltage levels, nominal voltages and, where the model
has them (CGMES GL profile, substation position extension), coordinates.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError, ParseError
from gridshield.grid.model import Branches, Buses, ExtraTable, Generators, Grid, Loads, Shunts, Sites

#: System base of OpenLoadFlow (MVA).
SB_MVA = 100.0
#: OpenLoadFlow's default plausibility limits for a voltage target (p.u.) and its minimum reactive range (MVAr).
MIN_TARGET_V, MAX_TARGET_V, MIN_REACTIVE_RANGE_MVAR = 0.8, 1.2, 1.0
#: Active power below which a unit counts as not started (MW), as OpenLoadFlow.
_P_EPS = 1e-4

#: File extensions pypowsybl reads, with the format's name.
FORMATS = {
    ".zip": "CGMES", ".xml": "CGMES", ".raw": "PSS/E", ".rawx": "PSS/E", ".uct": "UCTE", ".dgs": "PowerFactory DGS",
    ".xiidm": "IIDM", ".iidm": "IIDM", ".jiidm": "IIDM (JSON)", ".txt": "IEEE-CDF",
}


def need_pypowsybl() -> Any:
    """The pypowsybl module, or a one-line error naming the extra to install."""
    import logging

    # pypowsybl logs notices (e.g. a missing optional extra) on import; without a handler Python
    # would print them. A NullHandler keeps them for applications that configure logging.
    logging.getLogger("powsybl").addHandler(logging.NullHandler())
    try:
        import pypowsybl
        import pypowsybl.network  # noqa: F401
    except ImportError:
        raise GridshieldError(
            "reading CGMES, PSS/E, UCTE, PowerFactory, IIDM and IEEE-CDF files needs pypowsybl: "
            "pip install 'gridshield[powsybl]'"
        ) from None
    return pypowsybl


def read_powsybl(
    path: str | os.PathLike[str], *, approximate: bool = False, name: str | None = None,
    max_uncompressed_bytes: int | None = None,
) -> Grid:
    """Read a grid model file with pypowsybl and convert it (see the module docstring).

    Parameters
    ----------
    path
        A CGMES zip or XML file, PSS/E ``.raw``/``.rawx``, UCTE ``.uct``, PowerFactory ``.dgs``,
        IIDM ``.xiidm``/``.iidm``/``.jiidm`` or IEEE-CDF ``.txt`` file.
    approximate
        Accept the documented approximations instead of refusing (see :func:`from_pypowsybl`).
    name
        Grid name (default: the file stem).
    max_uncompressed_bytes
        Largest size a CGMES zip may declare once uncompressed (default :data:`MAX_ZIP_BYTES`).
    """
    pypowsybl = need_pypowsybl()
    p = Path(path)
    if not p.is_file():
        raise GridshieldError(f"case file {str(path)!r} does not exist")
    params = {}
    absent: list[str] = []
    if FORMATS.get(p.suffix.lower()) == "CGMES":
        absent = check_cgmes_set(p, MAX_ZIP_BYTES if max_uncompressed_bytes is None else max_uncompressed_bytes)
        # substation coordinates from the GL (geographical location) profile, where the set has one
        params["iidm.import.cgmes.post-processors"] = "cgmesGLImport"
    elif p.suffix.lower() == ".raw":
        check_raw_version(p)
    try:
        network = pypowsybl.network.load(str(p), parameters=params)
    except Exception as exc:  # noqa: BLE001 - pypowsybl raises its own error type for every parse problem
        msg = " ".join(str(exc).split())
        raise ParseError(str(path), None, f"pypowsybl cannot read it as {FORMATS.get(p.suffix.lower(), 'a grid model')}: "
                         f"{msg[:300]}") from None
    dl = _dangling(network)
    if dl is not None and "pairing_key" in dl and (dl["pairing_key"] == "XnodeCode-unknown").any():
        ids = dl.index[dl["pairing_key"] == "XnodeCode-unknown"].tolist()
        raise ParseError(str(path), None, f"{len(ids)} boundary lines ({', '.join(map(str, ids[:3]))}, ...) end at boundary "
                                          "points the set does not define: the boundary set is missing; add its EQ_BD and "
                                          "TP_BD files to the zip" + (f" (the set depends on {absent[0]})" if absent else ""))
    return from_pypowsybl(network, approximate=approximate, name=name or p.stem, source=str(path))


# --------------------------------------------------------------------------------------------
# CGMES sets: complete before pypowsybl reads them
# --------------------------------------------------------------------------------------------
#: Most XML members of a CGMES zip read (a set has a handful; a bound before reading).
MAX_CGMES_MEMBERS = 500
#: Largest uncompressed size a CGMES zip may declare (bytes), checked before pypowsybl expands it.
MAX_ZIP_BYTES = 8 * 1024**3
#: Bytes of each member's header read to find its profile and dependencies.
_HEADER_BYTES = 64_000

_PROFILES = (("EquipmentBoundary", "EQ_BD"), ("TopologyBoundary", "TP_BD"), ("EquipmentCore", "EQ"),
             ("CoreEquipment", "EQ"), ("Equipment", "EQ"), ("SteadyStateHypothesis", "SSH"), ("Topology", "TP"),
             ("StateVariables", "SV"), ("GeographicalLocation", "GL"), ("DiagramLayout", "DL"), ("Dynamics", "DY"))


def _cgmes_headers(path: Path, max_uncompressed_bytes: int) -> list[tuple[str, str, set[str], set[str]]]:
    """``(member, model id, profiles, dependencies)`` of every model in a CGMES zip or XML file."""
    import zipfile

    def parse(name: str, head: str) -> tuple[str, str, set[str], set[str]]:
        about = re.search(r'FullModel\s+rdf:about="([^"]+)"', head)
        urls = re.findall(r"Model\.profile>\s*([^<\s]+)", head)
        profiles = set()
        for u in urls:
            for key, short in _PROFILES:
                if key in u:
                    profiles.add(short)
                    break
        deps = set(re.findall(r'Model\.DependentOn\s+rdf:resource="([^"]+)"', head))
        return name, about.group(1) if about else "", profiles, deps

    if path.suffix.lower() == ".xml":
        with open(path, "rb") as fh:
            return [parse(path.name, fh.read(_HEADER_BYTES).decode("utf-8", "replace"))]
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ParseError(str(path), None, f"not a readable zip file ({exc}); a CGMES set is a zip of XML profiles") from None
    with zf:
        names = [n for n in zf.namelist() if n.lower().endswith(".xml")]
        total = sum(i.file_size for i in zf.infolist())
        if total > max_uncompressed_bytes:
            raise ParseError(str(path), None, f"the zip expands to {total / 1e6:,.0f} MB, more than the limit of "
                                              f"{max_uncompressed_bytes / 1e6:,.0f} MB for a grid model")
        if len(names) > MAX_CGMES_MEMBERS:
            raise ParseError(str(path), None, f"{len(names)} XML files; a CGMES set has at most {MAX_CGMES_MEMBERS} "
                                              "(a bound, so that a hostile archive cannot exhaust the machine)")
        out = []
        for n in names:
            try:
                with zf.open(n) as fh:
                    out.append(parse(n, fh.read(_HEADER_BYTES).decode("utf-8", "replace")))
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise ParseError(str(path), None, f"member {n!r} cannot be read: {exc}") from None
    return out


def check_cgmes_set(path: Path, max_uncompressed_bytes: int = 0) -> list[str]:
    """Refuse a CGMES set that lacks a profile; return the models it depends on that it does not hold.

    A grid model needs the equipment (EQ), topology (TP), steady-state hypothesis (SSH) and
    state variables (SV) profiles. A ``Model.DependentOn`` outside the set is returned, not refused:
    exporters often name a boundary set the model does not use; whether it was needed shows after
    reading (boundary points without a boundary node, see :func:`read_powsybl`).
    """
    heads = _cgmes_headers(path, max_uncompressed_bytes or MAX_ZIP_BYTES)
    if not heads or not any(h[1] for h in heads):
        raise ParseError(str(path), None, "no CGMES model header (md:FullModel) found; is this a CGMES set?")
    profiles = set().union(*(h[2] for h in heads))
    missing = [p for p in ("EQ", "TP", "SSH", "SV") if p not in profiles]
    if missing:
        raise ParseError(str(path), None, f"the CGMES set lacks the {', '.join(missing)} profile(s) (it has "
                                          f"{', '.join(sorted(profiles)) or 'none'}); a grid model needs EQ, TP, SSH and SV")
    ids = {h[1] for h in heads}
    return sorted(set().union(*(h[3] for h in heads)) - ids)


#: PSS/E RAW versions pypowsybl reads.
RAW_VERSIONS = (32, 33, 35)


def check_raw_version(path: Path) -> None:
    """Refuse a PSS/E RAW file of a version pypowsybl does not read, saying which it is."""
    with open(path, "rb") as fh:
        first = fh.readline(4096).decode("latin-1", "replace").split("/")[0]
    fields = [f.strip() for f in first.split(",")]
    try:
        version = int(float(fields[2])) if len(fields) > 2 and fields[2] else None
    except ValueError:
        version = None
    if version is not None and version not in RAW_VERSIONS:
        raise ParseError(str(path), 1, f"PSS/E RAW version {version}; pypowsybl reads versions "
                                       f"{', '.join(map(str, RAW_VERSIONS[:-1]))} and {RAW_VERSIONS[-1]} (save the case as "
                                       "version 33 in PSS/E)")


# --------------------------------------------------------------------------------------------
# the builder: buses are created on demand, elements appended in order
# --------------------------------------------------------------------------------------------
@dataclass
class _Build:
    """Rows of the grid tables while the network is read."""

    bus_row: dict[str, int] = field(default_factory=dict)  # bus-view id (or aux key) -> row
    bus: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "id", "number", "vm_pu", "va_deg", "base_kv", "vmax_pu", "vmin_pu", "name", "substation", "voltage_level",
        "x", "y")})
    br: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "id", "from_bus", "to_bus", "r_pu", "x_pu", "b_pu", "rate_a_mva", "rate_b_mva", "rate_c_mva", "tap",
        "shift_deg", "in_service", "name", "g_from_pu", "b_from_pu", "g_to_pu", "b_to_pu")})
    gen: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "id", "bus", "p_mw", "q_mvar", "q_max_mvar", "q_min_mvar", "vg_pu", "mbase_mva", "in_service", "p_max_mw",
        "p_min_mw", "name", "fuel")})
    controls: list[bool] = field(default_factory=list)  # per generator: controls its bus voltage
    own_target: list[float] = field(default_factory=list)  # per generator: voltage target at its own bus (p.u.)
    load: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in ("id", "bus", "p_mw", "q_mvar", "name")})
    shunt: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in ("id", "bus", "g_mw", "b_mvar")})
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (what, ids, how)
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # site -> (lon, lat)
    refused: list[str] = field(default_factory=list)

    def add_bus(self, key: str, **cols: Any) -> int:
        row = len(self.bus["id"])
        self.bus_row[key] = row
        for k, lst in self.bus.items():
            lst.append(cols[k])
        return row

    def add(self, table: dict[str, list[Any]], **cols: Any) -> None:
        cols["id"] = cols["id"].strip()  # PSS/E ids carry the padding of their two-character fields
        for k, lst in table.items():
            lst.append(cols[k])

    def add_gen(self, controls: bool, own_target: float, **cols: Any) -> None:
        self.add(self.gen, **cols)
        self.controls.append(controls)
        self.own_target.append(own_target)

    def note(self, what: str, ids: Iterable[str], how: str) -> None:
        ids = list(ids)
        if ids:
            self.notes.append((what, " ".join(i.strip() for i in ids), how))


def _records(df: Any) -> list[dict[str, Any]]:
    """The rows of a pypowsybl data frame as dicts with the element id under ``"id"`` (fast; no ``iterrows``)."""
    if df is None or not len(df):
        return []
    out = df.reset_index()
    return out.rename(columns={out.columns[0]: "id"}).to_dict("records")


def _f(v: Any, default: float = 0.0) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def from_pypowsybl(
    network: Any, *, approximate: bool = False, name: str | None = None, source: str = "<pypowsybl network>"
) -> Grid:
    """Convert a pypowsybl network (its bus view) into a :class:`Grid`; see the module docstring.

    Parameters
    ----------
    network
        A ``pypowsybl.network.Network`` (loaded from a file or built in memory). It is only read.
    approximate
        Accept remote voltage control as local control with the equivalent local target (as
        OpenLoadFlow with remote control off) instead of refusing; the approximations taken are
        listed in ``grid.extra_tables["gs_import_notes"]``.
    name
        Grid name (default: the network's name or id).
    source
        What to call the network in messages (a file name).

    Raises
    ------
    GridshieldError
        For elements gridshield cannot represent (listed by id) and networks without buses.
    """
    need_pypowsybl()
    fmt = str(getattr(network, "source_format", "") or "")
    b = _Build()
    vls = network.get_voltage_levels(attributes=["name", "substation_id", "nominal_v", "high_voltage_limit",
                                                  "low_voltage_limit"])
    subs = network.get_substations(attributes=["name"])
    nom = vls["nominal_v"].astype(float).to_dict()
    _buses(network, b, vls, subs, psse=fmt.upper().startswith("PSS"))
    if not b.bus["id"]:
        raise GridshieldError(f"{source}: the network has no energisable bus (bus view is empty)")
    limits = _limits(network)
    _lines(network, b, nom, limits)
    _transformers(network, b, nom, limits, vls)
    _boundaries(network, b, nom, limits)
    _injections(network, b, nom, approximate)
    if b.refused:
        raise GridshieldError(
            f"{source}: " + "; ".join(b.refused) + ". Pass approximate=True (CLI: --approximate) to accept local "
            "control with the equivalent local voltage target (OpenLoadFlow's rule with remote control off)"
        )
    return _assemble(network, b, vls, subs, name or str(network.name or network.id or "grid"), source)


# --------------------------------------------------------------------------------------------
# buses and sites
# --------------------------------------------------------------------------------------------
def _buses(network: Any, b: _Build, vls: Any, subs: Any, psse: bool) -> None:
    buses = network.get_buses(attributes=["name", "v_mag", "v_angle", "voltage_level_id"])
    names: dict[str, str] = {}
    numbers: dict[str, int] = {}
    if psse:
        # PSS/E: the bus-breaker view's buses are the RAW file's buses, "B<number>", with their names
        bb = network.get_bus_breaker_view_buses(attributes=["name", "bus_id"]).reset_index()
        bb = bb.rename(columns={bb.columns[0]: "bb_id"})
        bb = bb[bb["bus_id"].astype(str) != ""]
        names = bb[bb["name"].astype(str) != ""].groupby("bus_id")["name"].first().to_dict()
        num = bb["bb_id"].astype(str).str.extract(r"^B(\d+)$")[0]
        ok = num.notna()
        numbers = pd_min(bb.loc[ok, "bus_id"], num[ok].astype(int))
    pos = b.positions = _positions(network)
    vl = buses["voltage_level_id"].astype(str).to_numpy()
    vn = vls["nominal_v"].reindex(vl).to_numpy(float)
    sub = vls["substation_id"].reindex(vl).fillna("").astype(str).to_numpy()
    hi = vls["high_voltage_limit"].reindex(vl).to_numpy(float)
    lo = vls["low_voltage_limit"].reindex(vl).to_numpy(float)
    vm = buses["v_mag"].to_numpy(float) / vn
    va = buses["v_angle"].to_numpy(float)
    used_numbers: set[int] = set()
    view_names = buses["name"].tolist()
    for k, bus_id in enumerate(buses.index.astype(str).tolist()):
        site = sub[k] or vl[k]
        number, bid = k + 1, f"bus:{bus_id}"
        n = numbers.get(bus_id)
        if n is not None and n not in used_numbers:
            number, bid = n, f"bus:{n}"
        used_numbers.add(number)
        lon, lat = pos.get(site, (np.nan, np.nan))
        nm = names.get(bus_id, view_names[k])
        b.add_bus(
            bus_id, id=bid, number=number, vm_pu=vm[k] if np.isfinite(vm[k]) and vm[k] > 0 else 1.0,
            va_deg=va[k] if np.isfinite(va[k]) else 0.0, base_kv=vn[k],
            vmax_pu=hi[k] / vn[k] if np.isfinite(hi[k]) and vn[k] else 1.1,
            vmin_pu=lo[k] / vn[k] if np.isfinite(lo[k]) and vn[k] else 0.9,
            name=nm if isinstance(nm, str) else "", substation=site, voltage_level=vl[k], x=lon, y=lat,
        )
    if psse and len(set(b.bus["number"])) != len(b.bus["number"]):  # pragma: no cover - numbers clash only if renamed
        b.bus["number"] = list(range(1, len(b.bus["number"]) + 1))


def pd_min(keys: Any, values: Any) -> dict[str, int]:
    """Smallest value per key (two aligned pandas series)."""
    if not len(keys):
        return {}
    return values.groupby(keys.to_numpy()).min().to_dict()


def _positions(network: Any) -> dict[str, tuple[float, float]]:
    """(longitude, latitude) per substation from the substation position extension (CGMES GL profile)."""
    try:
        ext = network.get_extensions("substationPosition")
    except Exception:  # noqa: BLE001 - an extension pypowsybl does not know in this version
        return {}
    out = {}
    for row in _records(ext):
        lat, lon = _f(row.get("latitude"), np.nan), _f(row.get("longitude"), np.nan)
        if np.isfinite(lat) and np.isfinite(lon):
            out[str(row["id"])] = (lon, lat)
    return out


def _aux_bus(b: _Build, key: str, bid: str, vn: float, site: str, vl: str) -> int:
    """A bus gridshield adds (star point, open end, boundary), created once per key."""
    if key in b.bus_row:
        return b.bus_row[key]
    lon, lat = b.positions.get(site, (np.nan, np.nan))
    return b.add_bus(key, id=bid, number=len(b.bus["id"]) + 1, vm_pu=1.0, va_deg=0.0, base_kv=vn, vmax_pu=1.1,
                     vmin_pu=0.9, name="", substation=site, voltage_level=vl, x=lon, y=lat)


# --------------------------------------------------------------------------------------------
# ratings
# --------------------------------------------------------------------------------------------
def _limits(network: Any) -> list[Any]:
    """Selected current / apparent-power limits per (element, side): permanent, longest and shortest temporary.

    Three frames indexed by ``(element_id, side)`` with the limit ``value`` (A or MVA) and ``current``
    (True for a current limit).
    """
    import pandas as pd

    try:
        ol = network.get_operational_limits(attributes=["value", "selected"]).reset_index()
    except Exception:  # noqa: BLE001 - no limits in this network or this pypowsybl version
        ol = None
    if ol is None or not len(ol):
        empty = pd.DataFrame({"value": [], "current": []}, index=pd.MultiIndex.from_arrays([[], []]))
        return [empty, empty, empty]
    if "selected" in ol:
        ol = ol[ol["selected"].astype(bool)]
    ol = ol[ol["type"].isin(("CURRENT", "APPARENT_POWER"))].copy()
    ol["current"] = ol["type"] == "CURRENT"
    ol["element_id"] = ol["element_id"].astype(str)
    ol["side"] = ol["side"].astype(str)
    keys = ["element_id", "side"]
    perm = ol[ol["acceptable_duration"] < 0].sort_values("value").groupby(keys)[["value", "current"]].first()
    tmp = ol[ol["acceptable_duration"] >= 0].sort_values("acceptable_duration")
    longest = tmp.groupby(keys)[["value", "current"]].last()
    shortest = tmp.groupby(keys)[["value", "current"]].first()
    return [perm, longest, shortest]


def _ratings(limits: list[Any], ids: list[str], sides: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """``(3, n)`` ratings in MVA (rate a, b, c; 0 = none): the smallest over the sides, current limits at nominal voltage.

    Permanent limit -> rate a, the longest temporary limit -> rate b, the shortest -> rate c.
    """
    import pandas as pd

    n = len(ids)
    best = np.full((3, n), np.inf)
    for side, vn in sides:
        key = pd.MultiIndex.from_arrays([np.asarray(ids, dtype=object), np.full(n, side, dtype=object)])
        for j, frame in enumerate(limits):
            if not len(frame):
                continue
            got = frame.reindex(key)
            val = got["value"].to_numpy(float)
            cur = got["current"].astype(object).where(got["current"].notna(), True).to_numpy(bool)
            with np.errstate(over="ignore"):  # IIDM writes "no limit" as the largest double
                mva = np.where(cur, math.sqrt(3) * val * np.asarray(vn, float) / 1000.0, val)
            best[j] = np.fmin(best[j], np.where(np.isnan(mva), np.inf, mva))
    return np.where(np.isfinite(best), best, 0.0)


# --------------------------------------------------------------------------------------------
# branches
# --------------------------------------------------------------------------------------------
def _ends(b: _Build, eid: str, bus1: str, bus2: str, vn1: float, vn2: float, vl1: str, vl2: str,
          what: str) -> tuple[int, int] | None:
    """Rows of the two ends; an open end gets its own bus so that the branch keeps its charging."""
    r1, r2 = b.bus_row.get(bus1), b.bus_row.get(bus2)
    if r1 is None and r2 is None:
        b.note(f"{what} connected nowhere (left out)", [eid], "")
        return None
    if r1 is None:
        site = b.bus["substation"][r2]
        r1 = _aux_bus(b, f"{eid}#1", f"bus:{eid}_open1", vn1, site, vl1)
    if r2 is None:
        site = b.bus["substation"][r1]
        r2 = _aux_bus(b, f"{eid}#2", f"bus:{eid}_open2", vn2, site, vl2)
    return r1, r2


def _add_branch(b: _Build, eid: str, ends: tuple[int, int], *, zb: float, r: float, x: float, g1: float, b1: float,
                g2: float, b2: float, tap: float, shift_deg: float, rates: np.ndarray, name: str) -> None:
    bf, bt = b1 * zb, b2 * zb
    charging = bf + bt if bf == bt else 0.0
    b.add(b.br, id=f"branch:{eid}", from_bus=ends[0], to_bus=ends[1], r_pu=r / zb, x_pu=x / zb, b_pu=charging,
          rate_a_mva=rates[0], rate_b_mva=rates[1], rate_c_mva=rates[2], tap=tap, shift_deg=shift_deg,
          in_service=True, name=name, g_from_pu=g1 * zb, b_from_pu=0.0 if charging else bf, g_to_pu=g2 * zb,
          b_to_pu=0.0 if charging else bt)


def _add_two_terminal(b: _Build, df: Any, what: str, nom: dict, limits: list[Any], *, r: np.ndarray, x: np.ndarray,
                      g1: np.ndarray, b1: np.ndarray, g2: np.ndarray, b2: np.ndarray, tap: np.ndarray,
                      shift: np.ndarray) -> None:
    """Append two-terminal branches (lines, transformers) in bulk; impedances in ohm and S on the side-2 base."""
    import pandas as pd

    if not len(df):
        return
    ids = [str(i).strip() for i in df.index.tolist()]
    vl1, vl2 = df["voltage_level1_id"].astype(str).to_numpy(), df["voltage_level2_id"].astype(str).to_numpy()
    vn1 = np.array([nom[v] for v in vl1], dtype=float)
    vn2 = np.array([nom[v] for v in vl2], dtype=float)
    known = pd.Index(list(b.bus_row))
    f = known.get_indexer(df["bus1_id"].astype(str))
    t = known.get_indexer(df["bus2_id"].astype(str))
    rows = np.array([b.bus_row[k] for k in known], dtype=np.int64) if len(known) else np.zeros(0, np.int64)
    f = np.where(f >= 0, rows[np.maximum(f, 0)], -1) if rows.size else f
    t = np.where(t >= 0, rows[np.maximum(t, 0)], -1) if rows.size else t
    rates = _ratings(limits, ids, [("ONE", vn1), ("TWO", vn2)])
    zb = vn2 * vn2 / SB_MVA
    names = df["name"].tolist() if "name" in df else [""] * len(df)
    bus1, bus2 = df["bus1_id"].astype(str).tolist(), df["bus2_id"].astype(str).tolist()
    for k in np.flatnonzero((f < 0) | (t < 0)).tolist():  # an open end: its own bus (or nowhere: left out)
        ends = _ends(b, ids[k], bus1[k], bus2[k], vn1[k], vn2[k], vl1[k], vl2[k], what)
        f[k], t[k] = ends if ends is not None else (-1, -1)
    ok = (f >= 0) & (t >= 0)
    bf, bt = b1 * zb, b2 * zb
    sym = bf == bt
    cols = {
        "id": [f"branch:{ids[k]}" for k in np.flatnonzero(ok)], "from_bus": f[ok], "to_bus": t[ok],
        "r_pu": (r / zb)[ok], "x_pu": (x / zb)[ok], "b_pu": np.where(sym, bf + bt, 0.0)[ok],
        "rate_a_mva": rates[0][ok], "rate_b_mva": rates[1][ok], "rate_c_mva": rates[2][ok], "tap": tap[ok],
        "shift_deg": shift[ok], "in_service": np.ones(int(ok.sum()), bool),
        "name": [n if isinstance(n, str) else "" for n, o in zip(names, ok, strict=True) if o],
        "g_from_pu": (g1 * zb)[ok], "b_from_pu": np.where(sym, 0.0, bf)[ok], "g_to_pu": (g2 * zb)[ok],
        "b_to_pu": np.where(sym, 0.0, bt)[ok],
    }
    for k, v in cols.items():
        b.br[k].extend(v.tolist() if isinstance(v, np.ndarray) else v)


def _lines(network: Any, b: _Build, nom: dict, limits: list[Any]) -> None:
    df = network.get_lines(attributes=["name", "r", "x", "g1", "b1", "g2", "b2", "bus1_id", "bus2_id",
                                       "voltage_level1_id", "voltage_level2_id"])
    if not len(df):
        return
    vn1 = df["voltage_level1_id"].map(nom).to_numpy(float)
    vn2 = df["voltage_level2_id"].map(nom).to_numpy(float)
    col = {c: df[c].to_numpy(float) for c in ("r", "x", "g1", "b1", "g2", "b2")}
    # OpenLoadFlow: impedances on the side-2 base, the ratio of the nominal voltages at side 1
    _add_two_terminal(b, df, "lines", nom, limits, **col, tap=np.where(vn1 == vn2, 0.0, vn2 / vn1),
                      shift=np.zeros(len(df)))


def _name(r: Any) -> str:
    n = r.get("name", "")
    return n if isinstance(n, str) else ""


def _transformers(network: Any, b: _Build, nom: dict, limits: list[Any], vls: Any) -> None:
    df = network.get_2_windings_transformers(attributes=[
        "name", "rho", "alpha", "r_at_current_tap", "x_at_current_tap", "g_at_current_tap", "b_at_current_tap",
        "bus1_id", "bus2_id", "voltage_level1_id", "voltage_level2_id"])
    if len(df):
        vn1 = df["voltage_level1_id"].map(nom).to_numpy(float)
        vn2 = df["voltage_level2_id"].map(nom).to_numpy(float)
        zero = np.zeros(len(df))
        # rho = rated_u2 / rated_u1 * the taps' ratios; OpenLoadFlow's r1 = rho / (vn2 / vn1) = 1 / tap;
        # the magnetising admittance at side 1 behind the ratio (twtSplitShuntAdmittance off)
        _add_two_terminal(
            b, df, "transformers", nom, limits, r=df["r_at_current_tap"].to_numpy(float),
            x=df["x_at_current_tap"].to_numpy(float), g1=df["g_at_current_tap"].to_numpy(float),
            b1=df["b_at_current_tap"].to_numpy(float), g2=zero, b2=zero,
            tap=(vn2 / vn1) / df["rho"].to_numpy(float), shift=-df["alpha"].to_numpy(float),
        )
    for r in _records(network.get_3_windings_transformers(all_attributes=True)):
        eid = r["id"]
        u0 = float(r["rated_u0"])
        legs = [(i, r[f"bus{i}_id"], r[f"voltage_level{i}_id"]) for i in (1, 2, 3)]
        if not any(bus for _, bus, _ in legs):
            b.note("three-winding transformers connected nowhere (left out)", [str(eid)], "")
            continue
        vl1 = r["voltage_level1_id"]
        site = vls.at[vl1, "substation_id"] if isinstance(vls.at[vl1, "substation_id"], str) else vl1
        star = _aux_bus(b, f"{eid}#star", f"bus:{eid}_star", u0, site, str(vl1))
        b.bus["vm_pu"][star] = _f(r.get("v"), np.nan) / u0 if np.isfinite(_f(r.get("v"), np.nan)) else 1.0
        b.bus["va_deg"][star] = _f(r.get("angle"))
        for i, bus, vl in legs:
            vn = nom[vl]
            leg = f"{eid}_leg{i}"
            r_leg = b.bus_row.get(bus)
            if r_leg is None:
                r_leg = _aux_bus(b, f"{leg}#1", f"bus:{leg}_open1", vn, site, str(vl))
            # leg: side 1 at the winding's bus, side 2 at the star (rated_u0); rho_i = u0 / rated_u_i * taps
            tap = (u0 / vn) / float(r[f"rho{i}"])
            _add_branch(b, leg, (r_leg, star), zb=u0 * u0 / SB_MVA, r=r[f"r{i}_at_current_tap"],
                        x=r[f"x{i}_at_current_tap"], g1=r[f"g{i}_at_current_tap"], b1=r[f"b{i}_at_current_tap"],
                        g2=0.0, b2=0.0, tap=tap, shift_deg=-float(r[f"alpha{i}"]),
                        rates=_ratings(limits, [str(eid)], [(("ONE", "TWO", "THREE")[i - 1], np.array([vn]))])[:, 0],
                        name=_name(r))


def _dangling(network: Any) -> Any:
    for getter in ("get_dangling_lines", "get_boundary_lines"):
        fn = getattr(network, getter, None)
        if fn is not None:
            return fn(all_attributes=True)
    return None


def _boundaries(network: Any, b: _Build, nom: dict, limits: dict) -> None:
    """Dangling lines to boundary buses; the two halves of a tie line share one boundary bus."""
    dl = _dangling(network)
    if dl is None or not len(dl):
        return
    gen = None
    for getter in ("get_dangling_lines_generation", "get_boundary_lines_generation"):
        fn = getattr(network, getter, None)
        if fn is not None:
            gen = fn()
            break
    for r in _records(dl):
        eid = r["id"]
        vl = r["voltage_level_id"]
        vn = nom[vl]
        row = b.bus_row.get(r["bus_id"])
        if row is None:
            b.note("dangling lines connected nowhere (left out)", [str(eid)], "")
            continue
        tie = r.get("tie_line_id", "")
        paired = bool(r.get("paired", False)) and isinstance(tie, str) and tie
        key = f"{tie}#boundary" if paired else f"{eid}#boundary"
        bid = f"bus:{tie}_boundary" if paired else f"bus:{eid}_boundary"
        bnd = _aux_bus(b, key, bid, vn, "", "")
        if not paired:
            v = _f(r.get("boundary_v_mag"), np.nan)
            if np.isfinite(v) and v > 0:
                b.bus["vm_pu"][bnd], b.bus["va_deg"][bnd] = v / vn, _f(r.get("boundary_v_angle"))
        # the two halves of a tie line may have different nominal voltages: the boundary bus has the
        # first one's and a half is then a line between two nominal voltages (ratio at the network side)
        vb = b.bus["base_kv"][bnd]
        # OpenLoadFlow: the dangling line's shunt admittance is on the network side (side 1) only
        _add_branch(b, str(eid), (row, bnd), zb=vb * vb / SB_MVA, r=r["r"], x=r["x"], g1=r["g"], b1=r["b"], g2=0.0,
                    b2=0.0, tap=0.0 if vb == vn else vb / vn, shift_deg=0.0,
                    rates=_ratings(limits, [str(eid)], [("NONE", np.array([vn])), ("ONE", np.array([vn]))])[:, 0],
                    name=_name(r))
        if paired:
            continue
        b.add(b.load, id=f"load:{eid}", bus=bnd, p_mw=_f(r["p0"]), q_mvar=_f(r["q0"]), name=f"boundary {_name(r)}".strip())
        if gen is not None and eid in gen.index:
            g = gen.loc[eid]
            vreg = bool(g.get("voltage_regulator_on", False))
            tv = _f(g.get("target_v"), np.nan) / vn
            ok = vreg and np.isfinite(tv) and MIN_TARGET_V <= tv <= MAX_TARGET_V
            b.add_gen(ok, tv, id=f"gen:{eid}", bus=bnd, p_mw=_f(g["target_p"]), q_mvar=_f(g.get("target_q")),
                      q_max_mvar=np.inf, q_min_mvar=-np.inf, vg_pu=tv if ok else 1.0, mbase_mva=SB_MVA,
                      in_service=True, p_max_mw=_f(g.get("max_p"), np.inf), p_min_mw=_f(g.get("min_p"), -np.inf),
                      name="boundary generation", fuel="import")


# --------------------------------------------------------------------------------------------
# injections
# --------------------------------------------------------------------------------------------
def _voltage_control(b: _Build, kind: str, eid: str, r: Any, nom: dict, approximate: bool, q_range: float,
                     started: bool) -> float | None:
    """The voltage set point (p.u.) if the unit controls voltage as OpenLoadFlow decides, else ``None``."""
    if not bool(r.get("voltage_regulator_on", False)):
        return None
    if q_range < MIN_REACTIVE_RANGE_MVAR or not started:
        return None
    reg = r.get("regulated_bus_id", "")
    local = not isinstance(reg, str) or not reg or reg == r["bus_id"]
    if local:
        target = _f(r.get("target_v"), np.nan) / nom[r["voltage_level_id"]]
    else:
        rvl = b.bus["voltage_level"][b.bus_row[reg]] if reg in b.bus_row else r["voltage_level_id"]
        target = _f(r.get("target_v"), np.nan) / nom[rvl]
        eq = _f(r.get("equivalent_local_target_v"), np.nan)
        if np.isfinite(eq):
            target = eq / nom[r["voltage_level_id"]]
        if not approximate:
            b.refused.append(f"{kind} {eid} controls the voltage of a remote bus ({reg}), which gridshield cannot model")
        else:
            b.note(f"remote voltage control by {kind}s read as local control", [eid], "equivalent local target")
    if not (np.isfinite(target) and MIN_TARGET_V <= target <= MAX_TARGET_V):
        return None
    return float(target)


def _injections(network: Any, b: _Build, nom: dict, approximate: bool) -> None:
    curves = None
    gen_cols = ["name", "energy_source", "target_p", "min_p", "max_p", "min_q", "max_q", "min_q_at_target_p",
                "max_q_at_target_p", "rated_s", "reactive_limits_kind", "target_v", "equivalent_local_target_v",
                "target_q", "voltage_regulator_on", "regulated_bus_id", "bus_id", "voltage_level_id"]
    for r in _records(network.get_generators(attributes=gen_cols)):
        eid = r["id"]
        row = b.bus_row.get(r["bus_id"])
        if row is None:
            b.note("generators not connected (left out)", [str(eid)], "")
            continue
        qmin, qmax = _f(r.get("min_q_at_target_p"), np.nan), _f(r.get("max_q_at_target_p"), np.nan)
        if not np.isfinite(qmin):
            qmin = _f(r["min_q"], -np.inf)
        if not np.isfinite(qmax):
            qmax = _f(r["max_q"], np.inf)
        if r.get("reactive_limits_kind") == "CURVE":
            if curves is None:
                curves = network.get_reactive_capability_curve_points()
            pts = curves.loc[eid]
            q_range = float((pts["max_q"] - pts["min_q"]).max())
        else:
            q_range = qmax - qmin
        tp = _f(r["target_p"])
        started = not (abs(tp) < _P_EPS and _f(r["min_p"]) > _P_EPS)
        vg = _voltage_control(b, "generator", str(eid), r, nom, approximate, q_range, started)
        fuel = str(r.get("energy_source", "") or "").lower()
        own = _f(r.get("target_v"), np.nan) / nom[r["voltage_level_id"]]
        b.add_gen(vg is not None, own, id=f"gen:{eid}", bus=row, p_mw=tp, q_mvar=_f(r.get("target_q")),
                  q_max_mvar=qmax, q_min_mvar=qmin, vg_pu=vg if vg is not None else 1.0,
                  mbase_mva=_f(r.get("rated_s"), SB_MVA) or SB_MVA, in_service=True, p_max_mw=_f(r["max_p"], np.inf),
                  p_min_mw=_f(r["min_p"], -np.inf), name=_name(r), fuel="" if fuel == "other" else fuel)
    bat = network.get_batteries(all_attributes=True)
    for r in _records(bat):
        eid = r["id"]
        row = b.bus_row.get(r["bus_id"])
        if row is None:
            b.note("batteries not connected (left out)", [str(eid)], "")
            continue
        q_range = _f(r.get("max_q_at_target_p"), 0) - _f(r.get("min_q_at_target_p"), 0)
        vg = _voltage_control(b, "battery", str(eid), r, nom, approximate, q_range, True)
        b.add_gen(vg is not None, np.nan, id=f"gen:{eid}", bus=row, p_mw=_f(r["target_p"]),
                  q_mvar=_f(r.get("target_q")), q_max_mvar=_f(r.get("max_q_at_target_p"), np.inf),
                  q_min_mvar=_f(r.get("min_q_at_target_p"), -np.inf), vg_pu=vg if vg is not None else 1.0,
                  mbase_mva=SB_MVA, in_service=True, p_max_mw=_f(r["max_p"], np.inf), p_min_mw=_f(r["min_p"], -np.inf),
                  name=_name(r), fuel="battery")
    _bulk_injections(b, network.get_loads(attributes=["name", "p0", "q0", "bus_id"]), "loads", "load",
                     p=("p0", 1.0), q=("q0", 1.0))
    sh = network.get_shunt_compensators(attributes=["g", "b", "bus_id", "voltage_level_id"])
    if len(sh):
        vn2 = sh["voltage_level_id"].map(nom).to_numpy(float) ** 2
        sh = sh.assign(g_mw=sh["g"].to_numpy(float) * vn2, b_mvar=sh["b"].to_numpy(float) * vn2)
    _bulk_injections(b, sh, "shunt compensators", "shunt", p=("g_mw", 1.0), q=("b_mvar", 1.0))
    _svcs(network, b, nom, approximate)
    _hvdc(network, b, nom, approximate)


def _bulk_injections(b: _Build, df: Any, what: str, kind: str, p: tuple[str, float], q: tuple[str, float]) -> None:
    """Append loads (``kind="load"``: p_mw, q_mvar) or shunts (``"shunt"``: g_mw, b_mvar) in bulk."""
    if df is None or not len(df):
        return
    import pandas as pd

    ids = [str(i).strip() for i in df.index.tolist()]
    known = pd.Index(list(b.bus_row))
    pos = known.get_indexer(df["bus_id"].astype(str))
    rows = np.array([b.bus_row[k] for k in known], dtype=np.int64)
    b.note(f"{what} not connected (left out)", [ids[k] for k in np.flatnonzero(pos < 0)], "")
    ok = pos >= 0
    pv = df[p[0]].to_numpy(float) * p[1]
    qv = df[q[0]].to_numpy(float) * q[1]
    pv, qv = np.where(np.isfinite(pv), pv, 0.0)[ok], np.where(np.isfinite(qv), qv, 0.0)[ok]
    table = b.load if kind == "load" else b.shunt
    cols = ("p_mw", "q_mvar") if kind == "load" else ("g_mw", "b_mvar")
    table["id"].extend(f"{kind}:{ids[k]}" for k in np.flatnonzero(ok))
    table["bus"].extend(rows[pos[ok]].tolist())
    table[cols[0]].extend(pv.tolist())
    table[cols[1]].extend(qv.tolist())
    if "name" in table:
        names = df["name"].tolist() if "name" in df else [""] * len(df)
        table["name"].extend(n if isinstance(n, str) else "" for n, o in zip(names, ok, strict=True) if o)


def _svcs(network: Any, b: _Build, nom: dict, approximate: bool) -> None:
    for r in _records(network.get_static_var_compensators(all_attributes=True)):
        eid = r["id"]
        row = b.bus_row.get(r["bus_id"])
        mode = str(r.get("regulation_mode", "OFF"))
        on = bool(r.get("regulating", True))
        if row is None or not on or mode == "OFF":
            continue
        vn = nom[r["voltage_level_id"]]
        qmin, qmax = _f(r["b_min"]) * vn * vn, _f(r["b_max"]) * vn * vn
        vg = None
        if mode == "VOLTAGE":
            vg = _voltage_control(b, "static var compensator", str(eid), _svc_row(r), nom, approximate, qmax - qmin,
                                  True)
        q = 0.0 if mode == "VOLTAGE" else -_f(r.get("target_q"))  # IIDM's reactive set point is in load convention
        b.add_gen(vg is not None, np.nan, id=f"gen:{eid}", bus=row, p_mw=0.0, q_mvar=q,
                  q_max_mvar=qmax if vg is not None else q, q_min_mvar=qmin if vg is not None else q,
                  vg_pu=vg if vg is not None else 1.0, mbase_mva=SB_MVA, in_service=True, p_max_mw=0.0, p_min_mw=0.0,
                  name=_name(r), fuel="svc")


def _svc_row(r: Any) -> dict[str, Any]:
    d = dict(r)
    d["voltage_regulator_on"] = True
    return d


def _hvdc(network: Any, b: _Build, nom: dict, approximate: bool) -> None:
    """HVDC lines as injections at their converter stations (OpenLoadFlow without AC emulation)."""
    lines = network.get_hvdc_lines(all_attributes=True)
    if not len(lines):
        return
    vsc = network.get_vsc_converter_stations(all_attributes=True)
    lcc = network.get_lcc_converter_stations(all_attributes=True)
    for hid, h in lines.iterrows():
        s1, s2 = h["converter_station1_id"], h["converter_station2_id"]
        rect, inv = (s1, s2) if h["converters_mode"] == "SIDE_1_RECTIFIER_SIDE_2_INVERTER" else (s2, s1)
        lf = {s: _f((vsc if s in vsc.index else lcc).at[s, "loss_factor"]) for s in (s1, s2)}
        p = abs(_f(h["target_p"]))
        p_dc = p * (1 - lf[rect] / 100)
        p_inv = (p_dc - _f(h["r"]) * (p_dc / _f(h["nominal_v"], 1.0)) ** 2) * (1 - lf[inv] / 100)
        b.note("HVDC lines read as injections at their converter stations", [str(hid)], "no AC emulation")
        for sid, p_load in ((rect, p), (inv, -p_inv)):
            table = vsc if sid in vsc.index else lcc
            r = table.loc[sid]
            row = b.bus_row.get(r["bus_id"])
            if row is None:
                continue
            if table is lcc:
                q = abs(p_load * math.tan(math.acos(_f(r["power_factor"], 1.0))))
                b.add(b.load, id=f"load:{sid}", bus=row, p_mw=p_load, q_mvar=q, name=f"HVDC {hid}")
                continue
            qmin, qmax = _f(r.get("min_q_at_target_p"), -np.inf), _f(r.get("max_q_at_target_p"), np.inf)
            vg = _voltage_control(b, "VSC converter station", str(sid), r, nom, approximate, qmax - qmin, True)
            q = _f(r.get("target_q"))
            b.add_gen(vg is not None, np.nan, id=f"gen:{sid}", bus=row, p_mw=-p_load, q_mvar=q, q_max_mvar=qmax,
                      q_min_mvar=qmin, vg_pu=vg if vg is not None else 1.0, mbase_mva=SB_MVA, in_service=True,
                      p_max_mw=-p_load, p_min_mw=-p_load, name=f"HVDC {hid}", fuel="hvdc")


# --------------------------------------------------------------------------------------------
# assembly: bus types, slack, sites
# --------------------------------------------------------------------------------------------
def _slack_rows(network: Any, b: _Build) -> list[int]:
    """Bus rows the model names as slack (PSS/E swing bus, CGMES/IIDM slack terminal)."""
    try:
        ext = network.get_extensions("slackTerminal")
    except Exception:  # noqa: BLE001
        return []
    rows = []
    for r in _records(ext):
        row = b.bus_row.get(r.get("bus_id", ""))
        if row is not None:
            rows.append(row)
    return rows


def _assemble(network: Any, b: _Build, vls: Any, subs: Any, name: str, source: str) -> Grid:
    nb = len(b.bus["id"])
    gen_bus = np.asarray(b.gen["bus"], dtype=np.int64)
    controls = np.asarray(b.controls, dtype=bool)
    own = np.asarray(b.own_target, dtype=float)
    vg = np.asarray(b.gen["vg_pu"], dtype=float)
    btype = np.ones(nb, dtype=np.int64)
    # the model's slack (PSS/E swing bus, slack terminal) must hold a voltage, as MATPOWER's reference
    # bus does and as PSS/E's swing bus holds its scheduled voltage whatever the units' limits
    slack = []
    for row in _slack_rows(network, b):
        at = np.flatnonzero(gen_bus == row)
        if at.size and not controls[at].any():
            ok = at[np.isfinite(own[at]) & (own[at] > 0)]
            if not ok.size:
                continue
            vg[ok], controls[ok] = own[ok[0]], True
            for k in ok.tolist():
                b.gen["q_max_mvar"][k], b.gen["q_min_mvar"][k] = np.inf, -np.inf
            b.note("slack bus holds its units' voltage target without reactive limits",
                   [b.gen["id"][k][4:] for k in ok], "as PSS/E's swing bus")
        if at.size:
            slack.append(row)
    btype[gen_bus[controls]] = 2
    btype[slack] = 3
    # islands without a named slack: the voltage-controlling unit with the largest Pmax (gridshield's rule)
    f, t = np.asarray(b.br["from_bus"], dtype=np.int64), np.asarray(b.br["to_bus"], dtype=np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, label = connected_components(coo_matrix((np.ones(f.size), (f, t)), shape=(nb, nb)), directed=False)
    has_ref = set(label[slack].tolist())
    pmax = np.asarray(b.gen["p_max_mw"], dtype=float)
    for k in np.lexsort((-np.where(np.isfinite(pmax), pmax, 1e12), label[gen_bus] if gen_bus.size else [])).tolist():
        isl = int(label[gen_bus[k]])
        if controls[k] and isl not in has_ref:
            btype[gen_bus[k]] = 3
            has_ref.add(isl)
    b.gen["vg_pu"] = vg.tolist()
    # a unit that does not control voltage at a voltage-controlled bus keeps its reactive output
    q = np.asarray(b.gen["q_mvar"], dtype=float)
    fixed = (btype[gen_bus] != 1) & ~controls if gen_bus.size else np.zeros(0, bool)
    qmax = np.where(fixed, q, np.asarray(b.gen["q_max_mvar"], dtype=float))
    qmin = np.where(fixed, q, np.asarray(b.gen["q_min_mvar"], dtype=float))
    buses = Buses(type=btype, **b.bus)
    gens = Generators(**{**b.gen, "q_max_mvar": qmax, "q_min_mvar": qmin})
    branches = Branches(**b.br)
    loads = Loads(in_service=np.ones(len(b.load["id"]), bool), **b.load)
    shunts = Shunts(in_service=np.ones(len(b.shunt["id"]), bool), **b.shunt)
    extra: dict[str, Any] = {}
    if b.notes:
        extra["gs_import_notes"] = ExtraTable(columns=("what", "ids", "how"), rows=tuple(b.notes), cell=True)
    return Grid(buses=buses, branches=branches, gens=gens, loads=loads, shunts=shunts, base_mva=SB_MVA, name=name,
                extra_tables=extra, site_table=_sites(buses, gens, vls, subs))


def _sites(buses: Buses, gens: Generators, vls: Any, subs: Any) -> Sites:
    import pandas as pd

    sub = buses.substation
    rows = np.flatnonzero(sub != "")
    codes, sites = pd.factorize(sub[rows])
    n = len(sites)
    first = np.full(n, len(buses))
    np.minimum.at(first, codes, rows)
    kv = np.full(n, -np.inf)
    np.maximum.at(kv, codes, buses.base_kv[rows])
    has_gen = np.zeros(len(buses), dtype=bool)
    has_gen[gens.bus] = True
    plant = np.bincount(codes, weights=has_gen[rows].astype(float), minlength=n) > 0
    levels: list[set[str]] = [set() for _ in range(n)]
    for c, v in zip(codes.tolist(), buses.voltage_level[rows].tolist(), strict=True):
        if v:
            levels[c].add(v)
    sub_names = subs["name"].to_dict() if "name" in subs else {}
    vl_names = vls["name"].to_dict() if "name" in vls else {}
    names = []
    for s in sites.tolist():
        nm = sub_names.get(s) or vl_names.get(s) or ""
        names.append(nm if isinstance(nm, str) and nm else s)
    return Sites(
        id=[f"site:{s}" for s in sites.tolist()], name=names, category=np.where(plant, "plant", "substation").tolist(),
        nominal_kv=kv, lon_deg=buses.x[first], lat_deg=buses.y[first],
        voltage_levels=[";".join(sorted(v)) for v in levels],
    )


__all__ = ["FORMATS", "from_pypowsybl", "need_pypowsybl", "read_powsybl"]
