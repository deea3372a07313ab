"""The case workflow as data: one transition table and nothing else decides what may happen to a case.

Each row says which action moves a case from which states to which state, which roles may take it, which
guard must hold (assignment, jurisdiction, reporter, reopen window …) and which payload fields are required.
:func:`zhili.cases.service.transition` is the only code that applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhili.cases.models import CaseState as S
from zhili.core.security import Role as R


@dataclass(frozen=True)
class Transition:
    """One row of the table."""

    action: str
    label: str
    sources: frozenset[S]
    target: S | None  # None: the state does not change (sub-task done, supervision note)
    roles: frozenset[R]
    guard: str  # name of a guard in service.GUARDS
    requires: tuple[str, ...] = ()


def _t(action: str, label: str, sources: set[S], target: S | None, roles: set[R], guard: str,
       requires: tuple[str, ...] = ()) -> Transition:
    return Transition(action, label, frozenset(sources), target, frozenset(roles), guard, requires)


_INTAKE_STAFF = {R.command_centre, R.street_staff, R.community_staff}
_HANDLERS = {R.department_handler, R.community_staff, R.street_staff, R.grid_worker}
_OPEN = {S.reported, S.accepted, S.dispatched, S.in_progress, S.extension_requested, S.returned, S.escalated,
         S.resolved, S.verified, S.rated}

TRANSITIONS: tuple[Transition, ...] = (
    _t("accept", "受理", {S.reported}, S.accepted, _INTAKE_STAFF, "in_scope"),
    _t("reject", "不予受理", {S.reported}, S.rejected, _INTAKE_STAFF, "in_scope", ("reason",)),
    _t("merge", "合并重复件", {S.reported, S.accepted}, S.merged, _INTAKE_STAFF, "in_scope", ("master_id",)),
    _t("dispatch", "派遣", {S.accepted, S.returned}, S.dispatched, {R.command_centre}, "in_scope"),
    _t("dispatch", "派遣", {S.escalated}, S.dispatched, {R.command_centre, R.street_staff}, "escalation_owner"),
    _t("start", "签收", {S.dispatched}, S.in_progress, _HANDLERS, "assignee"),
    _t("request_extension", "申请延期", {S.in_progress}, S.extension_requested, _HANDLERS, "assignee",
       ("reason", "hours")),
    _t("approve_extension", "同意延期", {S.extension_requested}, S.in_progress, {R.command_centre}, "in_scope"),
    _t("deny_extension", "不同意延期", {S.extension_requested}, S.in_progress, {R.command_centre}, "in_scope",
       ("reason",)),
    _t("return_case", "退回", {S.dispatched, S.in_progress}, S.returned, _HANDLERS, "assignee", ("reason",)),
    _t("escalate", "上报上级", {S.dispatched, S.in_progress}, S.escalated,
       {R.community_staff, R.street_staff, R.grid_worker}, "can_escalate", ("reason",)),
    _t("complete_subtask", "协办完成", {S.dispatched, S.in_progress}, None, {R.department_handler},
       "co_handler", ("result",)),
    _t("resolve", "处置完成", {S.in_progress}, S.resolved, _HANDLERS, "assignee_all_subtasks_done", ("result",)),
    _t("verify", "核查通过", {S.resolved}, S.verified, {R.grid_worker, R.community_staff, R.command_centre,
                                                    R.resident}, "verifier"),
    _t("send_back", "核查不通过", {S.resolved}, S.in_progress, {R.grid_worker, R.community_staff,
                                                          R.command_centre, R.resident}, "verifier", ("reason",)),
    _t("rate", "评价", {S.verified}, S.rated, {R.resident}, "reporter", ("rating",)),
    _t("rate", "回访评价", {S.verified}, S.rated, {R.command_centre}, "follow_up", ("rating",)),
    _t("close", "结案", {S.verified, S.rated}, S.closed, _INTAKE_STAFF, "in_scope"),
    _t("reopen", "重开", {S.closed}, S.accepted, {R.command_centre, R.resident}, "reopen_window", ("reason",)),
    _t("supervise", "督办", _OPEN, None, {R.command_centre, R.leader}, "in_scope", ("message",)),
    _t("answer_supervision", "督办反馈", _OPEN, None, _HANDLERS | {R.command_centre}, "supervision_addressee",
       ("reply",)),
)

ACTIONS: dict[str, str] = {
    "report": "上报", "warning_yellow": "黄灯预警", "warning_red": "超期督办", "warning_escalation": "升级督办",
    **{t.action: t.label for t in TRANSITIONS},
}


def candidates(action: str, state: S) -> list[Transition]:
    """Rows for ``action`` that start from ``state`` (several rows may differ only in roles/guard)."""
    return [t for t in TRANSITIONS if t.action == action and state in t.sources]


def available(state: S, role: R) -> list[Transition]:
    """Rows a role could take from a state (guards not yet checked)."""
    return [t for t in TRANSITIONS if state in t.sources and role in t.roles]
