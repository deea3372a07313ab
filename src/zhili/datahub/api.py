"""Data hub routes (``/api/v1/hub``): sources, templates, imports, quarantine, quality, resolution, lineage.

Thin: each route loads, calls one service function (which checks permission and jurisdiction itself), answers.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from zhili.datahub import address, sources
from zhili.datahub.models import Target
from zhili.datahub.schemas import (
    AddressIn,
    AddressOut,
    AddressPartsOut,
    PlacementOut,
    SourceIn,
    SourceOut,
    SourcePatch,
)
from zhili.http.deps import CurrentUser, Db

router = APIRouter(prefix="/hub", tags=["数据中台"])

# -- sources ---------------------------------------------------------------------------------------------------


@router.get("/sources", response_model=list[SourceOut], summary="数据源列表")
def list_sources(session: Db, principal: CurrentUser, target: Target | None = None) -> list[SourceOut]:
    rows = sources.list_sources(session, principal=principal, target=target)
    return [SourceOut.model_validate(r) for r in rows]


@router.post("/sources", response_model=SourceOut, status_code=201, summary="登记数据源")
def create_source(session: Db, principal: CurrentUser, body: SourceIn) -> SourceOut:
    return SourceOut.model_validate(sources.create_source(session, principal=principal, data=body.model_dump()))


@router.get("/sources/{source_id}", response_model=SourceOut, summary="数据源详情")
def get_source(session: Db, principal: CurrentUser, source_id: uuid.UUID) -> SourceOut:
    return SourceOut.model_validate(sources.get_source(session, principal=principal, source_id=source_id))


@router.patch("/sources/{source_id}", response_model=SourceOut, summary="修改数据源")
def update_source(session: Db, principal: CurrentUser, source_id: uuid.UUID, body: SourcePatch) -> SourceOut:
    src = sources.update_source(session, principal=principal, source_id=source_id,
                                changes=body.model_dump(exclude_unset=True))
    return SourceOut.model_validate(src)

# -- templates (mapping.py / templates.py) ----------------------------------------------------------------------

# -- imports and quarantine (pipeline.py / quarantine.py) -------------------------------------------------------

# -- quality (quality.py) -----------------------------------------------------------------------------------------

# -- resolution, golden records, review queue, lineage (golden.py / review.py / lineage.py) -----------------------

# -- addresses (address.py) ---------------------------------------------------------------------------------------


@router.post("/address/parse", response_model=AddressOut, summary="地址解析与落位")
def parse_address(session: Db, principal: CurrentUser, body: AddressIn) -> AddressOut:
    got = address.place_address(session, principal=principal, text=body.address)
    pl, names = got["placement"], got["names"]
    return AddressOut(
        parts=AddressPartsOut(**{**got["parts"].as_dict(), "fixes": list(got["parts"].fixes)}),
        placement=PlacementOut(placed=pl.unit_id is not None, unit_id=pl.unit_id, building_id=pl.building_id,
                               entrance_id=pl.entrance_id, household_id=pl.household_id, confidence=pl.confidence,
                               reason=pl.reason, units=[u["name"] for u in names["units"]],
                               building=names["building"], entrance=names["entrance"], room=names["room"]))
