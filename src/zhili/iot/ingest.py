"""The MQTT ingest (`zhili iot run`): subscribes to the district's topic tree, records every message in batches, and
acknowledges each to the broker only after its batch is committed.

* **Connection.** ``ZHILI_MQTT_URL`` (``mqtt://host:1883`` or ``mqtts://host:8883``), username/password, a CA file
  and optionally a client certificate and key (mutual TLS). A *fixed* client id with a persistent session
  (MQTT 3.1.1 ``clean_session=False``; MQTT 5 ``clean_start=False`` with a session expiry), so QoS 1 messages
  published while the ingest is down or restarting wait in the broker for it.
* **Subscription.** ``{prefix}/{district}/+/+/+`` at QoS 1 — ``{device_type}/{device_id}/{kind}`` below the
  district.
* **At least once, exactly once in effect.** ``manual_ack``: paho hands a message over and sends nothing back; the
  batch loop takes up to ``iot_batch_max`` messages (or what arrived within ``iot_batch_ms``), records and
  evaluates them in ONE transaction (:func:`zhili.iot.engine.process_batch`), commits, and only then PUBACKs them
  in order. A crash before the commit leaves them unacknowledged: the broker delivers them again, and the
  (device, message id) idempotency makes the second delivery change nothing when the first did commit.
* **Shutdown.** SIGTERM/SIGINT stop taking new batches; the batch in hand is committed and acknowledged, then the
  client disconnects. A batch that fails (database busy, a race with another ingest) is rolled back and retried
  with back-off; it is never acknowledged unrecorded.
* **Sweeps.** The heartbeat sweep (:mod:`zhili.iot.heartbeat`) runs between batches behind its lease, so any
  number of ingest and server processes share it.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from zhili.core.db import busy_error, session_scope, utcnow
from zhili.core.settings import Settings, get_settings
from zhili.iot.engine import BatchResult, Incoming, process_batch, record_failed

log = logging.getLogger(__name__)
ATTEMPTS = 3  # tries of a batch failing on anything but a busy database, before it is split to find the culprit


def _merged(a: BatchResult, b: BatchResult) -> BatchResult:
    """Two halves' results as one batch's."""
    out = BatchResult(seconds=a.seconds + b.seconds, new_alert_ids=[*a.new_alert_ids, *b.new_alert_ids])
    for name in ("received", "recorded", "accepted", "rejected", "duplicates", "alerts_opened", "alerts_counted",
                 "alerts_closed", "cases", "notes"):
        setattr(out, name, getattr(a, name) + getattr(b, name))
    return out


@dataclass
class BrokerConfig:
    """Where and how to connect (from the settings, or given by a test or the benchmark)."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str = ""
    password: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_id: str = "zhili-ingest"
    protocol: str = "5"
    session_expiry_s: int = 7 * 86400
    prefix: str = "zhili"
    district: str = ""
    keepalive: int = 30

    @property
    def topic_filter(self) -> str:
        return f"{self.prefix}/{self.district}/+/+/+"

    @classmethod
    def from_settings(cls, s: Settings | None = None, **over: Any) -> BrokerConfig:
        s = s or get_settings()
        u = urlsplit(s.mqtt_url)
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"ZHILI_MQTT_URL must be mqtt:// or mqtts://, not {u.scheme!r}")
        tls = u.scheme in ("mqtts", "ssl")
        cfg = cls(host=u.hostname or "127.0.0.1", port=u.port or (8883 if tls else 1883), tls=tls,
                  username=s.mqtt_username or (u.username or ""), password=s.mqtt_password or (u.password or ""),
                  ca_file=s.mqtt_ca_file, cert_file=s.mqtt_cert_file, key_file=s.mqtt_key_file,
                  client_id=s.mqtt_client_id, protocol=s.mqtt_protocol, session_expiry_s=s.mqtt_session_expiry_s,
                  prefix=s.mqtt_topic_prefix.rstrip("/"), district=s.mqtt_district or s.district_code)
        for k, v in over.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


def make_client(cfg: BrokerConfig, *, manual_ack: bool, client_id: str | None = None,
                persistent: bool = True) -> Any:
    """A paho client configured for ``cfg`` (not yet connected)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    v5 = cfg.protocol == "5"
    kwargs: dict[str, Any] = {"callback_api_version": CallbackAPIVersion.VERSION2,
                              "client_id": client_id if client_id is not None else cfg.client_id,
                              "protocol": mqtt.MQTTv5 if v5 else mqtt.MQTTv311, "manual_ack": manual_ack}
    if not v5:
        kwargs["clean_session"] = not persistent
    client = mqtt.Client(**kwargs)
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password or None)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None, keyfile=cfg.key_file or None,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def connect(client: Any, cfg: BrokerConfig, *, persistent: bool = True, wait: bool = True) -> None:
    """Connect now (``wait``: a broker that does not answer raises), or let paho's loop connect and keep
    reconnecting with back-off (the ingest: a broker restarting or not up yet is waited for, not a crash)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    how = client.connect if wait else client.connect_async
    if cfg.protocol == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s if persistent else 0
        props.ReceiveMaximum = 65535
        how(cfg.host, cfg.port, keepalive=cfg.keepalive, clean_start=not persistent, properties=props)
    else:
        how(cfg.host, cfg.port, keepalive=cfg.keepalive, clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY)


