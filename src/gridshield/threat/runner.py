"""Monte Carlo risk runs: the stopping rule, the results store, progress and :class:`RiskResult`.

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
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import PRIORITY_CLASSES
from gridshield.threat.batch import Batch, batches_from_store

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
DEFAULT_BATCH = 64
DEFAULT_MAX_SAMPLES = 100_000
DEFAULT_MIN_SAMPLES = 100
CI_METHOD = "normal approximation (CLT): mean ± 1.96·s/√n, s = sample std (ddof=1)"
TAIL_CI_METHOD = ("tail sampling (stratified importance sampling, gridshield.threat.tail): estimates mean(w·x), "
                  "CI ± 1.96·√(Σ_g n_g s_g²)/n with w the likelihood ratios and s_g the sd of w·x within "
                  "the samples of equal w (post-stratified)")


# -- statistics -------------------------------------------------------------------------------------


def stratified_sum_of_squares(z: np.ndarray, strata: np.ndarray) -> float:
    """``n^2 Var(mean(z))`` estimated for samples drawn stratum by stratum (post-stratified).

    ``sum_g n_g s_g^2`` over the groups of equal ``strata`` value, ``s_g^2`` the group's sample
    variance (ddof = 1); a sample alone in its group counts ``(z_i - mean(z))^2`` (its own
    deviation, as the plain estimate would). With one group it is ``n s^2`` (the plain estimate).
    """
    z = np.asarray(z, dtype=float)
    _, g, cnt = np.unique(np.asarray(strata), return_inverse=True, return_counts=True)
    s1 = np.bincount(g, z)
    within = np.maximum(np.bincount(g, z * z) - s1 * s1 / cnt, 0.0)
    many = cnt > 1
    lone = many[g] == 0
    return float((within[many] * cnt[many] / (cnt[many] - 1)).sum() + ((z[lone] - z.mean()) ** 2).sum())


def mean_ci(x: np.ndarray, strata: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and the 95 % CI half-width (normal approximation; 0 for n < 2): ``1.96 s / sqrt(n)``
    (ddof = 1), or with ``strata`` (tail sampling: the likelihood ratios, equal within a stratum)
    ``1.96 sqrt(stratified_sum_of_squares) / n``."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    m = float(x.mean())
    if n < 2:
        return m, float("inf")
    if strata is not None:
        return m, float(Z95 * np.sqrt(stratified_sum_of_squares(x, strata)) / n)
    return m, float(Z95 * x.std(ddof=1) / np.sqrt(n))


def cvar(x: np.ndarray, alpha: float = 0.95) -> float:
    """Conditional value at risk (Rockafellar-Uryasev): VaR_a + E[(X - VaR_a)+] / (1 - a)."""
    x = np.asarray(x, dtype=float)
    var = float(np.quantile(x, alpha, method="inverted_cdf"))
    return float(var + np.mean(np.maximum(x - var, 0.0)) / (1.0 - alpha))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Inverted-CDF quantile of the weighted empirical distribution (self-normalised weights)."""
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    k = int(np.searchsorted(cw, q * cw[-1] * (1 - 1e-12), side="left"))
    return float(x[order][min(k, x.size - 1)])


