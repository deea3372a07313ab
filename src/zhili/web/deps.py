"""Page dependencies: the signed-in user from the session cookie, must-change-password, role gates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from zhili.core.errors import Forbidden, Unauthenticated
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.http.deps import SESSION_COOKIE, Db, client_ip
from zhili.users import service as users
from zhili.web.render import Redirect, tr

PASSWORD_PAGES = frozenset({"/account/password", "/logout"})  # reachable while a password change is due


@dataclass(frozen=True)
class PageUser:
    """The signed-in user of a page request."""

    principal: Principal
    token: str
    must_change_password: bool


def page_user(request: Request, session: Db) -> PageUser:
    """The user behind the session cookie; not signed in → the login page; password due → the password page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated()
    principal = users.principal_for_token(session, token=token, ip=client_ip(request))
    request.state.principal = principal
    user = users.get_user_self(session, principal=principal)
    pu = PageUser(principal=principal, token=token, must_change_password=bool(user.must_change_password))
    request.state.page_user = pu
    if pu.must_change_password and request.url.path not in PASSWORD_PAGES:
        raise Redirect("/account/password?msg=must_change_password")
    return pu


CurrentPageUser = Annotated[PageUser, Depends(page_user)]


def role_gate(role: Role, message_key: str) -> Callable[[Request, PageUser], PageUser]:
    """A dependency admitting only ``role`` (others get the 403 page)."""

    def gate(request: Request, pu: CurrentPageUser) -> PageUser:
        if pu.principal.role != role:
            raise Forbidden(tr(request, message_key), code="wrong_portal")
        return pu

    return gate


Resident = Annotated[PageUser, Depends(role_gate(Role.resident, "error.resident_only"))]
GridWorker = Annotated[PageUser, Depends(role_gate(Role.grid_worker, "error.grid_worker_only"))]
