"""Mixed load on PostgreSQL: ≈ 80 % reads and ≈ 20 % writes against `zhili serve`, driven by wrk on loopback.

Reads: case lists (API and the console list page), case pages (API detail and timeline, the console case page),
the command-centre screen's data endpoints (``/api/v1/dashboard/…`` and ``/screen``), register search (person
name search by GET and POST, households, buildings, a person), the 工作台 (``/console/home``) and other staff pages
(inbox, supervision list, register overview, the pending counts and notifications). Writes: intake
(``POST /api/v1/cases`` with an ``Idempotency-Key``) and workflow actions on existing cases (accept, dispatch,
start, resolve, verify, close, supervise — each as a role the transition table allows), with the demo accounts of
several roles (``zhili demo-logins``).

One wrk process per kind of request, all running at once (``bench/wrk/*.lua``): wrk's ``done()`` sees only its own
process's latency histogram, so one process per kind gives each kind its true percentiles (a single mixed process
would only have the global histogram). The kinds' connection counts are set from a short calibration run so that
the requests come in the mix's proportions (a closed loop serves ``connections / latency`` requests per second:
connections ∝ share × latency); the report shows the shares actually reached.

Workflow steps take cases fetched by state just before each run (reported → accept, accepted → dispatch, …), each
case once, and every answer queues the case's next step; a case is never acted on by two requests at once, so
any answer that is not 2xx/3xx is an error. Errors must be 0: the script exits 1 otherwise.

Server memory: the RSS of the server's processes (supervisor and workers) sampled every ``--sample`` seconds —
start, end, max and the slope of a least-squares line over the last two thirds of the run; the run is flagged
(exit 3) when that line grows by more than ``--mem-tolerance-mb`` or 2 % of the mean RSS, whichever is larger,
over the fitted window.

Why wrk and not locust: on the 2-core host the load generator competes with the server for the CPU. wrk is C with
an event loop (each kind here is one thread), and its CPU is measured and reported (``generator CPU``: a few per
cent of the machine); locust is Python and would take most of a core to produce the same requests, measuring
itself as much as the server.

    python bench/bench_mixed.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/zhili_large \\
        --var-dir /work/large-pg/var --workers 1 2 --seconds 180
    python bench/bench_mixed.py --seed medium [--pg-server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

``--seed small|medium`` seeds a scratch database on the PostgreSQL server of ``--pg-server`` (created and dropped
by the script); ``--database-url`` uses an existing seeded database (``--var-dir``: the var folder of its seed,
which holds the field-encryption key and ``demo_logins.json``). The load adds cases to the database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_intake import free_port, pg_database, server_cpu_s

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = ROOT / "bench" / "wrk"
ZHILI = Path(sys.executable).parent / "zhili"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = 4096


@dataclass(frozen=True)
class Kind:
    name: str
    share: float  # target share of the requests
    script: str  # bench/wrk/<script>
    write: bool = False


KINDS = (
    Kind("case_list", 0.14, "pick.lua"),
    Kind("case_page", 0.16, "pick.lua"),
    Kind("screen", 0.16, "pick.lua"),
    Kind("register", 0.14, "pick.lua"),
    Kind("console", 0.20, "pick.lua"),
    Kind("intake", 0.10, "intake.lua", write=True),
    Kind("workflow", 0.10, "workflow.lua", write=True),
)
USERS = ("zhihui", "lingdao", "jiedao", "shequ", "wangge1", "wangge2", "bumen", "jumin")
HANDLER_DEPT = "CG"  # the demo department handler's department (bumen, 综合行政执法局)


# -- the database: what the requests are made of ---------------------------------------------------------------

@dataclass
class World:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> role, department, unit_id, path
    district: dict[str, Any] = field(default_factory=dict)
    streets: list[dict[str, Any]] = field(default_factory=list)
    communities: list[dict[str, Any]] = field(default_factory=list)
    grids: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, list[str]] = field(default_factory=dict)  # username -> case ids that user can see
    numbers: list[str] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    cats: list[str] = field(default_factory=list)
    pts: list[tuple[float, float]] = field(default_factory=list)


def _engine(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url, pool_size=1)


def prefetch_world(url: str, rng: random.Random) -> World:
    """Users, units, case ids per viewer, persons, categories and points inside grids, read from the database."""
    from shapely import contains_xy
    from shapely.geometry import shape
    from sqlalchemy import text

    w = World()
    engine = _engine(url)
    with engine.connect() as c:
        for username, role, dept, unit_id, path in c.execute(text(
                "SELECT u.username, u.role, u.department, un.id, un.path FROM app_user u "
                "LEFT JOIN user_unit uu ON uu.user_id = u.id LEFT JOIN unit un ON un.id = uu.unit_id "
                "WHERE u.username = ANY(:names)"), {"names": list(USERS)}):
            w.users[username] = {"role": role, "department": dept, "unit_id": str(unit_id) if unit_id else None,
                                 "path": path}
        units = [dict(r._mapping) for r in c.execute(text(
            "SELECT id, level, path FROM unit WHERE valid_to >= CURRENT_DATE ORDER BY path"))]
        for u in units:
            u["id"] = str(u["id"])
        w.district = next(u for u in units if u["level"] == "district")
        w.streets = [u for u in units if u["level"] == "street"]
        w.communities = [u for u in units if u["level"] == "community"]
        w.grids = [u for u in units if u["level"] == "grid"]

        def sample(where: str, n: int, **params: Any) -> list[str]:
            rows = c.execute(text(f'SELECT id FROM "case" TABLESAMPLE SYSTEM (5) WHERE {where} LIMIT :n'),
                             {"n": n, **params}).scalars().all()
            if len(rows) < n // 4:  # a small table: the sample found too few
                rows = c.execute(text(f'SELECT id FROM "case" WHERE {where} ORDER BY random() LIMIT :n'),
                                 {"n": n, **params}).scalars().all()
            return [str(r) for r in rows]

        w.cases["zhihui"] = w.cases["lingdao"] = sample("true", 3000)
        for name in ("jiedao", "shequ", "wangge1"):
            p = w.users[name]["path"]
            w.cases[name] = sample("(path = :p OR path LIKE :pp)", 500, p=p, pp=p + "/%")
        w.cases["bumen"] = sample("assignee_department = :d", 500, d=HANDLER_DEPT)
        w.numbers = list(c.execute(text('SELECT number FROM "case" WHERE id = ANY(:ids)'),
                                   {"ids": w.cases["zhihui"][:200]}).scalars())
        w.persons = [{"id": str(r.id), "name": r.name, "grid_id": str(r.grid_id), "household_id":
                      str(r.household_id) if r.household_id else None}
                     for r in c.execute(text("SELECT id, name, grid_id, household_id FROM person TABLESAMPLE "
                                             "SYSTEM (2) LIMIT 400"))]
        if len(w.persons) < 50:
            w.persons = [{"id": str(r.id), "name": r.name, "grid_id": str(r.grid_id), "household_id":
                          str(r.household_id) if r.household_id else None}
                         for r in c.execute(text("SELECT id, name, grid_id, household_id FROM person "
                                                 "ORDER BY random() LIMIT 400"))]
        # reportable without extra answers: not a service (居住证), no required attribute
        w.cats = [code for code, attrs in c.execute(text(
            "SELECT code, attributes FROM category WHERE is_leaf AND is_current AND is_active AND kind <> 'service' "
            "ORDER BY code"))
            if not any(a.get("required") for a in (json.loads(attrs) if isinstance(attrs, str) else attrs or []))]
        boundaries = list(c.execute(text(
            "SELECT b.geojson FROM unit_boundary b JOIN unit u ON u.id = b.unit_id "
            "WHERE u.level = 'grid' AND b.valid_to >= CURRENT_DATE")).scalars())
    engine.dispose()
    for gj in rng.sample(boundaries, min(150, len(boundaries))):
        g = shape(json.loads(gj))
        minx, miny, maxx, maxy = g.bounds
        got = 0
        while got < 4:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if contains_xy(g, x, y):
                w.pts.append((x, y))
                got += 1
    return w


# Workflow: the state a case is fetched in, the action taken, the role (token) that takes it, the extra condition.
POOLS: tuple[tuple[str, str, str, str], ...] = (
    ("reported", "accept", "command_centre", "true"),
    ("accepted", "dispatch", "command_centre", "true"),
    ("dispatched", "start", "handler", "assignee_department = :d"),
    ("in_progress", "resolve", "handler", "assignee_department = :d"),
    ("resolved", "verify", "command_centre", "true"),
    ("verified", "close", "command_centre", "true"),
    ("rated", "close", "command_centre", "true"),
    ("in_progress", "supervise", "leader", "COALESCE(assignee_department, '') <> :d"),
)
# a successful answer in this state queues this step (the handler's steps only for the handler's department)
NEXT = {"accepted": ("dispatch", "command_centre", None), "dispatched": ("start", "handler", HANDLER_DEPT),
        "in_progress": ("resolve", "handler", HANDLER_DEPT), "resolved": ("verify", "command_centre", None),
        "verified": ("close", "command_centre", None)}
BODIES = {"dispatch": {"department": HANDLER_DEPT}, "resolve": {"result": "已到场处置完毕（压测）"},
          "supervise": {"message": "请加快办理（压测）"}}


def quiesce(url: str, limit_s: float = 90.0) -> None:
    """Wait until no other session of the database is busy: wrk stops at the end of its time with requests still
    in flight, and the server finishes them — a case moved after the pools were read would be acted on twice."""
    from sqlalchemy import text

    engine = _engine(url)
    quiet, t0 = 0, time.monotonic()
    with engine.connect() as c:
        while quiet < 3 and time.monotonic() - t0 < limit_s:
            busy = c.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")).scalar_one()
            c.rollback()
            quiet = quiet + 1 if busy == 0 else 0
            time.sleep(0.5)
    engine.dispose()


def prefetch_steps(url: str, per_pool: int, rng: random.Random) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """The workflow steps of a run: cases of each pool (each case once, all pools read in one snapshot, once the
    server is idle), interleaved across the pools."""
    from sqlalchemy import text

    quiesce(url)
    engine = _engine(url).execution_options(isolation_level="REPEATABLE READ")
    pools: list[list[tuple[str, str, str]]] = []
    sizes: dict[str, int] = {}
    with engine.connect() as c:
        for state, action, role, cond in POOLS:
            ids = c.execute(text(
                f'SELECT id FROM "case" c WHERE state = :s AND flow = \'event\' AND NOT is_history '
                f"AND master_case_id IS NULL AND {cond} AND NOT EXISTS (SELECT 1 FROM case_subtask t "
                f"WHERE t.case_id = c.id AND t.role = 'co' AND t.status <> 'done') LIMIT :n"),
                {"s": state, "d": HANDLER_DEPT, "n": per_pool}).scalars().all()
            rows = [(action, str(i), role) for i in ids]
            rng.shuffle(rows)
            pools.append(rows)
            sizes[f"{state}->{action}"] = len(rows)
    engine.dispose()
    steps: list[tuple[str, str, str]] = []
    for i in range(max((len(p) for p in pools), default=0)):
        steps.extend(p[i] for p in pools if i < len(p))
    return steps, sizes


# -- the requests ---------------------------------------------------------------------------------------------

Req = tuple[str, str, dict[str, str], str | None]  # method, path, headers, body


def build_reads(w: World, tokens: dict[str, str], rng: random.Random) -> dict[str, list[Req]]:
    def api(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[user]}"}

    def page(user: str) -> dict[str, str]:
        return {"Cookie": f"zhili_session={tokens[user]}"}

    def post(user: str) -> dict[str, str]:
        return {**api(user), "Content-Type": "application/json"}

    pick = rng.choice
    staff_lists = ("zhihui", "lingdao", "jiedao", "shequ", "wangge1", "bumen")
    out: dict[str, list[Req]] = {k.name: [] for k in KINDS if not k.write}

    lists = out["case_list"]
    for _ in range(300):
        user = pick(staff_lists)
        q = pick(["", "&open_only=true", "&state=dispatched", "&state=in_progress&overdue=true",
                  f"&category={pick(w.cats)[:2]}", "&warning=yellow", "&history=false",
                  f"&number={pick(w.numbers)}" if w.numbers else ""])
        lists.append(("GET", f"/api/v1/cases?page={rng.randint(1, 5)}&page_size=20{q}", api(user), None))
    for _ in range(100):
        user = pick(("zhihui", "jiedao", "shequ", "bumen"))
        q = pick(["", "?state=dispatched", "?open_only=true", "?page=2"])
        lists.append(("GET", f"/console/cases{q}", page(user), None))

    pages = out["case_page"]
    for user in ("zhihui", "jiedao", "shequ", "wangge1", "bumen"):
        for cid in w.cases[user][:400]:
            pages.append(("GET", f"/api/v1/cases/{cid}", api(user), None))
        for cid in w.cases[user][:100]:
            pages.append(("GET", f"/api/v1/cases/{cid}/timeline", api(user), None))
    for user in ("zhihui", "jiedao", "shequ", "bumen"):
        for cid in w.cases[user][:150]:
            pages.append(("GET", f"/console/cases/{cid}", page(user), None))

    screen = out["screen"]
    for user in ("zhihui", "lingdao", "jiedao"):
        top = w.users[user]["unit_id"] or w.district["id"]
        if user == "jiedao":
            units = [top, *[c["id"] for c in w.communities if c["path"].startswith(w.users[user]["path"] + "/")]]
        else:
            units = [top, *[s["id"] for s in w.streets]]
        for u in units[:20]:
            screen += [("GET", f"/api/v1/dashboard/kpis?unit_id={u}", api(user), None),
                       ("GET", f"/api/v1/dashboard/trend?unit_id={u}&days=30&by=day", api(user), None),
                       ("GET", f"/api/v1/dashboard/trend?unit_id={u}&days=84&by=week", api(user), None),
                       ("GET", f"/api/v1/dashboard/categories?unit_id={u}", api(user), None),
                       ("GET", f"/api/v1/dashboard/breakdown?unit_id={u}", api(user), None)]
        screen += [("GET", "/api/v1/dashboard/ranking?level=street", api(user), None),
                   ("GET", "/api/v1/dashboard/ranking?level=grid", api(user), None),
                   ("GET", "/screen", page(user), None)]
    mine = [g for g in w.grids if g["path"].startswith(w.users["jiedao"]["path"] + "/")] or w.grids
    for g in rng.sample(mine, min(30, len(mine))):
        screen.append(("GET", f"/api/v1/dashboard/grids/{g['id']}/cases", api("jiedao"), None))
    for g in rng.sample(w.grids, min(30, len(w.grids))):
        screen.append(("GET", f"/api/v1/dashboard/grids/{g['id']}/cases", api("zhihui"), None))

    reg = out["register"]
    shequ_path = w.users["shequ"]["path"]
    for p in w.persons:
        name2 = p["name"][:2]
        reg.append(("GET", f"/api/v1/registry/persons?name={_q(p['name'][:1])}&page_size=20", api("zhihui"), None))
        reg.append(("POST", "/api/v1/registry/persons/search", post("zhihui"),
                    json.dumps({"name": name2, "page_size": 20}, ensure_ascii=False)))
        reg.append(("GET", f"/api/v1/registry/persons/{p['id']}", api("zhihui"), None))
        reg.append(("GET", f"/api/v1/registry/households?unit_id={p['grid_id']}&page_size=20", api("zhihui"), None))
    own_grids = [g for g in w.grids if g["path"].startswith(shequ_path + "/")]
    for g in own_grids:
        reg.append(("GET", f"/api/v1/registry/persons?unit_id={g['id']}&page_size=20", api("shequ"), None))
        reg.append(("POST", "/api/v1/registry/persons/search", post("shequ"),
                    json.dumps({"unit_id": g["id"], "min_age": 60, "page_size": 20})))
        reg.append(("GET", f"/api/v1/registry/households?unit_id={g['id']}&page_size=20", api("shequ"), None))
    for c in rng.sample(w.communities, min(40, len(w.communities))):
        reg.append(("GET", f"/api/v1/registry/buildings?unit_id={c['id']}&page_size=20", api("zhihui"), None))
    for p in w.persons[:60]:
        reg.append(("GET", f"/console/registry/persons?name={_q(p['name'][:2])}", page("zhihui"), None))

    con = out["console"]
    for user in ("zhihui", "lingdao", "jiedao", "shequ", "bumen"):
        con += [("GET", "/console/home", page(user), None)] * 4
        con += [("GET", "/api/v1/cases/summary", api(user), None),
                ("GET", "/api/v1/notifications?unread_only=true", api(user), None),
                ("GET", "/console/supervisions", page(user), None)]
    con += [("GET", "/console/inbox", page("bumen"), None)] * 3  # the department handler's queue
    for user in ("zhihui", "jiedao", "shequ"):  # the register overview of the user's unit (/console/registry/ → here)
        con.append(("GET", f"/console/registry/units/{w.users[user]['unit_id'] or w.district['id']}", page(user), None))
    for user in ("wangge1", "wangge2"):
        con += [("GET", "/gw/", page(user), None), ("GET", "/api/v1/cases/summary", api(user), None)]
    return out


def _q(s: str) -> str:
    from urllib.parse import quote

    return quote(s)


def lua_string(s: str) -> str:
    """A Lua string literal (JSON's escapes are Lua's for everything but control characters, which never occur)."""
    assert not any(ord(ch) < 32 for ch in s), s
    return json.dumps(s, ensure_ascii=False)


def write_reads(path: Path, reqs: list[Req]) -> None:
    lines = ["return {"]
    for method, url, headers, body in reqs:
        h = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        lines.append(f"  {{{lua_string(method)}, {lua_string(url)}, {{{h}}}, "
                     f"{lua_string(body) if body is not None else 'nil'}}},")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_intake(path: Path, w: World, tokens: dict[str, str]) -> None:
    reporters = [tokens[u] for u in ("jumin", "wangge1", "wangge2", "shequ", "zhihui")]
    path.write_text(
        "return {\n  tokens = {" + ", ".join(lua_string(t) for t in reporters) + "},\n"
        "  cats = {" + ", ".join(lua_string(c) for c in w.cats) + "},\n"
        "  pts = {" + ", ".join(f"{{{x:.6f}, {y:.6f}}}" for x, y in w.pts) + "},\n}\n", encoding="utf-8")


def write_workflow(path: Path, steps: list[tuple[str, str, str]], tokens: dict[str, str]) -> None:
    roles = {"command_centre": tokens["zhihui"], "handler": tokens["bumen"], "leader": tokens["lingdao"]}
    nxt = ", ".join(f"{s} = {{{lua_string(a)}, {lua_string(r)}{', ' + lua_string(d) if d else ''}}}"
                    for s, (a, r, d) in NEXT.items())
    lines = ["return {",
             "  tokens = {" + ", ".join(f"{k} = {lua_string(v)}" for k, v in roles.items()) + "},",
             f"  next = {{{nxt}}},",
             "  bodies = {" + ", ".join(f"{k} = {lua_string(json.dumps(v, ensure_ascii=False))}"
                                       for k, v in BODIES.items()) + "},",
             "  steps = {"]
    lines += [f"    {{{lua_string(a)}, {lua_string(i)}, {lua_string(r)}}}," for a, i, r in steps]
    lines += ["  },", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- measuring ---------------------------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid → (parent, CPU ticks, first bytes of the command line)."""
    table: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes()[:200].replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), cmd)
    return table


