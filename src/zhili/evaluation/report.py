"""A unit's 4E report for a period, as an Excel workbook or a PDF — from the scorecard page and from
``zhili eval report``. Both read :func:`zhili.evaluation.reads.scorecard` (so they show what the page shows and
check what it checks: ``eval:read`` and the unit in the caller's jurisdiction) and are recorded in the audit log
(``eval.report``).

* Workbook: 总览 (unit, total, ranks and the four dimensions, with a native radar chart), 指标 (every indicator),
  下级单位 (the next level), 趋势 (12 periods with a line chart); Chinese headers, figures as numbers.
* PDF: a self-contained HTML page (inline CSS, the charts as inline SVG from :mod:`zhili.evaluation.svgcharts`, no
  JavaScript) printed by the system's headless Chromium; Chinese renders with the installed Noto CJK fonts.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.chart import LineChart, RadarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.clock import to_local
from zhili.core.db import write_after_read
from zhili.core.errors import Unavailable, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.xlsx import row_values
from zhili.evaluation import labels as lb
from zhili.evaluation import reads, svgcharts

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PRINT_TIMEOUT = 90  # seconds
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def file_name(card: dict[str, Any], fmt: str) -> str:
    """``金陵社区4E评估报告-2026年10月.xlsx``."""
    return f"{card['unit']['name']}4E评估报告-{card['run']['label']}.{fmt}"


def _audit(session: Session, principal: Principal, card: dict[str, Any], fmt: str) -> None:
    after = {"unit": card["unit"]["code"], "period": card["run"]["period"], "format": fmt}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="eval.report",
                                                     object_type="eval_result", object_id=card["unit"]["unit_id"],
                                                     after=after))


# -- Excel --------------------------------------------------------------------------------------------------------

def _bold_row(ws: Any, row: int) -> None:
    for cell in ws[row]:
        cell.font = Font(bold=True)


def _widths(ws: Any, widths: list[int]) -> None:
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def report_xlsx(session: Session, *, principal: Principal, unit_code: str | None, period: str | None) -> bytes:
    """The workbook of a unit's scorecard (see the module docstring)."""
    authorize(principal, Perm.eval_read)
    card = reads.scorecard(session, principal=principal, unit_code=unit_code, period=period)
    data = workbook(card)
    _audit(session, principal, card, "xlsx")
    return data


def workbook(card: dict[str, Any]) -> bytes:
    """The workbook of a scorecard as :func:`zhili.evaluation.reads.scorecard` reads it."""
    wb = Workbook()
    ws = wb.active
    ws.title = "总览"
    unit, run = card["unit"], card["run"]
    ws.append(row_values([f"{unit['name']} 基层社会治理智能化 4E 评估报告（{run['label']}）"]))
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(row_values(["评估单位", unit["name"]]))
    ws.append(row_values(["层级", unit["level_name"]]))
    span = f"{lb.day_text(run['start_day'])}至{lb.day_text(run['end_day'])}"
    ws.append(row_values(["评估周期", f"{run['label']}（{span}）"]))
    ws.append(row_values(["实有人口", unit["population"]]))
    ws.append(row_values(["综合得分", card["total"]]))
    ws.append(row_values(["同级排名", card["rank"], "同级单位数", card["peers"]]))
    ws.append(row_values(["权重版本", run["weight_version"]]))
    at = to_local(run["computed_at"]).strftime("%Y-%m-%d %H:%M") if run["computed_at"] else ""
    ws.append(row_values(["计算时间", at]))
    ws.append(row_values([]))
    head = ws.max_row + 1
    ws.append(row_values(["维度", "得分", "较上期变化"]))
    _bold_row(ws, head)
    for d in card["dimensions"]:
        ws.append(row_values([d["name"], d["score"], d["change"]["delta"]]))
    chart = RadarChart()
    chart.type = "marker"
    chart.title = "四个维度得分"
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
    data = Reference(ws, min_col=2, min_row=head, max_row=head + len(card["dimensions"]))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=head + len(card["dimensions"])))
    ws.add_chart(chart, "E2")
    ws.append(row_values([]))
    head2 = ws.max_row + 1
    ws.append(row_values(["维度", "分项", "得分", "权重（维度内）"]))
    _bold_row(ws, head2)
    for s in card["sub_dimensions"]:
        ws.append(row_values([card["dimension_names"].get(s["dimension"], ""), s["name"], s["score"], s["weight"]]))
    _widths(ws, [18, 22, 14, 14])

    wi = wb.create_sheet("指标")
    wi.append(row_values(["维度", "分项", "指标", "单位", "方向", "本期值", "目标值", "得分", "同级排名", "同级单位数",
               "上期值", "变化", "权重"]))
    _bold_row(wi, 1)
    subs = {s["code"]: s["name"] for s in card["sub_dimensions"]}
    for r in card["indicators"]:
        wi.append(row_values([card["dimension_names"].get(r["dimension"], ""), subs.get(r["sub_dimension"], ""),
                              r["name"],
                   r["unit"], r["direction_name"], r["value"] if r["value"] is not None else "无数据", r["target"],
                   r["score"], r["rank"], r["peers"], r["prev_value"], r["change"]["delta"], r["weight"]]))
    _widths(wi, [8, 16, 24, 10, 10, 12, 10, 10, 10, 10, 12, 10, 10])

    wc = wb.create_sheet("下级单位")
    wc.append(row_values(["单位", "层级", "实有人口", "综合得分", "辖内排名", *card["dimension_names"].values()]))
    _bold_row(wc, 1)
    for c in card["children"]:
        wc.append(row_values([c["name"], c["level_name"], c["population"], c["total"], c["rank_siblings"],
                   *(c["dimensions"].get(d) for d in card["dimension_names"])]))
    _widths(wc, [24, 12, 12, 12, 10, 10, 10, 10, 10])

    wt = wb.create_sheet("趋势")
    wt.append(row_values(["周期", "综合得分", *card["dimension_names"].values()]))
    _bold_row(wt, 1)
    for t in card["trend"]:
        wt.append(row_values([t["label"], t["total"], *(t["dimensions"].get(d) for d in card["dimension_names"])]))
    if card["trend"]:
        line = LineChart()
        line.title = "得分趋势"
        line.y_axis.scaling.min, line.y_axis.scaling.max = 0, 100
        n = len(card["trend"])
        line.add_data(Reference(wt, min_col=2, max_col=2 + len(card["dimension_names"]), min_row=1, max_row=n + 1),
                      titles_from_data=True)
        line.set_categories(Reference(wt, min_col=1, min_row=2, max_row=n + 1))
        line.width, line.height = 22, 11
        wt.add_chart(line, "H2")
    _widths(wt, [16, 12, 10, 10, 10, 10])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- PDF ----------------------------------------------------------------------------------------------------------

