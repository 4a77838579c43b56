"""Impact (maximal load delivery after damage): gridshield vs PyPSA and pandapower, side by side.

1. **One MLD on case2869pegase after a random 3-asset damage.** The damage is the first one (from
   ``--seed``) of three random branches/generators -- branches that are not bridges, so that no
   island forms and pandapower (which drops islands without an external grid) solves the same
   problem -- for which the proportional redispatch overloads a branch, i.e. gridshield has to
   solve the LP (no fast path). The same load-shedding LP is given to every tool: maximise served
   load (weight 10 per MW, all loads residential) subject to DC flows, rate-A limits (rate 0 =
   99999 MVA), generators within [min(Pmin, 0), Pmax] (``commitment="relaxed"``: the peers cannot switch
   units off in an LP).

   * **gridshield**: ``ImpactModel(grid, commitment="relaxed").assess(damage)`` -- model build,
     islands, DC factorisation, fast-path check, LP (PTDF constraint generation, HiGHS), metrics.
   * **PyPSA**: ``import pypsa`` (fresh interpreter, timed separately and added) +
     ``Network.import_from_pypower_ppc`` of the damaged case (out-of-service rows removed: PyPSA
     ignores MATPOWER's status columns) + generator ``p_set`` cleared and ``p_min_pu`` set
     (PyPSA 1.x treats an imported ``p_set`` as fixed) + one load-shedding generator per load
     (cost 10/MWh) + ``optimize(solver_name="highs")``.
   * **pandapower**: ``from_ppc`` of the damaged case, loads ``controllable`` in [0, Pd] with cost
     -10/MW, generator costs 0, ``rundcopp`` (PIPS interior point). Import of pandapower not
     counted (it would add 1.4 s); the net is built inside the timed call.

   Served MW of the three are printed to show they solve the same problem.

2. **Batch**: ``ImpactModel(grid).assess(d)`` for ``--batch`` random 3-asset damages (branches,
   generators and buses, default options incl. binary commitment), on one core (HiGHS threads=1).
   Printed: scenarios per second of wall time and of process CPU time (the machine is shared:
   CPU time is what one core delivers), and how many needed the LP.

Run: ``.venv/bin/python -m benchmarks.bench_impact [--repeats 3] [--batch 1000] [--seed 1]``
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

BIG_RATE = 99999.0
WEIGHT = 10.0


def _damaged_ppc(grid, dmg) -> dict:
    """The damaged case as a PYPOWER dict: damaged/out-of-service rows removed, unlimited rates big."""
    from gridshield.grid.ppc import to_ppc

    ppc = to_ppc(grid)
    br = ppc["branch"]
    keep = ~dmg.branch_out & (br[:, 10] > 0)
    br = br[keep].copy()
    br[br[:, 5] == 0, 5] = BIG_RATE
    gen = ppc["gen"]
    gk = ~dmg.gen_out & (gen[:, 7] > 0)
    ppc["gen"] = gen[gk].copy()
    ppc["branch"] = br
    if "gencost" in ppc:
        gc_ = ppc["gencost"][: len(gen)][gk].copy()
        gc_[:, 4:] = 0.0
        ppc["gencost"] = gc_
    # keep a reference bus with a generator
    bus = ppc["bus"].copy()
    gbus = ppc["gen"][:, 0].astype(int)
    refs = np.flatnonzero(bus[:, 1] == 3)
    if not refs.size or int(bus[refs[0], 0]) not in set(gbus.tolist()):
        bus[bus[:, 1] == 3, 1] = 2
        big = int(np.argmax(ppc["gen"][:, 8]))
        bus[bus[:, 0] == gbus[big], 1] = 3
    ppc["bus"] = bus
    return ppc


def _rated(grid):
    rate = grid.branches.rate_a_mva
    return grid.replace(branches=grid.branches.replace(rate_a_mva=np.where(rate > 0, rate, BIG_RATE)))


def _pypsa_import_s() -> float:
    code = "import time; t=time.perf_counter(); import pypsa; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _pypsa_mld(ppc) -> float:
    import logging

    import pypsa

    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    n = pypsa.Network()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n.import_from_pypower_ppc(ppc)
    gen = ppc["gen"]
    pmax = gen[:, 8]
    n.generators["p_set"] = np.nan  # PyPSA 1.x: a set p_set is a fixed dispatch
    n.generators["p_nom"] = np.maximum(pmax, 1e-6)
    # relaxed commitment: a positive minimum drops to 0, a negative one (absorbing units) stays
    n.generators["p_min_pu"] = np.where(pmax > 0, np.minimum(gen[:, 9], 0.0) / np.where(pmax > 0, pmax, 1.0), 0.0)
    n.generators["p_max_pu"] = 1.0
    n.generators["marginal_cost"] = 0.0
    loads = n.loads
    pos = loads.p_set > 0
    names = ["shed_" + str(i) for i in loads.index[pos]]
    n.add("Generator", names, bus=loads.bus[pos].values, p_nom=loads.p_set[pos].values, marginal_cost=WEIGHT)
    n.optimize(solver_name="highs", log_to_console=False)
    shed = float(n.generators_t.p[names].sum(axis=1).iloc[0])
    return float(loads.p_set[pos].sum()) - shed


def _pandapower_mld(ppc) -> float:
    import pandapower as pp
    from pandapower.converter.pypower import from_ppc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_ppc(ppc, f_hz=50, validate_conversion=False)
    ld = net.load
    pos = ld.p_mw > 0
    net.load["controllable"] = pos
    net.load["min_p_mw"] = np.where(pos, 0.0, ld.p_mw)
    net.load["max_p_mw"] = ld.p_mw
    net.load["min_q_mvar"] = ld.q_mvar
    net.load["max_q_mvar"] = ld.q_mvar
    net.gen["min_p_mw"] = np.minimum(net.gen["min_p_mw"], 0.0)
    net.ext_grid["min_p_mw"] = np.minimum(net.ext_grid["min_p_mw"], 0.0)
    net.poly_cost["cp1_eur_per_mw"] = 0.0
    net.poly_cost["cp2_eur_per_mw2"] = 0.0
    for i in np.flatnonzero(pos.values):
        pp.create_poly_cost(net, int(ld.index[i]), "load", cp1_eur_per_mw=-WEIGHT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcopp(net, verbose=False)
    return float(net.res_load.p_mw[pos].sum())


def _median(fn, repeats: int) -> tuple[float, object]:
    out = fn()
    ts = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def pick_damage(grid, seed: int):
    """First random 3-asset damage (non-bridge branches, generators) that needs the LP."""
    from gridshield.impact import Damage, ImpactModel
    from gridshield.topology import bridges

    rng = np.random.default_rng(seed)
    ok_br = grid.branches.id[~bridges(grid) & grid.branches.in_service].tolist()
    ids = ok_br + grid.gens.id[grid.gens.in_service].tolist()
    m = ImpactModel(grid, commitment="relaxed")
    for _ in range(500):
        d = Damage.from_ids(grid, list(rng.choice(ids, 3, replace=False)))
        r = m.assess(d)
        if r.method != "fast" and r.n_islands == 1:
            return d
    raise RuntimeError("no damage needing the LP found")


def bench_one(case: str, repeats: int, seed: int) -> dict:
    import gridshield as gs
    from gridshield.impact import ImpactModel

    grid = _rated(gs.load_case(case))
    dmg = pick_damage(grid, seed)
    ppc = _damaged_ppc(grid, dmg)
    t_gs, r = _median(lambda: ImpactModel(grid, commitment="relaxed").assess(dmg), repeats)
    row = {"case": case, "damage": ",".join(dmg.ids), "gs_s": t_gs, "gs_served": r.served_mw, "gs_method": r.method}
    try:
        imp = _pypsa_import_s()
        t_py, served_py = _median(lambda: _pypsa_mld(ppc), max(1, repeats - 1))
        row.update(pypsa_s=t_py + imp, pypsa_import_s=imp, pypsa_served=served_py)
    except ImportError:
        row.update(pypsa_s=float("nan"), pypsa_served=float("nan"))
    try:
        t_pp, served_pp = _median(lambda: _pandapower_mld(ppc), repeats)
        row.update(pp_s=t_pp, pp_served=served_pp)
    except ImportError:
        row.update(pp_s=float("nan"), pp_served=float("nan"))
    return row


def bench_batch(case: str, n: int, seed: int) -> dict:
    import gridshield as gs
    from gridshield.impact import Damage, ImpactModel

    grid = gs.load_case(case)
    rng = np.random.default_rng(seed)
    ids = grid.branches.id.tolist() + grid.gens.id.tolist() + grid.buses.id.tolist()
    dmgs = [Damage.from_ids(grid, list(rng.choice(ids, 3, replace=False))) for _ in range(n)]
    t0w, t0c = time.perf_counter(), time.process_time()
    model = ImpactModel(grid)
    methods: collections.Counter = collections.Counter()
    try:
        from rich.progress import track

        it = track(dmgs, description=f"{n} damages on {case}", transient=True)
    except ImportError:  # pragma: no cover
        it = dmgs
    lost = []
    for d in it:
        r = model.assess(d)
        methods[r.method.replace("-ptdf", "").split(" ")[0]] += 1
        lost.append(r.lost_mw)
    wall, cpu = time.perf_counter() - t0w, time.process_time() - t0c
    return {"case": case, "n": n, "wall_s": wall, "cpu_s": cpu, "per_s_wall": n / wall, "per_s_cpu": n / cpu,
            "methods": dict(methods), "mean_lost_mw": float(np.mean(lost))}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="case2869pegase")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-peers", action="store_true")
    a = ap.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if not a.skip_peers:
        row = bench_one(a.case, a.repeats, a.seed)
        t = Table(title=f"One MLD after damage {row['damage']} on {a.case} (median of {a.repeats})", title_justify="left")
        for c in ("tool", "time", "served MW", "gridshield faster by"):
            t.add_column(c, justify="left" if c == "tool" else "right")
        t.add_row(f"gridshield ({row['gs_method']})", f"{1e3 * row['gs_s']:.1f} ms", f"{row['gs_served']:,.3f}", "1.0x")
        t.add_row(
            f"PyPSA (import {row.get('pypsa_import_s', float('nan')):.2f} s + build + solve)",
            f"{1e3 * row['pypsa_s']:.1f} ms", f"{row['pypsa_served']:,.3f}", f"{row['pypsa_s'] / row['gs_s']:.1f}x (target >= 20x)",
        )
        t.add_row("pandapower rundcopp", f"{1e3 * row['pp_s']:.1f} ms", f"{row['pp_served']:,.3f}", f"{row['pp_s'] / row['gs_s']:.1f}x (target >= 3x)")
        con.print(t)
    if a.batch > 0:
        b = bench_batch(a.case, a.batch, a.seed)
        t = Table(title=f"Batch: {b['n']} random 3-asset damages on {b['case']}, one core", title_justify="left")
        for c in ("wall s", "CPU s", "scenarios/s (wall)", "scenarios/s (CPU, target >= 25)", "mean lost MW"):
            t.add_column(c, justify="right")
        t.add_row(f"{b['wall_s']:.1f}", f"{b['cpu_s']:.1f}", f"{b['per_s_wall']:.1f}", f"{b['per_s_cpu']:.1f}", f"{b['mean_lost_mw']:.1f}")
        con.print(t)
        con.print("paths: " + ", ".join(f"{k} {v}" for k, v in sorted(b["methods"].items(), key=lambda kv: -kv[1])))
        con.print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
