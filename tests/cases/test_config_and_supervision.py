"""What the configuration pages read and write beyond the taxonomy and dispatch services (the category tree,
saving only real changes as versions, filtered rule lists, the rule test run) and the supervision list with its
jurisdiction, addressees, filters and urgency order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from casekit import add_taxonomy
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import config, engine, service, supervision, sweep
from zhili.cases.models import Case, Channel, Notification, Supervision
from zhili.core.db import utcnow
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.users.service import principal_for_user

GA_PATH = "330522/330522001/330522001001/330522001001001"
S1_PATH = "330522/330522001"
S2_PATH = "330522/330522002"


@pytest.fixture
def cats(db: Session, world: Any, fake_channel: Any) -> Any:
    return add_taxonomy(db)


def _p(db: Session, world: Any, who: str) -> Any:
    return principal_for_user(db, user=world.users[who])


# -- the category tree --------------------------------------------------------------------------------------

def test_the_tree_has_the_major_classes_on_top_and_a_search_keeps_only_matching_branches(db: Session,
                                                                                        cats: Any) -> None:
    tree = config.category_tree(db)
    assert [n.category.code for n in tree] == ["T01", "T02", "T03"]
    assert [c.category.code for c in tree[0].children] == ["T0101", "T0102", "T0109"]
    hit = config.category_tree(db, q="井盖")
    assert [n.category.code for n in hit] == ["T02"] and [c.category.code for c in hit[0].children] == ["T0201"]
    assert not hit[0].matched and hit[0].children[0].matched
    group = config.category_tree(db, q="T01")  # a code prefix: the class and everything in it
    assert [c.category.code for c in group[0].children] == ["T0101", "T0102", "T0109"]
    active = config.category_tree(db, include_retired=False)
    assert "T0109" not in [c.category.code for c in active[0].children]


def test_saving_an_unchanged_category_makes_no_version(db: Session, world: Any, cats: Any) -> None:
    p = _p(db, world, "admin")
    cat, changed = config.edit_category(db, principal=p, code="T0101", values={"name": "暴露垃圾",
                                                                                "handle_hours": 16.0})
    assert not changed and cat.version == 1
    cat, changed = config.edit_category(db, principal=p, code="T0101", values={"name": "暴露垃圾",
                                                                                "handle_hours": 12.0})
    assert changed and cat.version == 2 and cat.handle_hours == 12.0


# -- rules --------------------------------------------------------------------------------------------------

def _rules(db: Session, world: Any) -> dict[str, Any]:
    p = _p(db, world, "admin")
    out = {}
    for name, data in {
        "all-garbage": {"category_code": "T01", "target_department": "CG"},
        "s2-covers": {"category_code": "T0201", "region_path": S2_PATH, "target_department": "SW",
                      "co_departments": ["CG"]},
        "grid-noise": {"category_code": "T0301", "region_path": GA_PATH, "target_department": "GA",
                       "enabled": False},
    }.items():
        out[name], _ = config.save_rule(db, principal=p, rule_key=None, values={"name": name, **data})
    return out


def test_rules_are_filtered_by_what_they_apply_to(db: Session, world: Any, cats: Any) -> None:
    _rules(db, world)

    def names(**kw: Any) -> list[str]:
        return [r.name for r in config.list_rules(db, filters=config.RuleFilter(**kw))]

    assert names(category="T0101") == ["all-garbage"]  # a rule on the whole class applies to its categories
    assert names(category="T02") == ["s2-covers"]  # a class finds the rules on its categories
    assert set(names(region_path=S1_PATH)) == {"all-garbage", "grid-noise"}  # district-wide, and inside s1
    assert set(names(region_path=GA_PATH)) == {"all-garbage", "grid-noise"}
    assert names(department="CG") == ["all-garbage", "s2-covers"]  # as target or co-handler
    assert names(enabled=False) == ["grid-noise"]


def test_a_rule_must_name_a_known_category_and_a_region_in_the_callers_jurisdiction(db: Session, world: Any,
                                                                                   cats: Any) -> None:
    with pytest.raises(ValidationFailed, match="T9999"):
        config.save_rule(db, principal=_p(db, world, "admin"), rule_key=None,
                         values={"name": "x", "category_code": "T9999", "target_department": "CG"})
    with pytest.raises(ValidationFailed, match="区域"):
        config.save_rule(db, principal=_p(db, world, "zhihui"), rule_key=None,
                         values={"name": "x", "region_path": "330522/999", "target_department": "CG"})


def test_saving_a_rule_unchanged_makes_no_version(db: Session, world: Any, cats: Any) -> None:
    rules = _rules(db, world)
    key = rules["all-garbage"].rule_key
    values = {"name": "all-garbage", "category_code": "T01", "target_department": "CG"}
    _, changed = config.save_rule(db, principal=_p(db, world, "admin"), rule_key=key, values=values)
    assert not changed
    rule, changed = config.save_rule(db, principal=_p(db, world, "admin"), rule_key=key,
                                     values={**values, "priority": 5})
    assert changed and rule.version == 2 and rule.priority == 5


def test_the_test_run_names_the_department_the_unit_and_whether_it_would_go_automatically(db: Session,
                                                                                         world: Any,
                                                                                         cats: Any) -> None:
    _rules(db, world)
    p = _p(db, world, "admin")
    trial = config.try_rules(db, principal=p, category_code="T0201", description="井盖坏了", lon=None, lat=None,
                             unit_id=world.units["gc"].id)
    assert trial.match.rule is not None and trial.match.rule.name == "s2-covers"
    assert trial.department == "SW" and trial.department_name == "水务局" and trial.unit.code == "330522002001001"
    assert trial.auto_dispatch  # confidence 1.0 ≥ the threshold
    trial = config.try_rules(db, principal=p, category_code="T0201", description="井盖坏了", lon=119.1, lat=31.1,
                             unit_id=None)
    assert trial.match.rule is None and trial.department is None and trial.path == GA_PATH
    trial = config.try_rules(db, principal=p, category_code="T0301", description="噪音", lon=None, lat=None,
                             unit_id=world.units["ga"].id)
    assert trial.match.rule is None  # the only noise rule is retired


# -- supervision --------------------------------------------------------------------------------------------

def _case(db: Session, world: Any, *, lon: float, dispatch: dict[str, Any], urgency: str | None = None) -> Case:
    zhihui = _p(db, world, "zhihui")
    case, _ = service.report_case(db, principal=_p(db, world, "wangge_a" if lon < 119.5 else "zhihui"),
                                  channel=Channel.grid_worker if lon < 119.5 else Channel.hotline,
                                  data={"category_code": "T0101", "description": "垃圾", "lon": lon, "lat": 31.1})
    if urgency:
        case.urgency = urgency
    engine.transition(db, principal=zhihui, case_id=case.id, action="accept")
    engine.transition(db, principal=zhihui, case_id=case.id, action="dispatch", payload=dispatch)
    return case


def _rows(db: Session, world: Any, who: str, **kw: Any) -> list[tuple[str, str]]:
    rows, total = supervision.list_open_supervisions(db, principal=_p(db, world, who),
                                                     filters=supervision.SupervisionFilter(**kw))
    assert total == len(rows)
    return [(r.case.number, r.supervision.kind) for r in rows]


def test_the_list_is_scoped_like_the_cases_and_hides_answered_orders_and_closed_cases(db: Session, world: Any,
                                                                                     cats: Any) -> None:
    s1 = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id})
    s2 = _case(db, world, lon=119.6, dispatch={"unit_id": world.units["gc"].id})
    zhihui = _p(db, world, "zhihui")
    for c in (s1, s2):
        engine.transition(db, principal=zhihui, case_id=c.id, action="supervise", payload={"message": "快"})
    assert _rows(db, world, "jiedao1") == [(s1.number, "manual")]
    assert _rows(db, world, "jiedao2") == [(s2.number, "manual")]
    assert {n for n, _ in _rows(db, world, "lingdao")} == {s1.number, s2.number}
    with pytest.raises(Forbidden):  # the auditor reads no cases: refused by the service itself
        _rows(db, world, "shenji")
    with pytest.raises(NotFound):
        _rows(db, world, "jiedao1", unit_id=world.units["s2"].id)
    db.query(Supervision).filter(Supervision.case_id == s1.id).update({"acknowledged_at": utcnow()})
    assert _rows(db, world, "jiedao1") == []


def test_orders_addressed_to_a_department_or_a_superior_unit(db: Session, world: Any, cats: Any) -> None:
    world.users["bumen"].department = "CG"
    dept_case = _case(db, world, lon=119.1, dispatch={"department": "CG"})
    unit_case = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id})
    for c in (dept_case, unit_case):
        c.handle_due_at = utcnow() - dt.timedelta(hours=1)
    db.flush()
    sweep.sweep_deadlines(db)
    assert _rows(db, world, "bumen", addressed_to_me=True) == [(dept_case.number, "red")]
    # the grid's order is copied to its community (the superior), whose staff find it as theirs
    assert _rows(db, world, "shequ1", addressed_to_me=True) == [(unit_case.number, "red")]
    assert _rows(db, world, "jiedao1", addressed_to_me=True) == []
    assert {n for n, _ in _rows(db, world, "zhihui", department="CG")} == {dept_case.number}
    assert {n for n, _ in _rows(db, world, "zhihui", overdue_only=True)} == {dept_case.number, unit_case.number}


def test_the_addressee_answers_an_order_and_its_superior_and_the_command_centre_hear_the_reply(
        db: Session, world: Any, cats: Any) -> None:
    case = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id})
    case.handle_due_at = utcnow() - dt.timedelta(hours=1)
    db.flush()
    sweep.sweep_deadlines(db)
    [order] = db.scalars(select(Supervision).where(Supervision.case_id == case.id)).all()
    assert order.superior == world.units["c1"].code
    with pytest.raises(Forbidden, match="没有发给您"):  # the community is copied; the order is the grid's
        engine.transition(db, principal=_p(db, world, "shequ1"), case_id=case.id, action="answer_supervision",
                           payload={"reply": "社区代答"})
    engine.transition(db, principal=_p(db, world, "wangge_a"), case_id=case.id, action="answer_supervision",
                       payload={"reply": "已到现场处置"})
    assert (order.acknowledged_by, order.reply) == ("wangge_a", "已到现场处置")
    assert _rows(db, world, "shequ1", addressed_to_me=True) == []
    told = {(n.recipient, n.title) for n in db.scalars(select(Notification).where(Notification.case_id == case.id))}
    assert {(order.superior, "督办反馈"), ("command_centre", "督办反馈")} <= told
    assert (order.target, "督办反馈") not in told  # not to the one who answered


def test_the_most_urgent_orders_come_first(db: Session, world: Any, cats: Any) -> None:
    calm = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id})
    hot = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id}, urgency="emergency")
    late = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["gb"].id})
    zhihui = _p(db, world, "zhihui")
    for c in (calm, hot):
        engine.transition(db, principal=zhihui, case_id=c.id, action="supervise", payload={"message": "快"})
    late.handle_due_at = utcnow() - dt.timedelta(hours=1)
    db.flush()
    sweep.sweep_deadlines(db)
    assert _rows(db, world, "zhihui") == [(late.number, "red"), (hot.number, "manual"), (calm.number, "manual")]
    assert _rows(db, world, "zhihui", kind="manual") == [(hot.number, "manual"), (calm.number, "manual")]


def test_manual_supervision_by_number_goes_through_the_workflow(db: Session, world: Any, cats: Any) -> None:
    case = _case(db, world, lon=119.1, dispatch={"unit_id": world.units["ga"].id})
    supervision.supervise_case(db, principal=_p(db, world, "lingdao"), number=f" {case.number} ", message="请加快")
    assert _rows(db, world, "jiedao1") == [(case.number, "manual")]
    with pytest.raises(Forbidden, match="当前角色不能对该事件执行“督办”"):
        supervision.supervise_case(db, principal=_p(db, world, "jiedao1"), number=case.number, message="催")


def test_the_order_of_co_departments_and_keywords_is_no_change(db: Session, world: Any, cats: Any) -> None:
    p = _p(db, world, "admin")
    values = {"name": "x", "target_department": "CG", "co_departments": ["SW", "GA"], "keywords": ["垃圾", "堆放"]}
    rule, _ = config.save_rule(db, principal=p, rule_key=None, values=values)
    _, changed = config.save_rule(db, principal=p, rule_key=rule.rule_key,
                                  values={**values, "co_departments": ["GA", "SW"], "keywords": ["堆放", "垃圾"]})
    assert not changed
    _, changed = config.save_rule(db, principal=p, rule_key=rule.rule_key, values={**values, "keywords": ["垃圾"]})
    assert changed
