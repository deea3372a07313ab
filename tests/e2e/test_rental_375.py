"""On a 375 px phone: a landlord (the demo resident) finds their building by address and registers a room, checks a
tenant in with real-name details and a photo, the tenant signs up with the phone given at check-in and sees the
stay, its police delivery state and the key in 我的租住, and the grid worker of the grid sees the stay — no page
wider than the screen, no console errors on the way."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from liveserver import LiveServer, login

from testimages import png
from zhili.core.validators import id_check_digit

PHONE = {"viewport": {"width": 375, "height": 800}}
TENANT_PHONE = "13912345601"
TENANT_PASSWORD = "Zuke-Anji-2026!"


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def a_building_of(server: LiveServer, worker: str) -> dict[str, Any]:
    """A building in the grid worker's grid (as the worker reads the register)."""
    with server.api(worker) as api:
        items = api.get("/api/v1/registry/buildings", params={"page_size": 1}).raise_for_status().json()["items"]
    assert items, "the demo grid has no building"
    return dict(items[0])


def test_a_landlord_registers_a_room_a_tenant_checks_in_and_the_grid_worker_sees_the_stay_at_375px(
        server: LiveServer, make_context: Callable[..., Any], tmp_path: Any) -> None:
    building = a_building_of(server, "wangge1")
    photo = tmp_path / "tenant.png"
    photo.write_bytes(png(8, 8))
    first17 = "34010219960715012"
    tenant_id = first17 + id_check_digit(first17)
    today = dt.date.today()

    # -- the landlord: find the building, register a room ----------------------------------------------------------
    landlord = make_context(**PHONE).new_page()
    errors = watch(landlord)
    login(landlord, server, "jumin")
    landlord.goto("/h5/")
    with landlord.expect_navigation():
        landlord.get_by_role("link", name=re.compile("我的出租房")).click()
    assert overflow(landlord) == 0
    with landlord.expect_navigation():
        landlord.get_by_role("link", name="登记出租房").click()
    landlord.fill("#bq", building["address"])
    with landlord.expect_navigation():
        landlord.get_by_role("button", name="搜索").click()
    choice = landlord.locator(f"input[name=building_id][value='{building['id']}']")
    assert choice.count() == 1
    choice.check()
    landlord.fill("#door", "1208")
    landlord.fill("#label", "次卧")
    landlord.fill("#capacity", "2")
    landlord.fill("#rent_yuan", "1800")
    landlord.fill("#landlord_name", "张房东")
    landlord.fill("#landlord_id_number", "330522197805060013")
    landlord.fill("#landlord_phone", "13812345602")
    assert overflow(landlord) == 0
    with landlord.expect_navigation():
        landlord.get_by_role("button", name="登记出租房").click()
    assert landlord.locator("h1").inner_text() == "出租房间已登记", landlord.locator(".alert").all_inner_texts()
    assert re.fullmatch(r"[0-9A-Z]{16}", landlord.locator("#key-code").inner_text().strip())
    checkin_code = landlord.locator("#checkin-code").inner_text().strip()
    assert overflow(landlord) == 0
    with landlord.expect_navigation():
        landlord.get_by_role("link", name="完成").click()
    assert "次卧" in landlord.locator("h1").inner_text() and checkin_code

    # -- the landlord checks the tenant in ---------------------------------------------------------------------------
    with landlord.expect_navigation():
        landlord.get_by_role("link", name="登记入住").click()
    assert overflow(landlord) == 0
    landlord.fill("#name", "刘租客")
    landlord.fill("#id_number", tenant_id)
    landlord.fill("#phone", TENANT_PHONE)
    landlord.set_input_files("#photo", str(photo))
    landlord.fill("#move_in", today.isoformat())
    landlord.fill("#expected_move_out", (today + dt.timedelta(days=200)).isoformat())
    with landlord.expect_navigation():
        landlord.get_by_role("button", name="确认登记入住").click()
    assert landlord.locator("h1").inner_text().startswith("已登记入住"), landlord.locator(".alert").all_inner_texts()
    assert overflow(landlord) == 0
    with landlord.expect_navigation():
        landlord.get_by_role("link", name="完成").click()
    assert "刘租客" in landlord.locator("section[aria-labelledby=tenants-h]").inner_text()
    assert tenant_id not in landlord.content()
    assert errors == []

    # -- the tenant signs up with the phone given at check-in and finds the stay ------------------------------------
    tenant = make_context(**PHONE).new_page()
    terrors = watch(tenant)
    tenant.goto("/h5/register")
    tenant.fill("#phone", TENANT_PHONE)
    with tenant.expect_navigation():
        tenant.get_by_role("button", name="获取验证码").click()
    codes = re.findall(r"139\*\*\*\*5601: .*?验证码 (\d{6})", server.log_tail(40_000))
    assert codes, server.log_tail()
    tenant.fill("#code", codes[-1])
    tenant.fill("#password", TENANT_PASSWORD)
    tenant.fill("#confirm_password", TENANT_PASSWORD)
    with tenant.expect_navigation():
        tenant.get_by_role("button", name="注册并登录").click()
    tenant.goto("/h5/rental/stays")
    text = tenant.locator("main").inner_text()
    assert "刘租客" in text and "次卧" in text and re.search("报送中|已报送|报送失败", text), text
    assert "有效" in text and tenant.get_by_role("link", name="申领居住证").count() == 1
    assert overflow(tenant) == 0
    assert terrors == []

    # -- the grid worker sees the stay -------------------------------------------------------------------------------
    worker = make_context(**PHONE).new_page()
    werrors = watch(worker)
    login(worker, server, "wangge1")
    with worker.expect_navigation():
        worker.get_by_role("link", name="出租房屋").click()
    assert "次卧" in worker.locator("main").inner_text() and overflow(worker) == 0
    with worker.expect_navigation():
        worker.get_by_role("link", name="租住登记").click()
    assert "刘租客" in worker.locator("main").inner_text() and overflow(worker) == 0
    worker.fill("#sq", tenant_id)
    with worker.expect_navigation():
        worker.get_by_role("button", name="搜索").click()
    found = worker.locator("main ul.list").inner_text()
    assert "刘租客" in found and tenant_id not in worker.url
    with worker.expect_navigation():
        worker.locator("main ul.list a").first.click()
    assert "刘租客" in worker.locator("main").inner_text() and overflow(worker) == 0
    worker.goto("/gw/rental/warnings")
    assert worker.locator("h1").inner_text() == "出租房屋" and overflow(worker) == 0
    assert werrors == []
