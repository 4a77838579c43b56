"""Restoration with repair crews: repair tasks, the planner (heuristic, exact MILP, naive) and the resilience curve.

``plan_restoration(grid, damage, crews=6, ...) -> RestorationPlan``; see ``docs/restoration.md``.
"""

from gridshield.restore.curve import RestorationPlan
from gridshield.restore.plan import plan_restoration, restoration_weights
from gridshield.restore.tasks import DEFAULT_DURATIONS_H, RepairTask, build_tasks

__all__ = ["DEFAULT_DURATIONS_H", "RepairTask", "RestorationPlan", "build_tasks", "plan_restoration", "restoration_weights"]
