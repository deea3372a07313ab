"""Excel import and export of the registers. The import is a data hub source
(:mod:`zhili.datahub.register_import`): every row is validated by the hub's rules, valid rows imported through the
register services, every other row quarantined with its row number and Chinese reason, re-imports update instead of
duplicating, the jurisdiction holds row by row; exports are scoped, masked, capped and audited.

Deliberate differences from the register's former importer, asserted below: reasons are the hub's rule messages
(“楼栋名称”不能为空 rather than 楼栋名称：必填); rows are kept in the hub's quarantine, so the counts are the hub's —
读取/新增/更新/未变/隔离, counted per source (each unit's uploads are one source: a record first uploaded by another
unit counts as 新增 for this one although the register row is updated, not duplicated) — and a second upload of an
unchanged row counts it 未变 and writes nothing; the upload commits (the pipeline commits per batch)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from xlsxkit import credit_code, id_number, principal, read, xlsx

from zhili.core.audit import AuditEvent
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.datahub import imports, quarantine
from zhili.datahub import register_import as ri
from zhili.datahub.models import Import, QuarantineRow, QuarantineStatus, Source, SourceRecord
from zhili.registry import excel
from zhili.registry import service as registry
from zhili.registry.models import Building, Entrance, Household, Organisation, Person, RegisterKind
from zhili.registry.schemas import BuildingIn, PersonIn

GA, GB, GC = "330522001001001", "330522001001002", "330522002001001"
PERSON_HEADER = ["姓名", "身份证号", "手机号", "楼栋编码", "室号", "网格", "关爱标签", "与户主关系", "人口类型"]


def _import(db: Any, world: Any, who: str, kind: RegisterKind, rows: list[list[Any]],
            filename: str = "导入.xlsx") -> dict[str, Any]:
    imp = ri.import_register_workbook(db, principal=principal(db, world, who), kind=kind, data=xlsx(rows),
                                      filename=filename)
    return ri.register_import_view(db, imp=imp)


def _rejected(batch: dict[str, Any]) -> dict[int, str]:
    return {r["row_number"]: r["reason"] for r in batch["rejected"]}


def _counts(batch: dict[str, Any]) -> tuple[int, int, int, int]:
    return batch["total_rows"], batch["created_rows"], batch["updated_rows"], batch["rejected_rows"]


def _count(db: Any, model: Any, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _building(db: Any, world: Any, grid: str = "ga", code: str = "JL-1", who: str = "admin") -> Building:
    return registry.create_building(db, principal=principal(db, world, who), data=BuildingIn(
        grid_id=world.units[grid].id, code=code, name="1幢", address=f"金陵路{code}号").model_dump())


def _person(db: Any, world: Any, grid: str, name: str, pid: str, phone: str | None = None) -> Person:
    return registry.create_person(db, principal=principal(db, world, "admin"), data=PersonIn(
        name=name, id_number=pid, phone=phone, grid_id=world.units[grid].id).model_dump())


# -- the template -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(RegisterKind))
def test_the_template_has_chinese_headers_an_example_row_and_column_notes(db: Any, world: Any,
                                                                          kind: RegisterKind) -> None:
    content = excel.template_workbook(db, principal=principal(db, world, "wangge_b"), kind=kind)
    header, example = read(content)[:2]
    assert all(h and any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in header)
    assert any(h.endswith("*") for h in header)  # required columns are marked
    assert example and any(example)
    if "网格" in header:
        assert example[header.index("网格")] == GB  # the example grid is one of the user's own
    notes = read(content, sheet=1)
    assert notes[0] == ["列名", "是否必填", "填写说明", "示例"]
    assert {row[0] for row in notes[1:] if row and row[0]} >= {h.rstrip("*") for h in header}


def test_the_untouched_example_row_of_the_template_is_skipped(db: Any, world: Any) -> None:
    p = principal(db, world, "wangge_a")
    for kind in RegisterKind:
        content = excel.template_workbook(db, principal=p, kind=kind)
        imp = ri.import_register_workbook(db, principal=p, kind=kind, data=content, filename="模板.xlsx")
        assert (imp.status.value, imp.rows_read, imp.rows_imported, imp.rows_quarantined) == ("done", 0, 0, 0), kind
        assert imp.stats["skipped"] == 1
    assert _count(db, Building) == _count(db, Person) == 0


# -- valid rows are imported, the others kept with their reason ---------------------------------------------------

def test_valid_rows_are_imported_and_every_rejected_row_is_kept_with_its_number_and_reason(db: Any,
                                                                                          world: Any) -> None:
    batch = _import(db, world, "shequ1", RegisterKind.buildings, [
        ["网格", "楼栋名称*", "地址*", "楼栋编码", "类型", "层数"],
        [GA, "1幢", "金陵路1号", "JL-001", "住宅", 6],
        [GB, "2幢", "金陵路2号", None, "商住混合", "18"],
        [GA, "", "金陵路3号", None, "别墅", "三层"],
        [GC, "4幢", "画溪路4号", None, None, None],
    ])
    assert _counts(batch) == (4, 2, 0, 2)
    assert _rejected(batch) == {  # Excel's own row numbers (the header is row 1)
        4: "“楼栋名称”不能为空；“层数”不是有效的数字；类型不是可选值",
        5: "引用的单位、楼栋或房屋不在您的管辖范围内",
    }
    made = {b.name: b for b in db.scalars(select(Building))}
    assert set(made) == {"1幢", "2幢"}
    assert made["2幢"].path == world.units["gb"].path and made["2幢"].building_type.value == "mixed"
    assert made["2幢"].floors == 18
    creates = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "building.create")))
    summary = db.scalar(select(AuditEvent).where(AuditEvent.action == "hub.import"))
    assert len(creates) == 2 and creates[0].actor_name == "shequ1"
    assert summary.object_id == str(batch["id"]) and summary.actor_name == "shequ1"
    assert (summary.after["file"], summary.after["read"], summary.after["imported"], summary.after["quarantined"]) \
        == ("导入.xlsx", 4, 2, 2)


def test_rejected_cells_are_stored_encrypted_and_shown_masked(db: Any, world: Any) -> None:
    bad = id_number()[:17] + ("0" if id_number()[-1] != "0" else "1")
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["张三", bad, "13812345678", None, None, GA, None, None, None]])
    row = db.scalar(select(QuarantineRow).where(QuarantineRow.import_id == batch["id"]))
    assert row.row_number + ri.HEADER_ROWS == 2 and row.rules == "id_number"
    assert _rejected(batch) == {2: "身份证号：身份证号码校验位错误"}
    assert bad.encode() not in row.raw_enc and b"13812345678" not in row.raw_enc
    shown = batch["rejected"][0]["cells"]
    assert shown[:3] == ["张三", bad[:4] + "*" * 10 + bad[-4:], "138****5678"]
    hub_view = quarantine.row_view(db, row)  # the hub masks it too
    assert bad not in json.dumps(hub_view, default=str, ensure_ascii=False)


def test_a_rejected_row_leaves_nothing_behind_while_the_other_rows_stay(db: Any, world: Any) -> None:
    building = _building(db, world, code="JL-9")
    batch = _import(db, world, "shequ1", RegisterKind.households, [
        ["楼栋编码", "单元", "室号", "面积（平方米）"],
        ["JL-9", "1单元", "101", "89.5"],
        ["JL-9", "2单元", "201", "-3"],  # refused: its new stairwell unit is not added either
        ["JL-9", "1单元", "102", "60"],  # the unit the first row added is used, not added twice
    ])
    assert _rejected(batch) == {3: "面积（平方米）超出合理范围"}
    assert [e.name for e in db.scalars(select(Entrance).where(Entrance.building_id == building.id))] == ["1单元"]
    assert sorted(h.room for h in db.scalars(select(Household))) == ["101", "102"]
    assert _count(db, SourceRecord) == 2  # the refused row has no source record either


def test_a_row_a_service_refuses_after_others_were_written_undoes_only_that_row(db: Any, world: Any) -> None:
    batch = _import(db, world, "shequ1", RegisterKind.buildings, [
        ["网格", "楼栋名称", "地址", "楼栋编码", "经度", "纬度"],
        [GA, "1幢", "金陵路1号", "C-1", None, None],
        [None, "2幢", "金陵路2号", "C-2", 121.0, 35.0],  # no grid lies there
        [None, "3幢", "金陵路3号", "C-3", 119.3, 31.1],  # located in grid gb
    ])
    assert batch["created_rows"] == 2 and list(_rejected(batch)) == [3]
    assert sorted(b.code for b in db.scalars(select(Building))) == ["C-1", "C-3"]
    assert _count(db, AuditEvent, AuditEvent.action == "building.create") == 2  # the refused row left none


def test_a_numeric_id_cell_is_rejected_with_a_hint_to_use_text_format(db: Any, world: Any) -> None:
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["李四", 330522198506150013, None, None, None, GA, None, None, None]])
    reason = _rejected(batch)[2]
    assert reason.startswith("身份证号：") and "文本格式" in reason


def test_households_persons_and_organisations_are_imported_by_their_references(db: Any, world: Any) -> None:
    _building(db, world, code="JL-5", who="wangge_a")
    pid, uscc = id_number(), credit_code()
    households = _import(db, world, "wangge_a", RegisterKind.households, [
        ["楼栋编码", "楼栋地址", "楼栋名称", "单元", "室号*", "用途"],
        ["JL-5", None, None, "1单元", "301", "出租"],
        [None, "金陵路JL-5号", "1幢", "1单元", "302", None],
        [None, "金陵路JL-5号", None, None, "303", None]])
    persons = _import(db, world, "wangge_a", RegisterKind.persons, [
        [*PERSON_HEADER, "单元"],
        ["王芳", pid, "13900001111", "JL-5", "301", None, "独居老人、低保", "户主", "流动", "1单元"]])
    organisations = _import(db, world, "wangge_a", RegisterKind.organisations, [
        ["名称", "统一社会信用代码", "类型", "地址", "网格", "楼栋编码", "联系电话", "从业人数"],
        ["金陵五金店", uscc, "个体工商户", "金陵路5号", GA, "JL-5", "13700002222", 3]])
    assert (households["created_rows"], _rejected(households)) == (
        2, {4: "请填写楼栋编码，或同时填写楼栋地址和楼栋名称"})
    assert (persons["created_rows"], organisations["created_rows"]) == (1, 1), (persons, organisations)
    person = db.scalar(select(Person))
    home = db.get(Household, person.household_id)
    assert (home.room, home.use.value, person.resident_type.value, person.relation) == (
        "301", "rented", "floating", "head")
    assert person.care_tags == ["elderly_alone", "subsistence"]
    assert registry.person_view(person)["phone"] == "139****1111"
    org = db.scalar(select(Organisation))
    assert (org.credit_code, org.org_type.value, org.employees, org.path) == (
        uscc, "individual_business", 3, world.units["ga"].path)


# -- re-imports update, never duplicate ---------------------------------------------------------------------------

def test_re_importing_a_person_with_the_same_id_number_updates_instead_of_duplicating(db: Any, world: Any) -> None:
    pid = id_number()
    first = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["王芳", pid, "13812345678", None, None, GA, "独居老人", None, "户籍人口"]])
    again = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["王芳芳", pid.lower(), None, None, None, GA, None, None, None]])
    assert (first["created_rows"], again["created_rows"], again["updated_rows"], again["rejected_rows"]) == \
        (1, 0, 1, 0)
    by_community = _import(db, world, "shequ1", RegisterKind.persons, [  # another unit's upload: another source
        PERSON_HEADER, ["王芳华", pid, None, None, None, GA, None, None, None]])
    assert by_community["rejected_rows"] == 0
    people = list(db.scalars(select(Person)))
    assert len(people) == 1
    assert people[0].name == "王芳华"
    # empty cells keep what was stored
    assert registry.person_view(people[0])["phone"] == "138****5678" and people[0].care_tags == ["elderly_alone"]
    updates = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "person.update")
                              .order_by(AuditEvent.seq)))
    assert [e.actor_name for e in updates] == ["wangge_a", "shequ1"]


def test_re_importing_buildings_households_and_organisations_updates_them(db: Any, world: Any) -> None:
    uscc = credit_code()
    rows = {
        RegisterKind.buildings: [["网格", "楼栋名称", "地址", "楼栋编码", "层数"], [GA, "1幢", "金陵路1号", "B-1", 6]],
        RegisterKind.households: [["楼栋编码", "室号", "面积（平方米）"], ["B-1", "101", 80]],
        RegisterKind.organisations: [["名称", "统一社会信用代码", "地址", "网格", "从业人数"],
                                     ["金陵超市", uscc, "金陵路1号", GA, 5]],
    }
    for kind, table in rows.items():
        assert _import(db, world, "wangge_a", kind, table)["created_rows"] == 1, kind
    rows[RegisterKind.buildings][1][4] = 7
    rows[RegisterKind.households][1][2] = 95.5
    rows[RegisterKind.organisations][1][4] = 9
    for kind, table in rows.items():
        batch = _import(db, world, "wangge_a", kind, table)
        assert (batch["created_rows"], batch["updated_rows"]) == (0, 1), kind
    assert [b.floors for b in db.scalars(select(Building))] == [7]
    assert [h.area_m2 for h in db.scalars(select(Household))] == [95.5]
    assert [o.employees for o in db.scalars(select(Organisation))] == [9]


def test_uploading_the_same_file_again_counts_its_rows_unchanged_and_writes_nothing(db: Any, world: Any) -> None:
    table = [PERSON_HEADER, ["王芳", id_number(), "13812345678", None, None, GA, None, None, None],
             ["李强", id_number(), None, None, None, GA, None, None, None],
             ["坏行", "123", None, None, None, GA, None, None, None]]
    first = _import(db, world, "wangge_a", RegisterKind.persons, table)
    assert _counts(first) == (3, 2, 0, 1)
    events, persons = _count(db, AuditEvent), list(db.scalars(select(Person)))
    versions = {p.id: p.version for p in persons}
    again = _import(db, world, "wangge_a", RegisterKind.persons, table)
    assert (again["total_rows"], again["created_rows"], again["updated_rows"], again["unchanged_rows"],
            again["rejected_rows"]) == (3, 0, 0, 2, 1)
    assert {p.id: p.version for p in db.scalars(select(Person))} == versions
    assert _count(db, AuditEvent) == events + 1  # the import's own entry, nothing else
    assert _count(db, AuditEvent, AuditEvent.action.in_(("person.create", "person.update"))) == 0
    # the still-wrong row waits once in quarantine, now under the second upload
    assert _count(db, QuarantineRow) == 1 and list(_rejected(again)) == [4]


def test_the_same_key_twice_in_one_file_rejects_the_later_row(db: Any, world: Any) -> None:
    pid = id_number()
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER,
        ["王芳", pid, None, None, None, GA, None, None, None],
        ["王芳", pid, None, None, None, GA, None, None, None]])
    assert (batch["created_rows"], _rejected(batch)) == (1, {3: "与文件中前面一行的记录键重复"})


# -- jurisdiction -------------------------------------------------------------------------------------------------

def test_rows_outside_the_jurisdiction_are_rejected_with_the_reason(db: Any, world: Any) -> None:
    _building(db, world, grid="gb", code="GB-1")
    foreign = id_number()
    _person(db, world, "gb", "李强", foreign)
    people = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER,
        ["赵六", id_number(), None, None, None, GB, None, None, None],
        ["钱七", id_number(), None, "GB-1", "101", None, None, None, None],
        ["李强", foreign, None, None, None, GA, None, None, None]])
    assert _rejected(people) == {
        2: "引用的单位、楼栋或房屋不在您的管辖范围内",
        3: "引用的单位、楼栋或房屋不在您的管辖范围内",
        4: "该身份证号码已由其他辖区登记，不在您的管辖范围内，不能导入",
    }
    assert [p.name for p in db.scalars(select(Person))] == ["李强"]
    households = _import(db, world, "wangge_a", RegisterKind.households, [["楼栋编码", "室号"], ["GB-1", "101"]])
    buildings = _import(db, world, "wangge_a", RegisterKind.buildings, [
        ["网格", "楼栋名称", "地址", "楼栋编码"], [GA, "9幢", "金陵路9号", "GB-1"]])
    assert households["rejected_rows"] == buildings["rejected_rows"] == 1
    assert "不在您的管辖范围内" in _rejected(buildings)[2]
    assert _count(db, Household) == 0 and _count(db, Building) == 1
    assert db.scalar(select(Building)).name == "1幢"


def test_a_grid_worker_imports_into_their_grid_without_hub_permissions_and_is_refused_outside_it(
    db: Any, world: Any
) -> None:
    p = principal(db, world, "wangge_a")
    assert not p.can(imports.Perm.hub_import) and not p.can(imports.Perm.hub_read)
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["王芳", id_number(), None, None, None, GA, None, None, None],
        ["赵六", id_number(), None, None, None, GC, None, None, None]])
    assert (batch["created_rows"], list(_rejected(batch))) == (1, [3])
    assert db.scalar(select(Person)).path == world.units["ga"].path
    src = db.get(Source, batch["source_id"])
    assert (src.name, src.title, src.path, src.trust) == (
        f"register-persons-{GA}", "人员登记表Excel导入（金陵社区第1网格）", world.units["ga"].path, ri.REGISTER_TRUST)
    # the narrow path opens this built-in source only: the hub itself stays closed to the grid worker
    with pytest.raises(Forbidden):
        imports.list_imports(db, principal=p)
    other = Source(name="minzheng-list", title="民政名单", target=src.target, security_level=src.security_level,
                   unit_id=world.units["ga"].id, path=world.units["ga"].path, created_by="admin")
    db.add(other)
    db.flush()
    with pytest.raises(NotFound):
        imports.register_uploader(p, other)
    foreign = db.get(Source, _import(db, world, "wangge_b", RegisterKind.persons, [
        PERSON_HEADER, ["钱七", id_number(), None, None, None, GB, None, None, None]])["source_id"])
    with pytest.raises(NotFound):
        imports.register_uploader(p, foreign)
    with pytest.raises(Forbidden):
        ri.import_register_workbook(db, principal=principal(db, world, "lingdao"), kind=RegisterKind.persons,
                                    data=xlsx([PERSON_HEADER]), filename="x.xlsx")


def test_the_upload_is_an_import_of_the_units_source_in_the_hub(db: Any, world: Any) -> None:
    first = _import(db, world, "wangge_a", RegisterKind.buildings, [
        ["网格", "楼栋名称", "地址", "楼栋编码"], [GA, "1幢", "金陵路1号", "H-1"], [GA, "", "金陵路2号", None]])
    second = _import(db, world, "wangge_a", RegisterKind.buildings, [
        ["网格", "楼栋名称", "地址", "楼栋编码"], [GA, "2幢", "金陵路2号", "H-2"]])
    assert first["source_id"] == second["source_id"]  # found again, not created twice
    assert _count(db, Source) == 1
    hub = principal(db, world, "shequ1")  # the community's staff see the grid's import and its quarantine
    listed, total = imports.list_imports(db, principal=hub)
    assert total == 2 and {i.id for i in listed} == {first["id"], second["id"]}
    rows, n = quarantine.list_rows(db, principal=hub, import_id=first["id"])
    assert n == 1 and rows[0].row_number + ri.HEADER_ROWS == 3
    # fixed in the hub, it is imported through the register like any other quarantined row
    fixed = quarantine.fix_row(db, principal=hub, row_id=rows[0].id, cells={"楼栋名称": "3幢"})
    assert fixed.status == QuarantineStatus.fixed
    assert sorted(b.name for b in db.scalars(select(Building))) == ["1幢", "2幢", "3幢"]
    with pytest.raises(Forbidden):  # staff of another street see nothing of it
        imports.get_import(db, principal=principal(db, world, "wangge_b"), import_id=first["id"])
    with pytest.raises(NotFound):
        imports.get_import(db, principal=principal(db, world, "jiedao2"), import_id=first["id"])


# -- whole-file refusals ------------------------------------------------------------------------------------------

def test_files_that_are_too_large_too_long_not_xlsx_or_without_the_required_columns_are_refused(
    db: Any, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = principal(db, world, "wangge_a")

    def refused(data: bytes, kind: RegisterKind = RegisterKind.persons) -> ValidationFailed:
        with pytest.raises(ValidationFailed) as info:
            ri.import_register_workbook(db, principal=p, kind=kind, data=data, filename="x.xlsx")
        return info.value

    assert refused(b"x" * (excel.MAX_IMPORT_BYTES + 1)).code == "import_too_large"
    assert refused("姓名,身份证号\n张三,1".encode()).code == "import_not_xlsx"
    assert refused(b"").code == "import_empty"
    missing = refused(xlsx([["姓名", "手机号"], ["张三", "13800000000"]]))
    assert (missing.code, missing.message) == ("import_bad_header", "缺少必需的列：身份证号，请使用导入模板")
    assert refused(xlsx([["随便", "什么"], [1, 2]])).code == "import_bad_header"
    monkeypatch.setattr(excel, "MAX_IMPORT_ROWS", 3)
    too_many = refused(xlsx([["网格", "楼栋名称", "地址"]] + [[GA, f"{i}幢", "金陵路"] for i in range(4)]),
                       RegisterKind.buildings)
    assert (too_many.code, too_many.message) == ("import_too_many_rows", "文件的数据超过 3 行上限，请拆分后分批导入")
    assert _count(db, Import) == 0 and _count(db, Source) == 0 and _count(db, Building) == 0


# -- batches ---------------------------------------------------------------------------------------------------------

def test_an_upload_and_its_rejected_rows_are_the_uploaders_on_the_register_pages(db: Any, world: Any) -> None:
    """On the register's pages an upload is its uploader's alone; in the hub, its quarantined rows are visible (masked)
    to the staff of the jurisdiction with hub:read, as every import's are."""
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["张三", "123", "13812345678", None, None, GA, None, None, None]])
    for who in ("shequ1", "admin", "wangge_b"):
        with pytest.raises(NotFound):
            ri.get_register_import(db, principal=principal(db, world, who), import_id=batch["id"])
        with pytest.raises(NotFound):
            ri.quarantined_workbook(db, principal=principal(db, world, who), import_id=batch["id"])
    assert [i.id for i in ri.list_register_imports(db, principal=principal(db, world, "wangge_a"))] == [batch["id"]]
    assert ri.list_register_imports(db, principal=principal(db, world, "shequ1")) == []
    rows, n = quarantine.list_rows(db, principal=principal(db, world, "shequ1"), import_id=batch["id"])
    assert n == 1 and quarantine.row_view(db, rows[0])["cells"]["手机号"] == "138****5678"  # masked in the hub


