"""Attachments (photos of a report or a step): stored after checking size and real type, read only through a case
the caller may see (or by their uploader before the case exists)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from zhili.cases.models import Attachment, Case
from zhili.cases.scope import can_see
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm


def set_attachment(session: Session, *, principal: Principal, data: bytes, filename: str) -> Attachment:
    """Store an uploaded file after checking its size and real type; returns the attachment (no case yet)."""
    authorize(principal, Perm.case_report)
    import hashlib

    from zhili.cases.files import check_upload, store_upload

    ctype, ext = check_upload(data)
    key = store_upload(data, ctype=ctype, ext=ext)
    att = Attachment(filename=(filename or f"upload{ext}")[:255], content_type=ctype, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), storage_key=key, uploaded_by=principal.user_id)
    session.add(att)
    session.flush()
    return att


def check_claim(attachment_id: object, found: tuple[uuid.UUID | None, uuid.UUID | None] | None, *,
                claimer: uuid.UUID | None, case_id: uuid.UUID | None) -> None:
    """The one rule for naming an attachment on a case (intake, every workflow step): ``found`` is the attachment's
    (uploaded_by, case_id), None when there is no such attachment. One already on this case may be named again; one
    on no case yet may be claimed only by its uploader (anyone else is answered as for an id that does not exist);
    one on another case is in use."""
    if found is None:
        raise ValidationFailed(f"附件 {attachment_id} 不存在", code="attachment_not_found")
    uploaded_by, on_case = found
    if on_case is not None:
        if case_id is None or on_case != case_id:
            raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
        return
    if uploaded_by is None or uploaded_by != claimer:
        raise ValidationFailed(f"附件 {attachment_id} 不存在", code="attachment_not_found")


def read_attachment(session: Session, *, principal: Principal, attachment_id: uuid.UUID) -> tuple[Attachment, bytes]:
    """An attachment's bytes as served (an image without its metadata), if its case is visible to the principal
    (or the principal uploaded it)."""
    authorize(principal, Perm.case_read)
    from zhili.cases.files import served_bytes

    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("附件不存在")
    if att.case_id is not None:
        case = session.get(Case, att.case_id)
        if case is None or not can_see(session, principal, case):
            raise NotFound("附件不存在")  # as for an id that does not exist: a case out of sight must not show
    elif att.uploaded_by != principal.user_id:
        raise NotFound("附件不存在")
    return att, served_bytes(att)
