"""Intake with a text router (智能分拨, the interface of :mod:`zhili.cases.suggest`): a report filed without a
category takes the router's confident suggestion and is dispatched by the responsibility list as any other; an
unsure one is refused with the suggestions for a person to pick; with no router — or a broken one — the loop
behaves exactly as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select

from zhili.cases import suggest
from zhili.cases.models import CaseEvent


class FakeRouter:
    """Suggests by keyword: 垃圾 → 暴露垃圾 (T0101), anything else → 占道经营 (T0102), at a fixed confidence."""

    def __init__(self, p: float, *, broken: bool = False) -> None:
        self.p, self.broken, self.calls = p, broken, 0
        self.model_id = uuid.uuid4()

    def advise(self, session, reports: Sequence[suggest.ReportText], *, targets=("category",), allowed=None,
               k: int = 3) -> list[dict[str, suggest.Advice]]:
        self.calls += 1
        if self.broken:
            raise RuntimeError("model file damaged")
        out = []
        for r in reports:
            first, second = ("T0101", "T0102") if "垃圾" in r.description else ("T0102", "T0101")
            guesses = tuple(g for g in (suggest.Guess(first, self.p, ("垃圾",)),
                                        suggest.Guess(second, round(1 - self.p, 3), ()),
                                        suggest.Guess("T0109", 0.0, ()))
                            if allowed is None or g.code in allowed["category"])
            out.append({"category": suggest.Advice("category", self.model_id, "category@1", guesses)})
        return out


@pytest.fixture(autouse=True)
def _restore_router() -> Iterator[None]:
    before = suggest.current()  # the application installs the platform's own router when it is built
    yield
    suggest.install(before)


@pytest.fixture
def router() -> FakeRouter:
    r = FakeRouter(0.93)
    suggest.install(r)
    return r


def test_without_a_router_a_report_must_name_its_category(kit):
    suggest.install(None)
    body = kit.report("jumin", category=None, expect=422)
    assert body["code"] == "category_required" and body["details"]["suggestions"] == []
    assert "请选择事件类别" in body["message"]


def test_a_confident_suggestion_classifies_the_report_and_the_timeline_says_so(kit, router):
    c = kit.report("jumin", category=None, description="楼下垃圾桶满了好几天没人清运")
    assert c["category_code"] == "T0101"
    events = kit.timeline(c["id"], who="zhihui")
    classify = [e for e in events if e["action"] == "classify"]
    assert len(classify) == 1 and "暴露垃圾" in classify[0]["comment"] and "93%" in classify[0]["comment"]
    assert classify[0]["actor_name"] == "系统"
    # an inactive category is never suggested, whatever the model says
    event = kit.db.scalar(select(CaseEvent).where(CaseEvent.case_id == uuid.UUID(c["id"]),
                                                  CaseEvent.action == "classify"))
    assert [s["code"] for s in event.payload["suggestions"]] == ["T0101", "T0102"]
    assert event.payload["model"] == "category@1" and event.payload["model_id"] == str(router.model_id)
    assert not event.public  # the reporter reads 已受理, not the model's workings


def test_a_classified_report_is_dispatched_by_the_responsibility_list_like_any_other(kit, router):
    r = kit.post("zhihui", "/dispatch-rules", json={
        "name": "暴露垃圾→城管", "category_code": "T0101", "region_path": kit.unit("district").path,
        "target_department": "CG", "confidence": 0.9})
    assert r.status_code == 201, r.text
    c = kit.report("jumin", category=None, description="小区垃圾没人清运")
    assert c["state"] == "dispatched" and c["assignee_department"] == "CG"
    actions = [e["action"] for e in kit.timeline(c["id"], who="zhihui")]
    assert actions == ["report", "classify", "accept", "dispatch"]


def test_an_unsure_suggestion_is_refused_with_the_top_suggestions_by_name(kit):
    suggest.install(FakeRouter(0.55))
    body = kit.report("jumin", category=None, description="门口摆摊的占了半条路", expect=422)
    assert body["code"] == "category_required"
    assert [(s["code"], s["name"]) for s in body["details"]["suggestions"]] == [("T0102", "占道经营"),
                                                                                 ("T0101", "暴露垃圾")]
    assert "占道经营（55%）" in body["message"]


def test_a_report_naming_its_category_is_not_second_guessed(kit, router):
    c = kit.report("jumin", category="T0102", description="楼下垃圾桶满了")
    assert c["category_code"] == "T0102" and router.calls == 0


def test_a_broken_router_leaves_the_loop_as_without_a_model(kit):
    suggest.install(FakeRouter(0.99, broken=True))
    assert kit.report("jumin", category=None, expect=422)["code"] == "category_required"
    assert kit.report("jumin")["category_code"] == "T0101"
