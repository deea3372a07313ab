"""Acceptance: every default 4E indicator, computed by the engine on a small hand-built dataset, equals the value
worked out by hand — the arithmetic is written out next to each assertion.

The world (tests/conftest.py): district 330522 → streets s1, s2 → communities c1 (grids ga, gb) and c2 (grid gc).
The period is November 2026 (no public holiday; Mon 2 … Mon 30). Working periods are the calendar's defaults,
08:30–12:00 and 13:30–17:30 Asia/Shanghai, so one workday has 7.5 working hours and the lunch break does not count.

Residents: ga 4, gb 2, gc 4 (district 10); one more person of gc has moved out and counts nowhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import statistics
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseState, Category, Channel, DispatchRule, Supervision
from zhili.core.security import Role
from zhili.datahub.models import ChangeEvent, Delivery, DeliveryStatus, EntityType, GoldenRecord, Subscription
from zhili.evaluation import catalog, metrics, scoring
from zhili.intel.models import CaseSuggestion, ModelVersion, Warning, WarningState
from zhili.iot.models import Device, DeviceStatus, DeviceType
from zhili.participation.models import Suggestion
from zhili.registry.models import (
    Building,
    BuildingType,
    Gender,
    Household,
    HouseholdUse,
    Person,
    PersonStatus,
    ResidentType,
)
from zhili.users.models import User, UserUnit
from zhili.visits.models import Visit, VisitKind, VisitPerson
from zhili.worktime.service import load_calendar

TZ = ZoneInfo("Asia/Shanghai")
START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
POP = {"ga": 4, "gb": 2, "gc": 4}  # active residents per grid


def at(month: int, day: int, hm: str, year: int = 2026) -> dt.datetime:
    """A local (Asia/Shanghai) moment."""
    h, m = (int(x) for x in hm.split(":"))
    return dt.datetime(year, month, day, h, m, tzinfo=TZ)


def nov(day: int, hm: str) -> dt.datetime:
    return at(11, day, hm)


def definitions() -> list[scoring.IndicatorDef]:
    """The shipped indicators as the scorer reads them (as ``service.definitions`` builds them)."""
    out = []
    for s in catalog.INDICATORS:
        expr = scoring.compile_formula(s.formula)
        out.append(scoring.IndicatorDef(
            code=s.code, name=s.name, dimension=s.dimension, sub_dimension=s.sub_dimension, unit=s.unit,
            direction=s.direction, formula=s.formula, scope=s.scope, normalisation=s.normalisation,
            target=s.target, threshold=s.threshold, source=s.source, definition=s.definition,
            metrics=tuple(sorted(expr.names))))
    return out


FORM_FIELDS = [f.as_dict() for f in catalog.DATASETS[0].fields]
FORM_C1 = {"info_staff": 2, "trained_staff": 2, "training_hours": 12, "it_budget": 100, "it_spent": 3,
           "talent_fund": 0.6, "terminals": 5, "multi_satisfaction": 90}
FORM_C2 = {"info_staff": 1, "trained_staff": 1, "training_hours": 4, "it_budget": 50, "it_spent": 1,
           "talent_fund": 0.2, "terminals": 2, "multi_satisfaction": 80}


# -- the dataset -------------------------------------------------------------------------------------------------

class Hand:
    """The hand-built dataset and helpers to compute over it."""

    def __init__(self, db: Session, world: Any) -> None:
        self.db, self.w = db, world
        self.u = world.units
        self.p = {k: v.path for k, v in world.units.items()}
        self.persons: dict[str, Person] = {}
        self.households: dict[str, Household] = {}
        self.cases: dict[str, Case] = {}
        self._n = 0

    # rows ----------------------------------------------------------------------------------------------------
    def household(self, key: str, grid: str) -> Household:
        g = self.u[grid]
        b = Building(grid_id=g.id, path=g.path, name=f"{key}幢", address=f"{key}号",
                     building_type=BuildingType.residential)
        self.db.add(b)
        self.db.flush()
        h = Household(building_id=b.id, grid_id=g.id, path=g.path, room="101", address=f"{key}号101室",
                      use=HouseholdUse.owner_occupied)
        self.db.add(h)
        self.db.flush()
        self.households[key] = h
        return h

    def person(self, key: str, grid: str, *, household: str | None, phone: bool = True, ethnicity: bool = True,
               care: bool = False, updated: dt.datetime = at(6, 1, "10:00"),
               status: PersonStatus = PersonStatus.active) -> Person:
        g = self.u[grid]
        digest = hashlib.sha256(key.encode()).hexdigest()
        p = Person(grid_id=g.id, path=g.path, name=key, id_number_enc=b"dummy", id_number_bidx=digest,
                   phone_enc=b"dummy" if phone else None, phone_bidx=digest if phone else None,
                   household_id=self.households[household].id if household else None, gender=Gender.female,
                   birth_date=dt.date(1950, 1, 1), ethnicity="汉族" if ethnicity else None, relation="户主",
                   resident_type=ResidentType.registered, care_tags=["elderly_alone"] if care else [],
                   status=status, created_at=at(1, 1, "10:00", 2020), updated_at=updated)
        self.db.add(p)
        self.db.flush()
        self.persons[key] = p
        return p

    def case(self, key: str, grid: str, channel: Channel, state: CaseState, reported: dt.datetime, *,
             accepted: dt.datetime | None = None, dispatched: dt.datetime | None = None,
             resolved: dt.datetime | None = None, on_time: bool | None = None, reopen: int = 0,
             rating: int | None = None, flow: str = "event") -> Case:
        g = self.u[grid]
        self._n += 1
        c = Case(number=f"HAND{self._n:04d}", channel=channel, flow=flow, state=state, title=key, description=key,
                 path=g.path, grid_id=g.id, reported_at=reported, reported_day=reported.astimezone(TZ).date(),
                 accepted_at=accepted, dispatched_at=dispatched, resolved_at=resolved, closed_on_time=on_time,
                 overdue=on_time is False, reopen_count=reopen, rating=rating)
        self.db.add(c)
        self.db.flush()
        self.cases[key] = c
        return c

    def visit(self, household: str, when: dt.datetime, met: tuple[str, ...] = (), filed_under: str | None = None
              ) -> None:
        h = self.households[household]
        g = self.u[filed_under] if filed_under else None
        v = Visit(household_id=h.id, grid_id=g.id if g else h.grid_id, path=g.path if g else h.path,
                  worker_name="网格员", visited_at=when,
                  kind=VisitKind.routine, summary="走访")
        self.db.add(v)
        self.db.flush()
        for key in met:
            self.db.add(VisitPerson(visit_id=v.id, person_id=self.persons[key].id))
        self.db.flush()

    # computing -----------------------------------------------------------------------------------------------
    def compute(self, forms: dict[str, dict[str, float]] | None = None
                ) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float | None]]]:
        self.db.flush()
        tree = metrics.load_tree(self.db, self.p["district"], END)
        if forms is None:
            forms = {self.p["c1"]: FORM_C1, self.p["c2"]: FORM_C2}
        figures = metrics.compute(self.db, tree, start=START, end=END, calendar=load_calendar(self.db),
                                  forms=forms, form_fields=FORM_FIELDS)
        values = scoring.indicator_values(definitions(), figures, tree.units,
                                          reported=[f["code"] for f in FORM_FIELDS])
        assert values.errors == {}
        by_name = {k: values.by_unit[p] for k, p in self.p.items()}
        return by_name, {k: figures[p] for k, p in self.p.items()}


def build(db: Session, world: Any) -> Hand:
    h = Hand(db, world)
    # -- the register: households, persons ---------------------------------------------------------------------
    for key, grid in [("hA1", "ga"), ("hA2", "ga"), ("hB1", "gb"), ("hC1", "gc"), ("hC2", "gc")]:
        h.household(key, grid)
    stale = at(11, 30, "23:00", 2025)  # just before the 365 days ending 2026-11-30 (window from 2025-12-01 00:00)
    h.person("p1", "ga", household="hA1", care=True)
    h.person("p2", "ga", household="hA1")
    h.person("p3", "ga", household="hA1", phone=False)  # incomplete: no phone
    h.person("p4", "ga", household="hA2")
    h.person("p5", "gb", household="hB1", care=True)
    h.person("p6", "gb", household="hB1", ethnicity=False, updated=stale)  # incomplete and stale
    h.person("p7", "gc", household="hC1", care=True)
    h.person("p8", "gc", household="hC1")
    h.person("p9", "gc", household="hC2")
    h.person("p10", "gc", household=None, updated=stale)  # incomplete (no household) and stale
    h.person("p11", "gc", household="hC2", care=True, status=PersonStatus.moved_out)  # counts nowhere

    # -- grid workers: the world has wangge_a (ga) and wangge_b (gb); an inactive one on gc does not count ------
    gone = User(username="wangge_c_gone", display_name="离职网格员", role=Role.grid_worker, password_hash="!",
                is_active=False)
    gone.units = [UserUnit(unit_id=h.u["gc"].id)]
    db.add(gone)

    # -- cases (event flow) reported in November ---------------------------------------------------------------
    R, C = CaseState, Channel
    # ga: A1 Mon 2 09:00 → accepted 09:15 (0.25 h) → dispatched 09:30 (0.25 h) → resolved 10:00 (1 h from report)
    h.case("A1", "ga", C.grid_worker, R.closed, nov(2, "09:00"), accepted=nov(2, "09:15"),
           dispatched=nov(2, "09:30"), resolved=nov(2, "10:00"), on_time=True, rating=5)
    # A2 Tue 3 11:00 → 11:30 (0.5 h) → 11:45 (0.25 h) → resolved 14:30: 11:00–12:00 + 13:30–14:30 = 2 h
    h.case("A2", "ga", C.resident, R.closed, nov(3, "11:00"), accepted=nov(3, "11:30"),
           dispatched=nov(3, "11:45"), resolved=nov(3, "14:30"), on_time=True, rating=4)
    # A3 reported Wed 4 at 20:00 (night): counts from Thu 5 08:30. accepted 09:00 (0.5 h), dispatched 09:30
    # (0.5 h), resolved 11:30 (08:30–11:30 = 3 h); closed late, reopened once, rated 2
    h.case("A3", "ga", C.hotline, R.closed, nov(4, "20:00"), accepted=nov(5, "09:00"),
           dispatched=nov(5, "09:30"), resolved=nov(5, "11:30"), on_time=False, reopen=1, rating=2)
    # A4 Fri 6 09:00 → 09:30 (0.5 h) → 10:00 (0.5 h); still open
    h.case("A4", "ga", C.iot, R.dispatched, nov(6, "09:00"), accepted=nov(6, "09:30"), dispatched=nov(6, "10:00"))
    # gb: B1 Mon 9 09:00 → 10:00 (1 h) → 11:00 (1 h) → resolved Tue 10 11:30: Mon 09:00–12:00 3 h +
    # 13:30–17:30 4 h + Tue 08:30–11:30 3 h = 10 h; closed on time, never rated
    h.case("B1", "gb", C.open311, R.closed, nov(9, "09:00"), accepted=nov(9, "10:00"),
           dispatched=nov(9, "11:00"), resolved=nov(10, "11:30"), on_time=True)
    h.case("B2", "gb", C.staff, R.reported, nov(12, "10:00"))  # not accepted yet: no durations
    # B3 was resolved, reopened (verification failed) and is back in work: reopened, but not among the resolved
    # (its timings are left out to keep the medians below simple)
    h.case("B3", "gb", C.hotline, R.in_progress, nov(13, "10:00"), reopen=1)
    # gc: C1 Mon 16 09:00 → 09:30 (0.5 h) → 10:00 (0.5 h) → resolved 14:30: 3 h + 1 h = 4 h; closed on time, 5
    h.case("C1", "gc", C.department, R.closed, nov(16, "09:00"), accepted=nov(16, "09:30"),
           dispatched=nov(16, "10:00"), resolved=nov(16, "14:30"), on_time=True, rating=5)
    # C2 Tue 17 09:00 → 11:00 (2 h) → 11:30 (0.5 h) → resolved 15:30: 3 h + 2 h = 5 h; rated 3 (not closed),
    # reopened once
    h.case("C2", "gc", C.resident, R.rated, nov(17, "09:00"), accepted=nov(17, "11:00"),
           dispatched=nov(17, "11:30"), resolved=nov(17, "15:30"), reopen=1, rating=3)
    # not in the period or not the event flow: count nowhere
    h.case("A5", "ga", C.resident, R.closed, at(10, 20, "09:00"), accepted=at(10, 20, "09:10"),
           resolved=at(10, 20, "10:00"), on_time=True, rating=1)
    h.case("A6", "ga", C.resident, R.closed, nov(20, "09:00"), accepted=nov(20, "09:10"), resolved=nov(20, "10:00"),
           on_time=False, rating=1, flow="rental_permit")

    # -- supervisions (by the day issued, whatever the case's report day) --------------------------------------
    for case, rnd, issued, answered in [("A3", 1, nov(5, "10:00"), True), ("A3", 2, nov(6, "10:00"), False),
                                        ("A5", 2, nov(3, "10:00"), True), ("A5", 1, at(10, 21, "10:00"), False),
                                        ("C1", 1, nov(16, "15:00"), True)]:
        db.add(Supervision(case_id=h.cases[case].id, kind="manual", round=rnd, target="cg", message="督办",
                           issued_at=issued, acknowledged_at=issued + dt.timedelta(hours=1) if answered else None))

    # -- intelligent routing: category suggestions settled by staff ---------------------------------------------
    model = ModelVersion(name="category", version=1, kind="text-classifier", artifact=b"x", artifact_sha256="0" * 64,
                         trained_by="admin")
    db.add(model)
    db.flush()
    for case, target, final, corrected in [("A1", "category", "ZZ-0101", False), ("A2", "category", "ZZ-0102", True),
                                           ("A3", "category", None, False), ("B1", "category", "ZZ-0101", False),
                                           ("C1", "department", "cg", False), ("A5", "category", "ZZ-0101", False)]:
        db.add(CaseSuggestion(case_id=h.cases[case].id, target=target, model_id=model.id, confidence=0.9,
                              final_label=final, corrected=corrected))

    # -- warnings (by the moment raised); w5 is addressed to community c1 itself -------------------------------
    for key, unit, raised, state in [("w1", "ga", nov(3, "08:00"), WarningState.open),
                                     ("w2", "ga", nov(4, "08:00"), WarningState.dismissed),
                                     ("w3", "gc", nov(5, "08:00"), WarningState.converted),
                                     ("w4", "gc", at(10, 30, "08:00"), WarningState.open),
                                     ("w5", "c1", nov(6, "08:00"), WarningState.converted)]:
        db.add(Warning(kind="surge", cause_key=f"hand-{key}", unit_id=h.u[unit].id, path=h.p[unit], title=key,
                       reason=key, raised_at=raised, state=state))

    # -- residents' suggestions: two in ga (one answered), one to the district (answered) ----------------------
    author = world.users["jumin"]
    for unit, created, replied in [("ga", nov(10, "09:00"), nov(11, "09:00")), ("ga", nov(12, "09:00"), None),
                                   ("district", nov(13, "09:00"), nov(13, "15:00")),
                                   ("gb", at(10, 1, "09:00"), None)]:
        db.add(Suggestion(author_id=author.id, unit_id=h.u[unit].id, path=h.p[unit], title="建议", body="建议",
                          created_at=created, replied_at=replied))

    # -- the responsibility list: the shipped taxonomy and rules set aside, four leaf event categories ---------
    db.execute(update(Category).values(is_active=False))
    db.execute(update(DispatchRule).values(enabled=False))
    db.add(Category(code="ZZ-01", name="测试大类", kind="event", is_leaf=False))
    db.add(Category(code="ZZ-0101", name="有默认部门", kind="event", parent_code="ZZ-01", default_department="cg"))
    for code in ("ZZ-0102", "ZZ-0103", "ZZ-0104"):
        db.add(Category(code=code, name=code, kind="event", parent_code="ZZ-01"))
    db.add(Category(code="ZZ-9901", name="服务事项", kind="service"))  # another flow's: not counted
    for name, cat, region, dept, enabled in [
        ("全县 ZZ-0102", "ZZ-0102", None, "cg", True),  # everywhere
        ("c1 整个大类", "ZZ-01", h.p["c1"], "cg", True),  # a major class, in c1 and its grids only
        ("gc ZZ-0104 停用", "ZZ-0104", h.p["gc"], "cg", False),  # disabled
        ("gc ZZ-0103 无目标", "ZZ-0103", h.p["gc"], None, True),  # dispatches to nobody
    ]:
        db.add(DispatchRule(name=name, category_code=cat, region_path=region, target_department=dept,
                            enabled=enabled))

    # -- visits (30 days: Nov 1–30; 90 days: Sep 2–Nov 30) ------------------------------------------------------
    h.visit("hA1", nov(10, "10:00"), met=("p1",))
    h.visit("hA1", nov(20, "10:00"), met=("p1", "p2"))  # the same household and care resident again
    h.visit("hA2", at(10, 15, "10:00"))  # within 90 days only
    h.visit("hA2", at(10, 16, "10:00"), filed_under="gb")  # filed under gb: still ga's household, counted once
    h.visit("hB1", at(8, 1, "10:00"), met=("p5",))  # before the 90 days
    h.visit("hC1", nov(25, "10:00"), met=("p7",))
    h.visit("hC2", at(10, 31, "23:30"))  # the last evening before the 30 days: within 90 only
    h.visit("hC2", at(12, 2, "10:00"), met=("p11",))  # after the period
    db.flush()
    return h


def add_devices_and_hub(h: Hand) -> None:
    """The sources that phase 1 lacks: IoT devices, golden records, a subscription with deliveries."""
    db = h.db
    dtype = DeviceType(code="hand-smoke", name="烟感")
    db.add(dtype)
    db.flush()
    for key, grid, status in [("d1", "ga", DeviceStatus.active), ("d2", "ga", DeviceStatus.active),
                              ("d3", "gb", DeviceStatus.disabled), ("d4", "gc", DeviceStatus.offline)]:
        db.add(Device(device_key=f"hand-{key}", type_id=dtype.id, name=key, unit_id=h.u[grid].id, path=h.p[grid],
                      status=status))
    survivor = GoldenRecord(entity_type=EntityType.person, register_id=h.persons["p1"].id, path=h.p["ga"])
    db.add(survivor)
    db.flush()
    db.add_all([
        GoldenRecord(entity_type=EntityType.person, register_id=h.persons["p2"].id, path=h.p["ga"]),
        GoldenRecord(entity_type=EntityType.person, register_id=h.persons["p3"].id, path=h.p["ga"],
                     merged_into=survivor.id),  # absorbed by a merge
        GoldenRecord(entity_type=EntityType.person, register_id=None, path=h.p["ga"]),  # no register row
        GoldenRecord(entity_type=EntityType.person, register_id=h.persons["p7"].id, path=h.p["gc"]),
        GoldenRecord(entity_type=EntityType.person, register_id=h.persons["p11"].id, path=h.p["gc"]),  # moved out
        GoldenRecord(entity_type=EntityType.building, register_id=h.persons["p8"].id, path=h.p["gc"]),  # not a person
    ])
    subs = [Subscription(name=f"订阅{i}", kind="in_app", path=h.p["district"], created_at=at(10, 1, "09:00"))
            for i in (1, 2)]
    db.add_all(subs)
    db.flush()
    changes: list[tuple[str, str, list[tuple[Subscription, DeliveryStatus, dt.datetime | None]]]] = [
        ("e1", "ga", [(subs[0], DeliveryStatus.delivered, nov(5, "10:00")),
                      (subs[1], DeliveryStatus.delivered, nov(5, "10:01"))]),
        ("e2", "gc", [(subs[0], DeliveryStatus.delivered, nov(6, "10:00")),
                      (subs[1], DeliveryStatus.failed, None)]),
        ("e3", "gc", [(subs[0], DeliveryStatus.pending, None)]),
        ("e4", "ga", [(subs[0], DeliveryStatus.delivered, at(12, 1, "10:00"))]),  # after the period
    ]
    for key, grid, deliveries in changes:
        ev = ChangeEvent(key=f"hand-{key}", entity_type=EntityType.person, golden_id=survivor.id, path=h.p[grid],
                         kind="updated", at=nov(5, "09:00"))
        db.add(ev)
        db.flush()
        for sub, outcome, when in deliveries:
            db.add(Delivery(change_id=ev.id, subscription_id=sub.id, status=outcome, delivered_at=when))
    db.flush()


@pytest.fixture
def hand(db: Session, world: Any) -> Hand:
    return build(db, world)


def approx(x: float) -> Any:
    return pytest.approx(x, abs=1e-4)


# -- E1 经济 -------------------------------------------------------------------------------------------------------

def test_register_indicators(hand: Hand) -> None:
    v, _m = hand.compute()
    # complete = phone + household + ethnicity + relation: ga p1 p2 p4 (p3 no phone); gb p5 (p6 no ethnicity);
    # gc p7 p8 p9 (p10 no household); the moved-out p11 counts nowhere
    assert v["ga"]["E1_PERSON_COMPLETE"] == approx(100 * 3 / 4)
    assert v["gb"]["E1_PERSON_COMPLETE"] == approx(100 * 1 / 2)
    assert v["c1"]["E1_PERSON_COMPLETE"] == approx(100 * (3 + 1) / (4 + 2))
    assert v["district"]["E1_PERSON_COMPLETE"] == approx(100 * (3 + 1 + 3) / 10)
    # updated in the 365 days before the period's end: all but p6 (gb) and p10 (gc)
    assert v["ga"]["E1_DATA_FRESH"] == approx(100 * 4 / 4)
    assert v["gb"]["E1_DATA_FRESH"] == approx(100 * 1 / 2)
    assert v["gc"]["E1_DATA_FRESH"] == approx(100 * 3 / 4)
    assert v["district"]["E1_DATA_FRESH"] == approx(100 * 8 / 10)
    # grid workers per 1,000: ga wangge_a 1/4, gb wangge_b 1/2, gc only an inactive one → a true 0
    assert v["ga"]["E2_GRID_WORKERS"] == approx(1000 * 1 / 4)
    assert v["gb"]["E2_GRID_WORKERS"] == approx(1000 * 1 / 2)
    assert v["gc"]["E2_GRID_WORKERS"] == 0.0
    assert v["district"]["E2_GRID_WORKERS"] == approx(1000 * 2 / 10)


def test_case_indicators(hand: Hand) -> None:
    v, m = hand.compute()
    # counted: A1–A4 (ga), B1 B2 B3 (gb), C1 C2 (gc); not A5 (October) nor A6 (another flow)
    assert (m["ga"]["cases"], m["gb"]["cases"], m["gc"]["cases"], m["district"]["cases"]) == (4, 3, 2, 9)
    # actively found = grid worker (A1) + IoT (A4)
    assert v["ga"]["E1_ACTIVE_DISCOVERY"] == approx(100 * 2 / 4)
    assert v["gb"]["E1_ACTIVE_DISCOVERY"] == 0.0
    assert v["district"]["E1_ACTIVE_DISCOVERY"] == approx(100 * 2 / 9)
    # reported online by residents = resident (A2, C2) + Open311 (B1)
    assert v["ga"]["E4_ONLINE"] == approx(100 * 1 / 4)
    assert v["gb"]["E4_ONLINE"] == approx(100 * 1 / 3)
    assert v["district"]["E4_ONLINE"] == approx(100 * 3 / 9)
    # reports per 1,000 residents
    assert v["ga"]["E2_REPORTS"] == approx(1000 * 4 / 4)
    assert v["gc"]["E2_REPORTS"] == approx(1000 * 2 / 4)
    assert v["gb"]["E2_REPORTS"] == approx(1000 * 3 / 2)
    assert v["district"]["E2_REPORTS"] == approx(1000 * 9 / 10)
    # closed: ga A1 A2 A3 (A1 A2 on time), gb B1 (on time), gc C1 (on time; C2 is rated, not closed)
    assert v["ga"]["E2_ON_TIME"] == approx(100 * 2 / 3)
    assert v["gb"]["E2_ON_TIME"] == approx(100 * 1 / 1)
    assert v["district"]["E2_ON_TIME"] == approx(100 * 4 / 5)
    assert v["ga"]["E4_SERVICE"] == approx(1000 * 3 / 4)
    assert v["gb"]["E4_SERVICE"] == approx(1000 * 1 / 2)
    assert v["gc"]["E4_SERVICE"] == approx(1000 * 1 / 4)
    assert v["district"]["E4_SERVICE"] == approx(1000 * 5 / 10)
    # ratings: ga 5 4 2; gb none; gc 5 3
    assert v["ga"]["E3_SATISFACTION"] == approx((5 + 4 + 2) / 3)
    assert v["gb"]["E3_SATISFACTION"] is None  # no rated case: no data, not 0
    assert v["gc"]["E3_SATISFACTION"] == approx((5 + 3) / 2)
    assert v["c1"]["E3_SATISFACTION"] == approx((5 + 4 + 2) / 3)
    assert v["district"]["E3_SATISFACTION"] == approx((5 + 4 + 2 + 5 + 3) / 5)
    assert v["ga"]["E3_GOOD_SHARE"] == approx(100 * 2 / 3)  # 5 and 4
    assert v["gb"]["E3_GOOD_SHARE"] is None
    assert v["district"]["E3_GOOD_SHARE"] == approx(100 * 3 / 5)  # 5, 4, 5
    # resolved: ga A1 A2 A3, gb B1, gc C1 C2; rated among them: ga 3, gb 0, gc 2
    assert v["ga"]["E3_FOLLOW_UP"] == approx(100 * 3 / 3)
    assert v["gb"]["E3_FOLLOW_UP"] == 0.0  # resolved but never asked: a true 0
    assert v["district"]["E3_FOLLOW_UP"] == approx(100 * 5 / 6)
    # reopened among the resolved: A3 (ga), C2 (gc); B3 (gb) is reopened but not resolved again yet
    assert v["ga"]["E3_REOPEN"] == approx(100 * 1 / 3)
    assert v["gb"]["E3_REOPEN"] == 0.0
    assert v["gc"]["E3_REOPEN"] == approx(100 * 1 / 2)
    assert v["district"]["E3_REOPEN"] == approx(100 * 2 / 6)


def test_medians_in_working_hours_over_the_subtree(hand: Hand) -> None:
    v, _m = hand.compute()
    # resolve hours: ga A1 1, A2 2 (lunch not counted), A3 3 (reported at night: from 08:30 next day); gb B1 10
    # (over a night); gc C1 4, C2 5
    assert v["ga"]["E2_RESOLVE_TIME"] == approx(statistics.median([1, 2, 3]))  # 2
    assert v["gb"]["E2_RESOLVE_TIME"] == approx(10)
    assert v["gc"]["E2_RESOLVE_TIME"] == approx(statistics.median([4, 5]))  # 4.5
    assert v["c1"]["E2_RESOLVE_TIME"] == approx(statistics.median([1, 2, 3, 10]))  # 2.5
    # the district's median is over all six cases, not the median of its grids' medians (2, 10, 4.5 → 4.5)
    assert v["district"]["E2_RESOLVE_TIME"] == approx(statistics.median([1, 2, 3, 10, 4, 5]))  # 3.5
    assert v["district"]["E2_RESOLVE_TIME"] != approx(statistics.median([2, 10, 4.5]))
    assert v["s2"]["E2_RESOLVE_TIME"] == approx(4.5)
    # accept hours: ga 0.25 0.5 0.5 (A3: 08:30→09:00 the next morning) 0.5; gb 1 (B2 not accepted); gc 0.5 2
    assert v["ga"]["E2_ACCEPT_TIME"] == approx(statistics.median([0.25, 0.5, 0.5, 0.5]))
    assert v["gb"]["E2_ACCEPT_TIME"] == approx(1)
    assert v["gc"]["E2_ACCEPT_TIME"] == approx(statistics.median([0.5, 2]))  # 1.25
    assert v["district"]["E2_ACCEPT_TIME"] == approx(statistics.median([0.25, 0.5, 0.5, 0.5, 1, 0.5, 2]))
    # dispatch hours: ga 0.25 0.25 0.5 0.5; gb 1; gc 0.5 0.5
    assert v["ga"]["E2_DISPATCH_TIME"] == approx(statistics.median([0.25, 0.25, 0.5, 0.5]))  # 0.375
    assert v["c1"]["E2_DISPATCH_TIME"] == approx(statistics.median([0.25, 0.25, 0.5, 0.5, 1]))  # 0.5
    assert v["district"]["E2_DISPATCH_TIME"] == approx(statistics.median([0.25, 0.25, 0.5, 0.5, 1, 0.5, 0.5]))


def test_flows_and_mechanisms(hand: Hand) -> None:
    v, _m = hand.compute()
    # supervisions issued in November: ga A3 ×2 (one answered) + A5 on Nov 3 (answered; its October one is not
    # counted); gc C1 (answered); gb none → no data
    assert v["ga"]["E3_SUPERVISION"] == approx(100 * 2 / 3)
    assert v["gb"]["E3_SUPERVISION"] is None
    assert v["gc"]["E3_SUPERVISION"] == approx(100 * 1 / 1)
    assert v["district"]["E3_SUPERVISION"] == approx(100 * 3 / 4)
    # settled category suggestions of November cases: A1 right, A2 corrected, B1 right (A3 unsettled, C1's is a
    # department suggestion, A5 is October's)
    assert v["ga"]["E1_AUTO_ROUTE"] == approx(100 * 1 / 2)
    assert v["gb"]["E1_AUTO_ROUTE"] == approx(100 * 1 / 1)
    assert v["gc"]["E1_AUTO_ROUTE"] is None
    assert v["district"]["E1_AUTO_ROUTE"] == approx(100 * 2 / 3)
    # warnings raised in November: ga w1 open, w2 dismissed; c1 itself w5 converted; gc w3 converted (w4 October)
    assert v["ga"]["E1_WARN_HANDLED"] == approx(100 * 1 / 2)
    assert v["c1"]["E1_WARN_HANDLED"] == approx(100 * 2 / 3)
    assert v["gc"]["E1_WARN_HANDLED"] == approx(100 * 1 / 1)
    assert v["district"]["E1_WARN_HANDLED"] == approx(100 * 3 / 4)
    # residents' suggestions in November: ga 2 (1 answered), the district 1 (answered); gb's is October's
    assert v["ga"]["E3_FEEDBACK"] == approx(100 * 1 / 2)
    assert v["gb"]["E3_FEEDBACK"] is None
    assert v["district"]["E3_FEEDBACK"] == approx(100 * 2 / 3)
    # responsibility list over the 4 leaf event categories: ZZ-0101 (default department) and ZZ-0102 (district
    # rule) everywhere; ZZ-0103 and ZZ-0104 only in c1 (its major-class rule); gc's rules are disabled/targetless
    assert v["ga"]["E3_DUTY_LIST"] == approx(100 * 4 / 4)
    assert v["c1"]["E3_DUTY_LIST"] == approx(100 * 4 / 4)
    assert v["gc"]["E3_DUTY_LIST"] == approx(100 * 2 / 4)
    assert v["district"]["E3_DUTY_LIST"] == approx(100 * 2 / 4)
    # visits: 30 days = Nov 1–30, 90 days = Sep 2–Nov 30. ga: hA1 (twice) in 30, hA2 in 90 (twice, once filed
    # under gb); gb: hB1 in August only; gc: hC1 in 30, hC2 on Oct 31 23:30 (90 only; its December visit is
    # after the period)
    assert v["ga"]["E2_VISIT_30"] == approx(100 * 1 / 2)
    assert v["ga"]["E2_VISIT_90"] == approx(100 * 2 / 2)
    assert v["gb"]["E2_VISIT_90"] == 0.0
    assert v["gc"]["E2_VISIT_30"] == approx(100 * 1 / 2)
    assert v["gc"]["E2_VISIT_90"] == approx(100 * 2 / 2)
    assert v["district"]["E2_VISIT_30"] == approx(100 * 2 / 5)
    assert v["district"]["E2_VISIT_90"] == approx(100 * 4 / 5)  # hA1 hA2 hC1 hC2 of 5 (hA2 once, not twice)
    # care residents met in 90 days: p1 (ga, met twice) yes; p5 (gb, August) no; p7 (gc) yes; p11 moved out
    assert v["ga"]["E4_CARE_VISITED"] == approx(100 * 1 / 1)
    assert v["gb"]["E4_CARE_VISITED"] == 0.0
    assert v["district"]["E4_CARE_VISITED"] == approx(100 * 2 / 3)


def test_manual_indicators_and_community_scope(hand: Hand) -> None:
    v, _m = hand.compute()
    # c1 (6 residents, 2 grid workers) filled FORM_C1, c2 (4 residents, no active grid worker) FORM_C2
    assert v["c1"]["E1_IT_SPEND"] == approx(3 * 10000 / 6)  # 万元 → 元, per resident
    assert v["c2"]["E1_IT_SPEND"] == approx(1 * 10000 / 4)
    assert v["district"]["E1_IT_SPEND"] == approx((3 + 1) * 10000 / 10)
    assert v["c1"]["E1_TERMINALS"] == approx(1000 * 5 / 6)
    assert v["district"]["E1_TERMINALS"] == approx(1000 * (5 + 2) / 10)
    assert v["c1"]["E2_INFO_STAFF"] == approx(1000 * 2 / 6)
    assert v["c2"]["E2_INFO_STAFF"] == approx(1000 * 1 / 4)
    assert v["c1"]["E2_TRAINING"] == approx(12 / (2 + 2))  # hours / (information staff + grid workers)
    assert v["c2"]["E2_TRAINING"] == approx(4 / (1 + 0))
    assert v["district"]["E2_TRAINING"] == approx((12 + 4) / (2 + 1 + 2))
    assert v["c1"]["E2_TALENT_FUND"] == approx(0.6 * 10000 / 6)
    assert v["district"]["E2_TALENT_FUND"] == approx((0.6 + 0.2) * 10000 / 10)
    assert v["c1"]["E3_MULTI_SAT"] == approx(90)
    assert v["district"]["E3_MULTI_SAT"] == approx((90 * 6 + 80 * 4) / 10)  # population-weighted
    # community-scope indicators: each grid carries its community's value (not the community's figure over the
    # grid's own population)
    for code in ("E1_IT_SPEND", "E1_TERMINALS", "E2_INFO_STAFF", "E2_TRAINING", "E2_TALENT_FUND", "E3_MULTI_SAT",
                 "E4_GINI_RESOLVE", "E4_THEIL_SERVICE", "E4_DECILE_GAP"):
        assert v["ga"][code] == v["gb"][code] == v["c1"][code], code
        assert v["gc"][code] == v["c2"][code], code
    assert v["ga"]["E2_TRAINING"] == approx(12 / (2 + 2))


def test_manual_indicators_without_a_form(hand: Hand) -> None:
    v, _m = hand.compute(forms={hand.p["c1"]: FORM_C1})  # c2 has not reported
    for code in ("E1_IT_SPEND", "E1_TERMINALS", "E2_INFO_STAFF", "E2_TRAINING", "E2_TALENT_FUND", "E3_MULTI_SAT"):
        assert v["c2"][code] is None, code
        assert v["gc"][code] is None, code
    assert v["c1"]["E3_MULTI_SAT"] == approx(90)
    assert v["district"]["E3_MULTI_SAT"] == approx(90)  # the mean over the communities that reported
    # above the communities, a manual indicator is over the communities that reported — c1's 3 万元 over c1's 6
    # residents, not over the district's 10; its training hours over c1's staff and grid workers only
    assert v["district"]["E1_IT_SPEND"] == approx(3 * 10000 / 6)
    assert v["s2"]["E1_IT_SPEND"] is None  # c2's street: nobody reported
    assert v["district"]["E2_TRAINING"] == approx(12 / (2 + 2))
    assert v["district"]["E2_INFO_STAFF"] == approx(1000 * 2 / 6)


def test_equity_across_grids(hand: Hand) -> None:
    v, _m = hand.compute()
    # c1's grids: resolve medians ga 2, gb 10. Gini = Σ_i Σ_j |x_i − x_j| / (2 n² μ), n = 2, μ = 6
    assert v["c1"]["E4_GINI_RESOLVE"] == approx((abs(2 - 10) + abs(10 - 2)) / (2 * 2**2 * 6))  # 1/3
    # worst decile = ceil(2/10) = 1 grid: the slowest, 10 h, against the median (2 + 10)/2 = 6
    assert v["c1"]["E4_DECILE_GAP"] == approx(10 / 6)
    # Theil of closed cases per 1,000 residents, population-weighted: ga 3/4·1000 = 750 (w 4), gb 1/2·1000 = 500
    # (w 2); μ = (4·750 + 2·500)/6; T = (1/W) Σ w_i (x_i/μ) ln(x_i/μ)
    mu = (4 * 750 + 2 * 500) / 6
    theil_c1 = (4 * (750 / mu) * math.log(750 / mu) + 2 * (500 / mu) * math.log(500 / mu)) / 6
    assert theil_c1 == pytest.approx(0.75 * math.log(1.125) + 0.25 * math.log(0.75))  # value shares × ln ratios
    assert v["c1"]["E4_THEIL_SERVICE"] == approx(theil_c1)
    # the district's: over all three grids (resolve 2, 10, 4.5; service 750, 500, 250 with 4, 2, 4 residents)
    pairs = sum(abs(a - b) for a in (2, 10, 4.5) for b in (2, 10, 4.5))  # 2·(8 + 2.5 + 5.5) = 32
    assert v["district"]["E4_GINI_RESOLVE"] == approx(pairs / (2 * 3**2 * (16.5 / 3)))  # 32/99
    assert v["district"]["E4_DECILE_GAP"] == approx(10 / 4.5)
    mu_d = (4 * 750 + 2 * 500 + 4 * 250) / 10  # 500
    assert v["district"]["E4_THEIL_SERVICE"] == approx(
        (4 * 1.5 * math.log(750 / mu_d) + 2 * 1 * math.log(500 / mu_d) + 4 * 0.5 * math.log(250 / mu_d)) / 10)
    # c2 has one grid: no spread to measure, no data (and gc carries that)
    for code in ("E4_GINI_RESOLVE", "E4_THEIL_SERVICE", "E4_DECILE_GAP"):
        assert v["c2"][code] is None and v["gc"][code] is None, code


def test_absent_sources_give_no_data_then_values(hand: Hand) -> None:
    v, _m = hand.compute()
    # no device registered, no golden record, no subscription anywhere in the district: 无数据, never 0
    for unit in hand.p:
        assert v[unit]["E1_IOT_DENSITY"] is None, unit
        assert v[unit]["E1_GOLDEN_FUSION"] is None, unit
        assert v[unit]["E1_SHARE_USE"] is None, unit
    add_devices_and_hub(hand)
    v, _m = hand.compute()
    # devices not disabled: ga d1 d2, gc d4 (offline still counts); gb's d3 is disabled → a true 0
    assert v["ga"]["E1_IOT_DENSITY"] == approx(1000 * 2 / 4)
    assert v["gb"]["E1_IOT_DENSITY"] == 0.0
    assert v["gc"]["E1_IOT_DENSITY"] == approx(1000 * 1 / 4)
    assert v["district"]["E1_IOT_DENSITY"] == approx(1000 * 3 / 10)
    # active residents with a person golden record not merged away: ga p1 p2, gc p7 (p11 has moved out)
    assert v["ga"]["E1_GOLDEN_FUSION"] == approx(100 * 2 / 4)
    assert v["gb"]["E1_GOLDEN_FUSION"] == 0.0
    assert v["gc"]["E1_GOLDEN_FUSION"] == approx(100 * 1 / 4)
    assert v["district"]["E1_GOLDEN_FUSION"] == approx(100 * 3 / 10)
    # deliveries made in November: e1 to both subscribers (ga), e2 to one (gc; the other failed); e3 pending;
    # e4 delivered in December
    assert v["ga"]["E1_SHARE_USE"] == approx(1000 * 2 / 4)
    assert v["gb"]["E1_SHARE_USE"] == 0.0
    assert v["gc"]["E1_SHARE_USE"] == approx(1000 * 1 / 4)
    assert v["district"]["E1_SHARE_USE"] == approx(1000 * 3 / 10)


def test_every_default_indicator_is_checked_here() -> None:
    text = Path(__file__).read_text(encoding="utf-8")
    missing = [s.code for s in catalog.INDICATORS if f'["{s.code}"] ==' not in text]
    assert missing == []
    assert len(catalog.INDICATORS) == 35


def test_scores_of_the_hand_built_dataset(hand: Hand) -> None:
    """From values to scores on the same data: target normalisation, a community's score carried by its grids,
    and missing indicators' weights shared among the rest of the sub-dimension."""
    db = hand.db
    tree = metrics.load_tree(db, hand.p["district"], END)
    figures = metrics.compute(db, tree, start=START, end=END, calendar=load_calendar(db),
                              forms={hand.p["c1"]: FORM_C1, hand.p["c2"]: FORM_C2}, form_fields=FORM_FIELDS)
    defs = definitions()
    values = scoring.indicator_values(defs, figures, tree.units).by_unit
    population = {p: float(m["population"] or 0) for p, m in figures.items()}
    s = scoring.score_units(defs, catalog.default_weights(), tree.units, values, population).scores
    ga, gb, c1 = hand.p["ga"], hand.p["gb"], hand.p["c1"]
    # E3_SATISFACTION (target 4.8, threshold 3.5): ga's mean 11/3 → 100·(11/3 − 3.5)/(4.8 − 3.5)
    assert s[ga]["E3_SATISFACTION"] == pytest.approx(100 * (11 / 3 - 3.5) / (4.8 - 3.5), abs=0.01)
    # E3_MULTI_SAT is community-scope (target 95, threshold 60): c1's 90 → 100·30/35, carried by ga and gb
    assert s[ga]["E3_MULTI_SAT"] == s[gb]["E3_MULTI_SAT"] == pytest.approx(100 * (90 - 60) / (95 - 60), abs=0.01)
    # gb's E3.1: satisfaction and good share have no data; follow-up 0 % is below its threshold 40 → 0 points;
    # so (1·0 + 1·85.71)/(1 + 1), the missing indicators' weights (1.5 and 1) shared out
    assert s[gb]["E3_FOLLOW_UP"] == 0.0
    assert s[gb]["E3.1"] == pytest.approx((1 * 0 + 1 * 100 * 30 / 35) / (1 + 1), abs=0.01)
    # c1's score of a node: its grids' scores weighted by residents (ga 4, gb 2)
    assert s[c1]["E3.1"] == pytest.approx((s[ga]["E3.1"] * 4 + s[gb]["E3.1"] * 2) / 6, abs=0.01)
    assert s[c1]["total"] == pytest.approx((s[ga]["total"] * 4 + s[gb]["total"] * 2) / 6, abs=0.01)
