"""Household visits: recorded by the grid's own worker, scoped like the registers, audited, masked; coverage of
the households; a follow-up case filed through the case intake with the visit linked; the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update

from testimages import same_pixels
from zhili.cases.models import Attachment, Case, Channel
from zhili.core.audit import AuditEvent
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.visits import service
from zhili.visits.models import Visit, VisitKind, VisitPerson, VisitPhoto

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
       b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def _count(db: Any, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_grid_worker_records_a_visit_to_a_household_of_the_grid(vkit: Any) -> None:
    h = vkit.household("ga")
    elder = vkit.person(h, name="张秀英")
    v = vkit.visit(h, kind="care", summary="独居老人身体良好", findings="联系电话13912345678，需更换门锁",
                   person_ids=[elder.id], photos=[service.Photo(data=PNG, filename="door.png")])
    assert (v.household_id, v.grid_id, v.path) == (h.id, h.grid_id, h.path)
    assert v.kind == VisitKind.care and v.worker_name == "wangge_a" and v.case_id is None
    assert vkit.db.scalar(select(VisitPerson.person_id).where(VisitPerson.visit_id == v.id)) == elder.id
    att = vkit.db.get(Attachment, vkit.db.scalar(select(VisitPhoto.attachment_id).where(VisitPhoto.visit_id == v.id)))
    assert att.content_type == "image/png" and att.case_id is None
    view = service.visit_view(vkit.db, v)
    assert view["persons"] == [{"id": elder.id, "name": "张秀英"}] and view["kind_label"] == "关爱走访"
    assert view["findings"] == "联系电话139****5678，需更换门锁"  # phone-shaped text masked on the way out
    audits = vkit.db.scalars(select(AuditEvent).where(AuditEvent.action == "visit.create")).all()
    assert len(audits) == 1 and audits[0].object_id == str(v.id) and audits[0].actor_name == "wangge_a"
    assert audits[0].after["household"] == str(h.id) and "13912345678" not in str(audits[0].after)


def test_a_visit_to_a_household_of_another_grid_is_refused_and_nothing_is_written(vkit: Any) -> None:
    h = vkit.household("ga")
    audits = _count(vkit.db, AuditEvent)
    with pytest.raises(NotFound, match="不在您的管辖范围内"):
        vkit.visit(h, who="wangge_b")
    assert _count(vkit.db, Visit) == 0 and _count(vkit.db, AuditEvent) == audits


def test_only_grid_workers_record_visits(vkit: Any) -> None:
    h = vkit.household("ga")
    for who in ("shequ1", "jiedao1", "zhihui"):
        with pytest.raises(Forbidden):
            vkit.visit(h, who=who)


def test_bad_input_is_refused_with_a_clear_reason(vkit: Any) -> None:
    h, other = vkit.household("ga"), vkit.household("ga")
    stranger = vkit.person(other, name="李强")
    now = dt.datetime.now(dt.UTC)
    cases = [
        ({"person_ids": [stranger.id]}, "person_not_in_household"),
        ({"kind": "party"}, "bad_visit_kind"),
        ({"summary": "  "}, "summary_required"),
        ({"visited_at": now + dt.timedelta(hours=2)}, "visit_in_future"),
        ({"visited_at": now - dt.timedelta(days=31)}, "visit_too_old"),
        ({"photos": [service.Photo(data=b"%PDF-1.4 not a photo", filename="a.pdf")]}, "photo_not_an_image"),
        ({"photos": [service.Photo(data=PNG, filename=f"{i}.png") for i in range(4)]}, "too_many_photos"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ValidationFailed) as err:
            vkit.visit(h, **kwargs)
        assert err.value.code == code, kwargs
    v = vkit.visit(h, visited_at=now - dt.timedelta(days=29))  # 补录 within 30 days
    assert v.visited_at == now - dt.timedelta(days=29)


def test_lists_and_lookups_stay_inside_the_jurisdiction(vkit: Any) -> None:
    ha, hb = vkit.household("ga"), vkit.household("gb")
    va, vb = vkit.visit(ha), vkit.visit(hb, who="wangge_b")
    db = vkit.db

    def ids(who: str, **kw: Any) -> set[Any]:
        return {v.id for v in service.list_visits(db, principal=vkit.principal(who), **kw)[0]}

    assert ids("wangge_a") == {va.id} and ids("wangge_b") == {vb.id}
    assert ids("shequ1") == {va.id, vb.id}  # community c1 holds both grids
    assert ids("jiedao1") == {va.id, vb.id} and ids("jiedao2") == set() and ids("zhihui") == {va.id, vb.id}
    assert ids("shequ1", unit_id=vkit.world.units["gb"].id) == {vb.id}
    assert ids("shequ1", household_id=ha.id) == {va.id}
    with pytest.raises(NotFound):
        service.get_visit(db, principal=vkit.principal("wangge_b"), visit_id=va.id)
    with pytest.raises(NotFound):
        service.list_visits(db, principal=vkit.principal("wangge_b"), household_id=ha.id)
    with pytest.raises(NotFound):
        service.read_photo(db, principal=vkit.principal("jiedao2"), visit_id=va.id, attachment_id=va.id)


def test_coverage_counts_households_visited_in_the_last_30_and_90_days(vkit: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    recent, older, never, twice = (vkit.household("ga") for _ in range(4))
    vkit.household("gb")
    vkit.visit(recent)
    old = vkit.visit(older)
    vkit.visit(twice)
    vkit.visit(twice, kind="routine")
    ancient = vkit.visit(never)
    vkit.db.execute(update(Visit).where(Visit.id == old.id).values(visited_at=now - dt.timedelta(days=45)))
    vkit.db.execute(update(Visit).where(Visit.id == ancient.id).values(visited_at=now - dt.timedelta(days=120)))
    cov = service.coverage(vkit.db, principal=vkit.principal("wangge_a"), now=now)
    assert cov == {"households": 4, "visited_30d": 2, "rate_30d": 0.5, "visited_90d": 3, "rate_90d": 0.75}
    other = service.coverage(vkit.db, principal=vkit.principal("wangge_b"), now=now)
    assert (other["households"], other["visited_30d"], other["rate_30d"]) == (1, 0, 0.0)
    community = service.coverage(vkit.db, principal=vkit.principal("shequ1"), now=now)
    assert (community["households"], community["visited_30d"], community["visited_90d"]) == (5, 2, 3)
    empty = service.coverage(vkit.db, principal=vkit.principal("jiedao2"), now=now)
    assert empty == {"households": 0, "visited_30d": 0, "rate_30d": None, "visited_90d": 0, "rate_90d": None}


def test_a_follow_up_files_a_case_through_intake_with_the_visit_linked(vkit: Any) -> None:
    h = vkit.household("ga")
    v = vkit.visit(h, kind="safety_check", findings="楼道堆放杂物，存在消防隐患",
                   photos=[service.Photo(data=PNG, filename="a.png")],
                   follow_up=service.FollowUp(category_code="SJ-0102", description="楼道堆放杂物，存在消防隐患"))
    case = vkit.db.get(Case, v.case_id)
    assert case is not None and case.channel == Channel.grid_worker and case.category_code == "SJ-0102"
    assert case.path == h.path and case.address == h.address and case.attributes == {"visit_id": str(v.id)}
    assert case.reporter_user_id == vkit.world.users["wangge_a"].id
    photo = vkit.db.scalar(select(VisitPhoto.attachment_id).where(VisitPhoto.visit_id == v.id))
    assert vkit.db.get(Attachment, photo).case_id == case.id  # the visit's photo is the case's photo too
    actions = set(vkit.db.scalars(select(AuditEvent.action).where(AuditEvent.action.in_(
        ["visit.create", "visit.to_case", "case.report"]))))
    assert actions == {"visit.create", "visit.to_case", "case.report"}
    assert service.visit_view(vkit.db, v)["case_number"] == case.number
    with pytest.raises(Conflict):
        service.escalate_visit(vkit.db, principal=vkit.principal("wangge_a"), visit_id=v.id,
                               follow_up=service.FollowUp(category_code="SJ-0102", description="再报一次"))


def test_a_visit_can_be_turned_into_a_case_later_but_a_bad_category_files_nothing(vkit: Any) -> None:
    v = vkit.visit(vkit.household("ga"), findings="门前路灯不亮")
    p = vkit.principal("wangge_a")
    before = _count(vkit.db, Case)
    with pytest.raises(ValidationFailed):
        service.escalate_visit(vkit.db, principal=p, visit_id=v.id,
                               follow_up=service.FollowUp(category_code="NO-SUCH", description="门前路灯不亮"))
    assert _count(vkit.db, Case) == before and v.case_id is None
    case = service.escalate_visit(vkit.db, principal=p, visit_id=v.id,
                                  follow_up=service.FollowUp(category_code="SJ-0102", description="门前路灯不亮"))
    assert v.case_id == case.id and case.description == "门前路灯不亮"
    with pytest.raises(NotFound):
        service.escalate_visit(vkit.db, principal=vkit.principal("wangge_b"), visit_id=v.id,
                               follow_up=service.FollowUp(category_code="SJ-0102", description="x"))


def test_this_week_and_this_month_start_on_local_monday_and_the_first(vkit: Any) -> None:
    now = dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.UTC)  # Monday 09:30 in Shanghai
    assert service.period_start("week", now=now) == dt.datetime(2026, 11, 22, 16, 0, tzinfo=dt.UTC)
    assert service.period_start("month", now=now) == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)
    sunday_night = dt.datetime(2026, 11, 22, 15, 59, tzinfo=dt.UTC)  # Sunday 23:59 local
    assert service.period_start("week", now=sunday_night) == dt.datetime(2026, 11, 15, 16, 0, tzinfo=dt.UTC)
    assert service.period_start("all", now=now) is None
    with pytest.raises(ValidationFailed):
        service.period_start("year", now=now)


# -- the API ------------------------------------------------------------------------------------------------

API = "/api/v1/visits"


def test_the_api_records_lists_and_escalates_visits_within_the_grid(client: Any, vkit: Any) -> None:
    w = vkit.world
    h, other = vkit.household("ga"), vkit.household("gb")
    elder = vkit.person(h, name="张秀英")
    up = client.post("/api/v1/attachments", headers=w.headers("wangge_a"), files={"file": ("a.png", PNG, "image/png")})
    assert up.status_code == 201, up.text
    body = {"household_id": str(h.id), "kind": "care", "summary": "老人身体良好", "person_ids": [str(elder.id)],
            "attachment_ids": [up.json()["id"]]}
    r = client.post(API, json=body, headers=w.headers("wangge_a"))
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["kind_label"] == "关爱走访" and visit["persons"][0]["name"] == "张秀英"
    assert visit["photo_ids"] == [up.json()["id"]]
    photo = client.get(f"{API}/{visit['id']}/photos/{up.json()['id']}", headers=w.headers("shequ1"))
    assert photo.status_code == 200 and same_pixels(photo.content, PNG)
    refused = client.post(API, json={**body, "household_id": str(other.id), "person_ids": [], "attachment_ids": []},
                          headers=w.headers("wangge_a"))
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    assert client.post(API, json=body, headers=w.headers("shequ1")).json()["code"] == "visit_grid_worker_only"
    listed = client.get(API, params={"mine": "true"}, headers=w.headers("wangge_a")).json()
    assert [v["id"] for v in listed["items"]] == [visit["id"]] and listed["total"] == 1
    assert client.get(API, headers=w.headers("wangge_b")).json()["total"] == 0
    assert client.get(f"{API}/{visit['id']}", headers=w.headers("wangge_b")).status_code == 404
    cov = client.get(f"{API}/coverage", headers=w.headers("wangge_a")).json()
    assert (cov["households"], cov["visited_30d"], cov["rate_30d"]) == (1, 1, 1.0)
    filed = client.post(f"{API}/{visit['id']}/case", json={"category_code": "SJ-0102", "description": "门锁损坏"},
                        headers=w.headers("wangge_a"))
    assert filed.status_code == 201, filed.text
    assert client.get(f"{API}/{visit['id']}", headers=w.headers("shequ1")).json()["case_number"] == \
        filed.json()["case_number"]
    assert client.get(API, headers=w.headers("jumin")).status_code == 403
    assert client.get(API).status_code == 401


def test_a_refused_follow_up_keeps_nothing_of_the_visit_either(vkit: Any) -> None:
    h = vkit.household("ga")
    stored = _count(vkit.db, Attachment)
    for follow_up, code in ((service.FollowUp(category_code="", description="漏水"), "category_required"),
                            (service.FollowUp(category_code="SJ-0102", description=" "), "description_required")):
        with pytest.raises(ValidationFailed) as err:
            vkit.visit(h, photos=[service.Photo(data=PNG, filename="a.png")], follow_up=follow_up)
        assert err.value.code == code
    assert (_count(vkit.db, Visit), _count(vkit.db, Attachment), _count(vkit.db, Case)) == (0, stored, 0)


def test_the_follow_up_case_passes_intakes_channel_rule(vkit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.cases import intake

    seen: list[tuple[Any, Any]] = []

    def rule(principal: Any, channel: Any) -> Any:  # intake's rule, stricter for this test
        seen.append((principal.username, channel))
        raise ValidationFailed("该渠道暂停受理", code="bad_channel")

    monkeypatch.setattr(intake, "resolve_channel", rule)
    with pytest.raises(ValidationFailed) as err:
        vkit.visit(vkit.household("ga"), follow_up=service.FollowUp(category_code="SJ-0102", description="漏水"))
    assert err.value.code == "bad_channel" and seen == [("wangge_a", Channel.grid_worker)]
    assert _count(vkit.db, Case) == 0  # (the request's transaction, visit included, is rolled back)
