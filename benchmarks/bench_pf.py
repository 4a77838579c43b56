"""AC power flow: gridshield vs lightsim2grid and pandapower, side by side in one run.

Per case, medians of ``--repeats`` timed runs after one warm-up (method of /work/shared/PEERS.md);
the tools are timed in turn within each repeat, so that load from other users hits them alike:

* **gridshield cold**: ``solve_ac(grid, init="flat")`` — everything from the ``Grid`` to the
  converged result (islands, bus types, Ybus, Jacobian pattern, KLU analysis, Newton, flows,
  generator outputs, result object).
* **gridshield reuse**: ``AcSolver(grid).solve(init="flat")`` again on the same topology (cached
  Ybus, pattern and symbolic factorisation).
* **lightsim2grid cold**: ``tell_solver_need_reset()`` + ``ac_pf(V0 flat, 30, 1e-8)`` on the
  ``LSGrid`` from ``init_from_matpower(ppc)`` (NR with KLU); **reuse**: ``ac_pf`` again.
* **pandapower**: ``runpp(net, algorithm="nr", numba=True, lightsim2grid=False, init="flat", tolerance_mva=1e-6,
  max_iteration=30, trafo_model="pi", calculate_voltage_angles=True)`` on the net built once by
  ``pandapower.converter.pypower.from_ppc(to_ppc(grid))``; whole call timed.
* **model load** of ``case9241pegase``: gridshield ``read_matpower(path)`` vs lightsim2grid
  ``init_from_matpower(ppc)`` (dict already parsed, as in PEERS.md).

All tools start flat (1 p.u., 0 degrees; PV buses at their set point), tolerance 1e-8 p.u. on
100 MVA, Q limits off. Iteration counts are printed so that equal work is visible.

Run: ``.venv/bin/python -m benchmarks.bench_pf [--cases case118,case9241pegase] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

CASES = ("case118", "case2869pegase", "case9241pegase", "case_ACTIVSg25k")


def _median(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _fmt(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median time of each callable, timed in turn within every repeat (one warm-up each), so that
    a change of machine load hits every tool alike."""
    for fn in fns.values():
        fn()
    ts: dict[str, list[float]] = {k: [] for k in fns}
    # one collection before the timed runs, none between them: a gc.collect() right before a call
    # evicts the CPU caches and slows Python-heavy code 2x on case118 (measured), which no real
    # caller does
    gc.collect()
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t)
    out = {k: statistics.median(v) for k, v in ts.items()}
    out.update({f"{k}_min": min(v) for k, v in ts.items()})
    return out


def bench_case(name: str, repeats: int) -> dict[str, Any]:
    import gridshield as gs
    from gridshield.flow.ac import AcSolver, solve_ac
    from gridshield.grid.ppc import to_ppc

    grid = gs.load_case(name)
    ppc = to_ppc(grid)
    row: dict[str, Any] = {"case": name, "n_bus": len(grid.buses), "n_branch": len(grid.branches)}
    fns: dict[str, Callable[[], Any]] = {}

    r = solve_ac(grid, init="flat")
    row["gs_it"] = r.iterations if r.converged else f"{r.iterations} ({r.reason})"
    fns["gs_cold"] = lambda: solve_ac(grid, init="flat")
    solver = AcSolver(grid)
    fns["gs_reuse"] = lambda: solver.solve(init="flat")
    vm_gs = r.vm_pu

    try:
        from lightsim2grid.network import init_from_matpower

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = init_from_matpower(ppc)
        v0 = np.ones(len(grid.buses), dtype=complex)

        def ls_cold():
            model.tell_solver_need_reset()
            return model.ac_pf(v0, 30, 1e-8)

        v = ls_cold()
        row["ls_it"] = model.get_solver().get_nb_iter() if v.size else "diverged"
        if v.size:
            row["ls_dvm"] = float(np.abs(np.abs(v[: len(grid.buses)]) - vm_gs).max())
        fns["ls_cold"] = ls_cold
        fns["ls_reuse"] = lambda: model.ac_pf(v0, 30, 1e-8)
    except ImportError:
        pass

    try:
        import pandapower as pp
        from pandapower.converter.pypower import from_ppc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = from_ppc(ppc, f_hz=50, validate_conversion=False)

        def pp_run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    pp.runpp(
                        net, algorithm="nr", numba=True, init="flat", tolerance_mva=1e-6, max_iteration=30,
                        trafo_model="pi", calculate_voltage_angles=True,
                        lightsim2grid=False,  # pandapower's own numba NR (its default "auto" would use lightsim2grid)
                    )
                except pp.LoadflowNotConverged:
                    pass  # timed all the same (30 iterations), marked in the table

        pp_run()
        row["pp_it"] = net._ppc["iterations"] if net.converged else "not converged"
        fns["pp_call"] = pp_run
    except ImportError:
        pass
    row.update(_interleaved(fns, repeats))
    return row


