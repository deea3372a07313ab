"""The world of the route matrix: built once per run of the matrix module, every request rolled back after it.

Two sides of the district (the root conftest's tree): **own** is street 雉城 → community 金陵 → grid ``ga``, where
every role's user is bound (or the district, for the district-wide roles); **other** is street 画溪 → community
画溪村 → grid ``gc``, outside every street/community/grid user's jurisdiction. Each side holds one object of every
kind a route can address: a case (reported by that side's resident, dispatched to a department), its photo, a
register set (building, household, person, organisation), a household visit with a photo, a notice, a suggestion,
a notification, an import batch.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testimages import png
from zhili.core.security import Role

_spec = importlib.util.spec_from_file_location("zhili_tests_root_conftest",
                                               Path(__file__).resolve().parent / "conftest.py")
assert _spec is not None and _spec.loader is not None
root = sys.modules.get(_spec.name) or importlib.util.module_from_spec(_spec)
if _spec.name not in sys.modules:
    sys.modules[_spec.name] = root
    _spec.loader.exec_module(root)

# One user per role (plus anonymous). Street, community and grid users are bound on the own side.
ROLE_USERS: dict[str, str | None] = {
    "resident": "jumin", "grid_worker": "wangge_a", "community_staff": "shequ1", "street_staff": "jiedao1",
    "department_handler": "bumen", "command_centre": "zhihui", "leader": "lingdao", "auditor": "shenji",
    "admin": "admin", "anonymous": None,
}
ROLES = tuple(ROLE_USERS)
assert set(ROLES) - {"anonymous"} == {r.value for r in Role}, "a role was added: give it a user and expectations"

OWN_GRID, OTHER_GRID = "ga", "gc"
PASSWORD = "Zhili#2026-matrix"  # every matrix user's password
SIDES = ("own", "other")


def building_workbook(grid_code: str, address: str) -> bytes:
    """An import file with one building in the given grid."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["网格", "楼栋名称", "地址"])
    ws.append([grid_code, "99幢", address])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class Side:
    """The objects of one side (own or other) of the district."""

    grid: Any
    community: Any
    street: Any
    case: Any = None
    attachment: Any = None
    building: Any = None
    household: Any = None
    person: Any = None
    organisation: Any = None
    visit: Any = None
    visit_photo: Any = None
    notice: Any = None
    suggestion: Any = None
    worker: Any = None  # the side's grid worker (a user to administer)
    resolved_case: Any = None  # a case handled by the side's grid worker, waiting to be verified
    spare_building: Any = None  # unreferenced objects, so that deleting them is allowed
    spare_household: Any = None
    source: Any = None  # a data-hub source holding the side's community's data
    hub_import: Any = None  # an import of that source
    quarantine_row: Any = None  # an open quarantined row of that import
    template: Any = None  # a mapping template tied to that source (seen by those who see the source)
    golden: Any = None  # the golden record of the side's person (fed by a record of ``source``)
    candidate: Any = None  # a pending review-queue pair: a record with a mistyped ID number and ``golden``
    merge: Any = None  # a done (undoable) merge into ``golden``
    subscription: Any = None  # a change subscription of the side's community
    warning: Any = None  # an open early warning (预警) for the side's community, about its case
    iot_device: Any = None  # a smoke detector in the side's grid (物联感知)
    iot_alert: Any = None  # an open alert of that device
    iot_message: Any = None  # a rejected message of that device (off its type's schema), with its reason
    room: Any = None  # a rental room of the side's resident (as landlord), registered by the side's grid worker
    room_photo: Any = None  # the attachment id of that room's photo
    stay: Any = None  # a tenant's active stay in that room
    key: Any = None  # the tenant's electronic key of that stay
    delivery: Any = None  # the stay's police delivery, dead (so it can be redelivered)


