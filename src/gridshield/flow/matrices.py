"""Network matrices: the AC admittance matrix and the DC susceptance matrices.

Conventions follow MATPOWER (``makeYbus``, ``makeBdc``): branch pi model with the tap on the
from side, out-of-service branches contribute nothing, shunts in MW/MVAr at 1 p.u. voltage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from gridshield.errors import GridValidationError
from gridshield.grid.model import Grid

DcConvention = Literal["matpower", "lossless"]
DC_CONVENTIONS = ("matpower", "lossless")


@dataclass(frozen=True)
class BranchAdmittance:
    """Per-branch pi-model entries: I_f = yff V_f + yft V_t, I_t = ytf V_f + ytt V_t (p.u.)."""

    yff: np.ndarray
    yft: np.ndarray
    ytf: np.ndarray
    ytt: np.ndarray


def branch_admittance(grid: Grid, in_service: np.ndarray | None = None) -> BranchAdmittance:
    """The pi-model admittances of every branch (zero for branches out of service)."""
    br = grid.branches
    on = br.in_service if in_service is None else in_service
    z = br.r_pu + 1j * br.x_pu
    if np.any(on & (z == 0)):
        k = int(np.flatnonzero(on & (z == 0))[0])
        raise GridValidationError(f"{br.id[k]} has zero impedance (r = x = 0); give it a small reactance")
    with np.errstate(divide="ignore", invalid="ignore"):
        ys = np.where(on, 1.0 / np.where(z == 0, 1.0, z), 0.0)
    return pi_admittance(ys, np.where(on, br.b_pu, 0.0), end_shunts(grid, on), br.ratio, np.deg2rad(br.shift_deg))


def end_shunts(grid: Grid, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complex shunt admittance at the from and the to end of each branch (p.u., 0 when off)."""
    br = grid.branches
    return np.where(on, br.g_from_pu + 1j * br.b_from_pu, 0.0), np.where(on, br.g_to_pu + 1j * br.b_to_pu, 0.0)


def pi_admittance(
    ys: np.ndarray, bc: np.ndarray, ends: tuple[np.ndarray, np.ndarray], ratio: np.ndarray, shift_rad: np.ndarray
) -> BranchAdmittance:
    """The pi model: series ``ys``, charging ``bc`` split in halves plus the end shunts, tap at the from end."""
    tap = ratio * np.exp(1j * shift_rad)
    ytt = ys + 0.5j * bc + ends[1]
    yff = (ys + 0.5j * bc + ends[0]) / (tap * np.conj(tap))
    yft = -ys / np.conj(tap)
    ytf = -ys / tap
    return BranchAdmittance(yff=yff, yft=yft, ytf=ytf, ytt=ytt)


def bus_shunt_pu(grid: Grid) -> np.ndarray:
    """Complex shunt admittance per bus in p.u. (G + jB from the shunt table, in service only)."""
    sh = grid.shunts
    nb = len(grid.buses)
    on = sh.in_service
    g = np.bincount(sh.bus[on], weights=sh.g_mw[on], minlength=nb)
    b = np.bincount(sh.bus[on], weights=sh.b_mvar[on], minlength=nb)
    return (g + 1j * b) / grid.base_mva


def make_ybus(grid: Grid, in_service: np.ndarray | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """``(Ybus, Yf, Yt)`` as in MATPOWER's ``makeYbus`` (CSR, p.u.)."""
    nb, nl = len(grid.buses), len(grid.branches)
    a = branch_admittance(grid, in_service)
    f, t = grid.branches.from_bus, grid.branches.to_bus
    rows = np.r_[np.arange(nl), np.arange(nl)]
    yf = sp.csr_matrix((np.r_[a.yff, a.yft], (rows, np.r_[f, t])), shape=(nl, nb))
    yt = sp.csr_matrix((np.r_[a.ytf, a.ytt], (rows, np.r_[f, t])), shape=(nl, nb))
    cf = sp.csr_matrix((np.ones(nl), (np.arange(nl), f)), shape=(nl, nb))
    ct = sp.csr_matrix((np.ones(nl), (np.arange(nl), t)), shape=(nl, nb))
    ybus = (cf.T @ yf + ct.T @ yt + sp.diags(bus_shunt_pu(grid))).tocsr()
    return ybus, yf, yt


def dc_susceptance(
    grid: Grid, convention: DcConvention = "matpower", in_service: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-branch DC susceptance ``b`` (p.u., 0 when out of service) and phase shift (rad).

    ``"matpower"``: b = 1 / (x * tap), shifts included (MATPOWER ``makeBdc``).
    ``"lossless"``: b = x / (r^2 + x^2), taps and shifts ignored (PowerModels' DC model).
    """
    br = grid.branches
    on = br.in_service if in_service is None else in_service
    if convention == "matpower":
        if np.any(on & (br.x_pu == 0)):
            k = int(np.flatnonzero(on & (br.x_pu == 0))[0])
            raise GridValidationError(f"{br.id[k]} has x = 0, so its DC susceptance is undefined; give it a reactance")
        with np.errstate(divide="ignore"):
            b = np.where(on, 1.0 / np.where(br.x_pu == 0, 1.0, br.x_pu * br.ratio), 0.0)
        shift = np.where(on, np.deg2rad(br.shift_deg), 0.0)
    elif convention == "lossless":
        den = br.r_pu**2 + br.x_pu**2
        if np.any(on & (den == 0)):
            k = int(np.flatnonzero(on & (den == 0))[0])
            raise GridValidationError(f"{br.id[k]} has zero impedance; give it a reactance")
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(on, br.x_pu / np.where(den == 0, 1.0, den), 0.0)
        shift = np.zeros(len(br))
    else:
        raise GridValidationError(f"unknown DC convention {convention!r}; use one of {DC_CONVENTIONS}")
    return b, shift


@dataclass(frozen=True)
class DcMatrices:
    """``Bbus`` (nb x nb), ``Bf`` (nl x nb) and the injections caused by phase shifters (p.u.)."""

    bbus: sp.csc_matrix
    bf: sp.csr_matrix
    pbus_shift: np.ndarray
    pf_shift: np.ndarray
    b: np.ndarray


def make_bdc(grid: Grid, convention: DcConvention = "matpower", in_service: np.ndarray | None = None) -> DcMatrices:
    """DC matrices as in MATPOWER's ``makeBdc``: Pf = Bf @ theta + pf_shift, P = Bbus @ theta + pbus_shift."""
    nb, nl = len(grid.buses), len(grid.branches)
    b, shift = dc_susceptance(grid, convention, in_service)
    f, t = grid.branches.from_bus, grid.branches.to_bus
    rows = np.r_[np.arange(nl), np.arange(nl)]
    bf = sp.csr_matrix((np.r_[b, -b], (rows, np.r_[f, t])), shape=(nl, nb))
    cft = sp.csr_matrix((np.r_[np.ones(nl), -np.ones(nl)], (rows, np.r_[f, t])), shape=(nl, nb))
    bbus = (cft.T @ bf).tocsc()
    pf_shift = -b * shift
    pbus_shift = cft.T @ pf_shift
    return DcMatrices(bbus=bbus, bf=bf, pbus_shift=pbus_shift, pf_shift=pf_shift, b=b)


__all__ = [
    "DC_CONVENTIONS",
    "BranchAdmittance",
    "DcConvention",
    "DcMatrices",
    "branch_admittance",
    "bus_shunt_pu",
    "end_shunts",
    "pi_admittance",
    "dc_susceptance",
    "make_bdc",
    "make_ybus",
]
