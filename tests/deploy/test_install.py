"""deploy/install.sh on this machine, into a temporary prefix (docs/deploy.md "What CI checks").

The install runs once for the module (``--prefix``: no user, no packages, nothing started; ``--deps-from``: the
Python packages of the test's own virtualenv instead of a download). Then, on what it wrote:

* the systemd units pass ``systemd-analyze verify`` (unit syntax, known directives, the executables exist) and their
  sandboxing rates "OK" in ``systemd-analyze security --offline`` — systemd does not run here, so whether the units
  start, their ordering against postgresql/nginx, and the user ``zhili`` are not checked;
* the nginx site passes ``nginx -t`` inside a minimal main configuration, with a self-signed certificate;
* ``logrotate -d`` accepts the log rotation; the PostgreSQL snippet parses (``postgres -C``) when the server
  binaries are installed;
* the env file gives the intended ``Settings``, and nginx's body limits cover every route's declared limit;
* the app started as the unit's ``ExecStart`` says, with the env file's settings, behind the generated nginx on free
  loopback ports, answers ``/api/v1/health`` over TLS, records the client address nginx forwarded (not nginx's own,
  not a forged one), marks cookies Secure, and nginx serves the static files itself;
* the backup service's script writes a backup and a sealed key file, and a restore drill brings both back;
* the base backup script keeps the newest base backup and prunes the WAL archive (a throw-away cluster).

Only in the SQLite pass of ``make test`` (the install and the served app use a SQLite file under the prefix).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"
CLIENT_ADDR = "127.0.0.5"  # the browser, as nginx sees it: a loopback address that is not a trusted proxy
FORGED = "203.0.113.9"  # what that browser claims in its own X-Forwarded-For

pytestmark = [
    pytest.mark.skipif(os.environ.get("ZHILI_TEST_DATABASE_URL", "").startswith("postgresql"),
                       reason="the deployment test runs once, in the SQLite pass of make test"),
    pytest.mark.skipif(sys.platform != "linux", reason="deploy/ targets Debian"),
]


def _need(binary: str) -> str:
    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}", f"/sbin/{binary}")
                                         if Path(p).exists()), None)
    if path is None:
        pytest.skip(f"{binary} is not installed here (make install brings it: deploy/apt-packages.txt)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """An environment without this test run's ZHILI_* (conftest sets ZHILI_KEYS and ZHILI_ENV=test) nor a Python
    path pointing at the checkout: what runs is the installed copy."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZHILI_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, **extra}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (comments, blank lines, single quotes)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        out[key] = value
    return out


@dataclass
class Unit:
    exec_start: list[str]
    environment: dict[str, str]
    env_file: Path
    working_dir: Path


def read_unit(path: Path) -> Unit:
    """The few [Service] lines needed to start a unit's command as systemd would."""
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    env = dict(kv.split("=", 1) for v in values.get("Environment", []) for kv in v.split())
    return Unit(exec_start=values["ExecStart"][0].split(), environment=env,
                env_file=Path(values["EnvironmentFile"][0].lstrip("-")),
                working_dir=Path(values["WorkingDirectory"][0]))


