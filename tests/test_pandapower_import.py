"""pandapower import: a fresh net's grid solves to pandapower's own ``runpp`` (its defaults).

Reference: ``pandapower.runpp`` with default options on every net of ``pandapower.networks``
that pandapower solves (the list is built here by introspection, not chosen), and on a net with
every element type gridshield reads.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")

import gridshield as gs  # noqa: E402
from gridshield.grid.pandapower import _internal_case, from_pandapower  # noqa: E402

#: pandapower.networks nets with more than ~1000 buses (kept, marked slow).
LARGE = {
    "GBnetwork", "case1354pegase", "case1888rte", "case2848rte", "case2869pegase", "case3120sp", "case6470rte",
    "case6495rte", "case6515rte", "case9241pegase", "lv_schutterwald",
}


def network_makers() -> list[str]:
    """Every function of pandapower.networks that builds a net without arguments."""
    out = []
    for name, fn in sorted(vars(pn).items()):
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        params = inspect.signature(fn).parameters.values()
        if any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               for p in params):
            continue
        if name in ("create_empty_network", "pp_elements"):  # an empty net; a set of element names
            continue
        out.append(name)
    return out


def rows_of_net_buses(net, grid) -> dict[int, int]:
    """Grid row of every pandapower bus (buses fused by bus-bus switches share one)."""
    tmp = copy.deepcopy(net)
    _internal_case(tmp, approximate=True)
    lookup = tmp._pd2ppc_lookups["bus"]
    first: dict[int, int] = {}
    for idx in tmp.bus.index.tolist():
        first.setdefault(int(lookup[idx]), idx)
    out = {}
    for idx in net.bus.index.tolist():
        bid = f"bus:{first[int(lookup[idx])]}"
        if bid in grid.buses.index:
            out[idx] = grid.buses.index[bid]
    return out


def assert_matches_runpp(net, grid, vm_tol=1e-6, va_tol=1e-4, ref=None):
    if ref is None:
        ref = copy.deepcopy(net)
        pp.runpp(ref)  # pandapower's defaults
    assert ref.converged
    res = gs.solve_ac(grid, tol=1e-10)
    assert res.converged, res.reason
    rows = rows_of_net_buses(net, grid)
    compared = 0
    for idx, row in rows.items():
        vm = ref.res_bus.at[idx, "vm_pu"]
        if not np.isfinite(vm):
            continue
        assert abs(res.vm_pu[row] - vm) < vm_tol, (idx, res.vm_pu[row], vm)
        assert abs(res.va_deg[row] - ref.res_bus.at[idx, "va_degree"]) < va_tol, idx
        compared += 1
    assert compared >= 0.5 * len(net.bus)
    return ref, res


def _check_net(name: str) -> None:
    net = getattr(pn, name)()
    before = copy.deepcopy(net)
    ref = copy.deepcopy(net)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(ref)  # pandapower's defaults
        solved = bool(ref.converged)
    except Exception:  # noqa: BLE001 - pandapower raises many kinds when it does not converge
        solved = False
    grid = from_pandapower(net)
    assert net.bus.equals(before.bus) and net.line.equals(before.line)  # the caller's net is untouched
    assert len(net.res_bus) == len(before.res_bus)
    if not solved:
        # e.g. case11_iwamoto (no solution from runpp's start): gridshield must say so too, never a silent answer
        assert not gs.solve_ac(grid).converged
        return
    assert_matches_runpp(net, grid, ref=ref)


@pytest.mark.parametrize("name", [n for n in network_makers() if n not in LARGE])
def test_every_pandapower_network_matches_runpp(name):
    _check_net(name)


def test_the_list_is_not_hand_picked():
    names = network_makers()
    assert len(names) >= 60
    assert {"case24_ieee_rts", "case33bw", "lv_schutterwald", "example_multivoltage", "mv_oberrhein"} <= set(names)


def every_element_net():
    """A net with every element type the importer reads, several in odd states."""
    net = pp.create_empty_network(sn_mva=50)
    b = [pp.create_bus(net, vn_kv=v, name=f"b{i}", geodata=(30.0 + i, 50.0)) for i, v in
         enumerate([110, 110, 20, 20, 20, 10, 20, 110, 20, 0.4])]
    pp.create_ext_grid(net, b[0], vm_pu=1.02, va_degree=5.0)
    pp.create_line(net, b[0], b[1], 10.0, "149-AL1/24-ST1A 110.0", name="L01")
    pp.create_line_from_parameters(net, b[1], b[7], 5.0, r_ohm_per_km=0.1, x_ohm_per_km=0.4, c_nf_per_km=10,
                                   max_i_ka=0.5, g_us_per_km=2.0, name="with conductance")
    out = pp.create_line(net, b[0], b[7], 12.0, "149-AL1/24-ST1A 110.0", name="out of service")
    net.line.loc[out, "in_service"] = False
    pp.create_transformer_from_parameters(
        net, b[1], b[2], sn_mva=40, vn_hv_kv=110, vn_lv_kv=20, vkr_percent=0.3, vk_percent=12, pfe_kw=30,
        i0_percent=0.1, shift_degree=30, tap_side="hv", tap_neutral=0, tap_min=-9, tap_max=9, tap_pos=2,
        tap_step_percent=1.5, tap_changer_type="Ratio", name="T1 (iron losses, tap, shift)")
    pp.create_transformer_from_parameters(
        net, b[7], b[8], sn_mva=25, vn_hv_kv=110, vn_lv_kv=20, vkr_percent=0.4, vk_percent=11, pfe_kw=20,
        i0_percent=0.05, shift_degree=0, tap_side="lv", tap_neutral=0, tap_min=-5, tap_max=5, tap_pos=-1,
        tap_step_percent=0.0, tap_step_degree=2.0, tap_changer_type="Ideal", name="phase shifter")
    pp.create_transformer3w_from_parameters(
        net, b[1], b[6], b[5], vn_hv_kv=110, vn_mv_kv=20, vn_lv_kv=10, sn_hv_mva=30, sn_mv_mva=20, sn_lv_mva=10,
        vk_hv_percent=10, vk_mv_percent=10, vk_lv_percent=10, vkr_hv_percent=0.3, vkr_mv_percent=0.3,
        vkr_lv_percent=0.3, pfe_kw=15, i0_percent=0.1, shift_mv_degree=0, shift_lv_degree=150, tap_side="hv",
        tap_neutral=0, tap_min=-5, tap_max=5, tap_pos=1, tap_step_percent=1.25, tap_changer_type="Ratio", name="T3W")
    pp.create_line(net, b[2], b[3], 3.0, "NA2XS2Y 1x95 RM/25 12/20 kV", name="cable")
    l24 = pp.create_line(net, b[2], b[4], 2.0, "NA2XS2Y 1x95 RM/25 12/20 kV", name="open at one end")
    pp.create_switch(net, b[4], l24, et="l", closed=False)
    pp.create_line(net, b[3], b[6], 2.5, "NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_line(net, b[6], b[8], 4.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_switch(net, b[3], b[4], et="b", closed=True)  # fuses b3 and b4
    pp.create_switch(net, b[2], b[6], et="b", closed=False)  # open bus-bus switch: nothing
    pp.create_impedance(net, b[6], b[8], rft_pu=0.01, xft_pu=0.05, rtf_pu=0.01, xtf_pu=0.05, sn_mva=10)
    pp.create_load(net, b[3], p_mw=5, q_mvar=2, name="town")
    pp.create_load(net, b[8], p_mw=3, q_mvar=1, scaling=0.8)
    pp.create_load(net, b[5], p_mw=1, q_mvar=0.3, in_service=False)
    pp.create_sgen(net, b[6], p_mw=2, q_mvar=-0.5, name="PV park")
    pp.create_sgen(net, b[8], p_mw=1, q_mvar=0, controllable=True, max_p_mw=1, min_p_mw=0)
    pp.create_storage(net, b[5], p_mw=0.5, max_e_mwh=2, q_mvar=0.1, name="battery")
    pp.create_motor(net, b[5], pn_mech_mw=0.8, cos_phi=0.9, efficiency_percent=95, loading_percent=80, name="pump")
    pp.create_shunt(net, b[2], q_mvar=-1.5, p_mw=0.01, name="capacitor")
    pp.create_shunt(net, b[8], q_mvar=0.5, step=2, max_step=3)
    pp.create_ward(net, b[3], ps_mw=0.4, qs_mvar=0.1, pz_mw=0.05, qz_mvar=-0.2, name="ward")
    pp.create_xward(net, b[7], ps_mw=1.0, qs_mvar=0.2, pz_mw=0.1, qz_mvar=0.1, r_ohm=1.0, x_ohm=10.0, vm_pu=1.01,
                    name="xward")
    pp.create_gen(net, b[7], p_mw=10, vm_pu=1.015, name="plant", min_q_mvar=-20, max_q_mvar=20)
    pp.create_dcline(net, b[1], b[9], p_mw=0.05, loss_percent=2.0, loss_mw=0.001, vm_from_pu=1.0, vm_to_pu=1.0,
                     name="DC link")
    pp.create_transformer(net, b[6], b[9], "0.63 MVA 20/0.4 kV")
    pp.create_poly_cost(net, 0, "gen", cp1_eur_per_mw=10)  # a cost table must not switch anything to OPF mode
    return net


def test_every_element_type_matches_runpp_exactly():
    net = every_element_net()
    grid = from_pandapower(net)
    assert_matches_runpp(net, grid, vm_tol=1e-8, va_tol=1e-6)
    ids = set(grid.branches.id)
    assert {"branch:line2", "branch:trafo0", "branch:trafo3w0_hv", "branch:trafo3w0_mv", "branch:trafo3w0_lv",
            "branch:impedance0", "branch:xward0"} <= ids
    br = grid.branches
    assert not br.in_service[br.row("branch:line2")]  # out of service, kept
    assert br.has_end_shunts[br.row("branch:trafo0")]  # iron losses and the T model's magnetising branch
    assert br.g_from_pu[br.row("branch:line1")] > 0  # line conductance
    assert {"bus:trafo3w0", "bus:xward0", "bus:line4_open_to"} <= set(grid.buses.id)
    assert "bus:4" not in grid.buses.index  # fused with bus 3 by a closed bus-bus switch
    ld = grid.loads
    assert ld.p_mw[ld.row("load:sgen0")] == -2.0 and ld.name[ld.row("load:sgen0")] == "PV park"
    assert ld.p_mw[ld.row("load:1")] == pytest.approx(2.4)  # scaling
    assert not ld.in_service[ld.row("load:2")]
    assert ld.p_mw[ld.row("load:motor0")] == pytest.approx(0.8 / 0.95 * 0.8)
    assert {"load:storage0", "load:ward0", "load:xward0"} <= set(ld.id)
    g = grid.gens
    assert {"gen:ext_grid0", "gen:0", "gen:dcline0_to", "gen:dcline0_from", "gen:xward0"} == set(g.id)
    assert g.q_max_mvar[g.row("gen:ext_grid0")] == np.inf  # a slack without limits, as in runpp
    assert grid.base_mva == 50
    b0 = grid.buses.row("bus:0")
    assert grid.buses.x[b0] == 30.0 and grid.buses.y[b0] == 50.0
    # it round-trips through MATPOWER text exactly (end shunts in mpc.gs_branch)
    assert gs.parse_matpower(gs.matpower_text(grid)).equals(grid)


def _same_value(a, b) -> bool:
    """Deep equality of a net's entries (tables with dtypes, arrays, dicts, scalars)."""
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b) and a.dtypes.equals(b.dtypes)
    if isinstance(a, (pd.Series, pd.Index)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "toarray"):  # a sparse matrix of pandapower's internal case
        return type(a) is type(b) and a.shape == b.shape and (a != b).nnz == 0
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return a is b or (type(a) is type(b) and bool(a == b))


