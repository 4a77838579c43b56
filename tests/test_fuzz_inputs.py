"""Mutation fuzz of gridshield's readers (issue 13): 10,000 mutated MATPOWER files (seeds from
MATPOWER, PGLib, PowerModelsRestoration and gridshield's own export), mutated threat scenarios,
schedule tables, damage files and temperature series. Each input either reads or raises one of
gridshield's own errors; nothing else (no IndexError, ValueError, OverflowError, RecursionError...).

The mutations are drawn from a seeded generator, so a failure names a reproducible input.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from gridshield.errors import GridshieldError
from tests.conftest import SHARED_CASES
from tests.test_matpower import CASE9

ROOT = Path(__file__).resolve().parents[1]
N_MATPOWER = 10_000

#: Values a number may be replaced with: extremes, non-numbers, MATLAB words.
NUMBERS = ["1e308", "-1e308", "1e309", "nan", "NaN", "Inf", "-Inf", "0", "-1", "1e-320", "99999999999999999999", "abc",
           "''", "'x'", "[]", "1/0", "0/0", "sqrt(-1)", "1e12", "-0", "2^1024", "pi", "end", "i"]
#: Fragments inserted at random places.
TOKENS = [";", "[", "]", "{", "}", "'", "%", "=", "mpc.x = ", "function ", "...", "\n", "\t", ",", "(", ")", "*", "/",
          "mpc.bus = [", "];", "mpc.gen(1, 2) = 5;", "if 1", "end", "%{", "%}", "\ufffd", "\u202e", "NaN", "1e308",
          "mpc.baseMVA = 0;", "mpc.gs_load = {", "'load:1'", "idx_bus;", "x = [1 2 3];", "mpc.bus(:, 3) = 1e308;"]
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def mutate(text: str, rng: np.random.Generator, tokens: list[str], numbers: list[str]) -> str:
    """One to three random edits: a number replaced, a fragment inserted, a line deleted, doubled or
    swapped, a character replaced, or the text truncated."""
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 7))
        lines = text.split("\n")
        if kind == 0:
            nums = list(_NUM.finditer(text))
            if nums:
                m = nums[int(rng.integers(len(nums)))]
                text = text[: m.start()] + numbers[int(rng.integers(len(numbers)))] + text[m.end():]
        elif kind == 1:
            at = int(rng.integers(len(text) + 1))
            text = text[:at] + tokens[int(rng.integers(len(tokens)))] + text[at:]
        elif kind == 2 and lines:
            del lines[int(rng.integers(len(lines)))]
            text = "\n".join(lines)
        elif kind == 3 and lines:
            k = int(rng.integers(len(lines)))
            lines.insert(k, lines[k])
            text = "\n".join(lines)
        elif kind == 4 and len(lines) > 1:
            a, b = (int(x) for x in rng.integers(len(lines), size=2))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif kind == 5 and text:
            at = int(rng.integers(len(text)))
            text = text[:at] + chr(int(rng.choice([0x20, 0x7E, 0x0A, 0x22, 0x27, 0x5C, 0xA0, 0x3B, 0x30, 0x2D]))) + text[at + 1:]
        else:
            text = text[: int(rng.integers(len(text) + 1))]
    return text


def matpower_seeds() -> list[tuple[str, str]]:
    """Small cases from each source (small keeps 10,000 parses within CI's time)."""
    import gridshield as gs
    from gridshield.grid.cases import matpower_data_dir
    from gridshield.grid.matpower import write_matpower

    seeds = [("inline-case9", CASE9)]
    d = matpower_data_dir()
    if d is not None:
        seeds += [(n, (d / f"{n}.m").read_text()) for n in ("case9", "case5", "case4gs") if (d / f"{n}.m").is_file()]
    for sub, names in (("pglib", ("pglib_opf_case3_lmbd.m", "pglib_opf_case5_pjm.m")),
                       ("pmr", ("case3_mld.m", "case5_mld_strg.m", "case3_restoration_total_dmg.m"))):
        for n in names:
            p = SHARED_CASES / sub / n
            if p.is_file():
                seeds.append((f"{sub}/{n}", p.read_text()))
    # gridshield's own export, with its gs_* metadata tables (a small grid keeps it fast)
    import tempfile

    grid = gs.load_case("case9")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export.m"
        write_matpower(grid, out)
        seeds.append(("gridshield-export", out.read_text()))
    return seeds


def _reads_or_refuses(read, text: str, label: str) -> str:
    """'ok' or 'refused'; any other exception fails with the input that caused it."""
    try:
        read(text)
    except GridshieldError:
        return "refused"
    except Exception as exc:  # noqa: BLE001 - exactly what this test looks for
        raise AssertionError(f"{label}: {type(exc).__name__}: {exc}\n--- input ---\n{text[:3000]}") from exc
    return "ok"


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. NaN cast to an integer column: garbage, not an error
def test_matpower_parser_mutation_fuzz():
    from gridshield.grid.matpower import parse_matpower

    seeds = matpower_seeds()
    assert len(seeds) >= 3
    rng = np.random.default_rng(20261128)
    outcome = {"ok": 0, "refused": 0}
    t0 = time.perf_counter()
    for i in range(N_MATPOWER):
        name, seed = seeds[i % len(seeds)]
        text = mutate(seed, rng, TOKENS, NUMBERS)
        outcome[_reads_or_refuses(lambda t, n=name: parse_matpower(t, path=n), text, f"input {i} from {name}")] += 1
    elapsed = time.perf_counter() - t0
    assert sum(outcome.values()) == N_MATPOWER
    assert outcome["ok"] > 500 and outcome["refused"] > 1000, outcome  # the mutations reach both outcomes
    print(f"{N_MATPOWER} mutated .m inputs from {len(seeds)} seeds in {elapsed:.1f} s: {outcome}")


YAML_TOKENS = [":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!python/object:os.system ", "!!binary ", "? ", "|", ">",
               "\t", "'", '"', "#", "1e12", ".inf", ".nan", "null", "~", "launched: 1000000000000", "weight: -1",
               "waves: []", "grid: 5", "case: /etc/passwd", "x: &b [*b]", "<<: *a", "\u0000"]
YAML_NUMBERS = ["1e308", "-1", "0", ".inf", ".nan", "1000000000000", "abc", "null", "[]", "{}", "true", "0.5", "1e-320",
                "99999999999999999999"]


@pytest.mark.slow
def test_scenario_mutation_fuzz():
    """Scenario YAML from the examples, mutated: parsed without path resolution (as from the dashboard)
    and, when valid, compiled against its grid."""
    from gridshield.threat.sampling import check_scenario
    from gridshield.threat.scenario import scenario_from_text

    seeds = [p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml"))]
    assert seeds
    rng = np.random.default_rng(7)
    outcome = {"ok": 0, "refused": 0}

    def read(text: str) -> None:
        sc = scenario_from_text(text, "fuzz")
        if sc.grid.case in ("synthetic-city", "case118", "case30", "case9"):
            check_scenario(sc)

    for i in range(1500):
        text = mutate(seeds[i % len(seeds)], rng, YAML_TOKENS, YAML_NUMBERS)
        outcome[_reads_or_refuses(read, text, f"scenario input {i}")] += 1
    assert outcome["ok"] > 50 and outcome["refused"] > 300, outcome


CSV_TOKENS = [",", "\n", '"', ";", "#", "nan", "inf", "-1", "1e308", "yes", "no", "", "2026-13-45T25:61", "id", "time",
              "\ufeff", "\r", "  ", "x,y,z", "deficit_mw", "1e12"]


@pytest.mark.slow
def test_table_inputs_mutation_fuzz(tmp_path):
    """Schedule groups and deficit tables, damage files and heat temperature series."""
    import gridshield as gs
    from gridshield.heat.commands import read_temperature_series
    from gridshield.impact import Damage
    from gridshield.outages.model import read_deficit, read_groups

    case9 = gs.load_case("case9")
    week = ROOT / "examples" / "winter-week"
    cases = [
        ("groups.csv", (week / "groups.csv").read_text(), read_groups),
        ("deficit.csv", (week / "deficit.csv").read_text(), read_deficit),
        ("damage.yaml", "damage: [branch:1, bus:5, gen:2]\n", lambda p: Damage.from_file(p, case9)),
        ("damage.json", '{"damage": ["branch:1", "bus:5"]}', lambda p: Damage.from_file(p, case9)),
        ("temps.csv", "temperature_c\n-10\n-12.5\n-15\n", read_temperature_series),
    ]
    rng = np.random.default_rng(11)
    for name, seed, reader in cases:
        outcome = {"ok": 0, "refused": 0}
        path = tmp_path / name
        for i in range(300):
            path.write_text(mutate(seed, rng, CSV_TOKENS, NUMBERS), encoding="utf-8")
            outcome[_reads_or_refuses(lambda _t, p=path, r=reader: r(p), path.read_text(), f"{name} input {i}")] += 1
        assert outcome["refused"] > 0 and outcome["ok"] > 0, (name, outcome)
