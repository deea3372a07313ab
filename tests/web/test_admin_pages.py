"""Staff-console configuration and admin pages: the taxonomy editor, the responsibility-list rule editor with its
test box, user and role management, the supervision list and the holiday-calendar overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pagekit import page, sign_in
from sqlalchemy import select

from zhili.cases.models import Category, DispatchRule, Supervision
from zhili.core.audit import AuditEvent
from zhili.core.db import utcnow
from zhili.users.models import AuthSession, User

PAGES = {
    "/console/admin/": ({"admin", "zhihui"}, {"jiedao1", "shenji", "bumen", "lingdao", "wangge_a"}),
    "/console/admin/categories": ({"admin", "zhihui"}, {"jiedao1", "shequ1", "shenji", "bumen", "lingdao", "jumin"}),
    "/console/admin/rules": ({"admin", "zhihui"}, {"jiedao1", "shenji", "bumen", "lingdao", "wangge_a"}),
    "/console/admin/calendar": ({"admin", "zhihui"}, {"jiedao2", "shenji", "bumen", "lingdao", "wangge_b"}),
    "/console/admin/users": ({"admin"}, {"zhihui", "shenji", "jiedao1", "shequ1", "lingdao", "bumen"}),
    "/console/supervisions": ({"bumen", "shequ1", "jiedao1", "zhihui", "lingdao"},
                              {"admin", "shenji", "wangge_a", "jumin"}),
}


def _audits(site: Any, action: str, object_id: Any = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == str(object_id))
    return list(site.db.scalars(stmt))


def _csrf(client: Any, url: str) -> str:
    return page(client.get(url)).csrf()


# -- who may open what --------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", list(PAGES))
def test_each_page_renders_for_its_roles_and_is_a_chinese_403_page_for_the_others(client: Any, site: Any,
                                                                                 url: str) -> None:
    allowed, refused = PAGES[url]
    for who in sorted(allowed):
        sign_in(client, site.token(who))
        r = client.get(url)
        assert r.status_code == 200, (who, r.status_code)
        p = page(r)
        assert p.unlabelled_controls() == [], who
        assert not any(s.text.strip() for s in p.find_all("script")), "no inline script"
        for form in p.find_all("form"):
            if form.attrs.get("method") == "post":
                assert any(e.attrs.get("name") == "csrf_token" for e in p.elements
                           if form in e.ancestors()), f"{who}: a form without the CSRF token on {url}"
    for who in sorted(refused):
        sign_in(client, site.token(who))
        r = client.get(url)
        assert r.status_code == 403, (who, r.status_code)
        assert page(r).h1() == "没有权限"


def test_the_auditor_is_refused_account_management_and_its_actions(client: Any, site: Any) -> None:
    target = site.world.users["wangge_a"]
    sign_in(client, site.token("shenji"))
    r = client.get("/console/supervisions")  # even the 403 page carries the session-bound token (logout form)
    csrf = page(r).csrf()
    for path in ("", "/password", "/unlock", "/sessions", "/active"):
        r = client.post(f"/console/admin/users/{target.id}{path}", data={"csrf_token": csrf, "active": "0",
                                                                          "display_name": "x", "role": "admin"})
        assert r.status_code == 403, path
    site.db.refresh(target)
    assert target.is_active and target.role.value == "grid_worker"


def test_the_main_navigation_offers_configuration_to_admins_and_supervision_to_staff(client: Any,
                                                                                    site: Any) -> None:
    def nav(who: str) -> set[str]:
        sign_in(client, site.token(who))
        p = page(client.get("/console/supervisions" if who != "admin" else "/console/admin/"))
        return {a.attrs["href"] for a in p.find_all("a") if any(x.tag == "nav" and x.attrs.get("class") == "mainnav"
                                                                  for x in a.ancestors())}

    assert "/console/admin/" in nav("admin") and "/console/supervisions" not in nav("admin")
    assert {"/console/admin/", "/console/supervisions"} <= nav("zhihui")
    assert "/console/supervisions" in nav("jiedao1") and "/console/admin/" not in nav("jiedao1")
    assert "/console/supervisions" in nav("bumen")


# -- taxonomy -----------------------------------------------------------------------------------------------

def test_a_new_category_appears_in_the_tree_under_its_group_and_is_audited(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    form = page(client.get("/console/admin/categories/new?parent=SJ-01"))
    assert form.find("select", name="parent_code").children  # the parent is preselected from the link
    r = client.post("/console/admin/categories", data={
        "csrf_token": form.csrf(), "code": "SJ-0199", "name": "共享单车乱停放", "parent_code": "SJ-01",
        "default_department": "CG", "accept_hours": "1", "handle_hours": "8", "verify_hours": "4",
        "time_mode": "working", "urgency": "normal", "keywords": "单车、乱停", "description": ""},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/admin/categories/SJ-0199?msg=admin_saved"
    cat = site.db.scalar(select(Category).where(Category.code == "SJ-0199"))
    assert cat is not None and cat.parent_code == "SJ-01" and cat.keywords == ["单车", "乱停"]
    assert cat.handle_hours == 8.0 and cat.default_department == "CG"
    assert _audits(site, "category.create", "SJ-0199")
    tree = page(client.get("/console/admin/categories?q=单车"))
    groups = [d for d in tree.find_all("section") if "cat-group-card" in d.attrs.get("class", "")]
    assert len(groups) == 1 and "共享单车乱停放" in groups[0].text


def test_editing_a_category_makes_a_new_version_and_cases_keep_the_old_one(client: Any, site: Any) -> None:
    case = site.report(category="SJ-0102")
    old = site.db.get(Category, case.category_id)
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/admin/categories/SJ-0102"))
    values = {e.attrs["name"]: e.attrs.get("value", "") for e in p.find_all("input") if e.attrs.get("name")}
    values.update({"csrf_token": p.csrf(), "handle_hours": "12", "time_mode": "working", "urgency": "urgent",
                   "default_department": old.default_department or "", "is_active": "1",
                   "description": old.description or ""})
    r = client.post("/console/admin/categories/SJ-0102", data=values, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("msg=admin_saved")
    current = site.db.scalar(select(Category).where(Category.code == "SJ-0102", Category.is_current.is_(True)))
    assert current.version == old.version + 1 and current.handle_hours == 12.0
    site.db.refresh(case)
    assert case.category_id == old.id  # the case keeps the version it was filed under
    audit = _audits(site, "category.update", "SJ-0102")
    assert audit and audit[-1].after["handle_hours"] == 12.0
    history = page(client.get("/console/admin/categories/SJ-0102"))
    rows = history.find("section", **{"aria-labelledby": "hist-h"}).text
    assert f"v{old.version + 1}" in rows and f"v{old.version}" in rows
    # saving the same values again creates no version
    r = client.post("/console/admin/categories/SJ-0102", data=values, follow_redirects=False)
    assert r.headers["location"].endswith("msg=admin_unchanged")


def test_retiring_a_category_keeps_it_in_the_tree_but_stops_reports(client: Any, site: Any) -> None:
    from zhili.cases.taxonomy import reportable_category
    from zhili.core.errors import ValidationFailed

    sign_in(client, site.token("admin"))
    p = page(client.get("/console/admin/categories/SJ-0102"))
    values = {e.attrs["name"]: e.attrs.get("value", "") for e in p.find_all("input")
              if e.attrs.get("name") and e.attrs.get("type") != "radio"}
    cat = site.db.scalar(select(Category).where(Category.code == "SJ-0102", Category.is_current.is_(True)))
    values.update(csrf_token=p.csrf(), is_active="0", time_mode=cat.time_mode, urgency=cat.urgency.value,
                  default_department=cat.default_department or "", description=cat.description or "")
    client.post("/console/admin/categories/SJ-0102", data=values)
    with pytest.raises(ValidationFailed):
        reportable_category(site.db, code="SJ-0102")
    tree = page(client.get("/console/admin/categories?q=SJ-0102"))
    assert "已停用" in tree.text
    assert "SJ-0102" not in page(client.get("/console/admin/categories?q=SJ-0102&active_only=true")).text


def test_a_refused_category_form_keeps_the_input_and_explains_in_chinese(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    token = _csrf(client, "/console/admin/categories/new")
    r = client.post("/console/admin/categories", data={
        "csrf_token": token, "code": "SJ-0198", "name": "夜间施工噪音扰民", "parent_code": "SJ-01",
        "accept_hours": "两小时", "handle_hours": "8", "verify_hours": "4", "time_mode": "working",
        "urgency": "normal", "keywords": "噪音", "description": "说明文字"})
    assert r.status_code == 422
    p = page(r)
    assert "“受理时限”应为数字" in p.find("div", id="form-error").text
    assert p.find("input", name="name").attrs["value"] == "夜间施工噪音扰民"
    assert p.find("input", name="code").attrs["value"] == "SJ-0198"
    assert p.find("textarea", name="description").text == "说明文字"
    r = client.post("/console/admin/categories", data={
        "csrf_token": token, "code": "SJ-0102", "name": "重复代码", "parent_code": "SJ-01", "accept_hours": "1",
        "handle_hours": "8", "verify_hours": "4", "time_mode": "working", "urgency": "normal"})
    assert r.status_code == 409 and "已存在" in page(r).text
    assert site.db.scalar(select(Category).where(Category.code == "SJ-0198")) is None


def test_a_script_tag_in_a_category_name_is_shown_as_text(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    evil = "<script>alert('x')</script>井盖"
    client.post("/console/admin/categories", data={
        "csrf_token": _csrf(client, "/console/admin/categories/new"), "code": "BJ-0199", "name": evil,
        "parent_code": "BJ-01", "accept_hours": "1", "handle_hours": "8", "verify_hours": "4",
        "time_mode": "working", "urgency": "normal"})
    for url in ("/console/admin/categories?q=BJ-0199", "/console/admin/categories/BJ-0199",
                "/console/admin/rules/new?category=BJ-0199"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "<script>alert" not in r.text, url
        assert "&lt;script&gt;alert(" in r.text, url
        assert not any(s.text.strip() for s in page(r).find_all("script")), url


def test_category_forms_need_the_csrf_token(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    r = client.post("/console/admin/categories", data={"code": "SJ-0197", "name": "x", "accept_hours": "1",
                                                       "handle_hours": "1", "verify_hours": "1",
                                                       "time_mode": "working", "urgency": "normal",
                                                       "parent_code": "SJ-01"})
    assert r.status_code == 403
    assert site.db.scalar(select(Category).where(Category.code == "SJ-0197")) is None


# -- the responsibility list --------------------------------------------------------------------------------

def _create_rule(client: Any, site: Any, **overrides: str) -> Any:
    data = {"csrf_token": _csrf(client, "/console/admin/rules/new"), "name": "画溪街道垃圾清运", "priority": "10",
            "category_code": "SJ-01", "region_path": site.world.units["s2"].path, "keywords": "",
            "hour_from": "", "hour_to": "", "target_department": "HW", "target_unit_id": "", "confidence": "0.95",
            "handle_hours": "24", "enabled": "1", "note": ""}
    data.update(overrides)
    r = client.post("/console/admin/rules", data=data, follow_redirects=False)
    assert r.status_code == 303, page(r).text[:500]
    return site.db.scalar(select(DispatchRule).where(DispatchRule.name == data["name"],
                                                     DispatchRule.is_current.is_(True)))


def test_a_rule_created_on_the_page_is_listed_audited_and_routes_the_test_box(client: Any, site: Any) -> None:
    sign_in(client, site.token("zhihui"))
    rule = _create_rule(client, site)
    assert rule.region_path == site.world.units["s2"].path and rule.target_department == "HW"
    assert rule.handle_hours == 24.0 and rule.confidence == 0.95
    assert _audits(site, "dispatch_rule.create", rule.rule_key)
    listing = page(client.get("/console/admin/rules?department=HW"))
    assert "画溪街道垃圾清运" in listing.text and "画溪街道" in listing.text
    token = listing.csrf()
    # htmx: the fragment only, naming the department, the rule, the confidence and why
    r = client.post("/console/admin/rules/test", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "category_code": "SJ-0102", "unit_id": str(site.world.units["gc"].id),
        "description": "垃圾没人清运"})
    assert r.status_code == 200 and "<html" not in r.text
    frag = page(r)
    assert frag.find("strong", class_="target").attrs["data-department"] == "HW"
    assert "画溪街道垃圾清运" in frag.text and "95%" in frag.text and "区域匹配" in frag.text
    # by coordinates inside the other street: nothing matches, the command centre dispatches
    r = client.post("/console/admin/rules/test", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "category_code": "SJ-0102", "unit_id": "", "lon": "119.1", "lat": "31.1",
        "description": "垃圾"})
    assert "没有匹配的规则" in page(r).text
    # by coordinates inside 画溪: the rule; without JavaScript the whole page comes back with the answer
    r = client.post("/console/admin/rules/test", data={
        "csrf_token": token, "category_code": "SJ-0102", "lon": "119.6", "lat": "31.1", "description": "垃圾"})
    whole = page(r)
    assert whole.h1() == "派单规则（权责清单）"
    assert whole.find("strong", class_="target").attrs["data-department"] == "HW"
    assert whole.find("input", name="lon").attrs["value"] == "119.6"


def test_the_test_box_explains_a_missing_place_in_chinese(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    token = _csrf(client, "/console/admin/rules")
    r = client.post("/console/admin/rules/test", headers={"HX-Request": "true"},
                    data={"csrf_token": token, "category_code": "SJ-0102", "lon": "119.6", "description": "x"})
    assert r.status_code == 200 and "经度和纬度须同时填写" in page(r).text
    r = client.post("/console/admin/rules/test", headers={"HX-Request": "true"},
                    data={"csrf_token": token, "category_code": "SJ-0102", "description": "x"})
    assert "请选择单位，或填写经纬度" in page(r).text


def test_editing_and_retiring_a_rule_make_versions_with_history(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    rule = _create_rule(client, site)
    p = page(client.get(f"/console/admin/rules/{rule.rule_key}"))
    assert p.find("input", name="name").attrs["value"] == "画溪街道垃圾清运"
    region = [e for e in p.find_all("input", name="region_path") if "checked" in e.attrs]
    assert [e.attrs["value"] for e in region] == [site.world.units["s2"].path]
    r = client.post(f"/console/admin/rules/{rule.rule_key}", data={
        "csrf_token": p.csrf(), "name": "画溪街道垃圾清运（夜间）", "priority": "10", "category_code": "SJ-01",
        "region_path": site.world.units["s2"].path, "keywords": "垃圾，清运", "hour_from": "18", "hour_to": "8",
        "target_department": "HW", "co_departments": ["CG", "HW"], "target_unit_id": "", "confidence": "0.8",
        "handle_hours": "", "enabled": "1", "note": "夜班"}, follow_redirects=False)
    assert r.status_code == 303
    v2 = site.db.scalar(select(DispatchRule).where(DispatchRule.rule_key == rule.rule_key,
                                                   DispatchRule.is_current.is_(True)))
    assert v2.version == 2 and (v2.hour_from, v2.hour_to) == (18, 8) and v2.keywords == ["垃圾", "清运"]
    assert v2.co_departments == ["CG"] and v2.handle_hours is None
    r = client.post(f"/console/admin/rules/{rule.rule_key}/enabled", data={"csrf_token": p.csrf(), "enabled": "0"})
    v3 = site.db.scalar(select(DispatchRule).where(DispatchRule.rule_key == rule.rule_key,
                                                   DispatchRule.is_current.is_(True)))
    assert v3.version == 3 and not v3.enabled
    assert len(_audits(site, "dispatch_rule.update", rule.rule_key)) == 2
    history = page(client.get(f"/console/admin/rules/{rule.rule_key}")).find("section",
                                                                              **{"aria-labelledby": "hist-h"}).text
    assert "v1" in history and "v2" in history and "v3" in history and "18时–8时" in history
    assert "画溪街道垃圾清运" not in page(client.get("/console/admin/rules?enabled=1")).text
    assert "画溪街道垃圾清运" in page(client.get("/console/admin/rules?enabled=0")).text


def test_a_rules_edit_page_has_the_test_box_too(client: Any, site: Any) -> None:
    """The "which department would this go to?" box is on a rule's edit page as on the list (the same form and
    handler), opened with the rule's category; without JavaScript the answer comes back to that rule's page."""
    sign_in(client, site.token("zhihui"))
    rule = _create_rule(client, site)
    p = page(client.get(f"/console/admin/rules/{rule.rule_key}"))
    box = p.find("form", action="/console/admin/rules/test")
    assert box.attrs["hx-post"] == "/console/admin/rules/test" and p.unlabelled_controls() == []
    assert p.find("input", name="rule_key").attrs["value"] == str(rule.rule_key)
    assert [o.attrs["value"] for o in p.find("select", id="test-category").children if "selected" in o.attrs] == \
        ["SJ-01"]
    r = client.post("/console/admin/rules/test", headers={"HX-Request": "true"}, data={
        "csrf_token": p.csrf(), "rule_key": str(rule.rule_key), "category_code": "SJ-0102",
        "unit_id": str(site.world.units["gc"].id), "description": "垃圾没人清运"})
    assert r.status_code == 200 and "<html" not in r.text
    frag = page(r)
    assert frag.find("strong", class_="target").attrs["data-department"] == "HW"
    reasons = [" ".join(li.text.split()) for li in frag.find("ul", class_="reasons").children]
    assert reasons == ["类别匹配 市容环境类", "区域匹配 画溪街道"]  # why, by names, not codes and paths
    r = client.post("/console/admin/rules/test", data={
        "csrf_token": p.csrf(), "rule_key": str(rule.rule_key), "category_code": "SJ-0102", "lon": "119.6",
        "lat": "31.1", "description": "垃圾"})
    whole = page(r)
    assert r.status_code == 200 and whole.h1() == "编辑规则：画溪街道垃圾清运"
    assert whole.find("strong", class_="target").attrs["data-department"] == "HW"
    assert whole.find("input", id="test-lon").attrs["value"] == "119.6"


def test_a_refused_rule_keeps_the_input(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    r = client.post("/console/admin/rules", data={
        "csrf_token": _csrf(client, "/console/admin/rules/new"), "name": "没有去向的规则", "priority": "5",
        "category_code": "SJ-01", "keywords": "噪音", "hour_from": "", "hour_to": "", "target_department": "",
        "target_unit_id": "", "confidence": "1", "enabled": "1", "note": "备注"})
    assert r.status_code == 422
    p = page(r)
    assert "规则必须指定处置部门或处置单位" in p.find("div", id="form-error").text
    assert p.find("input", name="name").attrs["value"] == "没有去向的规则"
    assert p.find("input", name="keywords").attrs["value"] == "噪音"
    r = client.post("/console/admin/rules", data={
        "csrf_token": p.csrf(), "name": "时段不全", "priority": "五", "target_department": "HW"})
    assert r.status_code == 422 and "“优先级”应为整数" in page(r).text
    assert site.db.scalar(select(DispatchRule).where(DispatchRule.name.in_(["没有去向的规则", "时段不全"]))) is None


# -- users and roles ----------------------------------------------------------------------------------------

def test_the_admin_creates_an_account_whose_password_is_shown_once_and_must_be_changed(client: Any,
                                                                                       site: Any) -> None:
    from zhili.users import service as users

    sign_in(client, site.token("admin"))
    form = page(client.get("/console/admin/users/new"))
    r = client.post("/console/admin/users", data={
        "csrf_token": form.csrf(), "username": "li_wg", "display_name": "李网格", "role": "grid_worker",
        "unit_ids": str(site.world.units["gc"].id), "department": "", "phone": "13912345678"})
    assert r.status_code == 200
    p = page(r)
    password = p.find("code", class_="secret").text
    assert len(password) >= 10 and "只显示这一次" in p.text
    user = site.db.scalar(select(User).where(User.username == "li_wg"))
    assert user.must_change_password and password not in user.password_hash
    assert [u.unit_id for u in user.units] == [site.world.units["gc"].id]
    assert _audits(site, "user.create", user.id)
    _, _, logged_in = users.login(site.db, username="li_wg", password=password)
    assert logged_in.must_change_password  # sent to the password page at first login
    detail = page(client.get(f"/console/admin/users/{user.id}"))
    assert password not in detail.html and "139****5678" in detail.text


def test_a_department_handler_needs_a_department_and_a_refusal_keeps_the_input(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    r = client.post("/console/admin/users", data={
        "csrf_token": _csrf(client, "/console/admin/users/new"), "username": "zhao_bm", "display_name": "赵部门",
        "role": "department_handler", "unit_ids": str(site.world.units["district"].id), "department": ""})
    assert r.status_code == 422
    p = page(r)
    assert "职能部门账号必须选择所属部门" in p.text
    assert p.find("input", name="username").attrs["value"] == "zhao_bm"
    chosen = [e for e in p.find_all("input", name="unit_ids") if "checked" in e.attrs]
    assert [e.attrs["value"] for e in chosen] == [str(site.world.units["district"].id)]
    assert site.db.scalar(select(User).where(User.username == "zhao_bm")) is None


def test_editing_role_and_units_is_audited_and_takes_effect(client: Any, site: Any) -> None:
    target = site.world.users["wangge_b"]
    sign_in(client, site.token("admin"))
    p = page(client.get(f"/console/admin/users/{target.id}"))
    r = client.post(f"/console/admin/users/{target.id}", data={
        "csrf_token": p.csrf(), "display_name": "王网格（社区）", "role": "community_staff",
        "unit_ids": [str(site.world.units["c1"].id)], "department": "", "phone": ""}, follow_redirects=False)
    assert r.status_code == 303
    site.db.refresh(target)
    assert target.role.value == "community_staff" and [u.unit_id for u in target.units] == \
        [site.world.units["c1"].id]
    audit = _audits(site, "user.update", target.id)
    assert audit and audit[-1].before["role"] == "grid_worker" and audit[-1].after["role"] == "community_staff"
    sign_in(client, site.token("wangge_b"))  # the same session now has the new role
    assert client.get("/console/").status_code == 200


def test_the_admin_resets_unlocks_revokes_and_deactivates_accounts(client: Any, site: Any) -> None:
    target = site.world.users["wangge_a"]
    target.locked_until = utcnow() + dt.timedelta(minutes=10)
    target.failed_logins = 3
    site.db.flush()
    sign_in(client, site.token("admin"))
    listing = page(client.get("/console/admin/users?status=locked"))
    assert "wangge_a" in listing.text and "wangge_b" not in listing.text
    token = listing.csrf()
    client.post(f"/console/admin/users/{target.id}/unlock", data={"csrf_token": token})
    site.db.refresh(target)
    assert target.locked_until is None and target.failed_logins == 0 and _audits(site, "user.unlock", target.id)

    client.post(f"/console/admin/users/{target.id}/sessions", data={"csrf_token": token})
    assert _audits(site, "user.sessions_revoke", target.id)[-1].after == {"revoked": 1}
    sign_in(client, site.token("wangge_a"))
    assert client.get("/gw/", follow_redirects=False).status_code == 303  # back to the login page

    sign_in(client, site.token("admin"))
    r = client.post(f"/console/admin/users/{target.id}/password", data={"csrf_token": token})
    new_password = page(r).find("code", class_="secret").text
    site.db.refresh(target)
    assert target.must_change_password and _audits(site, "user.password_reset", target.id)
    assert new_password not in page(client.get(f"/console/admin/users/{target.id}")).html

    client.post(f"/console/admin/users/{target.id}/active", data={"csrf_token": token, "active": "0"})
    site.db.refresh(target)
    assert not target.is_active
    assert "wangge_a" in page(client.get("/console/admin/users?status=inactive")).text
    client.post(f"/console/admin/users/{target.id}/active", data={"csrf_token": token, "active": "1"})
    site.db.refresh(target)
    assert target.is_active
    assert [a.after["is_active"] for a in _audits(site, "user.update", target.id)] == [False, True]


def test_an_admin_cannot_deactivate_or_demote_themselves(client: Any, site: Any) -> None:
    me = site.world.users["admin"]
    sign_in(client, site.token("admin"))
    token = _csrf(client, f"/console/admin/users/{me.id}")
    r = client.post(f"/console/admin/users/{me.id}/active", data={"csrf_token": token, "active": "0"})
    assert r.status_code == 422 and "不能停用自己的账号" in page(r).text
    r = client.post(f"/console/admin/users/{me.id}", data={
        "csrf_token": token, "display_name": "admin", "role": "auditor",
        "unit_ids": str(site.world.units["district"].id)})
    assert r.status_code == 422 and "不能修改自己的角色" in page(r).text
    site.db.refresh(me)
    assert me.is_active and me.role.value == "admin"
    assert site.db.scalar(select(AuthSession).where(AuthSession.user_id == me.id,
                                                    AuthSession.revoked_at.is_(None))) is not None


def test_the_user_list_filters_by_role_and_unit(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    text = page(client.get("/console/admin/users?role=grid_worker")).text
    assert "wangge_a" in text and "wangge_b" in text and "jiedao1" not in text
    text = page(client.get(f"/console/admin/users?unit_id={site.world.units['s2'].id}")).text
    assert "jiedao2" in text and "jiedao1" not in text and "wangge_a" not in text
    text = page(client.get("/console/admin/users?q=jiedao")).text
    assert "jiedao1" in text and "jiedao2" in text and "shequ1" not in text


# -- supervision --------------------------------------------------------------------------------------------

def _supervised(site: Any) -> tuple[Any, Any]:
    """A case in each street dispatched to a unit there, each under a manual supervision order."""
    mine = site.dispatched_to_grid("ga", description="金陵路垃圾堆积", lon=119.1, lat=31.1)
    other = site.report(description="画溪村垃圾堆积", lon=119.6, lat=31.1)
    site.act("zhihui", other, "accept")
    site.act("zhihui", other, "dispatch", unit_id=site.world.units["gc"].id)
    for c in (mine, other):
        site.act("zhihui", c, "supervise", message="请加快处置")
    return mine, other


def test_street_staff_see_only_their_own_streets_supervisions(client: Any, site: Any) -> None:
    mine, other = _supervised(site)
    sign_in(client, site.token("jiedao1"))
    text = page(client.get("/console/supervisions")).text
    assert mine.number in text and other.number not in text
    sign_in(client, site.token("jiedao2"))
    text = page(client.get("/console/supervisions")).text
    assert other.number in text and mine.number not in text
    sign_in(client, site.token("shequ1"))
    assert mine.number in page(client.get("/console/supervisions")).text
    r = client.get(f"/console/supervisions?unit_id={site.world.units['s2'].id}")
    assert r.status_code == 404  # another street's unit is not even a filter
    sign_in(client, site.token("lingdao"))
    text = page(client.get("/console/supervisions")).text
    assert mine.number in text and other.number in text


def test_a_department_sees_the_orders_addressed_to_it_and_links_to_the_case(client: Any, site: Any) -> None:
    site.world.users["bumen"].department = "HW"
    site.db.flush()
    case = site.report(description="垃圾满溢")
    site.act("zhihui", case, "accept")
    site.act("zhihui", case, "dispatch", department="HW")
    site.act("zhihui", case, "supervise", message="群众反映强烈，请今日处置")
    other, _ = _supervised(site)
    sign_in(client, site.token("bumen"))
    p = page(client.get("/console/supervisions?mine=1"))
    assert case.number in p.text and other.number not in p.text and "群众反映强烈" in p.text
    link = p.find("a", href=f"/console/cases/{case.id}")
    assert link.text == case.number
    assert client.get(link.attrs["href"]).status_code == 200


def test_supervisions_are_sorted_by_urgency_and_filtered_by_level_and_overdue(client: Any, site: Any) -> None:
    from zhili.cases import sweep

    mine, other = _supervised(site)
    mine.handle_due_at = utcnow() - dt.timedelta(hours=1)
    site.db.flush()
    sweep.sweep_deadlines(site.db)
    site.db.flush()
    assert site.db.scalar(select(Supervision).where(Supervision.case_id == mine.id, Supervision.kind == "red"))
    sign_in(client, site.token("zhihui"))
    rows = page(client.get("/console/supervisions")).find_all("tr")
    kinds = [r.attrs["class"] for r in rows if r.attrs.get("class", "").startswith("sup-")]
    assert kinds[0] == "sup-red" and set(kinds) == {"sup-red", "sup-manual"}
    text = page(client.get("/console/supervisions?overdue=1")).text
    assert mine.number in text and other.number not in text
    red = page(client.get("/console/supervisions?kind=red"))
    assert [r.attrs["class"] for r in red.find_all("tr") if r.attrs.get("class", "").startswith("sup-")] == \
        ["sup-red"]


def test_the_command_centre_issues_a_manual_supervision_from_the_list(client: Any, site: Any) -> None:
    case = site.dispatched_to_grid("ga")
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/supervisions"))
    r = client.post("/console/supervisions", data={"csrf_token": p.csrf(), "number": case.number,
                                                   "message": "请于今日内处置完毕"}, follow_redirects=False)
    assert r.status_code == 303
    order = site.db.scalar(select(Supervision).where(Supervision.case_id == case.id))
    assert order.kind == "manual" and order.message == "请于今日内处置完毕" and order.issued_by == "zhihui"
    assert _audits(site, "case.supervise", case.id)
    assert "请于今日内处置完毕" in page(client.get("/console/supervisions")).text
    r = client.post("/console/supervisions", data={"csrf_token": p.csrf(), "number": "NOPE-1", "message": "催办"})
    assert "事件不存在" in page(r).text and page(r).find("textarea", name="message").text == "催办"


def test_street_staff_get_no_supervise_form_and_the_workflow_refuses_them(client: Any, site: Any) -> None:
    case = site.dispatched_to_grid("ga")
    sign_in(client, site.token("jiedao1"))
    p = page(client.get("/console/supervisions"))
    assert not p.find_all("textarea", name="message")
    r = client.post("/console/supervisions", data={"csrf_token": p.csrf(), "number": case.number,
                                                   "message": "催办"})
    assert r.status_code == 403 and "当前角色不能对该事件执行“督办”" in page(r).text
    assert site.db.scalar(select(Supervision).where(Supervision.case_id == case.id)) is None


# -- calendar -----------------------------------------------------------------------------------------------

def test_calendar_overrides_are_added_listed_deleted_and_audited(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    token = _csrf(client, "/console/admin/calendar?year=2026")
    r = client.post("/console/admin/calendar", data={"csrf_token": token, "day": "2026-10-10", "is_workday": "1",
                                                     "name": "国庆调休上班"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/admin/calendar?year=2026&msg=admin_saved"
    p = page(client.get("/console/admin/calendar?year=2026"))
    assert "2026-10-10" in p.text and "国庆调休上班" in p.text and "上班" in p.text
    assert _audits(site, "calendar.override.set", "2026-10-10")
    client.post("/console/admin/calendar/2026-10-10/delete", data={"csrf_token": token})
    assert "2026-10-10" not in page(client.get("/console/admin/calendar?year=2026")).find(
        "section", **{"aria-labelledby": "ov-h"}).text
    assert _audits(site, "calendar.override.delete", "2026-10-10")


def test_the_calendar_warns_about_a_year_the_package_does_not_know(client: Any, site: Any) -> None:
    from zhili.worktime.service import package_knows_year

    assert not package_knows_year(2099)
    sign_in(client, site.token("zhihui"))
    p = page(client.get("/console/admin/calendar?year=2099"))
    warning = p.find("div", class_="alert calendar-warning").text
    assert "2099年节假日安排尚未收录，按周末计算" in warning


def test_a_refused_calendar_override_keeps_the_input(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    token = _csrf(client, "/console/admin/calendar")
    r = client.post("/console/admin/calendar", data={"csrf_token": token, "day": "2026-02-30", "is_workday": "0",
                                                     "name": "本地节假日"})
    assert r.status_code == 422
    p = page(r)
    assert "请输入有效日期" in p.find("div", id="form-error").text
    assert p.find("input", name="name").attrs["value"] == "本地节假日"
    r = client.post("/console/admin/calendar", data={"csrf_token": token, "day": "2026-05-06", "is_workday": "0",
                                                     "name": ""})
    assert r.status_code == 422 and "请填写调整说明" in page(r).text


# -- the unit picker and the language ---------------------------------------------------------------------

def test_the_unit_picker_searches_the_viewers_jurisdiction(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    r = client.get("/console/admin/units/pick?field=region_path&mode=path&multi=0&unit_q=画溪",
                   headers={"HX-Request": "true"})
    frag = page(r)
    values = [e.attrs["value"] for e in frag.find_all("input", name="region_path")]
    assert values == [site.world.units["s2"].path, site.world.units["c2"].path, site.world.units["gc"].path]
    assert all(e.attrs["type"] == "radio" for e in frag.find_all("input"))
    r = client.get("/console/admin/units/pick?field=unit_ids&multi=1&unit_q=画溪", headers={"HX-Request": "true"})
    assert {e.attrs["type"] for e in page(r).find_all("input")} == {"checkbox"}
    sign_in(client, site.token("jiedao1"))
    r = client.get("/console/admin/units/pick?field=unit_id&unit_q=画溪", headers={"HX-Request": "true"})
    assert page(r).find_all("input") == [] and "没有匹配的单位" in page(r).text
    sign_in(client, site.token("jumin"))
    assert client.get("/console/admin/units/pick?field=unit_id&unit_q=画溪").status_code == 403


def test_the_pages_have_english_text_when_english_is_chosen(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    client.cookies.set("zhili_lang", "en")
    assert page(client.get("/console/admin/rules")).h1() == "Dispatch rules"
    assert page(client.get("/console/admin/users")).h1() == "Users and roles"
    assert page(client.get("/console/admin/calendar")).h1() == "Working calendar"


def test_a_major_class_is_renamed_without_inventing_time_limits(client: Any, site: Any) -> None:
    sign_in(client, site.token("admin"))
    group = site.db.scalar(select(Category).where(Category.code == "SJ-01", Category.is_current.is_(True)))
    assert group.handle_hours is None
    p = page(client.get("/console/admin/categories/SJ-01"))
    assert p.find("input", name="handle_hours").attrs["value"] == ""
    r = client.post("/console/admin/categories/SJ-01", data={
        "csrf_token": p.csrf(), "name": "市容环境（改）", "accept_hours": "", "handle_hours": "",
        "verify_hours": "", "time_mode": group.time_mode, "urgency": group.urgency.value, "keywords": "",
        "description": group.description or "", "is_active": "1"}, follow_redirects=False)
    assert r.status_code == 303, page(r).text[:300]
    renamed = site.db.scalar(select(Category).where(Category.code == "SJ-01", Category.is_current.is_(True)))
    assert renamed.name == "市容环境（改）" and renamed.handle_hours is None and renamed.version == group.version + 1


def test_the_user_list_pages_keep_the_filters(client: Any, site: Any) -> None:
    from zhili.users.models import UserUnit

    for i in range(25):
        site.db.add(User(username=f"grid_{i:02d}", display_name=f"网格员{i}", role=site.world.users["wangge_a"].role,
                         password_hash="!", units=[UserUnit(unit_id=site.world.units["gc"].id)]))
    site.db.flush()
    sign_in(client, site.token("admin"))
    p = page(client.get("/console/admin/users?q=grid_&role=grid_worker"))
    assert "共 25 条" in p.text
    nxt = p.find("a", rel="next").attrs["href"]
    assert nxt == "?q=grid_&role=grid_worker&page=2"
    second = page(client.get("/console/admin/users" + nxt)).text
    assert "grid_24" in second and "grid_00" not in second
