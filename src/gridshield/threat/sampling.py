"""Sampling: from a validated scenario to the damage of sample ``i`` and its impact metrics.

Sample ``i`` of a run with seed ``s`` draws every random number from
``numpy.random.default_rng([s, i])``, so it is the same whatever the worker, the number of
workers or the order (DESIGN.md, Randomness). Per wave, in file order:

1. the number launched (fixed, Poisson or uniform integer);
2. the interception rate (fixed, or one draw from the Beta prior / posterior);
3. the interceptions ~ Binomial(launched, rate); hits = launched - intercepted;
4. each hit's target, drawn with probability proportional to the target weights;
5. whether the hit destroys it ~ Bernoulli(P(destroy | class), reduced where protected).

The destroyed assets of all waves form the sample's damage, which the impact engine assesses.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import PRIORITY_CLASSES, Grid
from gridshield.threat.scenario import DEFAULT_PROTECTION_REDUCTION, Scenario, ScenarioError


# -- grid ----------------------------------------------------------------------------------------


def _bus_rows(grid: Grid, field: str, name: str, members: list[int | str]) -> list[int]:
    rows = []
    for m in members:
        bid = f"bus:{m}" if isinstance(m, int) else str(m)
        if not bid.startswith("bus:"):
            bid = f"bus:{bid}"
        if bid not in grid.buses.index:
            import difflib

            close = difflib.get_close_matches(bid, list(grid.buses.index), n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ScenarioError(
                "scenario",
                [f"grid.{field}.{name}: bus {m!r} is not in case {grid.name!r}{hint}; use its MATPOWER bus number"],
            )
        rows.append(grid.buses.index[bid])
    return rows


def check_scenario(scenario: Scenario) -> Grid:
    """Build the grid and compile the threat, raising :class:`ScenarioError` that names the file; the grid."""
    try:
        grid = build_grid(scenario)
        compile_threat(scenario, grid)
    except ScenarioError as exc:
        raise ScenarioError(scenario.source, exc.problems) from None
    return grid


def area_count(grid: Grid, report_by: str) -> int:
    """How many areas per-area results have (load groups, buses with load, or sites with load)."""
    ld = grid.loads
    if report_by == "group":
        return len(set(ld.group.tolist()))
    if report_by == "bus":
        return len(set(ld.bus.tolist()))
    return len(set(grid.buses.substation[ld.bus].tolist()))


def build_grid(scenario: Scenario) -> Grid:
    """Load the scenario's case and apply its ``sites`` and ``groups`` (a new Grid; nothing mutated)."""
    from gridshield.grid.cases import load

    grid = load(scenario.grid.case)
    spec = scenario.grid
    if spec.sites:
        sub = grid.buses.substation.copy()
        owner: dict[int, str] = {}
        for name, members in spec.sites.items():
            for r in _bus_rows(grid, "sites", name, members):
                if r in owner and owner[r] != name:
                    raise ScenarioError(
                        "scenario",
                        [f"grid.sites.{name}: bus {grid.buses.id[r]} is already in site {owner[r]!r}; a bus belongs to one site"],
                    )
                owner[r] = name
                sub[r] = name
        grid = grid.replace(buses=grid.buses.replace(substation=sub))
    if spec.groups:
        grp = grid.loads.group.copy()
        for name, members in spec.groups.items():
            rows = set(_bus_rows(grid, "groups", name, members))
            for j, b in enumerate(grid.loads.bus.tolist()):
                if b in rows:
                    grp[j] = name
        grid = grid.replace(loads=grid.loads.replace(group=grp))
    return grid


# -- target pools ----------------------------------------------------------------------------------


