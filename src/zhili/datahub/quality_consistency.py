"""Cross-source consistency (一致性) for the quality report, and the names and small helpers the report shares.

Over golden records linked (now) to records of a source and of at least one other source, a field disagrees when
the two sources' normalised values (:func:`normalise`) have nothing in common. :func:`consistency_counts` streams
the linked records once (decrypting each) and keeps counts, field names and ids only; :func:`consistency_view`
turns them into the report's table for one reader, dropping the sources outside the reader's area and decrypting
only the few sample records, masked (:func:`mask_value`).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.masking import mask_id_number, mask_name, mask_phone, mask_text
from zhili.datahub.models import EntityType, GoldenLink, Source, SourceRecord, Target
from zhili.datahub.records import RECORD_COLUMN, RECORD_TABLE
from zhili.datahub.standard import ATTRIBUTE_PREFIX, StdField, fields

DUPLICATE_RULE = "duplicate_in_file"
SAMPLE_SIZE = 10
BATCH = 2000
CHUNK = 500  # golden records per query when reading the shared ones' members
ENTITY_OF: dict[Target, EntityType] = {Target.persons: EntityType.person,
                                       Target.organisations: EntityType.organisation,
                                       Target.buildings: EntityType.building}
SKIP_COMPARE_KINDS = frozenset({"ref"})
SKIP_COMPARE_FIELDS = frozenset({"note"})

# Chinese names of the rules the pipeline is known to use, while ``zhili.datahub.rules.RULES`` is not there.
_FALLBACK_RULES: dict[str, str] = {
    "required": "必填项", "id_number": "身份证号校验（GB 11643）", "credit_code": "统一社会信用代码校验（GB 32100）",
    "mobile": "手机号码格式", "date": "日期格式", "datetime": "日期时间格式", "choice": "取值范围", "enum": "取值范围",
    "length": "长度限制", "max_length": "长度限制", "int": "整数格式", "float": "数值格式", "bool": "是/否取值",
    "reference": "引用对象存在", "ref": "引用对象存在", DUPLICATE_RULE: "文件内重复", "natural_key": "缺少唯一标识",
}
OTHER_RULE = "其他规则"

# -- names -------------------------------------------------------------------------------------------------------

def rule_name(code: str) -> str:
    """The Chinese name of a rule code: ``zhili.datahub.rules.RULES`` when present, a known name, else 其他规则."""
    try:
        from zhili.datahub import rules as rules_module  # type: ignore[attr-defined,unused-ignore]

        known: Any = getattr(rules_module, "RULES", {})
    except ImportError:
        known = {}
    entry = known.get(code) if isinstance(known, dict) else None
    if isinstance(entry, str):
        return entry
    for attr in ("name", "label", "title"):
        if isinstance(getattr(entry, attr, None), str):
            return str(getattr(entry, attr))
    return _FALLBACK_RULES.get(code, OTHER_RULE)


def field_name(target: Target, key: str) -> str:
    """The Chinese name of a standard field (attributes: 附加属性：name)."""
    std = fields(target).get(key)
    if std is not None:
        return std.label
    if key.startswith(ATTRIBUTE_PREFIX):
        return f"附加属性：{key[len(ATTRIBUTE_PREFIX):]}"
    return "其他字段"


# -- small helpers -----------------------------------------------------------------------------------------------

def filled(value: Any) -> bool:
    """True when a mapped value counts as present (not None, not blank, not an empty list)."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple | set):
        return bool(value)
    return True


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def decrypt_values(cipher: FieldCipher, rec_id: uuid.UUID, blob: bytes) -> dict[str, Any]:
    """A source record's values decrypted from the raw column (as :func:`zhili.datahub.records.record_values`,
    without loading the ORM object: the report streams ``(id, values_enc)`` tuples)."""
    out: dict[str, Any] = json.loads(cipher.decrypt(blob, table=RECORD_TABLE, column=RECORD_COLUMN, row_id=rec_id))
    return out


# -- per source: cross-source consistency ----------------------------------------------------------------------------

def compared_fields(target: Target) -> dict[str, StdField]:
    return {k: f for k, f in fields(target).items()
            if f.kind not in SKIP_COMPARE_KINDS and k not in SKIP_COMPARE_FIELDS}


