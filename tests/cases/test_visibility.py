"""Who sees which case (list, detail, timeline, export), the list filters, and the Excel export."""

from __future__ import annotations

import io
from typing import Any

import pytest
from casekit import local, make_user
from openpyxl import load_workbook

from zhili.cases import engine, service, sweep
from zhili.cases.models import Channel
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.security import Role

NAME, PHONE = "司马小芳", "13857001111"


@pytest.fixture
def cases(kit) -> dict[str, dict[str, Any]]:
    """Cases spread over grids, departments and states."""
    out = {
        "ga": kit.dispatched("jumin", department="CG", description="金陵路窨井冒水，垃圾堵塞"),
        "gb": kit.report("jumin2", lon=119.3, category="T0102", description="菜场门口占道经营"),
        "gc": kit.dispatched("jumin2", department="CG", lon=119.6, category="T0301", description="夜间施工噪声"),
        "rep": kit.report("jumin", category="T0201", description="井盖松动"),
        "hot": kit.report("zhihui", channel="hotline", lon=119.6, reporter_name=NAME, reporter_phone=PHONE,
                          description="热线反映：画溪村道路积水"),
        "gc_to_c1": kit.dispatched("jumin2", unit="c1", lon=119.61, description="跨社区协调事项"),
    }
    kit.act("zhihui", out["gb"], "accept")
    out["gb"] = kit.act("zhihui", out["gb"], "dispatch", department="SW", co_departments=["GA"]).json()
    # One case dispatched long ago, so that the sweep finds it overdue.
    old, _ = service.report_case(kit.db, principal=kit.principal("jumin"), channel=Channel.resident,
                                 data={"category_code": "T0102", "description": "早已超期的占道", "lon": 119.11,
                                       "lat": 31.1}, now=local(2026, 3, 2, 9, 0))
    zh = kit.principal("zhihui")
    engine.transition(kit.db, principal=zh, case_id=old.id, action="accept", now=local(2026, 3, 2, 9, 0))
    engine.transition(kit.db, principal=zh, case_id=old.id, action="dispatch", payload={"department": "CG"},
                       now=local(2026, 3, 2, 9, 0))
    sweep.sweep_deadlines(kit.db)
    kit.db.commit()
    out["old"] = kit.detail(old.id)
    return out


def _ids(kit, who: str, query: str = "") -> set[str]:
    r = kit.get(who, f"/cases?page_size=500{query}")
    assert r.status_code == 200, r.text
    assert r.json()["total"] == len(r.json()["items"])
    return {c["id"] for c in r.json()["items"]}


def _names(cases: dict[str, dict[str, Any]], ids: set[str]) -> set[str]:
    by_id = {c["id"]: k for k, c in cases.items()}
    return {by_id[i] for i in ids}


EXPECTED = {
    "zhihui": {"ga", "gb", "gc", "rep", "hot", "gc_to_c1", "old"},
    "lingdao": {"ga", "gb", "gc", "rep", "hot", "gc_to_c1", "old"},
    "bumen": {"ga", "gc", "old"},  # dispatched to CG, wherever they are
    "bumen_sw": {"gb"},
    "bumen_ga": {"gb"},  # co-handler of a joint case
    "wangge_a": {"ga", "rep", "old"},
    "wangge_b": {"gb"},
    "jiedao1": {"ga", "gb", "rep", "gc_to_c1", "old"},  # its area, plus what was sent to a unit of it
    "shequ1": {"ga", "gb", "rep", "gc_to_c1", "old"},
    "jiedao2": {"gc", "hot", "gc_to_c1"},
    "jumin": {"ga", "rep", "old"},  # own reports only
    "jumin2": {"gb", "gc", "gc_to_c1"},
}


def test_each_role_sees_exactly_its_cases_in_the_list_and_gets_404_for_the_others(kit, cases):
    for who, expected in EXPECTED.items():
        assert _names(cases, _ids(kit, who)) == expected, who
        for name, c in cases.items():
            want = 200 if name in expected else 404
            assert kit.get(who, f"/cases/{c['id']}").status_code == want, (who, name)
            if who in ("jumin", "jiedao2", "bumen_ga", "wangge_a"):
                assert kit.get(who, f"/cases/{c['id']}/timeline").status_code == want, (who, name)
                assert kit.get(who, f"/cases/by-number/{c['number']}").status_code == want, (who, name)


def test_a_department_handler_without_a_department_sees_nothing(kit, cases):
    _, token = make_user(kit.db, "bumen_x", Role.department_handler, [kit.unit("district")])
    kit.world.tokens["bumen_x"] = token
    kit.db.commit()
    assert _ids(kit, "bumen_x") == set()
    assert kit.get("bumen_x", f"/cases/{cases['ga']['id']}").status_code == 404


def test_the_auditor_sees_no_cases(kit, cases):
    r = kit.get("shenji", "/cases")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    assert kit.get("shenji", f"/cases/{cases['ga']['id']}").status_code == 403
    assert kit.get("shenji", "/cases/export.xlsx").status_code == 403
    with pytest.raises(Forbidden):  # the service refuses too, with no route in between
        service.list_cases(kit.db, principal=kit.principal("shenji"), filters=service.CaseFilter())


FILTERS = [
    ("&state=dispatched", {"ga", "gb", "gc", "gc_to_c1", "old"}),
    ("&state=reported&state=dispatched", {"ga", "gb", "gc", "rep", "hot", "gc_to_c1", "old"}),
    ("&state=reported", {"rep", "hot"}),
    ("&category=T01", {"ga", "gb", "hot", "gc_to_c1", "old"}),
    ("&category=T0102", {"gb", "old"}),
    ("&category=T0201", {"rep"}),
    ("&overdue=true", {"old"}),
    ("&overdue=false", {"ga", "gb", "gc", "rep", "hot", "gc_to_c1"}),
    ("&warning=red", {"old"}),
    ("&q=窨井", {"ga"}),
    ("&q=占道", {"gb", "old"}),
    ("&channel=hotline", {"hot"}),
    ("&channel=resident&category=T03", {"gc"}),
    ("&department=SW", {"gb"}),
    ("&open_only=true&state=dispatched", {"ga", "gb", "gc", "gc_to_c1", "old"}),
]


