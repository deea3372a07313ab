"""The register's Excel upload (登记簿Excel导入) as a source of the data hub.

The four registers' own Excel templates (:func:`zhili.registry.excel.template_workbook`) are filled in by staff
and uploaded on the register pages (``/console/registry/import``) or ``POST /api/v1/registry/import/{kind}``.
:func:`import_register_workbook` imports such a workbook *through the hub*, not beside it:

* the upload is checked first as the register always checked it (size, zip expansion, .xlsx, header, required
  columns, row count: :func:`zhili.registry.excel.check_upload`), with the same Chinese refusals;
* it is imported into a built-in source per unit and register — ``register-<kind>-<unit code>``, titled
  “人员登记表Excel导入（金陵社区）”, owned by the uploader's unit, trust :data:`REGISTER_TRUST` (data typed by
  staff of that area), default template the built-in ``register-<kind>`` — created on the first upload of that
  unit and register (idempotently: a second upload, or two at once, find the same source);
* the file runs through :func:`zhili.datahub.imports.import_file` synchronously: the pipeline's rules, its
  quarantine (rows kept encrypted, masked when shown, fixable and re-runnable from the hub), golden records,
  lineage and change events, exactly as any other import. **The upload commits** (the pipeline commits once per
  batch, by design: see :mod:`zhili.datahub.pipeline`); the caller's session holds nothing of it afterwards.

Permissions: the upload is the register's front door, so it needs ``registry:write`` — what it always needed (grid
workers have it) — not ``hub:import``. That is the one narrow path: :func:`zhili.datahub.imports.register_uploader`
lets a holder of ``registry:write`` run *this* source's import (and read its template) in their own jurisdiction;
the register services still check every row's jurisdiction as always. The uploader reads back their own uploads
(counts, quarantined rows masked, the rows to fix as a workbook) through :func:`get_register_import`,
:func:`register_import_view` and :func:`quarantined_workbook` without hub permissions; staff with ``hub:read`` see
the same import, its rows and lineage on the hub's pages like any other.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.db import write_after_read
from zhili.core.errors import ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found
from zhili.core.query import starts_with_text
from zhili.core.security import Perm
from zhili.datahub import imports
from zhili.datahub.handlers import handler_for
from zhili.datahub.models import Import, ImportStatus, MappingTemplate, QuarantineRow, SecurityLevel, Source, Target
from zhili.datahub.records import quarantined_cells
from zhili.datahub.rows import BatchHandler, Outcome, RowError, StagedRow
from zhili.datahub.rules import rule_name
from zhili.regions.models import Unit
from zhili.registry import excel
from zhili.registry import service as registry
from zhili.registry.fields import COLUMNS, KIND_LABELS, mask_cells
from zhili.registry.models import Building, Organisation, Person, RegisterKind

SOURCE_PREFIX = imports.REGISTER_SOURCE_PREFIX
REGISTER_TRUST = 80  # typed by the area's own staff from the register's template: above most departments' lists
SHOWN_QUARANTINED = excel.SHOWN_REJECTED  # quarantined rows shown on the result page (all are in the download)
# The register's template has its header in sheet row 1, so the hub's data row n (rows counted after the header) is
# the sheet's row n + 1: the row number staff see in Excel, shown and downloaded as 原行号.
HEADER_ROWS = 1
TARGET_OF: dict[RegisterKind, Target] = {k: Target(k.value) for k in RegisterKind}


def template_name(kind: RegisterKind) -> str:
    """The built-in mapping template that reads the register's own Excel template."""
    return f"register-{kind.value}"


def source_name(kind: RegisterKind, unit_code: str) -> str:
    return f"{SOURCE_PREFIX}{kind.value}-{unit_code}".lower()[:64]


def _home_unit(session: Session, principal: Principal) -> Unit:
    """The uploader's unit (the one of their units nearest the root, when they have several)."""
    units = [u for u in (session.get(Unit, i) for i in principal.unit_ids) if u is not None]
    if not units:
        raise ValidationFailed("您的账号没有所属单位，不能导入登记数据", code="import_no_unit")
    return min(units, key=lambda u: (u.depth, u.path))


def _template(session: Session, kind: RegisterKind) -> MappingTemplate:
    name = template_name(kind)
    stmt = select(MappingTemplate).where(MappingTemplate.name == name, MappingTemplate.is_current.is_(True))
    tpl = session.scalar(stmt)
    if tpl is None:  # installed by ``zhili init``; a database set up otherwise gets them on first use
        from zhili.datahub.templates import load_builtin_templates

        load_builtin_templates(session)
        session.flush()
        tpl = session.scalar(stmt)
    if tpl is None:
        raise ValidationFailed("登记簿导入模板缺失，请联系系统管理员", code="import_template_missing")
    return tpl


