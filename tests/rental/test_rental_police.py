"""The police registration outbox: a check-in's record is written with the stay and sent after the commit; a failure
is retried with exponential back-off, dead after the last attempt (the dead-letter list), and sent again when staff
redeliver it; the webhook adapter signs the JSON it posts; the stay shows the delivery state."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from rentalkit import gateway, place, principal, tenant
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.clock import utcnow
from zhili.core.errors import Conflict, Forbidden, NotFound
from zhili.rental import police, stays
from zhili.rental.models import DeliveryState, PoliceDelivery

__all__ = ["gateway"]


def _delivery(db: Session, stay_id: Any, kind: str = "check_in") -> PoliceDelivery:
    d = db.scalar(select(PoliceDelivery).where(PoliceDelivery.stay_id == stay_id, PoliceDelivery.kind == kind))
    assert d is not None
    return d


def test_a_check_in_reaches_the_police_with_the_real_name_record(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    form = tenant()
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=form)
    assert police.deliver_due(db) == 1
    [record] = gateway.records
    d = _delivery(db, done.stay.id)
    assert record.key == d.idempotency_key == f"{done.stay.id.hex}.check_in"
    assert record.payload["tenant"]["id_number"] == form["id_number"] and record.payload["tenant"]["name"] == "李租客"
    assert record.payload["room"]["address"] == p.household.address and record.payload["kind"] == "check_in"
    assert d.state == DeliveryState.delivered and d.receipt == "R000001" and d.attempts == 1
    assert done.stay.police_state == "delivered"
    assert police.deliver_due(db) == 0  # nothing twice


def test_retry_with_back_off_then_dead_letter_then_redeliver(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    d = _delivery(db, done.stay.id)
    gateway.fail_next = police.MAX_ATTEMPTS
    now = utcnow()
    waits = []
    for _ in range(police.MAX_ATTEMPTS):
        assert police.deliver(db, [d.id], now=now) == 0
        if d.next_try_at is not None:
            waits.append((d.next_try_at if d.next_try_at.tzinfo else d.next_try_at.replace(tzinfo=dt.UTC)) - now)
            assert police.deliver(db, [d.id], now=now) == 0 and gateway.attempts == len(waits)  # not due yet
            now = now + waits[-1]
    assert waits == [police.BACKOFF * 2 ** i for i in range(police.MAX_ATTEMPTS - 1)]
    assert d.state == DeliveryState.dead and d.attempts == police.MAX_ATTEMPTS and d.last_error == "HTTP 503"
    assert done.stay.police_state == "dead"
    staff = principal(db, world, "shequ1")
    assert [x.id for x in police.list_deliveries(db, principal=staff, state="dead")] == [d.id]
    assert police.redeliver_due(db, now=now + dt.timedelta(days=1)) == 0  # the dead wait for a person
    with pytest.raises(NotFound):
        police.redeliver(db, principal=principal(db, world, "wangge_b"), delivery_id=d.id)
    with pytest.raises(Forbidden):
        police.redeliver(db, principal=principal(db, world, "lingdao"), delivery_id=d.id)
    police.redeliver(db, principal=staff, delivery_id=d.id)
    assert d.state == DeliveryState.pending and d.attempts == 0 and done.stay.police_state == "pending"
    with pytest.raises(Conflict):
        police.redeliver(db, principal=staff, delivery_id=d.id)
    assert police.deliver_due(db) == 1
    assert d.state == DeliveryState.delivered and gateway.keys() == [d.idempotency_key]


def test_a_permanent_refusal_is_dead_at_once(db: Session, world: Any) -> None:
    class Refusing:
        def send(self, record: police.PoliceRecord) -> police.PoliceResult:
            return police.PoliceResult(False, error="HTTP 400", permanent=True)

    police.set_gateway(Refusing())
    police.set_dispatcher(lambda ids: None)
    try:
        p = place(db, world)
        done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
        police.deliver_due(db)
        assert _delivery(db, done.stay.id).state == DeliveryState.dead
    finally:
        police.set_gateway(None)
        police.set_dispatcher(None)


def test_the_outbox_row_is_queued_for_after_the_commit_and_forgotten_on_rollback(db: Session, world: Any,
                                                                                 gateway: Any) -> None:
    got: list[Any] = []
    police.set_dispatcher(got.extend)
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    assert got == []  # nothing is sent inside the transaction
    db.commit()
    assert got == [_delivery(db, done.stay.id).id]
    got.clear()
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    db.rollback()
    db.commit()
    assert got == []


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"receipt": "GA-2026-0001"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/police/rental"
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_gateway_posts_signed_json_and_keeps_the_receipt(receiver: str) -> None:
    gw = police.WebhookPoliceGateway(url=receiver, secret="s3cret", timeout_s=5)
    record = police.PoliceRecord(key="abc.check_in", kind="check_in", payload={"kind": "check_in", "名": "张三"})
    res = gw.send(record)
    assert res == police.PoliceResult(True, receipt="GA-2026-0001")
    [(headers, body)] = _Receiver.received
    assert json.loads(body) == record.payload and headers["x-zhili-event"] == "abc.check_in"
    ts = headers["x-zhili-timestamp"]
    expected = hmac.new(b"s3cret", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-zhili-signature"] == f"sha256={expected}"
    _Receiver.status = 503
    assert gw.send(record) == police.PoliceResult(False, error="HTTP 503", permanent=False)
    _Receiver.status = 422
    assert gw.send(record).permanent is True


def test_an_unreachable_police_interface_is_a_retryable_failure() -> None:
    gw = police.WebhookPoliceGateway(url="http://127.0.0.1:9/nothing", secret="x", timeout_s=1)
    res = gw.send(police.PoliceRecord(key="k", kind="check_in", payload={}))
    assert res.ok is False and res.permanent is False and res.error


def test_without_a_configured_interface_nothing_is_sent_and_the_row_stays_visible(db: Session, world: Any) -> None:
    police.set_dispatcher(lambda ids: None)
    try:
        p = place(db, world)
        done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
        police.deliver_due(db)
        d = _delivery(db, done.stay.id)
        assert d.state == DeliveryState.pending and d.attempts == 1 and d.last_error == "未配置公安登记接口"
    finally:
        police.set_dispatcher(None)


def test_the_stays_police_state_sums_up_its_deliveries(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    police.deliver_due(db)
    assert done.stay.police_state == "delivered"
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    assert done.stay.police_state == "pending"  # the check-out is not sent yet, though the check-in was
    police.deliver_due(db)
    assert done.stay.police_state == "delivered"
    assert [d["state_name"] for d in map(police.delivery_view, police.list_deliveries(
        db, principal=p.staff, stay_id=done.stay.id))] == ["已推送", "已推送"]
