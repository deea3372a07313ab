"""The ingest against the real broker: QoS 1 messages recorded (rejects with their reason), acknowledged only after
the commit — a second ingest with the same client id finds nothing left to redeliver — and a message published
while the ingest is away waits in its persistent session."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from iotworld import device, install
from mqttkit import body, config, publish_all, publisher, require_broker, topic, unique
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.models import Case
from zhili.cases.taxonomy import load_defaults
from zhili.iot.ingest import Ingest
from zhili.iot.models import Alert, Message


@pytest.fixture
def env(db: Session, world: Any) -> Iterator[Any]:
    require_broker()
    load_defaults(db)
    install(db)
    notify.set_channels([notify.FakeChannel()])
    try:
        yield world
    finally:
        notify.set_channels(None)


def _factory(db: Session) -> Any:
    @contextmanager
    def scope() -> Iterator[Session]:
        try:
            yield db
            db.commit()  # a savepoint of the test's transaction
        except BaseException:
            db.rollback()
            raise
    return scope


def _count(db: Session, prefix: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Message).where(Message.topic.startswith(prefix + "/")))
               or 0)


@contextmanager
def running(db: Session, cfg: Any) -> Iterator[Ingest]:
    ing = Ingest(cfg, batch_max=200, batch_ms=20, session_factory=_factory(db), sweep=False)
    t = threading.Thread(target=ing.run, daemon=True)
    t.start()
    try:
        assert ing.subscribed.wait(10), "the ingest did not subscribe"
        yield ing
    finally:
        ing.stop()
        t.join(15)
        assert not t.is_alive()


def _wait(pred: Any, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_messages_recorded_and_acknowledged_after_commit(db: Session, env: Any, protocol: str,
                                                        sessions: list[Any]) -> None:
    prefix = unique("p")
    cfg = config(prefix, protocol=protocol)
    sessions.append(cfg)
    smoke = device(db, env, "smoke_detector")
    db.commit()
    msgs = [(topic(prefix, "smoke_detector", smoke.device_key, "telemetry"), body(smoke=i % 5, battery=90))
            for i in range(150)]
    msgs += [(topic(prefix, "smoke_detector", smoke.device_key, "events"), body(event="alarm")) for _ in range(30)]
    msgs += [(topic(prefix, "smoke_detector", smoke.device_key, "events"), b"{broken"),
             (topic(prefix, "smoke_detector", "NOT-REGISTERED", "heartbeat"), body()),
             (topic(prefix, "smoke_detector", smoke.device_key, "telemetry"), body(smoke=999))]
    with running(db, cfg) as ing, publisher(cfg) as pub:
        publish_all(pub, msgs)
        _wait(lambda: ing.stats.received >= len(msgs))
    assert _count(db, prefix) == len(msgs)
    rejected = dict(db.execute(select(Message.reason_code, func.count()).where(
        Message.topic.startswith(prefix + "/"), Message.accepted.is_(False)).group_by(Message.reason_code)).all())
    assert rejected == {"bad_json": 1, "unknown_device": 1, "schema": 1}
    # thirty alarms from one detector: one alert counting thirty, one case
    [a] = db.scalars(select(Alert).where(Alert.device_id == smoke.id)).all()
    assert a.count == 30 and a.case_id is not None
    assert db.scalar(select(func.count()).select_from(Case)) == 1
    # every message was acknowledged: the same client id reconnecting gets nothing again
    with running(db, cfg) as again:
        time.sleep(1.5)
        assert again.stats.received == 0


def test_a_message_published_while_the_ingest_is_away_waits_for_it(db: Session, env: Any,
                                                                    sessions: list[Any]) -> None:
    prefix = unique("p")
    cfg = config(prefix)
    sessions.append(cfg)
    lock = device(db, env, "door_lock")
    db.commit()
    with running(db, cfg):
        pass  # the persistent session (and its subscription) now exists in the broker
    sent = [(topic(prefix, "door_lock", lock.device_key, "heartbeat"), body(battery=70)) for _ in range(20)]
    with publisher(cfg) as pub:
        publish_all(pub, sent)
    with running(db, cfg) as ing:
        _wait(lambda: ing.stats.recorded >= 20)
    assert _count(db, prefix) == 20
    db.refresh(lock)
    assert lock.last_seen_at is not None and lock.last_seen_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
