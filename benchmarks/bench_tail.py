"""Tail sampling vs plain Monte Carlo: CVaR95 CI width at equal wall time (dec-19 example).

For each seed, the scenario is run with ``--sampling plain`` and ``--sampling tail`` (same
number of samples, one process, each with a fresh worker state: the tail plan's single-asset
assessments count), and timed (wall and this process's CPU time, which other jobs on a shared
machine disturb less). The plain run's CI half-width is scaled to the tail run's time
(``h * sqrt(t_plain / t_tail)``, the CLT rate) and divided by the tail run's: the equal-time
narrowing factor, per seed; the median over seeds is reported. The spread of the estimates
across seeds is printed too (an empirical check of the CIs).

Run: ``.venv/bin/python -m benchmarks.bench_tail [--samples 2000] [--seeds 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="examples/dec-19-drones.yaml")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)

    import numpy as np

    import gridshield.parallel as par
    from gridshield.threat.runner import run_risk

    for mode in ("plain", "tail"):  # warm-up: imports, compiled kernels
        run_risk(args.scenario, samples=64, seed=999, workers=1, sampling=mode)
    rows: dict[str, list[tuple[float, ...]]] = {"plain": [], "tail": []}
    for seed in range(1, args.seeds + 1):
        for mode in ("plain", "tail"):
            par._POOL.clear()  # each run builds its own worker state (the tail plan's assessments included)
            t, c = time.perf_counter(), time.process_time()
            r = run_risk(args.scenario, samples=args.samples, seed=seed, workers=1, sampling=mode)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            d = r.to_dict()["lost_mw"]
            rows[mode].append((dt, d["cvar95"], d["cvar95_ci95_half_width"], d["mean"], d["ci95_half_width"], dc))
            print(f"  seed {seed} {mode:5s}: {dt:5.1f} s (CPU {dc:5.1f} s)  CVaR95 {d['cvar95']:7.1f} ± {d['cvar95_ci95_half_width']:5.1f}  "
                  f"mean {d['mean']:6.1f} ± {d['ci95_half_width']:4.1f} MW", flush=True)
    ratios_cvar, ratios_mean, ratios_cpu = [], [], []
    for p, t in zip(rows["plain"], rows["tail"], strict=True):
        scale = np.sqrt(p[0] / t[0])
        ratios_cvar.append(p[2] * scale / t[2])
        ratios_mean.append(p[4] * scale / t[4])
        ratios_cpu.append(p[2] * np.sqrt(p[5] / t[5]) / t[2])
    print(f"\n{args.scenario}: {args.samples} samples per run, {args.seeds} seeds, one process, "
          f"load average {os.getloadavg()[0]:.1f}")
    for mode in ("plain", "tail"):
        r = rows[mode]
        print(f"{mode:5s}: wall {statistics.median(x[0] for x in r):5.1f} s (median); CVaR95 mean over seeds "
              f"{statistics.fmean(x[1] for x in r):6.1f}, spread (sd over seeds) {statistics.stdev(x[1] for x in r):5.1f}, "
              f"CI half-width (median) {statistics.median(x[2] for x in r):5.1f}; mean spread "
              f"{statistics.stdev(x[3] for x in r):4.1f}, CI half-width {statistics.median(x[4] for x in r):4.1f}")
    print(f"CVaR95 CI narrower at equal wall time (tail vs plain): median {statistics.median(ratios_cvar):.2f}x "
          f"(runs {', '.join(f'{x:.2f}' for x in ratios_cvar)}; target >= 3)")
    print(f"CVaR95 CI narrower at equal CPU time: median {statistics.median(ratios_cpu):.2f}x "
          f"(runs {', '.join(f'{x:.2f}' for x in ratios_cpu)})")
    print(f"mean MW lost CI narrower at equal wall time: median {statistics.median(ratios_mean):.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return {"rows": rows, "cvar_ratio": ratios_cvar, "cpu_ratio": ratios_cpu, "mean_ratio": ratios_mean}


if __name__ == "__main__":
    main()
