"""A fork server for CLI property tests: import gridshield once, then run each command line in a
forked child with a fresh copy of the fixture folder, a wall-clock limit and a memory limit.

Started as ``python -m tests.cli_forkserver TEMPLATE_DIR WORK_DIR``; reads one JSON request per line
on stdin (``{"argv": [...], "timeout_s": 60, "mem_mb": 2000}``) and answers one JSON line on stdout:
``{"rc", "stdout", "stderr", "wall_s", "peak_mb", "timed_out"}`` (``peak_mb``: the child's peak
resident memory above the server's own). A child is its own process group; on time-out the whole
group is killed. Its data segment is capped (``RLIMIT_DATA``) so that an unbounded allocation fails
inside the child instead of filling the machine.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["COLUMNS"] = "100"


def _preload() -> None:
    """Import what commands use, so that a forked child starts in milliseconds."""
    import importlib

    from gridshield.cli import _register_commands

    _register_commands()
    for mod in ("numpy", "scipy.sparse", "pandas", "pyarrow", "duckdb", "highspy", "yaml", "pydantic", "plotly",
                "gridshield.grid.cases", "gridshield.impact", "gridshield.threat.runner", "gridshield.threat.sampling",
                "gridshield.restore", "gridshield.heat", "gridshield.outages", "gridshield.security",
                "gridshield.report.build", "gridshield.flow.ac", "gridshield.flow.dc", "gridshield.parallel",
                "gridshield.store"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    from gridshield.grid.cases import load

    for case in ("case9", "synthetic-city"):  # numba kernels and the built-in city, compiled once
        try:
            load(case)
        except Exception:  # noqa: BLE001 - optional case package missing: children load it themselves
            pass


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(argv: list[str], template: Path, work: Path, mem_mb: int, out_path: Path, err_path: Path) -> None:
    os.setpgid(0, 0)
    try:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work)
        os.chdir(work)
        data = _vm_kb("VmData") * 1024 + mem_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        fd_in = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd_in, 0)
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out, 1)
        os.dup2(err, 2)
        from gridshield.cli import main

        code = 0
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - what Python would print for an uncaught exception
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except BaseException:  # noqa: BLE001
        os._exit(97)


def serve(template: Path, work: Path) -> None:
    _preload()
    base_kb = _vm_kb("VmRSS")
    out_path, err_path = work.parent / "stdout.txt", work.parent / "stderr.txt"
    print(json.dumps({"ready": True, "rss_mb": base_kb / 1024}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(req["argv"], template, work, int(req.get("mem_mb", 2000)), out_path, err_path)
        timed_out = False
        deadline = t0 + float(req.get("timeout_s", 60))
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.01)
        try:
            os.killpg(pid, signal.SIGKILL)  # anything the command left behind in its group
        except (ProcessLookupError, PermissionError):
            pass
        rc = os.waitstatus_to_exitcode(status)
        print(json.dumps({
            "rc": rc, "timed_out": timed_out, "wall_s": time.monotonic() - t0,
            "peak_mb": max(usage.ru_maxrss - base_kb, 0) / 1024,
            "stdout": out_path.read_text(errors="replace")[-20_000:],
            "stderr": err_path.read_text(errors="replace")[-20_000:],
        }), flush=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))
