"""Shared fixtures: case loading and the shared public test cases (../shared/cases)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import gridshield as gs

# The suite is reproducible: property tests draw the same examples on every run ("ci", the
# default). HYPOTHESIS_PROFILE=explore draws fresh examples to hunt for new failures.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases"


def shared_case(rel: str) -> Path:
    """Path of a file under ../shared/cases; skips the test when the folder is absent."""
    p = SHARED_CASES / rel
    if not p.is_file():
        pytest.skip(f"shared case {rel} not available")
    return p


@pytest.fixture(scope="session")
def case118() -> gs.Grid:
    return gs.load_case("case118")


@pytest.fixture(scope="session")
def case9() -> gs.Grid:
    return gs.load_case("case9")
