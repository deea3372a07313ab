"""JSON and JSON Lines connectors (opened through :func:`zhili.datahub.connectors.open_file`).

No streaming JSON parser is installed, so a JSON *array* document is parsed whole under :data:`MAX_JSON_BYTES`;
JSON Lines is the streaming format for large exports (one object per line, constant memory, a bad line becomes an
error row with its line number). Nested objects are flattened into dotted keys (``address.city``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from zhili.datahub.connectors_base import (
    ERROR_KEY,
    MARKER_KEYS,
    TEXT_KEY,
    Closing,
    Source,
    check_sample,
    detect_encoding_bytes,
    detect_stream,
    normalise_encoding,
    open_text,
    unreadable,
)
from zhili.datahub.rows import RawRow

MAX_JSON_BYTES = 64 * 1024 * 1024  # a JSON array is parsed whole: bigger exports must come as JSON Lines
MAX_LINE_CHARS = 4 * 1024 * 1024  # one JSON line longer than this is an error row, not a memory spike
JSON_ITEM_KEYS = ("data", "items", "records", "rows", "results", "list")

def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object with nested objects flattened into dotted keys (``address.city``); lists stay values."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def find_items(body: Any, path: str | None = None) -> list[Any] | None:
    """The list of records in a JSON document: the document itself if it is a list, the value at the dotted
    ``path`` if given, else the first list under a usual key (``data``, ``items``, ``records``, ``rows``,
    ``results``, ``list``), looking one object deeper (``{"data": {"list": […]}}``); None when there is none."""
    if path:
        node = body
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, list) else None
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return None
    for key in JSON_ITEM_KEYS:
        if isinstance(body.get(key), list):
            return body[key]
    for key in JSON_ITEM_KEYS:
        inner = body.get(key)
        if isinstance(inner, dict):
            for k in JSON_ITEM_KEYS:
                if isinstance(inner.get(k), list):
                    return inner[k]
    return None


def item_row(item: Any, where: str) -> RawRow:
    """One JSON item as a raw row: a flattened object, or an error row when it is not an object."""
    if isinstance(item, dict):
        return flatten(item)
    return {ERROR_KEY: f"{where}不是 JSON 对象（应为 {{\"列名\": 值}} 形式）",
            TEXT_KEY: json.dumps(item, ensure_ascii=False)[:10000]}


def union_columns(rows: Iterable[RawRow], columns: list[str] | None = None) -> list[str]:
    """Column names in order of first appearance (marker keys left out), extending ``columns`` in place."""
    cols = columns if columns is not None else []
    seen = set(cols)
    for r in rows:
        for k in r:
            if k not in seen and k not in MARKER_KEYS:
                seen.add(k)
                cols.append(k)
    return cols


def _decode_json_bytes(data: bytes, enc: str) -> str:
    try:
        return data.decode(enc)
    except UnicodeDecodeError:
        raise unreadable(f"文件无法按 {enc.upper()} 编码读取，请改选编码后重新导入", code="hub_bad_encoding") from None


class JsonStream(Closing):
    """The records of a JSON document (an array of objects, or an object holding one — see :func:`find_items`),
    parsed whole under :data:`MAX_JSON_BYTES`. ``progress`` is (items done, items in all)."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, encoding: str | None = None,
                 json_path: str | None = None) -> None:
        src = Source(source)
        try:
            if src.size == 0:
                raise unreadable("文件是空的", code="hub_file_empty")
            data = src.f.read(MAX_JSON_BYTES + 1)
        finally:
            src.close()
        if len(data) > MAX_JSON_BYTES:
            raise unreadable(f"JSON 文件超过 {MAX_JSON_BYTES // 1024 // 1024}MB，请改用 JSON Lines（每行一个对象）格式",
                              code="hub_file_too_large")
        enc = normalise_encoding(encoding) if encoding else detect_encoding_bytes(data, complete=True)
        self.encoding: str | None = enc
        try:
            body = json.loads(_decode_json_bytes(data, enc))
        except json.JSONDecodeError as exc:
            raise unreadable(f"不是有效的 JSON 文件（第{exc.lineno}行第{exc.colno}列附近）") from None
        del data
        items = find_items(body, json_path)
        if items is None:
            where = f"“{json_path}”处" if json_path else "顶层或 data、items、records、rows、results 下"
            raise unreadable(f"JSON 文件{where}没有找到记录数组", code="hub_no_header")
        self._items = items
        self.columns = union_columns(flatten(i) for i in items if isinstance(i, dict))
        if not self.columns and items:
            raise unreadable("JSON 记录里没有任何字段", code="hub_no_header")
        self.notes: list[str] = []
        self._done = 0

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        for number, item in enumerate(self._items, start=1):
            self._done = number
            yield number, item_row(item, f"第{number}条记录")

    @property
    def progress(self) -> tuple[int, int | None]:
        return self._done, len(self._items)


