"""The one clock: the district's time zone comes from the settings, and local days, "today" and local text
follow it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

import pytest

from zhili.core import clock
from zhili.core.db import utcnow as db_utcnow

UTC = dt.UTC
# 03:00 UTC on 10 January 2025 is 11:00 that day in Shanghai but 22:00 the day before in New York.
MOMENT = dt.datetime(2025, 1, 10, 3, 0, tzinfo=UTC)


def test_by_default_the_district_is_on_beijing_time():
    assert clock.district_tz().utcoffset(MOMENT) == dt.timedelta(hours=8)
    assert clock.local_day(MOMENT) == dt.date(2025, 1, 10)
    assert clock.fmt_local(MOMENT) == "2025-01-10 11:00"


def test_the_district_time_zone_follows_the_setting(district_zone):
    district_zone("America/New_York")
    assert str(clock.district_tz()) == "America/New_York"
    assert clock.local_day(MOMENT) == dt.date(2025, 1, 9)
    assert clock.fmt_local(MOMENT) == "2025-01-09 22:00"
    assert clock.to_local(MOMENT).hour == 22
    assert clock.local_midnight(dt.date(2025, 1, 9)) == dt.datetime(2025, 1, 9, 5, 0, tzinfo=UTC)
    assert clock.from_local(dt.datetime(2025, 1, 9, 22, 0)) == MOMENT
    assert clock.local_now().utcoffset() == clock.district_tz().utcoffset(clock.utcnow())
    assert clock.today() == clock.local_day(clock.utcnow())


def test_local_text_and_moments():
    assert clock.fmt_local(None) == "—"
    # A naive value from the database (SQLite) is UTC; an aware value from a form keeps its zone.
    assert clock.to_local(dt.datetime(2025, 1, 10, 3, 0)) == clock.to_local(MOMENT)
    aware = dt.datetime(2025, 1, 10, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert clock.from_local(aware) is aware
    assert clock.from_local(dt.datetime(2025, 1, 10, 11, 0)) == MOMENT


def test_there_is_one_utcnow():
    assert db_utcnow is clock.utcnow
    assert clock.utcnow().tzinfo is UTC


def test_without_a_tz_database_beijing_time_is_still_known(monkeypatch):
    def missing(name: str) -> None:
        raise ZoneInfoNotFoundError(name)

    clock.zone.cache_clear()
    monkeypatch.setattr(clock, "ZoneInfo", missing)
    try:
        assert clock.zone("Asia/Shanghai").utcoffset(MOMENT) == dt.timedelta(hours=8)
        with pytest.raises(ZoneInfoNotFoundError):
            clock.zone("Europe/Berlin")
    finally:
        clock.zone.cache_clear()


def test_today_is_the_districts_date_not_the_hosts(monkeypatch):
    """At 17:00 UTC it is already tomorrow in Beijing: "today" (validity of units, ages, the default 'as of') is the
    district's date everywhere."""
    from zhili.core.validators import id_check_digit, validate_id_number
    from zhili.regions import service as regions

    evening = dt.datetime(2026, 12, 6, 17, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "utcnow", lambda: evening)
    assert clock.today() == regions.today() == dt.date(2026, 12, 7)
    born_today = "11010120261207001"  # a child born today in the district is no "future birth date"
    assert validate_id_number(born_today + id_check_digit(born_today)).startswith(born_today)


def test_no_module_reads_the_hosts_date():
    """A source scan: the host's date (``date.today()``) is the wrong day for eight hours of every day."""
    root = Path(__file__).resolve().parents[2] / "src" / "zhili"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if "date.today()" in p.read_text("utf-8")]
    assert offenders == []
