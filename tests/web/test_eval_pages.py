"""4E 评估 pages: the scorecard (pickers limited to one's subtree, radar and trend data, the grouped indicator table
with trend arrows, the units below, the export buttons), an indicator's drill-down with its figures and the case
link, the ranking with its map layer, the report downloads with Chinese file names — in Chinese, names never
codes; refused for roles without ``eval:read``, 404 for a unit of another jurisdiction."""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from codecheck import visible_codes, visible_texts
from openpyxl import load_workbook
from pagekit import page, sign_in

from evaluation.evalworld import build_eval

CODES = re.compile(r"\b330522\d*\b")


@pytest.fixture
def ew(site: Any) -> Any:
    for key, user in site.world.users.items():
        user.display_name = {"jumin": "张小明", "wangge_a": "赵网格", "wangge_b": "钱网格"}.get(key, "工作人员")
    return build_eval(site.db, site.world.units)


def _no_codes(html: str) -> None:
    """No identifier and no unit code where a person reads the page."""
    assert visible_codes(html, ()) == []
    shown = " ".join(visible_texts(html))
    assert not CODES.search(shown), CODES.findall(shown)


def test_scorecard_page(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("jiedao1"))
    r = client.get("/console/eval/")
    assert r.status_code == 200
    p = page(r)
    assert "雉城街道" in p.h1() and "4E 评估记分卡" in p.h1()
    assert "综合得分" in p.text and "经济" in p.text and "金陵社区" in p.text
    # the pickers: one's own subtree only, by name; periods by their Chinese names
    units = [o.text.strip() for o in p.find("select", id="eval-unit").children]
    assert units == ["雉城街道", "金陵社区"]
    assert [o.text for o in p.find("select", id="eval-period").children] == ["2026年10月", "2026年9月", "2026年8月"]
    radar = json.loads(p.find("div", id="eval-radar").attrs["data-radar"])
    assert [(d["name"], d["value"]) for d in radar] == [("经济", 69.0), ("效率", 74.0), ("效益", 79.0),
                                                        ("公平", 84.0)]
    trend = json.loads(p.find("div", id="eval-trend").attrs["data-trend"])
    assert trend["labels"] == ["2026年8月", "2026年9月", "2026年10月"]
    exports = {a.text.strip(): a.attrs["href"] for a in p.find_all("a") if a.text.strip().startswith("导出")}
    assert set(exports) == {"导出 Excel", "导出 PDF"}
    assert exports["导出 Excel"].startswith("/console/eval/report?unit=330522001&period=2026-10&format=xlsx")
    assert p.unlabelled_controls() == []
    _no_codes(r.text)
    assert "echarts.min.js" in r.text and "/static/vendor/" in r.text and "//cdn" not in r.text


def test_scorecard_rows_arrows_and_links(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("shequ1"))
    r = client.get("/console/eval/", params={"unit": "330522001001", "period": "2026-10"})
    p = page(r)
    row = next(tr for tr in p.find_all("tr") if "受理用时" in tr.text)
    assert "↓" in row.text and "tone-good" in str([c.attrs for c in row.children])
    row = next(tr for tr in p.find_all("tr") if "按期办结率" in tr.text)
    assert "↓" in row.text and "88%" in row.text and "95%" in row.text
    assert "tone-bad" in str([c.attrs for c in row.children])
    link = next(a.attrs["href"] for a in p.find_all("a") if a.text == "按期办结率")
    assert link.startswith("/console/eval/indicator?indicator=E2_ON_TIME")
    kids = [a.text for a in p.find_all("a") if a.attrs.get("href", "").startswith("/console/eval/?unit=3305220010010")]
    assert kids == ["金陵社区第1网格", "金陵社区第2网格"]
    _no_codes(r.text)


def test_indicator_page(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("shequ1"))
    r = client.get("/console/eval/indicator", params={"indicator": "E2_ON_TIME", "unit": "330522001001",
                                                      "period": "2026-10"})
    assert r.status_code == 200
    p = page(r)
    assert "按期办结率" in p.h1() and "金陵社区" in p.h1()
    assert "按期办结（件）" in p.text and "已办结（件）" in p.text and "目标值 95%" in p.text
    cases = next(a for a in p.find_all("a") if a.text == "查看本期相关事件")
    c1 = site.world.units["c1"]
    assert cases.attrs["href"] == f"/console/cases?unit_id={c1.id}&since=2026-10-01&until=2026-10-31"
    assert client.get(cases.attrs["href"]).status_code == 200
    _no_codes(r.text)


def test_ranking_page_and_map(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("lingdao"))
    r = client.get("/console/eval/ranking", params={"level": "grid", "period": "2026-10"})
    assert r.status_code == 200
    p = page(r)
    names = [a.text for a in p.find_all("a") if a.attrs.get("href", "").startswith("/console/eval/?unit=")]
    assert names == ["金陵社区第1网格", "金陵社区第2网格", "画溪村第1网格"]
    assert "图例" in p.text and "leaflet.js" in r.text
    geo = client.get(p.find("div", id="eval-map").attrs["data-url"]).json()
    assert sorted(f["properties"]["score"] for f in geo["features"]) == [44.0, 64.0, 84.0]
    assert p.unlabelled_controls() == []
    _no_codes(r.text)


def test_report_downloads(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("shequ1"))
    r = client.get("/console/eval/report", params={"unit": "330522001001", "period": "2026-10", "format": "xlsx"})
    assert r.status_code == 200
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    assert unquote(r.headers["content-disposition"].split("''", 1)[1]) == "金陵社区4E评估报告-2026年10月.xlsx"
    assert load_workbook(io.BytesIO(r.content))["总览"]["B2"].value == "金陵社区"
    r = client.get("/console/eval/report", params={"unit": "330522001001", "period": "2026-10", "format": "doc"})
    assert r.status_code == 422 and "xlsx 或 pdf" in r.text


def test_refusals(client: Any, site: Any, ew: Any) -> None:
    sign_in(client, site.token("shequ1"))
    assert client.get("/console/eval/", params={"unit": "330522002001"}).status_code == 404
    assert client.get("/console/eval/report", params={"unit": "330522002001", "format": "xlsx"}).status_code == 404
    sign_in(client, site.token("wangge_a"))
    assert client.get("/console/eval/").status_code == 403


def test_no_runs_yet(client: Any, site: Any) -> None:
    sign_in(client, site.token("lingdao"))
    r = client.get("/console/eval/")
    assert r.status_code == 200 and "尚无评估结果" in r.text


def test_api(client: Any, site: Any, ew: Any) -> None:
    h = site.world.headers("shequ1")
    r = client.get("/api/v1/eval/scorecard", params={"period": "2026-10"}, headers=h)
    assert r.status_code == 200 and r.json()["unit"]["name"] == "金陵社区"
    r = client.get("/api/v1/eval/ranking", params={"period": "2026-10", "level": "grid"}, headers=h)
    assert [x["name"] for x in r.json()["rows"]] == ["金陵社区第1网格", "金陵社区第2网格"]
    r = client.get("/api/v1/eval/indicator", params={"indicator": "E2_ON_TIME", "unit": "330522002001"}, headers=h)
    assert r.status_code == 404
    assert client.get("/api/v1/eval/periods", headers=h).json()[0]["period"] == "2026-10"
