"""``zhili ml …``: the text classifier on the command line — train on a labelled file or on the platform's own
cases, predict a file, list, activate and roll back model versions, and print every model's evaluation.

The file commands work on a fresh machine with only the configured database: when it has no schema yet it is
created (as ``zhili db upgrade`` does). Commands act as the command line itself (a system principal holding
``intel:admin``, recorded as 命令行) unless ``--user`` names a staff account, whose role must then allow it.
Every refusal and every problem with a file is a Chinese message and exit code 1, never a traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.table import Table

ml_app = typer.Typer(help="智能分拨模型：训练、评估、预测、启用与回滚", no_args_is_help=True)
console = Console()
CLI_NAME = "命令行"
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d",
                "%Y-%m-%d", "%Y.%m.%d %H:%M:%S", "%Y.%m.%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日")
STATE_NAMES = {"active": "使用中", "retired": "已停用", "trained": "已训练（未启用）"}

UserOpt = Annotated[str | None, typer.Option("--user", help="以该账号的角色执行（默认：命令行系统身份）")]


def fail(message: str) -> NoReturn:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Any error a command did not foresee is still one Chinese line and exit 1, never a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from zhili.core.errors import DomainError

        try:
            command(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except DomainError as exc:
            fail(exc.message)
        except Exception as exc:  # noqa: BLE001 - the command line's last resort
            fail(f"执行失败：{type(exc).__name__}: {exc}")

    return run


# -- database and principal --------------------------------------------------------------------------------------

def ensure_schema() -> None:
    """Create the schema on a database that has none (a fresh SQLite file); refuse one that is behind."""
    from zhili.core import migrate
    from zhili.core.db import get_engine

    engine = get_engine()
    with engine.connect() as conn:
        current = migrate.current_revision(conn)
    if current is None:
        with engine.begin() as conn:
            migrate.upgrade(connection=conn)
        console.print("[yellow]数据库尚未初始化，已创建数据库结构（同 zhili db upgrade）[/yellow]")
    elif current != migrate.head_revision():
        fail("数据库结构不是最新版本，请先运行 zhili db upgrade")


def cli_principal() -> Any:
    """The command line's own principal: the system actor's role (which holds intel:admin), named 命令行."""
    from zhili.cases.actors import SYSTEM_PRINCIPAL

    return replace(SYSTEM_PRINCIPAL, username=CLI_NAME, display_name=CLI_NAME)


@contextmanager
def acting(user: str | None) -> Iterator[tuple[Any, Any]]:
    """A unit of work and the principal to act as; a domain refusal is printed in Chinese and exits 1."""
    from zhili.core.db import session_scope
    from zhili.core.errors import DomainError

    ensure_schema()
    try:
        with session_scope() as s:
            if user:
                from zhili.cli_hub import principal_for

                yield s, principal_for(s, user)
            else:
                yield s, cli_principal()
    except DomainError as exc:
        fail(getattr(exc, "message", None) or str(exc))


# -- reading files --------------------------------------------------------------------------------------------------

def split_columns(value: str) -> list[str]:
    return [c.strip() for c in value.replace("，", ",").split(",") if c.strip()]


def read_table(path: Path, needed: list[str], optional: list[str] | None = None
               ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every row of a CSV / xlsx / JSON file (encoding detected as the data hub does) with the ``needed`` columns;
    a missing column or an unreadable file is a Chinese error listing what the file has."""
    from zhili.core.errors import DomainError
    from zhili.datahub.connectors import open_file

    if not path.is_file():
        fail(f"找不到文件：{path}")
    try:
        stream = open_file(str(path))
        columns = list(stream.columns)
        missing = [c for c in [*needed, *(optional or [])] if c not in columns]
        if missing:
            stream.close()
            fail(f"文件 {path.name} 中没有列：{'、'.join(missing)}。文件的列有：{'、'.join(columns)}")
        rows = [row for _n, row in stream]
    except DomainError as exc:
        fail(f"无法读取文件 {path.name}：{exc.message}")
    except OSError as exc:
        fail(f"无法读取文件 {path.name}：{exc.strerror or exc}")
    return rows, columns


