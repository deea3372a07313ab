"""The case engine: the one place the workflow table is applied, for every caller.

A step is planned (:func:`plan_steps`): the table's row is chosen for the case's state and the caller's role, its
guard and required fields are checked, and its effect returns a change-set — nothing is written yet. Several steps
taken at once (accept-then-dispatch) are planned in order over a :class:`Draft`, so the second sees what the first
changed, and either all of them are taken or none. Then the plan is applied:

* on the request path (:func:`transition`, :func:`take_steps`) to one loaded case, with the optimistic version check;
* in intake (:mod:`zhili.cases.intake`) to the planned rows of a batch — the same change-sets, the same timeline
  event and audit entry (:func:`event_values`, :func:`audit_after`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from zhili.cases import flows, notify, tally
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.attachments import check_claim
from zhili.cases.changes import REPORTER, ChangeSet, Ctx, Notice, UnitRef
from zhili.cases.models import Attachment, Case, CaseEvent, CaseState, Category, SubTask
from zhili.cases.scope import can_see
from zhili.cases.workflow import FLOW_ACTIONS, TRANSITIONS, Transition
from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.regions.models import OPEN_END, Unit, UnitLevel

FIELD_LABELS = {"reason": "原因", "hours": "延期时长（工作小时）", "result": "处置结果", "rating": "评分",
                "master_id": "主事件", "message": "督办意见", "reply": "反馈意见", "permit_no": "居住证号",
                "finding": "居住核查情况"}
# Facts of a step that the audit entry keeps besides the state (the timeline event keeps them all).
AUDITED_EXTRA = ("department", "unit", "level", "due", "grid", "placeholder", "delivery_method", "on_time")
# Steps taken in one go tell the reporter once: this message instead of one per step.
COMBINED_REPORTER_NOTICE: dict[tuple[str, ...], tuple[str, str]] = {
    ("accept", "dispatch"): ("您反映的问题已受理并派遣处置",
                             "事件 {number} 已受理并交由相关部门处置，我们会及时告知处理结果。"),
}


class TransitionNotAllowed(DomainError):
    """The case's state does not allow this action."""

    status = 409
    code = "transition_not_allowed"
    default_message = "当前状态下不能执行该操作"


class ActionNotInFlow(DomainError):
    """The action is a step of another flow (an event's 派遣 on a permit application, a permit's 制证 on an event)."""

    status = 409
    code = "action_not_in_flow"
    default_message = "该操作不属于此类案件的办理流程"


# -- reading a case that may be half-changed ---------------------------------------------------------------------

