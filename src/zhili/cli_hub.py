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


# -- resolution, review queue, change deliveries (golden.py / review.py / changes.py) ----------------------------

review_app = typer.Typer(help="待复核的疑似重复记录", no_args_is_help=True)
hub_app.add_typer(review_app, name="review")


@hub_app.command("resolve")
def resolve_cmd(
    source: Annotated[str | None, typer.Option("--source", help="只归并该数据源的记录（标识）")] = None,
    entity: Annotated[str, typer.Option(help="实体类型：person/organisation/building（默认按数据源）")] = "",
    user: UserOpt = "admin",
) -> None:
    """把尚未归并的源记录归并为主数据（证件号一致的直接归并，其余按概率匹配；不确定的进入待复核）。"""
    from zhili.core import names
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import golden, sources
    from zhili.datahub.models import EntityType, Target

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            src = sources.source_by_name(s, principal=p, name=source) if source else None
            if entity:
                kinds = [EntityType(entity)]
            elif src is not None:
                if Target(src.target) not in golden.ENTITY_OF:
                    console.print("[red]该数据源的标准模型不参与主数据归并[/red]")
                    raise typer.Exit(2)
                kinds = [golden.ENTITY_OF[Target(src.target)]]
            else:
                kinds = list(EntityType)
            table = Table("实体类型", "记录", "证件号一致", "概率匹配", "待复核", "新建主数据", "登记被拒")
            for kind in kinds:
                t = golden.resolve(s, principal=p, entity=kind, source_id=src.id if src else None)
                counts = [str(t.get(k, 0)) for k in ("records", "deterministic", "probabilistic", "review", "new",
                                                     "errors")]
                table.add_row(names.name("hub_entity", kind) or kind.value, *counts)
        except (DomainError, ValueError) as exc:
            fail(exc)
        console.print(table)


@review_app.command("list")
def review_list(
    entity: Annotated[str, typer.Option(help="实体类型：person/organisation/building（默认全部）")] = "",
    limit: Annotated[int, typer.Option(help="最多显示条数")] = 50,
    user: UserOpt = "admin",
) -> None:
    """列出本账号管辖范围内待复核的记录对（姓名显示，证件号与电话脱敏）。"""
    from zhili.core import names
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import review
    from zhili.datahub.models import EntityType

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            rows, total = review.list_candidates(s, principal=p, entity=EntityType(entity) if entity else None,
                                                 page_size=max(1, min(limit, 200)))
            table = Table("编号", "类型", "新来记录", "已有主数据", "匹配概率", "来源")
            for c in rows:
                v = review.candidate_view(s, principal=p, candidate_id=c.id)
                by = {r["field"]: r for r in v["rows"]}
                table.add_row(str(c.id), names.name("hub_entity", c.entity_type) or "",
                              str(by.get("name", {}).get("left") or "—"), str(by.get("name", {}).get("right") or "—"),
                              f"{c.probability:.0%}", v["source"].title if v["source"] else "—")
        except (DomainError, ValueError) as exc:
            fail(exc)
        console.print(table)
        console.print(f"共 {total} 条待复核")


@hub_app.command("deliver")
def deliver_cmd() -> None:
    """重新推送到期未送达的主数据变更（进程中断后、或退避等待结束后）。"""
    from zhili.core.db import session_scope
    from zhili.datahub import changes

    with session_scope() as s:
        n = changes.redeliver_due(s)
    changes.hub_outbox().wait_idle(60)
    console.print(f"已重新推送 {n} 个变更事件")
