"""numba kernels of the Newton-Raphson power flow (polar form, MATPOWER's ``dSbus_dV``).

All kernels work on a Ybus in CSR form whose pattern is fixed (every branch, in service or not,
plus every diagonal), so that values can be written in place and the Jacobian pattern and its
symbolic factorisation survive between iterations and between outages.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def ybus_values(nnz, pos_ff, pos_ft, pos_tf, pos_tt, yff, yft, ytf, ytt, on, diag_pos, ysh):  # pragma: no cover
    """Ybus data (CSR order) from per-branch pi admittances; branches with ``on[k]`` False add nothing."""
    data = np.zeros(nnz, dtype=np.complex128)
    for k in range(on.shape[0]):
        if on[k]:
            data[pos_ff[k]] += yff[k]
            data[pos_ft[k]] += yft[k]
            data[pos_tf[k]] += ytf[k]
            data[pos_tt[k]] += ytt[k]
    for i in range(diag_pos.shape[0]):
        data[diag_pos[i]] += ysh[i]
    return data


@njit(cache=True, nogil=True)
def mismatch(indptr, indices, ydata, v, sbus, p_rows, q_rows, f_out, ibus):  # pragma: no cover
    """Fill ``ibus = Ybus v`` and ``f_out = [Re(S - Sbus)[p_rows], Im(S - Sbus)[q_rows]]``.

    Returns the infinity norm of ``f_out`` (p.u.).
    """
    nb = indptr.shape[0] - 1
    for i in range(nb):
        acc = 0j
        for k in range(indptr[i], indptr[i + 1]):
            acc += ydata[k] * v[indices[k]]
        ibus[i] = acc
    npv = p_rows.shape[0]
    worst = 0.0
    for n in range(npv):
        i = p_rows[n]
        m = (v[i] * np.conj(ibus[i]) - sbus[i]).real
        f_out[n] = m
        a = abs(m)
        if a > worst or a != a:
            worst = a if a == a else np.inf
    for n in range(q_rows.shape[0]):
        i = q_rows[n]
        m = (v[i] * np.conj(ibus[i]) - sbus[i]).imag
        f_out[npv + n] = m
        a = abs(m)
        if a > worst or a != a:
            worst = a if a == a else np.inf
    return worst


@njit(cache=True, nogil=True)
def jacobian(indptr, indices, ydata, v, ibus, jmap, row_active, jdata):  # pragma: no cover
    """Write the polar Newton Jacobian values into ``jdata`` (fixed CSC pattern).

    ``jmap[4k + b]`` is the position in ``jdata`` of block ``b`` (0: dP/dVa, 1: dP/dVm,
    2: dQ/dVa, 3: dQ/dVm) of Ybus entry ``k``, or -1 when that entry is not an unknown/equation.
    """
    nb = indptr.shape[0] - 1
    for i in range(nb):
        if not row_active[i]:
            continue
        vi = v[i]
        ii = ibus[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            p0 = jmap[4 * k]
            p1 = jmap[4 * k + 1]
            p2 = jmap[4 * k + 2]
            p3 = jmap[4 * k + 3]
            if p0 < 0 and p1 < 0 and p2 < 0 and p3 < 0:
                continue
            vj = v[j]
            yv = ydata[k] * vj
            # dS/dVa = 1j V_i conj(I_i) delta_ij - 1j V_i conj(Y_ij V_j)
            dva = -1j * vi * np.conj(yv)
            # dS/dVm = V_i conj(Y_ij V_j / |V_j|) + conj(I_i) V_i / |V_i| delta_ij
            avj = abs(vj)
            dvm = vi * np.conj(yv) / avj if avj > 0.0 else 0j
            if j == i:
                dva += 1j * vi * np.conj(ii)
                avi = abs(vi)
                if avi > 0.0:
                    dvm += np.conj(ii) * vi / avi
            if p0 >= 0:
                jdata[p0] = dva.real
            if p1 >= 0:
                jdata[p1] = dvm.real
            if p2 >= 0:
                jdata[p2] = dva.imag
            if p3 >= 0:
                jdata[p3] = dvm.imag


@njit(cache=True, nogil=True)
def update_v(va, vm, dx, p_rows, q_rows, alpha, v_out):  # pragma: no cover
    """Apply a Newton step ``x -= alpha * dx`` to angles (rad) and magnitudes; write ``v_out``."""
    npv = p_rows.shape[0]
    for n in range(npv):
        va[p_rows[n]] -= alpha * dx[n]
    for n in range(q_rows.shape[0]):
        vm[q_rows[n]] -= alpha * dx[npv + n]
    for i in range(va.shape[0]):
        v_out[i] = vm[i] * np.exp(1j * va[i])
