"""The shipped device types and alert rules (data, installed by :func:`zhili.iot.types.install_defaults`).

Each type declares its payload per message kind (:mod:`zhili.iot.schema`); each rule reads one type's messages.
Categories are the taxonomy's (``src/zhili/fixtures/taxonomy.json``); a district edits or disables any of them
in the rule editor — an edited shipped rule keeps its ``code`` and is not overwritten by a later install.
"""

from __future__ import annotations

from typing import Any

_BATTERY = {"type": "number", "minimum": 0, "maximum": 100, "description": "电量 %"}
_RSSI = {"type": "number", "minimum": -150, "maximum": 0, "description": "信号强度 dBm"}
_TS = {"type": ["number", "string"]}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": {**props, "ts": _TS}, "required": required or [],
            "additionalProperties": True}


def _events(values: list[str], **more: Any) -> dict[str, Any]:
    return _obj({"event": {"type": "string", "enum": values}, **more}, ["event"])


_HEARTBEAT = _obj({"battery": _BATTERY, "rssi": _RSSI, "firmware": {"type": "string", "maxLength": 32}})

DEVICE_TYPES: list[dict[str, Any]] = [
    {"code": "smoke_detector", "name": "烟感", "heartbeat_s": 1800, "schemas": {
        "events": _events(["alarm", "clear", "fault", "low_battery", "tamper", "test"],
                          smoke={"type": "number", "minimum": 0, "maximum": 100}),
        "telemetry": _obj({"smoke": {"type": "number", "minimum": 0, "maximum": 100, "description": "烟雾浓度 %"},
                           "temperature": {"type": "number", "minimum": -40, "maximum": 150},
                           "battery": _BATTERY}),
        "heartbeat": _HEARTBEAT}},
    {"code": "door_lock", "name": "智能门锁", "heartbeat_s": 600, "schemas": {
        "events": _events(["unlock", "lock", "tamper", "low_battery", "fail"],
                          credential={"type": "string", "maxLength": 64},
                          method={"type": "string", "enum": ["card", "password", "fingerprint", "face", "app",
                                                              "key", "temporary"]}),
        "telemetry": _obj({"battery": _BATTERY, "door_open": {"type": "boolean"}}),
        "heartbeat": _HEARTBEAT}},
    {"code": "manhole_cover", "name": "井盖", "heartbeat_s": 3600, "schemas": {
        "events": _events(["tilt", "open", "clear", "low_battery", "water"]),
        "telemetry": _obj({"tilt_deg": {"type": "number", "minimum": 0, "maximum": 180},
                           "battery": _BATTERY}),
        "heartbeat": _HEARTBEAT}},
    {"code": "water_level", "name": "水位", "heartbeat_s": 600, "schemas": {
        "telemetry": _obj({"level_m": {"type": "number", "minimum": -20, "maximum": 200, "description": "水位 m"},
                           "battery": _BATTERY}, ["level_m"]),
        "events": _events(["over_warning", "over_alarm", "clear", "fault"]),
        "heartbeat": _HEARTBEAT}},
    {"code": "gas", "name": "燃气", "heartbeat_s": 600, "schemas": {
        "telemetry": _obj({"lel": {"type": "number", "minimum": 0, "maximum": 100,
                                   "description": "可燃气体浓度 %LEL"}}, ["lel"]),
        "events": _events(["leak", "clear", "fault", "valve_closed"], lel={"type": "number", "minimum": 0,
                                                                          "maximum": 100}),
        "heartbeat": _HEARTBEAT}},
    {"code": "elevator", "name": "电梯", "heartbeat_s": 300, "schemas": {
        "events": _events(["trapped", "fault", "door_abnormal", "overspeed", "clear"],
                          floor={"type": "integer", "minimum": -10, "maximum": 200}),
        "telemetry": _obj({"floor": {"type": "integer", "minimum": -10, "maximum": 200},
                           "running": {"type": "boolean"}, "door_open": {"type": "boolean"}}),
        "heartbeat": _HEARTBEAT}},
    {"code": "camera_alarm", "name": "视频告警", "heartbeat_s": 300, "schemas": {
        "events": _events(["intrusion", "crowd", "fire", "parking", "litter", "fall", "clear"],
                          confidence={"type": "number", "minimum": 0, "maximum": 1},
                          snapshot_url={"type": "string", "maxLength": 500}),
        "telemetry": _obj({"people": {"type": "integer", "minimum": 0, "maximum": 100000}}),
        "heartbeat": _HEARTBEAT}},
]

