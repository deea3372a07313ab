"""Alerts (告警): opened, counted, closed — and turned into cases through the normal intake.

One open alert per group key (``rule:<rule>:dev:<device>`` or ``…:bld:<building>``; ``offline:<device>``), held
by a partial unique index, so a storm of a hundred alarms from one device or one building is one alert whose
``count`` is a hundred, and one case. Its later hits leave a note on the open case's timeline — at most one per
:attr:`~zhili.core.settings.Settings.iot_case_note_interval_s` — instead of new cases.

Cases are filed by the system actor through :func:`zhili.cases.intake.file_cases` on channel ``iot``
(物联感知), located from the device: its rental room (:func:`zhili.rental.locks.room_location`), its building, its
coordinates, its grid — or, failing those, its address — with the rule's category, urgency and attributes. A new
alert whose group's previous alert still has an open case joins that case rather than opening another.

Reading needs ``iot:read`` within one's jurisdiction; closing by hand ``iot:admin``. Lists page and count in SQL:
:func:`page_alerts` (open first, then the latest hit; by state, device, kind, device type, severity and unit
subtree, with the exact total), :func:`open_alerts_by_type` (the screen's panel) and :func:`alarmed_devices`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, String, any_, bindparam, case, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from zhili.cases import engine as case_engine
from zhili.cases import notify
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.intake import IntakeRequest, file_cases
from zhili.cases.limits import DESCRIPTION_MAX
from zhili.cases.models import Case, CaseEvent, CaseState, Channel
from zhili.core import audit
from zhili.core.clock import fmt_local
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, path_predicate, scoped
from zhili.core.query import paginate
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.iot.models import Alert, AlertState, Device, DeviceType, Rule, Severity
from zhili.regions.models import Unit, UnitLevel

log = logging.getLogger(__name__)

ORIGIN = "iot_alert"  # the case's system attribute ``origin``
KIND_NAMES = {"rule": "规则告警", "offline": "设备离线"}
STATE_NAMES = {AlertState.open: "未关闭", AlertState.closed: "已关闭"}
_CLOSED_CASE = (CaseState.closed, CaseState.rejected, CaseState.merged)

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


# -- reading ---------------------------------------------------------------------------------------------------

def _state(state: str) -> AlertState:
    try:
        return AlertState(state)
    except ValueError as exc:
        raise ValidationFailed("告警状态只能是未关闭或已关闭", code="bad_state") from exc


def list_alerts(session: Session, *, principal: Principal, state: str | None = "open",
                device_id: uuid.UUID | None = None, kind: str | None = None, limit: int = 200) -> list[Alert]:
    """Alerts in the principal's jurisdiction, latest hit first (the first ``limit``, at most 1000; pages use
    :func:`page_alerts`)."""
    authorize(principal, Perm.iot_read)
    stmt = scoped(select(Alert), principal, Alert.path)
    if state:
        stmt = stmt.where(Alert.state == _state(state))
    if device_id:
        stmt = stmt.where(Alert.device_id == device_id)
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    return list(session.scalars(stmt.order_by(Alert.last_at.desc()).limit(min(max(limit, 1), 1000))))


def _filtered(stmt: _S, principal: Principal, *, state: str | None = None,
              device_id: uuid.UUID | None = None, kind: str | None = None, type_code: str | None = None,
              severity: str | None = None, unit_path: str | None = None) -> _S:
    stmt = scoped(stmt, principal, Alert.path)
    if state:
        stmt = stmt.where(Alert.state == _state(state))
    if device_id:
        stmt = stmt.where(Alert.device_id == device_id)
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    if type_code:  # an alert's type is its device's
        stmt = stmt.where(Alert.device_id.in_(
            select(Device.id).join(DeviceType, DeviceType.id == Device.type_id).where(DeviceType.code == type_code)))
    if severity:
        try:
            stmt = stmt.where(Alert.severity == Severity(severity))
        except ValueError as exc:
            raise ValidationFailed("告警级别只能是提示、预警或严重", code="bad_severity") from exc
    if unit_path:
        stmt = stmt.where(path_predicate(Alert.path, (unit_path,)))
    return stmt


def page_alerts(session: Session, *, principal: Principal, state: str | None = None,
                device_id: uuid.UUID | None = None, kind: str | None = None, type_code: str | None = None,
                severity: str | None = None, unit_path: str | None = None, page: int = 1,
                page_size: int = 50) -> tuple[list[Alert], int]:
    """One page of the jurisdiction's alerts and the exact total — open ones first, then by latest hit — of a
    state, device, kind, device type (code), severity, under the unit at ``unit_path``."""
    authorize(principal, Perm.iot_read)
    stmt = _filtered(select(Alert), principal, state=state, device_id=device_id, kind=kind, type_code=type_code,
                     severity=severity, unit_path=unit_path)
    return paginate(session, stmt, page=page, page_size=min(page_size, 1000), sort=None, sortable={},
                    default_sort=[case((Alert.state == AlertState.open, 0), else_=1), Alert.last_at.desc(),
                                  Alert.id])


def open_alerts_by_type(session: Session, *, principal: Principal, unit_path: str | None = None
                        ) -> dict[uuid.UUID, int]:
    """How many open alerts the jurisdiction (under ``unit_path``) has per device type id."""
    authorize(principal, Perm.iot_read)
    stmt = _filtered(select(Device.type_id, func.count()).select_from(Alert)
                     .join(Device, Device.id == Alert.device_id), principal, state="open", unit_path=unit_path)
    return {t: int(n) for t, n in session.execute(stmt.group_by(Device.type_id))}


def alarmed_devices(session: Session, *, principal: Principal, device_ids: Any) -> set[uuid.UUID]:
    """Those of these devices (in the jurisdiction) that have an open alert — 告警 on the pages, as
    :func:`zhili.iot.devices.page_devices` filters it."""
    authorize(principal, Perm.iot_read)
    ids = list(dict.fromkeys(i for i in device_ids if i is not None))
    out: set[uuid.UUID] = set()
    for i in range(0, len(ids), 500):
        stmt = (select(Alert.device_id).distinct().join(Device, Device.id == Alert.device_id)
                .where(Alert.state == AlertState.open, Alert.device_id.in_(ids[i:i + 500])))
        out.update(session.scalars(scoped(stmt, principal, Device.path)))
    return out


def get_alert(session: Session, *, principal: Principal, alert_id: uuid.UUID) -> Alert:
    authorize(principal, Perm.iot_read)
    a = session.get(Alert, alert_id)
    if a is None or not in_scope(principal, a.path):
        raise not_found("告警")
    return a


def close_alert(session: Session, *, principal: Principal, alert_id: uuid.UUID, reason: str) -> Alert:
    """Close an open alert by hand, with a reason (2–255 characters); its case, if any, follows its own loop."""
    authorize(principal, Perm.iot_admin)
    a = get_alert(session, principal=principal, alert_id=alert_id)
    text = (reason or "").strip()
    if not 2 <= len(text) <= 255:
        raise ValidationFailed("请填写关闭原因（2–255 字）", code="reason_required")
    if a.state != AlertState.open:
        raise Conflict("该告警已关闭", code="alert_closed")
    close(session, [a], reason=text, now=utcnow(), actor=principal.actor)
    return a


# -- writing (the engine and the heartbeat sweep, as the system) -----------------------------------------------

def group_key(rule: Rule | None, device: Device, kind: str = "rule") -> str:
    if rule is None:
        return f"{kind}:{device.id}"
    if rule.group_by == "building" and device.building_id is not None:
        return f"rule:{rule.id}:bld:{device.building_id}"
    return f"rule:{rule.id}:dev:{device.id}"


def open_alerts(session: Session, keys: Sequence[str]) -> dict[str, Alert]:
    """The open alerts of these group keys."""
    out: dict[str, Alert] = {}
    keys = list(dict.fromkeys(keys))
    if not keys:
        return out
    if session.get_bind().dialect.name == "postgresql":  # one array parameter: one plan, whatever the batch size
        wanted = bindparam("keys", keys, type_=postgresql.ARRAY(String))
        return {a.group_key: a for a in session.scalars(select(Alert).where(
            Alert.group_key == any_(wanted), Alert.state == AlertState.open))}
    for i in range(0, len(keys), 500):
        for a in session.scalars(select(Alert).where(Alert.group_key.in_(keys[i:i + 500]),
                                                     Alert.state == AlertState.open)):
            out[a.group_key] = a
    return out


def close(session: Session, alerts: Sequence[Alert], *, reason: str, now: dt.datetime,
          actor: audit.Actor = audit.SYSTEM) -> None:
    """Close alerts (state, time, reason), audited in one go."""
    entries = []
    for a in alerts:
        if a.state != AlertState.open:
            continue
        a.state, a.closed_at, a.close_reason = AlertState.closed, now, reason[:255]
        entries.append(audit.Entry(actor=actor, action="iot.alert_close", object_type="iot_alert", object_id=a.id,
                                   after={"reason": reason[:255], "count": a.count}))
    session.flush()
    audit.record_many(session, entries)


def recipients(session: Session, unit_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Whose inbox hears of a unit's alert: the unit's own queue (its code) and, for a grid, its community too;
    a district-level device's go to the command centre."""
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))} if unit_ids else {}
    parents = {u.parent_id for u in units.values() if u.level == UnitLevel.grid and u.parent_id}
    pcodes = dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(parents))).all()) if parents else {}
    out: dict[uuid.UUID, list[str]] = {}
    for uid, u in units.items():
        if u.level in (UnitLevel.district, UnitLevel.city, UnitLevel.province):
            out[uid] = ["command_centre"]
            continue
        out[uid] = [u.code] + ([pcodes[u.parent_id]] if u.parent_id in pcodes else [])
    return out


