"""A traffic simulator for the registered devices (`zhili iot simulate`): heartbeats, telemetry, the occasional
alarm and door-lock unlocks — some with a credential nobody registered — published over MQTT at a chosen rate,
so the ingest, the rules, the pages and the screen have something real to work on. Also the benchmark's and the
tests' publisher.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.iot.ingest import BrokerConfig, connect, make_client
from zhili.iot.models import Device, DeviceStatus, DeviceType


@dataclass(frozen=True)
class SimDevice:
    key: str
    type_code: str
    credentials: tuple[str, ...] = ()  # a lock's registered credentials (when the rental register gives them)


def load_fleet(session: Session) -> list[SimDevice]:
    """Every enabled device with its type (locks with the credentials of their room's keys when known)."""
    rows = session.execute(select(Device.device_key, DeviceType.code)
                           .join(DeviceType, DeviceType.id == Device.type_id)
                           .where(Device.status != DeviceStatus.disabled).order_by(Device.device_key))
    return [SimDevice(key, code) for key, code in rows]


_ALARMS = {"smoke_detector": "alarm", "manhole_cover": "tilt", "gas": "leak", "elevator": "trapped",
           "camera_alarm": "fire", "water_level": "over_alarm", "door_lock": "tamper"}


def payload_for(dev: SimDevice, rng: random.Random, *, alarm: bool) -> tuple[str, dict[str, Any]]:
    """(kind, payload) of one realistic message of ``dev``'s type."""
    t = dev.type_code
    roll = rng.random()
    if roll < 0.3 and not alarm:
        return "heartbeat", {"battery": rng.randint(20, 100), "rssi": rng.randint(-110, -60)}
    if t == "smoke_detector":
        if alarm:
            return "events", {"event": "alarm", "smoke": round(rng.uniform(15, 60), 1)}
        return "telemetry", {"smoke": round(rng.uniform(0, 3), 2), "temperature": round(rng.uniform(15, 32), 1),
                             "battery": rng.randint(30, 100)}
    if t == "door_lock":
        if alarm:
            return "events", {"event": "tamper"}
        if dev.credentials and rng.random() < 0.95:
            return "events", {"event": "unlock", "credential": rng.choice(dev.credentials),
                              "method": rng.choice(["card", "password", "app"])}
        if rng.random() < 0.9:  # the register keeps keys hashed: without them, mostly lockings and battery
            return "telemetry", {"battery": rng.randint(20, 100), "door_open": rng.random() < 0.1}
        return "events", {"event": "unlock", "credential": f"UNK-{rng.randint(1000, 9999)}", "method": "card"}
    if t == "manhole_cover":
        if alarm:
            return "events", {"event": "tilt"}
        return "telemetry", {"tilt_deg": round(rng.uniform(0, 3), 1), "battery": rng.randint(30, 100)}
    if t == "water_level":
        return "telemetry", {"level_m": round(rng.uniform(2.6, 3.2) if alarm else rng.uniform(0.3, 1.8), 2)}
    if t == "gas":
        if alarm:
            return "events", {"event": "leak", "lel": round(rng.uniform(25, 60), 1)}
        return "telemetry", {"lel": round(rng.uniform(0, 3), 1)}
    if t == "elevator":
        if alarm:
            return "events", {"event": "trapped", "floor": rng.randint(1, 18)}
        return "telemetry", {"floor": rng.randint(1, 18), "running": rng.random() < 0.6, "door_open": False}
    if t == "camera_alarm":
        if alarm:
            return "events", {"event": rng.choice(["fire", "intrusion"]), "confidence": round(rng.uniform(.8, .99), 2)}
        return "telemetry", {"people": rng.randint(0, 40)}
    return "heartbeat", {}


@dataclass
class Simulator:
    """Publishes for ``fleet`` (QoS 1) under ``cfg``'s prefix and district."""

    cfg: BrokerConfig
    fleet: list[SimDevice]
    seed: int = 7
    alarm_share: float = 0.01
    published: int = 0
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def messages(self, n: int | None = None) -> Iterator[tuple[str, bytes]]:
        rng = random.Random(self.seed)
        run = uuid.uuid4().hex[:8]
        i = 0
        while n is None or i < n:
            dev = rng.choice(self.fleet)
            kind, body = payload_for(dev, rng, alarm=rng.random() < self.alarm_share)
            body = {"mid": f"sim-{run}-{next(self.ids)}", "ts": round(time.time(), 3), **body}
            yield (f"{self.cfg.prefix}/{self.cfg.district}/{dev.type_code}/{dev.key}/{kind}",
                   json.dumps(body, separators=(",", ":")).encode())
            i += 1

    def run(self, *, rate: float, seconds: float | None) -> int:
        """Publish at ``rate`` messages a second for ``seconds`` (None: until interrupted); the number sent."""
        client = make_client(self.cfg, manual_ack=False, client_id=f"zhili-sim-{uuid.uuid4().hex[:8]}",
                             persistent=False)
        connect(client, self.cfg, persistent=False)
        client.loop_start()
        t0 = time.monotonic()
        try:
            for topic, payload in self.messages():
                if seconds is not None and time.monotonic() - t0 >= seconds:
                    break
                client.publish(topic, payload, qos=1)
                self.published += 1
                ahead = self.published / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except KeyboardInterrupt:
            pass
        finally:
            time.sleep(0.5)
            client.disconnect()
            client.loop_stop()
        return self.published
