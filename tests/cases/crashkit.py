"""What the crash tests of intake share: a district written straight into a database, a real ``zhili serve`` in a
process group of its own (so one ``killpg`` takes the supervisor and every worker at once), reporters that record
every answer they get — and every request that got none — and the checks made afterwards on the database.

Used by ``test_crash_intake.py`` (the server SIGKILLed under load, on SQLite and PostgreSQL) and
``test_pg_restart_intake.py`` (PostgreSQL itself shut down immediately under load). docs/reliability.md, "Crash
safety", says what they assert and gives the figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from casekit import add_taxonomy, build_world
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from zhili.cases import dispatch, tally
from zhili.cases.models import Case, CaseEvent, CaseStat, CaseStatUnit, IdempotencyRecord
from zhili.core import audit, migrate
from zhili.core.db import make_engine
from zhili.users.models import AuthSession
from zhili.users.service import principal_for_user

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API = "/api/v1"

# Who reports, and where: points inside the reporter's grid of the test world (tests/conftest.build_world).
REPORTERS = {"jumin": (119.01, 31.01, 0.23), "wangge_a": (119.01, 31.01, 0.23), "zhihui": (119.51, 31.01, 0.23)}
# T0101 matches the confident rule (accepted and dispatched to CG by the system at intake); T0102 waits.
TIMELINES = {"T0101": (["report", "accept", "dispatch"], "dispatched", "CG"), "T0102": (["report"], "reported", None)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the database ------------------------------------------------------------------------------------------------

def create_database(server_url: str, name: str) -> str:
    """A new empty database ``name`` on the PostgreSQL server of ``server_url``; its URL."""
    from sqlalchemy import create_engine

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare_district(url: str) -> dict[str, str]:
    """Migrate the database at ``url`` and write the test district into it: units with boundaries, the users who
    report (with session tokens good for a day), the test taxonomy and a confident rule T0101 → CG. The tokens."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            migrate.upgrade(connection=conn)
        with Session(engine, expire_on_commit=False) as s:
            w = build_world(s)
            add_taxonomy(s)
            zhihui = principal_for_user(s, user=w.users["zhihui"])
            dispatch.create_rule(s, principal=zhihui, data={
                "name": "暴露垃圾→城管", "category_code": "T0101", "region_path": w.units["district"].path,
                "target_department": "CG", "confidence": 0.95})
            s.execute(update(AuthSession).values(expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
            s.commit()
            return {name: w.tokens[name] for name in REPORTERS}
    finally:
        engine.dispose()


# -- the server --------------------------------------------------------------------------------------------------

class Server:
    """``zhili serve --workers N`` over ``url`` in a process group of its own, with its output in ``log``."""

    def __init__(self, url: str, workdir: Path, *, workers: int = 2, **env: str) -> None:
        self.url, self.workdir, self.workers = url, workdir, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
        self.env.update({
            "ZHILI_DATABASE_URL": url, "ZHILI_VAR_DIR": str(workdir / "var"), "ZHILI_ENV": "dev",
            "ZHILI_KEYS": os.environ["ZHILI_KEYS"],  # the test's key material (tests/conftest.py)
            "ZHILI_SWEEP_INTERVAL_S": "0", "ZHILI_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT / "src"),  # this checkout's code, whatever the virtualenv was installed from
            **env})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 300) -> float:
        """Start the server and wait until it answers; the seconds it took."""
        t0 = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(BIN / "zhili"), "serve", "--port", str(self.port), "--workers",
                                          str(self.workers)], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zhili serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base}{API}/health", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"zhili serve did not answer in {timeout} s:\n{self.log_tail()}")

    def group(self) -> list[int]:
        """The processes still in the server's process group."""
        assert self.proc is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                    pids.append(int(entry.name))
        return pids

    def kill(self) -> int:
        """SIGKILL the whole process group (supervisor and workers at once); wait until none is left. How many
        processes were killed."""
        assert self.proc is not None
        n = len(self.group())
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        deadline = time.monotonic() + 30
        while self.group() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.group(), "a server process survived SIGKILL"
        return n

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def tracebacks(self) -> int:
        return self.log_tail(10**8).count("Traceback (most recent call last)")


