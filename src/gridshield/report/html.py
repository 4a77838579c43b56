"""Self-contained HTML reports: one file, plotly.js embedded once, no CDN, no map tiles.

A report is a title, a short summary a decision-maker reads in a minute (key figures and
sentences), then sections of text, figures and tables, then the inputs and seed that reproduce it.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gridshield.io import atomic_write_text


_NUMBER_CELL = re.compile(r"<td>([-–+>]?\s?[0-9][0-9,.]*\s?(?:%|h|MW|°C)?|–|-)</td>")


def _align_numbers(table_html: str) -> str:
    """Mark cells that hold a number (or a dash for none) so that they align right; text aligns left."""
    return _NUMBER_CELL.sub(r"<td class='n'>\1</td>", table_html)


def _inputs_html(inputs: dict[str, Any]) -> str:
    """The inputs as a two-column table; long texts (a scenario file) as preformatted blocks."""
    rows, blocks = [], []
    for k, v in inputs.items():
        text = v if isinstance(v, str) else json.dumps(v, default=str)
        if "\n" in text or len(text) > 160:
            blocks.append(f"<h3>{html.escape(k)}</h3><pre>{html.escape(text)}</pre>")
        else:
            rows.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(text)}</td></tr>")
    return ("<section id='inputs'><h2>Inputs (to reproduce this report)</h2>"
            f"<table class='tbl inputs'>{''.join(rows)}</table>{''.join(blocks)}</section>")


@dataclass(frozen=True)
class Card:
    """A headline figure: the value (with its unit), what it is, and what it describes
    (``note``: "this strike, sample 1" or "mean of 1,000 waves, 95 % CI 172-199 MW")."""

    value: str
    label: str
    note: str = ""


@dataclass(frozen=True)
class Section:
    """One part of a report: a heading, a paragraph, bullet points, then figures and tables
    (pandas frames; a frame with a plain 0..N-1 index is shown without it)."""

    title: str
    text: str = ""
    figures: Sequence[Any] = ()
    tables: Sequence[Any] = ()
    table_titles: Sequence[str] = ()
    bullets: Sequence[str] = ()
    anchor: str = ""


@dataclass(frozen=True)
class Report:
    """A whole report; :meth:`to_html` renders it, :meth:`write` writes it atomically."""

    title: str
    key_figures: dict[str, str] = field(default_factory=dict)
    summary: Sequence[str] = ()
    sections: Sequence[Section] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    cards: Sequence[Card] = ()
    subtitle: str = ""
    warning: str = ""  # shown first, above the summary (e.g. "this run is incomplete")

    def to_html(self) -> str:
        """The report as one self-contained HTML document."""
        from plotly.offline import get_plotlyjs

        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>",
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
            f"<header><h1>{html.escape(self.title)}</h1>",
            f"<p class='meta'>gridshield report, generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
            "Fictional or public test grids only.</p></header>",
        ]
        if self.warning:
            parts.append(f"<p class='warning' role='alert'><b>Warning:</b> {html.escape(self.warning)}</p>")
        if self.subtitle:
            parts.append(f"<p class='lead'>{html.escape(self.subtitle)}</p>")
        cards = list(self.cards) + [Card(str(v), k) for k, v in self.key_figures.items()]
        if cards or self.summary:
            parts.append("<section class='summary'><h2>Summary</h2><div class='cards'>")
            for c in cards:
                note = f"<div class='n'>{html.escape(c.note)}</div>" if c.note else ""
                parts.append(f"<div class='card'><div class='v'>{html.escape(c.value)}</div>"
                             f"<div class='k'>{html.escape(c.label)}</div>{note}</div>")
            parts.append("</div>")
            if self.summary:
                parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in self.summary) + "</ul>")
            parts.append("</section>")
        for i, sec in enumerate(self.sections):
            anchor = f" id='{html.escape(sec.anchor)}'" if sec.anchor else ""
            parts.append(f"<section{anchor}><h2>{html.escape(sec.title)}</h2>")
            if sec.text:
                parts.append(f"<p>{html.escape(sec.text)}</p>")
            if sec.bullets:
                parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in sec.bullets) + "</ul>")
            for j, fig in enumerate(sec.figures):
                parts.append(fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"fig-{i}-{j}",
                                         config={"displaylogo": False}))
            titles = list(sec.table_titles) + [""] * len(sec.tables)
            for t, frame in zip(titles, sec.tables, strict=False):
                if t:
                    parts.append(f"<h3>{html.escape(t)}</h3>")
                plain = isinstance(frame.index, pd.RangeIndex)
                parts.append(_align_numbers(frame.to_html(classes="tbl", border=0, float_format=lambda v: f"{v:,.2f}",
                                                          max_rows=60, index=not plain)))
            parts.append("</section>")
        if self.inputs:
            parts.append(_inputs_html(self.inputs))
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the report to ``path`` (temp file + rename)."""
        return atomic_write_text(path, self.to_html())


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:0 auto;padding:1rem 2rem;color:#222}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
.warning{background:#fff3cd;border:2px solid #d39e00;border-radius:8px;padding:.7rem 1rem;font-size:1.1rem}
.summary{background:#f7f7f7;border-radius:8px;padding:.5rem 1.2rem 1rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{background:white;border-radius:6px;padding:.6rem 1rem;min-width:150px;box-shadow:0 1px 2px #0002}
.card .v{font-size:1.5rem;font-weight:600}.card .k{color:#333;font-size:.9rem}.card .n{color:#777;font-size:.78rem;margin-top:.15rem}
.lead{font-size:1.05rem;color:#333}
table.tbl{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}table.tbl td,table.tbl th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
table.tbl td.n{text-align:right}
table.tbl th{background:#f0f0f0}table.tbl td{white-space:nowrap}
pre{background:#f7f7f7;padding:1rem;overflow:auto;font-size:.8rem}
section{margin-bottom:2rem}
table.tbl.inputs th{text-align:left;white-space:nowrap}table.tbl.inputs td{text-align:left;white-space:normal;word-break:break-all}
"""

__all__ = ["Card", "Report", "Section"]
