"""The local web dashboard (FastAPI): `gridshield serve`.

``create_app`` is imported on first use, so that the CLI (which registers ``serve`` with every
other command) does not load FastAPI and pandas on each start.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from gridshield.web.app import create_app

        return create_app
    raise AttributeError(f"module 'gridshield.web' has no attribute {name!r}")


__all__ = ["create_app"]
