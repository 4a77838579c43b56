"""Tail sampling: stratified importance sampling of the destroyed assets, by impact tier.

Plain Monte Carlo spends most samples where little happens (few hits, minor assets), so the
tail statistics (CVaR95, P99, P(district dark)) converge slowly. The tail of a strike is driven
by *which* assets are destroyed, and in the threat model each hit independently destroys asset
``a`` with probability ``q_a = p_a d_a`` (target weight x destroy probability) or nothing. The
targets are split into two **tiers** by their single-asset impact ``psi_a`` (MW lost when ``a``
alone is destroyed, one assessment each, computed once per worker): *major* when
``psi_a >= MAJOR_FRACTION * max psi``, else *minor*.

**Strata.** ``s = (J1, K2)``: the number of hits (over all waves) that destroy a minor asset, and
the number of distinct major assets destroyed (summed over the waves). Their probabilities are
exact: per wave, hits ``H`` follow the launched count (fixed, Poisson truncated below 1e-15, or
uniform) mixed with a Binomial (fixed interception rate) or Beta-Binomial (Beta rate); given
``H`` the hit outcomes are multinomial ``(no destruction, minor, major)`` with probabilities
``(r0, r1, r2)``; given ``J2`` major-destroying hits, the number of distinct major assets they
destroy, ``P(K2 = b | J2 = j)``, comes from the occupancy recursion of :func:`_distinct_tables`
(asset by asset; when its work would exceed ``MAX_DISTINCT_WORK`` the strata count the hits
instead, ``K2 = J2``). The waves' tables are convolved. Given ``s`` a sample is drawn exactly
from the threat model's conditional law: the split of ``s`` over waves, then per wave
``(H, J2) | (J1, K2)``, ``N | H``, the rate ``| N, H`` (the Beta posterior), the destroyed major
assets given ``(J2, K2)`` (asset by asset from the occupancy tables) and ``J1`` draws from the
minor tier with probabilities ``q_a / r1``. Counting distinct major assets, not hits, matters:
three hits on two substations lose what two hits do.

**Allocation.** The strata are drawn with probabilities

    pi_s = (1 - DEFENSIVE) P_s sev_s^2 / sum_t P_t sev_t^2 + DEFENSIVE P_s,
    sev_s = J1 (psi_minor + f) + K2 (psi_major + f),   f = SEVERITY_FLOOR * max(psi_minor, psi_major)
    (tier means of psi weighted by q; the floor ``f`` counts every destroyed asset as a major one
    on top of its own tier's loss, since losses are not additive: 330 kV substations that are
    harmless alone island a city together),

and a sample carries the likelihood ratio ``w = P_s / pi_s`` (at most ``1 / DEFENSIVE``: the
defensive mixture of Hesterberg 1995 keeps every stratum sampled). Sample ``i``'s stratum is
the point ``u_i = frac(u0 + i * GOLDEN)`` of a Weyl sequence (random start ``u0`` from the
seed's own stream) through the inverse CDF of ``pi``: every ``u_i`` is uniform, so each sample's
stratum has law ``pi`` and every estimator below stays unbiased, while any run of ``n``
consecutive samples holds within about 2 samples of ``n pi_s`` in every stratum (the three-gap
theorem): the strata are filled in proportion, as in stratified sampling, and the variance
between strata drops out. The rest of sample ``i`` comes from ``default_rng([seed, i])``, so a
sample is the same whatever the worker.

**Estimators** (``x_i`` a sample's metric, ``n`` samples): ``E[g(X)]`` by
``(1/n) sum w_i g(x_i)``, unbiased for every ``g`` (means, P(dark), expected MW per area).
Quantiles from the weighted empirical distribution (self-normalised weights, inverted CDF).
``CVaR_a = VaR_a + (1/n) sum w_i (x_i - VaR_a)+ / (1 - a)`` (Rockafellar-Uryasev with the
weighted VaR; consistent). 95 % CIs: ``1.96 sqrt(sum_g n_g s_g^2) / n`` for the mean of the terms
``z = w g`` (``z = w (x - VaR)+ / (1 - a)`` for CVaR: its influence function, VaR's own error
entering at second order), with ``s_g^2`` the variance of ``z`` within the group ``g`` of samples
of equal weight (a stratum, or strata of equal severity pooled, which only widens the CI) and a
sample alone in its group counting its deviation from the overall mean: the post-stratified
variance (:func:`gridshield.threat.runner.mean_ci`), which ``--until-ci`` uses too. With every
``w = 1`` these are the plain estimators. Strata of probability below ``PMF_FLOOR`` are never
drawn; the mass they hold (printed as ``tail_sampling.mass_left_out``) bounds the bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.threat.sampling import CompiledThreat, CompiledWave, Draw

#: A target is in the major tier when its single-asset loss is at least this fraction of the
#: largest single-asset loss among the targets.
MAJOR_FRACTION = 0.5
#: Share of the samples drawn with the plain probabilities (the defensive mixture).
DEFENSIVE = 0.1
#: The allocation tilts the strata probabilities by ``severity ** TILT_POWER``.
TILT_POWER = 2.0
#: Severity counted per destroyed asset on top of its tier's mean loss, as a fraction of the
#: larger tier mean (1: a minor asset counts about as much as a major one; measured on the
#: dec-19 example at 20,000 samples, 0.25 gave a 1.5-2.4x larger CVaR variance x cost).
SEVERITY_FLOOR = 1.0
#: Strata less likely than this are never drawn.
PMF_FLOOR = 1e-15
#: Most launched weapons per wave the exact strata tables take (their size grows as its square).
MAX_TAIL_LAUNCHED = 400
#: Most distinct targets (one impact assessment each, in every worker, before sampling).
MAX_TAIL_TARGETS = 2000
#: Most work (major assets x distinct counts x hits^2) of one wave's distinct-count tables; above
#: it the strata count the major-destroying hits instead of the distinct major assets destroyed.
MAX_DISTINCT_WORK = 5e7
#: The Weyl sequence's step (the golden ratio's fractional part): consecutive samples' strata.
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
#: Spawn key of the seed's stream that gives the Weyl sequence's random start.
_START_KEY = 0x7A11


def _launched_pmf(w: CompiledWave) -> tuple[np.ndarray, np.ndarray]:
    from scipy import stats

    kind, par = w.launched
    if kind == "fixed":
        n = np.array([int(par[0])])
        p = np.ones(1)
    elif kind == "poisson":
        top = int(stats.poisson.isf(PMF_FLOOR, par[0])) + 1
        n = np.arange(top + 1)
        p = stats.poisson.pmf(n, par[0])
    else:
        n = np.arange(int(par[0]), int(par[1]) + 1)
        p = np.full(n.size, 1.0 / n.size)
    if n.max() > MAX_TAIL_LAUNCHED:
        raise GridshieldError(
            f"--sampling tail: wave {w.name!r} may launch up to {int(n.max())}; tail sampling takes at most "
            f"{MAX_TAIL_LAUNCHED} per wave (its exact strata tables grow with the square); use --sampling plain"
        )
    return n, p / p.sum()


def _hits_given_n(w: CompiledWave, n: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``P(H = h | N = n)`` as an (len(n), len(h)) table."""
    from scipy import stats

    kind, par = w.rate
    nn, hh = n[:, None], h[None, :]
    if kind == "beta":  # intercepted ~ BetaBin(n, a, b), so hits ~ BetaBin(n, b, a)
        return stats.betabinom.pmf(hh, nn, par[1], par[0])
    return stats.binom.pmf(hh, nn, 1.0 - par[0])


