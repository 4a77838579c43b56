"""The grid data model: frozen struct-of-arrays tables and the :class:`Grid` that holds them.

Each table is a frozen dataclass of aligned, read-only NumPy arrays with a string ``id`` per row.
Rows reference buses by *row index* into :class:`Buses` (index-based inside, ids at the API
surface). Units are MW, MVAr, kV, degrees and per-unit on ``Grid.base_mva``, as in MATPOWER.

Nothing here mutates: use :meth:`Table.replace` / :meth:`Grid.replace` to derive a new value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from gridshield.errors import GridValidationError, UnknownAssetError

#: Priority classes of loads, from first-served to last. Impact weights them (critical is shed last).
PRIORITY_CLASSES = ("critical", "essential", "residential", "commercial", "industrial")


def _col(
    dtype: Any,
    unit: str = "",
    doc: str = "",
    finite: bool = True,
    nonneg: bool = False,
    default: Any = None,
    nan_ok: bool = False,
):
    """A table column: dtype, unit and the checks applied on construction.

    ``finite=False`` admits +-inf (e.g. MATPOWER's unbounded Q limits); NaN only with ``nan_ok``.
    """
    meta = {
        "dtype": dtype, "unit": unit, "doc": doc, "finite": finite, "nonneg": nonneg, "default": default,
        "nan_ok": nan_ok,
    }
    return field(default=None, metadata=meta)


def _as_array(name: str, table: str, value: Any, dtype: Any, n: int | None) -> np.ndarray:
    if dtype is str:
        from pandas.api.types import infer_dtype

        arr = np.asarray(value, dtype=object)
        if arr.ndim != 1:
            raise GridValidationError(f"{table}.{name}: expected a 1-D sequence of strings, got shape {arr.shape}")
        if arr.size and infer_dtype(arr, skipna=False) == "string":  # all str already (a C-speed check)
            arr = arr.copy()
        else:
            arr = np.array([("" if v is None else str(v)) for v in arr], dtype=object)
    else:
        try:
            arr = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise GridValidationError(f"{table}.{name}: cannot convert to {np.dtype(dtype).name}: {exc}") from None
        if arr.ndim != 1:
            raise GridValidationError(f"{table}.{name}: expected a 1-D array, got shape {arr.shape}")
        if not arr.flags.owndata or arr.base is not None:
            arr = arr.copy()
    if n is not None and arr.shape[0] != n:
        raise GridValidationError(f"{table}.{name}: has {arr.shape[0]} rows but {table}.id has {n}")
    arr.setflags(write=False)
    return arr


#: Largest magnitude of a number that must be finite in a grid table (MW, MVAr, kV, p.u., km): nothing
#: real comes near, and sums of values such as 1e308 overflow to inf. Limits that may be unlimited
#: (generator P/Q limits) are exempt.
MAX_ABS_VALUE = 1e12

#: Singular noun of each table, for error messages ("unknown branch id ...").
_SINGULAR = {
    "Buses": "bus", "Branches": "branch", "Generators": "generator", "Loads": "load", "Shunts": "shunt", "Sites": "site",
}


@dataclass(frozen=True, eq=False)
class Table:
    """Base of every grid table: aligned read-only arrays, one row per element."""

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        table = type(self).__name__
        ids = _as_array("id", table, self.id, str, None)  # type: ignore[attr-defined]
        object.__setattr__(self, "id", ids)
        n = ids.shape[0]
        for f in dataclasses.fields(self):
            if f.name == "id":
                continue
            meta = f.metadata
            value = getattr(self, f.name)
            if value is None:
                default = meta["default"]
                if default is None:
                    raise GridValidationError(f"{table}.{f.name} is required")
                value = [default] * n
            arr = _as_array(f.name, table, value, meta["dtype"], n)
            if meta["dtype"] is float:
                invalid = ~np.isfinite(arr) if meta["finite"] else (np.zeros(n, bool) if meta["nan_ok"] else np.isnan(arr))
                if invalid.any():
                    bad = np.flatnonzero(invalid)[:5]
                    raise GridValidationError(
                        f"{table}.{f.name}: non-finite value at {', '.join(ids[bad])}; use a finite number"
                    )
                # limits that may be unlimited (inf, or a reader's "largest double") are exempt
                huge = np.isfinite(arr) & (np.abs(arr) > MAX_ABS_VALUE) if meta["finite"] else np.zeros(n, bool)
                if huge.any():
                    bad = np.flatnonzero(huge)[:5]
                    raise GridValidationError(
                        f"{table}.{f.name}: {float(arr[bad[0]]):g} at {', '.join(ids[bad])} is beyond any grid's "
                        f"magnitude (|value| <= {MAX_ABS_VALUE:g}); check the number"
                    )
                if meta["nonneg"] and np.any(arr < 0):
                    bad = np.flatnonzero(arr < 0)[:5]
                    raise GridValidationError(
                        f"{table}.{f.name}: negative value at {', '.join(ids[bad])}; "
                        f"{f.name} must be >= 0 ({meta['doc'] or f.name})"
                    )
            object.__setattr__(self, f.name, arr)
        if len(set(ids.tolist())) != n:
            seen: set[str] = set()
            dups = sorted({i for i in ids.tolist() if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
            raise GridValidationError(f"{table}: duplicate ids {dups[:5]}; every id must be unique")

    def __len__(self) -> int:
        return int(self.id.shape[0])  # type: ignore[attr-defined]

    def __getstate__(self) -> dict[str, Any]:
        # pickling (worker processes): columns only; cached lookups are rebuilt on demand
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
            object.__setattr__(self, k, v)

    @cached_property
    def index(self) -> Mapping[str, int]:
        """Map from id to row index."""
        return MappingProxyType({k: i for i, k in enumerate(self.id.tolist())})  # type: ignore[attr-defined]

    def row(self, asset_id: str) -> int:
        """Row index of ``asset_id``; raises :class:`UnknownAssetError` with close matches."""
        try:
            return self.index[asset_id]
        except KeyError:
            what = _SINGULAR.get(type(self).__name__, type(self).__name__.lower())
            raise UnknownAssetError(asset_id, self.index, what=what) from None

    def replace(self, **changes: Any) -> Table:
        """A new table with some columns replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def select(self, rows: np.ndarray | Iterable[int]) -> Table:
        """A new table with only the given rows (in the given order)."""
        rows = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows)
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})

    def columns(self) -> dict[str, np.ndarray]:
        """The columns as a dict of arrays, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_frame(self):
        """A pandas DataFrame view of the table, indexed by id."""
        import pandas as pd

        cols = self.columns()
        ids = cols.pop("id")
        return pd.DataFrame(cols, index=pd.Index(ids, name="id"))

    def equals(self, other: Table) -> bool:
        """True when both tables hold the same values (NaN equal to NaN)."""
        if type(self) is not type(other) or len(self) != len(other):
            return False
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a.dtype == object:
                if a.tolist() != b.tolist():
                    return False
            elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                return False
        return True


@dataclass(frozen=True, eq=False)
class Buses(Table):
    """Buses (nodes). ``type``: 1 PQ, 2 PV, 3 reference, 4 isolated (MATPOWER codes)."""

    kind: ClassVar[str] = "bus"
    id: Any
    number: Any = _col(np.int64, doc="external bus number (MATPOWER bus_i)")
    type: Any = _col(np.int64, doc="1 PQ, 2 PV, 3 ref, 4 isolated", default=1)
    vm_pu: Any = _col(float, "p.u.", "voltage magnitude (initial guess / set point)", default=1.0)
    va_deg: Any = _col(float, "deg", "voltage angle (initial guess)", default=0.0)
    base_kv: Any = _col(float, "kV", "base voltage", nonneg=True, default=0.0)
    vmax_pu: Any = _col(float, "p.u.", "upper voltage limit", default=1.1)
    vmin_pu: Any = _col(float, "p.u.", "lower voltage limit", default=0.9)
    area: Any = _col(np.int64, default=1)
    zone: Any = _col(np.int64, default=1)
    in_service: Any = _col(bool, default=True)
    name: Any = _col(str, default="")
    substation: Any = _col(str, doc="site (substation or plant) the bus belongs to; '' if none", default="")
    voltage_level: Any = _col(str, doc="voltage level of the source model (CGMES/IIDM); '' if none", default="")
    x: Any = _col(float, doc="plot coordinate (NaN if unknown)", finite=False, nan_ok=True, default=np.nan)
    y: Any = _col(float, doc="plot coordinate (NaN if unknown)", finite=False, nan_ok=True, default=np.nan)


@dataclass(frozen=True, eq=False)
class Branches(Table):
    """Lines and transformers in the MATPOWER pi model.

    ``tap`` is the off-nominal ratio as in the file (0 means a line, ratio 1); ``ratio`` gives the
    effective value. Besides MATPOWER's line charging ``b_pu`` (split half and half), a branch may
    carry a shunt admittance at each end (``g_from_pu + j b_from_pu``, ``g_to_pu + j b_to_pu``):
    line conductance, asymmetric charging, a transformer's magnetising branch, the ends of a
    T model turned into a pi. Like the charging, the from-end shunt sits behind the ideal
    transformer (it is divided by ``tap**2``), and it is switched with the branch.
    """

    kind: ClassVar[str] = "branch"
    id: Any
    from_bus: Any = _col(np.int64, doc="row index of the from bus")
    to_bus: Any = _col(np.int64, doc="row index of the to bus")
    r_pu: Any = _col(float, "p.u.", "series resistance")
    x_pu: Any = _col(float, "p.u.", "series reactance")
    b_pu: Any = _col(float, "p.u.", "total line charging susceptance", default=0.0)
    rate_a_mva: Any = _col(float, "MVA", "long-term rating (0 = unlimited)", nonneg=True, default=0.0)
    rate_b_mva: Any = _col(float, "MVA", "short-term (emergency) rating (0 = unlimited)", nonneg=True, default=0.0)
    rate_c_mva: Any = _col(float, "MVA", "emergency rating (0 = unlimited)", nonneg=True, default=0.0)
    tap: Any = _col(float, doc="off-nominal tap ratio (0 = line)", default=0.0)
    shift_deg: Any = _col(float, "deg", "phase shift", default=0.0)
    in_service: Any = _col(bool, default=True)
    angmin_deg: Any = _col(float, "deg", default=-360.0)
    angmax_deg: Any = _col(float, "deg", default=360.0)
    name: Any = _col(str, default="")
    g_from_pu: Any = _col(float, "p.u.", "shunt conductance at the from end (behind the tap)", default=0.0)
    b_from_pu: Any = _col(float, "p.u.", "shunt susceptance at the from end (behind the tap)", default=0.0)
    g_to_pu: Any = _col(float, "p.u.", "shunt conductance at the to end", default=0.0)
    b_to_pu: Any = _col(float, "p.u.", "shunt susceptance at the to end", default=0.0)

    @property
    def has_end_shunts(self) -> np.ndarray:
        """True for branches with a shunt admittance at an end besides the line charging."""
        return (self.g_from_pu != 0) | (self.b_from_pu != 0) | (self.g_to_pu != 0) | (self.b_to_pu != 0)

    @property
    def ratio(self) -> np.ndarray:
        """Effective tap ratio (1 where the file says 0)."""
        return np.where(self.tap == 0.0, 1.0, self.tap)

    @property
    def is_transformer(self) -> np.ndarray:
        """True for branches with an off-nominal tap or a phase shift."""
        return (self.tap != 0.0) | (self.shift_deg != 0.0)


@dataclass(frozen=True, eq=False)
class Generators(Table):
    """Generators (MATPOWER gen table, first 10 columns)."""

    kind: ClassVar[str] = "gen"
    id: Any
    bus: Any = _col(np.int64, doc="row index of the bus")
    p_mw: Any = _col(float, "MW", "active power output (dispatch)", default=0.0)
    q_mvar: Any = _col(float, "MVAr", "reactive power output", default=0.0)
    q_max_mvar: Any = _col(float, "MVAr", "upper reactive limit (may be inf)", finite=False, default=9999.0)
    q_min_mvar: Any = _col(float, "MVAr", "lower reactive limit (may be -inf)", finite=False, default=-9999.0)
    vg_pu: Any = _col(float, "p.u.", "voltage set point", default=1.0)
    mbase_mva: Any = _col(float, "MVA", default=100.0)
    in_service: Any = _col(bool, default=True)
    p_max_mw: Any = _col(float, "MW", "upper active limit (inf = unlimited, as MATPOWER's Inf)", finite=False, default=0.0)
    p_min_mw: Any = _col(float, "MW", "lower active limit (-inf = unlimited)", finite=False, default=0.0)
    name: Any = _col(str, default="")
    fuel: Any = _col(str, doc="e.g. 'chp', 'coal', 'gas', 'hydro', 'nuclear', 'import'; '' if unknown", default="")


@dataclass(frozen=True, eq=False)
class Loads(Table):
    """Loads: first-class, so they can be shed, grouped and scheduled."""

    kind: ClassVar[str] = "load"
    id: Any
    bus: Any = _col(np.int64, doc="row index of the bus")
    p_mw: Any = _col(float, "MW", default=0.0)
    q_mvar: Any = _col(float, "MVAr", default=0.0)
    in_service: Any = _col(bool, default=True)
    priority: Any = _col(str, doc=f"priority class, one of {PRIORITY_CLASSES}", default="residential")
    customers: Any = _col(np.int64, doc="number of customers supplied", default=0)
    group: Any = _col(str, doc="district / customer group (rotating-outage queue)", default="")
    name: Any = _col(str, default="")


@dataclass(frozen=True, eq=False)
class Shunts(Table):
    """Fixed shunts; ``g_mw``/``b_mvar`` are the MW / MVAr drawn/injected at 1 p.u. voltage."""

    kind: ClassVar[str] = "shunt"
    id: Any
    bus: Any = _col(np.int64, doc="row index of the bus")
    g_mw: Any = _col(float, "MW at V = 1 p.u.", default=0.0)
    b_mvar: Any = _col(float, "MVAr injected at V = 1 p.u.", default=0.0)
    in_service: Any = _col(bool, default=True)


#: The extra table that ties injections together (``Grid.links``) and its columns.
LINKS_TABLE = "gs_links"
LINK_COLUMNS = ("link", "member")
#: Kinds of link ids (``hvdc:<id>``: the converter stations of an HVDC line).
LINK_KINDS = ("hvdc",)

#: Categories of a site: a substation, a power plant, or a point where a model ends (CGMES boundary).
SITE_CATEGORIES = ("substation", "plant", "boundary", "")


@dataclass(frozen=True, eq=False)
class Sites(Table):
    """What is known about each site besides its buses: name, category, voltage and location.

    A site is a place that can be struck as one (a substation or a plant); its buses are those
    whose ``Buses.substation`` is the site's name, and its id is ``site:<name>``. The table is
    optional: a grid whose buses name sites but has no rows here still has those sites.
    """

    kind: ClassVar[str] = "site"
    id: Any
    name: Any = _col(str, doc="human-readable name (the id is the source's)", default="")
    category: Any = _col(str, doc=f"one of {SITE_CATEGORIES}", default="")
    nominal_kv: Any = _col(float, "kV", "highest nominal voltage at the site (NaN if unknown)", finite=False,
                           nan_ok=True, default=np.nan)
    lon_deg: Any = _col(float, "deg", "longitude, WGS84 (NaN if unknown)", finite=False, nan_ok=True, default=np.nan)
    lat_deg: Any = _col(float, "deg", "latitude, WGS84 (NaN if unknown)", finite=False, nan_ok=True, default=np.nan)
    voltage_levels: Any = _col(str, doc="voltage levels of the source model at the site, ';'-separated", default="")

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [i for i in self.id.tolist() if not i.startswith("site:") or len(i) == 5]
        if bad:
            raise GridValidationError(f"Sites.id: {bad[:5]} do not look like 'site:<name>'; prefix each name with 'site:'")
        cat = [c for c in self.category.tolist() if c not in SITE_CATEGORIES]
        if cat:
            raise GridValidationError(f"Sites.category: {sorted(set(cat))[:5]} unknown; use one of {SITE_CATEGORIES}")


def _same(a: Any, b: Any) -> bool:
    """Equality of nested extra data that treats NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, ExtraTable) and isinstance(b, ExtraTable):
        return a.columns == b.columns and a.cell == b.cell and _same(a.rows, b.rows)
    return bool(a == b)


