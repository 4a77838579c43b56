"""Executors for batches of Monte Carlo samples: in-process, a local process pool, or Dask.

Every executor runs the same pure task, :func:`compute_batch` ``(payload, start, stop)``, which
returns the results of samples ``start..stop-1``. Workers build their state (grid, compiled
threat, impact model) **once** and keep it, keyed by the scenario hash, for all later batches:

- local pool (default): ``concurrent.futures.ProcessPoolExecutor`` with an initializer that
  builds the state in each worker process; a worker dies with its parent (Linux's parent-death
  signal, and a watchdog thread on every platform), so a killed run leaves no process behind;
- Dask (``dask.distributed``): ``"tcp://host:8786"`` connects to an existing scheduler,
  ``"local:N"`` starts a ``LocalCluster`` of N single-threaded worker processes (Dask ends them
  when this process dies), or pass a ``distributed.Client``. Each
  worker process keeps its states keyed by the scenario hash and lends each to one thread at a
  time (an impact model's LP solver must not be shared).

Since sample ``i`` depends only on ``(seed, i)``, results are identical whatever the executor.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gridshield.errors import GridshieldError
from gridshield.limits import WORKER_BYTES, LimitError, check_workers, fmt_bytes, max_workers, usable_cores


@dataclass(frozen=True)
class Payload:
    """What a worker needs to build its state: the scenario (canonical JSON), its hash, the evaluator."""

    scenario_json: str
    key: str
    seed: int
    evaluator: str | None = None
    sampling: str = "plain"


_POOL: dict[tuple[str, str | None, str], list[Any]] = {}
_POOL_LOCK = threading.Lock()
_MAX_SCENARIOS = 4


#: glibc's largest dynamic mmap threshold (32 MiB on 64-bit): arrays below it reuse the heap.
MMAP_THRESHOLD_BYTES = 32 * 2**20


def restore_mmap_threshold() -> bool:
    """Undo the cost of a ``MALLOC_TRIM_THRESHOLD_`` in this process's environment (Dask's nannies
    set one, 64 KiB by default): any such setting switches off glibc's dynamic mmap threshold, so
    every array above 128 KiB is mapped, page-faulted and unmapped again — ~30 % more CPU per
    Monte Carlo sample. Sets the thresholds the dynamic rule would reach; True when it did."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        return bool(ok and libc.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_BYTES) == 1)
    except (OSError, AttributeError):  # not glibc
        return False


def _build(payload: Payload) -> Any:
    restore_mmap_threshold()
    from gridshield.threat.sampling import Sampler
    from gridshield.threat.scenario import scenario_from_json

    sampler = Sampler(scenario_from_json(payload.scenario_json), evaluator=payload.evaluator)
    if payload.sampling == "tail":
        from gridshield.threat.tail import tail_plan

        sampler.tail = tail_plan(sampler.threat, sampler.model)
    return sampler


@contextmanager
def borrowed_state(payload: Payload) -> Iterator[Any]:
    """Borrow this process's :class:`~gridshield.threat.sampling.Sampler` for ``payload``.

    States are kept per process, keyed by the scenario hash, and lent to one thread at a time
    (an impact model's LP solver must not be shared between threads); a state is built only when
    none is free, so a single-threaded worker builds it once whichever thread asks.
    """
    key = (payload.key, payload.evaluator, payload.sampling)
    with _POOL_LOCK:
        free = _POOL.get(key)
        s = free.pop() if free else None
    if s is None:
        s = _build(payload)
    try:
        yield s
    finally:
        with _POOL_LOCK:
            if key not in _POOL and len(_POOL) >= _MAX_SCENARIOS:  # a long-lived Dask worker
                _POOL.pop(next(iter(_POOL)))
            _POOL.setdefault(key, []).append(s)


def worker_state(payload: Payload) -> Any:
    """Build (or find) this process's state for ``payload`` and leave it in the pool."""
    with borrowed_state(payload) as s:
        return s


def compute_batch(payload: Payload, start: int, stop: int) -> Any:
    """Samples ``start..stop-1`` of the run (a :class:`~gridshield.threat.batch.Batch`).

    A user mistake found in a worker comes back as a plain :class:`GridshieldError` with the same
    message (the subclasses' constructors take other arguments and would not survive pickling).
    """
    from gridshield.threat.batch import run_batch

    if _INIT_ERROR:
        raise GridshieldError(_INIT_ERROR[0])
    try:
        with borrowed_state(payload) as s:
            return run_batch(s, payload.seed, start, stop)
    except GridshieldError as exc:
        raise GridshieldError(str(exc)) from None


def _init_worker(payload: Payload) -> None:
    # keep worker processes single-threaded in BLAS: parallelism comes from the processes
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # a forked worker inherits the parent's states: start clean, build once here
    with _POOL_LOCK:
        _POOL.clear()
    worker_state(payload)


#: Seconds between two checks of the watchdog that ends a worker whose run's process is gone.
WATCHDOG_PERIOD_S = 0.5


def die_with_parent(parent: int) -> None:
    """End this worker process as soon as its parent, process ``parent`` (the run's), is gone.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``), even while
    the worker holds the GIL in a long solve; a daemon thread also checks every
    :data:`WATCHDOG_PERIOD_S` whether the worker was re-parented (every platform).
    """
    _parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_PERIOD_S)
        os._exit(1)

    threading.Thread(target=watch, name="gridshield-watchdog", daemon=True).start()


def _parent_death_signal() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


#: A pool worker's failure to build its state, reported by its first batch (a message; empty when fine).
_INIT_ERROR: list[str] = []


