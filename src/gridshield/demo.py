"""``gridshield demo``: the whole story on the fictional synthetic city.

A winter night at -10 °C. A wave of 35 drones, 30 of them shot down (the 19 December 2022
pattern, DOMAIN.md section 3: drones ">85 % downed"; 30 of 35 gives the Beta(31, 6) posterior of
the interception rate). The demo:

1. builds the synthetic city and scales its loads for -10 °C (heating-degree model);
2. draws strikes from the threat scenario and shows one in detail: what was hit, the districts
   that went dark, critical loads lost, heat districts off and the hours until homes fall below
   12 °C;
3. runs the Monte Carlo risk over many samples (when :mod:`gridshield.threat` is installed);
4. plans the restoration with repair crews and draws its resilience curve (when
   :mod:`gridshield.restore` is installed);
5. schedules rotating outages for the deficit that remains while the national grid is short
   (when :mod:`gridshield.outages` provides ``rotating_schedule``);
6. writes everything to a folder (JSON, Parquet, the city as ``.m``, and an HTML report when
   :mod:`gridshield.report` is installed).

Each optional part runs when its module imports, so the demo always runs; a part that is missing
or fails is reported as skipped (with the reason) in the printed summary and in ``summary.json``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.text import Text

from gridshield.cli import app, console

#: Power the national grid can deliver to the city after the wave (MW). An assumption for the
#: story: the national system is short too (peak deficit about 4.5 GW in Jan 2023; on 2 Dec 2022
#: only 40-50 % of household demand was covered; DOMAIN.md section 2).
IMPORT_AVAILABLE_MW = 1000.0
#: Monte Carlo samples (of the risk run's) used to rank the sites to protect first.
RANK_SAMPLES = 400

#: Local time of the story's strike: a night wave, like 19 December 2022 (DOMAIN.md section 3).
#: The outage schedule starts at the next local midnight after it (the default of every schedule).
STRIKE_TIME = "2022-12-19 02:00"

#: The demo's threat scenario when ``examples/dec-19-drones.yaml`` is not there or names another
#: grid: 35 Shahed-class drones, 30 of 35 shot down, aimed at substations, plants and transformers
#: (the same content as ``examples/dec-19-drones.yaml``).
BUILTIN_SCENARIO: dict[str, Any] = {
    "name": "dec-19-drones (synthetic city)",
    "description": "19 December 2022 pattern: 35 drones, 30 shot down, at the city's substations and plants",
    "grid": {"case": "synthetic-city", "report_by": "bus"},
    "impact": {"cascade": False},
    "waves": [
        {
            "name": "night drone wave",
            "weapon": "drone",
            "launched": 35,
            "interception": {"observed": {"shot_down": 30, "launched": 35}},
            "targets": [{"class": "substation", "weight": 3.0}, {"class": "plant", "weight": 2.0},
                        {"class": "transformer", "weight": 1.0}],
            "destroy": {"substation": 0.35, "plant": 0.25, "transformer": 0.5},
            "protected": [{"id": "site:S330-North"}, {"id": "site:S330-East"}],
        }
    ],
}


def _example_scenario() -> Path | None:
    """``examples/dec-19-drones.yaml`` of the source tree, if present."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = base / "examples" / "dec-19-drones.yaml"
        if p.is_file():
            return p
    return None


def _scenario_for(city_path: Path) -> tuple[Any, str]:
    """The threat scenario (validated) pointing at the demo's city file, and where it came from."""
    import yaml

    from gridshield.threat.scenario import scenario_from_dict

    src = "built-in (gridshield.demo.BUILTIN_SCENARIO)"
    data = json.loads(json.dumps(BUILTIN_SCENARIO))
    ex = _example_scenario()
    if ex is not None:
        try:
            raw = yaml.safe_load(ex.read_text())
        except Exception:  # noqa: BLE001 - a broken example must not stop the demo
            raw = None
        case = ((raw or {}).get("grid") or {}) if isinstance(raw, dict) else {}
        case = case.get("case") if isinstance(case, dict) else case
        if isinstance(raw, dict) and case == "synthetic-city":
            data, src = raw, str(ex)
    grid_spec = data.get("grid")
    if isinstance(grid_spec, str) or grid_spec is None:
        grid_spec = {}
    data["grid"] = {**grid_spec, "case": str(city_path)}
    return scenario_from_dict(data, source=src), src


