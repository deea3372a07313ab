"""The case timeline is the legal record of handling: like the audit log, the database refuses to change or delete
a row of it (SQLite triggers, a PostgreSQL statement trigger), and handling a case only ever appends to it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from zhili.cases.models import CaseEvent


def _handled(kit) -> tuple[dict, list[CaseEvent]]:
    c = kit.dispatched()
    events = kit.events(c["id"])
    assert [e.action for e in events] == ["report", "accept", "dispatch"]
    return c, events


def test_an_update_of_a_timeline_row_is_refused_by_the_database(kit):
    _, events = _handled(kit)
    first = events[0]
    for stmt in (update(CaseEvent).where(CaseEvent.id == first.id).values(comment="事后改写"),
                 text("UPDATE case_event SET actor_name = 'forged'")):
        with pytest.raises(DBAPIError, match="append-only"), kit.db.begin_nested():
            kit.db.execute(stmt)
    kit.db.expire_all()
    assert kit.db.get(CaseEvent, (first.id, first.at)).comment == first.comment


def test_the_orm_cannot_rewrite_a_loaded_timeline_event_either(kit):
    _, events = _handled(kit)
    with pytest.raises(DBAPIError, match="append-only"), kit.db.begin_nested():
        events[1].comment = "补签"
        kit.db.flush()


def test_a_delete_of_timeline_rows_is_refused_by_the_database(kit):
    c, events = _handled(kit)
    case_id = uuid.UUID(c["id"])
    for stmt in (delete(CaseEvent).where(CaseEvent.id == events[-1].id), text("DELETE FROM case_event")):
        with pytest.raises(DBAPIError, match="append-only"), kit.db.begin_nested():
            kit.db.execute(stmt)
    assert kit.db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)) == 3


def test_postgresql_also_refuses_to_truncate_the_timeline(kit):
    if kit.db.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    _handled(kit)
    with pytest.raises(DBAPIError, match="append-only"), kit.db.begin_nested():
        kit.db.execute(text("TRUNCATE case_event CASCADE"))
    assert kit.db.scalar(select(func.count()).select_from(CaseEvent)) >= 3


def test_handling_a_case_to_the_end_only_appends_to_its_timeline(kit):
    # the whole loop under the guard, including the extension whose approval reads the request's event
    c = kit.dispatched()
    kit.step("bumen", c, "start")
    kit.step("bumen", c, "request_extension", reason="需要调配车辆", hours=8)
    kit.step("zhihui", c, "approve_extension")
    kit.step("bumen", c, "resolve", result="已清运完毕")
    kit.step("jumin", c, "verify")
    kit.step("jumin", c, "rate", rating=5)
    kit.step("zhihui", c, "close", to="closed")
    events = kit.events(c["id"])
    assert [e.action for e in events] == ["report", "accept", "dispatch", "start", "request_extension",
                                          "approve_extension", "resolve", "verify", "rate", "close"]
    assert [e.seq for e in events] == list(range(1, 11))