# -- the reporters -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    key: str
    who: str
    body: dict[str, Any]


@dataclass
class Answer:
    status: int
    case_id: str
    number: str


@dataclass
class Ledger:
    """Everything the reporters sent and got back (shared by their threads, under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, Report] = field(default_factory=dict)
    acknowledged: dict[str, Answer] = field(default_factory=dict)  # key → the case the server said it filed
    unanswered: dict[str, Report] = field(default_factory=dict)  # no reply at all (connection lost or refused)
    refused: dict[str, Report] = field(default_factory=dict)  # a clear error: 503 with Retry-After
    statuses: Counter[int] = field(default_factory=Counter)
    refusal_codes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # a 500, a 503 without Retry-After, any other answer
    answered_at: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status) of every reply
    connection_refused: int = 0  # attempts that reached no server (it was down): nothing sent, sent again

    def wait_for_acknowledgement(self, *, after: float, timeout: float) -> float | None:
        """Seconds from ``after`` to the first report filed (201) after it, waiting up to ``timeout``; None if
        none was."""
        deadline = after + timeout
        while True:
            with self.lock:
                hits = [t for t, status in self.answered_at if t > after and status == 201]
            if hits:
                return min(hits) - after
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def note_refused_connection(self) -> None:
        with self.lock:
            self.connection_refused += 1

    def note(self, report: Report, reply: httpx.Response | None) -> None:
        with self.lock:
            self.sent[report.key] = report
            if reply is None:
                self.unanswered[report.key] = report
                return
            self.statuses[reply.status_code] += 1
            self.answered_at.append((time.monotonic(), reply.status_code))
            if reply.status_code in (200, 201):
                data = reply.json()
                self.acknowledged[report.key] = Answer(reply.status_code, data["id"], data["number"])
                return
            try:
                body = reply.json()
            except ValueError:
                body = {"code": None, "message": reply.text[:200]}
            if reply.status_code == 503 and reply.headers.get("retry-after", "").isdigit() \
                    and any("\u4e00" <= ch <= "\u9fff" for ch in body.get("message") or ""):
                self.refused[report.key] = report
                self.refusal_codes[str(body.get("code"))] += 1
                return
            self.unexpected.append(f"{reply.status_code} {reply.headers.get('retry-after')} {body}")


def make_report(rng: random.Random, who: str, key: str) -> Report:
    x0, y0, size = REPORTERS[who]
    category = rng.choice(list(TIMELINES))
    body = {"category_code": category, "description": f"崩溃测试上报 {key}：楼道堆放杂物，影响通行",
            "lon": round(x0 + rng.random() * size, 6), "lat": round(y0 + rng.random() * size, 6)}
    return Report(key=key, who=who, body=body)


def post(client: httpx.Client, report: Report) -> httpx.Response:
    return client.post(f"{API}/cases", json=report.body, headers={"Idempotency-Key": report.key})


class Reporters:
    """``threads`` reporters posting reports with distinct Idempotency-Keys until :meth:`stop`."""

    def __init__(self, base: str, tokens: dict[str, str], ledger: Ledger, *, threads: int = 4, run: str = "",
                 pause_s: float = 0.0, seed: int = 1) -> None:
        self.base, self.tokens, self.ledger = base, tokens, ledger
        self.run = run or uuid.uuid4().hex[:8]
        self.pause_s = pause_s
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i, seed + i), daemon=True)
                         for i in range(threads)]

    def start(self) -> Reporters:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _loop(self, i: int, seed: int) -> None:
        rng = random.Random(seed)
        who = list(REPORTERS)[i % len(REPORTERS)]
        with httpx.Client(base_url=self.base, timeout=30,
                          headers={"Authorization": f"Bearer {self.tokens[who]}"}) as client:
            n = 0
            report = None
            while not self._stop.is_set():
                if report is None:
                    n += 1
                    report = make_report(rng, who, f"{self.run}-{i}-{n}")
                try:
                    reply: httpx.Response | None = post(client, report)
                except httpx.ConnectError:  # nothing was sent (the server is down): the same report again soon
                    self.ledger.note_refused_connection()
                    time.sleep(0.1)
                    continue
                except httpx.TransportError:  # sent, and no answer: in flight (sent again after the run)
                    reply = None
                self.ledger.note(report, reply)
                report = None
                if reply is None or reply.status_code >= 500:
                    time.sleep(0.05)  # the server is going down or refusing: as a phone would, wait a moment
                elif self.pause_s:
                    time.sleep(self.pause_s)


class Reader:
    """One thread reading the case list (``GET /api/v1/cases``) over and over until :meth:`stop`: the read path
    (the request session, the pool) through an outage. ``answers``: (monotonic time, status, Retry-After, code)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.answers: list[tuple[float, int, str | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Reader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self._stop.is_set():
                try:
                    r = c.get(f"{API}/cases", params={"page_size": 5})
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                code = r.json().get("code") if r.status_code >= 400 else None
                self.answers.append((time.monotonic(), r.status_code, r.headers.get("retry-after"), code))
                time.sleep(0.1)


def retry(base: str, tokens: dict[str, str], reports: list[Report], threads: int = 4) -> dict[str, httpx.Response]:
    """Send each report again with its Idempotency-Key; the answers by key (waits for a server that is up)."""
    out: dict[str, httpx.Response] = {}
    todo = list(reports)
    lock = threading.Lock()

    def work() -> None:
        clients = {who: httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {tok}"})
                   for who, tok in tokens.items()}
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    report = todo.pop()
                reply = post(clients[report.who], report)
                with lock:
                    out[report.key] = reply
        finally:
            for c in clients.values():
                c.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return out


# -- the checks --------------------------------------------------------------------------------------------------

@dataclass
class Findings:
    cases: int
    lost: list[str]
    damaged: list[str]
    duplicated: list[str]
    without_key: int
    stats_equal: bool
    chain_ok: bool
    chain_checked: int
    chain_problems: list[str]
    audit_mismatch: list[str]


def _stats(s: Session) -> tuple[dict[Any, tuple[int, ...]], dict[Any, tuple[int, ...]]]:
    rows = {(r.path, r.day, r.category_code): tuple(getattr(r, c) for c in tally.STAT_COLUMNS)
            for r in s.scalars(select(CaseStat))}
    units = {(r.path, r.day): tuple(getattr(r, c) for c in tally.STAT_COLUMNS) for r in s.scalars(select(CaseStatUnit))}
    return ({k: v for k, v in rows.items() if any(v)}, {k: v for k, v in units.items() if any(v)})


def check_database(url: str, ledger: Ledger, user_ids: dict[str, str]) -> Findings:
    """Read the database after the run: every acknowledged case present and as posted (fields, timeline, audit
    entries), no key filed twice, no case without its key, the statistics equal to a recount, the chain intact."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            cases = {str(c.id): c for c in s.scalars(select(Case))}
            events: dict[str, list[tuple[int, str]]] = defaultdict(list)
            for case_id, seq, action in s.execute(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.action)):
                events[str(case_id)].append((seq, action))
            audits: dict[str, Counter[str]] = defaultdict(Counter)
            for object_id, action in s.execute(select(audit.AuditEvent.object_id, audit.AuditEvent.action)
                                               .where(audit.AuditEvent.object_type == "case")):
                audits[str(object_id)][action] += 1
            keys: dict[tuple[str, str], list[str]] = defaultdict(list)
            for client, key, case_id in s.execute(select(IdempotencyRecord.client, IdempotencyRecord.key,
                                                         IdempotencyRecord.case_id)):
                keys[(client, key)].append(str(case_id))
            lost, damaged, audit_mismatch = [], [], []
            for key, ans in ledger.acknowledged.items():
                report = ledger.sent[key]
                c = cases.get(ans.case_id)
                if c is None:
                    lost.append(f"{key} → {ans.number}")
                    continue
                actions, state, department = TIMELINES[report.body["category_code"]]
                seqs = sorted(events[ans.case_id])
                got = {"number": c.number, "category": c.category_code, "description": c.description,
                       "lon": c.lon, "lat": c.lat, "state": c.state.value, "department": c.assignee_department,
                       "timeline": [a for _, a in seqs], "seqs": [q for q, _ in seqs],
                       "reporter": str(c.reporter_user_id) if c.reporter_user_id else None,
                       "key": keys.get((user_ids[report.who], key))}
                want = {"number": ans.number, "category": report.body["category_code"],
                        "description": report.body["description"], "lon": report.body["lon"],
                        "lat": report.body["lat"], "state": state, "department": department, "timeline": actions,
                        "seqs": list(range(1, len(actions) + 1)),
                        "reporter": user_ids[report.who] if report.who in ("jumin", "wangge_a") else None,
                        "key": [ans.case_id]}
                if got != want:
                    damaged.append(f"{key}: {got} != {want}")
            for case_id, c in cases.items():
                want_audit = Counter({f"case.{a}": 1 for a in TIMELINES[str(c.category_code)][0]})
                if audits[case_id] != want_audit:
                    audit_mismatch.append(f"{c.number}: {dict(audits[case_id])}")
            duplicated = [f"{k}: {v}" for k, v in keys.items() if len(v) > 1]
            keyed = {case_id for v in keys.values() for case_id in v}
            without_key = len(set(cases) - keyed)
            n_cases = len(cases)
        with Session(engine) as s:  # the statistics tables against a recount from the cases (rolled back)
            before = _stats(s)
            tally.rebuild_stats(s)
            after = _stats(s)
            s.rollback()
        with Session(engine) as s:
            verified = audit.verify_chain(s)
            reported = int(s.scalar(select(func.count()).select_from(audit.AuditEvent)
                                    .where(audit.AuditEvent.action == "case.report")) or 0)
        if reported != n_cases:
            audit_mismatch.append(f"{reported} case.report entries for {n_cases} cases")
        return Findings(cases=n_cases, lost=lost, damaged=damaged, duplicated=duplicated, without_key=without_key,
                        stats_equal=before == after and bool(before[0]), chain_ok=verified.ok,
                        chain_checked=verified.checked, chain_problems=verified.problems[:5],
                        audit_mismatch=audit_mismatch[:10])
    finally:
        engine.dispose()


def user_ids(url: str) -> dict[str, str]:
    from zhili.users.models import User

    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {u: str(i) for u, i in s.execute(select(User.username, User.id).where(User.username.in_(REPORTERS)))}
    finally:
        engine.dispose()


def key_cases(url: str, keys: list[str]) -> dict[str, list[str]]:
    """The cases filed under each of ``keys`` (any client)."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            out: dict[str, list[str]] = {k: [] for k in keys}
            for start in range(0, len(keys), 500):
                for key, case_id in s.execute(select(IdempotencyRecord.key, IdempotencyRecord.case_id)
                                              .where(IdempotencyRecord.key.in_(keys[start:start + 500]))):
                    out[key].append(str(case_id))
            return out
    finally:
        engine.dispose()


def write_figures(name: str, figures: dict[str, Any]) -> None:
    """Append the run's figures to ``ZHILI_CRASH_REPORT`` (one JSON line per run), when set."""
    path = os.environ.get("ZHILI_CRASH_REPORT")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, **figures}, ensure_ascii=False, default=str) + "\n")
    print(f"\n{name}: {json.dumps(figures, ensure_ascii=False, default=str)}")
