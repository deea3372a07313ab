"""A department's to-do list (部门待办): the cases it must act on now, nearest deadline first.

Only what waits for the department: a case sent to it to start (已派遣), to handle (处置中) or waiting for its
extension request (申请延期), and a joint case whose co-handling task (协办) it has not finished. A case it has
resolved waits for others (核查, 评价, 结案) and is no longer its to-do; it finds such cases in the case list.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseState, SubTask
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.query import paginate
from zhili.core.security import Perm

HANDLING_STATES = (CaseState.dispatched, CaseState.in_progress, CaseState.extension_requested)


def department_tasks(session: Session, *, principal: Principal, page: int = 1, page_size: int = 50
                     ) -> tuple[list[Case], int]:
    """The cases the principal's department must act on (see the module's docstring), nearest deadline first."""
    authorize(principal, Perm.case_read)
    dept = principal.department
    mine: ColumnElement[bool]
    if not dept:
        mine = false()
    else:
        own_subtask = exists().where(SubTask.case_id == Case.id, SubTask.department == dept,
                                     SubTask.status != "done")
        mine = or_(Case.assignee_department == dept, and_(Case.is_joint.is_(True), own_subtask))
    stmt = select(Case).where(mine, Case.state.in_(HANDLING_STATES))
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Case.handle_due_at.is_(None), Case.handle_due_at, Case.reported_at, Case.id])
