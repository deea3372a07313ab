"""Rule warnings: a repeated complaint (矛盾纠纷升级), special-care residents not visited (关爱走访超期) and a grid
whose cases go overdue far above its peers (超期率异常).

* **repeat** — the same person (a resident's account, or the blind index of the phone the hotline took) or the same
  door address (normalised; only addresses naming a door — 号/幢/栋/室/单元 — count: "XX附近" is no address) reports
  at least N cases within M days. The case that first brings a window to N is the trigger; the cause is that
  trigger, so one dispute raises one warning, and the same key raises again only when a new trigger comes more than
  M days after the last one (still escalating a month later).
* **unvisited** — active persons with a special-care tag whose household has not been visited for the tag's number
  of days (the smallest of their tags'); counted from the person's registration when never visited. One warning
  per grid and ISO week lists them, so a grid with a backlog gets one reminder a week, not one per person.
* **overdue** — per grid, the cases whose handling deadline fell in the last D days and how many of them went
  overdue, against the rest of its street: flagged when the binomial tail ``P(X ≥ x | n, p_street)`` is below
  alpha, with at least ``min_cases`` cases and a share at least ``min_ratio`` times the street's. Once per grid per
  D-day period.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from scipy import stats
from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseState, Channel
from zhili.cases.reads import category_names
from zhili.core.masking import mask_name
from zhili.intel.warn_common import Finding, UnitRef, UnitTree, num, pct, short_day
from zhili.regions.models import UnitLevel
from zhili.registry.models import CARE_TAGS, Household, Person, PersonStatus
from zhili.visits.models import Visit

_DOOR = re.compile(r"\d+\s*(号|幢|栋|室|单元|弄|号楼)")
_NOISE = re.compile(r"[\s\-_,，。.、;；:：()（）\[\]【】#/\\]+")
CASE_IDS_MAX = 200
PERSONS_LISTED = 50
# The category a care warning becomes when turned into a case (the shipped taxonomy's 特殊人群服务 group).
CARE_CATEGORY = {"left_behind_child": "SG-1302", "psychiatric": "SG-1303", "community_correction": "SG-1304"}
CARE_CATEGORY_DEFAULT = "SG-1301"
CARE_ATTRIBUTES = {"SG-1301": {"elder_needs": ["visit"]}}  # 需求类型: 定期探访


def normal_address(address: str | None) -> str | None:
    """An address as a key: NFKC (full-width digits and letters folded), without spaces and punctuation; None when
    it names no door."""
    if not address:
        return None
    a = _NOISE.sub("", unicodedata.normalize("NFKC", address)).lower()
    return a if len(a) >= 4 and _DOOR.search(a) else None


def _place(tree: UnitTree, path: str) -> UnitRef | None:
    anc = tree.ancestors(path)
    for level in (UnitLevel.community, UnitLevel.street, UnitLevel.district, UnitLevel.grid):
        if level in anc:
            return anc[level]
    return None


# -- repeat ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Row:
    id: uuid.UUID
    at: dt.datetime
    path: str
    category: str | None
    address: str | None


def _triggers(rows: list[_Row], n: int, span: dt.timedelta) -> list[int]:
    """Indexes (time order) of the cases that bring an M-day window to n, at most one per M days."""
    out: list[int] = []
    lo = 0
    for j, r in enumerate(rows):
        while rows[lo].at <= r.at - span:
            lo += 1
        if j - lo + 1 >= n and (not out or r.at - rows[out[-1]].at > span):
            out.append(j)
    return out


def scan_repeats(session: Session, *, tree: UnitTree, now: dt.datetime, count: int, days: int) -> list[Finding]:
    """Repeated complaints from one person or one door address (see the module docstring)."""
    span = dt.timedelta(days=days)
    since = now - 2 * span
    c = Case
    rows = session.execute(select(c.id, c.reported_at, c.path, c.category_code, c.address, c.reporter_phone_bidx,
                                  c.reporter_user_id, c.channel)
                           .where(c.reported_at > since, c.reported_at <= now, c.is_history.is_(False),
                                  or_(c.reporter_phone_bidx.is_not(None), c.address.is_not(None),
                                      and_(c.channel == Channel.resident, c.reporter_user_id.is_not(None))))).all()
    keyed: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for r in rows:
        row = _Row(r.id, r.reported_at, r.path, r.category_code, r.address)
        if r.channel == Channel.resident and r.reporter_user_id is not None:
            keyed[("person", f"u{r.reporter_user_id}")].append(row)
        elif r.reporter_phone_bidx:
            keyed[("person", f"p{r.reporter_phone_bidx}")].append(row)
        addr = normal_address(r.address)
        if addr:
            keyed[("address", addr)].append(row)
    found: list[tuple[str, list[_Row], int]] = []
    for (kind, _key), items in keyed.items():
        if len(items) < count:
            continue
        items.sort(key=lambda x: (x.at, x.id))
        for j in _triggers(items, count, span):
            if items[j].at > now - span:  # a current dispute: its trigger lies in the last M days
                found.append((kind, items, j))
    names = category_names(session, codes={r.category for _, items, _ in found for r in items if r.category})
    out = []
    for kind, items, j in found:
        trigger = items[j]
        behind = [r for r in items if trigger.at - span < r.at]
        out.append(_repeat_finding(tree, kind, trigger, behind, names, count, days))
    return [f for f in out if f is not None]


def _repeat_finding(tree: UnitTree, kind: str, trigger: _Row, behind: list[_Row], names: dict[str, str], count: int,
                    days: int) -> Finding | None:
    latest = behind[-1]
    unit = _place(tree, latest.path)
    if unit is None:
        return None
    mix = Counter(names.get(r.category or "", "未分类") for r in behind)
    mix_text = "、".join(f"{k} {v} 件" for k, v in mix.most_common())
    who = "同一反映人（按账号或来电号码识别）" if kind == "person" else f"同一地址「{latest.address}」"
    n = len(behind)
    first, last = behind[0].at.date(), latest.at.date()
    reason = (f"{who}自{short_day(first)}至{short_day(last)}共反映问题 {n} 件（规则：{days} 天内不少于 {count} 件），"
              f"涉及：{mix_text}。可能是矛盾纠纷反复或升级，请核实情况并及时化解。")
    title = f"{'同一反映人' if kind == 'person' else '同一地址'}{days}天内反映{n}次（{unit.name}）"
    sev = "red" if n >= 2 * count else "orange" if n > count else "yellow"
    top = Counter(r.category for r in behind if r.category).most_common(1)
    return Finding(kind="repeat", cause_key=f"repeat:{kind}:{trigger.id}", unit=unit, title=title, reason=reason,
                   detail={"rule": kind, "count": n, "threshold": count, "days": days,
                           "categories": dict(mix), "convert_category": top[0][0] if top else None,
                           "convert_case": str(latest.id)},
                   case_ids=[str(r.id) for r in behind][:CASE_IDS_MAX], severity=sev,
                   period_start=first, period_end=last)


# -- unvisited ---------------------------------------------------------------------------------------------------

def scan_unvisited(session: Session, *, tree: UnitTree, now: dt.datetime, default_days: int,
                   by_tag: dict[str, int]) -> list[Finding]:
    """Special-care residents whose household has not been visited in time, one finding per grid and ISO week."""
    p = Person
    persons = session.execute(select(p.id, p.name, p.care_tags, p.household_id, p.path, p.created_at)
                              .where(p.status == PersonStatus.active, p.household_id.is_not(None),
                                     cast(p.care_tags, String).not_in(["[]", "null"]))).all()
    persons = [r for r in persons if r.care_tags]
    if not persons:
        return []
    last_visit = dict(session.execute(select(Visit.household_id, func.max(Visit.visited_at))
                                      .where(Visit.visited_at <= now).group_by(Visit.household_id)).all())
    buildings = dict(session.execute(select(Household.id, Household.building_id).where(
        Household.id.in_({r.household_id for r in persons}))).all()) if len(persons) < 20_000 else {}
    due: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in persons:
        limit = min(by_tag.get(t, default_days) for t in r.care_tags)
        seen = last_visit.get(r.household_id)
        since = seen or r.created_at
        waited = (now - since).days
        if waited < limit:
            continue
        tag = min(r.care_tags, key=lambda t: by_tag.get(t, default_days))
        due[r.path].append({"person_id": str(r.id), "name": mask_name(r.name), "tags": list(r.care_tags),
                            "tag": tag, "days": waited, "limit": limit,
                            "last_visit": seen.date().isoformat() if seen else None,
                            "household_id": str(r.household_id),
                            "building_id": str(buildings[r.household_id]) if r.household_id in buildings else None})
    iso = now.date().isocalendar()
    out = []
    for path, people in due.items():
        unit = tree.at(path, UnitLevel.grid) or _place(tree, path)
        if unit is None:
            continue
        people.sort(key=lambda x: -x["days"])
        out.append(_unvisited_finding(unit, people, iso.year, iso.week, default_days))
    return out


def _unvisited_finding(unit: UnitRef, people: list[dict[str, Any]], year: int, week: int, default_days: int
                       ) -> Finding:
    n = len(people)
    listed = "；".join(
        f"{x['name']}（{'、'.join(CARE_TAGS.get(t, t) for t in x['tags'])}，"
        + (f"{x['days']} 天未走访" if x["last_visit"] else f"登记 {x['days']} 天以来从未走访") + "）"
        for x in people[:10])
    more = f"等 {n} 人" if n > 10 else f"共 {n} 人"
    worst = people[0]
    reason = (f"{unit.name}有特殊人群超过规定期限未入户走访，{more}：{listed}。"
              f"规则：{CARE_TAGS.get(worst['tag'], worst['tag'])}应在 {worst['limit']} 天内至少走访一次"
              f"（默认 {default_days} 天）。请安排网格员入户关爱走访。")
    sev = "red" if worst["days"] >= 3 * worst["limit"] else "orange" if worst["days"] >= 2 * worst["limit"] \
        else "yellow"
    category = CARE_CATEGORY.get(worst["tag"], CARE_CATEGORY_DEFAULT)
    return Finding(kind="unvisited", cause_key=f"unvisited:{unit.path}:{year}-W{week:02d}", unit=unit,
                   title=f"{unit.name}{n}名特殊人群超期未走访", reason=reason,
                   detail={"count": n, "persons": people[:PERSONS_LISTED], "default_days": default_days,
                           "convert_category": category,
                           "convert_attributes": CARE_ATTRIBUTES.get(category, {}),
                           "convert_building": worst["building_id"]},
                   severity=sev)


# -- overdue -------------------------------------------------------------------------------------------------------

def scan_overdue(session: Session, *, tree: UnitTree, now: dt.datetime, days: int, alpha: float, min_cases: int,
                 min_ratio: float) -> list[Finding]:
    """Grids whose share of overdue cases (deadline in the last ``days`` days) is far above the rest of their
    street's (see the module docstring)."""
    c = Case
    since = now - dt.timedelta(days=days)
    rows = session.execute(select(c.grid_id, c.path, func.count(), func.sum(case((c.overdue.is_(True), 1), else_=0)))
                           .where(c.handle_due_at > since, c.handle_due_at <= now, c.grid_id.is_not(None),
                                  c.is_history.is_(False), c.state.not_in((CaseState.merged, CaseState.rejected)))
                           .group_by(c.grid_id, c.path)).all()
    grids: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        g = grids[r.path]
        g[0] += int(r[2])
        g[1] += int(r[3] or 0)
    by_street: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    street_of: dict[str, str] = {}
    for path, (n, x) in grids.items():
        parent = tree.at(path, UnitLevel.street) or tree.at(path, UnitLevel.district)
        key = parent.path if parent else ""
        street_of[path] = key
        by_street[key][0] += n
        by_street[key][1] += x
    period = now.date().toordinal() // days
    out = []
    for path, (n, x) in grids.items():
        tot_n, tot_x = by_street[street_of[path]]
        peer_n, peer_x = tot_n - n, tot_x - x
        if n < min_cases or peer_n < min_cases or x == 0:
            continue
        rate = max(peer_x / peer_n, 0.01)
        share = x / n
        p_value = float(stats.binom.sf(x - 1, n, rate))
        if p_value > alpha or share < min_ratio * rate:
            continue
        unit = tree.at(path, UnitLevel.grid)
        if unit is None:
            continue
        ids = [str(i) for i in session.scalars(
            select(c.id).where(c.path == path, c.handle_due_at > since, c.handle_due_at <= now, c.overdue.is_(True))
            .order_by(c.handle_due_at).limit(CASE_IDS_MAX))]
        peer_name = street_of[path] and tree.by_path[street_of[path]].name
        reason = (f"近 {days} 天办理期限届满的事件中，{unit.name}有 {n} 件，其中超期 {x} 件，超期率 {pct(share)}；"
                  f"同属{peer_name}的其他网格超期率为 {pct(peer_x / peer_n)}（{peer_n} 件中 {peer_x} 件）。"
                  f"按同街道超期率，出现不少于 {x} 件超期的概率为 {pct(p_value)}，低于预警阈值 {pct(alpha)}，"
                  f"且超期率达到其他网格的 {num(share / max(peer_x / peer_n, 1e-9))} 倍。请核查该网格事件办理情况。")
        sev = "red" if share >= 3 * rate and p_value <= alpha / 100 else "orange" if share >= 3 * rate else "yellow"
        out.append(Finding(kind="overdue", cause_key=f"overdue:{path}:{days}d:{period}", unit=unit,
                           title=f"{unit.name}事件超期率明显高于同街道其他网格", reason=reason,
                           detail={"cases": n, "overdue": x, "share": round(share, 4), "peer_cases": peer_n,
                                   "peer_overdue": peer_x, "peer_share": round(peer_x / peer_n, 4),
                                   "p_value": p_value, "alpha": alpha, "days": days},
                           case_ids=ids, severity=sev, period_start=since.date(), period_end=now.date()))
    return out
