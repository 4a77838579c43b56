"""CLI: ``gridshield heat CASE --damage ... --temperature -10 [--hours 96] [--out F]``."""

from __future__ import annotations

from pathlib import Path

import typer

from gridshield.cli import app, console, kv_table


def parse_damage_option(grid, damage: list[str] | None):
    """Damage from ``--damage`` values: asset ids (comma-separated or repeated) or a YAML/JSON file."""
    from gridshield.impact.damage import Damage

    ids: list[str] = []
    for item in damage or []:
        p = Path(item)
        if p.suffix.lower() in (".yaml", ".yml", ".json") and "," not in item:
            ids.extend(Damage.from_file(p, grid).ids)  # a missing file is reported as such
        else:
            ids.extend(s.strip() for s in item.split(",") if s.strip())
    return Damage.from_ids(grid, ids)


def read_temperature_series(path: Path) -> list[float]:
    """Hourly outdoor temperatures (°C) from a file: one number per line, or a CSV with a
    ``temperature_c`` column."""
    from gridshield.errors import ParseError

    from gridshield.io import read_text_file

    text = read_text_file(path, "temperature series")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    col = None
    if lines and "temperature_c" in lines[0]:
        header = [c.strip() for c in lines[0].split(",")]
        if "temperature_c" not in header:
            raise ParseError(str(path), 1, f"no column named temperature_c in the header {lines[0][:80]!r}")
        col = header.index("temperature_c")
        lines = lines[1:]
    out = []
    for k, ln in enumerate(lines):
        cells = ln.split(",")
        cell = (cells[col] if col < len(cells) else "") if col is not None else ln
        try:
            t = float(cell)
        except ValueError:
            t = float("nan")
        if not -90.0 <= t <= 60.0:  # also NaN
            raise ParseError(str(path), k + 1 + (col is not None),
                             f"expected a temperature in °C (-90..60), found {cell.strip()[:40]!r}")
        out.append(t)
    if not out:
        raise ParseError(str(path), None, "no temperatures found; give one °C value per line")
    return out


@app.command()
def heat(
    case: str = typer.Argument(..., help="case name (e.g. synthetic-city) or path to a .m file with gs_heat_* tables"),
    damage: list[str] = typer.Option(None, "--damage", "-d", help="damaged asset ids (comma-separated, repeatable) "
                                     "or a YAML/JSON damage file"),
    temperature: float = typer.Option(-10.0, "--temperature", "-t", help="outdoor temperature (°C)"),
    series: Path = typer.Option(None, "--series", help="hourly outdoor temperatures (°C), one per line or a CSV "
                                "column temperature_c; overrides --temperature"),
    hours: int = typer.Option(96, "--hours", help="horizon (hours)"),
    scale_loads: bool = typer.Option(True, "--scale-loads/--no-scale-loads",
                                     help="scale electric loads for the temperature before the impact assessment"),
    out: Path = typer.Option(None, "--out", "-o", help="write the result (.json, .csv or .parquet)"),
) -> None:
    """Heat districts without heat after a damage, and hours until homes fall below 12 °C and 5 °C."""
    import math

    from rich.table import Table

    from gridshield.cli import write_output
    from gridshield.grid import load
    from gridshield.heat import assess_heat, scale_for_temperature

    from gridshield.limits import MAX_HOURS, check_int, check_real

    check_int("--hours", hours, low=1, high=MAX_HOURS, why="(a year of hourly steps)")
    check_real("--temperature", temperature, low=-90.0, high=60.0, why="°C")
    grid = load(case)
    temps = read_temperature_series(series) if series is not None else temperature
    if scale_loads and "gs_reference_temperature_c" in grid.extra_tables:
        t_scale = temperature if series is None else sum(temps[:hours]) / len(temps[:hours])  # mean of the series
        grid = scale_for_temperature(grid, t_scale)
    dmg = parse_damage_option(grid, damage)
    res = assess_heat(grid, dmg, temperature_c=temps, hours=hours)
    summ = {k: (f"{v:,}" if isinstance(v, int) else v) for k, v in res.summary().items()}
    console.print(kv_table(f"Heat after damage: {', '.join(res.damage) or 'none'}", summ))
    if res.district_off.any():
        t = Table(title="Heat districts without heat", title_justify="left")
        for c in ("district", "people", "why", "< 12 °C (h)", "< 5 °C (h)"):
            t.add_column(c, justify="right" if c not in ("district", "why") else "left")
        order = sorted((k for k in range(len(res.district_id)) if res.district_off[k]),
                       key=lambda k: res.hours_to_12c_h[k])
        for k in order:
            h12, h5 = float(res.hours_to_12c_h[k]), float(res.hours_to_5c_h[k])
            t.add_row(res.district_name[k].removesuffix(' heat district'), f"{int(res.people[k]):,}", res.reason[k],
                      f"{h12:.1f}" if math.isfinite(h12) else f"> {hours}",
                      f"{h5:.1f}" if math.isfinite(h5) else f"> {hours}")
        console.print(t)
    write_output(res, out)
