"""Database plumbing: engine, sessions, declarative base and portable column types.

SQLite (embedded default) runs in WAL mode with foreign keys on; PostgreSQL is production. Services
``flush()``; the request or job wrapper (:func:`unit_of_work`: :func:`session_scope`, the request dependency)
commits or rolls back. A refusal that must leave a trace (a failed login, a refused SMS code, a refused reveal)
is written with :func:`keep_on_refusal`: the wrapper rolls the refused work back and writes the trace again in a
fresh transaction (:func:`roll_back_refused`), so no route commits by hand.

Concurrency on SQLite (one writer at a time): a transaction that will write takes the write lock before its first
read — :func:`write_guard` to queue behind this process's and other processes' writers, then ``BEGIN IMMEDIATE`` —
because a read transaction that later tries to write fails at once with "database is locked" when another writer
committed since it began (the busy timeout does not apply to that upgrade). Reads (GET requests, searches and
exports) run in deferred read transactions that never wait; what a read must leave behind (the audit entry of an
export) is written with :func:`write_after_read`, in a short write transaction of its own once the read has ended.
A database still busy after waiting is :func:`busy_error`: a 503 with a Chinese "try again", never a 500; one that
cannot be reached (PostgreSQL restarting) is :func:`unavailable_error`, a 503 too.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from zhili.core.clock import utcnow as utcnow  # re-exported: the models' column defaults take it from here
from zhili.core.errors import DatabaseBusy, DatabaseUnavailable, DomainError
from zhili.core.settings import Settings, get_settings

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention (needed for Alembic on SQLite)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


PATH_COLLATION = "C"  # PostgreSQL: byte order, so "under p" is one index range (see core.jurisdiction)


def path_string(length: int = 400) -> String:
    """The type of a materialized-path column (``unit.path`` and every row scoped by it).

    On PostgreSQL the column is in the C collation: byte order, as in SQLite's BINARY indexes and Python's
    ``sorted`` — a parent sorts right before its descendants, "under ``p``" is the range ``p/ <= path < p0`` and
    the path index serves it (and ``LIKE 'p/%'``); a linguistic collation (``zh_CN.UTF-8``, ``en_US.UTF-8``, even
    ``C.UTF-8`` for LIKE) leaves every scoped query a sequential scan. SQLite keeps its default BINARY."""
    return String(length).with_variant(String(length, collation=PATH_COLLATION), "postgresql")


def refresh_statistics(engine: Engine) -> None:
    """After a bulk load (the demo seed): ``VACUUM (ANALYZE)`` on PostgreSQL, so the planner knows the new tables'
    sizes and index-only scans can skip the heap, without waiting for autovacuum (which may be off, or far behind
    a load of millions of rows: on the large demo, an un-analysed ``supervision`` table turned the command
    centre's open-supervision count from a 76 ms hash join into a 200–700 ms nested loop). SQLite keeps no
    statistics unless asked, and its plans here are chosen without them (docs/benchmarks.md): nothing to do."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def include_object_on(dialect: str) -> Any:
    """Alembic's ``include_object`` for a connection of ``dialect``: a model object declared for another dialect
    only (``Index(...).ddl_if(dialect="postgresql")``, which ``create_all`` honours and Alembic's comparison does
    not) is left out of the comparison."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        only = getattr(obj, "_ddl_if", None)
        return only is None or only.dialect is None or only.dialect == dialect

    return include


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSON that is JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Versioned:
    """Mixin of the register's versioned rows (buildings, persons, rooms, stays …): created/updated times and a
    ``version`` the ORM checks on every UPDATE (optimistic locking: a stale edit fails instead of overwriting)."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class ShapedJSON(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) that is always read back in its declared shape: an object, or a list (of strings
    only, with ``strings``). The writers validate; a row written past them (an old version, an import, a hand edit)
    reads as the empty shape — or ``None`` where the column allows none — so no reader, list or export trips over
    it. Declare the shape on every JSON column a reader relies on."""

    impl = JSON
    cache_ok = True

    def __init__(self, shape: type[dict[str, Any]] | type[list[Any]], *, strings: bool = False,
                 none: bool = False) -> None:
        super().__init__()
        self.shape, self.strings, self.none = shape, strings, none

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None and self.none:
            return None
        if not isinstance(value, self.shape):
            return self.shape()
        if self.strings:
            return [v for v in value if isinstance(v, str)]
        return value


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


def make_engine(url: str | None = None, *, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the configured database), with SQLite pragmas applied."""
    settings = settings or get_settings()
    url = url or settings.effective_database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path and path != ":memory:":
            # Enough pooled connections for the request threads (40 in the server's thread pool), so connections
            # are reused instead of opened per request (each open runs the pragmas below).
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", 30)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, control transactions so BEGIN is emitted consistently.
        event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
        # Writers take the write lock at BEGIN (IMMEDIATE): a deferred transaction that later tries to upgrade from
        # read to write fails at once with "database is locked" under concurrency instead of waiting its turn.
        event.listen(engine, "begin", lambda c: c.exec_driver_sql(
            "BEGIN IMMEDIATE" if c.get_execution_options().get("zhili_write", True) else "BEGIN"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


_sqlite_write_lock = threading.Lock()
_file_locks: dict[tuple[int, str], int] = {}  # (pid, database) → descriptor; a forked child opens its own


class _SqliteWriteLock:
    """The in-process lock plus an exclusive ``flock`` on ``<database>-writelock``, so the server's worker
    processes (and CLI jobs) queue on the kernel instead of SQLite's sleeping busy handler."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._held = False

    def __enter__(self) -> None:
        if self._held:  # taken by try_acquire
            return
        self._acquire(blocking=True)

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it (True), without waiting; then use the object as a context manager."""
        return self._acquire(blocking=False)

    def _acquire(self, *, blocking: bool) -> bool:
        if not _sqlite_write_lock.acquire(blocking=blocking):
            return False
        if self.path:
            try:
                key = (os.getpid(), self.path)
                fd = _file_locks.get(key)
                if fd is None:
                    fd = _file_locks[key] = os.open(self.path + "-writelock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    _sqlite_write_lock.release()
                    return False
                self._fd = fd
            except BaseException:
                _sqlite_write_lock.release()
                raise
        self._held = True
        return True

    def __exit__(self, *exc: object) -> None:
        self._held = False
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._fd = None
        finally:
            _sqlite_write_lock.release()


class _NoLock(nullcontext[None]):
    """PostgreSQL: no lock; always free."""

    def try_acquire(self) -> bool:
        return True


def write_guard(engine: Engine) -> _SqliteWriteLock | _NoLock:
    """On SQLite, the lock write transactions queue on (in this process and across processes).

    SQLite admits one writer at a time; threads that find the database busy back off in sleeps of up to 100 ms
    (its busy handler), which under load turns into seconds of latency. Queueing on a lock instead wakes the next
    writer the moment the previous one commits. PostgreSQL needs none of this."""
    if engine.dialect.name != "sqlite":
        return _NoLock()
    return _SqliteWriteLock(sqlite_file(engine))


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None for PostgreSQL, an in-memory or a URI-named database)."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


@functools.lru_cache(maxsize=16)
def database_key(engine: Engine) -> str:
    """A string naming the database an engine talks to (password hidden), computed once per engine — the key of
    per-process caches that must not mix two databases (tests run several)."""
    return engine.url.render_as_string(hide_password=True)


_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None
_read_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    """The process-wide engine (created lazily)."""
    global _engine
    if _engine is None:
        _engine = make_engine()
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Replace the process-wide engine (tests, CLI ``--database``); the read replica's engine is derived afresh from
    the settings (:func:`get_read_engine`) — a replica belongs to its primary."""
    global _engine, _factory, _read_factory
    _engine = engine
    _factory = _read_factory = None
    set_read_engine(None, configured=False)


def session_factory() -> sessionmaker[Session]:
    """The process-wide session factory (transactions that may write)."""
    global _factory
    if _factory is None:
        _factory = sessionmaker(bind=get_engine(), expire_on_commit=False)
    return _factory


_READ = "zhili_read"  # Session.info: a read session (its transactions are deferred on SQLite)


def read_session_factory() -> sessionmaker[Session]:
    """Sessions for requests that read (GET, POSTed searches and exports): on SQLite they start a deferred
    transaction, so they never wait for writers in WAL mode. They must not write in it — on SQLite a read
    transaction cannot safely become a write transaction — but hand what they must write to
    :func:`write_after_read`."""
    global _read_factory
    if _read_factory is None:
        _read_factory = sessionmaker(bind=get_engine().execution_options(zhili_write=False), expire_on_commit=False,
                                     info={_READ: True})
    return _read_factory


# -- the streaming read replica ----------------------------------------------------------------------------------

_replica_engine: Engine | None = None
_replica_configured = False  # _replica_engine was set (from the settings or by set_read_engine), None included
_replica_factory: sessionmaker[Session] | None = None
_replica_lock = threading.Lock()
_PRIMARY = "zhili_primary"  # Session.info of a replica session: the request's primary session (writes go there)


def make_read_engine(url: str, *, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine for a read replica: a small pool that gives up quickly (a short libpq ``connect_timeout``, a short
    wait for a pooled connection) and no pre-ping — the request's first statement on it (``zhili.core.replica``)
    is the ping, and its failure sends the read to the primary."""
    settings = settings or get_settings()
    connect_args = {"connect_timeout": max(2, settings.read_connect_timeout_s), "application_name": "zhili-read",
                    **kwargs.pop("connect_args", {})}
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 2)
    kwargs.setdefault("pool_pre_ping", False)
    return create_engine(url, connect_args=connect_args, **kwargs)


def get_read_engine() -> Engine | None:
    """The read replica's engine (``ZHILI_READ_DATABASE_URL``), or None: no replica configured, or a SQLite primary
    (reads then use :func:`get_engine`). Created lazily, once per process."""
    global _replica_engine, _replica_configured
    if not _replica_configured:
        with _replica_lock:
            if not _replica_configured:
                settings = get_settings()
                url = settings.read_database_url.strip()
                usable = url and get_engine().dialect.name == "postgresql"
                _replica_engine = make_read_engine(url, settings=settings) if usable else None
                _replica_configured = True
    return _replica_engine


def set_read_engine(engine: Engine | None, *, configured: bool = True) -> None:
    """Use ``engine`` as the read replica (None: no replica); ``configured=False`` derives it from the settings
    again on the next :func:`get_read_engine` (tests)."""
    global _replica_engine, _replica_configured, _replica_factory
    with _replica_lock:
        _replica_engine, _replica_configured, _replica_factory = engine, configured, None


def replica_session_factory() -> sessionmaker[Session] | None:
    """Read sessions on the replica, or None when there is none. They must not write — a standby refuses — and need
    not: what a read leaves behind (:func:`write_after_read`) or keeps on a refusal (:func:`keep_on_refusal`) goes
    to the primary session given by :func:`bind_primary`."""
    global _replica_factory
    engine = get_read_engine()
    if engine is None:
        return None
    if _replica_factory is None or _replica_factory.kw.get("bind") is not engine:
        _replica_factory = sessionmaker(bind=engine, expire_on_commit=False, info={_READ: True})
    return _replica_factory


def bind_primary(replica: Session, primary: Session) -> Session:
    """Make ``primary`` the session that takes what ``replica`` must write (audit entries of exports, traces of
    refusals); returns ``replica``."""
    replica.info[_PRIMARY] = primary
    return replica


def _writer_of(session: Session) -> Session:
    primary: Session | None = session.info.get(_PRIMARY)
    return session if primary is None else primary


# -- writes a read leaves behind -------------------------------------------------------------------------------

_AFTER_READ = "zhili_after_read"


def write_after_read(session: Session, write: Callable[[Session], Any]) -> None:
    """Write what a read leaves behind (the audit entry of an export or a download) without turning the read into a
    write. In a session that may write, ``write`` runs now, in its transaction. In a read session
    (:func:`read_session_factory`) it runs when the read has ended successfully (the unit of work, :func:`settle`),
    in a short write transaction of its own that queues behind the other writers — before the answer is sent, so
    nothing is answered whose trace was not committed. A read that fails writes nothing. A replica's session hands
    ``write`` to its primary session (:func:`bind_primary`)."""
    session = _writer_of(session)
    if not session.info.get(_READ):
        write(session)
        return
    session.info.setdefault(_AFTER_READ, []).append(write)


def _write_apart(session: Session, writes: list[Callable[[Session], Any]]) -> None:
    """Run ``writes`` in a write transaction of their own on a read session (its previous transaction has ended):
    queued on the write lock, begun IMMEDIATE, committed."""
    with write_guard(session.get_bind().engine):
        session.connection(execution_options={"zhili_write": True})
        try:
            for write in writes:
                write(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise


@event.listens_for(Session, "after_rollback")
def _forget_after_read(session: Session) -> None:
    session.info.pop(_AFTER_READ, None)


# -- a database that stays busy ----------------------------------------------------------------------------------

_SQLITE_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available (lock_timeout, NOWAIT)
_PG_BUSY = {"40001", "40P01", "55P03"}


def busy_error(exc: BaseException) -> DatabaseBusy | None:
    """The 503 to answer for a database error that only means "busy, try again" — SQLite still locked after the
    busy timeout, a PostgreSQL serialization failure, deadlock or lock timeout, no pooled connection free in time —
    or None for any other error."""
    if isinstance(exc, sa_exc.TimeoutError):  # the connection pool stayed exhausted
        return DatabaseBusy()
    if not isinstance(exc, sa_exc.OperationalError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if (isinstance(code, int) and code & 0xFF in _SQLITE_BUSY) or getattr(orig, "sqlstate", None) in _PG_BUSY:
        return DatabaseBusy()
    if type(orig).__module__.startswith("sqlite3") and str(orig).strip().lower() in _SQLITE_BUSY_TEXT:
        return DatabaseBusy()
    return None


# PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now (starting up, in recovery), too_many_connections;
# and the whole class 08 (connection exception)
_PG_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}


def unavailable_error(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 to answer for a database that cannot be reached — PostgreSQL down, shutting down, starting up or in
    crash recovery, or the connection lost in the middle of the request — or None for any other error. SQLAlchemy
    invalidates such a connection (and, with ``pool_pre_ping``, the pool replaces the others when they are next
    used), so the process carries on by itself once the server is back. An error raised while a lost connection was
    being handled (SQLAlchemy's PendingRollbackError from a clean-up step, say) is the same outage: the causes and
    contexts of ``exc`` are looked through."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        found = _unavailable_one(cur)
        if found is not None:
            return found
        cur = cur.__cause__ or cur.__context__
    return None


def _unavailable_one(exc: BaseException) -> DatabaseUnavailable | None:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable()
    if not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return None
    orig = exc.orig
    if not type(orig).__module__.startswith("psycopg"):
        return None
    state = getattr(orig, "sqlstate", None)
    # psycopg gives no SQLSTATE for a failure of the connection itself (refused, closed, lost)
    if state is None or state.startswith("08") or state in _PG_UNAVAILABLE:
        return DatabaseUnavailable()
    return None


# -- refusals that leave a trace -------------------------------------------------------------------------------

_KEPT = "zhili_kept_on_refusal"


def keep_on_refusal(session: Session, write: Callable[[Session], T]) -> T:
    """Run ``write`` now, and again after the refusal the caller is about to raise has rolled back its request.

    For what must outlive a refusal: the failure count and lock of a failed login, the attempt counter of a wrong
    SMS code, the audit record of a refused request. ``write`` must be repeatable on a fresh transaction (read
    what it changes again rather than trust values computed before the rollback). The writes are forgotten when
    the session commits. A replica's session keeps them on its primary session (:func:`bind_primary`)."""
    session = _writer_of(session)
    result = write(session)
    session.info.setdefault(_KEPT, []).append(write)
    return result


def roll_back_refused(session: Session) -> None:
    """Roll back the work of a refused request and write again, in the fresh transaction, what its services kept
    with :func:`keep_on_refusal` (the unit of work commits it; in a read session they are written and committed at
    once, in a write transaction of their own). Page handlers that show a refused form call this instead of
    ``rollback()``; the unit of work calls it for a refusal that ends the request."""
    kept: list[Callable[[Session], Any]] = list(session.info.get(_KEPT, ()))
    session.rollback()
    if kept and session.info.get(_READ):
        _write_apart(session, kept)
        return
    for write in kept:
        write(session)
    session.flush()


@event.listens_for(Session, "after_commit")
def _forget_kept(session: Session) -> None:
    session.info.pop(_KEPT, None)


@contextmanager
def settle(session: Session) -> Iterator[Session]:
    """Commit the work done inside on success and roll it back on error; on a refusal (a :class:`DomainError`)
    what the services kept with :func:`keep_on_refusal` is committed after the rollback. After a read session's
    successful read, what it handed to :func:`write_after_read` is written in a transaction of its own."""
    try:
        yield session
        session.commit()
        after_read: list[Callable[[Session], Any]] = session.info.pop(_AFTER_READ, [])
        if after_read:
            _write_apart(session, after_read)
    except DomainError:
        if not session.info.get(_KEPT):
            session.rollback()
            raise
        try:
            roll_back_refused(session)
            session.commit()
        except Exception:
            session.rollback()
            raise
        raise
    except BaseException:
        session.rollback()
        raise


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``factory``, settled on exit (:func:`settle`) and closed."""
    session = factory()
    try:
        with settle(session):
            yield session
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work for jobs and CLI commands (queued behind other writers on SQLite)."""
    with write_guard(get_engine()), unit_of_work(session_factory()) as session:
        yield session


# -- bulk inserts prepared ahead of the write lock -------------------------------------------------------------


DriverRow = tuple[Any, ...] | dict[str, Any]  # parameters as the database driver takes them


class PreparedInsert:
    """A multi-row INSERT of one table and column set, compiled once per dialect, whose rows are converted to the
    driver's values (every column type's bind processor, as SQLAlchemy would apply them) when they are *prepared*
    rather than when they are executed — so a writer can do that work before it takes the write lock, and hold the
    lock only for the driver's ``executemany``."""

    def __init__(self, table: Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        if compiled.insert_prefetch:  # a Python-side default SQLAlchemy would fill in: rows must carry it
            raise ValueError(f"{table.name}: rows lack {[c.key for c in compiled.insert_prefetch]}")
        self.sql = compiled.string
        self.positional = compiled.positional
        order = list(compiled.positiontup or ()) if compiled.positional else list(keys)
        if set(order) != set(keys):
            raise ValueError(f"{table.name}: bind names {order} differ from the row keys {keys}")
        self.keys = tuple(order)
        self._steps = tuple((k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in self.keys)

    def row(self, values: dict[str, Any]) -> DriverRow:
        """``values`` (every key of the statement) as the driver's parameters."""
        out = [values[k] if p is None else p(values[k]) for k, p in self._steps]
        return tuple(out) if self.positional else dict(zip(self.keys, out, strict=True))

    def with_value(self, row: DriverRow, key: str, value: str) -> DriverRow:
        """A prepared row with one plain string column replaced (a value known only under the lock)."""
        if isinstance(row, dict):
            return {**row, key: value}
        i = self.keys.index(key)
        return (*row[:i], value, *row[i + 1:])


_prepared: dict[tuple[str, tuple[str, ...], str, str], PreparedInsert] = {}


def prepared_insert(table: Table, keys: tuple[str, ...], dialect: Dialect) -> PreparedInsert:
    """The cached :class:`PreparedInsert` of ``table`` for rows with ``keys`` on ``dialect``."""
    cache_key = (table.name, keys, dialect.name, dialect.paramstyle)
    got = _prepared.get(cache_key)
    if got is None:
        got = _prepared[cache_key] = PreparedInsert(table, keys, dialect)
    return got


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """PostgreSQL (psycopg 3): send the statements executed inside without waiting for each one's answer — they
    travel in one pipeline and the client waits only where a result is read (:func:`driver_rows`) or at the commit
    (a transaction's ``BEGIN`` goes with its first statement). A write transaction that holds locks other writers
    wait for (the case counter, the statistics rows, the audit chain's advisory lock) is thereby held for a few
    round trips instead of one per statement. Errors are raised where the client waits, as SQLAlchemy's
    exceptions. Statements inside must not be read through SQLAlchemy's results (``description`` is unknown until
    the pipeline is synchronised): read with :func:`driver_rows`. Elsewhere a no-op."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        yield
        return
    driver: Any = conn.connection.driver_connection
    # taken now: after a lost connection ``conn.info`` would try to revalidate and raise PendingRollbackError over
    # the error that matters (a 503 told apart by unavailable_error became "intake failed")
    info = conn.info
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.pipeline():
            info[_PIPELINE] = True
            try:
                yield
            finally:
                info.pop(_PIPELINE, None)
    except dbapi_error as exc:  # raised by the pipeline's final synchronisation
        raise sa_exc.DBAPIError.instance(None, None, exc, dbapi_error) from exc


_PIPELINE = "zhili_pipeline"  # Connection.info: inside pipeline()

_driver_sql: dict[tuple[int, str], tuple[str, dict[str, Any]]] = {}


def driver_rows(conn: Connection, *steps: tuple[Any, dict[str, Any] | None]) -> list[tuple[Any, ...]]:
    """Run ``steps`` — (statement, parameters) pairs, module-level Core selects or ``text()`` with plain parameters
    (strings, numbers, dates) — in order and return the rows of the last one. On PostgreSQL they are sent together
    in a pipeline on the driver's own cursors and cost one round trip between them (with everything sent before,
    when inside :func:`pipeline`), each still a statement of its own (its own snapshot, after the previous one's
    locks). Elsewhere through SQLAlchemy, one by one."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        rows: list[tuple[Any, ...]] = []
        for statement, params in steps:
            rows = [tuple(r) for r in conn.execute(statement, params or {})]
        return rows
    driver: Any = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    sql, params = "", None
    try:  # inside pipeline() already: ride it (a nested block would synchronise first, one more round trip)
        with nullcontext() if conn.info.get(_PIPELINE) else driver.pipeline():
            cur = None
            for statement, params in steps:
                key = (id(statement), conn.dialect.name)
                got = _driver_sql.get(key)
                if got is None:
                    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
                    got = _driver_sql[key] = (compiled.string, dict(compiled.params))
                sql = got[0]
                cur = driver.cursor()
                cur.execute(sql, {**got[1], **(params or {})})
            return list(cur.fetchall()) if cur is not None else []
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc


def execute_prepared(conn: Connection, rows: list[tuple[PreparedInsert, DriverRow]]) -> None:
    """Execute prepared rows: one ``executemany`` per statement."""
    groups: dict[int, tuple[PreparedInsert, list[Any]]] = {}
    for stmt, row in rows:
        groups.setdefault(id(stmt), (stmt, []))[1].append(row)
    for stmt, params in groups.values():
        conn.exec_driver_sql(stmt.sql, params)
