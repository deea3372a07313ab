"""Runs of the 4E scoring: every unit stored with figures, values and scores; scoring a closed period again gives
the stored run unless its inputs changed (then a new current run, the old one kept as history); weights are part of
the inputs; the what-if ranking saves nothing; an indicator formula outside the language, or naming a figure the
engine does not compute, is refused in Chinese with its position; only eval:admin may run or edit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from evaluation.test_indicators_by_hand import build  # the hand-built November of the world's grids
from zhili.cases.models import Case
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.evaluation import catalog, service
from zhili.evaluation.models import Result, Run
from zhili.users.service import principal_for_user

PERIOD = "2026-11"


@pytest.fixture
def zh(db: Session, world: Any) -> Any:
    build(db, world)
    return principal_for_user(db, user=world.users["zhihui"])


def test_a_run_stores_every_unit_and_a_closed_period_again_is_the_same_run(db: Session, world: Any, zh: Any) -> None:
    first = service.run_period(db, principal=zh, period=PERIOD)
    assert first.created and first.run.units == 8 and first.run.is_current
    assert len(first.run.framework["indicators"]) == len(catalog.INDICATORS)
    assert sum(first.run.framework["effective_weights"].values()) == pytest.approx(1.0, abs=1e-4)
    rows = {r.unit_code: r for r in db.scalars(select(Result).where(Result.run_id == first.run.id))}
    assert len(rows) == 8
    district = rows["330522"]
    assert district.level == "district" and district.rank == 1 and district.peers == 1
    assert district.metrics["cases"] > 0 and set(district.values) == {s.code for s in catalog.INDICATORS}
    before = {code: (r.total, dict(r.scores)) for code, r in rows.items()}

    again = service.run_period(db, principal=zh, period=PERIOD)
    assert not again.created and again.run.id == first.run.id
    assert db.scalar(select(func.count()).select_from(Run)) == 1
    after = {r.unit_code: (r.total, dict(r.scores)) for r in db.scalars(select(Result).where(
        Result.run_id == first.run.id))}
    assert after == before


def test_changed_data_makes_a_new_current_run_and_keeps_the_old(db: Session, world: Any, zh: Any) -> None:
    first = service.run_period(db, principal=zh, period=PERIOD)
    old_value = db.scalar(select(Result.values).where(Result.run_id == first.run.id,
                                                      Result.unit_code == "330522"))["E3_SATISFACTION"]
    db.execute(update(Case).where(Case.rating.is_not(None)).values(rating=1))  # every rated case rated 1 after all
    second = service.run_period(db, principal=zh, period=PERIOD)
    assert second.created and second.run.id != first.run.id
    assert second.run.inputs_hash != first.run.inputs_hash
    db.refresh(first.run)
    assert not first.run.is_current and second.run.is_current
    new_value = db.scalar(select(Result.values).where(Result.run_id == second.run.id,
                                                      Result.unit_code == "330522"))["E3_SATISFACTION"]
    assert new_value == 1.0 and old_value > 1.0
    assert db.scalar(select(func.count()).select_from(Result).where(Result.run_id == first.run.id)) == 8


def test_weights_are_inputs_and_the_what_if_saves_nothing(db: Session, world: Any, zh: Any) -> None:
    first = service.run_period(db, principal=zh, period=PERIOD)
    preview = service.what_if(db, principal=zh, period=PERIOD, weights={"E1": 0, "E2": 0, "E3": 1, "E4": 0},
                              level="community")
    assert {r["name"] for r in preview} == {"金陵社区", "画溪村"}
    assert db.scalar(select(func.count()).select_from(Run)) == 1
    only_e3 = {r["path"]: r["after_total"] for r in preview}
    stored = dict(db.execute(select(Result.path, Result.scores).where(Result.run_id == first.run.id,
                                                                      Result.level == "community")).all())
    for path, total in only_e3.items():  # with only 效益 weighted, the total is the 效益 score
        assert total == pytest.approx(stored[path]["E3"], abs=0.01)
    ws = service.save_weights(db, principal=zh, weights={"E3": 0.5}, name="重效益")
    assert ws.version == 2 and ws.is_active
    second = service.run_period(db, principal=zh, period=PERIOD)
    assert second.created and second.run.weight_version == 2


@pytest.mark.parametrize(("formula", "words"), [
    ("closed.real", "属性"),
    ("__import__('os')", "不允许"),
    ("cases[0]", "下标"),
    ("closed ** 2", "**"),
    ("pct(closed_late, closed)", "closed_late"),
    ("pct(closed_on_time, ", "语法错误"),
])
def test_formulas_outside_the_language_are_refused(db: Session, world: Any, zh: Any, formula: str,
                                                   words: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.update_indicator(db, principal=zh, code="E2_ON_TIME", changes={"formula": formula})
    assert refused.value.code == "formula_invalid"
    assert refused.value.message.startswith("计算公式有误") and words in refused.value.message, refused.value.message


def test_only_evaluation_administrators_run_and_edit(db: Session, world: Any, zh: Any) -> None:
    street = principal_for_user(db, user=world.users["jiedao1"])
    leader = principal_for_user(db, user=world.users["lingdao"])
    for who in (street, leader):
        with pytest.raises(Forbidden):
            service.run_period(db, principal=who, period=PERIOD)
        with pytest.raises(Forbidden):
            service.update_indicator(db, principal=who, code="E2_ON_TIME", changes={"target": 99})
    assert [i.code for i in service.list_indicators(db, principal=leader)][:2] == ["E1_PERSON_COMPLETE",
                                                                                  "E1_IOT_DENSITY"]
