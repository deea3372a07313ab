"""Generated labelled reports for the text-classifier tests: a few labels, each with its own vocabulary, mixed with
words every report shares (places, politeness), so a model must find the words that matter."""

from __future__ import annotations

import random

VOCAB = {
    "教育": ["学校", "老师", "学生", "招生", "幼儿园", "班主任", "补课", "学位", "校车", "家长"],
    "交通": ["公交", "红绿灯", "司机", "线路", "站点", "出租车", "拥堵", "斑马线", "驾驶证", "车辆"],
    "环保": ["噪音", "油烟", "污染", "排放", "臭味", "粉尘", "废水", "焚烧", "扰民", "异味"],
    "社保": ["社保", "养老金", "工资", "拖欠", "医保", "退休", "缴费", "劳动合同", "参保", "失业"],
}
SHARED = ["小区", "街道", "反映", "希望", "尽快", "附近", "居民", "最近", "每天", "情况", "处理", "问题", "市民",
          "门口", "晚上", "严重", "解决", "部门", "相关", "一直"]
PLACES = ["A市", "A1区", "B2县", "东风路", "幸福里", "光明街", "新华社区"]


def report(rng: random.Random, label: str, noise: float = 0.3) -> str:
    """A title line and a description: topic words of ``label``, shared words, and with probability ``noise`` a
    topic word of another label."""
    words = VOCAB[label]
    title = f"{rng.choice(PLACES)}{rng.choice(words)}{rng.choice(['问题', '的反映', '请求处理'])}"
    body = [rng.choice(PLACES)]
    for _ in range(rng.randint(6, 14)):
        r = rng.random()
        if r < 0.4:
            body.append(rng.choice(words))
        elif r < 0.4 + noise * 0.3:
            body.append(rng.choice(VOCAB[rng.choice([k for k in VOCAB if k != label])]))
        else:
            body.append(rng.choice(SHARED))
    return title + "\n" + "，".join(body) + "。"


def labelled(n_per_label: int = 30, seed: int = 1, labels: list[str] | None = None) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, ys = [], []
    for i in range(n_per_label):
        for lab in labels or list(VOCAB):
            texts.append(report(rng, lab))
            ys.append(lab)
        del i
    return texts, ys
