"""Hostile input on the case loop (issue 14): stored control characters in exports, and attachments claimed by
someone other than their uploader."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from testimages import png


def test_a_stored_control_character_does_not_break_the_case_export(kit: Any) -> None:
    kit.report("jumin", description="bad\u0001char 在路边", address="金陵路\x0b1号")
    r = kit.get("zhihui", "/cases/export.xlsx")
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert "\u0001" not in repr(rows) and any("badchar 在路边" in row for row in rows)


PNG = png(16, 16)
REPORT = {"category_code": "T0101", "description": "带照片的上报", "lon": 119.1, "lat": 31.1}


def _upload(kit: Any, who: str) -> str:
    r = kit.post(who, "/attachments", files={"file": ("现场.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_report_cannot_claim_someone_elses_upload(kit: Any) -> None:
    """An attachment not yet on a case may be claimed only by its uploader (issue 14, defect 8)."""
    theirs = _upload(kit, "jumin")
    for who in ("jumin2", "wangge_a", "zhihui"):
        r = kit.post(who, "/cases", json={**REPORT, "attachment_ids": [theirs]})
        # answered as for an id that does not exist: the claimer learns nothing about another user's upload
        assert (r.status_code, r.json()["code"]) == (422, "attachment_not_found"), (who, r.text)
        assert kit.get(who, f"/attachments/{theirs}").status_code == 404
    # the owner still can
    c = kit.report("jumin", attachment_ids=[theirs])
    assert kit.timeline(c["id"])[0]["attachment_ids"] == [theirs]


def test_a_workflow_action_cannot_claim_someone_elses_upload(kit: Any) -> None:
    c = kit.dispatched("jumin")
    kit.step("bumen", c, "start", to="in_progress")
    theirs = _upload(kit, "jumin2")
    kit.refused("bumen", c, "resolve", 422, "attachment_not_found", result="已清运", attachment_ids=[theirs])
    assert kit.get("bumen", f"/attachments/{theirs}").status_code == 404
    assert kit.get("jumin2", f"/attachments/{theirs}").status_code == 200  # still the owner's, unclaimed
    mine = _upload(kit, "bumen")
    r = kit.step("bumen", c, "resolve", to="resolved", result="已清运", attachment_ids=[mine])
    assert r["state"] == "resolved"
    assert kit.timeline(c["id"])[-1]["attachment_ids"] == [mine]
    # an attachment already on this case may be named again by a later step (it is the case's, not a claim)
    assert kit.act("wangge_a", c, "verify", attachment_ids=[mine]).status_code == 200


def test_an_attachment_already_on_another_case_stays_refused_as_in_use(kit: Any) -> None:
    photo = _upload(kit, "jumin")
    kit.report("jumin", attachment_ids=[photo])
    r = kit.post("jumin", "/cases", json={**REPORT, "attachment_ids": [photo]})
    assert (r.status_code, r.json()["code"]) == (422, "attachment_in_use")