def asset_classes(grid: Grid) -> dict[str, list[str]]:
    """The strikeable assets of ``grid`` by class (``site``, ``substation``, ``plant``, ...)."""
    gen_buses = set(grid.gens.bus[grid.gens.in_service].tolist())
    stated = dict(zip(grid.site_table.id.tolist(), grid.site_table.category.tolist(), strict=True))
    plants, subs = [], []
    for name, rows in grid.sites.items():
        # the model's own category where it states one (a CGMES substation holding an SVC or an
        # HVDC converter is no plant); else a site with a generator is a plant
        cat = stated.get(f"site:{name}") or ("plant" if gen_buses.intersection(rows.tolist()) else "substation")
        if cat == "plant":
            plants.append(f"site:{name}")
        elif cat == "substation":
            subs.append(f"site:{name}")
    br = grid.branches
    live = br.in_service
    return {
        "site": [f"site:{s}" for s in grid.sites],
        "substation": subs,
        "plant": plants,
        "transformer": br.id[live & br.is_transformer].tolist(),
        "line": br.id[live & ~br.is_transformer].tolist(),
        "generator": grid.gens.id[grid.gens.in_service].tolist(),
        "bus": grid.buses.id[grid.buses.in_service].tolist(),
    }


def _class_of(asset_id: str, grid: Grid, classes: dict[str, list[str]]) -> str:
    kind = asset_id.split(":", 1)[0]
    if kind == "site":
        return "plant" if asset_id in set(classes["plant"]) else "substation"
    if kind == "branch":
        return "transformer" if bool(grid.branches.is_transformer[grid.branches.index[asset_id]]) else "line"
    if kind == "gen":
        return "generator"
    return "bus"


@dataclass(frozen=True)
class CompiledWave:
    """A wave turned into arrays: target pool, hit probabilities, destroy probabilities."""

    name: str
    weapon: str
    launched: tuple[str, tuple[float, ...]]  # ("fixed", (n,)) | ("poisson", (mean,)) | ("uniform_int", (lo, hi))
    rate: tuple[str, tuple[float, ...]]  # ("fixed", (r,)) | ("beta", (a, b))
    targets: tuple[str, ...]
    target_p: np.ndarray
    destroy_p: np.ndarray
    #: ``target_p`` cumulated as ``Generator.choice(p=target_p)`` does it (``cumsum``, divided by
    #: the last): searching it with ``random(h)`` draws exactly what ``choice`` draws, without
    #: its per-call checks of ``p``
    target_cdf: np.ndarray


@dataclass(frozen=True)
class Draw:
    """What sample ``index`` drew: per wave launched / rate / intercepted / hits, and the damage."""

    index: int
    launched: tuple[int, ...]
    rate: tuple[float, ...]
    intercepted: tuple[int, ...]
    hits: tuple[int, ...]
    damage: tuple[str, ...]
    weight: float = 1.0  # likelihood ratio of the draw (tail sampling); 1 for plain draws


@dataclass(frozen=True)
class CompiledThreat:
    """A scenario compiled against its grid; :meth:`draw` gives sample ``i`` for a seed."""

    waves: tuple[CompiledWave, ...]

    def draw(self, seed: int, index: int) -> Draw:
        rng = np.random.default_rng([int(seed), int(index)])
        launched, rates, inter, hits = [], [], [], []
        destroyed: set[str] = set()
        for w in self.waves:
            kind, par = w.launched
            if kind == "fixed":
                n = int(par[0])
            elif kind == "poisson":
                n = int(rng.poisson(par[0]))
            else:
                n = int(rng.integers(int(par[0]), int(par[1]), endpoint=True))
            rk, rp = w.rate
            r = float(rng.beta(rp[0], rp[1])) if rk == "beta" else float(rp[0])
            k = int(rng.binomial(n, r)) if n > 0 else 0
            h = n - k
            if h > 0 and len(w.targets):
                tgt = w.target_cdf.searchsorted(rng.random(h), side="right")  # = rng.choice(..., p=target_p)
                u = rng.random(h)
                for t in tgt[u < w.destroy_p[tgt]].tolist():
                    destroyed.add(w.targets[t])
            launched.append(n)
            rates.append(r)
            inter.append(k)
            hits.append(h)
        return Draw(int(index), tuple(launched), tuple(rates), tuple(inter), tuple(hits), tuple(sorted(destroyed)))


