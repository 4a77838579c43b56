"""AC security analysis on the large PEGASE case, against brute force and against lightsim2grid."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.flow.matrices import make_ybus
from gridshield.grid.ppc import to_ppc
from gridshield.security.ac import ac_security
from tests.ac_reference import assert_same_as_brute_force, brute_force_ac


@pytest.mark.slow
def test_case9241_random_1000_equal_brute_force():
    g = gs.load_case("case9241pegase")
    res = ac_security(g, ("branches", "gens", "sites"), sample=1000, seed=2024)
    assert len(res) == 1000 and {"branch", "gen", "site"} <= set(res.kind)
    ref = brute_force_ac(g, res.ids)
    assert_same_as_brute_force(res, ref)
    assert res.thermal.sum() > 0


def _lightsim2grid_thermal(grid, rows):
    """lightsim2grid ContingencyAnalysisCPP (NR_KLU, tol 1e-8) on branch ``rows``: overloaded and skipped ids."""
    from lightsim2grid.algorithm import AlgorithmType
    from lightsim2grid.contingencyAnalysis import ContingencyAnalysisCPP
    from lightsim2grid.network import init_from_matpower

    br = grid.branches
    m = init_from_matpower(to_ppc(grid))
    m.change_solver(AlgorithmType.NR_KLU)
    vcase = grid.buses.vm_pu * np.exp(1j * np.deg2rad(grid.buses.va_deg))
    vbase = m.ac_pf(vcase.astype(complex), 30, 1e-8)
    # lightsim2grid numbers lines first, then transformers, each in file order
    ls_rows = np.r_[np.flatnonzero(~br.is_transformer), np.flatnonzero(br.is_transformer)]
    pos = np.empty_like(ls_rows)
    pos[ls_rows] = np.arange(ls_rows.size)
    ca = ContingencyAnalysisCPP(m)
    ca.change_algorithm(AlgorithmType.NR_KLU)
    ca.add_multiple_n1([int(pos[k]) for k in rows])
    ca.compute(vbase, 30, 1e-8)
    volts = ca.get_voltages()
    order = [int(d[0]) for d in ca.my_defaults()]
    _, yf, yt = make_ybus(grid)

    def smax(v):
        return np.maximum(np.abs(v[br.from_bus] * np.conj(yf @ v)), np.abs(v[br.to_bus] * np.conj(yt @ v))) * grid.base_mva

    s0 = smax(vbase)
    mon = np.where(br.rate_a_mva > 0, np.maximum(br.rate_a_mva, 1.02 * s0), 0.0)
    over, skipped = set(), set()
    for j, lsk in enumerate(order):
        k = int(ls_rows[lsk])
        v = volts[j]
        if not np.all(np.isfinite(v)) or np.all(np.abs(v) == 0):
            skipped.add(br.id[k])  # an islanding outage (lightsim2grid skips those) or no convergence
            continue
        s = smax(v)
        s[k] = 0.0
        if np.any((mon > 0) & (s > mon * (1 + 1e-9))):
            over.add(br.id[k])
    return over, skipped


@pytest.mark.parametrize("case", ["pglib/pglib_opf_case118_ieee.m", pytest.param("case2869pegase", marks=pytest.mark.slow)])
def test_thermal_set_equals_lightsim2grid(case):
    from tests.conftest import shared_case

    g = gs.load_case(str(shared_case(case)) if "/" in case else case)
    res = ac_security(g, ("branches",), q_limits=False)  # lightsim2grid does not enforce Q limits
    rows = [g.branches.index[i] for i in res.ids]
    over, skipped = _lightsim2grid_thermal(g, rows)
    assert len(skipped) < len(rows)
    assert set(res.thermal_ids) - skipped == over
    assert len(over) > 0
