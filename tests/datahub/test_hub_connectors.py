"""Connectors (``zhili.datahub.connectors`` and ``connectors_rest``): files and REST endpoints become row streams.

Files are generated in ``tmp_path``; the REST cases run against a local HTTP server in a thread.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import Workbook

from zhili.core.errors import ValidationFailed
from zhili.datahub.connectors import (
    ERROR_KEY,
    EXTRA_KEY,
    TEXT_KEY,
    CsvStream,
    detect_encoding,
    file_sha256,
    marker_errors,
    open_bytes,
    open_file,
)
from zhili.datahub.connectors_rest import rest_pull

HEADER = ["姓名", "身份证号", "手机号", "住址"]
ROWS = [
    ["张三", "110101199003074514", "13800138000", "浙江省湖州市长兴县雉城街道明珠路8号"],
    ["李四", "330522198506150012", "", "金陵小区3栋2单元301，朝南"],
    ["䶮王五", "330522197001010011", "13912345678", "長興縣 明珠路"],  # 䶮: GB18030-only, not in GBK
]


def _csv_text(rows: list[list[str]] = ROWS, sep: str = ",") -> str:
    return "\r\n".join(sep.join(r) for r in [HEADER, *rows]) + "\r\n"


def _write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _read(path: Path | str, **kw: Any) -> tuple[Any, list[tuple[int, dict[str, Any]]]]:
    stream = open_file(path, **kw)
    return stream, list(stream)


def _code(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return exc.value.code


# ---- CSV: encodings ---------------------------------------------------------------------------------------------


def test_gb18030_utf8_bom_and_utf8_csv_of_the_same_rows_read_identically(tmp_path: Path) -> None:
    """The three encodings a Chinese office produces are detected and give the same columns and rows; the BOM
    never sticks to the first header."""
    text = _csv_text()
    results = {}
    for enc in ("gb18030", "utf-8-sig", "utf-8"):
        stream, rows = _read(_write(tmp_path / f"{enc}.csv", text, enc))
        results[enc] = (stream.columns, rows)
        assert stream.encoding == ("gb18030" if enc == "gb18030" else "utf-8-sig")
    assert results["gb18030"] == results["utf-8-sig"] == results["utf-8"]
    columns, rows = results["utf-8"]
    assert columns == HEADER
    assert rows[2] == (3, dict(zip(HEADER, ROWS[2], strict=True)))


def test_gbk_is_detected_without_being_told_even_after_a_long_ascii_start(tmp_path: Path) -> None:
    """A GBK file is read as GB18030 (its superset); a start of pure ASCII longer than the detection sample does
    not make it UTF-8 — detection reads on to the first non-ASCII byte."""
    plain = tmp_path / "gbk.csv"
    _write(plain, _csv_text(ROWS[:2]), "gbk")
    assert detect_encoding(plain) == "gb18030"
    assert [r["姓名"] for _, r in open_file(plain)] == ["张三", "李四"]

    late = tmp_path / "late.csv"
    ascii_rows = [["name", str(i), "13800000000", "road"] for i in range(4000)]  # ~120 KB of ASCII first
    _write(late, _csv_text([*ascii_rows, ROWS[0]]), "gbk")
    assert detect_encoding(late) == "gb18030"
    assert list(open_file(late))[-1][1]["姓名"] == "张三"


def test_utf8_whose_sample_ends_inside_a_character_is_still_utf8(tmp_path: Path) -> None:
    """The 64 KiB detection sample may cut a 3-byte character in two; that is not a reason to call it GB18030."""
    path = _write(tmp_path / "cut.csv", "备注\n" + "长" * 30000 + "\n", "utf-8")
    assert (len("备注\n".encode()) + 65536) % 3 != 0
    assert detect_encoding(path) == "utf-8-sig"


def test_a_chosen_encoding_is_used_and_a_wrong_one_fails_the_import(tmp_path: Path) -> None:
    """GBK, GB2312 or GB18030 chosen by the caller decode as GB18030; UTF-8 chosen for a GBK file is an import
    failure with a Chinese message and a stable code, not garbage rows."""
    path = _write(tmp_path / "gbk.csv", _csv_text(ROWS[:2]), "gbk")
    for name in ("GBK", "gb2312", "GB18030"):
        stream, rows = _read(path, encoding=name)
        assert stream.encoding == "gb18030" and rows[0][1]["姓名"] == "张三"
    with pytest.raises(ValidationFailed) as exc:
        open_file(path, encoding="utf-8")
    assert _code(exc) == "hub_bad_encoding" and "编码" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        open_file(path, encoding="klingon-8")
    assert _code(exc) == "hub_bad_encoding"


# ---- CSV: structure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_delimiter_is_sniffed(tmp_path: Path, sep: str) -> None:
    """Comma, tab and semicolon files split into the same cells; the full-width comma inside a cell stays text."""
    stream, rows = _read(_write(tmp_path / "d.csv", _csv_text(sep=sep), "utf-8"))
    assert stream.delimiter == sep
    assert stream.columns == HEADER
    assert rows[1][1]["住址"] == "金陵小区3栋2单元301，朝南"


def test_full_width_comma_is_never_a_delimiter(tmp_path: Path) -> None:
    stream, rows = _read(_write(tmp_path / "fw.csv", "姓名，备注\n张三，无\n", "utf-8"))
    assert stream.columns == ["姓名，备注"]
    assert rows == [(1, {"姓名，备注": "张三，无"})]


def test_quoted_newlines_and_quotes_inside_cells(tmp_path: Path) -> None:
    """A quoted cell may hold newlines, commas and doubled quotes; the record after it keeps its own number."""
    text = '姓名,备注\n张三,"第一行\n第二行, 有逗号 ""引号"""\n李四,短\n'
    _, rows = _read(_write(tmp_path / "q.csv", text, "gb18030"))
    assert rows == [(1, {"姓名": "张三", "备注": '第一行\n第二行, 有逗号 "引号"'}), (2, {"姓名": "李四", "备注": "短"})]


