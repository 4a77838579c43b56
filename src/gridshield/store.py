"""Results store: an embedded DuckDB database file (default) with Parquet export.

Tables
------
``runs``
    ``run_id, name, scenario_text, scenario_json, scenario_hash, seed, created, status, options,
    samples_done, summary`` (``options`` and ``summary`` are JSON text), and the run's owner:
    ``owner_pid, owner_host, owner_started`` (the process start time, against pid reuse),
    ``heartbeat`` (UTC, renewed with every batch) and ``note`` (why a run stopped).
``samples``
    one row per Monte Carlo sample: ``run_id, sample, demand_mw, served_mw, lost_mw,
    customers_affected, lost_<priority>_mw..., launched, intercepted, hits, damage`` (``damage``
    is a list of asset ids).
``group_results``
    ``run_id, sample, grp, lost_mw, dark`` per sample and load group (district).

Each batch of samples is written in **one transaction**, so a crash (even ``kill -9``) loses at
most the batch being written, and a run can be resumed from what is stored. DuckDB allows a
single writing process: only the parent process of a run writes; workers return their results.

Status: a run is ``running`` while its owner process lives, ``done`` when finished and
``interrupted`` when it stopped early (Ctrl-C, an error) or its owner is gone (killed, crashed;
:attr:`RunInfo.state` checks the owner: same host by pid and start time, another host by a
heartbeat older than :data:`STALE_HEARTBEAT_S`). An interrupted run can be resumed.

While a run writes, other processes cannot open the file (DuckDB's lock): the writer keeps a
small JSON snapshot of the ``runs`` table next to it (``<store>.snapshot.json``, atomic
renames, at most every :data:`SNAPSHOT_EVERY_S` seconds), which listings read instead
(:func:`read_snapshot`).
"""

from __future__ import annotations

import calendar
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import PRIORITY_CLASSES

PRIORITY_COLUMNS = tuple(f"lost_{c}_mw" for c in PRIORITY_CLASSES)

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY, name VARCHAR, scenario_text VARCHAR, scenario_json VARCHAR,
        scenario_hash VARCHAR, seed BIGINT, created TIMESTAMP, status VARCHAR, options VARCHAR,
        samples_done BIGINT, summary VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS samples (
        run_id VARCHAR, sample BIGINT, demand_mw DOUBLE, served_mw DOUBLE, lost_mw DOUBLE,
        customers_affected BIGINT, """
    + ", ".join(f"{c} DOUBLE" for c in PRIORITY_COLUMNS)
    + """, launched BIGINT, intercepted BIGINT, hits BIGINT, damage VARCHAR[],
        PRIMARY KEY (run_id, sample))""",
    """CREATE TABLE IF NOT EXISTS group_results (
        run_id VARCHAR, sample BIGINT, grp VARCHAR, lost_mw DOUBLE, dark BOOLEAN)""",
    # the run's owner (added after the first release: ALTER keeps older stores readable)
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_pid BIGINT",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_host VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_started BIGINT",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS heartbeat TIMESTAMP",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS note VARCHAR",
]

#: A run on another host whose heartbeat is older than this is shown as interrupted.
STALE_HEARTBEAT_S = 600.0
#: Least time between two snapshots written while batches arrive.
SNAPSHOT_EVERY_S = 2.0
_LIST_FIELDS = ("run_id", "name", "scenario_hash", "seed", "created", "status", "samples_done", "owner_pid",
                "owner_host", "owner_started", "heartbeat", "note")


class StoreLocked(GridshieldError):
    """The results store is held by another process that is writing it."""


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def process_start(pid: int) -> int | None:
    """Start time of process ``pid`` (clock ticks since boot, /proc), or None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X"):  # a zombie has finished
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def owner_alive(pid: int | None, host: str | None, started: int | None) -> bool | None:
    """Whether a run's owner process still runs: True/False on this host, None for another host."""
    if pid is None or host is None:
        return False
    if host != socket.gethostname():
        return None
    if Path("/proc").is_dir():
        now = process_start(int(pid))
        return now is not None and (started is None or now == int(started))
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunInfo:
    """A row of the ``runs`` table."""

    run_id: str
    name: str
    scenario_text: str
    scenario_json: str
    scenario_hash: str
    seed: int
    created: str
    status: str
    options: dict[str, Any]
    samples_done: int
    summary: dict[str, Any]
    owner_pid: int | None = None
    owner_host: str | None = None
    owner_started: int | None = None
    heartbeat: str | None = None
    note: str = ""

    @property
    def state(self) -> str:
        """``done``, ``running`` (its owner lives) or ``interrupted`` (stopped early, or its owner is gone)."""
        if self.status != "running":
            return self.status
        alive = owner_alive(self.owner_pid, self.owner_host, self.owner_started)
        if alive is None:  # another host: trust a fresh heartbeat only
            try:
                age = time.time() - calendar.timegm(time.strptime(str(self.heartbeat)[:19], "%Y-%m-%d %H:%M:%S"))
            except (TypeError, ValueError):
                return "interrupted"
            return "running" if age < STALE_HEARTBEAT_S else "interrupted"
        return "running" if alive else "interrupted"

    @property
    def owner(self) -> str:
        """``pid 1234 on host`` (or empty when unknown)."""
        return f"pid {self.owner_pid} on {self.owner_host}" if self.owner_pid is not None else ""


