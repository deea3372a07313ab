"""Excel import and export of the base registers (楼栋、房屋、人员、组织).

Import: :func:`import_workbook` reads an uploaded .xlsx (size, row count and zip expansion are limited), reads
every row with the same rules as the API (:mod:`zhili.registry.fields`, the API's request schemas and the
register service functions), imports the valid rows in the caller's transaction and keeps every rejected row —
its row number, its Chinese reason and its cells (encrypted, they may hold ID and phone numbers) — in an
:class:`~zhili.registry.models.ImportBatch`. A row is read and checked completely before anything of it is
written; rows are written in chunks under one savepoint each, and a chunk in which a register service refuses a
row is undone and done again with a savepoint per row, so a refused row leaves nothing behind while the others
stay.

Re-importing a record that already exists *updates* it instead of creating a duplicate: the same ID number
(found through the blind index) for persons, the same credit code (or name and address) for organisations, the
same building code (or address and name) for buildings, the same building, unit and room for households. Only
non-empty cells change the stored record; a record of that key outside the caller's jurisdiction rejects the
row. A key repeated inside one file rejects the later row.

Export: :func:`export_workbook` writes a filtered list (the list services' own filters, so the same jurisdiction
scoping) with ID and phone numbers masked, refuses more than :data:`MAX_EXPORT_ROWS` rows, and is audited with
its filters and row count.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.db import write_after_read
from zhili.core.errors import DomainError, NotFound, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, scoped
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
    FieldError,
    check_schema,
    coerce,
    join_errors,
    mask_cells,
)
from zhili.registry.models import (
    CARE_TAGS,
    RELATIONS,
    Building,
    Entrance,
    Household,
    ImportBatch,
    ImportRejectedRow,
    Organisation,
    Person,
    RegisterKind,
)
from zhili.registry.schemas import (
    BuildingIn,
    BuildingPatch,
    HouseholdIn,
    HouseholdPatch,
    OrganisationIn,
    OrganisationPatch,
    PersonIn,
    PersonPatch,
)

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


def _example_row(kind: RegisterKind) -> list[str]:
    return [f.example for f in COLUMNS[kind]]


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


def _cell_text(value: Any) -> Any:
    """A cell as stored with a rejected row (JSON-safe; numbers stay numbers)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 13812345678.0 as typed, not as Python prints it
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# -- importing ---------------------------------------------------------------------------------------------------

