"""Address-parsing page (地址解析): try an address, see its parts and where it was placed (names, never ids)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from zhili.datahub import address
from zhili.http.deps import Db
from zhili.web import messages_hub_address  # noqa: F401  (registers the UI text)
from zhili.web.pages_hub import HubReader
from zhili.web.render import render, tr

router = APIRouter()

PART_KEYS = ("province", "city", "district", "street", "community", "road", "number", "compound", "building",
             "unit", "room", "floor", "remainder", "masked")


def _page(request: Request, result: dict[str, Any] | None, text: str, error: str | None = None,
          status: int = 200) -> Response:
    return render(request, "hub/address.html", {"result": result, "text": text, "error": error,
                                                "part_labels": [(k, tr(request, f"hub_address.{k}"))
                                                                for k in PART_KEYS]}, status=status)


@router.get("/console/hub/address")
def address_page(request: Request, pu: HubReader) -> Response:
    return _page(request, None, "")


@router.post("/console/hub/address")
def address_parse(request: Request, session: Db, pu: HubReader,
                  text: Annotated[str, Form(alias="address")] = "") -> Response:
    text = text.strip()[:500]
    if not text:
        return _page(request, None, "", tr(request, "hub_address.empty"), status=422)
    got = address.place_address(session, principal=pu.principal, text=text)
    parts = got["parts"]
    result = {"parts": {k: getattr(parts, k) for k in PART_KEYS}, "fixes": list(parts.fixes),
              "placement": got["placement"], "names": got["names"]}
    return _page(request, result, text)
