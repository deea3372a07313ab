"""Throw-away PostgreSQL clusters on loopback for the tests that need a server of their own.

The shared server (``ZHILI_TEST_DATABASE_URL``) serves every other test; a test that stops, kills or replicates a
server must not touch it. :class:`PgCluster` runs Debian's server binaries (``initdb``, ``pg_ctl``,
``pg_basebackup``) in a temporary folder on a free loopback port, as the ``postgres`` user when the tests run as
root (the server refuses to run as root). :func:`primary_and_replica` gives a primary and a streaming replica made
from it with ``pg_basebackup -R``.

Nothing here is shipped: the production equivalents are in ``deploy/`` and docs/deploy.md.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin() -> Path | None:
    """The newest installed server's bin folder (``/usr/lib/postgresql/<major>/bin``), or None."""
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists() and (candidate / "pg_basebackup").exists():
            return candidate
    return None


needs_pg_server_binaries = pytest.mark.skipif(
    pg_bin() is None, reason="PostgreSQL server binaries (Debian's postgresql package) are not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner() -> list[str]:
    """Prefix that runs a server binary as ``postgres`` when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


class PgCluster:
    """One PostgreSQL cluster in ``root/<name>`` listening on 127.0.0.1:``port`` (socket in the same folder)."""

    def __init__(self, root: Path, name: str, port: int | None = None) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.root = root
        self.data = root / name
        self.port = port or free_port()
        self.log = root / f"{name}.log"

    # --- life cycle -------------------------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*_as_owner(), *args], check=check, capture_output=True, text=True, timeout=timeout)

    def init(self, **settings: str | int) -> PgCluster:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")
        self.configure(wal_level="replica", max_wal_senders=5, hot_standby="on", fsync="on",
                       shared_buffers="64MB", **settings)
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def configure(self, **settings: str | int) -> None:
        """Append settings to postgresql.auto.conf (read at the next start or reload)."""
        lines = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write(lines)

    def start(self, timeout: float = 60) -> PgCluster:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                  "-t", str(int(timeout)), "start", timeout=timeout + 10)
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate``; ``immediate`` is a crash as far as the data files know."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster (its children exit on their own)."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def is_running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    # --- use --------------------------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql and return its unaligned output."""
        out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", database, "-c", statement], check=True, capture_output=True, text=True,
                             timeout=60)
        return out.stdout.strip()

    def replica(self, name: str = "replica", port: int | None = None) -> PgCluster:
        """A streaming replica of this (running) cluster: ``pg_basebackup -R`` into a new folder, started."""
        standby = PgCluster(self.root, name, port)
        self._run(str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync", timeout=300)
        return standby.start()

    def wait_replayed(self, primary: PgCluster, timeout: float = 30) -> None:
        """Wait until this replica has replayed everything the primary had written when called."""
        target = primary.sql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            caught_up = self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if caught_up == "t":
                return
            time.sleep(0.05)
        raise TimeoutError(f"replica did not replay {target} in {timeout} s")


@contextmanager
def temporary_root() -> Iterator[Path]:
    """A temporary folder the ``postgres`` user owns (removed afterwards, servers stopped by the caller)."""
    root = Path(tempfile.mkdtemp(prefix="zhili-pg-"))
    _chown(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def cluster(**settings: str | int) -> Iterator[PgCluster]:
    """One running throw-away cluster."""
    with temporary_root() as root:
        primary = PgCluster(root, "primary").init(**settings).start()
        try:
            yield primary
        finally:
            primary.stop("immediate")


@contextmanager
def primary_and_replica(**settings: str | int) -> Iterator[tuple[PgCluster, PgCluster]]:
    """A primary and its streaming replica, both running."""
    with temporary_root() as root:
        primary = PgCluster(root, "primary").init(**settings).start()
        standby = None
        try:
            standby = primary.replica()
            yield primary, standby
        finally:
            if standby is not None:
                standby.stop("immediate")
            primary.stop("immediate")
