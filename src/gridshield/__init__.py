"""gridshield: keep the lights and the heat on when the grid is under fire.

The public API is this flat namespace; see ``docs/`` for each capability.
"""

from gridshield.errors import GridshieldError, GridValidationError, InfeasibleError, ParseError, UnknownAssetError
from gridshield.grid import (
    Branches,
    Buses,
    Generators,
    Grid,
    Loads,
    Shunts,
    matpower_text,
    parse_matpower,
    read_matpower,
    write_matpower,
)
from gridshield.grid import available as available_cases
from gridshield.grid import load as load_case
from gridshield.flow.dc import DcResult, DcSolver, solve_dc

__version__ = "0.1.0"

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
    "UnknownAssetError",
    "available_cases",
    "load_case",
    "matpower_text",
    "parse_matpower",
    "read_matpower",
    "write_matpower",
    "DcResult",
    "DcSolver",
    "solve_dc",
]