class _Skip(Exception):
    """This row is rejected; ``reason`` says why (Chinese)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Import:
    """One import run: the caller, lookup caches and the keys seen so far in the file."""

    session: Session
    principal: Principal
    kind: RegisterKind
    grids: dict[str, Unit | str] = field(default_factory=dict)
    buildings: dict[tuple[Any, ...], Building | str] = field(default_factory=dict)
    seen: dict[Any, int] = field(default_factory=dict)

    # -- references typed in the file ------------------------------------------------------------------------

    def grid(self, text: str) -> Unit:
        """A current grid in jurisdiction, by code or name."""
        found = self.grids.get(text)
        if found is None:
            stmt = scoped(select(Unit), self.principal, Unit.path).where(
                Unit.level == UnitLevel.grid, valid_on(Unit, today()), (Unit.code == text) | (Unit.name == text))
            rows = list(self.session.scalars(stmt.limit(3)))
            if not rows:
                found = f"网格“{text}”不存在或不在您的管辖范围内"
            elif len(rows) > 1 and not any(u.code == text for u in rows):
                found = f"网格名称“{text}”对应多个网格，请填写网格代码"
            else:
                found = next((u for u in rows if u.code == text), rows[0])
            self.grids[text] = found
        if isinstance(found, str):
            raise _Skip(found)
        return found

    def building(self, values: Mapping[str, Any]) -> Building | None:
        """The building a row names (by code, or by address and name), in jurisdiction; None if none named."""
        code, address, name = values.get("building_code"), values.get("building_address"), values.get("building_name")
        if not (code or address or name):
            return None
        if not code and not (address and name):
            raise _Skip("请填写楼栋编码，或同时填写楼栋地址和楼栋名称")
        key: tuple[Any, ...] = ("code", code) if code else ("address", address, name)
        found = self.buildings.get(key)
        if found is None:
            stmt = scoped(select(Building), self.principal, Building.path)
            if code:
                rows = list(self.session.scalars(stmt.where(Building.code == code).limit(2)))
                found = rows[0] if rows else f"楼栋编码“{code}”不存在或不在您的管辖范围内"
            else:
                rows = list(self.session.scalars(stmt.where(Building.address == address, Building.name == name)
                                                 .limit(2)))
                found = (rows[0] if len(rows) == 1 else
                         f"没有找到地址为“{address}”、名称为“{name}”的楼栋（或不在您的管辖范围内）" if not rows else
                         f"地址为“{address}”、名称为“{name}”的楼栋有多个，请填写楼栋编码")
            self.buildings[key] = found
        if isinstance(found, str):
            raise _Skip(found)
        return found

    def entrance(self, building: Building, name: str | None) -> Entrance | None:
        """The building's stairwell unit of that name (None when no name is given or there is none)."""
        if not name:
            return None
        return self.session.scalar(select(Entrance).where(Entrance.building_id == building.id,
                                                          Entrance.name == name))

    def household(self, building: Building, entrance_name: str | None, room: str | None) -> Household:
        if not room:
            raise _Skip("填写了楼栋时请同时填写室号")
        stmt = select(Household).where(Household.building_id == building.id, Household.room == room)
        e = self.entrance(building, entrance_name)
        if entrance_name and e is None:
            raise _Skip(f"楼栋“{building.name}”没有“{entrance_name}”")
        if e is not None:
            stmt = stmt.where(Household.entrance_id == e.id)
        rows = list(self.session.scalars(stmt.limit(2)))
        if not rows:
            raise _Skip(f"楼栋“{building.name}”没有室号“{room}”，请先导入房屋")
        if len(rows) > 1:
            raise _Skip(f"楼栋“{building.name}”有多个室号“{room}”，请填写单元")
        return rows[0]

    def once(self, key: Any, row: int, what: str) -> None:
        """Reject a row whose key an earlier row of the file already used."""
        first = self.seen.setdefault(key, row)
        if first != row:
            raise _Skip(f"与第{first}行{what}重复")


