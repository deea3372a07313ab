"""Notices scoped by jurisdiction (staff publish for their units; residents see their community and its
ancestors), the monthly disclosure from case_stat, and suggestions whose replies only their author sees."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from zhili.cases.models import CaseStat
from zhili.core.audit import AuditEvent
from zhili.core.db import utcnow
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.participation import service

API = "/api/v1/participation"


def notice(part: Any, who: str, unit: str, title: str, **data: Any) -> Any:
    return service.create_notice(part.db, principal=part.principal(who),
                                 data={"unit_id": part.world.units[unit].id, "title": title, "body": "正文", **data})


def titles(rows: list[Any]) -> list[str]:
    return [r.title for r in rows]


def test_staff_publish_only_for_units_in_their_jurisdiction(part: Any) -> None:
    n = notice(part, "shequ1", "c1", "停水通知")
    assert n.path == part.world.units["c1"].path
    with pytest.raises(NotFound):
        notice(part, "shequ1", "c2", "别人的社区")
    with pytest.raises(NotFound):
        notice(part, "shequ1", "s1", "上级街道")
    with pytest.raises(Forbidden):
        notice(part, "wangge_a", "ga", "网格员不能发布")
    with pytest.raises(Forbidden):
        notice(part, "jumin", "c1", "居民不能发布")
    units = {u.code for u in service.publishable_units(part.db, principal=part.principal("jiedao1"))}
    assert units == {"330522001", "330522001001"}
    assert part.db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(n.id))).all() == \
        ["notice.create"]


def test_residents_see_notices_of_their_community_and_its_ancestors_only_while_live(part: Any) -> None:
    now = utcnow()
    notice(part, "shequ1", "c1", "金陵社区停水")
    notice(part, "jiedao1", "s1", "雉城街道防汛", pinned=True)
    notice(part, "zhihui", "district", "全县通告")
    notice(part, "jiedao2", "c2", "画溪村通知")
    notice(part, "jiedao1", "s1", "明天才发布", publish_at=now + dt.timedelta(days=1))
    notice(part, "jiedao1", "s1", "已下线", publish_at=now - dt.timedelta(days=2), expire_at=now - dt.timedelta(days=1))
    withdrawn = notice(part, "shequ1", "c1", "撤回的")
    service.withdraw_notice(part.db, principal=part.principal("shequ1"), notice_id=withdrawn.id)

    p = part.principal("jumin")
    assert titles(service.notices_for(part.db, principal=p)) == ["全县通告"]  # no community chosen: district only
    service.set_resident_community(part.db, principal=p, community_id=part.world.units["c1"].id)
    rows = service.notices_for(part.db, principal=p)
    assert titles(rows)[0] == "雉城街道防汛" and set(titles(rows)) == {"雉城街道防汛", "金陵社区停水", "全县通告"}
    assert set(titles(service.notices_for(part.db, principal=p, community_id=part.world.units["c2"].id))) == \
        {"画溪村通知", "全县通告"}
    with pytest.raises(NotFound):
        service.read_notice(part.db, principal=p, notice_id=withdrawn.id)


def test_staff_lists_and_edits_only_notices_of_their_jurisdiction(part: Any) -> None:
    mine = notice(part, "shequ1", "c1", "金陵社区停水")
    other = notice(part, "jiedao2", "c2", "画溪村通知")
    rows, total = service.list_notices(part.db, principal=part.principal("shequ1"))
    assert titles(rows) == ["金陵社区停水"] and total == 1
    assert set(titles(service.list_notices(part.db, principal=part.principal("zhihui"))[0])) == \
        {"金陵社区停水", "画溪村通知"}
    with pytest.raises(NotFound):
        service.update_notice(part.db, principal=part.principal("shequ1"), notice_id=other.id, changes={"title": "x"})
    with pytest.raises(NotFound):
        service.withdraw_notice(part.db, principal=part.principal("shequ1"), notice_id=other.id)
    updated = service.update_notice(part.db, principal=part.principal("shequ1"), notice_id=mine.id,
                                    changes={"title": "金陵社区停水（延期）"})
    assert updated.title == "金陵社区停水（延期）"
    with pytest.raises(ValidationFailed, match="下线时间必须晚于发布时间"):
        service.update_notice(part.db, principal=part.principal("shequ1"), notice_id=mine.id,
                              changes={"expire_at": mine.publish_at - dt.timedelta(hours=1)})


def test_the_notice_api_is_scoped_the_same_way(part: Any, client: Any) -> None:
    other = notice(part, "jiedao2", "c2", "画溪村通知")
    r = client.post(f"{API}/notices", headers=part.world.headers("shequ1"),
                    json={"unit_id": str(part.world.units["c1"].id), "title": "通知", "body": "内容"})
    assert r.status_code == 201, r.text
    r = client.delete(f"{API}/notices/{other.id}", headers=part.world.headers("shequ1"))
    assert r.status_code == 404
    r = client.get(f"{API}/notices/manage", headers=part.world.headers("shequ1"))
    assert [n["title"] for n in r.json()["items"]] == ["通知"]
    assert client.get(f"{API}/notices/manage", headers=part.world.headers("jumin")).status_code == 403


def test_the_disclosure_sums_last_months_statistics_of_the_community(part: Any) -> None:
    c1, ga, gc = part.world.units["c1"], part.world.units["ga"], part.world.units["gc"]
    today = dt.date(2026, 3, 15)
    for path, day, reported, closed, on_time, rating_sum, rating_count in [
        (ga.path, dt.date(2026, 2, 1), 4, 3, 2, 9, 2),
        (ga.path, dt.date(2026, 2, 28), 2, 1, 1, 5, 1),
        (ga.path, dt.date(2026, 3, 1), 50, 50, 50, 0, 0),  # this month: not yet disclosed
        (ga.path, dt.date(2026, 1, 31), 70, 0, 0, 0, 0),  # the month before
        (gc.path, dt.date(2026, 2, 10), 90, 0, 0, 0, 0),  # another community
    ]:
        part.db.add(CaseStat(path=path, day=day, category_code="SJ-0102", reported=reported, accepted=reported,
                             closed=closed, closed_on_time=on_time, overdue=0, rating_sum=rating_sum,
                             rating_count=rating_count))
    part.db.flush()
    d = service.disclosure(part.db, principal=part.principal("jumin"), community_id=c1.id, today=today)
    assert (d.month, d.reported, d.closed, d.closed_on_time) == ("2026年2月", 6, 4, 3)
    assert d.on_time_rate == 0.75 and d.satisfaction == 4.67 and d.rating_count == 3
    empty = service.disclosure(part.db, principal=part.principal("jumin"), community_id=c1.id,
                               today=dt.date(2025, 6, 1))
    assert empty.reported == 0 and empty.on_time_rate is None and empty.satisfaction is None


def test_a_suggestion_goes_to_its_unit_and_the_reply_is_seen_only_by_its_author(part: Any) -> None:
    jumin = part.principal("jumin")
    s = service.submit_suggestion(part.db, principal=jumin, title="增设快递柜", body="小区没有快递柜",
                                  unit_id=part.world.units["c1"].id)
    assert [x.id for x in service.list_suggestions(part.db, principal=part.principal("shequ1"))[0]] == [s.id]
    assert service.list_suggestions(part.db, principal=part.principal("jiedao2"))[0] == []
    with pytest.raises(NotFound):
        service.reply_suggestion(part.db, principal=part.principal("jiedao2"), suggestion_id=s.id, body="不归我管")
    service.reply_suggestion(part.db, principal=part.principal("shequ1"), suggestion_id=s.id,
                             body="已联系物业，下月安装")
    thread = service.get_suggestion(part.db, principal=jumin, suggestion_id=s.id)
    assert [r.body for r in thread.replies] == ["已联系物业，下月安装"] and thread.suggestion.status == "replied"
    assert thread.replies[0].unit_name == "金陵社区"
    with pytest.raises(NotFound):
        service.get_suggestion(part.db, principal=part.principal("jumin2"), suggestion_id=s.id)
    assert service.my_suggestions(part.db, principal=part.principal("jumin2"))[0] == []
    assert [m.user_id for m in part.inbox.sent] == [part.world.users["jumin"].id]
    with pytest.raises(Forbidden):
        service.submit_suggestion(part.db, principal=part.principal("shequ1"), title="x", body="y")


def test_a_suggestion_without_a_unit_goes_to_the_home_community_or_else_the_district(part: Any) -> None:
    jumin = part.principal("jumin")
    s = service.submit_suggestion(part.db, principal=jumin, title="建议", body="内容")
    assert s.path == part.world.units["district"].path
    service.set_resident_community(part.db, principal=jumin, community_id=part.world.units["c2"].id)
    s2 = service.submit_suggestion(part.db, principal=jumin, title="建议", body="内容")
    assert s2.path == part.world.units["c2"].path
    with pytest.raises(ValidationFailed, match="请填写标题"):
        service.submit_suggestion(part.db, principal=jumin, title="  ", body="内容")


def test_the_suggestion_api_hides_other_residents_threads(part: Any, client: Any) -> None:
    r = client.post(f"{API}/suggestions", headers=part.world.headers("jumin"), json={"title": "建议", "body": "内容"})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert client.get(f"{API}/suggestions/{sid}", headers=part.world.headers("jumin2")).status_code == 404
    r = client.post(f"{API}/suggestions/{sid}/replies", headers=part.world.headers("zhihui"), json={"body": "收到"})
    assert r.status_code == 201
    thread = client.get(f"{API}/suggestions/{sid}", headers=part.world.headers("jumin")).json()
    assert [x["body"] for x in thread["replies"]] == ["收到"]
