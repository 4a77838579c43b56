"""A small, safe evaluator for the MATLAB statements that MATPOWER case files use besides data.

MATPOWER's case files are MATLAB functions. Most are pure data (``mpc.bus = [...]``), but some
convert units after the data: the distribution cases take MATPOWER's named column indices
(``[PQ, PV, REF, NONE, BUS_I, ...] = idx_bus;``) and rescale columns
(``mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);``); others
write ``mpc.baseMVA = 50/3;`` or switch a block on a flag (``fixed = 0; if fixed ... end``).

This module reads exactly that subset of MATLAB, never ``eval``/``exec``:

- numbers, ``Inf``/``NaN``/``pi``/``eps``/``true``/``false``, variables, ``mpc.<field>``;
- ``+ - * / ^`` (``*``, ``/``, ``^`` only where MATLAB's matrix meaning equals the element-wise
  one or is a matrix product), ``.* ./ .^``, comparisons, ``& | ~ && ||``, parentheses,
  ``[a b; c d]`` literals and ``:`` ranges in indices;
- indexing ``A(i, j)`` with ``:``, 1-based numbers or logical masks, and indexed assignment;
- the functions in :data:`FUNCTIONS` and the constants of ``idx_bus``, ``idx_gen``,
  ``idx_brch`` and ``idx_cost`` (bound by position, as MATLAB does);
- ``if``/``elseif``/``else``/``end`` blocks.

Anything else is a :class:`~gridshield.errors.ParseError` naming the line and the construct.
Sizes are bounded (:data:`MAX_ELEMENTS`) before an array is allocated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.errors import ParseError

#: Largest array an expression may build (elements), far above any MATPOWER case's table.
MAX_ELEMENTS = 50_000_000

#: Outputs of MATPOWER's index functions, in MATLAB output order, with their values.
IDX_FUNCTIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "idx_bus": (
        ("PQ", 1), ("PV", 2), ("REF", 3), ("NONE", 4), ("BUS_I", 1), ("BUS_TYPE", 2), ("PD", 3), ("QD", 4),
        ("GS", 5), ("BS", 6), ("BUS_AREA", 7), ("VM", 8), ("VA", 9), ("BASE_KV", 10), ("ZONE", 11),
        ("VMAX", 12), ("VMIN", 13), ("LAM_P", 14), ("LAM_Q", 15), ("MU_VMAX", 16), ("MU_VMIN", 17),
    ),
    "idx_gen": (
        ("GEN_BUS", 1), ("PG", 2), ("QG", 3), ("QMAX", 4), ("QMIN", 5), ("VG", 6), ("MBASE", 7),
        ("GEN_STATUS", 8), ("PMAX", 9), ("PMIN", 10), ("MU_PMAX", 22), ("MU_PMIN", 23), ("MU_QMAX", 24),
        ("MU_QMIN", 25), ("PC1", 11), ("PC2", 12), ("QC1MIN", 13), ("QC1MAX", 14), ("QC2MIN", 15),
        ("QC2MAX", 16), ("RAMP_AGC", 17), ("RAMP_10", 18), ("RAMP_30", 19), ("RAMP_Q", 20), ("APF", 21),
    ),
    "idx_brch": (
        ("F_BUS", 1), ("T_BUS", 2), ("BR_R", 3), ("BR_X", 4), ("BR_B", 5), ("RATE_A", 6), ("RATE_B", 7),
        ("RATE_C", 8), ("TAP", 9), ("SHIFT", 10), ("BR_STATUS", 11), ("PF", 14), ("QF", 15), ("PT", 16),
        ("QT", 17), ("MU_SF", 18), ("MU_ST", 19), ("ANGMIN", 12), ("ANGMAX", 13), ("MU_ANGMIN", 20),
        ("MU_ANGMAX", 21),
    ),
    "idx_cost": (
        ("PW_LINEAR", 1), ("POLYNOMIAL", 2), ("MODEL", 1), ("STARTUP", 2), ("SHUTDOWN", 3), ("NCOST", 4), ("COST", 5),
    ),
}

_CONSTANTS = {
    "Inf": np.inf, "inf": np.inf, "NaN": np.nan, "nan": np.nan, "pi": np.pi, "eps": float(np.finfo(float).eps),
    "true": True, "false": False,
}


class MatlabError(Exception):
    """Raised inside the evaluator; the caller turns it into a ParseError with file and line."""


def _m(x: Any) -> np.ndarray:
    """A value as a 2-D array (MATLAB's shape rules)."""
    a = np.asarray(x)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a


def _num(a: np.ndarray) -> np.ndarray:
    return a.astype(float) if a.dtype == bool else a


def _scalar_of(a: np.ndarray, what: str) -> float:
    if a.size != 1:
        raise MatlabError(f"{what} needs a scalar, got a {a.shape[0]}x{a.shape[1]} array")
    return float(a.reshape(-1)[0])


def _bound(shape: tuple[int, ...]) -> None:
    n = int(np.prod(shape)) if shape else 1
    if n > MAX_ELEMENTS:
        raise MatlabError(f"an array of {n:,} elements is larger than the limit {MAX_ELEMENTS:,} for case files")


def _elementwise(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    def call(*args: np.ndarray) -> np.ndarray:
        if len(args) != 1:
            raise MatlabError(f"{fn.__name__} takes one argument, got {len(args)}")
        with np.errstate(all="ignore"):
            return _m(fn(_num(args[0])))

    return call


def _find(*args: np.ndarray) -> np.ndarray:
    if len(args) != 1:
        raise MatlabError("find takes one argument here (find(mask))")
    a = args[0]
    flat = a.reshape(-1, order="F") != 0
    idx = np.flatnonzero(flat).astype(float) + 1
    return idx.reshape(-1, 1) if a.shape[1] == 1 else idx.reshape(1, -1)


def _filled(value: float) -> Callable[..., np.ndarray]:
    def call(*args: np.ndarray) -> np.ndarray:
        dims = [int(_scalar_of(a, "ones/zeros")) for a in args] or [1]
        if len(dims) == 1:
            dims = dims * 2
        if len(dims) != 2 or min(dims) < 0:
            raise MatlabError("ones/zeros take one or two non-negative sizes here")
        _bound(tuple(dims))
        return np.full(dims, value)

    return call


def _size(*args: np.ndarray) -> np.ndarray:
    if len(args) == 1:
        return _m(np.array(args[0].shape, dtype=float))
    if len(args) == 2:
        d = int(_scalar_of(args[1], "size(A, dim)"))
        if d not in (1, 2):
            raise MatlabError("size(A, dim) takes dim 1 or 2")
        return _m(float(args[0].shape[d - 1]))
    raise MatlabError("size takes one or two arguments")


def _reduce(fn: Callable[..., Any], name: str) -> Callable[..., np.ndarray]:
    def call(*args: np.ndarray) -> np.ndarray:
        if len(args) == 2:
            with np.errstate(all="ignore"):
                return _m(fn(np.stack(np.broadcast_arrays(_num(args[0]), _num(args[1]))), axis=0))
        if len(args) != 1:
            raise MatlabError(f"{name} takes one or two arguments here")
        a = _num(args[0])
        if a.size == 0:
            return np.zeros((1, 0))
        return _m(fn(a, axis=1 if a.shape[0] == 1 else 0))

    return call


#: Functions a case file may call.
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "sqrt": _elementwise(np.sqrt), "sin": _elementwise(np.sin), "cos": _elementwise(np.cos),
    "tan": _elementwise(np.tan), "asin": _elementwise(np.arcsin), "acos": _elementwise(np.arccos),
    "atan": _elementwise(np.arctan), "exp": _elementwise(np.exp), "log": _elementwise(np.log),
    "log10": _elementwise(np.log10), "abs": _elementwise(np.abs), "round": _elementwise(np.round),
    "floor": _elementwise(np.floor), "ceil": _elementwise(np.ceil), "isinf": _elementwise(np.isinf),
    "isnan": _elementwise(np.isnan), "find": _find, "ones": _filled(1.0), "zeros": _filled(0.0), "size": _size,
    "sum": _reduce(np.sum, "sum"), "min": _reduce(np.min, "min"), "max": _reduce(np.max, "max"),
}
FUNCTIONS["deg2rad"] = _elementwise(np.deg2rad)
FUNCTIONS["rad2deg"] = _elementwise(np.rad2deg)


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\.\*|\./|\.\^|==|~=|<=|>=|&&|\|\||[-+*/^<>&|~(),;:\[\].=])"
    r"|(?P<ws>[ \t]+)"
    r"|(?P<nl>\n)"
)


