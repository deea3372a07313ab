"""Hostile free-form JSON (issue 14, defect 1): a report's ``attributes`` follow its category's declaration
(Open311 service definition: code, datatype, required, values), every other stored free JSON is bounded, and a
legacy row whose attributes cannot be serialized does not break any list, detail or export."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from casekit import CN
from sqlalchemy import func, select, update

from zhili.cases.models import Case
from zhili.core.errors import ValidationFailed


def _nested(depth: int) -> Any:
    v: Any = "x"
    for _ in range(depth):
        v = {"a": v}
    return v


def _count(kit: Any) -> int:
    return int(kit.db.scalar(select(func.count()).select_from(Case)) or 0)


def test_a_report_with_attributes_nested_256_deep_is_refused_and_the_case_list_keeps_working(kit):
    before = _count(kit)
    r = kit.post("jumin", "/cases", json={"category_code": "T0201", "description": "井盖缺失", "lon": 119.1,
                                           "lat": 31.1, "attributes": {"material": _nested(256)}})
    assert r.status_code == 422, r.text
    assert re.search(CN, r.json()["message"])
    assert _count(kit) == before
    assert kit.get("jumin", "/cases").status_code == 200
    assert kit.get("zhihui", "/cases").status_code == 200


@pytest.mark.parametrize(("attributes", "code", "named"), [
    ({"colour": "红"}, "attribute_unknown", "colour"),                      # not declared for the category
    ({"material": "木头"}, "attribute_not_in_values", "material"),           # outside the declared values
    ({"material": ["铸铁"]}, "attribute_bad_type", "material"),              # a list for a single value
    ({"material": "铸铁", "diameter_cm": "七十"}, "attribute_bad_type", "diameter_cm"),
    ({"material": "铸铁", "diameter_cm": True}, "attribute_bad_type", "diameter_cm"),
    ({"material": "铸铁", "diameter_cm": {"a": 1}}, "attribute_bad_type", "diameter_cm"),
    ({"material": "铸铁", "note": "长" * 1001}, "attribute_too_long", "note"),
])
def test_attributes_are_checked_against_the_category_declaration(kit, attributes, code, named):
    before = _count(kit)
    r = kit.post("jumin", "/cases", json={"category_code": "T0201", "description": "井盖缺失", "lon": 119.1,
                                           "lat": 31.1, "attributes": attributes})
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert re.search(CN, r.json()["message"]) and named in r.json()["message"]
    assert _count(kit) == before


@pytest.mark.parametrize(("attributes", "code", "named"), [
    ({}, "attribute_required", "light_fault"),
    ({"light_fault": ""}, "attribute_required", "light_fault"),
    ({"light_fault": "off", "faults": ["pole", "fire"]}, "attribute_not_in_values", "faults"),
    ({"light_fault": "off", "since": "昨天"}, "attribute_bad_type", "since"),
])
def test_required_list_and_datetime_attributes(kit, attributes, code, named):
    r = kit.post("jumin", "/cases", json={"category_code": "T0202", "description": "路灯", "lon": 119.1,
                                           "lat": 31.1, "attributes": attributes})
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert named in r.json()["message"]
    ok = kit.report("jumin", category="T0202", description="路灯不亮",
                    attributes={"light_fault": "off", "faults": ["pole", "wire"], "since": "2026-01-02T20:00"})
    assert ok["attributes"]["faults"] == ["pole", "wire"]


def test_declared_attributes_are_kept_and_a_category_without_declarations_takes_none(kit):
    c = kit.report("jumin", category="T0201", description="井盖缺失",
                   attributes={"material": "铸铁", "diameter_cm": 70, "note": "在路口"})
    assert c["attributes"] == {"material": "铸铁", "diameter_cm": 70, "note": "在路口"}
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "垃圾", "lon": 119.1,
                                           "lat": 31.1, "attributes": {"floor": 3}})
    assert (r.status_code, r.json()["code"]) == (422, "attribute_unknown")


def test_intake_checks_attributes_for_every_channel_not_only_the_api(kit):
    from zhili.cases import service
    from zhili.cases.models import Channel

    with pytest.raises(ValidationFailed) as exc:
        service.report_case(kit.db, principal=None, channel=Channel.open311,
                            data={"category_code": "T0201", "description": "井盖", "lon": 119.1, "lat": 31.1,
                                  "attributes": {"material": _nested(300)}})
    assert exc.value.code in ("attribute_bad_type", "json_too_deep")


def test_a_legacy_case_with_unserializable_attributes_does_not_break_lists_details_or_exports(kit):
    c = kit.report("jumin")
    kit.db.execute(update(Case).where(Case.id == uuid.UUID(c["id"])).values(attributes=_nested(300)))
    kit.db.flush()
    kit.db.expire_all()
    for who in ("jumin", "zhihui"):
        r = kit.get(who, "/cases")
        assert r.status_code == 200, r.text
        item = next(x for x in r.json()["items"] if x["id"] == c["id"])
        assert item["attributes"] == {}
        assert kit.get(who, f"/cases/{c['id']}").status_code == 200
        assert kit.get(who, f"/cases/by-number/{c['number']}").status_code == 200
    assert kit.get("zhihui", "/cases/export.xlsx").status_code == 200


@pytest.mark.parametrize(("value", "code"), [
    (_nested(9), "json_too_deep"),
    ({f"k{i}": i for i in range(65)}, "json_too_many_keys"),
    ({"a": "x" * 17_000}, "json_too_large"),
    ([[[[[[[[[1]]]]]]]]], "json_too_deep"),
])
def test_free_json_is_bounded_in_depth_keys_and_size(value, code):
    from zhili.core.jsonbounds import check_free_json

    with pytest.raises(ValidationFailed) as exc:
        check_free_json(value, name="payload")
    assert exc.value.code == code and re.search(CN, exc.value.message) and "payload" in exc.value.message


def test_free_json_within_the_bounds_passes_unchanged():
    from zhili.core.jsonbounds import check_free_json

    value = {"a": _nested(7), "b": [1, 2.5, None, True], "c": "文本"}
    assert check_free_json(value, name="payload") is value
