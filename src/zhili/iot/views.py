"""Devices, messages and alerts as the API and the pages show them: every code beside its Chinese name (type,
status, unit, kind, severity, state), read in one query per kind of name for a whole list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.iot.alerts import KIND_NAMES, STATE_NAMES
from zhili.iot.devices import STATUS_NAMES
from zhili.iot.models import Alert, Device, DeviceType, Message
from zhili.iot.rules import SEVERITY_NAMES
from zhili.iot.types import KIND_NAMES as MESSAGE_KIND_NAMES
from zhili.regions.picker import units_named


def device_views(session: Session, devices: Sequence[Device]) -> list[dict[str, Any]]:
    types = {t.id: t for t in session.scalars(select(DeviceType))}
    units = {u.id: u.name for u in units_named(session, ids=[d.unit_id for d in devices])}
    out = []
    for d in devices:
        t = types.get(d.type_id)
        out.append({"id": d.id, "device_key": d.device_key, "type_code": t.code if t else "",
                    "type_name": t.name if t else "", "name": d.name, "unit_id": d.unit_id,
                    "unit_name": units.get(d.unit_id, ""), "lon": d.lon, "lat": d.lat, "address": d.address,
                    "building_id": d.building_id, "room_id": d.room_id, "owner": d.owner, "status": d.status.value,
                    "status_label": STATUS_NAMES.get(d.status, d.status.value),
                    "heartbeat_s": d.heartbeat_s or (t.heartbeat_s if t else 0), "last_seen_at": d.last_seen_at,
                    "installed_at": d.installed_at, "note": d.note, "version": d.version})
    return out


def message_views(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [{"id": m.id, "device_key": m.device_key, "message_id": m.message_id, "topic": m.topic, "kind": m.kind,
             "kind_label": MESSAGE_KIND_NAMES.get(m.kind, "未知"), "payload": m.payload, "raw": m.raw,
             "sent_at": m.sent_at, "received_at": m.received_at, "accepted": m.accepted, "reason": m.reason,
             "reason_code": m.reason_code} for m in messages]


def alert_views(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    return [{"id": a.id, "kind": a.kind, "kind_label": KIND_NAMES.get(a.kind, "告警"), "rule_id": a.rule_id,
             "device_id": a.device_id, "title": a.title, "severity": a.severity.value,
             "severity_label": SEVERITY_NAMES.get(a.severity, ""), "state": a.state.value,
             "state_label": STATE_NAMES.get(a.state, ""), "count": a.count, "first_at": a.first_at,
             "last_at": a.last_at, "case_id": a.case_id, "closed_at": a.closed_at, "close_reason": a.close_reason,
             "detail": a.detail} for a in alerts]
