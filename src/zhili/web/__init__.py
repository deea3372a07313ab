"""Server-rendered pages (zh-CN, Jinja2 + htmx): a second front door over the same services as the API.

``install(app)`` adds the page routes, the static files (our own and the npm libraries from ``node_modules``) and
HTML error pages for every path outside ``/api`` and ``/open311``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from zhili.web.csrf import csrf_protect


def page_router() -> APIRouter:
    """All page routes; every unsafe request through them must carry the CSRF token."""
    from zhili.web import (
        pages_admin,
        pages_audit,
        pages_auth,
        pages_cases,
        pages_console,
        pages_eval,
        pages_eval_admin,
        pages_eval_equity,
        pages_eval_forms,
        pages_gw,
        pages_h5,
        pages_hub,
        pages_hub_address,
        pages_hub_imports,
        pages_hub_quality,
        pages_hub_review,
        pages_hub_templates,
        pages_intel,
        pages_iot,
        pages_iot_rules,
        pages_participation,
        pages_permit,
        pages_registry,
        pages_rental_console,
        pages_rental_gw,
        pages_rental_h5,
        pages_screen,
        pages_visits,
        pages_workbench,
    )

    router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
    # the case list before the console: "/console/cases/export.xlsx" is not a case id
    for r in (pages_auth.router, pages_h5.router, pages_gw.router, pages_cases.router, pages_console.router,
              pages_screen.router, pages_registry.router, pages_participation.router, pages_visits.router,
              pages_admin.router, pages_audit.router, pages_workbench.router, pages_hub.router,
              pages_hub_templates.router, pages_hub_imports.router, pages_hub_quality.router, pages_hub_review.router,
              pages_hub_address.router, pages_intel.router, pages_rental_h5.router, pages_rental_gw.router,
              pages_rental_console.router, pages_permit.router, pages_iot_rules.router, pages_iot.router,
              pages_eval_admin.router, pages_eval_equity.router, pages_eval_forms.router,
              pages_eval.router):
        router.include_router(r)
    return router


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the application (and the dashboard API the
    command-centre screen draws from)."""
    from zhili.dashboard.api import router as dashboard_api
    from zhili.http.openapi import ERROR_RESPONSES
    from zhili.web.apidocs import router as api_docs
    from zhili.web.assets import mount_static
    from zhili.web.render import install_error_pages

    app.include_router(dashboard_api, responses=ERROR_RESPONSES)
    app.include_router(page_router())
    app.include_router(api_docs)
    mount_static(app)
    install_error_pages(app)
