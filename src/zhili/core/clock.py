"""The one clock: the current moment (UTC) and the district's local time.

Moments are stored and compared in UTC; the district's time zone (``ZHILI_TIMEZONE``, default Asia/Shanghai)
decides local days (statistics, case numbers, "today"), working hours and the wall-clock text people read.
Nothing else builds a time zone: ask :func:`district_tz` (cached per zone name, so it follows the settings).
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zhili.core.settings import get_settings

# Without a tz database, China's zone is still known: a fixed +08:00 since 1991.
_FIXED_ZONES: dict[str, dt.tzinfo] = {
    name: dt.timezone(dt.timedelta(hours=8), "CST") for name in ("Asia/Shanghai", "Asia/Chongqing", "PRC")
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=16)
def zone(name: str) -> dt.tzinfo:
    """The time zone called ``name`` (IANA), cached."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name in _FIXED_ZONES:
            return _FIXED_ZONES[name]
        raise


def district_tz() -> dt.tzinfo:
    """The district's time zone, from the settings."""
    return zone(get_settings().timezone)


def to_local(moment: dt.datetime) -> dt.datetime:
    """``moment`` (aware; a naive value is read as UTC, as the database returns it on SQLite) in local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(district_tz())


def from_local(wall: dt.datetime) -> dt.datetime:
    """A local wall-clock time (naive, e.g. from a form) as an aware moment; an aware value is returned as is."""
    return wall.replace(tzinfo=district_tz()) if wall.tzinfo is None else wall


def local_now() -> dt.datetime:
    """Now, in local time."""
    return utcnow().astimezone(district_tz())


def today() -> dt.date:
    """Today's local date."""
    return local_now().date()


def local_day(moment: dt.datetime) -> dt.date:
    """The local (configured time zone) date of a moment — the day statistics and case numbers count by."""
    return moment.astimezone(district_tz()).date()


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of a local date, as a UTC moment."""
    return dt.datetime.combine(day, dt.time(), tzinfo=district_tz()).astimezone(dt.UTC)


def fmt_local(moment: dt.datetime | None) -> str:
    """A moment as local wall-clock text for messages (— when there is none)."""
    if moment is None:
        return "—"
    return moment.astimezone(district_tz()).strftime("%Y-%m-%d %H:%M")
