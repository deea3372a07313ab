"""PostgreSQL itself going down under intake: a throw-away cluster (tests/pgcluster.py) shut down with ``pg_ctl stop
-m immediate`` — a crash as far as its data files know — while reporters file cases through ``zhili serve
--workers 2``, and started again a moment later.

While it is down, every report is answered, and clearly: 503 with a Chinese message and ``Retry-After`` — never a
500. Once it is back, the same server (not restarted) files reports again on its own: the intake writer's
connection and the pool's connections are replaced. Afterwards every acknowledged case is present and as posted,
every report refused or unanswered meanwhile, sent again with its key, ends as exactly one case, the statistics
equal a recount and the audit chain verifies.

The cluster is the test's own, so this needs no shared server; it runs in the PostgreSQL pass of ``make test``
only. docs/reliability.md, "Crash safety".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from crashkit import (
    Ledger,
    Reader,
    Reporters,
    Server,
    check_database,
    key_cases,
    prepare_district,
    retry,
    user_ids,
    write_figures,
)

from pgcluster import cluster, needs_pg_server_binaries

OUTAGE_S = float(os.environ.get("ZHILI_PG_OUTAGE_SECONDS", "2"))

pytestmark = [
    needs_pg_server_binaries,
    pytest.mark.skipif(not (os.environ.get("ZHILI_TEST_DATABASE_URL") or "").startswith("postgresql"),
                       reason="runs in the PostgreSQL pass (on a cluster of its own)"),
]


def test_intake_through_an_immediate_postgresql_shutdown_answers_503_and_recovers_without_a_restart(
        tmp_path: Path) -> None:
    with cluster() as pg:
        pg.sql("CREATE DATABASE zhili")
        url = pg.url("zhili")
        tokens = prepare_district(url)
        ids = user_ids(url)
        server = Server(url, tmp_path)
        ledger = Ledger()
        reporters = reader = None
        try:
            server.start()
            reporters = Reporters(server.base, tokens, ledger, threads=4).start()
            reader = Reader(server.base, tokens["zhihui"]).start()
            assert ledger.wait_for_acknowledgement(after=time.monotonic(), timeout=300) is not None, server.log_tail()
            time.sleep(1.0)
            before = len(ledger.acknowledged)
            down_at = time.monotonic()
            pg.stop("immediate")
            stopped_s = time.monotonic() - down_at
            time.sleep(OUTAGE_S)
            with ledger.lock:
                during = [status for t, status in ledger.answered_at if t > down_at + stopped_s]
            reads_until = time.monotonic()
            up_at = time.monotonic()
            pg.start()
            started_s = time.monotonic() - up_at
            recovered_s = ledger.wait_for_acknowledgement(after=up_at, timeout=120)
            time.sleep(1.0)
            reporters.stop()
            reporters = None
            reader.stop()
            reads, reader = reader.answers, None
            assert recovered_s is not None, server.log_tail()
            unanswered = sorted({*ledger.unanswered, *ledger.refused})
            again = retry(server.base, tokens, [ledger.sent[k] for k in unanswered])
        finally:
            if reporters is not None:
                reporters.stop()
            if reader is not None:
                reader.stop()
            server.stop()
        findings = check_database(url, ledger, ids)
        per_key = key_cases(url, unanswered)

    assert server.starts == 1  # recovered on its own
    assert ledger.unexpected == [], ledger.unexpected[:5]  # no 500, no 503 without Retry-After
    assert during and set(during) <= {503}, during[:20]  # while it was down: clear refusals, nothing filed
    assert len(ledger.acknowledged) > before  # and filed again once it was back
    reads_during = [a for a in reads if down_at + stopped_s < a[0] < reads_until]
    assert reads_during and all(status == 503 and retry_after and code == "database_unavailable"
                                for _, status, retry_after, code in reads_during), reads_during[:10]
    reads_again = [a[0] - up_at for a in reads if a[0] > up_at and a[1] == 200]
    assert reads_again  # the read path (the pool's connections) recovered too
    assert {a[1] for a in reads} <= {200, 503}
    assert findings.lost == [] and findings.damaged == [], (findings.lost[:5], findings.damaged[:3])
    assert findings.duplicated == [] and findings.without_key == 0
    assert findings.audit_mismatch == [], findings.audit_mismatch
    assert findings.stats_equal
    assert findings.chain_ok, findings.chain_problems
    for key in unanswered:
        assert again[key].status_code in (200, 201), again[key].text
        assert per_key[key] == [again[key].json()["id"]], (key, per_key[key])
    write_figures("pg-restart", {
        "outage_s": round(stopped_s + OUTAGE_S + started_s, 2), "pg_start_s": round(started_s, 2),
        "first_filed_s_after_pg_ready": round(recovered_s - started_s, 2), "sent": len(ledger.sent),
        "acknowledged": len(ledger.acknowledged), "lost": len(findings.lost), "answers_during_outage": len(during),
        "refusal_codes": dict(ledger.refusal_codes), "reads_during_outage": len(reads_during),
        "first_read_s_after_pg_ready": round(min(reads_again) - started_s, 2), "unanswered": len(ledger.unanswered),
        "refused_503": len(ledger.refused),
        "retried_already_filed": sum(1 for k in unanswered if again[k].status_code == 200),
        "statuses": dict(ledger.statuses), "server_tracebacks": server.tracebacks()})
