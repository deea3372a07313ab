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

The rules about *how* a report arrives live here too, so that no front door can skip them: which channel a role
may report through and a role's default channel (:func:`resolve_channel`), and what an ``Idempotency-Key`` stands
for — the same key again with the same report (:func:`fingerprint`) is answered with the first case, with another
report it is refused (``idempotency_key_reused``), whether the first is in the database, earlier in the same
batch, or written by another process meanwhile.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import Date, Dialect, Table, bindparam, select, text
from sqlalchemy.orm import Session

from zhili.cases import deadlines, engine, flows, notify, suggest, tally
from zhili.cases import duplicates as dup
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.attachments import check_claim
from zhili.cases.attributes import validate_attributes
from zhili.cases.changes import REPORTER, Ctx, StatDelta, UnitRef
from zhili.cases.dispatch import CaseFacts, RuleSet, current_rules, match
from zhili.cases.limits import DESCRIPTION_MAX
from zhili.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Channel,
    IdempotencyRecord,
    Notification,
    SubTask,
    Urgency,
)
from zhili.cases.scope import co_departments_of, geo_cell
from zhili.cases.similarity import Match
from zhili.core import audit, config_version, names
from zhili.core.clock import local_day
from zhili.core.crypto import get_cipher
from zhili.core.db import DriverRow, PreparedInsert, driver_rows, execute_prepared, prepared_insert, utcnow
from zhili.core.errors import DomainError, NotFound, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jsonbounds import check_free_json
from zhili.core.jurisdiction import Principal, in_scope
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.core.validators import validate_mobile
from zhili.org.models import Department
from zhili.regions.geo import gcj02_to_wgs84
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.regions.service import get_locator
from zhili.users.service import CachedPrincipal, recheck_principal
from zhili.worktime.service import WorkCalendar, load_calendar

log = logging.getLogger(__name__)

# The case number is not known until the batch allocates it; texts written before that carry this marker.
_NUMBER = "\x00number\x00"


@dataclass(frozen=True)
class IntakeRequest:
    """One report as a channel hands it over."""

    principal: Principal | None
    channel: Channel | None  # None: the reporter's role's default (:func:`resolve_channel`)
    # The report's fields (as :class:`~zhili.cases.schemas.CaseIn`); ``attributes`` are checked against the
    # category's declaration (:mod:`zhili.cases.attributes`). ``system_attributes``: attributes the platform
    # itself adds (``visit_id``, Open311's ``_media_url``) — only in-process callers set it, no schema has it.
    data: dict[str, Any]
    idempotency_key: str | None = None
    client: str | None = None
    api_client_id: uuid.UUID | None = None
    now: dt.datetime | None = None
    # A principal taken from the per-process cache without a database read: confirmed against the authentication
    # counter when the batch is planned (and refused if its session has ended or it has changed meanwhile).
    auth: CachedPrincipal | None = None
    # The case's flow (cases.flows): only in-process callers name another than the event flow — the residence
    # permit is filed by zhili.rental.permits, which checks the stay it is filed with; no schema carries it.
    flow: str = flows.EVENT

    @property
    def client_key(self) -> str:
        """Whose Idempotency-Key this is (the same key from two clients means two reports)."""
        return self.client or (str(self.principal.user_id) if self.principal else "anonymous")


# An open case that a new report may repeat and the reporter may see (疑似重复件), with its score and why:
# :class:`zhili.cases.duplicates.Suggestion`.
DuplicateCandidate = dup.Suggestion


@dataclass
class IntakeOutcome:
    """What became of one report: the case (``row`` as written, or the earlier case for a repeated key)."""

    case_id: uuid.UUID | None = None
    number: str | None = None
    created: bool = False
    row: dict[str, Any] | None = None
    error: DomainError | None = None
    snapshot: Snapshot | None = None  # the configuration it was planned with (names for the reply)
    # Open cases the report may repeat (:mod:`zhili.cases.duplicates`), best score first, with their distance in
    # metres (None without two points) — searched while planning, in the reporter's jurisdiction, including
    # earlier reports of the same batch.
    duplicates: list[tuple[DuplicateCandidate, float | None]] = field(default_factory=list)


# -- how a report arrives: its channel, and what its Idempotency-Key stands for ---------------------------------

DEFAULT_CHANNEL: dict[Role, Channel] = {Role.resident: Channel.resident, Role.grid_worker: Channel.grid_worker,
                                        Role.department_handler: Channel.department}


