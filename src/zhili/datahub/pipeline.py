"""The import pipeline (导入流水线): stream rows → map → validate → compare → write or quarantine, in batches.

:func:`run_import` is a *job*, not a request service: it owns its session and **commits once per batch**. Each
commit holds the batch's source records, target rows (written by the target's handler), quarantined rows and the
import's counts and checkpoint, all in one transaction — so an import killed at any moment has either committed a
batch whole or not at all, and running the same file of the same source again resumes after the checkpoint (a
``running`` import of the same source and file hash is picked up, never a second one started): nothing is lost,
nothing duplicated. One request-sized transaction for a million rows would hold the database's write lock for
minutes and lose everything on a kill; that is why the pipeline commits itself. ``guard`` (the SQLite cross-process
write lock, :func:`zhili.core.db.write_guard`) is entered around each batch only, so the web server keeps writing
between batches.

Per row: the template maps the raw cells (:class:`~zhili.datahub.rows.RowMapper`), the rules validate and resolve
references (:class:`~zhili.datahub.rules.Validator`), the natural key is checked against the keys already
accepted from this file (a repeat is quarantined ``duplicate_in_file``), and the row hash is compared with the
stored :class:`~zhili.datahub.models.SourceRecord` (one ``IN`` query per batch): unchanged rows are only counted,
new and updated ones go to the target's handler (:mod:`zhili.datahub.handlers`) in one call per batch. A row that
fails any rule — or that its handler refuses — goes to quarantine with every failed rule; quarantined rows never
fail an import. Re-importing a fixed file marks the open quarantine rows of the same natural keys ``fixed``.

``Import.stats`` (read by the quality report) has the shape::

    {"fields": {field: rows where it is filled}, "rules": {rule code: failed rows}, "valid": rows that passed,
     "checked": rows checked}

counted over the rows this import read (cumulative across a resume: it is saved with every batch).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from zhili.core import audit
from zhili.core.bulk import insert_objects
from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.db import utcnow
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope
from zhili.core.security import Perm
from zhili.datahub.connectors_base import MARKER_KEYS, marker_errors
from zhili.datahub.models import (
    Connector,
    Import,
    ImportStatus,
    QuarantineRow,
    QuarantineStatus,
    Source,
    SourceRecord,
    Target,
)
from zhili.datahub.records import key_index, row_hash, seal_raw, set_record_values
from zhili.datahub.rows import BatchHandler, Outcome, RawRow, RowError, RowMapper, RowStream, StagedRow
from zhili.datahub.rules import Validator

log = logging.getLogger(__name__)

Progress = Callable[[Import, tuple[int, int | None]], None]
STRONG_KEY = {Target.persons: "id_number", Target.organisations: "credit_code", Target.buildings: "code"}


class ReadFailed(Exception):
    """The file (or pull) itself cannot be read: the import fails."""


@dataclass
class ImportContext:
    """What a handler may use: the job's session, the importing principal, the source, the import row, the
    run's validator (its caches) and the field cipher."""

    session: Session
    principal: Principal
    source: Source
    imp: Import
    validator: Validator
    cipher: FieldCipher
    cache: dict[str, Any] = field(default_factory=dict)  # handlers' own per-run caches

    @property
    def import_row(self) -> Import:
        return self.imp


@dataclass
class _Row:
    row_number: int
    raw: RawRow
    key: str | None
    values: dict[str, Any]
    path: str
    errors: list[RowError]
    record_date: dt.date | None = None


def _resolver_for(session: Session) -> Callable[[dt.date], Any]:
    """The address resolver factory of an import: ONE resolver on today's region tree and registers, built on the
    first address (loading the lookup tables takes ~0.5–2 s on a district, so not once per record date: a
    hotline archive spans thousands of days). Records dated before a redraw are placed where the address lies
    now; the reference rules (codes) still check the tree as of the record's date."""
    from zhili.datahub.address import Resolver

    shared: list[Resolver] = []

    def factory(as_of: dt.date) -> Resolver:
        if not shared:
            shared.append(Resolver(session))
        return shared[0]

    return factory


