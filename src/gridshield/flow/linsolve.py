"""Sparse LU with a fixed sparsity pattern: symbolic analysis once, numeric refactorisation per solve.

Newton-Raphson power flow factorises a Jacobian whose *pattern* never changes between iterations
(and between outages that keep the bus types), so the ordering and symbolic analysis are done
once and each iteration only refactorises the values. Backends, fastest first:

``"klu"``
    SuiteSparse KLU (Davis & Palamadai Natarajan 2010), called through ``ctypes`` on the shared
    library that the optional ``kvxopt`` wheel ships (``pip install gridshield[klu]``): analyse
    (BTF + AMD) once, ``klu_refactor`` (same pivot sequence) per iteration, falling back to a fresh
    ``klu_factor`` when the reciprocal pivot ratio says the old pivots went bad. No copies: the
    CSC arrays are handed to C as they are.
``"kvxopt"``
    The same KLU through kvxopt's Python API (``klu.symbolic``/``klu.numeric``/``klu.solve``);
    costs a copy of the values into a ``kvxopt.spmatrix`` per factorisation.
``"scipy"``
    SciPy's SuperLU (``splu``) with the COLAMD column order of the first factorisation kept and
    reused (``permc_spec="NATURAL"`` on the permuted matrix). Always available.

``"auto"`` picks the first that loads. Measured on the Newton Jacobian of case9241pegase
(see docs/performance.md): ``klu`` is the fastest and is the default.
"""

from __future__ import annotations

import ctypes
import glob
import os
from functools import lru_cache

import numpy as np

from gridshield.errors import GridshieldError

BACKENDS = ("auto", "klu", "kvxopt", "scipy")


class SingularMatrixError(GridshieldError):
    """The matrix is (numerically) singular: no LU factorisation exists."""


# --------------------------------------------------------------------------------------------
# KLU through ctypes on the library bundled with kvxopt
# --------------------------------------------------------------------------------------------
class _KluCommon(ctypes.Structure):
    # klu_common of KLU 1.3 (SuiteSparse 4.x/5.x), the version the kvxopt wheel bundles.
    _fields_ = [
        ("tol", ctypes.c_double),
        ("memgrow", ctypes.c_double),
        ("initmem_amd", ctypes.c_double),
        ("initmem", ctypes.c_double),
        ("maxwork", ctypes.c_double),
        ("btf", ctypes.c_int),
        ("ordering", ctypes.c_int),
        ("scale", ctypes.c_int),
        ("user_order", ctypes.c_void_p),
        ("user_data", ctypes.c_void_p),
        ("halt_if_singular", ctypes.c_int),
        ("status", ctypes.c_int),
        ("nrealloc", ctypes.c_int),
        ("structural_rank", ctypes.c_int),
        ("numerical_rank", ctypes.c_int),
        ("singular_col", ctypes.c_int),
        ("noffdiag", ctypes.c_int),
        ("flops", ctypes.c_double),
        ("rcond", ctypes.c_double),
        ("condest", ctypes.c_double),
        ("rgrowth", ctypes.c_double),
        ("work", ctypes.c_double),
        ("memusage", ctypes.c_size_t),
        ("mempeak", ctypes.c_size_t),
        ("_pad", ctypes.c_char * 256),  # room in case the library's struct is longer
    ]


_P = ctypes.c_void_p
_IP = ctypes.POINTER(ctypes.c_int)
_DP = ctypes.POINTER(ctypes.c_double)
_CP = ctypes.POINTER(_KluCommon)


