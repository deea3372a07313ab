"""Resident participation: registration by phone with SMS codes, public nearby cases and 附议, notices and the
monthly disclosure, suggestions with staff replies.

Refusals of the anonymous flows (codes, registration, password reset) are audited and then raised; the routes
commit before answering, so the attempt counters and the audit rows outlive the refusal (as login does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import notify, public, reads, stats
from zhili.cases.service import district_unit
from zhili.cases.support import add_support
from zhili.cases.taxonomy import list_categories
from zhili.core import audit
from zhili.core.clock import local_day, local_midnight, local_now
from zhili.core.crypto import get_cipher
from zhili.core.db import keep_on_refusal, utcnow
from zhili.core.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, path_predicate, scoped
from zhili.core.masking import mask_phone
from zhili.core.query import paginate
from zhili.core.security import Perm, Role, check_password_strength
from zhili.core.validators import validate_mobile
from zhili.participation.models import (
    Notice,
    ResidentProfile,
    SmsCode,
    Suggestion,
    SuggestionReply,
)
from zhili.participation.settings import participation_settings
from zhili.participation.sms import send_sms
from zhili.regions.geo import gcj02_to_wgs84, haversine_m
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.users import service as users
from zhili.users.models import AuthSession, User

if TYPE_CHECKING:
    from zhili.cases.models import Category

PURPOSES = {"register": "注册", "reset": "找回密码"}
NOTICE_LEVELS = (UnitLevel.district, UnitLevel.street, UnitLevel.community)
SUGGESTION_STATUS = {"open": "待答复", "replied": "已答复"}


# -- helpers ------------------------------------------------------------------------------------------------

def _local_day_start(now: dt.datetime) -> dt.datetime:
    return local_midnight(local_day(now))


def phone_index(phone: str) -> str:
    """The blind index of a (validated) phone number, as ``app_user.phone_bidx`` stores it."""
    return get_cipher().blind_index(phone, purpose="app_user.phone")


def resident_username(phone_bidx: str) -> str:
    """The username of a resident registered by phone: derived from the blind index, never the number itself."""
    return "r-" + phone_bidx[:16]


def _code_hash(code_id: uuid.UUID, code: str) -> str:
    key = get_cipher().blind_index(str(code_id), purpose="sms_code.key").encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def _anonymous(ip: str | None) -> audit.Actor:
    return audit.Actor(id=None, name="anonymous", role=None, ip=ip)


def _refuse(session: Session, exc: DomainError, *, action: str, ip: str | None, phone: str | None = None,
            purpose: str | None = None) -> NoReturn:
    """Audit a refused anonymous request (kept although the request is rolled back) and raise its error."""
    after = {"reason": exc.code, "purpose": purpose, "phone": mask_phone(phone)}

    def record(s: Session) -> None:
        audit.record(s, actor=_anonymous(ip), action=action, object_type="sms_code", after=after)
        s.flush()

    keep_on_refusal(session, record)
    raise exc


def _user_by_phone_index(session: Session, bidx: str) -> User | None:
    return session.scalar(select(User).where(User.phone_bidx == bidx).order_by(User.created_at).limit(1))


def _text(value: str | None, *, field: str, limit: int, required: bool = True) -> str:
    v = (value or "").strip()
    if required and not v:
        raise ValidationFailed(f"请填写{field}", code="field_required", details={"field": field})
    if len(v) > limit:
        raise ValidationFailed(f"{field}不能超过{limit}字", code="field_too_long", details={"field": field})
    return v


# -- SMS verification codes ---------------------------------------------------------------------------------

def request_code(session: Session, *, phone: str, purpose: str, ip: str | None = None,
                 now: dt.datetime | None = None) -> SmsCode:
    """Send a 6-digit code for registration or password reset, within the resend and daily limits.

    The answer never tells whether the phone has an account (so the form cannot be used to probe numbers): the
    SMS itself says so when the code would be of no use.
    """
    now = now or utcnow()
    s = participation_settings()
    action = "participation.sms_refused"
    if purpose not in PURPOSES:
        _refuse(session, ValidationFailed("不支持的验证码用途", code="bad_purpose"), action=action, ip=ip)
    try:
        phone = validate_mobile(phone)
    except ValidationFailed as exc:
        _refuse(session, exc, action=action, ip=ip, purpose=purpose)
    bidx = phone_index(phone)
    last = session.scalar(select(func.max(SmsCode.created_at)).where(SmsCode.phone_bidx == bidx))
    if last is not None and (now - last).total_seconds() < s.sms_resend_s:
        wait = math.ceil(s.sms_resend_s - (now - last).total_seconds())
        _refuse(session, TooManyRequests(f"验证码发送过于频繁，请{wait}秒后再试", code="sms_too_soon",
                                         details={"retry_after": wait}), action=action, ip=ip, phone=phone,
                purpose=purpose)
    day_start = _local_day_start(now)
    sent_today = session.scalar(select(func.count()).select_from(SmsCode)
                                .where(SmsCode.phone_bidx == bidx, SmsCode.created_at >= day_start)) or 0
    if sent_today >= s.sms_daily_per_phone:
        _refuse(session, TooManyRequests("该手机号今日获取验证码的次数已达上限，请明天再试", code="sms_daily_phone"),
                action=action, ip=ip, phone=phone, purpose=purpose)
    if ip:
        from_ip = session.scalar(select(func.count()).select_from(SmsCode)
                                 .where(SmsCode.ip == ip, SmsCode.created_at >= day_start)) or 0
        if from_ip >= s.sms_daily_per_ip:
            _refuse(session, TooManyRequests("您所在网络今日获取验证码的次数已达上限，请明天再试",
                                             code="sms_daily_ip"), action=action, ip=ip, phone=phone,
                    purpose=purpose)
    code = f"{secrets.randbelow(10**6):06d}"
    row = SmsCode(id=new_id(), purpose=purpose, phone_bidx=bidx, created_at=now,
                  expires_at=now + dt.timedelta(seconds=s.sms_code_ttl_s), attempts=0, ip=(ip or None))
    row.code_hash = _code_hash(row.id, code)
    session.add(row)
    account = _user_by_phone_index(session, bidx)
    minutes = max(1, s.sms_code_ttl_s // 60)
    if purpose == "reset" and (account is None or account.role != Role.resident):
        text = "【智理】该手机号尚未注册居民账号，无法找回密码。如需使用，请先注册。"
    else:
        text = f"【智理】您正在{PURPOSES[purpose]}，验证码 {code}，{minutes}分钟内有效。请勿告诉他人。"
    status = send_sms(phone=phone, kind=f"verify_{purpose}", text=text)
    session.flush()
    audit.record(session, actor=_anonymous(ip), action="participation.sms_sent", object_type="sms_code",
                 object_id=row.id, after={"purpose": purpose, "phone": mask_phone(phone), "status": status})
    return row


def _consume_code(session: Session, *, bidx: str, purpose: str, code: str, now: dt.datetime) -> SmsCode:
    """Check a code against the newest one sent for (phone, purpose); a wrong entry counts an attempt."""
    s = participation_settings()
    row = session.scalar(select(SmsCode).where(SmsCode.phone_bidx == bidx, SmsCode.purpose == purpose)
                         .order_by(SmsCode.created_at.desc()).limit(1))
    if row is None or row.consumed_at is not None:
        raise ValidationFailed("请先获取短信验证码", code="code_missing")
    if row.attempts >= s.sms_code_max_attempts:
        raise TooManyRequests("验证码输错次数过多，已失效，请重新获取", code="code_locked")
    if row.expires_at <= now:
        raise ValidationFailed("验证码已过期，请重新获取", code="code_expired")
    code = (code or "").strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()
            and hmac.compare_digest(_code_hash(row.id, code), row.code_hash)):
        row_id = row.id

        def count_attempt(db: Session) -> int:
            """One more wrong entry on the code (read afresh: this runs again after a rollback)."""
            kept = db.get_one(SmsCode, row_id)
            kept.attempts += 1
            db.flush()
            return kept.attempts

        left = s.sms_code_max_attempts - keep_on_refusal(session, count_attempt)
        if left <= 0:
            raise TooManyRequests("验证码输错次数过多，已失效，请重新获取", code="code_locked")
        raise ValidationFailed(f"验证码不正确，还可尝试{left}次", code="code_wrong", details={"attempts_left": left})
    row.consumed_at = now
    return row


def _check_new_password(password: str, confirm: str | None, phone: str) -> None:
    if confirm is not None and password != confirm:
        raise ValidationFailed("两次输入的密码不一致", code="password_mismatch")
    check_password_strength(password)
    if phone in password:
        raise ValidationFailed("密码强度不足：不能包含手机号", code="weak_password")


def register_resident(
    session: Session, *, phone: str, code: str, password: str, confirm: str | None = None,
    display_name: str | None = None, community_id: uuid.UUID | None = None, ip: str | None = None,
    user_agent: str | None = None, now: dt.datetime | None = None,
) -> tuple[str, AuthSession, User]:
    """Create a resident account for a phone proved by its SMS code, and log it in; returns the session token."""
    now = now or utcnow()
    try:
        phone = validate_mobile(phone)
        name = _text(display_name, field="称呼", limit=32, required=False)
        _check_new_password(password, confirm, phone)
        community = _community(session, community_id) if community_id else None
        bidx = phone_index(phone)
        _consume_code(session, bidx=bidx, purpose="register", code=code, now=now)
        if _user_by_phone_index(session, bidx) is not None:
            raise Conflict("该手机号已注册，请直接登录；忘记密码可通过短信验证找回", code="phone_registered")
    except DomainError as exc:
        _refuse(session, exc, action="participation.register_refused", ip=ip, phone=phone, purpose="register")
    username = resident_username(bidx)
    user = users.create_user(session, principal=None, username=username, display_name=name or mask_phone(phone) or "",
                             role=Role.resident, password=password, phone=phone)
    if community is not None:
        session.add(ResidentProfile(user_id=user.id, community_id=community.id))
    audit.record(session, actor=audit.Actor(id=user.id, name=username, role=Role.resident.value, ip=ip),
                 action="participation.register", object_type="user", object_id=user.id,
                 after={"community": community.code if community else None})
    return users.login(session, username=username, password=password, ip=ip, user_agent=user_agent)


def reset_password_with_code(session: Session, *, phone: str, code: str, password: str, confirm: str | None = None,
                             ip: str | None = None, now: dt.datetime | None = None) -> User:
    """Set a resident's new password after the SMS code proved the phone; clears a lockout, ends all sessions."""
    now = now or utcnow()
    try:
        phone = validate_mobile(phone)
        _check_new_password(password, confirm, phone)
        bidx = phone_index(phone)
        _consume_code(session, bidx=bidx, purpose="reset", code=code, now=now)
        user = _user_by_phone_index(session, bidx)
        if user is None or user.role != Role.resident:
            raise NotFound("该手机号没有居民账号；工作人员账号请联系管理员重置密码", code="no_resident_account")
    except DomainError as exc:
        _refuse(session, exc, action="participation.reset_refused", ip=ip, phone=phone, purpose="reset")
    users.reset_forgotten_password(session, user=user, password=password, ip=ip, now=now)
    return user


