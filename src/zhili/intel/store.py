"""Model versions (``ml_model``): save, load, activate, roll back.

A trained model is stored as its pickled pipeline (scikit-learn objects and our own small classes). Unpickling
runs code, so a stored artifact is loaded only when it is exactly what this platform wrote: the row keeps the
artifact's SHA-256 and a keyed MAC of it — the platform's blind-index HMAC key (:mod:`zhili.core.crypto`, stable
across key rotations) over the digest — and :func:`load` refuses anything else with a Chinese error. Someone who can
write the database but does not hold the key material cannot plant a model that runs their code.

At most one version per name is ``active``: activating a version retires the one before (its activation is kept:
who and when); :func:`rollback` activates the version that was active before the current one. Every change is
audited.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import threading
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel.models import ModelState, ModelVersion

_PURPOSE = "ml_model.artifact"
_cache: dict[uuid.UUID, Any] = {}
_cache_lock = threading.Lock()


class DamagedModel(ValidationFailed):
    """A stored model whose bytes are not what the platform wrote."""


def _mac(digest: str) -> str:
    return get_cipher().blind_index(digest, purpose=_PURPOSE)


def seal(model: Any) -> tuple[bytes, str]:
    """(artifact, "sha256:mac") of a model."""
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(data).hexdigest()
    return data, f"{digest}:{_mac(digest)}"


def unseal(data: bytes, seal_: str) -> Any:
    """The model in ``data``, if its seal is this platform's (:class:`DamagedModel` otherwise)."""
    digest = hashlib.sha256(data).hexdigest()
    want_digest, _, want_mac = seal_.partition(":")
    if not (hmac.compare_digest(digest, want_digest) and hmac.compare_digest(_mac(digest), want_mac)):
        raise DamagedModel("模型文件校验失败（内容被改动或不是本平台生成），已拒绝加载", code="model_damaged")
    return pickle.loads(data)


def save(session: Session, *, principal: Principal, name: str, model: Any, source: str, params: dict[str, Any],
         metrics: dict[str, Any], data_from: Any = None, data_to: Any = None, n_train: int, seconds: float,
         note: str | None = None, activate: bool = False, kind: str = "text-classifier") -> ModelVersion:
    """A new version of ``name`` (its number one above the last), activated when asked."""
    authorize(principal, Perm.intel_admin)
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValidationFailed("模型名称不能为空，且不超过64个字符", code="bad_model_name")
    data, sealed = seal(model)
    last = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.name == name)) or 0
    row = ModelVersion(name=name, version=last + 1, kind=kind, source=source, artifact=data,
                       artifact_seal=sealed, labels=[str(x) for x in getattr(model, "labels", [])],
                       params=params, metrics=metrics, data_from=data_from, data_to=data_to, n_train=n_train,
                       trained_by=principal.username, trained_at=utcnow(), seconds=round(seconds, 3), note=note)
    session.add(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="intel.model_train", object_type="ml_model",
                 object_id=row.id, after={"name": name, "version": row.version, "n_train": n_train,
                                          "metrics": {k: v for k, v in metrics.items()
                                                      if isinstance(v, int | float | str)}})
    if activate:
        _activate(session, principal, row)
    return row


def load(session: Session, version: ModelVersion) -> Any:
    """The model of a version (checked, then cached per version id for the process)."""
    with _cache_lock:
        hit = _cache.get(version.id)
    if hit is not None:
        return hit
    data = version.artifact
    if data is None:  # an expunged row without its deferred bytes
        data = session.scalar(select(ModelVersion.artifact).where(ModelVersion.id == version.id))
    model = unseal(bytes(data), version.artifact_seal)
    with _cache_lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[version.id] = model
    return model


def active(session: Session, name: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name,
                                                     ModelVersion.state == ModelState.active))


def get(session: Session, name: str, version: int | None = None) -> ModelVersion:
    """A version of ``name`` (the latest when ``version`` is None)."""
    stmt = select(ModelVersion).where(ModelVersion.name == name)
    stmt = stmt.where(ModelVersion.version == version) if version is not None else \
        stmt.order_by(ModelVersion.version.desc()).limit(1)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"模型 {name}{'@' + str(version) if version is not None else ''} 不存在", code="model_not_found")
    return row


def _activate(session: Session, principal: Principal, row: ModelVersion) -> ModelVersion:
    before = active(session, row.name)
    if before is not None and before.id != row.id:
        before.state = ModelState.retired
    row.state, row.activated_by, row.activated_at = ModelState.active, principal.username, utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action="intel.model_activate", object_type="ml_model",
                 object_id=row.id, before={"active": before.version if before else None},
                 after={"name": row.name, "version": row.version})
    return row


def activate(session: Session, *, principal: Principal, name: str, version: int) -> ModelVersion:
    """Make ``name@version`` the one in use (the version in use before is retired)."""
    authorize(principal, Perm.intel_admin)
    row = get(session, name, version)
    load(session, row)  # never activate what cannot be read
    return _activate(session, principal, row)


def rollback(session: Session, *, principal: Principal, name: str) -> ModelVersion:
    """Activate again the version that was in use before the current one."""
    authorize(principal, Perm.intel_admin)
    current = active(session, name)
    earlier = session.scalars(select(ModelVersion).where(
        ModelVersion.name == name, ModelVersion.activated_at.is_not(None),
        ModelVersion.id != (current.id if current else None))
        .order_by(ModelVersion.activated_at.desc())).first()
    if earlier is None:
        raise Conflict(f"模型 {name} 没有可回退的更早版本", code="nothing_to_roll_back")
    return activate(session, principal=principal, name=name, version=earlier.version)


def list_versions(session: Session, *, principal: Principal, name: str | None = None) -> list[ModelVersion]:
    """Every version (of ``name``), newest first per name."""
    authorize(principal, Perm.intel_admin)
    stmt = select(ModelVersion)
    if name:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt.order_by(ModelVersion.name, ModelVersion.version.desc())))
