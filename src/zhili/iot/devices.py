"""The device registry (设备台账): register, change, disable, list and import devices; a device's recent messages.

A device belongs to a unit (its jurisdiction, usually a grid): given directly, or found from its building, or from
its coordinates by the grid locator. Reading needs ``iot:read`` within one's jurisdiction (a device outside it is
"not found"); registering, changing and importing need ``iot:admin`` and the device's unit inside one's
jurisdiction. The Excel import (:func:`import_devices`) streams the workbook (openpyxl read-only), registers the
good rows and returns every refused row with its reason — nothing is half-imported silently.

Lists page and count in SQL (a district has tens of thousands of smoke detectors): :func:`page_devices` returns one
page and the exact total, every filter in the query — type, stored status, the status as the pages show it
(:data:`SHOWN`: 告警 is a device, not disabled, with an open alert), unit subtree, text, placed on the map or not;
:func:`device_figures` counts devices per type, per status and per shown status in grouped queries.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.clock import today
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, path_predicate, scoped
from zhili.core.query import contains_text, paginate
from zhili.core.security import Perm
from zhili.iot.models import Alert, AlertState, Device, DeviceStatus, DeviceType, Message
from zhili.regions.models import Unit
from zhili.regions.service import get_locator, valid_on
from zhili.registry.models import Building

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # no MQTT wildcards or separators (+ # /)
STATUS_NAMES = {DeviceStatus.active: "在线", DeviceStatus.offline: "离线", DeviceStatus.disabled: "停用"}
FIELDS = ("name", "type_code", "unit_id", "unit_code", "building_id", "room_id", "lon", "lat", "address", "owner",
          "heartbeat_s", "installed_at", "note")
LIST_MAX = 2000
IMPORT_MAX_ROWS = 50_000
IMPORT_MAX_BYTES = 20 * 1024 * 1024
# the import's header row: Chinese column names (or the field names) → field
IMPORT_COLUMNS = {"设备编号": "device_key", "设备类型": "type_code", "设备名称": "name", "所属网格": "unit_code",
                  "所属单位代码": "unit_code", "经度": "lon", "纬度": "lat", "地址": "address", "产权单位": "owner",
                  "运维单位": "owner", "心跳间隔": "heartbeat_s", "心跳间隔（秒）": "heartbeat_s", "备注": "note"}

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


SHOWN = ("active", "offline", "alarm", "disabled")  # a device as the pages show it: 停用 over 告警 over 离线/在线
SORTABLE = {"device_key": Device.device_key, "name": Device.name, "last_seen_at": Device.last_seen_at,
            "installed_at": Device.installed_at}


def _has_open_alert() -> ColumnElement[bool]:
    return select(Alert.id).where(Alert.device_id == Device.id, Alert.state == AlertState.open).exists()


def _shown(shown: str) -> ColumnElement[bool]:
    """The devices whose shown status is ``shown`` (see :data:`SHOWN`)."""
    if shown == "disabled":
        return Device.status == DeviceStatus.disabled
    if shown == "alarm":
        return and_(Device.status != DeviceStatus.disabled, _has_open_alert())
    if shown in ("active", "offline"):
        return and_(Device.status == DeviceStatus(shown), ~_has_open_alert())
    raise ValidationFailed("设备状态只能是在线、离线、告警或停用", code="bad_status")


def _filtered(stmt: _S, principal: Principal, *, type_code: str | None = None, status: str | None = None,
              shown: str | None = None, unit_path: str | None = None, q: str | None = None,
              placed: bool | None = None) -> _S:
    """``stmt`` over devices restricted to the jurisdiction and the filters (all in SQL)."""
    stmt = scoped(stmt, principal, Device.path)
    if type_code:
        stmt = stmt.where(Device.type_id.in_(select(DeviceType.id).where(DeviceType.code == type_code)))
    if status:
        try:
            stmt = stmt.where(Device.status == DeviceStatus(status))
        except ValueError as exc:
            raise ValidationFailed("设备状态只能是在线、离线或停用", code="bad_status") from exc
    if shown:
        stmt = stmt.where(_shown(shown))
    if unit_path:
        stmt = stmt.where(path_predicate(Device.path, (unit_path,)))
    if q and q.strip():
        text = q.strip()[:64]
        stmt = stmt.where(contains_text(Device.name, text) | contains_text(Device.device_key, text))
    if placed is not None:
        where = and_(Device.lon.is_not(None), Device.lat.is_not(None))
        stmt = stmt.where(where if placed else ~where)
    return stmt


def list_devices(session: Session, *, principal: Principal, type_code: str | None = None,
                 status: str | None = None, unit_path: str | None = None, q: str | None = None,
                 limit: int = 500) -> list[Device]:
    """The devices in the principal's jurisdiction (of a type, status, under a unit, name/id containing ``q``),
    the first ``limit`` (at most :data:`LIST_MAX`) by device id — for a bounded export; pages use
    :func:`page_devices`."""
    authorize(principal, Perm.iot_read)
    stmt = _filtered(select(Device), principal, type_code=type_code, status=status, unit_path=unit_path, q=q)
    return list(session.scalars(stmt.order_by(Device.device_key).limit(min(max(limit, 1), LIST_MAX))))


def page_devices(session: Session, *, principal: Principal, type_code: str | None = None,
                 status: str | None = None, shown: str | None = None, unit_path: str | None = None,
                 q: str | None = None, placed: bool | None = None, page: int = 1, page_size: int = 50,
                 sort: str | None = None) -> tuple[list[Device], int]:
    """One page of the jurisdiction's devices and the exact total: of a type (code), a stored ``status``, a
    ``shown`` status (:data:`SHOWN`), under the unit at ``unit_path`` (within the jurisdiction still), name or
    device id containing ``q``, with coordinates or without (``placed``); by device id unless ``sort`` (a key of
    :data:`SORTABLE`, ``-`` for descending). Pages hold at most :data:`LIST_MAX` rows."""
    authorize(principal, Perm.iot_read)
    stmt = _filtered(select(Device), principal, type_code=type_code, status=status, shown=shown,
                     unit_path=unit_path, q=q, placed=placed)
    return paginate(session, stmt, page=page, page_size=min(page_size, LIST_MAX), sort=sort, sortable=SORTABLE,
                    default_sort=[Device.device_key, Device.id])


def count_devices(session: Session, *, principal: Principal, type_code: str | None = None,
                  status: str | None = None, shown: str | None = None, unit_path: str | None = None,
                  q: str | None = None, placed: bool | None = None) -> int:
    """How many devices :func:`page_devices` would list with these filters."""
    authorize(principal, Perm.iot_read)
    stmt = _filtered(select(func.count()).select_from(Device), principal, type_code=type_code, status=status,
                     shown=shown, unit_path=unit_path, q=q, placed=placed)
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True)
class DeviceFigures:
    """Counts of a jurisdiction's (or a unit's) devices: in all, per type id, per stored status, per shown status
    (:data:`SHOWN`) and per type and stored status."""

    total: int
    by_type: dict[uuid.UUID, int]
    by_status: dict[str, int]
    by_shown: dict[str, int]
    by_type_status: dict[uuid.UUID, dict[str, int]]

    @property
    def offline(self) -> int:
        return self.by_status.get(DeviceStatus.offline.value, 0)


def device_figures(session: Session, *, principal: Principal, unit_path: str | None = None,
                   type_code: str | None = None) -> DeviceFigures:
    """The device counts of the jurisdiction (under ``unit_path``, of a type), in two grouped queries."""
    authorize(principal, Perm.iot_read)
    grouped = _filtered(select(Device.type_id, Device.status, func.count()), principal, unit_path=unit_path,
                        type_code=type_code).group_by(Device.type_id, Device.status)
    by_type: dict[uuid.UUID, int] = {}
    by_status: dict[str, int] = {}
    by_type_status: dict[uuid.UUID, dict[str, int]] = {}
    for type_id, status, n in session.execute(grouped):
        st = _status_value(status)
        by_type[type_id] = by_type.get(type_id, 0) + n
        by_status[st] = by_status.get(st, 0) + n
        by_type_status.setdefault(type_id, {})[st] = n
    alarmed = _filtered(select(Device.status, func.count()), principal, unit_path=unit_path, type_code=type_code,
                        shown="alarm").group_by(Device.status)
    alarm_by = {_status_value(s): n for s, n in session.execute(alarmed)}
    by_shown = {"active": by_status.get("active", 0) - alarm_by.get("active", 0),
                "offline": by_status.get("offline", 0) - alarm_by.get("offline", 0),
                "alarm": sum(alarm_by.values()), "disabled": by_status.get("disabled", 0)}
    return DeviceFigures(total=sum(by_status.values()), by_type=by_type, by_status=by_status, by_shown=by_shown,
                         by_type_status=by_type_status)


def _status_value(s: Any) -> str:
    return s.value if isinstance(s, DeviceStatus) else str(s)


def count_by_status(session: Session, *, principal: Principal) -> dict[str, int]:
    """How many devices of the jurisdiction are in each status."""
    authorize(principal, Perm.iot_read)
    stmt = scoped(select(Device.status, func.count()).group_by(Device.status), principal, Device.path)
    return {_status_value(s): n for s, n in session.execute(stmt)}


def get_devices(session: Session, *, principal: Principal, device_ids: Any) -> dict[uuid.UUID, Device]:
    """The devices of these ids that lie in the jurisdiction (others are left out), by id — to name a page's
    alerts' devices."""
    authorize(principal, Perm.iot_read)
    ids = list(dict.fromkeys(i for i in device_ids if i is not None))
    out: dict[uuid.UUID, Device] = {}
    for i in range(0, len(ids), 500):
        for d in session.scalars(scoped(select(Device).where(Device.id.in_(ids[i:i + 500])), principal,
                                        Device.path)):
            out[d.id] = d
    return out


