"""HiGHS keeps one thread pool per process: every solver must build its HiGHS through
gridshield.optim.new_highs (one thread), or a later impact LP fails ('Not Set')."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gridshield"


def test_all_highs_instances_come_from_the_factory():
    offenders = [
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
        if p.name != "optim.py" and re.search(r"highspy\.Highs\(\)", p.read_text())
    ]
    assert offenders == []


def test_security_then_impact_in_one_process():
    import gridshield as gs
    from gridshield.security.shed import ShedModel, as_assets

    grid = gs.load_case("case30")
    ShedModel(grid).evaluate(as_assets(grid, ["branch:1"]))
    res = gs.assess_damage(grid, ["branch:13", "branch:16"])  # islands bus 11 / 13 side
    assert res.lost_mw >= 0.0