def compile_threat(scenario: Scenario, grid: Grid) -> CompiledThreat:
    """Resolve each wave's targets against the grid (unknown ids and empty classes are errors)."""
    classes = asset_classes(grid)
    site_names = set(grid.sites)
    waves = []
    for wi, wave in enumerate(scenario.waves):
        weights: dict[str, float] = {}
        for ti, t in enumerate(wave.targets):
            where = f"waves[{wi}].targets[{ti}]"
            if t.asset_class is not None:
                members = classes[t.asset_class]
                if not members:
                    fix = (
                        "define sites under grid.sites (site name -> bus numbers)"
                        if t.asset_class in ("site", "substation", "plant")
                        else "target another class or explicit ids"
                    )
                    raise ScenarioError(
                        "scenario", [f"{where}.class: case {grid.name!r} has no {t.asset_class!r} assets; {fix}"]
                    )
                share = t.weight / len(members)
                for m in members:
                    weights[m] = weights.get(m, 0.0) + share
            else:
                aid = t.id or ""
                kind = aid.split(":", 1)[0]
                ok = aid[5:] in site_names if kind == "site" else (
                    kind in ("bus", "branch", "gen") and aid in grid.tables[kind].index
                )
                if not ok:
                    import difflib

                    known = classes["site"] + grid.buses.id.tolist() + grid.branches.id.tolist() + grid.gens.id.tolist()
                    close = difflib.get_close_matches(aid, known, n=3, cutoff=0.5)
                    hint = f" (did you mean {', '.join(close)}?)" if close else ""
                    raise ScenarioError(
                        "scenario",
                        [f"{where}.id: {aid!r} is not a site, bus, branch or gen of case {grid.name!r}{hint}"],
                    )
                weights[aid] = weights.get(aid, 0.0) + t.weight
        ids = tuple(weights)
        w = np.array([weights[i] for i in ids], dtype=float)
        p_hit = w / w.sum()
        pd = np.array([wave.destroy_probability(_class_of(i, grid, classes)) for i in ids], dtype=float)
        pos = {a: j for j, a in enumerate(ids)}
        for pi, prot in enumerate(wave.protected):
            if prot.id not in pos:
                raise ScenarioError(
                    "scenario",
                    [f"waves[{wi}].protected[{pi}].id: {prot.id!r} is not among this wave's targets; "
                     "add it to targets or remove it"],
                )
            j = pos[prot.id]
            if prot.destroy_probability is not None:
                pd[j] = prot.destroy_probability
            else:
                red = DEFAULT_PROTECTION_REDUCTION if prot.reduction is None else prot.reduction
                pd[j] = pd[j] * (1.0 - red)
        launched = wave.launched
        if launched.fixed is not None:
            lk: tuple[str, tuple[float, ...]] = ("fixed", (float(launched.fixed),))
        elif launched.poisson is not None:
            lk = ("poisson", (float(launched.poisson),))
        else:
            lk = ("uniform_int", tuple(float(x) for x in launched.uniform_int))  # type: ignore[union-attr]
        cdf = p_hit.cumsum()
        cdf /= cdf[-1]
        for arr in (p_hit, pd, cdf):
            arr.setflags(write=False)
        waves.append(
            CompiledWave(
                name=wave.name or f"wave {wi + 1}",
                weapon=wave.weapon,
                launched=lk,
                rate=wave.interception_or_default().distribution(),
                targets=ids,
                target_p=p_hit,
                destroy_p=pd,
                target_cdf=cdf,
            )
        )
    return CompiledThreat(tuple(waves))


# -- evaluation ------------------------------------------------------------------------------------


