"""The device registry, its Excel import (refused rows kept with their reason), device types and their schemas,
rules (checked when saved; "test this rule on a sample payload"), and who may do what where (API)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from iotworld import admin, device, install, principal_of
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.taxonomy import load_defaults
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.core.security import Role
from zhili.iot import devices, rules, types
from zhili.iot.models import Device, Rule

API = "/api/v1/iot"


@pytest.fixture
def env(db: Session, world: Any) -> Iterator[Any]:
    load_defaults(db)
    install(db)
    yield world


def _workbook(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["设备编号", "设备类型", "设备名称", "所属网格", "经度", "纬度", "地址", "产权单位", "心跳间隔"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_import_registers_good_rows_and_returns_refused_ones_with_reasons(db: Session, env: Any) -> None:
    ga, gc = env.units["ga"].code, env.units["gc"].code
    device(db, env, "gas", key="EXIST-1")
    content = _workbook([
        ["IMP-1", "smoke_detector", "1幢烟感", ga, None, None, "金陵路1号", "物业公司", 1800],
        ["IMP-2", "井盖", "雨水井盖", None, 119.3, 31.1, "金陵路口", None, None],  # type by name, unit by point
        ["IMP-3", "不存在的类型", "某设备", ga, None, None, None, None, None],
        ["IMP-1", "gas", "重复编号", ga, None, None, None, None, None],
        ["EXIST-1", "gas", "已登记", ga, None, None, None, None, None],
        ["IMP 4/#", "gas", "非法编号", ga, None, None, None, None, None],
        ["IMP-5", "gas", "区外坐标", None, 100.0, 20.0, None, None, None],
        ["IMP-6", "gas", "无位置", None, None, None, None, None, None],
        ["IMP-7", "gas", "心跳错误", ga, None, None, None, None, 5],
        ["IMP-8", "gas", None, ga, None, None, None, None, None],
        [None, None, None, None, None, None, None, None, None],  # a blank row is skipped
        ["IMP-9", "elevator", "画溪电梯", gc, None, None, None, None, None],
    ])
    res = devices.import_devices(db, principal=admin(env), content=content, filename="设备.xlsx")
    assert (res.total, res.created) == (11, 3)
    why = {r["row"]: r["reason"] for r in res.refused}
    assert why == {
        4: "设备类型“不存在的类型”不存在", 5: "与本文件前面的行设备编号重复", 6: "设备编号“EXIST-1”已登记",
        7: "设备编号应为 1–64 位字母、数字或 _ . : -", 8: "该坐标不在本区县的网格范围内",
        9: "请填写所属单位、楼栋或坐标", 10: "心跳间隔应为 10–604800 秒", 11: "请填写设备名称"}
    two = db.scalar(select(Device).where(Device.device_key == "IMP-2"))
    assert two is not None and two.unit_id == env.units["gb"].id  # placed by its point
    one = db.scalar(select(Device).where(Device.device_key == "IMP-1"))
    assert one is not None and one.heartbeat_s == 1800 and one.owner == "物业公司"


def test_a_street_imports_only_into_its_own_area(db: Session, env: Any) -> None:
    street = principal_of(env, "jiedao1", Role.street_staff, "s1")
    with pytest.raises(Forbidden):  # street staff hold iot:read, not iot:admin
        devices.import_devices(db, principal=street, content=b"x")
    cmd = principal_of(env, "zhihui", Role.command_centre, "s1")  # a command centre bound to one street
    res = devices.import_devices(db, principal=cmd, content=_workbook([
        ["S1-1", "gas", "雉城燃气", env.units["ga"].code, None, None, None, None, None],
        ["S2-1", "gas", "画溪燃气", env.units["gc"].code, None, None, None, None, None]]))
    assert res.created == 1 and res.refused[0]["reason"] == "所属单位不在您的管辖范围内"


def test_unreadable_files_and_bad_headers_are_refused(db: Session, env: Any) -> None:
    with pytest.raises(ValidationFailed, match="无法读取"):
        devices.import_devices(db, principal=admin(env), content=b"not a workbook")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["编号", "名称"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(ValidationFailed, match="表头缺少"):
        devices.import_devices(db, principal=admin(env), content=buf.getvalue())


def test_jurisdiction_reading_devices(db: Session, env: Any) -> None:
    mine = device(db, env, "gas", grid="ga")
    other = device(db, env, "gas", grid="gc")
    worker = principal_of(env, "wangge_a", Role.grid_worker, "ga")
    assert [d.id for d in devices.list_devices(db, principal=worker)] == [mine.id]
    assert devices.get_device(db, principal=worker, device_id=mine.id).id == mine.id
    with pytest.raises(NotFound):
        devices.get_device(db, principal=worker, device_id=other.id)
    with pytest.raises(Forbidden):
        devices.update_device(db, principal=worker, device_id=mine.id, changes={"name": "x"})
    resident = principal_of(env, "jumin", Role.resident, "ga")
    with pytest.raises(Forbidden):
        devices.list_devices(db, principal=resident)


def test_device_types_schema_checked_when_saved(db: Session, env: Any) -> None:
    a = admin(env)
    t = types.create_type(db, principal=a, code="noise", name="噪声监测", heartbeat_s=600, schemas={
        "telemetry": {"type": "object", "properties": {"db": {"type": "number", "minimum": 0, "maximum": 200}},
                      "required": ["db"]}})
    assert t.version == 1
    for bad, why in [({"telemetry": {"type": "object", "pattern": "x"}}, "不支持的关键字 pattern"),
                     ({"telemetry": {"type": "float"}}, "type 只能是"),
                     ({"status": {}}, "只能按 events"),
                     ({"events": {"properties": {"x": {"minimum": "1"}}}}, "minimum 应为数值"),
                     ({"events": {"additionalProperties": "no"}}, "additionalProperties")]:
        with pytest.raises(ValidationFailed, match=why):
            types.update_type(db, principal=a, code="noise", changes={"schemas": bad})
    with pytest.raises(Conflict):
        types.create_type(db, principal=a, code="noise", name="再来一个")
    with pytest.raises(ValidationFailed):
        types.create_type(db, principal=a, code="Bad Code", name="x")
    with pytest.raises(Conflict):
        types.update_type(db, principal=a, code="noise", changes={"name": "噪声"}, expected_version=99)
    assert types.install_defaults(db) == (0, 0)  # already installed: nothing overwritten


def test_rules_are_checked_when_saved(db: Session, env: Any) -> None:
    a = admin(env)
    base = {"name": "水位持续偏高", "type_code": "water_level", "kind": "telemetry", "condition": "level_m >= 2",
            "window": "duration", "window_s": 600, "raises_case": True, "category_code": "SJ-0452",
            "urgency": "urgent"}
    r = rules.create_rule(db, principal=a, spec=base)
    assert r.version == 1 and r.window_count is None
    for change, why in [({"condition": "levle_m >= 2"}, "未知的名称“levle_m”"),
                        ({"condition": "level_m.x"}, "属性"),
                        ({"window": "count", "window_count": None}, "计数窗口需要次数和时长"),
                        ({"window_s": 0}, "窗口时长"),
                        ({"category_code": None}, "需要选择事件类别"),
                        ({"category_code": "NOPE"}, "事件类别不存在"),
                        ({"type_code": "nope"}, "设备类型"),
                        ({"severity": "apocalyptic"}, "取值无效"),
                        ({"bogus": 1}, "未知的规则字段")]:
        with pytest.raises(ValidationFailed, match=why):
            rules.update_rule(db, principal=a, rule_id=r.id, changes=change)
    r2 = rules.update_rule(db, principal=a, rule_id=r.id, changes={"window_s": 300}, expected_version=1)
    assert r2.version == 2 and r2.window_s == 300
    with pytest.raises(Conflict):
        rules.update_rule(db, principal=a, rule_id=r.id, changes={"window_s": 60}, expected_version=1)
    worker = principal_of(env, "wangge_a", Role.grid_worker, "ga")
    assert rules.get_rule(db, principal=worker, rule_id=r.id).id == r.id
    with pytest.raises(Forbidden):
        rules.create_rule(db, principal=worker, spec=base)
    rules.delete_rule(db, principal=a, rule_id=r.id)
    assert db.get(Rule, r.id) is None


def test_test_this_rule_on_a_sample_payload(db: Session, env: Any) -> None:
    worker = principal_of(env, "wangge_a", Role.grid_worker, "ga")
    spec = {"name": "燃气", "type_code": "gas", "kind": "telemetry", "condition": "lel >= 20 and lel < 100"}
    got = rules.test_rule(db, principal=worker, spec=spec, payload={"lel": 25})
    assert got["ok"] and got["matched"] and got["names"] == ["lel"] and "会触发告警" in got["explain"]
    got = rules.test_rule(db, principal=worker, spec=spec, payload={"lel": 5})
    assert got["ok"] and not got["matched"] and "不会触发" in got["explain"]
    got = rules.test_rule(db, principal=worker, spec=spec, payload={"lel": 500})
    assert got["schema_error"] == "字段 lel 不能大于 100" and "会被拒收" in got["explain"]
    got = rules.test_rule(db, principal=worker, spec={**spec, "condition": "lel >= "}, payload={"lel": 1})
    assert not got["ok"] and "语法错误" in got["error"] and got["error_at"]["column"] >= 1
    got = rules.test_rule(db, principal=worker, spec={**spec, "condition": "1 / (lel - lel) > 0"}, payload={"lel": 1})
    assert not got["ok"] and got["error"] == "除数为零"
    lock = {"name": "陌生凭证", "type_code": "door_lock", "kind": "events", "window": "count", "window_count": 3,
            "window_s": 86400, "condition": 'event == "unlock" and credential_known == False and stay_active'}
    got = rules.test_rule(db, principal=worker, spec=lock, payload={"event": "unlock", "credential": "X"})
    assert got["matched"] and "86400 秒内累计 3 条" in got["explain"]
    got = rules.test_rule(db, principal=worker, spec=lock, payload={"event": "unlock"},
                          context={"credential_known": True})
    assert not got["matched"]
    assert db.scalar(select(Rule).where(Rule.name == "陌生凭证")) is None  # nothing saved


def test_api_answers_with_names_and_refuses_by_role(client: TestClient, db: Session, env: Any) -> None:
    d = device(db, env, "smoke_detector", grid="ga")
    db.commit()
    got = client.get(f"{API}/devices/{d.id}", headers=env.headers("wangge_a"))
    assert got.status_code == 200
    body = got.json()
    assert body["type_name"] == "烟感" and body["status_label"] == "在线" and body["unit_name"] == "金陵社区第1网格"
    assert client.get(f"{API}/devices/{d.id}", headers=env.headers("wangge_b")).status_code == 404
    assert client.get(f"{API}/devices", headers=env.headers("bumen")).status_code == 403
    r = client.post(f"{API}/rules/test", headers=env.headers("wangge_a"), json={
        "rule": {"name": "t", "type_code": "smoke_detector", "kind": "events", "condition": 'event == "alarm"'},
        "payload": {"event": "alarm"}})
    assert r.status_code == 200 and r.json()["matched"] is True
    r = client.post(f"{API}/rules", headers=env.headers("zhihui"), json={
        "name": "t", "type_code": "smoke_detector", "condition": "x.y"})
    assert r.status_code == 422 and r.json()["code"] == "expr_invalid" and r.json()["details"]["column"] == 1
    with_xlsx = client.post(f"{API}/devices/import", headers=env.headers("zhihui"), files={"file": (
        "d.xlsx", _workbook([["API-1", "gas", "燃气", env.units["gb"].code, None, None, None, None, None]]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert with_xlsx.status_code == 200 and with_xlsx.json()["created"] == 1
