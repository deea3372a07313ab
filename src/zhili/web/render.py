"""Rendering: the Jinja2 environment (autoescaped), page responses with their security headers, and the error
pages that replace the JSON errors on page paths (everything outside ``/api`` and ``/open311``)."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from zhili.core.clock import to_local
from zhili.core.errors import DomainError
from zhili.core.validators import personal_number_kind
from zhili.http.deps import cookie_secure
from zhili.web import csrf, i18n
from zhili.web.assets import HERE, asset_url, vendor_url

log = logging.getLogger("zhili.web")

NOT_PAGES = ("/api", "/open311")  # these keep their JSON / Open311 errors


class Redirect(Exception):
    """Raised by page dependencies to send the browser elsewhere (303)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def is_page_path(path: str) -> bool:
    """True for paths whose errors are shown as HTML pages."""
    return not any(path == p or path.startswith(p + "/") for p in NOT_PAGES)


def tile_url() -> str:
    """Optional raster tile URL template for the maps (``ZHILI_MAP_TILE_URL``); empty = vector outlines only."""
    return os.environ.get("ZHILI_MAP_TILE_URL", "").strip()


def _localtime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return to_local(value).strftime(fmt)


@pass_context
def _t(ctx: Mapping[str, Any], key: str, **params: Any) -> str:
    return i18n.translate(ctx.get("locale") or i18n.DEFAULT_LOCALE, key, **params)


@pass_context
def _state_in(ctx: Mapping[str, Any], case: Any, state: Any) -> str:
    """A state's name in the case's flow (a residence permit's ``resolved`` reads 已制证); the common name
    (``label('state', …)``, translated) for an event."""
    flow = case.get("flow") if isinstance(case, Mapping) else getattr(case, "flow", None)
    if flow and flow != "event" and state:
        from zhili.cases.flows import state_label

        return state_label(flow, getattr(state, "value", state))
    return _label(ctx, "state", state)


@pass_context
def _label(ctx: Mapping[str, Any], kind: str, value: Any) -> str:
    """An enumeration value's label (``state``, ``role``, ``action`` …); the raw value when not catalogued."""
    raw = getattr(value, "value", value)
    key = f"{kind}.{raw}"
    return i18n.translate(ctx.get("locale") or i18n.DEFAULT_LOCALE, key) if i18n.has(key) else str(raw)


env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
env.globals.update(t=_t, label=_label, state_in=_state_in, asset_url=asset_url, vendor_url=vendor_url)
env.filters["localtime"] = _localtime


def locale_of(request: Request) -> str:
    """The request's locale (negotiated once per request)."""
    loc = getattr(request.state, "locale", None)
    if loc is None:
        loc = request.state.locale = i18n.negotiate(request)
    return str(loc)


def tr(request: Request, key: str, **params: Any) -> str:
    """A catalogue message in the request's locale (for Python code)."""
    return i18n.translate(locale_of(request), key, **params)


HOMES = {"resident": "/h5/", "grid_worker": "/gw/", "auditor": "/console/audit/"}
STAFF_HOME = "/console/home"  # the workbench (工作台) of every other staff role


def home_url_for(role: Any) -> str:
    """Where a role lands after login: residents the H5 portal, grid workers theirs, the auditor the audit pages,
    every other staff role the workbench."""
    value = getattr(role, "value", role)
    return HOMES.get(str(value), STAFF_HOME)


def security_headers(response: Response) -> None:
    """Content Security Policy (no inline script, nothing from other origins but the optional tile server)."""
    tiles = ""
    parts = urlsplit(tile_url())
    if parts.scheme in ("http", "https") and parts.netloc:
        tiles = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"


