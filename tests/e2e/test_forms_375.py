"""The report form on a 375 px phone, as a first-time resident uses it: a form sent without a category says so
beside the opened picker; Back after reporting and sending again files nothing new — and what was chosen is what
is filed; a double click sends once; a description over the limit is counted and refused, never cut. No console
errors on the way. (The server's side of each: tests/web/test_forms.py.)

Cases are counted through the API as the resident (each test's description is unique).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from liveserver import LiveServer, login

PHONE = {"viewport": {"width": 375, "height": 800}}
DESCRIPTION_MAX = 4000


def watch(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of the page (the test asserts there are none)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def cases_described(server: LiveServer, text: str) -> list[dict[str, Any]]:
    """The resident's cases with this description (found by its first words, which each test makes unique)."""
    with server.api("jumin") as api:
        items = api.get("/api/v1/cases", params={"q": text[:24], "page_size": 50}).raise_for_status().json()["items"]
    return [c for c in items if c["description"] == text]


def fill_report(page: Any, description: str) -> None:
    page.fill("#description", description)
    page.fill("#address", "金陵社区东门")


def pick_by_search(page: Any, keyword: str, index: int) -> tuple[str, str]:
    """Choose the ``index``-th category the search box finds; its (code, name)."""
    page.fill("#cat-q", keyword)
    results = page.locator("#category-list details[open] input[name=category_code]")
    page.wait_for_function("k => [...document.querySelectorAll('#category-list input[name=category_code]')]"
                           ".every(r => r.dataset.name.includes(k))", arg=keyword)
    radio = results.nth(index)
    code, name = radio.get_attribute("value"), radio.get_attribute("data-name")
    page.locator(f"#category-list label.chip:has(input[value='{code}'])").click()
    assert page.locator("[data-category-chosen]").inner_text() == f"已选择：{name}"
    return str(code), str(name)


def send(page: Any) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="提交上报").click()


