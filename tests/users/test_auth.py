"""Login, lockout, sessions, password changes and user administration through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent
from zhili.core.db import utcnow
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.users import service
from zhili.users.models import AuthSession, User

API = "/api/v1"
PASSWORD = "Zhili-2024-Grid!"
NEW_PASSWORD = "Wangge#Anji-2025"


@pytest.fixture
def person(db: Session, world: Any) -> User:
    """A grid worker of grid ga with a real (hashed) password, created as the CLI does (no principal)."""
    user = service.create_user(db, principal=None, username="zhangwei", display_name="张伟", role=Role.grid_worker,
                               password=PASSWORD, unit_ids=[world.units["ga"].id], phone="13812345678")
    return user


def login(client: Any, password: str = PASSWORD, username: str = "zhangwei") -> Any:
    client.cookies.clear()
    return client.post(f"{API}/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: Any, token: str) -> Any:
    client.cookies.clear()  # only the bearer token counts
    return client.get(f"{API}/auth/me", headers=bearer(token))


def events(db: Session, *actions: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.seq)))


# -- logging in ------------------------------------------------------------------------------------------------

def test_the_right_password_gives_a_token_that_identifies_the_user(client: Any, person: User, world: Any) -> None:
    r = login(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["must_change_password"] is False
    assert body["access_token"].startswith("zl_")
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(hours=get_settings().session_hours - 1) < expires - utcnow() <= dt.timedelta(
        hours=get_settings().session_hours)

    m = me(client, body["access_token"])
    assert m.status_code == 200, m.text
    info = m.json()
    assert (info["username"], info["role"], info["role_label"]) == ("zhangwei", "grid_worker", "网格员")
    assert info["scope_paths"] == [world.units["ga"].path]
    assert [u["id"] for u in info["units"]] == [str(world.units["ga"].id)]
    assert {"registry:read", "registry:write", "pii:reveal", "region:read"} <= set(info["permissions"])
    assert "user:write" not in info["permissions"]
    assert info["phone_masked"] == "138****5678" and "13812345678" not in m.text


def test_the_session_cookie_set_at_login_also_authenticates(client: Any, person: User) -> None:
    assert login(client).status_code == 200
    assert client.get(f"{API}/auth/me").json()["username"] == "zhangwei"


def test_a_wrong_password_is_refused_without_saying_how_many_attempts_are_left(client: Any, person: User) -> None:
    r = login(client, "wrong-password")
    assert r.status_code == 401
    assert r.json()["code"] == "bad_credentials" and r.json()["message"] == "用户名或密码错误"
    assert not r.json().get("details") and "access_token" not in r.text


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(client: Any, person: User, db: Session) -> None:
    """Nothing in a refusal tells whether the username exists (defect 7 of issue 14)."""
    for attempt in range(3):
        known, unknown = login(client, f"wrong-{attempt}"), login(client, PASSWORD, username="nobody")
        assert known.status_code == unknown.status_code == 401
        assert known.json() == unknown.json()
    db.refresh(person)
    assert person.failed_logins == 3  # the failures still count towards the lockout


def test_a_disabled_account_with_a_wrong_password_looks_like_any_wrong_password(
    client: Any, person: User, db: Session
) -> None:
    db.execute(update(User).where(User.id == person.id).values(is_active=False))
    db.commit()
    assert login(client, "wrong").json() == login(client, "wrong", username="nobody").json()


def test_five_failures_lock_the_account_and_even_the_right_password_is_refused(
    client: Any, person: User, db: Session
) -> None:
    statuses = [login(client, f"wrong-{i}").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    locked = login(client, PASSWORD)
    assert locked.status_code == 423, locked.text
    assert locked.json()["code"] == "account_locked" and "锁定" in locked.json()["message"]
    db.refresh(person)
    assert person.locked_until is not None and person.locked_until > utcnow() + dt.timedelta(minutes=10)


def test_the_lock_clears_once_the_lockout_period_has_passed(client: Any, person: User, db: Session) -> None:
    for i in range(5):
        login(client, f"wrong-{i}")
    assert login(client).status_code == 423
    db.execute(update(User).where(User.id == person.id).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    r = login(client)
    assert r.status_code == 200, r.text
    db.refresh(person)
    assert person.failed_logins == 0 and person.locked_until is None
    # The failure counter starts again from zero.
    assert login(client, "wrong").status_code == 401
    db.refresh(person)
    assert person.failed_logins == 1


def test_a_successful_login_resets_the_failure_count(client: Any, person: User, db: Session) -> None:
    for i in range(3):
        login(client, f"wrong-{i}")
    assert login(client).status_code == 200
    assert login(client, "wrong").status_code == 401
    db.refresh(person)
    assert person.failed_logins == 1


def test_a_disabled_account_cannot_log_in(client: Any, person: User, db: Session) -> None:
    db.execute(update(User).where(User.id == person.id).values(is_active=False))
    db.commit()
    r = login(client)
    assert r.status_code == 401 and r.json()["code"] == "account_disabled"


def test_every_login_success_and_failure_is_audited(client: Any, person: User, db: Session) -> None:
    login(client)
    login(client, "wrong")
    login(client, PASSWORD, username="nobody")
    for i in range(4):
        login(client, f"wrong-{i}")
    login(client)  # refused: locked
    db.execute(update(User).where(User.id == person.id).values(is_active=False, locked_until=None))
    db.commit()
    login(client)  # refused: disabled

    got = [(e.action, e.actor_name, (e.after or {}).get("reason")) for e in
           events(db, "auth.login", "auth.login_failed", "auth.locked")]
    assert got == [
        ("auth.login", "zhangwei", None),
        ("auth.login_failed", "zhangwei", None),
        ("auth.login_failed", "nobody", "no_such_user"),
        ("auth.login_failed", "zhangwei", None),
        ("auth.login_failed", "zhangwei", None),
        ("auth.login_failed", "zhangwei", None),
        ("auth.locked", "zhangwei", None),
        ("auth.login_failed", "zhangwei", "locked"),
        ("auth.login_failed", "zhangwei", "disabled"),
    ]
    for e in events(db, "auth.login", "auth.login_failed", "auth.locked"):
        assert e.ip == "testclient"
        assert PASSWORD not in str(e.after) and "wrong" not in str(e.after)


# -- sessions --------------------------------------------------------------------------------------------------

def test_logout_revokes_the_token(client: Any, person: User) -> None:
    token = login(client).json()["access_token"]
    other = login(client).json()["access_token"]
    r = client.post(f"{API}/auth/logout", headers=bearer(token))
    assert r.status_code == 204
    after = me(client, token)
    assert after.status_code == 401 and after.json()["code"] == "session_expired"
    assert me(client, other).status_code == 200, "logging out ends only this session"


def test_an_expired_session_is_refused(client: Any, person: User, db: Session) -> None:
    token = login(client).json()["access_token"]
    db.execute(update(AuthSession).where(AuthSession.user_id == person.id)
               .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    r = me(client, token)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"


def test_an_unknown_or_missing_token_is_refused(client: Any) -> None:
    assert client.get(f"{API}/auth/me").status_code == 401
    r = client.get(f"{API}/auth/me", headers=bearer("zl_made_up"))
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


def test_a_cached_principal_is_reused_until_something_it_is_built_from_changes(
        client: Any, person: User, world: Any, db: Session) -> None:
    token = login(client).json()["access_token"]
    first = service.authenticate(db, token=token)
    assert service.authenticate(db, token=token) is first  # served from the cache
    person.department = "CG"  # a change to what the principal is made of
    db.flush()
    changed = service.authenticate(db, token=token)
    assert changed is not first and changed.principal.department == "CG"
    assert me(client, token).json()["username"] == "zhangwei"


def test_the_authentication_counter_moves_with_revocation_role_units_and_deactivation_but_not_with_logins(
        client: Any, person: User, world: Any, db: Session) -> None:
    from zhili.core import config_version
    from zhili.users.models import UserUnit

    def stamp() -> tuple[int, int]:
        return config_version.current(db, config_version.AUTH)

    before = stamp()
    token = login(client).json()["access_token"]
    assert stamp() == before, "a login (new session, last-login time) leaves cached principals valid"
    for change in (
        lambda: service.logout(db, token=token),
        lambda: setattr(person, "role", Role.community_staff),
        lambda: db.add(UserUnit(user_id=person.id, unit_id=world.units["gb"].id)),
        lambda: setattr(person, "is_active", False),
    ):
        seen = stamp()
        change()
        db.flush()
        assert stamp() != seen


# -- passwords -------------------------------------------------------------------------------------------------

def test_changing_the_password_needs_the_old_one_and_a_strong_new_one(client: Any, person: User) -> None:
    token = login(client).json()["access_token"]

    def change(old: str, new: str) -> Any:
        client.cookies.clear()
        return client.post(f"{API}/auth/password", headers=bearer(token),
                           json={"old_password": old, "new_password": new})

    r = change("not-the-old-one", NEW_PASSWORD)
    assert r.status_code == 422 and r.json()["code"] == "bad_old_password"
    for weak in ("short1A!", "alllowercaseletters", "zhangwei-Pass-123", "Password1"):
        r = change(PASSWORD, weak)
        assert r.status_code == 422 and r.json()["code"] == "weak_password", weak
        assert r.json()["details"]["problems"]
    assert change(PASSWORD, PASSWORD).json()["code"] == "password_reused"
    assert login(client).status_code == 200, "nothing changed yet"


def test_a_password_change_revokes_the_other_sessions(client: Any, person: User) -> None:
    phone_session = login(client).json()["access_token"]
    token = login(client).json()["access_token"]
    client.cookies.clear()
    r = client.post(f"{API}/auth/password", headers=bearer(token),
                    json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    assert me(client, phone_session).status_code == 401
    assert me(client, token).status_code == 200, "the session that changed the password stays signed in"
    assert login(client, PASSWORD).status_code == 401
    assert login(client, NEW_PASSWORD).status_code == 200


def test_an_admin_reset_forces_a_change_at_next_login_and_clears_the_lock(
    client: Any, person: User, world: Any
) -> None:
    for i in range(5):
        login(client, f"wrong-{i}")
    client.cookies.clear()
    r = client.post(f"{API}/users/{person.id}/password", headers=world.headers("admin"),
                    json={"new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    r = login(client, NEW_PASSWORD)
    assert r.status_code == 200 and r.json()["must_change_password"] is True


# -- administering users ---------------------------------------------------------------------------------------

def _new_user(**extra: Any) -> dict[str, Any]:
    return {"username": "liqiang", "display_name": "李强", "role": "grid_worker", "password": PASSWORD, **extra}


def test_an_admin_creates_a_user_bound_to_a_unit(client: Any, world: Any, db: Session) -> None:
    r = client.post(f"{API}/users", headers=world.headers("admin"),
                    json=_new_user(unit_ids=[str(world.units["gb"].id)], phone="13912345678"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert [u["path"] for u in body["units"]] == [world.units["gb"].path]
    assert body["phone_masked"] == "139****5678" and "password" not in r.text
    assert login(client, username="liqiang").status_code == 200
    [ev] = [e for e in events(db, "user.create") if e.object_id == body["id"]]
    assert ev.actor_name == "admin" and PASSWORD not in str(ev.after)


def test_street_staff_cannot_create_users(client: Any, world: Any) -> None:
    r = client.post(f"{API}/users", headers=world.headers("jiedao1"),
                    json=_new_user(unit_ids=[str(world.units["ga"].id)]))
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def test_a_staff_account_must_be_bound_to_a_unit(client: Any, world: Any) -> None:
    r = client.post(f"{API}/users", headers=world.headers("admin"), json=_new_user())
    assert r.status_code == 422 and r.json()["code"] == "units_required"
    resident = client.post(f"{API}/users", headers=world.headers("admin"),
                           json=_new_user(username="jumin2", role="resident"))
    assert resident.status_code == 201, "residents need no jurisdiction"


def test_a_username_is_taken_only_once(client: Any, world: Any) -> None:
    body = _new_user(unit_ids=[str(world.units["ga"].id)])
    assert client.post(f"{API}/users", headers=world.headers("admin"), json=body).status_code == 201
    r = client.post(f"{API}/users", headers=world.headers("admin"), json=body)
    assert r.status_code == 409 and r.json()["code"] == "username_taken"


def test_a_new_user_needs_a_strong_password(client: Any, world: Any) -> None:
    r = client.post(f"{API}/users", headers=world.headers("admin"),
                    json=_new_user(password="liqiang123", unit_ids=[str(world.units["ga"].id)]))
    assert r.status_code == 422 and r.json()["code"] == "weak_password"


def test_users_are_listed_only_within_the_callers_jurisdiction(client: Any, world: Any) -> None:
    r = client.get(f"{API}/users", headers=world.headers("jiedao1"), params={"page_size": 500})
    assert r.status_code == 200
    assert {u["username"] for u in r.json()["items"]} == {"jiedao1", "shequ1", "wangge_a", "wangge_b"}
    other = client.get(f"{API}/users/{world.users['jiedao2'].id}", headers=world.headers("jiedao1"))
    assert other.status_code == 404


def test_a_user_bound_partly_outside_the_callers_jurisdiction_is_neither_listed_nor_shown(
    client: Any, world: Any, db: Session
) -> None:
    both = service.create_user(db, principal=None, username="kuajie", display_name="跨街道", role=Role.grid_worker,
                               password=PASSWORD, unit_ids=[world.units["ga"].id, world.units["gc"].id])
    for caller, sees in (("jiedao1", False), ("jiedao2", False), ("admin", True)):
        listed = client.get(f"{API}/users", headers=world.headers(caller), params={"page_size": 500}).json()
        assert ("kuajie" in {u["username"] for u in listed["items"]}) is sees, caller
        assert listed["total"] == len(listed["items"])
        shown = client.get(f"{API}/users/{both.id}", headers=world.headers(caller))
        assert shown.status_code == (200 if sees else 404), caller
