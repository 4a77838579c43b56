"""Security benchmarks: full DC N-1 on case9241pegase and full AC N-1 (thermal + voltage) against peers.

``python -m benchmarks.bench_security [--quick] [--skip-dc] [--skip-ac] [--skip-sites] [--repeats 3]``

A. **DC N-1, all branches, overload check against rate A, case9241pegase** (16,049 outages):
   gridshield ``screen_n1(grid, ("branches",), mld=False)`` (chunked outage solves, no dense
   matrix; islanding losses counted as the dark load, as the peers do not run a load-shedding
   LP) against (a) lightsim2grid ``ContingencyAnalysisCPP`` with ``DC_KLU`` (one solve per
   outage; it stores every outage's results densely, so it runs on the first ``--ca-subset``
   outages and its time is scaled per outage) and (b) the dense LODF route (lightsim2grid
   ``get_ptdf`` + ``get_lodf`` + ``F = f0 + LODF diag(f0)`` + check; ~2 GB). Peak Python heap of
   the gridshield run by ``tracemalloc`` (NumPy buffers included).
B. **Full AC N-1, every branch, thermal + voltage checks, case2869pegase and case9241pegase**:
   gridshield ``ac_security(grid, ("branches",), q_limits=False)`` (every outage solved to
   1e-8 p.u. by compensation on the base LU, islanding outages included) against lightsim2grid
   ``ContingencyAnalysisCPP`` (``NR_KLU``, one thread, tolerance 1e-8, 10 iterations, every branch;
   it skips the islanding outages), timed alternately in one process: medians (and minima) of
   ``--repeats`` runs after a warm-up. Generator Q limits are off in this comparison because
   lightsim2grid's contingency analysis does not enforce them; gridshield's default run (Q limits
   on) and a 2-process run are timed too. The thermal violation set of lightsim2grid (MVA at
   either end above ``max(rate A, 1.02 x base MVA)``, from its voltages) is compared with
   gridshield's over the outages lightsim2grid solved. pypowsybl's AC security analysis
   (OpenLoadFlow, default parameters, optional) runs on the first ``--powsybl-subset`` branches
   and is scaled per contingency (its full run takes minutes).
C. **Sites and site pairs** (``ac_security(..., ("sites",))`` and ``("site-pairs",)``) on the
   synthetic city (every site, every pair) and case2869pegase (every bus as a site; a random
   ``--pairs`` pairs): time per contingency.

Every timing is printed with ``os.getloadavg()``; on a shared machine only ratios measured side
by side in one run mean anything.
"""

from __future__ import annotations

import argparse
import os
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


def _ls2g_thermal_violations(grid, volts, order, vbase):
    """Outages (ids) lightsim2grid finds overloaded (MVA at either end), and those it skipped."""
    from gridshield.flow.matrices import make_ybus

    br = grid.branches
    # lightsim2grid numbers lines first, then transformers (tap or shift set), each in file order
    ls_rows = np.r_[np.flatnonzero(~br.is_transformer), np.flatnonzero(br.is_transformer)]
    _, yf, yt = make_ybus(grid)
    f, t = br.from_bus, br.to_bus

    def smax(v):
        return np.maximum(np.abs(v[f] * np.conj(yf @ v)), np.abs(v[t] * np.conj(yt @ v))) * grid.base_mva

    s0 = smax(vbase)
    rate = br.rate_a_mva
    mon = np.where(rate > 0, np.maximum(rate, s0 * 1.02), 0.0)
    viol, skipped = set(), set()
    for j, gidx in enumerate(order):
        k = int(ls_rows[gidx])
        v = volts[j]
        if not np.all(np.isfinite(v)) or np.all(np.abs(v) == 0):
            skipped.add(br.id[k])  # islanding (skipped by lightsim2grid) or not converged
            continue
        s = smax(v)
        s[k] = 0.0  # the outaged branch's own admittance does not matter for the others
        if np.any((mon > 0) & (s > mon * (1 + 1e-9))):
            viol.add(br.id[k])
    return viol, skipped