def cell(row: dict[str, Any], col: str) -> str:
    v = row.get(col)
    return "" if v is None else str(v).strip()


def join_text(row: dict[str, Any], cols: list[str]) -> str:
    """The text columns joined by line breaks: the first column is read as the title."""
    return "\n".join(cell(row, c) for c in cols)


def parse_time(value: str) -> dt.datetime | None:
    """``2019/2/28 11:25:05``, ``2017-06-08 17:31:20`` and the other usual forms; None when unparseable."""
    value = (value or "").strip()
    if not value:
        return None
    from zhili.core.clock import from_local

    for fmt in TIME_FORMATS:
        try:
            return from_local(dt.datetime.strptime(value, fmt))
        except ValueError:
            continue
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else from_local(moment)


def read_unlabelled(spec: str | None, text_cols: list[str]) -> list[str]:
    texts: list[str] = []
    for name in split_columns(spec or ""):
        rows, _ = read_table(Path(name), text_cols)
        texts.extend(t for t in (join_text(r, text_cols) for r in rows) if t.strip())
    return texts


# -- presentation ---------------------------------------------------------------------------------------------------

def _pct(v: Any) -> str:
    return "—" if v is None else f"{float(v):.3f}"


def evaluation_table(title: str, result: dict[str, Any]) -> Table:
    table = Table("方法", "top-1", "top-3", "macro-F1", "Brier", "ECE", title=title)
    table.add_row("本模型", _pct(result.get("top1")), _pct(result.get("top3")), _pct(result.get("macro_f1")),
                  _pct(result.get("brier")), _pct(result.get("ece")), style="bold")
    names = {"majority": "多数类基线", "tfidf_lr": "TF-IDF+逻辑回归基线"}
    for key, base in (result.get("baselines") or {}).items():
        table.add_row(names.get(key, key), _pct(base.get("top1")), _pct(base.get("top3")),
                      _pct(base.get("macro_f1")), _pct(base.get("brier")), _pct(base.get("ece")))
    return table


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _callback(bar: Any, description: str) -> Callable[[int, int], None]:
    task = bar.add_task(description, total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return progress


# -- train -----------------------------------------------------------------------------------------------------------

@ml_app.command("train")
@guarded
def train(
    from_csv: Annotated[Path | None, typer.Option(
        "--from-csv", help="带标签的文件（CSV/xlsx）；不给则用平台自己的事件训练")] = None,
    text: Annotated[str | None, typer.Option("--text", help="文本列，多个用逗号分隔（第一列作为标题）")] = None,
    label: Annotated[str | None, typer.Option("--label", help="标签列")] = None,
    time_col: Annotated[str | None, typer.Option(
        "--time", help="时间列：另按时间切分评估（以前训练、以后检验）")] = None,
    name: Annotated[str | None, typer.Option("--name", help="模型名称，如 hotline-category")] = None,
    unlabelled: Annotated[str | None, typer.Option(
        "--unlabelled", help="无标签文件，多个用逗号分隔：用于词频统计")] = None,
    folds: Annotated[int, typer.Option("--folds", help="交叉验证折数")] = 5,
    activate: Annotated[bool, typer.Option("--activate/--no-activate", help="训练后立即启用")] = True,
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="平台模型：category（事件类别）或 department（处置部门），可重复；默认两者")] = None,
    since: Annotated[str | None, typer.Option(
        "--since",
        help="平台模型只用该日期（YYYY-MM-DD）以后上报的事件训练：类别和职责调整后，旧事件不再代表现状")] = None,
    user: UserOpt = None,
) -> None:
    """训练模型：--from-csv 用带标签的文件（打印交叉验证结果与基线对比），否则用平台的事件训练分类与部门模型。"""
    if from_csv is None:
        _train_platform(activate, user, tuple(target or ()), since=_since(since))
        return
    if since:
        fail("--since 只用于平台模型；文件训练请先在文件中筛选")
    if not text or not label or not name:
        fail("用文件训练时须给出 --text（文本列）、--label（标签列）和 --name（模型名称）")
    _train_file(from_csv, split_columns(text or ""), (label or "").strip(), time_col, (name or "").strip(),
                unlabelled, folds, activate, user)


