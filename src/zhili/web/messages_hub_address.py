"""UI text of the address-parsing page (地址解析), registered with the catalogue at import."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "hub_address.title": ("地址解析", "Address parsing"),
    "hub_address.lead": ("输入一条地址，查看拆分出的各级地名，以及它在本平台区划与楼栋数据中的位置。",
                         "Type an address to see its parts and where it lies in the platform's regions and "
                         "buildings."),
    "hub_address.input": ("地址", "Address"),
    "hub_address.hint": ("例如：浙江省湖州市长兴县雉城街道金陵社区明珠路8号3幢2单元301室，或 长兴明珠路8号3-2-301",
                         "For example: 长兴明珠路8号3-2-301"),
    "hub_address.submit": ("解析", "Parse"),
    "hub_address.parts": ("拆分结果", "Parts"),
    "hub_address.part": ("层级", "Part"),
    "hub_address.value": ("内容", "Value"),
    "hub_address.province": ("省", "Province"),
    "hub_address.city": ("市", "City"),
    "hub_address.district": ("区县", "District"),
    "hub_address.street": ("街道/乡镇", "Street / town"),
    "hub_address.community": ("社区/村", "Community / village"),
    "hub_address.road": ("道路", "Road"),
    "hub_address.number": ("门牌号", "Door number"),
    "hub_address.compound": ("小区", "Compound"),
    "hub_address.building": ("楼栋", "Building"),
    "hub_address.unit": ("单元", "Unit"),
    "hub_address.room": ("室", "Room"),
    "hub_address.floor": ("楼层", "Floor"),
    "hub_address.remainder": ("未识别部分", "Not recognised"),
    "hub_address.masked": ("脱敏地名", "Masked place name"),
    "hub_address.fixes": ("已纠正的写法", "Corrections"),
    "hub_address.placement": ("落位结果", "Placement"),
    "hub_address.placed_in": ("所在区划", "Region"),
    "hub_address.placed_building": ("楼栋", "Building"),
    "hub_address.placed_entrance": ("单元", "Unit"),
    "hub_address.placed_room": ("户室", "Room"),
    "hub_address.confidence": ("置信度", "Confidence"),
    "hub_address.reason": ("说明", "Reason"),
    "hub_address.not_placed": ("未能落位", "Not placed"),
    "hub_address.empty": ("请输入地址。", "Type an address."),
}

i18n.extend(MESSAGES)
