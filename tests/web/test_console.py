"""The staff console: the intake queue with its forms, the case page, and the department inbox."""

from __future__ import annotations

import json
from typing import Any

from pagekit import page, sign_in
from sqlalchemy import select

from zhili.cases.models import CaseState, Supervision
from zhili.org.service import list_departments


def _dept(site: Any) -> str:
    return str(list_departments(site.db)[0].code)


def test_the_queue_shows_a_reported_case_and_dispatching_it_moves_it_to_dispatched(client: Any, site: Any) -> None:
    case = site.report()
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/"))
    assert p.h1() == "待处理队列"
    assert case.number in p.text and case.title in p.text
    assert p.unlabelled_controls() == []
    forms = [f for f in p.find_all("form") if f.attrs.get("action") == f"/console/cases/{case.id}/act"]
    actions = {e.attrs["value"] for f in forms for e in f.children if e.attrs.get("name") == "action"}
    assert {"accept", "dispatch", "reject", "merge"} <= actions
    dept = _dept(site)
    r = client.post(f"/console/cases/{case.id}/act", data={
        "csrf_token": p.csrf(), "action": "dispatch", "department": dept, "version": str(case.version),
        "next": "/console/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/?msg=action_done"
    site.db.refresh(case)
    assert case.state == CaseState.dispatched and case.assignee_department == dept
    assert case.number not in page(client.get("/console/")).text  # no longer waiting


def test_console_forms_need_the_csrf_token(client: Any, site: Any) -> None:
    case = site.report()
    sign_in(client, site.token("zhihui"))
    r = client.post(f"/console/cases/{case.id}/act", data={"action": "accept"})
    assert r.status_code == 403
    r = client.post(f"/console/cases/{case.id}/act", data={"action": "accept", "csrf_token": "forged"})
    assert r.status_code == 403
    site.db.refresh(case)
    assert case.state == CaseState.reported


def test_reject_needs_a_reason_and_merge_takes_the_master_number(client: Any, site: Any) -> None:
    master, dup, bad = site.report(description="主事件：路灯不亮"), site.report(description="重复：路灯不亮"), \
        site.report(description="无效上报")
    sign_in(client, site.token("zhihui"))
    token = page(client.get("/console/")).csrf()
    r = client.post(f"/console/cases/{bad.id}/act", data={"csrf_token": token, "action": "reject"})
    assert r.status_code in (400, 422) and "操作未成功" in page(r).text
    client.post(f"/console/cases/{bad.id}/act", data={"csrf_token": token, "action": "reject",
                                                      "reason": "重复测试数据"})
    client.post(f"/console/cases/{dup.id}/act", data={"csrf_token": token, "action": "merge",
                                                      "master_number": master.number})
    r = client.post(f"/console/cases/{master.id}/act", data={"csrf_token": token, "action": "merge",
                                                             "master_number": "NOPE-1"})
    assert "主事件编号不存在" in page(r).text
    for c in (bad, dup, master):
        site.db.refresh(c)
    assert (bad.state, dup.state, master.state) == (CaseState.rejected, CaseState.merged, CaseState.reported)
    assert dup.master_case_id == master.id


def test_the_case_page_shows_timeline_actions_and_map_point(client: Any, site: Any) -> None:
    case = site.report()
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"/console/cases/{case.id}"))
    assert p.h1() == case.title
    assert "上报" in p.find("ol", class_="timeline").text
    assert {"accept", "dispatch", "reject", "merge"} <= {i.attrs["value"] for i in p.find_all("input", name="action")}
    assert p.find("div", id="case-map").attrs["data-point"] == "[119.1, 31.1]"
    assert p.unlabelled_controls() == []
    assert not any(s.text.strip() for s in p.find_all("script"))
    client.post(f"/console/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "accept"})
    site.db.refresh(case)
    assert case.state == CaseState.accepted


def test_the_case_page_draws_the_grid_and_counts_supports_apart_from_merged_cases(client: Any, site: Any) -> None:
    from zhili.cases.support import add_support

    master = site.report("wangge_a", lon=119.1, lat=31.1)
    dup = site.report("jumin", lon=119.1004, lat=31.1, description="重复：小区门口垃圾")
    site.act("zhihui", dup, "merge", master_id=str(master.id))
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"/console/cases/{master.id}"))
    facts = {dt.text.strip(): dd.text.strip() for dt, dd in zip(p.find_all("dt"), p.find_all("dd"), strict=True)}
    assert (facts["附议人数"], facts["合并进来的事件"]) == ("0", "1")
    add_support(site.db, principal=site.principal("jumin"), case_id=master.id)
    p = page(client.get(f"/console/cases/{master.id}"))
    facts = {dt.text.strip(): dd.text.strip() for dt, dd in zip(p.find_all("dt"), p.find_all("dd"), strict=True)}
    assert (facts["附议人数"], facts["合并进来的事件"]) == ("1", "1")
    boundary = json.loads(p.find("div", id="case-map").attrs["data-boundary"])  # the case's grid, ga
    assert boundary["coordinates"][0][0] == [119.0, 31.0] and boundary["coordinates"][0][2] == [119.25, 31.25]