@dataclass
class MatrixWorld:
    world: Any  # the root conftest's World (units, users, tokens)
    sides: dict[str, Side]
    notifications: dict[str, Any] = field(default_factory=dict)  # username -> a notification of that user
    batches: dict[str, Any] = field(default_factory=dict)  # username -> an import batch uploaded by that user
    saved_views: dict[str, Any] = field(default_factory=dict)  # username -> a saved case-list view of that user
    rule_key: Any = None
    category: str = "SJ-0102"
    override_day: dt.date = dt.date(2026, 10, 10)
    api_key: str = ""
    open311_token: str = ""
    register_phone: str = "13700000011"
    register_code: str = ""
    reset_phone: str = "13700000012"
    reset_code: str = ""
    audit_seq: int = 0  # an event of the audit log (the newest when the world was built)
    iot_rule: Any = None  # an IoT alert rule (district-wide)

    def token(self, role: str) -> str | None:
        user = ROLE_USERS[role]
        return self.world.tokens[user] if user else None

    def user(self, role: str) -> Any:
        user = ROLE_USERS[role]
        return self.world.users[user] if user else None


def build(db: Session) -> MatrixWorld:
    from zhili.cases import attachments as case_attachments
    from zhili.cases import engine as case_engine
    from zhili.cases import service as cases
    from zhili.cases.dispatch import create_rule
    from zhili.cases.models import Channel, Notification
    from zhili.cases.notify import FakeChannel
    from zhili.cases.taxonomy import load_defaults
    from zhili.core.db import utcnow
    from zhili.core.security import hash_password
    from zhili.core.validators import id_check_digit
    from zhili.datahub import register_import
    from zhili.open311.service import create_api_key, create_request
    from zhili.participation import service as participation
    from zhili.participation import sms
    from zhili.registry import service as registry
    from zhili.registry.models import BuildingType, HouseholdUse, RegisterKind, ResidentType
    from zhili.users.service import principal_for_user
    from zhili.visits import service as visits
    from zhili.visits.models import VisitPhoto
    from zhili.visits.service import Photo
    from zhili.worktime.service import set_override

    w = root.build_world(db)
    units = w.units
    for name, role, unit in [("wangge_c", Role.grid_worker, units["gc"]), ("jumin_b", Role.resident, None),
                             ("shequ2", Role.community_staff, units["c2"])]:
        w.users[name], w.tokens[name] = root.make_user(db, name, role, [unit] if unit else [])
    w.users["bumen"].department = "CG"
    # one password for every user (and a user to sign in with), hashed once
    password_hash = hash_password(PASSWORD)
    for user in w.users.values():
        user.password_hash = password_hash
    w.users["probe"], _ = root.make_user(db, "probe", Role.leader, [units["district"]])
    w.users["probe"].password_hash = password_hash
    db.flush()
    load_defaults(db)

    def p(who: str) -> Any:
        return principal_for_user(db, user=w.users[who])

    mw = MatrixWorld(world=w, sides={
        "own": Side(grid=units["ga"], community=units["c1"], street=units["s1"]),
        "other": Side(grid=units["gc"], community=units["c2"], street=units["s2"]),
    })
    for side, worker, resident, staff, lon, dept in [("own", "wangge_a", "jumin", "shequ1", 119.1, "CG"),
                                                     ("other", "wangge_c", "jumin_b", "shequ2", 119.6, "HW")]:
        s = mw.sides[side]
        s.worker = w.users[worker]
        participation.set_resident_community(db, principal=p(resident), community_id=s.community.id)
        # a case with a photo, reported by the side's resident, accepted and dispatched to a department
        s.attachment = case_attachments.set_attachment(db, principal=p(resident), data=png(), filename="现场.png")
        s.case, _ = cases.report_case(db, principal=p(resident), channel=Channel.resident, data={
            "category_code": mw.category, "description": "小区门口垃圾堆放三天无人清运", "lon": lon, "lat": 31.1,
            "attachment_ids": [s.attachment.id], "reporter_name": "王五", "reporter_phone": "13812345678"})
        db.flush()
        for action, payload in [("accept", {}), ("dispatch", {"department": dept})]:
            case_engine.transition(db, principal=p("zhihui"), case_id=s.case.id, action=action, payload=payload)
        db.flush()
        # the register set, registered by the side's grid worker
        s.building = registry.create_building(db, principal=p(worker), data={
            "grid_id": s.grid.id, "name": "3幢", "address": f"{side}路3号", "building_type": BuildingType.residential,
            "lon": lon, "lat": 31.1})
        s.household = registry.create_household(db, principal=p(worker), data={
            "building_id": s.building.id, "room": "501", "use": HouseholdUse.rented})
        first17 = f"33052219850615{(1 if side == 'own' else 3):03d}"
        s.person = registry.create_person(db, principal=p(worker), data={
            "name": "王芳", "id_number": first17 + id_check_digit(first17), "phone": "13812345678",
            "household_id": s.household.id, "relation": "head", "resident_type": ResidentType.registered})
        s.organisation = registry.create_organisation(db, principal=p(worker), data={
            "grid_id": s.grid.id, "name": f"长兴{side}五金店", "address": f"{side}路5号",
            "org_type": "individual_business"})
        s.resolved_case, _ = cases.report_case(db, principal=p(resident), channel=Channel.resident, data={
            "category_code": mw.category, "description": "楼道堆放杂物", "lon": lon, "lat": 31.1})
        db.flush()
        for who, action, payload in [("zhihui", "accept", {}), ("zhihui", "dispatch", {"unit_id": s.grid.id}),
                                     (worker, "start", {}), (worker, "resolve", {"result": "已清理完毕"})]:
            case_engine.transition(db, principal=p(who), case_id=s.resolved_case.id, action=action, payload=payload)
            db.flush()
        s.spare_building = registry.create_building(db, principal=p(worker), data={
            "grid_id": s.grid.id, "name": "9幢", "address": f"{side}路9号", "building_type": BuildingType.residential})
        s.spare_household = registry.create_household(db, principal=p(worker), data={
            "building_id": s.building.id, "room": "909", "use": HouseholdUse.rented})
        s.visit = visits.record_visit(db, principal=p(worker), household_id=s.household.id, kind="care",
                                      summary="老人身体状况良好", photos=[Photo(data=png(), filename="走访.png")])
        db.flush()
        s.visit_photo = db.scalar(select(VisitPhoto.attachment_id).where(VisitPhoto.visit_id == s.visit.id))
        s.notice = participation.create_notice(db, principal=p(staff), data={
            "unit_id": s.community.id, "title": "停水通知", "body": "明日上午停水，请提前储水。"})
        s.suggestion = participation.submit_suggestion(db, principal=p(resident), title="增设路灯",
                                                       body="小区北门夜间太暗，建议增设路灯。")
        from zhili.datahub import sources as hub_sources

        s.source = hub_sources.create_source(db, principal=p("zhihui"), data={
            "name": f"matrix-{side}", "title": f"{side}社区台账", "target": "persons", "security_level": "internal",
            "unit_id": s.community.id})
        from zhili.datahub.models import Connector, Import, ImportStatus, QuarantineRow
        from zhili.datahub.records import seal_raw

        s.hub_import = Import(id=uuid.uuid4(), source_id=s.source.id, path=s.source.path, username="zhihui",
                              connector=Connector.csv, filename="台账.csv", file_hash=f"matrix-{side}",
                              status=ImportStatus.done, rows_read=1, rows_quarantined=1,
                              stats={"rows": 1, "fields": {"name": 1}, "rules": {"id_number": 1}})
        db.add(s.hub_import)
        db.flush()
        qid = uuid.uuid4()
        s.quarantine_row = QuarantineRow(
            id=qid, import_id=s.hub_import.id, source_id=s.source.id, path=s.source.path, row_number=1,
            natural_key="K1", raw_enc=seal_raw({"姓名": "张三", "身份证号": "123"}, qid), rules="id_number",
            errors=[{"field": "id_number", "rule": "id_number", "message": "身份证号：格式不正确"}])
        db.add(s.quarantine_row)
        db.flush()
        from zhili.datahub import templates as hub_templates

        s.template = hub_templates.save_template(db, principal=p("zhihui"), name=f"matrix-{side}",
                                                 title=f"{side}社区人员模板", source_id=s.source.id, spec={
                                                     "target": "persons", "fields": [
                                                         {"field": "name", "column": "姓名"},
                                                         {"field": "id_number", "column": "身份证号"}]})
        _golden_objects(db, s, p(staff), p("zhihui"), first17 + id_check_digit(first17))
    for username, user in w.users.items():
        n = Notification(user_id=user.id, kind="test", title="测试通知", body="测试", channels={"inbox": "sent"})
        db.add(n)
        mw.notifications[username] = n
    for username in ("admin", "jiedao1", "shequ1", "wangge_a", "wangge_c"):
        grid = units["gc" if username == "wangge_c" else "ga"]
        mw.batches[username] = register_import.import_register_workbook(
            db, principal=p(username), kind=RegisterKind.buildings,
            data=building_workbook(grid.code, f"导入路{username}号"), filename="导入.xlsx")
    from zhili.cases.saved_views import save_view

    for username, user in w.users.items():
        if user.role != Role.auditor:  # every user who reads cases keeps a view of the case list
            mw.saved_views[username] = save_view(db, principal=p(username), name="我的视图", query="open=1")
    _intel_objects(db, mw, p("zhihui"))
    _iot_objects(db, mw, p("zhihui"))
    _rental_objects(db, mw, p)
    _eval_form_objects(db, mw, p)
    from evaluation.evalworld import build_eval

    build_eval(db, w.units)  # three scored months (2026-08 … 2026-10) of the 4E evaluation
    mw.rule_key = create_rule(db, principal=p("zhihui"), data={
        "name": "测试规则", "category_code": "SJ-01", "target_department": "HW", "confidence": 0.1}).rule_key
    set_override(db, principal=p("zhihui"), day=mw.override_day, is_workday=True, name="调休上班")
    key, mw.api_key = create_api_key(db, principal=p("admin"), name="矩阵测试")
    [answer] = create_request(db, key=key, form=[("service_code", mw.category), ("lat", "31.1"), ("long", "119.1"),
                                                 ("description", "路边垃圾无人清运")])
    mw.open311_token = answer.get("token") or answer["service_request_id"]
    sms_channel = FakeChannel(name="sms")
    sms.set_sms_channel(sms_channel)
    try:
        participation.request_code(db, phone=mw.reset_phone, purpose="register")
        participation.register_resident(db, phone=mw.reset_phone, code=_last_code(sms_channel), password=PASSWORD)
        later = utcnow() + dt.timedelta(minutes=2)  # past the resend interval of the registration code
        participation.request_code(db, phone=mw.reset_phone, purpose="reset", now=later)
        mw.reset_code = _last_code(sms_channel)
        participation.request_code(db, phone=mw.register_phone, purpose="register")
        mw.register_code = _last_code(sms_channel)
    finally:
        sms.set_sms_channel(None)
    db.flush()
    from zhili.core.audit import AuditEvent

    mw.audit_seq = int(db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0)
    return mw


