"""CLI: ``gridshield report RUN|SCENARIO --out report.html``."""

from __future__ import annotations

from pathlib import Path

import typer

from gridshield.cli import app, console
from gridshield.errors import GridshieldError

#: Most repair crews a report plans for (Ukrenergo fielded 70 mobile teams; DOMAIN.md section 2).
MAX_CREWS = 200


@app.command()
def report(
    source: str = typer.Argument(..., help="a stored run id (see `gridshield runs`) or a scenario YAML file"),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write (self-contained, offline)"),
    store: Path = typer.Option(Path("runs.duckdb"), help="results store holding the run"),
    samples: int = typer.Option(500, help="samples when SOURCE is a scenario"),
    seed: int = typer.Option(1, help="seed when SOURCE is a scenario"),
    temperature: float = typer.Option(None, "--temperature", "-t",
                                      help="outdoor °C for heat and restoration (default: the grid's reference)"),
    crews: int = typer.Option(6, "--crews", help="repair crews of the restoration plan"),
    strike_time: str = typer.Option(None, "--strike-time", help="local time of the strike on the 72-hour board "
                                    "(e.g. 2026-01-12T02:00; default: now, to the hour)"),
) -> None:
    """Write the morning briefing: one self-contained HTML file (cards, the critical loads lost,
    what to do next, the 72-hour board, the district map, risk, restoration, outages, inputs)."""
    from gridshield.report.build import run_report, scenario_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise GridshieldError(f"--out {out}: the report is an HTML file; give a name ending in .html")
    if not 1 <= crews <= MAX_CREWS:
        raise GridshieldError(f"--crews {crews}: give 1 to {MAX_CREWS} repair crews")
    if temperature is not None and not -60.0 <= temperature <= 40.0:
        raise GridshieldError(f"--temperature {temperature}: give an outdoor temperature in °C (-60..40)")
    kw = {"temperature_c": temperature, "crews": crews, "strike_time": strike_time}
    if Path(source).suffix.lower() in (".yaml", ".yml") or Path(source).is_file():
        if not Path(source).is_file():
            raise GridshieldError(f"scenario file {source!r} does not exist")
        rep = scenario_report(source, samples=samples, seed=seed, **kw)
    else:
        if not store.exists():
            raise GridshieldError(f"results store {store} does not exist; pass --store or a scenario YAML")
        rep = run_report(store, source, **kw)
    rep.write(out)
    console.print(f"wrote [bold]{out}[/] ({out.stat().st_size / 1e6:.1f} MB, opens offline)")