# -- communities and the resident's own ---------------------------------------------------------------------

def _current(stmt: Any) -> Any:
    return stmt.where(Unit.valid_to == OPEN_END)


def _community(session: Session, unit_id: uuid.UUID) -> Unit:
    unit = session.get(Unit, unit_id)
    district = district_unit(session)
    if unit is None or unit.level != UnitLevel.community or unit.valid_to != OPEN_END \
            or not unit.path.startswith(district.path + "/"):
        raise NotFound("所选社区不存在", code="community_not_found")
    return unit


def list_communities(session: Session) -> list[dict[str, Any]]:
    """Current communities (社区/村) of the district grouped by street, for the pickers."""
    district = district_unit(session)
    stmt = _current(select(Unit).where(Unit.level.in_((UnitLevel.street, UnitLevel.community)),
                                       path_predicate(Unit.path, (district.path,))))
    rows = list(session.scalars(stmt.order_by(Unit.path)))
    streets = {u.path: {"name": u.name, "items": []} for u in rows if u.level == UnitLevel.street}
    for u in rows:
        if u.level == UnitLevel.community:
            parent = u.path.rsplit("/", 1)[0]
            streets.setdefault(parent, {"name": "", "items": []})["items"].append({"id": u.id, "name": u.name})
    return [g for g in streets.values() if g["items"]]


