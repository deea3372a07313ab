"""What the staff workbench (``zhili.workbench``) reads of the case loop beyond :func:`service.list_cases`: counts
per state and per channel in one grouped query each, and short work lists ordered by the handling deadline — all
under the same visibility rule as every case list (:func:`zhili.cases.scope.visibility`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseEvent, CaseState, Channel
from zhili.cases.scope import visibility
from zhili.core.jurisdiction import Principal, authorize, path_predicate
from zhili.core.security import Perm


def _grouped(session: Session, principal: Principal, column: Any, *where: ColumnElement[bool]) -> dict[Any, int]:
    # imported history (历史导入) is no work: the workbench counts live cases only
    stmt = select(column, func.count()).where(visibility(principal), Case.is_history.is_(False), *where
                                              ).group_by(column)
    return {key: int(n) for key, n in session.execute(stmt)}


def count_by_state(session: Session, *, principal: Principal, states: Sequence[CaseState]) -> dict[CaseState, int]:
    """Visible cases in each of ``states`` (states without cases are absent)."""
    authorize(principal, Perm.case_read)
    return {CaseState(k): n for k, n in _grouped(session, principal, Case.state, Case.state.in_(states)).items()}


def count_by_channel(session: Session, *, principal: Principal, since: dt.datetime) -> dict[Channel, int]:
    """Visible cases reported at or after ``since``, per channel (channels without cases are absent)."""
    authorize(principal, Perm.case_read)
    return {Channel(k): n for k, n in _grouped(session, principal, Case.channel, Case.reported_at >= since).items()}


@dataclass(frozen=True)
class Worklist:
    """Which cases a work list holds: those in ``states`` and, optionally, assigned to a department, assigned to a
    unit in the viewer's jurisdiction, escalated to a street (吹哨: waiting for it to dispatch), or sent back at
    verification at least once (核查不通过)."""

    states: Sequence[CaseState]
    department: str | None = None
    assigned_to_scope: bool = False
    escalated_to_street: bool = False
    sent_back: bool = False


def by_deadline(session: Session, *, principal: Principal, worklist: Worklist, limit: int = 10) -> list[Case]:
    """The first visible cases of a work list, the nearest handling deadline first (cases without one last, on every
    database)."""
    authorize(principal, Perm.case_read)
    where = [visibility(principal), Case.is_history.is_(False), Case.state.in_(worklist.states)]
    if worklist.department:
        where.append(Case.assignee_department == worklist.department)
    if worklist.assigned_to_scope:
        where.append(path_predicate(Case.assignee_path, principal.scope_paths))
    if worklist.escalated_to_street:
        where.append(Case.escalation_level == "street")
    if worklist.sent_back:
        where.append(exists().where(CaseEvent.case_id == Case.id, CaseEvent.action == "send_back"))
    stmt = (select(Case).where(*where)
            .order_by(Case.handle_due_at.is_(None), Case.handle_due_at, Case.reported_at, Case.id).limit(limit))
    return list(session.scalars(stmt))
