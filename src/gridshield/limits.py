"""Upper bounds on every size-like input, checked before anything is allocated.

Each bound is either derived from the machine (memory available to this process, usable CPU
cores) or a domain maximum (no utility runs 10,000 repair crews; no wave has a million drones).
A value outside its bound raises :class:`LimitError`, whose one-line message names the option,
the limit and why, e.g.::

    --samples 1000000000000: at most 11,868,187 here: each sample keeps ~808 B of results in
    memory (20 areas) and 9.6 GB may be used; run fewer samples per run, or use --until-ci

Other modules use :func:`check_int` / :func:`check_real` with the constants below, so that a bound
lives in one place.
"""

from __future__ import annotations

import math
import os
from numbers import Real
from pathlib import Path

from gridshield.errors import GridshieldError

# -- domain maxima ------------------------------------------------------------------------------

#: Weapons launched in one wave (fixed, Poisson mean or uniform upper end). The largest reported
#: waves against Ukraine's grid were a few hundred weapons; 10,000 leaves room for what-ifs.
MAX_LAUNCHED_PER_WAVE = 10_000
#: Waves in one scenario.
MAX_WAVES = 100
#: Target and protected entries in one wave.
MAX_TARGETS_PER_WAVE = 10_000
#: Observed counts (``shot_down`` / ``launched``) of a past wave.
MAX_OBSERVED = 1_000_000
#: Repair crews (more crews than damaged assets change nothing).
MAX_CREWS = 10_000
#: Hours simulated by ``heat`` and restoration curves (one year).
MAX_HOURS = 8_760
#: Sub-groups a rotating-outage group may be split into.
MAX_SPLIT = 64
#: Groups x time steps of one rotating-outage schedule (e.g. 500 sub-queues for 3 months of hours).
MAX_SCHEDULE_CELLS = 1_000_000
#: Seconds any solver time limit may be (a week).
MAX_TIME_LIMIT_S = 7 * 24 * 3600.0
#: Samples per batch / store transaction.
MAX_BATCH_SIZE = 100_000
#: Buses of a grid whose strike the dashboard and the report assess with the AC load delivery
#: (``model="ac"``, an Ipopt solve of up to a few seconds at this size; larger grids would hold
#: a dashboard worker or a report for long). The CLI's ``impact --model ac`` has no such bound.
MAX_AC_BUSES = 3000
#: Buses a dashboard map is drawn for (the map JSON grows with the grid; larger grids get no map).
MAX_MAP_BUSES = 20_000
#: Bytes of a scenario YAML file (a scenario is a few kB).
MAX_SCENARIO_BYTES = 2_000_000
#: Bytes of any other text input read whole (damage files, CSV tables, heat series).
MAX_TEXT_FILE_BYTES = 200_000_000
#: Total bytes of dashboard uploads kept on disk at once (default; ``serve --max-upload-total-mb``).
DEFAULT_UPLOAD_TOTAL_BYTES = 1_000_000_000

#: Memory one local worker process needs (measured ~220 MB on the synthetic city and case2869pegase).
WORKER_BYTES = 250_000_000
#: Memory kept for the rest of the process and the operating system when sizing by memory.
_MEMORY_SHARE = 0.5


class LimitError(GridshieldError):
    """A size-like input exceeds its bound (the message names the option, the limit and why)."""


# -- the machine --------------------------------------------------------------------------------


def _cgroup_memory_left() -> int | None:
    """Bytes this process's cgroup (v2 or v1) may still allocate, or None when unlimited / unknown."""
    v1 = "/sys/fs/cgroup/memory/memory."
    for limit_f, usage_f in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                             (v1 + "limit_in_bytes", v1 + "usage_in_bytes")):
        try:
            raw = Path(limit_f).read_text().strip()
            if raw == "max" or int(raw) >= 1 << 60:
                return None
            return max(int(raw) - int(Path(usage_f).read_text().strip()), 0)
        except (OSError, ValueError):
            continue
    return None