@lru_cache(maxsize=1)
def _klu_lib() -> ctypes.CDLL | None:
    """The KLU shared library shipped in the kvxopt wheel, or ``None``."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("kvxopt")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = list(spec.submodule_search_locations)[0]
    cands = sorted(glob.glob(os.path.join(os.path.dirname(pkg), "kvxopt.libs", "libklu*.so*")))
    cands += sorted(glob.glob(os.path.join(pkg, "**", "libklu*"), recursive=True))
    for path in cands:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        try:
            lib.klu_defaults.argtypes = [_CP]
            lib.klu_defaults.restype = ctypes.c_int
            lib.klu_analyze.argtypes = [ctypes.c_int, _IP, _IP, _CP]
            lib.klu_analyze.restype = _P
            lib.klu_factor.argtypes = [_IP, _IP, _DP, _P, _CP]
            lib.klu_factor.restype = _P
            lib.klu_refactor.argtypes = [_IP, _IP, _DP, _P, _P, _CP]
            lib.klu_refactor.restype = ctypes.c_int
            lib.klu_solve.argtypes = [_P, _P, ctypes.c_int, ctypes.c_int, _DP, _CP]
            lib.klu_solve.restype = ctypes.c_int
            lib.klu_rcond.argtypes = [_P, _P, _CP]
            lib.klu_rcond.restype = ctypes.c_int
            lib.klu_free_symbolic.argtypes = [ctypes.POINTER(_P), _CP]
            lib.klu_free_numeric.argtypes = [ctypes.POINTER(_P), _CP]
        except AttributeError:
            continue
        return lib
    return None


def _free_klu(lib: ctypes.CDLL, common: _KluCommon, sym: _P, num: _P) -> None:
    if num.value:
        lib.klu_free_numeric(ctypes.byref(num), ctypes.byref(common))
    if sym.value:
        lib.klu_free_symbolic(ctypes.byref(sym), ctypes.byref(common))


class _KluCtypes:
    name = "klu"

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray) -> None:
        import weakref

        lib = _klu_lib()
        if lib is None:
            raise ImportError("KLU shared library not found (pip install kvxopt)")
        self.lib = lib
        self.n = n
        self.ap = np.ascontiguousarray(indptr, dtype=np.intc)
        self.ai = np.ascontiguousarray(indices, dtype=np.intc)
        self.common = _KluCommon()
        lib.klu_defaults(ctypes.byref(self.common))
        self._ap_p = self.ap.ctypes.data_as(_IP)
        self._ai_p = self.ai.ctypes.data_as(_IP)
        self.sym = _P(lib.klu_analyze(n, self._ap_p, self._ai_p, ctypes.byref(self.common)))
        if not self.sym.value:
            raise SingularMatrixError(f"KLU analysis failed (status {self.common.status})")
        self.num = _P(None)
        self._data: np.ndarray | None = None
        self._fin = weakref.finalize(self, _free_klu, lib, self.common, self.sym, self.num)

    def factor(self, data: np.ndarray) -> None:
        lib, c = self.lib, self.common
        data = np.ascontiguousarray(data, dtype=np.float64)
        self._data = data  # keep alive while C uses it
        xp = data.ctypes.data_as(_DP)
        if self.num.value:
            ok = lib.klu_refactor(self._ap_p, self._ai_p, xp, self.sym, self.num, ctypes.byref(c))
            if ok and c.status == 0:
                lib.klu_rcond(self.sym, self.num, ctypes.byref(c))
                if c.rcond > 1e-10:
                    return
            lib.klu_free_numeric(ctypes.byref(self.num), ctypes.byref(c))
        num = lib.klu_factor(self._ap_p, self._ai_p, xp, self.sym, ctypes.byref(c))
        if not num or c.status != 0:
            if num:
                tmp = _P(num)
                lib.klu_free_numeric(ctypes.byref(tmp), ctypes.byref(c))
            raise SingularMatrixError(f"singular matrix (KLU status {c.status}, column {c.singular_col})")
        self.num.value = num

    def solve(self, b: np.ndarray) -> np.ndarray:
        x = np.array(b, dtype=np.float64, copy=True)
        ok = self.lib.klu_solve(self.sym, self.num, self.n, 1, x.ctypes.data_as(_DP), ctypes.byref(self.common))
        if not ok:
            raise SingularMatrixError(f"KLU solve failed (status {self.common.status})")
        return x


class _KluKvxopt:
    name = "kvxopt"

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray) -> None:
        from kvxopt import klu, spmatrix

        self.klu = klu
        self.n = n
        cols = np.repeat(np.arange(n), np.diff(indptr))
        self.rows, self.cols = np.asarray(indices, dtype=np.int64), cols
        self.mat = spmatrix(np.ones(indices.size), self.rows, self.cols, (n, n))
        # kvxopt keeps CCS sorted by row within columns; our pattern is sorted the same way
        self.sym = klu.symbolic(self.mat)
        self.num = None

    def factor(self, data: np.ndarray) -> None:
        self.mat.ipset(np.asarray(data, dtype=np.float64), self.rows, self.cols)
        try:
            self.num = self.klu.numeric(self.mat, self.sym)
        except ArithmeticError as exc:
            raise SingularMatrixError(f"singular matrix ({exc})") from None

    def solve(self, b: np.ndarray) -> np.ndarray:
        from kvxopt import matrix

        x = matrix(np.asarray(b, dtype=np.float64))
        self.klu.solve(self.mat, self.sym, self.num, x)
        return np.asarray(x).ravel()


class _SuperLU:
    name = "scipy"

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray) -> None:
        self.n, self.indptr, self.indices = n, indptr, indices
        self.perm: np.ndarray | None = None
        self.lu = None

    def factor(self, data: np.ndarray) -> None:
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        a = sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))
        try:
            if self.perm is None:
                self.lu = splu(a, permc_spec="COLAMD")
                self.perm = np.asarray(self.lu.perm_c)
                self.inv = np.empty_like(self.perm)
                self.inv[self.perm] = np.arange(self.n)
                self._natural = False
            else:
                self.lu = splu(a[:, self.inv], permc_spec="NATURAL")
                self._natural = True
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise SingularMatrixError(f"singular matrix ({exc})") from None

    def solve(self, b: np.ndarray) -> np.ndarray:
        y = self.lu.solve(np.asarray(b, dtype=np.float64))
        if self._natural:  # solved (A P) y = b, x = P y
            x = np.empty_like(y)
            x[self.inv] = y
            return x
        return y


def available_backends() -> list[str]:
    """The backends that load on this machine, fastest first."""
    out = []
    if _klu_lib() is not None:
        out.append("klu")
    try:
        import kvxopt.klu  # noqa: F401

        out.append("kvxopt")
    except ImportError:
        pass
    out.append("scipy")
    return out


def sparse_lu(n: int, indptr: np.ndarray, indices: np.ndarray, backend: str = "auto"):
    """An LU object for the square CSC pattern ``(indptr, indices)`` (row indices sorted per column).

    The object has ``factor(data)`` (raises :class:`SingularMatrixError`) and ``solve(b) -> x``;
    ``name`` says which backend it is.
    """
    if backend not in BACKENDS:
        raise GridshieldError(f"unknown linear solver {backend!r}; use one of {BACKENDS}")
    order = available_backends() if backend == "auto" else [backend]
    last: Exception | None = None
    for name in order:
        cls = {"klu": _KluCtypes, "kvxopt": _KluKvxopt, "scipy": _SuperLU}[name]
        try:
            return cls(n, indptr, indices)
        except ImportError as exc:
            last = exc
    raise GridshieldError(f"linear solver {backend!r} is not available ({last}); pip install gridshield[klu]")


__all__ = ["BACKENDS", "SingularMatrixError", "available_backends", "sparse_lu"]
