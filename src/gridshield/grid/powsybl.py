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
from gridshield.grid.model import (
    LINK_COLUMNS, LINKS_TABLE, Branches, Buses, ExtraTable, Generators, Grid, Loads, Shunts, Sites,
)

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
        infos = zf.infolist()
        names = [i.filename for i in infos if i.filename.lower().endswith(".xml")]
        if len(names) > MAX_CGMES_MEMBERS:
            raise ParseError(str(path), None, f"{len(names)} XML files; a CGMES set has at most {MAX_CGMES_MEMBERS} "
                                              "(a bound, so that a hostile archive cannot exhaust the machine)")
        declared = sum(i.file_size for i in infos)
        if declared > max_uncompressed_bytes:
            raise ParseError(str(path), None, f"the zip expands to {declared / 1e6:,.0f} MB, more than the limit of "
                                              f"{max_uncompressed_bytes / 1e6:,.0f} MB for a grid model")
    heads = _expand_bounded(path, infos, max_uncompressed_bytes)
    return [parse(n, heads[n].decode("utf-8", "replace")) for n in names]


#: Bytes decompressed per step while a zip is checked (the memory a member may take at once).
_ZIP_STEP = 1 << 20


def _expand_bounded(path: Path, infos: list[Any], max_bytes: int) -> dict[str, bytes]:
    """Decompress every member of a zip, counting the bytes it really expands to; the first bytes of each.

    The sizes a zip's directory declares are not trusted (a forged header can declare a few bytes
    for a member that expands to gigabytes, and pypowsybl would expand it all): each member's data
    is inflated here in steps of at most :data:`_ZIP_STEP` bytes, the running total is stopped at
    ``max_bytes``, and a member that expands to another size than declared, or whose checksum does
    not match, is refused. Returns the first :data:`_HEADER_BYTES` of each member.
    """
    import struct
    import zipfile
    import zlib

    total = 0
    heads: dict[str, bytes] = {}

    def refuse(msg: str) -> ParseError:
        return ParseError(str(path), None, msg)

    with open(path, "rb") as raw:
        for info in infos:
            name = info.filename
            if info.flag_bits & 0x1:
                raise refuse(f"member {name!r} is encrypted; a CGMES set is a plain zip of XML profiles")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise refuse(f"member {name!r} uses compression method {info.compress_type}; gridshield and "
                             "pypowsybl read stored or deflated members")
            raw.seek(info.header_offset)
            local = raw.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise refuse(f"member {name!r}: no local header where the zip's directory points; the zip is corrupt")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            raw.seek(info.header_offset + 30 + name_len + extra_len)
            inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
            left, size, crc, head = info.compress_size, 0, 0, bytearray()
            try:
                while left > 0:
                    data = raw.read(min(_ZIP_STEP, left))
                    if not data:
                        raise refuse(f"member {name!r} is cut short; the zip is truncated")
                    left -= len(data)
                    while data:
                        out = inflate.decompress(data, _ZIP_STEP) if inflate is not None else data
                        data = inflate.unconsumed_tail if inflate is not None else b""
                        size += len(out)
                        total += len(out)
                        if total > max_bytes:
                            raise refuse(f"the zip expands to more than the limit of {max_bytes / 1e6:,.0f} MB for a "
                                         f"grid model (stopped in member {name!r}, whose header declares "
                                         f"{info.file_size:,} bytes)")
                        crc = zlib.crc32(out, crc)
                        if len(head) < _HEADER_BYTES:
                            head.extend(out[:_HEADER_BYTES - len(head)])
                        if inflate is not None and inflate.eof:
                            break
                    if inflate is not None and inflate.eof:
                        break
            except zlib.error as exc:
                raise refuse(f"member {name!r} cannot be inflated ({exc}); the zip is corrupt") from None
            if size != info.file_size:
                raise refuse(f"member {name!r} expands to {size:,} bytes but the zip's header declares "
                             f"{info.file_size:,}: a forged or corrupt zip, refused")
            if crc != info.CRC:
                raise refuse(f"member {name!r} fails its checksum; the zip is corrupt")
            heads[name] = bytes(head)
    return heads


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
    links: list[tuple[str, str]] = field(default_factory=list)  # (link id, member id): injections tied together
    top_number: int = 0  # the largest bus number so far
    _lookup: Any = None  # (index of bus_row's keys, their rows), for rows()

    def add_bus(self, key: str, **cols: Any) -> int:
        row = len(self.bus["id"])
        self.bus_row[key] = row
        for k, lst in self.bus.items():
            lst.append(cols[k])
        self.top_number = max(self.top_number, int(cols["number"]))
        return row

    def extend_buses(self, keys: Any, **cols: Any) -> None:
        """Append buses in bulk (``keys``: the bus-view ids, for :attr:`bus_row`)."""
        start = len(self.bus["id"])
        self.bus_row.update(zip(list(keys), range(start, start + len(keys)), strict=True))
        for k, lst in self.bus.items():
            v = cols[k]
            lst.extend(v.tolist() if isinstance(v, np.ndarray) else v)
        if len(keys):
            self.top_number = max(self.top_number, int(np.max(cols["number"])))

    def next_number(self) -> int:
        """A bus number no bus has yet (for the buses gridshield adds)."""
        return self.top_number + 1

    def rows(self, bus_ids: Any) -> np.ndarray:
        """Rows of bus-view ids (-1 where a bus is not in the bus view: a disconnected end)."""
        import pandas as pd

        if self._lookup is None or len(self._lookup[0]) != len(self.bus_row):  # rebuilt when buses were added
            self._lookup = (pd.Index(list(self.bus_row)),
                            np.fromiter(self.bus_row.values(), dtype=np.int64, count=len(self.bus_row)))
        keys, rows = self._lookup
        pos = keys.get_indexer(pd.Index(np.asarray(bus_ids, dtype=object).astype(str)))
        return np.where(pos >= 0, rows[np.maximum(pos, 0)], -1) if rows.size else np.full(len(pos), -1, np.int64)

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
    nom = _Nominal(vls)
    _buses(network, b, vls, "PSS/E" if fmt.upper().startswith("PSS") else fmt.upper())
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
def _buses(network: Any, b: _Build, vls: Any, fmt: str) -> None:
    """The bus view's buses, in bulk: ids, voltages, limits, sites and positions.

    PSS/E and IEEE-CDF buses keep their numbers (``bus:<number>``) and names; UCTE buses their
    node codes (``bus:<code>``, the first node of a bus where couplers join several); other
    formats use the bus-view id.
    """
    import pandas as pd

    buses = network.get_buses(attributes=["name", "v_mag", "v_angle", "voltage_level_id"])
    n = len(buses)
    view_ids = buses.index.astype(str).to_numpy(dtype=object)
    names = pd.Series(buses["name"].to_numpy(dtype=object), index=view_ids)
    number = np.arange(1, n + 1, dtype=np.int64)
    bid = np.array([f"bus:{i}" for i in view_ids.tolist()], dtype=object)
    if n and fmt in ("PSS/E", "IEEE-CDF", "UCTE"):
        # the bus-breaker view's buses are the file's buses: "B<number>" (PSS/E, IEEE-CDF) or node codes
        bb = network.get_bus_breaker_view_buses(attributes=["name", "bus_id"]).reset_index()
        bb = bb.rename(columns={bb.columns[0]: "bb_id"})
        bb = bb[bb["bus_id"].astype(str) != ""]
        named = bb[bb["name"].astype(str).str.strip() != ""].groupby("bus_id")["name"].first().str.strip()
        names = named.reindex(view_ids).fillna(names)
        if fmt == "UCTE":
            code = bb.groupby("bus_id")["bb_id"].first().reindex(view_ids)
            bid = np.where(code.notna(), "bus:" + code.astype(str).str.strip(), bid)
        else:
            num = bb["bb_id"].astype(str).str.extract(r"^B(\d+)$")[0]
            ok = num.notna()
            file_number = pd_min(bb.loc[ok, "bus_id"], num[ok].astype(np.int64))
            got = pd.Series(view_ids).map(file_number).to_numpy(dtype=float)
            has = np.isfinite(got) & ~pd.Series(got).duplicated().to_numpy()
            # buses without a (unique) number in the file are numbered after the largest one
            top = int(np.nanmax(got[has])) if has.any() else 0
            number = np.where(has, np.where(has, got, 0).astype(np.int64), top + np.cumsum(~has))
            bid = np.where(has, np.array([f"bus:{k}" for k in number.tolist()], dtype=object), bid)
    pos = b.positions = _positions(network)
    vl = buses["voltage_level_id"].astype(str).to_numpy(dtype=object)
    vn = vls["nominal_v"].reindex(vl).to_numpy(float)
    sub = vls["substation_id"].reindex(vl).fillna("").astype(str).to_numpy(dtype=object)
    site = np.where(sub != "", sub, vl)
    hi = vls["high_voltage_limit"].reindex(vl).to_numpy(float)
    lo = vls["low_voltage_limit"].reindex(vl).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        vm = buses["v_mag"].to_numpy(float) / vn
        vmax, vmin = hi / vn, lo / vn
    va = buses["v_angle"].to_numpy(float)
    where = pd.Series(site).map(pos)
    lon = np.array([p[0] if isinstance(p, tuple) else np.nan for p in where.tolist()], dtype=float)
    lat = np.array([p[1] if isinstance(p, tuple) else np.nan for p in where.tolist()], dtype=float)
    nm = names.to_numpy(dtype=object)
    b.extend_buses(
        view_ids, id=bid, number=number, vm_pu=np.where(np.isfinite(vm) & (vm > 0), vm, 1.0),
        va_deg=np.where(np.isfinite(va), va, 0.0), base_kv=vn, vmax_pu=np.where(np.isfinite(vmax), vmax, 1.1),
        vmin_pu=np.where(np.isfinite(vmin), vmin, 0.9), name=[v if isinstance(v, str) else "" for v in nm.tolist()],
        substation=site, voltage_level=vl, x=lon, y=lat,
    )


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
    return b.add_bus(key, id=bid, number=b.next_number(), vm_pu=1.0, va_deg=0.0, base_kv=vn, vmax_pu=1.1,
                     vmin_pu=0.9, name="", substation=site, voltage_level=vl, x=lon, y=lat)


