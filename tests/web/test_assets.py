"""Static assets come from this server (npm packages pinned in package.json), every UI string is catalogued in
both languages, and text colours are readable."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pagekit import page, sign_in

from zhili.web import i18n
from zhili.web.assets import APP_STATIC, VENDOR, node_modules

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "zhili" / "web" / "templates"


def test_package_json_pins_exact_versions_and_node_modules_has_them() -> None:
    pkg = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    for npm_name, _ in VENDOR.values():
        pinned = pkg["dependencies"][npm_name]
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"{npm_name} must be pinned exactly, not {pinned}"
        assert lock["packages"][f"node_modules/{npm_name}"]["version"] == pinned
        installed = json.loads((node_modules() / npm_name / "package.json").read_text(encoding="utf-8"))
        assert installed["version"] == pinned, f"run `npm ci`: {npm_name} {installed['version']} != {pinned}"


@pytest.mark.parametrize("url", ["/static/vendor/htmx/htmx.min.js", "/static/vendor/leaflet/leaflet.js",
                                 "/static/vendor/leaflet/leaflet.css", "/static/vendor/echarts/echarts.min.js",
                                 "/static/app/app.css", "/static/app/app.js"])
def test_the_libraries_and_our_own_files_are_served_by_the_application(client: Any, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200 and len(r.content) > 1000
    assert client.get("/static/vendor/htmx/../../../pyproject.toml").status_code == 404


def test_pages_load_nothing_from_other_servers(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    for url in ("/login", "/h5/", "/h5/report", "/h5/mine"):
        r = client.get(url)
        p = page(r)
        for el in p.find_all("script") + p.find_all("link") + p.find_all("img"):
            src = el.attrs.get("src") or el.attrs.get("href") or ""
            assert src.startswith(("/", "data:")), f"{url} loads {src}"
        assert not any(s.text.strip() for s in p.find_all("script")), f"{url} has an inline script"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for f in APP_STATIC.iterdir():  # the icon is binary: read bytes
        assert b"http://" not in f.read_bytes() and b"https://" not in f.read_bytes(), f.name


def _catalogue_keys_in_templates() -> set[str]:
    keys: set[str] = set()
    for f in TEMPLATES.rglob("*.html"):
        keys |= set(re.findall(r"""\bt\(\s*'([a-z0-9_.]+)'""", f.read_text(encoding="utf-8")))
    return keys


def test_every_message_a_template_uses_is_in_the_catalogue_in_both_languages() -> None:
    from zhili.cases.permit_steps import DELIVERY_METHODS
    from zhili.intel.models import ModelState
    from zhili.intel.warnings import KINDS, SEVERITIES
    from zhili.iot.models import GroupBy, Window
    from zhili.web import (
        iotview,
        pages_intel,  # noqa: F401  (registers its UI text)
        pages_permit,  # noqa: F401  (registers its UI text)
    )
    from zhili.web.casepages import ACTION_FIELDS
    from zhili.web.pages_audit import REVIEW_KINDS
    from zhili.web.pages_gw import TABS
    from zhili.web.pages_permit import STEPS

    used = _catalogue_keys_in_templates()
    assert len(used) > 80
    prefixes = {k for k in used if k.endswith(".")}  # t('gw.tab.' ~ key) and the like: every value they take
    intel = {"intel.severity.": SEVERITIES, "intel.warn_kind.": KINDS, "intel.state.": [s.value for s in ModelState],
             "intel.suggest.": ["category", "department"],
             "intel.metric.": ["top1", "top3", "macro_f1"], "intel.baseline.": ["majority", "tfidf_lr"]}
    permit = {"permit.delivery.": list(DELIVERY_METHODS), "permit.step.": [k for k, _ in STEPS]}
    intel = {**intel, **permit}
    intel |= {"iot.status.": iotview.STATUSES, "iot.severity.": iotview.SEVERITIES,
              "iot.alert_state.": iotview.ALERT_STATES, "iot.alert_kind.": iotview.ALERT_KINDS,
              "iot.kind.": iotview.RULE_KINDS, "iot.ftype.": [*iotview.FIELD_TYPES, "any"],
              "iot.group.": [g.value for g in GroupBy], "iot.window.": [w.value for w in Window],
              "iot.tab.": ["map", "devices", "alerts", "rules", "types", "import"]}
    from zhili.web.pages_eval_forms import STEPS as EVAL_FORM_STEPS

    intel |= {"evalf.": list(EVAL_FORM_STEPS)}
    intel |= {"eval.tab.": ["scorecard", "ranking", "equity", "forms", "indicators", "weights", "runs"],
              "eval.norm.": ["minmax", "target"], "eval.scope.": ["grid", "community"],
              "eval.direction.": ["higher", "lower"]}
    assert prefixes == {"field.", "gw.tab.", "rating.", "audit.kind.", *intel}
    used = (used - prefixes) | {f"field.{f}" for f in ACTION_FIELDS} | {f"gw.tab.{k}" for k in TABS} \
        | {f"rating.{n}" for n in range(1, 6)} | {f"audit.kind.{k}" for k in REVIEW_KINDS} \
        | {prefix + str(v) for prefix, values in intel.items() for v in values}
    missing = sorted(k for k in used if not i18n.has(k))
    assert not missing, f"not in the catalogue: {missing}"
    for key, texts in i18n.MESSAGES.items():
        assert texts["zh-CN"].strip() and texts["en"].strip(), key
        assert re.search(r"[\u4e00-\u9fff]", texts["zh-CN"]) or key in ("channel.open311",), f"{key} not Chinese"


def test_enumerations_shown_on_pages_all_have_labels() -> None:
    from zhili.cases.models import CaseState, Channel
    from zhili.cases.workflow import ACTIONS
    from zhili.core.security import Role
    from zhili.registry.models import CARE_TAGS, RELATIONS, HouseholdUse, ResidentType

    for kind, values in {"state": list(CaseState), "channel": list(Channel), "role": list(Role),
                         "action": list(ACTIONS), "use": list(HouseholdUse), "resident_type": list(ResidentType),
                         "care": list(CARE_TAGS), "relation": list(RELATIONS)}.items():
        for v in values:
            assert i18n.has(f"{kind}.{getattr(v, 'value', v)}"), f"{kind}.{v}"


def test_the_locale_is_negotiated_from_cookie_then_accept_language() -> None:
    from starlette.requests import Request

    def req(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "headers": raw})

    assert i18n.negotiate(req({})) == "zh-CN"
    assert i18n.negotiate(req({"Accept-Language": "en-US,en;q=0.8"})) == "en"
    assert i18n.negotiate(req({"Accept-Language": "fr,en;q=0.5,zh;q=0.9"})) == "zh-CN"
    assert i18n.negotiate(req({"Accept-Language": "fr"})) == "zh-CN"
    assert i18n.negotiate(req({"Accept-Language": "en", "Cookie": "zhili_lang=zh-CN"})) == "zh-CN"
    assert i18n.translate("en", "common.total", total=3) == "3 in total"


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


TEXT_PAIRS = [("ink", "paper"), ("ink", "page"), ("muted", "paper"), ("muted", "page"), ("primary", "paper"),
              ("primary-dark", "paper"), ("on-primary", "primary"), ("on-primary", "primary-dark"),
              ("on-bar", "bar"), ("on-danger", "danger"), ("yellow-ink", "yellow-bg"), ("red-ink", "red-bg"),
              ("green-ink", "green-bg"), ("blue-ink", "blue-bg"), ("grey-ink", "grey-bg"), ("blue-ink", "paper")]


@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS, ids=[f"{f}-on-{b}" for f, b in TEXT_PAIRS])
def test_text_colours_have_a_contrast_ratio_of_at_least_4_5(fg: str, bg: str) -> None:
    css = (APP_STATIC / "app.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
    assert _contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg, round(_contrast(colours[fg], colours[bg]), 2))


def test_the_api_documentation_loads_nothing_from_other_servers_and_allows_only_this_one(client: Any) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    p = page(r)
    assets = [el.attrs.get("src") or el.attrs.get("href") or "" for el in p.find_all("script") + p.find_all("link")]
    assert {a.split("?")[0] for a in assets} >= {"/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                                  "/static/vendor/swagger-ui/swagger-ui.css"}
    assert not any(s.text.strip() for s in p.find_all("script")), "an inline script would need 'unsafe-inline'"
    for url in assets:
        assert url.startswith("/"), url
        served = client.get(url)
        assert served.status_code == 200 and len(served.content) > 200, url
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "http" not in csp
    assert client.get("/openapi.json").status_code == 200  # what the page loads, from this server
    assert client.get("/redoc").status_code == 404  # ReDoc came from a CDN too; it is not offered
