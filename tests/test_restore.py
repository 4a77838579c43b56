"""Restoration planning on real grids: MILP vs brute force with the impact engine's served load,
heuristic vs naive on random damages, the resilience curve, tasks, heat and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.impact import Damage, ImpactModel
from gridshield.restore import plan_restoration
from gridshield.restore.plan import (
    GridValue, Instance, chain, monotone_closure, restoration_weights, solve_milp, subset_values, weighted_ens,
)
from gridshield.restore.tasks import DEFAULT_DURATIONS_H, build_tasks
from tests.test_restore_core import brute_force


@pytest.fixture(scope="module")
def case30():
    return gs.load_case("case30")


@pytest.fixture(scope="module")
def city():
    return gs.load_case("synthetic-city")


def grid_instance(grid, ids, crews, spares=None):
    """The planner's Instance for a grid damage, with the served load of the monotone closure."""
    tasks = build_tasks(grid, Damage.from_ids(grid, ids))
    w = restoration_weights()
    value = GridValue(ImpactModel(grid), grid, [t.id for t in tasks],
                      np.array([w[p] for p in grid.loads.priority.tolist()]))
    dur = np.array([t.duration_h for t in tasks])
    ns = np.array([t.no_spare_h or t.duration_h for t in tasks])
    cls = tuple(t.asset_class if (spares and t.asset_class in spares) else None for t in tasks)
    raw = Instance(dur, ns, cls, spares or {}, crews, None, value.weighted)
    fstar = monotone_closure(subset_values(raw), raw.n)
    return Instance(dur, ns, cls, spares or {}, crews, None, lambda m: float(fstar[m])), tasks


@pytest.mark.parametrize(
    "case,ids,crews",
    [  # instances where the served load takes 4-8 distinct values and the naive order is not optimal
        ("case9", ["branch:7", "bus:2", "branch:1", "branch:5", "bus:8"], 1),
        ("case9", ["gen:1", "gen:3", "bus:2"], 2),
        ("case9", ["gen:1", "gen:2", "gen:3"], 1),  # total blackout at t = 0
        ("case14", ["bus:13", "bus:2", "branch:14", "bus:12"], 2),
        ("case14", ["gen:4", "branch:2", "bus:2", "branch:5", "branch:14"], 2),
        ("case30", ["bus:30", "bus:18", "bus:17"], 1),
        ("case30", ["branch:9", "bus:15", "branch:29", "bus:7"], 2),
        ("case118", ["branch:102", "bus:42", "branch:148", "branch:50", "bus:3"], 2),
    ],
)
def test_milp_equals_brute_force_on_grids(case, ids, crews):
    grid = gs.load_case(case)
    inst, tasks = grid_instance(grid, ids, crews)
    assert 3 <= inst.n <= 5
    assert len(set(np.round(subset_values(inst), 6))) >= 4  # a non-trivial served-load function
    ref = brute_force(inst)
    res = solve_milp(inst)
    assert res.optimal
    assert res.objective == pytest.approx(ref, rel=1e-7, abs=1e-6)
    # through the API: the MILP plan's weighted ENS is the brute-force optimum too
    plan = plan_restoration(grid, ids, crews=crews, method="milp")
    assert plan.method == "milp" and plan.optimal
    assert plan.weighted_ens_mwh == pytest.approx(ref, rel=1e-7, abs=1e-6)
    assert plan.comparison["heuristic"]["weighted_ens_mwh"] >= ref - 1e-6


def test_spares_milp_equals_brute_force(case30):
    # two transformers on case30 with one spare: the MILP chooses which one gets it
    grid = case30
    tr = [grid.branches.id[i] for i in np.flatnonzero(grid.branches.is_transformer)][:2]
    if len(tr) < 2:  # case30 has no tapped branch: make two branches transformers in a new grid
        br = grid.branches
        tap = br.tap.copy()
        tap[[10, 11]] = 1.0
        grid = grid.replace(branches=br.replace(tap=tap))
        tr = [grid.branches.id[10], grid.branches.id[11]]
    ids = [*tr, "branch:1", "gen:2"]
    inst, tasks = grid_instance(grid, ids, 2, spares={"transformer": 1})
    assert sum(c is not None for c in inst.spare_class) == 2
    ref = brute_force(inst)
    assert solve_milp(inst).objective == pytest.approx(ref, rel=1e-7, abs=1e-6)


