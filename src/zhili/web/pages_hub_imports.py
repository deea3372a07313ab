"""Import pages (导入): upload with progress, import history and detail; the quarantine (隔离区): fix, re-run,
discard, download. Thin: every route calls :mod:`zhili.datahub.imports` or :mod:`zhili.datahub.quarantine`,
which check permission and jurisdiction themselves."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from zhili.core.db import roll_back_refused, utcnow
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.security import Perm
from zhili.datahub import imports, quality, quarantine, sources
from zhili.datahub.models import ImportStatus, QuarantineStatus
from zhili.datahub.rules import RULES
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.web import casepages as cp
from zhili.web import messages_hub_imports  # noqa: F401  (registers the UI text)
from zhili.web.pages_hub import HubReader, name_rules, rule_label
from zhili.web.render import redirect, render, tr

router = APIRouter()
BASE = "/console/hub"
PAGE_SIZE = 30


def _importer(request: Request, pu: Any) -> None:
    if not pu.principal.can(Perm.hub_import):
        raise Forbidden(tr(request, "hub_imports.forbidden"), code="hub_import_denied")


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


# -- imports ---------------------------------------------------------------------------------------------------

@router.get(f"{BASE}/imports")
def imports_page(request: Request, session: Db, pu: HubReader, source: Annotated[str, Query(max_length=40)] = "",
                 page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    rows, total = imports.list_imports(session, principal=pu.principal, source_id=_uuid(source), page=page,
                                       page_size=PAGE_SIZE)
    return render(request, "hub/imports.html", {
        "rows": [imports.import_view(session, r) for r in rows], "total": total, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "can_import": pu.principal.can(Perm.hub_import),
        "source": source})


def _new_page(request: Request, session: Any, pu: Any, *, error: str | None = None,
              values: dict[str, Any] | None = None, status: int = 200) -> Response:
    return render(request, "hub/import_new.html", {
        "sources": sources.list_sources(session, principal=pu.principal, active=True), "error": error,
        "values": values or {}, "max_mb": imports.UPLOAD_LIMIT // 1024 // 1024}, status=status)


@router.get(f"{BASE}/imports/new")
def import_new(request: Request, session: Db, pu: HubReader,
               source: Annotated[str, Query(max_length=40)] = "") -> Response:
    _importer(request, pu)
    return _new_page(request, session, pu, values={"source_id": source})


@router.post(f"{BASE}/imports/new")
@body_limit(imports.UPLOAD_LIMIT + MARGIN)
def import_upload(request: Request, session: Db, pu: HubReader, form: cp.PostedForm) -> Response:
    """Spool the upload and import it (a small file now, a large one in the background); show its page."""
    _importer(request, pu)
    values = {k: cp.text(form, k, 100) for k in ("source_id", "template", "encoding", "sheet", "dry_run")}
    upload = form.get("file")
    try:
        source_id = _uuid(values["source_id"])
        if source_id is None:
            raise ValidationFailed(tr(request, "hub_imports.choose_source"), code="hub_source_required")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "hub_imports.choose_file"), code="hub_file_required")
        sources.get_source(session, principal=pu.principal, source_id=source_id)
        path, digest, size = imports.spool(iter(lambda: upload.file.read(1 << 20), b""), upload.filename)
        _, import_id = imports.start_import(
            session, principal=pu.principal, source_id=source_id, path=path, file_hash=digest, size=size,
            filename=upload.filename, template=values["template"] or None, dry_run=bool(values["dry_run"]),
            encoding=values["encoding"] or None, sheet=values["sheet"] or None)
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden):
            raise
        return _new_page(request, session, pu, error=exc.message, values=values, status=exc.status)
    return redirect(f"{BASE}/imports/{import_id}")


def _row_view(session: Any, row: Any) -> dict[str, Any]:
    view = quarantine.row_view(session, row)
    return {**view, "errors": name_rules(view["errors"], name="rule_name")}


def _import_context(session: Any, pu: Any, import_id: uuid.UUID) -> dict[str, Any]:
    imp = imports.get_import(session, principal=pu.principal, import_id=import_id)
    view = imports.import_view(session, imp)
    rows, total = quarantine.list_rows(session, principal=pu.principal, import_id=imp.id, status=None,
                                       page_size=20)
    failures = sorted(((rule_label(code), n) for code, n in (view["stats"].get("rules") or {}).items()),
                      key=lambda x: -x[1])
    running = imp.status == ImportStatus.running
    iq = None if running or imp.status == ImportStatus.failed else quality.import_quality(
        session, principal=pu.principal, import_id=imp.id)
    return {"imp": view, "running": running, "iq": iq,
            "rows": [_row_view(session, r) for r in rows], "rows_total": total, "failures": failures}


@router.get(f"{BASE}/imports/{{import_id}}")
def import_detail(request: Request, session: Db, pu: HubReader, import_id: uuid.UUID) -> Response:
    return render(request, "hub/import_detail.html", _import_context(session, pu, import_id))


@router.get(f"{BASE}/imports/{{import_id}}/progress")
def import_progress(request: Request, session: Db, pu: HubReader, import_id: uuid.UUID) -> Response:
    """The progress fragment the running import's page polls (HTMX); once done it tells the page to reload."""
    ctx = _import_context(session, pu, import_id)
    headers = {} if ctx["running"] else {"HX-Refresh": "true"}
    return render(request, "hub/_import_progress.html", ctx, headers=headers)