def _intel_objects(db: Session, mw: MatrixWorld, zhihui: Any) -> None:
    """Two versions of the ``category`` routing model (the second active, so there is one to roll back to) and an
    open early warning per side, for its community, about the side's case."""
    from zhili.intel import store, textmodel
    from zhili.intel.models import Warning

    texts = [f"{w}{i}号楼附近" for i in range(6) for w in ("垃圾没人清运", "路灯不亮")]
    model = textmodel.fit(texts, [mw.category if "垃圾" in t else "BJ-0201" for t in texts])
    for _ in range(2):
        store.save(db, principal=zhihui, name="category", model=model, source="platform", params={},
                   metrics={"top1": 0.5}, n_train=len(texts), seconds=0.0, activate=True)
    for side, s in mw.sides.items():
        s.warning = Warning(kind="repeat", cause_key=f"matrix:{side}", unit_id=s.community.id, path=s.community.path,
                            category_code=mw.category, title="同一地址反复反映", reason="30天内同一地址反映3次",
                            case_ids=[str(s.case.id)])
        db.add(s.warning)
    db.flush()


def _iot_objects(db: Session, mw: MatrixWorld, zhihui: Any) -> None:
    """The shipped device types and rules, a smoke detector per side (in its grid) with an open alert, and a
    message of it the ingest's engine rejected (off the type's schema)."""
    import json

    from zhili.iot import devices, engine, types
    from zhili.iot.models import Alert, Message, Rule

    types.install_defaults(db)
    mw.iot_rule = db.scalar(select(Rule).where(Rule.code == "smoke_alarm"))
    for side, s in mw.sides.items():
        s.iot_device = devices.create_device(db, principal=zhihui, device_key=f"MX-SMOKE-{side}", data={
            "type_code": "smoke_detector", "name": f"矩阵烟感{side}", "unit_id": s.grid.id, "address": "测试路1号",
            "lon": 119.1, "lat": 31.1})
        s.iot_alert = Alert(rule_id=mw.iot_rule.id, kind="rule", device_id=s.iot_device.id,
                            group_key=f"matrix:{side}", unit_id=s.grid.id, path=s.grid.path, title="烟感报警",
                            detail={"device_name": s.iot_device.name})
        db.add(s.iot_alert)
        topic = f"zhili/330522/smoke_detector/{s.iot_device.device_key}/events"
        engine.process_batch(db, [engine.Incoming(topic=topic, payload=json.dumps({"event": "boom"}).encode())])
        s.iot_message = db.scalar(select(Message).where(Message.device_id == s.iot_device.id,
                                                        Message.accepted.is_(False)))
    db.flush()


