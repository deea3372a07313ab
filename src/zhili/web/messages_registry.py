"""UI text of the register pages (基础数据), zh-CN and English, added to the page catalogue at import."""

from __future__ import annotations

from zhili.registry.fields import BUILDING_TYPES, ORG_TYPES, PERSON_STATUSES
from zhili.web import i18n

_SECTIONS = {
    "units": ("区划网格", "Units"), "buildings": ("楼栋", "Buildings"), "households": ("房屋", "Households"),
    "persons": ("人员", "Persons"), "organisations": ("组织", "Organisations"),
}
_BUILDING_TYPES_EN = {"residential": "Residential", "commercial": "Commercial", "mixed": "Mixed use",
                      "public": "Public building", "industrial": "Industrial", "rural_house": "Rural house"}
_ORG_TYPES_EN = {"enterprise": "Enterprise", "individual_business": "Individual business",
                 "social_org": "Social organisation", "government": "Public institution", "school": "School",
                 "medical": "Medical institution", "party_org": "Party organisation", "other": "Other"}
_STATUSES_EN = {"active": "Registered", "moved_out": "Moved out", "deceased": "Deceased"}
_LEVELS = {"province": ("省", "Province"), "city": ("市", "City"), "district": ("区县", "District"),
           "street": ("街道/乡镇", "Street/township"), "community": ("社区/村", "Community/village"),
           "grid": ("网格", "Grid")}
_FIELDS = {
    "building_name": ("楼栋名称", "Building name"), "person_name": ("姓名", "Name"), "org_name": ("名称", "Name"),
    "address": ("地址", "Address"), "compound": ("小区", "Compound"), "code": ("楼栋编码", "Building code"),
    "building_type": ("类型", "Type"), "floors": ("层数", "Floors"), "lon": ("经度", "Longitude"),
    "lat": ("纬度", "Latitude"), "note": ("备注", "Note"), "grid_id": ("所属网格", "Grid"),
    "entrance_id": ("单元", "Stairwell"), "room": ("室号", "Room"), "use": ("用途", "Use"),
    "area_m2": ("面积（平方米）", "Area (m²)"), "id_number": ("身份证号", "ID number"), "phone": ("手机号", "Mobile"),
    "relation": ("与户主关系", "Relation to head"), "ethnicity": ("民族", "Ethnicity"),
    "resident_type": ("人口类型", "Resident type"), "care_tags": ("关爱标签", "Care tags"),
    "status": ("状态", "Status"), "credit_code": ("统一社会信用代码", "Unified social credit code"),
    "org_type": ("类型", "Type"), "industry": ("行业", "Industry"), "legal_rep": ("法定代表人", "Legal representative"),
    "contact_name": ("联系人", "Contact"), "contact_phone": ("联系电话", "Contact phone"),
    "employees": ("从业人数", "Employees"),
}
_FILTERS = {"building_type": ("楼栋类型", "Building type"), "use": ("房屋用途", "Use"),
            "resident_type": ("人口类型", "Resident type"), "care_tag": ("关爱标签", "Care tag"),
            "status": ("人员状态", "Status"), "org_type": ("组织类型", "Organisation type")}
_SEARCH = {"buildings": ("楼栋名称、地址或小区", "Building name, address or compound"),
           "households": ("地址或室号", "Address or room"),
           "persons": ("姓名、身份证号或手机号", "Name, ID number or mobile number"),
           "organisations": ("名称、地址或统一社会信用代码", "Name, address or credit code")}
_NEW = {"buildings": ("新增楼栋", "New building"), "households": ("新增房屋", "New household"),
        "persons": ("新增人员", "New person"), "organisations": ("新增组织", "New organisation")}

