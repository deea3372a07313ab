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


class MaskingLogFilter(logging.Filter):
    """A logging filter that masks ID numbers and phone numbers in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        masked = mask_text(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        return True