def notify_new(session: Session, alerts: Sequence[Alert], *, title: str) -> int:
    """One inbox message per receiving unit, naming its new alerts; the number of inboxes reached."""
    if not alerts:
        return 0
    to = recipients(session, {a.unit_id for a in alerts})
    by: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        for r in to.get(a.unit_id, ["command_centre"]):
            by[r].append(a)
    for r, items in by.items():
        lines = [f"【{SEVERITY_NAMES.get(a.severity, '')}】{a.title}（{a.detail.get('device_name', '')}"
                 f" {a.detail.get('address') or ''}）" for a in items[:10]]
        more = f"\n……共 {len(items)} 条" if len(items) > 10 else ""
        head = items[0].title if len(items) == 1 else f"{title} {len(items)} 条"
        notify.deliver(session, notify.Message(kind="iot_alert", title=head[:200],
                                               body="\n".join(lines) + more + "\n请在物联感知页查看并处置。",
                                               recipient=r))
    return len(by)


SEVERITY_NAMES = {Severity.info: "提示", Severity.warning: "预警", Severity.critical: "严重"}


def _location(session: Session, device: Device, unit: Unit | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(first try, fallback) location fields for the device's case."""
    address = device.address or (unit.name if unit is not None else None) or device.name
    if device.room_id is not None:
        from zhili.rental.locks import room_location
        from zhili.rental.models import Room

        room = session.get(Room, device.room_id)
        got = room_location(session, device.room_id)
        if room is not None and got is not None:
            return {"building_id": room.building_id, "address": got.address[:255]}, {"address": got.address[:255]}
    if device.building_id is not None:
        return {"building_id": device.building_id, "address": device.address}, {"address": address}
    grid = {"grid_id": device.unit_id, "address": address} if unit is not None and unit.level == UnitLevel.grid \
        else {"address": address}
    if device.lon is not None and device.lat is not None:
        return {"lon": device.lon, "lat": device.lat, "address": address}, grid
    return grid, {"address": address}


def _readings(payload: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    """The payload's readings as people read them: each field the type's schema describes (``description`` or
    ``title``, e.g. 水位 m), with its value; machine fields (event codes, credentials, ids) are left out — the
    device page shows the whole message."""
    described: dict[str, str] = {}
    for schema in (schemas or {}).values():
        for name, prop in ((schema or {}).get("properties") or {}).items() if isinstance(schema, dict) else ():
            label = (prop or {}).get("description") or (prop or {}).get("title") if isinstance(prop, dict) else None
            if isinstance(label, str) and label.strip():
                described.setdefault(name, label.strip())
    out = []
    for name, value in payload.items():
        if name in described and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(f"{described[name]}：{value:g}")
    return out[:8]


def _description(a: Alert, rule: Rule, device: Device, dtype_name: str, schemas: dict[str, Any]) -> str:
    text = (f"物联感知设备自动告警：{rule.name}。\n设备：{device.name}（{dtype_name}）"
            f"\n位置：{device.address or '见地图'}\n首次告警：{fmt_local(a.first_at)}")
    if a.count > 1:
        text += f"\n累计 {a.count} 次"
    last = a.detail.get("payload")
    shown = _readings(last, schemas) if isinstance(last, dict) else []
    if shown:
        text += f"\n最近读数：{'，'.join(shown)}"[:300]
    return text[:DESCRIPTION_MAX]


def file_alert_cases(session: Session, items: Sequence[tuple[Alert, Rule, Device]], *,
                     now: dt.datetime) -> int:
    """File one case per new alert (the system reporting on channel ``iot``); a group whose previous alert still
    has an open case joins it instead. Returns the number of cases filed. A case intake refuses (a category since
    disabled …) leaves the alert without a case and the reason in its detail."""
    if not items:
        return 0
    joined = _join_open_cases(session, [a for a, _, _ in items])
    if joined:  # the open case hears at once that its cause is back
        note_cases(session, [a for a, _, _ in items if a.id in joined], now=now, force=True)
    todo = [(a, r, d) for a, r, d in items if a.id not in joined]
    if not todo:
        return 0
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({d.unit_id for _, _, d in todo})))}
    types = {t.id: (t.name, t.schemas) for t in session.execute(select(DeviceType.id, DeviceType.name,
                                                                        DeviceType.schemas))}
    plans: list[tuple[Alert, dict[str, Any], dict[str, Any]]] = []
    for a, r, d in todo:
        first, fallback = _location(session, d, units.get(d.unit_id))
        base = {"category_code": r.category_code, "title": f"【物联感知】{r.name}·{d.name}"[:200],
                "description": _description(a, r, d, *types.get(d.type_id, ("", {}))), "urgency": r.urgency,
                "attributes": dict(r.case_attributes or {}), "is_public": False,
                "system_attributes": {"origin": ORIGIN, "alert_id": str(a.id), "device": d.device_key,
                                      "rule": r.code or str(r.id)}}
        plans.append((a, {**base, **first}, {**base, **fallback}))
    filed = 0
    outcomes = file_cases(session, requests=[_request(data, a, now) for a, data, _ in plans])
    retry = [(a, fb) for (a, _, fb), out in zip(plans, outcomes, strict=True)
             if out.error is not None and out.error.code in ("point_outside_grids", "building_not_found",
                                                             "grid_not_found", "bad_coordinates")]
    for (a, _, _), out in zip(plans, outcomes, strict=True):
        if out.case_id is not None:
            a.case_id = out.case_id
            filed += 1
    if retry:
        again = file_cases(session, requests=[_request(fb, a, now) for a, fb in retry])
        for (a, _), out in zip(retry, again, strict=True):
            if out.case_id is not None:
                a.case_id = out.case_id
                filed += 1
    for a, _, _ in plans:
        if a.case_id is not None:  # the case's description already tells this alert's count
            a.noted_count, a.noted_at = a.count, now
        else:
            err = next((o.error for (x, _, _), o in zip(plans, outcomes, strict=True) if x is a), None)
            a.detail = {**a.detail, "case_error": err.message if err else "未能生成事件"}
            log.warning("iot alert %s: no case filed (%s)", a.id, err.code if err else "?")
    session.flush()
    return filed


