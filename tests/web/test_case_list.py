"""The case list (案件查询, /console/cases): every filter narrows it, it stays inside the caller's jurisdiction,
the command centre finds a reporter's cases by a posted phone that no URL or link ever carries, the Excel export
follows the filters, saved views round-trip and belong to their owner, and sorting and paging work."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from pagekit import page, sign_in
from sqlalchemy import select, update

from zhili.cases import service
from zhili.cases.models import Case, CaseState, Category, Channel, SavedFilter
from zhili.core.audit import AuditEvent
from zhili.core.clock import today as local_today
from zhili.org.service import department_names, list_departments
from zhili.web.casepages import NUMBER_IN_URL

PHONE = "13912345678"


def listed(r: Any) -> list[str]:
    """The case numbers of the list's rows, in order."""
    p = page(r)
    return [a.text.strip() for a in p.find_all("a") if re.fullmatch(r"/console/cases/[0-9a-f-]{36}",
                                                                  a.attrs.get("href", ""))]


def get(client: Any, url: str, status: int = 200) -> list[str]:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    return listed(r)


def _hotline(site: Any, *, phone: str = PHONE, description: str = "热线反映：金陵路路灯不亮") -> Any:
    """A case the command centre took by phone, with the caller's call-back name and number."""
    case, _ = service.report_case(site.db, principal=site.principal("zhihui"), channel=Channel.hotline, data={
        "category_code": "SJ-0102", "description": description, "lon": 119.1, "lat": 31.1,
        "reporter_name": "王五", "reporter_phone": phone})
    site.db.flush()
    return case


@pytest.fixture
def spread(site: Any) -> dict[str, Any]:
    """Cases across units, categories, channels, states, departments, deadlines and dates."""
    db = site.db
    out: dict[str, Any] = {}
    out["ga"] = site.report(description="小区门口垃圾堆放三天无人清运")  # resident, SJ-0102, grid ga (c1)
    out["patrol"] = site.report("wangge_a", description="巡查发现井盖缺失", category="BJ-0101")  # grid worker
    out["gc"] = site.report(lon=119.6, description="画溪村河道漂浮物")  # grid gc (c2)
    out["dept"] = site.report(description="路灯整夜不亮")
    out["dept_code"] = list_departments(db)[0].code
    site.act("zhihui", out["dept"], "accept")
    site.act("zhihui", out["dept"], "dispatch", department=out["dept_code"])
    site.act("zhihui", out["dept"], "supervise", message="请尽快处置")
    out["rejected"] = site.report(description="重复的测试上报")
    site.act("zhihui", out["rejected"], "reject", reason="测试数据")
    out["hot"] = _hotline(site)
    # deadline lights and an older report set directly (the sweep's own tests cover how lights are set)
    db.execute(update(Case).where(Case.id == out["dept"].id).values(overdue=True, warning_level="red"))
    db.execute(update(Case).where(Case.id == out["patrol"].id).values(warning_level="yellow"))
    db.execute(update(Case).where(Case.id == out["gc"].id).values(
        reported_at=out["gc"].reported_at - dt.timedelta(days=10)))
    db.flush()
    db.expire_all()
    return out


def _n(spread: dict[str, Any], *names: str) -> set[str]:
    return {spread[n].number for n in names}


