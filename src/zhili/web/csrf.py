"""CSRF protection for the pages: a per-session token checked on every page POST.

The token is ``HMAC-SHA256(session_secret, "session|" + session token)`` — it changes with each login and needs
no storage. Before login (the login form itself) a random nonce in the ``zhili_csrf`` cookie stands in for the
session token. Forms carry the token in the hidden field ``csrf_token``; htmx requests send it in the
``X-CSRF-Token`` header (``hx-headers`` on ``<body>``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from starlette.requests import Request

from zhili.core.errors import Forbidden
from zhili.http.deps import SESSION_COOKIE

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
ANON_COOKIE = "zhili_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FILES, MAX_FIELDS = 10, 100


@lru_cache(maxsize=4)
def _secret_for(keys: str, key_file: str) -> bytes:
    from zhili.core.settings import get_settings, load_key_material

    raw = load_key_material(get_settings())["session_secret"]
    return base64.b64decode(str(raw))


def _secret() -> bytes:
    from zhili.core.settings import get_settings

    s = get_settings()
    return _secret_for(s.keys, str(s.effective_key_file))


def token_for(binding: str) -> str:
    """The CSRF token bound to a session token (or to a pre-login nonce)."""
    return hmac.new(_secret(), binding.encode(), hashlib.sha256).hexdigest()


def _binding(request: Request) -> str | None:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "session|" + session
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(ANON_COOKIE)
    return "anon|" + nonce if nonce else None


def csrf_token(request: Request) -> str:
    """The token to put into this request's forms (creating a pre-login nonce when there is no session)."""
    binding = _binding(request)
    if binding is None:
        request.state.csrf_nonce = secrets.token_urlsafe(24)  # set as a cookie by the page renderer
        binding = "anon|" + request.state.csrf_nonce
    return token_for(binding)


def new_nonce(request: Request) -> str | None:
    """A nonce minted during this request that the response must set as the ``zhili_csrf`` cookie."""
    return getattr(request.state, "csrf_nonce", None)


async def csrf_protect(request: Request) -> None:
    """Router dependency: refuse a page POST (or any unsafe method) without the right token (403)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            # parsed once (Starlette caches it; the route reuses it), with tight limits: page forms are small
            form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    binding = _binding(request)
    if not sent or binding is None or not hmac.compare_digest(sent, token_for(binding)):
        raise Forbidden(code="csrf_failed", details={"reason": "csrf"})
