"""Historical cases imported through the hub: closed history with its lineage, placed by point or address or kept
unplaced with the reason, numbered normally, counted in the statistics exactly as the rebuild counts them — and
never in the deadline sweep, a worklist, duplicate detection or a public list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseEvent, CaseStat, CaseState, Category
from zhili.cases.service import CaseFilter, list_cases
from zhili.cases.sweep import sweep_deadlines
from zhili.cases.tally import rebuild_stats
from zhili.cases.worklists import Worklist, by_deadline, count_by_channel, count_by_state
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.datahub.models import Import, Source, SourceRecord, Target
from zhili.datahub.pipeline import run_import
from zhili.datahub.rows import Mapped, Placement, RawRow
from zhili.users.service import principal_for_user


class Stream:
    def __init__(self, rows: list[RawRow]) -> None:
        self.rows, self.columns, self.encoding = rows, list(rows[0]), "utf-8"

    def __iter__(self) -> Any:
        return iter(enumerate((dict(r) for r in self.rows), start=1))

    @property
    def progress(self) -> tuple[int, int | None]:
        return len(self.rows), len(self.rows)


class CaseMapper:
    target = "cases"

    def map(self, raw: RawRow) -> Mapped:
        v = {k: val for k, val in raw.items() if val not in (None, "")}
        if "reported_at" in v:
            v["reported_at"] = dt.datetime.fromisoformat(v["reported_at"])
        for k in ("lon", "lat"):
            if k in v:
                v[k] = float(v[k])
        return Mapped(values=v, natural_key=raw.get("external_id"))


class FakeResolver:
    """Places 明珠路 in the second grid, refuses everything else with a reason."""

    def __init__(self, grid: Any) -> None:
        self.grid = grid

    def place(self, text: str) -> Placement:
        if "明珠路" in text:
            return Placement(unit_id=self.grid.id, path=self.grid.path, confidence=0.9)
        return Placement(reason="地址中没有可识别的区县或道路")


@pytest.fixture
def setup(db: Session, world: Any) -> dict[str, Any]:
    cat = Category(code="HIST01", name="道路破损", kind="component", is_current=True, is_leaf=True)
    db.add(cat)
    u = world.units["c1"]
    src = Source(id=uuid.uuid4(), name=f"hotline-{uuid.uuid4().hex[:6]}", title="12345热线历史", target=Target.cases,
                 security_level="internal", unit_id=u.id, path=u.path)
    db.add(src)
    db.flush()
    return {"src": src, "cat": cat, "p": principal_for_user(db, user=world.users["shequ1"])}


def rows() -> list[RawRow]:
    return [
        {"external_id": "M1", "title": "路面坑洼", "description": "金陵路路面坑洼", "category_code": "HIST01",
         "category_label": "", "reported_at": "2024-03-01T09:30:00", "lon": "119.1", "lat": "31.1",
         "address": "", "reply": "已修复", "reporter_phone": "13800000001", "status": "已办结"},
        {"external_id": "M2", "title": "", "description": "明珠路路灯不亮已经一周", "category_code": "",
         "category_label": "城市管理/路灯", "reported_at": "2024-03-01T10:00:00", "lon": "", "lat": "",
         "address": "长兴县明珠路8号", "reply": "", "reporter_phone": "", "status": ""},
        {"external_id": "M3", "title": "噪音", "description": "A市A2区某小区夜间施工噪音", "category_code": "X9",
         "category_label": "环境保护", "reported_at": "2023-12-31T23:00:00", "lon": "", "lat": "",
         "address": "A市A2区", "reply": "", "reporter_phone": "", "status": "已回复"},
    ]


def do_import(db: Session, setup: dict[str, Any], world: Any, data: list[RawRow], h: str = "h") -> Import:
    return run_import(db, principal=setup["p"], source=setup["src"], stream=Stream(data), mapper=CaseMapper(),
                      filename="hotline.csv", file_hash=h, resolver=lambda as_of: FakeResolver(world.units["gb"]))


def cases_of(db: Session, imp: Import) -> dict[str, Case]:
    return {c.external_id: c for c in db.scalars(select(Case).where(Case.is_history.is_(True)))
            if c.attributes.get("import_id") == str(imp.id)}


def test_history_cases_are_closed_placed_labelled_and_traceable(db: Session, world: Any, setup: dict[str, Any]) -> None:
    """Each row becomes a closed history case without deadlines: placed by point, by address, or unplaced at the
    source's path with the reason; a current category is linked, an unknown one kept as the imported label; the
    reporter's phone encrypted; one 历史导入 event naming the source; lineage in the attributes."""
    imp = do_import(db, setup, world, rows())
    assert (imp.rows_imported, imp.rows_quarantined) == (3, 0)
    got = cases_of(db, imp)
    m1, m2, m3 = got["M1"], got["M2"], got["M3"]
    for c in got.values():
        assert c.is_history and c.state == CaseState.closed and not c.is_public
        assert c.handle_due_at is None and c.accept_due_at is None and c.assignee_department is None
        assert c.number.startswith("330522-")
    assert m1.grid_id == world.units["ga"].id and m1.category_id == setup["cat"].id
    assert m1.resolution == "已修复" and m1.attributes["imported_status"] == "已办结"
    assert b"13800000001" not in (m1.reporter_phone_enc or b"")
    assert get_cipher().decrypt(m1.reporter_phone_enc, table="case", column="reporter_phone",
                                row_id=m1.id) == "13800000001"
    assert m2.grid_id == world.units["gb"].id and m2.title.startswith("明珠路")
    assert m2.category_id is None and m2.attributes["imported_category"] == "城市管理/路灯"
    assert m3.grid_id is None and m3.path == setup["src"].path
    assert m3.attributes["placement_reason"] == "地址中没有可识别的区县或道路"
    assert m3.attributes["imported_category"] == "环境保护"  # X9 is not a current category
    assert m1.attributes["row_number"] == 1 and m1.attributes["source"] == setup["src"].name
    ev = db.scalars(select(CaseEvent).where(CaseEvent.case_id == m1.id)).all()
    assert [e.action for e in ev] == ["imported"] and setup["src"].title in (ev[0].comment or "")
    rec = db.scalar(select(SourceRecord).where(SourceRecord.source_id == setup["src"].id,
                                               SourceRecord.natural_key == "M1"))
    assert rec is not None and rec.target_id == m1.id


