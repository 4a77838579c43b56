"""Risk runs: same seed => identical results across 1 worker, 2 workers, Dask and resumed runs
(including a run killed with SIGKILL in a subprocess), the stopping rule, the API's to_dict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridshield.threat.runner import load_run, run_risk
from gridshield.threat.sampling import LocalLossModel
from gridshield.threat.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
LOCAL = "gridshield.threat.sampling:local_loss_evaluator"

SC = {
    "name": "run-test",
    "grid": {
        "case": "case30",
        "sites": {"S1": [1, 2], "S2": [5, 7], "S3": [12], "S4": [21, 22], "S5": [10, 17]},
        "groups": {"north": [1, 2, 3, 4, 5, 6, 7], "south": [12, 14, 15, 16], "east": [10, 17, 21, 22]},
    },
    "waves": [
        {
            "weapon": "drone",
            "launched": {"poisson": 20},
            "interception": {"observed": {"shot_down": 30, "launched": 35}},
            "targets": [{"class": "site", "weight": 3}, {"class": "line", "weight": 1}, {"class": "bus", "weight": 1}],
            "protected": [{"id": "site:S1"}],
        },
        {"weapon": "cruise_missile", "launched": {"uniform_int": [0, 3]}, "targets": [{"class": "plant"}]},
    ],
}


class _Slow:
    """LocalLossModel that sleeps per assessment and drops a marker file after some calls."""

    def __init__(self, grid):
        self.m = LocalLossModel(grid)
        self.n = 0
        self.mark = os.environ.get("GS_TEST_MARK")
        self.mark_at = int(os.environ.get("GS_TEST_MARK_AT", "120"))

    def assess(self, ids):
        time.sleep(0.003)
        self.n += 1
        if self.mark and self.n == self.mark_at:
            Path(self.mark).write_text("x")
        return self.m.assess(ids)


def slow_evaluator(grid, scenario):
    return _Slow(grid)


def _same(a, b):
    fa, fb = a.to_frame(), b.to_frame()
    assert fa.index.tolist() == fb.index.tolist()
    assert fa["damage"].tolist() == fb["damage"].tolist()
    num = [c for c in fa.columns if c != "damage"]
    np.testing.assert_array_equal(fa[num].to_numpy(float), fb[num].to_numpy(float))


@pytest.fixture(scope="module")
def sc():
    return load_scenario(SC)


@pytest.fixture(scope="module")
def ref(sc):
    return run_risk(sc, samples=600, seed=9, workers=1, batch_size=40, evaluator=LOCAL)


def test_to_dict_and_frame(ref):
    d = ref.to_dict()
    assert d["samples"] == 600
    lm = d["lost_mw"]
    for k in ("mean", "ci95", "p50", "p90", "p99", "cvar95"):
        assert k in lm
    assert lm["ci95"][0] < lm["mean"] < lm["ci95"][1]
    assert lm["p50"] <= lm["p90"] <= lm["p99"] <= lm["max"]
    assert lm["p90"] <= lm["cvar95"] <= lm["max"]
    assert set(d["group_dark_probability"]) == {"east", "north", "south"}
    assert sum(v["mean"] for v in d["lost_mw_by_priority"].values()) == pytest.approx(lm["mean"])
    assert sum(d["group_expected_lost_mw"].values()) <= lm["mean"] + 1e-9  # ungrouped loads are in no group
    import json

    json.dumps(d)  # JSON-ready
    f = ref.to_frame()
    assert len(f) == 600 and f["lost_mw"].mean() == pytest.approx(lm["mean"])


def test_two_workers_identical(sc, ref):
    two = run_risk(sc, samples=600, seed=9, workers=2, batch_size=40, evaluator=LOCAL)
    _same(ref, two)
    # a different batch size changes nothing either (sample i depends on (seed, i) only)
    _same(ref, run_risk(sc, samples=600, seed=9, workers=1, batch_size=7, evaluator=LOCAL))


def test_dask_identical(sc, ref):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl, Client(cl) as c:
        d = run_risk(sc, samples=600, seed=9, dask=c, batch_size=40, evaluator=LOCAL)
    _same(ref, d)


def test_until_ci_and_resume_identical(sc, tmp_path):
    db = tmp_path / "r.duckdb"
    kw = dict(seed=2, until_ci="8%", batch_size=25, evaluator=LOCAL, workers=1)
    a = run_risk(sc, store=db, **kw)
    assert a.stopped_by == "until_ci" and a.samples % 25 == 0 and a.samples >= 100
    m, h = a.to_dict()["lost_mw"]["mean"], a.to_dict()["lost_mw"]["ci95_half_width"]
    assert h < 0.08 * m
    # the batch before the stop did not meet the rule
    b = run_risk(sc, samples=a.samples - 25, seed=2, workers=1, evaluator=LOCAL)
    assert b.to_dict()["lost_mw"]["ci95_half_width"] >= 0.08 * b.to_dict()["lost_mw"]["mean"]
    # same run without a store and with 2 workers: same stop, same numbers
    _same(a, run_risk(sc, **{**kw, "workers": 2}))
    # cut the stored run back to 2 batches and mark it running: resume gives the same result
    from gridshield.store import ResultsStore

    with ResultsStore(db) as st:
        st.con.execute("DELETE FROM samples WHERE sample >= 50")
        st.con.execute("DELETE FROM group_results WHERE sample >= 50")
        st.con.execute("UPDATE runs SET status = 'running', summary = NULL")
    r = run_risk(None, store=db, resume=a.run_id, workers=2)
    assert r.samples == a.samples
    _same(a, r)
    _same(a, load_run(db, a.run_id))


def test_kill_9_then_resume(sc, tmp_path):
    import yaml

    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(SC))
    db, mark = tmp_path / "k.duckdb", tmp_path / "mark"
    n, bs = 900, 20
    env = {**os.environ, "GS_TEST_MARK": str(mark), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "gridshield", "risk", str(path), "-n", str(n), "--seed", "4", "--batch-size", str(bs),
           "--workers", "1", "--store", str(db), "--evaluator", "tests.test_threat_run:slow_evaluator"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while not mark.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() - t0 < 120, "the run did not start"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from gridshield.store import ResultsStore

    with ResultsStore(db) as st:
        (info,) = st.runs()
        done = st.done_indices(info.run_id)
    assert info.status == "running" and info.state == "interrupted"  # its owner is gone
    assert 0 < done.size < n and done.size % bs == 0  # whole batches only: the one in flight is lost
    assert done.tolist() == list(range(done.size))
    env.pop("GS_TEST_MARK")
    out = subprocess.run(
        [sys.executable, "-m", "gridshield", "risk", "--resume", info.run_id, "--store", str(db), "--workers", "2",
         "--out", str(tmp_path / "r.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    resumed = load_run(db, info.run_id)
    clean = run_risk(sc, samples=n, seed=4, workers=1, evaluator=LOCAL)
    assert resumed.samples == n
    _same(clean, resumed)
    import json

    d = json.loads((tmp_path / "r.json").read_text())
    assert d["lost_mw"]["mean"] == pytest.approx(clean.to_dict()["lost_mw"]["mean"], rel=1e-12)


def test_resume_rejects_other_scenario(sc, tmp_path):
    from gridshield.errors import GridshieldError

    db = tmp_path / "x.duckdb"
    a = run_risk(sc, samples=50, seed=1, store=db, workers=1, evaluator=LOCAL)
    other = {**SC, "name": "other"}
    with pytest.raises(GridshieldError, match="different scenario"):
        run_risk(other, store=db, resume=a.run_id)
    with pytest.raises(GridshieldError, match="unknown run"):
        run_risk(None, store=db, resume="nope")


class _History:
    """An evaluator whose numbers depend on its call history (as a warm-started LP may, at
    solver tolerance), with ``reset_warm_start()`` to start afresh."""

    def __init__(self, grid):
        self.m = LocalLossModel(grid)
        self.calls = 0

    def reset_warm_start(self):
        self.calls = 0

    def assess(self, ids):
        self.calls += 1
        r = self.m.assess(ids)
        return type(r)(r.demand_mw, r.served_mw - 1e-9 * self.calls, r.lost_mw + 1e-9 * self.calls,
                       r.customers_affected, r.by_priority, r.by_group, r.load_served_mw)


def history_evaluator(grid, scenario):
    return _History(grid)


def test_warm_start_reset_per_batch_gives_bitwise_identity(sc):
    kw = dict(samples=300, seed=5, batch_size=30, evaluator="tests.test_threat_run:history_evaluator")
    a = run_risk(sc, workers=1, **kw)
    b = run_risk(sc, workers=2, **kw)
    _same(a, b)
    # the history effect is there: the same damage gets different numbers in different batches
    f = a.to_frame()
    common = f.loc[f["damage"] != "", "damage"].value_counts().index[0]
    dup = f[f["damage"] == common]["lost_mw"]
    assert dup.nunique() > 1


def test_parse_until_ci_and_bad_options(sc):
    from gridshield.errors import GridshieldError
    from gridshield.threat.runner import parse_until_ci

    assert parse_until_ci("1%") == pytest.approx(0.01)
    assert parse_until_ci("0.5 %") == pytest.approx(0.005)
    assert parse_until_ci(0.02) == 0.02 and parse_until_ci(None) is None
    for bad in ("abc", "0%", "150%", -0.1):
        with pytest.raises(GridshieldError, match="until-ci"):
            parse_until_ci(bad)
    with pytest.raises(GridshieldError, match="seed"):
        run_risk(sc, samples=10, seed=-1, workers=1, evaluator=LOCAL)
    with pytest.raises(GridshieldError, match="samples"):
        run_risk(sc, samples=0, workers=1, evaluator=LOCAL)
    with pytest.raises(GridshieldError, match="--dask"):
        run_risk(sc, samples=10, dask="nonsense", evaluator=LOCAL)


def test_real_engine_bit_identical_across_worker_counts():
    """With the impact engine's warm start reset per batch, 1 and 2 workers give the same bits."""
    from pathlib import Path

    import gridshield as gs

    example = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    a = gs.run_risk(example, samples=60, seed=5, workers=1, batch_size=20)
    b = gs.run_risk(example, samples=60, seed=5, workers=2, batch_size=20)
    assert np.array_equal(a.lost_mw, b.lost_mw)
    assert np.array_equal(a.batch.group_lost_mw, b.batch.group_lost_mw)


_PAGE_FAULTS = """
import os, resource, sys
import numpy as np
from gridshield.parallel import restore_mmap_threshold
fixed = restore_mmap_threshold()
a = np.ones(2**18)  # 2 MiB: above the fixed 128 KiB mmap threshold
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    a = np.ones(2**18)
    del a
print(fixed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.parametrize("env", [{}, {"MALLOC_TRIM_THRESHOLD_": "65536"}])
def test_worker_keeps_arrays_on_the_heap_under_dasks_malloc_setting(env):
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_, which fixes glibc's mmap threshold at 128 KiB:
    every 2 MiB array would then be mapped and page-faulted anew (512 faults each). A worker's
    state build restores the dynamic behaviour, so repeated arrays reuse the heap."""
    out = subprocess.run([sys.executable, "-c", _PAGE_FAULTS], capture_output=True, text=True, check=True,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}, **env})
    fixed, faults = out.stdout.split()
    assert fixed == ("True" if env else "False")
    assert int(faults) < 200 * 50, faults  # without the fix: ~200 x 512
