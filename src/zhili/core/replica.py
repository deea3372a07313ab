"""The streaming read replica: whether a read may be served there, and the replica's state.

A read routed to the replica (``zhili.http.deps.ReplicaDb``) starts with one statement on it —
:data:`STATE_SQL`, which is also the connection's ping — and is served there only if

- the replica answers (else a circuit breaker keeps it out for ``ZHILI_READ_RETRY_S`` and the read goes to the
  primary, or answers 503 with ``ZHILI_READ_ON_REPLICA_DOWN=fail``);
- it has replayed the reader's own last write (read-your-writes: the primary's WAL position after that write,
  carried by the caller, ``written``);
- it is not too far behind: it lacks no WAL the primary had written at the last sample, or it lacks at most
  ``ZHILI_READ_MAX_LAG_BYTES`` and its last replayed transaction is at most ``ZHILI_READ_MAX_LAG_S`` old. Lag in
  seconds is measured only while WAL is missing — an idle primary commits nothing, so the age of the last replayed
  transaction alone says nothing — and it is an upper bound: the replica's data is at least as new as that
  transaction.

The primary's WAL position is sampled at most every ``ZHILI_READ_CHECK_INTERVAL_S`` per process, in the request's
own primary session. Everything here is per process; a cookie carries the read-your-writes position across the
server's worker processes (``zhili.http.replica``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from zhili.core.errors import Unavailable
from zhili.core.settings import Settings, get_settings

log = logging.getLogger("zhili.replica")

# The replica's replayed WAL position (NULL when the server is not a standby) and the age, by the replica's clock,
# of the last transaction it replayed (NULL before it replayed any since it started).
STATE_SQL = text("SELECT pg_last_wal_replay_lsn()::text, "
                 "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8")
PRIMARY_LSN_SQL = text("SELECT pg_current_wal_lsn()::text")
# After a write: the end of what the primary has inserted into WAL — at or past the commit record of every
# transaction committed so far (pg_current_wal_lsn, the written position, can lag an asynchronous commit).
WRITTEN_LSN_SQL = text("SELECT pg_current_wal_insert_lsn()::text")


class ReplicaUnavailable(Unavailable):
    """The read replica does not answer and the deployment chose to fail rather than load the primary."""

    code = "read_replica_unavailable"
    default_message = "统计分析只读库暂时无法连接，请稍后重试；办理事件等操作不受影响"


class ReplicaLost(Unavailable):
    """The replica's connection broke in the middle of a read (the next read goes to the primary)."""

    code = "read_replica_lost"
    default_message = "统计分析只读库连接中断，请刷新重试"


def parse_lsn(value: str | None) -> int | None:
    """A ``pg_lsn`` as text (``16/B374D848``) as an integer (WAL bytes), or None."""
    if not value:
        return None
    try:
        high, low = value.split("/")
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class Decision:
    """Where one read goes: ``replica`` (a session on it, its transaction begun) or the primary, and why."""

    replica: Session | None
    reason: str  # replica | down | recovering | read_your_writes | lagging | not_standby


@dataclass(frozen=True)
class ReplicaStatus:
    """The replica's state as last seen by this process (or by a :func:`probe`)."""

    configured: bool
    up: bool | None  # None: not tried yet
    standby: bool | None
    lag_bytes: int | None
    lag_s: float | None
    error: str | None
    down_until_s: float  # seconds the breaker still keeps the replica out (0: closed)
    checked_at: float | None  # time.time() of the observation


