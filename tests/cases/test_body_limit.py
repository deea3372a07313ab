"""Request body limits (issue 14, defect 3): every body is limited per route before it is parsed — JSON and forms
1 MB, uploads the attachment limit plus a margin, Excel imports 5 MB plus a margin — counting the bytes as they
stream in, not only the declared Content-Length; a refusal is 413 ``payload_too_large`` and writes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from casekit import CN
from sqlalchemy import func, select

from testimages import png
from zhili.cases.models import Attachment, Case
from zhili.core.settings import get_settings


def _count(kit: Any, model: Any) -> int:
    return int(kit.db.scalar(select(func.count()).select_from(model)) or 0)


def _big_report() -> bytes:
    return json.dumps({"category_code": "T0201", "description": "井盖", "lon": 119.1, "lat": 31.1,
                       "attributes": {"note": "x" * (2 * 1024 * 1024)}}).encode()


def _refused(r: Any) -> None:
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "payload_too_large" and re.search(CN, body["message"])


def test_a_2_mb_json_report_is_refused_with_413_and_nothing_is_written(kit):
    before = _count(kit, Case)
    _refused(kit.post("jumin", "/cases", content=_big_report(), headers={"Content-Type": "application/json"}))
    assert _count(kit, Case) == before


def test_a_streamed_body_without_content_length_is_counted_as_it_arrives(kit):
    before = _count(kit, Case)
    data = _big_report()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 64 * 1024):
            yield data[i:i + 64 * 1024]

    _refused(kit.post("jumin", "/cases", content=chunks(), headers={"Content-Type": "application/json"}))
    assert _count(kit, Case) == before


def test_a_form_page_post_over_the_limit_is_refused(kit):
    r = kit.client.post("/login", data={"username": "x" * (2 * 1024 * 1024), "password": "y"})
    _refused(r)


def test_an_upload_above_the_json_limit_but_within_the_attachment_limit_still_works(kit):
    before = _count(kit, Attachment)
    image = png() + b"\x00" * (3 * 1024 * 1024)
    r = kit.post("jumin", "/attachments", files={"file": ("big.png", image, "image/png")})
    assert r.status_code == 201, r.text
    assert _count(kit, Attachment) == before + 1


def test_an_upload_over_the_attachment_limit_and_its_margin_is_refused_before_it_is_read(kit):
    before = _count(kit, Attachment)
    image = png() + b"\x00" * (get_settings().max_upload_bytes + 2 * 1024 * 1024)
    _refused(kit.post("jumin", "/attachments", files={"file": ("huge.png", image, "image/png")}))
    assert _count(kit, Attachment) == before


def test_an_ordinary_report_is_untouched(kit):
    c = kit.report("jumin")
    assert c["number"]
