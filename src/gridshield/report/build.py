"""Build reports from results: a Monte Carlo run (stored or fresh) becomes a morning briefing
(:mod:`gridshield.report.briefing`) of one representative sampled strike, with the run's loss
distribution, the probability that each area goes dark and every input that reproduces it."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridshield.report.html import Report

#: Monte Carlo samples used to rank the assets to protect (common random numbers, a subset of the run's).
RANK_SAMPLES = 400


def representative_sample(risk: Any) -> int:
    """Row of the sample closest to the run's P90 loss (a "1 wave in 10" strike; 0 if none lost)."""
    lost = risk.to_frame()["lost_mw"].to_numpy()
    if not np.any(lost > 0):
        return 0
    p90 = float(risk.to_dict()["lost_mw"]["p90"])  # weighted with tail sampling
    cand = np.flatnonzero(lost > 0)
    return int(cand[np.argmin(np.abs(lost[cand] - p90))])


def check_load_model(grid: Any, load_model: str) -> None:
    """Refuse ``--model ac`` for a grid above :data:`gridshield.limits.MAX_AC_BUSES` buses (and
    unknown models), before anything is run."""
    from gridshield.errors import GridshieldError
    from gridshield.impact.model import MODELS
    from gridshield.limits import MAX_AC_BUSES

    if load_model not in MODELS:
        raise GridshieldError(f"--model {load_model}: give one of {', '.join(MODELS)}")
    if load_model == "ac" and len(grid.buses) > MAX_AC_BUSES:
        raise GridshieldError(
            f"--model ac: the report assesses its strike with the AC load delivery on grids up to {MAX_AC_BUSES:,} "
            f"buses ({grid.name} has {len(grid.buses):,}; one Ipopt solve per repair state); use --model dc, or "
            f"gridshield impact ... --model ac for the strike alone")


def risk_briefing(risk: Any, grid: Any, *, scenario: Any, scenario_source: str, scenario_text: str, seed: int,
                  temperature_c: float | None = None, crews: int = 6, strike_time: Any = None,
                  extra_inputs: dict[str, Any] | None = None, warning: str = "", load_model: str = "dc") -> Report:
    """The morning briefing of a Monte Carlo run: a representative strike (the sample nearest the
    P90 loss) in full, the run's statistics, and the inputs that reproduce it. ``load_model``
    (``"dc"`` or ``"ac"``) decides the strike's impact and repair plan; the Monte Carlo numbers are
    the run's (DC)."""
    from gridshield.heat import scale_for_temperature
    from gridshield.outages.model import parse_start
    from gridshield.report.briefing import model_words, morning_briefing, run_inputs, strike_story
    from gridshield.report.risk import MC_MODEL
    from gridshield.security.rank import rank_assets

    check_load_model(grid, load_model)
    ref = grid.extra_tables.get("gs_reference_temperature_c")
    temp = float(temperature_c) if temperature_c is not None else (float(ref) if isinstance(ref, float) else -10.0)
    g = scale_for_temperature(grid, temp) if isinstance(ref, float) and temperature_c is not None else grid
    frame = risk.to_frame()
    k = representative_sample(risk)
    ids = [x for x in str(frame["damage"].iloc[k]).split(";") if x] if len(frame) else []
    t0 = pd.Timestamp(parse_start(strike_time)) if strike_time is not None else pd.Timestamp.now().floor("h")
    story = strike_story(g, ids, label=f"sampled wave {int(frame.index[k]) if len(frame) else 0} (a 1-in-10 wave)",
                         strike_time=t0, temperature_c=temp, crews=crews, load_model=load_model)
    ranking = None
    if math.isfinite(risk.samples) and risk.samples > 0:
        ranking = rank_assets(None, elements=("sites",), k_max=0, scenario=scenario,
                              samples=min(RANK_SAMPLES, int(risk.samples)), seed=seed, top=10)
    inputs = run_inputs(scenario_source=scenario_source, scenario_text=scenario_text, seed=seed,
                        samples=int(risk.samples), grid=grid, extra={
                            "strike shown": f"sample {int(frame.index[k]) if len(frame) else 0}: "
                                            f"{', '.join(ids) or 'nothing destroyed'}",
                            "strike time (local)": f"{t0:%Y-%m-%d %H:%M}", "outdoor temperature (°C)": temp,
                            "repair crews": crews,
                            "load-delivery model, the strike shown": model_words(story.impact_model),
                            "load-delivery model, its repair plan": (model_words(story.restoration_model)
                                                                     + (f" ({story.restoration_note})"
                                                                        if story.restoration_note else ""))
                            if story.plan is not None else "no repair plan",
                            "load-delivery model, the Monte Carlo run": MC_MODEL,
                            **(extra_inputs or {})})
    return morning_briefing(g, story, title=f"Morning briefing: {scenario.name}", risk=risk, ranking=ranking,
                            inputs=inputs, warning=warning)


def run_report(store: str | os.PathLike[str], run_id: str, **kw: Any) -> Report:
    """The briefing of a run stored in a results store (``kw``: temperature_c, crews, strike_time,
    load_model)."""
    from gridshield.store import ResultsStore
    from gridshield.threat.runner import load_run
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import scenario_from_json

    with ResultsStore(store, read_only=True) as st:
        info = st.run(run_id)
        risk = load_run(st, run_id)
    scenario = scenario_from_json(info.scenario_json)
    return risk_briefing(risk, build_grid(scenario), scenario=scenario, scenario_source=f"stored run {run_id}",
                         scenario_text=info.scenario_text, seed=info.seed,
                         extra_inputs={"run id": run_id, "store": str(Path(store).name), "status": info.state,
                                       "run options": info.options},
                         warning=incomplete_warning(info, risk.samples), **kw)


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
                    progress: Any = None, **kw: Any) -> Report:
    """Run a scenario (Monte Carlo) and build its briefing (``progress`` as in
    :func:`~gridshield.threat.run_risk`; ``kw``: temperature_c, crews, strike_time, load_model)."""
    from gridshield.threat import run_risk
    from gridshield.threat.sampling import build_grid
    from gridshield.threat.scenario import load_scenario

    sc = load_scenario(scenario)
    grid = build_grid(sc)
    check_load_model(grid, kw.get("load_model", "dc"))  # before the run, not after it
    risk = run_risk(sc, samples=samples, seed=seed, workers=workers, progress=progress)
    from gridshield.io import read_text_file

    is_file = Path(str(scenario)).is_file()
    text = read_text_file(scenario, "scenario file") if is_file else str(scenario)
    return risk_briefing(risk, grid, scenario=sc, scenario_source=str(scenario) if is_file else "<text>",
                         scenario_text=text, seed=seed, **kw)


__all__ = ["RANK_SAMPLES", "check_load_model", "representative_sample", "risk_briefing", "run_report",
           "scenario_report"]
