"""Structure rules checked on the source (issue 13): no import cycles between gridshield's modules,
and the engine never writes to the terminal (only the CLI does; the engine reports progress through
callbacks and problems through exceptions or ``logging``)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gridshield"


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of gridshield that ``name`` imports anywhere (top level, functions, TYPE_CHECKING)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                if full in known:
                    out.add(full)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    mods = _modules()
    graph = {m: _imports(m, p, set(mods)) for m, p in mods.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: Modules that talk to the terminal: the CLI and its command modules, and the demo (a CLI story).
_CLI = ("gridshield.cli", "gridshield.demo", "gridshield.__main__")
#: ``optim`` redirects fd 1 around HiGHS's banner (it keeps output *off* the terminal).
_ALLOWED_STDOUT = ("gridshield.optim",)


def _terminal_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "input"):
            found.append(f"{node.func.id}() at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in ("stdout", "stderr"):
                found.append(f"sys.{node.attr} at line {node.lineno}")
            if node.value.id == "traceback" and node.attr.startswith("print"):
                found.append(f"traceback.{node.attr} at line {node.lineno}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "gridshield.cli" and names & {"console", "err_console"}:
                found.append(f"gridshield.cli console at line {node.lineno}")
            if node.module.startswith(("rich.console", "rich.progress", "rich.live", "tqdm")):
                found.append(f"{node.module} at line {node.lineno}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(("tqdm", "rich.console", "rich.progress")):
                    found.append(f"import {a.name} at line {node.lineno}")
    return found


def test_engine_never_writes_to_the_terminal():
    bad = {}
    for name, path in _modules().items():
        if name in _CLI or name.endswith(".commands") or name in _ALLOWED_STDOUT:
            continue
        uses = _terminal_uses(ast.parse(path.read_text(encoding="utf-8")))
        if uses:
            bad[name] = uses
    assert bad == {}, "engine modules must report through callbacks, exceptions or logging"


def test_terminal_check_sees_a_print():
    assert _terminal_uses(ast.parse("import sys\nprint(1)\nsys.stderr.write('x')\n")) == [
        "print() at line 2", "sys.stderr at line 3",
    ]
