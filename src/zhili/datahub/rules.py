"""Validation rules (质检规则) of the data hub: field rules chosen by a standard field's kind and flags, and
reference rules that resolve the units, buildings and households a row names into ids.

:data:`RULES` is the table of every rule code a quarantined row can carry (code → Chinese name, what it checks):
docs/datahub.md and the quality page read it. Messages name the field, never the value (it may be an ID number).

A :class:`Validator` lives for one import: its reference look-ups are cached per code (one query per distinct
grid, building or household named in the file, never one per row), and it checks every resolved unit against the
caller's jurisdiction (``out_of_scope``) and against the region tree as of the record's own date.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, in_scope
from zhili.core.validators import usable_point, validate_credit_code, validate_id_number, validate_mobile
from zhili.datahub.models import Target
from zhili.datahub.rows import Placement, RowError
from zhili.datahub.standard import ATTRIBUTE_PREFIX, StdField, fields

# code → (Chinese name, what it checks)
RULES: dict[str, tuple[str, str]] = {
    "required": ("必填", "必填字段不能为空"),
    "max_length": ("长度", "文本不超过该字段的最大长度"),
    "number": ("数值", "数值字段须为数字"),
    "range": ("取值范围", "数值在该字段的合理范围内（层数、面积、人数等）"),
    "date": ("日期", "日期可以识别，不晚于今天、不早于1900年"),
    "choice": ("枚举值", "取值属于该字段的可选值（如性别、用途、人口类型）"),
    "id_number": ("身份证号", "GB 11643：18位、地区码、出生日期、校验位"),
    "credit_code": ("统一社会信用代码", "GB 32100：18位、字符集、校验位"),
    "mobile": ("手机号", "11位中国大陆手机号"),
    "coordinates": ("经纬度", "经度纬度同时填写且是地球上的有效坐标"),
    "grid_unknown": ("网格", "网格代码或名称在记录日期的区划中存在"),
    "building_unknown": ("楼栋", "楼栋编码（或地址+名称）在楼栋登记中存在"),
    "household_unknown": ("房屋", "楼栋、单元、室号对应已登记的房屋"),
    "out_of_scope": ("管辖范围", "引用的网格、楼栋、房屋在导入人的管辖范围内"),
    "unplaced": ("无法定位", "没有网格、房屋时，地址须能解析定位到本平台的区划或楼栋"),
    "duplicate_in_file": ("文件内重复", "同一文件中同一记录键只出现一次（后出现的行进入隔离区）"),
    "natural_key": ("记录键", "每行须有来源系统的记录键（编号或主键字段）"),
    "mapping": ("映射", "按映射模板可以读取该行（日期格式、值映射等）"),
    # the mapper's own checks (zhili.datahub.convert / mapping), each under its own name
    "bad_date": ("日期格式", "日期、时间符合模板列出的格式之一（含 Excel 日期序号）"),
    "not_a_number": ("数字格式", "数值列是数字"),
    "not_an_integer": ("整数格式", "整数列是整数"),
    "not_a_bool": ("是否格式", "是/否列取“是、否、1、0、true、false”等"),
    "value_not_mapped": ("值映射", "取值在模板的值映射中（模板要求映射不到时报错）"),
    "unreadable_row": ("无法读取的行", "该行能按文件格式读出（如 JSON Lines 的每一行都是一个 JSON 对象）"),
    "extra_cells": ("多余单元格", "该行的单元格不多于表头（多出时多为分隔符或引号错位）"),
    "register_refused": ("登记簿校验", "登记簿服务接受该记录（唯一性、归属等）"),
}

# Sensible ranges of numeric fields (inclusive); a value outside is a typing error, not data.
RANGES: dict[str, tuple[float, float]] = {
    "floors": (1, 200), "area_m2": (1, 100_000), "employees": (0, 1_000_000),
    "lon": (-180, 180), "lat": (-90, 90),
}
EARLIEST = dt.date(1900, 1, 1)


def rule_name(code: str) -> str:
    """The Chinese name of a rule; a code this table does not know (a row written by an older version) is shown
    as 其他规则 — never as the code."""
    return RULES.get(code, ("其他规则", ""))[0]


def _err(f: StdField, rule: str, what: str) -> RowError:
    return RowError(f.key, rule, f"{f.label}{what}")


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _choice(f: StdField, v: Any) -> str | None:
    """The stored value of a choice typed as its key or its Chinese label."""
    s = str(v).strip()
    if s in f.choices:
        return s
    for key, label in f.choices.items():
        if s == label:
            return key
    from zhili.registry.fields import CHOICE_ALIASES  # short forms staff type (流动 for 流动人口)

    alias = CHOICE_ALIASES.get(s)
    return alias if alias in f.choices else None


def _day(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip()[:10])
        except ValueError:
            return None
    return None


def check_field(f: StdField, value: Any, today: dt.date) -> tuple[Any, RowError | None]:
    """One field's rules: the normalised value, or the first failed rule."""
    if _blank(value):
        return None, (_err(f, "required", "不能为空") if f.required else None)
    kind = f.kind
    if kind in ("text", "ref"):
        s = str(value).strip()
        if f.max_length and len(s) > f.max_length:
            return None, _err(f, "max_length", f"超过{f.max_length}个字符")
        return s, None
    if kind in ("int", "float"):
        try:
            n: float | int = (int(float(str(value).strip())) if kind == "int" else float(str(value).strip()))
        except ValueError:
            return None, _err(f, "number", "须为数字")
        if isinstance(n, float) and not math.isfinite(n):
            return None, _err(f, "number", "须为数字")
        lo, hi = RANGES.get(f.key, (-math.inf, math.inf))
        if not lo <= n <= hi:
            return None, _err(f, "range", "超出合理范围")
        return n, None
    if kind in ("date", "datetime"):
        day = _day(value)
        if day is None:
            return None, _err(f, "date", "不是有效日期")
        if day > today or day < EARLIEST:
            return None, _err(f, "date", "不能晚于今天或早于1900年")
        if kind == "date":
            return day, None
        if isinstance(value, dt.datetime):
            return value, None
        return dt.datetime.combine(day, dt.time(0, 0)), None
    if kind == "choice":
        c = _choice(f, value)
        return (c, None) if c is not None else (None, _err(f, "choice", "不是可选值"))
    if kind == "tags":
        parts = value if isinstance(value, list) else [p for p in str(value).replace("，", ",").replace("、", ",")
                                                        .split(",") if p.strip()]
        out = [_choice(f, p) for p in parts]
        if any(c is None for c in out):
            return None, _err(f, "choice", "含有不可选的标签")
        return out, None
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        s = str(value).strip().lower()
        if s in ("1", "true", "是", "y", "yes"):
            return True, None
        if s in ("0", "false", "否", "n", "no"):
            return False, None
        return None, _err(f, "choice", "须为是或否")
    checks: dict[str, tuple[Callable[[str], str], str]] = {
        "id_number": (lambda s: validate_id_number(s, today=today), "id_number"),
        "credit_code": (validate_credit_code, "credit_code"),
        "mobile": (validate_mobile, "mobile"),
    }
    if kind in checks:
        fn, rule = checks[kind]
        try:
            return fn(str(value)), None
        except ValidationFailed as exc:
            hint = NUMERIC_ID_HINT if kind == "id_number" and _numeric_cell(value) else ""
            return None, RowError(f.key, rule, f"{f.label}：{exc.message}{hint}")
    return value, None