def test_the_queue_is_jurisdiction_scoped_and_refused_to_residents(client: Any, site: Any) -> None:
    mine = site.report(lon=119.1, lat=31.1)
    other = site.report(lon=119.6, lat=31.1, description="画溪村道路积水")
    sign_in(client, site.token("jiedao1"))
    text = page(client.get("/console/")).text
    assert mine.number in text and other.number not in text
    assert client.get(f"/console/cases/{other.id}").status_code == 404
    for who in ("jumin", "wangge_a", "bumen"):
        sign_in(client, site.token(who))
        assert client.get("/console/").status_code == 403, who
    sign_in(client, site.token("jumin"))
    assert client.get(f"/console/cases/{mine.id}").status_code == 403


def _dispatched_to_the_handlers_department(site: Any) -> Any:
    """A fresh case accepted and dispatched to the department of the handler ``bumen``."""
    dept = _dept(site)
    site.world.users["bumen"].department = dept
    site.db.flush()
    case = site.report()
    site.act("zhihui", case, "accept")
    site.act("zhihui", case, "dispatch", department=dept)
    return case


def test_a_department_handler_works_the_inbox(client: Any, site: Any) -> None:
    case = _dispatched_to_the_handlers_department(site)
    sign_in(client, site.token("bumen"))
    p = page(client.get("/console/inbox"))
    assert p.h1() == "部门待办" and case.number in p.text
    detail = page(client.get(f"/console/cases/{case.id}"))
    assert {"start", "return_case"} <= {i.attrs["value"] for i in detail.find_all("input", name="action")}
    client.post(f"/console/cases/{case.id}/act", data={"csrf_token": detail.csrf(), "action": "start"})
    detail = page(client.get(f"/console/cases/{case.id}"))
    assert {"resolve", "request_extension"} <= {i.attrs["value"] for i in detail.find_all("input", name="action")}
    r = client.post(f"/console/cases/{case.id}/act", data={"csrf_token": detail.csrf(), "action": "resolve",
                                                           "result": "已处理完毕"}, follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(case)
    assert case.state == CaseState.resolved and case.resolution == "已处理完毕"
    sign_in(client, site.token("zhihui"))
    assert client.get("/console/inbox").status_code == 403


def test_a_handler_answers_a_supervision_order_from_the_case_page(client: Any, site: Any) -> None:
    case = _dispatched_to_the_handlers_department(site)
    site.act("zhihui", case, "supervise", message="请于今日内处置完毕")
    sign_in(client, site.token("bumen"))
    detail = page(client.get(f"/console/cases/{case.id}"))
    actions = [i.attrs["value"] for i in detail.find_all("input", name="action")]
    assert actions[0] == "answer_supervision"  # an order waiting for an answer comes first
    assert detail.find("textarea", name="reply") is not None
    r = client.post(f"/console/cases/{case.id}/act", data={"csrf_token": detail.csrf(),
                                                           "action": "answer_supervision"})
    assert r.status_code == 422 and "反馈意见" in page(r).text  # refused with the missing field named
    r = client.post(f"/console/cases/{case.id}/act", data={"csrf_token": detail.csrf(),
                                                           "action": "answer_supervision", "reply": "长" * 2001})
    assert r.status_code == 422 and "反馈意见不能超过2000字" in page(r).text  # not cut short silently
    assert page(r).find("textarea", name="reply").text == "长" * 2001  # what was typed is kept for correction
    assert site.db.scalar(select(Supervision.reply).where(Supervision.case_id == case.id)) is None
    r = client.post(f"/console/cases/{case.id}/act", data={
        "csrf_token": detail.csrf(), "action": "answer_supervision", "reply": "已安排人员今日处置",
        "version": str(case.version)}, follow_redirects=False)
    assert r.status_code == 303
    order = site.db.scalar(select(Supervision).where(Supervision.case_id == case.id))
    assert (order.acknowledged_by, order.reply) == ("bumen", "已安排人员今日处置")
    detail = page(client.get(f"/console/cases/{case.id}"))
    assert "answer_supervision" not in {i.attrs["value"] for i in detail.find_all("input", name="action")}
    assert "已安排人员今日处置" in detail.text  # in the timeline


def test_a_grid_worker_answers_an_order_on_their_own_case_page(client: Any, site: Any) -> None:
    case = site.dispatched_to_grid("ga")
    site.act("zhihui", case, "supervise", message="请尽快处置")
    sign_in(client, site.token("wangge_a"))
    detail = page(client.get(f"/gw/cases/{case.id}"))
    assert "answer_supervision" in {i.attrs["value"] for i in detail.find_all("input", name="action")}
    r = client.post(f"/gw/cases/{case.id}/act", data={"csrf_token": detail.csrf(), "action": "answer_supervision",
                                                      "reply": "超" * 2001})
    assert r.status_code == 422 and page(r).find("textarea", name="reply").text == "超" * 2001
    r = client.post(f"/gw/cases/{case.id}/act", data={"csrf_token": detail.csrf(), "action": "answer_supervision",
                                                      "reply": "马上到现场"}, follow_redirects=False)
    assert r.status_code == 303
    assert site.db.scalar(select(Supervision.reply).where(Supervision.case_id == case.id)) == "马上到现场"


def test_the_command_centre_places_an_address_only_case_on_the_map_from_the_case_page(client: Any, site: Any) -> None:
    """A hotline case with an address only: 定位 on the console case page — a refused point keeps what was typed;
    a grid chosen in the picker places it, and then it can be dispatched to a unit."""
    from zhili.cases import service
    from zhili.cases.models import Channel

    case, _ = service.report_case(site.db, principal=site.principal("zhihui"), channel=Channel.hotline,
                                  data={"category_code": "SJ-0102", "description": "金陵路88号门口垃圾",
                                        "address": "金陵路88号"})
    site.db.flush()
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"/console/cases/{case.id}"))
    assert "定位" in p.text and "或选择所在网格" in p.text and p.unlabelled_controls() == []
    r = client.post(f"/console/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "locate",
                                                           "lon": "100.5", "lat": "20.5"})
    assert r.status_code == 422 and "不在本区县的网格范围内" in page(r).text and 'value="100.5"' in r.text
    grid = site.world.units["ga"]
    r = client.post(f"/console/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "locate",
                                                           "grid_id": str(grid.id)}, follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(case)
    assert case.grid_id == grid.id and case.path == grid.path
    assert "定位" in page(client.get(f"/console/cases/{case.id}")).text  # in the timeline
