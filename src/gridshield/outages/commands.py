"""``gridshield schedule``: a rotating-outage timetable from groups + deficit files (or a grid)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from gridshield.cli import app, console, kv_table
from gridshield.errors import GridshieldError

_DUR = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(h|hr|hrs|hours?|m|min|mins|minutes?)?\s*$", re.I)


def parse_hours(text: str | None, what: str) -> float | None:
    """'4h', '90m', '4' -> hours."""
    if text is None:
        return None
    m = _DUR.match(str(text))
    if not m:
        raise GridshieldError(f"{what}: cannot read {text!r} as a duration; write e.g. 4h, 90m or 4")
    v = float(m.group(1))
    unit = (m.group(2) or "h").lower()
    return v / 60.0 if unit.startswith("m") else v


def parse_amount(text: str | None, what: str) -> tuple[float, float]:
    """'5%' -> (0, 0.05); '20MW' or '20' -> (20, 0)."""
    if text is None:
        return 0.0, 0.0
    s = str(text).strip().lower().replace(" ", "")
    try:
        if s.endswith("%"):
            return 0.0, float(s[:-1]) / 100.0
        if s.endswith("mw"):
            s = s[:-2]
        return float(s), 0.0
    except ValueError:
        raise GridshieldError(f"{what}: cannot read {text!r}; write e.g. 5% or 20MW") from None


def _bar(row, t0: int, t1: int) -> Text:
    chars = {0: ("·", "white"), 1: ("█", "bold"), 2: ("▒", "grey50")}
    return Text.assemble(*(chars[int(v)] for v in row[t0:t1]))


def print_schedule(sched, max_days: int = 2) -> None:
    from rich.table import Table

    rep = sched.report()
    rows = {
        "method": f"{rep['method']} ({rep['status']})",
        "horizon": f"{sched.times[0]:%Y-%m-%d %H:%M} to {sched.end:%Y-%m-%d %H:%M} ({sched.n_steps} steps of {sched.step_h:g} h)",
        "groups": f"{int((~sched.exempt).sum())} switchable, {int(sched.exempt.sum())} exempt",
        "max hours off (weighted)": f"{sched.fairness_h:g} h",
        "lower bound": "-" if sched.bound_h is None else f"{sched.bound_h:g} h (gap {rep['gap_h']:g} h, {100 * rep['gap']:.1f} %)",
        "deficit covered every step": "yes" if sched.covered else Text.assemble(
            ("NO", "red"), f" ({rep['uncovered_steps']} steps, up to {rep['max_shortfall_mw']:.1f} MW)"),
        "peak deficit + margin": f"{sched.required_mw.max():,.1f} MW",
        "customer-hours off": f"{rep['customer_hours_off']:,.0f}",
        "switching operations": rep["switchings"],
        "runtime": f"{sched.runtime_s:.2f} s",
    }
    console.print(kv_table("Rotating outage schedule", rows))
    summ = sched.summary()
    t = Table(title="Per group", title_justify="left")
    for c in ("group", "customers", "hours off", "possible h", "outages", "longest", "night outages", "max h/day"):
        t.add_column(c, justify="right" if c != "group" else "left")
    for r in summ.itertuples():
        if r.exempt:
            t.add_row(str(r.group), f"{r.customers:,}", "exempt", "", "", "", "", "")
        else:
            t.add_row(str(r.group), f"{r.customers:,}", f"{r.hours_off:g}", f"{r.hours_possible:g}", str(r.outages),
                      f"{r.longest_off_h:g} h", str(r.night_outages), f"{r.max_off_h_in_a_day:g}")
    console.print(t)
    days = sched.times.normalize()
    for d in list(dict.fromkeys(days))[:max_days]:
        idx = [i for i, x in enumerate(days) if x == d]
        t0, t1 = idx[0], idx[-1] + 1
        console.print(Text.assemble((f"{d:%a %d %b}", "bold"), f"  (· on, █ off, ▒ possible; one char per "
                                    f"{sched.step_h:g} h from {sched.times[t0]:%H:%M})"))
        for g, gid in enumerate(sched.group_ids):
            console.print(Text.assemble(f"  {gid:>10} ", _bar(sched.state[g], t0, t1)))


@app.command("schedule")
def schedule_cmd(
    groups: Optional[Path] = typer.Option(None, "--groups", "-g", help="groups CSV/YAML with columns id, name, load_mw (or base_mw), customers, switchable [, critical, critical_mw, weight]"),
    deficit: Optional[Path] = typer.Option(None, "--deficit", "-d", help="deficit CSV/YAML: time + deficit_mw | capacity_mw | stage [, possible_mw, temperature_c]"),
    case: Optional[str] = typer.Option(None, "--case", help="grid case (registry name or .m file): groups from loads.group, deficit from --damage"),
    damage: Optional[str] = typer.Option(None, "--damage", help="comma-separated asset ids damaged (with --case)"),
    block: str = typer.Option("4h", "--block", help="outage block length (e.g. 4h, 2h, 90m)"),
    min_on: Optional[str] = typer.Option(None, "--min-on", help="minimum time on between outages (default: the block length)"),
    max_off_per_day: Optional[str] = typer.Option(None, "--max-off-per-day", help="cap on hours off per group per day"),
    days: Optional[float] = typer.Option(None, "--days", help="schedule only the first N days"),
    method: str = typer.Option("auto", "--method", help="auto (heuristic, then the exact MILP warm-started from it when small enough), milp or heuristic"),
    time_limit: float = typer.Option(60.0, "--time-limit", help="MILP time limit in seconds"),
    margin: Optional[str] = typer.Option(None, "--margin", help="safety margin on the deficit: 5% or 20MW"),
    possible: Optional[str] = typer.Option(None, "--possible", help="extra deficit covered by 'possible outage' slots: 10% or 50MW"),
    split: int = typer.Option(1, "--split", help="split each group into N equal sub-groups (2 = halves)"),
    start_every: Optional[str] = typer.Option(None, "--start-every", help="blocks start only every ... from the start (e.g. 4h)"),
    stage_mw: Optional[float] = typer.Option(None, "--stage-mw", help="MW per Eskom stage for a 'stage' column (default 1000)"),
    stage_pct: Optional[float] = typer.Option(None, "--stage-pct", help="% of demand per stage instead (Eskom Ed. 3: 5)"),
    tz: Optional[str] = typer.Option(None, "--tz", help="time zone of the times, e.g. Europe/Kyiv"),
    start: Optional[str] = typer.Option(None, "--start", help="start of the schedule (e.g. 2026-01-12 or 2026-01-12T06:00); "
                                        "default: the next local midnight in --tz. A deficit file's times are moved to it"),
    hours: float = typer.Option(24.0, "--hours", help="with --case: horizon in hours"),
    step: str = typer.Option("1h", "--step", help="with --case: step of the timetable (1h, 30m for half-hour edges, 15m)"),
    supply_mw: Optional[float] = typer.Option(None, "--supply-mw", help="with --case: MW the city can get (default: what "
                                              "the impact engine serves after the damage)"),
    allow_shortfall: bool = typer.Option(False, "--allow-shortfall", help="accept a best-effort schedule when the deficit cannot be covered"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (CSV, JSON, ICS per group, HTML, PNG) or a .json/.csv file"),
    no_png: bool = typer.Option(False, "--no-png", help="skip the PNG timetable"),
) -> None:
    """Fair rotating-outage timetable: which groups are off when, covering the deficit every hour."""
    from gridshield.outages.solve import ScheduleInfeasibleError, rotating_schedule

    from gridshield.outages.model import parse_start, read_deficit, shift_to_start

    t0 = parse_start(start, tz)
    if case is not None:
        from gridshield.outages.grid import groups_and_deficit_from_grid

        if groups is not None or deficit is not None:
            raise GridshieldError("give either --case/--damage or --groups/--deficit, not both")
        groups_obj, deficit_obj = groups_and_deficit_from_grid(case, damage, hours=hours, start=t0,
                                                               step_h=parse_hours(step, "--step"), supply_mw=supply_mw)
    else:
        if groups is None or deficit is None:
            raise GridshieldError("give --groups and --deficit files (or --case with --damage)")
        groups_obj, deficit_obj = groups, read_deficit(deficit, start=t0)
        if start is not None:
            deficit_obj = shift_to_start(deficit_obj, t0)
    m_mw, m_frac = parse_amount(margin, "--margin")
    p_mw, p_frac = parse_amount(possible, "--possible")
    kw = dict(
        block_hours=parse_hours(block, "--block"), min_on_hours=parse_hours(min_on, "--min-on"),
        max_off_hours_per_day=parse_hours(max_off_per_day, "--max-off-per-day"), days=days, method=method,
        time_limit_s=time_limit, margin_mw=m_mw, margin_frac=m_frac, possible_mw=p_mw, possible_frac=p_frac,
        split=split, start_every_hours=parse_hours(start_every, "--start-every"), stage_mw=stage_mw,
        stage_pct=stage_pct, tz=tz, allow_shortfall=allow_shortfall,
    )
    failed = None
    with console.status("scheduling ...") as status:
        try:
            sched = rotating_schedule(groups_obj, deficit_obj, progress=lambda s: status.update(f"scheduling: {s} ..."), **kw)
        except ScheduleInfeasibleError as exc:
            failed, sched = exc, exc.schedule
    print_schedule(sched)
    if not sched.covered:
        from rich.table import Table

        t = Table(title="Uncovered deficit (best effort)", title_justify="left")
        t.add_column("time"); t.add_column("required MW", justify="right"); t.add_column("shed MW", justify="right")
        t.add_column("uncovered MW", justify="right", style="red")
        for i in [i for i in range(sched.n_steps) if sched.shortfall_mw[i] > 1e-6][:24]:
            t.add_row(f"{sched.times[i]:%Y-%m-%d %H:%M}", f"{sched.required_mw[i]:.1f}", f"{sched.shed_total_mw[i]:.1f}",
                      f"{sched.shortfall_mw[i]:.1f}")
        console.print(t)
    if out is not None:
        if out.suffix.lower() in (".json", ".csv", ".parquet"):
            from gridshield.cli import write_output

            write_output(sched, out)
        else:
            written = sched.export(out, png=not no_png)
            console.print(f"wrote {out}: schedule.csv, schedule.json, summary.csv, steps.csv, timetable.html, "
                          f"slots.json, hourly_grid.csv, {len(written['ics'])} .ics files"
                          + (", timetable.png" if "png" in written else ""))
            if "png_error" in written:
                console.print(Text.assemble(("PNG not written:", "yellow"), f" {written['png_error']}"))
    if failed is not None:
        raise GridshieldError(str(failed))
