"""4E administrators' pages: the indicator framework (listed by dimension; a formula outside the language or naming
an unknown figure refused with the reason, a good edit saved), the weights (the what-if ranking before saving, a new
version when saved), the AHP helper (weights and CR of consistent judgements; inconsistent ones refused naming the
pair to revisit), the runs (scoring a period, then "unchanged" for the same inputs), the equity page — for
evaluation administrators only; names, never codes, on the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pagekit import page, sign_in
from sqlalchemy import func, select

from zhili.evaluation import service
from zhili.evaluation.models import Indicator, Run, WeightSet

PERIOD = "2026-11"


@pytest.fixture
def scored(site: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Three cases in November in two grids, scored for the month."""
    monkeypatch.setattr("zhili.evaluation.service.today", lambda: dt.date(2026, 12, 6))
    site.report("jumin", lon=119.1, lat=31.1)
    site.report("jumin", lon=119.3, lat=31.1)
    site.report("jumin", lon=119.6, lat=31.1)
    site.db.flush()
    service.install_defaults(site.db)
    return site


def _get(client: Any, site: Any, who: str, url: str, status: int = 200) -> Any:
    sign_in(client, site.token(who))
    r = client.get(url)
    assert r.status_code == status, (who, url, r.status_code, r.text[:300])
    return page(r)


def test_the_indicator_list_and_who_may_open_it(client: Any, scored: Any) -> None:
    p = _get(client, scored, "zhihui", "/console/eval/indicators")
    assert p.h1() == "指标体系"
    assert "共 35 个指标" in p.text
    for name in ("人口信息完整率", "按期办结率", "办结用时基尼系数", "多元主体满意度测评"):
        assert name in p.text
    assert "经济" in p.text and "公平" in p.text and "对标：" not in p.text
    assert p.unlabelled_controls() == []
    for who in ("shequ1", "lingdao", "wangge_a"):
        _get(client, scored, who, "/console/eval/indicators", status=403)


def test_a_formula_outside_the_language_is_refused_and_a_good_edit_saved(client: Any, scored: Any) -> None:
    edit = _get(client, scored, "zhihui", "/console/eval/indicators/E2_ON_TIME")
    assert edit.find("input", id="i-formula").attrs["value"] == "pct(closed_on_time, closed)"
    base = {"csrf_token": edit.csrf(), "name": "按期办结率", "sub_dimension": "E2.2", "definition": "定义",
            "unit": "%", "direction": "higher", "scope": "grid", "normalisation": "target", "target": "95",
            "threshold": "70", "source": "事件库", "rationale": "", "is_active": "1"}
    bad = client.post("/console/eval/indicators/E2_ON_TIME", data={**base, "formula": "__import__('os')"})
    assert bad.status_code == 422 and "计算公式有误" in page(bad).text
    unknown = client.post("/console/eval/indicators/E2_ON_TIME", data={**base, "formula": "pct(closed_late, closed)"})
    assert unknown.status_code == 422 and "closed_late" in page(unknown).text
    upside = client.post("/console/eval/indicators/E2_ON_TIME",
                         data={**base, "formula": "pct(closed_on_time, closed)", "target": "60"})
    assert upside.status_code == 422 and "目标值应高于阈值" in page(upside).text
    ok = client.post("/console/eval/indicators/E2_ON_TIME",
                     data={**base, "formula": "pct(closed_on_time, closed)", "target": "98"}, follow_redirects=False)
    assert ok.status_code == 303
    row = scored.db.scalar(select(Indicator).where(Indicator.code == "E2_ON_TIME"))
    assert row.target == 98 and row.formula == "pct(closed_on_time, closed)"


def test_weights_preview_the_ranking_then_save_a_version(client: Any, scored: Any) -> None:
    w = _get(client, scored, "zhihui", "/console/eval/weights")
    assert w.h1() == "权重设置" and "第 1 版" in w.text
    early = page(client.post("/console/eval/weights/preview", data={"csrf_token": w.csrf(), "w_E1": "0.5"}))
    assert "尚无评估结果" in early.text
    runs = _get(client, scored, "zhihui", "/console/eval/runs")
    done = client.post("/console/eval/runs", data={"csrf_token": runs.csrf(), "period": PERIOD})
    assert done.status_code == 200 and "2026年11月已计算完成" in page(done).text
    same = client.post("/console/eval/runs", data={"csrf_token": runs.csrf(), "period": PERIOD})
    assert "没有变化" in page(same).text
    assert scored.db.scalar(select(func.count()).select_from(Run)) == 1
    preview = page(client.post("/console/eval/weights/preview",
                               data={"csrf_token": w.csrf(), "w_E3": "5", "period": PERIOD, "level": "community"},
                               headers={"HX-Request": "true"}))
    assert "金陵社区" in preview.text and "画溪村" in preview.text
    assert "原排名" in preview.text and "新排名" in preview.text
    bad = client.post("/console/eval/weights", data={"csrf_token": w.csrf(), "w_E1": "-1", "name": "试验"})
    assert bad.status_code == 422 and "权重必须在 0 到 1000 之间（经济）" in page(bad).text
    saved = client.post("/console/eval/weights", data={"csrf_token": w.csrf(), "w_E3": "0.4", "name": "2027 年度"},
                        follow_redirects=False)
    assert saved.status_code == 303
    active = scored.db.scalar(select(WeightSet).where(WeightSet.is_active.is_(True)))
    assert active.version == 2 and active.weights["E3"] == 0.4 and active.weights["E1"] == 0.2


def test_ahp_gives_weights_and_cr_or_names_the_judgement_to_revisit(client: Any, scored: Any) -> None:
    a = _get(client, scored, "zhihui", "/console/eval/weights/ahp?group=E")
    assert a.h1() == "层次分析法（AHP）两两比较" and a.unlabelled_controls() == []
    # consistent: E1 : E2 : E3 : E4 = 1 : 2 : 2 : 1
    consistent = {"p_E1__E2": "1/2", "p_E1__E3": "1/2", "p_E1__E4": "1", "p_E2__E3": "1", "p_E2__E4": "2",
                  "p_E3__E4": "2"}
    ok = page(client.post("/console/eval/weights/ahp", data={"csrf_token": a.csrf(), "group": "E", **consistent}))
    assert "CR = 0.000" in ok.text and "通过一致性检验" in ok.text
    assert "0.333" in ok.text and "0.167" in ok.text
    # E1 ≫ E2, E2 ≫ E3, but E3 ≫ E1: a cycle
    cycle = {**consistent, "p_E1__E2": "9", "p_E2__E3": "9", "p_E1__E3": "1/9"}
    refused = client.post("/console/eval/weights/ahp", data={"csrf_token": a.csrf(), "group": "E", **cycle})
    assert refused.status_code == 422
    text = page(refused).text
    assert "未通过一致性检验" in text and "CR =" in text


def test_the_equity_page_after_a_run(client: Any, scored: Any) -> None:
    zh = scored.principal("zhihui")
    service.run_period(scored.db, principal=zh, period=PERIOD)
    p = _get(client, scored, "lingdao", f"/console/eval/equity?period={PERIOD}&indicator=E2_REPORTS")
    assert p.h1() == "公平性分析"
    assert "基尼系数" in p.text and "泰尔指数" in p.text and "每千人事件发现量" in p.text
    assert p.find(id="eval-lorenz").attrs["data-chart"].startswith("{")
    _get(client, scored, "wangge_a", "/console/eval/equity", status=403)
