"""Address placement (地址落位): a parsed address resolved against the platform's own data.

:class:`Resolver` loads, once, the region tree as of a date (street → community → grid, by name, tolerant of
suffixes and one mistyped character) and the building register (buildings by compound and number and by road and
door number, entrances by unit number, households by room) into dicts; :meth:`Resolver.place` then answers from
memory — no query per address — with a :class:`~zhili.datahub.rows.Placement`: the deepest unit (a building's
grid, else the community, street, district), the building/entrance/household ids, a confidence in [0, 1] and the
Chinese reason when the address could not be placed or only partly (``地址不在本区：北京市朝阳区``,
``未找到小区“…”``, ``楼栋“3幢”不唯一``). Masked place names (``A市A2区``) are never guessed.

Read-only, and not jurisdiction-aware: callers check the placed path (:func:`place_address` does, for the API and
the page).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.jurisdiction import Principal, authorize, in_scope
from zhili.core.security import Perm
from zhili.datahub.address_parse import (
    COMMUNITY_SUFFIXES,
    COMPOUND_SUFFIXES,
    AddressParts,
    Gazetteer,
    near,
    parse_address,
    strip_suffix,
)
from zhili.datahub.rows import Placement
from zhili.regions.models import Unit, UnitLevel
from zhili.registry.models import Building, Entrance, Household

_DIGITS = re.compile(r"(\d+)")
OUT_OF_SCOPE = "不在您的管辖范围内"

# Confidence of a placement by how deep it reached; each correction or inconsistency lowers it.
_DEPTH_CONFIDENCE = {"household": 1.0, "entrance": 0.9, "building": 0.9, "grid": 0.7, "community": 0.6,
                     "street": 0.4, "district": 0.2}


@dataclass(frozen=True)
class _U:
    id: uuid.UUID
    level: str
    name: str
    path: str
    parent_id: uuid.UUID | None
    successor_id: uuid.UUID | None


@dataclass(frozen=True)
class _B:
    id: uuid.UUID
    grid_id: uuid.UUID
    path: str
    compound: str | None
    name: str
    number: str | None


def _number(name: str) -> str | None:
    m = _DIGITS.search(name or "")
    return str(int(m.group(1))) if m else None


def _room_key(room: str) -> str:
    return room.lstrip("0") or room


class Resolver:
    """Places addresses against the region tree valid on ``as_of`` (default: today) and the building register.

    Build one per batch: loading reads the units, buildings, entrances and households once (about 2 s for the
    medium demo's 40,000 households; ``preload=False`` reads a building's entrances and households only when an
    address reaches it — for placing one address, as the page and the API do). The rest is pure dict work."""

    def __init__(self, session: Session, as_of: dt.date | None = None, *, preload: bool = True) -> None:
        day = as_of or clock.today()
        self.as_of = day
        self.preload = preload
        rows = session.execute(select(Unit.id, Unit.level, Unit.name, Unit.path, Unit.parent_id, Unit.successor_id,
                                      Unit.valid_from, Unit.valid_to)).all()
        self.units: dict[uuid.UUID, _U] = {}
        valid: list[_U] = []
        for r in rows:
            u = _U(r.id, str(r.level.value if hasattr(r.level, "value") else r.level), r.name, r.path, r.parent_id,
                   r.successor_id)
            self.units[u.id] = u
            if r.valid_from <= day < r.valid_to:
                valid.append(u)
        by_level: dict[str, list[_U]] = defaultdict(list)
        for u in valid:
            by_level[u.level].append(u)
        self.by_level = by_level
        self.valid_by_path = {u.path: u for u in valid}
        cores: dict[str, list[_U]] = defaultdict(list)
        for u in by_level[UnitLevel.community.value]:
            cores[strip_suffix(u.name, COMMUNITY_SUFFIXES)].append(u)
        self.community_by_core = {c: us[0] for c, us in cores.items() if len(us) == 1}
        self.by_name: dict[tuple[str, str], list[_U]] = defaultdict(list)
        for u in valid:
            self.by_name[(u.level, u.name)].append(u)
        self.gazetteer = Gazetteer(
            province=tuple(sorted({u.name for u in by_level[UnitLevel.province.value]})),
            city=tuple(sorted({u.name for u in by_level[UnitLevel.city.value]})),
            district=tuple(sorted({u.name for u in by_level[UnitLevel.district.value]})),
            streets=tuple(sorted({u.name for u in by_level[UnitLevel.street.value]})),
            communities=tuple(sorted({u.name for u in by_level[UnitLevel.community.value]})))
        self._load_register(session)

    # -- loading ---------------------------------------------------------------------------------------------
    def _current(self, unit_id: uuid.UUID) -> _U | None:
        """The unit, or its successor when it was redrawn before the resolver's date."""
        seen = 0
        u = self.units.get(unit_id)
        while u is not None and u.successor_id is not None and seen < 10:
            nxt = self.units.get(u.successor_id)
            if nxt is None:
                break
            u, seen = nxt, seen + 1
        return u

    def _load_register(self, session: Session) -> None:
        self.buildings: dict[uuid.UUID, _B] = {}
        self.by_compound: dict[str, list[_B]] = defaultdict(list)
        self.by_compound_core: dict[str, list[_B]] = defaultdict(list)
        self.by_road: dict[tuple[str, str | None], list[_B]] = defaultdict(list)
        gz = self.gazetteer
        addresses: list[tuple[_B, str]] = []
        for r in session.execute(select(Building.id, Building.grid_id, Building.path, Building.compound,
                                        Building.name, Building.address)):
            grid = self._current(r.grid_id)
            if grid is None:
                continue
            compound = r.compound or None
            b = _B(r.id, grid.id, grid.path, compound, r.name, _number(r.name) if compound else None)
            self.buildings[b.id] = b
            if compound:
                self.by_compound[compound].append(b)
                self.by_compound_core[strip_suffix(compound, COMPOUND_SUFFIXES)].append(b)
            addresses.append((b, r.address))
        for b, address in addresses:
            parts = parse_address(address, gz, use_cpca=False)
            if parts.road:
                self.by_road[(parts.road, parts.number)].append(b)
                if parts.number:
                    self.by_road[(parts.road, None)].append(b)
            if b.compound is None and parts.compound and parts.building:
                # a building outside any compound whose address reads like one (鼎山工业区86号): findable by it
                alias = replace(b, number=str(int(parts.building)))
                self.by_compound[parts.compound].append(alias)
                self.by_compound_core[strip_suffix(parts.compound, COMPOUND_SUFFIXES)].append(alias)
        roads = sorted({k[0] for k in self.by_road}, key=len, reverse=True)
        self.gazetteer = replace(gz, roads=tuple(r for r in roads if r[0] in "县区市镇乡"))
        self.entrances: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        self.entrance_names: dict[uuid.UUID, str] = {}
        self.households: dict[tuple[uuid.UUID, str], list[tuple[uuid.UUID, uuid.UUID | None]]] = defaultdict(list)
        self.households_of: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = defaultdict(list)
        self._homes_loaded: set[uuid.UUID] = set()
        self._session = session
        if self.preload:
            self._load_homes(None)

    def _load_homes(self, building_id: uuid.UUID | None) -> None:
        """Entrances and households of one building (lazy mode), or of all of them (``building_id=None``)."""
        if building_id is not None and (self.preload or building_id in self._homes_loaded):
            return
        ents = select(Entrance.id, Entrance.building_id, Entrance.name)
        homes = select(Household.id, Household.building_id, Household.entrance_id, Household.room)
        if building_id is not None:
            self._homes_loaded.add(building_id)
            ents = ents.where(Entrance.building_id == building_id)
            homes = homes.where(Household.building_id == building_id)
        for eid, bid, name in self._session.execute(ents):
            n = _number(name)
            if n is not None:
                self.entrances[(bid, n)] = eid
                self.entrance_names[eid] = f"{n}单元"
        for hid, bid, h_eid, room in self._session.execute(homes):
            self.households[(bid, _room_key(room))].append((hid, h_eid))
            self.households_of[bid].append((hid, room))

    # -- placing ---------------------------------------------------------------------------------------------
    def parse(self, text: str) -> AddressParts:
        return parse_address(text, self.gazetteer)

    def place(self, text: str) -> Placement:
        """Where ``text`` lies in the platform's data (see the module docstring)."""
        return self.place_parts(self.parse(text))

    def place_parts(self, p: AddressParts) -> Placement:
        if p.masked:
            return Placement(reason=f"地址含脱敏地名“{p.masked}”，无法定位")
        foreign = self._foreign(p)
        if foreign:
            return Placement(reason=f"地址不在本区：{foreign}")
        notes: list[str] = []
        factor = 0.95 ** len(p.fixes)
        district = self._unique(UnitLevel.district.value, p.district) if p.district else None
        if district is None and len(self.by_level[UnitLevel.district.value]) == 1 and (p.local or p.street):
            district = self.by_level[UnitLevel.district.value][0]
        street = community = None
        if p.street:
            street = self._unique(UnitLevel.street.value, p.street)
            if street is None:
                notes.append(f"未找到街道“{p.street}”")
                factor *= 0.8
        if p.community:
            cands = [u for u in self.by_name.get((UnitLevel.community.value, p.community), [])
                     if street is None or u.parent_id == street.id]
            if len(cands) == 1:
                community = cands[0]
                if street is None:
                    street = self.units.get(community.parent_id) if community.parent_id else None
            else:
                notes.append(f"未找到社区“{p.community}”" if not cands else f"社区“{p.community}”不唯一")
                factor *= 0.8
        scope = community or street
        building, cands_b, factor = self._building(p, scope, notes, factor)
        entrance_id = household_id = None
        depth = "district"
        unit: _U | None = district
        if street:
            unit, depth = street, "street"
        if community:
            unit, depth = community, "community"
        if building is None and cands_b:
            common = self._common_unit([b.grid_id for b in cands_b])
            if common is not None and (unit is None or common.path.startswith(unit.path)):
                unit = common
                depth = common.level if common.level in _DEPTH_CONFIDENCE else depth
        if building is not None:
            unit, depth = self.units[building.grid_id], "building"
            self._load_homes(building.id)
            if scope is not None and not building.path.startswith(scope.path + "/"):
                notes.append(f"{'社区' if community else '街道'}与楼栋不一致")
                factor *= 0.7
            if p.unit:
                entrance_id = self.entrances.get((building.id, str(int(p.unit))))
                if entrance_id is None:
                    notes.append(f"未找到单元“{p.unit}单元”")
                    factor *= 0.9
                else:
                    depth = "entrance"
            household_id = self._household(p, building, entrance_id, notes)
            if household_id is not None:
                depth = "household"
            elif p.room:
                factor *= 0.9
        if unit is None:
            notes.append("未能识别地址中的街道、社区或小区" if not notes else "")
            return Placement(confidence=0.0, reason="；".join(n for n in notes if n))
        conf = round(min(1.0, _DEPTH_CONFIDENCE[depth] * factor), 3)
        return Placement(unit_id=unit.id, path=unit.path, building_id=building.id if building else None,
                         entrance_id=entrance_id, household_id=household_id, confidence=conf,
                         reason="；".join(notes) or None)

    def _foreign(self, p: AddressParts) -> str | None:
        """The administrative names that put ``p`` outside the platform's area, joined for the reason."""
        checks = ((UnitLevel.province.value, p.province), (UnitLevel.city.value, p.city),
                  (UnitLevel.district.value, p.district))
        for level, name in checks:
            if name and self.by_level[level] and not self.by_name.get((level, name)):
                names = [p.province, p.city if p.city != p.province else None, p.district]
                return "".join(n for n in names if n)
        return None

    def _unique(self, level: str, name: str | None) -> _U | None:
        us = self.by_name.get((level, name or ""), [])
        return us[0] if len(us) == 1 else None

    @staticmethod
    def _within(bs: list[_B], scope: _U | None) -> list[_B]:
        if scope is None:
            return bs
        return [b for b in bs if b.path.startswith(scope.path + "/")]

    def _compound(self, name: str, scope: _U | None) -> tuple[list[_B], str | None]:
        """Buildings of the compound ``name`` (exact, then without its suffix, then one mistyped character),
        within ``scope`` when that leaves any; and a note on the correction."""
        for bs, note in ((self.by_compound.get(name, []), None),
                         (self.by_compound_core.get(name, []), "core"),  # 吴园 typed for 吴园苑
                         (self.by_compound_core.get(strip_suffix(name, COMPOUND_SUFFIXES), []), "core")):
            if bs:
                inside = self._within(bs, scope)
                return (inside or bs), note
        core = strip_suffix(name, COMPOUND_SUFFIXES)
        for found in ([b for c in self.by_compound if near(c, name) for b in self.by_compound[c]],
                      [b for c in self.by_compound_core if near(c, core) for b in self.by_compound_core[c]]):
            inside = self._within(found, scope)
            if inside and len({b.compound for b in inside}) == 1:
                return inside, "typo"
            if found and len({b.compound for b in found}) == 1:
                return found, "typo"
        for k in range(1, len(name) - 1):
            # a compound typed after a place word (白湖吴园 for 吴园苑 of 白湖社区): its tail, inside the scope only
            tail = name[k:]
            found = self.by_compound.get(tail) or self.by_compound_core.get(tail) or \
                self.by_compound_core.get(strip_suffix(tail, COMPOUND_SUFFIXES), [])
            head = self.community_by_core.get(name[:k])  # the place word is a community's name: narrower
            where = head if head is not None and (scope is None or head.path.startswith(scope.path + "/")) \
                else scope
            inside = self._within(found, where) if where is not None else []
            if inside and len({b.compound for b in inside}) == 1:
                return inside, "typo"
        return [], None

    def _building(self, p: AddressParts, scope: _U | None, notes: list[str], factor: float
                  ) -> tuple[_B | None, list[_B], float]:
        cands: list[_B] | None = None
        if p.compound:
            found, how = self._compound(p.compound, scope)
            if found:
                cands = found
                if how == "typo":
                    factor *= 0.9
            elif not p.road:
                notes.append(f"未找到小区“{p.compound}”")
                factor *= 0.8
        if p.road:
            by_road = self._within(self.by_road.get((p.road, p.number), []), scope) or \
                self.by_road.get((p.road, p.number), [])
            if cands is None:
                if by_road:
                    cands = by_road
                elif p.compound and p.number is None and p.building:
                    cands = None
                else:
                    notes.append(f"未找到门牌“{p.road}{p.number + '号' if p.number else ''}”")
                    factor *= 0.8
            elif by_road:
                both = [b for b in cands if b in set(by_road)]
                if both:
                    cands = both
                else:
                    notes.append("门牌与小区不一致")
                    factor *= 0.85
        if cands is None and p.compound is None and p.building and p.road and p.number is None:
            # a rural house typed as 张家弄5号 reads like a road and its number
            cands = self._within(self.by_compound.get(p.road, []), scope)
        if cands is None and scope is not None and p.building and not p.compound:
            cands = [b for b in self._within(list(self.buildings.values()), scope) if b.compound]
        if not cands:
            return None, [], factor
        if p.building:
            label = f"{p.building}幢"
            hits = [b for b in cands if b.number == str(int(p.building))]
            if len(hits) == 1:
                return hits[0], cands, factor
            where = f"{p.compound or p.road or ''}"
            if hits:
                notes.append(f"楼栋“{where}{label}”不唯一")
                return None, hits, factor
            notes.append(f"未找到楼栋“{where}{label}”")
            return None, cands, factor * 0.9
        if len(cands) == 1:
            return cands[0], cands, factor
        return None, cands, factor

    def _household(self, p: AddressParts, b: _B, entrance_id: uuid.UUID | None, notes: list[str]
                   ) -> uuid.UUID | None:
        if not p.room:
            homes = self.households_of.get(b.id, [])
            if len(homes) == 1 and homes[0][1] == "整栋":
                return homes[0][0]  # a rural house with its one household
            return None
        hs = self.households.get((b.id, _room_key(p.room)), [])
        if entrance_id is not None:
            hs = [h for h in hs if h[1] == entrance_id]
        if len(hs) == 1:
            return hs[0][0]
        notes.append(f"户室“{p.room}室”不唯一" if hs else f"未找到户室“{p.room}室”")
        return None

    def _common_unit(self, grid_ids: list[uuid.UUID]) -> _U | None:
        paths = {self.units[g].path for g in grid_ids if g in self.units}
        if not paths:
            return None
        common = paths.pop().split("/")
        for p in paths:
            segs = p.split("/")
            n = 0
            while n < min(len(common), len(segs)) and common[n] == segs[n]:
                n += 1
            common = common[:n]
        return self.valid_by_path.get("/".join(common))

    # -- names for people --------------------------------------------------------------------------------------
    def describe(self, placement: Placement) -> dict[str, Any]:
        """The placement in names (never ids or codes): the units along its path, the building, unit and room."""
        out: dict[str, Any] = {"units": [], "building": None, "entrance": None, "room": None}
        if placement.path:
            by_path = {u.path: u for u in self.units.values()}
            segs = placement.path.split("/")
            for i in range(1, len(segs) + 1):
                u = by_path.get("/".join(segs[:i]))
                if u is not None:
                    out["units"].append({"level": u.level, "name": u.name})
        if placement.building_id and placement.building_id in self.buildings:
            b = self.buildings[placement.building_id]
            out["building"] = f"{b.compound or ''}{b.name}" if b.compound and not b.name.startswith(b.compound) \
                else b.name
        if placement.entrance_id:
            out["entrance"] = self.entrance_names.get(placement.entrance_id)
        if placement.household_id and placement.building_id:
            out["room"] = next((room for hid, room in self.households_of.get(placement.building_id, [])
                                if hid == placement.household_id), None)
        return out


def place_address(session: Session, *, principal: Principal, text: str, as_of: dt.date | None = None
                  ) -> dict[str, Any]:
    """Parse and place one address for a person (the page and ``POST /api/v1/hub/address/parse``): the parts,
    the placement and its names. A placement outside the caller's jurisdiction answers as not placed, with the
    reason ``不在您的管辖范围内`` (it must not reveal what lies there)."""
    authorize(principal, Perm.hub_read)
    resolver = Resolver(session, as_of, preload=False)
    parts = resolver.parse(text)
    placed = resolver.place_parts(parts)
    if placed.path is not None and not in_scope(principal, placed.path):
        placed = Placement(confidence=0.0, reason=OUT_OF_SCOPE)
    return {"parts": parts, "placement": placed, "names": resolver.describe(placed)}
