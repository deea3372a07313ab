"""The supervision list (督办单): open supervision orders on cases the viewer may see, most urgent first, and
the manual 督办 the command centre issues through the workflow's ``supervise`` action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as case_
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import engine, guards, service
from zhili.cases.models import OPEN_STATES, Case, Supervision, Urgency
from zhili.cases.scope import visibility
from zhili.core.errors import NotFound
from zhili.core.jurisdiction import Principal, authorize, in_scope, path_predicate
from zhili.core.query import check_page, paginate
from zhili.core.security import Perm, Role
from zhili.regions.models import Unit

KINDS = ("escalation", "red", "manual", "yellow")  # most urgent first


@dataclass(frozen=True)
class SupervisionFilter:
    """Filters of the supervision list."""

    kind: str | None = None  # yellow | red | escalation | manual
    unit_id: uuid.UUID | None = None  # cases located in, or assigned into, this unit's subtree
    department: str | None = None
    overdue_only: bool = False
    addressed_to_me: bool = False  # orders whose target or superior is the viewer's department or unit


@dataclass
class SupervisionRow:
    """One open order with its case."""

    supervision: Supervision
    case: Case


def list_open_supervisions(session: Session, *, principal: Principal, filters: SupervisionFilter, page: int = 1,
                           page_size: int = 50) -> tuple[list[SupervisionRow], int]:
    """Unanswered orders on open cases the principal may see, filtered; escalation, red, manual, yellow, then
    the case's urgency and the nearest handling deadline."""
    authorize(principal, Perm.case_read)
    stmt = (select(Supervision, Case).join(Case, Case.id == Supervision.case_id)
            .where(service.visibility(principal), Supervision.acknowledged_at.is_(None),
                   Case.state.in_(OPEN_STATES)))
    if filters.kind in KINDS:
        stmt = stmt.where(Supervision.kind == filters.kind)
    if filters.unit_id:
        unit = session.get(Unit, filters.unit_id)
        if unit is None or (principal.role != Role.department_handler and not in_scope(principal, unit.path)):
            raise NotFound("单位不存在或不在您的管辖范围内")
        stmt = stmt.where(or_(path_predicate(Case.path, (unit.path,)),
                              path_predicate(Case.assignee_path, (unit.path,))))
    if filters.department:
        stmt = stmt.where(or_(Case.assignee_department == filters.department,
                              Supervision.target == filters.department))
    if filters.overdue_only:
        stmt = stmt.where(Case.overdue.is_(True))
    if filters.addressed_to_me:
        mine = guards.supervision_addressees(principal)
        stmt = stmt.where(or_(Supervision.target.in_(mine), Supervision.superior.in_(mine)))
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    kind_rank = case_(*((Supervision.kind == k, i) for i, k in enumerate(KINDS)), else_=len(KINDS))
    urgency_rank = case_((Case.urgency == Urgency.emergency, 0), (Case.urgency == Urgency.urgent, 1), else_=2)
    rows = session.execute(stmt.order_by(kind_rank, urgency_rank, Case.handle_due_at.is_(None),
                                         Case.handle_due_at, Supervision.issued_at.desc(), Supervision.id)
                           .offset(check_page(page, page_size)).limit(page_size)).all()
    return [SupervisionRow(supervision=s, case=c) for s, c in rows], total


def supervise_case(session: Session, *, principal: Principal, number: str, message: str) -> Any:
    """Issue a manual 督办 on a case by its number (the workflow decides who may)."""
    authorize(principal, Perm.case_read)
    case = service.get_case_by_number(session, principal=principal, number=number.strip())
    return engine.transition(session, principal=principal, case_id=case.id, action="supervise",
                              payload={"message": message})


def list_supervisions(session: Session, *, principal: Principal, open_only: bool = True, page: int = 1,
                      page_size: int = 50) -> tuple[list[Any], int]:
    """Supervision orders on cases the principal may see."""
    authorize(principal, Perm.case_read)
    stmt = select(Supervision).join(Case, Case.id == Supervision.case_id).where(visibility(principal))
    if open_only:
        stmt = stmt.where(Supervision.acknowledged_at.is_(None), Case.state.in_(OPEN_STATES))
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Supervision.issued_at.desc()])