@dataclass
class _Delivered:
    topic: str
    payload: bytes
    mid: int
    qos: int
    at: Any


@dataclass
class IngestStats:
    batches: int = 0
    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts_opened: int = 0
    cases: int = 0
    retries: int = 0
    last: BatchResult | None = None
    started: float = field(default_factory=time.monotonic)


class Ingest:
    """One ingest process's client and batch loop (:meth:`run` until :meth:`stop`)."""

    def __init__(self, cfg: BrokerConfig, *, batch_max: int | None = None, batch_ms: int | None = None,
                 session_factory: Callable[[], Any] = session_scope, sweep: bool = True,
                 on_batch: Callable[[BatchResult], None] | None = None) -> None:
        s = get_settings()
        self.cfg = cfg
        self.batch_max = batch_max or s.iot_batch_max
        self.batch_s = (batch_ms if batch_ms is not None else s.iot_batch_ms) / 1000
        self.session_factory = session_factory
        self.sweep = sweep
        self.on_batch = on_batch
        self.inbox: queue.Queue[_Delivered] = queue.Queue()
        self.stopping = threading.Event()
        self.subscribed = threading.Event()
        self.stats = IngestStats()
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.client = make_client(cfg, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    # paho's network thread -------------------------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt connect refused: %s", reason)
            return
        log.info("mqtt connected to %s:%s as %s (session present: %s); subscribing %s", self.cfg.host,
                 self.cfg.port, self.cfg.client_id, getattr(flags, "session_present", None), self.cfg.topic_filter)
        client.subscribe(self.cfg.topic_filter, qos=1)

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self.stopping.is_set():
            log.warning("mqtt disconnected (%s); paho reconnects", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if self.stopping.is_set():
            return  # stopping: left unacknowledged, so the broker delivers it again to the next run
        self.inbox.put(_Delivered(msg.topic, msg.payload, msg.mid, msg.qos, utcnow()))

    # the batch loop --------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        connect(self.client, self.cfg, wait=False)  # paho's loop connects, and reconnects with back-off
        self.client.loop_start()

    def stop(self) -> None:
        self.stopping.set()

    def _take(self) -> list[_Delivered]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_s
        while len(batch) < self.batch_max:
            try:
                batch.append(self.inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=min(left, 0.005)))
            except queue.Empty:
                if self.inbox.empty() and left < self.batch_s / 2:
                    break
        return batch

    def _commit(self, batch: list[_Delivered]) -> BatchResult:
        """Record and evaluate the batch in one transaction. A busy database is waited out (back-off, no limit:
        nothing is acknowledged until it is committed). Any other error is a defect some message sets off: after
        :data:`ATTEMPTS` tries the batch is split in halves, down to the one message that fails, which is kept as
        rejected with the error's name (:func:`~zhili.iot.engine.record_failed`) — one poison message never stops
        the ingest, and every message is still accounted for."""
        items = [Incoming(topic=d.topic, payload=d.payload, received_at=d.at) for d in batch]
        return self._process(items)

    def _process(self, items: list[Incoming]) -> BatchResult:
        delay, failures = 0.2, 0
        while True:
            try:
                with self.session_factory() as session:
                    return process_batch(session, items, prefix=self.cfg.prefix)
            except Exception as exc:
                self.stats.retries += 1
                if busy_error(exc) is None:
                    failures += 1
                log.exception("iot batch of %d failed; retrying in %.1f s", len(items), delay)
                if failures >= ATTEMPTS:
                    return self._isolate(items, exc)
                if self.stopping.is_set() and delay > 5:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 10)

    def _isolate(self, items: list[Incoming], exc: Exception) -> BatchResult:
        if len(items) > 1:
            half = len(items) // 2
            return _merged(self._process(items[:half]), self._process(items[half:]))
        log.error("iot message on %s failed %d times; kept as rejected", items[0].topic[:120], ATTEMPTS)
        with self.session_factory() as session:
            return record_failed(session, items[0], error=type(exc).__name__, prefix=self.cfg.prefix)

    def run_once(self) -> int:
        batch = self._take()
        if not batch:
            return 0
        res = self._commit(batch)
        for d in batch:  # committed: now, and only now, tell the broker
            if d.qos > 0:
                self.client.ack(d.mid, d.qos)
        st = self.stats
        st.batches += 1
        st.received += res.received
        st.recorded += res.recorded
        st.duplicates += res.duplicates
        st.rejected += res.rejected
        st.alerts_opened += res.alerts_opened
        st.cases += res.cases
        st.last = res
        if self.on_batch:
            self.on_batch(res)
        return len(batch)

    def run(self) -> IngestStats:
        """Connect, then batch until :meth:`stop`; finish the batch in hand, acknowledge it, disconnect."""
        self.start()
        next_sweep = 0.0
        try:
            while not self.stopping.is_set():
                self.run_once()
                if self.sweep and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 5
                    try:
                        from zhili.iot.heartbeat import run_due

                        run_due(self.session_factory, holder=self.holder)
                    except Exception:
                        log.exception("iot sweep failed")
            # record and acknowledge what paho already handed over (nothing more is taken once stopping)
            while not self.inbox.empty():
                self.run_once()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats


def install_signals(ingest: Ingest) -> None:
    """SIGTERM / SIGINT end the loop gracefully."""
    def handler(signum: int, frame: Any) -> None:
        log.info("signal %s: finishing the batch in hand", signum)
        ingest.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
