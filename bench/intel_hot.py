"""Hot-issue timing (zhili.intel.hot): the two citizen-message files when present, and 50,000 generated cases.

    PYTHONPATH=src python bench/intel_hot.py

Prints seconds per stage (place extraction, vectors + links + clusters, the whole call) after warming jieba up
(its dictionary load, ≈ 1–2 s once per process, is reported separately)."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from zhili.intel.hot import HotDoc, doc_places, hot_issues

SUBJECTS = ["楼下烧烤店油烟太大，晚上噪音扰民", "物业乱收停车费", "电梯经常困人无人维修", "路灯不亮已经一个月",
            "下水道堵塞污水外溢", "工地夜间施工噪音扰民", "垃圾没人清运臭味熏天", "违章搭建占用消防通道",
            "开发商延期交房", "房产证迟迟办不下来", "学校强制补课乱收费", "拖欠农民工工资"]


def generated(n: int, seed: int = 1) -> list[HotDoc]:
    rng = random.Random(seed)
    places = [f"{a}{b}{c}" for a in "东南西北中金银青红春秋" for b in "湖山河林园桥港湾峰泉" for c in ("小区", "花园", "苑", "路")]
    t0 = dt.datetime(2026, 1, 1)
    out = []
    for i in range(n):
        p, s = rng.choice(places), rng.choice(SUBJECTS)
        out.append(HotDoc(id=str(i), title=f"{p}{s[:8]}", text=f"我们{p}{rng.randint(1, 30)}栋{s}，多次反映没有解决，"
                          "希望有关部门尽快处理。", time=t0 + dt.timedelta(days=rng.uniform(0, 365)),
                          reporter=f"r{rng.randint(1, n // 3)}", votes=rng.randint(0, 5)))
    return out


def csv_docs(path: Path) -> list[HotDoc]:
    import pandas as pd

    d = pd.read_csv(path)
    return [HotDoc(id=str(r["留言编号"]), title=r["留言主题"], text=str(r["留言详情"]),
                   time=pd.Timestamp(str(r["留言时间"]).strip()).to_pydatetime(), reporter=r["留言用户"])
            for _, r in d.iterrows()]


def run(name: str, docs: list[HotDoc]) -> None:
    from zhili.intel import places

    places._words.cache_clear()
    t = time.perf_counter()
    doc_places(docs)
    t_places = time.perf_counter() - t
    places._words.cache_clear()
    t = time.perf_counter()
    issues = hot_issues(docs)
    total = time.perf_counter() - t
    print(f"{name}: {len(docs)} docs — places {t_places:.2f} s ({len(docs) / t_places:.0f}/s), "
          f"hot_issues {total:.2f} s, {len(issues)} issues shown")


def main() -> None:
    import jieba

    t = time.perf_counter()
    jieba.initialize()
    from zhili.intel.places import _tag
    _tag("小区")
    print(f"jieba dictionary + tags: {time.perf_counter() - t:.2f} s (once per process)")
    from shareddata import SHARED_DATA

    for f in ("unlabelled_messages_2801.csv", "messages_with_replies_2816.csv"):
        p = SHARED_DATA / "cn_gov_messages" / f
        if p.exists():
            run(f, csv_docs(p))
    for n in (3_000, 50_000):
        run(f"generated {n}", generated(n))


if __name__ == "__main__":
    main()
