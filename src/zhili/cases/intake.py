"""Intake: a report becomes a case — planned in memory, written in batches with plain SQL statements.

Every channel (API, pages, Open311, hotline, IoT) files cases through :func:`file_cases`. It is the one
implementation of intake: the ORM service (:func:`zhili.cases.service.report_case`) calls it with a batch of one
inside the caller's transaction, and the group-commit writer (:mod:`zhili.cases.writer`) calls it with every
report that arrived while the previous batch was being committed. Per batch it reads the configuration it needs
(categories, responsibility-list rules, calendar, departments, the grid locator — each cached per process behind a
cheap version stamp), then per report it validates, locates, allocates the case number, matches the dispatch
rule and — when the rule is confident — accepts and dispatches at once, exactly as the transition table allows
for the system actor. The rows (case, timeline events, audit chain entries, statistics deltas, notifications,
sub-tasks, idempotency record) are written with one multi-row INSERT per table.

A report that fails validation fails alone: its outcome carries the domain error and the others are written.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Dialect, Table, bindparam, select, text
from sqlalchemy.orm import Session

from zhili.cases import notify, rollup
from zhili.cases.dispatch import CaseFacts, RuleSet, current_rules, match
from zhili.cases.models import (
    CHANNEL_LABELS,
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Channel,
    Department,
    IdempotencyRecord,
    Notification,
    SubTask,
    Urgency,
)
from zhili.cases.scope import co_departments_of, duplicate_distance, fetch_nearby, geo_cell
from zhili.cases.workflow import candidates
from zhili.core import audit, config_version
from zhili.core.crypto import get_cipher
from zhili.core.db import DriverRow, PreparedInsert, execute_prepared, prepared_insert, utcnow
from zhili.core.errors import DomainError, NotFound, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, in_scope
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.core.validators import validate_mobile
from zhili.regions.geo import gcj02_to_wgs84
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.regions.service import get_locator
from zhili.users.service import CachedPrincipal, recheck_principal
from zhili.worktime.service import WorkCalendar, load_calendar

log = logging.getLogger(__name__)

SYSTEM_PRINCIPAL = Principal(user_id=uuid.UUID(int=0), username="system", display_name="系统自动",
                             role=Role.command_centre, scope_paths=())

# The case number is not known until the batch allocates it; texts written before that carry this marker.
_NUMBER = "\x00number\x00"


@dataclass(frozen=True)
class IntakeRequest:
    """One report as a channel hands it over."""

    principal: Principal | None
    channel: Channel
    data: dict[str, Any]
    idempotency_key: str | None = None
    client: str | None = None
    api_client_id: uuid.UUID | None = None
    now: dt.datetime | None = None
    # A principal taken from the per-process cache without a database read: confirmed against the authentication
    # counter when the batch is planned (and refused if its session has ended or it has changed meanwhile).
    auth: CachedPrincipal | None = None

    @property
    def client_key(self) -> str:
        """Whose Idempotency-Key this is (the same key from two clients means two reports)."""
        return self.client or (str(self.principal.user_id) if self.principal else "anonymous")


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open case near a new report that the reporter may see (疑似重复件)."""

    id: uuid.UUID
    number: str
    title: str
    state: CaseState
    reported_at: dt.datetime


@dataclass
class IntakeOutcome:
    """What became of one report: the case (``row`` as written, or the earlier case for a repeated key)."""

    case_id: uuid.UUID | None = None
    number: str | None = None
    created: bool = False
    row: dict[str, Any] | None = None
    error: DomainError | None = None
    snapshot: Snapshot | None = None  # the configuration it was planned with (names for the reply)
    # Open cases of the same category nearby, nearest first, with their distance in metres — searched while
    # planning, in the reporter's jurisdiction, including earlier reports of the same batch.
    duplicates: list[tuple[DuplicateCandidate, float]] = field(default_factory=list)


