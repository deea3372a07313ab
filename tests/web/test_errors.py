"""Error pages: HTML in Chinese on page paths; the API and Open311 keep their own formats."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pagekit import page, sign_in


def test_the_404_page_for_an_unknown_page_path_is_html_in_chinese(client: Any) -> None:
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    p = page(r)
    assert p.find("html").attrs["lang"] == "zh-CN"
    assert p.h1() == "页面不存在" and "返回首页" in p.text


def test_an_unknown_api_path_stays_json(client: Any) -> None:
    r = client.get("/api/v1/unknown")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == "not_found"


def test_open311_paths_keep_their_own_error_format(client: Any) -> None:
    r = client.get("/open311/v2/nothing-here.json")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert "<html" not in r.text


def test_api_errors_raised_by_services_stay_json_with_the_session_cookie(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get(f"/api/v1/cases/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/api/v1/users")
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/json")


def test_a_page_of_another_portal_is_a_chinese_403_page(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get("/gw/")
    assert r.status_code == 403 and page(r).h1() == "没有权限"
    assert "此页面仅供网格员使用" in page(r).text
    sign_in(client, site.token("wangge_a"))
    r = client.get("/h5/mine")
    assert r.status_code == 403 and "此页面仅供居民使用" in page(r).text


def test_a_malformed_id_in_a_page_url_is_the_404_page(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get("/h5/cases/not-a-uuid")
    assert r.status_code == 404 and page(r).h1() == "页面不存在"


def test_a_case_that_is_not_yours_is_the_404_page_with_the_services_message(client: Any, site: Any) -> None:
    case = site.report("wangge_a")
    sign_in(client, site.token("jumin"))
    r = client.get(f"/h5/cases/{case.id}")
    assert r.status_code == 404
    assert page(r).h1() == "页面不存在" and "事件不存在或无权查看" in page(r).text


def test_an_unexpected_error_on_a_page_is_a_chinese_500_page_with_an_incident_number(
        client: Any, site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.web import pages_h5

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database fell over")

    monkeypatch.setattr(pages_h5.service, "list_cases", broken)
    sign_in(client, site.token("jumin"))
    r = client.get("/h5/mine")
    assert r.status_code == 500
    p = page(r)
    assert p.h1() == "服务器内部错误" and "事件编号" in p.text
    assert "database fell over" not in r.text and "Traceback" not in r.text
    api = client.get("/api/v1/cases")
    assert api.status_code == 500 and api.json()["code"] == "internal_error"


def test_a_page_without_a_session_sends_the_browser_to_login(client: Any) -> None:
    r = client.get("/h5/mine", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?msg=login_required&next=/h5/mine"
    assert "请先登录" in page(client.get(r.headers["location"])).text
    r = client.get("/h5/mine", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"].startswith("/login")


def test_an_expired_session_cookie_also_goes_to_login(client: Any) -> None:
    sign_in(client, "zl_not-a-live-token")
    r = client.get("/h5/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_wrong_method_on_a_page_is_an_html_page(client: Any) -> None:
    r = client.delete("/login")
    assert r.status_code == 405 and page(r).h1() == "不支持该操作"
