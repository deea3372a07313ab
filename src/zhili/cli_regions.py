"""``zhili regions …``: load a district's own region tree from a file — the first step of a real installation,
before the first administrator can be made (docs/deploy.md). Chinese output; refused rows written to a CSV with
their reasons; ``--dry-run`` checks without keeping anything."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

regions_app = typer.Typer(help="区划与网格：从文件导入本区县的区划树", no_args_is_help=True)
console = Console()


class Crs(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"


@regions_app.command("import")
def import_tree(
    file: Annotated[Path, typer.Argument(help="GeoJSON 要素集合或 CSV（代码,名称,层级,上级代码[,边界]）",
                                         exists=True, dir_okay=False, readable=True)],
    valid_from: Annotated[str | None, typer.Option(help="生效日期 YYYY-MM-DD（默认今天）")] = None,
    crs: Annotated[Crs, typer.Option(help="边界坐标系：wgs84（GPS）或 gcj02（高德/腾讯地图）")] = Crs.wgs84,
    refused: Annotated[Path | None, typer.Option(help="拒收行写入的 CSV（默认：与文件同名加 .refused.csv）")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查，不保存")] = False,
) -> None:
    """导入区划树（省/市/区县/街道/社区/网格及其边界）：上级先于下级，已存在且一致的单位不变，
    有问题的行连同原因写入拒收文件，其余照常导入。空系统上第一次导入建立顶级单位，之后即可
    用 zhili user create --role admin --unit <区县代码> 创建第一个管理员。"""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.regions.importer import import_units, read_file

    try:
        start = dt.date.fromisoformat(valid_from) if valid_from else None
    except ValueError as exc:
        raise typer.BadParameter("生效日期应为 YYYY-MM-DD") from exc
    try:
        rows = read_file(file)
        with session_scope() as s:
            with console.status(f"正在导入 {len(rows)} 行……"):
                report = import_units(s, principal=None, rows=rows, valid_from=start, crs=crs.value)
            if dry_run:
                s.rollback()
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    verb = "检查完成（未保存）" if dry_run else "导入完成"
    console.print(f"{verb}：共 {len(rows)} 行，新建 {len(report.created)} 个单位（其中 {report.boundaries} 个带边界），"
                  f"已存在且一致 {len(report.unchanged)} 个，拒收 {len(report.refused)} 行", soft_wrap=True)
    if report.refused:
        table = Table(title="拒收的行")
        for col in ("行号", "代码", "名称", "原因"):
            table.add_column(col)
        for r in report.refused[:50]:
            table.add_row(str(r.line), r.code, r.name, r.reason)
        console.print(table)
        out = refused or file.with_name(file.name + ".refused.csv")
        out.write_text(report.refused_csv(), encoding="utf-8")
        console.print(f"拒收的行及原因已写入 {out}（改正后可再次导入：已导入的单位不会重复）", soft_wrap=True)
        raise typer.Exit(2)
