"""What the demo history is made of beside the cases' workflow: each grid's places (as residents name them), the
reporters (fake phone numbers with their blind indexes, computed once), the resident accounts that support (附议)
cases, and the planned reports of the structures planted in the history (hot issues, a surge, an escalating
dispute, a spatial hotspot) — see :mod:`zhili.seed.history` for what is planted and how to find it.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from zhili.cases.models import Channel
from zhili.core.crypto import FieldCipher
from zhili.core.masking import mask_phone
from zhili.core.security import Role
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.registry.models import Building, Organisation, OrgType
from zhili.seed.demo import _ROADS
from zhili.seed.texts import HOT_SUBJECTS, Places, Texts, dispute_text, hot_issue_text
from zhili.users.models import User

# The supporters' password hash: argon2id of a random password that was thrown away (nobody can sign in as them;
# hashing one per seed would cost a quarter of a second of the small demo's history).
_NOBODYS_PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$JpP6HdjVkjMLNMAdyR1Vuw$VV/uLtfu8QcFSP5XleLOBnA+givNUN1oj/AwIT4RnBc"
_FOOD_SHOPS = ("小吃店", "面馆", "早餐店", "农家乐")
_M_PER_DEG_LAT = 111_000.0


@dataclass
class GridPlaces:
    """One grid's named places with their coordinates (for reports that name them)."""

    places: Places
    compounds: list[tuple[str, float, float]] = field(default_factory=list)
    shops: list[tuple[str, float, float]] = field(default_factory=list)  # food shops (restaurants …)
    schools: list[tuple[str, float, float]] = field(default_factory=list)


def _short_org(name: str, streets: Sequence[str]) -> str:
    name = name.removeprefix("长兴县")
    for s in streets:
        if name.startswith(s):
            return name[len(s):]
    return name


def load_places(conn: Connection, grids: Sequence[Any]) -> list[GridPlaces]:
    """Every grid's compounds (小区 / hamlets), roads, shops, schools and companies, in ``grids`` order."""
    index = {g.id: i for i, g in enumerate(grids)}
    streets = sorted({n.removesuffix("街道").removesuffix("镇").removesuffix("乡") for n in conn.scalars(
        select(Unit.name).where(Unit.level == UnitLevel.street, Unit.valid_to == OPEN_END))}, key=len, reverse=True)
    compounds: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    roads: dict[int, list[str]] = defaultdict(list)
    rural: dict[int, int] = defaultdict(int)
    q = (select(Building.grid_id, Building.compound, func.avg(Building.lon), func.avg(Building.lat),
                func.min(Building.address), func.min(Building.building_type))
         .where(Building.compound.is_not(None)).group_by(Building.grid_id, Building.compound)
         .order_by(Building.grid_id, Building.compound))
    for gid, name, lon, lat, address, btype in conn.execute(q):
        gi = index.get(gid)
        if gi is None or lon is None:
            continue
        compounds[gi].append((name, float(lon), float(lat)))
        rural[gi] += 1 if str(btype).endswith("rural_house") else -1
        for road in _ROADS:
            if road in (address or "") and road not in roads[gi]:
                roads[gi].append(road)
                break
    shops: dict[int, list[str]] = defaultdict(list)
    food: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    schools: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    companies: dict[int, list[str]] = defaultdict(list)
    q2 = (select(Organisation.grid_id, Organisation.name, Organisation.org_type, Organisation.lon, Organisation.lat)
          .where(Organisation.org_type.in_((OrgType.individual_business, OrgType.school, OrgType.enterprise)))
          .order_by(Organisation.grid_id, Organisation.name))
    for gid, name, otype, lon, lat in conn.execute(q2):
        gi = index.get(gid)
        if gi is None:
            continue
        short = _short_org(name, streets)
        if otype == OrgType.individual_business:
            if len(shops[gi]) < 10:
                shops[gi].append(short)
            if lon is not None and lat is not None and short.endswith(_FOOD_SHOPS):
                food[gi].append((short, float(lon), float(lat)))
        elif otype == OrgType.school:
            if lon is not None and lat is not None:
                schools[gi].append((short, float(lon), float(lat)))
        elif len(companies[gi]) < 5:
            companies[gi].append(short.removeprefix("长兴").removeprefix("浙江").removeprefix("湖州")
                                 .replace("有限公司", "公司"))
    out = []
    for i, g in enumerate(grids):
        cs = compounds[i][:10]
        out.append(GridPlaces(
            places=Places(compounds=tuple(c[0] for c in cs), roads=tuple(roads[i][:6]), shops=tuple(shops[i]),
                          schools=tuple(s[0] for s in schools[i][:3]), companies=tuple(companies[i]),
                          rural=rural[i] > 0, fallback=g.name),
            compounds=cs, shops=food[i], schools=schools[i]))
    return out


