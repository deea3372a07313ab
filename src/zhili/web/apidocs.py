"""The API documentation page (``/docs``): Swagger UI from the pinned npm package ``swagger-ui-dist``, served by
this application like the other front-end libraries — no CDN, so it works offline — under a Content Security
Policy that allows this server only (ReDoc, which FastAPI would load from a CDN too, is not offered)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from zhili.web.assets import asset_url, vendor_url

router = APIRouter(include_in_schema=False)

# Swagger UI sets style attributes on elements (hence 'unsafe-inline' for styles only) and draws icons as data: URIs.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'")


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>智理 Zhili — 接口文档</title>
<link rel="stylesheet" href="{vendor_url("swagger-ui", "swagger-ui.css")}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{vendor_url("swagger-ui", "swagger-ui-bundle.js")}"></script>
<script src="{asset_url("apidocs.js")}"></script>
</body>
</html>
"""
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP, "Referrer-Policy": "same-origin",
                                       "X-Frame-Options": "DENY"})
