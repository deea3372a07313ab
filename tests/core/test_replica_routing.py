"""The read replica's rules, without a server (the real primary and replica: tests/test_read_replica.py).

A read goes to the replica only when it answers, has replayed the reader's own last write and is not too far
behind; a replica that fails is left alone for a while (the circuit breaker) and its reads go to the primary, or
answer 503 when the deployment says so. The read-your-writes position travels in a signed cookie; a SQLite read URL
is refused when the settings are read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from starlette.requests import Request

from zhili.core import replica
from zhili.core.db import bind_primary, keep_on_refusal, write_after_read
from zhili.core.settings import Settings, get_settings
from zhili.http import replica as rw

PG = "postgresql+psycopg://u@db1/zhili"
PG_REPLICA = "postgresql+psycopg://u@db2/zhili"


def _settings(**values: Any) -> Settings:
    base = {"database_url": PG, "read_database_url": PG_REPLICA, "read_max_lag_s": 5, "read_max_lag_bytes": 1000,
            "read_retry_s": 10, "read_check_interval_s": 0}
    return Settings(_env_file=None, **{**base, **values})


# -- settings ---------------------------------------------------------------------------------------------------

def test_a_sqlite_read_url_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValueError, match="只能是 PostgreSQL"):
        _settings(read_database_url="sqlite:///var/replica.db")


def test_a_replica_of_a_sqlite_primary_is_refused() -> None:
    with pytest.raises(ValueError, match="主库 ZHILI_DATABASE_URL 不是 PostgreSQL"):
        _settings(database_url="")


def test_no_read_url_or_a_postgresql_pair_is_accepted() -> None:
    assert _settings().read_database_url == PG_REPLICA
    assert Settings(_env_file=None, read_database_url="").read_database_url == ""


# -- positions ------------------------------------------------------------------------------------------------

def test_wal_positions_read_and_print_as_postgresql_writes_them() -> None:
    assert replica.parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert replica.format_lsn(replica.parse_lsn("16/B374D848") or 0) == "16/B374D848"
    assert replica.parse_lsn("0/3000000") == 0x3000000
    assert replica.parse_lsn(None) is None and replica.parse_lsn("nonsense") is None


def _request(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{rw.COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_the_read_your_writes_cookie_is_signed_and_expires() -> None:
    value = rw.cookie_value(0x3000060, now=1_000_000)
    assert rw.written_lsn(_request(value), now=1_000_001) == 0x3000060
    lsn, expires, mac = value.split(".")
    assert rw.written_lsn(_request(f"{int(lsn, 16) + 1:x}.{expires}.{mac}"), now=1_000_001) is None  # made up
    assert rw.written_lsn(_request(f"{lsn}.{int(expires) + 9999}.{mac}"), now=1_000_001) is None  # lengthened
    assert rw.written_lsn(_request(value), now=1_000_000 + rw.lifetime_s() + 1) is None  # expired
    assert rw.written_lsn(_request("garbage"), now=1_000_001) is None
    assert rw.written_lsn(_request(None)) is None


# -- routing --------------------------------------------------------------------------------------------------

class _Result:
    def __init__(self, row: Any) -> None:
        self.row = row

    def one(self) -> Any:
        return self.row

    def scalar(self) -> Any:
        return self.row


class FakeSession:
    """A session whose one statement answers ``row`` (or raises ``error``)."""

    def __init__(self, row: Any = None, error: Exception | None = None) -> None:
        self.row, self.error, self.closed, self.statements = row, error, False, 0

    def execute(self, _stmt: Any) -> _Result:
        self.statements += 1
        if self.error is not None:
            raise self.error
        return _Result(self.row)

    def close(self) -> None:
        self.closed = True


class FakeFactory:
    """A replica: its replayed position and the age of its last replayed transaction, or down."""

    def __init__(self) -> None:
        self.replay, self.age, self.down = "0/5000", 1.0, False
        self.opened: list[FakeSession] = []
        self.kw: dict[str, Any] = {}

    def __call__(self) -> FakeSession:
        error = sa_exc.OperationalError("SELECT", {}, Exception("connection refused")) if self.down else None
        s = FakeSession((self.replay, self.age), error)
        self.opened.append(s)
        return s


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts() -> Iterator[tuple[replica.ReplicaRouter, FakeFactory, FakeSession, Clock]]:
    clock = Clock()
    yield replica.ReplicaRouter(clock), FakeFactory(), FakeSession("0/5000"), clock


def _route(parts: Any, settings: Settings, written: int | None = None) -> replica.Decision:
    router, factory, primary, _ = parts
    return router.route(factory, primary=primary, written=written, settings=settings)


def test_a_replica_that_lacks_nothing_serves_the_read_however_old_its_last_transaction(parts: Any) -> None:
    _, factory, _, _ = parts
    factory.age = 86_400.0  # an idle primary: nothing committed for a day, nothing missing
    decision = _route(parts, _settings())
    assert decision.reason == "replica" and decision.replica is factory.opened[-1]


def test_a_reader_whose_write_is_not_replayed_yet_reads_the_primary(parts: Any) -> None:
    _, factory, _, _ = parts
    assert _route(parts, _settings(), written=0x5000).reason == "replica"  # replayed exactly up to it
    decision = _route(parts, _settings(), written=0x5001)
    assert (decision.reason, decision.replica) == ("read_your_writes", None)
    assert factory.opened[-1].closed


def test_a_replica_behind_by_more_time_or_more_bytes_than_allowed_is_not_read(parts: Any) -> None:
    _, factory, primary, _ = parts
    primary.row = "0/5100"  # the primary has written 256 bytes the replica lacks
    factory.age = 4.0
    assert _route(parts, _settings()).reason == "replica"  # 4 s and 256 bytes behind: within the limits
    factory.age = 6.0
    assert _route(parts, _settings()).reason == "lagging"  # past 5 s
    factory.age = 1.0
    primary.row = "0/6000"
    assert _route(parts, _settings()).reason == "lagging"  # past 1000 bytes
    assert _route(parts, _settings(read_max_lag_bytes=0)).reason == "replica"  # no byte limit
    factory.age = None  # lacking WAL and no transaction replayed since it started: its age is unknown
    assert _route(parts, _settings(read_max_lag_bytes=0)).reason == "lagging"


def test_the_primary_position_is_sampled_at_most_once_per_interval(parts: Any) -> None:
    _, _, primary, clock = parts
    for _ in range(5):
        _route(parts, _settings(read_check_interval_s=1))
    assert primary.statements == 1
    clock.now += 1.0
    _route(parts, _settings(read_check_interval_s=1))
    assert primary.statements == 2


def test_a_failed_replica_is_left_alone_until_its_retry_time_then_read_again(parts: Any) -> None:
    router, factory, _, clock = parts
    factory.down = True
    assert _route(parts, _settings()).reason == "down"
    tried = len(factory.opened)
    for _ in range(10):  # the breaker is open: no connection attempt, so no connect timeout per request
        assert _route(parts, _settings()).reason == "down"
    assert len(factory.opened) == tried
    status = router.last()
    assert status is not None and status.up is False and "connection refused" in (status.error or "")
    assert status.down_until_s == pytest.approx(10)
    factory.down = False
    clock.now += 10.0
    assert _route(parts, _settings()).reason == "replica"
    status = router.last()
    assert status is not None and status.up is True and status.down_until_s == 0


def test_a_deployment_may_choose_a_clear_503_over_the_primary(parts: Any) -> None:
    _, factory, _, _ = parts
    factory.down = True
    with pytest.raises(replica.ReplicaUnavailable) as refused:
        _route(parts, _settings(read_on_replica_down="fail"))
    assert refused.value.status == 503 and "只读库" in refused.value.message
    behind = FakeFactory()  # but a replica that answers and is merely behind is no failure: the primary reads
    behind.replay = "0/4000"
    decision = replica.ReplicaRouter().route(behind, primary=FakeSession("0/5000"), written=0x5000,  # type: ignore[arg-type]
                                             settings=_settings(read_on_replica_down="fail"))
    assert decision.reason == "read_your_writes"


def test_a_server_that_is_not_a_standby_is_never_read_as_one(parts: Any) -> None:
    _, factory, _, _ = parts
    factory.replay = None  # pg_last_wal_replay_lsn() is NULL on a primary
    assert _route(parts, _settings()).reason == "not_standby"


# -- what a replica read writes goes to the primary -------------------------------------------------------------

def test_what_a_replica_read_must_write_is_written_in_the_primary_session() -> None:
    primary, replica_session = Session(), Session(info={"zhili_read": True})
    bind_primary(replica_session, primary)
    seen: list[Session] = []
    write_after_read(replica_session, seen.append)
    keep_on_refusal(replica_session, seen.append)
    assert seen == [primary, primary]  # the primary session (a write session here) wrote both at once
    assert primary.info["zhili_kept_on_refusal"] == [seen.append] and "zhili_kept_on_refusal" \
        not in replica_session.info


def test_without_a_replica_the_settings_leave_reads_on_the_primary() -> None:
    from zhili.core.db import replica_session_factory

    assert get_settings().read_database_url == ""
    assert replica_session_factory() is None
