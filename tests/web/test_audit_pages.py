"""The auditor's pages (/console/audit/): the log and its filters, one event's recorded values, the reveals and
exports with their reasons, failed logins and lockouts, the chain verification and its anchors — read-only, the
auditor alone, and never a personal number in clear."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from pagekit import page, sign_in
from sqlalchemy import select, text, update

from zhili.core import audit
from zhili.core.audit import Actor, AuditEvent
from zhili.core.clock import today
from zhili.core.settings import get_settings
from zhili.registry import excel
from zhili.registry import service as registry
from zhili.registry.models import RegisterKind
from zhili.web import auditview, i18n

PAGES = ("/console/audit/", "/console/audit/reveals", "/console/audit/logins", "/console/audit/verify")
ID_NUMBER, PHONE = "330522198506150017", "13912345678"
SRC = Path(__file__).resolve().parents[2] / "src" / "zhili"


def actor(site: Any, who: str) -> Actor:
    u = site.world.users[who]
    return Actor(id=u.id, name=u.username, role=u.role.value, ip="10.1.2.3")


def seqs(p: Any) -> list[int]:
    """The events listed on a page, in order (by their detail links)."""
    return [int(m) for m in re.findall(r'href="/console/audit/events/(\d+)"', p.html)]


def row_of(p: Any, seq: int) -> str:
    """The text of the list row of event ``seq``."""
    link = p.find("a", href=f"/console/audit/events/{seq}")
    return " ".join(next(a for a in link.ancestors() if a.tag == "tr").text.split())


def get(client: Any, url: str, **params: Any) -> Any:
    r = client.get(url, params=params or None)
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    return page(r)


def disable_guard(db: Any) -> None:
    """Lift the append-only guard inside the test transaction (as tests/core/test_audit.py does)."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("DROP TRIGGER audit_event_no_update"))
        db.execute(text("DROP TRIGGER audit_event_no_delete"))
    else:
        db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))


# -- who may open them ------------------------------------------------------------------------------------------

def test_the_auditor_opens_every_page_and_they_only_read(client: Any, site: Any) -> None:
    sign_in(client, site.token("shenji"))
    for url in PAGES:
        p = get(client, url)
        assert p.unlabelled_controls() == [], url
        assert not any(s.text.strip() for s in p.find_all("script")), "no inline script"
        tabs = {a.attrs["href"] for a in p.find_all("a") if any("console-tabs" in x.attrs.get("class", "")
                                                                for x in a.ancestors())}
        assert tabs == set(PAGES)
        posting = [f.attrs.get("action") for f in p.find_all("form") if f.attrs.get("method") == "post"]
        # the frame's logout and language forms, and on the verification page its one button: nothing else writes
        assert set(posting) <= {"/logout", "/locale", "/console/audit/verify"}, (url, posting)
        assert ("/console/audit/verify" in posting) == (url == "/console/audit/verify")
        for form in p.find_all("form"):
            if form.attrs.get("method") == "post":
                assert any(e.attrs.get("name") == "csrf_token" for e in p.elements if form in e.ancestors())


@pytest.mark.parametrize("who", ["admin", "zhihui", "lingdao", "jiedao1", "shequ1", "bumen", "wangge_a", "jumin"])
def test_every_other_role_gets_the_403_page_and_cannot_run_the_verification(client: Any, site: Any,
                                                                            who: str) -> None:
    sign_in(client, site.token(who))
    for url in (*PAGES, "/console/audit/events/1"):
        r = client.get(url)
        assert r.status_code == 403, (who, url, r.status_code)
        assert page(r).h1() == "没有权限" and "只有审计员" in page(r).text
    token = page(client.get("/console/audit/")).csrf()
    before = site.db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    assert client.post("/console/audit/verify", data={"csrf_token": token}).status_code == 403
    assert site.db.scalars(select(AuditEvent).where(AuditEvent.seq > (before or 0),
                                                    AuditEvent.action == "audit.verify")).first() is None