def random_damages(grid, rng, count, kmin, kmax):
    ids = [*grid.branches.id.tolist(), *grid.gens.id.tolist(), *grid.buses.id.tolist()]
    return [list(rng.choice(ids, size=int(rng.integers(kmin, kmax + 1)), replace=False)) for _ in range(count)]


def test_heuristic_never_worse_than_naive_on_random_damages(case30, case118):
    rng = np.random.default_rng(2026)
    for grid, count, kmax in ((case30, 8, 8), (case118, 4, 10)):
        model = ImpactModel(grid)
        for ids in random_damages(grid, rng, count, 3, kmax):
            for crews in (1, 3):
                plan = plan_restoration(grid, ids, crews=crews, method="heuristic", model=model, time_limit_s=5)
                naive = plan.comparison["naive"]["weighted_ens_mwh"]
                assert plan.weighted_ens_mwh <= naive + 1e-9 * max(1.0, naive)
                assert plan.improvement_over_naive_pct >= -1e-9


def test_curve_monotone_and_ends_at_intact(case118):
    ids = ["branch:7", "branch:8", "bus:30", "gen:10", "branch:38", "bus:69", "branch:51", "bus:12"]
    for method in ("heuristic", "naive"):
        plan = plan_restoration(case118, ids, crews=3, method=method)
        assert np.all(np.diff(plan.weighted_served) >= -1e-9)
        assert np.all(np.diff(plan.restored_pct) >= -1e-9)  # one priority class: MW follows the weights
        assert plan.restored_pct[-1] == pytest.approx(100.0, abs=1e-9)
        assert plan.time_h[-1] == pytest.approx(plan.makespan_h)
        assert plan.time_h[0] == 0.0
        # ENS equals the step integral of the curve
        ens = float(np.sum((plan.intact_served_mw - plan.served_mw[:-1]) * np.diff(plan.time_h)))
        assert plan.ens_mwh == pytest.approx(ens, rel=1e-12)
        # crews never overlap and each task keeps its duration
        fr = plan.to_frame()
        for _, g in fr.groupby("crew"):
            g = g.sort_values("start_h")
            assert np.all(g.start_h.to_numpy()[1:] >= g.end_h.to_numpy()[:-1] - 1e-9)


def test_hand_solved_case9():
    # case9, one crew, a 345 kV line (set to 12 h) and a generator (168 h): two orders, ENS by hand
    grid = gs.load_case("case9")
    model = ImpactModel(grid)
    lost_both = model.assess(["branch:4", "gen:2"]).lost_mw
    lost_b4 = model.assess(["branch:4"]).lost_mw
    lost_g2 = model.assess(["gen:2"]).lost_mw
    # one crew, line 12 h and generator 168 h; the two orders and their ENS
    ens_line_first = lost_both * 12 + lost_g2 * 168
    ens_gen_first = lost_both * 168 + lost_b4 * 12
    assert lost_both > 0
    plan = plan_restoration(grid, ["gen:2", "branch:4"], crews=1, method="milp", durations={"line_hv": 12.0})
    assert plan.ens_mwh == pytest.approx(min(ens_line_first, ens_gen_first), rel=1e-9)
    assert plan.comparison["naive"]["ens_mwh"] == pytest.approx(ens_gen_first, rel=1e-9)
    assert plan.makespan_h == pytest.approx(180.0)


