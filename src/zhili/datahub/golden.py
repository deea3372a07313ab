"""Entity resolution into golden records (主数据): persons, organisations and buildings held by several sources
become one golden record each, whose value is the register row.

For every staged row (:meth:`EntityHandler.apply`, called by the pipeline per batch; :func:`resolve` re-runs it
over records that have no golden record yet):

1. **deterministic** — a valid strong key (``SourceRecord.key_bidx``: the ID number's blind index, the USCC's,
   the building code's) that a linked source record or the register already has → that golden record (a register
   row met for the first time gets its golden record then, as its seed);
2. **probabilistic** — otherwise the record is compared (by the matcher of :mod:`zhili.datahub.matching`) with
   the golden records of its blocking neighbourhood within the caller's jurisdiction: register rows with the same
   name and birth date / phone / (neither known) name — persons — or name / address — organisations, buildings —
   and golden records without a register row by their own blocking keys (``block_a`` / ``block_b``); then the
   batch's still unmatched records among themselves (two copies in one file). A probability at or above
   ``AUTO_MERGE`` links it (never two different valid keys); in the review band it becomes its own golden record
   meanwhile and a pending :class:`~zhili.datahub.models.MatchCandidate` waits for a reviewer (never again for a
   pair kept apart); below, a new golden record;
3. **survivorship** (:mod:`zhili.datahub.survivorship`) chooses each field among the linked records, writes its
   provenance (:class:`~zhili.datahub.models.GoldenField`: record, import, row, rule, a keyed digest of the value)
   and writes the register row through :mod:`zhili.registry.service` — created when the golden record has what the
   register needs (persons: a valid ID number and a household or grid), otherwise the golden record stays without
   one and says why (``register_note``); updated with the changed fields only. A register refusal becomes the
   row's errors (the pipeline quarantines it). New persons of a batch are created together by
   ``registry.bulk.create_persons`` — the same checks and the same row (``person_row``) as ``create_person``,
   one uniqueness query and one insert per batch, and no ``person.create`` audit row per person: the import
   itself is audited (``hub.import``), and every golden record's change event names it;
4. a :class:`~zhili.datahub.models.ChangeEvent` (created / updated, the changed field *names*) for every golden
   record whose values changed, in the same transaction (:mod:`zhili.datahub.changes`).

Queries are per batch, not per row: links, keys, register rows, neighbourhoods, records, rules and provenance are
each loaded with one ``IN`` query for the whole batch. What a batch adds — golden records with their final values,
links, provenance, change events, review candidates — is inserted once, one column-wise statement per table
(:class:`_Pending`, :class:`zhili.core.bulk.BulkWriter`), with time-ordered ids, so a large import appends to its
indexes (docs/benchmarks.md: 1 M persons over three sources).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.bulk import BulkWriter
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, scoped
from zhili.core.security import Perm
from zhili.datahub import changes, survivorship
from zhili.datahub.golden_register import (
    ENTITY_OF,
    KEY_FIELD,
    MODEL_OF,
    TARGET_OF,
    _plain,
    _write_registers,
    birth_of,
    block_keys,
    register_values,
    value_digest,
)
from zhili.datahub.models import (
    CandidateStatus,
    EntityType,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    MatchCandidate,
    MatchType,
    Source,
    SourceRecord,
    Target,
)
from zhili.datahub.records import canonical, record_values
from zhili.datahub.rows import Outcome, RowError, StagedRow
from zhili.registry import service as registry
from zhili.registry.models import Building, Organisation, Person

# -- the matcher -------------------------------------------------------------------------------------------------

def _matcher_and_bands(entity: EntityType, matcher: Any) -> tuple[Any, float, float]:
    from zhili.datahub import matching

    if matcher is None:
        matcher = matching.matcher_for(entity)
    auto = float(getattr(matcher, "auto_merge", matching.AUTO_MERGE))
    review = float(getattr(matcher, "review", matching.REVIEW))
    return matcher, auto, review


# -- resolution --------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Item:
    row: StagedRow | None
    rec: SourceRecord
    values: dict[str, Any]
    golden: GoldenRecord | None = None
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Pending:
    """What a batch adds, inserted together once it is resolved (:meth:`write`): new golden records with their
    final values (no ORM object in the session, so no INSERT then UPDATE per record), links, provenance rows,
    change events and review candidates — each one column-wise statement, in foreign-key order."""

    goldens: list[GoldenRecord] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)
    changes: list[tuple[GoldenRecord, str, list[str]]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session, *, source_id: uuid.UUID | None, import_id: uuid.UUID | None) -> None:
        session.flush()  # the session's own changes (register rows, existing golden records) first
        w = BulkWriter(session.connection())
        now = utcnow()
        w.insert(GoldenRecord.__table__, [
            {"id": g.id, "entity_type": g.entity_type, "register_id": g.register_id, "path": g.path,
             "merged_into": None, "register_note": g.register_note, "block_a": g.block_a, "block_b": g.block_b,
             "created_at": now,
             "updated_at": g.updated_at or now, "version": g.version or 0} for g in self.goldens])
        w.insert(GoldenLink.__table__, self.links)
        w.insert(GoldenField.__table__, self.fields)
        changes.publish_many(session, [(g.id, g.entity_type, g.register_id, g.path, g.version, kind, flds)
                                       for g, kind, flds in self.changes],
                             source_id=source_id, import_id=import_id, writer=w)
        w.insert(MatchCandidate.__table__, self.candidates)
        self.goldens, self.links, self.fields, self.changes, self.candidates = [], [], [], [], []


class Resolver:
    """Resolves one batch of source records of one entity type (see the module docstring)."""

    def __init__(self, session: Session, principal: Principal, entity: EntityType, *, matcher: Any = None,
                 import_id: uuid.UUID | None = None, source_id: uuid.UUID | None = None) -> None:
        self.session, self.principal, self.entity = session, principal, entity
        self.matcher, self.auto, self.review = _matcher_and_bands(entity, matcher)
        self.import_id, self.source_id = import_id, source_id
        self.model = MODEL_OF[entity]
        self.goldens: dict[uuid.UUID, GoldenRecord] = {}
        self.new_goldens: set[uuid.UUID] = set()
        self.stats = {"deterministic": 0, "probabilistic": 0, "review": 0, "new": 0, "linked": 0}
        self.pending = _Pending()
        self._trust: dict[uuid.UUID, int] = {}

    # golden records, following merges to the survivor
    def _load_goldens(self, ids: Iterable[uuid.UUID]) -> None:
        want = {i for i in ids if i not in self.goldens}
        while want:
            rows = list(self.session.scalars(select(GoldenRecord).where(GoldenRecord.id.in_(want))))
            for g in rows:
                self.goldens[g.id] = g
            want = {g.merged_into for g in rows if g.merged_into and g.merged_into not in self.goldens}

    def survivor(self, gid: uuid.UUID) -> GoldenRecord:
        g = self.goldens[gid]
        while g.merged_into is not None:
            g = self.goldens[g.merged_into]
        return g

    def _new_golden(self, path: str, register_id: uuid.UUID | None = None) -> GoldenRecord:
        # not added to the session: inserted with its final values by _Pending.write
        g = GoldenRecord(id=new_id(), entity_type=self.entity, register_id=register_id, path=path, version=0)
        self.pending.goldens.append(g)
        self.goldens[g.id] = g
        self.new_goldens.add(g.id)
        return g

    def run(self, items: list[_Item]) -> None:
        s = self.session
        ids = [it.rec.id for it in items]
        linked = dict(s.execute(select(GoldenLink.source_record_id, GoldenLink.golden_id).where(
            GoldenLink.source_record_id.in_(ids), GoldenLink.unlinked_at.is_(None))).all())
        self._load_goldens(linked.values())
        for it in items:
            if it.rec.id in linked:
                it.golden = self.survivor(linked[it.rec.id])
        new_links: list[tuple[_Item, MatchType, float | None]] = []
        dupes = self._deterministic([it for it in items if it.golden is None and it.rec.key_bidx], new_links)
        self._probabilistic([it for it in items if it.golden is None and it not in dupes], new_links)
        for it in items:
            if it.golden is None and it not in dupes:
                it.golden = self._new_golden(it.rec.path)
                new_links.append((it, MatchType.seed, None))
                self.stats["new"] += 1
        for it, first in dupes.items():  # same new key as an earlier row of the batch: its golden record
            it.golden = first.golden
            new_links.append((it, MatchType.deterministic, 1.0))
            self.stats["deterministic"] += 1
        now = utcnow()
        self.pending.links.extend(
            {"id": new_id(), "golden_id": it.golden.id, "source_record_id": it.rec.id, "match_type": mt,
             "score": p, "merge_event_id": None, "linked_at": now, "unlinked_at": None}
            for it, mt, p in new_links if it.golden is not None)
        self.stats["linked"] += len(new_links)
        # the members this batch links are known here: no query (and no decryption) for them
        trust = self._trusts({it.rec.source_id for it, _, _ in new_links})
        fresh: dict[uuid.UUID, list[survivorship.Member]] = defaultdict(list)
        for it, _, _ in new_links:
            if it.golden is not None:
                fresh[it.golden.id].append(survivorship.Member(
                    it.rec.id, it.rec.last_import_id, it.rec.row_number, it.values,
                    trust.get(it.rec.source_id, 0), it.rec.changed_at))
        affected = {it.golden.id for it in items if it.golden is not None}
        errors = _refresh(s, self.principal, self.entity, [self.goldens[g] for g in affected],
                         import_id=self.import_id, source_id=self.source_id, new=self.new_goldens,
                         fresh=fresh, pending=self.pending)
        self.pending.write(s, source_id=self.source_id, import_id=self.import_id)
        self.new_goldens = set()
        for it in items:
            if it.golden is not None and it.golden.id in errors:
                it.errors.extend(errors[it.golden.id])
            if it.golden is not None and it.golden.register_id is not None:
                it.rec.target_id = it.golden.register_id

    def _trusts(self, source_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
        want = source_ids - self._trust.keys()
        if want:
            self._trust.update({i: int(t or 0) for i, t in self.session.execute(
                select(Source.id, Source.trust).where(Source.id.in_(want)))})
        return self._trust

    # 1. deterministic
    def _deterministic(self, items: list[_Item], new_links: list[tuple[_Item, MatchType, float | None]]
                       ) -> dict[_Item, _Item]:
        """Link the records whose key a linked record or the register has. A key met for the first time is left to
        probabilistic matching (a mistyped number may still pass its checksum); later rows of the batch with the
        same new key are returned with the first such row, to join whatever golden record it gets."""
        dupes: dict[_Item, _Item] = {}
        if not items:
            return dupes
        s, target = self.session, TARGET_OF[self.entity]
        keys = {it.rec.key_bidx for it in items if it.rec.key_bidx}
        by_key: dict[str, uuid.UUID] = {}
        for k, gid in s.execute(
                select(SourceRecord.key_bidx, GoldenLink.golden_id)
                .join(GoldenLink, GoldenLink.source_record_id == SourceRecord.id)
                .where(SourceRecord.target_type == target, SourceRecord.key_bidx.in_(keys),
                       GoldenLink.unlinked_at.is_(None))):
            if k is not None:
                by_key.setdefault(k, gid)
        self._load_goldens(by_key.values())
        missing = keys - by_key.keys()
        if missing:
            regs = self._registered(items, missing)
            have = {g.register_id: g for g in s.scalars(select(GoldenRecord).where(
                GoldenRecord.entity_type == self.entity, GoldenRecord.merged_into.is_(None),
                GoldenRecord.register_id.in_([reg_id for reg_id, _ in regs.values()])))} if regs else {}
            for k, (reg_id, path) in regs.items():
                g = have.get(reg_id) or self._new_golden(path, reg_id)
                have[reg_id] = g
                self.goldens[g.id] = g
                by_key[k] = g.id
        first: dict[str, _Item] = {}
        for it in items:
            k = it.rec.key_bidx
            assert k is not None
            if k in by_key:
                it.golden = self.survivor(by_key[k])
                new_links.append((it, MatchType.deterministic, 1.0))
                self.stats["deterministic"] += 1
            elif k in first:
                dupes[it] = first[k]
            else:
                first[k] = it
        return dupes

    def _registered(self, items: list[_Item], keys: set[str]) -> dict[str, tuple[uuid.UUID, str]]:
        """Register rows holding one of the keys (any jurisdiction: the keys are unique register-wide)."""
        s = self.session
        if self.entity is EntityType.person:
            return {b: (i, p) for i, b, p in s.execute(
                select(Person.id, Person.id_number_bidx, Person.path).where(Person.id_number_bidx.in_(keys)))}
        plain = {str(it.values.get(KEY_FIELD[self.entity]) or "").strip().upper(): it.rec.key_bidx
                 for it in items if it.rec.key_bidx in keys}
        col = Organisation.credit_code if self.entity is EntityType.organisation else Building.code
        return {plain[c]: (i, p) for i, c, p in s.execute(
            select(self.model.id, col, self.model.path).where(col.in_([c for c in plain if c])))}

    # 2. probabilistic
    def _neighbourhood(self, items: list[_Item]) -> list[Any]:
        """Register rows in the records' blocks, within the caller's jurisdiction. Persons: the same name and
        birth date (from the record, else from its ID number's digits), or the same phone; by name alone only for
        a record with neither. Organisations and buildings: the same name or address. Only the rows of a block
        are loaded and decrypted, so the cost per batch stays near-linear however large the register."""
        m = self.model
        if self.entity is not EntityType.person:
            names = {str(it.values["name"]) for it in items if it.values.get("name")}
            addresses = {str(it.values["address"]) for it in items if it.values.get("address")}
            conds = _any_in((m.name, names), (m.address, addresses))
            if not conds:
                return []
            return self._in_scope(select(m).where(or_(*conds)).limit(20 * len(items) + 100))
        cipher = get_cipher()
        pairs: set[tuple[str, dt.date]] = set()
        phones: set[str] = set()
        lone: set[str] = set()
        for it in items:
            name = str(it.values.get("name") or "").strip()
            when = birth_of(it.values)
            if name and when:
                pairs.add((name, when))
            if it.values.get("phone"):
                phones.add(cipher.blind_index(str(it.values["phone"]), purpose=registry.PHONE_PURPOSE))
            if name and not when and not it.values.get("phone"):
                lone.add(name)
        found: dict[uuid.UUID, Any] = {}
        if pairs:
            # the exact (name, birth date) pairs, not every birth date of every name: the rows loaded stay the
            # block's own however many namesakes a large register holds
            # (the name list too, so SQLite searches the name index rather than scanning for the row values)
            stmt = select(Person).where(Person.name.in_({n for n, _ in pairs}),
                                        tuple_(Person.name, Person.birth_date).in_(sorted(pairs)))
            for p in self._in_scope(stmt):
                if (p.name, p.birth_date) in pairs:
                    found[p.id] = p
        if phones:
            for p in self._in_scope(select(Person).where(Person.phone_bidx.in_(phones)).limit(20 * len(items) + 100)):
                found[p.id] = p
        if lone:
            for p in self._in_scope(select(Person).where(Person.name.in_(lone)).limit(20 * len(items) + 100)):
                found[p.id] = p
        return list(found.values())

    def _in_scope(self, stmt: Any) -> list[Any]:
        """The rows of a blocking query (``stmt`` selects by a block's own index) that lie in the caller's
        jurisdiction. The jurisdiction is checked here, not in SQL: given both, SQLite's planner range-scans the
        jurisdiction's path index — for a district, every row — instead of looking the block up, so each batch
        would read the whole register (measured: 0.65 s a query at 380,000 persons, growing with the register)."""
        return [r for r in self.session.scalars(stmt) if in_scope(self.principal, r.path)]

    def _loose(self, items: list[_Item]) -> list[tuple[GoldenRecord, dict[str, Any]]]:
        """Golden records *without* a register row (no valid ID number, no place …) in the records' blocks — by
        their own blocking keys (:func:`~zhili.datahub.golden_register.block_keys`), within the caller's
        jurisdiction — with their surviving values: a record is matched against them as against register rows."""
        s, cipher = self.session, get_cipher()
        a_keys: set[str] = set()
        b_keys: set[str] = set()
        for it in items:
            a, b = block_keys(self.entity, it.values, cipher)
            a_keys.update([a] if a else [])
            b_keys.update([b] if b else [])
        conds = _any_in((GoldenRecord.block_a, a_keys), (GoldenRecord.block_b, b_keys))
        if not conds:
            return []
        stmt = select(GoldenRecord).where(
            GoldenRecord.entity_type == self.entity, GoldenRecord.register_id.is_(None),
            GoldenRecord.merged_into.is_(None), or_(*conds)).limit(20 * len(items) + 100)
        found = [self.goldens.setdefault(g.id, g) for g in self._in_scope(stmt)]
        if not found:
            return []
        members = _members(s, [g.id for g in found])
        rules = survivorship.rules_for(s, self.entity)
        return [(g, {f: c.value for f, c in survivorship.survive(members.get(g.id, []), rules).items()})
                for g in found]

    def _probabilistic(self, items: list[_Item], new_links: list[tuple[_Item, MatchType, float | None]]) -> None:
        """Match the records without a deterministic link against their blocks — register rows and golden
        records without one — then the rest of the batch among themselves (see :meth:`_within`)."""
        if not items or self.matcher is None:
            return
        s = self.session
        regs = self._neighbourhood(items)
        loose = self._loose(items)
        if regs or loose:
            # a register row's golden record — or, for a row retired by a merge, the one it was merged into
            gold: dict[uuid.UUID | None, GoldenRecord] = {}
            found = list(s.scalars(select(GoldenRecord).where(
                GoldenRecord.entity_type == self.entity, GoldenRecord.register_id.in_([r.id for r in regs]))
                .order_by(GoldenRecord.merged_into.is_not(None)))) if regs else []
            self._load_goldens(g.id for g in found)
            for g in found:
                gold.setdefault(g.register_id, self.survivor(g.id))
            # the matcher's ids are strings: a register row's id, or "g:" + a loose golden record's
            key = KEY_FIELD[self.entity]
            against = [{**register_values(self.entity, r), "id": str(r.id)} for r in regs]
            against += [{**values, "id": f"g:{g.id}"} for g, values in loose]
            keyed_of = {str(r.id): bool(getattr(r, key, None)) for r in regs}
            keyed_of.update({f"g:{g.id}": bool(values.get(key)) for g, values in loose})
            paths = {str(r.id): r.path for r in regs}
            best = self._best(items, against)
            apart = self._kept_apart(items)
            for it in items:
                pair = best.get(it.rec.id)
                if pair is None:
                    continue
                right = str(pair.right)
                if right.startswith("g:"):
                    g = self.survivor(uuid.UUID(right[2:]))
                else:
                    reg_id = uuid.UUID(right)
                    known = gold.get(reg_id)
                    g = known if known is not None else self._new_golden(paths[right], reg_id)
                    gold[reg_id] = g
                if (it.rec.id, g.id) in apart:
                    continue
                self._place(it, g, pair, other_keyed=keyed_of.get(right, False), new_links=new_links)
        self._within([it for it in items if it.golden is None], new_links)

    def _best(self, items: list[_Item], against: list[dict[str, Any]] | None) -> dict[uuid.UUID, _Scored]:
        """Each record's best pair at or above the review threshold (``against`` None: within ``items``, both
        ways round)."""
        records = [{**it.values, "id": str(it.rec.id)} for it in items]
        best: dict[uuid.UUID, _Scored] = {}
        for raw in self.matcher.pairs(records, against=against, threshold=self.review):
            p = float(raw.probability)
            if p < self.review:
                continue
            ends = [(str(raw.left), str(raw.right))] if against is not None else [
                (str(raw.left), str(raw.right)), (str(raw.right), str(raw.left))]
            for left, right in ends:
                sc = _Scored(uuid.UUID(left), right, p, getattr(raw, "weight", None), getattr(raw, "evidence", None))
                if sc.left not in best or p > best[sc.left].probability:
                    best[sc.left] = sc
        return best

    def _kept_apart(self, items: list[_Item]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        return set(self.session.execute(select(MatchCandidate.source_record_id, MatchCandidate.golden_id).where(
            MatchCandidate.source_record_id.in_([it.rec.id for it in items]),
            MatchCandidate.status == CandidateStatus.kept_apart)).all())

    def _place(self, it: _Item, g: GoldenRecord, pair: _Scored, *, other_keyed: bool,
               new_links: list[tuple[_Item, MatchType, float | None]]) -> None:
        """Link ``it`` to ``g`` (probability at or above auto-merge, and not two different keys), else give it its
        own golden record and queue the pair for review."""
        # two different valid keys are two different records until a reviewer says otherwise
        keyed = it.rec.key_bidx is not None and (other_keyed or self.entity is EntityType.person)
        if pair.probability >= self.auto and not keyed:
            it.golden = g
            new_links.append((it, MatchType.probabilistic, float(pair.probability)))
            self.stats["probabilistic"] += 1
            return
        it.golden = self._new_golden(it.rec.path)
        new_links.append((it, MatchType.seed, None))
        self.stats["new"] += 1
        self.stats["review"] += 1
        exists = g.id not in self.new_goldens and self.session.scalar(
            select(MatchCandidate.id).where(MatchCandidate.source_record_id == it.rec.id,
                                            MatchCandidate.golden_id == g.id)) is not None
        if not exists:
            self.pending.candidates.append({
                "id": new_id(), "entity_type": self.entity, "source_record_id": it.rec.id,
                "golden_id": g.id, "path": g.path, "probability": float(pair.probability),
                "evidence": _evidence(pair), "status": CandidateStatus.pending, "decided_by": None,
                "decided_at": None, "created_at": utcnow()})

    def _within(self, items: list[_Item], new_links: list[tuple[_Item, MatchType, float | None]]) -> None:
        """The batch's still unmatched records among themselves: two copies of one person in the same batch (or
        file) become one golden record. Only a record *without* a key joins another here (a keyed one would have
        met its twin deterministically); strongest pairs first, the other record's golden record made if it has
        none yet; an uncertain pair goes to review like any other."""
        if len(items) < 2 or not any(it.rec.key_bidx is None for it in items):
            return
        by_id = {it.rec.id: it for it in items}
        best = self._best(items, None)
        for rid, pair in sorted(best.items(), key=lambda kv: -kv[1].probability):
            it, other = by_id[rid], by_id[uuid.UUID(str(pair.right))]
            if it.golden is not None or it.rec.key_bidx is not None:
                continue
            if other.golden is None:
                other.golden = self._new_golden(other.rec.path)
                new_links.append((other, MatchType.seed, None))
                self.stats["new"] += 1
            target = self.survivor(other.golden.id)
            if target.id == getattr(it.golden, "id", None):
                continue
            self._place(it, target, pair, other_keyed=other.rec.key_bidx is not None, new_links=new_links)


@dataclass(frozen=True)
class _Scored:
    """A matcher's pair with the ids read back as uuids."""

    left: uuid.UUID
    right: str  # a register row's id, "g:" + a golden record's, or (within a batch) a record's
    probability: float
    weight: float | None
    evidence: Any


