"""The FastAPI application: routers, the one error handler, request logging."""

from __future__ import annotations

import gc
import inspect
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhili import __version__
from zhili.core.db import busy_error, unavailable_error
from zhili.core.errors import DomainError
from zhili.core.masking import MaskingLogFilter, install_log_masking
from zhili.http.bodylimit import BodyLimit
from zhili.http.deps import SESSION_COOKIE
from zhili.http.openapi import ERROR_RESPONSES
from zhili.http.replica import ReadYourWrites

log = logging.getLogger("zhili")

_HTTP_MESSAGES = {
    400: ("bad_request", "请求有误"),
    401: ("unauthenticated", "未登录或登录已过期"),
    403: ("forbidden", "没有执行此操作的权限"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}

# What a value the database itself refuses (``DataError``) is answered with, on the API and the pages.
INVALID_DATA = ("invalid_data",
                "输入的内容无法保存：含有不允许的字符（如空字符），或超出了长度、数值范围，请修改后重试")

_PYDANTIC_MESSAGES = {
    "missing": "必填项缺失",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "uuid_parsing": "应为有效的ID（UUID）",
    "enum": "取值不在允许范围内",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "json_invalid": "JSON格式错误",
    "bool_parsing": "应为布尔值",
}


def _error(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details}, status_code=status)


def _open311_error(request: Request, status: int) -> Response:
    """Framework-level errors on Open311 paths in the spec's format (XML unless the path asks for JSON)."""
    from zhili.open311 import render

    fmt = "json" if request.url.path.endswith(".json") else "xml"
    text = {404: "not found", 405: "method not allowed", 500: "internal server error"}.get(status, "bad request")
    return render.error(fmt, status, text)


def install_error_handlers(app: FastAPI) -> None:
    """Map the domain hierarchy (and framework errors) to ``{"code", "message", "details"}``."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message, exc.details)
        retry_after = getattr(exc, "retry_after_s", None)  # a busy or unreachable database: when to try again
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
             "message": _PYDANTIC_MESSAGES.get(e.get("type", ""), e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        fields = "、".join(d["field"] for d in details if d["field"])
        return _error(422, "validation_failed", f"请求参数校验未通过：{fields}" if fields else "请求参数校验未通过",
                      details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/open311/"):
            return _open311_error(request, exc.status_code)
        code, message = _HTTP_MESSAGES.get(exc.status_code, ("http_error", "请求失败"))
        return _error(exc.status_code, code, message)

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return _error(409, "conflict", "数据已被他人修改，请刷新后重试")

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", type(exc.orig).__name__)
        return _error(409, "integrity_conflict", "数据与已有记录冲突（重复或仍被引用）")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # the database refused a value the validators let through (a NUL character PostgreSQL cannot store, a
        # length or range past the column's): bad input, said as such — never a 500
        log.warning("data error: %s", type(exc.orig).__name__)
        return _error(422, INVALID_DATA[0], INVALID_DATA[1])

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> Response:
        # A database that stayed busy past every wait, or that cannot be reached (PostgreSQL restarting, the
        # connection lost), is a 503 to retry (as a domain error: JSON for the API, the error page for pages); any
        # other database failure is an unexpected error.
        busy = busy_error(exc) or unavailable_error(exc)
        if busy is None:
            return await _handle(app.exception_handlers[Exception], request, exc)
        log.warning("database %s on %s %s: %s", "busy" if busy.code == "database_busy" else "unavailable",
                    request.method, request.url.path, getattr(exc, "orig", None) or type(exc).__name__)
        response = await _handle(app.exception_handlers[DomainError], request, busy)
        response.headers["Retry-After"] = str(busy.retry_after_s)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", incident, request.method, request.url.path)
        if request.url.path.startswith("/open311/"):
            return _open311_error(request, 500)
        return _error(500, "internal_error", f"服务器内部错误，请联系管理员（事件编号 {incident}）",
                      {"incident": incident})


async def _handle(handler: Any, request: Request, exc: Exception) -> Response:
    """Call an exception handler as registered now (the pages wrap the API's), sync or async."""
    result = handler(request, exc)
    return await result if inspect.isawaitable(result) else result


def api_router() -> APIRouter:
    """All ``/api/v1`` routes."""
    from zhili.audit.api import router as audit_router
    from zhili.cases.api import config_router as case_config_router
    from zhili.cases.api import router as cases_router
    from zhili.datahub.api import register_router as register_import_router
    from zhili.datahub.api import router as hub_router
    from zhili.evaluation.api import router as eval_router
    from zhili.evaluation.api_forms import router as eval_forms_router
    from zhili.http.deps import refuse_personal_numbers_in_url
    from zhili.intel.api import router as intel_router
    from zhili.iot.api import router as iot_router
    from zhili.participation.api import router as participation_router
    from zhili.regions.api import router as regions_router
    from zhili.registry.api import router as registry_router
    from zhili.rental.api import router as rental_router
    from zhili.users.api import auth_router
    from zhili.users.api import router as users_router
    from zhili.visits.api import router as visits_router
    from zhili.worktime.api import router as calendar_router

    # No ID number or phone in a URL: exact lookups are POSTed (http.deps.refuse_personal_numbers_in_url).
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(refuse_personal_numbers_in_url)])
    # Routes are matched in order, one by one: the case routes (intake is the busiest) come first. Every route
    # declares the error answers of the one error hierarchy (`{code, message, details}`), so clients and
    # conformance checkers know them.
    for r in (cases_router, auth_router, users_router, regions_router, registry_router, register_import_router,
              case_config_router,
              calendar_router, audit_router, participation_router, visits_router, hub_router, intel_router,
              rental_router, iot_router, eval_forms_router, eval_router):
        router.include_router(r, responses=ERROR_RESPONSES)

    @router.get("/health", tags=["系统"], summary="健康检查")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return router