def _powsybl_seconds_per_outage(grid, subset: int) -> tuple[float, int]:
    """pypowsybl AC security analysis (OpenLoadFlow) on the first ``subset`` branches: seconds per outage."""
    import tempfile
    from pathlib import Path

    import pypowsybl as pp
    import scipy.io

    from gridshield.grid.ppc import to_ppc

    ppc = to_ppc(grid)
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "case.mat")  # pypowsybl's MATPOWER importer reads .mat files
        scipy.io.savemat(path, {"mpc": {"version": "2", "baseMVA": float(ppc["baseMVA"]), "bus": ppc["bus"],
                                        "gen": ppc["gen"], "branch": ppc["branch"]}})
        net = pp.network.load(path)
    ids = net.get_branches().index.tolist()
    ids = ids if subset < 0 else ids[:subset]
    sa = pp.security.create_analysis()
    sa.add_single_element_contingencies(ids)
    t, _ = _t(lambda: sa.run_ac(net))
    return t / len(ids), len(ids)


def bench_ac(case: str = "case2869pegase", repeats: int = 3, powsybl_subset: int = 200) -> dict[str, Any]:
    """Full AC N-1 over every branch: gridshield against lightsim2grid (and pypowsybl), side by side."""
    import gridshield as gs
    from gridshield.grid.ppc import to_ppc
    from gridshield.security.ac import ac_security

    grid = gs.load_case(case)
    br = grid.branches
    row: dict[str, Any] = {"case": case, "outages": int(br.in_service.sum()), "repeats": repeats}
    ac_security(grid, ("branches",), q_limits=False, sample=64)  # warm-up (numba)
    try:
        from lightsim2grid.algorithm import AlgorithmType
        from lightsim2grid.contingencyAnalysis import ContingencyAnalysisCPP
        from lightsim2grid.network import init_from_matpower
    except ImportError:  # pragma: no cover - bench dependency
        ContingencyAnalysisCPP = None
    gs_t, ls_t = [], []
    res = volts = order = vbase = None
    if ContingencyAnalysisCPP is not None:
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

    for _ in range(repeats):  # alternate the two tools, so that both see the same machine load
        t, res = _t(lambda: ac_security(grid, ("branches",), q_limits=False))
        gs_t.append(t)
        if ContingencyAnalysisCPP is not None:
            t, (volts, order) = _t(ca)
            ls_t.append(t)
    row |= {"gs_s": float(np.median(gs_t)), "gs_min_s": float(np.min(gs_t)), "gs_thermal": int(res.thermal.sum()),
            "gs_voltage": int(res.voltage.sum()), "gs_not_converged": int((~res.converged).sum()),
            "gs_newton": int(sum(x == "newton" for x in res.method)), "gs_islanding": int((res.islanded_mw > 0).sum()),
            "gs_iterations_mean": float(res.iterations.mean()), "gs_timings": res.timings_s}
    if ls_t:
        viol, skipped = _ls2g_thermal_violations(grid, volts, order, vbase)
        gs_set = set(res.thermal_ids) - skipped
        row |= {"ls_ca_s": float(np.median(ls_t)), "ls_ca_min_s": float(np.min(ls_t)),
                "ratio_median": float(np.median(ls_t) / np.median(gs_t)), "ratio_min": float(np.min(ls_t) / np.min(gs_t)),
                "ls_thermal": len(viol), "ls_skipped": len(skipped), "same_thermal_set": gs_set == viol,
                "only_gs": sorted(gs_set - viol)[:10], "only_ls": sorted(viol - gs_set)[:10]}
    t, rq = _t(lambda: ac_security(grid, ("branches",)))
    row |= {"gs_qlim_s": t, "gs_qlim_thermal": int(rq.thermal.sum()), "gs_qlim_voltage": int(rq.voltage.sum()),
            "gs_qlim_q_switched": int(rq.q_switched.sum())}
    t, _ = _t(lambda: ac_security(grid, ("branches",), q_limits=False, workers=2))
    row["gs_2proc_s"] = t
    if powsybl_subset:
        try:
            per, k = _powsybl_seconds_per_outage(grid, powsybl_subset)
            row |= {"powsybl_s_per_outage": per, "powsybl_run": k, "powsybl_s_scaled": per * row["outages"],
                    "powsybl_ratio": per * row["outages"] / row["gs_s"]}
        except ImportError:  # pragma: no cover - optional bench dependency
            pass
    row["loadavg"] = os.getloadavg()
    return row


