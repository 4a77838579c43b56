"""The :class:`Schedule` result and its exports (CSV, JSON, iCalendar, HTML, PNG)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridshield.errors import GridshieldError
from gridshield.io import atomic_write, atomic_write_bytes, atomic_write_text
from gridshield.outages.core import EPS, OFF, ON, POSSIBLE, STATE_NAMES, runs_of

_COLORS = {ON: "#ffffff", OFF: "#6b6b6b", POSSIBLE: "#d3d3d3"}
#: Slot types of :meth:`Schedule.day_slots` (the words Yasno's planned-outages JSON uses).
SLOT_TYPES = {OFF: "Definite", POSSIBLE: "Possible"}
#: Severity order when a half hour holds several finer steps: off > possible > on.
_SEVERITY = np.array([0, 2, 1])  # indexed by state: ON 0, OFF 1, POSSIBLE 2
_BY_SEVERITY = (ON, POSSIBLE, OFF)


@dataclass(frozen=True, eq=False)
class Schedule:
    """A rotating-outage schedule: the state of every group in every step.

    Attributes
    ----------
    group_ids, group_names : tuple of str
    customers : ndarray (G,)
    exempt : ndarray (G,) bool -- never switched (critical / not switchable)
    times : DatetimeIndex (T,) -- step starts (naive = local floating time, see ``tz``)
    step_h : float -- step length in hours
    state : ndarray (G, T) int8 -- 0 on (white), 1 off (grey), 2 possible outage (light grey)
    load_mw, shed_mw : ndarray (G, T) -- load of each group and the MW shed when it is off
    deficit_mw, required_mw, possible_required_mw : ndarray (T,) -- deficit, deficit + margin,
        and the grown deficit the possible-outage slots must cover
    shed_total_mw, shortfall_mw : ndarray (T,) -- MW switched off by firm outages; MW of the
        requirement left uncovered (all zero when the coverage guarantee holds)
    method : str -- "milp" or "heuristic" (which solver produced this schedule)
    status : str -- solver status ("optimal", "time limit reached", "heuristic", ...)
    fairness_h : float -- max over switchable groups of weight x hours off (objective 1)
    bound_h : float or None -- proven lower bound on ``fairness_h`` (None without one)
    runtime_s : float
    """

    group_ids: tuple[str, ...]
    group_names: tuple[str, ...]
    customers: np.ndarray
    weight: np.ndarray
    exempt: np.ndarray
    times: pd.DatetimeIndex
    step_h: float
    state: np.ndarray
    load_mw: np.ndarray
    shed_mw: np.ndarray
    deficit_mw: np.ndarray
    required_mw: np.ndarray
    possible_required_mw: np.ndarray
    shed_total_mw: np.ndarray
    shortfall_mw: np.ndarray
    method: str
    status: str
    fairness_h: float
    bound_h: float | None
    runtime_s: float
    block_steps: int
    min_on_steps: int
    max_off_steps_per_day: int | None
    night: np.ndarray
    day: np.ndarray
    rules: dict = field(default_factory=dict)
    tz: str | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v.setflags(write=False)

    # ------------------------------------------------------------------ metrics
    @property
    def n_groups(self) -> int:
        return len(self.group_ids)

    @property
    def n_steps(self) -> int:
        return len(self.times)

    @property
    def end(self) -> pd.Timestamp:
        return self.times[-1] + pd.Timedelta(hours=self.step_h)

    @property
    def covered(self) -> bool:
        """True when every step's firm outages cover the deficit plus margin (the hard guarantee)."""
        return bool(np.all(self.shed_total_mw >= self.required_mw - 1e-6))

    @property
    def gap_h(self) -> float | None:
        """Distance of ``fairness_h`` from the proven bound, in (weighted) hours."""
        return None if self.bound_h is None else max(0.0, self.fairness_h - self.bound_h)

    @property
    def gap(self) -> float | None:
        """Relative distance from the bound, ``(fairness - bound) / fairness``."""
        if self.bound_h is None:
            return None
        return 0.0 if self.fairness_h <= EPS else max(0.0, (self.fairness_h - self.bound_h) / self.fairness_h)

    @property
    def hours_off(self) -> np.ndarray:
        return (self.state == OFF).sum(axis=1) * self.step_h

    @property
    def hours_possible(self) -> np.ndarray:
        return (self.state == POSSIBLE).sum(axis=1) * self.step_h

    @property
    def night_off_h(self) -> np.ndarray:
        return ((self.state == OFF) & self.night[None, :]).sum(axis=1) * self.step_h

    @property
    def outages(self) -> np.ndarray:
        """Number of separate outages per group (each is one switch off and one back on)."""
        return np.array([sum(1 for _, _, v in runs_of(r) if v == OFF) for r in self.state], dtype=np.int64)

    @property
    def longest_off_h(self) -> np.ndarray:
        return np.array([max([(b - a) for a, b, v in runs_of(r) if v == OFF], default=0) for r in self.state]) * self.step_h

    @property
    def night_outages(self) -> np.ndarray:
        """Outages that include at least one night step."""
        out = []
        for r in self.state:
            out.append(sum(1 for a, b, v in runs_of(r) if v == OFF and self.night[a:b].any()))
        return np.array(out, dtype=np.int64)

    @property
    def customer_hours(self) -> float:
        return float(self.customers @ self.hours_off)

    def summary(self) -> pd.DataFrame:
        """Per-group summary: hours off, possible hours, outages, longest outage, night outages."""
        return pd.DataFrame({
            "group": list(self.group_ids), "name": list(self.group_names), "customers": self.customers,
            "exempt": self.exempt, "hours_off": self.hours_off, "hours_possible": self.hours_possible,
            "outages": self.outages, "longest_off_h": self.longest_off_h, "night_off_h": self.night_off_h,
            "night_outages": self.night_outages,
            "max_off_h_in_a_day": self.max_off_h_per_day(),
        })

    def max_off_h_per_day(self) -> np.ndarray:
        D = int(self.day.max()) + 1 if self.day.size else 0
        per = np.zeros((self.n_groups, max(D, 1)))
        for d in range(D):
            per[:, d] = (self.state[:, self.day == d] == OFF).sum(axis=1) * self.step_h
        return per.max(axis=1)

    def check(self) -> list[str]:
        """Verify the schedule against its rules; returns a list of violations (empty = all hold)."""
        bad = []
        short = np.flatnonzero(self.shed_total_mw < self.required_mw - 1e-6)
        for t in short[:10]:
            bad.append(f"{self._fmt(t)}: sheds {self.shed_total_mw[t]:.2f} MW < required {self.required_mw[t]:.2f} MW")
        L, m = self.block_steps, self.min_on_steps
        for g, gid in enumerate(self.group_ids):
            row = self.state[g]
            if self.exempt[g] and np.any(row != ON):
                bad.append(f"group {gid} is exempt but switched")
            firm = (row == OFF).astype(np.int8)
            runs = [(a, b) for a, b, v in runs_of(firm) if v == 1]
            for a, b in runs:
                if (b - a) % L:
                    bad.append(f"group {gid}: outage {self._fmt(a)} lasts {(b - a) * self.step_h} h, not a whole block")
            for (a1, b1), (a2, b2) in zip(runs, runs[1:]):
                if a2 - b1 < m:
                    bad.append(f"group {gid}: on for only {(a2 - b1) * self.step_h} h before {self._fmt(a2)}")
            if m > 0:
                for a, b in runs:
                    if b - a != L:
                        bad.append(f"group {gid}: outage at {self._fmt(a)} is {(b - a) * self.step_h} h (blocks merge)")
        if self.max_off_steps_per_day is not None:
            D = int(self.day.max()) + 1
            for d in range(D):
                n = (self.state[:, self.day == d] == OFF).sum(axis=1)
                for g in np.flatnonzero(n > self.max_off_steps_per_day):
                    bad.append(f"group {self.group_ids[g]}: {n[g] * self.step_h} h off on day {d + 1}")
        return bad

    def _fmt(self, t: int) -> str:
        return self.times[t].strftime("%Y-%m-%d %H:%M")

    # ------------------------------------------------------------------ tables
    def intervals(self, states: tuple[int, ...] = (ON, OFF, POSSIBLE)) -> list[dict]:
        rows = []
        for g, gid in enumerate(self.group_ids):
            for a, b, v in runs_of(self.state[g]):
                if v in states:
                    rows.append({"group": gid, "start": self.times[a], "end": self.times[a] + pd.Timedelta(hours=(b - a) * self.step_h),
                                 "state": STATE_NAMES[v]})
        return rows

    def to_frame(self) -> pd.DataFrame:
        """One row per interval of constant state: group, start, end, state (on/off/possible)."""
        return pd.DataFrame(self.intervals(), columns=["group", "start", "end", "state"])

    def hourly_frame(self) -> pd.DataFrame:
        """Wide table: time, deficit, required, shed, shortfall, then one state column per group."""
        df = pd.DataFrame({"time": self.times, "deficit_mw": self.deficit_mw, "required_mw": self.required_mw,
                           "shed_mw": self.shed_total_mw, "shortfall_mw": self.shortfall_mw})
        for g, gid in enumerate(self.group_ids):
            df[gid] = [STATE_NAMES[v] for v in self.state[g]]
        return df

    # ------------------------------------------------------------------ published forms
    def _local_times(self) -> pd.DatetimeIndex:
        """Step starts as naive local times (in ``tz`` when the times carry a zone)."""
        t = pd.DatetimeIndex(self.times)
        return t.tz_localize(None) if t.tz is not None else t

    def half_hours(self) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """The schedule on a half-hour grid: starts (naive local) and states (G, H), where a half
        hour holding several finer steps takes the most severe state (off > possible > on)."""
        t = self._local_times()
        if self.step_h >= 0.5:
            k = int(round(self.step_h / 0.5))
            starts = pd.DatetimeIndex([x + pd.Timedelta(minutes=30 * i) for x in t for i in range(k)])
            return starts, np.repeat(self.state, k, axis=1)
        k = int(round(0.5 / self.step_h))
        n = len(t) // k * k
        if n == 0:
            raise GridshieldError("the schedule is shorter than half an hour; no half-hour grid")
        sev = _SEVERITY[self.state[:, :n]].reshape(self.n_groups, n // k, k).max(axis=2)
        return t[:n:k], np.asarray(_BY_SEVERITY, np.int8)[sev]

    def day_slots(self, today: Any = None) -> dict:
        """Per switchable group, today's and tomorrow's outage slots in minutes from local midnight.

        ``today`` (a date; default: the schedule's first day) and the next day each give
        ``{"date", "scheduled": [from_min, to_min], "slots": [{"start", "end", "type"}]}`` where
        ``type`` is ``Definite`` (off) or ``Possible`` (possible outage) and ``scheduled`` is the
        part of the day the schedule covers (``null`` when it covers none of it). The shape
        follows the per-group today/tomorrow JSON that Ukrainian DSOs publish (Yasno).
        """
        t = self._local_times()
        ends = t + pd.Timedelta(hours=self.step_h)
        day0 = pd.Timestamp(today).normalize() if today is not None else t[0].normalize()
        days = {"today": day0, "tomorrow": day0 + pd.Timedelta(days=1)}
        minutes = ((t - day0) / pd.Timedelta(minutes=1)).to_numpy()
        end_min = ((ends - day0) / pd.Timedelta(minutes=1)).to_numpy()
        out: dict[str, Any] = {}
        for g, gid in enumerate(self.group_ids):
            if self.exempt[g]:
                continue
            rec: dict[str, Any] = {"name": self.group_names[g]}
            for key, off_d in zip(days, (0, 1440), strict=True):
                lo, hi = max(float(minutes[0]) - off_d, 0.0), min(float(end_min[-1]) - off_d, 1440.0)
                slots = []
                for a, b, v in runs_of(self.state[g]):
                    if v == ON:
                        continue
                    s0, s1 = max(minutes[a] - off_d, 0.0), min(end_min[b - 1] - off_d, 1440.0)
                    if s1 > s0:
                        slots.append({"start": int(round(s0)), "end": int(round(s1)), "type": SLOT_TYPES[v]})
                rec[key] = {"date": days[key].strftime("%Y-%m-%d"),
                            "scheduled": [int(round(lo)), int(round(hi))] if hi > lo else None, "slots": slots}
            out[gid] = rec
        return {"timezone": self.tz, "start": self.times[0].isoformat(), "step_min": int(round(self.step_h * 60)),
                "groups": out}

    def hourly_grid(self) -> pd.DataFrame:
        """The hourly table DSOs publish: one row per switchable group and day, columns
        ``00-01`` .. ``23-24``. A cell reads ``on``, ``off`` or ``possible``, or ``A/B`` when its two
        half hours differ (first half A, second half B, e.g. ``on/off`` = off from hh:30); hours
        outside the schedule are empty."""
        starts, st = self.half_hours()
        names = ("on", "off", "possible")
        rows = []
        days = pd.DatetimeIndex(starts.normalize()).unique()
        slot = ((starts - starts.normalize()) / pd.Timedelta(minutes=30)).to_numpy().astype(int)
        for g, gid in enumerate(self.group_ids):
            if self.exempt[g]:
                continue
            for d in days:
                half = np.full(48, -1)
                m = starts.normalize() == d
                half[slot[m]] = st[g, m]
                row = {"group": gid, "name": self.group_names[g], "date": d.strftime("%Y-%m-%d")}
                for h in range(24):
                    a, b = half[2 * h], half[2 * h + 1]
                    if a < 0 and b < 0:
                        cell = ""
                    elif a == b or b < 0 or a < 0:
                        cell = names[max(a, b)] if a < 0 or b < 0 else names[a]
                    else:
                        cell = f"{names[a]}/{names[b]}"
                    row[f"{h:02d}-{h + 1:02d}"] = cell
                rows.append(row)
        return pd.DataFrame(rows)

    def hourly_grid_csv_text(self) -> str:
        """The :meth:`hourly_grid` as CSV text."""
        return self.hourly_grid().to_csv(index=False)

    def day_slots_json_text(self, today: Any = None) -> str:
        """The :meth:`day_slots` as JSON text."""
        return json.dumps(self.day_slots(today), indent=1, ensure_ascii=False) + "\n"

    def report(self) -> dict:
        """Solver report: method, status, fairness value, bound, gap, coverage."""
        short = np.flatnonzero(self.shortfall_mw > EPS)
        return {
            "method": self.method, "status": self.status, "fairness_h": self.fairness_h, "bound_h": self.bound_h,
            "gap_h": self.gap_h, "gap": self.gap, "runtime_s": self.runtime_s, "covered": self.covered,
            "uncovered_steps": int(short.size), "max_shortfall_mw": float(self.shortfall_mw.max(initial=0.0)),
            "uncovered_mwh": float(self.shortfall_mw.sum() * self.step_h),
            "customer_hours_off": self.customer_hours, "switchings": int(self.outages.sum()) * 2,
        }

    def to_dict(self) -> dict:
        """JSON-ready dict: report, rules, groups summary, intervals and the per-step series."""
        iso = [t.isoformat() for t in self.times]
        summ = self.summary()
        return {
            "report": self.report(),
            "rules": dict(self.rules),
            "timezone": self.tz,
            "start": iso[0], "end": self.end.isoformat(), "step_h": self.step_h,
            "groups": [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
                for rec in summ.to_dict(orient="records")
            ],
            "intervals": [
                {"group": r["group"], "start": r["start"].isoformat(), "end": r["end"].isoformat(), "state": r["state"]}
                for r in self.intervals()
            ],
            "steps": {
                "time": iso, "deficit_mw": self.deficit_mw.tolist(), "required_mw": self.required_mw.tolist(),
                "possible_required_mw": self.possible_required_mw.tolist(),
                "shed_mw": self.shed_total_mw.tolist(), "shortfall_mw": self.shortfall_mw.tolist(),
            },
            "state": {gid: [STATE_NAMES[v] for v in self.state[g]] for g, gid in enumerate(self.group_ids)},
        }

    # ------------------------------------------------------------------ exports
    def to_csv(self, path: str | Path) -> Path:
        """Machine-friendly CSV: group,start,end,state (ISO 8601 times)."""
        df = self.to_frame()
        df["start"] = [t.isoformat() for t in df["start"]]
        df["end"] = [t.isoformat() for t in df["end"]]
        return atomic_write(path, lambda p: df.to_csv(p, index=False))

    def to_csv_text(self) -> str:
        """The CSV of :meth:`to_csv` as a string."""
        df = self.to_frame()
        df["start"] = [t.isoformat() for t in df["start"]]
        df["end"] = [t.isoformat() for t in df["end"]]
        return df.to_csv(index=False)

    def ics_texts(self, *, include_possible: bool = True) -> dict[str, str]:
        """iCalendar text per switchable group id (what :meth:`to_ics` writes)."""
        from gridshield.outages.ics import calendar_text

        return {gid: calendar_text(self, g, include_possible=include_possible)
                for g, gid in enumerate(self.group_ids) if not self.exempt[g]}

    def to_json(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def to_ics(self, directory: str | Path, *, include_possible: bool = True) -> list[Path]:
        """One iCalendar (RFC 5545) file per switchable group, ``<dir>/group-<id>.ics``.

        Times with a zone are written in UTC (``...Z``); naive times are floating local times,
        and the zone the user gave (if any) is stated in ``X-WR-TIMEZONE``.
        """
        from gridshield.outages.ics import calendar_text

        out = []
        d = Path(directory)
        for g, gid in enumerate(self.group_ids):
            if self.exempt[g]:
                continue
            text = calendar_text(self, g, include_possible=include_possible)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in gid)
            out.append(atomic_write_bytes(d / f"group-{safe}.ics", text.encode("utf-8")))
        return out

    def to_html(self, path: str | Path | None = None, *, title: str = "Rotating outage schedule") -> str:
        """Printable HTML timetable (one table per day, groups x hours; white = on, grey = off,
        light grey = possible outage) with the per-group summary. Writes it if ``path`` is given."""
        from gridshield.outages.render import html_timetable

        text = html_timetable(self, title=title)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def figure(self, title: str = "Rotating outage schedule"):
        from gridshield.outages.render import figure

        return figure(self, title=title)

    def to_png(self, path: str | Path, *, title: str = "Rotating outage schedule", scale: float = 1.0) -> Path:
        """PNG timetable via plotly + kaleido (``pip install kaleido==0.2.1``, extra ``png``)."""
        try:
            import kaleido  # noqa: F401
        except ImportError:
            raise GridshieldError("PNG export needs kaleido: pip install 'kaleido==0.2.1' (extra 'png'); "
                                  "the HTML timetable works without it") from None
        fig = self.figure(title=title)
        data = fig.to_image(format="png", scale=scale, engine="kaleido")
        return atomic_write_bytes(path, data)

    def export(self, directory: str | Path, *, png: bool = True) -> dict[str, Any]:
        """Write every export into ``directory``: schedule.csv, schedule.json, summary.csv,
        steps.csv, timetable.html, timetable.png (if kaleido works), ics/group-*.ics, slots.json
        (:meth:`day_slots`) and hourly_grid.csv (:meth:`hourly_grid`)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        written: dict[str, Any] = {}
        written["csv"] = self.to_csv(d / "schedule.csv")
        written["json"] = self.to_json(d / "schedule.json")
        summ = self.summary()
        written["summary"] = atomic_write(d / "summary.csv", lambda p: summ.to_csv(p, index=False))
        hourly = self.hourly_frame()
        hourly["time"] = [t.isoformat() for t in hourly["time"]]
        written["steps"] = atomic_write(d / "steps.csv", lambda p: hourly.to_csv(p, index=False))
        written["html"] = d / "timetable.html"
        self.to_html(written["html"])
        written["ics"] = self.to_ics(d / "ics")
        written["slots"] = atomic_write_text(d / "slots.json", self.day_slots_json_text())
        written["hourly_grid"] = atomic_write_text(d / "hourly_grid.csv", self.hourly_grid_csv_text())
        if png:
            try:
                written["png"] = self.to_png(d / "timetable.png")
            except Exception as exc:  # kaleido missing or its Chromium cannot start here
                written["png_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return written