def impact_evaluator(grid: Grid, scenario: Scenario) -> Any:
    """The default evaluator: :class:`gridshield.impact.ImpactModel` with the scenario's options."""
    try:
        from gridshield.impact import ImpactModel
    except ImportError as exc:
        raise ScenarioError(
            "impact", [f"the impact engine is not available ({exc}); install gridshield fully, or use "
                       "--evaluator gridshield.threat.sampling:local_loss_evaluator (local loss only)"]
        ) from None

    return ImpactModel(grid, **scenario.impact.options())


@dataclass(frozen=True)
class SampleMetrics:
    """The metrics of one sample (all MW)."""

    demand_mw: float
    served_mw: float
    lost_mw: float
    customers_affected: int
    priority_lost_mw: tuple[float, ...]  # PRIORITY_CLASSES order
    group_lost_mw: tuple[float, ...]  # Sampler.groups order
    group_dark: tuple[bool, ...]


def _dark(lost: float, dem: float) -> bool:
    # dark: the area lost (practically) all of its load
    return bool(dem > 0.0 and lost >= dem * (1.0 - 1e-6) - 1e-9)


class _Areas:
    """Per-load area labels (bus or site) for per-area metrics computed from ``load_served_mw``."""

    def __init__(self, grid: Grid, by: str):
        ld = grid.loads
        if by == "bus":
            lab = [b[4:] if b.startswith("bus:") else b for b in grid.buses.id[ld.bus].tolist()]
        else:
            lab = grid.buses.substation[ld.bus].tolist()
        self.names = tuple(sorted({x for x in lab if x}))
        pos = {n: i for i, n in enumerate(self.names)}
        self.area = np.array([pos.get(x, -1) for x in lab], dtype=np.int64)
        self.demand = np.where(ld.in_service, np.maximum(ld.p_mw, 0.0), 0.0)
        keep = self.area >= 0
        self.area_demand = np.bincount(self.area[keep], self.demand[keep], minlength=len(self.names))
        self._rows = np.flatnonzero(keep)
        self._area_rows = self.area[self._rows]
        self._dark_at = self.area_demand * (1.0 - 1e-6) - 1e-9  # _dark's threshold per area

    def metrics(self, res: Any) -> tuple[tuple[float, ...], tuple[bool, ...]]:
        r = self._rows
        served = np.minimum(np.maximum(np.asarray(res.load_served_mw, dtype=float)[r], 0.0), self.demand[r])
        lost = np.bincount(self._area_rows, self.demand[r] - served, minlength=len(self.names))
        dark = (self.area_demand > 0.0) & (lost >= self._dark_at)  # _dark per area, vectorised
        return tuple(lost.tolist()), tuple(dark.tolist())


def _metrics(res: Any, groups: tuple[str, ...], areas: _Areas | None = None) -> SampleMetrics:
    byp = getattr(res, "by_priority", {}) or {}
    byg = getattr(res, "by_group", {}) or {}
    glost, gdark = [], []
    if areas is not None:
        glost, gdark = areas.metrics(res)  # type: ignore[assignment]
    else:
        for g in groups:
            d = byg.get(g)
            if d is None:
                glost.append(0.0)
                gdark.append(False)
                continue
            lost = float(d.get("lost_mw", 0.0))
            glost.append(lost)
            gdark.append(_dark(lost, float(d.get("demand_mw", 0.0))))
    return SampleMetrics(
        demand_mw=float(res.demand_mw),
        served_mw=float(res.served_mw),
        lost_mw=float(res.lost_mw),
        customers_affected=int(getattr(res, "customers_affected", 0) or 0),
        priority_lost_mw=tuple(float((byp.get(c) or {}).get("lost_mw", 0.0)) for c in PRIORITY_CLASSES),
        group_lost_mw=tuple(glost),
        group_dark=tuple(gdark),
    )


