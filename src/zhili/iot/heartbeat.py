"""The heartbeat sweep: devices gone silent become offline (an alert and a message to their unit's inbox), quiet
alerts close, old messages are purged.

:func:`check_heartbeats` marks a device offline when nothing arrived from it for ``iot_offline_factor`` (2) ×
its heartbeat interval (the device's own, else its type's); a message from it later brings it back and closes the
offline alert (:mod:`zhili.iot.engine`). :func:`sweep` runs that, closes rule alerts quiet for their rule's
``quiet_close_s``, and deletes accepted messages older than ``iot_message_retention_days``. It runs in the
ingest process and in the server's sweeper, each time behind the lease row ``iot_sweep``
(:func:`zhili.cases.sweep.take_lease`), so several processes run it once between them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from zhili.cases.models import JobLock
from zhili.cases.sweep import take_lease
from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.settings import get_settings
from zhili.iot import alerts as alert_svc
from zhili.iot.models import Alert, AlertState, Device, DeviceStatus, DeviceType, Message, Rule, Severity

log = logging.getLogger(__name__)

LEASE = "iot_sweep"


@dataclass
class SweepReport:
    offline: int = 0
    quiet_closed: int = 0
    purged: int = 0
    notified: int = 0


def check_heartbeats(session: Session, now: dt.datetime | None = None) -> tuple[int, int]:
    """Mark silent devices offline, each with an offline alert, and tell their units' inboxes; (devices, inboxes).
    A device never heard from counts from its installation."""
    now = now or utcnow()
    factor = get_settings().iot_offline_factor
    types = dict(session.execute(select(DeviceType.id, DeviceType.heartbeat_s)).all())
    silent: list[Device] = []
    seen = func.coalesce(Device.last_seen_at, Device.installed_at, Device.created_at)
    # one range query per heartbeat interval in use (the types' and the devices' own)
    own = set(session.scalars(select(Device.heartbeat_s).where(Device.heartbeat_s.is_not(None)).distinct()))
    for tid, hb in types.items():
        cut = now - dt.timedelta(seconds=hb * factor)
        silent.extend(session.scalars(select(Device).where(
            Device.status == DeviceStatus.active, Device.type_id == tid, Device.heartbeat_s.is_(None), seen < cut)))
    for hb in (h for h in own if h):
        cut = now - dt.timedelta(seconds=hb * factor)
        silent.extend(session.scalars(select(Device).where(
            Device.status == DeviceStatus.active, Device.heartbeat_s == hb, seen < cut)))
    if not silent:
        return 0, 0
    keys = [alert_svc.group_key(None, d, "offline") for d in silent]
    have = alert_svc.open_alerts(session, keys)
    new: list[Alert] = []
    entries = []
    for d, key in zip(silent, keys, strict=True):
        d.status = DeviceStatus.offline
        if key in have:
            continue
        hb = d.heartbeat_s or types.get(d.type_id, 300)
        last = d.last_seen_at
        a = Alert(kind="offline", device_id=d.id, group_key=key, unit_id=d.unit_id, path=d.path,
                  severity=Severity.warning, title=f"设备离线：{d.name}"[:200], state=AlertState.open, count=1,
                  first_at=now, last_at=now,
                  detail={"device_name": d.name, "address": d.address, "heartbeat_s": hb,
                          "last_seen_at": last.isoformat() if last else None})
        session.add(a)
        new.append(a)
        entries.append(audit.Entry(actor=audit.SYSTEM, action="iot.device_offline", object_type="iot_device",
                                   object_id=d.id, after={"device": d.device_key}))
    session.flush()
    audit.record_many(session, entries)
    inboxes = alert_svc.notify_new(session, new, title="设备离线")
    return len(silent), inboxes


def close_quiet(session: Session, now: dt.datetime | None = None) -> int:
    """Close open rule alerts that had no hit for their rule's ``quiet_close_s``."""
    now = now or utcnow()
    out: list[Alert] = []
    for rule_id, quiet in session.execute(select(Rule.id, Rule.quiet_close_s)
                                          .where(Rule.quiet_close_s.is_not(None))):
        cut = now - dt.timedelta(seconds=quiet or 0)
        out.extend(session.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.state == AlertState.open,
                                                       Alert.last_at < cut)))
    if out:
        alert_svc.note_cases(session, out, now=now, force=True)
        alert_svc.close(session, out, reason="一段时间内无新告警，自动关闭", now=now)
    return len(out)


def purge_messages(session: Session, now: dt.datetime | None = None, *, batch: int = 5_000,
                   budget_s: float = 5.0) -> int:
    """Delete messages past the retention (accepted and rejected alike), oldest first, in batches of ``batch`` for
    at most ``budget_s`` seconds a sweep — a district recording thousands a second keeps up, and no sweep holds
    the write lock for long."""
    days = get_settings().iot_message_retention_days
    if days <= 0:
        return 0
    cut = (now or utcnow()) - dt.timedelta(days=days)
    done = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < budget_s:
        ids = list(session.scalars(select(Message.id).where(Message.received_at < cut)
                                   .order_by(Message.received_at).limit(batch)))
        if not ids:
            break
        session.execute(delete(Message).where(Message.id.in_(ids)))
        done += len(ids)
        if len(ids) < batch:
            break
    return done


def sweep(session: Session, now: dt.datetime | None = None) -> SweepReport:
    """One pass of everything above (the caller holds the lease)."""
    now = now or utcnow()
    r = SweepReport()
    r.offline, r.notified = check_heartbeats(session, now)
    r.quiet_closed = close_quiet(session, now)
    r.purged = purge_messages(session, now)
    session.flush()
    return r


def run_due(session_factory: Callable[[], Any], *, holder: str, now: dt.datetime | None = None) -> bool:
    """Run the sweep if it is due and this process gets the lease (each step its own transaction); True if it ran.
    ``session_factory()``: a context manager committing on exit (:func:`zhili.core.db.session_scope`)."""
    every = get_settings().iot_sweep_interval_s
    if every <= 0:
        return False
    at = now or utcnow()
    with session_factory() as session:
        if take_lease(session, LEASE, holder=holder, every_s=every, now=at, hold_s=300) is None:
            return False
    try:
        with session_factory() as session:
            rep = sweep(session, at)
        if rep.offline or rep.quiet_closed or rep.purged:
            log.info("iot sweep: %s offline, %s quiet alerts closed, %s messages purged", rep.offline,
                     rep.quiet_closed, rep.purged)
    finally:
        with session_factory() as session:
            lock = session.get(JobLock, LEASE)
            if lock is not None:
                lock.last_run_at, lock.until = at, None
    return True
