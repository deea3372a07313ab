"""How long the free-text fields of a report may be: one place for the API schemas, intake and the pages' forms
(their ``maxlength``, the live counter and the refusal beside the field). Longer text is refused, never cut."""

from __future__ import annotations

DESCRIPTION_MAX = 4000  # 问题描述
TITLE_MAX = 200
ADDRESS_MAX = 255  # the case's address column
REPORTER_NAME_MAX = 64  # 称呼 given for a call-back
REPORTER_PHONE_MAX = 20
