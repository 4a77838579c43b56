"""The ``gridshield`` command.

Commands live next to the code they drive (``gridshield/<area>/commands.py``) and register
themselves on :data:`app`; heavy imports stay inside the command functions so that
``gridshield --help`` starts fast. User mistakes (:class:`GridshieldError`) are printed without
a traceback and exit with status 2.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gridshield.errors import GridshieldError

app = typer.Typer(
    name="gridshield",
    help="Keep the lights and the heat on when the grid is under fire.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# markup and emoji codes off: a name or message that holds "[/]" or ":x:" prints as written (styles
# are given explicitly, as ``style=`` or :class:`rich.text.Text`)
console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        from gridshield import __version__

        console.print(f"gridshield {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Keep the lights and the heat on when the grid is under fire."""

#: Modules whose import registers commands on ``app`` (each area owns its commands).
COMMAND_MODULES = (
    "gridshield.grid.commands",
    "gridshield.flow.commands",
    "gridshield.impact.commands",
    "gridshield.security.commands",
    "gridshield.threat.commands",
    "gridshield.restore.commands",
    "gridshield.heat.commands",
    "gridshield.outages.commands",
    "gridshield.report.commands",
    "gridshield.web.commands",
    "gridshield.demo",
)


def write_output(result: Any, out: Path | None) -> None:
    """Write a result to ``out`` by extension: ``.json`` = ``to_dict()``, ``.csv``/``.parquet`` = ``to_frame()``."""
    if out is None:
        return
    from gridshield.io import atomic_write, atomic_write_text

    suffix = out.suffix.lower()
    if suffix == ".json":
        atomic_write_text(out, json.dumps(result.to_dict(), indent=2, default=_json_default) + "\n")
    elif suffix == ".csv":
        import pandas as pd

        df = result.to_frame()
        # a plain 0..n-1 index carries nothing: leave it out instead of an unnamed first column
        atomic_write(out, lambda p: df.to_csv(p, index=not isinstance(df.index, pd.RangeIndex)))
    elif suffix == ".parquet":
        atomic_write(out, lambda p: result.to_frame().to_parquet(p))
    else:
        raise GridshieldError(f"--out {out}: unknown extension {suffix!r}; use .json, .csv or .parquet")
    console.print(f"wrote {out}")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def kv_table(title: str, rows: dict[str, Any]) -> Table:
    """A two-column Rich table of a summary dict."""
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    for k, v in rows.items():
        t.add_row(k, v if isinstance(v, Text) else f"{v:,.3f}" if isinstance(v, float) else str(v))
    return t


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, the message verbatim (no markup, no emoji codes, no wrapping)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def _register_commands() -> None:
    for mod in COMMAND_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name is None or not mod.startswith(exc.name):
                raise


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """Click's exception classes: Typer >= 0.16 vendors its own copy (``typer._click``)."""
    types: list[type[BaseException]] = []
    for mod in ("typer._click.exceptions", "click.exceptions"):
        try:
            types.append(importlib.import_module(mod).ClickException)
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridshield`` command."""
    _register_commands()
    try:
        rc = app(args=argv, standalone_mode=False)
    except GridshieldError as exc:
        print_error(str(exc))
        sys.exit(2)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except OSError as exc:  # a file the user named cannot be read or written
        print_error(str(exc))
        sys.exit(2)
    except Exception as exc:  # click usage errors (unknown command, bad option value, ...)
        if isinstance(exc, _click_exception_types()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise
    if isinstance(rc, int) and rc:  # typer.Exit(code) under standalone_mode=False
        sys.exit(rc)
