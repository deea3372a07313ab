"""Demo data of the data hub (数据中台): three departments' person lists and a 12345 hotline archive, imported
through the real pipeline, so every hub page of a fresh demo has something to show.

* Sources (:mod:`zhili.datahub.sources`): 公安人口库 (the county police's population system, district, daily,
  most trusted), 民政救助名单 (civil affairs' assistance list, district, monthly), 卫健签约名单 (the demo
  community health station's family-doctor list, the demo community — so community staff see one source of their
  own), the 12345 hotline archive (historical cases, district) and an empty ``nyc311-sample`` source for the
  public NYC 311 file the documentation imports with the built-in ``nyc311`` template.
* Templates: one saved per person source, in the source's own column names (公民身份号码, 救助对象姓名, 签约居民,
  …) — what a data steward does for a new system; the hotline archive uses the built-in ``cn-gov-messages``.
* Files: generated into a temporary directory (never the repository) from the demo's own register — real demo
  persons, so the lists overlap the register and each other — plus a few deliberate faults so the quarantine,
  the review queue and the quality report have content: a mistyped check digit, a short phone, a birth date in
  the future, an unknown gender code, a missing name, an unknown grid, an impossible birth date, a repeated row,
  an unreadable time, an empty message; and a few residents the health station recorded under another (valid)
  ID number with the same name and birth date (phone the same, missing or different) — the review queue's pairs.
  The hotline messages are written from the demo's categories and places (no row of any real data set).
* Subscriptions: civil affairs (the district's persons) and health (the demo community's persons) are told
  in-app of later changes of golden records.
* Everything goes through the services (validated, resolved into golden records, audited): the command centre
  (``hub:admin``) registers the sources, saves the templates and the subscriptions; the district's lists are
  imported by the system administrator — writing the register needs ``registry:write``, which the command centre
  does not have — and the community's list by the community account. The pipeline commits per batch.

Idempotent: when the first source already exists nothing is done.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Category
from zhili.core.clock import today
from zhili.core.crypto import get_cipher
from zhili.core.jurisdiction import Principal, path_predicate
from zhili.datahub import changes, imports, sources, templates
from zhili.datahub.models import Import, Source
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.registry.models import Building, Entrance, Household, Person, PersonStatus
from zhili.users.models import User
from zhili.users.service import principal_for_user

# Rows per person source, by scale (the demo must stay quick: the whole hub seed is a few seconds at "small").
ROWS = {"small": 240, "medium": 400, "large": 600}
HOTLINE_ROWS = {"small": 300, "medium": 400, "large": 500}
COMMAND_CENTRE = "zhihui"  # registers the sources and saves the templates (hub:admin)
IMPORTER = "admin"  # imports the district's lists: writing the register needs registry:write too
COMMUNITY_IMPORTER = "shequ"  # the community staff import their own health station's list
FIRST_SOURCE = "gongan-population"

_GENDER = {"male": "男", "female": "女"}
_ETHNICITIES = ("汉族",) * 18 + ("回族", "满族", "畲族", "土家族")


@dataclass(frozen=True)
class _Resident:
    name: str
    id_number: str
    phone: str | None
    gender: str
    birth_date: dt.date
    grid: str
    building_code: str | None
    entrance: str | None
    room: str | None
    address: str | None


# ``department``: the owning department's code (``zhili/fixtures/departments.json``: 县公安局, 县民政局,
# 县卫生健康局, 县12345政务服务便民热线中心).
SOURCES: tuple[dict[str, Any], ...] = (
    {"name": FIRST_SOURCE, "title": "公安人口库", "target": "persons", "department": "GA",
     "system_name": "常住人口信息管理系统", "contact": "县公安局户政管理大队", "refresh_days": 1,
     "security_level": "sensitive", "trust": 90, "level": "district",
     "note": "公安户籍与居住登记，每日增量；身份证号、民族、出生日期以此为准"},
    {"name": "minzheng-assistance", "title": "民政救助名单", "target": "persons", "department": "MZ",
     "system_name": "社会救助信息系统", "contact": "县民政局社会救助科", "refresh_days": 30,
     "security_level": "sensitive", "trust": 70, "level": "district",
     "note": "最低生活保障、特困供养、临时救助对象，每月初更新"},
    {"name": "weijian-signing", "title": "卫健签约名单", "target": "persons", "department": "WJ",
     "system_name": "家庭医生签约服务系统", "contact": "社区卫生服务站", "refresh_days": 7,
     "security_level": "sensitive", "trust": 60, "level": "community",
     "note": "社区卫生服务站的家庭医生签约居民，每周导出"},
    {"name": "12345-archive", "title": "12345热线历史工单", "target": "cases", "department": "RX",
     "system_name": "12345政务服务便民热线系统", "contact": "12345热线管理科", "refresh_days": None,
     "security_level": "internal", "trust": 50, "level": "district",
     "note": "平台上线前的热线工单，按问政平台导出格式一次性导入，只作历史与分析，不进入办理队列"},
    {"name": "nyc311-sample", "title": "纽约311服务请求（样例）", "target": "cases", "department": None,
     "system_name": "NYC Open Data 311 Service Requests", "contact": None, "refresh_days": None,
     "security_level": "public", "trust": 30, "level": "district",
     "note": "公开数据样例，供演示 nyc311 模板（zhili hub import … --source nyc311-sample --template nyc311）；"
             "演示数据不导入"},
)

_DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"]
_GENDER_MAP = {"男": "male", "女": "female", "1": "male", "2": "female"}

TEMPLATES: dict[str, dict[str, Any]] = {
    "gongan-population": {"title": "公安人口库导出", "spec": {
        "target": "persons", "title": "公安人口库导出", "key": ["id_number"],
        "description": "常住人口信息管理系统的人员导出：公民身份号码为记录键；性别为代码或汉字。",
        "source_columns": ["公民身份号码", "姓名"],
        "fields": [
            {"field": "id_number", "column": "公民身份号码"}, {"field": "name", "column": "姓名"},
            {"field": "gender", "column": "性别", "value_map": _GENDER_MAP, "value_map_default": "error"},
            {"field": "birth_date", "column": "出生日期", "date_formats": _DATE_FORMATS},
            {"field": "ethnicity", "column": "民族"}, {"field": "phone", "column": "联系电话"},
            {"field": "building_code", "column": "楼栋编码"}, {"field": "entrance", "column": "单元"},
            {"field": "room", "column": "室号"},
            {"field": "resident_type", "column": "人口类型", "value_map": {"户籍": "registered", "流动": "floating"}},
        ]}},
    "minzheng-assistance": {"title": "民政救助名单", "spec": {
        "target": "persons", "title": "民政救助名单", "key": ["id_number"],
        "description": "社会救助信息系统的救助对象名单；救助类别与救助金额作为扩展属性保留。",
        "source_columns": ["救助对象姓名", "身份证号码"],
        "fields": [
            {"field": "name", "column": "救助对象姓名"}, {"field": "id_number", "column": "身份证号码"},
            {"field": "phone", "column": "联系电话"}, {"field": "grid", "column": "所属网格"},
            {"field": "address", "column": "家庭住址"},
            {"field": "care_tags", "column": "救助类别", "value_map": {"最低生活保障": "subsistence"},
             "value_map_default": "null"},
            {"field": "attributes.assistance", "column": "救助类别"},
            {"field": "attributes.allowance", "column": "月救助金额（元）", "kind": "float"},
        ]}},
    "weijian-signing": {"title": "家庭医生签约名单", "spec": {
        "target": "persons", "title": "家庭医生签约名单", "key": ["id_number"],
        "description": "家庭医生签约服务系统的签约居民；签约医生、签约日期和服务包作为扩展属性保留。",
        "source_columns": ["签约居民", "证件号码", "签约日期"],
        "fields": [
            {"field": "name", "column": "签约居民"}, {"field": "id_number", "column": "证件号码"},
            {"field": "gender", "column": "性别", "value_map": _GENDER_MAP},
            {"field": "birth_date", "column": "出生日期", "date_formats": _DATE_FORMATS},
            {"field": "phone", "column": "手机号码"},
            {"field": "building_code", "column": "楼栋编码"}, {"field": "room", "column": "室号"},
            {"field": "entrance", "column": "单元"},
            {"field": "attributes.doctor", "column": "签约医生"},
            {"field": "attributes.signed", "column": "签约日期", "kind": "date", "date_formats": _DATE_FORMATS},
            {"field": "attributes.package", "column": "服务包"},
        ]}},
}

_ASSISTANCE = ("最低生活保障", "特困供养", "临时救助")
_DOCTORS = ("王建华", "李秀英", "陈志强", "周丽萍", "吴晓东", "沈美芳")
_PACKAGES = ("基础包", "老年人健康管理包", "慢病管理包", "孕产妇健康管理包", "儿童健康管理包")

# Hotline messages: (title template, detail template, reply template); {place} and {category} are filled from
# the demo's own places and categories.
_MESSAGES: tuple[tuple[str, str, str], ...] = (
    ("{place}{category}问题反映", "本人住在{place}，最近{category}的情况比较突出，已经持续一段时间，影响居民正常生活，"
     "希望有关部门尽快处理。", "经核实，{place}反映的{category}问题属实，已责成相关部门处理完毕，感谢您的监督。"),
    ("关于{place}{category}的投诉", "{place}附近{category}问题反复出现，之前反映过一次但没有彻底解决，请尽快安排人员"
     "到现场查看。", "您反映的问题已转交属地街道，工作人员已到现场处置，并将加强日常巡查。"),
    ("{place}{category}，请求处理", "{place}这边{category}，晚上尤其明显，老人小孩出行不便，恳请相关部门重视。",
     "收到您的留言后，我们立即安排人员进行了现场核查和整改，目前问题已解决。"),
    ("咨询{place}{category}的处理进度", "上个月反映的{place}{category}问题，想了解一下现在的处理进度和预计完成时间。",
     "该问题已纳入本年度整治计划，预计下月完成，届时将在社区公示。"),
    ("建议加强{place}{category}管理", "{place}{category}的问题比较普遍，建议相关部门建立长效管理机制，定期检查。",
     "感谢您的建议，我们将结合实际研究完善相关管理措施。"),
)


def _check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def _other_valid_id(id_number: str, rng: random.Random) -> str:
    """Another valid ID number of the same region, birth date and gender (a clerk's wrong sequence number)."""
    seq = int(id_number[14:17])
    new = (seq + 2 * rng.randint(1, 40)) % 1000  # same parity: same gender
    first = id_number[:14] + f"{new:03d}"
    return first + _check_digit(first)


def _residents(session: Session, *, path: str | None, limit: int, rng: random.Random) -> list[_Resident]:
    cipher = get_cipher()
    stmt = (select(Person, Household.room, Building.code, Entrance.name, Unit.name, Building.address)
            .join(Unit, Unit.id == Person.grid_id)
            .outerjoin(Household, Household.id == Person.household_id)
            .outerjoin(Building, Building.id == Household.building_id)
            .outerjoin(Entrance, Entrance.id == Household.entrance_id)
            .where(Person.status == PersonStatus.active).order_by(Person.id).limit(limit * 4))
    if path:
        stmt = stmt.where(path_predicate(Person.path, (path,)))
    rows = list(session.execute(stmt))
    rng.shuffle(rows)
    out: list[_Resident] = []
    for p, room, code, entrance, grid, address in rows[:limit]:
        phone = (cipher.decrypt(p.phone_enc, table="person", column="phone", row_id=p.id)
                 if p.phone_enc else None)
        id_number = cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id)
        out.append(_Resident(p.name, id_number, phone, str(p.gender), p.birth_date, grid, code, entrance,
                             room, f"{address}{room}室" if address and room else address))
    return out


