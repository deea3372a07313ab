"""Check-ins and check-outs pushed to the police registration interface (治安/流动人口登记), durably.

The adapter is a typed interface, :class:`PoliceGateway` (``send(record) -> PoliceResult``), with two
implementations: :class:`WebhookPoliceGateway` — an HTTP POST of the record as JSON, signed with HMAC-SHA256 under
``ZHILI_POLICE_SECRET`` (headers ``X-Zhili-Signature: sha256=<hex>``, ``X-Zhili-Event: <idempotency key>``,
``X-Zhili-Timestamp``) to ``ZHILI_POLICE_URL`` within ``ZHILI_POLICE_TIMEOUT_S`` — and :class:`RecordingPoliceGateway`,
a fake that records every record and can be told to fail the next N sends (tests, demos). A district whose police
system speaks another protocol writes a third class with the same ``send`` and passes it to :func:`set_gateway`.

Durability follows :mod:`zhili.datahub.changes`: :func:`queue` writes a :class:`~zhili.rental.models.PoliceDelivery`
row in the check-in/check-out transaction (its ``idempotency_key`` — ``<stay id>.<kind>`` — is what the police side
de-duplicates on: at least once, never lost); nothing is sent inside that transaction. When it commits, the row ids
go to the process's outbox thread (the notification outbox of :mod:`zhili.cases.notify` with the delivery step
replaced), which sends them and records the try. A failed try is retried with exponential back-off
(:data:`BACKOFF` × 2^(attempts−1)); after :data:`MAX_ATTEMPTS` the row is ``dead`` — on the dead-letter list
(:func:`list_deliveries` with ``state=dead``, ``zhili rental deliveries --dead``) until staff :func:`redeliver` it.
:func:`redeliver_due` (the server's sweep thread, ``zhili rental deliver``) queues the rows whose next try is due —
after a back-off, or after a process stopped before sending. The stay shows the state of its deliveries
(``police_state``: dead if one is dead, else pending if one is, else delivered).

The record is built when it is sent, from the stay and the register (so the outbox row holds no personal data);
``last_error`` holds status codes and exception names only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Connection, event, select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.core import audit, clock
from zhili.core.crypto import get_cipher
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, scoped
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.regions.models import Unit
from zhili.registry.models import Building, Household, Person
from zhili.rental.common import DELIVERY, aware
from zhili.rental.models import DeliveryKind, DeliveryState, PoliceDelivery, Room, Stay

log = logging.getLogger("zhili.rental.police")

MAX_ATTEMPTS = 6
BACKOFF = dt.timedelta(seconds=30)
SIGNATURE_HEADER = "X-Zhili-Signature"
EVENT_HEADER = "X-Zhili-Event"
TIMESTAMP_HEADER = "X-Zhili-Timestamp"
SCHEMA = "zhili.rental.police/1"
STATES = {"pending": "待推送", "delivered": "已推送", "dead": "推送失败"}
KINDS = {"check_in": "入住登记", "check_out": "退租登记"}
_OUTBOX = "zhili_rental_police_outbox"  # session.info: delivery ids this transaction sends once it commits


# -- the interface -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoliceRecord:
    """One check-in or check-out as the police interface receives it (see docs/rental.md for the JSON)."""

    key: str  # idempotency key: the receiver de-duplicates on it
    kind: str  # check_in | check_out
    payload: dict[str, Any]


@dataclass(frozen=True)
class PoliceResult:
    ok: bool
    receipt: str | None = None  # the police system's receipt number
    error: str | None = None  # a status code or exception name — never personal data
    permanent: bool = False  # a refusal that retrying cannot fix (HTTP 4xx but 408/429): dead at once


class PoliceGateway(Protocol):
    """What the platform needs of a police registration interface."""

    def send(self, record: PoliceRecord) -> PoliceResult: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``: the signature header's value."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def encode(record: PoliceRecord) -> bytes:
    """The request body: the payload as canonical JSON (sorted keys, UTF-8)."""
    return json.dumps(record.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class WebhookPoliceGateway:
    """HTTP POST of the signed JSON record; a 2xx answer is delivered (its JSON ``receipt`` kept when present)."""

    url: str
    secret: str
    timeout_s: float = 5.0

    def send(self, record: PoliceRecord) -> PoliceResult:
        import httpx

        body = encode(record)
        ts = str(int(time.time()))
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(self.secret, ts, body),
                   EVENT_HEADER: record.key, TIMESTAMP_HEADER: ts}
        try:
            r = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return PoliceResult(False, error=type(exc).__name__)
        if r.is_success:
            receipt = None
            try:
                got = r.json()
                if isinstance(got, dict) and got.get("receipt") is not None:
                    receipt = str(got["receipt"])[:128]
            except ValueError:
                pass
            return PoliceResult(True, receipt=receipt)
        permanent = 400 <= r.status_code < 500 and r.status_code not in (408, 425, 429)
        return PoliceResult(False, error=f"HTTP {r.status_code}", permanent=permanent)


@dataclass
class RecordingPoliceGateway:
    """A fake police interface: keeps every record sent; fails the next ``fail_next`` sends (then succeeds)."""

    fail_next: int = 0
    records: list[PoliceRecord] = field(default_factory=list)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, record: PoliceRecord) -> PoliceResult:
        with self._lock:
            self.attempts += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return PoliceResult(False, error="HTTP 503")
            self.records.append(record)
            return PoliceResult(True, receipt=f"R{len(self.records):06d}")

    def keys(self) -> list[str]:
        return [r.key for r in self.records]


class UnconfiguredGateway:
    """No police interface configured (``ZHILI_POLICE_URL`` empty): nothing is sent, the rows stay pending and are
    retried (and finally dead-lettered) like any failure, so a district sees what has not reached the police."""

    def send(self, record: PoliceRecord) -> PoliceResult:
        return PoliceResult(False, error="未配置公安登记接口")


_gateway: PoliceGateway | None = None


def set_gateway(gateway: PoliceGateway | None) -> None:
    """Replace the police gateway (tests: a :class:`RecordingPoliceGateway`; a district's own adapter)."""
    global _gateway
    _gateway = gateway


def gateway() -> PoliceGateway:
    """The configured gateway: the one set, else the webhook of the settings, else :class:`UnconfiguredGateway`."""
    if _gateway is not None:
        return _gateway
    s = get_settings()
    if s.police_url:
        return WebhookPoliceGateway(url=s.police_url, secret=s.police_secret, timeout_s=s.police_timeout_s)
    return UnconfiguredGateway()


# -- queueing (inside the check-in / check-out transaction) ------------------------------------------------------

def queue(session: Session, *, stay: Stay, kind: DeliveryKind) -> PoliceDelivery:
    """Write the delivery row of a check-in or check-out (sent after the commit)."""
    now = clock.utcnow()
    d = PoliceDelivery(stay_id=stay.id, path=stay.path, kind=kind, idempotency_key=f"{stay.id.hex}.{kind.value}",
                       state=DeliveryState.pending, attempts=0, next_try_at=now, created_at=now)
    session.add(d)
    session.flush()
    summarise(session, stay.id, now)
    session.info.setdefault(_OUTBOX, []).append(d.id)
    return d


def _final(session: Session) -> bool:
    bind = session.bind
    return not (isinstance(bind, Connection) and bind.in_transaction())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(_OUTBOX, None)
    if ids and (_dispatch is not None or _final(session)):
        dispatcher()(list(ids))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_OUTBOX, None)