class Reporters:
    """Who reports: a pool of frequent reporters living in the grids (a few of them file many cases), and
    one-off reporters, each a fresh number. Numbers are fake (1380000xxxx frequent, 1390xxxxxxx one-off);
    blind indexes of the pool are computed once."""

    FREQUENT_SHARE = 0.35

    def __init__(self, cipher: FieldCipher, grid_weights: np.ndarray, size: int, nrng: np.random.Generator) -> None:
        self.cipher = cipher
        size = min(size, 9000)
        self.phones = [f"1380000{i:04d}" for i in range(size)]
        self.bidx = [cipher.blind_index(p, purpose="case.reporter_phone") for p in self.phones]
        home = nrng.choice(len(grid_weights), size=size, p=grid_weights)
        self.by_grid: list[list[int]] = [[] for _ in grid_weights]
        for k, gi in enumerate(home.tolist()):
            self.by_grid[gi].append(k)
        self.next_one_off = 0

    def special(self, k: int) -> tuple[str, str]:
        """A dedicated number outside the pool (the planted dispute's reporter)."""
        phone = f"1380000{9999 - k:04d}"
        return phone, self.cipher.blind_index(phone, purpose="case.reporter_phone")

    def one_off(self) -> tuple[str, str]:
        self.next_one_off += 1
        phone = f"1390{self.next_one_off:07d}"
        return phone, self.cipher.blind_index(phone, purpose="case.reporter_phone")

    def pick(self, rng: random.Random, gi: int) -> tuple[str, str]:
        local = self.by_grid[gi]
        if local and rng.random() < self.FREQUENT_SHARE:
            k = local[int(len(local) * rng.random() ** 3)]  # skewed: the first few file many cases
            return self.phones[k], self.bidx[k]
        return self.one_off()


def make_supporters(conn: Connection, cipher: FieldCipher, n: int, now: dt.datetime) -> list[uuid.UUID]:
    """``n`` registered resident accounts (as the app's registration names them) who support cases; nobody knows
    their password. Existing ones are reused."""
    table = User.__table__
    ids: list[uuid.UUID] = []
    rows = []
    existing = dict(conn.execute(select(User.username, User.id).where(User.role == Role.resident)).all())
    for i in range(n):
        phone = f"1381111{i:04d}"
        bidx = cipher.blind_index(phone, purpose="app_user.phone")
        username = "r-" + bidx[:16]
        if username in existing:
            ids.append(existing[username])
            continue
        uid = uuid.uuid4()
        ids.append(uid)
        rows.append({"id": uid, "username": username, "display_name": mask_phone(phone) or "居民",
                     "role": Role.resident,
                     "password_hash": _NOBODYS_PASSWORD,
                     "phone_enc": cipher.encrypt(phone, table="app_user", column="phone", row_id=uid),
                     "phone_bidx": bidx, "department": None, "is_active": True, "failed_logins": 0,
                     "locked_until": None, "must_change_password": False, "password_changed_at": now,
                     "last_login_at": None, "created_at": now, "updated_at": now, "version": 1})
    if rows:
        conn.execute(table.insert(), rows)  # type: ignore[attr-defined]
    return ids


