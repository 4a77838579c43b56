"""Property test of the whole CLI (issue 13): every command, discovered from the Typer app with its
options, is driven with generated values and files — valid, boundary (0, -1, 1), absurd (1e12,
1e308, NaN, inf), binary, empty, path-like and markup-like strings — and must end in exit 0, or
exit 2 with one ``error:`` line and no traceback, within a time and a memory bound.

Commands and options are read from the app at test time, so commands and options added later are
covered without editing this file; only the value pools know a few option names (to reach the
valid paths more often). Each command line runs in a forked child of a server that has imported
gridshield once (tests/cli_forkserver.py): a fresh copy of the fixture folder, ``RLIMIT_DATA`` and
a wall-clock limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_matpower import CASE9

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 90.0  # a valid command on the small fixtures takes seconds; a hang or a huge loop does not end
MEMORY_MB = 1500  # peak resident memory a command may add to the imported server
#: Commands that serve until stopped: the dashboard has its own route tests (tests/test_web_routes.py).
RUN_FOREVER = {"serve"}
EXAMPLES_PER_COMMAND = 14
#: Commands whose valid runs take many seconds (the demo tells the whole story) get fewer examples.
EXAMPLES = {"demo": 4, "nk": 8, "report": 8}


# -- discovery ---------------------------------------------------------------------------------------


def discover() -> dict[str, list[dict]]:
    """``{command: [param, ...]}`` from the Typer app; a param is ``{name, opts, kind, multiple, flag,
    required, argument}`` with ``kind`` one of int, float, str, path, bool."""
    import typer.main

    from gridshield.cli import _register_commands, app

    _register_commands()
    group = typer.main.get_command(app)
    callbacks = {(c.name or c.callback.__name__.replace("_", "-")): c.callback for c in app.registered_commands}
    out = {}
    for name, cmd in sorted(group.commands.items()):
        hints = typing.get_type_hints(callbacks[name])
        params = []
        for p in cmd.params:
            kind = _kind(hints.get(p.name, str))
            params.append({
                "name": p.name, "opts": [o for o in p.opts if o.startswith("--")] or list(p.opts),
                "kind": kind, "multiple": bool(getattr(p, "multiple", False)), "flag": bool(getattr(p, "is_flag", False)),
                "secondary": list(getattr(p, "secondary_opts", []) or []), "required": bool(p.required),
                "argument": type(p).__name__.endswith("Argument"),
            })
        out[name] = params
    return out


def _kind(hint) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is list:
        hint = typing.get_args(hint)[0]
    return {int: "int", float: "float", bool: "bool", Path: "path"}.get(hint, "str")


COMMANDS = discover()


def test_discovery_sees_the_app():
    assert {"impact", "risk", "restore", "heat", "schedule", "runs", "report", "n1", "pf"} <= set(COMMANDS)
    risk = {p["name"]: p for p in COMMANDS["risk"]}
    assert risk["samples"]["kind"] == "int" and risk["store"]["kind"] == "path" and risk["no_store"]["flag"]


# -- fixtures and value pools ----------------------------------------------------------------------------

SCENARIO = """name: fuzz
grid: {case: case9.m, sites: {A: [1], B: [2], C: [3]}}
waves:
  - {weapon: drone, launched: 4, interception: 0.5, targets: [{class: site, weight: 1}]}