def cvar_ci(x: np.ndarray, w: np.ndarray | None = None, alpha: float = 0.95) -> tuple[float, float]:
    """CVaR_alpha of samples ``x`` with likelihood ratios ``w`` (None = plain Monte Carlo) and
    its 95 % CI half-width: ``VaR + (1/n) sum w (x - VaR)+ / (1 - alpha)`` with the weighted
    inverted-CDF VaR, CI ``1.96 sd(w (x - VaR)+) / ((1 - alpha) sqrt(n))`` (the influence
    function of CVaR; see :mod:`gridshield.threat.tail`), the standard deviation taken within the
    strata (samples of equal ``w``, :func:`mean_ci`) with tail sampling. With ``w = None`` the
    value is :func:`cvar`."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if w is None:
        var = float(np.quantile(x, alpha, method="inverted_cdf"))
        y = np.maximum(x - var, 0.0)
    else:
        var = weighted_quantile(x, w, alpha)
        y = w * np.maximum(x - var, 0.0)
    _, half = mean_ci(y, w)
    return float(var + y.mean() / (1.0 - alpha)), half / (1.0 - alpha)


def _dist(x: np.ndarray, w: np.ndarray | None = None) -> dict[str, Any]:
    """Summary of one metric; with likelihood ratios ``w`` the weighted estimators."""
    c, ch = cvar_ci(x, w, 0.95)
    if w is None:
        m, h = mean_ci(x)
        sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
        qs = [float(np.quantile(x, q)) for q in (0.5, 0.9, 0.99)]
    else:
        m, h = mean_ci(w * x, w)
        sd = float(np.sqrt(max(np.average(x * x, weights=w) - np.average(x, weights=w) ** 2, 0.0)))
        qs = [weighted_quantile(x, w, q) for q in (0.5, 0.9, 0.99)]
    return {
        "mean": m,
        "std": sd,
        "ci95": [m - h, m + h],
        "ci95_half_width": h,
        "p50": qs[0],
        "p90": qs[1],
        "p99": qs[2],
        "cvar95": c,
        "cvar95_ci95_half_width": ch,
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

    @property
    def weights(self) -> np.ndarray | None:
        """Per-sample likelihood ratios of tail sampling (None for plain Monte Carlo)."""
        return self.batch.weight

    def _mean(self, a: np.ndarray) -> float:
        """Estimate of ``E[a]``: the plain mean, or ``mean(w a)`` with tail sampling (unbiased)."""
        w = self.batch.weight
        return float(np.mean(a if w is None else w * a))

    def group_dark_probability(self) -> dict[str, float]:
        """P(group loses all its load), per group."""
        return {g: self._mean(self.batch.group_dark[:, j]) for j, g in enumerate(self.groups)}

    def to_dict(self) -> dict[str, Any]:
        b = self.batch
        w = b.weight
        prio = {}
        for j, c in enumerate(PRIORITY_CLASSES):
            m, h = mean_ci(b.priority_lost_mw[:, j] if w is None else w * b.priority_lost_mw[:, j], w)
            prio[c] = {"mean": m, "ci95": [m - h, m + h]}
        ca = b.customers_affected.astype(float)
        cm, ch = mean_ci(ca if w is None else w * ca, w)
        return {
            "scenario": self.scenario,
            "scenario_hash": self.scenario_hash,
            "run_id": self.run_id,
            "seed": self.seed,
            "samples": self.samples,
            "stopped_by": self.stopped_by,
            "demand_mw": float(b.demand_mw[0]) if b.demand_mw.size else 0.0,
            "lost_mw": _dist(b.lost_mw, w),
            "p_any_loss": self._mean(b.lost_mw > 1e-9),
            "customers_affected": {"mean": cm, "ci95": [cm - ch, cm + ch],
                                   "p90": float(np.quantile(ca, 0.9)) if w is None else weighted_quantile(ca, w, 0.9)},
            "lost_mw_by_priority": prio,
            "group_dark_probability": self.group_dark_probability(),
            "group_expected_lost_mw": {g: self._mean(b.group_lost_mw[:, j]) for j, g in enumerate(self.groups)},
            "launched_mean": self._mean(b.launched),
            "intercepted_mean": self._mean(b.intercepted),
            "hits_mean": self._mean(b.hits),
            "destroyed_mean": self._mean(np.array([len(d) for d in b.damage], float)),
            "sampling": self.options.get("sampling", "plain"),
            "ci_method": CI_METHOD if w is None else TAIL_CI_METHOD,
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
        if b.weight is not None:
            cols["weight"] = b.weight
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


class _PrefixSums:
    """Running sums of the estimator's terms ``w x`` per stratum (samples of equal weight ``w``;
    one stratum for plain Monte Carlo), for the stopping rule and the progress report: the mean
    and its 95 % CI half-width as :func:`mean_ci` gives them, without keeping the samples."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[float, list[float]] = {}  # weight -> [count, sum, sum of squares]

    def add(self, x: np.ndarray, w: np.ndarray) -> None:
        self.n += int(x.size)
        keys, g = np.unique(w, return_inverse=True)
        y = x * w
        for j, (c, s1, s2) in enumerate(zip(np.bincount(g), np.bincount(g, y), np.bincount(g, y * y), strict=True)):
            acc = self.sums.setdefault(float(keys[j]), [0, 0.0, 0.0])
            acc[0] += int(c)
            acc[1] += float(s1)
            acc[2] += float(s2)

    def mean_half_width(self) -> tuple[float, float]:
        n = self.n
        mean = sum(a[1] for a in self.sums.values()) / n if n else float("nan")
        if n < 2:
            return mean, float("nan")
        if len(self.sums) == 1:
            s2 = next(iter(self.sums.values()))[2]
            return mean, Z95 * float(np.sqrt(max((s2 - n * mean * mean) / (n - 1), 0.0) / n))
        ss = 0.0
        for c, s1, s2 in self.sums.values():
            ss += max(s2 - s1 * s1 / c, 0.0) * c / (c - 1) if c > 1 else (s1 - mean) ** 2
        return mean, Z95 * float(np.sqrt(ss)) / n


