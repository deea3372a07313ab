"""Who sees what: staff within their jurisdiction (a room or stay outside it is *not found*, like one that does not
exist); a resident only their own rooms as landlord and their own stays as tenant (matched by the account that
checked in, or by the phone number of their account); roles without a rental permission are refused. And the API
over it, with the masked, audited Excel export."""

from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from rentalkit import gateway, household, place, principal, resident, room_data, tenant
from sqlalchemy import select
from sqlalchemy.orm import Session

from testimages import png
from zhili.core.audit import AuditEvent
from zhili.core.clock import today
from zhili.core.errors import Forbidden, NotFound
from zhili.rental import export, keys, police, rooms, stays

__all__ = ["gateway"]


def test_staff_see_rooms_and_stays_of_their_area_only(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    for who in ("wangge_a", "shequ1", "jiedao1", "zhihui", "lingdao"):
        me = principal(db, world, who)
        assert rooms.get_room(db, principal=me, room_id=p.room.id) is p.room
        assert stays.get_stay(db, principal=me, stay_id=done.stay.id) is done.stay
        assert [r.id for r in rooms.list_rooms(db, principal=me)[0]] == [p.room.id]
    for who in ("wangge_b", "jiedao2"):
        me = principal(db, world, who)
        with pytest.raises(NotFound) as out_of_area:
            rooms.get_room(db, principal=me, room_id=p.room.id)
        with pytest.raises(NotFound) as unknown:
            rooms.get_room(db, principal=me, room_id=done.stay.id)
        assert out_of_area.value.message == unknown.value.message
        with pytest.raises(NotFound):
            stays.get_stay(db, principal=me, stay_id=done.stay.id)
        assert rooms.list_rooms(db, principal=me)[1] == 0
        assert stays.list_stays(db, principal=me)[1] == 0
    for who in ("bumen", "shenji", "admin"):
        with pytest.raises(Forbidden):
            rooms.list_rooms(db, principal=principal(db, world, who))
        with pytest.raises(Forbidden):
            stays.get_stay(db, principal=principal(db, world, who), stay_id=done.stay.id)
    # a leader reads but does not check anyone out
    with pytest.raises(Forbidden):
        stays.check_out(db, principal=principal(db, world, "lingdao"), stay_id=done.stay.id)


def test_a_resident_landlord_manages_their_own_rooms_only(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    mobile = "13600000001"
    landlord = resident(db, world, "fangdong", mobile)
    data = room_data(household(db, p.building, "601"), capacity=3)
    data["landlord"]["phone"] = mobile
    mine = rooms.register_room(db, principal=landlord, data=data).room
    assert mine.landlord_user_id == landlord.user_id and mine.path == p.building.path
    assert [r.id for r in rooms.my_rooms(db, principal=landlord)] == [mine.id]
    with pytest.raises(NotFound):  # the grid worker's room of another landlord
        rooms.get_room(db, principal=landlord, room_id=p.room.id)
    with pytest.raises(Forbidden):  # the staff list is not for residents
        rooms.list_rooms(db, principal=landlord)
    done = stays.check_in(db, principal=landlord, room_id=mine.id, data=tenant("房东代登"))
    assert done.stay.registered_via.value == "landlord" and done.stay.tenant_user_id is None
    assert [s.id for s in stays.list_stays(db, principal=landlord, room_id=mine.id)[0]] == [done.stay.id]
    with pytest.raises(NotFound):
        stays.list_stays(db, principal=landlord, room_id=p.room.id)
    rooms.update_room(db, principal=landlord, room_id=mine.id, changes={"rent_yuan": 1800})
    assert keys.revoke_key(db, principal=landlord, key_id=done.key.key.id, reason="租客换锁").revoked_at is not None
    # staff registering a room for a landlord link it to the resident account with the landlord's phone
    other = room_data(household(db, p.building, "602"))
    other["landlord"] = dict(data["landlord"])
    linked = rooms.register_room(db, principal=p.staff, data=other).room
    assert linked.landlord_user_id == landlord.user_id


def test_a_tenant_sees_their_stay_by_their_accounts_phone_and_nothing_else(db: Session, world: Any,
                                                                           gateway: Any) -> None:
    p = place(db, world)
    mobile = "13600000002"
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant(phone=mobile))
    me = resident(db, world, "zuke2", mobile)
    other = resident(db, world, "zuke3", "13600000003")
    nophone = resident(db, world, "zuke4")
    assert [s.id for s in stays.my_stays(db, principal=me)] == [done.stay.id]
    assert stays.get_stay(db, principal=me, stay_id=done.stay.id) is done.stay
    for stranger in (other, nophone):
        assert stays.my_stays(db, principal=stranger) == []
        with pytest.raises(NotFound):
            stays.get_stay(db, principal=stranger, stay_id=done.stay.id)
    with pytest.raises(NotFound):  # a tenant is not the room's landlord
        rooms.get_room(db, principal=me, room_id=p.room.id)
    with pytest.raises(NotFound):  # nor extends their own stay (the landlord does)
        stays.extend_stay(db, principal=me, stay_id=done.stay.id, expected_move_out=today() + dt.timedelta(days=400))
    renewed = keys.renew_key(db, principal=me, key_id=done.key.key.id)
    assert renewed.key.holder_kind.value == "tenant"
    with pytest.raises(NotFound):
        keys.renew_key(db, principal=other, key_id=renewed.key.id)


def test_the_export_is_masked_scoped_and_audited(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    form = tenant()
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=form)
    with pytest.raises(Forbidden):
        export.export_register(db, principal=p.staff)  # grid workers have no rental:export
    data, n = export.export_register(db, principal=principal(db, world, "shequ1"))
    assert n == 1
    wb = load_workbook(io.BytesIO(data), read_only=True)
    assert wb.sheetnames == ["出租房屋", "租住人员"]
    rows = list(wb["租住人员"].iter_rows(values_only=True))
    assert rows[0][:3] == ("姓名", "身份证号", "手机号") and rows[1][0] == "李租客"
    assert form["id_number"] not in str(rows) and form["phone"] not in str(rows) and "*" in str(rows[1][1])
    assert list(wb["出租房屋"].iter_rows(values_only=True))[1][6] == 1  # in residence
    assert export.export_register(db, principal=principal(db, world, "jiedao2"))[1] == 0
    ev = db.scalars(select(AuditEvent).where(AuditEvent.action == "rental.export").order_by(AuditEvent.seq)).all()
    assert [e.after["rows"] for e in ev] == [1, 0]


def test_the_api_checks_in_with_a_photo_and_answers_the_code_once(db: Session, world: Any, client: TestClient,
                                                                   gateway: Any) -> None:
    p = place(db, world)
    h = world.headers("wangge_a")
    d = today()
    body = {"room_id": str(p.room.id), "name": "吴租客", "id_number": tenant()["id_number"], "phone": "13500000001",
            "photo_base64": "data:image/png;base64," + base64.b64encode(png()).decode(),
            "move_in": d.isoformat(), "expected_move_out": (d + dt.timedelta(days=90)).isoformat()}
    r = client.post("/api/v1/rental/stays", json=body, headers=h)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["stay"]["name"] == "吴租客" and "*" in got["stay"]["id_number"] and got["key"]["code"]
    assert got["stay"]["police_state"] == "pending" and got["stay"]["police_state_name"] == "待推送"
    stay_id = got["stay"]["id"]
    assert "code" not in client.get(f"/api/v1/rental/rooms/{p.room.id}/keys", headers=h).text.replace(
        "checkin_code", "")
    bad = client.post("/api/v1/rental/stays", json={**body, "id_number": "330522199001011230", "phone": "123"},
                      headers=h)
    assert bad.status_code == 422 and set(bad.json()["details"]["fields"]) == {"id_number", "phone"}
    deliveries = client.get(f"/api/v1/rental/stays/{stay_id}/deliveries", headers=h).json()
    assert [x["kind"] for x in deliveries] == ["check_in"]
    police.deliver_due(db)
    out = client.post(f"/api/v1/rental/stays/{stay_id}/check-out", json={}, headers=h)
    assert out.status_code == 200 and out.json()["state"] == "closed"
    photo = client.get(f"/api/v1/rental/stays/{stay_id}/photo", headers=h)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert client.get(f"/api/v1/rental/stays/{stay_id}", headers=world.headers("wangge_b")).status_code == 404
    x = client.get("/api/v1/rental/export", headers=world.headers("shequ1"))
    assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
