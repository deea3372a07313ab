"""Request body limits, enforced before anything parses a body.

Every request body is limited: :data:`DEFAULT_LIMIT` (JSON and forms) unless its route declares more with
:func:`body_limit` (uploads, Excel imports, boundaries). :class:`BodyLimit` refuses a declared Content-Length over
the limit at once and counts the bytes as they stream in (a chunked body has no Content-Length): the moment the
count passes the limit, reading the body fails, so the route never runs, and the answer is replaced by
413 ``payload_too_large`` — whatever the application made of the failed read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from zhili.core.errors import DomainError

DEFAULT_LIMIT = 1024 * 1024
MARGIN = 256 * 1024  # multipart framing and the other form fields around a file
BOUNDARY_LIMIT = 8 * 1024 * 1024  # a GeoJSON boundary of a whole district, with room to spare

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__zhili_body_limit__"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    default_message = "请求内容过大"


def body_limit(max_bytes: int | Callable[[], int]) -> Callable[[F], F]:
    """Declare a route's body limit (bytes, or a function giving it from the settings at request time)."""
    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTR, max_bytes)
        return endpoint
    return mark


def _message(limit: int) -> str:
    size = f"{limit / 1024 / 1024:.1f} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"请求内容过大：此接口最多接受 {size}"


class BodyLimit:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: Any, default: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.default = default
        self._table: list[tuple[re.Pattern[str], set[str], int | Callable[[], int]]] | None = None

    def _declared(self, app: Any) -> list[tuple[re.Pattern[str], set[str], int | Callable[[], int]]]:
        """The routes that declare a limit (path pattern, methods, limit), collected once from ``app``."""
        if self._table is None:
            table = []
            for route in iter_route_contexts(getattr(app, "routes", [])):
                declared = getattr(getattr(route, "endpoint", None), _ATTR, None)
                if declared is not None and route.path:
                    regex, _, _ = compile_path(route.path)
                    table.append((regex, set(route.methods or ()), declared))
            self._table = table
        return self._table

    def _route_limit(self, scope: Any) -> int:
        path, method = scope.get("path", ""), scope["method"]
        for regex, methods, declared in self._declared(scope.get("app")):
            if method in methods and regex.match(path):
                return int(declared() if callable(declared) else declared)
        return self.default

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for k, v in scope.get("headers") or ():
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = None
                break
        # Most bodies are small and declare their length: the route is looked up only when it could matter.
        limit = self.default if declared is not None and declared <= self.default else self._route_limit(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Any:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge(_message(limit))
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if exceeded:  # whatever the application answered to the failed read: the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if not started:
                started = True
                await _refuse(send, limit)


async def _refuse(send: Any, limit: int) -> None:
    body = json.dumps({"code": PayloadTooLarge.code, "message": _message(limit),
                       "details": {"max_bytes": limit}}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
