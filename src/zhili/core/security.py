"""Passwords (argon2id), password strength rules, opaque session tokens, roles and permissions."""

from __future__ import annotations

import enum
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from zhili.core import names
from zhili.core.errors import ValidationFailed

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


class Role(enum.StrEnum):
    """User roles."""

    resident = "resident"
    grid_worker = "grid_worker"
    community_staff = "community_staff"
    street_staff = "street_staff"
    department_handler = "department_handler"
    command_centre = "command_centre"
    leader = "leader"
    auditor = "auditor"
    admin = "admin"


ROLE_LABELS: dict[Role, str] = {role: names.zh("role")[role.value] for role in Role}


class Perm(enum.StrEnum):
    """Permissions checked by the services (``authorize``); roles map to sets of them."""

    region_read = "region:read"
    region_write = "region:write"
    registry_read = "registry:read"
    registry_write = "registry:write"
    pii_reveal = "pii:reveal"
    user_read = "user:read"
    user_write = "user:write"
    audit_read = "audit:read"
    case_read = "case:read"
    case_report = "case:report"
    case_reveal_reporter = "case:reveal_reporter"  # only the command centre, to call a reporter back
    config_write = "config:write"  # taxonomy, responsibility list, calendar, API keys
    dashboard_read = "dashboard:read"  # the command screen's figures for one's own area
    notice_publish = "notice:publish"  # publish, edit and withdraw notices (公告) for one's own area
    suggestion_reply = "suggestion:reply"  # read and answer residents' suggestions sent to one's own area
    resident_participate = "resident:participate"  # 附议, one's home community, sending suggestions
    visit_record = "visit:record"  # record a household visit (网格员走访)
    hub_read = "hub:read"  # data hub: sources, imports, quality, lineage of one's own area
    hub_import = "hub:import"  # import into a source of one's own area; fix and re-run quarantined rows
    hub_review = "hub:review"  # review queue: merge, keep apart, undo a merge
    hub_admin = "hub:admin"  # register sources, edit mapping templates, survivorship rules, subscriptions
    intel_read = "intel:read"  # 研判: hot issues, hotspots, early warnings and grid risk of one's own area
    intel_warn = "intel:warn"  # dismiss an early warning with a reason, or turn it into a case (one's own area)
    intel_admin = "intel:admin"  # train, evaluate, activate and roll back models
    rental_read = "rental:read"  # 出租房屋: rooms, stays, tenants and police deliveries of one's own area
    rental_write = "rental:write"  # register rooms, check tenants in and out on a landlord's behalf (one's own area)
    rental_export = "rental:export"  # Excel export of the rental register (masked, audited)
    rental_self = "rental:self"  # a resident as landlord (my rooms, my tenants) or tenant (my stay, my key)
    iot_read = "iot:read"  # 物联感知: devices, messages and alerts of one's own area
    iot_admin = "iot:admin"  # register and import devices, device types and alert rules
    eval_read = "eval:read"  # 4E 评估: scorecards, rankings, equity and reports of one's own subtree
    eval_fill = "eval:fill"  # fill in and submit one's own unit's data sets (填报)
    eval_approve = "eval:approve"  # approve, return or lock the submissions of the units below one's own
    eval_admin = "eval:admin"  # indicators, weights (AHP), data sets; run the scoring


_STAFF_READ = {Perm.region_read, Perm.registry_read, Perm.case_read, Perm.case_report}
_PARTICIPATION_STAFF = {Perm.notice_publish, Perm.suggestion_reply}
_HUB_STAFF = {Perm.hub_read, Perm.hub_import, Perm.hub_review}
_INTEL_STAFF = {Perm.intel_read, Perm.intel_warn}
_FIELD_STAFF = {Perm.rental_read, Perm.rental_write, Perm.iot_read}  # rental housing and sensors of one's area
ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.resident: frozenset({Perm.case_read, Perm.case_report, Perm.resident_participate, Perm.rental_self}),
    Role.grid_worker: frozenset(_STAFF_READ | _FIELD_STAFF | {Perm.registry_write, Perm.pii_reveal,
                                                              Perm.visit_record}),
    Role.community_staff: frozenset(_STAFF_READ | _PARTICIPATION_STAFF | _HUB_STAFF | _INTEL_STAFF | _FIELD_STAFF | {
        Perm.rental_export, Perm.eval_read, Perm.eval_fill,
        Perm.registry_write, Perm.pii_reveal, Perm.user_read, Perm.dashboard_read}),
    Role.street_staff: frozenset(_STAFF_READ | _PARTICIPATION_STAFF | _HUB_STAFF | _INTEL_STAFF | _FIELD_STAFF | {
        Perm.rental_export, Perm.eval_read, Perm.eval_fill, Perm.eval_approve,
        Perm.registry_write, Perm.pii_reveal, Perm.user_read, Perm.region_write, Perm.dashboard_read}),
    Role.department_handler: frozenset({Perm.region_read, Perm.case_read, Perm.case_report}),
    Role.command_centre: frozenset(_STAFF_READ | _PARTICIPATION_STAFF | _HUB_STAFF | _INTEL_STAFF | _FIELD_STAFF | {
        Perm.hub_admin, Perm.intel_admin, Perm.rental_export, Perm.iot_admin,
        Perm.eval_read, Perm.eval_approve, Perm.eval_admin,
        Perm.pii_reveal, Perm.user_read, Perm.case_reveal_reporter, Perm.config_write, Perm.dashboard_read}),
    Role.leader: frozenset({Perm.region_read, Perm.registry_read, Perm.case_read, Perm.dashboard_read,
                            Perm.hub_read, Perm.intel_read, Perm.rental_read, Perm.iot_read, Perm.eval_read}),
    # 三员分立: the auditor reads the audit log; the system admin manages users and regions but not audit.
    Role.auditor: frozenset({Perm.region_read, Perm.audit_read, Perm.user_read}),
    Role.admin: frozenset(_STAFF_READ | _PARTICIPATION_STAFF | _HUB_STAFF | {Perm.hub_admin, Perm.intel_admin,
        Perm.iot_read, Perm.iot_admin, Perm.eval_read, Perm.eval_admin,
        Perm.region_write, Perm.registry_write, Perm.user_read, Perm.user_write, Perm.config_write,
        Perm.dashboard_read}),
}


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


_COMMON = {"password", "12345678", "123456789", "1234567890", "qwerty123", "admin123", "abc12345",
           "11111111", "88888888", "iloveyou", "zhili123", "a1234567", "password1", "woaini1314"}


def check_password_strength(password: str, *, username: str | None = None) -> None:
    """Refuse weak passwords: ≥ 10 characters, three of lower/upper/digit/symbol, not common, not the username."""
    problems = []
    if len(password) < 10:
        problems.append("长度至少10位")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if classes < 3:
        problems.append("需包含大写字母、小写字母、数字、符号中的至少三类")
    if password.lower() in _COMMON or (username and username.lower() in password.lower()):
        problems.append("不能使用常见密码或包含用户名")
    if problems:
        raise ValidationFailed("密码强度不足：" + "；".join(problems), code="weak_password",
                               details={"problems": problems})


def new_token(prefix: str = "zl") -> str:
    """A new opaque bearer token."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    """What is stored for a token: its SHA-256 (tokens are high-entropy, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A random password that passes :func:`check_password_strength`."""
    while True:
        pw = secrets.token_urlsafe(9) + secrets.choice("!@#$%*") + secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + \
            str(secrets.randbelow(10))
        try:
            check_password_strength(pw)
            return pw
        except ValidationFailed:
            continue
