"""物联感知 pages: the device map and list (by type, status, unit, search; pages), a device's facts, its recent
messages (rejected ones with the Chinese reason) and its alerts with their cases, the alerts list (open first),
the rule editor with "用样例数据测试" (fires / does not fire and why; an expression error with its position), the
device types, the device import and the screen's device-alert panel — for the roles that may, refused for the
others, 404 for a device of another jurisdiction; names on every page, never codes."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from codecheck import visible_codes
from openpyxl import Workbook, load_workbook
from pagekit import page, sign_in
from sqlalchemy import func, select

from zhili.cases.models import Case
from zhili.iot import devices as iot_devices
from zhili.iot import engine
from zhili.iot import types as iot_types
from zhili.iot.models import Alert, AlertState, Device, DeviceStatus, Message, Rule
from zhili.org.service import department_names

DISPLAY = {"admin": "周管理", "zhihui": "李指挥", "lingdao": "王领导", "shenji": "吴审计", "jiedao1": "陈街道",
           "jiedao2": "何街道", "shequ1": "林社区", "wangge_a": "赵网格", "wangge_b": "钱网格", "bumen": "孙处置",
           "jumin": "张小明"}


class Iot:
    """The world's devices: smoke detectors in grids ga, gb and gc (another street), a water-level gauge in ga
    that went offline, and what the ingest made of a few messages (an alarm → alert → case, a rejected one)."""

    def __init__(self, site: Any) -> None:
        self.site = site
        for key, user in site.world.users.items():
            user.display_name = DISPLAY[key]
        iot_types.install_defaults(site.db)
        zh = site.principal("zhihui")
        units = site.world.units

        def add(key: str, type_code: str, name: str, grid: str, lon: float, lat: float, **more: Any) -> Device:
            return iot_devices.create_device(site.db, principal=zh, device_key=key, data={
                "type_code": type_code, "name": name, "unit_id": units[grid].id, "lon": lon, "lat": lat,
                "address": f"{name}安装处", **more})

        self.smoke = add("SMK-A-001", "smoke_detector", "金陵小区3幢烟感", "ga", 119.1, 31.1, owner="长兴消防设施公司")
        self.water = add("WL-A-001", "water_level", "金陵河水位计", "ga", 119.12, 31.12)
        self.quiet = add("SMK-A-002", "smoke_detector", "金陵小区5幢烟感", "ga", 119.13, 31.13)
        self.other = add("SMK-B-001", "smoke_detector", "金陵社区第2网格烟感", "gb", 119.3, 31.1)
        self.far = add("SMK-C-001", "smoke_detector", "画溪村烟感", "gc", 119.6, 31.1)
        self.water.status = DeviceStatus.offline
        site.db.flush()
        self.result = engine.process_batch(site.db, [
            engine.Incoming(topic="zhili/330522/smoke_detector/SMK-A-001/telemetry",
                            payload=json.dumps({"mid": "t1", "smoke": 1.5, "battery": 88}).encode()),
            engine.Incoming(topic="zhili/330522/smoke_detector/SMK-A-001/events",
                            payload=json.dumps({"mid": "e1", "event": "explode"}).encode()),
            engine.Incoming(topic="zhili/330522/smoke_detector/SMK-A-001/events",
                            payload=json.dumps({"mid": "e2", "event": "alarm", "smoke": 12.5}).encode()),
            engine.Incoming(topic="zhili/330522/smoke_detector/SMK-B-001/events",
                            payload=json.dumps({"mid": "b1", "event": "alarm"}).encode()),
        ])
        site.db.flush()
        self.alert = site.db.scalar(select(Alert).where(Alert.device_id == self.smoke.id))
        self.case = site.db.get(Case, self.alert.case_id) if self.alert and self.alert.case_id else None


@pytest.fixture
def iot(site: Any) -> Iot:
    return Iot(site)


def _page(client: Any, site: Any, who: str, url: str) -> Any:
    sign_in(client, site.token(who))
    r = client.get(url)
    assert r.status_code == 200, (who, url, r.status_code, r.text[:400])
    return page(r)


# -- the map, the list ----------------------------------------------------------------------------------------

def test_the_map_shows_the_jurisdictions_devices_coloured_by_status(client: Any, site: Any, iot: Iot) -> None:
    assert iot.result.alerts_opened == 2 and iot.alert is not None and iot.case is not None
    p = _page(client, site, "zhihui", "/console/iot/")
    assert p.h1() == "物联感知设备地图" and p.unlabelled_controls() == []
    current = [a.text for a in p.find_all("a", href="/console/iot/", **{"aria-current": "page"})]
    assert current == ["物联感知", "设备地图"]  # the main navigation's section, the section's own tab
    assert p.find(id="kpi-total").text == "5" and p.find(id="kpi-alarm").text == "2"
    assert p.find(id="kpi-offline").text == "1" and p.find(id="kpi-active").text == "2"
    assert {o.text for o in p.find("select", id="map-type").children} >= {"全部", "烟感", "水位"}
    gj = client.get("/console/iot/devices.geojson").json()
    by_name = {f["properties"]["name"]: f["properties"] for f in gj["features"]}
    assert set(by_name) == {"金陵小区3幢烟感", "金陵河水位计", "金陵小区5幢烟感", "金陵社区第2网格烟感", "画溪村烟感"}
    smoke = by_name["金陵小区3幢烟感"]
    assert smoke["status"] == "alarm" and smoke["status_name"] == "告警" and smoke["type"] == "烟感"
    assert smoke["unit"] == "金陵社区第1网格" and smoke["url"] == f"/console/iot/devices/{iot.smoke.id}"
    assert by_name["金陵河水位计"]["status_name"] == "离线" and by_name["金陵小区5幢烟感"]["last_seen"] == "从未上线"
    assert "5 台设备" in gj["summary"]
    only = client.get("/console/iot/devices.geojson?status=offline").json()
    assert [f["properties"]["name"] for f in only["features"]] == ["金陵河水位计"]
    # a grid worker's map: their grid's devices only
    sign_in(client, site.token("wangge_a"))
    mine = client.get("/console/iot/devices.geojson").json()
    assert {f["properties"]["name"] for f in mine["features"]} == {"金陵小区3幢烟感", "金陵河水位计", "金陵小区5幢烟感"}


def test_the_device_list_filters_by_type_status_unit_and_text(client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "jiedao1", "/console/iot/devices")
    names = [a.text for a in p.find_all("a") if (a.attrs.get("href") or "").startswith("/console/iot/devices/")]
    assert sorted(names) == sorted(["金陵小区3幢烟感", "金陵河水位计", "金陵小区5幢烟感", "金陵社区第2网格烟感"])
    assert "画溪村烟感" not in p.text and "共 4 条" in p.text  # another street's device
    assert p.unlabelled_controls() == []
    rows = {tuple(" ".join(td.text.split()) for td in tr.children if td.tag == "td")
            for tr in p.find_all("tr") if tr.parent is not None and tr.parent.tag == "tbody"}
    assert ("金陵小区3幢烟感", "烟感", "金陵社区第1网格", "金陵小区3幢烟感安装处", "告警") in {r[:5] for r in rows}
    assert ("金陵河水位计", "水位", "金陵社区第1网格", "金陵河水位计安装处", "离线") in {r[:5] for r in rows}

    def listed(query: str) -> set[str]:
        q = page(client.get("/console/iot/devices?" + query))
        return {a.text for a in q.find_all("a") if (a.attrs.get("href") or "").startswith("/console/iot/devices/")}

    assert listed("type=water_level") == {"金陵河水位计"}
    assert listed("status=alarm") == {"金陵小区3幢烟感", "金陵社区第2网格烟感"}
    assert listed("status=active") == {"金陵小区5幢烟感"}
    assert listed(f"unit_id={site.world.units['gb'].id}") == {"金陵社区第2网格烟感"}
    assert listed(f"unit_id={site.world.units['gc'].id}") == listed("") - set()  # outside: ignored, not widened
    assert listed("q=5幢") == {"金陵小区5幢烟感"}
    assert listed("q=WL-A") == {"金陵河水位计"}
    assert listed("status=nonsense") == listed("")


def test_the_device_list_pages(client: Any, site: Any, iot: Iot) -> None:
    zh = site.principal("zhihui")
    for i in range(35):
        iot_devices.create_device(site.db, principal=zh, device_key=f"GAS-{i:03d}", data={
            "type_code": "gas", "name": f"燃气探测器{i:02d}", "unit_id": site.world.units["ga"].id})
    p = _page(client, site, "zhihui", "/console/iot/devices?type=gas")
    assert "共 35 条" in p.text and "第 1 页，共 2 页" in p.text
    nxt = p.find("a", rel="next").attrs["href"]
    assert nxt == "?type=gas&page=2"
    second = page(client.get("/console/iot/devices" + nxt))
    assert len([a for a in second.find_all("a") if "燃气探测器" in a.text]) == 5


# -- a device -------------------------------------------------------------------------------------------------

def test_a_device_page_shows_its_facts_messages_and_alerts_with_the_case(client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "shequ1", f"/console/iot/devices/{iot.smoke.id}")
    assert p.h1() == "金陵小区3幢烟感"
    text = p.text
    for fact in ("烟感", "金陵社区第1网格", "长兴消防设施公司", "30 分钟", "SMK-A-001", "告警"):
        assert fact in text, fact
    # messages: accepted and rejected, the rejection's reason in Chinese
    table = p.find("table", **{"class": "console-table message-table"})
    assert table.text.count("已接收") == 2 and table.text.count("已拒收") == 1
    rejected = [tr for tr in p.find_all("tr", **{"class": "rejected"})]
    assert len(rejected) == 1 and "explode" in rejected[0].text
    reason = site.db.scalar(select(Message.reason).where(Message.accepted.is_(False)))
    assert reason and re.search(r"[\u4e00-\u9fff]", reason) and reason in rejected[0].text
    # the alert: open, counted, its case by number with a link to the case page
    alerts = p.find("table", **{"class": "console-table alert-table"})
    assert "烟感报警" in alerts.text and "严重" in alerts.text and "未关闭" in alerts.text
    link = p.find("a", href=f"/console/cases/{iot.case.id}")
    assert link.text == iot.case.number
    # a grid worker opens the case on their own pages
    g = _page(client, site, "wangge_a", f"/console/iot/devices/{iot.smoke.id}")
    assert g.find("a", href=f"/gw/cases/{iot.case.id}").text == iot.case.number


def test_a_device_of_another_jurisdiction_is_not_found_and_other_roles_are_refused(
        client: Any, site: Any, iot: Iot) -> None:
    sign_in(client, site.token("wangge_b"))
    r = client.get(f"/console/iot/devices/{iot.smoke.id}")
    assert r.status_code == 404 and page(r).h1() == "页面不存在"
    assert client.get(f"/console/iot/devices/{iot.other.id}").status_code == 200
    sign_in(client, site.token("jiedao2"))
    assert client.get(f"/console/iot/devices/{iot.smoke.id}").status_code == 404
    assert client.get(f"/console/iot/devices/{iot.far.id}").status_code == 200
    for who in ("bumen", "jumin", "shenji"):
        sign_in(client, site.token(who))
        for url in ("/console/iot/", "/console/iot/devices", f"/console/iot/devices/{iot.smoke.id}",
                    "/console/iot/alerts", "/console/iot/devices.geojson"):
            r = client.get(url)
            assert r.status_code == 403, (who, url, r.status_code)
    sign_in(client, site.token("zhihui"))
    assert client.get("/console/iot/devices/00000000-0000-7000-8000-000000000000").status_code == 404


# -- alerts ---------------------------------------------------------------------------------------------------

def test_the_alerts_list_puts_open_alerts_first_and_links_their_cases(client: Any, site: Any, iot: Iot) -> None:
    # the other grid's alert closed by hand: listed after the open one
    from zhili.iot import alerts as iot_alerts

    other = site.db.scalar(select(Alert).where(Alert.device_id == iot.other.id))
    iot_alerts.close_alert(site.db, principal=site.principal("zhihui"), alert_id=other.id, reason="现场核实为误报")
    site.db.flush()
    p = _page(client, site, "zhihui", "/console/iot/alerts")
    assert p.h1() == "告警" and p.unlabelled_controls() == []
    body = [tr for tr in p.find_all("tr") if tr.parent is not None and tr.parent.tag == "tbody"]
    assert [("未关闭" in tr.text, "已关闭" in tr.text) for tr in body] == [(True, False), (False, True)]
    assert "金陵小区3幢烟感" in body[0].text and "金陵社区第2网格烟感" in body[1].text
    assert p.find("a", href=f"/console/cases/{iot.case.id}").text == iot.case.number
    assert p.find("a", href=f"/console/iot/devices/{iot.smoke.id}").text == "金陵小区3幢烟感"

    def listed(query: str) -> int:
        return len([tr for tr in page(client.get("/console/iot/alerts?" + query)).find_all("tr")
                    if tr.parent is not None and tr.parent.tag == "tbody"])

    assert listed("state=open") == 1 and listed("state=closed") == 1
    assert listed("severity=critical") == 2 and listed("severity=info") == 0
    assert listed("type=smoke_detector") == 2 and listed("type=gas") == 0
    assert listed(f"unit_id={site.world.units['gb'].id}") == 1
    # a grid worker: their grid's alerts only
    sign_in(client, site.token("wangge_b"))
    theirs = page(client.get("/console/iot/alerts"))
    assert "金陵社区第2网格烟感" in theirs.text and "金陵小区3幢烟感" not in theirs.text


# -- rules ----------------------------------------------------------------------------------------------------

def _rule_form(client: Any) -> dict[str, str]:
    p = page(client.get("/console/iot/rules/new?type=gas"))
    return {"csrf_token": p.csrf(), "name": "燃气浓度偏高", "type_code": "gas", "kind": "telemetry",
            "condition": "lel >= 10", "window": "none", "severity": "warning", "urgency": "normal",
            "group_by": "device", "close_on_recovery": "1", "enabled": "1"}


def test_the_rule_test_box_says_whether_a_sample_fires_and_why(client: Any, site: Any, iot: Iot) -> None:
    sign_in(client, site.token("zhihui"))
    form = _rule_form(client)
    hx = {"HX-Request": "true"}
    fires = client.post("/console/iot/rules/test", data={**form, "sample": '{"lel": 12}'}, headers=hx)
    assert fires.status_code == 200 and "<html" not in fires.text
    f = page(fires)
    assert f.find("strong", **{"data-fires": "yes"}).text == "会触发告警"
    assert "条件成立" in f.text and "lel" in f.text and "12" in f.text
    quiet = page(client.post("/console/iot/rules/test", data={**form, "sample": '{"lel": 3}'}, headers=hx))
    assert quiet.find("strong", **{"data-fires": "no"}).text == "不会触发告警" and "条件不成立" in quiet.text
    # an expression error: in Chinese, with the place it is at
    bad = page(client.post("/console/iot/rules/test", data={**form, "condition": "lel >= = 10",
                                                             "sample": '{"lel": 12}'}, headers=hx))
    alert = bad.find("div", role="alert")
    assert "条件表达式有误" in alert.text and re.search(r"第 \d+ 个字符处", alert.text)
    assert re.search(r"[\u4e00-\u9fff]{4,}", alert.text.split("：", 1)[1])
    assert "^" in bad.find("pre").text
    unknown = page(client.post("/console/iot/rules/test", data={**form, "condition": "lell >= 10",
                                                                 "sample": "{}"}, headers=hx))
    assert "lell" in unknown.find("div", role="alert").text
    forbidden = page(client.post("/console/iot/rules/test", data={**form, "condition": "__import__('os')",
                                                                   "sample": "{}"}, headers=hx))
    assert forbidden.find("div", role="alert") is not None and "触发" not in forbidden.text
    # a sample that is not JSON
    nojson = page(client.post("/console/iot/rules/test", data={**form, "sample": "{lel: 12"}, headers=hx))
    assert "样例数据有误" in nojson.find("div", role="alert").text
    # without JavaScript: the whole editor comes back with the answer and what was typed
    full = page(client.post("/console/iot/rules/test", data={**form, "sample": '{"lel": 12}'}))
    assert full.h1() == "新建规则" and full.find("strong", **{"data-fires": "yes"})
    assert full.find("textarea", id="rule-condition").text == "lel >= 10"
    assert site.db.scalar(select(func.count()).select_from(Rule).where(Rule.name == "燃气浓度偏高")) == 0


def test_the_sample_is_prefilled_from_the_types_schema(client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "zhihui", "/console/iot/rules/new?type=water_level")
    sample = json.loads(p.find("textarea", id="rule-sample").text)
    assert sample == {"event": "over_warning"}  # a new rule reads events and telemetry: the events' sample
    tele = client.get("/console/iot/rules/sample?type_code=water_level&kind=telemetry", headers={"HX-Request": "1"})
    level = json.loads(page(tele).find("textarea", id="rule-sample").text)
    assert set(level) == {"level_m", "battery"} and -20 <= level["level_m"] <= 200
    frag = client.get("/console/iot/rules/sample?type_code=gas&kind=telemetry", headers={"HX-Request": "true"})
    assert "<html" not in frag.text
    assert json.loads(page(frag).find("textarea", id="rule-sample").text) == {"lel": 10.0}
    assert "可燃气体浓度" in frag.text


def test_an_administrator_creates_edits_and_disables_a_rule(client: Any, site: Any, iot: Iot) -> None:
    sign_in(client, site.token("zhihui"))
    form = _rule_form(client)
    bad = client.post("/console/iot/rules", data={**form, "condition": "lel >>> 3"})
    assert bad.status_code == 422
    bp = page(bad)
    assert bp.find("div", role="alert") is not None and bp.find("textarea", id="rule-condition").text == "lel >>> 3"
    r = client.post("/console/iot/rules", data={**form, "raises_case": "1", "category_code": "SG-0304",
                                                "urgency": "urgent"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    rule = site.db.scalar(select(Rule).where(Rule.name == "燃气浓度偏高"))
    assert r.headers["location"] == f"/console/iot/rules/{rule.id}?msg=admin_saved"
    assert rule.condition == "lel >= 10" and rule.raises_case and rule.category_code == "SG-0304"
    edit = page(client.get(f"/console/iot/rules/{rule.id}"))
    assert edit.h1() == "编辑规则：燃气浓度偏高" and edit.unlabelled_controls() == []
    chosen = edit.find("option", value="SG-0304")
    assert "selected" in chosen.attrs and chosen.text and "SG-0304" not in chosen.text  # the category by name
    r = client.post(f"/console/iot/rules/{rule.id}", data={**form, "csrf_token": edit.csrf(),
                                                           "condition": "lel >= 15", "window": "count",
                                                           "window_count": "3", "window_s": "600"},
                    follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(rule)
    assert rule.condition == "lel >= 15" and rule.window == "count" and rule.window_count == 3
    listing = page(client.get("/console/iot/rules?type=gas"))
    row = next(tr for tr in listing.find_all("tr") if "燃气浓度偏高" in tr.text)
    assert "600 秒内 3 次" in row.text and "燃气" in row.text and "启用中" in row.text
    r = client.post(f"/console/iot/rules/{rule.id}/enabled", data={"csrf_token": listing.csrf(), "enabled": "0"},
                    follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(rule)
    assert rule.enabled is False
    assert "已停用" in page(client.get("/console/iot/rules")).text
    # without the token: refused, nothing changed
    assert client.post(f"/console/iot/rules/{rule.id}/enabled", data={"enabled": "1"}).status_code == 403
    site.db.refresh(rule)
    assert rule.enabled is False


def test_only_iot_administrators_open_the_rules_types_and_import(client: Any, site: Any, iot: Iot) -> None:
    rule = site.db.scalar(select(Rule).where(Rule.code == "smoke_alarm"))
    admin_urls = ("/console/iot/rules", "/console/iot/rules/new", f"/console/iot/rules/{rule.id}",
                  "/console/iot/types", "/console/iot/import", "/console/iot/import/template.xlsx")
    for who in ("shequ1", "jiedao1", "lingdao", "wangge_a", "bumen", "jumin"):
        sign_in(client, site.token(who))
        for url in admin_urls:
            assert client.get(url).status_code == 403, (who, url)
        tabs = client.get("/console/iot/") if who not in ("bumen", "jumin") else None
        if tabs is not None:
            assert "/console/iot/rules" not in tabs.text
    for who in ("zhihui", "admin"):
        sign_in(client, site.token(who))
        for url in admin_urls:
            assert client.get(url).status_code == 200, (who, url)


# -- types, import ---------------------------------------------------------------------------------------------

def test_the_types_page_shows_each_schema_as_a_table_of_fields(client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "admin", "/console/iot/types")
    water = next(s for s in p.find_all("section") if s.children and "水位" in s.children[0].text)
    assert "遥测" in water.text and "level_m" in water.text and "水位 m" in water.text and "数值" in water.text
    assert "-20 – 200" in water.text and "10 分钟" in water.text
    row = next(tr for tr in p.find_all("tr") if "level_m" in tr.text and "水位 m" in tr.text)
    assert "是" in row.text  # required
    assert re.search(r"设备数\s*1", " ".join(water.text.split()))


def _workbook(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["设备编号", "设备类型", "设备名称", "所属网格", "经度", "纬度", "地址"])
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_the_device_import_registers_good_rows_and_lists_refused_ones(client: Any, site: Any, iot: Iot) -> None:
    sign_in(client, site.token("zhihui"))
    tpl = client.get("/console/iot/import/template.xlsx")
    assert tpl.status_code == 200 and tpl.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(tpl.content))
    assert [c.value for c in wb.worksheets[0][1]][:3] == ["设备编号", "设备类型", "设备名称"]
    assert "烟感" in [r[0] for r in wb["设备类型"].iter_rows(values_only=True)]
    form = page(client.get("/console/iot/import"))
    assert form.unlabelled_controls() == []
    data = _workbook([["MH-001", "井盖", "金陵路井盖", "330522001001001", None, None, "金陵路1号"],
                      ["MH-002", "井盖", "金陵路井盖2", None, 119.1, 31.1, "金陵路2号"],
                      ["SMK-A-001", "烟感", "重复的烟感", "330522001001001", None, None, None],
                      ["XX-1", "不存在的类型", "某设备", "330522001001001", None, None, None]])
    r = client.post("/console/iot/import", data={"csrf_token": form.csrf()},
                    files={"file": ("设备.xlsx", data, "application/octet-stream")})
    assert r.status_code == 200, r.text[:500]
    p = page(r)
    assert p.find(id="n-created").text == "2", p.find("table", **{"class": "console-table refused-table"}).text
    assert p.find(id="n-created").text == "2" and p.find(id="n-refused").text == "2"
    refused = p.find("table", **{"class": "console-table refused-table"}).text
    assert "已登记" in refused and "不存在" in refused and "4" in refused and "5" in refused
    assert site.db.scalar(select(func.count()).select_from(Device).where(Device.device_key.like("MH-%"))) == 2
    nofile = client.post("/console/iot/import", data={"csrf_token": form.csrf()})
    assert nofile.status_code == 422 and "请选择要导入的 Excel 文件" in page(nofile).text
    junk = client.post("/console/iot/import", data={"csrf_token": form.csrf()},
                       files={"file": ("x.xlsx", b"not a workbook", "application/octet-stream")})
    assert junk.status_code == 422 and page(junk).find("div", role="alert") is not None


# -- the screen -------------------------------------------------------------------------------------------------

def test_the_screen_shows_open_device_alerts_by_type_and_offline_devices(client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "zhihui", "/screen")
    assert p.find(id="iot-wrap").attrs["data-url"] == "/screen/iot.json"
    figures = client.get("/screen/iot.json").json()
    assert figures == {"open": 2, "devices": 5, "offline": 1, "by_type": [{"name": "烟感", "count": 2}]}
    grid = client.get(f"/screen/iot.json?unit_id={site.world.units['gb'].id}").json()
    assert grid == {"open": 1, "devices": 1, "offline": 0, "by_type": [{"name": "烟感", "count": 1}]}
    sign_in(client, site.token("jiedao2"))
    assert client.get(f"/screen/iot.json?unit_id={site.world.units['gb'].id}").status_code == 404
    assert client.get("/screen/iot.json").json()["devices"] == 1
    sign_in(client, site.token("bumen"))
    assert client.get("/screen/iot.json").status_code == 403


# -- names, navigation ------------------------------------------------------------------------------------------

def test_the_pages_show_names_not_codes(client: Any, site: Any, iot: Iot) -> None:
    depts = department_names(site.db)
    sign_in(client, site.token("zhihui"))
    rule = site.db.scalar(select(Rule).where(Rule.code == "smoke_clear"))
    for url in ("/console/iot/", "/console/iot/devices", "/console/iot/alerts", f"/console/iot/devices/{iot.water.id}",
                "/console/iot/rules", f"/console/iot/rules/{rule.id}", "/console/iot/types"):
        r = client.get(url)
        assert r.status_code == 200
        # a rule's condition (the expression language over the payload's field names) and a message's payload
        # are marked translate="no": machine data, shown as such; everything around them is named
        assert visible_codes(r.text, depts) == [], url
        assert "330522001001001" not in r.text and str(site.world.units["ga"].id) not in page(r).text
    rules = page(client.get("/console/iot/rules"))
    row = next(tr for tr in rules.find_all("tr") if "烟感报警" in tr.text)
    assert "烟感" in row.text and "火灾" in row.text and "特急" in row.text, row.text  # type, category, urgency
    device = client.get(f"/console/iot/devices/{iot.smoke.id}")
    facts = page(device).find("dl", **{"class": "facts device-facts"})
    assert visible_codes(str(facts.text), depts) == []
    assert "smoke_detector" not in device.text and "SJ-0456" not in device.text


def test_the_navigation_offers_the_section_to_its_readers(client: Any, site: Any, iot: Iot) -> None:
    for who, shown in (("zhihui", True), ("shequ1", True), ("lingdao", True), ("wangge_a", True),
                       ("bumen", False), ("shenji", False)):
        sign_in(client, site.token(who))
        home = client.get("/console/home" if who not in ("wangge_a", "shenji") else
                          ("/gw/" if who == "wangge_a" else "/console/audit/"))
        nav = page(home).find("nav", **{"class": "mainnav"})
        assert ("物联感知" in nav.text) is shown, who


def test_an_open_alert_closes_and_the_device_shows_online_again(client: Any, site: Any, iot: Iot) -> None:
    from zhili.iot import alerts as iot_alerts

    iot_alerts.close_alert(site.db, principal=site.principal("zhihui"), alert_id=iot.alert.id, reason="已现场处置")
    site.db.flush()
    assert site.db.get(Alert, iot.alert.id).state == AlertState.closed
    p = _page(client, site, "zhihui", f"/console/iot/devices/{iot.smoke.id}")
    assert p.find("span", **{"class": "badge device-status status-active"}).text == "在线"
    assert "已关闭" in p.find("table", **{"class": "console-table alert-table"}).text


def test_an_administrator_closes_an_alert_with_a_reason_and_disables_a_device(
        client: Any, site: Any, iot: Iot) -> None:
    p = _page(client, site, "zhihui", "/console/iot/alerts?severity=critical")
    assert p.unlabelled_controls() == []
    form = next(f for f in p.find_all("form") if f.attrs.get("action") == f"/console/iot/alerts/{iot.alert.id}/close")
    back = next(i.attrs["value"] for i in form.children if i.attrs.get("name") == "next")
    assert back == "/console/iot/alerts?severity=critical"
    short = client.post(f"/console/iot/alerts/{iot.alert.id}/close", data={"csrf_token": p.csrf(), "reason": "误"})
    assert short.status_code == 422 and "关闭原因" in page(short).find("div", role="alert").text
    assert site.db.get(Alert, iot.alert.id).state == AlertState.open
    r = client.post(f"/console/iot/alerts/{iot.alert.id}/close", follow_redirects=False,
                    data={"csrf_token": p.csrf(), "reason": "现场核实为厨房油烟", "next": back})
    assert r.status_code == 303 and r.headers["location"] == back + "&msg=iot_alert_closed"
    site.db.refresh(iot.alert)
    assert iot.alert.state == AlertState.closed and iot.alert.close_reason == "现场核实为厨房油烟"
    after = page(client.get(r.headers["location"]))
    assert "告警已关闭" in after.text and "现场核实为厨房油烟" in after.text
    # 停用 / 启用 from the device page
    d = page(client.get(f"/console/iot/devices/{iot.quiet.id}"))
    r = client.post(f"/console/iot/devices/{iot.quiet.id}/status", data={"csrf_token": d.csrf(), "enabled": "0"},
                    follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(iot.quiet)
    assert iot.quiet.status == DeviceStatus.disabled
    shown = page(client.get(r.headers["location"]))
    assert "设备状态已更新" in shown.text and shown.find("span", **{"class": "badge device-status status-disabled"})
    assert "启用设备" in shown.text
    # readers neither close nor disable (no form, and the routes refuse)
    sign_in(client, site.token("shequ1"))
    other = site.db.scalar(select(Alert).where(Alert.device_id == iot.other.id))
    listing = page(client.get("/console/iot/alerts"))
    assert not [f for f in listing.find_all("form") if "/close" in (f.attrs.get("action") or "")]
    assert client.post(f"/console/iot/alerts/{other.id}/close",
                       data={"csrf_token": listing.csrf(), "reason": "社区自行关闭"}).status_code == 403
    assert client.post(f"/console/iot/devices/{iot.smoke.id}/status",
                       data={"csrf_token": listing.csrf(), "enabled": "0"}).status_code == 403
    assert site.db.get(Alert, other.id).state == AlertState.open


def test_a_lock_bound_to_a_rental_room_shows_its_building_and_room(client: Any, site: Any, iot: Iot) -> None:
    from zhili.core.validators import id_check_digit
    from zhili.registry.models import Building, BuildingType, Household, HouseholdUse
    from zhili.rental.rooms import register_room

    ga = site.world.units["ga"]
    b = Building(grid_id=ga.id, path=ga.path, name="金陵小区3幢", address="长兴县金陵路 88 号",
                 building_type=BuildingType.residential, floors=6, lon=119.1, lat=31.1)
    site.db.add(b)
    site.db.flush()
    h = Household(building_id=b.id, grid_id=b.grid_id, path=b.path, room="502", address=f"{b.address}502室",
                  use=HouseholdUse.owner_occupied)
    site.db.add(h)
    site.db.flush()
    first = "33052219700101123"
    room = register_room(site.db, principal=site.principal("wangge_a"), data={
        "landlord": {"name": "王房东", "id_number": first + id_check_digit(first), "phone": "13900001111"},
        "household_id": h.id, "label": "整套", "capacity": 2, "rent_yuan": 1500}).room
    lock = iot_devices.create_device(site.db, principal=site.principal("zhihui"), device_key="LOCK-0001", data={
        "type_code": "door_lock", "name": "金陵小区3幢502门锁", "room_id": room.id, "building_id": b.id})
    p = _page(client, site, "wangge_a", f"/console/iot/devices/{lock.id}")
    facts = " ".join(p.find("dl", **{"class": "facts device-facts"}).text.split())
    assert "所在楼栋长兴县金陵路 88 号 金陵小区3幢" in facts
    assert "长兴县金陵路 88 号502室（整套）" in facts and "智能门锁" in facts
    assert "王房东" not in p.text and "13900001111" not in p.text


def test_the_list_pages_past_any_cap_and_the_map_says_when_it_shows_only_the_first(
        client: Any, site: Any, iot: Iot, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.web import pages_iot

    monkeypatch.setattr(iot_devices, "LIST_MAX", 3)  # the list pages in SQL: the service's cap does not bound it
    p = _page(client, site, "zhihui", "/console/iot/devices")
    assert "共 5 条" in p.text and "仅" not in p.text
    monkeypatch.setattr(pages_iot, "MAP_MAX", 2)
    gj = client.get("/console/iot/devices.geojson").json()
    assert len(gj["features"]) == 2 and "共 5 台" in gj["summary"] and "仅显示前 2 台" in gj["summary"]
    assert "仅显示" not in client.get("/console/iot/devices.geojson?type=water_level").json()["summary"]
    home = _page(client, site, "zhihui", "/console/iot/")
    assert home.find(id="kpi-total").text == "5" and home.find(id="kpi-alarm").text == "2"


def test_a_device_page_lists_its_open_and_latest_alerts_and_says_how_many_there_are(
        client: Any, site: Any, iot: Iot, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.web import pages_iot

    a = iot.alert
    site.db.add(Alert(kind="offline", device_id=iot.smoke.id, group_key=f"offline:{iot.smoke.id}:old",
                      unit_id=a.unit_id, path=a.path, title="设备离线", state=AlertState.closed,
                      first_at=a.first_at, last_at=a.last_at, detail={}))
    site.db.flush()
    monkeypatch.setattr(pages_iot, "DEVICE_ALERTS", 1)
    p = _page(client, site, "zhihui", f"/console/iot/devices/{iot.smoke.id}")
    assert "共 2 条告警，这里列出未关闭的和最近的 1 条" in p.text
    assert a.title in p.text and "设备离线" not in p.find("section", **{"aria-labelledby": "alerts-h"}).text
