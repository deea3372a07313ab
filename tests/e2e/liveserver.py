"""A real ``zhili serve`` on a free port over a freshly seeded temporary SQLite database, and a headless Debian
Chromium driven by Playwright (never a downloaded browser). Shared by the e2e tests and ``scripts/screenshots.py``.

Every subprocess gets an explicit environment, so nothing of the unit-test process (``ZHILI_KEYS``, ``ZHILI_ENV``,
``ZHILI_TEST_DATABASE_URL``…) leaks into the server and nothing of the server leaks back.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "zhili").exists() else ROOT / ".venv" / "bin"
CHROMIUM = Path(os.environ.get("ZHILI_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOCALE_COOKIE = "zhili_lang"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the CLI: only what a shell needs plus the server's own settings, and ``PYTHONPATH``
    set to this checkout's ``src``, so a run from another checkout (a git worktree) serves that checkout's code,
    not the one the virtualenv was installed from."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    env.update({
        "ZHILI_DATABASE_URL": f"sqlite:///{(workdir / 'zhili-e2e.db').as_posix()}",
        "ZHILI_VAR_DIR": str(workdir / "var"),
        "ZHILI_SWEEP_INTERVAL_S": "0",
        "ZHILI_ENV": "dev",
        "ZHILI_NODE_MODULES": str(ROOT / "node_modules"),
        "PYTHONPATH": str(ROOT / "src"),  # serve this checkout's code (the venv may hold another's, editable)
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class LiveServer:
    base_url: str
    workdir: Path
    logins: dict[str, dict[str, Any]]
    log_path: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def password(self, username: str) -> str:
        return str(self.logins[username]["password"])

    def token(self, username: str) -> str:
        """An API bearer token for a demo user (one login per user and run)."""
        if username not in self._tokens:
            r = httpx.post(self.url("/api/v1/auth/login"), json={"username": username,
                                                                 "password": self.password(username)}, timeout=30)
            r.raise_for_status()
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def api(self, username: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token(username)}"},
                            timeout=30)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""


@contextmanager
def live_server(workdir: Path, *, cases: bool = False, **extra_env: str) -> Iterator[LiveServer]:
    """Serve a copy of the small demo district (with the case history only if ``cases``) until the block ends;
    ``extra_env`` is the server's. The district is seeded once per process and kind (:func:`_seeded`) and copied:
    each server still has a database and key file of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(workdir, **extra_env)
    zhili = str(BIN / "zhili")
    template = _seeded(cases)
    for f in template.iterdir():  # the database (and any WAL beside it) and the var folder: keys, demo logins
        if f.is_dir():
            shutil.copytree(f, workdir / f.name, dirs_exist_ok=True)
        else:
            shutil.copy2(f, workdir / f.name)
    logins = {u["username"]: u for u in json.loads((workdir / "var" / "demo_logins.json").read_text("utf-8"))}
    port = free_port()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([zhili, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=workdir, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(base_url=f"http://127.0.0.1:{port}", workdir=workdir, logins=logins, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"zhili serve exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(server.url("/api/v1/health"), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"zhili serve did not become healthy:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


_TEMPLATES: dict[bool, Path] = {}


def _seeded(cases: bool) -> Path:
    """A folder holding the seeded small demo (its database and var folder, named as :func:`server_env` names them),
    made on first use in this process and removed at its exit. Seeding takes 15–35 s and six e2e modules serve the
    same district: seeded once per kind, copied for each (the seed does not depend on the servers' settings)."""
    got = _TEMPLATES.get(cases)
    if got is not None:
        return got
    root = Path(tempfile.mkdtemp(prefix="zhili-e2e-seed-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    seeded = subprocess.run([str(BIN / "zhili"), "seed", "--scale", "small", "--cases" if cases else "--no-cases"],
                            cwd=root, env=server_env(root), capture_output=True, text=True, timeout=300)
    if seeded.returncode != 0:
        raise RuntimeError(f"zhili seed failed:\n{seeded.stdout[-3000:]}\n{seeded.stderr[-3000:]}")
    _TEMPLATES[cases] = root
    return root


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def new_context(browser: Any, server: LiveServer, **options: Any) -> Any:
    """A browser context that asks for Chinese (headless Chromium would otherwise send an English Accept-Language)."""
    options.setdefault("locale", "zh-CN")
    ctx = browser.new_context(base_url=server.base_url, **options)
    ctx.add_cookies([{"name": LOCALE_COOKIE, "value": "zh-CN", "url": server.base_url}])
    return ctx


def login(page: Any, server: LiveServer, username: str, next_url: str = "") -> None:
    """Log in through the login page (the real form, with its CSRF token)."""
    page.goto("/login" + (f"?next={next_url}" if next_url else ""))
    page.fill("#username", username)
    page.fill("#password", server.password(username))
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