def available_memory_bytes() -> int:
    """Memory this process may still use: ``MemAvailable`` of /proc/meminfo, capped by the cgroup limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 2 * 1024**3  # unknown: assume a small machine
    cg = _cgroup_memory_left()
    return int(min(avail, cg) if cg is not None else avail)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def memory_budget_bytes() -> int:
    """Share of the available memory one run may plan to fill with its results."""
    return int(available_memory_bytes() * _MEMORY_SHARE)


def max_workers() -> int:
    """Most local worker processes: the usable cores, fewer if their memory does not fit."""
    return max(1, min(usable_cores(), available_memory_bytes() // WORKER_BYTES))


def fmt_bytes(n: float) -> str:
    """``23.5 GB``, ``250 MB``, ``12 kB`` (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} B"


# -- checks -------------------------------------------------------------------------------------


def _show(value: object) -> str:
    """A user's value as they would type it (never a numpy repr)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        f = float(value)
        if math.isfinite(f) and f == int(f) and abs(f) < 1e18:
            return str(int(f))
        return repr(f) if math.isfinite(f) else str(f)
    return repr(value) if isinstance(value, str) else str(value)


def check_int(option: str, value: object, *, low: int = 1, high: int, why: str = "") -> int:
    """``value`` as an int in ``[low, high]``, else :class:`LimitError` naming ``option``, the bound and ``why``.

    ``why`` completes "at most HIGH ..." (e.g. ``"(each sample keeps ~1 kB in memory)"``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, Real)):
        raise LimitError(f"{option} {_show(value)}: expected a whole number")
    f = float(value)
    if not math.isfinite(f) or f != int(f):
        raise LimitError(f"{option} {_show(value)}: expected a whole number")
    n = int(value)
    if n < low:
        raise LimitError(f"{option} {_show(value)}: need at least {low:,}")
    if n > high:
        tail = f" {why}" if why else ""
        raise LimitError(f"{option} {_show(value)}: at most {high:,}{tail}")
    return n


def check_real(option: str, value: object, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, why: str = "") -> float:
    """``value`` as a finite float within the bounds, else :class:`LimitError` naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise LimitError(f"{option} {_show(value)}: expected a number")
    f = float(value)
    if not math.isfinite(f):
        raise LimitError(f"{option} {_show(value)}: expected a finite number")
    if low is not None and (f < low or (low_open and f == low)):
        raise LimitError(f"{option} {_show(value)}: must be {'above' if low_open else 'at least'} {low:g}")
    if high is not None and f > high:
        tail = f" {why}" if why else ""
        raise LimitError(f"{option} {_show(value)}: at most {high:g}{tail}")
    return f


def check_workers(option: str, value: object) -> int:
    """Local worker processes: 1 .. :func:`max_workers` (cores, and the memory each worker needs)."""
    cores = usable_cores()
    high = max_workers()
    why = (f"on this machine ({cores} usable cores, ~{fmt_bytes(WORKER_BYTES)} per worker, "
           f"{fmt_bytes(available_memory_bytes())} available)")
    return check_int(option, value, low=1, high=high, why=why)


__all__ = [
    "DEFAULT_UPLOAD_TOTAL_BYTES", "MAX_BATCH_SIZE", "MAX_CREWS", "MAX_HOURS", "MAX_LAUNCHED_PER_WAVE", "MAX_MAP_BUSES",
    "MAX_OBSERVED", "MAX_SCENARIO_BYTES", "MAX_SCHEDULE_CELLS", "MAX_SPLIT", "MAX_TARGETS_PER_WAVE",
    "MAX_TEXT_FILE_BYTES", "MAX_TIME_LIMIT_S", "MAX_WAVES", "WORKER_BYTES", "LimitError", "available_memory_bytes",
    "check_int", "check_real", "check_workers", "fmt_bytes", "max_workers", "memory_budget_bytes", "usable_cores",
]
