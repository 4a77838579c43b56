"""CLI: ``gridshield report RUN|SCENARIO --out report.html``."""

from __future__ import annotations

from pathlib import Path

import typer

from rich.text import Text

from gridshield.cli import app, console, err_console
from gridshield.errors import GridshieldError
from gridshield.limits import MAX_AC_BUSES, MAX_CREWS
from gridshield.restore.plan import AC_MAX_BUSES, AC_MAX_TASKS


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
    model: str = typer.Option("dc", "--model", help="load-delivery model of the strike shown and its repair plan: dc "
                              f"(LP) or ac (voltages, reactive power; grids up to {MAX_AC_BUSES:,} buses, repair plans "
                              f"up to {AC_MAX_BUSES} buses and {AC_MAX_TASKS} tasks, else DC and said so); the Monte "
                              "Carlo numbers stay DC"),
) -> None:
    """Write the morning briefing: one self-contained HTML file (cards, the critical loads lost,
    what to do next, the 72-hour board, the district map, risk, restoration, outages, inputs).
    Every card and section says which load-delivery model produced it."""
    from gridshield.report.build import run_report, scenario_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise GridshieldError(f"--out {out}: the report is an HTML file; give a name ending in .html")
    if not 1 <= crews <= MAX_CREWS:
        raise GridshieldError(f"--crews {crews}: give 1 to {MAX_CREWS} repair crews")
    if temperature is not None and not -60.0 <= temperature <= 40.0:
        raise GridshieldError(f"--temperature {temperature}: give an outdoor temperature in °C (-60..40)")
    if model not in ("dc", "ac"):
        raise GridshieldError(f"--model {model}: give dc or ac")
    kw = {"temperature_c": temperature, "crews": crews, "strike_time": strike_time, "load_model": model}
    if Path(source).suffix.lower() in (".yaml", ".yml") or Path(source).is_file():
        if not Path(source).is_file():
            raise GridshieldError(f"scenario file {source!r} does not exist")
        from gridshield.threat.commands import risk_progress_bar

        with risk_progress_bar(Path(source).stem) as cb:
            rep = scenario_report(source, samples=samples, seed=seed, progress=cb, **kw)
    else:
        if not store.exists():
            raise GridshieldError(f"results store {store} does not exist; pass --store or a scenario YAML")
        rep = run_report(store, source, **kw)
    rep.write(out)
    if rep.warning:
        err_console.print(Text.assemble(("warning:", "bold yellow"), f" {rep.warning}"), soft_wrap=True)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline)")



def _damage_ids(damage: str | None) -> list[str]:
    return [x.strip() for x in (damage or "").split(",") if x.strip()]


@app.command("map")
def map_cmd(
    case: str = typer.Argument(..., help="case name (see `gridshield cases`) or path to a .m file"),
    damage: str = typer.Option(None, "--damage", "-d", help="damaged asset ids, comma-separated (e.g. site:S3,branch:12)"),
    geojson: Path = typer.Option(None, "--geojson", help="districts/sites GeoJSON keyed by bus ids or load groups"),
    temperature: float = typer.Option(-10.0, "--temperature", "-t", help="outdoor °C for the heat layer"),
    out: Path = typer.Option(None, "--out", "-o", help="write the map: .html (offline) or .png"),
    export_geojson: Path = typer.Option(None, "--export-geojson", help="write the case's districts and sites as GeoJSON"),
) -> None:
    """The district map of a strike: districts dark / partly served / supplied, heat off, struck sites."""
    import json

    from rich.table import Table

    from gridshield.grid import load
    from gridshield.grid.geometry import geometry_of, to_geojson
    from gridshield.io import atomic_write_text
    from gridshield.report.maps import district_states, impact_map_figure
    from gridshield.report.plots import save_figure

    if not -60.0 <= temperature <= 40.0:
        raise GridshieldError(f"--temperature {temperature}: give an outdoor temperature in °C (-60..40)")
    grid = load(case)
    geo = geometry_of(grid, geojson)
    ids = _damage_ids(damage)
    import gridshield as gs

    res = gs.assess_damage(grid, ids)
    heat = None
    if any(k.startswith("gs_heat_") for k in grid.extra_tables):
        heat = gs.assess_heat(grid, res, damage=ids, temperature_c=temperature, hours=96)
    if geo is not None and geo.areas:
        t = Table(title=f"Districts after {', '.join(ids) or 'no damage'}", title_justify="left")
        for c in ("district", "state", "served (MW)", "demand (MW)", "customers off", "critical loads off", "heat"):
            t.add_column(c, justify="right" if "MW" in c or "customers" in c else "left")
        order = {"dark": 0, "partly served": 1}
        for s in sorted(district_states(grid, geo, res, heat), key=lambda s: (order.get(s.state, 2), s.name)):
            t.add_row(s.name, s.state + (f" ({s.served_pct:.0f} %)" if s.state == "partly served" else ""),
                      f"{s.served_mw:,.1f}", f"{s.demand_mw:,.1f}", f"{s.customers_off:,}",
                      ", ".join(s.critical_off) or "-",
                      (f"off, < 12 °C after {s.hours_to_12c_h:.0f} h" if s.heat_off and s.hours_to_12c_h < 1e9
                       else "off" if s.heat_off else "on"))
        console.print(t)
    else:
        console.print(f"{grid.name} has no district areas: the map shows the network (give --geojson for areas)")
    console.print(f"load lost {res.lost_mw:,.1f} MW of {res.demand_mw:,.1f} MW; critical loads lost: "
                  + (", ".join(str(grid.loads.name[grid.loads.index[c]]) or c for c in res.critical_lost) or "none"))
    if out is not None:
        save_figure(impact_map_figure(grid, impact=res, heat=heat, damaged_ids=ids, geometry=geo), out)
        console.print(f"wrote {out}", markup=False)
    if export_geojson is not None:
        if geo is None:
            raise GridshieldError(f"--export-geojson: {grid.name} has no district areas or site coordinates")
        atomic_write_text(export_geojson, json.dumps(to_geojson(geo, grid), indent=1) + "\n")
        console.print(f"wrote {export_geojson} ({len(geo.areas)} districts, {len(geo.sites)} sites)")