def resident_community(session: Session, *, principal: Principal) -> Unit | None:
    """The resident's home community, if chosen (and still current)."""
    profile = session.get(ResidentProfile, principal.user_id)
    if profile is None or profile.community_id is None:
        return None
    unit = session.get(Unit, profile.community_id)
    return unit if unit is not None and unit.valid_to == OPEN_END else None


def set_resident_community(session: Session, *, principal: Principal, community_id: uuid.UUID) -> Unit:
    """Choose the resident's home community."""
    _require_resident(principal)
    unit = _community(session, community_id)
    profile = session.get(ResidentProfile, principal.user_id)
    if profile is None:
        session.add(ResidentProfile(user_id=principal.user_id, community_id=unit.id))
    else:
        profile.community_id = unit.id
    session.flush()
    audit.record(session, actor=principal.actor, action="participation.set_community", object_type="user",
                 object_id=principal.user_id, after={"community": unit.code})
    return unit


def _require_resident(principal: Principal) -> None:
    authorize(principal, Perm.resident_participate, "此功能仅供居民使用", code="resident_only")


def require_staff(principal: Principal, perm: Perm) -> None:
    """Staff who hold ``perm`` (publishing notices, answering suggestions) and have a jurisdiction."""
    authorize(principal, perm, "当前角色不能管理公告和居民建议", code="participation_staff_only")
    if not principal.scope_paths:
        raise Forbidden("当前角色不能管理公告和居民建议", code="participation_staff_only")