@pytest.mark.parametrize("solved", [False, True])
def test_import_leaves_the_callers_net_untouched(solved):
    """The importer shares the net's tables with pandapower's builder (no deep copy): nothing may change.

    A net with every element type (a DC line, whose generators pandapower appends to ``gen``) and
    mv_oberrhein, fresh and after runpp (whose internal case ``_ppc`` the builder must not write into).
    """
    for net in (every_element_net(), pn.mv_oberrhein()):
        if solved:
            pp.runpp(net)
        before = copy.deepcopy(net)
        from_pandapower(net)
        assert set(net.keys()) == set(before.keys())
        changed = [k for k in before.keys() if not _same_value(before[k], net[k])]
        assert not changed, changed


def test_dc_line_stops_at_both_ends():
    """pandapower models a DC line as two generators; gridshield ties them into one link."""
    grid = from_pandapower(every_element_net())
    assert grid.links == {"hvdc:dcline0": ("gen:dcline0_from", "gen:dcline0_to")}
    g = grid.gens
    for struck in ("gen:dcline0_from", "bus:9", "hvdc:dcline0"):  # bus 9: the DC line's "to" end
        dmg = gs.Damage.from_ids(grid, [struck])
        assert dmg.gen_out[g.row("gen:dcline0_from")] and dmg.gen_out[g.row("gen:dcline0_to")], struck
    assert not gs.Damage.from_ids(grid, ["gen:0"]).gen_out[g.row("gen:dcline0_to")]


