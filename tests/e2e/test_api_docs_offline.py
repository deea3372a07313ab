"""The API documentation works on a machine with no way out: ``/docs`` renders Swagger UI from this server's own
files (no CDN), lists the operations, and no request leaves for another host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from liveserver import LiveServer


def test_the_api_docs_render_with_no_request_to_another_host(server: LiveServer,
                                                             make_context: Callable[..., Any]) -> None:
    page = make_context(viewport={"width": 1366, "height": 900}).new_page()
    host = urlsplit(server.base_url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: urlsplit(r.url).netloc not in (host, "") and not r.url.startswith(("data:", "blob:"))
            and elsewhere.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=20_000)  # the operations are listed: the UI and the schema loaded
    # Swagger UI renders only the tags near the viewport: scroll through the page and collect every operation seen
    seen: set[str] = set()
    for _ in range(200):
        seen |= {f"{m} {p}" for m, p in zip(page.locator(".opblock-summary-method").all_inner_texts(),
                                            page.locator(".opblock-summary-path").all_inner_texts(), strict=False)}
        if page.evaluate("() => window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"):
            break
        page.mouse.wheel(0, 700)
        page.wait_for_timeout(50)
    assert len(seen) > 150 and "GET /api/v1/cases" in seen and "POST /api/v1/hub/imports" in seen, sorted(seen)
    assert elsewhere == [] and errors == []