def resolve_channel(principal: Principal | None, channel: Channel | None) -> Channel:
    """The channel a report is filed under: ``channel``, or by default the reporter's role's (other staff:
    工作人员代录). Refused (``bad_channel``) when the reporter may not use it: a resident reports only through the
    resident channel, and only the command centre (its 12345 desk) files hotline tickets. Every report passes here,
    whichever front door it came through (API, pages, Open311, visits)."""
    role = principal.role if principal is not None else None
    if channel is None:
        if role is None:
            raise ValidationFailed("请指明上报渠道", code="bad_channel")
        channel = DEFAULT_CHANNEL.get(role, Channel.staff)
    if role == Role.resident and channel != Channel.resident:
        raise ValidationFailed("居民只能通过居民渠道上报", code="bad_channel")
    if channel == Channel.hotline and role != Role.command_centre:
        raise ValidationFailed("只有指挥中心（热线坐席）可录入热线工单", code="bad_channel")
    return channel


# Canonical JSON: sorted keys, no spaces; ids (UUID) and times as their text (enums are text already).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(channel: Channel, data: Mapping[str, Any], digests: Mapping[uuid.UUID, str] | None = None) -> str:
    """What an Idempotency-Key stands for: the SHA-256 of the canonical JSON of the report as its sender made it —
    its channel and data, fields given as null counted as absent, attachments by their content digest (``digests``:
    id → sha256; a page re-posted after a lost reply uploads its photos again under new ids) in sorted order.
    Nothing the server adds (times, the session, the client) is in it."""
    shown = {k: v for k, v in data.items() if v is not None}
    attached = shown.pop("attachment_ids", None) or []
    if attached:
        shown["attachments"] = sorted(_content_of(a, digests or {}) for a in attached)
    return hashlib.sha256(_CANONICAL.encode({"channel": channel.value, "data": shown}).encode()).hexdigest()


def _content_of(attachment_id: Any, digests: Mapping[uuid.UUID, str]) -> str:
    try:
        return digests.get(uuid.UUID(str(attachment_id))) or str(attachment_id)
    except ValueError:  # refused when the report is planned
        return str(attachment_id)


def _fingerprints(session: Session, requests: Sequence[IntakeRequest], indexes: Sequence[int]) -> dict[int, str]:
    """The fingerprint of each request given with an Idempotency-Key (by index), its attachments' digests read in
    one query."""
    keyed = [i for i in indexes if requests[i].idempotency_key]
    if not keyed:
        return {}
    ids: set[uuid.UUID] = set()
    for i in keyed:
        for a in requests[i].data.get("attachment_ids") or []:
            try:
                ids.add(uuid.UUID(str(a)))
            except ValueError:
                continue
    digests = {r.id: r.sha256 for r in session.connection().execute(
        select(Attachment.id, Attachment.sha256).where(Attachment.id.in_(ids)))} if ids else {}
    out: dict[int, str] = {}
    for i in keyed:
        channel = requests[i].channel
        assert channel is not None  # resolved by plan_cases
        out[i] = fingerprint(channel, requests[i].data, digests)
    return out


def _key_reused() -> ValidationFailed:
    return ValidationFailed("该 Idempotency-Key（提交编号）已用于另一份内容不同的上报，本次未予受理。重试请原样提交；"
                            "新的上报请重新填写，或使用新的 Idempotency-Key", code="idempotency_key_reused")


