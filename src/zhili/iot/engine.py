"""The rule engine: a batch of received MQTT messages is recorded, validated and evaluated in one transaction.

:func:`process_batch` is what the ingest (:mod:`zhili.iot.ingest`) calls for every batch, and what tests and the
benchmark call directly. In order:

1. **Topic and payload.** ``{prefix}/{district}/{device_type}/{device_id}/{events|telemetry|heartbeat}``; the
   payload a JSON object of at most ``iot_max_payload_bytes``. A message from an unknown device, on a malformed
   topic, whose type segment is not its device's type, or off its type's schema (:mod:`zhili.iot.schema`) is
   *kept*, rejected, with the reason.
2. **Idempotency.** A message is identified by (device id, ``mid``) — ``mid`` from the payload, else a digest of
   topic and payload. One already recorded (a redelivery after a crash, a device repeating itself) is skipped
   before anything is evaluated, so it raises nothing a second time; the unique constraint settles a race between
   two ingest processes (the loser's batch rolls back and is retried).
3. **Liveness.** An accepted message updates the device's ``last_seen_at``; an offline device is back online and
   its offline alert closes.
4. **Rules.** Every enabled rule of the device's type and the message's kind evaluates its condition over the
   payload and the context (:mod:`zhili.iot.rules`); a door lock's events at a rental room first go to the rental
   register (:func:`zhili.rental.locks.on_lock_event`), whose verdict joins the context. The window — none, N hits
   within S seconds, held for S seconds — is kept per rule and device in ``iot_rule_state``, so a restart loses
   nothing. A firing rule opens its group's alert or adds to it (storm de-duplication, :mod:`zhili.iot.alerts`); a
   message that no longer meets a ``close_on_recovery`` rule closes the device's share of the alert.
5. **Cases and notes.** New alerts of case-raising rules become cases through the intake, later hits a note on
   the open case; new alerts reach the unit's inbox.

The caller commits, and only then acknowledges the messages to the broker (at-least-once end to end).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, tuple_, update
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.settings import get_settings
from zhili.iot import alerts as alert_svc
from zhili.iot import rules as rule_svc
from zhili.iot.models import (
    MESSAGE_KINDS,
    Alert,
    AlertState,
    Device,
    DeviceStatus,
    DeviceType,
    Message,
    Rule,
    RuleState,
    Window,
)
from zhili.iot.schema import validate

log = logging.getLogger(__name__)

RAW_MAX = 2000
# Fields that open something (a lock's credential, a PIN): judged in memory, never stored — the stored payload keeps
# their last four characters (so people can tell two apart), like the rental register keeps its keys.
SECRET_FIELDS = frozenset({"credential", "password", "pin", "token", "secret"})
REASONS = {"bad_topic": "主题格式不正确", "bad_json": "载荷不是 JSON 对象", "too_large": "载荷过大",
           "unknown_device": "设备未登记", "type_mismatch": "主题中的设备类型与登记的不一致",
           "schema": "载荷不符合该类型的格式", "bad_mid": "消息编号不合规", "failed": "处理出错，已留存待排查"}


@dataclass(frozen=True)
class Incoming:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    received_at: dt.datetime | None = None


@dataclass
class BatchResult:
    """What a batch did."""

    received: int = 0
    recorded: int = 0  # new rows (accepted + rejected)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0  # already recorded: skipped
    alerts_opened: int = 0
    alerts_counted: int = 0  # hits added to an open alert
    alerts_closed: int = 0
    cases: int = 0
    notes: int = 0
    seconds: float = 0.0
    new_alert_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Parsed:
    item: Incoming
    at: dt.datetime
    device_key: str
    type_code: str | None
    kind: str
    mid: str
    payload: dict[str, Any] | None
    raw: str | None
    sent_at: dt.datetime | None
    reason_code: str | None = None
    reason: str | None = None
    device: Device | None = None
    row_id: uuid.UUID | None = None


def _digest(topic: str, payload: bytes) -> str:
    return "h:" + hashlib.sha256(topic.encode("utf-8", "replace") + b"\x00" + payload).hexdigest()[:40]


def _sent_at(v: Any) -> dt.datetime | None:
    try:
        if isinstance(v, int | float) and not isinstance(v, bool):
            secs = v / 1000 if v > 1e11 else v  # milliseconds from devices that send them
            return dt.datetime.fromtimestamp(secs, dt.UTC)
        if isinstance(v, str) and v:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def parse(item: Incoming, *, prefix: str, now: dt.datetime) -> _Parsed:
    """Topic and payload of one message, with the reason it must be rejected (if any)."""
    at = item.received_at or now
    topic = item.topic
    rest = topic[len(prefix) + 1:].split("/") if topic.startswith(prefix + "/") else []
    max_bytes = get_settings().iot_max_payload_bytes
    p = _Parsed(item=item, at=at, device_key="?", type_code=None, kind="?", mid=_digest(topic, item.payload),
                payload=None, raw=None, sent_at=None)
    if len(rest) == 4:
        _, p.type_code, key, p.kind = rest
        p.device_key = key[:64] or "?"
    else:
        p.device_key = (rest[2] if len(rest) > 2 else "?")[:64] or "?"
    p.kind = p.kind[:16]
    if len(item.payload) > max_bytes:
        p.raw = item.payload[:RAW_MAX].decode("utf-8", "replace")
        return _reject(p, "too_large", f"载荷过大（{len(item.payload)} 字节，上限 {max_bytes}）")
    try:
        body = json.loads(item.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        p.payload = body
        mid = body.get("mid")
        if mid is not None:
            if not isinstance(mid, str | int) or isinstance(mid, bool) or not 1 <= len(str(mid)) <= 80:
                return _reject(p, "bad_mid", "消息编号 mid 应为 1–80 个字符")
            p.mid = str(mid)
        p.sent_at = _sent_at(body.get("ts"))
    else:
        p.raw = item.payload[:RAW_MAX].decode("utf-8", "replace")
    if len(rest) != 4 or p.kind not in MESSAGE_KINDS or not all(rest) or len(rest[2]) > 64:
        return _reject(p, "bad_topic", "主题应为 {前缀}/{区县}/{设备类型}/{设备编号}/{events|telemetry|heartbeat}")
    if p.payload is None:
        return _reject(p, "bad_json", REASONS["bad_json"])
    return p


def _reject(p: _Parsed, code: str, reason: str) -> _Parsed:
    p.reason_code, p.reason = code, reason[:255]
    return p


class _Ctx:
    """What a batch reads once: types, rules by type, the window states and open alerts it touches."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.types: dict[uuid.UUID, DeviceType] = {t.id: t for t in session.scalars(select(DeviceType))}
        self.rules: dict[str, list[Rule]] = defaultdict(list)
        for r in session.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)):
            self.rules[r.type_code].append(r)
        self.states: dict[tuple[uuid.UUID, uuid.UUID], RuleState] = {}
        self.alerts: dict[str, Alert | None] = {}
        self.new_alerts: list[tuple[Alert, Rule, Device]] = []
        self.touched: dict[uuid.UUID, Alert] = {}
        self.closed: list[Alert] = []
        self.audits: list[audit.Entry] = []

    def load_states(self, pairs: set[tuple[uuid.UUID, uuid.UUID]]) -> None:
        rule_ids = {r for r, _ in pairs}
        dev_ids = {d for _, d in pairs}
        if not pairs:
            return
        for s in self.session.scalars(select(RuleState).where(RuleState.rule_id.in_(rule_ids),
                                                              RuleState.device_id.in_(dev_ids))):
            self.states[(s.rule_id, s.device_id)] = s

    def state(self, rule: Rule, device: Device) -> RuleState:
        key = (rule.id, device.id)
        s = self.states.get(key)
        if s is None:
            s = self.states[key] = RuleState(rule_id=rule.id, device_id=device.id, hits=[], true_since=None)
            self.session.add(s)
        return s

    def alert(self, key: str) -> Alert | None:
        if key not in self.alerts:
            self.alerts.update({k: None for k in [key]})
            self.alerts.update(alert_svc.open_alerts(self.session, [key]))
        return self.alerts[key]

    def prefetch_alerts(self, keys: set[str]) -> None:
        missing = [k for k in keys if k not in self.alerts]
        if missing:
            self.alerts.update({k: None for k in missing})
            self.alerts.update(alert_svc.open_alerts(self.session, missing))