def _stop_met(sums: _PrefixSums, rel: float, min_samples: int) -> bool:
    if sums.n < max(min_samples, 2):
        return False
    mean, half = sums.mean_half_width()
    return bool(mean > 0 and half < rel * mean)


@dataclass(frozen=True)
class RiskProgress:
    """What a run reports after each batch, to a progress bar, a dashboard job or a log.

    ``done`` counts samples computed (resumed ones included) of ``total`` planned (the cap with
    ``until_ci``); the running mean and CI half-width are those of the ``in_order`` samples of the
    contiguous prefix that the statistics use (NaN before two samples).
    """

    done: int
    total: int
    in_order: int
    mean_lost_mw: float
    ci_half_width_mw: float
    executor: str = ""
    run_id: str | None = None


#: Bytes of results one sample keeps in memory, besides 9 bytes per reported area (two copies: the
#: batches and the concatenated result; measured ~230 B for the synthetic city's 8 districts).
_SAMPLE_FIXED_BYTES = 2 * (8 * (8 + len(PRIORITY_CLASSES)) + 120)


def max_samples_in_memory(n_areas: int) -> int:
    """Most samples one run may hold in memory, from the memory available to this process."""
    from gridshield.limits import memory_budget_bytes

    return max(1, memory_budget_bytes() // (_SAMPLE_FIXED_BYTES + 2 * 9 * max(int(n_areas), 0)))


def _check_sizes(opts: dict[str, Any], n_areas: int) -> None:
    """Bound the run's sample counts by memory (before any batch or worker exists)."""
    from gridshield.limits import MAX_BATCH_SIZE, check_int, fmt_bytes, memory_budget_bytes

    high = max_samples_in_memory(n_areas)
    per = _SAMPLE_FIXED_BYTES + 18 * n_areas
    why = (f"here: each sample keeps ~{fmt_bytes(per)} of results in memory ({n_areas} areas) and "
           f"{fmt_bytes(memory_budget_bytes())} may be used; run fewer samples per run, or use --until-ci")
    for key, option in (("samples", "--samples"), ("max_samples", "--max-samples")):
        if opts.get(key) is not None:
            check_int(option, opts[key], low=1, high=high, why=why)
    check_int("--batch-size", opts["batch_size"], low=1, high=MAX_BATCH_SIZE, why="samples per batch")
    check_int("--min-samples", opts["min_samples"], low=0, high=high, why=why)


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
    progress: Callable[[RiskProgress], None] | None = None,
    evaluator: str | None = None,
    sampling: str = "plain",
) -> RiskResult:
    """Monte Carlo risk of a threat scenario.

    Parameters
    ----------
    scenario
        Path to a scenario YAML, a YAML string, a dict or a validated
        :class:`~gridshield.threat.scenario.Scenario` (may be None with ``resume``).
    samples
        Number of samples (ignored when ``until_ci`` is given); bounded by the memory available.
    seed
        Run seed (>= 0); sample ``i`` uses ``numpy.random.default_rng([seed, i])``.
    workers
        Local worker processes (None = the usable cores, 1 = in this process); at most the usable
        cores (and what their memory allows).
    until_ci
        Stop when the 95 % CI half-width on the mean MW lost is below this fraction of the mean
        (``0.01`` or ``"1%"``), checked at batch boundaries, or at ``max_samples``.
    max_samples
        Cap for ``until_ci`` (default 100,000).
    store
        A DuckDB file path or :class:`~gridshield.store.ResultsStore` to write the run to
        (batches, one transaction each), or None. The run records its owner (pid, host) and a
        heartbeat; a run that stops early is marked ``interrupted`` and can be resumed.
    dask
        ``"tcp://host:8786"``, ``"local:N"`` or a ``distributed.Client`` to run on Dask.
    resume
        A stored run id to complete (needs ``store``); its stored options and seed are used.
    batch_size
        Samples per batch / transaction (default 64).
    min_samples
        Fewest samples before ``until_ci`` may stop the run.
    progress
        A callable that receives a :class:`RiskProgress` once before the first batch and after
        each batch (the CLI draws its progress bar with it). The engine itself never writes to
        the terminal.
    evaluator
        Advanced: ``"module:function"`` building the per-worker evaluator from ``(grid, scenario)``
        (default: :class:`gridshield.impact.ImpactModel` with the scenario's impact options).
    sampling
        ``"plain"`` Monte Carlo or ``"tail"``: stratified importance sampling of the destroying
        hits by impact tier (:mod:`gridshield.threat.tail`), unbiased, with per-sample likelihood
        ratios that every statistic (and ``until_ci``) uses; it puts most samples where the
        severe outcomes are, so the tail (CVaR95, P99, P(area dark)) converges with fewer samples.

    Returns
    -------
    RiskResult
    """
    from gridshield.parallel import check_executor
    from gridshield.store import ResultsStore
    from gridshield.threat.sampling import area_count, check_sampling, check_scenario, resolve_callable
    from gridshield.threat.scenario import Scenario, load_scenario, scenario_from_json

    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable taking a RiskProgress (or None)")
    check_executor(workers, dask)
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
            st.claim_run(run_id)  # refuses a run whose owner still works on it
        else:
            if scenario is None:
                raise GridshieldError("give a scenario (a YAML path or a Scenario) or --resume RUN")
            if isinstance(scenario, Scenario):
                sc = scenario
            else:
                sc = load_scenario(scenario)
                if isinstance(scenario, str) and "\n" not in scenario:
                    from gridshield.io import read_text_file

                    try:
                        scenario_text = read_text_file(scenario, "scenario file")
                    except GridshieldError:  # a YAML string, not a file
                        scenario_text = ""
            grid = check_scenario(sc)  # grid and targets checked here, before any run or worker starts
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise GridshieldError(f"--seed {seed!r}: use a non-negative integer")
            rel = parse_until_ci(until_ci)
            if evaluator is not None:
                resolve_callable(evaluator)  # fail here, not in every worker
            check_sampling(sampling)
            opts = {
                "samples": None if rel is not None else samples,
                "until_ci": rel,
                "max_samples": None if rel is None else (DEFAULT_MAX_SAMPLES if max_samples is None else max_samples),
                "min_samples": min_samples,
                "batch_size": DEFAULT_BATCH if batch_size is None else batch_size,
                "evaluator": evaluator,
                "sampling": sampling,
            }
            _check_sizes(opts, area_count(grid, sc.grid.report_by))
            opts = {k: (int(v) if k in ("samples", "max_samples", "min_samples", "batch_size") and v is not None else v)
                    for k, v in opts.items()}
            run_id = None
            if st is not None:
                run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
                st.create_run(run_id, sc.name, scenario_text, sc.canonical_json(), sc.hash(), int(seed), opts)
        try:
            return _execute(sc, int(seed), opts, st, run_id, workers, dask, progress)
        except BaseException as exc:
            if st is not None and run_id:
                _mark_stopped(st, run_id, exc)
            raise
    finally:
        if own_store and st is not None:
            st.close()


