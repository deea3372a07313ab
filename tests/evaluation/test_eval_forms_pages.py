"""The 考核填报 pages: the progress of a period with names (never codes) and state badges, 催报, the Excel template
and upload, and a community's form — errors beside the fields, buttons by the caller's next steps, the history."""

from __future__ import annotations

import io
import re
from typing import Any

from evalformkit import C1, DS, good, who
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Notification
from zhili.evaluation import forms

BASE = "/console/eval/forms"


def _sign_in(client: Any, world: Any, name: str) -> None:
    client.cookies.clear()
    client.cookies.set("zhili_session", world.tokens[name])


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)))


def test_the_progress_page_shows_names_states_and_reminds(client: Any, db: Session, world: Any) -> None:
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-10", good(), submit=True)
    _sign_in(client, world, "zhihui")
    r = client.get(f"{BASE}/?dataset={DS}&period=2026-10")
    assert r.status_code == 200, r.text
    text = _text(r.text)
    assert "2026年10月填报进度" in text and "信息化建设月报" in text
    assert "金陵社区" in text and "雉城街道" in text and "待审核" in text and "画溪村" in text and "未填报" in text
    assert C1 not in text and "330522002001" not in text  # names, not codes
    assert "上报率" in text and "50.0%" in text
    r = client.post(f"{BASE}/remind", data={"csrf_token": _csrf(r.text), "dataset": DS, "period": "2026-10"},
                    follow_redirects=True)
    assert r.status_code == 200 and "已向 1 个社区发送催报通知" in r.text
    assert [n.recipient for n in db.scalars(select(Notification).where(Notification.kind == "eval_remind"))] \
        == ["330522002001"]


def test_the_form_page_shows_errors_beside_fields_and_moves_through_the_workflow(client: Any, db: Session,
                                                                                  world: Any) -> None:
    _sign_in(client, world, "shequ1")
    url = f"{BASE}/{DS}/2026-10/{C1}"
    r = client.get(url)
    assert r.status_code == 200, r.text
    text = _text(r.text)
    assert "金陵社区·2026年10月填报：信息化建设月报" in text and "信息化专职人员（人）" in text and "0–200人" in text
    assert "保存草稿" in text and "上报" in text and "审核通过" not in text
    data = {"csrf_token": _csrf(r.text), "step": "submit",
            **{f"v_{k}": str(v) for k, v in good(info_staff=500, it_spent=80).items()}}
    r = client.post(url, data=data)
    assert r.status_code == 422
    assert 'id="e-info_staff"' in r.text and "“信息化专职人员”应在 0–200人 之间，填写的是 500" in r.text
    assert "本月信息化支出不能超过本年信息化预算" in r.text
    assert 'value="500"' in r.text  # what was typed stays in the form
    data.update(v_info_staff="4", v_it_spent="3")
    r = client.post(url, data=data, follow_redirects=True)
    assert r.status_code == 200 and "待审核" in r.text
    # the street approves; the community only reads now
    _sign_in(client, world, "jiedao1")
    r = client.get(url)
    assert "审核通过" in r.text and "退回修改" in r.text
    r = client.post(url, data={"csrf_token": _csrf(r.text), "step": "return", "reason": "x"})
    assert r.status_code == 422 and "请填写退回原因" in r.text
    r = client.post(url, data={"csrf_token": _csrf(r.text), "step": "approve"}, follow_redirects=True)
    assert r.status_code == 200 and "已审核" in _text(r.text)
    text = _text(r.text)
    assert "流转记录" in text and "shequ1" in text and "jiedao1" in text and "审核通过" in text


def test_a_community_cannot_open_another_and_a_grid_worker_not_at_all(client: Any, world: Any) -> None:
    _sign_in(client, world, "shequ1")
    assert client.get(f"{BASE}/{DS}/2026-10/330522002001").status_code == 404
    _sign_in(client, world, "wangge_a")
    assert client.get(f"{BASE}/").status_code == 403


def test_the_template_downloads_and_an_upload_shows_refused_rows(client: Any, world: Any) -> None:
    _sign_in(client, world, "jiedao1")
    r = client.get(f"{BASE}/template.xlsx?dataset={DS}&period=2026-10")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb["填报"]
    ws.cell(row=2, column=5, value="很多")
    buf = io.BytesIO()
    wb.save(buf)
    page = client.get(f"{BASE}/?dataset={DS}&period=2026-10")
    r = client.post(f"{BASE}/upload", data={"csrf_token": _csrf(page.text), "dataset": DS, "period": "2026-10"},
                    files={"file": ("it.xlsx", buf.getvalue(),
                                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 200, r.text
    text = _text(r.text)
    assert "未导入 1 行" in text and "金陵社区" in text and "“信息化专职人员”应填写数字" in text


def test_remind_by_htmx_answers_with_a_line(client: Any, world: Any) -> None:
    _sign_in(client, world, "jiedao1")
    page = client.get(f"{BASE}/?dataset={DS}&period=2026-10")
    r = client.post(f"{BASE}/remind", data={"csrf_token": _csrf(page.text), "dataset": DS, "period": "2026-10"},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已向 1 个社区发送催报通知" in r.text and "<html" not in r.text