def test_every_filter_narrows_the_list(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    everything = _n(spread, "ga", "patrol", "gc", "dept", "rejected", "hot")
    assert set(get(client, "/console/cases")) == everything
    today = local_today()
    since = (today - dt.timedelta(days=3)).isoformat()
    ten_days_ago = (today - dt.timedelta(days=10)).isoformat()
    category_bj = site.db.scalar(select(Category.code).where(Category.code == "BJ-01"))
    cases = [
        (f"number={spread['gc'].number}", {"gc"}),
        ("q=河道漂浮", {"gc"}),
        (f"q={spread['hot'].number}", {"hot"}),  # the text box takes a case number too
        ("category=BJ-0101", {"patrol"}),
        (f"category={category_bj}", {"patrol"}),  # a major class: all its types
        ("category=SJ-0102", {"ga", "gc", "dept", "rejected", "hot"}),
        (f"unit_id={site.world.units['c2'].id}", {"gc"}),
        (f"unit_id={site.world.units['ga'].id}", {"ga", "patrol", "dept", "rejected", "hot"}),
        ("state=dispatched", {"dept"}),
        ("state=rejected&state=dispatched", {"dept", "rejected"}),
        ("channel=grid_worker", {"patrol"}),
        ("channel=hotline", {"hot"}),
        (f"since={since}", {"ga", "patrol", "dept", "rejected", "hot"}),
        (f"until={ten_days_ago}", {"gc"}),
        (f"since={ten_days_ago}&until={ten_days_ago}", {"gc"}),
        ("overdue=1", {"dept"}),
        ("warning=yellow", {"patrol"}),
        ("warning=red", {"dept"}),
        (f"department={spread['dept_code']}", {"dept"}),
        ("supervised=1", {"dept"}),
        ("open=1", {"ga", "patrol", "gc", "dept", "hot"}),
        ("open=1&channel=resident", {"ga", "gc", "dept"}),
    ]
    for query, names in cases:
        assert set(get(client, f"/console/cases?{query}")) == _n(spread, *names), query


def test_rows_show_names_never_codes(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    r = client.get(f"/console/cases?number={spread['dept'].number}")
    p = page(r)
    [row] = [tr for tr in p.find_all("tr") if spread["dept"].number in tr.text]
    cells = [" ".join(td.text.split()) for td in row.children if td.tag == "td"]
    dept_name = department_names(site.db)[spread["dept_code"]]
    assert cells[2] == "暴露垃圾" and cells[3] == "金陵社区第1网格" and cells[6] == dept_name
    assert "已派遣" in cells[4] and "已超期" in cells[4]
    assert spread["dept_code"] not in p.text and "dispatched" not in p.text and "SJ-0102" not in p.text
    assert p.unlabelled_controls() == []
    assert not any(s.text.strip() for s in p.find_all("script"))  # no inline script (CSP)


def test_bad_filter_values_give_a_chinese_message_above_an_empty_list(client: Any, site: Any,
                                                                      spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    for query, message in [("state=bogus", "状态筛选中有无效的状态"), ("since=2026-13-45", "日期“2026-13-45”无效"),
                           ("since=2026-05-02&until=2026-05-01", "开始日期不能晚于结束日期"),
                           ("category=NOPE", "问题类型不存在"), ("unit_id=not-a-unit", "所选区域无效"),
                           ("department=XX", "处置部门不存在"), ("channel=fax", "来源无效"),
                           ("warning=blue", "预警只能选"), ("sort=password", "不支持这种排序"),
                           ("since=0001-01-01", "无效")]:
        r = client.get(f"/console/cases?{query}")
        assert r.status_code == 422, query
        assert message in page(r).find("div", role="alert").text, query
        assert listed(r) == [], query


def test_a_community_user_sees_only_its_community_even_by_number_or_unit(client: Any, site: Any,
                                                                         spread: dict[str, Any]) -> None:
    sign_in(client, site.token("shequ1"))
    assert spread["gc"].number not in get(client, "/console/cases?open=0")
    assert get(client, f"/console/cases?number={spread['gc'].number}") == []
    assert get(client, f"/console/cases?q={spread['gc'].number}") == []
    r = client.get(f"/console/cases?unit_id={site.world.units['c2'].id}")
    assert r.status_code == 404 and listed(r) == []
    assert "单位不存在或不在您的管辖范围内" in page(r).text
    assert client.get(f"/console/cases/export.xlsx?number={spread['gc'].number}").status_code == 200
    wb = load_workbook(io.BytesIO(client.get("/console/cases/export.xlsx?open=0").content), read_only=True)
    assert spread["gc"].number not in {row[0] for row in wb["事件清单"].iter_rows(values_only=True)}


def test_community_and_street_open_on_their_units_open_cases(client: Any, site: Any, spread: dict[str, Any]) -> None:
    for who in ("shequ1", "jiedao1"):
        sign_in(client, site.token(who))
        r = client.get("/console/cases")
        assert set(listed(r)) == _n(spread, "ga", "patrol", "dept", "hot"), who  # open, in c1 / s1
        p = page(r)
        assert p.find("input", name="open").attrs.get("checked") is not None
        nav = p.find("nav", class_="case-views")
        views = {a.text.strip(): a.attrs["href"] for a in p.find_all("a") if nav in a.ancestors()}
        assert views["我的单位在办"] == "/console/cases?open=1" and views["我的单位全部"] == "/console/cases?open=0"
        assert set(get(client, views["我的单位全部"])) == _n(spread, "ga", "patrol", "dept", "rejected", "hot")
    sign_in(client, site.token("zhihui"))  # the command centre opens on every case
    assert spread["rejected"].number in get(client, "/console/cases")


def test_the_department_sees_what_it_handles(client: Any, site: Any, spread: dict[str, Any]) -> None:
    site.world.users["bumen"].department = spread["dept_code"]
    site.db.flush()
    sign_in(client, site.token("bumen"))
    assert get(client, "/console/cases") == [spread["dept"].number]
    assert get(client, "/console/cases?open=1") == [spread["dept"].number]
    for who in ("jumin", "wangge_a", "shenji"):
        sign_in(client, site.token(who))
        assert client.get("/console/cases").status_code == 403, who
        assert client.get("/console/cases/export.xlsx").status_code == 403, who


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src|hx-get|hx-post)="([^"]*)"', html)