@dataclass
class Install:
    root: Path
    tls_cert: Path
    http_port: int
    https_port: int
    app_port: int
    seconds: float
    app_pid: int = 0  # the web unit's main process, once served

    @property
    def env_file(self) -> Path:
        return self.root / "etc/zhili/zhili.env"

    @property
    def units(self) -> Path:
        return self.root / "etc/systemd/system"

    @property
    def site(self) -> Path:
        return self.root / "etc/nginx/sites-available/zhili.conf"

    def unit_env(self, unit: Unit) -> dict[str, str]:
        return _clean_env(**unit.environment, **read_env_file(unit.env_file))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    openssl = _need("openssl")
    tmp = tmp_path_factory.mktemp("deploy")
    cert, key = tmp / "tls" / "cert.pem", tmp / "tls" / "key.pem"
    cert.parent.mkdir()
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ports = _free_port(), _free_port(), _free_port()
    root = tmp / "root"
    started = time.monotonic()
    r = subprocess.run(
        ["bash", str(INSTALL), "--prefix", str(root), "--deps-from", str(Path(sys.prefix)),
         "--server-name", "localhost", "--listen", "127.0.0.1", "--http-port", str(ports[0]),
         "--https-port", str(ports[1]), "--upstream-port", str(ports[2]), "--workers", "2",
         "--tls-cert", str(cert), "--tls-key", str(key)],
        env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"install.sh failed:\n{r.stdout}\n{r.stderr}"
    return Install(root, cert, *ports, seconds=time.monotonic() - started)


def test_the_install_lays_out_the_prefix_and_migrates_the_database(installed: Install) -> None:
    root = installed.root
    for path in ("opt/zhili/venv/bin/zhili", "opt/zhili/bin/zhili-manage", "opt/zhili/bin/zhili-backup",
                 "etc/zhili/zhili.env", "etc/zhili/keys/keys.json", "etc/logrotate.d/zhili",
                 "etc/systemd/journald.conf.d/zhili.conf", "opt/zhili/share/postgresql/zhili.conf",
                 "etc/nginx/sites-enabled/zhili.conf", "opt/zhili/node_modules/htmx.org/dist"):
        assert (root / path).exists(), path
    assert (root / "etc/zhili/keys/keys.json").stat().st_mode & 0o077 == 0
    assert (root / "etc/zhili/zhili.env").stat().st_mode & 0o007 == 0
    # the installed copy is what runs, not this checkout
    zhili = subprocess.run([str(root / "opt/zhili/venv/bin/python"), "-c", "import zhili; print(zhili.__file__)"],
                           capture_output=True, text=True, env=_clean_env(), check=True).stdout.strip()
    assert zhili.startswith(str(root / "opt/zhili/venv"))
    with sqlite3.connect(root / "var/lib/zhili/zhili.db") as db:
        head = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    # the operator's entry point: `zhili …` with the env file's settings (as root here: there is no user zhili)
    r = subprocess.run([str(root / "usr/local/bin/zhili-manage"), "db", "current"], capture_output=True, text=True,
                       env=_clean_env(COLUMNS="200"), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"当前版本: {head}" in r.stdout
    # every template token was filled; the units and the site point into the prefix only
    for f in [*installed.units.iterdir(), installed.site, installed.env_file, root / "etc/logrotate.d/zhili"]:
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"@[A-Z][A-Z0-9_]*@", text), f
        if f.suffix in (".service", ".conf"):
            outside = text.replace(str(root), "<prefix>")
            assert not re.search(r"(?<!<prefix>)/(opt|etc|var/lib|var/backups)/zhili", outside), f


def test_the_env_file_gives_the_intended_settings(installed: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.core.settings import Settings

    values = read_env_file(installed.env_file)
    unknown = {k for k in values if k.startswith("ZHILI_")} - {f"ZHILI_{n.upper()}" for n in Settings.model_fields}
    assert unknown == {"ZHILI_NODE_MODULES"}  # read by zhili.web.assets, not a Settings field
    for k in [k for k in os.environ if k.startswith("ZHILI_")]:
        monkeypatch.delenv(k)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.env == "prod"
    assert s.var_dir == installed.root / "var/lib/zhili"
    assert s.effective_key_file == installed.root / "etc/zhili/keys/keys.json"
    assert s.trusted_proxies == ["127.0.0.1", "::1"]
    assert s.cookie_secure is True
    assert s.effective_database_url.startswith("sqlite:///")
    assert int(values["WEB_WORKERS"]) == 2 and int(values["WEB_PORT"]) == installed.app_port


def test_systemd_analyze_verifies_the_units_and_rates_their_sandbox(installed: Install) -> None:
    analyze = _need("systemd-analyze")
    files = sorted(str(p) for p in installed.units.iterdir())
    r = subprocess.run([analyze, "verify", "--man=no", *files], capture_output=True, text=True,
                       cwd=installed.units)
    # verify exits 0 on unknown directives and bad values too: every line it prints is a finding
    findings = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert r.returncode == 0 and findings == [], "\n".join(findings)
    for unit in ("zhili-web.service", "zhili-iot.service", "zhili-backup.service", "zhili-audit-anchor.service"):
        r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(installed.units / unit)],
                           capture_output=True, text=True)
        level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", r.stdout)
        assert level, r.stdout + r.stderr
        assert float(level.group(1)) <= 2.0 and level.group(2) == "OK", (unit, level.group(0))