def _request(data: dict[str, Any], a: Alert, now: dt.datetime) -> IntakeRequest:
    return IntakeRequest(principal=SYSTEM_PRINCIPAL, channel=Channel.iot, data=data,
                         idempotency_key=f"iot-alert-{a.id}", client="iot", now=now)


def _join_open_cases(session: Session, alerts: Sequence[Alert]) -> set[uuid.UUID]:
    """New alerts whose group's latest earlier alert still has an open case: they take that case (and note it)."""
    keys = [a.group_key for a in alerts]
    prev: dict[str, uuid.UUID] = {}
    for i in range(0, len(keys), 500):
        rows = session.execute(select(Alert.group_key, Alert.case_id).join(Case, Case.id == Alert.case_id)
                               .where(Alert.group_key.in_(keys[i:i + 500]), Alert.state == AlertState.closed,
                                      Case.state.not_in(_CLOSED_CASE))
                               .order_by(Alert.closed_at))
        for k, cid in rows:
            if cid is not None:
                prev[k] = cid
    joined: set[uuid.UUID] = set()
    for a in alerts:
        cid = prev.get(a.group_key)
        if cid is not None:
            a.case_id = cid
            a.noted_count = 0  # the next note tells the case of this alert's hits
            joined.add(a.id)
    return joined


