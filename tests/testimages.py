"""Small valid images for tests (no files shipped)."""

from __future__ import annotations

import io
import struct
import zlib


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def same_pixels(a: bytes, b: bytes) -> bool:
    """Two encodings of one picture: what is served is re-encoded without metadata, not the stored original."""
    from PIL import Image

    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        return x.size == y.size and x.convert("RGBA").tobytes() == y.convert("RGBA").tobytes()
