"""Readable tables for reports: named columns with units, no index column, yes/no instead of
True/False, "> 96 h" instead of ``inf``, thousands separators, no "147,610.00 people"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

#: Column kinds and how a value of each is written.
KINDS = ("text", "int", "mw", "pct", "share", "h", "yesno", "temp")


def fmt_value(v: Any, kind: str, *, horizon_h: float | None = None) -> str:
    """One cell as text: ``int`` 147,610; ``mw`` 1,234.5; ``pct`` 12.3 % (of 100); ``share`` 12 %
    (of 1); ``h`` 43.4 (``inf`` -> "> horizon h" or "never"); ``yesno``; ``temp`` -10.0 °C."""
    if kind == "text":
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if kind == "yesno":
        return "yes" if bool(v) else "no"
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    x = float(v)
    if kind == "h":
        if math.isinf(x):
            return f"> {horizon_h:g} h" if horizon_h is not None else "never"
        return f"{x:,.1f}"
    if kind == "int":
        return f"{int(round(x)):,}"
    if kind == "mw":
        return f"{x:,.1f}"
    if kind == "pct":
        return f"{x:.1f} %"
    if kind == "share":
        return f"{100 * x:.0f} %"
    if kind == "temp":
        return f"{x:.1f} °C"
    raise ValueError(f"unknown column kind {kind!r}; use one of {KINDS}")


def readable(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], *, horizon_h: float | None = None,
             index_as: str | None = None) -> pd.DataFrame:
    """A table of text cells: ``columns`` lists (source column, header with unit, kind).

    ``index_as`` turns the frame's index into a first column of that name (otherwise the index is
    dropped: reports never show a bare 0..N-1 column).
    """
    src = frame.reset_index() if index_as is not None else frame
    if index_as is not None:
        src = src.rename(columns={src.columns[0]: index_as})
    out = {}
    for col, header, kind in columns:
        out[header] = [fmt_value(v, kind, horizon_h=horizon_h) for v in src[col].tolist()]
    return pd.DataFrame(out)


__all__ = ["KINDS", "fmt_value", "readable"]
