"""``rotating_schedule``: validate inputs, run the heuristic and/or the MILP, check and report."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError, InfeasibleError
from gridshield.outages.core import EPS, POSSIBLE, fairness_value, lp_bound, off_from_starts, possible_layer, round_up_to_candidates
from gridshield.outages.model import (
    Group,
    Instance,
    Rules,
    build_instance,
    next_local_midnight,
    read_deficit,
    read_groups,
)
from gridshield.outages.schedule import Schedule

#: ``method="auto"`` runs the exact MILP when it has at most this many binaries (group x start).
AUTO_MILP_MAX_BINARIES = 1000


class ScheduleInfeasibleError(InfeasibleError):
    """The deficit (plus margin) cannot be covered in some steps.

    Attributes
    ----------
    schedule : Schedule
        The best-effort schedule (covers as much as possible; ``schedule.shortfall_mw`` flags the
        uncovered MW per step).
    shortfall_mw : ndarray
        Uncovered MW per step.
    physical : bool
        True when the requirement exceeds the load of all switchable groups together (no rules
        could help); False when only the rules (block length, min time on, daily cap) prevent it.
    """

    def __init__(self, message: str, schedule: Schedule, physical: bool):
        super().__init__(message)
        self.schedule = schedule
        self.shortfall_mw = schedule.shortfall_mw
        self.physical = physical


def split_groups(groups: list[Group], k: int) -> list[Group]:
    """Split every switchable group into ``k`` equal sub-groups ("3" -> "3.1", "3.2"), so that the
    deficit can be matched in finer steps (Ukraine: 6 queues, 12 sub-queues; censor.net 3501035)."""
    if k <= 1:
        return list(groups)
    out = []
    for g in groups:
        if g.exempt:
            out.append(g)
            continue
        base, rem = divmod(g.customers, k)
        for i in range(k):
            d = g.model_dump()
            d["id"] = f"{g.id}.{i + 1}"
            d["name"] = f"{g.name or g.id} ({i + 1}/{k})"
            if g.load_mw is not None:
                d["load_mw"] = (np.asarray(g.load_mw, dtype=float) / k).tolist()
            if g.base_mw is not None:
                d["base_mw"] = g.base_mw / k
            d["mw_per_degc"] = g.mw_per_degc / k
            d["critical_mw"] = g.critical_mw / k
            d["customers"] = base + (1 if i < rem else 0)
            out.append(Group(**d))
    return out


def _shortfall_message(inst: Instance, shortfall: np.ndarray, method: str = "milp") -> tuple[str, bool]:
    cap = inst.shed_mw.sum(axis=0)
    over = inst.required_mw - cap
    phys = np.flatnonzero(over > 1e-6)
    short = np.flatnonzero(shortfall > EPS)

    def when(t: int) -> str:
        return inst.times[t].strftime("%Y-%m-%d %H:%M")

    def listing(ts: np.ndarray, vals: np.ndarray) -> str:
        items = [f"{when(t)} (+{vals[t]:.1f} MW)" for t in ts[:8]]
        more = f" and {ts.size - 8} more" if ts.size > 8 else ""
        return ", ".join(items) + more

    unit = "hours" if inst.step_h == 1 else f"steps of {inst.step_h:g} h"
    if phys.size:
        msg = (f"the deficit plus margin exceeds all switchable load by up to {over[phys].max():.1f} MW "
               f"in {phys.size} {unit}: {listing(phys, over)}. Even with every switchable group off these {unit} stay "
               "short; reduce the margin, make more load switchable, or plan emergency outages. ")
        physical = True
    else:
        msg = (f"the rules leave {shortfall[short].max():.1f} MW uncovered at most, in {short.size} {unit}: "
               f"{listing(short, shortfall)}. Relax max_off_h_per_day (--max-off-per-day), min_on_h (--min-on) or "
               "the block length (--block). ")
        if method == "heuristic":
            msg += ("(Found by the heuristic, which can miss a covering schedule: method='milp' (--method milp) "
                    "searches exactly.) ")
        physical = False
    msg += ("A best-effort schedule with the uncovered MW flagged is attached (error.schedule); pass "
            "allow_shortfall=True (CLI: --allow-shortfall) to get it as the result.")
    return msg, physical


#: Rules field -> the rotating_schedule keyword (and CLI option) that sets it, for error messages.
_RULE_ARG = {
    "block_h": "block_hours (--block)", "min_on_h": "min_on_hours (--min-on)",
    "max_off_h_per_day": "max_off_hours_per_day (--max-off-per-day)", "margin_mw": "margin_mw (--margin)",
    "margin_frac": "margin_frac (--margin)", "possible_mw": "possible_mw (--possible)",
    "possible_frac": "possible_frac (--possible)", "start_every_h": "start_every_hours (--start-every)",
    "night_start_h": "night_hours", "night_end_h": "night_hours",
}


def rotating_schedule(
    groups: Any,
    deficit: Any,
    block_hours: float = 4.0,
    *,
    min_on_hours: float | None = None,
    max_off_hours_per_day: float | None = None,
    margin_mw: float = 0.0,
    margin_frac: float = 0.0,
    possible_mw: float = 0.0,
    possible_frac: float = 0.0,
    start_every_hours: float | None = None,
    split: int = 1,
    days: float | None = None,
    start: Any = None,
    step_h: float = 1.0,
    method: str = "auto",
    time_limit_s: float = 60.0,
    allow_shortfall: bool = False,
    stage_mw: float | None = None,
    stage_pct: float | None = None,
    tz: str | None = None,
    night_hours: tuple[int, int] = (22, 6),
    heuristic_budget_s: float = 0.8,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Schedule:
    """A fair rotating-outage schedule that covers the deficit in every step.

    Parameters
    ----------
    groups : path, DataFrame, list of dict or of :class:`Group`
        Customer groups (see :func:`gridshield.outages.read_groups`).
    deficit : path, DataFrame, Series, dict or sequence of MW
        Deficit per step (or capacity / Eskom stage; see :func:`gridshield.outages.read_deficit`).
    block_hours : float
        Length of every outage block in hours (default 4, Kyiv/DTEK; DOMAIN.md section 1).
    min_on_hours : float, optional
        Minimum hours on between two outages of a group (default: ``block_hours``).
    max_off_hours_per_day : float, optional
        Cap on hours off per group per calendar day.
    margin_mw, margin_frac : float
        Safety margin: shed at least ``deficit * (1 + margin_frac) + margin_mw`` in each step.
    possible_mw, possible_frac : float
        Extra deficit that "possible outage" (light grey) slots must cover on top.
    start_every_hours : float, optional
        Blocks start only on this grid from the horizon start (e.g. 4 for 00-04-08-...).
    split : int
        Split each switchable group into this many equal sub-groups ("halves" for 2).
    days : float, optional
        Use only the first ``days`` days of the deficit.
    start, step_h : optional
        Start time and step (hours) when ``deficit`` is a plain sequence of MW (default start: the
        next local midnight in ``tz``).
    method : {"auto", "milp", "heuristic"}
        ``auto`` runs the heuristic, then the exact MILP (warm-started) when the instance has at
        most ``AUTO_MILP_MAX_BINARIES`` binaries or the heuristic leaves MW uncovered.
    time_limit_s : float
        Time limit of the MILP (all lexicographic stages together).
    allow_shortfall : bool
        If the deficit cannot be covered, return the best-effort schedule (uncovered MW in
        ``shortfall_mw``) instead of raising :class:`ScheduleInfeasibleError`.
    stage_mw, stage_pct : float, optional
        How to read a ``stage`` column (Eskom): N x stage_mw MW (default 1000) or N x stage_pct %
        of demand.
    tz : str, optional
        IANA zone of the times (e.g. "Europe/Kyiv"); naive times are localised to it.

    Returns
    -------
    Schedule
        Which solver ran, its status, the fairness value and its distance from the bound.

    Raises
    ------
    ScheduleInfeasibleError
        When some step cannot be covered and ``allow_shortfall`` is False; the message says by how
        many MW and in which hours, and ``error.schedule`` holds the best-effort schedule.
    """
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    if method not in ("auto", "milp", "heuristic"):
        raise GridshieldError(f"method must be auto, milp or heuristic, not {method!r}")
    if split < 1:
        raise GridshieldError("split must be >= 1")
    if not time_limit_s > 0:
        raise GridshieldError(f"time_limit_s={time_limit_s!r}: give a positive number of seconds (--time-limit)")
    from pydantic import ValidationError

    try:
        rules = Rules(
            block_h=block_hours, min_on_h=min_on_hours, max_off_h_per_day=max_off_hours_per_day, margin_mw=margin_mw,
            margin_frac=margin_frac, possible_mw=possible_mw, possible_frac=possible_frac,
            start_every_h=start_every_hours, night_start_h=night_hours[0], night_end_h=night_hours[1],
        )
    except ValidationError as exc:  # e.g. --block 0h
        msgs = "; ".join(
            f"{_RULE_ARG.get(str(e['loc'][0]) if e['loc'] else '', 'rules')}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise GridshieldError(f"invalid schedule rules: {msgs}") from None
    glist = split_groups(read_groups(groups), split)
    if start is None and tz is not None:
        start = next_local_midnight(tz)
    inst = build_instance(glist, read_deficit(deficit, start=start, step_h=step_h), rules, days=days, stage_mw=stage_mw, stage_pct=stage_pct)
    if tz is not None and inst.times.tz is None:
        try:
            inst = _replace_times(inst, inst.times.tz_localize(tz, ambiguous="infer", nonexistent="shift_forward"))
        except Exception as exc:
            raise GridshieldError(
                f"tz={tz!r}: not a known time zone ({exc}); use an IANA name such as Europe/Kyiv or UTC"
            ) from None
    say("heuristic")
    heur = solve_heuristic_safe(inst, heuristic_budget_s, seed)
    starts, shortfall = heur["starts"], heur["shortfall"]
    used, status, details = "heuristic", "feasible", {"heuristic": _heur_details(heur)}
    bound = heur["bound"]
    n_bin = inst.switchable_idx.size * int(inst.start_ok.sum())
    fair_h = fairness_value(inst, starts)
    at_bound = bound is not None and shortfall.sum() <= EPS and fair_h <= bound + 1e-9
    run_milp = method == "milp" or (
        method == "auto" and not at_bound and (n_bin <= AUTO_MILP_MAX_BINARIES or shortfall.sum() > EPS)
    )
    if run_milp:
        from gridshield.outages.milp import solve_milp

        say("milp")
        left = max(1.0, time_limit_s - (time.perf_counter() - t0) - 0.3)  # the whole call stays within the limit
        res = solve_milp(inst, time_limit_s=left, warm_starts=starts, with_shortfall=shortfall.sum() > EPS)
        details["milp"] = {k: v for k, v in res.items() if k not in ("starts", "shortfall")}
        if res["shortfall"].sum() <= shortfall.sum() + EPS:
            starts, shortfall = res["starts"], res["shortfall"]
            used = "milp"
            fr = res["fairness"]
            status = "optimal" if fr["optimal"] else fr["status"]
            db = round_up_to_candidates(inst, max(fr["bound"], 0.0)) if np.isfinite(fr["bound"]) else 0.0
            bound = max(db, bound or 0.0) if shortfall.sum() <= EPS else None
    fair_h = fairness_value(inst, starts)
    if shortfall.sum() > EPS:
        bound = None
    elif bound is not None and fair_h <= bound + 1e-9:
        status = "optimal"
    off = off_from_starts(starts, inst.block)
    state = possible_layer(inst, off)
    shed_total = (inst.shed_mw * off).sum(axis=0)
    shortfall = np.maximum(0.0, inst.required_mw - shed_total)
    shortfall[shortfall <= 1e-6] = 0.0
    details["possible_uncovered_mw"] = float(np.maximum(
        0.0, inst.possible_required_mw - (inst.shed_mw * (state > 0)).sum(axis=0)).max(initial=0.0))
    sched = Schedule(
        group_ids=inst.ids, group_names=inst.names, customers=inst.customers, weight=inst.weight, exempt=inst.exempt,
        times=inst.times, step_h=inst.step_h, state=state, load_mw=inst.load_mw, shed_mw=inst.shed_mw,
        deficit_mw=inst.deficit_mw, required_mw=inst.required_mw, possible_required_mw=inst.possible_required_mw,
        shed_total_mw=shed_total, shortfall_mw=shortfall, method=used, status=status, fairness_h=fair_h,
        bound_h=bound, runtime_s=time.perf_counter() - t0, block_steps=inst.block, min_on_steps=inst.min_on,
        max_off_steps_per_day=inst.max_off_per_day, night=inst.night, day=inst.day,
        rules=rules.model_dump() | {"split": split}, tz=tz or (str(inst.times.tz) if inst.times.tz else None),
        details=details,
    )
    if shortfall.sum() > EPS and not allow_shortfall:
        msg, physical = _shortfall_message(inst, shortfall, used)
        raise ScheduleInfeasibleError(msg, sched, physical)
    return sched


def solve_heuristic_safe(inst: Instance, budget: float, seed: int) -> dict:
    from gridshield.outages.heuristic import solve_heuristic

    return solve_heuristic(inst, time_budget_s=budget, seed=seed)


def _heur_details(h: dict) -> dict:
    return {"runtime_s": h["runtime_s"], "tries": h["tries"], "lp_bound_h": h["lp_bound"]}


def _replace_times(inst: Instance, times) -> Instance:
    import dataclasses

    return dataclasses.replace(inst, times=times)


def shortfall_report(schedule: Schedule) -> list[tuple[str, float]]:
    """(time, uncovered MW) for every step the schedule leaves short."""
    ts = np.flatnonzero(schedule.shortfall_mw > EPS)
    return [(schedule.times[t].isoformat(), float(schedule.shortfall_mw[t])) for t in ts]


__all__ = ["POSSIBLE", "ScheduleInfeasibleError", "rotating_schedule", "split_groups", "shortfall_report", "lp_bound"]