def family(root: int) -> set[int]:
    table = _proc_table()
    fam, changed = {root}, True
    while changed:
        changed = False
        for p, (parent, _, _) in table.items():
            if parent in fam and p not in fam:
                fam.add(p)
                changed = True
    return {p for p in fam if p in table}


def rss_mb(pids: set[int]) -> float:
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * PAGE / 2**20


def pg_backend_ticks(database: str) -> dict[int, int]:
    """CPU ticks of the PostgreSQL backends serving ``database`` (their process titles name it)."""
    marker = f" {database} "
    return {p: ticks for p, (_, ticks, cmd) in _proc_table().items()
            if cmd.startswith("postgres: ") and marker in cmd}


def host_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine (/proc/stat)."""
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


class MemorySampler(threading.Thread):
    def __init__(self, root: int, every: float) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while True:
            self.samples.append((time.monotonic() - t0, rss_mb(family(self.root))))
            if self.stop.wait(self.every):
                self.samples.append((time.monotonic() - t0, rss_mb(family(self.root))))
                return


def memory_summary(samples: list[tuple[float, float]], tolerance_mb: float) -> dict[str, Any]:
    """Start, end, max and the least-squares slope over the last two thirds; flat within the tolerance."""
    t_end = samples[-1][0]
    tail = [(t, m) for t, m in samples if t >= t_end / 3] or samples
    n = len(tail)
    mt = sum(t for t, _ in tail) / n
    mm = sum(m for _, m in tail) / n
    var = sum((t - mt) ** 2 for t, _ in tail)
    slope = sum((t - mt) * (m - mm) for t, m in tail) / var if var else 0.0  # MB per second
    window = tail[-1][0] - tail[0][0]
    growth = slope * window
    allowed = max(tolerance_mb, 0.02 * mm)
    return {"start_mb": round(samples[0][1], 1), "end_mb": round(samples[-1][1], 1),
            "max_mb": round(max(m for _, m in samples), 1), "samples": len(samples),
            "slope_mb_per_min": round(slope * 60, 2), "fitted_window_s": round(window),
            "growth_over_window_mb": round(growth, 1), "allowed_mb": round(allowed, 1),
            "flat": growth <= allowed}


# -- a run -----------------------------------------------------------------------------------------------------

def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before answering")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not answer /api/v1/health in 60 s")


def login_all(base: str, logins: dict[str, str]) -> dict[str, str]:
    tokens = {}
    for user in USERS:
        r = httpx.post(f"{base}/api/v1/auth/login", json={"username": user, "password": logins[user]}, timeout=30)
        r.raise_for_status()
        tokens[user] = str(r.json()["access_token"])
    return tokens


def preflight(base: str, reads: dict[str, list[Req]], rng: random.Random) -> list[str]:
    """Send a sample of every kind's requests once (this also warms the server): what answered neither 2xx nor
    3xx — a defect, or a request this script builds wrongly; either way the run would count errors."""
    bad = []
    # a new connection per request: the kernel spreads connections over the workers' sockets, so each worker
    # serves some of these (its first requests load its caches)
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False, limits=limits) as client:
        for kind, reqs in reads.items():
            seen: set[str] = set()
            for method, url, headers, body in rng.sample(reqs, min(60, len(reqs))):
                shape = url.split("?")[0][:40] + method
                if shape in seen and len(seen) > 25:
                    continue
                seen.add(shape)
                r = client.request(method, url, headers=headers, content=body)
                if not 200 <= r.status_code < 400:
                    bad.append(f"{kind}: {method} {url} → {r.status_code} {r.text[:200]}")
    return bad


def run_wrk(base: str, conns: dict[str, int], seconds: int, files: dict[str, Path], workdir: Path,
            tag: str, timeout: int) -> dict[str, dict[str, Any]]:
    """One wrk process per kind, all at once; each kind's summary (bench/wrk/common.lua)."""
    procs = {}
    for k in KINDS:
        out = workdir / f"{tag}-{k.name}.json"
        cmd = ["wrk", "-t1", f"-c{conns[k.name]}", f"-d{seconds}s", "--timeout", f"{timeout}s",
               "-s", str(WRK_DIR / k.script), base, "--", str(files[k.name]), str(out), str(os.getpid())]
        procs[k.name] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT), out)
    results = {}
    for name, (p, out) in procs.items():
        text, _ = p.communicate(timeout=seconds + 120)
        if p.returncode != 0 or not out.exists():
            sys.exit(f"wrk for {name} failed ({p.returncode}):\n{text.decode(errors='replace')}")
        results[name] = json.loads(out.read_text(encoding="utf-8", errors="replace"))
    return results


