"""CLI: ``gridshield risk`` (Monte Carlo risk of a threat scenario) and ``gridshield runs``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from gridshield.cli import app, console, err_console


@contextmanager
def risk_progress_bar(name: str) -> Iterator[Callable[[Any], None]]:
    """A Rich progress bar on stderr (samples, samples/s, running mean ± CI) and the callback driving it.

    Pass the callback as ``run_risk(..., progress=cb)``; the engine reports a
    :class:`~gridshield.threat.runner.RiskProgress` after each batch.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[rate]}", markup=False),
                   TextColumn("{task.fields[ci]}", markup=False), console=err_console, transient=False)
    task = None
    seen = {"label": "", "t0": time.perf_counter(), "first": 0}

    def cb(p: Any) -> None:
        nonlocal task
        if task is None:  # the bar appears with the run's first report, not before its checks
            bar.start()
            task = bar.add_task(name, total=p.total, completed=p.done, rate="", ci="")
            seen["first"] = p.done
        if p.executor and p.executor != seen["label"]:
            seen["label"], seen["t0"], seen["first"] = p.executor, time.perf_counter(), p.done
            bar.console.print(f"running on {p.executor}")
        dt = max(time.perf_counter() - seen["t0"], 1e-9)
        ci = f"lost {p.mean_lost_mw:,.1f} ± {p.ci_half_width_mw:,.1f} MW" if p.in_order >= 2 else ""
        rate = f"{(p.done - seen['first']) / dt:,.1f} samples/s" if p.done > seen["first"] else ""
        bar.update(task, completed=p.done, total=p.total, rate=rate, ci=ci)

    try:
        yield cb
    finally:
        if task is not None:
            bar.stop()


@app.command()
def risk(
    scenario: Path = typer.Argument(None, help="threat scenario YAML (optional with --resume)"),
    samples: int = typer.Option(1000, "--samples", "-n", help="number of Monte Carlo samples"),
    until_ci: str = typer.Option(
        None, "--until-ci", help="stop when the 95% CI half-width on mean MW lost is below this share of the mean, e.g. 1%"
    ),
    max_samples: int = typer.Option(None, "--max-samples", help="cap for --until-ci (default 100000)"),
    seed: int = typer.Option(0, "--seed", help="run seed (sample i uses the stream (seed, i))"),
    workers: int = typer.Option(None, "--workers", "-w", help="local worker processes (default: all cores)"),
    dask: str = typer.Option(None, "--dask", help="tcp://host:8786 (existing cluster) or local:N (LocalCluster)"),
    store: Path = typer.Option(Path("runs.duckdb"), "--store", help="DuckDB results file"),
    no_store: bool = typer.Option(False, "--no-store", help="do not write a results store"),
    resume: str = typer.Option(None, "--resume", help="complete the stored run RUN (same seed and options)"),
    batch_size: int = typer.Option(None, "--batch-size", help="samples per batch / store transaction (default 64)"),
    evaluator: str = typer.Option(None, "--evaluator", help="advanced: module:function building the evaluator"),
    sampling: str = typer.Option(
        "plain", "--sampling",
        help="plain Monte Carlo, or tail: stratified importance sampling of the destroyed assets by impact tier "
             "(unbiased, weighted; the tail converges with fewer samples)",
    ),
    out: Path = typer.Option(None, "--out", help="write the result: .json (summary), .csv/.parquet (per sample)"),
) -> None:
    """Monte Carlo risk of a threat scenario: distribution of MW lost, CVaR, districts dark."""
    from gridshield.cli import write_output
    from gridshield.errors import GridshieldError
    from gridshield.threat.runner import run_risk

    if scenario is None and resume is None:
        raise GridshieldError("give a scenario file (gridshield risk SCENARIO.yaml) or --resume RUN")
    if no_store and resume:
        raise GridshieldError("--resume needs the store that holds the run; drop --no-store")
    with risk_progress_bar(scenario.stem if scenario is not None else f"resume {resume}") as cb:
        res = run_risk(
            str(scenario) if scenario is not None else None,
            samples=samples,
            seed=seed,
            workers=workers,
            until_ci=until_ci,
            max_samples=max_samples,
            store=None if no_store else store,
            dask=dask,
            resume=resume,
            batch_size=batch_size,
            progress=cb,
            evaluator=evaluator,
            sampling=sampling,
        )
    print_summary(res.to_dict())
    if res.run_id:
        console.print(f"stored as run {res.run_id} in {store} (gridshield runs --store {store})")
    write_output(res, out)


