"""Notifications through small typed channel adapters: in-app inbox (always), webhook, SMS, WeChat.

The SMS and WeChat adapters log by default (no gateway is configured in a fresh deployment); a deployment
plugs in its gateway by registering an adapter. Tests use :class:`FakeChannel` to see what was sent.

A channel that talks to the network (``deferred = True``: the webhook once a URL is configured, a real SMS gateway)
is never called inside the transaction that creates the notification — that transaction may hold the database's
write lock, and a gateway that takes three seconds to time out would stop every writer for three seconds. The
notification row is written with that channel's status ``pending`` (and ``delivery_pending`` set) and the message
goes to the session's outbox; when the transaction commits, the process's :class:`Outbox` thread sends it and
records the statuses. A rolled-back transaction sends nothing. Rows still pending after a crash are found by the
deadline sweep (:func:`redeliver_pending`) and sent again: delivery is at least once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from sqlalchemy import Engine, Table, bindparam, event, select, update
from sqlalchemy.orm import Session

from zhili.cases.models import Notification
from zhili.core.db import get_engine, unit_of_work, utcnow, write_guard
from zhili.core.ids import new_id
from zhili.core.masking import mask_phone, mask_text
from zhili.core.settings import get_settings

log = logging.getLogger("zhili.notify")


@dataclass(frozen=True)
class Message:
    """One notification to deliver."""

    kind: str
    title: str
    body: str
    case_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None  # in-app recipient
    recipient: str | None = None  # an inbox that is not one user's: a department code, a unit code, "command_centre"
    phone: str | None = None  # reporter without an account (SMS)


class Channel(Protocol):
    """A delivery channel. One with a true ``deferred`` attribute is called after the commit (see above)."""

    name: str

    def send(self, message: Message) -> str:
        """Deliver (or log) a message; returns a status such as 'sent', 'logged' or 'failed'."""


class LoggingSms:
    """SMS adapter default: writes the message to the log with the phone masked."""

    name = "sms"

    def send(self, message: Message) -> str:
        if not message.phone:
            return "skipped"
        log.info("SMS to %s: %s", mask_phone(message.phone), mask_text(message.body))
        return "logged"


class LoggingWeChat:
    """WeChat template-message adapter default: logs."""

    name = "wechat"

    def send(self, message: Message) -> str:
        if message.user_id is None:
            return "skipped"
        log.info("WeChat to user %s: %s", message.user_id, message.title)
        return "logged"


class Webhook:
    """POSTs a JSON event to the configured URL (no personal data: ids, kinds and titles only)."""

    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def deferred(self) -> bool:
        """A configured webhook goes over the network: after the commit."""
        return bool(self.url)

    def send(self, message: Message) -> str:
        if not self.url:
            return "skipped"
        import httpx

        payload = {"kind": message.kind, "title": message.title,
                   "case_id": str(message.case_id) if message.case_id else None,
                   "recipient": message.recipient}
        try:
            httpx.post(self.url, content=json.dumps(payload, ensure_ascii=False),
                       headers={"content-type": "application/json"}, timeout=3.0)
            return "sent"
        except httpx.HTTPError as exc:
            log.warning("webhook failed: %s", type(exc).__name__)
            return "failed"


@dataclass
class FakeChannel:
    """Records messages (tests)."""

    name: str = "fake"
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> str:
        self.sent.append(message)
        return "sent"


_extra_channels: list[Channel] | None = None


def channels() -> list[Channel]:
    """External channels in use (the in-app inbox is always written in addition)."""
    global _extra_channels
    if _extra_channels is None:
        _extra_channels = [LoggingSms(), LoggingWeChat(), Webhook(get_settings().webhook_url)]
    return _extra_channels


def set_channels(chs: list[Channel] | None) -> None:
    """Replace the external channels (deployment wiring, tests)."""
    global _extra_channels
    _extra_channels = chs


PENDING = "pending"
_OUTBOX = "zhili_outbox"  # session.info key: what this transaction will send once it commits


def _deferred(ch: Channel) -> bool:
    return bool(getattr(ch, "deferred", False))


@dataclass(frozen=True)
class Pending:
    """A notification waiting for its deferred channels: the row, the message and the statuses so far."""

    notification_id: uuid.UUID
    message: Message
    statuses: dict[str, str]


def send_external(message: Message, *, session: Session | None = None,
                  notification_id: uuid.UUID | None = None) -> dict[str, str]:
    """Pass the message to every immediate channel, and queue it in ``session``'s outbox for the deferred ones (sent
    after the commit); the statuses by channel, the inbox included (``pending`` for the deferred). Without a
    session the deferred channels are called now."""
    statuses = {"inbox": "stored"}
    later = False
    for ch in channels():
        if session is not None and notification_id is not None and _deferred(ch):
            statuses[ch.name] = PENDING
            later = True
            continue
        statuses[ch.name] = _send(ch, message)
    if later:
        assert session is not None and notification_id is not None
        session.info.setdefault(_OUTBOX, []).append(Pending(notification_id, message, statuses))
    return statuses


def _send(ch: Channel, message: Message) -> str:
    try:
        return ch.send(message)
    except Exception:
        log.exception("notification channel %s failed", ch.name)
        return "failed"


def is_pending(statuses: dict[str, str]) -> bool:
    """True while a deferred channel has not been tried."""
    return PENDING in statuses.values()


def deliver(session: Session, message: Message) -> Notification:
    """Write the in-app notification; immediate channels are called now, deferred ones after the commit."""
    nid = new_id()
    statuses = send_external(message, session=session, notification_id=nid)
    n = Notification(id=nid, user_id=message.user_id, recipient=message.recipient, case_id=message.case_id,
                     kind=message.kind, title=message.title, body=message.body, channels=statuses,
                     delivery_pending=is_pending(statuses))
    session.add(n)
    return n


# -- the outbox ----------------------------------------------------------------------------------------------------

@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    items = session.info.pop(_OUTBOX, None)
    if items:
        outbox().submit(items)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_OUTBOX, None)


class Outbox:
    """One thread per process that calls the deferred channels for committed notifications and records the
    statuses (one UPDATE per drained batch)."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine  # None: the process's engine
        self._queue: queue.SimpleQueue[list[Pending] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self.delivered = 0

    def submit(self, items: Sequence[Pending]) -> None:
        """Queue committed notifications for their deferred channels."""
        self._idle.clear()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="zhili-outbox", daemon=True)
                self._thread.start()
        self._queue.put(list(items))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been sent and recorded (tests, shutdown)."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued, then end the thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._idle.set()
                return
            batch = list(first)
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.extend(more)
            try:
                self._deliver(batch)
            except Exception:  # the rows stay pending; the sweep sends them again
                log.exception("recording %d deferred notifications failed", len(batch))
            if stop:
                self._idle.set()
                return
            if self._queue.empty():
                self._idle.set()

    def _deliver(self, batch: list[Pending]) -> None:
        deferred = [ch for ch in channels() if _deferred(ch)]
        rows = []
        for item in batch:
            statuses = dict(item.statuses)
            for ch in deferred:
                if statuses.get(ch.name) == PENDING:
                    statuses[ch.name] = _send(ch, item.message)
            for name, status in statuses.items():  # a channel no longer configured
                if status == PENDING:
                    statuses[name] = "skipped"
            rows.append({"b_id": item.notification_id, "b_channels": statuses})
        engine = self.engine if self.engine is not None else get_engine()
        from sqlalchemy.orm import sessionmaker

        t = cast(Table, Notification.__table__)
        with write_guard(engine), unit_of_work(sessionmaker(bind=engine)) as session:
            session.connection().execute(
                update(t).where(t.c.id == bindparam("b_id"))
                .values(channels=bindparam("b_channels", type_=t.c.channels.type), delivery_pending=False), rows)
        self.delivered += len(rows)


