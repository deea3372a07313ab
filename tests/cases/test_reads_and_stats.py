"""What the case loop offers other domains: the public-case reads, residents' supports (附议) counted apart from
merged cases, case numbers and category names, and the statistics read model (by unit, by day, by category, live
counts)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from casekit import Kit
from sqlalchemy import func, select

from zhili.cases import reads, rollup, stats
from zhili.cases.models import CaseStat, CaseSupport
from zhili.cases.support import add_support
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

PUBLIC = ["T01"]  # the allow-list of the tests: 市容环境 is public, 公用设施 and 社会治安 are not


def _id(case: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(case["id"])


# -- public cases --------------------------------------------------------------------------------------------

def test_public_cases_are_open_unmerged_and_of_an_allowed_category_under_the_path(kit: Kit, public_rule: Any
                                                                                   ) -> None:
    public_rule(PUBLIC)
    district, c1 = kit.unit("district"), kit.unit("c1")
    shown = kit.report("jumin", description="路口垃圾堆放")
    in_c2 = kit.report("jumin", lon=119.6, description="村口垃圾堆放")
    private = kit.report("jumin", category="T0301", description="夜间噪声")
    merged = kit.report("jumin2", lon=119.1004, description="路口垃圾没人清理")
    kit.step("zhihui", merged, "merge", to="merged", master_id=shown["id"])
    rejected = kit.report("jumin2", description="无效上报")
    kit.step("zhihui", rejected, "reject", to="rejected", reason="重复测试数据")
    viewer = kit.user("jumin2").id

    rows = reads.public_cases(kit.db, viewer_id=viewer, under=district.path)
    assert {r.id for r in rows} == {_id(shown), _id(in_c2)}
    assert {r.id for r in reads.public_cases(kit.db, viewer_id=viewer, under=district.path,
                                             within=c1.path)} == {_id(shown)}
    assert reads.public_cases(kit.db, viewer_id=viewer, under=district.path,
                              box=(119.55, 31.05, 119.65, 31.15))[0].id == _id(in_c2)
    assert reads.public_cases(kit.db, viewer_id=viewer, under=district.path,
                              category="T0102") == []
    row = reads.public_case(kit.db, viewer_id=kit.user("jumin").id, case_id=_id(shown))
    assert (row.category_name, row.state_label, row.own, row.supported) == ("暴露垃圾", "已上报", True, False)
    for hidden in (private, merged, rejected):
        with pytest.raises(NotFound):
            reads.public_case(kit.db, viewer_id=viewer, case_id=_id(hidden))
    # the allow-list is the one rule's (zhili.cases.public): with 社会治安 on it, the noise case is public
    public_rule(["T03"])
    assert reads.public_case(kit.db, viewer_id=viewer, case_id=_id(private)).id == _id(private)


def test_case_numbers_and_category_names_for_other_domains(kit: Kit) -> None:
    a, b = kit.report("jumin"), kit.report("jumin", category="T0201", description="井盖破损")
    assert reads.case_numbers(kit.db, case_ids={_id(a), _id(b)}) == {_id(a): a["number"], _id(b): b["number"]}
    assert reads.case_numbers(kit.db, case_ids=set()) == {}
    assert reads.category_names(kit.db, codes=["T0101", "T03", "NOPE"]) == {"T0101": "暴露垃圾", "T03": "社会治安"}


# -- supports and merged cases, counted apart ----------------------------------------------------------------

def test_a_support_and_a_merged_case_are_counted_separately(kit: Kit, public_rule: Any) -> None:
    public_rule(PUBLIC)
    master = kit.report("jumin", description="路口垃圾堆放")
    dup = kit.report("wangge_a", lon=119.1004, description="路口垃圾没人清理")
    kit.step("zhihui", dup, "merge", to="merged", master_id=master["id"])
    row = add_support(kit.db, principal=kit.principal("jumin2"), case_id=_id(master))
    assert (row.support_count, row.supported) == (1, True)

    case = kit.case(master["id"])
    assert (case.support_count, case.merged_count) == (1, 1)
    assert kit.db.scalar(select(func.count()).select_from(CaseSupport)) == 1
    shown = kit.detail(master["id"])
    assert (shown["support_count"], shown["merged_count"]) == (1, 1)
    assert kit.audit("case.support", master["id"])[0].actor_name == "jumin2"


def test_a_support_is_a_residents_once_and_never_for_their_own_case(kit: Kit, public_rule: Any) -> None:
    public_rule(PUBLIC)
    case = kit.report("jumin")
    with pytest.raises(Forbidden):
        add_support(kit.db, principal=kit.principal("zhihui"), case_id=_id(case))
    with pytest.raises(ValidationFailed) as own:
        add_support(kit.db, principal=kit.principal("jumin"), case_id=_id(case))
    assert own.value.code == "own_case"
    public_rule(["T03"])
    with pytest.raises(NotFound):  # not on the allow-list
        add_support(kit.db, principal=kit.principal("jumin2"), case_id=_id(case))
    public_rule(PUBLIC)
    version = kit.case(case["id"]).version
    add_support(kit.db, principal=kit.principal("jumin2"), case_id=_id(case))
    with pytest.raises(Conflict):
        add_support(kit.db, principal=kit.principal("jumin2"), case_id=_id(case))
    after = kit.case(case["id"])
    assert (after.support_count, after.merged_count, after.version) == (1, 0, version)


def test_merged_reporters_are_told_of_the_masters_progress_and_supporters_are_not(kit: Kit, public_rule: Any
                                                                                   ) -> None:
    public_rule(PUBLIC)
    master = kit.report("jumin", description="路口垃圾堆放")
    add_support(kit.db, principal=kit.principal("jumin2"), case_id=_id(master))
    kit.fake.sent.clear()
    kit.step("zhihui", master, "accept", to="accepted")
    told = {m.user_id for m in kit.fake.sent if m.title == "您反映的问题已受理"}
    assert told == {kit.user("jumin").id}  # a supporter is no reporter
    dup = kit.report("jumin2", lon=119.1004, description="路口垃圾没人清理")
    kit.step("zhihui", dup, "merge", to="merged", master_id=master["id"])
    kit.fake.sent.clear()
    kit.step("zhihui", master, "dispatch", department="CG")
    told = {m.user_id for m in kit.fake.sent if m.title == "您反映的问题已派遣处置"}
    assert told == {kit.user("jumin").id, kit.user("jumin2").id}


# -- the statistics read model -------------------------------------------------------------------------------

DAY = dt.date(2026, 2, 10)


def _stat(kit: Kit, unit: str, day: dt.date, code: str, **figures: int) -> None:
    kit.db.add(CaseStat(path=kit.unit(unit).path, day=day, category_code=code,
                        **{f: figures.get(f, 0) for f in stats.FIGURES}))


@pytest.fixture
def figures(kit: Kit) -> Kit:
    """Statistics rows written as the case loop keeps them (grid × day × category), the rollup rebuilt."""
    _stat(kit, "ga", DAY, "T0101", reported=4, accepted=4, closed=3, closed_on_time=2, rating_sum=9, rating_count=2)
    _stat(kit, "ga", DAY, "T0201", reported=1, accepted=1, overdue=1)
    _stat(kit, "gb", DAY + dt.timedelta(days=1), "T0101", reported=2, closed=1, closed_on_time=1)
    _stat(kit, "gc", DAY, "T0301", reported=7)
    _stat(kit, "ga", DAY - dt.timedelta(days=1), "T0101", reported=50)  # before the range
    kit.db.flush()
    rollup.rebuild(kit.db)
    return kit


def test_a_units_figures_are_its_whole_subtree_over_the_days(figures: Kit) -> None:
    kit, until = figures, DAY + dt.timedelta(days=1)
    c1 = stats.unit_totals(kit.db, path=kit.unit("c1").path, since=DAY, until=until)
    assert (c1.reported, c1.accepted, c1.closed, c1.closed_on_time, c1.overdue) == (7, 5, 4, 3, 1)
    assert (c1.on_time_rate, c1.satisfaction, c1.overdue_rate) == (0.75, 4.5, 0.1429)
    assert stats.unit_totals(kit.db, path=kit.unit("district").path, since=DAY, until=until).reported == 14
    one_day = stats.unit_totals(kit.db, path=kit.unit("c1").path, since=DAY, until=DAY, figures=("reported",))
    assert (one_day.reported, one_day.closed) == (5, 0)  # only the figures asked for are summed
    # the same numbers from the grid rows, for any path
    assert stats.subtree_totals(kit.db, path=kit.unit("c1").path, since=DAY, until=until) == c1
    assert stats.subtree_totals(kit.db, path=kit.unit("ga").path, since=DAY, until=until).reported == 5


def test_figures_by_unit_by_day_and_by_category(figures: Kit) -> None:
    kit, until = figures, DAY + dt.timedelta(days=1)
    ga, gb, gc = (kit.unit(n).path for n in ("ga", "gb", "gc"))
    by_unit = stats.totals_by_unit(kit.db, paths=[ga, gb, gc], since=DAY, until=until)
    assert {p: f.reported for p, f in by_unit.items()} == {ga: 5, gb: 2, gc: 7}
    assert stats.totals_by_unit(kit.db, paths=[ga], since=DAY + dt.timedelta(days=1), until=until) == {}
    days = stats.daily(kit.db, path=kit.unit("c1").path, since=DAY - dt.timedelta(days=1), until=until,
                       figures=("reported", "closed"))
    assert {d: (f.reported, f.closed, f.accepted) for d, f in days.items()} == {
        DAY - dt.timedelta(days=1): (50, 0, 0), DAY: (5, 3, 0), until: (2, 1, 0)}
    cats = stats.by_category(kit.db, path=kit.unit("s1").path, since=DAY, until=until)
    assert {c: (f.reported, f.overdue) for c, f in cats.items()} == {"T0101": (6, 0), "T0201": (1, 1)}
    with pytest.raises(ValueError):
        stats.unit_totals(kit.db, path=ga, since=DAY, until=until, figures=("reported", "nope"))


def test_live_counts_are_the_open_and_overdue_cases_now(kit: Kit) -> None:
    a, b = kit.report("jumin"), kit.report("jumin", lon=119.6)
    closed = kit.report("jumin2")
    kit.step("zhihui", closed, "reject", to="rejected", reason="重复测试数据")
    kit.case(a["id"]).overdue = True
    kit.db.flush()
    assert stats.live_open(kit.db, path=kit.unit("district").path) == stats.LiveCounts(open=2, overdue=1)
    assert stats.live_open(kit.db, path=kit.unit("c2").path) == stats.LiveCounts(open=1, overdue=0)
    points = reads.open_case_points(kit.db, path=kit.unit("c2").path, limit=10)
    assert [(p.id, p.number, p.lon, p.overdue) for p in points] == [(_id(b), b["number"], 119.6, False)]
