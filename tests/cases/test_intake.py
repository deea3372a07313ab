"""Intake: locating a report, GCJ-02 input, the hotline reporter's privacy, idempotent retries, automatic
dispatch by the responsibility list, attachments, case numbers and duplicate suggestions."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from typing import Any

import pytest
from casekit import CN, local
from sqlalchemy import func, select

from testimages import png, same_pixels
from zhili.cases import engine, intake, service
from zhili.cases.intake import IntakeRequest
from zhili.cases.models import Case, CaseEvent, Channel, IdempotencyRecord
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.settings import get_settings
from zhili.org.service import department_names
from zhili.regions.geo import wgs84_to_gcj02
from zhili.regions.service import get_locator
from zhili.worktime.service import load_calendar

PNG = png(16, 16)


def _east(lon: float, lat: float, metres: float) -> float:
    """The longitude ``metres`` east of a point."""
    return lon + metres / (111_195 * math.cos(math.radians(lat)))


def _count_cases(kit, **where) -> int:
    stmt = select(func.count()).select_from(Case)
    for k, v in where.items():
        stmt = stmt.where(getattr(Case, k) == v)
    return int(kit.db.scalar(stmt) or 0)


# -- location ---------------------------------------------------------------------------------------------

def test_a_resident_report_with_coordinates_is_placed_in_the_grid_containing_the_point(kit):
    for lon, grid in [(119.1, "ga"), (119.3, "gb"), (119.6, "gc")]:
        c = kit.report("jumin", lon=lon, lat=31.1)
        assert c["grid_id"] == str(kit.unit(grid).id) and c["path"] == kit.unit(grid).path
        assert (c["lon"], c["lat"], c["channel"]) == (lon, 31.1, "resident")
        assert kit.case(c["id"]).reporter_user_id == kit.user("jumin").id


def test_gcj02_coordinates_are_converted_to_wgs84_before_locating(kit):
    wgs = (119.2490, 31.1)  # in grid ga, 100 m west of the ga/gb border
    gcj = wgs84_to_gcj02(*wgs)
    # Taken as WGS-84 the GCJ-02 point would land in gb: the conversion decides the grid.
    assert get_locator(kit.db).locate(*gcj) == kit.unit("gb").id
    c = kit.report("jumin", lon=gcj[0], lat=gcj[1], crs="gcj02")
    assert c["grid_id"] == str(kit.unit("ga").id)
    assert c["lon"] == pytest.approx(wgs[0], abs=1e-6) and c["lat"] == pytest.approx(wgs[1], abs=1e-6)
    same = kit.report("jumin", lon=gcj[0], lat=gcj[1])  # the default is WGS-84
    assert same["grid_id"] == str(kit.unit("gb").id)


def test_a_point_outside_every_grid_is_refused_with_point_outside_grids(kit):
    before = _count_cases(kit)
    for lon, lat in [(119.1, 31.6), (121.47, 31.23)]:  # inside the district but no grid; Shanghai
        r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "垃圾", "lon": lon,
                                               "lat": lat})
        assert (r.status_code, r.json()["code"]) == (422, "point_outside_grids"), r.text
        assert re.search("[\u4e00-\u9fff]", r.json()["message"])
    assert _count_cases(kit) == before


def test_a_report_needs_a_location_and_a_description(kit):
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "垃圾"})
    assert (r.status_code, r.json()["code"]) == (422, "location_required")
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "   ", "lon": 119.1,
                                           "lat": 31.1})
    assert (r.status_code, r.json()["code"]) == (422, "description_required")


def test_attributes_of_the_category_are_kept_with_the_case(kit):
    c = kit.report("jumin", category="T0201", description="井盖缺失",
                   attributes={"material": "铸铁", "diameter_cm": 70})
    assert c["attributes"] == {"material": "铸铁", "diameter_cm": 70}
    assert c["category_name"] == "井盖破损"
    cat = next(x for x in kit.get("jumin", "/categories").json() if x["code"] == "T0201")
    assert [a["code"] for a in cat["attributes"]] == ["material", "diameter_cm", "note"]
    assert cat["time_mode"] == "natural"


# -- hotline reporter privacy -----------------------------------------------------------------------------

NAME, PHONE = "欧阳秀英", "13957008888"


def test_the_hotline_reporters_name_and_phone_never_appear_in_any_get_response(kit):
    c = kit.report("zhihui", channel="hotline", reporter_name=NAME, reporter_phone=PHONE,
                   external_id="12345-20260302-0042", description="楼下烧烤油烟扰民，夜间噪声大")
    assert NAME not in str(c) and PHONE not in str(c)
    assert c["anonymous"] is False and c["channel"] == "hotline"
    kit.act("zhihui", c, "accept")
    kit.act("zhihui", c, "dispatch", department="CG")
    kit.act("lingdao", c, "supervise", message="请尽快处理")
    other = kit.report("zhihui", channel="hotline", reporter_name=NAME, reporter_phone=PHONE, lon=119.1001,
                       description="烧烤油烟")
    cid = c["id"]
    paths = ["/cases", f"/cases/{cid}", f"/cases/{cid}/timeline", f"/cases/{cid}/duplicates",
             f"/cases/by-number/{c['number']}", "/notifications", "/supervisions", "/cases/summary",
             f"/cases/{other['id']}", f"/cases?q={NAME}", "/cases?channel=hotline"]
    seen = 0
    for who in ("zhihui", "lingdao", "jiedao1", "shequ1", "wangge_a", "bumen", "admin", "shenji", "jumin"):
        for path in paths:
            r = kit.get(who, path)
            assert r.status_code in (200, 403, 404), (who, path, r.status_code)
            assert NAME not in r.text and PHONE not in r.text and PHONE[-8:] not in r.text, (who, path)
            seen += r.status_code == 200
    assert seen > 40
    # The handling department does see the case, just not who called.
    assert kit.get("bumen", f"/cases/{cid}").status_code == 200


def test_only_the_command_centre_can_reveal_the_hotline_reporter_with_a_reason_and_it_is_audited(kit):
    c = kit.report("zhihui", channel="hotline", reporter_name=NAME, reporter_phone=PHONE)
    kit.act("zhihui", c, "accept")
    kit.act("zhihui", c, "dispatch", department="CG")
    for who in ("bumen", "jiedao1", "lingdao", "wangge_a"):
        r = kit.post(who, f"/cases/{c['id']}/reporter", json={"reason": "回访"})
        assert r.status_code == 403, (who, r.text)
    assert kit.audit("case.reveal_reporter", c["id"]) == []
    r = kit.post("zhihui", f"/cases/{c['id']}/reporter", json={})
    assert r.status_code == 422
    r = kit.post("zhihui", f"/cases/{c['id']}/reporter", json={"reason": "办结回访核实满意度"})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["phone"], r.json()["number"]) == (NAME, PHONE, c["number"])
    [ev] = kit.audit("case.reveal_reporter", c["id"])
    assert (ev.actor_name, ev.reason) == ("zhihui", "办结回访核实满意度")
    assert NAME not in str(ev.after) and PHONE not in str(ev.after)
    # Stored encrypted: the plain values are nowhere in the row.
    row = kit.case(c["id"])
    assert PHONE.encode() not in (row.reporter_phone_enc or b"") and NAME.encode() not in (row.reporter_name_enc or b"")


def test_the_service_itself_refuses_to_reveal_a_reporter_without_the_permission_or_a_reason(kit):
    """No route in between (a job, an import, a model): the same rule, in the service; refusals are audited."""
    c = kit.report("zhihui", channel="hotline", reporter_name=NAME, reporter_phone=PHONE)
    for who in ("bumen", "jiedao1", "lingdao", "wangge_a", "jumin"):
        with pytest.raises(Forbidden) as refused:
            service.reveal_reporter(kit.db, principal=kit.principal(who), case_id=uuid.UUID(c["id"]), reason="回访")
        assert refused.value.code == "permission_denied"
    for reason in ("", " 回 ", "x"):
        with pytest.raises(ValidationFailed, match=r"请填写查看事由（至少2个字）"):
            service.reveal_reporter(kit.db, principal=kit.principal("zhihui"), case_id=uuid.UUID(c["id"]),
                                    reason=reason)
    assert kit.audit("case.reveal_reporter", c["id"]) == []
    assert [(e.actor_name, e.after["reason"]) for e in kit.audit("case.reveal_refused", c["id"])] == [
        ("bumen", "permission_denied"), ("jiedao1", "permission_denied"), ("lingdao", "permission_denied"),
        ("wangge_a", "permission_denied"), ("jumin", "permission_denied"), ("zhihui", "reason_required"),
        ("zhihui", "reason_required"), ("zhihui", "reason_required")]
    out = service.reveal_reporter(kit.db, principal=kit.principal("zhihui"), case_id=uuid.UUID(c["id"]),
                                  reason=" 回访核实 ")
    assert (out["name"], out["phone"]) == (NAME, PHONE)
    [ev] = kit.audit("case.reveal_reporter", c["id"])
    assert ev.reason == "回访核实"


def test_only_the_command_centre_may_file_hotline_cases(kit):
    for who in ("jiedao1", "bumen"):
        r = kit.post(who, "/cases", json={"category_code": "T0101", "description": "x", "lon": 119.1, "lat": 31.1,
                                           "channel": "hotline"})
        assert (r.status_code, r.json()["code"]) == (422, "bad_channel")
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "x", "lon": 119.1, "lat": 31.1,
                                           "channel": "grid_worker"})
    assert (r.status_code, r.json()["code"]) == (422, "bad_channel")


# -- idempotency ------------------------------------------------------------------------------------------

def test_a_retried_report_with_the_same_idempotency_key_returns_the_first_case_and_creates_one_row(kit):
    key = f"app-{uuid.uuid4()}"
    body = {"category_code": "T0101", "description": "重试测试：垃圾桶满溢", "lon": 119.1, "lat": 31.1}
    first = kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    again = kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["number"]) == (first.json()["id"], first.json()["number"])
    assert _count_cases(kit, description=body["description"]) == 1
    assert kit.db.scalar(select(func.count()).select_from(IdempotencyRecord)
                         .where(IdempotencyRecord.key == key)) == 1
    assert [e.action for e in kit.events(first.json()["id"])] == ["report"]
    # Another key, or the same key from another user, is another report.
    other = kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key + "-2"})
    someone_else = kit.post("jumin2", "/cases", json=body, headers={"Idempotency-Key": key})
    assert (other.status_code, someone_else.status_code) == (201, 201)
    assert len({first.json()["id"], other.json()["id"], someone_else.json()["id"]}) == 3
    assert _count_cases(kit, description=body["description"]) == 3


def test_the_same_idempotency_key_with_another_report_is_refused_and_the_first_case_is_kept(kit):
    key = f"app-{uuid.uuid4()}"
    body = {"category_code": "T0101", "description": "键复用测试：垃圾桶满溢", "lon": 119.1, "lat": 31.1}
    first = kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    for changed in ({**body, "description": "键复用测试：另一件事"}, {**body, "lon": 119.2},
                    {**body, "category_code": "T0102"}, {**body, "attributes": {"floor": 3}}):
        r = kit.post("jumin", "/cases", json=changed, headers={"Idempotency-Key": key})
        assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused"), r.text
        assert re.search(CN, r.json()["message"]) and "Idempotency-Key" in r.json()["message"]
    assert _count_cases(kit, description="键复用测试：另一件事") == 0
    # the same report again is still answered with the first case; fields sent as null count as absent
    again = kit.post("jumin", "/cases", json={**body, "title": None, "address": None},
                     headers={"Idempotency-Key": key})
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert _count_cases(kit, description=body["description"]) == 1


def test_a_reused_idempotency_key_is_judged_by_the_attachments_content_not_their_ids(kit):
    key = f"app-{uuid.uuid4()}"
    photo = _upload(kit, "jumin", PNG, name="现场.png", ctype="image/png").json()
    body = {"category_code": "T0101", "description": "带照片的重试", "lon": 119.1, "lat": 31.1}
    first = kit.post("jumin", "/cases", json={**body, "attachment_ids": [photo["id"]]},
                     headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    # a client that lost the reply uploads the same photo again (a new id) and retries: the same report
    same = _upload(kit, "jumin", PNG, name="现场.png", ctype="image/png").json()
    r = kit.post("jumin", "/cases", json={**body, "attachment_ids": [same["id"]]}, headers={"Idempotency-Key": key})
    assert (r.status_code, r.json()["id"]) == (200, first.json()["id"])
    # another photo, or none, is another report
    other = _upload(kit, "jumin", PNG + b"\x00", name="另一张.png", ctype="image/png").json()
    for ids in ([other["id"]], [same["id"], other["id"]], []):
        r = kit.post("jumin", "/cases", json={**body, "attachment_ids": ids}, headers={"Idempotency-Key": key})
        assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused"), r.text


def test_report_case_the_orm_path_of_pages_open311_and_visits_refuses_a_reused_key_too(kit):
    jumin = kit.principal("jumin")
    data = {"category_code": "T0101", "description": "服务层键复用", "lon": 119.1, "lat": 31.1}
    case, created = service.report_case(kit.db, principal=jumin, channel=Channel.resident, data=data,
                                        idempotency_key="orm-key")
    assert created
    same, created = service.report_case(kit.db, principal=jumin, channel=Channel.resident, data=dict(data),
                                        idempotency_key="orm-key")
    assert (same.id, created) == (case.id, False)
    with pytest.raises(DomainError) as refused:
        service.report_case(kit.db, principal=jumin, channel=Channel.resident,
                            data={**data, "description": "服务层键复用：另一件"}, idempotency_key="orm-key")
    assert refused.value.code == "idempotency_key_reused"
    record = kit.db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "orm-key"))
    assert record is not None and record.fingerprint == intake.fingerprint(Channel.resident, data)


def test_a_key_recorded_before_fingerprints_were_kept_still_answers_any_report_with_its_case(kit):
    key = f"app-{uuid.uuid4()}"
    body = {"category_code": "T0101", "description": "旧记录", "lon": 119.1, "lat": 31.1}
    first = kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key})
    record = kit.db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
    assert record is not None and record.fingerprint is not None
    record.fingerprint = None  # as migration 0012 leaves the records written before it
    kit.db.flush()
    r = kit.post("jumin", "/cases", json={**body, "description": "旧记录：内容不同"}, headers={"Idempotency-Key": key})
    assert (r.status_code, r.json()["id"]) == (200, first.json()["id"])


def test_the_fingerprint_is_the_report_as_sent_and_nothing_the_server_adds():
    data = {"category_code": "T0101", "description": "d", "lon": 119.1, "lat": 31.1, "title": None}
    fp = intake.fingerprint(Channel.resident, data)
    assert fp == intake.fingerprint(Channel.resident, {k: v for k, v in data.items() if v is not None})
    assert fp == intake.fingerprint(Channel.resident, dict(reversed(list(data.items()))))
    assert fp == intake.fingerprint(Channel.resident, {**data, "attachment_ids": []})
    assert fp != intake.fingerprint(Channel.grid_worker, data)
    assert fp != intake.fingerprint(Channel.resident, {**data, "lat": 31.2})
    a, b = uuid.uuid4(), uuid.uuid4()
    digests = {a: "1" * 64, b: "1" * 64}  # two uploads of the same file
    assert intake.fingerprint(Channel.resident, {**data, "attachment_ids": [a]}, digests) == \
        intake.fingerprint(Channel.resident, {**data, "attachment_ids": [str(b)]}, digests)
    assert re.fullmatch("[0-9a-f]{64}", fp)


# -- channel rules, applied by intake whatever the front door -----------------------------------------------

@pytest.mark.parametrize(("who", "channel"), [("jumin", "resident"), ("wangge_a", "grid_worker"),
                                              ("bumen", "department"), ("zhihui", "staff"), ("jiedao1", "staff")])
def test_a_report_without_a_channel_is_filed_on_the_reporters_default_channel(kit, who, channel):
    assert kit.report(who)["channel"] == channel


def test_report_case_applies_the_channel_rules_that_the_api_applies(kit):
    data = {"category_code": "T0101", "description": "渠道规则", "lon": 119.1, "lat": 31.1}
    for who, channel in [("jumin", Channel.grid_worker), ("jumin", Channel.hotline), ("jiedao1", Channel.hotline),
                         ("bumen", Channel.hotline), (None, Channel.hotline), (None, None)]:
        principal = kit.principal(who) if who else None
        with pytest.raises(DomainError) as refused:
            service.report_case(kit.db, principal=principal, channel=channel, data=dict(data))
        assert refused.value.code == "bad_channel", (who, channel)
        assert re.search(CN, refused.value.message)
    assert _count_cases(kit, description="渠道规则") == 0
    # a role's default channel, and the channels it may use
    for who, channel, expected in [("jumin", None, Channel.resident), ("wangge_a", None, Channel.grid_worker),
                                   ("bumen", None, Channel.department), ("zhihui", None, Channel.staff),
                                   ("zhihui", Channel.hotline, Channel.hotline),
                                   ("jiedao1", Channel.grid_worker, Channel.grid_worker),
                                   (None, Channel.open311, Channel.open311)]:
        case, _ = service.report_case(kit.db, principal=kit.principal(who) if who else None, channel=channel,
                                      data=dict(data))
        assert case.channel == expected, (who, channel)


def test_an_api_report_passes_intakes_channel_rule(kit, monkeypatch):
    seen: list[tuple[Any, Any]] = []

    def rule(principal: Any, channel: Any) -> Any:  # intake's rule, stricter for this test
        seen.append((principal.username, channel))
        raise ValidationFailed("该渠道暂停受理", code="bad_channel")

    monkeypatch.setattr(intake, "resolve_channel", rule)
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "渠道规则", "lon": 119.1,
                                           "lat": 31.1})
    assert (r.status_code, r.json()["message"]) == (422, "该渠道暂停受理")
    assert seen == [("jumin", None)] and _count_cases(kit, description="渠道规则") == 0


def test_the_channel_rule_is_checked_before_an_idempotency_key_is_looked_up(kit):
    key = f"app-{uuid.uuid4()}"
    body = {"category_code": "T0101", "description": "先渠道后键", "lon": 119.1, "lat": 31.1}
    assert kit.post("jumin", "/cases", json=body, headers={"Idempotency-Key": key}).status_code == 201
    r = kit.post("jumin", "/cases", json={**body, "channel": "hotline"}, headers={"Idempotency-Key": key})
    assert (r.status_code, r.json()["code"]) == (422, "bad_channel")
    # the default channel named explicitly is the same report
    r = kit.post("jumin", "/cases", json={**body, "channel": "resident"}, headers={"Idempotency-Key": key})
    assert r.status_code == 200, r.text


# -- automatic dispatch -----------------------------------------------------------------------------------

def _rule(kit, **body) -> dict:
    base = {"name": "暴露垃圾→城管", "category_code": "T0101", "region_path": kit.unit("district").path,
            "target_department": "CG", "confidence": 0.9}
    r = kit.post("zhihui", "/dispatch-rules", json={**base, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_report_matching_a_confident_rule_is_accepted_and_dispatched_at_once(kit):
    rule = _rule(kit)
    c = kit.report("jumin")
    assert c["state"] == "dispatched" and c["assignee_department"] == "CG"
    assert c["accepted_at"] is not None and c["dispatched_at"] is not None
    due = dt.datetime.fromisoformat(c["handle_due_at"])
    assert due == load_calendar(kit.db).add_working_hours(dt.datetime.fromisoformat(c["dispatched_at"]), 16)
    assert kit.case(c["id"]).dispatch_rule_id == uuid.UUID(rule["id"])
    tl = kit.timeline(c["id"])
    assert [(e["action"], e["from_state"], e["to_state"]) for e in tl] == [
        ("report", None, "reported"), ("accept", "reported", "accepted"), ("dispatch", "accepted", "dispatched")]
    assert tl[0]["actor_name"] == "上报人"  # no reporter's account in a timeline, not even the command centre's
    assert tl[0]["comment"] == "居民上报"
    assert all(e["actor_name"] == "系统" for e in tl[1:])
    assert tl[2]["comment"] == f"按派单规则自动派遣至{department_names(kit.db)['CG']}"
    assert [a.actor_name for a in kit.audit("case.dispatch", c["id"])] == ["system"]
    assert any(n["title"] == "新派遣事件" and n["case_id"] == c["id"] for n in kit.notes("bumen"))
    # The reporter hears once — received, accepted and dispatched happened together (one SMS, not three).
    assert [n["title"] for n in kit.notes("jumin") if n["case_id"] == c["id"]] == ["您反映的问题已受理并派遣处置"]
    # The handler can start it straight away.
    assert kit.act("bumen", c, "start").status_code == 200


def test_a_report_without_a_confident_rule_waits_for_the_command_centre(kit):
    _rule(kit, confidence=0.5)
    _rule(kit, name="占道→城管", category_code="T0102", confidence=1.0)
    low = kit.report("jumin")
    other_category = kit.report("jumin", category="T0301", description="夜间噪声")
    address_only = kit.report("zhihui", lon=None, category="T0102", description="占道经营",
                              address="长兴县金陵路88号")
    for c in (low, other_category, address_only):
        assert c["state"] == "reported" and c["assignee_department"] is None and c["handle_due_at"] is None
        assert [e["action"] for e in kit.timeline(c["id"])] == ["report"]
    assert address_only["grid_id"] is None and address_only["path"] == kit.unit("district").path
    assert kit.get("zhihui", "/cases/summary").json()["to_accept"] >= 3
    queue = kit.get("zhihui", "/cases?state=reported").json()["items"]
    assert {low["id"], other_category["id"], address_only["id"]} <= {c["id"] for c in queue}


# -- attachments ------------------------------------------------------------------------------------------

def _upload(kit, who, data, name="photo.jpg", ctype="image/jpeg"):
    return kit.post(who, "/attachments", files={"file": (name, data, ctype)})


def test_a_png_photo_is_stored_attached_to_the_report_and_readable_by_those_who_see_the_case(kit):
    r = _upload(kit, "jumin", PNG, name="现场.png", ctype="image/png")
    assert r.status_code == 201, r.text
    att = r.json()
    assert (att["content_type"], att["size"], att["sha256"]) == ("image/png", len(PNG),
                                                                 hashlib.sha256(PNG).hexdigest())
    c = kit.report("jumin", attachment_ids=[att["id"]])
    assert kit.timeline(c["id"])[0]["attachment_ids"] == [att["id"]]
    for who in ("jumin", "zhihui", "wangge_a"):
        got = kit.get(who, f"/attachments/{att['id']}")
        assert got.status_code == 200 and same_pixels(got.content, PNG)
        assert got.headers["content-type"] == "image/png"
    for who in ("jumin2", "wangge_b", "jiedao2"):
        assert kit.get(who, f"/attachments/{att['id']}").status_code == 404
    # The same file cannot be claimed by another case.
    r = kit.post("jumin", "/cases", json={"category_code": "T0101", "description": "again", "lon": 119.1,
                                           "lat": 31.1, "attachment_ids": [att["id"]]})
    assert (r.status_code, r.json()["code"]) == (422, "attachment_in_use")


def test_a_text_file_renamed_jpg_is_refused(kit):
    r = _upload(kit, "jumin", "这不是图片，只是文本。\n".encode() * 20, name="photo.jpg")
    assert (r.status_code, r.json()["code"]) == (422, "unsupported_file_type"), r.text
    r = _upload(kit, "jumin", b"", name="empty.png", ctype="image/png")
    assert (r.status_code, r.json()["code"]) == (422, "empty_file")


def test_an_oversized_upload_is_refused(kit, monkeypatch):
    assert get_settings().max_upload_bytes == 10 * 1024 * 1024
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 4096)
    assert len(PNG) < 4096 and _upload(kit, "jumin", PNG, name="ok.png").status_code == 201
    r = _upload(kit, "jumin", PNG + b"\x00" * 4096, name="big.png", ctype="image/png")
    assert (r.status_code, r.json()["code"]) == (422, "file_too_large"), r.text
    assert r.json()["details"]["max_bytes"] == 4096


# -- case numbers -----------------------------------------------------------------------------------------

def _report_at(kit, now, who="jumin", **data):
    body = {"category_code": "T0101", "description": "垃圾", "lon": 119.1, "lat": 31.1, **data}
    case, created = service.report_case(kit.db, principal=kit.principal(who), channel=Channel.resident,
                                        data=body, now=now)
    assert created
    return case


def test_case_numbers_are_district_local_date_and_a_daily_sequence(kit):
    numbers = [_report_at(kit, m).number for m in (local(2026, 3, 2, 9, 0), local(2026, 3, 2, 9, 5),
                                                   local(2026, 3, 2, 23, 59), local(2026, 3, 3, 0, 1),
                                                   local(2026, 3, 3, 8, 0))]
    assert numbers == ["330522-20260302-000001", "330522-20260302-000002", "330522-20260302-000003",
                       "330522-20260303-000001", "330522-20260303-000002"]
    # 00:01 Beijing time is still the previous day in UTC: the number follows the local day.
    assert local(2026, 3, 3, 0, 1).astimezone(dt.UTC).day == 2
    c = kit.report("jumin")
    today = dt.datetime.now(dt.UTC).astimezone(local(2026, 1, 1).tzinfo).strftime("%Y%m%d")
    assert re.fullmatch(rf"330522-{today}-\d{{6}}", c["number"])
    nxt = kit.report("jumin")
    assert int(nxt["number"][-6:]) == int(c["number"][-6:]) + 1


# -- duplicate suggestions --------------------------------------------------------------------------------

def test_duplicates_are_suggested_for_the_same_category_within_150_m_and_72_h_only(kit):
    a = kit.report("jumin")
    near = kit.report("jumin", lon=_east(119.1, 31.1, 100))
    assert [(d["id"], round(d["distance_m"] / 10)) for d in near["duplicate_candidates"]] == [(a["id"], 10)]
    edge = kit.report("jumin", lon=_east(119.1, 31.1, 140))
    assert a["id"] in [d["id"] for d in edge["duplicate_candidates"]]
    other_cat = kit.report("jumin", category="T0102", description="占道经营")
    far = kit.report("jumin", lon=_east(119.1, 31.1, 160))
    farther = kit.report("jumin", lon=_east(119.1, 31.1, 300))
    assert other_cat["duplicate_candidates"] == []
    assert a["id"] not in [d["id"] for d in far["duplicate_candidates"]]
    assert a["id"] not in [d["id"] for d in farther["duplicate_candidates"]]
    listed = kit.get("zhihui", f"/cases/{a['id']}/duplicates").json()
    assert [d["id"] for d in listed] == [near["id"], edge["id"]]  # nearest first; 160 m and 300 m left out


def test_duplicates_are_looked_for_only_within_72_hours(kit):
    first = _report_at(kit, local(2026, 3, 2, 9, 0))
    within = _report_at(kit, local(2026, 3, 5, 8, 0))  # 71 h later
    after = _report_at(kit, local(2026, 3, 5, 10, 0))  # 73 h later
    p = kit.principal("zhihui")
    assert first.id in [c.id for c, _ in service.find_duplicates(kit.db, principal=p, case=within)]
    assert first.id not in [c.id for c, _ in service.find_duplicates(kit.db, principal=p, case=after)]
    # Closed or merged cases are not suggested.
    kit.db.flush()
    engine.transition(kit.db, principal=p, case_id=within.id, action="merge", payload={"master_id": first.id})
    assert within.id not in [c.id for c, _ in service.find_duplicates(kit.db, principal=p, case=first)]
    assert kit.db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == within.id)) == 2



def test_the_duplicate_search_seeks_the_category_cell_index_and_never_walks_every_unmerged_case(kit):
    from sqlalchemy import event, text

    conn = kit.db.connection()
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if "WITH near AS" in statement:
            seen.append((statement, parameters))

    event.listen(conn.engine, "before_cursor_execute", capture)
    try:  # one batch as a busy writer plans it: reports of every category spread over the grids
        intake.plan_cases(kit.db, requests=[IntakeRequest(
            principal=kit.principal("zhihui"), channel=Channel.hotline,
            data={"category_code": cat, "description": "批量上报", "lon": 119.02 + 0.045 * i, "lat": 31.02 + 0.01 * i})
            for i in range(16) for cat in ("T0101", "T0102", "T0201", "T0301")])
    finally:
        event.remove(conn.engine, "before_cursor_execute", capture)
    assert seen, "the duplicate search ran no lattice-cell query"
    statement, parameters = seen[-1]
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    if conn.dialect.name == "sqlite":
        cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = " ".join(str(row[-1]) for row in cur.fetchall())
        assert "ix_case_nearby" in plan and "ix_case_master" not in plan, plan
    else:  # with tiny tables PostgreSQL reads sequentially; forbid that to see which index it would take
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN " + statement, parameters)
        plan = " ".join(str(row[0]) for row in cur.fetchall())
        assert "ix_case_master" not in plan, plan
    # the partial index still serves "which cases were merged into this one"
    sql = 'SELECT id FROM "case" WHERE master_case_id = :m'
    if conn.dialect.name == "sqlite":
        plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql), {"m": uuid.uuid4().hex}))
        assert "ix_case_master" in plan, plan


# -- authentication on the intake path ----------------------------------------------------------------------

def test_a_logged_out_session_cannot_report_even_after_its_principal_was_cached(kit):
    body = {"category_code": "T0101", "description": "登出后再上报", "lon": 119.1, "lat": 31.1}
    assert kit.post("jumin", "/cases", json=body).status_code == 201  # the principal is now cached
    assert kit.post("jumin", "/auth/logout").status_code == 204
    r = kit.post("jumin", "/cases", json=body)
    assert (r.status_code, r.json()["code"]) == (401, "session_expired")
    assert _count_cases(kit, description=body["description"]) == 1


def test_a_deactivated_user_cannot_report_even_after_their_principal_was_cached(kit):
    body = {"category_code": "T0101", "description": "停用后再上报", "lon": 119.1, "lat": 31.1}
    assert kit.post("wangge_a", "/cases", json=body).status_code == 201
    kit.user("wangge_a").is_active = False
    kit.db.flush()
    r = kit.post("wangge_a", "/cases", json=body)
    assert r.status_code == 401
    assert _count_cases(kit, description=body["description"]) == 1


def test_the_reply_lists_the_reporters_nearby_open_cases_of_the_same_category(kit):
    body = {"category_code": "T0101", "description": "疑似重复：同一处垃圾", "lon": 119.1, "lat": 31.1}
    first = kit.post("jumin", "/cases", json=body).json()
    second = kit.post("jumin", "/cases", json={**body, "lon": 119.1003}).json()
    assert [c["id"] for c in second["duplicate_candidates"]] == [first["id"]]
    assert second["duplicate_candidates"][0]["number"] == first["number"]
    other = kit.post("jumin2", "/cases", json=body).json()  # another resident does not see jumin's case
    assert other["duplicate_candidates"] == []


def test_a_nearby_case_across_a_lattice_cell_border_is_still_a_duplicate_candidate(kit):
    from zhili.cases.scope import CELL_DEG, cells_around, geo_cell

    border = round(31.1 / CELL_DEG) * CELL_DEG  # 31.1 lies on a cell border
    a, b = (119.1, border - 0.00005), (119.1, border + 0.00005)  # 11 m apart, in two cells
    assert geo_cell(*a) != geo_cell(*b)
    assert geo_cell(*b) in cells_around(*a, 0.0017, 0.0014)
    body = {"category_code": "T0101", "description": "格网边界两侧的同类上报"}
    first = kit.post("jumin", "/cases", json={**body, "lon": a[0], "lat": a[1]}).json()
    second = kit.post("jumin", "/cases", json={**body, "lon": b[0], "lat": b[1]}).json()
    assert [c["id"] for c in second["duplicate_candidates"]] == [first["id"]]
    row = kit.db.get(Case, uuid.UUID(second["id"]))
    assert row is not None and row.geo_cell == geo_cell(*b)
