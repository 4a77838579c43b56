"""AC security analysis: every contingency solved by AC power flow, thermal and voltage limits checked.

The strike-shaped contingencies an operator asks about: single branches, single generators,
whole sites (a substation and everything at it) and pairs of sites (N-2), each solved with
:class:`gridshield.flow.contingency.AcOutageSolver` (compensation on the base case's LU factors,
a fresh Newton-Raphson where that does not converge). A contingency is secure only from a
converged AC solution with no limit crossed; one whose AC power flow does not converge is reported
as such, never as secure.

Checks
------
* **Thermal**: MVA at either end of every branch in service after the contingency, against
  ``threshold_pct`` of rating A (or B, the emergency rating, where given; else A). A branch
  already above that in the base case counts only when its flow grows by more than ``worsen``
  (2 %): it is monitored against ``max(threshold x rating, (1 + worsen) x base MVA)``.
* **Voltage**: every energised bus against the case's ``[Vmin, Vmax]``; a bus already outside in
  the base case counts only when it moves further out by more than ``worsen_v_pu``.
* **Islanding**: the load of buses left without generation (``islanded_mw``); islands that keep
  generation are solved with their own slack.
* **Generator Q limits** (``q_limits``, default on): PV -> PQ switching from the base case's
  Q-limit state (:class:`gridshield.flow.ac.AcSolver` semantics).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid
from gridshield.security.shed import Asset, asset_of, default_candidates, site_assets

KINDS = ("branches", "gens", "sites", "site-pairs")
#: Contingencies one run may hold (every one keeps a row of results); above it, sample.
MAX_CONTINGENCIES = 2_000_000
#: Worker processes allowed.
MAX_WORKERS = 64
STATUSES = ("secure", "thermal", "voltage", "thermal+voltage", "not converged", "no generation")


@dataclass(frozen=True, eq=False)
class AcSecurityResult:
    """AC security analysis, one row per contingency (arrays in the order of ``ids``).

    Attributes
    ----------
    ids, kind
        Contingency id (``branch:12``, ``gen:3``, ``site:S1`` / ``bus:5``, ``site:A+site:B``) and
        its kind (``branch``, ``gen``, ``site``, ``site-pair``).
    status
        ``secure``, ``thermal``, ``voltage``, ``thermal+voltage``, ``not converged`` (the AC power
        flow found no solution; ``reason`` says how it failed) or ``no generation``.
    converged, reason, method, iterations
        Solver outcome: ``method`` is ``compensated`` or ``newton`` (fresh solve).
    max_loading_pct, max_loading_branch, n_overloads
        Highest MVA loading in % of the rating and where; branches over their monitoring limit.
    vm_min_pu, vm_min_bus, vm_max_pu, vm_max_bus, n_low_voltage, n_high_voltage
        Extreme voltages over energised buses and where; buses beyond their limits.
    islanded_mw, dark_buses
        Load and buses left without generation.
    q_switched
        Generators that reach a Q limit because of the contingency.
    thermal, voltage
        Thermal / voltage violation flags (converged contingencies only).
    """

    ids: tuple[str, ...]
    kind: tuple[str, ...]
    status: tuple[str, ...]
    converged: np.ndarray
    reason: tuple[str, ...]
    method: tuple[str, ...]
    iterations: np.ndarray
    max_loading_pct: np.ndarray
    max_loading_branch: tuple[str, ...]
    n_overloads: np.ndarray
    vm_min_pu: np.ndarray
    vm_min_bus: tuple[str, ...]
    vm_max_pu: np.ndarray
    vm_max_bus: tuple[str, ...]
    n_low_voltage: np.ndarray
    n_high_voltage: np.ndarray
    islanded_mw: np.ndarray
    dark_buses: np.ndarray
    q_switched: np.ndarray
    thermal: np.ndarray
    voltage: np.ndarray
    case: str
    settings: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def violating(self) -> np.ndarray:
        """Thermal or voltage violation, or no converged AC solution."""
        return self.thermal | self.voltage | ~self.converged

    @property
    def violating_ids(self) -> list[str]:
        return [i for i, v in zip(self.ids, self.violating.tolist(), strict=True) if v]

    @property
    def thermal_ids(self) -> list[str]:
        return [i for i, v in zip(self.ids, self.thermal.tolist(), strict=True) if v]

    @property
    def voltage_ids(self) -> list[str]:
        return [i for i, v in zip(self.ids, self.voltage.tolist(), strict=True) if v]

    @property
    def not_converged_ids(self) -> list[str]:
        return [i for i, v in zip(self.ids, self.converged.tolist(), strict=True) if not v]

    def summary(self) -> dict[str, Any]:
        n = len(self.ids)
        out: dict[str, Any] = {
            "case": self.case,
            "contingencies": n,
            "secure": int(sum(s == "secure" for s in self.status)),
            "thermal": int(np.count_nonzero(self.thermal)),
            "voltage": int(np.count_nonzero(self.voltage)),
            "not_converged": int(np.count_nonzero(~self.converged)),
            "islanding": int(np.count_nonzero(self.islanded_mw > 0)),
            "islanded_mw_max": float(self.islanded_mw.max()) if n else 0.0,
            "newton_fallbacks": int(sum(m == "newton" for m in self.method)),
            "q_switched": int(self.q_switched.sum()),
        }
        out |= {f"base_{k}": v for k, v in self.base.items()}
        out |= self.settings
        return out | {f"time_{k}_s": v for k, v in self.timings_s.items()}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "kind": list(self.kind), "status": list(self.status), "converged": self.converged,
                "reason": list(self.reason), "method": list(self.method), "iterations": self.iterations,
                "max_loading_pct": self.max_loading_pct, "max_loading_branch": list(self.max_loading_branch),
                "n_overloads": self.n_overloads, "vm_min_pu": self.vm_min_pu, "vm_min_bus": list(self.vm_min_bus),
                "vm_max_pu": self.vm_max_pu, "vm_max_bus": list(self.vm_max_bus),
                "n_low_voltage": self.n_low_voltage, "n_high_voltage": self.n_high_voltage,
                "islanded_mw": self.islanded_mw, "dark_buses": self.dark_buses, "q_switched": self.q_switched,
                "thermal": self.thermal, "voltage": self.voltage,
            },
            index=pd.Index(list(self.ids), name="contingency"),
        )

    def to_dict(self) -> dict[str, Any]:
        def num(x):
            x = float(x)
            return x if np.isfinite(x) else None

        return {
            "kind": "ac_security",
            "summary": self.summary(),
            "contingencies": [
                {
                    "id": self.ids[i], "kind": self.kind[i], "status": self.status[i],
                    "converged": bool(self.converged[i]), "reason": self.reason[i], "method": self.method[i],
                    "iterations": int(self.iterations[i]), "max_loading_pct": num(self.max_loading_pct[i]),
                    "max_loading_branch": self.max_loading_branch[i] or None, "n_overloads": int(self.n_overloads[i]),
                    "vm_min_pu": num(self.vm_min_pu[i]), "vm_min_bus": self.vm_min_bus[i] or None,
                    "vm_max_pu": num(self.vm_max_pu[i]), "vm_max_bus": self.vm_max_bus[i] or None,
                    "n_low_voltage": int(self.n_low_voltage[i]), "n_high_voltage": int(self.n_high_voltage[i]),
                    "islanded_mw": float(self.islanded_mw[i]), "dark_buses": int(self.dark_buses[i]),
                    "q_switched": int(self.q_switched[i]), "thermal": bool(self.thermal[i]),
                    "voltage": bool(self.voltage[i]),
                }
                for i in range(len(self.ids))
            ],
        }


# ---------------------------------------------------------------------------------------------
# contingency lists
# ---------------------------------------------------------------------------------------------
def ratings(grid: Grid, rating: str) -> np.ndarray:
    """Branch ratings (MVA) for ``rating`` ``"a"``, ``"b"`` or ``"c"``; B and C fall back to A where 0."""
    key = str(rating).lower().replace("rate_", "")
    col = {"a": "rate_a_mva", "b": "rate_b_mva", "c": "rate_c_mva"}.get(key)
    if col is None:
        raise GridshieldError(f"rating {rating!r}: use 'a' (normal), 'b' (emergency) or 'c'")
    r = np.asarray(getattr(grid.branches, col), dtype=float)
    return r if key == "a" else np.where(r > 0, r, np.asarray(grid.branches.rate_a_mva, dtype=float))


def _pair(i: int, n: int) -> tuple[int, int]:
    """The ``i``-th pair ``(a, b)``, ``a < b < n``, in lexicographic order."""
    # rows a hold n - 1 - a pairs; start of row a = a (2n - a - 1) / 2
    a = int(np.floor((2 * n - 1 - np.sqrt((2 * n - 1) ** 2 - 8 * i)) / 2))
    while a * (2 * n - a - 1) // 2 > i:
        a -= 1
    while (a + 1) * (2 * n - a - 2) // 2 <= i:
        a += 1
    return a, a + 1 + i - a * (2 * n - a - 1) // 2


def _joined(grid: Grid, parts: Sequence[Asset], cid: str | None = None) -> Asset:
    br = sorted({b for a in parts for b in a.branches})
    gn = sorted({g for a in parts for g in a.gens})
    return Asset(cid or "+".join(a.id for a in parts), tuple(br), tuple(gn))


def contingency_assets(
    grid: Grid,
    elements: Sequence[str] = ("branches",),
    contingencies: Sequence[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> list[tuple[Asset, str]]:
    """The contingencies to study, as ``(asset, kind)``: explicit ids or every one of ``elements``.

    ``contingencies``: ids (``branch:3``, ``site:S1``, ``bus:5``, ``gen:2``) or several joined by
    ``+`` for one contingency (``site:A+site:B``). ``sample``: a random subset of that size
    (``seed``), drawn without listing every pair of sites first.
    """
    if sample is not None and not 1 <= int(sample) <= MAX_CONTINGENCIES:
        raise GridshieldError(f"sample={sample}: draw between 1 and {MAX_CONTINGENCIES:,} contingencies")
    rng = np.random.default_rng(seed)
    if contingencies is not None:
        out = []
        for cid in contingencies:
            parts = [asset_of(grid, p.strip()) for p in str(cid).split("+") if p.strip()]
            if not parts:
                raise GridshieldError(f"contingency {cid!r}: name at least one asset id")
            kind = parts[0].id.split(":", 1)[0] if len(parts) == 1 else "multi"
            kind = {"bus": "site"}.get(kind, kind)
            if len(parts) == 2 and all(p.id.split(":", 1)[0] in ("site", "bus") for p in parts):
                kind = "site-pair"
            out.append((_joined(grid, parts, str(cid)) if len(parts) > 1 else parts[0], kind))
        if len(out) > MAX_CONTINGENCIES:
            raise GridshieldError(f"{len(out):,} contingencies: at most {MAX_CONTINGENCIES:,} per run")
        if sample is not None and sample < len(out):
            out = [out[i] for i in sorted(rng.choice(len(out), int(sample), replace=False).tolist())]
        return out
    elements = tuple(elements)
    bad = [e for e in elements if e not in KINDS]
    if bad or not elements:
        raise GridshieldError(f"elements {list(elements)}: choose from {list(KINDS)}")
    singles = [(a, {"bus": "site"}.get(a.id.split(":", 1)[0], a.id.split(":", 1)[0]))
               for a in default_candidates(grid, tuple(e for e in elements if e != "site-pairs"))]
    sites = site_assets(grid) if "site-pairs" in elements else []
    ns = len(sites)
    npairs = ns * (ns - 1) // 2
    total = len(singles) + npairs
    if sample is None and total > MAX_CONTINGENCIES:
        raise GridshieldError(
            f"--elements site-pairs: {npairs:,} pairs of {ns:,} sites exceed the limit of {MAX_CONTINGENCIES:,} "
            "contingencies per run (time and memory); draw a random subset with --sample N")
    pick = np.arange(total) if sample is None or sample >= total else np.sort(rng.choice(total, int(sample), replace=False))
    out = [singles[i] for i in pick[pick < len(singles)].tolist()]
    for i in (pick[pick >= len(singles)] - len(singles)).tolist():
        a, b = _pair(int(i), ns)
        out.append((_joined(grid, (sites[a], sites[b])), "site-pair"))
    return out


# ---------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------
def ac_security(
    grid: Grid,
    elements: Sequence[str] = ("branches",),
    *,
    contingencies: Sequence[str] | None = None,
    rating: str = "a",
    threshold_pct: float = 100.0,
    q_limits: bool = True,
    worsen: float = 0.02,
    worsen_v_pu: float = 0.01,
    tol: float = 1e-8,
    workers: int = 1,
    sample: int | None = None,
    seed: int = 0,
    batch: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AcSecurityResult:
    """AC contingency analysis with thermal and voltage checks (see the module docstring).

    Parameters
    ----------
    grid
        The grid.
    elements
        Contingency kinds: any of ``"branches"``, ``"gens"``, ``"sites"`` (every element at a
        substation; each bus where the grid names none) and ``"site-pairs"`` (N-2 of sites).
    contingencies
        Explicit contingency ids instead (``site:A+site:B`` for several assets lost together).
    rating
        ``"a"`` (normal, default), ``"b"`` (emergency; A where B is 0) or ``"c"``.
    threshold_pct
        Loading (% of the rating) above which a branch is overloaded.
    q_limits
        Generator reactive limits (PV -> PQ switching).
    worsen, worsen_v_pu
        A branch above its limit already in the base case counts when its MVA grows by more than
        this fraction; a bus outside its voltage limits when it moves further out by more than
        this (p.u.).
    tol
        AC mismatch tolerance (p.u.), for the base case and every contingency.
    workers
        Processes solving contingencies in parallel (each builds its own solver).
    sample, seed
        Study a random subset of ``sample`` contingencies.
    batch
        Contingencies solved side by side in one process (default
        :data:`gridshield.flow.contingency.BATCH`).
    progress
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    AcSecurityResult
    """
    from gridshield.flow.contingency import BATCH, AcOutageSolver, Outage

    if not threshold_pct > 0 or not np.isfinite(threshold_pct):
        raise GridshieldError(f"threshold_pct={threshold_pct}: give a positive loading in % of the rating, e.g. 100")
    if not (0 <= worsen < 10) or not (0 <= worsen_v_pu < 1):
        raise GridshieldError(f"worsen={worsen}, worsen_v_pu={worsen_v_pu}: use 0 <= worsen < 10 and 0 <= worsen_v_pu < 1")
    if not 1 <= int(workers) <= MAX_WORKERS:
        raise GridshieldError(f"workers={workers}: use between 1 and {MAX_WORKERS} processes")
    batch = BATCH if batch is None else int(batch)
    t0 = time.perf_counter()
    tim: dict[str, float] = {}
    rate = ratings(grid, rating)
    cases = contingency_assets(grid, elements, contingencies, sample, seed)
    ta = time.perf_counter()
    eng = AcOutageSolver(grid, q_limits=q_limits, tol=tol)
    tim["setup"] = time.perf_counter() - ta
    b = eng.base
    s0 = np.maximum(np.hypot(b.p_from_mw, b.q_from_mvar), np.hypot(b.p_to_mw, b.q_to_mvar))
    thr = threshold_pct / 100.0
    limit = np.where(rate > 0, np.maximum(thr * rate, s0 * (1.0 + worsen)), 0.0)
    bus = grid.buses
    vmin = np.where(bus.vmin_pu > 0, np.minimum(bus.vmin_pu, b.vm_pu - worsen_v_pu), -np.inf)
    vmax = np.where(bus.vmax_pu > 0, np.maximum(bus.vmax_pu, b.vm_pu + worsen_v_pu), np.inf)
    outs = [Outage(a.branches, a.gens) for a, _ in cases]
    mon = {"rating_mva": rate, "limit_mva": limit, "vmin_pu": vmin, "vmax_pu": vmax}
    ts = time.perf_counter()
    cb = None if progress is None else (lambda done, total: progress("AC contingencies", done, total))
    if int(workers) > 1 and len(outs) > 4 * batch:
        chk = _solve_parallel(grid, outs, mon, q_limits, tol, batch, int(workers), cb)
    else:
        chk = eng.solve(outs, batch=batch, progress=cb, **mon)
    tim["solve"] = time.perf_counter() - ts
    br_id, bus_id = grid.branches.id, grid.buses.id
    thermal = chk.converged & (chk.n_overloads > 0)
    voltage = chk.converged & ((chk.n_low_voltage + chk.n_high_voltage) > 0)
    status = tuple(
        ("secure" if not (th or vo) else "+".join(x for x, on in (("thermal", th), ("voltage", vo)) if on))
        if cv else ("no generation" if rs == "no generation" else "not converged")
        for cv, rs, th, vo in zip(chk.converged.tolist(), chk.reason, thermal.tolist(), voltage.tolist(), strict=True)
    )
    energised = eng.energised
    base_ld = np.where(rate > 0, s0 / np.where(rate > 0, rate, 1.0), 0.0)
    vb = b.vm_pu[energised]
    base = {
        "max_loading_pct": float(100 * base_ld.max()) if base_ld.size else 0.0,
        "thermal_violations": int(np.count_nonzero((rate > 0) & (s0 > thr * rate * (1 + 1e-9)))),
        "voltage_violations": int(np.count_nonzero((vb < bus.vmin_pu[energised]) | (vb > bus.vmax_pu[energised]))),
        "vm_min_pu": float(vb.min()) if vb.size else float("nan"),
        "vm_max_pu": float(vb.max()) if vb.size else float("nan"),
        "q_limited_gens": int(np.count_nonzero(eng.held)),
    }
    tim["total"] = time.perf_counter() - t0
    return AcSecurityResult(
        ids=tuple(a.id for a, _ in cases), kind=tuple(k for _, k in cases), status=status,
        converged=chk.converged, reason=chk.reason, method=chk.method, iterations=chk.iterations,
        max_loading_pct=np.where(chk.converged, 100.0 * chk.max_loading, np.nan),
        max_loading_branch=tuple(br_id[k] if k >= 0 else "" for k in chk.max_loading_branch.tolist()),
        n_overloads=chk.n_overloads, vm_min_pu=chk.vm_min_pu,
        vm_min_bus=tuple(bus_id[k] if k >= 0 else "" for k in chk.vm_min_bus.tolist()), vm_max_pu=chk.vm_max_pu,
        vm_max_bus=tuple(bus_id[k] if k >= 0 else "" for k in chk.vm_max_bus.tolist()),
        n_low_voltage=chk.n_low_voltage, n_high_voltage=chk.n_high_voltage, islanded_mw=chk.islanded_mw,
        dark_buses=chk.dark_buses, q_switched=chk.q_switched, thermal=thermal, voltage=voltage, case=grid.name,
        settings={"rating": str(rating).lower(), "threshold_pct": float(threshold_pct), "q_limits": bool(q_limits),
                  "tol": float(tol), "worsen": float(worsen), "worsen_v_pu": float(worsen_v_pu),
                  "workers": int(workers)},
        base=base, timings_s=tim,
    )


# ---------------------------------------------------------------------------------------------
# parallel solves
# ---------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(grid: Grid, q_limits: bool, tol: float) -> None:
    from gridshield.flow.contingency import AcOutageSolver

    _WORKER["engine"] = AcOutageSolver(grid, q_limits=q_limits, tol=tol)


def _solve_chunk(outs, mon, batch):
    return _WORKER["engine"].solve(outs, batch=batch, **mon)


def _solve_parallel(grid, outs, mon, q_limits, tol, batch, workers, progress):
    """Contingencies in chunks over ``workers`` processes (each builds its solver once); merged in order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from itertools import pairwise

    from gridshield.flow.contingency import OutageChecks

    workers = min(workers, os.cpu_count() or 1, max(1, len(outs) // batch))
    nchunk = min(len(outs) // batch, 8 * workers)
    bounds = np.linspace(0, len(outs), nchunk + 1).astype(int)
    parts: list[Any] = [None] * nchunk
    done = 0
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(grid, q_limits, tol)) as ex:
        futs = {ex.submit(_solve_chunk, outs[a:b], mon, batch): j for j, (a, b) in enumerate(pairwise(bounds))}

        for fut in as_completed(futs):
            j = futs[fut]
            parts[j] = fut.result()
            done += len(parts[j])
            if progress is not None:
                progress(done, len(outs))
    fields = OutageChecks.__dataclass_fields__
    merged = {}
    for name in fields:
        vals = [getattr(p, name) for p in parts]
        merged[name] = sum(vals, ()) if isinstance(vals[0], tuple) else np.concatenate(vals)
    return OutageChecks(**merged)


__all__ = ["KINDS", "MAX_CONTINGENCIES", "STATUSES", "AcSecurityResult", "ac_security", "contingency_assets",
           "ratings"]
