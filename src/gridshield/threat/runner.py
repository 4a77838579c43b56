"""Monte Carlo risk runs: batches, the stopping rule, the results store and :class:`RiskResult`.

A run computes samples ``0..N-1`` in fixed batches (``[k*B, (k+1)*B)``). Batches are computed
in any order by any executor (:mod:`gridshield.parallel`), written to the store one transaction
each as they arrive, and consumed in index order: the stopping rule ``until_ci`` is checked at
each batch boundary of the contiguous prefix, so a run (fresh or resumed, with any number of
workers) stops at the same N and gives the same numbers.

Statistics
----------
- mean, P50/P90/P99 (``numpy.quantile``, linear interpolation);
- CVaR 95 %: the Rockafellar-Uryasev form ``VaR + E[(X - VaR)+] / (1 - 0.95)`` with VaR the
  empirical 95 % quantile (Rockafellar & Uryasev, *J. Risk* 2(3), 2000), i.e. the mean of the
  worst 5 % of samples;
- confidence interval on the mean: **normal approximation**, ``mean ± 1.96 s / sqrt(n)``
  (central limit theorem; ``s`` the sample standard deviation, ddof = 1);
- stopping rule ``until_ci = 0.01``: stop at the first batch boundary (after ``min_samples``)
  where the CI half-width is below 1 % of the mean, or at ``max_samples``.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import PRIORITY_CLASSES

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
DEFAULT_BATCH = 64
DEFAULT_MAX_SAMPLES = 100_000
DEFAULT_MIN_SAMPLES = 100
CI_METHOD = "normal approximation (CLT): mean ± 1.96·s/√n, s = sample std (ddof=1)"


# -- batches ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Results of consecutive samples (arrays aligned on ``index``)."""

    index: np.ndarray
    demand_mw: np.ndarray
    served_mw: np.ndarray
    lost_mw: np.ndarray
    customers_affected: np.ndarray
    priority_lost_mw: np.ndarray  # (n, len(PRIORITY_CLASSES))
    groups: tuple[str, ...]
    group_lost_mw: np.ndarray  # (n, len(groups))
    group_dark: np.ndarray  # (n, len(groups)) bool
    launched: np.ndarray
    intercepted: np.ndarray
    hits: np.ndarray
    damage: tuple[tuple[str, ...], ...]

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        if not batches:
            raise GridshieldError("no samples to combine")
        g = batches[0].groups
        cat = np.concatenate
        return Batch(
            index=cat([b.index for b in batches]),
            demand_mw=cat([b.demand_mw for b in batches]),
            served_mw=cat([b.served_mw for b in batches]),
            lost_mw=cat([b.lost_mw for b in batches]),
            customers_affected=cat([b.customers_affected for b in batches]),
            priority_lost_mw=np.vstack([b.priority_lost_mw for b in batches]),
            groups=g,
            group_lost_mw=np.vstack([b.group_lost_mw for b in batches]),
            group_dark=np.vstack([b.group_dark for b in batches]),
            launched=cat([b.launched for b in batches]),
            intercepted=cat([b.intercepted for b in batches]),
            hits=cat([b.hits for b in batches]),
            damage=tuple(d for b in batches for d in b.damage),
        )


def run_batch(sampler: Any, seed: int, start: int, stop: int) -> Batch:
    """Samples ``start..stop-1`` with a worker's :class:`~gridshield.threat.sampling.Sampler`."""
    sampler.begin_batch()
    rows = [sampler.sample(seed, i) for i in range(start, stop)]
    groups = sampler.groups
    n, ng = len(rows), len(groups)
    return Batch(
        index=np.arange(start, stop, dtype=np.int64),
        demand_mw=np.array([m.demand_mw for _, m in rows], dtype=float),
        served_mw=np.array([m.served_mw for _, m in rows], dtype=float),
        lost_mw=np.array([m.lost_mw for _, m in rows], dtype=float),
        customers_affected=np.array([m.customers_affected for _, m in rows], dtype=np.int64),
        priority_lost_mw=np.array([m.priority_lost_mw for _, m in rows], dtype=float).reshape(n, len(PRIORITY_CLASSES)),
        groups=groups,
        group_lost_mw=np.array([m.group_lost_mw for _, m in rows], dtype=float).reshape(n, ng),
        group_dark=np.array([m.group_dark for _, m in rows], dtype=bool).reshape(n, ng),
        launched=np.array([sum(d.launched) for d, _ in rows], dtype=np.int64),
        intercepted=np.array([sum(d.intercepted) for d, _ in rows], dtype=np.int64),
        hits=np.array([sum(d.hits) for d, _ in rows], dtype=np.int64),
        damage=tuple(d.damage for d, _ in rows),
    )