def process_batch(session: Session, items: Sequence[Incoming], *, prefix: str | None = None,
                  now: dt.datetime | None = None) -> BatchResult:
    """Record and evaluate a batch of messages in the caller's transaction (see the module text)."""
    t0 = time.perf_counter()
    now = now or utcnow()
    prefix = (prefix if prefix is not None else get_settings().mqtt_topic_prefix).rstrip("/")
    res = BatchResult(received=len(items))
    parsed = [parse(i, prefix=prefix, now=now) for i in items]
    # devices of the batch, in one read
    keys = {p.device_key for p in parsed if p.device_key != "?"}
    devices: dict[str, Device] = {}
    klist = list(keys)
    for i in range(0, len(klist), 500):
        for d in session.scalars(select(Device).where(Device.device_key.in_(klist[i:i + 500]))):
            devices[d.device_key] = d
    ctx = _Ctx(session)
    for p in parsed:
        if p.reason_code is not None:
            continue
        found = devices.get(p.device_key)
        if found is None:
            _reject(p, "unknown_device", f"设备“{p.device_key}”未登记")
            continue
        p.device = found
        dtype = ctx.types.get(found.type_id)
        if dtype is None or dtype.code != p.type_code:
            _reject(p, "type_mismatch", f"主题中的设备类型“{p.type_code}”与登记的不一致")
            continue
        why = validate((dtype.schemas or {}).get(p.kind), p.payload)
        if why:
            _reject(p, "schema", why)
    for p in parsed:
        if p.device is None and p.device_key in devices:
            p.device = devices[p.device_key]
    fresh = _record(session, _unique(parsed, res), res)
    res.recorded = len(fresh)
    res.rejected = sum(1 for p in fresh if p.reason_code)
    res.accepted = res.recorded - res.rejected
    good = [p for p in fresh if p.reason_code is None and p.device is not None]
    good.sort(key=lambda p: p.at)
    _liveness(session, ctx, good, now, res)
    live = [p for p in good if p.device is not None and p.device.status != DeviceStatus.disabled]
    ctx.load_states({(r.id, p.device.id) for p in live for r in ctx.rules.get(p.type_code or "", [])
                     if p.device is not None and r.window != Window.none})
    ctx.prefetch_alerts({alert_svc.group_key(r, p.device) for p in live
                         for r in ctx.rules.get(p.type_code or "", []) if p.device is not None})
    for p in live:
        _evaluate(ctx, p, res)
    session.flush()
    if ctx.new_alerts:
        res.cases = alert_svc.file_alert_cases(
            session, [(a, r, d) for a, r, d in ctx.new_alerts if r.raises_case and a.state == AlertState.open],
            now=now)
        alert_svc.notify_new(session, [a for a, r, _ in ctx.new_alerts if not r.raises_case
                                       and r.severity != "info"], title="物联感知告警")
    res.notes = alert_svc.note_cases(session, [a for a in ctx.touched.values() if a.state == AlertState.open],
                                     now=now)
    audit.record_many(session, ctx.audits)
    session.flush()
    res.new_alert_ids = [a.id for a, _, _ in ctx.new_alerts]
    res.seconds = time.perf_counter() - t0
    return res