# -- configuration snapshot ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """The configuration intake reads, as of one version stamp: current categories, departments, dispatch rules,
    the working calendar, the grid locator, every current unit's (path, level, code) and the district's path."""

    categories: dict[str, Category]
    category_names: dict[uuid.UUID, str]  # every version's id → name (cases keep the version they were filed under)
    departments: dict[str, str]  # code → name
    rules: RuleSet
    calendar: WorkCalendar
    locator: Any
    units: dict[uuid.UUID, tuple[str, UnitLevel, str]]
    district_path: str | None


_snapshots: dict[tuple[Any, ...], Snapshot] = {}
_snapshot_lock = threading.Lock()


def snapshot(session: Session, *, stamp: config_version.Stamp | None = None) -> Snapshot:
    """The current configuration snapshot — one indexed row read (the configuration version that triggers bump on
    every change to the tables it is built from; ``stamp`` if already read), and a reload only when that version
    has changed."""
    from zhili.regions.service import today

    day = today()
    if stamp is None:
        stamp = config_version.current(session)
    key = (str(session.get_bind().engine.url), day, *stamp)
    with _snapshot_lock:
        snap = _snapshots.get(key)
    if snap is not None:
        return snap
    cats = list(session.scalars(select(Category)))
    for c in cats:
        session.expunge(c)
    units = {u.id: (u.path, u.level, u.code) for u in session.execute(
        select(Unit.id, Unit.path, Unit.level, Unit.code).where(Unit.valid_to == OPEN_END))}
    district = min(((code, path) for path, level, code in units.values() if level == UnitLevel.district),
                   default=None)
    snap = Snapshot(categories={c.code: c for c in cats if c.is_current},
                    category_names={c.id: c.name for c in cats},
                    departments={c: n for c, n in session.execute(select(Department.code, Department.name))},
                    rules=current_rules(session), calendar=load_calendar(session), locator=get_locator(session),
                    units=units, district_path=district[1] if district else None)
    with _snapshot_lock:
        if len(_snapshots) > 8:
            _snapshots.clear()
        _snapshots[key] = snap
    return snap


@dataclass
class _Config:
    snap: Snapshot
    units: dict[uuid.UUID, tuple[str, UnitLevel, str]]  # the snapshot's, plus any other unit a report names
    buildings: dict[uuid.UUID, tuple[float | None, float | None, str | None, uuid.UUID]] = field(default_factory=dict)
    attachments: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)  # id → case it belongs to

    @property
    def categories(self) -> dict[str, Category]:
        return self.snap.categories

    @property
    def calendar(self) -> WorkCalendar:
        return self.snap.calendar


def _load_config(session: Session, requests: Sequence[IntakeRequest], snap: Snapshot) -> _Config:
    """Everything planning needs: the snapshot, plus the buildings, attachments and units the reports name."""
    cfg = _Config(snap=snap, units=snap.units)
    unit_ids: set[uuid.UUID] = {r.target_unit_id for r in snap.rules if r.target_unit_id}
    building_ids: set[uuid.UUID] = set()
    attachment_ids: set[uuid.UUID] = set()
    for req in requests:
        d = req.data
        try:
            if d.get("building_id"):
                building_ids.add(uuid.UUID(str(d["building_id"])))
            if d.get("grid_id"):
                unit_ids.add(uuid.UUID(str(d["grid_id"])))
            for aid in d.get("attachment_ids") or []:
                attachment_ids.add(uuid.UUID(str(aid)))
        except ValueError:
            continue  # reported per request when it is planned
        if req.principal is not None and req.principal.role == Role.grid_worker:
            unit_ids.update(req.principal.unit_ids)
    conn = session.connection()
    if building_ids:
        from zhili.registry.models import Building

        for b in conn.execute(select(Building.id, Building.lon, Building.lat, Building.address,
                                     Building.grid_id).where(Building.id.in_(building_ids))):
            cfg.buildings[b.id] = (b.lon, b.lat, b.address, b.grid_id)
            unit_ids.add(b.grid_id)
    if attachment_ids:
        cfg.attachments = {a.id: a.case_id for a in conn.execute(
            select(Attachment.id, Attachment.case_id).where(Attachment.id.in_(attachment_ids)))}
    missing = unit_ids - set(cfg.units)
    if missing:
        cfg.units = {**cfg.units, **{u.id: (u.path, u.level, u.code) for u in conn.execute(
            select(Unit.id, Unit.path, Unit.level, Unit.code).where(Unit.id.in_(missing)))}}
    return cfg


def _locate_all(session: Session, cfg: _Config, requests: Sequence[IntakeRequest]) -> list[uuid.UUID | None]:
    """The grid of every report given as coordinates (None otherwise), with the grids' paths added to ``cfg``."""
    out: list[uuid.UUID | None] = []
    for req in requests:
        lon, lat = req.data.get("lon"), req.data.get("lat")
        grid: uuid.UUID | None = None
        if lon is not None and lat is not None and -180 <= lon <= 180 and -90 <= lat <= 90:
            if req.data.get("crs") == "gcj02":
                lon, lat = gcj02_to_wgs84(lon, lat)
            grid = cfg.snap.locator.locate(lon, lat)
        out.append(grid)
    missing = {g for g in out if g is not None and g not in cfg.units}
    if missing:
        cfg.units = {**cfg.units, **{u.id: (u.path, u.level, u.code) for u in session.connection().execute(
            select(Unit.id, Unit.path, Unit.level, Unit.code).where(Unit.id.in_(missing)))}}
    return out


# -- planning one report ---------------------------------------------------------------------------------------

def local_day(moment: dt.datetime) -> dt.date:
    """The local (configured time zone) date of a moment — the day statistics and case numbers count by."""
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def district_code(path: str) -> str:
    """The six-digit district code within a unit path (the configured district when the path has none)."""
    for seg in path.split("/"):
        if len(seg) == 6:
            return seg
    return get_settings().district_code


