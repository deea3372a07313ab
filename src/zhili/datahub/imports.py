"""Import records (导入批次) and the front doors' shared path from a file to :func:`~zhili.datahub.pipeline.run_import`.

:func:`list_imports` / :func:`get_import` read the import history of the caller's area. :func:`import_file` opens
a file with its connector (:mod:`zhili.datahub.connectors`), finds its mapping template
(:mod:`zhili.datahub.templates`: named, else the source's default) and runs the pipeline — the CLI calls it
directly, the API and the upload page through :func:`start_import`, which runs a small file in the request and a
large one in a background thread (the caller polls the import). Uploaded files are spooled to
``var_dir/hub/`` (size-limited), kept while the import may still be resumed, and deleted once it is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from zhili.core.errors import ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, scoped
from zhili.core.query import paginate
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.datahub.models import Connector, Import, ImportStatus, MappingTemplate, Source, Target
from zhili.datahub.rows import BatchHandler

log = logging.getLogger(__name__)

UPLOAD_LIMIT = 1024 * 1024 * 1024  # 1 GiB: a million-row CSV is a few hundred MB
SUFFIXES = {".csv": Connector.csv, ".txt": Connector.csv, ".tsv": Connector.csv, ".xlsx": Connector.xlsx,
            ".json": Connector.json, ".jsonl": Connector.jsonl, ".ndjson": Connector.jsonl}


def list_imports(session: Session, *, principal: Principal, source_id: uuid.UUID | None = None,
                 status: ImportStatus | str | None = None, page: int = 1, page_size: int = 50
                 ) -> tuple[list[Import], int]:
    """The imports of the caller's area, newest first."""
    authorize(principal, Perm.hub_read)
    stmt = scoped(select(Import), principal, Import.path)
    if source_id is not None:
        stmt = stmt.where(Import.source_id == source_id)
    if status:
        stmt = stmt.where(Import.status == ImportStatus(status))
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Import.started_at.desc(), Import.id])


def get_import(session: Session, *, principal: Principal, import_id: uuid.UUID) -> Import:
    """One import of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_read)
    imp = session.get(Import, import_id)
    if imp is None:
        raise not_found("导入批次")
    ensure_in_scope(principal, imp.path, "导入批次")
    return imp


def import_view(session: Session, imp: Import) -> dict[str, Any]:
    """An import for the API and the pages (counts, duration, file, who; no values)."""
    src = session.get(Source, imp.source_id)
    return {
        "id": imp.id, "source_id": imp.source_id, "source_name": src.name if src else None,
        "source_title": src.title if src else None, "template_id": imp.template_id, "username": imp.username,
        "connector": imp.connector.value, "filename": imp.filename, "file_hash": imp.file_hash,
        "file_size": imp.file_size, "encoding": imp.encoding, "dry_run": imp.dry_run, "status": imp.status.value,
        "checkpoint": imp.checkpoint, "rows_read": imp.rows_read, "rows_imported": imp.rows_imported,
        "rows_updated": imp.rows_updated, "rows_unchanged": imp.rows_unchanged,
        "rows_quarantined": imp.rows_quarantined, "error": imp.error, "started_at": imp.started_at,
        "finished_at": imp.finished_at, "duration_ms": imp.duration_ms, "stats": imp.stats or {},
    }


# -- files -------------------------------------------------------------------------------------------------

def spool_dir() -> Path:
    d = Path(get_settings().var_dir) / "hub"
    d.mkdir(parents=True, exist_ok=True)
    return d


def spool(chunks: Iterable[bytes], filename: str, *, limit: int = UPLOAD_LIMIT) -> tuple[Path, str, int]:
    """Write an upload to the spool directory, hashing as it goes; (path, sha256, size). Over ``limit``: refused
    and nothing kept."""
    suffix = Path(filename).suffix.lower()[:8]
    path = spool_dir() / f"{uuid.uuid4().hex}{suffix}"
    h, size = hashlib.sha256(), 0
    try:
        with path.open("wb") as f:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise ValidationFailed(f"文件超过{limit // (1024 * 1024)}MB上限", code="hub_file_too_large")
                h.update(chunk)
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, h.hexdigest(), size


def connector_for(path: Path | str) -> Connector:
    """The connector of a file by its suffix (CSV when unknown)."""
    return SUFFIXES.get(Path(path).suffix.lower(), Connector.csv)


def resolve_template(session: Session, *, principal: Principal, source: Source, name: str | None
                     ) -> tuple[MappingTemplate, Any]:
    """The compiled template to import ``source`` with: ``name``, else the source's default template."""
    authorize(principal, Perm.hub_read)
    if not name:
        tpl = session.get(MappingTemplate, source.default_template_id) if source.default_template_id else None
        if tpl is None:
            raise ValidationFailed("请指定映射模板（该数据源没有默认模板）", code="hub_template_required")
        name = tpl.name
    from zhili.datahub import templates  # type: ignore[attr-defined,unused-ignore]

    found: tuple[MappingTemplate, Any] = templates.compiled(session, principal=principal, name=name)
    return found


