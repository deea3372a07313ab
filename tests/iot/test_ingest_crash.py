"""Redelivery after a killed ingest: `zhili iot run` as a separate process against its own database, SIGKILLed in
the middle of a stream of QoS 1 messages and started again — every published message is recorded exactly once,
and the two alarm storms in the stream are one alert and one case each, not one per delivery. SIGTERM then stops
the second process cleanly."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mqttkit import config, publisher, require_broker, topic, unique
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

import zhili
from zhili.cases.models import Case
from zhili.cases.taxonomy import load_defaults
from zhili.core import migrate
from zhili.core.db import make_engine
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.iot import devices, types
from zhili.iot.models import Alert, Message
from zhili.regions.models import Unit, UnitLevel

SRC = str(Path(zhili.__file__).resolve().parents[1])
ADMIN = Principal(user_id=uuid.UUID(int=7), username="crash-admin", display_name="crash-admin", role=Role.admin,
                  scope_paths=("330522",))


@contextmanager
def own_database(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A migrated database of its own (the subprocess must see committed rows): a SQLite file, or a fresh schema
    on the test PostgreSQL server."""
    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    schema = None
    if url.startswith("postgresql"):
        schema = f"zk_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        sub_url = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
        eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        sub_url = f"sqlite:///{tmp_path / 'crash.db'}"
        eng = make_engine(sub_url)
    try:
        with eng.begin() as conn:
            migrate.upgrade(connection=conn)
        yield sub_url, eng
    finally:
        eng.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def _seed(eng: Engine, n: int) -> list[str]:
    with Session(eng) as s:
        s.add(Unit(level=UnitLevel.district, code="330522", name="长兴县", path="330522", depth=0,
                   valid_from=dt.date(2020, 1, 1)))
        s.flush()
        unit = s.scalar(select(Unit))
        assert unit is not None
        load_defaults(s)
        types.install_defaults(s)
        keys = []
        for i in range(n):
            d = devices.create_device(s, principal=ADMIN, device_key=f"CR-{i:03d}", data={
                "type_code": "smoke_detector", "name": f"烟感{i}", "unit_id": unit.id, "address": f"测试路{i}号"})
            keys.append(d.device_key)
        s.commit()
    return keys


def _start(sub_url: str, cfg: Any, tmp_path: Path, tag: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC, "ZHILI_DATABASE_URL": sub_url, "ZHILI_ENV": "test",
           "ZHILI_VAR_DIR": str(tmp_path / "var"), "ZHILI_MQTT_URL": f"mqtt://{cfg.host}:{cfg.port}",
           "ZHILI_MQTT_TOPIC_PREFIX": cfg.prefix, "ZHILI_MQTT_DISTRICT": cfg.district,
           "ZHILI_MQTT_CLIENT_ID": cfg.client_id, "ZHILI_IOT_SWEEP_INTERVAL_S": "0", "ZHILI_SWEEP_INTERVAL_S": "0",
           "ZHILI_IOT_BATCH_MAX": "100", "ZHILI_IOT_BATCH_MS": "20"}
    log = open(tmp_path / f"ingest-{tag}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-c", "from zhili.cli import app; app()", "iot", "run"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path))


def _count(eng: Engine, prefix: str) -> int:
    """The stream's messages recorded (not the probes: those sent before the first subscription are lost by design)."""
    with Session(eng) as s:
        return int(s.scalar(select(func.count()).select_from(Message).where(
            Message.topic.startswith(prefix + "/"), Message.message_id.not_like("probe-%"))) or 0)


