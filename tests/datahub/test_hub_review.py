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
    MergeEvent,
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
    assert by["name"]["level"] == "姓名相同"


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


# -- the pages ------------------------------------------------------------------------------------------------------

def _sign_in(client, world, who):
    client.cookies.clear()
    client.cookies.set("zhili_session", world.tokens[who])


def _csrf(html):
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_queue_page_shows_names_and_masked_values_and_merges_with_htmx(pair, db, world, client):
    hub, good, _typo, cand = pair
    _sign_in(client, world, "shequ1")
    r = client.get("/console/hub/review")
    assert r.status_code == 200 and "张三" in r.text and "80%" in r.text
    assert "13900000002" not in r.text and "330522198506150021" not in r.text
    detail = client.get(f"/console/hub/review/{cand.id}")
    assert detail.status_code == 200 and "3305**********0021" in detail.text and "不一致" in detail.text
    assert "金陵社区第1网格" in detail.text  # the grid by its name, never its id
    assert "姓名相同" in detail.text  # the matcher's comparison level
    merged = client.post(f"/console/hub/review/{cand.id}/merge", data={"csrf_token": _csrf(r.text)},
                         headers={"HX-Request": "true"})
    assert merged.status_code == 200 and "已合并" in merged.text
    assert db.get(MatchCandidate, cand.id).status == CandidateStatus.merged
    page = client.get(f"/console/hub/golden/{hub.golden_of(good)}")
    assert page.status_code == 200 and "minzheng.csv" in page.text and "撤销合并" in page.text
    assert "139****0002" in page.text and "13900000002" not in page.text  # the latest phone, masked
    [m] = list(db.scalars(select(MergeEvent)))
    undone = client.post(f"/console/hub/merges/{m.id}/undo", data={"csrf_token": _csrf(page.text)},
                         follow_redirects=False)
    assert undone.status_code == 303 and db.get(MergeEvent, m.id).undone_at is not None


def test_pages_refuse_outside_the_area_and_rules_and_subscriptions_are_for_hub_admin(pair, db, world, client):
    hub, good, _typo, cand = pair
    _sign_in(client, world, "jiedao2")
    assert client.get(f"/console/hub/review/{cand.id}").status_code == 404
    assert client.get(f"/console/hub/golden/{hub.golden_of(good)}").status_code == 404
    _sign_in(client, world, "shequ1")
    page = client.get(f"/console/hub/golden/{hub.golden_of(good)}")
    assert "<select" not in page.text.split("字段血缘", 1)[1].split("</table>", 1)[0]  # no rule editor
    assert client.get("/console/hub/subscriptions").status_code == 403
    _sign_in(client, world, "zhihui")
    page = client.get(f"/console/hub/golden/{hub.golden_of(good)}")
    r = client.post(f"/console/hub/golden/{hub.golden_of(good)}/rule",
                    data={"csrf_token": _csrf(page.text), "field": "phone", "rule": "most_trusted"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "hub_review_rule_set" in r.headers["location"]
    subs = client.get("/console/hub/subscriptions")
    assert subs.status_code == 200
    r = client.post("/console/hub/subscriptions", data={"csrf_token": _csrf(subs.text), "name": "民政推送",
                                                        "kind": "webhook", "url": "https://example.test/h",
                                                        "entity_types": ["person"]}, follow_redirects=False)
    assert r.status_code == 303
    assert "民政推送" in client.get("/console/hub/subscriptions").text


def test_the_api_merges_and_undoes(pair, db, world, client):
    hub, good, _typo, cand = pair
    h = world.headers("shequ1")
    listed = client.get("/api/v1/hub/review", headers=h).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == str(cand.id)
    detail = client.get(f"/api/v1/hub/review/{cand.id}", headers=h).json()
    assert {r["field"]: r["left"] for r in detail["rows"]}["id_number"] == "3305**********0021"
    m = client.post(f"/api/v1/hub/review/{cand.id}/merge", headers=h).json()
    assert m["survivor_id"] == str(hub.golden_of(good))
    gold = client.get(f"/api/v1/hub/golden/{m['survivor_id']}", headers=h).json()
    assert {v["field"]: v["value"] for v in gold["values"]}["phone"] in ("138****0001", "139****0002")
    lin = client.get(f"/api/v1/hub/golden/{m['survivor_id']}/lineage", headers=h).json()
    assert len(lin["merges"]) == 1 and {f["field"] for f in lin["fields"]} >= {"name", "phone"}
    u = client.post(f"/api/v1/hub/merges/{m['id']}/undo", headers=h)
    assert u.status_code == 200 and u.json()["undone_at"] is not None
    assert client.post(f"/api/v1/hub/merges/{m['id']}/undo", headers=h).status_code == 409
    assert client.get(f"/api/v1/hub/review/{cand.id}", headers=world.headers("jiedao2")).status_code == 404


def test_a_record_resembling_a_retired_person_is_proposed_for_the_surviving_golden_record(pair, db, world):
    hub, good, _typo, cand = pair
    review.merge(db, principal=hub.principal, candidate_id=cand.id)
    g_good = hub.golden_of(good)
    before = db.scalar(select(func.count()).select_from(GoldenRecord))
    rec, _ = hub.stage("wangge", "w-2", person("张三", ID_A_TYPO))
    proposed = {c.golden_id for c in db.scalars(select(MatchCandidate)
                                                .where(MatchCandidate.source_record_id == rec.id))}
    assert proposed == {g_good}
    assert db.scalar(select(func.count()).select_from(GoldenRecord)) == before + 1  # only the record's own
