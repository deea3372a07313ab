"""Who an account is, for the pages that name the staff who did something (督办 issued by, rule and category
history 修改人): the display name for a username, 系统 for the system actor — never the bare username."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import names
from zhili.users.models import User


def display_names(session: Session, *, usernames: Iterable[str | None]) -> dict[str, str]:
    """Username → display name of each of ``usernames`` that exists, and the system actor → 系统 (one query)."""
    wanted = {u for u in usernames if u}
    out = {u: names.SYSTEM_NAME for u in wanted if names.is_system(u)}
    rest = sorted(wanted - set(out))
    if rest:
        out.update({u: n for u, n in session.execute(
            select(User.username, User.display_name).where(User.username.in_(rest)))})
    return out
