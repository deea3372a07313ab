"""The intelligence jobs the server runs in the background (and cron can run by hand through the CLI): the
early-warning scan, the coming week's grid risk ranking, and the weekly retraining of the routing models.

Each job holds a lease row (:class:`~zhili.cases.models.JobLock`) like the deadline sweep, so several server
processes run it once between them; a job that fails is logged and tried again at its next turn — it never stops
the others or the server.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.models import JobLock
from zhili.cases.sweep import take_lease
from zhili.core.db import utcnow
from zhili.core.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sessions:
    """The transactions a job may open, each a context manager yielding a session and committing on exit."""

    work: Callable[[], Any]  # the job's unit of work (its few writes come at its end)
    read: Callable[[], Any]  # reads only: on SQLite a deferred transaction, holding no write lock
    write: Callable[[], Any]  # a short write transaction, queued on the write lock like any other writer


def _scan(s: Sessions) -> Any:
    from zhili.intel import warnings

    with s.work() as session:
        return warnings.scan(session)


def _risk(s: Sessions) -> Any:
    from zhili.intel import risk

    with s.work() as session:
        return risk.rank_grids(session, principal=risk.system_principal(session))


def _retrain(s: Sessions) -> Any:
    """Fit in a read-only transaction (minutes on a large district), then store in a short write one: on SQLite a
    write transaction held through the training would stop intake and the sensors' ingest for as long."""
    from zhili.intel import routing

    with s.read() as session:
        trained = routing.fit_platform(session, principal=SYSTEM_PRINCIPAL)
    with s.write() as session:
        routing.settle_suggestions(session)
        return routing.store_platform(session, principal=SYSTEM_PRINCIPAL, trained=trained, activate="better")


def jobs() -> list[tuple[str, float, Callable[[Sessions], Any]]]:
    """(lease name, interval in seconds, job) of every enabled job."""
    s = get_settings()
    out: list[tuple[str, float, Callable[[Sessions], Any]]] = []
    if s.intel_scan_interval_s > 0:
        out.append(("intel_warning_scan", s.intel_scan_interval_s, _scan))
    if s.intel_risk_interval_s > 0:
        out.append(("intel_risk_rank", s.intel_risk_interval_s, _risk))
    if s.intel_retrain_days > 0:
        out.append(("intel_retrain", s.intel_retrain_days * 86400, _retrain))
    return out


def run_due(session_factory: Callable[[], Any], *, holder: str, now: dt.datetime | None = None,
            work_factory: Callable[[], Any] | None = None,
            read_factory: Callable[[], Any] | None = None) -> list[str]:
    """Run every due job, each in its own transaction; returns the names of those that ran.
    ``session_factory()`` is a context manager committing on exit, like :func:`zhili.core.db.session_scope`, for
    the lease rows; ``work_factory()`` (default the same) for the job itself — on SQLite the server passes one that
    does not queue behind the process's write lock (the job's few writes come at its end); ``read_factory()``
    (default ``work_factory``) for what only reads — the retraining fits there, so minutes of training hold no
    write lock."""
    work = work_factory or session_factory
    sessions = Sessions(work=work, read=read_factory or work, write=session_factory)
    ran: list[str] = []
    for name, every_s, job in jobs():
        try:
            with session_factory() as session:
                lock = take_lease(session, name, holder=holder, every_s=every_s, now=now or utcnow(), hold_s=1800)
                if lock is None:
                    continue
            job(sessions)
            with session_factory() as session:
                lock = session.get(JobLock, name)
                if lock is not None:
                    lock.last_run_at, lock.until = now or utcnow(), None
            ran.append(name)
        except Exception:
            log.exception("intelligence job %s failed; tried again at its next turn", name)
    return ran