def _any_in(*pairs: tuple[Any, set[str]]) -> list[Any]:
    """``column IN values`` for each (column, values) with values — the blocks a query ORs together."""
    return [col.in_(values) for col, values in pairs if values]


def _evidence(pair: Any) -> dict[str, Any]:
    ev = dict(getattr(pair, "evidence", None) or {})
    weight = getattr(pair, "weight", None)
    return {"levels": {str(k): _plain(v) for k, v in ev.items()},
            "weight": float(weight) if weight is not None else None}


# -- survivorship and the register row ---------------------------------------------------------------------------

def _members(session: Session, golden_ids: Sequence[uuid.UUID]
             ) -> dict[uuid.UUID, list[survivorship.Member]]:
    out: dict[uuid.UUID, list[survivorship.Member]] = defaultdict(list)
    if not golden_ids:
        return out
    rows = session.execute(
        select(GoldenLink.golden_id, SourceRecord, Source.trust)
        .join(SourceRecord, SourceRecord.id == GoldenLink.source_record_id)
        .join(Source, Source.id == SourceRecord.source_id)
        .where(GoldenLink.golden_id.in_(golden_ids), GoldenLink.unlinked_at.is_(None)))
    for gid, rec, trust in rows:
        out[gid].append(survivorship.Member(rec.id, rec.last_import_id, rec.row_number, record_values(rec),
                                            int(trust or 0), rec.changed_at))
    return out


