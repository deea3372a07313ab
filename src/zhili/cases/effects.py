"""The workflow's effects: what each step changes, returned as a :class:`~zhili.cases.changes.ChangeSet`.

Effects never write. The engine applies what they return — to a loaded case on the request path, to planned rows in
intake — so automatic dispatch at intake and a dispatcher's dispatch are the same code by construction. Effects that
name other rows (supervision orders, a merge's master) read through ``ctx.session`` and put their writes in
``ChangeSet.other_rows``; only steps on a loaded case have those.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from zhili.cases import deadlines
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.changes import REPORTER, ChangeSet, Ctx, Notice, StatDelta, UnitRef
from zhili.cases.guards import supervision_addressees, unanswered_orders
from zhili.cases.models import OPEN_STATES, Case, CaseEvent, CaseState, SubTask, Supervision
from zhili.cases.scope import can_see, geo_cell
from zhili.core.clock import fmt_local
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, in_scope
from zhili.regions.models import Unit, UnitLevel

# Departments of these kinds are placeholders (TAXONOMY.md): a case "for the community" goes to the community whose
# area holds it, and is held by that unit's staff.
PLACEHOLDER_LEVELS = {"community": UnitLevel.community, "street": UnitLevel.street}
_LEVEL_NAMES = {UnitLevel.community: "社区（村）", UnitLevel.street: "街道（乡镇）"}
REPLY_MAX = 2000  # characters of a supervision reply (督办反馈)


# -- helpers -----------------------------------------------------------------------------------------------------

def stat(case: Any, category_code: str | None = None, path: str | None = None, **deltas: int) -> StatDelta:
    """Deltas for the case's statistics row (or the row of another category or path)."""
    return row_delta(case, deltas, category_code=category_code, path=path)


def row_delta(case: Any, deltas: dict[str, int], *, category_code: str | None = None, path: str | None = None
              ) -> StatDelta:
    return StatDelta(path=path or case.path, day=case.reported_day,
                     category_code=(category_code if category_code is not None else case.category_code) or "",
                     deltas=deltas)


def contributions(case: Any) -> dict[str, int]:
    """What the case adds to its statistics row now — the same figures ``rebuild_stats`` counts."""
    closed = case.state == CaseState.closed
    return {"reported": 1, "accepted": int(case.accepted_at is not None), "closed": int(closed),
            "closed_on_time": int(closed and case.closed_on_time is True), "overdue": int(bool(case.overdue)),
            "rating_sum": case.rating or 0, "rating_count": int(case.rating is not None)}


def clear_lights(case: Any, cs: ChangeSet) -> ChangeSet:
    """Warning light off and not overdue; the overdue statistic follows the flag."""
    if case.overdue:
        cs.stats.append(stat(case, overdue=-1))
    return cs.set(warning_level="none", overdue=False)


def assignee_code(ctx: Ctx, case: Any) -> str | None:
    """The queue the case is with: its department, else its unit's code."""
    if case.assignee_department:
        return str(case.assignee_department)
    if case.assignee_unit_id is None:
        return None
    u = ctx.look.unit(case.assignee_unit_id)
    return u.code if u else None


def assignee_name(ctx: Ctx, case: Any) -> str | None:
    """The name of the department or unit the case is with (for messages people read; never its code)."""
    if case.assignee_department:
        from zhili.org.service import department_names

        return department_names(ctx.session).get(case.assignee_department) or None
    named = ctx.session.get(Unit, case.assignee_unit_id) if case.assignee_unit_id else None
    return named.name if named else None


def _tell(cs: ChangeSet, to: str | None, title: str, body: str) -> None:
    if to:
        cs.notices.append(Notice(to, title, body))


# -- intake staff ------------------------------------------------------------------------------------------------

