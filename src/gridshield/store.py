"""Results store: an embedded DuckDB database file (default) with Parquet export.

Tables
------
``runs``
    ``run_id, name, scenario_text, scenario_json, scenario_hash, seed, created, status, options,
    samples_done, summary`` (``options`` and ``summary`` are JSON text).
``samples``
    one row per Monte Carlo sample: ``run_id, sample, demand_mw, served_mw, lost_mw,
    customers_affected, lost_<priority>_mw..., launched, intercepted, hits, damage`` (``damage``
    is a list of asset ids).
``group_results``
    ``run_id, sample, grp, lost_mw, dark`` per sample and load group (district).

Each batch of samples is written in **one transaction**, so a crash (even ``kill -9``) loses at
most the batch being written, and a run can be resumed from what is stored. DuckDB allows a
single writing process: only the parent process of a run writes; workers return their results.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
]


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
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            if "not a valid DuckDB database" in str(exc):
                raise GridshieldError(
                    f"cannot open results store {self.path!r}: it is not a DuckDB file; "
                    "give a .duckdb file written by `gridshield risk` (or a new name)"
                ) from None
            raise GridshieldError(
                f"cannot open results store {self.path!r}: {exc}. Another process may be writing it "
                "(DuckDB allows one writer); wait for it or use another --store file"
            ) from None
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
        """Insert a new run with status ``running``."""
        if self.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            raise GridshieldError(f"run {run_id!r} already exists in {self.path}; use --resume {run_id}")
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, 0, NULL)",
            [run_id, name, scenario_text, scenario_json, scenario_hash, int(seed),
             time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), json.dumps(options, sort_keys=True)],
        )

    def run(self, run_id: str) -> RunInfo:
        """The stored run ``run_id`` (an error lists the known runs)."""
        row = self.con.execute(
            "SELECT run_id, name, scenario_text, scenario_json, scenario_hash, seed, CAST(created AS VARCHAR), "
            "status, options, samples_done, summary FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
        if row is None:
            from gridshield.errors import UnknownAssetError

            raise UnknownAssetError(run_id, [r.run_id for r in self.runs()], what=f"run (in {self.path})")
        return RunInfo(*row[:8], json.loads(row[8] or "{}"), int(row[9] or 0), json.loads(row[10] or "{}"))

    def runs(self) -> list[RunInfo]:
        """Every stored run, oldest first."""
        ids = [r[0] for r in self.con.execute("SELECT run_id FROM runs ORDER BY created, run_id").fetchall()]
        return [self.run(i) for i in ids]

    def finish_run(self, run_id: str, samples_done: int, summary: dict[str, Any], drop_from: int | None = None) -> None:
        """Mark a run done with its summary; ``drop_from`` deletes samples with index >= it (stopping rule)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            if drop_from is not None:
                self.con.execute("DELETE FROM samples WHERE run_id = ? AND sample >= ?", [run_id, drop_from])
                self.con.execute("DELETE FROM group_results WHERE run_id = ? AND sample >= ?", [run_id, drop_from])
            self.con.execute(
                "UPDATE runs SET status = 'done', samples_done = ?, summary = ? WHERE run_id = ?",
                [int(samples_done), json.dumps(summary, sort_keys=True), run_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    # -- samples --------------------------------------------------------------------------------
    def write_batch(self, run_id: str, batch: Any, groups: Sequence[str]) -> None:
        """Write one :class:`~gridshield.threat.runner.Batch` in one transaction."""
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
                "UPDATE runs SET samples_done = (SELECT count(*) FROM samples WHERE run_id = ?) WHERE run_id = ?",
                [run_id, run_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

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


__all__ = ["PRIORITY_COLUMNS", "ResultsStore", "RunInfo"]
