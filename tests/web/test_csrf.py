"""Every page POST carries a CSRF token bound to the session: in the form field, or (htmx) in a header."""

from __future__ import annotations

import json
from typing import Any

from pagekit import page, sign_in
from sqlalchemy import func, select

from zhili.cases.models import Case
from zhili.core.audit import AuditEvent


def _report_form(site: Any, description: str = "路灯不亮已经一周") -> dict[str, str]:
    return {"category_code": "SJ-0102", "description": description, "lon": "119.1", "lat": "31.1", "crs": "wgs84"}


def _cases(site: Any) -> int:
    return int(site.db.scalar(select(func.count()).select_from(Case)) or 0)


def test_a_page_post_without_the_csrf_token_is_refused_with_a_403_page(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    before = _cases(site)
    r = client.post("/h5/report", data=_report_form(site))
    assert r.status_code == 403
    p = page(r)
    assert p.h1() == "没有权限" and "页面已过期或来源不明" in p.text
    assert _cases(site) == before


def test_a_page_post_with_a_token_of_another_session_is_refused(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    foreign = page(client.get("/account/password")).csrf()
    sign_in(client, site.token("jumin"))
    r = client.post("/h5/report", data={**_report_form(site), "csrf_token": foreign})
    assert r.status_code == 403 and _cases(site) == 0


def test_a_page_post_with_the_session_token_in_the_form_field_is_accepted(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    token = page(client.get("/h5/report")).csrf()
    r = client.post("/h5/report", data={**_report_form(site), "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _cases(site) == 1


def test_htmx_requests_send_the_token_in_a_header_set_on_the_body(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    body = page(client.get("/gw/")).find("body")
    headers = json.loads(body.attrs["hx-headers:inherited"])
    person = site.person_in("ga")
    url = f"/gw/persons/{person.id}/reveal"
    assert client.post(url, data={"reason": "入户核查"}, headers={"HX-Request": "true"}).status_code == 403
    r = client.post(url, data={"reason": "入户核查"}, headers={"HX-Request": "true", **headers})
    assert r.status_code == 200, r.text
    assert "完整信息" in r.text and "<html" not in r.text  # a fragment for htmx to swap in
    assert site.db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "person.reveal", AuditEvent.object_id == str(person.id))) == 1


def test_the_login_form_is_protected_before_there_is_a_session(client: Any, site: Any) -> None:
    r = client.post("/login", data={"username": "jumin", "password": "x"})
    assert r.status_code == 403 and "页面已过期或来源不明" in page(r).text
    token = page(client.get("/login")).csrf()  # the pre-login token is bound to a nonce cookie
    client.cookies.delete("zhili_csrf")
    assert client.post("/login", data={"csrf_token": token, "username": "jumin", "password": "x"}).status_code == 403


def test_logging_out_needs_the_token_too(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    assert client.post("/logout").status_code == 403
    assert client.get("/h5/").status_code == 200  # still signed in

