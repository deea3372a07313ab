"""Historical cases (历史工单) from a hotline, 12345 or 311 export: the handler of the ``cases`` target.

Each staged row becomes one case with ``is_history=True``, state ``closed``, no deadline, no assignee, no warning
light, written with bulk inserts in the pipeline's transaction (the row layout of :mod:`zhili.seed.history`), with
one timeline event ``imported`` (历史导入) naming the source. So it never enters the live queue, the worklists,
the inbox, the deadline sweep (which only reads handling states) or a notification. Case numbers come from the
normal per-district, per-day counter, by the day the case was reported.

Placement: by the point when it is usable and inside today's grids of the importer's jurisdiction, else by the
address through the address resolver (:mod:`zhili.datahub.address`), else **unplaced**: grid None, path = the
source's path, with the reason in ``attributes.placement_reason``.

Category: ``category_code`` when it is a current category, else none, with the source's label kept in
``attributes.imported_category``. Statistics: history enters ``case_stat`` (the analytics learn from history: one
reported and one closed case on its reported day; never on time, never overdue) exactly as
:func:`zhili.cases.tally.rebuild_stats` counts it — an updated case moves its contribution.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from zhili.cases.changes import StatDelta
from zhili.cases.effects import contributions
from zhili.cases.models import Case, CaseCounter, CaseEvent, CaseState, Category, Channel
from zhili.cases.scope import geo_cell
from zhili.cases.tally import add_many
from zhili.core.clock import from_local, local_day
from zhili.core.crypto import get_cipher
from zhili.core.ids import id_at
from zhili.core.jurisdiction import in_scope
from zhili.core.settings import get_settings
from zhili.core.validators import usable_point
from zhili.datahub.rows import Outcome, StagedRow

ATTRIBUTE_PREFIX = "attributes."
UNPLACED = "没有可用的坐标，地址也无法定位到本平台的网格"


def _moment(v: Any) -> dt.datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        v = dt.datetime.combine(v, dt.time(0, 0))
    return from_local(v).astimezone(dt.UTC)


def _district(path: str) -> str:
    for seg in path.split("/"):
        if len(seg) == 6:
            return seg
    return get_settings().district_code


class HistoryHandler:
    """Writes staged ``cases`` rows as historical cases (see the module docstring)."""

    records_flushed = False  # nothing here points at the source records: they are inserted with their target

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]:
        session: Session = ctx.session
        cats = self._categories(ctx, {str(r.values["category_code"]) for r in rows if r.values.get("category_code")})
        places = self._place(ctx, rows)
        out: list[Outcome] = []
        new_rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        stats: list[StatDelta] = []
        updates: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for r, (grid_id, path, reason) in zip(rows, places, strict=True):
            row = self._layout(ctx, r, cats, grid_id, path, reason)
            if r.record.target_id is not None:
                updates.append((r.record.target_id, row))
                out.append(Outcome(target_id=r.record.target_id, path=path))
                continue
            new_rows.append(row)
            events.append({"id": id_at(row["reported_at"]), "case_id": row["id"], "seq": 1, "at": row["closed_at"],
                           "action": "imported", "from_state": None, "to_state": "closed", "actor_id": None,
                           "actor_name": "历史导入", "actor_role": None, "actor_unit": None,
                           "comment": f"历史导入：{ctx.source.title}", "payload": {
                               "source": ctx.source.name, "import_id": str(ctx.imp.id),
                               "row_number": r.row_number}, "attachment_ids": [], "public": False})
            out.append(Outcome(target_id=row["id"], path=path))
        if new_rows:
            self._number(session, new_rows)
            conn = session.connection()  # Core executemany: one statement for the batch, every column given
            conn.execute(insert(cast(Table, Case.__table__)), new_rows)
            conn.execute(insert(cast(Table, CaseEvent.__table__)), events)
            stats.extend(StatDelta(path=c["path"], day=c["reported_day"], category_code=c["category_code"] or "",
                                   deltas=_contrib(c)) for c in new_rows)
        if updates:
            stats.extend(self._update(session, updates))
        if stats:
            add_many(session, stats)
        return out

    # -- parts --------------------------------------------------------------------------------------------------

    def _categories(self, ctx: Any, codes: set[str]) -> dict[str, uuid.UUID]:
        known: dict[str, uuid.UUID | None] = ctx.cache.setdefault("categories", {})
        wanted = codes - known.keys()
        if wanted:
            found = dict(ctx.session.execute(select(Category.code, Category.id).where(
                Category.code.in_(wanted), Category.is_current.is_(True))).all())
            for c in wanted:
                known[c] = found.get(c)
        return {c: i for c, i in known.items() if i is not None}

    def _place(self, ctx: Any, rows: list[StagedRow]) -> list[tuple[uuid.UUID | None, str, str | None]]:
        """(grid, path, reason) per row: point, else address, else unplaced at the source's path."""
        from zhili.regions.models import Unit
        from zhili.regions.service import locate_batch

        out: list[tuple[uuid.UUID | None, str, str | None]] = [(None, ctx.source.path, UNPLACED)] * len(rows)
        pts: list[tuple[int, tuple[float, float]]] = []
        for i, r in enumerate(rows):
            p = usable_point(r.values.get("lon"), r.values.get("lat"))
            if p is not None:
                pts.append((i, p))
        grid_paths: dict[uuid.UUID, str] = ctx.cache.setdefault("grid_paths", {})
        if pts:
            ids = locate_batch(ctx.session, lons=np.array([p[0] for _, p in pts]),
                               lats=np.array([p[1] for _, p in pts]))
            missing = {g for g in ids if g is not None and g not in grid_paths}
            if missing:
                grid_paths.update((i, p) for i, p in ctx.session.execute(
                    select(Unit.id, Unit.path).where(Unit.id.in_(missing))))
            for (i, _), g in zip(pts, ids, strict=True):
                if g is not None and in_scope(ctx.principal, grid_paths.get(g)):
                    out[i] = (g, grid_paths[g], None)
        for i, r in enumerate(rows):
            if out[i][0] is not None or not r.values.get("address"):
                continue
            as_of = (_moment(r.values.get("reported_at")) or dt.datetime.now(dt.UTC)).date()
            placement = ctx.validator.place(str(r.values["address"]), as_of)
            if placement is None:
                continue
            if (placement.unit_id is not None and placement.path and in_scope(ctx.principal, placement.path)
                    and ctx.validator.unit_level(placement.unit_id) == "grid"):
                out[i] = (placement.unit_id, placement.path, None)
            elif placement.reason:
                out[i] = (None, ctx.source.path, placement.reason)
        return out

    def _layout(self, ctx: Any, r: StagedRow, cats: dict[str, uuid.UUID], grid_id: uuid.UUID | None, path: str,
                reason: str | None) -> dict[str, Any]:
        v = r.values
        reported = _moment(v.get("reported_at"))
        assert reported is not None  # a required field: the rules quarantined rows without it
        closed = _moment(v.get("closed_at")) or _moment(v.get("replied_at")) or reported
        code = str(v["category_code"]) if v.get("category_code") in cats else None
        attrs: dict[str, Any] = {k[len(ATTRIBUTE_PREFIX):]: val for k, val in v.items()
                                 if k.startswith(ATTRIBUTE_PREFIX)}
        attrs.update({"source": ctx.source.name, "source_title": ctx.source.title, "import_id": str(ctx.imp.id),
                      "row_number": r.row_number})
        for key, name in (("status", "imported_status"), ("department", "imported_department")):
            if v.get(key):
                attrs[name] = v[key]
        if v.get("replied_at"):
            attrs["replied_at"] = str(v["replied_at"])
        if code is None and (v.get("category_label") or v.get("category_code")):
            attrs["imported_category"] = v.get("category_label") or v.get("category_code")
        if reason:
            attrs["placement_reason"] = reason
        lon, lat = (v.get("lon"), v.get("lat")) if usable_point(v.get("lon"), v.get("lat")) else (None, None)
        cid = r.record.target_id or id_at(reported)
        cipher = get_cipher()
        name_enc = phone_enc = phone_bidx = None
        if v.get("reporter_name"):
            name_enc = cipher.encrypt(str(v["reporter_name"]), table="case", column="reporter_name", row_id=cid)
        if v.get("reporter_phone"):
            phone_enc = cipher.encrypt(str(v["reporter_phone"]), table="case", column="reporter_phone", row_id=cid)
            phone_bidx = cipher.blind_index(str(v["reporter_phone"]), purpose="case.reporter_phone")
        description = str(v.get("description") or "")
        title = str(v.get("title") or description[:30] or "历史工单").strip()[:200]
        return {
            "id": cid, "number": None, "channel": _channel(attrs.pop("channel", None)), "flow": "event",
            "state": CaseState.closed, "category_id": cats.get(code) if code else None, "category_code": code,
            "title": title, "description": description, "urgency": "normal", "lon": lon, "lat": lat,
            "geo_cell": geo_cell(lon, lat), "address": (str(v["address"])[:255] if v.get("address") else None),
            "grid_id": grid_id, "path": path, "attributes": attrs, "reporter_user_id": None,
            "reporter_name_enc": name_enc, "reporter_phone_enc": phone_enc, "reporter_phone_bidx": phone_bidx,
            "anonymous": not (name_enc or phone_enc), "is_public": False, "api_client_id": None,
            "external_id": str(v.get("external_id") or r.natural_key)[:64], "assignee_department": None,
            "assignee_unit_id": None, "assignee_path": None, "escalation_level": None, "dispatch_rule_id": None,
            "is_joint": False, "master_case_id": None, "resolution": v.get("reply"), "reject_reason": None,
            "rating": None, "rating_comment": None, "reported_at": reported, "reported_day": local_day(reported),
            "accepted_at": None, "dispatched_at": None, "resolved_at": None, "verified_at": None,
            "closed_at": closed, "accept_due_at": None, "handle_due_at": None, "handle_warn_at": None,
            "verify_due_at": None, "warning_level": "none", "overdue": False, "closed_on_time": None,
            "reopen_count": 0, "support_count": 0, "merged_count": 0, "is_history": True, "created_at": closed,
            "updated_at": closed, "version": 1,
        }

    def _number(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Case numbers from the per-district, per-day counter: every (district, day) of the batch bumped by its
        count in one executemany upsert, then read back. The bump locks those counter rows until the batch
        commits (PostgreSQL row locks; SQLite's single writer), so the range read back is this batch's alone."""
        groups = Counter((_district(r["path"]), r["reported_day"]) for r in rows)
        t = cast(Table, CaseCounter.__table__)
        ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(t)
        stmt = ins.on_conflict_do_update(index_elements=[t.c.district, t.c.day],
                                         set_={"last": t.c.last + ins.excluded.last})
        conn = session.connection()
        conn.execute(stmt, [{"district": d, "day": day, "last": n} for (d, day), n in sorted(groups.items())])
        last: dict[tuple[str, dt.date], int] = {}
        districts = sorted({d for d, _ in groups})
        days = sorted({day for _, day in groups})
        for i in range(0, len(days), 500):
            for d, day, n in conn.execute(select(t.c.district, t.c.day, t.c.last).where(
                    t.c.district.in_(districts), t.c.day.in_(days[i:i + 500]))):
                if (d, day) in groups:
                    last[(d, day)] = int(n) - groups[(d, day)]
        for r in rows:
            key = (_district(r["path"]), r["reported_day"])
            last[key] += 1
            r["number"] = f"{key[0]}-{key[1]:%Y%m%d}-{last[key]:06d}"

    def _update(self, session: Session, updates: list[tuple[uuid.UUID, dict[str, Any]]]) -> list[StatDelta]:
        """Refresh re-imported cases in place (their number and timeline stay); their statistics move."""
        old = {c.id: c for c in session.execute(select(Case.id, Case.path, Case.reported_day, Case.category_code,
                                                       Case.state, Case.accepted_at, Case.closed_on_time,
                                                       Case.overdue, Case.rating).where(
            Case.id.in_([i for i, _ in updates])))}
        deltas: list[StatDelta] = []
        keep = ("id", "number", "created_at", "version", "is_history")
        for cid, row in updates:
            before = old.get(cid)
            if before is None:
                continue
            deltas.append(StatDelta(path=before.path, day=before.reported_day,
                                    category_code=before.category_code or "",
                                    deltas={k: -n for k, n in contributions(before).items()}))
            deltas.append(StatDelta(path=row["path"], day=row["reported_day"], category_code=row["category_code"] or "",
                                    deltas=_contrib(row)))
            session.execute(update(Case).where(Case.id == cid).values(
                {k: val for k, val in row.items() if k not in keep}).execution_options(synchronize_session=False))
        return deltas


def _channel(value: Any) -> Channel:
    """A mapped channel (``attributes.channel``) when it is one of the platform's, else the hotline."""
    try:
        return Channel(str(value)) if value else Channel.hotline
    except ValueError:
        return Channel.hotline


def _contrib(row: dict[str, Any]) -> dict[str, int]:
    return {"reported": 1, "accepted": 0, "closed": 1, "closed_on_time": 0, "overdue": 0, "rating_sum": 0,
            "rating_count": 0}