# An ID number typed into a number-formatted Excel cell has lost its last digits (15 significant digits).
NUMERIC_ID_HINT = "（该单元格是数字格式，Excel 只保留15位有效数字，请把该列设为文本格式后重新填写）"


def _numeric_cell(value: Any) -> bool:
    """True for a number, or text as a number cell reads (``3.3052219850615e+17``, ``330522198506150000``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    text = str(value).strip()
    if text[:1].isdigit() and ("e+" in text.lower() or text.endswith(".0")):
        return True
    # an xlsx number cell reaches the rules as the text of a whole float (``convert.as_text``): 18 digits that a
    # double holds exactly (a typed ID number does so once in 64 times at most; the hint is only added on failure)
    return len(text) == 18 and text.isdigit() and float(text) == int(text)


@dataclass
class Checked:
    """A row after its rules: normalised values (plus resolved ids), where it lies, and what failed."""

    values: dict[str, Any]
    path: str
    errors: list[RowError]
    record_date: dt.date | None = None


_Found = tuple[uuid.UUID, str] | RowError  # (id, path) or why not


class Validator:
    """The rules of one import: field rules of ``target`` and reference look-ups cached for the whole run.

    ``resolver`` is an address resolver factory (``as_of`` → object with ``place(text) -> Placement``), used for
    rows that name no unit or house but an address; None when no resolver is installed. The record's date (the
    as-of date of its references) is ``reported_at`` for cases, else a ``record_date`` (or
    ``attributes.record_date``) the template maps, else today."""

    def __init__(self, session: Session, *, principal: Principal, target: Target, default_path: str,
                 resolver: Callable[[dt.date], Any] | None = None, optional: Iterable[str] = ()) -> None:
        self.session = session
        self.principal = principal
        self.target = Target(target)
        self.default_path = default_path
        # ``optional``: standard fields the import's template declares not required (``required: false``), such
        # as the ID number of a health system that often lacks it — such a person still resolves (by name, birth
        # date, phone) into a golden record, which gets a register row once a source gives a valid number
        self.fields = {k: replace(f, required=False) if k in set(optional) else f
                       for k, f in fields(self.target).items()}
        self.today = clock.today()
        self._resolver_factory = resolver
        self._resolvers: dict[dt.date, Any] = {}
        self._grids: dict[tuple[str, dt.date], _Found] = {}
        self._buildings: dict[tuple[Any, ...], _Found] = {}
        self._households: dict[tuple[Any, ...], _Found] = {}
        self.entrances: dict[tuple[uuid.UUID, str], uuid.UUID | None] = {}
        self._levels: dict[uuid.UUID, str] = {}
        self._places: dict[tuple[str, dt.date], Placement] = {}

    # -- the whole row ------------------------------------------------------------------------------------------

    def check(self, values: dict[str, Any]) -> Checked:
        """Field rules for every standard field, then the target's reference rules."""
        out: dict[str, Any] = {}
        errors: list[RowError] = []
        for key, f in self.fields.items():
            v, err = check_field(f, values.get(key), self.today)
            if err is not None:
                errors.append(err)
            elif v is not None:
                out[key] = v
        for key, v in values.items():
            if key.startswith(ATTRIBUTE_PREFIX) and not _blank(v):
                out[key] = v
        if ("lon" in out) != ("lat" in out) or ("lon" in out and usable_point(out["lon"], out["lat"]) is None):
            errors.append(RowError("lon", "coordinates", "经纬度须同时填写且为有效坐标"))
            out.pop("lon", None)
            out.pop("lat", None)
        as_of = self._as_of({**values, **out})
        path = self.default_path
        if not errors:
            ref = getattr(self, f"_refs_{self.target.value}", None)
            if ref is not None:
                path = ref(out, as_of, errors) or path
        return Checked(values=out, path=path, errors=errors, record_date=as_of if as_of != self.today else None)

    def _as_of(self, values: dict[str, Any]) -> dt.date:
        for key in ("reported_at", "record_date", ATTRIBUTE_PREFIX + "record_date"):
            day = _day(values.get(key))
            if day is not None:
                return day
        return self.today

    # -- reference look-ups (cached) ----------------------------------------------------------------------------

    def _scope(self, path: str) -> RowError | None:
        if in_scope(self.principal, path):
            return None
        return RowError(None, "out_of_scope", "引用的单位、楼栋或房屋不在您的管辖范围内")

    def grid(self, text: str, as_of: dt.date) -> _Found:
        """A grid by code or name, valid on ``as_of``."""
        from zhili.regions.models import Unit, UnitLevel
        from zhili.regions.service import valid_on

        key = (text, as_of)
        found = self._grids.get(key)
        if found is None:
            rows = self.session.execute(select(Unit.id, Unit.code, Unit.path).where(
                Unit.level == UnitLevel.grid, valid_on(Unit, as_of), (Unit.code == text) | (Unit.name == text))
                .limit(3)).all()
            exact = [r for r in rows if r.code == text]
            if not rows:
                found = RowError("grid", "grid_unknown", "网格在记录日期的区划中不存在")
            elif len(rows) > 1 and not exact:
                found = RowError("grid", "grid_unknown", "网格名称对应多个网格，请填写网格代码")
            else:
                r = (exact or rows)[0]
                found = self._scope(r.path) or (r.id, r.path)
            self._grids[key] = found
        return found

    def building(self, values: dict[str, Any]) -> _Found | None:
        """The building a row names (code, or address + name); None when it names none."""
        from zhili.registry.models import Building

        code, address, name = values.get("building_code"), values.get("building_address"), values.get("building_name")
        if not (code or address or name):
            return None
        if not code and not (address and name):
            return RowError("building_code", "building_unknown", "请填写楼栋编码，或同时填写楼栋地址和楼栋名称")
        key: tuple[Any, ...] = ("code", code) if code else ("address", address, name)
        found = self._buildings.get(key)
        if found is None:
            stmt = select(Building.id, Building.path)
            stmt = stmt.where(Building.code == code) if code else stmt.where(Building.address == address,
                                                                             Building.name == name)
            rows = self.session.execute(stmt.limit(2)).all()
            if not rows:
                found = RowError("building_code", "building_unknown", "楼栋不存在")
            elif len(rows) > 1:
                found = RowError("building_code", "building_unknown", "楼栋地址和名称对应多个楼栋，请填写楼栋编码")
            else:
                found = self._scope(rows[0].path) or (rows[0].id, rows[0].path)
            self._buildings[key] = found
        return found

    def entrance(self, building_id: uuid.UUID, name: str) -> uuid.UUID | None:
        from zhili.registry.models import Entrance

        key = (building_id, name)
        if key not in self.entrances:
            self.entrances[key] = self.session.scalar(select(Entrance.id).where(
                Entrance.building_id == building_id, Entrance.name == name))
        return self.entrances[key]

    def household(self, building_id: uuid.UUID, entrance: str | None, room: str) -> _Found:
        from zhili.registry.models import Household

        key = (building_id, entrance, room)
        found = self._households.get(key)
        if found is None:
            stmt = select(Household.id, Household.path).where(Household.building_id == building_id,
                                                              Household.room == room)
            if entrance:
                eid = self.entrance(building_id, entrance)
                stmt = stmt.where(Household.entrance_id == eid) if eid else None  # type: ignore[assignment]
            rows = self.session.execute(stmt.limit(2)).all() if stmt is not None else []
            if len(rows) != 1:
                found = RowError("room", "household_unknown",
                                 "房屋不存在（楼栋、单元、室号对应不到已登记的房屋）" if not rows
                                 else "该楼栋有多个同室号房屋，请填写单元")
            else:
                found = self._scope(rows[0].path) or (rows[0].id, rows[0].path)
            self._households[key] = found
        return found

    def place(self, address: str, as_of: dt.date) -> Placement | None:
        """The address resolver's placement of ``address`` (cached), or None without a resolver."""
        if self._resolver_factory is None:
            return None
        key = (address, as_of)
        if key not in self._places:
            res = self._resolvers.get(as_of)
            if res is None:
                res = self._resolvers[as_of] = self._resolver_factory(as_of)
            self._places[key] = res.place(address)
        return self._places[key]

    def unit_level(self, unit_id: uuid.UUID) -> str:
        from zhili.regions.models import Unit

        if unit_id not in self._levels:
            self._levels[unit_id] = str(self.session.scalar(select(Unit.level).where(Unit.id == unit_id)) or "")
        return self._levels[unit_id]

    # -- per target ---------------------------------------------------------------------------------------------

    def _resolve(self, found: _Found, errors: list[RowError]) -> tuple[uuid.UUID, str] | None:
        if isinstance(found, RowError):
            errors.append(found)
            return None
        return found

    def _refs_households(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError]) -> str | None:
        b = self.building(v)
        if b is None:
            errors.append(RowError("building_code", "required", "楼栋编码（或楼栋地址和楼栋名称）不能为空"))
            return None
        got = self._resolve(b, errors)
        if got is None:
            return None
        v["building_id"] = got[0]
        if v.get("entrance"):
            v["entrance_id"] = self.entrance(got[0], str(v["entrance"]))
        return got[1]

    def _grid_or_place(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError],
                       *, point: bool) -> str | None:
        if v.get("grid"):
            got = self._resolve(self.grid(str(v["grid"]), as_of), errors)
            if got is not None:
                v["grid_id"] = got[0]
                return got[1]
            return None
        if point and "lon" in v:
            from zhili.regions.service import locate

            _, _, unit = locate(self.session, lon=v["lon"], lat=v["lat"], as_of=as_of)
            if unit is not None:
                if (err := self._scope(unit.path)) is not None:
                    errors.append(err)
                    return None
                v["grid_id"] = unit.id
                return unit.path
        return self._placed(v, as_of, errors)

    def _placed(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError]) -> str | None:
        address = v.get("address")
        placement = self.place(str(address), as_of) if address else None
        if placement is None or placement.unit_id is None or placement.path is None:
            reason = (placement.reason if placement is not None and placement.reason else
                      "没有网格或房屋，且地址无法解析定位" if address else "没有网格、房屋或地址，无法定位")
            errors.append(RowError("address", "unplaced", reason))
            return None
        if (err := self._scope(placement.path)) is not None:
            errors.append(err)
            return None
        if placement.household_id is not None and self.target == Target.persons:
            v["household_id"] = placement.household_id
        elif self.unit_level(placement.unit_id) == "grid":
            v["grid_id"] = placement.unit_id
        else:
            errors.append(RowError("address", "unplaced", placement.reason or "地址只能定位到社区或街道，无法确定网格"))
            return None
        if placement.building_id is not None and self.target != Target.persons:
            v.setdefault("building_id", placement.building_id)
        return placement.path

    def _refs_persons(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError]) -> str | None:
        b = self.building(v)
        if b is not None:
            got = self._resolve(b, errors)
            if got is None:
                return None
            if not v.get("room"):
                errors.append(RowError("room", "required", "填写了楼栋时室号不能为空"))
                return None
            h = self._resolve(self.household(got[0], v.get("entrance"), str(v["room"])), errors)
            if h is None:
                return None
            v["household_id"] = h[0]
            return h[1]
        return self._grid_or_place(v, as_of, errors, point=False)

    def _refs_buildings(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError]) -> str | None:
        return self._grid_or_place(v, as_of, errors, point=True)

    def _refs_organisations(self, v: dict[str, Any], as_of: dt.date, errors: list[RowError]) -> str | None:
        if v.get("building_code"):
            found = self.building({"building_code": v["building_code"]})
            got = self._resolve(found, errors) if found is not None else None
            if got is None:
                return None
            v["building_id"] = got[0]
        return self._grid_or_place(v, as_of, errors, point=True)
