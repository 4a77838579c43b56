"""Self-contained HTML reports: one file, plotly.js embedded once, no CDN, no map tiles.

A report is a title, a short summary a decision-maker reads in a minute (key figures and
sentences), then sections of text, figures and tables, then the inputs and seed that reproduce it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridshield.io import atomic_write_text


@dataclass(frozen=True)
class Section:
    """One part of a report: a heading, a paragraph, then figures and tables (pandas frames)."""

    title: str
    text: str = ""
    figures: Sequence[Any] = ()
    tables: Sequence[Any] = ()
    table_titles: Sequence[str] = ()


@dataclass(frozen=True)
class Report:
    """A whole report; :meth:`to_html` renders it, :meth:`write` writes it atomically."""

    title: str
    key_figures: dict[str, str] = field(default_factory=dict)
    summary: Sequence[str] = ()
    sections: Sequence[Section] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
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
        if self.key_figures:
            parts.append("<section class='summary'><h2>Summary</h2><div class='cards'>")
            for k, v in self.key_figures.items():
                parts.append(f"<div class='card'><div class='v'>{html.escape(str(v))}</div>"
                             f"<div class='k'>{html.escape(k)}</div></div>")
            parts.append("</div>")
            if self.summary:
                parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in self.summary) + "</ul>")
            parts.append("</section>")
        for i, sec in enumerate(self.sections):
            parts.append(f"<section><h2>{html.escape(sec.title)}</h2>")
            if sec.text:
                parts.append(f"<p>{html.escape(sec.text)}</p>")
            for j, fig in enumerate(sec.figures):
                parts.append(fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"fig-{i}-{j}",
                                         config={"displaylogo": False}))
            titles = list(sec.table_titles) + [""] * len(sec.tables)
            for t, frame in zip(titles, sec.tables, strict=False):
                if t:
                    parts.append(f"<h3>{html.escape(t)}</h3>")
                parts.append(frame.to_html(classes="tbl", border=0, float_format=lambda v: f"{v:,.2f}", max_rows=40))
            parts.append("</section>")
        if self.inputs:
            text = json.dumps(self.inputs, indent=2, default=str)
            parts.append("<section><h2>Inputs (to reproduce this report)</h2>"
                         f"<pre>{html.escape(text)}</pre></section>")
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
.card .v{font-size:1.5rem;font-weight:600}.card .k{color:#555;font-size:.85rem}
table.tbl{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}table.tbl td,table.tbl th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
table.tbl th{background:#f0f0f0}pre{background:#f7f7f7;padding:1rem;overflow:auto;font-size:.8rem}
section{margin-bottom:2rem}
"""

__all__ = ["Report", "Section"]