# Rules: a device-type code, the message kind, the condition, the window, what it raises.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"code": "smoke_alarm", "name": "烟感报警", "type_code": "smoke_detector", "kind": "events",
     "condition": 'event == "alarm"', "window": "none", "severity": "critical", "raises_case": True,
     "category_code": "SJ-0456", "urgency": "emergency", "group_by": "building", "close_on_recovery": False,
     "quiet_close_s": 3600, "note": "同一楼栋的烟感报警合并为一条告警、一件事件（报警风暴只计数）"},
    {"code": "smoke_clear", "name": "烟感故障或拆除", "type_code": "smoke_detector", "kind": "events",
     "condition": 'event in ["fault", "tamper"]', "window": "none", "severity": "warning", "raises_case": False,
     "group_by": "device", "close_on_recovery": False, "quiet_close_s": 86400},
    {"code": "lock_tamper", "name": "门锁被撬/拆卸", "type_code": "door_lock", "kind": "events",
     "condition": 'event == "tamper"', "window": "none", "severity": "warning", "raises_case": False,
     "group_by": "device", "close_on_recovery": False, "quiet_close_s": 86400},
    {"code": "lock_low_battery", "name": "门锁电量低", "type_code": "door_lock", "kind": "events",
     "condition": 'event == "low_battery"', "window": "none", "severity": "info", "raises_case": False,
     "group_by": "device", "close_on_recovery": False, "quiet_close_s": 7 * 86400},
    {"code": "lock_unknown_repeat", "name": "陌生凭证反复开锁", "type_code": "door_lock", "kind": "events",
     "condition": 'event == "unlock" and credential_known == False and stay_active',
     "window": "count", "window_count": 3, "window_s": 86400, "severity": "warning", "raises_case": True,
     "category_code": "SG-0201", "urgency": "urgent", "group_by": "device", "close_on_recovery": False,
     "quiet_close_s": 86400,
     "note": "有在住登记的出租房，24 小时内 3 次以未登记凭证开锁，转为事件核查（单次由出租房屋预警提示）"},
    {"code": "manhole_open", "name": "井盖移位/开启", "type_code": "manhole_cover", "kind": None,
     "condition": 'event in ["tilt", "open"] or coalesce(tilt_deg, 0) > 15', "window": "none",
     "severity": "critical", "raises_case": True, "category_code": "BJ-0114", "urgency": "urgent",
     "case_attributes": {"cover_problem": "displaced"}, "group_by": "device", "close_on_recovery": True},
    {"code": "water_high", "name": "水位超警戒（持续 5 分钟）", "type_code": "water_level", "kind": "telemetry",
     "condition": "level_m >= 2.5", "window": "duration", "window_s": 300, "severity": "critical",
     "raises_case": True, "category_code": "SJ-0452", "urgency": "urgent", "group_by": "device",
     "close_on_recovery": True},
    {"code": "gas_leak", "name": "燃气泄漏", "type_code": "gas", "kind": None,
     "condition": 'event == "leak" or coalesce(lel, 0) >= 20', "window": "none", "severity": "critical",
     "raises_case": True, "category_code": "SG-0304", "urgency": "emergency", "group_by": "building",
     "close_on_recovery": True},
    {"code": "elevator_trapped", "name": "电梯困人", "type_code": "elevator", "kind": "events",
     "condition": 'event == "trapped"', "window": "none", "severity": "critical", "raises_case": True,
     "category_code": "SG-0306", "urgency": "emergency", "group_by": "device", "close_on_recovery": False,
     "quiet_close_s": 3600},
    {"code": "elevator_fault", "name": "电梯故障（1 小时 3 次）", "type_code": "elevator", "kind": "events",
     "condition": 'event in ["fault", "door_abnormal", "overspeed"]', "window": "count", "window_count": 3,
     "window_s": 3600, "severity": "warning", "raises_case": True, "category_code": "SG-0306", "urgency": "urgent",
     "group_by": "device", "close_on_recovery": False, "quiet_close_s": 86400},
    {"code": "camera_fire", "name": "视频识别烟火", "type_code": "camera_alarm", "kind": "events",
     "condition": 'event == "fire" and coalesce(confidence, 1) >= 0.8', "window": "none", "severity": "critical",
     "raises_case": True, "category_code": "SJ-0456", "urgency": "emergency", "group_by": "building",
     "close_on_recovery": False, "quiet_close_s": 3600},
    {"code": "camera_intrusion", "name": "视频识别区域入侵", "type_code": "camera_alarm", "kind": "events",
     "condition": 'event == "intrusion" and coalesce(confidence, 1) >= 0.7', "window": "none",
     "severity": "warning", "raises_case": False, "group_by": "device", "close_on_recovery": False,
     "quiet_close_s": 3600},
]
