"""Attachment storage behind a small interface; local folder by default. Types are checked by content."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from zhili.core.errors import ValidationFailed
from zhili.core.settings import get_settings

# Magic numbers of the types accepted as case attachments.
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"WEBP", 8, "image/webp", ".webp"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
    (b"ftypmp4", 4, "video/mp4", ".mp4"),
    (b"ftypisom", 4, "video/mp4", ".mp4"),
]


def sniff(data: bytes) -> tuple[str, str]:
    """The (content type, extension) of ``data`` judged by its bytes, or refuse."""
    for sig, offset, ctype, ext in _SIGNATURES:
        if data[offset:offset + len(sig)] == sig:
            if ctype == "image/webp" and data[:4] != b"RIFF":
                continue
            return ctype, ext
    raise ValidationFailed("不支持的文件类型：仅支持 JPEG、PNG、GIF、WebP 图片，PDF 文档和 MP4 视频",
                           code="unsupported_file_type")


class FileStore(Protocol):
    """Where attachment bytes live."""

    def put(self, data: bytes, *, ext: str) -> str:
        """Store bytes; returns a storage key."""

    def get(self, key: str) -> bytes:
        """Read stored bytes."""


class LocalFileStore:
    """Content-addressed files under a folder (``var/files`` by default)."""

    def __init__(self, root: Path | None = None) -> None:
        s = get_settings()
        self.root = root or s.files_dir or (s.var_dir / "files")

    def put(self, data: bytes, *, ext: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest[2:4]}/{digest}{ext}"
        path = self.root / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return key

    def get(self, key: str) -> bytes:
        path = (self.root / key).resolve()
        if not str(path).startswith(str(self.root.resolve())):
            raise ValidationFailed("非法的文件路径", code="bad_file_key")
        return path.read_bytes()


_store: FileStore | None = None


def get_store() -> FileStore:
    """The configured file store."""
    global _store
    if _store is None:
        _store = LocalFileStore()
    return _store


def set_store(store: FileStore | None) -> None:
    """Replace the file store (deployment wiring, tests)."""
    global _store
    _store = store


def check_upload(data: bytes) -> tuple[str, str]:
    """Refuse empty or oversized uploads and unknown types; returns (content type, extension)."""
    limit = get_settings().max_upload_bytes
    if not data:
        raise ValidationFailed("文件为空", code="empty_file")
    if len(data) > limit:
        raise ValidationFailed(f"文件过大：最大 {limit // (1024 * 1024)} MB", code="file_too_large",
                               details={"max_bytes": limit, "size": len(data)})
    return sniff(data)
