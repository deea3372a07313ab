"""``zhili hub …``: the data hub on the command line — sources, imports, quarantine, quality, resolution.

Every command acts as a named account (``--user``, default ``admin``) with that account's role and jurisdiction,
through the same service functions as the API and the pages; nothing here bypasses a permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def as_user(username: str) -> Iterator[tuple[Any, Any]]:
    """The shape of a ``zhili hub`` command: a unit of work (committed when the block ends, rolled back if it
    raises) and the principal of ``username``. A service's refusal anywhere in the block is printed in Chinese
    and exits 1, after the rollback."""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError

    try:
        with session_scope() as s:
            yield s, principal_for(s, username)
    except DomainError as exc:
        fail(exc)


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

    from zhili.core.errors import DomainError
    from zhili.datahub import sources
    from zhili.regions.models import Unit
    from zhili.regions.service import today, valid_on

    with as_user(user) as (s, p):
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
    from zhili.datahub import sources

    with as_user(user) as (s, p):
        rows = sources.list_sources(s, principal=p)
        table = Table("标识", "名称", "标准模型", "安全等级", "更新周期（天）", "可信度")
        for r in rows:
            table.add_row(r.name, r.title, names.name("hub_target", r.target) or "",
                          names.name("hub_security", r.security_level) or "", str(r.refresh_days or "—"),
                          str(r.trust))
        console.print(table)


# -- imports and quarantine (pipeline.py / imports.py / quarantine.py) ------------------------------------------

quarantine_app = typer.Typer(help="隔离区：未通过校验的数据行", no_args_is_help=True)
hub_app.add_typer(quarantine_app, name="quarantine")


def _counts_table(imp: Any) -> Table:
    from zhili.core import names

    table = Table("读取", "新增", "更新", "未变", "隔离", "用时（秒）", "状态")
    table.add_row(str(imp.rows_read), str(imp.rows_imported), str(imp.rows_updated), str(imp.rows_unchanged),
                  str(imp.rows_quarantined), f"{(imp.duration_ms or 0) / 1000:.1f}",
                  names.name("hub_import_status", imp.status) or str(imp.status))
    return table


def _run_job(source: str, user: str, job: Any) -> None:
    """Run an import job in a session of its own (it commits per batch, holding the write lock per batch only),
    with a progress bar; print the counts; exit 1 if the import itself failed."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from zhili.core.db import get_engine, session_factory, write_guard
    from zhili.core.errors import DomainError
    from zhili.datahub import sources
    from zhili.datahub.models import ImportStatus

    engine = get_engine()
    with session_factory()() as s:
        p = principal_for(s, user)
        try:
            src = sources.source_by_name(s, principal=p, name=source)
        except DomainError as exc:
            fail(exc)
        with Progress(TextColumn("[bold]导入[/bold]"), BarColumn(), DownloadColumn(),
                      TextColumn("{task.fields[rows]}行"), TimeRemainingColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("import", total=None, rows=0)

            def progress(imp: Any, where: tuple[int, int | None]) -> None:
                bar.update(task, completed=where[0], total=where[1], rows=imp.rows_read)

            try:
                imp = job(s, p, src, progress, lambda: write_guard(engine))
            except DomainError as exc:
                s.rollback()
                fail(exc)
    console.print(_counts_table(imp))
    if imp.status == ImportStatus.failed:
        console.print(f"[red]导入失败：{imp.error}[/red]")
        raise typer.Exit(1)
    if imp.dry_run:
        console.print("试运行：只校验和统计，没有写入任何数据")
    elif imp.rows_quarantined:
        console.print(f"{imp.rows_quarantined} 行未通过校验，已放入隔离区："
                      f"zhili hub quarantine list --import-id {imp.id}")


@hub_app.command("import")
def import_cmd(
    file: Annotated[str, typer.Argument(help="要导入的文件（CSV / Excel / JSON / JSON Lines）")],
    source: Annotated[str, typer.Option("--source", help="数据源标识")],
    template: Annotated[str | None, typer.Option("--template", help="映射模板名称（默认：数据源的默认模板）")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="文件编码（默认自动识别）")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel 工作表名称")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只校验和统计，不写入")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="每批提交的行数")] = 1000,
    user: UserOpt = "admin",
) -> None:
    """导入一个文件：映射、校验、写入或隔离，打印计数。只有导入本身失败时才以非零状态退出。"""
    from pathlib import Path

    from zhili.datahub.imports import import_file

    path = Path(file)
    if not path.is_file():
        console.print(f"[red]文件不存在：{file}[/red]")
        raise typer.Exit(2)
    _run_job(source, user, lambda s, p, src, progress, guard: import_file(
        s, principal=p, source=src, path=path, template=template, encoding=encoding, sheet=sheet, dry_run=dry_run,
        progress=progress, guard=guard, batch_size=batch_size))


@hub_app.command("import-rest")
def import_rest_cmd(
    url: Annotated[str, typer.Argument(help="接口地址（分页 JSON）")],
    source: Annotated[str, typer.Option("--source", help="数据源标识")],
    template: Annotated[str | None, typer.Option("--template", help="映射模板名称")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", help="请求头，如 'Authorization: Bearer …'")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只校验和统计，不写入")] = False,
    user: UserOpt = "admin",
) -> None:
    """从 REST 接口分页拉取并导入；中断后再次运行同一命令从断点继续。"""
    from zhili.datahub.imports import import_rest

    headers = {}
    for h in header or []:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()

    def job(s: Any, p: Any, src: Any, progress: Any, guard: Any) -> Any:
        return import_rest(s, principal=p, source=src, url=url, headers=headers, template=template,
                           dry_run=dry_run, progress=progress, guard=guard)

    _run_job(source, user, job)


