"""Fast bulk inserts for seeding and imports.

SQLAlchemy's executemany path processes every value of every row through the column types. For millions of
rows that dominates, so on SQLite we run each column's bind processor once per batch column-wise and hand
plain tuples to the driver's ``executemany``. PostgreSQL (psycopg 3 with insertmanyvalues) is fast enough with
Core inserts, so it uses them unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Connection, insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import NullType


class BulkWriter:
    """Inserts batches of row dicts into tables, caching the compiled statement and processors per key set."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any], list[bool]]] = {}

    def _plan(self, table: Any, keys: tuple[str, ...]) -> tuple[str, list[Any], list[bool]]:
        plan = self._plans.get((table.name, keys))
        if plan is None:
            procs, is_json = [], []
            for k in keys:
                col = table.c[k]
                typ = col.type
                if isinstance(typ, NullType) and col.foreign_keys:
                    typ = next(iter(col.foreign_keys)).column.type
                procs.append(typ._cached_bind_processor(self.conn.dialect))
                is_json.append(isinstance(typ, JSON))
            sql = str(insert(table).compile(dialect=self.conn.dialect, column_keys=list(keys)))
            plan = self._plans[(table.name, keys)] = (sql, procs, is_json)
        return plan

    def insert(self, table: Any, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` (all with the same keys) into ``table``; returns the count."""
        if not rows:
            return 0
        if not self.sqlite:
            self.conn.execute(insert(table), rows)
            return len(rows)
        keys = tuple(rows[0])
        sql, procs, is_json = self._plan(table, keys)
        columns = []
        for k, proc, js in zip(keys, procs, is_json, strict=True):
            values = [r[k] for r in rows]
            if proc is not None:
                if js:  # empty containers are the common case: encode them once
                    empty = {"[]": proc([]), "{}": proc({})}
                    values = [None if v is None else empty["[]" if isinstance(v, list) else "{}"] if not v
                              else proc(v) for v in values]
                elif values[0] is not None and all(v is values[0] for v in values):
                    values = [proc(values[0])] * len(values)  # one value for the whole batch (a time, an id)
                else:
                    values = list(map(proc, values))
            columns.append(values)
        self.conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
        return len(rows)


def insert_objects(session: Session, model: Any, objs: list[Any]) -> None:
    """Insert new ORM objects of ``model`` in one column-wise statement (:class:`BulkWriter`) instead of the unit of
    work's per-object bookkeeping, then attach them to ``session`` as persistent (no second INSERT; later changes
    to them are flushed as usual). Columns the objects leave unset take the column's Python default, exactly as
    a flush would give them."""
    if not objs:
        return
    session.flush()  # whatever the session holds goes first (the rows may reference it)
    table = model.__table__
    # every column the database would not fill itself: set, else the Python default, else NULL — and each then
    # known to the object, so reading it later costs no query
    keys = [c.key for c in table.columns if c.server_default is None or any(c.key in o.__dict__ for o in objs)]
    rows = []
    for o in objs:
        state = o.__dict__
        row: dict[str, Any] = {}
        for k in keys:
            if k in state:
                row[k] = state[k]
                continue
            d = table.c[k].default
            row[k] = None if d is None else d.arg(None) if d.is_callable else d.arg
            set_committed_value(o, k, row[k])
        rows.append(row)
    BulkWriter(session.connection()).insert(table, rows)
    for o in objs:
        make_transient_to_detached(o)
        session.add(o)