def normalise(kind: str, value: Any) -> str:
    """A value as compared across sources: blanks and dashes dropped, upper case; mobiles without +86; dates by
    day; numbers as numbers; tags as a sorted set."""
    if isinstance(value, list | tuple | set):
        return "|".join(sorted(normalise(kind, v) for v in value))
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return repr(float(value))
    text = "".join(str(value).split()).upper()
    if kind in ("mobile", "id_number", "credit_code"):
        text = text.replace("-", "")
    if kind == "mobile" and text.startswith("+86"):
        text = text[3:]
    if kind == "mobile" and len(text) == 13 and text.startswith("86"):
        text = text[2:]
    if kind == "date":
        text = text[:10]
    if kind in ("int", "float"):
        try:
            return repr(float(text))
        except ValueError:
            return text
    return text


def consistency_counts(session: Session, source: Source) -> dict[str, Any] | None:
    if source.target not in ENTITY_OF:
        return None
    compare = compared_fields(source.target)
    live = GoldenLink.unlinked_at.is_(None)
    # golden records with live links to this source and at least one other: one pass over the live links
    # (measured: 40 % faster on SQLite than first collecting this source's golden records)
    multi = (select(GoldenLink.golden_id).join(SourceRecord, SourceRecord.id == GoldenLink.source_record_id)
             .where(live).group_by(GoldenLink.golden_id)
             .having(func.count(func.distinct(SourceRecord.source_id)) >= 2,
                     func.max(case((SourceRecord.source_id == source.id, 1), else_=0)) == 1))
    members_of = (select(GoldenLink.golden_id, SourceRecord.id, SourceRecord.source_id, SourceRecord.values_enc)
                  .join(SourceRecord, SourceRecord.id == GoldenLink.source_record_id).where(live))
    cipher = get_cipher()
    field_compared: dict[str, int] = defaultdict(int)
    field_disagree: dict[str, int] = defaultdict(int)
    pairs: dict[str, dict[str, Any]] = {}
    sample: list[dict[str, Any]] = []
    shared = disagreeing = 0

    def pair_of(other: uuid.UUID) -> dict[str, Any]:
        return pairs.setdefault(str(other), {"shared": 0, "disagreeing": 0, "compared": defaultdict(int),
                                             "disagree": defaultdict(int)})

    def settle(golden_id: uuid.UUID, members: list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]]) -> None:
        nonlocal shared, disagreeing
        by_source: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for _rec_id, src_id, values in members:
            for key, std in compare.items():
                if filled(values.get(key)):
                    by_source[src_id][key].add(normalise(std.kind, values[key]))
        others = [s for s in {m[1] for m in members} if s != source.id]
        if not others:
            return
        shared += 1
        bad_fields: set[str] = set()
        bad_with: set[uuid.UUID] = set()
        for key in compare:
            mine_vals = by_source[source.id].get(key)
            if not mine_vals:
                continue
            compared_here = False
            for other in others:
                theirs = by_source[other].get(key)
                if not theirs:
                    continue
                compared_here = True
                pair = pair_of(other)
                pair["compared"][key] += 1
                if not (mine_vals & theirs):
                    pair["disagree"][key] += 1
                    bad_fields.add(key)
                    bad_with.add(other)
            if compared_here:
                field_compared[key] += 1
                if key in bad_fields:
                    field_disagree[key] += 1
        for other in others:
            pair = pair_of(other)
            pair["shared"] += 1
            pair["disagreeing"] += 1 if other in bad_with else 0
        if bad_fields:
            disagreeing += 1
            if len(sample) < SAMPLE_SIZE:
                sample.append({"golden_id": str(golden_id), "fields": sorted(bad_fields),
                               "records": [str(m[0]) for m in members]})

    # the shared golden records' ids first, then their members a chunk at a time by the golden-id index (one
    # query with the grouping as a subquery planned badly on PostgreSQL: 5× slower in bench/hub_quality.py)
    shared_ids = list(session.scalars(multi))
    for start in range(0, len(shared_ids), CHUNK):
        chunk: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]]] = defaultdict(list)
        for golden_id, rec_id, src_id, blob in session.execute(
                members_of.where(GoldenLink.golden_id.in_(shared_ids[start:start + CHUNK]))):
            chunk[golden_id].append((rec_id, src_id, decrypt_values(cipher, rec_id, blob)))
        for golden_id in sorted(chunk):
            settle(golden_id, chunk[golden_id])
    return {
        "golden_shared": shared, "golden_disagreeing": disagreeing,
        "fields": {k: {"compared": field_compared[k], "disagreeing": field_disagree.get(k, 0)}
                   for k in field_compared},
        "pairs": {other: {"shared": p["shared"], "disagreeing": p["disagreeing"],
                          "fields": {k: {"compared": p["compared"][k], "disagreeing": p["disagree"].get(k, 0)}
                                     for k in p["compared"]}}
                  for other, p in pairs.items()},
        "sample": sample,
    }