def _values(kind: RegisterKind, columns: Mapping[int, Field], cells: list[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for i, f in columns.items():
        try:
            values[f.key] = coerce(f, cells[i])
        except FieldError as exc:
            errors[f.key] = exc.message
            continue
        if f.required and values[f.key] in (None, []):
            errors[f.key] = "必填"
    if errors:
        raise _Skip(join_errors(kind, errors))
    return values


def _schema(kind: RegisterKind, model: type[BaseModel], data: Mapping[str, Any], *, patch: bool = False
            ) -> dict[str, Any]:
    parsed, errors = check_schema(model, {k: v for k, v in data.items() if v is not None}, patch=patch)
    if errors:
        raise _Skip(join_errors(kind, errors))
    return parsed


def _changes(kind: RegisterKind, model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """What a re-imported row changes: its non-empty cells, as the API's patch schema accepts them."""
    fields = set(model.model_fields) - {"version"}
    return _schema(kind, model, {k: v for k, v in data.items() if k in fields and v not in (None, [])}, patch=True)


def _existing_in_scope(run: _Import, obj: Any, what: str) -> bool:
    """True if a record with the row's key exists (and is the caller's to update); out of scope rejects."""
    if obj is not None and not in_scope(run.principal, obj.path):
        raise _Skip(f"该{what}已由其他辖区登记，不在您的管辖范围内，不能导入")
    return obj is not None


def _import_building(run: _Import, row: int, v: dict[str, Any]) -> bool:
    grid = run.grid(v["grid"]) if v.get("grid") else None
    if grid is None and (v.get("lon") is None or v.get("lat") is None):
        raise _Skip("网格：请填写网格，或填写经纬度以自动定位")
    data = {k: v.get(k) for k in ("code", "compound", "name", "address", "building_type", "floors", "lon", "lat",
                                  "note")}
    if v.get("code"):
        run.once(("code", v["code"]), row, "的楼栋编码")
        existing = run.session.scalar(select(Building).where(Building.code == v["code"]))
    else:
        run.once(("address", v["address"], v["name"]), row, "的楼栋（地址和名称相同）")
        stmt = scoped(select(Building), run.principal, Building.path)
        existing = run.session.scalar(stmt.where(Building.address == v["address"], Building.name == v["name"])
                                      .limit(1))
    if existing is not None and _existing_in_scope(run, existing, "楼栋编码"):
        service.update_building(run.session, principal=run.principal, building_id=existing.id,
                                changes=_changes(run.kind, BuildingPatch, data))
        return False
    parsed = _schema(run.kind, BuildingIn, {**data, "grid_id": grid.id if grid else None})
    service.create_building(run.session, principal=run.principal, data=parsed)
    return True


def _import_household(run: _Import, row: int, v: dict[str, Any]) -> bool:
    building = run.building(v)
    if building is None:
        raise _Skip("请填写楼栋编码，或同时填写楼栋地址和楼栋名称")
    run.once(("room", building.id, v.get("entrance"), v["room"]), row, "的房屋（楼栋、单元、室号相同）")
    entrance = run.entrance(building, v.get("entrance"))
    data = {k: v.get(k) for k in ("room", "address", "use", "area_m2", "note")}
    existing = None if v.get("entrance") and entrance is None else run.session.scalar(select(Household).where(
        Household.building_id == building.id, Household.room == v["room"],
        Household.entrance_id == entrance.id if entrance else Household.entrance_id.is_(None)).limit(1))
    if existing is not None:
        service.update_household(run.session, principal=run.principal, household_id=existing.id,
                                 changes=_changes(run.kind, HouseholdPatch, data))
        return False
    parsed = _schema(run.kind, HouseholdIn, {**data, "building_id": building.id})
    if v.get("entrance") and entrance is None:  # a unit the building does not have yet is added
        entrance = service.add_entrance(run.session, principal=run.principal, building_id=building.id,
                                        name=v["entrance"])
    parsed["entrance_id"] = entrance.id if entrance else None
    service.create_household(run.session, principal=run.principal, data=parsed)
    return True


def _import_person(run: _Import, row: int, v: dict[str, Any]) -> bool:
    run.once(("id", v["id_number"]), row, "的身份证号")
    building = run.building(v)
    household = run.household(building, v.get("entrance"), v.get("room")) if building else None
    grid = run.grid(v["grid"]) if v.get("grid") and household is None else None
    if household is None and grid is None:
        raise _Skip("请填写所住房屋（楼栋和室号），或填写网格")
    data = {k: v.get(k) for k in ("name", "phone", "ethnicity", "relation", "resident_type", "note")}
    data["care_tags"] = v.get("care_tags") or None
    data["household_id"] = household.id if household else None
    bidx = get_cipher().blind_index(v["id_number"], purpose=service.ID_PURPOSE)
    existing = run.session.scalar(select(Person).where(Person.id_number_bidx == bidx))
    if existing is not None and _existing_in_scope(run, existing, "身份证号码"):
        service.update_person(run.session, principal=run.principal, person_id=existing.id,
                              changes=_changes(run.kind, PersonPatch, data))
        return False
    parsed = _schema(run.kind, PersonIn, {**data, "id_number": v["id_number"],
                                          "grid_id": grid.id if grid else None})
    service.create_person(run.session, principal=run.principal, data=parsed)
    return True


def _import_organisation(run: _Import, row: int, v: dict[str, Any]) -> bool:
    grid = run.grid(v["grid"]) if v.get("grid") else None
    if grid is None and (v.get("lon") is None or v.get("lat") is None):
        raise _Skip("网格：请填写网格，或填写经纬度以自动定位")
    building = run.building({"building_code": v.get("building_code")})
    data = {k: v.get(k) for k in ("name", "org_type", "industry", "address", "legal_rep", "contact_name",
                                  "contact_phone", "employees", "lon", "lat")}
    if v.get("credit_code"):
        run.once(("credit", v["credit_code"]), row, "的统一社会信用代码")
        existing = run.session.scalar(select(Organisation).where(Organisation.credit_code == v["credit_code"]))
    else:
        run.once(("org", v["name"], v["address"]), row, "的组织（名称和地址相同）")
        stmt = scoped(select(Organisation), run.principal, Organisation.path)
        existing = run.session.scalar(stmt.where(Organisation.name == v["name"],
                                                 Organisation.address == v["address"]).limit(1))
    if existing is not None and _existing_in_scope(run, existing, "统一社会信用代码"):
        service.update_organisation(run.session, principal=run.principal, organisation_id=existing.id,
                                    changes=_changes(run.kind, OrganisationPatch, data))
        return False
    parsed = _schema(run.kind, OrganisationIn, {**data, "credit_code": v.get("credit_code"),
                                                "grid_id": grid.id if grid else None,
                                                "building_id": building.id if building else None})
    service.create_organisation(run.session, principal=run.principal, data=parsed)
    return True


_IMPORTERS: dict[RegisterKind, Callable[[_Import, int, dict[str, Any]], bool]] = {
    RegisterKind.buildings: _import_building, RegisterKind.households: _import_household,
    RegisterKind.persons: _import_person, RegisterKind.organisations: _import_organisation,
}


IMPORT_CHUNK = 200  # rows sharing one savepoint (PostgreSQL slows down past 64 subtransactions per transaction)


class _Redo(Exception):
    """A service refused a row of a chunk after other rows of it were written: do the chunk row by row."""


@dataclass
class _Row:
    number: int
    canonical: list[Any]
    cells: list[Any]


def _import_chunk(run: _Import, columns: Mapping[int, Field], chunk: list[_Row], *, row_by_row: bool
                  ) -> list[tuple[_Row, bool | str]]:
    """Import a chunk of rows in one savepoint: (row, created? or the Chinese reason it was rejected) each.

    Rows refused while they are read (:class:`_Skip`: nothing of them is written yet) are rejected in place. A
    refusal by a register service may come after writes, so then the chunk is undone and — ``row_by_row`` —
    done again with a savepoint per row."""
    outcomes: list[tuple[_Row, bool | str]] = []
    seen = dict(run.seen)
    try:
        with run.session.begin_nested():
            for row in chunk:
                try:
                    values = _values(run.kind, columns, row.cells)
                    if row_by_row:
                        with run.session.begin_nested():
                            outcomes.append((row, _IMPORTERS[run.kind](run, row.number, values)))
                    else:
                        outcomes.append((row, _IMPORTERS[run.kind](run, row.number, values)))
                except _Skip as exc:
                    outcomes.append((row, exc.reason))
                except DomainError as exc:
                    if not row_by_row:
                        raise _Redo from exc
                    outcomes.append((row, exc.message))
                except IntegrityError as exc:
                    if not row_by_row:
                        raise _Redo from exc
                    outcomes.append((row, "与已有记录冲突（重复登记）"))
    except _Redo:
        run.seen = seen
        return _import_chunk(run, columns, chunk, row_by_row=True)
    return outcomes


def import_workbook(session: Session, *, principal: Principal, kind: RegisterKind, data: bytes,
                    filename: str) -> ImportBatch:
    """Import an uploaded workbook: valid rows are created or updated, every other row is kept with its reason."""
    authorize(principal, Perm.registry_write)
    columns, rows = _read_upload(kind, data)
    cipher = get_cipher()
    batch = ImportBatch(id=new_id(), kind=kind, user_id=principal.user_id, filename=(filename or "")[:255],
                        total_rows=0, created_rows=0, updated_rows=0, rejected_rows=0)
    session.add(batch)
    session.flush()
    run = _Import(session=session, principal=principal, kind=kind)
    example = _example_row(kind)
    order = {f.key: i for i, f in enumerate(COLUMNS[kind])}
    pending: list[_Row] = []
    for number, cells in rows:
        canonical: list[Any] = [None] * len(COLUMNS[kind])
        for i, f in columns.items():
            canonical[order[f.key]] = _cell_text(cells[i])
        if number == 2 and all(f.key == "grid" or str(canonical[order[f.key]] or "") == example[order[f.key]]
                               for f in COLUMNS[kind]):
            continue  # the template's example row, left as it was
        pending.append(_Row(number, canonical, cells))
    rejected: list[ImportRejectedRow] = []
    for start in range(0, len(pending), IMPORT_CHUNK):
        for row, outcome in _import_chunk(run, columns, pending[start:start + IMPORT_CHUNK], row_by_row=False):
            if outcome is True:
                batch.created_rows += 1
            elif outcome is False:
                batch.updated_rows += 1
            else:
                row_id = new_id()
                rejected.append(ImportRejectedRow(
                    id=row_id, batch_id=batch.id, row_number=row.number, reason=str(outcome),
                    cells_enc=cipher.encrypt(json.dumps(row.canonical, ensure_ascii=False),
                                             table="import_rejected_row", column="cells", row_id=row_id)))
    batch.total_rows = len(pending)
    batch.rejected_rows = len(rejected)
    session.add_all(rejected)
    session.flush()
    audit.record(session, actor=principal.actor, action="registry.import", object_type="import_batch",
                 object_id=batch.id, after={"kind": kind.value, "filename": batch.filename,
                                            "rows": batch.total_rows, "created": batch.created_rows,
                                            "updated": batch.updated_rows, "rejected": batch.rejected_rows})
    return batch


# -- import batches ---------------------------------------------------------------------------------------------

def get_import_batch(session: Session, *, principal: Principal, batch_id: uuid.UUID) -> ImportBatch:
    """One of the caller's own import batches (a batch holds what its uploader typed: nobody else sees it)."""
    authorize(principal, Perm.registry_write)
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.user_id != principal.user_id:
        raise NotFound("导入批次不存在")
    return batch


def list_import_batches(session: Session, *, principal: Principal, limit: int = 20) -> list[ImportBatch]:
    """The caller's latest import batches, newest first."""
    authorize(principal, Perm.registry_write)
    return list(session.scalars(select(ImportBatch).where(ImportBatch.user_id == principal.user_id)
                                .order_by(ImportBatch.created_at.desc()).limit(limit)))


def _rejected(session: Session, batch: ImportBatch, limit: int | None = None) -> list[tuple[int, str, list[Any]]]:
    cipher = get_cipher()
    stmt = select(ImportRejectedRow).where(ImportRejectedRow.batch_id == batch.id).order_by(
        ImportRejectedRow.row_number)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(r.row_number, r.reason, json.loads(cipher.decrypt(r.cells_enc, table="import_rejected_row",
                                                               column="cells", row_id=r.id)))
            for r in session.scalars(stmt)]


def batch_view(session: Session, *, batch: ImportBatch, limit: int | None = None) -> dict[str, Any]:
    """A batch as pages and the API show it: counts and the rejected rows (ID and phone numbers masked)."""
    headers = [f.label for f in COLUMNS[batch.kind]]
    return {
        "id": batch.id, "kind": batch.kind, "kind_label": KIND_LABELS[batch.kind], "filename": batch.filename,
        "created_at": batch.created_at, "total_rows": batch.total_rows, "created_rows": batch.created_rows,
        "updated_rows": batch.updated_rows, "rejected_rows": batch.rejected_rows, "headers": headers,
        "rejected": [{"row_number": n, "reason": reason, "cells": mask_cells(batch.kind, cells, headers)}
                     for n, reason, cells in _rejected(session, batch, limit)],
    }


def rejected_workbook(session: Session, *, principal: Principal, batch_id: uuid.UUID) -> bytes:
    """The rejected rows of the caller's own batch as the template plus 原行号 and 错误原因, to fix and re-upload.
    The uploader gets back what they typed (unmasked, so it can be corrected); the download is audited."""
    authorize(principal, Perm.registry_write)
    batch = get_import_batch(session, principal=principal, batch_id=batch_id)
    wb = Workbook()
    ws = _sheet(wb, f"{KIND_LABELS[batch.kind]}-未导入", batch.kind, [ROW_HEADER, REASON_HEADER])
    rows = _rejected(session, batch)
    as_text = [f.key in _text_columns(batch.kind) for f in COLUMNS[batch.kind]]
    for number, reason, cells in rows:
        ws.append(row_values([str(c) if c is not None and text else c for c, text in zip(cells, as_text, strict=True)]
                             + [number, reason]))
    write_after_read(session, lambda s: audit.record(
        s, actor=principal.actor, action="registry.import_rejected_download", object_type="import_batch",
        object_id=batch.id, after={"rows": len(rows)}))
    return _save(wb)


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
