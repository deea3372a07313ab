"""Mapping templates (映射模板): the spec (:class:`TemplateSpec`, stored as JSON) and the compiled mapper.

A template says, for one target's standard model (:mod:`zhili.datahub.standard`), where each standard field comes
from in a source's rows:

* ``column`` — one source column; ``columns`` + ``join`` — several, concatenated with a separator, empties skipped;
  ``constant`` — the same value on every row;
* then, in this order: ``strip`` / ``normalise`` (NFKC: full-width digits and letters to half-width) of each cell,
  ``split`` (take one part of the text), ``value_map`` (source value → standard value; ``value_map_default`` says
  what an unmapped value becomes: kept, empty, or an error), ``default`` for an empty result, the ``required``
  check, and the conversion by the standard field's kind (numbers, yes/no, dates and times by ``date_formats``,
  with ``excel_serial`` for Excel serial numbers).

Top level: ``key`` (the standard fields forming the natural key), ``timezone`` of naive times, ``skip_if``
(rows to leave out, such as a footer line), ``source_columns`` (the headers a file must have).

:func:`compile_template` precomputes everything once; :meth:`Mapper.map` runs per row of a million-row import.
Mapping errors are :class:`~zhili.datahub.rows.RowError` with Chinese messages that never repeat the value. Deeper
validation (ID checksums, phone numbers, lengths, references) is the pipeline's, not the mapper's.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhili.core.clock import district_tz, zone
from zhili.core.crypto import get_cipher
from zhili.core.errors import ValidationFailed
from zhili.datahub.convert import (
    EXCEL_SERIAL,
    ConvertError,
    as_text,
    converter,
    date_format_ok,
    format_example,
)
from zhili.datahub.models import Target
from zhili.datahub.rows import Mapped, RawRow, RowError
from zhili.datahub.standard import ATTRIBUTE_PREFIX, StdField, fields, is_field

KEY_SEP = "\x1f"
# A natural key holding personal numbers is kept as ``pk:`` + its blind index (HMAC with the index key).
PERSONAL_KEY_PREFIX, KEY_PURPOSE = "pk:", "hub.natural_key"
KEY_MAX = 128
# Kinds an ``attributes.<name>`` field may be converted to (standard fields take their standard kind).
ATTRIBUTE_KINDS = ("text", "int", "float", "bool", "date", "datetime")
# Date formats tried when a field gives none.
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d", EXCEL_SERIAL]
DEFAULT_DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                            "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", EXCEL_SERIAL]
# Kinds whose cells are NFKC-normalised unless a field mapping says otherwise.
_NORMALISED_KINDS = frozenset({"int", "float", "bool", "date", "datetime", "id_number", "mobile", "credit_code"})
_DEFAULT_KEYS: dict[Target, list[str]] = {
    Target.cases: ["external_id"], Target.persons: ["id_number"], Target.organisations: ["name", "address"],
    Target.buildings: ["address"], Target.households: ["building_address", "room"],
}

Scalar = str | int | float | bool


class Split(BaseModel):
    """Take part ``index`` (from 0; negative counts from the end) of the text split at ``sep``."""

    model_config = ConfigDict(extra="forbid")
    sep: str = Field(min_length=1)
    index: int = 0


class SkipIf(BaseModel):
    """Leave a row out when its ``column`` is empty (``empty: true``), equals ``equals``, or is one of ``in``;
    or when every column of ``row`` holds exactly the given text (the example row of an Excel template)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    column: str | None = None
    empty: bool = False
    equals: str | None = None
    in_: list[str] | None = Field(None, alias="in")
    row: dict[str, str] | None = None


