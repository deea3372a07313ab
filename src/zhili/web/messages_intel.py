"""UI text of the intelligence pages (智能研判): suggestions on cases and report forms, the 研判 page, the models."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "intel.nav": ("智能研判", "Intelligence"),
    "intel.forbidden": ("您没有查看智能研判的权限", "You may not open the intelligence pages"),
    "intel.models_forbidden": ("只有指挥中心和系统管理员可以管理模型", "Only the command centre and admins manage models"),
    # suggestions
    "intel.suggest.title": ("智能分拨建议", "Routing suggestions"),
    "intel.suggest.none": ("暂无可用的分拨模型（尚未训练或未启用），请按权责清单人工分拨。",
                           "No routing model is active yet: route by the responsibility list."),
    "intel.suggest.category": ("建议类别", "Suggested category"),
    "intel.suggest.department": ("建议处置部门", "Suggested department"),
    "intel.suggest.terms": ("依据词", "Because of"),
    "intel.suggest.take_category": ("采纳类别并受理", "Accept under this category"),
    "intel.suggest.take_department": ("采纳并派遣", "Dispatch to this department"),
    "intel.suggest.model": ("模型版本 {model}；置信度达到 {threshold} 的新上报自动分类。",
                            "Model {model}; new reports at or above {threshold} are classified automatically."),
    "intel.suggest.form_title": ("智能推荐类别", "Suggested categories"),
    "intel.suggest.form_hint": ("根据您填写的描述推荐，点选即可；也可以在上方自行选择。",
                                "Suggested from your description: pick one, or choose above."),
    "intel.suggest.taken": ("已采纳分拨建议。", "Suggestion taken."),
    # models
    "intel.models.title": ("模型管理", "Models"),
    "intel.models.lead": ("模型由平台用自己的办结事件训练（命令 zhili ml train，可设为定时任务），每个版本记录训练数据的时间范围、"
                          "时间外推评估及其朴素基线、训练人和启用人。启用新版本即停用旧版本；回退即重新启用上一个版本。",
                          "Models are trained from the platform's own closed cases (zhili ml train, also scheduled)."),
    "intel.models.empty": ("尚未训练任何模型。在服务器上运行 zhili ml train 训练分拨模型。",
                           "No model yet. Run zhili ml train on the server."),
    "intel.models.name": ("模型", "Model"),
    "intel.models.version": ("版本", "Version"),
    "intel.models.state": ("状态", "State"),
    "intel.models.window": ("训练数据", "Training data"),
    "intel.models.n": ("样本数", "Rows"),
    "intel.models.metric": ("评估（时间外推）", "Evaluation (time split)"),
    "intel.models.baseline": ("朴素基线", "Naive baselines"),
    "intel.models.trained": ("训练", "Trained"),
    "intel.models.activated": ("启用", "Activated"),
    "intel.models.activate": ("启用此版本", "Activate"),
    "intel.models.rollback": ("回退到上一版本", "Roll back"),
    "intel.models.activated_msg": ("已启用该版本。", "Version activated."),
    "intel.models.rolled_back": ("已回退到上一版本。", "Rolled back."),
    "intel.models.note": ("备注", "Note"),
    "intel.model_name.category": ("事件类别分拨", "Category routing"),
    "intel.model_name.department": ("处置部门分拨", "Department routing"),
    "intel.state.trained": ("未启用", "Trained"),
    "intel.state.active": ("使用中", "Active"),
    "intel.state.retired": ("已停用", "Retired"),
    "intel.metric.top1": ("首选准确率", "Top-1"),
    "intel.metric.top3": ("前三命中率", "Top-3"),
    "intel.metric.macro_f1": ("宏平均F1", "Macro-F1"),
    "intel.baseline.majority": ("多数类", "Majority class"),
    "intel.baseline.tfidf_lr": ("TF-IDF+逻辑回归", "TF-IDF + LR"),
}

i18n.extend(MESSAGES)
