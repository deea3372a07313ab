"""Golden records without a register row (no valid ID number, nowhere to place them) still take part in entity
resolution: they keep their own blocking keys (blind indexes of name + birth date and of the phone), so a later
record — from another source, or from the same batch — is matched to them by the same bands as to a register row,
and a record that finds its register row later loses them."""

from __future__ import annotations

from goldenkit import ID_A, StubMatcher, make_hub, person
from sqlalchemy import func, select

from zhili.datahub.models import CandidateStatus, GoldenLink, GoldenRecord, MatchCandidate, MatchType
from zhili.users.service import principal_for_user

PHONE = "13900000001"


def _hub(db, world, probability):
    hub = make_hub(db, world, matcher=StubMatcher(probability=probability))
    hub.source("weijian", trust=50)
    hub.source("hotline", trust=40)
    return hub


def _patient(name="赵六", **extra):
    return person(name, None, phone=PHONE, birth_date="1950-03-04", **extra)


def test_a_record_matches_a_golden_record_that_has_no_register_row(db, world):
    hub = _hub(db, world, 0.99)
    first, _ = hub.stage("weijian", "w-1", _patient())
    g = db.get(GoldenRecord, hub.golden_of(first))
    assert g.register_id is None and g.block_a and g.block_b  # its own blocking keys, blind indexes only
    assert "赵六" not in g.block_a and PHONE not in g.block_b
    second, _ = hub.stage("hotline", "h-1", _patient(address="金陵社区3幢"))
    assert hub.golden_of(second) == g.id
    link = db.scalar(select(GoldenLink).where(GoldenLink.source_record_id == second.id))
    assert link.match_type == MatchType.probabilistic
    assert db.scalar(select(func.count()).select_from(GoldenRecord)) == 1


def test_an_uncertain_match_to_such_a_golden_record_goes_to_review(db, world):
    hub = _hub(db, world, 0.8)
    first, _ = hub.stage("weijian", "w-1", _patient())
    second, _ = hub.stage("hotline", "h-1", _patient())
    assert hub.golden_of(second) != hub.golden_of(first)
    [c] = list(db.scalars(select(MatchCandidate)))
    assert (c.source_record_id, c.golden_id, c.status) == (second.id, hub.golden_of(first), CandidateStatus.pending)


def test_two_copies_of_one_person_in_the_same_batch_become_one_golden_record(db, world):
    hub = _hub(db, world, 0.99)
    (a, _), (b, _), (c, _) = hub.stage_many("weijian", [("w-1", _patient()), ("w-2", _patient()),
                                                        ("w-3", _patient("钱七"))])
    assert hub.golden_of(a) == hub.golden_of(b) != hub.golden_of(c)
    types = {lk.source_record_id: lk.match_type for lk in db.scalars(select(GoldenLink))}
    assert sorted(types.values()) == sorted([MatchType.seed, MatchType.probabilistic, MatchType.seed])


def test_an_uncertain_pair_in_the_same_batch_goes_to_review(db, world):
    hub = _hub(db, world, 0.8)
    (a, _), (b, _) = hub.stage_many("weijian", [("w-1", _patient()), ("w-2", _patient())])
    assert hub.golden_of(a) != hub.golden_of(b)
    [c] = list(db.scalars(select(MatchCandidate)))
    assert {c.source_record_id, c.golden_id} & {a.id, b.id, hub.golden_of(a), hub.golden_of(b)}
    assert c.golden_id in (hub.golden_of(a), hub.golden_of(b))


def test_a_keyed_record_never_joins_another_in_the_same_batch_by_probability(db, world):
    hub = _hub(db, world, 0.99)
    (a, _), (b, _) = hub.stage_many("weijian", [("w-1", _patient()),
                                                ("w-2", person("赵六", ID_A, phone=PHONE, grid=world.units["ga"]))])
    # the unkeyed record may join the keyed one's golden record, never the other way round
    assert hub.golden_of(a) == hub.golden_of(b)
    g = db.get(GoldenRecord, hub.golden_of(b))
    assert g.register_id is not None and (g.block_a, g.block_b) == (None, None)  # the register blocks it now


def test_below_the_review_band_nothing_is_linked_or_queued(db, world):
    hub = _hub(db, world, 0.3)
    first, _ = hub.stage("weijian", "w-1", _patient())
    second, _ = hub.stage("hotline", "h-1", _patient())
    assert hub.golden_of(second) != hub.golden_of(first)
    assert db.scalar(select(func.count()).select_from(MatchCandidate)) == 0


def test_a_golden_record_outside_the_jurisdiction_is_not_a_candidate(db, world):
    hub = _hub(db, world, 0.99)
    hub.source("huaxi", unit="c2")  # 画溪村, another street's community
    other_street = principal_for_user(db, user=world.users["jiedao2"])
    first, _ = hub.stage("huaxi", "x-1", _patient(), principal=other_street)
    assert db.get(GoldenRecord, hub.golden_of(first)).path == world.units["c2"].path
    second, _ = hub.stage("weijian", "w-1", _patient())  # staged by 金陵社区's staff: 画溪村 is not theirs
    assert hub.golden_of(second) != hub.golden_of(first)
