"""The quarantine (隔离区): rows that failed validation, kept whole, fixed and re-run by staff.

Listing needs ``hub:read`` and shows only rows whose path (the row's resolved unit, else its source's) lies in
the caller's jurisdiction; fixing, re-running, discarding and downloading need ``hub:import``. A row's raw cells
are shown masked (ID and phone numbers, and the columns the template maps onto personal fields); the download is
an export of personal data: full values only with ``pii:reveal`` as well (otherwise masked), audited with the
count. A fixed row goes through the same template, rules and handler as the import did; the fixed cells replace
the stored ones (encrypted), and the row is imported or kept open with its new errors.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from sqlalchemy import Select, literal, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, scoped
from zhili.core.masking import mask_id_number, mask_phone, mask_text
from zhili.core.query import contains_text, paginate
from zhili.core.security import Perm
from zhili.core.validators import personal_number_kind
from zhili.core.xlsx import row_values
from zhili.datahub.models import Import, MappingTemplate, QuarantineRow, QuarantineStatus, Source
from zhili.datahub.records import quarantined_cells, seal_raw
from zhili.datahub.rows import BatchHandler, RowMapper
from zhili.datahub.rules import rule_name

RERUN_LIMIT = 5000  # rows one re-run request handles (the rest stay open for the next)


def _query(principal: Principal, *, source_id: uuid.UUID | None = None, import_id: uuid.UUID | None = None,
           rule: str | None = None, status: QuarantineStatus | str | None = QuarantineStatus.open
           ) -> Select[Any]:
    stmt = scoped(select(QuarantineRow), principal, QuarantineRow.path)
    if source_id is not None:
        stmt = stmt.where(QuarantineRow.source_id == source_id)
    if import_id is not None:
        stmt = stmt.where(QuarantineRow.import_id == import_id)
    if status:
        stmt = stmt.where(QuarantineRow.status == QuarantineStatus(status))
    if rule:
        # rules is a comma-separated list of codes: match a whole code
        stmt = stmt.where(contains_text(literal(",") + QuarantineRow.rules + literal(","), f",{rule},"))
    return stmt


def list_rows(session: Session, *, principal: Principal, source_id: uuid.UUID | None = None,
              import_id: uuid.UUID | None = None, rule: str | None = None,
              status: QuarantineStatus | str | None = QuarantineStatus.open, page: int = 1, page_size: int = 50
              ) -> tuple[list[QuarantineRow], int]:
    """Quarantined rows of the caller's area, filtered by source, import, rule and status (open by default)."""
    authorize(principal, Perm.hub_read)
    stmt = _query(principal, source_id=source_id, import_id=import_id, rule=rule, status=status)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None,
                    sortable={"row": QuarantineRow.row_number},
                    default_sort=[QuarantineRow.created_at.desc(), QuarantineRow.import_id, QuarantineRow.row_number])