def _refresh(session: Session, principal: Principal, entity: EntityType, goldens: Sequence[GoldenRecord], *,
            import_id: uuid.UUID | None = None, source_id: uuid.UUID | None = None,
            new: set[uuid.UUID] | None = None, kind: str | None = None, publish: bool = True,
            fresh: dict[uuid.UUID, list[survivorship.Member]] | None = None, pending: _Pending | None = None
            ) -> dict[uuid.UUID, list[RowError]]:
    """Re-survive golden records: provenance rows, register row, change event. The register's refusals by golden
    record id (the rows that fed it go to quarantine).

    ``fresh``: members linked by the caller's batch and not yet in the database (a resolver's new links), by
    golden record; ``new`` golden records have no other member and no provenance yet, so nothing is queried for
    them. With ``pending`` the new provenance rows and change events are left to the caller's
    :meth:`_Pending.write` (its new golden records are not inserted yet); without, they are written here."""
    new = new or set()
    fresh = fresh or {}
    ids = [g.id for g in goldens]
    old_ids = [i for i in ids if i not in new]
    members = _members(session, old_ids)
    for gid, ms in fresh.items():
        members[gid].extend(ms)
    rules = survivorship.rules_for(session, entity)
    current: dict[uuid.UUID, dict[str, GoldenField]] = defaultdict(dict)
    if old_ids:
        for gf in session.scalars(select(GoldenField).where(GoldenField.golden_id.in_(old_ids))):
            current[gf.golden_id][gf.field] = gf
    reg_ids = [g.register_id for g in goldens if g.register_id is not None]
    model = MODEL_OF[entity]
    regs = {r.id: r for r in session.scalars(select(model).where(model.id.in_(reg_ids)))} if reg_ids else {}
    errors: dict[uuid.UUID, list[RowError]] = {}
    now = utcnow()
    chosen_of = {g.id: survivorship.survive(members.get(g.id, []), rules) for g in goldens}
    values_of = {g.id: {f: c.value for f, c in chosen_of[g.id].items()} for g in goldens}
    refused = _write_registers(session, principal, entity, [
        (g, values_of[g.id], regs.get(g.register_id) if g.register_id else None) for g in goldens])
    errors.update({gid: [err] for gid, err in refused.items()})
    cipher = get_cipher()
    for g in goldens:  # a golden record without a register row keeps its own blocking keys (Resolver._loose)
        blocks = (None, None) if g.register_id is not None else block_keys(entity, values_of[g.id], cipher)
        if (g.block_a, g.block_b) != blocks:
            g.block_a, g.block_b = blocks
    out = pending if pending is not None else _Pending()
    for g in goldens:
        chosen = chosen_of[g.id]
        had = current.get(g.id, {})
        changed: list[str] = []
        for f, c in chosen.items():
            digest = value_digest(c.value, cipher)
            old = had.get(f)
            if old is None:
                out.fields.append({"id": new_id(), "golden_id": g.id, "field": f,
                                   "source_record_id": c.member.record_id, "import_id": c.member.import_id,
                                   "row_number": c.member.row_number, "rule": c.rule, "value_digest": digest,
                                   "chosen_at": now})
                changed.append(f)
                continue
            if old.value_digest != digest:
                changed.append(f)
            if (old.value_digest, old.source_record_id, old.import_id, old.row_number, old.rule) != (
                    digest, c.member.record_id, c.member.import_id, c.member.row_number, c.rule):
                old.source_record_id, old.import_id, old.row_number = (c.member.record_id, c.member.import_id,
                                                                    c.member.row_number)
                old.rule, old.value_digest, old.chosen_at = c.rule, digest, now
        for f, gf in had.items():
            if f not in chosen:
                session.delete(gf)
                changed.append(f)
        if publish and (changed or g.id in new):
            g.version = (g.version or 0) + 1
            g.updated_at = now
            out.changes.append((g, kind or ("created" if g.id in new else "updated"), sorted(changed)))
    if pending is None:
        out.write(session, source_id=source_id, import_id=import_id)
    return errors


