"""Manual indicators (填报) routes (``/api/v1/eval/forms``): a community's form for a period, saving, submitting
and the approval steps, the completeness of a period, reminders, and the Excel template and upload. Thin: each
route calls one service function of :mod:`zhili.evaluation.forms` / :mod:`zhili.evaluation.forms_excel`, which
checks permission (``eval:read|fill|approve|admin``) and jurisdiction itself."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile

from zhili.evaluation import forms, forms_excel, forms_status
from zhili.evaluation.schemas import (
    CompletenessOut,
    FormOut,
    FormReasonIn,
    FormSaveIn,
    FormStepIn,
    FormSubmitIn,
    RemindOut,
    UnitStatusOut,
    UploadOut,
)
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import CurrentUser, Db

router = APIRouter(prefix="/eval/forms", tags=["考核填报"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

DataSetCode = Annotated[str, Path(max_length=40, description="报表代码，如 it_monthly")]
PeriodText = Annotated[str, Path(max_length=10, description="期间：2026-10（月）、2026-Q4（季度）或 2026（年）")]
UnitCode = Annotated[str, Path(max_length=40, description="填报单位（社区/村）代码")]
FORM = "/{dataset}/{period}/units/{unit_code}"


def _out(view: forms.FormView) -> FormOut:
    return FormOut.model_validate(dataclasses.asdict(view))


@router.get(FORM, response_model=FormOut, summary="填报表（含上期数值、校验提示、可执行的操作和流转记录）")
def get_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, session: Db,
             principal: CurrentUser) -> FormOut:
    return _out(forms.get_form(session, principal, dataset, unit_code, period))


@router.put(FORM, response_model=FormOut, summary="保存草稿（数值须为数字；范围和规则问题作为提示返回）")
def save_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormSaveIn, session: Db,
              principal: CurrentUser) -> FormOut:
    return _out(forms.save(session, principal, dataset, unit_code, period, body.values,
                           expected_version=body.expected_version))


@router.post(FORM + "/submit", response_model=FormOut, summary="上报（有任何校验问题则拒绝，逐项说明）")
def submit_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormSubmitIn, session: Db,
                principal: CurrentUser) -> FormOut:
    if body.values is None:
        return _out(forms.submit(session, principal, dataset, unit_code, period,
                                 expected_version=body.expected_version))
    return _out(forms.save(session, principal, dataset, unit_code, period, body.values, submit=True,
                           expected_version=body.expected_version))


@router.post(FORM + "/approve", response_model=FormOut, summary="审核通过（上级单位）")
def approve_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormStepIn, session: Db,
                 principal: CurrentUser) -> FormOut:
    return _out(forms.approve(session, principal, dataset, unit_code, period, comment=body.comment,
                              expected_version=body.expected_version))


@router.post(FORM + "/return", response_model=FormOut, summary="退回修改（须填写原因）")
def return_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormReasonIn, session: Db,
                principal: CurrentUser) -> FormOut:
    return _out(forms.return_(session, principal, dataset, unit_code, period, body.reason,
                              expected_version=body.expected_version))


@router.post(FORM + "/lock", response_model=FormOut, summary="锁定（已审核的数据计入考核）")
def lock_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormStepIn, session: Db,
              principal: CurrentUser) -> FormOut:
    return _out(forms.lock(session, principal, dataset, unit_code, period, expected_version=body.expected_version))


@router.post(FORM + "/unlock", response_model=FormOut, summary="解锁（管理员，须填写原因）")
def unlock_form(dataset: DataSetCode, period: PeriodText, unit_code: UnitCode, body: FormReasonIn, session: Db,
                principal: CurrentUser) -> FormOut:
    return _out(forms.unlock(session, principal, dataset, unit_code, period, body.reason,
                             expected_version=body.expected_version))


@router.get("/{dataset}/{period}/completeness", response_model=CompletenessOut,
            summary="填报进度：辖区内各社区的填报状态、逾期情况和上报率")
def completeness(dataset: DataSetCode, period: PeriodText, session: Db, principal: CurrentUser,
                 unit_code: str | None = Query(None, max_length=32, description="只看该单位以下")
                 ) -> CompletenessOut:
    c = forms_status.completeness(session, principal, dataset, period, unit_code=unit_code)
    return CompletenessOut(dataset_code=c.dataset_code, dataset_name=c.dataset_name, period=c.period,
                           period_label=c.period_label, due_date=c.due_date, expected=c.expected,
                           reported=c.reported, rate=c.rate, overdue=c.overdue, counts=c.counts,
                           rows=[UnitStatusOut.model_validate(dataclasses.asdict(r)) for r in c.rows])


@router.post("/{dataset}/{period}/remind", response_model=RemindOut, summary="催报：通知尚未上报的社区")
def remind(dataset: DataSetCode, period: PeriodText, session: Db, principal: CurrentUser,
           unit_code: str | None = Query(None, max_length=32)) -> RemindOut:
    return RemindOut(sent=forms_status.send_reminders(session, principal, dataset, period, unit_code=unit_code))


@router.get("/{dataset}/{period}/template.xlsx", summary="Excel 填报模板（辖区内各社区一行）",
            response_class=Response, responses={200: {"content": {XLSX: {}}}})
def template(dataset: DataSetCode, period: PeriodText, session: Db, principal: CurrentUser) -> Response:
    data = forms_excel.template(session, principal, dataset, period)
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="{dataset}-{period}.xlsx"', "Cache-Control": "no-store"})


@router.post("/{dataset}/{period}/upload", response_model=UploadOut,
             summary="上传填好的 Excel 模板（逐行校验；未导入的行说明原因并保留原值）")
@body_limit(forms_excel.MAX_BYTES + MARGIN)
def upload(dataset: DataSetCode, period: PeriodText, session: Db, principal: CurrentUser,
           file: Annotated[UploadFile, File(description="填好的 .xlsx 模板")],
           submit: bool = Query(False, description="导入后直接上报")) -> UploadOut:
    r = forms_excel.upload(session, principal, dataset, period, file.file, submit=submit)
    return UploadOut(total=r.total, accepted=r.accepted, unchanged=r.unchanged, refused=r.refused)