def get_device(session: Session, *, principal: Principal, device_id: uuid.UUID) -> Device:
    authorize(principal, Perm.iot_read)
    d = session.get(Device, device_id)
    if d is None or not in_scope(principal, d.path):
        raise not_found("设备")
    return d


def recent_messages(session: Session, *, principal: Principal, device_id: uuid.UUID, limit: int = 100
                    ) -> list[Message]:
    """A device's latest messages (accepted and rejected), newest first."""
    d = get_device(session, principal=principal, device_id=device_id)
    return list(session.scalars(select(Message).where(Message.device_id == d.id)
                                .order_by(Message.received_at.desc()).limit(min(max(limit, 1), 500))))


def rejected_messages(session: Session, *, principal: Principal, limit: int = 200) -> list[Message]:
    """Rejected messages: of the jurisdiction's devices, and — for staff with the whole district (``iot:admin``) —
    those from unknown devices or malformed topics, which belong to no unit."""
    authorize(principal, Perm.iot_read)
    stmt = (select(Message).outerjoin(Device, Device.id == Message.device_id).where(Message.accepted.is_(False))
            .order_by(Message.received_at.desc()).limit(min(max(limit, 1), 1000)))
    mine = path_predicate(Device.path, principal.scope_paths)
    if principal.can(Perm.iot_admin):
        stmt = stmt.where(mine | Message.device_id.is_(None))
    else:
        stmt = stmt.where(mine)
    return list(session.scalars(stmt))


