"""Batches of Monte Carlo samples: what a worker computes and what the store holds.

A batch holds consecutive samples ``start..stop-1`` as aligned arrays. :func:`run_batch` computes
one with a worker's :class:`~gridshield.threat.sampling.Sampler`; :func:`batches_from_store`
regroups stored samples into a run's batches (for ``--resume`` and stored reports). This module
imports neither the runner nor the executors, so both can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import PRIORITY_CLASSES
from gridshield.store import PRIORITY_COLUMNS


@dataclass(frozen=True)
class Batch:
    """Results of consecutive samples (arrays aligned on ``index``)."""

    index: np.ndarray
    demand_mw: np.ndarray
    served_mw: np.ndarray
    lost_mw: np.ndarray
    customers_affected: np.ndarray
    priority_lost_mw: np.ndarray  # (n, len(PRIORITY_CLASSES))
    groups: tuple[str, ...]
    group_lost_mw: np.ndarray  # (n, len(groups))
    group_dark: np.ndarray  # (n, len(groups)) bool
    launched: np.ndarray
    intercepted: np.ndarray
    hits: np.ndarray
    damage: tuple[tuple[str, ...], ...]
    weight: np.ndarray | None = None  # per-sample likelihood ratio (tail sampling); None = all 1

    @property
    def weights(self) -> np.ndarray:
        """Per-sample weights (ones for plain Monte Carlo)."""
        return np.ones(self.index.size) if self.weight is None else self.weight

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        if not batches:
            raise GridshieldError("no samples to combine")
        g = batches[0].groups
        cat = np.concatenate
        return Batch(
            index=cat([b.index for b in batches]),
            demand_mw=cat([b.demand_mw for b in batches]),
            served_mw=cat([b.served_mw for b in batches]),
            lost_mw=cat([b.lost_mw for b in batches]),
            customers_affected=cat([b.customers_affected for b in batches]),
            priority_lost_mw=np.vstack([b.priority_lost_mw for b in batches]),
            groups=g,
            group_lost_mw=np.vstack([b.group_lost_mw for b in batches]),
            group_dark=np.vstack([b.group_dark for b in batches]),
            launched=cat([b.launched for b in batches]),
            intercepted=cat([b.intercepted for b in batches]),
            hits=cat([b.hits for b in batches]),
            damage=tuple(d for b in batches for d in b.damage),
            weight=None if all(b.weight is None for b in batches) else cat([b.weights for b in batches]),
        )


def run_batch(sampler: Any, seed: int, start: int, stop: int) -> Batch:
    """Samples ``start..stop-1`` with a worker's :class:`~gridshield.threat.sampling.Sampler`."""
    sampler.begin_batch()
    with sampler.one_thread():
        rows = [sampler.sample(seed, i) for i in range(start, stop)]
    groups = sampler.groups
    n, ng = len(rows), len(groups)
    return Batch(
        index=np.arange(start, stop, dtype=np.int64),
        demand_mw=np.array([m.demand_mw for _, m in rows], dtype=float),
        served_mw=np.array([m.served_mw for _, m in rows], dtype=float),
        lost_mw=np.array([m.lost_mw for _, m in rows], dtype=float),
        customers_affected=np.array([m.customers_affected for _, m in rows], dtype=np.int64),
        priority_lost_mw=np.array([m.priority_lost_mw for _, m in rows], dtype=float).reshape(n, len(PRIORITY_CLASSES)),
        groups=groups,
        group_lost_mw=np.array([m.group_lost_mw for _, m in rows], dtype=float).reshape(n, ng),
        group_dark=np.array([m.group_dark for _, m in rows], dtype=bool).reshape(n, ng),
        launched=np.array([sum(d.launched) for d, _ in rows], dtype=np.int64),
        intercepted=np.array([sum(d.intercepted) for d, _ in rows], dtype=np.int64),
        hits=np.array([sum(d.hits) for d, _ in rows], dtype=np.int64),
        damage=tuple(d.damage for d, _ in rows),
        weight=None if all(d.weight == 1.0 for d, _ in rows) else np.array([d.weight for d, _ in rows], dtype=float),
    )


def batches_from_store(store: Any, run_id: str, bounds: list[tuple[int, int]]) -> dict[int, Batch]:
    """Stored samples regrouped into the run's batches (only complete batches are returned)."""
    df = store.samples_frame(run_id)
    if df.empty:
        return {}
    gdf = store.groups_frame(run_id)
    groups = tuple(sorted(gdf["grp"].unique().tolist())) if not gdf.empty else ()
    ng = len(groups)
    idx = df["sample"].to_numpy(np.int64)
    pos = {int(i): j for j, i in enumerate(idx)}
    if ng:
        glost = gdf["lost_mw"].to_numpy(float).reshape(-1, ng)
        gdark = gdf["dark"].to_numpy(bool).reshape(-1, ng)
    else:
        glost = np.zeros((len(idx), 0))
        gdark = np.zeros((len(idx), 0), bool)
    prio = df[list(PRIORITY_COLUMNS)].to_numpy(float)
    weight = df["weight"].to_numpy(float) if "weight" in df else np.ones(len(idx))
    weight = np.where(np.isnan(weight), 1.0, weight)
    out: dict[int, Batch] = {}
    for start, stop in bounds:
        if start not in pos or (stop - 1) not in pos:
            continue
        a, b = pos[start], pos[stop - 1] + 1
        if b - a != stop - start:
            continue
        sl = slice(a, b)
        out[start] = Batch(
            index=idx[sl].copy(),
            demand_mw=df["demand_mw"].to_numpy(float)[sl],
            served_mw=df["served_mw"].to_numpy(float)[sl],
            lost_mw=df["lost_mw"].to_numpy(float)[sl],
            customers_affected=df["customers_affected"].to_numpy(np.int64)[sl],
            priority_lost_mw=prio[sl],
            groups=groups,
            group_lost_mw=glost[sl],
            group_dark=gdark[sl],
            launched=df["launched"].to_numpy(np.int64)[sl],
            intercepted=df["intercepted"].to_numpy(np.int64)[sl],
            hits=df["hits"].to_numpy(np.int64)[sl],
            damage=tuple(tuple(d) if d is not None else () for d in df["damage"].tolist()[a:b]),
            weight=None if np.all(weight[sl] == 1.0) else weight[sl].copy(),
        )
    return out


__all__ = ["Batch", "batches_from_store", "run_batch"]
