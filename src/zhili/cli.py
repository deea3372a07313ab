"""The ``zhili`` command line: database, seeding, serving, users, audit, keys, health check."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhili.core.security import ROLE_LABELS, Role

app = typer.Typer(help="智理 Zhili — 基层社会治理智能化平台", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
user_app = typer.Typer(help="用户管理", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志", no_args_is_help=True)
keys_app = typer.Typer(help="字段加密密钥", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
apikey_app = typer.Typer(help="API 密钥（Open311 等客户端）", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
registry_app = typer.Typer(help="基础数据：按网格维护的计数", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
cases_app = typer.Typer(help="事件办理：期限巡检、统计重建、分类加载", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
from zhili.cli_hub import hub_app  # noqa: E402  (the data hub's commands live in their own modules)

app.add_typer(hub_app, name="hub")
from zhili.cli_intel import intel_app  # noqa: E402  (intelligence commands: their own modules)

app.add_typer(intel_app, name="intel")
from zhili.cli_ml import ml_app  # noqa: E402  (the intelligence models' commands)

app.add_typer(ml_app, name="ml")
from zhili.cli_iot import iot_app  # noqa: E402  (IoT perception: the ingest process, the simulator)

app.add_typer(iot_app, name="iot")
from zhili.cli_rental import rental_app  # noqa: E402  (rental housing: rules, police deliveries)

app.add_typer(rental_app, name="rental")
from zhili.cli_eval import eval_app  # noqa: E402  (4E evaluation: reports)

app.add_typer(eval_app, name="eval")
from zhili.cli_regions import regions_app  # noqa: E402  (the region tree from a file: a real install's first step)

app.add_typer(regions_app, name="regions")
console = Console()


def _settings() -> Any:
    from zhili.core.settings import get_settings

    return get_settings()


def _demo_logins_file() -> Path:
    return _settings().var_dir / "demo_logins.json"


# -- db ---------------------------------------------------------------------------------------------------

@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="目标版本")] = "head") -> None:
    """升级数据库结构到最新（或指定）版本。"""
    from zhili.core import migrate

    migrate.upgrade(revision, url=_settings().effective_database_url)
    console.print(f"[green]数据库已升级到 {revision}[/green]")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="目标版本，如 base 或 -1")]) -> None:
    """回退数据库结构。"""
    from zhili.core import migrate

    migrate.downgrade(revision, url=_settings().effective_database_url)
    console.print(f"[yellow]数据库已回退到 {revision}[/yellow]")


@db_app.command("current")
def db_current() -> None:
    """显示数据库当前版本。"""
    from zhili.core import migrate
    from zhili.core.db import get_engine

    with get_engine().connect() as conn:
        console.print(f"当前版本: {migrate.current_revision(conn)}  最新版本: {migrate.head_revision()}")


@db_app.command("partitions")
def db_partitions(
    ensure: Annotated[bool, typer.Option(
        "--ensure", help="创建本月及之后若干个月的分区（并把默认分区中的记录移入其月份）")] = False,
    count: Annotated[bool, typer.Option("--count", help="精确统计每个分区的行数（逐个扫描）")] = False,
) -> None:
    """列出（或补建）案件时间线与审计日志的按月分区（仅 PostgreSQL）。"""
    import zhili.models  # noqa: F401
    from zhili.core import partitions
    from zhili.core.db import session_scope

    with session_scope() as s:
        conn = s.connection()
        if ensure:
            made = partitions.ensure(conn, ahead=_settings().partition_months_ahead)
            console.print(f"新建分区：{', '.join(made)}" if made else "分区已齐全")
        shown = False
        for table in partitions.TABLES:
            parts = partitions.list_partitions(conn, table, count=count)
            for p in parts:
                shown = True
                month = p.month.strftime("%Y-%m") if p.month else "默认"
                rows = "" if p.rows is None else f"  {p.rows:>10,} 行"
                console.print(f"{table:<12} {month:<8} {p.name:<24}{rows}  {(p.bytes or 0) / 1e6:>9.1f} MB")
            for p in parts:
                if p.month is None and (p.rows or 0) > 0:
                    console.print(f"[yellow]{table} 的默认分区有 {p.rows} 行：执行 --ensure 移入其月份[/yellow]")
        if not shown:
            console.print("此数据库没有分区表（SQLite 使用普通表）")


@db_app.command("archive")
def db_archive(
    before: Annotated[str, typer.Option("--before", help="归档此月份（YYYY-MM）之前的全部月份")],
    directory: Annotated[Path | None, typer.Option("--dir", help="归档文件目录（默认 var/archive）")] = None,
    table: Annotated[str, typer.Option(help="audit_event、case_event 或 all")] = "all",
) -> None:
    """把旧的按月分区导出为压缩 CSV 与清单、校验后从数据库移除（审计日志至少在线保留 6 个月）。"""
    import zhili.models  # noqa: F401
    from zhili.core import archive, partitions
    from zhili.core.db import session_scope, utcnow
    from zhili.core.errors import DomainError

    settings = _settings()
    tables = tuple(partitions.TABLES) if table == "all" else (table,)
    if any(t not in partitions.TABLES for t in tables):
        raise typer.BadParameter(f"未知的表：{table}")
    try:
        month = partitions.parse_month(before)
        done = archive.archive_before(session_scope, month, directory or settings.archive_dir
                                      or settings.var_dir / "archive", now=utcnow(),
                                      keep_months=settings.history_online_months, tables=tables)
    except (ValueError, DomainError) as exc:
        console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(2) from exc
    for r in done:
        console.print(f"已归档 {r.table} {r.month:%Y-%m}：{r.rows:,} 行 → {r.file}（SHA-256 {r.sha256[:16]}…）")
    if not done:
        console.print("没有需要归档的分区")


@db_app.command("verify-archive")
def db_verify_archive(
    manifest: Annotated[Path, typer.Argument(help="归档清单 <分区>.manifest.json")],
    offline: Annotated[bool, typer.Option("--offline", help="不连数据库，只按清单中的锚点校验")] = False,
) -> None:
    """校验一个归档文件：文件哈希、行数，审计日志逐条重算哈希链并与该分区的锚点比对。"""
    import json

    import zhili.models  # noqa: F401
    from zhili.core import archive, partitions

    data = json.loads(manifest.read_text(encoding="utf-8"))
    anchor = None
    if not offline:
        from zhili.core.db import session_scope

        with session_scope() as s:
            anchor = archive.stored_anchor(s, data["table"], partitions.parse_month(data["month"]))
            if anchor is None:
                console.print("[red]数据库中没有此分区的归档锚点（可用 --offline 只按清单校验）[/red]")
                raise typer.Exit(2)
            s.expunge(anchor)
    check = archive.verify_archive(manifest, anchor)
    against = "清单" if offline else "数据库中的锚点"
    if check.ok:
        console.print(f"[green]归档完整：{check.rows:,} 行，与{against}一致[/green]")
        return
    console.print(f"[red]归档校验失败（对照{against}）：[/red]")
    for p in check.problems[:20]:
        console.print(f"  - {p}")
    raise typer.Exit(2)


# -- seed / serve / demo ----------------------------------------------------------------------------------

def _is_empty() -> bool:
    from sqlalchemy import func, select

    from zhili.core.db import session_scope
    from zhili.regions.models import Unit

    with session_scope() as s:
        return not s.scalar(select(func.count()).select_from(Unit))


def _seed_case_loop(scale: str, progress: object, with_history: bool) -> dict[str, int]:
    """Taxonomy, departments, default responsibility-list rules and (optionally) the case history."""
    from sqlalchemy import select

    from zhili.cases.dispatch import default_rules_from_taxonomy
    from zhili.cases.taxonomy import load_defaults
    from zhili.core.db import get_engine, session_scope
    from zhili.datahub.templates import load_builtin_templates
    from zhili.regions.models import OPEN_END, Unit, UnitLevel
    from zhili.seed.history import seed_cases

    with session_scope() as s:
        depts, cats = load_defaults(s)
        district = s.scalar(select(Unit).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END))
        rules = default_rules_from_taxonomy(s, district_path=district.path) if district else 0
        hub_templates = load_builtin_templates(s)
    counts = {"department": depts, "category": cats, "dispatch_rule": rules, "hub_template": hub_templates}
    if with_history:
        done = seed_cases(get_engine(), scale=scale, progress=progress)  # type: ignore[arg-type]
        counts.update({k: v for k, v in done.items() if k not in ("seconds", "planted")})
    return counts


def _seed_activity(scale: str) -> dict[str, int]:
    """The demo accounts' household visits, notices and suggestions (through the services, audited)."""
    from zhili.core.db import session_scope
    from zhili.seed.activity import seed_activity

    with session_scope() as s:
        return seed_activity(s, scale=scale)


