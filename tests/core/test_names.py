"""The one code → name table: every role, case state and channel has a Chinese and an English name, and the
pages' catalogue, the services' labels and the timeline read the same names from it."""

from __future__ import annotations

import pytest

from zhili.cases.models import CHANNEL_LABELS, STATE_LABELS, CaseState, Channel
from zhili.core import names
from zhili.core.security import ROLE_LABELS, Role
from zhili.web import i18n


@pytest.mark.parametrize(("kind", "members"), [("role", Role), ("state", CaseState), ("channel", Channel),
                                               ("channel_report", Channel)])
def test_every_code_has_a_chinese_and_an_english_name(kind: str, members: type) -> None:
    assert names.codes(kind) == {m.value for m in members}
    for m in members:
        zh, en = names.name(kind, m), names.name(kind, m, "en")
        assert zh and en and m.value not in zh, (kind, m, zh)  # a name, never the code


def test_the_services_and_the_pages_read_the_same_names() -> None:
    assert ROLE_LABELS[Role.grid_worker] == names.name("role", "grid_worker") == "网格员"
    assert STATE_LABELS[CaseState.in_progress] == names.name("state", CaseState.in_progress) == "处置中"
    assert CHANNEL_LABELS[Channel.hotline] == "12345热线"
    for kind in ("role", "state", "channel"):
        for code, zh in names.zh(kind).items():
            assert i18n.translate("zh-CN", f"{kind}.{code}") == zh
            assert i18n.translate("en", f"{kind}.{code}") == names.name(kind, code, "en")


def test_a_channel_is_named_once_in_the_report_line() -> None:
    for ch in Channel:
        line = names.name("channel_report", ch) or ""
        assert "上报上报" not in line and not line.startswith("通过" + (names.name("channel", ch) or "") + "上报")


def test_the_system_actor() -> None:
    assert names.is_system("system") and names.is_system("系统自动") and names.is_system(names.SYSTEM_NAME)
    assert not names.is_system("zhihui") and not names.is_system(None)
