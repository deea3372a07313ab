"""Audit log routes (auditor only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from zhili.core import audit_service
from zhili.core.deps import CurrentUser, Db, Paging
from zhili.core.schemas import Page

router = APIRouter(prefix="/audit", tags=["审计"])


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


@router.get("/events", response_model=Page[AuditEventOut], summary="审计日志")
def list_events(
    session: Db, principal: CurrentUser, paging: Paging,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AuditEventOut]:
    rows, total = audit_service.list_events(session, principal=principal, action=action, object_type=object_type,
                                            object_id=object_id, actor=actor, page=paging.page,
                                            page_size=paging.page_size)
    return Page(items=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows], total=total,
                page=paging.page, page_size=paging.page_size)


@router.post("/verify", response_model=VerifyOut, summary="校验审计链完整性")
def verify(session: Db, principal: CurrentUser) -> VerifyOut:
    r = audit_service.verify(session, principal=principal)
    return VerifyOut(ok=r.ok, checked=r.checked, problems=r.problems)
