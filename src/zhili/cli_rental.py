"""``zhili rental …``: the rental rules' scan, police deliveries sent now, and the delivery list (dead letters with
``--dead``) — run as the system, for cron or an operator (the server's sweep thread does the first two on its own).
Chinese output; ``--json`` for scripts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

rental_app = typer.Typer(help="出租房屋与流动人口", no_args_is_help=True)
console = Console()


@rental_app.command("scan")
def scan(json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """立即执行一次出租房屋预警扫描（群租、重复登记、逾期未退租、空置房异常活动、居住登记到期），以系统身份运行；同一原因不重复预警。"""
    from zhili.core.db import session_scope
    from zhili.intel.warnings import KINDS
    from zhili.rental.rules import scan as run_scan

    with session_scope() as s:
        r = run_scan(s)
    if json_out:
        typer.echo(json.dumps({"found": r.found, "raised": r.raised}, ensure_ascii=False))
        return
    table = Table(title="出租房屋预警扫描")
    for col in ("类型", "发现", "新增预警"):
        table.add_column(col)
    for kind, n in r.found.items():
        table.add_row(KINDS.get(kind, kind), str(n), str(r.raised.get(kind, 0)))
    console.print(table)
    console.print(f"新增预警 {r.total_raised} 条")


@rental_app.command("deliver")
def deliver(json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """立即推送到期的公安登记记录（首次推送、退避后重试）；推送失败满次数的转入失败清单。"""
    from zhili.core.db import session_scope
    from zhili.rental.police import deliver_due

    with session_scope() as s:
        n = deliver_due(s)
    if json_out:
        typer.echo(json.dumps({"delivered": n}))
        return
    console.print(f"本次推送成功 {n} 条")


@rental_app.command("deliveries")
def deliveries(
    dead: Annotated[bool, typer.Option("--dead", help="只列推送失败（死信）的记录")] = False,
    state: Annotated[str | None, typer.Option("--state", help="pending、delivered 或 dead")] = None,
    limit: Annotated[int, typer.Option("--limit", help="最多列出条数")] = 200,
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """列出公安登记推送记录（最新在前）。"""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.rental.police import delivery_view, system_deliveries

    try:
        with session_scope() as s:
            rows = [delivery_view(d) for d in system_deliveries(s, state="dead" if dead else state, limit=limit)]
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table(title="公安登记推送" + ("（失败清单）" if dead else ""))
    for col in ("编号", "类型", "状态", "尝试次数", "最近错误", "下次重试", "回执", "创建时间"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["kind_name"], r["state_name"], str(r["attempts"]), r["last_error"] or "",
                      str(r["next_try_at"] or ""), r["receipt"] or "", str(r["created_at"]))
    console.print(table)
    console.print(f"共 {len(rows)} 条")
