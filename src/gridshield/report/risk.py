"""A Monte Carlo run in a report: cards with their 95 % CIs, summary sentences and the sections
(loss distribution, worst sampled strike, probability that each area goes dark, loss per class).
Monte Carlo runs decide the load served with the DC load delivery (the AC one is for single
strikes); every card and section says so."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gridshield.report.html import Card, Section
from gridshield.report.tables import readable

#: The load-delivery model of every Monte Carlo number, in words.
MC_MODEL = "DC load delivery"
#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


def wilson_ci(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n`` (Wilson 1927)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def risk_cards(d: dict[str, Any]) -> list[Card]:
    """Cards for a Monte Carlo run (its ``to_dict()``): means with their 95 % CI."""
    n = int(d["samples"])
    lost = d["lost_mw"]
    lo, hi = lost["ci95"]
    k = int(round(d["p_any_loss"] * n))
    plo, phi = wilson_ci(k, n)
    cust = d["customers_affected"]
    return [
        Card(f"{lost['mean']:,.0f} MW", "expected load lost per wave",
             f"mean of {n:,} sampled waves; 95 % CI {lo:,.0f}-{hi:,.0f} MW; {MC_MODEL}"),
        Card(f"{lost['p90']:,.0f} MW", "load lost in 1 wave of 10 (P90)",
             f"{n:,} sampled waves; CVaR95 {lost['cvar95']:,.0f} MW; {MC_MODEL}"),
        Card(f"{100 * d['p_any_loss']:.0f} %", "of waves cut some load",
             f"{k:,} of {n:,} sampled waves; 95 % CI {100 * plo:.0f}-{100 * phi:.0f} %; {MC_MODEL}"),
        Card(f"{cust['mean']:,.0f}", "customers affected per wave",
             f"mean of {n:,} sampled waves; 95 % CI {cust['ci95'][0]:,.0f}-{cust['ci95'][1]:,.0f}; {MC_MODEL}"),
    ]


def _area_names(grid: Any, keys: list[str]) -> list[str]:
    """Readable names of the run's areas: bus names for bus ids (``Copperhill-10`` -> ``Copperhill 10 kV``)."""
    if grid is None:
        return keys
    names = []
    for k in keys:
        bid = k if k in grid.buses.index else f"bus:{k}"
        names.append(str(grid.buses.name[grid.buses.index[bid]]) if bid in grid.buses.index else k)
    return names


def risk_sections(risk: Any, grid: Any | None = None) -> tuple[list[Card], list[str], list[Section]]:
    """Cards, summary sentences and sections for a :class:`~gridshield.threat.runner.RiskResult`."""
    from gridshield.report.plots import loss_distribution_figure, ranking_figure

    d = risk.to_dict()
    n = int(d["samples"])
    lost = d["lost_mw"]
    demand = d.get("demand_mw") or 0.0
    pct = (lambda v: f" ({100 * v / demand:.1f} % of demand)") if demand else (lambda v: "")
    dark = sorted(d["group_dark_probability"].items(), key=lambda kv: -kv[1])
    summary = [
        f"Over {n:,} sampled waves ({MC_MODEL}) a wave like this cuts {lost['mean']:,.0f} MW on average"
        f"{pct(lost['mean'])}; "
        f"1 wave in 10 cuts {lost['p90']:,.0f} MW or more, and the worst 5 % average {lost['cvar95']:,.0f} MW.",
        f"About {d['hits_mean']:.1f} weapons get through per wave (of {d['launched_mean']:.1f} launched) and destroy "
        f"{d['destroyed_mean']:.1f} assets on average.",
    ]
    if dark and dark[0][1] > 0:
        top = [(name, p) for name, (_, p) in zip(_area_names(grid, [g for g, _ in dark[:3]]), dark[:3], strict=True)]
        summary.append("Areas most likely to go completely dark: "
                       + ", ".join(f"{g} ({100 * p:.0f} % of waves)" for g, p in top if p > 0) + ".")
    crit = d["lost_mw_by_priority"].get("critical", {}).get("mean", 0.0)
    summary.append(f"Expected critical load lost per wave (hospitals, water, heat): {crit:,.1f} MW.")

    frame = risk.to_frame()
    sections = [
        Section(
            f"Distribution of load lost over {n:,} sampled waves",
            "Each sample is one simulated wave: interceptions, hits, destroyed assets, then the grid's best "
            f"response (maximal load delivery, {MC_MODEL}). P90, P99 and CVaR95 are marked.",
            figures=[loss_distribution_figure(frame["lost_mw"].to_numpy(), p90=lost["p90"], p99=lost["p99"],
                                              cvar95=lost["cvar95"],
                                              title=f"Load lost per sampled wave ({n:,} waves)",
                                              weights=frame["weight"].to_numpy() if "weight" in frame else None)],
            anchor="distribution",
        )
    ]
    if grid is not None and len(frame):
        from gridshield.impact import assess_damage
        from gridshield.report.maps import impact_map_figure

        worst = int(np.argmax(frame["lost_mw"].to_numpy()))
        ids = [x for x in str(frame["damage"].iloc[worst]).split(";") if x]
        res = assess_damage(grid, ids)
        sections.append(Section(
            f"The worst sampled strike (sample {int(frame.index[worst])})",
            f"Destroyed: {', '.join(i.removeprefix('site:') for i in ids) or 'nothing'}. "
            f"Load lost: {res.lost_mw:,.0f} MW of {res.demand_mw:,.0f} MW ({MC_MODEL}).",
            figures=[impact_map_figure(grid, impact=res, damaged_ids=ids,
                                       title=f"The worst of {n:,} sampled waves (sample {int(frame.index[worst])})")],
        ))
    shown = [(g, p) for g, p in dark if p > 0][:20]
    if shown:
        names = _area_names(grid, [g for g, _ in shown])
        sections.append(Section(
            "Probability that each area goes completely dark",
            f"Share of the {n:,} sampled waves in which the area lost all its load ({MC_MODEL})"
            + (f" (the {len(shown)} most exposed of {len(dark)})." if len(dark) > len(shown) else "."),
            figures=[ranking_figure(names, [100 * p for _, p in shown], value_label="% of sampled waves",
                                    title="P(area completely dark)", top=len(shown))],
            tables=[readable(pd.DataFrame({"area": names, "p": [p for _, p in shown],
                                           "mw": [d["group_expected_lost_mw"][g] for g, _ in shown]}),
                             [("area", "area", "text"), ("p", "dark in (share of waves)", "share"),
                              ("mw", "expected MW lost per wave", "mw")])],
            anchor="dark",
        ))
    prio = pd.DataFrame([{"class": c, "mean": v["mean"], "lo": v["ci95"][0], "hi": v["ci95"][1]}
                         for c, v in d["lost_mw_by_priority"].items()])
    sections.append(Section("Expected load lost by priority class",
                            f"Mean over {n:,} sampled waves, with 95 % CI ({MC_MODEL}).",
                            tables=[readable(prio, [("class", "priority class", "text"),
                                                    ("mean", "expected MW lost per wave", "mw"),
                                                    ("lo", "95 % CI low (MW)", "mw"),
                                                    ("hi", "95 % CI high (MW)", "mw")])]))
    return risk_cards(d), summary, sections


__all__ = ["MC_MODEL", "Z95", "risk_cards", "risk_sections", "wilson_ci"]