# --------------------------------------------------------------------------------------------
# ratings
# --------------------------------------------------------------------------------------------
def _limits(network: Any) -> list[dict[str, Any]]:
    """Selected current / apparent-power limits: permanent, longest and shortest temporary, per side.

    Three dicts (permanent, longest, shortest), each mapping a side (``ONE``, ``TWO``, ...) to a
    frame indexed by element id with the limit ``value`` (A or MVA) and ``current`` (True for a
    current limit).
    """
    try:
        ol = network.get_operational_limits(attributes=["value", "selected"]).reset_index()
    except Exception:  # noqa: BLE001 - no limits in this network or this pypowsybl version
        ol = None
    if ol is None or not len(ol):
        return [{}, {}, {}]
    if "selected" in ol:
        ol = ol[ol["selected"].eq(True)]
    ol = ol[ol["type"].isin(("CURRENT", "APPARENT_POWER"))]
    ol = ol.assign(current=ol["type"] == "CURRENT", element_id=ol["element_id"].astype(str).str.strip(),
                   side=ol["side"].astype(str))
    keys = ["element_id", "side"]
    perm = ol[ol["acceptable_duration"] < 0].sort_values("value", kind="stable").drop_duplicates(keys, keep="first")
    tmp = ol[ol["acceptable_duration"] >= 0].sort_values("acceptable_duration", kind="stable")
    out = []
    for frame in (perm, tmp.drop_duplicates(keys, keep="last"), tmp.drop_duplicates(keys, keep="first")):
        out.append({side: f.set_index("element_id")[["value", "current"]] for side, f in frame.groupby("side")})
    return out


