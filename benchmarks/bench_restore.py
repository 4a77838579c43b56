"""Restoration planning: heuristic vs naive vs exact MILP on random damages.

For each case, random damages (seeded) are planned with every method side by side in one run:

* **large** instances (``--large`` damages of ``kmin..kmax`` assets): naive order (as damaged)
  vs heuristic (greedy + local search); improvement = cut of the priority-weighted energy not
  served against the naive order.
* **small** instances (``--small`` damages whose repair-task count is 4..``--milp-max``): the
  exact MILP too, and the heuristic's gap to the optimum.

Served load comes from the impact engine (DC maximal load delivery), cached per repaired set.
Runtimes are wall-clock per plan (medians); the machine is shared, so read ratios, not absolutes.

Run: ``.venv/bin/python -m benchmarks.bench_restore [--cases case30,case118,synthetic-city] [--large 6] [--small 6]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

#: Random damage sizes (assets hit) per case for the large instances.
SIZES = {"case30": (4, 8), "case118": (6, 12), "synthetic-city": (2, 4)}


def _candidates(grid, case: str) -> list[str]:
    if grid.sites and case == "synthetic-city":
        return [f"site:{s}" for s in grid.sites]
    return [*grid.branches.id.tolist(), *grid.gens.id.tolist(), *grid.buses.id.tolist()]


def _draw(rng, grid, case: str, kmin: int, kmax: int) -> list[str]:
    ids = _candidates(grid, case)
    k = int(rng.integers(kmin, kmax + 1))
    return [str(x) for x in rng.choice(ids, size=min(k, len(ids)), replace=False)]


def run_case(
    case: str, n_large: int, n_small: int, crews: int, milp_max: int, seed: int, time_limit: float,
    spares: dict[str, int] | None = None, travel_speed_kmh: float | None = None,
) -> dict[str, Any]:
    import gridshield as gs
    from gridshield.impact import Damage, ImpactModel
    from gridshield.restore import plan_restoration
    from gridshield.restore.tasks import build_tasks

    grid = gs.load_case(case)
    model = ImpactModel(grid)
    has_xy = bool(np.all(np.isfinite(grid.buses.x)) and np.all(np.isfinite(grid.buses.y)))
    opts = {"spares": spares, "travel_speed_kmh": travel_speed_kmh if has_xy else None}
    rng = np.random.default_rng(seed)
    kmin, kmax = SIZES.get(case, (4, 8))
    large: list[dict[str, Any]] = []
    errors: list[str] = []
    tries = 0
    while len(large) < n_large and tries < 5 * n_large:
        tries += 1
        ids = _draw(rng, grid, case, kmin, kmax)
        try:
            t0 = time.perf_counter()
            p = plan_restoration(grid, ids, crews=crews, method="heuristic", model=model, time_limit_s=time_limit,
                                 **opts)
            wall = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - report and go on
            errors.append(f"{ids}: {type(exc).__name__}: {exc}")
            continue
        if p.comparison["naive"]["weighted_ens_mwh"] <= 1e-9:
            continue  # damage that sheds nothing: nothing to plan
        large.append({
            "ids": ids, "tasks": len(p.task_id), "naive": p.comparison["naive"]["weighted_ens_mwh"],
            "heuristic": p.weighted_ens_mwh, "naive_ens_mwh": p.comparison["naive"]["ens_mwh"],
            "heuristic_ens_mwh": p.ens_mwh, "improvement_pct": p.improvement_over_naive_pct,
            "heuristic_s": p.comparison["heuristic"]["runtime_s"], "wall_s": wall, "evaluations": p.evaluations,
        })
    small: list[dict[str, Any]] = []
    tries = 0
    if case == "synthetic-city":
        cands = [*grid.branches.id.tolist(), *grid.gens.id.tolist(), *grid.buses.id.tolist()]
    else:
        cands = _candidates(grid, case)
    while len(small) < n_small and tries < 40 * n_small:
        tries += 1
        ids = [str(x) for x in rng.choice(cands, size=int(rng.integers(3, milp_max + 1)), replace=False)]
        try:
            n = len(build_tasks(grid, Damage.from_ids(grid, ids)))
            if not 4 <= n <= milp_max:
                continue
            p = plan_restoration(grid, ids, crews=min(crews, 2), method="milp", model=model, time_limit_s=time_limit,
                                 **opts)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{ids}: {type(exc).__name__}: {exc}")
            continue
        c = p.comparison
        if c["naive"]["weighted_ens_mwh"] <= 1e-9:
            continue
        opt = c["milp"]["weighted_ens_mwh"]
        small.append({
            "ids": ids, "tasks": n, "naive": c["naive"]["weighted_ens_mwh"], "heuristic": c["heuristic"]["weighted_ens_mwh"],
            "milp": opt, "optimal": c["milp"]["optimal"],
            "gap_pct": 0.0 if opt <= 1e-9 else 100.0 * (c["heuristic"]["weighted_ens_mwh"] - opt) / opt,
            "milp_improvement_pct": 100.0 * (c["naive"]["weighted_ens_mwh"] - opt) / c["naive"]["weighted_ens_mwh"],
            "heuristic_improvement_pct": 100.0 * (c["naive"]["weighted_ens_mwh"] - c["heuristic"]["weighted_ens_mwh"])
            / c["naive"]["weighted_ens_mwh"],
            "heuristic_s": c["heuristic"]["runtime_s"], "milp_s": c["milp"]["runtime_s"],
        })
    return {"case": case, "crews": crews, "large": large, "small": small, "errors": errors}


def abstract_gap(count: int, seed: int, nmin: int = 6, nmax: int = 9) -> list[dict[str, Any]]:
    """Heuristic vs MILP on random abstract instances (no grid): loads that need every task of a
    random 'series' set and one of a random 'parallel' set, 1-3 crews, random durations, spares
    and travel. Harder for the heuristic than the grid damages above (denser interactions)."""
    from gridshield.restore.plan import Instance, solve_heuristic, solve_milp, solve_naive

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(nmin, nmax + 1))
        loads = [(float(rng.uniform(1, 50)), [j for j in range(n) if rng.random() < 0.3],
                  [j for j in range(n) if rng.random() < 0.25]) for _ in range(6)]

        def value(m: int, loads=loads) -> float:
            return sum(w for w, se, pa in loads
                       if all(m >> j & 1 for j in se) and (not pa or any(m >> j & 1 for j in pa)))

        dur = rng.integers(1, 10, n).astype(float)
        ns = dur + np.where(rng.random(n) < 0.3, rng.integers(2, 12, n), 0)
        cls = tuple("transformer" if ns[j] > dur[j] else None for j in range(n))
        xy = rng.uniform(0, 4, (n, 2))
        tr = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) if rng.random() < 0.5 else None
        inst = Instance(dur, ns, cls, {"transformer": int(rng.integers(0, 2))}, int(rng.integers(1, 4)), tr, value)
        nv = solve_naive(inst)
        h = solve_heuristic(inst, time_limit_s=10, naive=nv)
        m = solve_milp(inst, time_limit_s=60)
        if m.objective <= 1e-9:
            continue
        out.append({"n": n, "crews": inst.crews, "naive": nv.objective, "heuristic": h.objective, "milp": m.objective,
                    "optimal": m.optimal, "gap_pct": 100.0 * (h.objective - m.objective) / m.objective,
                    "heuristic_s": h.runtime_s, "milp_s": m.runtime_s})
    return out


def struck_sites(grid, rng, k: int) -> list[str]:
    """``k`` damaged elements in clusters, as struck substations leave them: a random bus and its
    branches, then the next random bus, until ``k`` elements."""
    br = grid.branches
    out: list[str] = []
    for b in rng.permutation(len(grid.buses)):
        if len(out) >= k:
            break
        out.append(str(grid.buses.id[b]))
        for l in np.flatnonzero((br.from_bus == b) | (br.to_bus == b)):
            if len(out) < k and str(br.id[l]) not in out:
                out.append(str(br.id[l]))
    return out[:k]


def scattered_buses(grid, rng, k: int) -> list[str]:
    """``k`` random buses (each takes its branches, generators and loads out): damage spread over
    the grid, many islands and heavy shedding in every state."""
    return [str(x) for x in rng.choice(grid.buses.id, size=min(k, len(grid.buses)), replace=False)]


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the plan's worker processes)."""
    import resource

    return time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime


def scale_runs(case: str, sizes: list[int], crews: int, time_limit: float, seed: int, repeats: int,
               kinds: tuple[str, ...] = ("clustered",), workers: int = 1, compare: bool = False) -> list[dict[str, Any]]:
    """Heuristic plans of clustered and/or scattered damages of each size on a large case: wall and
    CPU time, assessments, the separable model's groups, whether the time budget stopped the
    search, improvement over the naive order; with ``compare`` also the exact search (the
    heuristic before the separable model) on the same damage."""
    import gridshield as gs
    import gridshield.restore.plan as rp
    from gridshield.impact import ImpactModel
    from gridshield.restore import plan_restoration

    grid = gs.load_case(case)
    model = ImpactModel(grid)
    rng = np.random.default_rng(seed)
    rows = []
    for k in sizes:
        for _ in range(repeats):
            for kind in kinds:
                ids = struck_sites(grid, rng, k) if kind == "clustered" else scattered_buses(grid, rng, k)
                t, c = time.perf_counter(), _cpu_s()
                p = plan_restoration(grid, ids, crews=crews, method="heuristic", model=model, time_limit_s=time_limit,
                                     workers=workers)
                h = p.options.get("heuristic", {})
                row = {"kind": kind, "elements": k, "tasks": len(p.task_id), "wall_s": time.perf_counter() - t,
                       "cpu_s": _cpu_s() - c, "evaluations": p.evaluations, "groups": h.get("separable_groups", 1),
                       "largest_group": h.get("largest_group", len(p.task_id)),
                       "stopped_on_budget": p.stopped_on_budget, "improvement_pct": p.improvement_over_naive_pct,
                       "weighted_ens": p.weighted_ens_mwh}
                if compare:
                    keep = rp.SEPARABLE_MIN_TASKS
                    rp.SEPARABLE_MIN_TASKS = 1 << 30
                    try:
                        t, c = time.perf_counter(), _cpu_s()
                        q = plan_restoration(grid, ids, crews=crews, method="heuristic", model=ImpactModel(grid),
                                             time_limit_s=time_limit)
                    finally:
                        rp.SEPARABLE_MIN_TASKS = keep
                    row.update(exact_weighted_ens=q.weighted_ens_mwh, exact_cpu_s=_cpu_s() - c,
                               exact_wall_s=time.perf_counter() - t, exact_evaluations=q.evaluations,
                               exact_stopped_on_budget=q.stopped_on_budget)
                rows.append(row)
    return rows