def test_signed_out_visitors_are_sent_to_the_login_page(client: Any, site: Any) -> None:
    r = client.get("/console/audit/reveals", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


# -- the log --------------------------------------------------------------------------------------------------------

@pytest.fixture
def logged(site: Any) -> dict[str, Any]:
    """Events by staff of two streets and on a case lying in the first street's grid ga."""
    case = site.report("jumin")  # case.report by a resident (bound to no unit), the case lies in grid ga
    out = {
        "case": case,
        "case_events": list(site.db.scalars(select(AuditEvent.seq).where(AuditEvent.object_id == str(case.id)))),
        "grid": audit.record(site.db, actor=actor(site, "wangge_a"), action="person.update", object_type="person",
                             object_id="p-1", before={"care_tags": ["elderly_alone"]}, after={"care_tags": []}),
        "street2": audit.record(site.db, actor=actor(site, "jiedao2"), action="building.create",
                                object_type="building", object_id="b-2", after={"name": "画溪3幢"}),
        "rule": audit.record(site.db, actor=actor(site, "zhihui"), action="dispatch_rule.update",
                             object_type="dispatch_rule", object_id="r-1", before={"enabled": True},
                             after={"enabled": False}, reason="规则停用"),
    }
    site.db.flush()
    assert out["case_events"]
    return out


def test_the_log_lists_newest_first_with_names_not_codes(client: Any, site: Any, logged: dict[str, Any]) -> None:
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/")
    listed = seqs(p)
    assert listed == sorted(listed, reverse=True) and logged["rule"].seq in listed
    cells = row_of(p, logged["rule"].seq)
    assert "修改派单规则" in cells and "指挥中心" in cells and "zhihui" in cells and "规则停用" in cells
    assert "10.1.2.3" in cells and "dispatch_rule" not in cells and "command_centre" not in cells
    case_row = row_of(p, logged["case_events"][0])
    assert logged["case"].number in case_row and "上报事件" in case_row and "居民" in case_row


def test_the_log_filters_by_actor_action_target_time_and_unit(client: Any, site: Any,
                                                             logged: dict[str, Any]) -> None:
    sign_in(client, site.token("shenji"))
    grid, street2, rule = logged["grid"].seq, logged["street2"].seq, logged["rule"].seq
    case_events = set(logged["case_events"])

    assert set(seqs(get(client, "/console/audit/", actor="wangge_a"))) == {grid}
    assert set(seqs(get(client, "/console/audit/", action="building.create"))) == {street2}
    by_number = get(client, "/console/audit/", target=logged["case"].number)
    assert set(seqs(by_number)) == case_events
    assert set(seqs(get(client, "/console/audit/", target_type="person", target="p-1"))) == {grid}
    assert set(seqs(get(client, "/console/audit/", target_type="building"))) == {street2}

    day = today()
    assert {grid, street2, rule} <= set(seqs(get(client, "/console/audit/", since=day.isoformat(),
                                                  until=day.isoformat())))
    assert seqs(get(client, "/console/audit/", since=(day + dt.timedelta(days=1)).isoformat())) == []
    assert seqs(get(client, "/console/audit/", until=(day - dt.timedelta(days=1)).isoformat())) == []

    units = site.world.units
    in_c1 = set(seqs(get(client, "/console/audit/", unit=units["c1"].path)))
    assert grid in in_c1 and case_events <= in_c1  # a grid worker of c1, and a case lying in c1 (filed by a resident)
    assert street2 not in in_c1 and rule not in in_c1
    in_s2 = set(seqs(get(client, "/console/audit/", unit=units["s2"].path)))
    assert street2 in in_s2 and grid not in in_s2 and not case_events & in_s2
    # filters combine
    assert set(seqs(get(client, "/console/audit/", unit=units["s1"].path, action="building.create"))) == set()


def test_a_filter_that_cannot_be_used_is_said_and_ignored(client: Any, site: Any, logged: dict[str, Any]) -> None:
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/", since="2026-13-45", actor="wangge_a")
    assert "“开始日期”应为有效日期" in p.find(role="alert").text
    assert set(seqs(p)) == {logged["grid"].seq}  # the other filters still apply
    p = get(client, "/console/audit/", since="2026-05-02", until="2026-05-01")
    assert "开始日期不能晚于结束日期" in p.text
    p = get(client, "/console/audit/", actor=PHONE)  # a phone never searched from a URL, never echoed
    assert "不能作为筛选条件" in p.text and PHONE not in p.html
    assert get(client, "/console/audit/", action="no.such").find(role="alert")


def test_the_log_pages_through_and_keeps_its_filters(client: Any, site: Any) -> None:
    who = actor(site, "wangge_b")
    made = [audit.record(site.db, actor=who, action="visit.create", object_type="visit", object_id=f"v{i}").seq
            for i in range(53)]
    site.db.flush()
    sign_in(client, site.token("shenji"))
    first = get(client, "/console/audit/", actor="wangge_b")
    assert seqs(first) == sorted(made, reverse=True)[:50] and "共 53 条" in first.text
    nxt = first.find("a", rel="next").attrs["href"]
    assert "actor=wangge_b" in nxt and "page=2" in nxt
    assert seqs(page(client.get("/console/audit/" + nxt))) == sorted(made, reverse=True)[50:]


def test_one_event_shows_its_values_as_named_fields_and_its_own_hash_check(client: Any, site: Any) -> None:
    ev = audit.record(site.db, actor=actor(site, "admin"), action="user.update", object_type="user",
                      object_id=site.world.users["wangge_a"].id, before={"role": "grid_worker", "is_active": True},
                      after={"role": "community_staff", "is_active": False, "department": "CG"})
    site.db.flush()
    sign_in(client, site.token("shenji"))
    p = get(client, f"/console/audit/events/{ev.seq}")
    rows = {tuple(" ".join(c.text.split()) for c in tr.children if c.tag in ("th", "td")) for tr in p.find_all("tr")}
    assert ("角色", "网格员", "社区工作人员") in rows and ("启用", "是", "否") in rows
    assert ("部门", "", "县综合行政执法局") in rows  # the department's name, not its code
    assert "修改账号" in p.text and "账号 wangge_a" in p.text and "内容与哈希一致" in p.text
    assert "grid_worker" not in p.text and "community_staff" not in p.text
    assert client.get("/console/audit/events/999999999").status_code == 404


def test_the_log_names_what_each_event_is_about(client: Any, site: Any) -> None:
    from zhili.cases.taxonomy import get_current_category
    from zhili.visits import service as visits
    from zhili.visits.models import VisitKind

    household = site.household_in("ga", room="702", address="金陵路8号3幢")
    person = site.person_in("ga", name="赵小明", household=household)
    visit = visits.record_visit(site.db, principal=site.principal("wangge_a"), household_id=household.id,
                                kind=VisitKind.routine, summary="走访独居老人")
    who = actor(site, "admin")
    unit = audit.record(site.db, actor=who, action="unit.update", object_type="unit",
                        object_id=site.world.units["c1"].id)
    category = audit.record(site.db, actor=who, action="category.update", object_type="category",
                            object_id="SJ-0102")
    gone = audit.record(site.db, actor=who, action="building.delete", object_type="building",
                        object_id="0190aaaa-bbbb-7ccc-8ddd-eeeeffff0001")
    site.db.flush()
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/")

    def target(seq: int) -> str:
        link = p.find("a", href=f"/console/audit/events/{seq}")
        cells = next(a for a in link.ancestors() if a.tag == "tr").children
        return " ".join([c for c in cells if c.tag == "td"][3].text.split())

    by_object = {ev.object_id: ev.seq for ev in site.db.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["household.create", "person.create", "visit.create"])))}
    assert target(by_object[str(household.id)]) == "房屋 金陵路8号3幢702室"
    assert target(by_object[str(person.id)]) == "人员 赵**"
    assert target(by_object[str(visit.id)]) == "走访 金陵路8号3幢702室"
    assert target(unit.seq) == "区划单位 金陵社区"
    assert target(category.seq) == f"事件分类 {get_current_category(site.db, code='SJ-0102').name}"
    assert target(gone.seq) == "楼栋 …ffff0001"
    assert "赵小明" not in p.html
    # each target links to the log of that object alone
    href = p.find("a", title="只看该对象的记录", href=f"/console/audit/?target_type=person&target={person.id}")
    assert set(seqs(page(client.get(href.attrs["href"])))) == {by_object[str(person.id)]}


