"""The dashboard's security layer: who may talk to it and what a request may name.

Threat model (docs/dashboard.md): the dashboard serves one operator's browser on this machine
(loopback by default; anything else needs a token). What a request can reach:

- **Host and Origin** (:class:`RequestGuard`): a request whose ``Host`` is not one of the names the
  dashboard is bound to is refused (a web page the operator visits cannot reach it by DNS
  rebinding); a state-changing request (POST, ...) whose ``Origin`` is not the dashboard itself is
  refused (no cross-site request forgery); with a token, every request carries it.
- **Sizes**: a request body is refused above its limit before it is read (``Content-Length``; a
  body without one is refused).
- **Files**: no value that arrives over HTTP names a server file. A case is a registry name
  (built-in and MATPOWER's cases) or the id of an upload (:func:`resolve_case`); uploads are
  spooled to a private folder under a total cap (:class:`UploadSpool`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.limits import fmt_bytes

#: Names every dashboard answers to (loopback).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: Largest body of a JSON request (a scenario is at most 200,000 characters).
MAX_JSON_BODY_BYTES = 1_000_000
#: Requests that change nothing; the others need a same-origin ``Origin`` when they carry one.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UPLOAD_ID_RE = re.compile(r"^upload:[0-9a-f]{16}$")
_PLAIN_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # could be a registry name: suggest close ones


class CaseNotAllowed(GridshieldError):
    """A request named a case that the dashboard does not serve (e.g. a server path)."""


def host_name(value: str) -> str:
    """The host of a ``Host`` header value or URL netloc, lower case, without port or IPv6 brackets."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        return v[1:end] if end > 0 else v
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