def register_source(session: Session, *, principal: Principal, kind: RegisterKind) -> Source:
    """The built-in source of the uploader's unit for ``kind``, created on first use (flushed; audited)."""
    authorize(principal, Perm.registry_write)
    unit = _home_unit(session, principal)
    name = source_name(kind, unit.code)
    found = session.scalar(select(Source).where(Source.name == name))
    if found is not None:
        return found
    tpl = _template(session, kind)
    src = Source(id=new_id(), name=name, title=f"{KIND_LABELS[kind]}登记表Excel导入（{unit.name}）"[:100],
                 target=TARGET_OF[kind], security_level=SecurityLevel.sensitive if kind == RegisterKind.persons
                 else SecurityLevel.internal, trust=REGISTER_TRUST, unit_id=unit.id, path=unit.path,
                 system_name="智理基础数据登记簿", default_template_id=tpl.id, active=True,
                 note="登记簿Excel导入（基层工作人员按本平台模板填写上传）自动建立的数据源",
                 created_by=imports.REGISTER_SOURCE_CREATOR)
    try:
        with session.begin_nested():
            session.add(src)
            session.flush()
    except IntegrityError:  # another upload of the same unit and register created it meanwhile
        found = session.scalar(select(Source).where(Source.name == name))
        if found is None:
            raise
        return found
    audit.record(session, actor=principal.actor, action="hub.source.create", object_type="hub_source",
                 object_id=src.id, after={"name": src.name, "title": src.title, "target": src.target.value,
                                          "unit_id": str(unit.id), "trust": src.trust, "builtin": True})
    return src


def import_register_workbook(session: Session, *, principal: Principal, kind: RegisterKind, data: bytes,
                             filename: str) -> Import:
    """Import an uploaded register workbook through the hub (see the module docstring). Refuses an empty, too
    large, unreadable or wrongly headed file, or one with too many rows, before anything is written; otherwise
    returns the finished import (commits)."""
    authorize(principal, Perm.registry_write)
    excel.check_upload(kind, data)
    src = register_source(session, principal=principal, kind=kind)
    uploader = imports.register_uploader(principal, src)
    name = (filename or f"{KIND_LABELS[kind]}导入.xlsx").replace("/", "_").replace("\\", "_")[:255]
    if not name.lower().endswith(".xlsx"):
        name += ".xlsx"
    path, file_hash, _ = imports.spool([data], name, limit=excel.MAX_IMPORT_BYTES)
    try:
        imp = imports.import_file(session, principal=uploader, source=src, path=path, filename=name,
                                   file_hash=file_hash, template=template_name(kind),
                                   handler=OwnAreaHandler(handler_for(src.target), src.target))
    finally:  # imported in this request: nothing to resume from the spooled file (the same upload again resumes)
        Path(path).unlink(missing_ok=True)
    if imp.status == ImportStatus.failed:  # recorded in the hub (committed); the uploader is told why
        raise ValidationFailed(f"导入失败：{imp.error or '文件无法读取'}", code="import_failed",
                               details={"import_id": str(imp.id)})
    return imp


class OwnAreaHandler:
    """The target's own handler, refusing first — as the register's upload always did — a row whose key (ID number,
    credit code, building code) is already registered outside the uploader's jurisdiction. The hub on its own links
    such a row to that register record and leaves the record as it is (a department's list may name people of other
    areas); a member of staff uploading their register is told instead why the row was not imported."""

    KEYS: dict[Target, tuple[str, str]] = {Target.persons: ("id_number", "身份证号码"),
                                           Target.organisations: ("credit_code", "统一社会信用代码"),
                                           Target.buildings: ("code", "楼栋编码")}

    def __init__(self, inner: BatchHandler, target: Target) -> None:
        self.inner, self.target = inner, target

    @property
    def records_flushed(self) -> bool:
        return bool(getattr(self.inner, "records_flushed", True))

    def _foreign(self, ctx: Any, rows: list[StagedRow]) -> set[str]:
        """The keys of ``rows`` registered outside the caller's jurisdiction."""
        if self.target not in self.KEYS:
            return set()
        field = self.KEYS[self.target][0]
        keys = {str(r.values[field]) for r in rows if r.values.get(field)}
        if not keys:
            return set()
        out: set[str] = set()
        if self.target == Target.persons:
            cipher = get_cipher()
            by_bidx = {cipher.blind_index(k, purpose=registry.ID_PURPOSE): k for k in keys}
            for bidx, path in ctx.session.execute(select(Person.id_number_bidx, Person.path).where(
                    Person.id_number_bidx.in_(list(by_bidx)))):
                if not in_scope(ctx.principal, path):
                    out.add(by_bidx[bidx])
            return out
        model: Any = Organisation if self.target == Target.organisations else Building
        column = model.credit_code if self.target == Target.organisations else model.code
        for key, path in ctx.session.execute(select(column, model.path).where(column.in_(list(keys)))):
            if not in_scope(ctx.principal, path):
                out.add(str(key))
        return out

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]:
        field, what = self.KEYS.get(self.target, ("", ""))
        foreign = self._foreign(ctx, rows)
        refused = {r.row_number for r in rows if field and str(r.values.get(field) or "") in foreign}
        keep = [r for r in rows if r.row_number not in refused]
        done = iter(self.inner.apply(ctx, keep) if keep else [])
        message = f"该{what}已由其他辖区登记，不在您的管辖范围内，不能导入"
        return [Outcome(errors=[RowError(field, "out_of_scope", message)]) if r.row_number in refused else next(done)
                for r in rows]


