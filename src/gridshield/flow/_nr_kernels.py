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
    vn = np.empty(nb, dtype=np.complex128)
    for i in range(nb):
        a = abs(v[i])
        vn[i] = v[i] / a if a > 0.0 else 0j
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
            y = ydata[k]
            # dS/dVa = 1j V_i conj(I_i) delta_ij - 1j V_i conj(Y_ij V_j)
            dva = -1j * vi * np.conj(y * v[j])
            # dS/dVm = V_i conj(Y_ij V_j / |V_j|) + conj(I_i) V_i / |V_i| delta_ij
            dvm = vi * np.conj(y * vn[j])
            if j == i:
                dva += 1j * vi * np.conj(ii)
                dvm += np.conj(ii) * vn[i]
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


@njit(cache=True, nogil=True)
def ybus_pattern(nb, f, t):  # pragma: no cover
    """CSR pattern of Ybus with every branch and every diagonal.

    Entries are the 4 nl branch slots (ff, ft, tf, tt, each of length nl) then the nb diagonals;
    returns ``(indptr, indices, pos)`` with ``pos[e]`` the CSR position of entry ``e``.
    """
    nl = f.shape[0]
    m = 4 * nl + nb
    row = np.empty(m, dtype=np.int64)
    col = np.empty(m, dtype=np.int64)
    for k in range(nl):
        row[k] = f[k]
        col[k] = f[k]
        row[nl + k] = f[k]
        col[nl + k] = t[k]
        row[2 * nl + k] = t[k]
        col[2 * nl + k] = f[k]
        row[3 * nl + k] = t[k]
        col[3 * nl + k] = t[k]
    for i in range(nb):
        row[4 * nl + i] = i
        col[4 * nl + i] = i
    # counting sort of entries by row
    cnt = np.zeros(nb + 1, dtype=np.int64)
    for e in range(m):
        cnt[row[e] + 1] += 1
    for i in range(nb):
        cnt[i + 1] += cnt[i]
    order = np.empty(m, dtype=np.int64)
    cur = cnt[:-1].copy()
    for e in range(m):
        order[cur[row[e]]] = e
        cur[row[e]] += 1
    indptr = np.zeros(nb + 1, dtype=np.int64)
    indices = np.empty(m, dtype=np.int64)
    pos = np.empty(m, dtype=np.int64)
    nnz = 0
    for i in range(nb):
        a, b = cnt[i], cnt[i + 1]
        # insertion sort of this row's entries by column (rows are short)
        for x in range(a + 1, b):
            e = order[x]
            c = col[e]
            y = x - 1
            while y >= a and col[order[y]] > c:
                order[y + 1] = order[y]
                y -= 1
            order[y + 1] = e
        last = -1
        for x in range(a, b):
            e = order[x]
            c = col[e]
            if c != last:
                indices[nnz] = c
                nnz += 1
                last = c
            pos[e] = nnz - 1
        indptr[i + 1] = nnz
    return indptr, indices[:nnz].copy(), pos


@njit(cache=True, nogil=True)
def transpose_map(indptr, indices):  # pragma: no cover
    """For a CSR pattern symmetric in structure: ``tr[k]`` = position of (j, i) for entry k = (i, j)."""
    nb = indptr.shape[0] - 1
    cursor = indptr[:-1].copy()
    tr = np.empty(indices.shape[0], dtype=np.int64)
    for i in range(nb):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            tr[k] = cursor[j]
            cursor[j] += 1
    return tr


@njit(cache=True, nogil=True)
def jacobian_pattern(indptr, indices, tr, ip, iq, n):  # pragma: no cover
    """CSC pattern of the polar Jacobian (columns: angles of ``ip >= 0``, then magnitudes of ``iq >= 0``).

    Returns ``(jp, ji, jmap)``; ``jmap[4k + b]`` is the CSC position of block ``b`` of Ybus entry
    ``k`` (0 dP/dVa, 1 dP/dVm, 2 dQ/dVa, 3 dQ/dVm) or -1. Row indices are sorted within columns.
    """
    nb = indptr.shape[0] - 1
    nnz = indices.shape[0]
    jmap = np.full(4 * nnz, -1, dtype=np.int64)
    cap = 4 * nnz
    ji = np.empty(cap, dtype=np.int32)
    jp = np.zeros(n + 1, dtype=np.int32)
    pos = 0
    c = 0
    for blk in range(2):  # 0: angle columns, 1: magnitude columns
        for j in range(nb):
            if blk == 0 and ip[j] < 0:
                continue
            if blk == 1 and iq[j] < 0:
                continue
            # column j of Ybus = row j (symmetric pattern); entry (i, j) sits at tr[k'] for k' = (j, i)
            for k2 in range(indptr[j], indptr[j + 1]):
                i = indices[k2]
                if ip[i] >= 0:
                    jmap[4 * tr[k2] + blk] = pos
                    ji[pos] = ip[i]
                    pos += 1
            for k2 in range(indptr[j], indptr[j + 1]):
                i = indices[k2]
                if iq[i] >= 0:
                    jmap[4 * tr[k2] + 2 + blk] = pos
                    ji[pos] = iq[i]
                    pos += 1
            c += 1
            jp[c] = pos
    return jp, ji[:pos].copy(), jmap