def _multinomial(h: np.ndarray, j1: np.ndarray, j2: np.ndarray, r: tuple[float, float, float]) -> np.ndarray:
    """``P(J1 = j1, J2 = j2 | H = h)`` for outcome probabilities ``r = (r0, r1, r2)`` (broadcast)."""
    from scipy.special import gammaln

    j0 = h - j1 - j2
    ok = j0 >= 0
    j0c = np.where(ok, j0, 0)
    lr = [math.log(x) if x > 0 else -np.inf for x in r]
    with np.errstate(invalid="ignore"):
        terms = [np.where(j > 0, j * lr[k], 0.0) for k, j in enumerate((j0c, j1, j2))]
    logp = gammaln(h + 1) - gammaln(j0c + 1) - gammaln(j1 + 1) - gammaln(j2 + 1) + terms[0] + terms[1] + terms[2]
    return np.where(ok, np.exp(logp), 0.0)


def _distinct_tables(p: np.ndarray, jmax: int) -> np.ndarray | None:
    """``W[a, b, r]``: the probability mass of ``r`` independent hits, each on asset ``c`` with
    probability ``p[c]`` (``p`` sums to 1), that all land on assets ``a..`` and on exactly ``b``
    distinct ones of them (``W[0, b, r] = P(b distinct | r hits)``), for ``r <= jmax``; None when
    the table would cost more than :data:`MAX_DISTINCT_WORK` (then hits are counted instead).

    Recursion over the assets: ``W[a, b, r] = W[a+1, b, r] + sum_k>=1 C(r, k) p_a^k W[a+1, b-1, r-k]``
    (asset ``a`` takes ``k`` of the ``r`` hits)."""
    from scipy.special import comb

    m = p.size
    nb = min(m, jmax) + 1
    if m * nb * (jmax + 1) ** 2 > MAX_DISTINCT_WORK:
        return None
    r = np.arange(jmax + 1)
    k = r[:, None] - r[None, :]  # hits taken by the asset: from r' = r - k left to the others
    ck = np.where(k >= 1, comb(r[:, None], np.maximum(k, 0)), 0.0)
    w = np.zeros((m + 1, nb, jmax + 1))
    w[m, 0, 0] = 1.0
    for a in range(m - 1, -1, -1):
        step = ck * np.where(k >= 1, float(p[a]) ** np.maximum(k, 0), 0.0)
        w[a] = w[a + 1]
        w[a, 1:] += w[a + 1, :-1] @ step.T
    return w