# -- configuration snapshot ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """The configuration intake reads, as of one version stamp: current categories, departments, dispatch rules,
    the working calendar, the grid locator, every current unit's (path, level, code) and the district's path."""

    categories: dict[str, Category]
    category_names: dict[uuid.UUID, str]  # every version's id → name (cases keep the version they were filed under)
    departments: dict[str, str]  # code → name
    department_kinds: dict[str, str]  # code → kind (department, police, street, community …)
    rules: RuleSet
    calendar: WorkCalendar
    locator: Any
    units: dict[uuid.UUID, tuple[str, UnitLevel, str]]
    unit_names: dict[uuid.UUID, str]  # every current unit's name (what automatic dispatch tells the timeline)
    district_path: str | None

    @functools.cached_property
    def categories_by_id(self) -> dict[uuid.UUID, Category]:
        return {c.id: c for c in self.categories.values()}

    @functools.cached_property
    def units_by_code(self) -> dict[str, list[uuid.UUID]]:
        out: dict[str, list[uuid.UUID]] = defaultdict(list)
        for uid, (_, _, code) in self.units.items():
            out[code].append(uid)
        return out


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
    current = session.execute(select(Unit.id, Unit.path, Unit.level, Unit.code, Unit.name)
                              .where(Unit.valid_to == OPEN_END)).all()
    units = {u.id: (u.path, u.level, u.code) for u in current}
    depts = session.execute(select(Department.code, Department.name, Department.kind)).all()
    district = min(((code, path) for path, level, code in units.values() if level == UnitLevel.district),
                   default=None)
    snap = Snapshot(categories={c.code: c for c in cats if c.is_current},
                    category_names={c.id: c.name for c in cats},
                    departments={c: n for c, n, _ in depts}, department_kinds={c: k for c, _, k in depts},
                    rules=current_rules(session), calendar=load_calendar(session), locator=get_locator(session),
                    units=units, unit_names={u.id: u.name for u in current},
                    district_path=district[1] if district else None)
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
    # id → (uploaded_by, the case it belongs to)
    attachments: dict[uuid.UUID, tuple[uuid.UUID | None, uuid.UUID | None]] = field(default_factory=dict)

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
        cfg.attachments = {a.id: (a.uploaded_by, a.case_id) for a in conn.execute(
            select(Attachment.id, Attachment.uploaded_by, Attachment.case_id)
            .where(Attachment.id.in_(attachment_ids)))}
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

def district_code(path: str) -> str:
    """The six-digit district code within a unit path (the configured district when the path has none)."""
    for seg in path.split("/"):
        if len(seg) == 6:
            return seg
    return get_settings().district_code


@dataclass
class _Plan:
    req: IntakeRequest
    case: dict[str, Any]
    day: dt.date
    district: str
    events: list[dict[str, Any]] = field(default_factory=list)
    audits: list[audit.Entry] = field(default_factory=list)
    stats: list[StatDelta] = field(default_factory=list)
    notices: list[notify.Message] = field(default_factory=list)
    subtasks: list[dict[str, Any]] = field(default_factory=list)
    attachment_ids: list[uuid.UUID] = field(default_factory=list)
    duplicates: list[tuple[Any, Match]] = field(default_factory=list)  # (database row or batch mate's case, why)
    fingerprint: str | None = None  # of a report given with an Idempotency-Key, kept on its idempotency record
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


def _reportable(cfg: _Config, code: Any, flow: str = flows.EVENT) -> Category:
    cat = cfg.categories.get(str(code or ""))
    if cat is None:
        raise NotFound(f"事件类别 {code} 不存在", code="category_not_found")
    wanted = flows.get(flow).category_code
    if (cat.code != wanted) if wanted else (cat.kind == flows.SERVICE_KIND):
        # a service (居住证申领 …) is applied for through its own flow, never reported as an event — nor the reverse
        raise ValidationFailed(f"“{cat.name}”不能按{flows.get(flow).name}办理", code="category_not_in_flow")
    if not cat.is_active:
        raise ValidationFailed(f"事件类别“{cat.name}”已停用", code="category_inactive")
    if not cat.is_leaf:
        raise ValidationFailed(f"“{cat.name}”是大类，请选择具体小类", code="category_not_leaf")
    return cat


def _event(plan: _Plan, *, action: str, from_state: CaseState | None, to_state: CaseState, actor: Principal,
           now: dt.datetime, comment: str | None, payload: dict[str, Any] | None = None,
           attachments: list[uuid.UUID] | None = None, public: bool = True) -> int:
    seq = len(plan.events) + 1
    plan.events.append({
        "id": new_id(), "case_id": plan.case["id"], "seq": seq, "at": now, "action": action,
        "from_state": from_state.value if from_state else None, "to_state": to_state.value,
        "actor_id": None if actor is SYSTEM_PRINCIPAL else actor.user_id, "actor_name": actor.display_name,
        "actor_role": actor.role.value, "actor_unit": actor.department, "comment": comment,
        "payload": audit.to_jsonable(payload or {}), "attachment_ids": [str(a) for a in attachments or []],
        "public": public})
    return seq


def _audit_entry(*, actor: audit.Actor, action: str, object_id: Any, before: Any = None,
                 after: Any = None) -> audit.Entry:
    """An audit entry on a case with its payload made JSON-safe now, while planning (outside the write lock)."""
    return audit.Entry(actor=actor, action=action, object_type="case", object_id=object_id,
                       before=audit.to_jsonable(before), after=audit.to_jsonable(after), jsonable=True)


def _notify_reporter(plan: _Plan, phone: str | None, title: str, body: str) -> None:
    c = plan.case
    if c["reporter_user_id"] is None and c["reporter_phone_enc"] is None:
        return
    plan.notices.append(notify.Message(kind="case_update", title=title, body=body, case_id=c["id"],
                                       user_id=c["reporter_user_id"],
                                       phone=None if c["reporter_user_id"] else phone))


def _report_comment(channel: Channel, attributes: dict[str, Any]) -> str | None:
    """The first timeline line: the channel, and where a case the platform files came from (``origin``)."""
    said = names.name("channel_report", channel)
    origin = attributes.get("origin")
    named = names.name("case_origin", origin) if isinstance(origin, str) else None
    return f"{said}（{named}）" if named else said


def _advise_uncategorised(session: Session, cfg: _Config, requests: Sequence[IntakeRequest]
                          ) -> list[suggest.Advice | None]:
    """The text model's category suggestions for the reports filed without a category (None for the others, and
    for all when no model is installed) — one call for the batch."""
    out: list[suggest.Advice | None] = [None] * len(requests)
    if suggest.current() is None:
        return out
    wanted = [i for i, r in enumerate(requests) if not r.data.get("category_code")
              and isinstance(r.data.get("description"), str) and r.data["description"].strip()]
    if not wanted:
        return out
    allowed = {"category": {c.code for c in cfg.categories.values() if c.is_leaf and c.is_active}}
    texts = [suggest.ReportText(title=str(requests[i].data.get("title") or ""),
                                description=str(requests[i].data["description"]),
                                channel=_channel_value(requests[i].channel),
                                at=requests[i].now) for i in wanted]
    for i, advice in zip(wanted, suggest.advise(session, texts, targets=("category",), allowed=allowed),
                         strict=True):
        out[i] = advice.get("category")
    return out


def _channel_value(channel: Channel | None) -> str | None:
    return channel.value if channel is not None else None


def _classified(cfg: _Config, advice: suggest.Advice | None) -> tuple[str, suggest.Advice]:
    """The category of a report filed without one: the model's best suggestion when it is confident enough;
    otherwise the report is refused with the top suggestions, for the person filing it to pick one."""
    best = advice.best if advice is not None else None
    if advice is not None and best is not None and best.p >= get_settings().intel_auto_confidence:
        return best.code, advice
    shown = [{"code": g.code, "name": cfg.categories[g.code].name, "p": round(g.p, 3), "terms": list(g.terms)}
             for g in (advice.guesses if advice else ()) if g.code in cfg.categories]
    if shown:
        names_ = "、".join(f"{g['name']}（{g['p']:.0%}）" for g in shown)
        raise ValidationFailed(f"请选择事件类别。智能分拨建议：{names_}", code="category_required",
                               details={"suggestions": shown})
    raise ValidationFailed("请选择事件类别", code="category_required", details={"suggestions": []})


def _plan(session: Session, cfg: _Config, req: IntakeRequest, located: uuid.UUID | None,
          advice: suggest.Advice | None = None) -> _Plan:
    """Validate one report and lay out every row it writes (the case number is filled in when written).
    ``advice``: the text model's category suggestions, for a report filed without a category."""
    now = req.now or utcnow()
    data = dict(req.data)
    principal, channel = req.principal, req.channel
    assert channel is not None  # resolved by plan_cases
    flow = flows.FLOWS.get(req.flow)
    if flow is None:
        raise ValidationFailed(f"未知的案件流程：{req.flow}", code="unknown_flow")
    code = data.pop("category_code", None) or flow.category_code
    classified: suggest.Advice | None = None
    if not code:
        code, classified = _classified(cfg, advice)
    cat = _reportable(cfg, code, flow.code)
    description = (data.get("description") or "").strip()
    if not description:
        raise ValidationFailed("请填写问题描述", code="description_required")
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(f"问题描述不能超过{DESCRIPTION_MAX}字（现为{len(description)}字）",
                               code="description_too_long",
                               details={"max": DESCRIPTION_MAX, "length": len(description)})
    attributes = {**validate_attributes(cat.attributes, data.get("attributes"), category=cat.name),
                  **check_free_json(dict(data.get("system_attributes") or {}), name="系统属性")}
    grid_id, path = _resolve_location(session, cfg, req, data, located)
    attachments = [_uuid(a, "attachment_id") for a in data.get("attachment_ids") or []]
    for aid in attachments:  # a new case: only the reporter's own, still unclaimed uploads
        check_claim(aid, cfg.attachments.get(aid), claimer=principal.user_id if principal else None, case_id=None)
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
        "id": case_id, "number": _NUMBER, "channel": channel, "flow": flow.code, "state": CaseState.reported,
        "category_id": cat.id,
        "category_code": cat.code, "title": (data.get("title") or description[:30]).strip()[:200],
        "description": description, "urgency": Urgency(data.get("urgency") or cat.urgency),
        "lon": data.get("lon"), "lat": data.get("lat"), "geo_cell": geo_cell(data.get("lon"), data.get("lat")),
        "address": data.get("address"), "grid_id": grid_id,
        "path": path, "attributes": attributes,
        "reporter_user_id": principal.user_id if principal and channel in (Channel.resident, Channel.grid_worker)
        else None,
        "reporter_name_enc": name_enc, "reporter_phone_enc": phone_enc, "reporter_phone_bidx": phone_bidx,
        "anonymous": anonymous, "is_public": bool(data.get("is_public", True)) and channel != Channel.department,
        "api_client_id": req.api_client_id, "external_id": data.get("external_id"),
        "assignee_department": None, "assignee_unit_id": None, "assignee_path": None, "escalation_level": None,
        "dispatch_rule_id": None, "is_joint": False, "master_case_id": None, "resolution": None,
        "reject_reason": None, "rating": None, "rating_comment": None,
        "reported_at": now, "reported_day": day, "accepted_at": None, "dispatched_at": None, "resolved_at": None,
        "verified_at": None, "closed_at": None, "accept_due_at": deadlines.accept_due(cal, cat, now),
        "handle_due_at": None, "handle_warn_at": None, "verify_due_at": None, "warning_level": "none",
        "overdue": False, "closed_on_time": None, "reopen_count": 0, "support_count": 0, "merged_count": 0,
        "is_history": False, "created_at": now, "updated_at": now, "version": 1,
    }
    plan = _Plan(req=req, case=row, day=day, district=district_code(path), attachment_ids=attachments)
    actor = principal or SYSTEM_PRINCIPAL
    _event(plan, action="report", from_state=None, to_state=CaseState.reported, actor=actor, now=now,
           comment=_report_comment(channel, attributes), attachments=attachments)
    if classified is not None and classified.best is not None:
        best = classified.best
        _event(plan, action="classify", from_state=CaseState.reported, to_state=CaseState.reported,
               actor=SYSTEM_PRINCIPAL, now=now, public=False,
               comment=f"智能分拨：按描述判断为“{cat.name}”（置信度 {best.p:.0%}）",
               payload={"model_id": str(classified.model_id), "model": classified.model_label,
                        "suggestions": [{"code": g.code, "p": round(g.p, 4), "terms": list(g.terms)}
                                        for g in classified.guesses]})
    if flow.counts_in_stats:
        plan.stats.append(StatDelta(path=path, day=day, category_code=cat.code, deltas={"reported": 1}))
    plan.audits.append(_audit_entry(actor=actor.actor, action="case.report", object_id=case_id,
                                    after={"number": _NUMBER, "channel": channel.value, "category": cat.code,
                                           "path": path, **({"flow": flow.code} if flow.code != flows.EVENT
                                                            else {})}))
    if not flow.auto_dispatch:
        _notify_reporter(plan, phone, flow.received[0], flow.received[1].format(number=_NUMBER))
        _notify_desk(cfg, plan, flow)
    elif not _auto_dispatch(session, cfg, plan, now):
        _notify_reporter(plan, phone, flow.received[0], flow.received[1].format(number=_NUMBER))
    else:  # received, accepted and dispatched in the same instant: one message, not three (an SMS each)
        _notify_reporter(plan, phone, "您反映的问题已受理并派遣处置",
                         f"事件编号 {_NUMBER}，已受理并交由相关部门处置，我们会及时告知处理结果。")
    return plan


