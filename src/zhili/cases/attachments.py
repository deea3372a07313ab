"""Attachments (photos of a report or a step): stored after checking size and real type, read only through a case
the caller may see (or by their uploader before the case exists)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from zhili.cases.models import Attachment, Case
from zhili.cases.scope import can_see
from zhili.core.errors import NotFound
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
