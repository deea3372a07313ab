"""A year of grassroots work behind the demo's 4E scores, written with bulk inserts like the case history:

* **the grid-worker roster** (网格员名册): every grid without an active grid worker gets one account, named, bound to
  the grid, that cannot sign in (no password: an administrator activates it) — so 网格员配备率 reads a real roster;
  some grids (about one in eight) stay unstaffed;
* **household visits over twelve months**: each grid's worker visits a share of its households every month, the
  share a persistent trait of the grid (some grids are thorough, some thin), care residents (重点关爱) met more often;
* **when each grid's register was last checked** (``person.updated_at``): a date per grid within the last ~500
  days, so 基础数据更新及时率 differs between grids and across the months;
* **supervisions** (督办) of the overdue cases of the history: a yellow or red card issued at the deadline, most
  answered within a working day or two, some never.

Idempotent enough for a demo: the roster skips grids that have a worker; visits, dates and supervisions are only
written when the district has none of that kind from this seeder (``worker_name`` of the roster accounts)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import String, cast, func, insert, select, update
from sqlalchemy.orm import Session

from zhili.cases.models import Case, Supervision
from zhili.core.db import utcnow
from zhili.core.ids import new_id
from zhili.core.query import starts_with_text
from zhili.core.security import Role
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.registry.models import Household, Person, PersonStatus
from zhili.users.models import User, UserUnit
from zhili.visits.models import Visit, VisitKind, VisitPerson

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
             "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_GIVEN = ("建华国强文明丽娟秀英志刚海燕春梅晓东伟军敏静丹红霞俊杰雪梅玉"
          "兰德明金凤淑珍永红鹏飞婷婷欣怡佳慧子轩浩然")
_SUMMARIES = {
    VisitKind.routine: ("入户了解家庭基本情况，核对人员信息", "走访住户，宣传平安建设和反诈知识"),
    VisitKind.care: ("看望独居老人，了解生活起居和健康情况", "走访困难家庭，了解救助需求"),
    VisitKind.safety_check: ("检查楼道消防通道和电动车充电情况", "排查燃气使用安全隐患"),
    VisitKind.rental_check: ("核查出租房屋租住人员登记情况",),
}
ROSTER_PREFIX = "gw_"
# visits per grid and month are capped so the large demo's year stays a few hundred thousand rows
MONTHLY_CAP = {"small": 60, "medium": 40, "large": 12}


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def seed_fieldwork(session: Session, *, scale: str, months: int = 12, seed: int = 2026_19,
                   now: dt.datetime | None = None) -> dict[str, int]:
    """Roster, visits, register check dates and supervisions for the district; row counts by table."""
    rng = random.Random(seed)
    now = now or utcnow()
    grids: list[Any] = list(session.execute(select(Unit.id, Unit.code, Unit.path).where(
        Unit.level == UnitLevel.grid, Unit.valid_to == OPEN_END).order_by(Unit.path)).all())
    counts = {"roster": _roster(session, grids, rng, now)}
    if session.scalar(select(func.count()).select_from(Visit).where(
            Visit.worker_name.endswith("（网格员）", autoescape=True))):
        return counts
    workers = dict(session.execute(
        select(UserUnit.unit_id, User.id).join(User, User.id == UserUnit.user_id)
        .where(User.role == Role.grid_worker, User.is_active.is_(True))).all())
    names = dict(session.execute(select(User.id, User.display_name)).all())
    counts["visit"], counts["visit_person"] = _visits(session, grids, workers, names, rng, now, months,
                                                      MONTHLY_CAP.get(scale, 20))
    counts["person_checked"] = _checked(session, grids, rng, now)
    counts["supervision"] = _supervisions(session, rng)
    session.flush()
    return counts


def _roster(session: Session, grids: list[Any], rng: random.Random, now: dt.datetime) -> int:
    staffed = set(session.scalars(select(UserUnit.unit_id).join(User, User.id == UserUnit.user_id)
                                  .where(User.role == Role.grid_worker, User.is_active.is_(True))))
    users, links = [], []
    for g in grids:
        if g.id in staffed or rng.random() < 0.125:
            continue
        uid = new_id()
        users.append({"id": uid, "username": f"{ROSTER_PREFIX}{g.code}", "display_name": _name(rng),
                      "role": Role.grid_worker, "password_hash": "!", "department": None, "is_active": True,
                      "failed_logins": 0, "must_change_password": True, "created_at": now, "updated_at": now,
                      "version": 1})
        links.append({"id": new_id(), "user_id": uid, "unit_id": g.id})
    existing = set(session.scalars(select(User.username).where(starts_with_text(User.username, ROSTER_PREFIX))))
    users = [u for u in users if u["username"] not in existing]
    keep = {u["id"] for u in users}
    links = [link for link in links if link["user_id"] in keep]
    for i in range(0, len(users), 1000):
        session.execute(insert(User), users[i:i + 1000])
        session.execute(insert(UserUnit), [link for link in links if link["user_id"] in
                                           {u["id"] for u in users[i:i + 1000]}])
    return len(users)


def _visits(session: Session, grids: list[Any], workers: dict[Any, Any], names: dict[Any, str],
            rng: random.Random, now: dt.datetime, months: int, cap: int) -> tuple[int, int]:
    households: dict[Any, list[Any]] = {}
    hid: Any
    for hid, gid in session.execute(select(Household.id, Household.grid_id).order_by(Household.id)):
        households.setdefault(gid, []).append(hid)
    care: dict[Any, list[Any]] = {}
    for pid, hid in session.execute(select(Person.id, Person.household_id)
                                    .where(Person.status == PersonStatus.active, Person.household_id.is_not(None),
                                           cast(Person.care_tags, String) != "[]")):
        care.setdefault(hid, []).append(pid)
    rows: list[dict[str, Any]] = []
    met: list[dict[str, Any]] = []
    n_visits = n_met = 0
    for g in grids:
        worker = workers.get(g.id)
        homes = households.get(g.id, [])
        if worker is None or not homes:
            continue
        share = rng.uniform(0.06, 0.4)  # the grid's persistent thoroughness (share of households a month)
        for back in range(months):
            per_month = min(cap, max(1, int(len(homes) * share * rng.uniform(0.7, 1.3))))
            chosen = rng.sample(homes, min(per_month, len(homes)))
            # care households get an extra look
            chosen += [h for h in homes if h in care and rng.random() < 0.3 and h not in chosen][:cap // 4]
            for hid in chosen:
                days = back * 30 + rng.randint(0, 29)
                when = (now - dt.timedelta(days=days)).replace(hour=rng.randint(1, 9), minute=rng.randrange(0, 60, 5))
                kind = VisitKind.care if hid in care and rng.random() < 0.6 else rng.choice(
                    (VisitKind.routine, VisitKind.routine, VisitKind.safety_check, VisitKind.rental_check))
                vid = new_id()
                rows.append({"id": vid, "household_id": hid, "grid_id": g.id, "path": g.path, "worker_id": worker,
                             "worker_name": f"{names.get(worker, '网格员')}（网格员）", "visited_at": when,
                             "kind": kind, "summary": rng.choice(_SUMMARIES[kind]), "findings": None,
                             "case_id": None, "created_at": when})
                for pid in care.get(hid, [])[:2]:
                    met.append({"visit_id": vid, "person_id": pid})
            if len(rows) >= 5000:
                n_visits, n_met = n_visits + len(rows), n_met + len(met)
                _flush(session, rows, met)
                rows, met = [], []
    n_visits, n_met = n_visits + len(rows), n_met + len(met)
    _flush(session, rows, met)
    return n_visits, n_met


def _flush(session: Session, rows: list[dict[str, Any]], met: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Visit), rows)
    if met:
        session.execute(insert(VisitPerson), met)


def _checked(session: Session, grids: list[Any], rng: random.Random, now: dt.datetime) -> int:
    """Each grid's register last checked on a day of the last ~500 days (most within the year)."""
    n = 0
    for g in grids:
        when = now - dt.timedelta(days=int(rng.triangular(0, 500, 60)), hours=rng.randint(0, 8))
        result: Any = session.execute(update(Person).where(Person.path == g.path).values(updated_at=when)
                                      .execution_options(synchronize_session=False))
        n += result.rowcount or 0
    return n


def _supervisions(session: Session, rng: random.Random) -> int:
    rows = []
    due: Any
    for cid, due, path in session.execute(select(Case.id, Case.handle_due_at, Case.path)
                                          .where(Case.overdue.is_(True), Case.handle_due_at.is_not(None))):
        red = rng.random() < 0.3
        answered = rng.random() < 0.82
        rows.append({"id": uuid.uuid4(), "case_id": cid, "kind": "red" if red else "yellow", "round": 1,
                     "target": path.rsplit("/", 1)[-1], "superior": None,
                     "message": "事件已超过处置时限，请立即处置并反馈" if red else "事件即将或已经超期，请加快处置",
                     "issued_at": due, "issued_by": "system",
                     "acknowledged_at": due + dt.timedelta(hours=rng.uniform(1, 40)) if answered else None,
                     "acknowledged_by": "system" if answered else None,
                     "reply": "已督促责任单位处置，预计本周内办结" if answered else None})
    for i in range(0, len(rows), 5000):
        session.execute(insert(Supervision), rows[i:i + 5000])
    return len(rows)