def _read(stream: RowStream) -> Iterator[tuple[int, RawRow]]:
    """The stream's rows; a failure to read becomes :class:`ReadFailed` (a killed job's own exceptions do not)."""
    it = iter(stream)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except (OSError, UnicodeError, ValueError, LookupError) as exc:
            raise ReadFailed(getattr(exc, "message", None) or f"文件无法读取：{type(exc).__name__}") from exc
        except Exception as exc:  # connectors raise domain errors with Chinese messages
            if hasattr(exc, "message") and hasattr(exc, "code"):
                raise ReadFailed(str(exc.message)) from exc
            raise
        yield item


def find_resumable(session: Session, source: Source, file_hash: str | None, dry_run: bool) -> Import | None:
    if not file_hash or dry_run:
        return None
    return session.scalar(select(Import).where(
        Import.source_id == source.id, Import.file_hash == file_hash, Import.status == ImportStatus.running,
        Import.dry_run.is_(False)).order_by(Import.started_at.desc()).limit(1))


def _fail(session: Session, imp: Import, message: str, principal: Principal, source: Source) -> Import:
    imp.status, imp.error = ImportStatus.failed, message
    imp.finished_at = utcnow()
    imp.duration_ms = int((imp.finished_at - imp.started_at).total_seconds() * 1000)
    if not imp.dry_run:
        audit.record(session, actor=principal.actor, action="hub.import", object_type="hub_import", object_id=imp.id,
                     after=_audit_view(imp, source))
    session.commit()
    return imp


def _audit_view(imp: Import, source: Source) -> dict[str, Any]:
    return {"source": source.name, "file": imp.filename, "hash": imp.file_hash, "status": imp.status.value,
            "dry_run": imp.dry_run, "read": imp.rows_read, "imported": imp.rows_imported,
            "updated": imp.rows_updated, "unchanged": imp.rows_unchanged, "quarantined": imp.rows_quarantined}


def missing_columns(stream: RowStream, mapper: RowMapper) -> list[str]:
    """The source columns the template expects that the file lacks (a template declares them as
    ``source_columns``; headers compare as :func:`zhili.datahub.mapping.header_key` reads them)."""
    spec = getattr(mapper, "spec", None)
    if spec is not None:
        from zhili.datahub.mapping import missing_columns as template_missing

        return template_missing(spec, list(stream.columns))
    wanted = getattr(mapper, "source_columns", None) or getattr(mapper, "columns", None) or []
    have = {str(c).strip() for c in stream.columns}
    return [c for c in wanted if str(c).strip() not in have]


def optional_fields(mapper: RowMapper) -> set[str]:
    """The standard fields a template declares not required (``required: false``): the rules leave them
    optional too (a health system's persons often have no ID number; they still resolve by name and birth date)."""
    spec = getattr(mapper, "spec", None)
    return {fm.field for fm in getattr(spec, "fields", ()) if getattr(fm, "required", None) is False}


def new_import(source: Source, *, user_id: uuid.UUID | None, username: str, import_id: uuid.UUID | None,
               template_id: uuid.UUID | None, filename: str, file_hash: str | None, file_size: int | None,
               connector: Connector | str, encoding: str | None, dry_run: bool) -> Import:
    """A new import row of ``source`` by the user ``username``: running, nothing read yet (not added to a session;
    the caller has checked the permission)."""
    return Import(id=import_id or new_id(), source_id=source.id, template_id=template_id, path=source.path,
                  user_id=user_id, username=username, connector=Connector(connector),
                  filename=filename[:255], file_hash=file_hash, file_size=file_size, encoding=encoding,
                  dry_run=dry_run, status=ImportStatus.running, checkpoint=0, started_at=utcnow(), stats={})


