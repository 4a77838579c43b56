"""CLI: ``gridshield report RUN|SCENARIO --out report.html``."""

from __future__ import annotations

from pathlib import Path

import typer

from rich.text import Text

from gridshield.cli import app, console, err_console
from gridshield.errors import GridshieldError


@app.command()
def report(
    source: str = typer.Argument(..., help="a stored run id (see `gridshield runs`) or a scenario YAML file"),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write (self-contained, offline)"),
    store: Path = typer.Option(Path("runs.duckdb"), help="results store holding the run"),
    samples: int = typer.Option(500, help="samples when SOURCE is a scenario"),
    seed: int = typer.Option(1, help="seed when SOURCE is a scenario"),
) -> None:
    """Write one self-contained HTML report (summary, figures, tables, inputs and seed)."""
    from gridshield.report.build import run_report, scenario_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise GridshieldError(f"--out {out}: the report is an HTML file; give a name ending in .html")
    if Path(source).suffix.lower() in (".yaml", ".yml") or Path(source).is_file():
        if not Path(source).is_file():
            raise GridshieldError(f"scenario file {source!r} does not exist")
        from gridshield.threat.commands import risk_progress_bar

        with risk_progress_bar(Path(source).stem) as cb:
            rep = scenario_report(source, samples=samples, seed=seed, progress=cb)
    else:
        if not store.exists():
            raise GridshieldError(f"results store {store} does not exist; pass --store or a scenario YAML")
        rep = run_report(store, source)
    rep.write(out)
    if rep.warning:
        err_console.print(Text.assemble(("warning:", "bold yellow"), f" {rep.warning}"), soft_wrap=True)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline)")
