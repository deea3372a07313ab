"""Sustained MQTT ingest against the local broker (issue 18): `zhili iot run` as its own process, a QoS 1 publisher
in this one, the database a fresh SQLite file (or a fresh PostgreSQL schema with ``--database``).

    .venv/bin/python bench/bench_iot_ingest.py [--seconds 20] [--rate 3000] [--devices 2000] [--protocol 5]
                                               [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

1. **Baseline**: the publisher alone — the same messages published at QoS 1 as fast as it can, to a topic nobody
   subscribes to, until the broker has acknowledged every one. The ceiling of this machine's publisher + broker.
2. **Ingest**: the ingest subscribed; the publisher sends for ``--seconds`` at up to ``--rate`` a second (3 % of the
   messages off their schema, 0.5 % alarms). Mosquitto's default configuration keeps at most 1,000 QoS 1 messages
   for a subscriber that is behind and drops the rest, so the publisher never lets the ingest fall more than 800
   behind (checked every 100 messages; it waits, and the wait shows as a lower publish rate) — with a production broker configured as in
   docs/iot.md the same ingest absorbs bursts instead. **Lost** = published − recorded (accepted + rejected with a
   reason): must be 0.
3. **Publish → case**: single smoke alarms from quiet detectors, each timed from its publish to the case's row.

The figures and the command go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("ZHILI_KEYS", json.dumps({
    "active": "k1", "keys": {"k1": base64.b64encode(b"\x01" * 32).decode()},
    "index_key": base64.b64encode(b"\x02" * 32).decode(), "session_secret": base64.b64encode(b"\x03" * 32).decode()}))

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

import zhili
from zhili.cases.taxonomy import load_defaults
from zhili.core import migrate
from zhili.core.db import make_engine
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.iot import devices, types
from zhili.iot.ingest import BrokerConfig, connect, make_client
from zhili.iot.models import Alert, Message
from zhili.regions.models import Unit, UnitLevel

SRC = str(Path(zhili.__file__).resolve().parents[1])


def database(arg: str | None, tmp: Path) -> tuple[str, Engine, Any]:
    if arg and arg.startswith("postgresql"):
        schema = f"zb_{uuid.uuid4().hex[:10]}"
        admin = make_engine(arg)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        eng = make_engine(arg, connect_args={"options": f"-csearch_path={schema}"})

        def drop() -> None:
            eng.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        return arg + ("&" if "?" in arg else "?") + f"options=-csearch_path%3D{schema}", eng, drop
    url = f"sqlite:///{tmp / 'bench.db'}"
    eng = make_engine(url)
    return url, eng, eng.dispose


def seed(eng: Engine, n: int) -> list[tuple[str, str]]:
    with eng.begin() as conn:
        migrate.upgrade(connection=conn)
    admin = Principal(user_id=uuid.UUID(int=9), username="bench", display_name="bench", role=Role.admin,
                      scope_paths=("330522",))
    mix = ["smoke_detector"] * 5 + ["gas"] * 2 + ["water_level", "elevator", "manhole_cover"]
    out = []
    with Session(eng) as s:
        s.add(Unit(level=UnitLevel.district, code="330522", name="长兴县", path="330522", depth=0,
                   valid_from=dt.date(2020, 1, 1)))
        s.flush()
        unit = s.scalar(select(Unit))
        assert unit is not None
        load_defaults(s)
        types.install_defaults(s)
        for i in range(n):
            code = mix[i % len(mix)]
            devices.create_device(s, principal=admin, device_key=f"B-{i:05d}", audit_it=False,
                                  data={"type_code": code, "name": f"设备{i}", "unit_id": unit.id,
                                        "address": f"基准路{i}号"})
            out.append((f"B-{i:05d}", code))
        s.commit()
    return out


def payload(code: str, rng: random.Random, mid: str, *, bad: bool, alarm: bool) -> tuple[str, dict[str, Any]]:
    if bad:
        return "telemetry", {"mid": mid, "smoke": 999, "lel": 999, "level_m": 999, "floor": 9999, "tilt_deg": 999}
    if code == "smoke_detector":
        return ("events", {"mid": mid, "event": "alarm"}) if alarm else \
            ("telemetry", {"mid": mid, "smoke": round(rng.random() * 2, 2), "battery": 88})
    if code == "gas":
        return "telemetry", {"mid": mid, "lel": round(rng.random() * 3, 1)}
    if code == "water_level":
        return "telemetry", {"mid": mid, "level_m": round(rng.uniform(0.2, 1.5), 2)}
    if code == "elevator":
        return "telemetry", {"mid": mid, "floor": rng.randint(1, 18), "running": True}
    return "heartbeat", {"mid": mid, "battery": 77}


def stream(fleet: list[tuple[str, str]], prefix: str, n: int, seed_: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed_)
    out = []
    for i in range(n):
        key, code = rng.choice(fleet)
        kind, body = payload(code, rng, f"m{i}", bad=rng.random() < 0.03, alarm=rng.random() < 0.005)
        out.append((f"{prefix}/330522/{code}/{key}/{kind}", json.dumps(body, separators=(",", ":")).encode()))
    return out


def client(cfg: BrokerConfig) -> Any:
    c = make_client(cfg, manual_ack=False, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}", persistent=False)
    c.max_inflight_messages_set(1000)
    connect(c, cfg, persistent=False)
    c.loop_start()
    return c


def baseline(cfg: BrokerConfig, msgs: list[tuple[str, bytes]]) -> float:
    c = client(cfg)
    try:
        t0 = time.perf_counter()
        infos = [c.publish(t.replace(cfg.prefix, cfg.prefix + "-nobody", 1), p, qos=1) for t, p in msgs]
        for i in infos:
            i.wait_for_publish(60)
        return len(msgs) / (time.perf_counter() - t0)
    finally:
        c.disconnect()
        c.loop_stop()


_EXTRA = {"n": 0}  # probes and timed alarms: recorded too, not part of the stream


def count(eng: Engine) -> int:
    """Stream messages recorded (a count of the whole table, cheap, less the extra messages)."""
    with Session(eng) as s:
        return int(s.scalar(select(func.count()).select_from(Message)) or 0) - _EXTRA["n"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=3000)
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--protocol", default="5", choices=["3.1.1", "5"])
    ap.add_argument("--database", default=None)
    ap.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zhili-iot-bench-"))
    url, eng, cleanup = database(args.database, tmp)
    host, port = args.broker.removeprefix("mqtt://").split(":")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    cfg = BrokerConfig(host=host, port=int(port), prefix=prefix, district="330522",
                       client_id=f"bench-ingest-{uuid.uuid4().hex[:8]}", protocol=args.protocol)
    t0 = time.perf_counter()
    fleet = seed(eng, args.devices)
    seed_s = time.perf_counter() - t0
    total = int(args.seconds * args.rate)
    quiet = [key for key, code in fleet if code == "smoke_detector"][-20:]  # kept for the latency alarms
    msgs = stream([f for f in fleet if f[0] not in quiet], prefix, total, 7)
    base_rate = baseline(cfg, msgs)
    env = {**os.environ, "PYTHONPATH": SRC, "ZHILI_DATABASE_URL": url, "ZHILI_VAR_DIR": str(tmp / "var"),
           "ZHILI_MQTT_URL": args.broker, "ZHILI_MQTT_TOPIC_PREFIX": prefix, "ZHILI_MQTT_DISTRICT": "330522",
           "ZHILI_MQTT_CLIENT_ID": cfg.client_id, "ZHILI_MQTT_PROTOCOL": args.protocol,
           "ZHILI_IOT_SWEEP_INTERVAL_S": "0", "ZHILI_LOG_LEVEL": "WARNING"}
    log = open(tmp / "ingest.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", "from zhili.cli import app; app()", "iot", "run"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    pub = client(cfg)
    try:
        # wait for the subscription: probes until one is recorded
        k = 0
        while True:
            k += 1
            pub.publish(f"{prefix}/330522/{fleet[0][1]}/{fleet[0][0]}/heartbeat",
                        json.dumps({"mid": f"probe{k}"}).encode(), qos=1).wait_for_publish(5)
            time.sleep(0.3)
            with Session(eng) as s:
                got = int(s.scalar(select(func.count()).select_from(Message)) or 0)
            if got:
                time.sleep(1.0)  # the probes still in flight land too
                with Session(eng) as s:
                    _EXTRA["n"] = int(s.scalar(select(func.count()).select_from(Message)) or 0)
                break
        lat_load: list[float] = []
        start = time.perf_counter()
        waited = 0.0
        recorded = count(eng)
        for i, (t, p) in enumerate(msgs):
            pub.publish(t, p, qos=1)
            sent = i + 1
            if i % 100 == 99:
                ahead = sent / args.rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
                recorded = count(eng)
                while sent - recorded > 700:  # under the broker's default queue limit (see the module text)
                    w0 = time.perf_counter()
                    time.sleep(0.01)
                    waited += time.perf_counter() - w0
                    recorded = count(eng)
            if i in (total // 3, total // 2, 2 * total // 3):
                lat_load.append(alarm_latency(eng, pub, prefix, quiet.pop()))
        publish_s = time.perf_counter() - start
        while count(eng) < total and time.perf_counter() - start < publish_s + 120:
            time.sleep(0.02)
        ingest_s = time.perf_counter() - start
        got = count(eng)
        lat_idle = [alarm_latency(eng, pub, prefix, quiet.pop()) for _ in range(5)]
        with Session(eng) as s:
            rejected = s.scalar(select(func.count()).select_from(Message).where(Message.accepted.is_(False)))
    finally:
        pub.disconnect()
        pub.loop_stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        forget = make_client(cfg, manual_ack=False, client_id=cfg.client_id, persistent=False)
        connect(forget, cfg, persistent=False)
        forget.loop_start()
        time.sleep(0.5)
        forget.disconnect()
        forget.loop_stop()
        cleanup()
    out = {"database": "postgresql" if url.startswith("postgresql") else "sqlite", "protocol": args.protocol,
           "devices": args.devices, "messages": total, "seed_s": round(seed_s, 1),
           "publisher_alone_per_s": round(base_rate), "publish_s": round(publish_s, 2),
           "publisher_waited_s": round(waited, 2), "ingest_s": round(ingest_s, 2),
           "ingest_per_s": round(got / ingest_s), "recorded": got, "rejected_with_reason": rejected,
           "lost": total - got,
           "alarm_to_case_ms_under_load": [round(x * 1000) for x in lat_load],
           "alarm_to_case_ms_idle": {"median": round(statistics.median(lat_idle) * 1000),
                                     "max": round(max(lat_idle) * 1000)}}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 1))


def alarm_latency(eng: Engine, pub: Any, prefix: str, key: str) -> float:
    """Seconds from publishing one alarm to its case's row."""
    t0 = time.perf_counter()
    _EXTRA["n"] += 1
    pub.publish(f"{prefix}/330522/smoke_detector/{key}/events",
                json.dumps({"mid": f"alarm-{uuid.uuid4().hex}", "event": "alarm"}).encode(), qos=1)
    while time.perf_counter() - t0 < 30:
        with Session(eng) as s:
            got = s.scalar(select(Alert.case_id).where(Alert.device_id.in_(select_device(key)),
                                                       Alert.case_id.is_not(None)))
        if got:
            return time.perf_counter() - t0
        time.sleep(0.002)
    return float("nan")


def select_device(key: str) -> Any:
    from zhili.iot.models import Device

    return select(Device.id).where(Device.device_key == key)


if __name__ == "__main__":
    main()
