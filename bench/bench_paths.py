"""Jurisdiction-scoped queries and district register counts on PostgreSQL: before and after migration 0022.

    .venv/bin/python bench/bench_paths.py --url postgresql+psycopg://postgres@127.0.0.1:5432/zhili_paths \\
        [--source-url postgresql+psycopg://postgres@127.0.0.1:5432/zhili_large] [--rows 1000000] [--n 7]

Into a scratch schema ``bench_paths`` of ``--url`` (dropped at the end) it loads one million register paths —
the ``person.path`` column of ``--source-url`` (read only: a ``COPY … TO STDOUT``), or synthetic ones in the demo's
shape (10 streets × 12 communities × 12 grids) — three times over, each with its btree index and ANALYZE:

* ``ling``: the column in a linguistic collation (``zh-x-icu``, as a ``zh_CN.UTF-8`` production database) with
  the former predicate ``path = p OR path LIKE 'p/%'`` — the "before";
* ``dflt``: the same in this server's own default collation (``C.UTF-8``: not "C" for the planner either);
* ``tpo``: linguistic column plus a second, ``text_pattern_ops`` index, with the LIKE form (the alternative);
* ``c``: the column in ``COLLATE "C"`` with the predicate the application now emits
  (``core.jurisdiction.path_predicate``: a byte-order range) — the "after".

For a street, a community and a grid: ``count(*)`` and a 50-row page ``ORDER BY path`` — median of ``--n`` runs
after one warm-up, and the plan's access path. Then the district total: ``count(*)`` over the million rows (the
former register totals) against the sum of a per-grid counts table under the district path (``register_count``,
what ``registry.counts.totals_under`` reads). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import psycopg
from sqlalchemy import column, func, select, table
from sqlalchemy.dialects import postgresql

from zhili.core.jurisdiction import path_predicate

SCHEMA = "bench_paths"
LINGUISTIC = "zh-x-icu"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _load(conn: psycopg.Connection[Any], source: str | None, rows: int) -> str:
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE TABLE {SCHEMA}.src (id bigint, path text COLLATE \"C\")")
    if source:
        with psycopg.connect(_dsn(source)) as src, src.cursor().copy(
                f"COPY (SELECT row_number() OVER (), path FROM person LIMIT {rows}) TO STDOUT") as out, \
                conn.cursor().copy(f"COPY {SCHEMA}.src FROM STDIN") as into:
            for chunk in out:
                into.write(chunk)
        origin = f"person.path of {source.rsplit('/', 1)[-1]}"
    else:
        conn.execute(
            f"INSERT INTO {SCHEMA}.src SELECT i, '33/3305/330522/330522' || lpad((1 + i % 10)::text, 3, '0') "
            "|| '/330522' || lpad((1 + i % 10)::text, 3, '0') || lpad((1 + (i / 10) % 12)::text, 3, '0') "
            "|| '/330522' || lpad((1 + i % 10)::text, 3, '0') || lpad((1 + (i / 10) % 12)::text, 3, '0') "
            f"|| lpad((1 + (i / 120) % 12)::text, 3, '0') FROM generate_series(0, {rows - 1}) AS i")
        origin = "synthetic paths"
    for name, coll in (("ling", f'"{LINGUISTIC}"'), ("dflt", '"default"'), ("tpo", f'"{LINGUISTIC}"'),
                       ("c", '"C"')):
        conn.execute(f"CREATE TABLE {SCHEMA}.{name} (id bigint, path varchar(400) COLLATE {coll}, "
                     "pad char(200) DEFAULT '')")  # pad: a register row is wide, the index is narrow
        conn.execute(f"INSERT INTO {SCHEMA}.{name} (id, path) SELECT id, path FROM {SCHEMA}.src ORDER BY id")
        conn.execute(f"CREATE INDEX ix_{name}_path ON {SCHEMA}.{name} (path)")
    conn.execute(f"CREATE INDEX ix_tpo_pattern ON {SCHEMA}.tpo (path text_pattern_ops)")
    conn.execute(f"CREATE TABLE {SCHEMA}.counts (path varchar(400) COLLATE \"C\", kind varchar(16), n bigint, "
                 "PRIMARY KEY (path, kind))")
    conn.execute(f"INSERT INTO {SCHEMA}.counts SELECT path, 'persons', count(*) FROM {SCHEMA}.c GROUP BY path")
    for name in ("ling", "dflt", "tpo", "c", "counts"):
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.{name}")
    return origin


def _scopes(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The district, and the street, community and grid holding the most rows (a worst-case page)."""
    grid = conn.execute(f"SELECT path FROM {SCHEMA}.counts ORDER BY n DESC, path LIMIT 1").fetchone()[0]  # type: ignore[index]
    parts = grid.split("/")
    depth = len(parts)
    return {"district": "/".join(parts[:depth - 3]), "street": "/".join(parts[:depth - 2]),
            "community": "/".join(parts[:depth - 1]), "grid": grid}


