"""Backup and restore bring back everything a deployment needs, and a deployment whose key file cannot read its
data refuses to start.

Each test backs up a scratch deployment (SQLite file, or a PostgreSQL schema when ``ZHILI_TEST_DATABASE_URL`` is
set; skipped cleanly without ``pg_dump``/``pg_restore``) holding every kind of encrypted value the services
write, plus an attachment, with the real command line (``zhili backup``), and restores it with ``zhili restore``
into a fresh database and a fresh folder. The checks read the restored database independently (every ciphertext
by its layout, decrypted with the restored key file), not through the backup code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import zhili.models  # (every model, as the CLI loads them)
from testmodules import TESTS, load
from zhili.cases.files import LocalFileStore
from zhili.core import keys
from zhili.core.crypto import FieldCipher
from zhili.core.db import make_engine
from zhili.core.settings import Settings, new_key_material

rotation = load("keyrotation_helpers", TESTS / "core" / "test_key_rotation.py")  # the scratch deployment
deployment = rotation.deployment  # (the fixture)
Deployment = rotation.Deployment
scan, plaintexts = rotation.scan, rotation.plaintexts

PHOTO = b"\x89PNG\r\n\x1a\n" + b"attachment bytes " * 100
PASSPHRASE = "正确的口令 correct horse battery staple"
POSTGRES = (os.environ.get("ZHILI_TEST_DATABASE_URL") or "").startswith("postgresql")


def zhili(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from zhili.cli import app; app()", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@dataclass
class Target:
    """A fresh, empty place to restore into: a database that does not exist yet (or has no tables) and an empty
    var folder."""

    url: str
    connect_args: dict[str, Any]
    var_dir: Path

    def engine(self) -> Engine:
        return make_engine(self.url, connect_args=self.connect_args) if self.connect_args else make_engine(self.url)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ZHILI_KEYS"}
        url = self.url
        if self.connect_args.get("options"):
            url += f"?options={quote(self.connect_args['options'])}"
        env.update(ZHILI_VAR_DIR=str(self.var_dir), ZHILI_DATABASE_URL=url, COLUMNS="200")
        return env

    @property
    def key_file(self) -> Path:
        return self.var_dir / "keys.json"


@pytest.fixture
def source(deployment: Any) -> Any:
    if POSTGRES and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore not installed")
    key = LocalFileStore(deployment.var_dir / "files").put(PHOTO, ext=".png")
    deployment.photo_key = key
    return deployment


@pytest.fixture
def target(tmp_path: Path, source: Any) -> Iterator[Target]:
    var_dir = tmp_path / "restored"
    if not POSTGRES:
        yield Target(f"sqlite:///{var_dir / 'zhili.db'}", {}, var_dir)
        return
    base = make_url(os.environ["ZHILI_TEST_DATABASE_URL"])
    name = f"zr_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        # The restored schema keeps the source schema's name (the dump holds one schema).
        yield Target(base.set(database=name).render_as_string(hide_password=False), source.connect_args, var_dir)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def back_up(source: Any, folder: Path, *, with_keys: bool = True) -> Path:
    args = ["backup", "--to", str(folder)]
    if with_keys:
        pf = folder.parent / "passphrase.txt"
        pf.write_text(PASSPHRASE + "\n", encoding="utf-8")
        args += ["--keys-passphrase-file", str(pf)]
    else:
        args += ["--no-keys"]
    r = zhili(source.cli_env(), *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return folder


def restore(target: Target, folder: Path, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    args = ["restore", "--from", str(folder)]
    if passphrase is not None:
        pf = folder.parent / "restore-passphrase.txt"
        pf.write_text(passphrase, encoding="utf-8")
        args += ["--keys-passphrase-file", str(pf)]
    return zhili(target.env(), *args)


# -- the round trip ---------------------------------------------------------------------------------------------

def test_a_restored_backup_has_the_same_rows_readable_personal_data_attachments_and_audit_chain(
        source: Any, target: Target, tmp_path: Path) -> None:
    before = scan(source.engine)
    plain = plaintexts(source.cipher(), before)
    folder = back_up(source, tmp_path / "backup")

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["keys_included"] and manifest["attachments"] == 1
    assert manifest["counts"]["person"] >= 2 and manifest["counts"]["audit_event"] > 0
    assert "keys.enc" in manifest["files"] and all(len(d) == 64 for d in manifest["files"].values())
    assert b"index_key" not in (folder / "keys.enc").read_bytes()  # the key file never travels in the clear

    started = time.perf_counter()
    r = restore(target, folder)
    seconds = time.perf_counter() - started
    assert r.returncode == 0, r.stdout + r.stderr
    print(f"restore of the small scratch deployment: {seconds:.1f} s")  # the RTO figure quoted in README

    restored = target.engine()
    try:
        after = scan(restored)
        assert after.keys() == before.keys()
        material = json.loads(target.key_file.read_text(encoding="utf-8"))
        assert plaintexts(FieldCipher.from_material(material), after) == plain  # decrypted with restored keys
        assert oct(target.key_file.stat().st_mode & 0o777) == "0o600"
    finally:
        restored.dispose()
    assert LocalFileStore(target.var_dir / "files").get(source.photo_key) == PHOTO
    verified = zhili(target.env(), "audit", "verify")
    assert verified.returncode == 0 and "审计链完整" in verified.stdout, verified.stdout
    checked = zhili(target.env(), "check")
    assert checked.returncode == 0, checked.stdout


def test_a_restore_with_the_wrong_passphrase_is_refused_before_anything_is_written(
        source: Any, target: Target, tmp_path: Path) -> None:
    folder = back_up(source, tmp_path / "backup")
    r = restore(target, folder, passphrase="wrong")
    assert r.returncode == 1 and "口令错误" in r.stdout, r.stdout + r.stderr
    assert not target.key_file.exists() and not (target.var_dir / "files").exists()
    if not POSTGRES:
        assert not (target.var_dir / "zhili.db").exists()


def test_a_changed_backup_file_is_refused(source: Any, target: Target, tmp_path: Path) -> None:
    folder = back_up(source, tmp_path / "backup")
    [photo] = [p for p in (folder / "files").rglob("*") if p.is_file()]
    photo.write_bytes(photo.read_bytes() + b"x")
    r = restore(target, folder)
    assert r.returncode == 1 and "校验和不符" in r.stdout, r.stdout
    assert not target.key_file.exists()


def test_a_restore_into_a_database_that_holds_data_is_refused(source: Any, tmp_path: Path) -> None:
    folder = back_up(source, tmp_path / "backup")
    into_itself = Target(source.url, source.connect_args, tmp_path / "elsewhere")
    r = restore(into_itself, folder)
    assert r.returncode == 1 and "不是空库" in r.stdout, r.stdout


def test_a_backup_must_say_whether_it_takes_the_keys(source: Any, tmp_path: Path) -> None:
    r = zhili(source.cli_env(), "backup", "--to", str(tmp_path / "b"))
    assert r.returncode != 0 and "--no-keys" in r.stdout + r.stderr


# -- the key material against the data --------------------------------------------------------------------------

def test_a_database_only_restore_fails_the_check_naming_the_missing_key_and_creates_no_key_file(
        source: Any, target: Target, tmp_path: Path) -> None:
    folder = back_up(source, tmp_path / "backup", with_keys=False)
    assert not (folder / "keys.enc").exists()
    r = restore(target, folder, passphrase=None)
    assert r.returncode == 1 and "k1" in r.stdout, r.stdout  # restored, but the checks do not pass

    checked = zhili(target.env(), "check")
    assert checked.returncode == 1, checked.stdout
    assert "k1" in checked.stdout and "未创建新密钥文件" in checked.stdout, checked.stdout
    assert not target.key_file.exists()  # the old `zhili check` quietly created one here

    # The server refuses to start on it, too (and creates no key file either).
    server = subprocess.run(
        [sys.executable, "-c", "from fastapi.testclient import TestClient\nfrom zhili.app import create_app\n"
                               "with TestClient(create_app()): pass"],
        env=target.env(), capture_output=True, text=True, timeout=300)
    assert server.returncode != 0 and "KeysMissing" in server.stderr and "k1" in server.stderr, server.stderr
    assert not target.key_file.exists()


def test_the_check_fails_when_the_key_file_lacks_a_key_id_the_data_uses(source: Any) -> None:
    other = new_key_material()
    other["keys"] = {"k7": other["keys"]["k1"]}  # type: ignore[index]
    other["active"] = "k7"
    keys.write_key_file(source.key_file, other)
    checked = zhili(source.cli_env(), "check")
    assert checked.returncode == 1 and "k1" in checked.stdout, checked.stdout

    with pytest.raises(keys.KeysMissing) as refused:
        keys.verify_key_material(source.engine, Settings(keys="", var_dir=source.var_dir, database_url=source.url))
    assert refused.value.details["missing_key_ids"] == ["k1"]


def test_the_key_ids_in_use_are_read_from_every_declared_column(source: Any) -> None:
    with source.engine.connect() as conn:
        in_use = keys.key_ids_in_use(conn)
    assert list(in_use) == ["k1"]
    assert {"person.id_number_enc", "person.phone_enc"} <= set(in_use["k1"])
    settings = Settings(keys="", var_dir=source.var_dir, database_url=source.url)
    assert keys.verify_key_material(source.engine, settings)["active"] == "k1"  # the right key file passes


def test_a_database_not_yet_migrated_passes_the_key_check_and_gets_a_key_file(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        settings = Settings(keys="", var_dir=tmp_path, database_url=str(engine.url))
        assert keys.verify_key_material(engine, settings)["active"] == "k1"
        assert settings.effective_key_file.exists()  # first run: a fresh key file, as before
    finally:
        engine.dispose()
