"""``zhili hub …`` (continued): mapping templates, address parsing, resolution and the review queue, change
deliveries, data quality. The commands register on :data:`zhili.cli_hub.hub_app`; ``zhili.cli_hub`` imports this
module at its end, so the group is whole whoever imports it (split by subject, to keep each module under ~600
lines)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from zhili.cli_hub import UserOpt, as_user, console, fail, hub_app

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
    from zhili.datahub import templates

    with as_user(user) as (s, p):
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
    from zhili.datahub import templates
    from zhili.datahub.mapping import describe_spec

    with as_user(user) as (s, p):
        t = templates.get_template(s, principal=p, name=name, version=version)
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
    from pathlib import Path

    from zhili.datahub import templates

    with as_user(user) as (s, p):
        data = templates.export_template(s, principal=p, name=name, version=version)
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
    from pathlib import Path

    from zhili.datahub import templates

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        console.print(f"[red]无法读取 JSON 文件 {path}[/red]")
        raise typer.Exit(2) from None
    with as_user(user) as (s, p):
        t = templates.import_template(s, principal=p, data=data, name=name or None)
        console.print(f"映射模板 {t.name} 当前为第{t.version}版")


@template_app.command("preview")
def template_preview(name: Annotated[str, typer.Argument(help="模板标识")],
                     path: Annotated[str, typer.Argument(help="CSV 或 .xlsx 样例文件")],
                     limit: Annotated[int, typer.Option(help="预览行数")] = 10,
                     user: UserOpt = "admin") -> None:
    """按模板预览样例文件的前几行（个人信息脱敏，不写入任何数据）。"""
    from pathlib import Path

    from zhili.datahub import templates

    with as_user(user) as (s, p):
        _, mapper = templates.compiled(s, principal=p, name=name)
        data = Path(path).read_bytes()[:templates.PREVIEW_MAX_BYTES]
        out = templates.preview_file(mapper, data, Path(path).name, limit=limit)
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
    from zhili.core.errors import DomainError
    from zhili.datahub import address

    with as_user(user) as (s, p):
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
    from zhili.core.errors import DomainError
    from zhili.datahub import golden, sources
    from zhili.datahub.models import EntityType, Target

    with as_user(user) as (s, p):
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
    from zhili.core.errors import DomainError
    from zhili.datahub import review
    from zhili.datahub.models import EntityType

    with as_user(user) as (s, p):
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

    from zhili.datahub import quality, sources

    with as_user(user) as (s, p):
        if source is None:
            data: Any = quality.overview(s, principal=p)
        else:
            src = sources.source_by_name(s, principal=p, name=source)
            data = quality.source_quality(s, principal=p, source_id=src.id)
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
