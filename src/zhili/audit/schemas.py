"""What the audit routes return."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    seq: int
    at: dt.datetime
    actor_name: str | None
    actor_role: str | None
    ip: str | None
    action: str
    object_type: str
    object_id: str | None
    reason: str | None
    before: Any
    after: Any
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    problems: list[str]
