"""Inputs of a rotating-outage schedule: customer groups, the deficit per time step, the rules.

Users give groups and the deficit as Python objects, pandas frames or CSV/YAML files; everything
is validated (pydantic for records, explicit checks for profiles) and compiled into an
:class:`Instance` of plain NumPy arrays that both solvers (MILP and heuristic) read.

Defaults come from ../shared/DOMAIN.md section 1 (rotating outage schedules as actually run):

* ``block_h = 4``: Kyiv/DTEK kept each outage to at most 4 h (babel.ua/en/news/86167) and the
  Ukrainian rule of thumb is 1 queue ~ 4 h/day (censor.net 3501035).
* ``split = 2`` in :func:`ukraine_queues`: 6 queues split into 12 sub-queues (halves) so that
  0.5, 1.5, 2.5 queues can be ordered (censor.net 3501035; komersant.ua Dec 2024).
* three states: on (white), off (grey), possible outage (light grey) (interfax 882305).
* Eskom stages: Edition 2, stage N = N x 1000 MW; Edition 3 (2023), stage N = N x 5 % of
  demand; stages are cumulative (umfa.co.za; mybroadband 504076; NRS 048-9).
* temperature sensitivity of load: heating below a base of 18 C (HDD base 18 C, cbs.nl; DOMAIN 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gridshield.errors import GridshieldError, ParseError

#: Eskom NRS 048-9 Ed. 2: stage N sheds up to N x 1000 MW (umfa.co.za, quoting Eskom).
ESKOM_STAGE_MW = 1000.0
#: Eskom NRS 048-9 Ed. 3 (2023): each stage is 5 % of non-curtailed demand (mybroadband 504076).
ESKOM_STAGE_PCT = 5.0
#: Heating base temperature for temperature-sensitive load (HDD base 18 C, cbs.nl; DOMAIN 4).
T_REF_C = 18.0

_TRUE = {"1", "true", "yes", "y", "t", "on", "x"}
_FALSE = {"0", "false", "no", "n", "f", "off", ""}


class Group(BaseModel):
    """A customer group (queue / sub-queue / feeder set) that is switched as one.

    Parameters
    ----------
    id : str
        Short id used in files and calendars ("1", "1.1", "north-3").
    name : str
        Human name shown in timetables.
    load_mw : float or list of float, optional
        Load of the group in MW, constant or one value per time step.
    base_mw, mw_per_degc, t_ref_c : float, optional
        Alternative to ``load_mw``: ``base_mw + mw_per_degc * max(0, t_ref_c - T)`` with the
        outdoor temperature T of each step (given with the deficit).
    customers : int
        Number of customers (for customer-hours and the summary).
    switchable : bool
        False for groups that may never be switched (critical infrastructure; feeders that carry
        a hospital, water, heat or telecoms site).
    critical : bool
        Same effect as ``switchable=False``; kept separately for reporting.
    critical_mw : float
        Critical load inside the group on its own feeders, carved out first: only
        ``load - critical_mw`` is shed when the group is off (censor.net 3501035).
    weight : float
        Fairness weight: the scheduler minimises ``max(weight * hours_off)``. 1 = every customer's
        hours count the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = ""
    load_mw: float | list[float] | None = None
    base_mw: float | None = None
    mw_per_degc: float = 0.0
    t_ref_c: float = T_REF_C
    customers: int = Field(default=0, ge=0)
    switchable: bool = True
    critical: bool = False
    critical_mw: float = Field(default=0.0, ge=0.0)
    weight: float = Field(default=1.0, gt=0.0)

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise ValueError("group id is missing")
        s = str(v).strip()
        if isinstance(v, float) and v.is_integer():
            s = str(int(v))
        if not s:
            raise ValueError("group id is empty")
        return s

    @field_validator("switchable", "critical", mode="before")
    @classmethod
    def _boolish(cls, v: Any) -> Any:
        if isinstance(v, str):
            t = v.strip().lower()
            if t in _TRUE:
                return True
            if t in _FALSE:
                return False
            raise ValueError(f"expected yes/no or true/false, got {v!r}")
        return v

    @model_validator(mode="after")
    def _load_given(self) -> Group:
        if self.load_mw is None and self.base_mw is None:
            raise ValueError("give load_mw (MW, constant or per step) or base_mw (+ mw_per_degc)")
        vals = np.atleast_1d(np.asarray(self.load_mw if self.load_mw is not None else self.base_mw, dtype=float))
        if not np.all(np.isfinite(vals)) or np.any(vals < 0):
            raise ValueError("load must be finite and >= 0 MW")
        return self

    @property
    def exempt(self) -> bool:
        """True when the group is never switched off."""
        return (not self.switchable) or self.critical

    def load_profile(self, n: int, temperature_c: np.ndarray | None) -> np.ndarray:
        """Load in MW for each of ``n`` steps."""
        if self.load_mw is not None:
            arr = np.asarray(self.load_mw, dtype=float)
            if arr.ndim == 0:
                return np.full(n, float(arr))
            if arr.shape[0] != n:
                raise GridshieldError(
                    f"group {self.id!r}: load_mw has {arr.shape[0]} values but the deficit has {n} steps; "
                    "give one value or one per step"
                )
            return arr.copy()
        base = np.full(n, float(self.base_mw))
        if self.mw_per_degc:
            if temperature_c is None:
                raise GridshieldError(
                    f"group {self.id!r} has mw_per_degc={self.mw_per_degc} but the deficit has no temperature_c column"
                )
            base = base + self.mw_per_degc * np.maximum(0.0, self.t_ref_c - temperature_c)
        return base


