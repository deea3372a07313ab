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
import re
import unicodedata
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhili.core.clock import district_tz, zone
from zhili.core.errors import ValidationFailed
from zhili.datahub.models import Target
from zhili.datahub.rows import Mapped, RawRow, RowError
from zhili.datahub.standard import ATTRIBUTE_PREFIX, StdField, fields, is_field

EXCEL_SERIAL = "excel_serial"
KEY_SEP = "\x1f"
KEY_MAX = 128
# Kinds an ``attributes.<name>`` field may be converted to (standard fields take their standard kind).
ATTRIBUTE_KINDS = ("text", "int", "float", "bool", "date", "datetime")
# Date formats tried when a field gives none.
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d", EXCEL_SERIAL]
DEFAULT_DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                            "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", EXCEL_SERIAL]
# Kinds whose cells are NFKC-normalised unless a field mapping says otherwise.
_NORMALISED_KINDS = frozenset({"int", "float", "bool", "date", "datetime", "id_number", "mobile", "credit_code"})
_TRUE = frozenset({"是", "true", "1", "y", "yes", "t", "对", "有", "√"})
_FALSE = frozenset({"否", "false", "0", "n", "no", "f", "无", "×"})
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_SAMPLE_MOMENT = dt.datetime(2019, 2, 28, 11, 25, 5)
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


def date_format_ok(pattern: str) -> bool:
    """True if ``pattern`` is ``excel_serial`` or a strptime pattern with a year that reads back what it writes."""
    if pattern == EXCEL_SERIAL:
        return True
    if "%Y" not in pattern and "%y" not in pattern:
        return False
    try:
        text = _SAMPLE_MOMENT.strftime(pattern)
        dt.datetime.strptime(text, pattern)
    except (ValueError, TypeError):
        return False
    return True


def format_example(pattern: str) -> str:
    """How a date pattern looks, for messages: ``%Y/%m/%d %H:%M:%S`` → ``2019/02/28 11:25:05``."""
    return "Excel日期序列号" if pattern == EXCEL_SERIAL else _SAMPLE_MOMENT.strftime(pattern)


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


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class _Err(Exception):
    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message


def _converter(kind: str, label: str, formats: list[str], tz: dt.tzinfo,
               choices: dict[str, str]) -> Callable[[Any], Any]:
    """The function turning one prepared (non-empty) value into the standard kind; raises :class:`_Err`."""
    if kind == "int":
        def to_int(v: Any) -> Any:
            if isinstance(v, bool):
                return int(v)
            if isinstance(v, int):
                return v
            try:
                f = float(str(v).replace(",", ""))
            except ValueError:
                raise _Err("not_a_number", f"“{label}”不是有效的数字") from None
            if not math.isfinite(f) or not f.is_integer():
                raise _Err("not_an_integer", f"“{label}”应为整数")
            return int(f)
        return to_int
    if kind == "float":
        def to_float(v: Any) -> Any:
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
            try:
                f = float(str(v).replace(",", ""))
            except ValueError:
                raise _Err("not_a_number", f"“{label}”不是有效的数字") from None
            if not math.isfinite(f):
                raise _Err("not_a_number", f"“{label}”不是有效的数字")
            return f
        return to_float
    if kind == "bool":
        def to_bool(v: Any) -> Any:
            if isinstance(v, bool):
                return v
            s = _text(v).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise _Err("not_a_bool", f"“{label}”应为“是”或“否”")
        return to_bool
    if kind in ("date", "datetime"):
        return _date_converter(kind, label, formats, tz)
    if kind == "choice" and choices:
        by_label = {lab: code for code, lab in choices.items()} | {code: code for code in choices}

        def to_choice(v: Any) -> Any:
            s = _text(v)
            return by_label.get(s, s)
        return to_choice
    return _text


def _excel_serial(v: Any) -> dt.datetime | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        f = float(v)
    else:
        try:
            f = float(str(v))
        except ValueError:
            return None
    if not (1 <= f < 2958466):
        return None
    moment = _EXCEL_EPOCH + dt.timedelta(days=f)
    # serials are stored to about 1e-10 of a day: round to the nearest second
    return (moment + dt.timedelta(microseconds=500_000)).replace(microsecond=0)


_FAST_DIRECTIVES = {"Y": r"(?P<Y>\d{4})", "y": r"(?P<y>\d{2})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
                    "H": r"(?P<H>\d{1,2})", "I": r"(?P<I>\d{1,2})", "M": r"(?P<M>\d{1,2})", "S": r"(?P<S>\d{1,2})",
                    "p": r"(?P<p>[AaPp][Mm])"}


def _fast_parser(pattern: str) -> Callable[[str], dt.datetime | None] | None:
    """A regex reading of a strptime pattern made only of the usual directives (``%Y %y %m %d %H %I %M %S %p``),
    several times faster than ``strptime`` and giving the same answers; None for any other pattern."""
    out, i, seen = [], 0, set()
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            if i + 1 >= len(pattern):
                return None
            d = pattern[i + 1]
            if d == "%":
                out.append("%")
            elif d in _FAST_DIRECTIVES and d not in seen:
                out.append(_FAST_DIRECTIVES[d])
                seen.add(d)
            else:
                return None
            i += 2
        elif ch.isspace():
            out.append(r"\s+")
            while i < len(pattern) and pattern[i].isspace():
                i += 1
        else:
            out.append(re.escape(ch))
            i += 1
    if ("I" in seen) != ("p" in seen) or ("H" in seen and "I" in seen) or not ({"Y", "y"} & seen):
        return None
    rx = re.compile(r"\s*" + "".join(out) + r"\s*")

    def parse(s: str) -> dt.datetime | None:
        m = rx.fullmatch(s)
        if m is None:
            return None
        g = m.groupdict()
        year = int(g["Y"]) if g.get("Y") else (lambda y: y + (1900 if y >= 69 else 2000))(int(g["y"]))
        if g.get("I") is not None:
            hour = int(g["I"])
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if g["p"].lower() == "pm" else 0)
        else:
            hour = int(g["H"]) if g.get("H") else 0
        try:
            return dt.datetime(year, int(g["m"]) if g.get("m") else 1, int(g["d"]) if g.get("d") else 1, hour,
                               int(g["M"]) if g.get("M") else 0, int(g["S"]) if g.get("S") else 0)
        except ValueError:
            return None
    return parse


