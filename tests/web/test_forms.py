"""Forms that cannot lose or duplicate work, as the server answers them (the browser's side: tests/e2e/
test_forms_375.py). A refused report or visit comes back with everything typed and each message beside its field —
the category picker's too; a text over its limit is refused, never cut; a form sent twice makes one record and goes
to it; the photo pickers accept, name and refuse the same types as the server."""

from __future__ import annotations

import uuid
from typing import Any

from pagekit import Page, page, png, sign_in
from sqlalchemy import func, select

from zhili.cases import files
from zhili.cases.limits import ADDRESS_MAX, DESCRIPTION_MAX
from zhili.cases.models import Attachment, Case
from zhili.visits.models import FINDINGS_MAX, SUMMARY_MAX, Visit

PDF = b"%PDF-1.4\n% not a photo\n"


def _count(site: Any, model: Any) -> int:
    return int(site.db.scalar(select(func.count()).select_from(model)) or 0)


def _report_form(client: Any, url: str = "/h5/report") -> tuple[Page, dict[str, str]]:
    form = page(client.get(url))
    return form, {"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
                  "category_code": "SJ-0102", "description": "小区门口垃圾堆放三天无人清运", "lon": "119.1",
                  "lat": "31.1", "crs": "wgs84"}


def _beside(p: Page, field: str) -> str:
    """The message shown beside a field ('' when there is none, as when its element is hidden)."""
    box = p.find(id=f"{field}-error")
    return "" if "hidden" in box.attrs else " ".join(box.text.split())


def test_the_form_pages_are_never_kept_by_the_browser_cache(client: Any, site: Any) -> None:
    # Back asks the server again; the page's script then gives the form back its submission token
    household = site.household_in("ga")
    for who, url in (("jumin", "/h5/report"), ("wangge_a", "/gw/report"),
                     ("wangge_a", f"/gw/households/{household.id}/visits/new")):
        sign_in(client, site.token(who))
        r = client.get(url)
        assert r.headers["cache-control"] == "no-store", url
        form = page(r).find("form", enctype="multipart/form-data")
        assert "data-checked-form" in form.attrs and form.attrs["data-draft"] == form.attrs["action"], url
        assert any(s.attrs.get("src", "").startswith("/static/app/forms.js") for s in page(r).find_all("script"))


