"""The standard model (标准模型): the fields each target of the data hub takes, whatever a source calls them.

For the four registers the standard fields *are* the register's own columns (:data:`zhili.registry.fields.COLUMNS`,
the same table the Excel import and the page forms read), plus the fields other departments' systems carry that
the register derives or keeps elsewhere (gender and birth date, a free-text address to be parsed and placed). For
historical cases (热线/12345 工单, 311 exports) the fields are :data:`CASE_FIELDS`.

A mapping template maps a source's columns onto these keys; validation rules are chosen by a field's ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zhili.datahub.models import Target
from zhili.registry.fields import COLUMNS, GENDERS
from zhili.registry.models import RegisterKind

# kinds: text | int | float | bool | date | datetime | choice | tags | id_number | mobile | credit_code | ref
KINDS = ("text", "int", "float", "bool", "date", "datetime", "choice", "tags", "id_number", "mobile",
         "credit_code", "ref")


@dataclass(frozen=True)
class StdField:
    """One field of the standard model."""

    key: str
    label: str  # Chinese: the prefix of every message about the field
    kind: str = "text"
    required: bool = False
    pii: bool = False  # ID or phone number: stored encrypted, masked whenever shown
    choices: dict[str, str] = field(default_factory=dict)  # stored value → Chinese label
    max_length: int | None = None
    note: str = ""


def _from_register(kind: RegisterKind) -> tuple[StdField, ...]:
    return tuple(StdField(f.key, f.label, f.kind, f.required, f.pii, dict(f.choices), note=f.note)
                 for f in COLUMNS[kind])


_PERSON_EXTRA = (
    StdField("gender", "性别", "choice", choices=dict(GENDERS), note="核对身份证号中的性别"),
    StdField("birth_date", "出生日期", "date", note="核对身份证号中的出生日期"),
    StdField("address", "住址", "text", max_length=255, note="未填房屋时按地址解析定位"),
)

CASE_FIELDS: tuple[StdField, ...] = (
    StdField("external_id", "原始编号", required=True, max_length=64,
             note="来源系统中的工单/留言编号：再次导入时据此去重"),
    StdField("title", "标题", max_length=200, note="不填时取正文开头"),
    StdField("description", "内容", required=True),
    StdField("category_label", "原分类", max_length=100, note="来源系统的分类名称；可经值映射对应到本平台分类"),
    StdField("category_code", "分类代码", max_length=32, note="本平台事项分类代码"),
    StdField("reported_at", "上报时间", "datetime", required=True),
    StdField("closed_at", "办结时间", "datetime"),
    StdField("status", "原状态", max_length=32),
    StdField("address", "地址", max_length=255),
    StdField("lon", "经度", "float"),
    StdField("lat", "纬度", "float"),
    StdField("department", "承办部门", max_length=100),
    StdField("reply", "答复意见"),
    StdField("replied_at", "答复时间", "datetime"),
    StdField("reporter_name", "上报人", max_length=64, pii=True),
    StdField("reporter_phone", "联系电话", "mobile", pii=True),
)

FIELDS: dict[Target, tuple[StdField, ...]] = {
    Target.buildings: _from_register(RegisterKind.buildings),
    Target.households: _from_register(RegisterKind.households),
    Target.persons: _from_register(RegisterKind.persons) + _PERSON_EXTRA,
    Target.organisations: _from_register(RegisterKind.organisations),
    Target.cases: CASE_FIELDS,
}

# Extra columns a template keeps as attributes (``attributes.<name>``: numbers such as likes, free labels) are
# allowed for every target under this prefix.
ATTRIBUTE_PREFIX = "attributes."

REGISTER_KIND: dict[Target, RegisterKind] = {
    Target.buildings: RegisterKind.buildings, Target.households: RegisterKind.households,
    Target.persons: RegisterKind.persons, Target.organisations: RegisterKind.organisations,
}


def fields(target: Target) -> dict[str, StdField]:
    """The standard fields of ``target`` by key."""
    return {f.key: f for f in FIELDS[target]}


def is_field(target: Target, key: str) -> bool:
    """True if ``key`` is a standard field of ``target`` or an attribute (``attributes.<name>``)."""
    return key in fields(target) or (key.startswith(ATTRIBUTE_PREFIX) and len(key) > len(ATTRIBUTE_PREFIX))


def describe(target: Target) -> list[dict[str, Any]]:
    """The standard model of ``target`` as JSON (the template editor and docs/datahub.md show it)."""
    return [{"key": f.key, "label": f.label, "kind": f.kind, "required": f.required, "pii": f.pii,
             "choices": f.choices, "note": f.note} for f in FIELDS[target]]
