"""Mapping templates as stored objects: save (a new version each time the spec changes), read, list, export and
import as JSON, compile, preview, and the templates shipped with the platform.

Templates hold no data, so they are not jurisdiction-scoped — except that a template tied to a source
(``source_id``) is visible only to those who see that source. Reading needs ``hub:read``; saving and importing
need ``hub:admin``. Every change is audited (the spec is not personal data; it holds column names and value maps).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterable
from importlib import resources
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, path_predicate
from zhili.core.masking import mask_id_number, mask_name, mask_phone
from zhili.core.security import Perm
from zhili.datahub.mapping import Mapper, TemplateSpec, check_columns, compile_template, header_key, parse_spec
from zhili.datahub.models import MappingTemplate, Source
from zhili.datahub.rows import RawRow

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
EXPORT_FORMAT = "zhili.hub.template/1"
_COMPILED: dict[uuid.UUID, Mapper] = {}  # template versions never change: compile each once per process
_COMPILED_MAX = 64

# A template's version number as a caller may ask for it (a bound the database's integer holds).
MAX_VERSION = 1_000_000


def _view(t: MappingTemplate) -> dict[str, Any]:
    return {"name": t.name, "version": t.version, "title": t.title, "target": t.target, "source_id": t.source_id,
            "builtin": t.builtin, "fields": len(t.spec.get("fields", []))}


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise ValidationFailed("模板标识须为2–63位小写字母、数字、点、横线或下划线，且以字母或数字开头",
                               code="hub_template_name_invalid")
    return name


def _visible(principal: Principal) -> Any:
    """Templates of no source, or of a source in the caller's area."""
    return or_(MappingTemplate.source_id.is_(None),
               MappingTemplate.source_id.in_(select(Source.id).where(path_predicate(Source.path,
                                                                                    principal.scope_paths))))


def _current(session: Session, name: str) -> MappingTemplate | None:
    return session.scalar(select(MappingTemplate).where(MappingTemplate.name == name,
                                                        MappingTemplate.is_current.is_(True)))


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _add_version(session: Session, *, name: str, title: str, spec: TemplateSpec, source_id: uuid.UUID | None,
                 builtin: bool, created_by: str | None) -> tuple[MappingTemplate, MappingTemplate | None]:
    previous = _current(session, name)
    last = session.scalar(select(func.max(MappingTemplate.version)).where(MappingTemplate.name == name)) or 0
    if previous is not None:
        previous.is_current = False
        session.flush()
    tmpl = MappingTemplate(id=new_id(), name=name, version=last + 1, is_current=True, title=title,
                           target=spec.target, source_id=source_id, spec=spec.as_json(), builtin=builtin,
                           created_by=created_by)
    session.add(tmpl)
    session.flush()
    return tmpl, previous


def save_template(session: Session, *, principal: Principal, name: str, title: str,
                  spec: TemplateSpec | dict[str, Any], source_id: uuid.UUID | None = None,
                  new: bool = False) -> MappingTemplate:
    """Save a template: a new version (the previous one stays readable, no longer current); saving what is
    already current (same spec, title and source) changes nothing and returns the current version. ``new``:
    refuse a name already used (creating a template, not a version)."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以修改映射模板", code="hub_admin_only")
    name = _check_name(name)
    title = (title or "").strip()
    if not title or len(title) > 100:
        raise ValidationFailed("模板名称须为1–100个字", code="hub_template_title_invalid")
    parsed = spec if isinstance(spec, TemplateSpec) else parse_spec(spec)
    if source_id is not None:
        src = session.get(Source, source_id)
        if src is None or not in_scope(principal, src.path):
            raise not_found("数据源")
        if src.target != parsed.target:
            raise ValidationFailed("模板的标准模型与数据源不一致", code="hub_template_target_mismatch")
    current = _current(session, name)
    if new and current is not None:
        raise Conflict(f"模板标识“{name}”已被使用", code="hub_template_exists")
    if current is not None:
        if current.source_id is not None:
            src = session.get(Source, current.source_id)
            if src is None or not in_scope(principal, src.path):
                raise not_found("映射模板")
        if (_canonical(current.spec) == _canonical(parsed.as_json()) and current.title == title
                and current.source_id == source_id):
            return current
    tmpl, previous = _add_version(session, name=name, title=title, spec=parsed, source_id=source_id,
                                  builtin=False, created_by=principal.username)
    audit.record(session, actor=principal.actor, action="hub.template.save", object_type="hub_template",
                 object_id=tmpl.id, before=_view(previous) if previous else None, after=_view(tmpl))
    return tmpl


def get_template(session: Session, *, principal: Principal, name: str | None = None,
                 template_id: uuid.UUID | None = None, version: int | None = None) -> MappingTemplate:
    """One template by id, or by name (its current version, or ``version``); 404 when it does not exist or is
    tied to a source outside the caller's area."""
    authorize(principal, Perm.hub_read)
    stmt = select(MappingTemplate).where(_visible(principal))
    if template_id is not None:
        stmt = stmt.where(MappingTemplate.id == template_id)
    elif name is not None:
        stmt = stmt.where(MappingTemplate.name == name)
        stmt = stmt.where(MappingTemplate.version == version) if version is not None else \
            stmt.where(MappingTemplate.is_current.is_(True))
    else:  # nothing named: nothing found
        stmt = stmt.where(false())
    tmpl = session.scalar(stmt)
    if tmpl is None:
        raise not_found("映射模板")
    return tmpl