def fmt_local(moment: dt.datetime | None) -> str:
    """A moment as local wall-clock text for messages (— when there is none)."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


def due(cal: WorkCalendar, start: dt.datetime, hours: float | None, mode: str) -> dt.datetime | None:
    """The deadline ``hours`` after ``start`` in working time (or natural time for ``mode == "natural"``)."""
    if hours is None:
        return None
    return cal.deadline(start, hours, natural=mode == "natural")


@dataclass
class Assignment:
    """What dispatching a case sets, from :func:`plan_assignment` — the one place both the workflow's ``dispatch``
    (applied to an ORM case) and intake's automatic dispatch (applied to a planned row) take it from."""

    values: dict[str, Any]  # case columns
    subtasks: list[tuple[str, str]]  # (department, "lead" | "co") of a joint case
    extra: dict[str, Any]  # for the timeline event and the audit entry: department | unit, co_departments, due
    notices: list[tuple[str, str, str]]  # (department or unit code, title, body) for the handlers


def plan_assignment(*, department: str | None, unit: tuple[uuid.UUID, str, UnitLevel, str] | None,
                    co_departments: Sequence[str], hours: float, mode: str, cal: WorkCalendar, now: dt.datetime,
                    number: str, title: str, rule_id: Any = None) -> Assignment:
    """Dispatch to one department, or to one unit given as (id, path, level, code), with co-handling departments:
    the assignee, the handling deadline and its warning time, a joint case's sub-tasks and the handlers' messages.
    The caller has checked that the department, unit and co-departments exist."""
    co = [d for d in co_departments if d != department]
    values: dict[str, Any] = {"assignee_department": department, "assignee_unit_id": None, "assignee_path": None,
                              "dispatched_at": now, "dispatch_rule_id": rule_id, "is_joint": bool(co)}
    extra: dict[str, Any] = {}
    if department:
        extra["department"] = target = department
    else:
        assert unit is not None, "a dispatch names a department or a unit"
        unit_id, path, level, target = unit
        values.update(assignee_unit_id=unit_id, assignee_path=path,
                      escalation_level="street" if level == UnitLevel.street else "community")
        extra["unit"] = target
    if co:
        extra["co_departments"] = co
    values["handle_due_at"] = extra["due"] = due(cal, now, hours, mode)
    values["handle_warn_at"] = due(cal, now, hours * get_settings().warning_fraction, mode)
    subtasks = ([(department, "lead")] if co and department else []) + [(d, "co") for d in co]
    notices = [(target, "新派遣事件", f"事件 {number}（{title}）已派遣给您，请在 {fmt_local(values['handle_due_at'])} "
                                     "前处置。")]
    notices += [(d, "新协办事件", f"事件 {number} 需要您协同处置。") for d in co]
    return Assignment(values=values, subtasks=subtasks, extra=extra, notices=notices)


@dataclass
class _Plan:
    req: IntakeRequest
    case: dict[str, Any]
    day: dt.date
    district: str
    events: list[dict[str, Any]] = field(default_factory=list)
    audits: list[audit.Entry] = field(default_factory=list)
    stats: list[dict[str, int]] = field(default_factory=list)
    notices: list[notify.Message] = field(default_factory=list)
    subtasks: list[dict[str, Any]] = field(default_factory=list)
    attachment_ids: list[uuid.UUID] = field(default_factory=list)
    duplicates: list[tuple[Any, float]] = field(default_factory=list)  # (database row or batch mate's case, m)
    # the rows as the driver takes them, prepared while planning (:func:`_prepare_rows`): the case (its number
    # filled in under the lock), then its events, sub-tasks and idempotency record
    case_row: tuple[PreparedInsert, DriverRow] | None = None
    rows: list[tuple[PreparedInsert, DriverRow]] = field(default_factory=list)


def _resolve_location(session: Session, cfg: _Config, req: IntakeRequest, data: dict[str, Any],
                      located: uuid.UUID | None) -> tuple[uuid.UUID | None, str]:
    """(grid, path): coordinates → locate; building → its grid; grid given; a grid worker's own grid; or — for an
    address only — the district, to be placed by the command centre."""
    principal = req.principal
    lon, lat = data.get("lon"), data.get("lat")
    if lon is not None and lat is not None:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationFailed("经纬度超出范围", code="bad_coordinates")
        if data.get("crs") == "gcj02":
            data["lon"], data["lat"] = gcj02_to_wgs84(lon, lat)
        if located is None:
            raise ValidationFailed("该位置不在本区县的网格范围内，请检查定位或改填地址", code="point_outside_grids")
        return located, cfg.units[located][0]
    if data.get("building_id"):
        b = cfg.buildings.get(_uuid(data["building_id"], "building_id"))
        if b is None:
            raise ValidationFailed("楼栋不存在", code="building_not_found")
        data["lon"], data["lat"] = b[0], b[1]
        if not data.get("address"):
            data["address"] = b[2]
        return b[3], cfg.units[b[3]][0]
    if data.get("grid_id"):
        gid = _uuid(data["grid_id"], "grid_id")
        unit = cfg.units.get(gid)
        if unit is None or unit[1] != UnitLevel.grid:
            raise ValidationFailed("所选网格不存在", code="grid_not_found")
        if principal is not None and principal.role == Role.grid_worker and principal.scope_paths \
                and not in_scope(principal, unit[0]):
            raise ValidationFailed("只能在自己的网格内上报", code="grid_outside_jurisdiction")
        return gid, unit[0]
    if principal is not None and principal.role == Role.grid_worker and len(principal.unit_ids) == 1:
        own = cfg.units.get(principal.unit_ids[0])
        if own is not None and own[1] == UnitLevel.grid:
            return principal.unit_ids[0], own[0]
    if data.get("address"):
        if cfg.snap.district_path is None:
            raise ValidationFailed("系统尚未配置区县", code="no_district")
        return None, cfg.snap.district_path
    raise ValidationFailed("请提供事发位置：坐标、楼栋或地址", code="location_required")


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(f"{name} 不是有效的ID", code="bad_id") from exc


