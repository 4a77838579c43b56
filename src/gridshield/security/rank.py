"""Criticality ranking of assets: what each one costs when lost alone, and how often it is in
the worst-case k-sets.

For every candidate asset (branches, generators, sites):

* ``shed_mw``: load the operator must shed after losing it alone (DC load-shedding LP with
  redispatch, :class:`gridshield.security.shed.ShedModel`; includes islanded load and shedding
  needed to relieve overloads);
* ``dc_max_loading_pct`` / ``dc_n_overloads``: post-contingency DC loading and overloads without
  redispatch (from :func:`gridshield.security.n1.screen_n1`);
* ``worst_case_freq``: in how many of the worst-case sets for ``k = 1..k_max`` it appears
  (:func:`gridshield.security.nk.worst_case`), over ``k_max`` sets.

Assets are ranked by ``shed_mw``, then ``worst_case_freq``, then overloads and loading.

With a threat ``scenario`` (Monte Carlo, :mod:`gridshield.threat`), three columns are added,
all from the same ``samples`` samples (``seed``; common random numbers) and the scenario's grid:

* ``expected_loss_mw``: the asset's **contribution to the expected loss**, defined as the
  reduction of the expected MW lost when the asset is made indestructible (its destroy
  probability set to 0 in every wave, everything else unchanged): ``E[L] - E[L | a immune]``.
  With common random numbers only the samples in which ``a`` was destroyed change;
* ``p_destroyed``: share of samples in which the asset is destroyed;
* ``loss_when_destroyed_mw``: mean MW lost over those samples (the whole sample's loss, so
  ``p_destroyed * loss_when_destroyed_mw`` overstates the contribution when other assets are
  also destroyed in the same samples).

Assets the scenario does not target contribute 0. With a scenario the ranking is by
``expected_loss_mw`` first, then the columns above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridshield.grid.model import Grid
from gridshield.security.shed import ShedModel, default_candidates


@dataclass(frozen=True)
class RankingResult:
    """Assets ranked by criticality (most critical first); arrays aligned with ``ids``."""

    ids: tuple[str, ...]
    kind: tuple[str, ...]
    shed_mw: np.ndarray
    dc_max_loading_pct: np.ndarray
    dc_n_overloads: np.ndarray
    worst_case_freq: np.ndarray
    worst_sets: tuple[tuple[str, ...], ...]
    worst_set_shed_mw: tuple[float, ...]
    demand_mw: float
    case: str
    expected_loss_mw: np.ndarray | None = field(default=None)
    p_destroyed: np.ndarray | None = field(default=None)
    loss_when_destroyed_mw: np.ndarray | None = field(default=None)
    expected_total_mw: float | None = field(default=None)
    ci95_half_width_mw: float | None = field(default=None)
    samples: int | None = field(default=None)
    scenario: str | None = field(default=None)

    def to_frame(self):
        import pandas as pd

        df = pd.DataFrame(
            {
                "rank": np.arange(1, len(self.ids) + 1),
                "kind": list(self.kind),
                "shed_mw": self.shed_mw,
                "dc_max_loading_pct": self.dc_max_loading_pct,
                "dc_n_overloads": self.dc_n_overloads,
                "worst_case_freq": self.worst_case_freq,
            },
            index=pd.Index(list(self.ids), name="asset"),
        )
        if self.expected_loss_mw is not None:
            df["expected_loss_mw"] = self.expected_loss_mw
            df["p_destroyed"] = self.p_destroyed
            df["loss_when_destroyed_mw"] = self.loss_when_destroyed_mw
        return df

    def to_dict(self) -> dict[str, Any]:
        d = self._to_dict()
        if self.expected_loss_mw is not None:
            d["scenario"] = self.scenario
            d["samples"] = self.samples
            d["expected_loss_mw"] = float(self.expected_total_mw)
            d["expected_loss_ci95_half_width_mw"] = float(self.ci95_half_width_mw)
            d["contribution"] = "E[loss] - E[loss | asset indestructible], common random numbers"
            for i, a in enumerate(d["assets"]):
                a["expected_loss_mw"] = float(self.expected_loss_mw[i])
                a["p_destroyed"] = float(self.p_destroyed[i])
                lw = self.loss_when_destroyed_mw[i]
                a["loss_when_destroyed_mw"] = float(lw) if np.isfinite(lw) else None
        return d

    def _to_dict(self) -> dict[str, Any]:
        return {
            "kind": "ranking",
            "case": self.case,
            "demand_mw": float(self.demand_mw),
            "worst_sets": [{"k": len(s), "assets": list(s), "shed_mw": float(v)}
                           for s, v in zip(self.worst_sets, self.worst_set_shed_mw, strict=True)],
            "assets": [
                {
                    "id": self.ids[i],
                    "rank": i + 1,
                    "kind": self.kind[i],
                    "shed_mw": float(self.shed_mw[i]),
                    "dc_max_loading_pct": float(self.dc_max_loading_pct[i]),
                    "dc_n_overloads": int(self.dc_n_overloads[i]),
                    "worst_case_freq": float(self.worst_case_freq[i]),
                }
                for i in range(len(self.ids))
            ],
        }

    def figure(self, top: int = 20):
        """Plotly bar chart of the ``top`` assets: MW shed when lost alone, coloured by worst-case frequency."""
        import plotly.graph_objects as go

        n = min(top, len(self.ids))
        fig = go.Figure(
            go.Bar(
                x=list(self.ids[:n]),
                y=self.shed_mw[:n],
                marker={"color": self.worst_case_freq[:n], "colorscale": "Reds", "cmin": 0, "cmax": 1,
                        "colorbar": {"title": "in worst<br>k-sets"}},
                customdata=np.c_[self.dc_n_overloads[:n], self.dc_max_loading_pct[:n]],
                hovertemplate="%{x}<br>shed %{y:.1f} MW<br>overloads %{customdata[0]}"
                              "<br>max loading %{customdata[1]:.0f}%<extra></extra>",
            )
        )
        fig.update_layout(title=f"{self.case}: most critical assets (load shed when lost alone)",
                          xaxis_title="asset", yaxis_title="load shed (MW)", template="plotly_white")
        return fig


def rank_assets(
    grid: Grid,
    elements: Sequence[str] = ("branches", "gens", "sites"),
    k_max: int = 3,
    method: str = "heuristic",
    weights=None,
    top: int | None = None,
    progress=None,
    scenario=None,
    samples: int = 300,
    seed: int = 0,
    evaluator=None,
) -> RankingResult:
    """Rank assets by criticality.

    Parameters
    ----------
    grid
        The grid.
    elements
        Asset kinds to rank: ``"branches"``, ``"gens"``, ``"sites"``.
    k_max
        Worst-case sets are computed for ``k = 1..k_max`` (0: skip).
    method
        Method of :func:`~gridshield.security.nk.worst_case` (``heuristic`` by default, fast on
        any grid; ``auto`` / ``milp`` for exact sets).
    weights
        Load weights of the shedding LP (``None``: 1 per MW).
    top
        Keep only the ``top`` most critical assets in the result.
    scenario, samples, seed, evaluator
        A threat scenario (YAML path, text, dict or Scenario): adds each asset's contribution to
        the Monte Carlo expected loss (see the module docstring) from ``samples`` samples with
        ``seed``. The ranking then runs on the scenario's grid (its ``grid.sites`` applied);
        ``grid`` may be None.
    """
    from gridshield.security.n1 import screen_n1
    from gridshield.security.nk import worst_case

    ev = None
    if scenario is not None:
        from gridshield.security.protect import ExpectedLoss

        ev = ExpectedLoss(scenario, samples=samples, seed=seed, evaluator=evaluator)
        if grid is not None and grid.name != ev.grid.name:
            from gridshield.errors import GridshieldError

            raise GridshieldError(f"scenario {ev.scenario.name!r} is on case {ev.grid.name!r}, not {grid.name!r}; "
                                  "pass its grid or grid=None")
        grid = ev.grid
    model = ShedModel(grid, weights)
    assets = default_candidates(grid, elements)
    shed = np.zeros(len(assets))
    for i, a in enumerate(assets):
        shed[i] = model.evaluate([a])[1]
        if progress is not None and i % 32 == 0:
            progress("loss alone", i + 1, len(assets))
    n1 = screen_n1(grid, elements)
    pos = {cid: i for i, cid in enumerate(n1.ids)}
    idx = np.array([pos.get(a.id, -1) for a in assets])
    ok = idx >= 0
    mx = np.where(ok, n1.dc_max_loading_pct[np.maximum(idx, 0)], 0.0)
    nov = np.where(ok, n1.dc_n_overloads[np.maximum(idx, 0)], 0)
    sets: list[tuple[str, ...]] = []
    vals: list[float] = []
    freq = np.zeros(len(assets))
    aid = {a.id: i for i, a in enumerate(assets)}
    for k in range(1, k_max + 1):
        r = worst_case(grid, k=k, candidates=[a.id for a in assets], method=method, model=model)
        sets.append(r.assets)
        vals.append(r.shed_mw)
        for x in r.assets:
            freq[aid[x]] += 1
        if progress is not None:
            progress("worst-case sets", k, k_max)
    if k_max:
        freq /= k_max
    extra: dict[str, Any] = {}
    if ev is not None:
        from gridshield.threat.runner import mean_ci

        base = ev.lost()
        dmg = ev.damage()
        targeted = set(ev.targets(None)) | {a for w in ev.sampler.threat.waves for a in w.targets}
        contrib = np.zeros(len(assets))
        pdes = np.zeros(len(assets))
        lwd = np.full(len(assets), np.nan)
        for i, a in enumerate(assets):
            if a.id not in targeted:
                continue
            hit = np.array([a.id in d for d in dmg])
            pdes[i] = hit.mean()
            if hit.any():
                lwd[i] = float(base[hit].mean())
                contrib[i] = float(base.mean() - ev.lost(zero=[a.id]).mean())
            if progress is not None:
                progress("expected loss", i + 1, len(assets))
        m, h = mean_ci(base)
        extra = {"expected_total_mw": m, "ci95_half_width_mw": h, "samples": ev.samples, "scenario": ev.scenario.name}
        order = np.lexsort((-mx, -nov, -freq, -shed, -contrib))
    else:
        order = np.lexsort((-mx, -nov, -freq, -shed))
    if top is not None:
        order = order[:top]
    if ev is not None:
        extra.update(expected_loss_mw=contrib[order], p_destroyed=pdes[order], loss_when_destroyed_mw=lwd[order])
    return RankingResult(
        ids=tuple(assets[i].id for i in order),
        kind=tuple(assets[i].id.split(":")[0] for i in order),
        shed_mw=shed[order],
        dc_max_loading_pct=mx[order],
        dc_n_overloads=nov[order].astype(np.int64),
        worst_case_freq=freq[order],
        worst_sets=tuple(sets),
        worst_set_shed_mw=tuple(vals),
        demand_mw=float(np.sum(np.maximum(model.net.pd, 0))),
        case=grid.name,
        **extra,
    )


__all__ = ["RankingResult", "rank_assets"]