def test_ragged_rows_keep_extra_cells_for_quarantine_and_pad_missing_ones(tmp_path: Path) -> None:
    """More cells than headers: the extra cells are kept under the marker key and become a row error; an extra
    empty cell (a trailing comma) is not an error; fewer cells: the missing columns are None."""
    text = "a,b,c\n1,2,3,4,5\n1,2,3,\n1\n"
    _, rows = _read(_write(tmp_path / "r.csv", text, "utf-8"))
    assert rows[0] == (1, {"a": "1", "b": "2", "c": "3", EXTRA_KEY: ["4", "5"]})
    assert [e.rule for e in marker_errors(rows[0][1])] == ["extra_cells"]
    assert rows[1] == (2, {"a": "1", "b": "2", "c": "3"}) and marker_errors(rows[1][1]) == []
    assert rows[2] == (3, {"a": "1", "b": None, "c": None})


def test_header_names_are_cleaned_and_empty_or_repeated_ones_renamed(tmp_path: Path) -> None:
    """BOM, spaces and full-width spaces are stripped; an empty header becomes 列<n>, a repeated one <name>_2,
    and each rename is explained in the stream's notes."""
    text = "\ufeff 姓名 ,\u3000备注,,备注,电话\n张三,甲,x,乙,1\n"
    stream, rows = _read(_write(tmp_path / "h.csv", text, "utf-8"))
    assert stream.columns == ["姓名", "备注", "列3", "备注_2", "电话"]
    assert rows[0][1] == {"姓名": "张三", "备注": "甲", "列3": "x", "备注_2": "乙", "电话": "1"}
    assert any("列3" in n for n in stream.notes) and any("备注_2" in n for n in stream.notes)


def test_blank_records_are_skipped_but_counted_so_row_numbers_match_the_file(tmp_path: Path) -> None:
    """Blank lines before the header are ignored; blank records after it are not yielded, yet row n is always
    the n-th record after the header."""
    text = "\n\n姓名,年龄\n张三,1\n\n,\n李四,2\n"
    _, rows = _read(_write(tmp_path / "b.csv", text, "utf-8"))
    assert [(n, r["姓名"]) for n, r in rows] == [(1, "张三"), (4, "李四")]