def open_stream(path: Path | str, *, encoding: str | None = None, sheet: str | None = None) -> Any:
    """The file's row stream through its connector (:func:`zhili.datahub.connectors.open_file`)."""
    from zhili.datahub import connectors  # type: ignore[attr-defined,unused-ignore]

    kwargs: dict[str, Any] = {}
    if encoding:
        kwargs["encoding"] = encoding
    if sheet:
        kwargs["sheet"] = sheet
    return connectors.open_file(Path(path), **kwargs)


REGISTER_TARGETS = frozenset({Target.persons, Target.households, Target.buildings, Target.organisations})


def check_target_permission(principal: Principal, source: Source) -> None:
    """Refuse, before anything is read, an import whose rows the caller could not write: rows of the registers
    are written through the register services, which need ``registry:write`` (the command centre imports
    historical cases, not register rows). Without this check every row would end in quarantine as refused."""
    if Target(source.target) in REGISTER_TARGETS:
        authorize(principal, Perm.registry_write, "导入人口、房屋、楼栋或组织数据需要基础数据维护权限，"
                  "请由社区、街道工作人员或系统管理员导入", code="hub_import_register_denied")


# The built-in sources of the register's own Excel upload (:mod:`zhili.datahub.register_import`): named
# ``register-<kind>-<unit code>``, created by the system only (staff cannot register a source of that name).
REGISTER_SOURCE_PREFIX = "register-"
REGISTER_SOURCE_CREATOR = "system"


def is_register_source(source: Source) -> bool:
    """True for a built-in source of the register's Excel upload."""
    return (source.name.startswith(REGISTER_SOURCE_PREFIX) and source.created_by == REGISTER_SOURCE_CREATOR
            and Target(source.target) in REGISTER_TARGETS)


def register_uploader(principal: Principal, source: Source) -> Principal:
    """The register's front door into the hub, and the only way past ``hub:import`` without holding it: a holder of
    ``registry:write`` (a grid worker has no hub permission) may import *a built-in register source of their own
    jurisdiction* — what the register's Excel upload always let them do. Returns the principal to run that one import
    with (the same person, role and jurisdiction, plus ``hub:read``/``hub:import`` for it); refuses anything else.
    The rows are still written through the register services, which check every row's jurisdiction."""
    authorize(principal, Perm.registry_write, "导入人口、房屋、楼栋或组织数据需要基础数据维护权限",
              code="hub_import_register_denied")
    if not is_register_source(source):
        raise not_found("数据源")
    ensure_in_scope(principal, source.path, "数据源")
    if principal.can(Perm.hub_import) and principal.can(Perm.hub_read):
        return principal
    return replace(principal, extra_perms=principal.extra_perms | {Perm.hub_read, Perm.hub_import})