@app.command("board")
def board_cmd(
    case: str = typer.Argument(..., help="case name (see `gridshield cases`) or path to a .m file"),
    damage: str = typer.Option(..., "--damage", "-d", help="damaged asset ids, comma-separated"),
    crews: int = typer.Option(6, "--crews", help="repair crews"),
    temperature: float = typer.Option(-10.0, "--temperature", "-t", help="outdoor °C (loads and heat)"),
    strike_time: str = typer.Option(None, "--strike-time", help="local time of the strike (default: now, to the hour)"),
    hours: float = typer.Option(72.0, "--hours", help="hours the board shows"),
    supply_mw: float = typer.Option(None, "--supply-mw", help="MW the city can get (default: what the grid serves)"),
    out: Path = typer.Option(Path("board.html"), "--out", "-o", help="write the board: .html (offline) or .png"),
) -> None:
    """The next hours after a strike on one clock: repair crews, load and heat served, people in
    homes below 12 °C and the rotating-outage blocks (from the next local midnight)."""
    import pandas as pd

    from gridshield.grid import load
    from gridshield.heat import scale_for_temperature
    from gridshield.outages.model import parse_start
    from gridshield.report.board import MAX_BOARD_HOURS, board_figure
    from gridshield.report.briefing import strike_story
    from gridshield.report.plots import save_figure

    if not 1 <= crews <= MAX_CREWS:
        raise GridshieldError(f"--crews {crews}: give 1 to {MAX_CREWS} repair crews")
    if not 0 < hours <= MAX_BOARD_HOURS:
        raise GridshieldError(f"--hours {hours}: give 1 to {MAX_BOARD_HOURS} hours")
    if not -60.0 <= temperature <= 40.0:
        raise GridshieldError(f"--temperature {temperature}: give an outdoor temperature in °C (-60..40)")
    ids = _damage_ids(damage)
    if not ids:
        raise GridshieldError("--damage: give at least one asset id, e.g. site:S110-Fairmont")
    grid = load(case)
    if isinstance(grid.extra_tables.get("gs_reference_temperature_c"), float):
        grid = scale_for_temperature(grid, temperature)
    t0 = parse_start(strike_time, what="--strike-time") if strike_time else pd.Timestamp.now().floor("h")
    with console.status("planning repairs and outages ..."):
        s = strike_story(grid, ids, label="this strike", strike_time=t0, temperature_c=temperature, crews=crews,
                         schedule_hours=max(24.0, hours - 24.0), supply_mw=supply_mw)
    fig = board_figure(t0, hours=hours, plan=s.plan, timeline=s.timeline, heat=s.heat, schedule=s.schedule,
                       impact=s.impact, no_schedule_note=s.schedule_note, title=f"{grid.name}: the next {hours:g} hours")
    if out.suffix.lower() == ".png":
        fig.update_layout(width=1300)
    save_figure(fig, out)
    for lid in s.impact.critical_lost:
        r = grid.loads.index[lid]
        back = s.timeline.load_back_h[r] if s.timeline is not None else float("inf")
        console.print(f"  {grid.loads.name[r] or lid}: back after {back:.0f} h" if back < 1e9 else
                      f"  {grid.loads.name[r] or lid}: not back within the plan")
    if s.schedule_note:
        console.print(s.schedule_note)
    console.print(f"wrote {out}", markup=False)