class Draft:
    """A case with pending changes laid over it: reads see the changes, the case itself is untouched. The case may be
    a loaded ORM case or a planned row (a dict)."""

    __slots__ = ("_base", "_changes", "_row")

    def __init__(self, base: Any) -> None:
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_changes", {})
        object.__setattr__(self, "_row", isinstance(base, dict))

    def __getattr__(self, name: str) -> Any:  # only for names that are not slots
        changes = self._changes
        if name in changes:
            return changes[name]
        return self._base[name] if self._row else getattr(self._base, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a draft changes only through change-sets")

    def change(self, values: dict[str, Any]) -> None:
        self._changes.update(values)


# -- configuration lookups on the request path -------------------------------------------------------------------

class SessionLookups:
    """:class:`~zhili.cases.changes.Lookups` read from the session (cached for the step)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def category(self, category_id: uuid.UUID | None) -> Category | None:
        return self.session.get(Category, category_id) if category_id else None

    def reportable_category(self, code: str) -> Category:
        from zhili.cases.taxonomy import reportable_category

        return reportable_category(self.session, code=code)

    def department_kind(self, code: str) -> str:
        from zhili.org.service import get_department

        return get_department(self.session, code=code).kind

    def unit(self, unit_id: uuid.UUID) -> UnitRef | None:
        u = self.session.get(Unit, unit_id)
        return UnitRef(u.id, u.path, u.level, u.code) if u is not None else None

    def ancestor(self, path: str, level: UnitLevel) -> UnitRef | None:
        u = self.session.scalar(select(Unit).where(Unit.code.in_(path.split("/")), Unit.level == level,
                                                   Unit.valid_to == OPEN_END))
        return UnitRef(u.id, u.path, u.level, u.code) if u is not None else None


def request_ctx(session: Session, now: dt.datetime | None = None) -> Ctx:
    return Ctx(session=session, now=now or utcnow(), look=SessionLookups(session))


# -- planning ----------------------------------------------------------------------------------------------------

_ROWS: dict[tuple[str, str, CaseState], list[Transition]] = {}  # (flow, action, state) → rows
for _t in TRANSITIONS:
    for _f in _t.flows:
        for _s in _t.sources:
            _ROWS.setdefault((_f, _t.action, _s), []).append(_t)
_ACTIONS = frozenset(t.action for t in TRANSITIONS)


@dataclass
class Step:
    """One planned step: the row taken, the states, the payload as given and what its effect returns."""

    row: Transition
    before: CaseState
    after: CaseState
    payload: dict[str, Any]
    changes: ChangeSet


def choose(ctx: Ctx, case: Any, action: str, p: Principal, payload: dict[str, Any]) -> Transition:
    """The row for ``action`` from the case's state in the case's flow that this principal may take now: flow, role,
    guard, required fields."""
    flow = flows.get(case.flow)
    rows = _ROWS.get((flow.code, action, case.state))
    if not rows:
        if action not in _ACTIONS:
            raise ValidationFailed(f"未知操作：{action}", code="unknown_action")
        if action not in FLOW_ACTIONS.get(flow.code, ()):
            raise ActionNotInFlow(f"“{ACTION_NAMES.get(action, action)}”不是{flow.name}的办理步骤",
                                  details={"flow": flow.code, "action": action})
        raise TransitionNotAllowed(f"{flow.noun}当前状态为“{flows.state_label(flow.code, case.state)}”，"
                                   "不能执行该操作", details={"state": case.state.value, "action": action})
    role_rows = [t for t in rows if p is SYSTEM_PRINCIPAL or p.role in t.roles]
    if not role_rows:
        raise Forbidden(f"当前角色不能对该事件执行“{rows[0].label}”", code="role_not_allowed",
                        details={"allowed_roles": sorted({r.value for t in rows for r in t.roles})})
    errors = []
    for t in role_rows:
        err = t.guard(ctx, case, p, payload)
        if err is None:
            missing = [f for f in t.requires if payload.get(f) in (None, "", [])]
            if missing:
                raise ValidationFailed(f"“{t.label}”需要填写：{'、'.join(FIELD_LABELS.get(f, f) for f in missing)}",
                                       code="payload_required", details={"missing": missing})
            return t
        errors.append(err)
    raise Forbidden(errors[0], code="guard_failed")


def plan_steps(ctx: Ctx, case: Any, p: Principal, steps: Sequence[tuple[str, dict[str, Any]]]) -> list[Step]:
    """Plan ``steps`` (action, payload) in order on ``case`` without changing it; refuses them all if one is refused."""
    draft = Draft(case)
    out = []
    for action, payload in steps:
        t = choose(ctx, draft, action, p, payload)
        before = draft.state
        cs = t.effect(ctx, draft, p, payload)
        after = t.target if t.target is not None else before
        draft.change({**cs.values, "state": after})
        out.append(Step(row=t, before=before, after=after, payload=payload, changes=cs))
    return out


def available_actions(session: Session, *, principal: Principal, case: Case) -> list[dict[str, str]]:
    """Actions this principal can take on the case now (guards checked) — for buttons on pages."""
    authorize(principal, Perm.case_read)
    ctx = request_ctx(session)
    out: dict[str, str] = {}
    for t in TRANSITIONS:
        if (case.flow or flows.EVENT) in t.flows and case.state in t.sources and principal.role in t.roles \
                and t.action not in out and t.guard(ctx, case, principal, {}) is None:
            out[t.action] = t.label
    return [{"action": a, "label": lbl} for a, lbl in out.items()]


# -- what every application of a step writes the same way -------------------------------------------------------

ACTION_NAMES = {t.action: t.label for t in TRANSITIONS}


def event_comment(payload: dict[str, Any]) -> str | None:
    return (payload.get("comment") or payload.get("reason") or payload.get("result") or payload.get("message")
            or payload.get("reply") or payload.get("finding"))


def event_values(step: Step, p: Principal, now: dt.datetime, *, case_id: uuid.UUID, seq: int) -> dict[str, Any]:
    """The timeline row of a step (without its id)."""
    payload = {k: v for k, v in {**step.payload, **step.changes.extra}.items() if k != "comment"}
    return {"case_id": case_id, "seq": seq, "at": now, "action": step.row.action,
            "from_state": step.before.value, "to_state": step.after.value,
            "actor_id": None if p is SYSTEM_PRINCIPAL else p.user_id, "actor_name": p.display_name,
            "actor_role": p.role.value, "actor_unit": p.department, "comment": event_comment(step.payload),
            "payload": audit.to_jsonable(payload),
            "attachment_ids": [str(a) for a in step.payload.get("attachment_ids") or []], "public": True}


def audit_after(step: Step, seq: int) -> dict[str, Any]:
    return {"state": step.after.value, "event": seq,
            **{k: v for k, v in step.changes.extra.items() if k in AUDITED_EXTRA}}


def reporter_notices(steps: Sequence[Step], number: str) -> list[Notice]:
    """What the reporter hears of steps taken in one go: one message, not one per step."""
    told = [n for s in steps for n in s.changes.notices if n.to == REPORTER]
    if len(told) <= 1:
        return told
    combined = COMBINED_REPORTER_NOTICE.get(tuple(s.row.action for s in steps))
    if combined:
        return [Notice(REPORTER, combined[0], combined[1].format(number=number))]
    return told[-1:]


# -- applying to a loaded case (the request path) ----------------------------------------------------------------

def transition(session: Session, *, principal: Principal, case_id: uuid.UUID, action: str,
               payload: dict[str, Any] | None = None, expected_version: int | None = None,
               now: dt.datetime | None = None) -> Case:
    """Apply one workflow action; refuses anything the transition table does not allow."""
    return take_steps(session, principal=principal, case_id=case_id, steps=[(action, dict(payload or {}))],
                      expected_version=expected_version, now=now)


def take_steps(session: Session, *, principal: Principal, case_id: uuid.UUID,
               steps: Sequence[tuple[str, dict[str, Any]]], expected_version: int | None = None,
               now: dt.datetime | None = None) -> Case:
    """Apply several workflow actions at once (e.g. accept-then-dispatch): all of them, or none. Who may take
    which step is the table's business; reading the case at all needs ``case:read`` (the system actor acts
    everywhere)."""
    if principal is not SYSTEM_PRINCIPAL:
        authorize(principal, Perm.case_read)
    case = session.get(Case, case_id)
    if case is None or (principal is not SYSTEM_PRINCIPAL and not can_see(session, principal, case)):
        raise NotFound("事件不存在或无权查看")  # the system actor (sweep, rules, sensors) acts everywhere
    if expected_version is not None and expected_version != case.version:
        raise Conflict("事件已被他人处理，请刷新后重试", code="version_conflict",
                       details={"current_version": case.version, "state": case.state.value})
    ctx = request_ctx(session, now)
    planned = plan_steps(ctx, case, principal, [(a, dict(p)) for a, p in steps])
    try:
        apply_to_case(ctx, case, principal, planned)
        session.flush()
    except StaleDataError as exc:
        raise Conflict("事件已被他人同时处理，您的操作未生效，请刷新后重试", code="version_conflict") from exc
    return case


def next_seq(session: Session, case: Case | Any, first: bool = False) -> int:
    """The next timeline number of a case (remembered per session, so a batch of steps reads it once)."""
    seqs: dict[uuid.UUID, int] = session.info.setdefault("case_seq", {})
    if case.id not in seqs:
        seqs[case.id] = 0 if first else (
            session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0)
    seqs[case.id] += 1
    return seqs[case.id]


def apply_to_case(ctx: Ctx, case: Case, p: Principal, steps: Sequence[Step]) -> None:
    session = ctx.session
    for step in steps:
        cs = step.changes
        for attr, value in cs.values.items():
            setattr(case, attr, value)
        case.state = step.after
        case.updated_at = ctx.now
        seq = next_seq(session, case)
        session.add(CaseEvent(**event_values(step, p, ctx.now, case_id=case.id, seq=seq)))
        attach(session, case, step.payload.get("attachment_ids") or [], claimer=p.user_id)
        for sd in cs.stats:
            tally.add(session, sd)
        if cs.subtasks is not None:  # a re-dispatch starts the sub-tasks again
            session.execute(delete(SubTask).where(SubTask.case_id == case.id))
            session.add_all([SubTask(case_id=case.id, department=d, role=role) for d, role in cs.subtasks])
        for write in cs.other_rows:
            write(session)
        for n in cs.notices:
            if n.to != REPORTER:
                notify_recipient(session, case, n.to, n.title, n.body)
        audit.record(session, actor=p.actor, action=f"case.{step.row.action}", object_type="case",
                     object_id=case.id, before={"state": step.before.value}, after=audit_after(step, seq),
                     reason=step.payload.get("reason"))
    for n in reporter_notices(steps, case.number):
        notify_reporter(session, case, n.title, n.body)


def attach(session: Session, case: Case, ids: list[Any], *, claimer: uuid.UUID | None) -> None:
    """Attachments named by a step become the case's (:func:`cases.attachments.check_claim`: an unclaimed one only
    when ``claimer`` uploaded it)."""
    for aid in ids:
        try:
            att = session.get(Attachment, uuid.UUID(str(aid)))
        except ValueError:
            att = None
        check_claim(aid, None if att is None else (att.uploaded_by, att.case_id), claimer=claimer, case_id=case.id)
        assert att is not None
        att.case_id = case.id


# -- notifications -----------------------------------------------------------------------------------------------

def reporter_phone(case: Case) -> str | None:
    if case.reporter_phone_enc is None:
        return None
    return get_cipher().decrypt(case.reporter_phone_enc, table="case", column="reporter_phone", row_id=case.id)


def notify_reporter(session: Session, case: Case, title: str, body: str) -> None:
    """Tell the reporter — and the reporters of cases merged into this one."""
    targets = [case]
    if case.master_case_id is None and case.merged_count:
        targets += list(session.scalars(select(Case).where(Case.master_case_id == case.id)))
    for c in targets:
        if c.reporter_user_id is None and c.reporter_phone_enc is None:
            continue
        notify.deliver(session, notify.Message(kind="case_update", title=title, body=body, case_id=c.id,
                                               user_id=c.reporter_user_id,
                                               phone=None if c.reporter_user_id else reporter_phone(c)))


def notify_recipient(session: Session, case: Case, target: str | None, title: str, body: str) -> None:
    """A task message to a queue: a department code, a unit code or ``command_centre``."""
    if target:
        notify.deliver(session, notify.Message(kind="task", title=title, body=body, case_id=case.id,
                                               recipient=target))
