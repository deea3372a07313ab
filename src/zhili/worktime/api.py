"""Working-calendar routes: overrides (系统配置), day listing and a deadline preview."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from zhili.core.clock import from_local, today, utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import authorize
from zhili.core.security import Perm
from zhili.http.deps import CurrentUser, Db
from zhili.worktime import service
from zhili.worktime.schemas import DayOut, DaysOut, DeadlineOut, OverrideIn, OverrideOut, WarningOut

router = APIRouter(prefix="/calendar", tags=["工作日历"])


@router.get("/overrides", response_model=list[OverrideOut], summary="本地调整日列表")
def list_overrides(
    session: Db, principal: CurrentUser,
    year: Annotated[int | None, Query(ge=service.MIN_YEAR, le=service.MAX_YEAR, description="年份")] = None,
    from_: Annotated[dt.date | None, Query(alias="from", description="起始日期（含）")] = None,
    to: Annotated[dt.date | None, Query(description="结束日期（含）")] = None,
) -> list[OverrideOut]:
    authorize(principal, Perm.region_read)
    rows = service.list_overrides(session, start=from_, end=to, year=year)
    return [OverrideOut.model_validate(r) for r in rows]


@router.put("/overrides/{day}", response_model=OverrideOut, summary="设置本地调整日（上班或休息）")
def set_override(day: dt.date, body: OverrideIn, session: Db, principal: CurrentUser) -> OverrideOut:
    row = service.set_override(session, principal=principal, day=day, is_workday=body.is_workday,
                               name=body.name)
    return OverrideOut.model_validate(row)


@router.delete("/overrides/{day}", status_code=204, summary="删除本地调整日（恢复国家法定安排）")
def delete_override(day: dt.date, session: Db, principal: CurrentUser) -> Response:
    service.delete_override(session, principal=principal, day=day)
    return Response(status_code=204)


@router.get("/days", response_model=DaysOut, summary="逐日工作日状态及来源")
def list_days(
    session: Db, principal: CurrentUser,
    from_: Annotated[dt.date, Query(alias="from", description="起始日期（含）")],
    to: Annotated[dt.date, Query(description="结束日期（含）")],
) -> DaysOut:
    authorize(principal, Perm.region_read)
    if to < from_:
        raise ValidationFailed("结束日期不能早于起始日期", code="invalid_range")
    if (to - from_).days + 1 > service.MAX_DAYS_LISTED:
        raise ValidationFailed(f"一次最多查询{service.MAX_DAYS_LISTED}天", code="range_too_long")
    cal = service.load_calendar(session)
    days = [DayOut(day=d.day, weekday=d.weekday_name, is_workday=d.is_workday, source=d.source,
                   source_label=service.DAY_SOURCE_LABELS[d.source], name=d.name)
            for d in cal.days(from_, to)]
    return DaysOut(days=days, warnings=cal.warnings)


@router.get("/deadline", response_model=DeadlineOut, summary="时限预览：如果现在受理，N小时后到期时间")
def preview_deadline(
    session: Db, principal: CurrentUser,
    hours: Annotated[float, Query(ge=0, le=service.MAX_HOURS, description="时限（小时）")],
    start: Annotated[dt.datetime | None, Query(description="受理时间，默认现在；不带时区按本地时间")] = None,
    natural: Annotated[bool, Query(description="true：按自然小时（紧急事件24×7）")] = False,
) -> DeadlineOut:
    authorize(principal, Perm.region_read)
    cal = service.load_calendar(session)
    begin = from_local(start) if start is not None else utcnow()
    effective = begin.astimezone(dt.UTC) if natural else cal.next_working_moment(begin)
    due = cal.deadline(begin, hours, natural=natural)
    unit = "自然小时" if natural else "工作小时"
    when = "如果现在受理" if start is None else f"如果在{service.format_local(begin)}受理"
    text = f"{when}，{hours:g}个{unit}后是{service.format_local(due)}"
    if effective > begin:
        text += f"（非工作时间受理，从{service.format_local(effective)}起算）"
    return DeadlineOut(start=begin.astimezone(dt.UTC), effective_start=effective, deadline=due,
                       deadline_local=due.astimezone(cal.tz), hours=hours, natural=natural,
                       hours_per_day=cal.hours_per_day, text=text, warnings=cal.warnings)


@router.get("/warnings", response_model=list[WarningOut], summary="节假日安排未收录年份提示")
def list_warnings(
    session: Db, principal: CurrentUser,
    year: Annotated[list[Annotated[int, Field(ge=service.MIN_YEAR, le=service.MAX_YEAR)]] | None,
                    Query(max_length=20, description="年份，可重复（默认今年和明年），至多20个")] = None,
) -> list[WarningOut]:
    authorize(principal, Perm.region_read)
    this_year = today().year
    found = service.calendar_warnings(session, years=year or [this_year, this_year + 1])
    return [WarningOut(year=w.year, message=w.message, overrides=w.overrides) for w in found]
