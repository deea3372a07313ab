"""Staff-console configuration pages: the taxonomy editor (事件分类), the responsibility-list rule editor
(权责清单/派单规则) with its "test this rule" box, and the holiday-calendar overrides (调休/节假日). Account
administration (:mod:`pages_admin_users`) and the supervision list (:mod:`pages_supervision`) hang off the
same router. Forms carry the CSRF token; a refused form comes back with what was typed and a Chinese error."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zhili.cases import config, dispatch, taxonomy
from zhili.cases.models import Urgency
from zhili.core.clock import today
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.http.deps import Db
from zhili.org import service as org
from zhili.regions import picker as unit_picker
from zhili.users.names import display_names
from zhili.web import pages_admin_users, pages_supervision
from zhili.web.adminkit import (
    AdminHubUser,
    ConfigUser,
    Picker,
    StaffUser,
    form_values,
    invalid,
    number,
    optional_uuid,
    picker,
    query_text,
    required,
    unit_option,
    words,
)
from zhili.web.casepages import PostedForm, text
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render, tr
from zhili.worktime import service as worktime

router = APIRouter(prefix="/console")
router.include_router(pages_admin_users.router)
router.include_router(pages_supervision.router)

MAX_LIMIT_HOURS = 10_000
CODE_RE = re.compile(r"^[0-9A-Za-z_-]{2,32}$")
KINDS = ("component", "event", "social")
TIME_MODES = ("working", "natural")


@router.get("/admin/")
def hub(request: Request, pu: AdminHubUser) -> Response:
    return render(request, "console/admin/index.html")


@router.get("/admin/units/pick")
def pick(request: Request, session: Db, pu: StaffUser, field: Annotated[str, Query(max_length=40)],
         mode: Annotated[str, Query(pattern="^(id|path)$")] = "id", multi: bool = False,
         unit_q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    """The unit picker's search results (an htmx fragment)."""
    units = unit_picker.pick_units(session, principal=pu.principal, q=query_text(unit_q, 50))
    pk = Picker(field=re.sub(r"[^a-z_]", "", field), label="", mode=mode, multi=multi,
                results=[unit_option(u, mode) for u in units])
    return render(request, "console/admin/_picker_results.html", {"pk": pk})


# -- taxonomy -----------------------------------------------------------------------------------------------

@router.get("/admin/categories")
def categories(request: Request, session: Db, pu: ConfigUser,
               q: Annotated[str | None, Query(max_length=50)] = None, active_only: bool = False) -> Response:
    query = query_text(q, 50)
    return render(request, "console/admin/categories.html", {
        "tree": config.category_tree(session, q=query or None, include_retired=not active_only), "q": query,
        "active_only": active_only, "departments": org.department_names(session)})


CATEGORY_FIELDS = ("code", "name", "parent_code", "kind", "default_department", "accept_hours", "handle_hours",
                   "verify_hours", "time_mode", "urgency", "keywords", "description", "is_active")


def _category_form(request: Request, session: Any, *, values: dict[str, str], code: str | None = None,
                   error: str | None = None, status: int = 200) -> Response:
    current = taxonomy.get_current_category(session, code=code) if code else None
    history = taxonomy.category_history(session, code=code) if code else []
    return render(request, "console/admin/category_form.html", {
        "values": values, "category": current, "error": error, "history": history,
        "people": display_names(session, usernames=[h.created_by for h in history]),
        "parents": taxonomy.list_categories(session, include_inactive=True),
        "departments": org.list_departments(session), "names": org.department_names(session),
        "kinds": KINDS, "time_modes": TIME_MODES, "urgencies": [u.value for u in Urgency],
    }, status=status)


