"""Change events: written with the change, delivered after commit to in-app and webhook subscribers (signed,
at least once with the event key, retried with back-off, dead-lettered), nothing delivered on rollback;
subscriptions are managed by hub:admin only."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from goldenkit import ID_A, StubMatcher, make_hub, person
from sqlalchemy import select

from zhili.cases.models import Notification
from zhili.core.db import utcnow
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.datahub import changes
from zhili.datahub.models import ChangeEvent, Delivery, DeliveryStatus
from zhili.users.service import principal_for_user


@pytest.fixture
def wired(db, world):
    """Two subscriptions of the district (in-app to the civil-affairs department, a webhook), a fake webhook and
    an after-commit receiver that records the committed change ids."""
    admin = principal_for_user(db, user=world.users["zhihui"])
    world.users["bumen"].department = "minzheng"
    db.flush()
    inapp = changes.create_subscription(db, principal=admin, data={"name": "民政局", "department": "minzheng",
                                                                   "kind": "in_app", "entity_types": ["person"]})
    hook = changes.create_subscription(db, principal=admin, data={"name": "卫健系统", "kind": "webhook",
                                                                  "url": "https://example.test/hook"})
    fake = changes.FakeWebhook()
    committed: list = []
    changes.set_transport(fake)
    changes.set_dispatcher(committed.extend)
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.0))
    hub.source("minzheng", trust=80)
    try:
        yield hub, inapp, hook, fake, committed
    finally:
        changes.set_transport(None)
        changes.set_dispatcher(None)


def test_a_change_is_delivered_after_commit_to_in_app_and_webhook_subscribers(wired, db, world):
    hub, _inapp, hook, fake, committed = wired
    _rec, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    db.commit()
    [_ev_id] = committed  # the created event, handed over only once committed
    hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000002", grid=world.units["ga"]))
    assert len(committed) == 1 and fake.calls == []  # nothing before the commit
    db.commit()
    assert len(committed) == 2
    assert changes.deliver_changes(db, committed) == 4
    ev = db.get(ChangeEvent, committed[1])
    assert ev.kind == "updated" and ev.fields == ["phone"] and ev.delivered
    url, body, headers = fake.calls[1]
    assert url == "https://example.test/hook"
    assert body == {"key": ev.key, "entity_type": "person", "golden_id": str(ev.golden_id), "kind": "updated",
                    "fields": ["phone"], "at": body["at"]}
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    secret = changes.webhook_secret(hook).encode()
    assert headers[changes.SIGNATURE_HEADER] == "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    assert headers[changes.EVENT_HEADER] == ev.key
    assert "13800000002" not in json.dumps(body)
    notes = list(db.scalars(select(Notification).where(Notification.kind == "hub_change")))
    assert len(notes) == 2 and {n.user_id for n in notes} == {world.users["bumen"].id}
    # delivering again is a no-op: each delivery settles once
    assert changes.deliver_changes(db, committed) == 0 and len(fake.calls) == 2


def test_nothing_is_delivered_on_rollback(wired, db, world):
    hub, _inapp, _hook, fake, committed = wired
    db.commit()
    hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    assert db.scalar(select(ChangeEvent.id)) is not None
    db.rollback()
    assert committed == [] and fake.calls == []
    assert db.scalar(select(ChangeEvent.id)) is None


def test_a_failing_webhook_is_retried_with_back_off_then_dead_lettered(wired, db, world):
    hub, _inapp, hook, fake, committed = wired
    fake.fail_first = 100
    hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    db.commit()
    now = utcnow()
    changes.deliver_changes(db, committed, now=now)
    d = db.scalar(select(Delivery).where(Delivery.subscription_id == hook.id))
    assert d.status == DeliveryStatus.pending and d.attempts == 1 and d.last_error == "HTTP 503"
    first_wait = d.next_try_at.replace(tzinfo=dt.UTC) - now
    changes.deliver_changes(db, committed, now=now)  # not due yet: not tried
    assert d.attempts == 1
    for _ in range(changes.MAX_ATTEMPTS - 1):
        now = d.next_try_at.replace(tzinfo=dt.UTC)
        changes.deliver_changes(db, committed, now=now)
    assert d.status == DeliveryStatus.failed and d.attempts == changes.MAX_ATTEMPTS and d.next_try_at is None
    assert first_wait == changes.BACKOFF
    assert db.get(ChangeEvent, committed[0]).delivered  # every subscriber settled (one by dead letter)
    rows = changes.list_deliveries(db, principal=principal_for_user(db, user=world.users["zhihui"]),
                                   subscription_id=hook.id, status=DeliveryStatus.failed)
    assert [r[0].id for r in rows] == [d.id]


def test_redelivery_queues_due_pending_deliveries_for_after_the_commit(wired, db, world):
    hub, _inapp, _hook, _fake, committed = wired
    hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    db.commit()
    committed.clear()
    assert changes.redeliver_due(db, now=utcnow() + dt.timedelta(seconds=1)) == 1
    db.commit()
    assert len(committed) == 1


def test_subscriptions_are_hub_admin_only_and_validated(wired, db, world):
    _hub, inapp, hook, _fake, _committed = wired
    staff = principal_for_user(db, user=world.users["shequ1"])
    with pytest.raises(Forbidden):
        changes.list_subscriptions(db, principal=staff)
    admin = principal_for_user(db, user=world.users["zhihui"])
    with pytest.raises(ValidationFailed):
        changes.create_subscription(db, principal=admin, data={"name": "x", "kind": "webhook", "url": "ftp://x"})
    changes.update_subscription(db, principal=admin, subscription_id=hook.id, changes={"active": False})
    assert [s.id for s in changes.list_subscriptions(db, principal=admin) if s.active] == [inapp.id]
    changes.delete_subscription(db, principal=admin, subscription_id=hook.id)
    with pytest.raises(NotFound):
        changes.get_subscription(db, principal=admin, subscription_id=hook.id)


def test_the_outbox_thread_delivers_after_a_real_commit(tmp_path):
    """End to end on a database of its own: the writing transaction commits, the process's change outbox (the
    notification outbox's thread) delivers to the webhook and records the delivery; a rolled-back change is
    never sent."""
    import types
    import uuid

    from sqlalchemy.orm import Session

    from zhili.core import migrate
    from zhili.core.db import make_engine
    from zhili.core.security import Role
    from zhili.datahub.golden import EntityHandler
    from zhili.datahub.models import Connector, Import, SecurityLevel, Source, SourceRecord, Target
    from zhili.datahub.records import key_index, set_record_values
    from zhili.datahub.rows import StagedRow
    from zhili.regions.models import Unit, UnitLevel
    from zhili.users.models import User, UserUnit

    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    migrate.upgrade(url=url)
    engine = make_engine(url)
    box = changes.HubOutbox(engine=engine)
    changes.set_hub_outbox(box)
    fake = changes.FakeWebhook()
    changes.set_transport(fake)
    try:
        with Session(engine, expire_on_commit=False) as s:
            parent = None
            for level, code in (("district", "330522"), ("street", "330522001"), ("community", "330522001001"),
                                ("grid", "330522001001001")):
                u = Unit(parent_id=parent.id if parent else None, level=UnitLevel(level), code=code, name=code,
                         path=f"{parent.path}/{code}" if parent else code,
                         depth=(parent.depth + 1) if parent else 0, valid_from=dt.date(2020, 1, 1))
                s.add(u)
                s.flush()
                parent = u
            admin = User(id=uuid.uuid4(), username="zhihui", display_name="指挥中心", role=Role.command_centre,
                         password_hash="!")
            staff = User(id=uuid.uuid4(), username="shequ", display_name="社区", role=Role.community_staff,
                         password_hash="!")
            admin.units, staff.units = [UserUnit(unit_id=parent.id)], [UserUnit(unit_id=parent.id)]
            s.add_all([admin, staff])
            s.flush()
            sub = changes.create_subscription(s, principal=principal_for_user(s, user=admin), data={
                "name": "推送", "kind": "webhook", "url": "https://example.test/hook"})
            src = Source(id=uuid.uuid4(), name="minzheng", title="民政", target=Target.persons,
                         security_level=SecurityLevel.internal, unit_id=parent.id, path=parent.path)
            s.add(src)
            s.flush()
            imp = Import(id=uuid.uuid4(), source_id=src.id, path=src.path, connector=Connector.csv, filename="a.csv")
            s.add(imp)
            s.commit()
            ctx = types.SimpleNamespace(session=s, principal=principal_for_user(s, user=staff), source=src, imp=imp)

            def stage(key: str) -> None:
                values = person("张三", ID_A, grid=parent)
                rec = SourceRecord(id=uuid.uuid4(), source_id=src.id, natural_key=key, target_type=Target.persons,
                                   path=src.path, first_import_id=imp.id, last_import_id=imp.id, row_number=1,
                                   key_bidx=key_index("persons", ID_A))
                set_record_values(rec, values)
                s.add(rec)
                s.flush()
                EntityHandler(matcher=StubMatcher(probability=0.0)).apply(ctx, [StagedRow(
                    row_number=1, natural_key=key, values=values, path=src.path, record=rec, change="new")])

            stage("rolled-back")
            s.rollback()
            stage("m-1")
            s.commit()
        assert box.wait_idle(20)
        assert len(fake.calls) == 1 and fake.calls[0][1]["kind"] == "created"
        with Session(engine) as s:
            d = s.scalar(select(Delivery).where(Delivery.subscription_id == sub.id))
            assert d.status == DeliveryStatus.delivered and d.attempts == 1
            assert s.get(ChangeEvent, d.change_id).delivered
    finally:
        changes.set_hub_outbox(None)
        changes.set_transport(None)
        engine.dispose()


def test_an_explicit_null_in_a_patch_is_refused_for_what_must_have_a_value(db, world):
    """PATCH with ``null`` for a subscription's entity types (or a source's title) is a clear 422, not a row the
    next read cannot serialise (found by the standing fuzz: the answer was a 500)."""
    from zhili.datahub import sources

    admin = principal_for_user(db, user=world.users["admin"])
    sub = changes.create_subscription(db, principal=admin, data={
        "name": "民政订阅", "kind": "in_app", "entity_types": ["person"], "unit_id": world.units["c1"].id})
    for field in ("entity_types", "name", "active"):
        with pytest.raises(ValidationFailed) as refused:
            changes.update_subscription(db, principal=admin, subscription_id=sub.id, changes={field: None})
        assert refused.value.code in ("hub_subscription_required", "hub_subscription_name")
    src = sources.create_source(db, principal=admin, data={
        "name": "null-patch", "title": "空值测试", "target": "persons", "unit_id": world.units["c1"].id})
    with pytest.raises(ValidationFailed) as refused:
        sources.update_source(db, principal=admin, source_id=src.id, changes={"title": None})
    assert refused.value.code == "hub_source_required"
