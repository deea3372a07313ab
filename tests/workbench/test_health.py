"""The administrator's system health (工作台): each quick check says OK when all is well and names the problem when it
is not — an old schema, a key file others can read, a year without its holidays, a deadline sweep that stopped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.cases.models import JobLock
from zhili.core.clock import today, utcnow
from zhili.core.settings import Settings
from zhili.workbench import health
from zhili.worktime.models import CalendarOverride


def _checks(db: Session, settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    return {c.key: c for c in health.system_health(db, settings=settings, now=now)}


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, **{"var_dir": tmp_path, "keys": "", **values})


def test_a_healthy_system_answers_ok_and_names_what_it_checked(db: Session, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    key_file.write_text("{}")
    key_file.chmod(0o600)
    checks = _checks(db, _settings(tmp_path, sweep_interval_s=0))
    assert list(checks) == ["db", "schema", "keys", "crypto", "calendar", "sweep"]
    assert [checks[k].status for k in ("db", "schema", "keys", "crypto")] == ["ok"] * 4
    assert checks["keys"].detail == "keys_file" and checks["crypto"].detail == "crypto_aes"
    assert checks["sweep"].status == "info"  # switched off here: said, not hidden


def test_an_old_schema_and_an_open_or_missing_key_file_are_problems(db: Session, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_head_revision", lambda: "9999")
    key_file = tmp_path / "keys.json"
    key_file.write_text("{}")
    key_file.chmod(0o644)
    checks = _checks(db, _settings(tmp_path))
    assert (checks["schema"].status, checks["schema"].detail, checks["schema"].params["head"]) == \
        ("problem", "schema_old", "9999")
    assert (checks["keys"].status, checks["keys"].params) == ("problem", {"mode": "0o644"})
    key_file.unlink()
    assert _checks(db, _settings(tmp_path))["keys"].detail == "keys_missing"
    assert _checks(db, _settings(tmp_path, keys='{"keys": {}}'))["keys"].detail == "keys_env"


def test_a_year_without_its_holidays_is_a_problem_until_they_are_entered(db: Session) -> None:
    assert health._calendar(db, 2099).status == "problem"  # the holiday package does not know 2099
    db.add(CalendarOverride(day=dt.date(2099, 1, 1), is_workday=False, name="元旦"))
    db.flush()
    check = health._calendar(db, 2099)
    assert (check.status, check.params) == ("info", {"year": 2099, "n": 1})
    assert health._calendar(db, today().year).status in ("ok", "info")  # this year is packaged


def test_the_deadline_sweep_must_have_run_lately(db: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="prod", sweep_interval_s=60)
    now = utcnow()
    assert _checks(db, settings, now)["sweep"].detail == "sweep_never"
    db.merge(JobLock(name="deadline_sweep", last_run_at=now - dt.timedelta(seconds=90)))
    db.flush()
    assert _checks(db, settings, now)["sweep"].status == "ok"
    db.merge(JobLock(name="deadline_sweep", last_run_at=now - dt.timedelta(hours=1)))
    db.flush()
    late = _checks(db, settings, now)["sweep"]
    assert (late.status, late.detail) == ("problem", "sweep_late")
