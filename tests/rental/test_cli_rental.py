"""``zhili rental scan | deliver | deliveries --dead`` against a database file, as cron or an operator runs them."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rentalkit import gateway, place, tenant
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from filedb import process_engine_on_file
from zhili.cli import app
from zhili.rental import stays
from zhili.rental.models import DeliveryState, PoliceDelivery

__all__ = ["gateway"]


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
def file_db(engine: Any, tmp_path: Path) -> Iterator[Any]:
    with process_engine_on_file(engine, tmp_path / "rental-cli.db") as eng:
        yield eng


def test_scan_deliver_and_the_dead_letter_list(file_db: Any, gateway: Any) -> None:
    with Session(file_db, expire_on_commit=False) as s:
        world = _root_conftest().build_world(s, only={"wangge_a"})
        p = place(s, world, capacity=1)
        for name in ("甲租客", "乙租客"):
            stays.check_in(s, principal=p.staff, room_id=p.room.id, data=tenant(name))
        s.commit()
    run = CliRunner()
    scanned = run.invoke(app, ["rental", "scan", "--json"])
    assert scanned.exit_code == 0, scanned.output
    assert json.loads(scanned.output)["raised"]["rental_overcrowded"] == 1
    again = run.invoke(app, ["rental", "scan"])
    assert again.exit_code == 0 and "群租" in again.output and "新增预警 0 条" in again.output
    gateway.fail_next = 1
    sent = run.invoke(app, ["rental", "deliver", "--json"])
    assert sent.exit_code == 0 and json.loads(sent.output) == {"delivered": 1}
    assert len(gateway.records) == 1
    with Session(file_db) as s:
        s.execute(update(PoliceDelivery).where(PoliceDelivery.state == DeliveryState.pending)
                  .values(state=DeliveryState.dead, attempts=6, last_error="HTTP 503"))
        s.commit()
    dead = run.invoke(app, ["rental", "deliveries", "--dead", "--json"])
    assert dead.exit_code == 0, dead.output
    rows = json.loads(dead.output)
    assert [(r["state"], r["last_error"]) for r in rows] == [("dead", "HTTP 503")]
    listed = run.invoke(app, ["rental", "deliveries", "--dead"])
    assert "失败清单" in listed.output and "共 1 条" in listed.output
    bad = run.invoke(app, ["rental", "deliveries", "--state", "lost"])
    assert bad.exit_code == 2 and "推送状态只能是" in bad.output
