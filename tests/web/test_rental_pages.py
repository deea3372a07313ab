"""Rental-housing pages (出租房屋): the landlord's 我的出租房 (register a room found by address, check a tenant in
and out), the tenant's 我的租住 (check in with the room's code, the stay with its police delivery state and key, the
way to 申领居住证), the grid worker's rooms, stays and warnings of the grid, and the console's register with search,
export and police deliveries — every page for its roles only, other people's and other grids' records not found,
personal data masked, forms refused beside their fields in Chinese."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from pagekit import page, png, sign_in
from sqlalchemy import func, select

from testimages import same_pixels
from zhili.core.audit import AuditEvent
from zhili.core.clock import today
from zhili.core.crypto import get_cipher
from zhili.core.validators import id_check_digit
from zhili.registry.models import Building, BuildingType, Household, HouseholdUse
from zhili.rental import police, rules
from zhili.rental.models import DeliveryState, Key, PoliceDelivery, Room, Stay

_seq = itertools.count(1)
_phones = itertools.count(13900000001)


def id_number(born: str = "19950312") -> str:
    first = f"340102{born}{next(_seq) % 1000:03d}"
    return first + id_check_digit(first)


def phone() -> str:
    return str(next(_phones))


@pytest.fixture(autouse=True)
def police_fake() -> Iterator[police.RecordingPoliceGateway]:
    gw = police.RecordingPoliceGateway()
    police.set_gateway(gw)
    police.set_dispatcher(lambda ids: None)  # nothing is sent during a request; the tests deliver by hand
    try:
        yield gw
    finally:
        police.set_gateway(None)
        police.set_dispatcher(None)


def resident(site: Any, name: str, mobile: str | None = None) -> str:
    """A resident account (with ``mobile`` as its phone) of the test world; returns its session token."""
    from zhili.core.db import utcnow
    from zhili.core.ids import new_id
    from zhili.core.security import Role, token_digest
    from zhili.users.models import AuthSession, User

    user = User(id=new_id(), username=name, display_name=name, role=Role.resident, password_hash="!")
    site.db.add(user)
    site.db.flush()
    token = f"tok_{name}_{new_id().hex}"
    site.db.add(AuthSession(user_id=user.id, token_hash=token_digest(token),
                            expires_at=utcnow() + dt.timedelta(hours=1)))
    if mobile:
        cipher = get_cipher()
        user.phone_enc = cipher.encrypt(mobile, table="app_user", column="phone", row_id=user.id)
        user.phone_bidx = cipher.blind_index(mobile, purpose="app_user.phone")
    site.world.users[name], site.world.tokens[name] = user, token
    site.db.flush()
    return token


def building(site: Any, grid: str = "ga", address: str = "长兴县金陵路88号") -> Building:
    unit = site.world.units[grid]
    b = Building(grid_id=unit.id, path=unit.path, name="金陵小区5幢", address=address,
                 building_type=BuildingType.residential, floors=6, lon=119.1, lat=31.1)
    site.db.add(b)
    site.db.flush()
    return b


def room_form(client: Any, prefix: str, b: Building, **extra: str) -> dict[str, str]:
    token = page(client.get(f"{prefix}/rooms/new")).csrf()
    return {"csrf_token": token, "q": b.address, "building_id": str(b.id), "door": "502", "label": "主卧",
            "capacity": "1", "area_m2": "18.5", "rent_yuan": "1200", "contract_start": today().isoformat(),
            "contract_end": (today() + dt.timedelta(days=365)).isoformat(), "landlord_name": "王房东",
            "landlord_id_number": id_number("19700101"), "landlord_phone": phone(), **extra}


def checkin_form(csrf: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "李租客", "id_number": id_number(), "phone": phone(),
            "move_in": today().isoformat(), "expected_move_out": (today() + dt.timedelta(days=180)).isoformat(),
            **extra}


PHOTO = [("photo", ("me.png", png(4, 4), "image/png"))]


def register_as_landlord(client: Any, site: Any, b: Building, token: str, **extra: str) -> Room:
    sign_in(client, token)
    r = client.post("/h5/rental/rooms/new", data=room_form(client, "/h5/rental", b, **extra))
    assert r.status_code == 200, page(r).text[:500]
    return site.db.scalars(select(Room).order_by(Room.created_at.desc())).first()


def check_in(client: Any, room: Room, prefix: str = "/h5/rental", **extra: str) -> Any:
    csrf = page(client.get(f"{prefix}/rooms/{room.id}/checkin")).csrf()
    return client.post(f"{prefix}/rooms/{room.id}/checkin", data=checkin_form(csrf, **extra), files=PHOTO)


# -- the landlord ------------------------------------------------------------------------------------------------

def test_a_landlord_finds_the_building_by_address_registers_a_room_and_checks_a_tenant_in(client: Any,
                                                                                       site: Any) -> None:
    b = building(site)
    token = resident(site, "fangdong", "13911112222")
    sign_in(client, token)
    home = page(client.get("/h5/"))
    assert {"/h5/rental/rooms", "/h5/rental/stays"} <= {a.attrs.get("href") for a in home.find_all("a")}
    assert "我的出租房" in home.text and "我的租住" in home.text
    form = page(client.get("/h5/rental/rooms/new", params={"q": "金陵路88"}))
    assert form.h1() == "登记出租房" and form.unlabelled_controls() == []
    assert [i.attrs["value"] for i in form.find_all("input", name="building_id")] == [str(b.id)]
    assert "长兴县金陵路88号" in form.text
    r = client.post("/h5/rental/rooms/new", data=room_form(client, "/h5/rental", b),
                    files=[("photos", ("房间.png", png(6, 6), "image/png"))])
    assert r.status_code == 200, page(r).text[:400]
    issued = page(r)
    room = site.db.scalar(select(Room))
    assert issued.h1() == "出租房间已登记" and room.checkin_code in issued.text
    code = issued.find("p", id="key-code").text.strip()
    assert re.fullmatch(r"[0-9A-Z]{16}", code)
    household = site.db.get(Household, room.household_id)
    assert household.building_id == b.id and household.room == "502" and household.use == HouseholdUse.rented
    mine = page(client.get("/h5/rental/rooms"))
    assert "主卧" in mine.text and "0 / 1 人" in mine.text
    detail = page(client.get(f"/h5/rental/rooms/{room.id}"))
    assert "王房东" in detail.text and room.checkin_code in detail.text and "目前没有在住租客" in detail.text
    assert code not in detail.html  # the key's code was shown once
    img = detail.find("img", alt="房间照片 1").attrs["src"]
    assert img == f"/h5/rental/rooms/{room.id}/photos/{room.photos[0]}"
    assert same_pixels(client.get(img).content, png(6, 6))

    r = check_in(client, room, name="李租客", id_number="340102199503120010", phone="13712345678")
    assert r.status_code == 200, page(r).text[:400]
    done = page(r)
    assert done.h1().startswith("已登记入住") and "李租客" in done.text and "报送中" in done.text
    assert re.fullmatch(r"[0-9A-Z]{16}", done.find("p", id="key-code").text.strip())
    stay = site.db.scalar(select(Stay))
    assert stay.registered_via.value == "landlord" and stay.police_state == DeliveryState.pending.value
    detail = page(client.get(f"/h5/rental/rooms/{room.id}"))
    assert "李租客" in detail.text and "3401**********0010" in detail.text and "137****5678" in detail.text
    assert "340102199503120010" not in detail.html and "13712345678" not in detail.html
    assert "1 / 1 人" in detail.text and "房东代登记" in detail.text
    audit = site.db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.check_in"))
    assert audit is not None and audit.actor_name == "fangdong"

    csrf = detail.csrf()
    r = client.post(f"/h5/rental/stays/{stay.id}/checkout", data={"csrf_token": csrf, "moved_out": today().isoformat()},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/h5/rental/rooms/{room.id}?msg=rental_checked_out"
    after = page(client.get(r.headers["location"]))
    assert "已办理退租" in after.text and "往期租客" in after.text and "0 / 1 人" in after.text


def test_the_room_and_check_in_forms_refuse_beside_their_fields_in_chinese(client: Any, site: Any) -> None:
    b = building(site)
    token = resident(site, "fangdong", "13911112222")
    sign_in(client, token)
    r = client.post("/h5/rental/rooms/new", data=room_form(client, "/h5/rental", b, building_id="", capacity="两人",
                                                           landlord_id_number="340102197001010010"))
    assert r.status_code == 422
    p = page(r)
    assert "请选择楼栋" in p.find("p", id="building_id-error").text
    assert "整数" in p.find("p", id="capacity-error").text
    assert site.db.scalar(select(func.count()).select_from(Room)) == 0
    r = client.post("/h5/rental/rooms/new", data=room_form(client, "/h5/rental", b,
                                                           landlord_id_number="340102197001010010"))
    assert r.status_code == 422
    p = page(r)
    assert p.find("p", id="landlord_id_number-error").text.strip() and "王房东" in p.html  # typed values kept
    assert p.find("input", name="building_id").attrs.get("checked") is not None

    room = register_as_landlord(client, site, b, token)
    r = check_in(client, room, id_number="340102199503120011", phone="12345", expected_move_out="")
    assert r.status_code == 422
    p = page(r)
    assert p.find("p", id="id_number-error").text.strip()
    assert "手机" in p.find("p", id="phone-error").text
    assert "预计退租日期" in p.find("p", id="expected_move_out-error").text
    csrf = page(client.get(f"/h5/rental/rooms/{room.id}/checkin")).csrf()
    r = client.post(f"/h5/rental/rooms/{room.id}/checkin", data=checkin_form(csrf))  # no photo
    assert r.status_code == 422 and "请上传本人照片" in page(r).find("p", id="photo-error").text
    assert site.db.scalar(select(func.count()).select_from(Stay)) == 0


def test_another_landlord_and_other_grids_do_not_find_the_room(client: Any, site: Any) -> None:
    b = building(site)
    room = register_as_landlord(client, site, b, resident(site, "fangdong", "13911112222"))
    r = check_in(client, room)
    stay = site.db.scalar(select(Stay))
    sign_in(client, resident(site, "linju", "13911113333"))
    csrf = page(client.get("/h5/rental/rooms")).csrf()
    assert "主卧" not in client.get("/h5/rental/rooms").text
    for url in (f"/h5/rental/rooms/{room.id}", f"/h5/rental/rooms/{room.id}/checkin"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/h5/rental/rooms/{room.id}/checkin", data=checkin_form(csrf), files=PHOTO).status_code == 404
    assert client.post(f"/h5/rental/stays/{stay.id}/checkout", data={"csrf_token": csrf}).status_code == 404
    sign_in(client, site.token("wangge_b"))
    assert client.get(f"/gw/rental/rooms/{room.id}").status_code == 404
    assert "主卧" not in client.get("/gw/rental").text
    sign_in(client, site.token("jiedao2"))
    assert client.get(f"/console/rental/rooms/{room.id}").status_code == 404
    assert client.get(f"/console/rental/stays/{stay.id}").status_code == 404
    assert r.status_code == 200 and site.db.scalar(select(func.count()).select_from(Stay)) == 1


def test_each_portal_refuses_the_roles_it_is_not_for(client: Any, site: Any) -> None:
    sign_in(client, site.token("wangge_a"))
    assert client.get("/h5/rental/rooms").status_code == 403
    assert client.get("/console/rental/").status_code == 403
    sign_in(client, site.token("jumin"))
    assert client.get("/gw/rental").status_code == 403
    assert client.get("/console/rental/stays").status_code == 403
    for who in ("bumen", "admin", "shenji"):
        sign_in(client, site.token(who))
        assert client.get("/console/rental/").status_code == 403, who
    sign_in(client, site.token("lingdao"))
    p = page(client.get("/console/rental/"))
    assert p.h1() == "出租房间" and "导出Excel" not in p.text  # the leader reads, does not export


# -- the tenant ---------------------------------------------------------------------------------------------------

def test_a_tenant_checks_in_with_the_code_and_sees_the_stay_its_police_state_and_key(client: Any, site: Any,
                                                                                     police_fake: Any) -> None:
    b = building(site)
    room = register_as_landlord(client, site, b, resident(site, "fangdong", "13911112222"))
    sign_in(client, resident(site, "zuke", "13922223333"))
    empty = page(client.get("/h5/rental/stays"))
    assert "您目前没有租住登记" in empty.text
    form = page(client.get("/h5/rental/checkin"))
    assert form.unlabelled_controls() == []
    r = client.post("/h5/rental/checkin", data=checkin_form(form.csrf(), code="NOPE1234"), files=PHOTO)
    assert r.status_code == 422 and "入住码无效" in page(r).find("p", id="code-error").text
    r = client.post("/h5/rental/checkin", data=checkin_form(form.csrf(), code=room.checkin_code.lower(),
                                                            name="赵租客", phone="13922223333"), files=PHOTO)
    assert r.status_code == 200, page(r).text[:400]
    code = page(r).find("p", id="key-code").text.strip()
    stay = site.db.scalar(select(Stay))
    assert stay.registered_via.value == "portal"
    mine = page(client.get("/h5/rental/stays"))
    assert "长兴县金陵路88号" in mine.text and "主卧" in mine.text and "赵租客" in mine.text
    assert "报送中" in mine.text and f"…{code[-4:]}" in mine.text and "有效" in mine.text
    assert code not in mine.html and "139****3333" in mine.text
    # the key opens the door through the expected move-out day (it ends at the midnight after)
    assert f"{today().isoformat()} 至 {(today() + dt.timedelta(days=180)).isoformat()}" in mine.text
    assert f"/h5/permit/new?stay_id={stay.id}" in {a.attrs.get("href") for a in mine.find_all("a")}
    key_id = site.db.scalar(select(Key.id).where(Key.stay_id == stay.id))
    renew = mine.find("form", action=f"/h5/rental/keys/{key_id}/renew")
    r = client.post(renew.attrs["action"], data={"csrf_token": mine.csrf()})
    assert r.status_code == 200 and page(r).h1() == "电子钥匙已更换"
    new_code = page(r).find("p", id="key-code").text.strip()
    assert new_code != code and re.fullmatch(r"[0-9A-Z]{16}", new_code)
    mine = page(client.get("/h5/rental/stays"))
    assert f"…{new_code[-4:]}" in mine.text and f"…{code[-4:]}" not in mine.text
    r = client.post(f"/h5/rental/stays/{stay.id}/extend", data={"csrf_token": mine.csrf(),
                                                                 "expected_move_out": "2099-01-01"})
    assert r.status_code == 404  # 续租 is the landlord's (or staff's), not the tenant's
    police.deliver(site.db, [d.id for d in site.db.scalars(select(PoliceDelivery))])
    site.db.flush()
    assert "已报送" in page(client.get("/h5/rental/stays")).text
    r = client.post(f"/h5/rental/stays/{stay.id}/checkout", data={"csrf_token": mine.csrf(), "from": "stays"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/h5/rental/stays?msg=rental_checked_out"
    after = page(client.get(r.headers["location"]))
    assert "已退租" in after.text and "已作废" in after.text and "申领居住证" not in after.text


# -- the grid worker ----------------------------------------------------------------------------------------------

def test_the_grid_worker_sees_rooms_stays_and_warnings_of_the_grid_and_checks_in_on_a_visit(client: Any,
                                                                                            site: Any) -> None:
    b = building(site)
    room = register_as_landlord(client, site, b, resident(site, "fangdong", "13911112222"))
    check_in(client, room, name="钱一", id_number="340102199503120010")
    sign_in(client, site.token("wangge_a"))
    nav = page(client.get("/gw/"))
    assert "/gw/rental" in {a.attrs.get("href") for a in nav.find_all("a")}
    rooms = page(client.get("/gw/rental"))
    assert "主卧" in rooms.text and "王房东" in rooms.text and "1 / 1 人" in rooms.text
    r = check_in(client, room, prefix="/gw/rental", name="孙二", id_number="340102199503120037")
    assert r.status_code == 200, page(r).text[:300]
    assert site.db.scalar(select(Stay).where(Stay.registered_via == "grid_worker")) is not None
    over = page(client.get("/gw/rental", params={"over": "1"}))
    assert "超员" in over.text and "2 / 1 人" in over.text
    stays = page(client.get("/gw/rental/stays"))
    assert "钱一" in stays.text and "孙二" in stays.text and "3401**********0010" in stays.text
    found = page(client.post("/gw/rental/stays", data={"csrf_token": stays.csrf(), "q": "340102199503120010"}))
    assert "钱一" in found.text and "孙二" not in found.text and "340102199503120010" not in found.html.replace(
        'value="340102199503120010"', "")
    refused = client.get("/gw/rental/stays", params={"q": "340102199503120010"})
    assert refused.status_code == 422 and "钱一" not in refused.text
    room_page = page(client.get(f"/gw/rental/rooms/{room.id}"))
    first = site.db.scalar(select(Stay).where(Stay.registered_via == "landlord"))
    later = first.expected_move_out + dt.timedelta(days=90)
    r = client.post(f"/gw/rental/stays/{first.id}/extend", follow_redirects=False, data={
        "csrf_token": room_page.csrf(), "expected_move_out": later.isoformat(), "version": str(first.version)})
    assert r.status_code == 303 and r.headers["location"] == f"/gw/rental/rooms/{room.id}?msg=rental_extended"
    assert later.isoformat() in page(client.get(r.headers["location"])).text
    r = client.post(f"/gw/rental/stays/{first.id}/extend", data={"csrf_token": room_page.csrf(),
                                                                  "expected_move_out": "2020-01-01"})
    assert r.status_code == 422 and "预计退租日期" in page(r).find("div", role="alert").text
    old_code = room.checkin_code
    r = client.post(f"/gw/rental/rooms/{room.id}/checkin-code", data={"csrf_token": room_page.csrf()},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?msg=rental_code_renewed")
    site.db.refresh(room)
    assert room.checkin_code != old_code and room.checkin_code in client.get(r.headers["location"]).text
    rules.scan(site.db)
    site.db.flush()
    warnings = page(client.get("/gw/rental/warnings"))
    assert "群租" in warnings.text and f"/gw/rental/rooms/{room.id}" in {a.attrs.get("href")
                                                                        for a in warnings.find_all("a")}
    sign_in(client, site.token("wangge_b"))
    assert "群租" not in client.get("/gw/rental/warnings").text


def test_the_grid_worker_registers_a_room_for_a_landlord(client: Any, site: Any) -> None:
    b = building(site)
    other = building(site, "gc", "长兴县画溪路9号")
    sign_in(client, site.token("wangge_a"))
    form = page(client.get("/gw/rental/rooms/new", params={"q": "长兴县"}))
    assert [i.attrs["value"] for i in form.find_all("input", name="building_id")] == [str(b.id)]  # own grid only
    r = client.post("/gw/rental/rooms/new", data=room_form(client, "/gw/rental", other, landlord_phone=""))
    assert r.status_code == 422 and site.db.scalar(select(func.count()).select_from(Room)) == 0
    r = client.post("/gw/rental/rooms/new", data=room_form(client, "/gw/rental", b, landlord_phone=""))
    assert r.status_code == 200, page(r).text[:300]
    assert site.db.scalar(select(Room)).created_by == "wangge_a"


# -- the console --------------------------------------------------------------------------------------------------

def test_the_console_register_searches_exports_masked_and_redelivers(client: Any, site: Any,
                                                                     police_fake: Any) -> None:
    b = building(site)
    room = register_as_landlord(client, site, b, resident(site, "fangdong", "13911112222"))
    check_in(client, room, name="钱一", id_number="340102199503120010", phone="13712345678")
    stay = site.db.scalar(select(Stay))
    sign_in(client, site.token("shequ1"))
    nav = page(client.get("/console/rental/"))
    assert "/console/rental/" in {a.attrs.get("href") for a in nav.find_all("a")}
    assert "主卧" in nav.text and "金陵社区第1网格" in nav.text and nav.unlabelled_controls() == []
    assert "主卧" not in client.get("/console/rental/", params={"over": "1"}).text
    stays = page(client.get("/console/rental/stays"))
    assert "钱一" in stays.text and "3401**********0010" in stays.text and "137****5678" in stays.text
    assert "340102199503120010" not in stays.html
    found = page(client.post("/console/rental/stays", data={"csrf_token": stays.csrf(), "q": "13712345678"}))
    assert "钱一" in found.text
    none = page(client.post("/console/rental/stays", data={"csrf_token": stays.csrf(), "q": "13700000000"}))
    assert "钱一" not in none.text
    assert client.get("/console/rental/stays", params={"q": "13712345678"}).status_code == 422
    assert "钱一" not in client.get("/console/rental/stays", params={"overdue": "1"}).text  # not yet past its end
    stay.expected_move_out = today() - dt.timedelta(days=1)
    site.db.flush()
    assert "钱一" in page(client.get("/console/rental/stays", params={"overdue": "1"})).text
    detail = page(client.get(f"/console/rental/stays/{stay.id}"))
    assert "钱一" in detail.text and "入住登记" in detail.text and "报送中" in detail.text
    photo = detail.find("a", href=f"/console/rental/stays/{stay.id}/photo")
    assert "审计" in photo.text
    assert same_pixels(client.get(photo.attrs["href"]).content, png(4, 4))
    assert site.db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.stay_photo")) is not None
    revealed = page(client.post(f"/console/rental/stays/{stay.id}/reveal",
                                data={"csrf_token": detail.csrf(), "reason": "核查群租"}))
    assert "340102199503120010" in revealed.text and "13712345678" in revealed.text
    export_url = stays.find("a", class_="btn-small").attrs["href"]
    r = client.get(export_url)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    wb = load_workbook(io.BytesIO(r.content))
    cells = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)
    assert "钱一" in cells and "340102199503120010" not in cells and "13712345678" not in cells
    assert site.db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.export")) is not None

    delivery = site.db.scalar(select(PoliceDelivery))
    delivery.state, delivery.attempts, delivery.last_error = DeliveryState.dead, police.MAX_ATTEMPTS, "HTTP 503"
    site.db.flush()
    deliveries = page(client.get("/console/rental/deliveries"))
    assert "报送失败" in deliveries.text and "钱一" in deliveries.text and "HTTP 503" in deliveries.text
    r = client.post(f"/console/rental/deliveries/{delivery.id}/redeliver", data={"csrf_token": deliveries.csrf()},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/rental/deliveries?msg=rental_redelivered"
    site.db.refresh(delivery)
    assert delivery.state == DeliveryState.pending and delivery.attempts == 0
    assert "已重新加入报送队列" in page(client.get(r.headers["location"])).text
    r = client.post(f"/console/rental/deliveries/{delivery.id}/redeliver", data={"csrf_token": deliveries.csrf()})
    assert r.status_code == 409 and "只有推送失败的记录" in page(r).text
    sign_in(client, site.token("jiedao2"))
    assert client.post(f"/console/rental/deliveries/{delivery.id}/redeliver",
                       data={"csrf_token": page(client.get("/console/rental/")).csrf()}).status_code == 404
