"""Every service function that takes a principal checks the permission itself, first — with no route in between
(data-hub jobs, models and sensors will call the services directly).

Generated: the test walks the domain modules for public functions with a ``principal`` parameter and fails when
one has no expectation below. Each function is called twice with untouchable arguments (a session and values
that fail the test if the function reads them): with a principal lacking a required permission it must raise
:class:`Forbidden` before it reads anything; with one holding every permission it must get past the check (and
then trip over the untouchable arguments).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import zhili
from zhili.core.audit import AuditEvent
from zhili.core.errors import Forbidden
from zhili.core.jurisdiction import Principal
from zhili.core.security import Perm, Role


@dataclass(frozen=True)
class AnyOf:
    """One of these permissions is enough."""

    perms: tuple[Perm, ...]


@dataclass(frozen=True)
class Exempt:
    """Not an entry point to protected data; why."""

    why: str


P = Perm
_OWN = Exempt("the caller's own account, notifications or home community")
_PUBLIC = Exempt("what every signed-in user may read (live notices, the monthly disclosure, whom to address)")
_PREDICATE = Exempt("a jurisdiction predicate or helper used inside services that have checked already")

EXPECTED: dict[str, Perm | tuple[Perm, ...] | AnyOf | Exempt] = {
    # cases
    "cases.config.edit_category": P.config_write,
    "cases.config.save_rule": P.config_write,
    "cases.config.try_rules": P.config_write,
    "cases.config.recent_versions": P.config_write,
    "cases.dispatch.create_rule": P.config_write,
    "cases.dispatch.update_rule": P.config_write,
    "cases.taxonomy.create_category": P.config_write,
    "cases.taxonomy.update_category": P.config_write,
    "cases.scope.visibility": _PREDICATE,
    "cases.scope.can_see_values": _PREDICATE,
    "cases.scope.can_see": _PREDICATE,
    "cases.duplicates.suggest": _PREDICATE,
    "cases.duplicates.visible": _PREDICATE,
    "intel.duplicates.evaluate": P.intel_admin,
    "cases.service.get_case": P.case_read,
    "cases.service.get_case_by_number": P.case_read,
    "cases.service.list_cases": P.case_read,
    "cases.service.report_case": P.case_report,
    "cases.service.submit_report": P.case_report,
    "cases.guards.supervision_addressees": _PREDICATE,
    "cases.engine.available_actions": P.case_read,
    "cases.engine.transition": P.case_read,  # then the workflow table's roles decide who may take each step
    "cases.engine.take_steps": P.case_read,
    "cases.intake.resolve_channel": Exempt("intake's channel rule, applied inside intake to every report"),
    "cases.support.add_support": (P.case_read, P.resident_participate),
    "cases.supervision.list_supervisions": P.case_read,
    "cases.service.find_duplicates": P.case_read,
    "cases.service.timeline": P.case_read,
    "cases.service.reveal_reporter": P.case_reveal_reporter,
    "cases.service.pending_for": P.case_read,
    "cases.service.queue_counts_by_state": P.case_read,
    "cases.attachments.set_attachment": P.case_report,
    "cases.attachments.read_attachment": P.case_read,
    "cases.export.export_cases_xlsx": P.case_read,
    "cases.saved_views.list_views": P.case_read,  # then the caller's own views only
    "cases.saved_views.save_view": P.case_read,
    "cases.saved_views.delete_view": P.case_read,
    "cases.inbox.inbox": _OWN,
    "cases.inbox.mark_read": _OWN,
    "cases.supervision.list_open_supervisions": P.case_read,
    "cases.supervision.supervise_case": P.case_read,
    "cases.tasks.department_tasks": P.case_read,
    "cases.worklists.count_by_state": P.case_read,
    "cases.worklists.count_by_channel": P.case_read,
    "cases.worklists.by_deadline": P.case_read,
    # core
    "audit.service.list_events": P.audit_read,
    "audit.service.verify": P.audit_read,
    "audit.service.get_event": P.audit_read,
    "audit.service.list_anchors": P.audit_read,
    "audit.service.accounts_at_risk": P.audit_read,
    "audit.names.describe": P.audit_read,
    "core.jurisdiction.authorize": Exempt("the check itself"),
    "core.jurisdiction.scoped": _PREDICATE,
    "core.jurisdiction.in_scope": _PREDICATE,
    "core.jurisdiction.ensure_in_scope": _PREDICATE,
    "core.reveal.authorize_reveal": Exempt("the reveal check itself"),
    # intelligence
    "intel.hot_cases.hot_issues_for": P.intel_read,
    # dashboard
    "dashboard.service.require_dashboard": Exempt("the dashboard check itself (every figure calls it)"),
    "dashboard.service.root_unit": P.dashboard_read,
    "dashboard.service.resolve_unit": P.dashboard_read,
    "dashboard.service.breadcrumb": P.dashboard_read,
    "dashboard.service.kpis": P.dashboard_read,
    "dashboard.service.breakdown_by_child": P.dashboard_read,
    "dashboard.service.trend": P.dashboard_read,
    "dashboard.service.categories": P.dashboard_read,
    "dashboard.service.ranking": P.dashboard_read,
    "dashboard.service.cases_in_grid": P.dashboard_read,
    # open311 keys
    "open311.service.create_api_key": P.config_write,
    "open311.service.revoke_api_key": P.config_write,
    "open311.service.list_api_keys": P.config_write,
    # participation
    "participation.service.resident_community": _OWN,
    "participation.service.set_resident_community": P.resident_participate,
    "participation.service.require_staff": Exempt("the staff check itself (takes the permission)"),
    "participation.service.nearby_cases": P.case_read,
    "participation.service.similar_open_cases": P.case_read,
    "participation.service.get_public_case": P.case_read,
    "participation.service.support_case": (P.case_read, P.resident_participate),
    "participation.service.publishable_units": P.notice_publish,
    "participation.service.create_notice": P.notice_publish,
    "participation.service.get_notice": P.notice_publish,
    "participation.service.update_notice": P.notice_publish,
    "participation.service.withdraw_notice": P.notice_publish,
    "participation.service.list_notices": P.notice_publish,
    "participation.service.notices_for": _PUBLIC,
    "participation.service.read_notice": _PUBLIC,
    "participation.service.disclosure": _PUBLIC,
    "participation.service.suggestion_units": _PUBLIC,
    "participation.service.submit_suggestion": P.resident_participate,
    "participation.service.my_suggestions": P.resident_participate,
    "participation.service.list_suggestions": P.suggestion_reply,
    "participation.service.get_suggestion": AnyOf((P.resident_participate, P.suggestion_reply)),
    "participation.service.reply_suggestion": AnyOf((P.resident_participate, P.suggestion_reply)),
    # regions
    "regions.importer.import_units": P.region_write,
    "regions.picker.pick_units": P.region_read,
    "regions.picker.filter_units": P.region_read,
    "regions.service.list_units": P.region_read,
    "regions.service.get_unit": P.region_read,
    "regions.service.get_tree": P.region_read,
    "regions.service.list_boundaries": P.region_read,
    "regions.service.get_boundary_history": P.region_read,
    "regions.service.codes_for": P.region_read,
    "regions.service.visible": _PREDICATE,
    "regions.service.create_unit": P.region_write,
    "regions.service.update_unit": P.region_write,
    "regions.service.retire_unit": P.region_write,
    "regions.service.redraw_unit": P.region_write,
    "regions.service.set_boundary": P.region_write,
    # registers
    "registry.excel.template_workbook": P.registry_write,
    "registry.excel.export_workbook": P.registry_read,
    "registry.overview.unit_overview": P.registry_read,
    "registry.overview.root_units": P.registry_read,
    "registry.overview.unit_options": P.registry_read,
    "registry.overview.unit_names": P.registry_read,
    **{f"registry.service.{verb}_{kind}": P.registry_write for verb in ("create", "update", "delete")
       for kind in ("building", "household", "person", "organisation")},
    **{f"registry.service.{name}": P.registry_read for name in (
        "get_building", "list_buildings", "list_entrances", "get_household", "list_households", "get_person",
        "list_persons", "get_organisation", "list_organisations")},
    "registry.service.add_entrance": P.registry_write,
    "registry.bulk.create_persons": P.registry_write,
    "registry.service.reveal_person": (P.registry_read, P.pii_reveal),
    # users
    "users.admin.search_users": P.user_read,
    **{f"users.admin.{name}": P.user_write for name in (
        "create_account", "edit_account", "reset_to_generated_password", "unlock_account", "set_account_active",
        "revoke_sessions")},
    "users.service.create_user": P.user_write,
    "users.service.get_user": P.user_read,
    "users.service.list_users": P.user_read,
    "users.service.update_user": P.user_write,
    "users.service.reset_password": P.user_write,
    "users.service.change_password": _OWN,
    "users.service.get_user_self": _OWN,
    # the data hub
    # intel: model versions
    "intel.store.save": P.intel_admin,
    "intel.store.activate": P.intel_admin,
    "intel.store.rollback": P.intel_admin,
    "intel.store.list_versions": P.intel_admin,
    "datahub.sources.create_source": P.hub_admin,
    "datahub.sources.update_source": P.hub_admin,
    "datahub.sources.get_source": P.hub_read,
    "datahub.sources.list_sources": P.hub_read,
    "datahub.sources.source_by_name": P.hub_read,
    "datahub.pipeline.run_import": P.hub_import,
    "datahub.pipeline.rerun_rows": P.hub_import,
    "datahub.imports.list_imports": P.hub_read,
    "datahub.imports.check_target_permission": _PREDICATE,
    "datahub.imports.import_rest": P.hub_import,
    "datahub.imports.get_import": P.hub_read,
    "datahub.imports.resolve_template": P.hub_read,
    "datahub.imports.import_file": P.hub_import,
    "datahub.imports.start_import": P.hub_import,
    # the register's Excel upload, a hub source: the register's own permission (imports.register_uploader)
    "datahub.imports.register_uploader": P.registry_write,
    "datahub.register_import.register_source": P.registry_write,
    "datahub.register_import.import_register_workbook": P.registry_write,
    "datahub.register_import.get_register_import": P.registry_write,
    "datahub.register_import.list_register_imports": P.registry_write,
    "datahub.register_import.quarantined_workbook": P.registry_write,
    "datahub.quarantine.list_rows": P.hub_read,
    "datahub.quarantine.get_row": P.hub_read,
    "datahub.quarantine.fix_row": P.hub_import,
    "datahub.quarantine.rerun": P.hub_import,
    "datahub.quarantine.discard_row": P.hub_import,
    "datahub.quarantine.download": P.hub_import,
    **{f"datahub.templates.{name}": P.hub_read for name in (
        "get_template", "list_templates", "template_versions", "export_template", "compiled")},
    "datahub.templates.save_template": P.hub_admin,
    "datahub.templates.import_template": P.hub_admin,
    "datahub.address.place_address": P.hub_read,
    "datahub.golden.resolve": P.hub_import,
    "datahub.golden.resurvive": P.hub_import,
    "datahub.survivorship.list_rules": P.hub_read,
    "datahub.survivorship.set_rule": P.hub_admin,
    **{f"datahub.review.{name}": P.hub_review for name in (
        "list_candidates", "get_candidate", "candidate_view", "merge", "keep_apart")},
    "datahub.review.undo_merge": (P.hub_review, P.hub_read),
    "datahub.review.get_merge": P.hub_read,
    "datahub.review.list_merges": P.hub_read,
    **{f"datahub.changes.{name}": P.hub_admin for name in (
        "create_subscription", "list_subscriptions", "get_subscription", "update_subscription",
        "delete_subscription", "list_deliveries")},
    **{f"datahub.lineage.{name}": P.hub_read for name in (
        "get_golden", "golden_lineage", "register_lineage", "golden_view")},
    "datahub.lineage.case_lineage": (P.hub_read, P.case_read),
    "datahub.quality.source_quality": P.hub_read,
    "datahub.quality.import_quality": P.hub_read,
    "datahub.quality.overview": P.hub_read,
    # intelligence: early warnings
    **{f"intel.warnings.{name}": P.intel_read for name in ("list_warnings", "get_warning", "counts_by_state")},
    "intel.warnings.dismiss": P.intel_warn,
    "intel.warnings.convert": (P.intel_warn, P.case_report),
    "intel.warnings.evaluate": P.intel_admin,
    # visits
    "visits.service.record_visit": (P.registry_write, P.visit_record),
    "visits.service.submit_visit": (P.registry_write, P.visit_record),
    "visits.service.escalate_visit": (P.case_report, P.visit_record),
    **{f"visits.service.{name}": P.registry_read for name in (
        "get_visit", "list_visits", "coverage", "period_coverage", "read_photo", "household_form",
        "worker_overview", "household_history", "browse_visits")},
    # intelligence: spatial hotspots and grid risk (研判)
    "intel.hotspots.require_intel": Exempt("the intel reading check itself (the analyses call it)"),
    "intel.hotspots.hotspots_for": P.intel_read,
    "intel.risk.rank_grids": P.intel_admin,
    "intel.risk.risk_for": P.intel_read,
    "intel.risk_eval.evaluate": P.intel_admin,
    "intel.backtest.evaluate_all": P.intel_admin,
    "intel.routing.train_platform": P.intel_admin,
    "intel.routing.fit_platform": P.intel_admin,
    "intel.routing.store_platform": P.intel_admin,
    "intel.routing.suggest_text": P.case_report,
    "intel.routing.suggestions_for_case": (P.intel_read, P.case_read),
    "intel.routing.take_suggestion": (P.intel_read, P.case_read),
    **{f"intel.store.{name}": P.intel_admin for name in ("save", "activate", "rollback", "list_versions")},
    # IoT perception (物联感知): reading iot:read in one's jurisdiction; the registry, types and rules iot:admin
    **{f"iot.devices.{name}": P.iot_read for name in ("list_devices", "page_devices", "count_devices",
                                                       "device_figures", "count_by_status", "get_device",
                                                       "get_devices", "recent_messages", "rejected_messages")},
    **{f"iot.devices.{name}": P.iot_admin for name in ("create_device", "update_device", "set_device_status",
                                                        "import_devices")},
    **{f"iot.types.{name}": P.iot_read for name in ("list_types", "get_type")},
    **{f"iot.types.{name}": P.iot_admin for name in ("create_type", "update_type")},
    **{f"iot.rules.{name}": P.iot_read for name in ("list_rules", "get_rule", "test_rule")},
    **{f"iot.rules.{name}": P.iot_admin for name in ("create_rule", "update_rule", "delete_rule")},
    **{f"iot.alerts.{name}": P.iot_read for name in ("list_alerts", "page_alerts", "open_alerts_by_type",
                                                      "alarmed_devices", "get_alert")},
    "iot.alerts.close_alert": P.iot_admin,
    # rental: residence-permit applications (居住证申领) — staff of the register in scope, or the stay's tenant
    "rental.permits.apply": AnyOf((P.rental_write, P.rental_self)),
    "rental.permits.preview": AnyOf((P.rental_read, P.rental_self)),
    "rental.permits.status_for_stay": AnyOf((P.rental_read, P.rental_self)),
    "rental.permits.my_stays": P.rental_self,
    "rental.permits.my_applications": P.rental_self,
    "rental.permits.summary": P.rental_read,
    "rental.permits.list_applications": P.rental_read,
    "rental.permits.reveal_address": P.rental_read,
    # rental housing: staff act in their jurisdiction with rental:*; residents on their own rooms and stays with
    # rental:self (zhili.rental.common) — one of the two is enough to get past the check
    **{f"rental.{name}": AnyOf((P.rental_write, P.rental_self)) for name in (
        "rooms.register_room", "rooms.update_room", "rooms.set_room_status", "rooms.renew_checkin_code",
        "rooms.find_buildings", "stays.check_in", "stays.check_out", "stays.extend_stay", "keys.issue_landlord_key",
        "keys.renew_key", "keys.revoke_key")},
    **{f"rental.{name}": AnyOf((P.rental_read, P.rental_self)) for name in (
        "rooms.get_room", "rooms.room_photo", "stays.get_stay", "stays.list_stays", "stays.stay_photo",
        "keys.list_keys", "common.load_room", "common.load_stay")},
    **{f"rental.{name}": P.rental_self for name in ("rooms.room_by_code", "rooms.my_rooms", "stays.my_stays",
                                                    "keys.my_keys")},
    **{f"rental.{name}": P.rental_read for name in ("rooms.list_rooms", "stays.active_counts",
                                                    "stays.stays_of_person", "police.list_deliveries",
                                                    "rules.list_warnings")},
    "rental.police.redeliver": P.rental_write,
    "rental.stays.reveal_stay": (P.rental_read, P.pii_reveal),
    "rental.export.export_register": (P.rental_export, P.rental_read),
    "rental.common.require_any": Exempt("the rental check itself (every rental service calls it first)"),
    **{f"rental.common.{name}": _PREDICATE for name in ("account_phone_bidx", "tenant_condition", "is_landlord",
                                                        "is_tenant", "delegate")},
    "rental.persons.resolve_person": Exempt("the register step of a check-in or room registration, after its check"),
    "rental.persons.release_tenant": Exempt("the register step of a check-out, after its check"),
    # 4E evaluation: the framework (read eval:read, edit eval:admin), weights, runs and the what-if ranking
    **{f"evaluation.service.{name}": P.eval_read for name in ("list_indicators", "get_indicator",
                                                              "list_weight_sets")},
    **{f"evaluation.service.{name}": P.eval_admin for name in ("create_indicator", "update_indicator",
                                                               "save_weights", "run_period", "what_if")},
    "evaluation.service.district_path": _PREDICATE,
    # 4E evaluation: equity analysis
    "evaluation.analysis.current_run": P.eval_read,
    "evaluation.analysis.equity_report": P.eval_read,
    # 4E evaluation (4E 评估): scorecards, drill-downs, rankings and reports of one's own subtree
    **{f"evaluation.reads.{name}": P.eval_read for name in ("periods", "scorecard", "indicator_detail", "ranking",
                                                             "unit_choices")},
    **{f"evaluation.report.{name}": P.eval_read for name in ("report_xlsx", "report_pdf", "report")},
    # the staff workbench (each board checks what its figures need; the services it calls check again)
    "workbench.service.command_centre_board": P.case_read,
    "workbench.service.department_board": P.case_read,
    "workbench.service.unit_board": (P.case_read, P.dashboard_read, P.registry_read, P.notice_publish),
    "workbench.service.leader_board": (P.case_read, P.dashboard_read),
    "workbench.service.admin_board": (P.user_write, P.config_write),
    # 4E evaluation, manual indicators (填报): read eval:read; fill eval:fill; approve eval:approve (by the unit above);
    # lock eval:approve or eval:admin; unlock eval:admin — each in the caller's jurisdiction
    **{f"evaluation.forms.{name}": P.eval_read for name in ("list_datasets", "get_form")},
    "evaluation.forms_status.completeness": P.eval_read,
    "evaluation.forms_status.send_reminders": P.eval_approve,
    **{f"evaluation.forms.{name}": P.eval_fill for name in ("save", "submit")},
    **{f"evaluation.forms.{name}": P.eval_approve for name in ("approve", "return_")},
    "evaluation.forms.lock": AnyOf((P.eval_approve, P.eval_admin)),
    "evaluation.forms.unlock": P.eval_admin,
    **{f"evaluation.forms_excel.{name}": P.eval_fill for name in ("template", "upload")},
    # working calendar
    "worktime.service.set_override": P.config_write,
    "worktime.service.delete_override": P.config_write,
}

# Reveals record their refusal (an audit row kept although the request is rolled back): they need a session.
RECORDS_REFUSAL = {"cases.service.reveal_reporter", "registry.service.reveal_person", "rental.stays.reveal_stay"}
_NOT_SERVICES = ("zhili.web", "zhili.seed", "zhili.migrations", "zhili.cli", "zhili.app", "zhili.audit.api",
                 "zhili.cli_hub", "zhili.cli_hub_tools")


def _service_functions() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for info in pkgutil.walk_packages(zhili.__path__, "zhili."):
        if info.name.startswith(_NOT_SERVICES) or info.name.rsplit(".", 1)[-1] in ("api", "api_forms"):
            continue
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == info.name \
                    and "principal" in inspect.signature(fn).parameters:
                found[f"{info.name.removeprefix('zhili.')}.{name}"] = fn
    return found


FUNCTIONS = _service_functions()
CHECKED = sorted(k for k, v in EXPECTED.items() if not isinstance(v, Exempt))


class Touched(Exception):
    """The function read an argument it was given."""


class Untouchable:
    """An argument that fails the test when used: the permission must be checked before anything is read."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str) -> Any:
        raise Touched(f"{self._name}.{attr}")

    def _touch(self, *_: Any, **__: Any) -> Any:
        raise Touched(self._name)

    __eq__ = __hash__ = __bool__ = __iter__ = __len__ = __getitem__ = __call__ = __lt__ = __str__ = _touch  # type: ignore[assignment]
    __float__ = __int__ = __index__ = __contains__ = __await__ = _touch  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<untouchable {self._name}>"