def get_row(session: Session, *, principal: Principal, row_id: uuid.UUID) -> QuarantineRow:
    """One quarantined row of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_read)
    row = session.get(QuarantineRow, row_id)
    if row is None:
        raise not_found("隔离记录")
    ensure_in_scope(principal, row.path, "隔离记录")
    return row


def _pii_columns(session: Session, imp: Import | None) -> set[str]:
    """Source columns the import's template maps onto personal fields (``spec`` of mapping.py: the fields map
    ``column → field`` or a list of ``{"column", "field"}``; anything else: none)."""
    if imp is None or imp.template_id is None:
        return set()
    tpl = session.get(MappingTemplate, imp.template_id)
    if tpl is None:
        return set()
    from zhili.datahub.standard import fields

    pii = {k for k, f in fields(tpl.target).items() if f.pii}
    out: set[str] = set()
    spec = tpl.spec or {}
    for item in spec.get("fields") or spec.get("columns") or []:
        if isinstance(item, dict):
            col, fld = item.get("column") or item.get("source"), item.get("field") or item.get("target")
            if fld in pii and isinstance(col, str):
                out.add(col)
    return out


def mask_cell(value: Any, *, pii: bool = False) -> Any:
    """A cell as staff without ``pii:reveal`` see it: ID and phone numbers masked wherever they appear."""
    if value is None:
        return None
    text = str(value)
    kind = personal_number_kind(text)
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "phone":
        return mask_phone(text)
    if pii:
        return (text[:1] + "*" * (len(text) - 1)) if len(text) > 1 else "*"
    return mask_text(text)


def row_view(session: Session, row: QuarantineRow, *, reveal: bool = False) -> dict[str, Any]:
    """A quarantined row for the page and the API: masked cells (unless ``reveal``), errors with rule names."""
    imp = session.get(Import, row.import_id)
    pii = _pii_columns(session, imp)
    cells = quarantined_cells(row)
    return {
        "id": row.id, "import_id": row.import_id, "source_id": row.source_id, "row_number": row.row_number,
        "natural_key": shown_key(row.natural_key), "status": row.status.value,
        "cells": {k: (v if reveal else mask_cell(v, pii=k in pii)) for k, v in cells.items()},
        "errors": [dict(e, rule_name=rule_name(e["rule"] or "")) for e in stored_errors(row)],
        "created_at": row.created_at, "resolved_at": row.resolved_at, "resolved_by": row.resolved_by,
    }


def shown_key(key: str | None) -> str | None:
    """A natural key as people may see it: a digest (a blind index of personal numbers, or of an over-long key)
    means nothing to a reader and is not shown; any ID- or phone-shaped part of a plain key is masked."""
    if not key or key.startswith(("pk:", "sha256:")):
        return None
    from zhili.core.validators import personal_number_kind
    from zhili.datahub.mapping import KEY_SEP

    return KEY_SEP.join(str(mask_cell(part)) if personal_number_kind(part) else part for part in key.split(KEY_SEP))


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:500]


def stored_errors(row: QuarantineRow) -> list[dict[str, str | None]]:
    """A quarantined row's failed rules as ``{field, rule, message}`` of strings, whatever the JSON column holds
    (the pipeline writes that shape; a row edited elsewhere may not hold it, and must still be listed)."""
    out: list[dict[str, str | None]] = []
    for e in row.errors if isinstance(row.errors, list) else []:
        if isinstance(e, dict):
            out.append({"field": _text(e.get("field")), "rule": _text(e.get("rule")) or "",
                        "message": _text(e.get("message")) or ""})
    return out


def _mapper(session: Session, imp: Import) -> RowMapper:
    tpl = session.get(MappingTemplate, imp.template_id) if imp.template_id else None
    if tpl is None:
        raise ValidationFailed("该批次没有可用的映射模板，请重新上传修正后的文件", code="hub_template_missing")
    from zhili.datahub.templates import mapper_of

    mapper: RowMapper = mapper_of(tpl)
    return mapper


def _rerun(session: Session, principal: Principal, rows: list[QuarantineRow], cells: dict[uuid.UUID, dict[str, Any]],
           mapper: RowMapper | None, handler: BatchHandler | None, resolver: Any) -> dict[str, int]:
    from zhili.datahub.pipeline import rerun_rows

    out = {"fixed": 0, "open": 0}
    by_import: dict[uuid.UUID, list[QuarantineRow]] = {}
    for r in rows:
        by_import.setdefault(r.import_id, []).append(r)
    for import_id, group in by_import.items():
        imp = session.get(Import, import_id)
        src = session.get(Source, group[0].source_id)
        assert imp is not None and src is not None
        m = mapper or _mapper(session, imp)
        failed = rerun_rows(session, principal=principal, source=src, imp=imp, mapper=m, handler=handler,
                            resolver=resolver, items=[(r.row_number, cells[r.id]) for r in group])
        now = utcnow()
        for r in group:
            errors = failed.get(r.row_number)
            if errors is None:
                r.status, r.resolved_at, r.resolved_by, r.resolved_import_id = (
                    QuarantineStatus.fixed, now, principal.username, imp.id)
                out["fixed"] += 1
            else:
                r.errors = [e.as_dict() for e in errors]
                r.rules = ",".join(dict.fromkeys(e.rule for e in errors))[:255]
                out["open"] += 1
    session.flush()
    return out


def _check_targets(session: Session, principal: Principal, source_ids: set[uuid.UUID]) -> None:
    """Re-running rows writes them where an import would: the same up-front permission check."""
    from zhili.datahub.imports import check_target_permission

    for source_id in source_ids:
        src = session.get(Source, source_id)
        if src is not None:
            check_target_permission(principal, src)


def fix_row(session: Session, *, principal: Principal, row_id: uuid.UUID, cells: dict[str, Any],
            mapper: RowMapper | None = None, handler: BatchHandler | None = None, resolver: Any = True
            ) -> QuarantineRow:
    """Replace an open row's cells (only the columns it has) and re-run it: imported (``fixed``) or kept open with
    its new errors. ``mapper``/``handler``/``resolver`` default to the import's template and the target's own."""
    authorize(principal, Perm.hub_import, "没有修正隔离数据的权限", code="hub_import_denied")
    row = get_row(session, principal=principal, row_id=row_id)
    if row.status != QuarantineStatus.open:
        raise ValidationFailed("该记录已处理，不能再修正", code="hub_quarantine_closed")
    current = quarantined_cells(row)
    unknown = [k for k in cells if k not in current]
    if unknown:
        raise ValidationFailed("修正的列不在原始行中：" + "、".join(unknown[:5]), code="hub_quarantine_column")
    fixed = {**current, **{k: (None if v is None else str(v)) for k, v in cells.items()}}
    imp = session.get(Import, row.import_id)
    assert imp is not None
    _check_targets(session, principal, {row.source_id})
    mapper = mapper or _mapper(session, imp)  # refused before anything is written
    row.raw_enc = seal_raw(fixed, row.id)
    result = _rerun(session, principal, [row], {row.id: fixed}, mapper, handler, resolver)
    audit.record(session, actor=principal.actor, action="hub.quarantine.fix", object_type="hub_quarantine",
                 object_id=row.id, after={"columns": sorted(cells), "status": row.status.value,
                                          "rules": row.rules if result["open"] else None})
    return row


def rerun(session: Session, *, principal: Principal, import_id: uuid.UUID | None = None,
          source_id: uuid.UUID | None = None, mapper: RowMapper | None = None, handler: BatchHandler | None = None,
          resolver: Any = True) -> dict[str, int]:
    """Re-run every open row of an import, a source, or (neither given) the caller's whole area — up to
    :data:`RERUN_LIMIT` rows per call — after a rule, reference or template changed; returns
    ``{"fixed": n, "open": m}``."""
    authorize(principal, Perm.hub_import, "没有重新导入隔离数据的权限", code="hub_import_denied")
    rows = list(session.scalars(_query(principal, source_id=source_id, import_id=import_id)
                                .order_by(QuarantineRow.import_id, QuarantineRow.row_number).limit(RERUN_LIMIT)))
    _check_targets(session, principal, {r.source_id for r in rows})
    result = _rerun(session, principal, rows, {r.id: quarantined_cells(r) for r in rows}, mapper, handler, resolver)
    audit.record(session, actor=principal.actor, action="hub.quarantine.rerun", object_type="hub_import",
                 object_id=import_id or source_id, after=result | {"source": str(source_id) if source_id else None})
    return result


def discard_row(session: Session, *, principal: Principal, row_id: uuid.UUID, reason: str) -> QuarantineRow:
    """Discard an open row (作废): it stays, marked, with who and why."""
    authorize(principal, Perm.hub_import, "没有处理隔离数据的权限", code="hub_import_denied")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写作废原因", code="hub_discard_reason")
    row = get_row(session, principal=principal, row_id=row_id)
    if row.status != QuarantineStatus.open:
        raise ValidationFailed("该记录已处理", code="hub_quarantine_closed")
    row.status, row.resolved_at, row.resolved_by = QuarantineStatus.discarded, utcnow(), principal.username
    row.errors = [*stored_errors(row), {"field": None, "rule": "discarded", "message": f"作废：{reason[:200]}"}]
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.quarantine.discard", object_type="hub_quarantine",
                 object_id=row.id, after={"reason": reason[:200]})
    return row


def download(session: Session, *, principal: Principal, import_id: uuid.UUID | None = None,
             source_id: uuid.UUID | None = None, rule: str | None = None) -> tuple[bytes, int, bool]:
    """The open rows as .xlsx (original columns plus a reason column) to fix and re-upload. Full values need
    ``pii:reveal``; without it ID and phone numbers are masked. Returns (bytes, rows, masked); audited."""
    from openpyxl import Workbook

    authorize(principal, Perm.hub_import, "没有导出隔离数据的权限", code="hub_import_denied")
    reveal = principal.can(Perm.pii_reveal)
    rows = list(session.scalars(_query(principal, source_id=source_id, import_id=import_id, rule=rule)
                                .order_by(QuarantineRow.import_id, QuarantineRow.row_number).limit(100_000)))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("隔离数据")
    columns: list[str] = []
    views = []
    for r in rows:
        v = row_view(session, r, reveal=reveal)
        for c in v["cells"]:
            if c not in columns:
                columns.append(c)
        views.append(v)
    ws.append(row_values([*columns, "原行号", "隔离原因"]))
    for v in views:
        reason = "；".join(e.get("message", "") for e in v["errors"])
        ws.append(row_values([*("" if v["cells"].get(c) is None else str(v["cells"].get(c)) for c in columns),
                              v["row_number"], reason]))
    buf = io.BytesIO()
    wb.save(buf)
    audit.record(session, actor=principal.actor, action="hub.quarantine.download", object_type="hub_import",
                 object_id=import_id or source_id, after={"rows": len(rows), "masked": not reveal})
    return buf.getvalue(), len(rows), not reveal
