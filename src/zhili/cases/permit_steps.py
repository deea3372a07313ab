"""The residence-permit flow's effects (居住证申领, :mod:`zhili.cases.flows`): what each of its steps changes.

Like :mod:`zhili.cases.effects` they never write: each returns a :class:`~zhili.cases.changes.ChangeSet` the engine
applies. What a permit's steps add to the case besides the common columns is kept under ``attributes["permit"]``
(the stay given as evidence is there from the application, :mod:`zhili.rental.permits`): the residence check's
finding, the permit number, how it was delivered. A permit application is not an event: its steps add nothing to
the event statistics (``flows.Flow.counts_in_stats``).

The statutory limit starts at acceptance (:func:`zhili.cases.deadlines.permit_issue_window`) and is kept as the
case's handling deadline; whether the permit was issued in time is recorded when it is issued (制证完成).
"""

from __future__ import annotations

import re
from typing import Any

from zhili.cases import deadlines
from zhili.cases.changes import REPORTER, ChangeSet, Ctx, Notice
from zhili.core.clock import fmt_local
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.regions.models import UnitLevel

DELIVERY_METHODS = {"mail": "邮寄送达", "e_permit": "电子居住证", "collect": "窗口领取"}
PERMIT_NO = re.compile(r"^[0-9A-Za-z-]{6,32}$")
TRACKING_NO = re.compile(r"^[0-9A-Za-z-]{6,40}$")
FINDING_MAX = 2000


def permit_facts(case: Any) -> dict[str, Any]:
    """What the application and its steps recorded (``attributes["permit"]``)."""
    facts = (case.attributes or {}).get("permit")
    return dict(facts) if isinstance(facts, dict) else {}


def _with(case: Any, **facts: Any) -> dict[str, Any]:
    """The case's attributes with ``facts`` added to its permit record (None removes one)."""
    merged = {**permit_facts(case), **facts}
    return {**(case.attributes or {}), "permit": {k: v for k, v in merged.items() if v is not None}}


def _desk(ctx: Ctx, case: Any) -> Any:
    """The community (流动人口服务站) whose area holds the dwelling — or None for an application not yet placed."""
    return ctx.look.ancestor(case.path, UnitLevel.community)


def _tell(cs: ChangeSet, title: str, body: str) -> ChangeSet:
    cs.notices.append(Notice(REPORTER, title, body))
    return cs