def _seed_hub(scale: str, progress: object, with_history: bool) -> dict[str, int]:
    """The data hub's demo sources, templates and imports (through the real pipeline, which commits per batch)."""
    from zhili.core.db import session_scope
    from zhili.seed.hub import seed_hub

    with session_scope() as s:
        return seed_hub(s, scale=scale, progress=progress, history=with_history)  # type: ignore[arg-type]


def _seed_rental(scale: str) -> tuple[dict[str, int], list[Any]]:
    """Rental rooms, tenants, keys and police deliveries, and the demo landlord and tenant accounts."""
    from zhili.core.db import session_scope
    from zhili.seed.rental import seed_rental

    with session_scope() as s:
        return seed_rental(s, scale=scale)


def _seed_iot(scale: str) -> dict[str, int]:
    """The shipped device types and rules, the demo devices (and a lock per rental room), a first burst of traffic."""
    from zhili.core.db import session_scope
    from zhili.seed.iot import seed_iot

    with session_scope() as s:
        return seed_iot(s, scale=scale)


def _seed_eval(scale: str, with_history: bool) -> dict[str, int]:
    """The 4E framework (indicators, weights, the data set), twelve months of 信息化建设月报 from every community, and —
    with the case history — the scores of those months, their quarters and years, as the scheduler would have
    stored them (through the services, audited)."""
    import random

    from zhili.core.clock import today
    from zhili.core.db import session_scope
    from zhili.evaluation import forms, periods, service
    from zhili.evaluation.jobs import system_principal
    from zhili.seed.evaluation import seed_submissions
    from zhili.seed.fieldwork import seed_fieldwork

    with session_scope() as s:
        service.install_defaults(s)
        forms.ensure_datasets(s)
    with session_scope() as s:
        work = seed_fieldwork(s, scale=scale)
    months = periods.last_periods(periods.month_of(today()), 13)  # the current month and the twelve before it
    with session_scope() as s:
        counts = {**work, **seed_submissions(s, months=[m.key for m in months[:-1]], rng=random.Random(19))}
    if not with_history:
        return counts
    keys = [m.key for m in months] + sorted({periods.quarter_of(m.start).key for m in months})
    keys += sorted({periods.year_of(m.start).key for m in months})
    runs = 0
    for root in _districts():
        for key in keys:
            with session_scope() as s:
                service.run_period(s, principal=system_principal(root), period=key, root_path=root)
                runs += 1
    return {**counts, "eval_run": runs}


