"""CLI: ``gridshield serve``."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from gridshield.cli import app, console
from gridshield.errors import GridshieldError


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
    job_workers: int = typer.Option(1, help="background jobs run at once"),
) -> None:
    """Start the local dashboard (open http://HOST:PORT/)."""
    import uvicorn

    from gridshield.web import create_app

    if not 0 <= port <= 65535:
        raise GridshieldError(f"--port {port}: use a TCP port between 1 and 65535 (0 = any free port)")
    if job_workers < 1:
        raise GridshieldError(f"--job-workers {job_workers}: need at least 1")
    if not max_upload_mb > 0:
        raise GridshieldError(f"--max-upload-mb {max_upload_mb}: give a positive size in MB")
    _check_port_free(host, port)
    if not _is_loopback(host) and not token:
        raise GridshieldError(
            f"--host {host} exposes the dashboard beyond this machine; set --token (or GRIDSHIELD_TOKEN) to bind there"
        )
    web = create_app(store, token=token, max_upload_mb=max_upload_mb, job_workers=job_workers)
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"gridshield dashboard on [bold]{url}[/] (Ctrl-C to stop)")
    os.environ.setdefault("GRIDSHIELD_SERVE", "1")
    uvicorn.run(web, host=host, port=port, log_level="warning")
