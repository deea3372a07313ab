"""The command-centre screen page: who may open it, and that it is a static shell for screen.js (no inline script)."""

from __future__ import annotations

from typing import Any

from pagekit import page, sign_in


def test_the_screen_renders_for_the_command_centre(client: Any, site: Any) -> None:
    site.report()
    sign_in(client, site.token("zhihui"))
    r = client.get("/screen")
    assert r.status_code == 200
    p = page(r)
    assert p.title().startswith("指挥中心大屏")
    frame = p.find("div", id="screen")
    assert frame.attrs["data-root-id"] == str(site.world.units["district"].id)
    assert frame.attrs["data-api"] == "/api/v1/dashboard"
    scripts = [s.attrs.get("src", "") for s in p.find_all("script")]
    assert any(s.startswith("/static/vendor/echarts/echarts.min.js") for s in scripts)
    assert any(s.startswith("/static/app/screen.js") for s in scripts)
    assert not any(s.text.strip() for s in p.find_all("script"))
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for kpi in ("reported_today", "open", "overdue_now", "on_time_rate", "satisfaction"):
        p.find("div", id=f"kpi-{kpi}")
    for asset in scripts:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/api/v1/dashboard/kpis").json()["reported_today"] == 1  # the cookie works for the data


def test_the_screen_starts_at_a_street_users_own_street(client: Any, site: Any) -> None:
    sign_in(client, site.token("jiedao1"))
    frame = page(client.get("/screen")).find("div", id="screen")
    assert frame.attrs["data-root-id"] == str(site.world.units["s1"].id)
    w = site.world.units
    deep = page(client.get(f"/screen?unit_id={w['c1'].id}"))
    assert [c.text for c in deep.find("ol", id="crumbs").children] == ["雉城街道", "金陵社区"]
    assert client.get(f"/screen?unit_id={w['s2'].id}").status_code == 404  # the other street
    sign_in(client, site.token("lingdao"))
    assert client.get(f"/screen?unit_id={w['s2'].id}").status_code == 200


def test_the_screen_is_refused_to_residents_grid_workers_and_departments(client: Any, site: Any) -> None:
    for who in ("jumin", "wangge_a", "bumen"):
        sign_in(client, site.token(who))
        r = client.get("/screen")
        assert r.status_code == 403, who
        assert "只有指挥中心" in page(r).text
    client.cookies.clear()
    r = client.get("/screen", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
