"""The manual-indicator pages (考核填报, ``/console/eval/forms``): the completeness tracker of a data set and period
(each community's state, overdue ones, 催报), the Excel template and upload with every refused row and its reason,
and a community's form — each field with its unit, range and last period's value, the errors beside the fields,
the buttons of the steps the caller may take, and the history. Thin routes over :mod:`zhili.evaluation.forms`
and :mod:`zhili.evaluation.forms_excel`, which check permission and jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from zhili.core import clock
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.security import Perm, Role
from zhili.evaluation import forms, forms_check, forms_excel, forms_status
from zhili.evaluation.periods import period_of, previous_period
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.web import casepages as cp
from zhili.web import messages_eval_forms  # noqa: F401  (registers the UI text)
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/console/eval/forms")
BASE = "/console/eval/forms"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PORTALS = frozenset({Role.resident, Role.grid_worker})
STEPS = ("save", "submit", "approve", "return", "lock", "unlock")
BADGES = {forms.MISSING: "badge-red", "draft": "", "submitted": "state-reported", "returned": "badge-yellow",
          "approved": "state-resolved", "locked": "state-closed"}
Text = Annotated[str | None, Query(max_length=40)]


def _gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role in PORTALS or not pu.principal.can(Perm.eval_read):
        raise Forbidden(tr(request, "evalf.forbidden"), code="wrong_portal")
    return pu


Staff = Annotated[PageUser, Depends(_gate)]


def _default_period(kind: str) -> str:
    """The period being reported now: the one before today's."""
    return previous_period(period_of(clock.today(), kind)).text


def _choice(session: Any, pu: PageUser, dataset: str, period: str) -> tuple[list[Any], Any, str]:
    datasets = forms.list_datasets(session, principal=pu.principal)
    ds = next((d for d in datasets if d.code == dataset), datasets[0] if datasets else None)
    if ds is None:
        raise ValidationFailed("尚未配置任何填报报表", code="no_dataset")
    return datasets, ds, period or _default_period(ds.period_kind)


def _form_url(dataset: str, period: str, unit_code: str) -> str:
    return f"{BASE}/{quote(dataset)}/{quote(period)}/{quote(unit_code)}"


def _list_page(request: Request, session: Any, pu: PageUser, *, dataset: str = "", period: str = "",
               result: forms_excel.UploadResult | None = None, error: str | None = None, notice: str | None = None,
               status: int = 200) -> Response:
    datasets, ds, period = _choice(session, pu, dataset, period)
    progress = None
    try:
        progress = forms_status.completeness(session, pu.principal, ds.code, period)
    except ValidationFailed as exc:
        error = error or exc.message
        status = exc.status if status == 200 else status
    p = pu.principal
    return render(request, "eval/forms.html", {
        "base": BASE, "datasets": datasets, "ds": ds, "period": period, "progress": progress, "badges": BADGES,
        "can_fill": p.can(Perm.eval_fill), "can_remind": p.can(Perm.eval_approve), "result": result,
        "error": error, "notice": notice, "form_url": _form_url, "max_mb": forms_excel.MAX_BYTES // 1024 // 1024,
    }, status=status)


@router.get("")
@router.get("/")
def progress(request: Request, session: Db, pu: Staff, dataset: Text = None, period: Text = None,
             reminded: Annotated[int | None, Query(ge=0, le=100000)] = None) -> Response:
    notice = tr(request, "evalf.reminded", n=reminded) if reminded is not None else None
    return _list_page(request, session, pu, dataset=(dataset or "").strip(), period=(period or "").strip(),
                      notice=notice)


@router.post("/remind")
def remind(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    """催报: an inbox notice to every community of the caller's area that has not reported; by htmx the answer is a
    line under the button, without it the progress page again."""
    dataset, period = cp.text(form, "dataset", 40), cp.text(form, "period", 10)
    htmx = request.headers.get("HX-Request") == "true"
    try:
        n = forms_status.send_reminders(session, pu.principal, dataset, period)
    except DomainError as exc:
        roll_back_refused(session)
        if htmx:
            return render(request, "eval/_reminded.html", {"error": exc.message}, status=exc.status)
        return _list_page(request, session, pu, dataset=dataset, period=period, error=exc.message,
                          status=exc.status)
    if htmx:
        return render(request, "eval/_reminded.html", {"sent": n, "error": None})
    return redirect(f"{BASE}/?" + urlencode({"dataset": dataset, "period": period, "reminded": n}))


@router.get("/template.xlsx")
def template(session: Db, pu: Staff, dataset: Text = None, period: Text = None) -> Response:
    data = forms_excel.template(session, pu.principal, (dataset or "").strip(), (period or "").strip())
    name = f"{dataset}-{period}.xlsx".replace('"', "")
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                    "Cache-Control": "no-store"})