def _batches_from_store(store: Any, run_id: str, bounds: list[tuple[int, int]]) -> dict[int, Batch]:
    """Stored samples regrouped into the run's batches (only complete batches are returned)."""
    df = store.samples_frame(run_id)
    if df.empty:
        return {}
    gdf = store.groups_frame(run_id)
    groups = tuple(sorted(gdf["grp"].unique().tolist())) if not gdf.empty else ()
    ng = len(groups)
    idx = df["sample"].to_numpy(np.int64)
    pos = {int(i): j for j, i in enumerate(idx)}
    if ng:
        glost = gdf["lost_mw"].to_numpy(float).reshape(-1, ng)
        gdark = gdf["dark"].to_numpy(bool).reshape(-1, ng)
    else:
        glost = np.zeros((len(idx), 0))
        gdark = np.zeros((len(idx), 0), bool)
    from gridshield.store import PRIORITY_COLUMNS

    prio = df[list(PRIORITY_COLUMNS)].to_numpy(float)
    out: dict[int, Batch] = {}
    for start, stop in bounds:
        if start not in pos or (stop - 1) not in pos:
            continue
        a, b = pos[start], pos[stop - 1] + 1
        if b - a != stop - start:
            continue
        sl = slice(a, b)
        out[start] = Batch(
            index=idx[sl].copy(),
            demand_mw=df["demand_mw"].to_numpy(float)[sl],
            served_mw=df["served_mw"].to_numpy(float)[sl],
            lost_mw=df["lost_mw"].to_numpy(float)[sl],
            customers_affected=df["customers_affected"].to_numpy(np.int64)[sl],
            priority_lost_mw=prio[sl],
            groups=groups,
            group_lost_mw=glost[sl],
            group_dark=gdark[sl],
            launched=df["launched"].to_numpy(np.int64)[sl],
            intercepted=df["intercepted"].to_numpy(np.int64)[sl],
            hits=df["hits"].to_numpy(np.int64)[sl],
            damage=tuple(tuple(d) if d is not None else () for d in df["damage"].tolist()[a:b]),
        )
    return out


# -- statistics -------------------------------------------------------------------------------------


def mean_ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and the 95 % CI half-width (normal approximation, ddof = 1; 0 for n < 2)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    m = float(x.mean())
    if n < 2:
        return m, float("inf")
    return m, float(Z95 * x.std(ddof=1) / np.sqrt(n))


def cvar(x: np.ndarray, alpha: float = 0.95) -> float:
    """Conditional value at risk (Rockafellar-Uryasev): VaR_a + E[(X - VaR_a)+] / (1 - a)."""
    x = np.asarray(x, dtype=float)
    var = float(np.quantile(x, alpha, method="inverted_cdf"))
    return float(var + np.mean(np.maximum(x - var, 0.0)) / (1.0 - alpha))


def _dist(x: np.ndarray) -> dict[str, Any]:
    m, h = mean_ci(x)
    return {
        "mean": m,
        "std": float(np.std(x, ddof=1)) if x.size > 1 else 0.0,
        "ci95": [m - h, m + h],
        "ci95_half_width": h,
        "p50": float(np.quantile(x, 0.5)),
        "p90": float(np.quantile(x, 0.9)),
        "p99": float(np.quantile(x, 0.99)),
        "cvar95": cvar(x, 0.95),
        "max": float(np.max(x)),
    }