def _mark_stopped(st: Any, run_id: str, exc: BaseException) -> None:
    """Record in the store why a run stopped early (best effort: the store may be what failed)."""
    if isinstance(exc, KeyboardInterrupt) or "interrupted after" in str(exc):
        note = "stopped by Ctrl-C"
    elif isinstance(exc, MemoryError):
        note = "ran out of memory"
    elif isinstance(exc, GridshieldError):
        note = str(exc).split(";")[0][:200]
    else:
        note = f"stopped by an error ({type(exc).__name__})"
    try:
        st.mark_interrupted(run_id, note)
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _execute(sc: Any, seed: int, opts: dict[str, Any], st: Any, run_id: str | None, workers: Any, dask: Any,
             progress: Callable[[RiskProgress], None] | None) -> RiskResult:
    from gridshield.parallel import Payload, make_executor

    t0 = time.perf_counter()
    rel = opts.get("until_ci")
    cap = int(opts["max_samples"] if rel is not None else opts["samples"])
    bs = int(opts["batch_size"])
    bounds = [(s, min(s + bs, cap)) for s in range(0, cap, bs)]
    have: dict[int, Batch] = batches_from_store(st, run_id, bounds) if (st is not None and run_id) else {}
    done = sum(b.index.size for b in have.values())

    # consume batches in index order; the stopping rule sees the same prefix whatever the order
    state: dict[str, Any] = {"k": 0, "stop": None}
    sums = _PrefixSums()

    def advance() -> None:
        while state["stop"] is None and state["k"] < len(bounds) and bounds[state["k"]][0] in have:
            b = have[bounds[state["k"]][0]]
            state["k"] += 1
            sums.add(b.lost_mw, b.weights)  # the estimator's terms w x, per stratum (w = 1: plain)
            if rel is not None and _stop_met(sums, rel, int(opts["min_samples"])):
                state["stop"] = bounds[state["k"] - 1][1]

    def report(executor: str) -> None:
        if progress is not None:
            mean, half = sums.mean_half_width()
            progress(RiskProgress(done, cap, sums.n, mean, half, executor, run_id))

    advance()
    payload = Payload(sc.canonical_json(), sc.hash(), seed, opts.get("evaluator"), opts.get("sampling") or "plain")
    todo = [b for b in bounds if b[0] not in have]
    if state["stop"] is not None or not todo:
        report("")  # nothing left to compute (a finished run resumed)
    else:
        ex = make_executor(payload, workers, dask)
        label = str(getattr(ex, "label", ""))
        report(label)
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
                finished, _ = ex.wait(set(pending))
                for f in sorted(finished, key=lambda f: pending[f][0]):  # stored in sample order
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
                    done += batch.index.size
                    advance()
                    report(label)
                fill()
            for f in pending:  # stopping rule met: drop what is still running
                f.cancel()
        except KeyboardInterrupt:
            for f in pending:
                f.cancel()
            hint = f"; resume with: gridshield risk --resume {run_id} --store {st.path}" if run_id else ""
            raise GridshieldError(f"interrupted after {sums.n} samples in order{hint}") from None
        finally:
            ex.close()
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


