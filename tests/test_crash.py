"""Crash semantics (issue 13, item 4): SIGKILL of a `gridshield risk` parent at several points of a
run with 2 worker processes. No process of the run survives 5 s, the run shows "interrupted" (in
the store, `gridshield runs` and a report), and its resume equals an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridshield.store import ResultsStore, snapshot_path
from gridshield.threat.runner import load_run, run_risk
from gridshield.threat.sampling import LocalLossModel
from gridshield.threat.scenario import load_scenario
from tests.test_threat_run import LOCAL, SC, _same

ROOT = Path(__file__).resolve().parents[1]
N, BS, SEED = 900, 20, 4  # 45 batches, ~0.1 s each: ~2.5 s on 2 workers


class _SlowBatches(LocalLossModel):
    """The local-loss model, 0.1 s per batch; drops a marker file when this worker starts batch GS_TEST_MARK_AT."""

    def __init__(self, grid):
        super().__init__(grid)
        self.batches = 0
        self.mark, self.mark_at = os.environ.get("GS_TEST_MARK"), int(os.environ.get("GS_TEST_MARK_AT", "0"))

    def reset_warm_start(self) -> None:  # the sampler calls it before each batch
        self.batches += 1
        if self.mark and self.batches == self.mark_at:
            Path(self.mark).write_text("x")
        time.sleep(0.1)


def slow_batches_evaluator(grid, scenario):
    return _SlowBatches(grid)


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X")


@pytest.fixture(scope="module")
def clean():
    return run_risk(load_scenario(SC), samples=N, seed=SEED, workers=1, evaluator=LOCAL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the run's processes")
@pytest.mark.parametrize("point", ["start", "mid", "late"])
def test_sigkill_leaves_no_process_and_an_interrupted_run_that_resumes_identically(point, clean, tmp_path, capsys):
    import yaml

    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(SC))
    db, mark = tmp_path / "k.duckdb", tmp_path / "mark"
    env = {**os.environ, "GS_TEST_MARK": str(mark), "GS_TEST_MARK_AT": {"mid": "5", "late": "17"}.get(point, "0"),
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "gridshield", "risk", str(path), "-n", str(N), "--seed", str(SEED), "--batch-size",
           str(BS), "--workers", "2", "--store", str(db), "--evaluator", "tests.test_crash:slow_batches_evaluator"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = snapshot_path(db) if point == "start" else mark  # the run row exists / a worker is well into it
    t0 = time.time()
    workers: set[int] = set()
    survivors: list[int] = []
    try:
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() - t0 < 120, "the run did not start"
            time.sleep(0.01)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 5.0
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)  # only processes this test started
    assert not survivors, f"worker processes {survivors} outlived their killed parent by 5 s"
    if point != "start":
        assert len(workers) == 2

    with ResultsStore(db) as st:
        (info,) = st.runs()
    assert info.state == "interrupted" and info.samples_done < N

    from gridshield.cli import main

    main(["runs", "--store", str(db)])
    assert "interrupted" in capsys.readouterr().out

    from gridshield.errors import GridshieldError
    from gridshield.report.build import run_report

    if info.samples_done >= BS:  # a report of what is there says first that the run is incomplete
        rep = run_report(db, info.run_id)
        assert "interrupted" in rep.warning and f"of {N:,} planned" in rep.warning
        html = rep.to_html()
        assert html.index("Warning:") < html.index("Summary")
    else:
        with pytest.raises(GridshieldError, match="no stored samples"):
            run_report(db, info.run_id)

    out = subprocess.run(
        [sys.executable, "-m", "gridshield", "risk", "--resume", info.run_id, "--store", str(db), "--workers", "2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with ResultsStore(db, read_only=True) as st:
        assert st.run(info.run_id).state == "done"
    resumed = load_run(db, info.run_id)
    assert resumed.samples == N
    _same(clean, resumed)