class JsonLinesStream(Closing):
    """JSON Lines, streamed: one object per line, blank lines skipped, row number = line number. A line that is
    not a JSON object is yielded as an error row (:data:`ERROR_KEY`, its text under :data:`TEXT_KEY`).
    ``columns`` come from the first :data:`COLUMN_SAMPLE` lines and grow as later lines bring new keys."""

    COLUMN_SAMPLE = 200

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, encoding: str | None = None) -> None:
        self._src = Source(source)
        try:
            f = self._src.f
            if self._src.size == 0:
                raise unreadable("文件是空的", code="hub_file_empty")
            if encoding:
                self.encoding: str | None = normalise_encoding(encoding)
                check_sample(f, self.encoding)
            else:
                self.encoding = detect_stream(f)
            self._start = self._src.tell()
            self._text = open_text(self._src, self.encoding, newline=None)
            cookie = self._text.tell()
            head = [row for _, row in self._lines(limit=self.COLUMN_SAMPLE)]
            if not head:
                raise unreadable("文件里没有任何记录", code="hub_no_header")
            self.columns = union_columns(head)  # bad lines only: no columns, every row goes to quarantine
            self._seen = set(self.columns)
            self._text.seek(cookie)
            self.notes: list[str] = []
            self._done = 0
        except BaseException:
            self._src.close()
            raise

    def _readline(self) -> tuple[str, bool]:
        """The next line (without its newline) and whether it was cut at :data:`MAX_LINE_CHARS` (then the rest
        of the line is skipped); ``("", False)`` at the end — an empty line answers ``("\\n", …)`` first."""
        line = self._text.readline(MAX_LINE_CHARS)
        if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
            while (rest := self._text.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
            return line[:200], True
        return line, False

    def _lines(self, limit: int | None = None) -> Iterator[tuple[int, RawRow]]:
        number = yielded = 0
        while limit is None or yielded < limit:
            try:
                line, cut = self._readline()
            except UnicodeDecodeError:
                raise unreadable(f"第{number + 1}行附近有无法按 {str(self.encoding).upper()} 编码读取的内容，"
                                  "请确认文件编码后重新导入", code="hub_bad_encoding") from None
            if not line:
                return
            number += 1
            text = line.strip()
            if not text:
                continue
            if number == 1:
                text = text.lstrip("\ufeff")
            yielded += 1
            if cut:
                yield number, {ERROR_KEY: f"第{number}行过长（超过 {MAX_LINE_CHARS // 1024 // 1024}M 字符），未能读取",
                               TEXT_KEY: text}
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, {ERROR_KEY: f"第{number}行不是有效的 JSON（第{exc.colno}个字符附近）",
                               TEXT_KEY: text}
                continue
            yield number, item_row(value, f"第{number}行")

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        try:
            for number, raw in self._lines():
                self._done = number
                if not self._seen.issuperset(raw):
                    union_columns([raw], self.columns)
                    self._seen.update(raw)
                yield number, raw
        finally:
            self.close()

    @property
    def progress(self) -> tuple[int, int | None]:
        return max(self._src.tell() - self._start, 0), self._src.size

    def close(self) -> None:
        self._src.close()
