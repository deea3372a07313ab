"""Standing test — a log scan: every log record made while the API serves the flows that handle personal numbers
(person search, reveals, intake with a reporter's phone, registration and login by phone, and a client that still
puts a number in a URL) is captured at DEBUG on the root logger, together with the access-log line uvicorn would
write for each request (its own logger and format); no line may hold a full 18-digit ID number or 11-digit mobile
number. A new log statement, logger or handler that leaks one fails here."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from apihelpers import Api
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from zhili.cases import notify
from zhili.participation import sms

FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
FULL_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ACCESS_FORMAT = '%(client_addr)s - "%(request_line)s" %(status_code)s'
PHONE = "13912345678"
REPORTER_PHONE = "13698765432"


class AccessLogged:
    """The application wrapped so that each request writes the line uvicorn's HTTP protocol writes to
    ``uvicorn.access`` (same logger, message and arguments)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = logging.getLogger("uvicorn.access")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.log.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                          get_path_with_query_string(scope), scope["http_version"], status["code"])


class AccessLines(logging.Handler):
    """The access log's handler: each record formatted as uvicorn's default access formatter does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(AccessFormatter(ACCESS_FORMAT, use_colors=False))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _lines(records: list[logging.LogRecord]) -> list[str]:
    plain = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [plain.format(r) for r in records]


@pytest.fixture
def logged_api(app: Any, world: Any, db: Any) -> Any:
    from zhili.app import create_app
    from zhili.cases.taxonomy import load_defaults

    load_defaults(db)
    create_app()  # installs the process's log masking, as serving does
    access = logging.getLogger("uvicorn.access")
    saved = access.handlers[:], access.propagate, access.level
    # as uvicorn configures it: a handler of its own, not propagating to the root (so not seen by caplog)
    access_lines = AccessLines()
    access.handlers, access.propagate, access.level = [access_lines], False, logging.INFO
    fake = notify.FakeChannel(name="sms")
    sms.set_sms_channel(fake)
    try:
        with TestClient(AccessLogged(app), raise_server_exceptions=False) as c:
            yield Api(c, world), fake, access_lines
    finally:
        sms.set_sms_channel(None)
        access.handlers, access.propagate, access.level = saved


def test_no_log_line_holds_a_full_id_number_or_mobile_number(logged_api: Any, caplog: pytest.LogCaptureFixture,
                                                            world: Any) -> None:
    api, fake_sms, access_lines = logged_api
    with caplog.at_level(logging.DEBUG):
        # persons: registered, searched by exact ID and phone (posted), revealed, and a client that uses the URL
        ga = api.grid_set("ga")
        pid, phone = ga.secrets["id_number"], ga.secrets["phone"]
        assert api.post("jiedao1", "/registry/persons/search", json={"id_number": pid}).json()["total"] == 1
        assert api.post("jiedao1", "/registry/persons/search", json={"phone": phone}).json()["total"] == 1
        assert api.get("jiedao1", "/registry/persons", params={"id_number": pid}).status_code == 422
        assert api.get("jiedao1", "/registry/persons", params={"phone": phone}).status_code == 422
        assert api.get("jiedao1", f"/registry/persons?q={pid}&x={phone}").status_code == 200
        revealed = api.post("zhihui", f"/registry/persons/{ga.person['id']}/reveal", json={"reason": "入户核查"})
        assert revealed.status_code == 200 and revealed.json()["id_number"] == pid
        assert api.post("jumin", f"/registry/persons/{ga.person['id']}/reveal",
                        json={"reason": "想看看"}).status_code == 403
        # intake with a reporter's phone, and the reporter revealed for a call back
        case = api.post("zhihui", "/cases", json={
            "category_code": "SJ-0102", "description": f"来电人{REPORTER_PHONE}反映垃圾堆放", "lon": 119.1, "lat": 31.1,
            "channel": "hotline", "reporter_name": "张三", "reporter_phone": REPORTER_PHONE})
        assert case.status_code == 201, case.text
        reporter = api.post("zhihui", f"/cases/{case.json()['id']}/reporter", json={"reason": "回访核实"})
        assert reporter.status_code == 200 and reporter.json()["phone"] == REPORTER_PHONE
        # registration and login by phone, right and wrong
        P = "/participation"
        assert api.post(None, f"{P}/sms-codes", json={"phone": PHONE, "purpose": "register"}).status_code == 202
        code = re.search(r"\b(\d{6})\b", fake_sms.sent[-1].body).group(1)  # type: ignore[union-attr]
        assert api.post(None, f"{P}/register", json={"phone": PHONE, "code": code,
                                                     "password": "Jumin-Anji-2026!"}).status_code == 201
        def login(username: str, password: str) -> int:
            return int(api.post(None, "/auth/login", json={"username": username, "password": password}).status_code)

        assert login(PHONE, "Jumin-Anji-2026!") == 200
        assert login(f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}", "Wrong-Pass-1") == 401
        assert login("13800000000", "Wrong-Pass-1") == 401

    lines = _lines(caplog.records) + access_lines.lines
    assert len(access_lines.lines) > 10, "the access log was captured"
    assert any("/registry/persons?id_number=" in line for line in access_lines.lines)
    leaks = [line for line in lines if FULL_ID.search(line) or FULL_MOBILE.search(line)]
    assert leaks == [], "\n".join(leaks[:20])
    assert world  # the world's own personal numbers were in play