def _reportable(cfg: _Config, code: Any) -> Category:
    cat = cfg.categories.get(str(code or ""))
    if cat is None:
        raise NotFound(f"事件类别 {code} 不存在", code="category_not_found")
    if not cat.is_active:
        raise ValidationFailed(f"事件类别“{cat.name}”已停用", code="category_inactive")
    if not cat.is_leaf:
        raise ValidationFailed(f"“{cat.name}”是大类，请选择具体小类", code="category_not_leaf")
    return cat


def _event(plan: _Plan, *, action: str, from_state: CaseState | None, to_state: CaseState, actor: Principal,
           now: dt.datetime, comment: str | None, payload: dict[str, Any] | None = None,
           attachments: list[uuid.UUID] | None = None) -> int:
    seq = len(plan.events) + 1
    plan.events.append({
        "id": new_id(), "case_id": plan.case["id"], "seq": seq, "at": now, "action": action,
        "from_state": from_state.value if from_state else None, "to_state": to_state.value,
        "actor_id": None if actor is SYSTEM_PRINCIPAL else actor.user_id, "actor_name": actor.display_name,
        "actor_role": actor.role.value, "actor_unit": actor.department, "comment": comment,
        "payload": audit.to_jsonable(payload or {}), "attachment_ids": [str(a) for a in attachments or []],
        "public": True})
    return seq


def _audit_entry(*, actor: audit.Actor, action: str, object_id: Any, before: Any = None,
                 after: Any = None) -> audit.Entry:
    """An audit entry on a case with its payload made JSON-safe now, while planning (outside the write lock)."""
    return audit.Entry(actor=actor, action=action, object_type="case", object_id=object_id,
                       before=audit.to_jsonable(before), after=audit.to_jsonable(after), jsonable=True)


def _stat(plan: _Plan, **deltas: int) -> None:
    plan.stats.append(deltas)


def _notify_reporter(plan: _Plan, phone: str | None, title: str, body: str) -> None:
    c = plan.case
    if c["reporter_user_id"] is None and c["reporter_phone_enc"] is None:
        return
    plan.notices.append(notify.Message(kind="case_update", title=title, body=body, case_id=c["id"],
                                       user_id=c["reporter_user_id"],
                                       phone=None if c["reporter_user_id"] else phone))