# -- reveals and exports --------------------------------------------------------------------------------------------

def test_a_reveal_with_its_reason_and_an_export_are_on_the_reveals_page(client: Any, site: Any) -> None:
    person = site.person_in("ga", name="王芳", phone=PHONE)
    registry.reveal_person(site.db, principal=site.principal("zhihui"), person_id=person.id, reason="电话回访核实身份")
    excel.export_workbook(site.db, principal=site.principal("shequ1"), kind=RegisterKind.persons,
                          filters={"phone": PHONE})
    site.db.flush()
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/reveals")
    reveal = next(tr for tr in p.find_all("tr") if "电话回访核实身份" in tr.text)
    text_ = " ".join(reveal.text.split())
    assert "查看完整个人信息" in text_ and "zhihui" in text_ and "指挥中心" in text_ and "人员 王*" in text_
    assert "身份证号、手机号" in text_  # what was shown
    export = next(tr for tr in p.find_all("tr") if "导出基础数据" in tr.text)
    assert "人员名册" in export.text and "1 行" in export.text and "未填写" in export.text
    assert "王芳" not in p.text and PHONE not in p.html

    only_exports = get(client, "/console/audit/reveals", kind="export")
    assert "导出基础数据" in only_exports.text and "电话回访核实身份" not in only_exports.text
    only_reveals = get(client, "/console/audit/reveals", kind="reveal", actor="zhihui")
    assert "电话回访核实身份" in only_reveals.text and "导出基础数据" not in only_reveals.text
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    assert seqs(get(client, "/console/audit/reveals", since=tomorrow)) == []