def _empty(cls: type[Table], **cols: Any) -> Table:
    return cls(id=[], **{f.name: [] for f in dataclasses.fields(cls) if f.name != "id"} | cols)


@dataclass(frozen=True)
class ExtraTable:
    """An extra ``mpc.<name>`` table kept as read (e.g. PowerModelsRestoration's ``bus_damage``).

    ``rows`` is a tuple of row tuples whose cells are ``float`` or ``str``; ``columns`` holds the
    names from a ``%column_names%`` comment, or is empty.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[float | str, ...], ...]
    cell: bool = False  # written back with braces ({...}) rather than brackets

    def column(self, name: str) -> list[float | str]:
        """The values of one named column."""
        try:
            j = self.columns.index(name)
        except ValueError:
            raise GridValidationError(f"extra table has no column {name!r}; columns are {list(self.columns)}") from None
        return [r[j] for r in self.rows]


@dataclass(frozen=True, eq=False)
class Grid:
    """A power grid: the tables, ``base_mva`` and what a MATPOWER file carries besides.

    Parameters
    ----------
    buses, branches, gens, loads, shunts
        The element tables; ``branches``, ``gens``, ``loads`` and ``shunts`` refer to buses by row.
    base_mva
        System MVA base for per-unit values.
    name
        Case name (e.g. ``"case118"``).
    gencost
        MATPOWER ``gencost`` matrix (one row per generator) or ``None``.
    extra_columns
        Trailing columns of the MATPOWER ``bus``/``gen``/``branch`` matrices beyond the standard
        ones (solution values, ramp rates, ...), kept so that a written file loses nothing.
    extra_tables
        Other ``mpc.*`` tables and scalars, by name.
    site_table
        Names, categories, nominal voltages and coordinates of the sites (optional; see
        :class:`Sites`). Every row must be a site of the buses (``Buses.substation``).

    Injections that stand or fall together (the two converter stations of an HVDC line) are
    tied into a *link* by the extra table ``gs_links`` (rows ``(link id, member id)``, members
    generators or loads); see :attr:`links`.
    """

    buses: Buses
    branches: Branches
    gens: Generators
    loads: Loads = None  # type: ignore[assignment]
    shunts: Shunts = None  # type: ignore[assignment]
    base_mva: float = 100.0
    name: str = "grid"
    gencost: np.ndarray | None = None
    extra_columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    extra_tables: Mapping[str, Any] = field(default_factory=dict)
    site_table: Sites = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.loads is None:
            object.__setattr__(self, "loads", _empty(Loads))
        if self.shunts is None:
            object.__setattr__(self, "shunts", _empty(Shunts))
        if self.site_table is None:
            object.__setattr__(self, "site_table", _empty(Sites))
        if len(self.site_table):
            named = set(self.buses.substation.tolist())
            orphan = [i for i in self.site_table.id.tolist() if i[5:] not in named]
            if orphan:
                raise GridValidationError(
                    f"site_table: {orphan[:5]} have no bus; a site row needs buses whose substation is its name"
                )
        if not (np.isfinite(self.base_mva) and self.base_mva > 0):
            raise GridValidationError(f"base_mva must be a positive number, got {self.base_mva!r}")
        nb = len(self.buses)
        if nb and len(set(self.buses.number.tolist())) != nb:
            seen: set[int] = set()
            dups = sorted({b for b in self.buses.number.tolist() if b in seen or seen.add(b)})  # type: ignore[func-returns-value]
            raise GridValidationError(f"duplicate bus numbers {dups[:5]}; every bus number must be unique")
        for table, cols in (
            (self.branches, ("from_bus", "to_bus")),
            (self.gens, ("bus",)),
            (self.loads, ("bus",)),
            (self.shunts, ("bus",)),
        ):
            for c in cols:
                ref = getattr(table, c)
                bad = np.flatnonzero((ref < 0) | (ref >= nb))
                if bad.size:
                    raise GridValidationError(
                        f"{type(table).__name__}.{c}: {table.id[bad[0]]} refers to bus row {ref[bad[0]]}, "
                        f"but the grid has {nb} buses (rows 0..{nb - 1}); fix the bus reference"
                    )
        if self.gencost is not None:
            gc = np.array(self.gencost, dtype=float)
            if gc.ndim != 2 or gc.shape[0] not in (len(self.gens), 2 * len(self.gens)):
                raise GridValidationError(
                    f"gencost must have one row per generator ({len(self.gens)}) or two, got shape {gc.shape}"
                )
            gc.setflags(write=False)
            object.__setattr__(self, "gencost", gc)
        object.__setattr__(self, "extra_columns", MappingProxyType(dict(self.extra_columns)))
        object.__setattr__(self, "extra_tables", MappingProxyType(dict(self.extra_tables)))
        if LINKS_TABLE in self.extra_tables:
            _ = self.link_rows  # validates the links

    def __getstate__(self) -> dict[str, Any]:
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["extra_columns"] = dict(self.extra_columns)
        state["extra_tables"] = dict(self.extra_tables)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, MappingProxyType(v) if k in ("extra_columns", "extra_tables") else v)

    # -- convenience ------------------------------------------------------------------------
    @property
    def tables(self) -> dict[str, Table]:
        """The element tables by kind (``bus``, ``branch``, ``gen``, ``load``, ``shunt``)."""
        return {"bus": self.buses, "branch": self.branches, "gen": self.gens, "load": self.loads, "shunt": self.shunts}

    def replace(self, **changes: Any) -> Grid:
        """A new grid with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    @cached_property
    def bus_of_number(self) -> Mapping[int, int]:
        """Map from external bus number to bus row."""
        return MappingProxyType({int(b): i for i, b in enumerate(self.buses.number.tolist())})

    @cached_property
    def sites(self) -> Mapping[str, np.ndarray]:
        """Map from site name to the bus rows at that site (from ``buses.substation``)."""
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.buses.substation.tolist()):
            if s:
                out.setdefault(s, []).append(i)
        return MappingProxyType({k: np.array(v, dtype=np.int64) for k, v in out.items()})

    @cached_property
    def links(self) -> Mapping[str, tuple[str, ...]]:
        """Injections that stand or fall together, by link id: ``{"hvdc:L1": ("gen:S1", "gen:S2")}``.

        An HVDC line is two injections (one at each converter station) and one asset: when either
        station is struck (itself, its bus or its site) or the link id is, both injections stop.
        Read from the extra table ``gs_links`` (written to MATPOWER text as ``mpc.gs_links``).
        """
        table = self.extra_tables.get(LINKS_TABLE)
        if table is None:
            return MappingProxyType({})
        if not isinstance(table, ExtraTable) or any(len(r) != 2 for r in table.rows):
            raise GridValidationError(f"{LINKS_TABLE}: expected a table of (link id, member id) rows")
        out: dict[str, list[str]] = {}
        for link, member in table.rows:
            out.setdefault(str(link), []).append(str(member))
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    @cached_property
    def link_rows(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per link (in :attr:`links` order): the generator rows and the load rows of its members."""
        out = []
        for link, members in self.links.items():
            if link.split(":", 1)[0] not in LINK_KINDS or ":" not in link:
                raise GridValidationError(f"{LINKS_TABLE}: link id {link!r} must look like 'hvdc:<name>'")
            gens, loads = [], []
            for m in members:
                if m in self.gens.index:
                    gens.append(self.gens.index[m])
                elif m in self.loads.index:
                    loads.append(self.loads.index[m])
                else:
                    raise GridValidationError(f"{LINKS_TABLE}: {link} names {m!r}, which is no generator or load of "
                                              "the grid; a link ties generators and loads")
            out.append((np.array(gens, dtype=np.int64), np.array(loads, dtype=np.int64)))
        return tuple(out)

    def asset_ids(self) -> list[str]:
        """Every asset id of the grid: buses, branches, generators, loads, shunts, sites and links."""
        ids: list[str] = []
        for t in self.tables.values():
            ids.extend(t.id.tolist())
        ids.extend(f"site:{s}" for s in self.sites)
        ids.extend(self.links)
        return ids

    def locate(self, asset_id: str) -> tuple[str, int]:
        """``(kind, row)`` of an asset id such as ``"branch:12"``; sites and links return ``(kind, -1)``."""
        kind = asset_id.split(":", 1)[0]
        if kind == "site":
            if asset_id[5:] in self.sites:
                return "site", -1
        elif kind in LINK_KINDS:
            if asset_id in self.links:
                return kind, -1
        elif kind in self.tables and asset_id in self.tables[kind].index:
            return kind, self.tables[kind].index[asset_id]
        raise UnknownAssetError(asset_id, self.asset_ids())

    def summary(self) -> dict[str, Any]:
        """Counts and totals for a quick look (``gridshield info``)."""
        ld = self.loads
        return {
            "name": self.name,
            "base_mva": self.base_mva,
            "buses": len(self.buses),
            "branches": len(self.branches),
            "transformers": int(np.count_nonzero(self.branches.is_transformer)),
            "generators": len(self.gens),
            "loads": len(ld),
            "shunts": len(self.shunts),
            "sites": len(self.sites),
            "load_mw": float(ld.p_mw[ld.in_service].sum()),
            "load_mvar": float(ld.q_mvar[ld.in_service].sum()),
            "gen_capacity_mw": float(self.gens.p_max_mw[self.gens.in_service].sum()),
            "gen_dispatch_mw": float(self.gens.p_mw[self.gens.in_service].sum()),
        }

    def notes(self) -> tuple[str, ...]:
        """Caveats of this model that shape every answer (the CLI prints them as ``note:`` lines)."""
        out = []
        b = self.buses
        if len(b) and not np.any(b.in_service & (b.type == 3)):
            out.append("the case has no reference (slack) bus in service: the largest generator of each island "
                       "is taken as its slack")
        return tuple(out)

    def equals(self, other: Grid) -> bool:
        """True when both grids hold the same data."""
        if not isinstance(other, Grid) or self.base_mva != other.base_mva:
            return False
        if not all(a.equals(b) for a, b in zip(self.tables.values(), other.tables.values(), strict=True)):
            return False
        if not self.site_table.equals(other.site_table):
            return False
        if (self.gencost is None) != (other.gencost is None):
            return False
        if self.gencost is not None and not np.array_equal(self.gencost, other.gencost):
            return False
        if self.extra_columns.keys() != other.extra_columns.keys():
            return False
        if any(not np.array_equal(v, other.extra_columns[k]) for k, v in self.extra_columns.items()):
            return False
        return _same(dict(self.extra_tables), dict(other.extra_tables))

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Grid({self.name!r}: {s['buses']} buses, {s['branches']} branches, {s['generators']} gens, "
            f"{s['loads']} loads, {s['load_mw']:.1f} MW load)"
        )


__all__ = [
    "LINKS_TABLE",
    "LINK_COLUMNS",
    "LINK_KINDS",
    "PRIORITY_CLASSES",
    "SITE_CATEGORIES",
    "Branches",
    "Buses",
    "ExtraTable",
    "Generators",
    "Grid",
    "Loads",
    "Shunts",
    "Sites",
    "Table",
]