@dataclass(frozen=True)
class Tok:
    kind: str  # num, name, op, nl, end
    text: str
    ws_before: bool
    ws_after: bool


def tokenize(text: str) -> list[Tok]:
    """Tokens of one statement (comments and ``...`` continuations already removed)."""
    raw: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise MatlabError(f"unexpected character {text[pos]!r}")
        raw.append((m.lastgroup or "", m.group()))
        pos = m.end()
    out: list[Tok] = []
    for i, (kind, s) in enumerate(raw):
        if kind == "ws":
            continue
        before = i > 0 and raw[i - 1][0] == "ws"
        after = i + 1 < len(raw) and raw[i + 1][0] == "ws"
        out.append(Tok(kind, s, before, after))
    out.append(Tok("end", "", False, False))
    return out


# --------------------------------------------------------------------------------------------
# parser -> small AST of tuples
# --------------------------------------------------------------------------------------------
_BINARY = [("||",), ("&&",), ("|",), ("&",), ("==", "~=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", ".*", "./")]


class Parser:
    """Recursive-descent parser of one MATLAB expression or assignment target."""

    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0
        self.brackets = 0  # inside [...]: whitespace separates elements

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> Tok:
        t = self.toks[self.i]
        if text is not None and t.text != text:
            found = t.text or "the end of the statement"
            raise MatlabError(f"expected {text!r}, found {found!r}")
        self.i += 1
        return t

    def at_end(self) -> bool:
        return self.peek().kind == "end"

    def target(self) -> tuple:
        """The left side of an assignment: a name, ``mpc.<field>`` or an indexed field."""
        node = self.postfix()
        if not self.at_end():
            raise MatlabError(f"unexpected {self.peek().text!r} on the left of '='")
        return node

    def expr(self, level: int = 0) -> tuple:
        if level == len(_BINARY):
            return self.unary()
        left = self.expr(level + 1)
        while True:
            t = self.peek()
            if t.kind != "op" or t.text not in _BINARY[level]:
                return left
            if self.brackets and t.text in "+-" and t.ws_before and not t.ws_after:
                return left  # "[a -b]" is two elements
            self.take()
            left = ("bin", t.text, left, self.expr(level + 1))

    def unary(self) -> tuple:
        t = self.peek()
        if t.kind == "op" and t.text in ("-", "+", "~"):
            self.take()
            return ("un", t.text, self.unary())
        return self.power()

    def power(self) -> tuple:
        base = self.postfix()
        t = self.peek()
        if t.kind == "op" and t.text in ("^", ".^"):
            self.take()
            # MATLAB: ^ binds tighter than unary minus on its left, and takes a unary operand on its right
            u = self.peek()
            if u.kind == "op" and u.text in ("-", "+"):
                self.take()
                return ("bin", t.text, base, ("un", u.text, self.postfix()))
            return ("bin", t.text, base, self.postfix())
        return base

    def postfix(self) -> tuple:
        node = self.primary()
        while True:
            t = self.peek()
            if t.text == "(" and not (self.brackets and t.ws_before):
                self.take()
                args = self.args()
                node = ("call", node, args)
            else:
                return node

    def args(self) -> list[tuple]:
        saved, self.brackets = self.brackets, 0
        out: list[tuple] = []
        if self.peek().text == ")":
            self.take()
            self.brackets = saved
            return out
        while True:
            if self.peek().text == ":" and self.toks[self.i + 1].text in (",", ")"):
                self.take()
                out.append(("colon",))
            else:
                out.append(self.range_expr())
            t = self.take()
            if t.text == ")":
                break
            if t.text != ",":
                raise MatlabError(f"expected ',' or ')' in an argument list, found {t.text or 'the end'!r}")
        self.brackets = saved
        return out

    def range_expr(self) -> tuple:
        first = self.expr()
        if self.peek().text != ":":
            return first
        self.take()
        second = self.expr()
        if self.peek().text == ":":
            self.take()
            return ("range", first, second, self.expr())
        return ("range", first, ("num", 1.0), second)

    def primary(self) -> tuple:
        t = self.take()
        if t.kind == "num":
            return ("num", float(t.text))
        if t.kind == "name":
            if t.text == "mpc" and self.peek().text == ".":
                self.take(".")
                f = self.take()
                if f.kind != "name":
                    raise MatlabError("expected a field name after 'mpc.'")
                return ("field", f.text)
            return ("name", t.text)
        if t.text == "(":
            saved, self.brackets = self.brackets, 0
            inner = self.expr()
            self.take(")")
            self.brackets = saved
            return inner
        if t.text == "[":
            return self.matrix()
        raise MatlabError(f"unexpected {t.text or 'end of the statement'!r}")

    def matrix(self) -> tuple:
        self.brackets += 1
        rows: list[list[tuple]] = [[]]
        while True:
            t = self.peek()
            if t.text == "]":
                self.take()
                break
            if t.kind == "end":
                raise MatlabError("no closing ']'")
            if t.text in (";",) or t.kind == "nl":
                self.take()
                rows.append([])
                continue
            if t.text == ",":
                self.take()
                continue
            rows[-1].append(self.range_expr())
        self.brackets -= 1
        return ("matrix", [r for r in rows if r])


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
class Evaluator:
    """Evaluates statements against variables and the case's ``mpc`` fields.

    ``fields`` maps an ``mpc`` field name to its value (a 2-D float array or a scalar/string);
    assignments update it in place (the dict, never the arrays: new arrays are stored).
    """

    def __init__(self, fields: dict[str, Any]):
        self.fields = fields
        self.vars: dict[str, np.ndarray] = {}

    # -- expressions -------------------------------------------------------------------------
    def value(self, node: tuple) -> np.ndarray:
        kind = node[0]
        if kind == "num":
            return _m(node[1])
        if kind == "name":
            return self.lookup(node[1])
        if kind == "field":
            return self.field(node[1])
        if kind == "un":
            v = self.value(node[2])
            if node[1] == "~":
                return _m(v == 0)
            return _m(-_num(v)) if node[1] == "-" else _num(v)
        if kind == "bin":
            return self.binary(node[1], self.value(node[2]), self.value(node[3]) if node[1] not in ("&&", "||") else node[3])
        if kind == "matrix":
            return self.matrix(node[1])
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "range":
            a, s, b = (_scalar_of(self.value(x), "a range a:b") for x in node[1:])
            if s == 0 or not np.isfinite([a, s, b]).all():
                raise MatlabError("a range a:step:b needs finite numbers and a non-zero step")
            n = int(np.floor((b - a) / s + 1e-10)) + 1
            _bound((max(n, 0),))
            return _m(a + s * np.arange(max(n, 0), dtype=float))
        if kind == "colon":
            raise MatlabError("':' stands alone only inside an index")
        raise MatlabError(f"unsupported expression {kind}")  # pragma: no cover - parser makes only the above

    def lookup(self, name: str) -> np.ndarray:
        if name in self.vars:
            return self.vars[name]
        if name in _CONSTANTS:
            return _m(_CONSTANTS[name])
        if name in FUNCTIONS:
            return FUNCTIONS[name]()
        if name.startswith("idx_") or name in {n for fn in IDX_FUNCTIONS.values() for n, _ in fn}:
            raise MatlabError(
                f"{name} is not defined; MATPOWER's column names need a line like '[PQ, PV, ...] = idx_bus;' first"
            )
        raise MatlabError(f"unknown name {name!r} (a variable must be assigned before it is used)")

    def field(self, name: str) -> np.ndarray:
        if name not in self.fields:
            raise MatlabError(f"mpc.{name} is used before it is assigned")
        v = self.fields[name]
        if isinstance(v, str):
            raise MatlabError(f"mpc.{name} is text; arithmetic needs numbers")
        return _m(v)

    def binary(self, op: str, a: np.ndarray, b: Any) -> np.ndarray:
        if op in ("&&", "||"):
            left = _scalar_of(a, op) != 0
            if (op == "&&" and not left) or (op == "||" and left):
                return _m(left)
            return _m(_scalar_of(self.value(b), op) != 0)
        x, y = _num(a), _num(b)
        scalar = x.size == 1 or y.size == 1
        with np.errstate(all="ignore"):
            if op == "*" and not scalar:
                if x.shape[1] != y.shape[0]:
                    raise MatlabError(f"matrix product of {x.shape[0]}x{x.shape[1]} and {y.shape[0]}x{y.shape[1]}")
                _bound((x.shape[0], y.shape[1]))
                return x @ y
            if op == "/" and y.size != 1:
                raise MatlabError("'/' by a matrix (a linear solve) is not supported in case files; use './'")
            if op == "^" and not (x.size == 1 and y.size == 1):
                raise MatlabError("'^' of a matrix is not supported in case files; use '.^'")
            try:
                shape = np.broadcast_shapes(x.shape, y.shape)
            except ValueError:
                raise MatlabError(
                    f"'{op}' of a {x.shape[0]}x{x.shape[1]} and a {y.shape[0]}x{y.shape[1]} array"
                ) from None
            _bound(shape)
            fn = {
                "+": np.add, "-": np.subtract, "*": np.multiply, ".*": np.multiply, "/": np.divide,
                "./": np.divide, "^": np.power, ".^": np.power, "==": np.equal, "~=": np.not_equal,
                "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                "&": np.logical_and, "|": np.logical_or,
            }[op]
            return _m(fn(x, y))

    def matrix(self, rows: list[list[tuple]]) -> np.ndarray:
        if not rows:
            return np.zeros((0, 0))
        blocks = []
        for r in rows:
            parts = [_num(self.value(e)) for e in r]
            parts = [p for p in parts if p.size]
            if not parts:
                continue
            if len({p.shape[0] for p in parts}) != 1:
                raise MatlabError("the elements of a matrix row [...] have different numbers of rows")
            blocks.append(np.hstack(parts))
        if not blocks:
            return np.zeros((0, 0))
        if len({b.shape[1] for b in blocks}) != 1:
            raise MatlabError("the rows of a matrix [...] have different numbers of columns")
        return np.vstack(blocks)

    def call(self, target: tuple, args: list[tuple]) -> np.ndarray:
        if target[0] == "name" and target[1] not in self.vars:
            fn = FUNCTIONS.get(target[1])
            if fn is None:
                if target[1] in _CONSTANTS:
                    return self.index(_m(_CONSTANTS[target[1]]), args, target[1])
                raise MatlabError(
                    f"unknown function {target[1]!r}; case files may call {', '.join(sorted(FUNCTIONS))}"
                )
            return fn(*[self.value(a) for a in args])
        base = self.value(target)
        name = f"mpc.{target[1]}" if target[0] == "field" else str(target[1])
        return self.index(base, args, name)

    def subscripts(self, base: np.ndarray, args: list[tuple], name: str) -> tuple[Any, Any]:
        """Row and column selectors (NumPy) for ``base(args)``; 2-D or vector indexing."""
        if len(args) == 1 and 1 in base.shape:
            sel = self.selector(args[0], base.size, name)
            return (0, sel) if base.shape[0] == 1 else (sel, 0)
        if len(args) != 2:
            raise MatlabError(f"{name}(...) needs two subscripts (row, column) here, got {len(args)}")
        return self.selector(args[0], base.shape[0], name), self.selector(args[1], base.shape[1], name)

    def selector(self, node: tuple, n: int, name: str) -> Any:
        if node[0] == "colon":
            return slice(None)
        v = self.value(node)
        if v.dtype == bool:
            flat = v.reshape(-1, order="F")
            if flat.size != n:
                raise MatlabError(f"a logical index into {name} has {flat.size} elements; the dimension has {n}")
            return np.flatnonzero(flat)
        flat = v.reshape(-1, order="F")
        if flat.size and (np.any(flat != np.round(flat)) or flat.min() < 1):
            raise MatlabError(f"an index into {name} must be a positive integer (1-based), got {flat.min():g}")
        if flat.size and flat.max() > n:
            raise MatlabError(f"index {int(flat.max())} is beyond the {n} of {name} (case files may not grow tables)")
        return flat.astype(np.int64) - 1

    def index(self, base: np.ndarray, args: list[tuple], name: str) -> np.ndarray:
        r, c = self.subscripts(base, args, name)
        if isinstance(r, np.ndarray) and isinstance(c, np.ndarray):
            return _m(base[np.ix_(r, c)])
        out = base[r, c]
        if isinstance(r, int) and base.shape[0] == 1 or isinstance(c, int) and base.shape[1] == 1:
            out = np.asarray(out).reshape(1, -1) if isinstance(r, int) else np.asarray(out).reshape(-1, 1)
        return _m(out)

    # -- statements --------------------------------------------------------------------------
    def assign(self, target: tuple, rhs: tuple) -> None:
        value = self.value(rhs)
        if target[0] == "name":
            if target[1] in FUNCTIONS or target[1] == "mpc":
                raise MatlabError(f"assigning to {target[1]!r} is not supported in case files")
            self.vars[target[1]] = value
        elif target[0] == "field":
            self.fields[target[1]] = _scalar_of(value, f"mpc.{target[1]}") if value.size == 1 else _num(value).copy()
        elif target[0] == "call" and target[1][0] == "field":
            name = target[1][1]
            base = np.array(_num(self.field(name)), dtype=float)
            r, c = self.subscripts(base, target[2], f"mpc.{name}")
            if isinstance(r, np.ndarray) and isinstance(c, np.ndarray):
                r, c = np.ix_(r, c)
            block = base[r, c]
            v = _num(value)
            if v.size != 1 and v.size != np.size(block):
                raise MatlabError(f"mpc.{name}(...) = ...: {v.size} values for {np.size(block)} elements")
            base[r, c] = v.reshape(-1)[0] if v.size == 1 else v.reshape(np.shape(block))
            self.fields[name] = base if base.shape != (1, 1) or not np.isscalar(self.fields[name]) else float(base[0, 0])
        else:
            raise MatlabError("the left side must be a variable, mpc.<field> or mpc.<field>(rows, columns)")

    def truth(self, node: tuple) -> bool:
        v = self.value(node)
        return bool(v.size) and bool(np.all(_num(v) != 0))


