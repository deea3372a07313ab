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

    def broken(session: Session) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs, "_scan", broken)
    ran = jobs.run_due(lambda: nullcontext(db), holder="a", now=NOW)
    assert "intel_warning_scan" not in ran and "intel_risk_rank" in ran
    assert "intel_warning_scan failed" in caplog.text