def list_templates(session: Session, *, principal: Principal, target: str | None = None) -> list[MappingTemplate]:
    """The current version of every template the caller may see, by name."""
    authorize(principal, Perm.hub_read)
    stmt = select(MappingTemplate).where(MappingTemplate.is_current.is_(True), _visible(principal))
    if target is not None:
        stmt = stmt.where(MappingTemplate.target == target)
    return list(session.scalars(stmt.order_by(MappingTemplate.name)))


def template_versions(session: Session, *, principal: Principal, name: str) -> list[MappingTemplate]:
    """Every version of a template, newest first."""
    current = get_template(session, principal=principal, name=name)
    return list(session.scalars(select(MappingTemplate).where(MappingTemplate.name == current.name)
                                .order_by(MappingTemplate.version.desc())))


def export_template(session: Session, *, principal: Principal, name: str,
                    version: int | None = None) -> dict[str, Any]:
    """A template as JSON: format, name, title, version, target and spec (what :func:`import_template` reads)."""
    tmpl = get_template(session, principal=principal, name=name, version=version)
    return template_json(tmpl)


def template_json(tmpl: MappingTemplate) -> dict[str, Any]:
    return {"format": EXPORT_FORMAT, "name": tmpl.name, "title": tmpl.title, "version": tmpl.version,
            "target": str(tmpl.target), "spec": tmpl.spec}