_outbox: Outbox | None = None
_outbox_lock = threading.Lock()


def outbox() -> Outbox:
    """The process's outbox (created on first use)."""
    global _outbox
    with _outbox_lock:
        if _outbox is None:
            _outbox = Outbox()
        return _outbox


def set_outbox(box: Outbox | None) -> None:
    """Replace the process's outbox (tests with a database of their own); the previous one is stopped."""
    global _outbox
    with _outbox_lock:
        old, _outbox = _outbox, box
    if old is not None:
        old.stop()


def stop_outbox() -> None:
    """Send what is queued and stop the process's outbox thread (server shutdown)."""
    global _outbox
    with _outbox_lock:
        box, _outbox = _outbox, None
    if box is not None:
        box.stop()


def redeliver_pending(session: Session, *, older_than: dt.timedelta = dt.timedelta(minutes=5),
                      limit: int = 500) -> int:
    """Queue again the notifications still pending well after they were written (the process that wrote them
    stopped before sending): they are sent after this transaction commits. The number queued."""
    from zhili.cases.models import Case
    from zhili.core.crypto import get_cipher

    rows = list(session.scalars(select(Notification).where(
        Notification.delivery_pending.is_(True), Notification.created_at < utcnow() - older_than)
        .order_by(Notification.created_at).limit(limit)))
    for n in rows:
        phone = None
        if n.user_id is None and n.recipient is None and n.case_id is not None:  # a reporter without an account
            case = session.get(Case, n.case_id)
            if case is not None and case.reporter_phone_enc is not None:
                phone = get_cipher().decrypt(case.reporter_phone_enc, table="case", column="reporter_phone",
                                             row_id=case.id)
        message = Message(kind=n.kind, title=n.title, body=n.body, case_id=n.case_id, user_id=n.user_id,
                          recipient=n.recipient, phone=phone)
        session.info.setdefault(_OUTBOX, []).append(Pending(n.id, message, dict(n.channels)))
    return len(rows)