def _notify_desk(cfg: _Config, plan: _Plan, flow: flows.Flow) -> None:
    """A flow without automatic dispatch is taken by the community whose area holds it: its queue is told."""
    desk = _SnapshotLookups(cfg).ancestor(plan.case["path"], UnitLevel.community)
    if desk is not None:
        plan.notices.append(notify.Message(kind="task", title=f"新的{flow.noun}",
                                           body=f"{flow.noun} {_NUMBER} 待受理。", case_id=plan.case["id"],
                                           recipient=desk.code))


class _SnapshotLookups:
    """:class:`~zhili.cases.changes.Lookups` from the batch's configuration snapshot (no reads)."""

    def __init__(self, cfg: _Config) -> None:
        self.cfg = cfg

    def category(self, category_id: uuid.UUID | None) -> Category | None:
        return self.cfg.snap.categories_by_id.get(category_id) if category_id else None

    def reportable_category(self, code: str) -> Category:
        return _reportable(self.cfg, code)

    def department_kind(self, code: str) -> str:
        kind = self.cfg.snap.department_kinds.get(code)
        if kind is None:
            raise ValidationFailed(f"部门 {code} 不存在", code="department_not_found")
        return kind

    def unit(self, unit_id: uuid.UUID) -> UnitRef | None:
        u = self.cfg.units.get(unit_id)
        return UnitRef(unit_id, *u) if u is not None else None

    def ancestor(self, path: str, level: UnitLevel) -> UnitRef | None:
        for code in path.split("/"):
            for uid in self.cfg.snap.units_by_code.get(code, ()):
                u = self.cfg.units[uid]
                if u[1] == level:
                    return UnitRef(uid, *u)
        return None


