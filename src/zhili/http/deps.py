"""FastAPI dependencies: the request's database session (commit/rollback) and the authenticated principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from zhili.core import replica
from zhili.core.db import (
    bind_primary,
    database_key,
    get_engine,
    read_session_factory,
    replica_session_factory,
    session_factory,
    settle,
    unit_of_work,
    write_guard,
)
from zhili.core.errors import Unauthenticated, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.core.netaddr import client_address, trusted_networks
from zhili.core.schemas import MAX_PAGE, PageParams
from zhili.core.settings import get_settings
from zhili.users.service import CachedPrincipal, authenticate, cached_principal

SESSION_COOKIE = "zhili_session"


def cookie_secure(request: Request) -> bool:
    """Whether cookies set on this answer get ``Secure``: always with ``ZHILI_COOKIE_SECURE``, else over HTTPS."""
    return get_settings().cookie_secure or request.url.scheme == "https"


F = TypeVar("F", bound=Callable[..., Any])
_READS_ONLY = "__zhili_reads_only__"


def reads_only(endpoint: F) -> F:
    """Mark a POSTed route that only reads (a search or an export whose criteria must not travel in a URL, a check):
    its request gets a read session like a GET — it never holds the write lock while it works, and what it must
    leave behind (its audit entry) goes through :func:`zhili.core.db.write_after_read`. Put it under the route
    decorator."""
    setattr(endpoint, _READS_ONLY, True)
    return endpoint


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed if the route returns, rolled back if it raises. Requests that read (GET,
    routes marked :func:`reads_only`) get a read transaction; the others queue on the write lock and begin a write
    transaction (``zhili.core.db``: a read transaction must not turn into a write on SQLite)."""
    reading = request.method in ("GET", "HEAD", "OPTIONS") or getattr(request.scope.get("endpoint"), _READS_ONLY,
                                                                       False)
    guard = nullcontext() if reading else write_guard(get_engine())
    with guard, unit_of_work((read_session_factory if reading else session_factory)()) as session:
        yield session


# scope="function": the commit runs when the route returns, before the response is sent — a client never reads
# "done" (or follows a redirect) before the change is committed, and a failed commit becomes an error response.
Db = Annotated[Session, Depends(get_db, scope="function")]


def get_replica_db(request: Request, session: Db) -> Iterator[Session]:
    """The session of a read-heavy route that a streaming replica may serve (``ZHILI_READ_DATABASE_URL``): the
    screen and dashboards, analytics, exports, 4E reads. A session on the replica when it answers, has replayed the
    caller's own last write (``zhili.http.replica``) and is not too far behind (``zhili.core.replica``); else —
    and always without a replica, or on SQLite — the request's own session (:data:`Db`). What a replica read must
    write (an export's audit entry) goes to that primary session. Authentication always reads the primary (a
    session ended there is refused at once). Pages that must show a write at once stay on :data:`Db`."""
    from zhili.http.replica import written_lsn

    factory = replica_session_factory()
    if factory is None:
        yield session
        return
    decision = replica.router().route(factory, primary=session, written=written_lsn(request))
    request.state.read_from = decision.reason
    replica.log.debug("%s %s: read on %s", request.method, request.url.path, decision.reason)
    if decision.replica is None:
        yield session
        return
    replica_session = bind_primary(decision.replica, session)
    try:
        with settle(replica_session):
            yield replica_session
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if not exc.connection_invalidated:
            raise
        replica.router().lost(exc, engine=factory.kw.get("bind"))
        raise replica.ReplicaLost() from exc
    finally:
        replica_session.close()


# Routes that read much and may be served by the read replica (see :func:`get_replica_db`).
ReplicaDb = Annotated[Session, Depends(get_replica_db, scope="function")]


@dataclass(frozen=True)
class ReadSessions:
    """Read sessions for a route that may not need one: ``database`` names the database (the key of per-process
    caches), ``open()`` gives a session that commits on exit. Nothing is opened unless ``open`` is called."""

    database: str
    open: Callable[[], AbstractContextManager[Session]]


def get_read_sessions() -> ReadSessions:
    """Read sessions on the process's engine (deferred transactions on SQLite: they never wait for writers)."""
    factory = read_session_factory()
    return ReadSessions(database=database_key(get_engine()), open=lambda: unit_of_work(factory))


def client_ip(request: Request) -> str | None:
    """The caller's address: the TCP peer, or the nearest untrusted X-Forwarded-For hop when the peer is one of
    ``ZHILI_TRUSTED_PROXIES`` (``core.netaddr.client_address``). The one place that reads either."""
    return client_address(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"), trusted_networks())


# Query parameters that would carry a personal number in a URL (and so into access logs, proxies, browser history).
PERSONAL_QUERY_PARAMS = frozenset({"id_number", "phone", "mobile", "reporter_phone", "contact_phone"})


def refuse_personal_numbers_in_url(request: Request) -> None:
    """Refuse (422 ``personal_number_in_url``) a request whose query string names an ID number or phone: exact
    lookups are POSTed as JSON (``POST /api/v1/registry/persons/search``, ``POST /api/v1/registry/{kind}/export``).
    A dependency of every ``/api/v1`` route, so a new route cannot take them from the URL either."""
    found = sorted({k for k in request.query_params if k.lower() in PERSONAL_QUERY_PARAMS})
    if found:
        raise ValidationFailed(
            "身份证号、手机号不能放在网址中（网址会被记入访问日志），请改用 POST 请求以 JSON 提交检索条件，"
            "如 POST /api/v1/registry/persons/search", code="personal_number_in_url",
            details={"parameters": found, "use": "POST /api/v1/registry/persons/search"})


def bearer_token(request: Request) -> str | None:
    """The session token from ``Authorization: Bearer`` or the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def get_principal(request: Request, session: Db) -> Principal:
    """The authenticated caller, or 401."""
    from zhili.users.service import principal_for_token

    token = bearer_token(request)
    if not token:
        raise Unauthenticated()
    principal = principal_for_token(session, token=token, ip=client_ip(request))
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def get_cached_principal(request: Request,
                                sessions: Annotated[ReadSessions, Depends(get_read_sessions)]) -> CachedPrincipal:
    """The caller's cached authentication entry, read from the database only on a cache miss (then in a read
    transaction that ends here, so the request holds no connection while it waits on a writer; a hit opens no
    session at all). Not yet confirmed: the route must hand it to a writer that checks it against the
    authentication counter in the transaction that acts on it (the intake writer does)."""
    token = bearer_token(request)
    if not token:
        raise Unauthenticated()
    entry = cached_principal(database=sessions.database, token=token)
    if entry is None:
        with sessions.open() as session:
            entry = authenticate(session, token=token)
    entry = replace(entry, principal=replace(entry.principal, ip=client_ip(request)))
    request.state.principal = entry.principal
    return entry


CachedAuth = Annotated[CachedPrincipal, Depends(get_cached_principal)]


def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"页码，从1开始，最大{MAX_PAGE}")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500, description="每页条数")] = 50,
    sort: Annotated[str | None, Query(description="排序字段，前缀 - 表示倒序")] = None,
) -> PageParams:
    """Pagination query parameters."""
    return PageParams(page=page, page_size=page_size, sort=sort)


Paging = Annotated[PageParams, Depends(page_params)]
