"""Plot builders: figure content (traces, colours of dark / damaged buses, values)."""

from __future__ import annotations

import numpy as np

from gridshield.report.plots import (
    STATE_COLORS,
    loss_distribution_figure,
    network_figure,
    ranking_figure,
    resilience_figure,
    save_figure,
    timetable_figure,
)


def test_network_figure_states(case118, tmp_path):
    en = np.ones(len(case118.buses), bool)
    en[:10] = False
    lost = np.where(np.isin(case118.loads.bus, np.arange(10)), case118.loads.p_mw, 0.0)
    fig = network_figure(case118, bus_energised=en, damaged_ids=["branch:5", "bus:3"], load_lost_mw=lost)
    by_name = {t.name: t for t in fig.data}
    dark = by_name["buses: dark"]
    assert dark.marker.color == STATE_COLORS["dark"]
    assert set(dark.customdata) == {f"bus:{n}" for n in case118.buses.number[:10]} - {"bus:3"}
    assert list(by_name["buses: damaged"].customdata) == ["bus:3"]
    assert by_name["lines: damaged"].line.color == STATE_COLORS["damaged"]
    # markers sized by MW lost: the bus with the largest loss gets the largest marker
    assert max(dark.marker.size) == 30.0
    p = save_figure(fig, tmp_path / "net.html")
    html = p.read_text()
    assert len(html) > 1_000_000 and "<script src=\"http" not in html  # plotly.js embedded, no CDN


def test_overloaded_branches(case9):
    load = np.zeros(len(case9.branches))
    load[2] = 130.0
    fig = network_figure(case9, branch_loading_pct=load)
    over = [t for t in fig.data if t.name == "lines: overloaded"][0]
    assert over.line.color == STATE_COLORS["overloaded"] and len(over.x) == 3


def test_layout_without_coordinates_is_finite_and_deterministic(case118):
    from gridshield.report.plots import layout_xy

    x1, y1 = layout_xy(case118)
    x2, y2 = layout_xy(case118)
    assert np.all(np.isfinite(x1)) and np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_other_figures():
    fig = loss_distribution_figure([0, 10, 20, 500], p90=300.0, p99=480.0, cvar95=500.0)
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["P90 300 MW", "P99 480 MW", "CVaR95 500 MW"]
    fig = resilience_figure([0, 5, 10], [40, 80, 100], heat_pct=[20, 60, 100])
    assert list(fig.data[0].y) == [40, 80, 100] and fig.data[0].line.shape == "hv"
    fig = ranking_figure(["a", "b", "c"], [1.0, 3.0, 2.0])
    assert list(fig.data[0].y) == ["a", "c", "b"]
    fig = timetable_figure(["Q1", "Q2"], ["00", "01"], np.array([[0, 2], [1, 0]]))
    assert fig.data[0].z.tolist() == [[0, 2], [1, 0]]


def test_report_is_self_contained(case118, tmp_path):
    import pandas as pd

    from gridshield.report.html import Report, Section

    fig = network_figure(case118)
    rep = Report(
        title="Test report",
        key_figures={"expected MW lost": "123 ± 4"},
        summary=["Districts A and B went dark."],
        sections=[Section("Map", "What went dark.", figures=[fig, fig], tables=[pd.DataFrame({"a": [1.5]})],
                          table_titles=["numbers"])],
        inputs={"seed": 7},
    )
    p = rep.write(tmp_path / "r.html")
    text = p.read_text()
    assert text.count("<script type='text/javascript'>") == 1  # plotly.js embedded once
    assert "<script src" not in text  # nothing fetched: works offline
    assert "123 ± 4" in text and "Districts A and B went dark." in text and "<th>seed</th><td>7</td>" in text
    assert 'id="fig-0-0"' in text and 'id="fig-0-1"' in text