def _train_file(path: Path, text_cols: list[str], label_col: str, time_col: str | None, name: str,
                unlabelled_spec: str | None, folds: int, activate: bool, user: str | None) -> None:
    from zhili.intel import store, texteval, textmodel

    if not text_cols:
        fail("请用 --text 指定至少一个文本列")
    ensure_schema()  # before the long work: a database that cannot take the model should say so first
    if "@" in name:
        fail("模型名称不能含“@”")
    rows, _ = read_table(path, [*text_cols, label_col], [time_col] if time_col else [])
    texts, labels, times = [], [], []
    skipped = 0
    for r in rows:
        lab, t = cell(r, label_col), join_text(r, text_cols)
        if not lab or not t.strip():
            skipped += 1
            continue
        texts.append(t)
        labels.append(lab)
        times.append(parse_time(cell(r, time_col)) if time_col else None)
    counts = Counter(labels)
    if len(counts) < 2:
        fail(f"至少需要两个类别才能训练：文件 {path.name} 的“{label_col}”列有 {len(counts)} 个类别"
             f"（{len(texts)} 行有标签）")
    corpus = read_unlabelled(unlabelled_spec, text_cols)
    console.print(f"读取 {len(rows)} 行：{len(texts)} 行有文本和标签，{len(counts)} 个类别"
                  + (f"，跳过 {skipped} 行（标签或文本为空）" if skipped else "")
                  + (f"；无标签文本 {len(corpus)} 条" if corpus else ""))
    k = texteval.usable_folds(labels, folds)
    if k != folds:
        small = min(counts.items(), key=lambda kv: kv[1])
        console.print(f"[yellow]类别“{small[0]}”只有 {small[1]} 行，不够做 {folds} 折交叉验证，改为 {k} 折[/yellow]")
    started = time.perf_counter()
    split = None
    with _progress() as bar:
        cv = texteval.cross_validate(texts, labels, folds=k, unlabelled=corpus,
                                     progress=_callback(bar, f"{k} 折交叉验证"))
        if time_col:
            timed = sum(1 for t in times if t is not None)
            if timed < 10:
                console.print(f"[yellow]“{time_col}”列只有 {timed} 行能识别为时间，跳过按时间切分的评估[/yellow]")
            else:
                task = bar.add_task("按时间切分评估", total=None)
                try:
                    split = texteval.time_split(texts, labels, times, unlabelled=corpus)
                except ValueError:
                    console.print("[yellow]按时间切分后训练期不足两个类别，跳过该项评估[/yellow]")
                bar.update(task, completed=1, total=1)
        task = bar.add_task("用全部数据训练", total=None)
        model = textmodel.fit(texts, labels, unlabelled=corpus)
        bar.update(task, completed=1, total=1)
    seconds = time.perf_counter() - started
    known = [t for t in times if t is not None]
    metrics = {**cv, "time_split": split} if split else dict(cv)
    params = {"file": path.name, "text_columns": text_cols, "label_column": label_col, "time_column": time_col,
              "unlabelled": len(corpus), "folds": k, **model.params}
    with acting(user) as (s, p):
        mv = store.save(s, principal=p, name=name, model=model, source="file", params=params, metrics=metrics,
                        data_from=min(known) if known else None, data_to=max(known) if known else None,
                        n_train=len(texts), seconds=seconds, activate=activate,
                        note=f"由文件 {path.name} 训练")
        ref, state = f"{mv.name}@{mv.version}", mv.state.value
    console.print(f"[green]已保存模型 {ref}（{STATE_NAMES.get(state, state)}），训练 {len(texts)} 行，"
                  f"用时 {seconds:.1f} 秒[/green]")
    console.print(evaluation_table(f"{k} 折交叉验证（{cv['n']} 行）", cv))
    if split:
        console.print(evaluation_table(f"按时间切分：{split['train_until'][:10]} 及以前训练，之后 {split['n']} 行检验",
                                       split))


