"""The review queue (待复核): pairs in the uncertain band, merged or kept apart by a reviewer; merges undone.

A candidate is a source record and the golden record it may belong to. **Merge** absorbs the record's own golden
record into the other: its links move (the old links are closed, new ``manual`` links opened, all tagged with the
merge), the absorbed golden record points at the survivor (``merged_into``), the survivor's fields are survived
again and its register row updated. The absorbed register row is never deleted: a person is *retired* by setting
its status to ``moved_out`` (已迁出) — out of every active list, the sweep and the statistics, yet still there for
the cases, visits and history that point at it, and set back by undo; organisations and buildings have no status,
so their absorbed row stays as it is and only the golden record says it was merged. The
:class:`~zhili.datahub.models.MergeEvent` keeps a snapshot of both golden records (links, field provenance,
register rows) so **undo** restores both exactly. **Keep apart** is remembered: resolution never proposes that
pair again. Every decision is audited; merges and undos publish change events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import LargeBinary, select
from sqlalchemy import types as satypes
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import Conflict
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, scoped
from zhili.core.masking import mask_id_number, mask_phone
from zhili.core.query import paginate
from zhili.core.security import Perm
from zhili.datahub import changes, golden, golden_register, survivorship
from zhili.datahub.models import (
    CandidateStatus,
    EntityType,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    MatchCandidate,
    MatchType,
    MergeEvent,
    Source,
    SourceRecord,
)
from zhili.datahub.records import record_values
from zhili.registry.models import PersonStatus

MASKED = {"id_number": mask_id_number, "phone": mask_phone, "contact_phone": mask_phone}
_SKIP_COLUMNS = frozenset({"id", "version", "created_at", "updated_at"})


def masked(values: dict[str, Any]) -> dict[str, Any]:
    """Values for display: ID and phone numbers masked (the review pages never reveal them)."""
    return {k: (MASKED[k](str(v)) if k in MASKED and v else v) for k, v in values.items()}


# -- reading ------------------------------------------------------------------------------------------------------

def list_candidates(session: Session, *, principal: Principal, status: CandidateStatus | None =
                    CandidateStatus.pending, entity: EntityType | None = None, page: int = 1, page_size: int = 50
                    ) -> tuple[list[MatchCandidate], int]:
    """Candidates of the caller's area, most probable first."""
    authorize(principal, Perm.hub_review)
    stmt = scoped(select(MatchCandidate), principal, MatchCandidate.path)
    if status is not None:
        stmt = stmt.where(MatchCandidate.status == status)
    if entity is not None:
        stmt = stmt.where(MatchCandidate.entity_type == entity)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[MatchCandidate.probability.desc(), MatchCandidate.created_at, MatchCandidate.id])


def get_candidate(session: Session, *, principal: Principal, candidate_id: uuid.UUID) -> MatchCandidate:
    """One candidate of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_review)
    c = session.get(MatchCandidate, candidate_id)
    if c is None or not in_scope(principal, c.path):
        raise not_found("待复核记录")
    return c


def golden_values(session: Session, g: GoldenRecord) -> dict[str, Any]:
    """The golden record's current values (its register row; survived from its records when it has none)."""
    entity = EntityType(g.entity_type)
    if g.register_id is not None:
        obj = session.get(golden_register.MODEL_OF[entity], g.register_id)
        if obj is not None:
            values = golden_register.register_values(entity, obj)
            extra = survivorship.survive(golden._members(session, [g.id]).get(g.id, []),
                                         survivorship.rules_for(session, entity))
            for f, c in extra.items():
                values.setdefault(f, c.value)
            return values
    chosen = survivorship.survive(golden._members(session, [g.id]).get(g.id, []),
                                  survivorship.rules_for(session, entity))
    return {f: c.value for f, c in chosen.items()}