def test_tasks_sites_durations_overrides(city):
    site = next(s for s in city.sites if s.startswith("S330"))
    line = str(city.branches.id[np.flatnonzero(~city.branches.is_transformer)[0]])
    dmg = Damage.from_ids(city, [f"site:{site}", line])
    tasks = build_tasks(city, dmg)
    ids = [t.id for t in tasks]
    rows = city.sites[site]
    # every bus of the site is a task, plus its internal transformers; lines leaving it are not
    assert all(city.buses.id[r] in ids for r in rows)
    br = city.branches
    inside = np.isin(br.from_bus, rows) & np.isin(br.to_bus, rows)
    assert {br.id[i] for i in np.flatnonzero(inside)} <= set(ids)
    leaving = np.isin(br.from_bus, rows) ^ np.isin(br.to_bus, rows)
    assert not ({br.id[i] for i in np.flatnonzero(leaving)} - {line}) & set(ids)
    assert line in ids
    ats = [t for t in tasks if t.asset_class == "autotransformer"]
    assert ats and all(t.duration_h == 504.0 and t.no_spare_h == 1440.0 for t in ats)
    buses = [t for t in tasks if t.asset_class == "bus"]
    assert all(t.duration_h == DEFAULT_DURATIONS_H["bus"].duration_h for t in buses)
    # overrides: an id beats a class
    t2 = build_tasks(city, dmg, durations={"bus": 10.0, buses[0].id: 5.0, "autotransformer": 400.0})
    d = {t.id: t.duration_h for t in t2}
    assert d[buses[0].id] == 5.0 and all(d[t.id] == 10.0 for t in buses[1:])
    assert all(d[t.id] == 400.0 for t in ats)
    with pytest.raises(GridshieldError, match="unknown asset class"):
        build_tasks(city, dmg, durations={"tower": 3.0})
    with pytest.raises(UnknownAssetError):
        plan_restoration(city, ["site:Nowhere"], crews=2)


def test_spare_stock_is_consumed(city):
    site = next(s for s in city.sites if s.startswith("S330"))
    n_at = sum(1 for t in build_tasks(city, Damage.from_ids(city, [f"site:{site}"])) if t.asset_class == "autotransformer")
    assert n_at >= 2
    plan = plan_restoration(city, [f"site:{site}"], crews=n_at, spares={"autotransformer": 1}, method="naive")
    fr = plan.to_frame()
    at = fr[fr.asset_class == "autotransformer"]
    assert int(at.spare_used.sum()) == 1
    assert sorted(at.duration_h.tolist()) == [504.0] + [1440.0] * (n_at - 1)
    plan0 = plan_restoration(city, [f"site:{site}"], crews=n_at, spares={"autotransformer": 0}, method="naive")
    assert (plan0.to_frame().query("asset_class == 'autotransformer'").duration_h == 1440.0).all()


def test_travel_time(city, case30):
    ids = ["site:S110-Dockside", "site:S110-Glenview"]
    plan = plan_restoration(city, ids, crews=1, travel_speed_kmh=30.0, method="naive")
    fr = plan.to_frame().sort_values("start_h")
    assert fr.travel_h.iloc[0] == 0.0 and fr.travel_h.sum() > 0
    assert np.allclose(fr.start_h.to_numpy()[1:], fr.end_h.to_numpy()[:-1] + fr.travel_h.to_numpy()[1:])
    with pytest.raises(GridshieldError, match="coordinates"):
        plan_restoration(case30, ["branch:1", "branch:2"], crews=1, travel_speed_kmh=40.0)


def test_city_heat_and_outputs(city):
    ids = ["site:CHP-Aurora", "site:S110-Dockside", "site:S110-Glenview"]
    plan = plan_restoration(city, ids, crews=4, temperature_c=-10.0, spares={"transformer": 2})
    assert plan.heat_supplied_pct is not None and plan.heat_supplied_pct[0] < 100.0
    assert plan.heat_supplied_pct[-1] == pytest.approx(100.0)
    assert plan.people_without_heat[0] > 0 and plan.people_without_heat[-1] == 0
    ph = float(np.sum(plan.people_without_heat[:-1] * np.diff(plan.time_h)))
    assert plan.people_hours_without_heat == pytest.approx(ph)
    assert plan.people_hours_below_12c is not None and 0 <= plan.people_hours_below_12c <= ph
    assert plan.customer_hours > 0
    assert plan.weighted_ens_mwh <= plan.comparison["naive"]["weighted_ens_mwh"] + 1e-6
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["method"] == plan.method and len(d["schedule"]) == len(plan.task_id)
    assert d["curve"]["heat_supplied_pct"][-1] == pytest.approx(100.0)
    cf = plan.curve_frame()
    assert list(cf.columns[:3]) == ["time_h", "served_mw", "served_pct"] and "heat_supplied_pct" in cf
    assert len(plan.to_frame()) == len(plan.task_id)


