"""Attachment storage behind a small interface; local folder by default. Types are checked by content.

Images are kept twice: the original as uploaded (the evidence copy, never served) and a copy re-encoded from the
pixels alone, without EXIF (GPS position, camera, times), XMP, comments or PNG text chunks. Every route that serves
an attachment reads it through ``served_bytes``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from zhili.cases.models import Attachment

from zhili.core.errors import ValidationFailed
from zhili.core.settings import get_settings

# The types accepted as case attachments, with the names people read, in the order they are named: the one list
# behind the refusal below, the photo pickers' ``accept=`` and their hints (``IMAGE_TYPES``, :func:`type_names`).
TYPE_NAMES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WebP",
                              "application/pdf": "PDF", "video/mp4": "MP4"}
ACCEPTED_TYPES = tuple(TYPE_NAMES)
IMAGE_TYPES = tuple(t for t in ACCEPTED_TYPES if t.startswith("image/"))  # what a photo may be


def type_names(types: tuple[str, ...]) -> str:
    """The types as people read them: "JPEG、PNG、GIF、WebP"."""
    return "、".join(TYPE_NAMES[t] for t in types)


def require_image(ctype: str, what: str = "照片") -> None:
    """Refuse an upload (already checked by :func:`check_upload`) that is not a photo."""
    if ctype not in IMAGE_TYPES:
        raise ValidationFailed(f"{what}只能是 {type_names(IMAGE_TYPES)} 图片", code="photo_not_an_image",
                               details={"allowed": list(IMAGE_TYPES)})


# Magic numbers of the accepted types (every one of ``ACCEPTED_TYPES``).
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
    raise ValidationFailed(f"不支持的文件类型：仅支持 {type_names(IMAGE_TYPES)} 图片，"
                           f"{type_names(('application/pdf',))} 文档和 {type_names(('video/mp4',))} 视频",
                           code="unsupported_file_type", details={"allowed": list(ACCEPTED_TYPES)})


class FileStore(Protocol):
    """Where attachment bytes live."""

    def put(self, data: bytes, *, ext: str) -> str:
        """Store bytes; returns a storage key."""

    def get(self, key: str) -> bytes:
        """Read stored bytes (``FileNotFoundError`` when there are none under ``key``)."""

    def put_at(self, key: str, data: bytes) -> None:
        """Store bytes under a given key (a copy derived from a stored file)."""


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
        return self._path(key).read_bytes()

    def put_at(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not str(path).startswith(str(self.root.resolve()) + "/"):
            raise ValidationFailed("非法的文件路径", code="bad_file_key")
        return path


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


# -- the served copy of an image ---------------------------------------------------------------------------------

# content type → (Pillow formats it may be read as, format it is written in)
IMAGE_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "image/jpeg": (("JPEG",), "JPEG"),  # a phone's MPO opens as JPEG; its first picture is kept
    "image/png": (("PNG",), "PNG"),
    "image/gif": (("GIF",), "GIF"),
    "image/webp": (("WEBP",), "WEBP"),
}
# What survives re-encoding: how the pixels look (colour profile, transparency, animation timing) — nothing else.
_KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background")
_MAX_FRAMES = 200


def _bad_image() -> ValidationFailed:
    return ValidationFailed("图片无法解码：文件已损坏或不是完整的图片", code="bad_image")


def clean_image(data: bytes, ctype: str) -> bytes:
    """The image re-encoded from its pixels alone: no EXIF (GPS), XMP, comments or text chunks; turned upright
    as its EXIF orientation said. Refuses (``bad_image``) what does not decode, and decompression bombs."""
    from PIL import Image, ImageOps, ImageSequence

    readable, out_format = IMAGE_FORMATS[ctype]
    Image.init()  # every format plugin, so that ``formats`` below can name them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(readable)) as im:
                frames: list[Any] = []
                for i, frame in enumerate(ImageSequence.Iterator(im)):
                    if i >= _MAX_FRAMES or (out_format == "JPEG" and i):
                        break
                    upright = ImageOps.exif_transpose(frame) if i == 0 else frame.copy()
                    clean = upright.copy()
                    clean.info = {k: frame.info[k] for k in _KEPT_INFO if k in frame.info}
                    frames.append(clean)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise _bad_image() from exc
    first = frames[0]
    options: dict[str, Any] = {"icc_profile": first.info.get("icc_profile")}
    if out_format == "JPEG":
        if first.mode not in ("L", "RGB", "CMYK"):
            first = first.convert("RGB")
        options["quality"] = 90
    if out_format in ("GIF", "WEBP") and len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:],
                       duration=[f.info.get("duration", 100) for f in frames], loop=first.info.get("loop", 0))
    if out_format in ("PNG", "GIF") and "transparency" in first.info:
        options["transparency"] = first.info["transparency"]
    if out_format == "WEBP":
        options["quality"] = 90
    buf = io.BytesIO()
    try:
        first.save(buf, out_format, **{k: v for k, v in options.items() if v is not None})
    except (OSError, ValueError) as exc:
        raise _bad_image() from exc
    return buf.getvalue()


def served_key(storage_key: str) -> str:
    """Where the clean copy of a stored image is kept (beside the originals, under ``served/``)."""
    return f"served/{storage_key}"


def store_upload(data: bytes, *, ctype: str, ext: str) -> str:
    """Store an upload checked by ``check_upload``: the original, and for an image its clean copy. Returns the
    original's storage key."""
    clean = clean_image(data, ctype) if ctype in IMAGE_FORMATS else None  # an image that does not decode is refused
    store = get_store()
    key = store.put(data, ext=ext)
    if clean is not None:
        store.put_at(served_key(key), clean)
    return key


def served_bytes(att: Attachment) -> bytes:
    """The bytes of an attachment as served to anyone: for an image the clean copy (made now and kept, for files
    stored before copies were made), otherwise the file as stored."""
    store = get_store()
    if att.content_type not in IMAGE_FORMATS:
        return store.get(att.storage_key)
    try:
        return store.get(served_key(att.storage_key))
    except FileNotFoundError:
        clean = clean_image(store.get(att.storage_key), att.content_type)
        store.put_at(served_key(att.storage_key), clean)
        return clean
