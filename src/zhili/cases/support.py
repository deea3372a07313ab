"""Residents' supports (附议) of public cases: one ``case_support`` row per resident and case, counted on the case.

``case.support_count`` counts these rows only; the cases merged into a case are ``case.merged_count`` (kept by the
workflow's merge). The counter moves with one UPDATE that leaves the case's version and ``updated_at`` alone, so a
support never makes a handler's form stale.
"""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseSupport
from zhili.cases.reads import PublicCaseRow, _public_case, _rows
from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm


def add_support(session: Session, *, principal: Principal, case_id: uuid.UUID) -> PublicCaseRow:
    """A resident supports a public open case (the public rule, :mod:`zhili.cases.public`), once and never their
    own; audited as ``case.support``. Returns the case as the resident now sees it."""
    authorize(principal, Perm.case_read)
    authorize(principal, Perm.resident_participate, "此功能仅供居民使用", code="resident_only")
    case = _public_case(session, case_id)
    if case.reporter_user_id == principal.user_id:
        raise ValidationFailed("这是您本人上报的事件，无需附议", code="own_case")
    if session.scalar(select(CaseSupport.id).where(CaseSupport.case_id == case.id,
                                                   CaseSupport.user_id == principal.user_id)) is not None:
        raise Conflict("您已附议过该事件", code="already_supported")
    session.add(CaseSupport(case_id=case.id, user_id=principal.user_id, created_at=utcnow()))
    session.flush()  # the unique constraint settles a double click
    table = cast(Table, Case.__table__)
    session.execute(update(table).where(table.c.id == case.id)
                    .values(support_count=table.c.support_count + 1, updated_at=table.c.updated_at))
    session.expire(case, ["support_count"])
    audit.record(session, actor=principal.actor, action="case.support", object_type="case", object_id=case.id)
    return _rows(session, principal.user_id, [case])[0]
