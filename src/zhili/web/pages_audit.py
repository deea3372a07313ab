"""The auditor's pages (审计员, 三员分立), under ``/console/audit/``: the audit log with its filters and one event's
detail, every full-data reveal and export with its reason, failed logins and lockouts, and the chain verification
with its anchors. Read-only: the one form that writes anything is running the verification (which the service
records in the log). Only holders of ``audit:read`` — the auditor — get past the gate; the services check it again.

Nothing personal is shown in clear: :mod:`zhili.web.auditview` masks every value, and a filter holding an ID
number or a phone number is ignored (never searched, never echoed into a link)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from zhili.audit import names as audit_names
from zhili.audit import service
from zhili.cases.workflow import TRANSITIONS
from zhili.core.clock import utcnow
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm
from zhili.core.validators import personal_number_kind
from zhili.http.deps import Db, reads_only
from zhili.regions import picker as unit_picker
from zhili.web import auditview
from zhili.web.adminkit import perm_gate, picker, query_text
from zhili.web.casepages import pages
from zhili.web.deps import PageUser
from zhili.web.messages_audit import ACTIONS, OBJECTS
from zhili.web.render import locale_of, render, tr

router = APIRouter(prefix="/console/audit")

Auditor = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.audit_read), "audit.forbidden"))]
PAGE_SIZE = 50
SECTIONS = (("/console/audit/", "audit.log.title"), ("/console/audit/reveals", "audit.reveals.title"),
            ("/console/audit/logins", "audit.logins.title"), ("/console/audit/verify", "audit.verify.title"))
REVIEW_KINDS = {"reveal": service.REVEAL_ACTIONS, "export": service.EXPORT_ACTIONS}
# the catalogue's actions and every step of the case workflow (recorded as case.<step>)
KNOWN_ACTIONS = tuple(dict.fromkeys([*ACTIONS, *(f"case.{t.action}" for t in TRANSITIONS)]))
TARGET_TYPES = tuple(k for k in OBJECTS if k not in ("buildings", "households", "persons", "organisations"))
Text = Annotated[str | None, Query(max_length=100)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@dataclass(frozen=True)
class Typed:
    """The filter form as typed (shown again, and carried by the pager's links)."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target: str = ""
    since: str = ""
    until: str = ""
    unit: str = ""
    kind: str = ""

    def query(self, **rename: str) -> str:
        """The filters as the start of a query string (``rename``: a field's name in this page's URL)."""
        return _query({rename.get(k, k): v for k, v in asdict(self).items()})


def _query(values: dict[str, str]) -> str:
    given = {k: v for k, v in values.items() if v}
    return urlencode(given) + "&" if given else ""


def _typed(**raw: str | None) -> Typed:
    return Typed(**{k: query_text(v, 100) for k, v in raw.items()})


def _date(request: Request, raw: str, label_key: str, errors: list[str]) -> dt.date | None:
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        errors.append(tr(request, "audit.err.date", field=tr(request, label_key)))
        return None
    return day


def _filter(request: Request, typed: Typed, errors: list[str]) -> tuple[service.EventFilter, Typed]:
    """The service filter for what was typed; a value that cannot be used is dropped with a message (an ID or
    phone number is never searched from a URL nor echoed back)."""
    for name in ("actor", "target"):
        if personal_number_kind(getattr(typed, name)):
            errors.append(tr(request, "audit.err.number_in_url"))
            typed = replace(typed, **{name: ""})
    if typed.action and typed.action not in KNOWN_ACTIONS:
        errors.append(tr(request, "audit.err.unknown_action"))
        typed = replace(typed, action="")
    if typed.target_type not in TARGET_TYPES:
        typed = replace(typed, target_type="")
    since = _date(request, typed.since, "audit.f.since", errors)
    until = _date(request, typed.until, "audit.f.until", errors)
    if since and until and since > until:
        errors.append(tr(request, "audit.err.range"))
    number = typed.target if auditview.CASE_NUMBER.match(typed.target) else None
    f = service.EventFilter(
        actor=typed.actor or None, actions=(typed.action,) if typed.action else (),
        object_type=typed.target_type or None, case_number=number,
        object_id=typed.target if typed.target and not number else None,
        since=since, until=until, unit_path=typed.unit or None)
    return f, typed


def _unit_picker(request: Request, session: Any, pu: PageUser, typed: Typed) -> Any:
    chosen = unit_picker.units_named(session, paths=[typed.unit]) if typed.unit else []
    offered = unit_picker.pick_units(session, principal=pu.principal)
    return picker("unit", tr(request, "audit.f.unit"), units=chosen, chosen_values=[typed.unit], mode="path",
                  empty_label=tr(request, "audit.f.any"), offered=offered)


def _listing(request: Request, session: Any, pu: PageUser, f: service.EventFilter, page: int
             ) -> dict[str, Any]:
    events, total = service.list_events(session, principal=pu.principal, filters=f, page=page, page_size=PAGE_SIZE)
    named = audit_names.describe(session, principal=pu.principal, events=events)
    return {"rows": auditview.rows(locale_of(request), events, named), "total": total, "page": page,
            "pages": pages(total, PAGE_SIZE)}


def _action_choices(request: Request) -> list[tuple[str, str]]:
    """Every action the log can hold, by name, grouped by what it acts on."""
    loc = locale_of(request)
    return sorted(((code, auditview.action_name(loc, code)) for code in KNOWN_ACTIONS),
                  key=lambda kv: (kv[0].partition(".")[0], kv[1]))


# -- the log ----------------------------------------------------------------------------------------------------

@router.get("/")
def log(request: Request, session: Db, pu: Auditor, actor: Text = None, action: Text = None,
        target_type: Text = None, target: Text = None, since: Text = None, until: Text = None,
        unit: Annotated[str | None, Query(max_length=400)] = None, page: Page = 1) -> Response:
    errors: list[str] = []
    f, typed = _filter(request, _typed(actor=actor, action=action, target_type=target_type, target=target,
                                       since=since, until=until, unit=unit), errors)
    return render(request, "console/audit/log.html", {
        **_listing(request, session, pu, f, page), "typed": typed, "errors": errors,
        "pager_query": typed.query(), "actions": _action_choices(request),
        "target_types": [(k, auditview.object_name(locale_of(request), k)) for k in TARGET_TYPES],
        "unit_picker": _unit_picker(request, session, pu, typed), "sections": SECTIONS})


@router.get("/events/{seq}")
def event(request: Request, session: Db, pu: Auditor, seq: int) -> Response:
    ev, intact = service.get_event(session, principal=pu.principal, seq=seq)
    named = audit_names.describe(session, principal=pu.principal, events=[ev])
    loc = locale_of(request)
    return render(request, "console/audit/event.html", {
        "ev": ev, "row": auditview.rows(loc, [ev], named)[0], "intact": intact,
        "fields": auditview.field_list(loc, ev, named), "sections": SECTIONS})


# -- the reviews ------------------------------------------------------------------------------------------------

@router.get("/reveals")
def reveals(request: Request, session: Db, pu: Auditor, actor: Text = None, kind: Text = None,
            since: Text = None, until: Text = None, page: Page = 1) -> Response:
    errors: list[str] = []
    f, typed = _filter(request, _typed(actor=actor, since=since, until=until, kind=kind), errors)
    if typed.kind not in REVIEW_KINDS:
        typed = replace(typed, kind="")
    actions = REVIEW_KINDS.get(typed.kind) or (*service.REVEAL_ACTIONS, *service.EXPORT_ACTIONS)
    return render(request, "console/audit/reveals.html", {
        **_listing(request, session, pu, replace(f, actions=actions), page), "typed": typed, "errors": errors,
        "pager_query": typed.query(), "kinds": list(REVIEW_KINDS), "sections": SECTIONS})


@router.get("/logins")
def logins(request: Request, session: Db, pu: Auditor, account: Text = None, since: Text = None,
           until: Text = None, page: Page = 1) -> Response:
    errors: list[str] = []
    f, typed = _filter(request, _typed(actor=account, since=since, until=until), errors)
    at_risk = service.accounts_at_risk(session, principal=pu.principal, account=typed.actor or None)
    return render(request, "console/audit/logins.html", {
        **_listing(request, session, pu, replace(f, actions=service.LOGIN_ACTIONS), page), "typed": typed,
        "errors": errors, "accounts": [(u, audit_names.masked_person(u.display_name) if u.role.value == "resident"
                                        else u.display_name) for u in at_risk],
        "pager_query": typed.query(actor="account"), "now": utcnow(), "sections": SECTIONS})


# -- verification -----------------------------------------------------------------------------------------------

def _verify_page(request: Request, session: Any, pu: PageUser, *, result: Any = None,
                 anchor_page: int = 1) -> Response:
    anchors, total = service.list_anchors(session, principal=pu.principal, page=anchor_page)
    last, _ = service.list_events(session, principal=pu.principal, filters=service.EventFilter(
        actions=("audit.verify",)), page=1, page_size=1)
    named = audit_names.describe(session, principal=pu.principal, events=last)
    return render(request, "console/audit/verify.html", {
        "result": result, "anchors": anchors, "total": total, "page": anchor_page, "pages": pages(total, 20),
        "pager_query": "", "last": auditview.rows(locale_of(request), last, named)[0] if last else None,
        "last_after": last[0].after if last and isinstance(last[0].after, dict) else {}, "sections": SECTIONS})


@router.get("/verify")
def verify_page(request: Request, session: Db, pu: Auditor, page: Page = 1) -> Response:
    return _verify_page(request, session, pu, anchor_page=page)


@router.post("/verify")
@reads_only
def verify(request: Request, session: Db, pu: Auditor) -> Response:
    """Run the verification (recorded in the log by the service) and show its result."""
    result = service.verify(session, principal=pu.principal)
    return _verify_page(request, session, pu, result=result)
