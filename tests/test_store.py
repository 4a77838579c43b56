"""Results store: one transaction per batch, Parquet export equal to the stored rows, listing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridshield.errors import GridshieldError
from gridshield.store import PRIORITY_COLUMNS, ResultsStore
from gridshield.threat.runner import run_risk
from gridshield.threat.scenario import load_scenario

LOCAL = "gridshield.threat.sampling:local_loss_evaluator"
SC = {
    "name": "store-test",
    "grid": {"case": "case9", "sites": {"A": [5], "B": [7], "C": [9]}, "groups": {"w": [5], "e": [7, 9]}},
    "waves": [{"weapon": "drone", "launched": 4, "interception": 0.5, "targets": [{"class": "site"}]}],
}


@pytest.fixture()
def stored(tmp_path):
    db = tmp_path / "s.duckdb"
    r = run_risk(load_scenario(SC), samples=100, seed=3, workers=1, batch_size=30, store=db, evaluator=LOCAL)
    return db, r


def test_tables_hold_the_run(stored):
    db, r = stored
    with ResultsStore(db, read_only=True) as st:
        (info,) = st.runs()
        assert info.run_id == r.run_id and info.status == "done" and info.samples_done == 100 and info.seed == 3
        assert info.options["batch_size"] == 30 and info.summary["lost_mw"]["mean"] == pytest.approx(r.lost_mw.mean())
        assert info.scenario_hash == load_scenario(SC).hash()
        s = st.samples_frame(r.run_id)
        g = st.groups_frame(r.run_id)
    assert s["sample"].tolist() == list(range(100))
    np.testing.assert_array_equal(s["lost_mw"].to_numpy(), r.lost_mw)
    assert [";".join(d) for d in s["damage"]] == r.to_frame()["damage"].tolist()
    assert len(g) == 200 and set(g["grp"]) == {"w", "e"}
    np.testing.assert_allclose(s[list(PRIORITY_COLUMNS)].sum(axis=1), s["lost_mw"])


def test_batch_is_one_transaction(stored):
    db, r = stored
    from gridshield.threat.batch import batches_from_store

    with ResultsStore(db) as st:
        batch = batches_from_store(st, r.run_id, [(0, 30)])[0]
        # writing the same batch again violates the primary key: nothing of it may remain
        n_groups = len(st.groups_frame(r.run_id))
        with pytest.raises(Exception):
            st.write_batch(r.run_id, batch, batch.groups)
        assert len(st.groups_frame(r.run_id)) == n_groups
        assert len(st.samples_frame(r.run_id)) == 100


def test_parquet_export(stored, tmp_path):
    db, r = stored
    with ResultsStore(db, read_only=True) as st:
        paths = st.export_parquet(r.run_id, tmp_path / "exp")
        s = st.samples_frame(r.run_id)
    ps = pd.read_parquet(paths[0])
    pg = pd.read_parquet(paths[1])
    assert ps["sample"].tolist() == s["sample"].tolist()
    np.testing.assert_array_equal(ps["lost_mw"].to_numpy(), s["lost_mw"].to_numpy())
    assert len(pg) == 200
    with ResultsStore(db, read_only=True) as st, pytest.raises(GridshieldError, match="unknown run"):
        st.export_parquet("nope", tmp_path)


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(GridshieldError, match="does not exist"):
        ResultsStore(tmp_path / "none.duckdb", read_only=True)


def test_cli_runs_lists(stored, tmp_path):
    from typer.testing import CliRunner

    from gridshield.cli import _register_commands, app

    db, r = stored
    _register_commands()
    res = CliRunner().invoke(app, ["runs", "--store", str(db)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert r.run_id in res.output
    res = CliRunner().invoke(app, ["runs", "--store", str(db), "--show", r.run_id])
    assert res.exit_code == 0 and "store-test" in res.output and "CVaR 95%" in res.output
    res = CliRunner().invoke(app, ["runs", "--store", str(db), "--export", r.run_id, "--out", str(tmp_path / "e")])
    assert res.exit_code == 0 and (tmp_path / "e" / f"{r.run_id}_samples.parquet").is_file()


@pytest.mark.parametrize("name, content", [("result.json", '{"a": 1}\n'), ("junk.duckdb", "not duckdb\n" * 50)])
@pytest.mark.parametrize("read_only", [True, False])
def test_store_refuses_a_file_that_is_not_duckdb(tmp_path, name, content, read_only):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(GridshieldError, match="not a DuckDB file"):
        ResultsStore(p, read_only=read_only)


class _FailsAfter:
    """Local-loss model that raises ``exc`` at its 20th assessment (a dashboard job out of memory)."""

    def __init__(self, grid):
        from gridshield.threat.sampling import LocalLossModel

        self.m, self.n = LocalLossModel(grid), 0

    def assess(self, ids):
        self.n += 1
        if self.n == 20:
            raise MemoryError("boom")
        return self.m.assess(ids)


def failing_evaluator(grid, scenario):
    return _FailsAfter(grid)


def test_a_run_that_fails_is_interrupted_not_running(tmp_path):
    """Item 4: a dashboard job that died of MemoryError showed "running, 0" for ever."""
    db = tmp_path / "f.duckdb"
    big = {**SC, "grid": {**SC["grid"], "sites": {f"S{b}": [b] for b in range(1, 10)}}}
    with pytest.raises(MemoryError):
        run_risk(load_scenario(big), samples=400, seed=1, workers=1, batch_size=10, store=db,
                 evaluator="tests.test_store:failing_evaluator")
    with ResultsStore(db, read_only=True) as st:
        (info,) = st.runs()
    assert info.status == "interrupted" and info.state == "interrupted" and info.note == "ran out of memory"
    assert 0 < info.samples_done < 400


def test_owner_and_state(tmp_path, stored):
    import os
    import socket

    from gridshield.store import RunInfo, owner_alive, process_start

    db, r = stored
    with ResultsStore(db, read_only=True) as st:
        info = st.run(r.run_id)
    assert info.owner_pid == os.getpid() and info.owner_host == socket.gethostname() and info.heartbeat
    assert info.state == "done"
    running = RunInfo(**{**info.__dict__, "status": "running"})
    assert running.state == "running"  # its owner (this process) lives
    assert owner_alive(os.getpid(), socket.gethostname(), process_start(os.getpid())) is True
    assert owner_alive(os.getpid(), socket.gethostname(), 12345) is False  # pid reused by another process
    dead = RunInfo(**{**running.__dict__, "owner_pid": 2**22 + 7})
    assert dead.state == "interrupted"
    elsewhere = RunInfo(**{**running.__dict__, "owner_host": "other-host", "heartbeat": "2000-01-01 00:00:00"})
    assert elsewhere.state == "interrupted"  # stale heartbeat on another host


def test_runs_reads_the_snapshot_while_a_writer_holds_the_store(stored):
    """Item 4: `gridshield runs` failed with DuckDB's lock error while a run wrote the store."""
    import subprocess
    import sys

    from gridshield.store import StoreLocked, runs_or_snapshot

    db, r = stored
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreLocked, match="another process"):
            ResultsStore(db, read_only=True)
        infos, taken = runs_or_snapshot(db, wait_s=0.2)
        assert taken and [i.run_id for i in infos] == [r.run_id] and infos[0].state == "done"
        assert infos[0].summary["lost_mw"]["mean"] == pytest.approx(r.lost_mw.mean())
    finally:
        holder.kill()
        holder.wait()