def test_a_refused_reveal_is_listed_as_refused_with_why(client: Any, site: Any) -> None:
    person = site.person_in("ga")
    with pytest.raises(Exception, match="查看事由"):
        registry.reveal_person(site.db, principal=site.principal("zhihui"), person_id=person.id, reason="x")
    site.db.flush()
    sign_in(client, site.token("shenji"))
    row = next(tr for tr in get(client, "/console/audit/reveals").find_all("tr") if "被拒绝" in tr.text)
    assert "未填写查看事由" in row.text and "reason_required" not in row.text


# -- logins ---------------------------------------------------------------------------------------------------------

def _login(client: Any, username: str, password: str = "wrong-Password-1") -> int:
    client.cookies.clear()
    form = page(client.get("/login"))
    return int(client.post("/login", data={"csrf_token": form.csrf(), "username": username, "password": password},
                           follow_redirects=False).status_code)


def test_failed_logins_and_a_lockout_are_on_the_logins_page(client: Any, site: Any) -> None:
    assert _login(client, "wangge_b") == 401
    assert _login(client, PHONE) == 401  # an unknown account typed as a phone number
    for _ in range(get_settings().login_max_failures - 1):
        _login(client, "bumen")
    assert _login(client, "bumen") == 423
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/logins")
    events = " ".join(p.text.split())
    assert "登录失败" in events and "密码错误" in events and "账号被锁定" in events
    assert "用户名不存在" in events and "139****5678" in events and PHONE not in p.html
    accounts = {cells[0]: cells for cells in (
        tuple(" ".join(c.text.split()) for c in tr.children if c.tag == "td") for tr in p.find_all("tr")
        if any(a.tag == "table" and "锁定至" in a.text for a in tr.ancestors())) if cells}
    assert accounts["bumen"][2:4] == ("职能部门", "已锁定") and accounts["bumen"][5] != "—"
    assert accounts["wangge_b"][3:6] == ("有失败记录", "1", "—")

    mine = get(client, "/console/audit/logins", account="wangge_b")
    assert "wangge_b" in mine.text and "bumen" not in mine.text and len(seqs(mine)) == 1


# -- verification ---------------------------------------------------------------------------------------------------

def test_verification_shows_intact_then_the_broken_event_after_a_tampered_row(client: Any, site: Any) -> None:
    ev = audit.record(site.db, actor=actor(site, "wangge_a"), action="person.update", object_type="person",
                      object_id="p-9", after={"name": "张三"})
    audit.anchor(site.db)
    site.db.flush()
    sign_in(client, site.token("shenji"))
    p = get(client, "/console/audit/verify")
    assert "锚点" in p.text and ev.hash[:16] in p.text
    r = client.post("/console/audit/verify", data={"csrf_token": p.csrf()})
    assert r.status_code == 200
    result = page(r).find(id="verify-result")
    assert "审计链完整，校验通过" in result.text and "未通过" not in result.text
    done = site.db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify")
                           .order_by(AuditEvent.seq.desc())).first()
    assert done is not None and done.actor_name == "shenji" and done.after["ok"] is True
    form = get(client, "/console/audit/verify").find("form", action="/console/audit/verify")
    assert "上次校验" in form.text and "shenji" in form.text and "通过" in form.text, form.text

    disable_guard(site.db)
    site.db.execute(update(AuditEvent).where(AuditEvent.seq == ev.seq).values(after={"name": "李四"}))
    site.db.commit()
    r = client.post("/console/audit/verify", data={"csrf_token": p.csrf()})
    result = page(r).find(id="verify-result")
    assert "审计链已被破坏" in result.text and f"序号 {ev.seq}" in result.text and "篡改" in result.text
    page(r).find("a", href=f"/console/audit/events/{ev.seq}")  # the first broken event, one click away
    assert "内容与哈希不符" in get(client, f"/console/audit/events/{ev.seq}").text


