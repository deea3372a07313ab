"""The workflow's guards: each answers "may this principal take this row now?" with None, or the reason it may not.

A guard reads the case (a loaded ORM case or a draft of planned values, :class:`zhili.cases.engine.Draft`), the
principal and the payload; the rows of :data:`zhili.cases.workflow.TRANSITIONS` name them directly.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.models import Channel, SubTask, Supervision
from zhili.cases.scope import can_see
from zhili.core.jurisdiction import Principal, in_scope
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.users.models import User

if TYPE_CHECKING:
    from zhili.cases.engine import Ctx

OUT_OF_SCOPE = "该事件不在您的管辖范围内"


def _assignee_ok(case: Any, p: Principal) -> bool:
    if p.role == Role.department_handler:
        return bool(p.department) and case.assignee_department == p.department
    return case.assignee_path is not None and in_scope(p, case.assignee_path)


def in_scope_(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The case is in the principal's jurisdiction (the system actor acts everywhere)."""
    if p is SYSTEM_PRINCIPAL or can_see(ctx.session, p, case):
        return None
    return OUT_OF_SCOPE


def escalation_owner(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """An escalated case is dispatched by the street that received it, or by the command centre."""
    if p is SYSTEM_PRINCIPAL:
        return None
    if p.role == Role.command_centre:
        return None if can_see(ctx.session, p, case) else OUT_OF_SCOPE
    if case.escalation_level == "street" and case.assignee_path and in_scope(p, case.assignee_path):
        return None
    return "该事件已上报至上级，只能由接收的街道或指挥中心派遣"


def assignee(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The case is assigned to the principal's department, or to a unit in the principal's jurisdiction."""
    return None if _assignee_ok(case, p) else "该事件未派给您或您的单位"


def can_escalate(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The assignee, below district level."""
    if not _assignee_ok(case, p):
        return "该事件未派给您或您的单位"
    if case.escalation_level == "district":
        return "事件已在区级处置，不能继续上报"
    return None


def co_handler(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The principal's department co-handles the case and has not finished its part."""
    st = ctx.session.scalar(select(SubTask).where(SubTask.case_id == case.id, SubTask.department == p.department,
                                                  SubTask.role == "co"))
    if st is None:
        return "您的部门不是该事件的协办单位"
    if st.status == "done":
        return "协办任务已完成"
    return None


def assignee_all_subtasks_done(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The assignee, once every co-handling department has finished."""
    err = assignee(ctx, case, p, payload)
    if err:
        return err
    open_co = ctx.session.scalars(select(SubTask.department).where(
        SubTask.case_id == case.id, SubTask.role == "co", SubTask.status != "done")).all()
    if open_co:
        return f"协办单位尚未完成：{'、'.join(open_co)}"
    return None


def verifier(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The reporter (a resident) or staff whose jurisdiction holds the case's location."""
    if p.role == Role.resident:
        return None if case.reporter_user_id == p.user_id else "只有上报人本人可以核查"
    return None if in_scope(p, case.path) else "该事件不在您的核查范围内"


def reporter(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The reporter in person."""
    return None if case.reporter_user_id == p.user_id else "只有上报人本人可以评价"


def follow_up(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The command centre rates on the reporter's behalf only where no resident account reported (hotline …)."""
    if not can_see(ctx.session, p, case):
        return OUT_OF_SCOPE
    who = ctx.session.get(User, case.reporter_user_id) if case.reporter_user_id else None
    if case.channel == Channel.hotline or who is None or who.role != Role.resident:
        return None
    return "该事件由居民本人评价，指挥中心回访仅适用于热线及无账号的上报"


def reopen_window(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The reporter or staff in scope, within the reopen window after closing."""
    if p.role == Role.resident and case.reporter_user_id != p.user_id:
        return "只有上报人本人可以申请重开"
    if p.role != Role.resident and not can_see(ctx.session, p, case):
        return OUT_OF_SCOPE
    window = dt.timedelta(days=get_settings().reopen_window_days)
    if case.closed_at is None or ctx.now - case.closed_at > window:
        return f"已超过结案后{get_settings().reopen_window_days}天的重开期限"
    return None


def supervision_addressees(principal: Principal) -> set[str]:
    """The targets an order addressed to this principal carries: its department, its units' codes, and for the
    command centre its own queue."""
    out = {p.rsplit("/", 1)[-1] for p in principal.scope_paths}
    if principal.department:
        out.add(principal.department)
    if principal.role == Role.command_centre:
        out.add("command_centre")
    return out


def unanswered_orders(ctx: Ctx, case: Any, p: Principal) -> list[Supervision]:
    """The case's orders addressed to the principal (their target, not a copy to the superior) still unanswered."""
    return list(ctx.session.scalars(select(Supervision).where(
        Supervision.case_id == case.id, Supervision.acknowledged_at.is_(None),
        Supervision.target.in_(supervision_addressees(p))).order_by(Supervision.issued_at, Supervision.id)))


def supervision_addressee(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """An unanswered order on the case is addressed to the principal."""
    if not can_see(ctx.session, p, case):
        return OUT_OF_SCOPE
    if not unanswered_orders(ctx, case, p):
        return "该事件没有发给您、待反馈的督办单"
    return None


# -- the residence-permit flow (居住证申领) --------------------------------------------------------------------

def applicant(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """The applicant in person (the resident who applied), or staff in whose jurisdiction the application is (an
    application filed on the applicant's behalf is resubmitted by staff)."""
    if p.role == Role.resident:
        return None if case.reporter_user_id == p.user_id else "只有申请人本人可以补正提交"
    return None if can_see(ctx.session, p, case) else OUT_OF_SCOPE


def residence_checker(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> str | None:
    """Staff whose jurisdiction holds the dwelling (the grid worker of its grid, or its community) check that the
    applicant lives there."""
    return None if in_scope(p, case.path) else "该申请的居住地不在您的网格或社区内"
