"""Import every model module so ``Base.metadata`` is complete (Alembic, tests, seeding)."""

from zhili.cases.models import (
    ApiKey,
    Attachment,
    Case,
    CaseCounter,
    CaseEvent,
    CaseStat,
    CaseStatUnit,
    CaseSupport,
    Category,
    DispatchRule,
    IdempotencyRecord,
    JobLock,
    Notification,
    SavedFilter,
    SubTask,
    Supervision,
)
from zhili.core.audit import AuditAnchor, AuditEvent
from zhili.core.config_version import ConfigVersion
from zhili.org.models import Department
from zhili.participation.models import Notice, ResidentProfile, SmsCode, Suggestion, SuggestionReply
from zhili.regions.models import GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, ImportBatch, ImportRejectedRow, Organisation, Person
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
    "CaseSupport",
    "Category",
    "ConfigVersion",
    "Department",
    "DispatchRule",
    "Entrance",
    "GeoVersion",
    "Household",
    "IdempotencyRecord",
    "ImportBatch",
    "ImportRejectedRow",
    "JobLock",
    "Notice",
    "Notification",
    "Organisation",
    "Person",
    "ResidentProfile",
    "SavedFilter",
    "SmsCode",
    "SubTask",
    "Suggestion",
    "SuggestionReply",
    "Supervision",
    "Unit",
    "UnitBoundary",
    "User",
    "UserUnit",
    "Visit",
    "VisitPerson",
    "VisitPhoto",
]