def _strptime(pattern: str) -> Callable[[str], dt.datetime | None]:
    def parse(s: str) -> dt.datetime | None:
        try:
            return dt.datetime.strptime(s, pattern)
        except ValueError:
            return None
    return parse


def _date_converter(kind: str, label: str, formats: list[str], tz: dt.tzinfo) -> Callable[[Any], Any]:
    accepted = "、".join(format_example(p) for p in formats)
    message = f"{'日期' if kind == 'date' else '时间'}“{label}”无法识别（支持的格式：{accepted}）"
    parsers: list[tuple[bool, Callable[[str], dt.datetime | None]]] = [
        (True, _excel_serial) if p == EXCEL_SERIAL else (False, _fast_parser(p) or _strptime(p)) for p in formats]
    last = [0]  # the format that worked last is tried first (one int: safe for a mapper shared by threads)

    def parse(v: Any) -> dt.datetime | dt.date:
        if isinstance(v, dt.datetime | dt.date):
            return v
        s = v if isinstance(v, str) else None
        first = last[0]
        for i in (first, *(j for j in range(len(parsers)) if j != first)):
            serial, fn = parsers[i]
            if serial:
                got = fn(v)
            elif s is None:
                continue
            else:
                got = fn(s)
            if got is not None:
                last[0] = i
                return got
        raise _Err("bad_date", message)

    if kind == "date":
        def to_date(v: Any) -> Any:
            got = parse(v)
            return got.date() if isinstance(got, dt.datetime) else got
        return to_date

    def to_datetime(v: Any) -> Any:
        got = parse(v)
        if not isinstance(got, dt.datetime):
            got = dt.datetime(got.year, got.month, got.day)
        return got.replace(tzinfo=tz) if got.tzinfo is None else got
    return to_datetime


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
        self.convert = _converter(kind, self.label, formats, tz, choices)

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
                texts = [_text(p) for p in (self.cell(raw.get(c)) for c in self.columns) if p is not None]
                v = self.join.join(texts) if texts else None
        else:
            v = self.constant
        if v is not None and self.split_sep is not None:
            pieces = _text(v).split(self.split_sep)
            try:
                v = self.cell(pieces[self.split_index])
            except IndexError:
                v = None
        if v is not None and self.vmap is not None:
            key = _text(v)
            if key in self.vmap:
                v = self.vmap[key]
            else:
                folded = key.strip().casefold()
                if folded in self.vmap_fold:
                    v = self.vmap_fold[folded]
                elif self.vmap_default == "null":
                    v = None
                elif self.vmap_default == "error":
                    raise _Err("value_not_mapped", f"“{self.label}”的值不在值映射中")
        if v is None:
            v = self.default
        if v is None:
            if self.required:
                raise _Err("required", f"“{self.label}”不能为空")
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
                if all(_text(raw.get(c) if raw.get(c) is not None else "").strip() == v for c, v in row.items()):
                    return True
                continue
            v = raw.get(column) if column else None
            s = "" if v is None else _text(v).strip()
            if (empty and not s) or (equals is not None and s == equals) or (among and s in among):
                return True
        return False

    def map(self, raw: RawRow) -> Mapped:
        values: dict[str, Any] = {}
        errors: list[RowError] = []
        for f in self._fields:
            try:
                values[f.field] = f.value(raw)
            except _Err as exc:
                values[f.field] = None
                errors.append(RowError(f.field, exc.rule, exc.message))
        return Mapped(values, errors, self.natural_key(values))

    def natural_key(self, values: dict[str, Any]) -> str | None:
        """The key fields' values joined by ``\\x1f`` (a SHA-256 digest when longer than 128 characters); None
        when a key field (not listed in ``key_optional``) is empty."""
        parts: list[str] = []
        for k in self.key:
            v = values.get(k)
            if v is None or v == "":
                if k not in self._key_optional:
                    return None
                parts.append("")
            else:
                parts.append(_text(v))
        joined = KEY_SEP.join(parts)
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
            origin = f"固定值“{_text(fm.constant)}”"
        options = []
        if fm.split:
            part = f"第{fm.split.index + 1}段" if fm.split.index >= 0 else f"倒数第{-fm.split.index}段"
            options.append(f"按“{fm.split.sep}”拆分取{part}")
        if fm.default is not None:
            options.append(f"默认“{_text(fm.default)}”")
        if fm.required is not None:
            options.append("必填" if fm.required else "可空")
        if fm.value_map_default != "keep" and fm.value_map is not None:
            options.append({"null": "未映射的值置空", "error": "未映射的值报错"}[fm.value_map_default])
        rows.append({
            "field": fm.field, "label": label, "origin": origin, "key": fm.field in key,
            "required": fm.required if fm.required is not None else bool(s and s.required),
            "pii": bool(s and s.pii),
            "value_map": [(k, "（空）" if v is None else _text(v)) for k, v in sorted((fm.value_map or {}).items())],
            "date_formats": [format_example(p) for p in fm.date_formats or []],
            "options": options,
        })
    return rows
