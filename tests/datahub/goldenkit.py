"""Test data for resolution, review, change events and lineage: sources, imports and source records inserted
directly (values encrypted the pipeline's way through ``datahub.records``), a stand-in matcher with the matcher's
interface, and a ``stage`` helper that hands rows to :class:`~zhili.datahub.golden.EntityHandler` as the pipeline
does."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.db import utcnow
from zhili.core.validators import validate_id_number
from zhili.datahub.golden import EntityHandler
from zhili.datahub.models import Connector, GoldenLink, Import, SecurityLevel, Source, SourceRecord, Target
from zhili.datahub.records import key_index, set_record_values
from zhili.datahub.rows import Outcome, StagedRow
from zhili.users.service import principal_for_user

# Valid GB 11643 numbers (checksums right) and a mistyped copy of the first.
ID_A = "330522198506150013"
ID_B = "330522199001010028"
ID_A_TYPO = "330522198506150012"  # last digit mistyped: the checksum fails, so no key


@dataclass(frozen=True)
class Pair:
    left: Any
    right: Any
    probability: float
    weight: float
    evidence: dict[str, Any]


@dataclass
class StubMatcher:
    """Pairs a record with every candidate of the same name; the probability is set by the test. Like
    ``datahub.matching``: ids are strings, evidence is the Chinese description of each comparison level."""

    probability: float = 0.8
    auto_merge: float = 0.95
    review: float = 0.6
    calls: list[int] = field(default_factory=list)

    def pairs(self, records: list[dict[str, Any]], *, against: list[dict[str, Any]] | None, threshold: float
              ) -> list[Pair]:
        """From ``records`` to ``against``; with ``against`` None, within ``records`` (each pair once)."""
        within = against is None
        others = records if against is None else against
        self.calls.append(len(others))
        out = []
        assert all(isinstance(x["id"], str) for x in [*records, *others])
        for i, r in enumerate(records):
            for a in others[i + 1:] if within else others:
                if r.get("name") == a.get("name") and self.probability >= threshold:
                    phone = "手机号相同" if r.get("phone") == a.get("phone") else "手机号不同"
                    out.append(Pair(r["id"], a["id"], self.probability, 7.5, {"name": "姓名相同", "phone": phone}))
        return out


@dataclass
class Ctx:
    session: Session
    principal: Any
    source: Source
    imp: Import


@dataclass
class Hub:
    db: Session
    world: Any
    principal: Any
    handler: EntityHandler
    sources: dict[str, Source] = field(default_factory=dict)
    imports: dict[str, Import] = field(default_factory=dict)
    row: int = 0

    def source(self, name: str, *, trust: int = 50, target: Target = Target.persons, unit: str = "c1") -> Source:
        u = self.world.units[unit]
        src = Source(id=uuid.uuid4(), name=name, title=f"{name}系统", target=target,
                     security_level=SecurityLevel.internal, trust=trust, unit_id=u.id, path=u.path)
        self.db.add(src)
        self.db.flush()
        imp = Import(id=uuid.uuid4(), source_id=src.id, path=u.path, username="shequ1", connector=Connector.csv,
                     filename=f"{name}.csv", file_hash="0" * 64)
        self.db.add(imp)
        self.db.flush()
        self.sources[name], self.imports[name] = src, imp
        return src

    def stage(self, source: str, key: str, values: dict[str, Any], *, changed_at: dt.datetime | None = None,
              principal: Any = None) -> tuple[SourceRecord, Outcome]:
        """Stage one row (new, or an update of ``key``) and hand it to the handler."""
        [(rec, out)] = self.stage_many(source, [(key, values)], changed_at=changed_at, principal=principal)
        return rec, out

    def stage_many(self, source: str, rows: list[tuple[str, dict[str, Any]]], *,
                   changed_at: dt.datetime | None = None, principal: Any = None
                   ) -> list[tuple[SourceRecord, Outcome]]:
        """Stage rows (each new, or an update of its key) and hand them to the handler as one batch."""
        src, imp = self.sources[source], self.imports[source]
        staged = [self._staged(src, imp, key, values, changed_at) for key, values in rows]
        self.db.flush()
        outs = self.handler.apply(Ctx(self.db, principal or self.principal, src, imp), staged)
        self.db.flush()
        return [(s.record, out) for s, out in zip(staged, outs, strict=True)]

    def _staged(self, src: Source, imp: Import, key: str, values: dict[str, Any],
                changed_at: dt.datetime | None) -> StagedRow:
        rec = self.db.scalar(select(SourceRecord).where(SourceRecord.source_id == src.id,
                                                        SourceRecord.natural_key == key))
        change = "updated" if rec else "new"
        self.row += 1
        if rec is None:
            rec = SourceRecord(id=uuid.uuid4(), source_id=src.id, natural_key=key, target_type=src.target,
                               path=src.path, first_import_id=imp.id, last_import_id=imp.id, row_number=self.row)
            self.db.add(rec)
        rec.last_import_id, rec.row_number = imp.id, self.row
        rec.changed_at = changed_at or utcnow()
        set_record_values(rec, values)
        rec.key_bidx = _key(src.target, values)
        return StagedRow(row_number=self.row, natural_key=key, values=values, path=rec.path, record=rec,
                         change=change)

    def golden_of(self, rec: SourceRecord) -> uuid.UUID:
        gid = self.db.scalar(select(GoldenLink.golden_id).where(GoldenLink.source_record_id == rec.id,
                                                                GoldenLink.unlinked_at.is_(None)))
        assert gid is not None
        return gid


def _key(target: Target, values: dict[str, Any]) -> str | None:
    if target is Target.persons:
        try:
            return key_index("persons", validate_id_number(str(values.get("id_number") or "")))
        except Exception:  # noqa: BLE001 - an invalid number has no key
            return None
    field_ = {"organisations": "credit_code", "buildings": "code"}.get(target.value)
    return key_index(target.value, values.get(field_)) if field_ else None


def person(name: str, id_number: str | None, *, phone: str | None = None, grid: Any = None, **extra: Any
           ) -> dict[str, Any]:
    v: dict[str, Any] = {"name": name, "id_number": id_number}
    if phone:
        v["phone"] = phone
    if grid is not None:
        v["grid_id"] = str(grid.id)
    if id_number and len(id_number) == 18:
        v["birth_date"] = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    v.update(extra)
    return v


def make_hub(db: Session, world: Any, *, matcher: Any = None, user: str = "shequ1") -> Hub:
    return Hub(db, world, principal_for_user(db, user=world.users[user]), EntityHandler(matcher=matcher))
