"""The local web dashboard (FastAPI): `gridshield serve`."""

from gridshield.web.app import create_app

__all__ = ["create_app"]
