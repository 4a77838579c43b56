"""Rotating outage (load-shedding) schedules: fair, published timetables of which customer groups
are off when, with exemptions for critical loads, exported to CSV / JSON / iCalendar / HTML / PNG.

Entry point: :func:`rotating_schedule` (also ``gridshield.rotating_schedule``) -> :class:`Schedule`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and the submodule each lives in, imported on first use (the CLI registers the
#: ``schedule`` command without loading pandas).
_LAZY = {
    "deficit_from_impact": "grid", "groups_from_grid": "grid",
    "ESKOM_STAGE_MW": "model", "ESKOM_STAGE_PCT": "model", "DeficitProfile": "model", "Group": "model",
    "Rules": "model", "deficit_from_stages": "model", "read_deficit": "model", "read_groups": "model",
    "ukraine_queues": "model", "Schedule": "schedule", "ScheduleInfeasibleError": "solve",
    "rotating_schedule": "solve", "split_groups": "solve",
}


def __getattr__(name: str) -> Any:
    sub = _LAZY.get(name)
    if sub is None:
        raise AttributeError(f"module 'gridshield.outages' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gridshield.outages.{sub}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ESKOM_STAGE_MW",
    "ESKOM_STAGE_PCT",
    "DeficitProfile",
    "Group",
    "Rules",
    "Schedule",
    "ScheduleInfeasibleError",
    "deficit_from_impact",
    "deficit_from_stages",
    "groups_from_grid",
    "read_deficit",
    "read_groups",
    "rotating_schedule",
    "split_groups",
    "ukraine_queues",
]
