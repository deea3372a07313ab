"""The rental warnings (出租房屋预警) of a principal's jurisdiction, for the pages of those who hold ``rental:read``.

The rental rules raise their warnings into :mod:`zhili.intel.warnings` (kinds ``rental_*``), whose reading needs
``intel:read`` — which a grid worker does not hold, although the warnings about the rooms of their grid are theirs
to check. As the map's outlines for residents (``casepages.map_principal``), the read is made as the same user, in
the same jurisdiction, with ``intel:read`` added for this one purpose and only for the rental kinds; deciding on a
warning (排除 / 转为事件) stays with ``intel:warn`` on the intelligence pages.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel import warnings as warn

KINDS = tuple(k for k in warn.KINDS if k.startswith("rental_"))
LIMIT = 100


def rental_warnings(session: Session, *, principal: Principal, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The open rental warnings of the principal's jurisdiction, newest first, each with the room it is about
    (``room_id``, None when the warning names none — a tenant's double registration names a person)."""
    authorize(principal, Perm.rental_read)
    reader = dataclasses.replace(principal, extra_perms=principal.extra_perms | {Perm.intel_read})
    rows: list[Any] = []
    for kind in KINDS:
        rows += warn.list_warnings(session, principal=reader, state="open", kind=kind, limit=limit)
    rows.sort(key=lambda w: (w.raised_at, w.id), reverse=True)
    return [_view(w) for w in rows[:limit]]


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
