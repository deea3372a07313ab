"""A data hub upload imported in the background, against a real ``zhili serve``: with
``ZHILI_HUB_INLINE_IMPORT_BYTES=0`` every upload is "large", so the request answers 202 at once with the import to
poll, a thread of the server imports the spooled file with a session of its own, and the import ends ``done`` with
its counts — the path a district's million-row upload takes. A second upload of the same file also runs in the
background and imports nothing new; the spooled files are gone once both are done.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from liveserver import LiveServer, live_server

HEADER = "留言编号,留言用户,留言主题,留言时间,留言详情,一级分类,答复意见,答复时间,点赞数,反对数\n"
ROWS = [
    "BG-0001,A2000001,小区门口路灯不亮,2024/03/02 19:20:00,金陵社区东门路灯连续三晚不亮。,市政设施,已修复。,"
    "2024/03/05 10:00:00,3,0",
    "BG-0002,A2000002,楼道堆放杂物,2024/03/04 08:15:00,3号楼楼道长期堆放纸箱。,消防安全,,,5,0",
    "BG-0003,A2000003,夜间施工噪音,上周五晚上,工地晚上十一点后仍在施工。,噪音扰民,,,1,0",  # no usable time
]


@pytest.fixture(scope="module")
def background_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("hub-bg"), ZHILI_HUB_INLINE_IMPORT_BYTES="0") as srv:
        yield srv


def _upload(api: httpx.Client, source_id: str, content: bytes) -> httpx.Response:
    return api.post("/api/v1/hub/imports", data={"source_id": source_id, "template": "cn-gov-messages"},
                    files={"file": ("messages.csv", content, "text/csv")})


def _wait(api: httpx.Client, poll: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(poll).raise_for_status().json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, f"import still running after {timeout} s: {body}"
        time.sleep(0.3)


def test_a_large_upload_answers_202_and_imports_in_the_background(background_server: LiveServer) -> None:
    content = (HEADER + "\n".join(ROWS) + "\n").encode("utf-8")
    with background_server.api("admin") as api:
        sources = api.get("/api/v1/hub/sources").raise_for_status().json()
        source_id = next(s["id"] for s in sources if s["name"] == "12345-archive")

        first = _upload(api, source_id, content)
        assert first.status_code == 202, first.text
        accepted = first.json()
        assert accepted["poll"] == f"/api/v1/hub/imports/{accepted['id']}"
        done = _wait(api, accepted["poll"])
        assert done["status"] == "done", done
        assert (done["rows_read"], done["rows_imported"] + done["rows_quarantined"]) == (3, 3)
        assert done["rows_quarantined"] == 1  # the row without a usable time, kept with its reason
        rows = api.get("/api/v1/hub/quarantine", params={"import_id": accepted["id"]}).raise_for_status().json()
        assert [r["row_number"] for r in rows["items"]] == [3]

        again = _upload(api, source_id, content)
        assert again.status_code == 202, again.text
        second = _wait(api, again.json()["poll"])
        assert second["status"] == "done"
        assert (second["rows_imported"], second["rows_updated"], second["rows_unchanged"]) == (0, 0, 2)

    spool = Path(background_server.workdir) / "var" / "hub"
    assert not spool.exists() or list(spool.iterdir()) == []  # nothing left to resume: the files are deleted