#: Issue 15's targets for plans of ``--scale case2869pegase`` (6 crews): wall seconds per damage size.
SCALE_TARGET_S = {20: 3.0, 60: 15.0}


def _seeds(ap: argparse.ArgumentParser, text: str) -> list[int]:
    """``1-8`` or ``1,3,5`` as a list of seeds (at most 100)."""
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
            seeds = list(range(a, b + 1))
        else:
            seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--seeds {text!r}: use a range like 1-8 or a list like 1,3,5")
    if not 1 <= len(seeds) <= 100:
        ap.error(f"--seeds {text!r}: 1 to 100 seeds")
    return seeds


def _med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _mean(xs: list[float]) -> float:
    return float(statistics.fmean(xs)) if xs else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="case30,case118,synthetic-city")
    ap.add_argument("--large", type=int, default=6, help="random large damages per case")
    ap.add_argument("--small", type=int, default=5, help="random small damages per case (MILP)")
    ap.add_argument("--crews", type=int, default=3)
    ap.add_argument("--milp-max", type=int, default=7, help="largest task count for the MILP instances")
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--abstract", type=int, default=8, help="random abstract instances for the gap study (0: none)")
    ap.add_argument("--spares", default=None, help="spare stock per class, e.g. autotransformer=1,transformer=1")
    ap.add_argument("--travel-speed", type=float, default=None, help="crew km/h (cases with coordinates only)")
    ap.add_argument("--scale", default=None, help="only the large-damage runs on this case, e.g. case2869pegase")
    ap.add_argument("--scale-sizes", default="20,60", help="damaged elements per --scale damage")
    ap.add_argument("--scale-repeats", type=int, default=1)
    ap.add_argument("--scale-kinds", default="clustered,scattered",
                    help="damages of --scale: clustered (struck substations) and/or scattered (random buses)")
    ap.add_argument("--workers", type=int, default=1, help="plan_restoration(workers=...) for --scale")
    ap.add_argument("--compare", action="store_true",
                    help="--scale: also the exact search (the heuristic without the separable model) on each damage")
    ap.add_argument("--seeds", default=None,
                    help="--scale: a sweep over seeds instead of --seed, e.g. 1-8 or 1,3,5 (at most 100); "
                         "ends with the slowest plan per size against the issue's targets")
    args = ap.parse_args(argv)
    if args.scale:
        import os

        kinds = tuple(x.strip() for x in args.scale_kinds.split(",") if x.strip())
        seeds = _seeds(ap, args.seeds) if args.seeds else [args.seed]
        rows = []
        for seed in seeds:
            for r in scale_runs(args.scale, [int(x) for x in args.scale_sizes.split(",")], 6, args.time_limit, seed,
                                args.scale_repeats, kinds, args.workers, args.compare):
                rows.append({"seed": seed, **r})
        print(f"restoration at scale on {args.scale}: 6 crews, heuristic, --time-limit {args.time_limit:g} s, "
              f"{args.workers} worker(s), load average {os.getloadavg()[0]:.1f} (CPU s: this process and its workers)")
        head = (f"{'seed':>4s} {'damage':>9s} {'elements':>8s} {'tasks':>6s} {'wall s':>7s} {'CPU s':>7s} {'assessments':>12s} "
                f"{'groups':>7s} {'largest':>8s} {'budget stop':>12s} {'vs naive %':>11s} {'weighted ENS':>14s}")
        if args.compare:
            head += f" {'exact search: CPU s':>20s} {'assessments':>12s} {'budget stop':>12s} {'wENS vs exact %':>16s}"
        print(head)
        for r in rows:
            line = (f"{r['seed']:4d} {r['kind']:>9s} {r['elements']:8d} {r['tasks']:6d} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} "
                    f"{r['evaluations']:12d} {r['groups']:7d} {r['largest_group']:8d} {str(r['stopped_on_budget']):>12s} "
                    f"{r['improvement_pct']:11.1f} {r['weighted_ens']:14.3f}")
            if args.compare:
                gap = 100.0 * (r["weighted_ens"] - r["exact_weighted_ens"]) / max(r["exact_weighted_ens"], 1e-9)
                line += (f" {r['exact_cpu_s']:20.1f} {r['exact_evaluations']:12d} "
                         f"{str(r['exact_stopped_on_budget']):>12s} {gap:+16.3f}")
            print(line)
        if len(seeds) > 1:
            for k in sorted({r["elements"] for r in rows}):
                walls = [r["wall_s"] for r in rows if r["elements"] == k]
                target = SCALE_TARGET_S.get(k)
                over = "" if target is None else f", {sum(w >= target for w in walls)} at or above the target {target:g} s"
                budget = sum(r["stopped_on_budget"] for r in rows if r["elements"] == k)
                print(f"{k} elements: {len(walls)} plans over {len(seeds)} seeds, wall {min(walls):.1f}-{max(walls):.1f} s"
                      f"{over}, {budget} stopped on the budget")
        return {"scale": rows}

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    import gridshield as gs

    import sys

    console = Console() if sys.stdout.isatty() else Console(width=180)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    avail = gs.available_cases()
    results = []
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("restoration benchmark", total=len(cases))
        for case in cases:
            if case not in avail:
                console.print(f"[yellow]skip {case}: not available[/]")
                prog.advance(task)
                continue
            prog.update(task, description=f"planning on {case}")
            spares = None
            if args.spares:
                spares = {k: int(v) for k, v in (p.split("=") for p in args.spares.split(","))}
            results.append(run_case(case, args.large, args.small, args.crews, args.milp_max, args.seed, args.time_limit,
                                    spares, args.travel_speed))
            prog.advance(task)

    t = Table(title=f"Heuristic vs naive order (random damages, {args.crews} crews)", title_justify="left")
    for c in ("case", "n", "tasks (mean)", "naive wENS (mean)", "heuristic wENS (mean)", "improvement % (mean / median / min)",
              "ENS MWh naive -> heur. (mean)", "heuristic s (median)", "impact calls (median)"):
        t.add_column(c, justify="right" if c != "case" else "left")
    for r in results:
        lg = r["large"]
        imp = [x["improvement_pct"] for x in lg]
        t.add_row(
            r["case"], str(len(lg)), f"{_mean([x['tasks'] for x in lg]):.1f}", f"{_mean([x['naive'] for x in lg]):,.0f}",
            f"{_mean([x['heuristic'] for x in lg]):,.0f}",
            f"{_mean(imp):.1f} / {_med(imp):.1f} / {min(imp, default=float('nan')):.1f}",
            f"{_mean([x['naive_ens_mwh'] for x in lg]):,.0f} -> {_mean([x['heuristic_ens_mwh'] for x in lg]):,.0f}",
            f"{_med([x['heuristic_s'] for x in lg]):.2f}", f"{_med([x['evaluations'] for x in lg]):.0f}",
        )
    console.print(t)
    s = Table(title="Heuristic vs exact MILP (small damages, <= 2 crews)", title_justify="left")
    for c in ("case", "n", "tasks", "MILP optimal", "gap % (mean / max)", "heur. = opt", "improvement % naive->heur / ->MILP",
              "heuristic s (med)", "MILP s (med / max)", "MILP/heur. time"):
        s.add_column(c, justify="right" if c != "case" else "left")
    for r in results:
        sm = r["small"]
        gaps = [x["gap_pct"] for x in sm]
        hs, ms = _med([x["heuristic_s"] for x in sm]), _med([x["milp_s"] for x in sm])
        s.add_row(
            r["case"], str(len(sm)), f"{min((x['tasks'] for x in sm), default=0)}-{max((x['tasks'] for x in sm), default=0)}",
            f"{sum(x['optimal'] for x in sm)}/{len(sm)}", f"{_mean(gaps):.2f} / {max(gaps, default=float('nan')):.2f}",
            f"{sum(g <= 1e-6 for g in gaps)}/{len(sm)}",
            f"{_mean([x['heuristic_improvement_pct'] for x in sm]):.1f} / {_mean([x['milp_improvement_pct'] for x in sm]):.1f}",
            f"{hs:.3f}", f"{ms:.2f} / {max((x['milp_s'] for x in sm), default=float('nan')):.2f}",
            f"{ms / hs:.0f}x" if hs > 0 else "",
        )
    console.print(s)
    abstract = abstract_gap(args.abstract, args.seed) if args.abstract > 0 else []
    if abstract:
        gaps = [x["gap_pct"] for x in abstract]
        a = Table(title="Heuristic vs exact MILP on random abstract instances (6-9 tasks, 1-3 crews, spares, travel)",
                  title_justify="left")
        for c in ("n", "MILP optimal", "gap % (mean / median / max)", "heur. = opt", "naive gap % (mean)",
                  "heuristic s (med)", "MILP s (med / max)"):
            a.add_column(c, justify="right")
        a.add_row(
            str(len(abstract)), f"{sum(x['optimal'] for x in abstract)}/{len(abstract)}",
            f"{_mean(gaps):.2f} / {_med(gaps):.2f} / {max(gaps):.2f}", f"{sum(g <= 1e-6 for g in gaps)}/{len(gaps)}",
            f"{_mean([100 * (x['naive'] - x['milp']) / x['milp'] for x in abstract]):.1f}",
            f"{_med([x['heuristic_s'] for x in abstract]):.3f}",
            f"{_med([x['milp_s'] for x in abstract]):.2f} / {max(x['milp_s'] for x in abstract):.2f}",
        )
        console.print(a)
    for r in results:
        for e in r["errors"][:3]:
            console.print(f"[yellow]{r['case']}: planning failed for {e}[/]")
        if len(r["errors"]) > 3:
            console.print(f"[yellow]{r['case']}: {len(r['errors']) - 3} more failures[/]")
    return {"results": results, "abstract": abstract, "args": vars(args)}


if __name__ == "__main__":
    main()
