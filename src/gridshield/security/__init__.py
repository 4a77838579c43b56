"""Security: N-1 / N-k screening, worst-case strikes, criticality ranking, protection planning.

* :func:`worst_case` — the k assets whose loss sheds the most load (Salmeron–Wood–Baldick DC
  interdiction MILP, brute force, or greedy + local search).
* :func:`screen_n1` — N-1 over branches, generators and sites (DC via LODF in chunks, islanding
  outages through load shedding, optional AC verification).
* :func:`ac_security` — AC contingency analysis of branches, generators, sites and site pairs
  (every contingency solved by compensation on the base LU; thermal and voltage checks).
* :func:`rank_assets` — criticality ranking.
* :func:`plan_protection` — defender–attacker–defender protection planning.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "worst_case": "gridshield.security.nk",
    "WorstCaseResult": "gridshield.security.nk",
    "ShedModel": "gridshield.security.shed",
    "screen_n1": "gridshield.security.n1",
    "ac_security": "gridshield.security.ac",
    "AcSecurityResult": "gridshield.security.ac",
    "ContingencyResult": "gridshield.security.n1",
    "rank_assets": "gridshield.security.rank",
    "RankingResult": "gridshield.security.rank",
    "plan_protection": "gridshield.security.protect",
    "ProtectionPlan": "gridshield.security.protect",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gridshield.security' has no attribute {name!r}")


__all__ = sorted(_LAZY)