def test_the_units_run_the_installed_commands_as_the_service_user(installed: Install) -> None:
    web = read_unit(installed.units / "zhili-web.service")
    assert web.exec_start[:2] == [str(installed.root / "opt/zhili/venv/bin/zhili"), "serve"]
    assert "--workers" in web.exec_start
    text = (installed.units / "zhili-web.service").read_text(encoding="utf-8")
    for line in ("User=zhili", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "CapabilityBoundingSet=", f"ReadWritePaths={installed.root / 'var/lib/zhili'}",
                 "LimitNOFILE=65536", "Restart=on-failure"):
        assert line in text.splitlines(), line
    iot = read_unit(installed.units / "zhili-iot.service")
    assert iot.exec_start[1:] == ["iot", "run"]
    assert "OnCalendar=*-*-* 02:30:00" in (installed.units / "zhili-backup.timer").read_text(encoding="utf-8")


def test_nginx_accepts_the_site(installed: Install, tmp_path: Path) -> None:
    nginx = _need("nginx")
    conf = _nginx_main_conf(installed, tmp_path)
    r = subprocess.run([nginx, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_logrotate_accepts_the_configuration(installed: Install, tmp_path: Path) -> None:
    logrotate = _need("logrotate")
    log_dir = installed.root / "var/log/zhili"
    (log_dir / "access.log").write_text("x\n")
    r = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(installed.root / "etc/logrotate.d/zhili")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"considering log {log_dir}/access.log" in r.stdout + r.stderr
    assert not [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("error")]


def test_postgresql_parses_the_settings_snippet(installed: Install) -> None:
    from pgcluster import PgCluster, pg_bin, temporary_root

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (postgres -C needs them)")
    with temporary_root() as root:
        cluster = PgCluster(root, "conf")
        cluster._run(str(cluster.bin / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres",
                     "--no-sync")
        snippet = cluster.data / "zhili.conf"
        shutil.copy(installed.root / "opt/zhili/share/postgresql/zhili.conf", snippet)
        shutil.chown(snippet, "postgres") if os.geteuid() == 0 else None
        with open(cluster.data / "postgresql.conf", "a") as conf:
            conf.write("include 'zhili.conf'\n")
        shown = {}
        for name in ("max_connections", "synchronous_commit", "wal_level", "shared_preload_libraries"):
            r = cluster._run(str(cluster.bin / "postgres"), "-D", str(cluster.data), "-C", name, check=False)
            assert r.returncode == 0, r.stderr
            shown[name] = r.stdout.strip()
    assert shown == {"max_connections": "220", "synchronous_commit": "on", "wal_level": "replica",
                     "shared_preload_libraries": "pg_stat_statements"}


def test_nginx_body_limits_cover_every_route_and_no_more(installed: Install, _shared_app: object) -> None:
    """nginx refuses a body over the largest limit an ordinary route declares (zhili.http.bodylimit) and lets the
    data hub's large imports through their own locations: every declared limit is covered, and the general one is
    exactly the largest ordinary limit (so nginx answers 413 itself for anything the app would refuse anyway)."""
    from fastapi.routing import iter_route_contexts

    text = installed.site.read_text(encoding="utf-8")
    general = int(re.search(r"^    client_max_body_size (\d+);", text, re.M).group(1))  # type: ignore[union-attr]
    exact = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"location = (\S+) \{\s*client_max_body_size (\d+);", text)}
    declared = {}
    for route in iter_route_contexts(_shared_app.routes):  # type: ignore[attr-defined]
        limit = getattr(getattr(route, "endpoint", None), "__zhili_body_limit__", None)
        if limit is not None:
            declared[route.path] = int(limit() if callable(limit) else limit)
    assert declared, "no route declares a body limit: the check would prove nothing"
    for path, limit in declared.items():
        nginx_limit = exact.get(path, general)
        assert limit <= nginx_limit, f"{path}: the app takes {limit} bytes, nginx {nginx_limit}"
    assert general == max(v for p, v in declared.items() if p not in exact)
    assert set(exact) <= set(declared)


# -- served behind nginx -------------------------------------------------------------------------------------------

def _nginx_main_conf(installed: Install, tmp: Path) -> Path:
    """A main nginx.conf around the generated site (Debian's includes sites-enabled/* the same way)."""
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    # `user root`: the prefix lies in the test's private temporary folder, which nginx's usual worker user cannot
    # read (the real install puts static files in world-readable /opt/zhili)
    conf.write_text(f"""
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {installed.root}/etc/nginx/sites-enabled/*.conf;
}}
""", encoding="utf-8")
    return conf


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not listen on {port} within {timeout} s")


def _wait_health(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    """Until the app itself answers /api/v1/health (a worker is up; the supervisor only binds the port briefly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"zhili serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.3)
    raise AssertionError(f"zhili serve did not answer within {timeout} s:\n{log.read_text(errors='replace')}")


def _children(pid: int) -> set[int]:
    """The worker processes (multiprocessing's spawned children) of ``pid``."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.add(int(proc.name))
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def served(installed: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """zhili-web's ExecStart with the env file's settings, and nginx with the generated site, both running."""
    nginx = _need("nginx")
    unit = read_unit(installed.units / "zhili-web.service")
    env = installed.unit_env(unit)
    argv = [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], a) for a in unit.exec_start]
    log = tmp_path_factory.mktemp("served")
    with open(log / "app.log", "wb") as app_out, open(log / "nginx.log", "wb") as nginx_out:
        app = subprocess.Popen(argv, env=env, cwd=unit.working_dir, stdout=app_out, stderr=subprocess.STDOUT)
        proxy = None
        try:
            conf = _nginx_main_conf(installed, log)
            proxy = subprocess.Popen([nginx, "-c", str(conf), "-e", str(log / "error.log"), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=nginx_out)
            _wait_port(installed.https_port, proxy, "nginx")
            _wait_health(installed.app_port, app, log / "app.log")
            installed.app_pid = app.pid
            yield installed
        finally:
            if proxy is not None:
                _stop(proxy)
            _stop(app)


def _https(installed: Install, method: str, path: str, body: bytes | None = None,
           headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes, str]:
    """One request over TLS from CLIENT_ADDR, verifying the certificate; the response, its body, the TLS version."""
    ctx = ssl.create_default_context(cafile=str(installed.tls_cert))
    conn = http.client.HTTPSConnection("127.0.0.1", installed.https_port, context=ctx, timeout=60,
                                       source_address=(CLIENT_ADDR, 0))
    try:
        conn.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        version = conn.sock.version() if conn.sock else ""  # type: ignore[union-attr]
        return resp, data, version or ""
    finally:
        conn.close()


def test_health_answers_over_tls_through_nginx(served: Install) -> None:
    resp, body, version = _https(served, "GET", "/api/v1/health")
    assert resp.status == 200 and json.loads(body)["status"] == "ok"
    assert version in ("TLSv1.2", "TLSv1.3")
    assert resp.getheader("Strict-Transport-Security") == "max-age=63072000"
    assert resp.getheader("X-Response-Time-ms") is not None  # answered by the app
    assert resp.getheader("Server") == "nginx"  # server_tokens off: no version


def test_the_web_unit_runs_its_workers_and_keeps_them(served: Install) -> None:
    """WEB_WORKERS=2: two worker processes under the supervisor, still the same two after requests (a worker that
    cannot start is restarted over and over — e.g. a launcher script without its ``__main__`` guard)."""
    deadline = time.monotonic() + 120
    while len(_children(served.app_pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    workers = _children(served.app_pid)
    assert len(workers) == 2
    for _ in range(6):
        assert _https(served, "GET", "/api/v1/health")[0].status == 200
    time.sleep(1)
    assert _children(served.app_pid) == workers


def test_plain_http_is_redirected_to_https(served: Install) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=30, source_address=(CLIENT_ADDR, 0))
    conn.request("GET", "/api/v1/health?x=1", headers={"Host": "localhost"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 301
    assert resp.getheader("Location") == f"https://localhost:{served.https_port}/api/v1/health?x=1"


def test_the_app_records_the_address_nginx_forwarded_not_a_forged_one(served: Install) -> None:
    """A failed login is audited with the caller's address: the browser's (CLIENT_ADDR, which only nginx saw), not
    nginx's own 127.0.0.1 and not what the browser wrote into its own X-Forwarded-For."""
    username = f"nobody-{os.getpid()}"
    resp, body, _ = _https(served, "POST", "/api/v1/auth/login",
                           body=json.dumps({"username": username, "password": "wrong-password"}).encode(),
                           headers={"Content-Type": "application/json", "X-Forwarded-For": FORGED})
    assert resp.status == 401, body
    with sqlite3.connect(served.root / "var/lib/zhili/zhili.db") as db:
        rows = db.execute("SELECT ip FROM audit_event WHERE action = 'auth.login_failed' ORDER BY seq").fetchall()
    assert rows and rows[-1][0] == CLIENT_ADDR


def test_cookies_are_secure_behind_the_tls_proxy(served: Install) -> None:
    resp, _, _ = _https(served, "GET", "/login")
    cookies = [v for k, v in resp.getheaders() if k.lower() == "set-cookie"]
    assert resp.status == 200 and cookies
    assert all("Secure" in c for c in cookies), cookies


def test_nginx_serves_the_static_files_compressed(served: Install) -> None:
    resp, body, _ = _https(served, "GET", "/static/app/app.css", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200 and body
    assert resp.getheader("X-Response-Time-ms") is None  # nginx answered, the app never saw it
    assert resp.getheader("Content-Encoding") == "gzip"
    assert "max-age=604800" in (resp.getheader("Cache-Control") or "")
    resp, _, _ = _https(served, "GET", "/static/vendor/htmx/htmx.min.js")
    assert resp.status == 200 and resp.getheader("X-Response-Time-ms") is None


def test_nginx_refuses_a_body_over_the_limit_before_the_app_sees_it(served: Install) -> None:
    general = int(re.search(r"^    client_max_body_size (\d+);", served.site.read_text(encoding="utf-8"),
                            re.M).group(1))  # type: ignore[union-attr]
    ctx = ssl.create_default_context(cafile=str(served.tls_cert))
    conn = http.client.HTTPSConnection("127.0.0.1", served.https_port, context=ctx, timeout=30,
                                       source_address=(CLIENT_ADDR, 0))
    conn.putrequest("POST", "/api/v1/attachments", skip_host=True)
    conn.putheader("Host", "localhost")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(general + 1))
    conn.endheaders()  # no body sent: nginx answers from the declared length
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 413
    assert resp.getheader("X-Response-Time-ms") is None


# -- backup and restore drill --------------------------------------------------------------------------------------

def test_the_backup_service_and_a_restore_drill(installed: Install, tmp_path: Path) -> None:
    """zhili-backup.service's script writes a checked backup without keys and a sealed key file apart; a fresh
    installation (empty var dir, no key file) gets both back, and `zhili restore` checks rows, keys and the audit
    chain."""
    unit = read_unit(installed.units / "zhili-backup.service")
    env = installed.unit_env(unit)
    r = subprocess.run(unit.exec_start, env=env, cwd=unit.working_dir, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    backups = sorted((installed.root / "var/backups/zhili/daily").iterdir())
    sealed = sorted((installed.root / "var/backups/zhili/keys").glob("keys-*.enc"))
    assert len(backups) == 1 and len(sealed) == 1
    manifest = json.loads((backups[0] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["keys_included"] is False and "keys.enc" not in manifest["files"]
    assert "ciphertext" in json.loads(sealed[0].read_text(encoding="utf-8"))

    # the drill: another machine with the same env file but an empty var dir and no key file
    fresh = {**env, "ZHILI_VAR_DIR": str(tmp_path / "var"), "ZHILI_KEY_FILE": str(tmp_path / "keys" / "keys.json")}
    venv = installed.root / "opt/zhili/venv/bin"
    passphrase = env["BACKUP_PASSPHRASE_FILE"]
    r = subprocess.run([str(venv / "python"), str(installed.root / "opt/zhili/bin/zhili-keys"), "open",
                        "--passphrase-file", passphrase, "--in", str(sealed[0])],
                       env=fresh, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "keys/keys.json").read_text()) == json.loads(
        (installed.root / "etc/zhili/keys/keys.json").read_text())
    r = subprocess.run([str(venv / "zhili"), "restore", "--from", str(backups[0])], env=fresh, capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "var/zhili.db").exists()


def test_the_base_backup_script_keeps_the_newest_and_prunes_the_wal_archive(installed: Install) -> None:
    """zhili-pg-basebackup (what zhili-pg-basebackup.service runs as postgres) against a throw-away cluster that
    archives its WAL as deploy/postgresql/zhili.conf says: with BASEBACKUP_KEEP=1, two runs leave one base backup,
    and the archive keeps only what that one needs."""
    from pgcluster import PgCluster, _as_owner, _chown, pg_bin, temporary_root

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (the base backup needs a cluster of its own)")
    with temporary_root() as root:
        archive, backups = root / "wal-archive", root / "backups"
        for d in (archive, backups):
            d.mkdir()
            _chown(d)
        cluster = PgCluster(root, "primary").init(
            archive_mode="on", archive_command=f"test ! -f {archive}/%f && cp %p {archive}/%f")
        cluster.start()
        try:
            # the installed script, its archive path pointed at this cluster's (the prefix is private to root)
            script = (installed.root / "opt/zhili/bin/zhili-pg-basebackup").read_text(encoding="utf-8")
            script = script.replace(str(installed.root / "var/lib/postgresql/wal-archive"), str(archive))
            (root / "basebackup.sh").write_text(script, encoding="utf-8")
            env = [f"BACKUP_DIR={backups}", "BASEBACKUP_KEEP=1", "PGHOST=127.0.0.1", f"PGPORT={cluster.port}",
                   "PGUSER=postgres", "PATH=/usr/bin:/bin"]
            for _ in range(2):
                r = subprocess.run([*_as_owner(), "env", "-i", *env, "bash", str(root / "basebackup.sh")],
                                   capture_output=True, text=True, timeout=300)
                assert r.returncode == 0, r.stdout + r.stderr
                cluster.sql("SELECT pg_switch_wal()")
                time.sleep(1.1)  # the next backup's folder is named by the second
            kept = sorted((backups / "base").iterdir())
            assert len(kept) == 1 and (kept[0] / "base.tar.gz").exists()
            labels = sorted(p.name for p in archive.glob("*.backup"))
            segments = sorted(p.name for p in archive.iterdir() if len(p.name) == 24)
            # nothing older than the kept backup's start segment is left
            assert segments and segments[0] >= labels[-1][:24]
        finally:
            cluster.stop("immediate")