# -- writing ---------------------------------------------------------------------------------------------------

@dataclass
class _Placed:
    unit: Unit
    building_id: uuid.UUID | None
    lon: float | None
    lat: float | None
    address: str | None


def _place(session: Session, principal: Principal, data: dict[str, Any], *, locator: Any = None) -> _Placed:
    """The device's unit and position from what was given: unit (id or code), building, or coordinates."""
    lon, lat = data.get("lon"), data.get("lat")
    if (lon is None) != (lat is None):
        raise ValidationFailed("经度和纬度需同时填写", code="bad_coordinates")
    if lon is not None:
        try:
            lon, lat = float(lon), float(lat)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("经纬度应为数值", code="bad_coordinates") from exc
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationFailed("经纬度超出范围", code="bad_coordinates")
    address = (str(data["address"]).strip()[:255] or None) if data.get("address") else None
    building_id = data.get("building_id")
    if data.get("room_id") and not (building_id or data.get("unit_id") or data.get("unit_code")):
        from zhili.rental.models import Room

        room = session.get(Room, uuid.UUID(str(data["room_id"])))
        if room is None or not in_scope(principal, room.path):
            raise ValidationFailed("出租房间不存在或不在您的管辖范围内", code="room_not_found")
        building_id = room.building_id
    unit: Unit | None = None
    if building_id:
        b = session.get(Building, uuid.UUID(str(building_id)))
        if b is None or not in_scope(principal, b.path):
            raise ValidationFailed("楼栋不存在或不在您的管辖范围内", code="building_not_found")
        unit = session.get(Unit, b.grid_id)
        building_id = b.id
        if lon is None:
            lon, lat = b.lon, b.lat
        address = address or b.address
    if data.get("unit_id"):
        unit = session.get(Unit, uuid.UUID(str(data["unit_id"])))
        if unit is None:
            raise ValidationFailed("所属单位不存在", code="unit_not_found")
    elif data.get("unit_code"):
        unit = session.scalar(select(Unit).where(Unit.code == str(data["unit_code"]).strip(),
                                                 valid_on(Unit, today())))
        if unit is None:
            raise ValidationFailed(f"所属单位代码“{data['unit_code']}”不存在", code="unit_not_found")
    if unit is None and lon is not None and lat is not None:
        gid = (locator or get_locator(session)).locate(lon, lat)
        unit = session.get(Unit, gid) if gid else None
        if unit is None:
            raise ValidationFailed("该坐标不在本区县的网格范围内", code="point_outside_grids")
    if unit is None:
        raise ValidationFailed("请填写所属单位、楼栋或坐标", code="location_required")
    if not in_scope(principal, unit.path):
        raise ValidationFailed("所属单位不在您的管辖范围内", code="unit_outside_jurisdiction")
    return _Placed(unit=unit, building_id=building_id, lon=lon, lat=lat, address=address)


