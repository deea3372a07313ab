"""Household visits: record (grid workers, in their own grid), list and look up (scoped to the jurisdiction),
coverage of the households, and "转为事件" — a follow-up case filed through the case intake with the visit linked.

Free text (summary, findings) leaves this module with anything ID- or phone-shaped masked; persons are shown by
name only. Every recorded visit and every follow-up case writes the audit chain in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.cases import attachments as case_attachments
from zhili.cases import reads as case_reads
from zhili.cases import service as cases
from zhili.cases.files import check_upload, require_image
from zhili.cases.models import Attachment, Channel
from zhili.cases.taxonomy import reportable_category
from zhili.core import audit
from zhili.core.clock import from_local, local_day, local_midnight
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.ids import derived_id, new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, path_predicate, scoped
from zhili.core.masking import mask_text
from zhili.core.query import paginate
from zhili.core.security import Perm
from zhili.regions.models import Unit
from zhili.regions.service import get_unit
from zhili.registry.counts import totals_under
from zhili.registry.models import Household, Person, PersonStatus
from zhili.registry.service import get_household
from zhili.visits.models import (
    FINDINGS_MAX,
    SUMMARY_MAX,
    VISIT_KIND_LABELS,
    Visit,
    VisitKind,
    VisitPerson,
    VisitPhoto,
)

if TYPE_CHECKING:
    from zhili.cases.models import Case

PHOTO_LIMIT = 3
BACKDATE_DAYS = 30  # a visit may be entered afterwards (补录) up to this many days later
COVERAGE_WINDOWS = (30, 90)
PERIODS = ("week", "month", "all")


@dataclass
class FollowUp:
    """The case to file from a visit (转为事件): a reportable category, what is to be handled, and the answers to
    the category's own questions (its declared attributes, checked by intake)."""

    category_code: str
    description: str
    attributes: dict[str, Any] | None = None


@dataclass
class Photo:
    """An uploaded photo: its bytes and file name."""

    data: bytes
    filename: str


# -- helpers ------------------------------------------------------------------------------------------------

def _require_recorder(principal: Principal) -> None:
    authorize(principal, Perm.visit_record, "只有网格员可以记录走访", code="visit_grid_worker_only")