EVAL_FORM_VALUES = {"info_staff": 4, "trained_staff": 3, "training_hours": 12, "it_budget": 40, "it_spent": 3.5,
                    "talent_fund": 0.5, "terminals": 12, "multi_satisfaction": 88}
# the periods of the side's community's 信息化建设月报, one per state a workflow route needs
EVAL_FORM_PERIODS = {"locked": "2026-05", "approved": "2026-06", "submitted": "2026-07", "draft": "2026-10"}


def _eval_form_objects(db: Session, mw: MatrixWorld, p: Any) -> None:
    """Each side's community's monthly 4E form (填报) in every state: locked (May), approved (June), submitted (July)
    and a draft (October); November is left empty for the Excel upload."""
    from zhili.evaluation import forms

    forms.ensure_datasets(db)
    for side, filler in (("own", "shequ1"), ("other", "shequ2")):
        code = mw.sides[side].community.code
        for state, period in EVAL_FORM_PERIODS.items():
            forms.save(db, p(filler), "it_monthly", code, period, EVAL_FORM_VALUES, submit=state != "draft")
            if state in ("approved", "locked"):
                forms.approve(db, p("zhihui"), "it_monthly", code, period)
            if state == "locked":
                forms.lock(db, p("zhihui"), "it_monthly", code, period)


