"""Pages and downloads for a signed-in browser are never cached (issue 14, defect 10)."""

from __future__ import annotations

from typing import Any

from pagekit import sign_in


def test_a_page_session_gets_no_store_on_pages_and_downloads_too(client: Any, world: Any) -> None:
    sign_in(client, world.tokens["wangge_a"])
    for url in ("/gw/", "/registry/persons/export.xlsx"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code < 500, (url, r.text)
        assert r.headers.get("cache-control") == "no-store", (url, r.status_code, r.headers.get("cache-control"))


def test_static_assets_stay_cacheable_for_a_signed_in_browser(client: Any, world: Any) -> None:
    sign_in(client, world.tokens["wangge_a"])
    r = client.get("/static/app/app.css")
    assert r.status_code == 200 and "no-store" not in r.headers.get("cache-control", "")