def _type(session: Session, code: Any) -> DeviceType:
    t = session.scalar(select(DeviceType).where(DeviceType.code == str(code or "").strip()))
    if t is None:
        raise ValidationFailed(f"设备类型“{code}”不存在", code="type_not_found")
    return t


def _heartbeat(v: Any) -> int | None:
    if v in (None, ""):
        return None
    try:
        hb = int(v)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("心跳间隔应为整数秒", code="bad_heartbeat") from exc
    if not 10 <= hb <= 7 * 86400:
        raise ValidationFailed("心跳间隔应为 10–604800 秒", code="bad_heartbeat")
    return hb


def _text(v: Any, n: int) -> str | None:
    s = str(v).strip() if v is not None else ""
    return s[:n] or None


def _room(session: Session, room_id: Any) -> uuid.UUID | None:
    if not room_id:
        return None
    from zhili.rental.models import Room

    rid = uuid.UUID(str(room_id))
    if session.get(Room, rid) is None:
        raise ValidationFailed("出租房间不存在", code="room_not_found")
    return rid


def create_device(session: Session, *, principal: Principal, device_key: str, data: dict[str, Any],
                  locator: Any = None, audit_it: bool = True) -> Device:
    """Register a device. ``device_key`` is its external id (the topic's ``{device_id}``: letters, digits and
    ``_ . : -``); ``data``: the fields of :data:`FIELDS` (``type_code`` and ``name`` required)."""
    authorize(principal, Perm.iot_admin)
    key = str(device_key or "").strip()
    if not KEY_RE.match(key):
        raise ValidationFailed("设备编号应为 1–64 位字母、数字或 _ . : -", code="bad_device_key")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"未知的设备字段：{'、'.join(sorted(unknown))}", code="bad_device")
    if session.scalar(select(Device.id).where(Device.device_key == key)) is not None:
        raise Conflict(f"设备编号“{key}”已登记", code="device_exists")
    t = _type(session, data.get("type_code"))
    name = _text(data.get("name"), 100)
    if not name:
        raise ValidationFailed("请填写设备名称", code="bad_device")
    placed = _place(session, principal, data, locator=locator)
    d = Device(device_key=key, type_id=t.id, name=name, unit_id=placed.unit.id, path=placed.unit.path,
               lon=placed.lon, lat=placed.lat, address=placed.address, building_id=placed.building_id,
               room_id=_room(session, data.get("room_id")), owner=_text(data.get("owner"), 100),
               heartbeat_s=_heartbeat(data.get("heartbeat_s")), installed_at=data.get("installed_at") or utcnow(),
               note=_text(data.get("note"), 2000), status=DeviceStatus.active)
    session.add(d)
    session.flush()
    if audit_it:
        audit.record(session, actor=principal.actor, action="iot.device_create", object_type="iot_device",
                     object_id=d.id, after={"device": key, "type": t.code, "unit": placed.unit.code})
    return d


