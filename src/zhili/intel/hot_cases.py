"""Hot issues of the platform's own cases: :func:`hot_issues_for` reads the cases of a principal's jurisdiction and
runs the same :func:`zhili.intel.hot.hot_issues` as ``zhili intel hot-issues --from-csv``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import flows
from zhili.cases.models import Case, CaseState
from zhili.core.clock import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, path_predicate
from zhili.core.security import Perm
from zhili.intel.hot import HotDoc, HotIssue, hot_issues
from zhili.regions.models import Unit, UnitLevel

DEFAULT_DAYS = 90  # the period read when no ``since`` is given
MAX_DAYS = 731
MAX_CASES = 50_000  # the most recent cases of the period are read, at most this many (≈ 20 s on one core)
_REGION_LEVELS = (UnitLevel.province, UnitLevel.city, UnitLevel.district, UnitLevel.street, UnitLevel.community)


def hot_issues_for(session: Session, *, principal: Principal, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, top: int = 10, unit_id: uuid.UUID | None = None
                   ) -> list[HotIssue]:
    """The ``top`` hot issues among the cases reported in [since, until) (default: the 90 days before now) in
    the principal's jurisdiction — or in ``unit_id``'s area, which must lie in it (404 otherwise). Merged cases
    are left out (their master stands for them). Text = title + description + address; time = reported_at;
    votes = residents' supports (附议); reporter = the reporter's phone (blind index) or account. Each issue's
    ``ids`` are case ids (``numbers``: their case numbers, same order); heat decays from ``until``."""
    authorize(principal, Perm.intel_read, "当前角色无权查看热点问题", code="intel_forbidden")
    until = until or utcnow()
    since = since or until - dt.timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValidationFailed("起始时间必须早于截止时间", code="bad_range")
    if (until - since).days > MAX_DAYS:
        raise ValidationFailed("统计区间不能超过两年", code="range_too_long")
    if not 1 <= top <= 100:
        raise ValidationFailed("热点数量应在 1 到 100 之间", code="bad_top")
    paths = tuple(principal.scope_paths)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise not_found("单位")
        ensure_in_scope(principal, unit.path, "单位")
        paths = (unit.path,)
    if not paths:
        return []
    rows = session.execute(
        select(Case.id, Case.number, Case.title, Case.description, Case.address, Case.reported_at,
               Case.support_count, Case.reporter_phone_bidx, Case.reporter_user_id)
        .where(path_predicate(Case.path, paths), Case.reported_at >= since, Case.reported_at < until,
               Case.state != CaseState.merged, Case.master_case_id.is_(None),
               Case.flow == flows.EVENT)  # what residents report; not their permit applications
        .order_by(Case.reported_at.desc()).limit(MAX_CASES)).all()
    if not rows:
        return []
    numbers = {str(r.id): r.number for r in rows}
    docs = [HotDoc(id=str(r.id), title=r.title, text=f"{r.description or ''}。{r.address or ''}",
                   time=r.reported_at, votes=r.support_count or 0,
                   reporter=r.reporter_phone_bidx or (str(r.reporter_user_id) if r.reporter_user_id else None))
            for r in rows]
    regions = session.scalars(select(Unit.name).where(path_predicate(Unit.path, paths) | Unit.path.in_(
        [p.rsplit("/", i)[0] for p in paths for i in range(p.count("/") + 1)]), Unit.level.in_(_REGION_LEVELS))
    ).all()
    issues = hot_issues(docs, top=top, now=until, known_regions=sorted(set(regions), key=len, reverse=True))
    return [dataclasses.replace(i, numbers=[numbers[x] for x in i.ids]) for i in issues]