# -- result ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskResult:
    """The outcome of a Monte Carlo risk run: per-sample arrays and the summary.

    ``to_dict()`` holds ``samples``, ``lost_mw`` (``mean``, ``ci95`` = [low, high] on the mean,
    ``ci95_half_width``, ``p50``, ``p90``, ``p99``, ``cvar95``, ``max``), the expected MW lost per
    priority class, per-group dark probabilities and expected MW lost; ``to_frame()`` one row per
    sample.
    """

    scenario: str
    scenario_hash: str
    seed: int
    run_id: str | None
    batch: Batch
    stopped_by: str
    options: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def samples(self) -> int:
        return int(self.batch.index.size)

    @property
    def lost_mw(self) -> np.ndarray:
        return self.batch.lost_mw

    @property
    def groups(self) -> tuple[str, ...]:
        return self.batch.groups

    def group_dark_probability(self) -> dict[str, float]:
        """P(group loses all its load), per group."""
        return {g: float(self.batch.group_dark[:, j].mean()) for j, g in enumerate(self.groups)}

    def to_dict(self) -> dict[str, Any]:
        b = self.batch
        prio = {}
        for j, c in enumerate(PRIORITY_CLASSES):
            m, h = mean_ci(b.priority_lost_mw[:, j])
            prio[c] = {"mean": m, "ci95": [m - h, m + h]}
        cm, ch = mean_ci(b.customers_affected.astype(float))
        return {
            "scenario": self.scenario,
            "scenario_hash": self.scenario_hash,
            "run_id": self.run_id,
            "seed": self.seed,
            "samples": self.samples,
            "stopped_by": self.stopped_by,
            "demand_mw": float(b.demand_mw[0]) if b.demand_mw.size else 0.0,
            "lost_mw": _dist(b.lost_mw),
            "p_any_loss": float(np.mean(b.lost_mw > 1e-9)),
            "customers_affected": {"mean": cm, "ci95": [cm - ch, cm + ch], "p90": float(np.quantile(b.customers_affected, 0.9))},
            "lost_mw_by_priority": prio,
            "group_dark_probability": self.group_dark_probability(),
            "group_expected_lost_mw": {g: float(b.group_lost_mw[:, j].mean()) for j, g in enumerate(self.groups)},
            "launched_mean": float(b.launched.mean()),
            "intercepted_mean": float(b.intercepted.mean()),
            "hits_mean": float(b.hits.mean()),
            "destroyed_mean": float(np.mean([len(d) for d in b.damage])),
            "ci_method": CI_METHOD,
            "options": self.options,
            "elapsed_s": self.elapsed_s,
        }

    def to_frame(self):
        """One row per sample: metrics, per-priority and per-group lost MW, and the damage ids."""
        import pandas as pd

        b = self.batch
        cols: dict[str, Any] = {
            "demand_mw": b.demand_mw, "served_mw": b.served_mw, "lost_mw": b.lost_mw,
            "customers_affected": b.customers_affected,
        }
        for j, c in enumerate(PRIORITY_CLASSES):
            cols[f"lost_{c}_mw"] = b.priority_lost_mw[:, j]
        for j, g in enumerate(self.groups):
            cols[f"group_lost_mw[{g}]"] = b.group_lost_mw[:, j]
            cols[f"group_dark[{g}]"] = b.group_dark[:, j]
        cols["launched"] = b.launched
        cols["intercepted"] = b.intercepted
        cols["hits"] = b.hits
        cols["damage"] = [";".join(d) for d in b.damage]
        return pd.DataFrame(cols, index=pd.Index(b.index, name="sample"))


# -- the run -----------------------------------------------------------------------------------------


def parse_until_ci(value: Any) -> float | None:
    """``"1%"`` -> 0.01, ``0.01`` -> 0.01, ``None`` -> None."""
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        try:
            v = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
        except ValueError:
            raise GridshieldError(f"--until-ci {value!r}: expected a percentage such as 1% or a fraction such as 0.01") from None
    else:
        v = float(value)
    if not 0.0 < v < 1.0:
        raise GridshieldError(f"--until-ci {value!r}: must be between 0 and 100 % (e.g. 1%)")
    return v


