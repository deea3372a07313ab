"""Grid-worker pages: task list, patrol report, handling and verification, household lookup with masked data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pagekit import page, png, sign_in
from sqlalchemy import select

from zhili.cases import service, sweep
from zhili.cases.models import Case, CaseState, Channel
from zhili.core.audit import AuditEvent


def _tab_counts(p: Any) -> dict[str, str]:
    out = {}
    for a in p.find_all("a"):
        href = a.attrs.get("href", "")
        if href.startswith("/gw/?tab="):
            out[href.split("=", 1)[1]] = a.children[-1].text.strip()  # the count badge
    return out


def test_the_task_list_shows_new_due_soon_and_overdue_cases(client: Any, site: Any) -> None:
    soon = site.dispatched_to_grid(description="占道经营，影响通行")
    late = site.dispatched_to_grid(description="井盖缺失，存在安全隐患")
    fresh = site.dispatched_to_grid(description="绿化带垃圾较多")
    now = dt.datetime.now(dt.UTC)
    late.handle_due_at, late.handle_warn_at = now - dt.timedelta(hours=1), now - dt.timedelta(hours=3)
    soon.handle_due_at, soon.handle_warn_at = now + dt.timedelta(hours=1), now - dt.timedelta(minutes=5)
    site.db.flush()
    report = sweep.sweep_deadlines(site.db, now=now)
    assert (report.yellow, report.red) == (1, 1)

    sign_in(client, site.token("wangge_a"))
    p = page(client.get("/gw/"))
    assert p.h1() == "我的任务"
    counts = _tab_counts(p)
    assert (counts["new"], counts["due_soon"], counts["overdue"]) == ("3", "1", "1")
    assert counts == {k: str(v) for k, v in {**service.pending_for(site.db, principal=site.principal("wangge_a")),
                                             "verify": 0, "open": 3}.items() if k != "to_accept"}
    overdue = page(client.get("/gw/?tab=overdue"))
    titles = [" ".join(t.text.split()) for t in overdue.find_all("span", class_="case-title")]
    assert titles == [late.title] and "已超期" in overdue.text
    due_soon = client.get("/gw/tasks?tab=due_soon", headers={"HX-Request": "true"})
    assert "<html" not in due_soon.text  # the fragment htmx swaps in
    assert [" ".join(t.text.split()) for t in page(due_soon).find_all("span", class_="case-title")] == [soon.title]
    assert fresh.title in page(client.get("/gw/?tab=new")).text


def test_a_grid_worker_starts_and_resolves_a_case_dispatched_to_the_grid(client: Any, site: Any) -> None:
    case = site.dispatched_to_grid()
    sign_in(client, site.token("wangge_a"))
    p = page(client.get(f"/gw/cases/{case.id}"))
    assert {i.attrs["value"] for i in p.find_all("input", name="action")} >= {"start"}
    client.post(f"/gw/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "start"})
    p = page(client.get(f"/gw/cases/{case.id}"))
    assert p.unlabelled_controls() == []
    r = client.post(f"/gw/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "resolve",
                                                       "result": "已联系环卫清运"})
    assert r.status_code == 200
    site.db.refresh(case)
    assert case.state == CaseState.resolved and case.resolution == "已联系环卫清运"


def test_a_grid_worker_verifies_or_sends_back_a_resolved_case_in_the_grid(client: Any, site: Any) -> None:
    ok, bad = site.resolved(description="垃圾一"), site.resolved(description="垃圾二")
    sign_in(client, site.token("wangge_a"))
    home = page(client.get("/gw/?tab=verify"))
    assert ok.title in home.text and bad.title in home.text
    p = page(client.get(f"/gw/cases/{ok.id}"))
    assert {"verify", "send_back"} <= {i.attrs["value"] for i in p.find_all("input", name="action")}
    client.post(f"/gw/cases/{ok.id}/act", data={"csrf_token": p.csrf(), "action": "verify",
                                                 "version": str(ok.version)})
    client.post(f"/gw/cases/{bad.id}/act", data={"csrf_token": p.csrf(), "action": "send_back",
                                                  "reason": "现场仍有垃圾", "version": str(bad.version)})
    site.db.refresh(ok)
    site.db.refresh(bad)
    assert (ok.state, bad.state) == (CaseState.verified, CaseState.in_progress)
    timeline = page(client.get(f"/gw/cases/{bad.id}"))
    assert "核查不通过" in timeline.text and "现场仍有垃圾" in timeline.text


def test_a_grid_worker_cannot_act_on_a_case_of_another_grid(client: Any, site: Any) -> None:
    case = site.resolved()
    sign_in(client, site.token("wangge_b"))
    assert client.get(f"/gw/cases/{case.id}").status_code == 404
    p = page(client.get("/gw/"))
    r = client.post(f"/gw/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "verify"})
    assert r.status_code == 404 and page(r).h1() == "页面不存在"
    site.db.refresh(case)
    assert case.state == CaseState.resolved


def test_a_patrol_report_is_filed_on_the_grid_worker_channel(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    form = page(client.get("/gw/report"))
    assert form.h1() == "巡查上报" and form.unlabelled_controls() == []
    assert not form.find_all("input", name="reporter_phone")  # no contact block for staff
    r = client.post("/gw/report", data={"csrf_token": form.csrf(), "idem": uuid.uuid4().hex,
                                        "category_code": "SJ-0102", "description": "巡查发现垃圾堆积",
                                        "address": "金陵路12号"},
                    files=[("photos", ("a.png", png(), "image/png"))], follow_redirects=False)
    assert r.status_code == 303, r.text
    case = site.db.scalar(select(Case).where(Case.description == "巡查发现垃圾堆积"))
    assert case.channel == Channel.grid_worker and case.grid_id == site.world.units["ga"].id  # own grid
    data = client.get("/gw/map/grids.geojson").json()
    assert [f["properties"]["code"] for f in data["features"]] == [site.world.units["ga"].code]


def test_household_lookup_shows_only_the_grid_and_masks_personal_data(client: Any, site: Any) -> None:
    mine = site.person_in("ga", name="王芳", phone="13812345678")
    site.person_in("gb", name="李强", phone="13998765432")
    sign_in(client, site.token("wangge_a"))
    listing = page(client.get("/gw/households"))
    assert "共 1 条" in listing.text and "李强" not in listing.text
    href = next(a.attrs["href"] for a in listing.find_all("a") if a.attrs.get("href", "").startswith(
        "/gw/households/"))
    assert href == f"/gw/households/{mine.household_id}"
    r = client.get(href)
    p = page(r)
    assert "王芳" in p.text and "138****5678" in p.text and "13812345678" not in r.text
    id_cells = [d.text for d in p.find_all("dd", class_="mono")]
    assert any("*" in c and len(c) == 18 for c in id_cells)
    assert "独居老人" in p.text and "户主" in p.text
    assert r.headers["Cache-Control"] == "no-store"
    searched = page(client.get("/gw/households", params={"q": "没有这个地址"}))
    assert "没有找到房屋/户" in searched.text


def test_a_household_is_found_by_a_members_phone_or_id_number_posted_never_in_the_url(client: Any,
                                                                                      site: Any) -> None:
    mine = site.person_in("ga", name="王芳", phone="13812345678")
    other = site.person_in("gb", name="李强", phone="13998765432")
    sign_in(client, site.token("wangge_a"))
    listing = page(client.get("/gw/households"))
    form = listing.find("form", role="search")
    assert form.attrs["method"] == "post" and form.attrs["action"] == "/gw/households"
    assert any(i in listing.find_all("input", name="csrf_token") for i in [listing.find("input", name="csrf_token")])
    found = page(client.post("/gw/households", data={"csrf_token": listing.csrf(), "q": "138 1234 5678"}))
    links = [a.attrs["href"] for a in found.find_all("a") if a.attrs.get("href", "").startswith("/gw/households/")]
    assert links == [f"/gw/households/{mine.household_id}"] and "共 1 条" in found.text
    from zhili.core.crypto import get_cipher

    id_number = get_cipher().decrypt(mine.id_number_enc, table="person", column="id_number", row_id=mine.id)
    by_id = page(client.post("/gw/households", data={"csrf_token": listing.csrf(), "q": id_number}))
    assert "共 1 条" in by_id.text
    # another grid's resident is not found by number either
    theirs = page(client.post("/gw/households", data={"csrf_token": listing.csrf(), "q": "13998765432"}))
    assert "共 0 条" in theirs.text and str(other.household_id) not in theirs.text
    # the pager never carries the number
    assert "13812345678" not in "".join(a.attrs.get("href", "") for a in found.find_all("a"))
    # typed into the URL, a number is neither searched nor echoed
    r = client.get("/gw/households", params={"q": "13812345678"})
    assert r.status_code == 422 and "不能放在网址中" in page(r).text and "13812345678" not in r.text
    bad = client.post("/gw/households", data={"csrf_token": listing.csrf(), "q": "12345678901"})
    assert "共 0 条" in page(bad).text


def test_a_grid_worker_cannot_open_a_household_page_of_another_grid(client: Any, site: Any) -> None:
    other = site.person_in("gb", name="李强")
    sign_in(client, site.token("wangge_a"))
    r = client.get(f"/gw/households/{other.household_id}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    p = page(r)
    assert p.h1() == "页面不存在" and "房屋/户不存在或不在您的管辖范围内" in p.text and "李强" not in r.text
    token = page(client.get("/gw/")).csrf()
    r = client.post(f"/gw/persons/{other.id}/reveal", data={"csrf_token": token, "reason": "核查"})
    assert r.status_code == 404 and "李强" not in r.text


def test_showing_full_details_needs_a_reason_and_is_audited(client: Any, site: Any) -> None:
    person = site.person_in("ga", name="王芳", phone="13812345678")
    sign_in(client, site.token("wangge_a"))
    p = page(client.get(f"/gw/households/{person.household_id}"))
    assert p.find("button", type="submit", class_="btn btn-secondary").text.strip() == "查看完整信息"
    url = f"/gw/persons/{person.id}/reveal"
    r = client.post(url, data={"csrf_token": p.csrf(), "reason": "x"})
    assert r.status_code == 422 and "请填写查看事由" in page(r).text and "13812345678" not in r.text
    r = client.post(url, data={"csrf_token": p.csrf(), "reason": "入户走访核实"})
    assert r.status_code == 200 and "13812345678" in r.text and "完整信息（已记录审计）" in r.text
    audits = list(site.db.scalars(select(AuditEvent).where(AuditEvent.action == "person.reveal",
                                                            AuditEvent.object_id == str(person.id))))
    assert len(audits) == 1 and audits[0].reason == "入户走访核实" and audits[0].actor_name == "wangge_a"