# -- the pipeline's handler and the re-run ------------------------------------------------------------------------

class EntityHandler:
    """The pipeline's :class:`~zhili.datahub.rows.BatchHandler` for persons, organisations and buildings."""

    def __init__(self, matcher: Any = None) -> None:
        self.matcher = matcher
        self.stats: dict[str, int] = defaultdict(int)

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]:
        """Resolve a batch of staged rows of one source (see the module docstring); one outcome per row."""
        entity = ENTITY_OF[Target(ctx.source.target)]
        items = [_Item(r, r.record, json.loads(canonical(r.values))) for r in rows]
        res = Resolver(ctx.session, ctx.principal, entity, matcher=self.matcher,
                       import_id=getattr(ctx.imp, "id", None), source_id=ctx.source.id)
        res.run(items)
        for k, v in res.stats.items():
            self.stats[k] += v
        return [Outcome(target_id=it.golden.register_id if it.golden else None,
                        path=it.golden.path if it.golden else None, errors=it.errors) for it in items]


def resolve(session: Session, *, principal: Principal, entity: EntityType = EntityType.person,
            source_id: uuid.UUID | None = None, matcher: Any = None, batch: int = 1000) -> dict[str, int]:
    """Resolve the source records of the caller's area (of one source, or all) that have no golden record yet —
    after a matcher or rule change, or records staged before resolution existed. ``hub:import``; audited."""
    authorize(principal, Perm.hub_import)
    target = TARGET_OF[entity]
    linked = select(GoldenLink.source_record_id).where(GoldenLink.unlinked_at.is_(None))
    stmt = scoped(select(SourceRecord), principal, SourceRecord.path).where(
        SourceRecord.target_type == target, SourceRecord.id.not_in(linked)).order_by(SourceRecord.first_seen,
                                                                                     SourceRecord.id)
    if source_id is not None:
        stmt = stmt.where(SourceRecord.source_id == source_id)
    totals: dict[str, int] = defaultdict(int)
    recs = list(session.scalars(stmt))
    for i in range(0, len(recs), batch):
        chunk = recs[i:i + batch]
        items = [_Item(None, r, record_values(r)) for r in chunk]
        res = Resolver(session, principal, entity, matcher=matcher, source_id=source_id)
        res.run(items)
        for k, v in res.stats.items():
            totals[k] += v
        totals["errors"] += sum(1 for it in items if it.errors)
    totals["records"] = len(recs)
    audit.record(session, actor=principal.actor, action="hub.resolve", object_type="hub_source",
                 object_id=source_id, after={"entity": entity.value, **totals})
    return dict(totals)


