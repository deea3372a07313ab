"""The tamper-evident audit log: hash chain, anchors, the append-only guard and ``zhili audit verify``."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.audit import (
    GENESIS,
    Actor,
    AuditAnchor,
    AuditEvent,
    AuditHead,
    compute_hash,
    count_events,
    verify_chain,
)

ALICE = Actor(id=uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"), name="wangge_a", role="grid_worker",
              ip="10.0.0.8")


def record_three(db: Session) -> list[AuditEvent]:
    return [
        audit.record(db, actor=ALICE, action="person.create", object_type="person", object_id="p1",
                     after={"name": "张三", "phone": "138****5678"}),
        audit.record(db, actor=ALICE, action="person.update", object_type="person", object_id="p1",
                     before={"name": "张三"}, after={"name": "张叁"}, reason="更正错别字"),
        audit.record(db, actor=audit.SYSTEM, action="person.delete", object_type="person", object_id="p1"),
    ]


def disable_guard(db: Session) -> None:
    """Lift the append-only guard inside the test transaction (DDL is transactional on both databases)."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("DROP TRIGGER audit_event_no_update"))
        db.execute(text("DROP TRIGGER audit_event_no_delete"))
    else:
        db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))


# -- the chain -----------------------------------------------------------------------------------------------

def test_recorded_events_form_a_contiguous_hash_chain(db):
    before = count_events(db)
    events = record_three(db)
    assert [e.seq for e in events] == [events[0].seq, events[0].seq + 1, events[0].seq + 2]
    assert events[0].prev_hash == (GENESIS if before == 0 else db.scalar(
        select(AuditEvent.hash).where(AuditEvent.seq == events[0].seq - 1)))
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert len({e.hash for e in events}) == 3
    result = verify_chain(db)
    assert result.ok, result.problems
    assert result.checked == before + 3 == count_events(db)


def test_the_first_event_of_an_empty_log_links_to_the_genesis_hash():
    from sqlalchemy.orm import Session

    from zhili.core.audit import AuditAnchor, AuditEvent
    from zhili.core.db import make_engine

    engine = make_engine("sqlite:///:memory:")
    for model in (AuditEvent, AuditAnchor, AuditHead):
        model.__table__.create(engine)
    with Session(engine) as empty:
        ev = audit.record(empty, actor=ALICE, action="x", object_type="y")
        empty.flush()
        assert ev.seq == 1 and ev.prev_hash == GENESIS
        assert empty.get(AuditHead, 1).seq == 1  # the head row is made with the first event
        assert verify_chain(empty).ok
    engine.dispose()


def test_a_recorded_event_stores_the_actor_and_json_safe_values(db):
    ev = audit.record(db, actor=ALICE, action="person.update", object_type="person",
                      object_id=uuid.UUID(int=7),
                      before={"id": uuid.UUID(int=7)}, after={"n": 1}, reason="核实")
    db.expire_all()
    row = db.get(AuditEvent, (ev.seq, ev.at))
    assert (row.actor_id, row.actor_name, row.actor_role, row.ip) == (ALICE.id, "wangge_a", "grid_worker",
                                                                      "10.0.0.8")
    assert row.object_id == str(uuid.UUID(int=7)) and row.before == {"id": str(uuid.UUID(int=7))}
    assert row.at.tzinfo is not None
    # the hash survives the round trip through the database
    assert compute_hash(row.prev_hash, audit._row_payload(row)) == row.hash


def test_editing_a_stored_event_is_detected_and_the_seq_is_named(db):
    events = record_three(db)
    disable_guard(db)
    target = events[1].seq
    db.execute(update(AuditEvent).where(AuditEvent.seq == target).values(after={"name": "李四"}))
    result = verify_chain(db)
    assert not result.ok
    assert len(result.problems) == 1
    assert f"序号 {target}" in result.problems[0] and "篡改" in result.problems[0]


