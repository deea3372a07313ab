"""The 4E report: the workbook holds the scorecard's numbers (as numbers) and native charts, the PDF is a PDF with
the Chinese text in it, each export is audited, and ``zhili eval report`` writes the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from evaluation.evalworld import build_eval
from zhili.core.audit import AuditEvent
from zhili.core.errors import NotFound
from zhili.evaluation import report
from zhili.users.service import principal_for_user

needs_chromium = pytest.mark.skipif(report.chromium_path() is None, reason="no chromium on this machine")


def _p(db: Session, world: Any, who: str) -> Any:
    return principal_for_user(db, user=world.users[who])


@pytest.fixture
def ew(db: Session, world: Any) -> Any:
    return build_eval(db, world.units)


def test_workbook_holds_the_numbers(db: Session, world: Any, ew: Any) -> None:
    data = report.report_xlsx(db, principal=_p(db, world, "shequ1"), unit_code="330522001001", period="2026-10")
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["总览", "指标", "下级单位", "趋势"]
    ov: dict[str, Any] = {}
    for r in wb["总览"].iter_rows(values_only=True):
        if r and r[0]:
            ov.setdefault(r[0], r[1:])  # the first row of a name (the dimensions come before the sub-dimensions)
    assert ov["评估单位"][0] == "金陵社区" and ov["综合得分"][0] == 74.0
    assert [ov[name][0] for name in ("经济", "效率", "效益", "公平")] == [69.0, 74.0, 79.0, 84.0]
    assert len(wb["总览"]._charts) == 1 and len(wb["趋势"]._charts) == 1
    rows = list(wb["指标"].iter_rows(values_only=True))
    assert rows[0][:3] == ("维度", "分项", "指标")
    on_time = next(r for r in rows if r[2] == "按期办结率")
    assert on_time[5] == 88.0 and on_time[6] == 95 and on_time[7] == 74.0 and on_time[11] == -1.0
    assert next(r for r in rows if r[2] == "多源数据融合率")[5] == "无数据"
    kids = list(wb["下级单位"].iter_rows(values_only=True))
    assert [k[0] for k in kids[1:]] == ["金陵社区第1网格", "金陵社区第2网格"] and kids[1][3] == 84.0
    trend = list(wb["趋势"].iter_rows(values_only=True))
    assert [t[1] for t in trend[1:]] == [70.0, 72.0, 74.0]
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "eval.report").order_by(AuditEvent.seq.desc()))
    assert ev is not None and ev.after["format"] == "xlsx" and ev.after["unit"] == "330522001001"


def test_report_outside_jurisdiction_is_not_found(db: Session, world: Any, ew: Any) -> None:
    with pytest.raises(NotFound):
        report.report_xlsx(db, principal=_p(db, world, "shequ1"), unit_code="330522002001", period="2026-10")


def test_html_has_inline_svg_and_no_script(db: Session, world: Any, ew: Any) -> None:
    from zhili.evaluation import reads

    card = reads.scorecard(db, principal=_p(db, world, "lingdao"), unit_code=None, period="2026-10")
    html = report.report_html(card)
    assert html.count("<svg") == 3 and "<script" not in html and "经济" in html and "长兴县" in html
    assert "330522" not in html  # names, never codes


@needs_chromium
def test_pdf(db: Session, world: Any, ew: Any) -> None:
    data = report.report_pdf(db, principal=_p(db, world, "lingdao"), unit_code="330522001", period="2026-10")
    assert data.startswith(b"%PDF")
    from pypdf import PdfReader

    text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    assert "经济" in text and "效益" in text


def test_missing_chromium_is_a_chinese_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zhili.core.errors import Unavailable

    monkeypatch.setenv("ZHILI_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(Unavailable, match="Chromium"):
        report.html_to_pdf("<p>测试</p>")


def test_cli_writes_the_file(db: Session, world: Any, ew: Any, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from typer.testing import CliRunner

    import zhili.cli_eval as cli_eval
    from zhili.cli import app

    @contextmanager
    def same_session() -> Any:
        yield db

    monkeypatch.setattr(cli_eval, "session_scope", same_session)
    out = tmp_path / "金陵.xlsx"
    res = CliRunner().invoke(app, ["eval", "report", "--unit", "330522001001", "--period", "2026-10",
                                   "--format", "xlsx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert load_workbook(out)["总览"]["B2"].value == "金陵社区"
    res = CliRunner().invoke(app, ["eval", "report", "--unit", "999", "--period", "2026-10", "--format", "xlsx",
                                   "--out", str(tmp_path / "x.xlsx")])
    assert res.exit_code == 2 and "不存在" in res.output
