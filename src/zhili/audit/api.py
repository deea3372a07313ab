"""Audit log routes (auditor only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zhili.audit import service
from zhili.audit.schemas import AuditEventOut, VerifyOut
from zhili.core.schemas import Page
from zhili.http.deps import CurrentUser, Db, Paging, reads_only

router = APIRouter(prefix="/audit", tags=["审计"])


@router.get("/events", response_model=Page[AuditEventOut], summary="审计日志")
def list_events(
    session: Db, principal: CurrentUser, paging: Paging,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AuditEventOut]:
    rows, total = service.list_events(session, principal=principal, action=action, object_type=object_type,
                                      object_id=object_id, actor=actor, page=paging.page,
                                      page_size=paging.page_size)
    return Page(items=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows], total=total,
                page=paging.page, page_size=paging.page_size)


@router.post("/verify", response_model=VerifyOut, summary="校验审计链完整性")
@reads_only
def verify(session: Db, principal: CurrentUser) -> VerifyOut:
    r = service.verify(session, principal=principal)
    return VerifyOut(ok=r.ok, checked=r.checked, problems=r.problems)
