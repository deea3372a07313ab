"""Password rules and hashing (argon2id), tokens, and the role → permission matrix (三员分立)."""

from __future__ import annotations

import pytest

from zhili.core.errors import ValidationFailed
from zhili.core.security import (
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    Perm,
    Role,
    check_password_strength,
    generate_password,
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)

STRONG = "Tq7!mVx2#pL"


def refusal(password: str, username: str | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        check_password_strength(password, username=username)
    assert exc.value.code == "weak_password"
    assert exc.value.message.startswith("密码强度不足")
    return exc.value


# -- strength ------------------------------------------------------------------------------------------------

def test_a_long_password_with_three_character_classes_is_accepted():
    check_password_strength(STRONG)
    check_password_strength("correcthorse42!")  # lower + digit + symbol
    check_password_strength("CorrectHorseBattery9")  # lower + upper + digit


def test_a_password_shorter_than_ten_characters_is_refused():
    err = refusal("Tq7!mVx2#")
    assert err.details["problems"] == ["长度至少10位"]


def test_a_password_with_fewer_than_three_character_classes_is_refused():
    for pw in ("abcdefghijkl", "abcdefgh1234", "ABCDEFGH!!!!", "12345678901!"):
        err = refusal(pw)
        assert err.details["problems"] == ["需包含大写字母、小写字母、数字、符号中的至少三类"]


def test_a_common_password_is_refused_whatever_its_case():
    err = refusal("WoAiNi1314")
    assert "不能使用常见密码或包含用户名" in err.details["problems"]
    assert "不能使用常见密码或包含用户名" in refusal("password").details["problems"]


def test_a_password_containing_the_username_is_refused_case_insensitively():
    err = refusal("Zhangsan@2024", username="zhangsan")
    assert err.details["problems"] == ["不能使用常见密码或包含用户名"]
    err = refusal("xx-ZHANGSAN-2024", username="ZhangSan")
    assert err.details["problems"] == ["不能使用常见密码或包含用户名"]
    check_password_strength("Zhangsan@2024", username="lisi")


def test_every_problem_of_a_weak_password_is_reported_at_once():
    err = refusal("abc", username="abc")
    assert len(err.details["problems"]) == 3


def test_generated_passwords_pass_the_strength_rules_and_differ():
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20
    for pw in passwords:
        check_password_strength(pw)


# -- hashing -------------------------------------------------------------------------------------------------

def test_a_password_hash_is_argon2id_and_verifies_only_the_right_password():
    h = hash_password(STRONG)
    assert h.startswith("$argon2id$")
    assert STRONG not in h
    assert verify_password(h, STRONG) is True
    assert verify_password(h, STRONG.lower()) is False
    assert verify_password(h, "") is False
    assert needs_rehash(h) is False


def test_hashing_the_same_password_twice_uses_a_fresh_salt():
    assert hash_password(STRONG) != hash_password(STRONG)


@pytest.mark.parametrize("stored", ["!", "", "not-a-hash", "$argon2id$v=19$garbage"])
def test_a_malformed_stored_hash_never_verifies_and_never_raises(stored):
    assert verify_password(stored, STRONG) is False


# -- tokens --------------------------------------------------------------------------------------------------

def test_tokens_are_unique_and_stored_only_as_a_sha256_digest():
    a, b = new_token(), new_token()
    assert a != b and a.startswith("zl_") and len(a) > 40
    assert token_digest(a) == token_digest(a) != token_digest(b)
    assert len(token_digest(a)) == 64 and a not in token_digest(a)


# -- roles ---------------------------------------------------------------------------------------------------

def test_every_role_has_a_chinese_label_and_a_permission_set():
    assert set(ROLE_LABELS) == set(Role) == set(ROLE_PERMISSIONS)


def test_only_the_auditor_may_read_the_audit_log():
    assert Perm.audit_read in ROLE_PERMISSIONS[Role.auditor]
    assert [r for r in Role if Perm.audit_read in ROLE_PERMISSIONS[r]] == [Role.auditor]


def test_the_system_administrator_cannot_read_the_audit_log_or_reveal_personal_data():
    admin = ROLE_PERMISSIONS[Role.admin]
    assert Perm.audit_read not in admin
    assert Perm.pii_reveal not in admin
    assert Perm.user_write in admin


def test_the_auditor_cannot_manage_users_or_touch_the_registers():
    auditor = ROLE_PERMISSIONS[Role.auditor]
    assert not auditor & {Perm.user_write, Perm.registry_read, Perm.registry_write, Perm.pii_reveal,
                          Perm.region_write}


def test_only_the_admin_manages_user_accounts():
    assert [r for r in Role if Perm.user_write in ROLE_PERMISSIONS[r]] == [Role.admin]


def test_a_resident_has_no_access_to_the_registers_personal_data_users_or_audit():
    resident = ROLE_PERMISSIONS[Role.resident]
    assert not resident & {Perm.registry_read, Perm.registry_write, Perm.pii_reveal, Perm.region_write,
                           Perm.user_read, Perm.user_write, Perm.audit_read}


def test_read_only_roles_cannot_write_the_registers():
    for role in (Role.leader, Role.department_handler, Role.command_centre, Role.auditor):
        assert Perm.registry_write not in ROLE_PERMISSIONS[role], role


def test_front_line_staff_can_read_and_write_the_registers_and_reveal_personal_data():
    for role in (Role.grid_worker, Role.community_staff, Role.street_staff):
        assert {Perm.registry_read, Perm.registry_write, Perm.pii_reveal} <= ROLE_PERMISSIONS[role], role
