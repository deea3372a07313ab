"""Intake writers: how a request's report reaches the database.

:class:`GroupCommitWriter` (the server's default) gives each process one writer thread with a connection of its
own. Request coroutines hand it their reports and wait; the thread takes every report that has arrived — up to
``max_batch`` — plans them in a read transaction (authentication confirmed, validation, location, rules, duplicate
candidates: no write lock held) and writes them in one short write transaction, then answers each request. Under
load one commit carries many cases, so the single-writer database (SQLite) is held for the time of the INSERTs
only; when the previous batch held more than one report, the thread waits up to ``linger_s`` (2 ms) for ``fill``
reports, because a batch's fixed cost (two transactions, one statement per table) spread over more reports is the
cheapest CPU there is. With light traffic a batch is one report and nothing waits. A request is answered only after
its case is committed, so a reply always means a durable case.

If a batch fails as a whole (for example a unique-key race with another process on PostgreSQL), every report in
it is retried in a transaction of its own, so one bad report never takes the others down. A database that cannot
be reached (PostgreSQL restarting) fails the batch's reports at once with 503 and ``Retry-After``; the thread drops
its connection and the next batch opens a new one, so intake resumes by itself when the database is back.

:class:`SessionWriter` files a report in a given session (tests, jobs): the same code path, a batch of one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.cases.intake import (
    IntakeOutcome,
    IntakeRequest,
    PlannedBatch,
    file_cases,
    merge_batches,
    plan_cases,
    write_cases,
)
from zhili.core.db import busy_error, get_engine, pipeline, sqlite_file, unavailable_error, write_guard
from zhili.core.errors import Unavailable

log = logging.getLogger(__name__)


class IntakeWriter(Protocol):
    """Files one report and returns its outcome once it is durable."""

    def submit(self, request: IntakeRequest) -> IntakeOutcome: ...

    async def submit_async(self, request: IntakeRequest) -> IntakeOutcome: ...


class SessionWriter:
    """Files reports in the caller's session (committed by the caller)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def submit(self, request: IntakeRequest) -> IntakeOutcome:
        """File one report in the session."""
        [out] = file_cases(self.session, requests=[request])
        return out

    async def submit_async(self, request: IntakeRequest) -> IntakeOutcome:
        """The same, from a coroutine (the session is used on the caller's thread)."""
        return self.submit(request)


