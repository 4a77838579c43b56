"""Brute-force AC contingency analysis for tests: every contingency a fresh Newton-Raphson solve.

Independent of :mod:`gridshield.flow.contingency`: one :meth:`AcSolver.solve` per contingency
(warm start from the base case, the base case's Q-limit state held, MATPOWER's Q-limit loop, at
most 30 Newton iterations per pass), then loadings and voltages from the result's own flows.
"""

from __future__ import annotations

import numpy as np

from gridshield.flow.ac import AcSolver, frozen_gen_q
from gridshield.security.shed import asset_of


def brute_force_ac(grid, ids, *, q_limits=True, rating_mva=None, threshold_pct=100.0, worsen=0.02, worsen_v_pu=0.01,
                   tol=1e-8):
    """Per contingency id (``a+b`` for several assets): converged, max loading (fraction), extreme voltages, violations."""
    ac = AcSolver(grid)
    base = ac.solve(init="case", enforce_q_limits=q_limits, tol=tol)
    q_fixed = frozen_gen_q(ac, base) if q_limits else None
    if q_limits:
        base = ac.solve(init=base, enforce_q_limits=True, q_fixed_mvar=q_fixed, tol=tol)
    rate = grid.branches.rate_a_mva if rating_mva is None else rating_mva
    s0 = np.maximum(np.hypot(base.p_from_mw, base.q_from_mvar), np.hypot(base.p_to_mw, base.q_to_mvar))
    limit = np.where(rate > 0, np.maximum(threshold_pct / 100 * rate, s0 * (1 + worsen)), 0.0)
    b = grid.buses
    vlo = np.where(b.vmin_pu > 0, np.minimum(b.vmin_pu, base.vm_pu - worsen_v_pu), -np.inf)
    vhi = np.where(b.vmax_pu > 0, np.maximum(b.vmax_pu, base.vm_pu + worsen_v_pu), np.inf)
    out = {k: [] for k in ("converged", "reason", "max_loading", "vm_min", "vm_max", "thermal", "voltage")}
    for cid in ids:
        parts = [asset_of(grid, p) for p in cid.split("+")]
        bon = grid.branches.in_service.copy()
        gon = grid.gens.in_service.copy()
        for a in parts:
            bon[list(a.branches)] = False
            gon[list(a.gens)] = False
        kw = {"branch_in_service": bon, "gen_in_service": gon, "init": base, "tol": tol, "enforce_q_limits": q_limits,
              "q_fixed_mvar": q_fixed}
        r = ac.solve(**kw)
        out["converged"].append(r.converged)
        out["reason"].append(r.reason)
        if not r.converged:
            for k in ("max_loading", "vm_min", "vm_max"):
                out[k].append(np.nan)
            out["thermal"].append(False)
            out["voltage"].append(False)
            continue
        s = np.maximum(np.hypot(r.p_from_mw, r.q_from_mvar), np.hypot(r.p_to_mw, r.q_to_mvar))
        ld = np.where(rate > 0, s / np.where(rate > 0, rate, 1.0), 0.0)
        live = r.bus_energised & base.bus_energised
        vm = r.vm_pu[live]
        out["max_loading"].append(float(ld.max()))
        out["vm_min"].append(float(vm.min()))
        out["vm_max"].append(float(vm.max()))
        out["thermal"].append(bool(np.any((limit > 0) & (s > limit * (1 + 1e-9)))))
        out["voltage"].append(bool(np.any(vm < vlo[live] * (1 - 1e-9)) or np.any(vm > vhi[live] * (1 + 1e-9))))
    return {k: np.array(v) if k != "reason" else v for k, v in out.items()}


def assert_same_as_brute_force(res, ref, atol=1e-6):
    """An :class:`AcSecurityResult` against :func:`brute_force_ac` (same contingencies, same order)."""
    ids = np.array(res.ids)
    assert set(ids[~res.converged]) == set(ids[~ref["converged"]])
    assert set(res.thermal_ids) == set(ids[ref["thermal"]])
    assert set(res.voltage_ids) == set(ids[ref["voltage"]])
    ok = ref["converged"]
    np.testing.assert_allclose(res.max_loading_pct[ok] / 100, ref["max_loading"][ok], rtol=0, atol=atol)
    np.testing.assert_allclose(res.vm_min_pu[ok], ref["vm_min"][ok], rtol=0, atol=atol)
    np.testing.assert_allclose(res.vm_max_pu[ok], ref["vm_max"][ok], rtol=0, atol=atol)
