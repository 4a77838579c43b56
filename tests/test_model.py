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
