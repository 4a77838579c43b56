"""Grid model validation and views."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs


def small(**over):
    buses = gs.Buses(id=["bus:1", "bus:2"], number=[1, 2], type=[3, 1])
    branches = gs.Branches(id=["branch:1"], from_bus=[0], to_bus=[1], r_pu=[0.01], x_pu=[0.1], rate_a_mva=[100.0])
    gens = gs.Generators(id=["gen:1"], bus=[0], p_max_mw=[100.0])
    loads = gs.Loads(id=["load:2"], bus=[1], p_mw=[50.0])
    kw = dict(buses=buses, branches=branches, gens=gens, loads=loads)
    kw.update(over)
    return gs.Grid(**kw)


def test_valid_grid_and_frames():
    g = small()
    assert len(g.buses) == 2
    df = g.branches.to_frame()
    assert list(df.index) == ["branch:1"] and df.loc["branch:1", "x_pu"] == 0.1
    assert g.summary()["load_mw"] == 50.0
    assert g.locate("branch:1") == ("branch", 0)


def test_arrays_are_read_only():
    g = small()
    with pytest.raises(ValueError):
        g.loads.p_mw[0] = 1.0


def test_duplicate_ids():
    with pytest.raises(gs.GridValidationError, match="duplicate ids"):
        gs.Buses(id=["bus:1", "bus:1"], number=[1, 2])


def test_branch_to_unknown_bus():
    br = gs.Branches(id=["branch:1"], from_bus=[0], to_bus=[5], r_pu=[0.0], x_pu=[0.1])
    with pytest.raises(gs.GridValidationError, match="branch:1 refers to bus row 5"):
        small(branches=br)


def test_gen_on_missing_bus():
    with pytest.raises(gs.GridValidationError, match="gen:1 refers to bus row 3"):
        small(gens=gs.Generators(id=["gen:1"], bus=[3]))


def test_non_finite_and_negative_rating():
    with pytest.raises(gs.GridValidationError, match="non-finite value at load:2"):
        gs.Loads(id=["load:2"], bus=[1], p_mw=[np.nan])
    with pytest.raises(gs.GridValidationError, match="rate_a_mva: negative value at branch:1"):
        gs.Branches(id=["branch:1"], from_bus=[0], to_bus=[1], r_pu=[0.0], x_pu=[0.1], rate_a_mva=[-1.0])


def test_unknown_asset_suggests():
    g = small()
    with pytest.raises(gs.UnknownAssetError, match="branch:1"):
        g.locate("branch:11")


@pytest.mark.parametrize("table, what", [("buses", "bus"), ("branches", "branch"), ("gens", "generator"), ("loads", "load")])
def test_unknown_row_names_the_table_in_singular(table, what):
    with pytest.raises(gs.UnknownAssetError, match=f"^unknown {what} id 'x:9'"):
        getattr(small(), table).row("x:9")


def test_length_mismatch():
    with pytest.raises(gs.GridValidationError, match="has 2 rows"):
        gs.Loads(id=["load:1"], bus=[0, 1])


def test_grid_pickles_for_worker_processes():
    import pickle

    g = gs.load_case("case14")
    _ = g.branches.index, g.sites, g.bus_of_number  # cached lookups must not break pickling
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.equals(g) and g2.branches.index["branch:3"] == 2
    with pytest.raises(ValueError):
        g2.loads.p_mw[0] = 1.0


def test_sites_table_validates_and_round_trips():
    g = gs.load_case("case9")
    buses = g.buses.replace(substation=["A", "A", "B"] + [""] * 6, voltage_level=["A-345", "A-18", "B-345"] + [""] * 6)
    sites = gs.Sites(
        id=["site:A", "site:B"], name=["Alpha", "Beta"], category=["plant", "substation"], nominal_kv=[345.0, np.nan],
        lon_deg=[30.5, np.nan], lat_deg=[50.4, np.nan], voltage_levels=["A-345;A-18", "B-345"],
    )
    g2 = g.replace(buses=buses, site_table=sites)
    assert g2.site_table.name.tolist() == ["Alpha", "Beta"]
    back = gs.parse_matpower(gs.matpower_text(g2))
    assert back.equals(g2) and not back.equals(g.replace(buses=buses))
    assert back.buses.voltage_level[:3].tolist() == ["A-345", "A-18", "B-345"]
    with pytest.raises(gs.GridValidationError, match=r"site_table: \['site:C'\] have no bus"):
        g2.replace(site_table=gs.Sites(id=["site:C"]))
    with pytest.raises(gs.GridValidationError, match="look like 'site:<name>'"):
        gs.Sites(id=["C"])
    with pytest.raises(gs.GridValidationError, match="category"):
        gs.Sites(id=["site:A"], category=["castle"])


def test_branch_end_shunts_equal_their_two_independent_forms():
    """An end shunt at the to end equals a bus shunt there; symmetric end susceptances equal line charging."""
    g = gs.load_case("case9")
    br = g.branches
    k = 3  # a line (tap 0)
    assert br.tap[k] == 0
    to_bus = int(br.to_bus[k])
    with_end = g.replace(branches=br.replace(g_to_pu=np.where(np.arange(len(br)) == k, 0.02, 0.0),
                                             b_to_pu=np.where(np.arange(len(br)) == k, -0.05, 0.0)))
    sh = g.shunts
    as_bus = g.replace(shunts=gs.Shunts(id=[*sh.id.tolist(), "shunt:x"], bus=[*sh.bus.tolist(), to_bus],
                                        g_mw=[*sh.g_mw.tolist(), 2.0], b_mvar=[*sh.b_mvar.tolist(), -5.0]))
    a, b = gs.solve_ac(with_end), gs.solve_ac(as_bus)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.vm_pu, b.vm_pu, atol=1e-10)
    np.testing.assert_allclose(a.va_deg, b.va_deg, atol=1e-8)
    # symmetric end susceptance b/2 at both ends == MATPOWER charging b (also behind a tap)
    half = br.b_pu / 2
    moved = g.replace(branches=br.replace(b_pu=np.zeros(len(br)), b_from_pu=half, b_to_pu=half, tap=np.where(br.tap == 0, 1.05, br.tap)))
    ref = g.replace(branches=br.replace(tap=np.where(br.tap == 0, 1.05, br.tap)))
    c, d = gs.solve_ac(moved), gs.solve_ac(ref)
    np.testing.assert_allclose(c.vm_pu, d.vm_pu, atol=1e-10)
    np.testing.assert_allclose(c.q_from_mvar, d.q_from_mvar, atol=1e-7)
    # robust mode gives the same answer
    e = gs.solve_ac(moved, robust=True, init="flat")
    np.testing.assert_allclose(e.vm_pu, d.vm_pu, atol=1e-8)
    # end shunts travel in mpc.gs_branch and a PYPOWER case refuses them
    assert gs.parse_matpower(gs.matpower_text(moved)).equals(moved)
    from gridshield.grid.ppc import to_ppc

    with pytest.raises(gs.GridshieldError, match="end shunts"):
        to_ppc(moved)
