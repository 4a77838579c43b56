"""CLI: ``gridshield restore CASE --damage ID,... --crews 6 [--spares autotransformer=1] [--temperature -10]``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from gridshield.cli import app, console, kv_table


def _damage(grid, damage: list[str] | None, damage_file: Path | None):
    from gridshield.impact import Damage

    ids: list[str] = []
    for item in damage or []:
        ids.extend(s.strip() for s in item.split(",") if s.strip())
    if damage_file is not None:
        ids.extend(Damage.from_file(damage_file, grid).ids)
    if not ids:
        from gridshield.errors import GridshieldError

        raise GridshieldError("no damage given; use --damage site:S3,branch:12 or --damage-file damage.yaml")
    return Damage.from_ids(grid, ids)


def _pairs(values: list[str] | None, what: str, cast) -> dict:
    """``["a=1,b=2", "c=3"]`` -> ``{"a": 1, "b": 2, "c": 3}`` with a clear error on bad items."""
    from gridshield.errors import GridshieldError

    out: dict = {}
    for item in values or []:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            key, sep, val = part.rpartition("=")
            if not sep or not key:
                raise GridshieldError(f"--{what} {part!r}: expected NAME=VALUE, e.g. --{what} autotransformer=1")
            try:
                out[key.strip()] = cast(val)
            except ValueError:
                raise GridshieldError(f"--{what} {part!r}: {val!r} is not a valid number") from None
    return out


@app.command()
def restore(
    case: str = typer.Argument(..., help="case name (e.g. synthetic-city, case118) or path to a .m file"),
    damage: list[str] = typer.Option(None, "--damage", "-d", help="damaged asset ids, comma-separated (repeatable)"),
    damage_file: Path = typer.Option(None, "--damage-file", help="YAML/JSON damage file: a list of asset ids, "
                                     "or a mapping with key damage"),
    crews: int = typer.Option(6, "--crews", "-c", help="number of repair crews (each does one task at a time)"),
    spares: list[str] = typer.Option(None, "--spares", help="spare stock per asset class, e.g. autotransformer=1 "
                                     "(default: unlimited)"),
    temperature: float = typer.Option(None, "--temperature", "-t", help="outdoor temperature (°C) for loads and heat"),
    method: str = typer.Option("auto", "--method", "-m", help="auto (exact MILP up to 6 tasks, else heuristic), heuristic, milp or naive (order damaged)"),
    travel_speed: float = typer.Option(None, "--travel-speed", help="crew speed (km/h) for travel between sites; "
                                       "needs bus coordinates"),
    duration: list[str] = typer.Option(None, "--duration", help="repair hours by class or id, e.g. line=8 or "
                                       "branch:12=30 (repeatable)"),
    time_limit: float = typer.Option(30.0, "--time-limit", help="seconds for the search (greedy list and local search, counted from its start) or the MILP"),
    workers: int = typer.Option(1, "--workers", "-w", help="local processes for the batches of independent "
                                "assessments of large damages (16+ repair tasks)"),
    out: Path = typer.Option(None, "--out", "-o", help="write the plan (.json = everything, .csv/.parquet = schedule)"),
    curve: Path = typer.Option(None, "--curve", help="write the resilience curve (.csv or .parquet)"),
    rows: int = typer.Option(25, "--rows", help="schedule rows to print"),
    model: str = typer.Option("dc", "--model", help="served-load model: dc (LP) or ac (AC load delivery, Ipopt; "
                              "small instances only)"),
) -> None:
    """Plan repairs with crews to restore the most (priority-weighted) load soonest; resilience curve."""
    import math

    from rich.table import Table

    from gridshield.cli import write_output
    from gridshield.grid import load
    from gridshield.restore import plan_restoration

    grid = load(case)
    dmg = _damage(grid, damage, damage_file)
    with console.status(Text(f"planning {len(dmg.ids)} damaged assets with {crews} crews ({method})...")):
        plan = plan_restoration(
            grid,
            dmg,
            crews=crews,
            spares=_pairs(spares, "spares", int) if spares else None,
            travel_speed_kmh=travel_speed,
            method=method,
            temperature_c=temperature,
            durations=_pairs(duration, "duration", float) or None,
            time_limit_s=time_limit,
            model=model,
            workers=workers,
        )
    console.print(kv_table(f"Restoration of {grid.name}: {', '.join(plan.damage)}", plan.summary()))

    t = Table(title=f"Schedule ({len(plan.task_id)} repairs)", title_justify="left")
    for c in ("crew", "task", "class", "start (h)", "end (h)", "spare", "travel (h)"):
        t.add_column(c, justify="right" if c not in ("task", "class") else "left", overflow="fold")
    for k in range(min(rows, len(plan.task_id))):
        t.add_row(str(plan.crew[k] + 1), plan.task_id[k], plan.asset_class[k], f"{plan.start_h[k]:.1f}",
                  f"{plan.end_h[k]:.1f}", "yes" if plan.spare_used[k] else "", f"{plan.travel_h[k]:.1f}")
    if len(plan.task_id) > rows:
        t.caption = f"... {len(plan.task_id) - rows} more (--rows, or --out plan.csv)"
    console.print(t)

    c = Table(title="Methods compared", title_justify="left")
    for col in ("method", "weighted ENS (MWh)", "ENS (MWh)", "makespan (h)", "runtime (s)", "vs naive"):
        c.add_column(col, justify="left" if col == "method" else "right")
    naive_w = plan.comparison["naive"]["weighted_ens_mwh"]
    for name, r in plan.comparison.items():
        cut = "" if name == "naive" or naive_w <= 0 else f"{100 * (naive_w - r['weighted_ens_mwh']) / naive_w:.1f} % less"
        c.add_row(name + (" (optimal)" if r["optimal"] else ""), f"{r['weighted_ens_mwh']:,.1f}", f"{r['ens_mwh']:,.1f}",
                  f"{r['makespan_h']:.1f}", f"{r['runtime_s']:.2f}", cut)
    console.print(c)

    m = Table(title="Resilience curve milestones", title_justify="left")
    m.add_column("restored (% of intact load)", justify="right")
    m.add_column("after (h)", justify="right")
    for pct in (50.0, 80.0, 90.0, 99.0, 100.0):
        h = plan.hours_to_restore(pct)
        m.add_row(f"{pct:.0f} %", f"{h:.1f}" if math.isfinite(h) else "never")
    console.print(m)
    if plan.method != "naive":
        console.print(Text.assemble((plan.method, "bold"), " cuts the weighted energy not served by ",
                                    (f"{plan.improvement_over_naive_pct:.1f} %", "bold green"),
                                    " against repairing in the order damaged."))
    write_output(plan, out)
    if curve is not None:
        from gridshield.errors import GridshieldError
        from gridshield.io import atomic_write

        suffix = curve.suffix.lower()
        if suffix == ".csv":
            atomic_write(curve, lambda p: plan.curve_frame().to_csv(p, index=False))
        elif suffix == ".parquet":
            atomic_write(curve, lambda p: plan.curve_frame().to_parquet(p))
        else:
            raise GridshieldError(f"--curve {curve}: unknown extension {suffix!r}; use .csv or .parquet")
        console.print(f"wrote {curve}")
