"""Loading a district's own region tree from a file: province/city/district codes (GB/T 2260), streets and
communities (statistical codes), grids, with or without boundaries.

Without it a fresh installation has no units, so no staff account — the first administrator included — can be
made (every staff account is bound to a unit). ``zhili regions import FILE`` is the first step of a real install
(docs/deploy.md); the admin pages then keep the tree.

Rules:
- Rows come from a GeoJSON FeatureCollection (properties ``code``, ``name``, ``level``, ``parent_code``; the
  feature's geometry is the boundary) or a CSV (the same columns, Chinese headers accepted, an optional
  ``boundary`` column of GeoJSON geometry text). Levels are the enum values or their Chinese names.
- Parents before children whatever the file's order; each row in a savepoint of its own, so a refused row loses
  nothing else and is reported with its line and a Chinese reason; the children of a refused row are refused
  naming it. Nothing is partly written for a row (its unit and boundary go together).
- A code already current with the same name, level and parent is left as it is (a second run changes nothing); a
  different name or place is refused — renames and moves are the admin pages' (they keep history).
- A unit without a parent (the tree's top) is made only by the operator at the command line (``principal`` None),
  and only while the tree has no other top: a running district cannot be given a second root. Under a principal,
  parents must lie in its jurisdiction and every unit goes through :func:`zhili.regions.service.create_unit`, with
  its level, code-prefix and boundary-overlap checks and its audit entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm, Role
from zhili.regions import service
from zhili.regions.models import LEVEL_LABELS, OPEN_END, Unit, UnitLevel

MAX_ROWS = 200_000
NAME_MAX = 100
CODE_MAX = 32

# the file's words for a level: the enum values, the labels, and the usual single names
LEVEL_WORDS: dict[str, UnitLevel] = {
    **{lv.value: lv for lv in UnitLevel}, **{label: lv for lv, label in LEVEL_LABELS.items()},
    "省": UnitLevel.province, "自治区": UnitLevel.province, "直辖市": UnitLevel.province,
    "市": UnitLevel.city, "地级市": UnitLevel.city, "州": UnitLevel.city,
    "区": UnitLevel.district, "县": UnitLevel.district, "县级市": UnitLevel.district, "区县": UnitLevel.district,
    "街道": UnitLevel.street, "乡": UnitLevel.street, "镇": UnitLevel.street, "乡镇": UnitLevel.street,
    "社区": UnitLevel.community, "村": UnitLevel.community, "居委会": UnitLevel.community,
    "村委会": UnitLevel.community, "网格": UnitLevel.grid,
}
# CSV headers: Chinese or English
HEADERS = {"代码": "code", "区划代码": "code", "编码": "code", "名称": "name", "层级": "level", "级别": "level",
           "上级代码": "parent_code", "上级": "parent_code", "边界": "boundary"}


@dataclass
class UnitRow:
    """One unit as the file gives it (``line``: the CSV line or the feature's number, for the report)."""

    line: int
    code: str
    name: str
    level: str
    parent_code: str = ""
    boundary: dict[str, Any] | None = None


@dataclass
class Refused:
    line: int
    code: str
    name: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: codes created and left as they were, boundaries set, rows refused with reasons."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    boundaries: int = 0
    refused: list[Refused] = field(default_factory=list)

    def refused_csv(self) -> str:
        """The refused rows with their reasons, as CSV (UTF-8 with BOM, so Excel opens it in Chinese)."""
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["行号", "代码", "名称", "拒收原因"])
        for r in self.refused:
            w.writerow([r.line, r.code, r.name, r.reason])
        return "\ufeff" + out.getvalue()


# -- reading ------------------------------------------------------------------------------------------------

