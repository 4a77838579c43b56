"""District heating: the heat network read from a grid, building cool-down, people without heat.

``assess_heat(grid, damage, temperature_c=-10, hours=96) -> HeatResult``; see ``docs/heat.md``.
"""

from gridshield.heat.cooldown import (
    BUILDING_CLASSES,
    BUILDING_TAU_H,
    COLD_C,
    DRAIN_C,
    INDOOR_START_C,
    crossing_hours,
    hours_to,
    indoor_temperature,
    simulate,
)
from gridshield.heat.network import (
    HEATING_BASE_C,
    HEATING_SHARE,
    HeatNetwork,
    HeatResult,
    HeatStatus,
    assess_heat,
    damage_masks,
    heat_off,
    load_factor,
    scale_for_temperature,
)

__all__ = [
    "BUILDING_CLASSES",
    "BUILDING_TAU_H",
    "COLD_C",
    "DRAIN_C",
    "HEATING_BASE_C",
    "HEATING_SHARE",
    "INDOOR_START_C",
    "HeatNetwork",
    "HeatResult",
    "HeatStatus",
    "assess_heat",
    "crossing_hours",
    "damage_masks",
    "heat_off",
    "hours_to",
    "indoor_temperature",
    "load_factor",
    "scale_for_temperature",
    "simulate",
]
