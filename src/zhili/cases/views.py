"""A case as the API and the pages show it — never with the reporter's identity."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from zhili.cases.flows import get as get_flow
from zhili.cases.flows import state_label
from zhili.cases.models import CHANNEL_LABELS, Case, Category
from zhili.core.jsonbounds import readable_json
from zhili.core.validators import usable_point

_VIEW_FIELDS = ("id", "number", "channel", "state", "category_code", "title", "description", "urgency", "lon", "lat",
                "address", "grid_id", "path", "attributes", "anonymous", "is_public", "external_id",
                "assignee_department", "assignee_unit_id", "escalation_level", "is_joint", "master_case_id",
                "resolution", "reject_reason", "rating", "rating_comment", "reported_at", "accepted_at",
                "dispatched_at", "resolved_at", "verified_at", "closed_at", "accept_due_at", "handle_due_at",
                "verify_due_at", "warning_level", "overdue", "closed_on_time", "reopen_count", "support_count",
                "merged_count", "flow", "version")


def case_view(session: Session, case: Case, *, departments: dict[str, str] | None = None,
              category_names: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    """A case as the API shows it — never with the reporter's identity."""
    from zhili.org.service import department_names

    departments = departments if departments is not None else department_names(session)
    if category_names is not None and case.category_id in category_names:
        category_name: str | None = category_names[case.category_id]
    else:
        cat = session.get(Category, case.category_id) if case.category_id else None
        category_name = cat.name if cat else None
    return case_view_values({**{f: getattr(case, f) for f in _VIEW_FIELDS}, "is_history": case.is_history},
                            departments=departments, category_name=category_name)


def case_view_values(row: Mapping[str, Any], *, departments: Mapping[str, str], category_name: str | None
                     ) -> dict[str, Any]:
    """:func:`case_view` of a case given as column values (as intake writes them)."""
    view = {f: row[f] for f in _VIEW_FIELDS}
    view["is_history"] = bool(row.get("is_history"))  # imported history (历史导入): closed, lineage in attributes
    view["attributes"] = readable_json(view["attributes"], what="case.attributes", default={})
    if not usable_point(view.get("lon"), view.get("lat")):  # a stored point off the globe is served as none
        view["lon"] = view["lat"] = None
    flow = row.get("flow") or "event"
    view.update(channel_label=CHANNEL_LABELS[row["channel"]], state_label=state_label(flow, row["state"]),
                flow=flow, flow_name=get_flow(flow).name,
                category_name=category_name,
                assignee_department_name=departments.get(row["assignee_department"] or ""))
    return view
