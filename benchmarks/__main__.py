"""Run every ``benchmarks/bench_*.py`` module's ``main()`` in turn (``python -m benchmarks``).

``python -m benchmarks pf dc`` runs only ``bench_pf`` and ``bench_dc``. Each module runs with its
default options; run a module directly to pass its own options.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path


def modules() -> list[str]:
    """Names of the benchmark modules, sorted."""
    here = Path(__file__).resolve().parent
    return sorted(p.stem for p in here.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = modules()
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python -m benchmarks [NAME ...]   (NAME: {', '.join(n[len('bench_'):] for n in names)})")
        print("runs each benchmark with its defaults; `python -m benchmarks.bench_NAME --help` lists its options")
        return 0
    if argv:
        wanted = {a if a.startswith("bench_") else f"bench_{a}" for a in argv}
        unknown = wanted - set(names)
        if unknown:
            print(f"unknown benchmark(s) {sorted(unknown)}; available: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    failed = []
    for name in names:
        print(f"\n===== {name} =====", flush=True)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
            fn = getattr(mod, "main")
            params = inspect.signature(fn).parameters
            fn([]) if params else fn()
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(name)
        except Exception:  # keep going: one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
        print(f"----- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