class FieldMap(BaseModel):
    """Where one standard field comes from (exactly one of ``column``, ``columns``, ``constant``)."""

    model_config = ConfigDict(extra="forbid")
    field: str
    column: str | None = None
    columns: list[str] | None = None
    join: str = " "
    coalesce: bool = False  # with ``columns``: the first non-empty cell instead of the concatenation
    constant: Scalar | None = None
    split: Split | None = None
    value_map: dict[str, Scalar | None] | None = None
    value_map_default: Literal["keep", "null", "error"] = "keep"
    date_formats: list[str] | None = None
    kind: str | None = None  # attributes only: text/int/float/bool/date/datetime
    strip: bool = True
    normalise: bool | None = None  # None: NFKC for numbers, dates, ID and phone numbers; not for text
    required: bool | None = None  # None: as the standard field
    default: Scalar | None = None


class TemplateSpec(BaseModel):
    """A mapping template's spec; ``TemplateSpec.model_validate(spec.as_json())`` gives back an equal spec."""

    model_config = ConfigDict(extra="forbid")
    target: Target
    fields: list[FieldMap]
    key: list[str] | None = None  # None: the target's default (cases: external_id)
    key_optional: list[str] = Field(default_factory=list)  # key fields that may be empty (joined as "")
    timezone: str | None = None  # None: the district's
    skip_if: list[SkipIf] = Field(default_factory=list)
    title: str | None = None
    description: str | None = None
    source_columns: list[str] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The spec as stored and exported: JSON values, defaults left out."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True)

    def key_fields(self) -> list[str]:
        return list(self.key) if self.key else list(_DEFAULT_KEYS[self.target])


# -- validation ------------------------------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int) and i > 0 and loc[i - 1] == "fields":
            parts.append(f"第{item + 1}个字段映射")
        elif item != "fields":
            parts.append(str(item))
    return " › ".join(parts) or "模板"


def parse_spec(data: Any) -> TemplateSpec:
    """Read and check a spec (a dict, as stored or uploaded); every problem is reported in Chinese, naming the
    field mapping concerned (``ValidationFailed`` with ``details`` = the list of messages)."""
    if not isinstance(data, dict):
        raise ValidationFailed("模板内容应为JSON对象", code="hub_template_invalid")
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _loc(tuple(err["loc"]))
            if err["type"] == "extra_forbidden":
                problems.append(f"{loc}：不认识的设置项")
            elif err["type"] == "missing":
                problems.append(f"{loc}：必须填写")
            elif err["type"] == "enum" and err["loc"] == ("target",):
                problems.append("target：标准模型应为 persons/households/buildings/organisations/cases 之一")
            else:
                problems.append(f"{loc}：格式不正确")
        raise ValidationFailed("映射模板有误：" + "；".join(problems), code="hub_template_invalid",
                               details=problems) from None
    problems = check_spec(spec)
    if problems:
        raise ValidationFailed("映射模板有误：" + "；".join(problems), code="hub_template_invalid",
                               details=problems)
    return spec


