"""Change events of golden records (变更事件) and their delivery to subscribers (订阅): "a change in one place
updates every place".

:func:`publish` writes a :class:`~zhili.datahub.models.ChangeEvent` in the transaction that changed the golden
record (the outbox row: ``key`` is the idempotency key, ``fields`` the changed field *names*, never values) and one
pending :class:`~zhili.datahub.models.Delivery` per matching subscription (entity type, and the subscription's area
containing the record). Nothing is sent inside that transaction: its change ids go to the session's outbox list
and, when it commits, to the process's :class:`HubOutbox` — the notification outbox of :mod:`zhili.cases.notify`
(same thread, queue and after-commit hook pattern) with the delivery step replaced. A rolled-back transaction
sends nothing.

Delivery (:func:`deliver_changes`): in-app — one :class:`~zhili.cases.models.Notification` per active user of the
subscribing department (or the department's shared inbox when it has no users); webhook — a POST of
``{key, entity_type, golden_id, kind, fields, at}`` signed with HMAC-SHA256 (header ``X-Zhili-Signature:
sha256=<hex>``, the secret shown to ``hub:admin`` on the subscription page). A failed try is retried with
exponential back-off (:data:`BACKOFF` × 2^attempts); after :data:`MAX_ATTEMPTS` the delivery is ``failed`` (dead
letter, visible on the page and by :func:`list_deliveries`). :func:`redeliver_due` (the sweep, the CLI) queues the
deliveries whose next try is due. At least once: a subscriber deduplicates on ``key`` (also the header
``X-Zhili-Event``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, event, select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.models import Notification
from zhili.core import audit
from zhili.core.bulk import BulkWriter
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, not_found, scoped
from zhili.core.security import Perm
from zhili.datahub.models import (
    ChangeEvent,
    Delivery,
    DeliveryStatus,
    EntityType,
    GoldenRecord,
    Subscription,
)
from zhili.users.models import User

log = logging.getLogger("zhili.datahub.changes")

KINDS = ("created", "updated", "merged", "unmerged")
SUBSCRIPTION_KINDS = {"in_app": "站内通知", "webhook": "Webhook 推送"}
MAX_ATTEMPTS = 6
BACKOFF = dt.timedelta(seconds=30)
SIGNATURE_HEADER = "X-Zhili-Signature"
EVENT_HEADER = "X-Zhili-Event"
_OUTBOX = "zhili_hub_outbox"  # session.info key: change ids this transaction will deliver once it commits
_SUBS = "zhili_hub_subscriptions"  # session.info cache of the active subscriptions during one transaction


# -- publishing (inside the writing transaction) --------------------------------------------------------------

def _subscriptions(session: Session) -> list[Subscription]:
    subs = session.info.get(_SUBS)
    if subs is None:
        subs = list(session.scalars(select(Subscription).where(Subscription.active.is_(True))))
        session.info[_SUBS] = subs
    return cast(list[Subscription], subs)


def _matches(sub: Subscription, entity: str, path: str) -> bool:
    return (not sub.entity_types or entity in sub.entity_types) and (
        path == sub.path or path.startswith(sub.path + "/"))


def publish(session: Session, golden: GoldenRecord, kind: str, fields: Sequence[str], *,
            source_id: uuid.UUID | None = None, import_id: uuid.UUID | None = None) -> None:
    """Write the change event of a golden record (its ``version`` already advanced) and its pending deliveries;
    they are sent after the commit."""
    session.flush()
    publish_many(session, [(golden.id, golden.entity_type, golden.register_id, golden.path, golden.version, kind,
                            list(fields))], source_id=source_id, import_id=import_id)


# (golden id, entity type, register id, path, version, kind, changed field names)
Change = tuple[uuid.UUID, Any, uuid.UUID | None, str, int, str, list[str]]


def publish_many(session: Session, items: Sequence[Change], *, source_id: uuid.UUID | None = None,
                 import_id: uuid.UUID | None = None, writer: BulkWriter | None = None) -> list[uuid.UUID]:
    """The change events of many golden records (each version already advanced) and their pending deliveries,
    inserted column-wise (an import publishes one per record it touches). The golden records must already be
    in the database. Returns the event ids."""
    if not items:
        return []
    w = writer or BulkWriter(session.connection())
    subs = _subscriptions(session)
    at = utcnow()
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    outbox: list[uuid.UUID] = []
    for gid, entity, register_id, path, version, kind, fields in items:
        assert kind in KINDS
        entity = EntityType(entity)
        ev_id = new_id()
        matching = [sub for sub in subs if _matches(sub, entity.value, path)] if subs else []
        events.append({"id": ev_id, "key": f"{gid.hex}.{version}.{kind}", "entity_type": entity,
                       "golden_id": gid, "register_id": register_id, "path": path, "kind": kind,
                       "fields": list(fields), "source_id": source_id, "import_id": import_id,
                       "delivered": not matching, "at": at})
        deliveries.extend({"id": new_id(), "change_id": ev_id, "subscription_id": sub.id,
                           "status": DeliveryStatus.pending, "attempts": 0, "last_error": None,
                           "next_try_at": at, "delivered_at": None} for sub in matching)
        if matching:
            outbox.append(ev_id)
    w.insert(ChangeEvent.__table__, events)
    w.insert(Delivery.__table__, deliveries)
    if outbox:
        session.info.setdefault(_OUTBOX, []).extend(outbox)
    return [e["id"] for e in events]


def _final(session: Session) -> bool:
    """Whether this commit made the changes durable: not when the session is bound to a connection whose own
    (outer) transaction is still open — its commit was a savepoint's release, and the outer transaction may still
    roll back (those events are left to :func:`redeliver_due` once really committed)."""
    bind = session.bind
    return not (isinstance(bind, Connection) and bind.in_transaction())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_SUBS, None)
    ids = session.info.pop(_OUTBOX, None)
    if ids and (_dispatch is not None or _final(session)):
        dispatcher()(list(ids))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_SUBS, None)
    session.info.pop(_OUTBOX, None)


# -- the outbox thread ----------------------------------------------------------------------------------------

class HubOutbox(notify.Outbox):
    """The notification outbox's thread and queue, delivering committed change events instead."""

    def _deliver(self, batch: list[Any]) -> None:
        from sqlalchemy.orm import sessionmaker

        from zhili.core.db import get_engine, unit_of_work, write_guard

        engine = self.engine if self.engine is not None else get_engine()
        with write_guard(engine), unit_of_work(sessionmaker(bind=engine)) as session:
            deliver_changes(session, [uuid.UUID(str(i)) for i in batch])
        self.delivered += len(batch)