def test_sending_without_a_category_opens_the_picker_and_says_so_beside_it(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(**PHONE).new_page()
    errors = watch(page)
    login(page, server, "jumin")
    page.goto("/h5/report")
    assert page.locator("#category-list details[open]").count() == 0  # every group folded, as a newcomer sees it
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    page.get_by_role("button", name="提交上报").click()  # the whole form empty
    message = page.locator("#category_code-error")
    message.wait_for(state="visible")
    assert message.inner_text() == "请选择问题类型"
    in_view = "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    assert message.evaluate(in_view)  # scrolled to
    assert page.locator("#category-list details[open]").count() >= 1  # a group opened to choose from
    assert page.locator("#description-error").inner_text() == "请填写问题描述"
    assert page.locator("#location-error").inner_text().startswith("请提供事发位置")

    fill_report(page, f"井盖松动，踩上去会晃 {uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="提交上报").click()
    assert message.is_visible() and page.locator("#description-error").is_hidden()  # fixed fields lose their message
    assert posts == [] and page.url.endswith("/h5/report")  # nothing was sent
    page.locator("#category-list details[open] label.chip").first.click()
    assert message.is_hidden()
    # the first category of the first group (上水井盖) has its own required question: asked now, beside it
    question = page.locator("fieldset.attributes:not([hidden])")
    assert question.is_visible() and "井盖问题" in question.inner_text()
    page.get_by_role("button", name="提交上报").click()
    beside = question.locator(".field-error")
    beside.wait_for(state="visible")
    assert beside.inner_text() == "请选择井盖问题" and posts == []
    question.locator("label.chip", has_text="松动/响动").click()
    assert beside.is_hidden()
    send(page)
    assert "msg=reported" in page.url, page.locator(".alert").all_inner_texts()
    assert len(posts) == 1 and errors == []


def test_back_after_reporting_and_sending_again_files_one_case_under_the_category_chosen(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(**PHONE).new_page()
    errors = watch(page)
    login(page, server, "jumin")
    page.goto("/h5/report")
    code, name = pick_by_search(page, "井盖", 1)  # not the first of its group: a restore by position would differ
    page.locator(f"fieldset[data-attributes-for='{code}'] label.chip", has_text="缺失").click()  # its own question
    text = f"人行道井盖缺失 {uuid.uuid4().hex[:8]}，夜间很危险"
    fill_report(page, text)
    token = page.input_value("input[name=idem]")
    send(page)
    first = re.search(r"/h5/cases/([0-9a-f-]{36})\?msg=reported", page.url)
    assert first, page.locator(".alert").all_inner_texts()

    page.go_back()
    page.wait_for_url("**/h5/report")
    assert page.input_value("#description") == text  # the browser brought the form back filled
    assert page.input_value("input[name=idem]") == token  # ... with the token it was sent with
    checked = page.locator("input[name=category_code]:checked")
    assert checked.count() == 1 and checked.get_attribute("value") == code
    assert checked.is_visible()  # its group is open
    assert page.locator("[data-category-chosen]").inner_text() == f"已选择：{name}"  # shown = filed
    assert page.locator(f"fieldset[data-attributes-for='{code}'] input:checked").get_attribute("value") == "missing"
    assert page.locator("[data-sent-before]").is_visible()
    send(page)
    assert page.url.endswith(f"/h5/cases/{first.group(1)}?msg=already_reported"), page.url
    assert "已提交过，未重复上报" in page.locator(".flash").inner_text()

    page.reload()  # the case page again: a GET, nothing sent
    filed = cases_described(server, text)
    assert [(c["id"], c["category_code"]) for c in filed] == [(first.group(1), code)]
    with server.api("jumin") as api:
        assert api.get(f"/api/v1/cases/{first.group(1)}").json()["attributes"] == {"cover_problem": "missing"}
    assert errors == []


def test_a_double_click_on_send_files_one_case(server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(**PHONE).new_page()
    errors = watch(page)
    login(page, server, "jumin")
    page.goto("/h5/report")
    pick_by_search(page, "暴露垃圾", 0)
    text = f"垃圾桶满溢 {uuid.uuid4().hex[:8]} 无人清运"
    fill_report(page, text)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    with page.expect_navigation():
        page.get_by_role("button", name="提交上报").dblclick()
    assert "msg=reported" in page.url, page.locator(".alert").all_inner_texts()
    assert len(posts) == 1
    assert len(cases_described(server, text)) == 1
    assert errors == []


def test_a_description_over_the_limit_is_counted_and_refused_with_a_message_never_cut(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(**PHONE).new_page()
    errors = watch(page)
    login(page, server, "jumin")
    page.goto("/h5/report")
    counter = page.locator("#description-counter")
    assert counter.inner_text() == f"剩余 {DESCRIPTION_MAX} 字"
    pick_by_search(page, "暴露垃圾", 0)
    page.fill("#address", "金陵社区东门")
    marker = f"超长 {uuid.uuid4().hex[:8]} "
    page.fill("#description", marker + "井" * (DESCRIPTION_MAX - 1 - len(marker)))
    assert counter.inner_text() == "剩余 1 字"
    page.locator("#description").press("End")
    page.keyboard.type("盖盖")  # typed past the limit: kept, counted
    assert counter.inner_text() == "已超出 1 字"
    text = page.input_value("#description")
    assert len(text) == DESCRIPTION_MAX + 1

    page.get_by_role("button", name="提交上报").click()
    beside = page.locator("#description-error")
    beside.wait_for(state="visible")
    assert beside.inner_text() == "问题描述不能超过 4000 字，现为 4001 字，请删减 1 字"
    assert page.url.endswith("/h5/report")

    assert errors == []
    with page.expect_navigation():  # sent past the page's check: the server refuses it the same way
        page.evaluate("document.querySelector('form.report-form').submit()")
    assert errors == ["console: Failed to load resource: the server responded with a status of 422 "
                      "(Unprocessable Entity)"]  # the refusal itself, and nothing else
    errors.clear()
    assert page.locator("#description-error").inner_text() == "问题描述不能超过 4000 字，现为 4001 字，请删减 1 字"
    assert page.input_value("#description") == text  # nothing cut
    assert page.locator("#description-counter").inner_text() == "已超出 1 字"
    assert cases_described(server, text) == []
    assert errors == []


def test_a_visit_form_brought_back_and_sent_again_records_one_visit(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    with server.api("wangge1") as api:
        household = api.get("/api/v1/registry/households", params={"page_size": 1}).raise_for_status().json()
    household_id = household["items"][0]["id"]
    page = make_context(**PHONE).new_page()
    errors = watch(page)
    login(page, server, "wangge1")
    page.goto(f"/gw/households/{household_id}/visits/new")
    page.get_by_role("button", name="保存走访记录").click()  # nothing chosen: said beside each, nothing sent
    assert page.locator("#kind-error").inner_text() == "请选择走访类型"
    assert page.locator("#summary-error").inner_text() == "请填写情况摘要"
    page.locator("label.chip", has_text="关爱走访").click()
    summary = f"独居老人身体良好 {uuid.uuid4().hex[:8]}"
    page.fill("#summary", summary)
    assert page.locator("#summary-counter").inner_text() == f"剩余 {200 - len(summary)} 字"
    with page.expect_navigation():
        page.get_by_role("button", name="保存走访记录").click()
    first = re.search(r"/gw/visits/([0-9a-f-]{36})\?msg=visit_recorded", page.url)
    assert first, page.locator(".alert").all_inner_texts()

    page.go_back()
    page.wait_for_url(f"**/gw/households/{household_id}/visits/new")
    assert page.input_value("#summary") == summary
    with page.expect_navigation():
        page.get_by_role("button", name="保存走访记录").click()
    assert page.url.endswith(f"/gw/visits/{first.group(1)}?msg=visit_already_recorded"), page.url
    assert "这次走访已保存过，未重复记录" in page.locator(".flash").inner_text()
    with server.api("wangge1") as api:
        visits = api.get("/api/v1/visits", params={"household_id": household_id, "page_size": 100}).json()["items"]
    assert [v["id"] for v in visits if v["summary"] == summary] == [first.group(1)]
    assert errors == []