class Rules(BaseModel):
    """Rules of the schedule (all lengths in hours).

    Parameters
    ----------
    block_h : float
        Length of one outage block (2 or 4 h are usual; Kyiv kept outages <= 4 h, babel.ua 86167).
    min_on_h : float, optional
        Minimum time on between two outages of the same group; default = ``block_h``.
    max_off_h_per_day : float, optional
        At most this many hours off per group per calendar day (None = no cap).
    margin_mw, margin_frac : float
        Safety margin: each step must shed ``deficit * (1 + margin_frac) + margin_mw``.
    possible_mw, possible_frac : float
        "Possible outage" (light grey) slots are added so that off + possible covers the deficit
        grown by ``possible_mw + possible_frac * deficit`` (Ukraine, interfax 882305).
    start_every_h : float, optional
        Blocks may start only every this many hours from the horizon start (e.g. 4 for a fixed
        00-04-08 grid); default: any step.
    night_start_h, night_end_h : int
        Local hours that count as night for the day/night spread and the summary.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_h: float = Field(default=4.0, gt=0)
    min_on_h: float | None = Field(default=None, ge=0)
    max_off_h_per_day: float | None = Field(default=None, gt=0)
    margin_mw: float = Field(default=0.0, ge=0)
    margin_frac: float = Field(default=0.0, ge=0)
    possible_mw: float = Field(default=0.0, ge=0)
    possible_frac: float = Field(default=0.0, ge=0)
    start_every_h: float | None = Field(default=None, gt=0)
    night_start_h: int = Field(default=22, ge=0, le=23)
    night_end_h: int = Field(default=6, ge=0, le=23)

    @property
    def min_on(self) -> float:
        return self.block_h if self.min_on_h is None else self.min_on_h


@dataclass(frozen=True)
class DeficitProfile:
    """The deficit per time step (MW) and optional per-step extras.

    ``times`` are the starts of the steps (pandas timestamps, naive = local floating time);
    ``step_h`` is the step length in hours (1 = hourly, 0.5, 0.25 ... for finer).
    """

    times: pd.DatetimeIndex
    step_h: float
    deficit_mw: np.ndarray | None = None
    capacity_mw: np.ndarray | None = None
    stage: np.ndarray | None = None
    possible_mw: np.ndarray | None = None
    temperature_c: np.ndarray | None = None
    source: str = "<deficit>"

    def __len__(self) -> int:
        return len(self.times)


def _read_table(path: Path) -> pd.DataFrame | list | dict:
    if not path.is_file():
        raise GridshieldError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(path.read_text(encoding="utf-8"))
        if suffix == ".json":
            import json

            return json.loads(path.read_text(encoding="utf-8"))
        return pd.read_csv(path, skipinitialspace=True, comment="#", dtype={"id": str})
    except (ValueError, OSError) as exc:
        raise ParseError(str(path), None, f"cannot read: {exc}") from None
    except Exception as exc:  # yaml errors
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]  # one line, not YAML's excerpt
        raise ParseError(str(path), None if line is None else line + 1, f"invalid YAML: {problem}") from None


def _records(obj: Any) -> list[dict]:
    if isinstance(obj, pd.DataFrame):
        df = obj.copy()
        df.columns = [str(c).strip().lower() for c in df.columns]
        recs = []
        for rec in df.to_dict(orient="records"):
            recs.append({k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))})
        return recs
    if isinstance(obj, Mapping):
        if "groups" in obj:
            return _records(obj["groups"])
        return [dict(v, id=k) if isinstance(v, Mapping) else {"id": k, "load_mw": v} for k, v in obj.items()]
    return [r.model_dump() if isinstance(r, Group) else dict(r) for r in obj]


def read_groups(source: Any) -> list[Group]:
    """Customer groups from a CSV/YAML/JSON path, a DataFrame, a list of dicts or of :class:`Group`.

    CSV columns: ``id, name, load_mw | base_mw [, mw_per_degc, t_ref_c], customers, switchable
    [, critical, critical_mw, weight]``.
    """
    where = "<groups>"
    if isinstance(source, (str, Path)):
        where = str(source)
        source = _read_table(Path(source))
    if isinstance(source, Sequence) and source and all(isinstance(g, Group) for g in source):
        groups = list(source)
    else:
        groups = []
        for i, rec in enumerate(_records(source)):
            try:
                groups.append(Group(**rec))
            except ValidationError as exc:
                msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
                raise ParseError(where, i + 2 if where.endswith(".csv") else None,
                                 f"group #{i + 1} ({rec.get('id', '?')}): {msgs}") from None
            except TypeError as exc:
                raise ParseError(where, None, f"group #{i + 1}: {exc}") from None
    if not groups:
        raise GridshieldError(f"{where}: no groups given")
    seen: set[str] = set()
    for g in groups:
        if g.id in seen:
            raise GridshieldError(f"{where}: duplicate group id {g.id!r}; ids must be unique")
        seen.add(g.id)
    return groups


def _infer_step(times: pd.DatetimeIndex, where: str) -> float:
    if len(times) < 2:
        return 1.0
    d = np.diff(times.asi8) / 3.6e12
    if np.any(d <= 0):
        raise GridshieldError(f"{where}: times must be strictly increasing")
    if not np.allclose(d, d[0]):
        raise GridshieldError(f"{where}: times must be evenly spaced (found steps of {sorted(set(np.round(d, 4)))} h)")
    return float(d[0])


def _step_times(start: Any, n: int, step_h: float, where: str) -> pd.DatetimeIndex:
    """``n`` step starts from ``start`` (default: the next local midnight) every ``step_h`` hours; a
    bad or out-of-range start is a one-line error."""
    t0 = parse_start(start, what=f"{where}: start")
    try:
        return pd.date_range(t0, periods=n, freq=pd.Timedelta(hours=step_h))
    except (ValueError, TypeError, OverflowError) as exc:  # pandas' parse and out-of-bounds errors are ValueErrors
        what = "is out of the supported date range" if "bounds" in str(exc).lower() else "is not a date and time"
        raise GridshieldError(f"{where}: start {str(start)!r} {what}; give an ISO date and time, e.g. 2026-12-01T00:00") from None


def read_deficit(source: Any, *, start: Any = None, step_h: float = 1.0) -> DeficitProfile:
    """The deficit profile from a CSV/YAML path, a DataFrame/Series, a dict or a sequence of MW.

    Columns (CSV/DataFrame): ``time`` and one of ``deficit_mw``, ``capacity_mw`` (the deficit is
    then demand - capacity) or ``stage`` (Eskom stages); optional ``possible_mw`` (extra deficit
    that turns possible-outage slots dark) and ``temperature_c``. A YAML file may instead give
    ``start``, ``step_h`` and a list ``deficit_mw``. Naive times are local floating times. Without
    times or ``start`` the profile starts at the next local midnight (:func:`next_local_midnight`).
    """
    where = "<deficit>"
    if isinstance(source, DeficitProfile):
        return source
    if isinstance(source, (str, Path)):
        where = str(source)
        source = _read_table(Path(source))
    if isinstance(source, pd.Series):
        if isinstance(source.index, pd.DatetimeIndex):
            source = pd.DataFrame({"time": source.index, "deficit_mw": source.to_numpy(dtype=float)})
        else:
            source = source.to_numpy(dtype=float)
    if isinstance(source, Mapping) and not isinstance(source, pd.DataFrame):
        if "time" in source or any(isinstance(v, (list, tuple, np.ndarray)) for v in source.values()):
            d = dict(source)
            start = d.pop("start", start)
            step_h = float(d.pop("step_h", step_h))
            if "time" in d:
                source = pd.DataFrame(d)
            else:
                n = max(len(v) for v in d.values() if isinstance(v, (list, tuple, np.ndarray)))
                times = _step_times(start, n, step_h, where)
                source = pd.DataFrame({"time": times, **d})
        else:
            raise GridshieldError(f"{where}: expected columns time + deficit_mw / capacity_mw / stage")
    if isinstance(source, list) and source and isinstance(source[0], Mapping):
        source = pd.DataFrame(source)
    if not isinstance(source, pd.DataFrame):
        arr = np.asarray(source, dtype=float)
        if arr.ndim != 1:
            raise GridshieldError(f"{where}: expected a 1-D sequence of MW")
        times = _step_times(start, arr.shape[0], step_h, where)
        source = pd.DataFrame({"time": times, "deficit_mw": arr})
    df = source.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "time" not in df.columns:
        for alt in ("start", "timestamp", "datetime", "hour"):
            if alt in df.columns:
                df = df.rename(columns={alt: "time"})
                break
        else:
            raise GridshieldError(f"{where}: no 'time' column (found {list(df.columns)})")
    try:
        times = pd.DatetimeIndex(pd.to_datetime(df["time"]))
    except (ValueError, TypeError) as exc:
        raise GridshieldError(f"{where}: column 'time' has a value that is not a date/time: {exc}") from None
    if len(times) == 0:
        raise GridshieldError(f"{where}: no rows")
    step = _infer_step(times, where) if len(times) > 1 else float(step_h)
    if step > 1.0 + 1e-9:
        raise GridshieldError(f"{where}: steps of {step} h; give the deficit hourly or finer")

    def col(name: str) -> np.ndarray | None:
        if name not in df.columns:
            return None
        try:
            arr = pd.to_numeric(df[name]).to_numpy(dtype=float)
        except (ValueError, TypeError) as exc:
            raise GridshieldError(f"{where}: column {name!r}: {exc}") from None
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise GridshieldError(f"{where}: column {name!r} has a missing/non-numeric value in row {bad[0] + 2}")
        return arr

    prof = DeficitProfile(
        times=times, step_h=step, deficit_mw=col("deficit_mw"), capacity_mw=col("capacity_mw"),
        stage=col("stage"), possible_mw=col("possible_mw"), temperature_c=col("temperature_c"), source=where,
    )
    if prof.deficit_mw is None and prof.capacity_mw is None and prof.stage is None:
        raise GridshieldError(f"{where}: needs a column deficit_mw, capacity_mw or stage (found {list(df.columns)})")
    if prof.deficit_mw is not None and np.any(prof.deficit_mw < 0):
        r = int(np.flatnonzero(prof.deficit_mw < 0)[0])
        raise GridshieldError(f"{where}: deficit_mw is negative in row {r + 2}; use 0 for no deficit")
    return prof


def next_local_midnight(tz: str | None = None, now: Any = None) -> pd.Timestamp:
    """The next midnight in time zone ``tz`` (IANA name; None = this machine's local zone), as a
    naive (floating local) timestamp: the default start of every schedule gridshield makes."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        raise GridshieldError(f"--tz {tz!r}: not a known time zone; use an IANA name such as Europe/Kyiv or UTC") from None
    t = pd.Timestamp(now) if now is not None else pd.Timestamp(datetime.now(zone) if zone else datetime.now())
    if t.tzinfo is not None and zone is not None:
        t = t.tz_convert(zone)
    return (t.tz_localize(None) if t.tzinfo is not None else t).normalize() + pd.Timedelta(days=1)


def parse_start(text: Any, tz: str | None = None, what: str = "--start") -> pd.Timestamp:
    """A schedule's start from user text (ISO date or date-time); None = the next local midnight in
    ``tz``. Times with an offset are converted to ``tz`` and returned naive (floating local)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return next_local_midnight(tz)
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise GridshieldError(f"{what} {text!r}: not a date or date-time; write e.g. 2026-01-12 or 2026-01-12T06:00") from None
    if t is pd.NaT or not 2000 <= t.year <= 2100:
        raise GridshieldError(f"{what} {text!r}: give a date between the years 2000 and 2100")
    if t.tzinfo is not None:
        t = (t.tz_convert(tz) if tz else t).tz_localize(None)
    return t


def shift_to_start(profile: DeficitProfile, start: pd.Timestamp) -> DeficitProfile:
    """The same profile moved in time so that its first step begins at ``start`` (steps kept)."""
    import dataclasses

    times = pd.DatetimeIndex(profile.times)
    if times.tz is not None:
        times = times.tz_localize(None)
    return dataclasses.replace(profile, times=pd.DatetimeIndex(pd.Timestamp(start) + (times - times[0])))


def deficit_from_stages(
    stage: Iterable[float], *, stage_mw: float | None = None, stage_pct: float | None = None,
    demand_mw: Iterable[float] | float | None = None,
) -> np.ndarray:
    """Eskom-style stages to a deficit in MW.

    Stage N sheds ``N * stage_mw`` (NRS 048-9 Ed. 2: 1000 MW per stage) or ``N * stage_pct`` % of
    ``demand_mw`` (Ed. 3, 2023: 5 % per stage). Stages are cumulative: stage N includes the MW
    of every lower stage, so the deficit is linear in N (umfa.co.za; mybroadband 504076).
    """
    n = np.asarray(list(stage), dtype=float)
    if np.any(n < 0) or np.any(n != np.round(n)):
        raise GridshieldError("stage must be a whole number >= 0")
    if stage_pct is not None:
        if demand_mw is None:
            raise GridshieldError("stage_pct needs the demand in MW")
        return n * stage_pct / 100.0 * np.broadcast_to(np.asarray(demand_mw, dtype=float), n.shape)
    return n * (ESKOM_STAGE_MW if stage_mw is None else stage_mw)


def ukraine_queues(
    total_mw: float, customers: int, *, queues: int = 6, split: int = 2, critical_mw: float = 0.0,
    prefix: str = "",
) -> list[Group]:
    """Ukrainian-style queues: ``queues`` equal queues of the non-critical load, each split into
    ``split`` sub-queues ("1.1", "1.2", ...).

    Critical load is carved out first (censor.net 3501035) and becomes one exempt group. Defaults:
    6 queues in 12 sub-queues (DOMAIN.md section 1).
    """
    if queues < 1 or split < 1:
        raise GridshieldError("queues and split must be >= 1")
    if critical_mw > total_mw:
        raise GridshieldError("critical_mw is larger than total_mw")
    per = (total_mw - critical_mw) / (queues * split)
    cust = customers // (queues * split)
    out = []
    for q in range(1, queues + 1):
        for s in range(1, split + 1):
            gid = f"{prefix}{q}.{s}" if split > 1 else f"{prefix}{q}"
            out.append(Group(id=gid, name=f"queue {gid}", load_mw=per, customers=cust))
    if critical_mw > 0:
        out.append(Group(id=f"{prefix}critical", name="critical infrastructure", load_mw=critical_mw,
                         switchable=False, critical=True))
    return out


@dataclass(frozen=True)
class Instance:
    """A scheduling problem compiled to arrays (G groups x T steps). Internal to the solvers."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    customers: np.ndarray          # (G,)
    weight: np.ndarray             # (G,)
    exempt: np.ndarray             # (G,) bool
    load_mw: np.ndarray            # (G, T) total load
    shed_mw: np.ndarray            # (G, T) load shed when off (load - critical_mw, 0 if exempt)
    times: pd.DatetimeIndex        # (T,) step starts
    step_h: float
    deficit_mw: np.ndarray         # (T,)
    required_mw: np.ndarray        # (T,) deficit + margin
    possible_required_mw: np.ndarray  # (T,) required + possible extra
    block: int                     # L, steps per block
    min_on: int                    # steps on between two blocks of a group
    max_off_per_day: int | None    # steps
    day: np.ndarray                # (T,) day index 0..D-1
    night: np.ndarray              # (T,) bool
    start_ok: np.ndarray           # (T,) bool: a block may start here (and fits in the horizon)
    rules: Rules
    source: str = ""

    @property
    def n_groups(self) -> int:
        return len(self.ids)

    @property
    def n_steps(self) -> int:
        return len(self.times)

    @property
    def n_days(self) -> int:
        return int(self.day.max()) + 1 if self.day.size else 0

    @property
    def switchable_idx(self) -> np.ndarray:
        return np.flatnonzero(~self.exempt)


def _steps(hours: float, step_h: float, what: str) -> int:
    k = hours / step_h
    if abs(k - round(k)) > 1e-6:
        raise GridshieldError(f"{what} = {hours} h is not a whole number of {step_h} h steps")
    return int(round(k))


def build_instance(groups: Any, deficit: Any, rules: Rules, *, days: float | None = None,
                   stage_mw: float | None = None, stage_pct: float | None = None) -> Instance:
    """Validate and compile groups + deficit + rules into an :class:`Instance`."""
    glist = read_groups(groups)
    prof = read_deficit(deficit)
    times, step = prof.times, prof.step_h
    T = len(times)
    cut = T
    if days is not None:
        cut = min(T, int(round(days * 24 / step)))
        if cut <= 0:
            raise GridshieldError("--days must be > 0")
    sl = slice(0, cut)
    times = times[:cut]
    T = cut
    temp = None if prof.temperature_c is None else prof.temperature_c[sl]
    load = np.vstack([g.load_profile(len(prof), prof.temperature_c)[sl] for g in glist])
    exempt = np.array([g.exempt for g in glist], dtype=bool)
    crit = np.array([g.critical_mw for g in glist])
    shed = np.where(exempt[:, None], 0.0, np.maximum(0.0, load - crit[:, None]))
    demand = load.sum(axis=0)
    if prof.deficit_mw is not None:
        deficit = prof.deficit_mw[sl].astype(float)
    elif prof.capacity_mw is not None:
        deficit = np.maximum(0.0, demand - prof.capacity_mw[sl])
    else:
        deficit = deficit_from_stages(prof.stage[sl], stage_mw=stage_mw, stage_pct=stage_pct, demand_mw=demand)
    del temp
    required = deficit * (1.0 + rules.margin_frac) + np.where(deficit > 0, rules.margin_mw, 0.0)
    extra = rules.possible_mw + rules.possible_frac * deficit
    if prof.possible_mw is not None:
        extra = extra + prof.possible_mw[sl]
    possible_required = np.where(extra > 0, required + extra, required)

    L = _steps(rules.block_h, step, "block length")
    if L < 1:
        raise GridshieldError("block length must be at least one step")
    if L > T:
        raise GridshieldError(f"block length {rules.block_h} h is longer than the horizon ({T * step} h)")
    m = _steps(rules.min_on, step, "minimum time on")
    cap = None
    if rules.max_off_h_per_day is not None:
        cap = int(math.floor(rules.max_off_h_per_day / step + 1e-9))
    every = 1 if rules.start_every_h is None else _steps(rules.start_every_h, step, "start_every_h")
    if every > L:
        raise GridshieldError("start_every_h must not exceed the block length (some hours could not be covered)")
    start_ok = np.zeros(T, dtype=bool)
    start_ok[0: T - L + 1: every] = True
    if not start_ok[T - L]:
        start_ok[T - L] = True  # the last block must be able to cover the end of the horizon
    dates = times.normalize()
    _, day = np.unique(dates.asi8, return_inverse=True)
    hour = times.hour + times.minute / 60.0
    ns, ne = rules.night_start_h, rules.night_end_h
    night = (hour >= ns) | (hour < ne) if ns > ne else (hour >= ns) & (hour < ne)
    return Instance(
        ids=tuple(g.id for g in glist), names=tuple(g.name or g.id for g in glist),
        customers=np.array([g.customers for g in glist], dtype=np.int64),
        weight=np.array([g.weight for g in glist], dtype=float), exempt=exempt,
        load_mw=load, shed_mw=shed, times=times, step_h=step, deficit_mw=deficit,
        required_mw=required, possible_required_mw=possible_required, block=L, min_on=m,
        max_off_per_day=cap, day=day.astype(np.int64), night=np.asarray(night, dtype=bool), start_ok=start_ok,
        rules=rules, source=prof.source,
    )
