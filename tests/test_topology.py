"""Topology against brute force."""

from __future__ import annotations

import numpy as np

import gridshield as gs
from gridshield.topology import bridges, islands


def test_bridges_equal_brute_force(case118):
    b = bridges(case118)
    brute = np.array([
        islands(case118, branch_in_service=np.where(np.arange(len(case118.branches)) == k, False, case118.branches.in_service)).count > 1
        for k in range(len(case118.branches))
    ])
    assert (b == brute).all() and b.sum() == 9  # 9 bridges, as lightsim2grid counts (PEERS.md)


def test_bridge_count_2869():
    assert bridges(gs.load_case("case2869pegase")).sum() == 778


def test_islands_and_energised(case9):
    on = case9.branches.in_service.copy()
    # case9: gen buses 1,2,3 connect via transformers 1-4, 2-8 (row 7?), 3-6; cut bus 5's two lines
    f, t = case9.branches.from_bus, case9.branches.to_bus
    num = case9.buses.number
    cut = [k for k in range(len(on)) if 5 in (num[f[k]], num[t[k]])]
    on[cut] = False
    isl = islands(case9, branch_in_service=on)
    assert isl.count == 2
    lone = isl.label[case9.bus_of_number[5]]
    assert not isl.has_generation[lone]
    assert not isl.energised[case9.bus_of_number[5]] and isl.energised[case9.bus_of_number[1]]