def _category_values(request: Request, form: FormData, *, creating: bool) -> dict[str, Any]:
    raw = form_values(form, CATEGORY_FIELDS)
    out: dict[str, Any] = {"name": required(request, raw["name"], "admin.cat.name", 100)}
    if creating:
        if not CODE_RE.fullmatch(raw["code"]):
            raise invalid(request, "admin.err.code")
        out["code"] = raw["code"]
        out["parent_code"] = raw["parent_code"] or None
        if out["parent_code"] is None:
            if raw["kind"] not in KINDS:
                raise invalid(request, "admin.err.choice", field=tr(request, "admin.cat.kind"))
            out["kind"] = raw["kind"]
    for key in ("accept_hours", "handle_hours", "verify_hours"):
        value = number(request, raw[key], f"admin.cat.{key}", above=0, high=MAX_LIMIT_HOURS)
        if value is None and creating:  # when editing, empty keeps the current limit (major classes have none)
            raise invalid(request, "admin.err.required", field=tr(request, f"admin.cat.{key}"))
        out[key] = None if value is None else float(value)
    if raw["time_mode"] not in TIME_MODES:
        raise invalid(request, "admin.err.choice", field=tr(request, "admin.cat.time_mode"))
    if raw["urgency"] not in {u.value for u in Urgency}:
        raise invalid(request, "admin.err.choice", field=tr(request, "admin.cat.urgency"))
    if len(raw["description"]) > 2000:
        raise invalid(request, "admin.err.too_long", field=tr(request, "admin.cat.description"), n=2000)
    out.update(default_department=raw["default_department"] or None, time_mode=raw["time_mode"],
               urgency=Urgency(raw["urgency"]), keywords=words(raw["keywords"]),
               description=raw["description"] or None)
    if not creating:
        out["is_active"] = raw["is_active"] != "0"
    return out


def _category_raw(cat: Any) -> dict[str, str]:
    def num(v: Any) -> str:
        return "" if v is None else f"{v:g}"

    return {"code": cat.code, "name": cat.name, "parent_code": cat.parent_code or "", "kind": cat.kind,
            "default_department": cat.default_department or "", "accept_hours": num(cat.accept_hours),
            "handle_hours": num(cat.handle_hours), "verify_hours": num(cat.verify_hours),
            "time_mode": cat.time_mode, "urgency": getattr(cat.urgency, "value", cat.urgency),
            "keywords": "、".join(cat.keywords or []), "description": cat.description or "",
            "is_active": "1" if cat.is_active else "0"}


