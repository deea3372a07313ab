"""The case workflow as data: one transition table and nothing else decides what may happen to a case.

Each row says which action moves a case from which states to which state, which roles may take it, which guard
must hold (assignment, jurisdiction, reporter, reopen window … — :mod:`zhili.cases.guards`), what the step changes
(:mod:`zhili.cases.effects`, returned as a change-set) and which payload fields are required.
:mod:`zhili.cases.engine` is the only code that applies it — for every caller: pages, the API, Open311, intake's
automatic dispatch, and the sensors, models and imports to come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zhili.cases import effects as e
from zhili.cases import guards as g
from zhili.cases.changes import ChangeSet, Ctx
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
    guard that must hold, the effect (what it changes, as a change-set) and the payload fields it needs."""

    action: str
    label: str
    sources: frozenset[S]
    target: S | None  # None: the state does not change (sub-task done, supervision, placing on the map)
    roles: frozenset[R]
    guard: Guard
    effect: Effect
    requires: tuple[str, ...] = ()


def _t(action: str, label: str, sources: set[S], target: S | None, roles: set[R], guard: Guard, effect: Effect,
       requires: tuple[str, ...] = ()) -> Transition:
    return Transition(action, label, frozenset(sources), target, frozenset(roles), guard, effect, requires)


_INTAKE_STAFF = {R.command_centre, R.street_staff, R.community_staff}
_HANDLERS = {R.department_handler, R.community_staff, R.street_staff, R.grid_worker}
_VERIFIERS = {R.grid_worker, R.community_staff, R.command_centre, R.resident}
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
    _t("supervise", "督办", _OPEN, None, {R.command_centre, R.leader}, g.in_scope_, e.supervise, ("message",)),
    _t("answer_supervision", "督办反馈", _OPEN, None, _HANDLERS | {R.command_centre}, g.supervision_addressee,
       e.answer_supervision, ("reply",)),
)

ACTIONS: dict[str, str] = {
    "report": "上报", "warning_yellow": "黄灯预警", "warning_red": "超期督办", "warning_escalation": "升级督办",
    "imported": "历史导入",  # the one step of a historical case imported through the data hub
    "classify": "智能分类",  # a report filed without a category, classified by the text model (zhili.cases.suggest)
    "iot_repeat": "物联设备再次告警",  # an open case's sensor alarmed again (zhili.iot.alerts.note_cases): a note
    **{t.action: t.label for t in TRANSITIONS},
}


def candidates(action: str, state: S) -> list[Transition]:
    """Rows for ``action`` that start from ``state`` (several rows may differ only in roles/guard)."""
    return [t for t in TRANSITIONS if t.action == action and state in t.sources]


def available(state: S, role: R) -> list[Transition]:
    """Rows a role could take from a state (guards not yet checked)."""
    return [t for t in TRANSITIONS if state in t.sources and role in t.roles]
