"""Impact of damage: islands, maximal load delivery, cascading trips and who is left without power.

>>> from gridshield.impact import Damage, ImpactModel, assess_damage
"""

from gridshield.impact.damage import Damage
from gridshield.impact.mld import DEFAULT_WEIGHTS
from gridshield.impact.model import ImpactModel, assess_damage
from gridshield.impact.result import AcCheck, ImpactLoss, ImpactResult, IslandImpact, Trip

__all__ = [
    "DEFAULT_WEIGHTS",
    "AcCheck",
    "Damage",
    "ImpactLoss",
    "ImpactModel",
    "ImpactResult",
    "IslandImpact",
    "Trip",
    "assess_damage",
]