def import_template(session: Session, *, principal: Principal, data: dict[str, Any],
                    name: str | None = None, source_id: uuid.UUID | None = None) -> MappingTemplate:
    """Import an exported template (checked like a save); it becomes a new version of ``name`` (default: the
    exported name). Importing what is already current changes nothing."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以导入映射模板", code="hub_admin_only")
    try:
        spec_data = data.get("spec")
    except AttributeError:
        spec_data = None
    if not isinstance(spec_data, dict):
        raise ValidationFailed("不是映射模板的导出文件（缺少 spec）", code="hub_template_import_invalid")
    fmt = data.get("format")
    if fmt is not None and fmt != EXPORT_FORMAT:
        raise ValidationFailed("映射模板导出文件的格式版本不受支持", code="hub_template_import_invalid")
    spec = parse_spec(spec_data)
    if data.get("target") is not None and str(data["target"]) != spec.target.value:
        raise ValidationFailed("导出文件的标准模型与模板内容不一致", code="hub_template_import_invalid")
    title = str(data.get("title") or spec.title or "").strip()
    return save_template(session, principal=principal, name=name or str(data.get("name") or ""), title=title,
                         spec=spec, source_id=source_id)


def stored_spec(tmpl: MappingTemplate) -> TemplateSpec:
    """The spec of a stored version, read as a spec is read on upload. A stored spec that no longer reads (edited
    in the database, or written by an older version of the format) is refused with a clear Chinese error
    (``hub_template_damaged``, 422) — never a server error — and the page tells staff to save a new version."""
    try:
        return parse_spec(tmpl.spec)
    except ValidationFailed as exc:
        raise ValidationFailed(f"映射模板“{tmpl.title}”第{tmpl.version}版的内容无法读取：{exc.message}。"
                               "请导入或保存一个新版本", code="hub_template_damaged",
                               details=exc.details) from exc


def mapper_of(tmpl: MappingTemplate) -> Mapper:
    """The compiled mapper of one stored version (cached per process: a version never changes)."""
    mapper = _COMPILED.get(tmpl.id)
    if mapper is None:
        mapper = compile_template(stored_spec(tmpl))
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[tmpl.id] = mapper
    return mapper


def compiled(session: Session, *, principal: Principal, name: str,
             version: int | None = None) -> tuple[MappingTemplate, Mapper]:
    """A template and its compiled mapper (the pipeline's entry point)."""
    tmpl = get_template(session, principal=principal, name=name, version=version)
    return tmpl, mapper_of(tmpl)


def _shown(value: Any, kind: str, pii: bool) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    if not pii:
        return value
    text = str(value)
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "mobile":
        return mask_phone(text)
    return mask_name(text)


def preview(mapper: Mapper, rows: Iterable[tuple[int, RawRow]], limit: int = 20) -> list[dict[str, Any]]:
    """The first ``limit`` rows as they would be imported: row number, values (personal fields masked), the
    natural key (masked when it holds a personal field), the mapping errors, and whether ``skip_if`` leaves the
    row out. Nothing is written."""
    out: list[dict[str, Any]] = []
    std = mapper.std
    key_pii = any(std[k].pii for k in mapper.key if k in std)
    for row_number, raw in rows:
        if len(out) >= limit:
            break
        if mapper.skips(raw):
            out.append({"row": row_number, "skipped": True, "values": {}, "errors": [], "natural_key": None})
            continue
        m = mapper.map(raw)
        values = {}
        for k, v in m.values.items():
            f = std.get(k)
            values[k] = _shown(v, f.kind if f else "text", bool(f and f.pii))
        key = m.natural_key
        if key is not None and key_pii:
            key = "已脱敏"
        out.append({"row": row_number, "skipped": False, "values": values, "natural_key": key,
                    "errors": [e.as_dict() for e in m.errors]})
    return out


# -- shipped templates ----------------------------------------------------------------------------------------


def builtin_documents() -> list[dict[str, Any]]:
    """The templates shipped in ``zhili/datahub/builtin_templates/*.json`` (export format), by name."""
    folder = resources.files("zhili.datahub").joinpath("builtin_templates")
    docs = []
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            docs.append(json.loads(entry.read_text(encoding="utf-8")))
    return sorted(docs, key=lambda d: d["name"])


def load_builtin_templates(session: Session) -> int:
    """Insert or update the shipped templates (``builtin=True``); idempotent. A shipped template whose spec
    differs from its latest shipped version gets a new version — staff's own later versions are not overwritten
    unless the shipped one changed. Returns the number of versions added."""
    added = 0
    for doc in builtin_documents():
        spec = parse_spec(doc["spec"])
        name, title = doc["name"], doc["title"]
        last_builtin = session.scalar(select(MappingTemplate).where(MappingTemplate.name == name,
                                                                    MappingTemplate.builtin.is_(True))
                                      .order_by(MappingTemplate.version.desc()).limit(1))
        if last_builtin is not None and _canonical(last_builtin.spec) == _canonical(spec.as_json()) \
                and last_builtin.title == title:
            continue
        tmpl, previous = _add_version(session, name=name, title=title, spec=spec, source_id=None, builtin=True,
                                      created_by="system")
        audit.record(session, actor=audit.SYSTEM, action="hub.template.builtin", object_type="hub_template",
                     object_id=tmpl.id, before=_view(previous) if previous else None, after=_view(tmpl))
        added += 1
    return added


# -- sample files for the preview -----------------------------------------------------------------------------

PREVIEW_MAX_BYTES = 5 * 1024 * 1024


def sample_rows(data: bytes, filename: str, limit: int = 200) -> tuple[list[str], list[tuple[int, RawRow]]]:
    """The header and first ``limit`` data rows of an uploaded sample (CSV in UTF-8 with or without BOM or
    GB18030, or .xlsx), for the preview. A stand-in until the connectors (:mod:`zhili.datahub.connectors`) read
    samples; nothing is stored."""
    if not data:
        raise ValidationFailed("上传的文件是空的", code="hub_preview_empty")
    if len(data) > PREVIEW_MAX_BYTES:
        raise ValidationFailed("预览样例不能超过5MB，请截取前面一部分", code="hub_preview_too_large")
    if data[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        return _xlsx_rows(data, limit)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationFailed("无法识别文件的编码", code="hub_preview_encoding")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise ValidationFailed("文件没有表头", code="hub_preview_no_header")
    rows: list[tuple[int, RawRow]] = []
    for number, cells in enumerate(reader, 1):
        if len(rows) >= limit:
            break
        if any(c.strip() for c in cells):
            rows.append((number, dict(zip(header, cells, strict=False))))
    return header, rows


def _xlsx_rows(data: bytes, limit: int) -> tuple[list[str], list[tuple[int, RawRow]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable workbook
        raise ValidationFailed("无法读取该文件：请上传 CSV 或 .xlsx 文件", code="hub_preview_unreadable") from None
    try:
        it = wb.worksheets[0].iter_rows(values_only=True)
        header = ["" if h is None else str(h).strip() for h in next(it, ())]
        if not any(header):
            raise ValidationFailed("文件没有表头", code="hub_preview_no_header")
        rows: list[tuple[int, RawRow]] = []
        for number, cells in enumerate(it, 1):
            if len(rows) >= limit:
                break
            if any(c not in (None, "") for c in cells):
                rows.append((number, dict(zip(header, cells, strict=False))))
        return header, rows
    finally:
        wb.close()


def preview_file(mapper: Mapper, data: bytes, filename: str, limit: int = 20) -> dict[str, Any]:
    """Preview a sample file: its columns checked against the template (missing expected columns refuse it, as
    an import would), then the first ``limit`` rows as they would be imported. Nothing is written."""
    columns, rows = sample_rows(data, filename, limit=limit)
    check_columns(mapper.spec, columns)
    bound = mapper.bind(columns)
    used = {c for fm in mapper.spec.fields for c in ([fm.column] if fm.column else fm.columns or [])}
    have = {header_key(c) for c in columns}
    return {"columns": columns, "rows": preview(bound, rows, limit=limit),
            "unused_columns": [c for c in columns if c and header_key(c) not in {header_key(u) for u in used}],
            "absent_columns": [c for c in sorted(used) if header_key(c) not in have]}