def period_start(period: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The start (UTC) of "this week" (Monday) or "this month" in local time; None for ``all``."""
    if period not in PERIODS:
        raise ValidationFailed("时间范围只能是本周、本月或全部", code="bad_period", details={"allowed": PERIODS})
    if period == "all":
        return None
    local = local_day(now or utcnow())
    day = local - dt.timedelta(days=local.weekday()) if period == "week" else local.replace(day=1)
    return local_midnight(day)


def _visited_at(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value.tzinfo is None:
        value = from_local(value)  # a local wall-clock time from a form
    value = value.astimezone(dt.UTC)
    if value > now + dt.timedelta(minutes=10):
        raise ValidationFailed("走访时间不能晚于现在", code="visit_in_future")
    if value < now - dt.timedelta(days=BACKDATE_DAYS):
        raise ValidationFailed(f"只能补录{BACKDATE_DAYS}天内的走访", code="visit_too_old")
    return value


def _kind(value: Any) -> VisitKind:
    try:
        return VisitKind(value)
    except ValueError as exc:
        raise ValidationFailed("请选择走访类型", code="bad_visit_kind",
                               details={"allowed": {k.value: v for k, v in VISIT_KIND_LABELS.items()}}) from exc


def _texts(summary: str | None, findings: str | None) -> tuple[str, str | None]:
    summary = (summary or "").strip()
    findings = (findings or "").strip() or None
    if not summary:
        raise ValidationFailed("请填写走访情况摘要", code="summary_required")
    if len(summary) > SUMMARY_MAX:
        raise ValidationFailed(f"情况摘要不能超过{SUMMARY_MAX}字", code="summary_too_long")
    if findings and len(findings) > FINDINGS_MAX:
        raise ValidationFailed(f"发现的问题不能超过{FINDINGS_MAX}字", code="findings_too_long")
    return summary, findings


def _persons(session: Session, household: Household, person_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return []
    found = set(session.scalars(select(Person.id).where(Person.id.in_(ids), Person.household_id == household.id)))
    if len(found) != len(ids):
        raise ValidationFailed("所选人员不属于该户", code="person_not_in_household")
    return ids


def _store_photos(session: Session, principal: Principal, photos: Sequence[Photo]) -> list[uuid.UUID]:
    ids = []
    for p in photos:
        ctype, _ = check_upload(p.data)
        require_image(ctype, "走访照片")
        ids.append(case_attachments.set_attachment(session, principal=principal, data=p.data, filename=p.filename).id)
    return ids


def _uploaded_photos(session: Session, principal: Principal, attachment_ids: Sequence[uuid.UUID]
                     ) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(attachment_ids))
    for aid in ids:
        att = session.get(Attachment, aid)
        if att is None or att.uploaded_by != principal.user_id:
            raise ValidationFailed(f"附件 {aid} 不存在", code="attachment_not_found")
        if att.case_id is not None or session.scalar(select(VisitPhoto.visit_id)
                                                     .where(VisitPhoto.attachment_id == aid)) is not None:
            raise ValidationFailed("附件已被使用", code="attachment_in_use")
        require_image(att.content_type, "走访照片")
    return ids


def _load(session: Session, principal: Principal, visit_id: uuid.UUID) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound("走访记录不存在或不在您的管辖范围内")
    ensure_in_scope(principal, visit.path, "走访记录")
    return visit


# -- recording ----------------------------------------------------------------------------------------------

def record_visit(
    session: Session, *, principal: Principal, household_id: uuid.UUID, kind: Any, summary: str | None,
    findings: str | None = None, visited_at: dt.datetime | None = None, person_ids: Sequence[uuid.UUID] = (),
    photos: Sequence[Photo] = (), attachment_ids: Sequence[uuid.UUID] = (), follow_up: FollowUp | None = None,
    now: dt.datetime | None = None, visit_id: uuid.UUID | None = None,
) -> Visit:
    """Record a visit to a household of the grid worker's own grid (photos stored, follow-up case optional).
    ``visit_id``: the id the record takes (:func:`submit_visit` derives it from the form's submission token)."""
    authorize(principal, Perm.registry_write)
    _require_recorder(principal)
    household = get_household(session, principal=principal, household_id=household_id)  # 404 outside the grid
    now = now or utcnow()
    kind = _kind(kind)
    summary, findings = _texts(summary, findings)
    when = _visited_at(visited_at, now)
    persons = _persons(session, household, person_ids)
    if follow_up is not None:
        _check_follow_up(session, follow_up)
    if len(photos) + len(attachment_ids) > PHOTO_LIMIT:
        raise ValidationFailed(f"最多上传{PHOTO_LIMIT}张照片", code="too_many_photos")
    photo_ids = _uploaded_photos(session, principal, attachment_ids) + _store_photos(session, principal, photos)
    visit = Visit(id=visit_id or new_id(), household_id=household.id, grid_id=household.grid_id,
                  path=household.path, worker_id=principal.user_id, worker_name=principal.display_name,
                  visited_at=when, kind=kind, summary=summary, findings=findings, created_at=now)
    session.add(visit)
    session.flush()
    session.add_all([VisitPerson(visit_id=visit.id, person_id=pid) for pid in persons])
    session.add_all([VisitPhoto(visit_id=visit.id, attachment_id=aid) for aid in photo_ids])
    session.flush()
    audit.record(session, actor=principal.actor, action="visit.create", object_type="visit", object_id=visit.id,
                 after={"household": str(household.id), "kind": kind.value, "visited_at": when,
                        "persons": len(persons), "photos": len(photo_ids)})
    if follow_up is not None:
        _file_case(session, principal, visit, household, follow_up, photo_ids, now)
    return visit


def submit_visit(
    session: Session, *, principal: Principal, household_id: uuid.UUID, submission: str, kind: Any,
    summary: str | None, findings: str | None = None, visited_at: dt.datetime | None = None,
    person_ids: Sequence[uuid.UUID] = (), photos: Sequence[Photo] = (), follow_up: FollowUp | None = None,
    now: dt.datetime | None = None,
) -> tuple[Visit, bool]:
    """Record a visit sent from a form that carries a submission token (one per form draft, kept by the page across
    Back and reload): (the visit, True). The same token again — the form sent twice by Back, a reload or a double
    click — answers with the visit it recorded and False instead of recording another; with other content it is
    refused (``visit_resent_changed``). The visit's id is derived from the recorder and the token, so the primary
    key keeps the rule even for two requests at once."""
    authorize(principal, Perm.registry_write)
    _require_recorder(principal)
    visit_id = derived_id(submission[:128], f"visit:{principal.user_id}")
    existing = session.get(Visit, visit_id)
    if existing is None:
        try:
            with session.begin_nested():
                return record_visit(session, principal=principal, household_id=household_id, kind=kind,
                                    summary=summary, findings=findings, visited_at=visited_at,
                                    person_ids=person_ids, photos=photos, follow_up=follow_up, now=now,
                                    visit_id=visit_id), True
        except IntegrityError:
            existing = session.get(Visit, visit_id)  # sent twice at once: the other request recorded it
            if existing is None:
                raise
    if not _same_visit(session, existing, household_id=household_id, kind=kind, summary=summary,
                       findings=findings, visited_at=visited_at, person_ids=person_ids, follow_up=follow_up):
        raise ValidationFailed("这张走访表单已经保存过，内容与这次不同，本次未予保存。如需另记一次走访，"
                               "请确认内容后再次提交", code="visit_resent_changed",
                               details={"visit_id": str(existing.id)})
    return existing, False


def _same_visit(session: Session, visit: Visit, *, household_id: uuid.UUID, kind: Any, summary: str | None,
                findings: str | None, visited_at: dt.datetime | None, person_ids: Sequence[uuid.UUID],
                follow_up: FollowUp | None) -> bool:
    """Whether a form sent again says what the recorded visit says (its photos are not compared: a page brought
    back by the browser may have lost them)."""
    if visited_at is not None and visited_at.tzinfo is None:
        visited_at = from_local(visited_at)
    persons = set(session.scalars(select(VisitPerson.person_id).where(VisitPerson.visit_id == visit.id)))
    return (visit.household_id == household_id and visit.kind.value == str(getattr(kind, "value", kind))
            and visit.summary == (summary or "").strip() and visit.findings == ((findings or "").strip() or None)
            and (visited_at is None or visit.visited_at == visited_at) and persons == set(person_ids)
            and (follow_up is not None) == (visit.case_id is not None))


def escalate_visit(session: Session, *, principal: Principal, visit_id: uuid.UUID, follow_up: FollowUp,
                   now: dt.datetime | None = None) -> Case:
    """转为事件: file a case about what a visit found, through the case intake, and link it to the visit."""
    authorize(principal, Perm.case_report)
    _require_recorder(principal)
    visit = _load(session, principal, visit_id)
    if visit.case_id is not None:
        raise Conflict("该走访已转为事件", code="visit_already_escalated")
    household = get_household(session, principal=principal, household_id=visit.household_id)
    photo_ids = list(session.scalars(select(VisitPhoto.attachment_id).where(VisitPhoto.visit_id == visit.id)))
    return _file_case(session, principal, visit, household, follow_up, photo_ids, now or utcnow())


def _check_follow_up(session: Session, follow_up: FollowUp) -> None:
    """Refuse a follow-up the intake would refuse, before anything of the visit is written."""
    if not follow_up.category_code:
        raise ValidationFailed("转为事件须选择事件类别", code="category_required")
    try:
        reportable_category(session, code=follow_up.category_code)
    except NotFound as exc:  # a bad choice on a form, not a missing page
        raise ValidationFailed("所选事件类别不存在，请重新选择", code="category_not_found") from exc
    if not (follow_up.description or "").strip():
        raise ValidationFailed("转为事件须填写需处置的问题", code="description_required")


def _file_case(session: Session, principal: Principal, visit: Visit, household: Household, follow_up: FollowUp,
               photo_ids: list[uuid.UUID], now: dt.datetime) -> Case:
    _check_follow_up(session, follow_up)
    description = follow_up.description.strip()
    unattached = list(session.scalars(select(Attachment.id).where(Attachment.id.in_(photo_ids),
                                                                  Attachment.case_id.is_(None)))) if photo_ids else []
    case, _ = cases.report_case(
        session, principal=principal, channel=Channel.grid_worker, now=now,
        data={"category_code": follow_up.category_code, "description": description,
              "attributes": follow_up.attributes or {},
              "building_id": household.building_id, "address": household.address,
              "attachment_ids": unattached, "system_attributes": {"visit_id": str(visit.id)}})
    visit.case_id = case.id
    session.flush()
    audit.record(session, actor=principal.actor, action="visit.to_case", object_type="visit", object_id=visit.id,
                 after={"case": case.number})
    return case


# -- reading ------------------------------------------------------------------------------------------------

def get_visit(session: Session, *, principal: Principal, visit_id: uuid.UUID) -> Visit:
    """One visit in jurisdiction (404 otherwise: existence does not leak)."""
    authorize(principal, Perm.registry_read)
    return _load(session, principal, visit_id)


def _filtered(session: Session, principal: Principal, *, household_id: uuid.UUID | None, unit_id: uuid.UUID | None,
              worker_id: uuid.UUID | None, kind: Any, since: dt.datetime | None, until: dt.datetime | None
              ) -> Select[Any]:
    stmt = scoped(select(Visit), principal, Visit.path)
    if household_id is not None:
        stmt = stmt.where(Visit.household_id == household_id)
    if unit_id is not None:
        unit = get_unit(session, principal=principal, unit_id=unit_id)
        stmt = stmt.where(path_predicate(Visit.path, (unit.path,)))
    if worker_id is not None:
        stmt = stmt.where(Visit.worker_id == worker_id)
    if kind:
        stmt = stmt.where(Visit.kind == _kind(kind))
    if since is not None:
        stmt = stmt.where(Visit.visited_at >= since)
    if until is not None:
        stmt = stmt.where(Visit.visited_at < until)
    return stmt


def list_visits(
    session: Session, *, principal: Principal, household_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None, worker_id: uuid.UUID | None = None, kind: Any = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None, page: int = 1, page_size: int = 50,
) -> tuple[list[Visit], int]:
    """Visits in jurisdiction, newest first, optionally of one household / unit / worker / kind / period."""
    authorize(principal, Perm.registry_read)
    if household_id is not None:
        get_household(session, principal=principal, household_id=household_id)  # 404 outside the jurisdiction
    stmt = _filtered(session, principal, household_id=household_id, unit_id=unit_id, worker_id=worker_id, kind=kind,
                     since=since, until=until)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Visit.visited_at.desc(), Visit.id])


