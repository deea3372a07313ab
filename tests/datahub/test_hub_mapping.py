"""Mapping templates, the spec and the compiled mapper (``zhili.datahub.mapping``): value maps, date formats,
concatenation and splitting, constants, attributes, the natural key, spec validation in Chinese, and the shipped
311 and citizen-message templates on the real files."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shareddata import SHARED_DATA
from zhili.core.crypto import get_cipher
from zhili.core.errors import ValidationFailed
from zhili.datahub.mapping import (
    TemplateSpec,
    check_columns,
    compile_template,
    describe_spec,
    parse_spec,
)
from zhili.datahub.templates import builtin_documents

DATA = SHARED_DATA
GENDER = {"男": "male", "女": "female", "1": "male", "2": "female", "M": "male", "F": "female"}
SH = dt.timezone(dt.timedelta(hours=8))


def case_spec(**fields: dict[str, Any]) -> dict[str, Any]:
    """A cases spec with the three required fields mapped plus ``fields``."""
    base: dict[str, dict[str, Any]] = {
        "external_id": {"column": "编号"}, "description": {"column": "内容"}, "reported_at": {"column": "时间"}}
    base.update(fields)
    return {"target": "cases", "fields": [{"field": k, **v} for k, v in base.items()]}


def row(**cells: Any) -> dict[str, Any]:
    return {"编号": "A1", "内容": "路灯不亮", "时间": "2019/2/28 11:25:05", **cells}


def test_gender_value_map_reads_all_six_spellings_case_insensitively() -> None:
    """男/女/1/2/M/F all map onto male/female; ``m``/``f`` in lower case too."""
    m = compile_template({"target": "persons", "fields": [
        {"field": "id_number", "column": "身份证"},
        {"field": "gender", "column": "性别", "value_map": GENDER, "value_map_default": "error"}]})
    got = [m.map({"身份证": "x", "性别": v}).values["gender"] for v in ("男", "女", "1", "2", "M", "F", "m", "f")]
    assert got == ["male", "female"] * 4


def test_unmapped_value_keeps_nulls_or_fails_as_the_template_says() -> None:
    """``value_map_default``: keep the raw value, make it empty, or a ``value_not_mapped`` error that does not
    repeat the value."""
    for default, expect in (("keep", "未知"), ("null", None)):
        m = compile_template({"target": "persons", "fields": [
            {"field": "id_number", "column": "身份证"},
            {"field": "gender", "column": "性别", "value_map": GENDER, "value_map_default": default}]})
        assert m.map({"身份证": "x", "性别": "未知"}).values["gender"] == expect
    m = compile_template({"target": "persons", "fields": [
        {"field": "id_number", "column": "身份证"},
        {"field": "gender", "column": "性别", "value_map": GENDER, "value_map_default": "error"}]})
    out = m.map({"身份证": "x", "性别": "未知"})
    assert [(e.field, e.rule) for e in out.errors] == [("gender", "value_not_mapped")]
    assert "未知" not in out.errors[0].message and "性别" in out.errors[0].message


def test_yes_no_becomes_a_bool_for_bool_fields() -> None:
    """是/否 (and true/false, 1/0, Y/N) convert to booleans by the field's kind; other text is an error."""
    spec = case_spec(**{"attributes.urgent": {"column": "紧急", "kind": "bool"}})
    m = compile_template(spec)
    assert [m.map(row(紧急=v)).values["attributes.urgent"] for v in ("是", "否", "TRUE", "0", "Y")] == \
        [True, False, True, False, True]
    assert m.map(row(紧急="也许")).errors[0].rule == "not_a_bool"


@pytest.mark.parametrize(("formats", "cell", "expect"), [
    (["%Y/%m/%d %H:%M:%S"], "2019/2/28 11:25:05", dt.datetime(2019, 2, 28, 11, 25, 5)),
    (["%Y-%m-%d %H:%M:%S"], "2017-06-08 17:31:20", dt.datetime(2017, 6, 8, 17, 31, 20)),
    (["%m/%d/%Y %I:%M:%S %p"], "03/01/2011 02:27:57 PM", dt.datetime(2011, 3, 1, 14, 27, 57)),
    (["%m/%d/%Y %I:%M:%S %p"], "03/01/2011 12:05:00 AM", dt.datetime(2011, 3, 1, 0, 5, 0)),
    (["%Y%m%d"], "20190228", dt.datetime(2019, 2, 28)),
    (["excel_serial"], 43524.5, dt.datetime(2019, 2, 28, 12, 0, 0)),
    (["excel_serial"], "43524.25", dt.datetime(2019, 2, 28, 6, 0, 0)),
    (["excel_serial"], 43524, dt.datetime(2019, 2, 28)),
    (["%Y-%m-%d %H:%M:%S"], dt.datetime(2020, 5, 1, 8, 0), dt.datetime(2020, 5, 1, 8, 0)),  # an xlsx cell
    (["%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"], "2017-06-08 17:31:20", dt.datetime(2017, 6, 8, 17, 31, 20)),
])
def test_each_date_format_reads_its_cells_as_local_times(formats: list[str], cell: Any, expect: dt.datetime) -> None:
    """Every pattern (non-padded months, AM/PM, compact dates, Excel serials with fractional days, datetime
    cells passed through) gives the wall-clock time in the district's zone."""
    m = compile_template(case_spec(reported_at={"column": "时间", "date_formats": formats}))
    out = m.map(row(时间=cell))
    assert out.errors == []
    assert out.values["reported_at"] == expect.replace(tzinfo=SH)