def test_editing_an_event_and_recomputing_its_hash_still_breaks_the_next_link(db):
    events = record_three(db)
    disable_guard(db)
    first, second = events[0].seq, events[1].seq
    row = db.execute(select(*AuditEvent.__table__.c).where(AuditEvent.seq == first)).one()
    payload = {**audit._row_payload(row), "after": {"name": "李四"}}
    db.execute(update(AuditEvent).where(AuditEvent.seq == first)
               .values(after={"name": "李四"}, hash=compute_hash(row.prev_hash, payload)))
    result = verify_chain(db)
    assert not result.ok
    assert any(f"序号 {second}" in p and "前序哈希" in p for p in result.problems)


def test_deleting_a_middle_event_is_detected(db):
    events = record_three(db)
    disable_guard(db)
    middle = events[1].seq
    db.execute(delete(AuditEvent).where(AuditEvent.seq == middle))
    result = verify_chain(db)
    assert not result.ok
    assert any("缺失" in p and str(middle) in p for p in result.problems)
    assert any(f"序号 {middle + 1}" in p and "前序哈希" in p for p in result.problems)


def test_deleting_the_tail_after_an_anchor_is_detected(db):
    events = record_three(db)
    a = audit.anchor(db)
    assert a is not None and (a.seq, a.hash) == (events[-1].seq, events[-1].hash)
    assert verify_chain(db).ok
    disable_guard(db)
    db.execute(delete(AuditEvent).where(AuditEvent.seq == events[-1].seq))
    result = verify_chain(db)
    assert not result.ok
    assert any(f"锚点 {events[-1].seq}" in p and "截断" in p for p in result.problems)


def test_an_anchor_that_disagrees_with_the_log_is_detected(db):
    events = record_three(db)
    audit.anchor(db)
    db.execute(update(AuditAnchor).where(AuditAnchor.seq == events[-1].seq).values(hash="f" * 64))
    result = verify_chain(db)
    assert not result.ok
    assert any(f"锚点 {events[-1].seq}" in p and "不符" in p for p in result.problems)


def test_anchoring_an_empty_log_records_nothing():
    from sqlalchemy.orm import Session

    from zhili.core.db import make_engine

    engine = make_engine("sqlite:///:memory:")
    for model in (AuditEvent, AuditAnchor, AuditHead):
        model.__table__.create(engine)
    with Session(engine) as empty:
        assert audit.anchor(empty) is None
        assert empty.scalar(select(AuditAnchor.id)) is None
    engine.dispose()


# -- the head row -------------------------------------------------------------------------------------------

def _head_row(db: Session) -> tuple[int, str]:
    db.expire_all()
    row = db.get(AuditHead, 1)
    assert row is not None
    return row.seq, row.hash


def test_the_head_row_follows_every_event_single_or_bulk(db):
    events = record_three(db)
    assert _head_row(db) == (events[-1].seq, events[-1].hash)
    audit.record_many(db, [audit.Entry(actor=ALICE, action="case.report", object_type="case", object_id=i)
                           for i in range(3)])
    db.flush()
    newest = db.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert _head_row(db) == tuple(newest) and newest[0] == events[-1].seq + 3
    assert verify_chain(db).ok


def test_the_next_writer_reads_the_head_row_not_the_newest_event(db):
    """The head row is what the writer links to (one key read on a log partitioned by month): a head row ahead of
    the log — a deleted tail — leaves a gap the next event cannot close, so the deletion stays visible."""
    events = record_three(db)
    db.commit()
    assert (db.get(AuditHead, 1).seq, db.get(AuditHead, 1).hash) == (events[-1].seq, events[-1].hash)
    disable_guard(db)
    db.execute(delete(AuditEvent).where(AuditEvent.seq == events[-1].seq))  # the tail deleted, no anchor taken
    result = verify_chain(db)
    assert not result.ok and any("链头记录" in p and "截断" in p for p in result.problems)
    nxt = audit.record(db, actor=ALICE, action="person.create", object_type="person", object_id="p2")
    assert (nxt.seq, nxt.prev_hash) == (events[-1].seq + 1, events[-1].hash)  # linked to the deleted event
    assert any("缺失" in p for p in verify_chain(db).problems)


