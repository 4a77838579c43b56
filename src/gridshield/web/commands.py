"""CLI: ``gridshield serve``."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from gridshield.cli import app, console
from gridshield.errors import GridshieldError
from gridshield.limits import check_int, check_real, max_workers


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line (not uvicorn's log and exit 3) when HOST:PORT cannot be bound."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise GridshieldError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as exc:
            raise GridshieldError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; anything but loopback needs --token"),
    port: int = typer.Option(8050, help="port"),
    store: Path = typer.Option(Path("runs.duckdb"), help="DuckDB results store for risk runs"),
    token: str = typer.Option(None, envvar="GRIDSHIELD_TOKEN", help="access token required on every request"),
    max_upload_mb: float = typer.Option(50.0, help="largest accepted .m upload (MB)"),
    max_upload_total_mb: float = typer.Option(1000.0, help="uploads kept on disk at once, in all (MB); oldest dropped"),
    job_workers: int = typer.Option(1, help="background jobs run at once"),
    allowed_host: list[str] = typer.Option(
        None, "--allowed-host", help="another host name the dashboard is reached by (Host header; repeatable)"
    ),
) -> None:
    """Start the local dashboard (open http://HOST:PORT/)."""
    import uvicorn

    from gridshield.web import create_app

    if not 0 <= port <= 65535:
        raise GridshieldError(f"--port {port}: use a TCP port between 1 and 65535 (0 = any free port)")
    check_int("--job-workers", job_workers, low=1, high=max_workers(),
              why="on this machine (each job may need a core and its memory)")
    check_real("--max-upload-mb", max_upload_mb, low=0.0, low_open=True, high=10_000.0, why="MB")
    check_real("--max-upload-total-mb", max_upload_total_mb, low=max_upload_mb, high=1_000_000.0, why="MB")
    for name in allowed_host or []:
        if not name or any(c in name for c in "/ \t@?#"):
            raise GridshieldError(f"--allowed-host {name!r}: give a host name or address, e.g. grid-pc.local")
    _check_port_free(host, port)
    if not _is_loopback(host) and not token:
        raise GridshieldError(
            f"--host {host} exposes the dashboard beyond this machine; set --token (or GRIDSHIELD_TOKEN) to bind there"
        )
    web = create_app(store, token=token, max_upload_mb=max_upload_mb, max_upload_total_mb=max_upload_total_mb,
                     job_workers=job_workers, bind_host=host, allowed_hosts=allowed_host or ())
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"gridshield dashboard on {url} (Ctrl-C to stop)")
    os.environ.setdefault("GRIDSHIELD_SERVE", "1")
    uvicorn.run(web, host=host, port=port, log_level="warning")
