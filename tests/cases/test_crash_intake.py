"""Crash safety of intake: ``zhili serve --workers 2`` killed with SIGKILL (supervisor and workers at once) at random
moments while reporters file cases concurrently, started again each time, and the load carried on.

Afterwards: every case the server acknowledged (201, or 200 for a repeated key) is in the database exactly as posted
— fields, the timeline of the automatic accept and dispatch, its audit entries — no Idempotency-Key has two cases
and no case lacks its key; the statistics tables equal a recount from the cases; the audit chain verifies; the same
report sent again with its key is answered with the original case; a report that got no answer, sent again, ends
as exactly one case.

On SQLite (a database file) and PostgreSQL (a database of its own on the server of ``ZHILI_TEST_DATABASE_URL``,
dropped afterwards). Short in ``make test``; ``ZHILI_CRASH_KILLS`` and ``ZHILI_CRASH_SECONDS`` (``make stress``)
make it longer. docs/reliability.md, "Crash safety".
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashkit import (
    Ledger,
    Reporters,
    Server,
    check_database,
    create_database,
    drop_database,
    key_cases,
    prepare_district,
    retry,
    user_ids,
    write_figures,
)

KILLS = int(os.environ.get("ZHILI_CRASH_KILLS", "3"))  # make test: 3 (each kill ≈ 25 s); make stress: 20
SECONDS = float(os.environ.get("ZHILI_CRASH_SECONDS", "0"))  # 0: the short run (only the kills' own pace)
RETRY_SAMPLE = int(os.environ.get("ZHILI_CRASH_RETRY_SAMPLE", "60"))  # acknowledged reports sent again


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A database for the served district: a SQLite file, or a fresh database on the test PostgreSQL server."""
    server = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    if not server.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    name = f"zhili_crash_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


def test_acknowledged_reports_survive_sigkill_of_the_whole_server_under_concurrent_intake(
        database: str, tmp_path: Path) -> None:
    tokens = prepare_district(database)
    ids = user_ids(database)
    rng = random.Random(20)
    server = Server(database, tmp_path)
    ledger = Ledger()
    started = time.monotonic()
    # between kills: long enough for a few hundred reports, short enough for five kills in a short run
    gap = (0.3, 1.5) if not SECONDS else (0.5, max(1.0, 2 * SECONDS / max(KILLS, 1) - 0.5))
    restarts: list[float] = []
    killed: list[int] = []
    reporters = None
    try:
        server.start()
        reporters = Reporters(server.base, tokens, ledger, threads=4).start()
        for _ in range(KILLS):
            ledger.wait_for_acknowledgement(after=time.monotonic(), timeout=300)  # the server is filing again
            time.sleep(rng.uniform(*gap))
            killed.append(server.kill())
            restarts.append(server.start())
        time.sleep(0.5)  # the load carries on after the last start
        reporters.stop()
        reporters = None
        # A report that got no answer is sent again (as the phone would): it ends as exactly one case.
        unanswered = sorted({*ledger.unanswered, *ledger.refused})
        again = retry(server.base, tokens, [ledger.sent[k] for k in unanswered])
        # An acknowledged report sent again is answered with the case first filed.
        sample = rng.sample(sorted(ledger.acknowledged), min(RETRY_SAMPLE, len(ledger.acknowledged)))
        repeated = retry(server.base, tokens, [ledger.sent[k] for k in sample])
    finally:
        if reporters is not None:
            reporters.stop()
        server.stop()
    findings = check_database(database, ledger, ids)
    per_key = key_cases(database, unanswered)

    assert ledger.unexpected == [], ledger.unexpected[:5]
    assert all(n >= 3 for n in killed), killed  # the supervisor and both workers each time
    assert ledger.acknowledged and findings.lost == [], findings.lost[:5]
    assert findings.damaged == [], findings.damaged[:3]
    assert findings.duplicated == [] and findings.without_key == 0
    assert findings.audit_mismatch == [], findings.audit_mismatch
    assert findings.stats_equal, "case_stat / case_stat_unit differ from a recount of the cases"
    assert findings.chain_ok, findings.chain_problems
    for key in sample:
        r = repeated[key]
        assert (r.status_code, r.json()["id"], r.json()["number"]) == (
            200, ledger.acknowledged[key].case_id, ledger.acknowledged[key].number), r.text
    for key in unanswered:
        assert again[key].status_code in (200, 201), again[key].text
        assert per_key[key] == [again[key].json()["id"]], (key, per_key[key])
    write_figures("sigkill", {
        "database": "postgresql" if database.startswith("postgresql") else "sqlite", "kills": len(killed),
        "seconds": round(time.monotonic() - started, 1), "sent": len(ledger.sent),
        "acknowledged": len(ledger.acknowledged), "lost": len(findings.lost), "cases": findings.cases,
        "unanswered": len(ledger.unanswered), "connect_refused": ledger.connection_refused,
        "refused_503": len(ledger.refused),
        "unanswered_already_filed": sum(1 for k in unanswered if again[k].status_code == 200),
        "acknowledged_retried": len(sample), "restart_s_max": round(max(restarts), 2),
        "chain_checked": findings.chain_checked, "statuses": dict(ledger.statuses),
        "server_tracebacks": server.tracebacks()})
