"""CLI: ``gridshield pf`` (AC Newton-Raphson or DC power flow) with a Rich summary."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.text import Text

from gridshield.cli import app, console, kv_table


def _branch_table(grid, loading, p_from, q_from, n: int = 10, title: str = ""):
    import numpy as np
    from rich.table import Table

    br, num = grid.branches, grid.buses.number
    rated = np.flatnonzero(np.isfinite(loading) & (grid.branches.rate_a_mva > 0))
    top = rated[np.argsort(-loading[rated], kind="stable")[:n]]
    t = Table(title=title, title_justify="left")
    for col in ("branch", "from", "to", "P from (MW)", "Q from (MVAr)", "rate A (MVA)", "loading (%)"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for k in top.tolist():
        pct = loading[k]
        style = "bold red" if pct > 100 else ("yellow" if pct > 90 else "")
        t.add_row(
            str(br.id[k]), str(num[br.from_bus[k]]), str(num[br.to_bus[k]]),
            f"{p_from[k]:,.1f}", "" if q_from is None else f"{q_from[k]:,.1f}",
            f"{br.rate_a_mva[k]:,.1f}", Text(f"{pct:,.1f}", style=style),
        )
    if not top.size:
        t.caption = "no branch has a rate A (all unlimited)"
    return t


@app.command()
def pf(
    case: str = typer.Argument(..., help="case name (see `gridshield cases`) or path to a .m file"),
    dc: bool = typer.Option(False, "--dc", help="DC power flow (MATPOWER convention) instead of AC"),
    flat: bool = typer.Option(False, "--flat", help="flat start (same as --init flat)"),
    init: str = typer.Option("case", "--init", help="AC start: case (the file's voltages), flat or dc"),
    robust: bool = typer.Option(False, "--robust", help="damped Newton, then a continuation if that fails (hard cases)"),
    q_limits: bool = typer.Option(False, "--q-limits", help="enforce generator Q limits (PV->PQ switching)"),
    tol: float = typer.Option(1e-8, "--tol", help="mismatch tolerance (p.u.)"),
    max_iter: int = typer.Option(30, "--max-iter", help="Newton iterations allowed"),
    out: Path | None = typer.Option(None, "--out", help="write results: .json (everything), .csv/.parquet (--table)"),
    table: str = typer.Option("bus", "--table", help="table written to .csv/.parquet: bus, branch or gen"),
) -> None:
    """Run a power flow and summarise it: convergence, losses, voltage extremes, most loaded branches."""
    from gridshield.cli import write_output
    from gridshield.errors import GridshieldError
    from gridshield.grid import load

    if table not in ("bus", "branch", "gen"):
        raise GridshieldError(f"--table {table!r}: use bus, branch or gen")
    if flat:
        init = "flat"
    if init not in ("case", "flat", "dc"):
        raise GridshieldError(f"--init {init!r}: use case, flat or dc")
    t0 = time.perf_counter()
    grid = load(case)
    t_load = time.perf_counter() - t0
    with console.status(f"solving {'DC' if dc else 'AC'} power flow on {grid.name} ({len(grid.buses)} buses)..."):
        t1 = time.perf_counter()
        if dc:
            from gridshield.flow.dc import solve_dc

            result = solve_dc(grid)
        else:
            from gridshield.flow.ac import solve_ac

            result = solve_ac(grid, init=init, robust=robust, enforce_q_limits=q_limits, tol=tol, max_iter=max_iter)
        t_solve = time.perf_counter() - t1

    if dc:
        import numpy as np

        gen_mw = float(np.sum(result.gen_p_mw))
        rows = {
            "model": "DC (MATPOWER convention)",
            "islands": result.n_islands,
            "dark buses": int((~result.bus_energised).sum()),
            "generation (MW)": gen_mw,
            "angle min / max (deg)": f"{result.va_deg[result.bus_energised].min():.2f} / "
            f"{result.va_deg[result.bus_energised].max():.2f}" if result.bus_energised.any() else "-",
            "load / solve time (ms)": f"{t_load * 1e3:,.1f} / {t_solve * 1e3:,.1f}",
        }
        console.print(kv_table(f"{grid.name}: DC power flow", rows))
        console.print(_branch_table(grid, result.loading_pct, result.p_from_mw, None, title="10 most loaded branches (|P| / rate A)"))
        converged = True
    else:
        s = result.summary()
        ok = Text("yes", style="bold green") if result.converged else Text("NO", style="bold red")
        rows = {
            "converged": Text.assemble(ok, f" ({result.reason})"),
            "iterations": f"{result.iterations}"
            + (f" ({result.continuation_steps} continuation steps)" if result.continuation_steps else ""),
            "max mismatch (p.u.)": f"{result.max_mismatch_pu:.2e}",
            "start": result.init + (", robust" if robust else "") + (", Q limits" if q_limits else ""),
            "islands": result.n_islands,
            "dark buses": s["dark_buses"],
        }
        if result.converged:
            rows["generation (MW)"] = s["total_gen_mw"]
            rows["losses (MW)"] = s["total_loss_mw"]
        if "vm_min_pu" in s and result.converged:
            rows["Vm min (p.u.)"] = f"{s['vm_min_pu']:.4f} at {s['vm_min_bus']}"
            rows["Vm max (p.u.)"] = f"{s['vm_max_pu']:.4f} at {s['vm_max_bus']}"
        if q_limits:
            rows["generators at a Q limit"] = int(result.gen_q_limited.sum())
        rows["load / solve time (ms)"] = f"{t_load * 1e3:,.1f} / {t_solve * 1e3:,.1f}"
        console.print(kv_table(f"{grid.name}: AC power flow (Newton-Raphson)", rows))
        if result.converged:
            console.print(
                _branch_table(
                    grid, result.loading_pct, result.p_from_mw, result.q_from_mvar,
                    title="10 most loaded branches (max |S| of both ends / rate A)",
                )
            )
        else:
            console.print("The power flow did not converge: the voltages above are not a solution.", style="bold red")
            if not robust or init == "case":
                console.print("Try --robust, --init dc or --init case.")
        converged = result.converged
    if out is not None:
        if out.suffix.lower() in (".csv", ".parquet"):
            from gridshield.io import atomic_write

            frame = result.to_frame(table)
            if out.suffix.lower() == ".csv":
                atomic_write(out, lambda p: frame.to_csv(p))
            else:
                atomic_write(out, lambda p: frame.to_parquet(p))
            console.print(f"wrote {out} ({table} table)")
        else:
            write_output(result, out)
    if not converged:
        raise SystemExit(1)