# -- no personal data in clear --------------------------------------------------------------------------------------

def test_no_full_id_number_or_phone_appears_on_any_audit_page(client: Any, site: Any) -> None:
    person = site.person_in("ga", name="王芳", phone=PHONE)
    worker = actor(site, "wangge_a")
    recorded = [
        audit.record(site.db, actor=worker, action="person.update", object_type="person", object_id=person.id,
                     before={"id_number": ID_NUMBER, "phone": PHONE, "name": "王芳"},
                     after={"id_number": "110105199001011234", "contact_phone": "0572-6012345",
                            "note": f"本人电话 {PHONE}，身份证 {ID_NUMBER}", "members": [{"phone": PHONE}]},
                     reason=f"核对 {PHONE}"),
        audit.record(site.db, actor=Actor(name=PHONE, role=None, ip="10.0.0.9"), action="auth.login_failed",
                     object_type="user", after={"username": PHONE}),
        audit.record(site.db, actor=worker, action="person.reveal", object_type="person", object_id=person.id,
                     reason=f"回访 {PHONE}", after={"fields": ["id_number", "phone"]}),
        audit.record(site.db, actor=worker, action="made.up_action", object_type=ID_NUMBER, object_id=PHONE),
    ]
    site.db.flush()
    sign_in(client, site.token("shenji"))
    urls = [*PAGES, *(f"/console/audit/events/{e.seq}" for e in recorded)]
    for url in urls:
        html = client.get(url).text
        for secret in (ID_NUMBER, PHONE, "110105199001011234", "0572-6012345", "王芳"):
            assert secret not in html, (url, secret)
    detail = get(client, f"/console/audit/events/{recorded[0].seq}")
    assert "3305**********0017" in detail.text and "139****5678" in detail.text and "王*" in detail.text
    odd = get(client, f"/console/audit/events/{recorded[3].seq}")
    assert "未登记的操作（made.up_action）" in odd.text


def test_the_pages_speak_english_when_asked(client: Any, site: Any, logged: dict[str, Any]) -> None:
    sign_in(client, site.token("shenji"))
    client.cookies.set("zhili_lang", "en")
    for url, heading in zip(PAGES, ("Audit log", "Reveals and exports", "Failed logins and lockouts",
                                    "Chain verification"), strict=True):
        assert get(client, url).h1() == heading
    assert "Dispatch rule changed" in row_of(get(client, "/console/audit/"), logged["rule"].seq)


# -- one name for every action --------------------------------------------------------------------------------------

def _recorded_actions() -> set[str]:
    """Every literal action the sources record (audit.record / audit.Entry / intake's entries)."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        found |= set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', path.read_text(encoding="utf-8")))
    return found


def test_every_action_the_code_records_has_a_chinese_name() -> None:
    actions = _recorded_actions()
    assert {"person.reveal", "auth.login_failed", "registry.export", "case.export"} <= actions
    dynamic = {"person.reveal_refused", "case.reveal_refused", "participation.sms_refused",
               "case.supervision_yellow", "case.supervision_red", "case.supervision_escalation"}
    from zhili.cases.workflow import TRANSITIONS

    steps = {f"case.{t.action}" for t in TRANSITIONS}
    for code in sorted(actions | dynamic | steps):
        name = auditview.action_name("zh-CN", code)
        assert "未登记" not in name and not re.search(r"[a-z]", name), (code, name)
    assert auditview.action_name("zh-CN", "case.dispatch") == "派遣"
    assert auditview.action_name("zh-CN", "person.reveal") == "查看完整个人信息"
    assert auditview.action_name("zh-CN", "x.y") == "未登记的操作（x.y）"
    assert i18n.has("audit.object.case") and auditview.object_name("zh-CN", "dispatch_rule") == "派单规则"