@pytest.mark.parametrize(("content", "code"), [(b"", "hub_file_empty"), (b"\r\n\r\n,,\r\n", "hub_no_header")])
def test_empty_or_headerless_file_fails_the_import(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as exc:
        open_file(path)
    assert _code(exc) == code


def test_unknown_extension_and_wrong_connector_fail_clearly(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.doc", "x", "utf-8")
    with pytest.raises(ValidationFailed) as exc:
        open_file(path)
    assert _code(exc) == "hub_unsupported_file" and ".doc" in exc.value.message
    csv_path = _write(tmp_path / "a.csv", _csv_text(), "utf-8")
    with pytest.raises(ValidationFailed) as exc:
        open_file(csv_path, connector="xlsx")
    assert _code(exc) == "hub_not_xlsx"


def test_an_unclosed_quote_fails_with_the_record_number_not_a_memory_blowup(tmp_path: Path) -> None:
    text = '姓名,备注\n张三,"未闭合\n' + ("很长的一行\n" * 30000)
    with pytest.raises(ValidationFailed) as exc:
        list(open_file(_write(tmp_path / "u.csv", text, "utf-8")))
    assert _code(exc) == "hub_file_unreadable" and "第2条" in exc.value.message


def test_progress_counts_bytes_and_a_callers_file_object_stays_open(tmp_path: Path) -> None:
    """``progress`` goes from (0-ish, size) to (size, size); an uploaded file object is read, not closed."""
    path = _write(tmp_path / "p.csv", _csv_text(ROWS * 2000), "gb18030")
    size = path.stat().st_size
    with path.open("rb") as f:
        stream = open_file(f, filename="upload.CSV")
        seen = []
        for i, _ in enumerate(stream):
            if i % 1000 == 0:
                seen.append(stream.progress)
        assert not f.closed
        assert stream.progress == (size, size)
    assert all(total == size for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and seen[0][0] < size


def test_open_bytes_and_file_sha256(tmp_path: Path) -> None:
    data = _csv_text().encode("gb18030")
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    assert [r for _, r in open_bytes(data, "s.csv")] == [r for _, r in open_file(path)]
    import hashlib

    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_a_200k_row_csv_streams_in_constant_memory(tmp_path: Path) -> None:
    """Reading a ~16 MB file row by row peaks far below the file's size (loading it whole would hold the text
    and every row at once: many times the size)."""
    path = tmp_path / "big.csv"
    line = "张三丰,330522198506150012,13800138000,男,1985-06-15,浙江省湖州市长兴县雉城街道明珠路8号3幢2单元301室\n"
    with path.open("w", encoding="gb18030", newline="") as f:
        f.write("姓名,身份证号,手机号,性别,出生日期,住址\n")
        for _ in range(200):
            f.write(line * 1000)
    size = path.stat().st_size
    assert size > 15_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in open_file(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 2_000_000, peak  # < 1/7 of the file's bytes; whole-file reading needs several times the size


# ---- Excel ------------------------------------------------------------------------------------------------------


def _xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_xlsx_cells_come_typed_from_the_first_non_empty_row(tmp_path: Path) -> None:
    """Text, numbers, dates and booleans keep their types; the header is the first non-empty row; extra cells
    are marked like in CSV; a named sheet is read instead of the first."""
    born = dt.datetime(1990, 3, 7)
    path = _xlsx(tmp_path / "p.xlsx", {
        "说明": [["这是说明页"]],
        "人口": [[None, None], [], ["姓名", "出生日期", "年龄", "党员", " 备注 "],
                 ["张三", born, 36, True, None], [None, None], ["李四", 45000, 1.5, False, "x", "多余"]],
    })
    stream, rows = _read(path, sheet="人口")
    assert stream.columns == ["姓名", "出生日期", "年龄", "党员", "备注"]
    assert stream.sheet == "人口"
    assert rows[0] == (1, {"姓名": "张三", "出生日期": born, "年龄": 36, "党员": True, "备注": None})
    assert isinstance(rows[0][1]["出生日期"], dt.datetime)
    number, raw = rows[1]
    assert number == 3 and raw["出生日期"] == 45000 and raw["年龄"] == 1.5 and raw[EXTRA_KEY][-1] == "多余"
    first, _ = _read(path)
    assert first.columns == ["这是说明页"]


def test_xlsx_missing_sheet_not_a_workbook_and_zip_bomb_fail(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "p.xlsx", {"A": [["姓名"], ["张三"]]})
    with pytest.raises(ValidationFailed) as exc:
        open_file(path, sheet="B")
    assert _code(exc) == "hub_sheet_not_found" and "A" in exc.value.message
    fake = _write(tmp_path / "old.xlsx", "not a zip", "utf-8")
    with pytest.raises(ValidationFailed) as exc:
        open_file(fake)
    assert _code(exc) == "hub_not_xlsx" and ".xls" in exc.value.message
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (40 * 1024 * 1024))
    with pytest.raises(ValidationFailed) as exc:
        open_file(bomb)
    assert _code(exc) == "hub_file_too_large"


# ---- JSON and JSON Lines ----------------------------------------------------------------------------------------


RECORDS = [{"name": "张三", "address": {"city": "湖州", "road": {"name": "明珠路", "no": 8}}, "tags": ["a"]},
           {"name": "李四", "phone": "13800138000"}]
FLAT = [{"name": "张三", "address.city": "湖州", "address.road.name": "明珠路", "address.road.no": 8, "tags": ["a"]},
        {"name": "李四", "phone": "13800138000"}]


@pytest.mark.parametrize("body", [RECORDS, {"data": RECORDS, "total": 2}, {"code": 0, "data": {"list": RECORDS}},
                                  {"result": {"people": RECORDS}}])
def test_json_array_plain_or_wrapped_is_flattened(tmp_path: Path, body: Any) -> None:
    """A top-level array, one under a usual key (one object deep too), or under a caller's dotted path; nested
    objects become dotted keys; the columns are the union in order of first appearance."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    json_path = "result.people" if "result" in body else None
    stream, rows = _read(path, json_path=json_path)
    assert [r for _, r in rows] == FLAT
    assert stream.columns == ["name", "address.city", "address.road.name", "address.road.no", "tags", "phone"]
    assert stream.progress == (2, 2)


def test_json_without_records_array_or_broken_fails_and_non_objects_are_error_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"meta": 1}', encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        open_file(path)
    assert _code(exc) == "hub_no_header"
    path.write_text('[{"a": 1},', encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        open_file(path)
    assert _code(exc) == "hub_file_unreadable"
    path.write_text('[{"a": 1}, 7]', encoding="utf-8")
    rows = list(open_file(path))
    assert rows[0] == (1, {"a": 1}) and rows[1][0] == 2 and ERROR_KEY in rows[1][1]
    assert [e.rule for e in marker_errors(rows[1][1])] == ["unreadable_row"]


def test_json_lines_bad_line_becomes_an_error_row_with_its_line_number(tmp_path: Path) -> None:
    """Blank lines are skipped, numbers are line numbers, a broken or non-object line is yielded with the
    parse error and its own text (so quarantine keeps it whole) instead of stopping the import."""
    lines = ['{"name": "张三", "address": {"city": "湖州"}}', "", '{"name": "李四", oops}', "[1, 2]",
             '{"name": "王五", "late": true}']
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="gb18030")
    stream = open_file(path)
    assert stream.encoding == "gb18030"
    assert stream.columns == ["name", "address.city", "late"]
    rows = list(stream)
    assert [n for n, _ in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"name": "张三", "address.city": "湖州"}
    bad = rows[1][1]
    assert "第3行" in bad[ERROR_KEY] and bad[TEXT_KEY] == '{"name": "李四", oops}'
    assert ERROR_KEY in rows[2][1] and rows[3][1] == {"name": "王五", "late": True}
    assert stream.progress[0] == stream.progress[1] == path.stat().st_size


# ---- REST -------------------------------------------------------------------------------------------------------


ITEMS = [{"id": i, "name": f"居民{i}", "addr": {"road": "明珠路", "no": i}} for i in range(1, 24)]  # 23 rows
TOKEN = "s3cret-token"


class _Api(BaseHTTPRequestHandler):
    """Pages of ITEMS: /next (next link in the body), /link (Link header), /offset (offset+limit, total),
    /page (page number), /flaky (500 on each path's first call), /auth (needs the bearer token)."""

    calls: dict[str, int] = {}

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: int(v[0]) for k, v in parse_qs(url.query).items() if v[0].isdigit()}
        _Api.calls[self.path] = _Api.calls.get(self.path, 0) + 1
        if url.path == "/auth" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"error": "unauthorised"})
        if url.path == "/flaky" and _Api.calls[self.path] == 1:
            return self._send(500, {"error": "boom"})
        if url.path in ("/next", "/flaky", "/auth"):
            page = q.get("page", 1)
            items = ITEMS[(page - 1) * 5: page * 5]
            more = page * 5 < len(ITEMS)
            return self._send(200, {"items": items, "next": f"{url.path}?page={page + 1}&t=1" if more else None})
        if url.path == "/link":
            page = q.get("page", 1)
            more = page * 10 < len(ITEMS)
            headers = {"Link": f'<http://{self.headers["Host"]}/link?page={page + 1}>; rel="next"'} if more else {}
            return self._send(200, ITEMS[(page - 1) * 10: page * 10], headers)
        if url.path == "/offset":
            off, limit = q.get("offset", 0), q.get("limit", 5)
            return self._send(200, {"code": 0, "data": {"list": ITEMS[off: off + limit], "total": len(ITEMS)}})
        if url.path == "/page":
            page, size = q.get("p", 0), q.get("size", 5)
            return self._send(200, {"results": ITEMS[page * size: (page + 1) * size]})
        return self._send(404, {})


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _ids(rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, Any]]:
    return [(n, r["id"]) for n, r in rows]


