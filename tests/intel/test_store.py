"""Model versions: each save is the next version of its name, audited; at most one version of a name is active;
rollback returns to the version active before; a changed artifact is refused; only intel:admin manages them."""

from __future__ import annotations

import uuid

import pytest
from clsdata import labelled
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.intel import store, textmodel
from zhili.intel.models import ModelState, ModelVersion
from zhili.intel.textmodel import ModelIntegrityError, TextModel

ADMIN = Principal(user_id=uuid.uuid4(), username="zhihui", display_name="指挥中心", role=Role.command_centre)
STAFF = Principal(user_id=uuid.uuid4(), username="shequ", display_name="社区", role=Role.community_staff)


@pytest.fixture(scope="module")
def model() -> TextModel:
    texts, labels = labelled(8, seed=11)
    return textmodel.fit(texts, labels)


def _save(db: Session, model: TextModel, name: str = "t-category", activate: bool = False) -> ModelVersion:
    return store.save(db, principal=ADMIN, name=name, model=model, source="file", params={"file": "x.csv"},
                      metrics={"split": "cv5", "top1": 0.9}, n_train=32, seconds=1.5, activate=activate)


def test_versions_count_up_per_name_and_load_back(db: Session, model: TextModel) -> None:
    v1 = _save(db, model)
    v2 = _save(db, model)
    other = _save(db, model, name="t-department")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v2.state == ModelState.trained and v2.trained_by == "zhihui" and v2.labels == model.labels
    assert store.get(db, "t-category").id == v2.id and store.get(db, "t-category", 1).id == v1.id
    loaded = store.load(db, v1)
    assert loaded.labels == model.labels
    store._cache.clear()
    assert store.load(db, v1).top("学校门口\n老师学生") == model.top("学校门口\n老师学生")
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(v1.id))).all()
    assert actions == ["intel.model.train"]
    with pytest.raises(NotFound) as exc:
        store.get(db, "t-category", 9)
    assert "没有第 9 版" in exc.value.message
    with pytest.raises(NotFound):
        store.get(db, "no-such-model")


def test_activation_retires_the_other_and_rollback_returns_to_the_previous(db: Session, model: TextModel) -> None:
    assert store.active(db, "t-category") is None
    v1 = _save(db, model, activate=True)
    v2 = _save(db, model)
    v3 = _save(db, model, activate=True)
    assert store.active(db, "t-category").id == v3.id
    assert (v1.state, v2.state, v3.state) == (ModelState.retired, ModelState.trained, ModelState.active)
    assert v3.activated_by == "zhihui" and v3.activated_at is not None
    back = store.rollback(db, principal=ADMIN, name="t-category")
    assert back.id == v1.id and store.active(db, "t-category").id == v1.id and v3.state == ModelState.retired
    store.activate(db, principal=ADMIN, name="t-category", version=2)
    assert [v.state for v in (v1, v2, v3)] == [ModelState.retired, ModelState.active, ModelState.retired]
    assert store.rollback(db, principal=ADMIN, name="t-category").id == v1.id
    events = db.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "ml_model")
                        .order_by(AuditEvent.seq)).all()
    assert events.count("intel.model.rollback") == 2 and events.count("intel.model.activate") == 3
    listed = store.list_versions(db, principal=ADMIN, name="t-category")
    assert [v.version for v in listed] == [3, 2, 1]


def test_rollback_needs_an_earlier_active_version(db: Session, model: TextModel) -> None:
    _save(db, model, name="t-lonely", activate=True)
    with pytest.raises(ValidationFailed) as exc:
        store.rollback(db, principal=ADMIN, name="t-lonely")
    assert "无法回滚" in exc.value.message
    _save(db, model, name="t-idle")
    with pytest.raises(ValidationFailed) as exc:
        store.rollback(db, principal=ADMIN, name="t-idle")
    assert "没有启用的版本" in exc.value.message


def test_a_changed_artifact_is_refused(db: Session, model: TextModel) -> None:
    mv = _save(db, model, name="t-tampered")
    store._cache.clear()
    data = bytearray(mv.artifact)
    data[-5] ^= 0x01
    mv.artifact = bytes(data)
    with pytest.raises(ModelIntegrityError) as exc:
        store.load(db, mv)
    assert "SHA-256" in exc.value.message
    mv.artifact_sha256 = __import__("hashlib").sha256(bytes(data)).hexdigest()  # a forger updating the hash too
    with pytest.raises(ModelIntegrityError):
        store.load(db, mv)


def test_only_intel_admin_manages_models(db: Session, model: TextModel) -> None:
    with pytest.raises(Forbidden):
        _save_as(db, model, STAFF)
    with pytest.raises(Forbidden):
        store.list_versions(db, principal=STAFF)
    with pytest.raises(Forbidden):
        store.activate(db, principal=STAFF, name="t-category", version=1)
    with pytest.raises(Forbidden):
        store.rollback(db, principal=STAFF, name="t-category")


def _save_as(db: Session, model: TextModel, who: Principal) -> ModelVersion:
    return store.save(db, principal=who, name="t-x", model=model, source="file", params={}, metrics={},
                      n_train=1, seconds=0.0)


def test_refs_parse_and_bad_names_are_refused() -> None:
    assert store.parse_ref("category@3") == ("category", 3)
    assert store.parse_ref("category") == ("category", None)
    for bad in ("category@x", "@2", ""):
        with pytest.raises(ValidationFailed):
            store.parse_ref(bad)
    with pytest.raises(ValidationFailed):
        store._check_name("a@b")
