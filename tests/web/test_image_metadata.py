"""Photos lose their metadata before anyone sees them: a phone's JPEG carries the GPS position (and camera make,
times) in EXIF, a PNG can carry text chunks. The file store keeps the uploaded original as the evidence copy; every
route that serves an attachment — the API, the pages, the visit photos and the public Open311 media — serves a
re-encoded copy holding pixels only, and the image still decodes."""

from __future__ import annotations

import io
import re
import struct
import uuid
from typing import Any

from pagekit import page, sign_in
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from zhili.cases.models import Attachment

CAMERA = "SecretCam"
LATITUDE = "30.2741N"


def jpeg_with_gps() -> bytes:
    """A real JPEG whose EXIF names the camera and holds a GPS block (the position of the reporter's home)."""
    exif = Image.Exif()
    exif[0x010F] = CAMERA  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 16.0, 26.76), 3: "E", 4: (120.0, 9.0, 19.2)})
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


def png_with_text() -> bytes:
    """A real PNG with text chunks (tEXt, iTXt, zTXt) and an eXIf chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("GPS", LATITUDE)
    info.add_itxt("Comment", f"拍摄于 {LATITUDE}")
    info.add_text("Author", CAMERA, zip=True)
    exif = Image.Exif()
    exif[0x010F] = CAMERA
    buf = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 120, 0, 128)).save(buf, "PNG", pnginfo=info, exif=exif.tobytes())
    return buf.getvalue()


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append(kind)
        pos += 12 + length
    return chunks


def assert_clean(data: bytes, *, size: tuple[int, int]) -> None:
    """Decodes to an image of the same size, with no EXIF, no GPS, no text, no camera name anywhere in the bytes."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.size == size
        assert not im.getexif(), f"EXIF left: {dict(im.getexif())}"
        assert not {"exif", "xmp", "comment"} & set(im.info), im.info
        assert not getattr(im, "text", {}), im.text  # type: ignore[attr-defined]
    assert CAMERA.encode() not in data and LATITUDE.encode() not in data and b"Exif\x00" not in data
    if data.startswith(b"\x89PNG"):
        assert not {b"tEXt", b"iTXt", b"zTXt", b"eXIf"} & set(_png_chunks(data))


def test_the_test_images_really_carry_metadata() -> None:
    with Image.open(io.BytesIO(jpeg_with_gps())) as im:
        assert im.getexif()[0x010F] == CAMERA and im.getexif().get_ifd(0x8825)[1] == "N"
    with Image.open(io.BytesIO(png_with_text())) as im:
        assert im.text["GPS"] == LATITUDE  # type: ignore[attr-defined]
    assert b"eXIf" in _png_chunks(png_with_text()) and b"zTXt" in _png_chunks(png_with_text())


def test_no_route_serves_a_photo_with_its_metadata(client: Any, site: Any) -> None:
    originals = {"现场.jpg": (jpeg_with_gps(), (40, 30)), "现场.png": (png_with_text(), (20, 10))}

    # a resident reports a case with both photos through the H5 page
    sign_in(client, site.token("jumin"))
    form = page(client.get("/h5/report"))
    r = client.post("/h5/report", follow_redirects=False, data={
        "csrf_token": form.csrf(), "idem": form.find("input", name="idem").attrs["value"], "category_code": "SJ-0102",
        "description": "小区门口垃圾堆放三天无人清运", "lon": "119.1", "lat": "31.1", "crs": "wgs84"},
        files=[("photos", (name, data, "image/jpeg" if name.endswith("jpg") else "image/png"))
               for name, (data, _) in originals.items()])
    assert r.status_code == 303, r.text
    case_id = uuid.UUID(re.search(r"/h5/cases/([0-9a-f-]{36})", r.headers["location"])[1])  # type: ignore[index]
    atts = {a.filename: a for a in site.db.scalars(select(Attachment).where(Attachment.case_id == case_id))}
    assert set(atts) == set(originals)
    for name, att in atts.items():  # the record describes the evidence copy: the bytes as uploaded
        assert att.size == len(originals[name][0])
    detail = page(client.get(r.headers["location"]))
    served = [img.attrs["src"] for img in detail.find_all("img")]
    assert sorted(served) == sorted(f"/api/v1/attachments/{a.id}" for a in atts.values())
    for name, att in atts.items():
        got = client.get(f"/api/v1/attachments/{att.id}")
        assert got.status_code == 200 and got.headers["content-type"] == att.content_type
        assert_clean(got.content, size=originals[name][1])

    # staff read the same photos; anyone reads them through Open311 media, without logging in
    sign_in(client, site.token("wangge_a"))
    for name, att in atts.items():
        assert_clean(client.get(f"/api/v1/attachments/{att.id}").content, size=originals[name][1])
    client.cookies.clear()
    for name, att in atts.items():
        got = client.get(f"/open311/v2/media/{att.id}")
        assert got.status_code == 200, got.text
        assert_clean(got.content, size=originals[name][1])

    # a grid worker's visit photos: the page route and the API route
    person = site.person_in("ga")
    sign_in(client, site.token("wangge_a"))
    form = page(client.get(f"/gw/households/{person.household_id}/visits/new"))
    r = client.post(f"/gw/households/{person.household_id}/visits", follow_redirects=False,
                    data={"csrf_token": form.csrf(), "kind": "care", "summary": "老人身体良好"},
                    files=[("photos", ("门口.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 303, r.text
    img = page(client.get(r.headers["location"])).find("img", alt="走访照片 1").attrs["src"]
    assert img.startswith("/gw/visits/")
    assert_clean(client.get(img).content, size=(40, 30))
    assert_clean(client.get("/api/v1" + img.removeprefix("/gw")).content, size=(40, 30))


def test_an_image_that_does_not_decode_is_refused(client: Any, site: Any) -> None:
    sign_in(client, site.token("jumin"))
    fake = b"\xff\xd8\xff\xe0" + b"\x00" * 2000  # a JPEG signature with nothing behind it: nothing could be served
    r = client.post("/api/v1/attachments", files={"file": ("x.jpg", fake, "image/jpeg")})
    assert r.status_code == 422 and r.json()["code"] == "bad_image", r.text
    png_head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert client.post("/api/v1/attachments", files={"file": ("x.png", png_head, "image/png")}).json()["code"] \
        == "bad_image"


def test_only_the_file_module_reads_the_stored_original() -> None:
    """The class of bug: a route serving ``get_store().get(att.storage_key)`` sends the original. Every reader goes
    through ``files.served_bytes``."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "zhili"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "files.py" and re.search(r"\.get\([^)]*storage_key", p.read_text(encoding="utf-8"))]
    assert offenders == []
