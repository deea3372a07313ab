"""Read-your-writes across the server's worker processes: after a request that wrote, the primary's WAL position
travels with the caller in a signed cookie; a read routed to the replica (``zhili.http.deps.ReplicaDb``) is served
there only once the replica has replayed that position (``zhili.core.replica``).

A cookie works whichever worker process answers next; an in-process marker would not. It is signed (HMAC with the
session secret), so a caller cannot push every read of theirs onto the primary with a made-up position, and it
expires when a replica still that far behind would be refused for lag anyway. A client that keeps no cookies (a
script with a bearer token) reads at most ``ZHILI_READ_MAX_LAG_S`` behind its own writes on the routed paths; the
pages that must show a write at once (the case page after an action, worklists, forms) never read the replica.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from functools import lru_cache
from typing import Any

import anyio
from starlette.requests import Request

from zhili.core.db import get_engine, get_read_engine
from zhili.core.replica import WRITTEN_LSN_SQL, parse_lsn
from zhili.core.settings import get_settings, load_key_material

log = logging.getLogger("zhili.replica")

COOKIE = "zhili_rw"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_LIFETIME_S = 60


@lru_cache(maxsize=4)
def _secret_for(keys: str, key_file: str) -> bytes:
    raw = load_key_material(get_settings())["session_secret"]
    return hashlib.sha256(b"zhili-read-your-writes|" + base64.b64decode(str(raw))).digest()


def _secret() -> bytes:
    s = get_settings()
    return _secret_for(s.keys, str(s.effective_key_file))


def _mac(lsn: int, expires: int) -> str:
    return hmac.new(_secret(), f"{lsn}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def lifetime_s() -> int:
    """How long a written position is remembered: past that, a replica still behind it is refused for lag."""
    return max(MIN_LIFETIME_S, int(2 * get_settings().read_max_lag_s) + 1)


def cookie_value(lsn: int, *, now: float | None = None) -> str:
    expires = int((now or time.time()) + lifetime_s())
    return f"{lsn:x}.{expires}.{_mac(lsn, expires)}"


def written_lsn(request: Request, *, now: float | None = None) -> int | None:
    """The primary's WAL position after the caller's last write, from a valid unexpired cookie, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        lsn_hex, expires_text, mac = raw.split(".")
        lsn, expires = int(lsn_hex, 16), int(expires_text)
    except ValueError:
        return None
    if expires < (now or time.time()) or not hmac.compare_digest(mac, _mac(lsn, expires)):
        return None
    return lsn


def _primary_position() -> int | None:
    with get_engine().connect() as conn:
        return parse_lsn(conn.execute(WRITTEN_LSN_SQL).scalar())


class ReadYourWrites:
    """Pure ASGI middleware: when a replica is configured, an answer (below 400) to a request that may have written
    (not GET/HEAD/OPTIONS, not a route marked ``reads_only``) carries the primary's WAL position as it stands
    after the request — after its commit, and after the intake writer's, which commits before it answers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or get_read_engine() is None:
            await self.app(scope, receive, send)
            return

        async def send_with_position(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and not getattr(
                    scope.get("endpoint"), "__zhili_reads_only__", False):
                message = await self._with_cookie(scope, message)
            await send(message)

        await self.app(scope, receive, send_with_position)

    @staticmethod
    async def _with_cookie(scope: Any, message: Any) -> Any:
        try:
            lsn = await anyio.to_thread.run_sync(_primary_position)
        except Exception as exc:  # noqa: BLE001 - the write is done; without the cookie reads go by lag alone
            log.warning("could not read the primary's WAL position after a write: %s", type(exc).__name__)
            return message
        if lsn is None:
            return message
        secure = get_settings().cookie_secure or scope.get("scheme") == "https"
        cookie = (f"{COOKIE}={cookie_value(lsn)}; Max-Age={lifetime_s()}; Path=/; HttpOnly; SameSite=Lax"
                  + ("; Secure" if secure else ""))
        return {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