def _coverage_paths(session: Session, principal: Principal, unit_id: uuid.UUID | None) -> tuple[str, ...]:
    if unit_id is not None:
        return (get_unit(session, principal=principal, unit_id=unit_id).path,)
    return principal.scope_paths


def _households_under(session: Session, principal: Principal, paths: tuple[str, ...]) -> int:
    # the paths lie in the jurisdiction (_coverage_paths); the maintained per-grid counts, not a row count
    return totals_under(session, tuple(p for p in paths if in_scope(principal, p)), ("households",))["households"]


def _visited_since(session: Session, principal: Principal, paths: tuple[str, ...], since: dt.datetime) -> int:
    return int(session.scalar(
        scoped(select(func.count(func.distinct(Visit.household_id))), principal, Visit.path)
        .where(path_predicate(Visit.path, paths), Visit.visited_at >= since)) or 0)


def coverage(session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """Households in jurisdiction (or under a unit) and how many were visited in the last 30 and 90 days."""
    authorize(principal, Perm.registry_read)
    now = now or utcnow()
    paths = _coverage_paths(session, principal, unit_id)
    total = _households_under(session, principal, paths)
    out: dict[str, Any] = {"households": total}
    for days in COVERAGE_WINDOWS:
        visited = _visited_since(session, principal, paths, now - dt.timedelta(days=days))
        out[f"visited_{days}d"] = visited
        out[f"rate_{days}d"] = round(visited / total, 4) if total else None
    return out


def period_coverage(session: Session, *, principal: Principal, period: str = "month",
                    unit_id: uuid.UUID | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Households in jurisdiction (or under a unit) and how many were visited this week or this month (local
    time, :func:`period_start`) — the staff workbench's "visited this month"."""
    authorize(principal, Perm.registry_read)
    since = period_start(period, now=now) or dt.datetime.min.replace(tzinfo=dt.UTC)
    paths = _coverage_paths(session, principal, unit_id)
    total = _households_under(session, principal, paths)
    visited = _visited_since(session, principal, paths, since)
    return {"period": period, "households": total, "visited": visited,
            "rate": round(visited / total, 4) if total else None}


def read_photo(session: Session, *, principal: Principal, visit_id: uuid.UUID, attachment_id: uuid.UUID
               ) -> tuple[Attachment, bytes]:
    """A photo of a visit in jurisdiction (without its metadata)."""
    authorize(principal, Perm.registry_read)
    from zhili.cases.files import served_bytes

    visit = _load(session, principal, visit_id)
    if session.get(VisitPhoto, {"visit_id": visit.id, "attachment_id": attachment_id}) is None:
        raise NotFound("照片不存在")
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("照片不存在")
    return att, served_bytes(att)


# -- views --------------------------------------------------------------------------------------------------

def visit_views(session: Session, visits: Sequence[Visit]) -> list[dict[str, Any]]:
    """Visits as the API and pages show them (a few batched look-ups for a whole page of rows)."""
    if not visits:
        return []
    ids = [v.id for v in visits]
    households = {h.id: h for h in session.scalars(select(Household).where(
        Household.id.in_({v.household_id for v in visits})))}
    grids = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_({v.grid_id for v in visits}))).all())
    persons: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for vid, pid, name in session.execute(select(VisitPerson.visit_id, Person.id, Person.name)
                                          .join(Person, Person.id == VisitPerson.person_id)
                                          .where(VisitPerson.visit_id.in_(ids)).order_by(Person.name)):
        persons.setdefault(vid, []).append({"id": pid, "name": name})
    photos: dict[uuid.UUID, list[uuid.UUID]] = {}
    for vid, aid in session.execute(select(VisitPhoto.visit_id, VisitPhoto.attachment_id)
                                    .where(VisitPhoto.visit_id.in_(ids))):
        photos.setdefault(vid, []).append(aid)
    case_ids = {v.case_id for v in visits if v.case_id}
    numbers = case_reads.case_numbers(session, case_ids=case_ids)
    out = []
    for v in visits:
        h = households.get(v.household_id)
        out.append({
            "id": v.id, "household_id": v.household_id, "address": h.address if h else None,
            "grid_id": v.grid_id, "grid_name": grids.get(v.grid_id), "worker_id": v.worker_id,
            "worker_name": v.worker_name, "visited_at": v.visited_at, "kind": v.kind,
            "kind_label": VISIT_KIND_LABELS[v.kind], "summary": mask_text(v.summary),
            "findings": mask_text(v.findings) if v.findings else None, "persons": persons.get(v.id, []),
            "photo_ids": photos.get(v.id, []), "case_id": v.case_id,
            "case_number": numbers.get(v.case_id) if v.case_id else None, "created_at": v.created_at,
        })
    return out