class ResultsStore:
    """A DuckDB results file; open it with ``ResultsStore(path)`` (``":memory:"`` for none).

    Use as a context manager or call :meth:`close`. Only one process may write at a time.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", read_only: bool = False):
        import duckdb

        self.path = os.fspath(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if read_only and not Path(self.path).is_file():
                raise GridshieldError(f"results store {self.path!r} does not exist; run `gridshield risk` first")
        self._last_snapshot = 0.0
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.ConnectionException:
            # this process already writes the file (a dashboard job): share that connection's settings
            self.con = duckdb.connect(self.path, read_only=False)
            read_only = True  # but create nothing
        except duckdb.IOException as exc:
            if "not a valid DuckDB database" in str(exc):
                raise GridshieldError(
                    f"cannot open results store {self.path!r}: it is not a DuckDB file; "
                    "give a .duckdb file written by `gridshield risk` (or a new name)"
                ) from None
            if "lock" in str(exc).lower():
                holder = _lock_holder(str(exc))
                raise StoreLocked(
                    f"results store {self.path} is being written by another process{holder} (DuckDB allows one "
                    "writer); wait for it to finish, or use another --store file"
                ) from None
            raise GridshieldError(f"cannot open results store {self.path!r}: {exc}") from None
        except duckdb.Error:  # not a DuckDB file (e.g. --store result.json)
            raise GridshieldError(
                f"cannot open results store {self.path!r}: it is not a DuckDB file; "
                "give a .duckdb file written by `gridshield risk` (or a new name)"
            ) from None
        if self.path != ":memory:":
            # DuckDB opens an existing .json/.csv file as a read-only view with no database file
            # behind it: writes would vanish, so refuse it
            row = self.con.execute(
                "select path from duckdb_databases() where database_name = current_database()"
            ).fetchone()
            if row is None or row[0] is None:
                self.con.close()
                raise GridshieldError(
                    f"cannot open results store {self.path!r}: it is not a DuckDB file; "
                    "give a .duckdb file written by `gridshield risk` (or a new name)"
                )
        self.read_only = read_only
        if not read_only:
            for ddl in _SCHEMA:
                self.con.execute(ddl)

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.close()
        except Exception:  # noqa: BLE001 - closing twice is harmless
            pass

    def _rollback(self) -> None:
        import duckdb

        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:  # already rolled back (e.g. the statement was interrupted)
            pass

    # -- runs -----------------------------------------------------------------------------------
    def create_run(
        self, run_id: str, name: str, scenario_text: str, scenario_json: str, scenario_hash: str, seed: int,
        options: dict[str, Any],
    ) -> None:
        """Insert a new run with status ``running``, owned by this process."""
        if self.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            raise GridshieldError(f"run {run_id!r} already exists in {self.path}; use --resume {run_id}")
        pid = os.getpid()
        self.con.execute(
            "INSERT INTO runs (run_id, name, scenario_text, scenario_json, scenario_hash, seed, created, status, "
            "options, samples_done, summary, owner_pid, owner_host, owner_started, heartbeat, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, 0, NULL, ?, ?, ?, ?, '')",
            [run_id, name, scenario_text, scenario_json, scenario_hash, int(seed), _now(),
             json.dumps(options, sort_keys=True), pid, socket.gethostname(), process_start(pid), _now()],
        )
        self.snapshot(force=True)

    def claim_run(self, run_id: str) -> RunInfo:
        """Take over a stopped run to resume it (this process becomes its owner); refuse a live one."""
        info = self.run(run_id)
        if info.state == "running" and info.owner_pid != os.getpid():
            raise GridshieldError(
                f"run {run_id} is still running ({info.owner}); wait for it to finish or stop it before --resume"
            )
        pid = os.getpid()
        self.con.execute(
            "UPDATE runs SET status = 'running', owner_pid = ?, owner_host = ?, owner_started = ?, heartbeat = ?, "
            "note = '' WHERE run_id = ?",
            [pid, socket.gethostname(), process_start(pid), _now(), run_id],
        )
        self.snapshot(force=True)
        return info

    def mark_interrupted(self, run_id: str, note: str) -> None:
        """Record that a run stopped before its end (it can be resumed) and why."""
        self.con.execute("UPDATE runs SET status = 'interrupted', note = ?, heartbeat = ? WHERE run_id = ?",
                         [note, _now(), run_id])
        self.snapshot(force=True)

    def run(self, run_id: str) -> RunInfo:
        """The stored run ``run_id`` (an error lists the known runs)."""
        cur = self.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            from gridshield.errors import UnknownAssetError

            raise UnknownAssetError(run_id, [r.run_id for r in self.runs()], what=f"run (in {self.path})")
        return _run_info(dict(zip([d[0] for d in cur.description], row)))

    def runs(self) -> list[RunInfo]:
        """Every stored run, oldest first."""
        cur = self.con.execute("SELECT * FROM runs ORDER BY created, run_id")
        names = [d[0] for d in cur.description]
        return [_run_info(dict(zip(names, row))) for row in cur.fetchall()]

    def finish_run(self, run_id: str, samples_done: int, summary: dict[str, Any], drop_from: int | None = None) -> None:
        """Mark a run done with its summary; ``drop_from`` deletes samples with index >= it (stopping rule)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            if drop_from is not None:
                self.con.execute("DELETE FROM samples WHERE run_id = ? AND sample >= ?", [run_id, drop_from])
                self.con.execute("DELETE FROM group_results WHERE run_id = ? AND sample >= ?", [run_id, drop_from])
            self.con.execute(
                "UPDATE runs SET status = 'done', samples_done = ?, summary = ?, heartbeat = ?, note = '' "
                "WHERE run_id = ?",
                [int(samples_done), json.dumps(summary, sort_keys=True), _now(), run_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self.snapshot(force=True)

    # -- samples --------------------------------------------------------------------------------
    def write_batch(self, run_id: str, batch: Any, groups: Sequence[str]) -> None:
        """Write one :class:`~gridshield.threat.batch.Batch` in one transaction."""
        import pyarrow as pa

        n = len(batch.index)
        cols: dict[str, Any] = {
            "run_id": pa.array([run_id] * n, pa.string()),
            "sample": pa.array(batch.index, pa.int64()),
            "demand_mw": pa.array(batch.demand_mw, pa.float64()),
            "served_mw": pa.array(batch.served_mw, pa.float64()),
            "lost_mw": pa.array(batch.lost_mw, pa.float64()),
            "customers_affected": pa.array(batch.customers_affected, pa.int64()),
        }
        for j, c in enumerate(PRIORITY_COLUMNS):
            cols[c] = pa.array(batch.priority_lost_mw[:, j], pa.float64())
        cols["launched"] = pa.array(batch.launched, pa.int64())
        cols["intercepted"] = pa.array(batch.intercepted, pa.int64())
        cols["hits"] = pa.array(batch.hits, pa.int64())
        cols["damage"] = pa.array([list(d) for d in batch.damage], pa.list_(pa.string()))
        samples_tbl = pa.table(cols)  # noqa: F841 - used by DuckDB's replacement scan
        ng = len(groups)
        groups_tbl = pa.table({  # noqa: F841
            "run_id": pa.array([run_id] * (n * ng), pa.string()),
            "sample": pa.array(np.repeat(batch.index, ng), pa.int64()),
            "grp": pa.array(list(groups) * n, pa.string()),
            "lost_mw": pa.array(batch.group_lost_mw.reshape(-1), pa.float64()),
            "dark": pa.array(batch.group_dark.reshape(-1), pa.bool_()),
        })
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("INSERT INTO samples SELECT * FROM samples_tbl")
            if ng:
                self.con.execute("INSERT INTO group_results SELECT * FROM groups_tbl")
            self.con.execute(
                "UPDATE runs SET samples_done = (SELECT count(*) FROM samples WHERE run_id = ?), heartbeat = ? "
                "WHERE run_id = ?",
                [run_id, _now(), run_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self.snapshot()

    # -- snapshot for readers while a run holds the file -----------------------------------------
    @property
    def snapshot_path(self) -> Path | None:
        """``<store>.snapshot.json`` (None for an in-memory store)."""
        return None if self.path == ":memory:" else snapshot_path(self.path)

    def snapshot(self, force: bool = False) -> None:
        """Write the listing of every run to :attr:`snapshot_path` (atomic; rate-limited unless ``force``)."""
        target = self.snapshot_path
        if target is None or self.read_only:
            return
        if not force and time.monotonic() - self._last_snapshot < SNAPSHOT_EVERY_S:
            return
        from gridshield.io import atomic_write_text

        runs = []
        for r in self.runs():
            row = {k: v for k, v in asdict(r).items() if k in _LIST_FIELDS}
            row["summary"] = {k: r.summary[k] for k in ("lost_mw", "samples", "stopped_by") if k in r.summary}
            runs.append(row)
        atomic_write_text(target, json.dumps({"taken": _now(), "writer_pid": os.getpid(), "runs": runs}, default=str))
        self._last_snapshot = time.monotonic()

    def done_indices(self, run_id: str) -> np.ndarray:
        """Sample indices already stored for ``run_id`` (sorted)."""
        rows = self.con.execute("SELECT sample FROM samples WHERE run_id = ? ORDER BY sample", [run_id]).fetchnumpy()
        return np.asarray(rows["sample"], dtype=np.int64)

    def samples_frame(self, run_id: str):
        """The run's samples as a pandas DataFrame, ordered by sample index."""
        return self.con.execute("SELECT * FROM samples WHERE run_id = ? ORDER BY sample", [run_id]).df()

    def groups_frame(self, run_id: str):
        """The run's per-group results (long form), ordered by sample and group."""
        return self.con.execute(
            "SELECT * FROM group_results WHERE run_id = ? ORDER BY sample, grp", [run_id]
        ).df()

    def export_parquet(self, run_id: str, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``<folder>/<run_id>_samples.parquet`` and ``..._groups.parquet`` (atomic renames)."""
        from gridshield.io import atomic_write

        self.run(run_id)  # unknown run -> readable error
        out = []
        for table, order in (("samples", "sample"), ("group_results", "sample, grp")):
            target = Path(folder) / f"{run_id}_{'samples' if table == 'samples' else 'groups'}.parquet"

            def _write(p: Path, table: str = table, order: str = order) -> None:
                path_sql = str(p).replace("'", "''")
                self.con.execute(
                    f"COPY (SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}) TO '{path_sql}' (FORMAT PARQUET)",
                    [run_id],
                )

            out.append(atomic_write(target, _write))
        return out


def _run_info(row: dict[str, Any]) -> RunInfo:
    def opt_int(v: Any) -> int | None:
        return None if v is None else int(v)

    return RunInfo(
        run_id=row["run_id"], name=row["name"], scenario_text=row.get("scenario_text") or "",
        scenario_json=row.get("scenario_json") or "", scenario_hash=row["scenario_hash"], seed=int(row["seed"]),
        created=str(row["created"]), status=row["status"],
        options=row["options"] if isinstance(row["options"], dict) else json.loads(row["options"] or "{}"),
        samples_done=int(row.get("samples_done") or 0),
        summary=row["summary"] if isinstance(row.get("summary"), dict) else json.loads(row.get("summary") or "{}"),
        owner_pid=opt_int(row.get("owner_pid")), owner_host=row.get("owner_host"),
        owner_started=opt_int(row.get("owner_started")),
        heartbeat=None if row.get("heartbeat") is None else str(row["heartbeat"]), note=row.get("note") or "",
    )


def _lock_holder(message: str) -> str:
    """`` (PID 1234)`` from DuckDB's lock error, or empty."""
    import re

    m = re.search(r"PID (\d+)", message)
    return f" (pid {m.group(1)})" if m else ""


def snapshot_path(store: str | os.PathLike[str]) -> Path:
    """Where the writer of ``store`` keeps its snapshot of the ``runs`` table."""
    p = Path(store)
    return p.with_name(p.name + ".snapshot.json")


def read_snapshot(store: str | os.PathLike[str]) -> tuple[str, list[RunInfo]] | None:
    """The snapshot of a store's runs (time taken, runs) written by the process that holds it, or None."""
    try:
        data = json.loads(snapshot_path(store).read_text(encoding="utf-8"))
        runs = [_run_info({"options": "{}", **r}) for r in data["runs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(data.get("taken", "")), runs


def open_store(path: str | os.PathLike[str], *, read_only: bool = True, wait_s: float = 3.0) -> ResultsStore:
    """Open a store, retrying for up to ``wait_s`` seconds while another process briefly holds it."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        try:
            return ResultsStore(path, read_only=read_only)
        except StoreLocked:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def runs_or_snapshot(path: str | os.PathLike[str], wait_s: float = 3.0) -> tuple[list[RunInfo], str | None]:
    """Every run of a store, or, while another process writes it, that writer's snapshot.

    Returns the runs and the UTC time of the snapshot (None when read from the store itself).
    """
    try:
        with open_store(path, read_only=True, wait_s=wait_s) as st:
            return st.runs(), None
    except StoreLocked:
        snap = read_snapshot(path)
        if snap is None:
            raise
        return snap[1], snap[0]


__all__ = [
    "PRIORITY_COLUMNS", "SNAPSHOT_EVERY_S", "STALE_HEARTBEAT_S", "ResultsStore", "RunInfo", "StoreLocked", "open_store",
    "owner_alive", "process_start", "read_snapshot", "runs_or_snapshot", "snapshot_path",
]
