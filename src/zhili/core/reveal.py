"""The rule for showing personal data in clear (a person's ID and phone, a case reporter's name and phone).

A reveal needs the permission and a reason of at least 2 characters; both are checked here, by the services
that decrypt (``registry.service.reveal_person``, ``cases.service.reveal_reporter``), never in a route. A refused
reveal is audited and the audit record outlives the refusal (:func:`zhili.core.db.keep_on_refusal`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import keep_on_refusal
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm

REASON_MIN = 2
REASON_MAX = 500


def reveal_reason(reason: str | None) -> str:
    """The reason given for a reveal, trimmed; refused unless it has 2 to 500 characters."""
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        raise ValidationFailed(f"请填写查看事由（至少{REASON_MIN}个字）", code="reason_required")
    if len(text) > REASON_MAX:
        raise ValidationFailed(f"查看事由不能超过{REASON_MAX}字", code="reason_too_long")
    return text


def authorize_reveal(session: Session, *, principal: Principal, perms: tuple[Perm, ...], reason: str | None,
                     object_type: str, object_id: Any) -> str:
    """Check the permissions and the reason for revealing ``object_type`` ``object_id``; returns the reason.

    A refusal is audited as ``<object_type>.reveal_refused`` (kept although the request is rolled back)."""
    try:
        for perm in perms:
            authorize(principal, perm)
        return reveal_reason(reason)
    except DomainError as exc:
        refused = {"reason": exc.code}
        keep_on_refusal(session, lambda s: audit.record(
            s, actor=principal.actor, action=f"{object_type}.reveal_refused", object_type=object_type,
            object_id=object_id, after=refused))
        raise
