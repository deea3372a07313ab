"""The staff workbench (工作台, /console/home): every staff role but the auditor lands on its own board; every number
on it links to the list behind it and equals what that list holds for the same user; jurisdiction holds; the site
root, /home and the favicon; the main navigation per role."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pagekit import Page, page, sign_in
from sqlalchemy import update

from zhili.cases import service as cases
from zhili.cases import supervision
from zhili.cases.models import Case, CaseState, Channel
from zhili.cases.service import CaseFilter
from zhili.core.clock import local_midnight, today, utcnow
from zhili.core.security import Role
from zhili.org.service import list_departments
from zhili.users import admin as accounts
from zhili.users.models import User

STAFF_HOME = {"zhihui": "command_centre", "bumen": "department", "shequ1": "unit", "jiedao1": "unit",
              "lingdao": "leader", "admin": "admin"}
# the case list's query parameters (common to the workbench, the list page and its export)
LIST_PARAMS = {"number", "q", "category", "unit_id", "state", "channel", "since", "until", "overdue", "warning",
               "department", "sort", "page"}


# -- reading the page ---------------------------------------------------------------------------------------

def figures(p: Page) -> dict[str, tuple[Any, str]]:
    """The figures of a board: name → (number shown — a rate or an average as its text, link)."""
    out = {}
    for a in p.find_all("a"):
        name = a.attrs.get("data-figure")
        if name:
            nums = [c.text for c in a.children if c.attrs.get("class") == "wb-num"]
            shown = nums[0] if nums else re.findall(r"\d+", a.text)[-1]
            out[name] = (int(shown) if shown.isdigit() else shown, a.attrs["href"])
    return out


def filter_of(href: str) -> CaseFilter:
    """The case list's filter for a link to it (what /console/cases does with its query)."""
    parts = urlsplit(href)
    assert parts.path == "/console/cases", href
    q = parse_qs(parts.query)
    assert set(q) <= LIST_PARAMS, href
    one = {k: v[0] for k, v in q.items()}
    return CaseFilter(
        state=[CaseState(s) for s in q.get("state", [])] or None, category=one.get("category"),
        unit_id=uuid.UUID(one["unit_id"]) if "unit_id" in one else None,
        channel=Channel(one["channel"]) if "channel" in one else None,
        since=local_midnight(dt.date.fromisoformat(one["since"])) if "since" in one else None,
        until=local_midnight(dt.date.fromisoformat(one["until"]) + dt.timedelta(days=1)) if "until" in one else None,
        overdue={"1": True, "0": False}.get(one.get("overdue", "")), warning=one.get("warning"),
        keyword=one.get("q"), department=one.get("department"))


def listed(site: Any, who: str, href: str) -> int:
    """How many cases the list behind ``href`` holds for ``who``."""
    _, total, _ = cases.list_cases(site.db, principal=site.principal(who), filters=filter_of(href), page_size=1)
    return total


def assert_case_figures_match_their_lists(site: Any, who: str, figs: dict[str, tuple[Any, str]]) -> None:
    for name, (n, href) in figs.items():
        if href.startswith("/console/cases"):
            assert listed(site, who, href) == n, (who, name, href)


def board(client: Any, site: Any, who: str) -> Page:
    sign_in(client, site.token(who))
    r = client.get("/console/home")
    assert r.status_code == 200, r.text[:300]
    p = page(r)
    assert p.h1() == "工作台" and p.unlabelled_controls() == []
    return p


def _overdue(site: Any, case: Any, *, hours: int = 1) -> None:
    site.db.execute(update(Case).where(Case.id == case.id).values(
        overdue=True, warning_level="red", handle_due_at=utcnow() - dt.timedelta(hours=hours)))
    site.db.flush()


def _due_soon(site: Any, case: Any) -> None:
    site.db.execute(update(Case).where(Case.id == case.id).values(warning_level="yellow"))
    site.db.flush()


def _department(site: Any) -> str:
    dept = str(list_departments(site.db)[0].code)
    site.world.users["bumen"].department = dept
    site.db.flush()
    return dept


