"""Sending verification codes by SMS through the notification channel protocol of :mod:`zhili.cases.notify`.

A code never goes through ``notify.deliver`` (which also stores an in-app copy and calls the webhook): it is handed
to exactly one SMS channel. The default logs it — with the code in clear outside production, so a demo without a
gateway can still register, and masked in production. A deployment registers its gateway adapter (anything with
``name`` and ``send(message)``) with :func:`set_sms_channel`; tests use :class:`zhili.cases.notify.FakeChannel`.
"""

from __future__ import annotations

import logging
import re

from zhili.cases import notify
from zhili.core.masking import mask_phone
from zhili.core.settings import get_settings

log = logging.getLogger("zhili.sms")


class LoggingCodeSms:
    """Default SMS channel for verification codes: writes the message to the log (phone masked)."""

    name = "sms"

    def send(self, message: notify.Message) -> str:
        if not message.phone:
            return "skipped"
        body = message.body
        if get_settings().env == "prod":
            body = re.sub(r"\d{6}", "******", body)
        log.warning("SMS (no gateway configured) to %s: %s", mask_phone(message.phone), body)
        return "logged"


_channel: notify.Channel | None = None


def sms_channel() -> notify.Channel:
    """The channel verification codes are sent through."""
    global _channel
    if _channel is None:
        _channel = LoggingCodeSms()
    return _channel


def set_sms_channel(channel: notify.Channel | None) -> None:
    """Replace the SMS channel (deployment wiring, tests); ``None`` restores the logging default."""
    global _channel
    _channel = channel


def send_sms(*, phone: str, kind: str, text: str) -> str:
    """Hand one text to the SMS channel; returns its status ('sent', 'logged', 'failed' …)."""
    try:
        return sms_channel().send(notify.Message(kind=kind, title="短信验证码", body=text, phone=phone))
    except Exception:
        log.exception("SMS channel failed")
        return "failed"