def candidate_view(session: Session, *, principal: Principal, candidate_id: uuid.UUID) -> dict[str, Any]:
    """A pair side by side: the record's and the golden record's values (masked), whether each field agrees,
    the probability and the comparison levels."""
    c = get_candidate(session, principal=principal, candidate_id=candidate_id)
    rec = session.get(SourceRecord, c.source_record_id)
    assert rec is not None
    src = session.get(Source, rec.source_id)
    g = session.get(GoldenRecord, c.golden_id)
    assert g is not None
    left, right = record_values(rec), golden_values(session, g)
    fields = [f for f in golden_register.FIELDS_OF[EntityType(c.entity_type)] if f in left or f in right]
    rows = [{"field": f, "left": masked(left).get(f), "right": masked(right).get(f),
             "same": (str(left.get(f)) == str(right.get(f))) if left.get(f) is not None and right.get(f) is not None
             else None, "level": (c.evidence or {}).get("levels", {}).get(f)} for f in fields]
    return {"candidate": c, "source": src, "record": rec, "golden": g, "rows": rows,
            "weight": (c.evidence or {}).get("weight")}


# -- snapshots ------------------------------------------------------------------------------------------------------

def _dump(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in type(obj).__table__.columns:
        if col.key in _SKIP_COLUMNS:
            continue
        v = getattr(obj, col.key)
        if isinstance(v, bytes | bytearray | memoryview):
            v = {"__bytes": bytes(v).hex()}
        elif isinstance(v, dt.datetime | dt.date):
            v = v.isoformat()
        elif isinstance(v, uuid.UUID):
            v = str(v)
        elif hasattr(v, "value") and not isinstance(v, (int, float, str)):
            v = v.value
        elif isinstance(v, str) and hasattr(v, "value"):  # StrEnum
            v = str(v.value)
        out[col.key] = v
    return out


def _load(obj: Any, data: dict[str, Any]) -> None:
    cols = type(obj).__table__.columns
    for key, v in data.items():
        col = cols[key]
        t = col.type
        if isinstance(v, dict) and "__bytes" in v:
            v = bytes.fromhex(v["__bytes"])
        elif v is not None and isinstance(t, satypes.Enum) and t.enum_class is not None:
            v = t.enum_class(v)
        elif v is not None and isinstance(t, satypes.Uuid):
            v = uuid.UUID(str(v))
        elif v is not None and isinstance(t, satypes.DateTime):
            v = dt.datetime.fromisoformat(v)
        elif v is not None and isinstance(t, satypes.Date):
            v = dt.date.fromisoformat(v)
        elif v is not None and isinstance(t, LargeBinary) and isinstance(v, str):
            v = bytes.fromhex(v)
        if getattr(obj, key) != v:
            setattr(obj, key, v)


def _field_dump(gf: GoldenField) -> dict[str, Any]:
    return {"id": str(gf.id), "field": gf.field, "source_record_id": str(gf.source_record_id),
            "import_id": str(gf.import_id), "row_number": gf.row_number, "rule": gf.rule,
            "value_digest": gf.value_digest, "chosen_at": gf.chosen_at.isoformat()}


def _snapshot(session: Session, g: GoldenRecord) -> dict[str, Any]:
    links = list(session.scalars(select(GoldenLink.id).where(GoldenLink.golden_id == g.id,
                                                             GoldenLink.unlinked_at.is_(None))))
    fields = [_field_dump(gf) for gf in session.scalars(select(GoldenField).where(GoldenField.golden_id == g.id))]
    reg = None
    if g.register_id is not None:
        obj = session.get(golden_register.MODEL_OF[EntityType(g.entity_type)], g.register_id)
        reg = _dump(obj) if obj is not None else None
    return {"golden": {"id": str(g.id), "register_id": str(g.register_id) if g.register_id else None,
                       "path": g.path, "register_note": g.register_note},
            "links": [str(i) for i in links], "fields": fields, "register": reg}


def _restore(session: Session, g: GoldenRecord, snap: dict[str, Any]) -> list[str]:
    """Put a golden record's fields and register row back as in ``snap``; the fields whose value changed."""
    info = snap["golden"]
    g.register_id = uuid.UUID(info["register_id"]) if info["register_id"] else None
    g.path, g.register_note = info["path"], info["register_note"]
    have = {gf.field: gf for gf in session.scalars(select(GoldenField).where(GoldenField.golden_id == g.id))}
    want = {f["field"]: f for f in snap["fields"]}
    changed = []
    for name, gf in have.items():
        if name not in want:
            session.delete(gf)
            changed.append(name)
    session.flush()
    for name, f in want.items():
        found = have.get(name)
        if found is None:
            gf = GoldenField(id=uuid.UUID(f["id"]), golden_id=g.id, field=name)
            session.add(gf)
            changed.append(name)
        else:
            gf = found
            if gf.value_digest != f["value_digest"]:
                changed.append(name)
        gf.source_record_id, gf.import_id = uuid.UUID(f["source_record_id"]), uuid.UUID(f["import_id"])
        gf.row_number, gf.rule, gf.value_digest = f["row_number"], f["rule"], f["value_digest"]
        gf.chosen_at = dt.datetime.fromisoformat(f["chosen_at"])
    if snap.get("register") and g.register_id is not None:
        obj = session.get(golden_register.MODEL_OF[EntityType(g.entity_type)], g.register_id)
        if obj is not None:
            _load(obj, snap["register"])
    return sorted(set(changed))


# -- decisions --------------------------------------------------------------------------------------------------

def _survivor(session: Session, gid: uuid.UUID) -> GoldenRecord:
    g = session.get(GoldenRecord, gid)
    assert g is not None
    while g.merged_into is not None:
        nxt = session.get(GoldenRecord, g.merged_into)
        assert nxt is not None
        g = nxt
    return g


def _current_golden(session: Session, record_id: uuid.UUID) -> GoldenRecord | None:
    gid = session.scalar(select(GoldenLink.golden_id).where(GoldenLink.source_record_id == record_id,
                                                            GoldenLink.unlinked_at.is_(None)))
    return _survivor(session, gid) if gid else None


def merge(session: Session, *, principal: Principal, candidate_id: uuid.UUID) -> MergeEvent:
    """Merge a candidate pair: the record's golden record is absorbed into the candidate's (see the module
    docstring). ``hub:review``; audited; publishes ``merged`` for both golden records."""
    c = get_candidate(session, principal=principal, candidate_id=candidate_id)
    if c.status != CandidateStatus.pending:
        raise Conflict("该记录已复核，请刷新后查看", code="hub_candidate_decided")
    survivor = _survivor(session, c.golden_id)
    absorbed = _current_golden(session, c.source_record_id)
    if absorbed is None or absorbed.id == survivor.id:
        raise Conflict("这两条记录已属于同一主数据", code="hub_already_merged")
    if not in_scope(principal, survivor.path) or not in_scope(principal, absorbed.path):
        raise not_found("待复核记录")
    entity = EntityType(c.entity_type)
    now = utcnow()
    m = MergeEvent(id=new_id(), entity_type=entity, survivor_id=survivor.id, absorbed_id=absorbed.id,
                   match_type=MatchType.manual, probability=c.probability, by=principal.username, at=now)
    m.snapshot = {"survivor": _snapshot(session, survivor), "absorbed": _snapshot(session, absorbed),
                  "candidate_id": str(c.id)}
    session.add(m)
    moved = list(session.scalars(select(GoldenLink).where(GoldenLink.golden_id == absorbed.id,
                                                          GoldenLink.unlinked_at.is_(None))))
    for link in moved:
        link.unlinked_at = now
        session.add(GoldenLink(id=new_id(), golden_id=survivor.id, source_record_id=link.source_record_id,
                               match_type=MatchType.manual,
                               score=c.probability if link.source_record_id == c.source_record_id else link.score,
                               merge_event_id=m.id, linked_at=now))
    absorbed.merged_into = survivor.id
    retired = None
    if entity is EntityType.person and absorbed.register_id is not None:
        from zhili.registry.models import Person

        p = session.get(Person, absorbed.register_id)
        if p is not None and p.status == PersonStatus.active:
            p.status = PersonStatus.moved_out  # restored by undo from the snapshot; audited below
            retired = str(p.id)
    c.status, c.decided_by, c.decided_at = CandidateStatus.merged, principal.username, now
    session.flush()
    golden._refresh(session, principal, entity, [survivor], kind="merged")
    absorbed.version = (absorbed.version or 0) + 1
    changes.publish(session, absorbed, "merged", [])
    for rec_id in {link.source_record_id for link in moved}:
        rec = session.get(SourceRecord, rec_id)
        if rec is not None:
            rec.target_id = survivor.register_id
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.merge", object_type="hub_golden",
                 object_id=survivor.id, after={"merge": str(m.id), "absorbed": str(absorbed.id),
                                               "candidate": str(c.id), "links_moved": len(moved),
                                               "retired_person": retired})
    return m


