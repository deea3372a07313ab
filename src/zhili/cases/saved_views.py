"""Saved case-list filters (常用视图): each staff user keeps a few named filters of the case list.

A view is the list's query string as ``GET /console/cases`` takes it (the page canonicalises it first). A personal
number is never stored: a view holding a reporter's phone, or any value that is an ID or phone number, is refused
— that search is only ever posted. Every function acts on the caller's own views alone: another user's view is
answered as one that does not exist (404).
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.models import SavedFilter
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.validators import personal_number_kind

NAME_MAX = 30
QUERY_MAX = 1000
MAX_VIEWS = 20  # per user
_PERSONAL_KEYS = frozenset({"reporter_phone", "phone", "mobile", "id_number"})


def list_views(session: Session, *, principal: Principal) -> list[SavedFilter]:
    """The caller's saved views, oldest first."""
    authorize(principal, Perm.case_read)
    return list(session.scalars(select(SavedFilter).where(SavedFilter.user_id == principal.user_id)
                                .order_by(SavedFilter.created_at, SavedFilter.name)))


def save_view(session: Session, *, principal: Principal, name: str, query: str) -> SavedFilter:
    """Save ``query`` under ``name`` (≤ 30 characters); a view of the same name is replaced."""
    authorize(principal, Perm.case_read)
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("请填写视图名称", code="view_name_required")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"视图名称不能超过{NAME_MAX}个字", code="view_name_too_long")
    query = (query or "").strip().lstrip("?")
    if len(query) > QUERY_MAX:
        raise ValidationFailed("筛选条件太长，无法保存", code="view_query_too_long")
    if any(k.lower() in _PERSONAL_KEYS or personal_number_kind(v) for k, v in parse_qsl(query)):
        raise ValidationFailed("常用视图不能保存手机号或身份证号", code="view_personal_number")
    view = session.scalar(select(SavedFilter).where(SavedFilter.user_id == principal.user_id,
                                                    SavedFilter.name == name))
    if view is None:
        count = session.scalar(select(func.count()).select_from(SavedFilter)
                               .where(SavedFilter.user_id == principal.user_id)) or 0
        if count >= MAX_VIEWS:
            raise ValidationFailed(f"最多保存{MAX_VIEWS}个常用视图，请先删除不用的视图", code="too_many_views")
        view = SavedFilter(user_id=principal.user_id, name=name, query=query)
        session.add(view)
    else:
        view.query = query
    session.flush()
    return view


def delete_view(session: Session, *, principal: Principal, view_id: uuid.UUID) -> None:
    """Delete one of the caller's views (another user's, or none: 404)."""
    authorize(principal, Perm.case_read)
    view = session.get(SavedFilter, view_id)
    if view is None or view.user_id != principal.user_id:
        raise NotFound("常用视图不存在")
    session.delete(view)
    session.flush()
