"""HiGHS instances as every gridshield solver needs them.

HiGHS prints a copyright banner to the C-level stdout when the first ``Highs`` object of a
process is built; the CLI's output should not start with it, so the first construction runs with
file descriptor 1 pointed at /dev/null. HiGHS also keeps one thread pool per process and every
``Highs`` object must ask for the same thread count, so all of gridshield uses one thread per
solve (parallelism comes from the callers: process pools, Dask).
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

_BANNER_DONE = False
_BLAS: Any = None


def new_highs():
    """A quiet, single-threaded ``highspy.Highs`` (deterministic: fixed random seed)."""
    global _BANNER_DONE
    import highspy

    if _BANNER_DONE:
        h = highspy.Highs()
    else:
        _BANNER_DONE = True
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (OSError, ValueError):  # no real stdout (e.g. captured)
            saved = None
        if saved is None:
            h = highspy.Highs()
        else:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS / LAPACK run on one thread (``threadpoolctl``).

    The impact engine's dense work is small (k x k Woodbury systems, n x k products), where
    OpenBLAS's thread hand-off costs more than the arithmetic: measured on a busy 2-core machine,
    ``scipy.linalg.lu_solve`` of a 10 x 10 system with 20 right-hand sides took 240 us with
    OpenBLAS's default threads and 21 us on one. Parallelism comes from the callers (process
    pools, Dask), as for HiGHS. Entering the context costs about 13 us.
    """
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except ImportError:  # pragma: no cover - a declared dependency
            _BLAS = False
    if _BLAS is False:
        return nullcontext()
    return _BLAS.limit(limits=1, user_api="blas")


__all__ = ["new_highs", "one_blas_thread"]