def _districts() -> list[str]:
    from zhili.core.db import session_scope
    from zhili.evaluation.jobs import districts

    with session_scope() as s:
        return districts(s)


def _seed(scale: str, with_history: bool = True) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from zhili.core.db import get_engine, refresh_statistics
    from zhili.seed.demo import seed_demo

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def cb(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = seed_demo(get_engine(), scale=scale, progress=cb, workers=2)  # type: ignore[arg-type]
        case_counts = _seed_case_loop(scale, cb, with_history)
        case_counts.update(_seed_activity(scale))
        case_counts.update(_seed_hub(scale, cb, with_history))
        rental_counts, rental_users = _seed_rental(scale)
        case_counts.update(rental_counts)
        report.users.extend(rental_users)
        case_counts.update(_seed_iot(scale))
        case_counts.update(_seed_eval(scale, with_history))
        refresh_statistics(get_engine())  # the planner's statistics for what was just loaded (PostgreSQL)
    table = Table(title=f"演示数据（{scale}）已生成，用时 {report.elapsed_s:.1f} 秒")
    table.add_column("表")
    table.add_column("行数", justify="right")
    for name, n in {**report.counts, **case_counts}.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    logins = [{"username": u[0], "role": str(u[1]), "password": u[2], "display_name": u[3], "unit": u[4]}
              for u in report.users]
    path = _demo_logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(logins, fh, ensure_ascii=False, indent=1)


def _print_logins() -> None:
    path = _demo_logins_file()
    if not path.exists():
        console.print("[yellow]未找到演示账号文件（数据库不是由本机 zhili seed 生成的）。[/yellow]")
        return
    table = Table(title=f"演示账号（仅演示环境；保存在 {path}，权限 0600）")
    for col in ("用户名", "角色", "密码", "姓名", "管辖单位"):
        table.add_column(col)
    for u in json.loads(path.read_text(encoding="utf-8")):
        role = Role(u["role"])
        table.add_row(u["username"], ROLE_LABELS[role], u["password"], u["display_name"], u["unit"] or "—")
    console.print(table)


@app.command()
def seed(
    scale: Annotated[str, typer.Option(help="规模：small | medium | large")] = "small",
    if_empty: Annotated[bool, typer.Option("--if-empty", help="数据库已有数据时跳过")] = False,
    cases: Annotated[bool, typer.Option("--cases/--no-cases", help="同时生成历史事件")] = True,
) -> None:
    """生成演示区县数据（长兴县）：区划、网格边界、楼栋、住户、人员、组织和各角色演示账号。"""
    if scale not in ("small", "medium", "large"):
        raise typer.BadParameter("scale 只能是 small、medium 或 large")
    from zhili.core import migrate

    migrate.upgrade(url=_settings().effective_database_url)
    if not _is_empty():
        if if_empty:
            console.print("数据库已有数据，跳过生成。")
            return
        console.print("[red]数据库已有区划数据，拒绝重复生成。请使用新的数据库。[/red]")
        raise typer.Exit(1)
    _seed(scale, with_history=cases)
    _print_logins()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    workers: Annotated[int, typer.Option(help="工作进程数")] = 1,
    reload: Annotated[bool, typer.Option(help="代码变更自动重载（开发用）")] = False,
) -> None:
    """启动 Web 服务（API 文档在 /docs）。"""
    import uvicorn

    from zhili.core.server import reuse_port_supported, serve_workers, uvicorn_options

    console.print(f"智理服务启动：http://{host}:{port}  API 文档：http://{host}:{port}/docs")
    level = _settings().log_level.lower()
    if workers > 1 and not reload and reuse_port_supported():
        # one listening socket per worker, so the kernel spreads connections evenly (zhili.core.server)
        serve_workers("zhili.app:create_app", host=host, port=port, workers=workers, log_level=level)
        return
    uvicorn.run("zhili.app:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                **uvicorn_options(level))


@app.command()
def demo(
    scale: Annotated[str, typer.Option(help="数据库为空时生成的规模")] = "small",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    iot: Annotated[bool, typer.Option("--iot/--no-iot",
                                      help="同时启动物联感知接入进程和设备模拟器（代理可连接时）")] = True,
    iot_rate: Annotated[float, typer.Option("--iot-rate", help="模拟器每秒发布条数")] = 5.0,
) -> None:
    """一键演示：升级数据库、（为空时）生成演示数据、打印演示账号、启动服务；MQTT 代理可连接时，另起物联感知接入进程
    （zhili iot run）和设备模拟器（zhili iot simulate），让设备地图、告警和大屏动起来。"""
    import subprocess

    from zhili.core import migrate

    migrate.upgrade(url=_settings().effective_database_url)
    if _is_empty():
        _seed(scale)
    _print_logins()
    children = _start_iot_demo(iot_rate) if iot else []
    try:
        serve(host=host, port=port, workers=1, reload=False)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _start_iot_demo(rate: float) -> list[Any]:
    """The ingest process and the simulator as child processes, when the broker answers (none otherwise, said so)."""
    import socket
    import subprocess
    from urllib.parse import urlsplit

    u = urlsplit(_settings().mqtt_url)
    host, port = u.hostname or "127.0.0.1", u.port or (8883 if u.scheme in ("mqtts", "ssl") else 1883)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        console.print(f"[yellow]MQTT 代理 {host}:{port} 无法连接：物联感知接入与设备模拟器未启动"
                      "（见 docs/iot.md）[/yellow]")
        return []
    cmd = [sys.executable, "-c", "from zhili.cli import app; app()", "iot"]
    children = [subprocess.Popen([*cmd, "run"]),
                subprocess.Popen([*cmd, "simulate", "--rate", str(rate), "--seconds", "0"],
                                 stdout=subprocess.DEVNULL)]
    console.print(f"物联感知：接入进程与设备模拟器已启动（代理 {host}:{port}，每秒约 {rate:g} 条）")
    return children


# -- users ------------------------------------------------------------------------------------------------

@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="用户名")],
    role: Annotated[Role, typer.Option(help="角色")],
    display_name: Annotated[str | None, typer.Option(help="姓名")] = None,
    unit: Annotated[list[str] | None, typer.Option(help="绑定单位代码，可多次指定")] = None,
    password: Annotated[str | None, typer.Option(help="密码（不填则交互输入）")] = None,
    department: Annotated[str | None, typer.Option(help="部门")] = None,
) -> None:
    """创建用户并绑定管辖单位。"""
    from sqlalchemy import select

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.regions.models import OPEN_END, Unit
    from zhili.users.service import create_user

    pw = password or typer.prompt("密码", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope() as s:
            unit_ids = []
            for code in unit or []:
                u = s.scalar(select(Unit).where(Unit.code == code, Unit.valid_to == OPEN_END))
                if u is None:
                    raise typer.BadParameter(f"单位代码 {code} 不存在")
                unit_ids.append(u.id)
            user = create_user(s, principal=None, username=username, display_name=display_name or username,
                               role=role, password=pw, unit_ids=unit_ids, department=department)
            console.print(f"[green]已创建用户 {user.username}（{ROLE_LABELS[role]}）[/green]")
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@user_app.command("reset-password")
def user_reset_password(username: Annotated[str, typer.Argument()],
                        password: Annotated[str | None, typer.Option()] = None) -> None:
    """重置用户密码并解除锁定（下次登录须修改密码）。"""
    from sqlalchemy import select

    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError
    from zhili.users.models import User
    from zhili.users.service import reset_password

    pw = password or typer.prompt("新密码", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise typer.BadParameter(f"用户 {username} 不存在")
            reset_password(s, principal=None, user_id=user.id, new_password=pw)
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print("[green]密码已重置[/green]")


@app.command("demo-logins")
def demo_logins() -> None:
    """再次显示演示账号。"""
    _print_logins()


# -- audit ------------------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计日志哈希链：发现被修改、删除或截断的记录。"""
    from zhili.core.audit import verify_chain
    from zhili.core.db import session_scope

    with session_scope() as s:
        result = verify_chain(s)
    if result.ok:
        console.print(f"[green]审计链完整：共校验 {result.checked} 条记录[/green]")
        return
    console.print(f"[red]审计链校验失败（已校验 {result.checked} 条）：[/red]")
    for p in result.problems:
        console.print(f"  - {p}")
    raise typer.Exit(2)


@audit_app.command("anchor")
def audit_anchor() -> None:
    """记录当前审计链头（建议每小时执行一次），用于发现尾部截断。"""
    from zhili.core.audit import anchor
    from zhili.core.db import session_scope

    with session_scope() as s:
        a = anchor(s)
    console.print(f"锚点：序号 {a.seq} 哈希 {a.hash[:16]}…" if a else "审计日志为空")


# -- keys -------------------------------------------------------------------------------------------------

@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(help="每批重新加密的行数（每批单独提交）", min=1)] = 1000,
) -> None:
    """生成新的数据加密密钥，用它重新加密全部加密字段，完成后才设为当前密钥（中断后重新执行即可继续）。"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    import zhili.models  # noqa: F401  (every model: the encrypted columns are declared by the models)
    from zhili.core.db import get_engine
    from zhili.core.errors import DomainError
    from zhili.core.keys import rotate

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(label: str, done: int, total: int) -> None:
            if done == 0 or label not in tasks:  # each pass over a column is a bar of its own
                tasks[label] = bar.add_task(f"重新加密 {label}", total=total)
            bar.update(tasks[label], completed=done, total=total)

        try:
            report = rotate(get_engine(), _settings(), batch=batch, progress=progress)
        except DomainError as exc:
            console.print(f"[red]{exc.message}[/red]")
            if exc.details:
                console.print(exc.details)
            raise typer.Exit(1) from exc
    if report.resumed:
        console.print(f"[yellow]已继续完成上次中断的轮换（密钥 {report.key_id}）[/yellow]")
    console.print(f"[green]新密钥 {report.key_id} 已启用，重新加密 {report.changed} 个字段值；"
                  f"旧密钥 {', '.join(report.retired) or '无'} 已停用（保留用于解密）[/green]")


# -- api keys / cases --------------------------------------------------------------------------------------

@apikey_app.command("create")
def apikey_create(name: Annotated[str, typer.Option(help="客户端名称")]) -> None:
    """签发 API 密钥（只显示一次，库中仅存哈希）。"""
    from zhili.core.db import session_scope
    from zhili.open311.service import create_api_key

    with session_scope() as s:
        _, token = create_api_key(s, principal=None, name=name)
    console.print(f"[green]已签发 API 密钥（{name}）。请妥善保存，之后无法再次查看：[/green]")
    console.print(token)


@apikey_app.command("list")
def apikey_list() -> None:
    """列出 API 密钥。"""
    from zhili.core.db import session_scope
    from zhili.open311.service import list_api_keys

    table = Table(title="API 密钥")
    for col in ("名称", "前缀", "签发时间", "最近使用", "状态"):
        table.add_column(col)
    with session_scope() as s:
        for k in list_api_keys(s, principal=None):
            table.add_row(k.name, k.prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "—",
                          "已吊销" if k.revoked_at else "有效")
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="密钥前缀（list 中显示）")]) -> None:
    """吊销 API 密钥。"""
    from zhili.core.db import session_scope
    from zhili.open311.service import revoke_api_key

    with session_scope() as s:
        revoke_api_key(s, principal=None, prefix=prefix)
    console.print("[yellow]已吊销[/yellow]")


@cases_app.command("sweep")
def cases_sweep() -> None:
    """立即执行一次期限巡检：黄灯预警、红灯超期督办、超期升级。"""
    from zhili.cases.sweep import sweep_deadlines
    from zhili.core.db import session_scope

    with session_scope() as s:
        r = sweep_deadlines(s)
    console.print(f"黄灯 {r.yellow}，红灯 {r.red}，升级督办 {r.escalated}")


@cases_app.command("rebuild-stats")
def cases_rebuild_stats() -> None:
    """由事件明细重建统计表。"""
    from zhili.cases.tally import rebuild_stats
    from zhili.core.db import session_scope

    with session_scope() as s:
        n = rebuild_stats(s)
    console.print(f"统计表已重建：{n} 行（各级单位日汇总 case_stat_unit 一并重建）")


@registry_app.command("recount")
def registry_recount(
    check: Annotated[bool, typer.Option("--check", help="只核对，不修复（有差异时退出码 1）")] = False,
) -> None:
    """核对按网格维护的楼栋、房屋、人口、组织计数与实际行数，有差异时修复并记入审计日志。"""
    from zhili.core.db import session_scope
    from zhili.registry.counts import recount

    with session_scope() as s:
        drift = recount(s, check_only=check)
    for d in drift[:20]:
        console.print(f"{d.path} {d.kind}：计数 {d.kept}，实际 {d.real}")
    if not drift:
        console.print("[green]计数与实际一致[/green]")
    elif check:
        console.print(f"[red]{len(drift)} 处计数与实际不符（未修复；去掉 --check 以修复）[/red]")
        raise typer.Exit(1)
    else:
        console.print(f"[yellow]已修复 {len(drift)} 处计数（已记入审计日志）[/yellow]")


@cases_app.command("load-taxonomy")
def cases_load_taxonomy() -> None:
    """加载内置的事件分类和职能部门（已存在的不覆盖）。"""
    from zhili.cases.taxonomy import load_defaults
    from zhili.core.db import session_scope

    with session_scope() as s:
        d, c = load_defaults(s)
    console.print(f"新增部门 {d} 个，分类 {c} 个")


# -- backup / restore -------------------------------------------------------------------------------------

def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise typer.BadParameter(f"无法读取口令文件 {path}：{exc.strerror}") from exc


def _progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console)


def _bar_callback(bar: Any) -> Any:
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return progress


@app.command()
def backup(
    to: Annotated[Path, typer.Option("--to", help="备份目录（不存在或为空）")],
    keys_passphrase_file: Annotated[Path | None, typer.Option(
        "--keys-passphrase-file", help="用此文件中的口令加密并备份密钥文件")] = None,
    no_keys: Annotated[bool, typer.Option("--no-keys", help="不备份密钥（密钥需另行保管）")] = False,
) -> None:
    """备份数据库（SQLite 在线备份 / PostgreSQL pg_dump）、附件，以及（可选，口令加密的）密钥文件，附清单与校验和。"""
    import zhili.models  # noqa: F401  (every model)
    from zhili.core import backup as bk
    from zhili.core.db import get_engine
    from zhili.core.errors import DomainError

    if no_keys == (keys_passphrase_file is not None):
        raise typer.BadParameter("请二选一：--keys-passphrase-file 口令文件（备份密钥）或 --no-keys（不备份密钥）")
    passphrase = _passphrase(keys_passphrase_file)
    try:
        with _progress_bar() as bar:
            manifest = bk.backup(get_engine(), _settings(), to, passphrase=passphrase, progress=_bar_callback(bar))
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    rows = sum(manifest["counts"].values())
    console.print(f"[green]已备份到 {to}：{len(manifest['counts'])} 张表 {rows} 行，附件 {manifest['attachments']} 个，"
                  f"密钥{'已加密备份' if manifest['keys_included'] else '未备份'}[/green]")


@app.command()
def restore(
    from_: Annotated[Path, typer.Option("--from", help="备份目录")],
    keys_passphrase_file: Annotated[Path | None, typer.Option(
        "--keys-passphrase-file", help="恢复密钥文件所用的口令文件")] = None,
) -> None:
    """恢复到空数据库与空目录：先核对校验和与口令，恢复后核对行数、密钥与数据、审计链。"""
    import zhili.models  # noqa: F401  (every model)
    from zhili.core import backup as bk
    from zhili.core.db import get_engine
    from zhili.core.errors import DomainError

    passphrase = _passphrase(keys_passphrase_file)
    try:
        with _progress_bar() as bar:
            report = bk.restore(get_engine(), _settings(), from_, passphrase=passphrase,
                                progress=_bar_callback(bar))
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    if not report.ok:
        console.print("[red]已恢复，但检查未通过：[/red]")
        for p in report.problems:
            console.print(f"  - {p}")
        raise typer.Exit(1)
    console.print(f"[green]已恢复 {sum(report.counts.values())} 行；行数、密钥与数据、审计链检查均通过[/green]")


# -- check ------------------------------------------------------------------------------------------------

def _check_replica(s: Any, row: Any) -> None:
    """The read replica's row of ``zhili check`` (none without one): answering, a standby, how far behind."""
    from zhili.core import replica
    from zhili.core.db import get_engine, get_read_engine

    engine = get_read_engine()
    if engine is None:
        return
    status = replica.probe(engine, get_engine())
    name = f"只读副本 {engine.url.render_as_string(hide_password=True)}"
    if not status.up:
        fallback = "读操作暂由主库承担" if s.read_on_replica_down == "primary" else "统计查询将返回 503"
        row(name, False, f"无法连接（{status.error}），{fallback}")
    elif not status.standby:
        row(name, False, "不是备库（未处于恢复状态），不会从中读取")
    else:
        seconds = "—" if status.lag_s == float("inf") else f"{status.lag_s or 0:.1f}"
        lag = f"落后 {seconds} 秒 / {(status.lag_bytes or 0) / 1024:.0f} KB"
        behind = replica.is_behind(status, s)
        row(name, not behind, lag + (f"，超过上限 {s.read_max_lag_s:g} 秒，读操作暂由主库承担" if behind else ""))