"""
FILES = {
    "case9.m": CASE9,
    "scenario.yaml": SCENARIO,
    "damage.yaml": "damage: [branch:1]\n",
    "bad.yaml": "damage: [branch:1\n  - {\n",
    "empty.txt": "",
    "temps.csv": "temperature_c\n-10\n-12\n-15\n-11\n",
    "groups.csv": (ROOT / "examples" / "winter-week" / "groups.csv").read_text(),
    "deficit.csv": (ROOT / "examples" / "winter-week" / "deficit.csv").read_text(),
    "notduck.duckdb": "this is not a database\n",
    "nan.csv": "time,deficit_mw\n2026-01-01T00:00,nan\n2026-01-01T01:00,1e308\n",
}
BINARY = bytes(range(256)) * 8 + b"\xff\xfe\x00\x00" * 64

PATHS_IN = ["case9.m", "scenario.yaml", "damage.yaml", "bad.yaml", "empty.txt", "binary.bin", "temps.csv", "groups.csv",
            "deficit.csv", "nan.csv", "notduck.duckdb", "folder", "missing.yaml", "missing/x.m", ""]
PATHS_OUT = ["out.json", "out.csv", "out.parquet", "out.html", "out.txt", "folder", "outdir", "missing/deep/out.json",
             "case9.m", "runs.duckdb", ""]
STRINGS = ["", " ", "x", "[/]", "[bold]x", ":x:", "nan", "inf", "-1", "0", "1e12", "1e308", "💥" * 3, "a" * 300,
           "../../x", "%s%n", "--help"]
BY_NAME: dict[str, list[str]] = {
    "case": ["case9.m", "case9", "synthetic-city", "nonexistent-case", "binary.bin", "empty.txt", "folder",
             "scenario.yaml", "case9"],
    "damage": ["branch:1", "bus:2", "gen:1", "branch:1,bus:3", "site:nowhere", "branch:0", "branch:99999999999999999999",
               ",", "branch:1,branch:1", "site:S110-Fairmont"],
    "source": ["scenario.yaml", "nope-run", "binary.bin", "empty.txt", "missing.yaml"],
    "scenario": ["scenario.yaml", "binary.bin", "empty.txt", "bad.yaml", "missing.yaml"],
    "block": ["4h", "2h", "90m", "0h", "-1h", "1e9h", "yesterday"],
    "start": ["2026-12-01T00:00", "yesterday", "99999-01-01", "1677-01-01"],
    "until_ci": ["1%", "0.01", "0%", "100%", "nan%", "-1", "1e308"],
    "dask": ["local:0", "local:100000", "local:x", "nonsense"],
    "evaluator": ["os:system", "math:pi", "no_such_mod_x:f", "gridshield.threat.sampling:local_loss_evaluator"],
    "resume": ["nope-run", "../x", ""],
    "show": ["nope-run", ""],
    "export": ["nope-run"],
    "tz": ["Europe/Kyiv", "Mars/Phobos", ""],
    "elements": ["branches", "gens,sites", "nonsense", "", ","],
    "spares": ["autotransformer=1", "x=-1", "x=1e12", "=", "x=nan"],
    "duration": ["line=8", "line=-1", "line=1e308", "line=nan", "branch:1=30"],
    "margin": ["5%", "20MW", "-5%", "1e308MW", "nan%"],
    "possible": ["10%", "50MW", "1e12%", "x"],
    "max_off_per_day": ["8h", "0h", "1e9h"],
    "min_on": ["4h", "0h", "-4h", "1e9h"],
    "start_every": ["4h", "0h", "1e9h"],
    "costs": ["site=1", "x=-1", "nope"],
    "budget": ["1", "0", "-1", "1e12", "nan"],
    "rate": ["a", "b", "z"],
    "method": ["auto", "heuristic", "milp", "exact", "nonsense"],
}
INTS = ["0", "1", "2", "-1", "3", "1000000000000", str(2**63), "-1000000000000", "1e12", "abc"]
FLOATS = ["0", "-1", "0.5", "1", "100", "1e308", "-1e308", "inf", "nan", "1e-320", "abc"]


def make_fixtures(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_text(text)
    (folder / "binary.bin").write_bytes(BINARY)
    (folder / "folder").mkdir(exist_ok=True)


#: Values likely to be valid, so that examples also reach the commands' real work.
VALID_BY_NAME: dict[str, list[str]] = {
    "case": ["case9", "case9.m", "case9", "synthetic-city"], "damage": ["branch:1", "bus:2", "site:S110-Fairmont"],
    "scenario": ["scenario.yaml"], "source": ["scenario.yaml"], "damage_file": ["damage.yaml"], "series": ["temps.csv"],
    "groups": ["groups.csv"], "deficit": ["deficit.csv"], "out": ["out.json", "out.csv"], "curve": ["out.csv"],
    "html": ["out.html"], "store": ["runs.duckdb"], "block": ["4h"], "tz": ["Europe/Kyiv"], "elements": ["branches"],
}
VALID_BY_KIND = {"int": ["1", "2", "3"], "float": ["0.5", "1", "10"], "path": ["case9.m"], "str": []}


def value_strategy(param: dict) -> st.SearchStrategy[str]:
    """Half the draws from values likely valid, half from hostile ones."""
    name, kind = param["name"], param["kind"]
    if name in BY_NAME:
        hostile = BY_NAME[name] + STRINGS[:6]
    elif kind == "int":
        hostile = INTS
    elif kind == "float":
        hostile = FLOATS
    elif kind == "path":
        hostile = PATHS_OUT if name in ("out", "curve", "html", "store") else PATHS_IN
    else:
        hostile = STRINGS
    valid = VALID_BY_NAME.get(name) or VALID_BY_KIND[kind]
    return st.one_of(st.sampled_from(valid), st.sampled_from(hostile)) if valid else st.sampled_from(hostile)


@st.composite
def command_lines(draw, command: str) -> list[str]:
    argv = [command]
    for p in COMMANDS[command]:
        if p["argument"]:
            if p["required"] or draw(st.booleans()):
                argv.append(draw(value_strategy(p)))
            continue
        if draw(st.integers(0, 9)) >= 3:  # each option present in ~30 % of the examples
            continue
        if p["flag"]:
            opts = p["opts"] + p["secondary"]
            argv.append(draw(st.sampled_from(opts)))
            continue
        for _ in range(draw(st.integers(1, 2)) if p["multiple"] else 1):
            argv += [p["opts"][0], draw(value_strategy(p))]
    return argv


# -- the fork server -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-props")
    template, work = base / "template", base / "work"
    make_fixtures(template)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.cli_forkserver", str(template), str(work)], cwd=ROOT,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    hello = json.loads(proc.stdout.readline())
    assert hello["ready"]

    def run(argv: list[str]) -> dict:
        proc.stdin.write(json.dumps({"argv": argv, "timeout_s": TIMEOUT_S, "mem_mb": MEMORY_MB + 500}) + "\n")
        return json.loads(proc.stdout.readline())

    yield run
    proc.stdin.close()
    proc.wait(timeout=30)


def check(argv: list[str], r: dict) -> None:
    """exit 0, or exit 2 with one ``error:`` line; never a traceback, a hang or a memory blow-up."""
    shown = " ".join(argv)
    assert not r["timed_out"], f"`gridshield {shown}` ran past {TIMEOUT_S:.0f} s"
    assert "Traceback (most recent call last)" not in r["stderr"] + r["stdout"], f"`gridshield {shown}`:\n{r['stderr']}"
    assert r["rc"] in (0, 2), f"`gridshield {shown}` exited {r['rc']}:\n{r['stderr'][-3000:]}"
    assert r["peak_mb"] < MEMORY_MB, f"`gridshield {shown}` used {r['peak_mb']:.0f} MB"
    for text in (r["stderr"], r["stdout"]):
        assert "np.float64(" not in text and "np.int64(" not in text, f"`gridshield {shown}`: numpy repr in {text!r}"
    if r["rc"] == 2:
        lines = [x for x in r["stderr"].splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], f"`gridshield {shown}`: not one error line:\n{r['stderr']}"


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(set(COMMANDS) - RUN_FOREVER))
def test_every_command_ends_cleanly(command, server):
    @settings(max_examples=EXAMPLES.get(command, EXAMPLES_PER_COMMAND), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(argv=command_lines(command))
    def prop(argv):
        check(argv, server(argv))

    prop()


@pytest.mark.parametrize("argv", [
    ["risk", "scenario.yaml", "--samples", "1000000000000", "--no-store"],
    ["risk", "scenario.yaml", "--workers", "500", "--no-store", "-n", "4"],
    ["risk", "scenario.yaml", "--dask", "local:0", "--no-store", "-n", "4"],
    ["risk", "scenario.yaml", "--evaluator", "os:system", "--no-store", "-n", "4"],
    ["risk", "binary.bin", "--no-store"],
    ["restore", "case9.m", "--damage", "branch:1", "--crews", "1000000000"],
    ["heat", "synthetic-city", "--damage", "site:S110-Fairmont", "--hours", "1000000000"],
    ["heat", "synthetic-city", "--damage", "site:S110-Fairmont", "--series", "binary.bin"],
    ["impact", "case9.m", "--damage-file", "binary.bin"],
    ["schedule", "--case", "synthetic-city", "--damage", "site:S110-Fairmont", "--hours", "10000000"],
    ["schedule", "-g", "groups.csv", "-d", "deficit.csv", "--split", "100000"],
    ["impact", "case9.m", "--damage", "[/]:x:"],
])
def test_issue_13_reproducers(argv, server):
    """The inputs of the issue's attack pass that ended in a traceback, a hang or gigabytes."""
    r = server(argv)
    check(argv, r)
    assert r["rc"] == 2, r
