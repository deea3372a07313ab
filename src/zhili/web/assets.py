"""Static assets, all served by the application itself (no CDN, works offline).

* ``/static/app/…`` — this package's own CSS and JavaScript (``zhili/web/static``).
* ``/static/vendor/<lib>/…`` — the ``dist`` folders of the npm packages pinned in ``package.json`` (htmx,
  Leaflet, ECharts, Swagger UI), served straight from ``node_modules`` as installed by ``npm ci`` (``make install``).
  ``ZHILI_NODE_MODULES`` points elsewhere when the application is deployed without the source tree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

log = logging.getLogger("zhili.web")

HERE = Path(__file__).resolve().parent
APP_STATIC = HERE / "static"
# lib name in URLs → (npm package, folder inside it that is served)
VENDOR: dict[str, tuple[str, str]] = {
    "htmx": ("htmx.org", "dist"),
    "leaflet": ("leaflet", "dist"),
    "echarts": ("echarts", "dist"),
    "swagger-ui": ("swagger-ui-dist", "."),  # the API documentation page, /docs (zhili.web.apidocs)
}


def node_modules() -> Path:
    """Where the npm packages are: ``ZHILI_NODE_MODULES``, else the source checkout's, else the working dir's."""
    env = os.environ.get("ZHILI_NODE_MODULES")
    if env:
        return Path(env)
    for base in (HERE.parents[2], Path.cwd()):  # src/zhili/web → the checkout root
        candidate = base / "node_modules"
        if candidate.is_dir():
            return candidate
    return HERE.parents[2] / "node_modules"


def vendor_dir(lib: str) -> Path:
    package, folder = VENDOR[lib]
    return node_modules() / package / folder


@cache
def vendor_version(lib: str) -> str:
    """The installed version of a vendored library (for cache-busting URLs)."""
    try:
        meta = json.loads((node_modules() / VENDOR[lib][0] / "package.json").read_text(encoding="utf-8"))
        return str(meta.get("version", "0"))
    except (OSError, ValueError):
        return "0"


@cache
def _app_version(path: str) -> str:
    try:
        return hashlib.sha256((APP_STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def asset_url(path: str) -> str:
    """URL of one of our own static files, with a content hash for caching."""
    return f"/static/app/{path}?v={_app_version(path)}"


def vendor_url(lib: str, path: str) -> str:
    """URL of a file of a vendored npm library, with its version for caching."""
    return f"/static/vendor/{lib}/{path}?v={vendor_version(lib)}"


FAVICON = APP_STATIC / "favicon.ico"
FAVICON_MAX_AGE = 30 * 24 * 3600  # a month: it seldom changes, and browsers ask for it on every site they open


def favicon() -> FileResponse:
    """``/favicon.ico`` (browsers ask for it at the root whatever the pages link to)."""
    return FileResponse(FAVICON, media_type="image/x-icon",
                        headers={"Cache-Control": f"public, max-age={FAVICON_MAX_AGE}"})


def mount_static(app: FastAPI) -> None:
    """Mount our static folder and each vendored library's dist folder, and serve the site icon at the root."""
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static/app", StaticFiles(directory=APP_STATIC), name="web-static")
    for lib in VENDOR:
        d = vendor_dir(lib)
        if not d.is_dir():
            log.warning("web assets: %s not found — run `npm ci` (make install)", d)
        app.mount(f"/static/vendor/{lib}", StaticFiles(directory=d, check_dir=False), name=f"vendor-{lib}")
