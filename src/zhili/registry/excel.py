"""Excel templates, upload checks and exports of the base registers (楼栋、房屋、人员、组织).

Template: :func:`template_workbook` is the import template of a register (Chinese headers, an example row, a sheet
explaining every column). Uploads of it are imported by the data hub — the register's Excel import is one of the
hub's sources (:mod:`zhili.datahub.register_import`, which the register cannot import: it lies above it) — and
this module keeps what is the register's own: :func:`check_upload` refuses an upload the register cannot take
(size, zip expansion, not .xlsx, header, required columns, row count) with its Chinese reason before anything is
written, and :func:`rows_to_fix_workbook` gives the rows an import did not take back as the template plus 原行号
and 错误原因, to fix and upload again.

Export: :func:`export_workbook` writes a filtered list (the list services' own filters, so the same jurisdiction
scoping) with ID and phone numbers masked, refuses more than :data:`MAX_EXPORT_ROWS` rows, and is audited with
its filters and row count.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import write_after_read
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, scoped
from zhili.core.masking import mask_id_number, mask_phone, mask_text
from zhili.core.security import Perm
from zhili.core.xlsx import row_values
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import today, valid_on
from zhili.registry import service
from zhili.registry.fields import (
    BUILDING_TYPES,
    COLUMNS,
    GENDERS,
    HOUSEHOLD_USES,
    KIND_LABELS,
    ORG_TYPES,
    PERSON_STATUSES,
    RESIDENT_TYPES,
    Field,
)
from zhili.registry.models import CARE_TAGS, RELATIONS, Building, Entrance, Household, RegisterKind

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
MAX_EXPANDED_BYTES = 80 * 1024 * 1024  # what the .xlsx (a zip) may unpack to: refuses decompression bombs
MAX_EXPORT_ROWS = 50_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REASON_HEADER = "错误原因"
ROW_HEADER = "原行号"
SHOWN_REJECTED = 200  # rejected rows shown on the batch page (all are in the download)

_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(italic=True, color="666666")


def _headers(kind: RegisterKind) -> list[str]:
    return [f.label + ("*" if f.required else "") for f in COLUMNS[kind]]


def _text_columns(kind: RegisterKind) -> set[str]:
    """Columns Excel must keep as text (long digit strings lose digits as numbers)."""
    return {f.key for f in COLUMNS[kind] if f.kind in ("id_number", "mobile", "credit_code", "ref")
            or f.key in ("room", "code")}


def _sheet(wb: Workbook, title: str, kind: RegisterKind, extra: Sequence[str] = ()) -> Any:
    ws = wb.active
    ws.title = title
    headers = _headers(kind) + list(extra)
    ws.append(row_values(headers))
    text_cols = _text_columns(kind)
    for i, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = _HEAD_FONT, _HEAD_FILL
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(10, min(40, len(h) * 2 + 4))
        if i <= len(COLUMNS[kind]) and COLUMNS[kind][i - 1].key in text_cols:
            ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A2"
    return ws


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- the template -----------------------------------------------------------------------------------------------

def _example_grid(session: Session, principal: Principal) -> str | None:
    stmt = scoped(select(Unit.code), principal, Unit.path).where(Unit.level == UnitLevel.grid,
                                                                 valid_on(Unit, today()))
    return session.scalar(stmt.order_by(Unit.path).limit(1))


def template_workbook(session: Session, *, principal: Principal, kind: RegisterKind) -> bytes:
    """The import template: Chinese headers (* = required), an example row that is skipped on import while
    it is left unchanged, and a sheet explaining every column."""
    authorize(principal, Perm.registry_write)
    grid = _example_grid(session, principal)
    wb = Workbook()
    ws = _sheet(wb, KIND_LABELS[kind], kind)
    example = [grid if f.key == "grid" and grid else f.example for f in COLUMNS[kind]]
    ws.append(row_values(example))
    for cell in ws[2]:
        cell.font = _EXAMPLE_FONT
    notes = wb.create_sheet("填写说明")
    notes.append(row_values(["列名", "是否必填", "填写说明", "示例"]))
    for cell in notes[1]:
        cell.font, cell.fill = _HEAD_FONT, _HEAD_FILL
    for f in COLUMNS[kind]:
        explain = f.note
        if f.kind == "choice":
            explain = (explain + "；" if explain else "") + "可选：" + "、".join(f.choices.values())
        notes.append(row_values([f.label, "必填" if f.required else "选填", explain, f.example]))
    notes.append(row_values([]))
    notes.append(row_values([f"第2行是示例，内容不改动时导入会跳过它。每次最多导入 {MAX_IMPORT_ROWS} 行、文件不超过 "
                  f"{MAX_IMPORT_BYTES // 1024 // 1024}MB。有问题的行不会导入，可在导入结果中下载"
                  f"（带“{REASON_HEADER}”列），修改后重新导入。"]))
    for letter, width in (("A", 18), ("B", 10), ("C", 70), ("D", 24)):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    return _save(wb)


# -- reading an upload -------------------------------------------------------------------------------------------

def _normalise_header(value: Any) -> str:
    text = str(value or "").strip().replace("（必填）", "").replace("(必填)", "")
    return text.rstrip("*＊ ").strip()


def _read_upload(kind: RegisterKind, data: bytes) -> tuple[dict[int, Field], list[tuple[int, list[Any]]]]:
    """The columns found (position → field) and the non-empty data rows (row number, cells) of an upload."""
    if not data:
        raise ValidationFailed("上传的文件是空的", code="import_empty")
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"文件超过 {MAX_IMPORT_BYTES // 1024 // 1024}MB 上限，请拆分后分批导入",
                               code="import_too_large")
    not_xlsx = ValidationFailed("无法读取该文件：请上传 Excel 2007 及以上版本的 .xlsx 文件（不支持 .xls、.csv）",
                                code="import_not_xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            expanded = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise not_xlsx from None
    if expanded > MAX_EXPANDED_BYTES:
        raise ValidationFailed("文件解压后内容过大，请拆分后分批导入", code="import_too_large")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError):
        raise not_xlsx from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None) or ()
        by_label = {f.label: f for f in COLUMNS[kind]}
        columns: dict[int, Field] = {}
        for i, value in enumerate(header):
            f = by_label.get(_normalise_header(value))
            if f is None:
                continue  # 错误原因, 原行号 and other extra columns are ignored
            if f in columns.values():
                raise ValidationFailed(f"表头中“{f.label}”列出现了两次", code="import_bad_header")
            columns[i] = f
        if not columns:
            raise ValidationFailed(f"第1行表头与{KIND_LABELS[kind]}导入模板不符，请下载模板后按模板填写",
                                   code="import_bad_header")
        missing = [f.label for f in COLUMNS[kind] if f.required and f not in columns.values()]
        if missing:
            raise ValidationFailed(f"缺少必需的列：{'、'.join(missing)}，请使用导入模板", code="import_bad_header")
        width = max(columns) + 1
        out: list[tuple[int, list[Any]]] = []
        for number, row in enumerate(rows, start=2):
            cells = list(row[:width]) + [None] * (width - len(row[:width]))
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            if len(out) >= MAX_IMPORT_ROWS:
                raise ValidationFailed(f"文件的数据超过 {MAX_IMPORT_ROWS} 行上限，请拆分后分批导入",
                                       code="import_too_many_rows")
            out.append((number, cells))
    finally:
        wb.close()
    return columns, out


def check_upload(kind: RegisterKind, data: bytes) -> int:
    """Refuse, before anything is written, an upload the register import cannot take: empty, over
    :data:`MAX_IMPORT_BYTES`, unpacking to more than :data:`MAX_EXPANDED_BYTES`, not an .xlsx, without the
    template's header or its required columns, or with more than :data:`MAX_IMPORT_ROWS` data rows (each with its
    own Chinese message and code). Returns the number of non-empty data rows."""
    _, rows = _read_upload(kind, data)
    return len(rows)


def header_label(header: Any) -> str:
    """A header cell as the column label it names (``姓名*`` and ``姓名（必填）`` read as ``姓名``)."""
    return _normalise_header(header)


# -- the rows to fix ---------------------------------------------------------------------------------------------

def rows_to_fix_workbook(kind: RegisterKind, rows: Sequence[tuple[int, str, Sequence[Any]]]) -> bytes:
    """Rows an import did not take — (original row number, Chinese reason, cells in the template's column order) —
    as the import template plus 原行号 and 错误原因: fixed and uploaded again, it imports like any other file (the
    two extra columns are ignored)."""
    wb = Workbook()
    ws = _sheet(wb, f"{KIND_LABELS[kind]}-未导入", kind, [ROW_HEADER, REASON_HEADER])
    as_text = [f.key in _text_columns(kind) for f in COLUMNS[kind]]
    for number, reason, cells in rows:
        ws.append(row_values([_cell(c, text) for c, text in zip(cells, as_text, strict=True)] + [number, reason]))
    return _save(wb)


def _cell(value: Any, text: bool) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 13812345678.0 as typed, not as Python prints it
    return str(value) if value is not None and text else value


# -- export ------------------------------------------------------------------------------------------------------

EXPORT_FILTERS: dict[RegisterKind, frozenset[str]] = {
    RegisterKind.buildings: frozenset({"unit_id", "q", "building_type"}),
    RegisterKind.households: frozenset({"unit_id", "q", "use", "building_id"}),
    RegisterKind.persons: frozenset({"unit_id", "household_id", "name", "id_number", "phone", "resident_type",
                                     "care_tag", "status", "min_age", "max_age"}),
    RegisterKind.organisations: frozenset({"unit_id", "q", "org_type", "credit_code"}),
}
_LISTS: dict[RegisterKind, Callable[..., tuple[list[Any], int]]] = {
    RegisterKind.buildings: service.list_buildings, RegisterKind.households: service.list_households,
    RegisterKind.persons: service.list_persons, RegisterKind.organisations: service.list_organisations,
}


def _chunks(ids: Iterable[Any], size: int = 900) -> Iterable[list[Any]]:
    items = list(ids)
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _lookup(session: Session, columns: tuple[Any, ...], ids: Iterable[Any]) -> dict[Any, tuple[Any, ...]]:
    """{id: (other columns…)} for the given ids (in chunks, for long IN lists)."""
    key, *rest = columns
    out: dict[Any, tuple[Any, ...]] = {}
    for chunk in _chunks({i for i in ids if i is not None}):
        for row in session.execute(select(key, *rest).where(key.in_(chunk))):
            out[row[0]] = tuple(row[1:])
    return out


def _fmt(value: Any) -> Any:
    return "" if value is None else value


def _export_rows(session: Session, kind: RegisterKind, rows: list[Any]) -> tuple[list[str], list[list[Any]]]:
    grids = _lookup(session, (Unit.id, Unit.code, Unit.name), (r.grid_id for r in rows))

    def grid_cells(r: Any) -> list[Any]:
        code, name = grids.get(r.grid_id, ("", ""))
        return [code, name]

    if kind == RegisterKind.buildings:
        return (["网格代码", "网格名称", "楼栋名称", "地址", "小区", "楼栋编码", "类型", "层数", "经度", "纬度",
                 "备注"],
                [[*grid_cells(b), b.name, b.address, _fmt(b.compound), _fmt(b.code),
                  BUILDING_TYPES.get(b.building_type.value, b.building_type.value), _fmt(b.floors), _fmt(b.lon),
                  _fmt(b.lat), _fmt(b.note)] for b in rows])
    if kind == RegisterKind.households:
        buildings = _lookup(session, (Building.id, Building.code, Building.address, Building.name),
                            (h.building_id for h in rows))
        entrances = _lookup(session, (Entrance.id, Entrance.name), (h.entrance_id for h in rows))
        out = []
        for h in rows:
            bcode, baddr, bname = buildings.get(h.building_id, ("", "", ""))
            out.append([*grid_cells(h), _fmt(bcode), baddr, bname, entrances.get(h.entrance_id, ("",))[0], h.room,
                        h.address, HOUSEHOLD_USES.get(h.use.value, h.use.value), _fmt(h.area_m2), _fmt(h.note)])
        return (["网格代码", "网格名称", "楼栋编码", "楼栋地址", "楼栋名称", "单元", "室号", "房屋地址", "用途",
                 "面积（平方米）", "备注"], out)
    if kind == RegisterKind.persons:
        homes = _lookup(session, (Household.id, Household.address), (p.household_id for p in rows))
        out = []
        for p in rows:
            view = service.person_view(p)
            out.append([*grid_cells(p), p.name, GENDERS.get(p.gender.value, ""), p.birth_date.isoformat(),
                        view["age"], view["id_number"], _fmt(view["phone"]), _fmt(p.ethnicity),
                        RELATIONS.get(p.relation or "", _fmt(p.relation)),
                        RESIDENT_TYPES.get(p.resident_type.value, ""),
                        "、".join(CARE_TAGS.get(t, t) for t in p.care_tags or []),
                        PERSON_STATUSES.get(p.status.value, ""), homes.get(p.household_id, ("",))[0], _fmt(p.note)])
        return (["网格代码", "网格名称", "姓名", "性别", "出生日期", "年龄", "身份证号（脱敏）", "手机号（脱敏）",
                 "民族", "与户主关系", "人口类型", "关爱标签", "状态", "房屋地址", "备注"], out)
    out = []
    for o in rows:
        view = service.organisation_view(o)
        out.append([*grid_cells(o), o.name, _fmt(o.credit_code), ORG_TYPES.get(o.org_type.value, ""),
                    _fmt(o.industry), o.address, _fmt(o.legal_rep), _fmt(o.contact_name),
                    _fmt(view["contact_phone"]),
                    _fmt(o.employees), _fmt(o.lon), _fmt(o.lat)])
    return (["网格代码", "网格名称", "名称", "统一社会信用代码", "类型", "行业", "地址", "法定代表人", "联系人",
             "联系电话（脱敏）", "从业人数", "经度", "纬度"], out)


# An ID number or phone an export was filtered by is recorded masked (as a log line would be).
_AUDIT_MASK: dict[str, Callable[[str], str | None]] = {"id_number": mask_id_number, "phone": mask_phone}


def export_workbook(session: Session, *, principal: Principal, kind: RegisterKind,
                    filters: Mapping[str, Any]) -> tuple[bytes, int]:
    """A filtered register list as a workbook (scoped like the list, personal data masked, audited as an export
    with its filters and row count); refuses more than :data:`MAX_EXPORT_ROWS` rows."""
    authorize(principal, Perm.registry_read)
    given = {k: v for k, v in filters.items() if v not in (None, "")}
    unknown = sorted(set(given) - EXPORT_FILTERS[kind])
    if unknown:
        raise ValidationFailed(f"导出{KIND_LABELS[kind]}不支持这些筛选条件：{'、'.join(unknown)}",
                               code="bad_export_filter", details={"allowed": sorted(EXPORT_FILTERS[kind])})
    list_rows = _LISTS[kind]
    _, total = list_rows(session, principal=principal, page=1, page_size=1, **given)
    if total > MAX_EXPORT_ROWS:
        raise ValidationFailed(f"符合条件的{KIND_LABELS[kind]}共 {total} 条，超过单次导出上限 {MAX_EXPORT_ROWS} 条，"
                               "请缩小筛选范围（如按街道、社区分别导出）", code="export_too_large",
                               details={"total": total, "limit": MAX_EXPORT_ROWS})
    rows, _ = list_rows(session, principal=principal, page=1, page_size=max(total, 1), **given)
    headers, table = _export_rows(session, kind, rows)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(KIND_LABELS[kind])
    ws.append(row_values(headers))
    for line in table:
        ws.append(row_values(line))
    after = {"filters": {k: _AUDIT_MASK.get(k, mask_text)(str(getattr(v, "value", v)))
                         for k, v in given.items() if v is not None}, "rows": len(table)}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="registry.export",
                                                     object_type=kind.value, after=after))
    return _save(wb), len(table)