@dataclass(slots=True)
class Spec:
    """One planned report (planted structure or duplicate), written when the history's clock reaches it."""

    reported: dt.datetime  # UTC
    grid: int
    cat: int
    channel: Channel
    tag: str
    title: str | None = None
    description: str | None = None
    where: tuple[str, str, bool] | None = None
    lonlat: tuple[float, float] | None = None
    located: bool = True
    address: str | None = None
    reporter: tuple[str, str] | None = None
    supports: int = 0
    again: bool = False
    master: dict[str, Any] | None = None  # a duplicate: the master's id, number, and whether/when it is merged


def _at(rng: random.Random, now: dt.datetime, tz: Any, days_ago: float, hours: Sequence[int]) -> dt.datetime:
    day = (now.astimezone(tz) - dt.timedelta(days=days_ago)).date()
    local = dt.datetime.combine(day, dt.time(hours[int(rng.random() * len(hours))], int(rng.random() * 60)), tz)
    return local.astimezone(dt.UTC)


def _near(rng: random.Random, lon: float, lat: float, metres: float) -> tuple[float, float]:
    dlat = rng.gauss(0, metres) / _M_PER_DEG_LAT
    dlon = rng.gauss(0, metres) / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return round(lon + dlon, 6), round(lat + dlat, 6)