@dataclass(frozen=True)
class _Wave:
    n: np.ndarray  # launched support
    pn: np.ndarray  # its probabilities
    h_given_n: np.ndarray  # (len(n), hmax + 1)
    ph: np.ndarray  # P(H = h)
    r: tuple[float, float, float]  # per hit: no destruction, minor, major
    minor: np.ndarray  # target indices of each tier and their conditional probabilities
    p_minor: np.ndarray
    major: np.ndarray
    p_major: np.ndarray
    cdf_minor: np.ndarray  # the tiers' probabilities cumulated (for _pick)
    cdf_major: np.ndarray
    #: ``_distinct_tables`` of the major tier, or None when destroying hits are counted
    distinct: np.ndarray | None
    #: ``P(K2 = b | J2 = j)`` as a (hmax + 1, kmax + 1) table: K2 the distinct major assets
    #: destroyed by the wave's J2 major-destroying hits (the identity when hits are counted)
    k_given_j: np.ndarray
    table: np.ndarray  # P(J1 = a, K2 = b) for this wave, (hmax + 1, kmax + 1)


def _conv2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.signal import convolve2d

    return np.clip(convolve2d(a, b), 0.0, None)


def _pick(rng: np.random.Generator, cdf: np.ndarray) -> int:
    """An index drawn with probabilities proportional to the increments of ``cdf`` (a cumulated
    weight vector; one uniform number)."""
    return min(int(cdf.searchsorted(rng.random() * cdf[-1], side="right")), cdf.size - 1)


