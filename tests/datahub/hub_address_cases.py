"""The address table: realistic addresses with known answers, generated from a seeded demo district.

``address_cases(session, n=300, seed=…)`` picks households, buildings and organisations of the demo registers and
writes each address the way staff or another department's export would — full, the register's own form, missing
levels, 栋/幢/号楼, the ``3-2-301`` form, full-width digits, Chinese numerals, dropped suffixes, an old street name,
a typo in the compound's name, stray spaces — plus addresses of other districts and provinces and masked ones
(``A市A2区``), which must not be placed. The same seed and demo give the same table, so it stays in sync with
the demo generator. ``score(cases, placements)`` gives precision and recall per level.

Used by ``tests/datahub/test_hub_address.py`` (a small table on the small demo) and ``bench/hub_address.py``.
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.regions.models import Unit
from zhili.registry.models import Building, Entrance, Household

LEVELS = ("street", "community", "building", "household")
_CN = "零一二三四五六七八九"
_TYPO_POOL = "乌屋吾午舞务雾岸按暗昂敖奥芳放菲肥"
# other districts and provinces, with their true province / city / district / street
_FOREIGN: list[tuple[str, tuple[str | None, ...]]] = [
    ("浙江省湖州市吴兴区爱山街道人民路{n}号", ("浙江省", "湖州市", "吴兴区", "爱山街道")),
    ("浙江省杭州市西湖区文三路{n}号{b}幢", ("浙江省", "杭州市", "西湖区", None)),
    ("北京市朝阳区建国路{n}号", ("北京市", "北京市", "朝阳区", None)),
    ("上海市徐汇区虹漕路{n}号{b}号楼", ("上海市", "上海市", "徐汇区", None)),
    ("江苏省苏州市吴中区木渎镇金山路{n}号", ("江苏省", "苏州市", "吴中区", "木渎镇")),
    ("湖州市德清县武康街道永安街{n}号", ("浙江省", "湖州市", "德清县", "武康街道")),
    ("安徽省合肥市蜀山区长江西路{n}号", ("安徽省", "合肥市", "蜀山区", None)),
    ("广东省深圳市南山区科技园{b}栋{r}室", ("广东省", "深圳市", "南山区", None)),
    ("浙江省嘉兴市南湖区中山东路{n}号", ("浙江省", "嘉兴市", "南湖区", None)),
    ("湖州市安吉县递铺街道昌硕东路{n}号", ("浙江省", "湖州市", "安吉县", "递铺街道")),
    ("江苏省宜兴市丁蜀镇{n}号", ("江苏省", "无锡市", "宜兴市", "丁蜀镇")),
    ("上海市浦东新区世纪大道{n}号", ("上海市", "上海市", "浦东新区", None)),
]
_MASKED = ["A市A2区{road}{n}号", "A市A7区{c}{b}幢{u}单元{r}室", "B市B1区{road}{n}号", "A市{road}{n}号",
           "C市C3区某小区{b}栋"]


@dataclass(frozen=True)
class AddressCase:
    """One address, how it was made (``kind``) and the known answer: the street/community unit paths and the
    building/household ids, or all None when the address must not be placed."""

    text: str
    kind: str
    street_path: str | None = None
    community_path: str | None = None
    building_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    admin: tuple[str | None, ...] = (None, None, None, None)  # true province, city, district, street names

    @property
    def placeable(self) -> bool:
        return self.street_path is not None


def _cn(n: int) -> str:
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    return "".join(_CN[int(d)] for d in str(n))  # rooms: 三零一


def _full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)


def _core(name: str, suffixes: tuple[str, ...]) -> str:
    for suf in suffixes:
        if name.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


_COMPOUND_SUF = ("小区", "花园", "新村", "家园", "公寓", "名邸", "华庭", "雅苑", "嘉园", "新城", "苑", "府")


def address_cases(session: Session, n: int = 300, seed: int = 16) -> list[AddressCase]:
    """``n`` cases (at least 300 by default) from the demo registers in ``session``; deterministic for a seed."""
    rng = random.Random(seed)
    units = {u.id: u for u in session.scalars(select(Unit))}
    by_path = {u.path: u for u in units.values()}
    buildings = sorted(session.scalars(select(Building)), key=lambda b: b.code or b.address)
    entrances = {e.id: e for e in session.scalars(select(Entrance))}
    homes: dict[uuid.UUID, list[Household]] = {}
    for h in sorted(session.scalars(select(Household)), key=lambda h: h.address):
        homes.setdefault(h.building_id, []).append(h)

    def levels(path: str) -> tuple[Unit, Unit]:
        segs = path.split("/")
        return by_path["/".join(segs[:4])], by_path["/".join(segs[:5])]

    def road_of(b: Building, street: str) -> tuple[str, str] | None:
        rest = b.address.split(street, 1)[-1]
        m = re.match(r"(.+?(?:大道|路|街|巷|弄))(\d+)号", rest)
        return (m.group(1), m.group(2)) if m else None

    homed = [b for b in buildings if b.compound and b.building_type == "residential" and homes.get(b.id)]
    rural = [b for b in buildings if b.compound and b.building_type == "rural_house" and homes.get(b.id)]
    others = [b for b in buildings if not b.compound]
    cases: list[AddressCase] = []
    kinds = ["full", "register", "no_admin", "dash", "haolou", "full_width", "cn_numerals", "dropped_suffix",
             "old_name", "typo", "spaces", "building_only", "short_district", "street_typo", "community_building",
             "floor"]
    n_foreign = max(12, n // 12)
    n_masked = max(6, n // 25)
    n_org = min(len(others), max(6, n // 25))
    n_rural = min(len(rural), n // 10) if rural else 0
    n_urban = n - n_foreign - n_masked - n_org - n_rural
    for i in range(n_urban):
        b = rng.choice(homed)
        kind = kinds[i % len(kinds)]
        street, community = levels(b.path)
        h = rng.choice(homes[b.id])
        ent = entrances.get(h.entrance_id) if h.entrance_id else None
        e_no = int(ent.name.rstrip("单元")) if ent else 1
        b_no = int(b.name.rstrip("幢"))
        road = road_of(b, street.name)
        road_s = f"{road[0]}{road[1]}号" if road else ""
        comp = b.compound or ""
        s_core = _core(street.name, ("街道", "镇", "乡"))
        c_core = _core(community.name, ("社区", "村"))
        want_h: Household | None = h
        if kind == "full":
            text = f"浙江省湖州市长兴县{street.name}{community.name}{road_s}{comp}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "register":
            text = h.address
        elif kind == "no_admin":
            text = f"{comp}{b_no}栋{e_no}单元{h.room}"
        elif kind == "dash":
            text = f"长兴{road_s}{b_no}-{e_no}-{h.room}" if road else f"{comp}{b_no}-{e_no}-{h.room}"
        elif kind == "haolou":
            text = f"{street.name}{comp}{b_no}号楼{e_no}单元{h.room}室"
        elif kind == "full_width":
            text = _full_width(f"{street.name}{comp}{b_no}幢{e_no}单元{h.room}室")
        elif kind == "cn_numerals":
            text = f"{street.name}{comp}{_cn(b_no)}幢{_cn(e_no)}单元{_cn(int(h.room))}室"
        elif kind == "dropped_suffix":
            text = f"{s_core}{c_core}{_core(comp, _COMPOUND_SUF)}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "old_name":
            text = f"长兴县{s_core}镇{comp}{b_no}幢{e_no}单元{h.room}室" if street.name.endswith("街道") else \
                f"长兴县{s_core}乡{comp}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "typo":
            core = _core(comp, _COMPOUND_SUF)
            k = rng.randrange(len(core))
            bad = rng.choice([c for c in _TYPO_POOL if c != core[k]])
            text = f"{street.name}{core[:k]}{bad}{core[k + 1:]}{comp[len(core):]}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "spaces":
            text = f"长兴县 {street.name} {comp} {b_no} 幢 {e_no} 单元 {h.room} 室"
        elif kind == "building_only":
            text = f"{street.name}{comp}{b_no}{rng.choice(['幢', '栋', '号楼'])}"
            want_h = None
        elif kind == "short_district":
            text = f"长兴{street.name}{road_s}{comp}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "street_typo":
            k = rng.randrange(len(s_core))
            bad = rng.choice([c for c in _TYPO_POOL if c != s_core[k]])
            typo_street = f"{s_core[:k]}{bad}{s_core[k + 1:]}{street.name[len(s_core):]}"
            text = f"长兴县{typo_street}{comp}{b_no}幢{e_no}单元{h.room}室"
        elif kind == "community_building":
            # the community and a building number, no compound: placeable only where the number is unique
            text = f"{street.name}{community.name}{b_no}幢{e_no}单元{h.room}室"
        else:  # floor: 3楼 before the room, as some forms ask
            floor = h.room[:-2] if len(h.room) > 2 else "1"
            text = f"{comp}{b_no}幢{e_no}单元{floor}楼{h.room}室"
        cases.append(AddressCase(text, kind, street.path, community.path, b.id, want_h.id if want_h else None))
    for b in rng.sample(rural, n_rural) if n_rural else []:
        street, community = levels(b.path)
        h = homes[b.id][0]
        text = b.address if rng.random() < 0.5 else f"{street.name}{community.name}{b.name}"
        cases.append(AddressCase(text, "rural", street.path, community.path, b.id, h.id))
    for b in rng.sample(others, n_org):
        street, community = levels(b.path)
        cases.append(AddressCase(b.address, "organisation", street.path, community.path, b.id, None))
    segs = (cases[0].street_path or "").split("/") if cases else []
    top = [by_path["/".join(segs[:k])].name for k in (1, 2, 3)]  # the demo's province, city, district
    cases = [AddressCase(c.text, c.kind, c.street_path, c.community_path, c.building_id, c.household_id,
                         (*top, by_path[c.street_path].name)) if c.street_path else c for c in cases]
    roads = sorted({r[0] for b in homed if (r := road_of(b, levels(b.path)[0].name))})
    comps = sorted({b.compound for b in homed if b.compound})
    for i in range(n_foreign):
        template, admin = _FOREIGN[i % len(_FOREIGN)]
        t = template.format(n=rng.randrange(1, 500), b=rng.randrange(1, 20), r=rng.choice(["301", "1202", "502"]))
        cases.append(AddressCase(t, "foreign", admin=admin))
    for i in range(n_masked):
        t = _MASKED[i % len(_MASKED)].format(n=rng.randrange(1, 500), b=rng.randrange(1, 12), u=rng.randrange(1, 3),
                                             r="301", road=rng.choice(roads), c=rng.choice(comps))
        cases.append(AddressCase(t, "masked"))
    return cases


def score(cases: list[AddressCase], placed: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Precision (correct / placements made) and recall (correct / placeable) per level. ``placed`` holds per
    case the placed ``street_path``, ``community_path``, ``building_id``, ``household_id`` (None = not placed)."""
    out: dict[str, dict[str, float]] = {}
    for level in LEVELS:
        key = f"{level}_path" if level in ("street", "community") else f"{level}_id"
        made = correct = placeable = 0
        for c, p in zip(cases, placed, strict=True):
            want, got = getattr(c, key), p.get(key)
            placeable += want is not None
            made += got is not None
            correct += got is not None and got == want
        out[level] = {"precision": correct / made if made else 1.0, "recall": correct / placeable if placeable else 1.0,
                      "made": made, "correct": correct, "placeable": placeable}
    return out


def placed_levels(placement: Any) -> dict[str, Any]:
    """A :class:`~zhili.datahub.rows.Placement` as the four levels :func:`score` compares."""
    segs = (placement.path or "").split("/")
    return {"street_path": "/".join(segs[:4]) if len(segs) >= 4 else None,
            "community_path": "/".join(segs[:5]) if len(segs) >= 5 else None,
            "building_id": placement.building_id, "household_id": placement.household_id}


def nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)
