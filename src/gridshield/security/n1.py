"""N-1 contingency analysis over branches, generators and whole sites.

Method
------
1. **DC screening.** Branch outages go through :func:`gridshield.flow.sensitivity.outage_flows`:
   one factorisation of the reduced DC susceptance matrix, outages solved in chunks of columns
   (``B X = e_f - e_t``, i.e. LODF columns computed on the fly, Guler et al. 2007), so memory
   stays ``O(chunk x (n_bus + n_branch))`` and no dense ``n_branch x n_branch`` matrix is built.
   A generator outage removes its output, which the island's slack picks up (as an AC power flow
   does): ``f' = f0 - P_g Bf B^-1 e_bus(g)``, again in column chunks; a generator that is its
   island's only slack, and every site outage (all branches touching its buses, its generators
   and loads), is solved as a fresh DC power flow. Overloads: ``|P| > threshold x rate A``
   on rated branches (rate A = 0 means unlimited).
2. **Islanding outages** (a bridge that cuts off load, a site that cuts off more than itself, a
   generator whose island lacks the reserve to replace it) are evaluated with the impact
   engine's maximal-load-delivery LP (:class:`gridshield.impact.ImpactModel`): ``lost_mw`` is the
   load it cannot serve, not a skipped contingency.
3. **AC verification** (``ac_verify=True``): every contingency is also solved with AC power flow
   by :func:`gridshield.security.ac.ac_security` (compensation on the base case's LU factors, see
   :mod:`gridshield.flow.contingency`), with thermal (MVA at either end) and voltage checks and
   generator Q limits; the AC verdict (a limit crossed, or no converged AC solution) replaces the
   DC one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError
from gridshield.grid.model import Grid
from gridshield.security.ac import ratings
from gridshield.security.shed import Asset, default_candidates

ELEMENTS = ("branches", "gens", "sites")


@dataclass(frozen=True)
class ContingencyResult:
    """N-1 screening result, one row per contingency.

    Attributes
    ----------
    ids, kind
        Contingency id (``branch:12``, ``gen:3``, ``site:S1`` / ``bus:5``) and its kind.
    islanding
        True when the outage cuts buses off their island's reference.
    lost_mw
        Load lost (MW): from the impact engine's maximal load delivery for islanding outages,
        0 otherwise (the grid stays whole; overloads are reported separately).
    dc_max_loading_pct, dc_n_overloads, dc_worst_branch
        DC post-contingency: highest |P| / rate A (%) over rated branches, number of branches
        above ``threshold_pct`` and the most loaded branch id.
    ac_verified
        True when the contingency was solved with AC power flow.
    ac_converged, ac_status, ac_max_loading_pct, ac_n_overloads, ac_vm_min_pu, ac_vm_max_pu, ac_n_voltage
        AC results (see :class:`gridshield.security.ac.AcSecurityResult`; NaN / -1 / "" where not
        AC-verified).
    violating
        Final verdict: a thermal (or, with AC, voltage) limit crossed, or no converged AC
        solution; from AC where verified, else from DC.
    """

    ids: tuple[str, ...]
    kind: tuple[str, ...]
    islanding: np.ndarray
    lost_mw: np.ndarray
    dc_max_loading_pct: np.ndarray
    dc_n_overloads: np.ndarray
    dc_worst_branch: tuple[str, ...]
    ac_verified: np.ndarray
    ac_converged: np.ndarray
    ac_max_loading_pct: np.ndarray
    ac_n_overloads: np.ndarray
    violating: np.ndarray
    threshold_pct: float
    case: str
    timings_s: dict[str, float] = field(default_factory=dict)
    base_ac_max_loading_pct: float = float("nan")
    base_dc_overloads: int = 0
    ac_status: tuple[str, ...] = ()
    ac_vm_min_pu: np.ndarray | None = None
    ac_vm_max_pu: np.ndarray | None = None
    ac_n_voltage: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def violating_ids(self) -> list[str]:
        return [i for i, v in zip(self.ids, self.violating.tolist(), strict=True) if v]

    @property
    def n_ac_verified(self) -> int:
        return int(np.count_nonzero(self.ac_verified))

    def summary(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "contingencies": len(self.ids),
            "islanding": int(np.count_nonzero(self.islanding)),
            "violating": int(np.count_nonzero(self.violating)),
            "dc_violating": int(np.count_nonzero(self.dc_n_overloads > 0)),
            "ac_verified": self.n_ac_verified,
            "ac_voltage_violating": int(np.count_nonzero(self._ac(self.ac_n_voltage, 0) > 0)),
            "load_lost_max_mw": float(self.lost_mw.max()) if len(self.ids) else 0.0,
            "threshold_pct": self.threshold_pct,
            "base_dc_overloads": self.base_dc_overloads,
        } | {f"time_{k}_s": v for k, v in self.timings_s.items()}

    def _ac(self, x: np.ndarray | None, missing: float = np.nan) -> np.ndarray:
        return np.full(len(self.ids), missing) if x is None else x

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "kind": list(self.kind),
                "islanding": self.islanding,
                "lost_mw": self.lost_mw,
                "dc_max_loading_pct": self.dc_max_loading_pct,
                "dc_n_overloads": self.dc_n_overloads,
                "dc_worst_branch": list(self.dc_worst_branch),
                "ac_verified": self.ac_verified,
                "ac_converged": self.ac_converged,
                "ac_max_loading_pct": self.ac_max_loading_pct,
                "ac_n_overloads": self.ac_n_overloads,
                "ac_status": list(self.ac_status) if self.ac_status else [""] * len(self.ids),
                "ac_vm_min_pu": self._ac(self.ac_vm_min_pu),
                "ac_vm_max_pu": self._ac(self.ac_vm_max_pu),
                "ac_n_voltage": self._ac(self.ac_n_voltage, -1),
                "violating": self.violating,
            },
            index=pd.Index(list(self.ids), name="contingency"),
        )

    def to_dict(self) -> dict[str, Any]:
        def f(x):
            x = float(x)
            return None if not np.isfinite(x) else x

        return {
            "kind": "n1",
            "summary": self.summary(),
            "contingencies": [
                {
                    "id": self.ids[i],
                    "kind": self.kind[i],
                    "islanding": bool(self.islanding[i]),
                    "lost_mw": float(self.lost_mw[i]),
                    "dc_max_loading_pct": f(self.dc_max_loading_pct[i]),
                    "dc_n_overloads": int(self.dc_n_overloads[i]),
                    "dc_worst_branch": self.dc_worst_branch[i] or None,
                    "ac_verified": bool(self.ac_verified[i]),
                    "ac_converged": bool(self.ac_converged[i]) if self.ac_verified[i] else None,
                    "ac_max_loading_pct": f(self.ac_max_loading_pct[i]),
                    "ac_n_overloads": int(self.ac_n_overloads[i]),
                    "ac_status": self.ac_status[i] if self.ac_status else None,
                    "ac_vm_min_pu": f(self._ac(self.ac_vm_min_pu)[i]),
                    "ac_vm_max_pu": f(self._ac(self.ac_vm_max_pu)[i]),
                    "ac_n_voltage": int(self._ac(self.ac_n_voltage, -1)[i]),
                    "violating": bool(self.violating[i]),
                }
                for i in range(len(self.ids))
            ],
        }


def screen_n1(
    grid: Grid,
    elements: Sequence[str] = ("branches", "gens", "sites"),
    ac_verify: bool = False,
    *,
    rating: str = "a",
    threshold_pct: float = 100.0,
    chunk: int = 256,
    impact: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    ac_tol: float = 1e-8,
    worsen: float = 0.02,
    contingencies: Sequence[str] | None = None,
    mld: bool = True,
    q_limits: bool = True,
    workers: int = 1,
) -> ContingencyResult:
    """N-1 contingency screening over branches, generators and sites.

    Parameters
    ----------
    grid
        The grid.
    elements
        Which single outages to study: any of ``"branches"``, ``"gens"``, ``"sites"`` (a site is
        every element at a substation; a grid without substation names uses each bus).
    ac_verify
        Also solve every contingency with AC power flow (thermal and voltage checks; see
        :func:`gridshield.security.ac.ac_security`); the AC verdict replaces the DC one.
    rating
        Branch rating used for overloads: ``"a"`` (default), ``"b"`` (emergency; A where B is 0)
        or ``"c"``.
    threshold_pct
        Loading (% of the rating) above which a branch is overloaded.
    chunk
        Outages per block of DC solves (memory ~ 8 chunk (n_bus + n_branch) bytes).
    impact
        An :class:`gridshield.impact.ImpactModel` to reuse for islanding outages.
    progress
        ``progress(stage, done, total)`` callback (the CLI draws bars with it).
    worsen
        A branch already above the threshold in the base case counts as a contingency
        violation only when its flow grows by more than this fraction (default 2 %): such
        branches are monitored against ``max(rating, |base flow| (1 + worsen) / threshold)``
        (DC: base DC flow in MW, and the DC loading is reported against that monitoring rating;
        AC: base AC flow in MVA).
    contingencies
        Restrict the study to these contingency ids (of the kinds in ``elements``).
    mld
        Evaluate islanding outages with the impact engine's maximal load delivery (default).
        ``False``: count only the load of islands left without generation (DC screening alone,
        for speed comparisons).
    q_limits, workers
        AC verification: generator Q limits; processes solving contingencies in parallel.

    Returns
    -------
    ContingencyResult
    """
    from gridshield.flow.dc import DcSolver, bus_injection_mw
    from gridshield.flow.sensitivity import outage_flows

    elements = tuple(elements)
    bad = [e for e in elements if e not in ELEMENTS]
    if bad or not elements:
        raise GridshieldError(f"elements {list(elements)}: choose from {list(ELEMENTS)}")
    only = None if contingencies is None else set(contingencies)
    if only is not None:
        for cid in only:
            grid.locate(cid)  # unknown ids -> UnknownAssetError

    def keep(id_list) -> np.ndarray:
        return np.ones(len(id_list), dtype=bool) if only is None else np.array([i in only for i in id_list], dtype=bool)

    tim: dict[str, float] = {}
    t0 = time.perf_counter()
    br, g = grid.branches, grid.gens
    rate = ratings(grid, rating)
    thr = threshold_pct / 100.0
    s = DcSolver(grid)
    p0 = bus_injection_mw(grid, g.p_mw, s.gen_on)
    f0 = s.solve(p0).p_from_mw
    rate_dc = np.where(rate > 0, np.maximum(rate, np.abs(f0) * (1 + worsen) / thr), 0.0)
    n_base_over_dc = int(np.count_nonzero((rate > 0) & (np.abs(f0) > thr * rate)))
    ids: list[str] = []
    kinds: list[str] = []
    isl: list[np.ndarray] = []
    dcmax: list[np.ndarray] = []
    dcn: list[np.ndarray] = []
    worst: list[np.ndarray] = []
    need_mld: list[np.ndarray] = []
    outs: list[Asset] = []

    def prog(stage):
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    # -- branches ----------------------------------------------------------------------------
    if "branches" in elements:
        tb = time.perf_counter()
        rows = np.flatnonzero(s.branch_on)
        rows = rows[keep(br.id[rows].tolist())]
        of = outage_flows(grid, rows, solver=s, base=p0, rating=rate_dc, threshold_pct=threshold_pct, chunk=chunk,
                          keep_flows=False, progress=prog("dc branches"))
        ids += br.id[rows].tolist()
        kinds += ["branch"] * rows.size
        isl.append(np.asarray(of.islanding, dtype=bool))
        dcmax.append(of.max_loading_pct)
        dcn.append(of.n_overloads)
        worst.append(np.where(of.worst_branch >= 0, br.id[np.maximum(of.worst_branch, 0)], ""))
        need_mld.append(np.asarray(of.islanding, dtype=bool) & (of.isolated_load_mw > 0))
        dark_lost = (len(ids) - rows.size, np.where(of.isolated_dark, of.isolated_load_mw, 0.0))
        outs += [Asset(br.id[r], (int(r),), ()) for r in rows.tolist()]
        tim["dc_branches"] = time.perf_counter() - tb

    # -- generators ----------------------------------------------------------------------------
    if "gens" in elements:
        tg = time.perf_counter()
        grows = np.flatnonzero(s.gen_on)
        grows = grows[keep(g.id[grows].tolist())]
        gbus = g.bus[grows]
        pg = g.p_mw[grows]
        ref_set = np.zeros(len(grid.buses), dtype=bool)
        ref_set[s.ref_rows] = True
        fresh = ref_set[gbus]
        n = grows.size
        mx = np.zeros(n)
        nov = np.zeros(n, dtype=np.int64)
        wb = np.full(n, "", dtype=object)
        deficit = np.zeros(n, dtype=bool)
        # reserve check per island: can the others replace the lost output?
        isl_of_gen = s.island[gbus]
        head = np.where(s.gen_on, np.maximum(g.p_max_mw - g.p_mw, 0), 0.0)
        head_isl = np.bincount(s.island[g.bus[s.gen_on]], weights=head[s.gen_on], minlength=s.n_islands)
        deficit = pg > head_isl[isl_of_gen] - head[grows] + 1e-9
        col = np.flatnonzero(~fresh)
        for a in range(0, col.size, chunk):
            c = col[a:a + chunk]
            p = np.zeros((len(grid.buses), c.size))
            p[gbus[c], np.arange(c.size)] = -pg[c]
            dth = np.zeros_like(p)
            dth[s.pvpq] = s.lu.solve(p[s.pvpq] / s.base_mva)
            fl = f0[:, None] + s._b_mw[:, None] * (dth[s._f] - dth[s._t])
            _fill(fl, rate_dc, thr, c, mx, nov, wb, br.id)
            if progress is not None:
                progress("dc gens", a + c.size, n)
        for j in np.flatnonzero(fresh).tolist():
            gon = g.in_service.copy()
            gon[grows[j]] = False
            g2 = grid.replace(gens=g.replace(in_service=gon))
            s2 = DcSolver(g2)
            fl = s2.solve(bus_injection_mw(g2, g.p_mw, s2.gen_on)).p_from_mw
            _fill(fl[:, None], rate_dc, thr, np.array([j]), mx, nov, wb, br.id)
        ids += g.id[grows].tolist()
        kinds += ["gen"] * n
        isl.append(np.zeros(n, dtype=bool))
        dcmax.append(mx)
        dcn.append(nov)
        worst.append(wb)
        need_mld.append(deficit)
        outs += [Asset(g.id[r], (), (int(r),)) for r in grows.tolist()]
        tim["dc_gens"] = time.perf_counter() - tg

    # -- sites -----------------------------------------------------------------------------
    if "sites" in elements:
        ts = time.perf_counter()
        sites = default_candidates(grid, ("sites",))
        sites = [a for a, k in zip(sites, keep([a.id for a in sites]).tolist(), strict=True) if k]
        n = len(sites)
        mx = np.zeros(n)
        nov = np.zeros(n, dtype=np.int64)
        wb = np.full(n, "", dtype=object)
        islx = np.zeros(n, dtype=bool)
        for j, a in enumerate(sites):
            bon = s.branch_on.copy()
            bon[list(a.branches)] = False
            gon = g.in_service.copy()
            gon[list(a.gens)] = False
            g2 = grid.replace(gens=g.replace(in_service=gon)) if a.gens else grid
            s2 = DcSolver(g2, branch_in_service=bon)
            in_site = _site_bus_rows(grid, a)
            dark_other = ~s2.bus_energised & s.bus_energised & ~in_site
            islx[j] = bool(np.any(dark_other)) or s2.n_islands - int(in_site.sum()) > s.n_islands
            p = bus_injection_mw(g2, g.p_mw, s2.gen_on)
            fl = s2.solve(np.where(s2.bus_energised, p, 0.0)).p_from_mw
            _fill(fl[:, None], rate_dc, thr, np.array([j]), mx, nov, wb, br.id, out_rows=a.branches)
            if progress is not None and j % 32 == 0:
                progress("dc sites", j + 1, n)
        ids += [a.id for a in sites]
        kinds += ["site"] * n
        isl.append(islx)
        dcmax.append(mx)
        dcn.append(nov)
        worst.append(wb)
        need_mld.append(islx)
        outs += sites
        ld = grid.loads
        on_load = ld.in_service & (ld.p_mw > 0)
        own = np.array([float(ld.p_mw[on_load & _site_bus_rows(grid, a)[ld.bus]].sum()) for a in sites])
        site_own_load = (len(ids) - n, own)
        tim["dc_sites"] = time.perf_counter() - ts

    islanding = np.concatenate(isl)
    need = np.concatenate(need_mld)
    dc_max = np.concatenate(dcmax)
    dc_n = np.concatenate(dcn).astype(np.int64)
    worst_ids = tuple(str(x) for x in np.concatenate(worst).tolist())

    # -- load lost through the impact engine (islanding outages) -------------------------------
    tm = time.perf_counter()
    lost = np.zeros(len(ids))
    if "sites" in elements:
        off, own = site_own_load
        lost[off:off + own.size] = own  # a site that cuts off nothing else loses its own load
    if not mld:
        if "branches" in elements:
            off, dl = dark_lost
            lost[off:off + dl.size] = dl
        need = np.zeros_like(need)
    todo = np.flatnonzero(need)
    if todo.size:
        if impact is None:
            from gridshield.impact import ImpactModel

            impact = ImpactModel(grid, rate=str(rating).lower().replace("rate_", ""))
        for i, j in enumerate(todo.tolist()):
            lost[j] = impact.assess([ids[j]]).lost_mw
            if progress is not None and i % 16 == 0:
                progress("load lost (MLD)", i + 1, todo.size)
    tim["mld"] = time.perf_counter() - tm

    # -- AC verification ---------------------------------------------------------------------
    n_all = len(ids)
    ac_ver = np.zeros(n_all, dtype=bool)
    ac_conv = np.zeros(n_all, dtype=bool)
    ac_max = np.full(n_all, np.nan)
    ac_n = np.full(n_all, -1, dtype=np.int64)
    ac_extra: dict[str, Any] = {}
    base_ac_max = float("nan")
    if ac_verify:
        from gridshield.security.ac import ac_security

        ta = time.perf_counter()
        acr = ac_security(grid, contingencies=ids, rating=rating, threshold_pct=threshold_pct, q_limits=q_limits,
                          worsen=worsen, tol=ac_tol, workers=workers, progress=progress)
        ac_ver[:] = True
        ac_conv, ac_max, ac_n = acr.converged, acr.max_loading_pct, acr.n_overloads
        ac_extra = {"ac_status": acr.status, "ac_vm_min_pu": acr.vm_min_pu, "ac_vm_max_pu": acr.vm_max_pu,
                    "ac_n_voltage": acr.n_low_voltage + acr.n_high_voltage}
        base_ac_max = acr.base["max_loading_pct"]
        tim["ac_verify"] = time.perf_counter() - ta
    violating = acr.violating.copy() if ac_verify else dc_n > 0
    tim["total"] = time.perf_counter() - t0
    return ContingencyResult(
        ids=tuple(ids), kind=tuple(kinds), islanding=islanding, lost_mw=lost, dc_max_loading_pct=dc_max,
        dc_n_overloads=dc_n, dc_worst_branch=worst_ids, ac_verified=ac_ver, ac_converged=ac_conv,
        ac_max_loading_pct=ac_max, ac_n_overloads=ac_n, violating=violating, threshold_pct=float(threshold_pct),
        case=grid.name, timings_s=tim, base_ac_max_loading_pct=base_ac_max, base_dc_overloads=n_base_over_dc,
        **ac_extra,
    )


def _site_bus_rows_idx(grid: Grid, a: Asset) -> np.ndarray:
    kind = a.id.split(":", 1)[0]
    if kind == "site":
        return grid.sites[a.id[5:]]
    if kind == "bus":
        return np.array([grid.buses.index[a.id]])
    return np.zeros(0, dtype=np.int64)


def _site_bus_rows(grid: Grid, a: Asset) -> np.ndarray:
    m = np.zeros(len(grid.buses), dtype=bool)
    m[_site_bus_rows_idx(grid, a)] = True
    return m


def _fill(fl, rate, thr, cols, mx, nov, wb, br_ids, out_rows=()):
    """Per-outage max loading / overload count from a block of post-outage flows (n_branch x c)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ld = np.where(rate[:, None] > 0, np.abs(fl) / np.where(rate > 0, rate, 1.0)[:, None], 0.0)
    if len(out_rows):
        ld[list(out_rows)] = 0.0
    mx[cols] = 100.0 * ld.max(axis=0) if ld.size else 0.0
    am = ld.argmax(axis=0) if ld.size else np.zeros(len(cols), dtype=int)
    nov[cols] = np.count_nonzero(ld > thr * (1 + 1e-9), axis=0)
    wb[cols] = np.where(mx[cols] > 0, br_ids[am], "")


__all__ = ["ContingencyResult", "screen_n1"]
