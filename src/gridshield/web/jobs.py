"""A bounded background job pool for the dashboard: long work never blocks a request, a failed
job keeps its error message, and the number of queued jobs is capped."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gridshield.errors import GridshieldError

_log = logging.getLogger("gridshield.web.jobs")


class QueueFull(GridshieldError):
    """Too many jobs are waiting; try again later."""


@dataclass
class Job:
    """One background job and what is known of it."""

    id: str
    kind: str
    params: dict[str, Any]
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON view of the job (the result only once done)."""
        return {
            "id": self.id, "kind": self.kind, "params": self.params, "status": self.status,
            "done": self.done, "total": self.total, "created": self.created, "started": self.started,
            "finished": self.finished, "error": self.error, "result": self.result,
        }


class JobPool:
    """Runs callables ``fn(job)`` on at most ``workers`` threads with at most ``max_queued`` waiting."""

    def __init__(self, workers: int = 1, max_queued: int = 8, keep: int = 200):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridshield-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._max_queued = max_queued
        self._keep = keep

    def submit(self, kind: str, params: dict[str, Any], fn: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue a job; raises :class:`QueueFull` when too many are waiting."""
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if waiting >= self._max_queued:
                raise QueueFull(f"{waiting} jobs are already queued or running; wait for one to finish")
            job = Job(id=uuid.uuid4().hex[:12], kind=kind, params=params)
            self._jobs[job.id] = job
            if len(self._jobs) > self._keep:
                for old in sorted(self._jobs.values(), key=lambda j: j.created)[: len(self._jobs) - self._keep]:
                    if old.status in ("done", "failed"):
                        self._jobs.pop(old.id, None)
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[Job], dict[str, Any]]) -> None:
        job.status, job.started = "running", time.time()
        try:
            job.result = fn(job)
            job.status = "done"
        except GridshieldError as exc:
            job.error, job.status = str(exc), "failed"
        except MemoryError:
            job.error, job.status = "ran out of memory; try fewer samples", "failed"
            _log.error("job %s ran out of memory", job.id)
        except Exception as exc:  # a bug must not take the server down; its text may quote data: log it only
            job.error, job.status = f"internal error ({type(exc).__name__}); see the server log", "failed"
            _log.error("job %s failed", job.id, exc_info=exc)
        finally:
            job.finished = time.time()

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        """All known jobs, newest first."""
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def shutdown(self) -> None:
        """Stop accepting jobs and wait for the running ones."""
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Job", "JobPool", "QueueFull"]
