"""Register management in the staff console (基础数据): the region tree, lists with search and export, record pages
with masked personal data and the audited reveal, create/edit forms with Chinese field errors, and Excel import
with its results — all inside the user's jurisdiction."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from pagekit import page, sign_in
from sqlalchemy import func, select

from zhili.core.audit import AuditEvent
from zhili.core.validators import id_check_digit, uscc_check_char
from zhili.registry import excel
from zhili.registry import service as registry
from zhili.registry.models import Building, Household, Organisation, Person
from zhili.registry.schemas import BuildingIn, HouseholdIn, PersonIn

R = "/console/registry"
_n = iter(range(1, 10_000))


def _id(year: int = 1990) -> str:
    first17 = f"330522{year}0101{next(_n) * 2 + 1:03d}"
    return first17 + id_check_digit(first17)


def _count(site: Any, model: Any, *where: Any) -> int:
    return int(site.db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _household(site: Any, grid: str, *, address: str = "画溪路8号", room: str = "101") -> Household:
    admin = site.principal("admin")
    b = registry.create_building(site.db, principal=admin, data=BuildingIn(
        grid_id=site.world.units[grid].id, name="8幢", address=address).model_dump())
    return registry.create_household(site.db, principal=admin, data=HouseholdIn(
        building_id=b.id, room=room).model_dump())


def _person(site: Any, grid: str, name: str, *, phone: str | None = "13812345678", household: Any = None,
            pid: str | None = None) -> Person:
    return registry.create_person(site.db, principal=site.principal("admin"), data=PersonIn(
        name=name, id_number=pid or _id(), phone=phone, grid_id=site.world.units[grid].id,
        household_id=household.id if household else None).model_dump())


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rows(content: bytes) -> list[list[Any]]:
    return [list(r) for r in load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(
        values_only=True)]


# -- who may use the pages -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["shequ1", "jiedao1", "zhihui", "lingdao", "admin"])
def test_staff_find_the_registers_in_the_navigation(client: Any, site: Any, who: str) -> None:
    sign_in(client, site.token(who))
    console = page(client.get("/console/"))
    nav = console.find("nav", class_="mainnav")
    links = [a for a in console.find_all("a") if any(x is nav for x in a.ancestors())]
    assert [a.text for a in links if a.attrs.get("href") == f"{R}/"] == ["基础数据"]
    assert client.get(f"{R}/buildings").status_code == 200


@pytest.mark.parametrize("who", ["wangge_a", "jumin", "bumen", "shenji"])
def test_other_roles_are_refused_the_register_pages(client: Any, site: Any, who: str) -> None:
    sign_in(client, site.token(who))
    r = client.get(f"{R}/persons")
    assert r.status_code == 403 and page(r).h1() == "没有权限"


# -- the region tree ---------------------------------------------------------------------------------------------

def test_the_unit_tree_has_breadcrumbs_children_with_counts_and_grid_workers(client: Any, site: Any) -> None:
    _person(site, "ga", "王芳", household=_household(site, "ga"))
    _household(site, "gb", room="102")
    units = site.world.units
    sign_in(client, site.token("shequ1"))
    r = client.get(f"{R}/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{R}/units/{units['c1'].id}"
    p = page(client.get(r.headers["location"]))
    assert p.h1().startswith("金陵社区")
    crumbs = p.find("nav", class_="breadcrumbs")
    assert " ".join(crumbs.text.split()) == "长兴县 雉城街道 金陵社区"
    assert not [a for a in p.find_all("a") if any(x is crumbs for x in a.ancestors())]  # above the jurisdiction
    cells = {tr.children[0].text.strip(): [td.text for td in tr.children[2:]] for tr in p.find_all("tr")
             if tr.children and tr.children[0].tag == "td"}
    assert cells == {"金陵社区第1网格": ["1", "1", "1", "0"], "金陵社区第2网格": ["1", "1", "0", "0"]}
    assert "wangge_a" in p.text and "wangge_b" in p.text and "共 2 人" in p.text
    grid = page(client.get(f"{R}/units/{units['ga'].id}"))
    assert any(a.attrs.get("href") == f"{R}/units/{units['c1'].id}" for a in grid.find_all("a"))
    assert "wangge_b" not in grid.text
    assert client.get(f"{R}/units/{units['c2'].id}").status_code == 404


# -- lists ---------------------------------------------------------------------------------------------------------

def test_persons_are_found_by_name_and_by_exact_id_or_phone_and_shown_masked(client: Any, site: Any) -> None:
    pid = _id()
    _person(site, "ga", "王芳", phone="13812345678", pid=pid)
    _person(site, "gb", "王强", phone="13900001111")
    _person(site, "gc", "王五", phone="13700002222")  # another community
    sign_in(client, site.token("shequ1"))
    listing = client.get(f"{R}/persons", params={"q": "王"})
    p = page(listing)
    assert "共 2 条" in p.text and "王五" not in p.text
    assert "138****5678" in p.text and "13812345678" not in listing.text and pid not in listing.text
    # an ID number or phone typed in the search box is posted, not put in the URL
    assert p.find("form", role="search").attrs["method"] == "post"
    token = p.csrf()
    for q in (pid, "13812345678", "138 1234 5678"):
        posted = client.post(f"{R}/persons", data={"csrf_token": token, "q": q})
        found = page(posted)
        assert "共 1 条" in found.text and "王芳" in found.text, q
        assert q not in posted.text.replace(f'value="{q}"', ""), "only the search box echoes it"
    assert "共 0 条" in page(client.post(f"{R}/persons", data={"csrf_token": token, "q": "13700002222"})).text
    malformed = client.post(f"{R}/persons", data={"csrf_token": token, "q": "12345678901"})
    assert malformed.status_code == 422 and "手机号码格式不正确" in page(malformed).find("div", class_="alert").text
    assert p.unlabelled_controls() == []


def test_an_id_number_or_phone_in_a_register_pages_url_is_refused_not_searched(client: Any, site: Any) -> None:
    pid = _id()
    _person(site, "ga", "王芳", phone="13812345678", pid=pid)
    sign_in(client, site.token("shequ1"))
    for url in (f"{R}/persons", f"{R}/persons/export.xlsx"):
        for q in (pid, "13812345678"):
            r = client.get(url, params={"q": q})
            assert r.status_code == 422 and "王芳" not in r.text, (url, q)
            assert "网址" in page(r).find("div", class_="alert").text
    assert "王芳" in client.get(f"{R}/persons", params={"q": "王"}).text  # a name still searches by URL


def test_lists_filter_by_unit_and_type_and_page_through(client: Any, site: Any) -> None:
    admin = site.principal("admin")
    for i in range(22):
        registry.create_building(site.db, principal=admin, data=BuildingIn(
            grid_id=site.world.units["ga" if i % 2 else "gb"].id, name=f"{i}幢", address=f"金陵路{i}号",
            building_type="commercial" if i == 3 else "residential").model_dump())
    sign_in(client, site.token("jiedao1"))
    first = page(client.get(f"{R}/buildings"))
    assert "共 22 条" in first.text and "第 1 页，共 2 页" in first.text
    nxt = next(a.attrs["href"] for a in first.find_all("a", rel="next"))
    assert "共 22 条" in page(client.get(f"{R}/buildings{nxt}")).text
    by_unit = page(client.get(f"{R}/buildings", params={"unit_id": str(site.world.units["ga"].id)}))
    assert "共 11 条" in by_unit.text and not by_unit.find_all("a", rel="next")
    commercial = page(client.get(f"{R}/buildings", params={"building_type": "commercial"}))
    assert "共 1 条" in commercial.text and "3幢" in commercial.text
    assert client.get(f"{R}/buildings", params={"unit_id": str(site.world.units["gc"].id)}).status_code == 404


# -- jurisdiction ----------------------------------------------------------------------------------------------

def test_a_community_staff_member_cannot_open_another_communitys_records(client: Any, site: Any) -> None:
    household = _household(site, "gc")
    person = _person(site, "gc", "李强", household=household)
    sign_in(client, site.token("shequ1"))
    for url in (f"{R}/households/{household.id}", f"{R}/persons/{person.id}", f"{R}/buildings/{household.building_id}",
                f"{R}/households/{household.id}/edit", f"{R}/persons/new?household_id={household.id}"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert page(r).h1() == "页面不存在" and "李强" not in r.text and "画溪路8号" not in r.text
    token = page(client.get(f"{R}/persons")).csrf()
    for url, data in ((f"{R}/persons/{person.id}/reveal", {"reason": "入户核查"}),
                      (f"{R}/persons/{person.id}/edit", {"name": "改名"})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 404
    assert _count(site, AuditEvent, AuditEvent.action.in_(["person.reveal", "person.update"])) == 0


# -- forms ---------------------------------------------------------------------------------------------------------

def _errors(p: Any) -> dict[str, str]:
    return {e.attrs["id"].removeprefix("err-"): e.text.strip() for e in p.find_all("p", class_="field-error")}


def test_a_form_with_bad_values_comes_back_with_chinese_field_errors_and_what_was_typed(client: Any,
                                                                                        site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    form = page(client.get(f"{R}/persons/new"))
    assert form.unlabelled_controls() == []
    bad = _id()[:17] + "Y"
    r = client.post(f"{R}/persons/new", data={
        "csrf_token": form.csrf(), "name": "张三", "id_number": bad, "phone": "12345",
        "grid_id": str(site.world.units["ga"].id), "ethnicity": "汉族", "care_tags": ["elderly_alone"]})
    assert r.status_code == 422
    p = page(r)
    assert _errors(p) == {"id_number": "身份证号码格式不正确：应为18位，前17位为数字，末位为数字或X",
                          "phone": "手机号码格式不正确：应为11位、以1开头的中国大陆手机号"}
    assert p.find("input", name="id_number").attrs["value"] == bad
    assert p.find("input", name="id_number").attrs["aria-invalid"] == "true"
    assert p.find("input", name="name").attrs["value"] == "张三"
    assert p.find("input", name="ethnicity").attrs["value"] == "汉族"
    assert "checked" in p.find("input", name="care_tags", value="elderly_alone").attrs
    assert p.find("option", value=str(site.world.units["ga"].id)).attrs.get("selected") == ""
    assert _count(site, Person) == 0
    good = _id()
    r = client.post(f"{R}/persons/new", data={
        "csrf_token": form.csrf(), "name": "张三", "id_number": good, "phone": "13812345678",
        "grid_id": str(site.world.units["ga"].id)}, follow_redirects=False)
    assert r.status_code == 303
    person = site.db.scalar(select(Person))
    assert r.headers["location"] == f"{R}/persons/{person.id}?msg=registry_saved"
    assert person.path == site.world.units["ga"].path
    again = client.post(f"{R}/persons/new", data={
        "csrf_token": form.csrf(), "name": "张三", "id_number": good, "grid_id": str(site.world.units["ga"].id)})
    assert again.status_code == 409 and _errors(page(again)) == {"id_number": "该身份证号码已登记"}


def test_required_fields_ranges_and_service_rules_are_reported_next_to_their_field(client: Any, site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    token = page(client.get(f"{R}/buildings/new")).csrf()
    r = client.post(f"{R}/buildings/new", data={"csrf_token": token, "name": "", "address": "金", "floors": "300"})
    assert r.status_code == 422
    assert _errors(page(r)) == {"name": "必填"}
    r = client.post(f"{R}/buildings/new", data={"csrf_token": token, "name": "1幢", "address": "金", "floors": "300"})
    assert _errors(page(r)) == {"address": "至少2个字", "floors": "不能大于200"}
    r = client.post(f"{R}/buildings/new", data={"csrf_token": token, "name": "1幢", "address": "金陵路1号"})
    assert _errors(page(r)) == {"grid_id": "请指定所属网格，或提供坐标以自动定位"}
    code = "91330522MA2JL0080" + ("0" if uscc_check_char("91330522MA2JL0080") != "0" else "1")
    r = client.post(f"{R}/organisations/new", data={"csrf_token": token, "name": "金陵五金店", "address": "金陵路1号",
                                                    "credit_code": code, "grid_id": str(site.world.units["ga"].id)})
    assert _errors(page(r)) == {"credit_code": "统一社会信用代码校验位错误"}
    assert _count(site, Building) == _count(site, Organisation) == 0


def test_page_forms_need_the_csrf_token(client: Any, site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    data = {"name": "1幢", "address": "金陵路1号", "grid_id": str(site.world.units["ga"].id)}
    assert client.post(f"{R}/buildings/new", data=data).status_code == 403
    assert client.post(f"{R}/buildings/new", data={**data, "csrf_token": "forged"}).status_code == 403
    r = client.post(f"{R}/import", data={"kind": "buildings"},
                    files={"file": ("a.xlsx", _xlsx([["网格", "楼栋名称", "地址"]]), "application/octet-stream")})
    assert r.status_code == 403
    assert _count(site, Building) == 0


def test_a_script_typed_as_a_name_is_shown_as_text(client: Any, site: Any) -> None:
    household = _household(site, "ga")
    person = _person(site, "ga", "<script>alert(1)</script>", household=household)
    sign_in(client, site.token("shequ1"))
    for url in (f"{R}/persons/{person.id}", f"{R}/persons", f"{R}/households/{household.id}",
                f"{R}/persons/{person.id}/edit"):
        r = client.get(url)
        assert r.status_code == 200 and "<script>alert(1)</script>" not in r.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text, url


def test_households_and_persons_are_added_from_their_building_and_household(client: Any, site: Any) -> None:
    admin = site.principal("admin")
    b = registry.create_building(site.db, principal=admin, data=BuildingIn(
        grid_id=site.world.units["gb"].id, name="5幢", address="金陵路5号").model_dump())
    registry.add_entrance(site.db, principal=admin, building_id=b.id, name="1单元")
    sign_in(client, site.token("shequ1"))
    building = page(client.get(f"{R}/buildings/{b.id}"))
    add = next(a.attrs["href"] for a in building.find_all("a") if "/households/new" in a.attrs.get("href", ""))
    form = page(client.get(add))
    entrance = next(o.attrs["value"] for o in form.find_all("option") if o.text == "1单元")
    r = client.post(add, data={"csrf_token": form.csrf(), "room": "501", "entrance_id": entrance, "use": "rented"},
                    follow_redirects=False)
    assert r.status_code == 303
    h = site.db.scalar(select(Household).where(Household.building_id == b.id))
    assert (h.room, h.use.value, h.address, str(h.entrance_id)) == ("501", "rented", "金陵路5号501室", entrance)
    form = page(client.get(f"{R}/persons/new?household_id={h.id}"))
    assert not form.find_all("select", name="grid_id")  # the household decides the grid
    r = client.post(f"{R}/persons/new?household_id={h.id}", data={
        "csrf_token": form.csrf(), "name": "赵六", "id_number": _id(), "relation": "head"}, follow_redirects=False)
    assert r.status_code == 303
    person = site.db.scalar(select(Person))
    assert (person.household_id, person.path) == (h.id, site.world.units["gb"].path)
    assert "赵六" in page(client.get(f"{R}/households/{h.id}")).text


def test_an_edit_form_never_shows_personal_data_and_refuses_a_stale_version(client: Any, site: Any) -> None:
    person = _person(site, "ga", "王芳", phone="13812345678")
    sign_in(client, site.token("shequ1"))
    r = client.get(f"{R}/persons/{person.id}/edit")
    form = page(r)
    phone = form.find("input", name="phone")
    assert phone.attrs["value"] == "" and phone.attrs["placeholder"] == "138****5678"
    assert "13812345678" not in r.text and form.find("input", name="name").attrs["value"] == "王芳"
    version = form.find("input", name="version").attrs["value"]
    data = {"csrf_token": form.csrf(), "name": "王芳芳", "version": version, "status": "active",
            "resident_type": "registered"}
    assert client.post(f"{R}/persons/{person.id}/edit", data=data, follow_redirects=False).status_code == 303
    site.db.refresh(person)
    assert person.name == "王芳芳" and registry.person_view(person)["phone"] == "138****5678"
    stale = client.post(f"{R}/persons/{person.id}/edit", data={**data, "name": "又改"})
    assert stale.status_code == 409 and "记录已被他人修改" in page(stale).text
    assert page(stale).find("input", name="name").attrs["value"] == "又改"


def test_every_register_has_an_edit_form_that_saves_and_returns_to_the_entry(client: Any, site: Any) -> None:
    household = _household(site, "ga")
    entries = {"buildings": (site.db.get(Building, household.building_id), "address", "画溪路10号"),
               "households": (household, "room", "102"),
               "persons": (_person(site, "ga", "王芳", household=household), "name", "王芳芳"),
               "organisations": (registry.create_organisation(site.db, principal=site.principal("shequ1"), data={
                   "name": "金陵五金店", "address": "金陵路1号", "grid_id": site.world.units["ga"].id,
                   "org_type": "enterprise", "contact_phone": "13812345678"}), "name", "金陵五金商店")}
    site.db.flush()
    sign_in(client, site.token("shequ1"))
    for kind, (obj, field, value) in entries.items():
        p = page(client.get(f"{R}/{kind}/{obj.id}/edit"))
        form = p.find("form", action=f"{R}/{kind}/{obj.id}/edit")

        def inside(el: Any, form: Any = form) -> bool:
            return any(a is form for a in el.ancestors())

        data = {i.attrs["name"]: i.attrs.get("value", "") for i in p.find_all("input")
                if i.attrs.get("name") and inside(i) and i.attrs.get("type") not in ("checkbox", "radio")}
        for sel in (s for s in p.find_all("select") if inside(s)):
            options = [o for o in sel.children if o.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            data[sel.attrs["name"]] = chosen[0].attrs.get("value", "") if chosen else ""
        data[field] = value
        r = client.post(f"{R}/{kind}/{obj.id}/edit", data=data, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, f"{R}/{kind}/{obj.id}?msg=registry_saved"), (
            kind, r.text[:500])
        site.db.refresh(obj)
        assert getattr(obj, field) == value, kind
    assert client.get(f"{R}/visits/{household.id}/edit").status_code in (404, 422)  # not a register


# -- roles -----------------------------------------------------------------------------------------------------------

def test_a_leader_reads_but_cannot_change_or_reveal(client: Any, site: Any) -> None:
    person = _person(site, "ga", "王芳")
    sign_in(client, site.token("lingdao"))
    p = page(client.get(f"{R}/persons/{person.id}"))
    assert "王芳" in p.text and not p.find_all("form", class_="form reveal-form")
    assert not [a for a in p.find_all("a") if a.attrs.get("href", "").endswith("/edit")]
    for url in (f"{R}/persons/new", f"{R}/persons/{person.id}/edit", f"{R}/import",
                f"{R}/persons/template.xlsx"):
        assert client.get(url).status_code == 403, url
    token = p.csrf()
    assert client.post(f"{R}/persons/{person.id}/edit", data={"csrf_token": token, "name": "改"}).status_code == 403
    assert client.post(f"{R}/persons/{person.id}/reveal", data={"csrf_token": token, "reason": "查看"}
                       ).status_code == 403
    site.db.refresh(person)
    assert person.name == "王芳"
    # The refused reveal is recorded (the page rolled its request back, the record stays); nothing else is.
    refused = list(site.db.scalars(select(AuditEvent).where(AuditEvent.action.startswith("person."),
                                                            AuditEvent.action != "person.create")))
    assert [(e.action, e.actor_name, e.object_id, e.after) for e in refused] == [
        ("person.reveal_refused", "lingdao", str(person.id), {"reason": "permission_denied"})]


def test_the_command_centre_reveals_but_cannot_change_and_the_admin_changes_but_cannot_reveal(
    client: Any, site: Any
) -> None:
    person = _person(site, "ga", "王芳")
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"{R}/persons/{person.id}"))
    assert p.find_all("form", class_="form reveal-form")
    assert client.get(f"{R}/persons/{person.id}/edit").status_code == 403
    sign_in(client, site.token("admin"))
    p = page(client.get(f"{R}/persons/{person.id}"))
    assert not p.find_all("form", class_="form reveal-form")
    assert client.get(f"{R}/persons/{person.id}/edit").status_code == 200


def test_showing_full_details_needs_a_reason_and_is_audited(client: Any, site: Any) -> None:
    household = _household(site, "ga")
    person = _person(site, "ga", "王芳", phone="13812345678", household=household)
    sign_in(client, site.token("shequ1"))
    p = page(client.get(f"{R}/persons/{person.id}"))
    r = client.post(f"{R}/persons/{person.id}/reveal", data={"csrf_token": p.csrf(), "reason": "x", "from": "person"})
    assert r.status_code == 422 and "13812345678" not in r.text
    assert "请填写查看事由（至少2个字）" in page(r).text  # the service's one rule and message, shown on the form
    [refused] = site.db.scalars(select(AuditEvent).where(AuditEvent.action == "person.reveal_refused"))
    assert (refused.actor_name, refused.after) == ("shequ1", {"reason": "reason_required"})
    r = client.post(f"{R}/persons/{person.id}/reveal", data={"csrf_token": p.csrf(), "reason": "入户走访核实",
                                                             "from": "household"})
    assert r.status_code == 200 and "13812345678" in r.text and page(r).h1() == household.address
    fragment = client.post(f"{R}/persons/{person.id}/reveal", data={"reason": "电话回访"},
                           headers={"HX-Request": "true", "X-CSRF-Token": p.csrf()})
    assert "<html" not in fragment.text and "完整信息（已记录审计）" in fragment.text
    events = list(site.db.scalars(select(AuditEvent).where(AuditEvent.action == "person.reveal")
                                  .order_by(AuditEvent.seq)))
    assert [(e.reason, e.actor_name) for e in events] == [("入户走访核实", "shequ1"), ("电话回访", "shequ1")]


# -- Excel -----------------------------------------------------------------------------------------------------------

def test_an_excel_import_round_trip_keeps_rejected_rows_to_fix_and_import_again(client: Any, site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    page_ = page(client.get(f"{R}/import"))
    assert page_.unlabelled_controls() == []
    template = client.get(f"{R}/persons/template.xlsx")
    assert template.headers["content-type"] == excel.XLSX
    rows = _rows(template.content)
    header = rows[0]
    good, bad = _id(), _id()[:17] + "Z"
    col = {h.rstrip("*"): i for i, h in enumerate(header)}

    def row(name: str, pid: str, grid: str) -> list[Any]:
        cells: list[Any] = [None] * len(header)
        cells[col["姓名"]], cells[col["身份证号"]], cells[col["网格"]] = name, pid, grid
        return cells

    upload = _xlsx([header, rows[1], row("张三", good, "330522001001001"), row("李四", bad, "330522001001002"),
                    row("王五", _id(), "330522002001001")])
    r = client.post(f"{R}/import", data={"csrf_token": page_.csrf(), "kind": "persons"},
                    files={"file": ("人员.xlsx", upload, "application/octet-stream")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    result = page(client.get(r.headers["location"]))
    counts = [li.text.split()[0] for li in result.find("ul", class_="stat-tiles batch-counts").children]
    # read, created, updated, unchanged, quarantined (the example row is skipped)
    assert counts == ["3", "1", "0", "0", "2"]
    reasons = [td.text for td in result.find_all("td", class_="reason")]
    assert reasons == ["身份证号：身份证号码格式不正确：应为18位，前17位为数字，末位为数字或X",
                       "引用的单位、楼栋或房屋不在您的管辖范围内"]
    assert bad not in result.html  # shown masked
    # the rows wait in the hub's quarantine: community staff (hub:read) are linked to them there
    hub_link = next(a.attrs["href"] for a in result.find_all("a") if "/console/hub/quarantine" in a.attrs["href"])
    assert page(client.get(hub_link)).text.count("身份证号码格式不正确") == 1
    download = next(a.attrs["href"] for a in result.find_all("a") if a.attrs.get("href", "").endswith(".xlsx"))
    fixed = _rows(client.get(download).content)
    assert fixed[0][-1] == "错误原因" and [r_[-2] for r_ in fixed[1:]] == [4, 5]
    fixed[1][col["身份证号"]] = _id()
    again = client.post(f"{R}/import", data={"csrf_token": page_.csrf(), "kind": "persons"},
                        files={"file": ("改.xlsx", _xlsx(fixed[:2]), "application/octet-stream")},
                        follow_redirects=False)
    assert [li.text.split()[0] for li in page(client.get(again.headers["location"])).find(
        "ul", class_="stat-tiles batch-counts").children] == ["1", "1", "0", "0", "0"]
    assert sorted(p.name for p in site.db.scalars(select(Person))) == ["张三", "李四"]
    listed = page(client.get(f"{R}/import"))
    assert len([a for a in listed.find_all("a") if "/imports/" in a.attrs.get("href", "")]) == 2


def test_a_refused_upload_comes_back_with_the_reason(client: Any, site: Any) -> None:
    sign_in(client, site.token("shequ1"))
    token = page(client.get(f"{R}/import")).csrf()
    r = client.post(f"{R}/import", data={"csrf_token": token, "kind": "persons"})
    assert r.status_code == 422 and "请选择要上传的 Excel 文件" in page(r).text
    r = client.post(f"{R}/import", data={"csrf_token": token, "kind": "persons"},
                    files={"file": ("人员.csv", "姓名,身份证号\n".encode(), "text/csv")})
    assert r.status_code == 422 and "请上传 Excel 2007 及以上版本的 .xlsx 文件" in page(r).text
    assert page(r).find("option", value="persons").attrs.get("selected") == ""


def test_an_export_downloads_the_filtered_list_masked_and_an_oversized_one_explains_why(
    client: Any, site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _person(site, "ga", "王芳", phone="13812345678")
    _person(site, "gb", "李强", phone="13900001111")
    sign_in(client, site.token("shequ1"))
    listing = page(client.get(f"{R}/persons", params={"q": "王"}))
    href = next(a.attrs["href"] for a in listing.find_all("a") if "export.xlsx" in a.attrs.get("href", ""))
    r = client.get(href)
    rows = _rows(r.content)
    assert r.headers["content-type"] == excel.XLSX and len(rows) == 2 and rows[1][2] == "王芳"
    assert "13812345678" not in str(rows) and "138****5678" in rows[1]
    event = site.db.scalar(select(AuditEvent).where(AuditEvent.action == "registry.export"))
    assert event.after == {"filters": {"name": "王"}, "rows": 1}
    monkeypatch.setattr(excel, "MAX_EXPORT_ROWS", 1)
    r = client.get(f"{R}/persons/export.xlsx")
    assert r.status_code == 422 and "超过单次导出上限 1 条" in page(r).find("div", class_="alert").text


# -- the message catalogue -----------------------------------------------------------------------------------------

def test_every_form_label_hint_and_choice_is_catalogued_and_matches_the_excel_labels() -> None:
    from zhili.registry.fields import BUILDING_TYPES, HOUSEHOLD_USES, ORG_TYPES, PERSON_STATUSES, RESIDENT_TYPES
    from zhili.registry.models import CARE_TAGS, RELATIONS, RegisterKind
    from zhili.web import i18n
    from zhili.web.pages_registry import FORMS

    keys = set()
    for inputs in FORMS.values():
        for i in inputs:
            keys |= {i.label_key} | ({i.hint} if i.hint else set()) | {f"{i.label_kind}.{v}" for v in i.options}
    keys |= {f"registry.{kind}.{k}" for kind in ("section", "new", "search", "template") for k in RegisterKind}
    keys |= {f"registry.filter.{k}" for k in ("building_type", "use", "resident_type", "care_tag", "status",
                                               "org_type")}
    keys |= {f"registry.level.{k}" for k in ("district", "street", "community", "grid")}
    assert sorted(k for k in keys if not i18n.has(k)) == []
    # the Chinese the pages show for a choice is the Chinese the Excel template accepts
    for kind, labels in (("registry.building_type", BUILDING_TYPES), ("registry.org_type", ORG_TYPES),
                         ("registry.person_status", PERSON_STATUSES), ("use", HOUSEHOLD_USES),
                         ("resident_type", RESIDENT_TYPES), ("relation", RELATIONS), ("care", CARE_TAGS)):
        assert {v: i18n.translate("zh-CN", f"{kind}.{v}") for v in labels} == labels