def load_run(store: Any, run_id: str) -> RiskResult:
    """A stored run as a :class:`RiskResult` (from the store alone).

    A run that did not finish gives the contiguous prefix of its samples (batches in index
    order up to the first missing one): later batches that happened to finish first are left out,
    as their selection by completion time could bias the statistics.
    """
    from gridshield.store import ResultsStore
    from gridshield.threat.scenario import scenario_from_json

    st = store if isinstance(store, ResultsStore) else ResultsStore(store, read_only=True)
    try:
        info = st.run(run_id)
        bs = int(info.options.get("batch_size") or DEFAULT_BATCH)
        if info.state == "done":
            n = info.samples_done
        else:
            n = int(info.options.get("samples") or info.options.get("max_samples") or info.samples_done)
        bounds = [(s, min(s + bs, n)) for s in range(0, n, bs)]
        have = batches_from_store(st, run_id, bounds)
        used = []
        for s, _ in bounds:
            if s not in have:
                break
            used.append(have[s])
        if not used:
            raise GridshieldError(f"run {run_id} has no stored samples in order; resume it with --resume {run_id}")
        sc = scenario_from_json(info.scenario_json)
        stopped = str(info.summary.get("stopped_by", "")) if info.state == "done" else info.state
        return RiskResult(sc.name, info.scenario_hash, info.seed, run_id, Batch.concat(used), stopped,
                          dict(info.options))
    finally:
        if st is not store:
            st.close()


__all__ = [
    "CI_METHOD", "Batch", "RiskProgress", "RiskResult", "cvar", "cvar_ci", "load_run", "max_samples_in_memory",
    "mean_ci", "parse_until_ci", "run_risk", "weighted_quantile",
]
