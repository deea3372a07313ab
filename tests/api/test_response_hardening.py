"""Response hardening (issue 14, defect 10): no caching of anything an authenticated caller receives, a
``Secure`` option for the cookies, and search text that is matched literally (``%`` and ``_`` are not wildcards)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apihelpers import Api, GridSet
from sqlalchemy import select

from testimages import png
from zhili.core.query import contains_text, starts_with_text
from zhili.core.settings import get_settings
from zhili.regions.models import Unit

PNG = png(16, 16)


def test_every_authenticated_api_answer_and_every_download_says_no_store(
    api: Api, registry: dict[str, GridSet]
) -> None:
    ga = registry["ga"]
    answers = {
        "me": api.get("wangge_a", "/auth/me"),
        "list": api.get("wangge_a", "/registry/persons"),
        "detail": api.get("wangge_a", f"/registry/persons/{ga.person['id']}"),
        "reveal": api.post("wangge_a", f"/registry/persons/{ga.person['id']}/reveal", json={"reason": "入户核实身份"}),
        "export": api.get("wangge_a", "/registry/persons/export"),
        "refusal": api.get("wangge_b", f"/registry/persons/{ga.person['id']}"),
    }
    upload = api.post("jumin", "/attachments", files={"file": ("现场.png", PNG, "image/png")})
    assert upload.status_code == 201, upload.text
    answers["photo"] = api.get("jumin", f"/attachments/{upload.json()['id']}")
    for name, r in answers.items():
        assert r.status_code < 500, (name, r.text)
        assert r.headers.get("cache-control") == "no-store", (name, r.headers.get("cache-control"))
    assert ga.secrets["id_number"] in answers["reveal"].text


@pytest.fixture
def cookie_secure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ZHILI_COOKIE_SECURE", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("ZHILI_COOKIE_SECURE")
    get_settings.cache_clear()


def _cookie(r: Any, name: str) -> str:
    return next(h for h in r.headers.get_list("set-cookie") if h.startswith(name + "="))


def _login(client: Any, db: Any, world: Any) -> Any:
    from zhili.core.security import Role
    from zhili.users import service

    service.create_user(db, principal=None, username="anquan", display_name="安全", role=Role.grid_worker,
                        password="Zhili-2024-Grid!", unit_ids=[world.units["ga"].id])
    return client.post("/api/v1/auth/login", json={"username": "anquan", "password": "Zhili-2024-Grid!"})


def test_cookies_are_not_secure_by_default_over_plain_http(client: Any, db: Any, world: Any) -> None:
    from zhili.http.deps import SESSION_COOKIE

    assert get_settings().cookie_secure is False
    r = _login(client, db, world)
    assert r.status_code == 200 and "secure" not in _cookie(r, SESSION_COOKIE).lower()


def test_the_cookie_secure_setting_marks_the_session_and_csrf_cookies_secure(
    cookie_secure: None, client: Any, db: Any, world: Any
) -> None:
    from zhili.http.deps import SESSION_COOKIE
    from zhili.web.csrf import ANON_COOKIE

    r = _login(client, db, world)
    assert r.status_code == 200, r.text
    assert "; secure" in _cookie(r, SESSION_COOKIE).lower()
    client.cookies.clear()
    form = client.get("/login")
    assert "; secure" in _cookie(form, ANON_COOKIE).lower()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    client.cookies.set(ANON_COOKIE, form.cookies.get(ANON_COOKIE) or _cookie(form, ANON_COOKIE).split(";")[0]
                       .split("=", 1)[1])
    page = client.post("/login", data={"csrf_token": token.group(1), "username": "anquan",
                                       "password": "Zhili-2024-Grid!", "next": ""}, follow_redirects=False)
    assert page.status_code == 303, page.text
    assert "; secure" in _cookie(page, SESSION_COOKIE).lower()


def test_a_bare_percent_matches_only_rows_holding_a_literal_percent(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    plain = api.building(grid, name="普通幢")
    percent = api.building(grid, name="100%满意幢")
    under = api.building(grid, name="A_B幢")
    found = {b["id"] for b in api.get("admin", "/registry/buildings", params={"q": "%"}).json()["items"]}
    assert found == {percent["id"]}
    found = {b["id"] for b in api.get("admin", "/registry/buildings", params={"q": "_"}).json()["items"]}
    assert found == {under["id"]}
    assert plain["id"] not in found


def test_the_user_search_treats_wildcards_literally(api: Api, world: Any) -> None:
    assert api.get("admin", "/users", params={"q": "%"}).json()["total"] == 0
    assert api.get("admin", "/users", params={"q": "_"}).json()["total"] == sum("_" in u for u in world.users)


def test_the_like_helpers_escape_wildcards_and_the_escape_character(db: Any, world: Any) -> None:
    names = set(db.scalars(select(Unit.name).where(contains_text(Unit.name, "%"))))
    assert names == set()
    assert set(db.scalars(select(Unit.code).where(starts_with_text(Unit.code, "3305_2")))) == set()
    assert set(db.scalars(select(Unit.code).where(starts_with_text(Unit.code, "/")))) == set()
    assert len(set(db.scalars(select(Unit.code).where(starts_with_text(Unit.code, "330522"))))) == 8


def test_every_like_built_from_user_text_goes_through_the_escaping_helpers() -> None:
    """A new search cannot bring the wildcard back: no raw ``contains``/``startswith``/``like`` on a column with a
    non-literal argument outside ``core.query`` (and the escaped path LIKE in ``core.jurisdiction``)."""
    src = Path(__file__).resolve().parents[2] / "src" / "zhili"
    raw = re.compile(r"(?:\b[A-Z]\w*\.\w+|\bcast\([^)]*\))"
                     r"\.(?:contains|startswith|endswith|like|ilike|notlike)\((?![\"'])")
    offenders = []
    for path in src.rglob("*.py"):
        rel = str(path.relative_to(src))
        if rel in ("core/query.py", "core/jurisdiction.py"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.search(line) and "shapely" not in line:
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