class Sampler:
    """Per-worker state: the grid, the compiled threat and the evaluator, built once.

    :meth:`sample` gives sample ``i``'s draw and metrics; identical damage sets are assessed once
    (an LRU cache of ``cache_size`` damage sets), which is exact because assessment is a pure
    function of the damage.
    """

    def __init__(self, scenario: Scenario, evaluator: Any = None, cache_size: int = 4096):
        self.scenario = scenario
        self.grid = build_grid(scenario)
        self.threat = compile_threat(scenario, self.grid)
        factory = evaluator or impact_evaluator
        name = factory if isinstance(factory, str) else getattr(factory, "__name__", "evaluator")
        if isinstance(factory, str):
            factory = resolve_callable(factory)
        try:
            self.model = factory(self.grid, scenario)
        except GridshieldError:
            raise
        except Exception as exc:  # noqa: BLE001 - a user's evaluator: say which and why, not a traceback
            raise GridshieldError(f"--evaluator {name}: failed to build: {type(exc).__name__}: {exc}") from None
        if not callable(getattr(self.model, "assess", None)):
            raise GridshieldError(f"--evaluator {name}: returned a {type(self.model).__name__}, which has no "
                                  "assess(damage) method")
        base = self.model.assess([])
        by = scenario.grid.report_by
        self.areas = None if by == "group" else _Areas(self.grid, by)
        if self.areas is not None:
            self.groups: tuple[str, ...] = self.areas.names
        else:
            self.groups = tuple(sorted(g for g in (getattr(base, "by_group", {}) or {}) if g))
        self._cache: OrderedDict[tuple[str, ...], SampleMetrics] = OrderedDict()
        #: results that do not depend on what was assessed before (kept across batches)
        self._kept: OrderedDict[tuple[str, ...], SampleMetrics] = OrderedDict()
        self._cache_size = cache_size
        self._cache[()] = _metrics(base, self.groups, self.areas)
        #: a :class:`gridshield.threat.tail.TailPlan` draws the samples instead of the threat
        #: when set (``--sampling tail``; the executors set it when they build a worker's state)
        self.tail: Any = None

    def begin_batch(self) -> None:
        """Called before each batch. When the evaluator can reset its solver's warm start
        (``reset_warm_start()``), reset it and forget cached results, so that a batch's numbers
        depend on its samples only, bit for bit, whatever ran before it on this worker.

        Results the evaluator marks ``repeatable`` (the same whatever ran before: the impact
        engine's no-LP fast path) are kept across batches."""
        reset = getattr(self.model, "reset_warm_start", None)
        if callable(reset):
            reset()
            base = self._cache[()]
            self._cache.clear()
            self._cache[()] = base

    def one_thread(self) -> AbstractContextManager:
        """The evaluator's ``one_thread()`` context (BLAS on one thread for a whole batch, entered
        once), or a context doing nothing for evaluators without one."""
        hold = getattr(self.model, "one_thread", None)
        return hold() if callable(hold) else nullcontext()

    def _assess(self, ids: list[str]) -> Any:
        """The evaluator's loss-only assessment where it has one (the impact engine's
        ``assess_loss``: the same numbers, without the operating point and island details the
        metrics never read; per-group sums only when areas are load groups), else ``assess``."""
        lean = getattr(self.model, "assess_loss", None)
        if callable(lean):
            return lean(ids, groups=self.areas is None)
        return self.model.assess(ids)

    def evaluate(self, damage: tuple[str, ...]) -> SampleMetrics:
        for cache in (self._kept, self._cache):
            hit = cache.get(damage)
            if hit is not None:
                cache.move_to_end(damage)
                return hit
        res = self._assess(list(damage))
        m = _metrics(res, self.groups, self.areas)
        cache = self._kept if getattr(res, "repeatable", False) is True else self._cache
        cache[damage] = m
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return m

    def sample(self, seed: int, index: int) -> tuple[Draw, SampleMetrics]:
        d = self.threat.draw(seed, index) if self.tail is None else self.tail.draw(seed, index)
        return d, self.evaluate(d.damage)