def test_a_date_that_no_format_reads_is_an_error_naming_the_column_and_formats_not_the_value() -> None:
    m = compile_template(case_spec(reported_at={"column": "留言时间", "date_formats": ["%Y/%m/%d %H:%M:%S"]}))
    out = m.map({"编号": "1", "内容": "x", "留言时间": "明天上午"})
    assert [(e.field, e.rule) for e in out.errors] == [("reported_at", "bad_date")]
    assert out.errors[0].message == "时间“留言时间”无法识别（支持的格式：2019/02/28 11:25:05）"
    assert out.values["reported_at"] is None


def test_date_fields_become_dates_and_the_template_timezone_applies_to_naive_times() -> None:
    m = compile_template({"target": "persons", "fields": [
        {"field": "id_number", "column": "身份证"},
        {"field": "birth_date", "column": "出生", "date_formats": ["%Y年%m月%d日", "excel_serial"]}]})
    assert m.map({"身份证": "x", "出生": "1985年6月15日"}).values["birth_date"] == dt.date(1985, 6, 15)
    assert m.map({"身份证": "x", "出生": 31213}).values["birth_date"] == dt.date(1985, 6, 15)
    ny = compile_template({**case_spec(), "timezone": "America/New_York"})
    at = ny.map(row()).values["reported_at"]
    assert at.utcoffset() == dt.timedelta(hours=-5)


def test_columns_concatenate_skipping_empties_and_split_takes_one_part() -> None:
    m = compile_template(case_spec(
        description={"columns": ["主题", "详情", "补充"], "join": "\n"},
        address={"column": "楼室", "split": {"sep": "-", "index": 0}},
        department={"column": "楼室", "split": {"sep": "-", "index": -1}},
        status={"column": "楼室", "split": {"sep": "-", "index": 5}}))
    out = m.map({"编号": "1", "时间": "2019/2/28 11:25:05", "主题": "路灯", "详情": "", "补充": "三天不亮",
                 "楼室": "3-2-301"})
    assert out.values["description"] == "路灯\n三天不亮"
    assert (out.values["address"], out.values["department"], out.values["status"]) == ("3", "301", None)


def test_coalesce_takes_the_first_non_empty_column() -> None:
    m = compile_template(case_spec(address={"columns": ["门牌", "路名"], "coalesce": True}))
    assert m.map(row(门牌="", 路名="明珠路")).values["address"] == "明珠路"
    assert m.map(row(门牌="明珠路8号", 路名="明珠路")).values["address"] == "明珠路8号"


def test_constants_defaults_and_required_overrides() -> None:
    m = compile_template(case_spec(department={"constant": "12345热线"}, status={"column": "状态", "default": "已办结"},
                                   title={"column": "标题", "required": True}))
    out = m.map(row(状态="  ", 标题=""))
    assert out.values["department"] == "12345热线" and out.values["status"] == "已办结"
    assert [(e.field, e.rule, e.message) for e in out.errors] == [("title", "required", "“标题”不能为空")]


def test_attributes_keep_extras_with_their_kind_and_absent_columns_map_to_nothing() -> None:
    m = compile_template(case_spec(**{"attributes.likes": {"column": "点赞数", "kind": "int"},
                                      "attributes.user": {"column": "留言用户"}}))
    out = m.map(row(点赞数="12", 留言用户="A0001"))
    assert out.values["attributes.likes"] == 12 and out.values["attributes.user"] == "A0001"
    out = m.map(row())
    assert out.errors == [] and out.values["attributes.likes"] is None
    assert m.map(row(点赞数="十二")).errors[0].rule == "not_a_number"