# -- quarantine ------------------------------------------------------------------------------------------------

def _filters(source: str, import_id: str, rule: str, status: str) -> dict[str, Any]:
    return {"source_id": _uuid(source), "import_id": _uuid(import_id), "rule": rule if rule in RULES else None,
            "status": status if status in QuarantineStatus.__members__ else QuarantineStatus.open.value}


@router.get(f"{BASE}/quarantine")
def quarantine_page(request: Request, session: Db, pu: HubReader,
                    source: Annotated[str, Query(max_length=40)] = "",
                    import_id: Annotated[str, Query(alias="import", max_length=40)] = "",
                    rule: Annotated[str, Query(max_length=40)] = "",
                    status: Annotated[str, Query(max_length=16)] = "open",
                    page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = _filters(source, import_id, rule, status)
    rows, total = quarantine.list_rows(session, principal=pu.principal, page=page, page_size=PAGE_SIZE, **f)
    query = {k: v for k, v in {"source": source, "import": import_id, "rule": f["rule"] or ""}.items() if v}
    return render(request, "hub/quarantine.html", {
        "rows": [_row_view(session, r) for r in rows], "total": total, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "sources": sources.list_sources(session, principal=pu.principal),
        "rules": sorted(RULES.items()), "statuses": [s.value for s in QuarantineStatus],
        "f": {"source": source, "import": import_id, "rule": f["rule"] or "", "status": f["status"]},
        "can_import": pu.principal.can(Perm.hub_import), "query": urlencode(query),
        "back": f"{BASE}/quarantine" + (f"?{urlencode(query)}" if query else "")})


def _back(form: Any) -> str:
    back = cp.text(form, "back", 500)
    return back if back.startswith(f"{BASE}/") else f"{BASE}/quarantine"


def _with_msg(url: str, msg: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}msg={msg}"


@router.post(f"{BASE}/quarantine/{{row_id}}/fix")
def quarantine_fix(request: Request, session: Db, pu: HubReader, row_id: uuid.UUID, form: cp.PostedForm
                   ) -> Response:
    cells = {k.removeprefix("cell:"): str(v).strip() for k, v in form.multi_items()
             if k.startswith("cell:") and isinstance(v, str) and v.strip()}
    row = quarantine.fix_row(session, principal=pu.principal, row_id=row_id, cells=cells)
    msg = "hub_quarantine_fixed" if row.status == QuarantineStatus.fixed else "hub_quarantine_still"
    return redirect(_with_msg(_back(form), msg))


@router.post(f"{BASE}/quarantine/{{row_id}}/discard")
def quarantine_discard(request: Request, session: Db, pu: HubReader, row_id: uuid.UUID, form: cp.PostedForm
                       ) -> Response:
    quarantine.discard_row(session, principal=pu.principal, row_id=row_id, reason=cp.text(form, "reason", 200))
    return redirect(_with_msg(_back(form), "hub_quarantine_discarded"))


@router.post(f"{BASE}/quarantine/rerun")
def quarantine_rerun(request: Request, session: Db, pu: HubReader, form: cp.PostedForm) -> Response:
    quarantine.rerun(session, principal=pu.principal, import_id=_uuid(cp.text(form, "import", 40)),
                     source_id=_uuid(cp.text(form, "source", 40)))
    return redirect(_with_msg(_back(form), "hub_quarantine_rerun"))


@router.get(f"{BASE}/quarantine/download.xlsx")
def quarantine_download(session: Db, pu: HubReader, source: Annotated[str, Query(max_length=40)] = "",
                        import_id: Annotated[str, Query(alias="import", max_length=40)] = "",
                        rule: Annotated[str, Query(max_length=40)] = "") -> Response:
    data, _, _ = quarantine.download(session, principal=pu.principal, source_id=_uuid(source),
                                     import_id=_uuid(import_id), rule=rule if rule in RULES else None)
    name = f"quarantine-{utcnow():%Y%m%d%H%M}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
