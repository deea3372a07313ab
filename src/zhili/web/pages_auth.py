"""Login, logout, password change, the site root and ``/home`` (both to the role's home) and the language switch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Locked, Unauthenticated
from zhili.http.deps import SESSION_COOKIE, Db, client_ip, cookie_secure
from zhili.users import service as users
from zhili.web import csrf, i18n
from zhili.web.deps import CurrentPageUser
from zhili.web.render import home_url_for, redirect, render, safe_next, tr

router = APIRouter()


def _login_form(request: Request, *, username: str = "", next_url: str | None = None, error: str | None = None,
                status: int = 200) -> Response:
    return render(request, "login.html", {"username": username, "next_url": next_url or "", "error": error},
                  status=status)


@router.get("/login")
def login_page(request: Request, session: Db, next: str | None = None) -> Response:
    role = _signed_in_role(request, session)
    if role is not None:
        return redirect(safe_next(next) or home_url_for(role))
    return _login_form(request, next_url=safe_next(next))


@router.post("/login")
def login_submit(request: Request, session: Db, username: Annotated[str, Form(max_length=64)] = "",
                 password: Annotated[str, Form(max_length=256)] = "",
                 next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    username = username.strip()
    try:
        token, auth, user = users.login(session, username=username, password=password, ip=client_ip(request),
                                        user_agent=request.headers.get("user-agent"))
    except (Unauthenticated, Locked) as exc:
        roll_back_refused(session)  # the failure count, the lock and the audit record stay (as in the API)
        return _login_form(request, username=username, next_url=safe_next(next), error=exc.message,
                           status=exc.status)
    if user.must_change_password:
        target = "/account/password?msg=must_change_password"
    else:
        target = safe_next(next) or home_url_for(user.role)
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=cookie_secure(request),
                        expires=auth.expires_at)
    response.delete_cookie(csrf.ANON_COOKIE)
    return response


@router.get("/logout")
def logout_page(request: Request, pu: CurrentPageUser) -> Response:
    return render(request, "logout.html")


@router.post("/logout")
def logout_submit(request: Request, session: Db) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        users.logout(session, token=token)
    response = redirect("/login?msg=logged_out")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/password")
def password_page(request: Request, pu: CurrentPageUser) -> Response:
    return render(request, "password.html", {"error": None})


@router.post("/account/password")
def password_submit(request: Request, session: Db, pu: CurrentPageUser,
                    old_password: Annotated[str, Form(max_length=256)] = "",
                    new_password: Annotated[str, Form(max_length=256)] = "",
                    confirm_password: Annotated[str, Form(max_length=256)] = "") -> Response:
    if new_password != confirm_password:
        return render(request, "password.html", {"error": tr(request, "password.mismatch")}, status=422)
    try:
        users.change_password(session, principal=pu.principal, old_password=old_password,
                              new_password=new_password, current_token=pu.token)
    except DomainError as exc:
        return render(request, "password.html", {"error": exc.message}, status=exc.status)
    return redirect(home_url_for(pu.principal.role) + "?msg=password_changed")


@router.get("/")
def root(request: Request, session: Db) -> Response:
    """The site root: the login page for a visitor, the role's home for a signed-in user (API clients read
    ``/api/v1/health`` and ``/docs``)."""
    role = _signed_in_role(request, session)
    return redirect(home_url_for(role) if role is not None else "/login")


def _signed_in_role(request: Request, session: Any) -> Any:
    """The role of the session cookie's user, or None (no cookie, or an expired or revoked session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return users.principal_for_token(session, token=token).role
    except Unauthenticated:
        return None


@router.get("/home")
def home(request: Request, pu: CurrentPageUser) -> Response:
    """The old home address: to the role's home."""
    return redirect(home_url_for(pu.principal.role))


@router.post("/locale")
def set_locale(request: Request, lang: Annotated[str, Form(max_length=8)] = i18n.DEFAULT_LOCALE,
               next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    response = redirect(safe_next(next) or "/login")
    if lang in i18n.LOCALES:
        response.set_cookie(i18n.LOCALE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax",
                            secure=cookie_secure(request))
    return response