@router.get("/admin/categories/new")
def category_new(request: Request, session: Db, pu: ConfigUser,
                 parent: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    values = dict.fromkeys(CATEGORY_FIELDS, "")
    values.update(parent_code=parent or "", kind="social", accept_hours="2", handle_hours="40", verify_hours="8",
                  time_mode="working", urgency="normal", is_active="1")
    return _category_form(request, session, values=values)


@router.post("/admin/categories")
def category_create(request: Request, session: Db, pu: ConfigUser, form: PostedForm) -> Response:
    try:
        cat = taxonomy.create_category(session, principal=pu.principal,
                                       data=_category_values(request, form, creating=True))
    except DomainError as exc:
        roll_back_refused(session)
        return _category_form(request, session, values=form_values(form, CATEGORY_FIELDS), error=exc.message,
                              status=exc.status)
    return redirect(f"/console/admin/categories/{cat.code}?msg=admin_saved")


@router.get("/admin/categories/{code}")
def category_edit(request: Request, session: Db, pu: ConfigUser, code: str) -> Response:
    cat = taxonomy.get_current_category(session, code=code)
    return _category_form(request, session, values=_category_raw(cat), code=code)


@router.post("/admin/categories/{code}")
def category_save(request: Request, session: Db, pu: ConfigUser, code: str, form: PostedForm) -> Response:
    try:
        _, changed = config.edit_category(session, principal=pu.principal, code=code,
                                          values=_category_values(request, form, creating=False))
    except DomainError as exc:
        roll_back_refused(session)
        values = {**_category_raw(taxonomy.get_current_category(session, code=code)),
                  **form_values(form, CATEGORY_FIELDS[1:])}
        values.update(code=code, parent_code=values["parent_code"])
        return _category_form(request, session, values=values, code=code, error=exc.message, status=exc.status)
    return redirect(f"/console/admin/categories/{code}?msg={'admin_saved' if changed else 'admin_unchanged'}")


# -- the responsibility list --------------------------------------------------------------------------------

RULE_FIELDS = ("name", "priority", "category_code", "region_path", "keywords", "hour_from", "hour_to",
               "target_department", "target_unit_id", "confidence", "handle_hours", "enabled", "note")
TEST_FIELDS = ("category_code", "unit_id", "lon", "lat", "description")


def _rule_pickers(request: Request, session: Any, pu: PageUser, values: dict[str, str]) -> dict[str, Picker]:
    offered = unit_picker.pick_units(session, principal=pu.principal)
    target = values.get("target_unit_id", "")
    region = values.get("region_path", "")
    ids = [uuid.UUID(target)] if _is_uuid(target) else []
    units = unit_picker.units_named(session, ids=ids, paths=[region])
    return {
        "region": picker("region_path", tr(request, "admin.rule.region"), units=units, chosen_values=[region],
                         mode="path", empty_label=tr(request, "admin.rule.region_any"), offered=offered),
        "target_unit": picker("target_unit_id", tr(request, "admin.rule.target_unit"), units=units,
                              chosen_values=[target], empty_label=tr(request, "admin.rule.target_unit_none"),
                              offered=offered),
    }


def _is_uuid(raw: str) -> bool:
    try:
        uuid.UUID(raw)
    except ValueError:
        return False
    return True


def _rule_context(session: Any, rules: list[Any]) -> dict[str, Any]:
    """Names for what rules refer to: categories, departments, units."""
    units = unit_picker.units_named(session, ids=[r.target_unit_id for r in rules],
                                    paths=[r.region_path for r in rules])
    return {"category_names": {c.code: c.name for c in taxonomy.list_categories(session, include_inactive=True)},
            "names": org.department_names(session), "unit_by_id": {str(u.id): u for u in units},
            "unit_by_path": {u.path: u for u in units}}


def _test_box(request: Request, session: Any, pu: PageUser, *, test_values: dict[str, str] | None,
              trial: Any, test_error: str | None, offered: list[Any]) -> dict[str, Any]:
    """What the "which department would this go to?" box shows (the rules list and a rule's edit page)."""
    test_values = test_values or dict.fromkeys(TEST_FIELDS, "")
    chosen = unit_picker.units_named(session, ids=[uuid.UUID(test_values["unit_id"])]
                                     if _is_uuid(test_values["unit_id"]) else [])
    return {"test_picker": picker("unit_id", tr(request, "admin.test.unit"), units=chosen,
                                  chosen_values=[test_values["unit_id"]],
                                  empty_label=tr(request, "admin.test.by_point"), offered=offered),
            "test_values": test_values, "trial": trial, "test_error": test_error}


def _rules_page(request: Request, session: Any, pu: PageUser, *, filters: dict[str, str],
                test_values: dict[str, str] | None = None, trial: Any = None, test_error: str | None = None,
                status: int = 200) -> Response:
    rule_filter = config.RuleFilter(
        category=filters["category"] or None, region_path=filters["region"] or None,
        department=filters["department"] or None, enabled={"1": True, "0": False}.get(filters["enabled"]))
    rules = config.list_rules(session, filters=rule_filter)
    offered = unit_picker.pick_units(session, principal=pu.principal)
    chosen = unit_picker.units_named(session, paths=[filters["region"]])
    return render(request, "console/admin/rules.html", {
        "rules": rules, "filters": filters, **_rule_context(session, rules),
        "categories": taxonomy.list_categories(session, include_inactive=True),
        "departments": org.list_departments(session),
        "region_picker": picker("region", tr(request, "admin.rule.region"), units=chosen,
                                chosen_values=[filters["region"]], mode="path",
                                empty_label=tr(request, "admin.rule.filter_any"), offered=offered),
        "rule_key": None,
        **_test_box(request, session, pu, test_values=test_values, trial=trial, test_error=test_error,
                    offered=offered),
    }, status=status)


@router.get("/admin/rules")
def rules(request: Request, session: Db, pu: ConfigUser,
          category: Annotated[str | None, Query(max_length=32)] = None,
          region: Annotated[str | None, Query(max_length=400)] = None,
          department: Annotated[str | None, Query(max_length=32)] = None,
          enabled: Annotated[str | None, Query(pattern="^[01]?$")] = None) -> Response:
    filters = {"category": query_text(category, 32), "region": query_text(region, 400),
               "department": query_text(department, 32), "enabled": enabled or ""}
    return _rules_page(request, session, pu, filters=filters)


def _trial_values(request: Request, form: FormData) -> dict[str, Any]:
    raw = form_values(form, TEST_FIELDS, 2000)
    lon = number(request, raw["lon"], "report.lon", low=-180, high=180)
    lat = number(request, raw["lat"], "report.lat", low=-90, high=90)
    if (lon is None) != (lat is None):
        raise invalid(request, "admin.err.point")
    unit_id = optional_uuid(request, raw["unit_id"], "admin.test.unit")
    if unit_id is None and lon is None:
        raise invalid(request, "admin.err.place")
    return {"category_code": raw["category_code"] or None, "description": raw["description"],
            "lon": lon if unit_id is None else None, "lat": lat if unit_id is None else None, "unit_id": unit_id}


@router.post("/admin/rules/test")
def rule_test(request: Request, session: Db, pu: ConfigUser, form: PostedForm) -> Response:
    """"Which department would this go to?" — an htmx fragment, or the whole rules page without JavaScript."""
    values = form_values(form, TEST_FIELDS, 2000)
    trial, error, status = None, None, 200
    try:
        trial = config.try_rules(session, principal=pu.principal, **_trial_values(request, form))
    except DomainError as exc:
        error, status = exc.message, exc.status
    if request.headers.get("hx-request"):  # htmx swaps only 2xx answers: the refusal is shown in the box
        return render(request, "console/admin/_rule_test.html", {"trial": trial, "test_error": error,
                                                                **_rule_context(session, [])})
    rule_key = text(form, "rule_key", 40)
    if _is_uuid(rule_key):  # asked on a rule's edit page: the answer comes back there
        rule = dispatch.get_rule(session, rule_key=uuid.UUID(rule_key))
        return _rule_form(request, session, pu, values=_rule_raw(rule), co=list(rule.co_departments or []),
                          rule_key=rule.rule_key, test=(values, trial, error), status=status)
    filters = dict.fromkeys(("category", "region", "department", "enabled"), "")
    return _rules_page(request, session, pu, filters=filters, test_values=values, trial=trial, test_error=error,
                       status=status)


def _rule_raw(rule: Any) -> dict[str, str]:
    def s(v: Any) -> str:
        return "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    return {"name": rule.name, "priority": s(rule.priority), "category_code": rule.category_code or "",
            "region_path": rule.region_path or "", "keywords": "、".join(rule.keywords or []),
            "hour_from": s(rule.hour_from), "hour_to": s(rule.hour_to),
            "target_department": rule.target_department or "", "target_unit_id": s(rule.target_unit_id),
            "confidence": s(rule.confidence), "handle_hours": s(rule.handle_hours),
            "enabled": "1" if rule.enabled else "", "note": rule.note or ""}