def _wait(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_ingest_loses_nothing_and_duplicates_nothing(tmp_path: Path, sessions: list[Any]) -> None:
    require_broker()
    prefix = unique("crash")
    cfg = config(prefix, client_id=unique("crashing"))
    sessions.append(cfg)
    with own_database(tmp_path) as (sub_url, eng):
        keys = _seed(eng, 12)
        storm = keys[:2]  # two detectors alarm a hundred times each
        rng = random.Random(18)
        stream: list[tuple[str, bytes, str, str]] = []
        for i in range(1300):
            k = rng.choice(keys[2:])
            mid = f"t-{i}"
            stream.append((topic(prefix, "smoke_detector", k, "telemetry"),
                           json.dumps({"mid": mid, "smoke": round(rng.random(), 2)}).encode(), k, mid))
        for i in range(200):
            k = storm[i % 2]
            mid = f"a-{i}"
            stream.insert(rng.randrange(len(stream)), (topic(prefix, "smoke_detector", k, "events"),
                                                       json.dumps({"mid": mid, "event": "alarm"}).encode(), k, mid))
        first = _start(sub_url, cfg, tmp_path, "1")
        published: list[tuple[str, str]] = []
        try:
            with publisher(cfg) as pub:
                # a probe until the first process has subscribed (its persistent session exists from then on)
                n = 0

                def probe() -> bool:
                    nonlocal n
                    n += 1
                    mid = f"probe-{n}"
                    pub.publish(topic(prefix, "smoke_detector", keys[-1], "heartbeat"),
                                json.dumps({"mid": mid}).encode(), qos=1).wait_for_publish(5)
                    time.sleep(0.3)
                    with Session(eng) as s:
                        return bool(s.scalar(select(func.count()).select_from(Message)))
                _wait(probe, 60, "the first ingest to subscribe")
                sent = threading.Event()

                def send() -> None:
                    infos = []
                    for j, (t, body, k, mid) in enumerate(stream):
                        infos.append(pub.publish(t, body, qos=1))
                        published.append((k, mid))
                        if j % 15 == 14:
                            time.sleep(0.05)  # ≈ 300 a second
                        # Mosquitto's default max_queued_messages (1,000) drops QoS 1 messages beyond it for a
                        # client that is away or behind (docs/iot.md: raise it in production); keep under it.
                        while j % 50 == 49 and len(published) - _count(eng, prefix) > 600:
                            time.sleep(0.05)
                    for info in infos:
                        info.wait_for_publish(30)
                    sent.set()
                sender = threading.Thread(target=send)
                sender.start()
                _wait(lambda: _count(eng, prefix) >= 400, 60, "400 messages recorded")
                first.send_signal(signal.SIGKILL)  # mid-stream, batches in flight
                first.wait(10)
                killed_at = _count(eng, prefix)
                second = _start(sub_url, cfg, tmp_path, "2")  # restarted while the stream goes on
                sender.join(60)
                assert sent.is_set()
            assert killed_at < len(published)
            try:
                try:
                    _wait(lambda: _count(eng, prefix) >= len(published), float(os.environ.get("ZT_WAIT", "90")),
                          "every message recorded")
                except AssertionError:
                    with Session(eng) as s:
                        got = {(r[0], r[1]) for r in s.execute(select(Message.device_key, Message.message_id))
                               .all()}
                    missing = [i for i, x in enumerate(published) if x not in got]
                    raise AssertionError(f"killed at {killed_at}; {len(got)} of {len(published)}; missing positions "
                                         f"{missing[:20]}…{missing[-5:]} ({len(missing)})") from None
                time.sleep(1.0)  # anything redelivered twice would show now
                with Session(eng) as s:
                    rows = s.execute(select(Message.device_key, Message.message_id)
                                     .where(Message.message_id.not_like("probe-%"))).all()
                    assert len(rows) == len(published) == len(set(published))
                    assert {(r[0], r[1]) for r in rows} == set(published)
                    assert s.scalar(select(func.count()).select_from(Message).where(
                        Message.accepted.is_(False))) == 0
                    alerts = list(s.scalars(select(Alert)))
                    assert sorted(a.count for a in alerts) == [100, 100]
                    assert len({a.case_id for a in alerts if a.case_id}) == 2
                    assert s.scalar(select(func.count()).select_from(Case)) == 2
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(20) == 0, (tmp_path / "ingest-2.log").read_text(errors="replace")[-2000:]
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
    out = (tmp_path / "ingest-2.log").read_text(errors="replace")
    assert "已停止" in out