# -- public cases nearby and 附议 ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicCase:
    """What anyone may see of a case: no reporter, no exact address, no number, no handling details."""

    id: uuid.UUID
    category_name: str
    summary: str
    state: str
    state_label: str
    reported_at: dt.datetime
    place: str
    distance_m: int | None
    support_count: int
    supported: bool
    own: bool


def is_public_category(code: str | None) -> bool:
    """True if cases of this category may be listed publicly (the one rule: :mod:`zhili.cases.public`)."""
    return public.is_public_category(code)


def _public_views(session: Session, rows: list[reads.PublicCaseRow], distances: dict[uuid.UUID, float] | None = None
                  ) -> list[PublicCase]:
    if not rows:
        return []
    prefixes = {"/".join(c.path.split("/")[:i]) for c in rows for i in range(1, c.path.count("/") + 2)}
    places = {p: n for p, n in session.execute(select(Unit.path, Unit.name).where(
        Unit.level == UnitLevel.community, Unit.path.in_(prefixes)))}
    out = []
    for c in rows:
        place = next((places[p] for p in sorted(places, key=len, reverse=True) if c.path.startswith(p)), "")
        d = (distances or {}).get(c.id)
        out.append(PublicCase(
            id=c.id, category_name=c.category_name, summary=public.public_text(c.title)[:60], state=c.state.value,
            state_label=c.state_label, reported_at=c.reported_at, place=place,
            distance_m=None if d is None else int(round(d / 50) * 50), support_count=c.support_count,
            supported=c.supported, own=c.own))
    return out


