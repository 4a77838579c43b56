"""Golden tests of the published forms of a schedule: the interval CSV, the per-group
today/tomorrow slots in minutes, the hourly grid with half hours and the iCalendar files.

The schedule is written by hand (no solver), crossing midnight on half-hour edges with all three
states, so the expected files can be checked by eye: group 1.1 is off 22:30-00:30, possibly off
03:00-04:00 and off again 10:00-11:30; group 1.2 is off 00:30-02:30 and possibly off 11:30-12:00.
``GRIDSHIELD_UPDATE_GOLDEN=1 pytest tests/test_outage_exports.py`` rewrites the files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridshield.outages.core import OFF, ON, POSSIBLE
from gridshield.outages.schedule import Schedule

GOLDEN = Path(__file__).parent / "golden" / "outages"
UPDATE = os.environ.get("GRIDSHIELD_UPDATE_GOLDEN") == "1"


def hand_schedule(tz: str | None = "Europe/Kyiv") -> Schedule:
    times = pd.date_range("2026-01-12 22:00", periods=28, freq="30min")  # to 12:00 next day
    if tz:
        times = times.tz_localize(tz)
    state = np.full((3, 28), ON, np.int8)
    state[0, 1:5] = OFF        # 22:30-00:30
    state[0, 10:12] = POSSIBLE  # 03:00-04:00
    state[0, 24:27] = OFF      # 10:00-11:30
    state[1, 5:9] = OFF        # 00:30-02:30
    state[1, 27] = POSSIBLE    # 11:30-12:00
    G, T = state.shape
    load = np.array([[40.0] * T, [35.0] * T, [5.0] * T])
    shed = load * np.array([[1], [1], [0]])
    shed_total = (shed * (state == OFF)).sum(axis=0)
    return Schedule(
        group_ids=("1.1", "1.2", "C"), group_names=("queue 1 (1/2)", "queue 1 (2/2)", "hospital feeder"),
        customers=np.array([1000, 900, 3]), weight=np.ones(G), exempt=np.array([False, False, True]), times=times,
        step_h=0.5, state=state, load_mw=load, shed_mw=shed, deficit_mw=shed_total.astype(float),
        required_mw=shed_total.astype(float), possible_required_mw=shed_total.astype(float),
        shed_total_mw=shed_total.astype(float), shortfall_mw=np.zeros(T), method="hand", status="given",
        fairness_h=3.5, bound_h=None, runtime_s=0.0, block_steps=1, min_on_steps=0, max_off_steps_per_day=None,
        night=np.zeros(T, bool), day=np.r_[np.zeros(4, int), np.ones(24, int)], tz=tz,
    )


def _check(name: str, text: str) -> None:
    p = GOLDEN / name
    if UPDATE or not p.exists():
        assert UPDATE, f"golden file {p} is missing; run with GRIDSHIELD_UPDATE_GOLDEN=1 once and review it"
        p.write_bytes(text.encode("utf-8"))
    assert text == p.read_bytes().decode("utf-8"), f"{name} differs from its golden file"


def test_interval_csv_golden():
    _check("schedule.csv", hand_schedule().to_csv_text())


def test_day_slots_golden_and_meaning():
    s = hand_schedule()
    text = s.day_slots_json_text()
    _check("slots.json", text)
    d = json.loads(text)
    assert d["timezone"] == "Europe/Kyiv" and d["step_min"] == 30 and "C" not in d["groups"]  # exempt left out
    g = d["groups"]["1.1"]
    assert g["today"] == {"date": "2026-01-12", "scheduled": [1320, 1440],
                          "slots": [{"start": 1350, "end": 1440, "type": "Definite"}]}
    assert g["tomorrow"]["slots"] == [{"start": 0, "end": 30, "type": "Definite"},
                                      {"start": 180, "end": 240, "type": "Possible"},
                                      {"start": 600, "end": 690, "type": "Definite"}]
    assert g["tomorrow"]["scheduled"] == [0, 720]
    # an explicit "today" shifts the window: the schedule covers none of 2026-01-14
    later = s.day_slots(today="2026-01-13")["groups"]["1.2"]
    assert later["today"]["slots"][0] == {"start": 30, "end": 150, "type": "Definite"}
    assert later["tomorrow"] == {"date": "2026-01-14", "scheduled": None, "slots": []}


def test_hourly_grid_golden_and_half_hours():
    s = hand_schedule()
    text = s.hourly_grid_csv_text()
    _check("hourly_grid.csv", text)
    g = s.hourly_grid().set_index(["group", "date"])
    assert g.loc[("1.1", "2026-01-12"), "22-23"] == "on/off" and g.loc[("1.1", "2026-01-12"), "23-24"] == "off"
    assert g.loc[("1.1", "2026-01-12"), "21-22"] == ""  # before the schedule
    assert g.loc[("1.1", "2026-01-13"), "00-01"] == "off/on" and g.loc[("1.1", "2026-01-13"), "03-04"] == "possible"
    assert g.loc[("1.1", "2026-01-13"), "11-12"] == "off/on" and g.loc[("1.2", "2026-01-13"), "11-12"] == "on/possible"
    assert g.loc[("1.1", "2026-01-13"), "12-13"] == ""  # after it
    assert "C" not in set(g.index.get_level_values(0))


def test_hourly_grid_takes_the_most_severe_quarter():
    """With 15-min steps a half hour holding an off quarter is off, a possible one possible."""
    s = hand_schedule(tz=None)
    times = pd.date_range("2026-01-12 00:00", periods=8, freq="15min")
    st = np.zeros((3, 8), np.int8)
    st[0, 1] = OFF        # 00:15-00:30 -> first half hour off
    st[0, 6] = POSSIBLE   # 01:30-01:45 -> second half of hour 01 possible
    st[1, 2:4] = OFF      # 00:30-01:00 -> second half of hour 00 off
    import dataclasses

    q = dataclasses.replace(s, times=times, step_h=0.25, state=st)
    grid = q.hourly_grid().set_index("group")
    assert grid.loc["1.1", "00-01"] == "off/on" and grid.loc["1.1", "01-02"] == "on/possible"
    assert grid.loc["1.2", "00-01"] == "on/off" and grid.loc["1.2", "01-02"] == "on"


def test_ics_golden():
    s = hand_schedule()
    texts = s.ics_texts()
    assert set(texts) == {"1.1", "1.2"}
    for gid, text in texts.items():
        _check(f"group-{gid}.ics", re.sub(r"DTSTAMP:\d{8}T\d{6}Z", "DTSTAMP:<generated>", text))
    assert "DTSTART:20260112T203000Z" in texts["1.1"]  # 22:30 in Kyiv (UTC+2) is 20:30 UTC


def test_export_writes_the_new_forms(tmp_path):
    w = hand_schedule().export(tmp_path / "out", png=False)
    assert (tmp_path / "out" / "slots.json").read_text() == hand_schedule().day_slots_json_text()
    assert w["hourly_grid"].read_text() == hand_schedule().hourly_grid_csv_text()


@pytest.mark.parametrize("step", ["30m", "15m"])
def test_cli_case_half_hour_steps_and_start(tmp_path, step):
    """`schedule --case ... --step 30m --start D --out DIR`: the timetable starts at D on half-hour
    (or quarter-hour) steps and the new exports are written."""
    from gridshield.cli import main

    out = tmp_path / "o"
    main(["schedule", "--case", "synthetic-city", "--damage", "site:S330-North,site:S330-East,site:CHP-Aurora",
          "--hours", "24", "--step", step, "--start", "2026-01-20", "--tz", "Europe/Kyiv", "--method", "heuristic",
          "--split", "2", "--allow-shortfall", "--out", str(out), "--no-png"])
    d = json.loads((out / "schedule.json").read_text())
    assert d["start"] == "2026-01-20T00:00:00+02:00" and d["step_h"] == {"30m": 0.5, "15m": 0.25}[step]
    slots = json.loads((out / "slots.json").read_text())
    assert "1.1" in slots["groups"] and slots["groups"]["1.1"]["today"]["date"] == "2026-01-20"
    grid = pd.read_csv(out / "hourly_grid.csv", dtype=str)
    assert list(grid.columns[:3]) == ["group", "name", "date"] and grid.shape[1] == 27


def test_start_defaults_to_the_next_local_midnight():
    from gridshield.outages.model import next_local_midnight, parse_start

    assert next_local_midnight("Europe/Kyiv", now=pd.Timestamp("2026-01-12T23:30:00+02:00")) == pd.Timestamp("2026-01-13")
    # 23:30 UTC is already 01:30 on the 13th in Kyiv: the next Kyiv midnight is the 14th
    assert next_local_midnight("Europe/Kyiv", now=pd.Timestamp("2026-01-12T23:30:00Z")) == pd.Timestamp("2026-01-14")
    assert parse_start("2026-01-12T06:00+00:00", "Europe/Kyiv") == pd.Timestamp("2026-01-12T08:00")
    from gridshield.errors import GridshieldError

    with pytest.raises(GridshieldError, match="--tz"):
        next_local_midnight("Mars/Olympus")
    with pytest.raises(GridshieldError, match="--start"):
        parse_start("soon")
