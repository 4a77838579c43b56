"""Building cool-down after heat is lost: a first-order (RC) model per building class.

Indoor temperature relaxes toward the outdoor temperature::

    T(t) = T_out + (T0 - T_out) * exp(-t / tau)

(DOMAIN.md section 4: "model cooling as a first-order RC"). For an hourly outdoor series the
ODE ``dT/dt = (T_out(t) - T) / tau`` is integrated *exactly* per one-hour step with ``T_out``
constant inside the step, so a constant series gives the closed form at every hour.

Time constants (``tau``, hours) per building class, calibrated to the public figures collected in
``DOMAIN.md`` section 4, from an indoor start of 20 °C:

``panel``
    1950s-80s large-panel apartment blocks, the bulk of a post-Soviet city's stock. They "hold
    about +10 °C for 2-4 days" at about -10 °C (inkorr.com). ``tau = 72 h / ln(30/20) = 178 h``
    puts the +10 °C crossing at 3.0 days at -10 °C (2-4 days <=> tau 118-237 h).
``uninsulated``
    uninsulated (old brick / light) buildings: "after 2 days at -12 °C uninsulated 4 °C"
    (baumit.com). ``tau = 48 h / ln(32/16) = 69 h``.
``masonry_insulated``
    insulated masonry: "after 2 days at -12 °C ... insulated masonry 15-17 °C" (baumit.com).
    ``tau = 48 h / ln(32/28) = 359 h`` gives 16 °C (15-17 °C <=> tau 282-488 h).
``house``
    typical single-family houses "stay warm 8-12 h" and lose "1-3 °F/h insulated ... at a 40 °F
    gap" (itishouse; storm-prep). ``tau = 25 h`` reaches +10 °C after 10.1 h at -10 °C, and its
    initial rate at a 40 °F (22.2 K) gap is 0.89 K/h = 1.6 °F/h.

Thresholds: 12 °C (cold; below the wartime 16 °C minimum setpoint, ukranews 887627) and 5 °C
(drain risk: "drainage is needed once network water nears +5 °C", inkorr.com).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gridshield.errors import GridshieldError

#: Building classes and their cool-down time constants in hours (see the module docstring).
BUILDING_TAU_H: dict[str, float] = {
    "panel": 72.0 / math.log(30.0 / 20.0),
    "uninsulated": 48.0 / math.log(32.0 / 16.0),
    "masonry_insulated": 48.0 / math.log(32.0 / 28.0),
    "house": 25.0,
}
BUILDING_CLASSES: tuple[str, ...] = tuple(BUILDING_TAU_H)

#: Indoor temperature when heat is lost (°C); normal heating-season indoor temperature.
INDOOR_START_C = 20.0
#: "Cold" threshold (°C) and the drain-risk threshold (°C), see the module docstring.
COLD_C = 12.0
DRAIN_C = 5.0


def indoor_temperature(t_h, tau_h: float, outdoor_c: float, start_c: float = INDOOR_START_C):
    """Closed form ``T(t) = T_out + (T0 - T_out) exp(-t/tau)`` (°C) at times ``t_h`` (hours)."""
    t = np.asarray(t_h, dtype=float)
    return outdoor_c + (start_c - outdoor_c) * np.exp(-t / tau_h)


def hours_to(threshold_c: float, tau_h: float, outdoor_c: float, start_c: float = INDOOR_START_C) -> float:
    """Hours until the indoor temperature falls below ``threshold_c`` at constant outdoor temperature.

    ``0`` if it is already at or below the threshold, ``inf`` if the outdoor temperature is not
    below the threshold (the building never gets that cold).
    """
    if start_c <= threshold_c:
        return 0.0
    if outdoor_c >= threshold_c:
        return math.inf
    return tau_h * math.log((start_c - outdoor_c) / (threshold_c - outdoor_c))


def _as_series(outdoor_c: float | Sequence[float] | np.ndarray, hours: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(outdoor_c, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise GridshieldError("temperature: give a number (°C) or a 1-D hourly series of °C values")
    if not np.all(np.isfinite(arr)):
        raise GridshieldError("temperature: the hourly series contains NaN/inf; give finite °C values")
    if arr.size == 1:
        return np.full(hours, float(arr[0]))
    if arr.size < hours:
        raise GridshieldError(
            f"temperature: the hourly series has {arr.size} values but {hours} hours were asked; "
            "give at least one value per hour (or pass a single number)"
        )
    return arr[:hours]


def simulate(
    tau_h: np.ndarray | Sequence[float],
    outdoor_c: float | Sequence[float] | np.ndarray,
    hours: int,
    start_c: float | np.ndarray = INDOOR_START_C,
    off_from_h: np.ndarray | Sequence[float] | None = None,
) -> np.ndarray:
    """Hourly indoor temperatures, shape ``(hours + 1, n)``, row k = time k hours.

    Parameters
    ----------
    tau_h
        Time constant (hours) per building group, shape ``(n,)``.
    outdoor_c
        Outdoor temperature (°C): a number, or an hourly series (value k holds for hour [k, k+1)).
    hours
        Horizon in hours.
    start_c
        Indoor temperature while heated (°C).
    off_from_h
        Per group, the whole hour at which heat is lost (``inf`` = never); default 0 for all.

    Each one-hour step is the exact solution of ``dT/dt = (T_out - T)/tau`` with ``T_out``
    constant in the step: ``T_{k+1} = T_out,k + (T_k - T_out,k) exp(-1/tau)``.
    """
    tau = np.atleast_1d(np.asarray(tau_h, dtype=float))
    if np.any(~(tau > 0)):
        raise GridshieldError("building time constants must be positive hours")
    out = _as_series(outdoor_c, hours)
    n = tau.size
    off = np.zeros(n) if off_from_h is None else np.asarray(off_from_h, dtype=float)
    decay = np.exp(-1.0 / tau)
    temps = np.empty((hours + 1, n))
    cur = np.broadcast_to(np.asarray(start_c, dtype=float), (n,)).astype(float)
    heated = cur.copy()
    temps[0] = cur
    for k in range(hours):
        cooling = off <= k
        nxt = out[k] + (cur - out[k]) * decay
        cur = np.where(cooling, nxt, heated)
        temps[k + 1] = cur
    return temps


def crossing_hours(
    tau_h: np.ndarray | Sequence[float],
    outdoor_c: float | Sequence[float] | np.ndarray,
    hours: int,
    threshold_c: float,
    start_c: float = INDOOR_START_C,
) -> np.ndarray:
    """Hours (fractional, exact inside the hour) until each group falls below ``threshold_c``.

    Heat is lost at time 0; ``inf`` where the threshold is not crossed within ``hours``.
    """
    tau = np.atleast_1d(np.asarray(tau_h, dtype=float))
    out = _as_series(outdoor_c, hours)
    temps = simulate(tau, out, hours, start_c)
    res = np.full(tau.size, np.inf)
    if start_c <= threshold_c:
        return np.zeros(tau.size)
    for j in range(tau.size):
        below = np.flatnonzero(temps[1:, j] < threshold_c)
        if below.size == 0:
            continue
        k = int(below[0])  # crossing inside hour [k, k+1)
        tk, tout = temps[k, j], out[k]
        # T(s) = tout + (tk - tout) exp(-s/tau) = threshold  =>  s = tau ln((tk - tout)/(thr - tout))
        s = tau[j] * math.log((tk - tout) / (threshold_c - tout))
        res[j] = k + min(max(s, 0.0), 1.0)
    return res


__all__ = [
    "BUILDING_CLASSES",
    "BUILDING_TAU_H",
    "COLD_C",
    "DRAIN_C",
    "INDOOR_START_C",
    "crossing_hours",
    "hours_to",
    "indoor_temperature",
    "simulate",
]
