"""智能分拨 inside the platform: model versions (sealed, activated, rolled back), the router the case loop asks,
the suggestions shown on a case with one click to take them, and corrections counted at the next retrain.

A small stand-in model (:class:`KeywordModel`) keeps these tests about the plumbing; the text model itself is
specified in ``test_textmodel.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.cases import suggest
from zhili.cases.models import Case, CaseEvent, CaseState
from zhili.cases.service import report_case
from zhili.cases.taxonomy import load_defaults
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.intel import routing, store
from zhili.intel.models import CaseSuggestion, ModelState, ModelVersion
from zhili.intel.textmodel import ModelIntegrityError, TextModel

GARBAGE, STALL, NOISE = "SJ-0101", "SJ-0501", "SG-0201"  # shipped taxonomy leaves used below


class KeywordModel(TextModel):
    """Scores labels by keyword hits; probabilities are a softmax, so confidence grows with hits. Stored and loaded
    like any text model (:meth:`TextModel.dumps`: signed)."""

    def __init__(self, labels: Sequence[str], words: dict[str, list[str]], sharpness: float = 3.0) -> None:
        self.labels, self.words, self.sharpness = list(labels), words, sharpness

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        hits = np.array([[sum(w in t for w in self.words.get(label, [])) for label in self.labels]
                         for t in texts], dtype=float)
        e = np.exp(self.sharpness * hits)
        return e / e.sum(axis=1, keepdims=True)

    def explain(self, text: str, label: str, k: int = 5) -> list[str]:
        return [w for w in self.words.get(label, []) if w in text][:k]


def model(sharpness: float = 3.0) -> KeywordModel:
    return KeywordModel([GARBAGE, STALL, NOISE], {GARBAGE: ["垃圾", "清运"], STALL: ["摆摊", "占道"],
                                                  NOISE: ["噪音", "吵"], "clean": []}, sharpness)


def principal(db: Session, world: Any, who: str) -> Principal:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


@pytest.fixture
def env(db: Session, world: Any) -> Iterator[Any]:
    load_defaults(db)
    before = suggest.current()
    routing.install()
    routing.ROUTER.forget()
    yield world
    routing.ROUTER.forget()
    suggest.install(before)


def save(db: Session, world: Any, *, activate: bool = True, sharpness: float = 3.0, name: str = "category"
         ) -> ModelVersion:
    return store.save(db, principal=principal(db, world, "zhihui"), name=name, model=model(sharpness),
                      source="platform", params={}, metrics={"top1": 0.9}, n_train=10, seconds=0.1,
                      activate=activate)


def report(db: Session, world: Any, description: str, category: str | None = None) -> Case:
    data: dict[str, Any] = {"description": description, "lon": 119.1, "lat": 31.1}
    if category:
        data["category_code"] = category
    case, _ = report_case(db, principal=principal(db, world, "jumin"), channel=None, data=data)
    return case


# -- versions ----------------------------------------------------------------------------------------------------

def test_versions_are_numbered_per_name_and_one_is_active_at_a_time(env: Any, db: Session) -> None:
    one, two = save(db, env), save(db, env)
    assert (one.version, two.version) == (1, 2)
    assert (one.state, two.state) == (ModelState.retired, ModelState.active)
    assert two.activated_by == "zhihui" and two.trained_by == "zhihui"
    back = store.rollback(db, principal=principal(db, env, "zhihui"), name="category")
    assert back.id == one.id and one.state == ModelState.active and two.state == ModelState.retired
    assert [v.version for v in store.list_versions(db, principal=principal(db, env, "zhihui"))] == [2, 1]


def test_rolling_back_with_nothing_earlier_is_refused_in_chinese(env: Any, db: Session) -> None:
    save(db, env)
    with pytest.raises(DomainError):
        store.rollback(db, principal=principal(db, env, "zhihui"), name="category")


def test_a_model_whose_bytes_were_changed_is_never_loaded(env: Any, db: Session) -> None:
    v = save(db, env, activate=False)
    assert b"clean" in v.artifact  # the model's keyword list, pickled
    changed = v.artifact.replace(b"clean", b"dirty")
    db.execute(update(ModelVersion).where(ModelVersion.id == v.id).values(artifact=changed))
    db.expire_all()
    store._cache.clear()
    with pytest.raises(ModelIntegrityError):
        store.load(db, db.get(ModelVersion, v.id))
    with pytest.raises(ModelIntegrityError):  # nor activated
        store.activate(db, principal=principal(db, env, "zhihui"), name="category", version=v.version)


@pytest.mark.parametrize("who", ["shequ1", "lingdao", "wangge_a", "jumin"])
def test_only_the_command_centre_and_admins_manage_models(env: Any, db: Session, who: str) -> None:
    with pytest.raises(Forbidden):
        store.save(db, principal=principal(db, env, who), name="category", model=model(), source="platform",
                   params={}, metrics={}, n_train=0, seconds=0)
    with pytest.raises(Forbidden):
        routing.train_platform(db, principal=principal(db, env, who))


# -- the case loop -----------------------------------------------------------------------------------------------

def test_without_an_active_model_a_report_must_still_name_its_category(env: Any, db: Session) -> None:
    save(db, env, activate=False)
    with pytest.raises(ValidationFailed) as refused:
        report(db, env, "楼下垃圾没人清运")
    assert refused.value.code == "category_required" and refused.value.details == {"suggestions": []}


def test_the_active_model_classifies_a_report_filed_without_a_category(env: Any, db: Session) -> None:
    v = save(db, env)
    case = report(db, env, "楼下垃圾堆了三天没人清运")
    assert case.category_code == GARBAGE
    ev = db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "classify"))
    assert ev is not None and ev.payload["model"] == "category@1" and ev.payload["model_id"] == str(v.id)
    assert ev.payload["suggestions"][0]["terms"] == ["垃圾", "清运"]


def test_an_unsure_model_leaves_the_choice_to_a_person_with_its_suggestions(env: Any, db: Session) -> None:
    save(db, env, sharpness=0.5)
    with pytest.raises(ValidationFailed) as refused:
        report(db, env, "门口有人摆摊")
    shown = refused.value.details["suggestions"]
    assert shown[0]["code"] == STALL and shown[0]["name"] and shown[0]["p"] < 0.85


def test_activating_another_version_is_seen_by_the_router(env: Any, db: Session) -> None:
    save(db, env, sharpness=0.5)
    with pytest.raises(ValidationFailed):
        report(db, env, "门口有人摆摊")
    save(db, env, sharpness=3.0)
    routing.ROUTER.forget()  # what the models page and API do after an activation (else within a few seconds)
    assert report(db, env, "门口有人摆摊").category_code == STALL


# -- suggestions on a case ----------------------------------------------------------------------------------------

def test_suggestions_on_a_case_name_categories_and_are_remembered(env: Any, db: Session) -> None:
    save(db, env)
    case = report(db, env, "晚上楼下烧烤店很吵，噪音大", category=GARBAGE)
    advice = routing.suggestions_for_case(db, principal=principal(db, env, "zhihui"), case_id=case.id)
    assert advice.category[0].code == NOISE and advice.category[0].name and "噪音" in advice.category[0].terms
    assert advice.category_model == "category@1" and advice.department == []  # no department model yet
    row = db.scalar(select(CaseSuggestion).where(CaseSuggestion.case_id == case.id))
    assert row is not None and row.top[0]["label"] == NOISE and row.final_label is None


def test_taking_a_suggestion_accepts_the_case_and_records_the_choice(env: Any, db: Session) -> None:
    save(db, env)
    case = report(db, env, "晚上楼下烧烤店很吵，噪音大", category=GARBAGE)
    zhihui = principal(db, env, "zhihui")
    routing.suggestions_for_case(db, principal=zhihui, case_id=case.id)
    routing.take_suggestion(db, principal=zhihui, case_id=case.id, category_code=NOISE)
    assert case.state == CaseState.accepted and case.category_code == NOISE
    row = db.scalar(select(CaseSuggestion).where(CaseSuggestion.case_id == case.id))
    assert (row.final_label, row.corrected, row.decided_by) == (NOISE, False, "zhihui")


def test_a_different_choice_by_the_ordinary_accept_is_a_correction_weighted_at_retraining(env: Any, db: Session
                                                                                          ) -> None:
    from zhili.cases import engine

    save(db, env)
    case = report(db, env, "晚上楼下烧烤店很吵，噪音大", category=GARBAGE)
    zhihui = principal(db, env, "zhihui")
    routing.suggestions_for_case(db, principal=zhihui, case_id=case.id)
    engine.transition(db, principal=zhihui, case_id=case.id, action="accept", payload={"category_code": STALL})
    assert routing.settle_suggestions(db) == 1
    row = db.scalar(select(CaseSuggestion).where(CaseSuggestion.case_id == case.id))
    assert (row.final_label, row.corrected) == (STALL, True)
    other = report(db, env, "门口有人摆摊占道", category=STALL)  # a label needs two known outcomes to be learnt
    db.execute(update(Case).where(Case.id.in_([case.id, other.id])).values(state=CaseState.closed))
    rows = routing.training_rows(db, "category")
    i = next(k for k, t in enumerate(rows.texts) if "烧烤店" in t)
    assert rows.labels[i] == STALL and rows.weights[i] == routing.CORRECTION_WEIGHT and rows.corrections == 1


def test_a_case_outside_the_jurisdiction_has_no_suggestions_for_that_person(env: Any, db: Session) -> None:
    from zhili.core.errors import NotFound

    save(db, env)
    case = report(db, env, "楼下垃圾没人清运", category=GARBAGE)  # in grid ga (金陵社区)
    db.execute(update(Case).where(Case.id == case.id).values(path=env.units["gc"].path, grid_id=env.units["gc"].id))
    db.expire_all()
    with pytest.raises(NotFound):
        routing.suggestions_for_case(db, principal=principal(db, env, "shequ1"), case_id=case.id)


def test_training_data_is_the_known_outcomes_within_the_window(env: Any, db: Session) -> None:
    open_case = report(db, env, "门口有人摆摊", category=STALL)
    closed = [report(db, env, "楼下垃圾没人清运", category=GARBAGE) for _ in range(2)]
    db.execute(update(Case).where(Case.id.in_([c.id for c in closed])).values(state=CaseState.closed))
    rows = routing.training_rows(db, "category")
    assert open_case.id and rows.labels == [GARBAGE, GARBAGE]  # an open case's category may still change
    assert routing.training_rows(db, "category", since=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).texts == []


# -- the pages --------------------------------------------------------------------------------------------------

def test_the_report_form_suggests_categories_as_the_description_is_typed(env: Any, db: Session, client: Any
                                                                         ) -> None:
    from testmodules import TESTS, load

    pagekit = load("zhili_tests_web_pagekit", TESTS / "web" / "pagekit.py")
    page, sign_in = pagekit.page, pagekit.sign_in
    save(db, env)
    sign_in(client, env.tokens["jumin"])
    form = page(client.get("/h5/report"))
    assert 'hx-post="/h5/suggest-category"' in form.html
    token = form.csrf()
    r = client.post("/h5/suggest-category", data={"description": "楼下垃圾三天没人清运"},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    assert 'value="SJ-0101"' in r.text and "%" in r.text and "智能推荐类别" in r.text
    assert client.post("/h5/suggest-category", data={"description": "垃圾"}, headers={"X-CSRF-Token": token}
                       ).text.strip() == ""  # too short to suggest anything