def test_list_filters_by_state_category_prefix_overdue_warning_keyword_channel_and_department(kit, cases):
    for query, expected in FILTERS:
        assert _names(cases, _ids(kit, "zhihui", query)) == expected, query


def test_unit_and_keyword_filters_stay_inside_the_callers_jurisdiction(kit, cases):
    c1, gc = kit.unit("c1").id, kit.unit("gc").id
    assert _names(cases, _ids(kit, "zhihui", f"&unit_id={c1}")) == {"ga", "gb", "rep", "old"}
    assert _names(cases, _ids(kit, "zhihui", f"&unit_id={gc}")) == {"gc", "hot", "gc_to_c1"}
    assert _names(cases, _ids(kit, "jiedao1", f"&unit_id={c1}")) == {"ga", "gb", "rep", "old"}
    r = kit.get("wangge_a", f"/cases?unit_id={gc}")
    assert r.status_code == 404
    assert _ids(kit, "jiedao2", "&q=窨井") == set()
    assert _names(cases, _ids(kit, "zhihui", f"&q={cases['gc']['number']}")) == {"gc"}


def test_the_excel_export_has_chinese_headers_only_visible_cases_and_no_reporter_identity(kit, cases):
    r = kit.get("zhihui", "/cases/export.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    ws = wb["事件清单"]
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][:8] == ["事件编号", "上报时间", "渠道", "类别", "标题", "描述", "地址", "状态"]
    assert "处置部门" in rows[0] and "处置期限" in rows[0] and "是否超期" in rows[0]
    assert {row[0] for row in rows[1:]} == {c["number"] for c in cases.values()}
    text = "\n".join(str(v) for row in rows for v in row if v is not None)
    assert NAME not in text and PHONE not in text and PHONE[-8:] not in text
    hot = next(row for row in rows if row[0] == cases["hot"]["number"])
    assert hot[2] == "12345热线" and hot[7] == "已上报"
    old = next(row for row in rows if row[0] == cases["old"]["number"])
    assert old[rows[0].index("是否超期")] == "是" and old[rows[0].index("预警")] == "红灯"
    assert old[rows[0].index("处置部门")] == "城管局"
    assert [a.actor_name for a in kit.audit("case.export")] == ["zhihui"]

    # The export follows the same visibility and filters as the list.
    for who in ("jiedao2", "jumin", "bumen"):
        wb = load_workbook(io.BytesIO(kit.get(who, "/cases/export.xlsx").content), read_only=True)
        numbers = {row[0] for row in list(wb["事件清单"].iter_rows(values_only=True))[1:]}
        assert numbers == {cases[n]["number"] for n in EXPECTED[who]}, who
    wb = load_workbook(io.BytesIO(kit.get("zhihui", "/cases/export.xlsx?state=reported").content), read_only=True)
    numbers = {row[0] for row in list(wb["事件清单"].iter_rows(values_only=True))[1:]}
    assert numbers == {cases["rep"]["number"], cases["hot"]["number"]}


def _numbers(kit: Any, who: str, **filters: Any) -> set[str]:
    rows, total, _ = service.list_cases(kit.db, principal=kit.principal(who),
                                        filters=service.CaseFilter(**filters), page_size=500)
    assert total == len(rows)
    return {c.number for c in rows}


def test_the_number_filter_is_exact_and_scoped_and_supervised_lists_open_orders(kit, cases):
    gc = cases["gc"]["number"]
    assert _numbers(kit, "zhihui", number=gc) == {gc}
    assert _numbers(kit, "zhihui", number=gc[:-1]) == set()  # exact, not a prefix
    assert _numbers(kit, "shequ1", number=gc) == set()  # another community's case, even by its number
    assert _numbers(kit, "zhihui", supervised=True) == {cases["old"]["number"]}  # the sweep's red order
    kit.act("zhihui", cases["ga"], "supervise", message="请尽快处置")
    assert _numbers(kit, "zhihui", supervised=True) == {cases["old"]["number"], cases["ga"]["number"]}
    assert _numbers(kit, "jiedao2", supervised=True) == set()


def test_the_reporter_phone_search_is_the_command_centres_exact_and_audited(kit, cases):
    from zhili.users.service import _set_phone

    assert _numbers(kit, "zhihui", reporter_phone="138 5700 1111") == {cases["hot"]["number"]}  # typed call-back
    assert _numbers(kit, "zhihui", reporter_phone="13857001112") == set()
    found, none = kit.audit("case.search_by_reporter")  # each search, with how many it found — not the number
    assert (found.actor_name, found.after, none.after) == ("zhihui", {"matched": 1}, {"matched": 0})
    _set_phone(kit.user("jumin"), "13900002222")  # the phone of the reporting resident's account
    kit.db.flush()
    assert _numbers(kit, "zhihui", reporter_phone="13900002222") == {cases[n]["number"] for n in ("ga", "rep",
                                                                                                   "old")}
    for who in ("lingdao", "jiedao2", "shequ1", "bumen"):  # reading cases is not revealing who reported them
        with pytest.raises(Forbidden):
            _numbers(kit, who, reporter_phone=PHONE)
    with pytest.raises(ValidationFailed):
        _numbers(kit, "zhihui", reporter_phone="12345")
