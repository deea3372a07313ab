"""Open311 GeoReport v2 at /open311/v2, checked against the published spec (wiki.open311.org/GeoReport_v2 and
/Service_Discovery): element and field names, the XML shape, the error format, and the platform's own promises
(case numbers as ids, binary status, 90-day default window, masking, no reporter identity in any answer).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from o311helpers import BASE, DISTRICT, LAT_GA, LONG_GA
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>'
SHANGHAI = ZoneInfo("Asia/Shanghai")
ISO_0800 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


# -- helpers ------------------------------------------------------------------------------------------------

def xml_of(r: Any) -> ET.Element:
    """The parsed XML body, after checking the spec's content type and the UTF-8 declaration."""
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.content.startswith(XML_DECL), r.content[:80]
    assert r.content.count(b"<?xml") == 1
    return ET.fromstring(r.content)


def json_of(r: Any) -> Any:
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    return r.json()


def record(el: ET.Element) -> dict[str, str | None]:
    """A flat XML record (``<request><a>1</a>…``) as {tag: text}."""
    return {child.tag: child.text for child in el}


def assert_json_error(r: Any, status: int) -> str:
    """The spec's JSON error: an array of {code, description} with the HTTP status as code."""
    assert r.status_code == status, r.text
    body = json_of(r)
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert isinstance(body[0]["description"], str) and body[0]["description"]
    return body[0]["description"]


def assert_xml_error(r: Any, status: int) -> str:
    """The spec's XML error: ``<errors><error><code>…</code><description>…</description></error></errors>``."""
    assert r.status_code == status, r.text
    root = xml_of(r)
    assert root.tag == "errors"
    errors = root.findall("error")
    assert len(errors) == 1
    assert errors[0].findtext("code") == str(status)
    description = errors[0].findtext("description")
    assert description
    return description