def _write(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([["" if c is None else c for c in r] for r in rows])
    return path


def _gongan_file(folder: Path, people: list[_Resident], rng: random.Random) -> Path:
    header = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "联系电话", "楼栋编码", "单元", "室号", "人口类型"]
    rows: list[list[Any]] = []
    for r in people:
        rows.append([r.id_number, r.name, "1" if r.gender == "male" else "2", r.birth_date.strftime("%Y%m%d"),
                     rng.choice(_ETHNICITIES), r.phone, r.building_code, r.entrance, r.room,
                     rng.choice(("户籍", "户籍", "户籍", "流动"))])
    n = len(rows)
    # faults for the quarantine: a mistyped check digit, a short phone, a birth date in the future, a bad gender
    rows[n // 7][0] = rows[n // 7][0][:17] + ("0" if rows[n // 7][0][17] != "0" else "1")
    rows[n // 5][5] = "1380571"
    rows[n // 3][3] = (today() + dt.timedelta(days=400)).strftime("%Y%m%d")
    rows[n // 2][2] = "未知"
    return _write(folder / "公安人口库_人员导出.csv", header, rows, encoding="gb18030")


def _minzheng_file(folder: Path, people: list[_Resident], rng: random.Random) -> Path:
    header = ["救助对象姓名", "身份证号码", "联系电话", "所属网格", "家庭住址", "救助类别", "月救助金额（元）"]
    rows: list[list[Any]] = []
    for r in people:
        kind = rng.choice(_ASSISTANCE)
        amount = {"最低生活保障": 1060, "特困供养": 1378, "临时救助": 800}[kind]
        phone = r.phone if rng.random() < 0.8 else None  # civil affairs often lacks a phone
        rows.append([r.name, r.id_number, phone, r.grid, r.address, kind, amount])
    n = len(rows)
    rows[n // 6][0] = ""  # a missing name
    rows[n // 4][3] = "不存在的网格"  # an unknown grid
    rows[n // 2][1] = rows[n // 2][1][:10] + "1399" + rows[n // 2][1][14:]  # 13th month: no such birth date
    return _write(folder / "民政救助名单.csv", header, rows)


def _weijian_file(folder: Path, people: list[_Resident], rng: random.Random, *, pairs: int) -> Path:
    header = ["签约居民", "证件号码", "性别", "出生日期", "手机号码", "楼栋编码", "单元", "室号", "签约医生",
              "签约日期", "服务包"]
    rows: list[list[Any]] = []
    start = today() - dt.timedelta(days=700)
    for i, r in enumerate(people):
        # the first `pairs` residents were recorded under another valid ID number: the review queue's pairs
        # (some with the phone left out or changed too: lower match probabilities)
        id_number, phone = r.id_number, r.phone
        if i < pairs:
            id_number = _other_valid_id(r.id_number, rng)
            phone = (None, "139" + f"{rng.randint(0, 10**8 - 1):08d}", phone)[i % 3]
        signed = start + dt.timedelta(days=rng.randint(0, 690))
        rows.append([r.name, id_number, _GENDER[r.gender], r.birth_date.isoformat(), phone, r.building_code,
                     r.entrance, r.room, rng.choice(_DOCTORS), signed.isoformat(), rng.choice(_PACKAGES)])
    n = len(rows)
    rows.append(list(rows[n - 1]))  # the same resident exported twice
    rows[n // 3][4] = "1380000000A"  # a mistyped phone
    return _write(folder / "家庭医生签约名单.csv", header, rows)


def _hotline_file(session: Session, folder: Path, n: int, rng: random.Random) -> Path:
    cats = list(session.scalars(select(Category.name).where(Category.is_current.is_(True)).order_by(Category.code)))
    cats = cats or ["环境卫生", "噪音扰民", "道路破损"]
    places = [f"{b}{c or ''}" for b, c in session.execute(
        select(Unit.name, Building.compound).join(Building, Building.grid_id == Unit.id)
        .where(Unit.level == UnitLevel.grid, Unit.valid_to == OPEN_END).order_by(Building.id).limit(200))]
    places = places or ["城关街道"]
    header = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "一级分类", "答复意见", "答复时间", "点赞数",
              "反对数"]
    rows: list[list[Any]] = []
    end = dt.datetime.combine(today(), dt.time(9)) - dt.timedelta(days=400)
    for i in range(n):
        title, detail, reply = rng.choice(_MESSAGES)
        place, category = rng.choice(places), rng.choice(cats)
        at = end - dt.timedelta(days=rng.randint(0, 720), minutes=rng.randint(0, 900))
        replied = at + dt.timedelta(days=rng.randint(1, 15), hours=rng.randint(0, 8))
        answered = rng.random() < 0.85
        rows.append([f"RX{2023000 + i:07d}", f"A{rng.randint(10**6, 10**7 - 1)}",
                     title.format(place=place, category=category), at.strftime("%Y/%m/%d %H:%M:%S"),
                     detail.format(place=place, category=category), category,
                     reply.format(place=place, category=category) if answered else "",
                     replied.strftime("%Y/%m/%d %H:%M:%S") if answered else "", rng.randint(0, 30),
                     rng.randint(0, 3)])
    rows[n // 4][3] = "去年夏天"  # an unreadable time
    rows[n // 2][2] = rows[n // 2][4] = ""  # an empty message
    return _write(folder / "12345热线留言导出.csv", header, rows)


def _unit(session: Session, level: UnitLevel) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.level == level, Unit.valid_to == OPEN_END).order_by(Unit.path))
    assert unit is not None, f"演示区划缺少{level}"
    return unit


def _community(session: Session) -> Unit:
    """The demo community account's community (``shequ``), else the first community."""
    from zhili.users.models import UserUnit

    user = session.scalar(select(User).where(User.username == "shequ"))
    if user is not None:
        unit = session.scalar(select(Unit).join(UserUnit, UserUnit.unit_id == Unit.id)
                              .where(UserUnit.user_id == user.id))
        if unit is not None:
            return unit
    return _unit(session, UnitLevel.community)


def _principal(session: Session, username: str) -> Principal | None:
    user = session.scalar(select(User).where(User.username == username))
    return principal_for_user(session, user=user) if user is not None else None


def seed_hub(session: Session, *, scale: str = "small", seed: int = 20261206,
             progress: Callable[[str, int, int], None] | None = None, folder: Path | None = None,
             history: bool = True) -> dict[str, int]:
    """Register the demo sources and import their generated files (see the module docstring). Returns counts
    (``hub_source``, ``hub_import``, ``hub_source_record``, ``hub_quarantine``, ``hub_golden``,
    ``hub_candidate``, ``hub_subscription``, ``history_case``); nothing when the hub is already seeded.
    ``history=False`` (``zhili seed --no-cases``) registers the hotline archive but imports nothing into it.
    ``folder``: write the generated files there (kept) instead of a temporary directory."""
    from zhili.datahub.models import GoldenRecord, MatchCandidate, QuarantineRow, SourceRecord, Subscription

    if session.scalar(select(func.count()).select_from(Source).where(Source.name == FIRST_SOURCE)):
        return {}
    user = session.scalar(select(User).where(User.username == COMMAND_CENTRE))
    if user is None:
        return {}
    principal: Principal = principal_for_user(session, user=user)
    importer = _principal(session, IMPORTER) or principal
    local_importer = _principal(session, COMMUNITY_IMPORTER)
    rng = random.Random(seed)
    district = _unit(session, UnitLevel.district)
    community = _community(session)
    made: dict[str, Source] = {}
    for spec in SOURCES:
        unit = community if spec["level"] == "community" else district
        data = {k: v for k, v in spec.items() if k != "level"}
        made[spec["name"]] = sources.create_source(session, principal=principal, data={**data, "unit_id": unit.id})
    for name, t in TEMPLATES.items():
        tpl = templates.save_template(session, principal=principal, name=name, title=t["title"], spec=t["spec"],
                                      source_id=made[name].id)
        made[name].default_template_id = tpl.id
    hotline_tpl = templates.get_template(session, principal=principal, name="cn-gov-messages")
    made["12345-archive"].default_template_id = hotline_tpl.id
    session.commit()  # the pipeline commits per batch: the sources must be there first

    n = ROWS.get(scale, ROWS["small"])
    everyone = _residents(session, path=district.path, limit=n * 2, rng=rng)
    local = _residents(session, path=community.path, limit=max(40, n // 2), rng=rng)
    pairs = min(6, len(local) // 5)
    known = {r.id_number for r in local[:pairs]}
    # the police hold the residents the health station recorded wrongly: their golden records have a trusted ID
    gongan = local[:pairs] + [r for r in everyone if r.id_number not in known][:n - pairs]
    minzheng = everyone[n // 2: n // 2 + n // 2] + everyone[n: n + n // 4]  # half also in 公安, a quarter not
    with tempfile.TemporaryDirectory(prefix="zhili-hub-demo-") as tmp:
        base = folder or Path(tmp)
        files = [
            (FIRST_SOURCE, _gongan_file(base, gongan, rng)),
            ("minzheng-assistance", _minzheng_file(base, minzheng, rng)),
            ("weijian-signing", _weijian_file(base, local, rng, pairs=pairs)),
        ]
        if history:
            files.append(("12345-archive", _hotline_file(session, base, HOTLINE_ROWS.get(scale, 300), rng)))
        for i, (name, path) in enumerate(files, start=1):
            who = importer if name != "weijian-signing" else (local_importer or importer)
            imports.import_file(session, principal=who, source=made[name], path=path)
            if progress:
                progress("hub", i, len(files))
    # departments that use the person records hear about later changes (after the demo's own imports: the
    # seed leaves no deliveries behind; a merge on the review page then notifies them)
    for dept, name, unit in (("MZ", "民政局：辖区人员变更", district), ("WJ", "卫健局：社区签约居民变更", community)):
        changes.create_subscription(session, principal=principal, data={
            "name": name, "department": dept, "kind": "in_app", "entity_types": ["person"], "unit_id": unit.id})
    session.commit()

    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    from zhili.cases.models import Case

    return {"hub_source": count(Source), "hub_import": count(Import), "hub_source_record": count(SourceRecord),
            "hub_quarantine": count(QuarantineRow), "hub_golden": count(GoldenRecord),
            "hub_candidate": count(MatchCandidate), "hub_subscription": count(Subscription),
            "history_case": int(session.scalar(select(func.count()).select_from(Case)
                                               .where(Case.is_history.is_(True))) or 0)}


__all__ = ["SOURCES", "TEMPLATES", "seed_hub"]