def test_the_database_refuses_to_move_the_head_back_or_delete_it(db):
    events = record_three(db)
    db.flush()
    with pytest.raises(DBAPIError, match="only moves forward"), db.begin_nested():
        db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=events[0].seq, hash=events[0].hash))
    with pytest.raises(DBAPIError, match="only moves forward"), db.begin_nested():
        db.execute(delete(AuditHead))
    if db.get_bind().dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="only moves forward"), db.begin_nested():
            db.execute(text("TRUNCATE audit_head"))
    assert _head_row(db) == (events[-1].seq, events[-1].hash)
    assert verify_chain(db).ok


def test_a_head_row_that_disagrees_with_the_log_is_reported(db):
    events = record_three(db)
    db.flush()
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("DROP TRIGGER audit_head_forward"))
    else:
        db.execute(text("ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward"))
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(hash="e" * 64))
    result = verify_chain(db)
    assert not result.ok
    assert result.problems == [f"链头记录（序号 {events[-1].seq}）与日志中该序号的记录不符"]


def test_events_written_while_the_chain_is_verified_are_not_a_truncated_tail(db, monkeypatch):
    """verify_chain reads the head row before the log: a writer committing meanwhile moves the head past what the
    scan began with, which is no break (read the other way round, a busy log looked truncated)."""
    record_three(db)
    db.flush()
    real = db.execute
    arrived: list[AuditEvent] = []

    def execute(stmt, *args, **kwargs):
        if stmt is audit._HEAD and not arrived:  # as the head row is read, another event has just arrived
            arrived.append(audit.record(db, actor=ALICE, action="person.create", object_type="person",
                                        object_id="late"))
            db.flush()
        return real(stmt, *args, **kwargs)

    monkeypatch.setattr(db, "execute", execute)
    result = verify_chain(db)
    assert arrived and result.ok, result.problems


# -- the database guard --------------------------------------------------------------------------------------

def test_the_database_refuses_to_update_an_audit_event(db):
    ev = record_three(db)[0]
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(update(AuditEvent).where(AuditEvent.seq == ev.seq).values(action="forged"))
    db.expire_all()
    assert db.get(AuditEvent, (ev.seq, ev.at)).action == "person.create"
    assert verify_chain(db).ok


def test_the_database_refuses_to_delete_an_audit_event(db):
    ev = record_three(db)[-1]
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(delete(AuditEvent).where(AuditEvent.seq == ev.seq))
    assert db.get(AuditEvent, (ev.seq, ev.at)) is not None
    assert verify_chain(db).ok


def test_the_orm_cannot_delete_an_audit_event_either(db):
    ev = record_three(db)[0]
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.delete(ev)
        db.flush()


def test_postgresql_also_refuses_to_truncate_the_audit_log(db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    record_three(db)
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("TRUNCATE audit_event"))
    assert count_events(db) >= 3


# -- the CLI -------------------------------------------------------------------------------------------------

@pytest.fixture
def cli_database(engine, tmp_path):
    """Point the process-wide engine at a fresh, migrated SQLite file, so the CLI (which commits in its
    session) can be given a committed — and even broken — chain without touching the shared test database."""
    from filedb import process_engine_on_file

    with process_engine_on_file(engine, tmp_path / "cli.db") as eng:
        yield eng


def _run_verify():
    from typer.testing import CliRunner

    from zhili.cli import app

    return CliRunner().invoke(app, ["audit", "verify"])


def test_cli_audit_verify_exits_0_on_an_intact_chain(cli_database):
    with Session(cli_database) as s, s.begin():
        record_three(s)
        audit.anchor(s)
    result = _run_verify()
    assert result.exit_code == 0, result.output
    assert "审计链完整" in result.output and "3" in result.output


def test_cli_audit_verify_exits_2_and_lists_the_problems_on_a_broken_chain(cli_database):
    with Session(cli_database) as s, s.begin():
        record_three(s)
        s.execute(text("DROP TRIGGER audit_event_no_update"))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(reason="伪造"))
    result = _run_verify()
    assert result.exit_code == 2, result.output
    assert "校验失败" in result.output and "序号 2" in result.output


def test_cli_audit_verify_checks_the_committed_chain_of_the_test_database(engine):
    # the shared database: whatever is committed there must verify (tests roll back their own events)
    result = _run_verify()
    assert result.exit_code == 0, result.output
