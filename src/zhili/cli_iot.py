"""``zhili iot …``: the MQTT ingest process (``run``), the traffic simulator (``simulate``), installing the shipped
device types and rules (``install``) and one heartbeat sweep by hand (``sweep``)."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated

import typer
from rich.console import Console

console = Console()
iot_app = typer.Typer(help="物联感知：MQTT 接入、模拟设备流量、设备类型与告警规则", no_args_is_help=True)


@iot_app.command("run")
def run(
    url: Annotated[str | None, typer.Option("--url", help="代理地址 mqtt://host:1883 或 mqtts://host:8883；"
                                                          "默认 ZHILI_MQTT_URL")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="固定的客户端标识（默认 ZHILI_MQTT_CLIENT_ID）"
                                                  )] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="主题前缀（默认 ZHILI_MQTT_TOPIC_PREFIX）")] = None,
    district: Annotated[str | None, typer.Option("--district", help="区县代码（默认 ZHILI_MQTT_DISTRICT）")] = None,
    batch_max: Annotated[int | None, typer.Option("--batch-max", help="每批最多条数")] = None,
    batch_ms: Annotated[int | None, typer.Option("--batch-ms", help="每批最长等待毫秒")] = None,
    no_sweep: Annotated[bool, typer.Option("--no-sweep", help="不在本进程执行心跳巡检")] = False,
) -> None:
    """启动 MQTT 接入进程：订阅 {前缀}/{区县}/+/+/+（QoS 1），入库提交后才确认；SIGTERM 时处理完当前批次再退出。"""
    from zhili.core.settings import get_settings
    from zhili.iot.ingest import BrokerConfig, Ingest, install_signals

    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    s = get_settings()
    if url:
        s = s.model_copy(update={"mqtt_url": url})
    cfg = BrokerConfig.from_settings(s, client_id=client_id, prefix=prefix.rstrip("/") if prefix else None,
                                     district=district)
    ingest = Ingest(cfg, batch_max=batch_max, batch_ms=batch_ms, sweep=not no_sweep)
    install_signals(ingest)
    console.print(f"物联感知接入：{cfg.host}:{cfg.port}{'（TLS）' if cfg.tls else ''}，订阅 {cfg.topic_filter}，"
                  f"客户端 {cfg.client_id}")
    st = ingest.run()
    console.print(f"已停止：{st.batches} 批，收到 {st.received} 条，入库 {st.recorded} 条（拒收 {st.rejected}，"
                  f"重复 {st.duplicates}），新告警 {st.alerts_opened}，生成事件 {st.cases}")


@iot_app.command("simulate")
def simulate(
    rate: Annotated[float, typer.Option("--rate", help="每秒发布条数")] = 50.0,
    seconds: Annotated[float, typer.Option("--seconds", help="运行秒数（0 为一直运行）")] = 60.0,
    alarm_share: Annotated[float, typer.Option("--alarm-share", help="报警类事件占比")] = 0.01,
    url: Annotated[str | None, typer.Option("--url", help="代理地址（默认 ZHILI_MQTT_URL）")] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="主题前缀")] = None,
    district: Annotated[str | None, typer.Option("--district", help="区县代码")] = None,
    seed: Annotated[int, typer.Option("--seed", help="随机种子")] = 7,
) -> None:
    """按已登记的设备发布逼真的模拟流量：心跳、遥测、偶发报警、门锁开锁（含陌生凭证）。"""
    from zhili.core.db import session_scope
    from zhili.core.settings import get_settings
    from zhili.iot.ingest import BrokerConfig
    from zhili.iot.simulate import Simulator, load_fleet

    s = get_settings()
    if url:
        s = s.model_copy(update={"mqtt_url": url})
    cfg = BrokerConfig.from_settings(s, prefix=prefix.rstrip("/") if prefix else None, district=district)
    with session_scope() as session:
        fleet = load_fleet(session)
    if not fleet:
        console.print("[red]没有已登记的设备，请先导入设备或运行演示数据（zhili seed）[/red]")
        raise typer.Exit(2)
    sim = Simulator(cfg, fleet, seed=seed, alarm_share=alarm_share)
    t0 = time.monotonic()
    n = sim.run(rate=rate, seconds=seconds or None)
    console.print(f"已发布 {n} 条，用时 {time.monotonic() - t0:.1f} 秒（{len(fleet)} 台设备）")


@iot_app.command("install")
def install() -> None:
    """安装内置的设备类型与默认告警规则（已存在的不覆盖）。"""
    from zhili.core.db import session_scope
    from zhili.iot.types import install_defaults

    with session_scope() as session:
        nt, nr = install_defaults(session)
    console.print(f"新增设备类型 {nt} 个，告警规则 {nr} 条")


@iot_app.command("sweep")
def sweep(json_out: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """立即执行一次心跳巡检：超时未上报的设备标记离线并告警，长时间无新告警的自动关闭，过期消息清理。"""
    from zhili.core.db import session_scope
    from zhili.iot.heartbeat import sweep as run_sweep

    with session_scope() as session:
        r = run_sweep(session)
    if json_out:
        typer.echo(json.dumps(r.__dict__))
        return
    console.print(f"新离线设备 {r.offline} 台（通知 {r.notified} 个单位），自动关闭告警 {r.quiet_closed} 条，"
                  f"清理消息 {r.purged} 条")
