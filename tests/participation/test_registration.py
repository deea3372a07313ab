"""Registration by phone with an SMS code, the code's limits (expiry, attempts, resend and daily throttles), login
by phone, and password reset by SMS — through the service and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from zhili.core.audit import AuditEvent
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, TooManyRequests, ValidationFailed
from zhili.core.security import Role
from zhili.participation import service
from zhili.participation.models import ResidentProfile, SmsCode
from zhili.participation.settings import ParticipationSettings
from zhili.users.models import User

PHONE = "13912345678"
PASSWORD = "Jumin-Anji-2026!"
API = "/api/v1/participation"


def actions(db: Any, prefix: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.seq)))


def test_a_resident_registers_with_the_code_from_the_sms_and_is_logged_in(part: Any) -> None:
    row = service.request_code(part.db, phone=PHONE, purpose="register", ip="10.0.0.1")
    code = part.last_code(PHONE)
    assert row.code_hash != code and code not in row.code_hash  # the code is stored only as a keyed hash
    assert row.expires_at - row.created_at == dt.timedelta(minutes=5)

    token, auth, user = service.register_resident(part.db, phone=PHONE, code=code, password=PASSWORD,
                                                  community_id=part.world.units["c1"].id, ip="10.0.0.1")
    assert token and auth.user_id == user.id
    assert user.role == Role.resident and user.units == []
    assert PHONE not in user.username and PHONE not in user.display_name  # never the number in plain text
    assert user.display_name == "139****5678" and user.phone_enc and PHONE.encode() not in user.phone_enc
    assert user.phone_bidx == service.phone_index(PHONE)
    assert part.db.get(ResidentProfile, user.id).community_id == part.world.units["c1"].id
    assert part.db.get(SmsCode, row.id).consumed_at is not None
    assert [e.action for e in actions(part.db, "participation.")][-2:] == ["participation.sms_sent",
                                                                           "participation.register"]
    # the code cannot be used twice
    with pytest.raises(ValidationFailed, match="请先获取短信验证码"):
        service.register_resident(part.db, phone=PHONE, code=code, password=PASSWORD)


def test_a_wrong_code_is_refused_and_counts_an_attempt_and_the_sixth_try_voids_the_code(part: Any) -> None:
    service.request_code(part.db, phone=PHONE, purpose="register")
    code = part.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(ValidationFailed, match=f"验证码不正确，还可尝试{left}次"):
            service.register_resident(part.db, phone=PHONE, code=wrong, password=PASSWORD)
    with pytest.raises(TooManyRequests, match="输错次数过多"):
        service.register_resident(part.db, phone=PHONE, code=wrong, password=PASSWORD)
    with pytest.raises(TooManyRequests, match="输错次数过多"):  # now even the right code is refused
        service.register_resident(part.db, phone=PHONE, code=code, password=PASSWORD)
    users = select(func.count()).select_from(User).where(User.phone_bidx == service.phone_index(PHONE))
    assert part.db.scalar(users) == 0
    refusals = actions(part.db, "participation.register_refused")
    assert len(refusals) == 6 and all("5678" in str(e.after) and PHONE not in str(e.after) for e in refusals)


def test_an_expired_code_is_refused(part: Any) -> None:
    sent = utcnow() - dt.timedelta(minutes=6)
    service.request_code(part.db, phone=PHONE, purpose="register", now=sent)
    with pytest.raises(ValidationFailed, match="验证码已过期"):
        service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)


def test_a_weak_or_mismatched_password_is_refused_before_the_code_is_tried(part: Any) -> None:
    service.request_code(part.db, phone=PHONE, purpose="register")
    code = part.last_code(PHONE)
    with pytest.raises(ValidationFailed, match="密码强度不足"):
        service.register_resident(part.db, phone=PHONE, code=code, password="abc")
    with pytest.raises(ValidationFailed, match="不能包含手机号"):
        service.register_resident(part.db, phone=PHONE, code=code, password=f"Aa!{PHONE}")
    with pytest.raises(ValidationFailed, match="两次输入的密码不一致"):
        service.register_resident(part.db, phone=PHONE, code=code, password=PASSWORD, confirm=PASSWORD + "x")
    assert part.db.scalar(select(SmsCode.attempts)) == 0
    service.register_resident(part.db, phone=PHONE, code=code, password=PASSWORD)  # still usable


def test_a_bad_phone_number_is_refused_with_a_clear_message(part: Any) -> None:
    with pytest.raises(ValidationFailed, match="手机号码格式不正确"):
        service.request_code(part.db, phone="1234", purpose="register")
    assert part.sms.sent == [] and actions(part.db, "participation.sms_refused")


def test_codes_are_throttled_per_phone_per_minute_and_per_day_and_per_address(part: Any, monkeypatch: Any) -> None:
    start = utcnow().replace(hour=2, minute=0)  # 10:00 in Shanghai: the whole run stays inside one local day
    service.request_code(part.db, phone=PHONE, purpose="register", ip="10.0.0.9", now=start)
    with pytest.raises(TooManyRequests, match=r"请\d+秒后再试") as exc:
        service.request_code(part.db, phone=PHONE, purpose="reset", ip="10.0.0.9", now=start + dt.timedelta(seconds=30))
    assert exc.value.details == {"retry_after": 30}
    for i in range(1, 10):
        service.request_code(part.db, phone=PHONE, purpose="register", ip="10.0.0.9",
                             now=start + dt.timedelta(minutes=i))
    with pytest.raises(TooManyRequests, match="该手机号今日获取验证码的次数已达上限"):
        service.request_code(part.db, phone=PHONE, purpose="register", now=start + dt.timedelta(minutes=20))
    assert len(part.sms.sent) == 10

    monkeypatch.setattr(service, "participation_settings", lambda: ParticipationSettings(sms_daily_per_ip=12))
    service.request_code(part.db, phone="13700000001", purpose="register", ip="10.0.0.9", now=start)
    service.request_code(part.db, phone="13700000002", purpose="register", ip="10.0.0.9", now=start)
    with pytest.raises(TooManyRequests, match="您所在网络今日获取验证码的次数已达上限"):
        service.request_code(part.db, phone="13700000003", purpose="register", ip="10.0.0.9", now=start)
    service.request_code(part.db, phone="13700000003", purpose="register", ip="10.0.0.10", now=start)


def test_registering_a_phone_that_already_has_an_account_says_so_only_after_the_code(part: Any) -> None:
    service.request_code(part.db, phone=PHONE, purpose="register", now=utcnow() - dt.timedelta(minutes=2))
    service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)
    service.request_code(part.db, phone=PHONE, purpose="register")  # same answer as for a new number
    with pytest.raises(Conflict, match="该手机号已注册"):
        service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)


def test_a_registered_resident_logs_in_with_phone_and_password(part: Any, client: Any) -> None:
    service.request_code(part.db, phone=PHONE, purpose="register")
    service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)
    r = client.post("/api/v1/auth/login", json={"username": "139 1234 5678", "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/auth/login", json={"username": PHONE, "password": "Wrong-Password-1"})
    assert r.status_code == 401 and "用户名或密码错误" in r.json()["message"]
    r = client.post("/api/v1/auth/login", json={"username": "13800000000", "password": PASSWORD})
    assert r.status_code == 401
    failed = actions(part.db, "auth.login_failed")
    assert failed and all("13800000000" not in str(e.after) and e.actor_name != "13800000000" for e in failed)


def test_a_forgotten_password_is_reset_with_an_sms_code_and_old_sessions_end(part: Any, client: Any) -> None:
    service.request_code(part.db, phone=PHONE, purpose="register", now=utcnow() - dt.timedelta(minutes=2))
    token, _, user = service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)
    service.request_code(part.db, phone=PHONE, purpose="reset")
    new = "Xin-Mima-2026#"
    service.reset_password_with_code(part.db, phone=PHONE, code=part.last_code(PHONE), password=new)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": PHONE, "password": new}).status_code == 200
    assert actions(part.db, "user.password_reset_sms")[-1].object_id == str(user.id)
    ended = actions(part.db, "user.sessions_revoke")[-1]  # ended by the users service, audited as an admin's is
    assert (ended.object_id, ended.actor_name, ended.after) == (str(user.id), user.username, {"revoked": 1})


def test_a_reset_code_for_an_unregistered_phone_tells_the_owner_by_sms_and_nothing_else(part: Any) -> None:
    service.request_code(part.db, phone="13600000000", purpose="reset")
    assert "尚未注册" in part.sms.sent[-1].body and not any(c.isdigit() for c in part.sms.sent[-1].body
                                                          .replace("13600000000", ""))


def test_the_api_registers_and_its_refusals_keep_the_attempt_count(part: Any, client: Any) -> None:
    r = client.post(f"{API}/sms-codes", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 202 and r.json() == {"sent": True, "expires_in": 300, "resend_after": 60}
    r = client.post(f"{API}/sms-codes", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 429 and r.json()["code"] == "sms_too_soon"
    code = part.last_code(PHONE)
    r = client.post(f"{API}/register", json={"phone": PHONE, "code": "12345x", "password": PASSWORD})
    assert r.status_code == 422 and r.json()["details"] == {"attempts_left": 4}
    assert part.db.scalar(select(SmsCode.attempts)) == 1  # committed despite the refusal
    r = client.post(f"{API}/register", json={"phone": PHONE, "code": code, "password": PASSWORD})
    assert r.status_code == 201, r.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["role"] == "resident" and me["phone_masked"] == "139****5678"


def test_a_refused_registration_keeps_its_record_but_not_its_work(part: Any, client: Any) -> None:
    """The phone has an account already: the code was right, but the refusal must not consume it; the refusal
    itself is recorded (the request's session rolls back the work and commits only what the service kept)."""
    service.request_code(part.db, phone=PHONE, purpose="register", now=utcnow() - dt.timedelta(minutes=2))
    service.register_resident(part.db, phone=PHONE, code=part.last_code(PHONE), password=PASSWORD)
    service.request_code(part.db, phone=PHONE, purpose="register")
    r = client.post(f"{API}/register", json={"phone": PHONE, "code": part.last_code(PHONE), "password": PASSWORD})
    assert r.status_code == 409 and r.json()["code"] == "phone_registered"
    newest = part.db.scalar(select(SmsCode).order_by(SmsCode.created_at.desc()).limit(1))
    part.db.refresh(newest)
    assert newest.consumed_at is None  # the refused work is not committed
    [refused] = actions(part.db, "participation.register_refused")
    assert refused.after["reason"] == "phone_registered"  # the refusal is