def _pragma(conn: Connection, pragma: str) -> None:
    """Run a PRAGMA on the driver's connection, outside any transaction (SQLAlchemy would begin one)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA {pragma}").close()


_STOP = object()
_Item = tuple[IntakeRequest, Callable[[IntakeOutcome], object], Callable[[BaseException], object]]


def _timeout() -> Unavailable:
    return Unavailable("事件保存超时，请稍后重试（重试时请携带同一 Idempotency-Key）", code="intake_timeout")


class GroupCommitWriter:
    """One writer thread per process that commits the reports waiting for it together."""

    def __init__(self, *, max_batch: int = 64, timeout_s: float = 30.0, engine: Engine | None = None,
                 linger_s: float = 0.002, fill: int = 16, checkpoint_bytes: int = 4 << 20) -> None:
        self.engine = engine  # None: the process's engine
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.fill = fill
        self.timeout_s = timeout_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._stop_seen = False
        self.checkpoint_bytes = checkpoint_bytes
        self.batches = 0
        self.cases = 0

    def submit(self, request: IntakeRequest) -> IntakeOutcome:
        """Queue a report and wait (blocking this thread) until its batch is committed."""
        fut: Future[IntakeOutcome] = Future()
        self._ensure_started()
        self._queue.put((request, fut.set_result, fut.set_exception))
        try:
            return fut.result(timeout=self.timeout_s)
        except TimeoutError as exc:
            raise _timeout() from exc

    async def submit_async(self, request: IntakeRequest) -> IntakeOutcome:
        """Queue a report and await its commit without holding a thread."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IntakeOutcome] = loop.create_future()

        def settle(out: IntakeOutcome | None, exc: BaseException | None) -> None:
            if fut.done():  # the caller gave up (timeout, disconnect)
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(out)  # type: ignore[arg-type]

        def ok(out: IntakeOutcome) -> None:
            loop.call_soon_threadsafe(settle, out, None)

        def fail(exc: BaseException) -> None:
            loop.call_soon_threadsafe(settle, None, exc)

        self._ensure_started()
        self._queue.put((request, ok, fail))
        try:
            return await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError as exc:
            raise _timeout() from exc

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop_seen = False
                self._thread = threading.Thread(target=self._run, name="zhili-intake-writer", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the reports already queued, then end the thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)
            if thread.is_alive():  # still writing: leave it its connection
                return
        self._thread = None
        self._drop_connection()

    def _run(self) -> None:
        last = 0  # the previous batch's size: more than one means reports are arriving faster than one at a time
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            items: list[_Item] = [item]  # type: ignore[list-item]
            # Under load (``linger``), wait up to ``linger_s`` until ``fill`` reports are there. Each batch has a
            # fixed cost (transactions, one statement per table, the commit); waiting a millisecond or two for a
            # fuller batch costs less CPU per report than committing many small ones, and CPU is what bounds the rate.
            linger = last > 1 and self.linger_s > 0
            self._take(items, self.max_batch, deadline=time.monotonic() + self.linger_s if linger else None)
            last = len(items)
            self._handle(items)
            self._checkpoint()
            if self._stop_seen:
                return

    def _take(self, items: list[_Item], limit: int, *, deadline: float | None = None) -> None:
        """Append the reports already waiting to ``items``, up to ``limit`` in all; until ``deadline`` (and while
        fewer than ``fill``), also those still arriving. A stop request ends the thread's loop after the batch in
        hand."""
        while len(items) < limit:
            try:
                remaining = deadline - time.monotonic() if deadline is not None and len(items) < self.fill else 0
                nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            if nxt is _STOP:
                self._stop_seen = True
                return
            items.append(nxt)  # type: ignore[arg-type]

    def _handle(self, items: list[_Item], *, attempt: int = 0) -> None:
        try:
            outcomes = self._write(items)  # may append reports that arrived while it waited for the lock
        except Exception as exc:
            down = unavailable_error(exc)
            if down is not None:
                # The database cannot be reached (PostgreSQL restarting, the connection lost): every report of the
                # batch would fail alike. Each is answered 503 with Retry-After; the next batch connects afresh.
                log.warning("intake batch of %d: database unavailable (%s)", len(items),
                            getattr(exc, "orig", None) or type(exc).__name__)
                for _, _, fail in items:
                    fail(down)
                return
            # A unique-key conflict is an Idempotency-Key another process wrote after this batch was planned:
            # planned again, one by one, each report finds that case. A single report can meet the other
            # process's next in-flight batch the same way, so it is planned again a few times.
            raced = isinstance(exc, IntegrityError)
            if len(items) > 1:
                log.log(logging.INFO if raced else logging.WARNING, "intake batch of %d failed; retrying one by one",
                        len(items), exc_info=not raced)
                for single in items:
                    self._handle([single])
                return
            if raced and attempt < 3:
                self._handle(items, attempt=attempt + 1)
                return
            log.exception("intake failed")
            items[0][2](busy_error(exc) or Unavailable("事件保存失败，请稍后重试", code="intake_failed"))
            return
        self.batches += 1
        self.cases += len(items)
        for (_, ok, _), out in zip(items, outcomes, strict=True):
            ok(out)

    def _connection(self) -> Connection:
        """The writer thread's own connection, kept open between batches: planning (read) and writing use the same
        one, so on SQLite its page cache stays warm across this process's own commits."""
        engine = self.engine if self.engine is not None else get_engine()
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated or conn.engine is not engine:
            self._drop_connection()
            conn = self._conn = engine.connect()
            if sqlite_file(engine) is not None:  # checkpoints are run by _checkpoint, after the write lock is released
                _pragma(conn, "wal_autocheckpoint=0")
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if sqlite_file(conn.engine) is not None:
                    conn.invalidate()  # its automatic checkpoints are off: never hand it back to the pool
                conn.close()
            except Exception:  # a broken connection may fail to close; it is discarded either way
                log.debug("closing the intake writer's connection failed", exc_info=True)

    def _checkpoint(self) -> None:
        """Copy the write-ahead log back into the database file once it has grown past ``checkpoint_bytes``.

        SQLite runs this itself at the end of the commit that crosses its threshold — inside our write lock, so the
        other processes' writers wait for a copy they take no part in, and before the batch's requests are answered.
        Run here, after the lock is released and the replies are sent, a passive checkpoint delays neither."""
        conn = self._conn
        db = sqlite_file(conn.engine) if conn is not None else None
        try:
            if conn is None or db is None or os.path.getsize(db + "-wal") < self.checkpoint_bytes:
                return
            _pragma(conn, "wal_checkpoint(PASSIVE)")
        except OSError:  # no log yet, or just reset by another process
            return
        except Exception:  # committed already: the checkpoint is tried again after the next batch
            log.warning("WAL checkpoint failed", exc_info=True)
            self._drop_connection()

    def _write(self, items: list[_Item]) -> list[IntakeOutcome]:
        conn = self._connection()
        try:
            batches = [self._plan(conn, items)]
            lock = write_guard(conn.engine)
            # While another process writes, plan what keeps arriving and write it all in one transaction: a
            # commit's fixed cost is shared by more reports, and nothing waits longer than it already would.
            held = lock.try_acquire()
            while not held:
                arrived = len(items)
                self._take(items, self.max_batch * 4)  # before planning: if that fails, they are retried too
                if len(items) == arrived:
                    break  # nothing else to do: wait for the lock below
                batches.append(self._plan(conn, items[arrived:]))
                held = lock.try_acquire()
            # PostgreSQL: the write transaction in one pipeline — the client waits for the server three times (the
            # case numbers, the audit chain's head, the commit) instead of once per statement, so the rows that
            # every writer locks (the day's case counter, the statistics, the chain) are held that much shorter.
            with lock, Session(bind=conn, expire_on_commit=False) as ws, pipeline(conn):  # waits unless held
                conn.execution_options(zhili_write=True)
                outcomes = write_cases(ws, batch=merge_batches(batches))
                ws.commit()
        except BaseException:
            self._drop_connection()  # whatever state it is in, the next batch starts on a fresh one
            raise
        return outcomes

    def _plan(self, conn: Connection, items: list[_Item]) -> PlannedBatch:
        conn.execution_options(zhili_write=False)  # a deferred (read) transaction: no write lock while planning
        with Session(bind=conn, expire_on_commit=False) as rs:
            batch = plan_cases(rs, requests=[r for r, _, _ in items])
            rs.commit()
        return batch


_default: GroupCommitWriter | None = None
_default_lock = threading.Lock()


def default_writer() -> GroupCommitWriter:
    """The process's group-commit writer (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = GroupCommitWriter()
        return _default


def stop_default_writer() -> None:
    """Stop the process's writer after the server has finished its requests."""
    global _default
    with _default_lock:
        w, _default = _default, None
    if w is not None:
        w.stop()
