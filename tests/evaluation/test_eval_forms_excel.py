"""The Excel template of a period's forms and its upload: a round trip where one bad row is refused with its row
number, its community's name, the reason and the values it carried, while the other rows are saved."""

from __future__ import annotations

import io
from typing import Any

import pytest
from evalformkit import C1, C2, DS, good, who
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.errors import ValidationFailed
from zhili.evaluation import forms, forms_excel
from zhili.evaluation.models import Submission


def _fill(data: bytes, rows: dict[str, dict[str, Any]]) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb[forms_excel.SHEET]
    header = [c.value for c in ws[1]]
    for r in ws.iter_rows(min_row=2):
        values = rows.get(str(r[0].value), {})
        for i, h in enumerate(header):
            for code, v in values.items():
                if h and str(h).startswith(code):
                    r[i].value = v
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


NAMES = {"info_staff": "信息化专职人员", "trained_staff": "本月参训人数", "training_hours": "本月培训总学时",
         "it_budget": "本年信息化预算", "it_spent": "本月信息化支出", "talent_fund": "本月专项人才经费",
         "terminals": "智能终端设备", "multi_satisfaction": "多元主体满意度测评得分"}


def _named(values: dict[str, Any]) -> dict[str, Any]:
    return {NAMES[k]: v for k, v in values.items()}


def test_the_template_lists_the_communities_in_scope_with_names_ranges_and_rules(db: Session, world: Any) -> None:
    data = forms_excel.template(db, who(db, world, "jiedao1"), DS, "2026-10")
    wb = load_workbook(io.BytesIO(data))
    ws = wb[forms_excel.SHEET]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("单位代码", "单位名称", "所属上级", "当前状态")
    assert rows[0][4] == "信息化专职人员（人）" and "本月信息化支出（万元）" in rows[0]
    assert [r[:4] for r in rows[1:]] == [(C1, "金陵社区", "雉城街道", "未填报")]
    assert ws.column_dimensions["A"].hidden
    assert len(ws.data_validations.dataValidation) == 8
    notes = [r[0] for r in wb[forms_excel.NOTES].iter_rows(values_only=True) if r and r[0]]
    assert "本月信息化支出不能超过本年信息化预算" in notes and "信息化专职人员" in notes


def test_a_round_trip_saves_the_good_rows_and_refuses_the_bad_one_with_its_row(db: Session, world: Any) -> None:
    zh = who(db, world, "jiedao1")  # street staff may fill for the communities of their street
    data = forms_excel.template(db, zh, DS, "2026-10")
    filled = _fill(data, {C1: _named(good())})
    r = forms_excel.upload(db, zh, DS, "2026-10", io.BytesIO(filled), submit=True)
    assert (r.total, r.accepted, r.refused) == (1, 1, [])
    sub = db.scalar(select(Submission).where(Submission.period == "2026-10"))
    assert sub is not None and sub.state == "submitted" and sub.via == "excel" and sub.values["terminals"] == 12
    # 画溪街道: its community with a bad row (spending over budget, a non-number)
    jd2 = who(db, world, "jiedao2")
    data2 = forms_excel.template(db, jd2, DS, "2026-10")
    bad = _fill(data2, {C2: _named(good(it_spent=99, terminals="十二"))})
    r2 = forms_excel.upload(db, jd2, DS, "2026-10", io.BytesIO(bad), submit=True)
    assert r2.accepted == 0 and len(r2.refused) == 1
    [row] = r2.refused
    assert row["row"] == 2 and row["unit_name"] == "画溪村"
    assert row["reason"] == "“智能终端设备”应填写数字，“十二”不是数字"
    assert row["values"]["it_spent"] == 99 and row["values"]["terminals"] == "十二"  # nothing typed is lost
    fixed = _fill(data2, {C2: _named(good(it_spent=99))})
    r3 = forms_excel.upload(db, jd2, DS, "2026-10", io.BytesIO(fixed), submit=True)
    assert r3.refused[0]["reason"] == "本月信息化支出不能超过本年信息化预算"
    r4 = forms_excel.upload(db, jd2, DS, "2026-10", io.BytesIO(fixed), submit=False)  # as a draft it is kept
    assert r4.accepted == 1
    assert forms.get_form(db, jd2, DS, C2, "2026-10").state == "draft"


def test_mixed_rows_one_refused_others_saved(db: Session, world: Any) -> None:
    """A district-wide uploader (a street staff member bound to both streets would be one): two rows, one bad."""
    import dataclasses

    from zhili.core.security import Perm

    both = dataclasses.replace(who(db, world, "zhihui"), extra_perms=frozenset({Perm.eval_fill}))
    data = forms_excel.template(db, both, DS, "2026-10")
    filled = _fill(data, {C1: _named(good()), C2: _named(good(info_staff=900))})
    r = forms_excel.upload(db, both, DS, "2026-10", io.BytesIO(filled), submit=True)
    assert r.accepted == 1 and [(x["row"], x["unit_name"]) for x in r.refused] == [(3, "画溪村")]
    assert r.refused[0]["reason"] == "“信息化专职人员”应在 0–200人 之间，填写的是 900"
    states = dict(db.execute(select(Submission.path, Submission.state)).all())
    assert states == {world.units["c1"].path: "submitted"}
    # uploaded again after approval, the unchanged row is left alone rather than refused
    forms.approve(db, who(db, world, "jiedao1"), DS, C1, "2026-10")
    again = forms_excel.upload(db, both, DS, "2026-10", io.BytesIO(filled), submit=True)
    assert again.unchanged == 1 and [x["row"] for x in again.refused] == [3]


def test_a_file_that_is_not_the_template_or_of_another_period_is_refused(db: Session, world: Any) -> None:
    p = who(db, world, "jiedao1")
    with pytest.raises(ValidationFailed, match="无法读取"):
        forms_excel.upload(db, p, DS, "2026-10", io.BytesIO(b"not a workbook"))
    sept = forms_excel.template(db, p, DS, "2026-09")
    with pytest.raises(ValidationFailed, match="与所选期间 2026-10 不一致"):
        forms_excel.upload(db, p, DS, "2026-10", io.BytesIO(sept))
    with pytest.raises(ValidationFailed, match="文件过大"):
        forms_excel.upload(db, p, DS, "2026-10", io.BytesIO(b"x" * (forms_excel.MAX_BYTES + 1)))
