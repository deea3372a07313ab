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
    import hashlib

    from zhili.datahub.imports import check_target_permission, refresh_quality, resolve_template
    from zhili.datahub.models import Connector, ImportStatus
    from zhili.datahub.pipeline import run_import

    headers = {}
    for h in header or []:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()

    def job(s: Any, p: Any, src: Any, progress: Any, guard: Any) -> Any:
        from zhili.datahub.connectors_rest import rest_pull

        if not dry_run:
            check_target_permission(p, src)
        tpl, mapper = resolve_template(s, principal=p, source=src, name=template)
        # the same URL and template is the same pull: a killed run resumes (headers are secrets: not hashed in)
        key = hashlib.sha256(f"{url}\n{tpl.name}".encode()).hexdigest()
        stream = rest_pull(url, headers=headers)
        imp = run_import(s, principal=p, source=src, stream=stream, mapper=mapper, filename=url[:255],
                         file_hash=key, connector=Connector.rest, template_id=tpl.id, dry_run=dry_run,
                         progress=progress, guard=guard)
        if imp.status == ImportStatus.done and not imp.dry_run:
            refresh_quality(s, src, guard)
        return imp

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
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import imports, sources

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            src_id = sources.source_by_name(s, principal=p, name=source).id if source else None
            rows, _ = imports.list_imports(s, principal=p, source_id=src_id, page_size=limit)
        except DomainError as exc:
            fail(exc)
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
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import quarantine

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            src_id, imp_id = _scope_ids(s, p, source, import_id)
            rows, total = quarantine.list_rows(s, principal=p, source_id=src_id, import_id=imp_id, rule=rule,
                                               page_size=limit)
        except DomainError as exc:
            fail(exc)
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
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import quarantine

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            src_id, imp_id = _scope_ids(s, p, source, import_id)
            result = quarantine.rerun(s, principal=p, import_id=imp_id, source_id=src_id)
        except DomainError as exc:
            fail(exc)
    console.print(f"已导入 {result['fixed']} 行，仍有 {result['open']} 行未通过校验")


@quarantine_app.command("discard")
def quarantine_discard(
    row_id: Annotated[str, typer.Argument(help="隔离行编号")],
    reason: Annotated[str, typer.Option("--reason", help="作废原因")],
    user: UserOpt = "admin",
) -> None:
    """作废一行隔离数据（保留记录并标记）。"""
    import uuid

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import quarantine

    with session_scope() as s:
        p = principal_for(s, user)
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

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.datahub import quarantine

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            src_id, imp_id = _scope_ids(s, p, source, import_id)
            data, n, masked = quarantine.download(s, principal=p, import_id=imp_id, source_id=src_id)
        except DomainError as exc:
            fail(exc)
    Path(out).write_bytes(data)
    console.print(f"已导出 {n} 行到 {out}" + ("（身份证号、手机号已脱敏）" if masked else ""))


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
    from zhili.datahub.mapping import describe_spec

    with session_scope() as s:
        p = principal_for(s, user)
        try:
            t = templates.get_template(s, principal=p, name=name, version=version)
        except DomainError as exc:
            fail(exc)
        table = Table("标准字段", "来源", "日期格式", "值映射", "说明", title=f"{t.title}（{t.name} 第{t.version}版）")
        for r in describe_spec(templates.stored_spec(t)):
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
