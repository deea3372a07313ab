"""Hot issues (zhili.intel.hot, zhili.intel.hot_cases): an injected cluster of reports about one place and one
subject comes out as one issue; different subjects or different places stay apart; the platform's computation
sees only the principal's jurisdiction. All data is generated here."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy.orm import Session

from zhili.core.errors import Forbidden, NotFound
from zhili.intel.hot import HotDoc, heat, hot_issues

T0 = dt.datetime(2026, 3, 1, 9, 0)

FUMES = ["{p}楼下烧烤店油烟太大，晚上噪音扰民睡不着", "{p}的餐馆夜宵摊油烟直冲住户窗户，半夜还很吵",
         "投诉{p}临街饭店油烟和噪音问题，严重影响居民休息", "{p}楼下餐饮店排烟管道油烟熏人，凌晨还在营业喧哗",
         "请管管{p}烧烤夜宵店，油烟呛人，深夜噪音不断"]
PARKING = ["{p}物业乱收停车费，地面车位每月收三百元", "{p}物业强行收取停车管理费，业主不同意",
           "投诉{p}物业停车收费标准不合理，未经业主大会同意", "{p}物业把公共车位出租收费，侵占业主权益"]
NOISE_SUBJECTS = ["路灯不亮已经一个月", "下水道堵塞污水外溢", "小学门口交通拥堵缺少交警", "垃圾桶满了没人清运",
                  "公交站台破损需要维修", "自来水水压太低用不上水", "违章搭建阻挡消防通道", "流浪狗伤人无人管理",
                  "井盖缺失有安全隐患", "医保报销手续太繁琐", "农村道路坑洼难行", "电梯经常困人"]
NOISE_PLACES = [f"{a + b}小区" for a in "东南西北中青红金银春夏秋冬" for b in "湖山河林园桥港湾苑峰"]


def fumes_cluster(place: str = "翠湖花园", n: int = 20, start: dt.datetime = T0, tag: str = "f") -> list[HotDoc]:
    rng = random.Random(place + tag)
    variants = [place + "小区", place, place + "3栋", place + "小区北门"]
    return [HotDoc(id=f"{tag}{i}", title=None, text=rng.choice(FUMES).format(p=rng.choice(variants)),
                   time=start + dt.timedelta(hours=rng.uniform(0, 14 * 24)), votes=rng.randint(0, 3),
                   reporter=f"r{rng.randint(1, 8)}") for i in range(n)]


def parking_cluster(place: str = "翠湖花园", n: int = 10) -> list[HotDoc]:
    rng = random.Random(place + "p")
    return [HotDoc(id=f"p{i}", text=rng.choice(PARKING).format(p=place + rng.choice(["小区", ""])),
                   time=T0 + dt.timedelta(days=rng.uniform(0, 14)), reporter=f"q{i}") for i in range(n)]


def noise(n: int = 300, seed: int = 7) -> list[HotDoc]:
    rng = random.Random(seed)
    places = rng.sample(NOISE_PLACES, k=len(NOISE_PLACES))
    out = []
    for i in range(n):
        place = places[i % len(places)]
        subject = NOISE_SUBJECTS[(i * 7 + i // len(places)) % len(NOISE_SUBJECTS)]
        out.append(HotDoc(id=f"n{i}", title=f"{place}{subject}", text=f"我们{place}{subject}，请相关部门处理。",
                          time=T0 - dt.timedelta(days=rng.uniform(0, 80)), reporter=f"n{i}"))
    return out


def test_an_injected_cluster_amid_noise_is_one_hot_issue_ranked_first() -> None:
    cluster = fumes_cluster()
    issues = hot_issues([*noise(), *cluster], top=5)
    first = issues[0]
    assert sorted(first.ids) == sorted(d.id for d in cluster)
    assert first.places == ["翠湖花园"]
    assert {"油烟", "噪音"} & set(first.terms)
    assert first.representative_id in first.ids and "翠湖花园" in first.representative_text
    assert first.first == min(d.time for d in cluster) and first.last == max(d.time for d in cluster)
    assert first.reporters == len({d.reporter for d in cluster}) and first.votes == sum(d.votes for d in cluster)
    assert all(not set(i.ids) & set(first.ids) for i in issues[1:])


def test_two_subjects_at_one_place_are_two_issues() -> None:
    fumes, parking = fumes_cluster(n=12), parking_cluster()
    issues = hot_issues([*noise(120), *fumes, *parking], top=5)
    groups = [set(i.ids) for i in issues[:2]]
    assert {frozenset(g) for g in groups} == {frozenset(d.id for d in fumes), frozenset(d.id for d in parking)}


def test_one_subject_at_two_places_is_two_issues() -> None:
    a, b = fumes_cluster("翠湖花园", 10, tag="a"), fumes_cluster("金桥小区", 10, tag="b")
    issues = hot_issues([*noise(120), *a, *b], top=5)
    assert {frozenset(i.ids) for i in issues[:2]} == {frozenset(d.id for d in a), frozenset(d.id for d in b)}


def test_reports_far_apart_in_time_are_not_linked() -> None:
    early = fumes_cluster(n=3, tag="e")
    late = fumes_cluster(n=3, start=T0 + dt.timedelta(days=200), tag="l")
    issues = hot_issues([*early, *late], window_days=90)
    assert {frozenset(i.ids) for i in issues} == {frozenset(d.id for d in early), frozenset(d.id for d in late)}


def test_near_identical_reports_without_a_place_are_one_issue_unless_from_two_counties() -> None:
    text = "农村医疗保险缴费标准每年上涨，农民负担太重，请求说明政策依据"
    same = [HotDoc(id=f"s{i}", title=f"咨询F5县农村医疗保险缴费{'问题' if i else ''}", text=text,
                   time=T0 + dt.timedelta(days=i)) for i in range(3)]
    other = [HotDoc(id="o1", title="咨询M12县农村医疗保险缴费问题", text=text, time=T0)]
    issues = hot_issues([*same, *other])
    assert [sorted(i.ids) for i in issues] == [["s0", "s1", "s2"]]


def test_min_size_and_an_empty_input() -> None:
    assert hot_issues([]) == []
    cluster = fumes_cluster(n=4)
    assert hot_issues(cluster, min_size=5) == []
    assert len(hot_issues(cluster, min_size=4)) == 1


def test_texts_that_share_no_two_characters_make_no_issue() -> None:
    # two short unrelated reports: no bigram occurs twice, nothing to weigh (it raised on an empty array)
    docs = [HotDoc(id="a", text="路灯不亮", time=T0), HotDoc(id="b", text="井盖缺失", time=T0)]
    assert hot_issues(docs, min_size=2) == []


def test_heat_grows_with_reporters_supports_and_recency() -> None:
    base = dict(size=10, reporters=5, votes=0, span_days=7.0, age_days=0.0)
    assert heat(**{**base, "reporters": 8}) > heat(**base)
    assert heat(**{**base, "votes": 50}) > heat(**base)
    assert heat(**{**base, "age_days": 30.0}) == pytest.approx(heat(**base) / 2)
    # a hundred likes weigh like a handful of reports, not a hundred
    assert heat(**{**base, "votes": 100}) < heat(**{**base, "size": 20, "reporters": 15})


def test_the_recent_cluster_outranks_an_equal_older_one() -> None:
    old = fumes_cluster("翠湖花园", 8, start=T0 - dt.timedelta(days=120), tag="o")
    new = fumes_cluster("金桥小区", 8, tag="n")
    issues = hot_issues([*old, *new])
    assert set(issues[0].ids) == {d.id for d in new}


# -- in the platform ---------------------------------------------------------------------------------------------

def _add_cases(db: Session, unit: object, texts: list[str], *, start: dt.datetime, state: str = "reported",
               master: uuid.UUID | None = None) -> list[object]:
    from zhili.cases.models import Case, CaseState, Channel

    out = []
    for i, text in enumerate(texts):
        at = start + dt.timedelta(hours=7 * i)
        case = Case(number=f"T{uuid.uuid4().hex[:12]}", channel=Channel.resident, state=CaseState(state),
                    title=text[:20], description=text, path=unit.path, grid_id=unit.id,  # type: ignore[attr-defined]
                    reported_at=at, reported_day=at.date(), support_count=i % 3,
                    reporter_phone_bidx=f"phone{i % 4}", master_case_id=master)
        db.add(case)
        out.append(case)
    db.flush()
    return out


def test_in_the_platform_staff_see_the_hot_issues_of_their_own_jurisdiction(db: Session, world: object) -> None:
    from zhili.core.clock import utcnow
    from zhili.intel.hot_cases import hot_issues_for
    from zhili.users.service import principal_for_user

    units, users = world.units, world.users  # type: ignore[attr-defined]
    start = utcnow() - dt.timedelta(days=10)
    rng = random.Random(3)
    mine = _add_cases(db, units["ga"], [rng.choice(FUMES).format(p="翠湖花园小区") for _ in range(6)], start=start)
    theirs = _add_cases(db, units["gc"], [rng.choice(FUMES).format(p="画溪花园") for _ in range(6)], start=start)
    merged = _add_cases(db, units["ga"], [FUMES[0].format(p="翠湖花园")], start=start, state="merged",
                        master=mine[0].id)  # type: ignore[attr-defined]

    def ids(who: str, **kw: object) -> list[set[str]]:
        principal = principal_for_user(db, user=users[who])
        return [set(i.ids) for i in hot_issues_for(db, principal=principal, **kw)]  # type: ignore[arg-type]

    mine_ids = {str(c.id) for c in mine}  # type: ignore[attr-defined]
    theirs_ids = {str(c.id) for c in theirs}  # type: ignore[attr-defined]
    assert sorted(ids("zhihui"), key=sorted) == sorted([mine_ids, theirs_ids], key=sorted)
    assert ids("shequ1") == [mine_ids]  # the community staff: only their community's cases
    assert str(merged[0].id) not in set().union(*ids("zhihui"))  # type: ignore[attr-defined]
    assert ids("zhihui", unit_id=units["c2"].id) == [theirs_ids]
    issue = hot_issues_for(db, principal=principal_for_user(db, user=users["shequ1"]))[0]
    assert len(issue.numbers) == len(issue.ids) and issue.reporters == 4 and issue.votes == sum(i % 3 for i in range(6))
    with pytest.raises(NotFound):
        hot_issues_for(db, principal=principal_for_user(db, user=users["shequ1"]), unit_id=units["c2"].id)
    with pytest.raises(Forbidden):
        hot_issues_for(db, principal=principal_for_user(db, user=users["jumin"]))