class Planter:
    """Plans the planted structures' reports (see :mod:`zhili.seed.history`)."""

    def __init__(self, rng: random.Random, now: dt.datetime, span: int, tz: Any, grids: Sequence[Any],
                 places: list[GridPlaces], cats: Sequence[Any], texts: Texts, reporters: Reporters,
                 weights: np.ndarray) -> None:
        self.rng, self.now, self.span, self.tz = rng, now, span, tz
        self.grids, self.places, self.cats, self.texts, self.reporters = grids, places, cats, texts, reporters
        self.code_index = {c.code: i for i, c in enumerate(cats)}
        self.by_weight = [int(i) for i in np.argsort(-weights)]  # busiest grids first
        self.specs: list[Spec] = []
        self.info: dict[str, Any] = {}

    def _busy_grid(self, ok: Any, used: set[int]) -> int | None:
        top = [gi for gi in self.by_weight if gi not in used and ok(self.places[gi])]
        if not top:
            return None
        return top[int(self.rng.random() * min(len(top), max(3, len(top) // 3)))]

    # (a) hot issues ----------------------------------------------------------------------------------------
    def hot_issues(self) -> None:
        rng = self.rng
        plans = [("fumes_noise", lambda p: bool(p.shops) and bool(p.compounds), (19.0, 0.2), (20, 21, 22, 23, 7, 8)),
                 ("night_construction", lambda p: bool(p.compounds) and not p.places.rural, (38.0, 17.0),
                  (22, 23, 0, 1, 7, 8)),
                 ("school_traffic", lambda p: bool(p.schools), (24.0, 2.0), (7, 8, 16, 17))]
        used: set[int] = set()
        self.info["hot_issues"] = []
        for key, ok, (start, end), hours in plans:
            if self.span < start + 2:  # a short history: the same shape, squeezed into it
                if self.span < 10:
                    continue
                start, end = start * (self.span - 2) / start, end * (self.span - 2) / start
            gi = self._busy_grid(ok, used)
            if gi is None:
                continue
            used.add(gi)
            gp = self.places[gi]
            compound = gp.compounds[0] if gp.compounds else (self.grids[gi].name, 0.0, 0.0)
            anchor: tuple[str, float, float]
            if key == "fumes_noise":  # a restaurant rather than a breakfast stall, if the grid has one
                anchor = sorted(gp.shops, key=lambda x: (x[0].endswith("早餐店"), rng.random()))[0]
            elif key == "school_traffic":
                anchor = gp.schools[0]
            else:
                anchor = compound
            road = gp.places.roads[0] if gp.places.roads else "门前路"
            names = {"shop": anchor[0], "school": anchor[0], "compound": compound[0], "road": road}
            spec = HOT_SUBJECTS[key]
            codes = [c for c in spec["codes"] if c in self.code_index]
            if not codes:
                continue
            n = rng.randint(15, 30)
            members = []
            for k in range(n):
                days_ago = end + (start - end) * (rng.random() ** 0.8)
                if key == "school_traffic":  # school days only
                    day = (self.now.astimezone(self.tz) - dt.timedelta(days=days_ago)).weekday()
                    days_ago += 2 if day == 5 else 1 if day == 6 else 0
                at = _at(rng, self.now, self.tz, days_ago, hours)
                if at >= self.now:
                    at = self.now - dt.timedelta(minutes=rng.randint(30, 600))
                channel = Channel.hotline if rng.random() < 0.4 else Channel.resident
                title, body = hot_issue_text(rng, key, names, channel.value)
                located = rng.random() >= 0.25
                s = Spec(at, gi, self.code_index[codes[int(rng.random() * len(codes))]], channel, f"hot:{key}",
                         title=title, description=body, located=located,
                         lonlat=_near(rng, anchor[1], anchor[2], 60) if located else None,
                         address=f"长兴县{self.grids[gi].name}{anchor[0]}",
                         reporter=self.reporters.pick(rng, gi) if rng.random() < 0.2 else self.reporters.one_off(),
                         supports=(0, 0, 1, 1, 2, 3, 5, 8)[int(rng.random() * 8)] if k else 6)
                members.append(s)
            self.specs += members
            self.info["hot_issues"].append({
                "key": key, "subject": spec["label"], "categories": sorted(set(codes)),
                "grid": self.grids[gi].name, "grid_path": self.grids[gi].path, "place": anchor[0],
                "places": sorted({names[k] for k in spec["places"]}), "cases": n,
                "without_location": sum(not m.located for m in members),
                "reporters": len({m.reporter for m in members}), "supports": sum(m.supports for m in members),
                "first": min(m.reported for m in members).isoformat(),
                "last": max(m.reported for m in members).isoformat()})

    # (b) a surge -------------------------------------------------------------------------------------------
    def surge(self, grid_idx: np.ndarray, cat_idx: np.ndarray, day_offsets: np.ndarray, cat_weights: np.ndarray,
              grid_weights: np.ndarray) -> None:
        rng = self.rng
        window, mult = 6, 5.0
        if self.span < 4 * window:
            return
        community_of = np.array([g.path.rsplit("/", 1)[0] for g in self.grids])
        counts: dict[str, int] = defaultdict(int)
        for p, w in zip(community_of.tolist(), grid_weights.tolist(), strict=True):
            counts[p] += w
        community = max(counts, key=lambda p: counts[p])
        parents = np.array([c.parent_code or "" for c in self.cats])
        group = "SJ-05" if "SJ-05" in set(parents.tolist()) else str(parents[int(np.argmax(cat_weights))])
        in_group = parents[cat_idx] == group
        in_comm = community_of[grid_idx] == community
        base_lo, base_hi = self.span - window - 28, self.span - window
        base = int(np.sum(in_group & in_comm & (day_offsets >= base_lo) & (day_offsets < base_hi))) / 28
        extra = max(8, round((mult - 1) * max(base, 0.3) * window))
        gis = [i for i, p in enumerate(community_of.tolist()) if p == community]
        gw = grid_weights[gis] / grid_weights[gis].sum()
        cis = [i for i, p in enumerate(parents.tolist()) if p == group]
        cw = cat_weights[cis] / cat_weights[cis].sum()
        for _ in range(extra):
            gi = gis[int(np.searchsorted(np.cumsum(gw), rng.random() * 0.999999))]
            ci = cis[int(np.searchsorted(np.cumsum(cw), rng.random() * 0.999999))]
            at = _at(rng, self.now, self.tz, rng.random() * (window - 0.5), (8, 9, 10, 11, 14, 15, 16, 17, 19))
            if at >= self.now:
                at = self.now - dt.timedelta(minutes=rng.randint(30, 300))
            channel = (Channel.resident, Channel.hotline, Channel.grid_worker)[int(rng.random() * 3)]
            self.specs.append(Spec(at, gi, ci, channel, "surge"))
        unit_name = next((g.name for g in self.grids if g.path.startswith(community + "/")), community)
        first = (self.now.astimezone(self.tz) - dt.timedelta(days=window - 1)).date()
        self.info["surge"] = {"community_path": community, "grid_example": unit_name, "group": group,
                              "first_day": first.isoformat(),
                              "last_day": self.now.astimezone(self.tz).date().isoformat(),
                              "days": window, "baseline_per_day": round(base, 2), "multiplier": mult, "cases": extra}

    # (c) an escalating dispute -----------------------------------------------------------------------------
    def dispute(self) -> None:
        rng = self.rng
        if self.span < 30 or "SG-0101" not in self.code_index:
            return
        gi = self._busy_grid(lambda p: bool(p.compounds) and not p.places.rural, set())
        if gi is None:
            return
        name, lon, lat = self.places[gi].compounds[0]
        b, u, floor = rng.randint(1, 12), rng.randint(1, 3), rng.randint(2, 5)
        address = f"{name}{b}幢{u}单元{floor}0{rng.randint(1, 2)}室"
        upstairs = f"{floor + 1}0{rng.randint(1, 2)}"
        phone = self.reporters.special(0)
        days = (27.0, 22.0, 16.0, 11.0, 6.0, 2.5)
        for step, d in enumerate(days):
            title, body = dispute_text(step, address, upstairs)
            at = _at(rng, self.now, self.tz, d, (8, 9, 19, 20, 21))
            self.specs.append(Spec(at, gi, self.code_index["SG-0101"],
                                   Channel.hotline if step % 2 else Channel.resident, "dispute",
                                   title=title, description=body, lonlat=_near(rng, lon, lat, 15),
                                   address=f"长兴县{address}", reporter=phone))
        self.info["dispute"] = {"category": "SG-0101", "grid": self.grids[gi].name, "grid_path": self.grids[gi].path,
                                "address": f"长兴县{address}", "cases": len(days), "within_days": 27,
                                "reporter_phone_bidx": phone[1]}

    # (e) a spatial hotspot ---------------------------------------------------------------------------------
    def hotspot(self, count: int) -> None:
        rng = self.rng
        weeks = min(8, max(2, self.span // 14))
        code = next((c for c in ("SJ-0102", "SJ-0507", "SJ-0155") if c in self.code_index), None)
        if code is None or self.span < 21:
            return
        centres = np.array([(g.center_lon or 119.9, g.center_lat or 31.0) for g in self.grids])
        gi0 = self._busy_grid(lambda p: not p.places.rural, {int(i) for i in self.by_weight[:3]}) or 0
        lon0, lat0 = (float(x) for x in centres[gi0])
        radius = 500.0
        touched: dict[int, int] = defaultdict(int)
        for _ in range(count):
            r, a = radius * math.sqrt(rng.random()), rng.random() * 2 * math.pi
            lat = lat0 + r * math.sin(a) / _M_PER_DEG_LAT
            lon = lon0 + r * math.cos(a) / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
            gi = int(np.argmin((centres[:, 0] - lon) ** 2 + (centres[:, 1] - lat) ** 2))
            touched[gi] += 1
            days_ago = weeks * 7 * (1 - math.sqrt(rng.random()))  # emerging: denser in recent weeks
            at = _at(rng, self.now, self.tz, days_ago, (7, 8, 9, 10, 11, 14, 15, 16, 17, 18))
            if at >= self.now:
                at = self.now - dt.timedelta(minutes=rng.randint(30, 300))
            channel = (Channel.resident, Channel.grid_worker, Channel.hotline)[int(rng.random() * 3)]
            self.specs.append(Spec(at, gi, self.code_index[code], channel, "hotspot",
                                   lonlat=(round(lon, 6), round(lat, 6))))
        self.info["hotspot"] = {"category": code, "center": [round(lon0, 6), round(lat0, 6)], "radius_m": radius,
                                "weeks": weeks, "cases": count,
                                "grids": {self.grids[g].name: k for g, k in sorted(touched.items())}}
