"""Build reports from results: a Monte Carlo run (stored or fresh), with the map of its worst
sampled strike, the loss distribution, group dark probabilities and the inputs that reproduce it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.report.html import Report, Section


def risk_sections(risk: Any, grid: Any | None = None) -> tuple[dict[str, str], list[str], list[Section]]:
    """Key figures, summary sentences and sections for a :class:`~gridshield.threat.runner.RiskResult`."""
    import pandas as pd

    from gridshield.report.plots import loss_distribution_figure, network_figure, ranking_figure

    d = risk.to_dict()
    lost = d["lost_mw"]
    demand = d.get("demand_mw") or 0.0
    pct = (lambda v: f" ({100 * v / demand:.1f} % of demand)") if demand else (lambda v: "")
    lo, hi = lost["ci95"]
    key = {
        "expected load lost": f"{lost['mean']:,.0f} MW ± {(hi - lo) / 2:,.0f}",
        "P90 / P99": f"{lost['p90']:,.0f} / {lost['p99']:,.0f} MW",
        "CVaR 95 %": f"{lost['cvar95']:,.0f} MW",
        "samples": f"{d['samples']:,}",
        "P(any loss)": f"{100 * d['p_any_loss']:.0f} %",
    }
    dark = sorted(d["group_dark_probability"].items(), key=lambda kv: -kv[1])
    summary = [
        f"On average a wave like this cuts {lost['mean']:,.0f} MW{pct(lost['mean'])}; in 1 strike out of 10 it is "
        f"{lost['p90']:,.0f} MW or more, and the worst 5 % average {lost['cvar95']:,.0f} MW.",
        f"About {d['hits_mean']:.1f} weapons get through per wave (of {d['launched_mean']:.1f} launched) and destroy "
        f"{d['destroyed_mean']:.1f} assets on average.",
    ]
    if dark and dark[0][1] > 0:
        top = ", ".join(f"{g} ({100 * p:.0f} %)" for g, p in dark[:3] if p > 0)
        summary.append(f"Groups most likely to go completely dark: {top}.")
    crit = d["lost_mw_by_priority"].get("critical", {}).get("mean", 0.0)
    summary.append(f"Expected critical load lost (hospitals, water, heat): {crit:,.1f} MW.")

    frame = risk.to_frame()
    sections = [
        Section(
            "Distribution of load lost",
            "Each sample is one simulated wave: interceptions, hits, destroyed assets, then the grid's best "
            "response (maximal load delivery). P90/P99 and CVaR95 are marked.",
            figures=[loss_distribution_figure(frame["lost_mw"].to_numpy(), p90=lost["p90"], p99=lost["p99"],
                                              cvar95=lost["cvar95"],
                                              weights=frame["weight"].to_numpy() if "weight" in frame else None)],
        )
    ]
    if grid is not None and len(frame):
        worst = int(np.argmax(frame["lost_mw"].to_numpy()))
        ids = [x for x in str(frame["damage"].iloc[worst]).split(";") if x]
        from gridshield.impact import assess_damage

        res = assess_damage(grid, ids)
        sections.append(
            Section(
                f"The worst sampled strike (sample {int(frame.index[worst])})",
                f"Destroyed: {', '.join(ids) or 'nothing'}. Load lost: {res.lost_mw:,.0f} MW of {res.demand_mw:,.0f} MW.",
                figures=[network_figure(grid, bus_energised=res.bus_energised, damaged_ids=ids,
                                        load_lost_mw=grid.loads.p_mw - res.load_served_mw)],
            )
        )
    if dark:
        names = [g for g, _ in dark]
        sections.append(
            Section(
                "Probability that each group goes dark",
                figures=[ranking_figure(names, [100 * p for _, p in dark], value_label="% of sampled waves",
                                        title="P(group completely dark)")],
                tables=[pd.DataFrame({"P(dark)": [p for _, p in dark],
                                      "expected MW lost": [d["group_expected_lost_mw"][g] for g in names]},
                                     index=pd.Index(names, name="group"))],
            )
        )
    prio = pd.DataFrame({c: {"expected MW lost": v["mean"], "CI low": v["ci95"][0], "CI high": v["ci95"][1]}
                         for c, v in d["lost_mw_by_priority"].items()}).T
    sections.append(Section("Expected load lost by priority class", tables=[prio]))
    return key, summary, sections


def run_report(store: str | os.PathLike[str], run_id: str) -> Report:
    """The report of a run stored in a results store."""
    from gridshield.store import ResultsStore
    from gridshield.threat.runner import load_run
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import scenario_from_json

    with ResultsStore(store, read_only=True) as st:
        info = st.run(run_id)
        risk = load_run(st, run_id)
    scenario = scenario_from_json(info.scenario_json)
    grid = build_grid(scenario)
    key, summary, sections = risk_sections(risk, grid)
    inputs = {"run_id": run_id, "seed": info.seed, "scenario": info.scenario_text, "options": info.options,
              "store": str(Path(store).name), "status": info.state}
    return Report(title=f"Risk of the threat scenario “{info.name}”", key_figures=key, summary=summary,
                  sections=sections, inputs=inputs, warning=incomplete_warning(info, risk.samples))


def incomplete_warning(info: Any, samples: int) -> str:
    """What a report of a run that did not finish must say first (empty for a finished run)."""
    state = info.state
    if state == "done":
        return ""
    planned = info.options.get("samples") or info.options.get("max_samples")
    of = f" of {int(planned):,} planned" if planned else ""
    why = f" ({info.note})" if info.note else ""
    todo = (f"resume it with: gridshield risk --resume {info.run_id}" if state == "interrupted"
            else "it is still running; build the report again when it is done")
    return (f"this run is {state}{why}: the figures below come from the first {samples:,} samples{of} only, "
            f"so they are less certain than a finished run's; {todo}")


def scenario_report(scenario: str | os.PathLike[str], samples: int = 500, seed: int = 1, workers: int | None = None,
                    progress: Any = None) -> Report:
    """Run a scenario (Monte Carlo) and build its report (``progress`` as in :func:`~gridshield.threat.run_risk`)."""
    from gridshield.threat import run_risk
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import load_scenario

    sc = load_scenario(scenario)
    risk = run_risk(sc, samples=samples, seed=seed, workers=workers, progress=progress)
    key, summary, sections = risk_sections(risk, build_grid(sc))
    text = Path(scenario).read_text() if Path(str(scenario)).is_file() else str(scenario)
    return Report(title=f"Risk of the threat scenario “{sc.name}”", key_figures=key, summary=summary,
                  sections=sections, inputs={"seed": seed, "samples": samples, "scenario": text})


__all__ = ["risk_sections", "run_report", "scenario_report"]
