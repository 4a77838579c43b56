"""gridshield: keep the lights and the heat on when the grid is under fire.

The public API is this flat namespace; see ``docs/`` for each capability. Names other than the
grid model are imported on first use, so that ``import gridshield`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from gridshield.errors import GridshieldError, GridValidationError, InfeasibleError, ParseError, UnknownAssetError
from gridshield.grid import (
    Branches,
    Buses,
    Generators,
    Grid,
    Loads,
    Shunts,
    Sites,
    matpower_text,
    parse_matpower,
    read_matpower,
    write_matpower,
)
from gridshield.grid import available as available_cases
from gridshield.grid import load as load_case

__version__ = "0.1.0"

#: Public name -> module that defines it (one line per name; add yours here).
_LAZY: dict[str, str] = {
    "from_pandapower": "gridshield.grid.pandapower",
    "to_pandapower": "gridshield.grid.pandapower",
    "read_pandapower_json": "gridshield.grid.pandapower",
    "from_pypowsybl": "gridshield.grid.powsybl",
    "read_powsybl": "gridshield.grid.powsybl",
    "solve_dc": "gridshield.flow.dc",
    "DcResult": "gridshield.flow.dc",
    "DcSolver": "gridshield.flow.dc",
    "ptdf": "gridshield.flow.sensitivity",
    "lodf": "gridshield.flow.sensitivity",
    "outage_flows": "gridshield.flow.sensitivity",
    "multi_outage_flows": "gridshield.flow.sensitivity",
    "solve_ac": "gridshield.flow.ac",
    "AcResult": "gridshield.flow.ac",
    "AcSolver": "gridshield.flow.ac",
    "Damage": "gridshield.impact",
    "ImpactModel": "gridshield.impact",
    "ImpactResult": "gridshield.impact",
    "assess_damage": "gridshield.impact",
    "screen_n1": "gridshield.security",
    "ac_security": "gridshield.security",
    "AcSecurityResult": "gridshield.security",
    "worst_case": "gridshield.security",
    "rank_assets": "gridshield.security",
    "plan_protection": "gridshield.security",
    "run_risk": "gridshield.threat",
    "RiskResult": "gridshield.threat",
    "ResultsStore": "gridshield.store",
    "plan_restoration": "gridshield.restore",
    "RestorationPlan": "gridshield.restore",
    "assess_heat": "gridshield.heat",
    "HeatNetwork": "gridshield.heat",
    "HeatResult": "gridshield.heat",
    "scale_for_temperature": "gridshield.heat",
    "rotating_schedule": "gridshield.outages",
    "Schedule": "gridshield.outages",
    "ScheduleInfeasibleError": "gridshield.outages",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'gridshield' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Branches",
    "Buses",
    "Generators",
    "Grid",
    "GridValidationError",
    "GridshieldError",
    "InfeasibleError",
    "Loads",
    "ParseError",
    "Shunts",
    "Sites",
    "UnknownAssetError",
    "available_cases",
    "load_case",
    "matpower_text",
    "parse_matpower",
    "read_matpower",
    "write_matpower",
    *_LAZY,
]