_outbox: HubOutbox | None = None
_dispatch: Callable[[list[uuid.UUID]], None] | None = None


def hub_outbox() -> HubOutbox:
    """The process's change-event outbox (created on first use)."""
    global _outbox
    if _outbox is None:
        _outbox = HubOutbox()
    return _outbox


def set_hub_outbox(box: HubOutbox | None) -> None:
    """Replace the process's change-event outbox (tests with a database of their own); the old one stops."""
    global _outbox
    old, _outbox = _outbox, box
    if old is not None:
        old.stop()


def dispatcher() -> Callable[[list[uuid.UUID]], None]:
    """What receives the ids of committed change events: the outbox thread unless replaced."""
    return _dispatch or (lambda ids: hub_outbox().submit(cast(Any, ids)))


def set_dispatcher(fn: Callable[[list[uuid.UUID]], None] | None) -> None:
    """Replace the after-commit receiver (tests: record the ids, deliver synchronously)."""
    global _dispatch
    _dispatch = fn


# -- transports -----------------------------------------------------------------------------------------------

@dataclass
class WebhookResult:
    ok: bool
    error: str | None = None


Transport = Callable[[str, bytes, dict[str, str]], WebhookResult]


def http_transport(url: str, body: bytes, headers: dict[str, str]) -> WebhookResult:
    """POST over HTTP (httpx, 5 s timeout); a 2xx answer is delivered."""
    import httpx

    try:
        r = httpx.post(url, content=body, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        return WebhookResult(False, type(exc).__name__)
    return WebhookResult(200 <= r.status_code < 300, None if r.is_success else f"HTTP {r.status_code}")


@dataclass
class FakeWebhook:
    """A webhook receiver for tests: records every call; fails the first ``fail_first`` calls."""

    fail_first: int = 0
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> WebhookResult:
        self.calls.append((url, json.loads(body), headers))
        if len(self.calls) <= self.fail_first:
            return WebhookResult(False, "HTTP 503")
        return WebhookResult(True)


_transport: Transport | None = None


def set_transport(t: Transport | None) -> None:
    """Replace the webhook transport (tests: a :class:`FakeWebhook`)."""
    global _transport
    _transport = t


def webhook_secret(sub: Subscription) -> str:
    """The subscription's signing secret (a keyed derivation: nothing stored, the same in every process)."""
    return get_cipher().blind_index(str(sub.id), purpose="hub.webhook.secret").lower()


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``: the signature header's value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(ev: ChangeEvent) -> dict[str, Any]:
    """What a subscriber receives: names and ids, never values."""
    at = ev.at if ev.at.tzinfo else ev.at.replace(tzinfo=dt.UTC)
    return {"key": ev.key, "entity_type": EntityType(ev.entity_type).value, "golden_id": str(ev.golden_id),
            "kind": ev.kind, "fields": list(ev.fields or []), "at": at.isoformat()}


# -- delivering (after the commit) ----------------------------------------------------------------------------

_ENTITY_ZH = {"person": "人员", "organisation": "组织", "building": "楼栋"}
_KIND_ZH = {"created": "新增", "updated": "更新", "merged": "合并", "unmerged": "撤销合并"}


def _in_app(session: Session, sub: Subscription, ev: ChangeEvent) -> None:
    title = f"主数据{_KIND_ZH.get(ev.kind, ev.kind)}：{_ENTITY_ZH.get(ev.entity_type, '记录')}"
    body = f"订阅“{sub.name}”：主数据记录发生{_KIND_ZH.get(ev.kind, ev.kind)}，涉及{len(ev.fields or [])}个字段。"
    users = list(session.scalars(select(User.id).where(User.department == sub.department,
                                                       User.is_active.is_(True)))) if sub.department else []
    if users:
        session.add_all(Notification(user_id=u, kind="hub_change", title=title, body=body,
                                     channels={"inbox": "stored"}) for u in users)
    else:
        session.add(Notification(recipient=(sub.department or "command_centre")[:32], kind="hub_change",
                                 title=title, body=body, channels={"inbox": "stored"}))


def deliver_changes(session: Session, change_ids: Sequence[uuid.UUID], *, now: dt.datetime | None = None) -> int:
    """Try the due pending deliveries of these change events; record each try. The number delivered."""
    now = now or utcnow()
    rows = session.execute(
        select(Delivery, Subscription, ChangeEvent)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(ChangeEvent, ChangeEvent.id == Delivery.change_id)
        .where(Delivery.change_id.in_(list(change_ids)), Delivery.status == DeliveryStatus.pending)).all()
    transport = _transport or http_transport
    done = 0
    for d, sub, ev in rows:
        due = d.next_try_at
        if due is not None and (due if due.tzinfo else due.replace(tzinfo=dt.UTC)) > now:
            continue
        d.attempts += 1
        try:
            if sub.kind == "in_app":
                _in_app(session, sub, ev)
                ok, err = True, None
            else:
                body = json.dumps(payload(ev), ensure_ascii=False, sort_keys=True).encode()
                res = transport(sub.url or "", body, {"content-type": "application/json",
                                                      SIGNATURE_HEADER: sign(webhook_secret(sub), body),
                                                      EVENT_HEADER: ev.key})
                ok, err = res.ok, res.error
        except Exception as exc:  # noqa: BLE001 - a broken subscriber never stops the others
            log.warning("hub delivery failed: %s", type(exc).__name__)
            ok, err = False, type(exc).__name__
        if ok:
            d.status, d.delivered_at, d.last_error, d.next_try_at = DeliveryStatus.delivered, now, None, None
            done += 1
        else:
            d.last_error = (err or "失败")[:500]
            if d.attempts >= MAX_ATTEMPTS:
                d.status, d.next_try_at = DeliveryStatus.failed, None
            else:
                d.next_try_at = now + BACKOFF * (2 ** (d.attempts - 1))
    session.flush()
    for ev_id in {ev.id for _, _, ev in rows}:
        left = session.scalar(select(Delivery.id).where(Delivery.change_id == ev_id,
                                                        Delivery.status == DeliveryStatus.pending).limit(1))
        if left is None:
            ev_row = session.get(ChangeEvent, ev_id)
            if ev_row is not None:
                ev_row.delivered = True
    session.flush()
    return done


def redeliver_due(session: Session, *, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Queue the change events with a pending delivery whose next try is due (after a crash, or a back-off):
    they are delivered after this transaction commits. The number of events queued."""
    now = now or utcnow()
    ids = list(session.scalars(select(Delivery.change_id).where(
        Delivery.status == DeliveryStatus.pending, Delivery.next_try_at <= now).distinct().limit(limit)))
    if ids:
        session.info.setdefault(_OUTBOX, []).extend(ids)
    return len(ids)


# -- subscriptions (hub:admin) ----------------------------------------------------------------------------------

_SUB_FIELDS = ("name", "department", "kind", "url", "entity_types", "active")


def _sub_view(sub: Subscription) -> dict[str, Any]:
    return {k: getattr(sub, k) for k in ("id", "name", "department", "kind", "url", "entity_types", "path",
                                           "active")}


def _check(data: dict[str, Any]) -> None:
    if "kind" in data and data["kind"] not in SUBSCRIPTION_KINDS:
        raise ValidationFailed("订阅方式只能是站内通知或 Webhook", code="hub_subscription_kind")
    if data.get("kind") == "webhook" and not str(data.get("url") or "").startswith(("http://", "https://")):
        raise ValidationFailed("Webhook 订阅须填写以 http:// 或 https:// 开头的地址", code="hub_subscription_url")
    for e in data.get("entity_types") or []:
        if e not in EntityType.__members__:
            raise ValidationFailed("未知的实体类型", code="hub_subscription_entity")
    if "name" in data and not str(data["name"] or "").strip():
        raise ValidationFailed("请填写订阅名称", code="hub_subscription_name")


def create_subscription(session: Session, *, principal: Principal, data: dict[str, Any]) -> Subscription:
    """A department subscribes to golden-record changes of an area (``unit_id``, default the caller's first
    area) in-app or by webhook. ``hub:admin``; audited."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以管理订阅", code="hub_admin_only")
    _check({"kind": "in_app", **data})
    from zhili.regions.service import get_unit

    if data.get("unit_id"):
        path = get_unit(session, principal=principal, unit_id=data["unit_id"]).path
    elif principal.scope_paths:
        path = principal.scope_paths[0]
    else:
        raise ValidationFailed("请选择订阅的区域", code="hub_subscription_area")
    ensure_in_scope(principal, path, "区域")
    sub = Subscription(id=new_id(), path=path, created_by=principal.username,
                       **{k: data[k] for k in _SUB_FIELDS if k in data and data[k] is not None})
    sub.kind = sub.kind or "in_app"
    sub.entity_types = list(sub.entity_types or [])
    session.add(sub)
    session.flush()
    session.info.pop(_SUBS, None)
    audit.record(session, actor=principal.actor, action="hub.subscription.create", object_type="hub_subscription",
                 object_id=sub.id, after=_sub_view(sub))
    return sub


def list_subscriptions(session: Session, *, principal: Principal) -> list[Subscription]:
    """Subscriptions of the caller's area."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以管理订阅", code="hub_admin_only")
    return list(session.scalars(scoped(select(Subscription), principal, Subscription.path)
                                .order_by(Subscription.created_at)))


def get_subscription(session: Session, *, principal: Principal, subscription_id: uuid.UUID) -> Subscription:
    """One subscription of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以管理订阅", code="hub_admin_only")
    sub = session.get(Subscription, subscription_id)
    if sub is None or not in_scope(principal, sub.path):
        raise not_found("订阅")
    return sub


_SUB_REQUIRED = frozenset({"name", "kind", "entity_types", "active"})


def update_subscription(session: Session, *, principal: Principal, subscription_id: uuid.UUID,
                        changes: dict[str, Any]) -> Subscription:
    """Change a subscription (name, department, kind, url, entity types, active). Audited."""
    sub = get_subscription(session, principal=principal, subscription_id=subscription_id)
    before = _sub_view(sub)
    _check({"kind": sub.kind, "url": sub.url, **changes})
    for k, v in changes.items():
        if k not in _SUB_FIELDS:
            raise ValidationFailed("该字段不能修改", code="hub_subscription_field")
        if v is None and k in _SUB_REQUIRED:  # an explicit null in a PATCH clears nothing that must have a value
            raise ValidationFailed("名称、类型、订阅对象和启用状态不能为空", code="hub_subscription_required",
                                   details={"field": k})
        setattr(sub, k, v)
    session.flush()
    session.info.pop(_SUBS, None)
    audit.record(session, actor=principal.actor, action="hub.subscription.update", object_type="hub_subscription",
                 object_id=sub.id, before=before, after=_sub_view(sub))
    return sub


def delete_subscription(session: Session, *, principal: Principal, subscription_id: uuid.UUID) -> None:
    """Remove a subscription (its delivery history goes with it). Audited."""
    sub = get_subscription(session, principal=principal, subscription_id=subscription_id)
    before = _sub_view(sub)
    session.delete(sub)
    session.flush()
    session.info.pop(_SUBS, None)
    audit.record(session, actor=principal.actor, action="hub.subscription.delete", object_type="hub_subscription",
                 object_id=subscription_id, before=before)


def list_deliveries(session: Session, *, principal: Principal, subscription_id: uuid.UUID,
                    status: DeliveryStatus | None = None, limit: int = 100) -> list[tuple[Delivery, ChangeEvent]]:
    """The latest deliveries of a subscription with their events (dead letters: ``status=failed``)."""
    sub = get_subscription(session, principal=principal, subscription_id=subscription_id)
    stmt = (select(Delivery, ChangeEvent).join(ChangeEvent, ChangeEvent.id == Delivery.change_id)
            .where(Delivery.subscription_id == sub.id).order_by(ChangeEvent.at.desc()).limit(limit))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return [(d, e) for d, e in session.execute(stmt).all()]
