"""Connectors: turn a file (CSV, Excel .xlsx, JSON, JSON Lines) into a :class:`~zhili.datahub.rows.RowStream`.

:func:`open_file` picks the reader by the file's extension (or the caller's ``connector``) and answers a stream
whose ``columns`` are known before the first row; iterating it yields ``(row_number, raw_row)``. Every reader
streams: CSV through the :mod:`csv` module over a text wrapper, .xlsx through openpyxl's read-only mode, JSON
Lines one line at a time. A JSON *array* is loaded whole (no streaming JSON parser is installed) under
:data:`~zhili.datahub.connectors_json.MAX_JSON_BYTES`; JSON Lines is the streaming format for large JSON
exports. The REST pull lives in :mod:`zhili.datahub.connectors_rest`.

Row numbers count data rows from 1 (the header is not a row) and are the same on every run over the same file:

* CSV and .xlsx: the n-th record after the header row; blank records are counted but not yielded, so row ``n``
  of a sheet is sheet row ``header_row + n``;
* JSON array: the item's position (1-based); JSON Lines: the physical line number (blank lines skipped).

A row that cannot be read cleanly is still yielded — never dropped, never a crash — with a marker key the
pipeline turns into a quarantine reason through :func:`marker_errors`: :data:`EXTRA_KEY` holds the non-empty cells
beyond the header of a ragged CSV/xlsx row, :data:`ERROR_KEY` the Chinese parse error of a JSON line (with the
line's text under :data:`TEXT_KEY`). A file that cannot be read at all (not an .xlsx, wrong encoding, empty, no
header, too large) raises :class:`~zhili.core.errors.ValidationFailed` with a stable code: the import fails.

Header names are stripped of BOM and whitespace; an empty header becomes ``列<position>`` and a repeated one
``<name>_2``, ``<name>_3`` … (a deterministic rename, listed in the stream's ``notes``), so no cell is lost.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from zhili.core.errors import ValidationFailed
from zhili.datahub.connectors_base import (
    ERROR_KEY,
    EXTRA_KEY,
    MARKER_KEYS,
    SAMPLE_BYTES,
    TEXT_KEY,
    Closing,
    Source,
    blank,
    check_sample,
    clean_header,
    detect_encoding,
    detect_encoding_bytes,
    detect_stream,
    file_sha256,
    make_row,
    marker_errors,
    normalise_encoding,
    open_text,
    unreadable,
)
from zhili.datahub.connectors_json import JsonLinesStream, JsonStream, flatten
from zhili.datahub.models import Connector
from zhili.datahub.rows import RawRow

__all__ = ["ERROR_KEY", "EXTRA_KEY", "MARKER_KEYS", "TEXT_KEY", "CsvStream", "FileStream", "JsonLinesStream",
           "JsonStream", "XlsxStream", "clean_header", "connector_for", "detect_encoding", "detect_encoding_bytes",
           "file_sha256", "flatten", "marker_errors", "open_bytes", "open_file", "sniff_delimiter"]

MAX_XLSX_EXPANDED_BYTES = 2 * 1024 * 1024 * 1024  # what an .xlsx (a zip) may unpack to
MAX_XLSX_RATIO = 200  # compression ratio of one member above which it is taken for a zip bomb
XLSX_RATIO_FLOOR = 16 * 1024 * 1024  # … checked only for members bigger than this once unpacked
DELIMITERS = (",", "\t", ";", "|")  # the full-width comma "，" is text, never a delimiter

BY_EXTENSION = {".csv": Connector.csv, ".txt": Connector.csv, ".tsv": Connector.csv, ".xlsx": Connector.xlsx,
                ".xlsm": Connector.xlsx, ".json": Connector.json, ".jsonl": Connector.jsonl,
                ".ndjson": Connector.jsonl}


# --------------------------------------------------------------------------------------------------------------
# CSV


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample: the candidate (comma, tab, semicolon, bar) whose first lines split into
    the most rows of the header's width, then the widest header; a single column answers comma."""
    lines = text.splitlines()[:50]
    if len(lines) > 1 and len(text) >= SAMPLE_BYTES // 2:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    best, best_score = ",", (0.0, 1)
    for d in DELIMITERS:
        try:
            rows = [r for r in csv.reader(lines, delimiter=d) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best_score:
            best, best_score = d, score
    return best

class CsvStream(Closing):
    """A CSV file's rows (see the module docstring). ``progress`` is (bytes decoded so far, file size); the
    file is closed when iteration ends (or on :meth:`close`)."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, encoding: str | None = None,
                 delimiter: str | None = None) -> None:
        self._src = Source(source)
        try:
            self._open(encoding, delimiter)
        except BaseException:
            self._src.close()
            raise

    def _open(self, encoding: str | None, delimiter: str | None) -> None:
        f = self._src.f
        if self._src.size == 0:
            raise unreadable("文件是空的", code="hub_file_empty")
        if encoding:
            self.encoding: str | None = normalise_encoding(encoding)
            check_sample(f, self.encoding)
        else:
            self.encoding = detect_stream(f)
        self._start = self._src.tell()
        self._text = open_text(self._src, self.encoding, newline="")
        cookie = self._text.tell()
        try:
            sample = self._text.read(SAMPLE_BYTES // 2)
        except UnicodeDecodeError:
            raise unreadable(f"文件无法按 {self.encoding.upper()} 编码读取，请改选编码后重新导入",
                              code="hub_bad_encoding") from None
        self.delimiter = delimiter or sniff_delimiter(sample)
        self._text.seek(cookie)
        self._reader = csv.reader(self._text, delimiter=self.delimiter)
        self._records = 0
        header: list[str] | None = None
        for cells in self._guarded(self._reader):
            self._records += 1
            if any(not blank(c) for c in cells):
                header = cells
                break
        if header is None:
            raise unreadable("文件没有表头行（第一行应为列名）", code="hub_no_header")
        self.columns, self.notes = clean_header(header)
        if not self.columns:
            raise unreadable("文件没有表头行（第一行应为列名）", code="hub_no_header")
        self.rows_read = 0

    def _failed(self, exc: Exception) -> ValidationFailed:
        where = f"第{self._records + 1}条记录"
        if isinstance(exc, UnicodeDecodeError):
            return unreadable(f"{where}附近有无法按 {str(self.encoding).upper()} 编码读取的内容，请确认文件编码后"
                              "重新导入", code="hub_bad_encoding")
        return unreadable(f"{where}无法解析：引号未闭合或单元格过长", code="hub_file_unreadable")

    def _guarded(self, reader: Iterator[list[str]]) -> Iterator[list[str]]:
        try:
            yield from reader
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._failed(exc) from None

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        header_records = self._records
        columns, width = self.columns, len(self.columns)
        try:
            for cells in self._reader:  # the hot loop: kept free of calls a plain row does not need
                self._records += 1
                for c in cells:
                    if c and not c.isspace():
                        break
                else:
                    continue  # a blank record: counted, not yielded
                self.rows_read += 1
                if len(cells) == width:
                    yield self._records - header_records, dict(zip(columns, cells))  # noqa: B905 - same length
                else:
                    yield self._records - header_records, make_row(columns, cells)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._failed(exc) from None
        finally:
            self.close()

    @property
    def progress(self) -> tuple[int, int | None]:
        return max(self._src.tell() - self._start, 0), self._src.size

    def close(self) -> None:
        self._src.close()


# --------------------------------------------------------------------------------------------------------------
# Excel .xlsx


def _check_zip(f: BinaryIO) -> None:
    """Refuse what is not an .xlsx and what would unpack to too much (a zip bomb). The declared sizes can be
    trusted as a bound: :mod:`zipfile` never yields more than a member's declared size."""
    start = f.tell()
    try:
        with zipfile.ZipFile(f) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise unreadable("无法读取该文件：请使用 Excel 2007 及以上版本的 .xlsx 文件（不支持 .xls，可另存为 .xlsx）",
                          code="hub_not_xlsx") from None
    finally:
        f.seek(start)
    expanded = sum(m.file_size for m in members)
    bomb = any(m.file_size > XLSX_RATIO_FLOOR and m.file_size > MAX_XLSX_RATIO * max(m.compress_size, 1)
               for m in members)
    if expanded > MAX_XLSX_EXPANDED_BYTES or bomb:
        raise unreadable("文件解压后内容异常地大，请拆分后分批导入或另存为 CSV", code="hub_file_too_large")


class XlsxStream(Closing):
    """One worksheet's rows, typed as openpyxl reads them (text, int/float, datetime, bool). The header is the
    first non-empty row. ``progress`` is (rows read, rows the sheet declares or None) — openpyxl does not tell
    how far into the file it is."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, sheet: str | None = None) -> None:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        self.encoding: str | None = None
        self._src = Source(source)
        try:
            if self._src.size == 0:
                raise unreadable("文件是空的", code="hub_file_empty")
            _check_zip(self._src.f)
            try:
                self._wb = load_workbook(self._src.f, read_only=True, data_only=True)
            except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError):
                raise unreadable("无法读取该文件：请使用 Excel 2007 及以上版本的 .xlsx 文件",
                                 code="hub_not_xlsx") from None
            self._open_sheet(sheet)
        except BaseException:
            self.close()
            raise

    def _open_sheet(self, sheet: str | None) -> None:
        names = self._wb.sheetnames
        if sheet is not None and sheet not in names:
            raise ValidationFailed(f"工作簿中没有名为“{sheet[:40]}”的工作表，现有：{'、'.join(names)[:200]}",
                                   code="hub_sheet_not_found")
        ws = self._wb[sheet] if sheet is not None else self._wb.worksheets[0]
        self.sheet = ws.title
        self._declared = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 0 else None
        self._rows = iter(ws.iter_rows(values_only=True))
        self._header_row = 0
        header = None
        for cells in self._rows:
            self._header_row += 1
            if any(not blank(c) for c in cells):
                header = cells
                break
        if header is None:
            raise unreadable(f"工作表“{self.sheet}”没有表头行（第一行应为列名）", code="hub_no_header")
        self.columns, self.notes = clean_header(header)
        self.rows_read = 0
        self._done = 0

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        try:
            for number, cells in enumerate(self._rows, start=1):
                self._done = number
                if all(blank(c) for c in cells):
                    continue
                self.rows_read += 1
                yield number, make_row(self.columns, cells)
        finally:
            self.close()

    @property
    def progress(self) -> tuple[int, int | None]:
        total = self._declared - self._header_row if self._declared else None
        return self._done, total

    def close(self) -> None:
        wb = getattr(self, "_wb", None)
        if wb is not None:
            wb.close()
        self._src.close()

# --------------------------------------------------------------------------------------------------------------
# Choosing a reader


FileStream = CsvStream | XlsxStream | JsonStream | JsonLinesStream


def connector_for(filename: str) -> Connector:
    """The connector a file name's extension implies; an unknown extension is a Chinese error."""
    ext = Path(filename).suffix.lower()
    if ext not in BY_EXTENSION:
        raise ValidationFailed(f"不支持的文件类型“{ext[:10] or '无扩展名'}”：支持 .csv、.xlsx、.json、.jsonl",
                               code="hub_unsupported_file")
    return BY_EXTENSION[ext]


def open_file(source: str | os.PathLike[str] | IO[bytes], *, connector: Connector | str | None = None,
              encoding: str | None = None, sheet: str | None = None, delimiter: str | None = None,
              json_path: str | None = None, filename: str | None = None) -> FileStream:
    """A :class:`~zhili.datahub.rows.RowStream` over a file path or a binary file object (an upload spooled
    to disk: it is read from its current position and left open). The reader is ``connector`` if given, else
    the extension of the path (or of ``filename`` for a file object). ``encoding`` (CSV, JSON) is detected when
    None; ``sheet`` (xlsx) defaults to the first; ``delimiter`` (CSV) is sniffed when None; ``json_path`` is a
    dotted path to the records array of a JSON document."""
    if connector is None:
        name = filename or (str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", ""))
        kind = connector_for(str(name or ""))
    else:
        try:
            kind = Connector(connector)
        except ValueError:
            raise ValidationFailed("不支持的连接器类型", code="hub_unsupported_file") from None
    f: str | os.PathLike[str] | BinaryIO = source  # type: ignore[assignment]
    if kind == Connector.csv:
        return CsvStream(f, encoding=encoding, delimiter=delimiter)
    if kind == Connector.xlsx:
        return XlsxStream(f, sheet=sheet)
    if kind == Connector.json:
        return JsonStream(f, encoding=encoding, json_path=json_path)
    if kind == Connector.jsonl:
        return JsonLinesStream(f, encoding=encoding)
    raise ValidationFailed("REST 数据源请使用接口拉取，而不是上传文件", code="hub_unsupported_file")


def open_bytes(data: bytes, filename: str, **options: Any) -> FileStream:
    """:func:`open_file` over bytes already in memory (small uploads, tests); big uploads should be spooled to
    disk and passed as a file object instead."""
    return open_file(io.BytesIO(data), filename=filename, **options)
