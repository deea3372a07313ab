"""Model versions in the database (table ``ml_model``, :class:`~zhili.intel.models.ModelVersion`).

Each trained model is a row: its signed artifact (:meth:`TextModel.dumps`) and the artifact's SHA-256, its labels,
parameters, training window, evaluation, who trained it and who activated it. Versions count up per ``name``; at most
one version of a name is ``active`` (the one predictions use), activating another retires it, and rollback
re-activates the version that was active before the current one. Training, activation and rollback are audited and
need ``intel:admin``; reading the active model (:func:`active`, :func:`get`, :func:`load`) is what the case loop does
on every report and needs no principal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.clock import utcnow
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel.models import ModelState, ModelVersion
from zhili.intel.textmodel import ModelIntegrityError, TextModel

KIND = "text-classifier"
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[Any, str], TextModel] = OrderedDict()
_cache_lock = threading.Lock()


def _view(mv: ModelVersion) -> dict[str, Any]:
    return {"name": mv.name, "version": mv.version, "state": mv.state.value, "source": mv.source,
            "sha256": mv.artifact_sha256, "n_train": mv.n_train, "labels": len(mv.labels or [])}


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or "@" in name:
        raise ValidationFailed("模型名称须为 1–64 个字符，且不能含“@”", code="intel_model_name")
    return name


def save(session: Session, *, principal: Principal, name: str, model: TextModel, source: str,
         params: dict[str, Any], metrics: dict[str, Any], data_from: dt.datetime | None = None,
         data_to: dt.datetime | None = None, n_train: int, seconds: float, note: str | None = None,
         activate: bool = False) -> ModelVersion:
    """Store ``model`` as the next version of ``name`` (version = the largest so far + 1), audited; activate it
    too when ``activate``."""
    authorize(principal, Perm.intel_admin)
    name = _check_name(name)
    artifact = model.dumps()
    last = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.name == name)) or 0
    mv = ModelVersion(name=name, version=int(last) + 1, kind=KIND, source=source, state=ModelState.trained,
                      artifact=artifact, artifact_sha256=hashlib.sha256(artifact).hexdigest(),
                      labels=list(model.labels), params=dict(params), data_from=data_from, data_to=data_to,
                      n_train=n_train, metrics=dict(metrics), trained_by=principal.username[:64],
                      trained_at=utcnow(), seconds=float(seconds), note=note)
    session.add(mv)
    session.flush()
    audit.record(session, actor=principal.actor, action="intel.model.train", object_type="ml_model",
                 object_id=mv.id, after={**_view(mv), "metrics": {k: metrics.get(k) for k in
                                                                  ("split", "top1", "top3", "macro_f1")}})
    with _cache_lock:
        _cache[(mv.id, mv.artifact_sha256)] = model
        _trim()
    if activate:
        _activate(session, principal, mv)
    return mv


def _trim() -> None:
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


def load(session: Session, version: ModelVersion) -> TextModel:
    """The model of a stored version: its SHA-256 and HMAC checked, then kept in this process's cache (by row id and
    artifact hash) so the case loop does not unpickle it for every report. Refuses (Chinese
    :class:`~zhili.intel.textmodel.ModelIntegrityError`) an artifact that does not match."""
    key = (version.id, version.artifact_sha256)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    data = bytes(version.artifact)
    if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
        raise ModelIntegrityError(f"模型 {version.name}@{version.version} 的文件与登记的 SHA-256 不符，已拒绝加载")
    model = TextModel.loads(data)
    with _cache_lock:
        _cache[key] = model
        _trim()
    return model


def load_active(session: Session, name: str) -> tuple[ModelVersion, TextModel] | None:
    """The active version of ``name`` and its model, or None. The version row is read without its artifact (a
    large model is tens of MB); the artifact is read only when this process has not loaded that version yet."""
    from sqlalchemy.orm import defer

    version = session.scalar(select(ModelVersion).options(defer(ModelVersion.artifact))
                             .where(ModelVersion.name == name, ModelVersion.state == ModelState.active)
                             .order_by(ModelVersion.version.desc()).limit(1))
    if version is None:
        return None
    return version, load(session, version)  # the deferred artifact is read only on a cache miss


def active(session: Session, name: str) -> ModelVersion | None:
    """The active version of ``name``, or None when none is (no model trained or activated yet)."""
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name,
                                                     ModelVersion.state == ModelState.active)
                          .order_by(ModelVersion.version.desc()).limit(1))


def get(session: Session, name: str, version: int | None = None) -> ModelVersion:
    """Version ``version`` of ``name`` (the latest when None); :class:`NotFound` in Chinese."""
    stmt = select(ModelVersion).where(ModelVersion.name == name)
    if version is None:
        mv = session.scalar(stmt.order_by(ModelVersion.version.desc()).limit(1))
        if mv is None:
            raise NotFound(f"模型“{name}”不存在（尚未训练）", code="intel_model_not_found")
        return mv
    mv = session.scalar(stmt.where(ModelVersion.version == version))
    if mv is None:
        raise NotFound(f"模型“{name}”没有第 {version} 版", code="intel_model_not_found")
    return mv


def _activate(session: Session, principal: Principal, mv: ModelVersion, *, action: str = "intel.model.activate",
              reason: str | None = None) -> ModelVersion:
    previous = session.scalars(select(ModelVersion).where(ModelVersion.name == mv.name,
                                                          ModelVersion.state == ModelState.active,
                                                          ModelVersion.id != mv.id)).all()
    for other in previous:
        other.state = ModelState.retired
    mv.state = ModelState.active
    mv.activated_by = principal.username[:64]
    mv.activated_at = utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action=action, object_type="ml_model", object_id=mv.id,
                 before={"active": [f"{o.name}@{o.version}" for o in previous]},
                 after={**_view(mv), "activated_by": mv.activated_by}, reason=reason)
    return mv


def activate(session: Session, *, principal: Principal, name: str, version: int) -> ModelVersion:
    """Make ``name@version`` the active version; the version active until now is retired. Who and when are
    recorded on the row and in the audit log."""
    authorize(principal, Perm.intel_admin)
    mv = get(session, name, version)
    load(session, mv)  # never activate what cannot be read (a changed artifact is refused here, not in intake)
    return _activate(session, principal, mv)


def rollback(session: Session, *, principal: Principal, name: str) -> ModelVersion:
    """Re-activate the version of ``name`` that was active before the current one (the most recently activated
    other version). A Chinese error when there is none."""
    authorize(principal, Perm.intel_admin)
    current = active(session, name)
    if current is None:
        get(session, name)  # NotFound for an unknown name
        raise ValidationFailed(f"模型“{name}”当前没有启用的版本，无法回滚", code="intel_model_no_active")
    earlier = session.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.id != current.id,
                                                        ModelVersion.activated_at.is_not(None))
                             .order_by(ModelVersion.activated_at.desc(), ModelVersion.version.desc()).limit(1))
    if earlier is None:
        raise ValidationFailed(f"模型“{name}”在第 {current.version} 版之前没有启用过其他版本，无法回滚",
                               code="intel_model_no_previous")
    return _activate(session, principal, earlier, action="intel.model.rollback",
                     reason=f"回滚：{name}@{current.version} → {name}@{earlier.version}")


def list_versions(session: Session, *, principal: Principal, name: str | None = None) -> list[ModelVersion]:
    """Every stored version (of ``name`` when given), by name and newest version first."""
    authorize(principal, Perm.intel_admin)
    stmt = select(ModelVersion)
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt.order_by(ModelVersion.name, ModelVersion.version.desc())))


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"category@3"`` → ("category", 3); ``"category"`` → ("category", None). A Chinese error otherwise."""
    name, sep, num = (ref or "").strip().partition("@")
    if not name or (sep and not num.strip().isdigit()):
        raise ValidationFailed(f"模型版本“{ref}”的格式应为 名称@版本号，如 category@3", code="intel_model_ref")
    return name, int(num) if sep else None