def report_html(card: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (what the PDF prints)."""
    return _env.get_template("eval_report.html").render(
        card=card, charts=svgcharts.scorecard_charts(card), fmt_score=lb.format_score, fmt_num=lb.format_number,
        day_text=lb.day_text, computed=(to_local(card["run"]["computed_at"]).strftime("%Y-%m-%d %H:%M")
                                        if card["run"]["computed_at"] else ""))


def chromium_path() -> str | None:
    """The headless browser that prints the PDF: ``ZHILI_CHROMIUM``, else the usual system paths, else PATH."""
    env = os.environ.get("ZHILI_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for p in CHROMIUM_CANDIDATES:
        if Path(p).exists():
            return p
    return shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html: str, *, timeout: int = PRINT_TIMEOUT) -> bytes:
    """Print ``html`` to PDF with headless Chromium in a temporary directory."""
    browser = chromium_path()
    if browser is None:
        raise Unavailable("无法生成 PDF：服务器未安装 Chromium 浏览器（apt install chromium），请改为导出 Excel",
                          code="pdf_unavailable")
    with tempfile.TemporaryDirectory(prefix="zhili-eval-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--no-default-browser-check", f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--print-to-pdf={out}", "--no-pdf-header-footer", src.as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, cwd=tmp,
                           env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"生成 PDF 超时（超过 {timeout} 秒），请稍后重试或改为导出 Excel",
                              code="pdf_timeout") from exc
        except OSError as exc:
            raise Unavailable("无法启动 Chromium 浏览器生成 PDF，请改为导出 Excel", code="pdf_unavailable") from exc
        if not out.exists() or out.stat().st_size == 0:
            raise Unavailable("Chromium 未能生成 PDF，请改为导出 Excel", code="pdf_failed")
        return out.read_bytes()


def report_pdf(session: Session, *, principal: Principal, unit_code: str | None, period: str | None) -> bytes:
    """The PDF of a unit's scorecard (see the module docstring)."""
    authorize(principal, Perm.eval_read)
    card = reads.scorecard(session, principal=principal, unit_code=unit_code, period=period)
    data = html_to_pdf(report_html(card))
    _audit(session, principal, card, "pdf")
    return data


def report(session: Session, *, principal: Principal, unit_code: str | None, period: str | None, fmt: str
           ) -> tuple[bytes, str, str]:
    """The report in ``fmt`` (``xlsx`` or ``pdf``): its bytes, media type and Chinese file name."""
    authorize(principal, Perm.eval_read)
    if fmt not in ("xlsx", "pdf"):
        raise ValidationFailed("导出格式只能是 xlsx 或 pdf", code="eval_bad_format")
    card = reads.scorecard(session, principal=principal, unit_code=unit_code, period=period)
    data = workbook(card) if fmt == "xlsx" else html_to_pdf(report_html(card))
    _audit(session, principal, card, fmt)
    return data, XLSX if fmt == "xlsx" else PDF, file_name(card, fmt)