def accept(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """受理: the statutory 15 working days start; the community holding the dwelling holds the application, and the
    grid of the dwelling is asked to check the residence."""
    due, warn = deadlines.permit_issue_window(ctx.cal, ctx.now)
    desk = _desk(ctx, case)
    cs = ChangeSet(values={"accepted_at": ctx.now, "handle_due_at": due, "handle_warn_at": warn,
                           "assignee_department": None, "assignee_unit_id": desk.id if desk else None,
                           "assignee_path": desk.path if desk else None},
                   extra={"due": due, **({"unit": desk.code} if desk else {})})
    grid = ctx.look.ancestor(case.path, UnitLevel.grid)
    if grid is not None:
        cs.notices.append(Notice(grid.code, "居住核查任务", f"居住证申请 {case.number} 已受理，请核查申请人是否在"
                                 f"“{case.address or '登记地址'}”实际居住，并在 {fmt_local(due)} 前完成。"))
    return _tell(cs, "您的居住证申请已受理",
                 f"居住证申请 {case.number} 已受理，将于 {fmt_local(due)} 前办结（15个工作日），请留意办理进度。")


def reject(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """不予受理: the reason is kept and the applicant told."""
    cs = ChangeSet(values={"reject_reason": payload["reason"], "closed_at": ctx.now})
    return _tell(cs, "您的居住证申请不予受理", f"居住证申请 {case.number} 不予受理：{payload['reason']}")


def request_correction(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """退回补正: back to the applicant, told what is missing (the acceptance clock starts again on resubmission)."""
    rounds = int(permit_facts(case).get("corrections") or 0) + 1
    cs = ChangeSet(values={"attributes": _with(case, correction=payload["reason"], corrections=rounds),
                           "accept_due_at": None}, extra={"round": rounds})
    return _tell(cs, "请补正居住证申请材料", f"居住证申请 {case.number} 需补正：{payload['reason']}。"
                 "请在“我的居住证申请”中补充后重新提交，无需到窗口。")


def resubmit(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """补正后提交: back to the desk, with a new acceptance limit; the desk is told."""
    cs = ChangeSet(values={"attributes": _with(case, correction=None),
                           "accept_due_at": deadlines.accept_due(ctx.cal, ctx.look.category(case.category_id),
                                                                 ctx.now)})
    desk = _desk(ctx, case)
    if desk is not None:
        cs.notices.append(Notice(desk.code, "居住证申请已补正", f"居住证申请 {case.number} 已补正材料，请受理。"))
    return cs


def verify_residence(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """居住核查: the grid worker's or community's finding that the applicant lives at the dwelling, recorded."""
    finding = str(payload["finding"]).strip()
    if len(finding) > FINDING_MAX:
        raise ValidationFailed(f"核查情况不能超过{FINDING_MAX}字", code="finding_too_long")
    check: dict[str, Any] = {"finding": finding, "at": ctx.now.isoformat()}
    if payload.get("visit_id"):
        check["visit_id"] = str(payload["visit_id"])
    return ChangeSet(values={"verified_at": ctx.now, "resolution": finding,
                             "attributes": _with(case, check=check)})


def deny(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """不予签发 (after acceptance: the residence not confirmed, the conditions not met): reason kept, applicant told."""
    cs = ChangeSet(values={"reject_reason": payload["reason"], "closed_at": ctx.now,
                           "closed_on_time": case.handle_due_at is None or ctx.now <= case.handle_due_at})
    return _tell(cs, "您的居住证申请未予签发", f"居住证申请 {case.number} 未予签发：{payload['reason']}")


def approve(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """审批通过: the permit goes to be made."""
    return _tell(ChangeSet(), "您的居住证申请已审批通过", f"居住证申请 {case.number} 已审批通过，正在制证。")


_READY = {"mail": "将按您填写的地址邮寄送达", "e_permit": "电子居住证将发放至您的账户",
          "collect": "请携带身份证到流动人口服务站领取"}


def issue(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """制证完成: the permit number is recorded, and whether it was made within the statutory limit."""
    number = str(payload["permit_no"]).strip()
    if not PERMIT_NO.match(number):
        raise ValidationFailed("居住证号须为6–32位字母、数字或连字符", code="bad_permit_no")
    on_time = case.handle_due_at is None or ctx.now <= case.handle_due_at
    method = (permit_facts(case).get("delivery") or {}).get("method", "collect")
    cs = ChangeSet(values={"resolved_at": ctx.now, "closed_on_time": on_time,
                           "attributes": _with(case, permit_no=number, issued_at=ctx.now.isoformat())},
                   extra={"on_time": on_time})
    return _tell(cs, "您的居住证已制作完成", f"居住证申请 {case.number}：居住证已制作完成，{_READY.get(method, '')}。")


def deliver(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """送达 → 办结: mailed (with the tracking number), the e-permit delivered, or collected at the desk. Mail and
    e-permit are 零跑 — the applicant never came to a window."""
    method = payload.get("delivery_method") or (permit_facts(case).get("delivery") or {}).get("method")
    if method not in DELIVERY_METHODS:
        raise ValidationFailed("请选择送达方式：邮寄、电子居住证或窗口领取", code="bad_delivery_method")
    tracking = str(payload.get("tracking_no") or "").strip() or None
    if method == "mail" and (tracking is None or not TRACKING_NO.match(tracking)):
        raise ValidationFailed("邮寄送达须填写快递单号（6–40位字母或数字）", code="tracking_no_required")
    delivered: dict[str, Any] = {"method": method, "at": ctx.now.isoformat(), "zero_trips": method != "collect"}
    if tracking and method == "mail":
        delivered["tracking_no"] = tracking
    cs = ChangeSet(values={"closed_at": ctx.now, "attributes": _with(case, delivered=delivered)},
                   extra={"delivery_method": method, "zero_trips": method != "collect"})
    said = {"mail": f"已邮寄送达，快递单号 {tracking}", "e_permit": "电子居住证已发放至您的账户",
            "collect": "已领取"}[method]
    return _tell(cs, "您的居住证申请已办结", f"居住证申请 {case.number}：{said}。")