EXPECTED = [(i, i) for i in range(1, 24)]


@pytest.mark.parametrize(("path", "options"), [
    ("/next", {}),
    ("/link", {}),
    ("/offset", {"offset_param": "offset", "limit_param": "limit", "page_size": 5}),
    ("/page", {"page_param": "p", "first_page": 0, "limit_param": "size", "page_size": 4}),
])
def test_rest_pull_pages_through_next_links_link_headers_offsets_and_page_numbers(api: str, path: str,
                                                                                   options: dict[str, Any]) -> None:
    """Every paging style yields all rows once, numbered 1… across pages, flattened; the cursor ends as None."""
    stream = rest_pull(api + path, **options)
    assert stream.columns == ["id", "name", "addr.road", "addr.no"]
    rows = list(stream)
    assert _ids(rows) == EXPECTED
    assert rows[0][1]["addr.no"] == 1
    assert stream.cursor is None


def test_rest_progress_reports_the_total_the_api_gives(api: str) -> None:
    stream = rest_pull(api + "/offset", offset_param="offset", limit_param="limit", page_size=10)
    assert stream.progress == (0, 23)
    it = iter(stream)
    next(it)
    assert stream.progress == (1, 23)


@pytest.mark.parametrize(("path", "options"), [
    ("/next", {}),
    ("/offset", {"offset_param": "offset", "limit_param": "limit", "page_size": 5}),
])
@pytest.mark.parametrize("stop_after", [3, 5, 10, 22])
def test_rest_resume_from_the_cursor_yields_exactly_the_remaining_rows(api: str, path: str,
                                                                       options: dict[str, Any],
                                                                       stop_after: int) -> None:
    """A pull stopped after any row (inside a page or at its end) and resumed from its cursor — stored as text,
    like ``Import.cursor`` — yields the remaining rows with the same numbers, none twice, none lost."""
    first = rest_pull(api + path, **options)
    it = iter(first)
    head = [next(it) for _ in range(stop_after)]
    cursor = first.cursor
    assert isinstance(cursor, str)
    first.close()
    rest = list(rest_pull(api + path, cursor=cursor, **options))
    assert _ids(head + rest) == EXPECTED


