"""CLI: ``gridshield n1``, ``gridshield nk``, ``gridshield rank``, ``gridshield protect``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.text import Text

from gridshield.cli import app, console, kv_table, write_output


@contextmanager
def _bars():
    """A rich progress display and a ``progress(stage, done, total)`` callback driving it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description:<18}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as prog:

        def cb(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=total)
            prog.update(tasks[stage], completed=done, total=total)

        yield cb
        for t in tasks.values():
            prog.update(t, completed=prog.tasks[t].total)


def _elements(s: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in s.split(",") if e.strip())


@app.command()
def n1(
    case: str = typer.Argument(..., help="case name or path to a .m file"),
    damage: str = typer.Option(None, "--damage", "-d",
                               help="study the grid left standing after these assets are destroyed (comma-separated "
                                    "ids, e.g. site:S3,branch:12), at the impact engine's post-strike operating point"),
    ac_verify: bool = typer.Option(False, "--ac-verify", help="solve every contingency with AC power flow (thermal + voltage)"),
    elements: str = typer.Option("branches,gens,sites", "--elements",
                                 help="comma-separated: branches, gens, sites, site-pairs (site-pairs: with --ac-verify)"),
    threshold: float = typer.Option(100.0, "--threshold", min=1e-6, help="overload threshold (% of the rating, > 0)"),
    rating: str = typer.Option("a", "--rating", help="branch rating: a (normal) or b (emergency; A where B is 0)"),
    q_limits: bool = typer.Option(True, "--q-limits/--no-q-limits", help="AC: generator reactive limits (PV -> PQ)"),
    workers: int = typer.Option(1, "--workers", help="AC: processes solving contingencies in parallel"),
    sample: int = typer.Option(None, "--sample", help="AC: a random subset of this many contingencies"),
    seed: int = typer.Option(0, "--seed", help="seed of --sample"),
    top: int = typer.Option(15, "--top", help="rows of the worst-contingency table"),
    out: Path = typer.Option(None, "--out", "-o", help="write the result: .json (to_dict) or .csv/.parquet (per contingency)"),
) -> None:
    """N-1 contingency analysis: DC screening (LODF chunks, islanding via load shedding) or full AC (--ac-verify);
    with --damage, of the grid left standing after a strike."""
    from rich.table import Table

    from gridshield.errors import GridshieldError
    from gridshield.grid import load

    grid = load(case)
    els = _elements(elements)
    if damage is not None:
        from gridshield.security.after_strike import post_strike_grid

        ids = [x.strip() for x in damage.split(",") if x.strip()]
        if not ids:
            raise GridshieldError("--damage: give the destroyed assets, e.g. --damage site:S3,branch:12")
        post = post_strike_grid(grid, ids, rate=rating)
        grid = post.grid
        console.print(post.describe())
    if ac_verify:
        from gridshield.security.ac import ac_security

        with _bars() as cb:
            res = ac_security(grid, els, rating=rating, threshold_pct=threshold, q_limits=q_limits, workers=workers,
                              sample=sample, seed=seed, progress=cb)
        sm = res.summary()
        shown = ("contingencies", "secure", "thermal", "voltage", "not_converged", "islanding", "islanded_mw_max",
                 "newton_fallbacks", "q_switched", "base_max_loading_pct", "base_thermal_violations",
                 "base_voltage_violations", "rating", "threshold_pct", "q_limits", "time_total_s")
        console.print(kv_table(f"AC security analysis on {grid.name}", {k: sm[k] for k in shown}))
        from gridshield.security.after_strike import worst_contingencies

        df = worst_contingencies(res, top)
        t = Table(title="Worst contingencies (not secure, or cutting off load)", title_justify="left")
        for c in ("contingency", "outcome", "max %", "branch", "Vmin", "bus", "Vmax", "bus", "islanded MW"):
            t.add_column(c, justify="left" if c in ("contingency", "outcome", "branch", "bus") else "right",
                         overflow="fold")

        def num(x, f):
            return "" if x != x else f.format(x)

        for cid, r in df.iterrows():
            t.add_row(cid, r.outcome, num(r.max_loading_pct, "{:.1f}"), r.max_loading_branch, num(r.vm_min_pu, "{:.3f}"),
                      r.vm_min_bus, num(r.vm_max_pu, "{:.3f}"), r.vm_max_bus, f"{r.islanded_mw:,.1f}")
        console.print(t)
        write_output(res, out)
        return
    if "site-pairs" in els:
        raise GridshieldError("--elements site-pairs: pairs of sites are studied with AC power flow; add --ac-verify "
                              "(or use `gridshield nk CASE --all-pairs` for the DC load-shedding view)")
    if sample is not None:
        raise GridshieldError("--sample: only with --ac-verify (the DC screening studies every contingency)")
    from gridshield.security.n1 import screen_n1

    with _bars() as cb:
        res = screen_n1(grid, els, threshold_pct=threshold, rating=rating, progress=cb)
    console.print(kv_table(f"N-1 on {grid.name}", res.summary()))
    df = res.to_frame()
    df = df[df.violating | (df.lost_mw > 0)].copy()
    df["key"] = df.lost_mw + df.dc_max_loading_pct.fillna(0) / 1e3
    df = df.sort_values("key", ascending=False).head(top)
    t = Table(title="Worst contingencies (violating or losing load)", title_justify="left")
    for c in ("contingency", "kind", "lost MW", "DC max %", "DC over", "violating"):
        t.add_column(c, justify="left" if c in ("contingency", "kind") else "right")
    for cid, r in df.iterrows():
        t.add_row(cid, r.kind, f"{r.lost_mw:,.1f}", f"{r.dc_max_loading_pct:.1f}", str(r.dc_n_overloads),
                  "yes" if r.violating else "no")
    console.print(t)
    write_output(res, out)


