"""Key rotation: add a data-encryption key, re-encrypt every stored ciphertext with it, then make it active.

Which columns hold ciphertext is declared by the models (``info=encrypted(table, column)``, see
:mod:`zhili.core.crypto`); this module reads the declarations from the metadata and imports no domain. The caller
(the CLI) imports every model first (``import zhili.models``); rotation refuses to start when the database has a
table the metadata does not know, or the metadata has a binary column that is neither declared encrypted nor
declared plain.

Rotation is all-or-nothing and resumable:

1. the new key is written to the key file as ``pending`` (next to the active one, so every process that reads the
   file can decrypt both);
2. every declared column is re-encrypted in batches, each batch its own committed transaction; values already
   under the new key are skipped and a value changed meanwhile is left alone (compare-and-set), so a re-run after
   a crash continues where it stopped; passes repeat until one finds nothing left under another key;
3. only then is the new key made ``active`` and the previous keys listed as ``retired`` (kept, so a ciphertext
   written by a process still running with the old key stays readable).

The key file is always replaced atomically (a temporary file in the same folder, mode 0600, then a rename). A
crash at any point leaves every stored value readable with the key file on disk; running rotation again finishes
the job (it resumes a pending key instead of adding another).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    bindparam,
    func,
    inspect,
    literal,
    select,
    update,
)

from zhili.core.crypto import (
    ENCRYPTED,
    MAGIC,
    NOT_ENCRYPTED,
    DecryptionFailed,
    EncryptedField,
    FieldCipher,
    reset_cipher_cache,
)
from zhili.core.db import Base, write_guard
from zhili.core.errors import Conflict, DomainError, ValidationFailed
from zhili.core.partitions import partition_tables
from zhili.core.settings import Settings, load_key_material

IGNORED_TABLES = frozenset({"alembic_version"})
MAX_PASSES = 3

Transactions = Callable[[], AbstractContextManager[Connection]]
"""Opens one committed unit of work (a batch): a context manager yielding a connection."""

Progress = Callable[[str, int, int], None]
"""Called as ``progress(column label, values done, values under another key when the pass reached the column)``
before a column's first batch and after each batch."""


class RotationIncomplete(DomainError):
    status = 409
    code = "rotation_incomplete"
    default_message = "仍有数据使用旧密钥（可能有程序仍在写入），新密钥保持待启用状态；请停止写入后重新执行"


@dataclass(frozen=True)
class CipherColumn:
    """A column declared to hold ciphertext, with its table's primary key and what its values are bound to."""

    table: Table
    column: Column[Any]
    field: EncryptedField

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def primary_key(self) -> Column[Any]:
        [pk] = self.table.primary_key.columns  # the row id the ciphertexts are bound to
        return pk


@dataclass(frozen=True)
class RotationReport:
    key_id: str  # the key now active
    resumed: bool  # an earlier, interrupted rotation to this key was finished
    changed: int  # values re-encrypted by this run
    retired: list[str]  # keys kept only to read what may still use them


# -- the declarations -------------------------------------------------------------------------------------------

def encrypted_columns(metadata: MetaData | None = None) -> list[CipherColumn]:
    """Every column the models declare as ciphertext (``info=encrypted(…)``), in table and column order."""
    metadata = metadata if metadata is not None else Base.metadata
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            declared = column.info.get(ENCRYPTED)
            if declared is not None:
                if len(table.primary_key.columns) != 1:
                    raise ValueError(f"{table.name}.{column.name}: ciphertext needs a single-column primary key")
                found.append(CipherColumn(table, column, declared))
    return found


def undeclared_columns(metadata: MetaData | None = None) -> list[str]:
    """Columns that may hold ciphertext but say nothing about it: a binary column, or one named ``*_enc``, that
    is neither declared ``encrypted(…)`` nor ``NOT_ENCRYPTED`` (rotation would miss them)."""
    metadata = metadata if metadata is not None else Base.metadata
    return [f"{table.name}.{column.name}"
            for table in metadata.sorted_tables for column in table.columns
            if (isinstance(column.type, LargeBinary) or column.name.endswith("_enc"))
            and ENCRYPTED not in column.info and NOT_ENCRYPTED not in column.info]


def check_declarations(conn: Connection, metadata: MetaData | None = None) -> list[CipherColumn]:
    """The declared ciphertext columns, after checking the metadata covers the database and declares every
    binary column; refuses (before anything changes) when it cannot be sure to find every ciphertext."""
    metadata = metadata if metadata is not None else Base.metadata
    # monthly partitions (PostgreSQL, core.partitions) hold their parent's columns and are rewritten through it
    unknown = sorted(set(inspect(conn).get_table_names()) - IGNORED_TABLES - set(metadata.tables)
                     - partition_tables(conn))
    if unknown:
        raise ValidationFailed("数据库中有未加载模型的表，无法确认全部加密字段，已停止（未改动密钥文件）",
                               code="models_not_loaded", details={"tables": unknown})
    undeclared = undeclared_columns(metadata)
    if undeclared:
        raise ValidationFailed("有二进制字段未声明是否加密，无法确认全部加密字段，已停止（未改动密钥文件）",
                               code="encrypted_column_undeclared", details={"columns": undeclared})
    return encrypted_columns(metadata)


