"""Names, not codes: every timeline, supervision list and rule or category history a person reads names channels,
roles, departments, units and the system (系统) — for cases filed through every channel, every automatic step
(automatic dispatch, the deadline sweep's warnings and orders), the demo history's cases, and timeline rows stored
before the platform named things. The checker is :mod:`codecheck` (shared with the crawl test)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from codecheck import visible_codes
from pagekit import page, sign_in
from sqlalchemy import insert, select

from casedata import required_attributes
from zhili.cases import dispatch, service, sweep, taxonomy
from zhili.cases.models import Case, CaseEvent, Channel, Notification
from zhili.core import names
from zhili.org.service import department_names
from zhili.seed import history

# Real accounts have Chinese display names (a username like wangge_a on a page would itself be an identifier).
PEOPLE = {"admin": "周管理", "zhihui": "李指挥", "lingdao": "王领导", "shenji": "吴审计", "jiedao1": "陈街道",
          "jiedao2": "何街道", "shequ1": "林社区", "wangge_a": "赵网格", "wangge_b": "钱网格", "bumen": "孙处置",
          "jumin": "张小明"}
DEPT = "HW"


def _named_world(site: Any) -> None:
    for key, user in site.world.users.items():
        user.display_name = PEOPLE[key]
    site.world.users["bumen"].department = DEPT
    site.db.flush()


def _file(site: Any, who: str | None, channel: Channel, description: str, **extra: Any) -> Case:
    data = {"category_code": "SJ-0102", "description": description, "lon": 119.1, "lat": 31.1,
            "attributes": required_attributes(site.db, "SJ-0102"), **extra}
    case, _ = service.report_case(site.db, principal=site.principal(who) if who else None, channel=channel,
                                  data=data)
    site.db.flush()
    return case


def _every_channel_and_step(site: Any) -> dict[str, Case]:
    """Cases through every channel; one of them handled to its rating, one returned, one warned and escalated by
    the sweep, one supervised by hand, one dispatched automatically by a rule."""
    out: dict[str, Case] = {}
    rated = out["rated"] = site.report("jumin", description="小区门口垃圾堆放三天无人清运")
    site.act("zhihui", rated, "accept")
    site.act("zhihui", rated, "dispatch", department=DEPT)
    site.act("bumen", rated, "start")
    site.act("bumen", rated, "resolve", result="已清运完毕")
    site.act("zhihui", rated, "verify")
    site.act("jumin", rated, "rate", rating=4, comment="处理及时")
    out["patrol"] = site.report("wangge_a", description="巡查发现绿地垃圾")
    out["hotline"] = _file(site, "zhihui", Channel.hotline, "来电反映路口垃圾", reporter_name="刘先生",
                           reporter_phone="13900001111")
    out["staff"] = _file(site, "shequ1", Channel.staff, "社区代录：楼下垃圾")
    out["department"] = _file(site, "bumen", Channel.department, "部门移交：河道垃圾")
    out["open311"] = _file(site, None, Channel.open311, "Open311 客户端上报的垃圾")
    out["iot"] = _file(site, None, Channel.iot, "传感器：垃圾桶满溢")
    returned = out["returned"] = site.report("jumin", description="垃圾桶破损")
    site.act("zhihui", returned, "accept")
    site.act("zhihui", returned, "dispatch", department=DEPT)
    site.act("bumen", returned, "return_case", reason="不属于本部门职责")
    warned = out["warned"] = site.report("jumin", description="路边垃圾长期未清")
    site.act("zhihui", warned, "accept")
    site.act("zhihui", warned, "dispatch", department=DEPT)
    site.act("zhihui", warned, "supervise", message="请尽快处置")
    site.db.refresh(warned)
    sweep.sweep_deadlines(site.db, now=warned.handle_warn_at + dt.timedelta(minutes=1))
    sweep.sweep_deadlines(site.db, now=warned.handle_due_at + dt.timedelta(days=30))
    dispatch.default_rules_from_taxonomy(site.db, district_path=site.world.units["district"].path)
    out["auto"] = site.report("jumin", description="楼道垃圾无人清理")
    site.db.flush()
    return out


def _demo_history_cases(site: Any) -> list[uuid.UUID]:
    """Cases as the demo seeder writes them (``seed.history``), one per channel and enough of them to reach
    rejections and ratings, inserted as the seeder does."""
    cat = taxonomy.get_current_category(site.db, code="SJ-0102")
    ga = site.world.units["ga"]
    grid = SimpleNamespace(id=ga.id, path=ga.path, center_lon=119.1, center_lat=31.1, name=ga.name)
    now = dt.datetime.now(dt.UTC)
    ids, actions = [], set()
    for i in range(80):
        channel = list(Channel)[i % len(Channel)]
        row, events = history._one_case(
            random.Random(i), cat, grid, channel, now - dt.timedelta(days=20), now, f"330522-20250101-9{i:05d}",
            0.0, 0.0, lambda t, hours, natural: t + dt.timedelta(hours=hours),
            lambda dept, path: {"assignee_department": dept})
        site.db.execute(insert(Case), [row])
        site.db.execute(insert(CaseEvent), events)
        ids.append(row["id"])
        actions |= {e["action"] for e in events}
    assert {"report", "reject", "dispatch", "resolve", "verify", "rate", "close"} <= actions
    site.db.flush()
    return ids


def _legacy_case(site: Any) -> Case:
    """A case whose timeline rows were written before the platform named things (kept as they are: append-only)."""
    case = site.report("jumin", description="旧数据：垃圾满溢")
    rows = [("report", "system", None, "通过grid_worker上报"), ("report", "张小明", "resident", "通过居民上报上报"),
            ("dispatch", "系统自动", "command_centre", "按派单规则“垃圾满溢 → HW”自动派遣")]
    site.db.execute(insert(CaseEvent), [
        {"id": uuid.uuid4(), "case_id": case.id, "seq": 10 + i, "at": dt.datetime.now(dt.UTC), "action": action,
         "from_state": "reported", "to_state": "reported", "actor_id": None, "actor_name": actor, "actor_role": role,
         "actor_unit": None, "comment": comment, "payload": {}, "attachment_ids": [], "public": True}
        for i, (action, actor, role, comment) in enumerate(rows)])
    site.db.flush()
    return case


def _codes(site: Any, response: Any) -> list[str]:
    assert response.status_code == 200, response.text[:300]
    return visible_codes(response.text, department_names(site.db))


@pytest.fixture
def named(site: Any) -> Any:
    _named_world(site)
    return site


def test_the_console_case_page_names_everything_for_every_channel_and_automatic_step(client: Any, named: Any
                                                                                       ) -> None:
    cases = _every_channel_and_step(named)
    sign_in(client, named.token("zhihui"))
    for key, case in cases.items():
        assert _codes(named, client.get(f"/console/cases/{case.id}")) == [], key
    assert _codes(named, client.get("/console/")) == []
    text = page(client.get(f"/console/cases/{cases['auto'].id}")).text
    hw = department_names(named.db)[DEPT]
    assert f"按派单规则自动派遣至{hw}" in text and "系统" in text
    rated = page(client.get(f"/console/cases/{cases['rated'].id}")).text
    assert "居民上报" in rated and "通过居民上报上报" not in rated  # the channel's name once, not doubled


def test_the_department_grid_worker_and_resident_pages_name_everything(client: Any, named: Any) -> None:
    cases = _every_channel_and_step(named)
    sign_in(client, named.token("bumen"))
    for key in ("rated", "warned"):
        assert _codes(named, client.get(f"/console/cases/{cases[key].id}")) == [], key
    assert _codes(named, client.get("/console/inbox")) == []
    sign_in(client, named.token("wangge_a"))
    for url in (f"/gw/cases/{cases['patrol'].id}", "/gw/"):
        assert _codes(named, client.get(url)) == [], url
    sign_in(client, named.token("jumin"))
    assert _codes(named, client.get("/h5/mine")) == []
    for key in ("rated", "returned", "warned", "auto"):
        assert _codes(named, client.get(f"/h5/cases/{cases[key].id}")) == [], key
    text = page(client.get(f"/h5/cases/{cases['auto'].id}")).text
    assert f"自动派遣至{department_names(named.db)[DEPT]}" in text  # the department by name, never its code
    staff_names = [PEOPLE[k] for k in ("zhihui", "bumen")]
    rated = page(client.get(f"/h5/cases/{cases['rated'].id}")).text
    assert not [n for n in staff_names if n in rated]  # residents never see staff accounts …
    assert department_names(named.db)[DEPT] in rated and "指挥中心" in rated  # … but whom they act for


def test_supervision_orders_name_their_issuer(client: Any, named: Any) -> None:
    _every_channel_and_step(named)
    for who in ("zhihui", "bumen"):
        sign_in(client, named.token(who))
        r = client.get("/console/supervisions")
        assert _codes(named, r) == [], who
        text = page(r).text
        assert "系统" in text and PEOPLE["zhihui"] in text, who  # the sweep's orders and the hand-made one


def test_rule_and_category_history_name_who_changed_them(client: Any, named: Any) -> None:
    dispatch.default_rules_from_taxonomy(named.db, district_path=named.world.units["district"].path)
    rule = next(r for r in dispatch.current_rules(named.db) if r.category_code == "SJ-0102")
    assert rule.name == f"{taxonomy.get_current_category(named.db, code='SJ-0102').name} → " \
                        f"{department_names(named.db)[DEPT]}"  # the seeded rule is named by the department
    dispatch.update_rule(named.db, principal=named.principal("admin"), rule_key=rule.rule_key,
                         changes={"priority": 50})
    named.db.flush()
    sign_in(client, named.token("admin"))
    r = client.get(f"/console/admin/rules/{rule.rule_key}")
    assert _codes(named, r) == []
    history = page(r).find("h2", id="hist-h").parent.text
    assert "系统" in history and PEOPLE["admin"] in history
    r = client.get("/console/admin/categories/SJ-0102")
    assert _codes(named, r) == [] and "系统" in page(r).find("h2", id="hist-h").parent.text


def test_the_demo_history_and_older_timeline_rows_read_as_names(client: Any, named: Any) -> None:
    ids = _demo_history_cases(named)
    legacy = _legacy_case(named)
    sign_in(client, named.token("zhihui"))
    for cid in [*ids, legacy.id]:
        assert _codes(named, client.get(f"/console/cases/{cid}")) == [], cid
    text = page(client.get(f"/console/cases/{legacy.id}")).text
    hw = department_names(named.db)[DEPT]
    assert "网格员巡查上报" in text and f"垃圾满溢 → {hw}" in text and "通过居民上报上报" not in text
    assert PEOPLE["jumin"] not in text  # a resident stored by name in an old row is still 上报人


def test_a_rating_shows_its_stars_in_the_timeline(client: Any, named: Any) -> None:
    case = _every_channel_and_step(named)["rated"]
    for who, url in (("jumin", f"/h5/cases/{case.id}"), ("zhihui", f"/console/cases/{case.id}")):
        sign_in(client, named.token(who))
        p = page(client.get(url))
        [stars] = [e for e in p.find_all("span", role="img") if e.attrs.get("aria-label", "").startswith("评分")]
        assert stars.attrs["aria-label"] == "评分 4 星" and stars.text == "★★★★☆", who


def test_a_returned_case_tells_the_command_centre_who_returned_it_by_name(named: Any) -> None:
    case = _every_channel_and_step(named)["returned"]
    [note] = named.db.scalars(select(Notification).where(Notification.case_id == case.id,
                                                         Notification.title == "事件被退回")).all()
    assert f"被{department_names(named.db)[DEPT]}退回" in note.body and DEPT not in note.body


def test_the_checker_finds_codes_where_names_belong() -> None:
    """The checker itself: what it must flag and what it must leave alone."""
    depts = ["HW", "CG"]
    html = ("<p>通过grid_worker上报</p><p title='system'>x</p><span>派遣至 HW</span><p>in_progress</p>"
            "<script>var grid_worker = 1;</script><p>Open311 · SJ-0102 · 330522-20260101-000001 · 居民上报</p>")
    found = [f.split(":")[0] for f in visible_codes(html, depts)]
    assert found == ["grid_worker", "system", "HW", "in_progress"]
    assert visible_codes("<p>县环境卫生管理中心 · 系统 · 上报人 · Resident</p>", depts) == []
    assert names.name("channel", Channel.grid_worker) == "网格员巡查"
