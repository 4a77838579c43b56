"""Monte Carlo risk throughput: samples/s on case2869pegase, 1 vs 2 local workers, Dask vs pool.

Each sample has 3-5 hits (uniform), every hit destroys its target (a line, transformer, bus or
generator drawn uniformly by class), and the impact engine solves maximal load delivery for the
damage (its fast no-LP path where that is exact, else the LP). Rates are end to end: they
include starting the pool and building each worker's state (grid, compiled threat, impact
model); the Dask cluster's own start-up and one untimed warm-up run (its workers are spawned,
not forked, so they import gridshield and meet their first LPs there) are timed separately, and
each timed Dask run starts with the workers' result caches emptied, as cold as a fresh pool.
Memory per worker is the resident set size after building the state and running a batch.

Run: ``.venv/bin/python -m benchmarks.bench_risk [--samples N] [--case case2869pegase]``
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any


def bench_scenario(case: str, commitment: str | None) -> dict[str, Any]:
    impact: dict[str, Any] = {"cascade": False}
    if commitment:
        impact["commitment"] = commitment
    return {
        "name": f"bench-{case}",
        "grid": {"case": case},
        "impact": impact,
        "waves": [
            {
                "weapon": "missile",
                "launched": {"uniform_int": [3, 5]},
                "interception": 0.0,
                "targets": [{"class": "line"}, {"class": "transformer"}, {"class": "bus"}, {"class": "generator"}],
                "destroy": {"line": 1.0, "transformer": 1.0, "bus": 1.0, "generator": 1.0},
            }
        ],
    }


def _rss_mb() -> tuple[float, float]:
    """(RSS, USS) of this process in MiB; USS counts only pages this process does not share."""
    import psutil

    m = psutil.Process().memory_full_info()
    return m.rss / 2**20, m.uss / 2**20


def _pool_worker_rss(payload: Any) -> tuple[float, float]:
    from gridshield.parallel import compute_batch

    compute_batch(payload, 0, 20)
    return _rss_mb()


def _forget_kept_results() -> int:
    """In a Dask worker: forget the results its states keep across batches (and runs), so that
    a timed run starts as cold as a pool's fresh workers do; the number forgotten."""
    from gridshield.parallel import _POOL

    n = 0
    for states in _POOL.values():
        for s in states:
            n += len(s._kept)
            s._kept.clear()
    return n


def _agree(a: Any, b: Any) -> str:
    """Same draws, and the largest |difference| in MW lost (the impact LP is warm-started)."""
    import numpy as np

    draws = "same draws" if a.batch.damage == b.batch.damage else "DIFFERENT draws"
    return f"{draws}, max |d lost| {float(np.max(np.abs(a.lost_mw - b.lost_mw))):.1e} MW"


def path_profile(sc: Any, n: int, seed: int) -> dict[str, Any]:
    """Per sample, which path the impact engine took (fast = no LP, or the LP) and its time.

    In-process, one model, the samples of ``seed`` in order (no result cache, warm start reset
    every 64 samples as the runner does per batch); wall and CPU time per assessment.
    """
    import numpy as np

    from gridshield.impact import ImpactModel
    from gridshield.threat.sampling import build_grid, compile_threat

    grid = build_grid(sc)
    threat = compile_threat(sc, grid)
    model = ImpactModel(grid, **sc.impact.options())
    model.assess([])
    wall: dict[str, list[float]] = {"fast": [], "lp": []}
    cpu: dict[str, list[float]] = {"fast": [], "lp": []}
    for i in range(n):
        if i % 64 == 0:
            model.reset_warm_start()
        d = threat.draw(seed, i).damage
        t, c = time.perf_counter(), time.process_time()
        r = model.assess(list(d))
        path = "fast" if r.method == "fast" else "lp"
        wall[path].append(time.perf_counter() - t)
        cpu[path].append(time.process_time() - c)
    out: dict[str, Any] = {"formulation": model.formulation, "samples": n}
    for path in ("fast", "lp"):
        k = len(wall[path])
        out[path] = {"fraction": k / n, "wall_ms": 1e3 * float(np.mean(wall[path])) if k else float("nan"),
                     "cpu_ms": 1e3 * float(np.mean(cpu[path])) if k else float("nan")}
    total = sum(wall["fast"]) + sum(wall["lp"])
    out["samples_per_s_wall"] = n / total if total > 0 else float("nan")
    out["samples_per_s_cpu"] = n / (sum(cpu["fast"]) + sum(cpu["lp"]))
    return out