def _plan(session: Session, cfg: _Config, req: IntakeRequest, located: uuid.UUID | None) -> _Plan:
    """Validate one report and lay out every row it writes (the case number is filled in when written)."""
    now = req.now or utcnow()
    data = dict(req.data)
    principal, channel = req.principal, req.channel
    cat = _reportable(cfg, data.pop("category_code", None))
    description = (data.get("description") or "").strip()
    if not description:
        raise ValidationFailed("请填写问题描述", code="description_required")
    if len(description) > 4000:
        raise ValidationFailed("问题描述不能超过4000字", code="description_too_long")
    grid_id, path = _resolve_location(session, cfg, req, data, located)
    attachments = [_uuid(a, "attachment_id") for a in data.get("attachment_ids") or []]
    for aid in attachments:
        if aid not in cfg.attachments:
            raise ValidationFailed(f"附件 {aid} 不存在", code="attachment_not_found")
        if cfg.attachments[aid] is not None:
            raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
    case_id = new_id()
    cipher = get_cipher()
    name, phone = data.get("reporter_name"), data.get("reporter_phone")
    anonymous = bool(data.get("anonymous")) or not (name or phone or (principal and principal.role == Role.resident))
    name_enc = phone_enc = phone_bidx = None
    if name and not data.get("anonymous"):
        name_enc = cipher.encrypt(str(name), table="case", column="reporter_name", row_id=case_id)
    if phone and not data.get("anonymous"):
        phone = validate_mobile(str(phone))
        phone_enc = cipher.encrypt(phone, table="case", column="reporter_phone", row_id=case_id)
        phone_bidx = cipher.blind_index(phone, purpose="case.reporter_phone")
    day = local_day(now)
    cal = cfg.calendar
    row: dict[str, Any] = {
        "id": case_id, "number": _NUMBER, "channel": channel, "state": CaseState.reported, "category_id": cat.id,
        "category_code": cat.code, "title": (data.get("title") or description[:30]).strip()[:200],
        "description": description, "urgency": Urgency(data.get("urgency") or cat.urgency),
        "lon": data.get("lon"), "lat": data.get("lat"), "geo_cell": geo_cell(data.get("lon"), data.get("lat")),
        "address": data.get("address"), "grid_id": grid_id,
        "path": path, "attributes": data.get("attributes") or {},
        "reporter_user_id": principal.user_id if principal and channel in (Channel.resident, Channel.grid_worker)
        else None,
        "reporter_name_enc": name_enc, "reporter_phone_enc": phone_enc, "reporter_phone_bidx": phone_bidx,
        "anonymous": anonymous, "is_public": bool(data.get("is_public", True)) and channel != Channel.department,
        "api_client_id": req.api_client_id, "external_id": data.get("external_id"),
        "assignee_department": None, "assignee_unit_id": None, "assignee_path": None, "escalation_level": None,
        "dispatch_rule_id": None, "is_joint": False, "master_case_id": None, "resolution": None,
        "reject_reason": None, "rating": None, "rating_comment": None,
        "reported_at": now, "reported_day": day, "accepted_at": None, "dispatched_at": None, "resolved_at": None,
        "verified_at": None, "closed_at": None, "accept_due_at": due(cal, now, cat.accept_hours, cat.time_mode),
        "handle_due_at": None, "handle_warn_at": None, "verify_due_at": None, "warning_level": "none",
        "overdue": False, "closed_on_time": None, "reopen_count": 0, "support_count": 0, "merged_count": 0,
        "created_at": now, "updated_at": now, "version": 1,
    }
    plan = _Plan(req=req, case=row, day=day, district=district_code(path), attachment_ids=attachments)
    actor = principal or SYSTEM_PRINCIPAL
    _event(plan, action="report", from_state=None, to_state=CaseState.reported, actor=actor, now=now,
           comment=f"通过{CHANNEL_LABELS[channel]}上报", attachments=attachments)
    _stat(plan, reported=1)
    plan.audits.append(_audit_entry(actor=actor.actor, action="case.report", object_id=case_id,
                                    after={"number": _NUMBER, "channel": channel.value, "category": cat.code,
                                           "path": path}))
    if not _auto_dispatch(cfg, plan, cat, now):
        _notify_reporter(plan, phone, "已收到您反映的问题", f"事件编号 {_NUMBER}，我们会尽快受理。")
    else:  # received, accepted and dispatched in the same instant: one message, not three (an SMS each)
        _notify_reporter(plan, phone, "您反映的问题已受理并派遣处置",
                         f"事件编号 {_NUMBER}，已受理并交由相关部门处置，我们会及时告知处理结果。")
    return plan


def _system_may(action: str, state: CaseState) -> bool:
    return any(SYSTEM_PRINCIPAL.role in t.roles for t in candidates(action, state))


def _auto_dispatch(cfg: _Config, plan: _Plan, cat: Category, now: dt.datetime) -> bool:
    """Accept and dispatch at once when a responsibility-list rule matches with enough confidence (True if so;
    the caller tells the reporter)."""
    c = plan.case
    settings = get_settings()
    m = match(CaseFacts(c["category_code"], c["path"], c["description"], now), cfg.snap.rules)
    if m.rule is None or m.confidence < settings.auto_dispatch_confidence or c["grid_id"] is None:
        return False
    rule = m.rule
    dept, unit_id = rule.target_department, rule.target_unit_id
    co = [d for d in rule.co_departments or [] if d != dept]
    unit = cfg.units.get(unit_id) if unit_id else None
    if (dept and dept not in cfg.snap.departments) or any(d not in cfg.snap.departments for d in co) \
            or (unit_id and (unit is None or unit[1] not in (UnitLevel.community, UnitLevel.street, UnitLevel.grid))):
        log.warning("dispatch rule %s names a missing department or unit; case left for manual dispatch", rule.id)
        return False
    if not (_system_may("accept", CaseState.reported) and _system_may("dispatch", CaseState.accepted)):
        return False
    # 受理
    c["state"], c["accepted_at"] = CaseState.accepted, now
    _stat(plan, accepted=1)
    seq = _event(plan, action="accept", from_state=CaseState.reported, to_state=CaseState.accepted,
                 actor=SYSTEM_PRINCIPAL, now=now, comment="按权责清单自动受理")
    plan.audits.append(_audit_entry(actor=SYSTEM_PRINCIPAL.actor, action="case.accept", object_id=c["id"],
                                    before={"state": CaseState.reported.value},
                                    after={"state": CaseState.accepted.value, "event": seq}))
    # 派遣
    payload: dict[str, Any] = {"rule_id": rule.id}
    payload.update({"department": dept} if dept else {"unit_id": unit_id})
    if rule.co_departments:
        payload["co_departments"] = list(rule.co_departments)
    if rule.handle_hours:
        payload["handle_hours"] = rule.handle_hours
    a = plan_assignment(department=dept, unit=(unit_id, unit[0], unit[1], unit[2]) if unit and unit_id else None,
                        co_departments=co, hours=float(rule.handle_hours or cat.handle_hours or 40.0),
                        mode=cat.time_mode, cal=cfg.calendar, now=now, number=_NUMBER, title=c["title"],
                        rule_id=rule.id)
    c.update(a.values)
    c["state"] = CaseState.dispatched
    plan.subtasks.extend({"department": d, "role": role} for d, role in a.subtasks)
    plan.notices.extend(notify.Message(kind="task", title=title, body=body, case_id=c["id"], recipient=target)
                        for target, title, body in a.notices)
    seq = _event(plan, action="dispatch", from_state=CaseState.accepted, to_state=CaseState.dispatched,
                 actor=SYSTEM_PRINCIPAL, now=now, comment=f"按派单规则“{rule.name}”自动派遣",
                 payload={**payload, **a.extra})
    plan.audits.append(_audit_entry(actor=SYSTEM_PRINCIPAL.actor, action="case.dispatch", object_id=c["id"],
                                    before={"state": CaseState.accepted.value},
                                    after={"state": CaseState.dispatched.value, "event": seq, **a.extra}))
    return True