def check_spec(spec: TemplateSpec) -> list[str]:
    """What is wrong with a structurally valid spec, in Chinese (empty: nothing)."""
    problems: list[str] = []
    std = fields(spec.target)
    seen: set[str] = set()
    if not spec.fields:
        problems.append("模板至少要有一个字段映射")
    for i, fm in enumerate(spec.fields, 1):
        where = f"第{i}个字段映射（{fm.field}）"
        if not is_field(spec.target, fm.field):
            problems.append(f"{where}：“{fm.field}”不是该标准模型的字段")
        if fm.field in seen:
            problems.append(f"{where}：字段重复映射")
        seen.add(fm.field)
        origins = sum(x is not None for x in (fm.column, fm.columns, fm.constant))
        if origins != 1:
            problems.append(f"{where}：column、columns、constant 须且只能填写一项")
        if fm.coalesce and fm.columns is None:
            problems.append(f"{where}：coalesce 只能与 columns 一起使用")
        if fm.columns is not None and not [c for c in fm.columns if c]:
            problems.append(f"{where}：columns 不能为空")
        if fm.column == "":
            problems.append(f"{where}：column 不能为空")
        if fm.kind is not None:
            if not fm.field.startswith(ATTRIBUTE_PREFIX):
                problems.append(f"{where}：只有扩展属性（attributes.）可以指定类型")
            elif fm.kind not in ATTRIBUTE_KINDS:
                problems.append(f"{where}：类型应为 {'/'.join(ATTRIBUTE_KINDS)} 之一")
        for pattern in fm.date_formats or []:
            if not date_format_ok(pattern):
                problems.append(f"{where}：日期格式“{pattern}”无效")
        if fm.date_formats is not None:
            kind = fm.kind or (std[fm.field].kind if fm.field in std else "text")
            if kind not in ("date", "datetime"):
                problems.append(f"{where}：该字段不是日期或时间，不能设置日期格式")
    for k in spec.key_fields():
        if k not in seen:
            problems.append(f"主键字段“{k}”没有映射")
    for k in spec.key_optional:
        if k not in spec.key_fields():
            problems.append(f"可空主键字段“{k}”不在主键中")
    if spec.timezone:
        try:
            zone(spec.timezone)
        except Exception:  # noqa: BLE001 - any lookup failure is an unknown zone
            problems.append(f"时区“{spec.timezone}”无效")
    for j, cond in enumerate(spec.skip_if, 1):
        if cond.row is not None:
            if cond.column is not None or cond.empty or cond.equals is not None or cond.in_ is not None \
                    or not cond.row:
                problems.append(f"第{j}个跳过条件：row 须单独使用且不能为空")
        elif not cond.column or (not cond.empty and cond.equals is None and cond.in_ is None):
            problems.append(f"第{j}个跳过条件：须设置 column 以及 empty、equals 或 in")
    return problems


def header_key(name: Any) -> str:
    """A header as compared with a template's columns: NFKC, no BOM, no surrounding blanks, no required-marks
    (``姓名*``, ``姓名（必填）`` → ``姓名``)."""
    text = unicodedata.normalize("NFKC", str(name or "")).replace("\ufeff", "").strip()
    text = text.replace("(必填)", "")
    return text.rstrip("* ").strip()


def missing_columns(spec: TemplateSpec, columns: list[str]) -> list[str]:
    """The headers ``spec.source_columns`` expects that ``columns`` lacks (compared by :func:`header_key`)."""
    have = {header_key(c) for c in columns}
    return [c for c in spec.source_columns if header_key(c) not in have]


def check_columns(spec: TemplateSpec, columns: list[str]) -> None:
    """Refuse a file whose header lacks expected columns: a clear Chinese error listing them (the import fails
    before any row is read)."""
    missing = missing_columns(spec, columns)
    if missing:
        raise ValidationFailed("文件缺少模板要求的列：" + "、".join(f"“{c}”" for c in missing),
                               code="hub_template_columns_missing", details={"missing": missing})


# -- the compiled mapper ---------------------------------------------------------------------------------------


