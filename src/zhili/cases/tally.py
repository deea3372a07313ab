"""The statistics write model (the tally): figures per (grid path, local day, category), kept in the same
transaction as intake and every step (``case_stat``), with their per-unit rollup (``case_stat_unit``,
:mod:`zhili.cases.rollup`); and the rebuild that recomputes both from the cases (it must equal the incremental
figures). What other domains read of them is :mod:`zhili.cases.stats` (the read model)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, and_, bindparam, delete, func, insert, literal, literal_column, select, text
from sqlalchemy import case as case_
from sqlalchemy.orm import Session

from zhili.cases import flows, rollup
from zhili.cases.changes import StatDelta
from zhili.cases.models import Case, CaseStat, CaseState

STAT_COLUMNS = ("reported", "accepted", "closed", "closed_on_time", "overdue", "rating_sum", "rating_count")
# One static statement for every delta (``excluded`` works on SQLite ≥ 3.24 and PostgreSQL alike).
STAT_UPSERT = text(
    "INSERT INTO case_stat (path, day, category_code, " + ", ".join(STAT_COLUMNS) + ") VALUES (:path, :day, "
    ":category_code, " + ", ".join(f":{c}" for c in STAT_COLUMNS) + ") ON CONFLICT (path, day, category_code) "
    "DO UPDATE SET " + ", ".join(f"{c} = case_stat.{c} + excluded.{c}" for c in STAT_COLUMNS)
).bindparams(bindparam("day", type_=Date()))


def add(session: Session, sd: StatDelta) -> None:
    """Add one change-set's deltas to its statistics row and the row's rollup, in the caller's transaction."""
    values = {"path": sd.path, "day": sd.day, "category_code": sd.category_code, **dict.fromkeys(STAT_COLUMNS, 0)}
    values.update(sd.deltas)
    session.execute(STAT_UPSERT, values)
    rollup.add(session, path=sd.path, day=sd.day, deltas=sd.deltas)


def add_many(session: Session, deltas: list[StatDelta]) -> None:
    """:func:`add` for a batch: summed per row, one executemany for the rows and one for the rollup."""
    acc: dict[tuple[str, dt.date, str], dict[str, int]] = {}
    for sd in deltas:
        row = acc.setdefault((sd.path, sd.day, sd.category_code), dict.fromkeys(STAT_COLUMNS, 0))
        for col, v in sd.deltas.items():
            row[col] += v
    if not acc:
        return
    # in key order: every writer locks the shared rows in the same order
    session.connection().execute(STAT_UPSERT, [{"path": k[0], "day": k[1], "category_code": k[2], **v}
                                               for k, v in sorted(acc.items())])
    rollup.add_many(session, rows=[(k[0], k[1], v) for k, v in acc.items()])


def rebuild_stats(session: Session) -> int:
    """Recompute the statistics table from the cases in one aggregate query (must equal the incremental figures),
    then its per-unit rollup. Only the flows counted in the event statistics (:mod:`zhili.cases.flows`: not the
    residence-permit applications, which are no events) are in it."""
    session.execute(delete(CaseStat))
    one, zero = literal(1), literal(0)
    # Inline '' (not a bound parameter) so PostgreSQL sees the SELECT and GROUP BY expressions as the same.
    cat = func.coalesce(Case.category_code, literal_column("''"))
    agg = select(
        Case.path, Case.reported_day, cat, func.count(),
        func.sum(case_((Case.accepted_at.is_not(None), one), else_=zero)),
        func.sum(case_((Case.state == CaseState.closed, one), else_=zero)),
        func.sum(case_((and_(Case.state == CaseState.closed, Case.closed_on_time.is_(True)), one), else_=zero)),
        func.sum(case_((Case.overdue.is_(True), one), else_=zero)),
        func.coalesce(func.sum(Case.rating), 0),
        func.count(Case.rating),
    ).where(Case.flow.in_(flows.counted_flows())).group_by(Case.path, Case.reported_day, cat)
    cols = ["path", "day", "category_code", "reported", "accepted", "closed", "closed_on_time", "overdue",
            "rating_sum", "rating_count"]
    session.execute(insert(CaseStat).from_select(cols, agg))
    session.flush()
    rollup.rebuild(session)
    return int(session.scalar(select(func.count()).select_from(CaseStat)) or 0)