def _to_department(site: Any, dept: str, **report: Any) -> Any:
    case = site.report(**report)
    site.act("zhihui", case, "accept")
    return site.act("zhihui", case, "dispatch", department=dept)


IN_C2 = {"lon": 119.6, "lat": 31.1}  # 画溪村第1网格 (street s2), outside 金陵社区 and 雉城街道


# -- the site root, /home, the favicon ----------------------------------------------------------------------

@pytest.mark.parametrize(("who", "home"), [
    ("zhihui", "/console/home"), ("lingdao", "/console/home"), ("admin", "/console/home"), ("bumen", "/console/home"),
    ("shequ1", "/console/home"), ("jiedao1", "/console/home"), ("shenji", "/console/audit/"), ("jumin", "/h5/"),
    ("wangge_a", "/gw/")])
def test_the_root_and_home_send_each_role_to_its_home(client: Any, site: Any, who: str, home: str) -> None:
    sign_in(client, site.token(who))
    for path in ("/", "/home"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, home), path
    assert client.get("/login", follow_redirects=False).headers["location"] == home
    brand = page(client.get(home)).find("a", class_="brand") if who != "shenji" else None  # B builds the audit page
    assert brand is None or brand.attrs["href"] == home


def test_the_root_sends_a_visitor_to_the_login_page_and_answers_no_json(client: Any, site: Any) -> None:
    r = client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    sign_in(client, "not-a-session")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/api/v1/health").json()["status"] == "ok"  # what API clients read instead


def test_the_favicon_is_an_icon_cached_for_long_and_every_page_links_it(client: Any, site: Any) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    max_age = int(re.search(r"max-age=(\d+)", r.headers["cache-control"]).group(1))  # type: ignore[union-attr]
    assert "public" in r.headers["cache-control"] and max_age >= 7 * 24 * 3600
    sign_in(client, site.token("zhihui"))
    r = client.get("/favicon.ico")  # with the session cookie too: still cacheable
    assert "no-store" not in r.headers["cache-control"]
    for url in ("/login", "/console/home"):
        assert page(client.get(url)).find("link", rel="icon").attrs["href"] == "/favicon.ico"


# -- who gets a workbench -----------------------------------------------------------------------------------