def _fallback_draw(grid, seed: int, index: int) -> tuple[str, ...]:
    """Without the threat module: 35 drones, rate ~ Beta(31, 6), hits on sites, P(destroy) 0.35/0.25."""
    rng = np.random.default_rng([seed, index])
    sites = sorted(grid.sites)
    gen_sites = {grid.buses.substation[b] for b in grid.gens.bus.tolist()}
    w = np.array([2.0 if s in gen_sites else 3.0 for s in sites])
    w = w / np.array([sum(1 for t in sites if (t in gen_sites) == (s in gen_sites)) for s in sites])
    w /= w.sum()
    rate = rng.beta(31, 6)
    hits = 35 - int(rng.binomial(35, rate))
    out = set()
    for t in rng.choice(len(sites), size=hits, p=w).tolist():
        if rng.random() < (0.25 if sites[t] in gen_sites else 0.35):
            out.add(f"site:{sites[t]}")
    return tuple(sorted(out))


class _Parts:
    """Book-keeping of the optional parts: what ran, what was skipped and why, timings."""

    def __init__(self) -> None:
        self.ran: dict[str, float] = {}
        self.skipped: dict[str, str] = {}

    def run(self, name: str, fn, *args, **kw):
        t0 = time.perf_counter()
        try:
            out = fn(*args, **kw)
        except ImportError as exc:
            self.skipped[name] = f"module not available ({exc})"
            console.print(f"skipped {name}: module not available ({exc})", style="yellow")
            return None
        except Exception as exc:  # noqa: BLE001 - an optional part must not stop the demo
            self.skipped[name] = f"{type(exc).__name__}: {exc}"
            console.print(f"skipped {name}: {type(exc).__name__}: {exc}", style="red")
            return None
        self.ran[name] = time.perf_counter() - t0
        return out


def _write_json(path: Path, data: Any) -> None:
    from gridshield.cli import _json_default
    from gridshield.io import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n")


def _write_parquet(path: Path, frame) -> None:
    from gridshield.io import atomic_write

    atomic_write(path, lambda p: frame.to_parquet(p))


