"""Excel for the manual data sets (填报): a template with one row per community in the caller's jurisdiction (the
values saved so far filled in), and the upload of a filled one — each row saved (or submitted) through
:func:`zhili.evaluation.forms.save`, so it meets exactly the form's validation. A refused row comes back with its
row number, the community's name, the Chinese reason and the values it carried: nothing typed is lost."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import IO, Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.xlsx import row_values
from zhili.evaluation import forms, forms_check, forms_status
from zhili.evaluation.models import Submission

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
SHEET, NOTES, META = "填报", "填报说明", "meta"
CODE_HEADER, NAME_HEADER, PARENT_HEADER, STATE_HEADER = "单位代码", "单位名称", "所属上级", "当前状态"
FIXED = 4  # the columns before the fields


def _header(f: dict[str, Any]) -> str:
    name = f.get("name") or f["code"]
    return f"{name}（{f['unit']}）" if f.get("unit") else str(name)


def template(session: Session, principal: Principal, dataset_code: str, period: str) -> bytes:
    """The workbook to fill a period's forms of every community in the caller's jurisdiction (``eval:fill``)."""
    authorize(principal, Perm.eval_fill)
    ds = forms.dataset_of(session, dataset_code)
    p = forms.period_in(ds, period)
    fields = forms_check.fields_of(ds)
    rows = forms_status.status_rows(session, ds, p, principal.scope_paths, forms.today_or(None))
    saved = {s.path: forms.stored_values(s.values) for s in session.scalars(
        select(Submission).where(Submission.dataset_code == ds.code, Submission.period == p.text,
                                 Submission.path.in_([r.unit_path for r in rows])))} if rows else {}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    ws.append(row_values([CODE_HEADER, NAME_HEADER, PARENT_HEADER, STATE_HEADER, *(_header(f) for f in fields)]))
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    locked_fill = PatternFill("solid", fgColor="EEEEEE")
    for r in rows:
        vals = saved.get(r.unit_path, {})
        ws.append(row_values([r.unit_code, r.unit_name, r.parent_name, r.state_name,
                              *(vals.get(f["code"]) for f in fields)]))
        if r.state not in forms.EDITABLE and r.state != forms.MISSING:
            for cell in ws[ws.max_row]:
                cell.fill = locked_fill
    ws.column_dimensions["A"].hidden = True
    ws.column_dimensions["B"].width = 18
    ws.column_dimensions["C"].width = 14
    ws.column_dimensions["D"].width = 10
    ws.freeze_panes = "E2"
    last = max(len(rows) + 1, 2)
    for i, f in enumerate(fields):
        col = get_column_letter(FIXED + 1 + i)
        ws.column_dimensions[col].width = max(12, len(_header(f)) * 2)
        lo, hi = f.get("min"), f.get("max")
        kind = "whole" if f.get("kind") == "int" else "decimal"
        dv = DataValidation(type=kind, operator="between", formula1=str(lo if lo is not None else -1e12),
                            formula2=str(hi if hi is not None else 1e12), allow_blank=True, showErrorMessage=True,
                            errorTitle="数值超出范围",
                            error=f"“{f.get('name')}”应为{'整数' if kind == 'whole' else '数字'}"
                                  f"{forms_check.range_text(f)}")
        dv.add(f"{col}2:{col}{last}")
        ws.add_data_validation(dv)
    notes = wb.create_sheet(NOTES)
    notes.append(row_values([f"{ds.name}（{p.label}）"]))
    notes.append(row_values([f"截止日期：{p.due_date(ds.due_day).isoformat()}；灰色行已审核或已锁定，不能修改。"
                             f"请勿修改第一行表头和隐藏的单位代码列。"]))
    notes.append(row_values([]))
    notes.append(row_values(["填报项", "单位", "类型", "取值范围", "是否必填", "汇总方式"]))
    agg = {"sum": "按期累加", "last": "取最新一期", "mean": "取平均"}
    for f in fields:
        notes.append(row_values([f.get("name"), f.get("unit") or "", "整数" if f.get("kind") == "int" else "数值",
                                 forms_check.range_text(f) or "不限", "必填" if f.get("required", True) else "选填",
                                 agg.get(f.get("aggregate") or "sum", "")]))
    notes.append(row_values([]))
    notes.append(row_values(["校验规则"]))
    for rule in ds.rules:
        if isinstance(rule, dict) and rule.get("message"):
            notes.append(row_values([rule["message"]]))
    notes.column_dimensions["A"].width = 40
    meta = wb.create_sheet(META)
    meta.append(row_values(["dataset", ds.code]))
    meta.append(row_values(["period", p.text]))
    meta.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class UploadResult:
    """What an upload did: rows saved (or submitted), rows left alone (unchanged and no longer editable), and every
    refused row with its number (as Excel shows it), the community, the reason and the values it carried."""

    accepted: int = 0
    unchanged: int = 0
    total: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def _read(stream: IO[bytes] | bytes) -> Any:
    data = stream if isinstance(stream, bytes) else stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationFailed(f"文件过大（不超过 {MAX_BYTES // 1024 // 1024} MB）", code="file_too_large")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationFailed("无法读取该文件，请上传由本页下载的 .xlsx 模板填写后的文件", code="bad_file") from exc


def upload(session: Session, principal: Principal, dataset_code: str, period: str, stream: IO[bytes] | bytes, *,
           submit: bool = False) -> UploadResult:
    """Save (``submit``: and submit) the forms of a filled template (``eval:fill``); every row through
    :func:`forms.save`. The file is refused as a whole when it is not the data set's template or names another
    period; a row is refused alone, with its reason."""
    authorize(principal, Perm.eval_fill)
    ds = forms.dataset_of(session, dataset_code)
    p = forms.period_in(ds, period)
    fields = forms_check.fields_of(ds)
    wb = _read(stream)
    result = UploadResult()
    try:
        if META in wb.sheetnames:
            meta = {str(r[0]): str(r[1]) for r in wb[META].iter_rows(values_only=True) if r and len(r) > 1 and r[0]}
            if meta.get("dataset") not in (None, ds.code):
                raise ValidationFailed(f"该文件不是“{ds.name}”的模板", code="wrong_template")
            if meta.get("period") not in (None, p.text):
                raise ValidationFailed(f"该文件是 {meta.get('period', '')[:10]} 期的模板，与所选期间 {p.text} 不一致",
                                       code="wrong_period")
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise ValidationFailed("文件是空的", code="empty_file")
        by_header: dict[str, str] = {}
        for f in fields:
            by_header[_header(f)] = by_header[str(f.get("name") or f["code"])] = by_header[f["code"]] = f["code"]
        cols: dict[int, str] = {}
        code_col = name_col = None
        for i, h in enumerate(header):
            text = str(h).strip() if h is not None else ""
            if text == CODE_HEADER:
                code_col = i
            elif text == NAME_HEADER:
                name_col = i
            elif text in by_header:
                cols[i] = by_header[text]
        if code_col is None and name_col is None:
            raise ValidationFailed(f"表头缺少“{NAME_HEADER}”列，请使用本页下载的模板", code="bad_header")
        if not cols:
            raise ValidationFailed("表头中没有任何填报项，请使用本页下载的模板", code="bad_header")
        units = forms_status.status_rows(session, ds, p, principal.scope_paths, forms.today_or(None))
        by_name: dict[str, list[str]] = {}
        for u in units:
            by_name.setdefault(u.unit_name, []).append(u.unit_code)
        states = {u.unit_code: u.state for u in units}
        names = {u.unit_code: u.unit_name for u in units}
        seen: set[str] = set()
        for n, raw in enumerate(rows, start=2):
            values = {code: _cell(raw[i]) for i, code in cols.items() if i < len(raw)}
            code = _cell(raw[code_col]) if code_col is not None and code_col < len(raw) else None
            name = _cell(raw[name_col]) if name_col is not None and name_col < len(raw) else None
            if all(v is None for v in values.values()):
                continue
            result.total += 1
            if result.total > MAX_ROWS:
                raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行", code="too_many_rows")
            name_text = str(name)[:100] if name is not None else ""
            if isinstance(code, int | float) and not isinstance(code, bool):
                code = str(int(code))
            if code is None and name_text:
                matches = by_name.get(name_text, [])
                code = matches[0] if len(matches) == 1 else None
            shown = {k: v for k, v in values.items()}
            if code is None or str(code) not in states:
                result.refused.append({"row": n, "unit_code": str(code or "")[:32],
                                       "unit_name": name_text or str(code or "")[:32], "values": shown,
                                       "reason": "单位不存在或不在您的管辖范围内（请勿修改单位代码和名称）"})
                continue
            code = str(code)
            if code in seen:
                result.refused.append({"row": n, "unit_code": code, "unit_name": names[code], "values": shown,
                                       "reason": "与本文件前面的行是同一单位"})
                continue
            seen.add(code)
            if states[code] not in forms.EDITABLE and states[code] != forms.MISSING:
                current = session.scalar(select(Submission.values).where(
                    Submission.dataset_code == ds.code, Submission.period == p.text,
                    Submission.path == next(u.unit_path for u in units if u.unit_code == code)))
                parsed, errors = forms.parse_values(ds, values)
                if not errors and {k: v for k, v in parsed.items() if v is not None} == forms.stored_values(current):
                    result.unchanged += 1
                    continue
            try:
                with session.begin_nested():
                    forms.save(session, principal, ds.code, code, p.text, values, submit=submit, via="excel",
                               audit_it=False)
            except DomainError as exc:
                result.refused.append({"row": n, "unit_code": code, "unit_name": names[code], "values": shown,
                                       "reason": _reason(exc)})
                continue
            result.accepted += 1
    finally:
        wb.close()
    audit.record(session, actor=principal.actor, action="eval.form_upload", object_type="eval_dataset",
                 object_id=ds.id, after={"dataset": ds.code, "period": p.text, "submit": submit,
                                         "accepted": result.accepted, "refused": len(result.refused)})
    session.flush()
    return result


def _reason(exc: DomainError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    parts = [*(details.get("fields") or {}).values(), *(details.get("rules") or [])]
    return "；".join(str(x) for x in parts) if parts else exc.message
