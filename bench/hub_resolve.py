"""Resolution into golden records (``datahub.golden.EntityHandler``) at scale, against the register write alone.

A fresh migrated SQLite database per measurement, one grid, three synthetic person sources fed batch by batch as
the pipeline does (source records written, then the handler):

* ``minzheng`` — N persons with valid ID numbers, phones and the grid (trust 80);
* ``gongan`` — 10 % of them again (same ID number, a newer phone) plus 0.9 N others (trust 90);
* ``wangge`` — 5 % of the first source with the last ID digit mistyped (checksum fails), no place (trust 40).

Baseline, in the same run: ``registry.service.create_person`` for the first source's N persons, nothing else
(the register write every golden record needs anyway). Prints rows/s of each, the ratio, the outcome counts
and pair-level precision/recall of the deterministic links and of the mistyped records (linked or queued for
review) against the generator's truth. The matcher is ``datahub.matching``'s when installed, else a stand-in
(same name and birth date → 0.9, the review band).

    PYTHONPATH=src .venv/bin/python bench/hub_resolve.py [--n 20000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

_TMP = Path(tempfile.mkdtemp(prefix="hub-resolve-"))
os.environ.setdefault("ZHILI_VAR_DIR", str(_TMP))
os.environ.setdefault("ZHILI_KEY_FILE", str(_TMP / "keys.json"))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬斌宇浩凯健俊帆帅旭宁龙林欣"
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(rng: random.Random, seq: int) -> tuple[str, str]:
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 80 * 365))
    first17 = f"330522{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W, strict=True)) % 11], born.isoformat()


def people(n: int, rng: random.Random) -> list[dict[str, Any]]:
    out, seen = [], set()
    while len(out) < n:
        idn, born = id_number(rng, rng.randrange(1, 999))
        if idn in seen:
            continue
        seen.add(idn)
        out.append({"name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                    "id_number": idn, "birth_date": born, "phone": f"13{rng.randrange(10**8, 10**9)}"})
    return out


def fresh_world(tag: str) -> tuple[Any, Any, Any]:
    """A migrated database with one district → street → community → grid and a community staff account."""
    from sqlalchemy.orm import Session

    from zhili.core import migrate
    from zhili.core.db import make_engine
    from zhili.core.security import Role
    from zhili.regions.models import Unit, UnitLevel
    from zhili.users.models import User, UserUnit
    from zhili.users.service import principal_for_user

    url = f"sqlite:///{_TMP / (tag + '.db')}"
    migrate.upgrade(url=url)
    engine = make_engine(url)
    s = Session(engine, expire_on_commit=False)
    parent = None
    for level, code, name in (("district", "330522", "长兴县"), ("street", "330522001", "雉城街道"),
                              ("community", "330522001001", "金陵社区"), ("grid", "330522001001001", "第1网格")):
        u = Unit(parent_id=parent.id if parent else None, level=UnitLevel(level), code=code, name=name,
                 path=f"{parent.path}/{code}" if parent else code, depth=(parent.depth + 1) if parent else 0,
                 valid_from=dt.date(2020, 1, 1))
        s.add(u)
        s.flush()
        parent = u
    user = User(id=uuid.uuid4(), username="shequ", display_name="社区", role=Role.community_staff, password_hash="!")
    user.units = [UserUnit(unit_id=parent.id)]
    s.add(user)
    s.commit()
    return s, principal_for_user(s, user=user), parent


class StandIn:
    """Same name and birth date → 0.9 (the review band); the default bands."""

    auto_merge, review = 0.95, 0.6

    def pairs(self, records: list[dict[str, Any]], *, against: list[dict[str, Any]], threshold: float) -> list[Any]:
        idx: dict[tuple[Any, Any], list[Any]] = {}
        for a in against:
            idx.setdefault((a.get("name"), str(a.get("birth_date"))[:10]), []).append(a["id"])
        return [types.SimpleNamespace(left=r["id"], right=g, probability=0.9, weight=6.0, evidence={"name": "exact"})
                for r in records for g in idx.get((r.get("name"), str(r.get("birth_date"))[:10]), [])]


def feed(s: Any, principal: Any, grid: Any, name: str, trust: int, rows: list[dict[str, Any]], batch: int,
         handler: Any) -> float:
    from zhili.core.validators import validate_id_number
    from zhili.datahub.models import Connector, Import, SecurityLevel, Source, SourceRecord, Target
    from zhili.datahub.records import key_index, set_record_values
    from zhili.datahub.rows import StagedRow

    src = Source(id=uuid.uuid4(), name=name, title=name, target=Target.persons, security_level=SecurityLevel.internal,
                 trust=trust, unit_id=grid.id, path=grid.path)
    s.add(src)
    s.flush()
    imp = Import(id=uuid.uuid4(), source_id=src.id, path=src.path, username="shequ", connector=Connector.csv,
                 filename=f"{name}.csv")
    s.add(imp)
    s.commit()
    ctx = types.SimpleNamespace(session=s, principal=principal, source=src, imp=imp)
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        staged = []
        for i, v in enumerate(rows[start:start + batch], start=start + 1):
            rec = SourceRecord(id=uuid.uuid4(), source_id=src.id, natural_key=f"{name}-{i}", target_type=Target.persons,
                               path=src.path, first_import_id=imp.id, last_import_id=imp.id, row_number=i)
            set_record_values(rec, v)
            try:
                rec.key_bidx = key_index("persons", validate_id_number(v["id_number"]))
            except Exception:  # noqa: BLE001 - a mistyped number has no key
                rec.key_bidx = None
            staged.append(StagedRow(row_number=i, natural_key=rec.natural_key, values=v, path=src.path, record=rec,
                                    change="new"))
        s.add_all(r.record for r in staged)
        s.flush()
        handler.apply(ctx, staged)
        s.commit()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(16)
    n = args.n
    everyone = people(2 * n - n // 10, rng)  # distinct ID numbers: the truth is the ID number
    base, others = everyone[:n], everyone[n:]
    again = [dict(p, phone=f"15{rng.randrange(10**8, 10**9)}") for p in rng.sample(base, n // 10)]
    typos = []
    for p in rng.sample(base, n // 20):
        d = p["id_number"]
        typos.append({"name": p["name"], "id_number": d[:-1] + ("0" if d[-1] != "0" else "1"),
                      "birth_date": p["birth_date"], "_truth": d})

    # baseline: the register write alone
    from zhili.registry import service as registry
    from zhili.registry.models import ResidentType

    s, principal, grid = fresh_world("baseline")
    t0 = time.perf_counter()
    for start in range(0, n, args.batch):
        for p in base[start:start + args.batch]:
            registry.create_person(s, principal=principal, data={
                "name": p["name"], "id_number": p["id_number"], "phone": p["phone"], "grid_id": grid.id,
                "resident_type": ResidentType.registered})
        s.commit()
    t_base = time.perf_counter() - t0
    s.close()

    # the hub
    try:
        from zhili.datahub.matching import matcher_for  # type: ignore[import-not-found,unused-ignore]

        matcher: Any = matcher_for("person")
        mname = "datahub.matching"
    except ImportError:
        matcher, mname = StandIn(), "stand-in (same name + birth date)"
    from zhili.datahub.golden import EntityHandler

    s, principal, grid = fresh_world("hub")
    for rows in (base, again, others):
        for p in rows:
            p["grid_id"] = str(grid.id)
    handler = EntityHandler(matcher=matcher)
    t1 = feed(s, principal, grid, "minzheng", 80, base, args.batch, handler)
    t2 = feed(s, principal, grid, "gongan", 90, again + others, args.batch, handler)
    t3 = feed(s, principal, grid, "wangge", 40, [{k: v for k, v in t.items() if k != "_truth"} for t in typos],
              args.batch, handler)

    from sqlalchemy import func, select

    from zhili.datahub.models import ChangeEvent, GoldenLink, GoldenRecord, MatchCandidate, SourceRecord
    from zhili.datahub.records import record_values

    goldens = s.scalar(select(func.count()).select_from(GoldenRecord)) or 0
    cands = s.scalar(select(func.count()).select_from(MatchCandidate)) or 0
    events = s.scalar(select(func.count()).select_from(ChangeEvent)) or 0
    # truth: a record's person is its (correct) ID number
    truth_of: dict[uuid.UUID, str] = {}
    golden_of: dict[uuid.UUID, uuid.UUID] = {}
    typo_truth = {t["id_number"]: t["_truth"] for t in typos}
    for rec in s.scalars(select(SourceRecord)):
        idn = record_values(rec)["id_number"]
        truth_of[rec.id] = typo_truth.get(idn, idn)
    for rid, gid in s.execute(select(GoldenLink.source_record_id, GoldenLink.golden_id)
                              .where(GoldenLink.unlinked_at.is_(None))):
        golden_of[rid] = gid
    by_golden: dict[uuid.UUID, list[uuid.UUID]] = {}
    for rid, gid in golden_of.items():
        by_golden.setdefault(gid, []).append(rid)
    linked_pairs = {(a, b) for members in by_golden.values() for a in members for b in members if a < b}
    by_truth: dict[str, list[uuid.UUID]] = {}
    for rid, t in truth_of.items():
        by_truth.setdefault(t, []).append(rid)
    true_pairs = {(a, b) for members in by_truth.values() for a in members for b in members if a < b}
    tp = len(linked_pairs & true_pairs)
    precision = tp / len(linked_pairs) if linked_pairs else 1.0
    recall = tp / len(true_pairs) if true_pairs else 1.0
    queued = {(c.source_record_id, c.golden_id) for c in s.scalars(select(MatchCandidate))}
    golden_truth = {gid: truth_of[members[0]] for gid, members in by_golden.items() if members}
    typo_recs = [rid for rid, t in truth_of.items() if rid in golden_of and t in typo_truth.values()
                 and record_values(s.get(SourceRecord, rid))["id_number"] in typo_truth]
    typo_found = sum(1 for rid in typo_recs if any(r == rid and golden_truth.get(g) == truth_of[rid]
                                                   for r, g in queued) or (golden_truth.get(golden_of[rid]) ==
                     truth_of[rid] and len(by_golden[golden_of[rid]]) > 1))

    print(f"matcher: {mname}; N = {n}; batch = {args.batch}; SQLite, one process")
    print(f"{'step':44} {'rows':>8} {'seconds':>9} {'rows/s':>9}")
    print(f"{'baseline: registry.create_person only':44} {n:>8} {t_base:>9.1f} {n / t_base:>9.0f}")
    for label, rows_n, t in (("hub: minzheng (all new)", n, t1), ("hub: gongan (10% same ID, 90% new)", n, t2),
                             ("hub: wangge (mistyped IDs, no place)", len(typos), t3)):
        print(f"{label:44} {rows_n:>8} {t:>9.1f} {rows_n / t:>9.0f}")
    print(f"ratio hub (first source) / baseline time: {t1 / t_base:.2f}")
    print(f"golden records {goldens}, review candidates {cands}, change events {events}")
    print(f"linked pairs: precision {precision:.4f}, recall {recall:.4f} (tp {tp}, linked {len(linked_pairs)}, "
          f"true {len(true_pairs)})")
    print(f"mistyped records linked or queued with their true person: {typo_found}/{len(typos)}")


if __name__ == "__main__":
    sys.exit(main())