def test_rest_retries_a_server_error_and_fails_clearly_when_it_persists(api: str) -> None:
    """A 500 is retried after a back-off; a server that keeps failing ends in a Chinese error after the bounded
    retries."""
    waits: list[float] = []
    rows = list(rest_pull(api + "/flaky", backoff=0.01, sleep=waits.append))
    assert _ids(rows) == EXPECTED
    assert len(waits) == 5  # one retry per page: each page's URL fails once
    assert waits[0] == 0.01
    waits.clear()
    with pytest.raises(ValidationFailed) as exc:
        rest_pull("http://127.0.0.1:9/nothing", retries=2, backoff=0.01, sleep=waits.append, timeout=0.5)
    assert _code(exc) == "hub_rest_unavailable" and "重试 2 次" in exc.value.message
    assert waits == [0.01, 0.02]


def test_rest_auth_header_is_sent_and_a_401_is_a_clear_error_without_the_token(api: str) -> None:
    rows = list(rest_pull(api + "/auth", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert len(rows) == 23
    with pytest.raises(ValidationFailed) as exc:
        rest_pull(api + f"/auth?access_token={TOKEN}", headers={"Authorization": "Bearer wrong"})
    assert _code(exc) == "hub_rest_denied" and "认证" in exc.value.message
    assert TOKEN not in exc.value.message and "wrong" not in exc.value.message


def test_rest_rejects_a_bad_cursor_a_non_http_url_and_a_missing_endpoint(api: str) -> None:
    for url, kw, code in [(api + "/next", {"cursor": "garbage"}, "hub_rest_bad_cursor"),
                          ("file:///etc/passwd", {}, "hub_rest_bad_url"),
                          (api + "/missing", {}, "hub_rest_not_found")]:
        with pytest.raises(ValidationFailed) as exc:
            rest_pull(url, **kw)
        assert _code(exc) == code


def test_io_bytes_upload_of_every_file_kind(tmp_path: Path) -> None:
    """Uploads arrive as binary file objects; the extension of their name picks the reader."""
    buf = io.BytesIO()
    _xlsx(tmp_path / "x.xlsx", {"S": [["姓名"], ["张三"]]})
    buf.write((tmp_path / "x.xlsx").read_bytes())
    buf.seek(0)
    assert list(open_file(buf, filename="上传.xlsx")) == [(1, {"姓名": "张三"})]
    assert list(open_bytes('{"姓名": "张三"}\n'.encode(), "a.jsonl")) == [(1, {"姓名": "张三"})]


def test_excel_unicode_text_export_utf16_with_tabs_is_read(tmp_path: Path) -> None:
    """Excel's "Unicode 文本" export is UTF-16 with a BOM and tab-separated; it reads like the UTF-8 CSV."""
    stream, rows = _read(_write(tmp_path / "u.txt", "\ufeff" + _csv_text(sep="\t"), "utf-16-le"))
    assert stream.encoding == "utf-16" and stream.delimiter == "\t"
    assert stream.columns == HEADER and rows[0][1]["姓名"] == "张三"


def test_a_spooled_upload_is_streamed_and_a_stream_closes_as_a_context_manager(tmp_path: Path) -> None:
    """FastAPI spools uploads to a SpooledTemporaryFile: the connector reads it as it is and leaves it open;
    ``with`` closes a file the connector opened itself even when the reader stops midway."""
    import tempfile

    with tempfile.SpooledTemporaryFile(max_size=64) as spooled:
        spooled.write(_csv_text().encode("gb18030"))
        spooled.seek(0)
        stream = open_file(spooled, filename="上传.csv")
        assert [r["姓名"] for _, r in stream] == ["张三", "李四", "䶮王五"]
        assert not spooled.closed
    path = _write(tmp_path / "c.csv", _csv_text(), "utf-8")
    with open_file(path) as s:
        next(iter(s))
    assert isinstance(s, CsvStream) and s._src.f.closed