def nearby_cases(
    session: Session, *, principal: Principal, lon: float | None = None, lat: float | None = None,
    radius_m: float | None = None, community_id: uuid.UUID | None = None, category: str | None = None,
    limit: int = 50,
) -> list[PublicCase]:
    """Public open cases around a point (nearest first) or in a community (newest first)."""
    authorize(principal, Perm.case_read)
    s = participation_settings()
    district = district_unit(session)

    def find(**where: Any) -> list[reads.PublicCaseRow]:
        return reads.public_cases(session, viewer_id=principal.user_id,
                                  under=district.path, category=category.strip()[:32] if category else None, **where)

    if lon is not None and lat is not None:
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationFailed("位置坐标格式不正确", code="bad_coordinates")
        radius = min(max(radius_m or s.nearby_radius_m, 100.0), s.nearby_max_radius_m)
        dlat = radius / 111_000
        dlon = dlat / max(0.1, math.cos(math.radians(lat)))
        rows = find(box=(lon - dlon, lat - dlat, lon + dlon, lat + dlat), limit=500)
        dist = {c.id: haversine_m(lon, lat, c.lon, c.lat) for c in rows if c.lon is not None and c.lat is not None}
        near = sorted((c for c in rows if c.id in dist and dist[c.id] <= radius), key=lambda c: dist[c.id])
        return _public_views(session, near[:limit], dist)
    if community_id is not None:
        unit = _community(session, community_id)
        return _public_views(session, find(within=unit.path, limit=limit))
    raise ValidationFailed("请允许定位或选择一个社区", code="origin_required")


def public_category_classes(session: Session) -> list[Category]:
    """Major classes whose cases the public list shows (for the filter)."""
    return [c for c in list_categories(session) if not c.is_leaf and is_public_category(c.code)]


def similar_open_cases(session: Session, *, principal: Principal, category_code: str, lon: float, lat: float,
                       crs: str = "wgs84", limit: int = 5) -> list[PublicCase]:
    """Before a new report: public open cases of the same category close to the point (to support instead)."""
    authorize(principal, Perm.case_read)
    if not is_public_category(category_code):
        return []
    if crs == "gcj02":
        lon, lat = gcj02_to_wgs84(lon, lat)
    return nearby_cases(session, principal=principal, lon=lon, lat=lat,
                        radius_m=participation_settings().suggest_radius_m, category=category_code, limit=limit)


def get_public_case(session: Session, *, principal: Principal, case_id: uuid.UUID) -> PublicCase:
    """One case as the public sees it (404 if it is not public or no longer open)."""
    authorize(principal, Perm.case_read)
    return _public_views(session, [reads.public_case(session, viewer_id=principal.user_id, case_id=case_id)])[0]


def support_case(session: Session, *, principal: Principal, case_id: uuid.UUID) -> PublicCase:
    """A resident supports (附议) a public open case, once (the case loop's :func:`zhili.cases.support.add_support`:
    residents only, never their own case)."""
    return _public_views(session, [add_support(session, principal=principal, case_id=case_id)])[0]


# -- notices ------------------------------------------------------------------------------------------------

def publishable_units(session: Session, *, principal: Principal) -> list[Unit]:
    """Units (district, street, community) in the principal's jurisdiction that notices can be published for."""
    require_staff(principal, Perm.notice_publish)
    stmt = scoped(_current(select(Unit).where(Unit.level.in_(NOTICE_LEVELS))), principal, Unit.path)
    return list(session.scalars(stmt.order_by(Unit.path)))


