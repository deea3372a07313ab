"""What the case loop asks of a text model (智能分拨), declared here so that cases never imports the models.

A :class:`Router` reads a report's text and suggests its category and handling department, each with a
calibrated probability and the words that drove it. :mod:`zhili.intel.routing` installs one when the
application starts (:func:`install`); with none installed — or none of its models trained and activated — every
caller behaves exactly as before: a report must name its category, and dispatch follows the responsibility list.

Intake calls it for a report filed without a category: above ``Settings.intel_auto_confidence`` the suggested
category is taken (the timeline records the system's suggestion with its confidence, as a ``classify`` event) and
the responsibility list dispatches as for any report; below it the report is refused with the top suggestions
(``category_required``), so the desk or form shows them and a person picks one. Pages ask it for the suggestions
shown on a case (:func:`advise`).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportText:
    """What a router reads of one report."""

    title: str
    description: str
    channel: str | None = None
    path: str | None = None  # the unit path the report is placed in, when known
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Guess:
    code: str  # category code or department code
    p: float  # calibrated probability
    terms: tuple[str, ...] = ()  # the words of the report that pushed toward it


@dataclass(frozen=True)
class Advice:
    """One model's suggestions for one report, best first."""

    target: str  # "category" | "department"
    model_id: uuid.UUID
    model_label: str  # e.g. "category@3", for the timeline
    guesses: tuple[Guess, ...] = field(default_factory=tuple)

    @property
    def best(self) -> Guess | None:
        return self.guesses[0] if self.guesses else None


class Router(Protocol):
    def advise(self, session: Session, reports: Sequence[ReportText], *, targets: Sequence[str] = ("category",),
               allowed: dict[str, set[str]] | None = None, k: int = 3) -> list[dict[str, Advice]]:
        """Per report, per target with an active model, the top ``k`` suggestions — only codes in
        ``allowed[target]`` when given (a category that is reportable now, a department that exists)."""
        ...


_router: Router | None = None


def install(router: Router | None) -> None:
    """Plug a router into the case loop (None: take it out)."""
    global _router
    _router = router


def current() -> Router | None:
    return _router


def advise(session: Session, reports: Sequence[ReportText], *, targets: Sequence[str] = ("category",),
           allowed: dict[str, set[str]] | None = None, k: int = 3) -> list[dict[str, Advice]]:
    """The installed router's suggestions; empty dicts when there is none, or when it fails (a model that cannot be
    read must never stop a report: it is logged and the loop goes on as without a model)."""
    router = _router
    if router is None or not reports:
        return [{} for _ in reports]
    try:
        return router.advise(session, reports, targets=targets, allowed=allowed, k=k)
    except Exception:
        log.exception("text router failed; reports go on without suggestions")
        return [{} for _ in reports]