def update_device(session: Session, *, principal: Principal, device_id: uuid.UUID, changes: dict[str, Any],
                  expected_version: int | None = None) -> Device:
    """Change a device's name, place, room, owner, heartbeat or note (the new place must be in jurisdiction)."""
    authorize(principal, Perm.iot_admin)
    d = get_device(session, principal=principal, device_id=device_id)
    if expected_version is not None and expected_version != d.version:
        raise Conflict("设备信息已被他人修改，请刷新后重试", code="version_conflict")
    unknown = set(changes) - set(FIELDS) - {"status"}
    if unknown or "type_code" in changes:
        raise ValidationFailed("设备类型不能修改；其余字段：" + "、".join(FIELDS[:1] + FIELDS[2:]), code="bad_device")
    before = {"name": d.name, "unit": d.path, "status": d.status.value}
    if "name" in changes:
        name = _text(changes["name"], 100)
        if not name:
            raise ValidationFailed("请填写设备名称", code="bad_device")
        d.name = name
    if {"unit_id", "unit_code", "building_id", "lon", "lat", "room_id"} & set(changes):
        placed = _place(session, principal, changes)
        d.unit_id, d.path, d.building_id = placed.unit.id, placed.unit.path, placed.building_id
        d.lon, d.lat = placed.lon, placed.lat
        d.address = placed.address or d.address
    elif "address" in changes:
        d.address = _text(changes["address"], 255)
    if "room_id" in changes:
        d.room_id = _room(session, changes["room_id"])
    if "owner" in changes:
        d.owner = _text(changes["owner"], 100)
    if "heartbeat_s" in changes:
        d.heartbeat_s = _heartbeat(changes["heartbeat_s"])
    if "note" in changes:
        d.note = _text(changes["note"], 2000)
    if "status" in changes:
        st = changes["status"]
        if st not in (DeviceStatus.active.value, DeviceStatus.disabled.value):
            raise ValidationFailed("只能启用或停用设备（离线由心跳判断）", code="bad_status")
        d.status = DeviceStatus(st)
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action="iot.device_update", object_type="iot_device",
                 object_id=d.id, before=before, after={"name": d.name, "unit": d.path, "status": d.status.value})
    return d


