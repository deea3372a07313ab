"""``zhili eval …``: the 4E evaluation's commands — ``run`` scores periods for every district (as the scheduler
does), ``report`` writes a unit's report for a period as a PDF or an
Excel workbook, run as the system over the whole district (the export is audited like the page's)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from zhili.core.db import session_scope
from zhili.core.jurisdiction import Principal

eval_app = typer.Typer(help="4E 评估（经济、效率、效益、公平）", no_args_is_help=True)
console = Console()


def _system_principal(session: Session) -> Principal:
    """The system as a district-wide reader of the evaluation (the first district of the current tree)."""
    from zhili.evaluation.jobs import districts, system_principal

    roots = districts(session)
    if not roots:
        console.print("[red]尚未建立区县区划，无法生成评估报告[/red]")
        raise typer.Exit(2)
    return system_principal(roots[0])


@eval_app.command("run")
def run_cmd(
    period: Annotated[list[str], typer.Option(
        "--period", help="评估周期：2026-10（月）、2026-Q4（季度）或 2026（年）；可多次给出")],
    months: Annotated[int, typer.Option("--months", help="另算截至该月的前 N 个月（含该月）")] = 1,
    force: Annotated[bool, typer.Option("--force", help="数据未变也重新计算")] = False,
) -> None:
    """计算一个或多个周期的 4E 评估（全区县各单位），与定时任务相同；已结束且数据未变的周期保留原结果。"""
    from rich.progress import Progress

    from zhili.core.errors import DomainError
    from zhili.evaluation import periods as ep
    from zhili.evaluation import service
    from zhili.evaluation.jobs import districts, system_principal

    try:
        keys: list[str] = []
        for text in period:
            p = ep.parse(text)
            keys += [x.key for x in (ep.last_periods(p, months) if p.kind == "month" else [p])]
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    with session_scope() as s:
        roots = districts(s)
    if not roots:
        console.print("[red]尚未建立区县区划，无法评估[/red]")
        raise typer.Exit(2)
    with Progress(console=console) as progress:
        task = progress.add_task("4E 评估", total=len(keys) * len(roots))
        for root in roots:
            for key in dict.fromkeys(keys):
                try:
                    with session_scope() as s:
                        out = service.run_period(s, principal=system_principal(root), period=key, root_path=root,
                                                 force=force)
                except DomainError as exc:
                    console.print(f"[red]{ep.parse(key).label}：{exc.message}[/red]")
                    raise typer.Exit(2) from exc
                state = "已计算" if out.created else "数据未变，保留原结果"
                progress.console.print(
                    f"{ep.parse(key).label}：{state}（{out.run.units} 个单位，{out.seconds:.1f} 秒）")
                progress.advance(task)


@eval_app.command("report")
def report_cmd(
    unit: Annotated[str, typer.Option("--unit", help="单位代码（区县、街道、社区或网格）")],
    period: Annotated[str, typer.Option("--period", help="评估周期：2026-10（月）、2026-Q4（季度）或 2026（年）")],
    fmt: Annotated[str, typer.Option("--format", help="pdf 或 xlsx")] = "pdf",
    out: Annotated[Path | None, typer.Option("--out", help="输出文件（缺省为报告的中文文件名）")] = None,
) -> None:
    """生成一个单位某一周期的 4E 评估报告。

    PDF 含雷达图、分项条形图和趋势图；Excel 含总览、指标、下级单位、趋势四张表。"""
    from zhili.core.errors import DomainError
    from zhili.evaluation.report import report

    fmt = fmt.lower().strip()
    if fmt not in ("pdf", "xlsx"):
        console.print("[red]--format 只能是 pdf 或 xlsx[/red]")
        raise typer.Exit(2)
    try:
        with session_scope() as s:
            data, _, name = report(s, principal=_system_principal(s), unit_code=unit, period=period, fmt=fmt)
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    target = out or Path(name)
    target.write_bytes(data)
    console.print(f"已生成 {target}（{len(data):,} 字节）")
