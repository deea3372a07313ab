"""Notifications through small typed channel adapters: in-app inbox (always), webhook, SMS, WeChat.

The SMS and WeChat adapters log by default (no gateway is configured in a fresh deployment); a deployment
plugs in its gateway by registering an adapter. Tests use :class:`FakeChannel` to see what was sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from zhili.cases.models import Notification
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
    department: str | None = None  # department/unit inbox (code)
    phone: str | None = None  # reporter without an account (SMS)


class Channel(Protocol):
    """A delivery channel."""

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

    def send(self, message: Message) -> str:
        if not self.url:
            return "skipped"
        import httpx

        payload = {"kind": message.kind, "title": message.title,
                   "case_id": str(message.case_id) if message.case_id else None,
                   "department": message.department}
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


def send_external(message: Message) -> dict[str, str]:
    """Pass the message to every external channel; the statuses by channel, the inbox included."""
    statuses = {"inbox": "stored"}
    for ch in channels():
        try:
            statuses[ch.name] = ch.send(message)
        except Exception:
            log.exception("notification channel %s failed", ch.name)
            statuses[ch.name] = "failed"
    return statuses


def deliver(session: Session, message: Message) -> Notification:
    """Write the in-app notification and pass the message to every external channel."""
    statuses = send_external(message)
    n = Notification(user_id=message.user_id, department=message.department, case_id=message.case_id,
                     kind=message.kind, title=message.title, body=message.body, channels=statuses)
    session.add(n)
    return n