@dataclass(frozen=True)
class Holding(Principal):
    """A principal holding exactly ``held`` (whatever its role grants)."""

    held: frozenset[Perm] = frozenset()

    @property
    def permissions(self) -> frozenset[Perm]:
        return self.held


def holding(perms: frozenset[Perm]) -> Holding:
    return Holding(user_id=uuid.uuid4(), username="probe", display_name="probe", role=Role.resident,
                   scope_paths=("330522",), unit_ids=(uuid.uuid4(),), department="CG", held=perms)


def _required(expected: Any) -> list[frozenset[Perm]]:
    """The permission sets to take away, one at a time, each of which must make the call refused."""
    if isinstance(expected, AnyOf):
        return [frozenset(expected.perms)]
    perms = expected if isinstance(expected, tuple) else (expected,)
    return [frozenset({p}) for p in perms]


def _call(name: str, principal: Principal, session: Any) -> Any:
    fn = FUNCTIONS[name]
    kwargs: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if pname == "principal":
            kwargs[pname] = principal
        elif pname == "session":
            kwargs[pname] = session
        elif name in RECORDS_REFUSAL and not isinstance(session, Untouchable):  # the refusal names the object
            kwargs[pname] = "回访核实" if pname == "reason" else uuid.uuid4()
        elif param.default is inspect.Parameter.empty:
            kwargs[pname] = Untouchable(pname)
    result = fn(**kwargs)
    if inspect.iscoroutine(result):
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        # its own loop in its own thread: an earlier test (the browser tests) may have left one running here
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, result).result()
    return result


