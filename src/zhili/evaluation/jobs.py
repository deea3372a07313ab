"""The scheduled 4E work, run by the server's intelligence thread under a lease: score the periods that are due
(:func:`zhili.evaluation.service.due_periods`: the current month so far, the last closed month, its quarter and —
in January — the year) for every district, and remind the communities whose data sets are late.

Each period is scored in its own transaction, so one failure (logged) does not hold up the rest, and a closed
period whose inputs did not change keeps its stored run (no new row, no audit entry)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import names
from zhili.core.clock import today
from zhili.core.db import utcnow
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.evaluation import forms_status, service
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import valid_on

log = logging.getLogger(__name__)
LEASE = "eval_scores"


def system_principal(district_path: str) -> Principal:
    """The platform itself scoring one district (the command centre's rights over that district)."""
    return Principal(user_id=uuid.UUID(int=0), username=names.SYSTEM_USERNAME, display_name=names.SYSTEM_NAME,
                     role=Role.command_centre, scope_paths=(district_path,))


def districts(session: Session, day: dt.date | None = None) -> list[str]:
    return list(session.scalars(select(Unit.path).where(Unit.level == UnitLevel.district,
                                                        valid_on(Unit, day or today())).order_by(Unit.path)))


@dataclass
class JobReport:
    scored: list[str] = field(default_factory=list)  # "period@district" newly stored
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reminded: int = 0


def run_due(session_scope: Callable[[], AbstractContextManager[Session]], *, holder: str, every_s: int,
            now: dt.datetime | None = None) -> JobReport | None:
    """Score what is due unless another process holds the lease or it ran within ``every_s`` seconds."""
    from zhili.cases.models import JobLock
    from zhili.cases.sweep import take_lease

    now = now or utcnow()
    with session_scope() as s:
        if take_lease(s, LEASE, holder=holder, every_s=every_s, now=now, hold_s=3600) is None:
            return None
    report = JobReport()
    with session_scope() as s:
        roots = districts(s)
    for root in roots:
        for period in service.due_periods(today()):
            try:
                with session_scope() as s:
                    out = service.run_period(s, principal=system_principal(root), period=period, root_path=root)
                (report.scored if out.created else report.unchanged).append(f"{period}@{root}")
            except Exception:
                log.exception("4E scoring of %s for %s failed", period, root)
                report.failed.append(f"{period}@{root}")
    try:
        with session_scope() as s:
            report.reminded = forms_status.remind_due(s, now)
    except Exception:
        log.exception("4E data-set reminders failed")
    with session_scope() as s:
        lock = s.get(JobLock, LEASE)
        if lock is not None:
            lock.last_run_at, lock.until = utcnow(), None
    return report
