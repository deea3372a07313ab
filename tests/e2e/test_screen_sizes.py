"""The command-centre screen fits every screen it is opened on, from a 1280 px laptop to a 3840 px wall: no
horizontal scrolling, every card (the 满意度 KPI, the ranking) inside the window's width, the charts as wide as their
cards after the window changes size, text that grows with the screen, and no console error — for the leader and the
command centre."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from liveserver import LiveServer, login

SIZES = [(1280, 720), (1366, 768), (1920, 1080), (3840, 2160)]


def watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def wait_drawn(page: Any) -> None:
    page.wait_for_function("() => document.getElementById('updated').textContent.startsWith('更新于')")
    page.wait_for_function("() => document.querySelectorAll('#ranking tr').length > 0")


def layout(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("""() => {
        const box = (el) => { const r = el.getBoundingClientRect();
                              return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; };
        const chart = (id) => { const el = document.getElementById(id);
                                const c = echarts.getInstanceByDom(el);
                                return {box: el.clientWidth, drawn: c ? c.getWidth() : -1}; };
        return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                satisfaction: box(document.getElementById('kpi-satisfaction').closest('.kpi')),
                ranking: box(document.querySelector('.panel-rank')),
                cards: [...document.querySelectorAll('.kpi, .panel')].map(box),
                charts: ['map', 'trend', 'categories'].map(chart),
                kpiFont: parseFloat(getComputedStyle(document.querySelector('.kpi-value')).fontSize),
                rankFont: parseFloat(getComputedStyle(document.querySelector('.rank td')).fontSize)};
    }"""))


def check_fits(got: dict[str, Any], width: int) -> None:
    assert got["scrollWidth"] <= got["innerWidth"] == width, f"{width}px: the page scrolls sideways ({got})"
    for name in ("satisfaction", "ranking"):
        box = got[name]
        assert box["width"] > 0 and box["left"] >= 0 and box["right"] <= width, f"{width}px: {name} off-screen {box}"
    for box in got["cards"]:
        assert box["width"] > 0 and box["left"] >= 0 and box["right"] <= width, f"{width}px: a card off-screen {box}"
    for chart in got["charts"]:
        assert chart["box"] > 0 and abs(chart["drawn"] - chart["box"]) <= 2, f"{width}px: a chart not resized {chart}"


@pytest.mark.parametrize("who", ["lingdao", "zhihui"])
def test_the_screen_fits_every_width_from_1280_to_3840_without_sideways_scrolling(
        server: LiveServer, make_context: Callable[..., Any], who: str) -> None:
    fonts = {}
    for width, height in SIZES:
        page = make_context(viewport={"width": width, "height": height}).new_page()
        errors = watch_console(page)
        login(page, server, who)
        response = page.goto("/screen")
        assert response is not None and response.status == 200
        wait_drawn(page)
        got = layout(page)
        check_fits(got, width)
        if width >= 1920:  # the wall screens: the whole dashboard at once, no scrolling either way
            assert page.evaluate("document.documentElement.scrollHeight") <= height
        fonts[width] = (got["kpiFont"], got["rankFont"])
        assert errors == [], f"{who} at {width}px: {errors}"
        page.close()
    # Text grows with the screen: at 3840 px twice what it is at 1920 px (a wall read from across the room).
    assert fonts[3840][0] >= 1.8 * fonts[1920][0] and fonts[3840][1] >= 1.8 * fonts[1920][1], fonts
    assert fonts[1280][1] >= 12, fonts  # and never smaller than readable on a laptop


def test_the_charts_follow_the_window_when_it_is_resized(server: LiveServer,
                                                          make_context: Callable[..., Any]) -> None:
    page = make_context(viewport={"width": 1920, "height": 1080}).new_page()
    errors = watch_console(page)
    login(page, server, "lingdao")
    page.goto("/screen")
    wait_drawn(page)
    for width, height in [(1366, 768), (3840, 2160), (1280, 720)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function("""() => ['map', 'trend', 'categories'].every((id) => {
            const el = document.getElementById(id);
            return Math.abs(echarts.getInstanceByDom(el).getWidth() - el.clientWidth) <= 2; })""")
        check_fits(layout(page), width)
    assert errors == []
