"""The morning briefing: one report a crisis room reads first.

Headline cards say what they describe (this strike, or the mean over N sampled waves with its
95 % CI); the critical loads lost are named with the hour each is back; "what to do next" gives
the repair order, the assets whose protection cuts the expected loss most (the criticality
ranking of :mod:`gridshield.security.rank`) and the outage schedule in one line per group; the
72-hour board, the district map, readable tables and every input needed to reproduce it follow.
Every card and section says which load-delivery model produced its numbers (the strike's: DC, or
AC with ``load_model="ac"``; the repair plan's; the Monte Carlo run's, always DC).

:func:`strike_story` computes what a briefing shows for one damage set (impact, heat,
restoration plan and its timeline, a rotating-outage schedule for the remaining deficit);
:func:`morning_briefing` turns it into a :class:`~gridshield.report.html.Report`.
"""

from __future__ import annotations

import hashlib
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid
from gridshield.report.html import Card, Report, Section
from gridshield.report.tables import readable

#: Hours the board and the "back after" column look ahead.
BOARD_HOURS = 72.0


@dataclass(frozen=True, eq=False)
class StrikeStory:
    """Everything a briefing shows about one strike.

    ``label`` says which strike it is ("sampled wave 1 of seed 19"); ``strike_time`` is local.
    ``plan``, ``timeline``, ``heat`` and ``schedule`` may be None when that part is unavailable.
    ``restoration_note`` says why the repair plan uses another load-delivery model than the impact.
    """

    label: str
    damage: tuple[str, ...]
    impact: Any
    strike_time: pd.Timestamp
    temperature_c: float
    heat: Any = None
    plan: Any = None
    timeline: Any = None
    schedule: Any = None
    schedule_note: str = ""
    restoration_note: str = ""

    @property
    def impact_model(self) -> str:
        """Load-delivery model of the impact (``"dc"``, ``"ac"`` or ``"ac (DC for islands ...)"``)."""
        return str(getattr(self.impact, "model_label", "dc"))

    @property
    def restoration_model(self) -> str:
        """Load-delivery model of the repair plan's served-load evaluations (``""`` without a plan)."""
        return str(self.plan.options.get("model", "dc")) if self.plan is not None else ""


def model_words(label: str) -> str:
    """A load-delivery model label in words: ``"AC load delivery"``, ``"DC load delivery"``, or
    ``"AC load delivery (DC for islands 3: AC failed)"``."""
    if label.startswith("ac"):
        return "AC load delivery" + label[2:]
    return "DC load delivery"


def sha256_text(text: str) -> str:
    """SHA-256 of a text (UTF-8), hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def grid_sha256(grid: Grid) -> str:
    """SHA-256 of the grid as gridshield writes it (MATPOWER text): equal grids, equal hashes."""
    import tempfile
    from pathlib import Path

    from gridshield.grid import write_matpower

    with tempfile.TemporaryDirectory() as d:
        p = write_matpower(grid, Path(d) / "grid.m")
        return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def command_line() -> str:
    """The command that is running, as a shell would read it."""
    return " ".join(shlex.quote(a) for a in ["gridshield" if sys.argv[0].endswith("gridshield") else sys.argv[0],
                                              *sys.argv[1:]])


def element_name(grid: Grid, asset_id: str) -> str:
    """A human name for an asset id: the element's name where the grid has one."""
    kind = asset_id.split(":", 1)[0]
    table = grid.tables.get(kind)
    if table is not None and asset_id in table.index:
        name = str(table.name[table.index[asset_id]])
        return name or asset_id
    return asset_id.removeprefix("site:")