# -- writing a batch -------------------------------------------------------------------------------------------

_COUNTER_BUMP = text(
    "INSERT INTO case_counter (district, day, last) VALUES (:district, :day, :n) ON CONFLICT (district, day) "
    "DO UPDATE SET last = case_counter.last + :n RETURNING last"
).bindparams(bindparam("day", type_=Date()))

STAT_COLUMNS = ("reported", "accepted", "closed", "closed_on_time", "overdue", "rating_sum", "rating_count")
# One static statement for every delta (``excluded`` works on SQLite ≥ 3.24 and PostgreSQL alike).
STAT_UPSERT = text(
    "INSERT INTO case_stat (path, day, category_code, " + ", ".join(STAT_COLUMNS) + ") VALUES (:path, :day, "
    ":category_code, " + ", ".join(f":{c}" for c in STAT_COLUMNS) + ") ON CONFLICT (path, day, category_code) "
    "DO UPDATE SET " + ", ".join(f"{c} = case_stat.{c} + excluded.{c}" for c in STAT_COLUMNS)
).bindparams(bindparam("day", type_=Date()))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _fill(value: Any, number: str) -> Any:
    if isinstance(value, str):
        return value.replace(_NUMBER, number)
    if isinstance(value, dict):
        return {k: _fill(v, number) for k, v in value.items()}
    return value


def _prior_cases(session: Session, requests: Sequence[IntakeRequest]) -> dict[tuple[str, str], dict[str, Any]]:
    """The cases already filed under the batch's idempotency keys: (client, key) → the case's row."""
    keyed = {(r.client_key, r.idempotency_key) for r in requests if r.idempotency_key}
    if not keyed:
        return {}
    conn = session.connection()
    # client IN (…) AND key IN (…) walks the (client, key) unique index; the pairs are matched here
    hits = {r.case_id: (r.client, r.key) for r in conn.execute(
        select(IdempotencyRecord.client, IdempotencyRecord.key, IdempotencyRecord.case_id)
        .where(IdempotencyRecord.client.in_({c for c, _ in keyed}), IdempotencyRecord.key.in_({k for _, k in keyed})))
        if (r.client, r.key) in keyed}
    if not hits:
        return {}
    return {hits[r.id]: dict(r._mapping) for r in conn.execute(select(_table(Case)).where(
        _table(Case).c.id.in_(list(hits))))}


def _repeat_of(first: dict[tuple[str, str], int], req: IntakeRequest, index: int) -> int | None:
    """The index of the first request seen with ``req``'s (client, Idempotency-Key) — ``req`` repeats it, and is
    answered with its case — or None when ``req`` is that first one or has no key. ``first`` remembers them."""
    if not req.idempotency_key:
        return None
    earlier = first.setdefault((req.client_key, req.idempotency_key), index)
    return None if earlier == index else earlier


@dataclass
class PlannedBatch:
    """Reports validated and laid out as rows (:func:`plan_cases`), waiting for :func:`write_cases`."""

    requests: Sequence[IntakeRequest]
    outcomes: list[IntakeOutcome]
    plans: list[tuple[_Plan, IntakeOutcome]]
    repeats: dict[int, int]  # request index → index of the earlier request in the batch with the same key


def merge_batches(batches: Sequence[PlannedBatch]) -> PlannedBatch:
    """Planned batches as one, to be written in one transaction; a key repeated in a later batch becomes a repeat
    of its first report."""
    if len(batches) == 1:
        return batches[0]
    requests: list[IntakeRequest] = []
    outcomes: list[IntakeOutcome] = []
    plans: list[tuple[_Plan, IntakeOutcome]] = []
    repeats: dict[int, int] = {}
    first: dict[tuple[str, str], int] = {}
    for b in batches:
        offset = len(outcomes)
        index = {id(out): offset + i for i, out in enumerate(b.outcomes)}
        requests.extend(b.requests)
        outcomes.extend(b.outcomes)
        repeats.update({offset + i: offset + j for i, j in b.repeats.items()})
        for plan, out in b.plans:
            earlier = _repeat_of(first, plan.req, index[id(out)])
            if earlier is None:
                plans.append((plan, out))
            else:
                repeats[index[id(out)]] = earlier
    return PlannedBatch(requests=requests, outcomes=outcomes, plans=plans, repeats=repeats)