def visit_view(session: Session, visit: Visit) -> dict[str, Any]:
    """One visit as the API and pages show it."""
    return visit_views(session, [visit])[0]


def household_form(session: Session, *, principal: Principal, household_id: uuid.UUID
                   ) -> tuple[Household, list[Person]]:
    """What the "记录走访" form needs: the household (in jurisdiction) and its active members."""
    authorize(principal, Perm.registry_read)
    household = get_household(session, principal=principal, household_id=household_id)
    persons = list(session.scalars(select(Person).where(Person.household_id == household.id,
                                                        Person.status == PersonStatus.active)
                                   .order_by(Person.name, Person.id)))
    return household, persons


# -- what the pages show ------------------------------------------------------------------------------------

def worker_overview(session: Session, *, principal: Principal, period: str = "week", page: int = 1,
                    page_size: int = 20, now: dt.datetime | None = None) -> dict[str, Any]:
    """"我的走访": the principal's own visits in a period (this week / this month / all), and the coverage of
    the households in their jurisdiction."""
    authorize(principal, Perm.registry_read)
    now = now or utcnow()
    rows, total = list_visits(session, principal=principal, worker_id=principal.user_id,
                              since=period_start(period, now=now), page=page, page_size=page_size)
    return {"visits": visit_views(session, rows), "total": total, "period": period,
            "coverage": coverage(session, principal=principal, now=now)}


def household_history(session: Session, *, principal: Principal, household_id: uuid.UUID, page: int = 1,
                      page_size: int = 20) -> dict[str, Any]:
    """A household (in jurisdiction) and its visits, newest first."""
    authorize(principal, Perm.registry_read)
    household = get_household(session, principal=principal, household_id=household_id)
    rows, total = list_visits(session, principal=principal, household_id=household.id, page=page,
                              page_size=page_size)
    return {"household": household, "visits": visit_views(session, rows), "total": total}


def browse_visits(session: Session, *, principal: Principal, kind: Any = None, period: str = "month",
                  page: int = 1, page_size: int = 20, now: dt.datetime | None = None) -> dict[str, Any]:
    """Visits under the principal's units (community / street staff, command centre: read only), with coverage."""
    authorize(principal, Perm.registry_read)
    now = now or utcnow()
    rows, total = list_visits(session, principal=principal, kind=kind or None, since=period_start(period, now=now),
                              page=page, page_size=page_size)
    return {"visits": visit_views(session, rows), "total": total, "period": period,
            "coverage": coverage(session, principal=principal, now=now)}