def test_every_service_function_taking_a_principal_has_an_expectation() -> None:
    missing = sorted(set(FUNCTIONS) - set(EXPECTED))
    assert not missing, f"say which permission these need (or why none) in EXPECTED: {missing}"
    stale = sorted(set(EXPECTED) - set(FUNCTIONS))
    assert not stale, f"no longer service functions with a principal: {stale}"


@pytest.mark.parametrize("name", CHECKED)
def test_a_principal_without_the_permission_is_refused_before_anything_is_read(name: str, db: Session) -> None:
    for taken in _required(EXPECTED[name]):
        principal = holding(frozenset(Perm) - taken)
        session = db if name in RECORDS_REFUSAL else Untouchable("session")
        with pytest.raises(Forbidden) as refused:
            _call(name, principal, session)
        assert refused.value.status == 403


@pytest.mark.parametrize("name", CHECKED)
def test_a_principal_with_every_permission_gets_past_the_check(name: str) -> None:
    with pytest.raises(Touched):
        _call(name, holding(frozenset(Perm)), Untouchable("session"))


@pytest.mark.parametrize("name", sorted(RECORDS_REFUSAL))
def test_a_refused_reveal_is_recorded(name: str, db: Session) -> None:
    before = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
    with pytest.raises(Forbidden):
        _call(name, holding(frozenset()), db)
    [row] = db.scalars(select(AuditEvent).where(AuditEvent.seq > before))
    assert row.action.endswith(".reveal_refused") and row.after == {"reason": "permission_denied"}
