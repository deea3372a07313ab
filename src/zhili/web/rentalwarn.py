"""The rental warnings (出租房屋预警) of a principal's jurisdiction, for the pages of those who hold ``rental:read``.

The rental rules raise their warnings into :mod:`zhili.intel.warnings` (kinds ``rental_*``); the rental package
reads them back under ``rental:read`` (:func:`zhili.rental.rules.list_warnings`), so a grid worker, who holds no
``intel:read``, checks the warnings about the rooms of their grid; deciding on a warning (排除 / 转为事件) stays with
``intel:warn`` on the intelligence pages.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal
from zhili.intel import warnings as warn
from zhili.rental import rules

LIMIT = 100


def rental_warnings(session: Session, *, principal: Principal, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The open rental warnings of the principal's jurisdiction, newest first, each with the room it is about
    (``room_id``, None when the warning names none — a tenant's double registration names a person)."""
    return [_view(w) for w in rules.list_warnings(session, principal=principal, state="open", limit=limit)]


def _room_id(detail: Any) -> uuid.UUID | None:
    raw = detail.get("room_id") if isinstance(detail, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _view(w: Any) -> dict[str, Any]:
    return {"id": w.id, "kind": w.kind, "severity": w.severity if w.severity in warn.SEVERITIES else "yellow",
            "title": w.title, "reason": w.reason, "raised_at": w.raised_at, "room_id": _room_id(w.detail)}
