"""Model import: gridshield vs pypowsybl's own load, and vs pandapower's own case export.

Side by side in one run (medians of ``--repeats`` timed runs after one warm-up):

* **IIDM (pypowsybl)**: case9241pegase is written as a MATPOWER ``.mat`` file, read by pypowsybl
  and saved as XIIDM (and, where pypowsybl can export it, as a CGMES zip). Timed: pypowsybl's
  ``network.load(file)`` alone vs gridshield's ``read_powsybl(file)`` (the same load plus the
  conversion to a Grid). Target: gridshield <= 1.5 x pypowsybl.
* **pandapower**: ``pandapower.networks.case9241pegase()``; timed: pandapower's
  ``converter.to_ppc(net, init="flat")`` on a copy vs gridshield's ``from_pandapower(net)``
  (which copies the net itself, builds pandapower's internal case and converts it).
  Target: gridshield <= 1 x ``to_ppc``.

Run: ``.venv/bin/python -m benchmarks.bench_import [--repeats 5]``. Prints the machine load.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _median(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``repeats`` calls of ``fn(setup())`` (setup untimed) after one warm-up."""
    times = []
    for k in range(repeats + 1):
        arg = setup() if setup else None
        gc.collect()
        t = time.perf_counter()
        fn(arg) if setup else fn()
        if k:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def _write_models(folder: Path) -> dict[str, Path]:
    import scipy.io

    import gridshield as gs
    from gridshield.grid.powsybl import need_pypowsybl
    from gridshield.grid.ppc import to_ppc

    pypowsybl = need_pypowsybl()
    ppc = to_ppc(gs.load_case("case9241pegase"))
    mat = folder / "case9241pegase.mat"
    scipy.io.savemat(mat, {"mpc": {k: ppc[k] for k in ("version", "baseMVA", "bus", "gen", "branch", "gencost")}})
    network = pypowsybl.network.load(str(mat))
    out = {"XIIDM": folder / "case9241pegase.xiidm"}
    network.save(str(out["XIIDM"]), format="XIIDM")
    try:
        network.save(str(folder / "case9241pegase_cgmes.zip"), format="CGMES")
        out["CGMES"] = folder / "case9241pegase_cgmes.zip"
    except Exception as exc:  # noqa: BLE001 - report and go on with XIIDM
        print(f"  (pypowsybl cannot export this network as CGMES: {' '.join(str(exc).split())[:120]})")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if not 1 <= args.repeats <= 100:
        raise SystemExit("--repeats must be between 1 and 100")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from gridshield.grid.powsybl import need_pypowsybl, read_powsybl

    pypowsybl = need_pypowsybl()
    print(f"load average before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, path in _write_models(Path(tmp)).items():
            t_pp = _median(lambda p=path: pypowsybl.network.load(str(p)), args.repeats)
            t_gs = _median(lambda p=path: read_powsybl(p, approximate=True), args.repeats)
            rows.append((f"case9241pegase {fmt}", "pypowsybl network.load", t_pp, "gridshield read_powsybl", t_gs))
    import pandapower.networks as ppn
    from pandapower.converter.pypower.to_ppc import to_ppc

    from gridshield.grid.pandapower import from_pandapower

    net = ppn.case9241pegase()
    t_ppc = _median(lambda n: to_ppc(n, init="flat"), args.repeats, setup=lambda: copy.deepcopy(net))
    t_gs = _median(lambda: from_pandapower(net), args.repeats)
    rows.append(("case9241pegase pandapower net", "pandapower to_ppc", t_ppc, "gridshield from_pandapower", t_gs))
    print(f"{'model':32s} {'reference':26s} {'ref s':>8s} {'gridshield':28s} {'gs s':>8s} {'ratio':>6s}")
    for model, ref, tr, ours, tg in rows:
        print(f"{model:32s} {ref:26s} {tr:8.3f} {ours:28s} {tg:8.3f} {tg / tr:6.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