@router.post("/upload")
@body_limit(forms_excel.MAX_BYTES + MARGIN)
def upload(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    dataset, period = cp.text(form, "dataset", 40), cp.text(form, "period", 10)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "evalf.choose_file"), code="import_file_required")
        result = forms_excel.upload(session, pu.principal, dataset, period, upload.file,
                                    submit=cp.text(form, "submit", 4) == "1")
    except DomainError as exc:
        roll_back_refused(session)
        return _list_page(request, session, pu, dataset=dataset, period=period, error=exc.message,
                          status=exc.status)
    return _list_page(request, session, pu, dataset=dataset, period=period, result=result)


# -- one community's form ---------------------------------------------------------------------------------------------

def _form_page(request: Request, session: Any, pu: PageUser, view: forms.FormView, *,
               typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               rules: list[str] | None = None, error: str | None = None, reason: str = "",
               notice: str | None = None, status: int = 200) -> Response:
    shown = typed if typed is not None else {f.code: forms_check.fmt(f.value) for f in view.fields}
    return render(request, "eval/form.html", {
        "base": BASE, "view": view, "typed": shown, "badges": BADGES,
        "errors": errors if errors is not None else view.field_errors,
        "rules": rules if rules is not None else view.rules, "error": error, "reason": reason,
        "notice": notice, "editable": "save" in view.actions,
        "ranges": {f.code: forms_check.range_text({"min": f.min, "max": f.max, "unit": f.unit}).removeprefix("，")
                   for f in view.fields},
        "fmt": forms_check.fmt, "back": f"{BASE}/?" + urlencode({"dataset": view.dataset_code, "period": view.period}),
        "form_url": _form_url(view.dataset_code, view.period, view.unit_code),
    }, status=status)


@router.get("/{dataset}/{period}/{unit_code}")
def form_page(request: Request, session: Db, pu: Staff, dataset: str, period: str, unit_code: str,
              done: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    view = forms.get_form(session, pu.principal, dataset[:40], unit_code[:32], period[:10])
    notice = None
    if done in STEPS:
        notice = tr(request, "evalf.saved") if done == "save" else tr(request, "evalf.done", state=view.state_name)
    return _form_page(request, session, pu, view, notice=notice)


def _typed(form: FormData) -> dict[str, str]:
    """The values typed, by field code (inputs ``v_<code>``)."""
    return {k[2:]: cp.text(form, k, forms_check.MAX_TEXT + 10) for k in form if k.startswith("v_") and len(k) <= 42}


@router.post("/{dataset}/{period}/{unit_code}")
def form_post(request: Request, session: Db, pu: Staff, dataset: str, period: str, unit_code: str,
              form: cp.PostedForm) -> Response:
    """One step on the form (``step``: save, submit, approve, return, lock, unlock). The service checks the
    permission first (a refusal is the 403 page); any other refusal shows the form again with what was typed and
    the reasons beside the fields."""
    dataset, period, unit_code = dataset[:40], period[:10], unit_code[:32]
    step = cp.text(form, "step", 10)
    typed = _typed(form)
    reason = cp.text(form, "reason", 600)
    raw_version = cp.text(form, "version", 12)
    version = int(raw_version) if raw_version.isdigit() else None
    p = pu.principal
    try:
        if step in ("save", "submit"):
            forms.save(session, p, dataset, unit_code, period, typed, submit=step == "submit",
                       expected_version=version)
        elif step == "approve":
            forms.approve(session, p, dataset, unit_code, period, expected_version=version)
        elif step == "return":
            forms.return_(session, p, dataset, unit_code, period, reason, expected_version=version)
        elif step == "lock":
            forms.lock(session, p, dataset, unit_code, period, expected_version=version)
        elif step == "unlock":
            forms.unlock(session, p, dataset, unit_code, period, reason, expected_version=version)
        else:
            raise ValidationFailed("未知的操作", code="bad_step")
    except (Forbidden, NotFound):
        raise
    except DomainError as exc:
        roll_back_refused(session)
        fresh = forms.get_form(session, p, dataset, unit_code, period)
        details = exc.details if isinstance(exc.details, dict) else {}
        field_errors = {k: v for k, v in (details.get("fields") or {}).items() if k != "reason"}
        return _form_page(request, session, pu, fresh, typed=typed if step in ("save", "submit") else None,
                          errors=field_errors or None, rules=details.get("rules") or None, error=exc.message,
                          reason=reason, status=exc.status)
    return redirect(_form_url(dataset, period, unit_code) + f"?done={step}")
