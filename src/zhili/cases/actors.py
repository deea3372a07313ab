"""The system actor: who the timeline and the audit chain name when the platform itself takes a step (automatic
dispatch by the responsibility list, the deadline sweep, later sensors and models)."""

from __future__ import annotations

import uuid

from zhili.core import names
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role

SYSTEM_PRINCIPAL = Principal(user_id=uuid.UUID(int=0), username=names.SYSTEM_USERNAME, display_name=names.SYSTEM_NAME,
                             role=Role.command_centre, scope_paths=())
