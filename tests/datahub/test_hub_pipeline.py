"""The import pipeline: good rows imported, bad rows quarantined with their reasons, re-imports idempotent, a
killed import resumed to the same end state, dry runs writing nothing, jurisdiction enforced."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shareddata import SHARED_DATA
from zhili.core.errors import Forbidden, NotFound
from zhili.core.validators import id_check_digit
from zhili.datahub.models import Import, ImportStatus, QuarantineRow, QuarantineStatus, Source, SourceRecord, Target
from zhili.datahub.pipeline import run_import
from zhili.datahub.records import quarantined_cells, record_values
from zhili.datahub.rows import Mapped, Outcome, RawRow, StagedRow
from zhili.users.service import principal_for_user


def valid_id(seq: int) -> str:
    first = f"330522198501{seq % 28 + 1:02d}{seq % 1000:03d}"
    return first + id_check_digit(first)


class ListStream:
    """A RowStream over a list of dicts."""

    def __init__(self, rows: list[RawRow], columns: list[str] | None = None, fail_at: int | None = None) -> None:
        self.rows, self.columns, self.encoding = rows, columns or list(rows[0]) if rows else [], "utf-8"
        self.fail_at = fail_at
        self.done = 0

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        for i, r in enumerate(self.rows, start=1):
            if self.fail_at == i:
                raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte")
            self.done = i
            yield i, dict(r)

    @property
    def progress(self) -> tuple[int, int | None]:
        return self.done, len(self.rows)


class KeyMapper:
    """Maps column ``key`` to the natural key and every other column onto the standard field of that name."""

    def __init__(self, target: str, columns: tuple[str, ...] = ()) -> None:
        self.target = target
        self.source_columns = list(columns)

    def map(self, raw: RawRow) -> Mapped:
        values = {k: v for k, v in raw.items() if k != "key"}
        return Mapped(values=values, natural_key=raw.get("key"))


class RecordingHandler:
    """Writes nothing but remembers every staged row; refuses rows whose note says so; can blow up mid-run."""

    def __init__(self, explode_after: int | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.explode_after = explode_after
        self.targets: dict[str, uuid.UUID] = {}

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]:
        out = []
        for r in rows:
            if self.explode_after is not None and len(self.seen) >= self.explode_after:
                raise KeyboardInterrupt("killed")
            self.seen.append((r.natural_key, r.change))
            if r.values.get("note") == "拒绝":
                from zhili.datahub.rows import RowError

                out.append(Outcome(errors=[RowError(None, "register_refused", "登记簿拒绝了该记录")]))
                continue
            tid = self.targets.setdefault(r.natural_key, uuid.uuid4())
            out.append(Outcome(target_id=tid, path=r.path))
        return out


@pytest.fixture
def principal(db: Session, world: Any) -> Any:
    return principal_for_user(db, user=world.users["shequ1"])


def make_source(db: Session, world: Any, target: Target = Target.persons, unit: str = "c1",
                name: str | None = None) -> Source:
    u = world.units[unit]
    src = Source(id=uuid.uuid4(), name=name or f"src-{uuid.uuid4().hex[:8]}", title="测试来源", target=target,
                 security_level="internal", unit_id=u.id, path=u.path)
    db.add(src)
    db.flush()
    return src


def person_rows(n: int, grid: str = "330522001001001") -> list[RawRow]:
    return [{"key": f"K{i}", "name": f"居民{i}", "id_number": valid_id(i), "grid": grid, "phone": "13800000000"}
            for i in range(n)]


def run(db: Session, principal: Any, src: Source, rows: list[RawRow], handler: Any, **kw: Any) -> Import:
    kw.setdefault("batch_size", 4)
    return run_import(db, principal=principal, source=src, stream=ListStream(rows),
                      mapper=KeyMapper(src.target.value), filename="people.csv", file_hash=kw.pop("hash", "h1"),
                      handler=handler, resolver=False, **kw)


def snapshot(db: Session, src: Source) -> dict[str, Any]:
    recs = db.scalars(select(SourceRecord).where(SourceRecord.source_id == src.id)).all()
    q = db.scalars(select(QuarantineRow).where(QuarantineRow.source_id == src.id)).all()
    return {"records": sorted((r.natural_key, r.row_hash, r.row_number, r.key_bidx is not None) for r in recs),
            "quarantine": sorted((r.row_number, r.rules, r.status.value) for r in q)}


def test_good_rows_imported_bad_rows_quarantined_with_every_reason(db: Session, world: Any, principal: Any) -> None:
    """Every valid row becomes a source record (values encrypted, strong key indexed) and reaches the handler;
    every invalid row is quarantined whole, raw cells encrypted, with each failed rule and a Chinese reason."""
    src = make_source(db, world)
    rows = person_rows(6)
    rows[1]["id_number"] = rows[1]["id_number"][:-1] + ("0" if rows[1]["id_number"][-1] != "0" else "1")
    rows[2].update(name="", phone="12345")
    rows[3]["grid"] = "no-such-grid"
    rows.append(dict(rows[0], name="重复者"))  # the same key again later in the file
    h = RecordingHandler()
    imp = run(db, principal, src, rows, h)
    assert imp.status == ImportStatus.done and imp.rows_read == 7
    assert (imp.rows_imported, imp.rows_updated, imp.rows_unchanged, imp.rows_quarantined) == (3, 0, 0, 4)
    assert sorted(k for k, _ in h.seen) == ["K0", "K4", "K5"]
    q = {r.row_number: r for r in db.scalars(select(QuarantineRow).where(QuarantineRow.import_id == imp.id))}
    assert q[2].rules == "id_number" and "校验位" in q[2].errors[0]["message"]
    assert set(q[3].rules.split(",")) == {"required", "mobile"}
    assert q[4].rules == "grid_unknown"
    assert q[7].rules == "duplicate_in_file"
    assert quarantined_cells(q[2])["id_number"] == rows[1]["id_number"]
    assert rows[1]["id_number"].encode() not in q[2].raw_enc
    for row in q.values():
        for e in row.errors:
            assert rows[1]["id_number"] not in e["message"]
    rec = db.scalar(select(SourceRecord).where(SourceRecord.source_id == src.id, SourceRecord.natural_key == "K0"))
    assert rec is not None and rec.key_bidx and rec.target_id == h.targets["K0"]
    assert record_values(rec)["id_number"] == rows[0]["id_number"]
    assert rec.path == world.units["ga"].path  # placed on the row's grid
    assert imp.stats["rules"] == {"id_number": 1, "required": 1, "mobile": 1, "grid_unknown": 1,
                                  "duplicate_in_file": 1}
    assert imp.stats["fields"]["name"] == 3 and imp.stats["valid"] == 3


def test_reimport_is_idempotent_and_counts_unchanged(db: Session, world: Any, principal: Any) -> None:
    """The same file again writes nothing new: every row unchanged, no handler call; a changed row is updated."""
    src = make_source(db, world)
    rows = person_rows(5)
    h = RecordingHandler()
    run(db, principal, src, rows, h)
    rows.append({"key": "BAD", "name": "坏行", "id_number": "1", "grid": "330522001001001"})
    first_bad = run(db, principal, src, rows, h, hash="h1b")
    assert (first_bad.rows_unchanged, first_bad.rows_quarantined) == (5, 1)
    again = run(db, principal, src, rows, h, hash="h2")
    assert (again.rows_imported, again.rows_updated, again.rows_unchanged, again.rows_quarantined) == (0, 0, 5, 1)
    assert len(h.seen) == 5
    waiting = db.scalars(select(QuarantineRow).where(QuarantineRow.source_id == src.id)).all()
    assert len(waiting) == 1 and waiting[0].import_id == again.id  # the same bad row is not quarantined twice
    assert quarantined_cells(waiting[0])["key"] == "BAD"
    rows.pop()
    rows[2]["name"] = "改名"
    third = run(db, principal, src, rows, h, hash="h3")
    assert (third.rows_imported, third.rows_updated, third.rows_unchanged) == (0, 1, 4)
    assert h.seen[-1] == ("K2", "updated")
    assert db.scalar(select(func.count()).select_from(SourceRecord).where(SourceRecord.source_id == src.id)) == 5


def test_killed_import_resumes_to_the_same_end_state(db: Session, world: Any, principal: Any) -> None:
    """Killed mid-run (the handler raises in the third batch), the uncommitted batch is lost; running the same file
    again resumes the same import after its checkpoint and ends exactly like an uninterrupted run."""
    rows = person_rows(14)
    rows[5]["grid"] = "nowhere"
    rows[11]["id_number"] = "123"
    ref_src = make_source(db, world)
    ref = run(db, principal, ref_src, rows, RecordingHandler())
    src = make_source(db, world)
    with pytest.raises(KeyboardInterrupt):
        run(db, principal, src, rows, RecordingHandler(explode_after=7))
    db.rollback()
    killed = db.scalar(select(Import).where(Import.source_id == src.id))
    assert killed is not None and killed.status == ImportStatus.running and killed.checkpoint == 8
    resumed = run(db, principal, src, rows, RecordingHandler())
    assert resumed.id == killed.id and resumed.status == ImportStatus.done
    counts = ("rows_read", "rows_imported", "rows_updated", "rows_unchanged", "rows_quarantined")
    assert [getattr(resumed, c) for c in counts] == [getattr(ref, c) for c in counts]
    assert snapshot(db, src) == snapshot(db, ref_src)
    assert resumed.stats == ref.stats


def test_a_progress_callback_kill_resumes_too(db: Session, world: Any, principal: Any) -> None:
    """A kill raised from the progress callback (after a committed batch) loses nothing either."""
    rows = person_rows(9)
    src = make_source(db, world)
    calls = []

    def progress(imp: Import, where: tuple[int, int | None]) -> None:
        calls.append(where)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(db, principal, src, rows, RecordingHandler(), progress=progress)
    db.rollback()
    done = run(db, principal, src, rows, RecordingHandler(), progress=progress)
    assert done.rows_read == 9 and done.rows_imported == 9
    assert db.scalar(select(func.count()).select_from(SourceRecord).where(SourceRecord.source_id == src.id)) == 9


def test_handler_refusal_quarantines_the_row_and_keeps_no_record(db: Session, world: Any, principal: Any) -> None:
    """A row the target's handler refuses goes to quarantine with the handler's reason; no source record stays."""
    src = make_source(db, world)
    rows = person_rows(3)
    rows[1]["note"] = "拒绝"
    imp = run(db, principal, src, rows, RecordingHandler())
    assert (imp.rows_imported, imp.rows_quarantined) == (2, 1)
    q = db.scalar(select(QuarantineRow).where(QuarantineRow.import_id == imp.id))
    assert q is not None and q.rules == "register_refused" and q.row_number == 2
    assert db.scalar(select(SourceRecord).where(SourceRecord.natural_key == "K1",
                                                SourceRecord.source_id == src.id)) is None


def test_dry_run_counts_but_writes_only_the_import_row(db: Session, world: Any, principal: Any) -> None:
    """A dry run maps, validates and counts, writes no record, no quarantine row, calls no handler."""
    src = make_source(db, world)
    rows = person_rows(4)
    rows[0]["phone"] = "1"
    h = RecordingHandler()
    imp = run(db, principal, src, rows, h, dry_run=True)
    assert imp.dry_run and imp.status == ImportStatus.done
    assert (imp.rows_read, imp.rows_imported, imp.rows_quarantined) == (4, 3, 1)
    assert h.seen == []
    assert snapshot(db, src) == {"records": [], "quarantine": []}


def test_unreadable_file_and_missing_columns_fail_the_import(db: Session, world: Any, principal: Any) -> None:
    """A file that cannot be decoded, or lacks a column the template reads, fails with a Chinese reason."""
    src = make_source(db, world)
    imp = run_import(db, principal=principal, source=src, stream=ListStream(person_rows(5), fail_at=3),
                     mapper=KeyMapper("persons"), filename="x.csv", file_hash="bad", handler=RecordingHandler(),
                     resolver=False, batch_size=2)
    assert imp.status == ImportStatus.failed and imp.error and "读取" in imp.error
    imp2 = run_import(db, principal=principal, source=src, stream=ListStream(person_rows(2)),
                      mapper=KeyMapper("persons", ("姓名", "身份证号")), filename="y.csv", file_hash="cols",
                      handler=RecordingHandler(), resolver=False)
    assert imp2.status == ImportStatus.failed and "姓名" in (imp2.error or "")


def test_staff_cannot_import_into_or_reference_units_outside_their_jurisdiction(db: Session, world: Any,
                                                                                  principal: Any) -> None:
    """A source of another community is not found; a row naming another community's grid is out of scope; a
    role without hub:import is refused."""
    other = make_source(db, world, unit="c2")
    with pytest.raises(NotFound):
        run(db, principal, other, person_rows(1), RecordingHandler())
    assert db.scalar(select(func.count()).select_from(Import).where(Import.source_id == other.id)) == 0
    src = make_source(db, world)
    imp = run(db, principal, src, person_rows(2, grid="330522002001001"), RecordingHandler())
    assert imp.rows_quarantined == 2
    assert set(db.scalars(select(QuarantineRow.rules).where(QuarantineRow.import_id == imp.id))) == {"out_of_scope"}
    grid_worker = principal_for_user(db, user=world.users["wangge_a"])
    with pytest.raises(Forbidden):
        run(db, grid_worker, src, person_rows(1), RecordingHandler())


def test_reupload_marks_open_quarantine_rows_fixed(db: Session, world: Any, principal: Any) -> None:
    """Re-uploading a corrected file of the same source marks the open quarantine rows of those keys fixed."""
    src = make_source(db, world)
    rows = person_rows(3)
    rows[2]["phone"] = "999"
    first = run(db, principal, src, rows, RecordingHandler())
    rows[2]["phone"] = "13900000000"
    second = run(db, principal, src, rows, RecordingHandler(), hash="h-fixed")
    q = db.scalar(select(QuarantineRow).where(QuarantineRow.import_id == first.id))
    assert q is not None and q.status == QuarantineStatus.fixed and q.resolved_import_id == second.id
    assert second.rows_imported == 1 and second.rows_unchanged == 2


SHARED = SHARED_DATA


def test_gb18030_and_utf8_bom_csvs_import_the_same(db: Session, world: Any, principal: Any, tmp_path: Path) -> None:
    """The same rows written as GB18030 and as UTF-8 with a BOM import to the same records (A's connector)."""
    from zhili.datahub import connectors
    rows = person_rows(5)
    rows[0]["name"] = "欧阳娜娜"
    header = list(rows[0])
    text = ",".join(header) + "\n" + "".join(",".join(str(r[c]) for c in header) + "\n" for r in rows)
    results = []
    for enc in ("gb18030", "utf-8-sig"):
        path = tmp_path / f"people-{enc}.csv"
        path.write_bytes(text.encode(enc))
        src = make_source(db, world)
        stream = connectors.open_file(path)
        imp = run_import(db, principal=principal, source=src, stream=stream, mapper=KeyMapper("persons"),
                         filename=path.name, file_hash=enc, handler=RecordingHandler(), resolver=False)
        assert imp.status == ImportStatus.done and imp.rows_imported == 5, imp.error
        results.append(snapshot(db, src))
    assert results[0] == results[1]


@pytest.mark.parametrize(("folder", "name", "template"), [
    ("cn_gov_messages", "unlabelled_messages_2801.csv", "cn-gov-messages"),
    ("us311", "nyc311_2011_subset_2000.csv", "nyc311"),
])
def test_shipped_templates_import_the_shared_files_twice(db: Session, world: Any, folder: str, name: str,
                                                        template: str) -> None:
    """The shared hotline exports import as historical cases through the shipped templates; a second run of the
    same file imports nothing new (skipped where the shared file is not on the machine)."""
    path = SHARED / folder / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    from zhili.datahub.imports import import_file
    from zhili.datahub.templates import load_builtin_templates

    load_builtin_templates(db)
    admin = principal_for_user(db, user=world.users["admin"])
    src = make_source(db, world, target=Target.cases, unit="district", name="12345-archive")
    first = import_file(db, principal=admin, source=src, path=path, template=template)
    assert first.status == ImportStatus.done, first.error
    assert first.rows_read > 1000 and first.rows_imported + first.rows_quarantined == first.rows_read
    second = import_file(db, principal=admin, source=src, path=path, template=template)
    assert second.id != first.id and second.status == ImportStatus.done
    assert (second.rows_imported, second.rows_updated) == (0, 0)
    assert second.rows_unchanged == first.rows_imported


def test_an_import_of_register_rows_needs_the_register_permission_up_front(db: Session, world: Any,
                                                                           tmp_path: Path) -> None:
    """The command centre may import history but not register rows (it holds no ``registry:write``): the import
    is refused before a row is read, with a Chinese reason — not every row quarantined as refused."""
    from zhili.datahub.imports import import_file

    src = make_source(db, world, target=Target.persons, unit="district", name="ga-persons")
    path = tmp_path / "persons.csv"
    path.write_text("姓名,身份证号\n张三,330522198506150013\n", encoding="utf-8")
    zhihui = principal_for_user(db, user=world.users["zhihui"])
    with pytest.raises(Forbidden) as refused:
        import_file(db, principal=zhihui, source=src, path=path, template=None)
    assert refused.value.code == "hub_import_register_denied" and "基础数据" in refused.value.message
    assert db.scalar(select(func.count()).select_from(Import).where(Import.source_id == src.id)) == 0