def plan_cases(session: Session, *, requests: Sequence[IntakeRequest]) -> PlannedBatch:
    """Validate and lay out a batch of reports; needs only reads, so it can run outside the write lock."""
    outcomes = [IntakeOutcome() for _ in requests]
    stamps = config_version.current_all(session)
    snap = snapshot(session, stamp=stamps.get(config_version.CONFIG, (0, 0)))
    for out in outcomes:
        out.snapshot = snap
    repeats: dict[int, int] = {}
    first: dict[tuple[str, str], int] = {}
    todo: list[int] = []
    for i, req in enumerate(requests):
        if req.auth is not None:
            try:
                recheck_principal(session, entry=req.auth, stamp=stamps.get(config_version.AUTH))
            except DomainError as exc:
                outcomes[i].error = exc
                continue
        earlier = _repeat_of(first, req, i)
        if earlier is not None:
            repeats[i] = earlier
            continue
        todo.append(i)
    batch = PlannedBatch(requests=requests, outcomes=outcomes, plans=[], repeats=repeats)
    # Reports filed before (a retry, an earlier batch, another process) are answered with their case. Looked up
    # here, outside the write lock: a key written by another process between now and this batch's write fails the
    # batch on the (client, key) unique constraint, and the writer retries its reports one by one — each then
    # finds the case here.
    prior = _prior_cases(session, [requests[i] for i in todo])
    if prior:
        fresh = []
        for i in todo:
            hit = prior.get((requests[i].client_key, requests[i].idempotency_key or ""))
            if hit is None:
                fresh.append(i)
            else:
                outcomes[i].case_id, outcomes[i].number, outcomes[i].row = hit["id"], hit["number"], hit
        todo = fresh
    if not todo:
        return batch
    cfg = _load_config(session, [requests[i] for i in todo], snap)
    located = _locate_all(session, cfg, [requests[i] for i in todo])
    claimed: set[uuid.UUID] = set()
    for i, grid in zip(todo, located, strict=True):
        try:
            plan = _plan(session, cfg, requests[i], grid)
            if claimed & set(plan.attachment_ids):
                raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
            claimed.update(plan.attachment_ids)
        except DomainError as exc:
            outcomes[i].error = exc
            continue
        batch.plans.append((plan, outcomes[i]))
    _find_duplicates(session, batch.plans)
    _prepare_rows(session.connection().dialect, [plan for plan, _ in batch.plans])
    return batch


def _prepare_rows(dialect: Dialect, plans: list[_Plan]) -> None:
    """Convert each plan's rows to the driver's parameters now, outside the write lock (:class:`PreparedInsert`);
    only the case number is left for :func:`_write`."""
    for p in plans:
        c = p.case
        stmt = prepared_insert(_table(Case), tuple(c), dialect)
        p.case_row = (stmt, stmt.row(c))
        rows = list(p.events)
        rows += [{"id": new_id(), "case_id": c["id"], "department": s["department"], "role": s["role"],
                  "status": "open", "note": None, "result": None, "due_at": None, "done_at": None,
                  "created_at": c["created_at"]} for s in p.subtasks]
        tables = [_table(CaseEvent)] * len(p.events) + [_table(SubTask)] * len(p.subtasks)
        if p.req.idempotency_key:
            rows.append({"id": new_id(), "client": p.req.client_key, "key": p.req.idempotency_key[:128],
                         "case_id": c["id"], "created_at": c["created_at"]})
            tables.append(_table(IdempotencyRecord))
        for table, row in zip(tables, rows, strict=True):
            stmt = prepared_insert(table, tuple(row), dialect)
            p.rows.append((stmt, stmt.row(row)))


def _find_duplicates(session: Session, plans: list[tuple[_Plan, IntakeOutcome]]) -> None:
    """Each located report's duplicate candidates (疑似重复件) by the rule of :mod:`zhili.cases.scope`: stored cases
    from one query for the whole batch (:func:`~zhili.cases.scope.fetch_nearby`), and earlier reports of the same
    batch (committed with it)."""
    located = [p for p, _ in plans if p.case["lon"] is not None and p.case["lat"] is not None]
    asking = [p for p in located if p.req.principal is not None]
    # category → (row, departments of its sub-tasks) of the stored cases and of earlier reports in the batch
    stored: dict[str, list[tuple[dict[str, Any], list[str]]]] = defaultdict(list)
    if asking:
        rows = fetch_nearby(session, reports=[(p.case["category_code"], p.case["lon"], p.case["lat"],
                                               p.case["reported_at"]) for p in asking])
        co = co_departments_of(session, rows=rows, principals=[p.req.principal for p in asking
                                                                if p.req.principal is not None])
        for r in rows:
            stored[r["category_code"]].append((r, co.get(r["id"], [])))
    earlier: dict[str, list[tuple[dict[str, Any], list[str]]]] = defaultdict(list)
    for plan in located:
        c, principal = plan.case, plan.req.principal
        if principal is not None:
            found: list[tuple[dict[str, Any], float]] = []
            for m, co_departments in (*stored[c["category_code"]], *earlier[c["category_code"]]):
                d = duplicate_distance(principal, lon=c["lon"], lat=c["lat"], at=c["reported_at"], candidate=m,
                                       co_departments=co_departments)
                if d is not None:
                    found.append((m, d))
            found.sort(key=lambda x: x[1])
            plan.duplicates = found[:10]
        # a batch mate: the case row itself (numbered when the batch is written)
        earlier[c["category_code"]].append((c, [t["department"] for t in plan.subtasks]))


