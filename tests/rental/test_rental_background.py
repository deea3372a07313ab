"""What runs behind the requests, against a database file as a server has it: the outbox thread sends a committed
check-in to the police (a rolled-back one never), and the sweep thread's rental scan runs once per interval under
its lease."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rentalkit import place, tenant
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filedb import process_engine_on_file
from zhili.cases.models import JobLock
from zhili.intel.models import Warning
from zhili.rental import police, stays
from zhili.rental.models import DeliveryState, PoliceDelivery


def _root_conftest() -> Any:
    spec = importlib.util.spec_from_file_location("zhili_tests_root_conftest",
                                                  Path(__file__).resolve().parent.parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def server_db(engine: Any, tmp_path: Path) -> Iterator[Any]:
    with process_engine_on_file(engine, tmp_path / "rental-server.db") as eng:
        yield eng


def test_a_committed_check_in_is_sent_by_the_outbox_thread_and_a_rolled_back_one_never(server_db: Any) -> None:
    gw = police.RecordingPoliceGateway()
    police.set_gateway(gw)
    box = police.PoliceOutbox(engine=server_db)
    police.set_police_outbox(box)
    try:
        with Session(server_db, expire_on_commit=False) as s:
            world = _root_conftest().build_world(s, only={"wangge_a"})
            p = place(s, world)
            s.commit()
            stays.check_in(s, principal=p.staff, room_id=p.room.id, data=tenant("回滚者"))
            s.rollback()
            done = stays.check_in(s, principal=p.staff, room_id=p.room.id, data=tenant("提交者"))
            s.commit()
        assert box.wait_idle(20)
        assert [r.payload["tenant"]["name"] for r in gw.records] == ["提交者"]
        with Session(server_db) as s:
            d = s.scalar(select(PoliceDelivery).where(PoliceDelivery.stay_id == done.stay.id))
            assert d is not None and d.state == DeliveryState.delivered and d.receipt == "R000001"
    finally:
        police.set_police_outbox(None)
        police.set_gateway(None)


def test_the_sweep_runs_the_rental_scan_once_per_interval(server_db: Any) -> None:
    from zhili.app import _rental_scan

    police.set_dispatcher(lambda ids: None)
    try:
        with Session(server_db, expire_on_commit=False) as s:
            world = _root_conftest().build_world(s, only={"wangge_a"})
            p = place(s, world, capacity=1)
            for name in ("甲", "乙"):
                stays.check_in(s, principal=p.staff, room_id=p.room.id, data=tenant(name + "租客"))
            s.commit()
        _rental_scan("test-holder")
        with Session(server_db) as s:
            assert s.scalar(select(func.count()).select_from(Warning)
                            .where(Warning.kind == "rental_overcrowded")) == 1
            lock = s.get(JobLock, "rental_scan")
            assert lock is not None and lock.last_run_at is not None and lock.until is None
            ran = lock.last_run_at
        _rental_scan("test-holder")  # within the interval: not again
        with Session(server_db) as s:
            assert s.get(JobLock, "rental_scan").last_run_at == ran
    finally:
        police.set_dispatcher(None)
