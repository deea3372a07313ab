"""The review queue: pairs side by side (masked), merge, keep apart (remembered), undo restores both records
exactly; reviewers see and decide only the candidates of their own area."""

from __future__ import annotations

import pytest
from goldenkit import ID_A, ID_A_TYPO, StubMatcher, make_hub, person
from sqlalchemy import func, select

from zhili.core.audit import AuditEvent
from zhili.core.errors import Conflict, Forbidden, NotFound
from zhili.datahub import review
from zhili.datahub.models import (
    CandidateStatus,
    ChangeEvent,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    MatchCandidate,
)
from zhili.registry.models import Person, PersonStatus
from zhili.users.service import principal_for_user


@pytest.fixture
def pair(db, world):
    """A register person from 民政 and a record with a mistyped ID from 网格 (its own golden record, with its own
    register row since it carries a place), waiting for review."""
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.8))
    hub.source("minzheng", trust=80)
    hub.source("wangge", trust=40)
    good, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    # a valid but different ID number (one digit and the checksum off): a second register person
    other_id = "330522198506150021"
    typo, _ = hub.stage("wangge", "w-1", person("张三", other_id, phone="13900000002", grid=world.units["ga"],
                                                ethnicity="汉族"))
    [cand] = list(db.scalars(select(MatchCandidate)))
    return hub, good, typo, cand


def _state(db, gid):
    g = db.get(GoldenRecord, gid)
    links = sorted(str(x) for x in db.scalars(select(GoldenLink.id).where(GoldenLink.golden_id == gid,
                                                                          GoldenLink.unlinked_at.is_(None))))
    fields = sorted((f.field, str(f.source_record_id), f.rule, f.value_digest, f.row_number)
                    for f in db.scalars(select(GoldenField).where(GoldenField.golden_id == gid)))
    reg = review._dump(db.get(Person, g.register_id)) if g.register_id else None
    return {"register_id": g.register_id, "merged_into": g.merged_into, "links": links, "fields": fields,
            "register": reg}


def test_the_queue_lists_pending_pairs_with_masked_values_side_by_side(pair, db):
    hub, _good, _typo, cand = pair
    rows, total = review.list_candidates(db, principal=hub.principal)
    assert total == 1 and rows[0].id == cand.id
    view = review.candidate_view(db, principal=hub.principal, candidate_id=cand.id)
    by = {r["field"]: r for r in view["rows"]}
    assert by["name"]["left"] == by["name"]["right"] == "张三" and by["name"]["same"] is True
    assert by["id_number"]["left"] == "3305**********0021" and by["id_number"]["same"] is False
    assert by["phone"]["right"] == "138****0001"
    assert by["name"]["level"] == "exact"


def test_merge_absorbs_the_records_golden_record_and_retires_its_register_person(pair, db):
    hub, good, typo, cand = pair
    g_good, g_typo = hub.golden_of(good), hub.golden_of(typo)
    absorbed_person = db.get(GoldenRecord, g_typo).register_id
    m = review.merge(db, principal=hub.principal, candidate_id=cand.id)
    assert hub.golden_of(typo) == g_good and m.survivor_id == g_good and m.absorbed_id == g_typo
    assert db.get(GoldenRecord, g_typo).merged_into == g_good
    p = db.get(Person, absorbed_person)
    assert p is not None and p.status == PersonStatus.moved_out  # retired, never deleted
    survivor_person = db.get(Person, db.get(GoldenRecord, g_good).register_id)
    assert survivor_person.ethnicity == "汉族"  # re-survived with the absorbed record's fields
    assert db.get(MatchCandidate, cand.id).status == CandidateStatus.merged
    kinds = {(e.golden_id, e.kind) for e in db.scalars(select(ChangeEvent).where(ChangeEvent.kind == "merged"))}
    assert kinds == {(g_good, "merged"), (g_typo, "merged")}
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "hub.merge")) is not None
    with pytest.raises(Conflict):
        review.merge(db, principal=hub.principal, candidate_id=cand.id)


def test_undoing_a_merge_restores_both_records_exactly(pair, db):
    hub, good, typo, cand = pair
    g_good, g_typo = hub.golden_of(good), hub.golden_of(typo)
    before = (_state(db, g_good), _state(db, g_typo))
    m = review.merge(db, principal=hub.principal, candidate_id=cand.id)
    assert _state(db, g_good) != before[0]
    review.undo_merge(db, principal=hub.principal, merge_id=m.id)
    db.expire_all()
    assert (_state(db, g_good), _state(db, g_typo)) == before
    assert hub.golden_of(typo) == g_typo
    assert db.get(MatchCandidate, cand.id).status == CandidateStatus.pending
    assert {e.golden_id for e in db.scalars(select(ChangeEvent).where(ChangeEvent.kind == "unmerged"))} == {
        g_good, g_typo}
    with pytest.raises(Conflict):
        review.undo_merge(db, principal=hub.principal, merge_id=m.id)


def test_keep_apart_is_remembered_and_the_pair_never_comes_back(pair, db, world):
    hub, good, typo, cand = pair
    review.keep_apart(db, principal=hub.principal, candidate_id=cand.id)
    assert review.list_candidates(db, principal=hub.principal)[1] == 0
    # the record changes and is resolved again: still its own golden record, no new candidate
    hub.stage("wangge", "w-1", person("张三", "330522198506150021", phone="13900000003", grid=world.units["ga"]))
    assert db.scalar(select(func.count()).select_from(MatchCandidate)) == 1
    assert db.get(MatchCandidate, cand.id).status == CandidateStatus.kept_apart
    assert hub.golden_of(typo) != hub.golden_of(good)


def test_a_staff_user_cannot_see_or_decide_candidates_outside_their_area(pair, db, world):
    _hub, _good, _typo, cand = pair
    other_street = principal_for_user(db, user=world.users["jiedao2"])
    assert review.list_candidates(db, principal=other_street) == ([], 0)
    for fn in (review.candidate_view, review.merge, review.keep_apart):
        with pytest.raises(NotFound):
            fn(db, principal=other_street, candidate_id=cand.id)
    grid_worker = principal_for_user(db, user=world.users["wangge_a"])
    with pytest.raises(Forbidden):
        review.list_candidates(db, principal=grid_worker)
    own_street = principal_for_user(db, user=world.users["jiedao1"])
    assert review.list_candidates(db, principal=own_street)[1] == 1


def test_the_mistyped_record_without_a_place_is_merged_into_the_register_person(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.8))
    hub.source("minzheng", trust=80)
    hub.source("wangge", trust=40)
    good, out = hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    typo, _ = hub.stage("wangge", "w-1", person("张三", ID_A_TYPO, phone="13900000002"))
    [cand] = list(db.scalars(select(MatchCandidate)))
    review.merge(db, principal=hub.principal, candidate_id=cand.id)
    assert hub.golden_of(typo) == hub.golden_of(good)
    assert db.get(Person, out.target_id).phone_bidx is not None  # the phone came with the merged record
    assert typo.target_id == out.target_id