def test_numbers_and_full_width_digits_are_normalised() -> None:
    """Numbers, ID and phone numbers are NFKC-normalised (全角 → 半角) and trimmed; text is only trimmed."""
    m = compile_template({"target": "persons", "fields": [
        {"field": "id_number", "column": "身份证"}, {"field": "phone", "column": "电话"},
        {"field": "name", "column": "姓名"}]})
    out = m.map({"身份证": " ３３０５２２１９８５０６１５００１３ ", "电话": "１３８００００００００",
                 "姓名": " 张三 "})
    assert out.values == {"id_number": "330522198506150013", "phone": "13800000000", "name": "张三"}
    # a key of personal numbers is kept only as its blind index (natural keys live in plain columns)
    assert out.natural_key == "pk:" + get_cipher().blind_index("330522198506150013", purpose="hub.natural_key")
    org = compile_template({"target": "organisations", "fields": [
        {"field": "name", "column": "名称"}, {"field": "address", "column": "地址"},
        {"field": "employees", "column": "人数"}, {"field": "lon", "column": "经度"}]})
    got = org.map({"名称": "店", "地址": "路", "人数": "３", "经度": "119.9"}).values
    assert (got["employees"], got["lon"]) == (3, 119.9)


def test_choice_fields_read_their_chinese_labels_without_a_value_map() -> None:
    m = compile_template({"target": "buildings", "fields": [
        {"field": "address", "column": "地址"}, {"field": "building_type", "column": "类型"}]})
    assert m.map({"地址": "金陵路8号", "类型": "住宅"}).values["building_type"] == "residential"


def test_natural_key_joins_key_fields_and_is_none_when_one_is_empty() -> None:
    spec = {"target": "households", "key": ["building_address", "entrance", "room"], "key_optional": ["entrance"],
            "fields": [{"field": "building_address", "column": "楼栋"}, {"field": "entrance", "column": "单元"},
                       {"field": "room", "column": "室"}]}
    m = compile_template(spec)
    assert m.map({"楼栋": "金陵路8号3幢", "单元": "2单元", "室": "301"}).natural_key == "金陵路8号3幢\x1f2单元\x1f301"
    assert m.map({"楼栋": "金陵路8号3幢", "单元": "", "室": "301"}).natural_key == "金陵路8号3幢\x1f\x1f301"
    assert m.map({"楼栋": "", "单元": "2单元", "室": "301"}).natural_key is None
    long_key = m.map({"楼栋": "路" * 200, "室": "301"}).natural_key
    assert long_key is not None and long_key.startswith("sha256:") and len(long_key) <= 128


def test_skip_if_leaves_out_footer_rows_and_the_unchanged_example_row() -> None:
    spec = {**case_spec(), "skip_if": [{"column": "编号", "equals": "合计"},
                                       {"row": {"编号": "示例", "内容": "示例内容"}}]}
    m = compile_template(spec)
    assert m.skips(row(编号="合计"))
    assert m.skips(row(编号="示例", 内容="示例内容"))
    assert not m.skips(row(编号="示例", 内容="真实内容"))
    assert not m.skips(row())


def test_bind_reads_headers_with_required_marks_and_check_columns_lists_missing_ones() -> None:
    doc = next(d for d in builtin_documents() if d["name"] == "register-persons")
    m = compile_template(doc["spec"]).bind(["姓名*", "身份证号*", "手机号"])
    out = m.map({"姓名*": "张三", "身份证号*": "330522198506150013", "手机号": "13800000001"})
    assert out.values["name"] == "张三" and out.natural_key is not None
    assert out.natural_key.startswith("pk:") and "330522" not in out.natural_key
    spec = parse_spec({**case_spec(), "source_columns": ["编号", "内容", "时间"]})
    check_columns(spec, ["\ufeff编号", "内容", "时间 "])
    with pytest.raises(ValidationFailed) as exc:
        check_columns(spec, ["编号"])
    assert exc.value.message == "文件缺少模板要求的列：“内容”、“时间”"
    assert exc.value.code == "hub_template_columns_missing"


@pytest.mark.parametrize(("change", "expect"), [
    ({"fields": [{"field": "nonsense", "column": "x"}]}, "“nonsense”不是该标准模型的字段"),
    ({"fields": [{"field": "title", "column": "x", "constant": "y"}]}, "column、columns、constant 须且只能填写一项"),
    ({"fields": [{"field": "reported_at", "column": "x", "date_formats": ["%Q"]}]}, "日期格式“%Q”无效"),
    ({"fields": [{"field": "title", "column": "x", "date_formats": ["%Y"]}]}, "不是日期或时间"),
    ({"fields": [{"field": "title", "column": "x", "colour": "red"}]}, "第4个字段映射 › colour：不认识的设置项"),
    ({"timezone": "Mars/Olympus"}, "时区“Mars/Olympus”无效"),
    ({"key": ["title"]}, "主键字段“title”没有映射"),
    ({"target": "ships"}, "target：标准模型应为"),
])
def test_spec_validation_names_the_field_in_chinese(change: dict[str, Any], expect: str) -> None:
    spec = case_spec()
    if "fields" in change:
        spec["fields"] = spec["fields"] + change.pop("fields")
    spec.update(change)
    with pytest.raises(ValidationFailed) as exc:
        parse_spec(spec)
    assert exc.value.code == "hub_template_invalid"
    assert expect in exc.value.message


