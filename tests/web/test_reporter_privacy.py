"""Privacy as the report form promises (联系方式……不会向处置部门公开): the department handler, the grid worker and
the community staff never see who reported a case — not the account, the display name, the phone, nor the name
and phone typed for a call-back — in any page, API answer or timeline step; the command centre reads the typed
call-back name and phone only through its audited reveal on the case page, with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from pagekit import page, sign_in
from sqlalchemy import select

from zhili.cases.models import Case
from zhili.core.audit import AuditEvent
from zhili.core.crypto import get_cipher

ACCOUNT, DISPLAY, ACCOUNT_PHONE = "jumin", "张小明", "13700007777"
CALLBACK_NAME, CALLBACK_PHONE = "张先生", "13912345678"
SECRETS = (ACCOUNT, DISPLAY, ACCOUNT_PHONE, CALLBACK_NAME, CALLBACK_PHONE)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def reported(client: Any, site: Any) -> Case:
    """A resident (with a display name and a phone on their account) reports through the H5 form, leaving a
    call-back name and phone; the case is handled up to the resident's own verification and rating."""
    resident = site.world.users["jumin"]
    resident.display_name = DISPLAY
    resident.phone_enc = get_cipher().encrypt(ACCOUNT_PHONE, table="app_user", column="phone", row_id=resident.id)
    site.world.users["bumen"].department = "HW"
    site.world.users["bumen"].display_name = "孙处置"
    site.db.flush()
    sign_in(client, site.token("jumin"))
    form = page(client.get("/h5/report"))
    r = client.post("/h5/report", data={
        "csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
        "category_code": "SJ-0102", "description": "小区门口垃圾堆放三天无人清运", "lon": "119.1", "lat": "31.1",
        "crs": "wgs84", "reporter_name": CALLBACK_NAME, "reporter_phone": CALLBACK_PHONE}, follow_redirects=False)
    assert r.status_code == 303, r.text
    case = site.db.scalar(select(Case).order_by(Case.reported_at.desc()).limit(1))
    assert case.reporter_name_enc is not None and CALLBACK_NAME.encode() not in case.reporter_name_enc  # encrypted
    site.act("zhihui", case, "accept")
    site.act("zhihui", case, "dispatch", department="HW")
    site.act("bumen", case, "start")
    site.act("bumen", case, "resolve", result="已清运完毕")
    site.act("jumin", case, "verify")
    site.act("jumin", case, "rate", rating=5, comment="很满意")
    return case


def _api(client: Any, site: Any, who: str, path: str) -> str:
    r = client.get(f"/api/v1{path}", headers=site.world.headers(who))
    assert r.status_code == 200, r.text
    return r.text


def test_the_department_handler_never_sees_who_reported(client: Any, site: Any, reported: Case) -> None:
    sign_in(client, site.token("bumen"))
    for url in (f"/console/cases/{reported.id}", "/console/inbox", "/console/supervisions"):
        r = client.get(url)
        assert r.status_code == 200 and _leaks(r.text) == [], url
    assert "上报人" in page(client.get(f"/console/cases/{reported.id}")).text  # the reporter's steps, unnamed
    for path in (f"/cases/{reported.id}", f"/cases/{reported.id}/timeline", "/cases", "/notifications"):
        assert _leaks(_api(client, site, "bumen", path)) == [], path
    assert client.get(f"/console/cases/{reported.id}/reporter").status_code == 405  # a reveal is only ever posted


def test_the_grid_worker_and_community_staff_never_see_who_reported(client: Any, site: Any) -> None:
    resident = site.world.users["jumin"]
    resident.display_name = DISPLAY
    site.db.flush()
    case = site.dispatched_to_grid("ga")
    site.act("wangge_a", case, "start")
    site.act("wangge_a", case, "resolve", result="已处理")
    site.act("jumin", case, "verify")
    sign_in(client, site.token("wangge_a"))
    r = client.get(f"/gw/cases/{case.id}")
    assert r.status_code == 200 and _leaks(r.text) == []
    assert _leaks(_api(client, site, "wangge_a", f"/cases/{case.id}/timeline")) == []
    sign_in(client, site.token("shequ1"))
    r = client.get(f"/console/cases/{case.id}")
    assert r.status_code == 200 and _leaks(r.text) == []
    assert page(r).find_all("form", action=f"/console/cases/{case.id}/reporter") == []  # no reveal offered


def test_the_command_centre_reads_the_call_back_name_and_phone_only_through_the_audited_reveal(
        client: Any, site: Any, reported: Case) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"/console/cases/{reported.id}"))
    assert _leaks(p.html) == []  # not even the command centre reads them in the page or the timeline
    form = p.find("form", action=f"/console/cases/{reported.id}/reporter")
    assert form is not None and p.unlabelled_controls() == []
    r = client.post(f"/console/cases/{reported.id}/reporter", data={"csrf_token": p.csrf(), "reason": " "})
    assert r.status_code == 422 and "查看事由" in page(r).text and _leaks(r.text) == []
    r = client.post(f"/console/cases/{reported.id}/reporter", data={"csrf_token": p.csrf(),
                                                                     "reason": "办结回访核实满意度"})
    assert r.status_code == 200
    shown = page(r).text
    assert CALLBACK_NAME in shown and CALLBACK_PHONE in shown  # what the resident typed for the call-back
    assert DISPLAY not in shown and ACCOUNT_PHONE not in shown  # … rather than their account's
    audits = site.db.scalars(select(AuditEvent).where(AuditEvent.object_id == str(reported.id),
                                                      AuditEvent.action.like("case.reveal%"))
                             .order_by(AuditEvent.seq)).all()
    assert [(a.action, a.actor_name, a.reason) for a in audits] == [
        ("case.reveal_refused", "zhihui", None), ("case.reveal_reporter", "zhihui", "办结回访核实满意度")]


def test_others_asking_for_the_reveal_are_refused_and_recorded(client: Any, site: Any, reported: Case) -> None:
    sign_in(client, site.token("bumen"))
    token = page(client.get(f"/console/cases/{reported.id}")).csrf()
    r = client.post(f"/console/cases/{reported.id}/reporter", data={"csrf_token": token, "reason": "想联系上报人"})
    assert r.status_code == 403 and _leaks(r.text) == []
    refused = site.db.scalars(select(AuditEvent).where(AuditEvent.action == "case.reveal_refused",
                                                       AuditEvent.object_id == str(reported.id))).all()
    assert [a.actor_name for a in refused] == ["bumen"]