def _since(value: str | None) -> dt.datetime | None:
    """The training window's start: a local date, from its midnight in the district's zone."""
    if not value:
        return None
    from zhili.core.clock import local_midnight

    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        fail(f"日期“{value[:20]}”格式不对，应为 YYYY-MM-DD")
    return local_midnight(day)


def _train_platform(activate: bool, user: str | None, targets: tuple[str, ...] = (), *,
                    since: dt.datetime | None = None) -> None:
    from zhili.intel import routing

    with acting(user) as (s, p):
        routing.settle_suggestions(s)  # the staff's choices on the suggestions shown: the corrections to learn from
        # the platform's models replace the one in use only when they measure at least as well ("better")
        versions = routing.train_platform(s, principal=p, activate="better" if activate else "never",
                                          targets=targets or routing.TARGETS, since=since)
        table = Table("模型", "状态", "训练样本", "评估方式", "top-1", "top-3", "macro-F1", title="平台模型训练结果")
        for mv in versions:
            m = mv.metrics or {}
            table.add_row(f"{mv.name}@{mv.version}", STATE_NAMES.get(mv.state.value, mv.state.value), str(mv.n_train),
                          str(m.get("split", "—")), _pct(m.get("top1")), _pct(m.get("top3")), _pct(m.get("macro_f1")))
    if not versions:
        console.print("[yellow]平台中还没有足够的已办结事件，未训练任何模型[/yellow]")
        return
    console.print(table)


# -- eval ----------------------------------------------------------------------------------------------------------

@ml_app.command("eval")
@guarded
def evaluate(user: UserOpt = None, as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False
             ) -> None:
    """按时间切分（以前训练、以后检验）评估平台的每个模型，并与朴素基线对比。"""
    from zhili.intel import backtest

    with acting(user) as (s, p):
        rows = backtest.evaluate_all(s, principal=p)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        return
    notes: dict[str, int] = {}
    table = Table("模型", "指标", "数值", "朴素基线", "基线数值", "样本", "注",
                  title="模型评估（留出数据，各自对照朴素基线）")
    for col in table.columns[:5]:
        col.no_wrap = True
    for r in rows:
        note = str(r.get("note") or "")
        ref = notes.setdefault(note, len(notes) + 1) if note else None
        table.add_row(str(r.get("model", "")), str(r.get("metric", "")), _pct(r.get("value")),
                      str(r.get("baseline_name") or "—"), _pct(r.get("baseline_value")), str(r.get("n", "")),
                      f"[{ref}]" if ref else "")
    console.print(table)
    for note, ref in notes.items():
        console.print(f"[{ref}] {note}", markup=False, highlight=False)


# -- predict ---------------------------------------------------------------------------------------------------------