def _until(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """End time of a span: an outage that ends at midnight ends at 24:00 of its day."""
    return "24:00" if (end.hour, end.minute) == (0, 0) and end.normalize() > start.normalize() else f"{end:%H:%M}"


def schedule_lines(schedule: Any) -> list[tuple[str, int, str, str]]:
    """Per switchable group: (group, customers, when off, when possibly off), e.g.
    ``("1.1", 81099, "Tue 20 Dec 14:00-18:00", "-")``."""
    out = []
    rows = schedule.intervals()
    for g, gid in enumerate(schedule.group_ids):
        if schedule.exempt[g]:
            continue
        mine = [r for r in rows if r["group"] == gid]

        def spans(state: str) -> str:
            items = [f"{r['start']:%a %d %b %H:%M}-{_until(r['start'], r['end'])}" for r in mine if r["state"] == state]
            return ", ".join(items) or "-"

        out.append((gid, int(schedule.customers[g]), spans("off"), spans("possible")))
    return out


def strike_story(
    grid: Grid,
    damage: Sequence[str],
    *,
    label: str,
    strike_time: Any,
    temperature_c: float,
    crews: int = 6,
    schedule_hours: float = 48.0,
    supply_mw: float | None = None,
    split: int = 2,
    restore_time_limit_s: float = 10.0,
    model: Any = None,
    load_model: str = "dc",
) -> StrikeStory:
    """Impact, heat, restoration plan and timeline, and a rotating-outage schedule (from the next
    local midnight after the strike, sub-queues of ``split``) for ``damage`` on ``grid``.

    ``model`` is a prebuilt ``ImpactModel`` of ``grid``, else one is built with the load-delivery
    model ``load_model`` (``"dc"`` or ``"ac"``). The repair plan uses the same model, except that
    restoration with the AC load delivery is limited to small instances
    (:func:`gridshield.restore.plan.ac_size_refusal`): above them the plan uses the DC load
    delivery and ``restoration_note`` says why."""
    from gridshield.impact import ImpactModel
    from gridshield.impact.model import MODELS

    if load_model not in MODELS:
        raise GridshieldError(f"load_model must be one of {MODELS}, got {load_model!r}")
    model = model if model is not None else ImpactModel(grid, model=load_model)
    ids = list(damage)
    impact = model.assess(ids)
    t0 = pd.Timestamp(strike_time)
    heat = plan = timeline = schedule = None
    note = rnote = ""
    if any(k.startswith("gs_heat_") for k in grid.extra_tables):
        from gridshield.heat import assess_heat

        heat = assess_heat(grid, impact, damage=ids, temperature_c=temperature_c, hours=int(BOARD_HOURS) + 24)
    if ids:
        from gridshield.restore import plan_restoration
        from gridshield.restore.timeline import restoration_timeline

        rmodel = model
        if getattr(model, "model", "dc") == "ac":
            from gridshield.impact import Damage
            from gridshield.restore.plan import ac_size_refusal
            from gridshield.restore.tasks import build_tasks

            why = ac_size_refusal(grid, len(build_tasks(grid, Damage.from_ids(grid, ids))))
            if why:
                rmodel, rnote = ImpactModel(grid), f"the repair plan uses the DC load delivery: {why}"
        plan = plan_restoration(grid, ids, crews=crews, temperature_c=temperature_c,
                                time_limit_s=restore_time_limit_s, model=rmodel)
        timeline = restoration_timeline(grid, plan, temperature_c=temperature_c, model=rmodel)
    from gridshield.outages import deficit_from_impact, groups_from_grid, rotating_schedule
    from gridshield.outages.model import next_local_midnight

    deficit = deficit_from_impact(grid, impact, hours=schedule_hours, start=next_local_midnight(now=t0),
                                  supply_mw=supply_mw)
    if float(deficit["deficit_mw"].max()) > 0:
        from gridshield.outages import ScheduleInfeasibleError

        try:
            schedule = rotating_schedule(groups_from_grid(grid, impact), deficit, split=split, method="heuristic",
                                         possible_frac=0.1)
        except ScheduleInfeasibleError as exc:
            schedule, note = exc.schedule, f"the schedule cannot cover every hour: {exc}"
    else:
        note = "no rotating outages needed: the supplied part of the grid can serve its demand"
    return StrikeStory(label=label, damage=tuple(ids), impact=impact, strike_time=t0, temperature_c=temperature_c,
                       heat=heat, plan=plan, timeline=timeline, schedule=schedule, schedule_note=note,
                       restoration_note=rnote)


# ------------------------------------------------------------------------------------------------
def strike_cards(grid: Grid, s: StrikeStory) -> list[Card]:
    """Cards for one strike, each saying that it describes this strike."""
    imp = s.impact
    pct = 100 * imp.lost_mw / imp.demand_mw if imp.demand_mw > 0 else 0.0
    how = model_words(s.impact_model)
    cards = [
        Card(f"{imp.lost_mw:,.0f} MW", "load lost", f"{s.label}; of {imp.demand_mw:,.0f} MW demand ({pct:.1f} %); {how}"),
        Card(f"{imp.customers_affected:,}", "customers without full supply", f"{s.label}; of {imp.customers_total:,}; {how}"),
        Card(f"{len(imp.critical_lost)}", "critical loads lost", f"{s.label}; named below; {how}"),
    ]
    if s.heat is not None:
        first = s.heat.first_hours_to_12c_h
        when = f"first homes below 12 °C after {first:.0f} h" if math.isfinite(first) else "homes stay above 12 °C"
        cards.append(Card(f"{s.heat.people_without_heat:,}", "people without heat",
                          f"{s.label}; at {s.temperature_c:g} °C outdoors; {when}; {how}"))
    return cards


def _plan_words(s: StrikeStory) -> str:
    """What the repair plan's times rest on, e.g. "repair plan: DC load delivery (...why)"."""
    if s.plan is None:
        return ""
    return f"repair plan: {model_words(s.restoration_model)}" + (f" ({s.restoration_note})" if s.restoration_note else "")


def critical_section(grid: Grid, s: StrikeStory) -> Section:
    """The critical loads lost, by name, with the hour each is back under the repair plan."""
    ld = grid.loads
    rows = []
    for lid in s.impact.critical_lost:
        r = ld.index[lid]
        back = float(s.timeline.load_back_h[r]) if s.timeline is not None else math.inf
        when = (s.strike_time + pd.Timedelta(hours=back)).strftime("%a %d %b %H:%M") if math.isfinite(back) else "-"
        rows.append({"load": str(ld.name[r]) or lid, "district / bus": str(grid.buses.name[ld.bus[r]]),
                     "MW": float(ld.p_mw[r]), "back after": back, "back at": when})
    if not rows:
        return Section("Critical loads lost", f"No critical load lost supply in this strike ({model_words(s.impact_model)}).",
                       anchor="critical")
    frame = pd.DataFrame(rows).sort_values("back after", kind="stable")
    horizon = float(s.plan.makespan_h) if s.plan is not None else None
    table = readable(frame, [("load", "critical load", "text"), ("district / bus", "district / bus", "text"),
                             ("MW", "demand (MW)", "mw"), ("back after", "back after (h)", "h"),
                             ("back at", "back at (local time)", "text")], horizon_h=horizon)
    return Section(f"Critical loads lost ({len(rows)}), {s.label}",
                   "Hospitals, water and heat pumping lost supply; each is back when the repair plan below "
                   f"restores its bus (hours after the strike). Lost: {model_words(s.impact_model)}; back: "
                   f"{_plan_words(s) or 'no repair plan'}.", tables=[table], anchor="critical")


def next_steps_section(grid: Grid, s: StrikeStory, ranking: Any = None, top: int = 5) -> Section:
    """Repair order, the assets to protect first, and the outage schedule in one line per group."""
    bullets: list[str] = []
    tables, titles = [], []
    if s.plan is not None and len(s.plan.task_id):
        p = s.plan
        first = sorted(range(len(p.task_id)), key=lambda k: (p.end_h[k], p.start_h[k]))
        bullets.append("Repair first: " + "; ".join(
            f"{element_name(grid, p.task_id[k])} (crew {int(p.crew[k]) + 1}, done after {p.end_h[k]:.0f} h)"
            for k in first[:3]) + f". All {len(p.task_id)} repairs are done after {p.makespan_h:.0f} h "
            f"({_plan_words(s)}).")
        frame = pd.DataFrame({"crew": p.crew + 1, "task": [element_name(grid, t) for t in p.task_id],
                              "id": list(p.task_id), "class": list(p.asset_class), "start": p.start_h, "end": p.end_h})
        tables.append(readable(frame, [("crew", "crew", "int"), ("task", "repair", "text"), ("id", "asset id", "text"),
                                       ("class", "asset class", "text"), ("start", "starts after (h)", "h"),
                                       ("end", "done after (h)", "h")]))
        titles.append(f"Repair order ({p.crews} crews, {p.method} plan)")
    if ranking is not None and getattr(ranking, "expected_loss_mw", None) is not None:
        n = min(top, len(ranking.ids))
        bullets.append("Protect first (largest cut of the expected loss per wave; Monte Carlo, DC load delivery): "
                       + ", ".join(f"{element_name(grid, ranking.ids[i])} ({ranking.expected_loss_mw[i]:,.1f} MW)"
                                   for i in range(n)) + ".")
        frame = pd.DataFrame({"asset": [element_name(grid, a) for a in ranking.ids[:n]],
                              "cut": ranking.expected_loss_mw[:n], "p": ranking.p_destroyed[:n],
                              "lwd": ranking.loss_when_destroyed_mw[:n]})
        tables.append(readable(frame, [("asset", "asset", "text"), ("cut", "expected loss avoided (MW per wave)", "mw"),
                                       ("p", "destroyed in (share of waves)", "share"),
                                       ("lwd", "mean loss when destroyed (MW)", "mw")]))
        titles.append(f"Protect first: top {n} by expected loss avoided ({ranking.samples:,} waves)"
                      if getattr(ranking, "samples", None) else f"Protect first: top {n}")
    if s.schedule is not None:
        lines = schedule_lines(s.schedule)
        frame = pd.DataFrame(lines, columns=["group", "customers", "off", "possible"])
        bullets.append(f"Rotating outages from {s.schedule.times[0]:%a %d %b %Y %H:%M}: "
                       f"{sum(1 for x in lines if x[2] != '-')} of {len(lines)} groups go off at least once "
                       f"(blocks of {s.schedule.block_steps * s.schedule.step_h:g} h; the deficit from the "
                       f"{model_words(s.impact_model)}); one line per group below.")
        tables.append(readable(frame, [("group", "group", "text"), ("customers", "customers", "int"),
                                       ("off", "off (local time)", "text"), ("possible", "possible outage", "text")]))
        titles.append("Outage schedule, one line per group")
    if s.schedule_note:
        bullets.append(s.schedule_note[:1].upper() + s.schedule_note[1:] + ".")
    return Section("What to do next", bullets=bullets, tables=tables, table_titles=titles, anchor="next")


def map_section(grid: Grid, s: StrikeStory, geojson: Any = None) -> Section:
    """The district map of the strike, the districts and the heat districts as readable tables."""
    from gridshield.grid.geometry import geometry_of
    from gridshield.report.maps import district_states, impact_map_figure

    fig = impact_map_figure(grid, impact=s.impact, heat=s.heat, damaged_ids=s.damage, geojson=geojson,
                            title=f"{s.label}: districts and sites")
    fig.update_layout(height=760)
    tables, titles = [], []
    geo = geometry_of(grid, geojson)
    if geo is not None and geo.areas:
        st = pd.DataFrame([x.to_dict() for x in district_states(grid, geo, s.impact, s.heat)])
        st["critical_off"] = [", ".join(v) or "-" for v in st["critical_off"]]
        st["hours_to_12c_h"] = [math.inf if v is None else v for v in st["hours_to_12c_h"]]
        order = st.assign(o=st["state"].map({"dark": 0, "partly served": 1}).fillna(2)).sort_values(["o", "name"])
        tables.append(readable(order, [
            ("name", "district", "text"), ("state", "state", "text"), ("demand_mw", "demand (MW)", "mw"),
            ("served_pct", "served", "pct"), ("customers_off", "customers without full supply", "int"),
            ("critical_off", "critical loads off", "text"), ("heat_off", "heat off", "yesno"),
            ("hours_to_12c_h", "homes below 12 °C after (h)", "h")], horizon_h=s.heat.hours if s.heat else None))
        titles.append("Districts (dark first)")
    text = (f"Destroyed: {', '.join(d.removeprefix('site:') for d in s.damage) or 'nothing'}. Districts are "
            "coloured by supply (dark, partly served with %, supplied), hatched where heat is off; struck sites "
            f"are red crosses. Hover a district for its MW, customers and critical loads. Supply from the "
            f"{model_words(s.impact_model)}.")
    return Section(f"The strike on the map ({s.label})", text, figures=[fig], tables=tables, table_titles=titles,
                   anchor="map")


def board_section(s: StrikeStory) -> Section:
    """The 72-hour board."""
    from gridshield.report.board import board_figure

    fig = board_figure(s.strike_time, hours=BOARD_HOURS, plan=s.plan, timeline=s.timeline, heat=s.heat,
                       schedule=s.schedule, impact=s.impact, title=f"The next {BOARD_HOURS:g} hours after {s.label}",
                       no_schedule_note=s.schedule_note)
    return Section(f"The next {BOARD_HOURS:g} hours",
                   "Strike, repair crews, load and heat supplied, people in homes below 12 °C (with the repairs, "
                   "and dashed without) and the rotating-outage blocks on one clock. At the strike: "
                   f"{model_words(s.impact_model)}; " + (_plan_words(s) or "no repair plan") + ".",
                   figures=[fig], anchor="board")


def restoration_section(s: StrikeStory) -> Section | None:
    """The resilience curve and the planner's method comparison."""
    if s.plan is None:
        return None
    from gridshield.report.plots import resilience_figure

    p = s.plan
    comp = pd.DataFrame([{"method": k, **v} for k, v in p.comparison.items()])
    table = readable(comp, [("method", "method", "text"), ("weighted_ens_mwh", "weighted ENS (MWh)", "mw"),
                            ("ens_mwh", "energy not served (MWh)", "mw"), ("makespan_h", "last repair done (h)", "h"),
                            ("optimal", "proven optimal", "yesno")])
    return Section(
        f"Restoration with {p.crews} crews",
        f"Energy not served {p.ens_mwh:,.0f} MWh; the plan's order cuts the weighted ENS by "
        f"{p.improvement_over_naive_pct:.1f} % against repairing in the order of the damage list. Served load "
        f"at each repair state: {model_words(s.restoration_model)}"
        + (f" ({s.restoration_note})." if s.restoration_note else "."),
        figures=[resilience_figure(p.time_h, p.served_pct, p.heat_supplied_pct,
                                   title="Resilience curve: supply over the repair plan")],
        tables=[table], table_titles=["Repair order: method comparison"], anchor="restoration")


def outages_section(s: StrikeStory) -> Section | None:
    """The rotating-outage timetable (figure and per-group summary)."""
    if s.schedule is None:
        return None
    sch = s.schedule
    summ = sch.summary()
    summ = summ[~summ["exempt"]]
    table = readable(summ, [("group", "group", "text"), ("name", "name", "text"), ("customers", "customers", "int"),
                            ("hours_off", "hours off", "mw"), ("hours_possible", "possible outage (h)", "mw"),
                            ("outages", "outages", "int"), ("longest_off_h", "longest (h)", "mw"),
                            ("night_outages", "at night", "int")])
    return Section(
        "Rotating outages for the remaining deficit",
        f"{sch.n_groups - int(sch.exempt.sum())} switchable groups (critical infrastructure exempt), blocks of "
        f"{sch.block_steps * sch.step_h:g} h; every hour sheds at least the deficit "
        f"({'covered' if sch.covered else 'NOT fully covered'}), the deficit from the {model_words(s.impact_model)}. "
        "Light grey slots go off only if the deficit grows.",
        figures=[sch.figure(title="Rotating outages")], tables=[table], table_titles=["Hours off per group"],
        anchor="outages")


def morning_briefing(
    grid: Grid,
    story: StrikeStory,
    *,
    title: str,
    risk: Any = None,
    ranking: Any = None,
    lead: Sequence[str] = (),
    inputs: dict[str, Any] | None = None,
    geojson: Any = None,
    warning: str = "",
) -> Report:
    """The morning briefing of one strike (and, with ``risk``, of the threat it was drawn from);
    ``warning`` is shown first (e.g. that the run is incomplete)."""
    cards = strike_cards(grid, story)
    summary = list(lead)
    sections: list[Section] = [critical_section(grid, story), next_steps_section(grid, story, ranking),
                               board_section(story), map_section(grid, story, geojson)]
    if risk is not None:
        from gridshield.report.risk import risk_sections

        rcards, rsummary, rsecs = risk_sections(risk, grid)
        cards += rcards
        summary += rsummary
        sections += [s for s in rsecs if not s.title.startswith("The worst")]
    sections += [s for s in (restoration_section(story), outages_section(story)) if s is not None]
    return Report(title=title, cards=cards, summary=summary, sections=sections, inputs=dict(inputs or {}),
                  warning=warning,
                  subtitle=f"Cards marked “{story.label}” describe that one strike ({model_words(story.impact_model)}); "
                           "cards marked “mean of … waves” average the Monte Carlo run (DC load delivery), with "
                           "their 95 % confidence intervals.")


def run_inputs(*, scenario_source: str, scenario_text: str, seed: int, samples: int, grid: Grid,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The inputs section: scenario file and hash, seed, samples, grid and its hash, version, command."""
    import gridshield

    out = {
        "scenario file": scenario_source,
        "scenario sha256": sha256_text(scenario_text),
        "seed": seed,
        "samples": samples,
        "grid": grid.name,
        "grid sha256 (as MATPOWER text)": grid_sha256(grid),
        "gridshield version": gridshield.__version__,
        "command line": command_line(),
        **(extra or {}),
        "scenario text": scenario_text,
    }
    return out


__all__ = [
    "BOARD_HOURS",
    "model_words",
    "StrikeStory",
    "board_section",
    "critical_section",
    "grid_sha256",
    "map_section",
    "morning_briefing",
    "next_steps_section",
    "run_inputs",
    "schedule_lines",
    "sha256_text",
    "strike_cards",
    "strike_story",
]
