"""Import every model module so ``Base.metadata`` is complete (Alembic, tests, seeding)."""

from zhili.core.audit import AuditAnchor, AuditEvent
from zhili.regions.models import GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, Organisation, Person
from zhili.users.models import AuthSession, User, UserUnit

__all__ = [
    "AuditAnchor", "AuditEvent", "AuthSession", "Building", "Entrance", "GeoVersion", "Household",
    "Organisation", "Person", "Unit", "UnitBoundary", "User", "UserUnit",
]
