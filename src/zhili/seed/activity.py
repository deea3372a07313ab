"""Demo activity beyond the case history: the demo grid workers' household visits (入户走访), notices of the
district, the demo street and the demo community (公告), and the demo resident's suggestions (居民建议) with the
staff's replies — so the visit, notice and suggestion pages of a fresh demo have something real to show.

Everything goes through the domain services, as the demo account that would do it in real life, so each record is
validated, scoped to its author's jurisdiction and written to the audit chain exactly as one entered on a page.
Run by ``zhili seed`` after the registers and the case history; deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.db import utcnow
from zhili.core.jurisdiction import Principal
from zhili.participation import service as participation
from zhili.regions.models import Unit
from zhili.registry.models import Household, Person, PersonStatus
from zhili.users.models import User
from zhili.users.service import principal_for_user
from zhili.visits import service as visits
from zhili.visits.models import VisitKind

# Share of a demo grid's households visited in the last 30 days (the coverage pages' window), by scale; the rest
# are left for the coverage figures to show as not yet visited.
VISIT_SHARE = {"small": 0.55, "medium": 0.45, "large": 0.35}
VISITS_PER_WORKER_MAX = 120

_KINDS: tuple[tuple[VisitKind, float], ...] = (
    (VisitKind.routine, 0.5), (VisitKind.care, 0.15), (VisitKind.rental_check, 0.14),
    (VisitKind.safety_check, 0.11), (VisitKind.dispute_follow_up, 0.05), (VisitKind.other, 0.05),
)
_SUMMARIES: dict[VisitKind, tuple[str, ...]] = {
    VisitKind.routine: ("日常走访，了解家庭近况，住户反映无困难", "上门核对户内人员信息，与登记一致",
                        "走访宣传防诈骗知识，发放宣传资料", "了解住户对小区物业服务的意见"),
    VisitKind.care: ("看望独居老人，身体状况良好，已提醒按时服药", "关爱走访困难家庭，了解救助需求",
                     "探望残疾人家庭，协助预约上门康复服务"),
    VisitKind.rental_check: ("核查出租房屋，租客信息已登记", "出租房屋核查，提醒房东及时办理居住登记",
                             "核查流动人口居住情况，信息无变化"),
    VisitKind.safety_check: ("安全隐患排查，检查燃气管道及灭火器", "排查电动车室内充电情况",
                             "检查楼道消防通道是否畅通"),
    VisitKind.dispute_follow_up: ("回访邻里噪音纠纷，双方已达成谅解", "回访漏水纠纷调解情况，维修已完成"),
    VisitKind.other: ("协助住户办理社保认证", "核实住户反映的路灯问题位置"),
}
_FINDINGS: dict[VisitKind, tuple[str, ...]] = {
    VisitKind.safety_check: ("楼道堆放杂物，已提醒三日内清理", "发现电动车在室内充电，已劝导整改"),
    VisitKind.rental_check: ("一名租客尚未办理居住登记，已告知办理流程",),
    VisitKind.care: ("老人希望增加助餐服务，已转社区",),
}

_NOTICES: tuple[tuple[str, str, str, bool], ...] = (  # (level: district | street | community, title, body, pinned)
    ("district", "关于开展冬季消防安全大排查的通告",
     "为切实做好冬季火灾防控工作，即日起至明年2月底，全区开展消防安全大排查。请居民群众配合网格员入户检查，"
     "不在楼道、疏散通道内停放电动自行车或为其充电，发现火灾隐患可拨打12345或通过“智理”居民端反映。", True),
    ("district", "12345政务服务便民热线服务指南",
     "12345热线24小时受理咨询、求助、投诉、建议。居民也可通过“智理”居民端随手拍上报身边问题，"
     "办理进度和结果可随时查询并评价。", False),
    ("street", "街道便民服务中心窗口调整公告",
     "自下月1日起，街道便民服务中心社保、医保窗口合并为综合窗口，办理时间为工作日 8:30–17:00，"
     "调休上班日正常对外服务。", False),
    ("community", "小区二次供水设施清洗停水通知",
     "本周六 8:00–14:00 对小区二次供水水箱进行清洗消毒，届时暂停供水，请住户提前储水。如遇问题请联系社区网格员。",
     True),
    ("community", "社区老年食堂开放报名",
     "社区老年食堂本月起正式运营，70周岁以上老人可凭身份证到社区服务站报名，独居、失能老人可申请送餐上门。",
     False),
)

_SUGGESTIONS: tuple[tuple[str, str, str | None], ...] = (  # (title, body, the staff reply or None)
    ("建议增设电动自行车集中充电桩", "小区电动车多，很多人从楼上拉电线充电，存在安全隐患，建议在车棚增设充电桩。",
     "感谢您的建议。社区已与物业对接，计划在3号、7号楼车棚新增充电桩40个，预计下月底前完工。"),
    ("小区东门晚上路灯太暗", "东门到菜场的路段晚上很暗，老人出行不方便，希望能加装路灯。",
     "已转交街道城建办现场勘查，将增设两盏路灯，施工期间请注意安全。"),
    ("希望周末开放社区图书室", "工作日上班没时间去，希望图书室周六也能开放。", None),
    ("建议规范小区广场舞时间", "晚上九点以后广场舞音乐声音仍很大，影响休息。", None),
)


def _principal(session: Session, username: str) -> Principal | None:
    user = session.scalar(select(User).where(User.username == username))
    return principal_for_user(session, user=user) if user is not None else None


def _pick_kind(rng: random.Random) -> VisitKind:
    return rng.choices([k for k, _ in _KINDS], weights=[w for _, w in _KINDS])[0]


def _seed_visits(session: Session, worker: Principal, *, share: float, rng: random.Random, now: dt.datetime
                 ) -> int:
    """Visits by one grid worker to a share of their grid's households over the last 30 days."""
    households: Sequence[Any] = session.scalars(
        select(Household.id).where(Household.grid_id.in_(worker.unit_ids)).order_by(Household.id)).all()
    chosen = rng.sample(list(households), min(len(households), int(len(households) * share),
                                               VISITS_PER_WORKER_MAX))
    members: dict[Any, list[Any]] = {}
    for pid, hid in session.execute(select(Person.id, Person.household_id).where(
            Person.household_id.in_(chosen), Person.status == PersonStatus.active).order_by(Person.id)):
        members.setdefault(hid, []).append(pid)
    for hid in chosen:
        kind = _pick_kind(rng)
        # working hours of a recent day (local time is UTC+8: 01:00–09:00 UTC)
        when = (now - dt.timedelta(days=rng.randint(0, 28))).replace(hour=rng.randint(1, 9),
                                                                      minute=rng.randrange(0, 60, 5))
        when = min(when, now)
        people = members.get(hid, [])
        met = rng.sample(people, min(len(people), rng.randint(1, 2))) if people else []
        findings = rng.choice(_FINDINGS[kind]) if kind in _FINDINGS and rng.random() < 0.4 else None
        visits.record_visit(session, principal=worker, household_id=hid, kind=kind,
                            summary=rng.choice(_SUMMARIES[kind]), findings=findings, visited_at=when,
                            person_ids=met, now=now)
    return len(chosen)


