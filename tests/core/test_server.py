"""``zhili serve --workers N``: one listening socket per worker (SO_REUSEPORT), supervised by the parent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(parent: int) -> list[int]:
    """The worker processes of the server (not multiprocessing's resource tracker)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == parent and b"resource_tracker" not in cmd:
            out.append(int(entry.name))
    return sorted(out)


def _established(pid: int, port: int, state: str = "01") -> int:
    """How many TCP sockets on ``port`` in ``state`` (01 established, 0A listening) the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == state and f[9] in inodes:
                n += 1
    return n


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update({"ZHILI_DATABASE_URL": f"sqlite:///{tmp_path / 'zhili.db'}", "ZHILI_VAR_DIR": str(tmp_path / "var"),
                "ZHILI_SWEEP_INTERVAL_S": "0", "ZHILI_ENV": "dev", "ZHILI_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([str(BIN / "zhili"), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], want_workers: int = 2) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            workers = _workers(proc.pid)
            # every worker listening on its own socket (a worker still starting takes no connection yet)
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200 \
                    and len(workers) == want_workers and all(_established(w, port, "0A") for w in workers):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


def test_the_kernel_spreads_kept_alive_connections_over_both_workers(server):
    proc, port = server
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=1))
               for _ in range(32)]
    try:
        for c in clients:
            assert c.get("/api/v1/health").status_code == 200
        per_worker = [_established(pid, port) for pid in _workers(proc.pid)]
        assert sum(per_worker) == 32
        assert min(per_worker) >= 4  # a shared socket let one worker take nearly all of them
    finally:
        for c in clients:
            c.close()


def test_a_worker_that_dies_is_started_again_and_sigterm_stops_them_all(server):
    proc, port = server
    first, second = _workers(proc.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (first in _workers(proc.pid) or len(_workers(proc.pid)) < 2):
        time.sleep(0.2)
    workers = _workers(proc.pid)
    assert len(workers) == 2 and first not in workers and second in workers
    _wait_healthy(port, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not any(Path(f"/proc/{pid}").exists() and b"zhili" in Path(f"/proc/{pid}/cmdline").read_bytes()
                   for pid in workers)