def _rental_objects(db: Session, mw: MatrixWorld, p: Any) -> None:
    """Per side: a rental room whose landlord account is the side's resident, registered by the side's grid worker
    with a photo; a tenant checked in by the grid worker (an active stay and its key); the check-in's police
    delivery, dead."""
    from zhili.cases import attachments as case_attachments
    from zhili.core.clock import today
    from zhili.core.validators import id_check_digit
    from zhili.rental import rooms, stays
    from zhili.rental.models import DeliveryState, PoliceDelivery

    def idn(seq: int) -> str:
        first17 = f"34010219920308{seq:03d}"
        return first17 + id_check_digit(first17)

    for side, worker, resident, seq in (("own", "wangge_a", "jumin", 21), ("other", "wangge_c", "jumin_b", 23)):
        s = mw.sides[side]
        photo = case_attachments.set_attachment(db, principal=p(worker), data=png(), filename="房间.png")
        done = rooms.register_room(db, principal=p(worker), data={
            "landlord": {"name": "赵房东", "id_number": idn(seq), "phone": f"1390000{seq:04d}"},
            "household_id": s.household.id, "label": "整套", "capacity": 2, "photos": [str(photo.id)],
            "landlord_user_id": mw.world.users[resident].id})
        s.room, s.room_photo = done.room, photo.id
        checked = stays.check_in(db, principal=p(worker), room_id=s.room.id, data={
            "name": "孙租客", "id_number": idn(seq + 1), "phone": f"1390000{seq + 1:04d}", "photo": png(),
            "move_in": today() - dt.timedelta(days=10), "expected_move_out": today() + dt.timedelta(days=170)})
        s.stay, s.key = checked.stay, checked.key.key
        s.delivery = db.scalar(select(PoliceDelivery).where(PoliceDelivery.stay_id == s.stay.id))
        s.delivery.state = DeliveryState.dead
    db.flush()