# --------------------------------------------------------------------------------------------
# statements of a file
# --------------------------------------------------------------------------------------------
_IDX_CALL = re.compile(r"^\[([\w\s,]*)\]\s*=\s*(\w+)\s*$")
_KEYWORD = re.compile(r"^(if|elseif|else|end|for|while|switch|function|return|try|catch|break|continue)\b")


def split_statements(text: str) -> list[str]:
    """Statements of one logical line: split at ``;`` and ``,`` outside brackets and parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ";," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _split_assignment(stmt: str) -> tuple[str, str] | None:
    """``(lhs, rhs)`` at the first top-level ``=`` that is not part of ``==``, ``~=``, ``<=``, ``>=``."""
    depth = 0
    for i, ch in enumerate(stmt):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            prev = stmt[i - 1] if i else ""
            nxt = stmt[i + 1] if i + 1 < len(stmt) else ""
            if prev not in "=~<>" and nxt != "=":
                return stmt[:i], stmt[i + 1 :]
    return None


class Program:
    """Runs the non-data statements of a MATPOWER file, in order, with ``if`` blocks."""

    def __init__(self, fields: dict[str, Any], path: str):
        self.ev = Evaluator(fields)
        self.path = path
        self.blocks: list[list[Any]] = []  # per open if: [this branch active, some branch taken, line of the if]

    @property
    def active(self) -> bool:
        return all(b[0] for b in self.blocks)

    def error(self, line: int, stmt: str, why: str) -> ParseError:
        return ParseError(self.path, line, f"cannot read the statement {stmt[:70]!r}: {why}")

    def run(self, stmt: str, line: int) -> None:
        """Execute one statement (already free of comments and continuations)."""
        try:
            kw = _KEYWORD.match(stmt)
            if kw is not None:
                self.keyword(kw.group(1), stmt[kw.end() :].strip(), stmt, line)
                return
            if not self.active:
                return
            m = _IDX_CALL.match(stmt)
            if m is not None:
                self.idx_call(m.group(2), [n.strip() for n in m.group(1).split(",") if n.strip()])
                return
            parts = _split_assignment(stmt)
            if parts is None:
                raise MatlabError("only assignments 'x = ...' and if-blocks are read (gridshield does not run code)")
            target = Parser(tokenize(parts[0].strip())).target()
            p = Parser(tokenize(parts[1].strip()))
            rhs = p.range_expr()
            if not p.at_end():
                raise MatlabError(f"unexpected {p.peek().text!r} after the expression")
            self.ev.assign(target, rhs)
        except MatlabError as exc:
            raise self.error(line, stmt, str(exc)) from None

    def idx_call(self, fn: str, names: list[str]) -> None:
        spec = IDX_FUNCTIONS.get(fn)
        if spec is None:
            raise MatlabError(f"[...] = {fn} is not one of {', '.join(IDX_FUNCTIONS)}")
        if len(names) > len(spec):
            raise MatlabError(f"{fn} has {len(spec)} outputs, {len(names)} were asked for")
        for name, (_, value) in zip(names, spec, strict=False):
            self.ev.vars[name] = _m(float(value))

    def keyword(self, kw: str, rest: str, stmt: str, line: int) -> None:
        if kw == "if":
            cond = self.active and self.ev.truth(self.parse(rest))
            self.blocks.append([cond, cond, line])
        elif kw in ("elseif", "else"):
            if not self.blocks:
                raise MatlabError(f"'{kw}' without 'if'")
            top = self.blocks[-1]
            outer = all(b[0] for b in self.blocks[:-1])
            take = outer and not top[1] and (kw == "else" or self.ev.truth(self.parse(rest)))
            top[0] = take
            top[1] = top[1] or take
        elif kw == "end":
            if self.blocks:
                self.blocks.pop()
        elif kw in ("function", "return"):
            pass
        else:
            raise MatlabError(f"'{kw}' is not supported in case files (only if/elseif/else/end)")

    def parse(self, text: str) -> tuple:
        p = Parser(tokenize(text))
        node = p.expr()
        if not p.at_end():
            raise MatlabError(f"unexpected {p.peek().text!r} in the condition")
        return node

    def finish(self) -> None:
        """Check that every ``if`` was closed."""
        if self.blocks:
            raise ParseError(self.path, self.blocks[-1][2], "this 'if' block is not closed by 'end'")


__all__ = ["FUNCTIONS", "IDX_FUNCTIONS", "MAX_ELEMENTS", "Evaluator", "MatlabError", "Program", "split_statements", "tokenize"]