def print_paths(case: str, p: dict[str, Any]) -> None:
    print(f"\nimpact engine paths on {case} ({p['samples']} samples, LP formulation {p['formulation']}, "
          f"load average {os.getloadavg()[0]:.1f}):")
    print(f"{'path':22s} {'fraction':>9s} {'wall ms':>9s} {'CPU ms':>9s}")
    for path, label in (("fast", "no LP (fast path)"), ("lp", "LP")):
        q = p[path]
        print(f"{label:22s} {q['fraction']:9.1%} {q['wall_ms']:9.2f} {q['cpu_ms']:9.2f}")
    print(f"one process: {p['samples_per_s_wall']:.1f} samples/s wall, {p['samples_per_s_cpu']:.1f} samples/s of CPU "
          "(assessments only: no sampling, store or result cache)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="case2869pegase")
    ap.add_argument("--samples", type=int, default=100, help="samples per timed run")
    ap.add_argument("--rounds", type=int, default=2, help="alternating pool / Dask rounds (median ratio)")
    ap.add_argument("--batch-size", type=int, default=None, help="samples per batch (default: the CLI's, 64)")
    ap.add_argument("--commitment", default="relaxed",
                    help="impact engine commitment: relaxed (PowerModelsRestoration run_mld), milp, fixed")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--paths-only", action="store_true",
                    help="only the per-path profile (fraction of samples without / with the LP, time per path)")
    args = ap.parse_args(argv)

    import statistics
    from concurrent.futures import ProcessPoolExecutor

    from gridshield.parallel import Payload, _init_worker
    from gridshield.threat.runner import run_risk
    from gridshield.threat.scenario import load_scenario

    sc = load_scenario(bench_scenario(args.case, args.commitment))
    from gridshield.threat.runner import DEFAULT_BATCH

    n, bs = args.samples, args.batch_size or DEFAULT_BATCH
    paths = path_profile(sc, n, 1)
    print_paths(args.case, paths)
    if args.paths_only:
        return {"paths": paths}
    rows: list[tuple[str, float, float]] = []

    def timed(label: str, seed: int, **kw: Any) -> Any:
        t = time.perf_counter()
        r = run_risk(sc, samples=n, seed=seed, batch_size=bs, **kw)
        dt = time.perf_counter() - t
        rows.append((label, n / dt, dt))
        print(f"  {label} (seed {seed}): {n / dt:.1f} samples/s ({dt:.1f} s)", flush=True)
        return r

    # warm-up (imports, OS caches); the in-process state is then reused by the 1-worker runs
    run_risk(sc, samples=bs, seed=99, workers=1, batch_size=bs)
    r1 = timed("local, 1 worker (in-process)", 1, workers=1)
    payload = Payload(sc.canonical_json(), sc.hash(), 1)
    with ProcessPoolExecutor(1, initializer=_init_worker, initargs=(payload,)) as ex:
        pool_mem = ex.submit(_pool_worker_rss, payload).result()
    ratios: list[float] = []
    dask_mem: dict[str, tuple[float, float]] = {}
    cluster_s = warm_s = float("nan")
    agree = ""
    client = cl = None
    if not args.no_dask:
        from distributed import Client

        from gridshield.parallel import local_cluster

        t = time.perf_counter()
        cl = local_cluster(2)  # what `--dask local:2` starts
        client = Client(cl)
        cluster_s = time.perf_counter() - t
        # untimed warm-up, as long as a timed run: spawned Dask workers import gridshield, build
        # their state and meet their first LPs here (forked pool workers inherit the parent's
        # imports and its warm process); its time is printed with the cluster's start-up
        t = time.perf_counter()
        run_risk(sc, samples=n, seed=98, batch_size=bs, dask=client)
        warm_s = time.perf_counter() - t
    try:
        for k in range(args.rounds):
            seed = 1 + k
            rp = timed("local pool, 2 workers", seed, workers=2)
            if k == 0:
                agree = f"2 workers vs 1: {_agree(rp, r1)}"
            if client is not None:
                client.run(_forget_kept_results)
                rd = timed("Dask LocalCluster, 2 workers", seed, dask=client)
                ratios.append(rows[-1][1] / rows[-2][1])
                if k == 0:
                    agree += f"; Dask vs 1: {_agree(rd, r1)}"
                    dask_mem = client.run(_rss_mb)
    finally:
        if client is not None:
            import logging

            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            client.close()
            cl.close()

    print(f"\nMonte Carlo risk on {args.case}: {n} samples per run, 3-5 hits each, batch {bs}, "
          f"commitment {args.commitment}, os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'executor':34s} {'samples/s (median)':>19s} {'runs':>5s} {'vs 1 worker':>12s}")
    base = rows[0][1]
    for label in dict.fromkeys(r[0] for r in rows):
        rates = [r[1] for r in rows if r[0] == label]
        med = statistics.median(rates)
        print(f"{label:34s} {med:19.1f} {len(rates):5d} {med / base:11.2f}x")
    if ratios:
        print(f"Dask / local pool, 2 workers each, same seeds, alternating runs: median {statistics.median(ratios):.2f} "
              f"(runs {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.90); LocalCluster start {cluster_s:.1f} s and warm-up run {warm_s:.1f} s, not in the rates")
    print(agree)
    print(f"memory per worker after state + 20 samples (RSS / USS): pool {pool_mem[0]:.0f} / {pool_mem[1]:.0f} MiB"
          + ("; Dask " + ", ".join(f"{a:.0f} / {b:.0f} MiB" for a, b in dask_mem.values()) if dask_mem else ""))
    d = r1.to_dict()
    print(f"mean MW lost {d['lost_mw']['mean']:.1f} ± {d['lost_mw']['ci95_half_width']:.1f} "
          f"(P99 {d['lost_mw']['p99']:.1f}, CVaR95 {d['lost_mw']['cvar95']:.1f})")
    print_paths(args.case, paths)
    return {"rows": rows, "dask_over_pool": ratios, "pool_mem_mib": pool_mem, "dask_mem_mib": dask_mem, "paths": paths}


if __name__ == "__main__":
    main()
