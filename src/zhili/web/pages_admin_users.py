"""Account administration pages (三员分立: only holders of ``user:write`` — the system administrator — manage
accounts; the auditor is refused). List and search, create (the initial password is shown once and must be
changed at first login), edit role / units / department, reset the password, unlock, deactivate or reactivate,
and end all sessions; every action is audited by the service it calls."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Role
from zhili.http.deps import Db
from zhili.org import service as org
from zhili.regions import picker as unit_picker
from zhili.users import admin as accounts
from zhili.users import service as users
from zhili.web.adminkit import AccountAdmin, form_values, invalid, picker, query_text, required
from zhili.web.casepages import PAGE_SIZE, PostedForm, pages, text
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/admin/users")

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
USER_FIELDS = ("username", "display_name", "role", "department", "phone")


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


@router.get("")
def user_list(request: Request, session: Db, pu: AccountAdmin,
              q: Annotated[str | None, Query(max_length=64)] = None,
              role: Annotated[Role | None, Query()] = None,
              status: Annotated[str | None, Query(pattern="^(active|inactive|locked)?$")] = None,
              unit_id: Annotated[str | None, Query(max_length=40)] = None,
              page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    unit = _uuid(unit_id)
    rows, total = accounts.search_users(session, principal=pu.principal, filters=accounts.UserFilter(
        role=role, unit_id=unit, status=status or None, q=query_text(q, 64) or None), page=page, page_size=PAGE_SIZE)
    chosen = unit_picker.units_named(session, ids=[unit]) if unit else []
    filters = {"q": query_text(q, 64), "role": role.value if role else "", "status": status or "",
               "unit_id": str(unit) if unit else ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "console/admin/users.html", {
        "users": [users.describe_user(session, user=u) for u in rows], "total": total, "page": page,
        "pages": pages(total), "pager_query": query + "&" if query else "", "filters": filters,
        "roles": [r.value for r in Role], "statuses": accounts.STATUSES,
        "names": org.department_names(session),
        "unit_picker": picker("unit_id", tr(request, "admin.users.unit"), units=chosen,
                              chosen_values=[filters["unit_id"]], empty_label=tr(request, "admin.rule.filter_any"),
                              offered=unit_picker.pick_units(session, principal=pu.principal)),
    })


def _user_form(request: Request, session: Any, pu: PageUser, *, values: dict[str, str], unit_ids: list[str],
               user_id: uuid.UUID | None = None, error: str | None = None, status: int = 200) -> Response:
    user = users.get_user(session, principal=pu.principal, user_id=user_id) if user_id else None
    ids = [u for u in (_uuid(v) for v in unit_ids) if u]
    return render(request, "console/admin/user_form.html", {
        "values": values, "error": error, "account": users.describe_user(session, user=user) if user else None,
        "sessions": accounts.live_session_count(session, user=user) if user else 0,
        "is_self": user is not None and user.id == pu.principal.user_id,
        "roles": [r.value for r in Role], "departments": org.list_departments(session),
        "unit_picker": picker("unit_ids", tr(request, "admin.users.units"),
                              units=unit_picker.units_named(session, ids=ids), chosen_values=[str(i) for i in ids],
                              multi=True, offered=unit_picker.pick_units(session, principal=pu.principal)),
    }, status=status)


def _account_values(request: Request, form: FormData, *, creating: bool) -> dict[str, Any]:
    raw = form_values(form, USER_FIELDS, 200)
    out: dict[str, Any] = {"display_name": required(request, raw["display_name"], "admin.users.display_name", 100)}
    if creating:
        if not USERNAME_RE.fullmatch(raw["username"]):
            raise invalid(request, "admin.err.username")
        out["username"] = raw["username"]
    try:
        out["role"] = Role(raw["role"])
    except ValueError as exc:
        raise invalid(request, "admin.err.choice", field=tr(request, "admin.users.role")) from exc
    ids = []
    for v in form.getlist("unit_ids"):
        uid = _uuid(v if isinstance(v, str) else None)
        if uid is None:
            raise invalid(request, "admin.err.choice", field=tr(request, "admin.users.units"))
        if uid not in ids:
            ids.append(uid)
    out["unit_ids"] = ids
    out["department"] = raw["department"] or None
    if raw["phone"]:
        out["phone"] = raw["phone"]
    return out


@router.get("/new")
def user_new(request: Request, session: Db, pu: AccountAdmin) -> Response:
    values = dict.fromkeys(USER_FIELDS, "")
    values["role"] = Role.grid_worker.value
    return _user_form(request, session, pu, values=values, unit_ids=[])


def _posted_units(form: FormData) -> list[str]:
    return [v for v in form.getlist("unit_ids") if isinstance(v, str)]


@router.post("")
def user_create(request: Request, session: Db, pu: AccountAdmin, form: PostedForm) -> Response:
    try:
        user, password = accounts.create_account(session, principal=pu.principal,
                                                 **_account_values(request, form, creating=True))
    except DomainError as exc:
        roll_back_refused(session)
        return _user_form(request, session, pu, values=form_values(form, USER_FIELDS, 200),
                          unit_ids=_posted_units(form), error=exc.message, status=exc.status)
    return render(request, "console/admin/user_secret.html", {
        "account": users.describe_user(session, user=user), "password": password, "created": True})


@router.get("/{user_id}")
def user_edit(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID) -> Response:
    user = users.get_user(session, principal=pu.principal, user_id=user_id)
    values = {"username": user.username, "display_name": user.display_name, "role": user.role.value,
              "department": user.department or "", "phone": ""}
    return _user_form(request, session, pu, values=values, unit_ids=[str(u.unit_id) for u in user.units],
                      user_id=user_id)


@router.post("/{user_id}")
def user_save(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID, form: PostedForm) -> Response:
    try:
        accounts.edit_account(session, principal=pu.principal, user_id=user_id,
                              changes=_account_values(request, form, creating=False))
    except DomainError as exc:
        roll_back_refused(session)
        values = form_values(form, USER_FIELDS, 200)
        values["username"] = users.get_user(session, principal=pu.principal, user_id=user_id).username
        return _user_form(request, session, pu, values=values, unit_ids=_posted_units(form), user_id=user_id,
                          error=exc.message, status=exc.status)
    return redirect(f"/console/admin/users/{user_id}?msg=admin_saved")


@router.post("/{user_id}/password")
def user_reset(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID) -> Response:
    password = accounts.reset_to_generated_password(session, principal=pu.principal, user_id=user_id)
    user = users.get_user(session, principal=pu.principal, user_id=user_id)
    return render(request, "console/admin/user_secret.html", {
        "account": users.describe_user(session, user=user), "password": password, "created": False})


@router.post("/{user_id}/unlock")
def user_unlock(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID) -> Response:
    accounts.unlock_account(session, principal=pu.principal, user_id=user_id)
    return redirect(f"/console/admin/users/{user_id}?msg=admin_unlocked")


@router.post("/{user_id}/active")
def user_active(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID, form: PostedForm) -> Response:
    active = text(form, "active", 1) == "1"
    accounts.set_account_active(session, principal=pu.principal, user_id=user_id, active=active)
    return redirect(f"/console/admin/users/{user_id}?msg={'admin_reactivated' if active else 'admin_deactivated'}")


@router.post("/{user_id}/sessions")
def user_sessions(request: Request, session: Db, pu: AccountAdmin, user_id: uuid.UUID) -> Response:
    accounts.revoke_sessions(session, principal=pu.principal, user_id=user_id)
    return redirect(f"/console/admin/users/{user_id}?msg=admin_sessions_revoked")