def test_the_command_centre_finds_a_case_by_the_reporters_phone_which_no_url_carries(
        client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/cases?channel=hotline"))
    phone_form = p.find("form", id="case-phone")
    assert phone_form.attrs["method"] == "post" and phone_form.attrs["action"] == "/console/cases"
    # the filters applied above travel with the posted phone
    hidden = {e.attrs["name"]: e.attrs["value"] for e in p.find_all("input", type="hidden")
              if any(a is phone_form for a in e.ancestors())}
    assert hidden["channel"] == "hotline"
    r = client.post("/console/cases", data={"csrf_token": p.csrf(), "reporter_phone": "139-1234-5678",
                                            "channel": "hotline"})
    assert r.status_code == 200
    assert listed(r) == [spread["hot"].number]
    assert PHONE not in r.text and "1234-5678" not in r.text  # shown masked: 139****5678
    assert "139****5678" in page(r).text
    for url in _links(r.text):
        assert PHONE not in url and "reporter_phone" not in url, url
    audit = site.db.scalars(select(AuditEvent).where(AuditEvent.action == "case.search_by_reporter")).all()
    assert [(a.actor_name, a.after) for a in audit] == [("zhihui", {"matched": 1})]
    # a phone typed into the text box is taken as the reporter's; without a phone, the post is a plain search
    r = client.post("/console/cases", data={"csrf_token": p.csrf(), "q": PHONE})
    assert listed(r) == [spread["hot"].number] and PHONE not in r.text
    r = client.post("/console/cases", data={"csrf_token": p.csrf(), "channel": "hotline"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/cases?channel=hotline"
    r = client.post("/console/cases", data={"csrf_token": p.csrf(), "reporter_phone": PHONE,
                                            "q": "330522198506150017"})  # an ID number would land in the links
    assert r.status_code == 422 and "不能填写身份证号或手机号" in page(r).text and listed(r) == []
    assert "330522198506150017" not in r.text and PHONE not in r.text
    r = client.post("/console/cases", data={"csrf_token": p.csrf(), "reporter_phone": "12345"})
    assert r.status_code == 422 and "手机号码格式不正确" in page(r).text and listed(r) == []


def test_a_phone_in_the_url_is_refused_and_not_echoed(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    for url in (f"/console/cases?reporter_phone={PHONE}", f"/console/cases?q={PHONE}",
                f"/console/cases?number={PHONE}", "/console/cases?q=330522198506150017",
                f"/console/cases/export.xlsx?q={PHONE}"):
        r = client.get(url)
        assert r.status_code == 422, url
        assert NUMBER_IN_URL in page(r).find("div", id="case-errors").text and PHONE not in r.text, url
        assert listed(r) == [], url
    assert not site.db.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ("case.search_by_reporter", "case.export")))).all()


def test_only_the_command_centre_may_search_by_phone(client: Any, site: Any, spread: dict[str, Any]) -> None:
    for who in ("lingdao", "jiedao1", "shequ1", "admin"):
        sign_in(client, site.token(who))
        p = page(client.get("/console/cases"))
        assert not p.find_all("input", name="reporter_phone"), who
        r = client.post("/console/cases", data={"csrf_token": p.csrf(), "reporter_phone": PHONE})
        assert r.status_code == 403 and listed(r) == [], who


def test_the_export_holds_the_filtered_rows_and_is_audited(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/cases?open=1&channel=resident"))
    [export] = [a for a in p.find_all("a") if a.attrs.get("href", "").startswith("/console/cases/export.xlsx")]
    assert parse_qs(urlsplit(export.attrs["href"]).query) == {"open": ["1"], "channel": ["resident"]}
    r = client.get(export.attrs["href"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert r.headers["cache-control"] == "no-store"
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True)["事件清单"].iter_rows(values_only=True))
    assert rows[0][0] == "事件编号"
    assert {row[0] for row in rows[1:]} == _n(spread, "ga", "gc", "dept")
    [entry] = site.db.scalars(select(AuditEvent).where(AuditEvent.action == "case.export")).all()
    assert entry.actor_name == "zhihui"
    r = client.get("/console/cases/export.xlsx?state=bogus")
    assert r.status_code == 422 and "状态筛选中有无效的状态" in page(r).text


def test_the_page_says_when_the_filter_matches_more_than_one_export_holds(client: Any, site: Any,
                                                                          spread: dict[str, Any],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.web import pages_cases

    monkeypatch.setattr(pages_cases, "EXPORT_LIMIT", 2)
    sign_in(client, site.token("zhihui"))
    assert "导出文件只含最新的 2 条" in page(client.get("/console/cases")).text
    assert "导出文件只含" not in page(client.get("/console/cases?channel=hotline")).text
    rows = list(load_workbook(io.BytesIO(client.get("/console/cases/export.xlsx").content),
                              read_only=True)["事件清单"].iter_rows(values_only=True))
    assert len(rows) == 1 + 2


def test_past_the_counting_cap_the_list_says_more_than_and_the_board_shows_a_plus(
        client: Any, site: Any, spread: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole district's history is not counted on every page (core.query.COUNT_CAP): past the cap the list says
    超过 N 条, the export hint still shows, the API says total_exact false, the board's figure reads N+ — and a
    filter that matches fewer counts exactly again."""
    from zhili.core import query

    zh = site.principal("zhihui")
    full = service.list_cases(site.db, principal=zh, filters=service.CaseFilter(), page_size=500)
    assert full.exact and full.total == len(full.rows) >= 4
    capped = service.list_cases(site.db, principal=zh, filters=service.CaseFilter(), page_size=2, count_cap=3)
    assert (capped.total, capped.exact) == (3, False)
    assert [c.id for c in capped.rows] == [c.id for c in full.rows[:2]]  # the rows do not change
    assert service.list_cases(site.db, principal=zh, filters=service.CaseFilter(), count_cap=full.total).exact
    site.db.commit()

    monkeypatch.setattr(query, "COUNT_CAP", 3)
    sign_in(client, site.token("zhihui"))
    text = page(client.get("/console/cases")).text
    assert "超过 3 条" in text and "共 3 条" not in text
    assert "导出文件只含" in text and "当前筛选共 3+ 条" in text
    hot = page(client.get("/console/cases?channel=hotline")).text
    assert "超过" not in hot and re.search(r"共 \d 条", hot)
    body = client.get("/api/v1/cases?page_size=2").json()
    assert (body["total"], body["total_exact"], len(body["items"])) == (3, False, 2)
    assert client.get("/api/v1/cases?channel=hotline").json()["total_exact"] is True
    board = page(client.get("/console/home"))
    [latest] = [a for a in board.find_all("a") if a.attrs.get("data-figure") == "all"]
    assert latest.text.endswith("（3+）")


def test_a_saved_view_round_trip_and_another_user_cannot_delete_it(client: Any, site: Any,
                                                                  spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/cases?warning=yellow&open=1&sort=number"))
    form = p.find("form", class_="save-view")
    query = next(e.attrs["value"] for e in p.find_all("input", name="query"))
    assert form.attrs["action"] == "/console/cases/views" and query == "warning=yellow&open=1&sort=number"
    r = client.post("/console/cases/views", data={"csrf_token": p.csrf(), "name": " 黄灯 在办 ", "query": query},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/cases?{query}&msg=view_saved"
    p = page(client.get(r.headers["location"]))
    assert "已保存常用视图" in p.text
    [link] = [a for a in p.find_all("a") if a.text.strip() == "黄灯 在办"]
    assert link.attrs["href"] == f"/console/cases?{query}" and link.attrs.get("aria-current") == "page"
    assert set(get(client, link.attrs["href"])) == _n(spread, "patrol")
    view = site.db.scalar(select(SavedFilter).where(SavedFilter.name == "黄灯 在办"))
    # saving the same name again replaces the view
    client.post("/console/cases/views", data={"csrf_token": p.csrf(), "name": "黄灯 在办", "query": "overdue=1"})
    site.db.refresh(view)
    assert view.query == "overdue=1"
    # another user cannot see or delete it: answered as a view that does not exist
    sign_in(client, site.token("jiedao1"))
    other = page(client.get("/console/cases"))
    assert "黄灯 在办" not in other.text
    r = client.post(f"/console/cases/views/{view.id}/delete", data={"csrf_token": other.csrf()})
    assert r.status_code == 404
    assert site.db.get(SavedFilter, view.id) is not None
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/cases"))
    [delete] = [f for f in p.find_all("form") if f.attrs.get("action") == f"/console/cases/views/{view.id}/delete"]
    assert delete.attrs["method"] == "post"
    r = client.post(f"/console/cases/views/{view.id}/delete", data={"csrf_token": p.csrf()}, follow_redirects=False)
    assert r.status_code == 303
    site.db.expire_all()
    assert site.db.get(SavedFilter, view.id) is None


def test_a_view_never_holds_a_phone_and_its_name_is_checked(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    token = page(client.get("/console/cases")).csrf()
    for data, message in [({"name": "按电话", "query": f"q={PHONE}"}, "常用视图不能保存手机号或身份证号"),
                          ({"name": "", "query": "open=1"}, "请填写视图名称"),
                          ({"name": "长" * 31, "query": "open=1"}, "视图名称不能超过30个字")]:
        r = client.post("/console/cases/views", data={"csrf_token": token, **data})
        assert r.status_code == 422 and message in page(r).text, data
        assert PHONE not in r.text
    # a reporter's phone smuggled into the query is dropped, never stored
    client.post("/console/cases/views", data={"csrf_token": token, "name": "热线",
                                              "query": f"channel=hotline&reporter_phone={PHONE}"})
    assert site.db.scalars(select(SavedFilter.query)).all() == ["channel=hotline"]


def test_sorting_and_paging(client: Any, site: Any) -> None:
    made = [site.report(description=f"第{i}件：路面破损需要修补") for i in range(23)]
    numbers = sorted(c.number for c in made)
    sign_in(client, site.token("zhihui"))
    r = client.get("/console/cases?q=路面破损&sort=number")
    assert listed(r) == numbers[:20]
    p = page(r)
    [next_link] = p.find_all("a", rel="next")
    assert parse_qs(urlsplit(next_link.attrs["href"]).query) == {"q": ["路面破损"], "sort": ["number"],
                                                                  "page": ["2"]}
    assert get(client, "/console/cases" + next_link.attrs["href"]) == numbers[20:]
    # the number column's header sorts the other way when it is the current sort
    [header] = [a for a in p.find_all("a") if a.text.strip().startswith("编号")]
    assert parse_qs(urlsplit(header.attrs["href"]).query) == {"q": ["路面破损"], "sort": ["-number"]}
    assert get(client, "/console/cases" + header.attrs["href"]) == numbers[::-1][:20]
    assert p.find("th", aria_sort="ascending").text.strip().startswith("编号")
    # the default: newest first
    site.db.execute(update(Case).where(Case.id == made[5].id).values(
        reported_at=made[5].reported_at + dt.timedelta(hours=1)))
    assert get(client, "/console/cases?q=路面破损")[0] == made[5].number
    assert get(client, "/console/cases?q=路面破损&sort=-reported_at")[0] == made[5].number
    assert made[5].number not in get(client, "/console/cases?q=路面破损&sort=reported_at")  # the 20 oldest


def test_the_predefined_views_fit_the_role(client: Any, site: Any, spread: dict[str, Any]) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/cases"))
    nav = p.find("nav", class_="case-views")
    views = {a.text.strip(): a.attrs["href"] for a in p.find_all("a") if nav in a.ancestors()}
    assert views["待受理"] == "/console/cases?state=reported"
    assert set(get(client, views["待受理"])) == _n(spread, "ga", "patrol", "gc", "hot")
    assert set(get(client, views["今日受理"])) == _n(spread, "ga", "patrol", "dept", "rejected", "hot")
    assert set(get(client, views["已超期"])) == _n(spread, "dept")
    assert set(get(client, views["即将超期"])) == _n(spread, "patrol")
    assert set(get(client, views["督办中"])) == _n(spread, "dept")
    assert "我的单位全部" not in views


def test_the_screen_opens_a_case_from_its_dot(client: Any, site: Any, spread: dict[str, Any]) -> None:
    for who in ("zhihui", "lingdao", "shequ1"):
        sign_in(client, site.token(who))
        p = page(client.get("/screen"))
        assert p.find("div", id="screen").attrs["data-case-url"] == "/console/cases/", who
    sign_in(client, site.token("zhihui"))
    points = client.get(f"/api/v1/dashboard/grids/{site.world.units['ga'].id}/cases").json()["points"]
    by_number = {pt["number"]: pt for pt in points}
    dot = by_number[spread["ga"].number]
    assert client.get(f"/console/cases/{dot['id']}").status_code == 200
    js = client.get("/static/app/screen.js").text
    assert "L.caseUrl + encodeURIComponent(p.data.id)" in js


def test_the_workbench_queue_link_lists_the_waiting_cases(client: Any, site: Any) -> None:
    """The workbench's queue links (state=reported&state=returned) land on the matching cases."""
    a = _hotline(site)
    b = site.report()
    site.act("zhihui", b, "accept")
    sign_in(client, site.token("zhihui"))
    assert get(client, "/console/cases?state=reported&state=returned") == [a.number]
    assert site.db.get(Case, b.id).state == CaseState.accepted