@ml_app.command("predict")
@guarded
def predict(
    model_ref: Annotated[str, typer.Option("--model", help="模型名称（用启用的版本）或 名称@版本号")],
    from_csv: Annotated[Path, typer.Option("--from-csv", help="要预测的文件（CSV/xlsx）")],
    text: Annotated[str, typer.Option("--text", help="文本列，多个用逗号分隔（与训练时相同的顺序）")],
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件")],
    id_col: Annotated[str | None, typer.Option("--id", help="编号列（不给则用行号）")] = None,
    top: Annotated[int, typer.Option("--top", help="每行输出前几个标签")] = 3,
    user: UserOpt = None,
) -> None:
    """用模型预测文件中每一行的标签，输出 id,label_1,prob_1,… 到 CSV。"""
    from zhili.intel import store

    if top < 1:
        fail("--top 至少为 1")
    text_cols = split_columns(text)
    if not text_cols:
        fail("请用 --text 指定至少一个文本列")
    with acting(user) as (s, p):
        from zhili.core.jurisdiction import authorize
        from zhili.core.security import Perm

        authorize(p, Perm.intel_read)
        name, version = store.parse_ref(model_ref)
        if version is None:
            mv = store.active(s, name)
            if mv is None:
                store.get(s, name)  # "not trained" when the name is unknown
                fail(f"模型“{name}”没有启用的版本：请用 zhili ml activate {name}@版本号 启用，或用 {name}@版本号 指定")
        else:
            mv = store.get(s, name, version)
        model = store.load(s, mv)
        ref = f"{mv.name}@{mv.version}"
    rows, _ = read_table(from_csv, text_cols, [id_col] if id_col else [])
    texts = [join_text(r, text_cols) for r in rows]
    ids = [cell(r, id_col) if id_col else str(i + 1) for i, r in enumerate(rows)]
    k = min(top, len(model.labels))
    header = ["id"] + [f"{kind}_{j}" for j in range(1, top + 1) for kind in ("label", "prob")]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as fh, _progress() as bar:
            writer = csv.writer(fh)
            writer.writerow(header)
            task = bar.add_task(f"用 {ref} 预测", total=len(texts))
            for start in range(0, len(texts), 500):
                chunk = texts[start:start + 500]
                proba = model.proba(chunk)
                for j, prow in enumerate(proba):
                    order = prow.argsort()[::-1][:k]
                    cells = [ids[start + j]]
                    for i in order:
                        cells += [model.labels[i], f"{prow[i]:.4f}"]
                    cells += [""] * (len(header) - len(cells))
                    writer.writerow(cells)
                bar.update(task, advance=len(chunk))
    except OSError as exc:
        fail(f"无法写入 {out}：{exc.strerror or exc}")
    console.print(f"[green]已用模型 {ref} 预测 {len(texts)} 行，结果写入 {out}[/green]")


# -- versions ------------------------------------------------------------------------------------------------------

@ml_app.command("list")
@guarded
def list_models(name: Annotated[str | None, typer.Option("--name", help="只列这个名称的模型")] = None,
                user: UserOpt = None) -> None:
    """列出模型的各个版本、状态和评估结果。"""
    from zhili.core.clock import fmt_local
    from zhili.intel import store

    with acting(user) as (s, p):
        versions = store.list_versions(s, principal=p, name=name)
        table = Table(title="模型版本")
        for head in ("版本", "状态", "样本", "top-1 / top-3 / F1", "训练", "启用人"):
            table.add_column(head, no_wrap=head in ("版本", "状态"))
        for mv in versions:
            m = mv.metrics or {}
            scores = " / ".join(_pct(m.get(k)) for k in ("top1", "top3", "macro_f1"))
            origin = "文件" if mv.source == "file" else "平台"
            table.add_row(f"{mv.name}@{mv.version}", STATE_NAMES.get(mv.state.value, mv.state.value),
                          f"{mv.n_train}（{origin}）", f"{scores}（{m.get('split', '—')}）",
                          f"{mv.trained_by} {fmt_local(mv.trained_at)}", mv.activated_by or "")
    if not versions:
        console.print("还没有训练过模型" + (f"“{name}”" if name else ""))
        return
    console.print(table)


@ml_app.command("activate")
@guarded
def activate_version(version: Annotated[str, typer.Argument(help="名称@版本号，如 category@3")],
                     user: UserOpt = None) -> None:
    """启用模型的某个版本（同名的其他版本停用）。"""
    from zhili.intel import store

    with acting(user) as (s, p):
        name, num = store.parse_ref(version)
        if num is None:
            fail("请写明版本号，如 category@3")
        mv = store.activate(s, principal=p, name=name, version=num)
        ref = f"{mv.name}@{mv.version}"
    console.print(f"[green]已启用 {ref}[/green]")


@ml_app.command("rollback")
@guarded
def rollback(name: Annotated[str, typer.Argument(help="模型名称")], user: UserOpt = None) -> None:
    """回滚：重新启用当前版本之前启用的那个版本。"""
    from zhili.intel import store

    with acting(user) as (s, p):
        mv = store.rollback(s, principal=p, name=name)
        ref = f"{mv.name}@{mv.version}"
    console.print(f"[green]已回滚，当前启用 {ref}[/green]")
