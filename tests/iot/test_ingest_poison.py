"""A message that processing fails on again and again (a defect, not bad input) must not stop the ingest: the batch
is split down to the one message, which is kept as rejected with the error's name; the rest of the batch is recorded
and evaluated as usual. A busy database is only waited out."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from iotworld import device, install
from mqttkit import config, unique
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from zhili.cases.taxonomy import load_defaults
from zhili.iot import engine, ingest
from zhili.iot.engine import Incoming
from zhili.iot.models import Message


def _factory(db: Session) -> Any:
    @contextmanager
    def scope() -> Iterator[Session]:
        nested = db.begin_nested()
        try:
            yield db
            nested.commit()
        except BaseException:
            nested.rollback()
            raise
    return scope


@pytest.fixture
def env(db: Session, world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    load_defaults(db)
    install(db)
    monkeypatch.setattr(ingest.time, "sleep", lambda s: None)  # the back-off, not waited here
    return world


def test_a_poison_message_is_kept_as_rejected_and_the_rest_of_the_batch_goes_through(
        db: Session, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = device(db, env, "water_level")
    prefix = unique("poison")
    items = [Incoming(f"{prefix}/330522/water_level/{gauge.device_key}/telemetry",
                      json.dumps({"mid": f"m{i}", "level_m": 1.0 + i / 10}).encode()) for i in range(6)]
    real = engine.process_batch

    def flaky(session: Session, batch: Any, **kw: Any) -> Any:
        if any(b"m3" in i.payload for i in batch):
            raise KeyError("a defect m3 sets off")
        return real(session, batch, **kw)

    monkeypatch.setattr(ingest, "process_batch", flaky)
    ing = ingest.Ingest(config(prefix), session_factory=_factory(db), sweep=False)
    res = ing._process(items)
    assert (res.received, res.recorded, res.accepted, res.rejected) == (6, 6, 5, 1)
    rows = {m.message_id: m for m in db.scalars(select(Message).where(Message.topic.startswith(prefix + "/")))}
    assert sorted(rows) == [f"m{i}" for i in range(6)]
    bad = rows["m3"]
    assert not bad.accepted and bad.reason_code == "failed" and "KeyError" in bad.reason
    assert bad.device_id == gauge.id
    assert all(rows[f"m{i}"].accepted for i in (0, 1, 2, 4, 5))


def test_a_busy_database_is_waited_out_not_split(db: Session, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = device(db, env, "water_level")
    prefix = unique("busy")
    items = [Incoming(f"{prefix}/330522/water_level/{gauge.device_key}/telemetry",
                      json.dumps({"mid": f"b{i}", "level_m": 1.0}).encode()) for i in range(4)]
    real, calls = engine.process_batch, []

    def busy(session: Session, batch: Any, **kw: Any) -> Any:
        calls.append(len(batch))
        if len(calls) <= 2 * ingest.ATTEMPTS:
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        return real(session, batch, **kw)

    monkeypatch.setattr(ingest, "process_batch", busy)
    res = ingest.Ingest(config(prefix), session_factory=_factory(db), sweep=False)._process(items)
    assert calls == [4] * (2 * ingest.ATTEMPTS + 1)  # the whole batch each time: never split, never rejected
    assert (res.recorded, res.accepted, res.rejected) == (4, 4, 0)
