"""The district's clock: its time zone, and moments as local days and text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from zhili.core.settings import get_settings


def tz() -> ZoneInfo:
    """The district's time zone (``ZHILI_TIMEZONE``)."""
    return ZoneInfo(get_settings().timezone)


def local_day(moment: dt.datetime) -> dt.date:
    """The local date of a moment — the day statistics and case numbers count by."""
    return moment.astimezone(tz()).date()


def fmt_local(moment: dt.datetime | None) -> str:
    """A moment as local wall-clock text for messages (— when there is none)."""
    if moment is None:
        return "—"
    return moment.astimezone(tz()).strftime("%Y-%m-%d %H:%M")
