"""UI text of the forms that must not lose or duplicate work (the report form, the visit form): the message beside a
missing or over-long field, the length counter, the sending state and the notes after a form sent twice. Registered
with the catalogue at import."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "formcheck.required": ("请填写{label}", "Fill in: {label}"),
    "formcheck.choose": ("请选择{label}", "Choose: {label}"),
    "formcheck.too_long": ("{label}不能超过 {max} 字，现为 {n} 字，请删减 {over} 字",
                      "{label}: at most {max} characters; this has {n}, remove {over}"),
    "formcheck.chars_max": ("最多 {n} 字", "At most {n} characters"),
    "formcheck.chars_left": ("剩余 {n} 字", "{n} characters left"),
    "formcheck.chars_over": ("已超出 {n} 字", "{n} characters over the limit"),
    "formcheck.fix_fields": ("请修改下面标出的 {n} 项后再提交：",
                             "Correct the {n} marked fields below and send again:"),
    "formcheck.sending": ("正在提交…", "Sending…"),
    "formcheck.sent_before": ("这张表单已经提交过。原样再次提交不会重复上报，只会打开已受理的记录。",
                         "This form was sent already. Sending it again as it is files nothing new; it opens the "
                         "record that was filed."),
    "report.location_required": ("请提供事发位置：使用当前位置、在地图上选点或填写地址",
                                 "Give the place: use your location, pick it on the map or type an address"),
    "report.attributes": ("{name}：请补充", "{name}: a few details"),
    "visit.choose_kind": ("请选择走访类型", "Choose the kind of visit"),
    "msg.already_reported": ("已提交过，未重复上报。下面是您之前提交的事件。",
                             "This report was sent before and was not filed twice. Here is the case it filed."),
    "msg.visit_already_recorded": ("这次走访已保存过，未重复记录。", "This visit was saved before; it was not "
                                   "recorded twice."),
}

i18n.extend(MESSAGES)