def test_the_rejected_rows_download_can_be_fixed_and_imported_again(db: Any, world: Any) -> None:
    p = principal(db, world, "wangge_a")
    good = id_number()
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["张三", good[:17] + ("1" if good[-1] != "1" else "2"), None, None, None, GA, None, None,
                        None]])
    rows = read(ri.quarantined_workbook(db, principal=p, import_id=batch["id"]))
    assert rows[0][-2:] == ["原行号", "错误原因"]
    assert rows[1][-2:] == [2, "身份证号：身份证号码校验位错误"]
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "registry.import_rejected_download")).after == \
        {"rows": 1}
    rows[1][1] = good
    again = ri.import_register_workbook(db, principal=p, kind=RegisterKind.persons, data=xlsx(rows),
                                        filename="改.xlsx")
    assert (again.rows_imported, again.rows_quarantined) == (1, 0)
    assert db.scalar(select(Person)).name == "张三"


def test_a_re_upload_that_fixes_a_row_closes_its_quarantine_row_when_the_key_is_the_same(db: Any,
                                                                                         world: Any) -> None:
    """A row is recognised by its key (the ID number, the credit code, the building's address and name …): a fix of
    another cell closes the waiting quarantine row; a fix of the key itself (a mistyped ID number) is a new record,
    and the old row waits in the hub's quarantine until staff discard it there."""
    p = principal(db, world, "wangge_a")
    batch = _import(db, world, "wangge_a", RegisterKind.persons, [
        PERSON_HEADER, ["张三", id_number(), "1381234", None, None, GA, None, None, None]])
    assert _rejected(batch) == {2: "手机号：手机号码应为11位数字"} or list(_rejected(batch)) == [2]
    rows = read(ri.quarantined_workbook(db, principal=p, import_id=batch["id"]))
    rows[1][2] = "13812345678"
    again = ri.import_register_workbook(db, principal=p, kind=RegisterKind.persons, data=xlsx(rows),
                                        filename="改.xlsx")
    assert (again.rows_imported, again.rows_quarantined) == (1, 0)
    assert db.scalar(select(QuarantineRow)).status == QuarantineStatus.fixed
    assert read(ri.quarantined_workbook(db, principal=p, import_id=batch["id"]))[1:] == []
    assert ri.register_import_view(db, imp=db.get(Import, batch["id"]))["rejected"][0]["status"] == "fixed"


