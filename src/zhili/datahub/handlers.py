"""Target handlers (:class:`~zhili.datahub.rows.BatchHandler`): what the pipeline calls to write a batch of staged
rows into the platform's own tables.

:data:`HANDLERS` maps each target to a handler or to a lazy ``"module:Class"`` path (entity targets are resolved
into golden records by :mod:`zhili.datahub.golden`, imported only when such a source is imported). Households
are written here through the register service itself, so the register's jurisdiction and checks apply unchanged
and a refusal becomes the row's quarantine reason; historical cases are in :mod:`zhili.datahub.history`.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select

from zhili.core.errors import DomainError
from zhili.datahub.models import Target
from zhili.datahub.rows import BatchHandler, Outcome, RowError, StagedRow

# Standard household values the register service takes (the rest are references resolved by the rules).
HOUSEHOLD_FIELDS = ("room", "address", "use", "area_m2", "note")


class HouseholdHandler:
    """Households (房屋): create or update through :mod:`zhili.registry.service`, one savepoint per row so a
    refusal leaves the rest of the batch intact. A record already linked to a household updates it; otherwise the
    same room of the same building (and entrance) is updated, as the register's own Excel import does; a missing
    entrance is added to its building."""

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]:
        from pydantic import ValidationError

        from zhili.registry import service as reg
        from zhili.registry.models import Household
        from zhili.registry.schemas import HouseholdIn, HouseholdPatch

        out: list[Outcome] = []
        session, principal = ctx.session, ctx.principal
        for r in rows:
            v = r.values
            try:
                with session.begin_nested():
                    entrance_id = v.get("entrance_id")
                    if v.get("entrance") and entrance_id is None:  # added by an earlier row of this batch?
                        entrance_id = ctx.validator.entrances.get((v["building_id"], str(v["entrance"])))
                    if v.get("entrance") and entrance_id is None:
                        e = reg.add_entrance(session, principal=principal, building_id=v["building_id"],
                                             name=str(v["entrance"]))
                        entrance_id = e.id
                        ctx.validator.entrances[(v["building_id"], str(v["entrance"]))] = e.id
                    data = {k: v[k] for k in HOUSEHOLD_FIELDS if k in v}
                    target_id = r.record.target_id
                    if target_id is None:
                        stmt = select(Household.id).where(Household.building_id == v["building_id"],
                                                          Household.room == v["room"])
                        stmt = stmt.where(Household.entrance_id.is_(None) if entrance_id is None
                                          else Household.entrance_id == entrance_id)
                        target_id = session.scalar(stmt)
                    # the register's own request schemas: the same types and limits as the API
                    if target_id is not None:
                        changes = HouseholdPatch.model_validate(data).model_dump(exclude_unset=True)
                        h = reg.update_household(session, principal=principal, household_id=target_id,
                                                 changes=changes)
                    else:
                        body = HouseholdIn.model_validate({"building_id": v["building_id"],
                                                           "entrance_id": entrance_id, **data}).model_dump()
                        h = reg.create_household(session, principal=principal, data=body)
                out.append(Outcome(target_id=h.id, path=h.path))
            except DomainError as exc:
                out.append(Outcome(errors=[RowError(None, "register_refused", exc.message)]))
            except ValidationError as exc:
                from zhili.datahub.standard import fields as std

                labels = std(Target.households)
                fields = "、".join(dict.fromkeys(
                    labels[k].label if (k := str(e["loc"][0])) in labels else "楼栋或单元"
                    for e in exc.errors() if e.get("loc")))
                out.append(Outcome(errors=[RowError(None, "register_refused", f"登记簿校验未通过：{fields}")]))
        return out


HANDLERS: dict[Target, BatchHandler | str] = {
    Target.households: HouseholdHandler(),
    Target.cases: "zhili.datahub.history:HistoryHandler",
    Target.persons: "zhili.datahub.golden:EntityHandler",
    Target.organisations: "zhili.datahub.golden:EntityHandler",
    Target.buildings: "zhili.datahub.golden:EntityHandler",
}


def handler_for(target: Target) -> BatchHandler:
    """The handler of ``target`` (imported on first use). Raises :class:`LookupError` with a Chinese message
    when the target's handler is not installed."""
    found = HANDLERS.get(Target(target))
    if found is None:
        raise LookupError("该标准模型没有导入处理程序")
    if isinstance(found, str):
        module, _, name = found.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise LookupError("该标准模型的导入处理程序尚未安装") from exc
        instance: BatchHandler = cls()
        return instance
    return found