def _init_pool_worker(payload: Payload, parent: int) -> None:
    die_with_parent(parent)
    try:
        _init_worker(payload)
    except GridshieldError as exc:  # handed to the parent with the first batch, not printed here
        _INIT_ERROR.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. an --evaluator that fails; the parent reports it
        _INIT_ERROR.append(f"the worker could not build its state: {type(exc).__name__}: {exc}")


class InlineExecutor:
    """Runs batches in the calling process (``workers=1``): no pickling, no start-up cost."""

    workers = 1
    label = "in-process"

    def __init__(self, payload: Payload):
        self.payload = payload
        worker_state(payload)

    def submit(self, start: int, stop: int) -> Future:
        f: Future = Future()
        try:
            f.set_result(compute_batch(self.payload, start, stop))
        except BaseException as exc:  # noqa: BLE001 - handed back through the future
            f.set_exception(exc)
        return f

    def wait(self, futures: set) -> tuple[set, set]:
        return wait(futures, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        pass


class PoolExecutor:
    """A local process pool; each worker builds its state once in the initializer."""

    def __init__(self, payload: Payload, workers: int):
        import multiprocessing as mp

        self.payload = payload
        self.workers = workers
        self.label = f"{workers} local processes"
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context(method), initializer=_init_pool_worker,
            initargs=(payload, os.getpid()),
        )

    def submit(self, start: int, stop: int) -> Future:
        return self.pool.submit(compute_batch, self.payload, start, stop)

    def wait(self, futures: set) -> tuple[set, set]:
        return wait(futures, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Batches on a Dask cluster: ``"tcp://host:port"``, ``"local:N"`` or a ``distributed.Client``."""

    def __init__(self, payload: Payload, dask: Any):
        try:
            from distributed import Client
        except ImportError:
            raise GridshieldError("--dask needs dask.distributed: pip install 'gridshield[dask]'") from None
        self.payload = payload
        self._own_client = False
        self._cluster = None
        if isinstance(dask, Client):
            self.client = dask
        elif isinstance(dask, str) and dask.startswith("local"):
            self._cluster = local_cluster(local_workers(dask))
            self.client = Client(self._cluster)
            self._own_client = True
        elif isinstance(dask, str) and "://" in dask:
            try:
                self.client = Client(dask, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise GridshieldError(f"--dask {dask}: cannot reach the scheduler ({exc}); check the address") from None
            self._own_client = True
        else:
            raise GridshieldError(f"--dask {dask!r}: use tcp://host:8786 for a cluster or local:N for a local one")
        info = self.client.scheduler_info()
        nthreads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        self.workers = max(1, nthreads)
        self.label = f"Dask {self.client.scheduler.address} ({len(info.get('workers', {}))} workers)"
        # build every worker's state up front (once per worker thread thereafter)
        self.client.run(_init_worker, payload)

    def submit(self, start: int, stop: int) -> Any:
        return self.client.submit(compute_batch, self.payload, start, stop, pure=False)

    def wait(self, futures: set) -> tuple[set, set]:
        from distributed import wait as dwait

        res = dwait(list(futures), return_when="FIRST_COMPLETED")
        return set(res.done), set(res.not_done)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


#: Settings for the LocalCluster that ``--dask local:N`` starts. Measured on case2869pegase, a
#: Dask worker thread spent ~30 % more CPU per sample than a pool process with Dask's defaults.
#: Most of it is Dask's ``MALLOC_TRIM_THRESHOLD_`` (any value): setting it switches off glibc's
#: dynamic mmap threshold, so every array above 128 KiB is mmap-ed, page-faulted and unmapped
#: again (5.6-5.9 vs 4.1-4.4 ms CPU per sample; without it 4.3-4.4). The environment therefore
#: keeps only the one-thread BLAS settings (workers of other clusters, which keep Dask's
#: setting, get the thresholds back from :func:`restore_mmap_threshold` when they build a
#: state). Its statistical profiler (every 10 ms) is off, and the event-loop watchdog, system
#: monitor and memory monitor wake less often than the 20-500 ms defaults: on a 2-core machine
#: those wake-ups take CPU from the solves.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def local_cluster(n_workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        return LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )


def local_workers(dask: str) -> int:
    """N of ``--dask local:N`` (default: the usable cores), bounded like ``--workers``."""
    _, _, n = dask.partition(":")
    try:
        nw = int(n) if n else max_workers()
    except ValueError:
        raise GridshieldError(f"--dask {dask!r}: expected local:N with N a number of workers, e.g. local:2") from None
    if not 1 <= nw <= max_workers():
        raise LimitError(f"--dask local:{nw}: use 1 to {max_workers()} workers on this machine "
                         f"({usable_cores()} usable cores, ~{fmt_bytes(WORKER_BYTES)} per worker)")
    return nw


def check_executor(workers: int | None = None, dask: Any = None) -> None:
    """Refuse bad ``--workers`` / ``--dask`` values before a run starts (no process is started here)."""
    if dask is not None:
        if isinstance(dask, str) and dask.startswith("local"):
            local_workers(dask)
        elif isinstance(dask, str) and "://" not in dask:
            raise GridshieldError(f"--dask {dask!r}: use tcp://host:8786 for a cluster or local:N for a local one")
    elif workers is not None:
        check_workers("--workers", workers)


def make_executor(payload: Payload, workers: int | None = None, dask: Any = None):
    """The executor for ``workers`` local processes (None = all cores; 1 = in-process) or ``dask``."""
    if dask is not None:
        return DaskExecutor(payload, dask)
    n = check_workers("--workers", workers) if workers is not None else max_workers()
    if n == 1:
        return InlineExecutor(payload)
    return PoolExecutor(payload, n)


__all__ = [
    "DaskExecutor", "InlineExecutor", "Payload", "PoolExecutor", "check_executor", "compute_batch", "die_with_parent", "local_cluster",
    "make_executor", "restore_mmap_threshold", "worker_state",
]
