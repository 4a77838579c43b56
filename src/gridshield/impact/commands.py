"""CLI: ``gridshield impact CASE --damage ID[,ID...] | --damage-file F | --from-case | --intact [--cascade] [--model dc|ac] [--out F]``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from gridshield.cli import app, console, kv_table, print_notes, write_output


@app.command()
def impact(
    case: str = typer.Argument(..., help="case name (see `gridshield cases`) or path to a .m file"),
    damage: str = typer.Option(
        None, "--damage", "-d",
        help="damaged asset ids, comma-separated (e.g. site:S3,branch:12; hvdc:<id> for an HVDC link)"
    ),
    damage_file: Path = typer.Option(None, "--damage-file", help="YAML/JSON file: {damage: [ids]} or a list"),
    from_case: bool = typer.Option(False, "--from-case", help="use the case's PowerModelsRestoration *_damage tables"),
    intact: bool = typer.Option(False, "--intact", help="assess the intact grid (no damage): the baseline"),
    cascade: bool = typer.Option(False, "--cascade", help="simulate cascading relay trips before operators act"),
    rate: str = typer.Option("a", "--rate", help="branch rating the operators respect: a (long-term), b (short-term) or c (emergency)"),
    relay_threshold: float = typer.Option(
        1.2, "--relay-threshold",
        help="cascade: trip above this multiple of the relay rating"
    ),
    no_redispatch: bool = typer.Option(
        False, "--no-redispatch",
        help="keep generators at their pre-strike dispatch (one slack per island)"
    ),
    no_shed: bool = typer.Option(
        False, "--no-shed",
        help="forbid load shedding (islands that cannot serve all load are reported)"
    ),
    dc_convention: str = typer.Option("matpower", "--dc", help="DC model: matpower or lossless (PowerModels)"),
    ac_check: bool = typer.Option(
        False, "--ac-check",
        help="AC power flow of the result: voltage and thermal violations"
    ),
    load_model: str = typer.Option(
        "dc", "--model",
        help="load-delivery model: dc (LP) or ac (voltages, reactive power, MVA ratings; Ipopt)"
    ),
    commitment: str = typer.Option(
        "milp", "--commitment",
        help="generator (and, with --model ac, bus) on/off: milp (binary), relaxed or fixed (all on)"
    ),
    top: int = typer.Option(10, "--top", help="rows in the per-group table"),
    out: Path = typer.Option(None, "--out", "-o", help="write the result: .json (to_dict), .csv/.parquet (per load)"),
) -> None:
    """Impact of damage: islands, load lost (maximal load delivery), cascading trips, who is left without power."""
    from rich.table import Table

    from gridshield.errors import GridshieldError
    from gridshield.grid import load
    from gridshield.impact import Damage, ImpactModel

    grid = load(case)
    print_notes(grid.notes())
    given = sum(x is not None and x is not False for x in (damage, damage_file, from_case or None, intact or None))
    if given > 1:
        raise GridshieldError("give only one of --damage, --damage-file, --from-case and --intact")
    if given == 0 or (damage is not None and not any(x.strip() for x in damage.split(","))):
        raise GridshieldError("no damage given; use --damage site:S3,branch:12, --damage-file FILE or --from-case "
                              "(or --intact for the intact grid)")
    if intact:
        dmg = Damage.from_ids(grid, [])
    elif damage_file is not None:
        dmg = Damage.from_file(damage_file, grid)
    elif from_case:
        if not any(f"{k}_damage" in grid.extra_tables for k in ("bus", "branch", "gen", "load")):
            raise GridshieldError(
                f"--from-case: case {grid.name!r} has no mpc.bus_damage/branch_damage/gen_damage/load_damage "
                "table; give the damage with --damage or --damage-file"
            )
        dmg = Damage.from_matpower(grid)
    else:
        dmg = Damage.from_ids(grid, damage or "")
    if not intact and not dmg.ids:
        raise GridshieldError("the damage given is empty; name the damaged assets, or use --intact for the intact grid")
    model = ImpactModel(
        grid,
        rate=rate,
        cascade=cascade,
        redispatch=not no_redispatch,
        shed=not no_shed,
        dc_convention=dc_convention,
        relay_threshold=relay_threshold,
        ac_check=ac_check,
        model=load_model,
        commitment=commitment,
    )
    with console.status(Text(f"assessing damage ({load_model.upper()} load delivery)...")):
        res = model.assess(dmg)
    s = res.summary()
    console.print(kv_table(f"Impact on {grid.name}", s))
    t = Table(title="Islands", title_justify="left")
    for c in ("island", "buses", "status", "model", "demand MW", "served MW", "lost MW", "reason"):
        t.add_column(c, justify="right" if "MW" in c or c in ("island", "buses") else "left")
    shown = sorted(res.islands, key=lambda i: -i.demand_mw)[:top]
    for i in shown:
        mw = (f"{i.demand_mw:,.1f}", f"{i.served_mw:,.1f}", f"{i.lost_mw:,.1f}")
        t.add_row(str(i.island), str(i.n_buses), i.status, i.model.upper(), *mw, i.reason)
    if len(res.islands) > len(shown):
        t.caption = f"{len(res.islands) - len(shown)} more islands not shown (--top)"
    console.print(t)
    t = Table(title="By priority", title_justify="left")
    for c in ("priority", "demand MW", "lost MW", "lost %", "customers off"):
        t.add_column(c, justify="left" if c == "priority" else "right")
    for k, v in res.by_priority.items():
        pct = 100.0 * v["lost_mw"] / v["demand_mw"] if v["demand_mw"] > 0 else 0.0
        t.add_row(k, f"{v['demand_mw']:,.1f}", f"{v['lost_mw']:,.1f}", f"{pct:.1f}", f"{v['customers_off']:,}")
    console.print(t)
    groups = [(k, v) for k, v in res.by_group.items() if k != "(none)"]
    if groups:
        t = Table(title="By group (most lost first)", title_justify="left")
        for c in ("group", "demand MW", "lost MW", "customers off"):
            t.add_column(c, justify="left" if c == "group" else "right")
        for k, v in sorted(groups, key=lambda kv: -kv[1]["lost_mw"])[:top]:
            t.add_row(k, f"{v['demand_mw']:,.1f}", f"{v['lost_mw']:,.1f}", f"{v['customers_off']:,}")
        console.print(t)
    if res.trips:
        t = Table(title="Cascade (relay trips before operators act)", title_justify="left")
        for c in ("step", "branch", "flow MW", "rating MW", "loading", "lost MW after"):
            t.add_column(c, justify="left" if c == "branch" else "right")
        for tr in res.trips:
            vals = (f"{tr.flow_mw:,.1f}", f"{tr.rate_mw:,.1f}", f"{tr.loading:.2f}", f"{tr.lost_mw:,.1f}")
            t.add_row(str(tr.step), tr.branch, *vals)
        console.print(t)
    if res.critical_lost:
        more = f" (+{len(res.critical_lost) - 10} more)" if len(res.critical_lost) > 10 else ""
        console.print(Text.assemble(("critical loads not fully served:", "bold red"),
                                    f" {', '.join(res.critical_lost[:10])}{more}"))
    binding = [(i.island, b) for i in shown for b in i.binding]
    if binding:
        t = Table(title="Limits the AC answer sits on", title_justify="left")
        for c in ("island", "limit"):
            t.add_column(c, justify="right" if c == "island" else "left")
        for k, b in binding[: 2 * top]:
            t.add_row(str(k), b)
        if len(binding) > 2 * top:
            t.caption = f"{len(binding) - 2 * top} more (--top, or --out x.json)"
        console.print(t)
    if res.ac is not None:
        console.print(kv_table("AC check", {k: v for k, v in res.ac.to_dict().items() if not isinstance(v, list)}))
    write_output(res, out)