class PoliceOutbox(notify.Outbox):
    """The notification outbox's thread and queue, sending committed police deliveries instead."""

    def _deliver(self, batch: list[Any]) -> None:
        from sqlalchemy.orm import sessionmaker

        from zhili.core.db import get_engine, unit_of_work, write_guard

        engine = self.engine if self.engine is not None else get_engine()
        with write_guard(engine), unit_of_work(sessionmaker(bind=engine)) as session:
            deliver(session, [uuid.UUID(str(i)) for i in batch])
        self.delivered += len(batch)


_outbox: PoliceOutbox | None = None
_dispatch: Callable[[list[uuid.UUID]], None] | None = None


def police_outbox() -> PoliceOutbox:
    global _outbox
    if _outbox is None:
        _outbox = PoliceOutbox()
    return _outbox


def set_police_outbox(box: PoliceOutbox | None) -> None:
    global _outbox
    old, _outbox = _outbox, box
    if old is not None:
        old.stop()


def dispatcher() -> Callable[[list[uuid.UUID]], None]:
    """What receives the ids of committed deliveries: the outbox thread unless replaced."""
    return _dispatch or (lambda ids: police_outbox().submit(cast(Any, ids)))


def set_dispatcher(fn: Callable[[list[uuid.UUID]], None] | None) -> None:
    """Replace the after-commit receiver (tests: record the ids, or deliver synchronously)."""
    global _dispatch
    _dispatch = fn


