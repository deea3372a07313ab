"""Household-visit pages: "记录走访" from the household page, history, "我的走访" with coverage, 转为事件, the
console's read-only list — own grid only, labelled controls, user text inert."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pagekit import page, png, sign_in
from sqlalchemy import func, select, update

from testimages import same_pixels
from zhili.cases.models import Case
from zhili.core.audit import AuditEvent
from zhili.visits import service
from zhili.visits.models import Visit


def _record(client: Any, household: Any, **fields: Any) -> Any:
    form = page(client.get(f"/gw/households/{household.id}/visits/new"))
    data = {"csrf_token": form.csrf(), "kind": "care", "summary": "老人身体良好", **fields}
    return client.post(f"/gw/households/{household.id}/visits", data=data, follow_redirects=False,
                       files=[("photos", ("a.png", png(), "image/png"))])


def test_a_grid_worker_records_a_visit_from_the_household_page(client: Any, site: Any) -> None:
    person = site.person_in("ga", name="张秀英", phone="13812345678")
    sign_in(client, site.token("wangge_a"))
    household = page(client.get(f"/gw/households/{person.household_id}"))
    hrefs = {a.attrs.get("href") for a in household.find_all("a")}
    assert f"/gw/households/{person.household_id}/visits/new" in hrefs and "记录走访" in household.text
    form = page(client.get(f"/gw/households/{person.household_id}/visits/new"))
    assert form.h1() == "记录走访" and form.unlabelled_controls() == []
    assert {i.attrs["value"] for i in form.find_all("input", name="kind")} == {k.value for k in service.VisitKind}
    assert [i.attrs["value"] for i in form.find_all("input", name="person_ids")] == [str(person.id)]
    r = client.post(f"/gw/households/{person.household_id}/visits", follow_redirects=False,
                    data={"csrf_token": form.csrf(), "kind": "care", "summary": "独居老人身体良好",
                          "findings": "子女电话13912345678", "person_ids": [str(person.id)]},
                    files=[("photos", ("a.png", png(), "image/png"))])
    assert r.status_code == 303, r.text
    visit = site.db.scalar(select(Visit))
    assert r.headers["location"] == f"/gw/visits/{visit.id}?msg=visit_recorded"
    detail = page(client.get(r.headers["location"]))
    assert "走访记录已保存" in detail.text and "独居老人身体良好" in detail.text and "张秀英" in detail.text
    assert "139****5678" in detail.text and "13912345678" not in detail.html
    img = detail.find("img", alt="走访照片 1").attrs["src"]
    assert same_pixels(client.get(img).content, png())
    fragment = client.get(f"/gw/households/{person.household_id}/visits", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "独居老人身体良好" in fragment.text and "关爱走访" in fragment.text
    history = page(client.get(f"/gw/households/{person.household_id}/visits"))
    assert history.h1() == "走访记录" and "共 1 条" in history.text
    audit = site.db.scalar(select(AuditEvent).where(AuditEvent.action == "visit.create"))
    assert audit is not None and audit.actor_name == "wangge_a"


def test_a_grid_worker_cannot_record_or_see_visits_of_another_grid(client: Any, site: Any) -> None:
    other = site.household_in("gb")
    sign_in(client, site.token("wangge_b"))
    client.post(f"/gw/households/{other.id}/visits", data={
        "csrf_token": page(client.get("/gw/visits")).csrf(), "kind": "routine", "summary": "日常走访"})
    theirs = site.db.scalar(select(Visit))
    sign_in(client, site.token("wangge_a"))
    token = page(client.get("/gw/visits")).csrf()
    assert client.get(f"/gw/households/{other.id}/visits/new").status_code == 404
    r = client.post(f"/gw/households/{other.id}/visits", data={"csrf_token": token, "kind": "routine",
                                                               "summary": "越界走访"})
    assert r.status_code == 404 and page(r).h1() == "页面不存在"
    assert site.db.scalar(select(func.count()).select_from(Visit)) == 1
    assert client.get(f"/gw/visits/{theirs.id}").status_code == 404
    assert client.get(f"/gw/households/{other.id}/visits").status_code == 404
    assert "日常走访" not in client.get("/gw/visits?period=all").text


def test_a_refused_form_comes_back_with_what_was_typed(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    r = _record(client, household, kind="", summary="门锁损坏需维修", findings="楼道灯也坏了")
    assert r.status_code == 422
    p = page(r)
    assert "请选择走访类型" in p.find("div", role="alert").text
    assert p.find("input", name="summary").attrs["value"] == "门锁损坏需维修" and "楼道灯也坏了" in p.text
    late = (dt.datetime.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = _record(client, household, visited_at=late)
    assert r.status_code == 422 and "走访时间不能晚于现在" in r.text
    assert site.db.scalar(select(func.count()).select_from(Visit)) == 0


def test_script_in_a_visit_is_shown_as_text(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    r = _record(client, household, summary="<script>alert(1)</script>", findings="<img src=x onerror=alert(2)>")
    assert r.status_code == 303
    for url in (r.headers["location"], "/gw/visits?period=all", f"/gw/households/{household.id}/visits"):
        html = client.get(url).text
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert "<img src=x" not in html
    sign_in(client, site.token("shequ1"))
    html = client.get("/console/visits?period=all").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_my_visits_filters_this_week_and_shows_the_grid_coverage(client: Any, site: Any) -> None:
    homes = [site.household_in("ga", room=str(600 + i)) for i in range(4)]
    sign_in(client, site.token("wangge_a"))
    for h, summary in zip(homes[:3], ("本周走访一", "本周走访二", "上月走访"), strict=True):
        assert _record(client, h, summary=summary).status_code == 303
    last_month = site.db.scalar(select(Visit).where(Visit.summary == "上月走访"))
    week_start = service.period_start("week")
    assert week_start is not None
    site.db.execute(update(Visit).where(Visit.id == last_month.id).values(
        visited_at=min(week_start, service.period_start("month") or week_start) - dt.timedelta(days=40)))
    site.db.flush()
    week = page(client.get("/gw/visits"))
    assert week.h1() == "我的走访" and "本周走访一" in week.text and "上月走访" not in week.text
    assert week.find("a", href="/gw/visits?period=week").attrs.get("aria-current") == "page"
    every = page(client.get("/gw/visits?period=all"))
    assert "上月走访" in every.text and "共 3 条" in every.text
    facts = {" ".join(d.children[0].text.split()): " ".join(d.children[1].text.split())
             for d in week.find("dl", class_="facts coverage").children}
    assert facts == {"管辖房屋/户": "4", "近30天走访": "2 户（50.0%）", "近90天走访": "3 户（75.0%）"}
    assert client.get("/gw/visits?period=nonsense").status_code == 200  # unknown period: this week


def test_a_visit_is_turned_into_a_case_from_its_page(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    r = _record(client, household, summary="检查燃气", findings="燃气管道老化漏气")
    url = r.headers["location"].split("?")[0]
    p = page(client.get(url))
    assert p.unlabelled_controls() == [] and p.find("textarea", name="case_description").text == "燃气管道老化漏气"
    bad = client.post(f"{url}/case", data={"csrf_token": p.csrf(), "category_code": "",
                                           "case_description": "燃气管道老化漏气"})
    assert bad.status_code == 422 and "须选择事件类别" in bad.text
    ok = client.post(f"{url}/case", data={"csrf_token": p.csrf(), "category_code": "SJ-0102",
                                          "case_description": "燃气管道老化漏气"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].endswith("msg=visit_to_case")
    case = site.db.scalar(select(Case).where(Case.description == "燃气管道老化漏气"))
    assert case is not None and case.attributes["visit_id"] == url.rsplit("/", 1)[1]
    after = page(client.get(ok.headers["location"]))
    assert case.number in after.text and not after.find_all("form", action=f"{url}/case")
    assert client.get(f"/gw/cases/{case.id}").status_code == 200


def test_recording_with_a_follow_up_files_the_case_at_once(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    r = _record(client, household, summary="出租房核查", kind="rental_check", to_case="1",
                category_code="SJ-0102", case_description="租户在楼道堆放垃圾")
    assert r.status_code == 303 and r.headers["location"].endswith("msg=visit_to_case")
    visit = site.db.scalar(select(Visit))
    case = site.db.get(Case, visit.case_id)
    assert case.description == "租户在楼道堆放垃圾" and case.path == household.path
    assert "已转为事件" in client.get(r.headers["location"]).text


def test_the_console_lists_visits_under_the_staff_units_read_only(client: Any, site: Any) -> None:
    ha, hb = site.household_in("ga"), site.household_in("gb")
    sign_in(client, site.token("wangge_a"))
    _record(client, ha, summary="甲网格走访", findings="电话13912345678")
    sign_in(client, site.token("wangge_b"))
    _record(client, hb, summary="乙网格走访", kind="routine")
    sign_in(client, site.token("shequ1"))
    p = page(client.get("/console/visits"))
    assert p.h1() == "走访记录" and "甲网格走访" in p.text and "乙网格走访" in p.text
    assert "139****5678" in p.text and "13912345678" not in p.html
    posts = {f.attrs.get("action") for f in p.find_all("form", method="post")}
    assert posts == {"/logout", "/locale"}  # read only: nothing on this page changes a visit
    assert p.unlabelled_controls() == []
    care = page(client.get("/console/visits?kind=care"))
    assert "甲网格走访" in care.text and "乙网格走访" not in care.text
    sign_in(client, site.token("jiedao2"))
    assert "甲网格走访" not in client.get("/console/visits?period=all").text
    for who in ("wangge_a", "jumin", "bumen"):
        sign_in(client, site.token(who))
        assert client.get("/console/visits").status_code == 403, who


def test_visit_kinds_and_periods_have_labels_in_both_languages() -> None:
    from zhili.visits.models import VISIT_KIND_LABELS
    from zhili.web import i18n, messages_visits  # noqa: F401  (registers the messages)

    for kind in service.VisitKind:
        assert i18n.translate("zh-CN", f"visit_kind.{kind.value}") == VISIT_KIND_LABELS[kind]  # one wording
        assert i18n.translate("en", f"visit_kind.{kind.value}") != f"visit_kind.{kind.value}"
    for period in service.PERIODS:
        assert i18n.has(f"visit_period.{period}")
