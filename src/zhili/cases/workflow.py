"""The case workflow as data: one transition table and nothing else decides what may happen to a case.

Each row says which action moves a case from which states to which state, which roles may take it, which guard
must hold (assignment, jurisdiction, reporter, reopen window … — :mod:`zhili.cases.guards`), what the step changes
(:mod:`zhili.cases.effects`, returned as a change-set) and which payload fields are required.
:mod:`zhili.cases.engine` is the only code that applies it — for every caller: pages, the API, Open311, intake's
automatic dispatch, and the sensors, models and imports to come.

Rows belong to flows (:mod:`zhili.cases.flows`): the event loop's rows, the residence-permit application's rows
(居住证申领), and rows both share (督办, 督办反馈). The engine takes only rows of the case's own flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zhili.cases import effects as e
from zhili.cases import guards as g
from zhili.cases import permit_steps as ps
from zhili.cases.changes import ChangeSet, Ctx
from zhili.cases.flows import EVENT, EVENT_ONLY, RESIDENCE_PERMIT
from zhili.cases.models import CaseState as S
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role as R

Guard = Callable[[Ctx, Any, Principal, dict[str, Any]], str | None]  # None, or why the row may not be taken
Effect = Callable[[Ctx, Any, Principal, dict[str, Any]], ChangeSet]


def _nothing(ctx: Ctx, case: Any, p: Principal, payload: dict[str, Any]) -> ChangeSet:
    """Only the state changes (and the timeline records who took the step)."""
    return ChangeSet()



@dataclass(frozen=True)
class Transition:
    """One row of the table: the action, the states it starts from, the state it leads to, who may take it, the
    guard that must hold, the effect (what it changes, as a change-set), the payload fields it needs and the flows
    whose cases it applies to."""

    action: str
    label: str
    sources: frozenset[S]
    target: S | None  # None: the state does not change (sub-task done, supervision, placing on the map)
    roles: frozenset[R]
    guard: Guard
    effect: Effect
    requires: tuple[str, ...] = ()
    flows: frozenset[str] = EVENT_ONLY


def _t(action: str, label: str, sources: set[S], target: S | None, roles: set[R], guard: Guard, effect: Effect,
       requires: tuple[str, ...] = (), flows: frozenset[str] = EVENT_ONLY) -> Transition:
    return Transition(action, label, frozenset(sources), target, frozenset(roles), guard, effect, requires, flows)


def _p(action: str, label: str, sources: set[S], target: S | None, roles: set[R], guard: Guard, effect: Effect,
       requires: tuple[str, ...] = ()) -> Transition:
    """A row of the residence-permit flow (居住证申领)."""
    return _t(action, label, sources, target, roles, guard, effect, requires, frozenset({RESIDENCE_PERMIT}))


_INTAKE_STAFF = {R.command_centre, R.street_staff, R.community_staff}
_HANDLERS = {R.department_handler, R.community_staff, R.street_staff, R.grid_worker}
_VERIFIERS = {R.grid_worker, R.community_staff, R.command_centre, R.resident}
_BOTH = frozenset({EVENT, RESIDENCE_PERMIT})
# The residence-permit flow: the 流动人口服务站 (community staff) and the street's police window (street staff) take
# and decide applications; the grid worker or community checks the residence; the applicant resubmits.
_PERMIT_DESK = {R.community_staff, R.street_staff}
_PERMIT_CHECK = {R.grid_worker, R.community_staff}
_APPLICANT = {R.resident, R.community_staff, R.street_staff, R.grid_worker}
_OPEN = {S.reported, S.accepted, S.dispatched, S.in_progress, S.extension_requested, S.returned, S.escalated,
         S.resolved, S.verified, S.rated}

# action, label, from, to, roles, guard, effect, required payload fields
TRANSITIONS: tuple[Transition, ...] = (
    _t("accept", "受理", {S.reported}, S.accepted, _INTAKE_STAFF, g.in_scope_, e.accept),
    _t("reject", "不予受理", {S.reported}, S.rejected, _INTAKE_STAFF, g.in_scope_, e.reject, ("reason",)),
    _t("merge", "合并重复件", {S.reported, S.accepted}, S.merged, _INTAKE_STAFF, g.in_scope_, e.merge, ("master_id",)),
    _t("locate", "定位", {S.reported, S.accepted, S.returned}, None, _INTAKE_STAFF, g.in_scope_, e.locate),
    _t("dispatch", "派遣", {S.accepted, S.returned}, S.dispatched, {R.command_centre}, g.in_scope_, e.dispatch),
    _t("dispatch", "派遣", {S.escalated}, S.dispatched, {R.command_centre, R.street_staff}, g.escalation_owner,
       e.dispatch),
    _t("start", "签收", {S.dispatched}, S.in_progress, _HANDLERS, g.assignee, _nothing),
    _t("request_extension", "申请延期", {S.in_progress}, S.extension_requested, _HANDLERS, g.assignee,
       e.request_extension, ("reason", "hours")),
    _t("approve_extension", "同意延期", {S.extension_requested}, S.in_progress, {R.command_centre}, g.in_scope_,
       e.approve_extension),
    _t("deny_extension", "不同意延期", {S.extension_requested}, S.in_progress, {R.command_centre}, g.in_scope_,
       _nothing, ("reason",)),
    _t("return_case", "退回", {S.dispatched, S.in_progress}, S.returned, _HANDLERS, g.assignee, e.return_case,
       ("reason",)),
    _t("escalate", "上报上级", {S.dispatched, S.in_progress}, S.escalated,
       {R.community_staff, R.street_staff, R.grid_worker}, g.can_escalate, e.escalate, ("reason",)),
    _t("complete_subtask", "协办完成", {S.dispatched, S.in_progress}, None, {R.department_handler}, g.co_handler,
       e.complete_subtask, ("result",)),
    _t("resolve", "处置完成", {S.in_progress}, S.resolved, _HANDLERS, g.assignee_all_subtasks_done, e.resolve,
       ("result",)),
    _t("verify", "核查通过", {S.resolved}, S.verified, _VERIFIERS, g.verifier, e.verify),
    _t("send_back", "核查不通过", {S.resolved}, S.in_progress, _VERIFIERS, g.verifier, e.send_back, ("reason",)),
    _t("rate", "评价", {S.verified}, S.rated, {R.resident}, g.reporter, e.rate, ("rating",)),
    _t("rate", "回访评价", {S.verified}, S.rated, {R.command_centre}, g.follow_up, e.rate, ("rating",)),
    _t("close", "结案", {S.verified, S.rated}, S.closed, _INTAKE_STAFF, g.in_scope_, e.close),
    _t("reopen", "重开", {S.closed}, S.accepted, {R.command_centre, R.resident}, g.reopen_window, e.reopen,
       ("reason",)),
    _t("supervise", "督办", _OPEN, None, {R.command_centre, R.leader}, g.in_scope_, e.supervise, ("message",),
       _BOTH),
    _t("answer_supervision", "督办反馈", _OPEN, None, _HANDLERS | {R.command_centre}, g.supervision_addressee,
       e.answer_supervision, ("reply",), _BOTH),
    # -- residence permit (居住证申领, 《居住证暂行条例》): 申请 → 受理 → 居住核查 → 审批 → 制证 → 送达 → 办结 --
    _p("accept", "受理", {S.reported}, S.accepted, _PERMIT_DESK, g.in_scope_, ps.accept),
    _p("reject", "不予受理", {S.reported}, S.rejected, _PERMIT_DESK, g.in_scope_, ps.reject, ("reason",)),
    _p("request_correction", "退回补正", {S.reported}, S.returned, _PERMIT_DESK, g.in_scope_, ps.request_correction,
       ("reason",)),
    _p("resubmit", "补正后提交", {S.returned}, S.reported, _APPLICANT, g.applicant, ps.resubmit),
    _p("verify_residence", "居住核查通过", {S.accepted}, S.verified, _PERMIT_CHECK, g.residence_checker,
       ps.verify_residence, ("finding",)),
    _p("deny", "不予签发", {S.accepted, S.verified}, S.rejected, _PERMIT_DESK, g.in_scope_, ps.deny, ("reason",)),
    _p("approve", "审批通过", {S.verified}, S.in_progress, {R.street_staff}, g.in_scope_, ps.approve),
    _p("issue", "制证完成", {S.in_progress}, S.resolved, {R.street_staff}, g.in_scope_, ps.issue, ("permit_no",)),
    _p("deliver", "送达", {S.resolved}, S.closed, _PERMIT_DESK, g.in_scope_, ps.deliver),
)

# The timeline's name of every action (an action shared by two flows has one name in both: 受理, 不予受理 …).
ACTIONS: dict[str, str] = {
    "report": "上报", "warning_yellow": "黄灯预警", "warning_red": "超期督办", "warning_escalation": "升级督办",
    "imported": "历史导入",  # the one step of a historical case imported through the data hub
    "classify": "智能分类",  # a report filed without a category, classified by the text model (zhili.cases.suggest)
    "iot_repeat": "物联设备再次告警",  # an open case's sensor alarmed again (zhili.iot.alerts.note_cases): a note
    **{t.action: t.label for t in TRANSITIONS},
}


FLOW_ACTIONS: dict[str, frozenset[str]] = {
    f: frozenset(t.action for t in TRANSITIONS if f in t.flows) for f in (EVENT, RESIDENCE_PERMIT)}


def candidates(action: str, state: S, flow: str = EVENT) -> list[Transition]:
    """Rows of ``flow`` for ``action`` that start from ``state`` (several rows may differ only in roles/guard)."""
    return [t for t in TRANSITIONS if t.action == action and state in t.sources and flow in t.flows]


def available(state: S, role: R, flow: str = EVENT) -> list[Transition]:
    """Rows of ``flow`` a role could take from a state (guards not yet checked)."""
    return [t for t in TRANSITIONS if state in t.sources and role in t.roles and flow in t.flows]
