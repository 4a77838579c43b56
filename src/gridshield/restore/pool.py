"""Independent served-load assessments of a restoration plan, in worker processes.

The planner asks for batches of repaired sets whose assessments do not depend on each other (the
separability check of every cluster, the naive order's curve, the chosen order's curve). With
``workers > 1`` a :class:`StatePool` spreads a batch over local processes, each holding a copy of
the plan's :class:`~gridshield.restore.plan.GridValue` (inherited at fork where the platform
forks, pickled otherwise) and answering with the small :class:`~gridshield.restore.plan.GridState`
of each set; worker processes die with their parent (as the Monte Carlo pool's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: Repaired sets per task sent to a worker (a few, so that uneven assessments balance out).
CHUNK = 4

_VALUE: Any = None


def _init(value: Any, parent: int) -> None:
    from gridshield.parallel import die_with_parent

    die_with_parent(parent)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    global _VALUE
    _VALUE = value


def _states(masks: Sequence[int]) -> list[tuple[int, Any]]:
    return [(m, _VALUE.compute(m)) for m in masks]


class StatePool:
    """``workers`` local processes that assess repaired sets of one plan (see the module docstring)."""

    def __init__(self, value: Any, workers: int):
        import multiprocessing as mp

        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        self.workers = int(workers)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context(method),
                                         initializer=_init, initargs=(value, os.getpid()))

    def states(self, masks: Sequence[int]) -> list[tuple[int, Any]]:
        """``(mask, GridState)`` of every mask, computed by the workers (in chunks of :data:`CHUNK`)."""
        chunks = [list(masks[i : i + CHUNK]) for i in range(0, len(masks), CHUNK)]
        out: list[tuple[int, Any]] = []
        for part in self._pool.map(_states, chunks):
            out.extend(part)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["CHUNK", "StatePool"]
