"""Login, logout, lockout and the forced password change through the pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pagekit import SESSION_COOKIE, page, sign_in
from sqlalchemy.orm import Session

from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.users import service
from zhili.users.models import User

PASSWORD = "Zhili-2024-Grid!"
NEW_PASSWORD = "Wangge#Anji-2025"


@pytest.fixture
def zhangwei(db: Session, world: Any) -> User:
    """A grid worker of grid ga with a real (hashed) password."""
    return service.create_user(db, principal=None, username="zhangwei", display_name="张伟", role=Role.grid_worker,
                               password=PASSWORD, unit_ids=[world.units["ga"].id])


def login(client: Any, username: str = "zhangwei", password: str = PASSWORD, next_url: str = "",
          follow: bool = False) -> Any:
    form = page(client.get("/login"))
    return client.post("/login", data={"csrf_token": form.csrf(), "username": username, "password": password,
                                       "next": next_url}, follow_redirects=follow)


def test_the_login_page_is_a_chinese_form_with_a_label_for_every_input(client: Any) -> None:
    r = client.get("/login")
    assert r.status_code == 200
    p = page(r)
    assert p.find("html").attrs["lang"] == "zh-CN"
    assert p.h1() == "登录智理平台" and "用户名" in p.text and "密码" in p.text
    assert p.find("input", name="password").attrs["type"] == "password"
    assert p.unlabelled_controls() == []


def test_logging_in_sets_an_httponly_lax_session_cookie_and_lands_on_the_role_home(client: Any,
                                                                                   zhangwei: User) -> None:
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/gw/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert "httponly" in attrs and "samesite=lax" in cookie.lower().replace(" ", "")
    home = client.get("/gw/")
    assert home.status_code == 200
    assert "张伟" in page(home).text and "网格员" in page(home).text


def test_login_returns_to_the_page_that_asked_for_it_but_never_to_another_site(client: Any, zhangwei: User) -> None:
    r = client.get("/gw/households", follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/login" and parse_qs(target.query)["next"] == ["/gw/households"]
    assert login(client, next_url="/gw/households").headers["location"] == "/gw/households"
    client.cookies.clear()
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert login(client, next_url=evil).headers["location"] == "/gw/"
        client.cookies.clear()


def test_a_wrong_password_and_an_unknown_user_show_the_same_alert_on_the_login_page(client: Any,
                                                                                   zhangwei: User) -> None:
    r = login(client, password="wrong-password")
    assert r.status_code == 401
    p = page(r)
    alert = p.find(role="alert")
    assert alert.text.strip().endswith("用户名或密码错误") and "再错" not in p.text
    assert p.find("input", name="username").attrs["value"] == "zhangwei"
    assert SESSION_COOKIE not in client.cookies
    unknown = login(client, username="nobody", password="wrong-password")
    assert unknown.status_code == 401 and page(unknown).find(role="alert").text.strip() == alert.text.strip()


def test_the_lockout_message_is_shown_after_too_many_wrong_passwords(client: Any, zhangwei: User) -> None:
    for _ in range(get_settings().login_max_failures):
        r = login(client, password="wrong-password")
    assert r.status_code == 423
    assert "账号已锁定" in page(r).find(role="alert").text
    r = login(client)  # even the right password is refused while locked
    assert r.status_code == 423
    assert "账号已锁定" in page(r).find(role="alert").text and "分钟后再试" in page(r).text


def test_a_user_who_must_change_the_password_is_sent_to_the_password_page_until_it_is_changed(
        client: Any, db: Session, zhangwei: User) -> None:
    zhangwei.must_change_password = True
    db.flush()
    r = login(client)
    assert r.headers["location"].startswith("/account/password")
    assert client.get("/gw/", follow_redirects=False).headers["location"].startswith("/account/password")
    form = page(client.get("/account/password"))
    assert "请先修改密码" in form.text and form.unlabelled_controls() == []

    r = client.post("/account/password", data={"csrf_token": form.csrf(), "old_password": PASSWORD,
                                               "new_password": NEW_PASSWORD, "confirm_password": "different"})
    assert r.status_code == 422 and "两次输入的新密码不一致" in page(r).text
    r = client.post("/account/password", data={"csrf_token": form.csrf(), "old_password": PASSWORD,
                                               "new_password": "short", "confirm_password": "short"})
    assert r.status_code == 422 and "密码强度不足" in page(r).text
    r = client.post("/account/password", data={"csrf_token": form.csrf(), "old_password": PASSWORD,
                                               "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/gw/?msg=password_changed"
    assert "密码已修改" in page(client.get(r.headers["location"])).text


def test_logging_out_ends_the_session_and_clears_the_cookie(client: Any, zhangwei: User) -> None:
    login(client)
    token = client.cookies[SESSION_COOKIE]
    home = page(client.get("/gw/"))
    r = client.post("/logout", data={"csrf_token": home.csrf()}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?msg=logged_out"
    assert SESSION_COOKIE not in client.cookies
    assert "您已安全退出" in page(client.get(r.headers["location"])).text
    sign_in(client, token)  # the old cookie no longer works anywhere
    assert client.get("/gw/", follow_redirects=False).headers["location"].startswith("/login")
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_signed_in_user_visiting_the_login_page_goes_home(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    r = client.get("/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/h5/"
    sign_in(client, site.token("zhihui"))
    assert client.get("/login", follow_redirects=False).headers["location"] == "/console/home"
    assert page(client.get("/home")).h1() == "工作台"  # the old address reaches the workbench
