"""The largest nets of pandapower.networks against runpp (a separate file so that pytest-xdist runs it beside the rest)."""

from __future__ import annotations

import pytest

pytest.importorskip("pandapower")

from tests.test_pandapower_import import LARGE, _check_net, network_makers  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in network_makers() if n in LARGE])
def test_large_pandapower_networks_match_runpp(name):
    _check_net(name)