def resurvive(session: Session, *, principal: Principal, golden_ids: Sequence[uuid.UUID]) -> int:
    """Survive golden records again (after a survivorship rule changed): provenance, register row, change event.
    ``hub:import``; only records of the caller's area. The number re-survived."""
    authorize(principal, Perm.hub_import)
    goldens = [g for g in session.scalars(scoped(select(GoldenRecord), principal, GoldenRecord.path)
                                          .where(GoldenRecord.id.in_(list(golden_ids)),
                                                 GoldenRecord.merged_into.is_(None)))]
    by_entity: dict[EntityType, list[GoldenRecord]] = defaultdict(list)
    for g in goldens:
        by_entity[EntityType(g.entity_type)].append(g)
    for entity, gs in by_entity.items():
        _refresh(session, principal, entity, gs)
    if goldens:
        audit.record(session, actor=principal.actor, action="hub.golden.resurvive", object_type="hub_golden",
                     object_id=goldens[0].id if len(goldens) == 1 else None, after={"count": len(goldens)})
    return len(goldens)


def golden_for_register(session: Session, entity: EntityType, register_id: uuid.UUID) -> GoldenRecord | None:
    """The live golden record whose value is this register row."""
    return session.scalar(select(GoldenRecord).where(GoldenRecord.entity_type == entity,
                                                     GoldenRecord.register_id == register_id,
                                                     GoldenRecord.merged_into.is_(None)))
