"""Intelligence pages (智能研判): the routing suggestions on a console case page (one click to take them), the
report forms' suggested categories, the models page (versions, evaluations, activate / roll back) and the 研判
page of the command centre. Thin routes over :mod:`zhili.intel`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from zhili.cases.models import CaseState
from zhili.cases.taxonomy import list_categories
from zhili.core.db import roll_back_refused, utcnow
from zhili.core.errors import DomainError, Forbidden
from zhili.core.security import Perm, Role
from zhili.http.deps import Db, ReplicaDb
from zhili.intel import hot_cases, routing, store
from zhili.intel import hotspots as spots
from zhili.intel import risk as risk_mod
from zhili.intel import warnings as warn
from zhili.web import casepages as cp
from zhili.web import (
    i18n,
    messages_intel,  # noqa: F401  (registers the UI text)
)
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/console/intel")
INTAKE_ROLES = frozenset({Role.command_centre, Role.street_staff, Role.community_staff})


def _read_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if not pu.principal.can(Perm.intel_read):
        raise Forbidden(tr(request, "intel.forbidden"), code="wrong_portal")
    return pu


def _admin_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if not pu.principal.can(Perm.intel_admin):
        raise Forbidden(tr(request, "intel.models_forbidden"), code="wrong_portal")
    return pu


def _intake_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role not in INTAKE_ROLES:
        raise Forbidden(tr(request, "console.forbidden"), code="wrong_portal")
    return pu


ReadUser = Annotated[PageUser, Depends(_read_gate)]
AdminUser = Annotated[PageUser, Depends(_admin_gate)]
IntakeUser = Annotated[PageUser, Depends(_intake_gate)]


# -- suggestions on a case --------------------------------------------------------------------------------------

@router.get("/cases/{case_id}/suggestions")
def case_suggestions(request: Request, session: Db, pu: IntakeUser, case_id: uuid.UUID) -> Response:
    """The panel's content: top-3 categories and departments with the words behind them, and one-click forms
    where the case is still waiting to be accepted (category) or dispatched (department)."""
    advice = routing.suggestions_for_case(session, principal=pu.principal, case_id=case_id)
    state = CaseState(advice.case_state)
    dispatcher = pu.principal.role == Role.command_centre
    return render(request, "intel/_case_suggestions.html", {
        "advice": advice, "case_id": case_id, "version": advice.case_version,
        "can_take": {"category": state == CaseState.reported,
                     "department": dispatcher and state in (CaseState.reported, CaseState.accepted,
                                                            CaseState.returned)}})


@router.post("/cases/{case_id}/take")
def take(request: Request, session: Db, pu: IntakeUser, case_id: uuid.UUID, form: cp.PostedForm) -> Response:
    version_raw = cp.text(form, "version", 12)
    try:
        routing.take_suggestion(session, principal=pu.principal, case_id=case_id,
                                category_code=cp.text(form, "category_code", 32) or None,
                                department=cp.text(form, "department", 32) or None,
                                expected_version=int(version_raw) if version_raw.isdigit() else None)
    except DomainError as exc:
        from zhili.web.pages_console import case_page

        roll_back_refused(session)
        return case_page(request, session, pu, case_id, error=exc.message, status=exc.status)
    return redirect(f"/console/cases/{case_id}?msg=action_done")


# -- models -----------------------------------------------------------------------------------------------------

def _model_title(request: Request) -> Any:
    def title(name: str) -> str:
        key = f"intel.model_name.{name}"
        return tr(request, key) if key in i18n.MESSAGES else name

    return title


@router.get("/models")
def models(request: Request, session: Db, pu: AdminUser) -> Response:
    versions = store.list_versions(session, principal=pu.principal)
    groups: dict[str, list[Any]] = {}
    for v in versions:
        groups.setdefault(v.name, []).append(v)
    msg = {"activated": "intel.models.activated_msg", "rolled_back": "intel.models.rolled_back"}.get(
        request.query_params.get("msg", ""))
    return render(request, "intel/models.html", {
        "groups": sorted(groups.items(), key=lambda kv: (kv[0] not in routing.TARGETS, kv[0])),
        "model_title": _model_title(request), "known_keys": set(i18n.MESSAGES),
        "msg": tr(request, msg) if msg else None, "error": request.query_params.get("error_text")})


@router.post("/models/{model}/{version}/activate")
def activate(request: Request, session: Db, pu: AdminUser, model: str, version: int) -> Response:
    store.activate(session, principal=pu.principal, name=model, version=version)
    routing.ROUTER.forget()
    return redirect("/console/intel/models?msg=activated")


@router.post("/models/{model}/rollback")
def rollback(request: Request, session: Db, pu: AdminUser, model: str) -> Response:
    store.rollback(session, principal=pu.principal, name=model)
    routing.ROUTER.forget()
    return redirect("/console/intel/models?msg=rolled_back")


# -- the 研判 page ------------------------------------------------------------------------------------------------

@router.get("/")
def home(request: Request, session: ReplicaDb, pu: ReadUser) -> Response:
    groups = [c for c in list_categories(session) if c.parent_code is None]  # the top-level groups
    return render(request, "intel/home.html", {"category_groups": [(c.code, c.name) for c in groups],
                                               "can_admin": pu.principal.can(Perm.intel_admin)})


@router.get("/hot")
def hot(request: Request, session: ReplicaDb, pu: ReadUser, days: int = 30) -> Response:
    days = min(max(days, 1), 365)
    issues = hot_cases.hot_issues_for(session, principal=pu.principal,
                                      since=utcnow() - dt.timedelta(days=days), top=10)
    top_heat = max((i.heat for i in issues), default=1.0) or 1.0
    return render(request, "intel/_hot.html", {"issues": issues, "top_heat": top_heat})


@router.get("/hotspots.geojson")
def hotspots(session: ReplicaDb, pu: ReadUser, level: str = "h3", category: str | None = None,
             days: int = 90) -> Response:
    result = spots.hotspots_for(session, principal=pu.principal, level=level if level in ("h3", "grid") else "h3",
                                category=category or None, days=min(max(days, 7), 730))
    data = result.geojson(only_significant=level == "h3")
    s = result.summary
    data["summary"] = (f"事件 {s.get('cases', 0)} 件，{s.get('cells', 0)} 个单元：显著热点 {s.get('hot', 0)} 个，"
                       f"冷点 {s.get('cold', 0)} 个，新兴热点 {s.get('emerging', 0)} 个")
    for f in data["features"]:
        p = f["properties"]
        p["popup"] = (f"{p.get('name') or ''}<br>{p.get('label') or ''}<br>事件 {p.get('count', 0)} 件；"
                      f"Gi* z = {p.get('z', 0):.2f}；p = {p.get('p', 1):.3g}；q = {p.get('q', 1):.3g}"
                      + ("<br>新兴热点" if p.get("emerging") else ""))
    return JSONResponse(data, headers={"Cache-Control": "private, max-age=60"})


@router.get("/risk")
def risk(request: Request, session: ReplicaDb, pu: ReadUser) -> Response:
    return render(request, "intel/_risk.html", {"rows": risk_mod.risk_for(session, principal=pu.principal,
                                                                           limit=20)})


def _warnings_fragment(request: Request, session: Any, pu: PageUser, *, error: str | None = None,
                       status: int = 200) -> Response:
    rows = warn.list_warnings(session, principal=pu.principal, state="open", limit=100)
    return render(request, "intel/_warnings.html", {
        "rows": rows, "can_act": pu.principal.can(Perm.intel_warn), "error": error}, status=status)


@router.get("/warnings")
def warnings_list(request: Request, session: ReplicaDb, pu: ReadUser) -> Response:
    return _warnings_fragment(request, session, pu)


@router.post("/warnings/{warning_id}/dismiss")
def warning_dismiss(request: Request, session: Db, pu: ReadUser, warning_id: uuid.UUID,
                    form: cp.PostedForm) -> Response:
    try:
        warn.dismiss(session, principal=pu.principal, warning_id=warning_id, reason=cp.text(form, "reason", 500))
    except DomainError as exc:
        roll_back_refused(session)
        return _warnings_fragment(request, session, pu, error=exc.message, status=exc.status)
    return _warnings_fragment(request, session, pu)


@router.post("/warnings/{warning_id}/convert")
def warning_convert(request: Request, session: Db, pu: ReadUser, warning_id: uuid.UUID) -> Response:
    try:
        case = warn.convert(session, principal=pu.principal, warning_id=warning_id)
    except DomainError as exc:
        roll_back_refused(session)
        return _warnings_fragment(request, session, pu, error=exc.message, status=exc.status)
    return redirect(f"/console/cases/{case.id}?msg=action_done")