def keep_apart(session: Session, *, principal: Principal, candidate_id: uuid.UUID) -> MatchCandidate:
    """Decide a pair are different: remembered, the pair is never proposed again. ``hub:review``; audited."""
    c = get_candidate(session, principal=principal, candidate_id=candidate_id)
    if c.status != CandidateStatus.pending:
        raise Conflict("该记录已复核，请刷新后查看", code="hub_candidate_decided")
    c.status, c.decided_by, c.decided_at = CandidateStatus.kept_apart, principal.username, utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.keep_apart", object_type="hub_match_candidate",
                 object_id=c.id, after={"golden": str(c.golden_id), "probability": c.probability})
    return c


def get_merge(session: Session, *, principal: Principal, merge_id: uuid.UUID) -> MergeEvent:
    """One merge of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_read)
    m = session.get(MergeEvent, merge_id)
    g = session.get(GoldenRecord, m.survivor_id) if m is not None else None
    if m is None or g is None or not in_scope(principal, g.path):
        raise not_found("合并记录")
    return m


def undo_merge(session: Session, *, principal: Principal, merge_id: uuid.UUID) -> MergeEvent:
    """Undo a merge: both golden records get back their links, field provenance and register rows as they were
    before it; the candidate waits for review again. ``hub:review``; audited; publishes ``unmerged``."""
    authorize(principal, Perm.hub_review)
    m = get_merge(session, principal=principal, merge_id=merge_id)
    if m.undone_at is not None:
        raise Conflict("该合并已撤销", code="hub_merge_undone")
    survivor = session.get(GoldenRecord, m.survivor_id)
    absorbed = session.get(GoldenRecord, m.absorbed_id) if m.absorbed_id else None
    assert survivor is not None and absorbed is not None
    if survivor.merged_into is not None:
        raise Conflict("合并后的主数据已再次被合并，请先撤销后来的合并", code="hub_merge_superseded")
    now = utcnow()
    snap = m.snapshot
    for link in session.scalars(select(GoldenLink).where(GoldenLink.merge_event_id == m.id,
                                                         GoldenLink.unlinked_at.is_(None))):
        link.unlinked_at = now
    for lid in snap["absorbed"]["links"]:
        back = session.get(GoldenLink, uuid.UUID(lid))
        if back is not None:
            back.unlinked_at = None
    absorbed.merged_into = None
    session.flush()
    changed_s = _restore(session, survivor, snap["survivor"])
    changed_a = _restore(session, absorbed, snap["absorbed"])
    cand_id = snap.get("candidate_id")
    cand = session.get(MatchCandidate, uuid.UUID(cand_id)) if cand_id else None
    if cand is not None:
        cand.status, cand.decided_by, cand.decided_at = CandidateStatus.pending, None, None
        rec = session.get(SourceRecord, cand.source_record_id)
        if rec is not None:
            rec.target_id = absorbed.register_id
    m.undone_at, m.undone_by = now, principal.username
    session.flush()
    for g, fields in ((survivor, changed_s), (absorbed, changed_a)):
        g.version = (g.version or 0) + 1
        changes.publish(session, g, "unmerged", fields)
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.merge.undo", object_type="hub_golden",
                 object_id=survivor.id, after={"merge": str(m.id), "absorbed": str(absorbed.id),
                                               "register_rows": [x for x in (snap["survivor"]["golden"]["register_id"],
                                                                             snap["absorbed"]["golden"]["register_id"])
                                                                 if x]})
    return m


def list_merges(session: Session, *, principal: Principal, golden_id: uuid.UUID) -> list[MergeEvent]:
    """The merges a golden record took part in (as survivor or absorbed), newest first."""
    authorize(principal, Perm.hub_read)
    g = session.get(GoldenRecord, golden_id)
    if g is None or not in_scope(principal, g.path):
        raise not_found("主数据")
    return list(session.scalars(select(MergeEvent).where(
        (MergeEvent.survivor_id == golden_id) | (MergeEvent.absorbed_id == golden_id)).order_by(MergeEvent.at.desc())))
