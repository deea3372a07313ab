"""Lineage (血缘): where a golden record's fields, a register row or an imported case came from.

* a golden record: every field with the source record that supplied it, its source, import (file name, when,
  who), row number and the survivorship rule; its linked records; its merge history;
* a register row (person, organisation, building, household): the source records that feed it (directly, through
  ``SourceRecord.target_id``, or through the golden record whose value it is);
* an imported (historical) case: its source, import and row.

All ``hub:read``, within the caller's jurisdiction (a record out of scope answers 404). No values: the provenance
names sources, files and rows, never the personal data they hold.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found
from zhili.core.security import Perm
from zhili.datahub import survivorship
from zhili.datahub.golden_register import FIELDS_OF
from zhili.datahub.models import (
    EntityType,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    Import,
    MergeEvent,
    Source,
    SourceRecord,
    Target,
)

REGISTER_KINDS: dict[str, tuple[Target, EntityType | None]] = {
    "person": (Target.persons, EntityType.person), "organisation": (Target.organisations, EntityType.organisation),
    "building": (Target.buildings, EntityType.building), "household": (Target.households, None),
}


def _import_view(imp: Import | None, who: dict[uuid.UUID, str] | None = None) -> dict[str, Any] | None:
    if imp is None:
        return None
    return {"id": imp.id, "filename": imp.filename, "started_at": imp.started_at, "username": imp.username,
            "who": (who or {}).get(imp.user_id) if imp.user_id else None, "connector": imp.connector}


def _who(session: Session, imps: Any) -> dict[uuid.UUID, str]:
    """Display names of the users who ran these imports."""
    from zhili.users.models import User

    ids = {i.user_id for i in imps if i.user_id}
    return {i: n for i, n in session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))} \
        if ids else {}


def _record_views(session: Session, recs: list[SourceRecord]) -> list[dict[str, Any]]:
    src = {s.id: s for s in session.scalars(select(Source).where(Source.id.in_({r.source_id for r in recs})))}
    imps = {i.id: i for i in session.scalars(select(Import).where(
        Import.id.in_({r.last_import_id for r in recs} | {r.first_import_id for r in recs})))}
    who = _who(session, imps.values())
    return [{"record_id": r.id, "source_id": r.source_id, "source": src[r.source_id].title,
             "source_name": src[r.source_id].name, "trust": src[r.source_id].trust, "natural_key": r.natural_key,
             "row_number": r.row_number, "import": _import_view(imps.get(r.last_import_id), who),
             "first_import": _import_view(imps.get(r.first_import_id), who), "first_seen": r.first_seen,
             "changed_at": r.changed_at} for r in recs]


def get_golden(session: Session, *, principal: Principal, golden_id: uuid.UUID) -> GoldenRecord:
    """One golden record of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_read)
    g = session.get(GoldenRecord, golden_id)
    if g is None or not in_scope(principal, g.path):
        raise not_found("主数据")
    return g


