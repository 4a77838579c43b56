"""Shared fixtures: case loading and the shared public test cases (../shared/cases)."""

from __future__ import annotations

import os
import struct
import zipfile
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


def forge_zip_bomb(src, dst, real_bytes: int, declared_bytes: int):
    """A copy of a CGMES zip plus a member whose headers declare ``declared_bytes`` but that expands to ``real_bytes``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for n in zin.namelist():
            zout.writestr(n, zin.read(n))
        zout.writestr("bomb_EQ.xml", b"<" + b" " * (real_bytes - 1))
    data = bytearray(dst.read_bytes())
    name = b"bomb_EQ.xml"
    directory = data.index(b"PK\x01\x02")
    local = data.rindex(b"PK\x03\x04", 0, directory)  # the last member's local header
    assert data[local + 30:local + 30 + len(name)] == name
    struct.pack_into("<I", data, local + 22, declared_bytes)  # its uncompressed size
    central = data.rindex(b"PK\x01\x02")  # its central directory entry (the last one)
    assert data[central + 46:central + 46 + len(name)] == name
    struct.pack_into("<I", data, central + 24, declared_bytes)
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="session")
def case118() -> gs.Grid:
    return gs.load_case("case118")


@pytest.fixture(scope="session")
def case9() -> gs.Grid:
    return gs.load_case("case9")
