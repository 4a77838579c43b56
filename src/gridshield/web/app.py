"""The local dashboard: FastAPI app with server-rendered pages and a documented JSON API.

Security: the app never turns a request value into a file path — cases are registry names or
ids of grids uploaded into memory (parsed by the safe MATPOWER parser, size-limited); run ids
are looked up in the store; long jobs run in a bounded pool; when a token is set every request
must carry it (``Authorization: Bearer``, the ``gs_token`` cookie or ``?token=``).
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.grid.model import Grid
from gridshield.web import pages
from gridshield.web.jobs import Job, JobPool, QueueFull

DEFAULT_MAX_UPLOAD_MB = 50.0
_CASE_RE = re.compile(r"^[A-Za-z0-9_.\-:]{1,80}$")


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
    job_workers: int = 1,
    max_queued_jobs: int = 4,
) -> FastAPI:
    """Build the dashboard app.

    Parameters
    ----------
    store
        DuckDB results store for Monte Carlo runs (default: ``runs.duckdb`` in the working folder).
    token
        If set, every request must carry it.
    max_upload_mb
        Largest accepted ``.m`` upload.
    """
    app = FastAPI(
        title="gridshield dashboard",
        version="0.1.0",
        description="Impact of damage, Monte Carlo risk runs and rotating outage schedules on grid models. "
        "All endpoints are local; see /docs.",
    )
    store_path = Path(store) if store is not None else Path("runs.duckdb")
    uploads: OrderedDict[str, Grid] = OrderedDict()
    models: OrderedDict[tuple[str, bool, str], tuple[Any, threading.Lock]] = OrderedDict()
    models_lock = threading.Lock()
    answers: OrderedDict[tuple, Response] = OrderedDict()  # grids are immutable: same damage, same answer
    jobs = JobPool(workers=job_workers, max_queued=max_queued_jobs)
    max_bytes = int(max_upload_mb * 1024 * 1024)
    app.state.jobs = jobs
    app.state.store_path = store_path

    # -- security ---------------------------------------------------------------------------
    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.cookies.get("gs_token", "") or request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
            return JSONResponse({"detail": f"request larger than {max_upload_mb:g} MB"}, status_code=413)
        response = await call_next(request)
        if token and request.query_params.get("token"):
            response.set_cookie("gs_token", token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(GridshieldError)
    async def gridshield_error(request: Request, exc: GridshieldError):
        status = 404 if isinstance(exc, UnknownAssetError) and "case" in str(exc) else 422
        if isinstance(exc, QueueFull):
            status = 503
        return JSONResponse({"detail": str(exc)}, status_code=status)

    # -- helpers ----------------------------------------------------------------------------
    def grid_of(case: str) -> Grid:
        if not _CASE_RE.match(case):
            raise HTTPException(422, "case must be a case name or an uploaded case id")
        if case.startswith("upload:"):
            g = uploads.get(case)
            if g is None:
                raise HTTPException(404, f"no uploaded case {case!r} (uploads are kept in memory until restart)")
            return g
        from gridshield.grid.cases import available, load

        if case not in available():
            raise UnknownAssetError(case, available(), what="case")
        return load(case)

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
        out += [{"name": k, "source": "upload"} for k in uploads]
        return out

    @app.post("/api/cases/upload", tags=["api"])
    async def upload_case(
        file: UploadFile = File(..., description="a grid model file: MATPOWER .m, pandapower .json, CGMES .zip/.xml, "
                                "PSS/E .raw/.rawx, UCTE .uct, PowerFactory .dgs, IIDM .xiidm/.iidm/.jiidm, IEEE-CDF .txt"),
        approximate: bool = Form(False, description="accept the documented approximations of the import"),
    ) -> dict[str, Any]:
        """Upload a grid model; it is parsed from the uploaded bytes and kept in memory.

        The bytes go to a private temporary file whose name the server chooses (only the format's
        extension comes from the upload), are read by the format's reader and the file is deleted.
        """
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPException(413, f"upload larger than {max_upload_mb:g} MB")
        from starlette.concurrency import run_in_threadpool

        from gridshield.grid.cases import read_upload

        name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(file.filename or "upload.m").name)[:60]
        grid = await run_in_threadpool(read_upload, data, name, approximate=approximate,
                                       max_uncompressed_bytes=20 * max_bytes)
        case_id = f"upload:{uuid.uuid4().hex[:10]}"
        uploads[case_id] = grid
        while len(uploads) > 20:
            uploads.popitem(last=False)
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
        from gridshield.report.plots import network_figure

        key = (req.case, tuple(sorted(set(req.damage))), req.cascade, req.rate)
        with models_lock:
            if key in answers:
                answers.move_to_end(key)
                return answers[key]
        model, lock = model_of(req.case, req.cascade, req.rate)
        with lock:
            res = model.assess(list(key[1]))
        grid = model.grid
        fig = network_figure(grid, bus_energised=res.bus_energised, damaged_ids=list(key[1]),
                             load_lost_mw=grid.loads.p_mw - res.load_served_mw, title=f"{grid.name}: after the strike")
        body = '{"impact": %s, "figure": %s}' % (json.dumps(res.to_dict()), fig.to_json())
        answer = Response(content=body.encode(), media_type="application/json")
        with models_lock:
            answers[key] = answer
            while len(answers) > 256:
                answers.popitem(last=False)
        return answer

    @app.get("/api/cases/{case}/map", tags=["api"])
    def case_map(case: str) -> dict[str, Any]:
        """The intact network as a plotly figure (JSON)."""
        from gridshield.report.plots import network_figure

        return json.loads(network_figure(grid_of(case)).to_json())

    def run_job(job: Job) -> dict[str, Any]:
        from gridshield.threat import run_risk

        p = job.params
        job.total = p["samples"]
        res = run_risk(p["scenario"], samples=p["samples"], seed=p["seed"], workers=1, store=str(store_path),
                       progress=lambda done, total: _set(job, done, total))
        job.done = job.total
        return res.to_dict()

    @app.post("/api/runs", tags=["api"], status_code=202)
    def start_run(req: RunRequest) -> dict[str, Any]:
        """Start a Monte Carlo risk run in the background; poll /api/jobs/{id}."""
        from gridshield.threat.scenario import load_scenario

        text = req.scenario or pages.DEFAULT_SCENARIO
        load_scenario(text)  # validate now: errors come back as 422 with the field named
        job = jobs.submit("risk", {"scenario": text, "samples": req.samples, "seed": req.seed}, run_job)
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
        """Runs in the results store with their summaries."""
        if not store_path.exists():
            return []
        from gridshield.store import ResultsStore

        with ResultsStore(store_path, read_only=True) as st:
            return [r.to_dict() if hasattr(r, "to_dict") else dict(vars(r)) for r in st.runs()]

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse, tags=["pages"])
    def run_report(run_id: str) -> HTMLResponse:
        """The self-contained HTML report of a stored run."""
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", run_id) or not store_path.exists():
            raise HTTPException(404, f"no run {run_id!r}")
        from gridshield.report.build import run_report as build

        return HTMLResponse(build(store_path, run_id).to_html())

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


__all__ = ["create_app"]
