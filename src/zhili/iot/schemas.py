"""Request and response bodies of the IoT API (``/api/v1/iot``). Every code comes with its Chinese name."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhili.core.jsonbounds import FreeJson


class DeviceTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    schemas: dict[str, Any] = Field(description="各消息类型（events/telemetry/heartbeat）的载荷格式")
    heartbeat_s: int
    builtin: bool
    version: int


class DeviceTypeIn(BaseModel):
    code: str = Field(min_length=2, max_length=32, description="类型代码（小写字母、数字、下划线；即主题中的设备类型）")
    name: str = Field(min_length=1, max_length=100)
    schemas: FreeJson = Field(default_factory=dict)
    heartbeat_s: int = Field(300, ge=10, le=7 * 86400)


class DeviceTypePatch(BaseModel):
    name: str | None = Field(None, max_length=100)
    schemas: FreeJson | None = None
    heartbeat_s: int | None = Field(None, ge=10, le=7 * 86400)
    expected_version: int | None = None


class DeviceOut(BaseModel):
    id: uuid.UUID
    device_key: str = Field(description="设备编号（主题中的设备标识）")
    type_code: str
    type_name: str
    name: str
    unit_id: uuid.UUID
    unit_name: str
    lon: float | None
    lat: float | None
    address: str | None
    building_id: uuid.UUID | None
    room_id: uuid.UUID | None
    owner: str | None
    status: str
    status_label: str
    heartbeat_s: int = Field(description="心跳间隔（秒）：设备自己的，未设置时取类型的")
    last_seen_at: dt.datetime | None
    installed_at: dt.datetime | None
    note: str | None
    version: int


class DeviceIn(BaseModel):
    device_key: str = Field(min_length=1, max_length=64)
    type_code: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=100)
    unit_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    address: str | None = Field(None, max_length=255)
    owner: str | None = Field(None, max_length=100)
    heartbeat_s: int | None = Field(None, ge=10, le=7 * 86400)
    note: str | None = Field(None, max_length=2000)


class DevicePatch(BaseModel):
    name: str | None = Field(None, max_length=100)
    unit_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    address: str | None = Field(None, max_length=255)
    owner: str | None = Field(None, max_length=100)
    heartbeat_s: int | None = Field(None, ge=10, le=7 * 86400)
    note: str | None = Field(None, max_length=2000)
    status: str | None = Field(None, description="active（启用）或 disabled（停用）")
    expected_version: int | None = None


class MessageOut(BaseModel):
    id: uuid.UUID
    device_key: str
    message_id: str
    topic: str
    kind: str
    kind_label: str
    payload: dict[str, Any] | None
    raw: str | None
    sent_at: dt.datetime | None
    received_at: dt.datetime
    accepted: bool
    reason: str | None
    reason_code: str | None


class ImportOut(BaseModel):
    total: int
    created: int
    refused: list[dict[str, Any]] = Field(description="未导入的行：行号、设备编号、原因")


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    type_code: str = Field(max_length=32)
    kind: str | None = Field(None, description="events / telemetry / heartbeat；空为事件和遥测")
    condition: str = Field(min_length=1, max_length=2000, description="触发条件（安全表达式）")
    window: str = Field("none", description="none（逐条）、count（计数窗口）、duration（持续时长）")
    window_count: int | None = None
    window_s: int | None = None
    severity: str = "warning"
    raises_case: bool = False
    category_code: str | None = Field(None, max_length=32)
    urgency: str = "normal"
    case_attributes: FreeJson = Field(default_factory=dict)
    group_by: str = "device"
    close_on_recovery: bool = True
    quiet_close_s: int | None = None
    enabled: bool = True
    note: str | None = Field(None, max_length=2000)


class RulePatch(BaseModel):
    name: str | None = Field(None, max_length=100)
    kind: str | None = None
    condition: str | None = Field(None, max_length=2000)
    window: str | None = None
    window_count: int | None = None
    window_s: int | None = None
    severity: str | None = None
    raises_case: bool | None = None
    category_code: str | None = Field(None, max_length=32)
    urgency: str | None = None
    case_attributes: FreeJson | None = None
    group_by: str | None = None
    close_on_recovery: bool | None = None
    quiet_close_s: int | None = None
    enabled: bool | None = None
    note: str | None = Field(None, max_length=2000)
    expected_version: int | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str | None
    name: str
    type_code: str
    kind: str | None
    condition: str
    window: str
    window_count: int | None
    window_s: int | None
    severity: str
    raises_case: bool
    category_code: str | None
    urgency: str
    case_attributes: dict[str, Any]
    group_by: str
    close_on_recovery: bool
    quiet_close_s: int | None
    enabled: bool
    note: str | None
    version: int


class RuleTestIn(BaseModel):
    rule: RuleIn
    payload: FreeJson = Field(description="样例载荷（JSON 对象）")
    context: FreeJson | None = Field(None, description="可选：覆盖上下文名称（如门锁的 credential_known）")


class RuleTestOut(BaseModel):
    ok: bool
    matched: bool
    value: Any = None
    error: str | None
    error_at: dict[str, Any] | None
    schema_error: str | None
    names: list[str]
    explain: str


class AlertOut(BaseModel):
    id: uuid.UUID
    kind: str
    kind_label: str
    rule_id: uuid.UUID | None
    device_id: uuid.UUID
    title: str
    severity: str
    severity_label: str
    state: str
    state_label: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    case_id: uuid.UUID | None
    closed_at: dt.datetime | None
    close_reason: str | None
    detail: dict[str, Any]


class CloseIn(BaseModel):
    reason: str = Field(min_length=2, max_length=255)
