"""Grid data model, MATPOWER reader/writer, pandapower import and the case registry."""

from gridshield.grid.cases import available, load
from gridshield.grid.matpower import matpower_text, parse_matpower, read_matpower, write_matpower
from gridshield.grid.model import (
    PRIORITY_CLASSES,
    SITE_CATEGORIES,
    Branches,
    Buses,
    ExtraTable,
    Generators,
    Grid,
    Loads,
    Shunts,
    Sites,
)

__all__ = [
    "PRIORITY_CLASSES",
    "SITE_CATEGORIES",
    "Branches",
    "Buses",
    "ExtraTable",
    "Generators",
    "Grid",
    "Loads",
    "Shunts",
    "Sites",
    "available",
    "load",
    "matpower_text",
    "parse_matpower",
    "read_matpower",
    "write_matpower",
]
