"""Rotating outage (load-shedding) schedules: fair, published timetables of which customer groups
are off when, with exemptions for critical loads, exported to CSV / JSON / iCalendar / HTML / PNG.

Entry point: :func:`rotating_schedule` (also ``gridshield.rotating_schedule``) -> :class:`Schedule`.
"""

from gridshield.outages.grid import deficit_from_impact, groups_from_grid
from gridshield.outages.model import (
    ESKOM_STAGE_MW,
    ESKOM_STAGE_PCT,
    DeficitProfile,
    Group,
    Rules,
    deficit_from_stages,
    read_deficit,
    read_groups,
    ukraine_queues,
)
from gridshield.outages.schedule import Schedule
from gridshield.outages.solve import ScheduleInfeasibleError, rotating_schedule, split_groups

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