def here(request: Request) -> str:
    """The request's path and query, as pages echo it (the language switch, the sign-in ``next``), without any
    query value that is an ID number or phone: such a value is never written back into a link."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if personal_number_kind(v) is None]
    return request.url.path + (f"?{urlencode(pairs)}" if pairs else "")


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render a page (or fragment) template with the common context and security headers."""
    user = getattr(request.state, "page_user", None)
    locale = locale_of(request)
    msg = request.query_params.get("msg")
    ctx: dict[str, Any] = {
        "request": request, "locale": locale, "locales": i18n.LOCALE_NAMES, "user": user,
        "csrf_token": csrf.csrf_token(request), "csrf_field": csrf.CSRF_FIELD,
        "flash": i18n.translate(locale, f"msg.{msg}") if msg and i18n.has(f"msg.{msg}") else None,
        "home_url": home_url_for(user.principal.role) if user else "/login",
        "tile_url": tile_url(), "current_path": request.url.path, "here": here(request),
    }
    ctx.update(context or {})
    body = env.get_template(template).render(ctx)
    response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
    response.headers["Content-Language"] = locale
    response.headers["Cache-Control"] = "no-store"
    security_headers(response)
    nonce = csrf.new_nonce(request)
    if nonce:
        response.set_cookie(csrf.ANON_COOKIE, nonce, httponly=True, samesite="strict",
                            secure=cookie_secure(request))
    return response


def redirect(location: str, *, status: int = 303) -> RedirectResponse:
    """A redirect after a form POST (303: the browser follows with GET)."""
    return RedirectResponse(location, status_code=status)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no open redirects), else None."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


# -- error pages -----------------------------------------------------------------------------------------------

def error_page(request: Request, status: int, *, message: str | None = None, incident: str | None = None,
               headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The HTML error page (or, for an htmx request, an error fragment) in the request's locale."""
    title_key = f"error.{status}" if i18n.has(f"error.{status}") else "error.title"
    detail_key = f"{title_key}.detail" if i18n.has(f"{title_key}.detail") else None
    context = {"status": status, "title": tr(request, title_key), "message": message,
               "detail": tr(request, detail_key) if detail_key else None, "incident": incident}
    template = "partials/error_fragment.html" if request.headers.get("hx-request") else "error.html"
    return render(request, template, context, status=status, headers=headers)


def _login_redirect(request: Request) -> Response:
    target = here(request)
    location = "/login?msg=login_required" + (f"&next={quote(target)}" if request.method == "GET" else "")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def page_error_response(request: Request, exc: Exception) -> Response:
    """The page-path answer for any exception."""
    if isinstance(exc, Redirect):
        return RedirectResponse(exc.location, status_code=303)
    if isinstance(exc, DomainError):
        if exc.status == 401:
            return _login_redirect(request)
        if exc.code == "csrf_failed":
            return error_page(request, 403, message=tr(request, "error.csrf"))
        return error_page(request, exc.status, message=exc.message)
    if isinstance(exc, StarletteHTTPException):
        return error_page(request, exc.status_code, headers=getattr(exc, "headers", None))
    if isinstance(exc, RequestValidationError):
        # a malformed id in the URL is a page that does not exist; anything else is a bad request
        if all((e.get("loc") or ("",))[0] == "path" for e in exc.errors()):
            return error_page(request, 404)
        return error_page(request, 400)
    if isinstance(exc, (StaleDataError, IntegrityError)):
        return error_page(request, 409)
    if isinstance(exc, DataError):  # a value the database refuses (see zhili.app.INVALID_DATA)
        return error_page(request, 422, message=tr(request, "error.invalid_data"))
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    return error_page(request, 500, incident=incident)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _wrap(original: Handler | None) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_page_path(request.url.path) or original is None:
            return page_error_response(request, exc)
        result = original(request, exc)
        return await result if inspect.isawaitable(result) else result

    return handler


def install_error_pages(app: FastAPI) -> None:
    """Put HTML error pages in front of the application's error handlers, for page paths only."""
    for exc_class in (DomainError, RequestValidationError, StarletteHTTPException, StaleDataError, IntegrityError,
                      DataError, Exception, Redirect):
        app.add_exception_handler(exc_class, _wrap(app.exception_handlers.get(exc_class)))