def _auto_dispatch(session: Session, cfg: _Config, plan: _Plan, now: dt.datetime) -> bool:
    """Accept and dispatch at once when a responsibility-list rule matches with enough confidence — through the case
    engine, as the system actor, exactly as a dispatcher's accept-then-dispatch (True if so; the caller tells the
    reporter once for all three steps)."""
    c = plan.case
    m = match(CaseFacts(c["category_code"], c["path"], c["description"], now), cfg.snap.rules)
    if m.rule is None or m.confidence < get_settings().auto_dispatch_confidence or c["grid_id"] is None:
        return False
    rule = m.rule
    payload: dict[str, Any] = {"rule_id": rule.id}
    payload.update({"department": rule.target_department} if rule.target_department
                   else {"unit_id": rule.target_unit_id})
    if rule.co_departments:
        payload["co_departments"] = list(rule.co_departments)
    if rule.handle_hours:
        payload["handle_hours"] = rule.handle_hours
    target = (cfg.snap.departments.get(rule.target_department) if rule.target_department
              else cfg.snap.unit_names.get(rule.target_unit_id) if rule.target_unit_id else None)
    ctx = Ctx(session=session, now=now, calendar=cfg.calendar, look=_SnapshotLookups(cfg))
    try:
        steps = engine.plan_steps(ctx, c, SYSTEM_PRINCIPAL, [
            ("accept", {"comment": "按权责清单自动受理"}),
            # named, never coded: the reporter reads this line too (the rule's own name is the staff's business)
            ("dispatch", {**payload, "comment": f"按派单规则自动派遣至{target}" if target else "按派单规则自动派遣"})])
    except DomainError as exc:
        log.warning("dispatch rule %s cannot be applied (%s); case left for manual dispatch", rule.id, exc.code)
        return False
    for step in steps:
        _apply_step(plan, step, now)
    return True