def test_fresh_net_with_cost_tables_is_not_read_in_opf_mode():
    net = pn.case24_ieee_rts()  # poly costs, controllable units
    assert len(net.poly_cost)
    grid = from_pandapower(net)
    assert_matches_runpp(net, grid)


def test_refusals_name_the_elements():
    net = every_element_net()
    net.load.loc[0, "const_z_p_percent"] = 30.0
    with pytest.raises(gs.GridshieldError, match=r"loads \[0\] are voltage dependent.*approximate=True"):
        from_pandapower(net)
    grid = from_pandapower(net, approximate=True)
    assert grid.loads.p_mw[grid.loads.row("load:0")] == 5.0
    net = every_element_net()
    net.impedance.loc[0, "rtf_pu"] = 0.02
    with pytest.raises(gs.GridshieldError, match=r"branch:impedance0.*reciprocal"):
        from_pandapower(net)
    net = every_element_net()
    pp.create_svc(net, 3, x_l_ohm=1, x_cvar_ohm=-10, set_vm_pu=1.0, thyristor_firing_angle_degree=90)
    with pytest.raises(gs.GridshieldError, match=r"static var compensators .*svc \[0\]"):
        from_pandapower(net)


def test_a_net_pandapower_cannot_build_is_one_clear_error():
    net = every_element_net()
    pp.create_gen(net, 7, p_mw=1, vm_pu=1.05)  # two voltage set points at one bus
    with pytest.raises(gs.GridshieldError, match="pandapower cannot build a power flow case"):
        from_pandapower(net)