def _candidate(found: dict[str, Any]) -> DuplicateCandidate:
    """A duplicate candidate from a database row or a case planned in the same batch (numbered once written)."""
    return DuplicateCandidate(id=found["id"], number=found["number"], title=found["title"], state=found["state"],
                              reported_at=found["reported_at"])


def file_cases(session: Session, *, requests: Sequence[IntakeRequest]) -> list[IntakeOutcome]:
    """File a batch of reports in the caller's transaction; one outcome per request, in order."""
    session.flush()
    return write_cases(session, batch=plan_cases(session, requests=requests))


def write_cases(session: Session, *, batch: PlannedBatch) -> list[IntakeOutcome]:
    """Write a planned batch in the caller's transaction (which must hold the write lock); the outcomes."""
    plans = [plan for plan, _ in batch.plans]
    if plans:
        _write(session, plans)
        written = {id(p) for p in plans}
        for plan, out in batch.plans:
            if id(plan) in written:
                out.case_id, out.number, out.created, out.row = (plan.case["id"], plan.case["number"], True,
                                                                 plan.case)
                out.duplicates = [(_candidate(f), d) for f, d in plan.duplicates]
    for i, j in batch.repeats.items():
        first, again = batch.outcomes[j], batch.outcomes[i]
        again.case_id, again.number, again.row, again.error = first.case_id, first.number, first.row, first.error
    return batch.outcomes


def _write(session: Session, plans: list[_Plan]) -> None:
    conn = session.connection()
    # Case numbers: one counter bump per (district, day) for the whole batch.
    groups: dict[tuple[str, dt.date], list[_Plan]] = defaultdict(list)
    for p in plans:
        groups[(p.district, p.day)].append(p)
    for (district, day), members in groups.items():
        last = conn.execute(_COUNTER_BUMP, {"district": district, "day": day, "n": len(members)}).scalar_one()
        for k, p in enumerate(members):
            p.case["number"] = f"{district}-{day:%Y%m%d}-{last - len(members) + k + 1:06d}"
    cases: list[tuple[PreparedInsert, DriverRow]] = []
    rows: list[tuple[PreparedInsert, DriverRow]] = []
    notices: list[dict[str, Any]] = []
    entries: list[audit.Entry] = []
    stats: dict[tuple[str, dt.date, str], dict[str, int]] = {}
    attach: list[dict[str, Any]] = []
    for p in plans:
        number, c = p.case["number"], p.case
        assert p.case_row is not None  # prepared by plan_cases
        stmt, row = p.case_row
        cases.append((stmt, stmt.with_value(row, "number", number)))
        rows.extend(p.rows)
        entries.extend(audit.Entry(actor=e.actor, action=e.action, object_type=e.object_type,
                                   object_id=e.object_id, before=e.before, after=_fill(e.after, number),
                                   reason=e.reason, jsonable=True) for e in p.audits)
        for d in p.stats:
            acc = stats.setdefault((c["path"], p.day, c["category_code"] or ""), dict.fromkeys(STAT_COLUMNS, 0))
            for col, v in d.items():
                acc[col] += v
        for m in p.notices:
            msg = notify.Message(kind=m.kind, title=m.title, body=_fill(m.body, number), case_id=m.case_id,
                                 user_id=m.user_id, recipient=m.recipient, phone=m.phone)
            nid = new_id()
            statuses = notify.send_external(msg, session=session, notification_id=nid)
            notices.append({"id": nid, "user_id": msg.user_id, "recipient": msg.recipient,
                            "case_id": msg.case_id, "kind": msg.kind, "title": msg.title, "body": msg.body,
                            "channels": statuses, "delivery_pending": notify.is_pending(statuses),
                            "created_at": c["created_at"], "read_at": None})
        attach.extend({"b_id": a, "b_case": c["id"]} for a in p.attachment_ids)
    execute_prepared(conn, cases)  # first: the other rows refer to the cases
    execute_prepared(conn, rows)
    if notices:
        stmt = prepared_insert(_table(Notification), tuple(notices[0]), conn.dialect)
        execute_prepared(conn, [(stmt, stmt.row(n)) for n in notices])
    if attach:
        t = _table(Attachment)
        conn.execute(t.update().where(t.c.id == bindparam("b_id"), t.c.case_id.is_(None))
                     .values(case_id=bindparam("b_case")), attach)
    conn.execute(STAT_UPSERT, [{"path": k[0], "day": k[1], "category_code": k[2], **v} for k, v in stats.items()])
    rollup.add_many(session, rows=[(k[0], k[1], v) for k, v in stats.items()])  # the per-unit rollup moves with it
    audit.record_many(session, entries)
    seqs: dict[uuid.UUID, int] = session.info.setdefault("case_seq", {})
    for p in plans:
        seqs[p.case["id"]] = len(p.events)