def _notice_fields(session: Session, principal: Principal, data: dict[str, Any], now: dt.datetime
                   ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "unit_id" in data:
        unit = session.get(Unit, data["unit_id"]) if data["unit_id"] else None
        if unit is None or unit.level not in NOTICE_LEVELS or unit.valid_to != OPEN_END:
            raise NotFound("发布单位不存在或不在您的管辖范围内", code="unit_not_found")
        ensure_in_scope(principal, unit.path, "发布单位")
        out.update(unit_id=unit.id, path=unit.path)
    if "title" in data:
        out["title"] = _text(data["title"], field="标题", limit=200)
    if "body" in data:
        out["body"] = _text(data["body"], field="正文", limit=10_000)
    if "publish_at" in data:
        out["publish_at"] = data["publish_at"] or now
    if "expire_at" in data:
        out["expire_at"] = data["expire_at"]
    if "pinned" in data:
        out["pinned"] = bool(data["pinned"])
    return out


def _check_window(notice: Notice) -> None:
    if notice.expire_at is not None and notice.expire_at <= notice.publish_at:
        raise ValidationFailed("下线时间必须晚于发布时间", code="bad_notice_window")


def create_notice(session: Session, *, principal: Principal, data: dict[str, Any]) -> Notice:
    """Publish a notice for a unit in the principal's jurisdiction (now, or from ``publish_at``)."""
    require_staff(principal, Perm.notice_publish)
    now = utcnow()
    if not data.get("unit_id"):
        raise ValidationFailed("请选择发布单位", code="unit_required")
    values = _notice_fields(session, principal, {"publish_at": None, "expire_at": None, "pinned": False, **data}, now)
    notice = Notice(id=new_id(), created_by=principal.user_id, created_at=now, updated_at=now, **values)
    _check_window(notice)
    session.add(notice)
    session.flush()
    audit.record(session, actor=principal.actor, action="notice.create", object_type="notice", object_id=notice.id,
                 after=notice_summary(notice))
    return notice


def notice_summary(notice: Notice) -> dict[str, Any]:
    """What the audit log records about a notice."""
    return {"path": notice.path, "title": notice.title, "publish_at": notice.publish_at,
            "expire_at": notice.expire_at, "pinned": notice.pinned, "withdrawn": notice.withdrawn_at is not None}


def get_notice(session: Session, *, principal: Principal, notice_id: uuid.UUID) -> Notice:
    """A notice of the principal's jurisdiction (staff), 404 otherwise."""
    require_staff(principal, Perm.notice_publish)
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise not_found("公告")
    ensure_in_scope(principal, notice.path, "公告")
    return notice


def update_notice(session: Session, *, principal: Principal, notice_id: uuid.UUID, changes: dict[str, Any]
                  ) -> Notice:
    """Edit a notice of the principal's jurisdiction."""
    notice = get_notice(session, principal=principal, notice_id=notice_id)
    if notice.withdrawn_at is not None:
        raise Conflict("公告已撤回，不能再修改", code="notice_withdrawn")
    before = notice_summary(notice)
    for key, value in _notice_fields(session, principal, changes, utcnow()).items():
        setattr(notice, key, value)
    _check_window(notice)
    session.flush()
    audit.record(session, actor=principal.actor, action="notice.update", object_type="notice", object_id=notice.id,
                 before=before, after=notice_summary(notice))
    return notice


def withdraw_notice(session: Session, *, principal: Principal, notice_id: uuid.UUID) -> Notice:
    """Take a notice down (it stays in the staff list, marked withdrawn)."""
    notice = get_notice(session, principal=principal, notice_id=notice_id)
    if notice.withdrawn_at is None:
        notice.withdrawn_at = utcnow()
        session.flush()
        audit.record(session, actor=principal.actor, action="notice.withdraw", object_type="notice",
                     object_id=notice.id)
    return notice


def list_notices(session: Session, *, principal: Principal, page: int = 1, page_size: int = 20
                 ) -> tuple[list[Notice], int]:
    """Notices of the principal's jurisdiction (staff), pinned first, newest first."""
    require_staff(principal, Perm.notice_publish)
    stmt = scoped(select(Notice), principal, Notice.path)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Notice.withdrawn_at.is_not(None), Notice.pinned.desc(), Notice.publish_at.desc(),
                                  Notice.id])


