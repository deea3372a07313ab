"""Screenshots of the main pages into docs/screenshots/ (``make screenshots``).

Seeds the small demo district *with* its case history into a temporary SQLite database, serves it with
``zhili serve`` on a free port and photographs the pages with Debian's headless Chromium (Playwright drives
/usr/bin/chromium; no browser is downloaded). A page that does not exist (404) is skipped and reported.
``python scripts/screenshots.py home-`` makes only the screenshots whose names start with the given prefixes.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from liveserver import LiveServer, launch_chromium, live_server, login, new_context  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PHONE = {"viewport": {"width": 375, "height": 800}, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
LAPTOP = {"viewport": {"width": 1366, "height": 900}}  # the staff width the pages are checked at
HOMES = [  # every role's home: (screenshot, user, path, viewport)
    ("home-command-centre", "zhihui", "/console/home", LAPTOP), ("home-leader", "lingdao", "/console/home", LAPTOP),
    ("home-street", "jiedao", "/console/home", LAPTOP), ("home-community", "shequ", "/console/home", LAPTOP),
    ("home-department", "bumen", "/console/home", LAPTOP), ("home-admin", "admin", "/console/home", LAPTOP),
    ("home-auditor", "shenji", "/console/audit/", LAPTOP), ("home-resident-375", "jumin", "/h5/", PHONE),
    ("home-grid-worker-375", "wangge1", "/gw/", PHONE),
]
SCREEN = {"viewport": {"width": 1920, "height": 1080}}


def log(msg: str) -> None:
    print(msg, flush=True)


class Shooter:
    def __init__(self, browser: Any, server: LiveServer, only: list[str]) -> None:
        self.browser, self.server, self.only = browser, server, only
        self.made: list[str] = []
        self.skipped: list[str] = []

    def page(self, user: str, options: dict[str, Any]) -> Any:
        ctx = new_context(self.browser, self.server, **options)
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        login(page, self.server, user)
        return page

    def shot(self, name: str, user: str, path: str, options: dict[str, Any], *,
             prepare: Callable[[Any], None] | None = None, full_page: bool = True) -> None:
        if self.only and not name.startswith(tuple(self.only)):
            return
        page = self.page(user, options)
        try:
            response = page.goto(path)
            if response is None or response.status == 404:
                self.skipped.append(f"{name} ({path}: page not found)")
                log(f"skip  {name}: {path} does not exist")
                return
            if prepare:
                prepare(page)
            target = OUT / f"{name}.png"
            page.screenshot(path=str(target), full_page=full_page)
            self.made.append(target.name)
            log(f"saved {target.relative_to(ROOT)}")
        finally:
            page.context.close()


REPORTS = [  # (category, description, address): filed by the resident inside the first grid
    ("SJ-0107", "小区北门停车场有一辆废弃面包车，轮胎瘪了，停了三个多月没人管。", "金陵社区北门停车场"),
    ("SJ-0101", "3幢楼下有人用铁皮搭棚，堵住了消防通道。", "金陵社区3幢楼下"),
    ("SG-1203", "沿街饭店油烟直排，二楼住户窗户都是油。", "中央大道沿街商铺"),
    ("BJ-0307", "广告牌匾松动，刮风时晃得厉害，担心掉下来砸到人。", "金陵社区东门"),
]


def points_inside(server: LiveServer, grid_name: str, n: int) -> list[tuple[float, float]]:
    from shapely.geometry import Point, shape

    with server.api("admin") as api:
        fc = api.get("/api/v1/regions/boundaries", params={"level": "grid"}).raise_for_status().json()
    geom = next(shape(f["geometry"]) for f in fc["features"] if f["properties"]["name"] == grid_name)
    c = geom.representative_point()
    out = [(c.x, c.y)]
    for vx, vy in list(geom.exterior.coords)[:-1]:
        p = Point(c.x + (vx - c.x) * 0.4, c.y + (vy - c.y) * 0.4)
        if geom.contains(p):
            out.append((p.x, p.y))
    return (out * n)[:n]


_SAMPLE = {"number": 1, "datetime": "2026-03-02T09:00:00+08:00"}


def required_attributes(category: dict[str, Any]) -> dict[str, Any]:
    """An answer to every attribute the category requires (as ``tests/casedata.py`` does for the tests)."""
    out: dict[str, Any] = {}
    for a in category.get("attributes") or []:
        if a.get("required"):
            values = a.get("values") or []
            first = values[0]["key"] if values else _SAMPLE.get(a.get("datatype", "string"), "见描述")
            out[a["code"]] = [first] if a.get("datatype") == "multivaluelist" else first
    return out


def stage_cases(server: LiveServer) -> dict[str, str]:
    """File a few fresh reports (automatic dispatch is off on this server), move one of them to *resolved* and have
    another supervised, then run the deadline sweep, so the intake queue, the grid worker's "to verify" tab, a case
    page with a long timeline and the supervision list have something."""
    ids: list[str] = []
    points = points_inside(server, server.logins["wangge1"]["unit"], len(REPORTS))
    with server.api("jumin") as api:
        categories = {c["code"]: c for c in api.get("/api/v1/categories").raise_for_status().json()}
        for (code, text, address), (lon, lat) in zip(REPORTS, points, strict=True):
            r = api.post("/api/v1/cases", json={"category_code": code, "description": text, "address": address,
                                                "lon": lon, "lat": lat,
                                                "attributes": required_attributes(categories[code])})
            r.raise_for_status()
            ids.append(r.json()["id"])
    resolved = ids[0]
    supervised = ids[1]  # dispatched, then a manual 督办 by the leader, waiting for the department's answer
    steps = [(resolved, "zhihui", "accept", {}), (resolved, "zhihui", "dispatch", {"department": "CG"}),
             (resolved, "bumen", "start", {}),
             (resolved, "bumen", "resolve", {"result": "已联系车主，废弃车辆已拖离，停车位恢复使用。"}),
             (supervised, "zhihui", "accept", {}), (supervised, "zhihui", "dispatch", {"department": "CG"}),
             (supervised, "lingdao", "supervise", {"message": "群众反映强烈，请于今日内处置完毕并反馈。"})]
    for case_id, user, action, body in steps:
        with server.api(user) as api:
            api.post(f"/api/v1/cases/{case_id}/actions/{action}", json=body).raise_for_status()
    with server.api("admin") as api:  # the deadline sweep's warnings and overdue orders on the history
        api.post("/api/v1/cases/sweep").raise_for_status()
    return {"resolved": resolved, "supervised": supervised}


def rental_room(server: LiveServer) -> str | None:
    """The demo landlord's (fangdong) fullest room: the one with the most tenants."""
    if "fangdong" not in server.logins:
        return None
    with server.api("fangdong") as api:
        rooms = api.get("/api/v1/rental/my/rooms").raise_for_status().json()
    items = rooms.get("items", rooms) if isinstance(rooms, dict) else rooms
    return str(max(items, key=lambda r: r.get("occupied", 0))["id"]) if items else None