# -- re-encryption ----------------------------------------------------------------------------------------------

def _update_statement(col: CipherColumn) -> Any:
    """Compare-and-set of one value; ``onupdate`` columns keep their value (the plaintext did not change)."""
    keep = {c.name: c for c in col.table.columns if c.onupdate is not None and c is not col.column}
    return (update(col.table)
            .where(col.primary_key == bindparam("b_pk"), col.column == bindparam("b_old"))
            .values({col.column.name: bindparam("b_new"), **keep}))


@dataclass(frozen=True)
class Pass:
    found: int  # values found under another key than the active one
    changed: int  # of those, values rewritten (the others were changed meanwhile by someone else)


def reencrypt(transactions: Transactions, cipher: FieldCipher, columns: list[CipherColumn], *, batch: int = 1000,
              progress: Progress | None = None) -> Pass:
    """One pass: re-encrypt every value in ``columns`` not made with ``cipher``'s active key, one committed
    transaction per batch of rows (in primary-key order)."""
    found = changed = 0
    for col in columns:
        pk, target = col.primary_key, col.column
        stmt = _update_statement(col)
        # Only values under another key travel to Python (the key id sits at a fixed place of the ciphertext).
        prefix = MAGIC + bytes([len(cipher.active_key_id.encode())]) + cipher.active_key_id.encode()
        stale = func.substr(target, 1, len(prefix), type_=LargeBinary) != literal(prefix, LargeBinary)
        total = 0
        if progress is not None:
            with transactions() as conn:
                total = int(conn.scalar(select(func.count()).select_from(col.table)
                                        .where(target.is_not(None), stale)) or 0)
            progress(col.label, 0, total)
        last: Any = None
        done = 0
        while True:
            with transactions() as conn:
                query = select(pk, target).where(target.is_not(None), stale).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = conn.execute(query).all()
                if not rows:
                    break
                updates = []
                for row_id, value in rows:
                    blob = bytes(value)
                    if FieldCipher.key_id_of(blob) == cipher.active_key_id:
                        continue  # (the filter above already leaves these out)
                    try:
                        plain = cipher.decrypt(blob, table=col.field.table, column=col.field.column, row_id=row_id)
                    except DecryptionFailed as exc:  # say where, so an operator can look at the value
                        raise DecryptionFailed(details={**(exc.details or {}), "column": col.label,
                                                        "row_id": str(row_id)}) from exc
                    updates.append({"b_pk": row_id, "b_old": blob, "b_new": cipher.encrypt(
                        plain, table=col.field.table, column=col.field.column, row_id=row_id)})
                if updates:
                    found += len(updates)
                    result = conn.execute(stmt, updates)
                    sane = conn.dialect.supports_sane_multi_rowcount and result.rowcount >= 0
                    changed += result.rowcount if sane else len(updates)
                last, done = rows[-1][0], done + len(rows)
            if progress is not None:
                progress(col.label, done, max(total, done))
    return Pass(found=found, changed=changed)


def engine_transactions(engine: Engine) -> Transactions:
    """Batches as committed transactions on ``engine`` (queued behind other writers on SQLite)."""

    @contextmanager
    def open_batch() -> Iterator[Connection]:
        with write_guard(engine), engine.begin() as conn:
            yield conn

    return open_batch


# -- the key file -----------------------------------------------------------------------------------------------

