"""End-to-end fixtures: one live ``zhili serve`` (own temporary SQLite database, seeded with the small demo district
without case history) and one headless Chromium for the whole session.

The server runs in a subprocess with an explicit environment (see ``liveserver.server_env``), so the unit tests'
``ZHILI_KEYS`` / ``ZHILI_TEST_DATABASE_URL`` never reach it. Skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from liveserver import CHROMIUM, LiveServer, launch_chromium, live_server, new_context
from playwright import sync_api  # a development dependency: installed by `make install`


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CHROMIUM.exists():  # installed by `make install` (deploy/apt-packages.txt): its absence is a failure
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make install` (apt package chromium)")
    # Every default responsibility-list rule has confidence 0.9; raising the bar to 1.0 keeps new reports out of
    # automatic dispatch, so the journey goes through the command centre's intake queue as a person would.
    with live_server(tmp_path_factory.mktemp("e2e"), ZHILI_AUTO_DISPATCH_CONFIDENCE="1.0") as srv:
        yield srv


@pytest.fixture(scope="session")
def browser(server: LiveServer) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def make_context(browser: Any, server: LiveServer) -> Iterator[Callable[..., Any]]:
    """Open browser contexts (Chinese, pointed at the live server); all closed at the end of the test."""
    opened: list[Any] = []

    def make(**options: Any) -> Any:
        ctx = new_context(browser, server, **options)
        ctx.set_default_timeout(10_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()