@pytest.mark.parametrize("case", ["case9", "case30", "case33bw", "case118", "case2869pegase"])
def test_to_pandapower_runpp_equals_gridshield(case):
    from gridshield.grid.pandapower import to_pandapower

    grid = gs.load_case(case)
    net = to_pandapower(grid)
    pp.runpp(net, tolerance_mva=1e-10)
    res = gs.solve_ac(grid, tol=1e-10)
    np.testing.assert_allclose(net.res_bus.vm_pu.to_numpy(), res.vm_pu, atol=1e-9)
    np.testing.assert_allclose(net.res_bus.va_degree.to_numpy(), res.va_deg, atol=1e-7)


def test_round_trip_through_pandapower_json(tmp_path):
    """every-element net -> gridshield -> pandapower JSON (gridshield convert) -> gridshield: same power flow."""
    from gridshield.grid.pandapower import write_pandapower_json

    grid = from_pandapower(every_element_net())
    path = write_pandapower_json(grid, tmp_path / "net.json")
    back = gs.load_case(path)
    a, b = gs.solve_ac(grid, tol=1e-10), gs.solve_ac(back, tol=1e-10)
    rows = [back.buses.index[f"bus:{k}"] for k in range(len(grid.buses))]  # buses by position
    np.testing.assert_allclose(b.vm_pu[rows], a.vm_pu, atol=1e-9)
    np.testing.assert_allclose(b.va_deg[rows] - b.va_deg[rows[0]], a.va_deg - a.va_deg[0], atol=1e-7)
    assert back.loads.p_mw[back.loads.in_service].sum() == pytest.approx(grid.loads.p_mw[grid.loads.in_service].sum())