def _sweeper(stop: threading.Event, interval: int) -> None:
    """Background deadline sweep: every process tries; the lease row lets one run at a time."""
    from zhili.cases.sweep import run_sweep_if_due
    from zhili.core.db import session_scope
    from zhili.datahub.changes import redeliver_due
    from zhili.rental.police import redeliver_due as redeliver_police

    holder = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.wait(interval):
        try:
            with session_scope() as s:
                run_sweep_if_due(s, holder=holder, every_s=interval)
        except Exception:
            log.exception("deadline sweep failed")
        try:  # the data hub's change events whose delivery is due again (a back-off, or a stopped process)
            with session_scope() as s:
                redeliver_due(s)
        except Exception:
            log.exception("hub change-event redelivery failed")
        try:  # check-ins/outs for the police whose delivery is due again (a back-off, or a stopped process)
            with session_scope() as s:
                redeliver_police(s)
        except Exception:
            log.exception("police delivery redelivery failed")
        _rental_scan(holder)
        _partition_job(holder)
        try:  # devices silent past their heartbeat, quiet alerts, old messages (zhili.iot.heartbeat, leased)
            from zhili.iot.heartbeat import run_due as iot_sweep

            iot_sweep(session_scope, holder=holder)
        except Exception:
            log.exception("iot sweep failed")


def _rental_scan(holder: str) -> None:
    """The rental rules (群租, double registration, overstay, vacancy with activity, residence registration due),
    every ``rental_scan_interval_s`` under a lease. Here rather than in ``zhili.intel.jobs``: the intelligence
    package lies below the rental one (it may not import it), and the scan is a few indexed queries — no need for
    the intelligence thread that exists so minutes of training do not hold up the sweep."""
    from zhili.cases.models import JobLock
    from zhili.cases.sweep import take_lease
    from zhili.core.db import session_scope, utcnow
    from zhili.core.settings import get_settings
    from zhili.rental.rules import scan

    every = get_settings().rental_scan_interval_s
    if every <= 0:
        return
    try:
        with session_scope() as s:
            if take_lease(s, "rental_scan", holder=holder, every_s=every, now=utcnow(), hold_s=600) is None:
                return
        with session_scope() as s:
            scan(s)
        with session_scope() as s:
            lock = s.get(JobLock, "rental_scan")
            if lock is not None:
                lock.last_run_at, lock.until = utcnow(), None
    except Exception:
        log.exception("rental scan failed; tried again at its next turn")


def _partition_job(holder: str) -> None:
    """PostgreSQL's monthly partitions of the case timeline and the audit log made ahead (zhili.core.partitions),
    every ``partition_interval_s`` under the ``partitions`` lease; nothing on SQLite."""
    from zhili.cases.models import JobLock
    from zhili.cases.sweep import take_lease
    from zhili.core import partitions
    from zhili.core.db import session_scope, utcnow
    from zhili.core.settings import get_settings

    every = get_settings().partition_interval_s
    if every <= 0:
        return
    try:
        with session_scope() as s:
            if s.get_bind().dialect.name != "postgresql":
                return
            if take_lease(s, "partitions", holder=holder, every_s=every, now=utcnow(), hold_s=600) is None:
                return
        with session_scope() as s:
            made = partitions.ensure(s.connection(), ahead=get_settings().partition_months_ahead)
            lock = s.get(JobLock, "partitions")
            if lock is not None:
                lock.last_run_at, lock.until = utcnow(), None
        if made:
            log.info("partitions made ahead: %s", ", ".join(made))
    except Exception:
        log.exception("partition maintenance failed; tried again at its next turn")


