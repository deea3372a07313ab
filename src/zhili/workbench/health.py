"""The system health the administrator's workbench shows: what ``zhili check`` verifies that is quick to read — the
database answers, its schema is at the newest migration, the read replica (when there is one) answers and keeps
up, the key material is protected, the working calendar knows
this year's holidays, the deadline sweep runs. Nothing slow: the audit chain is verified by the auditor on the audit
pages, and the key material was checked against the stored data when the server started (it refuses to start
otherwise)."""

from __future__ import annotations

import datetime as dt
import functools
import stat
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhili.cases.models import JobLock
from zhili.core import migrate, replica
from zhili.core.clock import today, utcnow
from zhili.core.db import get_read_engine
from zhili.core.settings import Settings, get_settings
from zhili.worktime.service import calendar_warnings

OK, PROBLEM, INFO = "ok", "problem", "info"
SWEEP_LATE_FACTOR = 10  # the sweep is late when it has not run for this many intervals


@dataclass(frozen=True)
class Check:
    """One line of the health list: what was checked (a message id), its status and the message id (with its
    parameters) saying what was found."""

    key: str
    status: str  # ok | problem | info
    detail: str
    params: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _head_revision() -> str | None:
    return migrate.head_revision()  # reads the packaged migration scripts: once per process


def _database(session: Session) -> list[Check]:
    dialect = session.get_bind().dialect.name
    try:
        session.execute(text("SELECT 1"))
        current = migrate.current_revision(session.connection())
    except Exception:  # noqa: BLE001 - any failure to answer is the finding
        return [Check("db", PROBLEM, "db_down", {"dialect": dialect})]
    head = _head_revision()
    schema = Check("schema", OK, "schema_ok", {"current": current}) if current == head else \
        Check("schema", PROBLEM, "schema_old", {"current": current or "—", "head": head or "—"})
    return [Check("db", OK, "db_ok", {"dialect": {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect,
                                                                                                    dialect)}),
            schema]


def _keys(settings: Settings) -> list[Check]:
    suite = Check("crypto", OK, "crypto_aes" if settings.crypto_suite == "aes" else "crypto_sm")
    if settings.keys:
        return [Check("keys", OK, "keys_env"), suite]
    path = settings.effective_key_file
    if not path.exists():
        return [Check("keys", PROBLEM, "keys_missing"), suite]
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [Check("keys", PROBLEM, "keys_open", {"mode": oct(mode)}), suite]
    return [Check("keys", OK, "keys_file"), suite]


def _calendar(session: Session, year: int) -> Check:
    """This year's holidays must be known (packaged, or entered as overrides); next year's is a reminder."""
    missing = {w.year: w.overrides for w in calendar_warnings(session, years=[year, year + 1])}
    if year in missing:
        if missing[year]:
            return Check("calendar", INFO, "calendar_overrides", {"year": year, "n": missing[year]})
        return Check("calendar", PROBLEM, "calendar_missing", {"year": year})
    if year + 1 in missing and not missing[year + 1]:
        return Check("calendar", INFO, "calendar_next", {"year": year + 1})
    return Check("calendar", OK, "calendar_ok", {"year": year})


def _sweep(session: Session, settings: Settings, now: dt.datetime) -> Check:
    if settings.sweep_interval_s <= 0 or settings.env == "test":
        return Check("sweep", INFO, "sweep_off")
    lock = session.get(JobLock, "deadline_sweep")
    if lock is None or lock.last_run_at is None:
        return Check("sweep", PROBLEM, "sweep_never")
    if (now - lock.last_run_at).total_seconds() > settings.sweep_interval_s * SWEEP_LATE_FACTOR:
        return Check("sweep", PROBLEM, "sweep_late", {"at": lock.last_run_at})
    return Check("sweep", OK, "sweep_ok", {"at": lock.last_run_at})


def replica_check(status: replica.ReplicaStatus, settings: Settings) -> Check:
    """The read replica's line: answering and how far behind, or down and where its reads go meanwhile."""
    if not status.up:
        return Check("replica", PROBLEM, "replica_down_primary" if settings.read_on_replica_down == "primary"
                     else "replica_down_fail", {"error": status.error or "—"})
    if not status.standby:
        return Check("replica", PROBLEM, "replica_not_standby")
    lag = {"seconds": "—" if status.lag_s is None or status.lag_s == float("inf") else f"{status.lag_s:.1f}",
           "kb": f"{(status.lag_bytes or 0) / 1024:.0f}"}
    if replica.is_behind(status, settings):
        return Check("replica", PROBLEM, "replica_behind", {**lag, "max": f"{settings.read_max_lag_s:g}"})
    return Check("replica", OK, "replica_ok", lag)


def _replica(session: Session, settings: Settings) -> list[Check]:
    engine = get_read_engine()
    if engine is None:
        return []
    return [replica_check(replica.probe(engine, session.get_bind().engine), settings)]


def system_health(session: Session, *, settings: Settings | None = None, now: dt.datetime | None = None
                  ) -> list[Check]:
    """The quick checks, in the order ``zhili check`` prints them, then the calendar and the sweep. Reads no
    personal or case data; the caller decides who may see it (the administrator's workbench)."""
    settings = settings or get_settings()
    return [*_database(session), *_replica(session, settings), *_keys(settings), _calendar(session, today().year),
            _sweep(session, settings, now or utcnow())]
