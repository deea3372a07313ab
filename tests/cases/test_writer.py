"""The intake writers: batches planned in memory and written together, the group-commit thread, and the
cross-process write lock — on scratch databases with real commits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from casekit import Scratch, add_taxonomy, build_world
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.cases import dispatch, intake, notify
from zhili.cases.intake import IntakeRequest
from zhili.cases.models import Case, CaseEvent, CaseStat, Channel, IdempotencyRecord, Notification
from zhili.cases.writer import _STOP, GroupCommitWriter, SessionWriter
from zhili.core import audit
from zhili.core.db import write_guard
from zhili.users.service import principal_for_user


@pytest.fixture
def district(scratch: Scratch) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """A scratch district with the test taxonomy, a confident rule for T0101 → CG, and principals by name."""
    engine = scratch.engine()
    notify.set_channels([notify.FakeChannel()])
    with Session(engine, expire_on_commit=False) as s:
        w = build_world(s)
        add_taxonomy(s)
        zhihui = principal_for_user(s, user=w.users["zhihui"])
        dispatch.create_rule(s, principal=zhihui, data={
            "name": "暴露垃圾→城管", "category_code": "T0101", "region_path": w.units["district"].path,
            "target_department": "CG", "confidence": 0.95})
        s.commit()
        people = {n: principal_for_user(s, user=u) for n, u in w.users.items()}
    try:
        yield engine, people
    finally:
        notify.set_channels(None)
        engine.dispose()


def _report(who: Any, cat: str = "T0101", key: str | None = None, **data: Any) -> IntakeRequest:
    body = {"category_code": cat, "description": "楼下垃圾桶满溢", "lon": 119.1, "lat": 31.1, **data}
    return IntakeRequest(principal=who, channel=Channel.resident, data=body, idempotency_key=key)


def test_a_batch_writes_every_report_with_consecutive_numbers_timelines_statistics_and_one_intact_audit_chain(
        district):
    engine, p = district
    with Session(engine) as s:
        outs = intake.file_cases(s, requests=[_report(p["jumin"]) for _ in range(5)]
                                 + [_report(p["jumin"], cat="T0102")])
        s.commit()
    assert all(o.created and o.error is None for o in outs)
    seqs = sorted(int(o.number.rsplit("-", 1)[1]) for o in outs)
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    with Session(engine) as s:
        by_case = {c.id: c for c in s.scalars(select(Case))}
        assert len(by_case) == 6
        # T0101 matched the confident rule: report → accept → dispatch; T0102 waits in the queue.
        for o in outs:
            actions = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == o.case_id)
                                     .order_by(CaseEvent.seq)))
            if by_case[o.case_id].category_code == "T0101":
                assert actions == ["report", "accept", "dispatch"]
                assert by_case[o.case_id].assignee_department == "CG"
            else:
                assert actions == ["report"]
        stats = {r.category_code: (r.reported, r.accepted) for r in s.scalars(select(CaseStat))}
        assert stats == {"T0101": (5, 5), "T0102": (1, 0)}
        assert audit.verify_chain(s).ok
        assert s.scalar(select(func.count()).select_from(audit.AuditEvent)
                        .where(audit.AuditEvent.action.like("case.%"))) == 5 * 3 + 1
        # The handler's inbox has one task per dispatched case, with the number filled in.
        tasks = list(s.scalars(select(Notification).where(Notification.recipient == "CG")))
        assert len(tasks) == 5 and all(by_case[t.case_id].number in t.body for t in tasks)


def test_a_report_that_fails_validation_fails_alone_and_the_rest_of_its_batch_is_written(district):
    engine, p = district
    with Session(engine) as s:
        outs = intake.file_cases(s, requests=[
            _report(p["jumin"]), _report(p["jumin"], cat="NOPE"), _report(p["jumin"], lon=10.0, lat=10.0),
            _report(p["jumin"], description="  "), _report(p["jumin"])])
        s.commit()
    assert [o.created for o in outs] == [True, False, False, False, True]
    assert [o.error.code if o.error else None for o in outs] == [
        None, "category_not_found", "point_outside_grids", "description_required", None]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2


def test_one_idempotency_key_files_one_case_within_a_batch_and_across_batches(district):
    engine, p = district
    with Session(engine) as s:
        first = intake.file_cases(s, requests=[_report(p["jumin"], key="k-1"), _report(p["jumin"], key="k-1"),
                                               _report(p["wangge_a"], key="k-1")])
        s.commit()
    # The same key from another client is another report.
    assert first[0].created and not first[1].created and first[2].created
    assert first[0].case_id == first[1].case_id != first[2].case_id
    with Session(engine) as s:
        again = intake.file_cases(s, requests=[_report(p["jumin"], key="k-1")])
        s.commit()
        assert not again[0].created and again[0].case_id == first[0].case_id
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 2
        assert s.scalar(select(func.count()).select_from(Case)) == 2


def test_within_a_batch_the_same_key_with_another_report_is_refused_and_with_the_same_report_repeats(district):
    engine, p = district
    with Session(engine) as s:
        first, same, other, other_again = intake.file_cases(s, requests=[
            _report(p["jumin"], key="k-1"), _report(p["jumin"], key="k-1"),
            _report(p["jumin"], key="k-1", description="同一键，另一件事"),
            _report(p["jumin"], key="k-1", description="同一键，另一件事")])
        s.commit()
    assert first.created and first.error is None
    assert (same.case_id, same.created, same.error) == (first.case_id, False, None)
    for refused in (other, other_again):
        assert refused.case_id is None and refused.error is not None
        assert refused.error.code == "idempotency_key_reused"
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
        assert s.scalar(select(IdempotencyRecord.fingerprint)) == intake.fingerprint(
            Channel.resident, _report(p["jumin"]).data)


def test_across_batches_the_same_key_with_another_report_is_refused(district):
    engine, p = district
    with Session(engine) as s:
        [first] = intake.file_cases(s, requests=[_report(p["jumin"], key="k-2")])
        s.commit()
    with Session(engine) as s:
        again, other = intake.file_cases(s, requests=[
            _report(p["jumin"], key="k-2"), _report(p["jumin"], key="k-2", lon=119.2)])
        s.commit()
    assert (again.case_id, again.created, again.error) == (first.case_id, False, None)
    assert other.error is not None and other.error.code == "idempotency_key_reused" and other.case_id is None


def test_batches_planned_apart_and_written_together_refuse_a_reused_key_and_answer_its_repeats(district):
    # what the group-commit writer does while another process holds the write lock (merge_batches)
    engine, p = district
    with Session(engine) as s:
        one = intake.plan_cases(s, requests=[_report(p["jumin"], key="m-1"), _report(p["jumin"], key="m-2")])
        two = intake.plan_cases(s, requests=[
            _report(p["jumin"], key="m-1"), _report(p["jumin"], key="m-1"),
            _report(p["jumin"], key="m-2", description="后一批：同一键，另一件事"),
            _report(p["jumin"], key="m-2", description="后一批：同一键，另一件事")])
        s.commit()
    with Session(engine) as s:
        outs = intake.write_cases(s, batch=intake.merge_batches([one, two]))
        s.commit()
    m1, m2, m1_again, m1_third, m2_other, m2_other_again = outs
    assert m1.created and m2.created
    for repeat in (m1_again, m1_third):
        assert (repeat.case_id, repeat.number, repeat.created, repeat.error) == (m1.case_id, m1.number, False, None)
    for refused in (m2_other, m2_other_again):
        assert refused.error is not None and refused.error.code == "idempotency_key_reused"
        assert refused.case_id is None
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2


def _racing_writer(engine: Engine, other: IntakeRequest) -> GroupCommitWriter:
    """A writer whose report is filed under its key by another process after the report was planned and before
    it is written (the unique constraint then fails the batch, and the writer plans the report again)."""
    writer = GroupCommitWriter(engine=engine)
    plan, raced = writer._plan, []

    def plan_then_race(conn: Any, items: Any) -> Any:
        batch = plan(conn, items)
        if not raced:
            raced.append(True)
            with Session(engine) as s:
                [out] = intake.file_cases(s, requests=[other])
                assert out.created
                s.commit()
        return batch

    writer._plan = plan_then_race  # type: ignore[method-assign]
    return writer


def test_a_key_another_process_wrote_meanwhile_with_another_report_is_refused(district):
    engine, p = district
    writer = _racing_writer(engine, _report(p["jumin"], key="race", description="另一进程先写入的上报"))
    try:
        out = writer.submit(_report(p["jumin"], key="race", description="本进程的上报"))
    finally:
        writer.stop()
    assert out.error is not None and out.error.code == "idempotency_key_reused" and out.case_id is None
    with Session(engine) as s:
        assert list(s.scalars(select(Case.description))) == ["另一进程先写入的上报"]


def test_a_key_another_process_wrote_meanwhile_with_the_same_report_is_answered_with_that_case(district):
    engine, p = district
    writer = _racing_writer(engine, _report(p["jumin"], key="race"))
    try:
        out = writer.submit(_report(p["jumin"], key="race"))
    finally:
        writer.stop()
    assert out.error is None and not out.created
    with Session(engine) as s:
        assert list(s.scalars(select(Case.id))) == [out.case_id]


def test_concurrent_reports_through_the_group_commit_writer_all_commit_with_unique_numbers(district):
    engine, p = district
    writer = GroupCommitWriter(engine=engine)
    results: list[Any] = []
    errors: list[Exception] = []

    def one(i: int) -> None:
        try:
            results.append(writer.submit(_report(p["jumin"], description=f"并发上报 {i}")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    # Hold the write lock while the reports arrive, so they queue and go out together.
    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    with write_guard(engine):
        for t in threads:
            t.start()
        time.sleep(0.5)
    for t in threads:
        t.join(30)
    writer.stop()
    assert not errors
    assert len(results) == 24 and all(r.created for r in results)
    assert len({r.number for r in results}) == 24
    assert writer.cases == 24
    if engine.dialect.name == "sqlite":  # the lock held above made the later reports share commits
        assert writer.batches < 24
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 24
        assert audit.verify_chain(s).ok


def test_on_postgresql_a_batchs_write_waits_for_the_server_a_few_times_not_once_per_statement(district, monkeypatch):
    """The case numbers, the audit chain's head (its advisory lock taken with it) and the commit — plus the
    pipeline's own bookkeeping on entry and exit: everything else (the cases, timelines, sub-tasks, keys,
    notifications, statistics and audit rows) travels in the pipeline, so the rows every writer locks are held for
    a few round trips, not one per statement (9 before the pipeline)."""
    engine, p = district
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's round trips")
    import psycopg
    from psycopg._pipeline_base import BasePipeline

    # a round trip: outside a pipeline, every operation; inside one, every time results are waited for
    waits, counting, ping = [0], [False], [False]
    real_wait, real_fetch = psycopg.Connection.wait, BasePipeline._fetch_gen

    def wait(self: Any, gen: Any, *args: Any, **kw: Any) -> Any:
        waits[0] += counting[0] and self._pipeline is None and not ping[0]
        return real_wait(self, gen, *args, **kw)

    def fetch(self: Any, *, flush: bool) -> Any:
        waits[0] += counting[0] and bool(self.result_queue)
        return real_fetch(self, flush=flush)

    monkeypatch.setattr(psycopg.Connection, "wait", wait)
    monkeypatch.setattr(BasePipeline, "_fetch_gen", fetch)
    real_ping = engine.dialect.do_ping

    def no_count_ping(dbapi_conn: Any) -> Any:  # the pool's check of a connection before handing it out
        ping[0] = True
        try:
            return real_ping(dbapi_conn)
        finally:
            ping[0] = False

    monkeypatch.setattr(engine.dialect, "do_ping", no_count_ping)
    writer = GroupCommitWriter(engine=engine)
    plan, write = writer._plan, writer._write

    def plan_uncounted(conn: Any, items: Any) -> Any:
        counting[0] = False
        try:
            return plan(conn, items)
        finally:
            counting[0] = True

    def write_counted(items: Any) -> Any:
        counting[0] = True
        try:
            return write(items)
        finally:
            counting[0] = False

    writer._plan, writer._write = plan_uncounted, write_counted  # type: ignore[method-assign]
    try:
        writer._handle([(_report(p["jumin"], key=f"w{i}", description=f"流水线上报 {i}"), lambda _o: None,
                         lambda e: None) for i in range(5)])
    finally:
        writer.stop()
    assert writer.cases == 5
    assert waits[0] <= 5
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 5
        assert audit.verify_chain(s).ok


def test_a_batch_that_fails_as_a_whole_is_retried_report_by_report(district, monkeypatch):
    engine, p = district
    real = intake.write_cases
    calls: list[int] = []

    def flaky(session: Session, *, batch: intake.PlannedBatch) -> list[intake.IntakeOutcome]:
        calls.append(len(batch.plans))
        if len(batch.plans) > 1:
            raise IntegrityError("INSERT", {}, Exception("unique violation from another process"))
        return real(session, batch=batch)

    monkeypatch.setattr("zhili.cases.writer.write_cases", flaky)
    writer = GroupCommitWriter(engine=engine)
    got: dict[int, Any] = {}
    items = [(_report(p["jumin"], description=f"重试 {i}"), (lambda out, i=i: got.__setitem__(i, out)),
              (lambda exc, i=i: got.__setitem__(i, exc))) for i in range(3)]
    writer._handle(items)
    assert calls == [3, 1, 1, 1]
    assert all(isinstance(got[i], intake.IntakeOutcome) and got[i].created for i in range(3))


def test_an_async_submit_is_answered_after_the_commit(district):
    engine, p = district
    writer = GroupCommitWriter(engine=engine)
    try:
        out = asyncio.run(writer.submit_async(_report(p["jumin"])))
    finally:
        writer.stop()
    with Session(engine) as s:  # a fresh session sees it: the reply came after the commit
        assert s.get(Case, out.case_id) is not None


def test_the_session_writer_files_in_the_callers_transaction(district):
    engine, p = district
    with Session(engine) as s:
        out = SessionWriter(s).submit(_report(p["jumin"]))
        assert s.get(Case, out.case_id) is not None
        s.rollback()
        assert s.get(Case, out.case_id) is None


def test_sqlite_writers_in_different_processes_queue_on_the_lock_file(scratch):
    engine = scratch.engine()
    try:
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL writers need no process lock")
        path = engine.url.database
        code = ("import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1] + '-writelock', os.O_RDWR | os.O_CREAT, 0o600)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(0.8)\n")
        other = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "held"
            start = time.monotonic()
            with write_guard(engine):
                waited = time.monotonic() - start
        finally:
            other.wait(10)
        assert waited >= 0.4
    finally:
        engine.dispose()



def _wal_bytes_after_batches(engine: Engine, people: dict[str, Any], checkpoint_bytes: int) -> int:
    writer = GroupCommitWriter(engine=engine, checkpoint_bytes=checkpoint_bytes)
    try:
        for n in range(12):
            threads = [threading.Thread(target=writer.submit,
                                        args=(_report(people["jumin"], key=f"w{checkpoint_bytes}-{n}-{i}"),))
                       for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        return os.path.getsize(str(engine.url.database) + "-wal")  # before the last connection closes (and checkpoints)
    finally:
        writer.stop()


def test_the_sqlite_writer_checkpoints_the_log_itself_after_releasing_the_write_lock(district):
    engine, p = district
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no write-ahead log file to checkpoint")
    def truncate_log() -> None:  # outside a transaction, on the driver's connection
        with engine.connect() as c:
            driver = c.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()

    truncate_log()
    kept = _wal_bytes_after_batches(engine, p, checkpoint_bytes=1 << 40)  # never: the log only grows
    truncate_log()
    checkpointed = _wal_bytes_after_batches(engine, p, checkpoint_bytes=1)  # after every batch: the log is reused
    assert checkpointed * 3 < kept
    # the writer's connection (automatic checkpoints off) never goes back to the pool
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


# -- principals from the per-process cache, confirmed by the writer ------------------------------------------------

def _session_token(engine: Engine, username: str) -> str:
    """A new live session for ``username`` (committed), as a login would open."""
    import datetime as dt
    import uuid

    from zhili.core.db import utcnow
    from zhili.core.security import token_digest
    from zhili.users.models import AuthSession, User

    token = f"tok_{uuid.uuid4().hex}"
    with Session(engine) as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        s.add(AuthSession(user_id=user.id, token_hash=token_digest(token), expires_at=utcnow() + dt.timedelta(hours=1)))
        s.commit()
    return token


def _cached(engine: Engine, token: str) -> Any:
    from zhili.core.db import database_key
    from zhili.users.service import authenticate, cached_principal

    with Session(engine) as s:
        authenticate(s, token=token)
    entry = cached_principal(database=database_key(engine), token=token)
    assert entry is not None
    return entry


def _file_with(engine: Engine, entry: Any) -> intake.IntakeOutcome:
    writer = GroupCommitWriter(engine=engine)
    try:
        return writer.submit(IntakeRequest(principal=entry.principal, channel=Channel.resident, auth=entry,
                                           data={"category_code": "T0101", "description": "楼下垃圾桶满溢",
                                                 "lon": 119.1, "lat": 31.1}))
    finally:
        writer.stop()


def test_a_report_from_a_cached_principal_is_filed_while_its_session_is_live(district):
    engine, _ = district
    out = _file_with(engine, _cached(engine, _session_token(engine, "jumin")))
    assert out.error is None and out.created


def test_a_report_from_a_cached_principal_whose_session_was_revoked_meanwhile_is_refused_and_not_written(district):
    from zhili.users.service import logout

    engine, _ = district
    token = _session_token(engine, "jumin")
    entry = _cached(engine, token)
    with Session(engine) as s:  # logged out in another process: this process's cache still holds the principal
        logout(s, token=token)
        s.commit()
    out = _file_with(engine, entry)
    assert out.error is not None and out.error.code == "session_expired"
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_a_report_from_a_cached_principal_whose_jurisdiction_changed_meanwhile_is_refused(district):
    from zhili.users.models import User, UserUnit

    engine, _ = district
    entry = _cached(engine, _session_token(engine, "wangge_a"))
    with Session(engine) as s:  # the grid worker is moved off their grid
        user = s.scalar(select(User).where(User.username == "wangge_a"))
        assert user is not None
        s.execute(UserUnit.__table__.delete().where(UserUnit.user_id == user.id))
        s.commit()
    out = _file_with(engine, entry)
    assert out.error is not None and out.error.code == "session_changed"


# -- duplicate candidates, found while the batch is planned ------------------------------------------------------

def test_a_report_lists_nearby_open_cases_of_its_category_from_earlier_batches_and_earlier_in_its_own_batch(district):
    engine, p = district
    with Session(engine) as s:
        [earlier] = intake.file_cases(s, requests=[_report(p["zhihui"], description="先前的上报")])
        s.commit()
    with Session(engine) as s:
        first, second, far, other_kind = intake.file_cases(s, requests=[
            _report(p["zhihui"], description="同批第一件", lon=119.1001),
            _report(p["zhihui"], description="同批第二件", lon=119.1002),
            _report(p["zhihui"], description="远处", lon=119.2),
            _report(p["zhihui"], cat="T0102", description="别的类别")])
        s.commit()
    assert [c.id for c, _ in first.duplicates] == [earlier.case_id]
    assert [c.id for c, _ in second.duplicates] == [first.case_id, earlier.case_id]  # nearest first
    assert second.duplicates[0][0].number == first.number  # numbered when the batch was written
    assert 0 < second.duplicates[0][1] < 20  # metres
    assert far.duplicates == [] and other_kind.duplicates == []


def test_a_residents_duplicate_candidates_are_only_their_own_cases(district):
    engine, p = district
    with Session(engine) as s:
        staff, own, again = intake.file_cases(s, requests=[
            _report(p["zhihui"], description="工作人员上报"), _report(p["jumin"], description="居民第一次"),
            _report(p["jumin"], description="居民第二次")])
        s.commit()
    assert [c.id for c, _ in again.duplicates] == [own.case_id]
    assert staff.case_id not in [c.id for c, _ in own.duplicates]


# -- batching under load -----------------------------------------------------------------------------------------

def test_under_load_the_writer_waits_briefly_for_more_reports_to_fill_a_batch(district):
    engine, _ = district
    writer = GroupCommitWriter(engine=engine, linger_s=5.0, fill=3)

    def arrive() -> None:
        for i in range(4):
            time.sleep(0.05)
            writer._queue.put(i)

    t = threading.Thread(target=arrive)
    t.start()
    items: list[Any] = ["first"]
    writer._take(items, writer.max_batch, deadline=time.monotonic() + writer.linger_s)
    t.join()
    assert items == ["first", 0, 1]  # waited for the fill, then went without the fourth


def test_with_light_traffic_a_report_is_written_at_once(district):
    engine, _ = district
    writer = GroupCommitWriter(engine=engine, linger_s=5.0, fill=3)
    writer._queue.put("waiting")
    started = time.monotonic()
    items: list[Any] = ["first"]
    writer._take(items, writer.max_batch)
    assert items == ["first", "waiting"] and time.monotonic() - started < 1.0


def test_a_stop_request_met_while_gathering_a_batch_ends_the_writer_after_that_batch(district):
    engine, p = district
    writer = GroupCommitWriter(engine=engine)
    got: list[Any] = []
    for i in range(3):
        writer._queue.put((_report(p["jumin"], description=f"停止前已排队 {i}"), got.append, got.append))
    writer._queue.put(_STOP)
    writer._queue.put((_report(p["jumin"], description="停止后才到"), got.append, got.append))
    writer._run()  # returns: the three before the stop request are written, the one after it is not
    assert len(got) == 3 and all(o.created for o in got)
    assert writer._queue.qsize() == 1


def test_the_same_idempotency_key_sent_at_once_to_two_processes_files_one_case_and_answers_both(
        district, scratch):
    engine, p = district
    second_engine = scratch.engine()  # a second server process: its own engine, pool and writer thread
    writers = [GroupCommitWriter(engine=engine), GroupCommitWriter(engine=second_engine)]
    keys = [f"dup-{i}" for i in range(12)]
    results: list[Any] = []
    errors: list[Exception] = []

    def send(writer: GroupCommitWriter, key: str) -> None:
        try:
            results.append(writer.submit(_report(p["jumin"], key=key, description=f"并发同键 {key}")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w, k)) for k in keys for w in writers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for w in writers:
        w.stop()
    second_engine.dispose()
    assert not errors and all(r.error is None for r in results) and len(results) == 4 * len(keys)
    by_key: dict[str, set[Any]] = {}
    for r in results:
        by_key.setdefault(r.number, set()).add(r.case_id)
    assert len(by_key) == len(keys) and all(len(ids) == 1 for ids in by_key.values())
    assert sum(r.created for r in results) == len(keys)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == len(keys)


def test_reports_arriving_while_another_process_holds_the_write_lock_are_written_in_the_same_transaction(district):
    engine, p = district
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers need no process lock")
    writer = GroupCommitWriter(engine=engine)
    got: dict[int, Any] = {}
    items = [(_report(p["jumin"], description=f"等锁期间到达 {i}"), (lambda out, i=i: got.__setitem__(i, out)),
              (lambda exc, i=i: got.__setitem__(i, exc))) for i in range(6)]
    for item in items[1:]:  # already waiting when the writer starts its batch
        writer._queue.put(item)
    with write_guard(engine):  # another writer holds the lock
        t = threading.Thread(target=writer._handle, args=([items[0]],))
        t.start()
        time.sleep(0.3)
        assert got == {}  # nothing is answered before it is committed
    t.join(30)
    assert writer.batches == 1 and writer.cases == 6
    assert all(isinstance(got[i], intake.IntakeOutcome) and got[i].created for i in range(6))
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 6
        assert audit.verify_chain(s).ok


def test_a_department_handlers_duplicate_candidates_include_cases_their_department_co_handles_only(district):
    engine, p = district
    with Session(engine) as s:
        [unseen] = intake.file_cases(s, requests=[_report(p["jumin"], cat="T0201", description="井盖破损一")])
        zhihui = p["zhihui"]
        dispatch.create_rule(s, principal=zhihui, data={
            "name": "井盖→水务，城管协办", "category_code": "T0201", "region_path": zhihui.scope_paths[0],
            "target_department": "SW", "co_departments": ["CG"], "confidence": 0.95})
        s.commit()
    with Session(engine) as s:
        [joint] = intake.file_cases(s, requests=[_report(p["jumin"], cat="T0201", description="井盖破损二")])
        s.commit()
    with Session(engine) as s:
        [mine] = intake.file_cases(s, requests=[IntakeRequest(
            principal=p["bumen"], channel=Channel.department,
            data={"category_code": "T0201", "description": "巡查发现井盖破损", "lon": 119.1, "lat": 31.1})])
        s.commit()
    assert mine.error is None and joint.error is None
    assert joint.row is not None and (joint.row["assignee_department"], joint.row["is_joint"]) == ("SW", True)
    assert [c.id for c, _ in mine.duplicates] == [joint.case_id]  # co-handled by CG; the other one is not CG's
    assert unseen.case_id not in [c.id for c, _ in mine.duplicates]
