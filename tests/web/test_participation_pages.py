"""The resident participation pages: register and reset a password with an SMS code, log in by phone, problems
nearby and 附议, the "support instead?" suggestions on the report form, notices, the disclosure, suggestions; and
the staff notices editor and suggestions inbox. Reported and typed text is shown as text, never run."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pagekit import SESSION_COOKIE, page, sign_in
from sqlalchemy import select, update

from zhili.cases import notify
from zhili.core.db import utcnow
from zhili.core.security import Role, token_digest
from zhili.participation import service, sms
from zhili.participation.models import SmsCode
from zhili.users.models import AuthSession, User

PHONE = "13912345678"
PASSWORD = "Jumin-Anji-2026!"
EVIL = '<script>alert("xss")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def texts() -> Iterator[notify.FakeChannel]:
    fake = notify.FakeChannel(name="sms")
    sms.set_sms_channel(fake)
    yield fake
    sms.set_sms_channel(None)


def code_in(fake: notify.FakeChannel) -> str:
    m = re.search(r"\b(\d{6})\b", fake.sent[-1].body)
    assert m
    return m.group(1)


def assert_inert(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html


def register(client: Any, texts: notify.FakeChannel, phone: str = PHONE) -> Any:
    form = page(client.get("/h5/register"))
    sent = client.post("/h5/register/code", data={"csrf_token": form.csrf(), "phone": phone})
    assert sent.status_code == 200, sent.text
    return client.post("/h5/register", data={"csrf_token": form.csrf(), "phone": phone, "code": code_in(texts),
                                             "password": PASSWORD, "confirm_password": PASSWORD},
                       follow_redirects=False)


# -- registration, login by phone, password reset -----------------------------------------------------------

def test_the_register_page_labels_every_control_and_needs_no_login(client: Any, site: Any) -> None:
    client.cookies.clear()
    p = page(client.get("/h5/register"))
    assert p.h1() == "注册居民账号" and p.unlabelled_controls() == []
    assert p.find("button", formaction="/h5/register/code").text.strip() == "获取验证码"
    assert {o.attrs.get("value") for o in p.find_all("option")} >= {str(site.world.units["c1"].id)}
    login = page(client.get("/login"))
    assert "用户名或手机号" in login.text
    assert {"/h5/register", "/h5/password-reset"} <= {a.attrs.get("href") for a in login.find_all("a")}


def test_a_resident_registers_on_the_page_with_the_sms_code_and_lands_logged_in(client: Any, site: Any,
                                                                               texts: Any) -> None:
    client.cookies.clear()
    form = page(client.get("/h5/register"))
    r = client.post("/h5/register/code", data={"csrf_token": form.csrf(), "phone": PHONE, "display_name": "小王"})
    p = page(r)
    assert "验证码已发送至 139****5678" in p.find(role="status").text
    assert p.find("input", name="phone").attrs["value"] == PHONE and p.find("input", name="display_name") \
        .attrs["value"] == "小王"
    assert texts.sent[-1].phone == PHONE

    wrong = client.post("/h5/register", data={"csrf_token": form.csrf(), "phone": PHONE, "code": "000001",
                                              "password": PASSWORD, "confirm_password": PASSWORD})
    assert wrong.status_code == 422 and "验证码不正确，还可尝试4次" in page(wrong).find(role="alert").text
    assert site.db.scalar(select(SmsCode.attempts)) == 1  # kept although the request was refused
    assert page(wrong).find("input", name="phone").attrs["value"] == PHONE

    ok = client.post("/h5/register", data={"csrf_token": form.csrf(), "phone": PHONE, "code": code_in(texts),
                                           "password": PASSWORD, "confirm_password": PASSWORD,
                                           "display_name": "小王"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/h5/?msg=registered"
    assert SESSION_COOKIE in ok.cookies
    home = page(client.get(ok.headers["location"]))
    assert "注册成功" in home.text and "小王" in home.text


def test_too_frequent_codes_are_refused_on_the_page(client: Any, site: Any, texts: Any) -> None:
    client.cookies.clear()
    form = page(client.get("/h5/register"))
    client.post("/h5/register/code", data={"csrf_token": form.csrf(), "phone": PHONE})
    again = client.post("/h5/register/code", data={"csrf_token": form.csrf(), "phone": PHONE})
    assert again.status_code == 429 and re.search(r"请\d+秒后再试", page(again).find(role="alert").text)
    bad = client.post("/h5/register/code", data={"csrf_token": form.csrf(), "phone": "12345"})
    assert bad.status_code == 422 and "手机号码格式不正确" in page(bad).text
    assert len(texts.sent) == 1


def test_a_registered_resident_logs_in_on_the_login_page_with_the_phone(client: Any, site: Any, texts: Any) -> None:
    client.cookies.clear()
    assert register(client, texts).status_code == 303
    client.cookies.clear()
    form = page(client.get("/login"))
    r = client.post("/login", data={"csrf_token": form.csrf(), "username": PHONE, "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/h5/"


def test_a_forgotten_password_is_reset_on_the_page(client: Any, site: Any, texts: Any) -> None:
    client.cookies.clear()
    register(client, texts)
    site.db.execute(update(SmsCode).values(created_at=utcnow() - dt.timedelta(minutes=2)))  # a minute has passed
    client.cookies.clear()
    form = page(client.get("/h5/password-reset"))
    assert form.unlabelled_controls() == []
    client.post("/h5/password-reset/code", data={"csrf_token": form.csrf(), "phone": PHONE})
    new = "Xin-Mima-2026#"
    r = client.post("/h5/password-reset", data={"csrf_token": form.csrf(), "phone": PHONE, "code": code_in(texts),
                                                "password": new, "confirm_password": new}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?msg=password_reset"
    assert "密码已重置" in page(client.get(r.headers["location"])).text


# -- nearby, 附议, suggestions on the report form --------------------------------------------------------------

def test_nearby_shows_public_cases_without_personal_data_or_non_public_categories(client: Any, site: Any) -> None:
    case = site.report(description="门口垃圾没人清运，电话13812345678", lon=119.1, lat=31.1)
    hidden = site.report(description="邻居吵架打人了", category="SG-0101", lon=119.1, lat=31.1)
    case.address = "金陵路88号3幢501室"
    worker_case = site.report("wangge_a", description=EVIL, lon=119.1001, lat=31.1)
    sign_in(client, site.token("jumin"))
    r = client.get("/h5/nearby", params={"lon": "119.1", "lat": "31.1"})
    assert r.status_code == 200
    p = page(r)
    items = p.find_all("li", class_="pcase")
    ids = {li.attrs["id"] for li in items}
    assert ids == {f"pcase-{case.id}", f"pcase-{worker_case.id}"} and f"pcase-{hidden.id}" not in r.text
    for secret in ("13812345678", "金陵路88号", case.number, "wangge_a", "邻居吵架"):
        assert secret not in r.text
    assert "138****5678" in r.text and "金陵社区" in r.text
    assert_inert(r.text)
    own = next(li for li in items if li.attrs["id"] == f"pcase-{case.id}")
    assert "我上报的" in own.text  # the reporter cannot support their own report


def test_a_resident_supports_once_and_the_second_time_sees_already_supported(client: Any, site: Any) -> None:
    case = site.report(lon=119.1, lat=31.1)
    sign_in(client, _resident(site, "jumin_b"))
    p = page(client.get(f"/h5/nearby/{case.id}"))
    assert "0 人附议" in p.text
    form = p.find("form", action=f"/h5/nearby/{case.id}/support")
    r = client.post(form.attrs["action"], data={"csrf_token": p.csrf(), "next": f"/h5/nearby/{case.id}"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/h5/nearby/{case.id}?msg=supported"
    after = page(client.get(r.headers["location"]))
    assert "附议成功" in after.text and "1 人附议" in after.text and "已附议" in after.text
    assert not after.find_all("form", action=f"/h5/nearby/{case.id}/support")
    again = client.post(form.attrs["action"], data={"csrf_token": p.csrf()})
    assert again.status_code == 409 and "您已附议过该事件" in page(again).text
    fragment = client.post(form.attrs["action"], headers={"HX-Request": "true", "X-CSRF-Token": p.csrf()})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "已附议" in fragment.text
    assert client.post(form.attrs["action"], data={}).status_code == 403  # no CSRF token

    sign_in(client, site.token("zhihui"))
    console = page(client.get(f"/console/cases/{case.id}"))
    fact = next(d for d in console.find_all("div") if d.children and d.children[0].tag == "dt"
                and d.children[0].text == "附议人数")
    assert fact.children[1].text == "1"


def _resident(site: Any, username: str) -> str:
    """Another resident, signed in: returns the session token."""
    user = User(username=username, display_name=username, role=Role.resident, password_hash="!")
    site.db.add(user)
    site.db.flush()
    token = f"tok_{username}_{uuid.uuid4().hex}"
    site.db.add(AuthSession(user_id=user.id, token_hash=token_digest(token),
                            expires_at=utcnow() + dt.timedelta(hours=1)))
    site.db.flush()
    return token


def test_the_report_form_offers_nearby_cases_of_the_same_category_to_support_instead(client: Any, site: Any) -> None:
    case = site.report("wangge_a", lon=119.1, lat=31.1)
    sign_in(client, site.token("jumin"))
    form = page(client.get("/h5/report"))
    slot = form.find("div", id="nearby-suggest")
    assert slot.attrs["hx-get"] == "/h5/nearby/suggest" and "change" in slot.attrs["hx-trigger"]
    assert any(a.tag == "form" for a in slot.ancestors())  # inside the report form, so it can read its fields
    r = client.get("/h5/nearby/suggest", params={"category_code": "SJ-0102", "lon": "119.1002", "lat": "31.1"},
                   headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    frag = page(r)
    assert "附近已有相同的问题" in frag.text and frag.find("li", id=f"pcase-{case.id}")
    button = frag.find("button", class_="btn-small support-btn")
    assert button.attrs["hx-post"] == f"/h5/nearby/{case.id}/support" and button.attrs["type"] == "button"
    assert not frag.find_all("form")  # no form nested inside the report form
    empty = client.get("/h5/nearby/suggest", params={"category_code": "SJ-0103", "lon": "119.1", "lat": "31.1"})
    assert empty.text.strip() == ""


# -- notices, disclosure, suggestions ---------------------------------------------------------------------

def test_residents_read_notices_of_their_community_and_staff_publish_them(client: Any, site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    p = page(client.get("/console/participation/notices/new"))
    assert p.unlabelled_controls() == []
    units = {o.attrs["value"] for o in p.find("select", name="unit_id").children}
    assert units == {str(site.world.units["c1"].id)}
    r = client.post("/console/participation/notices", data={
        "csrf_token": p.csrf(), "unit_id": str(site.world.units["c1"].id), "title": EVIL, "body": f"停水通知{EVIL}",
        "pinned": "1", "publish_at": "", "expire_at": ""}, follow_redirects=False)
    assert r.status_code == 303
    listing = client.get("/console/participation/notices?msg=notice_saved")
    assert "公告已保存" in listing.text
    assert_inert(listing.text)
    bad = client.post("/console/participation/notices", data={
        "csrf_token": p.csrf(), "unit_id": str(site.world.units["c1"].id), "title": "标题", "body": "内容",
        "publish_at": "2026-13-40T99:99"})
    assert bad.status_code == 422 and "时间格式不正确" in page(bad).text
    assert page(bad).find("input", name="title").attrs["value"] == "标题"

    sign_in(client, site.token("jumin"))
    before = page(client.get("/h5/notices"))
    assert "停水通知" not in before.text  # no community chosen yet
    r = client.post("/h5/community", data={"csrf_token": before.csrf(), "community_id": str(site.world.units["c1"].id),
                                           "next": "/h5/notices"}, follow_redirects=True)
    assert "已设置您的社区" in r.text and "置顶" in r.text
    assert_inert(r.text)
    link = next(a for a in page(r).find_all("a") if a.attrs.get("href", "").startswith("/h5/notices/"))
    detail = client.get(link.attrs["href"])
    assert "金陵社区" in detail.text
    assert_inert(detail.text)


def test_staff_of_another_area_cannot_open_a_notice_and_residents_cannot_use_the_editor(client: Any,
                                                                                      site: Any) -> None:
    n = service.create_notice(site.db, principal=site.principal("shequ1"),
                              data={"unit_id": site.world.units["c1"].id, "title": "通知", "body": "内容"})
    sign_in(client, site.token("jiedao2"))
    assert client.get(f"/console/participation/notices/{n.id}").status_code == 404
    sign_in(client, site.token("jumin"))
    assert client.get("/console/participation/notices").status_code == 403
    sign_in(client, site.token("wangge_a"))
    assert client.get("/console/participation/suggestions").status_code == 403
    sign_in(client, site.token("shequ1"))
    nav = {a.attrs.get("href") for a in page(client.get("/console/participation/notices")).find_all("a")}
    assert {"/console/participation/notices", "/console/participation/suggestions"} <= nav


def test_the_disclosure_page_shows_last_months_figures_and_nothing_personal(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    p = page(client.get("/h5/disclosure", params={"community": str(site.world.units["c1"].id)}))
    assert "金陵社区" in p.h1() + p.text
    figures = {dd.attrs["data-figure"]: dd.text.strip() for dd in p.find_all("dd") if "data-figure" in dd.attrs}
    assert figures == {"reported": "0", "closed": "0", "on_time_rate": "暂无", "satisfaction": "暂无"}
    assert p.unlabelled_controls() == []


def test_a_suggestion_and_its_reply_are_seen_by_the_author_only(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    form = page(client.get("/h5/suggestions/new"))
    assert form.unlabelled_controls() == []
    r = client.post("/h5/suggestions", data={"csrf_token": form.csrf(), "title": "增设快递柜", "body": EVIL,
                                             "unit_id": str(site.world.units["c1"].id)}, follow_redirects=False)
    assert r.status_code == 303
    sid = r.headers["location"].split("/")[-1].split("?")[0]
    assert_inert(client.get(r.headers["location"]).text)

    sign_in(client, site.token("shequ1"))
    inbox = page(client.get("/console/participation/suggestions"))
    assert "增设快递柜" in inbox.text and "待答复" in inbox.text
    thread = page(client.get(f"/console/participation/suggestions/{sid}"))
    assert_inert(thread.html)
    r = client.post(f"/console/participation/suggestions/{sid}/reply", data={"csrf_token": thread.csrf(),
                                                                            "body": "已联系物业"},
                    follow_redirects=True)
    assert "答复已发送" in r.text
    sign_in(client, site.token("jiedao2"))
    assert client.get(f"/console/participation/suggestions/{sid}").status_code == 404

    sign_in(client, site.token("jumin"))
    mine = page(client.get(f"/h5/suggestions/{sid}"))
    assert "已联系物业" in mine.text and "金陵社区" in mine.text and "已答复" in mine.text
    listing = page(client.get("/h5/suggestions"))
    assert "增设快递柜" in listing.text

    sign_in(client, _resident(site, "jumin_c"))
    assert client.get(f"/h5/suggestions/{sid}").status_code == 404
    assert "增设快递柜" not in client.get("/h5/suggestions").text


def test_the_resident_navigation_has_the_new_pages(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    p = page(client.get("/h5/"))
    hrefs = {a.attrs["href"] for a in p.find_all("a") if any(x.tag == "nav" for x in a.ancestors())}
    assert {"/h5/", "/h5/report", "/h5/mine", "/h5/nearby", "/h5/notices", "/h5/suggestions"} == hrefs


def test_a_refused_registration_on_the_page_keeps_its_record_but_not_its_work(client: Any, site: Any,
                                                                            texts: Any) -> None:
    from zhili.core.audit import AuditEvent

    service.request_code(site.db, phone=PHONE, purpose="register", now=utcnow() - dt.timedelta(minutes=2))
    service.register_resident(site.db, phone=PHONE, code=code_in(texts), password=PASSWORD)
    service.request_code(site.db, phone=PHONE, purpose="register")
    site.db.commit()
    client.cookies.clear()
    form = page(client.get("/h5/register"))
    r = client.post("/h5/register", data={"csrf_token": form.csrf(), "phone": PHONE, "code": code_in(texts),
                                          "password": PASSWORD, "confirm_password": PASSWORD})
    assert r.status_code == 409 and "该手机号已注册" in page(r).find(role="alert").text
    newest = site.db.scalar(select(SmsCode).order_by(SmsCode.created_at.desc()).limit(1))
    site.db.refresh(newest)
    assert newest.consumed_at is None  # the refused work is rolled back …
    refused = list(site.db.scalars(select(AuditEvent).where(AuditEvent.action == "participation.register_refused")))
    assert [e.after["reason"] for e in refused] == ["phone_registered"]  # … and the refusal is recorded