def bench_sites(pairs: int = 2000) -> list[dict[str, Any]]:
    """Site N-1 and site-pair N-2: time per contingency on the synthetic city and case2869pegase."""
    import gridshield as gs
    from gridshield.security.ac import ac_security

    rows = []
    for case, sample in (("synthetic-city", None), ("case2869pegase", pairs)):
        grid = gs.load_case(case)
        ac_security(grid, ("sites",), sample=16)  # warm-up
        for kind, smp in (("sites", None), ("site-pairs", sample)):
            t, r = _t(lambda grid=grid, kind=kind, smp=smp: ac_security(grid, (kind,), sample=smp, seed=1))
            rows.append({"case": case, "kind": kind, "contingencies": len(r), "total_s": t,
                         "ms_per_contingency": 1e3 * r.timings_s["solve"] / max(len(r), 1),
                         "not_secure": int(sum(s != "secure" for s in r.status)),
                         "not_converged": int((~r.converged).sum()), "newton": int(sum(x == "newton" for x in r.method)),
                         "loadavg": os.getloadavg()})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="case2869pegase only, one repeat, no dense LODF route")
    ap.add_argument("--ca-subset", type=int, default=2000)
    ap.add_argument("--ac-cases", default="case2869pegase,case9241pegase", help="cases of the AC N-1 comparison")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each AC tool (median)")
    ap.add_argument("--powsybl-subset", type=int, default=200, help="branches pypowsybl runs (0: skip, -1: all)")
    ap.add_argument("--pairs", type=int, default=2000, help="site pairs sampled on case2869pegase")
    ap.add_argument("--skip-dc", action="store_true")
    ap.add_argument("--skip-ac", action="store_true")
    ap.add_argument("--skip-sites", action="store_true")
    ap.add_argument("--json", default=None, help="also write every measured row to this JSON file")
    a = ap.parse_args(argv)
    out: dict[str, Any] = {}
    from rich.console import Console
    from rich.table import Table

    c = Console(width=170)
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
        out["dc"] = r
    if not a.skip_ac:
        cases = ("case2869pegase",) if a.quick else tuple(a.ac_cases.split(","))
        t = Table(title="B. full AC N-1 (every branch; thermal + voltage; tol 1e-8), median of repeats")
        for h in ("case", "outages", "gridshield", "ls2g CA NR_KLU 1 thr", "ls2g / gs", "(min / min)",
                  "gs Q limits", "gs 2 proc", "pypowsybl (scaled)", "powsybl / gs", "thermal gs / ls2g", "same set",
                  "load"):
            t.add_column(h, justify="right")
        rows = []
        for case in cases:
            r = bench_ac(case, 1 if a.quick else a.repeats, a.powsybl_subset)
            rows.append(r)
            nan = float("nan")
            t.add_row(case, str(r["outages"]), f"{r['gs_s']:.2f} s", f"{r.get('ls_ca_s', nan):.2f} s",
                      f"{r.get('ratio_median', nan):.1f}x", f"{r.get('ratio_min', nan):.1f}x", f"{r['gs_qlim_s']:.2f} s",
                      f"{r['gs_2proc_s']:.2f} s", f"{r.get('powsybl_s_scaled', nan):.0f} s ({r.get('powsybl_run', 0)} run)",
                      f"{r.get('powsybl_ratio', nan):.0f}x", f"{r['gs_thermal']} / {r.get('ls_thermal')}",
                      str(r.get("same_thermal_set")), f"{r['loadavg'][0]:.1f}")
        c.print(t)
        for r in rows:
            c.print(r)
        out["ac"] = rows
    if not a.skip_sites:
        t = Table(title="C. sites (N-1) and site pairs (N-2), AC with Q limits")
        for h in ("case", "kind", "contingencies", "total", "ms / contingency", "not secure", "not converged",
                  "Newton fallbacks", "load"):
            t.add_column(h, justify="right")
        out["sites"] = bench_sites(a.pairs)
        for r in out["sites"]:
            t.add_row(r["case"], r["kind"], str(r["contingencies"]), f"{r['total_s']:.2f} s",
                      f"{r['ms_per_contingency']:.2f}", str(r["not_secure"]), str(r["not_converged"]), str(r["newton"]),
                      f"{r['loadavg'][0]:.1f}")
        c.print(t)
    if a.json:
        import json
        from pathlib import Path

        Path(a.json).write_text(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
