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

    if not _is_loopback(host) and not token:
        raise GridshieldError(
            f"--host {host} exposes the dashboard beyond this machine; set --token (or GRIDSHIELD_TOKEN) to bind there"
        )
    web = create_app(store, token=token, max_upload_mb=max_upload_mb, job_workers=job_workers)
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"gridshield dashboard on [bold]{url}[/] (Ctrl-C to stop)")
    os.environ.setdefault("GRIDSHIELD_SERVE", "1")
    uvicorn.run(web, host=host, port=port, log_level="warning")