def _rule_form(request: Request, session: Any, pu: PageUser, *, values: dict[str, str], co: list[str],
               rule_key: uuid.UUID | None = None, error: str | None = None,
               test: tuple[dict[str, str] | None, Any, str | None] | None = None, status: int = 200) -> Response:
    """The rule editor; an existing rule's page also has its history and the "try the rules" box (``test``: what
    the box was last asked and answered), opened with the rule's category."""
    history = dispatch.rule_history(session, rule_key=rule_key) if rule_key else []
    if rule_key and not history:
        dispatch.get_rule(session, rule_key=rule_key)  # 404
    test_values, trial, test_error = test or ({**dict.fromkeys(TEST_FIELDS, ""),
                                               "category_code": values.get("category_code", "")}, None, None)
    box = _test_box(request, session, pu, test_values=test_values, trial=trial, test_error=test_error,
                    offered=unit_picker.pick_units(session, principal=pu.principal)) if rule_key else {}
    return render(request, "console/admin/rule_form.html", {
        **box,
        "values": values, "co": co, "rule_key": rule_key, "error": error, "history": history,
        "people": display_names(session, usernames=[r.created_by for r in history]),
        **_rule_context(session, history), **_rule_pickers(request, session, pu, values),
        "categories": taxonomy.list_categories(session, include_inactive=True),
        "departments": org.list_departments(session)}, status=status)


def _rule_values(request: Request, form: FormData) -> dict[str, Any]:
    raw = form_values(form, RULE_FIELDS, 2000)
    hour_from = number(request, raw["hour_from"], "admin.rule.hour_from", integer=True, low=0, high=24)
    hour_to = number(request, raw["hour_to"], "admin.rule.hour_to", integer=True, low=0, high=24)
    target_dept = raw["target_department"] or None
    co = [d for d in dict.fromkeys(v.strip() for v in form.getlist("co_departments") if isinstance(v, str))
          if d and d != target_dept]
    priority = number(request, raw["priority"], "admin.rule.priority", integer=True, low=0, high=10_000)
    confidence = number(request, raw["confidence"], "admin.rule.confidence", low=0, high=1)
    if len(raw["note"]) > 2000:
        raise invalid(request, "admin.err.too_long", field=tr(request, "admin.rule.note"), n=2000)
    return {
        "name": required(request, raw["name"], "admin.rule.name", 200),
        "priority": 100 if priority is None else int(priority),
        "category_code": raw["category_code"] or None, "region_path": raw["region_path"] or None,
        "keywords": words(raw["keywords"]), "hour_from": hour_from, "hour_to": hour_to,
        "target_department": target_dept,
        "target_unit_id": optional_uuid(request, raw["target_unit_id"], "admin.rule.target_unit"),
        "co_departments": co, "confidence": 1.0 if confidence is None else float(confidence),
        "handle_hours": number(request, raw["handle_hours"], "admin.rule.handle_hours", above=0,
                               high=MAX_LIMIT_HOURS),
        "enabled": raw["enabled"] == "1", "note": raw["note"] or None,
    }


