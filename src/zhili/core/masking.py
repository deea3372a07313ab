"""Masking of personal data for display (脱敏)."""

from __future__ import annotations

import logging
import re


def mask_id_number(v: str | None) -> str | None:
    """``110105199001011234`` → ``1101**********1234``."""
    if not v:
        return v
    return v[:4] + "*" * (len(v) - 8) + v[-4:] if len(v) > 8 else "*" * len(v)


def mask_phone(v: str | None) -> str | None:
    """``13812345678`` → ``138****5678``."""
    if not v:
        return v
    return v[:3] + "****" + v[-4:] if len(v) >= 7 else "*" * len(v)


def mask_name(v: str | None) -> str | None:
    """``张三丰`` → ``张**``; single characters stay."""
    if not v:
        return v
    return v[0] + "*" * (len(v) - 1)


_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_LIKE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask anything ID- or phone-shaped inside free text (log safety net)."""
    text = _ID_LIKE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(2), text)
    return _PHONE_LIKE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def _masked_arg(arg: object) -> object:
    """A log argument with personal numbers masked: strings in place; anything else whose text holds one is
    replaced by its masked text (``None`` when that would not fit a ``%d``-style format: the caller re-renders)."""
    if isinstance(arg, str):
        return mask_text(arg)
    if arg is None or isinstance(arg, bool | float):
        return arg
    text = str(arg)
    masked = mask_text(text)
    return arg if masked == text else masked


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record (see ``_mask_record``); a record that cannot even be rendered keeps only its masked format
    string — never raising into the code that logs, never letting its arguments through unmasked."""
    try:
        return _mask_record(record)
    except Exception:  # noqa: BLE001 — an argument whose str() raises, a broken format: keep what is safe
        msg = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        record.msg = mask_text(f"{msg} (arguments not rendered)")
        record.args = None
        return record


def _mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask ID numbers and phone numbers in a record's message, arguments, traceback and stack, in place.

    Arguments are masked one by one, so a formatter that reads ``record.args`` (uvicorn's access log does) keeps
    working; if the rendered message still holds a number (or an argument no longer fits its format), the message
    is rendered, masked, and the arguments dropped."""
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    elif record.msg is not None and not isinstance(record.msg, int | float):
        text = str(record.msg)
        if mask_text(text) != text:
            record.msg = mask_text(text)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_masked_arg(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _masked_arg(v) for k, v in args.items()}
    try:
        rendered = record.getMessage()
    except (TypeError, ValueError):  # an argument masked into text no longer fits "%d": render the originals
        record.msg, record.args = record.msg, args
        try:
            rendered = record.getMessage()
        except (TypeError, ValueError):
            rendered = f"{record.msg} {args!r}"
        record.msg, record.args = mask_text(rendered), None
    else:
        if mask_text(rendered) != rendered:
            record.msg, record.args = mask_text(rendered), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    return record


class MaskingLogFilter(logging.Filter):
    """A logging filter that masks ID numbers and phone numbers in every record (see ``mask_record``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_log_masking() -> None:
    """Mask every log record of this process where it is made — any logger, propagating or not, any handler,
    any formatter — by wrapping the log record factory (idempotent). The server's logging configuration adds
    ``MaskingLogFilter`` to every handler as well (``core.server.log_config``)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_zhili_masking", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return mask_record(current(*args, **kwargs))

    factory._zhili_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