def _last_code(channel: Any) -> str:
    import re

    m = re.search(r"\b(\d{6})\b", channel.sent[-1].body)
    assert m, channel.sent[-1].body
    return m.group(1)


def _golden_objects(db: Session, s: Side, staff: Any, admin: Any, id_number: str) -> None:
    """The side's golden record (its person, fed by the side's source), a pending review pair (a record with a
    mistyped ID number), a merge of a second such record, and a change subscription of the side's community."""
    import types
    import uuid

    from zhili.datahub import changes, review
    from zhili.datahub.golden import EntityHandler
    from zhili.datahub.models import Connector, Import, MatchCandidate, SourceRecord
    from zhili.datahub.records import key_index, set_record_values
    from zhili.datahub.rows import StagedRow

    class SameName:  # a stand-in matcher: same name, probability in the review band
        def pairs(self, records: list[Any], *, against: list[Any], threshold: float) -> list[Any]:
            return [types.SimpleNamespace(left=r["id"], right=a["id"], probability=0.8, weight=5.0,
                                          evidence={"name": "姓名相同"})
                    for r in records for a in against if r.get("name") == a.get("name")]

    imp = Import(source_id=s.source.id, path=s.source.path, username=staff.username, user_id=staff.user_id,
                 connector=Connector.csv, filename="台账.csv")
    db.add(imp)
    db.flush()
    ctx = types.SimpleNamespace(session=db, principal=staff, source=s.source, imp=imp)
    handler = EntityHandler(matcher=SameName())
    recs = []
    bad_ids = [id_number[:-1] + ("0" if id_number[-1] != "0" else "1"),
               id_number[:-1] + ("2" if id_number[-1] != "2" else "3")]
    for n, (idn, key) in enumerate([(id_number, key_index("persons", id_number)), (bad_ids[0], None),
                                    (bad_ids[1], None)], start=1):
        values = {"name": "王芳", "id_number": idn, "birth_date": "1985-06-15"}
        rec = SourceRecord(id=uuid.uuid4(), source_id=s.source.id, natural_key=f"r{n}", target_type=s.source.target,
                           path=s.source.path, first_import_id=imp.id, last_import_id=imp.id, row_number=n,
                           key_bidx=key)
        set_record_values(rec, values)
        db.add(rec)
        db.flush()
        handler.apply(ctx, [StagedRow(row_number=n, natural_key=f"r{n}", values=values, path=rec.path, record=rec,
                                      change="new")])
        recs.append(rec)
    cands = {c.source_record_id: c for c in db.scalars(select(MatchCandidate).where(
        MatchCandidate.source_record_id.in_([r.id for r in recs])))}
    s.candidate = cands[recs[1].id]
    from zhili.datahub.models import GoldenRecord

    s.golden = db.get(GoldenRecord, s.candidate.golden_id)
    s.merge = review.merge(db, principal=staff, candidate_id=cands[recs[2].id].id)
    s.subscription = changes.create_subscription(db, principal=admin, data={
        "name": "民政订阅", "kind": "in_app", "department": "CG", "unit_id": s.community.id})
    db.flush()