def golden_lineage(session: Session, *, principal: Principal, golden_id: uuid.UUID) -> dict[str, Any]:
    """A golden record's provenance: fields (source, import, row, rule), linked records, merge history."""
    g = get_golden(session, principal=principal, golden_id=golden_id)
    entity = EntityType(g.entity_type)
    fields = list(session.scalars(select(GoldenField).where(GoldenField.golden_id == g.id)))
    links = list(session.execute(select(GoldenLink, SourceRecord)
                                 .join(SourceRecord, SourceRecord.id == GoldenLink.source_record_id)
                                 .where(GoldenLink.golden_id == g.id).order_by(GoldenLink.linked_at)).all())
    recs = {r.id: r for r in session.scalars(select(SourceRecord).where(
        SourceRecord.id.in_({f.source_record_id for f in fields} | {r.id for _, r in links})))}
    views = {v["record_id"]: v for v in _record_views(session, list(recs.values()))} if recs else {}
    imps = {i.id: i for i in session.scalars(select(Import).where(Import.id.in_({f.import_id for f in fields})))}
    who = _who(session, imps.values())
    order = {f: i for i, f in enumerate(FIELDS_OF[entity])}
    rules = survivorship.rules_for(session, entity)
    field_rows = []
    for f in sorted(fields, key=lambda x: (order.get(x.field, 999), x.field)):
        v = views.get(f.source_record_id, {})
        field_rows.append({"field": f.field, "rule": f.rule, "current_rule": survivorship.rule_of(rules, f.field),
                           "source": v.get("source"), "source_id": v.get("source_id"),
                           "record_id": f.source_record_id, "import": _import_view(imps.get(f.import_id), who),
                           "row_number": f.row_number, "chosen_at": f.chosen_at})
    link_rows = [{"match_type": link.match_type, "score": link.score, "linked_at": link.linked_at,
                  "unlinked_at": link.unlinked_at, "merge_event_id": link.merge_event_id,
                  **views.get(rec.id, {})} for link, rec in links]
    merges = list(session.scalars(select(MergeEvent).where(
        or_(MergeEvent.survivor_id == g.id, MergeEvent.absorbed_id == g.id)).order_by(MergeEvent.at.desc())))
    from zhili.users.models import User

    usernames = {m.by for m in merges if m.by} | {m.undone_by for m in merges if m.undone_by}
    names = {u: n for u, n in session.execute(select(User.username, User.display_name)
                                              .where(User.username.in_(usernames)))} if usernames else {}
    return {"golden": g, "fields": field_rows, "links": link_rows,
            "merges": [{"id": m.id, "survivor_id": m.survivor_id, "absorbed_id": m.absorbed_id, "by": m.by,
                        "by_name": names.get(m.by) if m.by else None,
                        "at": m.at, "probability": m.probability, "match_type": m.match_type,
                        "undone_at": m.undone_at, "undone_by": m.undone_by} for m in merges]}


def register_lineage(session: Session, *, principal: Principal, kind: str, register_id: uuid.UUID
                     ) -> dict[str, Any]:
    """The source records feeding a register row (``kind``: person, organisation, building, household) and its
    golden record, if any. Empty lists for a row no source ever fed."""
    authorize(principal, Perm.hub_read)
    if kind not in REGISTER_KINDS:
        raise not_found("登记记录")
    target, entity = REGISTER_KINDS[kind]
    from zhili.registry.models import Building, Household, Organisation, Person

    model: Any = {"person": Person, "organisation": Organisation, "building": Building,
                  "household": Household}[kind]
    row = session.get(model, register_id)
    if row is None or not in_scope(principal, row.path):
        raise not_found("登记记录")
    g = None
    if entity is not None:
        g = session.scalar(select(GoldenRecord).where(GoldenRecord.entity_type == entity,
                                                      GoldenRecord.register_id == register_id,
                                                      GoldenRecord.merged_into.is_(None)))
    conds: list[Any] = [(SourceRecord.target_type == target) & (SourceRecord.target_id == register_id)]
    if g is not None:
        conds.append(SourceRecord.id.in_(select(GoldenLink.source_record_id).where(
            GoldenLink.golden_id == g.id, GoldenLink.unlinked_at.is_(None))))
    recs = list(session.scalars(select(SourceRecord).where(or_(*conds)).order_by(SourceRecord.first_seen)))
    return {"golden": g, "records": _record_views(session, recs) if recs else []}


def case_lineage(session: Session, *, principal: Principal, case_id: uuid.UUID) -> dict[str, Any]:
    """The source, import and row of an imported case (empty when the case was not imported)."""
    authorize(principal, Perm.hub_read)
    from zhili.cases.service import get_case

    get_case(session, principal=principal, case_id=case_id)  # the case's own visibility rule (404 otherwise)
    recs = list(session.scalars(select(SourceRecord).where(SourceRecord.target_type == Target.cases,
                                                           SourceRecord.target_id == case_id)))
    return {"records": _record_views(session, recs) if recs else []}


def golden_view(session: Session, *, principal: Principal, golden_id: uuid.UUID) -> dict[str, Any]:
    """A golden record as its page shows it: current values (ID and phone numbers masked), the register row,
    why there is none, the fields' provenance and rules, the merge history."""
    from zhili.datahub import review

    out = golden_lineage(session, principal=principal, golden_id=golden_id)
    g = out["golden"]
    values = review.masked(review.golden_values(session, g))
    order = FIELDS_OF[EntityType(g.entity_type)]
    out["values"] = [{"field": f, "value": values.get(f)} for f in order if values.get(f) is not None]
    out["survivor"] = session.get(GoldenRecord, g.merged_into) if g.merged_into else None
    return out
