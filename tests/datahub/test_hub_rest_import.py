"""A REST pull into a source (``imports.import_rest``): the pages arrive as historical cases, and a pull killed after
a committed batch resumes from the page that batch ended in — the stored cursor — not from the first page, and
ends with the same rows as an uninterrupted pull."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case
from zhili.datahub import templates
from zhili.datahub.imports import import_rest
from zhili.datahub.models import Import, ImportStatus, SecurityLevel, Source, SourceRecord, Target
from zhili.users.service import principal_for_user

ITEMS = [{"id": f"RX-{i:03d}", "text": f"第{i}号留言：路灯不亮", "at": "2019/2/28 11:25:05"} for i in range(1, 24)]


class _Offsets(BaseHTTPRequestHandler):
    """ITEMS five at a time by offset; every offset asked for is recorded."""

    asked: list[int] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        q = parse_qs(urlsplit(self.path).query)
        off = int(q.get("offset", ["0"])[0])
        _Offsets.asked.append(off)
        data = json.dumps({"data": ITEMS[off: off + 5], "total": len(ITEMS)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Offsets)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/messages"
    finally:
        server.shutdown()
        server.server_close()


def _source(db: Session, world: Any, name: str) -> Source:
    unit = world.units["district"]
    src = Source(id=uuid.uuid4(), name=name, title="热线接口", target=Target.cases,
                 security_level=SecurityLevel.internal, unit_id=unit.id, path=unit.path)
    db.add(src)
    db.flush()
    return src


def _pull(db: Session, admin: Any, src: Source, url: str, **kw: Any) -> Import:
    return import_rest(db, principal=admin, source=src, url=url, template="rest-messages", batch_size=5,
                       offset_param="offset", limit_param="limit", page_size=5, items_key="data", **kw)


def test_a_killed_rest_pull_resumes_from_its_cursor_and_ends_like_an_uninterrupted_one(
        db: Session, world: Any, api: str) -> None:
    admin = principal_for_user(db, user=world.users["admin"])
    templates.save_template(db, principal=admin, name="rest-messages", title="接口留言", spec={
        "target": "cases", "fields": [
            {"field": "external_id", "column": "id"}, {"field": "description", "column": "text"},
            {"field": "reported_at", "column": "at", "date_formats": ["%Y/%m/%d %H:%M:%S"]}]})
    whole = _pull(db, admin, _source(db, world, "rest-whole"), api)
    assert whole.status == ImportStatus.done and whole.rows_imported == 23, whole.error

    src = _source(db, world, "rest-killed")
    calls: list[Any] = []

    def kill_after_two_batches(imp: Import, where: Any) -> None:
        calls.append(where)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _pull(db, admin, src, api, progress=kill_after_two_batches)
    db.rollback()
    killed = db.scalar(select(Import).where(Import.source_id == src.id))
    assert killed is not None and killed.status == ImportStatus.running and killed.checkpoint == 10
    _Offsets.asked.clear()
    resumed = _pull(db, admin, src, api)
    assert resumed.id == killed.id and resumed.status == ImportStatus.done
    assert _Offsets.asked[0] == 10, _Offsets.asked  # from the cursor's page, not the first
    records = db.scalar(select(func.count()).select_from(SourceRecord).where(SourceRecord.source_id == src.id))
    cases = db.scalar(select(func.count()).select_from(Case).where(Case.is_history.is_(True),
                                                                   Case.external_id.like("RX-%")))
    assert records == 23 and cases == 46  # both sources' 23 cases, none twice