class _Compiled:
    """One field mapping, precomputed."""

    __slots__ = (
        "coalesce",
        "column",
        "columns",
        "constant",
        "convert",
        "default",
        "field",
        "join",
        "label",
        "normalise",
        "required",
        "split_index",
        "split_sep",
        "strip",
        "vmap",
        "vmap_default",
        "vmap_fold",
    )

    def __init__(self, fm: FieldMap, std: StdField | None, tz: dt.tzinfo) -> None:
        kind = fm.kind or (std.kind if std else "text")
        self.field = fm.field
        self.label = fm.column or (std.label if std else fm.field.removeprefix(ATTRIBUTE_PREFIX))
        self.column = fm.column
        self.columns = tuple(c for c in fm.columns or () if c)
        self.join = fm.join
        self.coalesce = fm.coalesce
        self.constant = fm.constant
        self.split_sep = fm.split.sep if fm.split else None
        self.split_index = fm.split.index if fm.split else 0
        self.vmap = dict(fm.value_map) if fm.value_map is not None else None
        self.vmap_fold = {k.strip().casefold(): v for k, v in (fm.value_map or {}).items()}
        self.vmap_default = fm.value_map_default
        self.strip = fm.strip
        self.normalise = fm.normalise if fm.normalise is not None else kind in _NORMALISED_KINDS
        self.required = fm.required if fm.required is not None else bool(std and std.required)
        self.default = fm.default
        formats = fm.date_formats or (DEFAULT_DATE_FORMATS if kind == "date" else DEFAULT_DATETIME_FORMATS)
        choices = std.choices if (std and self.vmap is None) else {}
        self.convert = converter(kind, self.label, formats, tz, choices)

    def cell(self, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, str):
            if self.normalise:
                v = unicodedata.normalize("NFKC", v)
            if self.strip:
                v = v.strip()
            return v or None
        if isinstance(v, float) and math.isnan(v):
            return None
        return v

    def value(self, raw: RawRow) -> Any:
        if self.column is not None:
            v = self.cell(raw.get(self.column))
        elif self.columns:
            if self.coalesce:
                v = None
                for c in self.columns:
                    v = self.cell(raw.get(c))
                    if v is not None:
                        break
            else:
                texts = [as_text(p) for p in (self.cell(raw.get(c)) for c in self.columns) if p is not None]
                v = self.join.join(texts) if texts else None
        else:
            v = self.constant
        if v is not None and self.split_sep is not None:
            pieces = as_text(v).split(self.split_sep)
            try:
                v = self.cell(pieces[self.split_index])
            except IndexError:
                v = None
        if v is not None and self.vmap is not None:
            key = as_text(v)
            if key in self.vmap:
                v = self.vmap[key]
            else:
                folded = key.strip().casefold()
                if folded in self.vmap_fold:
                    v = self.vmap_fold[folded]
                elif self.vmap_default == "null":
                    v = None
                elif self.vmap_default == "error":
                    raise ConvertError("value_not_mapped", f"“{self.label}”的值不在值映射中")
        if v is None:
            v = self.default
        if v is None:
            if self.required:
                raise ConvertError("required", f"“{self.label}”不能为空")
            return None
        return self.convert(v)


class Mapper:
    """A compiled template (:class:`~zhili.datahub.rows.RowMapper`)."""

    def __init__(self, spec: TemplateSpec) -> None:
        self.spec = spec
        self.target: str = spec.target.value
        tz = zone(spec.timezone) if spec.timezone else district_tz()
        std = fields(spec.target)
        self._fields = [_Compiled(fm, std.get(fm.field), tz) for fm in spec.fields]
        self.key = spec.key_fields()
        self._key_optional = frozenset(spec.key_optional)
        self.std = std
        self.required = frozenset(c.field for c in self._fields if c.required)
        # a key made of personal numbers (a person's ID number is the default key of persons) is stored and shown
        # only as its blind index: natural keys live in plain columns (source records, quarantined rows)
        self._key_personal = any(std[k].pii for k in self.key if k in std)
        self._skips = [(c.column, c.empty, c.equals, frozenset(c.in_ or ()), dict(c.row or {}))
                       for c in spec.skip_if]

    def bind(self, columns: list[str]) -> Mapper:
        """This mapper reading a file whose headers are ``columns``: template columns are matched to headers
        by :func:`header_key` (``姓名*`` in the platform's Excel template reads as ``姓名``). Returns ``self``
        when every column is found as written; call it once per file, before the first row."""
        actual = {header_key(c): c for c in columns}
        rename = {}
        for c in self._columns():
            if c not in columns and header_key(c) in actual:
                rename[c] = actual[header_key(c)]
        if not rename:
            return self
        bound = copy.copy(self)
        bound._fields = []
        for f in self._fields:
            g = copy.copy(f)
            if g.column is not None:
                g.column = rename.get(g.column, g.column)
            g.columns = tuple(rename.get(c, c) for c in g.columns)
            bound._fields.append(g)
        bound._skips = [(rename.get(col, col) if col else col, empty, equals, among,
                         {rename.get(k, k): v for k, v in row.items()})
                        for col, empty, equals, among, row in self._skips]
        return bound

    def _columns(self) -> set[str]:
        cols: set[str] = set()
        for f in self._fields:
            cols.update((f.column,) if f.column is not None else f.columns)
        for col, _, _, _, row in self._skips:
            cols.update(row)
            if col:
                cols.add(col)
        return cols

    def skips(self, raw: RawRow) -> bool:
        """True if the row is to be left out (``skip_if``): not imported, not quarantined, only counted."""
        for column, empty, equals, among, row in self._skips:
            if row:
                if all(as_text(raw.get(c) if raw.get(c) is not None else "").strip() == v for c, v in row.items()):
                    return True
                continue
            v = raw.get(column) if column else None
            s = "" if v is None else as_text(v).strip()
            if (empty and not s) or (equals is not None and s == equals) or (among and s in among):
                return True
        return False

    def map(self, raw: RawRow) -> Mapped:
        values: dict[str, Any] = {}
        errors: list[RowError] = []
        for f in self._fields:
            try:
                values[f.field] = f.value(raw)
            except ConvertError as exc:
                values[f.field] = None
                errors.append(RowError(f.field, exc.rule, exc.message))
        return Mapped(values, errors, self.natural_key(values))

    def natural_key(self, values: dict[str, Any]) -> str | None:
        """The key fields' values joined by ``\\x1f`` (a SHA-256 digest when longer than 128 characters; the
        blind index when a key field holds personal numbers); None when a key field (not listed in
        ``key_optional``) is empty."""
        parts: list[str] = []
        for k in self.key:
            v = values.get(k)
            if v is None or v == "":
                if k not in self._key_optional:
                    return None
                parts.append("")
            else:
                parts.append(as_text(v))
        joined = KEY_SEP.join(parts)
        if self._key_personal:
            return PERSONAL_KEY_PREFIX + get_cipher().blind_index(joined, purpose=KEY_PURPOSE)
        if len(joined) > KEY_MAX:
            return "sha256:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()
        return joined


