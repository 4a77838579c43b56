"""AC maximal load delivery after damage: gridshield (``model="ac"``, Ipopt) vs pandapower's AC OPF with
load shedding, side by side in one run.

For each case, the damage is the first random 3-asset damage (from ``--seed``) of branches that are
not bridges and generators, such that the grid stays one island (pandapower drops islands without
an external grid). The same AC load-shedding problem is given to both tools: maximise served load
(weight 10 per MW) subject to the AC power flow, bus voltage limits, generator P and Q limits and
rate-A limits (rate 0 = 99999 MVA), every live generator on within [Pmin, Pmax]
(``commitment="fixed"``: pandapower cannot switch units off).

* **gridshield**: ``ImpactModel(grid, model="ac", commitment="fixed").assess(damage)`` -- model build,
  islands, the DC MLD and an AC power flow for the warm start, the AC MLD (Ipopt with analytic
  derivatives through casadi), metrics. Also timed: ``assess`` on a model built once ("reuse").
* **pandapower**: ``from_ppc`` of the damaged case, loads ``controllable`` with P in [0, Pd] at cost
  -10 per MW and Q held at Qd (pandapower cannot keep a load's power factor while shedding: its Q
  is a separate variable), generator costs 0, ``runopp`` (PIPS interior point; pandapower limits
  branch current, from rate A at 1 p.u.). Import of pandapower not counted; the net is built
  inside the timed call.

Served MW of both are printed: the problems are close but not identical (power factor, current vs
MVA limits, angle limits), so the served loads differ slightly where limits bind.

``--damage ID,ID,...`` times that damage instead (e.g. the hard case2869pegase damage
``branch:2156,branch:4424,branch:1391``). ``--random N`` times gridshield alone on N random 3-asset
damages of branches and generators (islands allowed), each on a model built once, and prints the
median and largest CPU time and Ipopt iteration count.

Run: ``.venv/bin/python -m benchmarks.bench_mld_ac [--cases case118 case2869pegase] [--repeats 3] [--seed 1]
[--damage IDS] [--random N] [--skip-peers]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np

from benchmarks.bench_impact import BIG_RATE, WEIGHT, _damaged_ppc, _median, _rated


def _pandapower_ac_mld(ppc) -> tuple[float, bool]:
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
    net.poly_cost["cp1_eur_per_mw"] = 0.0
    net.poly_cost["cp2_eur_per_mw2"] = 0.0
    for i in np.flatnonzero(pos.values):
        pp.create_poly_cost(net, int(ld.index[i]), "load", cp1_eur_per_mw=-WEIGHT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runopp(net, verbose=False)
    except Exception:  # pandapower raises OPFNotConverged
        return float("nan"), False
    return float(net.res_load.p_mw[pos].sum()), True


def pick_damage(grid, seed: int):
    """First random 3-asset damage (non-bridge branches, generators) that leaves one island."""
    from gridshield.impact import Damage, ImpactModel
    from gridshield.topology import bridges

    rng = np.random.default_rng(seed)
    ok_br = grid.branches.id[~bridges(grid) & grid.branches.in_service].tolist()
    ids = ok_br + grid.gens.id[grid.gens.in_service].tolist()
    m = ImpactModel(grid)
    for _ in range(500):
        d = Damage.from_ids(grid, list(rng.choice(ids, 3, replace=False)))
        if m.assess(d).n_islands == 1:
            return d
    raise RuntimeError("no single-island damage found")


def bench_one(case: str, repeats: int, seed: int, damage: str | None = None, peers: bool = True) -> dict:
    import gridshield as gs
    from gridshield.impact import Damage, ImpactModel

    grid = _rated(gs.load_case(case))
    dmg = Damage.from_ids(grid, damage.split(",")) if damage else pick_damage(grid, seed)
    ppc = _damaged_ppc(grid, dmg)
    c0 = time.process_time()
    t_gs, r = _median(lambda: ImpactModel(grid, model="ac", commitment="fixed").assess(dmg), repeats)
    cpu_gs = (time.process_time() - c0) / (repeats + 1)
    m = ImpactModel(grid, model="ac", commitment="fixed")
    t_reuse, _ = _median(lambda: m.assess(dmg), repeats)
    dc = ImpactModel(grid, commitment="fixed").assess(dmg)
    its = sum(v.iterations for v in m.last_ac.islands.values())
    row = {"case": case, "damage": ",".join(dmg.ids), "gs_s": t_gs, "gs_cpu_s": cpu_gs, "gs_reuse_s": t_reuse,
           "gs_served": r.served_mw, "dc_served": dc.served_mw, "ipopt_iterations": its, "model": r.model_label}
    if not peers:
        row.update(pp_s=float("nan"), pp_served=float("nan"), pp_converged=False)
        return row
    try:
        c0 = time.process_time()
        t_pp, (served_pp, ok) = _median(lambda: _pandapower_ac_mld(ppc), repeats)
        row.update(pp_s=t_pp, pp_cpu_s=(time.process_time() - c0) / (repeats + 1), pp_served=served_pp, pp_converged=ok)
    except ImportError:
        row.update(pp_s=float("nan"), pp_served=float("nan"), pp_converged=False)
    return row


def bench_random(case: str, n: int, seed: int) -> dict:
    """gridshield alone on ``n`` random 3-asset damages (branches, generators; islands allowed)."""
    import gridshield as gs
    from gridshield.impact import Damage, ImpactModel

    grid = _rated(gs.load_case(case))
    rng = np.random.default_rng(seed)
    ids = grid.branches.id.tolist() + grid.gens.id.tolist()
    m = ImpactModel(grid, model="ac", commitment="fixed")
    m.assess(Damage.from_ids(grid, list(rng.choice(ids, 3, replace=False))))  # warm-up
    cpu, its, worst = [], [], ("", 0.0, 0)
    for _ in range(n):
        d = Damage.from_ids(grid, list(rng.choice(ids, 3, replace=False)))
        c0 = time.process_time()
        m.assess(d)
        c = time.process_time() - c0
        it = sum(v.iterations for v in m.last_ac.islands.values())
        cpu.append(c)
        its.append(it)
        if c > worst[1]:
            worst = (",".join(d.ids), c, it)
    return {"case": case, "n": n, "cpu_median_s": statistics.median(cpu), "cpu_max_s": max(cpu),
            "iterations_median": statistics.median(its), "iterations_max": max(its), "worst": worst}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=["case118", "case2869pegase"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--damage", help="comma-separated asset ids to time instead of the seed's first damage")
    ap.add_argument("--random", type=int, default=0, help="time gridshield alone on N random 3-asset damages")
    ap.add_argument("--skip-peers", action="store_true", help="do not run pandapower")
    a = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()}  (BIG_RATE {BIG_RATE:g} MVA for unlimited branches)")
    if a.random:
        for case in a.cases:
            r = bench_random(case, a.random, a.seed)
            print(f"{case}: {r['n']} random 3-asset damages, CPU per damage median {r['cpu_median_s']:.3f} s, "
                  f"max {r['cpu_max_s']:.3f} s; Ipopt iterations median {r['iterations_median']:g}, max "
                  f"{r['iterations_max']} (slowest: {r['worst'][0]}, {r['worst'][1]:.3f} s, {r['worst'][2]} iterations)"
                  f"   load average: {os.getloadavg()}")
        return 0
    for case in a.cases:
        row = bench_one(case, a.repeats, a.seed, a.damage, not a.skip_peers)
        ratio = row["pp_s"] / row["gs_s"] if row["gs_s"] > 0 else float("nan")
        print(f"{case}: damage {row['damage']}")
        print(f"  gridshield AC MLD   {row['gs_s']:8.3f} s (CPU {row['gs_cpu_s']:.3f} s; model reused "
              f"{row['gs_reuse_s']:.3f} s; {row['ipopt_iterations']} Ipopt iterations)  served {row['gs_served']:,.1f} MW"
              f"  [DC MLD serves {row['dc_served']:,.1f} MW]  model {row['model']}")
        print(f"  pandapower runopp   {row['pp_s']:8.3f} s (CPU {row.get('pp_cpu_s', float('nan')):.3f} s)  served "
              f"{row['pp_served']:,.1f} MW  converged {row['pp_converged']}")
        print(f"  ratio pandapower / gridshield: {ratio:.1f}x   load average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
