"""The ``gridshield`` command: user mistakes end in a one-line error and exit status 2."""

from __future__ import annotations

import pytest

from gridshield.cli import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["n"], "No such command"),  # unknown command (Typer's vendored click exceptions)
        (["pf"], "Missing argument"),
        (["pf", "case9", "--max-iter", "abc"], "--max-iter"),
        (["info", "no-such-case"], "unknown case"),
        (["info", "/nonexistent/x.m"], "does not exist"),
        (["info", "/"], "is a folder"),
    ],
)
def test_usage_errors_exit_2_without_traceback(argv, needle, capsys):
    code, text = _run(argv, capsys)
    assert code == 2
    assert needle in text
    assert "Traceback" not in text


@pytest.mark.parametrize("argv", [["pf", "case9", "--tol", "-1"], ["pf", "case9", "--max-iter", "0"]])
def test_pf_rejects_nonsense_tolerances(argv, capsys):
    code, text = _run(argv, capsys)
    assert code == 2
    assert "error:" in text and "Traceback" not in text


def test_impact_damage_file_with_bad_yaml_is_one_line(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text("damage: [site:S330-East\n  - x: [\n")
    code, text = _run(["impact", "synthetic-city", "--damage-file", str(f)], capsys)
    assert code == 2
    assert "bad.yaml:2: invalid YAML" in text
    assert len(text.strip().splitlines()) == 1, text


def test_impact_from_case_without_damage_tables(capsys):
    code, text = _run(["impact", "synthetic-city", "--from-case"], capsys)
    assert code == 2
    assert "has no mpc.bus_damage" in text


@pytest.mark.parametrize(
    "extra, needle",
    [(["--batch-size", "0"], "--batch-size 0: need at least 1"), (["--evaluator", "no_such_module_x:f"], "cannot import")],
)
def test_risk_option_mistakes(extra, needle, capsys):
    from pathlib import Path

    scen = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    code, text = _run(["risk", str(scen), "-n", "4", "--no-store", "--workers", "1", *extra], capsys)
    assert code == 2
    assert needle in text and "Traceback" not in text


def test_heat_missing_damage_file_is_named(capsys):
    code, text = _run(["heat", "synthetic-city", "-d", "no-such-damage.yaml"], capsys)
    assert code == 2
    assert "cannot read damage file" in text


@pytest.mark.parametrize(
    "extra, needle",
    [(["--duration", "branch:nope=3"], "unknown asset id 'branch:nope'"), (["--time-limit", "-1"], "time_limit_s")],
)
def test_restore_option_mistakes(extra, needle, capsys):
    code, text = _run(["restore", "synthetic-city", "-d", "site:S110-Dockside", *extra], capsys)
    assert code == 2
    assert needle in text and "Traceback" not in text


@pytest.mark.parametrize(
    "extra, needle",
    [(["--block", "0h"], "--block"), (["--tz", "Mars/Base"], "time zone"), (["--time-limit", "-1"], "--time-limit")],
)
def test_schedule_option_mistakes(extra, needle, capsys):
    from pathlib import Path

    ww = Path(__file__).resolve().parents[1] / "examples" / "winter-week"
    argv = ["schedule", "--groups", str(ww / "groups.csv"), "--deficit", str(ww / "deficit.csv"), "--days", "1",
            "--method", "heuristic", *extra]
    code, text = _run(argv, capsys)
    assert code == 2
    assert needle in text and "Traceback" not in text


def test_report_out_must_be_html(capsys):
    code, text = _run(["report", "no-such-run", "--out", "report.pdf"], capsys)
    assert code == 2
    assert "ending in .html" in text


@pytest.mark.parametrize(
    "extra, needle", [(["--port", "99999"], "--port"), (["--job-workers", "0"], "--job-workers")]
)
def test_serve_option_mistakes(extra, needle, capsys):
    code, text = _run(["serve", *extra], capsys)
    assert code == 2
    assert needle in text and "Traceback" not in text


def test_serve_port_in_use(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, text = _run(["serve", "--port", str(s.getsockname()[1])], capsys)
    assert code == 2
    assert "cannot listen" in text


def test_demo_workers_zero_is_an_error(tmp_path, capsys):
    code, text = _run(["demo", "--workers", "0", "--out", str(tmp_path / "d")], capsys)
    assert code == 2
    assert "--workers 0" in text


def test_csv_output_has_no_unnamed_index_column(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "plan.csv"
    code = None
    try:
        main(["restore", "case30", "--damage", "branch:1", "--crews", "1", "--method", "naive", "--out", str(out)])
    except SystemExit as exc:  # pragma: no cover - main only exits on errors
        code = exc.code
    assert code is None
    df = pd.read_csv(out)
    assert df.columns[0] == "crew" and not any(c.startswith("Unnamed") for c in df.columns)


def test_risk_max_samples_zero_is_an_error(capsys):
    from pathlib import Path

    scen = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    code, text = _run(["risk", str(scen), "--until-ci", "1%", "--max-samples", "0", "--no-store"], capsys)
    assert code == 2
    assert "--max-samples 0" in text


def test_runs_export_into_a_file_is_an_error(tmp_path, capsys):
    from pathlib import Path

    scen = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    store = tmp_path / "r.duckdb"
    main(["risk", str(scen), "-n", "3", "--workers", "1", "--store", str(store)])
    from gridshield.store import ResultsStore

    with ResultsStore(store, read_only=True) as st:
        run_id = st.runs()[0].run_id
    f = tmp_path / "x.csv"
    f.write_text("x\n")
    capsys.readouterr()
    code, text = _run(["runs", "--store", str(store), "--export", run_id, "--out", str(f)], capsys)
    assert code == 2
    assert "is a file" in text


def test_version(capsys):
    import gridshield

    try:
        main(["--version"])
    except SystemExit as exc:  # pragma: no cover
        assert exc.code in (0, None)
    assert f"gridshield {gridshield.__version__}" in capsys.readouterr().out


def test_error_text_with_brackets_is_printed_verbatim(capsys):
    # Rich would read "[site:X]" in a message as markup and swallow it
    code, text = _run(["impact", "synthetic-city", "-d", "[site:X]"], capsys)
    assert code == 2
    assert "'[site:X]'" in text


@pytest.mark.parametrize("hours", ["0", "-1"])
def test_schedule_from_case_needs_a_positive_horizon(hours, capsys):
    code, text = _run(["schedule", "--case", "synthetic-city", "--damage", "site:S330-North", "--hours", hours], capsys)
    assert code == 2
    assert "at least 1 hour" in text and "Traceback" not in text


@pytest.mark.parametrize("argv", [["n1", "case9", "--threshold", "-5"], ["rank", "case9", "--k-max", "-1"]])
def test_security_rejects_nonsense_options(argv, capsys):
    code, text = _run(argv, capsys)
    assert code == 2 and "Traceback" not in text
