"""The real broker for the MQTT tests: Mosquitto at 127.0.0.1:1883 (``make test`` starts it). Every test uses its
own topic prefix and client ids, because the SQLite and PostgreSQL passes run at the same time against it."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from zhili.iot.ingest import BrokerConfig, connect, make_client

HOST, PORT = "127.0.0.1", 1883


def broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


def require_broker() -> None:
    if not broker_up():
        if os.environ.get("ZHILI_REQUIRE_MQTT") or os.environ.get("CI"):
            pytest.fail("Mosquitto is not running at 127.0.0.1:1883 (deploy/ensure-mosquitto.sh starts it)")
        pytest.skip("Mosquitto is not running at 127.0.0.1:1883")


def unique(tag: str) -> str:
    return f"zt{tag}{uuid.uuid4().hex[:10]}"


def config(prefix: str, *, client_id: str | None = None, protocol: str = "3.1.1") -> BrokerConfig:
    return BrokerConfig(host=HOST, port=PORT, prefix=prefix, district="330522",
                        client_id=client_id or unique("ing"), protocol=protocol)


@contextmanager
def publisher(cfg: BrokerConfig) -> Iterator[Any]:
    """A connected QoS-1 publisher (its own client id, no persistent session)."""
    client = make_client(cfg, manual_ack=False, client_id=unique("pub"), persistent=False)
    connect(client, cfg, persistent=False)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(client: Any, messages: Iterable[tuple[str, bytes]]) -> int:
    """Publish at QoS 1 and wait until the broker has every one (PUBACK)."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=30)
        assert info.is_published()
    return len(infos)


def topic(prefix: str, type_code: str, key: str, kind: str) -> str:
    return f"{prefix}/330522/{type_code}/{key}/{kind}"


def body(**kw: Any) -> bytes:
    return json.dumps({"mid": uuid.uuid4().hex, **kw}).encode()


def forget(cfg: BrokerConfig) -> None:
    """Discard the broker's persistent session of ``cfg.client_id`` (a clean connect), so tests leave none behind."""
    import threading

    done = threading.Event()
    client = make_client(cfg, manual_ack=False, client_id=cfg.client_id, persistent=False)
    client.on_connect = lambda *a: done.set()
    connect(client, cfg, persistent=False)
    client.loop_start()
    try:
        done.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()