def run_import(
    session: Session, *, principal: Principal, source: Source, stream: RowStream, mapper: RowMapper,
    filename: str, file_hash: str | None = None, file_size: int | None = None,
    connector: Connector | str = Connector.csv, template_id: uuid.UUID | None = None, dry_run: bool = False,
    progress: Progress | None = None, batch_size: int = 1000, handler: BatchHandler | None = None,
    resolver: Callable[[dt.date], Any] | bool | None = True,
    guard: Callable[[], AbstractContextManager[Any]] | None = None, import_id: uuid.UUID | None = None,
) -> Import:
    """Import one file (or pull) of ``source`` through ``mapper``; returns the import row (done or failed).

    Commits ``session`` once per batch (see the module docstring). ``handler`` defaults to the target's registered
    handler; ``resolver`` to the installed address resolver (``False``: none). Raises ``Forbidden`` without
    ``hub:import`` and ``NotFound`` for a source outside the caller's jurisdiction, before writing anything."""
    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    ensure_in_scope(principal, source.path, "数据源")
    guard = guard or contextlib.nullcontext
    target = Target(source.target)
    imp = find_resumable(session, source, file_hash, dry_run)
    if imp is None and import_id is not None:  # queued by the request that started this (background) import
        imp = session.get(Import, import_id)
        if imp is not None and imp.status != ImportStatus.running:
            return imp
    resumed = imp is not None
    if imp is not None and imp.encoding is None:
        imp.encoding = stream.encoding
    if imp is None:
        imp = new_import(source, user_id=principal.user_id, username=principal.username, import_id=import_id,
                         template_id=template_id, filename=filename, file_hash=file_hash, file_size=file_size,
                         connector=connector, encoding=stream.encoding, dry_run=dry_run)
        session.add(imp)
        if not dry_run:
            with guard():
                session.commit()
    if str(mapper.target) != target.value:
        return _fail(session, imp, "映射模板的标准模型与数据源不一致", principal, source)
    missing = missing_columns(stream, mapper)
    if missing:
        return _fail(session, imp, "文件缺少映射模板需要的列：" + "、".join(missing[:10]), principal, source)
    bind = getattr(mapper, "bind", None)
    if bind is not None:  # headers such as 姓名* read as the template's 姓名
        mapper = bind(list(stream.columns))
    skips = getattr(mapper, "skips", None)
    if handler is None and not dry_run:
        from zhili.datahub.handlers import handler_for

        try:
            handler = handler_for(target)
        except LookupError as exc:
            return _fail(session, imp, str(exc), principal, source)
    factory = _resolver_for(session) if resolver is True else (resolver or None)
    run = _Run(session=session, principal=principal, source=source, imp=imp, mapper=mapper, handler=handler,
               validator=Validator(session, principal=principal, target=target, default_path=source.path,
                                   resolver=factory, optional=optional_fields(mapper)), dry_run=dry_run,
               guard=guard, target=target)
    if resumed:
        run.load_seen()
    t0 = time.perf_counter()
    try:
        batch: list[tuple[int, RawRow]] = []
        for row_number, raw in _read(stream):
            if row_number <= imp.checkpoint:
                continue
            if skips is not None and skips(raw):  # a row the template leaves out (the Excel template's example)
                run.skipped += 1
                continue
            batch.append((row_number, raw))
            if len(batch) >= batch_size:
                imp.cursor = getattr(stream, "cursor", None) or imp.cursor  # REST: where this batch ends
                run.batch(batch)
                batch = []
                if progress is not None:
                    progress(imp, stream.progress)
        if batch:
            run.batch(batch)
    except ReadFailed as exc:
        session.rollback()
        return _fail(session, session.get(Import, imp.id) or imp, str(exc), principal, source)
    imp.status = ImportStatus.done
    imp.finished_at = utcnow()
    imp.duration_ms = int((imp.finished_at - imp.started_at).total_seconds() * 1000)
    imp.stats = run.stats()
    if progress is not None:
        progress(imp, stream.progress)
    with guard():
        if not dry_run:  # a dry run writes nothing but its import row
            audit.record(session, actor=principal.actor, action="hub.import", object_type="hub_import",
                         object_id=imp.id, after=_audit_view(imp, source) | {"resumed": resumed})
        session.commit()
    log.info("hub import %s: %d rows in %.1fs", imp.id, imp.rows_read, time.perf_counter() - t0)
    return imp


