"""Errors raised for user mistakes.

Every user-facing problem (a malformed file, an unknown asset id, infeasible settings) raises a
subclass of :class:`GridshieldError` whose message names the file, line or field and the fix.
The CLI prints the message without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GridshieldError(Exception):
    """Base class of every error gridshield raises for bad input or settings."""


class ParseError(GridshieldError):
    """A file could not be parsed; the message names the file, the line and what was expected."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class GridValidationError(GridshieldError):
    """A grid model is inconsistent (duplicate ids, dangling references, bad numbers)."""


class UnknownAssetError(GridshieldError, KeyError):
    """An asset id does not exist in the grid; the message lists the closest matches."""

    def __init__(self, asset_id: str, known: Iterable[str], what: str = "asset"):
        self.asset_id = asset_id
        close = difflib.get_close_matches(asset_id, list(known), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        self.message = f"unknown {what} id {asset_id!r}.{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class InfeasibleError(GridshieldError):
    """The requested problem has no solution under the given settings."""
