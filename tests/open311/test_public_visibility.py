"""One public-visibility rule (``zhili.cases.public``) on every unauthenticated surface: a case in a category off the
public allow-list never appears in Open311 lists, single requests, tokens or media, nor on any other GET route
without login; a public case in a category that warrants it shows a coarsened point and no address.

Also the GeoReport v2 POST as real clients send it: ``api_key`` and ``jurisdiction_id`` in the URL's query string,
and optional parameters sent empty.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from o311helpers import BASE, DISTRICT
from sqlalchemy.orm import Session

from testimages import png


@pytest.fixture
def sg(db: Session, o311: Any) -> dict[str, Any]:
    """社会治理 with a private leaf (a family dispute) and a public one (a safety hazard in a shared place)."""
    from zhili.cases.models import Category

    def cat(code: str, name: str, parent: str | None, leaf: bool = True) -> Category:
        c = Category(code=code, version=1, is_current=True, name=name, kind="event", parent_code=parent,
                     is_leaf=leaf, created_by="test", default_department="CG", handle_hours=48, attributes=[])
        db.add(c)
        return c

    cats = {"SG": cat("SG", "社会治理", None, leaf=False), "SG-0101": cat("SG-0101", "婚姻家庭纠纷", "SG"),
            "SG-0301": cat("SG-0301", "安全生产隐患", "SG")}
    db.commit()
    return cats


def _post(client: Any, fields: dict[str, str], query: dict[str, str] | None = None) -> Any:
    url = f"{BASE}/requests.json" + (f"?{urlencode(query)}" if query else "")
    return client.post(url, content=urlencode(fields).encode("utf-8"),
                       headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def _file(client: Any, o311: Any, code: str, **extra: str) -> str:
    r = _post(client, o311.form(code, **extra))
    assert r.status_code == 200, r.text
    return str(r.json()[0]["service_request_id"])


def _photo(db: Session, number: str) -> str:
    from sqlalchemy import select

    from zhili.cases.files import get_store
    from zhili.cases.models import Attachment, Case

    case = db.scalar(select(Case).where(Case.number == number))
    assert case is not None
    data = png()
    att = Attachment(case_id=case.id, filename="现场.png", content_type="image/png", size=len(data), sha256="0" * 64,
                     storage_key=get_store().put(data, ext="png"))
    db.add(att)
    db.commit()
    return str(att.id)


PRIVATE_TEXT = "邻居夫妻吵架摔东西"


@pytest.fixture
def private_case(client: Any, db: Session, o311: Any, sg: Any) -> tuple[str, str]:
    """A resident's family-dispute report (private category) with a photo: (number, attachment id)."""
    number = _file(client, o311, "SG-0101", description=PRIVATE_TEXT, address_string="某小区3幢2单元501")
    return number, _photo(db, number)


def test_a_private_category_case_is_absent_from_every_open311_read_route_and_its_media_is_404(
        client, private_case, o311):
    number, media = private_case
    public = _file(client, o311, "SR-0101")
    for fmt in ("json", "xml"):
        for url in (f"{BASE}/requests.{fmt}", f"{BASE}/requests.{fmt}?extensions=true",
                    f"{BASE}/requests.{fmt}?service_request_id={number},{public}",
                    f"{BASE}/requests.{fmt}?service_code=SG-0101"):
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            assert number not in r.text and PRIVATE_TEXT not in r.text, url
        assert public in client.get(f"{BASE}/requests.{fmt}").text
        assert client.get(f"{BASE}/requests/{number}.{fmt}").status_code == 404
        assert client.get(f"{BASE}/tokens/{number}.{fmt}").status_code == 404
    assert client.get(f"{BASE}/media/{media}").status_code == 404


def test_a_merged_case_is_not_served_on_its_own(client, db, o311):
    from sqlalchemy import select, update

    from zhili.cases.models import Case

    master, merged = _file(client, o311, "SR-0101"), _file(client, o311, "SR-0101")
    master_id = db.scalar(select(Case.id).where(Case.number == master))
    db.execute(update(Case).where(Case.number == merged).values(master_case_id=master_id))
    db.commit()
    assert client.get(f"{BASE}/requests/{merged}.json").status_code == 404
    assert client.get(f"{BASE}/tokens/{merged}.json").status_code == 404
    assert client.get(f"{BASE}/media/{_photo(db, merged)}").status_code == 404
    assert client.get(f"{BASE}/requests/{master}.json").status_code == 200


