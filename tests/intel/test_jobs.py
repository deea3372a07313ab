"""The intelligence jobs the server runs in the background: each once per interval under a lease, one failing job
never stopping the others."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.cases.models import JobLock
from zhili.cases.taxonomy import load_defaults
from zhili.intel import jobs

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def test_each_job_runs_once_per_interval_and_leaves_its_lease(db: Session, world: Any) -> None:
    load_defaults(db)

    def factory() -> Any:
        return nullcontext(db)

    assert jobs.run_due(factory, holder="a", now=NOW) == ["intel_warning_scan", "intel_risk_rank", "intel_retrain"]
    assert db.get(JobLock, "intel_retrain").last_run_at == NOW
    assert jobs.run_due(factory, holder="b", now=NOW + dt.timedelta(minutes=5)) == []  # not due yet
    later = NOW + dt.timedelta(hours=7)
    assert jobs.run_due(factory, holder="b", now=later) == ["intel_warning_scan", "intel_risk_rank"]


def test_a_failing_job_is_logged_and_the_others_still_run(db: Session, world: Any, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    load_defaults(db)

    def broken(sessions: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs, "_scan", broken)
    ran = jobs.run_due(lambda: nullcontext(db), holder="a", now=NOW)
    assert "intel_warning_scan" not in ran and "intel_risk_rank" in ran
    assert "intel_warning_scan failed" in caplog.text


def test_the_retraining_fits_in_a_read_only_transaction_and_stores_in_a_short_write_one(
        db: Session, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Minutes of training must hold no write lock: on SQLite intake and the sensors' ingest would wait behind it."""
    from contextlib import contextmanager

    from zhili.intel import routing

    load_defaults(db)
    phase: list[str] = []
    seen: list[tuple[str, str]] = []

    def opener(name: str) -> Any:
        @contextmanager
        def open_() -> Any:
            phase.append(name)
            try:
                yield db
            finally:
                phase.pop()
        return open_

    monkeypatch.setattr(routing, "fit_platform", lambda session, **kw: seen.append(("fit", phase[-1])) or ["m"])
    monkeypatch.setattr(routing, "store_platform",
                        lambda session, *, trained, **kw: seen.append(("store", phase[-1])) or trained)
    monkeypatch.setattr(routing, "settle_suggestions", lambda session: seen.append(("settle", phase[-1])) or 0)
    monkeypatch.setattr(jobs, "_scan", lambda sessions: None)
    monkeypatch.setattr(jobs, "_risk", lambda sessions: None)
    ran = jobs.run_due(opener("lease"), holder="a", now=NOW, work_factory=opener("work"), read_factory=opener("read"))
    assert "intel_retrain" in ran
    assert seen == [("fit", "read"), ("settle", "lease"), ("store", "lease")]  # writes queue like any writer