class TailPlan:
    """The strata, their exact probabilities, the allocation and the conditional sampler of a
    compiled threat (see the module docstring).

    Parameters
    ----------
    threat
        The compiled threat.
    impact_mw
        Single-asset loss (MW) of every target of every wave.
    """

    def __init__(self, threat: CompiledThreat, impact_mw: dict[str, float]):
        self.threat = threat
        psi_max = max([float(impact_mw[t]) for w in threat.waves for t in w.targets] + [0.0])
        cut = MAJOR_FRACTION * psi_max if psi_max > 0 else math.inf
        waves = []
        num = np.zeros(2)
        den = np.zeros(2)
        for w in threat.waves:
            psi = np.array([float(impact_mw[t]) for t in w.targets])
            q = np.asarray(w.target_p) * np.asarray(w.destroy_p)
            major = psi >= cut
            r1, r2 = float(q[~major].sum()), float(q[major].sum())
            r = (max(0.0, 1.0 - r1 - r2), r1, r2)
            for k, m in enumerate((~major, major)):
                num[k] += float((q[m] * psi[m]).sum())
                den[k] += float(q[m].sum())
            n, pn = _launched_pmf(w)
            hmax = int(n.max())
            h = np.arange(hmax + 1)
            hn = _hits_given_n(w, n, h)
            ph = pn @ hn
            j = np.arange(hmax + 1)
            hits = np.einsum("h,hab->ab", ph, _multinomial(h[:, None, None], j[None, :, None], j[None, None, :], r))
            idx_m, idx_M = np.flatnonzero(~major), np.flatnonzero(major)
            p_M = q[idx_M] / r2 if r2 > 0 else q[idx_M]
            distinct = _distinct_tables(p_M, hmax) if idx_M.size and r2 > 0 else None
            k_given_j = np.eye(hmax + 1) if distinct is None else distinct[0].T
            p_m = q[idx_m] / r1 if r1 > 0 else q[idx_m]
            waves.append(_Wave(n, pn, hn, ph, r, idx_m, p_m, idx_M, p_M, np.cumsum(p_m), np.cumsum(p_M), distinct,
                               k_given_j, np.clip(hits @ k_given_j, 0.0, None)))
        self.waves = tuple(waves)
        self.psi_tier = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)  # q-weighted mean psi
        # suffix[k]: joint table of waves k.. (suffix[len] = delta at (0, 0))
        suffix = [np.ones((1, 1))]
        for w in reversed(waves):
            suffix.append(_conv2(w.table, suffix[-1]))
        self._suffix = suffix[::-1]
        total = self._suffix[0]
        keep = total > PMF_FLOOR
        self.strata = np.argwhere(keep)  # (J1, K2) rows
        self.p = total[keep]
        self.mass_left_out = float(max(0.0, 1.0 - self.p.sum()))
        # severity: the tiers' mean single-asset losses, plus a floor per destroyed asset (losses
        # are not additive: assets harmless alone can island load together)
        sev = self.strata @ (self.psi_tier + SEVERITY_FLOOR * float(self.psi_tier.max()))
        tilt = self.p * sev**TILT_POWER
        self.pi = DEFENSIVE * self.p / self.p.sum() + ((1 - DEFENSIVE) * tilt / tilt.sum() if tilt.sum() > 0 else
                                                       (1 - DEFENSIVE) * self.p / self.p.sum())
        self._cum = np.cumsum(self.pi)
        self._cum[-1] = 1.0
        self.weight = self.p / self.pi
        self._starts: dict[int, float] = {}
        self._cache: dict[tuple, Any] = {}  # conditional tables, built on first use

    def info(self) -> dict[str, Any]:
        """What the plan is made of, for the run's summary."""
        return {
            "method": "stratified importance sampling on destroyed assets by impact tier",
            "strata": int(self.strata.shape[0]),
            "mass_left_out": self.mass_left_out,
            "tier_mean_loss_mw": {"minor": float(self.psi_tier[0]), "major": float(self.psi_tier[1])},
            "major_counted": "distinct assets" if all(w.distinct is not None for w in self.waves) else "hits",
            "max_weight": float(self.weight.max()),
            "defensive": DEFENSIVE,
            "major_fraction": MAJOR_FRACTION,
        }

    def stratum(self, seed: int, index: int) -> int:
        """The stratum of sample ``index``: the point ``u = frac(u0 + index * GOLDEN)`` of a Weyl
        sequence with a random start ``u0`` (from the seed's own stream) through the allocation's
        inverse CDF. Each ``u`` is uniform (so each sample's stratum has law ``pi``), and any run
        of consecutive samples puts close to ``n pi_s`` samples in every stratum."""
        u0 = self._starts.get(int(seed))
        if u0 is None:
            u0 = float(np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_START_KEY,))).random())
            self._starts[int(seed)] = u0
        u = (u0 + int(index) * GOLDEN) % 1.0
        return min(int(np.searchsorted(self._cum, u, side="right")), self.p.size - 1)

    def _split(self, k: int, j1: int, k2: int) -> tuple[np.ndarray, int]:
        """Wave ``k``'s share of ``(j1, k2)`` given what the later waves can take: the weights of
        the shares ``(a1, b2)`` (flattened, cumulated) and the number of ``b2`` values."""
        key = ("split", k, j1, k2)
        hit = self._cache.get(key)
        if hit is None:
            w, rest = self.waves[k], self._suffix[k + 1]
            a = np.arange(min(j1, w.table.shape[0] - 1) + 1)
            b = np.arange(min(k2, w.table.shape[1] - 1) + 1)
            ra, rb = j1 - a[:, None], k2 - b[None, :]
            inside = (ra < rest.shape[0]) & (rb < rest.shape[1])
            cond = w.table[np.ix_(a, b)] * np.where(inside, rest[np.minimum(ra, rest.shape[0] - 1),
                                                                np.minimum(rb, rest.shape[1] - 1)], 0.0)
            hit = self._cache[key] = (np.cumsum(cond.ravel()), b.size)
        return hit

    def _hits_and_majors(self, k: int, a1: int, b2: int) -> tuple[np.ndarray, int]:
        """Weights of ``(H, J2)`` in wave ``k`` given ``a1`` minor-destroying hits and ``b2``
        distinct major assets destroyed (flattened, cumulated), and the number of ``J2`` values."""
        key = ("hj", k, a1, b2)
        hit = self._cache.get(key)
        if hit is None:
            w = self.waves[k]
            h = np.arange(w.ph.size)
            j = np.arange(w.k_given_j.shape[0])
            joint = w.ph[:, None] * _multinomial(h[:, None], np.full((1, 1), a1), j[None, :], w.r) * w.k_given_j[:, b2]
            hit = self._cache[key] = (np.cumsum(joint.ravel()), j.size)
        return hit

    def _majors(self, rng: np.random.Generator, w: _Wave, j2: int, b2: int) -> list[int]:
        """Positions in the major tier destroyed by ``j2`` hits that land on exactly ``b2``
        distinct assets (asset by asset, from ``_distinct_tables``); iid picks when counted by hits."""
        if w.distinct is None:
            return w.cdf_major.searchsorted(rng.random(j2) * w.cdf_major[-1], side="right").tolist()
        from scipy.special import comb

        out, left, need = [], j2, b2
        tab = w.distinct
        for a in range(w.p_major.size):
            if need == 0:
                break
            # asset a is spared with probability W[a+1, need, left] / W[a, need, left]
            if rng.random() * tab[a, need, left] < tab[a + 1, need, left]:
                continue
            k = np.arange(1, left + 1)
            take = comb(left, k) * float(w.p_major[a]) ** k * tab[a + 1, need - 1, left - k]
            out.append(a)
            need -= 1
            left -= 1 + _pick(rng, np.cumsum(take))
        return out

    def draw(self, seed: int, index: int) -> Draw:
        """Sample ``index``: its stratum (:meth:`stratum`), then the threat given the stratum."""
        s = self.stratum(seed, index)
        rng = np.random.default_rng([int(seed), int(index)])
        j1, k2 = (int(x) for x in self.strata[s])
        launched, rates, inter, hits = [], [], [], []
        destroyed: set[str] = set()
        for k, (cw, w) in enumerate(zip(self.threat.waves, self.waves, strict=True)):
            flat, nb = self._split(k, j1, k2)
            pick = _pick(rng, flat)
            a1, b2 = pick // nb, pick % nb
            j1, k2 = j1 - a1, k2 - b2
            # hits and major-destroying hits given the outcome counts, launched given hits, the rate given both
            flat, nj = self._hits_and_majors(k, a1, b2)
            pick = _pick(rng, flat)
            hh, j2 = pick // nj, pick % nj
            nn = int(w.n[0]) if w.n.size == 1 else int(w.n[_pick(rng, np.cumsum(w.pn * w.h_given_n[:, hh]))])
            kind, par = cw.rate
            r = float(rng.beta(par[0] + nn - hh, par[1] + hh)) if kind == "beta" else float(par[0])
            for t in self._majors(rng, w, j2, b2):
                destroyed.add(cw.targets[int(w.major[min(t, w.major.size - 1)])])
            if a1:
                for t in w.cdf_minor.searchsorted(rng.random(a1) * w.cdf_minor[-1], side="right").tolist():
                    destroyed.add(cw.targets[int(w.minor[min(t, w.minor.size - 1)])])
            launched.append(nn)
            rates.append(r)
            inter.append(nn - hh)
            hits.append(hh)
        d = Draw(int(index), tuple(launched), tuple(rates), tuple(inter), tuple(hits), tuple(sorted(destroyed)))
        return replace(d, weight=float(self.weight[s]))


def tail_plan(threat: CompiledThreat, model: Any) -> TailPlan:
    """The plan for ``threat``, with each target's single-asset loss from ``model.assess``."""
    targets = sorted({t for w in threat.waves for t in w.targets})
    if len(targets) > MAX_TAIL_TARGETS:
        raise GridshieldError(
            f"--sampling tail: the scenario has {len(targets)} distinct targets; tail sampling assesses each one "
            f"alone before sampling and takes at most {MAX_TAIL_TARGETS}; use --sampling plain"
        )
    return TailPlan(threat, {t: float(model.assess([t]).lost_mw) for t in targets})


__all__ = ["TailPlan", "tail_plan"]