@app.command()
def nk(
    case: str = typer.Argument(..., help="case name or path to a .m file"),
    k: int = typer.Option(3, "-k", "--k", help="number of assets lost"),
    method: str = typer.Option("auto", "--method", help="auto, milp (exact interdiction), enumerate or heuristic"),
    elements: str = typer.Option("branches,gens", "--elements", help="candidate kinds: branches, gens, sites"),
    candidates: str = typer.Option(None, "--candidates", help="comma-separated asset ids the attacker may choose from"),
    time_limit: float = typer.Option(60.0, "--time-limit",
                                     help="MILP time limit (s); when it stops the search the bound is reported"),
    all_pairs: bool = typer.Option(False, "--all-pairs", help="k=2: every pair with its load shed (LODF pruning)"),
    top: int = typer.Option(15, "--top", help="rows shown with --all-pairs"),
    out: Path = typer.Option(None, "--out", "-o", help="write the result: .json or .csv/.parquet"),
) -> None:
    """Worst case: the k assets whose loss makes the operator shed the most load."""
    from rich.table import Table

    from gridshield.grid import load
    from gridshield.limits import MAX_TIME_LIMIT_S, check_real
    from gridshield.security.nk import worst_case

    check_real("--time-limit", time_limit, low=0.0, low_open=True, high=MAX_TIME_LIMIT_S, why="seconds (a week)")
    grid = load(case)
    cands = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None
    if all_pairs:
        from gridshield.security.nk import all_pairs as pairs_fn

        with console.status(Text("evaluating every pair...")):
            pr = pairs_fn(grid, candidates=cands, elements=_elements(elements))
        console.print(kv_table(f"All pairs on {grid.name}", {"pairs": len(pr.pairs), "LPs solved": pr.n_lp,
                                                             "pruned by DC screening": int(pr.pruned.sum()),
                                                             "runtime s": pr.runtime_s}))
        t = Table(title="Worst pairs", title_justify="left")
        for c in ("first", "second", "shed MW"):
            t.add_column(c, justify="right" if c == "shed MW" else "left")
        for i in range(min(top, len(pr.pairs))):
            t.add_row(pr.pairs[i][0], pr.pairs[i][1], f"{pr.shed_mw[i]:,.1f}")
        console.print(t)
        write_output(pr, out)
        return
    with console.status(Text(f"searching the worst {k} assets ({method})...")):
        res = worst_case(grid, k=k, candidates=cands, method=method, elements=_elements(elements),
                         time_limit_s=time_limit)
    d = res.to_dict()
    console.print(kv_table(f"Worst case k={k} on {grid.name}", {
        "load shed MW": d["shed_mw"], "demand MW": d["demand_mw"], "lost fraction": d["lost_fraction"],
        "method": d["method"], "proved optimal": d["optimal"], "bound": d["bound"], "candidates": d["n_candidates"],
        "LP evaluations": d["evaluations"], "runtime s": d["runtime_s"],
    }))
    t = Table(title="Assets in the worst set", title_justify="left")
    t.add_column("asset")
    t.add_column("shed MW when lost alone", justify="right")
    for a, v in zip(res.assets, res.single_shed_mw, strict=True):
        t.add_row(a, f"{v:,.1f}")
    console.print(t)
    write_output(res, out)