def read_file(path: Path) -> list[UnitRow]:
    """The rows of a ``.geojson``/``.json`` FeatureCollection or a ``.csv`` file; a file that cannot be read as
    either is refused as a whole (:class:`ValidationFailed`, in Chinese)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("文件不是 UTF-8 编码：请另存为 UTF-8 后再导入", code="bad_encoding") from exc
    if path.suffix.lower() in (".geojson", ".json"):
        return read_geojson(text)
    if path.suffix.lower() == ".csv":
        return read_csv(text)
    raise ValidationFailed("只支持 .geojson / .json（要素集合）或 .csv 文件", code="bad_format")


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_geojson(text: str) -> list[UnitRow]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"GeoJSON 无法解析：第 {exc.lineno} 行附近格式错误", code="bad_json") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list):
        raise ValidationFailed("GeoJSON 须为要素集合（FeatureCollection），每个要素是一个单位", code="bad_json")
    rows = []
    for i, feat in enumerate(doc["features"][:MAX_ROWS + 1], start=1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        props = {HEADERS.get(k, k): v for k, v in props.items()}
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        rows.append(UnitRow(line=i, code=_cell(props.get("code")), name=_cell(props.get("name")),
                            level=_cell(props.get("level")), parent_code=_cell(props.get("parent_code")),
                            boundary=geom if isinstance(geom, dict) else None))
    return rows


def read_csv(text: str) -> list[UnitRow]:
    reader = csv.DictReader(io.StringIO(text))
    names = {HEADERS.get(_cell(h), _cell(h)) for h in reader.fieldnames or []}
    missing = [zh for h, zh in (("code", "代码"), ("name", "名称"), ("level", "层级")) if h not in names]
    if missing:
        raise ValidationFailed(f"CSV 缺少列：{'、'.join(missing)}（表头应为 代码,名称,层级,上级代码[,边界]）",
                               code="missing_columns")
    rows = []
    for rec in reader:
        if reader.line_num > MAX_ROWS + 1:
            break
        rec = {HEADERS.get(_cell(k), _cell(k)): v for k, v in rec.items() if k is not None}
        boundary: Any = None
        raw = _cell(rec.get("boundary"))
        if raw:
            try:
                boundary = json.loads(raw)
            except json.JSONDecodeError:
                boundary = raw  # refused when the row is checked, with its line
        rows.append(UnitRow(line=reader.line_num, code=_cell(rec.get("code")), name=_cell(rec.get("name")),
                            level=_cell(rec.get("level")), parent_code=_cell(rec.get("parent_code")),
                            boundary=boundary))
    return rows


# -- importing ----------------------------------------------------------------------------------------------

CLI_PRINCIPAL_NAME = "命令行导入"


def _operator(root_path: str) -> Principal:
    """The command line's operator, scoped to the tree's top once there is one (as a district job's principal)."""
    return Principal(user_id=uuid.UUID(int=0), username="cli", display_name=CLI_PRINCIPAL_NAME, role=Role.admin,
                     scope_paths=(root_path,))


def _top(path: str) -> str:
    """The path of the tree's top a unit lies under (its first segment)."""
    return path.split("/", 1)[0]


def _check(row: UnitRow) -> UnitLevel:
    """The row's own faults (no database needed); its level."""
    if not row.code:
        raise ValidationFailed("缺少代码", code="missing_code")
    if len(row.code) > CODE_MAX or not row.code.isascii() or not row.code.isalnum():
        raise ValidationFailed(f"代码只能是不超过 {CODE_MAX} 位的数字或字母", code="bad_code")
    if not row.name:
        raise ValidationFailed("缺少名称", code="missing_name")
    if len(row.name) > NAME_MAX:
        raise ValidationFailed(f"名称不能超过 {NAME_MAX} 字", code="name_too_long")
    level = LEVEL_WORDS.get(row.level) or LEVEL_WORDS.get(row.level.lower())
    if level is None:
        raise ValidationFailed(f"层级“{row.level[:20]}”无法识别（可用：省、市、区县、街道、社区、网格）",
                               code="bad_level")
    if row.boundary is not None and not isinstance(row.boundary, dict):
        raise ValidationFailed("边界不是有效的 GeoJSON 几何", code="bad_geometry")
    return level


def _current(session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code, Unit.valid_to == OPEN_END))


def _roots(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).where(Unit.parent_id.is_(None), Unit.valid_to == OPEN_END)))