def test_spec_json_round_trip_is_exact() -> None:
    """``as_json`` → ``model_validate`` gives an equal spec and the same JSON, for every shipped template."""
    for doc in builtin_documents():
        spec = parse_spec(doc["spec"])
        again = TemplateSpec.model_validate(spec.as_json())
        assert again == spec and again.as_json() == spec.as_json() == doc["spec"]


def test_describe_spec_gives_readable_rows_with_chinese_labels() -> None:
    doc = next(d for d in builtin_documents() if d["name"] == "nyc311")
    rows = {r["field"]: r for r in describe_spec(parse_spec(doc["spec"]))}
    assert rows["reported_at"]["label"] == "上报时间" and rows["reported_at"]["origin"] == "列“Created Date”"
    assert rows["reported_at"]["date_formats"] == ["02/28/2019 11:25:05 AM", "02/28/2019 11:25:05",
                                                   "02/28/2019 11:25"]
    assert ("Street Condition", "SJ-0151") in rows["category_code"]["value_map"]
    assert rows["external_id"]["key"] and rows["attributes.borough"]["label"] == "扩展属性：borough"


def _run_file(name: str, path: Path) -> tuple[int, Counter[tuple[str | None, str]], Any]:
    doc = next(d for d in builtin_documents() if d["name"] == name)
    mapper = compile_template(doc["spec"])
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        check_columns(mapper.spec, header)
        mapper = mapper.bind(header)
        errors: Counter[tuple[str | None, str]] = Counter()
        n = 0
        last = None
        for cells in reader:
            last = mapper.map(dict(zip(header, cells, strict=False)))
            n += 1
            assert last.natural_key
            errors.update((e.field, e.rule) for e in last.errors)
    return n, errors, last


@pytest.mark.parametrize("filename", ["unlabelled_messages_2801.csv", "messages_with_replies_2816.csv",
                                      "labelled_dev_249.csv"])
def test_cn_gov_messages_template_maps_every_row_of_the_real_files(filename: str) -> None:
    path = DATA / "cn_gov_messages" / filename
    if not path.exists():
        pytest.skip("shared citizen-message files absent")
    n, errors, _ = _run_file("cn-gov-messages", path)
    assert n > 200 and not errors


def test_nyc311_template_maps_every_row_and_the_taxonomy_where_it_has_an_equivalent() -> None:
    path = DATA / "us311" / "nyc311_2011_subset_2000.csv"
    if not path.exists():
        pytest.skip("shared NYC 311 file absent")
    n, errors, _ = _run_file("nyc311", path)
    assert n == 2000 and not errors
    doc = next(d for d in builtin_documents() if d["name"] == "nyc311")
    m = compile_template(doc["spec"])
    out = m.map({"Unique Key": "19937901", "Created Date": "03/01/2011 10:41:13 AM",
                 "Closed Date": "03/15/2011 04:14:19 PM", "Complaint Type": "Street Condition",
                 "Descriptor": "Pothole", "Incident Address": "", "Street Name": "25 STREET",
                 "Latitude": "40.66", "Longitude": "-73.99", "Borough": "BROOKLYN"})
    v = out.values
    assert v["category_code"] == "SJ-0151" and v["category_label"] == "Street Condition"
    assert v["title"] == "Street Condition - Pothole" and v["address"] == "25 STREET"
    assert v["reported_at"].astimezone(dt.UTC) == dt.datetime(2011, 3, 1, 15, 41, 13, tzinfo=dt.UTC)
    assert (v["lat"], v["lon"], v["attributes.borough"]) == (40.66, -73.99, "BROOKLYN")
    assert m.map({**{"Unique Key": "1", "Created Date": "03/01/2011 10:41:13 AM"},
                  "Complaint Type": "Taxi Complaint"}).values["category_code"] is None


def test_shipped_category_codes_exist_in_the_platform_taxonomy() -> None:
    import json

    from zhili.cases import taxonomy

    path = Path(taxonomy.__file__).resolve().parents[1] / "fixtures" / "taxonomy.json"
    codes = {c["code"] for c in json.loads(path.read_text(encoding="utf-8"))["categories"]}
    doc = next(d for d in builtin_documents() if d["name"] == "nyc311")
    vmap = next(f for f in doc["spec"]["fields"] if f["field"] == "category_code")["value_map"]
    assert set(vmap.values()) <= codes