@router.get("/admin/rules/new")
def rule_new(request: Request, session: Db, pu: ConfigUser,
             category: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    values = dict.fromkeys(RULE_FIELDS, "")
    values.update(priority="100", confidence="1", enabled="1", category_code=query_text(category, 32))
    return _rule_form(request, session, pu, values=values, co=[])


def _save_rule(request: Request, session: Any, pu: PageUser, rule_key: uuid.UUID | None, form: FormData
               ) -> Response:
    try:
        rule, changed = config.save_rule(session, principal=pu.principal, rule_key=rule_key,
                                         values=_rule_values(request, form))
    except DomainError as exc:
        roll_back_refused(session)
        co = [v for v in form.getlist("co_departments") if isinstance(v, str)]
        return _rule_form(request, session, pu, values=form_values(form, RULE_FIELDS, 2000), co=co,
                          rule_key=rule_key, error=exc.message, status=exc.status)
    return redirect(f"/console/admin/rules/{rule.rule_key}?msg={'admin_saved' if changed else 'admin_unchanged'}")


@router.post("/admin/rules")
def rule_create(request: Request, session: Db, pu: ConfigUser, form: PostedForm) -> Response:
    return _save_rule(request, session, pu, None, form)


@router.get("/admin/rules/{rule_key}")
def rule_edit(request: Request, session: Db, pu: ConfigUser, rule_key: uuid.UUID) -> Response:
    rule = dispatch.get_rule(session, rule_key=rule_key)
    return _rule_form(request, session, pu, values=_rule_raw(rule), co=list(rule.co_departments or []),
                      rule_key=rule_key)


@router.post("/admin/rules/{rule_key}")
def rule_save(request: Request, session: Db, pu: ConfigUser, rule_key: uuid.UUID, form: PostedForm) -> Response:
    return _save_rule(request, session, pu, rule_key, form)


@router.post("/admin/rules/{rule_key}/enabled")
def rule_enable(request: Request, session: Db, pu: ConfigUser, rule_key: uuid.UUID, form: PostedForm) -> Response:
    """Retire (停用) or reinstate a rule — a new version like any edit."""
    dispatch.update_rule(session, principal=pu.principal, rule_key=rule_key,
                                changes={"enabled": text(form, "enabled", 1) == "1"})
    return redirect("/console/admin/rules?msg=admin_saved")


# -- calendar overrides -------------------------------------------------------------------------------------

def _this_year() -> int:
    return today().year


def _calendar_page(request: Request, session: Any, *, year: int, values: dict[str, str] | None = None,
                   error: str | None = None, status: int = 200) -> Response:
    return render(request, "console/admin/calendar.html", {
        "year": year, "overrides": worktime.list_overrides(session, year=year),
        "warnings": worktime.calendar_warnings(session, years=[year, year + 1]),
        "values": values or {"day": "", "is_workday": "0", "name": ""}, "error": error}, status=status)


@router.get("/admin/calendar")
def calendar(request: Request, session: Db, pu: ConfigUser,
             year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Response:
    return _calendar_page(request, session, year=year or _this_year())


@router.post("/admin/calendar")
def calendar_set(request: Request, session: Db, pu: ConfigUser, form: PostedForm) -> Response:
    values = form_values(form, ("day", "is_workday", "name"), 200)
    try:
        try:
            day = dt.date.fromisoformat(values["day"])
        except ValueError as exc:
            raise invalid(request, "admin.err.date") from exc
        if not 2000 <= day.year <= 2100:
            raise invalid(request, "admin.err.date")
        if values["is_workday"] not in ("0", "1"):
            raise invalid(request, "admin.err.choice", field=tr(request, "admin.cal.kind"))
        worktime.set_override(session, principal=pu.principal, day=day, is_workday=values["is_workday"] == "1",
                              name=values["name"])
    except DomainError as exc:
        roll_back_refused(session)
        year = int(values["day"][:4]) if values["day"][:4].isdigit() else _this_year()
        return _calendar_page(request, session, year=min(max(year, 2000), 2100), values=values, error=exc.message,
                              status=exc.status)
    return redirect(f"/console/admin/calendar?year={day.year}&msg=admin_saved")


@router.post("/admin/calendar/{day}/delete")
def calendar_delete(request: Request, session: Db, pu: ConfigUser, day: dt.date) -> Response:
    worktime.delete_override(session, principal=pu.principal, day=day)
    return redirect(f"/console/admin/calendar?year={day.year}&msg=admin_deleted")