def _stop_met(n: int, s1: float, s2: float, rel: float, min_samples: int) -> bool:
    if n < max(min_samples, 2):
        return False
    mean = s1 / n
    var = max((s2 - n * mean * mean) / (n - 1), 0.0)
    half = Z95 * np.sqrt(var / n)
    return bool(mean > 0 and half < rel * mean)


def run_risk(
    scenario: Any = None,
    samples: int = 1000,
    seed: int = 0,
    workers: int | None = None,
    until_ci: Any = None,
    max_samples: int | None = None,
    store: Any = None,
    dask: Any = None,
    resume: str | None = None,
    batch_size: int | None = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    progress: Any = False,
    evaluator: str | None = None,
) -> RiskResult:
    """Monte Carlo risk of a threat scenario.

    Parameters
    ----------
    scenario
        Path to a scenario YAML, a YAML string, a dict or a validated
        :class:`~gridshield.threat.scenario.Scenario` (may be None with ``resume``).
    samples
        Number of samples (ignored when ``until_ci`` is given).
    seed
        Run seed (>= 0); sample ``i`` uses ``numpy.random.default_rng([seed, i])``.
    workers
        Local worker processes (None = all cores, 1 = in this process).
    until_ci
        Stop when the 95 % CI half-width on the mean MW lost is below this fraction of the mean
        (``0.01`` or ``"1%"``), checked at batch boundaries, or at ``max_samples``.
    max_samples
        Cap for ``until_ci`` (default 100,000).
    store
        A DuckDB file path or :class:`~gridshield.store.ResultsStore` to write the run to
        (batches, one transaction each), or None.
    dask
        ``"tcp://host:8786"``, ``"local:N"`` or a ``distributed.Client`` to run on Dask.
    resume
        A stored run id to complete (needs ``store``); its stored options and seed are used.
    batch_size
        Samples per batch / transaction (default 64).
    min_samples
        Fewest samples before ``until_ci`` may stop the run.
    progress
        Show a Rich progress bar with samples/s and the running CI; or a callable
        ``progress(samples_done, total)`` called after each batch.
    evaluator
        Advanced: ``"module:function"`` building the per-worker evaluator from ``(grid, scenario)``
        (default: :class:`gridshield.impact.ImpactModel` with the scenario's impact options).

    Returns
    -------
    RiskResult
    """
    from gridshield.store import ResultsStore
    from gridshield.threat.sampling import check_scenario, resolve_callable
    from gridshield.threat.scenario import Scenario, load_scenario, scenario_from_json

    own_store = False
    st = None
    if store is not None:
        if isinstance(store, ResultsStore):
            st = store
        else:
            st = ResultsStore(store)
            own_store = True
    try:
        scenario_text = ""
        if resume is not None:
            if st is None:
                raise GridshieldError("--resume needs the results store that holds the run (--store FILE)")
            info = st.run(resume)
            sc = scenario_from_json(info.scenario_json)
            if scenario is not None:
                given = load_scenario(scenario)
                if given.hash() != info.scenario_hash:
                    raise GridshieldError(
                        f"run {resume} was made from a different scenario (hash {info.scenario_hash[:12]}, "
                        f"this file {given.hash()[:12]}); resume without the file or with the same one"
                    )
            check_scenario(sc)
            opts = dict(info.options)
            seed = int(info.seed)
            run_id = resume
        else:
            if scenario is None:
                raise GridshieldError("give a scenario (a YAML path or a Scenario) or --resume RUN")
            if isinstance(scenario, Scenario):
                sc = scenario
            else:
                sc = load_scenario(scenario)
                if isinstance(scenario, str) and "\n" not in scenario:
                    try:
                        from pathlib import Path

                        scenario_text = Path(scenario).read_text(encoding="utf-8")
                    except OSError:
                        scenario_text = ""
            check_scenario(sc)  # grid and targets checked here, before any run or worker starts
            if not isinstance(seed, (int, np.integer)) or seed < 0:
                raise GridshieldError(f"--seed {seed!r}: use a non-negative integer")
            rel = parse_until_ci(until_ci)
            bs = DEFAULT_BATCH if batch_size is None else int(batch_size)
            if evaluator is not None:
                resolve_callable(evaluator)  # fail here, not in every worker
            if bs < 1:
                raise GridshieldError(f"batch size {bs}: need at least 1")
            if max_samples is not None and int(max_samples) < 1:
                raise GridshieldError(f"--max-samples {max_samples}: need at least 1")
            if rel is None and int(samples) < 1:
                raise GridshieldError(f"--samples {samples}: need at least 1")
            opts = {
                "samples": None if rel is not None else int(samples),
                "until_ci": rel,
                "max_samples": int(max_samples or DEFAULT_MAX_SAMPLES) if rel is not None else None,
                "min_samples": int(min_samples),
                "batch_size": bs,
                "evaluator": evaluator,
            }
            run_id = None
            if st is not None:
                run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
                st.create_run(run_id, sc.name, scenario_text, sc.canonical_json(), sc.hash(), int(seed), opts)
        return _execute(sc, int(seed), opts, st, run_id, workers, dask, progress)
    finally:
        if own_store and st is not None:
            st.close()