# -- the reader's view -------------------------------------------------------------------------------------------

def consistency_view(session: Session, visible: Callable[[Source], bool], source: Source,
                      raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    other_ids = [uuid.UUID(k) for k in raw.get("pairs", {})]
    others = {str(s.id): s for s in session.scalars(select(Source).where(Source.id.in_(other_ids)))} if other_ids \
        else {}
    target = source.target
    pairs = []
    for other_id, p in raw.get("pairs", {}).items():
        other = others.get(other_id)
        if other is None or not visible(other):
            continue
        pairs.append({"source_id": other_id, "source_title": other.title, "shared": p["shared"],
                      "disagreeing": p["disagreeing"], "share_disagreeing": share(p["disagreeing"], p["shared"]),
                      "fields": [{"field": k, "name": field_name(target, k), **v,
                                  "share_disagreeing": share(v["disagreeing"], v["compared"])}
                                 for k, v in sorted(p["fields"].items())]})
    per_field = [{"field": k, "name": field_name(target, k), **v,
                  "share_disagreeing": share(v["disagreeing"], v["compared"])}
                 for k, v in sorted(raw.get("fields", {}).items(), key=lambda kv: -kv[1]["disagreeing"])]
    shared = raw.get("golden_shared", 0)
    return {"golden_shared": shared, "golden_disagreeing": raw.get("golden_disagreeing", 0),
            "overall": round(1 - raw.get("golden_disagreeing", 0) / shared, 4) if shared else None,
            "fields": per_field, "pairs": pairs,
            "sample": sample_view(session, visible, target, raw.get("sample", []),
                                  others | {str(source.id): source})}


def mask_value(std: StdField | None, value: Any) -> str:
    """A value as the quality page may show it: ID numbers, phones and names masked, other text screened."""
    text = "、".join(str(v) for v in value) if isinstance(value, list) else str(value)
    kind = std.kind if std else "text"
    if kind == "id_number" or kind == "credit_code":
        return mask_id_number(text) or ""
    if kind == "mobile":
        return mask_phone(text) or ""
    if std is not None and (std.pii or std.key in ("name", "legal_rep", "contact_name")):
        return mask_name(text) or ""
    return mask_text(text)[:40]


def sample_view(session: Session, visible: Callable[[Source], bool], target: Target, sample: list[dict[str, Any]],
                 sources_by_id: dict[str, Source]) -> list[dict[str, Any]]:
    if not sample:
        return []
    std = fields(target)
    ids = [uuid.UUID(r) for item in sample for r in item.get("records", [])]
    cipher = get_cipher()
    recs = {str(r.id): r for r in session.scalars(select(SourceRecord).where(SourceRecord.id.in_(ids)))}
    out = []
    for item in sample:
        rows = []
        for key in item.get("fields", []):
            values = []
            for rid in item.get("records", []):
                rec = recs.get(rid)
                src = sources_by_id.get(str(rec.source_id)) if rec is not None else None
                if rec is None or src is None or not visible(src):
                    continue
                value = decrypt_values(cipher, rec.id, rec.values_enc).get(key)
                if filled(value):
                    values.append({"source_title": src.title, "value": mask_value(std.get(key), value)})
            rows.append({"field": key, "name": field_name(target, key), "values": values})
        out.append({"golden_id": item["golden_id"], "fields": rows})
    return out