def _ratings(limits: list[dict[str, Any]], ids: list[str], sides: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """``(3, n)`` ratings in MVA (rate a, b, c; 0 = none): the smallest over the sides, current limits at nominal voltage.

    Permanent limit -> rate a, the longest temporary limit -> rate b, the shortest -> rate c.
    """
    import pandas as pd

    n = len(ids)
    best = np.full((3, n), np.inf)
    key = pd.Index(ids, dtype=object)  # its hash table is built once, for every frame below
    for side, vn in sides:
        for j, per_side in enumerate(limits):
            frame = per_side.get(side)
            if frame is None or not len(frame):
                continue
            pos = key.get_indexer(frame.index)
            hit = pos >= 0
            val = np.full(n, np.nan)
            cur = np.ones(n, dtype=bool)
            val[pos[hit]] = frame["value"].to_numpy(float)[hit]
            cur[pos[hit]] = frame["current"].to_numpy(bool)[hit]
            val[np.abs(val) >= NO_LIMIT] = np.nan  # "no limit" (IIDM: largest double; CGMES: float32)
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


def _end_levels(b: _Build, get: Any, df: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bus rows and voltage levels of both ends of two-terminal branches (rows -1 at an open end).

    The voltage level of a connected end is its bus's; only branches with an open end ask
    pypowsybl for theirs (``get``: the network's getter, filtered by id).
    """
    f, t = b.rows(df["bus1_id"]), b.rows(df["bus2_id"])
    levels = np.asarray(b.bus["voltage_level"], dtype=object)
    vl1 = np.where(f >= 0, levels[np.maximum(f, 0)] if levels.size else "", "")
    vl2 = np.where(t >= 0, levels[np.maximum(t, 0)] if levels.size else "", "")
    open_end = np.flatnonzero((f < 0) | (t < 0))
    if open_end.size:
        got = get(attributes=["voltage_level1_id", "voltage_level2_id"], id=df.index[open_end].tolist())
        vl1[open_end] = got["voltage_level1_id"].astype(str).to_numpy()
        vl2[open_end] = got["voltage_level2_id"].astype(str).to_numpy()
    return f, t, vl1, vl2


def _add_two_terminal(b: _Build, df: Any, ends: tuple[np.ndarray, ...], what: str, nom: _Nominal, limits: list[dict[str, Any]], *,
                      r: np.ndarray, x: np.ndarray, g1: np.ndarray, b1: np.ndarray, g2: np.ndarray, b2: np.ndarray,
                      tap: np.ndarray, shift: np.ndarray) -> None:
    """Append two-terminal branches (lines, transformers) in bulk; impedances in ohm and S on the side-2 base.

    ``ends`` is :func:`_end_levels`' answer for ``df``.
    """
    if not len(df):
        return
    ids = [str(i).strip() for i in df.index.tolist()]
    f, t, vl1, vl2 = (e.copy() for e in ends)
    vn1, vn2 = nom.of(vl1), nom.of(vl2)
    rates = _ratings(limits, ids, [("ONE", vn1), ("TWO", vn2)])
    zb = vn2 * vn2 / SB_MVA
    names = df["name"].tolist() if "name" in df else [""] * len(df)
    open_end = np.flatnonzero((f < 0) | (t < 0))
    if open_end.size:
        bus1, bus2 = df["bus1_id"].astype(str).to_numpy(), df["bus2_id"].astype(str).to_numpy()
        for k in open_end.tolist():  # an open end: its own bus (or nowhere: left out)
            got = _ends(b, ids[k], bus1[k], bus2[k], vn1[k], vn2[k], vl1[k], vl2[k], what)
            f[k], t[k] = got if got is not None else (-1, -1)
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


class _Nominal(dict):
    """Nominal voltage (kV) by voltage level id, with a vectorised lookup."""

    def __init__(self, vls: Any) -> None:
        import pandas as pd

        values = vls["nominal_v"].to_numpy(float)
        super().__init__(zip(vls.index.astype(str).tolist(), values.tolist(), strict=True))
        self._keys, self._values = pd.Index(vls.index.astype(str)), values

    def of(self, levels: Any) -> np.ndarray:
        """Nominal voltages (kV) of voltage level ids (NaN for an unknown one)."""
        pos = self._keys.get_indexer(np.asarray(levels, dtype=object))
        return np.where(pos >= 0, self._values[np.maximum(pos, 0)] if self._values.size else np.nan, np.nan)


def _lines(network: Any, b: _Build, nom: _Nominal, limits: list[dict[str, Any]]) -> None:
    df = network.get_lines(attributes=["name", "r", "x", "g1", "b1", "g2", "b2", "bus1_id", "bus2_id"])
    if not len(df):
        return
    ends = _end_levels(b, network.get_lines, df)
    vn1, vn2 = nom.of(ends[2]), nom.of(ends[3])
    col = {c: df[c].to_numpy(float) for c in ("r", "x", "g1", "b1", "g2", "b2")}
    # OpenLoadFlow: impedances on the side-2 base, the ratio of the nominal voltages at side 1
    _add_two_terminal(b, df, ends, "lines", nom, limits, **col, tap=np.where(vn1 == vn2, 0.0, vn2 / vn1),
                      shift=np.zeros(len(df)))


def _name(r: Any) -> str:
    n = r.get("name", "")
    return n if isinstance(n, str) else ""


def _transformers(network: Any, b: _Build, nom: _Nominal, limits: list[dict[str, Any]], vls: Any) -> None:
    df = network.get_2_windings_transformers(attributes=[
        "name", "rho", "alpha", "r_at_current_tap", "x_at_current_tap", "g_at_current_tap", "b_at_current_tap",
        "bus1_id", "bus2_id"])
    if len(df):
        ends = _end_levels(b, network.get_2_windings_transformers, df)
        vn1, vn2 = nom.of(ends[2]), nom.of(ends[3])
        zero = np.zeros(len(df))
        # rho = rated_u2 / rated_u1 * the taps' ratios; OpenLoadFlow's r1 = rho / (vn2 / vn1) = 1 / tap;
        # the magnetising admittance at side 1 behind the ratio (twtSplitShuntAdmittance off)
        _add_two_terminal(
            b, df, ends, "transformers", nom, limits, r=df["r_at_current_tap"].to_numpy(float),
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
    for getter in ("get_boundary_lines", "get_dangling_lines"):  # the new name first (pypowsybl >= 1.12)
        fn = getattr(network, getter, None)
        if fn is not None:
            return fn(all_attributes=True)
    return None


def _boundaries(network: Any, b: _Build, nom: _Nominal, limits: list[dict[str, Any]]) -> None:
    """Dangling lines to boundary buses; the two halves of a tie line share one boundary bus."""
    dl = _dangling(network)
    if dl is None or not len(dl):
        return
    gen = None
    for getter in ("get_boundary_lines_generation", "get_dangling_lines_generation"):
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
def _voltage_targets(b: _Build, kind: str, df: Any, nom: _Nominal, approximate: bool, q_range: np.ndarray,
                     started: np.ndarray) -> np.ndarray:
    """Per unit of ``df``: its voltage set point (p.u.) where it controls voltage as OpenLoadFlow decides, else NaN.

    A unit controls voltage when its regulator is on, its reactive range is at least 1 MVAr, it is
    started and its target lies in 0.8-1.2 p.u.; a unit that controls a remote bus is refused (listed
    by id) unless ``approximate``, then it controls its own bus at the equivalent local target.
    """
    n = len(df)
    ids = [str(i).strip() for i in df.index.tolist()]
    on = df["voltage_regulator_on"].eq(True).to_numpy() if "voltage_regulator_on" in df else np.zeros(n, bool)
    on &= (np.asarray(q_range, float) >= MIN_REACTIVE_RANGE_MVAR) & np.asarray(started, bool)
    own_vl = df["voltage_level_id"].astype(str).to_numpy()
    target_kv = df["target_v"].to_numpy(float) if "target_v" in df else np.full(n, np.nan)
    target = target_kv / nom.of(own_vl)
    reg = df["regulated_bus_id"].fillna("").astype(str).to_numpy() if "regulated_bus_id" in df else np.full(n, "")
    remote = np.flatnonzero(on & (reg != "") & (reg != df["bus_id"].astype(str).to_numpy()))
    if remote.size:
        eq = df["equivalent_local_target_v"].to_numpy(float) if "equivalent_local_target_v" in df else np.full(n, np.nan)
        for k in remote.tolist():
            rvl = b.bus["voltage_level"][b.bus_row[reg[k]]] if reg[k] in b.bus_row else own_vl[k]
            target[k] = eq[k] / nom[own_vl[k]] if np.isfinite(eq[k]) else target_kv[k] / nom[rvl]
        if not approximate:
            b.refused.extend(f"{kind} {ids[k]} controls the voltage of a remote bus ({reg[k]}), which gridshield "
                             "cannot model" for k in remote.tolist())
        else:
            b.note(f"remote voltage control by {kind}s read as local control", [ids[k] for k in remote.tolist()],
                   "equivalent local target")
    with np.errstate(invalid="ignore"):
        ok = on & np.isfinite(target) & (target >= MIN_TARGET_V) & (target <= MAX_TARGET_V)
    return np.where(ok, target, np.nan)


#: Magnitudes from this size up mean "no limit": IIDM writes it as the largest double, CGMES
#: exports as the largest single-precision float (3.4e38); no grid quantity comes near.
NO_LIMIT = 1e30


def _col(df: Any, name: str, default: float) -> np.ndarray:
    """A numeric column with non-finite values, "no limit" markers (:data:`NO_LIMIT`) and a
    missing column replaced by ``default``."""
    if name not in df:
        return np.full(len(df), default)
    v = df[name].to_numpy(float)
    return np.where(np.isfinite(v) & (np.abs(v) < NO_LIMIT), v, default)


def _connected(b: _Build, df: Any, what: str) -> tuple[Any, np.ndarray]:
    """The rows of ``df`` connected to a bus of the bus view, and their bus rows; the others are noted."""
    rows = b.rows(df["bus_id"]) if len(df) else np.zeros(0, np.int64)
    b.note(f"{what} not connected (left out)", [str(i) for i in df.index[rows < 0].tolist()], "")
    return df[rows >= 0], rows[rows >= 0]


def _add_units(b: _Build, df: Any, rows: np.ndarray, vg: np.ndarray, own: np.ndarray, *, p: np.ndarray,
               q: np.ndarray, qmax: np.ndarray, qmin: np.ndarray, pmax: np.ndarray, pmin: np.ndarray,
               fuel: Any, mbase: np.ndarray | None = None, ids: list[str] | None = None) -> None:
    """Append generating units in bulk (``vg``: the voltage set point, NaN where the unit does not control voltage)."""
    n = len(df)
    if not n:
        return
    ids = ids if ids is not None else [str(i).strip() for i in df.index.tolist()]
    names = df["name"].tolist() if "name" in df else [""] * n
    cols = {
        "id": [f"gen:{i}" for i in ids], "bus": rows, "p_mw": p, "q_mvar": q, "q_max_mvar": qmax, "q_min_mvar": qmin,
        "vg_pu": np.where(np.isfinite(vg), vg, 1.0), "mbase_mva": np.full(n, SB_MVA) if mbase is None else mbase,
        "in_service": np.ones(n, bool), "p_max_mw": pmax, "p_min_mw": pmin,
        "name": [v if isinstance(v, str) else "" for v in names],
        "fuel": [fuel] * n if isinstance(fuel, str) else fuel,
    }
    for k, v in cols.items():
        b.gen[k].extend(v.tolist() if isinstance(v, np.ndarray) else v)
    b.controls.extend(np.isfinite(vg).tolist())
    b.own_target.extend(np.asarray(own, float).tolist())


def _generators(network: Any, b: _Build, nom: _Nominal, approximate: bool) -> None:
    cols = ["name", "energy_source", "target_p", "min_p", "max_p", "min_q", "max_q", "min_q_at_target_p",
            "max_q_at_target_p", "rated_s", "reactive_limits_kind", "target_v", "equivalent_local_target_v",
            "target_q", "voltage_regulator_on", "regulated_bus_id", "bus_id", "voltage_level_id"]
    df, rows = _connected(b, network.get_generators(attributes=cols), "generators")
    if not len(df):
        return
    # reactive limits at the target P (capability curves), else the min/max limits
    qmin = np.where(np.isfinite(df["min_q_at_target_p"].to_numpy(float)), df["min_q_at_target_p"].to_numpy(float),
                    _col(df, "min_q", -np.inf))
    qmax = np.where(np.isfinite(df["max_q_at_target_p"].to_numpy(float)), df["max_q_at_target_p"].to_numpy(float),
                    _col(df, "max_q", np.inf))
    with np.errstate(over="ignore", invalid="ignore"):  # unlimited units: their range is inf
        q_range = qmax - qmin
    curve = (df["reactive_limits_kind"].astype(str) == "CURVE").to_numpy()
    if curve.any():  # OpenLoadFlow's reactive range of a curve: its widest point
        pts = network.get_reactive_capability_curve_points()
        widest = (pts["max_q"] - pts["min_q"]).groupby(level=0).max()
        q_range[curve] = widest.reindex(df.index[curve]).to_numpy(float)
    tp, pmin = _col(df, "target_p", 0.0), _col(df, "min_p", 0.0)
    started = ~((np.abs(tp) < _P_EPS) & (pmin > _P_EPS))
    vg = _voltage_targets(b, "generator", df, nom, approximate, q_range, started)
    fuel = df["energy_source"].fillna("").astype(str).str.lower().to_numpy()
    rated = _col(df, "rated_s", SB_MVA)
    _add_units(b, df, rows, vg, _col(df, "target_v", np.nan) / nom.of(df["voltage_level_id"].astype(str)),
               p=tp, q=_col(df, "target_q", 0.0), qmax=qmax, qmin=qmin, pmax=_col(df, "max_p", np.inf),
               pmin=_col(df, "min_p", -np.inf), fuel=np.where(fuel == "other", "", fuel).tolist(),
               mbase=np.where(rated != 0, rated, SB_MVA))


def _injections(network: Any, b: _Build, nom: _Nominal, approximate: bool) -> None:
    _generators(network, b, nom, approximate)
    bat, rows = _connected(b, network.get_batteries(all_attributes=True), "batteries")
    if len(bat):
        qmax, qmin = _col(bat, "max_q_at_target_p", np.inf), _col(bat, "min_q_at_target_p", -np.inf)
        q_range = _col(bat, "max_q_at_target_p", 0.0) - _col(bat, "min_q_at_target_p", 0.0)
        vg = _voltage_targets(b, "battery", bat, nom, approximate, q_range, np.ones(len(bat), bool))
        _add_units(b, bat, rows, vg, np.full(len(bat), np.nan), p=_col(bat, "target_p", 0.0),
                   q=_col(bat, "target_q", 0.0), qmax=qmax, qmin=qmin, pmax=_col(bat, "max_p", np.inf),
                   pmin=_col(bat, "min_p", -np.inf), fuel="battery")
    _bulk_injections(b, network.get_loads(attributes=["name", "p0", "q0", "bus_id"]), "loads", "load",
                     p=("p0", 1.0), q=("q0", 1.0))
    sh = network.get_shunt_compensators(attributes=["g", "b", "bus_id"])
    if len(sh):  # at their bus's nominal voltage (those not connected are left out)
        rows = b.rows(sh["bus_id"])
        levels = np.asarray(b.bus["voltage_level"], dtype=object)
        vn2 = nom.of(np.where(rows >= 0, levels[np.maximum(rows, 0)] if levels.size else "", "")) ** 2
        sh = sh.assign(g_mw=sh["g"].to_numpy(float) * vn2, b_mvar=sh["b"].to_numpy(float) * vn2)
    _bulk_injections(b, sh, "shunt compensators", "shunt", p=("g_mw", 1.0), q=("b_mvar", 1.0))
    _svcs(network, b, nom, approximate)
    _hvdc(network, b, nom, approximate)


def _bulk_injections(b: _Build, df: Any, what: str, kind: str, p: tuple[str, float], q: tuple[str, float]) -> None:
    """Append loads (``kind="load"``: p_mw, q_mvar) or shunts (``"shunt"``: g_mw, b_mvar) in bulk."""
    if df is None or not len(df):
        return
    df, rows = _connected(b, df, what)
    ids = [str(i).strip() for i in df.index.tolist()]
    table = b.load if kind == "load" else b.shunt
    cols = ("p_mw", "q_mvar") if kind == "load" else ("g_mw", "b_mvar")
    table["id"].extend(f"{kind}:{i}" for i in ids)
    table["bus"].extend(rows.tolist())
    table[cols[0]].extend((_col(df, p[0], 0.0) * p[1]).tolist())
    table[cols[1]].extend((_col(df, q[0], 0.0) * q[1]).tolist())
    if "name" in table:
        names = df["name"].tolist() if "name" in df else [""] * len(df)
        table["name"].extend(n if isinstance(n, str) else "" for n in names)


def _svcs(network: Any, b: _Build, nom: _Nominal, approximate: bool) -> None:
    """Static var compensators: voltage mode as a voltage-controlling unit (limits ``b * Vnom^2``), reactive mode fixed."""
    svc, rows = _connected(b, network.get_static_var_compensators(all_attributes=True), "static var compensators")
    mode = svc["regulation_mode"].astype(str).to_numpy() if len(svc) else np.zeros(0, str)
    on = ~svc["regulating"].eq(False).to_numpy() if "regulating" in svc else np.ones(len(svc), bool)
    keep = on & (mode != "OFF")
    svc, rows, mode = svc[keep], rows[keep], mode[keep]
    if not len(svc):
        return
    vn2 = nom.of(svc["voltage_level_id"].astype(str).to_numpy()) ** 2
    bmin, bmax = _col(svc, "b_min", 0.0) * vn2, _col(svc, "b_max", 0.0) * vn2
    volt = mode == "VOLTAGE"
    vg = _voltage_targets(b, "static var compensator", svc.assign(voltage_regulator_on=volt), nom, approximate,
                          np.where(volt, bmax - bmin, 0.0), np.ones(len(svc), bool))
    ctl = np.isfinite(vg)
    q = np.where(volt, 0.0, -_col(svc, "target_q", 0.0))  # IIDM's reactive set point is in load convention
    zero = np.zeros(len(svc))
    _add_units(b, svc, rows, vg, np.full(len(svc), np.nan), p=zero, q=q, qmax=np.where(ctl, bmax, q),
               qmin=np.where(ctl, bmin, q), pmax=zero, pmin=zero, fuel="svc")


def _hvdc(network: Any, b: _Build, nom: _Nominal, approximate: bool) -> None:
    """HVDC lines: a fixed injection at each converter station, both tied to the link ``hvdc:<line id>``.

    OpenLoadFlow without AC emulation: the rectifier draws the set point, the inverter injects it
    less the converter losses and the DC line's ``R (P/V)^2``; VSC stations may control voltage,
    LCC stations draw ``|P tan(acos(pf))|`` MVAr. A strike on either station (or its site) or on
    the link stops both injections (see ``Grid.links``).
    """
    import pandas as pd

    lines = network.get_hvdc_lines(all_attributes=True)
    if not len(lines):
        return
    vsc = network.get_vsc_converter_stations(all_attributes=True)
    lcc = network.get_lcc_converter_stations(all_attributes=True)
    stations = pd.concat([vsc.assign(kind="VSC"), lcc.assign(kind="LCC")])
    for hid, h in lines.iterrows():
        s1, s2 = h["converter_station1_id"], h["converter_station2_id"]
        rect, inv = (s1, s2) if h["converters_mode"] == "SIDE_1_RECTIFIER_SIDE_2_INVERTER" else (s2, s1)
        loss = {s: _f(stations.at[s, "loss_factor"]) / 100 for s in (s1, s2)}
        p = abs(_f(h["target_p"]))
        p_dc = p * (1 - loss[rect])
        p_inv = (p_dc - _f(h["r"]) * (p_dc / _f(h["nominal_v"], 1.0)) ** 2) * (1 - loss[inv])
        members = []
        for sid, p_mw in ((rect, -p), (inv, p_inv)):
            st, rows = _connected(b, stations.loc[[sid]], "HVDC converter stations")
            if not len(st):
                continue
            members.append(f"gen:{str(sid).strip()}")
            fixed = np.array([p_mw])
            if st["kind"].iloc[0] == "LCC":  # a fixed reactive draw
                q = np.array([-abs(p_mw * math.tan(math.acos(_f(st["power_factor"].iloc[0], 1.0))))])
                vg = np.full(1, np.nan)
                qmax = qmin = q
            else:
                qmin, qmax = _col(st, "min_q_at_target_p", -np.inf), _col(st, "max_q_at_target_p", np.inf)
                vg = _voltage_targets(b, "VSC converter station", st, nom, approximate, qmax - qmin, np.ones(1, bool))
                q = _col(st, "target_q", 0.0)
            _add_units(b, st.assign(name=f"HVDC {hid}"), rows, vg, np.full(1, np.nan), p=fixed, q=q, qmax=qmax,
                       qmin=qmin, pmax=fixed, pmin=fixed, fuel="hvdc")
        b.links.extend((f"hvdc:{str(hid).strip()}", m) for m in members)
        b.note("HVDC lines read as a fixed injection at each converter station", [str(hid)], "no AC emulation")


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
    if b.links:
        extra[LINKS_TABLE] = ExtraTable(columns=LINK_COLUMNS, rows=tuple(b.links), cell=True)
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
    has_gen[gens.bus[(gens.fuel != "svc") & (gens.fuel != "hvdc")]] = True  # compensators and converters: no plant
    plant = np.bincount(codes, weights=has_gen[rows].astype(float), minlength=n) > 0
    pairs = pd.DataFrame({"site": codes, "vl": buses.voltage_level[rows]})
    pairs = pairs[pairs["vl"] != ""].drop_duplicates().sort_values(["site", "vl"])
    site, vl = pairs["site"].to_numpy(), pairs["vl"].to_numpy(dtype=object)
    levels = np.full(n, "", dtype=object)
    one = np.bincount(site, minlength=n)[site] == 1  # most sites have one voltage level
    levels[site[one]] = vl[one]
    for k in np.unique(site[~one]).tolist():
        levels[k] = ";".join(vl[site == k].tolist())
    keys = sites.tolist()
    by_sub = subs["name"].reindex(keys).tolist() if "name" in subs else [None] * n
    by_vl = vls["name"].reindex(keys).tolist() if "name" in vls else [None] * n
    names = [a if isinstance(a, str) and a else v if isinstance(v, str) and v else k
             for a, v, k in zip(by_sub, by_vl, keys, strict=True)]  # the substation's name, else the level's, else the id
    return Sites(
        id=[f"site:{s}" for s in sites.tolist()], name=names, category=np.where(plant, "plant", "substation").tolist(),
        nominal_kv=kv, lon_deg=buses.x[first], lat_deg=buses.y[first],
        voltage_levels=levels.tolist(),
    )


__all__ = ["FORMATS", "from_pypowsybl", "need_pypowsybl", "read_powsybl"]