@hub_app.command("imports")
def imports_cmd(
    source: Annotated[str | None, typer.Option("--source", help="只看该数据源")] = None,
    limit: Annotated[int, typer.Option(help="显示条数")] = 20,
    user: UserOpt = "admin",
) -> None:
    """导入历史：每批次的文件、计数、用时和状态。"""
    from zhili.core import names
    from zhili.core.clock import fmt_local
    from zhili.datahub import imports, sources

    with as_user(user) as (s, p):
        src_id = sources.source_by_name(s, principal=p, name=source).id if source else None
        rows, _ = imports.list_imports(s, principal=p, source_id=src_id, page_size=limit)
        table = Table("批次", "开始时间", "数据源", "文件", "读取", "新增", "更新", "未变", "隔离", "状态")
        for r in rows:
            v = imports.import_view(s, r)
            table.add_row(str(r.id)[:8], fmt_local(r.started_at), v["source_name"] or "", r.filename[-40:],
                          str(r.rows_read), str(r.rows_imported), str(r.rows_updated), str(r.rows_unchanged),
                          str(r.rows_quarantined), (names.name("hub_import_status", r.status) or "")
                          + ("（试运行）" if r.dry_run else ""))
        console.print(table)


def _scope_ids(s: Any, p: Any, source: str | None, import_id: str | None) -> tuple[Any, Any]:
    import uuid

    from zhili.datahub import sources

    src_id = sources.source_by_name(s, principal=p, name=source).id if source else None
    imp_id = None
    if import_id:
        from sqlalchemy import select

        from zhili.datahub.models import Import

        try:
            imp_id = uuid.UUID(import_id)
        except ValueError as exc:  # a short id as printed by `zhili hub imports`
            ids = [i for (i,) in s.execute(select(Import.id)) if str(i).startswith(import_id)]
            if len(ids) != 1:
                console.print("[red]导入批次不存在或不唯一[/red]")
                raise typer.Exit(2) from exc
            imp_id = ids[0]
    return src_id, imp_id


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option("--source", help="数据源标识")] = None,
    import_id: Annotated[str | None, typer.Option("--import-id", help="导入批次")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="规则代码，如 id_number")] = None,
    limit: Annotated[int, typer.Option(help="显示条数")] = 50,
    user: UserOpt = "admin",
) -> None:
    """列出待处理的隔离行（身份证号、手机号已脱敏）。"""
    from zhili.datahub import quarantine

    with as_user(user) as (s, p):
        src_id, imp_id = _scope_ids(s, p, source, import_id)
        rows, total = quarantine.list_rows(s, principal=p, source_id=src_id, import_id=imp_id, rule=rule,
                                           page_size=limit)
        table = Table("编号", "行号", "记录键", "原因")
        for r in rows:
            table.add_row(str(r.id), str(r.row_number), r.natural_key or "—",
                          "；".join(e.get("message", "") for e in r.errors))
        console.print(table)
        console.print(f"共 {total} 行待处理")


@quarantine_app.command("rerun")
def quarantine_rerun(
    source: Annotated[str | None, typer.Option("--source", help="数据源标识")] = None,
    import_id: Annotated[str | None, typer.Option("--import-id", help="导入批次")] = None,
    user: UserOpt = "admin",
) -> None:
    """按当前的模板、规则和参照数据重新校验并导入待处理的隔离行。"""
    from zhili.datahub import quarantine

    with as_user(user) as (s, p):
        src_id, imp_id = _scope_ids(s, p, source, import_id)
        result = quarantine.rerun(s, principal=p, import_id=imp_id, source_id=src_id)
    console.print(f"已导入 {result['fixed']} 行，仍有 {result['open']} 行未通过校验")


@quarantine_app.command("discard")
def quarantine_discard(
    row_id: Annotated[str, typer.Argument(help="隔离行编号")],
    reason: Annotated[str, typer.Option("--reason", help="作废原因")],
    user: UserOpt = "admin",
) -> None:
    """作废一行隔离数据（保留记录并标记）。"""
    import uuid

    from zhili.core.errors import DomainError
    from zhili.datahub import quarantine

    with as_user(user) as (s, p):
        try:
            quarantine.discard_row(s, principal=p, row_id=uuid.UUID(row_id), reason=reason)
        except (DomainError, ValueError) as exc:
            fail(exc)
    console.print("已作废")


@quarantine_app.command("download")
def quarantine_download(
    out: Annotated[str, typer.Option("--out", help="保存为 .xlsx 文件")],
    source: Annotated[str | None, typer.Option("--source", help="数据源标识")] = None,
    import_id: Annotated[str | None, typer.Option("--import-id", help="导入批次")] = None,
    user: UserOpt = "admin",
) -> None:
    """导出待处理的隔离行（含原因列），修正后可作为同一数据源的文件重新导入。"""
    from pathlib import Path

    from zhili.datahub import quarantine

    with as_user(user) as (s, p):
        src_id, imp_id = _scope_ids(s, p, source, import_id)
        data, n, masked = quarantine.download(s, principal=p, import_id=imp_id, source_id=src_id)
    Path(out).write_bytes(data)
    console.print(f"已导出 {n} 行到 {out}" + ("（身份证号、手机号已脱敏）" if masked else ""))


# The rest of ``zhili hub`` (templates, addresses, resolution and review, quality) lives in its own module and
# registers on ``hub_app`` when imported: importing this module gives the whole command group.
from zhili import cli_hub_tools  # noqa: E402,F401
