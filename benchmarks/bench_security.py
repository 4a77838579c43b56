"""Security benchmarks: full DC N-1 on case9241pegase and AC-verified N-1 on case2869pegase.

``python -m benchmarks.bench_security [--quick]``

A. **DC N-1, all branches, overload check against rate A, case9241pegase** (16,049 outages):
   gridshield ``screen_n1(grid, ("branches",), mld=False)`` (chunked outage solves, no dense
   matrix; islanding losses counted as the dark load, as the peers do not run a load-shedding
   LP) against (a) lightsim2grid ``ContingencyAnalysisCPP`` with ``DC_KLU`` (one solve per
   outage; it stores every outage's results densely, so it runs on the first ``--ca-subset``
   outages and its time is scaled per outage) and (b) the dense LODF route (lightsim2grid
   ``get_ptdf`` + ``get_lodf`` + ``F = f0 + LODF diag(f0)`` + check; ~2 GB). Peak Python heap of
   the gridshield run by ``tracemalloc`` (NumPy buffers included).
B. **AC-verified N-1, all branches, case2869pegase**: gridshield ``screen_n1(grid, ("branches",),
   ac_verify=True)`` against lightsim2grid ``ContingencyAnalysisCPP`` with ``NR_KLU`` over every
   branch, single thread (the full AC N-1). Violations of the lightsim2grid run are computed
   from its voltages with the same rule (MVA at either end above ``max(rate A, 1.02 x base-case
   MVA)``) and compared with gridshield's set over the outages lightsim2grid solved (it skips
   islanding outages and returns zero voltages for them and for non-converged ones; their count
   is printed).

Timings are single runs after a warm-up call (these runs take seconds to minutes; the machine is
shared, so only ratios within one run mean anything).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

import numpy as np


def _t(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_dc(case: str = "case9241pegase", ca_subset: int = 2000, dense: bool = True) -> dict[str, Any]:
    import gridshield as gs
    from gridshield.grid.ppc import to_ppc
    from gridshield.security.n1 import screen_n1

    grid = gs.load_case(case)
    nl = int(grid.branches.in_service.sum())
    row: dict[str, Any] = {"case": case, "outages": nl}
    screen_n1(grid, ("branches",), mld=False, contingencies=grid.branches.id[:50].tolist())  # warm-up (numba)
    tracemalloc.start()
    t, res = _t(lambda: screen_n1(grid, ("branches",), mld=False))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    row |= {"gs_s": t, "gs_peak_mb": peak / 2**20, "gs_violating": int(res.violating.sum()),
            "gs_islanding": int(res.islanding.sum())}
    try:
        from lightsim2grid.algorithm import AlgorithmType
        from lightsim2grid.contingencyAnalysis import ContingencyAnalysisCPP
        from lightsim2grid.network import init_from_matpower
    except ImportError:  # pragma: no cover - bench dependency
        return row
    ppc = to_ppc(grid)
    m = init_from_matpower(ppc)
    m.change_solver(AlgorithmType.DC_KLU)
    v0 = np.ones(len(grid.buses), complex)
    m.dc_pf(v0, 10, 1e-8)
    rate = grid.branches.rate_a_mva
    lim = np.where(rate > 0, rate, np.inf)
    n_ca = min(ca_subset, nl)

    def ca():
        c = ContingencyAnalysisCPP(m)
        c.change_algorithm(AlgorithmType.DC_KLU)
        c.add_multiple_n1(list(range(n_ca)))
        c.compute(v0, 10, 1e-8)
        c.compute_power_flows()
        return int((np.abs(c.get_power_flows()) > lim[None, :]).sum())

    t, _ = _t(ca)
    row |= {"ls_ca_s_subset": t, "ls_ca_outages": n_ca, "ls_ca_s_scaled": t / n_ca * nl}
    if dense:
        f0 = gs.solve_dc(grid).p_from_mw

        def dense_route():
            m.tell_solver_need_reset()
            m.dc_pf(v0, 10, 1e-8)
            m.get_ptdf()
            lo = m.get_lodf()
            with np.errstate(all="ignore"):
                flows = f0[:, None] + lo * f0[None, :]
            return int((np.abs(flows) > lim[:, None]).sum())

        t, _ = _t(dense_route)
        row["ls_dense_s"] = t
    return row


def bench_ac(case: str = "case2869pegase") -> dict[str, Any]:
    import gridshield as gs
    from gridshield.flow.matrices import make_ybus
    from gridshield.grid.ppc import to_ppc
    from gridshield.security.n1 import screen_n1

    grid = gs.load_case(case)
    br = grid.branches
    nl = len(br)
    row: dict[str, Any] = {"case": case, "outages": int(br.in_service.sum())}
    screen_n1(grid, ("branches",), ac_verify=True, contingencies=br.id[:30].tolist())  # warm-up
    t, res = _t(lambda: screen_n1(grid, ("branches",), ac_verify=True))
    row |= {"gs_s": t, "gs_ac_verified": res.n_ac_verified, "gs_violating": int(res.violating.sum()),
            "gs_timings": res.timings_s}
    try:
        from lightsim2grid.algorithm import AlgorithmType
        from lightsim2grid.contingencyAnalysis import ContingencyAnalysisCPP
        from lightsim2grid.network import init_from_matpower
    except ImportError:  # pragma: no cover
        return row
    m = init_from_matpower(to_ppc(grid))
    m.change_solver(AlgorithmType.NR_KLU)
    vcase = grid.buses.vm_pu * np.exp(1j * np.deg2rad(grid.buses.va_deg))
    vbase = m.ac_pf(vcase.astype(complex), 30, 1e-8)

    def ca():
        c = ContingencyAnalysisCPP(m)
        c.change_algorithm(AlgorithmType.NR_KLU)
        c.add_all_n1()
        c.compute(vbase, 10, 1e-8)
        return c.get_voltages(), [int(d[0]) for d in c.my_defaults()]

    t, (volts, order) = _t(ca)
    # lightsim2grid numbers lines first, then transformers (tap or shift set), each in file order
    ls_rows = np.r_[np.flatnonzero(~br.is_transformer), np.flatnonzero(br.is_transformer)]
    row["ls_ca_s"] = t
    # violations from lightsim2grid's voltages, same rule as gridshield
    _, yf, yt = make_ybus(grid)
    f, tt = br.from_bus, br.to_bus
    base = grid.base_mva

    def smax(v, yf_, yt_):
        sf = v[f] * np.conj(yf_ @ v) * base
        st = v[tt] * np.conj(yt_ @ v) * base
        return np.maximum(np.abs(sf), np.abs(st))

    s0 = smax(vbase, yf, yt)
    rate = br.rate_a_mva
    mon = np.where(rate > 0, np.maximum(rate, s0 * 1.02), 0.0)
    viol = set()
    skipped = set()
    for j, gidx in enumerate(order):
        k = int(ls_rows[gidx])
        v = volts[j]
        if not np.all(np.isfinite(v)) or np.all(np.abs(v) == 0):
            skipped.add(br.id[k])  # islanding (skipped by lightsim2grid) or not converged
            continue
        # remove branch k's rows: flows of the others are unaffected by its admittance
        s = smax(v, yf, yt)
        s[k] = 0.0
        if np.any((mon > 0) & (s > mon * (1 + 1e-9))):
            viol.add(br.id[k])
    gs_set = set(res.violating_ids) - skipped
    row |= {"ls_violating": len(viol), "ls_skipped": len(skipped), "same_violations": gs_set == viol,
            "only_gs": sorted(gs_set - viol)[:10], "only_ls": sorted(viol - gs_set)[:10]}
    del nl
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="case2869pegase for the DC part, no dense route")
    ap.add_argument("--ca-subset", type=int, default=2000)
    ap.add_argument("--skip-ac", action="store_true")
    ap.add_argument("--skip-dc", action="store_true")
    a = ap.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    c = Console(width=160)
    if not a.skip_dc:
        r = bench_dc("case2869pegase" if a.quick else "case9241pegase", a.ca_subset, dense=not a.quick)
        t = Table(title=f"A. full DC N-1 (all {r['outages']} branches, overload check) on {r['case']}")
        for h in ("gridshield", "peak MB", "ls2g CA DC_KLU (scaled)", "CA / gs", "ls2g dense LODF", "dense / gs",
                  "violating", "islanding"):
            t.add_column(h, justify="right")
        t.add_row(f"{r['gs_s']:.2f} s", f"{r['gs_peak_mb']:.0f}",
                  f"{r.get('ls_ca_s_scaled', float('nan')):.2f} s ({r.get('ls_ca_outages', 0)} run)",
                  f"{r.get('ls_ca_s_scaled', float('nan')) / r['gs_s']:.1f}x",
                  f"{r.get('ls_dense_s', float('nan')):.2f} s", f"{r.get('ls_dense_s', float('nan')) / r['gs_s']:.1f}x",
                  str(r["gs_violating"]), str(r["gs_islanding"]))
        c.print(t)
        c.print(r)
    if not a.skip_ac:
        r = bench_ac()
        t = Table(title=f"B. AC-verified N-1 (all {r['outages']} branches) on {r['case']}")
        for h in ("gridshield", "AC-verified", "ls2g full AC CA (1 thread)", "ls2g / gs", "violating gs", "violating ls2g",
                  "same set"):
            t.add_column(h, justify="right")
        t.add_row(f"{r['gs_s']:.2f} s", str(r["gs_ac_verified"]), f"{r.get('ls_ca_s', float('nan')):.2f} s",
                  f"{r.get('ls_ca_s', float('nan')) / r['gs_s']:.1f}x", str(r["gs_violating"]),
                  str(r.get("ls_violating")), str(r.get("same_violations")))
        c.print(t)
        c.print(r)


if __name__ == "__main__":
    main()