def _clean(v: Any) -> Any:
    """JSON-safe: inf/NaN -> None."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


# ------------------------------------------------------------------------------------------------
# the parts
# ------------------------------------------------------------------------------------------------
def _pick_strike(grid, model, draw, seed: int, scan: int) -> tuple[int, tuple[str, ...], Any]:
    """The first sample (of ``scan``) whose strike darkens a district and cuts heat; else the worst."""
    from gridshield.heat import HeatNetwork, heat_off

    net = HeatNetwork.from_grid(grid)
    best = None
    for i in range(scan):
        dmg = draw(i)
        if not dmg:
            continue
        res = model.assess(list(dmg))
        off = heat_off(grid, list(dmg), bus_energised=res.bus_energised, load_served_mw=res.load_served_mw,
                       network=net)
        if res.lost_mw > 1.0 and off.any() and len(dmg) >= 2:
            return i, dmg, res
        if best is None or res.lost_mw > best[2].lost_mw:
            best = (i, dmg, res)
    if best is None:
        raise RuntimeError(f"no sample of the first {scan} destroyed anything")
    return best


def _district_table(grid, impact) -> list[dict[str, Any]]:
    """Per district (10 kV bus): demand, served, dark or not, customers."""
    ld = grid.loads
    rows = []
    for b in np.flatnonzero(grid.buses.base_kv == 10.0).tolist():
        on = ld.bus == b
        dem = float(ld.p_mw[on].sum())
        srv = float(np.asarray(impact.load_served_mw)[on].sum())
        rows.append({
            "district": str(grid.buses.name[b]).removesuffix(" 10 kV"),
            "substation": str(grid.buses.substation[b]),
            "demand_mw": dem,
            "served_mw": srv,
            "dark": not bool(impact.bus_energised[b]),
            "customers": int(ld.customers[on].sum()),
        })
    return rows


def wave_numbers(scenario, draw) -> list[dict[str, Any]]:
    """Per wave of the scenario: launched and shot down as reported, the interception rate it
    implies (mean and 95 % equal-tailed interval of the Beta posterior under the scenario's prior,
    uniform by default), and what sample ``draw`` drew (rate, intercepted, got through)."""
    from scipy.stats import beta as beta_dist

    out = []
    for j, w in enumerate(scenario.waves):
        rec: dict[str, Any] = {"wave": w.name or w.weapon, "weapon": w.weapon, "launched": int(draw.launched[j]),
                               "sample_rate": float(draw.rate[j]), "intercepted": int(draw.intercepted[j]),
                               "got_through": int(draw.hits[j])}
        inter = w.interception
        if inter is not None and inter.observed is not None:
            rec["reported"] = {"shot_down": inter.observed.shot_down, "launched": inter.observed.launched}
        kind, par = inter.distribution() if inter is not None else ("fixed", (0.0,))
        if kind == "beta":
            a, b = par
            rec.update(posterior=f"Beta({a:g}, {b:g})", rate_mean=a / (a + b),
                       rate_ci95=[float(beta_dist.ppf(0.025, a, b)), float(beta_dist.ppf(0.975, a, b))])
        else:
            rec.update(rate_mean=float(par[0]))
        out.append(rec)
    return out


def _print_waves(waves: list[dict[str, Any]], index: int, seed: int) -> None:
    from gridshield.cli import kv_table

    for w in waves:
        rows: dict[str, Any] = {"launched": f"{w['launched']}"}
        if "reported" in w:
            rows["shot down (as reported)"] = f"{w['reported']['shot_down']} of {w['reported']['launched']}"
        if "rate_ci95" in w:
            lo, hi = w["rate_ci95"]
            rows["interception rate (posterior)"] = (f"{100 * w['rate_mean']:.1f} % (95 % interval {100 * lo:.1f} - "
                                                     f"{100 * hi:.1f} %, {w['posterior']})")
        else:
            rows["interception rate"] = f"{100 * w['rate_mean']:.1f} %"
        rows[f"sample {index}: rate drawn"] = f"{100 * w['sample_rate']:.1f} %"
        rows[f"sample {index}: shot down / got through"] = f"{w['intercepted']} / {w['got_through']}"
        console.print(kv_table(f"The wave in numbers: {w['wave']} (seed {seed})", rows))


def _strike_part(grid, out: Path, seed: int, scenario, temperature_c: float, hours: int) -> dict[str, Any]:
    from rich.table import Table

    from gridshield.heat import assess_heat
    from gridshield.impact import ImpactModel

    model = ImpactModel(grid)
    if scenario is not None:
        from gridshield.threat.sampling import compile_threat

        ct = compile_threat(scenario, grid)

        def draw(i: int) -> tuple[str, ...]:
            return ct.draw(seed, i).damage
    else:

        def draw(i: int) -> tuple[str, ...]:
            return _fallback_draw(grid, seed, i)

    index, dmg, impact = _pick_strike(grid, model, draw, seed, scan=300)
    waves = wave_numbers(scenario, ct.draw(seed, index)) if scenario is not None else []
    if waves:
        _print_waves(waves, index, seed)
    heat = assess_heat(grid, impact, damage=list(dmg), temperature_c=temperature_c, hours=hours)
    names = {f"site:{s}": s for s in grid.sites}
    districts = _district_table(grid, impact)
    dark = [d for d in districts if d["dark"]]
    crit = [str(grid.loads.name[grid.loads.index[c]]) for c in impact.critical_lost]

    console.rule(Text(f"One sampled strike (sample {index}, seed {seed})", style="bold"))
    t = Table(show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    if waves:
        t.add_row("got through", f"{sum(w['got_through'] for w in waves)} of {sum(w['launched'] for w in waves)} "
                                 f"launched")
    t.add_row("hit (destroyed)", ", ".join(names.get(d, d) for d in dmg))
    t.add_row("load lost", f"{impact.lost_mw:,.0f} MW of {impact.demand_mw:,.0f} MW "
                           f"({100 * impact.lost_mw / impact.demand_mw:.1f} %)")
    t.add_row("customers affected", f"{impact.customers_affected:,}")
    t.add_row("districts dark", ", ".join(d["district"] for d in dark) or "none")
    t.add_row("critical loads lost", ", ".join(crit) or "none")
    off_names = [n.removesuffix(" heat district") for n, o in zip(heat.district_name, heat.district_off, strict=True)
                 if o]
    t.add_row("heat districts off", f"{int(heat.district_off.sum())} of {len(heat.district_id)}: "
                                    + (", ".join(off_names) or "none"))
    t.add_row("people without heat", f"{heat.people_without_heat:,}")
    first = heat.first_hours_to_12c_h
    t.add_row("first homes below 12 °C", f"after {first:.1f} h" if math.isfinite(first) else f"not within {hours} h")
    t.add_row(f"people below 12 °C after {hours} h", f"{int(heat.people_below_12c_t[-1]):,}")
    console.print(t)
    if heat.district_off.any():
        ht = Table(title=f"Heat districts off at {temperature_c:g} °C", title_justify="left")
        for c in ("district", "people", "why", "< 12 °C (h)", "< 5 °C, drain risk (h)"):
            ht.add_column(c, justify="left" if c in ("district", "why") else "right")
        for k in sorted(np.flatnonzero(heat.district_off).tolist(), key=lambda k: heat.hours_to_12c_h[k]):
            h12, h5 = float(heat.hours_to_12c_h[k]), float(heat.hours_to_5c_h[k])
            ht.add_row(heat.district_name[k].removesuffix(" heat district"), f"{int(heat.people[k]):,}",
                       heat.reason[k], f"{h12:.1f}" if math.isfinite(h12) else f"> {hours}",
                       f"{h5:.1f}" if math.isfinite(h5) else f"> {hours}")
        console.print(ht)

    _write_json(out / "strike.json", _clean({"sample": index, "seed": seed, "waves": waves, "damage": list(dmg),
                                             "districts": districts, "critical_lost": crit,
                                             "impact": impact.to_dict()}))
    _write_json(out / "heat.json", heat.to_dict())
    _write_parquet(out / "heat_districts.parquet", heat.to_frame())
    return {"index": index, "damage": dmg, "impact": impact, "heat": heat, "districts": districts, "waves": waves,
            "critical_lost": crit, "model": model}


def _exposed(d: dict[str, Any], top: int = 4) -> dict[str, str]:
    """The areas most often dark (P(dark) per district bus, or per group)."""
    p = d.get("group_dark_probability") or {}
    items = sorted(((k, v) for k, v in p.items() if v > 0), key=lambda kv: -kv[1])[:top]
    if not items:
        return {}
    return {"most often dark (P)": ", ".join(f"{k.removesuffix('-10')} {100 * v:.0f} %" for k, v in items)}


def _risk_part(scenario, out: Path, samples: int, seed: int, workers: int) -> Any:
    from gridshield.threat import run_risk

    if scenario is None:
        raise ImportError("gridshield.threat")
    from gridshield.threat.commands import risk_progress_bar

    with risk_progress_bar("risk") as cb:
        res = run_risk(scenario, samples=samples, seed=seed, workers=workers, progress=cb)
    d = res.to_dict()
    lost = d["lost_mw"]
    console.rule(Text(f"Risk over {res.samples:,} sampled waves", style="bold"))
    from gridshield.cli import kv_table

    ci = lost.get("ci95", [float("nan"), float("nan")])
    console.print(kv_table("Load lost per wave (MW)", {
        "mean (95 % CI)": f"{lost['mean']:,.0f} ({ci[0]:,.0f} - {ci[1]:,.0f})",
        "P50 / P90 / P99": f"{lost.get('p50', float('nan')):,.0f} / {lost.get('p90', float('nan')):,.0f} / "
                           f"{lost.get('p99', float('nan')):,.0f}",
        "CVaR95": f"{lost.get('cvar95', float('nan')):,.0f}",
        "P(any load lost)": f"{100 * d['p_any_loss']:.1f} %",
        "drones through / assets destroyed (mean)": f"{d['hits_mean']:.1f} / {d['destroyed_mean']:.2f}",
        "customers affected (mean)": f"{d['customers_affected']['mean']:,.0f}",
        **_exposed(d),
    }))
    _write_json(out / "risk.json", _clean(d))
    _write_parquet(out / "risk_samples.parquet", res.to_frame())
    return res


def _risk_heat_part(grid, risk, strike: dict[str, Any], out: Path) -> dict[str, Any]:
    """People without heat per sampled wave: each distinct damage of the risk run assessed once
    (impact engine, then the heat network)."""
    import pandas as pd

    from gridshield.cli import kv_table
    from gridshield.heat import HeatNetwork, heat_off

    net = HeatNetwork.from_grid(grid)
    model = strike["model"]
    frame = risk.to_frame()
    people = net.people
    cache: dict[str, tuple[float, int]] = {}
    ppl = np.zeros(len(frame))
    n_off = np.zeros(len(frame), dtype=np.int64)
    for i, dmg in enumerate(frame["damage"].tolist()):
        if dmg not in cache:
            ids = [x for x in str(dmg).split(";") if x]
            if ids:
                res = model.assess(ids)
                off = heat_off(grid, ids, bus_energised=res.bus_energised, load_served_mw=res.load_served_mw,
                               network=net)
                cache[dmg] = (float(people[off].sum()), int(off.sum()))
            else:
                cache[dmg] = (0.0, 0)
        ppl[i], n_off[i] = cache[dmg]
    out_frame = pd.DataFrame({"people_without_heat": ppl, "heat_districts_off": n_off}, index=frame.index)
    _write_parquet(out / "risk_heat.parquet", out_frame)
    summary = {
        "samples": int(len(ppl)),
        "distinct strikes assessed": len(cache),
        "P(some homes lose heat)": float(np.mean(ppl > 0)),
        "people without heat, mean": float(ppl.mean()) if ppl.size else 0.0,
        "people without heat, P90": float(np.quantile(ppl, 0.9)) if ppl.size else 0.0,
        "people without heat, max": float(ppl.max()) if ppl.size else 0.0,
    }
    console.print(kv_table("Heat per sampled wave", {
        "P(some homes lose heat)": f"{100 * summary['P(some homes lose heat)']:.1f} %",
        "people without heat: mean / P90 / max": f"{summary['people without heat, mean']:,.0f} / "
        f"{summary['people without heat, P90']:,.0f} / {summary['people without heat, max']:,.0f}",
        "distinct strikes assessed": summary["distinct strikes assessed"],
    }))
    _write_json(out / "risk_heat.json", summary)
    return summary


def _restore_part(grid, strike: dict[str, Any], out: Path, crews: int, temperature_c: float,
                  time_limit_s: float) -> Any:
    from rich.table import Table

    from gridshield.cli import kv_table
    from gridshield.restore import plan_restoration

    plan = plan_restoration(grid, list(strike["damage"]), crews=crews, temperature_c=temperature_c,
                            time_limit_s=time_limit_s, model=strike["model"])
    console.rule(Text(f"Restoration with {crews} crews", style="bold"))
    summ = {k: (v if not (isinstance(v, float) and not math.isfinite(v)) else "never")
            for k, v in plan.summary().items()}
    console.print(kv_table("Restoration plan", summ))
    sch = Table(title="Repair schedule", title_justify="left")
    for c in ("crew", "task", "asset class", "start (h)", "end (h)"):
        sch.add_column(c, justify="left" if c in ("task", "asset class") else "right")
    for k in range(len(plan.task_id)):
        sch.add_row(str(int(plan.crew[k])), plan.task_id[k], plan.asset_class[k], f"{plan.start_h[k]:.1f}",
                    f"{plan.end_h[k]:.1f}")
    console.print(sch)
    t = Table(title="Resilience curve", title_justify="left")
    for c in ("hours", "served % of demand", "customers off") + (("heat supplied %",) if
                                                                 plan.heat_supplied_pct is not None else ()):
        t.add_column(c, justify="right")
    for k in range(len(plan.time_h)):
        row = [f"{plan.time_h[k]:.1f}", f"{plan.served_pct[k]:.1f}", f"{int(plan.customers_off[k]):,}"]
        if plan.heat_supplied_pct is not None:
            row.append(f"{plan.heat_supplied_pct[k]:.1f}")
        t.add_row(*row)
    console.print(t)
    if plan.comparison:
        ct = Table(title="Repair order: method comparison", title_justify="left")
        for c in ("method", "weighted ENS (MWh)", "ENS (MWh)", "makespan (h)", "runtime (s)"):
            ct.add_column(c, justify="right")
        for name, v in plan.comparison.items():
            ct.add_row(name, f"{v['weighted_ens_mwh']:,.0f}", f"{v['ens_mwh']:,.0f}", f"{v['makespan_h']:.1f}",
                       f"{v['runtime_s']:.2f}")
        console.print(ct)
    _write_json(out / "restoration.json", _clean(plan.to_dict()))
    _write_parquet(out / "restoration_schedule.parquet", plan.to_frame())
    _write_parquet(out / "resilience_curve.parquet", plan.curve_frame())
    return plan


def _outage_inputs(grid, strike: dict[str, Any], import_mw: float, hours: int):
    """Customer groups (the queues, from what is still supplied) and the hourly deficit."""
    import pandas as pd

    from gridshield.outages.grid import WINTER_DAILY_SHAPE, queue_id
    from gridshield.outages.model import next_local_midnight

    impact = strike["impact"]
    ld = grid.loads
    served = np.asarray(impact.load_served_mw, float)
    groups = []
    for g in sorted(set(ld.group.tolist())):
        on = ld.group == g
        groups.append({
            "id": queue_id(g),
            "name": {"EXEMPT": "critical infrastructure (exempt)", "GPO": "industry (power-limit schedule)"}.get(
                g, f"queue {queue_id(g)}"),
            "load_mw": float(served[on].sum()),
            "customers": int(ld.customers[on & (served > 0)].sum()),
            "switchable": g != "EXEMPT",
            "critical": g == "EXEMPT",
        })
    dmg = set(strike["damage"])
    from gridshield.impact import Damage

    gen_out = Damage.from_ids(grid, list(dmg)).gen_out
    gens = grid.gens
    local = float(gens.p_max_mw[(gens.fuel != "import") & ~gen_out & gens.in_service].sum())
    capacity = local + import_mw
    start = next_local_midnight(now=pd.Timestamp(STRIKE_TIME))
    times = pd.date_range(start, periods=hours, freq="h")
    demand = np.array([served.sum() * WINTER_DAILY_SHAPE[t.hour] for t in times])
    deficit = np.maximum(0.0, demand - capacity)
    frame = pd.DataFrame({"time": times, "deficit_mw": np.round(deficit, 1)})
    return groups, frame, {"local_capacity_mw": local, "import_available_mw": import_mw, "capacity_mw": capacity,
                           "peak_demand_mw": float(demand.max()), "peak_deficit_mw": float(deficit.max()),
                           "deficit_mwh": float(deficit.sum())}


def _outages_part(grid, strike: dict[str, Any], out: Path, import_mw: float, hours: int) -> Any:
    import gridshield as gs
    from gridshield.cli import kv_table

    rotating_schedule = gs.rotating_schedule  # AttributeError/ImportError when the outages issue is not in
    groups, deficit, info = _outage_inputs(grid, strike, import_mw, hours)
    console.rule(Text("Rotating outages for the remaining deficit", style="bold"))
    console.print(kv_table(f"Supply after the strike (national grid delivers {import_mw:,.0f} MW)", {
        "local generation left (MW)": f"{info['local_capacity_mw']:,.0f}",
        "import available (MW)": f"{info['import_available_mw']:,.0f}",
        "capacity (MW)": f"{info['capacity_mw']:,.0f}",
        "peak demand still connected (MW)": f"{info['peak_demand_mw']:,.0f}",
        "peak deficit (MW)": f"{info['peak_deficit_mw']:,.0f}",
        f"energy short over {hours} h (MWh)": f"{info['deficit_mwh']:,.0f}",
    }))
    _write_json(out / "outage_inputs.json", {"groups": groups, "deficit": {
        "time": [t.isoformat() for t in deficit["time"]], "deficit_mw": deficit["deficit_mw"].tolist()}, **info})
    if info["peak_deficit_mw"] <= 0:
        console.print("no deficit: supply covers the remaining demand, no rotating outages needed")
        return None
    sched = rotating_schedule(groups, deficit, block_hours=4, split=2, possible_frac=0.1, time_limit_s=10.0)
    rep = sched.report() if hasattr(sched, "report") else {}
    if rep:
        console.print(kv_table(f"Rotating outage schedule from {sched.times[0]:%a %d %b %Y %H:%M} "
                               "(12 sub-queues, 4-h blocks, possible outages for a 10 % larger deficit)", {
            "method (status)": f"{rep['method']} ({rep['status']})",
            "most hours off for any group": f"{rep['fairness_h']:g} h",
            "deficit covered every hour": "yes" if rep["covered"] else "NO",
            "customer-hours off": f"{rep['customer_hours_off']:,.0f}", "switching operations": rep["switchings"]}))
    summ = sched.summary() if hasattr(sched, "summary") else None
    if summ is not None and hasattr(summ, "iterrows"):
        from rich.table import Table

        t = Table(title=f"Hours off per group over {hours} h", title_justify="left")
        heads = {"group": "group", "customers": "customers", "hours_off": "hours off", "hours_possible":
                 "possible (h)", "outages": "outages", "longest_off_h": "longest (h)"}
        cols = [c for c in heads if c in summ]
        for c in cols:
            t.add_column(heads[c], justify="left" if c == "group" else "right")
        for _, r in summ.iterrows():
            if r["exempt"]:
                t.add_row(str(r["group"]), f"{r['customers']:,}", "exempt", "", "", "")
                continue
            t.add_row(*[f"{r[c]:,.0f}" if isinstance(r[c], (int, float, np.number)) and not isinstance(r[c], bool)
                        else str(r[c]) for c in cols])
        console.print(t)
    _write_json(out / "outage_schedule.json", _clean(sched.to_dict()))
    try:
        from gridshield.io import atomic_write

        frame = sched.hourly_frame() if hasattr(sched, "hourly_frame") else sched.to_frame()
        atomic_write(out / "outage_schedule.csv", lambda p: frame.to_csv(p, index=False))
    except Exception:  # noqa: BLE001 - the JSON is the primary output
        pass
    return sched


def _story_lines(strike: dict[str, Any], temperature_c: float) -> list[str]:
    """The seed's story in numbers, for the report's summary."""
    lines = ["The synthetic city is fictional, generated by gridshield (docs/synthetic-city.md)."]
    for w in strike.get("waves", []):
        rep = w.get("reported")
        said = f"{w['launched']} {w['weapon']}s launched" + (f", {rep['shot_down']} shot down (as reported)"
                                                            if rep else "")
        rate = (f"; interception rate {100 * w['rate_mean']:.1f} % (95 % interval {100 * w['rate_ci95'][0]:.1f}-"
                f"{100 * w['rate_ci95'][1]:.1f} %, {w['posterior']})" if "rate_ci95" in w else "")
        lines.append(f"{said}{rate}. In the sampled strike (sample {strike['index']}) the rate drawn was "
                     f"{100 * w['sample_rate']:.0f} %: {w['intercepted']} shot down, {w['got_through']} got through.")
    names = ", ".join(d.removeprefix("site:") for d in strike["damage"])
    lines.append(f"They destroyed {names}; at {temperature_c:g} °C outdoors.")
    return lines


def _report_part(grid, out: Path, strike, risk, plan, sched, temperature_c: float, scenario, scenario_src: str,
                 seed: int, options: dict[str, Any]) -> Path:
    import pandas as pd

    from gridshield.report.briefing import StrikeStory, morning_briefing, run_inputs
    from gridshield.restore.timeline import restoration_timeline

    timeline = None if plan is None else restoration_timeline(grid, plan, temperature_c=temperature_c,
                                                              model=strike["model"])
    story = StrikeStory(label=f"sampled wave {strike['index']}", damage=tuple(strike["damage"]),
                        impact=strike["impact"], strike_time=pd.Timestamp(STRIKE_TIME), temperature_c=temperature_c,
                        heat=strike["heat"], plan=plan, timeline=timeline, schedule=sched)
    ranking = None
    if scenario is not None and risk is not None:
        from gridshield.security.rank import rank_assets

        ranking = rank_assets(None, elements=("sites",), k_max=0, scenario=scenario,
                              samples=min(RANK_SAMPLES, int(risk.samples)), seed=seed, top=10)
    text = Path(scenario_src).read_text() if Path(scenario_src).is_file() else json.dumps(BUILTIN_SCENARIO, indent=1)
    inputs = run_inputs(scenario_source=scenario_src, scenario_text=text, seed=seed,
                        samples=0 if risk is None else int(risk.samples), grid=grid,
                        extra={"strike shown": f"sample {strike['index']}: {', '.join(strike['damage'])}",
                               "strike time (local, story)": STRIKE_TIME, **options})
    rep = morning_briefing(grid, story, title="gridshield demo: a drone wave on the synthetic city",
                           risk=risk, ranking=ranking, lead=_story_lines(strike, temperature_c), inputs=inputs)
    return rep.write(out / "report.html")


# ------------------------------------------------------------------------------------------------
def run_demo(
    out: str | Path = "demo-output",
    samples: int = 1000,
    seed: int = 19,
    temperature_c: float = -10.0,
    crews: int = 6,
    hours: int = 96,
    workers: int = 1,
    import_mw: float = IMPORT_AVAILABLE_MW,
    restore_time_limit_s: float = 8.0,
) -> dict[str, Any]:
    """Run the demo and write its outputs into ``out``; returns the summary (also ``summary.json``)."""
    from gridshield.cli import kv_table
    from gridshield.grid import load, write_matpower
    from gridshield.heat import HeatNetwork, scale_for_temperature

    from gridshield.errors import GridshieldError

    if isinstance(crews, bool) or not isinstance(crews, (int, np.integer)) or crews < 1:
        raise GridshieldError(f"--crews {crews!r}: give a whole number of repair crews >= 1")
    if not isinstance(samples, (int, np.integer)) or samples < 0:
        raise GridshieldError(f"--samples {samples!r}: give a whole number >= 0 (0 skips the risk part)")
    if not (math.isfinite(temperature_c) and -60.0 <= temperature_c <= 40.0):
        raise GridshieldError(f"--temperature {temperature_c!r}: give an outdoor temperature in °C (-60..40)")
    if not (math.isfinite(import_mw) and import_mw >= 0):
        raise GridshieldError(f"--import-mw {import_mw!r}: give the MW the national grid delivers (>= 0)")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise GridshieldError(f"--workers {workers!r}: give a whole number of worker processes >= 1")
    t0 = time.perf_counter()
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    parts = _Parts()

    base = load("synthetic-city")
    grid = scale_for_temperature(base, temperature_c)
    city_path = write_matpower(grid, outdir / "synthetic-city.m")
    net = HeatNetwork.from_grid(grid)
    s = grid.summary()
    console.rule(Text("gridshield demo: a drone wave on the synthetic city (fictional)", style="bold"))
    console.print(kv_table(f"Synthetic city at {temperature_c:g} °C", {
        "buses / branches / sites": f"{s['buses']} / {s['branches']} / {s['sites']}",
        "districts": int(np.count_nonzero(grid.buses.base_kv == 10.0)),
        "load (MW)": s["load_mw"],
        "load at the reference -5 °C (MW)": base.summary()["load_mw"],
        "generation capacity incl. imports (MW)": s["gen_capacity_mw"],
        "customers": f"{int(grid.loads.customers.sum()):,}",
        "people in heat districts": f"{int(net.people.sum()):,}",
        "heat demand (MW_th)": float(net.heat_demand_mw_th(temperature_c).sum()),
    }))

    scenario = None
    scenario_src = "fallback sampler (gridshield.threat not available)"
    sc = parts.run("threat scenario", _scenario_for, city_path)
    if sc is not None:
        scenario, scenario_src = sc
    console.print(f"scenario: {scenario_src}")

    strike = _strike_part(grid, outdir, seed, scenario, temperature_c, hours)
    risk = parts.run("risk", _risk_part, scenario, outdir, samples, seed, workers) if samples > 0 else None
    if samples <= 0:
        parts.skipped["risk"] = "samples = 0"
    risk_heat = parts.run("risk: heat", _risk_heat_part, grid, risk, strike, outdir) if risk is not None else None
    plan = parts.run("restoration", _restore_part, grid, strike, outdir, crews, temperature_c, restore_time_limit_s)
    sched = parts.run("rotating outages", _outages_part, grid, strike, outdir, import_mw, 48)
    options = {"outdoor temperature (°C)": temperature_c, "repair crews": crews, "import available (MW)": import_mw,
               "demo options": {"samples": samples, "seed": seed, "workers": workers}}
    report = parts.run("report", _report_part, grid, outdir, strike, risk, plan, sched, temperature_c, scenario,
                       scenario_src, seed, options)

    impact, heat = strike["impact"], strike["heat"]
    summary = {
        "grid": "synthetic-city (fictional)",
        "temperature_c": temperature_c,
        "scenario": scenario_src,
        "seed": seed,
        "strike": {
            "time": STRIKE_TIME,
            "waves": strike["waves"],
            "sample": strike["index"],
            "damage": list(strike["damage"]),
            "lost_mw": impact.lost_mw,
            "demand_mw": impact.demand_mw,
            "customers_affected": impact.customers_affected,
            "districts_dark": [d["district"] for d in strike["districts"] if d["dark"]],
            "critical_lost": strike["critical_lost"],
            "heat_districts_off": list(heat.districts_off),
            "people_without_heat": heat.people_without_heat,
            "first_hours_to_12c": _clean(heat.first_hours_to_12c_h),
        },
        "risk": None if risk is None else {
            **{k: risk.to_dict()[k] for k in ("samples", "lost_mw", "p_any_loss")}, "heat": risk_heat},
        "restoration": None if plan is None else {
            "method": plan.method, "crews": plan.crews, "ens_mwh": plan.ens_mwh,
            "improvement_over_naive_pct": plan.improvement_over_naive_pct, "makespan_h": plan.makespan_h,
            "people_hours_without_heat": plan.people_hours_without_heat,
        },
        "outages": None if sched is None else "outage_schedule.json",
        "report": None if report is None else str(Path(report).name),
        "parts_ran_s": parts.ran,
        "parts_skipped": parts.skipped,
        "elapsed_s": time.perf_counter() - t0,
        "files": [],
    }
    summary["files"] = sorted({p.name for p in outdir.iterdir() if p.is_file()} | {"summary.json"})
    _write_json(outdir / "summary.json", _clean(summary))
    console.rule(Text("Done", style="bold"))
    console.print(f"outputs in {outdir}: {', '.join(summary['files'])}")
    if parts.skipped:
        console.print("skipped: " + "; ".join(f"{k} ({v})" for k, v in parts.skipped.items()))
    console.print(f"elapsed {summary['elapsed_s']:.1f} s")
    return summary


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="folder for the outputs"),
    samples: int = typer.Option(1000, "--samples", help="Monte Carlo samples for the risk summary (0 = skip)"),
    seed: int = typer.Option(19, "--seed", help="random seed of the threat sampling"),
    temperature: float = typer.Option(-10.0, "--temperature", "-t", help="outdoor temperature (°C)"),
    crews: int = typer.Option(6, "--crews", help="repair crews"),
    workers: int = typer.Option(1, "--workers", help="worker processes for the risk run"),
    import_mw: float = typer.Option(IMPORT_AVAILABLE_MW, "--import-mw",
                                    help="MW the national grid can deliver after the wave (sets the deficit)"),
) -> None:
    """The whole story on the fictional synthetic city: strike, heat, risk, restoration, outages, report."""
    run_demo(out=out, samples=samples, seed=seed, temperature_c=temperature, crews=crews, workers=workers,
             import_mw=import_mw)
