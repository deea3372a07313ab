"""A visit form sent twice records one visit: the form's submission token names the record (``submit_visit``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from zhili.cases.models import Case
from zhili.core.audit import AuditEvent
from zhili.core.errors import ValidationFailed
from zhili.core.ids import new_id
from zhili.visits import service
from zhili.visits.models import Visit


def _count(db: Any, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _submit(vkit: Any, household: Any, token: str, who: str = "wangge_a", **fields: Any) -> tuple[Visit, bool]:
    fields.setdefault("kind", "care")
    fields.setdefault("summary", "老人身体状况良好")
    out = service.submit_visit(vkit.db, principal=vkit.principal(who), household_id=household.id, submission=token,
                               **fields)
    vkit.db.flush()
    return out


def test_the_same_form_sent_twice_records_one_visit_and_answers_with_it(vkit: Any) -> None:
    h = vkit.household("ga")
    person = vkit.person(h)
    token = str(new_id())
    first, created = _submit(vkit, h, token, findings="门锁损坏", person_ids=[person.id])
    again, created_again = _submit(vkit, h, token, findings="门锁损坏", person_ids=[person.id])
    assert (created, created_again) == (True, False) and again.id == first.id
    assert _count(vkit.db, Visit) == 1
    assert len(vkit.db.scalars(select(AuditEvent).where(AuditEvent.action == "visit.create")).all()) == 1


def test_the_same_token_with_other_content_is_refused_and_a_new_token_records_a_new_visit(vkit: Any) -> None:
    h = vkit.household("ga")
    token = str(new_id())
    _submit(vkit, h, token)
    for changed in ({"summary": "改过的摘要"}, {"kind": "routine"}, {"findings": "新发现"}):
        with pytest.raises(ValidationFailed) as err:
            _submit(vkit, h, token, **changed)
        assert err.value.code == "visit_resent_changed" and "已经保存过" in err.value.message
    assert _count(vkit.db, Visit) == 1
    _, created = _submit(vkit, h, str(new_id()), summary="改过的摘要")
    assert created and _count(vkit.db, Visit) == 2


def test_a_token_names_one_visit_per_recorder(vkit: Any) -> None:
    token = str(new_id())
    mine, _ = _submit(vkit, vkit.household("ga"), token)
    theirs, created = _submit(vkit, vkit.household("gb"), token, who="wangge_b")
    assert created and theirs.id != mine.id and _count(vkit.db, Visit) == 2


def test_a_follow_up_sent_twice_files_one_case(vkit: Any) -> None:
    h = vkit.household("ga")
    token = str(new_id())
    follow_up = service.FollowUp(category_code="SJ-0102", description="楼道堆放杂物")
    first, _ = _submit(vkit, h, token, follow_up=follow_up)
    again, created = _submit(vkit, h, token, follow_up=follow_up)
    assert not created and again.case_id == first.case_id is not None
    assert _count(vkit.db, Case) == 1


def test_two_requests_with_the_same_token_at_once_record_one_visit(vkit: Any, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    # The other request wrote the visit after this one looked for it: the primary key refuses the second row, and
    # the answer is the visit the other request recorded.
    h = vkit.household("ga")
    token = str(new_id())
    first_id = _submit(vkit, h, token)[0].id
    vkit.db.expunge_all()  # as in another request's session: this one has not seen the row
    real_get = vkit.db.get
    missed: list[Any] = []

    def get_missing_once(model: Any, ident: Any, **kw: Any) -> Any:
        if model is Visit and not missed:
            missed.append(ident)
            return None
        return real_get(model, ident, **kw)

    monkeypatch.setattr(vkit.db, "get", get_missing_once)
    again, created = _submit(vkit, h, token)
    assert missed == [first_id] and not created and again.id == first_id
    assert _count(vkit.db, Visit) == 1