def _intel_worker(stop: threading.Event, interval: int) -> None:
    """The intelligence jobs (early-warning scan, grid risk, routing retraining) and the 4E scoring, each when due —
    in their own thread: a retraining or a scoring of some minutes must not hold up the deadline sweep."""
    from zhili.core.db import read_session_factory, session_factory, session_scope, unit_of_work
    from zhili.intel.jobs import run_due

    holder = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.wait(interval):
        run_due(session_scope, holder=holder, work_factory=lambda: unit_of_work(session_factory()),
                read_factory=lambda: unit_of_work(read_session_factory()))
        _eval_job(holder)


def _eval_job(holder: str) -> None:
    """4E scoring of the periods that are due and the data sets' reminders (zhili.evaluation.jobs, leased) — in
    the intelligence thread: scoring a year of a large district takes minutes."""
    from zhili.core.db import session_scope
    from zhili.core.settings import get_settings
    from zhili.evaluation.jobs import run_due as eval_due

    every = get_settings().eval_interval_s
    if every <= 0:
        return
    try:
        eval_due(session_scope, holder=holder, every_s=every)
    except Exception:
        log.exception("4E scoring job failed; tried again at its next turn")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    import zhili.models  # noqa: F401  (every model: the encrypted columns are declared by the models)
    from zhili.core.db import get_engine
    from zhili.core.keys import verify_key_material
    from zhili.core.settings import get_settings

    # Refuse to serve data the key material cannot read (and never create a key file for such data).
    verify_key_material(get_engine(), get_settings())
    # Everything loaded so far (modules, routes, the ORM registry) lives as long as the process: move it out of the
    # collector's generations, so a full collection under load does not walk it again (pauses of tens of ms).
    gc.collect()
    gc.freeze()
    interval = get_settings().sweep_interval_s
    stop = threading.Event()
    threads: list[threading.Thread] = []
    if interval > 0 and get_settings().env != "test":
        threads.append(threading.Thread(target=_sweeper, args=(stop, interval), name="zhili-sweeper", daemon=True))
        threads.append(threading.Thread(target=_intel_worker, args=(stop, max(interval, 60)), name="zhili-intel",
                                        daemon=True))
        for thread in threads:
            thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    from zhili.cases.notify import stop_outbox
    from zhili.cases.writer import stop_default_writer
    from zhili.datahub.changes import set_hub_outbox

    stop_default_writer()  # after the server has answered its last request
    stop_outbox()  # then what its last commits left for the webhook and SMS gateway
    set_hub_outbox(None)  # and the data hub's change events
    from zhili.rental.police import set_police_outbox

    set_police_outbox(None)  # and the check-ins/outs for the police


def _credentialed(scope: Any) -> bool:
    """Whether a request carries credentials (a bearer token or the session cookie); static assets are public and
    stay cacheable whoever asks."""
    if scope.get("path", "").startswith("/static/"):
        return False
    cookie = SESSION_COOKIE.encode() + b"="
    return any(k == b"authorization" or (k == b"cookie" and cookie in v) for k, v in scope.get("headers", ()))


class _TimingHeaders:
    """Pure ASGI middleware adding ``X-Response-Time-ms`` and ``nosniff`` (BaseHTTPMiddleware halves throughput),
    and the one caching rule: ``Cache-Control: no-store`` on every answer to a request carrying credentials (revealed
    personal data, lists, photos, pages) unless the route chose its own caching, and on every file download
    (``Content-Disposition``) whatever the route said."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        credentialed = _credentialed(scope)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-response-time-ms", f"{(time.perf_counter() - start) * 1000:.1f}".encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"content-disposition" in names:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                elif credentialed and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app() -> FastAPI:
    """Build the application."""
    install_log_masking()  # every record, any logger (uvicorn's access log included), is masked where it is made
    for h in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingLogFilter) for f in h.filters):
            h.addFilter(MaskingLogFilter())
    app = FastAPI(
        lifespan=_lifespan,
        docs_url=None,  # /docs is served by zhili.web.apidocs from the pinned npm package (FastAPI's uses a CDN)
        redoc_url=None,
        title="智理 Zhili — 基层社会治理智能化平台 API",
        version=__version__,
        description="区划与网格、基础数据（人地物组织）、用户与管辖范围、审计。所有错误返回 "
                    "`{code, message, details}`。",
        openapi_tags=[{"name": n} for n in ("登录认证", "用户与角色", "区划与网格", "基础数据", "事件办理",
                                           "事件分类与派单规则", "工作日历", "审计", "智能研判", "系统")],
    )
    install_error_handlers(app)
    from zhili.intel import routing

    routing.install()  # 智能分拨: the case loop asks the active text models (none active: nothing changes)

    app.add_middleware(BodyLimit)  # inside the timing headers: a refusal is answered with them too
    app.add_middleware(ReadYourWrites)  # after a write: the primary's WAL position in a cookie (read replica only)
    app.add_middleware(_TimingHeaders)

    app.include_router(api_router())
    from zhili.open311.api import router as open311_router

    app.include_router(open311_router)

    __import__("zhili.web").web.install(app)  # pages, their static files and HTML error pages (zhili.web)
    return app
