"""The message catalogue of the pages: every piece of UI text, by message id, in zh-CN (default) and English.

Templates call ``t("id")`` (a Jinja global); Python code calls :func:`translate`. The locale comes from the
``zhili_lang`` cookie, else the ``Accept-Language`` header, else zh-CN. Messages raised by the services (domain
errors) are Chinese and are shown as they are.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from zhili.core import names

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
LOCALE_COOKIE = "zhili_lang"
LOCALE_NAMES = {"zh-CN": "简体中文", "en": "English"}

_CATALOGUE: dict[str, tuple[str, str]] = {
    # -- frame ----------------------------------------------------------------------------------------------
    "app.name": ("智理", "Zhili"),
    "app.tagline": ("基层社会治理平台", "Grassroots governance platform"),
    "nav.skip": ("跳到主要内容", "Skip to main content"),
    "nav.home": ("首页", "Home"),
    "nav.logout": ("退出登录", "Log out"),
    "nav.password": ("修改密码", "Change password"),
    "nav.user": ("当前用户", "Signed in as"),
    "nav.main": ("主导航", "Main navigation"),
    "nav.language": ("语言", "Language"),
    "nav.switch": ("切换", "Switch"),
    "nav.back": ("返回", "Back"),
    "footer.offline": ("本系统所有页面资源均由本地服务器提供", "All page assets are served locally"),
    "common.submit": ("提交", "Submit"),
    "common.search": ("搜索", "Search"),
    "common.required": ("必填", "required"),
    "common.optional": ("选填", "optional"),
    "common.none": ("暂无", "None"),
    "common.prev": ("上一页", "Previous"),
    "common.next": ("下一页", "Next"),
    "common.page": ("第 {page} 页，共 {pages} 页", "Page {page} of {pages}"),
    "common.total": ("共 {total} 条", "{total} in total"),
    "common.total_over": ("超过 {total} 条（只计数到此，请用筛选条件缩小范围）",
                          "more than {total} (counted up to here: narrow the filters)"),
    "common.view": ("查看", "View"),
    "common.error_title": ("操作未成功", "That did not work"),
    # -- flash messages (shown from ?msg=<id>; only ids listed here are ever shown) ---------------------------
    "msg.logged_out": ("您已安全退出。", "You have logged out."),
    "msg.password_changed": ("密码已修改。", "Your password has been changed."),
    "msg.reported": ("上报成功，我们会尽快处理。", "Your report has been received."),
    "msg.action_done": ("操作已完成。", "Done."),
    "msg.must_change_password": ("首次登录或密码已被重置，请先修改密码。",
                                 "Please change your password before continuing."),
    "msg.login_required": ("请先登录。", "Please log in first."),
    # -- login and account ------------------------------------------------------------------------------------
    "login.title": ("登录", "Log in"),
    "login.heading": ("登录智理平台", "Log in to Zhili"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("登录失败", "Login failed"),
    "logout.title": ("退出登录", "Log out"),
    "logout.confirm": ("确定要退出登录吗？", "Do you want to log out?"),
    "password.title": ("修改密码", "Change password"),
    "password.old": ("原密码", "Current password"),
    "password.new": ("新密码", "New password"),
    "password.confirm": ("再次输入新密码", "Repeat the new password"),
    "password.rules": ("至少10位，包含大写字母、小写字母、数字、符号中的至少三类，不能包含用户名。",
                       "At least 10 characters, three of upper case, lower case, digits and symbols, "
                       "not containing the username."),
    "password.mismatch": ("两次输入的新密码不一致", "The two new passwords differ"),
    "password.submit": ("保存新密码", "Save new password"),
    # -- errors -----------------------------------------------------------------------------------------------
    "error.title": ("出错了", "Error"),
    "error.400": ("请求有误", "Bad request"),
    "error.400.detail": ("提交的内容不完整或格式不正确，请返回检查后重试。",
                         "Something in the request was missing or malformed. Go back and try again."),
    "error.403": ("没有权限", "Forbidden"),
    "error.403.detail": ("您没有访问此页面或执行此操作的权限。", "You are not allowed to open this page or do this."),
    "error.404": ("页面不存在", "Page not found"),
    "error.404.detail": ("您要找的页面不存在，或不在您的管辖范围内。",
                         "The page does not exist or is outside your jurisdiction."),
    "error.405": ("不支持该操作", "Method not allowed"),
    "error.405.detail": ("该页面不支持这种访问方式。", "This page cannot be used that way."),
    "error.409": ("数据已变化", "Conflict"),
    "error.409.detail": ("数据已被他人修改，请刷新后重试。", "Someone else changed this; reload and try again."),
    "error.invalid_data": ("输入的内容无法保存：含有不允许的字符（如空字符），或超出了长度、数值范围，请修改后重试。",
                           "What was entered cannot be stored (a forbidden character such as NUL, or past a length "
                           "or range); change it and try again."),
    "error.500": ("服务器内部错误", "Internal server error"),
    "error.500.detail": ("系统出现了意外错误，我们已记录。请稍后重试，或将事件编号告知管理员。",
                         "Something went wrong on our side and it has been logged. Try again later or give the "
                         "incident number to an administrator."),
    "error.incident": ("事件编号", "Incident number"),
    "error.csrf": ("页面已过期或来源不明，请刷新页面后重新提交。",
                   "The form has expired or did not come from this site. Reload the page and submit again."),
    "error.go_home": ("返回首页", "Go to the home page"),
    "error.resident_only": ("此页面仅供居民使用。", "This page is for residents."),
    "error.grid_worker_only": ("此页面仅供网格员使用。", "This page is for grid workers."),
    "error.too_many_photos": ("最多上传 {n} 张照片", "At most {n} photos"),
    "error.bad_coordinates": ("位置坐标格式不正确", "The coordinates are not valid"),
    "error.unknown_action": ("不支持的操作", "Unknown action"),
    "error.bad_number": ("请输入有效的数字", "Enter a valid number"),
    "error.report_resent_changed": ("这张表单已经提交过，内容与这次不同，本次未予受理。"
                                    "如需上报新的问题，请确认内容后再次提交。",
                                    "This form was already sent with other content, so it was not filed again. "
                                    "To report a new problem, check the form and send it again."),
    # -- report form ------------------------------------------------------------------------------------------
    "report.title": ("我要上报", "Report a problem"),
    "report.patrol_title": ("巡查上报", "Patrol report"),
    "report.step_category": ("1. 问题类型", "1. What kind of problem"),
    "report.category_search": ("搜索问题类型", "Search problem types"),
    "report.category_search_hint": ("输入关键字，如“垃圾”“井盖”", "Type a keyword, e.g. “垃圾”"),
    "report.category_chosen": ("已选择", "Chosen"),
    "report.category_required": ("请选择问题类型", "Choose the kind of problem"),
    "report.category_none": ("没有找到匹配的问题类型", "No matching problem type"),
    "report.step_describe": ("2. 描述问题", "2. Describe it"),
    "report.description": ("问题描述", "Description"),
    "report.description_hint": ("请说明发生了什么、在哪里、持续多久", "What happened, where, and since when"),
    "report.photos": ("现场照片", "Photos"),
    "report.photos_hint": ("最多 {n} 张，支持 {types} 图片", "Up to {n} images: {types}"),
    "report.step_location": ("3. 事发位置", "3. Where"),
    "report.locate": ("使用我的当前位置", "Use my current location"),
    "report.locating": ("正在定位…", "Locating…"),
    "report.located": ("已获取当前位置", "Location found"),
    "report.locate_failed": ("无法获取位置，请在地图上选点或填写地址", "Could not get your location; pick it on "
                                                                 "the map or type the address"),
    "report.locate_unsupported": ("此浏览器不支持定位", "This browser cannot locate you"),
    "report.map_pick": ("在地图上选点", "Pick on the map"),
    "report.map_hint": ("点击地图选择事发位置；线框为网格边界", "Tap the map to set the place; outlines are grids"),
    "report.map_picked": ("已在地图上选择位置", "Place chosen on the map"),
    "report.map_label": ("网格地图", "Grid map"),
    "report.lon": ("经度", "Longitude"),
    "report.lat": ("纬度", "Latitude"),
    "report.address": ("地址或位置描述", "Address or landmark"),
    "report.contact": ("联系方式", "Contact"),
    "report.contact_hint": ("选填，便于工作人员回访核实；不会向处置部门公开",
                            "Optional, for a call-back; never shown to the handling department"),
    "report.name": ("称呼", "Name"),
    "report.phone": ("手机号", "Mobile number"),
    "report.submit": ("提交上报", "Send report"),
    # -- resident portal --------------------------------------------------------------------------------------
    "h5.title": ("居民随手拍", "Resident reports"),
    "h5.welcome": ("发现身边的问题？拍一拍，报一报。", "Seen a problem nearby? Report it."),
    "h5.report": ("我要上报", "Report a problem"),
    "h5.report_hint": ("三步完成：选类型、写描述、定位置", "Three steps: type, description, place"),
    "h5.mine": ("我的上报", "My reports"),
    "h5.mine_hint": ("查看办理进度，评价处理结果", "Follow progress and rate the result"),
    "h5.mine_empty": ("您还没有上报过问题。", "You have not reported anything yet."),
    "h5.open_count": ("办理中 {n} 件", "{n} in progress"),
    # -- case detail ------------------------------------------------------------------------------------------
    "case.number": ("事件编号", "Case number"),
    "case.category": ("问题类型", "Type"),
    "case.state": ("状态", "Status"),
    "case.reported_at": ("上报时间", "Reported"),
    "case.address": ("位置", "Place"),
    "case.description": ("问题描述", "Description"),
    "case.resolution": ("处置结果", "Result"),
    "case.rating": ("评价", "Rating"),
    "case.handle_due": ("处置期限", "Due"),
    "case.channel": ("来源", "Channel"),
    "case.merged_count": ("合并进来的事件", "Cases merged into it"),
    "case.photos": ("照片", "Photos"),
    "case.photo_alt": ("事件照片 {n}", "Case photo {n}"),
    "case.timeline": ("办理过程", "Progress"),
    "case.actions": ("可执行的操作", "What you can do"),
    "case.overdue": ("已超期", "Overdue"),
    "case.warning_yellow": ("即将超期", "Due soon"),
    "case.version_hint": ("如提示数据已变化，请刷新页面。", "If told the case changed, reload the page."),
    "field.reason": ("原因", "Reason"),
    "field.result": ("处置结果", "Result"),
    "field.hours": ("延期时长（工作小时）", "Extension (working hours)"),
    "field.rating": ("满意度评分", "Satisfaction"),
    "field.comment": ("备注", "Comment"),
    "field.message": ("意见", "Message"),
    "field.reply": ("反馈意见", "Reply"),
    "rating.1": ("1 星（很不满意）", "1 star (very unhappy)"),
    "rating.2": ("2 星（不满意）", "2 stars (unhappy)"),
    "rating.3": ("3 星（一般）", "3 stars (fair)"),
    "rating.4": ("4 星（满意）", "4 stars (happy)"),
    "rating.5": ("5 星（非常满意）", "5 stars (very happy)"),
    # -- grid worker ------------------------------------------------------------------------------------------
    "gw.title": ("网格员工作台", "Grid worker"),
    "gw.tasks": ("我的任务", "My tasks"),
    "gw.tab.new": ("新派遣", "New"),
    "gw.tab.due_soon": ("即将超期", "Due soon"),
    "gw.tab.overdue": ("已超期", "Overdue"),
    "gw.tab.verify": ("待核查", "To verify"),
    "gw.tab.open": ("全部在办", "All open"),
    "gw.tasks_empty": ("这里没有任务。", "No tasks here."),
    "gw.patrol": ("巡查上报", "Patrol report"),
    "gw.households": ("户籍查询", "Households"),
    "gw.household_search": ("按地址、室号或住户的手机号、身份证号查询",
                            "Search by address, room, or a member's phone or ID number"),
    "gw.households_empty": ("没有找到房屋/户。", "No households found."),
    "gw.household": ("房屋/户", "Household"),
    "gw.room": ("室号", "Room"),
    "gw.use": ("用途", "Use"),
    "gw.area": ("面积（平方米）", "Area (m²)"),
    "gw.persons": ("户内人员", "Members"),
    "gw.persons_empty": ("该户暂无登记人员。", "Nobody registered here."),
    "gw.masked_note": ("身份证号和手机号已脱敏。查看完整信息需填写事由，系统将记录审计日志。",
                       "ID and phone numbers are masked. Showing them needs a reason and is audited."),
    "gw.reveal": ("查看完整信息", "Show full details"),
    "gw.reveal_reason": ("查看事由", "Reason"),
    "gw.reveal_reason_hint": ("如：入户走访核实", "e.g. home visit check"),
    "gw.revealed": ("完整信息（已记录审计）", "Full details (audited)"),
    "person.name": ("姓名", "Name"),
    "person.gender": ("性别", "Gender"),
    "person.age": ("年龄", "Age"),
    "person.relation": ("与户主关系", "Relation"),
    "person.id_number": ("身份证号", "ID number"),
    "person.phone": ("手机号", "Phone"),
    "person.resident_type": ("人口类型", "Resident type"),
    "person.care_tags": ("关怀标签", "Care tags"),
    "gender.male": ("男", "Male"),
    "gender.female": ("女", "Female"),
    "use.owner_occupied": ("自住", "Owner-occupied"),
    "use.rented": ("出租", "Rented"),
    "use.vacant": ("空置", "Vacant"),
    "use.business": ("经营", "Business"),
    "resident_type.registered": ("户籍人口", "Registered"),
    "resident_type.floating": ("流动人口", "Non-local"),
    "resident_type.foreign": ("境外人员", "Foreign"),
    "relation.head": ("户主", "Head"),
    "relation.spouse": ("配偶", "Spouse"),
    "relation.child": ("子女", "Child"),
    "relation.parent": ("父母", "Parent"),
    "relation.grandchild": ("孙子女", "Grandchild"),
    "relation.grandparent": ("祖父母", "Grandparent"),
    "relation.sibling": ("兄弟姐妹", "Sibling"),
    "relation.tenant": ("租户", "Tenant"),
    "relation.other": ("其他", "Other"),
    "care.elderly_alone": ("独居老人", "Living alone (elderly)"),
    "care.elderly_80": ("80岁以上老人", "Aged 80+"),
    "care.disabled": ("残疾人", "Disabled"),
    "care.subsistence": ("低保", "Subsistence allowance"),
    "care.left_behind_child": ("留守儿童", "Left-behind child"),
    "care.veteran": ("退役军人", "Veteran"),
    "care.serious_illness": ("大病患者", "Serious illness"),
    "care.psychiatric": ("严重精神障碍患者", "Severe mental disorder"),
    "care.community_correction": ("社区矫正对象", "Community correction"),
    # -- command-centre screen -------------------------------------------------------------------------------
    "screen.title": ("指挥中心大屏", "Command centre screen"),
    "screen.forbidden": ("只有指挥中心、领导、管理员和街道/社区工作人员可以查看大屏。",
                         "Only the command centre, leaders, administrators and street/community staff may open "
                         "the screen."),
    "screen.reported_today": ("今日上报", "Reported today"),
    "screen.open": ("在办事件", "Open"),
    "screen.overdue_now": ("当前超期", "Overdue now"),
    "screen.on_time_rate": ("按时办结率（30天）", "On-time rate (30 days)"),
    "screen.satisfaction": ("满意度（30天）", "Satisfaction (30 days)"),
    "screen.map": ("事件分布", "Case map"),
    "screen.by_density": ("按密度", "By density"),
    "screen.by_overdue": ("按超期率", "By overdue rate"),
    "screen.trend": ("上报趋势", "Trend"),
    "screen.by_day": ("按日", "Daily"),
    "screen.by_week": ("按周", "Weekly"),
    "screen.categories": ("类别分布（30天）", "Categories (30 days)"),
    "screen.ranking": ("按时办结率排名", "On-time ranking"),
    "screen.hot": ("热点问题（近7天）", "Hot issues (7 days)"),
    "screen.hot_none": ("近7天没有形成热点的问题", "No hot issue in the last 7 days"),
    "screen.hot_count": ("件", " reports"),
    "screen.rank": ("名次", "Rank"),
    "screen.unit": ("单位", "Unit"),
    "screen.reported": ("上报", "Reported"),
    "screen.closed": ("办结", "Closed"),
    "screen.rate": ("按时率", "On time"),
    "screen.updated": ("更新于", "Updated"),
    "screen.loading": ("加载中…", "Loading…"),
    "screen.load_failed": ("数据加载失败，稍后自动重试", "Loading failed; retrying shortly"),
    "screen.back_up": ("返回上级", "Up one level"),
    "screen.console": ("工作台", "Console"),
    # -- staff console ----------------------------------------------------------------------------------------
    "console.title": ("受理派遣", "Intake and dispatch"),
    "console.queue": ("待处理队列", "Queue"),
    "console.queue_empty": ("队列中暂无待处理事件。", "Nothing waiting."),
    "console.inbox": ("部门待办", "Department inbox"),
    "console.inbox_empty": ("本部门暂无待办事件。", "Nothing assigned to your department."),
    "console.screen": ("指挥大屏", "Screen"),
    "console.forbidden": ("您的角色不能使用受理派遣工作台。", "Your role cannot use the intake console."),
    "console.inbox_forbidden": ("只有职能部门人员可以使用部门待办。", "Only department handlers use the inbox."),
    "console.number": ("编号", "Number"),
    "console.case_title": ("标题", "Title"),
    "console.state": ("状态", "State"),
    "console.department": ("处置部门", "Department"),
    "console.master_number": ("主事件编号", "Master case number"),
    "console.accept_dispatch": ("受理并派遣", "Accept and dispatch"),
    "console.choose_department": ("请选择处置部门", "Choose a department"),
    "console.map_point": ("事件位置", "Location"),
    "console.no_point": ("该事件没有坐标。", "This case has no coordinates."),
    "console.locate_grid": ("或选择所在网格", "Or choose the grid"),
    "console.locate_hint": ("填写经纬度（WGS-84），或在下方搜索并选择网格。",
                            "Enter the coordinates (WGS-84), or search and choose the grid below."),
    "console.open_case": ("办理", "Handle"),
    "console.filter_state": ("状态筛选", "Filter by state"),
    "console.all": ("全部", "All"),
    "console.unknown_master": ("主事件编号不存在或无权查看", "No such master case"),
    "console.department_required": ("请选择处置部门", "Choose a department"),
    "field.department": ("处置部门", "Department"),
    "field.master_number": ("主事件编号", "Master case number"),
    "field.lon": ("经度", "Longitude"),
    "field.lat": ("纬度", "Latitude"),
    # -- enumerations ---------------------------------------------------------------------------------------
    # roles ("role.*"), case states ("state.*") and report channels ("channel.*") come from zhili.core.names
    "action.report": ("上报", "Reported"),
    "action.accept": ("受理", "Accept"),
    "action.reject": ("不予受理", "Reject"),
    "action.merge": ("合并重复件", "Merge duplicate"),
    "action.dispatch": ("派遣", "Dispatch"),
    "action.locate": ("定位", "Place on the map"),
    "action.start": ("签收", "Start"),
    "action.request_extension": ("申请延期", "Request extension"),
    "action.approve_extension": ("同意延期", "Approve extension"),
    "action.deny_extension": ("不同意延期", "Deny extension"),
    "action.return_case": ("退回", "Return"),
    "action.escalate": ("上报上级", "Escalate"),
    "action.complete_subtask": ("协办完成", "Sub-task done"),
    "action.resolve": ("处置完成", "Resolve"),
    "action.verify": ("核查通过", "Verify"),
    "action.send_back": ("核查不通过", "Send back"),
    "action.rate": ("评价", "Rate"),
    "action.close": ("结案", "Close"),
    "action.reopen": ("重开", "Reopen"),
    "action.supervise": ("督办", "Supervise"),
    "action.answer_supervision": ("督办反馈", "Answer supervision"),
    "action.warning_yellow": ("黄灯预警", "Yellow warning"),
    "action.warning_red": ("超期督办", "Overdue notice"),
    "action.warning_escalation": ("升级督办", "Escalated notice"),
    "action.iot_repeat": ("物联设备再次告警", "Sensor alarmed again"),
    "action.classify": ("智能分类", "Classified by the model"),  # a report filed without a category (cases.suggest)
    # the residence-permit flow (居住证申领, cases.flows); accept / reject are the same words as an event's
    "action.request_correction": ("退回补正", "Returned for missing material"),
    "action.resubmit": ("补正后提交", "Resubmitted"),
    "action.verify_residence": ("居住核查通过", "Residence verified"),
    "action.deny": ("不予签发", "Not issued"),
    "action.approve": ("审批通过", "Approved"),
    "action.issue": ("制证完成", "Permit made"),
    "action.deliver": ("送达", "Delivered"),
}

MESSAGES: dict[str, dict[str, str]] = {k: {"zh-CN": zh, "en": en} for k, (zh, en) in _CATALOGUE.items()}


def extend(catalogue: dict[str, tuple[str, str]]) -> None:
    """Add a page module's own messages (zh-CN, English) to the catalogue; a key defined twice is a bug."""
    clash = sorted(set(catalogue) & set(MESSAGES))
    if clash:
        raise ValueError(f"message ids defined twice: {', '.join(clash)}")
    MESSAGES.update({k: {"zh-CN": zh, "en": en} for k, (zh, en) in catalogue.items()})


extend(names.catalogue())  # the code → name tables (roles, states, channels): one place, shared with the services


def translate(locale: str, key: str, **params: Any) -> str:
    """The message ``key`` in ``locale`` (zh-CN when missing there); unknown keys come back as the key itself."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(locale) or entry[DEFAULT_LOCALE]
    return text.format(**params) if params else text


def has(key: str) -> bool:
    """True if ``key`` is in the catalogue."""
    return key in MESSAGES


def negotiate(request: Request) -> str:
    """The request's locale: the ``zhili_lang`` cookie, else the best of Accept-Language, else zh-CN."""
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in LOCALES:
        return cookie
    header = request.headers.get("accept-language", "")
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            choices.append((-q, i, tag.strip().lower()))
    for neg_q, _, tag in sorted(choices):
        if neg_q >= 0:
            break
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE
