"""Account administration functions behind the admin pages: search with filters, one-time initial passwords,
edits with their guards, unlock, deactivate, and ending sessions — each audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.taxonomy import load_defaults
from zhili.core.audit import AuditEvent
from zhili.core.db import utcnow
from zhili.core.errors import NotFound, Unauthenticated, ValidationFailed
from zhili.core.security import Role, verify_password
from zhili.users import admin, service
from zhili.users.models import AuthSession


def _p(db: Session, world: Any, who: str) -> Any:
    return service.principal_for_user(db, user=world.users[who])


def _names(rows: list[Any]) -> set[str]:
    return {u.username for u in rows}


def _audited(db: Session, action: str, object_id: Any) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                    AuditEvent.object_id == str(object_id))
                           .order_by(AuditEvent.seq)))


def test_search_filters_by_role_unit_subtree_status_and_name(db: Session, world: Any) -> None:
    admin_p = _p(db, world, "admin")

    def search(**kw: Any) -> set[str]:
        return _names(admin.search_users(db, principal=admin_p, filters=admin.UserFilter(**kw))[0])

    assert search(role=Role.grid_worker) == {"wangge_a", "wangge_b"}
    assert search(unit_id=world.units["c1"].id) == {"shequ1", "wangge_a", "wangge_b"}
    assert search(unit_id=world.units["s2"].id) == {"jiedao2"}
    world.users["wangge_b"].is_active = False
    world.users["wangge_a"].locked_until = utcnow() + dt.timedelta(minutes=5)
    world.users["shequ1"].locked_until = utcnow() - dt.timedelta(minutes=5)  # a lock that has run out
    db.flush()
    assert search(status="inactive") == {"wangge_b"}
    assert search(status="locked") == {"wangge_a"}
    assert "wangge_b" not in search(status="active") and "jumin" in search(status="active")
    assert search(q="jiedao") == {"jiedao1", "jiedao2"}


def test_street_staff_search_only_their_street_and_cannot_filter_by_another(db: Session, world: Any) -> None:
    street = _p(db, world, "jiedao1")
    rows, _ = admin.search_users(db, principal=street, filters=admin.UserFilter())
    assert _names(rows) == {"jiedao1", "shequ1", "wangge_a", "wangge_b"}
    with pytest.raises(NotFound):
        admin.search_users(db, principal=street, filters=admin.UserFilter(unit_id=world.units["s2"].id))


def test_a_new_account_gets_a_strong_one_time_password_it_must_change(db: Session, world: Any) -> None:
    user, password = admin.create_account(db, principal=_p(db, world, "admin"), username="sun_sq",
                                          display_name="孙社区", role=Role.community_staff,
                                          unit_ids=[world.units["c2"].id])
    assert user.must_change_password and verify_password(user.password_hash, password)
    assert len(password) >= 10 and password not in str(_audited(db, "user.create", user.id)[0].after)
    _, _, again = service.login(db, username="sun_sq", password=password)
    assert again.id == user.id


def test_a_department_handler_needs_an_existing_department(db: Session, world: Any) -> None:
    load_defaults(db)
    p = _p(db, world, "admin")
    kw: dict[str, Any] = {"username": "qian_bm", "display_name": "钱部门", "role": Role.department_handler,
                          "unit_ids": [world.units["district"].id]}
    with pytest.raises(ValidationFailed, match="必须选择所属部门"):
        admin.create_account(db, principal=p, **kw)
    with pytest.raises(ValidationFailed, match="不存在"):
        admin.create_account(db, principal=p, department="NOPE", **kw)
    user, _ = admin.create_account(db, principal=p, department="CG", **kw)
    assert user.department == "CG"


def test_editing_the_role_away_from_handler_clears_the_department_and_own_role_is_fixed(db: Session,
                                                                                       world: Any) -> None:
    load_defaults(db)
    p = _p(db, world, "admin")
    bumen = world.users["bumen"]
    admin.edit_account(db, principal=p, user_id=bumen.id, changes={"role": Role.department_handler,
                                                                    "department": "CG"})
    assert bumen.department == "CG"
    admin.edit_account(db, principal=p, user_id=bumen.id, changes={"role": Role.street_staff,
                                                                    "unit_ids": [world.units["s1"].id]})
    assert bumen.role == Role.street_staff and not bumen.department
    with pytest.raises(ValidationFailed, match="不能修改自己的角色"):
        admin.edit_account(db, principal=p, user_id=world.users["admin"].id, changes={"role": Role.auditor})


def test_saving_an_account_with_its_units_unchanged_keeps_the_bindings(db: Session, world: Any) -> None:
    """The edit form always sends the units: saving a new name must not fail on the unchanged binding (it did:
    the binding was replaced, and the new row was inserted before the old one was deleted → 409)."""
    p = _p(db, world, "admin")
    worker = world.users["wangge_a"]
    binding = worker.units[0]
    admin.edit_account(db, principal=p, user_id=worker.id, changes={
        "display_name": "王网格", "unit_ids": [world.units["ga"].id, world.units["ga"].id]})
    db.flush()
    assert worker.display_name == "王网格" and worker.units == [binding]
    admin.edit_account(db, principal=p, user_id=worker.id, changes={
        "unit_ids": [world.units["ga"].id, world.units["gb"].id]})
    db.flush()
    assert {b.unit_id for b in worker.units} == {world.units["ga"].id, world.units["gb"].id}
    assert _audited(db, "user.update", worker.id)[-1].after["units"] == sorted(
        [str(world.units["ga"].id), str(world.units["gb"].id)])


def test_unlock_clears_the_lock_and_is_audited(db: Session, world: Any) -> None:
    target = world.users["wangge_a"]
    target.locked_until, target.failed_logins = utcnow() + dt.timedelta(minutes=10), 4
    db.flush()
    admin.unlock_account(db, principal=_p(db, world, "admin"), user_id=target.id)
    assert target.locked_until is None and target.failed_logins == 0
    assert _audited(db, "user.unlock", target.id)[0].before["failed_logins"] == 4


def test_revoking_sessions_ends_only_live_ones_and_counts_them(db: Session, world: Any) -> None:
    target = world.users["wangge_a"]
    db.add(AuthSession(user_id=target.id, token_hash="x" * 64, expires_at=utcnow() - dt.timedelta(hours=1)))
    db.flush()
    n = admin.revoke_sessions(db, principal=_p(db, world, "admin"), user_id=target.id)
    assert n == 1 and admin.live_session_count(db, user=target) == 0
    assert _audited(db, "user.sessions_revoke", target.id)[0].after == {"revoked": 1}
    with pytest.raises(Unauthenticated):
        service.principal_for_token(db, token=world.tokens["wangge_a"])


def test_deactivation_logs_out_and_never_applies_to_oneself(db: Session, world: Any) -> None:
    p = _p(db, world, "admin")
    target = world.users["wangge_b"]
    admin.set_account_active(db, principal=p, user_id=target.id, active=False)
    assert not target.is_active
    with pytest.raises(Unauthenticated):
        service.principal_for_token(db, token=world.tokens["wangge_b"])
    admin.set_account_active(db, principal=p, user_id=target.id, active=True)
    assert target.is_active
    with pytest.raises(ValidationFailed, match="不能停用自己的账号"):
        admin.set_account_active(db, principal=p, user_id=world.users["admin"].id, active=False)


def test_a_generated_reset_password_is_returned_once_and_forces_a_change(db: Session, world: Any) -> None:
    target = world.users["wangge_a"]
    password = admin.reset_to_generated_password(db, principal=_p(db, world, "admin"), user_id=target.id)
    assert verify_password(target.password_hash, password) and target.must_change_password
    assert _audited(db, "user.password_reset", target.id)
