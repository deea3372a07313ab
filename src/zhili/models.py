"""Import every model module so ``Base.metadata`` is complete (Alembic, tests, seeding)."""

from zhili.cases.models import (
    ApiKey,
    Attachment,
    Case,
    CaseCounter,
    CaseEvent,
    CaseStat,
    CaseStatUnit,
    Category,
    Department,
    DispatchRule,
    IdempotencyRecord,
    JobLock,
    Notification,
    SubTask,
    Supervision,
)
from zhili.core.audit import AuditAnchor, AuditEvent
from zhili.regions.models import GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, Organisation, Person
from zhili.users.models import AuthSession, User, UserUnit
from zhili.visits.models import Visit, VisitPerson, VisitPhoto
from zhili.worktime.models import CalendarOverride

__all__ = [
    "ApiKey",
    "Attachment",
    "AuditAnchor",
    "AuditEvent",
    "AuthSession",
    "Building",
    "CalendarOverride",
    "Case",
    "CaseCounter",
    "CaseEvent",
    "CaseStat",
    "CaseStatUnit",
    "Category",
    "Department",
    "DispatchRule",
    "Entrance",
    "GeoVersion",
    "Household",
    "IdempotencyRecord",
    "JobLock",
    "Notification",
    "Organisation",
    "Person",
    "SubTask",
    "Supervision",
    "Unit",
    "UnitBoundary",
    "User",
    "UserUnit",
    "Visit",
    "VisitPerson",
    "VisitPhoto",
]