def street_id(server: LiveServer) -> str | None:
    with server.api("admin") as api:
        r = api.get("/api/v1/regions/units", params={"level": "street", "page_size": 1})
        items = r.json().get("items", []) if r.status_code == 200 else []
        return str(items[0]["id"]) if items else None


def wait_screen(page: Any) -> None:
    page.wait_for_function("() => (document.getElementById('updated') || {}).textContent?.startsWith('更新于')")
    page.wait_for_timeout(1200)  # ECharts animations


def open_report(page: Any) -> None:
    page.fill("#cat-q", "私搭乱建")
    page.locator("#category-list label.chip").first.click()
    page.fill("#description", "小区东门外有人私搭乱建铁皮棚，占用消防通道。")
    page.locator("details.map-picker > summary").click()
    page.wait_for_selector("#report-map path.leaflet-interactive")
    page.wait_for_timeout(600)


def main(only: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zhili-shots-") as tmp, live_server(
            Path(tmp), cases=True, ZHILI_AUTO_DISPATCH_CONFIDENCE="1.0") as server, \
            sync_playwright() as pw:
        staged = stage_cases(server)
        # Note: the file picker's button text comes from Chromium's own UI strings; Debian's package ships only
        # en-US.pak, so it stays "Choose Files" whatever the page language.
        browser = launch_chromium(pw)
        s = Shooter(browser, server, only)
        for name, user, path, options in HOMES:
            s.shot(name, user, path, options)
        s.shot("h5-report-375", "jumin", "/h5/report", PHONE, prepare=open_report)
        s.shot("gw-tasks-375", "wangge1", "/gw/?tab=verify", PHONE)
        s.shot("console-queue", "zhihui", "/console/", DESKTOP)
        s.shot("console-case", "zhihui", f"/console/cases/{staged['resolved']}", DESKTOP,
               prepare=lambda p: p.wait_for_timeout(500))
        s.shot("h5-case-375", "jumin", f"/h5/cases/{staged['resolved']}", PHONE)
        s.shot("h5-notices-375", "jumin", "/h5/notices", PHONE)
        s.shot("h5-suggestions-375", "jumin", "/h5/suggestions", PHONE)
        s.shot("gw-visits-375", "wangge1", "/gw/visits", PHONE)
        room = rental_room(server)  # the demo seed's rental housing (zhili.seed.rental)
        if room:
            s.shot("h5-rental-landlord-375", "fangdong", f"/h5/rental/rooms/{room}", PHONE)
            s.shot("h5-rental-tenant-375", "zuke", "/h5/rental/stays", PHONE)
        else:
            s.skipped.append("h5-rental-* (no demo landlord)")
        s.shot("console-visits", "shequ", "/console/visits", DESKTOP)
        s.shot("console-supervisions", "zhihui", "/console/supervisions", DESKTOP)
        s.shot("console-suggestions", "shequ", "/console/participation/suggestions", DESKTOP)
        settle = lambda p: p.wait_for_timeout(1200)  # noqa: E731  (ECharts and the map draw after load)
        s.shot("eval-scorecard", "zhihui", "/console/eval/", DESKTOP, prepare=settle)
        s.shot("eval-ranking", "zhihui", "/console/eval/ranking?level=grid", DESKTOP, prepare=settle)
        s.shot("eval-equity", "zhihui", "/console/eval/equity?indicator=E4_SERVICE", DESKTOP, prepare=settle)
        s.shot("eval-forms", "jiedao", "/console/eval/forms", DESKTOP)
        s.shot("screen-district-1920", "zhihui", "/screen", SCREEN, prepare=wait_screen, full_page=False)
        sid = street_id(server)
        if sid:
            s.shot("screen-street-1920", "zhihui", f"/screen?unit_id={sid}", SCREEN, prepare=wait_screen,
                   full_page=False)
        else:
            s.skipped.append("screen-street-1920 (no street)")
        browser.close()
    log(f"{len(s.made)} screenshots in {OUT.relative_to(ROOT)}: {', '.join(s.made) or '—'}")
    log(f"skipped: {'; '.join(s.skipped) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
