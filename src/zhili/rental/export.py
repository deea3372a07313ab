"""Excel export of the rental register (出租房屋及租住人员台账): one sheet of rooms, one of stays, scoped to the
caller's jurisdiction (optionally one unit's subtree), personal data masked (ID number, phone), audited as
``rental.export`` with its filters and row counts. ``rental:export``; at most :data:`MAX_EXPORT_ROWS` stays."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import write_after_read
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, path_predicate, scoped
from zhili.core.security import Perm
from zhili.core.xlsx import row_values
from zhili.regions.service import get_unit
from zhili.rental import police
from zhili.rental.models import Room, Stay, StayState
from zhili.rental.rooms import STATUSES, occupancy, room_view
from zhili.rental.stays import STATES, stay_view

MAX_EXPORT_ROWS = 50_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROOM_HEADERS = ("地址", "房间", "楼栋", "房东", "房东电话", "核定人数", "在住人数", "是否超员", "面积（㎡）",
                "月租金（元）", "合同起始", "合同到期", "状态", "登记时间")
STAY_HEADERS = ("姓名", "身份证号", "手机号", "人员类型", "地址", "房间", "入住日期", "预计退租", "实际退租", "状态",
                "登记方式", "登记人", "公安推送")
_RESIDENT_TYPES = {"registered": "户籍", "floating": "流动", "foreign": "境外"}


def _text(value: Any) -> Any:
    """A cell: text that a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def export_register(session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None,
                    state: str | None = None) -> tuple[bytes, int]:
    """The workbook and its number of stay rows (see the module docstring). ``state``: only active or closed stays."""
    authorize(principal, Perm.rental_export)
    authorize(principal, Perm.rental_read)
    if state is not None and state not in STATES:
        raise ValidationFailed("状态只能是在住（active）或已退租（closed）", code="rental_invalid",
                               details={"fields": {"state": "未知的状态"}})
    rooms_q = scoped(select(Room), principal, Room.path)
    stays_q = scoped(select(Stay), principal, Stay.path)
    unit_code = None
    if unit_id is not None:
        unit = get_unit(session, principal=principal, unit_id=unit_id)
        unit_code = unit.code
        rooms_q = rooms_q.where(path_predicate(Room.path, (unit.path,)))
        stays_q = stays_q.where(path_predicate(Stay.path, (unit.path,)))
    if state:
        stays_q = stays_q.where(Stay.state == StayState(state))
    total = session.scalar(select(func.count()).select_from(stays_q.subquery())) or 0
    if total > MAX_EXPORT_ROWS:
        raise ValidationFailed(f"符合条件的租住记录共 {total} 条，超过单次导出上限 {MAX_EXPORT_ROWS} 条，"
                               "请按街道或社区分别导出",
                               code="export_too_large", details={"total": total, "limit": MAX_EXPORT_ROWS})
    rooms = list(session.scalars(rooms_q.order_by(Room.path, Room.created_at, Room.id)))
    occ = occupancy(session, [r.id for r in rooms])
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("出租房屋")
    ws.append(row_values(ROOM_HEADERS))
    for r in rooms:
        v = room_view(session, r, occupied=occ.get(r.id, 0))
        ws.append(row_values(_text(x) for x in (
            v["address"], v["label"], v["building_name"], v["landlord_name"], v["landlord_phone"], v["capacity"],
            v["occupied"], "是" if v["over_capacity"] else "否", v["area_m2"], v["rent_yuan"], v["contract_start"],
            v["contract_end"], STATUSES[v["status"]], v["created_at"])))
    ws2 = wb.create_sheet("租住人员")
    ws2.append(row_values(STAY_HEADERS))
    stays = list(session.scalars(stays_q.order_by(Stay.path, Stay.move_in, Stay.id)))
    for st in stays:
        v = stay_view(session, st)
        ws2.append(row_values(_text(x) for x in (
            v["name"], v["id_number"], v["phone"], _RESIDENT_TYPES.get(v["resident_type"] or "", ""), v["address"],
            v["room_label"], v["move_in"], v["expected_move_out"], v["moved_out"], v["state_name"],
            v["registered_via_name"], v["registered_by"], police.STATES.get(v["police_state"] or "", "未推送"))))
    buf = io.BytesIO()
    wb.save(buf)
    after = {"filters": {"unit": unit_code, "state": state}, "rooms": len(rooms), "rows": len(stays)}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="rental.export",
                                                     object_type="rental_stay", after=after))
    return buf.getvalue(), len(stays)
