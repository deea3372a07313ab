"""The demo's IoT perception: a few hundred devices across the grids, a lock on every rental room, and the first
burst of traffic already turned into alerts and a case — the storm as one alert with its counter."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, Channel
from zhili.cases.taxonomy import load_defaults
from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.iot.ingest import BrokerConfig
from zhili.iot.models import Alert, Device, DeviceType, Message, Rule
from zhili.iot.simulate import Simulator, load_fleet
from zhili.rental.models import Room
from zhili.seed.demo import seed_demo
from zhili.seed.iot import seed_iot
from zhili.seed.rental import seed_rental


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{(tmp_path_factory.mktemp('iotseed') / 'demo.db').as_posix()}"
    upgrade(url=url)
    engine = make_engine(url)
    seed_demo(engine, scale="small", workers=0)
    with Session(engine) as s:
        load_defaults(s)  # the taxonomy, as `zhili seed` loads it before the case history
        seed_rental(s, scale="small")
        counts = seed_iot(s, scale="small")
        s.commit()
    yield engine, counts
    engine.dispose()


def test_devices_types_and_rules_are_seeded(demo: Any) -> None:
    engine, counts = demo
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(Device))
        assert counts["iot_device"] == n and n >= 240
        assert s.scalar(select(func.count()).select_from(DeviceType)) == 7
        assert s.scalar(select(func.count()).select_from(Rule)) >= 10
        rooms = s.scalar(select(func.count()).select_from(Room))
        locks = s.scalar(select(func.count()).select_from(Device).where(Device.room_id.is_not(None)))
        assert rooms and locks == rooms
        grids = s.scalar(select(func.count(func.distinct(Device.unit_id))))
        assert grids and grids >= 5  # spread over the demo's grids
    with Session(engine) as s:  # seeding again adds nothing
        assert seed_iot(s, scale="small") == {}


def test_the_first_burst_shows_a_storm_as_one_alert_and_one_case(demo: Any) -> None:
    engine, _ = demo
    with Session(engine) as s:
        storm = s.scalar(select(Alert).where(Alert.title == "烟感报警"))
        assert storm is not None and storm.count == 40 and storm.case_id is not None
        case = s.get(Case, storm.case_id)
        assert case is not None and case.channel == Channel.iot
        titles = set(s.scalars(select(Alert.title)))
        assert {"井盖移位/开启", "门锁被撬/拆卸", "水位超警戒（持续 5 分钟）"} <= titles
        assert s.scalar(select(func.count()).select_from(Message).where(Message.accepted.is_(False))) == 1


def test_the_simulator_speaks_every_seeded_type(demo: Any) -> None:
    engine, _ = demo
    with Session(engine) as s:
        fleet = load_fleet(s)
    sim = Simulator(BrokerConfig(prefix="zhili", district="330522"), fleet, alarm_share=0.2)
    msgs = list(sim.messages(600))
    kinds = {t.split("/")[2] for t, _ in msgs}
    assert kinds == {"smoke_detector", "manhole_cover", "gas", "elevator", "camera_alarm", "water_level",
                     "door_lock"}
    assert all(t.startswith("zhili/330522/") and b.startswith(b'{"mid":"sim-') for t, b in msgs)
