"""Backup and restore: the database, the attachments and — only when asked, encrypted with a passphrase — the key
file, in one folder with a manifest (versions, migration head, rows per table, sha256 of every file).

* SQLite is copied with the online backup API (``sqlite3.Connection.backup``): a consistent snapshot while the
  server keeps writing. PostgreSQL is dumped with ``pg_dump --format=custom`` (the schema in use, when it is not
  ``public``) and restored with ``pg_restore``.
* The key file is never stored in the clear: ``keys.enc`` is the key material sealed with AES-256-GCM under a key
  derived from the passphrase with scrypt. Without it a restored database is unreadable by design (ciphertext),
  and ``zhili check`` says which key ids are missing.
* A restore goes only into an empty database and empty folders, checks every checksum and the passphrase before
  writing anything, then compares the rows per table with the manifest, checks the key material against the data
  (:func:`zhili.core.keys.verify_key_material`) and verifies the audit chain.

Recovery point: the time since the last backup (schedule ``zhili backup`` accordingly). Recovery time: see README.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Engine, MetaData, func, inspect, select, text
from sqlalchemy.orm import Session

from zhili import __version__
from zhili.core import clock, migrate
from zhili.core.audit import verify_chain
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.keys import verify_key_material, write_key_file
from zhili.core.settings import Settings, load_key_material

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
FILES_DIR = "files"
KEYS_FILE = "keys.enc"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


class BackupRefused(DomainError):
    status = 409
    code = "backup_refused"
    default_message = "无法备份"


class RestoreRefused(DomainError):
    status = 409
    code = "restore_refused"
    default_message = "无法恢复"


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    counts: dict[str, int]
    keys_restored: bool
    problems: list[str] = field(default_factory=list)  # each a Chinese sentence; empty when all checks passed

    @property
    def ok(self) -> bool:
        return not self.problems


# -- helpers ----------------------------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MB blocks (backups' checksums; the partition archives')."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files_root(settings: Settings) -> Path:
    return settings.files_dir or (settings.var_dir / "files")


def _sqlite_path(engine: Engine) -> Path:
    db = engine.url.database
    if not db or db == ":memory:":
        raise BackupRefused("内存数据库无法备份或恢复", code="backup_memory_database")
    return Path(db)


def _counts(engine: Engine) -> dict[str, int]:
    meta = MetaData()
    meta.reflect(bind=engine)
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in sorted(meta.sorted_tables, key=lambda t: t.name)}


def _pg_target(engine: Engine) -> tuple[list[str], dict[str, str], str | None]:
    """libpq connection arguments, environment (password) and the schema in use when it is not ``public``."""
    url = engine.url
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432), "--username", url.username or "",
            "--dbname", url.database or ""]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    with engine.connect() as conn:
        schema = conn.scalar(text("SELECT current_schema()"))
    return args, env, (str(schema) if schema and schema != "public" else None)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupRefused(f"未找到 {name}，请安装 PostgreSQL 客户端", code="pg_tool_missing")
    return path


def _derive(passphrase: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(passphrase)


def seal_keys(material: dict[str, Any], passphrase: bytes) -> dict[str, Any]:
    """The key material sealed with AES-256-GCM under a scrypt-derived key."""
    if not passphrase.strip():
        raise ValidationFailed("密钥备份口令不能为空", code="passphrase_empty")
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_derive(passphrase, salt, SCRYPT)).encrypt(nonce, json.dumps(material).encode(), b"zhili-keys")
    return {"kdf": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode(),
            "cipher": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode()}


def open_keys(box: dict[str, Any], passphrase: bytes) -> dict[str, Any]:
    """The key material from :func:`seal_keys`; a wrong passphrase (or a changed file) is refused."""
    try:
        key = _derive(passphrase, base64.b64decode(box["salt"]), {k: int(box[k]) for k in ("n", "r", "p")})
        plain = AESGCM(key).decrypt(base64.b64decode(box["nonce"]), base64.b64decode(box["ciphertext"]),
                                    b"zhili-keys")
    except (InvalidTag, KeyError, ValueError) as exc:
        raise RestoreRefused("密钥备份口令错误或密钥备份已损坏，未做任何恢复", code="wrong_passphrase") from exc
    return dict(json.loads(plain))


# -- backup -----------------------------------------------------------------------------------------------------

def backup(engine: Engine, settings: Settings, dest: Path, *, passphrase: bytes | None,
           progress: Progress | None = None) -> dict[str, Any]:
    """Back up into ``dest`` (absent or empty); the key file only when ``passphrase`` is given. Returns the
    manifest (also written to ``dest/manifest.json``)."""
    step = progress or (lambda stage, done, total: None)
    if dest.exists() and any(dest.iterdir()):
        raise BackupRefused(f"备份目录 {dest} 不是空目录", code="backup_folder_not_empty")
    dest.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        head = migrate.current_revision(conn)
    dialect = engine.dialect.name
    step("数据库", 0, 1)
    if dialect == "sqlite":
        _sqlite_copy(_sqlite_path(engine), dest / SQLITE_FILE, step)
    elif dialect == "postgresql":
        args, env, schema = _pg_target(engine)
        cmd = [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dest / PG_FILE), *args]
        if schema:
            cmd += ["--schema", schema]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise BackupRefused(f"pg_dump 失败：{r.stderr.strip()}", code="pg_dump_failed")
    else:
        raise BackupRefused(f"不支持的数据库 {dialect}", code="backup_dialect")
    step("数据库", 1, 1)
    counts = _counts(engine)  # (SQLite: read after the snapshot; rows written meanwhile make counts differ)
    if dialect == "sqlite":
        counts = _counts_sqlite_file(dest / SQLITE_FILE)
    root = _files_root(settings)
    attachments = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp")) \
        if root.exists() else []
    for n, path in enumerate(attachments, 1):
        target = dest / FILES_DIR / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        step("附件", n, len(attachments))
    if passphrase is not None:
        (dest / KEYS_FILE).write_text(json.dumps(seal_keys(load_key_material(settings), passphrase)),
                                      encoding="utf-8")
        step("密钥", 1, 1)
    files = sorted(p for p in dest.rglob("*") if p.is_file() and p.name != MANIFEST)
    checksums = {}
    for n, path in enumerate(files, 1):
        checksums[path.relative_to(dest).as_posix()] = file_sha256(path)
        step("校验和", n, len(files))
    manifest = {
        "format": FORMAT, "zhili_version": __version__, "created_at": clock.utcnow().isoformat(),
        "dialect": dialect, "migration_head": head, "schema": _pg_target(engine)[2] if dialect == "postgresql"
        else None, "counts": counts, "attachments": len(attachments), "keys_included": passphrase is not None,
        "files": checksums,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def _counts_sqlite_file(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        conn.close()


# -- restore ----------------------------------------------------------------------------------------------------

def _database_is_empty(engine: Engine) -> bool:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return not conn.scalar(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"))
    path = _sqlite_path(engine)
    if not path.exists():
        return True
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def restore(engine: Engine, settings: Settings, src: Path, *, passphrase: bytes | None,
            progress: Progress | None = None) -> RestoreReport:
    """Restore the backup in ``src`` into an empty database and empty folders, then check it (see module doc)."""
    step = progress or (lambda stage, done, total: None)
    try:
        manifest = dict(json.loads((src / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"{src} 中没有可读的备份清单 {MANIFEST}", code="manifest_missing") from exc
    if manifest.get("format") != FORMAT:
        raise RestoreRefused(f"不支持的备份格式 {manifest.get('format')}", code="backup_format")
    if manifest["dialect"] != engine.dialect.name:
        raise RestoreRefused(f"备份来自 {manifest['dialect']}，不能恢复到 {engine.dialect.name}",
                             code="restore_dialect")
    # Everything that can refuse is checked before anything is written.
    files: dict[str, str] = manifest["files"]
    for n, (rel, digest) in enumerate(sorted(files.items()), 1):
        path = src / rel
        if not path.is_file() or file_sha256(path) != digest:
            raise RestoreRefused(f"备份文件 {rel} 缺失或校验和不符，未做任何恢复", code="checksum_mismatch",
                                 details={"file": rel})
        step("校验和", n, len(files))
    material = None
    if passphrase is not None:
        if KEYS_FILE not in files:
            raise RestoreRefused("该备份不含密钥（备份时使用了 --no-keys）", code="backup_has_no_keys")
        material = open_keys(json.loads((src / KEYS_FILE).read_text(encoding="utf-8")), passphrase)
        if settings.keys:
            raise RestoreRefused("密钥来自环境变量 ZHILI_KEYS，不能写入密钥文件", code="keys_from_env")
        if settings.effective_key_file.exists():
            raise RestoreRefused(f"密钥文件 {settings.effective_key_file} 已存在，只能恢复到全新的环境",
                                 code="key_file_exists")
    root = _files_root(settings)
    if root.exists() and any(root.iterdir()):
        raise RestoreRefused(f"附件目录 {root} 不是空目录", code="files_folder_not_empty")
    if not _database_is_empty(engine):
        raise RestoreRefused("目标数据库不是空库，只能恢复到空数据库", code="database_not_empty")

    step("数据库", 0, 1)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        target = _sqlite_path(engine)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(src / SQLITE_FILE, target, step)
    else:
        args, env, _ = _pg_target(engine)
        r = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", *args, str(src / PG_FILE)],
                           env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RestoreRefused(f"pg_restore 失败：{r.stderr.strip()}", code="pg_restore_failed")
        engine.dispose()
    step("数据库", 1, 1)
    attachments = sorted(rel for rel in files if rel.startswith(FILES_DIR + "/"))
    for n, rel in enumerate(attachments, 1):
        target = root / rel.removeprefix(FILES_DIR + "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
        step("附件", n, len(attachments))
    if material is not None:
        write_key_file(settings.effective_key_file, material)
        from zhili.core.crypto import reset_cipher_cache

        reset_cipher_cache()

    counts = _counts(engine)
    problems = [f"表 {t} 有 {counts.get(t)} 行，备份清单为 {n} 行"
                for t, n in manifest["counts"].items() if counts.get(t) != n]
    with engine.connect() as conn:
        head = migrate.current_revision(conn)
    if head != manifest["migration_head"]:
        problems.append(f"迁移版本 {head} 与备份清单 {manifest['migration_head']} 不符")
    try:
        verify_key_material(engine, settings)
    except DomainError as exc:
        problems.append(exc.message)
    with Session(engine) as session:
        chain = verify_chain(session)
    if not chain.ok:
        problems.append(f"审计链校验失败：{'；'.join(chain.problems[:5])}")
    return RestoreReport(manifest=manifest, counts=counts, keys_restored=material is not None, problems=problems)


def _sqlite_copy(source: Path, target: Path, step: Any) -> None:
    """One SQLite database into another through the online backup API (consistent while others write)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=1024, progress=lambda status, remaining, total: step(
                "数据库", total - remaining, total))
    finally:
        dst.close()
        src.close()
