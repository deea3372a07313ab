"""部门待办 (/console/inbox) lists what the department must act on — to start, to handle, waiting for its
extension, or its own unfinished co-handling task — and nothing it has finished (处置完成, 已核查, 已评价)."""

from __future__ import annotations

from typing import Any

from pagekit import page, sign_in

from zhili.cases import tasks


def _department(site: Any) -> None:
    site.world.users["bumen"].department = "HW"
    site.db.flush()


def _dispatched(site: Any, description: str, **dispatch: Any) -> Any:
    case = site.report(description=description)
    site.act("zhihui", case, "accept")
    return site.act("zhihui", case, "dispatch", **(dispatch or {"department": "HW"}))


def test_the_inbox_lists_only_what_the_department_must_act_on(client: Any, site: Any) -> None:
    _department(site)
    new = _dispatched(site, "新派遣：垃圾堆放")
    handling = _dispatched(site, "处置中：垃圾桶破损")
    site.act("bumen", handling, "start")
    waiting = _dispatched(site, "延期中：垃圾站改造")
    site.act("bumen", waiting, "start")
    site.act("bumen", waiting, "request_extension", reason="需要采购配件", hours=16)
    co = _dispatched(site, "协办：河道垃圾", department="CG", co_departments=["HW"])
    done = {}
    for state in ("resolved", "verified", "rated"):
        case = _dispatched(site, f"已完成（{state}）：道路垃圾")
        site.act("bumen", case, "start")
        site.act("bumen", case, "resolve", result="已清运")
        if state in ("verified", "rated"):
            site.act("zhihui", case, "verify")
        if state == "rated":
            site.act("jumin", case, "rate", rating=5)
        done[state] = case
    sign_in(client, site.token("bumen"))
    text = page(client.get("/console/inbox")).text
    for case in (new, handling, waiting, co):
        assert case.number in text, case.description
    for state, case in done.items():
        assert case.number not in text, state
    assert "共 4 条" in text
    site.act("bumen", co, "complete_subtask", result="协办部分已完成")
    text = page(client.get("/console/inbox")).text
    assert co.number not in text and "共 3 条" in text  # its part done: no longer the department's to-do


def test_the_to_do_list_is_nearest_deadline_first_and_only_the_departments_own(site: Any) -> None:
    _department(site)
    first = _dispatched(site, "先派遣")
    second = _dispatched(site, "后派遣")
    _dispatched(site, "别的部门", department="CG")
    rows, total = tasks.department_tasks(site.db, principal=site.principal("bumen"))
    assert [c.id for c in rows] == [first.id, second.id] and total == 2
    assert tasks.department_tasks(site.db, principal=site.principal("zhihui")) == ([], 0)  # no department: none
