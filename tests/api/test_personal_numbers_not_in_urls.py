"""Exact-match lookups by ID number or phone travel in a POST body, never in a URL (URLs end up in access logs,
proxies and browser history): the API refuses such query parameters with a 422 that says where to send them, and
offers POST search and export endpoints with a JSON body instead."""

from __future__ import annotations

import io
from typing import Any

import pytest
from apihelpers import Api, GridSet
from openpyxl import load_workbook


@pytest.mark.parametrize("path", ["/registry/persons", "/registry/persons/export", "/registry/buildings",
                                  "/cases", "/users"])
@pytest.mark.parametrize("param", ["id_number", "phone"])
def test_a_personal_number_in_a_query_string_is_refused_with_a_pointer_to_the_post_search(
        api: Api, path: str, param: str) -> None:
    r = api.get("admin", path, params={param: "13812345678" if param == "phone" else "33052219530323642X"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "personal_number_in_url" and "POST" in body["message"] and "网址" in body["message"]
    assert body["details"]["parameters"] == [param]
    assert "13812345678" not in r.text and "33052219530323642X" not in r.text


def test_persons_are_searched_by_exact_id_number_and_phone_in_a_post_body(
        api: Api, registry: dict[str, GridSet]) -> None:
    ga = registry["ga"]
    pid, phone = ga.secrets["id_number"], ga.secrets["phone"]

    def ids(**body: Any) -> list[str]:
        r = api.post("jiedao1", "/registry/persons/search", json=body)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert ids(id_number=pid) == [ga.person["id"]]
    assert ids(id_number=pid.lower()) == [ga.person["id"]]
    assert ids(id_number=pid[:-1]) == []
    assert ids(phone=f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}") == [ga.person["id"]]
    assert ids(phone=phone, unit_id=str(registry["gb"].person["grid_id"])) == []
    r = api.post("jiedao1", "/registry/persons/search", json={"phone": "12345"})
    assert r.status_code == 422 and r.json()["code"] == "mobile_format"
    r = api.post("jiedao1", "/registry/persons/search", json={"page_size": 1, "page": 1})
    assert r.status_code == 200 and r.json()["page_size"] == 1 and r.json()["total"] >= 2
    assert api.post("jumin", "/registry/persons/search", json={"id_number": pid}).status_code == 403
    assert api.post(None, "/registry/persons/search", json={"id_number": pid}).status_code == 401


def test_a_register_is_exported_with_its_filters_in_a_post_body(api: Api, registry: dict[str, GridSet]) -> None:
    ga = registry["ga"]
    r = api.post("jiedao1", "/registry/persons/export", json={"id_number": ga.secrets["id_number"]})
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 2 and ga.person["name"] in rows[1]
    r = api.post("jiedao1", "/registry/buildings/export", json={"phone": ga.secrets["phone"]})
    assert r.status_code == 422 and r.json()["code"] == "bad_export_filter"


def test_the_export_audit_record_keeps_the_personal_numbers_it_was_filtered_by_masked(
        api: Api, registry: dict[str, GridSet], db: Any) -> None:
    from apihelpers import audit_events

    ga = registry["ga"]
    pid, phone = ga.secrets["id_number"], ga.secrets["phone"]
    for body in ({"id_number": pid}, {"phone": phone}):
        assert api.post("jiedao1", "/registry/persons/export", json=body).status_code == 200
    filters = [e.after["filters"] for e in audit_events(db, "registry.export")]
    assert filters == [{"id_number": f"{pid[:4]}**********{pid[-4:]}"}, {"phone": f"{phone[:3]}****{phone[-4:]}"}]