def _apply_step(plan: _Plan, step: engine.Step, now: dt.datetime) -> None:
    """A step planned by the engine, applied to the planned rows — what :func:`engine.apply_to_case` does to a loaded
    case (the reporter is told by the caller, once)."""
    c, cs = plan.case, step.changes
    assert not cs.other_rows, "intake's steps change only the case's own rows"
    c.update(cs.values)
    c["state"] = step.after
    seq = len(plan.events) + 1
    plan.events.append({"id": new_id(), **engine.event_values(step, SYSTEM_PRINCIPAL, now, case_id=c["id"],
                                                              seq=seq)})
    plan.audits.append(_audit_entry(actor=SYSTEM_PRINCIPAL.actor, action=f"case.{step.row.action}",
                                    object_id=c["id"], before={"state": step.before.value},
                                    after=engine.audit_after(step, seq)))
    plan.stats.extend(cs.stats)
    if cs.subtasks is not None:
        plan.subtasks = [{"department": d, "role": role} for d, role in cs.subtasks]
    plan.notices.extend(notify.Message(kind="task", title=n.title, body=n.body, case_id=c["id"], recipient=n.to)
                        for n in cs.notices if n.to != REPORTER)


# -- writing a batch -------------------------------------------------------------------------------------------

_COUNTER_BUMP = text(
    "INSERT INTO case_counter (district, day, last) VALUES (:district, :day, :n) ON CONFLICT (district, day) "
    "DO UPDATE SET last = case_counter.last + :n RETURNING last"
).bindparams(bindparam("day", type_=Date()))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _fill(value: Any, number: str) -> Any:
    if isinstance(value, str):
        return value.replace(_NUMBER, number)
    if isinstance(value, dict):
        return {k: _fill(v, number) for k, v in value.items()}
    return value