#: How samples are drawn: "plain" Monte Carlo, or "tail" (stratified importance sampling of the
#: destroyed assets by impact tier, :mod:`gridshield.threat.tail`).
SAMPLINGS = ("plain", "tail")


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        from gridshield.errors import GridshieldError

        raise GridshieldError(f"--sampling {sampling!r}: use one of {', '.join(SAMPLINGS)}")


def resolve_callable(spec: str) -> Any:
    """``"package.module:function"`` -> the function (so evaluators travel to workers by name)."""
    import importlib

    import inspect

    mod, _, attr = spec.partition(":")
    if not attr or not mod:
        raise GridshieldError(f"--evaluator {spec!r}: expected 'module:function'")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except Exception as exc:  # noqa: BLE001 - ImportError, AttributeError, or the module's own import failing
        raise GridshieldError(f"--evaluator {spec!r}: cannot import it ({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise GridshieldError(f"--evaluator {spec!r}: a {type(fn).__name__}, not a function")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise GridshieldError(f"--evaluator {spec!r}: does not take (grid, scenario); give a function that builds "
                              "an evaluator from them") from None
    except ValueError:  # no signature to inspect (some built-ins): the call below will tell
        pass
    return fn


__all__ = [
    "CompiledThreat",
    "CompiledWave",
    "Draw",
    "SampleMetrics",
    "Sampler",
    "area_count",
    "asset_classes",
    "build_grid",
    "check_scenario",
    "compile_threat",
    "impact_evaluator",
    "resolve_callable",
]


# -- a transparent stand-in evaluator ------------------------------------------------------------


@dataclass(frozen=True)
class _LocalLoss:
    demand_mw: float
    served_mw: float
    lost_mw: float
    customers_affected: int
    by_priority: dict
    by_group: dict
    load_served_mw: np.ndarray


class LocalLossModel:
    """A deliberately simple evaluator: a destroyed asset loses exactly the load at its own buses.

    Sites lose the load of all their buses, buses their own load, branches and generators none.
    No network effects (no islanding, no redispatch): it is the baseline used to check the
    sampler by exact enumeration, and ``evaluator="gridshield.threat.sampling:local_loss_evaluator"``
    selects it. Use the default impact engine for real answers.
    """

    def __init__(self, grid: Grid):
        self.grid = grid
        ld = grid.loads
        self.p = np.where(ld.in_service, ld.p_mw, 0.0)
        self.demand = float(self.p.sum())

    def assess(self, ids: Any) -> _LocalLoss:
        g = self.grid
        bus_out = np.zeros(len(g.buses), bool)
        for a in ids:
            kind = a.split(":", 1)[0]
            if kind == "site":
                bus_out[g.sites[a[5:]]] = True
            elif kind == "bus":
                bus_out[g.buses.index[a]] = True
        lost_each = np.where(bus_out[g.loads.bus], self.p, 0.0)
        ld = g.loads
        byp = {c: {"demand_mw": float(self.p[ld.priority == c].sum()), "lost_mw": float(lost_each[ld.priority == c].sum())}
               for c in PRIORITY_CLASSES}
        byg = {}
        for grp in sorted(set(ld.group.tolist())):
            m = ld.group == grp
            byg[grp] = {"demand_mw": float(self.p[m].sum()), "lost_mw": float(lost_each[m].sum()),
                        "customers": int(ld.customers[m].sum()),
                        "customers_off": int(ld.customers[m & (lost_each > 0)].sum())}
        lost = float(lost_each.sum())
        return _LocalLoss(self.demand, self.demand - lost, lost, int(ld.customers[lost_each > 0].sum()), byp, byg,
                          self.p - lost_each)


def local_loss_evaluator(grid: Grid, scenario: Scenario) -> LocalLossModel:
    """Factory of :class:`LocalLossModel` (for ``evaluator="gridshield.threat.sampling:local_loss_evaluator"``)."""
    return LocalLossModel(grid)