def _sql(form: str, name: str, scope: str, what: str) -> tuple[str, Any]:
    t = table(name, column("id"), column("path"), schema=SCHEMA)
    if form == "range":
        where: Any = path_predicate(t.c.path, (scope,))
    else:
        where = (t.c.path == scope) | t.c.path.like(scope + "/%")
    stmt = (select(func.count()).select_from(t).where(where) if what == "count"
            else select(t.c.id, t.c.path).where(where).order_by(t.c.path).limit(50))
    compiled = stmt.compile(dialect=postgresql.dialect(paramstyle="pyformat"))  # type: ignore[call-arg]
    return str(compiled), compiled.params


def _time(conn: psycopg.Connection[Any], sql: str, params: Any, n: int) -> tuple[float, str]:
    conn.execute(sql, params).fetchall()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append(time.perf_counter() - t0)
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]  # type: ignore[index]
    return statistics.median(times) * 1000, _access(plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan))


def _access(plan: dict[str, Any]) -> str:
    nodes, stack = [], [plan]
    while stack:
        node = stack.pop()
        if "Scan" in node["Node Type"]:
            how = ""
            if node.get("Index Name"):  # a seek has an Index Cond; without one the whole index is read
                how = f" {node['Index Name']}" + ("" if node.get("Index Cond") else ", whole index")
            nodes.append(node["Node Type"] + how)
        stack.extend(node.get("Plans", ()))
    return " + ".join(sorted(set(nodes)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="a scratch PostgreSQL database (schema bench_paths is written)")
    ap.add_argument("--source-url", help="read person.path from this database (read only)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--n", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the scratch schema")
    args = ap.parse_args()
    with psycopg.connect(_dsn(args.url), autocommit=True) as conn:
        t0 = time.perf_counter()
        origin = _load(conn, args.source_url, args.rows)
        rows = conn.execute(f"SELECT count(*) FROM {SCHEMA}.c").fetchone()[0]  # type: ignore[index]
        print(f"{rows:,} rows ({origin}), loaded in {time.perf_counter() - t0:.0f} s; median of {args.n} runs\n")
        scopes = _scopes(conn)
        variants = [("before: zh-x-icu, `= p OR LIKE 'p/%'`", "ling", "like"),
                    ("server default C.UTF-8, same LIKE", "dflt", "like"),
                    ("text_pattern_ops index, same LIKE", "tpo", "like"),
                    ('after: COLLATE "C", byte range (path_predicate)', "c", "range")]
        print("| query | scope (rows) | " + " | ".join(v[0] for v in variants) + " |")
        print("|---|---|" + "---|" * len(variants))
        for what in ("count", "page"):
            for level in ("street", "community", "grid"):
                scope = scopes[level]
                n_rows = conn.execute(f"SELECT sum(n) FROM {SCHEMA}.counts WHERE path = %s OR path LIKE %s",
                                      (scope, scope + "/%")).fetchone()[0]  # type: ignore[index]
                cells = []
                for _, name, form in variants:
                    ms, access = _time(conn, *_sql(form, name, scope, what), args.n)
                    cells.append(f"{ms:.1f} ms ({access})")
                label = "count(*)" if what == "count" else "50 rows ORDER BY path"
                print(f"| {label} | {level} ({n_rows:,}) | " + " | ".join(cells) + " |")
        district = scopes["district"]
        print(f"\nDistrict total under {district}:")
        for label, sql in (("count(*) over the rows (C collation, range)", _sql("range", "c", district, "count")),
                           ("count(*) over the rows (before: zh-x-icu, LIKE)", _sql("like", "ling", district, "count"))):
            ms, access = _time(conn, *sql, args.n)
            print(f"- {label}: {ms:.1f} ms ({access})")
        t = table("counts", column("path"), column("n"), column("kind"), schema=SCHEMA)
        stmt = select(func.sum(t.c.n)).where(path_predicate(t.c.path, (district,)), t.c.kind == "persons")
        compiled = stmt.compile(dialect=postgresql.dialect(paramstyle="pyformat"))  # type: ignore[call-arg]
        ms, access = _time(conn, str(compiled), compiled.params, args.n)
        grids = conn.execute(f"SELECT count(*) FROM {SCHEMA}.counts").fetchone()[0]  # type: ignore[index]
        print(f"- sum over the per-grid counts ({grids:,} grid rows): {ms:.2f} ms ({access})")
        if not args.keep:
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
