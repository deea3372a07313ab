"""Quarantine: listing scoped to the caller's area with masked cells, fixing a row re-runs it through the same
template and rules, re-running every open row after a reference appears, discarding keeps the row, the download
is masked without pii:reveal — and the households handler writes through the register service."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent  # type: ignore[attr-defined]
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.datahub import quarantine as q
from zhili.datahub.models import QuarantineRow, QuarantineStatus, Source, SourceRecord, Target
from zhili.datahub.pipeline import run_import
from zhili.datahub.records import quarantined_cells
from zhili.datahub.rows import Mapped, RawRow
from zhili.registry.models import Building, Household
from zhili.users.service import principal_for_user


class Stream:
    def __init__(self, rows: list[RawRow]) -> None:
        self.rows, self.columns, self.encoding = rows, list(rows[0]), "utf-8"

    def __iter__(self) -> Any:
        return iter(enumerate((dict(r) for r in self.rows), start=1))

    @property
    def progress(self) -> tuple[int, int | None]:
        return len(self.rows), len(self.rows)


class HouseholdMapper:
    """楼栋编码/室号/用途/面积/联系电话 → households; the natural key is building code + room."""

    target = "households"
    source_columns = ["楼栋编码", "室号"]

    def map(self, raw: RawRow) -> Mapped:
        v = {"building_code": raw.get("楼栋编码"), "room": raw.get("室号"), "use": raw.get("用途"),
             "area_m2": raw.get("面积"), "note": raw.get("备注")}
        return Mapped(values=v, natural_key=f"{raw.get('楼栋编码')}/{raw.get('室号')}")


@pytest.fixture
def hub(db: Session, world: Any) -> dict[str, Any]:
    ga = world.units["ga"]
    b = Building(id=uuid.uuid4(), grid_id=ga.id, path=ga.path, code="JL-8-3", name="3幢", address="金陵路8号3幢",
                 building_type="residential")
    db.add(b)
    c1 = world.units["c1"]
    src = Source(id=uuid.uuid4(), name=f"fangwu-{uuid.uuid4().hex[:6]}", title="住建房屋", target=Target.households,
                 security_level="internal", unit_id=c1.id, path=c1.path)
    db.add(src)
    db.flush()
    return {"b": b, "src": src, "p": principal_for_user(db, user=world.users["shequ1"])}


def rows() -> list[RawRow]:
    return [
        {"楼栋编码": "JL-8-3", "室号": "101", "用途": "自住", "面积": "89.5", "备注": "13800000000"},
        {"楼栋编码": "JL-8-3", "室号": "102", "用途": "仓库", "面积": "60", "备注": ""},
        {"楼栋编码": "JL-9-1", "室号": "201", "用途": "出租", "面积": "70", "备注": "330522198506150013"},
        {"楼栋编码": "JL-8-3", "室号": "103", "用途": "空置", "面积": "-5", "备注": ""},
    ]


def do_import(db: Session, hub: dict[str, Any], data: list[RawRow], h: str = "h") -> Any:
    return run_import(db, principal=hub["p"], source=hub["src"], stream=Stream(data), mapper=HouseholdMapper(),
                      filename="fangwu.csv", file_hash=h, resolver=False)


def test_households_import_through_the_register(db: Session, hub: dict[str, Any]) -> None:
    """Valid rows become households of the named building (register service: path, address, audit); bad ones wait
    in quarantine with their rules; a second run updates the same household rather than adding one."""
    imp = do_import(db, hub, rows())
    assert (imp.rows_imported, imp.rows_quarantined) == (1, 3)
    h = db.scalar(select(Household).where(Household.building_id == hub["b"].id, Household.room == "101"))
    assert h is not None and h.path == hub["b"].path and h.address == "金陵路8号3幢101室" and h.area_m2 == 89.5
    rec = db.scalar(select(SourceRecord).where(SourceRecord.target_id == h.id))
    assert rec is not None and rec.natural_key == "JL-8-3/101"
    changed = rows()
    changed[0]["面积"] = "90"
    again = do_import(db, hub, changed, h="h2")
    assert again.rows_updated == 1
    db.refresh(h)
    assert h.area_m2 == 90.0
    assert len(db.scalars(select(Household.id).where(Household.building_id == hub["b"].id)).all()) == 1


def test_list_is_scoped_and_cells_masked(db: Session, world: Any, hub: dict[str, Any]) -> None:
    """Staff of the area see the rows with ID and phone numbers masked; staff of another street see none and
    get 404 for a row; the rule filter matches whole codes."""
    imp = do_import(db, hub, rows())
    found, total = q.list_rows(db, principal=hub["p"], import_id=imp.id)
    assert total == 3
    views = {r.row_number: q.row_view(db, r) for r in found}
    assert views[3]["cells"]["备注"] != "330522198506150013" and "*" in views[3]["cells"]["备注"]
    assert views[2]["errors"][0]["rule"] == "choice" and views[2]["errors"][0]["rule_name"] == "枚举值"
    _, by_rule = q.list_rows(db, principal=hub["p"], rule="range")
    assert by_rule == 1
    other = principal_for_user(db, user=world.users["jiedao2"])
    assert q.list_rows(db, principal=other, import_id=imp.id) == ([], 0)
    with pytest.raises(NotFound):
        q.get_row(db, principal=other, row_id=found[0].id)


def test_fix_row_reruns_it_and_keeps_new_errors(db: Session, world: Any, hub: dict[str, Any]) -> None:
    """Fixed cells replace the stored ones (encrypted) and the row runs again: imported and marked fixed, or kept
    open with its new errors; a grid worker may not fix."""
    imp = do_import(db, hub, rows())
    row = db.scalar(select(QuarantineRow).where(QuarantineRow.import_id == imp.id, QuarantineRow.row_number == 2))
    assert row is not None
    still = q.fix_row(db, principal=hub["p"], row_id=row.id, cells={"用途": "库房"}, mapper=HouseholdMapper(),
                      resolver=False)
    assert still.status == QuarantineStatus.open and still.rules == "choice"
    assert quarantined_cells(still)["用途"] == "库房"
    done = q.fix_row(db, principal=hub["p"], row_id=row.id, cells={"用途": "出租"}, mapper=HouseholdMapper(),
                     resolver=False)
    assert done.status == QuarantineStatus.fixed and done.resolved_by == "shequ1"
    assert db.scalar(select(Household).where(Household.room == "102", Household.building_id == hub["b"].id))
    with pytest.raises(ValidationFailed):
        q.fix_row(db, principal=hub["p"], row_id=row.id, cells={"用途": "出租"}, mapper=HouseholdMapper())
    with pytest.raises(Forbidden):
        q.fix_row(db, principal=principal_for_user(db, user=world.users["wangge_a"]), row_id=row.id, cells={})


def test_rerun_after_a_reference_appears_and_discard(db: Session, world: Any, hub: dict[str, Any]) -> None:
    """Once the missing building is registered, re-running the import's open rows imports that row; a discarded
    row stays, marked, with its reason."""
    imp = do_import(db, hub, rows())
    ga = world.units["ga"]
    db.add(Building(id=uuid.uuid4(), grid_id=ga.id, path=ga.path, code="JL-9-1", name="1幢", address="金陵路9号1幢",
                    building_type="residential"))
    db.flush()
    result = q.rerun(db, principal=hub["p"], import_id=imp.id, mapper=HouseholdMapper(), resolver=False)
    assert result == {"fixed": 1, "open": 2}
    open_rows, _ = q.list_rows(db, principal=hub["p"], import_id=imp.id)
    target = next(r for r in open_rows if r.row_number == 4)
    with pytest.raises(ValidationFailed):
        q.discard_row(db, principal=hub["p"], row_id=target.id, reason=" ")
    gone = q.discard_row(db, principal=hub["p"], row_id=target.id, reason="面积无法核实")
    assert gone.status == QuarantineStatus.discarded and gone.errors[-1]["message"] == "作废：面积无法核实"
    assert db.get(QuarantineRow, target.id) is not None
    _, left = q.list_rows(db, principal=hub["p"], import_id=imp.id)
    assert left == 1


def test_download_masks_without_pii_reveal_and_is_audited(db: Session, world: Any, hub: dict[str, Any]) -> None:
    """The .xlsx has the original columns and a reason column; staff without pii:reveal get masked numbers, staff
    with it the full values; each download is audited with its count."""
    imp = do_import(db, hub, rows())
    data, n, masked = q.download(db, principal=hub["p"], import_id=imp.id)
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    table = [[c.value for c in r] for r in ws.iter_rows()]
    assert table[0][-1] == "隔离原因" and n == 3 and len(table) == 4
    flat = " ".join(str(c) for r in table for c in r)
    revealing = hub["p"].can(__import__("zhili.core.security", fromlist=["Perm"]).Perm.pii_reveal)
    assert masked is (not revealing)
    assert ("330522198506150013" in flat) is revealing
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "hub.quarantine.download")
                   .order_by(AuditEvent.at.desc()).limit(1))
    assert ev is not None and ev.after["rows"] == 3


def test_import_and_quarantine_pages(client: Any, db: Session, world: Any, hub: dict[str, Any]) -> None:
    """The import history lists the import with its counts; its page shows counts and the quarantined rows'
    reasons; the quarantine page shows masked cells, a fix form and a discard form; discarding from the page works;
    the API answers the same import and rows (masked)."""
    imp = do_import(db, hub, rows())
    db.commit()
    client.cookies.set("zhili_session", world.tokens["shequ1"])
    history = client.get("/console/hub/imports")
    assert history.status_code == 200 and "fangwu.csv" in history.text and hub["src"].title in history.text
    detail = client.get(f"/console/hub/imports/{imp.id}")
    assert detail.status_code == 200 and "不是可选值" in detail.text and "已完成" in detail.text
    progress = client.get(f"/console/hub/imports/{imp.id}/progress")
    assert progress.status_code == 200 and progress.headers.get("HX-Refresh") == "true"
    qpage = client.get(f"/console/hub/quarantine?import={imp.id}")
    assert qpage.status_code == 200
    assert "330522198506150013" not in qpage.text and "cell:用途" in qpage.text and "枚举值" in qpage.text
    row = db.scalar(select(QuarantineRow).where(QuarantineRow.import_id == imp.id, QuarantineRow.row_number == 4))
    assert row is not None
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', qpage.text) or re.search(
        r'value="([^"]+)" name="csrf', qpage.text)
    field = re.search(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', qpage.text)
    assert field is not None
    done = client.post(f"/console/hub/quarantine/{row.id}/discard",
                       data={field.group(1): field.group(2), "reason": "面积无法核实",
                             "back": f"/console/hub/quarantine?import={imp.id}"}, follow_redirects=False)
    assert done.status_code == 303 and "msg=hub_quarantine_discarded" in done.headers["location"]
    db.refresh(row)
    assert row.status == QuarantineStatus.discarded
    _ = token
    api = client.get(f"/api/v1/hub/imports/{imp.id}", headers=world.headers("shequ1"))
    assert api.status_code == 200 and api.json()["rows_quarantined"] == 3
    qapi = client.get("/api/v1/hub/quarantine", params={"import_id": str(imp.id)}, headers=world.headers("shequ1"))
    assert qapi.status_code == 200 and qapi.json()["total"] == 2
    assert "330522198506150013" not in qapi.text
    other = client.get(f"/api/v1/hub/imports/{imp.id}", headers=world.headers("jiedao2"))
    assert other.status_code == 404