# -- the record ----------------------------------------------------------------------------------------------------

def _iso(moment: dt.datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None  # type: ignore[union-attr]


def build_record(session: Session, d: PoliceDelivery) -> PoliceRecord:
    """The record of a delivery, read now from the stay, the room and the register (ID and phone decrypted: the
    police registration needs them; they travel only in the signed request)."""
    stay = session.get(Stay, d.stay_id)
    assert stay is not None
    room = session.get(Room, stay.room_id)
    person = session.get(Person, stay.person_id)
    assert room is not None and person is not None
    household = session.get(Household, room.household_id)
    building = session.get(Building, room.building_id)
    unit = session.get(Unit, room.unit_id)
    cipher = get_cipher()
    id_number = cipher.decrypt(person.id_number_enc, table="person", column="id_number", row_id=person.id)
    phone = cipher.decrypt(stay.phone_enc, table="rental_stay", column="phone", row_id=stay.id)
    payload = {
        "schema": SCHEMA, "key": d.idempotency_key, "kind": d.kind.value, "district": get_settings().district_code,
        "stay_id": str(stay.id), "occurred_at": _iso(stay.updated_at if d.kind == DeliveryKind.check_out
                                                      else stay.created_at),
        "tenant": {"name": person.name, "id_number": id_number, "phone": phone,
                   "gender": person.gender.value, "birth_date": person.birth_date.isoformat(),
                   "resident_type": person.resident_type.value},
        "room": {"id": str(room.id), "label": room.label,
                 "address": household.address if household else None,
                 "building": building.name if building else None,
                 "lon": building.lon if building else None, "lat": building.lat if building else None,
                 "grid_code": unit.code if unit else None, "grid_name": unit.name if unit else None},
        "move_in": stay.move_in.isoformat(), "expected_move_out": stay.expected_move_out.isoformat(),
        "moved_out": stay.moved_out.isoformat() if stay.moved_out else None,
        "registered_via": stay.registered_via.value,
    }
    return PoliceRecord(key=d.idempotency_key, kind=d.kind.value, payload=payload)


# -- delivering (after the commit) ---------------------------------------------------------------------------------

def _try(session: Session, d: PoliceDelivery, gw: PoliceGateway, now: dt.datetime) -> bool:
    d.attempts += 1
    try:
        res = gw.send(build_record(session, d))
    except Exception as exc:  # noqa: BLE001 - a broken adapter never stops the other deliveries
        log.warning("police delivery %s failed: %s", d.id, type(exc).__name__)
        res = PoliceResult(False, error=type(exc).__name__)
    if res.ok:
        d.state, d.delivered_at, d.last_error, d.next_try_at = DeliveryState.delivered, now, None, None
        d.receipt = (res.receipt or "")[:128] or None
    else:
        d.last_error = (res.error or "失败")[:200]
        if res.permanent or d.attempts >= MAX_ATTEMPTS:
            d.state, d.next_try_at = DeliveryState.dead, None
            log.warning("police delivery %s dead after %d attempts", d.id, d.attempts)
        else:
            d.next_try_at = now + BACKOFF * (2 ** (d.attempts - 1))
    summarise(session, d.stay_id, now)
    return res.ok


def summarise(session: Session, stay_id: uuid.UUID, now: dt.datetime) -> None:
    """The stay's police state: dead if any of its deliveries is dead, else pending if any is, else delivered."""
    stay = session.get(Stay, stay_id)
    if stay is None:
        return
    session.flush()
    states = set(session.scalars(select(PoliceDelivery.state).where(PoliceDelivery.stay_id == stay_id)))
    for state in (DeliveryState.dead, DeliveryState.pending, DeliveryState.delivered):
        if state in states:
            stay.police_state, stay.police_at = state.value, now
            return


def deliver(session: Session, delivery_ids: Sequence[uuid.UUID], *, now: dt.datetime | None = None) -> int:
    """Send the due pending deliveries among ``delivery_ids``; record each try. The number delivered."""
    now = now or clock.utcnow()
    rows = list(session.scalars(select(PoliceDelivery).where(PoliceDelivery.id.in_(list(delivery_ids)),
                                                             PoliceDelivery.state == DeliveryState.pending)
                                .order_by(PoliceDelivery.created_at, PoliceDelivery.id)))
    gw = gateway()
    done = 0
    for d in rows:
        due = aware(d.next_try_at)
        if due is not None and due > now:
            continue
        done += _try(session, d, gw, now)
    session.flush()
    return done


def redeliver_due(session: Session, *, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Queue the pending deliveries whose next try is due: they are sent after this transaction commits. The
    number queued."""
    now = now or clock.utcnow()
    ids = list(session.scalars(select(PoliceDelivery.id).where(
        PoliceDelivery.state == DeliveryState.pending, PoliceDelivery.next_try_at <= now)
        .order_by(PoliceDelivery.next_try_at).limit(limit)))
    if ids:
        session.info.setdefault(_OUTBOX, []).extend(ids)
    return len(ids)


def deliver_due(session: Session, *, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Send the due pending deliveries now, in this transaction (the CLI). The number delivered."""
    now = now or clock.utcnow()
    ids = list(session.scalars(select(PoliceDelivery.id).where(
        PoliceDelivery.state == DeliveryState.pending, PoliceDelivery.next_try_at <= now)
        .order_by(PoliceDelivery.next_try_at).limit(limit)))
    return deliver(session, ids, now=now) if ids else 0


# -- staff ---------------------------------------------------------------------------------------------------------

def _load(session: Session, principal: Principal, delivery_id: uuid.UUID) -> PoliceDelivery:
    d = session.get(PoliceDelivery, delivery_id)
    if d is None or not in_scope(principal, d.path):
        raise not_found(DELIVERY)
    return d


def redeliver(session: Session, *, principal: Principal, delivery_id: uuid.UUID) -> PoliceDelivery:
    """重新推送: a dead delivery goes back to pending with its attempts reset (sent after the commit).
    ``rental:write`` in jurisdiction; audited."""
    authorize(principal, Perm.rental_write)
    d = _load(session, principal, delivery_id)
    if d.state != DeliveryState.dead:
        raise Conflict(f"只有推送失败的记录可以重新推送（当前：{STATES[d.state.value]}）", code="delivery_not_dead",
                       details={"state": d.state.value})
    now = clock.utcnow()
    d.state, d.attempts, d.next_try_at = DeliveryState.pending, 0, now
    summarise(session, d.stay_id, now)
    session.flush()
    session.info.setdefault(_OUTBOX, []).append(d.id)
    audit.record(session, actor=principal.actor, action="rental.police_redeliver", object_type="rental_delivery",
                 object_id=d.id, after={"stay": str(d.stay_id), "kind": d.kind.value})
    return d


def list_deliveries(session: Session, *, principal: Principal, state: str | None = None,
                    stay_id: uuid.UUID | None = None, limit: int = 200) -> list[PoliceDelivery]:
    """Deliveries in jurisdiction, newest first (``state=dead``: the dead-letter list). ``rental:read``."""
    authorize(principal, Perm.rental_read)
    if stay_id is not None:
        stay = session.get(Stay, stay_id)
        if stay is None or not in_scope(principal, stay.path):
            raise not_found("入住登记")
    stmt = scoped(select(PoliceDelivery), principal, PoliceDelivery.path)
    return _filtered(session, stmt, state=state, stay_id=stay_id, limit=limit)


def system_deliveries(session: Session, *, state: str | None = None, limit: int = 200) -> list[PoliceDelivery]:
    """Every delivery of the district (the command line, run as the system)."""
    return _filtered(session, select(PoliceDelivery), state=state, stay_id=None, limit=limit)


def _filtered(session: Session, stmt: Any, *, state: str | None, stay_id: uuid.UUID | None,
              limit: int) -> list[PoliceDelivery]:
    if state:
        if state not in STATES:
            raise ValidationFailed("推送状态只能是：待推送（pending）、已推送（delivered）、推送失败（dead）",
                                   code="bad_state", details={"fields": {"state": "未知的推送状态"}})
        stmt = stmt.where(PoliceDelivery.state == DeliveryState(state))
    if stay_id:
        stmt = stmt.where(PoliceDelivery.stay_id == stay_id)
    limit = max(1, min(int(limit), 1000))
    return list(session.scalars(stmt.order_by(PoliceDelivery.created_at.desc(), PoliceDelivery.id).limit(limit)))


def delivery_view(d: PoliceDelivery) -> dict[str, Any]:
    return {"id": d.id, "stay_id": d.stay_id, "kind": d.kind.value, "kind_name": KINDS[d.kind.value],
            "state": d.state.value, "state_name": STATES[d.state.value], "attempts": d.attempts,
            "next_try_at": d.next_try_at, "last_error": d.last_error, "receipt": d.receipt,
            "delivered_at": d.delivered_at, "created_at": d.created_at, "idempotency_key": d.idempotency_key}
