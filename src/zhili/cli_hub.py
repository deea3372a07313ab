"""``zhili hub …``: the data hub on the command line — sources, imports, quarantine, quality, resolution.

Every command acts as a named account (``--user``, default ``admin``) with that account's role and jurisdiction,
through the same service functions as the API and the pages; nothing here bypasses a permission.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

hub_app = typer.Typer(help="数据中台：数据源、导入、隔离区、数据质量、主数据", no_args_is_help=True)
source_app = typer.Typer(help="数据源", no_args_is_help=True)
hub_app.add_typer(source_app, name="source")
console = Console()

UserOpt = Annotated[str, typer.Option("--user", help="以该账号的角色和管辖范围执行")]


def principal_for(session: Any, username: str) -> Any:
    """The principal of an active account, or exit with a Chinese message."""
    from sqlalchemy import select

    from zhili.users.models import User
    from zhili.users.service import principal_for_user

    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        console.print(f"[red]账号 {username} 不存在或已停用[/red]")
        raise typer.Exit(2)
    return principal_for_user(session, user=user)


def fail(exc: Exception) -> None:
    """Print a domain error in Chinese and exit non-zero."""
    console.print(f"[red]{getattr(exc, 'message', None) or exc}[/red]")
    raise typer.Exit(1)


# -- sources ---------------------------------------------------------------------------------------------------

@source_app.command("add")
def source_add(
    name: Annotated[str, typer.Argument(help="数据源标识，如 12345-archive")],
    title: Annotated[str, typer.Option(help="数据源名称")],
    target: Annotated[str, typer.Option(help="标准模型：persons/households/buildings/organisations/cases")],
    unit: Annotated[str, typer.Option(help="数据所属单位代码（默认：该账号管辖的第一个单位）")] = "",
    security: Annotated[str, typer.Option(help="安全等级：public/internal/sensitive")] = "internal",
    department: Annotated[str | None, typer.Option(help="所属部门代码")] = None,
    system: Annotated[str | None, typer.Option(help="来源系统名称")] = None,
    refresh_days: Annotated[int | None, typer.Option(help="更新周期（天）")] = None,
    trust: Annotated[int, typer.Option(help="可信度 0–100")] = 50,
    user: UserOpt = "admin",
) -> None:
    """登记一个数据源。"""
    from sqlalchemy import select

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import sources
    from zhili.regions.models import Unit
    from zhili.regions.service import today, valid_on

    with session_scope() as s:
        p = principal_for(s, user)
        unit_id = None
        if unit:
            unit_id = s.scalar(select(Unit.id).where(Unit.code == unit, valid_on(Unit, today())))
            if unit_id is None:
                console.print(f"[red]单位代码 {unit} 不存在[/red]")
                raise typer.Exit(2)
        elif p.unit_ids:
            unit_id = p.unit_ids[0]
        try:
            src = sources.create_source(s, principal=p, data={
                "name": name, "title": title, "target": target, "security_level": security, "unit_id": unit_id,
                "department": department, "system_name": system, "refresh_days": refresh_days, "trust": trust})
        except DomainError as exc:
            fail(exc)
        console.print(f"已登记数据源 {src.name}（{src.title}）")


@source_app.command("list")
def source_list(user: UserOpt = "admin") -> None:
    """列出本账号管辖范围内的数据源。"""
    from zhili.core import names
    from zhili.core.db import session_scope
    from zhili.datahub import sources

    with session_scope() as s:
        p = principal_for(s, user)
        rows = sources.list_sources(s, principal=p)
        table = Table("标识", "名称", "标准模型", "安全等级", "更新周期（天）", "可信度")
        for r in rows:
            table.add_row(r.name, r.title, names.name("hub_target", r.target) or "",
                          names.name("hub_security", r.security_level) or "", str(r.refresh_days or "—"),
                          str(r.trust))
        console.print(table)


# -- quality -----------------------------------------------------------------------------------------------------

FRESHNESS_ZH = {"fresh": "及时", "due": "待更新", "overdue": "已逾期", "one_off": "一次性", "never": "从未导入"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _freshness_text(f: dict[str, Any]) -> str:
    text = FRESHNESS_ZH.get(f.get("status") or "", "—")
    if f.get("age_days") is not None:
        text += f"（{f['age_days']} 天前）"
    return text


@hub_app.command("quality")
def quality_cmd(
    source: Annotated[str | None, typer.Option("--source", help="只看该数据源（标识）的详细报告")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    user: UserOpt = "admin",
) -> None:
    """数据质量：各数据源的评分、完整性、有效性、唯一性、一致性与时效；--source 给出一个数据源的详细报告。"""
    import json

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import quality, sources

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            if source is None:
                data: Any = quality.overview(s, principal=p)
            else:
                src = sources.source_by_name(s, principal=p, name=source)
                data = quality.source_quality(s, principal=p, source_id=src.id)
        except DomainError as exc:
            fail(exc)
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
            return
        if source is None:
            table = Table("数据源", "标识", "评分", "完整性", "有效性", "唯一性", "一致性", "时效")
            for row in data:
                table.add_row(row["source"]["title"], row["source"]["name"],
                              "—" if row["score"] is None else f"{row['score']:.1f}", _pct(row["completeness"]),
                              _pct(row["validity"]), _pct(row["uniqueness"]), _pct(row["consistency"]),
                              _freshness_text(row["freshness"]))
            console.print(table)
            return
        _print_source_quality(data)


def _print_source_quality(data: dict[str, Any]) -> None:
    score = "—" if data["score"] is None else f"{data['score']:.1f}"
    console.print(f"[bold]{data['source']['title']}[/bold]  评分 {score}  记录 {data['records']}  "
                  f"时效 {_freshness_text(data['freshness'])}")
    fields = Table("字段", "有值记录", "完整性", title="字段完整性")
    for f in data["completeness"]["fields"]:
        fields.add_row(f["name"], str(f["filled"]), _pct(f["share"]))
    console.print(fields)
    rules = Table("规则", "未通过", "检查行数", "未通过比例", title="最近一次导入的规则校验")
    for r in data["validity"]["rules"]:
        rules.add_row(r["name"], str(r["failed"]), str(r["checked"]), _pct(r["share_failed"]))
    console.print(rules)
    u = data["uniqueness"]
    console.print(f"唯一性：有强标识的记录 {u['records_with_key']}，重复标识 {u['duplicate_key_groups']} 组"
                  f"（涉及 {u['records_sharing_key']} 条），文件内重复 {u['duplicate_in_file']} 行")
    cons = data.get("consistency")
    if cons and cons["golden_shared"]:
        table = Table("字段", "比对主数据", "不一致", "不一致比例", title="跨源一致性")
        for f in cons["fields"]:
            table.add_row(f["name"], str(f["compared"]), str(f["disagreeing"]), _pct(f["share_disagreeing"]))
        console.print(table)
