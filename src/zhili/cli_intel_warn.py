"""``zhili intel warn-scan`` and ``zhili intel warnings``: the early-warning scan run as the system, and the
district's warnings listed (both in Chinese; ``--json`` for scripts)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(app: typer.Typer) -> None:
    """Add the early-warning commands to the ``intel`` command group."""

    @app.command("warn-scan")
    def warn_scan(json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
        """立即执行一次预警扫描（数量异常、重复反映、超期未走访、超期率异常），以系统身份运行；同一原因不重复预警。"""
        from zhili.core.db import session_scope
        from zhili.intel.warnings import KINDS, scan

        with session_scope() as s:
            r = scan(s)
        if json_out:
            typer.echo(json.dumps({"found": r.found, "raised": r.raised, "notified": r.notified,
                                   "seconds": r.seconds, "total_seconds": r.total_seconds}, ensure_ascii=False))
            return
        table = Table(title="预警扫描")
        for col in ("类型", "发现", "新增预警", "用时（秒）"):
            table.add_column(col)
        for kind, label in KINDS.items():
            if kind in r.found:
                table.add_row(label, str(r.found[kind]), str(r.raised.get(kind, 0)), f"{r.seconds.get(kind, 0):.2f}")
        console.print(table)
        console.print(f"新增预警 {r.total_raised} 条，通知 {r.notified} 个单位，共用时 {r.total_seconds:.2f} 秒")

    @app.command("warnings")
    def warnings_list(
        state: Annotated[str, typer.Option(
            "--state", help="open（待处理）、dismissed（已排除）、converted（已转为事件）或 all")] = "open",
        kind: Annotated[str | None, typer.Option("--kind", help="surge、repeat、unvisited 或 overdue")] = None,
        limit: Annotated[int, typer.Option("--limit", help="最多列出条数")] = 200,
        json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    ) -> None:
        """列出全区的预警（最新的在前）。"""
        from zhili.core.db import session_scope
        from zhili.core.errors import DomainError
        from zhili.intel.warnings import KINDS, SEVERITIES, STATES, system_warnings
        from zhili.regions.picker import names_by_code

        with session_scope() as s:
            try:
                rows = system_warnings(s, state=None if state == "all" else state, kind=kind, limit=limit)
            except DomainError as exc:
                console.print(f"[red]{exc.message}[/red]")
                raise typer.Exit(2) from exc
            units = names_by_code(s, codes={w.path.rsplit("/", 1)[-1] for w in rows})
            items: list[dict[str, Any]] = [
                {"id": str(w.id), "kind": w.kind, "state": w.state.value, "severity": w.severity,
                 "unit": units.get(w.path.rsplit("/", 1)[-1]), "path": w.path, "title": w.title,
                 "reason": w.reason, "cases": len(w.case_ids), "raised_at": w.raised_at.isoformat(),
                 "period_start": w.period_start.isoformat() if w.period_start else None,
                 "period_end": w.period_end.isoformat() if w.period_end else None,
                 "dismiss_reason": w.dismiss_reason, "case_id": str(w.case_id) if w.case_id else None}
                for w in rows]
        if json_out:
            typer.echo(json.dumps(items, ensure_ascii=False))
            return
        table = Table(title=f"预警（{len(items)} 条）")
        for col in ("级别", "类型", "状态", "单位", "标题", "关联事件"):
            table.add_column(col)
        for it in items:
            table.add_row(SEVERITIES.get(it["severity"], it["severity"]), KINDS.get(it["kind"], it["kind"]),
                          STATES.get(it["state"], it["state"]), it["unit"] or "", it["title"], str(it["cases"]))
        console.print(table)
