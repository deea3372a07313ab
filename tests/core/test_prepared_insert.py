"""Rows prepared for the driver ahead of the write lock are stored exactly as SQLAlchemy's own INSERT stores them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    select,
)

from zhili.core.db import JSONType, UTCDateTime, execute_prepared, prepared_insert


class Colour(enum.StrEnum):
    red = "red"
    blue = "blue"


meta = MetaData()
sample = Table(
    "prepared_insert_sample", meta,
    Column("id", Integer, primary_key=True),
    Column("ref", Uuid), Column("at", UTCDateTime), Column("day", Date), Column("doc", JSONType),
    Column("colour", Enum(Colour, native_enum=False, length=8)), Column("flag", Boolean),
    Column("big", BigInteger), Column("x", Float), Column("name", String(40)), Column("blob", LargeBinary),
)


def _row(i: int, **over: object) -> dict[str, object]:
    return {"id": i, "ref": uuid.UUID(int=12345), "at": dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
            "day": dt.date(2026, 2, 3), "doc": {"a": [1, "二"], "b": None}, "colour": Colour.blue, "flag": True,
            "big": 2**40, "x": 1.5, "name": "事件", "blob": b"\x00\x01", **over}


@pytest.mark.parametrize("over", [{}, {"at": dt.datetime(2026, 2, 3, 12, 0, 0, 123456,
                                                          tzinfo=dt.timezone(dt.timedelta(hours=8)))},
                                  {k: None for k in ("ref", "at", "day", "doc", "colour", "flag", "big", "name")}])
def test_a_prepared_row_is_stored_as_sqlalchemys_insert_stores_it(db, over):
    conn = db.connection()
    meta.create_all(conn)
    conn.execute(sample.insert(), [_row(1, **over)])
    stmt = prepared_insert(sample, tuple(_row(2, **over)), conn.dialect)
    execute_prepared(conn, [(stmt, stmt.row(_row(2, **over)))])
    cols = ", ".join(c.name for c in sample.c if c.name != "id")
    raw = conn.exec_driver_sql(f"SELECT {cols} FROM prepared_insert_sample ORDER BY id").all()
    assert raw[0] == raw[1]  # byte for byte what the driver stored (timestamps' text on SQLite included)
    read = conn.execute(select(sample).order_by(sample.c.id)).all()
    assert read[0][1:] == read[1][1:]


def test_a_row_lacking_a_column_with_a_python_default_is_refused_when_prepared(db):
    from zhili.cases.models import Case

    with pytest.raises(ValueError, match="rows lack"):
        prepared_insert(Case.__table__, ("number",), db.connection().dialect)  # id (new_id) and others missing