def _scenario_for(grid, path):
    """Load ``--scenario`` and check that it is on the same case as the CASE argument."""
    if path is None:
        return None
    from gridshield.errors import GridshieldError
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import load_scenario

    sc = load_scenario(path)
    g = build_grid(sc)
    if g.name != grid.name:
        raise GridshieldError(f"--scenario {path}: it is on case {g.name!r}, not {grid.name!r}; give CASE {g.name}")
    return sc


@app.command()
def rank(
    case: str = typer.Argument(..., help="case name or path to a .m file"),
    elements: str = typer.Option("branches,gens,sites", "--elements", help="asset kinds: branches, gens, sites"),
    k_max: int = typer.Option(3, "--k-max", min=0, help="worst-case sets for k = 1..k_max (0: none)"),
    method: str = typer.Option("heuristic", "--method", help="worst-case method: heuristic, auto, milp"),
    top: int = typer.Option(20, "--top", help="rows shown"),
    html: Path = typer.Option(None, "--html", help="write the bar chart as an HTML file"),
    scenario: Path = typer.Option(None, "--scenario", help="threat scenario YAML: add each asset's contribution "
                                  "to the Monte Carlo expected loss (and rank by it)"),
    samples: int = typer.Option(300, "--samples", help="Monte Carlo samples (with --scenario)"),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed (with --scenario)"),
    out: Path = typer.Option(None, "--out", "-o", help="write the ranking: .json or .csv/.parquet"),
) -> None:
    """Criticality ranking: load shed when lost alone, N-1 overloads, frequency in worst-case sets
    and, with --scenario, contribution to the expected loss."""
    from rich.table import Table

    from gridshield.grid import load
    from gridshield.security.rank import rank_assets

    grid = load(case)
    sc = _scenario_for(grid, scenario)
    with _bars() as cb:
        res = rank_assets(None if sc is not None else grid, _elements(elements), k_max=k_max, method=method,
                          progress=cb, scenario=sc, samples=samples, seed=seed)
    exp = res.expected_loss_mw is not None
    t = Table(title=f"Most critical assets of {grid.name}" + (f" under {res.scenario}" if exp else ""),
              title_justify="left")
    if exp:
        cols = ["rank", "asset", "E contrib MW", "P destroyed", "alone MW", "DC over", "DC max %", "in worst"]
    else:
        cols = ["rank", "asset", "shed MW alone", "DC overloads", "DC max %", "in worst sets"]
    for c in cols:
        t.add_column(c, justify="left" if c == "asset" else "right", no_wrap=c == "asset")
    for i in range(min(top, len(res.ids))):
        row = [str(i + 1), res.ids[i]]
        if exp:
            row += [f"{res.expected_loss_mw[i]:,.2f}", f"{res.p_destroyed[i]:.3f}"]
        row += [f"{res.shed_mw[i]:,.1f}", str(res.dc_n_overloads[i]), f"{res.dc_max_loading_pct[i]:.1f}",
                f"{res.worst_case_freq[i]:.2f}"]
        t.add_row(*row)
    console.print(t)
    if exp:
        console.print(f"expected MW lost {res.expected_total_mw:,.2f} ± {res.ci95_half_width_mw:,.2f} (95 % CI, "
                      f"{res.samples} samples); E contrib = E(loss) - E(loss | asset indestructible), same samples",
                      markup=False)
    for s, v in zip(res.worst_sets, res.worst_set_shed_mw, strict=True):
        console.print(f"worst k={len(s)}: {', '.join(s)} -> {v:,.1f} MW")
    if html is not None:
        from gridshield.io import atomic_write

        fig = res.figure(top=top)
        atomic_write(html, lambda p: fig.write_html(p, include_plotlyjs="cdn"))
        console.print(f"wrote {html}")
    write_output(res, out)