def test_the_auditor_is_sent_to_the_audit_pages_and_the_portals_users_are_refused(client: Any, site: Any) -> None:
    sign_in(client, site.token("shenji"))
    r = client.get("/console/home", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/audit/")
    for who in ("jumin", "wangge_a"):
        sign_in(client, site.token(who))
        r = client.get("/console/home")
        assert r.status_code == 403 and "工作台供管理端工作人员使用" in page(r).text
    client.cookies.clear()
    assert client.get("/console/home", follow_redirects=False).headers["location"].startswith("/login")


# -- the command centre -------------------------------------------------------------------------------------

def test_the_command_centre_board_counts_todays_intake_queues_warnings_and_supervision(client: Any,
                                                                                      site: Any) -> None:
    waiting = site.report(description="小区门口垃圾堆放三天无人清运")
    patrol = site.report("wangge_a", description="路面破损需要修补")
    late = site.dispatched_to_grid(description="井盖缺失存在安全隐患")
    _overdue(site, late)
    soon = site.dispatched_to_grid(description="绿化带杂草丛生")
    _due_soon(site, soon)
    back = site.dispatched_to_grid(description="楼道堆放杂物")
    site.act("wangge_a", back, "return_case", reason="不属于本网格")
    old = site.report(description="昨天上报的路灯不亮")
    site.db.execute(update(Case).where(Case.id == old.id).values(
        reported_at=local_midnight(today()) - dt.timedelta(hours=2)))
    site.act("zhihui", late, "supervise", message="请今日内处置")

    p = board(client, site, "zhihui")
    figs = figures(p)
    assert figs["today"][0] == 5  # yesterday's report is not today's intake
    assert figs["today-grid_worker"][0] == 1 and figs["today-resident"][0] == 4
    assert "today-hotline" not in figs  # channels without a report today are left out
    assert figs["state-returned"][0] == 1 and figs["overdue"][0] == 1 and figs["due-soon"][0] == 1
    assert figs["overdue"][1] == ("/console/cases?state=reported&state=accepted&state=dispatched&state=in_progress"
                                  "&state=extension_requested&state=returned&state=escalated&state=resolved"
                                  "&state=verified&state=rated&overdue=1")
    assert figs["today"][1] == f"/console/cases?since={today().isoformat()}"
    assert figs["state-reported"][1] == "/console/cases?state=reported"
    assert_case_figures_match_their_lists(site, "zhihui", figs)
    # supervision orders: the number is the supervision list's total
    open_orders = supervision.list_open_supervisions(site.db, principal=site.principal("zhihui"),
                                                     filters=supervision.SupervisionFilter())[1]
    assert figs["supervisions"] == (open_orders, "/console/supervisions") and open_orders == 1
    assert figs["supervisions-mine"][1] == "/console/supervisions?mine=1"
    # the longest overdue case and the latest cases link to their pages
    assert p.find("a", href=f"/console/cases/{late.id}").text == late.number
    assert p.find("a", href=f"/console/cases/{waiting.id}").text == waiting.number
    assert patrol.number in p.text
    assert p.find("a", href="/console/", class_="btn-small").text == "去受理派遣"
    # the search box: by number or by text, both to the case list (the phone is searched there, by POST)
    searches = {f.attrs["aria-label"]: f for f in p.find_all("form") if f.attrs.get("action") == "/console/cases"}
    assert {f.attrs["method"] for f in searches.values()} == {"get"}
    names = {e.attrs["name"] for f in searches.values() for e in f.children if e.tag == "div"
             for e in e.children if e.tag == "input"}
    assert names == {"number", "q"}


# -- the department -----------------------------------------------------------------------------------------

def test_the_department_board_lists_its_tasks_by_deadline_the_sent_back_and_orders_to_answer(client: Any,
                                                                                             site: Any) -> None:
    dept = _department(site)
    later = _to_department(site, dept, description="道路积水影响通行")
    sooner = _to_department(site, dept, description="人行道护栏损坏")
    redo = _to_department(site, dept, description="垃圾清运不及时")
    site.act("bumen", redo, "start")
    site.act("bumen", redo, "resolve", result="已清运")
    site.act("zhihui", redo, "send_back", reason="现场仍有垃圾")
    now = utcnow()
    for case, hours in ((later, 48), (sooner, 2), (redo, 24)):
        site.db.execute(update(Case).where(Case.id == case.id).values(handle_due_at=now + dt.timedelta(hours=hours)))
    _overdue(site, later, hours=-48)  # flagged by the sweep (the deadline moved since)
    elsewhere = site.dispatched_to_grid(description="不是本部门的事件")
    site.act("zhihui", sooner, "supervise", message="请尽快处置")

    p = board(client, site, "bumen")
    figs = figures(p)
    assert figs["tasks"][0] == 3 and figs["overdue"][0] == 1
    assert figs["tasks"][1].startswith("/console/cases?state=dispatched&state=in_progress&state=extension_requested")
    assert f"department={dept}" in figs["tasks"][1]
    assert_case_figures_match_their_lists(site, "bumen", figs)
    order = supervision.list_open_supervisions(site.db, principal=site.principal("bumen"),
                                               filters=supervision.SupervisionFilter(addressed_to_me=True))[1]
    assert figs["supervisions-mine"] == (order, "/console/supervisions?mine=1") and order == 1
    tasks = p.find("section", **{"aria-labelledby": "wb-due-h"})
    numbers = [e.text for e in p.elements if e.tag == "a" and e.attrs.get("href", "").startswith("/console/cases/")
               and tasks in e.ancestors()]
    assert numbers == [sooner.number, redo.number, later.number]  # nearest deadline first
    sent_back = p.find("section", **{"aria-labelledby": "wb-back-h"})
    assert redo.number in sent_back.text and later.number not in sent_back.text
    assert elsewhere.number not in p.text
    assert p.find("a", href="/console/inbox", class_="btn-small").text == "打开部门待办"


# -- community and street -----------------------------------------------------------------------------------

def test_a_community_board_holds_only_its_own_units_cases_and_a_street_sees_escalations(client: Any,
                                                                                       site: Any) -> None:
    ours = site.dispatched_to_grid(description="金陵社区楼道堆物")
    _overdue(site, ours)
    escalated = site.dispatched_to_grid(description="需要街道协调的违章搭建")
    site.act("wangge_a", escalated, "escalate", reason="涉及多个部门，需街道协调")
    theirs = site.dispatched_to_grid("gc", description="画溪村河道漂浮物", **IN_C2)
    _overdue(site, theirs)

    p = board(client, site, "shequ1")
    figs = figures(p)
    assert "金陵社区" in p.text
    assert figs["overdue"][0] == 1 and figs["open"][0] == 2
    assert theirs.number not in p.text and ours.number in p.text
    assert_case_figures_match_their_lists(site, "shequ1", figs)
    assert sum(n for name, (n, _) in figs.items() if name.startswith("state-")) == 2  # by state: theirs is absent
    assert figs["visits"][1] == "/console/visits?period=month"
    assert figs["notices"][1] == "/console/participation/notices"

    p = board(client, site, "jiedao1")
    figs = figures(p)
    esc = p.find("section", **{"aria-labelledby": "wb-esc-h"})
    assert escalated.number in esc.text and ours.number not in esc.text
    assert theirs.number not in p.text
    assert_case_figures_match_their_lists(site, "jiedao1", figs)

    p = board(client, site, "jiedao2")
    figs = figures(p)
    assert figs["overdue"][0] == 1 and theirs.number in p.text and ours.number not in p.text
    assert_case_figures_match_their_lists(site, "jiedao2", figs)


def test_the_visits_figure_is_the_households_visited_this_month(client: Any, site: Any) -> None:
    from zhili.visits import service as visits

    homes = [site.household_in("ga", room=str(700 + i)) for i in range(3)]
    worker = site.principal("wangge_a")
    visits.record_visit(site.db, principal=worker, household_id=homes[0].id, kind="routine", summary="日常走访")
    site.db.flush()
    p = board(client, site, "shequ1")
    assert figures(p)["visits"][0] == 1
    assert "已走访 1 户，共 3 户（33.3%）" in p.text
    cov = visits.period_coverage(site.db, principal=site.principal("shequ1"), period="month")
    assert (cov["visited"], cov["households"]) == (1, 3)


# -- the leader ---------------------------------------------------------------------------------------------

def test_the_leader_board_shows_the_areas_kpis_each_linked_to_its_cases(client: Any, site: Any) -> None:
    done = site.resolved(description="已办结的路灯维修")
    site.act("zhihui", done, "verify")
    site.act("zhihui", done, "close")
    late = site.dispatched_to_grid(description="超期未处置的井盖")
    _overdue(site, late)
    site.report(description="刚刚上报的占道经营", **IN_C2)

    p = board(client, site, "lingdao")
    figs = figures(p)
    assert (figs["reported-today"][0], figs["reported"][0], figs["closed"][0]) == (3, 3, 1)
    assert (figs["open"][0], figs["overdue"][0]) == (2, 1)
    assert figs["on-time"][1] == "/screen" and figs["satisfaction"][1] == "/screen"
    assert_case_figures_match_their_lists(site, "lingdao", figs)
    streets = {name: n for name, (n, _) in figs.items() if name.startswith("reported-") and name != "reported-today"}
    assert sorted(streets.values()) == [1, 2]  # 雉城街道 2, 画溪街道 1
    assert p.find("a", href="/screen", class_="btn btn-primary").text == "打开指挥大屏"


# -- the administrator --------------------------------------------------------------------------------------

def test_the_admin_board_counts_accounts_lists_config_changes_and_shows_health(client: Any, site: Any) -> None:
    from zhili.cases import taxonomy
    from zhili.worktime import service as worktime

    site.db.execute(update(User).where(User.username == "wangge_b").values(
        locked_until=utcnow() + dt.timedelta(minutes=30)))
    admin = site.principal("admin")
    site.world.users["admin"].display_name = "王管理"
    site.db.flush()
    taxonomy.update_category(site.db, principal=admin, code="SJ-0102", changes={"name": "暴露垃圾（已调整）"})
    worktime.set_override(site.db, principal=admin, day=dt.date(today().year, 12, 31), is_workday=False,
                          name="年终盘点休息")
    site.db.flush()

    p = board(client, site, "admin")
    figs = figures(p)
    total = accounts.search_users(site.db, principal=admin, filters=accounts.UserFilter())[1]
    assert figs["users"] == (total, "/console/admin/users") and total == len(site.world.users)
    assert figs["locked"] == (1, "/console/admin/users?status=locked")
    assert figs["role-street_staff"] == (2, "/console/admin/users?role=street_staff")
    assert "role-" + Role.auditor.value in figs
    changes = p.find("section", **{"aria-labelledby": "wb-changes-h"})
    assert "事件分类：暴露垃圾（已调整） 第 2 版 王管理" in " ".join(changes.text.split())
    assert "工作日历：年终盘点休息" in changes.text
    assert p.find("a", href="/console/admin/categories/SJ-0102") is not None
    health = {" ".join(r.children[0].text.split()): " ".join(r.children[1].text.split())
              for r in p.find_all("tr") if r.attrs.get("class", "").startswith("health-")}
    assert health["数据库"] == "正常 SQLite 可连接" or health["数据库"] == "正常 PostgreSQL 可连接"
    assert health["数据库结构"].startswith("正常 已是最新版本")
    assert set(health) == {"数据库", "数据库结构", "密钥", "加密算法", "工作日历", "期限扫描（预警与督办）"}


# -- what every board shows: names, never codes ---------------------------------------------------------------

SNAKE = re.compile(r"(?<![A-Za-z0-9_])[a-z]+_[a-z_]+(?![A-Za-z0-9_])")


@pytest.mark.parametrize("who", sorted(STAFF_HOME))
def test_no_board_shows_a_code_or_an_identifier(client: Any, site: Any, who: str) -> None:
    dept = _department(site)
    _to_department(site, dept)
    site.dispatched_to_grid()
    p = board(client, site, who)
    assert not SNAKE.findall(p.text), SNAKE.findall(p.text)
    codes = [d.code for d in list_departments(site.db)]
    shown = [c for c in codes if re.search(rf"(?<![A-Za-z0-9]){re.escape(c)}(?![A-Za-z0-9])", p.text)]
    assert shown == [] and "system" not in p.text


# -- the main navigation ------------------------------------------------------------------------------------

def _nav(client: Any, site: Any, who: str, url: str) -> list[tuple[str, str]]:
    sign_in(client, site.token(who))
    p = page(client.get(url))
    nav = p.find("nav")
    return [(a.attrs["href"], " ".join(a.text.split())) for a in p.elements if a.tag == "a" and nav in a.ancestors()]


@pytest.mark.parametrize("who", ["zhihui", "jiedao1", "shequ1", "lingdao", "bumen"])
def test_case_reading_staff_get_the_workbench_first_and_case_search(client: Any, site: Any, who: str) -> None:
    items = _nav(client, site, who, "/console/home")
    assert items[0] == ("/console/home", "工作台") and items[1] == ("/console/cases", "案件查询")
    assert "/console/audit/" not in dict(items)


def test_the_admin_gets_the_workbench_but_no_case_search_and_the_auditor_only_the_audit(client: Any,
                                                                                       site: Any) -> None:
    items = _nav(client, site, "admin", "/console/home")
    assert items[0] == ("/console/home", "工作台") and "/console/cases" not in dict(items)
    sign_in(client, site.token("shenji"))
    items = _nav(client, site, "shenji", "/account/password")
    assert items == [("/console/audit/", "审计")]


def test_the_current_page_is_marked_in_the_navigation(client: Any, site: Any) -> None:
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/home"))
    assert p.find("a", href="/console/home", **{"aria-current": "page"}).text == "工作台"