def print_summary(d: dict[str, Any]) -> None:
    """Rich tables of a RiskResult summary."""
    from rich.table import Table

    lm = d["lost_mw"]
    how = "" if d.get("sampling", "plain") == "plain" else f", {d['sampling']} sampling"
    t = Table(title=f"risk: {d['scenario']} ({d['samples']:,} samples{how}, seed {d['seed']}, stopped by {d['stopped_by']})",
              title_justify="left")
    for c in ("metric", "value"):
        t.add_column(c, justify="right" if c == "value" else "left")
    t.add_row("demand", f"{d['demand_mw']:,.1f} MW")
    t.add_row("expected MW lost", f"{lm['mean']:,.2f} MW  (95% CI {lm['ci95'][0]:,.2f} .. {lm['ci95'][1]:,.2f})")
    t.add_row("P50 / P90 / P99", f"{lm['p50']:,.1f} / {lm['p90']:,.1f} / {lm['p99']:,.1f} MW")
    ch = lm.get("cvar95_ci95_half_width")
    t.add_row("CVaR 95%", f"{lm['cvar95']:,.1f} MW" + (f"  (± {ch:,.1f})" if ch is not None else ""))
    t.add_row("worst sample", f"{lm['max']:,.1f} MW")
    t.add_row("P(any loss)", f"{d['p_any_loss']:.3f}")
    ca = d["customers_affected"]
    t.add_row("customers affected (mean)", f"{ca['mean']:,.0f}  (95% CI {ca['ci95'][0]:,.0f} .. {ca['ci95'][1]:,.0f})")
    t.add_row("launched / intercepted / hits", f"{d['launched_mean']:.2f} / {d['intercepted_mean']:.2f} / {d['hits_mean']:.2f}")
    t.add_row("assets destroyed (mean)", f"{d['destroyed_mean']:.2f}")
    console.print(t)
    p = Table(title="expected MW lost by priority class", title_justify="left")
    p.add_column("class")
    p.add_column("mean MW", justify="right")
    p.add_column("95% CI", justify="right")
    for c, v in d["lost_mw_by_priority"].items():
        p.add_row(c, f"{v['mean']:,.2f}", f"{v['ci95'][0]:,.2f} .. {v['ci95'][1]:,.2f}")
    console.print(p)
    if d["group_dark_probability"]:
        g = Table(title="districts / groups", title_justify="left")
        g.add_column("group")
        g.add_column("P(dark)", justify="right")
        g.add_column("expected MW lost", justify="right")
        rows = sorted(d["group_dark_probability"], key=lambda k: -d["group_expected_lost_mw"][k])
        for k in rows[:25]:
            g.add_row(k, f"{d['group_dark_probability'][k]:.3f}", f"{d['group_expected_lost_mw'][k]:,.2f}")
        if len(rows) > 25:
            g.caption = f"{len(rows) - 25} more groups in --out"
        console.print(g)
    console.print(f"CI: {d['ci_method']}", style="dim")


@app.command()
def runs(
    store: Path = typer.Option(Path("runs.duckdb"), "--store", help="DuckDB results file"),
    show: str = typer.Option(None, "--show", help="print the full summary of one run"),
    export: str = typer.Option(None, "--export", help="export one run's samples and group results to Parquet"),
    out: Path = typer.Option(Path("."), "--out", help="folder for --export"),
) -> None:
    """List the stored risk runs with their summaries (status: running, done, interrupted); export one to Parquet.

    While a run is writing the store, the list comes from the snapshot that run keeps next to it.
    """
    from gridshield.errors import GridshieldError
    from gridshield.store import open_store, runs_or_snapshot

    if export and out.exists() and not out.is_dir():
        raise GridshieldError(f"--out {out}: is a file; --export writes two Parquet files into a folder")
    if not (show or export):
        infos, taken = runs_or_snapshot(store)
        if not infos:
            console.print(f"no runs in {store} yet; start one with `gridshield risk SCENARIO.yaml --store {store}`")
            return
        when = f" (snapshot of {taken} UTC: a run is writing the store)" if taken else ""
        _print_runs(infos, store, f"runs in {store}{when}")
        return
    with open_store(store, read_only=True) as st:
        if export:
            for p in st.export_parquet(export, out):
                console.print(f"wrote {p}")
            return
        if show:
            info = st.run(show)
            if info.state == "done" and info.summary:
                print_summary(info.summary)
            else:
                why = f" ({info.note})" if info.note else ""
                console.print(f"run {show}: {info.state}{why}, {info.samples_done:,} samples stored"
                              + (f"; resume with: gridshield risk --resume {show} --store {store}"
                                 if info.state == "interrupted" else ""))


def _print_runs(infos: list[Any], store: Path, title: str) -> None:
    """The runs table: fits 80 columns (and a pipe); wider terminals also get seed, P99 and CVaR95."""
    from rich import box
    from rich.table import Table

    wide = console.width >= 110
    t = Table(title=title, title_justify="left", highlight=False, box=box.HEAVY_HEAD if wide else box.SIMPLE_HEAD,
              pad_edge=wide)
    cols = ["run", "scenario", "status", "samples", "MW lost ± CI"] + (["seed", "P99", "CVaR95"] if wide else [])
    for c in cols:
        t.add_column(c, justify="left" if c in ("run", "scenario", "status") else "right",
                     no_wrap=c in ("run", "status", "samples", "MW lost ± CI"))
    stopped = []
    for r in infos:
        lm = r.summary.get("lost_mw", {})
        mean = f"{lm['mean']:,.1f} ± {lm['ci95_half_width']:,.1f}" if "mean" in lm and "ci95_half_width" in lm else ""
        row = [r.run_id, r.name, r.state, f"{r.samples_done:,}", mean]
        if wide:
            row += [str(r.seed)] + [f"{lm[k]:,.1f}" if k in lm else "" for k in ("p99", "cvar95")]
        t.add_row(*row)
        if r.state == "interrupted":
            stopped.append(r.run_id)
    if stopped:
        t.caption = f"resume an interrupted run with: gridshield risk --resume {stopped[-1]} --store {store}"
    console.print(t)
