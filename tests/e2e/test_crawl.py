"""Every role's pages, as a first-time user reaches them: sign in, then follow every link reachable from the role's
home, breadth first to depth 3, in Chromium at the role's width (375 px for residents and grid workers, 1366 px for
staff), over the small demo district with its case history.

Every page reached must: answer 2xx; log no console error and raise no script error; request nothing from another
host; not scroll sideways; show no code or identifier where a person reads (role, channel and state keys, ``system``,
department codes, ``snake_case`` identifiers — ``tests/web/codecheck.py``).

Links that look alike (the same path with another id or number) are visited once, so the crawl stays a few
minutes however much history the demo holds (every pattern within the depth is followed: about 70 pages for
the command centre); logout, downloads and the API documentation are not followed (the
documentation has its own test, downloads are checked by their pages' tests).
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from liveserver import LiveServer, live_server, login

from testmodules import TESTS, load

codecheck = load("zhili_tests_codecheck", TESTS / "web" / "codecheck.py")

ROLES = ("resident", "grid_worker", "community_staff", "street_staff", "department_handler", "command_centre",
         "leader", "auditor", "admin")
PHONE_ROLES = ("resident", "grid_worker")
DEPTH = 3
PER_PATTERN = 1
MAX_PAGES = 200
SKIP = re.compile(r"^/(logout|docs|redoc|openapi\.json|static/|api/)|\.(xlsx|csv|json|geojson|png|jpe?g|pdf)(\?|$)")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{6}-\d{8}-\d{6}|\d+")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The small demo with its case history (a few seconds to seed): lists, timelines and figures have content."""
    with live_server(tmp_path_factory.mktemp("crawl"), cases=True) as srv:
        yield srv


def _pattern(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(sorted(k.split("=")[0] for k in parts.query.split("&") if k))
    return _ID.sub("{}", parts.path) + ("?" + query if query else "")


def _departments(server: LiveServer) -> list[str]:
    with server.api("admin") as api:
        r = api.get("/api/v1/departments")
        r.raise_for_status()
        return [d["code"] for d in r.json()]


def _user_of(server: LiveServer, role: str) -> str:
    return next(name for name, u in server.logins.items() if u["role"] == role)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_can_reach_answers_cleanly(role: str, history: LiveServer, browser: Any) -> None:
    from liveserver import new_context

    width = 375 if role in PHONE_ROLES else 1366
    ctx = new_context(browser, history, viewport={"width": width, "height": 800 if width < 1000 else 768})
    ctx.set_default_timeout(15_000)
    host = urlsplit(history.base_url).netloc
    departments = _departments(history)
    usernames = set(history.logins)  # an account's login name is shown as what it is
    problems: list[str] = []
    current = {"url": ""}
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: script error: {e}"))
    page.on("request", lambda r: urlsplit(r.url).netloc not in (host, "") and not r.url.startswith(("data:", "blob:"))
            and problems.append(f"{current['url']}: request to another host: {r.url}"))
    try:
        login(page, history, _user_of(history, role))
        home = urlsplit(page.url).path
        queue: deque[tuple[str, int]] = deque([(home, 0)])
        seen: set[str] = set()
        per_pattern: Counter[str] = Counter()
        visited = 0
        while queue and visited < MAX_PAGES:
            url, depth = queue.popleft()
            if url in seen or per_pattern[_pattern(url)] >= PER_PATTERN:
                continue
            seen.add(url)
            per_pattern[_pattern(url)] += 1
            visited += 1
            current["url"] = url
            response = page.goto(url)
            status = response.status if response else 0
            if not 200 <= status < 300:
                problems.append(f"{url}: answered {status}")
                continue
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 1:
                problems.append(f"{url}: {wide} px wider than the {width} px screen")
            codes = sorted({c for c in codecheck.visible_codes(page.content(), departments)
                            if c.split(":")[0] not in usernames})
            if codes:
                problems.append(f"{url}: shows codes {codes}")
            if depth >= DEPTH:
                continue
            for href in page.eval_on_selector_all(
                    "a[href]:not([download])", "els => els.map(e => e.href)"):  # resolved against the page
                target = _local(href, host)
                if target and not SKIP.search(target) and target not in seen:
                    queue.append((target, depth + 1))
        assert visited >= 3, f"{role}: only {visited} pages reachable from {home}"
        if queue:  # the cap is a safety net: every link pattern within the depth must have been followed
            problems.append(f"stopped at {MAX_PAGES} pages with {len(queue)} links not followed")
    finally:
        ctx.close()
    assert not problems, f"{role} ({visited} pages from {home}):\n" + "\n".join(problems[:60])


def _local(href: str, host: str) -> str | None:
    """The path (and query) of a link to this site, or None for another site, an anchor or a script link."""
    if not href or href.startswith(("mailto:", "tel:", "javascript:")):
        return None
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or parts.netloc != host:
        return None
    path = parts.path or "/"
    if not path.startswith("/"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")