def set_device_status(session: Session, *, principal: Principal, device_id: uuid.UUID, enabled: bool) -> Device:
    """启用 / 停用: a disabled device's messages are still recorded, but raise nothing and it is never "offline"."""
    authorize(principal, Perm.iot_admin)
    return update_device(session, principal=principal, device_id=device_id,
                         changes={"status": "active" if enabled else "disabled"})


# -- Excel import ----------------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    """What an import did: rows registered, and every refused row with its number (as Excel shows it) and why."""

    created: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return v  # coordinates stay floats; codes written as numbers are handled by str() below
    return v


def import_devices(session: Session, *, principal: Principal, content: bytes, filename: str = "devices.xlsx"
                   ) -> ImportResult:
    """Register the devices of a workbook's first sheet. Header row (Chinese or field names): 设备编号, 设备类型
    (code or name), 设备名称, 所属网格 (unit code) or 经度/纬度, 地址, 产权单位, 心跳间隔, 备注. Good rows are
    registered; each refused row comes back with its reason (and nothing of it is written)."""
    authorize(principal, Perm.iot_admin)
    if len(content) > IMPORT_MAX_BYTES:
        raise ValidationFailed("文件过大（不超过 20 MB）", code="file_too_large")
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationFailed("无法读取该文件，请上传 .xlsx 格式的 Excel 文件", code="bad_file") from exc
    result = ImportResult()
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise ValidationFailed("文件是空的", code="empty_file")
        cols: dict[int, str] = {}
        for i, h in enumerate(header):
            name = str(h).strip() if h is not None else ""
            f = IMPORT_COLUMNS.get(name) or (name if name in (*FIELDS, "device_key") else None)
            if f:
                cols[i] = f
        missing = {"device_key", "type_code", "name"} - set(cols.values())
        if missing:
            raise ValidationFailed("表头缺少：" + "、".join({"device_key": "设备编号", "type_code": "设备类型",
                                                              "name": "设备名称"}[m] for m in sorted(missing)),
                                   code="bad_header")
        types = {t.code: t.code for t in session.scalars(select(DeviceType))}
        types.update({t.name: t.code for t in session.scalars(select(DeviceType))})
        locator = get_locator(session)
        seen: set[str] = set()
        for n, raw in enumerate(rows, start=2):
            if result.total >= IMPORT_MAX_ROWS:
                raise ValidationFailed(f"一次最多导入 {IMPORT_MAX_ROWS} 行", code="too_many_rows")
            vals = {f: _cell(raw[i]) for i, f in cols.items() if i < len(raw)}
            if all(v is None for v in vals.values()):
                continue
            result.total += 1
            key = str(vals.pop("device_key") or "")
            if isinstance(vals.get("unit_code"), int | float):
                vals["unit_code"] = str(int(vals["unit_code"]))
            tc = vals.get("type_code")
            vals["type_code"] = types.get(str(tc), tc)
            data = {k: v for k, v in vals.items() if v is not None}
            if key in seen:
                result.refused.append({"row": n, "device_key": key, "reason": "与本文件前面的行设备编号重复"})
                continue
            seen.add(key)
            try:
                with session.begin_nested():
                    create_device(session, principal=principal, device_key=key, data=data, locator=locator,
                                  audit_it=False)
            except (ValidationFailed, Conflict) as exc:
                result.refused.append({"row": n, "device_key": key[:64], "reason": exc.message})
                continue
            result.created += 1
    finally:
        wb.close()
    audit.record(session, actor=principal.actor, action="iot.device_import", object_type="iot_device",
                 after={"file": filename[:100], "created": result.created, "refused": len(result.refused)})
    session.flush()
    return result


def effective_heartbeat(device: Device, dtype_heartbeat: int) -> int:
    return device.heartbeat_s or dtype_heartbeat


def touch_seen(device: Device, at: dt.datetime) -> None:
    if device.last_seen_at is None or device.last_seen_at < at:
        device.last_seen_at = at