def test_a_public_case_in_a_coarse_category_shows_a_rounded_point_and_no_address(client, db, o311, sg):
    number = _file(client, o311, "SG-0301", lat="31.123456", long="119.098765", address_string="某厂区东门")
    media = _photo(db, number)
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert (item["lat"], item["long"]) == (31.123, 119.099)
    assert item["address"] is None
    assert item["media_url"].endswith(f"/open311/v2/media/{media}")
    assert client.get(f"{BASE}/media/{media}").status_code == 200
    listed = {i["service_request_id"]: i for i in client.get(f"{BASE}/requests.json").json()}
    assert (listed[number]["lat"], listed[number]["long"]) == (31.123, 119.099)
    assert "31.123456" not in client.get(f"{BASE}/requests.xml").text


def test_a_public_case_in_an_exact_location_category_keeps_its_point_and_address(client, o311):
    number = _file(client, o311, "SR-0101", lat="31.123456", long="119.098765", address_string="人民路12号门口")
    (item,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert (item["lat"], item["long"]) == (31.123456, 119.098765)
    assert item["address"] == "人民路12号门口"


def _concrete(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda m: values.get(m.group(1), "x"), path)


def test_public_surface_no_unauthenticated_get_route_shows_a_private_category_case(client, app, db, private_case):
    """Standing test: every GET route of the app, asked without login (with the private case's number, id and
    photo id wherever the path takes one, in each format), shows neither its number nor its text nor its address;
    and never a server error."""
    from fastapi import routing
    from sqlalchemy import select
    from starlette.routing import Route

    from zhili.cases.models import Case

    number, media = private_case
    case_id = str(db.scalar(select(Case.id).where(Case.number == number)))
    paths = sorted({rc.path for rc in routing.iter_route_contexts(app.routes)
                    if isinstance(rc.original_route, Route) and "GET" in (rc.methods or ())})
    checked = 0
    for path in paths:
        for fmt in ("json", "xml", "html"):
            values = {"fmt": fmt, "service_request_id": number, "token": number, "number": number,
                      "attachment_id": media, "case_id": case_id, "id": case_id}
            url = _concrete(path, values)
            r = client.get(url, params={"jurisdiction_id": DISTRICT}, follow_redirects=False)
            assert r.status_code < 500, (url, r.status_code)
            assert PRIVATE_TEXT not in r.text and "3幢2单元501" not in r.text, url
            if r.status_code < 400:  # an error may echo the number it was asked for; nothing else may show it
                assert number not in r.text, url
            checked += 1
    assert checked > 100  # the route list really was walked


# -- POST as real clients send it ----------------------------------------------------------------------------

def test_post_accepts_api_key_and_jurisdiction_id_in_the_query_string_with_the_rest_in_the_body(client, o311):
    fields = o311.form()
    key = fields.pop("api_key")
    r = _post(client, fields, query={"api_key": key, "jurisdiction_id": DISTRICT})
    assert r.status_code == 200, r.text
    assert r.json()[0]["service_request_id"].startswith(f"{DISTRICT}-")
    # another jurisdiction in the query string is still refused, and a wrong key in it too
    assert _post(client, fields, query={"api_key": key, "jurisdiction_id": "330521"}).status_code == 404
    assert _post(client, fields, query={"api_key": "o311_wrong"}).status_code == 403


def test_optional_parameters_sent_empty_are_treated_as_not_sent(client, db, o311):
    from sqlalchemy import select

    from zhili.cases.models import Case

    r = _post(client, o311.form(jurisdiction_id="", address_string="", address_id="", email="", device_id="",
                                account_id="", first_name="", last_name="", phone="", media_url="",
                                description="人行道上有流动摊贩占道经营",
                                **{"attribute[stall_count]": "", "attribute[goods]": ""}))
    assert r.status_code == 200, r.text
    case = db.scalar(select(Case).where(Case.number == r.json()[0]["service_request_id"]))
    assert case is not None and case.external_id is None
    assert "_media_url" not in (case.attributes or {})
    for params in ({"jurisdiction_id": ""}, {"status": ""}, {"service_code": ""}, {"start_date": "", "end_date": ""},
                   {"service_request_id": ""}):
        got = client.get(f"{BASE}/requests.json", params=params)
        assert got.status_code == 200, (params, got.text)
        assert case.number in got.text, params
    for path in (f"requests/{case.number}.json", f"tokens/{case.number}.json", "services.json",
                 "services/SR-0101.json"):
        assert client.get(f"{BASE}/{path}", params={"jurisdiction_id": ""}).status_code == 200, path