def import_file(session: Session, *, principal: Principal, source: Source, path: Path | str,
                template: str | None = None, encoding: str | None = None, sheet: str | None = None,
                dry_run: bool = False, filename: str | None = None, file_hash: str | None = None,
                progress: Callable[..., None] | None = None, guard: Callable[[], Any] | None = None,
                import_id: uuid.UUID | None = None, batch_size: int = 1000,
                handler: BatchHandler | None = None) -> Import:
    """Import one file into ``source`` (a job: commits per batch). An unreadable file or a template whose columns
    the file lacks gives a failed import, not an exception. ``handler`` defaults to the target's own."""
    from zhili.datahub.pipeline import run_import

    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    ensure_in_scope(principal, source.path, "数据源")
    if not dry_run:
        check_target_permission(principal, source)
    tpl, mapper = resolve_template(session, principal=principal, source=source, name=template)
    p = Path(path)
    size = p.stat().st_size
    if file_hash is None:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        file_hash = h.hexdigest()
    try:
        stream = open_stream(p, encoding=encoding, sheet=sheet)
    except (OSError, UnicodeError, ValueError, LookupError, ValidationFailed) as exc:
        stream = _Broken(str(getattr(exc, "message", None) or f"文件无法读取：{type(exc).__name__}"))
    imp = run_import(session, principal=principal, source=source, stream=stream, mapper=mapper,
                     filename=filename or p.name, file_hash=file_hash, file_size=size,
                     connector=getattr(stream, "connector", None) or connector_for(filename or p),
                     template_id=tpl.id, dry_run=dry_run, progress=progress, guard=guard, import_id=import_id,
                     batch_size=batch_size, handler=handler)
    if imp.status == ImportStatus.done and not imp.dry_run:
        refresh_quality(session, source, guard)
    return imp


def refresh_quality(session: Session, source: Source, guard: Callable[[], Any] | None = None) -> None:
    """Recompute the source's cached quality figures after a finished import (a job step: commits), so the first
    view of the quality page after an import does not pay for it."""
    from zhili.datahub import quality

    with (guard or contextlib.nullcontext)():
        quality.refresh(session, source.id)
        session.commit()


def import_rest(session: Session, *, principal: Principal, source: Source, url: str,
                headers: dict[str, str] | None = None, template: str | None = None, dry_run: bool = False,
                progress: Callable[..., None] | None = None, guard: Callable[[], Any] | None = None,
                batch_size: int = 1000, **options: Any) -> Import:
    """Pull a paged REST endpoint into ``source`` (a job: commits per batch). The same URL and template is the same
    pull: a killed run is resumed from the page its last committed batch ended in (the import's stored cursor), not
    from the first page. ``headers`` (an ``Authorization`` token) are sent, never stored or hashed; ``options`` go
    to :func:`zhili.datahub.connectors_rest.rest_pull` (paging style, items key …)."""
    from zhili.datahub.connectors_rest import rest_pull
    from zhili.datahub.pipeline import find_resumable, run_import

    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    ensure_in_scope(principal, source.path, "数据源")
    if not dry_run:
        check_target_permission(principal, source)
    tpl, mapper = resolve_template(session, principal=principal, source=source, name=template)
    key = hashlib.sha256(f"{url}\n{tpl.name}".encode()).hexdigest()
    resumable = find_resumable(session, source, key, dry_run)
    cursor = resumable.cursor if resumable is not None else None
    stream = rest_pull(url, headers=headers, cursor=cursor, **options)
    imp = run_import(session, principal=principal, source=source, stream=stream, mapper=mapper,
                     filename=url[:255], file_hash=key, connector=Connector.rest, template_id=tpl.id,
                     dry_run=dry_run, progress=progress, guard=guard, batch_size=batch_size)
    if imp.status == ImportStatus.done and not imp.dry_run:
        refresh_quality(session, source, guard)
    return imp