def _ancestor_paths(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _audience_path(session: Session, principal: Principal, community_id: uuid.UUID | None) -> str:
    if community_id is not None:
        return _community(session, community_id).path
    home = resident_community(session, principal=principal)
    return home.path if home is not None else district_unit(session).path


def _live_notices(paths: list[str], now: dt.datetime) -> Any:
    return select(Notice).where(Notice.path.in_(paths), Notice.withdrawn_at.is_(None), Notice.publish_at <= now,
                                or_(Notice.expire_at.is_(None), Notice.expire_at > now))


def notices_for(session: Session, *, principal: Principal, community_id: uuid.UUID | None = None,
                now: dt.datetime | None = None, limit: int = 50) -> list[Notice]:
    """Live notices of a community and of its street, district … (the resident's own community by default)."""
    paths = _ancestor_paths(_audience_path(session, principal, community_id))
    stmt = _live_notices(paths, now or utcnow()).order_by(Notice.pinned.desc(), Notice.publish_at.desc())
    return list(session.scalars(stmt.limit(limit)))


def read_notice(session: Session, *, principal: Principal, notice_id: uuid.UUID,
                community_id: uuid.UUID | None = None) -> Notice:
    """One live notice addressed to the community (404 otherwise)."""
    paths = _ancestor_paths(_audience_path(session, principal, community_id))
    notice = session.scalar(_live_notices(paths, utcnow()).where(Notice.id == notice_id))
    if notice is None:
        raise NotFound("公告不存在或已下线")
    return notice


def unit_names(session: Session, *, paths: set[str]) -> dict[str, str]:
    """Unit path → name (for showing who published a notice)."""
    if not paths:
        return {}
    return {p: n for p, n in session.execute(_current(select(Unit.path, Unit.name).where(Unit.path.in_(paths))))}


# -- disclosure ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Disclosure:
    """A community's figures for one month, from the pre-aggregated statistics (no personal data)."""

    unit_id: uuid.UUID
    unit_name: str
    month: str
    since: dt.date
    until: dt.date
    reported: int
    closed: int
    closed_on_time: int
    on_time_rate: float | None
    satisfaction: float | None
    rating_count: int


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month before ``today``'s."""
    until = today.replace(day=1) - dt.timedelta(days=1)
    return until.replace(day=1), until


def disclosure(session: Session, *, principal: Principal, community_id: uuid.UUID | None = None,
               today: dt.date | None = None) -> Disclosure:
    """Last month's reports, closed cases, on-time rate and satisfaction for a community (the statistics read
    model's grid rows under it)."""
    if community_id is not None:
        unit = _community(session, community_id)
    else:
        unit = resident_community(session, principal=principal) or district_unit(session)
    since, until = last_month(today or local_now().date())
    f = stats.subtree_totals(session, path=unit.path, since=since, until=until,
                             figures=("reported", "closed", "closed_on_time", "rating_sum", "rating_count"))
    return Disclosure(unit_id=unit.id, unit_name=unit.name, month=f"{since.year}年{since.month}月", since=since,
                      until=until, reported=f.reported, closed=f.closed, closed_on_time=f.closed_on_time,
                      on_time_rate=f.on_time_rate, satisfaction=f.satisfaction, rating_count=f.rating_count)


# -- suggestions --------------------------------------------------------------------------------------------

def suggestion_units(session: Session, *, principal: Principal) -> dict[str, Any]:
    """Whom a resident can address: the district, and each street and community (grouped)."""
    return {"district": district_unit(session), "communities": list_communities(session),
            "home": resident_community(session, principal=principal)}


def submit_suggestion(session: Session, *, principal: Principal, title: str, body: str,
                      unit_id: uuid.UUID | None = None) -> Suggestion:
    """A resident sends a suggestion to a unit (the home community, or the district when none is known)."""
    _require_resident(principal)
    title = _text(title, field="标题", limit=100)
    body = _text(body, field="内容", limit=4000)
    district = district_unit(session)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None or unit.valid_to != OPEN_END or unit.level not in NOTICE_LEVELS \
                or not (unit.path == district.path or unit.path.startswith(district.path + "/")):
            raise NotFound("所选单位不存在", code="unit_not_found")
    else:
        unit = resident_community(session, principal=principal) or district
    s = Suggestion(id=new_id(), author_id=principal.user_id, unit_id=unit.id, path=unit.path, title=title, body=body,
                   status="open", created_at=utcnow())
    session.add(s)
    session.flush()
    audit.record(session, actor=principal.actor, action="suggestion.submit", object_type="suggestion",
                 object_id=s.id, after={"path": unit.path})
    return s


def my_suggestions(session: Session, *, principal: Principal, page: int = 1, page_size: int = 20
                   ) -> tuple[list[Suggestion], int]:
    """The resident's own suggestions, newest first."""
    _require_resident(principal)
    stmt = select(Suggestion).where(Suggestion.author_id == principal.user_id)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Suggestion.created_at.desc(), Suggestion.id])


