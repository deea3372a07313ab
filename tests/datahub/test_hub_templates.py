"""The mapping-template service (``zhili.datahub.templates``): versions, JSON export and import, preview, the
shipped templates, permissions and the visibility of source-tied templates; plus its API, CLI and pages."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.datahub import templates
from zhili.datahub.mapping import compile_template
from zhili.datahub.models import MappingTemplate, Target

SPEC: dict[str, Any] = {"target": "cases", "key": ["external_id"], "fields": [
    {"field": "external_id", "column": "编号"},
    {"field": "description", "columns": ["主题", "详情"], "join": "\n"},
    {"field": "reported_at", "column": "时间", "date_formats": ["%Y/%m/%d %H:%M:%S", "excel_serial"]},
    {"field": "category_code", "column": "分类", "value_map": {"路灯": "BJ-0118"}, "value_map_default": "null"},
    {"field": "reporter_phone", "column": "电话"},
    {"field": "attributes.likes", "column": "点赞", "kind": "int"}]}
ROWS = [(1, {"编号": "A1", "主题": "路灯", "详情": "不亮", "时间": "2019/2/28 11:25:05", "分类": "路灯",
             "电话": "13812345678", "点赞": "3"}),
        (2, {"编号": "A2", "主题": "噪声", "详情": "", "时间": "明天", "分类": "其他", "电话": "", "点赞": "x"}),
        (3, {"编号": "", "主题": "", "详情": "", "时间": 43524.5, "分类": "", "电话": "", "点赞": ""})]


def principal(db: Session, world: Any, who: str) -> Any:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_saving_twice_makes_v2_current_and_keeps_v1_readable(db: Session, world: Any) -> None:
    p = principal(db, world, "zhihui")
    v1 = templates.save_template(db, principal=p, name="hotline", title="热线工单", spec=SPEC)
    changed = json.loads(json.dumps(SPEC))
    changed["fields"][0]["column"] = "工单编号"
    v2 = templates.save_template(db, principal=p, name="hotline", title="热线工单", spec=changed)
    assert (v1.version, v2.version) == (1, 2)
    assert templates.get_template(db, principal=p, name="hotline").id == v2.id
    old = templates.get_template(db, principal=p, name="hotline", version=1)
    assert old.spec["fields"][0]["column"] == "编号" and not old.is_current
    assert [t.version for t in templates.template_versions(db, principal=p, name="hotline")] == [2, 1]
    assert [t.name for t in templates.list_templates(db, principal=p)] == ["hotline"]
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "hub_template")))
    assert actions.count("hub.template.save") == 2


def test_saving_an_unchanged_spec_adds_no_version(db: Session, world: Any) -> None:
    p = principal(db, world, "admin")
    first = templates.save_template(db, principal=p, name="hotline", title="热线工单", spec=SPEC)
    again = templates.save_template(db, principal=p, name="hotline", title="热线工单",
                                    spec=json.loads(json.dumps(SPEC)))
    assert again.id == first.id and count(db, MappingTemplate) == 1


def test_an_invalid_spec_is_refused_in_chinese_and_nothing_is_saved(db: Session, world: Any) -> None:
    p = principal(db, world, "admin")
    bad = {**SPEC, "fields": [*SPEC["fields"], {"field": "title", "column": "a", "constant": "b"}]}
    with pytest.raises(ValidationFailed) as exc:
        templates.save_template(db, principal=p, name="hotline", title="热线工单", spec=bad)
    assert "第7个字段映射（title）" in exc.value.message
    with pytest.raises(ValidationFailed, match="模板标识"):
        templates.save_template(db, principal=p, name="热线", title="热线工单", spec=SPEC)
    assert count(db, MappingTemplate) == 0


def test_export_then_import_round_trips_the_spec_and_the_mapping(db: Session, world: Any) -> None:
    """Exported JSON imported under another name gives an identical spec and maps sample rows identically."""
    p = principal(db, world, "admin")
    templates.save_template(db, principal=p, name="hotline", title="热线工单", spec=SPEC)
    exported = templates.export_template(db, principal=p, name="hotline")
    assert exported["format"] == "zhili.hub.template/1" and exported["version"] == 1
    text = json.dumps(exported, ensure_ascii=False)
    copy = templates.import_template(db, principal=p, data=json.loads(text), name="hotline-copy")
    original = templates.get_template(db, principal=p, name="hotline")
    assert copy.spec == original.spec and copy.title == "热线工单"
    a, b = compile_template(original.spec), compile_template(copy.spec)
    assert [a.map(r) for _, r in ROWS] == [b.map(r) for _, r in ROWS]
    again = templates.import_template(db, principal=p, data=json.loads(text))
    assert again.id == original.id  # importing what is current adds nothing
    with pytest.raises(ValidationFailed, match="spec"):
        templates.import_template(db, principal=p, data={"name": "x1"})


def test_preview_shows_masked_values_and_errors_and_writes_nothing(db: Session, world: Any) -> None:
    p = principal(db, world, "shequ1")
    admin = principal(db, world, "admin")
    templates.save_template(db, principal=admin, name="hotline", title="热线工单", spec=SPEC)
    db.flush()
    before = (count(db, MappingTemplate), count(db, AuditEvent))
    _, mapper = templates.compiled(db, principal=p, name="hotline")
    shown = templates.preview(mapper, iter(ROWS), limit=2)
    assert [r["row"] for r in shown] == [1, 2]
    first, second = shown
    assert first["values"]["reporter_phone"] == "138****5678" and first["errors"] == []
    assert first["values"]["reported_at"] == "2019-02-28 11:25:05+08:00"
    assert first["values"]["category_code"] == "BJ-0118" and first["natural_key"] == "A1"
    assert {e["rule"] for e in second["errors"]} == {"bad_date", "not_a_number"}
    assert (count(db, MappingTemplate), count(db, AuditEvent)) == before


def test_a_community_user_cannot_save_but_can_list_and_read(db: Session, world: Any) -> None:
    admin, staff = principal(db, world, "admin"), principal(db, world, "shequ1")
    templates.save_template(db, principal=admin, name="hotline", title="热线工单", spec=SPEC)
    with pytest.raises(Forbidden):
        templates.save_template(db, principal=staff, name="mine", title="我的", spec=SPEC)
    with pytest.raises(Forbidden):
        templates.import_template(db, principal=staff, data=templates.export_template(
            db, principal=staff, name="hotline"), name="mine")
    assert [t.name for t in templates.list_templates(db, principal=staff)] == ["hotline"]
    with pytest.raises(Forbidden):
        templates.list_templates(db, principal=principal(db, world, "wangge_a"))


def test_a_template_tied_to_a_source_is_seen_only_by_those_who_see_the_source(db: Session, world: Any) -> None:
    from zhili.datahub import sources

    admin = principal(db, world, "admin")
    src = sources.create_source(db, principal=admin, data={
        "name": "huaxi-hotline", "title": "画溪热线", "target": "cases", "unit_id": world.units["c2"].id})
    templates.save_template(db, principal=admin, name="huaxi", title="画溪热线模板", spec=SPEC, source_id=src.id)
    templates.save_template(db, principal=admin, name="common", title="通用", spec=SPEC)
    jinling = principal(db, world, "shequ1")
    assert [t.name for t in templates.list_templates(db, principal=jinling)] == ["common"]
    with pytest.raises(NotFound):
        templates.get_template(db, principal=jinling, name="huaxi")
    assert templates.get_template(db, principal=principal(db, world, "jiedao2"), name="huaxi").source_id == src.id
    persons_spec = {"target": "persons", "fields": [{"field": "id_number", "column": "身份证号"}]}
    with pytest.raises(ValidationFailed, match="标准模型"):
        templates.save_template(db, principal=admin, name="huaxi2", title="x", spec=persons_spec, source_id=src.id)


def test_load_builtin_templates_is_idempotent_and_keeps_staff_versions(db: Session, world: Any) -> None:
    added = templates.load_builtin_templates(db)
    names = {t.name for t in templates.list_templates(db, principal=principal(db, world, "lingdao"))}
    assert added == 6 and names == {"cn-gov-messages", "nyc311", "register-buildings", "register-households",
                                    "register-organisations", "register-persons"}
    assert templates.load_builtin_templates(db) == 0
    admin = principal(db, world, "admin")
    mine = templates.export_template(db, principal=admin, name="nyc311")
    mine["spec"]["timezone"] = "America/Chicago"
    edited = templates.import_template(db, principal=admin, data=mine)
    assert edited.version == 2 and not edited.builtin
    assert templates.load_builtin_templates(db) == 0
    assert templates.get_template(db, principal=admin, name="nyc311").version == 2
    persons = templates.get_template(db, principal=admin, name="register-persons")
    assert persons.builtin and persons.target == Target.persons


# -- API, CLI, pages ---------------------------------------------------------------------------------------------


def test_api_save_list_get_export_import_and_preview(client: Any, db: Session, world: Any) -> None:
    h = world.headers("zhihui")
    r = client.post("/api/v1/hub/templates", headers=h, json={"name": "hotline", "title": "热线工单", "spec": SPEC})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["target"] == "cases"
    assert [t["name"] for t in client.get("/api/v1/hub/templates", headers=world.headers("shequ1")).json()] == \
        ["hotline"]
    got = client.get("/api/v1/hub/templates/hotline", headers=h).json()
    assert got["spec"] == templates.get_template(db, principal=principal(db, world, "zhihui"), name="hotline").spec
    assert got["fields"][0]["label"] == "原始编号"
    exported = client.get("/api/v1/hub/templates/hotline/export", headers=h)
    assert exported.headers["content-disposition"].startswith("attachment")
    data = exported.json()
    data["name"] = "hotline-b"
    r = client.post("/api/v1/hub/templates/import", headers=h, json=data)
    assert r.status_code == 201 and r.json()["name"] == "hotline-b"
    csv_bytes = "编号,主题,详情,时间,分类,电话,点赞\nA1,路灯,不亮,2019/2/28 11:25:05,路灯,13812345678,3\n" \
                "A2,噪声,,明天,其他,,x\n".encode("gb18030")
    r = client.post("/api/v1/hub/templates/hotline/preview", headers=world.headers("shequ1"),
                    files={"file": ("样例.csv", csv_bytes, "text/csv")})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert rows[0]["values"]["reporter_phone"] == "138****5678" and rows[1]["errors"]
    bad = client.post("/api/v1/hub/templates", headers=h, json={"name": "bad", "title": "坏", "spec": {
        "target": "cases", "fields": [{"field": "nope", "column": "x"}]}})
    assert bad.status_code == 422 and "不是该标准模型的字段" in bad.json()["message"]
    assert client.post("/api/v1/hub/templates", headers=world.headers("shequ1"),
                       json={"name": "x2", "title": "x", "spec": SPEC}).status_code == 403


def test_preview_reports_missing_columns(client: Any, db: Session, world: Any) -> None:
    spec = {**SPEC, "source_columns": ["编号", "时间"]}
    templates.save_template(db, principal=principal(db, world, "admin"), name="hotline", title="热线", spec=spec)
    r = client.post("/api/v1/hub/templates/hotline/preview", headers=world.headers("admin"),
                    files={"file": ("a.csv", "编号,主题\n1,x\n".encode(), "text/csv")})
    assert r.status_code == 422 and r.json()["message"] == "文件缺少模板要求的列：“时间”"


@pytest.fixture
def cli_db(engine: Any, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    """A fresh migrated SQLite file as the process-wide engine (the CLI commits), with an admin account."""
    from pathlib import Path

    from filedb import process_engine_on_file

    root = Path(__file__).resolve().parents[1] / "conftest.py"  # the root conftest (tests/web has its own)
    build_world = next(p.build_world for p in request.config.pluginmanager.get_plugins()
                       if Path(getattr(p, "__file__", None) or "/").resolve() == root)
    with process_engine_on_file(engine, tmp_path / "cli.db") as eng:
        with Session(eng) as s, s.begin():
            build_world(s, only={"admin", "shequ1"})
        yield eng


def test_cli_loads_lists_shows_exports_imports_and_previews(cli_db: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from zhili.cli import app

    run = CliRunner()
    first = run.invoke(app, ["hub", "template", "load-builtin"])
    assert first.exit_code == 0 and "新增 6 个版本" in first.output, first.output
    assert "已是最新" in run.invoke(app, ["hub", "template", "load-builtin"]).output
    listed = run.invoke(app, ["hub", "template", "list", "--user", "shequ1"])
    assert listed.exit_code == 0 and "nyc311" in listed.output and "历史事件" in listed.output, listed.output
    shown = run.invoke(app, ["hub", "template", "show", "cn-gov-messages"])
    assert shown.exit_code == 0 and "上报时间" in shown.output and "留言时间" in shown.output, shown.output
    out = tmp_path / "t.json"
    assert run.invoke(app, ["hub", "template", "export", "nyc311", "-o", str(out)]).exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    data["title"] = "纽约311（本地修改）"
    out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    imported = run.invoke(app, ["hub", "template", "import", str(out)])
    assert imported.exit_code == 0 and "第2版" in imported.output, imported.output
    refused = run.invoke(app, ["hub", "template", "import", str(out), "--user", "shequ1"])
    assert refused.exit_code == 1
    sample = tmp_path / "s.csv"
    sample.write_text("Unique Key,Created Date,Complaint Type,Descriptor\n1,03/01/2011 02:27:57 PM,Noise,Loud\n",
                      encoding="utf-8")
    shown = run.invoke(app, ["hub", "template", "preview", "nyc311", str(sample)])
    assert shown.exit_code == 0 and "第1行" in shown.output and "Noise - Loud" in shown.output, shown.output
    with Session(cli_db) as s:
        assert s.scalar(select(func.count()).select_from(MappingTemplate)) == 7


# -- pages -------------------------------------------------------------------------------------------------------

def _page_as(client: Any, world: Any, who: str) -> None:
    from zhili.web.deps import SESSION_COOKIE

    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, world.tokens[who])


def _csrf(html: str) -> str:
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def _codes(html: str) -> list[str]:
    from testmodules import TESTS, load

    codecheck = load("zhili_tests_codecheck", TESTS / "web" / "codecheck.py")
    return list(codecheck.visible_codes(html, ()))


def test_pages_list_and_show_templates_by_name_with_no_codes(client: Any, db: Session, world: Any) -> None:
    """The list and every shipped template's page (readable table, editor, versions) show names, not codes."""
    templates.load_builtin_templates(db)
    _page_as(client, world, "zhihui")
    listing = client.get("/console/hub/templates")
    assert listing.status_code == 200 and "纽约市311服务请求" in listing.text and "历史事件" in listing.text
    assert _codes(listing.text) == []
    for name in ("nyc311", "cn-gov-messages", "register-persons", "register-households"):
        r = client.get(f"/console/hub/templates/{name}")
        assert r.status_code == 200, r.text[:300]
        assert _codes(r.text) == [], name
    nyc = client.get("/console/hub/templates/nyc311").text
    assert "列“Created Date”" in nyc and "上报时间" in nyc and "Street Condition → SJ-0151" in nyc
    assert 'action="/console/hub/templates/nyc311/fields"' in nyc  # the editor
    _page_as(client, world, "shequ1")
    read_only = client.get("/console/hub/templates/nyc311").text
    assert "/fields" not in read_only and "预览样例文件" in read_only
    _page_as(client, world, "wangge_a")
    assert client.get("/console/hub/templates").status_code == 403