class _Broken:
    """A stream over a file its connector could not open: its first read fails the import."""

    columns: list[str] = []
    encoding: str | None = None

    def __init__(self, message: str) -> None:
        self.message = message

    def __iter__(self) -> Any:
        raise ValueError(self.message)

    @property
    def progress(self) -> tuple[int, int | None]:
        return 0, None


def start_import(session: Session, *, principal: Principal, source_id: uuid.UUID, path: Path, file_hash: str,
                 size: int, filename: str, template: str | None = None, dry_run: bool = False,
                 encoding: str | None = None, sheet: str | None = None) -> tuple[Import | None, uuid.UUID]:
    """Import a spooled upload: a small file now, in this session (returns the import), a large one in a
    background thread with a session of its own (returns None and the id to poll). The spooled file is deleted
    when its import is done or failed; it stays while the import is resumable."""
    from zhili.datahub.pipeline import find_resumable
    from zhili.datahub.sources import get_source

    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    src = get_source(session, principal=principal, source_id=source_id)
    if not dry_run:
        check_target_permission(principal, src)
    resumable = find_resumable(session, src, file_hash, dry_run)
    import_id = resumable.id if resumable is not None else new_id()
    if size <= get_settings().hub_inline_import_bytes:
        try:
            imp = import_file(session, principal=principal, source=src, path=path, template=template,
                              encoding=encoding, sheet=sheet, dry_run=dry_run, filename=filename,
                              file_hash=file_hash, import_id=import_id)
        finally:
            _cleanup(session, import_id, path)
        return imp, import_id
    tpl, _ = resolve_template(session, principal=principal, source=src, name=template)  # refuse a bad one now
    if resumable is None:
        # the import exists (running, nothing read) as soon as the request commits, so the id it answers with can be
        # polled at once; the thread resumes this row
        from zhili.datahub.pipeline import new_import

        session.add(new_import(src, user_id=principal.user_id, username=principal.username, import_id=import_id,
                               template_id=tpl.id, filename=filename, file_hash=file_hash, file_size=size,
                               connector=connector_for(filename), encoding=encoding, dry_run=dry_run))
        session.flush()
    thread = threading.Thread(target=_background, name=f"hub-import-{import_id.hex[:8]}", daemon=True, kwargs={
        "principal": principal, "source_id": src.id, "path": path, "file_hash": file_hash, "filename": filename,
        "template": template, "dry_run": dry_run, "encoding": encoding, "sheet": sheet, "import_id": import_id})
    _after_commit(session, thread.start, lambda: path.unlink(missing_ok=True))
    return None, import_id


def _after_commit(session: Session, committed: Callable[[], Any], rolled_back: Callable[[], Any]) -> None:
    """Run ``committed`` once the session's transaction commits — a background import must not start before the
    request that queued it is committed (it would not find its import row) — or ``rolled_back`` if it rolls back
    instead. Whichever comes first, once."""
    done = False

    def once(fn: Callable[[], Any]) -> Callable[[Session], None]:
        def handler(_session: Session, *_: Any) -> None:
            nonlocal done
            if not done:
                done = True
                fn()
        return handler

    event.listen(session, "after_commit", once(committed), once=True)
    event.listen(session, "after_rollback", once(rolled_back), once=True)


def _cleanup(session: Session, import_id: uuid.UUID, path: Path) -> None:
    imp = session.get(Import, import_id)
    if imp is None or imp.status != ImportStatus.running:
        path.unlink(missing_ok=True)


def _background(*, principal: Principal, source_id: uuid.UUID, path: Path, import_id: uuid.UUID,
                **kw: Any) -> None:
    from zhili.core.db import get_engine, session_factory, write_guard

    engine = get_engine()
    with session_factory()() as session:
        try:
            src = session.get(Source, source_id)
            assert src is not None
            import_file(session, principal=principal, source=src, path=path, import_id=import_id,
                        guard=lambda: write_guard(engine), **kw)
        except Exception:
            log.exception("background hub import %s failed", import_id)
            session.rollback()
        finally:
            _cleanup(session, import_id, path)
