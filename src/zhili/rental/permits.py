"""Residence-permit applications (居住证申领) from a rental stay — 零跑: applied for on the phone, delivered by mail
or as an e-permit.

A floating resident who has lived at a registered rental room for half a year (《居住证暂行条例》第二条、第九条)
applies with the stay as the evidence of residence. The application is a case of the ``residence_permit`` flow
(:mod:`zhili.cases.flows`), filed through the normal intake (:func:`zhili.cases.service.report_case`) and taken
through its steps by the one engine — 受理 → 居住核查 → 审批 → 制证 → 送达 → 办结, with 退回补正 and 不予受理 — on
the existing case pages, with the statutory 15 working days watched by the deadline sweep.

This module checks what the flow needs before filing: who applies (the stay's tenant with ``rental:self``, or staff
with ``rental:write`` in whose jurisdiction the room is, on the tenant's behalf), that the stay is active and at
least :data:`MIN_MONTHS` months old (staff may override with a reason, kept and audited), that the person has no
other open application, and how the permit is to be delivered. The evidence (stay, room address, move-in date,
months resident) goes on the case (``attributes["permit"]``) for the desk and the checker to read; the link from
the case to the stay and the person, and a mailing address (encrypted, revealed only through an audited read), are
kept in :class:`PermitApplication`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, Uuid, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhili.cases import flows, service
from zhili.cases.models import OPEN_STATES, Case, CaseState, Channel
from zhili.cases.permit_steps import DELIVERY_METHODS
from zhili.core import audit
from zhili.core.clock import district_tz, local_day
from zhili.core.crypto import encrypted, get_cipher
from zhili.core.db import Base, UTCDateTime, utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, scoped
from zhili.core.security import Perm, Role
from zhili.registry.models import Household, Person
from zhili.rental.common import is_tenant, tenant_condition
from zhili.rental.models import Room, Stay, StayState
from zhili.users.models import User

ACCOUNT_PHONE_PURPOSE = "app_user.phone"  # the blind index of an account's phone (zhili.users)
MIN_MONTHS = 6  # 《居住证暂行条例》第二条: 居住半年以上
ADDRESS_MAX = 200
REASON_MAX = 500


class PermitApplication(Base):
    """A residence-permit application's link to its stay and applicant (the case is the application itself)."""

    __tablename__ = "rental_permit_application"
    __table_args__ = (Index("ix_rental_permit_person", "person_id"), Index("ix_rental_permit_stay", "stay_id"))

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    stay_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rental_stay.id", ondelete="RESTRICT"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    delivery_method: Mapped[str] = mapped_column(String(16))  # mail | e_permit | collect (as applied for)
    # the mailing address (mail only), bound to the row
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary,
                                                      info=encrypted("rental_permit_application", "address"))
    override_reason: Mapped[str | None] = mapped_column(Text)  # staff accepted a stay shorter than half a year
    filed_by: Mapped[str] = mapped_column(String(64))  # the account that filed it (the tenant, or staff)
    filed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Delivery:
    """How the applicant wants the permit: ``mail`` (to ``address``), ``e_permit`` or ``collect``."""

    method: str
    address: str | None = None


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` (1 March → 31 August is 5; → 1 September is 6)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def half_year_reached(move_in: dt.date, today: dt.date) -> bool:
    return months_between(move_in, today) >= MIN_MONTHS


def _stay_for(session: Session, principal: Principal, stay_id: uuid.UUID, *, write: bool) -> Stay:
    """The stay, if the principal may apply on it (``write``) or read it: staff with ``rental:write`` (``rental:read``)
    in whose jurisdiction it is, or its tenant (``rental:self``)."""
    staff_perm = Perm.rental_write if write else Perm.rental_read
    if not (principal.can(staff_perm) or principal.can(Perm.rental_self)):
        authorize(principal, staff_perm)  # refused: neither staff of the register nor a resident
    stay = session.get(Stay, stay_id)
    if stay is not None:
        if principal.role != Role.resident and principal.can(staff_perm) and in_scope(principal, stay.path):
            return stay
        if principal.can(Perm.rental_self) and is_tenant(session, principal, stay):
            return stay
    raise NotFound("入住登记不存在或无权查看", code="stay_not_found")


def room_address(session: Session, room: Room) -> str:
    household = session.get(Household, room.household_id)
    base = household.address if household is not None else ""
    return f"{base} {room.label}".strip()[:255]


def evidence(session: Session, stay: Stay, today: dt.date) -> dict[str, Any]:
    """What the stay proves (the facts the desk and the checker read on the case)."""
    room = session.get(Room, stay.room_id)
    assert room is not None  # a stay's room is never deleted (RESTRICT)
    return {"stay_id": str(stay.id), "room_id": str(room.id), "room_address": room_address(session, room),
            "move_in": stay.move_in.isoformat(), "expected_move_out": stay.expected_move_out.isoformat(),
            "months_resident": months_between(stay.move_in, today), "registered_via": stay.registered_via.value}


@dataclass(frozen=True)
class Preview:
    """What an application on a stay would carry, and whether it may be filed now."""

    stay_id: uuid.UUID
    evidence: dict[str, Any]
    eligible: bool  # half a year reached
    eligible_from: dt.date  # the day the half year is reached
    open_number: str | None  # the person's application being handled, if any
    open_case_id: uuid.UUID | None
    has_account: bool  # an e-permit can be delivered (the tenant has a resident account)


def preview(session: Session, *, principal: Principal, stay_id: uuid.UUID, now: dt.datetime | None = None
            ) -> Preview:
    """The evidence a stay gives and whether an application on it may be filed (the form shows it first)."""
    stay = _stay_for(session, principal, stay_id, write=False)
    if stay.state != StayState.active:
        raise ValidationFailed("该入住登记已退租，不能据此申领居住证", code="stay_closed")
    today = local_day(now or utcnow())
    prior = open_application(session, stay.person_id)
    return Preview(stay_id=stay.id, evidence=evidence(session, stay, today),
                   eligible=half_year_reached(stay.move_in, today), eligible_from=_half_year_day(stay.move_in),
                   open_number=prior.number if prior else None, open_case_id=prior.id if prior else None,
                   has_account=principal.role == Role.resident or tenant_account(session, stay) is not None)


def my_stays(session: Session, *, principal: Principal, now: dt.datetime | None = None) -> list[Preview]:
    """A resident's active stays as a tenant, each with what an application on it would carry."""
    authorize(principal, Perm.rental_self)
    stays = session.scalars(select(Stay).where(tenant_condition(session, principal), Stay.state == StayState.active)
                            .order_by(Stay.move_in.desc()).limit(20)).all()
    return [preview(session, principal=principal, stay_id=st.id, now=now) for st in stays]


def open_application(session: Session, person_id: uuid.UUID) -> Case | None:
    """The person's residence-permit application still being handled, if any."""
    return session.scalar(select(Case).join(PermitApplication, PermitApplication.case_id == Case.id).where(
        PermitApplication.person_id == person_id, Case.flow == flows.RESIDENCE_PERMIT,
        Case.state.in_(OPEN_STATES)).order_by(Case.reported_at.desc()).limit(1))


def tenant_account(session: Session, stay: Stay) -> uuid.UUID | None:
    """The tenant's resident account: linked at check-in, else the one active resident account whose phone is the
    phone given at check-in (by blind index; none when two share it)."""
    if stay.tenant_user_id is not None:
        return stay.tenant_user_id
    cipher = get_cipher()
    phone = cipher.decrypt(stay.phone_enc, table="rental_stay", column="phone", row_id=stay.id)
    found = list(session.scalars(select(User.id).where(
        User.phone_bidx == cipher.blind_index(phone, purpose=ACCOUNT_PHONE_PURPOSE), User.role == Role.resident,
        User.is_active.is_(True)).limit(2)))
    return found[0] if len(found) == 1 else None


def _delivery(principal: Principal, account: uuid.UUID | None, delivery: Delivery) -> Delivery:
    if delivery.method not in DELIVERY_METHODS:
        raise ValidationFailed("请选择送达方式：邮寄、电子居住证或窗口领取", code="bad_delivery_method")
    if delivery.method == "mail":
        address = (delivery.address or "").strip()
        if len(address) < 5:
            raise ValidationFailed("邮寄送达请填写完整的收件地址", code="address_required")
        if len(address) > ADDRESS_MAX:
            raise ValidationFailed(f"收件地址不能超过{ADDRESS_MAX}字", code="address_too_long")
        return Delivery("mail", address)
    if delivery.method == "e_permit" and account is None and principal.role != Role.resident:
        raise ValidationFailed("电子居住证发放至申请人的居民账号，该租户尚未注册账号，请选择邮寄或窗口领取",
                               code="e_permit_needs_account")
    return Delivery(delivery.method)


def apply(session: Session, *, principal: Principal, stay_id: uuid.UUID, delivery: Delivery,
          override_reason: str | None = None, note: str | None = None,
          attachment_ids: list[uuid.UUID] | None = None, idempotency_key: str | None = None,
          now: dt.datetime | None = None) -> Case:
    """File a residence-permit application for the stay's tenant (a case of the ``residence_permit`` flow).

    Refused when the stay is not active, shorter than half a year (unless staff give ``override_reason``), or the
    person already has an open application. ``note``: what the applicant adds (employment, schooling …)."""
    now = now or utcnow()
    stay = _stay_for(session, principal, stay_id, write=True)
    if stay.state != StayState.active:
        raise ValidationFailed("该入住登记已退租，不能据此申领居住证", code="stay_closed")
    today = local_day(now)
    reason = (override_reason or "").strip()[:REASON_MAX] or None
    if not half_year_reached(stay.move_in, today):
        months = months_between(stay.move_in, today)
        if reason is None or principal.role == Role.resident:
            raise ValidationFailed(
                f"申领居住证须在居住地居住满半年（{MIN_MONTHS}个月），按本次登记已居住{months}个月，"
                f"可于{_half_year_day(stay.move_in):%Y年%m月%d日}后申请；有其他居住证明的，请到流动人口服务站办理",
                code="stay_too_short", details={"months": months, "required": MIN_MONTHS})
    else:
        reason = None  # nothing to override
    account = principal.user_id if principal.role == Role.resident else tenant_account(session, stay)
    chosen = _delivery(principal, account, delivery)
    person = session.get(Person, stay.person_id, with_for_update=True)  # one application at a time per person
    assert person is not None
    prior = open_application(session, stay.person_id)
    if prior is not None:
        raise Conflict(f"已有办理中的居住证申请（编号 {prior.number}），请勿重复申请", code="permit_already_open",
                       details={"case_id": str(prior.id), "number": prior.number})
    facts = evidence(session, stay, today)
    permit: dict[str, Any] = {"stay": facts, "delivery": {"method": chosen.method}}
    if reason:
        permit["override"] = reason
    description = (f"申请办理居住证。居住地址：{facts['room_address']}；{stay.move_in:%Y年%m月%d日}入住，"
                   f"已居住{facts['months_resident']}个月；送达方式：{DELIVERY_METHODS[chosen.method]}。")
    if note and note.strip():
        description += f"\n申请人说明：{note.strip()[:1000]}"
    data: dict[str, Any] = {"title": "居住证申领", "description": description, "is_public": False,
                            "address": facts["room_address"], "system_attributes": {"permit": permit},
                            "attachment_ids": list(attachment_ids or [])}
    room = session.get(Room, stay.room_id)
    assert room is not None
    data["building_id"] = room.building_id
    if principal.role != Role.resident:  # filed on the tenant's behalf: the tenant hears of it by SMS
        data["reporter_name"] = person.name
        data["reporter_phone"] = get_cipher().decrypt(stay.phone_enc, table="rental_stay", column="phone",
                                                      row_id=stay.id)
    channel = Channel.resident if principal.role == Role.resident else None
    case, created = service.report_case(session, principal=principal, channel=channel, data=data,
                                        idempotency_key=idempotency_key, now=now, flow=flows.RESIDENCE_PERMIT)
    if not created:
        return case
    if principal.role != Role.resident and account is not None:
        case.reporter_user_id = account  # the tenant follows and resubmits it in the portal
    address_enc = None
    if chosen.address:
        address_enc = get_cipher().encrypt(chosen.address, table="rental_permit_application", column="address",
                                           row_id=case.id)
    session.add(PermitApplication(case_id=case.id, stay_id=stay.id, person_id=stay.person_id,
                                  delivery_method=chosen.method, address_enc=address_enc, override_reason=reason,
                                  filed_by=principal.username, filed_by_user_id=principal.user_id, created_at=now))
    audit.record(session, actor=principal.actor, action="rental.permit_apply", object_type="permit_application",
                 object_id=case.id, after={"stay": str(stay.id), "delivery": chosen.method,
                                           "months": facts["months_resident"], "override": bool(reason)},
                 reason=reason)
    session.flush()
    return case


def _half_year_day(move_in: dt.date) -> dt.date:
    month = move_in.month - 1 + MIN_MONTHS
    year, month = move_in.year + month // 12, month % 12 + 1
    for day in (move_in.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PermitStatus:
    """A stay's residence-permit application as the tenant and staff read it."""

    case_id: uuid.UUID
    number: str
    state: CaseState
    state_label: str
    delivery_method: str
    delivery_label: str
    applied_at: dt.datetime
    due_at: dt.datetime | None
    open: bool
    facts: dict[str, Any]


def _status(case: Case, app: PermitApplication) -> PermitStatus:
    facts = (case.attributes or {}).get("permit") or {}
    return PermitStatus(case_id=case.id, number=case.number, state=case.state,
                        state_label=flows.state_label(case.flow, case.state), delivery_method=app.delivery_method,
                        delivery_label=DELIVERY_METHODS.get(app.delivery_method, app.delivery_method),
                        applied_at=case.reported_at, due_at=case.handle_due_at, open=case.state in OPEN_STATES,
                        facts=dict(facts) if isinstance(facts, dict) else {})


def status_for_stay(session: Session, *, principal: Principal, stay_id: uuid.UUID) -> PermitStatus | None:
    """The stay's latest residence-permit application (None when none was filed): for its tenant, or staff in
    scope."""
    _stay_for(session, principal, stay_id, write=False)
    row = session.execute(select(Case, PermitApplication).join(PermitApplication, PermitApplication.case_id == Case.id)
                          .where(PermitApplication.stay_id == stay_id)
                          .order_by(Case.reported_at.desc()).limit(1)).first()
    return None if row is None else _status(row[0], row[1])


def has_application(session: Session, *, person_id: uuid.UUID, since: dt.date) -> bool:
    """The rental rules' hook (:func:`zhili.rental.rules.has_residence_permit`): whether the person has applied for
    a residence permit since ``since`` (the stay's move-in) and the application is being handled or was issued — a
    refused or denied one leaves the registration due."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=district_tz())
    return bool(session.scalar(select(func.count()).select_from(Case).join(
        PermitApplication, PermitApplication.case_id == Case.id).where(
        PermitApplication.person_id == person_id, Case.flow == flows.RESIDENCE_PERMIT, Case.reported_at >= start,
        Case.state.in_([*OPEN_STATES, CaseState.closed]))))


def reveal_address(session: Session, *, principal: Principal, case_id: uuid.UUID, reason: str) -> str | None:
    """The mailing address of an application (for the desk mailing the permit): staff in scope, audited."""
    authorize(principal, Perm.rental_read)  # staff only: a resident holds rental:self alone
    case = session.get(Case, case_id)
    app = session.get(PermitApplication, case_id)
    if case is None or app is None or not in_scope(principal, case.path):
        raise NotFound("事件不存在或无权查看")  # as for a case that does not exist (an event has no address)
    if len(reason.strip()) < 2:
        raise ValidationFailed("请填写查看原因", code="reason_required")
    audit.record(session, actor=principal.actor, action="rental.permit_address_reveal",
                 object_type="permit_application", object_id=case_id, reason=reason.strip()[:REASON_MAX])
    if app.address_enc is None:
        return None
    return get_cipher().decrypt(app.address_enc, table="rental_permit_application", column="address", row_id=case_id)


@dataclass(frozen=True)
class PermitSummary:
    """Residence-permit applications under a jurisdiction: counted apart from the event statistics."""

    by_state: dict[str, int]
    open: int
    overdue: int
    closed_on_time: int
    closed: int
    zero_trips: int  # closed by mail or e-permit: the applicant never came to a window


def summary(session: Session, *, principal: Principal) -> PermitSummary:
    """Applications in the principal's jurisdiction by state, with overdue, on-time and 零跑 figures."""
    authorize(principal, Perm.rental_read)
    base = scoped(select(Case.state, func.count()).where(Case.flow == flows.RESIDENCE_PERMIT), principal, Case.path)
    by_state = {st.value: int(n) for st, n in session.execute(base.group_by(Case.state))}
    open_ = sum(n for s, n in by_state.items() if CaseState(s) in OPEN_STATES)
    overdue = int(session.scalar(scoped(select(func.count()).select_from(Case).where(
        Case.flow == flows.RESIDENCE_PERMIT, Case.overdue.is_(True), Case.state.in_(OPEN_STATES)),
        principal, Case.path)) or 0)
    closed = list(session.execute(scoped(select(Case.attributes, Case.closed_on_time).where(
        Case.flow == flows.RESIDENCE_PERMIT, Case.state == CaseState.closed), principal, Case.path)))
    zero = sum(1 for attrs, _ in closed
               if isinstance(attrs, dict) and ((attrs.get("permit") or {}).get("delivered") or {}).get("zero_trips"))
    return PermitSummary(by_state=by_state, open=open_, overdue=overdue,
                         closed_on_time=sum(1 for _, on_time in closed if on_time), closed=len(closed),
                         zero_trips=zero)


def my_applications(session: Session, *, principal: Principal) -> list[PermitStatus]:
    """A resident's own applications, newest first."""
    authorize(principal, Perm.rental_self)
    rows = session.execute(select(Case, PermitApplication).join(PermitApplication, PermitApplication.case_id == Case.id)
                           .where(Case.reporter_user_id == principal.user_id, Case.flow == flows.RESIDENCE_PERMIT)
                           .order_by(Case.reported_at.desc()).limit(50)).all()
    return [_status(c, a) for c, a in rows]


def list_applications(session: Session, *, principal: Principal, open_only: bool = True, limit: int = 50
                      ) -> list[Case]:
    """Residence-permit applications in the principal's jurisdiction (open ones by default), oldest deadline
    first — the desk's list; each is acted on through the case pages."""
    authorize(principal, Perm.rental_read)
    stmt = scoped(select(Case).where(Case.flow == flows.RESIDENCE_PERMIT), principal, Case.path)
    if open_only:
        stmt = stmt.where(Case.state.in_(OPEN_STATES))
    return list(session.scalars(stmt.order_by(Case.handle_due_at.is_(None), Case.handle_due_at, Case.reported_at)
                                .limit(limit)))
