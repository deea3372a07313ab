"""Residence-permit pages (居住证申领): the resident applies from the H5 portal with their stay as evidence and
follows the steps; staff act on the application through the ordinary case pages, whose actions are the permit
flow's own; the mailing address is shown only through an audited reveal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pagekit import page, png, sign_in
from sqlalchemy import select

from zhili.cases.models import Case, CaseState
from zhili.core.audit import AuditEvent
from zhili.core.clock import local_day
from zhili.core.db import utcnow
from zhili.rental import police, rooms, stays
from zhili.rental.models import Stay


@pytest.fixture
def police_fake() -> Iterator[None]:
    police.set_gateway(police.RecordingPoliceGateway())
    police.set_dispatcher(lambda ids: None)
    try:
        yield
    finally:
        police.set_gateway(None)
        police.set_dispatcher(None)


def _stay(site: Any, months: int = 8) -> Stay:
    """A room of grid A registered by its grid worker, and jumin checked in there ``months`` ago from the portal
    (the stay is linked to jumin's account)."""
    household = site.household_in("ga", room="1201", address="金陵路88号2幢")
    staff = site.principal("wangge_a")
    done = rooms.register_room(site.db, principal=staff, data={
        "landlord": {"name": "王房东", "id_number": "330522197001010010", "phone": "13900000002"},
        "household_id": household.id, "label": "次卧", "capacity": 2})
    today = local_day(utcnow())
    m = today.month - 1 - months
    checked = stays.check_in(site.db, principal=site.principal("jumin"), checkin_code=done.room.checkin_code,
                             data={"name": "租客丙", "id_number": "340102199503120010", "phone": "13900000001",
                                   "photo": png(4, 4),
                                   "move_in": dt.date(today.year + m // 12, m % 12 + 1, min(today.day, 28)),
                                   "expected_move_out": today + dt.timedelta(days=200)})
    site.db.flush()
    return checked.stay


def _act(client: Any, url: str, **data: str) -> Any:
    p = page(client.get(url))
    return client.post(f"{url}/act", data={"csrf_token": p.csrf(), "version": p.find("input", name="version")
                                           .attrs["value"], **data}, follow_redirects=False)


def test_a_resident_applies_on_the_phone_and_staff_take_it_through_the_case_pages_to_a_mailed_permit(client, site,
                                                                                                  police_fake):
    st = _stay(site)
    sign_in(client, site.token("jumin"))
    mine = page(client.get("/h5/permit"))
    assert mine.h1() == "居住证申领" and "金陵路88号2幢" in mine.text
    link = f"/h5/permit/new?stay_id={st.id}"
    assert any(a.attrs.get("href") == link for a in mine.find_all("a"))
    form = page(client.get(link))
    assert "已居住" in form.text and "8个月" in form.text and form.unlabelled_controls() == []
    refused = client.post("/h5/permit/new", data={"csrf_token": form.csrf(), "stay_id": str(st.id),
                                                  "delivery": "mail", "address": ""})
    assert refused.status_code == 422 and "收件地址" in page(refused).text
    r = client.post("/h5/permit/new", data={"csrf_token": form.csrf(), "stay_id": str(st.id), "delivery": "mail",
                                            "address": "浙江省长兴县金陵路88号2幢1201室", "note": "在工业园区就业"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    case = site.db.scalar(select(Case).where(Case.flow == "residence_permit"))
    assert case is not None and r.headers["location"] == f"/h5/permit/cases/{case.id}?msg=permit_applied"
    progress = page(client.get(r.headers["location"]))
    assert "办理进度" in progress.text and "已申请" in progress.text and "居住证申请已提交" in progress.text

    sign_in(client, site.token("shequ1"))
    staff = page(client.get(f"/console/cases/{case.id}"))
    shown = {i.attrs["value"] for i in staff.find_all("input", name="action")}
    assert shown == {"accept", "reject", "request_correction"}, shown  # the permit's rows, not dispatch
    assert "居住证申请" in staff.text and "次卧" in staff.text and "已申请" in staff.text
    assert "工业园区" in staff.text and "浙江省长兴县金陵路88号2幢1201室" not in staff.text  # the address is not shown
    r = _act(client, f"/console/cases/{case.id}", action="request_correction", reason="请上传劳动合同")
    assert r.status_code == 303, r.text

    sign_in(client, site.token("jumin"))
    progress = page(client.get(f"/h5/permit/cases/{case.id}"))
    assert "请上传劳动合同" in progress.text and "待补正" in progress.text
    assert {i.attrs["value"] for i in progress.find_all("input", name="action")} == {"resubmit"}
    assert _act(client, f"/h5/permit/cases/{case.id}", action="resubmit").status_code == 303

    sign_in(client, site.token("shequ1"))
    assert _act(client, f"/console/cases/{case.id}", action="accept").status_code == 303
    sign_in(client, site.token("wangge_a"))
    gw = page(client.get(f"/gw/cases/{case.id}"))
    assert {i.attrs["value"] for i in gw.find_all("input", name="action")} == {"verify_residence"}
    assert _act(client, f"/gw/cases/{case.id}", action="verify_residence",
                finding="入户核实，申请人居住于此").status_code == 303
    sign_in(client, site.token("jiedao1"))
    assert _act(client, f"/console/cases/{case.id}", action="approve").status_code == 303
    p = page(client.get(f"/console/cases/{case.id}"))
    assert "制证中" in p.text and p.find("input", name="permit_no") is not None
    assert _act(client, f"/console/cases/{case.id}", action="issue", permit_no="330522-2026-000777").status_code == 303
    p = page(client.get(f"/console/cases/{case.id}"))
    assert "已制证" in p.text and "330522-2026-000777" in p.text
    chosen = [o for o in p.find_all("option") if "selected" in o.attrs
              and o.parent is not None and o.parent.attrs.get("name") == "delivery_method"]
    assert [o.attrs["value"] for o in chosen] == ["mail"], "the applicant's choice comes preselected"
    reveal = client.post(f"/console/permits/{case.id}/address", data={"csrf_token": p.csrf(), "reason": "邮寄居住证"})
    assert reveal.status_code == 200 and "浙江省长兴县金陵路88号2幢1201室" in reveal.text
    assert site.db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.permit_address_reveal")) is not None
    refused = _act(client, f"/console/cases/{case.id}", action="deliver", delivery_method="mail")
    assert refused.status_code == 422 and "快递单号" in page(refused).text
    assert _act(client, f"/console/cases/{case.id}", action="deliver", delivery_method="mail",
                tracking_no="SF0000000001").status_code == 303
    site.db.refresh(case)
    assert case.state == CaseState.closed

    desk = page(client.get("/console/permits"))
    assert desk.h1() == "居住证申领" and "零跑办结" in desk.text
    sign_in(client, site.token("jumin"))
    done = page(client.get(f"/h5/permit/cases/{case.id}"))
    assert "已办结" in done.text and "SF0000000001" in done.text and "330522-2026-000777" in done.text


def test_an_event_is_shown_on_its_own_page_and_the_permit_pages_are_for_their_users(client, site):
    event = site.report()
    sign_in(client, site.token("jumin"))
    r = client.get(f"/h5/permit/cases/{event.id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/h5/cases/{event.id}"
    assert client.get(f"/h5/permit/new?stay_id={uuid.uuid4()}").status_code == 404
    assert client.get("/console/permits").status_code == 403
    sign_in(client, site.token("bumen"))
    assert client.get("/console/permits").status_code == 403
    assert client.get("/h5/permit").status_code == 403