class ReplicaRouter:
    """Per-process routing state: the circuit breaker, the sampled primary WAL position, the last observation."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._failures = 0
        self._primary_lsn: int | None = None
        self._primary_sampled = -math.inf
        self._last: ReplicaStatus | None = None

    # -- the breaker --------------------------------------------------------------------------------------------
    def is_down(self) -> bool:
        return self._clock() < self._down_until

    def trip(self, exc: BaseException, settings: Settings, engine: Engine | None = None) -> None:
        """The replica failed: keep it out for ``read_retry_s`` (logged once per trip), and drop its pooled
        connections (after a restart they are all dead)."""
        with self._lock:
            self._failures += 1
            self._down_until = self._clock() + settings.read_retry_s
            first = self._failures == 1
            self._last = self._status(up=False, standby=None, lag_bytes=None, lag_s=None, error=_describe(exc))
        (log.warning if first else log.info)(
            "read replica unavailable (%s); its reads go to %s for %.0f s", _describe(exc),
            "the primary" if settings.read_on_replica_down == "primary" else "503 answers", settings.read_retry_s)
        if engine is not None:
            engine.dispose()

    def _answered(self) -> None:
        if self._failures:
            with self._lock:
                if self._failures:
                    log.warning("read replica answers again after %d failed attempt(s)", self._failures)
                self._failures = 0
                self._down_until = 0.0

    # -- the primary's position ---------------------------------------------------------------------------------
    def primary_lsn(self, primary: Session, settings: Settings) -> int | None:
        """The primary's written WAL position, sampled at most every ``read_check_interval_s``."""
        now = self._clock()
        if now - self._primary_sampled >= settings.read_check_interval_s or self._primary_lsn is None:
            lsn = parse_lsn(primary.execute(PRIMARY_LSN_SQL).scalar())
            with self._lock:
                self._primary_lsn, self._primary_sampled = lsn, now
        return self._primary_lsn

    # -- one read -----------------------------------------------------------------------------------------------
    def route(self, factory: sessionmaker[Session], *, primary: Session, written: int | None,
              settings: Settings | None = None) -> Decision:
        """Open a replica session for a read if the replica may serve it, else say why not (the caller then reads
        on ``primary``). Raises :class:`ReplicaUnavailable` when the replica is down and the deployment chose
        ``read_on_replica_down=fail``."""
        settings = settings or get_settings()
        if self.is_down():
            return self._down(settings, "down")
        session = factory()
        try:
            replay_text, age = session.execute(STATE_SQL).one()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            session.close()
            self.trip(exc, settings, factory.kw.get("bind"))
            return self._down(settings, "down")
        except BaseException:
            session.close()
            raise
        self._answered()
        replay = parse_lsn(replay_text)
        if replay is None:  # not in recovery: a promoted or mistaken server, never read as a replica
            session.close()
            self._last = self._status(up=True, standby=False, lag_bytes=None, lag_s=None, error=None)
            return Decision(None, "not_standby")
        status = self._observe(replay, age, self.primary_lsn(primary, settings))
        reason = "replica"
        if written is not None and replay < written:
            reason = "read_your_writes"
        elif is_behind(status, settings):
            reason = "lagging"
        if reason != "replica":
            session.close()
            return Decision(None, reason)
        return Decision(session, reason)

    def _down(self, settings: Settings, reason: str) -> Decision:
        if settings.read_on_replica_down == "fail":
            raise ReplicaUnavailable()
        return Decision(None, reason)

    def lost(self, exc: BaseException, settings: Settings | None = None, engine: Engine | None = None) -> None:
        """A replica connection broke during a read (after its first statement answered)."""
        self.trip(exc, settings or get_settings(), engine)

    # -- what the health checks show ----------------------------------------------------------------------------
    def _status(self, *, up: bool, standby: bool | None, lag_bytes: int | None, lag_s: float | None,
                error: str | None) -> ReplicaStatus:
        return ReplicaStatus(configured=True, up=up, standby=standby, lag_bytes=lag_bytes, lag_s=lag_s, error=error,
                             down_until_s=max(0.0, self._down_until - self._clock()), checked_at=time.time())

    def _observe(self, replay: int, age: float | None, primary_lsn: int | None) -> ReplicaStatus:
        lag_bytes, lag_s = lag(replay, age, primary_lsn)
        self._last = status = self._status(up=True, standby=True, lag_bytes=lag_bytes, lag_s=lag_s, error=None)
        return status

    def last(self) -> ReplicaStatus | None:
        """What the last routed read saw, with the breaker's remaining time now."""
        last = self._last
        if last is None:
            return None
        return ReplicaStatus(**{**last.__dict__, "down_until_s": max(0.0, self._down_until - self._clock())})


_router = ReplicaRouter()


def router() -> ReplicaRouter:
    """The process's router."""
    return _router


def reset_router() -> None:
    """Forget the breaker and the samples (tests; a changed configuration)."""
    global _router
    _router = ReplicaRouter()


def probe(replica: Engine, primary: Engine) -> ReplicaStatus:
    """Ask the replica and the primary now (the health page, ``zhili check``): up or not, lag in bytes and seconds."""
    try:
        with replica.connect() as conn:
            replay_text, age = conn.execute(STATE_SQL).one()
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        last = _router.last()
        return ReplicaStatus(configured=True, up=False, standby=None, lag_bytes=None, lag_s=None,
                             error=_describe(exc), down_until_s=last.down_until_s if last else 0.0,
                             checked_at=time.time())
    replay = parse_lsn(replay_text)
    if replay is None:
        return ReplicaStatus(configured=True, up=True, standby=False, lag_bytes=None, lag_s=None, error=None,
                             down_until_s=0.0, checked_at=time.time())
    with primary.connect() as conn:
        primary_lsn = parse_lsn(conn.execute(PRIMARY_LSN_SQL).scalar())
    lag_bytes, lag_s = lag(replay, age, primary_lsn)
    return ReplicaStatus(configured=True, up=True, standby=True, lag_bytes=lag_bytes, lag_s=lag_s, error=None,
                         down_until_s=0.0, checked_at=time.time())


def lag(replay: int, age: float | None, primary_lsn: int | None) -> tuple[int, float]:
    """The replica's lag: WAL bytes it lacks of the primary's position, and — only when it lacks some — the age of
    its last replayed transaction (infinite when it replayed none since it started)."""
    lag_bytes = max(0, (primary_lsn or 0) - replay)
    lag_s = 0.0 if lag_bytes == 0 else (float(age) if age is not None else math.inf)
    return lag_bytes, lag_s


def is_behind(status: ReplicaStatus, settings: Settings) -> bool:
    """Whether a replica in this state is too far behind to be read."""
    if not status.lag_bytes:
        return False
    return (status.lag_s or 0) > settings.read_max_lag_s or bool(
        settings.read_max_lag_bytes and status.lag_bytes > settings.read_max_lag_bytes)


def _describe(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}"[:200]
