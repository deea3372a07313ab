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


# -- templates -------------------------------------------------------------------------------------------------

template_app = typer.Typer(help="映射模板", no_args_is_help=True)
hub_app.add_typer(template_app, name="template")


@template_app.command("load-builtin")
def template_load_builtin() -> None:
    """加载平台内置的映射模板（政务留言、纽约311、四类登记表）；已是最新的不重复添加。"""
    from zhili.core.db import session_scope
    from zhili.datahub.templates import load_builtin_templates

    with session_scope() as s:
        n = load_builtin_templates(s)
    console.print(f"内置映射模板：新增 {n} 个版本" if n else "内置映射模板已是最新")


@template_app.command("list")
def template_list(user: UserOpt = "admin") -> None:
    """列出本账号可见的映射模板（当前版本）。"""
    from zhili.core import names
    from zhili.core.db import session_scope
    from zhili.datahub import templates

    with session_scope() as s:
        p = principal_for(s, user)
        table = Table("标识", "名称", "标准模型", "版本", "内置")
        for t in templates.list_templates(s, principal=p):
            table.add_row(t.name, t.title, names.name("hub_target", t.target) or "", str(t.version),
                          "是" if t.builtin else "")
        console.print(table)


@template_app.command("show")
def template_show(name: Annotated[str, typer.Argument(help="模板标识")],
                  version: Annotated[int | None, typer.Option(help="版本（默认当前版本）")] = None,
                  user: UserOpt = "admin") -> None:
    """以表格显示一个映射模板：来源列 → 标准字段、值映射、日期格式。"""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import templates
    from zhili.datahub.mapping import TemplateSpec, describe_spec

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            t = templates.get_template(s, principal=p, name=name, version=version)
        except DomainError as exc:
            fail(exc)
        table = Table("标准字段", "来源", "日期格式", "值映射", "说明", title=f"{t.title}（{t.name} 第{t.version}版）")
        for r in describe_spec(TemplateSpec.model_validate(t.spec)):
            vmap = "；".join(f"{k}→{v}" for k, v in r["value_map"][:6]) + ("……" if len(r["value_map"]) > 6 else "")
            notes = [*(["主键"] if r["key"] else []), *(["必填"] if r["required"] else []), *r["options"]]
            table.add_row(r["label"], r["origin"], "、".join(r["date_formats"]), vmap, "，".join(notes))
        console.print(table)


@template_app.command("export")
def template_export(name: Annotated[str, typer.Argument(help="模板标识")],
                    output: Annotated[str, typer.Option("--output", "-o", help="输出文件（默认打印）")] = "",
                    version: Annotated[int | None, typer.Option(help="版本（默认当前版本）")] = None,
                    user: UserOpt = "admin") -> None:
    """导出映射模板为 JSON。"""
    import json
    from pathlib import Path

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import templates

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            data = templates.export_template(s, principal=p, name=name, version=version)
        except DomainError as exc:
            fail(exc)
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        console.print(f"已导出 {data['name']} 第{data['version']}版 → {output}")
    else:
        typer.echo(text)


@template_app.command("import")
def template_import(path: Annotated[str, typer.Argument(help="导出的 JSON 文件")],
                    name: Annotated[str, typer.Option(help="保存为该标识（默认文件中的标识）")] = "",
                    user: UserOpt = "admin") -> None:
    """导入映射模板 JSON（校验后保存为新版本；与当前版本相同则不变）。"""
    import json
    from pathlib import Path

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import templates

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        console.print(f"[red]无法读取 JSON 文件 {path}[/red]")
        raise typer.Exit(2) from None
    with session_scope() as s:
        p = principal_for(s, user)
        try:
            t = templates.import_template(s, principal=p, data=data, name=name or None)
        except DomainError as exc:
            fail(exc)
        console.print(f"映射模板 {t.name} 当前为第{t.version}版")


@template_app.command("preview")
def template_preview(name: Annotated[str, typer.Argument(help="模板标识")],
                     path: Annotated[str, typer.Argument(help="CSV 或 .xlsx 样例文件")],
                     limit: Annotated[int, typer.Option(help="预览行数")] = 10,
                     user: UserOpt = "admin") -> None:
    """按模板预览样例文件的前几行（个人信息脱敏，不写入任何数据）。"""
    from pathlib import Path

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import templates

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            _, mapper = templates.compiled(s, principal=p, name=name)
            data = Path(path).read_bytes()[:templates.PREVIEW_MAX_BYTES]
            out = templates.preview_file(mapper, data, Path(path).name, limit=limit)
        except DomainError as exc:
            fail(exc)
        labels = {k: f.label for k, f in mapper.std.items()}
        for r in out["rows"]:
            head = f"第{r['row']}行" + ("（跳过）" if r["skipped"] else "")
            console.print(f"[bold]{head}[/bold]")
            for k, v in r["values"].items():
                if v is not None:
                    console.print(f"  {labels.get(k, k)}：{str(v)[:80]}", markup=False)
            for e in r["errors"]:
                console.print(f"  [red]{e['message']}[/red]")
        s.rollback()
