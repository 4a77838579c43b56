"""The largest MATPOWER cases against PYPOWER (a separate file so that pytest-xdist runs it beside the rest)."""

from __future__ import annotations

import pytest

from tests.test_matpower_eval import _against_pypower, _mp_cases, needs_mp


@needs_mp
@pytest.mark.slow
@pytest.mark.parametrize("name", _mp_cases(large=True))
def test_large_matpower_cases_match_pypower(name):
    _against_pypower(name)
