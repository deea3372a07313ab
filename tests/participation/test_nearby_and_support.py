"""Public cases nearby (public fields only, never a non-public category) and 附议 (once per resident)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from zhili.cases.models import CaseSupport
from zhili.cases.public import DEFAULT_PUBLIC_PREFIXES
from zhili.core.audit import AuditEvent
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.participation import service

API = "/api/v1/participation"


def test_nearby_lists_open_public_cases_within_the_radius_nearest_first(part: Any) -> None:
    far = part.report(lon=119.2, lat=31.1)  # ~9.5 km east
    near = part.report(lon=119.1, lat=31.1)
    nearer = part.report(lon=119.1, lat=31.1005, description="路灯不亮已经一周")
    rows = service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.1, lat=31.1006)
    assert [r.id for r in rows] == [nearer.id, near.id]
    assert rows[0].distance_m == 0 and rows[1].distance_m == 50  # rounded to 50 m
    assert rows[0].place == "金陵社区" and rows[0].category_name and rows[0].state_label == "已上报"
    assert far.id in {r.id for r in service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.2,
                                                         lat=31.1)}


def test_nearby_shows_no_reporter_no_address_and_masks_phone_numbers_in_the_summary(part: Any, client: Any) -> None:
    case = part.report(description="请联系13812345678，东门3幢2单元501室门口垃圾", address="金陵路88号3幢2单元501室",
                       reporter_name="王芳", reporter_phone="13812345678")
    rows = service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.1, lat=31.1)
    assert [r.id for r in rows] == [case.id]
    fields = {f.name for f in dataclasses.fields(rows[0])}
    assert fields == {"id", "category_name", "summary", "state", "state_label", "reported_at", "place", "distance_m",
                      "support_count", "supported", "own"}
    assert "13812345678" not in rows[0].summary and "138****5678" in rows[0].summary
    r = client.get(f"{API}/cases/nearby", params={"lon": 119.1, "lat": 31.1},
                   headers=part.world.headers("jumin2"))
    assert r.status_code == 200
    body = r.text
    for secret in ("13812345678", "王芳", "金陵路88号", "reporter", case.number, "lon", "lat"):
        assert secret not in body


def test_nearby_never_lists_cases_of_non_public_categories_or_closed_or_private_ones(part: Any) -> None:
    dispute = part.report(category="SG-0101", description="邻居噪音扰民引发争吵")  # 矛盾纠纷
    security = part.report(category="SG-0201", description="出租屋可疑人员")  # 治安隐患
    private = part.report(description="垃圾", is_public=False)
    public = part.report()
    rows = service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.1, lat=31.1)
    assert [r.id for r in rows] == [public.id]
    for hidden in (dispute, security, private):
        with pytest.raises(NotFound):
            service.get_public_case(part.db, principal=part.principal("jumin2"), case_id=hidden.id)
    assert not any(p.startswith(("SG-01", "SG-02")) for p in DEFAULT_PUBLIC_PREFIXES)
    assert not service.is_public_category("SG-0101") and service.is_public_category("SJ-0102")


def test_nearby_by_community_and_category(part: Any) -> None:
    a = part.report(lon=119.1, lat=31.1)
    b = part.report(lon=119.6, lat=31.1)  # 画溪村
    rows = service.nearby_cases(part.db, principal=part.principal("jumin2"), community_id=part.world.units["c2"].id)
    assert [r.id for r in rows] == [b.id]
    assert service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.1, lat=31.1,
                                category="BJ-01") == []
    assert [r.id for r in service.nearby_cases(part.db, principal=part.principal("jumin2"), lon=119.1, lat=31.1,
                                               category="SJ-01")] == [a.id]
    with pytest.raises(ValidationFailed, match="请允许定位或选择一个社区"):
        service.nearby_cases(part.db, principal=part.principal("jumin2"))


def test_a_resident_supports_a_case_once_and_staff_see_the_count(part: Any) -> None:
    case = part.report()
    view = service.support_case(part.db, principal=part.principal("jumin2"), case_id=case.id)
    assert view.support_count == 1 and view.supported
    with pytest.raises(Conflict, match="您已附议过该事件"):
        service.support_case(part.db, principal=part.principal("jumin2"), case_id=case.id)
    assert part.db.scalar(select(func.count()).select_from(CaseSupport)) == 1
    part.db.refresh(case)
    assert case.support_count == 1 and case.version == 1  # a support is not a change of the case itself
    with pytest.raises(ValidationFailed, match="本人上报"):
        service.support_case(part.db, principal=part.principal("jumin"), case_id=case.id)
    with pytest.raises(Forbidden):
        service.support_case(part.db, principal=part.principal("wangge_a"), case_id=case.id)
    events = part.db.scalars(select(AuditEvent).where(AuditEvent.action == "case.support")).all()
    assert [e.object_id for e in events] == [str(case.id)]


def test_support_through_the_api_answers_conflict_the_second_time(part: Any, client: Any) -> None:
    case = part.report()
    h = part.world.headers("jumin2")
    r = client.post(f"{API}/cases/{case.id}/support", headers=h)
    assert r.status_code == 201 and r.json()["support_count"] == 1
    r = client.post(f"{API}/cases/{case.id}/support", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "already_supported"
    r = client.get(f"/api/v1/cases/{case.id}", headers=part.world.headers("zhihui"))
    assert r.json()["support_count"] == 1


def test_similar_open_cases_are_offered_before_a_new_report_of_the_same_category(part: Any) -> None:
    case = part.report(lon=119.1, lat=31.1)
    p = part.principal("jumin2")
    assert [r.id for r in service.similar_open_cases(part.db, principal=p, category_code="SJ-0102", lon=119.1001,
                                                     lat=31.1)] == [case.id]
    assert service.similar_open_cases(part.db, principal=p, category_code="SJ-0103", lon=119.1, lat=31.1) == []
    assert service.similar_open_cases(part.db, principal=p, category_code="SJ-0102", lon=119.11, lat=31.1) == []
    assert service.similar_open_cases(part.db, principal=p, category_code="SG-0101", lon=119.1, lat=31.1) == []