def record_failed(session: Session, item: Incoming, *, error: str, prefix: str | None = None,
                  now: dt.datetime | None = None) -> BatchResult:
    """Keep one message that processing failed on again and again (a defect, not bad input) as rejected, with the
    error's name, and evaluate nothing: one poison message must not stop the ingest, and it is still accounted for
    (recorded with its reason, and acknowledged once that is committed). A message recorded before stays as it is."""
    now = now or utcnow()
    prefix = (prefix if prefix is not None else get_settings().mqtt_topic_prefix).rstrip("/")
    res = BatchResult(received=1)
    p = parse(item, prefix=prefix, now=now)
    if p.reason_code is None:
        _reject(p, "failed", f"{REASONS['failed']}（{error[:80]}）")
    if p.device_key != "?":
        p.device = session.scalar(select(Device).where(Device.device_key == p.device_key))
    fresh = _record(session, _unique([p], res), res)
    res.recorded = res.rejected = len(fresh)
    return res


def redacted(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The payload as stored: secret fields cut to their last four characters."""
    if not payload or not SECRET_FIELDS & payload.keys():
        return payload
    return {k: (f"…{str(v)[-4:]}" if k in SECRET_FIELDS and v is not None else v) for k, v in payload.items()}


def _unique(parsed: list[_Parsed], res: BatchResult) -> list[_Parsed]:
    """The batch without its repeats (the same device and message id twice)."""
    seen: set[tuple[str, str]] = set()
    uniq: list[_Parsed] = []
    for p in parsed:
        k = (p.device_key, p.mid)
        if k in seen:
            res.duplicates += 1
            continue
        seen.add(k)
        uniq.append(p)
    return uniq


def _record(session: Session, uniq: list[_Parsed], res: BatchResult) -> list[_Parsed]:
    """Insert the messages not recorded before and return them. Those already recorded (a redelivery) are found by
    one lookup of the batch's (device, message id) pairs in the unique index, then the rest is written with one
    executemany INSERT; a message another ingest process recorded meanwhile makes the unique constraint fail the
    batch, which is rolled back and retried (then found by the lookup)."""
    from zhili.core.ids import new_id

    if not uniq:
        return []
    have: set[tuple[str, str]] = set()
    if session.get_bind().dialect.name == "postgresql":  # two array parameters: one plan, whatever the batch size
        got = session.execute(text(
            "SELECT m.device_key, m.message_id FROM iot_message m JOIN unnest(CAST(:k AS text[]), CAST(:m AS text[]))"
            " AS t(k, m) ON m.device_key = t.k AND m.message_id = t.m"),
            {"k": [p.device_key for p in uniq], "m": [p.mid for p in uniq]})
        have.update((r[0], r[1]) for r in got)
    else:
        for i in range(0, len(uniq), 400):
            pairs = [(p.device_key, p.mid) for p in uniq[i:i + 400]]
            have.update(session.execute(select(Message.device_key, Message.message_id).where(
                tuple_(Message.device_key, Message.message_id).in_(pairs))).all())
    fresh = [p for p in uniq if (p.device_key, p.mid) not in have]
    res.duplicates += len(uniq) - len(fresh)
    rows = []
    for p in fresh:
        p.row_id = new_id()
        rows.append({"id": p.row_id, "device_id": p.device.id if p.device is not None else None,
                     "device_key": p.device_key, "message_id": p.mid, "topic": p.item.topic[:255],
                     "kind": p.kind, "payload": redacted(p.payload), "raw": p.raw, "sent_at": p.sent_at,
                     "received_at": p.at,
                     "accepted": p.reason_code is None, "reason": p.reason, "reason_code": p.reason_code})
    if rows:
        table: Table = Message.__table__  # type: ignore[assignment]
        session.connection().execute(insert(table), rows)
    return fresh


def _liveness(session: Session, ctx: _Ctx, good: list[_Parsed], now: dt.datetime, res: BatchResult) -> None:
    """Last seen (one executemany UPDATE, past the ORM: a heartbeat is no edit of the device and must not bump its
    version), and offline devices back online with their offline alert closed."""
    back: list[Device] = []
    seen: dict[uuid.UUID, dt.datetime] = {}
    for p in good:
        d = p.device
        assert d is not None
        if d.id not in seen or seen[d.id] < p.at:
            seen[d.id] = p.at
        if d.status == DeviceStatus.offline and d not in back:
            d.status = DeviceStatus.active
            back.append(d)
    if seen:
        table: Table = Device.__table__  # type: ignore[assignment]
        stmt = (update(table).where(table.c.id == bindparam("b_id"))
                .where((table.c.last_seen_at.is_(None)) | (table.c.last_seen_at < bindparam("b_at")))
                .values(last_seen_at=bindparam("b_at")))
        session.connection().execute(stmt, [{"b_id": k, "b_at": v} for k, v in seen.items()])
    if back:
        keys = [alert_svc.group_key(None, d, "offline") for d in back]
        got = alert_svc.open_alerts(session, keys)
        alert_svc.close(session, list(got.values()), reason="设备恢复上线", now=now)
        res.alerts_closed += len(got)


def _context(ctx: _Ctx, p: _Parsed) -> dict[str, Any]:
    d = p.device
    assert d is not None and p.payload is not None
    env: dict[str, Any] = {"kind": p.kind, "device_type": p.type_code, "device_id": d.device_key,
                           "device_name": d.name, "has_room": d.room_id is not None,
                           "ts": p.sent_at.timestamp() if p.sent_at else None}
    if p.type_code == "door_lock" and p.kind == "events" and d.room_id is not None:
        env.update(_lock_verdict(ctx.session, p))
    return {**env, **p.payload}


def _lock_verdict(session: Session, p: _Parsed) -> dict[str, Any]:
    """The rental register's word on a lock event at a room (it records the event and raises its own warning)."""
    from zhili.rental.locks import on_lock_event

    d = p.device
    assert d is not None and d.room_id is not None and p.payload is not None
    cred = p.payload.get("credential")
    v = on_lock_event(session, room_id=d.room_id, event=str(p.payload.get("event") or ""),
                      credential=str(cred) if cred is not None else None, at=p.at, device_id=d.id,
                      message_key=f"{d.device_key}:{p.mid}")
    return {"credential_known": v.credential_known, "holder_kind": v.holder_kind, "stay_active": v.stay_active,
            "unknown_recent": v.unknown_recent}


def _evaluate(ctx: _Ctx, p: _Parsed, res: BatchResult) -> None:
    rules = [r for r in ctx.rules.get(p.type_code or "", [])
             if (r.kind == p.kind) or (r.kind is None and p.kind in ("events", "telemetry"))]
    if not rules and not (p.type_code == "door_lock" and p.kind == "events"):
        return
    env = _context(ctx, p)
    d = p.device
    assert d is not None
    for r in rules:
        try:
            hit = rule_svc.compiled(r).test(env)
        except ValidationFailed:
            hit = False  # a condition that cannot be evaluated on this payload does not hold
        if r.window == Window.none:
            fire = hit
        elif r.window == Window.counted:
            fire = _count(ctx.state(r, d), r, p.at, hit)
        else:
            fire = _duration(ctx.state(r, d), r, p.at, hit)
        if fire:
            _fire(ctx, r, d, p, res)
        elif not hit and r.close_on_recovery:
            _recover(ctx, r, d, p, res)


def _count(s: RuleState, r: Rule, at: dt.datetime, hit: bool) -> bool:
    if not hit:
        return False
    start = at - dt.timedelta(seconds=r.window_s or 0)
    kept = [h for h in (s.hits or []) if _iso(h) is not None and _iso(h) > start]  # type: ignore[operator]
    kept.append(at.isoformat())
    n = r.window_count or 1
    s.hits = kept[-n:]
    s.updated_at = at
    return len(kept) >= n


def _duration(s: RuleState, r: Rule, at: dt.datetime, hit: bool) -> bool:
    s.updated_at = at
    if not hit:
        s.true_since = None
        return False
    if s.true_since is None or s.true_since > at:
        s.true_since = at
    return (at - s.true_since).total_seconds() >= (r.window_s or 0)


def _iso(v: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _fire(ctx: _Ctx, r: Rule, d: Device, p: _Parsed, res: BatchResult) -> None:
    key = alert_svc.group_key(r, d)
    a = ctx.alert(key)
    devices = {d.device_key: d.name}
    if a is not None:
        a.count += 1
        if p.at > a.last_at:
            a.last_at = p.at
        a.last_message_id = p.row_id
        a.detail = {**a.detail, "payload": _small(p.payload), "devices": {**a.detail.get("devices", {}), **devices}}
        ctx.touched[a.id] = a
        res.alerts_counted += 1
        return
    a = Alert(rule_id=r.id, kind="rule", device_id=d.id, group_key=key, unit_id=d.unit_id, path=d.path,
              severity=r.severity, title=r.name[:200], state=AlertState.open, count=1, first_at=p.at,
              last_at=p.at, last_message_id=p.row_id, noted_count=1,
              detail={"payload": _small(p.payload), "devices": devices, "device_name": d.name,
                      "address": d.address, "building_id": str(d.building_id) if d.building_id else None})
    ctx.session.add(a)
    ctx.alerts[key] = a
    ctx.new_alerts.append((a, r, d))
    res.alerts_opened += 1
    ctx.audits.append(audit.Entry(actor=audit.SYSTEM, action="iot.alert_open", object_type="iot_alert",
                                  object_id=a.id, after={"rule": r.code or str(r.id), "device": d.device_key}))


def _recover(ctx: _Ctx, r: Rule, d: Device, p: _Parsed, res: BatchResult) -> None:
    key = alert_svc.group_key(r, d)
    a = ctx.alert(key)
    if a is None or a.state != AlertState.open:
        return
    left = {k: v for k, v in a.detail.get("devices", {}).items() if k != d.device_key}
    if left:  # a building's alert stays open while another of its devices still alarms
        a.detail = {**a.detail, "devices": left}
        return
    a.state, a.closed_at, a.close_reason = AlertState.closed, p.at, "设备数据恢复正常"
    ctx.alerts[key] = None
    ctx.closed.append(a)
    res.alerts_closed += 1
    ctx.audits.append(audit.Entry(actor=audit.SYSTEM, action="iot.alert_close", object_type="iot_alert",
                                  object_id=a.id, after={"reason": "设备数据恢复正常", "count": a.count}))


def _small(payload: dict[str, Any] | None) -> dict[str, Any]:
    """A payload as an alert keeps it: at most 20 scalar fields."""
    out: dict[str, Any] = {}
    for k, v in (redacted(payload) or {}).items():
        if len(out) >= 20:
            break
        if isinstance(v, str):
            out[str(k)[:64]] = v[:200]
        elif isinstance(v, int | float | bool) or v is None:
            out[str(k)[:64]] = v
    return out
