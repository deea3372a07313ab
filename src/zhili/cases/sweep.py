"""The deadline sweep: yellow warnings, overdue supervision orders (督办单) and escalation to the superior, all from
the deadlines stored on the cases (:mod:`zhili.cases.deadlines`) — nothing lives in memory, so a restart loses
nothing, and a lease row lets one process at a time run it.

Every flow's cases are swept (:mod:`zhili.cases.flows`): each flow names the states in which its deadline runs
(an event while dispatched or being handled; a residence permit from acceptance until it is issued), and only flows
counted in the event statistics add their overdue cases to them."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import deadlines, engine, flows, notify, tally
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.effects import assignee_code, stat
from zhili.cases.models import Case, CaseEvent, Supervision
from zhili.core import audit
from zhili.core.clock import fmt_local
from zhili.core.db import utcnow
from zhili.core.settings import get_settings
from zhili.regions.models import Unit, UnitLevel
from zhili.worktime.service import load_calendar

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    """What one sweep did."""

    yellow: int = 0
    red: int = 0
    escalated: int = 0


def handling() -> ColumnElement[bool]:
    """A case is in a state in which its flow's deadline runs."""
    return or_(*(and_(Case.flow == f.code, Case.state.in_(sorted(f.deadline_states)))
                 for f in flows.FLOWS.values()))


def _noun(case: Case) -> str:
    return flows.get(case.flow).noun


def sweep_deadlines(session: Session, *, now: dt.datetime | None = None) -> SweepReport:
    """Raise yellow/red warnings, supervision orders and auto-escalations from stored deadlines (restart-safe)."""
    now = now or utcnow()
    report = SweepReport()
    yellow = session.scalars(select(Case).where(handling(), Case.warning_level == "none",
                                                Case.handle_warn_at <= now, Case.handle_due_at > now)).all()
    for c in yellow:
        c.warning_level = "yellow"
        _supervise(session, c, "yellow", now,
                   f"{_noun(c)} {c.number} 即将超期（期限 {fmt_local(c.handle_due_at)}），请抓紧办理。"
                   if c.flow != flows.EVENT else
                   f"事件 {c.number} 即将超期（期限 {fmt_local(c.handle_due_at)}），请抓紧处置。")
        report.yellow += 1
    red = session.scalars(select(Case).where(handling(), Case.overdue.is_(False),
                                             Case.handle_due_at <= now)).all()
    for c in red:
        c.warning_level, c.overdue = "red", True
        if flows.get(c.flow).counts_in_stats:
            tally.add(session, stat(c, overdue=1))
        _supervise(session, c, "red", now,
                   f"{_noun(c)} {c.number} 已超期（期限 {fmt_local(c.handle_due_at)}），请立即办理并说明原因。"
                   if c.flow != flows.EVENT else
                   f"事件 {c.number} 已超期（期限 {fmt_local(c.handle_due_at)}），请立即处置并说明原因。")
        report.red += 1
    cal = load_calendar(session)
    extra = get_settings().escalate_after_hours
    overdue = session.scalars(select(Case).where(handling(), Case.overdue.is_(True))).all()
    for c in overdue:
        if c.handle_due_at is None or deadlines.escalation_due(cal, c.handle_due_at) > now:
            continue
        if session.scalar(select(Supervision.id).where(Supervision.case_id == c.id, Supervision.kind == "escalation",
                                                       Supervision.issued_at >= c.handle_due_at)):
            continue
        _supervise(session, c, "escalation", now,
                   f"{_noun(c)} {c.number} 超期已逾{extra:g}个工作小时，升级督办至上级。", superior=True)
        report.escalated += 1
    session.flush()
    return report


def _superior_of(session: Session, case: Case) -> str:
    if case.assignee_unit_id:
        u = session.get(Unit, case.assignee_unit_id)
        if u is not None and u.parent_id is not None:
            parent = session.get(Unit, u.parent_id)
            if parent is not None and parent.level != UnitLevel.district:
                return parent.code
    return "command_centre"


def _supervise(session: Session, case: Case, kind: str, now: dt.datetime, message: str, superior: bool = False
               ) -> None:
    target = assignee_code(engine.request_ctx(session, now), case) or "command_centre"
    boss = _superior_of(session, case)
    rnd = 1 + (session.scalar(select(func.count()).select_from(Supervision).where(
        Supervision.case_id == case.id, Supervision.kind == kind)) or 0)  # again after an extension/redispatch
    session.add(Supervision(case_id=case.id, kind=kind, round=rnd, target=boss if superior else target,
                            superior=boss, message=message, issued_at=now, issued_by=SYSTEM_PRINCIPAL.username))
    p = SYSTEM_PRINCIPAL
    session.add(CaseEvent(
        case_id=case.id, seq=engine.next_seq(session, case), at=now, action=f"warning_{kind}",
        from_state=case.state.value, to_state=case.state.value, actor_id=None, actor_name=p.display_name,
        actor_role=p.role.value, actor_unit=p.department, comment=message, payload={}, attachment_ids=[],
        public=False))  # internal: residents do not see warnings in their timeline
    engine.notify_recipient(session, case, boss if superior else target, "督办通知", message)
    if not superior and boss != target:
        engine.notify_recipient(session, case, boss, "督办抄送", message)
    audit.record(session, actor=audit.SYSTEM, action=f"case.supervision_{kind}", object_type="case",
                 object_id=case.id, after={"target": target, "superior": boss})


def take_lease(session: Session, name: str, *, holder: str, every_s: float, now: dt.datetime, hold_s: float
               ) -> Any:
    """The lease row of a periodic job (:class:`~zhili.cases.models.JobLock`, made on first use) taken for
    ``holder`` for ``hold_s`` seconds — or None when another process holds it, or the job ran less than ``every_s``
    seconds ago. Every process tries; one runs the job."""
    from zhili.cases.models import JobLock

    lock = session.get(JobLock, name)
    if lock is None:
        lock = JobLock(name=name)
        session.add(lock)
        session.flush()
    if lock.until and lock.until > now and lock.holder != holder:
        return None
    if lock.last_run_at and (now - lock.last_run_at).total_seconds() < every_s:
        return None
    lock.holder, lock.until = holder, now + dt.timedelta(seconds=hold_s)
    session.flush()
    return lock


def run_sweep_if_due(session: Session, *, holder: str, every_s: int = 60, now: dt.datetime | None = None
                     ) -> SweepReport | None:
    """Run the deadline sweep unless another process holds the lease or it ran within ``every_s`` seconds."""
    now = now or utcnow()
    lock = take_lease(session, "deadline_sweep", holder=holder, every_s=every_s, now=now, hold_s=every_s * 2)
    if lock is None:
        return None
    report = sweep_deadlines(session, now=now)
    redelivered = notify.redeliver_pending(session)  # sent after this transaction commits
    if redelivered:
        log.warning("%d notifications left pending by a stopped process are sent again", redelivered)
    lock.last_run_at = now
    session.flush()
    return report
