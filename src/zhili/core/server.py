"""Serving with several worker processes, each with a listening socket of its own (``SO_REUSEPORT``).

Uvicorn's own multi-worker mode shares one listening socket: whichever worker is waiting in ``accept`` when a burst
of connections arrives takes most of them, and kept-alive connections stay where they landed — measured on two
workers with 32 client connections, splits such as 30 : 2 were common, leaving one core idle while the other was
saturated. With ``SO_REUSEPORT`` every worker binds its own socket and the kernel spreads connections over them by a
hash of the client address and port (16 : 16 give or take a few). Linux only; elsewhere the caller falls back to
uvicorn's supervisor.

The parent process only supervises: it starts the workers, restarts one that dies, and on SIGTERM or SIGINT asks
each to shut down gracefully (uvicorn finishes the requests in flight) and waits for them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("zhili.server")


def reuse_port_supported() -> bool:
    """True where sockets can share a port with ``SO_REUSEPORT`` (Linux, the BSDs)."""
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with ``SO_REUSEPORT``, listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def log_config(log_level: str) -> dict[str, Any]:
    """Uvicorn's logging configuration with ``MaskingLogFilter`` on every handler and a root handler for the
    application's own loggers: no log line — the access log's query strings included — carries a full ID number
    or mobile number. (The application also masks every record where it is made: ``install_log_masking``.)"""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_personal_numbers"] = {"()": "zhili.core.masking.MaskingLogFilter"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "mask_personal_numbers"]
    config["root"] = {"handlers": ["default"], "level": log_level.upper()}
    return config


def uvicorn_options(log_level: str) -> dict[str, Any]:
    """What every way of serving passes to uvicorn: the masked logging configuration, and no proxy-header
    rewriting of the client address (``X-Forwarded-For`` is judged once, by ``core.netaddr`` against
    ``ZHILI_TRUSTED_PROXIES``)."""
    return {"log_level": log_level, "log_config": log_config(log_level), "proxy_headers": False}


def _worker(app: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(app, factory=True, **uvicorn_options(log_level))
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(app: str, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Run ``workers`` processes of the application factory ``app``, each on its own ``SO_REUSEPORT`` socket,
    until SIGTERM or SIGINT."""
    listening_socket(host, port).close()  # fail here, in the parent, if the address is taken or not allowed
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start(i: int) -> BaseProcess:
        p = ctx.Process(target=_worker, args=(app, host, port, log_level), name=f"zhili-worker-{i}")
        p.start()
        return p

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    procs = [start(i) for i in range(workers)]
    try:
        while not stopping:
            time.sleep(0.5)
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping:
                    log.warning("worker %s exited with %s; starting it again", p.name, p.exitcode)
                    procs[i] = start(i)
    finally:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                p.terminate()  # SIGTERM: uvicorn shuts down gracefully
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