def _execute(sc: Any, seed: int, opts: dict[str, Any], st: Any, run_id: str | None, workers: Any, dask: Any,
             progress: bool) -> RiskResult:
    from gridshield.parallel import Payload, make_executor

    t0 = time.perf_counter()
    rel = opts.get("until_ci")
    cap = int(opts["max_samples"] if rel is not None else opts["samples"])
    bs = int(opts["batch_size"])
    bounds = [(s, min(s + bs, cap)) for s in range(0, cap, bs)]
    have: dict[int, Batch] = _batches_from_store(st, run_id, bounds) if (st is not None and run_id) else {}
    resumed = sum(b.index.size for b in have.values())

    # consume batches in index order; the stopping rule sees the same prefix whatever the order
    state = {"k": 0, "n": 0, "s1": 0.0, "s2": 0.0, "stop": None}

    def advance() -> None:
        while state["stop"] is None and state["k"] < len(bounds) and bounds[state["k"]][0] in have:
            b = have[bounds[state["k"]][0]]
            state["k"] += 1
            state["n"] += b.index.size
            state["s1"] += float(b.lost_mw.sum())
            state["s2"] += float(np.dot(b.lost_mw, b.lost_mw))
            if rel is not None and _stop_met(state["n"], state["s1"], state["s2"], rel, int(opts["min_samples"])):
                state["stop"] = bounds[state["k"] - 1][1]

    advance()
    payload = Payload(sc.canonical_json(), sc.hash(), seed, opts.get("evaluator"))
    todo = [b for b in bounds if b[0] not in have]
    bar = _Progress(progress, cap, sc.name, resumed)
    if state["stop"] is None and todo:
        ex = make_executor(payload, workers, dask)
        bar.label(ex.label if hasattr(ex, "label") else "")
        window = max(2, 2 * int(getattr(ex, "workers", 1)))
        pending: dict[Any, tuple[int, int]] = {}
        it = iter(todo)
        try:
            def fill() -> None:
                while len(pending) < window and state["stop"] is None:
                    nxt = next(it, None)
                    if nxt is None:
                        return
                    pending[ex.submit(*nxt)] = nxt

            fill()
            while pending and state["stop"] is None:
                done, _ = ex.wait(set(pending))
                for f in done:
                    start, stop = pending.pop(f)
                    try:
                        batch = f.result()
                    except BrokenProcessPool:
                        raise GridshieldError(
                            "a worker process died (out of memory, or its state failed to build); "
                            "run with --workers 1 to see the error"
                            + (f", then --resume {run_id}" if run_id else "")
                        ) from None
                    if st is not None and run_id:
                        st.write_batch(run_id, batch, batch.groups)
                    have[start] = batch
                    advance()
                    bar.update(batch.index.size, state)
                fill()
            for f in pending:  # stopping rule met: drop what is still running
                f.cancel()
        except KeyboardInterrupt:
            for f in pending:
                f.cancel()
            hint = f"; resume with: gridshield risk --resume {run_id} --store {st.path}" if run_id else ""
            raise GridshieldError(f"interrupted after {state['n']} samples in order{hint}") from None
        finally:
            ex.close()
            bar.close()
    else:
        bar.close()
    n_final = state["stop"] if state["stop"] is not None else cap
    used = [have[s] for s, e in bounds if e <= n_final and s in have]
    if sum(b.index.size for b in used) != n_final:
        raise GridshieldError("internal: missing batches after the run; resume it with --resume")
    stopped_by = "samples" if rel is None else ("until_ci" if state["stop"] is not None else "max_samples")
    result = RiskResult(
        scenario=sc.name,
        scenario_hash=sc.hash(),
        seed=seed,
        run_id=run_id,
        batch=Batch.concat(used),
        stopped_by=stopped_by,
        options=dict(opts),
        elapsed_s=time.perf_counter() - t0,
    )
    if st is not None and run_id:
        summary = result.to_dict()
        st.finish_run(run_id, n_final, summary, drop_from=n_final if n_final < cap else None)
    return result


