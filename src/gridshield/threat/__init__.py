"""Threat scenarios and Monte Carlo risk: from "30 of 35 drones shot down" to a distribution of load lost.

``run_risk(scenario, samples=..., seed=...) -> RiskResult``; scenario files are described in
:mod:`gridshield.threat.scenario`, sampling in :mod:`gridshield.threat.sampling`, runs, statistics
and the stopping rule in :mod:`gridshield.threat.runner`.
"""

from gridshield.threat.runner import RiskProgress, RiskResult, cvar, load_run, mean_ci, run_risk
from gridshield.threat.scenario import (
    BetaPrior,
    Scenario,
    ScenarioError,
    beta_posterior,
    load_scenario,
)

__all__ = [
    "BetaPrior",
    "RiskProgress",
    "RiskResult",
    "Scenario",
    "ScenarioError",
    "beta_posterior",
    "cvar",
    "load_run",
    "load_scenario",
    "mean_ci",
    "run_risk",
]
