"""``zhili intel hotspots`` and ``zhili intel risk``: the spatial analyses on the command line, acting as the system
(the command-centre role over the whole district) through the same service functions as the pages."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()


@contextmanager
def _as_system() -> Iterator[tuple[Any, Any]]:
    """A unit of work (a read session: the analyses read for seconds without holding SQLite's write lock; what
    they store is written after the read) and the system principal; a refusal is printed in Chinese, exit 1."""
    from zhili.core.db import read_session_factory, unit_of_work
    from zhili.core.errors import DomainError
    from zhili.intel.risk import system_principal

    try:
        with unit_of_work(read_session_factory()) as s:
            principal = system_principal(s)
            if not principal.scope_paths:
                console.print("[red]数据库中没有区县单位，请先生成或导入区划[/red]")
                raise typer.Exit(2)
            yield s, principal
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


def _date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{what}须为 YYYY-MM-DD 格式的日期") from exc


def register(app: typer.Typer) -> None:
    """Add ``hotspots`` and ``risk`` to the ``intel`` command group."""

    @app.command("hotspots")
    def hotspots_cmd(
        level: Annotated[str, typer.Option(help="空间单元：h3（六边形格网）或 grid（网格）")] = "h3",
        resolution: Annotated[int, typer.Option(help="H3 分辨率（5–10，8 ≈ 0.74 平方公里）")] = 8,
        category: Annotated[str | None, typer.Option(help="事件分类代码（含其下级分类），缺省为全部")] = None,
        days: Annotated[int, typer.Option(help="分析最近多少天")] = 90,
        until: Annotated[str | None, typer.Option(help="截止日期 YYYY-MM-DD（缺省为今天）")] = None,
        permutations: Annotated[int, typer.Option(help="置换检验次数（0 = 正态近似）")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（含边界，可直接作地图图层）")] = False,
        top: Annotated[int, typer.Option(help="表格中显示的格子数")] = 20,
    ) -> None:
        """热点区域：Getis-Ord Gi* 热点/冷点（错误发现率控制）与新兴热点。"""
        from zhili.intel.hotspots import hotspots_for

        with _as_system() as (s, principal):
            result = hotspots_for(s, principal=principal, level=level, resolution=resolution, category=category,
                                  days=days, until=_date(until, "截止日期"), permutations=permutations)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
            return
        sm = result.summary
        what = result.category_name or "全部事件"
        unit = f"H3 分辨率 {result.resolution}" if result.level == "h3" else "网格"
        console.print(f"热点区域 · {what} · {result.since}～{result.until} · {unit}：{sm['cases']:,} 件事件，"
                      f"{sm['cells']:,} 个单元；显著热点 {sm['hot']}、冷点 {sm['cold']}（FDR ≤ {result.alpha}，"
                      f"未校正时 p ≤ {result.alpha} 的有 {sm['raw_significant']} 个）；新兴热点 {sm['emerging']}")
        table = Table()
        for col in ("单元（所在网格）", "事件数", "z", "p", "q", "类别", "新兴", "近14天/预期"):
            table.add_column(col)
        shown = [c for c in result.cells if c["cls"] != "ns" or c["emerging"]][:top]
        for c in shown:
            tr = c["trend"]
            table.add_row(c["name"] or "—", str(c["count"]), f"{c['z']:.2f}", f"{c['p']:.2g}",
                          f"{c['q']:.2g}", c["label"], "是" if c["emerging"] else "",
                          f"{tr.get('recent', 0)}/{tr.get('expected', 0)}")
        console.print(table)

    @app.command("risk")
    def risk_cmd(
        week: Annotated[str | None, typer.Option(help="研判周的周一 YYYY-MM-DD（缺省为即将到来的一周）")] = None,
        backtest: Annotated[bool, typer.Option("--backtest", help="只做滚动回测，不保存排名")] = False,
        weeks: Annotated[int, typer.Option(help="回测的周数")] = 8,
        method: Annotated[str, typer.Option(help="模型：glm（泊松回归）或 hgb（梯度提升）")] = "glm",
        top: Annotated[int, typer.Option(help="显示前多少个网格")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    ) -> None:
        """风险研判：预测下周各网格事件数并排名（保存），或 --backtest 回测模型与朴素基线。"""
        from zhili.intel.risk import evaluate_risk, rank_grids, risk_for

        week_start = _date(week, "研判周")
        if backtest:
            with _as_system() as (s, principal):
                from zhili.core.jurisdiction import authorize
                from zhili.core.security import Perm

                authorize(principal, Perm.intel_admin)
                until = week_start - dt.timedelta(days=1) if week_start else None
                bt = evaluate_risk(s, paths=principal.scope_paths, weeks=weeks, until=until, method=method)
            if as_json:
                typer.echo(json.dumps(bt, ensure_ascii=False))
                return
            table = Table(title=f"风险研判滚动回测：最近 {bt['weeks']} 周，{bt['grids']} 个网格（{method}）")
            for col in ("预测方法", "前 10% 命中率（precision@10%）", "Spearman 秩相关"):
                table.add_column(col)
            for key, name in (("model", "模型"), ("last_week", "上周事件数"), ("mean_4w", "近4周均值")):
                table.add_row(name, f"{bt[key]['p_at_10']:.3f}", f"{bt[key]['spearman']:.3f}")
            console.print(table)
            return
        with _as_system() as (s, principal):
            rows = rank_grids(s, principal=principal, week_start=week_start, method=method)
        if not rows:
            console.print("[yellow]没有可研判的网格[/yellow]")
            return
        with _as_system() as (s, principal):
            listing = risk_for(s, principal=principal, week_start=rows[0].week_start, limit=top)
        if as_json:
            typer.echo(json.dumps(listing, ensure_ascii=False))
            return
        table = Table(title=f"风险研判：{rows[0].week_start} 起一周，共 {len(rows)} 个网格（已保存）")
        for col in ("排名", "网格", "社区", "预计事件数", "主要因素"):
            table.add_column(col)
        for r in listing:
            why = "；".join(f"{d['name']}（×{d['factor']:.2f}）" for d in r["drivers"]) or "—"
            table.add_row(str(r["rank"]), r["grid_name"], r["community"], f"{r['score']:.1f}", why)
        console.print(table)
