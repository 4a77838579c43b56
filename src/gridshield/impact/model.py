"""The impact engine: damage -> islands -> (cascade) -> maximal load delivery -> metrics.

:class:`ImpactModel` builds what does not depend on the damage once (DC susceptances, the HiGHS
model of the maximal-load-delivery LP, priority weights) and then assesses many damages quickly:

* **fast path** -- when, after the damage, every energised island can be balanced by moving
  its surviving generators proportionally (to their headroom upwards, to their margin above
  ``Pmin`` downwards) and the resulting DC flows respect every branch and angle limit, all live
  load is served and that point is optimal: no LP is solved (one DC solve instead, by a rank-k
  Woodbury update of the intact grid's factorisation, :mod:`gridshield.impact.state`);
* otherwise the LP: B-theta re-solved warm with new bounds (:mod:`gridshield.impact.mld`) or,
  from ``PTDF_MIN_BUSES`` buses up, PTDF constraint generation (:mod:`gridshield.impact.mld_ptdf`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.flow.matrices import DC_CONVENTIONS, bus_shunt_pu
from gridshield.grid.model import PRIORITY_CLASSES, Grid
from gridshield.impact.damage import Damage, as_damage
from gridshield.impact.mld import COMMITMENTS, MldModel, MldSolution, Setting, branch_rate_mw
from gridshield.impact.result import ImpactLoss, ImpactResult, IslandImpact, Trip
from gridshield.optim import one_blas_thread
from gridshield.impact.state import (
    BaseDc, Live, bsum, dc_flows, factor, island_refs, islands_of, live_after, slack_gens,
)
from gridshield.topology import Islands

_TOL_MW = 1e-6
#: ``formulation``: "btheta" (angles and flows as columns, one warm HiGHS model for every damage),
#: "ptdf" (injections only, flow rows added lazily), "auto" = ptdf from PTDF_MIN_BUSES buses up.
FORMULATIONS = ("auto", "btheta", "ptdf")
#: Chosen by measurement (CPU ms per LP sample, 3-5 random hits, batches of 64, ``--rate a``):
#: synthetic city (49 buses) B-theta 2.3 / PTDF 3.7, case118 1.5 / 2.0, case300 2.6 / 2.2,
#: case1354pegase 10.7 / 7.2, case2869pegase 33 / 19 (docs/risk.md, "The impact engine at scale").
PTDF_MIN_BUSES = 300
#: ``model``: the DC LP or the AC NLP (see :mod:`gridshield.impact.mld_ac`).
MODELS = ("dc", "ac")


class ImpactModel:
    """Reusable impact assessment of one grid.

    Parameters
    ----------
    grid
        The intact grid.
    rate
        Branch rating the operators respect in the MLD: ``"a"`` (long-term, default) or ``"b"``
        (emergency). A rating of 0 means unlimited.
    cascade
        Simulate cascading relay trips before operators act (see :mod:`gridshield.impact.cascade`).
    redispatch
        True: generators may move within ``[Pmin, Pmax]``. False ("no time to redispatch"): every
        generator keeps its pre-strike dispatch (or is switched off), except one slack generator
        per island (the case's slack where it lies in the island, else the largest).
    dc_convention
        ``"matpower"`` (b = 1/(x tap), phase shifts) or ``"lossless"`` (b = x/(r^2+x^2), as
        PowerModels' DC model).
    weights
        Objective weight per priority class, overriding :data:`~gridshield.impact.mld.DEFAULT_WEIGHTS`.
    shed
        Allow load shedding (default). With ``shed=False`` every live load must be served fully;
        islands where that is impossible are reported ``"infeasible"`` with the reason.
    commitment
        ``"milp"`` (binary on/off for generators with ``Pmin > 0``; default), ``"relaxed"`` (on/off
        relaxed to [0, 1], so ``Pmin`` is effectively 0: PowerModelsRestoration's ``run_mld``) or
        ``"fixed"`` (every live generator stays on).
    angle_limits
        Enforce the case's branch angle-difference limits (MATPOWER's rule), as PowerModels does.
    relay_threshold, relay_rate
        Cascade: a branch trips when its flow exceeds ``relay_threshold`` x its rating ``relay_rate``
        (default 1.2 x rate A).
    ac_check
        Run an AC power flow of the MLD operating point per island and report violations
        (needs :func:`gridshield.flow.ac.solve_ac`).
    fast
        Use the no-LP fast path when it applies (results are identical; off for testing).
    low_rank
        Get the damaged grid's DC flows (fast path, PTDF rows) from the intact grid's kept
        factorisation and a rank-k Woodbury update (:class:`~gridshield.impact.state.BaseDc`)
        instead of a fresh factorisation per damage (identical to round-off; off for testing).
    model
        ``"dc"`` (default): the DC maximal load delivery LP. ``"ac"``: the AC maximal load delivery
        (voltages, reactive power, MVA ratings; :mod:`gridshield.impact.mld_ac`, Ipopt), warm-started
        from the DC answer, per energised island; an island where Ipopt fails keeps the DC answer,
        flagged. ``commitment`` selects PowerModelsRestoration's ``run_mld_uc`` (``"milp"``),
        ``run_mld`` (``"relaxed"``) or plain AC load shedding without indicators (``"fixed"``).
    """

    def __init__(
        self,
        grid: Grid,
        rate: str = "a",
        cascade: bool = False,
        redispatch: bool = True,
        dc_convention: str = "matpower",
        weights: dict[str, float] | None = None,
        shed: bool = True,
        commitment: str = "milp",
        angle_limits: bool = True,
        relay_threshold: float = 1.2,
        relay_rate: str = "a",
        ac_check: bool = False,
        fast: bool = True,
        formulation: str = "auto",
        low_rank: bool = True,
        model: str = "dc",
    ):
        if dc_convention not in DC_CONVENTIONS:
            raise GridshieldError(f"--dc {dc_convention!r}: use one of {', '.join(DC_CONVENTIONS)}")
        if commitment not in COMMITMENTS:
            raise GridshieldError(f"commitment must be one of {COMMITMENTS}, got {commitment!r}")
        if not (np.isfinite(relay_threshold) and relay_threshold > 0):
            raise GridshieldError(f"--relay-threshold {float(relay_threshold):g}: must be a positive number (e.g. 1.2)")
        self.grid = grid
        self.rate = str(rate).lower()
        self.rate_mw = branch_rate_mw(grid, self.rate)
        self.cascade = bool(cascade)
        self.redispatch = bool(redispatch)
        self.dc_convention = dc_convention
        self.weights = dict(weights) if weights else None
        self.shed = bool(shed)
        self.commitment = commitment
        self.angle_limits = bool(angle_limits)
        self.relay_threshold = float(relay_threshold)
        self.relay_rate_mw = branch_rate_mw(grid, relay_rate)
        self.relay_rate = str(relay_rate).lower()
        self.ac_check = bool(ac_check)
        self.fast = bool(fast)
        self.low_rank = bool(low_rank)
        self._base_dc = BaseDc(grid, dc_convention)
        if formulation not in FORMULATIONS:
            raise GridshieldError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
        if formulation == "auto":
            formulation = "ptdf" if len(grid.buses) >= PTDF_MIN_BUSES else "btheta"
        self.formulation = formulation
        if model not in MODELS:
            raise GridshieldError(f"model must be one of {MODELS}, got {model!r}")
        self.model = model
        self._ac = None
        if model == "ac":
            from gridshield.impact.mld_ac import AcMldModel

            self._ac = AcMldModel(grid, rate=self.rate, weights=self.weights, angle_limits=self.angle_limits,
                                  commitment=commitment)
        base = grid.base_mva
        g = grid.gens
        self.p0_pu = g.p_mw / base
        self.pmin_pu = g.p_min_mw / base
        self.pmax_pu = g.p_max_mw / base
        self._mld: MldModel | None = None
        if self.redispatch:
            self._mld = self._new_mld(self.pmin_pu, self.pmax_pu)
            if self.formulation == "btheta":
                self._mld.start_from(self._intact_setting())
        from gridshield.impact.mld import angle_limits_rad

        if self.angle_limits:
            self._ang_rows, self._ang_lo, self._ang_hi = angle_limits_rad(grid)
        else:
            self._ang_rows = np.zeros(0, np.int64)
        ld = grid.loads
        self._pos = ld.p_mw > 0
        # a load counts when it and its bus are in service in the intact case (MATPOWER ignores
        # loads at isolated, type-4 buses)
        self._ld_on = ld.in_service & grid.buses.in_service[ld.bus]
        self.demand_mw = float(ld.p_mw[self._ld_on & self._pos].sum())
        self._ld_meta = (
            tuple(ld.priority.tolist()),
            tuple(ld.group.tolist()),
            tuple(int(c) for c in ld.customers.tolist()),
            tuple(grid.buses.id[ld.bus].tolist()),
        )
        self._load_ids = tuple(ld.id.tolist())
        # per-damage invariants of the result: the demand vector, and each breakdown's loads as a
        # contiguous segment of one stable ordering (so a segment's sum adds the same numbers in
        # the same order as the boolean mask it replaces: identical to the last bit)
        self._demand = _ro(np.where(self._ld_on, ld.p_mw, 0.0))
        pos = self._pos & self._ld_on
        self._customers_total = int(ld.customers[pos].sum())
        self._groups = _Segments(ld.group, sorted(set(ld.group.tolist())), pos, self._demand, ld.customers)
        self._priorities = _Segments(ld.priority, PRIORITY_CLASSES, pos, self._demand, ld.customers)
        self._critical = pos & (ld.priority == "critical")
        self._pos_on = pos
        self._p_lo, self._p_hi = np.minimum(ld.p_mw, 0.0), np.maximum(ld.p_mw, 0.0)
        self._shunt_pu = bus_shunt_pu(grid).real if len(grid.shunts) else None
        self._pd_pu = ld.p_mw / grid.base_mva
        self._one_thread = False
        self.n_solved_lp = 0
        self.n_fast = 0
        #: the raw AC MLD answer of the last assessment (``model="ac"``), for inspection
        self.last_ac = None

    def reset_warm_start(self) -> None:
        """Forget the LP's warm start, so that the next assessments do not depend on earlier ones.

        The Monte Carlo runner calls this before each batch, which makes per-sample numbers
        identical whatever the worker layout or batch order.
        """
        if self._mld is not None:
            self._mld.forget_warm_start()

    def _new_mld(self, lo: np.ndarray, hi: np.ndarray) -> MldModel:
        if self.formulation == "ptdf":
            from gridshield.impact.mld_ptdf import PtdfMldModel

            cls: type[MldModel] = PtdfMldModel
        else:
            cls = MldModel
        return cls(
            self.grid,
            rate=self.rate,
            dc_convention=self.dc_convention,
            weights=self.weights,
            angle_limits=self.angle_limits,
            commitment=self.commitment,  # type: ignore[arg-type]
            commit_lo=lo,
            commit_hi=hi,
        )

    def _intact_setting(self) -> Setting:
        """The MLD setting of the undamaged grid (no cascade): every live element, full ranges."""
        grid = self.grid
        live = live_after(grid, Damage.none(grid))
        isl = islands_of(grid, live)
        bus_on = live.bus & isl.energised
        br = grid.branches
        return Setting(
            bus_on, live.branch & bus_on[br.from_bus] & bus_on[br.to_bus], live.gen & bus_on[grid.gens.bus],
            live.load & bus_on[grid.loads.bus], island_refs(grid, isl, live.gen), self.pmin_pu, self.pmax_pu,
            self.shed, isl.label,
        )

    def options(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "cascade": self.cascade,
            "redispatch": self.redispatch,
            "dc_convention": self.dc_convention,
            "weights": self.weights,
            "shed": self.shed,
            "commitment": self.commitment,
            "angle_limits": self.angle_limits,
            "relay_threshold": self.relay_threshold,
            "relay_rate": self.relay_rate,
            "formulation": self.formulation,
            "model": self.model,
        }

    # ------------------------------------------------------------------------------------------
    def assess(self, damage: Damage | Sequence[str] | str | None = None) -> ImpactResult:
        """Impact of one damage (a :class:`Damage`, a list of asset ids or a comma-separated string)."""
        with self._blas():
            return self._assess(damage)

    def assess_loss(self, damage: Damage | Sequence[str] | str | None = None, groups: bool = True) -> ImpactLoss:
        """What :meth:`assess` says the damage costs (the same numbers, bit for bit, from the same
        LP warm start), without the operating point, islands and id lists the Monte Carlo never
        reads; ``groups=False`` also skips the per-group breakdown (``by_group`` is then empty)."""
        with self._blas():
            return self._assess(damage, loss_only=groups)

    def _blas(self) -> AbstractContextManager:
        return nullcontext() if self._one_thread else one_blas_thread()

    @contextmanager
    def one_thread(self) -> Iterator[None]:
        """BLAS on one thread for every :meth:`assess` inside the block (as each call sets on its
        own): entering :func:`~gridshield.optim.one_blas_thread` costs tens of microseconds, so
        the Monte Carlo enters it once per batch of samples instead of once per damage."""
        if self._one_thread:
            yield
            return
        with one_blas_thread():
            self._one_thread = True
            try:
                yield
            finally:
                self._one_thread = False

    def _assess(self, damage: Damage | Sequence[str] | str | None, loss_only: bool | None = None):
        """The :class:`ImpactResult` of ``damage``; with ``loss_only`` True / False its
        :class:`ImpactLoss` with / without the per-group breakdown."""
        grid = self.grid
        dmg = as_damage(grid, damage)
        trips: tuple[Trip, ...] = ()
        stages: tuple[float, ...] = ()
        live = live_after(grid, dmg)
        if self.cascade:
            from gridshield.impact.cascade import run_cascade

            cas = run_cascade(self, live)
            trips, stages = cas.trips, cas.lost_by_stage_mw
            live = Live(live.bus, live.branch & ~cas.tripped, live.gen, live.load)
        isl = islands_of(grid, live)
        energised = isl.energised
        refs = island_refs(grid, isl, live.gen)
        bus_on = live.bus & energised
        br = grid.branches
        branch_on = live.branch & bus_on[br.from_bus] & bus_on[br.to_bus]
        gen_on = live.gen & bus_on[grid.gens.bus]
        load_on = live.load & bus_on[grid.loads.bus]
        if self.redispatch:
            lo, hi = self.pmin_pu, self.pmax_pu
            mld = self._mld
        else:
            slack = slack_gens(grid, isl, gen_on)
            lo = self.p0_pu.copy()
            hi = self.p0_pu.copy()
            lo[slack] = self.pmin_pu[slack]
            hi[slack] = self.pmax_pu[slack]
            mld = None
        setting = Setting(bus_on, branch_on, gen_on, load_on, refs, lo, hi, self.shed, isl.label)
        method = "fast"
        # the damaged topology's DC flows: the PTDF program needs them; the fast path only once
        # its dispatch balances (samples that fail there go to the LP without them)
        topo = self._topology(live, isl, setting) if self.formulation == "ptdf" else None
        sol = self._fast(setting, isl, live, topo) if self.fast else None
        infeasible: dict[int, str] = {}
        if sol is None:
            if mld is None:
                mld = self._new_mld(lo, hi)
            if hasattr(mld, "topo_hint"):
                mld.topo_hint = topo  # type: ignore[attr-defined]
            sol = mld.solve(setting)
            self.n_solved_lp += 1
            method = sol.method
            if sol.status == "node limit":
                raise GridshieldError(
                    f"the generator commitment of this damage of {grid.name} found no answer within its "
                    "node limit; use commitment='relaxed' (or 'fixed')"
                )
            if not sol.ok:
                infeasible = self._diagnose(mld, setting, isl)
                if not infeasible:
                    raise GridshieldError(
                        f"the load-delivery LP failed ({sol.status}) on {grid.name}; no island could be blamed"
                    )
                # infeasible islands black out; solve the rest
                bad = np.isin(isl.label, list(infeasible))
                setting = _without(grid, setting, bad)
                sol = mld.solve(setting)
                if not sol.ok:
                    raise GridshieldError(
                        f"the load-delivery LP failed ({sol.status}) on {grid.name} after removing infeasible islands"
                    )
        else:
            self.n_fast += 1
        acs = self._assess_ac(setting, isl, sol, infeasible) if self._ac is not None else None
        self.last_ac = acs
        if loss_only is not None and acs is None:
            return self._loss(setting, sol.ps, method, groups=loss_only)[0]
        res = self._result(dmg, live, isl, setting, sol, infeasible, trips, stages, method, acs)
        return res if loss_only is None else ImpactLoss.of(res)

    def _assess_ac(self, s: Setting, isl: Islands, sol: MldSolution, infeasible: dict[int, str]):
        """AC MLD of the energised islands, warm-started from the DC answer and the AC power flow
        at that point (where it converges; else the case's voltage magnitudes)."""
        from gridshield.impact.ac import ac_start_point

        grid = self.grid
        base = grid.base_mva
        ld = grid.loads
        pd = ld.p_mw / base
        with np.errstate(divide="ignore", invalid="ignore"):
            zd = np.clip(np.where(pd != 0, sol.ps / np.where(pd != 0, pd, 1.0), 1.0), 0.0, 1.0)
        gen_on = s.gen_on & ~sol.gen_off
        start = {
            "va": sol.theta, "vm": np.where(s.bus_on, grid.buses.vm_pu, 1.0), "pg": sol.pg,
            "qg": np.zeros(len(grid.gens)), "zd": zd, "gen_on": gen_on,
        }
        if gen_on.any():
            served = np.where(s.load_on, sol.ps * base, 0.0)
            pf, served, pg_mw = ac_start_point(grid, served, sol.pg * base, s.bus_on, s.branch_on, gen_on,
                                               s.gen_lo * base, s.gen_hi * base, np.maximum(isl.label, 0))
            if pf.converged:
                va = np.deg2rad(pf.va_deg)
                shift = np.zeros(isl.count)
                shift[isl.label[s.ref_buses]] = va[s.ref_buses]
                start["va"] = np.where(s.bus_on, va - shift[np.maximum(isl.label, 0)], 0.0)
                start["vm"] = np.where(pf.bus_energised, pf.vm_pu, start["vm"])
                start["qg"] = pf.gen_q_mvar / base
                start["pg"] = pg_mw / base
                with np.errstate(divide="ignore", invalid="ignore"):
                    start["zd"] = np.where(pd > 0, np.clip(served / base / np.where(pd > 0, pd, 1.0), 0.0, 1.0), zd)
        todo = [k for k in range(isl.count) if isl.has_generation[k] and k not in infeasible]
        return self._ac.solve(s, isl.label, todo, start)

    # ------------------------------------------------------------------------------------------
    def _balanced_dispatch(self, s: Setting, isl: Islands) -> np.ndarray | None:
        """Generator outputs (p.u.) that balance every energised island with all live load
        served, moving generators proportionally; None when impossible within limits."""
        grid = self.grid
        g, ld = grid.gens, grid.loads
        nisl = isl.count
        gon = s.gen_on
        if nisl == 0 or not gon.any():
            return np.zeros(len(g))
        on = np.flatnonzero(gon)  # the live generators, as rows (the same sums as boolean masks)
        lo, hi, p0 = s.gen_lo[on], s.gen_hi[on], self.p0_pu[on]
        if np.any((p0 < lo - 1e-12) | (p0 > hi + 1e-12)):
            return None
        lab_g = isl.label[g.bus[on]]
        lon = np.flatnonzero(s.load_on)
        demand = bsum(isl.label[ld.bus[lon]], self._pd_pu[lon], nisl)
        if self._shunt_pu is not None:
            bon = np.flatnonzero(s.bus_on)
            demand += bsum(isl.label[bon], self._shunt_pu[bon], nisl)
        gen0 = bsum(lab_g, p0, nisl)
        delta = demand - gen0  # > 0: pick up
        up = bsum(lab_g, hi - p0, nisl)
        down = bsum(lab_g, p0 - lo, nisl)
        eng = isl.has_generation
        if np.any(eng & (delta > up + 1e-9)) or np.any(eng & (-delta > down + 1e-9)):
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            fu = np.where(delta > 0, delta / np.where(up > 0, up, 1.0), 0.0)
            fd = np.where(delta < 0, -delta / np.where(down > 0, down, 1.0), 0.0)
        pg = np.zeros(len(g))
        pg[on] = p0 + (hi - p0) * fu[lab_g] - (p0 - lo) * fd[lab_g]
        return pg

    def _topology(self, live: Live, isl: Islands, s: Setting):
        if self.low_rank:
            return self._base_dc.topology(live, isl, s.branch_on, s.bus_on, s.ref_buses)
        return factor(self.grid, self.dc_convention, s.branch_on, s.bus_on, s.ref_buses)

    def _fast(self, s: Setting, isl: Islands, live: Live, topo) -> MldSolution | None:
        """All live load served with a proportional redispatch and no limit violated? Then that
        point is an optimum of the MLD (nothing more can be served) and no LP is needed (else None).
        ``topo``: the damaged topology's DC flows, built here when None."""
        grid = self.grid
        pg = self._balanced_dispatch(s, isl)
        if pg is None:
            return None
        if topo is None:
            topo = self._topology(live, isl, s)
        ld = grid.loads
        base = grid.base_mva
        nb = len(grid.buses)
        ps = np.where(s.load_on, self._pd_pu, 0.0)
        gs = np.zeros(nb) if self._shunt_pu is None else np.where(s.bus_on, self._shunt_pu, 0.0)
        pinj = bsum(grid.gens.bus, pg, nb) - bsum(ld.bus, ps, nb) - gs
        theta, flow = dc_flows(grid, self.dc_convention, s.branch_on, s.bus_on, s.ref_buses, pinj, topo)
        rate = self.rate_mw / base
        lim = rate > 0
        if np.any(s.branch_on & lim & (np.abs(flow) > rate * (1 + 1e-9) + 1e-12)):
            return None
        if self._ang_rows.size:
            r = self._ang_rows
            on = s.branch_on[r]
            d = theta[grid.branches.from_bus[r]] - theta[grid.branches.to_bus[r]]
            if np.any(on & ((d < self._ang_lo - 1e-9) | (d > self._ang_hi + 1e-9))):
                return None
        off = np.zeros(len(grid.gens), bool)
        return MldSolution(True, "optimal", float("nan"), pg, ps, flow, theta, off, "fast")

    # ------------------------------------------------------------------------------------------
    def _diagnose(self, mld: MldModel, s: Setting, isl: Islands) -> dict[int, str]:
        """Which energised islands are infeasible on their own, and why (in words)."""
        grid = self.grid
        out: dict[int, str] = {}
        base = grid.base_mva
        for k in np.flatnonzero(isl.has_generation):
            only = isl.label == k
            sk = _without(grid, s, ~only)
            sol = mld.solve(sk)
            if sol.ok:
                continue
            out[int(k)] = self._reason(sk, base)
        return out

    def _reason(self, s: Setting, base: float) -> str:
        grid = self.grid
        ld = grid.loads
        pd = float(ld.p_mw[s.load_on].sum())
        gon = s.gen_on
        pmin = float((s.gen_lo[gon] * base).sum())
        pmax = float((s.gen_hi[gon] * base).sum())
        fixed = self.commitment == "fixed"
        if not self.shed and pmax < pd - 1e-6:
            return (
                f"generation capacity {pmax:.1f} MW is below the island's demand {pd:.1f} MW and load shedding "
                "is disallowed (shed=False)"
            )
        if fixed and pmin > pd + 1e-6:
            return (
                f"the committed generators' minimum output {pmin:.1f} MW exceeds the island's demand {pd:.1f} MW "
                "(commitment='fixed' keeps them on; use commitment='milp' to switch them off)"
            )
        if not self.shed and fixed:
            return (
                "no dispatch within generator limits and branch ratings serves the island's full demand "
                f"({pd:.1f} MW) with every generator on and shedding disallowed"
            )
        if not self.shed:
            return (
                f"branch ratings (rate {self.rate.upper()}) or generator limits leave no way to serve the "
                f"island's full demand ({pd:.1f} MW) with shedding disallowed (shed=False)"
            )
        if not self.redispatch:
            return (
                "with generators held at their pre-strike dispatch (redispatch=False) the island's slack generator "
                "cannot balance it within its limits"
            )
        return "no feasible operating point within generator limits and branch ratings"

    # ------------------------------------------------------------------------------------------
    def _loss(self, s: Setting, ps_pu: np.ndarray, method: str, groups: bool) -> tuple[ImpactLoss, np.ndarray]:
        """Served MW per load (solver noise cleaned), the totals and breakdowns; and per load
        whether it is not fully served."""
        served = np.where(s.load_on, ps_pu * self.grid.base_mva, 0.0)
        # clean solver noise
        p = self.grid.loads.p_mw
        served = np.clip(served, self._p_lo, self._p_hi)
        served = np.where(np.abs(served - p) < _TOL_MW, p, served)
        served = np.where(np.abs(served) < _TOL_MW, 0.0, served)
        served.setflags(write=False)
        demand, pos = self._demand, self._pos_on
        short = pos & (served < demand - _TOL_MW)
        lost = demand - served
        loss = ImpactLoss(
            demand_mw=self.demand_mw,
            served_mw=float(served[pos].sum()),
            customers_affected=int(self.grid.loads.customers[short].sum()),
            load_served_mw=served,
            by_priority=self._priorities.breakdown(lost, short, named=False),
            by_group=self._groups.breakdown(lost, short, named=True) if groups else {},
            method=method,
            repeatable=method == "fast" and not self.cascade,
        )
        return loss, short

    def _result(
        self,
        dmg: Damage,
        live: Live,
        isl: Islands,
        s: Setting,
        sol: MldSolution,
        infeasible: dict[int, str],
        trips: tuple[Trip, ...],
        stages: tuple[float, ...],
        method: str,
        acs=None,
    ) -> ImpactResult:
        grid = self.grid
        base = grid.base_mva
        ld, g = grid.loads, grid.gens
        ps, pg_pu, flow_pu, gen_off = sol.ps, sol.pg, sol.flow, sol.gen_off
        if acs is not None:
            how = sorted({v.method if v.status == "optimal" else f"{v.method}: {v.status}" for v in acs.islands.values()})
            method = f"ac: {'; '.join(how) or 'no energised island'} (warm start: dc {method})"
            ac_isl = {k for k, v in acs.islands.items() if v.status == "optimal"}
            dead = {k for k, v in acs.islands.items() if v.status == "infeasible"}
            infeasible = {**infeasible, **{k: acs.islands[k].message for k in dead}}
            lab = s.label if s.label is not None else isl.label
            ok_b = np.isin(lab, list(ac_isl)) & s.bus_on
            ok_d, ok_g = ok_b[ld.bus], ok_b[g.bus]
            bad_d, bad_g = np.isin(lab, list(dead))[ld.bus], np.isin(lab, list(dead))[g.bus]
            ps = np.where(ok_d, acs.zd * ld.p_mw / base, np.where(bad_d, 0.0, ps))
            pg_pu = np.where(ok_g, acs.pg, np.where(bad_g, 0.0, pg_pu))
            flow_pu = np.where(ok_b[grid.branches.from_bus], acs.p_from, flow_pu)
            gen_off = np.where(ok_g, acs.zg < 0.5, gen_off) | (s.gen_on & bad_g)
            volt_off = ok_b & (acs.zv < 0.5)
            s = _without(grid, s, volt_off | np.isin(lab, list(dead)))
        loss, short = self._loss(s, ps, method, groups=True)
        served, served_total = loss.load_served_mw, loss.served_mw
        demand = self._demand
        pos = self._pos_on
        pg = np.where(s.gen_on, pg_pu * base, 0.0)
        flow = np.where(s.branch_on, flow_pu * base, 0.0)
        # islands
        lab_load = np.where(live.load, isl.label[ld.bus], -1)
        lab_gen = np.where(live.gen, isl.label[g.bus], -1)
        d_isl = bsum(lab_load[lab_load >= 0], np.where(pos, demand, 0.0)[lab_load >= 0], isl.count)
        s_isl = bsum(lab_load[lab_load >= 0], np.where(pos, served, 0.0)[lab_load >= 0], isl.count)
        g_isl = bsum(lab_gen[lab_gen >= 0], pg[lab_gen >= 0], isl.count)
        nbus = np.bincount(isl.label[isl.label >= 0], minlength=isl.count)
        islands_out = []
        for k in range(isl.count):
            mod, bind = ("dc" if isl.has_generation[k] else ""), ()
            if k in infeasible:
                st, why = "infeasible", infeasible[k]
            elif isl.has_generation[k] and d_isl[k] <= _TOL_MW and abs(g_isl[k]) <= _TOL_MW:
                st, why = "stranded", "generation but no load: its generators are cut off from every load"
            elif isl.has_generation[k]:
                st, why = "energised", ""
            else:
                st, why = "dark", "no generation in the island"
            if acs is not None and k in acs.islands:
                a = acs.islands[k]
                mod, bind = ("ac", a.binding) if a.status != "failed" else ("dc", ())
                if a.status == "failed":
                    st, why = "ac-failed", f"{a.message}: the DC answer is shown"
            islands_out.append(
                IslandImpact(int(k), int(nbus[k]), st, float(d_isl[k]), float(s_isl[k]), float(g_isl[k]), why,
                             mod, tuple(bind))
            )
        critical_lost = tuple(ld.id[short & self._critical].tolist())
        bus_energised = s.bus_on.copy()
        bus_energised.setflags(write=False)
        dark = tuple(grid.buses.id[grid.buses.in_service & ~bus_energised].tolist())
        stranded = live.gen & ~s.gen_on
        if gen_off.size:
            stranded |= s.gen_on & gen_off
        for a in (pg, flow):
            a.setflags(write=False)
        ac = None
        if self.ac_check:
            from gridshield.impact.ac import ac_check

            ac = ac_check(grid, served, pg, s.bus_on, s.branch_on, s.gen_on & ~gen_off, self.rate_mw)
        ac_point = {}
        if acs is not None:
            vm = np.where(s.bus_on & acs.solved_bus, acs.vm, 0.0)
            ac_point = {
                "model": "ac",
                "bus_vm_pu": _ro(vm),
                "bus_va_deg": _ro(np.where(vm > 0, np.rad2deg(acs.va), 0.0)),
                "gen_q_mvar": _ro(np.where(s.gen_on & acs.solved_bus[g.bus] & ~gen_off, acs.qg * base, 0.0)),
            }
        return ImpactResult(
            grid_name=grid.name,
            damage=dmg.ids,
            demand_mw=self.demand_mw,
            served_mw=served_total,
            load_ids=self._load_ids,
            load_demand_mw=demand,
            load_served_mw=served,
            gen_p_mw=pg,
            branch_flow_mw=flow,
            bus_energised=bus_energised,
            islands=tuple(islands_out),
            by_group=loss.by_group,
            by_priority=loss.by_priority,
            customers_total=self._customers_total,
            customers_affected=loss.customers_affected,
            critical_lost=critical_lost,
            dark_buses=dark,
            stranded_gens=tuple(g.id[stranded].tolist()),
            trips=trips,
            lost_by_stage_mw=stages,
            ac=ac,
            method=method,
            options=self.options(),
            load_priority=self._ld_meta[0],
            load_group=self._ld_meta[1],
            load_customers=self._ld_meta[2],
            load_bus=self._ld_meta[3],
            **ac_point,
        )


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


class _Segments:
    """The loads of each class (load group or priority) with positive demand, as contiguous
    segments of one stable ordering of the loads, and the classes' damage-independent totals.

    ``breakdown`` sums a segment of the reordered per-load vectors: the same numbers added in
    the same order as indexing with the class's boolean mask, so the sums are identical.
    """

    def __init__(self, labels: np.ndarray, names, pos: np.ndarray, demand: np.ndarray, cust: np.ndarray):
        rows, bounds = [], [0]
        for name in names:
            r = np.flatnonzero((labels == name) & pos)
            rows.append(r)
            bounds.append(bounds[-1] + r.size)
        self.order = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        self.bounds = tuple(zip(bounds[:-1], bounds[1:]))
        self.names = tuple(names)
        self.present = tuple(b > a for a, b in self.bounds)
        d, c = demand[self.order], cust[self.order]
        self.demand = tuple(float(d[a:b].sum()) for a, b in self.bounds)
        self.cust = c
        self.customers = tuple(int(c[a:b].sum()) for a, b in self.bounds)

    def breakdown(self, lost: np.ndarray, short: np.ndarray, named: bool) -> dict[str, dict[str, float]]:
        """``{name: {"demand_mw", "lost_mw", "customers", "customers_off"}}``; ``named``: every
        class, the empty name as ``"(none)"``; else only classes with loads."""
        lo = lost[self.order]
        off = np.where(short[self.order], self.cust, 0)
        out = {}
        for name, (a, b), there, dem, cu in zip(self.names, self.bounds, self.present, self.demand, self.customers):
            if named:
                name = name or "(none)"
            elif not there:
                continue
            out[name] = {"demand_mw": dem, "lost_mw": float(lo[a:b].sum()), "customers": cu,
                         "customers_off": int(off[a:b].sum())}
        return out


def _without(grid: Grid, s: Setting, drop_bus: np.ndarray) -> Setting:
    """The setting with the buses ``drop_bus`` (and what is on them) taken dark."""
    bus_on = s.bus_on & ~drop_bus
    br = grid.branches
    return Setting(
        bus_on=bus_on,
        branch_on=s.branch_on & bus_on[br.from_bus] & bus_on[br.to_bus],
        gen_on=s.gen_on & bus_on[grid.gens.bus],
        load_on=s.load_on & bus_on[grid.loads.bus],
        ref_buses=s.ref_buses[bus_on[s.ref_buses]],
        gen_lo=s.gen_lo,
        gen_hi=s.gen_hi,
        shed=s.shed,
        label=s.label,
    )


def assess_damage(grid: Grid, damage: Damage | Sequence[str] | str | None = None, **options: Any) -> ImpactResult:
    """Impact of ``damage`` on ``grid``: ``ImpactModel(grid, **options).assess(damage)``.

    See :class:`ImpactModel` for the options (``rate``, ``cascade``, ``redispatch``,
    ``dc_convention``, ``weights``, ``shed``, ``commitment``, ``relay_threshold``, ``ac_check``).
    """
    return ImpactModel(grid, **options).assess(damage)


__all__ = ["ImpactModel", "assess_damage"]
