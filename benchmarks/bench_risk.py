"""Monte Carlo risk throughput: samples/s on case2869pegase, 1 vs 2 local workers, Dask vs pool.

Each sample has 3-5 hits (uniform), every hit destroys its target (a line, transformer, bus or
generator drawn uniformly by class), and the impact engine solves maximal load delivery for the
damage (its fast no-LP path where that is exact, else the LP). Rates are end to end: they
include starting the pool and building each worker's state (grid, compiled threat, impact
model); the Dask cluster's own start-up is timed separately. Memory per worker is the resident
set size after building the state and running a batch.

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


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _pool_worker_rss(payload: Any) -> float:
    from gridshield.parallel import compute_batch

    compute_batch(payload, 0, 20)
    return _rss_mb()


def _agree(a: Any, b: Any) -> str:
    """Same draws, and the largest |difference| in MW lost (the impact LP is warm-started)."""
    import numpy as np

    draws = "same draws" if a.batch.damage == b.batch.damage else "DIFFERENT draws"
    return f"{draws}, max |d lost| {float(np.max(np.abs(a.lost_mw - b.lost_mw))):.1e} MW"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="case2869pegase")
    ap.add_argument("--samples", type=int, default=200, help="samples per timed run")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--commitment", default=None, help="impact engine commitment (milp / relaxed / fixed)")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args(argv)

    from concurrent.futures import ProcessPoolExecutor

    from gridshield.parallel import Payload, _init_worker
    from gridshield.threat.runner import run_risk
    from gridshield.threat.scenario import load_scenario

    sc = load_scenario(bench_scenario(args.case, args.commitment))
    n, bs = args.samples, args.batch_size
    rows: list[tuple[str, float, float, Any]] = []

    def timed(label: str, **kw: Any) -> Any:
        t = time.perf_counter()
        r = run_risk(sc, samples=n, seed=1, batch_size=bs, **kw)
        dt = time.perf_counter() - t
        rows.append((label, n / dt, dt, r))
        print(f"  {label}: {n / dt:.1f} samples/s ({dt:.1f} s)", flush=True)
        return r

    # warm-up (imports, numba JIT, OS caches)
    run_risk(sc, samples=bs, seed=99, workers=1, batch_size=bs)
    r1 = timed("local, 1 worker (in-process)", workers=1)
    r2 = timed("local pool, 2 workers", workers=2)
    payload = Payload(sc.canonical_json(), sc.hash(), 1)
    with ProcessPoolExecutor(1, initializer=_init_worker, initargs=(payload,)) as ex:
        pool_rss = ex.submit(_pool_worker_rss, payload).result()
    dask_rss: dict[str, float] = {}
    cluster_s = float("nan")
    if not args.no_dask:
        from distributed import Client, LocalCluster

        t = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cl, Client(cl) as client:
            cluster_s = time.perf_counter() - t
            rd = timed("Dask LocalCluster, 2 workers", dask=client)
            dask_rss = client.run(_rss_mb)
        same = _agree(rd, r1)
    same12 = _agree(r2, r1)

    print(f"\nMonte Carlo risk on {args.case}: {n} samples, 3-5 hits each, batch {bs}, os.cpu_count()={os.cpu_count()}")
    print(f"{'executor':34s} {'samples/s':>10s} {'wall s':>8s} {'ratio':>7s}")
    base = rows[0][1]
    for label, rate, dt, _ in rows:
        print(f"{label:34s} {rate:10.1f} {dt:8.2f} {rate / base:7.2f}x")
    if not args.no_dask:
        print(f"Dask / local pool (2 workers): {rows[2][1] / rows[1][1]:.2f} (target >= 0.90); "
              f"LocalCluster start {cluster_s:.1f} s (not in the rate)")
        print(f"vs 1 worker: 2 workers {same12}; Dask {same}")
    else:
        print(f"vs 1 worker: 2 workers {same12}")
    print(f"memory per worker (RSS after state + 20 samples): pool {pool_rss:.0f} MB"
          + ("; Dask " + ", ".join(f"{v:.0f} MB" for v in dask_rss.values()) if dask_rss else ""))
    d = r1.to_dict()
    print(f"mean MW lost {d['lost_mw']['mean']:.1f} ± {d['lost_mw']['ci95_half_width']:.1f} "
          f"(P99 {d['lost_mw']['p99']:.1f}, CVaR95 {d['lost_mw']['cvar95']:.1f})")
    return {"rows": [(lab, rate, dt) for lab, rate, dt, _ in rows], "pool_rss_mb": pool_rss, "dask_rss_mb": dask_rss}


if __name__ == "__main__":
    main()
