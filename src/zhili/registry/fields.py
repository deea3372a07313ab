"""The register fields as people type them — Excel cells and page forms — and how typed text becomes the values
the register services take.

One table per register (:data:`COLUMNS`) names each column in Chinese (the Excel header and the prefix of every
error message), says how its text is read (number, choice by Chinese label, ID number …) and gives the example
value of the import template. :func:`coerce` reads one value, :func:`check_schema` applies the API's own
request schema (lengths, ranges), and :func:`error_field` says which field a service error is about, so the
import and the page forms report exactly what the API would, in Chinese, next to the field concerned.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from zhili.core.errors import DomainError
from zhili.core.validators import validate_credit_code, validate_id_number, validate_mobile
from zhili.registry.models import CARE_TAGS, RELATIONS, RegisterKind

BUILDING_TYPES: dict[str, str] = {
    "residential": "住宅", "commercial": "商业", "mixed": "商住混合", "public": "公共建筑",
    "industrial": "工业厂房", "rural_house": "农村自建房",
}
HOUSEHOLD_USES: dict[str, str] = {"owner_occupied": "自住", "rented": "出租", "vacant": "空置", "business": "经营"}
RESIDENT_TYPES: dict[str, str] = {"registered": "户籍人口", "floating": "流动人口", "foreign": "境外人员"}
PERSON_STATUSES: dict[str, str] = {"active": "在册", "moved_out": "已迁出", "deceased": "已故"}
ORG_TYPES: dict[str, str] = {
    "enterprise": "企业", "individual_business": "个体工商户", "social_org": "社会组织", "government": "机关事业单位",
    "school": "学校", "medical": "医疗机构", "party_org": "党组织", "other": "其他",
}
GENDERS: dict[str, str] = {"male": "男", "female": "女"}
# Short forms people type for some choices (the data hub's rules read them too).
CHOICE_ALIASES: dict[str, str] = {"户籍": "registered", "流动": "floating", "境外": "foreign",
                                  "个体户": "individual_business"}
_ALIASES = CHOICE_ALIASES

KIND_LABELS: dict[RegisterKind, str] = {
    RegisterKind.buildings: "楼栋", RegisterKind.households: "房屋", RegisterKind.persons: "人员",
    RegisterKind.organisations: "组织",
}


class FieldError(Exception):
    """A typed value that cannot be read; ``message`` is Chinese and names no field (the caller adds it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Field:
    """One column of a register as people fill it in."""

    key: str
    label: str
    kind: str = "text"  # text | int | float | choice | tags | id_number | mobile | credit_code | uuid | ref
    required: bool = False
    choices: Mapping[str, str] = field(default_factory=dict)  # stored value → Chinese label
    example: str = ""
    note: str = ""
    pii: bool = False  # ID or phone number: masked whenever shown back


_GRID_NOTE = "网格代码（如 330522001001001）或网格名称；须在您的管辖范围内"
_BUILDING_REF_NOTE = "填楼栋编码，或同时填楼栋地址和楼栋名称（须与已登记的楼栋完全一致）"

COLUMNS: dict[RegisterKind, tuple[Field, ...]] = {
    RegisterKind.buildings: (
        Field("grid", "网格", "ref", example="330522001001001", note=_GRID_NOTE + "；不填时按经纬度定位"),
        Field("name", "楼栋名称", required=True, example="3幢"),
        Field("address", "地址", required=True, example="金陵路8号3幢"),
        Field("compound", "小区", example="金陵小区"),
        Field("code", "楼栋编码", example="JL-008-03", note="选填，全区唯一；再次导入同一编码时更新该楼栋"),
        Field("building_type", "类型", "choice", choices=BUILDING_TYPES, example="住宅"),
        Field("floors", "层数", "int", example="6"),
        Field("lon", "经度", "float", example="119.91", note="WGS-84"),
        Field("lat", "纬度", "float", example="31.01", note="WGS-84"),
        Field("note", "备注"),
    ),
    RegisterKind.households: (
        Field("building_code", "楼栋编码", "ref", example="JL-008-03", note=_BUILDING_REF_NOTE),
        Field("building_address", "楼栋地址", "ref", example="金陵路8号3幢"),
        Field("building_name", "楼栋名称", "ref", example="3幢"),
        Field("entrance", "单元", "ref", example="1单元", note="选填；楼栋还没有该单元时自动新增"),
        Field("room", "室号", required=True, example="301", note="同一楼栋（单元）再次导入同一室号时更新该户"),
        Field("address", "房屋地址", note="不填则由楼栋地址加室号生成"),
        Field("use", "用途", "choice", choices=HOUSEHOLD_USES, example="自住"),
        Field("area_m2", "面积（平方米）", "float", example="89.5"),
        Field("note", "备注"),
    ),
    RegisterKind.persons: (
        Field("name", "姓名", required=True, example="张三"),
        Field("id_number", "身份证号", "id_number", required=True, pii=True, example="330522198506150013",
              note="18位，请设为文本格式；再次导入同一身份证号时更新该人员"),
        Field("phone", "手机号", "mobile", pii=True, example="13800000000"),
        Field("building_code", "楼栋编码", "ref", example="JL-008-03", note="所住房屋：" + _BUILDING_REF_NOTE),
        Field("building_address", "楼栋地址", "ref"),
        Field("building_name", "楼栋名称", "ref"),
        Field("entrance", "单元", "ref"),
        Field("room", "室号", "ref", example="301"),
        Field("grid", "网格", "ref", note="不填房屋时必填：" + _GRID_NOTE),
        Field("relation", "与户主关系", "choice", choices=RELATIONS, example="户主"),
        Field("ethnicity", "民族", example="汉族"),
        Field("resident_type", "人口类型", "choice", choices=RESIDENT_TYPES, example="户籍人口"),
        Field("care_tags", "关爱标签", "tags", choices=CARE_TAGS, example="独居老人",
              note="多个用顿号或逗号分隔，可选：" + "、".join(CARE_TAGS.values())),
        Field("note", "备注"),
    ),
    RegisterKind.organisations: (
        Field("name", "名称", required=True, example="长兴金陵五金店"),
        Field("credit_code", "统一社会信用代码", "credit_code", example="92330522MA2JL0080P",
              note="18位；再次导入同一代码时更新该组织"),
        Field("org_type", "类型", "choice", choices=ORG_TYPES, example="个体工商户"),
        Field("industry", "行业", example="零售"),
        Field("address", "地址", required=True, example="金陵路8号"),
        Field("grid", "网格", "ref", example="330522001001001", note=_GRID_NOTE + "；不填时按经纬度定位"),
        Field("building_code", "楼栋编码", "ref", note="选填：组织所在楼栋的编码"),
        Field("legal_rep", "法定代表人"),
        Field("contact_name", "联系人"),
        Field("contact_phone", "联系电话", "mobile", pii=True),
        Field("employees", "从业人数", "int", example="3"),
        Field("lon", "经度", "float", note="WGS-84"),
        Field("lat", "纬度", "float", note="WGS-84"),
    ),
}

# Labels of the fields that only the schemas know by their id (the forms pick these from lists).
ID_LABELS: dict[str, str] = {"grid_id": "网格", "building_id": "楼栋", "entrance_id": "单元", "household_id": "房屋",
                             "status": "状态", "version": "版本"}


def column(kind: RegisterKind, key: str) -> Field:
    """The field ``key`` of a register."""
    for f in COLUMNS[kind]:
        if f.key == key:
            return f
    raise KeyError(key)


def label_of(kind: RegisterKind, key: str) -> str:
    """The Chinese name of a field (for messages)."""
    try:
        return column(kind, key).label
    except KeyError:
        return ID_LABELS.get(key, key)


# -- reading one value --------------------------------------------------------------------------------------

def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raw = "是" if raw else "否"
    elif isinstance(raw, float) and raw.is_integer():
        raw = str(int(raw))
    elif isinstance(raw, dt.datetime):
        raw = raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat(sep=" ")
    elif isinstance(raw, dt.date):
        raw = raw.isoformat()
    text = str(raw).strip()
    return text or None


def _narrow(text: str) -> str:
    """Full-width digits and letters (as typed with a Chinese input method) as ASCII, spaces removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _choice(f: Field, text: str) -> str:
    if text in f.choices:
        return text
    for value, name in f.choices.items():
        if text == name:
            return value
    if text in _ALIASES and _ALIASES[text] in f.choices:
        return _ALIASES[text]
    raise FieldError(f"“{text}”不是可选的值，可选：{'、'.join(f.choices.values())}")


def _split_tags(raw: Any) -> list[str]:
    if isinstance(raw, (list, tuple)):
        return [t for t in (_text(x) for x in raw) if t]
    text = _text(raw)
    return [t for t in re.split(r"[、,，;；/\s]+", text) if t] if text else []


def coerce(f: Field, raw: Any) -> Any:
    """One typed value (an Excel cell or a form field) as the register services take it; None when empty.

    Raises :class:`FieldError` with a Chinese message when the value cannot be read.
    """
    if f.kind == "tags":
        tags = []
        for t in _split_tags(raw):
            try:
                tags.append(_choice(f, t))
            except FieldError:
                raise FieldError(f"未知的标签“{t}”，可选：{'、'.join(f.choices.values())}") from None
        return sorted(set(tags))
    text = _text(raw)
    if text is None:
        return None
    numeric_cell = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    try:
        if f.kind == "id_number":
            return validate_id_number(_narrow(text))
        if f.kind == "mobile":
            return validate_mobile(_narrow(text))
        if f.kind == "credit_code":
            return validate_credit_code(_narrow(text))
    except DomainError as exc:
        hint = "（该单元格是数字格式，Excel 只保留15位有效数字，请把该列设为文本格式后重新填写）" \
            if numeric_cell and f.kind == "id_number" else ""
        raise FieldError(exc.message + hint) from None
    if f.kind == "int":
        try:
            number = float(_narrow(text))
        except ValueError:
            raise FieldError("应为整数") from None
        if not number.is_integer():
            raise FieldError("应为整数")
        return int(number)
    if f.kind == "float":
        try:
            value = float(_narrow(text))
        except ValueError:
            raise FieldError("应为数字") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise FieldError("应为数字")
        return value
    if f.kind == "choice":
        return _choice(f, text)
    if f.kind == "uuid":
        try:
            return uuid.UUID(text)
        except ValueError:
            raise FieldError("请从列表中选择") from None
    return text


# -- the API's request schema ------------------------------------------------------------------------------

def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _pydantic_message(err: Mapping[str, Any]) -> str:
    ctx = {k: _number(v) for k, v in (err.get("ctx") or {}).items()}
    kind = err.get("type", "")
    if kind == "missing":
        return "必填"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "不能为空" if n <= 1 else f"至少{n}个字"
    if kind == "string_too_long":
        return f"不能超过{ctx.get('max_length')}个字"
    if kind == "greater_than_equal":
        return f"不能小于{ctx.get('ge')}"
    if kind == "greater_than":
        return f"应大于{ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"不能大于{ctx.get('le')}"
    if kind == "less_than":
        return f"应小于{ctx.get('lt')}"
    if kind in ("int_parsing", "int_from_float"):
        return "应为整数"
    if kind == "float_parsing":
        return "应为数字"
    if kind in ("enum", "literal_error"):
        return "不是可选的值"
    if kind == "uuid_parsing":
        return "请从列表中选择"
    return str(err.get("msg", "格式不正确"))


def check_schema(model: type[BaseModel], data: Mapping[str, Any], *, patch: bool = False
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` validated by the API's request schema ``model``: (the values as the API passes them on — all
    fields with their defaults, or for a ``patch`` only those given —, {field: Chinese message})."""
    try:
        parsed = model.model_validate(dict(data))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = err.get("loc") or ("",)
            errors.setdefault(str(loc[0]), _pydantic_message(err))
        return {}, errors
    return parsed.model_dump(exclude_unset=patch), {}


# -- which field a service error is about --------------------------------------------------------------------

_ERROR_FIELDS: dict[str, str] = {
    "id_number_format": "id_number", "id_number_region": "id_number", "id_number_birthdate": "id_number",
    "id_number_checksum": "id_number", "id_number_taken": "id_number",
    "credit_code_format": "credit_code", "credit_code_checksum": "credit_code", "credit_code_taken": "credit_code",
    "grid_required": "grid_id", "not_a_grid": "grid_id", "grid_retired": "grid_id", "point_outside_grids": "lon",
    "household_exists": "room", "entrance_mismatch": "entrance_id", "entrance_exists": "entrance",
    "bad_care_tag": "care_tags", "bad_relation": "relation",
}


def error_field(kind: RegisterKind, exc: DomainError) -> str | None:
    """The form field a service error is about (None: it concerns the record as a whole)."""
    if exc.code == "mobile_format":
        return "contact_phone" if kind == RegisterKind.organisations else "phone"
    if exc.code == "required_field" and isinstance(exc.details, dict):
        return str(exc.details.get("field"))
    return _ERROR_FIELDS.get(exc.code)


def join_errors(kind: RegisterKind, errors: Mapping[str, str]) -> str:
    """Field errors as one Chinese sentence: ``身份证号：校验位错误；手机号：格式不正确``."""
    return "；".join(f"{label_of(kind, k)}：{v}" if k else v for k, v in errors.items())


def mask_cells(kind: RegisterKind, cells: Sequence[Any], headers: Sequence[str]) -> list[Any]:
    """Row cells with the personal-data columns masked (for showing rejected rows)."""
    from zhili.core.masking import mask_id_number, mask_phone

    pii = {f.label: f.kind for f in COLUMNS[kind] if f.pii}
    out = []
    for header, value in zip(headers, cells, strict=False):
        if header in pii and value not in (None, ""):
            text = str(value)
            value = mask_id_number(text) if pii[header] == "id_number" else mask_phone(text)
        out.append(value)
    return out
