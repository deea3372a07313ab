"""The resident H5 portal: report a problem (category, description, photo, place), follow it, verify and rate."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from pagekit import page, png, sign_in
from sqlalchemy import func, select

from testimages import same_pixels
from zhili.cases.models import Attachment, Case, CaseState, Channel


def _form(client: Any, url: str = "/h5/report") -> Any:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return page(r)


def _report(client: Any, *, description: str = "小区门口垃圾堆放三天无人清运", photos: int = 1,
            follow: bool = True, **fields: str) -> Any:
    form = _form(client)
    data = {"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
            "category_code": "SJ-0102", "description": description, "lon": "119.1", "lat": "31.1", "crs": "wgs84",
            **fields}
    files = [("photos", (f"现场{i}.png", png(), "image/png")) for i in range(photos)]
    return client.post("/h5/report", data=data, files=files or None, follow_redirects=follow)


def _case_count(site: Any) -> int:
    return int(site.db.scalar(select(func.count()).select_from(Case)) or 0)


def test_the_resident_home_offers_reporting_and_my_reports(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    p = page(client.get("/h5/"))
    assert p.h1() == "居民随手拍"
    hrefs = {a.attrs.get("href") for a in p.find_all("a")}
    assert {"/h5/report", "/h5/mine"} <= hrefs
    assert "办理中 0 件" in p.text


def test_the_report_form_labels_every_input_and_groups_the_leaf_categories(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    p = _form(client)
    assert p.unlabelled_controls() == []
    groups = [" ".join(s.text.split()) for s in p.find_all("summary")]
    assert any(g.startswith("市容环境类") for g in groups)
    radios = p.find_all("input", name="category_code")
    codes = {r.attrs["value"] for r in radios}
    assert "SJ-0102" in codes and "SJ-01" not in codes  # only leaves can be reported
    assert len(codes) > 100
    assert p.find("input", type="file").attrs["name"] == "photos"
    assert p.find("input", name="crs").attrs["value"] == "wgs84"
    assert p.find("form", enctype="multipart/form-data").attrs["action"] == "/h5/report"


def test_searching_categories_returns_only_matching_leaves_as_a_fragment(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get("/h5/categories", params={"q": "井盖"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    names = {el.attrs["data-name"] for el in page(r).find_all("input", name="category_code")}
    assert names and all("井盖" in n for n in names)
    none = client.get("/h5/categories", params={"q": "没有这种问题"})
    assert "没有找到匹配的问题类型" in page(none).text


def test_a_resident_reports_a_case_with_a_photo_and_sees_it_in_my_reports(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = _report(client, follow=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/h5/cases/[0-9a-f-]{36}\?msg=reported", location)
    case = site.db.get(Case, uuid.UUID(location.split("/")[3].split("?")[0]))
    assert case.channel == Channel.resident and case.reporter_user_id == site.world.users["jumin"].id
    assert case.grid_id == site.world.units["ga"].id and case.state == CaseState.reported
    photo = site.db.scalar(select(Attachment).where(Attachment.case_id == case.id))
    assert photo is not None and photo.content_type == "image/png"

    detail = page(client.get(location))
    assert "上报成功" in detail.text and case.number in detail.text
    assert detail.find("img").attrs["src"] == f"/api/v1/attachments/{photo.id}"
    assert same_pixels(client.get(f"/api/v1/attachments/{photo.id}").content, png())  # the page's image loads
    assert "已上报" in detail.text and "上报" in " ".join(li.text for li in detail.find_all("li"))

    mine = page(client.get("/h5/mine"))
    links = [a for a in mine.find_all("a") if a.attrs.get("href") == f"/h5/cases/{case.id}"]
    assert links and "已上报" in links[0].text and case.number in links[0].text
    assert "共 1 条" in mine.text


def test_a_description_with_html_is_shown_as_text_everywhere(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    evil = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
    r = _report(client, description=evil, photos=0, address='<b onmouseover="x">门口</b>')
    assert r.status_code == 200
    for html in (r.text, client.get("/h5/mine").text):
        assert "<script>alert" not in html and "<img src=x" not in html and '<b onmouseover' not in html
        assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html
    assert not any("alert" in s.text for s in page(client.get("/h5/mine")).find_all("script"))
    assert "Content-Security-Policy" in r.headers and "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_a_refused_report_shows_the_form_again_with_what_was_typed_and_keeps_nothing(client: Any,
                                                                                     site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = _report(client, lon="", lat="", description="井盖丢失很危险")
    assert r.status_code == 422
    p = page(r)
    assert "请提供事发位置" in p.find(role="alert").text
    assert p.find("textarea", name="description").text == "井盖丢失很危险"
    assert p.find("input", value="SJ-0102").attrs.get("checked") is not None
    assert _case_count(site) == 0
    assert site.db.scalar(select(func.count()).select_from(Attachment)) == 0  # the photo went with the refusal
    r = _report(client, lon="121.5", lat="25.0")  # outside every grid
    assert r.status_code == 422 and "不在本区县的网格范围内" in page(r).text
    r = _report(client, category_code="")
    assert r.status_code == 422 and "请选择问题类型" in page(r).text
    r = _report(client, photos=4)
    assert r.status_code == 422 and "最多上传 3 张照片" in page(r).text


def test_an_address_alone_is_enough_to_report(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = _report(client, lon="", lat="", address="金陵路与长兴大道交叉口", photos=0)
    assert r.status_code == 200 and "上报成功" in page(r).text


def test_sending_the_same_form_twice_files_one_case(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form = _form(client)
    data = {"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
            "category_code": "SJ-0102", "description": "重复提交测试", "lon": "119.1", "lat": "31.1"}
    first = client.post("/h5/report", data=data, follow_redirects=False)
    second = client.post("/h5/report", data=data, follow_redirects=False)
    case_url = first.headers["location"].split("?")[0]
    assert first.headers["location"] == f"{case_url}?msg=reported"
    assert second.headers["location"] == f"{case_url}?msg=already_reported"  # the case it filed, with a note
    assert "已提交过，未重复上报" in page(client.get(second.headers["location"])).find(role="status").text
    assert _case_count(site) == 1


def test_sending_the_same_form_with_its_photo_twice_files_one_case(client: Any, site: Any) -> None:
    # the photo is uploaded again with the second post (a new attachment): the same report all the same
    sign_in(client, site.token("jumin"))
    form = _form(client)
    data = {"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
            "category_code": "SJ-0102", "description": "带照片的重复提交", "lon": "119.1", "lat": "31.1"}
    photo = [("photos", ("现场.png", png(), "image/png"))]
    first = client.post("/h5/report", data=data, files=photo, follow_redirects=False)
    second = client.post("/h5/report", data=data, files=photo, follow_redirects=False)
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    assert _case_count(site) == 1


def test_a_form_sent_again_with_other_content_is_refused_and_offered_as_a_new_report(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form = _form(client)
    idem = form.find("input", name="idem").attrs["value"]
    data = {"csrf_token": form.csrf(), "idem": idem, "category_code": "SJ-0102", "description": "第一次提交的内容",
            "lon": "119.1", "lat": "31.1"}
    assert client.post("/h5/report", data=data, follow_redirects=False).status_code == 303
    # back in the browser, the description changed, the same form sent again
    r = client.post("/h5/report", data={**data, "description": "改过的内容"}, follow_redirects=False)
    assert r.status_code == 422
    again = page(r)
    assert "已经提交过" in again.text and "改过的内容" in again.text  # what was typed is kept
    fresh = again.find("input", name="idem").attrs["value"]
    assert fresh and fresh != idem
    assert _case_count(site) == 1
    r = client.post("/h5/report", data={**data, "description": "改过的内容", "idem": fresh,
                                        "csrf_token": again.csrf()}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _case_count(site) == 2


def test_a_resident_verifies_and_rates_a_resolved_case_from_its_page(client: Any, site: Any) -> None:
    case = site.resolved()
    sign_in(client, site.token("jumin"))
    p = page(client.get(f"/h5/cases/{case.id}"))
    assert "处置完成" in p.text and "已清运完毕，现场恢复整洁" in p.text
    offered = {i.attrs["value"] for i in p.find_all("input", name="action")}
    assert offered == {"verify", "send_back"}
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "verify",
                                                       "version": str(case.version)})
    assert r.status_code == 200 and "操作已完成" in page(r).text
    site.db.refresh(case)
    assert case.state == CaseState.verified

    p = page(r)
    assert {i.attrs["value"] for i in p.find_all("input", name="action")} == {"rate"}
    assert len(p.find_all("input", name="rating")) == 5 and p.unlabelled_controls() == []
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "rate",
                                                       "version": str(case.version), "rating": "5",
                                                       "comment": "处理很及时"})
    site.db.refresh(case)
    assert case.state == CaseState.rated and case.rating == 5 and case.rating_comment == "处理很及时"
    assert "5 星（非常满意）" in page(r).text


def test_sending_back_needs_a_reason_and_a_stale_page_is_told_to_reload(client: Any, site: Any) -> None:
    case = site.resolved()
    sign_in(client, site.token("jumin"))
    p = page(client.get(f"/h5/cases/{case.id}"))
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "send_back",
                                                       "version": str(case.version)})
    assert r.status_code == 422 and "需要填写：原因" in page(r).find(role="alert").text
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "verify",
                                                       "version": str(case.version - 1)})
    assert r.status_code == 409 and "请刷新后重试" in page(r).text
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "close"})
    assert r.status_code == 422 and "不支持的操作" in page(r).text
    r = client.post(f"/h5/cases/{case.id}/act", data={"csrf_token": p.csrf(), "action": "send_back",
                                                       "reason": "垃圾还在"})
    site.db.refresh(case)
    assert r.status_code == 200 and case.state == CaseState.in_progress


def test_the_map_shows_every_grid_outline_to_a_resident(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    data = client.get("/h5/map/grids.geojson").json()
    assert data["type"] == "FeatureCollection"
    assert {f["properties"]["code"] for f in data["features"]} == {
        site.world.units[g].code for g in ("ga", "gb", "gc")}


def test_english_is_served_when_the_browser_asks_for_it_or_the_cookie_says_so(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get("/h5/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert page(r).find("html").attrs["lang"] == "en" and "Report a problem" in r.text
    assert page(client.get("/h5/", headers={"Accept-Language": "zh-TW,en;q=0.5"})).h1() == "居民随手拍"
    p = page(client.get("/h5/"))
    r = client.post("/locale", data={"csrf_token": p.csrf(), "lang": "en", "next": "/h5/mine"},
                    follow_redirects=False)
    assert r.headers["location"] == "/h5/mine"
    assert page(client.get("/h5/mine")).h1() == "My reports"


@pytest.mark.parametrize(("who", "url", "channel"), [("jumin", "/h5/report", Channel.resident),
                                                     ("wangge_a", "/gw/report", Channel.grid_worker)])
def test_a_page_report_passes_intakes_channel_rule(client: Any, site: Any, monkeypatch: pytest.MonkeyPatch,
                                                  who: str, url: str, channel: Channel) -> None:
    from zhili.cases import intake
    from zhili.core.errors import ValidationFailed

    seen: list[tuple[Any, Any]] = []

    def rule(principal: Any, channel: Any) -> Any:  # intake's rule, stricter for this test
        seen.append((principal.username, channel))
        raise ValidationFailed("该渠道暂停受理", code="bad_channel")

    monkeypatch.setattr(intake, "resolve_channel", rule)
    sign_in(client, site.token(who))
    form = _form(client, url)
    r = client.post(url, data={"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
                               "category_code": "SJ-0102", "description": "渠道规则", "address": "金陵路12号"},
                    follow_redirects=False)
    assert r.status_code == 422 and "该渠道暂停受理" in page(r).text
    assert seen == [(who, channel)] and _case_count(site) == 0
