"""What every file connector shares (:mod:`zhili.datahub.connectors` is the entry point): the marker keys of
rows that could not be read cleanly, encoding detection, header cleaning, ragged rows, the opened file.

Encoding rule (measured in ``bench/hub_csv_stream.py``): a BOM decides; else the first chunk with a non-ASCII byte
is tried as strict UTF-8; else GB18030 (a superset of GBK and GB2312). Every GB name a caller gives is decoded as
GB18030 too.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Self

from zhili.core.errors import ValidationFailed
from zhili.datahub.rows import RawRow, RowError

EXTRA_KEY = "__extra__"  # cells beyond the header (a list), the row is quarantined
ERROR_KEY = "__error__"  # the Chinese reason a row (a JSON line, an item) could not be read
TEXT_KEY = "__text__"  # the unreadable row's own text, kept so quarantine holds it whole
MARKER_KEYS = (EXTRA_KEY, ERROR_KEY, TEXT_KEY)

SAMPLE_BYTES = 64 * 1024  # what encoding and delimiter detection look at
CHUNK_BYTES = 1024 * 1024
UNICODE_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
GB_ALIASES = {"gbk", "gb2312", "gb_2312", "gb-2312", "cp936", "936", "ms936", "euc-cn", "euccn", "gb18030", "gb-18030"}

def unreadable(message: str, code: str = "hub_file_unreadable") -> ValidationFailed:
    return ValidationFailed(message, code=code)


def marker_errors(raw: RawRow) -> list[RowError]:
    """The reasons a raw row carries for quarantine (a ragged row, an unreadable JSON line), as row errors."""
    out: list[RowError] = []
    if raw.get(ERROR_KEY):
        out.append(RowError(None, "unreadable_row", str(raw[ERROR_KEY])))
    extra = raw.get(EXTRA_KEY)
    if extra:
        out.append(RowError(None, "extra_cells",
                            f"该行比表头多出 {len(extra)} 个单元格，可能是分隔符或引号错位，请核对后重新导入"))
    return out


# --------------------------------------------------------------------------------------------------------------
# Files: hashing, encodings


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks (an import's idempotency key)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def normalise_encoding(name: str) -> str:
    """A caller's encoding name as the codec we decode with: every GB name becomes GB18030 (a strict superset
    of GBK and GB2312, so a valid GBK file decodes identically), UTF-8 becomes ``utf-8-sig`` (a BOM, if any, is
    dropped rather than glued to the first header)."""
    key = name.strip().lower().replace("_", "-")
    if key in GB_ALIASES or key.replace("-", "") in GB_ALIASES:
        return "gb18030"
    try:
        codec = codecs.lookup(key).name
    except LookupError:
        raise ValidationFailed(f"不认识的文件编码“{name[:40]}”，常用的有 UTF-8、GB18030（GBK）",
                               code="hub_bad_encoding") from None
    return "utf-8-sig" if codec == "utf-8" else codec


def _decoded(sample: bytes, encoding: str, complete: bool) -> str | None:
    """``sample`` decoded strictly, or None; a multi-byte sequence cut by the end of an incomplete sample is
    fine."""
    try:
        return codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
    except UnicodeDecodeError:
        return None


def _cjk_share(text: str) -> float:
    """The share of Chinese characters and CJK punctuation among the non-ASCII characters of ``text``."""
    wide = [c for c in text if ord(c) > 127]
    cjk = sum(1 for c in wide if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
              or "\u3400" <= c <= "\u4dbf")
    return cjk / len(wide) if wide else 0.0


def detect_encoding_bytes(head: bytes, more: Iterable[bytes] = (), *, complete: bool = False) -> str:
    """The encoding of a text whose first bytes are ``head``: a BOM decides (``utf-8-sig`` / ``utf-16``);
    else the first chunk holding any non-ASCII byte (``head`` or a following chunk from ``more``) is tried as
    strict UTF-8, and GB18030 is taken when it is not. When both decode (possible for a few bytes: GBK "女" is
    C5 AE, valid UTF-8 for "Ů"), the decoding with the larger share of Chinese characters wins, UTF-8 on a
    tie. Pure ASCII answers ``utf-8-sig``.

    Why no statistical detector: on the bench (``bench/hub_csv_stream.py``) charset-normalizer gets more short
    GBK samples wrong than this rule (44 of 800 against 0) and is ~15× slower; valid UTF-8 of Chinese text is almost
    never produced by GB encodings by accident."""
    for bom, name in UNICODE_BOMS:
        if head.startswith(bom):
            return name
    chunk = head
    chunks = iter(more)
    while chunk.isascii():
        nxt = next(chunks, None)
        if nxt is None:
            return "utf-8-sig"
        chunk = chunk[-3:] + nxt  # keep a sequence cut at the boundary whole
        complete = False
    as_utf8 = _decoded(chunk, "utf-8", complete)
    if as_utf8 is None:
        return "gb18030"
    as_gb = _decoded(chunk, "gb18030", complete)
    if as_gb is not None and _cjk_share(as_gb) > _cjk_share(as_utf8):
        return "gb18030"
    return "utf-8-sig"


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK_BYTES):
        yield chunk


def detect_encoding(path: str | os.PathLike[str]) -> str:
    """The encoding of a text file (see :func:`detect_encoding_bytes`). A pure-ASCII start is read on, chunk
    by chunk, until the first non-ASCII byte, so a GBK file with an English header is not taken for UTF-8."""
    with open(path, "rb") as f:
        return detect_stream(f)


def detect_stream(f: BinaryIO) -> str:
    start = f.tell()
    head = f.read(SAMPLE_BYTES)
    complete = len(head) < SAMPLE_BYTES
    try:
        return detect_encoding_bytes(head, _chunks(f), complete=complete)
    finally:
        f.seek(start)


def check_sample(f: BinaryIO, encoding: str) -> None:
    """Refuse a caller-chosen encoding the file's first bytes do not decode in (an import failure up front)."""
    start = f.tell()
    sample = f.read(SAMPLE_BYTES)
    f.seek(start)
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=len(sample) < SAMPLE_BYTES)
    except UnicodeDecodeError:
        raise unreadable(f"文件不是 {encoding.upper()} 编码，请改选编码（如 GB18030 或 UTF-8）后重新导入",
                          code="hub_bad_encoding") from None


