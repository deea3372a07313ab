"""Golden-record pages (主数据): the review queue (merge / keep apart, HTMX), a golden record with its field
provenance, editable survivorship rules and merge history (undo), the "数据来源" panels of the register and case
pages, and the change subscriptions. Thin routes over :mod:`zhili.datahub.review`, :mod:`~zhili.datahub.lineage`,
:mod:`~zhili.datahub.survivorship`, :mod:`~zhili.datahub.golden` and :mod:`~zhili.datahub.changes`."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden, NotFound
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm
from zhili.datahub import changes, golden, golden_register, lineage, review, survivorship
from zhili.datahub.models import CandidateStatus, EntityType
from zhili.datahub.standard import FIELDS
from zhili.http.deps import Db
from zhili.web import messages_hub, messages_hub_review  # noqa: F401  (registers the UI text)
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter()
BASE = "/console/hub"
_REGISTER_PAGES = {"person": "/console/registry/persons/", "organisation": "/console/registry/organisations/",
                   "building": "/console/registry/buildings/"}


def _hub_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if not pu.principal.can(Perm.hub_read):
        raise Forbidden(tr(request, "hub.forbidden"), code="wrong_portal")
    return pu


HubReader = Annotated[PageUser, Depends(_hub_gate)]


# -- showing values: names, never codes or ids --------------------------------------------------------------------

def _labels(request: Request, entity: EntityType) -> dict[str, str]:
    out = {f.key: f.label for f in FIELDS[golden_register.TARGET_OF[entity]]}
    for key in ("grid_id", "household_id", "building_id", "entrance_id", "resident_type", "gender", "birth_date"):
        out.setdefault(key, tr(request, f"hub_review.field_{key}"))
    return out


def _display(session: Any, entity: EntityType, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """Replace choice codes by their Chinese labels and ids by names, in place (``keys``: the value columns)."""
    choices = {f.key: f.choices for f in FIELDS[golden_register.TARGET_OF[entity]] if f.choices}
    from zhili.regions.models import Unit
    from zhili.registry.models import Building, Household

    ids: dict[str, set[uuid.UUID]] = {"grid_id": set(), "household_id": set(), "building_id": set()}
    for r in rows:
        for k in keys:
            if r.get("field") in ids and r.get(k):
                with contextlib.suppress(ValueError):
                    ids[r["field"]].add(uuid.UUID(str(r[k])))
    names: dict[str, str] = {}
    if ids["grid_id"]:
        names.update({str(i): n for i, n in session.execute(select(Unit.id, Unit.name).where(
            Unit.id.in_(ids["grid_id"])))})
    if ids["household_id"]:
        names.update({str(i): a for i, a in session.execute(select(Household.id, Household.address).where(
            Household.id.in_(ids["household_id"])))})
    if ids["building_id"]:
        names.update({str(i): f"{a}{n}" for i, a, n in session.execute(
            select(Building.id, Building.address, Building.name).where(Building.id.in_(ids["building_id"])))})
    for r in rows:
        f = r.get("field")
        for k in keys:
            v = r.get(k)
            if v is None:
                continue
            if f in ids:
                r[k] = names.get(str(v), "—")
            elif f in choices:
                r[k] = choices[f].get(str(v), v)
            elif isinstance(v, list):
                r[k] = "、".join(str(x) for x in v)


def _fail(session: Any, exc: DomainError) -> None:
    roll_back_refused(session)
    if isinstance(exc, Forbidden | NotFound):
        raise exc


# -- the review queue ---------------------------------------------------------------------------------------------

@router.get(f"{BASE}/review")
def review_queue(request: Request, session: Db, pu: HubReader, decided: Annotated[int, Query(ge=0, le=1)] = 0,
                 page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    status = None if decided else CandidateStatus.pending
    rows, total = review.list_candidates(session, principal=pu.principal, status=status, page=page)
    if decided:
        rows = [r for r in rows if r.status != CandidateStatus.pending]
    items = []
    for c in rows:  # the names side by side (a page of at most 50 pairs)
        v = review.candidate_view(session, principal=pu.principal, candidate_id=c.id)
        by = {r["field"]: r for r in v["rows"]}
        items.append({"c": c, "left": by.get("name", {}).get("left"), "right": by.get("name", {}).get("right"),
                      "source": v["source"].title if v["source"] else None})
    return render(request, "hub/review.html", {"rows": items, "total": total, "decided": bool(decided),
                                               "page": page, "base": BASE})


@router.get(BASE + "/review/{candidate_id}")
def review_pair(request: Request, session: Db, pu: HubReader, candidate_id: uuid.UUID) -> Response:
    v = review.candidate_view(session, principal=pu.principal, candidate_id=candidate_id)
    entity = EntityType(v["candidate"].entity_type)
    labels = _labels(request, entity)
    _display(session, entity, v["rows"], ("left", "right"))
    return render(request, "hub/review_pair.html", {"v": v, "labels": labels, "base": BASE})


def _decided(request: Request, session: Any, pu: PageUser, candidate_id: uuid.UUID, msg: str) -> Response:
    if request.headers.get("hx-request"):
        c = review.get_candidate(session, principal=pu.principal, candidate_id=candidate_id)
        return render(request, "hub/_review_decided.html", {"c": c, "base": BASE})
    return redirect(f"{BASE}/review?msg={msg}")


@router.post(BASE + "/review/{candidate_id}/merge")
def review_merge(request: Request, session: Db, pu: HubReader, candidate_id: uuid.UUID) -> Response:
    try:
        review.merge(session, principal=pu.principal, candidate_id=candidate_id)
    except DomainError as exc:
        _fail(session, exc)
        return redirect(f"{BASE}/review?msg=hub_review_decided_already")
    return _decided(request, session, pu, candidate_id, "hub_review_merged")


@router.post(BASE + "/review/{candidate_id}/keep-apart")
def review_keep_apart(request: Request, session: Db, pu: HubReader, candidate_id: uuid.UUID) -> Response:
    try:
        review.keep_apart(session, principal=pu.principal, candidate_id=candidate_id)
    except DomainError as exc:
        _fail(session, exc)
        return redirect(f"{BASE}/review?msg=hub_review_decided_already")
    return _decided(request, session, pu, candidate_id, "hub_review_kept_apart")


# -- a golden record -----------------------------------------------------------------------------------------------

@router.get(BASE + "/golden/{golden_id}")
def golden_page(request: Request, session: Db, pu: HubReader, golden_id: uuid.UUID) -> Response:
    v = lineage.golden_view(session, principal=pu.principal, golden_id=golden_id)
    g = v["golden"]
    entity = EntityType(g.entity_type)
    values = {r["field"]: r for r in v["values"]}
    fields = [dict(f, value=values.get(f["field"], {}).get("value")) for f in v["fields"]]
    _display(session, entity, fields, ("value",))
    shown = [dict(r) for r in v["values"]]
    _display(session, entity, shown, ("value",))
    register_url = (_REGISTER_PAGES[entity.value] + str(g.register_id)) if g.register_id else None
    return render(request, "hub/golden.html", {
        "g": g, "v": v, "values": shown, "fields": fields, "labels": _labels(request, entity),
        "rules": list(survivorship.RULES), "register_url": register_url, "base": BASE,
        "can_admin": pu.principal.can(Perm.hub_admin), "can_review": pu.principal.can(Perm.hub_review),
        "can_import": pu.principal.can(Perm.hub_import)})


@router.post(BASE + "/golden/{golden_id}/rule")
def golden_rule(request: Request, session: Db, pu: HubReader, golden_id: uuid.UUID,
                field: Annotated[str, Form()] = "", rule: Annotated[str, Form()] = "") -> Response:
    if not pu.principal.can(Perm.hub_admin):  # the role's refusal before the record's existence
        raise Forbidden("只有指挥中心或系统管理员可以修改存活规则", code="hub_admin_only")
    g = lineage.get_golden(session, principal=pu.principal, golden_id=golden_id)
    try:
        survivorship.set_rule(session, principal=pu.principal, entity=EntityType(g.entity_type), field=field,
                              rule=rule)
    except DomainError as exc:
        _fail(session, exc)
        return redirect(f"{BASE}/golden/{golden_id}?msg=hub_review_rule_refused")
    return redirect(f"{BASE}/golden/{golden_id}?msg=hub_review_rule_set")


@router.post(BASE + "/golden/{golden_id}/resurvive")
def golden_resurvive(request: Request, session: Db, pu: HubReader, golden_id: uuid.UUID) -> Response:
    if not pu.principal.can(Perm.hub_import):  # the role's refusal before the record's existence
        raise Forbidden("您的角色不能重新计算主数据", code="permission_denied")
    lineage.get_golden(session, principal=pu.principal, golden_id=golden_id)
    golden.resurvive(session, principal=pu.principal, golden_ids=[golden_id])
    return redirect(f"{BASE}/golden/{golden_id}?msg=hub_review_resurvived")


@router.post(BASE + "/merges/{merge_id}/undo")
def merge_undo(request: Request, session: Db, pu: HubReader, merge_id: uuid.UUID) -> Response:
    try:
        m = review.undo_merge(session, principal=pu.principal, merge_id=merge_id)
    except DomainError as exc:
        _fail(session, exc)
        return redirect(f"{BASE}/review?msg=hub_review_undo_refused")
    return redirect(f"{BASE}/golden/{m.survivor_id}?msg=hub_review_unmerged")


# -- lineage panels of the register and case pages (HTMX fragments) --------------------------------------------------

def _panel(request: Request, session: Any, view: Mapping[str, Any]) -> Response:
    return render(request, "hub/lineage_panel.html", {"golden": view.get("golden"), "records": view["records"],
                                                      "base": BASE})


@router.get(BASE + "/lineage/person/{person_id}")
def person_lineage(request: Request, session: Db, pu: HubReader, person_id: uuid.UUID) -> Response:
    return _panel(request, session, lineage.register_lineage(session, principal=pu.principal, kind="person",
                                                             register_id=person_id))


@router.get(BASE + "/lineage/organisation/{organisation_id}")
def organisation_lineage(request: Request, session: Db, pu: HubReader, organisation_id: uuid.UUID) -> Response:
    return _panel(request, session, lineage.register_lineage(session, principal=pu.principal, kind="organisation",
                                                             register_id=organisation_id))


@router.get(BASE + "/lineage/building/{building_id}")
def building_lineage(request: Request, session: Db, pu: HubReader, building_id: uuid.UUID) -> Response:
    return _panel(request, session, lineage.register_lineage(session, principal=pu.principal, kind="building",
                                                             register_id=building_id))


@router.get(BASE + "/lineage/household/{household_id}")
def household_lineage(request: Request, session: Db, pu: HubReader, household_id: uuid.UUID) -> Response:
    return _panel(request, session, lineage.register_lineage(session, principal=pu.principal, kind="household",
                                                             register_id=household_id))


@router.get(BASE + "/lineage/case/{case_id}")
def case_lineage(request: Request, session: Db, pu: HubReader, case_id: uuid.UUID) -> Response:
    return _panel(request, session, lineage.case_lineage(session, principal=pu.principal, case_id=case_id))


# -- subscriptions (hub:admin) ---------------------------------------------------------------------------------------

def _subs_page(request: Request, session: Any, pu: PageUser, *, error: str | None = None,
               status: int = 200) -> Response:
    subs = changes.list_subscriptions(session, principal=pu.principal)
    deliveries = {s.id: changes.list_deliveries(session, principal=pu.principal, subscription_id=s.id, limit=10)
                  for s in subs}
    from zhili.org.models import Department

    departments = {d.code: d.name for d in session.scalars(select(Department))}
    return render(request, "hub/subscriptions.html", {
        "subs": subs, "deliveries": deliveries, "secrets": {s.id: changes.webhook_secret(s) for s in subs
                                                            if s.kind == "webhook"},
        "departments": departments, "entities": [e.value for e in EntityType], "error": error, "base": BASE,
    }, status=status)


@router.get(BASE + "/subscriptions")
def subscriptions(request: Request, session: Db, pu: HubReader) -> Response:
    return _subs_page(request, session, pu)


@router.post(BASE + "/subscriptions")
def subscription_create(request: Request, session: Db, pu: HubReader, name: Annotated[str, Form()] = "",
                        department: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "in_app",
                        url: Annotated[str, Form()] = "",
                        entity_types: Annotated[list[str] | None, Form()] = None) -> Response:
    try:
        changes.create_subscription(session, principal=pu.principal, data={
            "name": name.strip(), "department": department or None, "kind": kind, "url": url.strip() or None,
            "entity_types": [e for e in entity_types or [] if e]})
    except DomainError as exc:
        _fail(session, exc)
        return _subs_page(request, session, pu, error=exc.message, status=exc.status)
    return redirect(f"{BASE}/subscriptions?msg=hub_review_subscription_saved")


@router.post(BASE + "/subscriptions/{subscription_id}/toggle")
def subscription_toggle(request: Request, session: Db, pu: HubReader, subscription_id: uuid.UUID) -> Response:
    sub = changes.get_subscription(session, principal=pu.principal, subscription_id=subscription_id)
    changes.update_subscription(session, principal=pu.principal, subscription_id=sub.id,
                                changes={"active": not sub.active})
    return redirect(f"{BASE}/subscriptions?msg=hub_review_subscription_saved")

