"""Deferred notification channels (webhook, SMS gateway) are called after the commit by the outbox thread, never
inside the transaction that may hold the write lock; what a stopped process left pending is sent by the sweep."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from casekit import Scratch, add_taxonomy, build_world
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from zhili.cases import intake, notify
from zhili.cases.intake import IntakeRequest
from zhili.cases.models import Channel, Notification
from zhili.cases.writer import GroupCommitWriter
from zhili.core.db import utcnow
from zhili.users.service import principal_for_user


@dataclass
class Gateway:
    """A network channel: records each message with whether its notification was committed when it was called."""

    engine: Engine
    name: str = "gateway"
    deferred: bool = True
    release: threading.Event = field(default_factory=threading.Event)
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def send(self, message: notify.Message) -> str:
        self.release.wait(10)
        with Session(self.engine) as s:
            committed = s.scalar(select(Notification.id).where(Notification.title == message.title,
                                                               Notification.case_id == message.case_id))
        self.calls.append((message.title, committed is not None))
        return "sent"


@pytest.fixture
def setup(scratch: Scratch) -> Iterator[tuple[Engine, Any, Gateway, notify.Outbox]]:
    engine = scratch.engine()
    with Session(engine, expire_on_commit=False) as s:
        w = build_world(s)
        add_taxonomy(s)
        s.commit()
        jumin = principal_for_user(s, user=w.users["jumin"])
    gateway = Gateway(engine)
    box = notify.Outbox(engine=engine)
    notify.set_channels([notify.FakeChannel(), gateway])
    notify.set_outbox(box)
    try:
        yield engine, jumin, gateway, box
    finally:
        gateway.release.set()
        notify.set_outbox(None)
        notify.set_channels(None)
        engine.dispose()


def _report(who: Any) -> IntakeRequest:
    return IntakeRequest(principal=who, channel=Channel.resident,
                         data={"category_code": "T0101", "description": "楼下垃圾桶满溢", "lon": 119.1, "lat": 31.1})


def _notifications(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.scalars(select(Notification)))


def test_a_deferred_channel_is_called_after_the_commit_and_its_status_recorded(setup):
    engine, jumin, gateway, box = setup
    gateway.release.set()
    with Session(engine) as s:
        [out] = intake.file_cases(s, requests=[_report(jumin)])
        assert out.created
        s.flush()
        assert gateway.calls == []  # not inside the transaction
        [row] = list(s.scalars(select(Notification)))
        assert row.channels["gateway"] == "pending" and row.channels["fake"] == "sent" and row.delivery_pending
        s.commit()
    assert box.wait_idle()
    assert gateway.calls == [("已收到您反映的问题", True)]  # the row was committed when the gateway was called
    [row] = _notifications(engine)
    assert row.channels == {"inbox": "stored", "fake": "sent", "gateway": "sent"} and not row.delivery_pending


def test_a_rolled_back_transaction_sends_nothing(setup):
    engine, jumin, gateway, box = setup
    gateway.release.set()
    with Session(engine) as s:
        intake.file_cases(s, requests=[_report(jumin)])
        s.rollback()
    with Session(engine) as s:  # the next transaction commits without the discarded messages
        s.commit()
    assert box.wait_idle()
    assert gateway.calls == [] and _notifications(engine) == []


def test_a_slow_gateway_does_not_hold_up_intake(setup):
    engine, jumin, gateway, box = setup
    writer = GroupCommitWriter(engine=engine)
    try:
        out = writer.submit(_report(jumin))  # answered while the gateway is still blocked
        assert out.created and gateway.calls == []
    finally:
        gateway.release.set()
        writer.stop()
    assert box.wait_idle()
    assert gateway.calls and all(committed for _, committed in gateway.calls)


def test_notifications_a_stopped_process_left_pending_are_sent_by_the_sweep(setup):
    from zhili.cases.sweep import run_sweep_if_due

    engine, jumin, gateway, box = setup
    gateway.release.set()
    with Session(engine) as s:
        intake.file_cases(s, requests=[_report(jumin)])
        s.info.pop("zhili_outbox")  # the process stops right after its commit, before the outbox sends
        s.commit()
        s.execute(update(Notification).values(created_at=utcnow() - dt.timedelta(minutes=10)))
        s.commit()
    assert box.wait_idle() and gateway.calls == []
    with Session(engine) as s:
        assert run_sweep_if_due(s, holder="test") is not None
        s.commit()
    assert box.wait_idle()
    assert gateway.calls == [("已收到您反映的问题", True)]
    assert not _notifications(engine)[0].delivery_pending