def prime(base: str, url: str, w: World, tokens: dict[str, str], want: int) -> int:
    """File reports through the API (before any measuring) until ``want`` cases wait in state ``reported``: a
    seeded history is nearly all closed, and the workflow steps need cases at the start of the flow. Returns the
    number filed."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    def reported() -> int:
        engine = _engine(url)
        with engine.connect() as c:
            n = c.execute(text('SELECT count(*) FROM "case" WHERE state = \'reported\' AND flow = \'event\' '
                               "AND NOT is_history AND master_case_id IS NULL")).scalar_one()
        engine.dispose()
        return int(n)

    def file(i: int) -> None:
        # without a point (an address only, as a hotline call often is): intake cannot dispatch it by itself, so it
        # waits for the command centre to accept it
        r = client.post("/api/v1/cases", headers={"Authorization": f"Bearer {tokens['jumin']}",
                                                  "Idempotency-Key": f"prime-{os.getpid()}-{time.time()}-{i}"},
                        json={"category_code": w.cats[i % len(w.cats)], "address": f"测试路 {i % 300 + 1} 号",
                              "description": f"压测准备上报 {i}：路灯不亮"})
        if r.status_code >= 300:
            raise RuntimeError(f"filing a report failed: {r.status_code} {r.text[:300]}")

    filed = 0
    with httpx.Client(base_url=base, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        for _ in range(4):  # intake dispatches some reports by itself: file again for the shortfall
            need = want - reported()
            if need <= 0:
                break
            list(pool.map(file, range(filed, filed + need)))
            filed += need
    return filed


def allocate(total: int, conns: dict[str, int], requests: dict[str, int]) -> dict[str, int]:
    """Connections per kind for the mix's shares, from a calibration run with ``conns``: a closed loop serves
    connections / latency requests per second, so scaling each kind's connections by target share / share reached
    (i.e. connections ∝ share × latency) brings the shares to the targets."""
    n = sum(requests.values()) or 1
    weight = {k.name: conns[k.name] * k.share / max(requests[k.name] / n, 0.002) for k in KINDS}
    s = sum(weight.values())
    return {name: max(1, round(total * w / s)) for name, w in weight.items()}


def run_once(args: argparse.Namespace, workers: int, url: str, env: dict[str, str], logins: dict[str, str],
             workdir: Path) -> dict[str, Any]:
    rng = random.Random(20 + workers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(workdir / f"server-{workers}.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(ZHILI), "serve", "--port", str(port), "--workers", str(workers)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(base, server)
        tokens = login_all(base, logins)
        print(f"[{workers} worker(s)] reading the database …", file=sys.stderr)
        world = prefetch_world(url, rng)
        reads = build_reads(world, tokens, rng)
        files = {k.name: workdir / f"{k.name}-{workers}.lua" for k in KINDS}
        for name, reqs in reads.items():
            write_reads(files[name], reqs)
        write_intake(files["intake"], world, tokens)
        bad = preflight(base, reads, rng)
        if bad:
            print("\n".join(bad), file=sys.stderr)
            sys.exit(f"{len(bad)} request(s) of the mix failed before the run (see above)")
        if args.prime:
            print(f"[{workers} worker(s)] filing reports until {args.prime} wait in state reported …",
                  file=sys.stderr)
            prime(base, url, world, tokens, args.prime)
        # calibration (also the warm-up): connections ∝ share, then connections ∝ share × latency
        steps, _ = prefetch_steps(url, args.pool, rng)
        write_workflow(files["workflow"], steps, tokens)
        print(f"[{workers} worker(s)] calibrating for {args.calibrate} s …", file=sys.stderr)
        first = {k.name: max(1, round(args.connections * k.share)) for k in KINDS}
        cal = run_wrk(base, first, args.calibrate, files, workdir, f"cal{workers}", args.timeout)
        cal_errors = sum(_errors(r) for r in cal.values())
        if cal_errors:  # reported, not failed: it is the warm-up (a worker's first requests load its caches)
            print(f"[{workers} worker(s)] {cal_errors} error(s) in the calibration run (warm-up):", file=sys.stderr)
            _print_failures(cal)
        conns = allocate(args.connections, first, {n: int(r["requests"]) for n, r in cal.items()})
        steps, pools = prefetch_steps(url, args.pool, rng)
        write_workflow(files["workflow"], steps, tokens)
        print(f"[{workers} worker(s)] {args.seconds} s of mixed load, connections {conns} …", file=sys.stderr)
        # measure
        sampler = MemorySampler(server.pid, args.sample)
        db = url.rsplit("/", 1)[1].split("?")[0]
        cpu0, pg0, host0 = server_cpu_s(server.pid), pg_backend_ticks(db), host_ticks()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        sampler.start()
        res = run_wrk(base, conns, args.seconds, files, workdir, f"run{workers}", args.timeout)
        sampler.stop.set()
        sampler.join()
        wall = time.monotonic() - t0
        cpu1, pg1, host1 = server_cpu_s(server.pid), pg_backend_ticks(db), host_ticks()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load1 = os.getloadavg()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    requests = sum(r["requests"] for r in res.values())
    ncpu = os.cpu_count() or 1
    gen_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    pg_cpu = sum(t - pg0.get(p, 0) for p, t in pg1.items()) / CLK
    host_busy = (host1[0] - host0[0]) / CLK
    kinds = {}
    for k in KINDS:
        r = res[k.name]
        pct = r["latency_us"]["percentiles"]
        kinds[k.name] = {"connections": conns[k.name], "requests": r["requests"],
                         "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
                         "share": round(r["requests"] / max(1, requests), 3), "target_share": k.share,
                         "p50_ms": round(pct["50"] / 1000, 1), "p95_ms": round(pct["95"] / 1000, 1),
                         "p99_ms": round(pct["99"] / 1000, 1), "max_ms": round(r["latency_us"]["max"] / 1000, 1),
                         "errors": _errors(r), "error_counts": r["errors"], "statuses": r["statuses"],
                         "failures": r["failures"],
                         "extra": r.get("extra", {})}
    exhausted = int(res["workflow"].get("extra", {}).get("exhausted", 0))
    return {"workers": workers, "seconds": args.seconds, "wall_s": round(wall, 1), "requests": requests,
            "rps": round(requests / wall, 1),
            "read_rps": round(sum(v["requests"] for n, v in kinds.items() if n not in ("intake", "workflow")) / wall,
                              1),
            "write_rps": round((kinds["intake"]["requests"] + kinds["workflow"]["requests"]) / wall, 1),
            "errors": sum(v["errors"] for v in kinds.values()), "warmup_errors": cal_errors,
            "workflow_pool_exhausted": exhausted,
            "workflow_pools": pools, "kinds": kinds,
            "memory": memory_summary(sampler.samples, args.mem_tolerance_mb),
            "memory_samples": [(round(t, 1), round(m, 1)) for t, m in sampler.samples],
            "server_cpu_s": round(cpu1 - cpu0, 1),
            "server_cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / max(1, requests), 2),
            "postgres_cpu_s": round(pg_cpu, 1), "generator_cpu_s": round(gen_cpu, 1),
            "generator_cpu_share_of_host": round(gen_cpu / (wall * ncpu), 3),
            "host_busy_share": round(host_busy / (wall * ncpu), 3),
            "others_cpu_s": round(host_busy - (cpu1 - cpu0) - pg_cpu - gen_cpu, 1),
            "load_average_start": round(load0[0], 2), "load_average_end": round(load1[0], 2)}


def _errors(r: dict[str, Any]) -> int:
    e = r["errors"]
    return int(e["status"] + e["timeout"] + e["connect"] + e["read"] + e["write"])


def _print_failures(res: dict[str, dict[str, Any]]) -> None:
    for name, r in res.items():
        if _errors(r):
            print(f"{name}: errors {r['errors']} statuses {r['statuses']}", file=sys.stderr)
            for f in r["failures"]:
                print(f"  {f}", file=sys.stderr)


# -- the report ------------------------------------------------------------------------------------------------

def report(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        m = r["memory"]
        lines += [f"### {r['workers']} worker(s), {r['seconds']} s: {r['rps']:,} req/s "
                  f"(reads {r['read_rps']:,}, writes {r['write_rps']:,}), {r['requests']:,} requests, "
                  f"{r['errors']} errors", "",
                  "| kind | conns | requests | req/s | share (target) | p50 ms | p95 ms | p99 ms | max ms | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, k in r["kinds"].items():
            lines.append(f"| {name} | {k['connections']} | {k['requests']:,} | {k['rps']:,} | "
                         f"{k['share']:.0%} ({k['target_share']:.0%}) | {k['p50_ms']} | {k['p95_ms']} | "
                         f"{k['p99_ms']} | {k['max_ms']} | {k['errors']} |")
        lines += ["", f"- server memory (RSS of its processes, every sample): start {m['start_mb']} MB, end "
                      f"{m['end_mb']} MB, max {m['max_mb']} MB; slope over the last two thirds "
                      f"{m['slope_mb_per_min']} MB/min ({m['growth_over_window_mb']} MB over {m['fitted_window_s']} s,"
                      f" allowed {m['allowed_mb']} MB): {'flat' if m['flat'] else 'GROWING'}",
                  f"- CPU: server {r['server_cpu_s']} s ({r['server_cpu_ms_per_request']} ms/request), PostgreSQL "
                  f"backends {r['postgres_cpu_s']} s, wrk {r['generator_cpu_s']} s "
                  f"({r['generator_cpu_share_of_host']:.1%} of the host), everything else on the host "
                  f"{r['others_cpu_s']} s; host busy {r['host_busy_share']:.0%}; load average "
                  f"{r['load_average_start']} → {r['load_average_end']}",
                  f"- workflow: {r['kinds']['workflow']['extra']}; pools at the start {r['workflow_pools']}", ""]
    if len(results) >= 2:
        a, b = results[0], results[-1]
        lines.append(f"Gain {a['workers']} → {b['workers']} workers: total ×{b['rps'] / max(a['rps'], 0.1):.2f}; "
                     + ", ".join(f"{n} ×{b['kinds'][n]['rps'] / max(a['kinds'][n]['rps'], 0.1):.2f}"
                                 for n in a["kinds"]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--database-url", help="an existing seeded PostgreSQL database (with --var-dir)")
    src.add_argument("--seed", choices=("small", "medium"), help="seed a scratch database of this scale")
    ap.add_argument("--var-dir", type=Path, help="the var folder of the seeded database (key, demo_logins.json)")
    ap.add_argument("--pg-server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="server for the scratch database of --seed")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--connections", type=int, default=16, help="all kinds together")
    ap.add_argument("--timeout", type=int, default=10, help="seconds after which wrk counts a request as an error")
    ap.add_argument("--calibrate", type=int, default=20, help="seconds of the calibration run (also the warm-up)")
    ap.add_argument("--pool", type=int, default=6000, help="cases fetched per workflow state")
    ap.add_argument("--prime", type=int, default=600,
                    help="before measuring, file reports until this many cases wait in state reported")
    ap.add_argument("--sample", type=float, default=3.0, help="seconds between memory samples")
    ap.add_argument("--mem-tolerance-mb", type=float, default=10.0)
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (Lua data, wrk summaries, server logs)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run `make install` (deploy/apt-packages.txt lists it)")
    if args.database_url and not args.var_dir:
        ap.error("--database-url needs --var-dir")
    workdir = Path(tempfile.mkdtemp(prefix="zhili-mixed-"))
    scratch = None
    try:
        if args.seed:
            scratch = f"zhili_mixed_{os.getpid()}"
            url = pg_database(args.pg_server, scratch, create=True)
            var = workdir / "var"
        else:
            url, var = args.database_url, args.var_dir
        env = {**os.environ, "ZHILI_VAR_DIR": str(var), "ZHILI_DATABASE_URL": url, "ZHILI_LOG_LEVEL": "WARNING",
               "ZHILI_SWEEP_INTERVAL_S": "0", "PYTHONPATH": str(ROOT / "src")}
        if args.seed:
            print(f"seeding {args.seed} into {scratch} …", file=sys.stderr)
            subprocess.run([str(ZHILI), "seed", "--scale", args.seed], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        logins = {u["username"]: u["password"]
                  for u in json.loads((var / "demo_logins.json").read_text(encoding="utf-8"))}
        results = [run_once(args, n, url, env, logins, workdir) for n in args.workers]
        print(report(results))
        if args.json:
            args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        errors = sum(r["errors"] for r in results)
        if errors:
            for r in results:
                _print_failures({n: {"errors": k["error_counts"], "statuses": k["statuses"],
                                     "failures": k["failures"]} for n, k in r["kinds"].items()})
            print(f"FAILED: {errors} error(s); server logs in {workdir}", file=sys.stderr)
            args.keep = True
            sys.exit(1)
        if any(r["workflow_pool_exhausted"] for r in results):
            print("FAILED: the workflow steps ran out (raise --pool)", file=sys.stderr)
            sys.exit(1)
        if not all(r["memory"]["flat"] for r in results):
            print("FLAGGED: server memory grew over the run", file=sys.stderr)
            sys.exit(3)
    finally:
        if scratch:
            pg_database(args.pg_server, scratch, create=False)
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
