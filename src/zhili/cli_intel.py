"""``zhili intel …``: intelligence (智能研判) on the command line. ``hot-issues`` runs the platform's hot-issue
clustering (:func:`zhili.intel.hot.hot_issues`, the same code as the 研判 page) on a file, with no database."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

intel_app = typer.Typer(help="智能研判", no_args_is_help=True)
console = Console()

_TIME = re.compile(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")


def parse_time(value: str) -> dt.datetime:
    """``2019/2/28 11:25:05``, ``2017-06-08 17:31:20``, ``2019-02-28T11:25:05+08:00``, ``2019年2月28日`` → a
    datetime (naive unless the text carries an offset). ValueError otherwise."""
    text = (value or "").strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    m = _TIME.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return dt.datetime(y, mo, d, h, mi, s)


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def _read_docs(path: Path, text_cols: list[str], time_col: str, id_col: str | None, votes_col: str | None,
               reporter_col: str | None) -> list[Any]:
    from zhili.core.errors import DomainError
    from zhili.datahub.connectors import open_file
    from zhili.intel.hot import HotDoc

    if not path.is_file():
        _fail(f"文件不存在：{path}")
    try:
        stream = open_file(path)
        missing = [c for c in [*text_cols, time_col, id_col, votes_col, reporter_col] if c and c not in stream.columns]
        if missing:
            stream.close()
            _fail(f"文件中没有这些列：{'、'.join(missing)}（现有列：{'、'.join(stream.columns)}）")
        docs = []
        for n, row in stream:
            try:
                when = parse_time(str(row.get(time_col) or ""))
            except ValueError:
                _fail(f"第 {n} 行的时间“{str(row.get(time_col) or '')[:30]}”无法识别（支持 2019/2/28 11:25:05、"
                      "2017-06-08 17:31:20 或 ISO 8601）")
            votes = str(row.get(votes_col) or "0").strip() if votes_col else "0"
            texts = [str(row.get(c) or "") for c in text_cols]
            docs.append(HotDoc(id=str(row.get(id_col) or n) if id_col else str(n),
                               title=texts[0] if len(texts) > 1 else None,
                               text="。".join(texts[1:]) if len(texts) > 1 else texts[0], time=when,
                               votes=int(float(votes)) if re.fullmatch(r"\d+(\.\d+)?", votes) else 0,
                               reporter=str(row.get(reporter_col) or "") or None if reporter_col else None))
    except DomainError as exc:
        _fail(exc.message)
    return docs


def issue_json(issue: Any, excerpt: int = 200) -> dict[str, Any]:
    """One hot issue as the JSON the command prints."""
    return {"rank": issue.rank, "heat": issue.heat, "places": issue.places, "terms": issue.terms,
            "first": issue.first.isoformat(), "last": issue.last.isoformat(), "size": issue.size,
            "reporters": issue.reporters, "votes": issue.votes, "ids": issue.ids,
            "representative": {"id": issue.representative_id, "text": issue.representative_text[:excerpt]}}


@intel_app.command("hot-issues")
def hot_issues_cmd(
    from_csv: Annotated[Path, typer.Option("--from-csv", help="留言/工单文件（CSV，编码自动识别；也可 .xlsx）")],
    text: Annotated[str, typer.Option("--text", help="文本列，逗号分隔；多列时第一列作标题")],
    time: Annotated[str, typer.Option("--time", help="时间列")],
    id_col: Annotated[str | None, typer.Option("--id", help="编号列（默认行号）")] = None,
    votes: Annotated[str | None, typer.Option("--votes", help="点赞/附议数列")] = None,
    reporter: Annotated[str | None, typer.Option("--reporter", help="留言人列（按人去重计热度）")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="输出前几个热点")] = 10,
    window_days: Annotated[int, typer.Option("--window-days", min=1, help="两条留言相隔多少天内可归为同一问题")] = 90,
    half_life: Annotated[float, typer.Option("--half-life", min=0.1, help="热度半衰期（天）")] = 30.0,
    min_size: Annotated[int, typer.Option("--min-size", min=2, help="一个热点至少几条留言")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """热点问题：按留言中的地点、机构和诉求聚类，按热度排序。"""
    import time as clock

    from zhili.intel.hot import hot_issues

    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        _fail("请用 --text 指定至少一个文本列")
    docs = _read_docs(from_csv, cols, time, id_col, votes, reporter)
    started = clock.perf_counter()
    issues = hot_issues(docs, top=top, window_days=window_days, min_size=min_size, half_life_days=half_life)
    seconds = clock.perf_counter() - started
    if as_json:
        typer.echo(json.dumps([issue_json(i) for i in issues], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"热点问题（{len(docs)} 条留言，用时 {seconds:.1f} 秒）")
    for col in ("排名", "热度", "地点", "诉求", "时间", "条数", "代表留言"):
        table.add_column(col)
    for i in issues:
        table.add_row(str(i.rank), f"{i.heat:.3g}", "、".join(i.places) or "—", "、".join(i.terms),
                      f"{i.first:%Y-%m-%d}～{i.last:%Y-%m-%d}", str(i.size), i.representative_text[:60])
    console.print(table)
    if not issues:
        console.print("没有找到热点问题（每个热点至少两条相近留言）")


def _register_others() -> None:
    """The commands other modules add to this group (hotspots and risk; early warnings)."""
    from zhili import cli_intel_geo, cli_intel_warn

    cli_intel_geo.register(intel_app)
    cli_intel_warn.register(intel_app)


_register_others()
