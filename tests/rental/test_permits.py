"""Residence-permit applications from a rental stay (居住证申领, ``zhili.rental.permits``): who may apply, the half-year
minimum and its override, one open application per person, the delivery choice, and the application taken through
every step of the ``residence_permit`` flow to 办结 — 零跑 when mailed or issued as an e-permit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rentalkit import gateway, place, resident, tenant  # noqa: F401  (gateway: a fixture)
from sqlalchemy import select

from zhili.cases import engine
from zhili.cases.flows import SERVICE_CATEGORIES
from zhili.cases.models import Case, CaseState, Category, Notification
from zhili.core.audit import AuditEvent
from zhili.core.clock import local_day
from zhili.core.db import utcnow
from zhili.core.errors import DomainError
from zhili.rental import permits, stays
from zhili.rental.models import Stay, StayState
from zhili.users.service import principal_for_user

TENANT_PHONE = "13800138000"


def months_ago(n: int) -> dt.date:
    today = local_day(utcnow())
    month = today.month - 1 - n
    return dt.date(today.year + month // 12, month % 12 + 1, min(today.day, 28))


@pytest.fixture
def town(db: Any, world: Any, gateway: Any) -> Any:  # noqa: F811  (the police fake, a fixture)
    """The service categories, a room in grid A registered by its grid worker, and the tenant's resident account
    (``zuke``, whose phone is the one given at check-in)."""
    for spec in SERVICE_CATEGORIES:
        node = dict(spec)
        parent = node.pop("parent")
        db.add(Category(version=1, is_current=True, taxonomy_version="test", created_by="test", parent_code=parent,
                        is_leaf=parent is not None, is_active=True, keywords=[], attributes=[], **node))
    world.place = place(db, world)
    resident(db, world, "zuke", TENANT_PHONE)
    return world


def stay(db: Any, town: Any, *, months: int = 7, phone: str = TENANT_PHONE, state: StayState = StayState.active
         ) -> Stay:
    """A tenant checked in ``months`` ago by the grid worker (closed when ``state`` says so)."""
    done = stays.check_in(db, principal=who(db, town, "wangge_a"), room_id=town.place.room.id,
                          data=tenant("租客乙", phone=phone, move_in=months_ago(months)))
    if state == StayState.closed:
        stays.check_out(db, principal=who(db, town, "wangge_a"), stay_id=done.stay.id)
    db.flush()
    return done.stay


def who(db: Any, town: Any, name: str) -> Any:
    return principal_for_user(db, user=town.users[name])


def test_a_tenant_applies_from_the_stay_and_the_application_goes_through_every_step_to_a_mailed_permit(db, town):
    st = stay(db, town)
    case = permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id,
                         delivery=permits.Delivery("mail", "浙江省长兴县金陵路1号1幢301室"), note="在县城工业园区就业")
    assert (case.flow, case.state, case.category_code, case.is_public) == ("residence_permit", CaseState.reported,
                                                                          "FW-0101", False)
    assert case.reporter_user_id == town.users["zuke"].id and case.grid_id == town.units["ga"].id
    ev = case.attributes["permit"]["stay"]
    assert ev["stay_id"] == str(st.id) and ev["room_address"] == f"{town.place.household.address} 整套"
    assert ev["months_resident"] == 7 and ev["move_in"] == st.move_in.isoformat()
    assert "已居住7个月" in case.description and "在县城工业园区就业" in case.description
    app = db.get(permits.PermitApplication, case.id)
    assert app is not None and app.person_id == st.person_id and app.delivery_method == "mail"
    assert "金陵路".encode() not in app.address_enc, "the mailing address is stored encrypted"
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.permit_apply"))
    assert audit is not None and audit.after["delivery"] == "mail" and "金陵路" not in str(audit.after)
    status = permits.status_for_stay(db, principal=who(db, town, "zuke"), stay_id=st.id)
    assert status is not None and (status.state_label, status.open) == ("已申请", True)

    steps = [("shequ1", "accept", {}), ("wangge_a", "verify_residence", {"finding": "入户核实居住"}),
             ("jiedao1", "approve", {}), ("jiedao1", "issue", {"permit_no": "330522-2026-000001"}),
             ("shequ1", "deliver", {"tracking_no": "SF1234567890"})]
    for user, action, payload in steps:
        engine.transition(db, principal=who(db, town, user), case_id=case.id, action=action, payload=payload)
    db.refresh(case)
    assert case.state == CaseState.closed and case.closed_on_time is True
    status = permits.status_for_stay(db, principal=who(db, town, "shequ1"), stay_id=st.id)
    assert status is not None and (status.state_label, status.open) == ("已办结", False)
    assert status.facts["delivered"]["zero_trips"] is True
    assert permits.has_application(db, person_id=st.person_id, since=st.move_in)
    s = permits.summary(db, principal=who(db, town, "jiedao1"))
    assert (s.closed, s.closed_on_time, s.zero_trips, s.open) == (1, 1, 1, 0)
    assert permits.summary(db, principal=who(db, town, "jiedao2")).closed == 0  # another street's
    assert [a.number for a in permits.my_applications(db, principal=who(db, town, "zuke"))] == [case.number]
    titles = list(db.scalars(select(Notification.title).where(Notification.user_id == town.users["zuke"].id)))
    assert "您的居住证申请已办结" in titles


def test_a_stay_shorter_than_half_a_year_is_refused_unless_staff_override_it_with_a_reason(db, town):
    st = stay(db, town, months=4)
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("e_permit"),
                      override_reason="我有其他证明")  # a resident cannot override
    assert err.value.code == "stay_too_short" and "居住满半年" in err.value.message
    assert err.value.details == {"months": 4, "required": 6}
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "shequ1"), stay_id=st.id, delivery=permits.Delivery("collect"))
    assert err.value.code == "stay_too_short"
    case = permits.apply(db, principal=who(db, town, "shequ1"), stay_id=st.id, delivery=permits.Delivery("collect"),
                         override_reason="提供了前一处住所的租赁合同，累计居住满半年")
    app = db.get(permits.PermitApplication, case.id)
    assert app is not None and app.override_reason.startswith("提供了前一处")
    assert case.attributes["permit"]["override"].startswith("提供了前一处")
    # filed on the tenant's behalf: the tenant follows it in the portal and hears of it
    assert case.reporter_user_id == town.users["zuke"].id and case.channel.value == "staff"
    assert db.scalar(select(AuditEvent.reason).where(AuditEvent.action == "rental.permit_apply")).startswith("提供")


def test_one_open_application_per_person_and_a_new_one_once_the_last_was_refused(db, town):
    st = stay(db, town)
    first = permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("e_permit"))
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "shequ1"), stay_id=st.id, delivery=permits.Delivery("collect"))
    assert err.value.code == "permit_already_open" and first.number in err.value.message
    engine.transition(db, principal=who(db, town, "shequ1"), case_id=first.id, action="reject",
                      payload={"reason": "材料不全"})
    assert not permits.has_application(db, person_id=st.person_id, since=st.move_in)  # refused: still due
    again = permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("e_permit"))
    assert again.id != first.id
    assert permits.status_for_stay(db, principal=who(db, town, "zuke"), stay_id=st.id).case_id == again.id


def test_who_may_apply_on_a_stay(db, town):
    st = stay(db, town)
    for user, code in (("lingdao", "permission_denied"), ("jiedao2", "stay_not_found"),
                       ("bumen", "permission_denied")):
        with pytest.raises(DomainError) as err:
            permits.apply(db, principal=who(db, town, user), stay_id=st.id, delivery=permits.Delivery("collect"))
        assert err.value.code == code, (user, err.value.code)
    not_theirs = stay(db, town, phone="13900000009")
    with pytest.raises(DomainError) as err:  # no account linked and another phone than zuke's account
        permits.apply(db, principal=who(db, town, "zuke"), stay_id=not_theirs.id,
                      delivery=permits.Delivery("collect"))
    assert err.value.code == "stay_not_found"
    closed = stay(db, town, phone="13900000008", state=StayState.closed)
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "wangge_a"), stay_id=closed.id, delivery=permits.Delivery("collect"))
    assert err.value.code == "stay_closed"


def test_the_delivery_choice_is_checked_and_the_mailing_address_is_revealed_only_to_staff_with_a_trace(db, town):
    st = stay(db, town)
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("mail"))
    assert err.value.code == "address_required"
    with pytest.raises(DomainError) as err:
        permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("pigeon"))
    assert err.value.code == "bad_delivery_method"
    unlinked = stay(db, town, phone="13900000007")
    with pytest.raises(DomainError) as err:  # an e-permit goes to the applicant's account: none here
        permits.apply(db, principal=who(db, town, "shequ1"), stay_id=unlinked.id,
                      delivery=permits.Delivery("e_permit"))
    assert err.value.code == "e_permit_needs_account"
    case = permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id,
                         delivery=permits.Delivery("mail", "长兴县金陵路1号1幢301室"))
    with pytest.raises(DomainError):
        permits.reveal_address(db, principal=who(db, town, "zuke"), case_id=case.id, reason="看看")
    with pytest.raises(DomainError) as err:
        permits.reveal_address(db, principal=who(db, town, "jiedao2"), case_id=case.id, reason="邮寄居住证")
    assert err.value.code == "not_found"
    assert permits.reveal_address(db, principal=who(db, town, "shequ1"), case_id=case.id,
                                  reason="邮寄居住证") == "长兴县金陵路1号1幢301室"
    trace = db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.permit_address_reveal"))
    assert trace is not None and trace.reason == "邮寄居住证" and trace.object_id == str(case.id)


def test_the_half_year_is_counted_in_calendar_months():
    assert permits.months_between(dt.date(2026, 3, 1), dt.date(2026, 8, 31)) == 5
    assert permits.months_between(dt.date(2026, 3, 1), dt.date(2026, 9, 1)) == 6
    assert permits.months_between(dt.date(2026, 8, 31), dt.date(2027, 2, 28)) == 5
    assert permits.half_year_reached(dt.date(2025, 12, 15), dt.date(2026, 6, 15))


def test_the_application_case_is_found_by_its_flow(db, town):
    st = stay(db, town)
    case = permits.apply(db, principal=who(db, town, "zuke"), stay_id=st.id, delivery=permits.Delivery("collect"))
    assert db.scalar(select(Case.flow).where(Case.id == case.id)) == "residence_permit"
