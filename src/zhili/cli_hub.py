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


# -- addresses -------------------------------------------------------------------------------------------------

@hub_app.command("address")
def address_cmd(
    addresses: Annotated[list[str], typer.Argument(help="一条或多条地址，如 长兴明珠路8号3-2-301")],
    user: UserOpt = "admin",
) -> None:
    """解析地址并在本平台的区划与楼栋数据中落位（名称、置信度与原因）。"""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import address

    with session_scope() as s:
        p = principal_for(s, user)
        table = Table("地址", "拆分", "落位", "置信度", "说明")
        for text in addresses:
            try:
                got = address.place_address(s, principal=p, text=text)
            except DomainError as exc:
                fail(exc)
            parts = {k: v for k, v in got["parts"].as_dict().items() if v and k not in ("fixes", "adcode")}
            names = got["names"]
            where = " › ".join(u["name"] for u in names["units"][-3:])
            if names["building"]:
                where += f" › {names['building']}{names['entrance'] or ''}{names['room'] or ''}"
            pl = got["placement"]
            table.add_row(text, "、".join(f"{v}" for v in parts.values()), where or "未能落位",
                          f"{pl.confidence:.2f}", pl.reason or "")
        console.print(table)
