"""Regression tests of issue 13's holes 5-7 that are not a dashboard or crash matter: tracebacks
instead of errors, silently accepted nonsense, and messages written for people."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.cli import main
from gridshield.errors import GridshieldError, ParseError
from tests.test_matpower import CASE9


def _run(argv, capsys):
    """(exit status, stdout, stderr) of the CLI."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- 5: tracebacks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["risk", "{bin}", "--no-store"],
    ["impact", "case9", "--damage-file", "{bin}"],
    ["heat", "synthetic-city", "-d", "site:S110-Fairmont", "--series", "{bin}"],
    ["restore", "case9", "--damage-file", "{bin}"],
    ["info", "{bin_m}"],
])
def test_binary_files_are_one_line_errors(argv, tmp_path, capsys):
    b, m = tmp_path / "binary.yaml", tmp_path / "binary.m"
    for p in (b, m):
        p.write_bytes(bytes(range(256)) * 4)
    code, _, err = _run([a.replace("{bin_m}", str(m)).replace("{bin}", str(b)) for a in argv], capsys)
    assert code == 2
    assert "not UTF-8 text" in _one_error_line(err)


def test_devices_and_folders_are_refused_before_reading(tmp_path):
    from gridshield.io import read_text_file

    with pytest.raises(ParseError, match="not a regular file"):
        read_text_file("/dev/zero", "scenario file")  # would never end
    with pytest.raises(ParseError, match="is a folder"):
        read_text_file(tmp_path, "damage file")


def test_evaluator_that_is_not_a_factory(tmp_path, capsys):
    from pathlib import Path

    scen = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    code, _, err = _run(["risk", str(scen), "--evaluator", "os:system", "-n", "4", "--no-store"], capsys)
    assert code == 2 and "--evaluator 'os:system': does not take (grid, scenario)" in _one_error_line(err)


@pytest.mark.parametrize("value, needle", [("1e308", "whole number of customers"), ("nan", "whole number"),
                                           ("inf", "whole number"), ("-5", "whole number"), ("2.5", "whole number"),
                                           ("'many'", "expected a number")])
def test_gs_load_customers_are_checked(value, needle, tmp_path):
    """gs_* rows with customers 1e308 gave OverflowError, nan or a string ValueError."""
    from gridshield.grid.matpower import read_matpower, write_matpower

    src = tmp_path / "city.m"
    write_matpower(gs.load_case("synthetic-city"), src)
    text = src.read_text()
    row = next(line for line in text.splitlines() if line.startswith("\t'load:"))
    cells = row.split("\t")
    cells[7] = value  # customers
    bad = tmp_path / "bad.m"
    bad.write_text(text.replace(row, "\t".join(cells), 1))
    with pytest.raises(ParseError, match=needle):
        read_matpower(bad)


def test_schedule_start_that_is_not_a_date_is_422():
    from fastapi.testclient import TestClient

    from gridshield.web import create_app

    with TestClient(create_app(None), base_url="http://127.0.0.1:8050") as c:
        r = c.post("/api/schedule", json={"case": "synthetic-city", "deficit_mw": [50.0] * 4, "start": "yesterday"})
    assert r.status_code == 422 and "yesterday" in r.json()["detail"]


# -- 6: nonsense ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [None, "", " , "])
def test_impact_needs_a_damage_or_intact(damage, capsys):
    code, _, err = _run(["impact", "case9"] + ([] if damage is None else ["--damage", damage]), capsys)
    assert code == 2 and "--intact" in _one_error_line(err)
    code, out, _ = _run(["impact", "case9", "--intact"], capsys)
    assert code == 0 and "lost_mw" in out


def test_huge_load_is_refused(tmp_path, capsys):
    """Pd = 1e308 was accepted and printed lost % = inf."""
    p = tmp_path / "huge.m"
    p.write_text(CASE9.replace("\t3\t1\t90\t30\t", "\t3\t1\t1e308\t30\t"))
    code, _, err = _run(["impact", str(p), "--damage", "branch:1"], capsys)
    assert code == 2 and "beyond any grid's magnitude" in _one_error_line(err)


def test_case_without_a_reference_bus_gets_a_note(tmp_path, capsys):
    p = tmp_path / "noref.m"
    p.write_text(CASE9.replace("\t1\t3\t0\t0", "\t1\t2\t0\t0"))
    assert gs.load_case(str(p)).notes()
    code, out, err = _run(["pf", str(p)], capsys)
    assert code == 0 and "note: the case has no reference (slack) bus" in err
    assert gs.load_case("case9").notes() == ()


def test_islands_with_generators_and_no_load_are_stranded_not_energised():
    """1-bus islands without generation output were labelled "energised"."""
    grid = gs.load_case("case9")
    res = gs.assess_damage(grid, ["branch:1"])  # cuts generator bus 1 (no load) from the rest
    by_size = sorted(res.islands, key=lambda i: i.n_buses)
    lone = by_size[0]
    assert lone.n_buses == 1 and lone.demand_mw == 0 and lone.generation_mw == pytest.approx(0.0, abs=1e-9)
    assert lone.status == "stranded" and "no load" in lone.reason
    assert by_size[-1].status == "energised"
    # an island with load and no generation is dark, as before
    dark = gs.assess_damage(grid, ["branch:9", "branch:8"])  # bus 8 (100 MW load) alone
    assert any(i.status == "dark" and i.demand_mw > 0 for i in dark.islands)


# -- 7: messages --------------------------------------------------------------------------------------


def test_markup_and_emoji_codes_print_as_written(capsys):
    code, _, err = _run(["impact", "case9", "--damage", "site:[/]:x:[bold]"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "site:[/]:x:[bold]" in line and "❌" not in line


def test_usage_errors_are_one_line(capsys):
    code, _, err = _run(["restore", "case9", "--crews", "abc"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "'--crews'" in line and "gridshield restore --help" in line


def test_scenario_errors_are_one_line(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\ngrid: case9\nwaves:\n  - {weapon: drone, launched: 1000000000000, targets: []}\n")
    code, _, err = _run(["risk", str(p), "--no-store"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "waves[0].launched.fixed" in line and "waves[0].targets" in line


def test_messages_show_numbers_not_numpy_reprs(tmp_path):
    p = tmp_path / "nan.m"
    p.write_text(CASE9.replace("\t3\t1\t90\t30\t", "\t3\t1\tNaN\t30\t"))
    with pytest.raises(GridshieldError) as exc:
        gs.read_matpower(p)
    assert "np.float64" not in str(exc.value) and "nan" in str(exc.value)
    with pytest.raises(GridshieldError) as exc:
        gs.ImpactModel(gs.load_case("case9"), relay_threshold=np.float64(-1.0))
    assert str(exc.value).startswith("--relay-threshold -1:")
