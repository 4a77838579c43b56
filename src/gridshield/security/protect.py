"""Protection planning: which assets to shelter, within a budget, to cut the worst-case loss.

Defender–attacker–defender (Brown, Carlyle, Salmeron & Wood 2006, "Defending critical
infrastructure", Interfaces 36(6):530–544): the defender protects a set ``P`` (cost <= budget),
the attacker then removes the ``k`` unprotected assets that shed the most load (the
Salmeron–Wood–Baldick interdiction of :mod:`gridshield.security.nk`), and the operator sheds
load optimally. It is solved by iterating:

* **master**: ``min_P max_j L(A_j minus P)`` over the attack plans ``A_j`` found so far, by
  enumerating the affordable protection sets among the assets those plans use (protecting any
  other asset changes none of the ``L(A_j minus P)``), with ``L`` the operator's load-shedding LP;
  this is a lower bound on the optimum;
* **attacker**: the worst ``k``-set given ``P`` (interdiction MILP with ``P`` forbidden); its
  value is an upper bound. Stop when the bounds meet; otherwise add the plan and repeat.

In this worst-case mode a protected asset cannot be destroyed (a shelter that fails 10–20 % of
the time still makes the attacker prefer other targets; ``effect`` is kept in the result for
reference and for the expected-loss mode of the Monte Carlo). The plan is ranked greedily by
marginal benefit per unit of money, and ``curve`` gives the optimal worst-case loss for each
budget step.

Default costs: **$2.75 M per asset** (mid-point of the UAH 100–130 M, $2.4–3.1 M, per-site cost
of Ukrenergo's concrete shelters against drones; DOMAIN.md section 2, sources unn.ua Jan 2026,
kyivpost 37638, censor.net 3497774). Passive protection worked 80–90 % of the time (Shmyhal,
babel.ua 100170), hence the default ``effect=0.85``.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid
from gridshield.security.nk import worst_case
from gridshield.security.shed import ShedModel, as_assets

#: Default protection cost per asset (USD): mid-point of $2.4–3.1 M per shelter (DOMAIN.md §2).
DEFAULT_COST_USD = 2.75e6
#: Share of hits a shelter stops (80–90 %, DOMAIN.md §2).
DEFAULT_EFFECT = 0.85


@dataclass(frozen=True)
class ProtectionPlan:
    """A ranked protection plan and the worst-case loss against budget.

    Attributes
    ----------
    protect
        Assets to protect, in order of marginal benefit per unit of money.
    cost_usd, marginal_benefit_mw, benefit_per_musd
        Cost of each, the reduction of the worst-case loss when it is added (in ranked order)
        and that reduction per million USD.
    worst_case_mw, unprotected_worst_case_mw
        Worst-case load shed (MW) from ``k`` hits with and without the plan.
    worst_attack
        The attacker's best reply to the plan.
    curve
        ``[(budget_usd, loss_mw, protected ids)]``: the plan for each budget step (``loss_mw`` is
        the worst-case loss, or the expected loss in ``mode="expected"``).
    optimal
        True when the master and attacker bounds met (exact for the interdiction model; always
        False in the expected mode, whose greedy + 1-swap search is a heuristic).
    mode
        ``"worst_case"`` (k hits, defender–attacker–defender) or ``"expected"`` (Monte Carlo
        expected MW lost under a threat scenario). In the expected mode ``marginal_benefit_mw``
        is the reduction of the expected MW lost, ``worst_case_mw`` is NaN (``None`` in
        ``to_dict``), and ``expected_loss_mw`` / ``unprotected_expected_loss_mw`` /
        ``ci95_half_width_mw`` (the larger 95 % CI half-width of the two estimates) /
        ``reduction_ci95_half_width_mw`` (paired CI half-width of their difference) /
        ``samples`` / ``seed`` / ``scenario`` / ``candidates`` are set.
    """

    protect: tuple[str, ...]
    cost_usd: tuple[float, ...]
    marginal_benefit_mw: tuple[float, ...]
    benefit_per_musd: tuple[float, ...]
    worst_case_mw: float
    unprotected_worst_case_mw: float
    worst_attack: tuple[str, ...]
    budget_usd: float
    k: int
    effect: float
    optimal: bool
    iterations: int
    runtime_s: float
    curve: tuple[tuple[float, float, tuple[str, ...]], ...] = field(default=())
    mode: str = "worst_case"
    expected_loss_mw: float | None = None
    unprotected_expected_loss_mw: float | None = None
    ci95_half_width_mw: float | None = None
    reduction_ci95_half_width_mw: float | None = None
    samples: int | None = None
    seed: int | None = None
    scenario: str | None = None
    candidates: tuple[str, ...] = ()

    @property
    def total_cost_usd(self) -> float:
        return float(sum(self.cost_usd))

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "rank": np.arange(1, len(self.protect) + 1),
                "cost_usd": list(self.cost_usd),
                "marginal_benefit_mw": list(self.marginal_benefit_mw),
                "benefit_mw_per_musd": list(self.benefit_per_musd),
            },
            index=pd.Index(list(self.protect), name="asset"),
        )

    def curve_frame(self):
        import pandas as pd

        col = "expected_loss_mw" if self.mode == "expected" else "worst_case_mw"
        return pd.DataFrame(
            {"budget_usd": [c[0] for c in self.curve], col: [c[1] for c in self.curve],
             "protected": [" ".join(c[2]) for c in self.curve]}
        )

    def to_dict(self) -> dict[str, Any]:
        def num(x):
            return float(x) if x is not None and np.isfinite(x) else None

        d = self._to_dict()
        if self.mode == "expected":
            d["worst_case_mw"] = d["unprotected_worst_case_mw"] = None
            d["k"] = None
            d.update({
                "expected_loss_mw": num(self.expected_loss_mw),
                "unprotected_expected_loss_mw": num(self.unprotected_expected_loss_mw),
                "ci95_half_width_mw": num(self.ci95_half_width_mw),
                "reduction_ci95_half_width_mw": num(self.reduction_ci95_half_width_mw),
                "samples": self.samples, "seed": self.seed, "scenario": self.scenario,
                "candidates": list(self.candidates),
                "curve": [{"budget_usd": float(b), "expected_loss_mw": float(v), "protected": list(p)}
                          for b, v, p in self.curve],
            })
            d.pop("worst_attack", None)
        return d

    def _to_dict(self) -> dict[str, Any]:
        return {
            "kind": "protection_plan",
            "mode": self.mode,
            "budget_usd": float(self.budget_usd),
            "k": int(self.k),
            "effect": float(self.effect),
            "protect": [
                {"id": a, "cost_usd": float(c), "marginal_benefit_mw": float(b),
                 "benefit_mw_per_musd": float(r) if np.isfinite(r) else None}
                for a, c, b, r in zip(self.protect, self.cost_usd, self.marginal_benefit_mw, self.benefit_per_musd,
                                      strict=True)
            ],
            "total_cost_usd": self.total_cost_usd,
            "worst_case_mw": float(self.worst_case_mw),
            "unprotected_worst_case_mw": float(self.unprotected_worst_case_mw),
            "worst_attack": list(self.worst_attack),
            "optimal": bool(self.optimal),
            "iterations": int(self.iterations),
            "runtime_s": float(self.runtime_s),
            "curve": [{"budget_usd": float(b), "worst_case_mw": float(v), "protected": list(p)} for b, v, p in self.curve],
        }

    def figure(self):
        """Plotly step chart of the worst-case loss against budget."""
        import plotly.graph_objects as go

        x = [c[0] / 1e6 for c in self.curve]
        y = [c[1] for c in self.curve]
        fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", line={"shape": "hv"},
                                   text=[", ".join(c[2]) for c in self.curve],
                                   hovertemplate="$%{x:.1f} M: %{y:.1f} MW<br>%{text}<extra></extra>"))
        if self.mode == "expected":
            fig.update_layout(title=f"expected loss under {self.scenario} against protection budget",
                              xaxis_title="budget (M USD)", yaxis_title="expected MW lost", template="plotly_white")
        else:
            fig.update_layout(title=f"worst-case loss from {self.k} hits against protection budget",
                              xaxis_title="budget (M USD)", yaxis_title="worst-case load shed (MW)", template="plotly_white")
        return fig


def read_costs(path: str | Path) -> dict[str, float]:
    """Costs per asset from a CSV with columns ``asset,cost_usd`` (header required)."""
    p = Path(path)
    if not p.is_file():
        raise GridshieldError(f"{p}: costs file not found (CSV with columns asset,cost_usd)")
    from gridshield.io import read_text_file

    text = read_text_file(p, "costs file")
    out: dict[str, float] = {}
    rd = csv.DictReader(text.splitlines())
    cols = [c.strip().lower() for c in (rd.fieldnames or [])]
    if "asset" not in cols or "cost_usd" not in cols:
        raise GridshieldError(f"{p}: needs a header with columns 'asset' and 'cost_usd', got {rd.fieldnames}")
    for line, row in enumerate(rd, start=2):
        row = {k.strip().lower(): v for k, v in row.items()}
        try:
            c = float(row["cost_usd"])
        except (TypeError, ValueError):
            raise GridshieldError(f"{p}:{line}: cost_usd {row['cost_usd']!r} is not a number") from None
        if not np.isfinite(c) or c < 0:
            raise GridshieldError(f"{p}:{line}: cost_usd must be a non-negative number, got {c}")
        out[row["asset"].strip()] = c
    return out


def plan_protection(
    grid: Grid | None,
    budget: float,
    costs: Mapping[str, float] | str | Path | None = None,
    k: int = 3,
    effect: float = DEFAULT_EFFECT,
    candidates: Sequence[str] | None = None,
    protectable: Sequence[str] | None = None,
    method: str = "auto",
    weights=None,
    curve_steps: int | None = None,
    max_iterations: int = 50,
    model: ShedModel | None = None,
    scenario: Any = None,
    samples: int = 300,
    seed: int = 0,
    evaluator: Any = None,
    progress: Any = None,
) -> ProtectionPlan:
    """Choose assets to protect within ``budget`` to minimise the worst-case loss from ``k`` hits.

    Parameters
    ----------
    grid
        The grid.
    budget
        Money available (USD).
    costs
        Cost per asset id (dict or CSV ``asset,cost_usd``); assets not listed cost
        :data:`DEFAULT_COST_USD` ($2.75 M, DOMAIN.md §2).
    k
        Number of hits the attacker lands.
    effect
        Share of hits a protection stops (0.85 by default, 80–90 % in DOMAIN.md §2). The
        worst-case mode treats protected assets as not removable; ``effect`` matters for the
        expected-loss mode.
    candidates
        Assets the attacker may hit (default: in-service branches and generators).
    protectable
        Assets the defender may protect (default: the attack candidates).
    method
        Attacker's method (``auto``, ``milp``, ``enumerate``, ``heuristic``); ``milp`` /
        ``enumerate`` make the plan exact.
    curve_steps
        Budget steps of the loss curve (default: every multiple of the cheapest cost up to
        ``budget``, at most 12).
    scenario
        A threat scenario (YAML path, text, dict or :class:`~gridshield.threat.scenario.Scenario`).
        When given, the mode is ``"expected"``: minimise the Monte Carlo expected MW lost, where
        protecting an asset multiplies its destroy probability by ``1 - effect``. ``grid``,
        ``k``, ``candidates``, ``method`` and ``model`` are not used (the scenario names its
        grid); ``protectable`` defaults to the sites the scenario targets and does not already
        protect. Method: greedy by expected-MW reduction per money, then 1-swap improvement,
        every evaluation on the same ``samples`` samples (``seed``, common random numbers).
    samples, seed
        Monte Carlo samples per evaluation (default 300) and the run seed (expected mode).
    evaluator
        Advanced, expected mode: evaluator factory or ``"module:function"`` as in
        :func:`gridshield.run_risk` (default: the impact engine with the scenario's options).
    """
    t0 = time.perf_counter()
    if not (budget >= 0 and np.isfinite(budget)):
        raise GridshieldError(f"budget must be a non-negative number of USD, got {budget}")
    if not (0 < effect <= 1):
        raise GridshieldError(f"effect must be in (0, 1], got {effect}")
    if isinstance(costs, (str, Path)):
        costs = read_costs(costs)
    costs = dict(costs or {})
    if scenario is not None:
        return _plan_expected(scenario, budget, costs, effect, protectable, samples, seed, curve_steps, evaluator,
                              progress, t0, grid)
    model = model or ShedModel(grid, weights)
    attack = as_assets(grid, candidates)
    cand_ids = [a.id for a in attack]
    prot_ids = list(cand_ids if protectable is None else protectable)
    for a in list(costs) + prot_ids:
        grid.locate(a)
    cost = {a: float(costs.get(a, DEFAULT_COST_USD)) for a in prot_ids}
    by_id = {a.id: a for a in attack}

    def loss(ids: Sequence[str]) -> float:
        return model.evaluate([by_id[i] for i in ids])[0]

    cache: dict[frozenset, float] = {}

    def loss_c(ids) -> float:
        key = frozenset(ids)
        if key not in cache:
            cache[key] = loss(sorted(key))
        return cache[key]

    def attacker(prot: Sequence[str]):
        return worst_case(grid, k=k, candidates=cand_ids, method=method, protected=[p for p in prot if p in by_id],
                          model=model)

    def solve(b: float) -> tuple[tuple[str, ...], float, tuple[str, ...], bool, int]:
        plans: list[frozenset] = []
        prot: tuple[str, ...] = ()
        r = attacker(prot)
        plans.append(frozenset(r.assets))
        best_ub, best_p, best_att = r.weighted_shed, prot, r.assets
        exact = r.optimal
        for it in range(1, max_iterations + 1):
            relevant = sorted({a for pl in plans for a in pl if a in cost and cost[a] <= b})
            lb, arg = np.inf, ()
            for n in range(0, len(relevant) + 1):
                any_aff = False
                for ps in itertools.combinations(relevant, n):
                    if sum(cost[p] for p in ps) > b + 1e-6:
                        continue
                    any_aff = True
                    v = max(loss_c(pl - set(ps)) for pl in plans)
                    if v < lb - 1e-9:
                        lb, arg = v, ps
                if not any_aff and n > 0:
                    break
            r = attacker(arg)
            exact = exact and r.optimal
            if r.weighted_shed < best_ub - 1e-9:
                best_ub, best_p, best_att = r.weighted_shed, arg, r.assets
            if best_ub <= lb + 1e-6 * max(1.0, lb):
                return best_p, best_ub, best_att, exact, it
            plans.append(frozenset(r.assets))
        return best_p, best_ub, best_att, False, max_iterations

    prot, worst, att, exact, iters = solve(float(budget))
    base = attacker(()).weighted_shed
    # rank the plan: add its assets greedily by benefit per money
    order: list[str] = []
    marg: list[float] = []
    left = list(prot)
    cur = base
    while left:
        best = None
        for a in left:
            v = attacker(order + [a]).weighted_shed
            score = (cur - v) / max(cost[a], 1e-9)
            if best is None or score > best[0] + 1e-12:
                best = (score, a, v)
        _, a, v = best
        order.append(a)
        marg.append(cur - v)
        cur = v
        left.remove(a)
    # loss curve against budget
    cmin = min(cost.values()) if cost else 0.0
    if curve_steps is None:
        n_steps = int(min(12, np.floor(budget / cmin))) if cmin > 0 else 0
        steps = [i * cmin for i in range(n_steps + 1)]
    else:
        steps = list(np.linspace(0, budget, curve_steps + 1))
    curve = []
    for b in steps:
        if b >= budget - 1e-6:
            curve.append((float(b), float(worst), tuple(prot)))
        else:
            p_b, w_b, _, _, _ = solve(float(b))
            curve.append((float(b), float(w_b), tuple(p_b)))
    if not curve or curve[-1][0] < budget - 1e-6:
        curve.append((float(budget), float(worst), tuple(prot)))
    return ProtectionPlan(
        protect=tuple(order),
        cost_usd=tuple(cost[a] for a in order),
        marginal_benefit_mw=tuple(marg),
        benefit_per_musd=tuple(m / (cost[a] / 1e6) if cost[a] > 0 else float("inf") for m, a in zip(marg, order, strict=True)),
        worst_case_mw=float(worst),
        unprotected_worst_case_mw=float(base),
        worst_attack=tuple(att),
        budget_usd=float(budget),
        k=int(k),
        effect=float(effect),
        optimal=bool(exact),
        iterations=int(iters),
        runtime_s=time.perf_counter() - t0,
        curve=tuple(curve),
    )


# -- expected-loss mode (Monte Carlo threat scenario) ------------------------------------------------


class ExpectedLoss:
    """Monte Carlo expected MW lost under a threat scenario, for any set of protected assets.

    One :class:`~gridshield.threat.sampling.Sampler` (grid, impact model and its cache of assessed
    damage sets) is built once and reused for every protection set. For a set ``P`` a derived
    :class:`~gridshield.threat.scenario.Scenario` is built through the pydantic model: each
    wave that targets an asset of ``P`` gets ``{id, reduction: effect}`` added to its
    ``protected`` list, i.e. the asset's destroy probability becomes ``(1 - effect)`` times its
    unprotected value. Samples ``0..N-1`` use ``default_rng([seed, i])`` exactly as
    :func:`gridshield.run_risk` does, so every evaluation uses **common random numbers**: the
    draws of the launch counts, interceptions, targets and the uniforms of the destroy test are
    the same, and only the destroy thresholds of the protected assets change. Differences
    between protection sets are therefore not sampling noise.
    """

    def __init__(self, scenario: Any, samples: int = 300, seed: int = 0, effect: float = DEFAULT_EFFECT,
                 evaluator: Any = None):
        from gridshield.threat.sampling import Sampler, check_scenario
        from gridshield.threat.scenario import load_scenario

        if int(samples) < 2:
            raise GridshieldError(f"samples must be at least 2, got {samples}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise GridshieldError(f"seed {seed!r}: use a non-negative integer")
        if not (0 < effect <= 1):
            raise GridshieldError(f"effect must be in (0, 1], got {effect}")
        self.scenario = load_scenario(scenario)
        check_scenario(self.scenario)
        self.samples = int(samples)
        self.seed = int(seed)
        self.effect = float(effect)
        self.sampler = Sampler(self.scenario, evaluator)
        self.grid = self.sampler.grid
        self._cache: dict[tuple[str, ...], np.ndarray] = {}
        self.evaluations = 0
        # assets each wave may hit, and those the file already protects in every wave that targets them
        self.wave_targets = [set(w.targets) for w in self.sampler.threat.waves]
        self.already = [{p.id for p in w.protected} for w in self.scenario.waves]

    def targets(self, kinds: Sequence[str] | None = ("site",)) -> list[str]:
        """Assets some wave can hit and the file does not already protect there (file order)."""
        out: list[str] = []
        for w in self.sampler.threat.waves:
            for a in w.targets:
                if a not in out and (kinds is None or a.split(":", 1)[0] in kinds):
                    out.append(a)
        return [a for a in out if any(a in tg and a not in al for tg, al in zip(self.wave_targets, self.already,
                                                                                 strict=True))]

    def derived(self, protect: Sequence[str] = (), zero: Sequence[str] = ()) -> Any:
        """The scenario with ``protect`` sheltered (``reduction = effect``) and ``zero`` made indestructible."""
        from gridshield.threat.scenario import Protected

        waves = []
        for w, tg in zip(self.scenario.waves, self.wave_targets, strict=True):
            keep = [p for p in w.protected if p.id not in set(zero)]
            add = [Protected(id=a, reduction=self.effect) for a in protect
                   if a in tg and a not in {p.id for p in keep} and a not in set(zero)]
            add += [Protected(id=a, destroy_probability=0.0) for a in zero if a in tg]
            waves.append(w.model_copy(update={"protected": keep + add}))
        sc = self.scenario.model_copy(update={"waves": waves})
        sc._source = self.scenario.source
        return sc

    def lost(self, protect: Sequence[str] = (), zero: Sequence[str] = ()) -> np.ndarray:
        """MW lost in samples ``0..N-1`` with ``protect`` protected (cached per set)."""
        from gridshield.threat.sampling import compile_threat

        key = (tuple(sorted(set(protect))), tuple(sorted(set(zero))))
        hit = self._cache.get(key)  # type: ignore[arg-type]
        if hit is not None:
            return hit
        threat = compile_threat(self.derived(key[0], key[1]), self.grid)
        out = np.empty(self.samples)
        for i in range(self.samples):
            out[i] = self.sampler.evaluate(threat.draw(self.seed, i).damage).lost_mw
        out.setflags(write=False)
        self._cache[key] = out  # type: ignore[index]
        self.evaluations += 1
        return out

    def damage(self) -> list[tuple[str, ...]]:
        """The destroyed assets of each sample of the unmodified scenario."""
        from gridshield.threat.sampling import compile_threat

        threat = compile_threat(self.scenario, self.grid)
        return [threat.draw(self.seed, i).damage for i in range(self.samples)]

    def mean(self, protect: Sequence[str] = ()) -> float:
        return float(self.lost(protect).mean())


def _plan_expected(
    scenario: Any,
    budget: float,
    costs: dict[str, float],
    effect: float,
    protectable: Sequence[str] | None,
    samples: int,
    seed: int,
    curve_steps: int | None,
    evaluator: Any,
    progress: Any,
    t0: float,
    grid: Grid | None = None,
) -> ProtectionPlan:
    from gridshield.threat.runner import mean_ci

    ev = ExpectedLoss(scenario, samples=samples, seed=seed, effect=effect, evaluator=evaluator)
    if grid is not None and grid.name != ev.grid.name:
        raise GridshieldError(f"scenario {ev.scenario.name!r} is on case {ev.grid.name!r}, not {grid.name!r}; "
                              "pass its grid or grid=None")
    cand = list(ev.targets(("site",)) if protectable is None else protectable)
    known = set(ev.targets(None))
    for a in cand:
        if a not in known:
            raise GridshieldError(
                f"protectable asset {a!r} is not a target of scenario {ev.scenario.name!r} (or is already protected "
                f"there); targets: {', '.join(sorted(known)[:12])}{' ...' if len(known) > 12 else ''}"
            )
    if not cand:
        raise GridshieldError(f"scenario {ev.scenario.name!r} has no unprotected target to protect")
    for a in costs:
        ev.grid.locate(a)
    cost = {a: float(costs.get(a, DEFAULT_COST_USD)) for a in cand}
    tol = 1e-9

    def f(ps) -> float:
        return ev.mean(ps)

    def solve(b: float) -> list[str]:
        """Greedy by expected-MW reduction per money, then 1-swap improvement (repeat until stable)."""
        cur: list[str] = []
        spent = 0.0
        while True:
            while True:  # greedy additions
                base = f(cur)
                best = None
                for a in cand:
                    if a in cur or spent + cost[a] > b + 1e-6:
                        continue
                    gain = base - f(cur + [a])
                    score = gain / max(cost[a], 1e-9)
                    if gain > tol and (best is None or score > best[0] + 1e-15):
                        best = (score, a)
                if best is None:
                    break
                cur.append(best[1])
                spent += cost[best[1]]
                if progress is not None:
                    progress("expected-loss plan", ev.evaluations, ev.evaluations)
            improved = False  # 1-swap: replace one protected asset by one unprotected
            base = f(cur)
            best_sw = None
            for a in cur:
                for c in cand:
                    if c in cur or spent - cost[a] + cost[c] > b + 1e-6:
                        continue
                    trial = [x for x in cur if x != a] + [c]
                    v = f(trial)
                    if v < base - tol and (best_sw is None or v < best_sw[0]):
                        best_sw = (v, a, c)
            if best_sw is not None:
                _, a, c = best_sw
                cur = [x for x in cur if x != a] + [c]
                spent = sum(cost[x] for x in cur)
                improved = True
            if not improved:
                return cur

    prot = solve(float(budget))
    # rank the chosen set greedily by marginal benefit per money
    order: list[str] = []
    marg: list[float] = []
    left = list(prot)
    cur_v = f([])
    base_v = cur_v
    while left:
        best = None
        for a in left:
            v = f(order + [a])
            score = (cur_v - v) / max(cost[a], 1e-9)
            if best is None or score > best[0] + 1e-15:
                best = (score, a, v)
        _, a, v = best
        order.append(a)
        marg.append(cur_v - v)
        cur_v = v
        left.remove(a)
    exp_v = f(order)
    cmin = min(cost.values())
    if curve_steps is None:
        n_steps = int(min(12, np.floor(budget / cmin))) if cmin > 0 else 0
        steps = [i * cmin for i in range(n_steps + 1)]
    else:
        steps = list(np.linspace(0, budget, curve_steps + 1))
    curve = []
    for b in steps:
        p_b = tuple(order) if b >= budget - 1e-6 else tuple(solve(float(b)))
        curve.append((float(b), f(p_b), p_b))
    if not curve or curve[-1][0] < budget - 1e-6:
        curve.append((float(budget), exp_v, tuple(order)))
    x0 = ev.lost([])
    x1 = ev.lost(order)
    _, h0 = mean_ci(x0)
    _, h1 = mean_ci(x1)
    _, hd = mean_ci(x0 - x1)
    return ProtectionPlan(
        protect=tuple(order),
        cost_usd=tuple(cost[a] for a in order),
        marginal_benefit_mw=tuple(marg),
        benefit_per_musd=tuple(m / (cost[a] / 1e6) if cost[a] > 0 else float("inf") for m, a in zip(marg, order, strict=True)),
        worst_case_mw=float("nan"),
        unprotected_worst_case_mw=float("nan"),
        worst_attack=(),
        budget_usd=float(budget),
        k=0,
        effect=float(effect),
        optimal=False,
        iterations=int(ev.evaluations),
        runtime_s=time.perf_counter() - t0,
        curve=tuple(curve),
        mode="expected",
        expected_loss_mw=float(exp_v),
        unprotected_expected_loss_mw=float(base_v),
        ci95_half_width_mw=float(max(h0, h1)),
        reduction_ci95_half_width_mw=float(hd),
        samples=int(ev.samples),
        seed=int(ev.seed),
        scenario=ev.scenario.name,
        candidates=tuple(cand),
    )


__all__ = ["DEFAULT_COST_USD", "DEFAULT_EFFECT", "ExpectedLoss", "ProtectionPlan", "plan_protection", "read_costs"]