def rerun_rows(session: Session, *, principal: Principal, source: Source, imp: Import, mapper: RowMapper,
               items: list[tuple[int, RawRow]], handler: BatchHandler | None = None,
               resolver: Callable[[dt.date], Any] | bool | None = True) -> dict[int, list[RowError]]:
    """Run quarantined rows of ``imp`` (row number → cells) through the template, rules and handler again, in the
    caller's transaction (flushed, not committed; the import's counts are history and stay as they were).
    Returns the failed rules of each row number that still fails; every other row was imported."""
    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    target = Target(source.target)
    if str(mapper.target) != target.value:
        raise ValueError("template target mismatch")
    if handler is None:
        from zhili.datahub.handlers import handler_for

        handler = handler_for(target)
    factory = _resolver_for(session) if resolver is True else (resolver or None)
    run = _Run(session=session, principal=principal, source=source, imp=imp, mapper=mapper, handler=handler,
               validator=Validator(session, principal=principal, target=target, default_path=source.path,
                                   resolver=factory, optional=optional_fields(mapper)), dry_run=False,
               guard=contextlib.nullcontext, target=target, rerun=True)
    return {r.row_number: r.errors for r in run.batch(items)}


@dataclass
class _Run:
    session: Session
    principal: Principal
    source: Source
    imp: Import
    mapper: RowMapper
    handler: BatchHandler | None
    validator: Validator
    dry_run: bool
    guard: Callable[[], AbstractContextManager[Any]]
    target: Target
    rerun: bool = False  # re-running quarantined rows inside a request: no counts, no commit, no new rows
    seen: set[str] = field(default_factory=set)
    filled: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    valid: int = 0
    checked: int = 0
    skipped: int = 0  # rows the template leaves out (``skip_if``): neither imported nor quarantined

    def __post_init__(self) -> None:
        self.cipher = get_cipher()
        self.ctx = ImportContext(self.session, self.principal, self.source, self.imp, self.validator, self.cipher)
        old = self.imp.stats or {}
        self.filled.update(old.get("fields") or {})
        self.failed.update(old.get("rules") or {})
        self.valid, self.checked = int(old.get("valid") or 0), int(old.get("checked") or 0)
        self.skipped = int(old.get("skipped") or 0)

    def stats(self) -> dict[str, Any]:
        return {"fields": dict(self.filled), "rules": dict(self.failed), "valid": self.valid, "checked": self.checked,
                "skipped": self.skipped}

    def load_seen(self) -> None:
        """On resume: the keys this import already accepted before its checkpoint."""
        self.seen = set(self.session.scalars(select(SourceRecord.natural_key).where(
            SourceRecord.source_id == self.source.id, SourceRecord.last_import_id == self.imp.id)))

    # -- one row ------------------------------------------------------------------------------------------------

    def prepare(self, row_number: int, raw: RawRow) -> _Row:
        # a connector marks a row it could not read whole (cells beyond the header, a line that is not JSON):
        # the row is quarantined with that reason, and the marker never reaches the mapping
        marked = marker_errors(raw)
        if marked:
            raw = {k: v for k, v in raw.items() if k not in MARKER_KEYS}
        mapped = self.mapper.map(raw)
        checked = self.validator.check(mapped.values)
        errors = marked + list(mapped.errors)
        bad_fields = {e.field for e in errors if e.field}
        errors.extend(e for e in checked.errors if not (e.field and e.field in bad_fields and e.rule == "required"))
        key = (mapped.natural_key or "").strip()[:128] or None
        if key is None:
            errors.append(RowError(None, "natural_key", "该行没有记录键（来源编号或主键字段为空）"))
        elif not errors:
            if key in self.seen:
                errors.append(RowError(None, "duplicate_in_file", "与文件中前面一行的记录键重复"))
            else:
                self.seen.add(key)
        return _Row(row_number, raw, key, checked.values, checked.path, errors, checked.record_date)

    # -- one batch ----------------------------------------------------------------------------------------------

    def batch(self, items: list[tuple[int, RawRow]]) -> list[_Row]:
        """Process one batch (and commit it, unless re-running); returns the rows that failed."""
        with self.guard():
            rows = [self.prepare(n, raw) for n, raw in items]
            good = [r for r in rows if not r.errors]
            bad = [r for r in rows if r.errors]
            existing = self._existing([r.key for r in good if r.key]) if good else {}
            counts = Counter[str]()
            staged: list[StagedRow] = []
            unchanged: list[uuid.UUID] = []
            before: dict[uuid.UUID, tuple[bytes, str, str, int, Any]] = {}
            created: list[SourceRecord] = []
            now = utcnow()
            for r in good:
                assert r.key is not None
                h = row_hash(r.values)
                rec = existing.get(r.key)
                if rec is not None and rec.row_hash == h:
                    counts["unchanged"] += 1
                    unchanged.append(rec.id)
                    continue
                counts["updated" if rec is not None else "new"] += 1
                if self.dry_run:
                    continue
                if rec is None:
                    rec = SourceRecord(id=new_id(), source_id=self.source.id, natural_key=r.key,
                                       target_type=self.target, path=r.path, first_import_id=self.imp.id,
                                       last_import_id=self.imp.id, row_number=r.row_number, first_seen=now,
                                       last_seen=now, changed_at=now)
                    change = "new"
                    created.append(rec)
                else:
                    before[rec.id] = (rec.values_enc, rec.row_hash, rec.path, rec.row_number, rec.key_bidx)
                    change = "updated"
                set_record_values(rec, r.values, self.cipher)
                rec.path, rec.row_number, rec.last_import_id = r.path, r.row_number, self.imp.id
                rec.last_seen = rec.changed_at = now
                rec.record_date = r.record_date
                strong = STRONG_KEY.get(self.target)
                rec.key_bidx = key_index(self.target, r.values.get(strong), self.cipher) if strong else None
                staged.append(StagedRow(r.row_number, r.key, r.values, r.path, rec, change))
            if not self.rerun:
                self.valid += len(good)
                self.checked += len(rows)
                for r in good:
                    self.filled.update(k for k, v in r.values.items() if v not in (None, "", []))
            if self.handler is None:
                self.session.add_all(created)
            elif staged:
                # a handler that links other rows to the records by foreign key needs them in the database first
                flushed = getattr(self.handler, "records_flushed", True)
                if flushed:  # new records in one column-wise insert (no unit-of-work bookkeeping per row)
                    insert_objects(self.session, SourceRecord, created)
                    outcomes = self.handler.apply(self.ctx, staged)
                else:  # inserted once with their target, after the handler: no autoflush before it
                    self.session.add_all(created)
                    with self.session.no_autoflush:
                        outcomes = self.handler.apply(self.ctx, staged)
                by_row = {r.row_number: r for r in good}
                links: list[dict[str, Any]] = []
                for s, out in zip(staged, outcomes, strict=True):
                    if out.errors:
                        self._refused(s, out, before, counts)
                        r = by_row[s.row_number]
                        r.errors = list(out.errors)
                        bad.append(r)
                        self.valid -= 0 if self.rerun else 1
                        continue
                    path = out.path or s.record.path
                    if flushed:  # one executemany instead of an ORM update per row
                        links.append({"rid": s.record.id, "tid": out.target_id, "p": path})
                        set_committed_value(s.record, "target_id", out.target_id)
                        set_committed_value(s.record, "path", path)
                    else:
                        s.record.target_id, s.record.path = out.target_id, path
                if links:
                    self.session.flush()
                    t = cast(Table, SourceRecord.__table__)
                    self.session.connection().execute(
                        update(t).where(t.c.id == bindparam("rid")).values(target_id=bindparam("tid"),
                                                                           path=bindparam("p")), links)
            if self.rerun:
                self.session.flush()
                return bad
            for r in bad:
                self.failed.update({e.rule for e in r.errors})
            self._count(len(rows), counts, len(bad))
            if not self.dry_run:
                self._quarantine(bad)
                accepted = [r.key for r in good if r.key and not r.errors]
                self._touch(unchanged, accepted, now)
                self.imp.checkpoint = max(n for n, _ in items)
                self.imp.stats = self.stats()
                self.session.commit()
            return bad

    def _refused(self, s: StagedRow, out: Outcome, before: dict[uuid.UUID, Any], counts: Counter[str]) -> None:
        """A row its handler refused: undo its source record (delete a new one, restore an updated one)."""
        rec = s.record
        counts[s.change if s.change == "updated" else "new"] -= 1
        self.seen.discard(s.natural_key)
        if s.change == "new":
            self.session.delete(rec)
        else:
            rec.values_enc, rec.row_hash, rec.path, rec.row_number, rec.key_bidx = before[rec.id]

    def _count(self, read: int, counts: Counter[str], quarantined: int) -> None:
        imp = self.imp
        imp.rows_read += read
        imp.rows_imported += counts["new"]
        imp.rows_updated += counts["updated"]
        imp.rows_unchanged += counts["unchanged"]
        imp.rows_quarantined += quarantined

    def _existing(self, keys: list[str]) -> dict[str, SourceRecord]:
        if not keys:
            return {}
        recs = self.session.scalars(select(SourceRecord).where(SourceRecord.source_id == self.source.id,
                                                                SourceRecord.natural_key.in_(keys)))
        return {r.natural_key: r for r in recs}

    def _quarantine(self, bad: list[_Row]) -> None:
        """Insert the batch's failed rows; a row whose key already waits open in quarantine from an earlier import
        (the same file again, or a new file still wrong) replaces that row's cells and errors instead of adding a
        second one — so a re-import duplicates nothing here either."""
        if not bad:
            return
        self.session.flush()
        keys = [r.key for r in bad if r.key]
        waiting: dict[str, uuid.UUID] = {}
        if keys:
            found = self.session.execute(select(QuarantineRow.natural_key, QuarantineRow.id).where(
                QuarantineRow.source_id == self.source.id, QuarantineRow.natural_key.in_(keys),
                QuarantineRow.status == QuarantineStatus.open, QuarantineRow.import_id != self.imp.id))
            waiting = {str(k): i for k, i in found}
        rows, replaced = [], []
        now = utcnow()
        for r in sorted(bad, key=lambda x: x.row_number):
            old = waiting.pop(r.key, None) if r.key else None
            qid = old or new_id()
            row = {"import_id": self.imp.id, "path": r.path, "row_number": r.row_number,
                   "raw_enc": seal_raw(r.raw, qid, self.cipher), "errors": [e.as_dict() for e in r.errors],
                   "rules": ",".join(dict.fromkeys(e.rule for e in r.errors))[:255]}
            if old is not None:
                replaced.append({"qid": qid, **{f"b_{k}": v for k, v in row.items()}})
            else:
                rows.append({"id": qid, "source_id": self.source.id, "natural_key": r.key,
                             "status": QuarantineStatus.open, "created_at": now, **row})
        t = cast(Table, QuarantineRow.__table__)
        conn = self.session.connection()
        if rows:
            conn.execute(insert(t), rows)
        if replaced:
            conn.execute(update(t).where(t.c.id == bindparam("qid")).values(
                {c: bindparam(f"b_{c}", type_=t.c[c].type)
                 for c in ("import_id", "path", "row_number", "raw_enc", "errors", "rules")}),
                replaced)

    def _touch(self, unchanged: list[uuid.UUID], accepted: list[str], now: dt.datetime) -> None:
        """Unchanged records were seen by this import; open quarantine rows of accepted keys are fixed by it."""
        self.session.flush()
        if unchanged:
            self.session.execute(update(SourceRecord).where(SourceRecord.id.in_(unchanged))
                                 .values(last_import_id=self.imp.id, last_seen=now)
                                 .execution_options(synchronize_session=False))
        if accepted:
            self.session.execute(update(QuarantineRow).where(
                QuarantineRow.source_id == self.source.id, QuarantineRow.natural_key.in_(accepted),
                QuarantineRow.status == QuarantineStatus.open, QuarantineRow.import_id != self.imp.id)
                .values(status=QuarantineStatus.fixed, resolved_at=now, resolved_by=self.principal.username,
                        resolved_import_id=self.imp.id).execution_options(synchronize_session=False))