@app.command()
def protect(
    case: str = typer.Argument(..., help="case name or path to a .m file"),
    budget: float = typer.Option(..., "--budget", help="protection budget (USD), e.g. 10e6"),
    costs: Path = typer.Option(None, "--costs", help="CSV asset,cost_usd (default $2.75 M per asset, DOMAIN.md)"),
    k: int = typer.Option(3, "-k", "--k", help="hits the attacker lands"),
    method: str = typer.Option("auto", "--method", help="attacker: auto, milp, enumerate, heuristic"),
    candidates: str = typer.Option(None, "--candidates", help="comma-separated asset ids the attacker may hit"),
    effect: float = typer.Option(0.85, "--effect", help="share of hits a protection stops"),
    scenario: Path = typer.Option(None, "--scenario", help="threat scenario YAML: minimise the Monte Carlo "
                                  "expected loss instead of the worst case"),
    samples: int = typer.Option(300, "--samples", help="Monte Carlo samples per evaluation (with --scenario)"),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed, common to every evaluation (with --scenario)"),
    protectable: str = typer.Option(None, "--protectable", help="comma-separated ids the defender may protect "
                                    "(with --scenario: default the targeted sites)"),
    out: Path = typer.Option(None, "--out", "-o", help="write the plan: .json or .csv/.parquet"),
) -> None:
    """Protection plan: what to protect within the budget to cut the worst-case loss from k hits,
    or (--scenario) the expected loss under a threat model."""
    from rich.table import Table

    from gridshield.grid import load
    from gridshield.security.protect import plan_protection

    grid = load(case)
    cands = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None
    prot = [c.strip() for c in protectable.split(",") if c.strip()] if protectable else None
    sc = _scenario_for(grid, scenario)
    if sc is not None:
        with console.status(Text(f"greedy + 1-swap on {samples} Monte Carlo samples per evaluation...")):
            plan = plan_protection(None, budget=budget, costs=costs, effect=effect, protectable=prot, scenario=sc,
                                   samples=samples, seed=seed)
        console.print(kv_table(f"Expected-loss protection plan for {grid.name} under {plan.scenario}", {
            "budget USD": plan.budget_usd, "cost USD": plan.total_cost_usd,
            "expected loss without MW": plan.unprotected_expected_loss_mw,
            "expected loss with plan MW": plan.expected_loss_mw,
            "CI95 half-width MW": plan.ci95_half_width_mw,
            "reduction CI95 half-width MW (paired)": plan.reduction_ci95_half_width_mw,
            "samples (same seed for all)": plan.samples, "evaluations": plan.iterations, "runtime s": plan.runtime_s,
        }))
        t = Table(title="Protect, in order", title_justify="left")
        for c in ("rank", "asset", "cost M USD", "E[MW] saved", "MW per M USD"):
            t.add_column(c, justify="left" if c == "asset" else "right")
        for i, a in enumerate(plan.protect):
            t.add_row(str(i + 1), a, f"{plan.cost_usd[i] / 1e6:.2f}", f"{plan.marginal_benefit_mw[i]:,.2f}",
                      f"{plan.benefit_per_musd[i]:,.2f}")
        console.print(t)
        t = Table(title="Expected loss against budget", title_justify="left")
        for c in ("budget M USD", "expected MW lost", "protected"):
            t.add_column(c, justify="right" if c != "protected" else "left")
        for b, v, p in plan.curve:
            t.add_row(f"{b / 1e6:.2f}", f"{v:,.2f}", ", ".join(p))
        console.print(t)
        write_output(plan, out)
        return
    with console.status(Text("defender-attacker-defender iterations...")):
        plan = plan_protection(grid, budget=budget, costs=costs, k=k, method=method, candidates=cands, effect=effect,
                               protectable=prot)
    console.print(kv_table(f"Protection plan for {grid.name} (k={k})", {
        "budget USD": plan.budget_usd, "cost USD": plan.total_cost_usd,
        "worst case without MW": plan.unprotected_worst_case_mw, "worst case with plan MW": plan.worst_case_mw,
        "attacker's reply": ", ".join(plan.worst_attack), "proved optimal": plan.optimal, "runtime s": plan.runtime_s,
    }))
    t = Table(title="Protect, in order", title_justify="left")
    for c in ("rank", "asset", "cost M USD", "benefit MW", "MW per M USD"):
        t.add_column(c, justify="left" if c == "asset" else "right")
    for i, a in enumerate(plan.protect):
        t.add_row(str(i + 1), a, f"{plan.cost_usd[i] / 1e6:.2f}", f"{plan.marginal_benefit_mw[i]:,.1f}",
                  f"{plan.benefit_per_musd[i]:,.2f}")
    console.print(t)
    t = Table(title="Worst-case loss against budget", title_justify="left")
    for c in ("budget M USD", "worst case MW", "protected"):
        t.add_column(c, justify="right" if c != "protected" else "left")
    for b, v, p in plan.curve:
        t.add_row(f"{b / 1e6:.2f}", f"{v:,.1f}", ", ".join(p))
    console.print(t)
    write_output(plan, out)
