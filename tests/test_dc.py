"""DC power flow against PYPOWER's rundcpf (MATPOWER's DC PF), islands, batch reuse, lossless."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.flow.dc import DcSolver, bus_injection_mw
from gridshield.grid.ppc import to_ppc

CASES = ["case9", "case14", "case118", "case300", "case2869pegase", "case9241pegase"]


def _rundcpf(grid):
    from pypower.api import ppoption, rundcpf

    res, ok = rundcpf(to_ppc(grid), ppoption(VERBOSE=0, OUT_ALL=0))
    assert ok
    return res


@pytest.mark.parametrize("name", CASES)
def test_dc_equals_pypower_rundcpf(name):
    grid = gs.load_case(name)
    r = gs.solve_dc(grid)
    ref = _rundcpf(grid)
    # angles in degrees, flows and generation in MW (1e-8 p.u. = 1e-6 MW on 100 MVA)
    np.testing.assert_allclose(r.va_deg, ref["bus"][:, 8], rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.p_from_mw, ref["branch"][:, 13], rtol=0, atol=1e-8 * grid.base_mva)
    np.testing.assert_allclose(r.p_to_mw, ref["branch"][:, 15], rtol=0, atol=1e-8 * grid.base_mva)
    np.testing.assert_allclose(r.gen_p_mw, ref["gen"][:, 1], rtol=0, atol=1e-8 * grid.base_mva)
    assert r.bus_energised.all() and r.n_islands == 1
