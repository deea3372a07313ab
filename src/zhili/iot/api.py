"""IoT perception routes (``/api/v1/iot``): device types, the device registry and its Excel import, messages,
alert rules with "test on a sample payload", and alerts. Thin: each route calls one service function, which checks
permission (``iot:read`` / ``iot:admin``) and jurisdiction itself. The messages themselves arrive over MQTT
(`zhili iot run`), never through these routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile

from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import CurrentUser, Db
from zhili.iot import alerts, devices, rules, types, views
from zhili.iot.schemas import (
    AlertOut,
    CloseIn,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    DeviceTypeIn,
    DeviceTypeOut,
    DeviceTypePatch,
    ImportOut,
    MessageOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleTestIn,
    RuleTestOut,
)

router = APIRouter(prefix="/iot", tags=["物联感知"])


# -- device types ----------------------------------------------------------------------------------------------

@router.get("/types", response_model=list[DeviceTypeOut], summary="设备类型")
def list_types(session: Db, principal: CurrentUser) -> list[DeviceTypeOut]:
    return [DeviceTypeOut.model_validate(t) for t in types.list_types(session, principal=principal)]


@router.post("/types", response_model=DeviceTypeOut, status_code=201, summary="新增设备类型")
def create_type(body: DeviceTypeIn, session: Db, principal: CurrentUser) -> DeviceTypeOut:
    return DeviceTypeOut.model_validate(types.create_type(session, principal=principal, code=body.code,
                                                          name=body.name, schemas=body.schemas,
                                                          heartbeat_s=body.heartbeat_s))


@router.patch("/types/{code}", response_model=DeviceTypeOut, summary="修改设备类型（名称、载荷格式、心跳间隔）")
def update_type(code: Annotated[str, Path(max_length=32)], body: DeviceTypePatch, session: Db,
                principal: CurrentUser) -> DeviceTypeOut:
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    return DeviceTypeOut.model_validate(types.update_type(session, principal=principal, code=code,
                                                          changes=changes, expected_version=body.expected_version))


# -- devices ---------------------------------------------------------------------------------------------------

@router.get("/devices", response_model=list[DeviceOut], summary="设备台账（本辖区）")
def list_devices(session: Db, principal: CurrentUser, type_code: str | None = Query(None, max_length=32),
                 status: str | None = Query(None, pattern="^(active|offline|disabled)$"),
                 q: str | None = Query(None, max_length=64),
                 limit: int = Query(500, ge=1, le=devices.LIST_MAX)) -> list[DeviceOut]:
    rows = devices.list_devices(session, principal=principal, type_code=type_code, status=status, q=q, limit=limit)
    return [DeviceOut(**v) for v in views.device_views(session, rows)]


@router.get("/devices/summary", summary="各状态设备数（本辖区）")
def device_summary(session: Db, principal: CurrentUser) -> dict[str, int]:
    return devices.count_by_status(session, principal=principal)


@router.post("/devices", response_model=DeviceOut, status_code=201, summary="登记设备")
def create_device(body: DeviceIn, session: Db, principal: CurrentUser) -> DeviceOut:
    data = body.model_dump(exclude_none=True, exclude={"device_key"})
    d = devices.create_device(session, principal=principal, device_key=body.device_key, data=data)
    return DeviceOut(**views.device_views(session, [d])[0])


@router.post("/devices/import", response_model=ImportOut, summary="Excel 导入设备（未导入的行逐行说明原因）")
@body_limit(devices.IMPORT_MAX_BYTES + MARGIN)
def import_devices(session: Db, principal: CurrentUser,
                   file: Annotated[UploadFile, File(description="设备台账 .xlsx")]) -> ImportOut:
    res = devices.import_devices(session, principal=principal, content=file.file.read(devices.IMPORT_MAX_BYTES + 1),
                                 filename=file.filename or "devices.xlsx")
    return ImportOut(total=res.total, created=res.created, refused=res.refused)


@router.get("/devices/{device_id}", response_model=DeviceOut, summary="设备详情")
def get_device(device_id: uuid.UUID, session: Db, principal: CurrentUser) -> DeviceOut:
    d = devices.get_device(session, principal=principal, device_id=device_id)
    return DeviceOut(**views.device_views(session, [d])[0])


@router.patch("/devices/{device_id}", response_model=DeviceOut, summary="修改设备（位置、房间、心跳、启用/停用）")
def update_device(device_id: uuid.UUID, body: DevicePatch, session: Db, principal: CurrentUser) -> DeviceOut:
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    d = devices.update_device(session, principal=principal, device_id=device_id, changes=changes,
                              expected_version=body.expected_version)
    return DeviceOut(**views.device_views(session, [d])[0])


@router.get("/devices/{device_id}/messages", response_model=list[MessageOut], summary="设备最近的消息")
def device_messages(device_id: uuid.UUID, session: Db, principal: CurrentUser,
                    limit: int = Query(100, ge=1, le=500)) -> list[MessageOut]:
    rows = devices.recent_messages(session, principal=principal, device_id=device_id, limit=limit)
    return [MessageOut(**v) for v in views.message_views(rows)]


@router.get("/messages/rejected", response_model=list[MessageOut], summary="被拒收的消息及原因")
def rejected(session: Db, principal: CurrentUser, limit: int = Query(200, ge=1, le=1000)) -> list[MessageOut]:
    return [MessageOut(**v) for v in views.message_views(devices.rejected_messages(session, principal=principal,
                                                                                   limit=limit))]


# -- rules -----------------------------------------------------------------------------------------------------

@router.get("/rules", response_model=list[RuleOut], summary="告警规则")
def list_rules(session: Db, principal: CurrentUser,
               type_code: str | None = Query(None, max_length=32)) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in rules.list_rules(session, principal=principal, type_code=type_code)]


@router.post("/rules", response_model=RuleOut, status_code=201, summary="新增告警规则")
def create_rule(body: RuleIn, session: Db, principal: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(rules.create_rule(session, principal=principal, spec=body.model_dump()))


@router.post("/rules/test", response_model=RuleTestOut, summary="用样例载荷试运行规则（不保存）")
def test_rule(body: RuleTestIn, session: Db, principal: CurrentUser) -> RuleTestOut:
    return RuleTestOut(**rules.test_rule(session, principal=principal, spec=body.rule.model_dump(),
                                         payload=body.payload, context=body.context))


@router.get("/rules/{rule_id}", response_model=RuleOut, summary="告警规则详情")
def get_rule(rule_id: uuid.UUID, session: Db, principal: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(rules.get_rule(session, principal=principal, rule_id=rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut, summary="修改告警规则")
def update_rule(rule_id: uuid.UUID, body: RulePatch, session: Db, principal: CurrentUser) -> RuleOut:
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    return RuleOut.model_validate(rules.update_rule(session, principal=principal, rule_id=rule_id, changes=changes,
                                                    expected_version=body.expected_version))


@router.delete("/rules/{rule_id}", status_code=204, summary="删除告警规则（已有告警保留）")
def delete_rule(rule_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    rules.delete_rule(session, principal=principal, rule_id=rule_id)
    return Response(status_code=204)


# -- alerts ----------------------------------------------------------------------------------------------------

@router.get("/alerts", response_model=list[AlertOut], summary="告警（本辖区）")
def list_alerts(session: Db, principal: CurrentUser,
                state: str | None = Query("open", pattern="^(open|closed|all)$"),
                device_id: uuid.UUID | None = None, kind: str | None = Query(None, max_length=32),
                limit: int = Query(200, ge=1, le=1000)) -> list[AlertOut]:
    rows = alerts.list_alerts(session, principal=principal, state=None if state == "all" else state,
                              device_id=device_id, kind=kind, limit=limit)
    return [AlertOut(**v) for v in views.alert_views(rows)]


@router.get("/alerts/{alert_id}", response_model=AlertOut, summary="告警详情")
def get_alert(alert_id: uuid.UUID, session: Db, principal: CurrentUser) -> AlertOut:
    return AlertOut(**views.alert_views([alerts.get_alert(session, principal=principal, alert_id=alert_id)])[0])


@router.post("/alerts/{alert_id}/close", response_model=AlertOut, summary="关闭告警（须说明原因）")
def close_alert(alert_id: uuid.UUID, body: CloseIn, session: Db, principal: CurrentUser) -> AlertOut:
    a = alerts.close_alert(session, principal=principal, alert_id=alert_id, reason=body.reason)
    return AlertOut(**views.alert_views([a])[0])