def allowed_host_names(bind_host: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """Loopback names, the host the dashboard is bound to and ``--allowed-host`` names.

    A wildcard bind (``0.0.0.0``, ``::``) adds this machine's host name; other names and
    addresses under which the machine is reached must be given with ``--allowed-host``.
    """
    names = set(LOOPBACK_NAMES)
    for h in [bind_host or "", *extra]:
        if h:
            names.add(host_name(h))
    if bind_host:
        try:
            if ipaddress.ip_address(host_name(bind_host)).is_unspecified:
                import socket

                names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        except ValueError:
            pass
    return frozenset(n for n in names if n)


class RequestGuard:
    """ASGI middleware: Host allow-list, same-origin check on state-changing requests, token, body size.

    Parameters
    ----------
    app
        The ASGI app to guard.
    allowed_hosts
        Host names (no port) a request's ``Host`` header may carry.
    token
        If set, every request must carry it (``Authorization: Bearer``, the ``gs_token`` cookie or
        ``?token=``); a ``?token=`` that matches sets the cookie.
    max_body_bytes
        Largest body of any request but the upload.
    max_upload_bytes
        Largest body of ``POST upload_path`` (the file plus the multipart framing).
    """

    def __init__(self, app, *, allowed_hosts: Iterable[str], token: str | None, max_body_bytes: int,
                 max_upload_bytes: int, upload_path: str = "/api/cases/upload"):
        self.app = app
        self.allowed = frozenset(host_name(h) for h in allowed_hosts)
        self.token = token
        self.max_body = int(max_body_bytes)
        self.max_upload = int(max_upload_bytes)
        self.upload_path = upload_path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # the dashboard has none
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        problem = self._refusal(scope, headers)
        if problem is not None:
            status, detail = problem
            await _send_json(send, status, {"detail": detail})
            return
        if self.token and "token=" in scope.get("query_string", b"").decode("latin-1"):
            await self.app(scope, receive, _with_cookie(send, self.token))
        else:
            await self.app(scope, receive, send)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host_name(host) not in self.allowed:
            return 400, ("this dashboard answers only to " + ", ".join(sorted(self.allowed))
                         + "; start it with --allowed-host NAME to reach it by another name")
        method = scope.get("method", "GET").upper()
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None:
                parts = urlsplit(origin) if origin != "null" else None
                if parts is None or parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                    return 403, "cross-origin request refused: only the dashboard's own pages may change state"
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return 403, "cross-site request refused: only the dashboard's own pages may change state"
        if self.token and not self._token_ok(scope, headers):
            return 401, "missing or wrong token"
        if method not in SAFE_METHODS:
            if "transfer-encoding" in headers:
                return 411, "send the request body with a Content-Length"
            length = headers.get("content-length", "0").strip()
            if not length.isdigit():
                return 400, "bad Content-Length"
            limit = self.max_upload if scope.get("path") == self.upload_path else self.max_body
            if int(length) > limit:
                return 413, f"request body of {fmt_bytes(int(length))} is larger than the {fmt_bytes(limit)} allowed here"
        return None

    def _token_ok(self, scope, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given:
            for part in headers.get("cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == "gs_token":
                    given = v
                    break
        if not given:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())  # type: ignore[union-attr]


async def _send_json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _with_cookie(send, token: str):
    cookie = f"gs_token={token}; HttpOnly; SameSite=Strict; Path=/".encode("latin-1")

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return wrapped


# -- uploads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded case file spooled to disk."""

    case_id: str
    name: str  # the user's file name, sanitised (shown in messages instead of the spool path)
    path: Path
    size: int


class UploadSpool:
    """Uploaded case files in a private folder, at most ``max_count`` files and ``max_total_bytes`` in all.

    The oldest uploads are dropped to make room. Ids are random (``upload:<16 hex>``); the folder
    is created with mode 0700; a folder the spool made is removed by :meth:`close`, or when the
    spool is garbage-collected or the process exits.
    """

    def __init__(self, folder: str | os.PathLike[str] | None, *, max_file_bytes: int, max_total_bytes: int,
                 max_count: int = 20):
        if max_total_bytes < max_file_bytes:
            raise GridshieldError(
                f"--max-upload-total-mb ({fmt_bytes(max_total_bytes)}) must be at least --max-upload-mb "
                f"({fmt_bytes(max_file_bytes)})"
            )
        self._own = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="gridshield-uploads-")) if folder is None else Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_file_bytes = int(max_file_bytes)
        self.max_total_bytes = int(max_total_bytes)
        self.max_count = int(max_count)
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True) if self._own else None

    def new_path(self, filename: str | None) -> tuple[str, str, Path]:
        """A fresh id, the sanitised file name and the spool path to write the upload to."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename or "upload.m").name)[:60] or "upload.m"
        token = secrets.token_hex(8)
        suffix = "".join(Path(name).suffixes[-2:])[:16] or ".m"
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return f"upload:{token}", name, self.folder / f"{token}{suffix}"

    def add(self, case_id: str, name: str, path: Path) -> Upload:
        """Register a fully written spool file, dropping the oldest uploads beyond the caps."""
        up = Upload(case_id, name, path, path.stat().st_size)
        with self._lock:
            self._items[case_id] = up
            while len(self._items) > self.max_count or (
                len(self._items) > 1 and sum(u.size for u in self._items.values()) > self.max_total_bytes
            ):
                _, old = self._items.popitem(last=False)
                old.path.unlink(missing_ok=True)
        return up

    def get(self, case_id: str) -> Upload | None:
        """The upload with this id, or None (unknown, or dropped to make room)."""
        with self._lock:
            return self._items.get(case_id)

    def ids(self) -> list[str]:
        """Ids of the uploads kept, oldest first."""
        with self._lock:
            return list(self._items)

    def close(self) -> None:
        """Delete the spooled files (and the folder, if the spool made it)."""
        with self._lock:
            for u in self._items.values():
                u.path.unlink(missing_ok=True)
            self._items.clear()
        if self._cleanup is not None:
            self._cleanup()


# -- case names ---------------------------------------------------------------------------------


def check_case_name(case: str, spool: UploadSpool) -> Upload | None:
    """Accept a registry case name or an upload id; anything else (a path above all) is refused.

    Returns the :class:`Upload` for an upload id, None for a registry name. The file system is
    never consulted for the name itself, so a refusal says nothing about what exists on the server.
    """
    from gridshield.grid.cases import available

    if UPLOAD_ID_RE.match(case or ""):
        up = spool.get(case)
        if up is None:
            raise CaseNotAllowed(f"no uploaded case {case!r} (it was never uploaded, or dropped to make room); upload it again")
        return up
    known = available()
    if case in known:
        return None
    if _PLAIN_NAME_RE.match(case or ""):
        raise UnknownAssetError(case, known, what="case")
    raise CaseNotAllowed(
        "the dashboard opens only built-in case names (see /api/cases) and uploaded cases by their id "
        "(upload:...); it never reads a path on the server"
    )


__all__ = [
    "LOOPBACK_NAMES", "MAX_JSON_BODY_BYTES", "CaseNotAllowed", "RequestGuard", "Upload", "UploadSpool",
    "allowed_host_names", "check_case_name", "host_name",
]