def import_units(session: Session, *, principal: Principal | None, rows: list[UnitRow],
                 valid_from: dt.date | None = None, crs: str = "wgs84") -> ImportReport:
    """Create the units of ``rows`` (see the module's rules); returns the report. ``principal`` None: the operator
    at the command line (who may make the tree's top on an empty installation). The caller commits (a dry run
    rolls back)."""
    if principal is not None:
        authorize(principal, Perm.region_write)
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 个单位", code="too_many_rows")
    start = valid_from or service.today()
    report = ImportReport()
    levels: dict[int, UnitLevel] = {}
    pending: list[UnitRow] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            levels[row.line] = _check(row)
            if row.code in seen:
                raise ValidationFailed(f"代码与第 {seen[row.code]} 行重复", code="duplicate_code")
            seen[row.code] = row.line
            pending.append(row)
        except DomainError as exc:
            report.refused.append(Refused(row.line, row.code, row.name, exc.message))
    refused_codes = {r.code for r in report.refused if r.code}
    # parents first: each pass takes the rows whose parent is now current
    while pending:
        progressed, waiting = False, []
        for row in pending:
            parent = _current(session, row.parent_code) if row.parent_code else None
            if row.parent_code and parent is None:
                if row.parent_code in refused_codes:
                    report.refused.append(Refused(row.line, row.code, row.name,
                                                  f"上级单位 {row.parent_code} 未导入（见其拒收原因）"))
                    refused_codes.add(row.code)
                    progressed = True
                else:
                    waiting.append(row)
                continue
            progressed = True
            try:
                with session.begin_nested():
                    _import_one(session, principal, row, levels[row.line], parent, start, crs, report)
            except DomainError as exc:
                report.refused.append(Refused(row.line, row.code, row.name, exc.message))
                refused_codes.add(row.code)
        if not progressed:
            for row in waiting:
                report.refused.append(Refused(row.line, row.code, row.name,
                                              f"上级代码 {row.parent_code} 在文件和系统中都不存在"))
            break
        pending = waiting
    report.refused.sort(key=lambda r: r.line)
    return report


def _import_one(session: Session, principal: Principal | None, row: UnitRow, level: UnitLevel,
                parent: Unit | None, start: dt.date, crs: str, report: ImportReport) -> None:
    existing = _current(session, row.code)
    if existing is not None:
        same = (existing.name == row.name and existing.level == level
                and existing.parent_id == (parent.id if parent else None))
        if not same:
            raise ValidationFailed(
                f"代码 {row.code} 已是“{existing.name}”（{LEVEL_LABELS[existing.level]}），与文件不同：改名或调整"
                "隶属请在区划管理页面办理（保留历史）", code="unit_differs")
        report.unchanged.append(row.code)
        return
    if parent is None:
        unit = _make_root(session, principal, row, level, start)
    else:
        unit = service.create_unit(session, principal=principal or _operator(_top(parent.path)),
                                   parent_id=parent.id, level=level, code=row.code, name=row.name, valid_from=start)
    if row.boundary is not None:
        service.set_boundary(session, principal=principal or _operator(_top(unit.path)), unit_id=unit.id,
                             geojson=row.boundary, valid_from=start, crs=crs)
        report.boundaries += 1
    report.created.append(row.code)


def _make_root(session: Session, principal: Principal | None, row: UnitRow, level: UnitLevel,
               start: dt.date) -> Unit:
    if principal is not None:
        raise ValidationFailed("顶级单位只能由运维人员在命令行导入（zhili regions import）", code="root_not_allowed")
    roots = _roots(session)
    if roots:
        raise ValidationFailed(f"系统已有顶级单位“{roots[0].name}”（{roots[0].code}），不能再导入另一个顶级单位："
                               "请给该行填写上级代码", code="second_root")
    if level == UnitLevel.grid:
        raise ValidationFailed("网格不能作为顶级单位：请填写上级代码", code="bad_level")
    unit = Unit(parent_id=None, level=level, code=row.code, name=row.name, path=row.code, depth=0,
                valid_from=start, valid_to=OPEN_END, note="命令行导入")
    session.add(unit)
    session.flush()
    audit.record(session, actor=_operator(unit.path).actor, action="unit.create", object_type="unit",
                 object_id=unit.id, after={"code": unit.code, "name": unit.name, "level": level.value,
                                           "parent": None})
    return unit