def list_suggestions(session: Session, *, principal: Principal, status: str | None = None, page: int = 1,
                     page_size: int = 20) -> tuple[list[Suggestion], int]:
    """Suggestions addressed to units of the principal's jurisdiction (staff), open ones first."""
    require_staff(principal, Perm.suggestion_reply)
    stmt = scoped(select(Suggestion), principal, Suggestion.path)
    if status in SUGGESTION_STATUS:
        stmt = stmt.where(Suggestion.status == status)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Suggestion.status.desc(), Suggestion.created_at.desc(), Suggestion.id])


@dataclass
class SuggestionThread:
    """A suggestion with its replies and the name of the unit it was sent to."""

    suggestion: Suggestion
    unit_name: str
    replies: list[SuggestionReply]


def get_suggestion(session: Session, *, principal: Principal, suggestion_id: uuid.UUID) -> SuggestionThread:
    """A suggestion with its replies: for its author, or for staff whose jurisdiction it was sent to (else 404)."""
    if not (principal.can(Perm.resident_participate) or principal.can(Perm.suggestion_reply)):
        raise Forbidden("当前角色不能管理公告和居民建议", code="participation_staff_only")
    resident = principal.can(Perm.resident_participate)
    if not resident:  # before anything is looked up: a refusal must not depend on the id
        require_staff(principal, Perm.suggestion_reply)
    s = session.get(Suggestion, suggestion_id)
    if s is None or (resident and s.author_id != principal.user_id):
        raise not_found("建议")
    if not resident:
        ensure_in_scope(principal, s.path, "建议")
    replies = list(session.scalars(select(SuggestionReply).where(SuggestionReply.suggestion_id == s.id)
                                   .order_by(SuggestionReply.created_at, SuggestionReply.id)))
    unit = session.get(Unit, s.unit_id)
    return SuggestionThread(suggestion=s, unit_name=unit.name if unit else "", replies=replies)


def reply_suggestion(session: Session, *, principal: Principal, suggestion_id: uuid.UUID, body: str
                     ) -> SuggestionReply:
    """Staff answer a suggestion of their jurisdiction; the author is notified in the app."""
    # before the lookup: one who may not answer is refused whichever suggestion it names
    authorize(principal, Perm.suggestion_reply, "只有工作人员可以答复建议", code="participation_staff_only")
    thread = get_suggestion(session, principal=principal, suggestion_id=suggestion_id)
    s = thread.suggestion
    text = _text(body, field="答复内容", limit=4000)
    top = min(principal.scope_paths, key=lambda p: (p.count("/"), p))
    unit_name = unit_names(session, paths={top}).get(top)
    now = utcnow()
    reply = SuggestionReply(id=new_id(), suggestion_id=s.id, body=text, author_id=principal.user_id,
                            author_role=principal.role.value, unit_name=unit_name, created_at=now)
    session.add(reply)
    s.status, s.replied_at = "replied", now
    notify.deliver(session, notify.Message(kind="suggestion_reply", title="您的建议已收到答复", body=s.title,
                                           user_id=s.author_id))
    session.flush()
    audit.record(session, actor=principal.actor, action="suggestion.reply", object_type="suggestion",
                 object_id=s.id, after={"reply_id": str(reply.id)})
    return reply