def seed_activity(session: Session, *, scale: str, seed: int = 20261123, now: dt.datetime | None = None
                  ) -> dict[str, int]:
    """Visits, notices and suggestions for the demo accounts of a seeded district; row counts by table. Accounts
    the district lacks are skipped."""
    rng = random.Random(seed)
    now = now or utcnow()
    counts = {"visit": 0, "notice": 0, "suggestion": 0, "suggestion_reply": 0}
    for username in ("wangge1", "wangge2"):
        worker = _principal(session, username)
        if worker is not None:
            counts["visit"] += _seed_visits(session, worker, share=VISIT_SHARE.get(scale, 0.4), rng=rng, now=now)

    publishers = {"district": _principal(session, "zhihui"), "street": _principal(session, "jiedao"),
                  "community": _principal(session, "shequ")}
    for i, (level, title, body, pinned) in enumerate(_NOTICES):
        author = publishers[level]
        if author is None or not author.unit_ids:
            continue
        participation.create_notice(session, principal=author, data={
            "unit_id": author.unit_ids[0], "title": title, "body": body, "pinned": pinned,
            "publish_at": now - dt.timedelta(days=2 * (len(_NOTICES) - i), hours=3)})
        counts["notice"] += 1

    resident, community_staff = _principal(session, "jumin"), publishers["community"]
    if resident is not None and community_staff is not None and community_staff.unit_ids:
        home = session.get(Unit, community_staff.unit_ids[0])
        assert home is not None
        participation.set_resident_community(session, principal=resident, community_id=home.id)
        for title, body, reply in _SUGGESTIONS:
            s = participation.submit_suggestion(session, principal=resident, title=title, body=body)
            counts["suggestion"] += 1
            if reply is not None:
                participation.reply_suggestion(session, principal=community_staff, suggestion_id=s.id, body=reply)
                counts["suggestion_reply"] += 1
    session.flush()
    return counts