def test_second_import_adds_nothing_and_an_edit_updates_in_place(db: Session, world: Any,
                                                                  setup: dict[str, Any]) -> None:
    """The same export again: all unchanged, no case added; a changed reply updates the same case."""
    do_import(db, setup, world, rows())
    n = len(db.scalars(select(Case.id).where(Case.is_history.is_(True))).all())
    again = do_import(db, setup, world, rows(), h="h2")
    assert (again.rows_imported, again.rows_unchanged) == (0, 3)
    changed = rows()
    changed[1]["reply"] = "已更换灯泡"
    third = do_import(db, setup, world, changed, h="h3")
    assert third.rows_updated == 1
    assert len(db.scalars(select(Case.id).where(Case.is_history.is_(True))).all()) == n
    m2 = cases_of(db, third)["M2"]  # its lineage now names the import that changed it
    db.refresh(m2)
    assert m2.resolution == "已更换灯泡" and m2.attributes["row_number"] == 2


def test_statistics_written_by_the_import_equal_the_rebuild(db: Session, world: Any, setup: dict[str, Any]) -> None:
    """History enters case_stat (reported and closed on its day); an update moves nothing twice; rebuild_stats
    recomputes exactly what the imports wrote."""
    do_import(db, setup, world, rows())
    changed = rows()
    changed[0]["category_code"] = ""
    changed[0]["category_label"] = "其他"
    do_import(db, setup, world, changed, h="h2")

    def table() -> list[tuple[Any, ...]]:
        return sorted((s.path, s.day, s.category_code, s.reported, s.closed, s.closed_on_time, s.overdue)
                      for s in db.scalars(select(CaseStat)) if s.reported or s.closed)  # a moved row leaves zeros

    incremental = table()
    assert sum(r[3] for r in incremental) == 3 and sum(r[4] for r in incremental) == 3
    rebuild_stats(db)
    assert table() == incremental


def test_history_never_in_sweep_worklists_duplicates_or_public(db: Session, world: Any,
                                                               setup: dict[str, Any]) -> None:
    """The sweep leaves history alone; worklist counts and lists skip it; the case list shows it and filters it."""
    imp = do_import(db, setup, world, rows())
    before = {c.id: (c.warning_level, c.overdue, c.version) for c in cases_of(db, imp).values()}
    report = sweep_deadlines(db, now=utcnow() + dt.timedelta(days=3650))
    assert (report.yellow, report.red, report.escalated) == (0, 0, 0)
    after = {c.id: (c.warning_level, c.overdue, c.version) for c in cases_of(db, imp).values()}
    assert after == before
    p = principal_for_user(db, user=world.users["admin"])
    assert count_by_state(db, principal=p, states=[CaseState.closed]).get(CaseState.closed, 0) == 0
    assert count_by_channel(db, principal=p, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) == {}
    assert by_deadline(db, principal=p, worklist=Worklist(states=list(CaseState))) == []
    everything, _, _ = list_cases(db, principal=p, filters=CaseFilter())
    assert {c.external_id for c in everything} >= {"M1", "M2", "M3"}
    live, _, _ = list_cases(db, principal=p, filters=CaseFilter(history=False))
    assert not any(c.is_history for c in live)
    hist, total, _ = list_cases(db, principal=p, filters=CaseFilter(history=True))
    assert total == 3 and all(c.is_history for c in hist)
    from zhili.cases.public import is_public_case

    assert not any(is_public_case(c, open_only=False) for c in hist)


def test_case_pages_show_history_with_badge_filter_and_lineage(client: Any, db: Session, world: Any,
                                                               setup: dict[str, Any]) -> None:
    """The console's case list shows history with a 历史导入 badge and filters it (全部 / 实时工单 / 历史导入); the
    case page names its source and links to its import; the API list filters the same way."""
    imp = do_import(db, setup, world, rows())
    m1 = cases_of(db, imp)["M1"]
    db.commit()
    client.cookies.set("zhili_session", world.tokens["zhihui"])
    listed = client.get("/console/cases")
    assert listed.status_code == 200 and m1.number in listed.text and "badge-history" in listed.text
    live = client.get("/console/cases?history=live")
    assert live.status_code == 200 and m1.number not in live.text
    only = client.get("/console/cases?history=history")
    assert m1.number in only.text
    bad = client.get("/console/cases?history=maybe")
    assert "来源只能选实时工单或历史导入" in bad.text
    page = client.get(f"/console/cases/{m1.id}")
    assert page.status_code == 200
    assert setup["src"].title in page.text and f"/console/hub/imports/{imp.id}" in page.text
    assert "第1行" in page.text and "历史导入" in page.text
    api = client.get("/api/v1/cases", params={"history": "true"}, headers=world.headers("zhihui"))
    assert api.status_code == 200
    items = api.json()["items"]
    assert items and all(i["is_history"] for i in items)
    api_live = client.get("/api/v1/cases", params={"history": "false"}, headers=world.headers("zhihui"))
    assert all(not i["is_history"] for i in api_live.json()["items"])
