"""HiGHS instances as every gridshield solver needs them, and a guard for native solvers' output.

HiGHS prints a copyright banner to the C-level stdout when the first ``Highs`` object of a
process is built; the CLI's output should not start with it, so the first construction runs with
file descriptor 1 pointed at /dev/null. HiGHS also keeps one thread pool per process and every
``Highs`` object must ask for the same thread count, so all of gridshield uses one thread per
solve (parallelism comes from the callers: process pools, Dask).
"""

from __future__ import annotations

import os
import sys

_BANNER_DONE = False


class quiet_c_stdout:
    """Point file descriptor 1 at /dev/null inside the block: native solvers (the HiGHS banner,
    Ipopt's banner and messages) write to the C-level stdout, and engine code never prints.
    Does nothing where there is no real stdout (e.g. captured)."""

    def __enter__(self):
        try:
            sys.stdout.flush()
            self._saved = os.dup(1)
        except (OSError, ValueError):  # no real stdout
            self._saved = None
            return self
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 1)
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 1)
            os.close(self._saved)
            os.close(self._null)
        return False


def new_highs():
    """A quiet, single-threaded ``highspy.Highs`` (deterministic: fixed random seed)."""
    global _BANNER_DONE
    import highspy

    if _BANNER_DONE:
        h = highspy.Highs()
    else:
        _BANNER_DONE = True
        with quiet_c_stdout():
            h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


__all__ = ["new_highs", "quiet_c_stdout"]
