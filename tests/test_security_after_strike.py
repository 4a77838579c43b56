"""N-1 of the grid left standing after a strike (`gridshield n1 --damage`, the dashboard's next-loss panel)."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError
from gridshield.flow.ac import solve_ac
from gridshield.impact import Damage, assess_damage
from gridshield.security.ac import ac_security
from gridshield.security.after_strike import post_strike_grid
from tests.ac_reference import assert_same_as_brute_force, brute_force_ac

STRIKE = ["site:S110-Fairmont", "site:GTP-Delta"]


@pytest.fixture(scope="module")
def city():
    return gs.load_case("synthetic-city")


@pytest.fixture(scope="module")
def post(city):
    return post_strike_grid(city, STRIKE)


def test_post_strike_grid_is_the_engines_operating_point(city, post):
    """Damaged and dark elements are out; each live load draws what the engine serves (the
    losses spread over units with headroom need no load scaled down here); the AC power flow of
    the state converges and its units sit within their P limits."""
    imp = assess_damage(city, STRIKE)
    g = post.grid
    dmg = Damage.from_ids(city, STRIKE)
    assert post.ac_converged and post.impact.served_mw == pytest.approx(imp.served_mw, abs=1e-6)
    assert not g.branches.in_service[dmg.branch_out].any() and not g.gens.in_service[dmg.gen_out].any()
    assert not g.buses.in_service[~imp.bus_energised].any()
    np.testing.assert_allclose(g.loads.p_mw, np.where(imp.bus_energised[city.loads.bus], imp.load_served_mw, 0.0),
                               atol=1e-6)
    assert g.loads.p_mw.sum() == pytest.approx(imp.served_mw, abs=1e-6)
    pf = solve_ac(g, enforce_q_limits=True)
    assert pf.converged
    on = g.gens.in_service
    assert np.all(g.gens.p_mw[on] <= g.gens.p_max_mw[on] + 1e-6)


def test_post_strike_n1_equals_brute_force(post):
    """Every branch, generator and site contingency of the post-strike grid equals a fresh
    Newton-Raphson of that grid with the contingency removed (thermal and voltage, 1e-6)."""
    res = ac_security(post.grid, ("branches", "gens", "sites"))
    ref = brute_force_ac(post.grid, res.ids)
    assert_same_as_brute_force(res, ref)
    assert res.thermal.sum() > 0  # what is left is weaker: some next losses overload


def test_struck_sites_are_no_contingency(city, post):
    """The struck sites are no further contingency, and what is left has thermally insecure
    next losses."""
    before = ac_security(city, ("branches", "gens", "sites"))
    after = ac_security(post.grid, ("branches", "gens", "sites"))
    assert after.thermal.sum() > 0 and len(after) < len(before)
    live = set(after.ids)
    assert not live & {"site:S110-Fairmont", "site:GTP-Delta"}


def test_dc_point_without_ac_solution_takes_the_ac_load_delivery():
    """case118 with branch:10, gen:5 and bus:30 destroyed: the AC power flow of the DC load
    delivery's point does not converge; the AC load delivery's point is an AC solution, and the
    study starts from it (its AC power flow converges, loads served as the AC MLD says)."""
    g = gs.load_case("case118")
    dmg = ["branch:10", "gen:5", "bus:30"]
    post = post_strike_grid(g, dmg)
    assert post.impact.model == "ac" and post.ac_converged and "AC load delivery" in post.describe()
    ac = assess_damage(g, dmg, model="ac")
    assert post.grid.loads.p_mw.sum() == pytest.approx(ac.served_mw, abs=1e-6)
    assert solve_ac(post.grid, enforce_q_limits=True).converged


def test_cli_n1_after_a_strike(capsys):
    from gridshield.cli import main

    main(["n1", "synthetic-city", "--damage", ",".join(STRIKE), "--ac-verify", "--top", "3"])
    out = capsys.readouterr().out
    assert "after site:S110-Fairmont, site:GTP-Delta" in out and "after the strike" in out and "thermal" in out
    main(["n1", "synthetic-city", "--damage", STRIKE[0], "--top", "3"])
    assert "N-1 on" in capsys.readouterr().out
    for bad, needle in (([","], "--damage"), (["site:nope"], "unknown site id")):
        with pytest.raises(SystemExit) as ei:
            main(["n1", "synthetic-city", "--damage", *bad])
        assert ei.value.code == 2 and needle in capsys.readouterr().err


def test_nothing_left_is_a_clear_error(city):
    with pytest.raises(GridshieldError, match="no damage"):
        post_strike_grid(city, [])
    with pytest.raises(GridshieldError, match="no part"):
        post_strike_grid(city, city.buses.id.tolist())


def test_dashboard_next_loss_equals_the_library(tmp_path):
    """POST /api/next-loss returns the library's answer for the post-strike grid (counts and the
    worst rows), refuses empty damage, unknown kinds and grids above the AC size limit."""
    from fastapi.testclient import TestClient

    import gridshield.web.app as web
    from gridshield.security.after_strike import worst_contingencies
    from gridshield.web import create_app

    client = TestClient(create_app(store=tmp_path / "runs.duckdb"), base_url="http://127.0.0.1")
    r = client.post("/api/next-loss", json={"case": "synthetic-city", "damage": STRIKE, "top": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    city = gs.load_case("synthetic-city")
    ref = ac_security(post_strike_grid(city, STRIKE).grid, ("branches", "gens", "sites"))
    sm = ref.summary()
    for k in ("contingencies", "secure", "thermal", "voltage", "not_converged", "islanding"):
        assert body["summary"][k] == sm[k]
    worst = worst_contingencies(ref, 5)
    assert [w["contingency"] for w in body["worst"]] == worst.index.tolist()
    assert [w["max_loading_pct"] for w in body["worst"]] == pytest.approx(worst.max_loading_pct.tolist(), abs=1e-9)
    for bad in ({"case": "synthetic-city", "damage": []}, {"case": "synthetic-city", "damage": STRIKE, "elements": ["x"]},
                {"case": "synthetic-city", "damage": STRIKE, "top": 10_000}):
        assert client.post("/api/next-loss", json=bad).status_code == 422
    r = client.post("/api/next-loss", json={"case": "synthetic-city", "damage": ["site:nope"]})
    assert r.status_code in (404, 422) and "site:nope" in r.text
    web_limit = web.WEB_AC_MAX_BUSES
    try:
        web.WEB_AC_MAX_BUSES = 10
        r = client.post("/api/next-loss", json={"case": "synthetic-city", "damage": STRIKE})
        assert r.status_code == 422 and "up to 10 buses" in r.text
    finally:
        web.WEB_AC_MAX_BUSES = web_limit
