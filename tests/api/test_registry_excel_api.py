"""The register Excel routes of the API: import a workbook (batch with rejected rows, masked), read the batch back,
export with a register's own filters; files and filters that cannot be used are refused in Chinese."""

from __future__ import annotations

import io
from typing import Any

from apihelpers import Api, bad_checksum, id_number
from openpyxl import Workbook, load_workbook


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(api: Api, who: str, kind: str, content: bytes, name: str = "人员.xlsx") -> Any:
    return api.post(who, f"/registry/{kind}/import", files={"file": (name, content, "application/octet-stream")})


def test_an_import_through_the_api_returns_its_batch_with_the_rejected_rows_masked(api: Api, world: Any) -> None:
    good, bad = id_number(), bad_checksum(id_number())
    r = _upload(api, "wangge_a", "persons", _xlsx([
        ["姓名", "身份证号", "手机号", "网格"],
        ["张三", good, "13812345678", world.units["ga"].code],
        ["李四", bad, "13812345679", world.units["ga"].code]]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["total_rows"], body["created_rows"], body["rejected_rows"]) == ("persons", 2, 1, 1)
    rejected = body["rejected"][0]
    assert rejected["row_number"] == 3 and rejected["reason"] == "身份证号：身份证号码校验位错误"
    assert rejected["cells"][:3] == ["李四", bad[:4] + "*" * 10 + bad[-4:], "138****5679"]
    assert bad not in r.text and "13812345679" not in r.text
    again = api.get("wangge_a", f"/registry/imports/{body['id']}")
    assert again.status_code == 200 and again.json() == body
    listed = api.post("wangge_a", "/registry/persons/search", json={"id_number": good}).json()
    assert listed["total"] == 1 and listed["items"][0]["name"] == "张三"


def test_an_unusable_file_or_filter_is_refused_in_chinese(api: Api) -> None:
    r = _upload(api, "wangge_a", "persons", "姓名,身份证号\n".encode(), "人员.csv")
    assert r.status_code == 422 and r.json()["code"] == "import_not_xlsx" and ".xlsx" in r.json()["message"]
    r = _upload(api, "wangge_a", "organisations", _xlsx([["名称", "行业"], ["五金店", "零售"]]))
    assert r.status_code == 422 and r.json()["message"] == "缺少必需的列：地址，请使用导入模板"
    r = api.get("wangge_a", "/registry/buildings/export", params={"resident_type": "floating"})
    assert r.status_code == 422 and r.json()["code"] == "bad_export_filter"
    assert api.get("wangge_a", "/registry/unknown/export").status_code == 422


def test_an_export_through_the_api_applies_the_registers_own_filters(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    api.building(grid, name="甲幢", building_type="commercial")
    api.building(grid, name="乙幢")
    r = api.get("wangge_a", "/registry/buildings/export", params={"building_type": "commercial"})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [row[2] for row in rows[1:]] == ["甲幢"]
