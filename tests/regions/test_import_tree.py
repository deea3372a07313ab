"""Loading a district's region tree from a file (``zhili regions import``): an empty installation gets its tree and
then its first administrator; parents go before children whatever the order; a second run changes nothing; each bad
row is refused with its line and a Chinese reason while the rest is imported; the tree's top is the command line's
alone, once; under a principal the jurisdiction holds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from filedb import process_engine_on_file
from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.security import Role
from zhili.regions import importer, service
from zhili.regions.importer import UnitRow, import_units, read_csv, read_geojson
from zhili.regions.models import OPEN_END, Unit, UnitBoundary
from zhili.users.service import create_user, principal_for_user


def square(x0: float, y0: float, size: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size],
                                                 [x0, y0 + size], [x0, y0]]]}


def feature(code: str, name: str, level: str, parent: str | None, geom: dict[str, Any] | None) -> dict[str, Any]:
    props = {"code": code, "name": name, "level": level}
    if parent:
        props["parent_code"] = parent
    return {"type": "Feature", "properties": props, "geometry": geom}


# children before parents on purpose: the import orders them
TREE = [
    feature("330522001001001", "金陵社区第1网格", "网格", "330522001001", square(119.0, 31.0, 0.25)),
    feature("330522001001", "金陵社区", "社区", "330522001", square(119.0, 31.0, 0.5)),
    feature("330522002001", "画溪村", "村", "330522002", square(119.5, 31.0, 0.5)),
    feature("330522001", "雉城街道", "街道", "330522", square(119.0, 31.0, 0.5)),
    feature("330522002", "画溪街道", "乡镇", "330522", square(119.5, 31.0, 0.5)),
    feature("330522", "长兴县", "区县", None, square(119.0, 31.0, 1.0)),
    feature("330522002001001", "画溪村第1网格", "grid", "330522002001", None),
]


def rows_of(features: list[dict[str, Any]]) -> list[UnitRow]:
    return read_geojson(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))


def current(db: Session, code: str) -> Unit:
    unit = db.scalar(select(Unit).where(Unit.code == code, Unit.valid_to == OPEN_END))
    assert unit is not None, code
    return unit


def test_an_empty_installation_gets_its_tree_and_then_its_first_administrator(db: Session) -> None:
    assert db.scalar(select(Unit.id).limit(1)) is None  # nothing: no staff account could be made
    with pytest.raises(ValidationFailed, match="必须绑定至少一个单位"):
        create_user(db, principal=None, username="admin0", display_name="管理员", role=Role.admin,
                    password="Zhili@2026secure", unit_ids=[])
    report = import_units(db, principal=None, rows=rows_of(TREE))
    assert report.refused == [] and sorted(report.created) == sorted(f["properties"]["code"] for f in TREE)
    assert report.boundaries == 6
    grid = current(db, "330522001001001")
    assert grid.path == "330522/330522001/330522001001/330522001001001" and grid.depth == 3
    assert current(db, "330522002").level == "street" and current(db, "330522002001").level == "community"
    # the boundaries place a point: the locator finds the grid
    _, _, found = service.locate(db, lon=119.1, lat=31.1)
    assert found is not None and found.code == "330522001001001"
    admin = create_user(db, principal=None, username="admin0", display_name="管理员", role=Role.admin,
                        password="Zhili@2026secure", unit_ids=[current(db, "330522").id])
    assert principal_for_user(db, user=admin).scope_paths == ("330522",)
    made = db.scalars(select(AuditEvent.after).where(AuditEvent.action == "unit.create")).all()
    assert len(made) == len(TREE) and verify_chain(db).ok


def test_a_second_run_changes_nothing_and_a_different_name_is_refused_not_applied(db: Session) -> None:
    import_units(db, principal=None, rows=rows_of(TREE))
    boundaries = db.scalar(select(Unit.id).where(Unit.code == "330522")) and len(db.scalars(
        select(UnitBoundary.id)).all())
    again = import_units(db, principal=None, rows=rows_of(TREE))
    assert again.created == [] and again.refused == [] and len(again.unchanged) == len(TREE)
    assert len(db.scalars(select(UnitBoundary.id)).all()) == boundaries
    renamed = import_units(db, principal=None, rows=rows_of([feature("330522001", "雉城镇", "街道", "330522", None)]))
    [refusal] = renamed.refused
    assert "已是“雉城街道”" in refusal.reason and "区划管理页面" in refusal.reason
    assert current(db, "330522001").name == "雉城街道"


def test_each_bad_row_is_refused_with_its_reason_and_the_rest_is_imported(db: Session) -> None:
    bad = [
        feature("330522003", "", "街道", "330522", None),  # 2: no name
        feature("330522004", "太湖街道", "片区", "330522", None),  # 3: unknown level
        feature("330599001", "外县街道", "街道", "330522", None),  # 4: code not under its parent's
        feature("330522001009", "跳级网格", "网格", "330522001", None),  # 5: a grid right under a street
        feature("330522005001", "无主社区", "社区", "330522005", None),  # 6: parent nowhere
        feature("330522003001", "孤儿社区", "社区", "330522003", None),  # 7: parent refused (row 2)
        feature("330522001", "重复街道", "街道", "330522", None),  # 8: the same code twice in the file
        feature("330522006", "越界街道", "街道", "330522", square(119.2, 31.0, 0.5)),  # 9: overlaps 雉城
        feature("330522007", "蝴蝶街道", "街道", "330522", {"type": "Polygon", "coordinates": [
            [[119.0, 31.3], [119.1, 31.4], [119.1, 31.3], [119.0, 31.4], [119.0, 31.3]]]}),  # 10: self-crossing
        feature("3305220008", "x" * 101, "街道", "330522", None),  # 11: name too long
    ]
    good = [feature("330522", "长兴县", "区县", None, square(119.0, 31.0, 1.0)),
            feature("330522001", "雉城街道", "街道", "330522", square(119.0, 31.0, 0.5))]
    report = import_units(db, principal=None, rows=rows_of(good + bad))
    reasons = {r.line: r.reason for r in report.refused}
    assert sorted(report.created) == ["330522", "330522001"]
    assert reasons[3] == "缺少名称"
    assert "层级“片区”无法识别" in reasons[4]
    assert "代码应以上级代码 330522 开头" in reasons[5]
    assert "下级应为" in reasons[6]
    assert reasons[7] == "上级代码 330522005 在文件和系统中都不存在"
    assert reasons[8] == "上级单位 330522003 未导入（见其拒收原因）"
    assert reasons[9] == "代码与第 2 行重复"
    assert "重叠" in reasons[10] or "相交" in reasons[10]
    assert reasons[11]  # the geometry's own message, in Chinese
    assert reasons[12].startswith("名称不能超过")
    assert set(reasons) == set(range(3, 13))
    # nothing of a refused row was kept, not even its boundary
    assert db.scalar(select(Unit.id).where(Unit.code.in_(["330522006", "330522007", "330522003"]))) is None
    assert "行号,代码,名称,拒收原因" in report.refused_csv() and "缺少名称" in report.refused_csv()
    assert verify_chain(db).ok  # the savepoints rolled back took their audit entries with them


def test_the_top_is_made_once_and_only_at_the_command_line(db: Session, world: Any) -> None:
    other = rows_of([feature("330523", "安吉县", "区县", None, None)])
    [refusal] = import_units(db, principal=None, rows=other).refused
    assert "系统已有顶级单位“长兴县”" in refusal.reason
    admin = principal_for_user(db, user=world.users["admin"])
    [refusal] = import_units(db, principal=admin, rows=other).refused
    assert "只能由运维人员在命令行导入" in refusal.reason


def test_under_a_principal_the_jurisdiction_and_the_permission_hold(db: Session, world: Any) -> None:
    admin = principal_for_user(db, user=world.users["admin"])
    report = import_units(db, principal=admin, rows=rows_of([
        feature("330522001002", "龙山社区", "社区", "330522001", None)]))
    assert report.created == ["330522001002"]
    assert current(db, "330522001002").path == "330522/330522001/330522001002"
    assert db.scalar(select(AuditEvent.actor_name).where(AuditEvent.action == "unit.create")
                     .order_by(AuditEvent.seq.desc()).limit(1)) == "admin"
    with pytest.raises(Forbidden):
        import_units(db, principal=principal_for_user(db, user=world.users["zhihui"]), rows=[])


def test_a_csv_with_chinese_headers_and_a_bom_reads_and_a_broken_one_is_refused_whole() -> None:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerows([["代码", "名称", "层级", "上级代码", "边界"], ["330522", "长兴县", "区县", "", ""],
                 ["330522001", "雉城街道", "街道", "330522", json.dumps(square(119.0, 31.0, 0.5))]])
    rows = read_csv(out.getvalue())
    assert [(r.line, r.code, r.level, r.parent_code) for r in rows] == [(2, "330522", "区县", ""),
                                                                       (3, "330522001", "街道", "330522")]
    assert rows[1].boundary == square(119.0, 31.0, 0.5)
    with pytest.raises(ValidationFailed, match="CSV 缺少列：层级"):
        read_csv("代码,名称\n330522,长兴县\n")
    with pytest.raises(ValidationFailed, match="要素集合"):
        read_geojson('{"type": "Feature"}')


# -- the command --------------------------------------------------------------------------------------------

@pytest.fixture
def fresh_install(engine: Any, tmp_path: Path) -> Any:
    """The process-wide engine on a fresh, migrated, empty SQLite file (the CLI commits)."""
    with process_engine_on_file(engine, tmp_path / "fresh.db") as eng:
        yield eng


def test_the_command_imports_writes_the_refused_rows_and_a_dry_run_keeps_nothing(fresh_install: Any,
                                                                                  tmp_path: Path) -> None:
    from zhili.cli import app

    path = tmp_path / "长兴县.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        *TREE, feature("330522009", "", "街道", "330522", None)]}, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    dry = runner.invoke(app, ["regions", "import", str(path), "--dry-run"])
    assert dry.exit_code == 2 and "未保存" in dry.output
    with Session(fresh_install) as s:
        assert s.scalar(select(Unit.id).limit(1)) is None
    done = runner.invoke(app, ["regions", "import", str(path)])
    assert done.exit_code == 2, done.output
    assert f"新建 {len(TREE)} 个单位" in done.output and "拒收 1 行" in done.output
    refused = (tmp_path / "长兴县.geojson.refused.csv").read_text(encoding="utf-8")
    assert "330522009" in refused and "缺少名称" in refused
    first_admin = runner.invoke(app, ["user", "create", "--username", "admin0", "--role", "admin", "--unit",
                                      "330522", "--password", "Zhili@2026secure"])
    assert first_admin.exit_code == 0, first_admin.output
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    bad = tmp_path / "tree.txt"
    bad.write_text("x", encoding="utf-8")
    refused_whole = runner.invoke(app, ["regions", "import", str(bad)])
    assert refused_whole.exit_code == 1 and "只支持" in refused_whole.output
    assert importer.CLI_PRINCIPAL_NAME  # the audit's name for the operator