@app.command()
def check() -> None:
    """检查配置、数据库连接、迁移版本、密钥文件权限与审计链。"""
    from sqlalchemy import text

    from zhili.core import migrate
    from zhili.core.audit import verify_chain
    from zhili.core.db import get_engine, session_scope

    s = _settings()
    ok = True
    table = Table(title="智理 系统检查")
    table.add_column("项目")
    table.add_column("结果")

    def row(name: str, good: bool, msg: str) -> None:
        nonlocal ok
        ok = ok and good
        table.add_row(name, f"[green]✓ {msg}[/green]" if good else f"[red]✗ {msg}[/red]")

    url = get_engine().url.render_as_string(hide_password=True)
    row("数据库", True, url)
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            cur, head = migrate.current_revision(conn), migrate.head_revision()
        row("连接", True, "可连接")
        row("迁移版本", cur == head, f"当前 {cur} / 最新 {head}")
    except Exception as exc:  # noqa: BLE001 - report any connection failure
        row("连接", False, f"{type(exc).__name__}: {exc}")
    _check_replica(s, row)
    if s.keys:
        row("密钥", True, "来自环境变量 ZHILI_KEYS")
    else:
        kf = s.effective_key_file
        if kf.exists():
            mode = stat.S_IMODE(kf.stat().st_mode)
            row("密钥文件", mode & 0o077 == 0, f"{kf} 权限 {oct(mode)}")
        else:
            row("密钥文件", True, f"{kf}（首次运行时创建）")
    if ok:  # the key material must hold every key id the stored ciphertexts name (never a fresh file for them)
        import zhili.models  # noqa: F401  (every model: the encrypted columns are declared by the models)
        from zhili.core.errors import DomainError
        from zhili.core.keys import verify_key_material

        try:
            verify_key_material(get_engine(), s)
            row("密钥与数据", True, "数据所用密钥均在密钥材料中")
        except DomainError as exc:
            row("密钥与数据", False, exc.message)
    row("加密算法", True, "AES-256-GCM + HMAC-SHA256" if s.crypto_suite == "aes" else "SM4-GCM + HMAC-SM3（国密）")
    if ok:
        try:
            with session_scope() as sess:
                r = verify_chain(sess)
            row("审计链", r.ok, f"{r.checked} 条" + ("" if r.ok else f"，{len(r.problems)} 处异常"))
        except Exception as exc:  # noqa: BLE001
            row("审计链", False, str(exc))
    console.print(table)
    if not ok:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app(prog_name="zhili")
    sys.exit(0)