def accept(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    cs = ChangeSet(values={"accepted_at": ctx.now})
    code = case.category_code
    if payload.get("category_code") and payload["category_code"] != case.category_code:
        cat = ctx.look.reportable_category(payload["category_code"])
        cs.stats.append(stat(case, reported=-1))  # the report moves to the new category's row
        cs.stats.append(stat(case, category_code=cat.code, reported=1))
        cs.set(category_id=cat.id, category_code=cat.code)
        code = cat.code
    cs.stats.append(stat(case, category_code=code, accepted=1))
    cs.notices.append(Notice(REPORTER, "您反映的问题已受理", f"事件 {case.number} 已受理。"))
    return cs


def reject(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    cs = ChangeSet(values={"reject_reason": payload["reason"], "closed_at": ctx.now})
    cs.notices.append(Notice(REPORTER, "您反映的问题不予受理", f"事件 {case.number} 不予受理：{payload['reason']}"))
    return cs


def merge(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    try:
        master = ctx.session.get(Case, uuid.UUID(str(payload["master_id"])))
    except ValueError:
        master = None
    if master is None or not can_see(ctx.session, p, master):
        raise ValidationFailed("主事件不存在或无权查看", code="master_not_found")
    if master.id == case.id or master.master_case_id is not None or master.state not in OPEN_STATES:
        raise ValidationFailed("主事件必须是另一件未办结且未被合并的事件", code="bad_master")

    def bump(session: Any, master: Case = master) -> None:
        master.merged_count += 1

    cs = ChangeSet(values={"master_case_id": master.id, "closed_at": ctx.now}, extra={"master": master.number},
                   other_rows=[bump])
    cs.notices.append(Notice(REPORTER, "您反映的问题已合并办理", f"事件 {case.number} 与 {master.number} 为同一问题，"
                             "将随主事件一并办理，您会收到主事件的进展。"))
    return cs


def _resolve_unit(ctx: Ctx, case: Any, p: Principal, unit_id: Any) -> UnitRef:
    try:
        unit = ctx.look.unit(uuid.UUID(str(unit_id)))
    except ValueError:
        unit = None
    if unit is None or unit.level not in (UnitLevel.community, UnitLevel.street, UnitLevel.grid):
        raise ValidationFailed("处置单位须为社区、街道或网格", code="bad_dispatch_unit")
    if p is not SYSTEM_PRINCIPAL and not in_scope(p, unit.path):
        raise ValidationFailed("处置单位不在您的管辖范围内", code="unit_outside_jurisdiction")
    return unit


def dispatch(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """Send the case to one department or one unit (community, street, grid), with co-handling departments.

    A department that is a placeholder for "the community / street whose area holds the case" (kind ``community`` /
    ``street``, TAXONOMY.md) is resolved to that unit, so the case is held by people who exist."""
    dept, unit_id = payload.get("department"), payload.get("unit_id")
    if bool(dept) == bool(unit_id):
        raise ValidationFailed("派遣须且只能指定一个处置部门或处置单位", code="dispatch_target_required")
    if case.grid_id is None and case.path.count("/") < 3 and not payload.get("grid_id") and dept is None:
        raise ValidationFailed("事件尚未定位到网格，请先补充位置", code="case_unlocated")
    unit: UnitRef | None = None
    extra: dict[str, Any] = {}
    if dept:
        level = PLACEHOLDER_LEVELS.get(ctx.look.department_kind(dept))
        if level is not None:
            unit = ctx.look.ancestor(case.path, level)
            if unit is None:
                raise ValidationFailed(f"事件尚未定位到{_LEVEL_NAMES[level]}，请先在地图上定位后再派遣",
                                       code="case_unlocated")
            extra["placeholder"] = dept
            dept = None
    else:
        unit = _resolve_unit(ctx, case, p, unit_id)
    co = [d for d in payload.get("co_departments") or [] if d != dept]
    for c in co:
        ctx.look.department_kind(c)
    hours = deadlines.handle_hours(ctx.look.category(case.category_id), payload.get("handle_hours"))
    due, warn = deadlines.handle_window(ctx.cal, ctx.look.category(case.category_id), ctx.now, hours)
    values: dict[str, Any] = {"assignee_department": dept, "assignee_unit_id": None, "assignee_path": None,
                              "dispatched_at": ctx.now, "dispatch_rule_id": payload.get("rule_id"),
                              "is_joint": bool(co), "handle_due_at": due, "handle_warn_at": warn}
    if dept:
        extra["department"] = target = dept
    else:
        assert unit is not None
        values.update(assignee_unit_id=unit.id, assignee_path=unit.path,
                      escalation_level="street" if unit.level == UnitLevel.street else "community")
        extra["unit"] = target = unit.code
    if co:
        extra["co_departments"] = co
    extra["due"] = due
    cs = clear_lights(case, ChangeSet(values=values, extra=extra))
    cs.subtasks = ([(dept, "lead")] if co and dept else []) + [(d, "co") for d in co]
    _tell(cs, target, "新派遣事件", f"事件 {case.number}（{case.title}）已派遣给您，请在 {fmt_local(due)} 前处置。")
    for d in co:
        _tell(cs, d, "新协办事件", f"事件 {case.number} 需要您协同处置。")
    cs.notices.append(Notice(REPORTER, "您反映的问题已派遣处置", f"事件 {case.number} 已交由相关部门处置。"))
    return cs


def locate(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """Place a case on the map (定位): a point, a building of the register, or a grid. The case's path moves to the
    grid, and its statistics move with it."""
    from zhili.regions.service import get_locator

    lon, lat, address = payload.get("lon"), payload.get("lat"), case.address
    grid: UnitRef | None = None
    if lon is not None and lat is not None:
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("经纬度格式不正确", code="bad_coordinates") from exc
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationFailed("经纬度超出范围", code="bad_coordinates")
        if payload.get("crs") == "gcj02":
            from zhili.regions.geo import gcj02_to_wgs84

            lon, lat = gcj02_to_wgs84(lon, lat)
        gid = get_locator(ctx.session).locate(lon, lat)
        grid = ctx.look.unit(gid) if gid else None
        if grid is None:
            raise ValidationFailed("该位置不在本区县的网格范围内", code="point_outside_grids")
    elif payload.get("building_id"):
        from zhili.registry.models import Building

        try:
            b = ctx.session.get(Building, uuid.UUID(str(payload["building_id"])))
        except ValueError:
            b = None
        if b is None:
            raise ValidationFailed("楼栋不存在", code="building_not_found")
        lon, lat, address = b.lon, b.lat, address or b.address
        grid = ctx.look.unit(b.grid_id)
    elif payload.get("grid_id"):
        try:
            grid = ctx.look.unit(uuid.UUID(str(payload["grid_id"])))
        except ValueError:
            grid = None
        if grid is None or grid.level != UnitLevel.grid:
            raise ValidationFailed("所选网格不存在", code="grid_not_found")
        lon = lat = None
    else:
        raise ValidationFailed("请在地图上选点，或选择楼栋或网格", code="location_required")
    if grid is None:
        raise ValidationFailed("该楼栋未划入网格", code="grid_not_found")
    if p is not SYSTEM_PRINCIPAL and not in_scope(p, grid.path):
        raise ValidationFailed("该位置不在您的管辖范围内", code="location_outside_jurisdiction")
    cs = ChangeSet(values={"lon": lon, "lat": lat, "geo_cell": geo_cell(lon, lat), "grid_id": grid.id,
                           "path": grid.path, "address": address}, extra={"grid": grid.code, "path": grid.path})
    if grid.path != case.path:
        now_counts = contributions(case)
        cs.stats.append(row_delta(case, {k: -v for k, v in now_counts.items()}))
        cs.stats.append(row_delta(case, now_counts, path=grid.path))
    return cs


# -- handling ----------------------------------------------------------------------------------------------------

def _number(value: Any, cast: type[int] | type[float], ok: Any, message: str, code: str) -> Any:
    """A payload number, or the step's refusal when it is not one or ``ok(number)`` does not hold."""
    try:
        number = cast(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(message, code=code) from exc
    if not ok(number):
        raise ValidationFailed(message, code=code)
    return number


def request_extension(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    hours = _number(payload["hours"], float, lambda h: 0 < h <= 400, "延期时长应在0到400个工作小时之间",
                    "bad_extension")
    return ChangeSet(extra={"hours": hours})


def approve_extension(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    req = ctx.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.action == "request_extension")
                             .order_by(CaseEvent.seq.desc()).limit(1))
    hours = float(payload.get("hours") or (req.payload.get("hours") if req else 0) or 0)
    due, warn = deadlines.handle_window(ctx.cal, ctx.look.category(case.category_id),
                                        case.handle_due_at or ctx.now, hours)
    cs = ChangeSet(values={"handle_due_at": due, "handle_warn_at": warn}, extra={"hours": hours, "due": due})
    if due and due > ctx.now:
        clear_lights(case, cs)
    _tell(cs, assignee_code(ctx, case), "延期申请已同意", f"事件 {case.number} 新的处置期限：{fmt_local(due)}")
    return cs


def return_case(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    prev = assignee_code(ctx, case)
    cs = clear_lights(case, ChangeSet(values={
        "assignee_department": None, "assignee_unit_id": None, "assignee_path": None, "handle_due_at": None,
        "handle_warn_at": None, "is_joint": False}, extra={"from": prev}, subtasks=[]))
    by = assignee_name(ctx, case) or "处置单位"
    _tell(cs, "command_centre", "事件被退回", f"事件 {case.number} 被{by}退回：{payload['reason']}，请重新派遣。")
    return cs


def escalate(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    current = ctx.look.unit(case.assignee_unit_id) if case.assignee_unit_id else None
    if current is not None and current.level in (UnitLevel.community, UnitLevel.grid):
        street = ctx.look.ancestor(current.path, UnitLevel.street)
        if street is not None:
            named = ctx.session.get(Unit, current.id)
            cs = ChangeSet(values={"assignee_unit_id": street.id, "assignee_path": street.path,
                                   "assignee_department": None, "escalation_level": "street"},
                           extra={"level": "street", "unit": street.code})
            _tell(cs, street.code, "下级上报事件（吹哨）",
                  f"事件 {case.number} 由 {named.name if named else current.code} 上报：{payload['reason']}")
            return cs
    cs = ChangeSet(values={"escalation_level": "district", "assignee_unit_id": None, "assignee_path": None,
                           "assignee_department": None}, extra={"level": "district"})
    _tell(cs, "command_centre", "事件上报至区级", f"事件 {case.number} 上报区指挥中心：{payload['reason']}")
    return cs


def complete_subtask(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    st = ctx.session.scalar(select(SubTask).where(SubTask.case_id == case.id, SubTask.department == p.department))
    assert st is not None  # the co_handler guard found it

    def done(session: Any, st: SubTask = st) -> None:
        st.status, st.result, st.done_at = "done", payload["result"], ctx.now

    return ChangeSet(extra={"department": p.department}, other_rows=[done])


def resolve(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    cs = ChangeSet(values={
        "resolution": payload["result"], "resolved_at": ctx.now,
        "closed_on_time": case.handle_due_at is None or ctx.now <= case.handle_due_at,
        "verify_due_at": deadlines.verify_due(ctx.cal, ctx.look.category(case.category_id), ctx.now)})
    cs.notices.append(Notice(REPORTER, "您反映的问题已处置完成", f"事件 {case.number} 处置结果：{payload['result']}"))
    return cs


def verify(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    return ChangeSet(values={"verified_at": ctx.now})


def send_back(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    cs = ChangeSet(values={"resolved_at": None, "verify_due_at": None})
    _tell(cs, assignee_code(ctx, case), "核查不通过", f"事件 {case.number} 核查不通过：{payload['reason']}")
    return cs


def rate(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    rating = _number(payload["rating"], int, lambda r: 1 <= r <= 5, "评分应为1到5的整数", "bad_rating")
    return ChangeSet(values={"rating": rating, "rating_comment": payload.get("comment")}, extra={"rating": rating},
                     stats=[stat(case, rating_sum=rating, rating_count=1)])


def close(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    on_time = bool(case.closed_on_time)
    cs = ChangeSet(values={"closed_at": ctx.now}, stats=[stat(case, closed=1, closed_on_time=int(on_time))])
    cs.notices.append(Notice(REPORTER, "您反映的问题已办结", f"事件 {case.number} 已办结，感谢您的参与。"))
    return cs


def reopen(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    was_on_time = bool(case.closed_on_time)
    cs = ChangeSet(stats=[stat(case, closed=-1, closed_on_time=-1 if was_on_time else 0)])
    if case.rating is not None:  # the rating is withdrawn, and with it its share of the statistics
        cs.stats.append(stat(case, rating_sum=-case.rating, rating_count=-1))
    cs.set(reopen_count=case.reopen_count + 1, closed_at=None, resolved_at=None, verified_at=None,
           assignee_department=None, assignee_unit_id=None, assignee_path=None, handle_due_at=None,
           handle_warn_at=None, verify_due_at=None, rating=None, closed_on_time=None)
    cs.extra["reopen_count"] = case.reopen_count + 1
    return clear_lights(case, cs)


# -- supervision -------------------------------------------------------------------------------------------------

def supervise(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    target = assignee_code(ctx, case) or "command_centre"
    n = ctx.session.scalar(select(func.count()).select_from(Supervision).where(Supervision.case_id == case.id,
                                                                               Supervision.kind == "manual")) or 0

    def order(session: Any) -> None:
        session.add(Supervision(case_id=case.id, kind="manual", round=n + 1, target=target,
                                message=payload["message"], issued_at=ctx.now, issued_by=p.username))

    cs = ChangeSet(extra={"target": target}, other_rows=[order])
    _tell(cs, target, "督办通知", f"事件 {case.number}：{payload['message']}")
    return cs


def answer_supervision(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    if len(payload["reply"]) > REPLY_MAX:  # the API's schema says so too; a page form must hear it as well
        raise ValidationFailed(f"反馈意见不能超过{REPLY_MAX}字", code="reply_too_long")
    orders = unanswered_orders(ctx, case, p)

    def stamp(session: Any) -> None:
        for s in orders:
            s.acknowledged_at, s.acknowledged_by, s.reply = ctx.now, p.username, payload["reply"]

    cs = ChangeSet(extra={"answered": [{"kind": s.kind, "round": s.round, "target": s.target} for s in orders]},
                   other_rows=[stamp])
    # The command centre follows every order; a superior copied on one hears the answer too.
    told = {"command_centre"} | {s.superior for s in orders if s.superior}
    for target in sorted(told - supervision_addressees(p)):
        _tell(cs, target, "督办反馈", f"事件 {case.number}：{payload['reply']}")
    return cs