MESSAGES: dict[str, tuple[str, str]] = {
    "registry.nav": ("基础数据", "Registers"),
    "registry.title": ("基础数据", "Registers"),
    "registry.forbidden": ("您的角色不能使用基础数据管理。", "Your role cannot manage the registers."),
    "registry.units": ("区划网格", "Units"),
    "registry.no_units": ("您的账号没有绑定任何单位。", "Your account is not bound to any unit."),
    "registry.breadcrumbs": ("所在位置", "Location"),
    "registry.unit_retired": ("已撤销", "Retired"),
    "registry.unit_code": ("区划代码", "Code"),
    "registry.unit_name": ("名称", "Name"),
    "registry.unit_children": ("下级单位", "Units below"),
    "registry.new_building_here": ("在本网格新增楼栋", "Add a building in this grid"),
    "registry.grid_workers": ("网格员", "Grid workers"),
    "registry.no_grid_workers": ("暂无网格员。", "No grid workers."),
    "registry.workers_total": ("共 {n} 人", "{n} in total"),
    "registry.grid": ("所属网格", "Grid"),
    "registry.building": ("所在楼栋", "Building"),
    "registry.household": ("所住房屋", "Household"),
    "registry.entrances": ("单元", "Stairwells"),
    "registry.coordinates": ("经纬度", "Coordinates"),
    "registry.birth_date": ("出生日期", "Date of birth"),
    "registry.edit": ("修改", "Edit"),
    "registry.save": ("保存", "Save"),
    "registry.cancel": ("取消", "Cancel"),
    "registry.choose": ("请选择", "Choose"),
    "registry.choose_grid": ("请选择网格", "Choose a grid"),
    "registry.no_entrance": ("不分单元", "No stairwell"),
    "registry.required": ("必填", "Required"),
    "registry.form_invalid": ("有内容需要修改，请查看标红的项目。", "Some fields need attention (marked in red)."),
    "registry.filter_unit": ("所属单位", "Unit"),
    "registry.clear_filters": ("清除筛选", "Clear filters"),
    "registry.export": ("导出 Excel（最多 {n} 条）", "Export to Excel (up to {n} rows)"),
    "registry.list_empty": ("没有符合条件的记录。", "Nothing matches."),
    "registry.hint.lonlat": ("WGS-84 坐标，选填；不选网格时按坐标自动定位",
                             "WGS-84; without a grid the point is located"),
    "registry.hint.grid_or_point": ("选择网格，或在下方填写经纬度自动定位", "Choose a grid, or give coordinates below"),
    "registry.hint.household_address": ("不填则由楼栋地址加室号生成", "Left empty: building address and room"),
    "registry.hint.person_grid": ("没有所住房屋时必填", "Required when the person has no household"),
    "registry.hint.keep_phone": ("出于隐私保护不显示原号码；留空则不修改",
                                 "Not shown for privacy; leave empty to keep it"),
    # import
    "registry.import": ("Excel 导入", "Excel import"),
    "registry.import_step1": ("1. 下载导入模板", "1. Download a template"),
    "registry.import_template_hint": ("模板第1行是列名（带*的必填），第2行是示例，“填写说明”页解释每一列。",
                                      "Row 1 holds the column names (* = required), row 2 an example; the second "
                                      "sheet explains every column."),
    "registry.import_step2": ("2. 上传填好的文件", "2. Upload the filled-in file"),
    "registry.import_kind": ("导入类型", "Register"),
    "registry.import_file": ("Excel 文件", "Excel file"),
    "registry.import_limits": ("仅支持 .xlsx，每次最多 {rows} 行、不超过 {mb}MB",
                               ".xlsx only, up to {rows} rows and {mb} MB"),
    "registry.import_rules": ("每一行都会经数据中台校验：有问题的行不导入，进入隔离区并说明原因，其余行照常导入；"
                              "身份证号等已登记的记录按本次内容更新，不会重复登记；同一文件再次上传时未改动的行不再写入。",
                              "Every row is checked by the data hub: rows with problems are quarantined with the "
                              "reason and not imported, the others are; records already registered (same ID number "
                              "etc.) are updated, never duplicated; rows unchanged since the last upload are not "
                              "written again."),
    "registry.import_submit": ("开始导入", "Import"),
    "registry.import_recent": ("我最近的导入", "My recent imports"),
    "registry.import_time": ("导入时间", "Time"),
    "registry.import_none": ("还没有导入记录。", "No imports yet."),
    "registry.import_choose_kind": ("请选择导入类型", "Choose what to import"),
    "registry.import_choose_file": ("请选择要上传的 Excel 文件", "Choose the Excel file to upload"),
    "registry.import_choose_again": ("请重新选择文件后再提交。", "Choose the file again and resubmit."),
    "registry.batch_title": ("导入结果", "Import result"),
    "registry.batch_total": ("数据行", "Rows"),
    "registry.batch_created": ("新增", "Created"),
    "registry.batch_updated": ("更新", "Updated"),
    "registry.batch_unchanged": ("未变", "Unchanged"),
    "registry.batch_rejected": ("隔离", "Quarantined"),
    "registry.batch_failed": ("导入失败：{error}", "The import failed: {error}"),
    "registry.batch_hub": ("这些行已进入数据中台隔离区，可在隔离区逐行修正后重新导入。",
                           "These rows wait in the data hub's quarantine, where they can be fixed and re-run."),
    "registry.batch_hub_link": ("到数据中台隔离区处理", "Open them in the data hub quarantine"),
    "registry.batch_hub_import": ("在数据中台查看本次导入", "This import in the data hub"),
    "registry.batch_fixed": ("已修正", "Fixed"),
    "registry.batch_discarded": ("已作废", "Discarded"),
    "registry.batch_dedupe": ("已登记的记录（同一身份证号、统一社会信用代码、楼栋编码或同一房屋）按本次内容更新，"
                              "不重复登记；空白单元格不会清除原有内容。",
                              "Records already registered (same ID number, credit code, building code or room) "
                              "are updated, never duplicated; empty cells keep what was stored."),
    "registry.batch_rejected_rows": ("未导入的行（隔离区）", "Quarantined rows"),
    "registry.batch_download": ("下载待修正的行", "Download the rows to fix"),
    "registry.batch_download_hint": ("下载的文件带有“错误原因”列，按原因修改后可直接重新导入。",
                                     "The download has a reason column; fix the rows and import the file again."),
    "registry.batch_shown": ("页面只显示前 {n} 行，全部内容请下载。", "Only the first {n} are shown; download all."),
    "registry.batch_row": ("行号", "Row"),
    "registry.batch_state": ("状态", "State"),
    "registry.batch_reason": ("错误原因", "Reason"),
    "msg.registry_saved": ("已保存。", "Saved."),
}
for key, (zh, en) in _SECTIONS.items():
    MESSAGES[f"registry.section.{key}"] = (zh, en)
for key, (zh, en) in _FIELDS.items():
    MESSAGES[f"registry.field.{key}"] = (zh, en)
for key, (zh, en) in _FILTERS.items():
    MESSAGES[f"registry.filter.{key}"] = (zh, en)
for key, (zh, en) in _SEARCH.items():
    MESSAGES[f"registry.search.{key}"] = (zh, en)
for key, (zh, en) in _NEW.items():
    MESSAGES[f"registry.new.{key}"] = (zh, en)
    MESSAGES[f"registry.template.{key}"] = (f"{_SECTIONS[key][0]}导入模板", f"{_SECTIONS[key][1]} template")
for key, (zh, en) in _LEVELS.items():
    MESSAGES[f"registry.level.{key}"] = (zh, en)
for key, zh in BUILDING_TYPES.items():
    MESSAGES[f"registry.building_type.{key}"] = (zh, _BUILDING_TYPES_EN[key])
for key, zh in ORG_TYPES.items():
    MESSAGES[f"registry.org_type.{key}"] = (zh, _ORG_TYPES_EN[key])
for key, zh in PERSON_STATUSES.items():
    MESSAGES[f"registry.person_status.{key}"] = (zh, _STATUSES_EN[key])

i18n.extend(MESSAGES)