# -- the uploader's own view --------------------------------------------------------------------------------------

def _kind_of(source: Source) -> RegisterKind | None:
    if not imports.is_register_source(source):
        return None
    return RegisterKind(source.target.value)


def get_register_import(session: Session, *, principal: Principal, import_id: uuid.UUID) -> Import:
    """One of the caller's own register uploads (whoever else may see it in the hub, the register page shows a user
    their own uploads only; anything else is 404)."""
    authorize(principal, Perm.registry_write)
    imp = session.get(Import, import_id)
    src = session.get(Source, imp.source_id) if imp is not None else None
    if imp is None or src is None or imp.user_id != principal.user_id or _kind_of(src) is None:
        raise not_found("导入批次")
    return imp


def list_register_imports(session: Session, *, principal: Principal, limit: int = 20) -> list[Import]:
    """The caller's latest register uploads (imports of the built-in register sources), newest first."""
    authorize(principal, Perm.registry_write)
    stmt = (select(Import).join(Source, Source.id == Import.source_id)
            .where(Import.user_id == principal.user_id, starts_with_text(Source.name, SOURCE_PREFIX),
                   Source.created_by == imports.REGISTER_SOURCE_CREATOR, Import.dry_run.is_(False))
            .order_by(Import.started_at.desc(), Import.id).limit(limit))
    return list(session.scalars(stmt))


def _quarantined(session: Session, imp: Import, limit: int | None = None) -> list[QuarantineRow]:
    stmt = select(QuarantineRow).where(QuarantineRow.import_id == imp.id).order_by(QuarantineRow.row_number)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def _label(header: str) -> str:
    return excel.header_label(header)


def _cells(kind: RegisterKind, row: QuarantineRow) -> list[Any]:
    """A quarantined row's cells in the register template's column order (by the file's headers)."""
    raw = {_label(k): v for k, v in quarantined_cells(row).items()}
    return [raw.get(f.label) for f in COLUMNS[kind]]


def reason_of(row: QuarantineRow) -> str:
    """A quarantined row's failed rules as one Chinese sentence."""
    from zhili.datahub.quarantine import stored_errors

    errors = stored_errors(row)
    if len(errors) > 1:  # a key left empty is already reported as the empty required column it is
        errors = [e for e in errors if e["rule"] != "natural_key"] or errors
    return "；".join(dict.fromkeys(e["message"] or rule_name(e["rule"] or "") for e in errors))


def register_import_view(session: Session, *, imp: Import, limit: int | None = SHOWN_QUARANTINED
                         ) -> dict[str, Any]:
    """An upload as the register page and API show it: counts and the quarantined rows (row number, reason, cells
    in the template's columns with ID and phone numbers masked)."""
    src = session.get(Source, imp.source_id)
    assert src is not None
    kind = _kind_of(src) or RegisterKind(src.target.value)
    headers = [f.label for f in COLUMNS[kind]]
    return {
        "id": imp.id, "kind": kind, "kind_label": KIND_LABELS[kind], "filename": imp.filename,
        "created_at": imp.started_at, "status": imp.status.value, "error": imp.error,
        "total_rows": imp.rows_read, "created_rows": imp.rows_imported, "updated_rows": imp.rows_updated,
        "unchanged_rows": imp.rows_unchanged, "rejected_rows": imp.rows_quarantined,
        "source_id": src.id, "source_title": src.title, "headers": headers,
        "rejected": [{"row_number": r.row_number + HEADER_ROWS, "reason": reason_of(r), "status": r.status.value,
                      "cells": mask_cells(kind, _cells(kind, r), headers)}
                     for r in _quarantined(session, imp, limit)],
    }


def quarantined_workbook(session: Session, *, principal: Principal, import_id: uuid.UUID) -> bytes:
    """The quarantined rows of the caller's own upload still waiting to be fixed, as the register's template plus
    原行号 and 错误原因, to fix and upload again. The uploader gets back what they typed (unmasked, so it can be
    corrected); the download is audited as an export."""
    imp = get_register_import(session, principal=principal, import_id=import_id)
    src = session.get(Source, imp.source_id)
    assert src is not None
    kind = RegisterKind(src.target.value)
    rows = [r for r in _quarantined(session, imp) if r.status.value == "open"]
    content = excel.rows_to_fix_workbook(kind, [(r.row_number + HEADER_ROWS, reason_of(r), _cells(kind, r))
                                                for r in rows])
    write_after_read(session, lambda s: audit.record(
        s, actor=principal.actor, action="registry.import_rejected_download", object_type="hub_import",
        object_id=imp.id, after={"rows": len(rows)}))
    return content