def write_key_file(path: Path, material: dict[str, Any]) -> None:
    """Replace the key file atomically: the whole new content in a temporary file (mode 0600) in the same folder,
    flushed to disk, then renamed over the old one; a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(material, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _file_material(settings: Settings) -> dict[str, Any]:
    if settings.keys:
        raise ValidationFailed("密钥来自环境变量 ZHILI_KEYS，请在密钥管理系统中轮换", code="keys_from_env")
    return load_key_material(settings)


def begin_rotation(settings: Settings) -> tuple[dict[str, Any], str, bool]:
    """The key material with a pending key: the one an interrupted rotation left (resumed), or a fresh one
    written to the key file as ``pending`` before any data changes. Returns (material, key id, resumed)."""
    material = _file_material(settings)
    keys: dict[str, str] = {str(k): str(v) for k, v in dict(material["keys"]).items()}
    pending = material.get("pending")
    if pending:
        if pending not in keys:
            raise Conflict(f"密钥文件中待启用的密钥 {pending} 不存在", code="pending_key_missing")
        return material, str(pending), True
    kid = f"k{max((int(k[1:]) for k in keys if k[1:].isdigit()), default=0) + 1}"
    keys[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    material = {**material, "keys": keys, "pending": kid}
    write_key_file(settings.effective_key_file, material)
    reset_cipher_cache()
    return material, kid, False


def finish_rotation(settings: Settings, kid: str) -> list[str]:
    """Make the pending key ``kid`` active and retire the others (kept for reading); returns the retired ids."""
    material = _file_material(settings)
    if material.get("pending") != kid:
        raise Conflict(f"密钥 {kid} 不是待启用的密钥", code="pending_key_changed")
    retired = sorted(str(k) for k in dict(material["keys"]) if k != kid)
    material = {k: v for k, v in material.items() if k != "pending"}
    material.update(active=kid, retired=retired)
    write_key_file(settings.effective_key_file, material)
    reset_cipher_cache()
    return retired


def _relabelled(progress: Progress, suffix: str) -> Progress:
    return lambda label, done, total: progress(label + suffix, done, total)


def rotate(engine: Engine, settings: Settings, *, metadata: MetaData | None = None, batch: int = 1000,
           progress: Progress | None = None) -> RotationReport:
    """Rotate the data-encryption key (see the module docstring); resumes an interrupted rotation."""
    _file_material(settings)  # refuse environment-provided keys before anything else
    with engine.connect() as conn:
        columns = check_declarations(conn, metadata)
    material, kid, resumed = begin_rotation(settings)
    cipher = FieldCipher.from_material({**material, "active": kid}, settings.crypto_suite)
    transactions = engine_transactions(engine)
    changed = 0
    for n in range(MAX_PASSES):
        shown = progress if progress is None or n == 0 else _relabelled(progress, "（核对）")
        done = reencrypt(transactions, cipher, columns, batch=batch, progress=shown)
        changed += done.changed
        if done.found == 0:  # a whole pass found nothing under another key
            break
    else:
        raise RotationIncomplete(details={"key_id": kid})
    retired = finish_rotation(settings, kid)
    return RotationReport(key_id=kid, resumed=resumed, changed=changed, retired=retired)


# -- the key material against the data ------------------------------------------------------------------------

class KeysMissing(DomainError):
    status = 500
    code = "keys_missing"
    default_message = "数据库中的加密数据所用的密钥不在密钥材料中，请恢复原密钥文件后再启动"


def _present(conn: Connection, metadata: MetaData | None) -> list[CipherColumn]:
    """The declared ciphertext columns whose table exists (a database not yet migrated has none)."""
    tables = set(inspect(conn).get_table_names())
    return [col for col in encrypted_columns(metadata) if col.table.name in tables]


def key_ids_in_use(conn: Connection, metadata: MetaData | None = None) -> dict[str, list[str]]:
    """Every key id found in a stored ciphertext, with the columns (``table.column``) that hold it. Only the
    key id bytes travel (``b"Z1"`` ‖ length ‖ key id ‖ …): one query per column and key id length."""
    found: dict[str, set[str]] = {}
    for col in _present(conn, metadata):
        target = col.column
        lengths = conn.execute(select(func.substr(target, 3, 1, type_=LargeBinary)).distinct()
                               .where(target.is_not(None))).scalars().all()
        for raw in lengths:
            if not raw:
                continue
            n = bytes(raw)[0]
            kids = conn.execute(select(func.substr(target, 4, n, type_=LargeBinary)).distinct().where(
                target.is_not(None),
                func.substr(target, 1, 3, type_=LargeBinary) == literal(MAGIC + bytes([n]), LargeBinary),
            )).scalars().all()
            for kid in kids:
                found.setdefault(bytes(kid).decode(errors="replace"), set()).add(col.label)
    return {kid: sorted(cols) for kid, cols in sorted(found.items())}


def holds_ciphertext(conn: Connection, metadata: MetaData | None = None) -> bool:
    """Whether any declared column holds a value (every value there is a ciphertext)."""
    for col in _present(conn, metadata):
        if conn.execute(select(col.column).where(col.column.is_not(None)).limit(1)).first() is not None:
            return True
    return False


def verify_key_material(engine: Engine, settings: Settings, metadata: MetaData | None = None) -> dict[str, Any]:
    """The key material, after checking it can read the data: refuses (``keys_missing``, naming the key ids)
    when a stored ciphertext names a key id the material lacks, and never creates a key file for a database that
    already holds ciphertext (a new key could read none of it). Run by ``zhili check`` and at server start. It only
    reads: on SQLite its transaction is deferred, so it never waits for (or blocks) a writer."""
    with engine.connect().execution_options(zhili_write=False) as conn:
        if not settings.keys and not settings.effective_key_file.exists() and holds_ciphertext(conn, metadata):
            in_use = key_ids_in_use(conn, metadata)
            raise KeysMissing(f"密钥文件 {settings.effective_key_file} 不存在，而数据库已有加密数据（密钥 "
                              f"{'、'.join(in_use)}）；已停止且未创建新密钥文件，请恢复原密钥文件",
                              details={"missing_key_ids": list(in_use), "columns": in_use})
        material = load_key_material(settings)
        in_use = key_ids_in_use(conn, metadata)
    known = {str(k) for k in dict(material.get("keys") or {})}  # type: ignore[call-overload]
    missing = {kid: cols for kid, cols in in_use.items() if kid not in known}
    if missing:
        raise KeysMissing(f"数据库中的加密数据使用了密钥材料中没有的密钥：{'、'.join(missing)}；"
                          "请恢复包含这些密钥的密钥文件",
                          details={"missing_key_ids": list(missing), "columns": missing})
    return material