def _forms(html: str, action: str) -> list[dict[str, str]]:
    """Every form of the page posting to ``action``, as a browser would post it (inputs, selected options,
    textareas, checked boxes)."""
    import html as h

    out = []
    for m in re.finditer(r'<form method="post" action="' + re.escape(action) + r'"(.*?)</form>', html, re.S):
        form = m.group(1)
        data: dict[str, str] = {}
        for i in re.finditer(r"<input([^>]*)>", form):
            attrs = dict(re.findall(r'(\w+)="([^"]*)"', i.group(1)))
            if "name" in attrs and (attrs.get("type") != "checkbox" or " checked" in i.group(1)):
                data[attrs["name"]] = h.unescape(attrs.get("value", ""))
        for sel in re.finditer(r'<select name="([^"]+)">(.*?)</select>', form, re.S):
            chosen = re.search(r'<option value="([^"]*)" selected>', sel.group(2)) or \
                re.search(r'<option value="([^"]*)"', sel.group(2))
            data[sel.group(1)] = h.unescape(chosen.group(1)) if chosen else ""
        for ta in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
            data[ta.group(1)] = h.unescape(ta.group(2))
        out.append(data)
    return out


def test_the_editor_saves_each_mapping_as_a_new_version_and_round_trips_unchanged(client: Any, db: Session,
                                                                                  world: Any) -> None:
    """Every mapping form posted back as shown changes nothing (the form carries the spec exactly); a changed
    value map, a removed mapping and changed settings each save a version; a bad date format is refused in
    Chinese next to its mapping; a stale page is refused."""
    templates.load_builtin_templates(db)
    admin = principal(db, world, "admin")
    _page_as(client, world, "admin")
    url = "/console/hub/templates/nyc311"
    original = templates.get_template(db, principal=admin, name="nyc311").spec
    rows = _forms(client.get(url).text, url + "/fields")
    assert len(rows) == len(original["fields"]) + 1  # one form per mapping and one to add
    for form in rows[:-1]:
        r = client.post(url + "/fields", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("msg=hub_template_unchanged"), \
            (form, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))[-600:])
    settings = _forms(client.get(url).text, url)[0]
    assert client.post(url, data=settings, follow_redirects=False).headers["location"].endswith("unchanged")
    status = next(f for f in rows if f["field"] == "status")
    status["vmap"] = "Closed=已办结\nPending=待办"
    r = client.post(url + "/fields", data=status, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("msg=hub_template_saved")
    v2 = templates.get_template(db, principal=admin, name="nyc311")
    assert v2.version == 2 and not v2.builtin
    assert next(f for f in v2.spec["fields"] if f["field"] == "status")["value_map"] == {"Closed": "已办结",
                                                                                        "Pending": "待办"}
    stale = client.post(url + "/fields", data=status)
    assert stale.status_code == 409 and "已被他人修改" in stale.text
    page2 = client.get(url).text
    agency = next(f for f in _forms(page2, url + "/fields") if f.get("attr") == "agency")
    assert client.post(url + "/fields/delete", data=agency, follow_redirects=False).status_code == 303
    v3 = templates.get_template(db, principal=admin, name="nyc311")
    assert len(v3.spec["fields"]) == len(original["fields"]) - 1 and v3.spec["key"] == ["external_id"]
    new = _forms(client.get(url).text, url + "/fields")[-1]
    new.update({"field": "__attr__", "attr": "channel", "origin": "constant", "source": "311", "version": "3"})
    assert client.post(url + "/fields", data=new, follow_redirects=False).status_code == 303
    added = templates.get_template(db, principal=admin, name="nyc311").spec["fields"][-1]
    assert added == {"field": "attributes.channel", "constant": "311"}
    reported = next(f for f in _forms(client.get(url).text, url + "/fields") if f["field"] == "reported_at")
    assert reported["dates"] == "%m/%d/%Y %I:%M:%S %p|%m/%d/%Y %H:%M:%S|%m/%d/%Y %H:%M"
    reported["dates"] = "%Q"
    bad = client.post(url + "/fields", data=reported)
    assert bad.status_code == 422 and "日期格式“%Q”无效" in bad.text and 'value="%Q"' in bad.text
    assert templates.get_template(db, principal=admin, name="nyc311").version == 4
    _page_as(client, world, "shequ1")
    assert client.post(url + "/fields", data=reported).status_code == 403


def test_pages_create_import_export_and_preview(client: Any, db: Session, world: Any) -> None:
    templates.load_builtin_templates(db)
    _page_as(client, world, "zhihui")
    token = _csrf(client.get("/console/hub/templates").text)
    r = client.post("/console/hub/templates", data={"csrf_token": token, "name": "hotline", "title": "热线",
                                                    "target": "cases"}, follow_redirects=False)
    assert r.status_code == 303
    made = templates.get_template(db, principal=principal(db, world, "zhihui"), name="hotline")
    assert [f["column"] for f in made.spec["fields"]] == ["原始编号", "内容", "上报时间"]
    dup = client.post("/console/hub/templates", data={"csrf_token": token, "name": "hotline", "title": "又一个",
                                                      "target": "cases"})
    assert dup.status_code == 409 and "已被使用" in dup.text
    exported = client.get("/console/hub/templates/nyc311/export.json")
    assert exported.status_code == 200 and exported.json()["name"] == "nyc311"
    doc = exported.json()
    doc["name"] = "nyc311-mine"
    r = client.post("/console/hub/templates/import", data={"csrf_token": token},
                    files={"file": ("t.json", json.dumps(doc).encode(), "application/json")}, follow_redirects=False)
    assert r.status_code == 303 and "/console/hub/templates/nyc311-mine" in r.headers["location"]
    bad = client.post("/console/hub/templates/import", data={"csrf_token": token},
                      files={"file": ("t.json", b"{not json", "application/json")})
    assert bad.status_code == 422 and "无法读取该文件" in bad.text
    before = count(db, MappingTemplate)
    sample = io.BytesIO()
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Unique Key", "Created Date", "Complaint Type", "Descriptor", "Latitude"])
    ws.append([1, "03/01/2011 02:27:57 PM", "Noise - Residential", "Loud Music", "x"])
    ws.append([2, "yesterday", "Street Condition", "Pothole", "40.7"])
    wb.save(sample)
    r = client.post("/console/hub/templates/nyc311/preview", data={"csrf_token": token},
                    files={"file": ("样例.xlsx", sample.getvalue(), "application/octet-stream")},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:500]
    assert "共预览2行，其中2行有问题" in r.text and "cell-error" in r.text and "<html" not in r.text
    assert "“Latitude”不是有效的数字" in r.text and "SG-1201" in r.text
    full = client.post("/console/hub/templates/nyc311/preview", data={"csrf_token": token},
                       files={"file": ("a.csv", b"Unique Key\n1\n", "text/csv")})
    assert full.status_code == 422 and "文件缺少模板要求的列" in full.text and "<html" in full.text
    assert count(db, MappingTemplate) == before


def test_cli_sources_imports_and_quarantine_refuse_in_chinese_and_roll_back(cli_db: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from zhili.cli import app
    from zhili.datahub.models import QuarantineRow, Source

    run = CliRunner()
    assert run.invoke(app, ["hub", "template", "load-builtin"]).exit_code == 0
    bad = run.invoke(app, ["hub", "source", "add", "x-1", "--title", "错误", "--target", "nothing"])
    assert bad.exit_code == 1 and "标准模型" in bad.output, bad.output
    with Session(cli_db) as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 0  # the refusal left nothing behind
    added = run.invoke(app, ["hub", "source", "add", "hotline", "--title", "热线归档", "--target", "cases"])
    assert added.exit_code == 0 and "已登记数据源 hotline" in added.output, added.output
    assert "热线归档" in run.invoke(app, ["hub", "source", "list"]).output
    upload = tmp_path / "msgs.csv"
    upload.write_text("留言编号,留言用户,留言主题,留言时间,留言详情\n"
                      "C-1,U1,路灯不亮,2024/03/02 19:20:00,东门路灯不亮。\n"
                      "C-2,U2,噪音,上周五晚上,工地夜间施工。\n", encoding="utf-8")
    imported = run.invoke(app, ["hub", "import", str(upload), "--source", "hotline", "--template", "cn-gov-messages"])
    assert imported.exit_code == 0 and "隔离区" in imported.output, imported.output
    history = run.invoke(app, ["hub", "imports", "--source", "hotline"])
    assert history.exit_code == 0 and "批次" in history.output, history.output
    listed = run.invoke(app, ["hub", "quarantine", "list", "--source", "hotline"])
    assert listed.exit_code == 0 and "共 1 行待处理" in listed.output, listed.output
    out = tmp_path / "q.xlsx"
    assert run.invoke(app, ["hub", "quarantine", "download", "--out", str(out), "--source", "hotline"]).exit_code == 0
    assert out.stat().st_size > 0
    rerun = run.invoke(app, ["hub", "quarantine", "rerun", "--source", "hotline"])
    assert rerun.exit_code == 0 and "仍有 1 行" in rerun.output, rerun.output
    unknown = run.invoke(app, ["hub", "quarantine", "list", "--source", "no-such-source"])
    assert unknown.exit_code == 1 and "不存在" in unknown.output, unknown.output
    with Session(cli_db) as s:
        assert s.scalar(select(func.count()).select_from(QuarantineRow)) == 1
