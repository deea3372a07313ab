"""Read sessions never turn into writers: what a read leaves behind (``write_after_read``: an export's audit entry)
is written after the read, in a write transaction of its own that queues behind the other writers; a refusal's
trace in a read session (``keep_on_refusal``) is written the same way. On SQLite a read transaction that a writer
overtook cannot write at all ("database is locked" at once, whatever the busy timeout) — these tests put a writer
exactly there. Run on a scratch database that commits for real (SQLite file, or a PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import zhili.core.db as zdb
from testmodules import TESTS, load
from zhili.cases.models import JobLock
from zhili.core import audit
from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.db import (
    keep_on_refusal,
    read_session_factory,
    session_scope,
    set_engine,
    unit_of_work,
    write_after_read,
)
from zhili.core.errors import Forbidden

casekit = load("casekit", TESTS / "cases" / "casekit.py")


@pytest.fixture
def scratch_engine(tmp_path: Any) -> Iterator[Engine]:
    """The process's engine, for the test, on a scratch database of its own."""
    with casekit.scratch_database(tmp_path) as scratch:
        eng = scratch.engine()
        previous = zdb._engine
        set_engine(eng)
        try:
            yield eng
        finally:
            set_engine(previous)
            eng.dispose()


def _record(action: str) -> Any:
    return lambda s: audit.record(s, actor=audit.SYSTEM, action=action, object_type="test")


def _seq(engine: Engine, action: str) -> int | None:
    with Session(engine) as s:
        return s.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.action == action))


def test_what_a_read_leaves_is_written_after_it_even_when_a_writer_overtook_the_read(scratch_engine: Engine) -> None:
    with unit_of_work(read_session_factory()) as s:
        s.scalar(select(func.count()).select_from(AuditEvent))  # the read has begun (its snapshot is taken)
        write_after_read(s, _record("test.after_read"))
        with session_scope() as other:  # another user's change commits meanwhile
            _record("test.overtaker")(other)
        assert _seq(scratch_engine, "test.after_read") is None  # not during the read
    after, overtaker = _seq(scratch_engine, "test.after_read"), _seq(scratch_engine, "test.overtaker")
    assert after is not None and overtaker is not None and after > overtaker
    with Session(scratch_engine) as s:
        assert verify_chain(s).ok


def test_a_read_that_fails_leaves_nothing(scratch_engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(read_session_factory()) as s:
        write_after_read(s, _record("test.failed_read"))
        raise RuntimeError("the export broke")
    assert _seq(scratch_engine, "test.failed_read") is None


def test_a_refusal_in_a_read_session_keeps_its_trace_in_a_write_transaction_of_its_own(scratch_engine: Engine) -> None:
    with pytest.raises(Forbidden), unit_of_work(read_session_factory()) as s:
        keep_on_refusal(s, _record("test.refused_read"))
        with session_scope() as other:  # another change commits meanwhile (not an audit entry: on PostgreSQL the
            other.add(JobLock(name="test.overtaker"))  # refusal's entry holds the chain's lock until it ends)
        raise Forbidden("refused")
    assert _seq(scratch_engine, "test.refused_read") is not None
    with Session(scratch_engine) as s:
        assert verify_chain(s).ok


def test_a_session_that_may_write_writes_it_at_once_in_its_own_transaction(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.at_once"))
    write_after_read(db, _record("test.at_once"))
    db.flush()
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "test.at_once")) == before + 1