def _prior_cases(session: Session, requests: Sequence[IntakeRequest]
                 ) -> dict[tuple[str, str], tuple[dict[str, Any], str | None]]:
    """The cases already filed under the batch's idempotency keys: (client, key) → (the case's row, the
    fingerprint of the report it was filed from — None on records older than fingerprints)."""
    keyed = {(r.client_key, r.idempotency_key) for r in requests if r.idempotency_key}
    if not keyed:
        return {}
    conn = session.connection()
    # client IN (…) AND key IN (…) walks the (client, key) unique index; the pairs are matched here
    hits = {r.case_id: ((r.client, r.key), r.fingerprint) for r in conn.execute(
        select(IdempotencyRecord.client, IdempotencyRecord.key, IdempotencyRecord.case_id,
               IdempotencyRecord.fingerprint)
        .where(IdempotencyRecord.client.in_({c for c, _ in keyed}), IdempotencyRecord.key.in_({k for _, k in keyed})))
        if (r.client, r.key) in keyed}
    if not hits:
        return {}
    return {hits[r.id][0]: (dict(r._mapping), hits[r.id][1]) for r in conn.execute(select(_table(Case)).where(
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
    of its first report — or, with another report, is refused."""
    if len(batches) == 1:
        return batches[0]
    requests: list[IntakeRequest] = []
    outcomes: list[IntakeOutcome] = []
    plans: list[tuple[_Plan, IntakeOutcome]] = []
    repeats: dict[int, int] = {}
    first: dict[tuple[str, str], int] = {}
    planned: dict[int, _Plan] = {}
    for b in batches:
        offset = len(outcomes)
        index = {id(out): offset + i for i, out in enumerate(b.outcomes)}
        requests.extend(b.requests)
        outcomes.extend(b.outcomes)
        repeats.update({offset + i: offset + j for i, j in b.repeats.items()})
        for plan, out in b.plans:
            i = index[id(out)]
            planned[i] = plan
            earlier = _repeat_of(first, plan.req, i)
            if earlier is None:
                plans.append((plan, out))
            elif planned[earlier].fingerprint != plan.fingerprint:
                out.error = _key_reused()  # its batch mates repeating it (same report) are refused with it
            else:
                repeats[i] = earlier
    return PlannedBatch(requests=requests, outcomes=outcomes, plans=plans, repeats=repeats)


def plan_cases(session: Session, *, requests: Sequence[IntakeRequest]) -> PlannedBatch:
    """Validate and lay out a batch of reports; needs only reads, so it can run outside the write lock."""
    outcomes = [IntakeOutcome() for _ in requests]
    stamps = config_version.current_all(session)
    snap = snapshot(session, stamp=stamps.get(config_version.CONFIG, (0, 0)))
    for out in outcomes:
        out.snapshot = snap
    reqs = list(requests)  # with each channel resolved
    valid: list[int] = []
    for i, req in enumerate(reqs):
        try:
            if req.auth is not None:
                recheck_principal(session, entry=req.auth, stamp=stamps.get(config_version.AUTH))
            channel = resolve_channel(req.principal, req.channel)
        except DomainError as exc:
            outcomes[i].error = exc
            continue
        if channel != req.channel:
            reqs[i] = replace(req, channel=channel)
        valid.append(i)
    prints = _fingerprints(session, reqs, valid)
    repeats: dict[int, int] = {}
    first: dict[tuple[str, str], int] = {}
    todo: list[int] = []
    for i in valid:
        earlier = _repeat_of(first, reqs[i], i)
        if earlier is None:
            todo.append(i)
        elif prints[earlier] != prints[i]:
            outcomes[i].error = _key_reused()
        else:
            repeats[i] = earlier
    batch = PlannedBatch(requests=reqs, outcomes=outcomes, plans=[], repeats=repeats)
    # Reports filed before (a retry, an earlier batch, another process) are answered with their case — or refused
    # when the key was used for another report. Looked up here, outside the write lock: a key written by another
    # process between now and this batch's write fails the batch on the (client, key) unique constraint, and the
    # writer retries its reports one by one — each then finds that record here.
    prior = _prior_cases(session, [reqs[i] for i in todo])
    if prior:
        fresh = []
        for i in todo:
            hit = prior.get((reqs[i].client_key, reqs[i].idempotency_key or ""))
            if hit is None:
                fresh.append(i)
            elif hit[1] is not None and hit[1] != prints[i]:
                outcomes[i].error = _key_reused()
            else:
                outcomes[i].case_id, outcomes[i].number, outcomes[i].row = hit[0]["id"], hit[0]["number"], hit[0]
        todo = fresh
    if not todo:
        return batch
    cfg = _load_config(session, [reqs[i] for i in todo], snap)
    located = _locate_all(session, cfg, [reqs[i] for i in todo])
    advice = _advise_uncategorised(session, cfg, [reqs[i] for i in todo])
    claimed: set[uuid.UUID] = set()
    for i, grid, adv in zip(todo, located, advice, strict=True):
        try:
            plan = _plan(session, cfg, reqs[i], grid, adv)
            if claimed & set(plan.attachment_ids):
                raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
            claimed.update(plan.attachment_ids)
        except DomainError as exc:
            outcomes[i].error = exc
            continue
        plan.fingerprint = prints.get(i)
        batch.plans.append((plan, outcomes[i]))
    _find_duplicates(session, batch.plans, cfg.snap)
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
                         "case_id": c["id"], "created_at": c["created_at"], "fingerprint": p.fingerprint})
            tables.append(_table(IdempotencyRecord))
        for table, row in zip(tables, rows, strict=True):
            stmt = prepared_insert(table, tuple(row), dialect)
            p.rows.append((stmt, stmt.row(row)))


def _find_duplicates(session: Session, plans: list[tuple[_Plan, IntakeOutcome]], snap: Snapshot) -> None:
    """Each report's duplicate candidates (疑似重复件) by the rule of :mod:`zhili.cases.duplicates`: stored cases
    from one query for the whole batch, and earlier reports of the same batch (committed with it)."""
    asking = [p for p, _ in plans if p.req.principal is not None and p.req.flow == flows.EVENT]  # events repeat
    if not asking:
        return
    names = {code: c.name for code, c in snap.categories.items()}
    probes = {id(p): dup.probe_of(p.case, snap.categories) for p in asking}
    rows = dup.fetch_candidates(session, list(probes.values()))
    co = co_departments_of(session, rows=rows, principals=[p.req.principal for p in asking
                                                            if p.req.principal is not None])
    profiles, rule = dup.Profiles(names), dup.Rule.from_settings()
    # category → the stored cases and the earlier reports of the batch, with the departments of their sub-tasks
    pool: dict[str, list[tuple[dict[str, Any], list[str]]]] = defaultdict(list)
    for r in rows:
        pool[r["category_code"]].append((r, co.get(r["id"], [])))
    for plan, _ in plans:
        principal = plan.req.principal
        if principal is not None and id(plan) in probes:
            probe = probes[id(plan)]
            found = []
            for code in (probe.category_code, *probe.related):
                for row, co_departments in pool.get(code or "", ()):
                    if dup.visible(principal, row, co_departments):
                        m = dup.match(probe, row, profiles, category_names=names, rule=rule)
                        if m is not None:
                            found.append((row, m))
            plan.duplicates = dup.rank(found, 10)
        # a batch mate: the case row itself (numbered when the batch is written)
        pool[plan.case["category_code"]].append((plan.case, [t["department"] for t in plan.subtasks]))


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
                out.duplicates = [(dup.suggestion(f, m), m.distance_m) for f, m in plan.duplicates]
    for i, j in batch.repeats.items():
        while j in batch.repeats:  # merged batches: the first report of a later batch may itself repeat an earlier
            j = batch.repeats[j]
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
        [(last,)] = driver_rows(conn, (_COUNTER_BUMP, {"district": district, "day": day, "n": len(members)}))
        for k, p in enumerate(members):
            p.case["number"] = f"{district}-{day:%Y%m%d}-{last - len(members) + k + 1:06d}"
    cases: list[tuple[PreparedInsert, DriverRow]] = []
    rows: list[tuple[PreparedInsert, DriverRow]] = []
    notices: list[dict[str, Any]] = []
    entries: list[audit.Entry] = []
    stats: list[StatDelta] = []
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
        stats.extend(p.stats)
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
    tally.add_many(session, stats)  # and the per-unit rollup with them
    audit.record_many(session, entries)
    seqs: dict[uuid.UUID, int] = session.info.setdefault("case_seq", {})
    for p in plans:
        seqs[p.case["id"]] = len(p.events)