def test_a_report_without_a_category_says_so_beside_the_picker_and_keeps_what_was_typed(client: Any,
                                                                                        site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form, data = _report_form(client)
    assert not [r for r in form.find_all("input", name="category_code") if "required" in r.attrs]  # no hidden bubble
    assert _beside(form, "category_code") == ""
    r = client.post("/h5/report", data={**data, "category_code": "", "address": "金陵路12号"})
    assert r.status_code == 422
    p = page(r)
    box = p.find(id="category_code-error")
    assert _beside(p, "category_code") == "请选择问题类型"
    assert any(a.attrs.get("id") == "category-step" for a in box.ancestors())  # in the picker's own step
    assert p.find("textarea", name="description").text == data["description"]
    assert p.find("input", name="lon").attrs["value"] == "119.1"
    assert p.find("input", name="address").attrs["value"] == "金陵路12号"
    assert p.find("input", name="idem").attrs["value"] == data["idem"]  # the same submission, sent again when fixed
    assert "请修改下面标出的 1 项" in p.find(role="alert").text
    assert [a.attrs["href"] for a in p.find_all("a") if a.attrs.get("href", "").endswith("-error")] == [
        "#category_code-error"]
    assert _count(site, Case) == 0


def test_an_empty_report_says_every_missing_field_beside_it(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    _, data = _report_form(client)
    r = client.post("/h5/report", data={"csrf_token": data["csrf_token"], "idem": data["idem"]})
    assert r.status_code == 422
    p = page(r)
    assert _beside(p, "category_code") == "请选择问题类型"
    assert _beside(p, "description") == "请填写问题描述"
    assert _beside(p, "location").startswith("请提供事发位置")
    assert p.find("textarea", name="description").attrs.get("aria-invalid") == "true"
    assert "请修改下面标出的 3 项" in p.find(role="alert").text
    assert _count(site, Case) == 0


def test_an_over_long_description_is_refused_beside_it_and_kept_whole(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form, data = _report_form(client)
    area = form.find("textarea", name="description")
    assert area.attrs["maxlength"] == area.attrs["data-max"] == str(DESCRIPTION_MAX)  # the server's own limit
    assert "最多 4000 字" in form.find(id="description-counter").text
    long = "垃" * (DESCRIPTION_MAX + 1)
    r = client.post("/h5/report", data={**data, "description": long})
    assert r.status_code == 422
    p = page(r)
    assert _beside(p, "description") == "问题描述不能超过 4000 字，现为 4001 字，请删减 1 字"
    assert p.find("textarea", name="description").text == long  # nothing cut, nothing lost
    assert _count(site, Case) == 0


def test_line_breaks_count_once_as_on_the_page(client: Any, site: Any) -> None:
    # A browser sends a textarea's line breaks as CRLF; its counter and maxlength count each as one character.
    sign_in(client, site.token("jumin"))
    _, data = _report_form(client)
    text = "垃" * (DESCRIPTION_MAX - 2) + "\r\n" + "圾"
    r = client.post("/h5/report", data={**data, "description": text}, follow_redirects=False)
    assert r.status_code == 303, page(r).find(role="alert").text
    case = site.db.scalar(select(Case))
    assert case.description == text.replace("\r\n", "\n") and len(case.description) == DESCRIPTION_MAX


def test_other_fields_are_refused_beside_them_too(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    _, data = _report_form(client)
    r = client.post("/h5/report", data={**data, "address": "路" * (ADDRESS_MAX + 1)})
    assert r.status_code == 422 and _beside(page(r), "address").startswith("地址或位置描述不能超过 255 字")
    r = client.post("/h5/report", data={**data, "reporter_phone": "12345"})
    p = page(r)
    assert r.status_code == 422 and _beside(p, "reporter_phone").startswith("手机号码格式不正确")
    assert "open" in p.find("details", class_="step contact").attrs  # the folded block opens to show it
    r = client.post("/h5/report", data={**data, "lon": "东经119", "lat": "31.1"})
    assert r.status_code == 422 and _beside(page(r), "location") == "位置坐标格式不正确"
    r = client.post("/h5/report", data={**data, "category_code": "SJ-9999"})
    assert r.status_code == 422 and "SJ-9999" in _beside(page(r), "category_code")  # a form's mistake: not a 404
    assert _count(site, Case) == 0


def test_a_form_sent_again_by_a_grid_worker_goes_to_the_case_it_filed(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    _, data = _report_form(client, "/gw/report")
    data = {**data, "address": "金陵路12号"}
    first = client.post("/gw/report", data=data, follow_redirects=False)
    again = client.post("/gw/report", data=data, follow_redirects=False)  # Back and send, reload, double click
    assert first.headers["location"].endswith("?msg=reported")
    assert again.headers["location"] == first.headers["location"].replace("msg=reported", "msg=already_reported")
    assert "已提交过，未重复上报" in page(client.get(again.headers["location"])).text
    assert _count(site, Case) == 1


def test_the_photo_pickers_accept_name_and_refuse_the_servers_own_types(client: Any, site: Any) -> None:
    names = files.type_names(files.IMAGE_TYPES)
    assert files.IMAGE_TYPES == ("image/jpeg", "image/png", "image/gif", "image/webp")
    assert names == "JPEG、PNG、GIF、WebP"
    household = site.household_in("ga")
    for who, url in (("jumin", "/h5/report"), ("wangge_a", "/gw/report"),
                     ("wangge_a", f"/gw/households/{household.id}/visits/new")):
        sign_in(client, site.token(who))
        form = page(client.get(url))
        picker = form.find("input", type="file")
        assert tuple(picker.attrs["accept"].split(",")) == files.IMAGE_TYPES, url
        assert names in form.find(id="photos-hint").text, url
    # a file the picker would not offer is refused by the server beside the picker, naming the same types
    sign_in(client, site.token("jumin"))
    _, data = _report_form(client)
    r = client.post("/h5/report", data=data, files=[("photos", ("单据.pdf", PDF, "application/pdf"))])
    assert r.status_code == 422 and _beside(page(r), "photos") == f"现场照片只能是 {names} 图片"
    sign_in(client, site.token("wangge_a"))
    form = page(client.get(f"/gw/households/{household.id}/visits/new"))
    r = client.post(f"/gw/households/{household.id}/visits", data={
        "csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"], "kind": "care",
        "summary": "老人身体良好"}, files=[("photos", ("单据.pdf", PDF, "application/pdf"))])
    assert r.status_code == 422 and _beside(page(r), "photos") == f"走访照片只能是 {names} 图片"
    assert _count(site, Case) == _count(site, Visit) == _count(site, Attachment) == 0


# -- the visit form ----------------------------------------------------------------------------------------------

def _visit_form(client: Any, household: Any) -> tuple[Page, dict[str, Any]]:
    form = page(client.get(f"/gw/households/{household.id}/visits/new"))
    return form, {"csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"],
                  "kind": "care", "summary": "独居老人身体良好", "visited_at": form.find(
                      "input", name="visited_at").attrs["value"]}


def test_a_visit_form_sent_twice_records_one_visit_and_goes_to_it(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    _, data = _visit_form(client, household)
    assert uuid.UUID(data["idem"]).version == 7  # drawn with the form: the visit's id keeps its time
    url = f"/gw/households/{household.id}/visits"
    first = client.post(url, data=data, files=[("photos", ("a.png", png(), "image/png"))], follow_redirects=False)
    again = client.post(url, data=data, follow_redirects=False)  # brought back by the browser without its photo
    visit = site.db.scalar(select(Visit))
    assert first.headers["location"] == f"/gw/visits/{visit.id}?msg=visit_recorded"
    assert again.headers["location"] == f"/gw/visits/{visit.id}?msg=visit_already_recorded"
    assert "这次走访已保存过，未重复记录" in page(client.get(again.headers["location"])).text
    assert _count(site, Visit) == 1

    changed = client.post(url, data={**data, "summary": "改过的摘要"})  # Back, edited, sent with the old token
    p = page(changed)
    assert changed.status_code == 422 and "已经保存过" in p.find(role="alert").text
    fresh = p.find("input", name="idem").attrs["value"]
    assert fresh != data["idem"] and p.find("input", name="summary").attrs["value"] == "改过的摘要"
    assert _count(site, Visit) == 1
    r = client.post(url, data={**data, "summary": "改过的摘要", "idem": fresh}, follow_redirects=False)
    assert r.status_code == 303 and _count(site, Visit) == 2  # confirmed: it is another visit


def test_a_refused_visit_says_each_problem_beside_its_field_and_cuts_nothing(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    form, data = _visit_form(client, household)
    assert form.find("input", name="summary").attrs["maxlength"] == str(SUMMARY_MAX)
    assert form.find("textarea", name="findings").attrs["data-max"] == str(FINDINGS_MAX)
    assert form.find(id="findings-counter") and form.find(id="summary-counter")
    url = f"/gw/households/{household.id}/visits"
    long = "漏" * (FINDINGS_MAX + 1)
    r = client.post(url, data={**data, "kind": "", "summary": "", "findings": long})
    assert r.status_code == 422
    p = page(r)
    assert _beside(p, "kind") == "请选择走访类型" and _beside(p, "summary") == "请填写情况摘要"
    assert _beside(p, "findings") == "发现的问题不能超过 4000 字，现为 4001 字，请删减 1 字"
    assert p.find("textarea", name="findings").text == long
    r = client.post(url, data={**data, "to_case": "1"})
    p = page(r)
    assert r.status_code == 422 and _beside(p, "category_code") == "请选择事件类别"
    assert "open" in p.find("details", class_="step follow-up").attrs
    r = client.post(url, data={**data, "to_case": "1", "category_code": "SJ-0102",
                               "case_description": "堆" * (DESCRIPTION_MAX + 1)})
    assert r.status_code == 422 and _beside(page(r), "case_description").startswith("需处置的问题不能超过 4000 字")
    assert _count(site, Visit) == _count(site, Case) == 0


def test_turning_a_visit_into_a_case_refuses_an_over_long_description_instead_of_cutting_it(client: Any,
                                                                                            site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    _, data = _visit_form(client, household)
    client.post(f"/gw/households/{household.id}/visits", data=data)
    visit = site.db.scalar(select(Visit))
    p = page(client.get(f"/gw/visits/{visit.id}"))
    assert p.find("textarea", name="case_description").attrs["maxlength"] == str(DESCRIPTION_MAX)
    r = client.post(f"/gw/visits/{visit.id}/case", data={"csrf_token": p.csrf(), "category_code": "SJ-0102",
                                                          "case_description": "堆" * (DESCRIPTION_MAX + 1)})
    assert r.status_code == 422 and "问题描述不能超过4000字" in page(r).find(role="alert").text
    assert _count(site, Case) == 0


# -- a category's own questions ----------------------------------------------------------------------------------

COVER = "BJ-0102"  # 污水井盖: its question 井盖问题 (cover_problem) is required
COVER_FIELD = f"attr.{COVER}.cover_problem"


def test_the_chosen_categorys_questions_are_asked_on_the_form_and_filed_with_the_case(client: Any,
                                                                                       site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form, data = _report_form(client)
    blocks = form.find_all("fieldset", class_="attributes")
    assert blocks and all("hidden" in b.attrs and "disabled" in b.attrs for b in blocks)  # none chosen yet
    assert {i.attrs["value"] for i in form.find_all("input", name=COVER_FIELD)} >= {"missing", "loose"}
    assert form.unlabelled_controls() == []

    r = client.post("/h5/report", data={**data, "category_code": COVER})
    assert r.status_code == 422
    p = page(r)
    assert _beside(p, COVER_FIELD) == "请选择井盖问题"
    shown = [b for b in p.find_all("fieldset", class_="attributes") if "hidden" not in b.attrs]
    assert [b.attrs["data-attributes-for"] for b in shown] == [COVER] and "disabled" not in shown[0].attrs
    assert "井盖问题" in shown[0].text and "cover_problem" not in shown[0].text  # a name, never the code
    assert _count(site, Case) == 0

    r = client.post("/h5/report", data={**data, "category_code": COVER, COVER_FIELD: "loose",
                                        "attr.SJ-0103.waste_volume": "3"}, follow_redirects=False)  # another's: ignored
    assert r.status_code == 303, page(r).find(role="alert").text
    case = site.db.scalar(select(Case))
    assert case.category_code == COVER and case.attributes == {"cover_problem": "loose"}


def test_an_answer_the_category_does_not_offer_is_refused_beside_its_questions(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    _, data = _report_form(client, "/gw/report")
    r = client.post("/gw/report", data={**data, "category_code": COVER, COVER_FIELD: "stolen"})
    p = page(r)
    assert r.status_code == 422 and "不在可选项中" in _beside(p, "attributes")
    assert p.find("input", name=COVER_FIELD, value="missing")  # the questions are there to answer again
    assert _count(site, Case) == 0


def test_a_visit_follow_up_asks_its_categorys_questions_too(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    _, data = _visit_form(client, household)
    url = f"/gw/households/{household.id}/visits"
    r = client.post(url, data={**data, "category_code": COVER}, follow_redirects=False)  # not ticked: not asked
    assert r.status_code == 303 and _count(site, Case) == 0
    _, data = _visit_form(client, household)
    follow = {**data, "to_case": "1", "category_code": COVER, "case_description": "楼下污水井盖松动"}
    r = client.post(url, data=follow)
    assert r.status_code == 422 and _beside(page(r), COVER_FIELD) == "请选择井盖问题"
    r = client.post(url, data={**follow, COVER_FIELD: "loose"}, follow_redirects=False)
    assert r.headers["location"].endswith("msg=visit_to_case")
    case = site.db.scalar(select(Case))
    assert case.attributes == {"cover_problem": "loose", "visit_id": str(site.db.scalar(
        select(Visit.id).where(Visit.case_id == case.id)))}


def test_turning_a_visit_into_a_case_asks_its_categorys_questions(client: Any, site: Any) -> None:
    household = site.household_in("ga")
    sign_in(client, site.token("wangge_a"))
    _, data = _visit_form(client, household)
    client.post(f"/gw/households/{household.id}/visits", data=data)
    visit = site.db.scalar(select(Visit))
    p = page(client.get(f"/gw/visits/{visit.id}"))
    sent = {"csrf_token": p.csrf(), "category_code": COVER, "case_description": "污水井盖松动"}
    r = client.post(f"/gw/visits/{visit.id}/case", data=sent)
    assert r.status_code == 422 and _beside(page(r), COVER_FIELD) == "请选择井盖问题"
    r = client.post(f"/gw/visits/{visit.id}/case", data={**sent, COVER_FIELD: "missing"}, follow_redirects=False)
    assert r.status_code == 303
    assert site.db.scalar(select(Case)).attributes["cover_problem"] == "missing"
