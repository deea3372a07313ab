"""Base register routes: buildings, entrances, households, persons, organisations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from zhili.core.db import utcnow
from zhili.core.schemas import Page
from zhili.http.deps import CurrentUser, Db, Paging, ReplicaDb, reads_only
from zhili.registry import excel, service
from zhili.registry.models import BuildingType, HouseholdUse, OrgType, PersonStatus, RegisterKind, ResidentType
from zhili.registry.schemas import (
    BuildingIn,
    BuildingOut,
    BuildingPatch,
    EntranceIn,
    EntranceOut,
    ExportFilters,
    HouseholdIn,
    HouseholdOut,
    HouseholdPatch,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    PersonIn,
    PersonOut,
    PersonPatch,
    PersonRevealed,
    PersonSearch,
    RevealIn,
)

router = APIRouter(prefix="/registry", tags=["基础数据"])

UnitFilter = Annotated[uuid.UUID | None, Query(description="只看该单位（街道/社区/网格）之下")]
Keyword = Annotated[str | None, Query(max_length=100, description="关键字")]


# -- Excel export (the Excel import is a data hub source: its routes, same paths, are in zhili.datahub.api) -------
# Declared before the object routes, so that "/buildings/export" is never taken for a building id.

Kind = Annotated[RegisterKind, Path(description="buildings 楼栋 / households 房屋 / persons 人员 / organisations 组织")]


def export_filters(
    unit_id: UnitFilter = None, q: Keyword = None, building_type: BuildingType | None = None,
    use: HouseholdUse | None = None, building_id: uuid.UUID | None = None, household_id: uuid.UUID | None = None,
    name: Annotated[str | None, Query(max_length=64, description="人员姓名（前缀匹配）")] = None,
    resident_type: ResidentType | None = None, care_tag: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[PersonStatus | None, Query(description="人员状态（不填为在册）")] = None,
    min_age: Annotated[int | None, Query(ge=0, le=150)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=150)] = None,
    org_type: OrgType | None = None, credit_code: Annotated[str | None, Query(max_length=18)] = None,
) -> dict[str, object]:
    """The list filters an export takes (each register uses its own; others are refused). ID number and phone are
    not among them: a URL is logged — ``POST /registry/{kind}/export`` takes them in a JSON body."""
    return {k: v for k, v in locals().items() if v is not None}


@router.get("/{kind}/export", summary="导出 Excel（按筛选条件，个人信息脱敏，留痕）", response_class=Response)
def export_register(kind: Kind, session: ReplicaDb, principal: CurrentUser,
                    filters: Annotated[dict[str, object], Depends(export_filters)]) -> Response:
    data, _ = excel.export_workbook(session, principal=principal, kind=kind, filters=filters)
    name = f"{kind.value}-{utcnow():%Y%m%d%H%M}.xlsx"
    return Response(data, media_type=excel.XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/{kind}/export", summary="导出 Excel（筛选条件以 JSON 提交，可按身份证号/手机号精确筛选）",
             response_class=Response)
@reads_only
def export_register_posted(kind: Kind, body: ExportFilters, session: ReplicaDb, principal: CurrentUser) -> Response:
    return export_register(kind, session, principal, body.model_dump(exclude_none=True))


# -- buildings --------------------------------------------------------------------------------------------

@router.get("/buildings", response_model=Page[BuildingOut], summary="楼栋列表")
def list_buildings(session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
                   q: Keyword = None, building_type: BuildingType | None = None) -> Page[BuildingOut]:
    rows, total = service.list_buildings(session, principal=principal, unit_id=unit_id, q=q,
                                         building_type=building_type, **paging.model_dump())
    return Page(items=[BuildingOut.model_validate(b) for b in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("/buildings", response_model=BuildingOut, status_code=201, summary="登记楼栋")
def create_building(body: BuildingIn, session: Db, principal: CurrentUser) -> BuildingOut:
    return BuildingOut.model_validate(service.create_building(session, principal=principal, data=body.model_dump()))


@router.get("/buildings/{building_id}", response_model=BuildingOut, summary="楼栋详情")
def get_building(building_id: uuid.UUID, session: Db, principal: CurrentUser) -> BuildingOut:
    return BuildingOut.model_validate(service.get_building(session, principal=principal, building_id=building_id))


@router.patch("/buildings/{building_id}", response_model=BuildingOut, summary="修改楼栋")
def update_building(building_id: uuid.UUID, body: BuildingPatch, session: Db, principal: CurrentUser) -> BuildingOut:
    return BuildingOut.model_validate(service.update_building(
        session, principal=principal, building_id=building_id, changes=body.model_dump(exclude_unset=True)))


@router.delete("/buildings/{building_id}", status_code=204, summary="删除楼栋")
def delete_building(building_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    service.delete_building(session, principal=principal, building_id=building_id)
    return Response(status_code=204)


@router.get("/buildings/{building_id}/entrances", response_model=list[EntranceOut], summary="楼栋的单元")
def list_entrances(building_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[EntranceOut]:
    return [EntranceOut.model_validate(e) for e in
            service.list_entrances(session, principal=principal, building_id=building_id)]


@router.post("/buildings/{building_id}/entrances", response_model=EntranceOut, status_code=201, summary="新增单元")
def add_entrance(building_id: uuid.UUID, body: EntranceIn, session: Db, principal: CurrentUser) -> EntranceOut:
    return EntranceOut.model_validate(service.add_entrance(session, principal=principal, building_id=building_id,
                                                           name=body.name))


# -- households -------------------------------------------------------------------------------------------

@router.get("/households", response_model=Page[HouseholdOut], summary="房屋/户列表")
def list_households(session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
                    building_id: uuid.UUID | None = None, use: HouseholdUse | None = None,
                    q: Keyword = None) -> Page[HouseholdOut]:
    rows, total = service.list_households(session, principal=principal, unit_id=unit_id, building_id=building_id,
                                          use=use, q=q, **paging.model_dump())
    return Page(items=[HouseholdOut.model_validate(h) for h in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("/households", response_model=HouseholdOut, status_code=201, summary="登记房屋/户")
def create_household(body: HouseholdIn, session: Db, principal: CurrentUser) -> HouseholdOut:
    return HouseholdOut.model_validate(service.create_household(session, principal=principal,
                                                                data=body.model_dump()))


@router.get("/households/{household_id}", response_model=HouseholdOut, summary="房屋/户详情")
def get_household(household_id: uuid.UUID, session: Db, principal: CurrentUser) -> HouseholdOut:
    return HouseholdOut.model_validate(service.get_household(session, principal=principal,
                                                             household_id=household_id))


@router.patch("/households/{household_id}", response_model=HouseholdOut, summary="修改房屋/户")
def update_household(household_id: uuid.UUID, body: HouseholdPatch, session: Db,
                     principal: CurrentUser) -> HouseholdOut:
    return HouseholdOut.model_validate(service.update_household(
        session, principal=principal, household_id=household_id, changes=body.model_dump(exclude_unset=True)))


@router.delete("/households/{household_id}", status_code=204, summary="删除房屋/户")
def delete_household(household_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    service.delete_household(session, principal=principal, household_id=household_id)
    return Response(status_code=204)


@router.get("/households/{household_id}/persons", response_model=list[PersonOut], summary="户内人员")
def household_members(household_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[PersonOut]:
    service.get_household(session, principal=principal, household_id=household_id)
    rows, _ = service.list_persons(session, principal=principal, household_id=household_id, page_size=500)
    return [PersonOut(**service.person_view(p)) for p in rows]


# -- persons ----------------------------------------------------------------------------------------------

@router.get("/persons", response_model=Page[PersonOut],
            summary="人员列表（按身份证号/手机号精确检索请用 POST /registry/persons/search）")
def list_persons(
    session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
    household_id: uuid.UUID | None = None,
    name: Annotated[str | None, Query(max_length=64, description="姓名（前缀匹配）")] = None,
    resident_type: ResidentType | None = None,
    care_tag: Annotated[str | None, Query(description="关爱标签，如 elderly_alone")] = None,
    status: PersonStatus | None = PersonStatus.active,
    min_age: Annotated[int | None, Query(ge=0, le=150)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=150)] = None,
) -> Page[PersonOut]:
    rows, total = service.list_persons(
        session, principal=principal, unit_id=unit_id, household_id=household_id, name=name,
        resident_type=resident_type, care_tag=care_tag, status=status, min_age=min_age, max_age=max_age,
        **paging.model_dump())
    return Page(items=[PersonOut(**service.person_view(p)) for p in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("/persons/search", response_model=Page[PersonOut],
             summary="人员检索（身份证号/手机号精确匹配，条件以 JSON 提交，不出现在网址和访问日志中）")
@reads_only
def search_persons(body: PersonSearch, session: Db, principal: CurrentUser) -> Page[PersonOut]:
    rows, total = service.list_persons(session, principal=principal, **body.model_dump())
    return Page(items=[PersonOut(**service.person_view(p)) for p in rows], total=total, page=body.page,
                page_size=body.page_size)


@router.post("/persons", response_model=PersonOut, status_code=201, summary="登记人员")
def create_person(body: PersonIn, session: Db, principal: CurrentUser) -> PersonOut:
    return PersonOut(**service.person_view(service.create_person(session, principal=principal,
                                                                 data=body.model_dump())))


@router.get("/persons/{person_id}", response_model=PersonOut, summary="人员详情（脱敏）")
def get_person(person_id: uuid.UUID, session: Db, principal: CurrentUser) -> PersonOut:
    return PersonOut(**service.person_view(service.get_person(session, principal=principal, person_id=person_id)))


@router.post("/persons/{person_id}/reveal", response_model=PersonRevealed, summary="查看完整身份信息（留痕）")
def reveal_person(person_id: uuid.UUID, body: RevealIn, session: Db, principal: CurrentUser) -> PersonRevealed:
    return PersonRevealed(**service.reveal_person(session, principal=principal, person_id=person_id,
                                                  reason=body.reason))


@router.patch("/persons/{person_id}", response_model=PersonOut, summary="修改人员信息")
def update_person(person_id: uuid.UUID, body: PersonPatch, session: Db, principal: CurrentUser) -> PersonOut:
    return PersonOut(**service.person_view(service.update_person(
        session, principal=principal, person_id=person_id, changes=body.model_dump(exclude_unset=True))))


@router.delete("/persons/{person_id}", status_code=204, summary="删除误录人员")
def delete_person(person_id: uuid.UUID, session: Db, principal: CurrentUser,
                  reason: Annotated[str, Query(min_length=2, max_length=500, description="删除原因")]) -> Response:
    service.delete_person(session, principal=principal, person_id=person_id, reason=reason)
    return Response(status_code=204)


# -- organisations ----------------------------------------------------------------------------------------

@router.get("/organisations", response_model=Page[OrganisationOut], summary="组织列表")
def list_organisations(session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
                       q: Keyword = None, org_type: OrgType | None = None,
                       credit_code: Annotated[str | None, Query(max_length=18)] = None) -> Page[OrganisationOut]:
    rows, total = service.list_organisations(session, principal=principal, unit_id=unit_id, q=q,
                                             org_type=org_type, credit_code=credit_code, **paging.model_dump())
    return Page(items=[OrganisationOut(**service.organisation_view(o)) for o in rows], total=total,
                page=paging.page, page_size=paging.page_size)


@router.post("/organisations", response_model=OrganisationOut, status_code=201, summary="登记组织")
def create_organisation(body: OrganisationIn, session: Db, principal: CurrentUser) -> OrganisationOut:
    return OrganisationOut(**service.organisation_view(service.create_organisation(
        session, principal=principal, data=body.model_dump())))


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut, summary="组织详情")
def get_organisation(organisation_id: uuid.UUID, session: Db, principal: CurrentUser) -> OrganisationOut:
    return OrganisationOut(**service.organisation_view(service.get_organisation(
        session, principal=principal, organisation_id=organisation_id)))


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut, summary="修改组织")
def update_organisation(organisation_id: uuid.UUID, body: OrganisationPatch, session: Db,
                        principal: CurrentUser) -> OrganisationOut:
    return OrganisationOut(**service.organisation_view(service.update_organisation(
        session, principal=principal, organisation_id=organisation_id,
        changes=body.model_dump(exclude_unset=True))))


@router.delete("/organisations/{organisation_id}", status_code=204, summary="删除组织")
def delete_organisation(organisation_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    service.delete_organisation(session, principal=principal, organisation_id=organisation_id)
    return Response(status_code=204)