def bench_load(repeats: int) -> dict[str, Any]:
    from gridshield.grid.cases import matpower_data_dir
    from gridshield.grid.matpower import read_matpower
    from gridshield.grid.ppc import to_ppc

    d = matpower_data_dir()
    if d is None:
        return {}
    path = d / "case9241pegase.m"
    out = {"gs_read": _median(lambda: read_matpower(path), repeats)}
    try:
        from lightsim2grid.network import init_from_matpower

        ppc = to_ppc(read_matpower(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["ls_init"] = _median(lambda: init_from_matpower(ppc), repeats)
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_pf", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    import gridshield.flow.linsolve as ls

    print(f"AC power flow, flat start, tol 1e-8 p.u.; median of {args.repeats} after 1 warm-up; "
          f"gridshield linear solver: {ls.available_backends()[0]}")
    rows = []
    for name in [c for c in args.cases.split(",") if c]:
        row = bench_case(name, args.repeats)
        rows.append(row)
        print(f"  done {name}", flush=True)
    print()
    print("| case | buses | gridshield cold (it) | gridshield reuse | ls2g cold (it) | ls2g reuse | pandapower runpp (it) "
          "| gs cold / ls2g cold | pp / gs cold |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['n_bus']} | {_fmt(r['gs_cold'])} ({r['gs_it']}) | {_fmt(r['gs_reuse'])} "
            f"| {_fmt(r.get('ls_cold'))} ({r.get('ls_it', '-')}) | {_fmt(r.get('ls_reuse'))} "
            f"| {_fmt(r.get('pp_call'))} ({r.get('pp_it', '-')}) "
            f"| {_ratio(r['gs_cold'], r.get('ls_cold'))} | {_ratio(r.get('pp_call'), r['gs_cold'])} |"
        )
    print("\nSame runs, fastest repeat (less sensitive to load from other users of the machine):\n")
    print("| case | gridshield cold | gridshield reuse | ls2g cold | ls2g reuse | pandapower runpp "
          "| gs cold / ls2g cold | pp / gs cold |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {_fmt(r['gs_cold_min'])} | {_fmt(r['gs_reuse_min'])} | {_fmt(r.get('ls_cold_min'))} "
            f"| {_fmt(r.get('ls_reuse_min'))} | {_fmt(r.get('pp_call_min'))} "
            f"| {_ratio(r['gs_cold_min'], r.get('ls_cold_min'))} | {_ratio(r.get('pp_call_min'), r['gs_cold_min'])} |"
        )
    dvm = {r["case"]: r["ls_dvm"] for r in rows if "ls_dvm" in r}
    if dvm:
        print("\nmax |Vm(gridshield) - Vm(lightsim2grid)| p.u.: " + ", ".join(f"{k} {v:.1e}" for k, v in dvm.items()))
    ld = bench_load(args.repeats)
    if ld:
        print(
            f"\nLoad case9241pegase: gridshield read_matpower {_fmt(ld['gs_read'])}, lightsim2grid "
            f"init_from_matpower(ppc) {_fmt(ld.get('ls_init'))} (ratio {_ratio(ld['gs_read'], ld.get('ls_init'))})"
        )
    return rows


if __name__ == "__main__":
    main()