# -- export ----------------------------------------------------------------------------------------------------------

def test_an_export_is_scoped_masked_and_audited_with_its_filters_and_row_count(db: Any, world: Any) -> None:
    for grid, name in (("ga", "王芳"), ("gb", "李强")):
        _person(db, world, grid, name, id_number(), "13812345678")
    content, n = excel.export_workbook(db, principal=principal(db, world, "wangge_a"), kind=RegisterKind.persons,
                                       filters={"name": "王"})
    rows = read(content)
    assert n == 1 and rows[1][:3] == [GA, "金陵社区第1网格", "王芳"]
    header = rows[0]
    assert rows[1][header.index("手机号（脱敏）")] == "138****5678"
    assert rows[1][header.index("身份证号（脱敏）")].count("*") == 10
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "registry.export"))
    assert (event.actor_name, event.object_type, event.after) == ("wangge_a", "persons",
                                                                  {"filters": {"name": "王"}, "rows": 1})


def test_an_export_over_the_row_cap_is_refused_with_a_clear_message(db: Any, world: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _building(db, world, code="A")
    _building(db, world, code="B")
    monkeypatch.setattr(excel, "MAX_EXPORT_ROWS", 1)
    with pytest.raises(ValidationFailed) as info:
        excel.export_workbook(db, principal=principal(db, world, "admin"), kind=RegisterKind.buildings, filters={})
    assert info.value.code == "export_too_large"
    assert info.value.message.startswith("符合条件的楼栋共 2 条，超过单次导出上限 1 条")
    assert _count(db, AuditEvent, AuditEvent.action == "registry.export") == 0


def test_an_export_refuses_filters_of_another_register(db: Any, world: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        excel.export_workbook(db, principal=principal(db, world, "admin"), kind=RegisterKind.buildings,
                              filters={"id_number": "330522198506150013"})
    assert info.value.code == "bad_export_filter"


def test_rejected_row_cells_round_trip_as_json(db: Any, world: Any) -> None:
    batch = _import(db, world, "wangge_a", RegisterKind.buildings, [
        ["网格", "楼栋名称", "地址", "层数", "经度"], [GA, "1幢", "", 6.0, 119.5]])
    cells = batch["rejected"][0]["cells"]
    assert json.loads(json.dumps(cells))[:3] == [GA, "1幢", None]
    assert cells[6] == 6 and cells[7] == 119.5  # whole numbers as typed, not 6.0