def note_cases(session: Session, alerts: Sequence[Alert], *, now: dt.datetime, force: bool = False) -> int:
    """Tell open cases of their alerts' new hits: one internal timeline note per case at most every
    ``iot_case_note_interval_s`` (``force``: now). Returns the notes written."""
    every = dt.timedelta(seconds=get_settings().iot_case_note_interval_s)
    due = [a for a in alerts if a.case_id is not None and a.count > a.noted_count
           and (force or a.noted_at is None or now - a.noted_at >= every)]
    if not due:
        return 0
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({a.case_id for a in due})))}
    p = SYSTEM_PRINCIPAL
    n = 0
    for a in due:
        case = cases.get(a.case_id) if a.case_id else None
        if case is None or case.state in _CLOSED_CASE:
            continue
        more = a.count - a.noted_count
        text = (f"物联感知设备再次告警 {more} 次（该告警累计 {a.count} 次，最近 {fmt_local(a.last_at)}），"
                "已合并到本事件，未另行立案。")
        session.add(CaseEvent(
            case_id=case.id, seq=case_engine.next_seq(session, case), at=now, action="iot_repeat",
            from_state=case.state.value, to_state=case.state.value, actor_id=None, actor_name=p.display_name,
            actor_role=p.role.value, actor_unit=p.department, comment=text,
            payload={"alert_id": str(a.id), "count": a.count}, attachment_ids=[], public=False))
        a.noted_count, a.noted_at = a.count, now
        n += 1
    session.flush()
    return n
