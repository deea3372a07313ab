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
from zhili.core.partitions import PartitionArchive
from zhili.datahub.models import (
    ChangeEvent,
    Delivery,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    Import,
    MappingTemplate,
    MatchCandidate,
    MergeEvent,
    QuarantineRow,
    Source,
    SourceRecord,
    Subscription,
    SurvivorshipRule,
)
from zhili.evaluation.models import DataSet as EvalDataSet
from zhili.evaluation.models import Indicator as EvalIndicator
from zhili.evaluation.models import Result as EvalResult
from zhili.evaluation.models import Run as EvalRun
from zhili.evaluation.models import Submission as EvalSubmission
from zhili.evaluation.models import SubmissionEvent as EvalSubmissionEvent
from zhili.evaluation.models import WeightSet as EvalWeightSet
from zhili.intel.models import CaseSuggestion, ModelVersion, RiskScore, Warning
from zhili.iot.models import Alert as IotAlert
from zhili.iot.models import Device as IotDevice
from zhili.iot.models import DeviceType as IotDeviceType
from zhili.iot.models import Message as IotMessage
from zhili.iot.models import Rule as IotRule
from zhili.iot.models import RuleState as IotRuleState
from zhili.org.models import Department
from zhili.participation.models import Notice, ResidentProfile, SmsCode, Suggestion, SuggestionReply
from zhili.regions.models import GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, ImportBatch, ImportRejectedRow, Organisation, Person
from zhili.rental.models import Key, PoliceDelivery, Room, Signal, Stay
from zhili.rental.permits import PermitApplication
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
    "CaseSuggestion",
    "CaseSupport",
    "Category",
    "ChangeEvent",
    "ConfigVersion",
    "Delivery",
    "Department",
    "DispatchRule",
    "Entrance",
    "EvalDataSet",
    "EvalIndicator",
    "EvalResult",
    "EvalRun",
    "EvalSubmission",
    "EvalSubmissionEvent",
    "EvalWeightSet",
    "GeoVersion",
    "GoldenField",
    "GoldenLink",
    "GoldenRecord",
    "Household",
    "IdempotencyRecord",
    "Import",
    "ImportBatch",
    "ImportRejectedRow",
    "IotAlert",
    "IotDevice",
    "IotDeviceType",
    "IotMessage",
    "IotRule",
    "IotRuleState",
    "JobLock",
    "Key",
    "MappingTemplate",
    "MatchCandidate",
    "MergeEvent",
    "ModelVersion",
    "Notice",
    "Notification",
    "Organisation",
    "PartitionArchive",
    "PermitApplication",
    "Person",
    "PoliceDelivery",
    "QuarantineRow",
    "ResidentProfile",
    "RiskScore",
    "Room",
    "SavedFilter",
    "Signal",
    "SmsCode",
    "Source",
    "SourceRecord",
    "Stay",
    "SubTask",
    "Subscription",
    "Suggestion",
    "SuggestionReply",
    "Supervision",
    "SurvivorshipRule",
    "Unit",
    "UnitBoundary",
    "User",
    "UserUnit",
    "Visit",
    "VisitPerson",
    "VisitPhoto",
    "Warning",
]