class _Progress:
    """A Rich progress bar with samples/s and the running mean ± CI half-width (or nothing)."""

    def __init__(self, enabled: Any, total: int, name: str, done: int):
        self.p = None
        # a callable receives (samples done, total) instead of a bar (the dashboard's job progress)
        self.callback = enabled if callable(enabled) else None
        self.done, self.total = done, total
        if self.callback is not None:
            self.callback(done, total)
        if not enabled or self.callback is not None:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from gridshield.cli import err_console

        self.p = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[ci]}"), console=err_console, transient=False,
        )
        self.p.start()
        self.task = self.p.add_task(name, total=total, completed=done, rate="", ci="")
        self.t0 = time.perf_counter()
        self.new = 0

    def label(self, text: str) -> None:
        if self.p is not None and text:
            self.p.console.print(f"running on {text}")
            self.t0 = time.perf_counter()

    def update(self, k: int, state: dict[str, Any]) -> None:
        self.done += k
        if self.callback is not None:
            self.callback(self.done, self.total)
        if self.p is None:
            return
        self.new += k
        dt = max(time.perf_counter() - self.t0, 1e-9)
        n = state["n"]
        ci = ""
        if n >= 2:
            mean = state["s1"] / n
            var = max((state["s2"] - n * mean * mean) / (n - 1), 0.0)
            ci = f"lost {mean:,.1f} ± {Z95 * np.sqrt(var / n):,.1f} MW"
        self.p.update(self.task, advance=k, rate=f"{self.new / dt:,.1f} samples/s", ci=ci)

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()
            self.p = None


def load_run(store: Any, run_id: str) -> RiskResult:
    """A stored, finished run as a :class:`RiskResult` (from the store alone)."""
    from gridshield.store import ResultsStore
    from gridshield.threat.scenario import scenario_from_json

    st = store if isinstance(store, ResultsStore) else ResultsStore(store, read_only=True)
    try:
        info = st.run(run_id)
        n = info.samples_done
        bs = int(info.options.get("batch_size") or DEFAULT_BATCH)
        bounds = [(s, min(s + bs, n)) for s in range(0, n, bs)]
        have = _batches_from_store(st, run_id, bounds)
        used = [have[s] for s, _ in bounds if s in have]
        if not used:
            raise GridshieldError(f"run {run_id} has no stored samples; resume it with --resume {run_id}")
        sc = scenario_from_json(info.scenario_json)
        return RiskResult(sc.name, info.scenario_hash, info.seed, run_id, Batch.concat(used),
                          str(info.summary.get("stopped_by", "")), dict(info.options))
    finally:
        if st is not store:
            st.close()


__all__ = ["CI_METHOD", "Batch", "RiskResult", "cvar", "load_run", "mean_ci", "parse_until_ci", "run_batch", "run_risk"]