def post(client: Any, fields: dict[str, Any], fmt: str = "json") -> Any:
    """POST requests.{fmt} as the spec sends it: a UTF-8 application/x-www-form-urlencoded body."""
    return client.post(f"{BASE}/requests.{fmt}", content=urlencode(fields, doseq=True).encode("utf-8"),
                       headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def file_request(client: Any, o311: Any, service_code: str = "SR-0101", **extra: Any) -> str:
    r = post(client, o311.form(service_code, **extra))
    assert r.status_code == 200, r.text
    return r.json()[0]["service_request_id"]


def case_row(db: Session, number: str) -> Any:
    from zhili.cases.models import Case

    case = db.scalar(select(Case).where(Case.number == number))
    assert case is not None
    return case


def case_count(db: Session) -> int:
    from zhili.cases.models import Case

    return int(db.scalar(select(func.count()).select_from(Case)) or 0)


def set_reported_at(db: Session, number: str, moment: dt.datetime) -> None:
    from zhili.cases.models import Case

    db.execute(update(Case).where(Case.number == number).values(reported_at=moment))
    db.commit()


def act(db: Session, o311: Any, number: str, action: str, **payload: Any) -> None:
    """Apply a workflow action as the command centre (zhihui)."""
    from zhili.cases import engine
    from zhili.users.service import principal_for_user

    principal = principal_for_user(db, user=o311.world.users["zhihui"])
    engine.transition(db, principal=principal, case_id=case_row(db, number).id, action=action, payload=payload)
    db.commit()


def listed(client: Any, **params: str) -> list[str]:
    r = client.get(f"{BASE}/requests.json", params=params)
    assert r.status_code == 200, r.text
    return [item["service_request_id"] for item in json_of(r)]


def w3(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- service discovery ----------------------------------------------------------------------------------------

def test_discovery_json_has_the_required_fields_and_one_georeport_v2_endpoint_in_xml_and_json(client):
    r = client.get(f"{BASE}/discovery.json")
    assert r.status_code == 200
    body = json_of(r)
    for name in ("changeset", "contact", "key_service"):
        assert isinstance(body[name], str) and body[name]
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["type"] in ("production", "test")
    assert isinstance(endpoint["changeset"], str) and endpoint["changeset"]
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["url"].endswith("/open311/v2")


def test_discovery_url_is_the_base_the_georeport_methods_hang_from(client, o311):
    endpoint = client.get(f"{BASE}/discovery.json").json()["endpoints"][0]
    path = urlsplit(endpoint["url"]).path
    assert client.get(f"{path}/services.xml").status_code == 200
    assert client.get(f"{path}/services.json").status_code == 200


def test_discovery_xml_nests_endpoints_endpoint_and_formats_format(client):
    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    for name in ("changeset", "contact", "key_service"):
        assert root.findtext(name)
    endpoints = root.findall("endpoints/endpoint")
    assert len(endpoints) == 1
    ep = endpoints[0]
    assert ep.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert ep.findtext("url", "").endswith("/open311/v2")
    assert ep.findtext("changeset")
    assert ep.findtext("type") in ("production", "test")
    assert [f.text for f in ep.findall("formats/format")] == ["text/xml", "application/json"]


# -- GET services -------------------------------------------------------------------------------------------

def test_services_json_lists_each_active_leaf_category_as_a_realtime_service(client, o311):
    r = client.get(f"{BASE}/services.json")
    assert r.status_code == 200
    services = {s["service_code"]: s for s in json_of(r)}
    # Non-leaf levels (SR, SR-01, SW) and the inactive SR-0199 are not services.
    assert set(services) == {"SR-0101", "SR-0102", "0101"}
    for s in services.values():
        assert {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"} <= set(s)
        assert s["type"] == "realtime"
    assert services["SR-0101"]["service_name"] == "占道经营"
    assert services["SR-0101"]["description"] == "流动摊贩或店外占道经营。"


def test_service_code_is_always_a_string_even_when_it_looks_like_a_number(client, o311):
    services = client.get(f"{BASE}/services.json").json()
    assert all(isinstance(s["service_code"], str) for s in services)
    assert "0101" in [s["service_code"] for s in services]


def test_service_group_is_the_top_level_taxonomy_name_not_the_direct_parent(client, o311):
    services = {s["service_code"]: s for s in client.get(f"{BASE}/services.json").json()}
    assert services["SR-0101"]["group"] == "市容秩序"  # parent is 街面秩序, its parent 市容秩序
    assert services["SR-0102"]["group"] == "市容秩序"
    assert services["0101"]["group"] == "水务管理"


def test_service_metadata_is_true_only_when_the_service_has_attributes(client, o311):
    services = {s["service_code"]: s for s in client.get(f"{BASE}/services.json").json()}
    assert services["SR-0101"]["metadata"] is True
    assert services["SR-0102"]["metadata"] is False
    assert services["0101"]["metadata"] is False


def test_service_keywords_are_a_comma_separated_list_in_json_as_in_xml(client, o311):
    services = {s["service_code"]: s for s in client.get(f"{BASE}/services.json").json()}
    keywords = services["SR-0101"]["keywords"]
    assert isinstance(keywords, str)
    assert [k.strip() for k in keywords.split(",")] == ["流动摊贩", "马路市场"]
    root = xml_of(client.get(f"{BASE}/services.xml"))
    xml_services = {s.findtext("service_code"): s for s in root.findall("service")}
    assert xml_services["SR-0101"].findtext("keywords") == keywords


def test_services_xml_is_services_service_with_text_xml_and_a_utf8_declaration(client, o311):
    r = client.get(f"{BASE}/services.xml")
    assert r.status_code == 200
    root = xml_of(r)
    assert root.tag == "services"
    assert all(child.tag == "service" for child in root)
    services = {s.findtext("service_code"): record(s) for s in root.findall("service")}
    assert set(services) == {"SR-0101", "SR-0102", "0101"}
    s = services["SR-0101"]
    assert s["service_name"] == "占道经营"  # UTF-8 text survives
    assert s["metadata"] == "true" and services["SR-0102"]["metadata"] == "false"
    assert s["type"] == "realtime"
    assert s["group"] == "市容秩序"
    assert services["0101"]["service_code"] == "0101"


def test_services_json_is_utf8_without_escapes(client, o311):
    r = client.get(f"{BASE}/services.json")
    assert "占道经营".encode() in r.content


# -- GET service definition -----------------------------------------------------------------------------------

def test_service_definition_json_gives_each_attribute_with_the_spec_fields(client, o311):
    r = client.get(f"{BASE}/services/SR-0101.json")
    assert r.status_code == 200
    body = json_of(r)
    assert body["service_code"] == "SR-0101"
    attrs = {a["code"]: a for a in body["attributes"]}
    assert set(attrs) == {"stall_size", "goods", "stall_count"}
    for a in attrs.values():
        assert {"variable", "code", "datatype", "required", "datatype_description", "order",
                "description"} <= set(a)
        assert a["variable"] is True
        assert isinstance(a["order"], int) and a["order"] >= 1
    assert sorted(a["order"] for a in attrs.values()) == [1, 2, 3]
    size = attrs["stall_size"]
    assert size["datatype"] == "singlevaluelist"
    assert size["required"] is True
    assert size["datatype_description"] == "选择一项"
    assert size["description"] == "摊位规模"
    assert size["values"] == [{"key": "small", "name": "单个摊位"}, {"key": "large", "name": "成片摊点"}]
    assert attrs["goods"]["datatype"] == "multivaluelist" and attrs["goods"]["required"] is False
    assert [v["key"] for v in attrs["goods"]["values"]] == ["food", "fruit", "other"]
    assert attrs["stall_count"]["datatype"] == "number"


def test_service_definition_xml_nests_attributes_attribute_values_value_key_name(client, o311):
    root = xml_of(client.get(f"{BASE}/services/SR-0101.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "SR-0101"
    attrs = {a.findtext("code"): a for a in root.findall("attributes/attribute")}
    assert set(attrs) == {"stall_size", "goods", "stall_count"}
    size = attrs["stall_size"]
    assert size.findtext("variable") == "true"
    assert size.findtext("datatype") == "singlevaluelist"
    assert size.findtext("required") == "true"
    assert size.findtext("datatype_description") == "选择一项"
    assert size.findtext("order") == "1"
    assert size.findtext("description") == "摊位规模"
    values = [(v.findtext("key"), v.findtext("name")) for v in size.findall("values/value")]
    assert values == [("small", "单个摊位"), ("large", "成片摊点")]
    assert attrs["goods"].findtext("required") == "false"


def test_service_definition_of_a_service_without_attributes_has_none(client, o311):
    body = client.get(f"{BASE}/services/SR-0102.json").json()
    assert body == {"service_code": "SR-0102", "attributes": []}


@pytest.mark.parametrize("code", ["NOPE-99", "SR", "SR-01", "SR-0199"])
def test_service_definition_of_an_unknown_parent_or_inactive_code_is_404_in_the_spec_format(client, o311, code):
    assert_json_error(client.get(f"{BASE}/services/{code}.json"), 404)
    assert_xml_error(client.get(f"{BASE}/services/{code}.xml"), 404)


def test_services_for_another_jurisdiction_are_404(client, o311):
    assert_json_error(client.get(f"{BASE}/services.json", params={"jurisdiction_id": "330521"}), 404)
    assert_xml_error(client.get(f"{BASE}/services/SR-0101.xml", params={"jurisdiction_id": "x.gov"}), 404)
    assert client.get(f"{BASE}/services.json", params={"jurisdiction_id": DISTRICT}).status_code == 200


# -- POST service request -------------------------------------------------------------------------------------

def test_post_json_files_a_case_and_answers_with_its_number_as_service_request_id(client, db, o311):
    before = case_count(db)
    r = post(client, o311.form())
    assert r.status_code == 200, r.text
    (item,) = json_of(r)
    number = item["service_request_id"]
    today = dt.datetime.now(SHANGHAI).strftime("%Y%m%d")
    assert re.fullmatch(rf"{DISTRICT}-{today}-\d{{6}}", number), number
    assert "token" not in item  # realtime: an id, never both
    assert isinstance(item["service_notice"], str)
    assert "account_id" in item
    assert case_count(db) == before + 1
    case = case_row(db, number)
    assert case.channel.value == "open311"
    assert case.category_code == "SR-0101"
    assert case.grid_id == o311.world.units["ga"].id
    assert (case.lat, case.lon) == (float(LAT_GA), float(LONG_GA))


def test_post_xml_answers_service_requests_request_service_request_id(client, o311):
    r = post(client, o311.form(), fmt="xml")
    assert r.status_code == 200, r.text
    root = xml_of(r)
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert re.fullmatch(rf"{DISTRICT}-\d{{8}}-\d{{6}}", req.findtext("service_request_id") or "")
    assert req.find("token") is None


def test_post_echoes_account_id(client, o311):
    r = post(client, o311.form(account_id="acct-42"))
    assert r.json()[0]["account_id"] == "acct-42"


def test_post_without_api_key_is_403_as_a_json_error_array(client, db, o311):
    before = case_count(db)
    form = o311.form()
    del form["api_key"]
    assert_json_error(post(client, form), 403)
    assert_json_error(post(client, {**form, "api_key": ""}), 403)
    assert case_count(db) == before


def test_post_without_api_key_is_403_as_xml_errors_error_code(client, o311):
    form = o311.form()
    del form["api_key"]
    assert_xml_error(post(client, form, fmt="xml"), 403)


def test_post_with_a_wrong_api_key_is_403_and_files_nothing(client, db, o311):
    before = case_count(db)
    assert_json_error(post(client, o311.form(api_key="o311_not-a-real-key")), 403)
    assert_xml_error(post(client, o311.form(api_key=o311.api_key + "x"), fmt="xml"), 403)
    assert case_count(db) == before


def test_post_with_a_revoked_api_key_is_403(client, db, o311):
    from zhili.open311.service import revoke_api_key

    assert post(client, o311.form()).status_code == 200
    revoke_api_key(db, principal=None, prefix=o311.key_prefix)
    db.commit()
    before = case_count(db)
    assert_json_error(post(client, o311.form()), 403)
    assert_xml_error(post(client, o311.form(), fmt="xml"), 403)
    assert case_count(db) == before


def test_post_with_address_string_only_is_accepted_and_placed_at_district_level(client, db, o311):
    form = o311.form(address_string="雉城街道金陵北路12号门口")
    del form["lat"], form["long"]
    r = post(client, form)
    assert r.status_code == 200, r.text
    number = r.json()[0]["service_request_id"]
    case = case_row(db, number)
    assert case.grid_id is None
    assert case.path == o311.world.units["district"].path
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert item["address"] == "雉城街道金陵北路12号门口"
    assert item["lat"] is None and item["long"] is None


def test_post_with_only_lat_or_only_long_and_no_address_is_400(client, o311):
    form = o311.form()
    del form["long"]
    assert_json_error(post(client, form), 400)
    form = o311.form()
    del form["lat"], form["long"]
    assert_xml_error(post(client, form, fmt="xml"), 400)


def test_post_parses_attribute_code_and_repeated_attribute_code_brackets(client, db, o311):
    fields: dict[str, Any] = o311.form()
    fields["attribute[stall_size]"] = "large"
    fields["attribute[goods][]"] = ["food", "fruit"]
    fields["attribute[stall_count]"] = "3"
    r = post(client, fields)
    assert r.status_code == 200, r.text
    attrs = case_row(db, r.json()[0]["service_request_id"]).attributes
    assert attrs["stall_size"] == "large"
    assert attrs["goods"] == ["food", "fruit"]
    assert attrs["stall_count"] == "3"


def test_post_with_a_single_value_for_a_multivaluelist_stores_a_one_item_list(client, db, o311):
    r = post(client, {**o311.form(), "attribute[goods]": "fruit"})
    assert r.status_code == 200, r.text
    assert case_row(db, r.json()[0]["service_request_id"]).attributes["goods"] == ["fruit"]


def test_post_missing_a_required_attribute_is_400(client, db, o311):
    before = case_count(db)
    form = o311.form()
    del form["attribute[stall_size]"]
    assert_json_error(post(client, form), 400)
    assert_json_error(post(client, {**form, "attribute[stall_size]": ""}), 400)
    assert_xml_error(post(client, form, fmt="xml"), 400)
    assert case_count(db) == before


def test_post_with_a_value_outside_the_list_is_400(client, db, o311):
    before = case_count(db)
    assert_json_error(post(client, o311.form(**{"attribute[stall_size]": "huge"})), 400)
    assert_json_error(post(client, {**o311.form(), "attribute[goods][]": ["food", "gold"]}), 400)
    assert case_count(db) == before


def test_post_with_several_values_for_a_singlevaluelist_is_400(client, o311):
    form: dict[str, Any] = o311.form()
    del form["attribute[stall_size]"]
    form["attribute[stall_size][]"] = ["small", "large"]
    assert_json_error(post(client, form), 400)


def test_post_with_a_non_numeric_number_attribute_is_400(client, o311):
    assert_json_error(post(client, o311.form(**{"attribute[stall_count]": "三个"})), 400)


def test_post_description_of_4000_characters_is_accepted_and_4001_is_400(client, db, o311):
    r = post(client, o311.form(description="占" * 4000))
    assert r.status_code == 200, r.text
    assert len(case_row(db, r.json()[0]["service_request_id"]).description) == 4000
    before = case_count(db)
    assert_json_error(post(client, o311.form(description="占" * 4001)), 400)
    assert_xml_error(post(client, o311.form(description="x" * 4001), fmt="xml"), 400)
    assert case_count(db) == before


@pytest.mark.parametrize("code", ["NOPE-99", "SR", "SR-0199"])
def test_post_with_an_unknown_parent_or_inactive_service_code_is_404(client, db, o311, code):
    before = case_count(db)
    assert_json_error(post(client, o311.form(code)), 404)
    assert_xml_error(post(client, o311.form(code), fmt="xml"), 404)
    assert case_count(db) == before


def test_post_without_service_code_is_400(client, o311):
    form = o311.form()
    del form["service_code"]
    assert_json_error(post(client, form), 400)


def test_post_with_this_districts_jurisdiction_id_is_accepted_and_another_is_404(client, db, o311):
    assert post(client, o311.form(jurisdiction_id=DISTRICT)).status_code == 200
    before = case_count(db)
    assert_json_error(post(client, o311.form(jurisdiction_id="sfgov.org")), 404)
    assert_xml_error(post(client, o311.form(jurisdiction_id="330521"), fmt="xml"), 404)
    assert case_count(db) == before


def test_post_to_an_unsupported_format_is_404_and_files_nothing(client, db, o311):
    before = case_count(db)
    r = post(client, o311.form(), fmt="csv")
    assert r.status_code == 404
    assert case_count(db) == before


def test_reporter_identity_given_in_post_never_appears_in_any_get(client, o311):
    secrets = {"first_name": "翠山", "last_name": "欧阳", "phone": "13987654321",
               "email": "cuishan.ouyang@example.com"}
    number = file_request(client, o311, **secrets)
    urls = [f"{BASE}/requests.{f}" for f in ("json", "xml")]
    urls += [f"{BASE}/requests.{f}?extensions=true" for f in ("json", "xml")]
    urls += [f"{BASE}/requests.{f}?service_request_id={number}&extensions=true" for f in ("json", "xml")]
    urls += [f"{BASE}/requests/{number}.{f}" for f in ("json", "xml")]
    urls += [f"{BASE}/requests/{number}.{f}?extensions=true" for f in ("json", "xml")]
    urls += [f"{BASE}/tokens/{number}.{f}" for f in ("json", "xml")]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
        assert number in r.text
        for value in (*secrets.values(), "cuishan", "ouyang", "139****4321"):
            assert value not in r.text, (url, value)


# -- GET service requests -----------------------------------------------------------------------------------

def test_get_requests_gives_every_spec_field_for_a_request(client, o311):
    number = file_request(client, o311)
    (item,) = json_of(client.get(f"{BASE}/requests.json"))
    assert set(item) >= REQUEST_FIELDS
    assert item["service_request_id"] == number
    assert item["service_code"] == "SR-0101" and item["service_name"] == "占道经营"
    assert item["description"] == "人行道上有流动摊贩占道经营"
    assert item["lat"] == float(LAT_GA) and item["long"] == float(LONG_GA)
    assert "extended_attributes" not in item
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert {child.tag for child in req} >= REQUEST_FIELDS
    assert req.findtext("service_request_id") == number
    assert req.find("extended_attributes") is None


def test_service_request_id_list_overrides_all_other_filters(client, db, o311):
    a = file_request(client, o311)
    b = file_request(client, o311, "SR-0102")
    other = file_request(client, o311, "SR-0102")
    act(db, o311, b, "reject", reason="重复上报")
    set_reported_at(db, b, now() - dt.timedelta(days=200))
    got = listed(client, service_request_id=f"{a},{b}", service_code="0101", status="closed",
                 start_date=w3(now() - dt.timedelta(days=2)), end_date=w3(now() - dt.timedelta(days=1)))
    assert sorted(got) == sorted([a, b])
    assert other not in got


def test_service_code_filter_takes_one_code_or_a_comma_list(client, o311):
    a = file_request(client, o311, "SR-0101")
    b = file_request(client, o311, "SR-0102")
    c = file_request(client, o311, "0101")
    assert listed(client, service_code="SR-0102") == [b]
    assert sorted(listed(client, service_code="SR-0101,0101")) == sorted([a, c])


def test_status_filter_selects_open_or_closed_requests(client, db, o311):
    a = file_request(client, o311)
    b = file_request(client, o311, "SR-0102")
    act(db, o311, b, "reject", reason="不属于受理范围")
    assert listed(client, status="open") == [a]
    assert listed(client, status="closed") == [b]
    assert sorted(listed(client, status="open,closed")) == sorted([a, b])


def test_an_unknown_status_or_a_malformed_date_is_400_in_the_spec_format(client, o311):
    assert_json_error(client.get(f"{BASE}/requests.json", params={"status": "pending"}), 400)
    assert_xml_error(client.get(f"{BASE}/requests.xml", params={"start_date": "last tuesday"}), 400)
    assert_json_error(client.get(f"{BASE}/requests.json", params={
        "start_date": w3(now()), "end_date": w3(now() - dt.timedelta(days=3))}), 400)


def test_start_date_and_end_date_select_by_requested_datetime(client, db, o311):
    old, middle, recent = (file_request(client, o311) for _ in range(3))
    set_reported_at(db, old, now() - dt.timedelta(days=10))
    set_reported_at(db, middle, now() - dt.timedelta(days=5))
    set_reported_at(db, recent, now() - dt.timedelta(days=1))
    window = {"start_date": w3(now() - dt.timedelta(days=7)), "end_date": w3(now() - dt.timedelta(days=2))}
    assert listed(client, **window) == [middle]
    assert sorted(listed(client, start_date=w3(now() - dt.timedelta(days=6)))) == sorted([middle, recent])
    assert sorted(listed(client, end_date=w3(now() - dt.timedelta(days=4)))) == sorted([old, middle])
    # An offset other than Z is honoured too.
    local = (now() - dt.timedelta(days=7)).astimezone(SHANGHAI).isoformat(timespec="seconds")
    assert middle in listed(client, start_date=local, end_date=w3(now() - dt.timedelta(days=2)))


def test_default_window_is_the_last_90_days(client, db, o311):
    inside = file_request(client, o311)
    outside = file_request(client, o311)
    set_reported_at(db, inside, now() - dt.timedelta(days=89))
    set_reported_at(db, outside, now() - dt.timedelta(days=120))
    assert listed(client) == [inside]
    assert listed(client, status="open") == [inside]
    window = {"start_date": w3(now() - dt.timedelta(days=125)), "end_date": w3(now() - dt.timedelta(days=115))}
    assert listed(client, **window) == [outside]
    # The single-request method has no window.
    assert client.get(f"{BASE}/requests/{outside}.json").status_code == 200


def test_at_most_1000_requests_are_returned(client, db, o311):
    from zhili.cases.models import Case, CaseState, Channel, Urgency
    from zhili.core.ids import new_id

    cat = o311.services["SR-0102"]
    t0 = now()
    rows = [{
        "id": new_id(), "number": f"{DISTRICT}-20260101-{i:06d}", "channel": Channel.open311,
        "state": CaseState.reported, "category_id": cat.id, "category_code": cat.code, "title": f"第{i}件",
        "description": f"第{i}件", "urgency": Urgency.normal, "path": DISTRICT, "attributes": {},
        "anonymous": True, "is_public": True, "is_joint": False, "warning_level": "none", "overdue": False,
        "reopen_count": 0, "support_count": 0, "reported_at": t0 - dt.timedelta(minutes=i),
        "created_at": t0, "updated_at": t0, "version": 1,
    } for i in range(1, 1006)]
    if hasattr(Case, "reported_day"):  # local reporting date, where the model has it
        for row in rows:
            row["reported_day"] = row["reported_at"].astimezone(SHANGHAI).date()
    db.execute(insert(Case), rows)
    db.commit()
    got = listed(client)
    assert len(got) == 1000
    assert got[0] == f"{DISTRICT}-20260101-000001"  # newest first, so the oldest five are cut
    assert len(xml_of(client.get(f"{BASE}/requests.xml")).findall("request")) == 1000


def test_status_is_binary_whatever_the_detailed_state(client, db, o311):
    reported = file_request(client, o311)
    accepted = file_request(client, o311)
    dispatched = file_request(client, o311)
    rejected = file_request(client, o311)
    act(db, o311, accepted, "accept")
    act(db, o311, dispatched, "accept")
    act(db, o311, dispatched, "dispatch", department="CG")
    act(db, o311, rejected, "reject", reason="重复上报")
    status = {i["service_request_id"]: i["status"] for i in client.get(f"{BASE}/requests.json").json()}
    assert status == {reported: "open", accepted: "open", dispatched: "open", rejected: "closed"}
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    assert {r.findtext("status") for r in root.findall("request")} == {"open", "closed"}


def test_status_notes_explain_the_current_state(client, db, o311):
    fresh = file_request(client, o311)
    rejected = file_request(client, o311)
    act(db, o311, rejected, "reject", reason="该问题已由城管现场处理")
    notes = {i["service_request_id"]: i["status_notes"] for i in client.get(f"{BASE}/requests.json").json()}
    assert notes[fresh] == "已上报"
    assert "不予受理" in notes[rejected] and "该问题已由城管现场处理" in notes[rejected]


def test_a_dispatched_request_names_the_agency_and_an_expected_datetime_in_plus_0800(client, db, o311):
    number = file_request(client, o311)
    act(db, o311, number, "accept")
    act(db, o311, number, "dispatch", department="CG")
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert item["agency_responsible"] == "县综合行政执法局"
    assert ISO_0800.match(item["expected_datetime"]), item["expected_datetime"]
    due = case_row(db, number).handle_due_at
    assert dt.datetime.fromisoformat(item["expected_datetime"]) == due.replace(microsecond=0)
    for name in ("requested_datetime", "updated_datetime"):
        assert ISO_0800.match(item[name]), item[name]
    req = xml_of(client.get(f"{BASE}/requests/{number}.xml")).find("request")
    assert req is not None
    assert req.findtext("agency_responsible") == "县综合行政执法局"
    assert req.findtext("expected_datetime") == item["expected_datetime"]


def test_an_undispatched_request_has_no_agency_or_expected_datetime(client, o311):
    number = file_request(client, o311)
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert item["agency_responsible"] is None and item["expected_datetime"] is None
    assert ISO_0800.match(item["requested_datetime"])


def test_extensions_true_adds_extended_attributes_with_detailed_status_and_notes(client, db, o311):
    number = file_request(client, o311)
    act(db, o311, number, "accept", comment="已受理，转执法部门")
    for url in (f"{BASE}/requests.json?extensions=true", f"{BASE}/requests/{number}.json?extensions=true"):
        (item,) = client.get(url).json()
        ext = item["extended_attributes"]
        assert ext["detailed_status"] == "ACCEPTED"
        assert len(ext["notes"]) == 2
        assert all(ISO_0800.match(n["datetime"]) for n in ext["notes"])
        assert "已受理，转执法部门" in [n["description"] for n in ext["notes"]]
    req = xml_of(client.get(f"{BASE}/requests/{number}.xml?extensions=true")).find("request")
    assert req is not None
    assert req.findtext("extended_attributes/detailed_status") == "ACCEPTED"
    assert len(req.findall("extended_attributes/notes/note")) == 2
    assert "extended_attributes" not in client.get(f"{BASE}/requests/{number}.json").json()[0]
    assert "extended_attributes" not in client.get(f"{BASE}/requests.json?extensions=false").json()[0]


def test_non_public_cases_are_never_listed_or_served(client, db, o311):
    from zhili.cases import service as cases
    from zhili.cases.models import Channel
    from zhili.users.service import principal_for_user

    public = file_request(client, o311)
    principal = principal_for_user(db, user=o311.world.users["zhihui"])
    hidden, _ = cases.report_case(db, principal=principal, channel=Channel.staff, data={
        "category_code": "SR-0102", "description": "内部线索，不公开", "lat": 31.1, "lon": 119.1,
        "is_public": False})
    db.commit()
    assert listed(client) == [public]
    assert listed(client, service_request_id=f"{public},{hidden.number}") == [public]
    assert listed(client, service_code="SR-0102") == []
    assert "内部线索" not in client.get(f"{BASE}/requests.xml?extensions=true").text
    assert_json_error(client.get(f"{BASE}/requests/{hidden.number}.json"), 404)
    assert_xml_error(client.get(f"{BASE}/requests/{hidden.number}.xml"), 404)
    assert_json_error(client.get(f"{BASE}/tokens/{hidden.number}.json"), 404)


def test_id_numbers_and_phone_numbers_in_a_description_are_masked(client, o311):
    number = file_request(client, o311, description="摊主身份证330522198506150012，电话13912345678，天天占道")
    texts = [client.get(f"{BASE}/requests.{f}").text for f in ("json", "xml")]
    texts += [client.get(f"{BASE}/requests/{number}.{f}?extensions=true").text for f in ("json", "xml")]
    for text in texts:
        assert "330522198506150012" not in text and "13912345678" not in text
        assert "3305**********0012" in text and "139****5678" in text
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert item["description"] == "摊主身份证3305**********0012，电话139****5678，天天占道"


def test_phone_numbers_in_a_rejection_reason_are_masked_in_status_notes_and_notes(client, db, o311):
    number = file_request(client, o311)
    act(db, o311, number, "reject", reason="已电话联系当事人13700001111，不予受理")
    for f in ("json", "xml"):
        text = client.get(f"{BASE}/requests/{number}.{f}?extensions=true").text
        assert "13700001111" not in text
        assert "137****1111" in text


def test_get_requests_for_another_jurisdiction_is_404(client, o311):
    file_request(client, o311)
    assert_json_error(client.get(f"{BASE}/requests.json", params={"jurisdiction_id": "330521"}), 404)
    assert_xml_error(client.get(f"{BASE}/requests.xml", params={"jurisdiction_id": "330521"}), 404)
    assert client.get(f"{BASE}/requests.json", params={"jurisdiction_id": DISTRICT}).status_code == 200


# -- GET one request, tokens, formats ---------------------------------------------------------------------

def test_get_one_request_answers_a_one_element_service_requests_list(client, o311):
    number = file_request(client, o311)
    body = json_of(client.get(f"{BASE}/requests/{number}.json"))
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["service_request_id"] == number and body[0]["status"] == "open"
    assert set(body[0]) >= REQUEST_FIELDS
    root = xml_of(client.get(f"{BASE}/requests/{number}.xml"))
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert req.findtext("service_request_id") == number
    assert req.findtext("status") == "open"


def test_a_token_resolves_to_its_service_request_id(client, o311):
    number = file_request(client, o311)
    assert json_of(client.get(f"{BASE}/tokens/{number}.json")) == [{"service_request_id": number, "token": number}]
    (req,) = xml_of(client.get(f"{BASE}/tokens/{number}.xml")).findall("request")
    assert record(req) == {"service_request_id": number, "token": number}


def test_an_unknown_request_or_token_is_404_in_the_spec_format(client, o311):
    missing = f"{DISTRICT}-20200101-999999"
    assert_json_error(client.get(f"{BASE}/requests/{missing}.json"), 404)
    assert_xml_error(client.get(f"{BASE}/requests/{missing}.xml"), 404)
    assert_json_error(client.get(f"{BASE}/tokens/{missing}.json"), 404)
    assert_xml_error(client.get(f"{BASE}/tokens/{missing}.xml"), 404)


@pytest.mark.parametrize("path", ["requests.csv", "services.csv", "discovery.html", "services/SR-0101.csv",
                                  "requests/{number}.csv", "tokens/{number}.txt"])
def test_an_unsupported_format_is_404(client, o311, path):
    number = file_request(client, o311)
    r = client.get(f"{BASE}/{path.format(number=number)}")
    assert r.status_code == 404


# -- a third-party GeoReport client over real HTTP --------------------------------------------------------------

def test_the_georeport_pypi_client_reads_our_endpoints_over_http(app, db, o311, monkeypatch):
    """``georeport`` (PyPI; requests + xmltodict) pointed at a live uvicorn on 127.0.0.1 with a free port.

    ``georeport`` is a development dependency (pyproject ``dev`` extra), so it is always installed by ``make test``.
    """
    import georeport
    import httpx
    import uvicorn

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="open311-live", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}{BASE}"
        r = httpx.post(f"{base}/requests.json", data=o311.form(), timeout=10, trust_env=False)
        assert r.status_code == 200, r.text
        number = r.json()[0]["service_request_id"]

        for fmt in ("json", "xml"):
            gr = georeport.GeoReport(base, jurisdiction=DISTRICT, output_format=fmt)
            services = {s["service_code"]: s for s in gr.get_service_list()}
            assert set(services) == {"SR-0101", "SR-0102", "0101"}
            assert services["SR-0101"]["group"] == "市容秩序"
            definition = gr.get_service_definition("SR-0101")
            assert definition["service_code"] == "SR-0101"
            requests_ = gr.get_service_requests(status="open")
            requests_ = requests_ if isinstance(requests_, list) else [requests_]  # xmltodict: one → a dict
            assert [x["service_request_id"] for x in requests_] == [number]
            one = gr.get_service_request(number)
            assert one["service_request_id"] == number and one["status"] == "open"
            assert one["service_code"] == "SR-0101"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_each_post_gets_its_own_case_number_in_sequence(client, o311):
    numbers = [file_request(client, o311) for _ in range(3)]
    seqs = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]


# -- Idempotency-Key, honoured like every other intake path ---------------------------------------------------

def post_keyed(client: Any, fields: dict[str, Any], key: str, fmt: str = "json") -> Any:
    return client.post(f"{BASE}/requests.{fmt}", content=urlencode(fields, doseq=True).encode("utf-8"),
                       headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                "Idempotency-Key": key})


def test_a_post_retried_with_its_idempotency_key_answers_with_the_first_request(client, db, o311):
    before = case_count(db)
    first = post_keyed(client, o311.form(), "o311-retry")
    again = post_keyed(client, o311.form(), "o311-retry")
    assert first.status_code == again.status_code == 200, again.text
    assert json_of(again)[0]["service_request_id"] == json_of(first)[0]["service_request_id"]
    assert case_count(db) == before + 1


def test_the_same_idempotency_key_with_another_request_is_400_and_files_nothing(client, db, o311):
    number = json_of(post_keyed(client, o311.form(), "o311-reused"))[0]["service_request_id"]
    before = case_count(db)
    description = assert_json_error(post_keyed(client, o311.form(description="另一处占道经营"), "o311-reused"), 400)
    assert "Idempotency-Key" in description and re.search("[\u4e00-\u9fff]", description)
    assert_xml_error(post_keyed(client, o311.form(lat="31.2"), "o311-reused", fmt="xml"), 400)
    assert case_count(db) == before
    assert case_row(db, number).description == o311.form()["description"]


def test_a_post_passes_intakes_channel_rule(client, db, o311, monkeypatch):
    from zhili.cases import intake
    from zhili.cases.models import Channel
    from zhili.core.errors import ValidationFailed

    seen: list[tuple[Any, Any]] = []

    def rule(principal: Any, channel: Any) -> Any:  # intake's rule, stricter for this test
        seen.append((principal, channel))
        raise ValidationFailed("该渠道暂停受理", code="bad_channel")

    monkeypatch.setattr(intake, "resolve_channel", rule)
    before = case_count(db)
    assert assert_json_error(post(client, o311.form()), 400) == "该渠道暂停受理"
    assert seen == [(None, Channel.open311)] and case_count(db) == before
