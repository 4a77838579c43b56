"""MATPOWER case files (format version 2): a safe parser and a writer.

The parser reads ``mpc.<name> = ...;`` assignments of numbers, strings, numeric matrices
(``[...]``) and cell arrays (``{...}``) and never evaluates file content. Every problem raises
:class:`~gridshield.errors.ParseError` naming the file, the line and what was expected.

Besides the standard ``bus``, ``gen``, ``branch``, ``gencost`` and ``bus_name``, any other
table is kept as an :class:`~gridshield.grid.model.ExtraTable` (with its ``%column_names%``),
e.g. PowerModelsRestoration's ``bus_damage``. gridshield's own metadata (load priorities,
customer groups, substations, coordinates) travels in ``mpc.gs_*`` cell tables, which MATPOWER
ignores, so that any :class:`Grid` round-trips exactly.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridValidationError, ParseError
from gridshield.grid.mexpr import MatlabError, Parser, Program, split_statements, tokenize
from gridshield.grid.model import Branches, Buses, ExtraTable, Generators, Grid, Loads, Shunts, Sites

BUS_COLS = ("bus_i", "type", "Pd", "Qd", "Gs", "Bs", "area", "Vm", "Va", "baseKV", "zone", "Vmax", "Vmin")
GEN_COLS = ("bus", "Pg", "Qg", "Qmax", "Qmin", "Vg", "mBase", "status", "Pmax", "Pmin")
BRANCH_COLS = ("fbus", "tbus", "r", "x", "b", "rateA", "rateB", "rateC", "ratio", "angle", "status", "angmin", "angmax")

_ASSIGN = re.compile(r"^\s*mpc\.([A-Za-z_]\w*)\s*=\s*(.*)$")
_FUNCTION = re.compile(r"^\s*function\s+(?:\w+\s*=\s*)?([A-Za-z_]\w*)")
_CELL_TOKEN = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"])*)\"|(;)|(\n)|([^\s,;'\"]+)")
_QUOTED = re.compile(r"^(?:'(?:[^']|'')*'|\"[^\"]*\")$")
_NUMBER = re.compile(r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii]nf|NaN|nan)$")


@dataclass
class RawTable:
    """A matrix or cell array as read: numeric ``data`` (2-D float) or ``rows`` of cells."""

    name: str
    line: int
    columns: tuple[str, ...] = ()
    data: np.ndarray | None = None
    rows: list[tuple[float | str, ...]] | None = None
    row_lines: list[int] = field(default_factory=list)


@dataclass
class RawCase:
    """The assignments of a MATPOWER file, before they become a :class:`Grid`."""

    path: str
    name: str = ""
    scalars: dict[str, Any] = field(default_factory=dict)
    scalar_lines: dict[str, int] = field(default_factory=dict)
    tables: dict[str, RawTable] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
def _strip_comment(line: str) -> str:
    """The line without its ``%`` comment (a ``%`` inside a quoted string does not count)."""
    if "%" not in line:
        return line
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            # a quote right after a name/number/closing bracket is MATLAB's transpose; not here
            quote = ch
        elif ch == "%":
            return line[:i]
    return line


def _parse_number(tok: str, path: str, line: int, what: str) -> float:
    if not _NUMBER.match(tok):
        raise ParseError(path, line, f"expected a number in {what}, found {tok!r}")
    return float(tok)


def _matrix_slow(body: str, path: str, line0: int, name: str) -> tuple[np.ndarray, list[int]]:
    """Parse a numeric block line by line, with precise errors (used when the fast path fails)."""
    rows: list[list[float]] = []
    lines: list[int] = []
    for k, raw in enumerate(body.split("\n")):
        ln = line0 + k
        text = _strip_comment(raw).replace("...", " ")
        for part in text.split(";"):
            toks = part.replace(",", " ").split()
            if not toks:
                continue
            vals = [_parse_number(t, path, ln, f"mpc.{name}") for t in toks]
            if rows and len(vals) != len(rows[0]):
                raise ParseError(
                    path,
                    ln,
                    f"mpc.{name}: expected {len(rows[0])} numbers per row (as on line {lines[0]}), found {len(vals)}",
                )
            rows.append(vals)
            lines.append(ln)
    if not rows:
        return np.zeros((0, 0)), lines
    return np.array(rows, dtype=float), lines


def _matrix_fast(body: str) -> np.ndarray | None:
    """Vectorised parse of a comment-free numeric block; ``None`` if anything looks irregular."""
    if "%" in body or "'" in body or '"' in body or "..." in body:
        return None
    b = np.frombuffer(body.encode("ascii", "replace"), dtype=np.uint8)
    if b.size == 0:
        return np.zeros((0, 0))
    is_sep = (b == 10) | (b == 59)  # newline or ';'
    is_tok = (b > 32) & ~is_sep & (b != 44)
    starts = is_tok.copy()
    starts[1:] &= ~is_tok[:-1]
    row_id = np.cumsum(is_sep)
    counts = np.bincount(row_id[starts], minlength=int(row_id[-1]) + 1)
    counts = counts[counts > 0]
    if counts.size == 0:
        return np.zeros((0, 0))
    ncol = int(counts[0])
    if np.any(counts != ncol):
        return None
    flat = body.replace(";", " ").replace(",", " ")
    try:
        vals = np.fromstring(flat, dtype=float, sep=" ")  # noqa: NPY201 - text mode is not deprecated
    except (ValueError, DeprecationWarning):
        return None
    if vals.size != counts.size * ncol:
        return None
    return vals.reshape(counts.size, ncol)


def _cell_rows(body: str, path: str, line0: int, name: str) -> tuple[list[tuple[float | str, ...]], list[int]]:
    """Parse a cell array body into rows of strings and numbers."""
    clean = "\n".join(_strip_comment(s) for s in body.split("\n"))
    rows: list[tuple[float | str, ...]] = []
    lines: list[int] = []
    cur: list[float | str] = []
    ln = line0
    for m in _CELL_TOKEN.finditer(clean):
        sq, dq, semi, nl, word = m.groups()
        if semi is not None or nl is not None:
            if cur:
                rows.append(tuple(cur))
                lines.append(ln)
                cur = []
            if nl is not None:
                ln += 1
            continue
        if sq is not None:
            cur.append(sq.replace("''", "'"))
        elif dq is not None:
            cur.append(dq)
        else:
            if word == "...":
                continue
            cur.append(_parse_number(word, path, ln, f"mpc.{name}"))
    if cur:
        rows.append(tuple(cur))
        lines.append(ln)
    return rows, lines


def _find_close(text: str, start: int, closer: str, path: str, line: int, name: str) -> int:
    """Index of the bracket closing the block that opens at ``start`` (skipping comments/strings)."""
    j = text.find(closer, start)
    if j < 0:
        raise ParseError(path, line, f"mpc.{name}: no closing '{closer}' for the block opened here")
    seg = text[start:j]
    if "%" not in seg and "'" not in seg and '"' not in seg:
        return j
    i, n, quote = start, len(text), None
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\n":
                raise ParseError(path, line + text.count("\n", start, i), f"mpc.{name}: unterminated string")
        elif ch in "'\"":
            quote = ch
        elif ch == "%":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif ch == closer:
            return i
        i += 1
    raise ParseError(path, line, f"mpc.{name}: no closing '{closer}' for the block opened here")


def _scalar(value: str, path: str, line: int, name: str) -> Any:
    v = _strip_comment(value).strip()
    if v.endswith(";"):
        v = v[:-1].strip()
    if not v:
        raise ParseError(path, line, f"mpc.{name}: expected a value after '='")
    if (v[0] == v[-1] == "'" or v[0] == v[-1] == '"') and len(v) >= 2:
        return v[1:-1].replace("''", "'")
    if _NUMBER.match(v):
        return float(v)
    raise ParseError(
        path, line, f"mpc.{name}: expected a number, a quoted string, [matrix] or {{cell}}, found {v[:40]!r}"
    )


class _CaseFields(MutableMapping):
    """The ``mpc`` fields of a :class:`RawCase` as the evaluator sees them (scalars and numeric tables)."""

    def __init__(self, case: RawCase, line: list[int]):
        self.case = case
        self.line = line  # [current line], for tables created by a statement

    def __getitem__(self, name: str) -> Any:
        if name in self.case.scalars:
            return self.case.scalars[name]
        tab = self.case.tables.get(name)
        if tab is None:
            raise KeyError(name)
        if tab.data is None:
            return f"cell array mpc.{name}"
        return tab.data

    def __setitem__(self, name: str, value: Any) -> None:
        if isinstance(value, np.ndarray):
            tab = self.case.tables.get(name)
            if tab is None or tab.data is None:
                self.case.scalars.pop(name, None)
                self.case.tables[name] = RawTable(name=name, line=self.line[0], data=value)
            else:
                if value.shape != tab.data.shape:
                    tab.row_lines = []
                tab.data = value
        else:
            self.case.tables.pop(name, None)
            self.case.scalars[name] = value
            self.case.scalar_lines[name] = self.line[0]

    def __delitem__(self, name: str) -> None:  # pragma: no cover - the evaluator never deletes
        raise KeyError(name)

    def __iter__(self):
        return iter([*self.case.scalars, *self.case.tables])

    def __len__(self) -> int:
        return len(self.case.scalars) + len(self.case.tables)


def _bracket_depth(text: str) -> int:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth


def parse_matpower_text(text: str, path: str = "<string>") -> RawCase:
    """Read the assignments of a MATPOWER case text.

    Data blocks (``mpc.<name> = [...]`` / ``{...}``, numbers, strings) are read directly; other
    statements (unit conversions, MATPOWER's named columns, ``if`` blocks) go to the safe
    evaluator of :mod:`gridshield.grid.mexpr`, in file order. Nothing is passed to Python's
    ``eval``/``exec``.
    """
    case = RawCase(path=path)
    here = [1]
    program = Program(_CaseFields(case, here), path)
    pending_cols: tuple[str, ...] = ()
    pos, line, n = 0, 1, len(text)
    while pos < n:
        eol = text.find("\n", pos)
        if eol < 0:
            eol = n
        raw = text[pos:eol]
        stripped = raw.strip()
        here[0] = line
        m = _ASSIGN.match(raw) if stripped and not stripped.startswith("%") else None
        fm = _FUNCTION.match(raw) if m is None else None
        if stripped.startswith("%"):
            if stripped.startswith("%column_names%"):
                pending_cols = tuple(stripped[len("%column_names%") :].split())
        elif fm is not None:
            case.name = fm.group(1)
        elif m is not None and m.group(2).lstrip()[:1] in ("[", "{"):
            name, rest = m.group(1), m.group(2)
            lead = rest.lstrip()
            opener = lead[0]
            closer = "]" if opener == "[" else "}"
            start = pos + len(raw) - len(lead) + 1
            close = _find_close(text, start, closer, path, line, name)
            body = text[start:close]
            tab = RawTable(name=name, line=line, columns=pending_cols)
            if opener == "[":
                data = _matrix_fast(body)
                if data is None:
                    try:
                        data, tab.row_lines = _matrix_slow(body, path, line, name)
                    except ParseError as exc:
                        # not plain numbers: an expression such as [mpc.gen; ...] or [50/3 1]?
                        clean = "\n".join(_strip_comment(s).replace("...", " ") for s in body.split("\n"))
                        try:
                            value = Program(_CaseFields(case, here), path).ev.value(_parse_expr(f"[{clean}]"))
                        except (MatlabError, ParseError):
                            raise exc from None
                        data = np.array(value, dtype=float)
                tab.data = data
            else:
                tab.rows, tab.row_lines = _cell_rows(body, path, line, name)
            if program.active:
                if name in case.tables or name in case.scalars:
                    raise ParseError(path, line, f"mpc.{name} is assigned twice")
                case.tables[name] = tab
            line += text.count("\n", pos, close)
            eol = text.find("\n", close)
            if eol < 0:
                eol = n
            tail = _strip_comment(text[close + 1 : eol]).strip()
            if tail not in ("", ";"):
                raise ParseError(path, line, f"mpc.{name}: unexpected {tail!r} after the closing '{closer}'")
            pending_cols = ()
        elif m is not None and _is_literal(m.group(2)):
            name = m.group(1)
            if program.active:
                if not program.blocks and (name in case.tables or name in case.scalars):
                    raise ParseError(path, line, f"mpc.{name} is assigned twice")
                case.tables.pop(name, None)
                case.scalars[name] = _scalar(m.group(2), path, line, name)
                case.scalar_lines[name] = line
            pending_cols = ()
        elif stripped:
            # a statement for the evaluator; it may continue over lines ('...' or open brackets)
            first = line
            stmt = _strip_comment(raw)
            while True:
                cont = stmt.rstrip().endswith("...")
                if cont:
                    stmt = stmt.rstrip()[:-3] + " "
                if not cont and _bracket_depth(stmt) <= 0:
                    break
                if eol >= n:
                    raise ParseError(path, first, "the statement has an unclosed '(' or '[' and runs to the end of the file")
                pos = eol + 1
                line += 1
                eol = text.find("\n", pos)
                if eol < 0:
                    eol = n
                stmt += ("" if cont else "\n") + _strip_comment(text[pos:eol])
            here[0] = first
            for part in split_statements(stmt):
                program.run(part, first)
            pending_cols = ()
        pos = eol + 1
        line += 1
    program.finish()
    return case


def _is_literal(value: str) -> bool:
    """True when the right side of ``mpc.x = ...`` is a plain number or quoted string."""
    v = _strip_comment(value).strip()
    if v.endswith(";"):
        v = v[:-1].strip()
    return bool(_NUMBER.match(v) or _QUOTED.match(v))


def _parse_expr(text: str) -> tuple:
    p = Parser(tokenize(text))
    node = p.range_expr()
    if not p.at_end():
        raise MatlabError(f"unexpected {p.peek().text!r}")
    return node


# --------------------------------------------------------------------------------------------
# raw case -> Grid
# --------------------------------------------------------------------------------------------
def _need(case: RawCase, name: str) -> RawTable:
    tab = case.tables.get(name)
    if tab is None or tab.data is None:
        raise ParseError(case.path, None, f"missing numeric table mpc.{name}; a MATPOWER case needs bus, gen and branch")
    return tab


def _check_cols(case: RawCase, tab: RawTable, names: tuple[str, ...], need: int) -> np.ndarray:
    data = tab.data
    assert data is not None
    if data.shape[0] and data.shape[1] < need:
        raise ParseError(
            case.path,
            tab.line,
            f"mpc.{tab.name} has {data.shape[1]} columns; format version 2 needs at least {need} "
            f"({' '.join(names[:need])})",
        )
    if data.shape[0] == 0:
        data = np.zeros((0, max(need, len(names))))
    return data


def _cell_number(case: RawCase, name: str, value: float | str) -> float:
    if isinstance(value, str):
        raise ParseError(case.path, case.tables[name].line, f"mpc.{name}: expected a number, found the string {value!r}")
    return float(value)


def _bad_row(case: RawCase, tab: RawTable, row: int, msg: str) -> ParseError:
    line = tab.row_lines[row] if tab.row_lines else tab.line
    return ParseError(case.path, line, f"mpc.{tab.name} row {row + 1}: {msg}")


def _cell_table(
    case: RawCase, name: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict[str, Any]] | None:
    """Rows of a gridshield cell table as dicts; ``optional`` trailing columns may be absent (all rows alike)."""
    tab = case.tables.get(name)
    if tab is None:
        return None
    if tab.rows is None:
        raise ParseError(case.path, tab.line, f"mpc.{name} must be a cell array {{...}}")
    out = []
    full = columns + optional
    for k, r in enumerate(tab.rows):
        if len(r) != len(columns) and len(r) != len(full) or (out and len(r) != len(out[0])):
            line = tab.row_lines[k] if tab.row_lines else tab.line
            want = f"{len(columns)}" + (f" or {len(full)}" if optional else "")
            raise ParseError(case.path, line, f"mpc.{name}: expected {want} cells per row ({' '.join(full)})")
        out.append(dict(zip(full, r, strict=False)))
    return out


_GS_BUS = ("id", "substation", "x", "y")
_GS_BUS_OPT = ("voltage_level",)
_GS_LOAD = ("id", "bus_i", "p_mw", "q_mvar", "in_service", "priority", "customers", "group", "name")
_GS_GEN = ("id", "name", "fuel")
_GS_BRANCH = ("id", "name")
_GS_BRANCH_OPT = ("g_from_pu", "b_from_pu", "g_to_pu", "b_to_pu")
_GS_SHUNT = ("id", "bus_i", "g_mw", "b_mvar", "in_service")
_GS_SITE = ("id", "name", "category", "nominal_kv", "lon_deg", "lat_deg", "voltage_levels")
_GS_TABLES = ("gs_bus", "gs_load", "gs_gen", "gs_branch", "gs_shunt", "gs_site")


def grid_from_raw(case: RawCase, name: str | None = None) -> Grid:
    """Build a :class:`Grid` from parsed assignments (checks columns and bus references)."""
    path = case.path
    version = case.scalars.get("version", "2")
    if str(version).strip() not in ("2", "2.0"):
        raise ParseError(path, case.scalar_lines.get("version"), f"mpc.version is {version!r}; only version 2 is read")
    if "baseMVA" not in case.scalars:
        raise ParseError(path, None, "missing mpc.baseMVA (the system MVA base, e.g. 'mpc.baseMVA = 100;')")
    base_mva = case.scalars["baseMVA"]
    if not isinstance(base_mva, float) or not (np.isfinite(base_mva) and base_mva > 0):
        raise ParseError(path, case.scalar_lines.get("baseMVA"), f"mpc.baseMVA must be a positive number, got {base_mva!r}")

    btab, gtab, rtab = _need(case, "bus"), _need(case, "gen"), _need(case, "branch")
    bus = _check_cols(case, btab, BUS_COLS, 13)
    gen = _check_cols(case, gtab, GEN_COLS, 10)
    br = _check_cols(case, rtab, BRANCH_COLS, 11)

    numbers = bus[:, 0]
    if np.any(numbers != np.round(numbers)) or np.any(numbers <= 0):
        k = int(np.flatnonzero((numbers != np.round(numbers)) | (numbers <= 0))[0])
        raise _bad_row(case, btab, k, f"bus number must be a positive integer, got {numbers[k]!r}")
    num = numbers.astype(np.int64)
    order = {int(b): i for i, b in enumerate(num.tolist())}
    if len(order) != num.size:
        seen: set[int] = set()
        for k, b in enumerate(num.tolist()):
            if b in seen:
                raise _bad_row(case, btab, k, f"duplicate bus number {b}")
            seen.add(b)

    sort_idx = np.argsort(num, kind="stable")
    sorted_num = num[sort_idx].astype(float)

    def rows_of(tab: RawTable, col: np.ndarray, what: str) -> np.ndarray:
        pos = np.searchsorted(sorted_num, col)
        pos = np.minimum(pos, max(num.size - 1, 0))
        idx = sort_idx[pos] if num.size else np.full(col.size, -1, np.int64)
        if num.size:
            idx = np.where(sorted_num[pos] == col, idx, -1)
        if np.any(idx < 0):
            k = int(np.flatnonzero(idx < 0)[0])
            raise _bad_row(case, tab, k, f"{what} {col[k]:g} is not a bus number in mpc.bus")
        return idx

    for tab, data, names in ((btab, bus, BUS_COLS), (gtab, gen, GEN_COLS), (rtab, br, BRANCH_COLS)):
        fin = np.isfinite(data[:, : len(names)])
        if tab is gtab:
            fin[:, 3:5] |= np.isinf(data[:, 3:5])  # Qmax/Qmin may be +-Inf in MATPOWER
            fin[:, 8:10] |= np.isinf(data[:, 8:10])  # so may Pmax/Pmin (unlimited)
        if not fin.all():
            k, j = (int(v[0]) for v in np.nonzero(~fin))
            raise _bad_row(case, tab, k, f"column {names[j]} is {data[k, j]!r}; a finite number is needed")

    btype = bus[:, 1].astype(np.int64)
    if np.any(~np.isin(btype, (1, 2, 3, 4))):
        k = int(np.flatnonzero(~np.isin(btype, (1, 2, 3, 4)))[0])
        raise _bad_row(case, btab, k, f"bus type must be 1 (PQ), 2 (PV), 3 (ref) or 4 (isolated), got {bus[k, 1]:g}")
    bus_ids = np.array([f"bus:{b}" for b in num.tolist()], dtype=object)
    names_tab = case.tables.get("bus_name")
    bus_names = [""] * num.size
    if names_tab is not None:
        if names_tab.rows is None or len(names_tab.rows) != num.size or any(len(r) != 1 for r in names_tab.rows):
            raise ParseError(path, names_tab.line, f"mpc.bus_name must be a cell array with one name per bus ({num.size})")
        bus_names = [str(r[0]) for r in names_tab.rows]
    substation = [""] * num.size
    voltage_level = [""] * num.size
    xs = np.full(num.size, np.nan)
    ys = np.full(num.size, np.nan)
    gs_bus = _cell_table(case, "gs_bus", _GS_BUS, _GS_BUS_OPT)
    if gs_bus is not None:
        if len(gs_bus) != num.size:
            raise ParseError(path, case.tables["gs_bus"].line, f"mpc.gs_bus needs one row per bus ({num.size})")
        bus_ids = np.array([str(r["id"]) for r in gs_bus], dtype=object)
        substation = [str(r["substation"]) for r in gs_bus]
        voltage_level = [str(r.get("voltage_level", "")) for r in gs_bus]
        xs = np.array([float(r["x"]) for r in gs_bus])
        ys = np.array([float(r["y"]) for r in gs_bus])

    def table(cls, what: str, tab: RawTable | None, **cols):
        try:
            return cls(**cols)
        except GridValidationError as exc:
            raise ParseError(path, tab.line if tab else None, f"{what}: {exc}") from None

    buses = table(
        Buses,
        "mpc.bus",
        btab,
        id=bus_ids,
        number=num,
        type=btype,
        vm_pu=bus[:, 7],
        va_deg=bus[:, 8],
        base_kv=bus[:, 9],
        vmax_pu=bus[:, 11],
        vmin_pu=bus[:, 12],
        area=bus[:, 6].astype(np.int64),
        zone=bus[:, 10].astype(np.int64),
        in_service=btype != 4,
        name=bus_names,
        substation=substation,
        voltage_level=voltage_level,
        x=xs,
        y=ys,
    )

    ng, nl = gen.shape[0], br.shape[0]
    gen_ids = np.array([f"gen:{k + 1}" for k in range(ng)], dtype=object)
    gen_names, gen_fuel = [""] * ng, [""] * ng
    gs_gen = _cell_table(case, "gs_gen", _GS_GEN)
    if gs_gen is not None:
        if len(gs_gen) != ng:
            raise ParseError(path, case.tables["gs_gen"].line, f"mpc.gs_gen needs one row per generator ({ng})")
        gen_ids = np.array([str(r["id"]) for r in gs_gen], dtype=object)
        gen_names = [str(r["name"]) for r in gs_gen]
        gen_fuel = [str(r["fuel"]) for r in gs_gen]
    gens = table(
        Generators,
        "mpc.gen",
        gtab,
        id=gen_ids,
        bus=rows_of(gtab, gen[:, 0], "generator bus"),
        p_mw=gen[:, 1],
        q_mvar=gen[:, 2],
        q_max_mvar=gen[:, 3],
        q_min_mvar=gen[:, 4],
        vg_pu=gen[:, 5],
        mbase_mva=gen[:, 6],
        in_service=gen[:, 7] > 0,
        p_max_mw=gen[:, 8],
        p_min_mw=gen[:, 9],
        name=gen_names,
        fuel=gen_fuel,
    )

    if br.shape[1] < 13:
        pad = np.array([-360.0, 360.0])[br.shape[1] - 11 :]
        br = np.hstack([br, np.tile(pad, (nl, 1))]) if nl else np.zeros((0, 13))
    if np.any(br[:, 5:8] < 0):
        k, j = (int(v[0]) for v in np.nonzero(br[:, 5:8] < 0))
        raise _bad_row(case, rtab, k, f"column {BRANCH_COLS[5 + j]} is negative ({br[k, 5 + j]:g}); ratings must be >= 0")
    br_ids = np.array([f"branch:{k + 1}" for k in range(nl)], dtype=object)
    br_names = [""] * nl
    ends = {c: np.zeros(nl) for c in _GS_BRANCH_OPT}
    gs_branch = _cell_table(case, "gs_branch", _GS_BRANCH, _GS_BRANCH_OPT)
    if gs_branch is not None:
        if len(gs_branch) != nl:
            raise ParseError(path, case.tables["gs_branch"].line, f"mpc.gs_branch needs one row per branch ({nl})")
        br_ids = np.array([str(r["id"]) for r in gs_branch], dtype=object)
        br_names = [str(r["name"]) for r in gs_branch]
        for c in _GS_BRANCH_OPT:
            if gs_branch and c in gs_branch[0]:
                ends[c] = np.array([_cell_number(case, "gs_branch", r[c]) for r in gs_branch])
    branches = table(
        Branches,
        "mpc.branch",
        rtab,
        id=br_ids,
        from_bus=rows_of(rtab, br[:, 0], "from bus"),
        to_bus=rows_of(rtab, br[:, 1], "to bus"),
        r_pu=br[:, 2],
        x_pu=br[:, 3],
        b_pu=br[:, 4],
        rate_a_mva=br[:, 5],
        rate_b_mva=br[:, 6],
        rate_c_mva=br[:, 7],
        tap=br[:, 8],
        shift_deg=br[:, 9],
        in_service=br[:, 10] > 0,
        angmin_deg=br[:, 11],
        angmax_deg=br[:, 12],
        name=br_names,
        **ends,
    )

    gs_load = _cell_table(case, "gs_load", _GS_LOAD)
    if gs_load is not None:
        ltab = case.tables["gs_load"]
        loads = table(
            Loads,
            "mpc.gs_load",
            ltab,
            id=[str(r["id"]) for r in gs_load],
            bus=rows_of(ltab, np.array([float(r["bus_i"]) for r in gs_load]), "load bus"),
            p_mw=[float(r["p_mw"]) for r in gs_load],
            q_mvar=[float(r["q_mvar"]) for r in gs_load],
            in_service=[float(r["in_service"]) > 0 for r in gs_load],
            priority=[str(r["priority"]) for r in gs_load],
            customers=[int(float(r["customers"])) for r in gs_load],
            group=[str(r["group"]) for r in gs_load],
            name=[str(r["name"]) for r in gs_load],
        )
    else:
        has = (bus[:, 2] != 0) | (bus[:, 3] != 0)
        rows = np.flatnonzero(has)
        loads = table(
            Loads,
            "mpc.bus",
            btab,
            id=[f"load:{num[i]}" for i in rows.tolist()],
            bus=rows,
            p_mw=bus[rows, 2],
            q_mvar=bus[rows, 3],
        )
    gs_shunt = _cell_table(case, "gs_shunt", _GS_SHUNT)
    if gs_shunt is not None:
        stab = case.tables["gs_shunt"]
        shunts = table(
            Shunts,
            "mpc.gs_shunt",
            stab,
            id=[str(r["id"]) for r in gs_shunt],
            bus=rows_of(stab, np.array([float(r["bus_i"]) for r in gs_shunt]), "shunt bus"),
            g_mw=[float(r["g_mw"]) for r in gs_shunt],
            b_mvar=[float(r["b_mvar"]) for r in gs_shunt],
            in_service=[float(r["in_service"]) > 0 for r in gs_shunt],
        )
    else:
        rows = np.flatnonzero((bus[:, 4] != 0) | (bus[:, 5] != 0))
        shunts = table(
            Shunts,
            "mpc.bus",
            btab,
            id=[f"shunt:{num[i]}" for i in rows.tolist()],
            bus=rows,
            g_mw=bus[rows, 4],
            b_mvar=bus[rows, 5],
        )

    gs_site = _cell_table(case, "gs_site", _GS_SITE)
    site_table = None
    if gs_site is not None:
        sites_cols: dict[str, list[Any]] = {c: [r[c] for r in gs_site] for c in _GS_SITE}
        for c in ("nominal_kv", "lon_deg", "lat_deg"):
            sites_cols[c] = [_cell_number(case, "gs_site", v) for v in sites_cols[c]]
        for c in ("id", "name", "category", "voltage_levels"):
            sites_cols[c] = [str(v) for v in sites_cols[c]]
        site_table = table(Sites, "mpc.gs_site", case.tables["gs_site"], **sites_cols)

    gencost = None
    gctab = case.tables.get("gencost")
    if gctab is not None:
        if gctab.data is None:
            raise ParseError(path, gctab.line, "mpc.gencost must be a numeric matrix")
        if gctab.data.shape[0] not in (ng, 2 * ng):
            raise ParseError(
                path, gctab.line, f"mpc.gencost has {gctab.data.shape[0]} rows; expected one per generator ({ng}) or two"
            )
        if gctab.data.shape[0] and gctab.data.shape[1] < 4:
            raise ParseError(path, gctab.line, "mpc.gencost needs at least 4 columns (model startup shutdown n ...)")
        gencost = gctab.data

    extra_columns = {}
    for key, data, nstd in (("bus", bus, 13), ("gen", gen, 10), ("branch", br, 13)):
        if data.shape[0] and data.shape[1] > nstd:
            extra_columns[key] = data[:, nstd:].copy()
    extra_tables: dict[str, Any] = {}
    skip = {"bus", "gen", "branch", "gencost", "bus_name", *_GS_TABLES}
    for key, tab in case.tables.items():
        if key in skip:
            continue
        if tab.data is not None:
            rows_t = tuple(tuple(float(v) for v in r) for r in tab.data.tolist())
            extra_tables[key] = ExtraTable(columns=tab.columns, rows=rows_t, cell=False)
        else:
            extra_tables[key] = ExtraTable(columns=tab.columns, rows=tuple(tab.rows or ()), cell=True)
    for key, val in case.scalars.items():
        if key not in ("version", "baseMVA"):
            extra_tables[key] = val

    try:
        return Grid(
            buses=buses,
            branches=branches,
            gens=gens,
            loads=loads,
            shunts=shunts,
            base_mva=float(base_mva),
            name=name or case.name or Path(path).stem,
            gencost=gencost,
            extra_columns=extra_columns,
            extra_tables=extra_tables,
            site_table=site_table,
        )
    except GridValidationError as exc:
        raise ParseError(path, None, str(exc)) from None


def read_matpower(source: str | os.PathLike[str], *, name: str | None = None) -> Grid:
    """Read a MATPOWER case file (format version 2) into a :class:`Grid`.

    Parameters
    ----------
    source
        Path to a ``.m`` file.
    name
        Case name; defaults to the ``function mpc = NAME`` line, else the file stem.
    """
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise ParseError(path, None, f"cannot read the file: {exc.strerror}") from None
    return grid_from_raw(parse_matpower_text(text, path), name=name)


def parse_matpower(text: str, *, name: str | None = None, path: str = "<string>") -> Grid:
    """Parse MATPOWER case *text* (not a path) into a :class:`Grid`."""
    return grid_from_raw(parse_matpower_text(text, path), name=name)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    f = float(v)
    if not np.isfinite(f):
        return "NaN" if f != f else ("Inf" if f > 0 else "-Inf")
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return repr(f)


def _cell_fmt(v: Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return _fmt(v)


def _matrix(name: str, data: np.ndarray, header: tuple[str, ...] = (), columns: tuple[str, ...] = ()) -> list[str]:
    out = []
    if columns:
        out.append("%column_names% " + " ".join(columns))
    elif header:
        out.append("%\t" + "\t".join(header))
    out.append(f"mpc.{name} = [")
    out.extend("\t" + "\t".join(_fmt(v) for v in row) + ";" for row in data.tolist())
    out.append("];")
    return out


def _cells(name: str, rows: Any, columns: tuple[str, ...] = ()) -> list[str]:
    out = []
    if columns:
        out.append("%column_names% " + " ".join(columns))
    out.append(f"mpc.{name} = {{")
    out.extend("\t" + "\t".join(_cell_fmt(v) for v in row) + ";" for row in rows)
    out.append("};")
    return out


def matpower_text(grid: Grid) -> str:
    """The MATPOWER (version 2) text of a grid; :func:`parse_matpower` reads it back exactly."""
    b, g, r, ld, sh = grid.buses, grid.gens, grid.branches, grid.loads, grid.shunts
    nb = len(b)
    num = b.number
    fname = re.sub(r"\W", "_", grid.name) or "grid"
    if not re.match(r"[A-Za-z_]", fname):
        fname = "case_" + fname
    lines = [
        f"function mpc = {fname}",
        "% written by gridshield; the mpc.gs_* tables carry gridshield metadata and are ignored by MATPOWER",
        "mpc.version = '2';",
        f"mpc.baseMVA = {_fmt(grid.base_mva)};",
        "",
    ]
    pd = np.bincount(ld.bus[ld.in_service], weights=ld.p_mw[ld.in_service], minlength=nb) if len(ld) else np.zeros(nb)
    qd = np.bincount(ld.bus[ld.in_service], weights=ld.q_mvar[ld.in_service], minlength=nb) if len(ld) else np.zeros(nb)
    gs = np.bincount(sh.bus[sh.in_service], weights=sh.g_mw[sh.in_service], minlength=nb) if len(sh) else np.zeros(nb)
    bs = np.bincount(sh.bus[sh.in_service], weights=sh.b_mvar[sh.in_service], minlength=nb) if len(sh) else np.zeros(nb)
    btype = np.where(b.in_service, np.where(b.type == 4, 1, b.type), 4)
    bus = np.column_stack(
        [num, btype, pd, qd, gs, bs, b.area, b.vm_pu, b.va_deg, b.base_kv, b.zone, b.vmax_pu, b.vmin_pu]
    ).reshape(nb, 13)
    gen = np.column_stack(
        [
            num[g.bus], g.p_mw, g.q_mvar, g.q_max_mvar, g.q_min_mvar, g.vg_pu, g.mbase_mva,
            g.in_service.astype(float), g.p_max_mw, g.p_min_mw,
        ]
    ).reshape(len(g), 10)
    br = np.column_stack(
        [
            num[r.from_bus], num[r.to_bus], r.r_pu, r.x_pu, r.b_pu, r.rate_a_mva, r.rate_b_mva, r.rate_c_mva,
            r.tap, r.shift_deg, r.in_service.astype(float), r.angmin_deg, r.angmax_deg,
        ]
    ).reshape(len(r), 13)
    ex = grid.extra_columns
    if "bus" in ex:
        bus = np.hstack([bus, ex["bus"]])
    if "gen" in ex:
        gen = np.hstack([gen, ex["gen"]])
    if "branch" in ex:
        br = np.hstack([br, ex["branch"]])
    lines += ["%% bus data", *_matrix("bus", bus, BUS_COLS), ""]
    lines += ["%% generator data", *_matrix("gen", gen, GEN_COLS), ""]
    lines += ["%% branch data", *_matrix("branch", br, BRANCH_COLS), ""]
    if grid.gencost is not None:
        lines += ["%% generator cost data", *_matrix("gencost", grid.gencost), ""]
    if any(b.name.tolist()):
        lines += _cells("bus_name", [(n,) for n in b.name.tolist()]) + [""]

    # gridshield metadata, only where it differs from what the standard tables imply
    if any(b.substation.tolist()) or not np.all(np.isnan(b.x)) or not np.all(np.isnan(b.y)) or any(
        i != f"bus:{n}" for i, n in zip(b.id.tolist(), num.tolist(), strict=True)
    ) or any(b.voltage_level.tolist()):
        cols = [b.id.tolist(), b.substation.tolist(), b.x.tolist(), b.y.tolist()]
        if any(b.voltage_level.tolist()):
            cols.append(b.voltage_level.tolist())
        names = (_GS_BUS + _GS_BUS_OPT)[: len(cols)]
        lines += _cells("gs_bus", list(zip(*cols, strict=True)), names) + [""]
    canonical_loads = (
        len(set(ld.bus.tolist())) == len(ld)
        and all(i == f"load:{num[k]}" for i, k in zip(ld.id.tolist(), ld.bus.tolist(), strict=True))
        and bool(np.all(ld.in_service))
        and all(p == "residential" for p in ld.priority.tolist())
        and not np.any(ld.customers)
        and not any(ld.group.tolist())
        and not any(ld.name.tolist())
        and bool(np.all(np.diff(ld.bus) > 0))
        and bool(np.all((ld.p_mw != 0) | (ld.q_mvar != 0)))
    )
    if not canonical_loads:
        rows = zip(
            ld.id.tolist(), num[ld.bus].tolist(), ld.p_mw.tolist(), ld.q_mvar.tolist(),
            ld.in_service.astype(int).tolist(), ld.priority.tolist(), ld.customers.tolist(),
            ld.group.tolist(), ld.name.tolist(), strict=True,
        )
        lines += _cells("gs_load", list(rows), _GS_LOAD) + [""]
    canonical_shunts = (
        len(set(sh.bus.tolist())) == len(sh)
        and all(i == f"shunt:{num[k]}" for i, k in zip(sh.id.tolist(), sh.bus.tolist(), strict=True))
        and bool(np.all(sh.in_service))
        and bool(np.all(np.diff(sh.bus) > 0))
        and bool(np.all((sh.g_mw != 0) | (sh.b_mvar != 0)))
    )
    if not canonical_shunts:
        rows = zip(
            sh.id.tolist(), num[sh.bus].tolist(), sh.g_mw.tolist(), sh.b_mvar.tolist(),
            sh.in_service.astype(int).tolist(), strict=True,
        )
        lines += _cells("gs_shunt", list(rows), _GS_SHUNT) + [""]
    if any(g.name.tolist()) or any(g.fuel.tolist()) or any(i != f"gen:{k + 1}" for k, i in enumerate(g.id.tolist())):
        lines += _cells("gs_gen", list(zip(g.id.tolist(), g.name.tolist(), g.fuel.tolist(), strict=True)), _GS_GEN)
        lines += [""]
    shunted = bool(r.has_end_shunts.any())
    if shunted or any(r.name.tolist()) or any(i != f"branch:{k + 1}" for k, i in enumerate(r.id.tolist())):
        cols = [r.id.tolist(), r.name.tolist()]
        if shunted:
            cols += [getattr(r, c).tolist() for c in _GS_BRANCH_OPT]
        lines += _cells("gs_branch", list(zip(*cols, strict=True)), (_GS_BRANCH + _GS_BRANCH_OPT)[: len(cols)]) + [""]
    st = grid.site_table
    if len(st):
        lines += _cells("gs_site", list(zip(*(getattr(st, c).tolist() for c in _GS_SITE), strict=True)), _GS_SITE)
        lines += [""]

    for key, val in grid.extra_tables.items():
        if isinstance(val, ExtraTable):
            if val.cell:
                lines += _cells(key, val.rows, val.columns)
            else:
                data = np.array(val.rows, dtype=float).reshape(len(val.rows), -1) if val.rows else np.zeros((0, 0))
                lines += _matrix(key, data, columns=val.columns)
        elif isinstance(val, str):
            lines.append(f"mpc.{key} = {_cell_fmt(val)};")
        else:
            lines.append(f"mpc.{key} = {_fmt(val)};")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_matpower(grid: Grid, path: str | os.PathLike[str]) -> Path:
    """Write ``grid`` as a MATPOWER case file, atomically (temp file + rename)."""
    from gridshield.io import atomic_write_text

    return atomic_write_text(path, matpower_text(grid))


__all__ = ["matpower_text", "parse_matpower", "parse_matpower_text", "read_matpower", "write_matpower"]