# --------------------------------------------------------------------------------------------------------------
# Headers


def clean_header(values: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Header cells as unique column names, and Chinese notes on what was renamed: BOM and whitespace stripped
    (full-width space included), an empty name becomes ``列<position>``, a repeated one ``<name>_2`` …"""
    names: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    raw = ["" if v is None else str(v).replace("\ufeff", "").strip() for v in values]
    while raw and not raw[-1]:
        raw.pop()  # trailing empty header cells: their data cells count as extra only if non-empty
    for i, name in enumerate(raw, start=1):
        base = name or f"列{i}"
        new, k = base, 1
        while new in seen or new in MARKER_KEYS:
            k += 1
            new = f"{base}_{k}"
        if not name:
            notes.append(f"第{i}列表头为空，已命名为“{new}”")
        elif new != name:
            notes.append(f"第{i}列表头“{name}”重复，已改名为“{new}”")
        seen.add(new)
        names.append(new)
    return names, notes


def blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def make_row(columns: list[str], cells: list[Any] | tuple[Any, ...]) -> RawRow:
    """Cells by column; missing cells are None, non-empty cells beyond the header go under :data:`EXTRA_KEY`."""
    width = len(columns)
    raw: RawRow = dict(zip(columns, cells, strict=False))
    if len(cells) < width:
        for name in columns[len(cells):]:
            raw[name] = None
    elif len(cells) > width:
        extra = [c for c in cells[width:] if not blank(c)]
        if extra:
            raw[EXTRA_KEY] = list(cells[width:])
    return raw


class Closing:
    """A stream that may be used as a context manager, so a pipeline that stops midway closes the file."""

    def close(self) -> None:
        """Release the file (or connection); iterating to the end does it too."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Source:
    """A binary file opened for reading, from a path or a caller's binary file object (left open)."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(source, (str, os.PathLike)):
            try:
                self.f: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed by close()
            except OSError:
                raise unreadable("无法打开文件，请确认文件存在且可读") from None
            self.own = True
        else:
            self.f, self.own = source, False
        try:
            start = self.f.tell()
            self.f.seek(0, io.SEEK_END)
            self.size: int | None = self.f.tell() - start
            self.f.seek(start)
        except (OSError, ValueError):
            self.size = None

        self.text: io.TextIOWrapper | None = None
        self.final: int | None = None  # where reading ended, once closed

    def tell(self) -> int:
        if self.final is not None:
            return self.final
        try:
            return self.f.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        """Close what we opened; a caller's file object stays open (the text wrapper is detached from it, or
        collecting the wrapper would close the caller's file)."""
        if self.final is None:
            self.final = self.tell()
        if self.text is not None:
            if self.own:
                self.text.close()
            elif not self.text.closed:
                self.text.detach()
            self.text = None
        if self.own:
            self.f.close()


def open_text(src: Source, encoding: str, newline: str | None) -> io.TextIOWrapper:
    src.text = io.TextIOWrapper(src.f, encoding=encoding, errors="strict", newline=newline)
    return src.text