def compile_template(spec: TemplateSpec | dict[str, Any]) -> Mapper:
    """Compile a spec (checked first when given as a dict) into a :class:`Mapper`."""
    return Mapper(spec if isinstance(spec, TemplateSpec) else parse_spec(spec))


def describe_spec(spec: TemplateSpec) -> list[dict[str, Any]]:
    """The spec as rows a person reads (the template page's table): source → field with its Chinese label,
    value map, date formats, options."""
    std = fields(spec.target)
    key = set(spec.key_fields())
    rows = []
    for fm in spec.fields:
        s = std.get(fm.field)
        label = s.label if s else "扩展属性：" + fm.field.removeprefix(ATTRIBUTE_PREFIX)
        if fm.column is not None:
            origin = f"列“{fm.column}”"
        elif fm.columns:
            sep = {"": "直接", " ": "以空格", "\n": "以换行"}.get(fm.join, f"以“{fm.join}”")
            how = "取第一个非空值" if fm.coalesce else f"{sep}连接"
            origin = "、".join(f"“{c}”" for c in fm.columns) + f"（{how}）"
        else:
            origin = f"固定值“{as_text(fm.constant)}”"
        options = []
        if fm.split:
            part = f"第{fm.split.index + 1}段" if fm.split.index >= 0 else f"倒数第{-fm.split.index}段"
            options.append(f"按“{fm.split.sep}”拆分取{part}")
        if fm.default is not None:
            options.append(f"默认“{as_text(fm.default)}”")
        if fm.required is not None:
            options.append("必填" if fm.required else "可空")
        if fm.value_map_default != "keep" and fm.value_map is not None:
            options.append({"null": "未映射的值置空", "error": "未映射的值报错"}[fm.value_map_default])
        rows.append({
            "field": fm.field, "label": label, "origin": origin, "key": fm.field in key,
            "required": fm.required if fm.required is not None else bool(s and s.required),
            "pii": bool(s and s.pii),
            "value_map": [(k, "（空）" if v is None else as_text(v)) for k, v in sorted((fm.value_map or {}).items())],
            "date_formats": [format_example(p) for p in fm.date_formats or []],
            "options": options,
        })
    return rows
