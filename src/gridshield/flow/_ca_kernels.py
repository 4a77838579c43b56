"""numba kernels of the batched AC contingency solver (:mod:`gridshield.flow.contingency`).

A *batch* holds ``m`` contingencies side by side: the state (voltage magnitude and unit phasor) is an
``(nb, m)`` row-major array whose column ``q`` belongs to contingency ``col2c[q]``, so that the
inner loops run over the contingencies of the batch (contiguous rows, vectorised) while the
network data (Ybus, the LU factors) is read once per batch instead of once per contingency.

Unknowns are ``x = (theta_0 .. theta_{nb-1}, |V|_0 .. |V|_{nb-1})`` and the equations one *P row*
(``r = i``) and one *Q row* (``r = nb + i``) per bus: a *balance* row (the power mismatch) or an
*identity* row that pins its variable (slack angle, PV magnitude, dark bus).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Angle steps (rad) up to which the rotation ``exp(-j d)`` uses its Taylor series (error < 1e-19).
_SMALL_STEP = 0.01


@njit(cache=True, nogil=True, error_model="numpy")
def lu_forward(lp, li, lx, z, m):  # pragma: no cover
    """``z <- L^-1 z`` in place for the first ``m`` columns (``z`` already row-permuted, ``Pr b``).

    ``Pr A Pc = L U`` (SuperLU's convention); ``lp/li/lx``: the strict lower part of the unit lower
    factor (CSC). Row-major ``(n, >= m)`` blocks: the inner loops run over the right-hand sides.
    """
    n = z.shape[0]
    for j in range(n):
        zj = z[j]
        for p in range(lp[j], lp[j + 1]):
            zi = z[li[p]]
            a = lx[p]
            for q in range(m):
                zi[q] -= a * zj[q]


@njit(cache=True, nogil=True, error_model="numpy")
def lu_backward(up, ui, ux, udiag_inv, z, m):  # pragma: no cover
    """``z <- U^-1 z`` in place for the first ``m`` columns (the solution is ``x[i] = z[perm_c[i]]``).

    ``up/ui/ux``: the strict upper part of ``U`` (CSC), ``udiag_inv`` its inverted diagonal.
    """
    n = z.shape[0]
    for j in range(n - 1, -1, -1):
        zj = z[j]
        d = udiag_inv[j]
        for q in range(m):
            zj[q] *= d
        for p in range(up[j], up[j + 1]):
            zi = z[ui[p]]
            a = ux[p]
            for q in range(m):
                zi[q] -= a * zj[q]


@njit(cache=True, nogil=True, error_model="numpy")
def _injection(i, col, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx, c):  # pragma: no cover
    """Post-contingency complex power injection ``S_i`` (p.u.) at column ``col``."""
    v_i = vr[i, col] + 1j * vi[i, col]
    acc = 0j
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        acc += ydata[k] * (vr[j, col] + 1j * vi[j, col])
    s = v_i * np.conj(acc)
    for p in range(rem_ptr[c], rem_ptr[c + 1]):
        kk = rem_idx[p]
        a, b = f[kk], t[kk]
        if a == i:
            s -= v_i * np.conj(yff[kk] * v_i + yft[kk] * (vr[b, col] + 1j * vi[b, col]))
        if b == i:
            s -= v_i * np.conj(ytf[kk] * (vr[a, col] + 1j * vi[a, col]) + ytt[kk] * v_i)
    return s


@njit(cache=True, nogil=True, error_model="numpy")
def _touched_rows(q, c, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx,
                  tb_ptr, tb_bus, tb_bal_p, tb_bal_q, tb_sb_r, tb_sb_i, perm_r, out):  # pragma: no cover
    """Both mismatch rows of contingency ``c``'s touched buses at column ``q``, with their post-contingency
    forms and injections (into ``out[perm_r[r], q]``)."""
    nb = indptr.shape[0] - 1
    for p in range(tb_ptr[c], tb_ptr[c + 1]):
        i = tb_bus[p]
        s = _injection(i, q, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx, c)
        out[perm_r[i], q] = s.real - tb_sb_r[p] if tb_bal_p[p] else 0.0
        out[perm_r[nb + i], q] = s.imag - tb_sb_i[p] if tb_bal_q[p] else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def entrant_mismatch(slots, col2c, base_vr, base_vi, base_f, base_desc, indptr, indices, ydata, vr, vi, f, t, yff, yft,
                     ytf, ytt, rem_ptr, rem_idx, tb_ptr, tb_bus, tb_bal_p, tb_bal_q, tb_sb_r, tb_sb_i, perm_r, out,
                     norms):  # pragma: no cover
    """Contingencies entering the columns ``slots`` at the base case: their voltages and :func:`batch_mismatch`.

    The voltages of the columns become the base case's ``base_vr + j base_vi``; there the
    mismatch is the base case's, ``base_f`` (rows in the order of ``out``, finite), except at the
    contingency's touched buses, so only those rows are evaluated: the same values as
    :func:`batch_mismatch` at a fraction of its cost. ``norms[slots]`` as there: the largest
    touched row or the largest other row, the first of ``base_desc`` (the rows by decreasing
    ``|base_f|``) that is not touched.
    """
    nb = indptr.shape[0] - 1
    ns = slots.shape[0]
    for r in range(base_vr.shape[0]):
        a = vr[r]
        b = vi[r]
        x = base_vr[r]
        y = base_vi[r]
        for e in range(ns):
            a[slots[e]] = x
            b[slots[e]] = y
    for r in range(base_f.shape[0]):
        row = out[r]
        x = base_f[r]
        for e in range(ns):
            row[slots[e]] = x
    for e in range(ns):
        q = slots[e]
        _touched_rows(q, col2c[q], indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx,
                      tb_ptr, tb_bus, tb_bal_p, tb_bal_q, tb_sb_r, tb_sb_i, perm_r, out)
    touched = np.zeros(base_f.shape[0], dtype=np.bool_)
    for e in range(ns):
        q = slots[e]
        c = col2c[q]
        best = 0.0
        finite = True
        for p in range(tb_ptr[c], tb_ptr[c + 1]):
            for r in (perm_r[tb_bus[p]], perm_r[nb + tb_bus[p]]):
                x = out[r, q]
                finite &= np.isfinite(x)
                best = max(best, abs(x))
                touched[r] = True
        for r in base_desc:
            if not touched[r]:
                best = max(best, abs(base_f[r]))
                break
        for p in range(tb_ptr[c], tb_ptr[c + 1]):
            touched[perm_r[tb_bus[p]]] = False
            touched[perm_r[nb + tb_bus[p]]] = False
        norms[q] = best if finite else np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def batch_mismatch(indptr, indices, ydata, yr, yi, vr, vi, col2c, base_bal, sb_r, sb_i,
                   f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx,
                   tb_ptr, tb_bus, tb_bal_p, tb_bal_q, tb_sb_r, tb_sb_i, perm_r, out, norms):  # pragma: no cover
    """Post-contingency mismatch at the voltages ``vr + j vi`` of every column into ``out`` (``(2 nb, m)``).

    Row ``r`` of the mismatch goes to ``out[perm_r[r]]`` (ready for :func:`lu_forward`).

    Rows take the base forms ``base_bal`` (1 balance, 0 identity) and base injections ``sb``; for
    contingency ``c = col2c[q]`` the branches ``rem_idx[rem_ptr[c]:rem_ptr[c + 1]]`` are removed
    and its *touched* buses ``tb_bus[tb_ptr[c]:tb_ptr[c + 1]]`` get their post-contingency row
    forms and injections. ``norms[q]`` is the infinity norm of ``out[:, q]`` (inf if not finite).
    """
    nb = indptr.shape[0] - 1
    m = vr.shape[1]
    # buses touched by some column: their rows enter the norms after the post-contingency forms
    marked = np.zeros(nb, dtype=np.bool_)
    for q in range(m):
        c = col2c[q]
        for p in range(tb_ptr[c], tb_ptr[c + 1]):
            marked[tb_bus[p]] = True
    ir = np.empty(m)
    ii = np.empty(m)
    nanacc = np.zeros(m)  # stays 0 unless a NaN or inf is met (x * 0 is NaN for those)
    for q in range(m):
        norms[q] = 0.0
    for i in range(nb):
        for q in range(m):
            ir[q] = 0.0
            ii[q] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            xr = vr[indices[k]]
            xi = vi[indices[k]]
            a = yr[k]
            b = yi[k]
            for q in range(m):
                ir[q] += a * xr[q] - b * xi[q]
                ii[q] += a * xi[q] + b * xr[q]
        sp = sb_r[i] if base_bal[i] else 0.0
        sq = sb_i[i] if base_bal[nb + i] else 0.0
        bp = 1.0 if base_bal[i] else 0.0
        bq = 1.0 if base_bal[nb + i] else 0.0
        op, oq, xr, xi = out[perm_r[i]], out[perm_r[nb + i]], vr[i], vi[i]
        if marked[i]:
            for q in range(m):
                op[q] = bp * (xr[q] * ir[q] + xi[q] * ii[q]) - sp
                oq[q] = bq * (xi[q] * ir[q] - xr[q] * ii[q]) - sq
        else:
            for q in range(m):
                a = bp * (xr[q] * ir[q] + xi[q] * ii[q]) - sp
                b = bq * (xi[q] * ir[q] - xr[q] * ii[q]) - sq
                op[q] = a
                oq[q] = b
                norms[q] = max(norms[q], abs(a), abs(b))
                nanacc[q] += (a + b) * 0.0
    for q in range(m):
        _touched_rows(q, col2c[q], indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx,
                      tb_ptr, tb_bus, tb_bal_p, tb_bal_q, tb_sb_r, tb_sb_i, perm_r, out)
    for i in range(nb):
        if marked[i]:
            op, oq = out[perm_r[i]], out[perm_r[nb + i]]
            for q in range(m):
                norms[q] = max(norms[q], abs(op[q]), abs(oq[q]))
                nanacc[q] += (op[q] + oq[q]) * 0.0
    for q in range(m):  # max() drops NaN
        if nanacc[q] != 0.0 or not np.isfinite(norms[q]):
            norms[q] = np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def _post_row(i, col, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, pos_ff, pos_ft, pos_tf, pos_tt,
              rem_ptr, rem_idx, c, yrow, dth, dvm):  # pragma: no cover
    """Post-contingency Jacobian rows of bus ``i`` at column ``col``: ``dS_i/dtheta_j``, ``dS_i/d|V_j|``.

    Written into ``dth``/``dvm`` (complex; real part: P row, imaginary part: Q row) in the order
    of Ybus row ``i``; ``yrow`` is scratch for the post-contingency Ybus row.
    """
    a0 = indptr[i]
    deg = indptr[i + 1] - a0
    for k in range(deg):
        yrow[k] = ydata[a0 + k]
    for p in range(rem_ptr[c], rem_ptr[c + 1]):
        kk = rem_idx[p]
        if f[kk] == i:
            yrow[pos_ff[kk] - a0] -= yff[kk]
            yrow[pos_ft[kk] - a0] -= yft[kk]
        if t[kk] == i:
            yrow[pos_tt[kk] - a0] -= ytt[kk]
            yrow[pos_tf[kk] - a0] -= ytf[kk]
    vi_ = vr[i, col] + 1j * vi[i, col]
    cur = 0j
    for k in range(deg):
        j = indices[a0 + k]
        cur += yrow[k] * (vr[j, col] + 1j * vi[j, col])
    mi = abs(vi_)
    for k in range(deg):
        j = indices[a0 + k]
        vj = vr[j, col] + 1j * vi[j, col]
        mj = abs(vj)
        yv = yrow[k] * vj
        dth[k] = -1j * vi_ * np.conj(yv)
        dvm[k] = vi_ * np.conj(yv / mj) if mj > 0 else 0j
        if j == i:
            dth[k] += 1j * vi_ * np.conj(cur)
            dvm[k] += np.conj(cur) * vi_ / mi if mi > 0 else 0j


@njit(cache=True, nogil=True, error_model="numpy")
def _small_lu(a, piv, n):  # pragma: no cover
    """LU factorisation with partial pivoting of the dense ``n x n`` block ``a`` in place; False if singular."""
    for k in range(n):
        p = k
        best = abs(a[k, k])
        for r in range(k + 1, n):
            if abs(a[r, k]) > best:
                best = abs(a[r, k])
                p = r
        piv[k] = p
        if best == 0.0 or best != best:
            return False
        if p != k:
            for c in range(n):
                tmp = a[k, c]
                a[k, c] = a[p, c]
                a[p, c] = tmp
        for r in range(k + 1, n):
            a[r, k] /= a[k, k]
            fac = a[r, k]
            if fac != 0.0:
                for c in range(k + 1, n):
                    a[r, c] -= fac * a[k, c]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _small_lu_solve(a, piv, b, n):  # pragma: no cover
    """Solve with the factors of :func:`_small_lu` in place of ``b``."""
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for k in range(n):
        for r in range(k + 1, n):
            b[r] -= a[r, k] * b[k]
    for k in range(n - 1, -1, -1):
        s = b[k]
        for c in range(k + 1, n):
            s -= a[k, c] * b[c]
        b[k] = s / a[k, k]


@njit(cache=True, nogil=True, error_model="numpy")
def etree(ptr, idx, n):  # pragma: no cover
    """Elimination tree of the strictly lower triangular pattern ``idx[ptr[j]:ptr[j + 1]]`` (rows of column
    ``j``) made symmetric (Liu's algorithm with path compression); -1 at the roots.

    The nodes reachable from ``j`` in the graph ``j -> idx[ptr[j]:ptr[j + 1]]`` all lie on the path from
    ``j`` to its root (the graph is a subgraph of the pattern's Cholesky fill, whose reach is that path).
    """
    cnt = np.zeros(n + 1, dtype=np.int64)
    for t in range(ptr[n]):
        cnt[idx[t] + 1] += 1
    for i in range(n):
        cnt[i + 1] += cnt[i]
    cols = np.empty(ptr[n], dtype=np.int64)
    fill = cnt[:n].copy()
    for j in range(n):
        for t in range(ptr[j], ptr[j + 1]):
            cols[fill[idx[t]]] = j
            fill[idx[t]] += 1
    parent = np.full(n, -1, dtype=np.int64)
    anc = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        for t in range(cnt[i], cnt[i + 1]):
            k = cols[t]
            while k != -1 and k < i:
                nxt = anc[k]
                anc[k] = i
                if nxt == -1:
                    parent[k] = i
                k = nxt
    return parent


@njit(cache=True, nogil=True, error_model="numpy")
def _paths(parent, starts, mark, out):  # pragma: no cover
    """The union of the paths from ``starts`` to their roots in the tree ``parent``, ascending, into ``out``.

    Returns their number, or -1 when ``out`` is too short. ``mark`` (all False) is restored.
    """
    cnt = 0
    for s in starts:
        j = s
        while j != -1 and not mark[j]:
            if cnt == out.shape[0]:
                for e in range(cnt):
                    mark[out[e]] = False
                return -1
            mark[j] = True
            out[cnt] = j
            cnt += 1
            j = parent[j]
    for e in range(cnt):
        mark[out[e]] = False
    if starts.shape[0] > 1:
        out[:cnt].sort()
    return cnt


@njit(cache=True, nogil=True, error_model="numpy")
def cache_rows(rows, indptr, indices, lp, li, lx, perm_r, l_parent, u_parent, perm_c, w_ptr, w_len, v_ptr, v_len,
               w_idx, w_val, v_idx, fill, mark, scratch):  # pragma: no cover
    """Sparse compensation vectors of the changed rows ``rows`` not cached yet (``w_ptr[r] < 0``).

    For row ``r``: ``W_r = L^-1 Pr e_r``, nonzero only on the path of ``perm_r[r]`` to the root of
    the elimination tree ``l_parent`` of ``L`` (fast forward, Tinney's sparse vector method), and the
    pattern of ``V = U^-T (Delta_r Pc)^T``: the paths in the elimination tree ``u_parent`` of ``U^T``
    (:func:`etree`) from the permuted columns of row ``r``'s Ybus neighbourhood (its values depend
    on ``Delta``, see :func:`compensate`). Appended to the pools
    ``w_idx``/``w_val``/``v_idx`` at ``fill = [w_used, v_used]``. Returns False when a pool is
    full (grow it and call again; rows done so far stay cached).
    """
    nb = indptr.shape[0] - 1
    maxdeg = 0
    for i in range(nb):
        if indptr[i + 1] - indptr[i] > maxdeg:
            maxdeg = indptr[i + 1] - indptr[i]
    st = np.empty(2 * maxdeg, dtype=np.int64)
    one = np.empty(1, dtype=np.int64)
    for r in rows:
        if w_ptr[r] >= 0:
            continue
        one[0] = perm_r[r]
        a = fill[0]
        k = _paths(l_parent, one, mark, w_idx[a:])
        if k < 0:
            return False
        scratch[one[0]] = 1.0
        for e in range(k):
            j = w_idx[a + e]
            xj = scratch[j]
            for t in range(lp[j], lp[j + 1]):
                scratch[li[t]] -= lx[t] * xj
        for e in range(k):
            j = w_idx[a + e]
            w_val[a + e] = scratch[j]
            scratch[j] = 0.0
        i = r if r < nb else r - nb
        mate = nb + i if r < nb else i
        if v_ptr[mate] >= 0:  # the other row of the bus: the same V pattern
            b, kv = v_ptr[mate], v_len[mate]
        else:
            n = 0
            for t in range(indptr[i], indptr[i + 1]):
                st[n] = perm_c[indices[t]]
                st[n + 1] = perm_c[nb + indices[t]]
                n += 2
            b = fill[1]
            kv = _paths(u_parent, st[:n], mark, v_idx[b:])
            if kv < 0:
                return False
            fill[1] += kv
        w_ptr[r], w_len[r], v_ptr[r], v_len[r] = a, k, b, kv
        fill[0] += k
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _add_delta(r, bal, i, a0, deg, indices, dth, dvm, j0_ptr, j0_val, perm_c, out, col):  # pragma: no cover
    """Row ``r`` (of bus ``i``) of ``Delta``, its post-contingency form (balance: ``dth``/``dvm`` of
    :func:`_post_row`; identity) minus the row of ``J0``, added into column ``col`` of ``out`` at the
    permuted columns (``perm_c``) of the angles and magnitudes of Ybus row ``i``."""
    nb = perm_c.shape[0] // 2
    b0 = j0_ptr[r]
    for k in range(deg):
        j = indices[a0 + k]
        if bal:
            dt = dth[k].real if r < nb else dth[k].imag
            dv = dvm[k].real if r < nb else dvm[k].imag
        else:
            dt = 1.0 if j == i and r < nb else 0.0
            dv = 1.0 if j == i and r >= nb else 0.0
        out[perm_c[j], col] += dt - j0_val[b0 + k]
        out[perm_c[nb + j], col] += dv - j0_val[b0 + deg + k]


@njit(cache=True, nogil=True, error_model="numpy")
def compensate(col2c, refresh, z, vr, vi, indptr, indices, ydata, f, t, yff, yft, ytf, ytt, pos_ff, pos_ft, pos_tf,
               pos_tt, rem_ptr, rem_idx, j0_ptr, j0_val, rr_ptr, rr_row, rr_bal, w_ptr, w_len, v_ptr, v_len, w_idx,
               w_val, v_idx, urp, uri, urx, udiag_inv, perm_c, vstore, cstore, pstore, scratch, pair,
               ok):  # pragma: no cover
    """Woodbury compensation in factored form, between the forward and backward substitutions.

    The iteration matrix of contingency ``c`` is ``M = J0 + E_R Delta`` with ``R`` its changed
    rows and ``Delta`` their post-contingency Jacobian rows minus the rows of ``J0`` (identity rows
    where ``rr_bal`` is 0). With ``Pr J0 Pc = L U``, ``z = L^-1 Pr F`` (column ``q`` of ``z``),
    ``W = L^-1 Pr E_R`` (cached per row, :func:`cache_rows`) and ``V = U^-T (Delta Pc)^T``:
    ``M^-1 F = Pc U^-1 (z - W w)`` with ``(I + V^T W) w = V^T z``, so ``z`` is corrected in place
    on the paths of ``W`` and the backward substitution completes the step.

    Where ``refresh[q]``, ``Delta`` is evaluated at the current iterate and ``V`` (solved on its
    cached pattern) and the factors of ``C = I + V^T W`` are stored in ``vstore``/``cstore``/
    ``pstore`` for the slot; elsewhere the stored ones are used. ``ok[q]`` is False where ``C`` is
    singular. ``scratch`` (``2 nb``) and ``pair`` (``(2 nb, 2)``: the P and Q rows of a bus, whose
    ``V`` patterns are the same, are solved together) are zero scratch, left zero.
    """
    nb = indptr.shape[0] - 1
    m = z.shape[1]
    maxdeg = 0
    for i in range(nb):
        d = indptr[i + 1] - indptr[i]
        if d > maxdeg:
            maxdeg = d
    yrow = np.empty(maxdeg, dtype=np.complex128)
    dth = np.empty(maxdeg, dtype=np.complex128)
    dvm = np.empty(maxdeg, dtype=np.complex128)
    rhs = np.empty(cstore.shape[1])
    mate = np.empty(cstore.shape[1], dtype=np.int64)
    for q in range(m):
        c = col2c[q]
        r0 = rr_ptr[c]
        nr = rr_ptr[c + 1] - r0
        if nr == 0:
            continue
        vq = vstore[q]
        cq = cstore[q]
        for p in range(nr):  # the P and Q rows of a bus share their V pattern: taken together
            mate[p] = -1
        for p in range(nr):
            for p2 in range(p + 1, nr):
                if mate[p] < 0 and mate[p2] < 0 and rr_row[r0 + p2] % nb == rr_row[r0 + p] % nb:
                    mate[p] = p2
                    mate[p2] = p
        if refresh[q]:
            for p in range(nr):
                p2 = mate[p]
                if 0 <= p2 < p:
                    continue
                r = rr_row[r0 + p]
                i = r % nb
                a0 = indptr[i]
                deg = indptr[i + 1] - a0
                if rr_bal[r0 + p] or (p2 >= 0 and rr_bal[r0 + p2]):
                    _post_row(i, q, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt,
                              pos_ff, pos_ft, pos_tf, pos_tt, rem_ptr, rem_idx, c, yrow, dth, dvm)
                _add_delta(r, rr_bal[r0 + p], i, a0, deg, indices, dth, dvm, j0_ptr, j0_val, perm_c, pair, 0)
                if p2 >= 0:
                    _add_delta(rr_row[r0 + p2], rr_bal[r0 + p2], i, a0, deg, indices, dth, dvm, j0_ptr, j0_val,
                               perm_c, pair, 1)
                # V_p (and its mate's): solve U^T v = (Delta_p Pc)^T on its pattern (ascending = topological order)
                b = v_ptr[r]
                for e in range(v_len[r]):
                    j = v_idx[b + e]
                    v1 = pair[j, 0] * udiag_inv[j]
                    v2 = pair[j, 1] * udiag_inv[j]
                    pair[j, 0] = 0.0
                    pair[j, 1] = 0.0
                    vq[p, e] = v1
                    if p2 >= 0:
                        vq[p2, e] = v2
                    for u in range(urp[j], urp[j + 1]):
                        x = urx[u]
                        pair[uri[u], 0] -= x * v1
                        pair[uri[u], 1] -= x * v2
            for p2 in range(nr):  # C = I + V^T W
                r2 = rr_row[r0 + p2]
                a = w_ptr[r2]
                for e in range(w_len[r2]):
                    scratch[w_idx[a + e]] = w_val[a + e]
                for p in range(nr):
                    mp = mate[p]
                    if 0 <= mp < p:
                        continue
                    r = rr_row[r0 + p]
                    b = v_ptr[r]
                    acc = 1.0 if p == p2 else 0.0
                    acc2 = 1.0 if mp == p2 else 0.0
                    mp = mp if mp >= 0 else p
                    for e in range(v_len[r]):
                        x = scratch[v_idx[b + e]]
                        acc += vq[p, e] * x
                        acc2 += vq[mp, e] * x
                    cq[p, p2] = acc
                    if mp != p:
                        cq[mp, p2] = acc2
                for e in range(w_len[r2]):
                    scratch[w_idx[a + e]] = 0.0
            ok[q] = _small_lu(cq, pstore[q], nr)
        if not ok[q]:
            continue
        for p in range(nr):
            mp = mate[p]
            if 0 <= mp < p:
                continue
            mp = mp if mp >= 0 else p
            r = rr_row[r0 + p]
            b = v_ptr[r]
            acc = 0.0
            acc2 = 0.0
            for e in range(v_len[r]):
                x = z[v_idx[b + e], q]
                acc += vq[p, e] * x
                acc2 += vq[mp, e] * x
            rhs[p] = acc
            rhs[mp] = acc2
        _small_lu_solve(cq, pstore[q], rhs, nr)
        for p in range(nr):
            r = rr_row[r0 + p]
            a = w_ptr[r]
            wp = rhs[p]
            for e in range(w_len[r]):
                z[w_idx[a + e], q] -= w_val[a + e] * wp


@njit(cache=True, nogil=True, error_model="numpy")
def _rotation(d):  # pragma: no cover
    """``(cos d, sin d)`` by their Taylor series (exact to rounding for ``|d| <= _SMALL_STEP``)."""
    d2 = d * d
    sn = d * (1.0 - d2 * (1.0 / 6.0) * (1.0 - d2 * (1.0 / 20.0) * (1.0 - d2 * (1.0 / 42.0))))
    cs = 1.0 - d2 * 0.5 * (1.0 - d2 * (1.0 / 12.0) * (1.0 - d2 * (1.0 / 30.0) * (1.0 - d2 * (1.0 / 56.0))))
    return cs, sn


@njit(cache=True, nogil=True, error_model="numpy")
def update_state(y, perm_c, vr, vi):  # pragma: no cover
    """``x -= dx`` for every column, ``dx[i] = y[perm_c[i]]``, on the voltages ``vr + j vi``.

    Angles and magnitudes are not stored: each voltage is scaled to its new magnitude and rotated
    by ``exp(-j dtheta)`` (Taylor series, exact to rounding up to ``_SMALL_STEP``; sin/cos beyond,
    redone on the rows that have such a step while they are in cache). A step of more than a
    radian marks the column as diverging (NaN).
    """
    nb, m = vr.shape
    for i in range(nb):
        ya, ym, vri, vii = y[perm_c[i]], y[perm_c[nb + i]], vr[i], vi[i]
        big = False
        for q in range(m):
            d = ya[q]
            a = vri[q]
            b = vii[q]
            g = 1.0 - ym[q] / max(np.sqrt(a * a + b * b), 1e-300)  # new magnitude / old (0 stays 0)
            d2 = d * d
            sn = d * (1.0 - d2 * (1.0 / 6.0) * (1.0 - d2 * (1.0 / 20.0) * (1.0 - d2 * (1.0 / 42.0))))
            cs = 1.0 - d2 * 0.5 * (1.0 - d2 * (1.0 / 12.0) * (1.0 - d2 * (1.0 / 30.0) * (1.0 - d2 * (1.0 / 56.0))))
            vri[q] = g * (a * cs + b * sn)
            vii[q] = g * (b * cs - a * sn)
            big |= abs(d) > _SMALL_STEP
        if not big:
            continue
        for q in range(m):  # rare: redo the large steps with sin/cos
            d = ya[q]
            if abs(d) <= _SMALL_STEP:
                continue
            if abs(d) > 1.0:  # a step of more than a radian: this iteration is not converging
                vri[q] = np.nan
                continue
            cs, sn = _rotation(d)
            # undo the series rotation (a division by cs - j sn), apply the exact one
            n2 = cs * cs + sn * sn
            a = (vri[q] * cs - vii[q] * sn) / n2
            b = (vii[q] * cs + vri[q] * sn) / n2
            c2, s2_ = np.cos(d), np.sin(d)
            vri[q] = a * c2 + b * s2_
            vii[q] = b * c2 - a * s2_


@njit(cache=True, nogil=True, error_model="numpy")
def monitor(cs, vr, vi, base_mva, f, t, yff, yft, ytf, ytt, watched, rem_ptr, rem_idx, dark_ptr, dark_bus,
            bus_live, rating, limit, vmin, vmax, out_ld, out_ld_k, out_nth, out_vlo, out_vlo_i, out_vhi, out_vhi_i,
            out_nlo, out_nhi):  # pragma: no cover
    """Thermal and voltage checks of the first ``len(cs)`` columns of ``vr + j vi``, column ``q`` the solution
    of contingency ``cs[q]`` (results indexed like ``cs``).

    Over the ``watched`` branches (in service, rated or limited) that are still in service after
    the contingency with both ends energised: the highest ``max(|S_from|, |S_to|) / rating`` (MVA;
    ``rating`` 0 = not rated) and its branch, and the branches whose MVA exceeds ``limit`` (0 = not
    monitored). Over energised buses: the extreme voltage magnitudes and the buses outside
    ``[vmin, vmax]``. Counts use a relative slack of 1e-9.
    """
    nb = vr.shape[0]
    nl = f.shape[0]
    md = cs.shape[0]
    # branches out / buses dark in some column: checked per column; everything else in the fast loop
    br_mark = np.zeros(nl, dtype=np.bool_)
    bus_mark = np.zeros(nb, dtype=np.bool_)
    for q in range(md):
        c = cs[q]
        for p in range(dark_ptr[c], dark_ptr[c + 1]):
            bus_mark[dark_bus[p]] = True
        for p in range(rem_ptr[c], rem_ptr[c + 1]):
            br_mark[rem_idx[p]] = True
    best = np.zeros(md)
    arg = np.full(md, -1, dtype=np.int64)
    cnt = np.zeros(md, dtype=np.int64)
    live = np.ones(md)
    for k in watched:
        a, b = f[k], t[k]
        inv2 = (base_mva / rating[k]) ** 2 if rating[k] > 0.0 else 0.0
        lim2 = (limit[k] / base_mva * (1.0 + 1e-9)) ** 2 if limit[k] > 0.0 else np.inf
        special = br_mark[k] or bus_mark[a] or bus_mark[b]
        if special:
            for q in range(md):
                c = cs[q]
                for p in range(rem_ptr[c], rem_ptr[c + 1]):
                    if rem_idx[p] == k:
                        live[q] = 0.0
                for p in range(dark_ptr[c], dark_ptr[c + 1]):
                    if dark_bus[p] == a or dark_bus[p] == b:
                        live[q] = 0.0
        ar, ai, br, bi = vr[a], vi[a], vr[b], vi[b]
        y1r, y1i, y2r, y2i = yff[k].real, yff[k].imag, yft[k].real, yft[k].imag
        y3r, y3i, y4r, y4i = ytf[k].real, ytf[k].imag, ytt[k].real, ytt[k].imag
        for q in range(md):
            xar, xai, xbr, xbi = ar[q], ai[q], br[q], bi[q]
            ifr = y1r * xar - y1i * xai + y2r * xbr - y2i * xbi
            ifi = y1r * xai + y1i * xar + y2r * xbi + y2i * xbr
            itr = y3r * xar - y3i * xai + y4r * xbr - y4i * xbi
            iti = y3r * xai + y3i * xar + y4r * xbi + y4i * xbr
            sf = (xar * xar + xai * xai) * (ifr * ifr + ifi * ifi)
            st = (xbr * xbr + xbi * xbi) * (itr * itr + iti * iti)
            s2 = (sf if sf > st else st) * live[q]
            x = s2 * inv2
            up = x > best[q]  # selects, not branches: the loop over the solutions vectorises
            best[q] = x if up else best[q]
            arg[q] = k if up else arg[q]
            cnt[q] += s2 > lim2
        if special:
            for q in range(md):
                live[q] = 1.0
    for q in range(md):
        out_ld[q] = np.sqrt(best[q])
        out_ld_k[q] = arg[q]
        out_nth[q] = cnt[q]
        out_vlo[q] = np.inf
        out_vhi[q] = -np.inf
        out_vlo_i[q] = -1
        out_vhi_i[q] = -1
        out_nlo[q] = 0
        out_nhi[q] = 0
    keep = np.ones(md, dtype=np.bool_)  # False: the bus is dark in that solution
    for i in range(nb):
        if not bus_live[i]:
            continue
        lo = vmin[i] * (1.0 - 1e-9)
        hi = vmax[i] * (1.0 + 1e-9)
        xr, xi = vr[i], vi[i]
        if bus_mark[i]:
            for q in range(md):
                c = cs[q]
                for p in range(dark_ptr[c], dark_ptr[c + 1]):
                    if dark_bus[p] == i:
                        keep[q] = False
        for q in range(md):
            v = np.sqrt(xr[q] * xr[q] + xi[q] * xi[q])
            dn = (v < out_vlo[q]) & keep[q]
            up = (v > out_vhi[q]) & keep[q]
            out_vlo[q] = v if dn else out_vlo[q]
            out_vlo_i[q] = i if dn else out_vlo_i[q]
            out_vhi[q] = v if up else out_vhi[q]
            out_vhi_i[q] = i if up else out_vhi_i[q]
            out_nlo[q] += (v < lo) & keep[q]
            out_nhi[q] += (v > hi) & keep[q]
        if bus_mark[i]:
            for q in range(md):
                keep[q] = True


@njit(cache=True, nogil=True, error_model="numpy")
def copy_columns(srcs, src_cols, dsts, dst_cols):  # pragma: no cover
    """``dst[:, dst_cols[j]] = src[:, src_cols[j]]`` for each pair of row-major arrays (row-outer loop)."""
    for k in range(len(srcs)):
        src = srcs[k]
        dst = dsts[k]
        for r in range(src.shape[0]):
            a = src[r]
            b = dst[r]
            for j in range(src_cols.shape[0]):
                b[dst_cols[j]] = a[src_cols[j]]


@njit(cache=True, nogil=True, error_model="numpy")
def q_check(cols, col2c, vr, vi, indptr, indices, ydata, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx,
            btype0, tb_ptr, tb_bus, tb_type, gbuses, gen_ptr, gen_of_bus, gon0, held0, qg0,
            go_ptr, go_gen, go_on, go_held, go_q, qmin, qmax, qd_mvar, base_mva, tol_mvar,
            out_c, out_g, out_q, out_viol):  # pragma: no cover
    """Generator Q-limit check of solved columns (MATPOWER ``pfsoln`` split, ``ENFORCE_Q_LIMS``).

    For every bus with generators that are in service and not held at a Q limit, their reactive
    output is the bus injection plus its load minus the held generators' Q, split as
    :meth:`AcSolver._gen_pq` does. Where one of them is beyond a limit (by more than
    ``tol_mvar``), every such generator at the bus is reported: ``(contingency, gen, new Q,
    violates)`` with the new Q the limit for violators and the split value for the others.
    Returns the number of rows written.
    """
    eps = np.finfo(np.float64).eps
    on = gon0.copy()
    held = held0.copy()
    qv = qg0.copy()
    btype = btype0.copy()
    cnt = 0
    gq = np.empty(gen_of_bus.shape[0])
    for q in range(cols.shape[0]):
        col = cols[q]
        c = col2c[col]
        for p in range(go_ptr[c], go_ptr[c + 1]):
            gg = go_gen[p]
            on[gg] = go_on[p]
            held[gg] = go_held[p]
            qv[gg] = go_q[p]
        for p in range(tb_ptr[c], tb_ptr[c + 1]):
            btype[tb_bus[p]] = tb_type[p]
        for i in gbuses:
            if btype[i] == 4:
                continue
            n_act = 0
            qmin_b = 0.0
            qmax_b = 0.0
            q_held = 0.0
            for p in range(gen_ptr[i], gen_ptr[i + 1]):
                gg = gen_of_bus[p]
                if on[gg]:
                    if held[gg]:
                        q_held += qv[gg]
                    else:
                        n_act += 1
                        qmin_b += qmin[gg]
                        qmax_b += qmax[gg]
            if n_act == 0:
                continue
            s = _injection(i, col, indptr, indices, ydata, vr, vi, f, t, yff, yft, ytf, ytt, rem_ptr, rem_idx, c)
            qbus = s.imag * base_mva + qd_mvar[i] - q_held
            rng = qmax_b - qmin_b
            viol = False
            for p in range(gen_ptr[i], gen_ptr[i + 1]):
                gg = gen_of_bus[p]
                if not on[gg] or held[gg]:
                    continue
                lo, hi = qmin[gg], qmax[gg]
                if n_act == 1:
                    x = qbus
                elif (qmin_b == qmax_b) or not np.isfinite(rng) or not np.isfinite(lo) or not np.isfinite(hi):
                    x = qbus / n_act
                else:
                    x = lo + (qbus - qmin_b) * ((hi - lo) / (rng + eps))
                gq[p] = x
                if x > hi + tol_mvar or x < lo - tol_mvar:
                    viol = True
            if viol:
                for p in range(gen_ptr[i], gen_ptr[i + 1]):
                    gg = gen_of_bus[p]
                    if not on[gg] or held[gg]:
                        continue
                    x = gq[p]
                    out_c[cnt] = c
                    out_g[cnt] = gg
                    if x > qmax[gg] + tol_mvar:
                        out_q[cnt] = qmax[gg]
                        out_viol[cnt] = True
                    elif x < qmin[gg] - tol_mvar:
                        out_q[cnt] = qmin[gg]
                        out_viol[cnt] = True
                    else:
                        out_q[cnt] = x
                        out_viol[cnt] = False
                    cnt += 1
        for p in range(go_ptr[c], go_ptr[c + 1]):
            gg = go_gen[p]
            on[gg] = gon0[gg]
            held[gg] = held0[gg]
            qv[gg] = qg0[gg]
        for p in range(tb_ptr[c], tb_ptr[c + 1]):
            btype[tb_bus[p]] = btype0[tb_bus[p]]
    return cnt


@njit(cache=True, nogil=True, error_model="numpy")
def dfs_tree(ptr, nbr, edge, roots, nb):  # pragma: no cover
    """Depth-first spanning forest from ``roots`` first, then any unvisited bus.

    Adjacency: bus ``i``'s neighbours ``nbr[ptr[i]:ptr[i + 1]]`` over branches ``edge[...]``.
    Returns ``(order, pre, size, parent_edge)``: the preorder, each bus's position in it, its
    subtree size and the branch to its parent (-1 at a root); the subtree of ``c`` is
    ``order[pre[c]:pre[c] + size[c]]``.
    """
    pre = np.full(nb, -1, dtype=np.int64)
    size = np.ones(nb, dtype=np.int64)
    par = np.full(nb, -1, dtype=np.int64)
    pedge = np.full(nb, -1, dtype=np.int64)
    order = np.empty(nb, dtype=np.int64)
    stack = np.empty(nb, dtype=np.int64)
    it = np.empty(nb, dtype=np.int64)
    cnt = 0
    starts = np.concatenate((roots, np.arange(nb)))
    for r in starts:
        if pre[r] >= 0:
            continue
        top = 0
        stack[0] = r
        it[r] = ptr[r]
        pre[r] = cnt
        order[cnt] = r
        cnt += 1
        while top >= 0:
            v = stack[top]
            if it[v] < ptr[v + 1]:
                w = nbr[it[v]]
                e = edge[it[v]]
                it[v] += 1
                if pre[w] < 0:
                    pre[w] = cnt
                    order[cnt] = w
                    cnt += 1
                    par[w] = v
                    pedge[w] = e
                    it[w] = ptr[w]
                    top += 1
                    stack[top] = w
            else:
                top -= 1
                if par[v] >= 0:
                    size[par[v]] += size[v]
    return order, pre, size, pedge


@njit(cache=True, nogil=True, error_model="numpy")
def tree_bridges(ptr, nbr, edge, order, pre, pedge, f, t, nl):  # pragma: no cover
    """Branches whose loss alone splits their island (graph bridges; parallel branches never are), from the
    depth-first forest of :func:`dfs_tree` over the same adjacency: the branch to a bus's parent is a
    bridge when no other branch from the bus's subtree reaches above the bus (Tarjan's low-link)."""
    nb = pre.shape[0]
    low = pre.copy()
    out = np.zeros(nl, dtype=np.bool_)
    for x in range(nb - 1, -1, -1):  # children before parents
        v = order[x]
        for p in range(ptr[v], ptr[v + 1]):
            if edge[p] != pedge[v]:
                low[v] = min(low[v], pre[nbr[p]])
        e = pedge[v]
        if e >= 0:
            out[e] = low[v] >= pre[v]
            u = f[e] if t[e] == v else t[e]
            low[u] = min(low[u], low[v])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def classify(norms, col2c, dummy, it, prev, best, tol, max_iter, conv, bad):  # pragma: no cover
    """Per slot: converged (``norms < tol``) or to hand to Newton-Raphson (diverging, not contracting
    (rate >= 0.9), or too slow: at the rate observed since the last iteration, more than
    ``max_iter`` iterations in all).
    Updates the per-outage ``prev``/``best`` norms."""
    for q in range(norms.shape[0]):
        c = col2c[q]
        conv[q] = False
        bad[q] = False
        if c == dummy:
            continue
        nrm = norms[q]
        if nrm < tol:
            conv[q] = True
        elif not np.isfinite(nrm) or nrm > 1e8 or nrm > 1e3 * best[c]:
            bad[q] = True
        elif it[c] >= max_iter:
            bad[q] = True
        elif it[c] >= 3:
            rho = nrm / prev[c]
            if rho >= 0.9 or it[c] + np.log(tol / nrm) / np.log(rho) > max_iter:
                bad[q] = True
        if nrm < best[c]:
            best[c] = nrm
        prev[c] = nrm


@njit(cache=True, nogil=True, error_model="numpy")
def bridge_outages(ks, f, t, t_order, t_pre, t_size, t_pedge, gen_ptr, gen_of_bus, gen_bus, gon, held, p_max,
                   btype0, energised0, bal0, sb_r, sb_i, pd_bus, inv, ref, pv, pq, dark_type, status, islanded,
                   key, tb_ptr, tb_bus, tb_type, tb_sb_r, tb_sb_i, rr_ptr, rr_row, rr_bal, dk_ptr, dk_bus):  # pragma: no cover
    """Outage data of single bridge outages ``ks`` (in-service branches whose loss splits an island).

    The part cut off is the subtree of the bridge's child in the spanning forest ``t_*``
    (:func:`dfs_tree`, rooted at the slack buses). Without a generator in service it goes dark
    (bus type ``dark_type``); else, if it holds no slack bus, the bus of its largest generator by
    ``p_max`` (the first of equals) becomes its slack, or, where a generator there is held at a Q
    limit, the first PV bus of the part (ascending); none: the outage is infeasible.

    Per outage ``e``: ``status[e]`` (0 solvable, 1 no generation left, 2 Q limits infeasible), the
    load ``islanded[e]`` (MW) and list of its buses energised before and dark after, and for
    status 0 the compensation data over the cut-off part and the bridge's other end (buses ascending): the
    touched buses (a removed branch's end, or a new type) with their new types and injections
    (``sb_r + j sb_i``: the scheduled injections, 0 where dark), the changed Jacobian rows (P rows,
    then Q rows; ``bal0`` the base forms) with their new forms, and ``key`` the smallest kernel position (``inv``) of a touched bus. Ragged outputs are written at
    ``*_ptr[e]:*_ptr[e + 1]`` (the data arrays sized for the worst case by the caller).
    """
    nb = btype0.shape[0]
    n_energised = 0
    for i in range(nb):
        n_energised += energised0[i]
    bt = btype0.copy()
    live = energised0.copy()
    cand = np.empty(nb, dtype=np.int64)
    ptb = 0
    prr = 0
    pdk = 0
    tb_ptr[0] = 0
    rr_ptr[0] = 0
    dk_ptr[0] = 0
    for e in range(ks.shape[0]):
        k = ks[e]
        a, b = f[k], t[k]
        c, up = (a, b) if t_pedge[a] == k else (b, a)
        s0 = t_pre[c]
        nc = t_size[c]
        for j in range(nc):
            cand[j] = t_order[s0 + j]
        cand[:nc].sort()
        # generators in service in the cut-off part: the first of the largest p_max, in generator order
        best = -1
        gen_live = 0
        has_ref = False
        e_cut = 0
        for j in range(nc):
            i = cand[j]
            has_ref |= btype0[i] == ref
            e_cut += energised0[i]
            for p in range(gen_ptr[i], gen_ptr[i + 1]):
                g = gen_of_bus[p]
                if gon[g]:
                    gen_live += 1
                    if best < 0 or p_max[g] > p_max[best] or (p_max[g] == p_max[best] and g < best):
                        best = g
        st = 0
        if gen_live == 0:
            for j in range(nc):
                bt[cand[j]] = dark_type
                live[cand[j]] = False
            if n_energised - e_cut == 0:
                st = 1
        elif not has_ref:
            slack = gen_bus[best]
            bt[slack] = ref
            for p in range(gen_ptr[slack], gen_ptr[slack + 1]):
                g = gen_of_bus[p]
                if held[g] and gon[g]:  # held at a Q limit: the first PV bus takes over
                    bt[slack] = pq
                    st = 2
                    for j in range(nc):
                        if bt[cand[j]] == pv:
                            bt[cand[j]] = ref
                            st = 0
                            break
                    break
        # the cut-off part and its parent, ascending
        pos = nc
        while pos > 0 and cand[pos - 1] > up:
            cand[pos] = cand[pos - 1]
            pos -= 1
        cand[pos] = up
        m = nc + 1
        mw = 0.0
        for j in range(m):
            i = cand[j]
            if energised0[i] and not live[i]:
                mw += pd_bus[i]
        islanded[e] = mw
        status[e] = st
        kmin = nb
        if st == 0:
            for j in range(m):
                i = cand[j]
                btj = bt[i]
                bp = btj == pq or btj == pv
                bq = btj == pq
                sr = 0.0 if btj == dark_type else sb_r[i]
                si = 0.0 if btj == dark_type else sb_i[i]
                inc = i == a or i == b
                if inc or btj != btype0[i] or (bp and sr != sb_r[i]) or (bq and si != sb_i[i]):
                    tb_bus[ptb] = i
                    tb_type[ptb] = btj
                    tb_sb_r[ptb] = sr
                    tb_sb_i[ptb] = si
                    ptb += 1
                    kmin = min(kmin, inv[i])
                if (bp and inc) or bp != bal0[i]:
                    rr_row[prr] = i
                    rr_bal[prr] = bp
                    prr += 1
            for j in range(m):
                i = cand[j]
                btj = bt[i]
                bq = btj == pq
                if (bq and (i == a or i == b)) or bq != bal0[nb + i]:
                    rr_row[prr] = nb + i
                    rr_bal[prr] = bq
                    prr += 1
        for j in range(m):
            i = cand[j]
            if energised0[i] and not live[i]:
                dk_bus[pdk] = i
                pdk += 1
        key[e] = kmin if kmin < nb else 0
        tb_ptr[e + 1] = ptb
        rr_ptr[e + 1] = prr
        dk_ptr[e + 1] = pdk
        for j in range(m):  # back to the base state
            bt[cand[j]] = btype0[cand[j]]
            live[cand[j]] = energised0[cand[j]]
