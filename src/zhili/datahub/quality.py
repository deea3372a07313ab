"""Data quality (数据质量): completeness, validity, uniqueness, freshness and cross-source consistency, per import
and per source, with the trend over a source's imports and one overall score per source.

**What an import's ``stats`` holds.** The import pipeline writes, when a run finishes::

    Import.stats = {"rows": n,                       # rows read and checked in this run
                    "fields": {field: filled_count},  # every mapped standard field, with the rows that had a
                                                      # non-empty value after mapping (0 when never filled)
                    "rules": {rule: failed_count}}    # every rule that failed at least once: rows failing it

Per-import figures are read from that shape (``basis: "stats"``). An import without it (an older run, a run
killed midway) falls back to what the tables say: completeness over the source records the import last wrote
(decrypted), failures per rule from its quarantine rows (``basis: "records"``).

**Measures.**

* *completeness* of a field: the share of records with a value (not empty, not blank); a source's overall
  completeness is the mean over the fields it supplies (the fields present in its records, plus the target's
  required fields);
* *validity* of a rule: rows failing it / rows checked; overall validity: 1 − quarantined / read of the latest
  successful import;
* *uniqueness*: rows quarantined as ``duplicate_in_file`` (the same natural key twice in one file) and source
  records sharing one strong key (``key_bidx``: the same valid ID number / USCC / building code under two natural
  keys); uniqueness = distinct keys / records with a key;
* *freshness*: age in days of the last successful import against ``Source.refresh_days`` — ``fresh`` while the
  age is below the schedule, ``due`` up to a grace of a quarter of the schedule (at least one day) after it,
  ``overdue`` beyond; ``one_off`` for a source without schedule, ``never`` for one never imported;
* *consistency* between sources: over golden records linked (now) to records of this source and of at least one
  other, the share where a field's value differs (normalised: blanks, case, ``+86`` and dashes ignored), per field
  and per source pair, with a sample of disagreeing golden records (ids; values decrypted and masked only when
  shown).

**Score** (0–100): the weighted mean of the measures a source has — completeness 0.30, validity 0.30, uniqueness
0.15, consistency 0.15, freshness 0.10 (fresh/one-off 1, due 0.5, overdue or never 0); a measure a source cannot
have (no strong key, no records shared with another source) is left out and the weights renormalised.

**Cache.** Source-level figures need every record's values decrypted; they are computed once and kept in the
latest successful import's ``stats["source_quality"]`` with two signatures. The record figures hold while that
import is the latest and no later run (even one killed midway: its checkpoint counts) has written records — every
change of a source's records is an import. The consistency figures hold while the hub's links are unchanged
(latest import of any source of the same target, last link and unlink, number of links). A page view then reads
one row. The pipeline may call :func:`refresh` after an import to pay the cost there instead of at the first
view. The cache holds counts, field names and ids only — never a value.

**JSON.** :func:`source_quality` answers ``{source, score, parts{completeness, validity, uniqueness, consistency,
freshness}, records, freshness{status, age_days, refresh_days, grace_days, days_left, last_import_at,
last_import_id}, completeness{records, overall, fields[{field, name, filled, share}]}, validity{checked,
quarantined, overall, rules[{rule, name, failed, checked, share_failed}]}, uniqueness{records_with_key,
duplicate_key_groups, records_sharing_key, duplicate_in_file, overall}, open_quarantine[{rule, name, rows}],
consistency{golden_shared, golden_disagreeing, overall, fields[…], pairs[{source_id, source_title, shared,
disagreeing, share_disagreeing, fields[…]}], sample[{golden_id, fields[{field, name, values[{source_title,
value (masked)}]}]}]} | null, trend[{import_id, at, at_local, filename, rows, completeness, validity, quarantined,
duplicate_in_file}]}``; :func:`import_quality` the per-import part (``counts``, ``completeness``, ``validity``,
``uniqueness``, ``basis``, ``source``); :func:`overview` one row per source with the overall figures.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.clock import to_local, today
from zhili.core.crypto import get_cipher
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, not_found, scoped
from zhili.core.security import Perm
from zhili.datahub.models import (
    GoldenLink,
    Import,
    ImportStatus,
    QuarantineRow,
    QuarantineStatus,
    Source,
    SourceRecord,
    Target,
)
from zhili.datahub.quality_consistency import (
    BATCH,
    DUPLICATE_RULE,
    consistency_counts,
    consistency_view,
    decrypt_values,
    field_name,
    filled,
    rule_name,
    share,
)
from zhili.datahub.standard import fields

CACHE_KEY = "source_quality"
CACHE_VERSION = 1
WEIGHTS: dict[str, float] = {"completeness": 0.30, "validity": 0.30, "uniqueness": 0.15, "consistency": 0.15,
                             "freshness": 0.10}
FRESHNESS_SCORE = {"fresh": 1.0, "one_off": 1.0, "due": 0.5, "overdue": 0.0, "never": 0.0}
TREND_IMPORTS = 12


def _iso(moment: dt.datetime | dt.date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _successful(session: Session, source_id: uuid.UUID, limit: int | None = None) -> list[Import]:
    stmt = (select(Import).where(Import.source_id == source_id, Import.status == ImportStatus.done,
                                 Import.dry_run.is_(False))
            .order_by(Import.finished_at.desc().nulls_last(), Import.started_at.desc()))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


# -- freshness ---------------------------------------------------------------------------------------------------

def freshness(source: Source, last: Import | None, on: dt.date | None = None) -> dict[str, Any]:
    """Freshness of a source on ``on`` (default: today, district time) given its last successful import."""
    day = on or today()
    grace = max(1, (source.refresh_days or 0) // 4)
    out: dict[str, Any] = {"status": "never", "age_days": None, "refresh_days": source.refresh_days,
                           "grace_days": grace if source.refresh_days else None, "days_left": None,
                           "last_import_at": None, "last_import_id": None}
    if last is None:
        return out
    moment = last.finished_at or last.started_at
    age = (day - to_local(moment).date()).days
    out.update(age_days=age, last_import_at=_iso(moment), last_import_id=str(last.id))
    if not source.refresh_days:
        out["status"] = "one_off"
        return out
    out["days_left"] = source.refresh_days - age
    if age < source.refresh_days:
        out["status"] = "fresh"
    elif age <= source.refresh_days + grace:
        out["status"] = "due"
    else:
        out["status"] = "overdue"
    return out


# -- per import --------------------------------------------------------------------------------------------------

def _quarantine_rule_counts(session: Session, import_ids: Iterable[uuid.UUID]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    ids = list(import_ids)
    if not ids:
        return {}
    for rules, n in session.execute(select(QuarantineRow.rules, func.count()).where(QuarantineRow.import_id.in_(ids))
                                    .group_by(QuarantineRow.rules)):
        for code in {c.strip() for c in (rules or "").split(",") if c.strip()}:
            counts[code] += n
    return dict(counts)


def _completeness_list(target: Target, filled_counts: dict[str, int], total: int) -> dict[str, Any]:
    keys = set(filled_counts) | {f.key for f in fields(target).values() if f.required}
    order = {k: i for i, k in enumerate(fields(target))}
    rows = [{"field": k, "name": field_name(target, k), "filled": int(filled_counts.get(k, 0)),
             "share": share(int(filled_counts.get(k, 0)), total)}
            for k in sorted(keys, key=lambda k: (order.get(k, len(order)), k))]
    shares = [float(r["share"]) for r in rows if r["share"] is not None]
    return {"records": total, "fields": rows,
            "overall": round(sum(shares) / len(shares), 4) if shares else None}


def _validity(failed: dict[str, int], checked: int, quarantined: int) -> dict[str, Any]:
    rules = [{"rule": code, "name": rule_name(code), "failed": int(n), "checked": checked,
              "share_failed": share(int(n), checked)}
             for code, n in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"checked": checked, "quarantined": quarantined, "rules": rules,
            "overall": round(1 - quarantined / checked, 4) if checked else None}


def _import_figures(session: Session, imp: Import, target: Target, *, detail: bool = True) -> dict[str, Any]:
    stats = imp.stats if isinstance(imp.stats, dict) else {}
    has_stats = isinstance(stats.get("fields"), dict) and isinstance(stats.get("rows"), int)
    rows = int(stats["rows"]) if has_stats else imp.rows_read
    if has_stats:
        filled_counts = {str(k): int(v) for k, v in stats["fields"].items() if isinstance(v, int | float)}
        completeness = _completeness_list(target, filled_counts, rows)
        failed = ({str(k): int(v) for k, v in stats["rules"].items() if isinstance(v, int | float)}
                  if isinstance(stats.get("rules"), dict) else _quarantine_rule_counts(session, [imp.id]))
    else:
        if detail:
            counts: dict[str, int] = defaultdict(int)
            n = 0
            for values in _iter_values(session, SourceRecord.last_import_id == imp.id):
                n += 1
                for k, v in values.items():
                    counts[k] += 1 if filled(v) else 0
            completeness = _completeness_list(target, dict(counts), n)
        else:
            completeness = {"records": 0, "fields": [], "overall": None}
        failed = _quarantine_rule_counts(session, [imp.id])
    return {
        "id": str(imp.id), "source_id": str(imp.source_id), "filename": imp.filename, "status": imp.status.value,
        "started_at": _iso(imp.started_at), "finished_at": _iso(imp.finished_at), "basis":
            "stats" if has_stats else "records",
        "counts": {"read": imp.rows_read, "imported": imp.rows_imported, "updated": imp.rows_updated,
                   "unchanged": imp.rows_unchanged, "quarantined": imp.rows_quarantined},
        "completeness": completeness,
        "validity": _validity(failed, rows, imp.rows_quarantined),
        "uniqueness": {"duplicate_in_file": int(failed.get(DUPLICATE_RULE, 0))},
    }


def _iter_values(session: Session, *where: Any) -> Iterator[dict[str, Any]]:
    cipher = get_cipher()
    stmt = select(SourceRecord.id, SourceRecord.values_enc).where(*where).execution_options(yield_per=BATCH)
    for rec_id, blob in session.execute(stmt):
        yield decrypt_values(cipher, rec_id, blob)


# -- per source: records (completeness, key uniqueness) ------------------------------------------------------------

def _record_figures(session: Session, source: Source) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    n = 0
    for values in _iter_values(session, SourceRecord.source_id == source.id):
        n += 1
        for k, v in values.items():
            counts[k] += 1 if filled(v) else 0
    keyed = session.scalar(select(func.count()).select_from(SourceRecord)
                           .where(SourceRecord.source_id == source.id, SourceRecord.key_bidx.is_not(None))) or 0
    dup = (select(SourceRecord.key_bidx, func.count().label("n")).where(SourceRecord.source_id == source.id,
                                                                          SourceRecord.key_bidx.is_not(None))
           .group_by(SourceRecord.key_bidx).having(func.count() > 1).subquery())
    groups, in_groups = session.execute(select(func.count(), func.coalesce(func.sum(dup.c.n), 0))).one()
    return {"records": n, "filled": dict(counts), "keyed": int(keyed), "duplicate_key_groups": int(groups),
            "records_sharing_key": int(in_groups)}


# -- the cache ---------------------------------------------------------------------------------------------------

def _link_signature(session: Session, target: Target) -> str:
    last_import = session.scalar(select(func.max(Import.finished_at)).join(Source, Source.id == Import.source_id)
                                 .where(Source.target == target, Import.status == ImportStatus.done))
    linked, unlinked, n = session.execute(select(func.max(GoldenLink.linked_at), func.max(GoldenLink.unlinked_at),
                                                 func.count(GoldenLink.id))).one()
    return "|".join(str(v) for v in (CACHE_VERSION, last_import, linked, unlinked, n))


def _record_signature(session: Session, source: Source, latest: Import | None) -> str:
    """What the record figures depend on: the latest successful import, and the newest run of any status with
    its checkpoint (a run killed midway has written records too)."""
    newest = session.execute(select(Import.id, Import.status, Import.checkpoint).where(Import.source_id == source.id)
                             .order_by(Import.started_at.desc()).limit(1)).first()
    parts = (CACHE_VERSION, latest.id if latest else "", *(newest or ()))
    return "|".join(str(getattr(v, "value", v)) for v in parts)


def _figures(session: Session, source: Source, latest: Import | None,
             link_sigs: dict[Target, str] | None = None) -> dict[str, Any]:
    """The source-level figures, from the cache in ``latest.stats`` when its signatures still hold."""
    cache = dict(latest.stats.get(CACHE_KEY) or {}) if latest is not None else {}
    changed = False
    record_sig = _record_signature(session, source, latest)
    if cache.get("records_sig") != record_sig or "records" not in cache:
        cache["records"], cache["records_sig"], changed = _record_figures(session, source), record_sig, True
    link_sigs = {} if link_sigs is None else link_sigs  # one signature per target for a whole overview
    if source.target not in link_sigs:
        link_sigs[source.target] = _link_signature(session, source.target)
    link_sig = link_sigs[source.target]
    if cache.get("links_sig") != link_sig or "consistency" not in cache:
        cache["consistency"], cache["links_sig"], changed = consistency_counts(session, source), link_sig, True
    if changed and latest is not None:
        latest.stats = {**(latest.stats or {}), CACHE_KEY: cache}
        session.flush()
    return cache


def refresh(session: Session, source_id: uuid.UUID) -> None:
    """Recompute a source's cached figures now (the pipeline calls it after an import; no caller to check: the
    figures hold counts and ids only and nothing is returned)."""
    source = session.get(Source, source_id)
    if source is None:
        return
    latest = next(iter(_successful(session, source.id, 1)), None)
    if latest is not None:
        latest.stats = {k: v for k, v in (latest.stats or {}).items() if k != CACHE_KEY}
    _figures(session, source, latest)


# -- assembling a source's report --------------------------------------------------------------------------------

def score(parts: dict[str, float | None]) -> float | None:
    """The weighted mean (0–100) of the measures present (see the module docstring)."""
    present = {k: v for k, v in parts.items() if v is not None and k in WEIGHTS}
    weight = sum(WEIGHTS[k] for k in present)
    if not weight:
        return None
    return round(100 * sum(WEIGHTS[k] * v for k, v in present.items()) / weight, 1)


def _trend(session: Session, source: Source, last: int) -> list[dict[str, Any]]:
    imports = list(reversed(_successful(session, source.id, last)))
    out = []
    for imp in imports:
        fig = _import_figures(session, imp, source.target, detail=False)
        out.append({"import_id": fig["id"], "at": fig["finished_at"] or fig["started_at"],
                    "at_local": to_local(imp.finished_at or imp.started_at).strftime("%Y-%m-%d %H:%M"),
                    "filename": imp.filename, "rows": fig["validity"]["checked"],
                    "completeness": fig["completeness"]["overall"], "validity": fig["validity"]["overall"],
                    "quarantined": imp.rows_quarantined,
                    "duplicate_in_file": fig["uniqueness"]["duplicate_in_file"]})
    return out


def _report(session: Session, principal: Principal, source: Source, *, detail: bool,
            link_sigs: dict[Target, str] | None = None,
            trend_imports: int = TREND_IMPORTS) -> dict[str, Any]:
    latest = next(iter(_successful(session, source.id, 1)), None)
    cache = _figures(session, source, latest, link_sigs)
    rec = cache["records"]
    completeness = _completeness_list(source.target, rec["filled"], rec["records"])
    latest_fig = _import_figures(session, latest, source.target, detail=False) if latest is not None else None
    validity = latest_fig["validity"] if latest_fig else {"checked": 0, "quarantined": 0, "rules": [], "overall": None}
    keyed = rec["keyed"]
    uniqueness = {"records_with_key": keyed, "duplicate_key_groups": rec["duplicate_key_groups"],
                  "records_sharing_key": rec["records_sharing_key"],
                  "duplicate_in_file": latest_fig["uniqueness"]["duplicate_in_file"] if latest_fig else 0,
                  "overall": round((keyed - rec["records_sharing_key"] + rec["duplicate_key_groups"]) / keyed, 4)
                  if keyed else None}
    fresh = freshness(source, latest)
    consistency = (consistency_view(session, lambda src: in_scope(principal, src.path), source,
                                    cache.get("consistency")) if detail else None)
    cons_overall = (consistency or {}).get("overall") if detail else _consistency_overall(cache.get("consistency"))
    parts = {"completeness": completeness["overall"], "validity": validity["overall"],
             "uniqueness": uniqueness["overall"], "consistency": cons_overall,
             "freshness": FRESHNESS_SCORE[fresh["status"]]}
    out: dict[str, Any] = {
        "source": {"id": str(source.id), "name": source.name, "title": source.title, "target": source.target.value,
                   "refresh_days": source.refresh_days},
        "score": score(parts), "parts": parts, "records": rec["records"], "freshness": fresh,
        "completeness": completeness, "validity": validity, "uniqueness": uniqueness,
    }
    if detail:
        open_rules: dict[str, int] = defaultdict(int)
        waiting = (select(QuarantineRow.rules, func.count())
                   .where(QuarantineRow.source_id == source.id, QuarantineRow.status == QuarantineStatus.open)
                   .group_by(QuarantineRow.rules))
        for rules, n in session.execute(waiting):
            for code in {c.strip() for c in (rules or "").split(",") if c.strip()}:
                open_rules[code] += n
        out["open_quarantine"] = [{"rule": k, "name": rule_name(k), "rows": v}
                                  for k, v in sorted(open_rules.items(), key=lambda kv: -kv[1])]
        out["consistency"] = consistency
        out["trend"] = _trend(session, source, trend_imports)
    return out


def _consistency_overall(raw: dict[str, Any] | None) -> float | None:
    if not raw or not raw.get("golden_shared"):
        return None
    return round(1 - raw["golden_disagreeing"] / raw["golden_shared"], 4)


# -- services ----------------------------------------------------------------------------------------------------

def source_quality(session: Session, *, principal: Principal, source_id: uuid.UUID,
                   trend_imports: int = TREND_IMPORTS) -> dict[str, Any]:
    """The quality report of one source of the caller's area (404 otherwise): score, completeness per field,
    validity per rule, uniqueness, freshness, consistency with the other sources of the caller's area, the
    trend over its last ``trend_imports`` successful imports. JSON-ready."""
    authorize(principal, Perm.hub_read)
    source = session.get(Source, source_id)
    if source is None:
        raise not_found("数据源")
    ensure_in_scope(principal, source.path, "数据源")
    return _report(session, principal, source, detail=True, trend_imports=max(1, min(trend_imports, 100)))


def import_quality(session: Session, *, principal: Principal, import_id: uuid.UUID) -> dict[str, Any]:
    """The quality figures of one import of the caller's area (404 otherwise): counts, completeness per field,
    failures per rule, duplicates in the file, and the source's freshness. JSON-ready."""
    authorize(principal, Perm.hub_read)
    imp = session.get(Import, import_id)
    if imp is None:
        raise not_found("导入批次")
    ensure_in_scope(principal, imp.path, "导入批次")
    source = session.get(Source, imp.source_id)
    if source is None:  # pragma: no cover - the foreign key forbids it
        raise not_found("导入批次")
    out = _import_figures(session, imp, source.target)
    out["source"] = {"id": str(source.id), "name": source.name, "title": source.title,
                     "target": source.target.value}
    return out


def overview(session: Session, *, principal: Principal) -> list[dict[str, Any]]:
    """Every source of the caller's area with its score, completeness, validity, uniqueness and freshness (by
    title). JSON-ready."""
    authorize(principal, Perm.hub_read)
    rows = session.scalars(scoped(select(Source), principal, Source.path).order_by(Source.title, Source.name))
    out = []
    link_sigs: dict[Target, str] = {}
    for source in rows:
        rep = _report(session, principal, source, detail=False, link_sigs=link_sigs)
        out.append({"source": rep["source"], "score": rep["score"], "records": rep["records"],
                    "completeness": rep["completeness"]["overall"], "validity": rep["validity"]["overall"],
                    "uniqueness": rep["uniqueness"]["overall"], "consistency": rep["parts"]["consistency"],
                    "freshness": rep["freshness"], "active": source.active})
    return out
