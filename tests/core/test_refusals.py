"""What a refusal leaves: the request's unit of work (``settle``) rolls a refused request back and commits only
what its services kept with ``keep_on_refusal`` (a failed login's count, a wrong SMS code's attempt, the audit
record of the refusal); a page that shows the refused form again does the same with ``roll_back_refused``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.audit import AuditEvent
from zhili.core.db import keep_on_refusal, roll_back_refused, settle
from zhili.core.errors import Forbidden
from zhili.regions.models import Unit


def _record(action: str) -> Any:
    return lambda s: audit.record(s, actor=audit.SYSTEM, action=action, object_type="test")


def _audited(db: Session, action: str) -> int:
    return int(db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0)


def _names(db: Session) -> set[str]:
    db.expire_all()
    return set(db.scalars(select(Unit.name)))


def test_a_refusal_rolls_back_the_work_and_commits_what_was_kept(db: Session, world: Any) -> None:
    db.commit()  # the world is set up (the test's session turns commits into savepoints)
    before = _names(db)
    with pytest.raises(Forbidden), settle(db):
        world.units["ga"].name = "refused change"
        db.flush()
        keep_on_refusal(db, _record("test.refusal_kept"))
        raise Forbidden("refused")
    assert _names(db) == before
    assert _audited(db, "test.refusal_kept") == 1


def test_an_error_that_is_not_a_refusal_keeps_nothing(db: Session, world: Any) -> None:
    db.commit()
    with pytest.raises(RuntimeError), settle(db):
        keep_on_refusal(db, _record("test.crash_not_kept"))
        raise RuntimeError("a bug, not a refusal")
    assert _audited(db, "test.crash_not_kept") == 0


def test_kept_writes_are_written_once_and_forgotten_when_committed(db: Session, world: Any) -> None:
    db.commit()
    with settle(db):
        keep_on_refusal(db, _record("test.kept_once"))
    with pytest.raises(Forbidden), settle(db):  # a later refusal in the same session does not write it again
        raise Forbidden("refused")
    assert _audited(db, "test.kept_once") == 1


def test_a_page_that_shows_a_refused_form_rolls_back_the_work_and_keeps_the_record(db: Session,
                                                                                   world: Any) -> None:
    db.commit()
    before = _names(db)
    with settle(db):
        world.units["ga"].name = "refused change"
        keep_on_refusal(db, _record("test.page_refusal"))
        roll_back_refused(db)  # instead of rollback(): the page shows the form again with the error
    assert _names(db) == before
    assert _audited(db, "test.page_refusal") == 1