def test_bad_inputs(case30):
    with pytest.raises(GridshieldError, match="crews"):
        plan_restoration(case30, ["branch:1"], crews=0)
    with pytest.raises(GridshieldError, match="method"):
        plan_restoration(case30, ["branch:1"], crews=1, method="fastest")
    with pytest.raises(GridshieldError, match="spares"):
        plan_restoration(case30, ["branch:1"], crews=1, spares={"transformer": -1})
    with pytest.raises(GridshieldError, match="MILP"):
        plan_restoration(case30, [f"branch:{i}" for i in range(1, 15)], crews=2, method="milp")
    empty = plan_restoration(case30, [], crews=2)
    assert empty.ens_mwh == 0.0 and len(empty.task_id) == 0


def test_cli_restore(tmp_path, capsys):
    from gridshield.cli import main

    out = tmp_path / "plan.json"
    curve = tmp_path / "curve.csv"
    main(["restore", "case30", "--damage", "branch:1,bus:4", "--damage", "gen:2", "--crews", "2",
          "--method", "milp", "--out", str(out), "--curve", str(curve)])
    text = capsys.readouterr().out
    assert "Schedule" in text and "Methods compared" in text
    d = json.loads(out.read_text())
    plan = plan_restoration(gs.load_case("case30"), ["branch:1", "bus:4", "gen:2"], crews=2, method="milp")
    assert d["method"] == "milp" and d["weighted_ens_mwh"] == pytest.approx(plan.weighted_ens_mwh)
    assert [s["task"] for s in d["schedule"]] == list(plan.task_id)
    import pandas as pd

    cf = pd.read_csv(curve)
    assert cf.time_h.iloc[-1] == pytest.approx(plan.makespan_h) and cf.restored_pct.iloc[-1] == pytest.approx(100.0)
    with pytest.raises(SystemExit) as exc:
        main(["restore", "case30", "--damage", "branch:9999", "--crews", "2"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["restore", "case30", "--damage", "branch:1", "--spares", "transformer"])
    assert exc.value.code == 2


def test_model_reuse_and_temperature_scaling(city):
    from gridshield.heat import scale_for_temperature

    ids = ["site:S110-Juniper"]
    cold = scale_for_temperature(city, -20.0)
    model = ImpactModel(cold)
    a = plan_restoration(cold, ids, crews=2, temperature_c=-20.0, model=model, method="naive")
    b = plan_restoration(city, ids, crews=2, temperature_c=-20.0, method="naive")  # scaled inside
    assert a.demand_mw == pytest.approx(b.demand_mw) and a.ens_mwh == pytest.approx(b.ens_mwh)
    assert b.options["loads_scaled_to_temperature"] and not a.options["loads_scaled_to_temperature"]
    assert b.demand_mw > plan_restoration(city, ids, crews=2, method="naive").demand_mw  # colder = more load
    with pytest.raises(GridshieldError, match="another grid"):
        plan_restoration(city, ids, crews=2, model=model)


def test_time_budget_is_reported(case118, tmp_path, capsys):
    """The plan says whether the time budget ended the search; a budget that cannot be met
    stops it (and the plan is still never worse than the naive order), a roomy one does not."""
    import time as _time

    from gridshield.impact import ImpactModel

    model = ImpactModel(case118)
    rng = np.random.default_rng(4)
    ids = [str(x) for x in rng.choice(case118.buses.id, size=9, replace=False)]
    t = _time.perf_counter()
    tight = plan_restoration(case118, ids, crews=2, method="heuristic", model=model, time_limit_s=1e-6)
    assert _time.perf_counter() - t < 30
    assert tight.stopped_on_budget and tight.to_dict()["stopped_on_budget"] is True
    assert tight.weighted_ens_mwh <= tight.comparison["naive"]["weighted_ens_mwh"] + 1e-9
    roomy = plan_restoration(case118, ids, crews=2, method="heuristic", model=model, time_limit_s=300)
    assert not roomy.stopped_on_budget
    assert roomy.summary()["search stopped on the time budget"] == "no"
    assert roomy.weighted_ens_mwh <= tight.weighted_ens_mwh + 1e-9
    from gridshield.cli import main

    main(["restore", "case118", "--damage", ",".join(ids), "--crews", "2", "--method", "heuristic",
          "--time-limit", "300", "--out", str(tmp_path / "p.json")])
    assert "search stopped on the time budget" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["stopped_on_budget"] is False


def test_large_damage_curve_equals_plain_evaluation(case118):
    """A large scattered damage is searched on the separable model (its clusters add up) and in
    batches over 2 worker processes; the plan's curve and objective are nevertheless those of a
    plain evaluation of the same schedule: every completion state assessed afresh, in order."""
    from gridshield.restore.plan import SEPARABLE_MIN_TASKS, effective_masks

    rng = np.random.default_rng(4)
    ids = [str(x) for x in rng.choice(case118.buses.id, size=18, replace=False)]
    plan = plan_restoration(case118, ids, crews=3, method="heuristic")
    info = plan.options["heuristic"]
    assert len(plan.task_id) >= SEPARABLE_MIN_TASKS and info["search_model"] == "separable"
    assert info["separable_groups"] >= 2 and not plan.stopped_on_budget
    # plain evaluation of the plan's schedule with a fresh engine
    tasks = [t.id for t in build_tasks(case118, Damage.from_ids(case118, ids))]
    end = np.array([plan.end_h[plan.task_id.index(t)] for t in tasks])
    w = restoration_weights()
    fresh = GridValue(ImpactModel(case118), case118, tasks, np.array([w[p] for p in case118.loads.priority.tolist()]))
    inst = Instance(np.ones(len(tasks)), np.ones(len(tasks)), (None,) * len(tasks), {}, 3, None, fresh.weighted)
    times, masks = chain(inst, end)
    states = [fresh.state(0)] + [fresh.state(m) for m in effective_masks(inst, masks)]
    assert np.array_equal(plan.time_h, np.r_[0.0, times])
    np.testing.assert_allclose(plan.served_mw, [s.served_mw for s in states], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(plan.weighted_served, [s.weighted for s in states], rtol=1e-12, atol=1e-9)
    assert plan.weighted_ens_mwh == pytest.approx(weighted_ens(inst, end), rel=1e-12)
    # the same plan from 2 worker processes
    two = plan_restoration(case118, ids, crews=3, method="heuristic", workers=2)
    assert two.task_id == plan.task_id and two.options["workers"] == 2
    assert two.weighted_ens_mwh == pytest.approx(plan.weighted_ens_mwh, rel=1e-12)
    np.testing.assert_allclose(two.served_mw, plan.served_mw, rtol=1e-12, atol=1e-9)
    with pytest.raises(GridshieldError, match="workers"):
        plan_restoration(case118, ids, crews=3, workers=0)


def test_grid_upper_bound_of_the_served_load(case118):
    """``GridValue.upper`` (every live load of an energised island served) is at least the
    engine's weighted served load of every repaired set, equal to it to the last bit where the
    engine sheds nothing in an energised island, and the value itself once the set was assessed."""
    rng = np.random.default_rng(9)
    # the first six elements alone make the energised grid shed 84 MW (bus 69 holds the slack)
    ids = ["bus:69", "bus:110", "branch:110", "branch:3", "branch:183", "branch:97", "bus:42", "gen:3", "bus:12"]
    tasks = [t.id for t in build_tasks(case118, Damage.from_ids(case118, ids))]
    w = restoration_weights()
    load_w = np.array([w[p] for p in case118.loads.priority.tolist()])
    model = ImpactModel(case118)
    value = GridValue(model, case118, tasks, load_w)
    exact = shed = 0
    for m in [0, (1 << len(tasks)) - 1, *rng.integers(0, 1 << len(tasks), 40).tolist()]:
        m = int(m)
        ub = value.upper(m)
        res = model.assess([t for j, t in enumerate(tasks) if not m >> j & 1])
        st = value.compute(m)
        assert ub >= st.weighted
        if sum(i.demand_mw - i.served_mw for i in res.islands if i.status == "energised") <= 1e-9:
            assert ub == st.weighted
            exact += 1
        else:
            shed += 1
        value.state(m)
        assert value.upper(m) == st.weighted
    assert exact and shed
