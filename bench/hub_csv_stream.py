"""Streaming a 1,000,000-row persons CSV through the data hub's CSV connector, against baselines in the same run.

Writes a synthetic persons CSV (姓名,身份证号,手机号,性别,出生日期,民族,住址,备注 — valid GB 11643 ID numbers,
mobile numbers, addresses down to the room, a few quoted notes with commas and newlines) in UTF-8 and GB18030 to
a temporary directory (never into the repo), then reads each file, every reader in a fresh subprocess so its
peak RSS (``ru_maxrss``) is its own:

* ``python floor``     — the interpreter with zhili's connector imported, reading nothing;
* ``csv latin-1``      — :mod:`csv` over the file decoded as latin-1 (no real decoding work): the floor of any
  streaming CSV reader in Python;
* ``csv + codec``      — :mod:`csv` with the file's real codec;
* ``hub connector``    — :func:`zhili.datahub.connectors.open_file` (detection, sniffing, one dict per row);
* ``pandas whole``     — ``pandas.read_csv(dtype=str)`` loading the file whole: its peak RSS is the point.

A second table compares encoding detection — the connector's rule (BOM, strict UTF-8 on the first non-ASCII
chunk, else GB18030) against charset-normalizer — on samples of the same rows, 40 bytes to 64 KiB long, in
UTF-8, UTF-8 with BOM, GBK and GB18030: a sample counts as right when the chosen codec decodes it to the original
text.

    PYTHONPATH=src .venv/bin/python bench/hub_csv_stream.py [--rows 1000000] [--keep DIR] [--json]

``write_persons_csv(path, n, encoding, seed)`` and ``persons(n, seed)`` are importable for other benches.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["姓名", "身份证号", "手机号", "性别", "出生日期", "民族", "住址", "备注"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国建华志强文博子涵梓萱浩然欣怡宇轩思远雨桐晨曦佳怡俊杰婷婷晓东海峰春梅金凤德明淑珍"
ETHNIC = ["汉族"] * 92 + ["回族", "满族", "畲族", "壮族", "苗族", "土家族", "蒙古族", "藏族"]
REGIONS = [("330522", "浙江省湖州市长兴县", ["雉城街道", "画溪街道", "太湖街道", "龙山街道", "洪桥镇", "李家巷镇"]),
           ("330502", "浙江省湖州市吴兴区", ["月河街道", "朝阳街道", "爱山街道", "飞英街道", "织里镇"]),
           ("330503", "浙江省湖州市南浔区", ["南浔镇", "练市镇", "双林镇", "菱湖镇"]),
           ("330523", "浙江省湖州市安吉县", ["递铺街道", "昌硕街道", "灵峰街道", "孝丰镇"])]
ROADS = ["明珠路", "金陵路", "长兴大道", "人民路", "解放路", "太湖路", "龙山路", "画溪路", "中山路", "青年路"]
ESTATES = ["金陵小区", "明珠花园", "阳光城", "太湖苑", "龙山新村", "锦绣家园", "翡翠湾", "和平里"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def id_number(region: str, born: dt.date, seq: int) -> str:
    """A GB 11643 ID number with a valid check digit (``seq``: 3 digits, odd for men)."""
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + CHECK[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def persons(n: int, seed: int = 16) -> Iterator[list[str]]:
    """``n`` synthetic person rows (cells in :data:`COLUMNS` order), the same for the same seed."""
    r = random.Random(seed).random

    def pick(seq: Any) -> Any:
        return seq[int(r() * len(seq))]

    def num(lo: int, hi: int) -> int:
        return lo + int(r() * (hi - lo + 1))

    start = dt.date(1935, 1, 1).toordinal()
    span = dt.date(2020, 12, 31).toordinal() - start
    for i in range(n):
        male = r() < 0.5
        born = dt.date.fromordinal(start + int(r() * span))
        region, prefix, streets = pick(REGIONS)
        name = pick(SURNAMES) + pick(GIVEN) + (pick(GIVEN) if r() < 0.7 else "")
        phone = f"1{pick('3456789')}{int(r() * 1e9):09d}"
        address = (f"{prefix}{pick(streets)}{pick(ROADS)}{num(1, 300)}号{pick(ESTATES)}{num(1, 30)}幢"
                   f"{num(1, 4)}单元{num(1, 18)}0{num(1, 4)}室")
        note = ""
        if i % 97 == 0:
            note = "独居老人，需每周走访"
        elif i % 499 == 0:
            note = "户籍在外地,\n暂住本地"  # a quoted cell with a comma and a newline
        seq = num(0, 99) * 10 + num(0, 4) * 2 + (1 if male else 0)
        yield [name, id_number(region, born, seq), phone if i % 13 else "", "男" if male else "女",
               born.isoformat(), pick(ETHNIC), address, note]


def write_persons_csv(path: str | os.PathLike[str], n: int, encoding: str = "utf-8", seed: int = 16) -> Path:
    """Write ``n`` synthetic persons (header row first) as CSV in ``encoding`` (``utf-8``, ``utf-8-sig``,
    ``gb18030``, ``gbk`` …); the same file for the same arguments."""
    out = Path(path)
    with out.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(persons(n, seed))
    return out


# ---- one measurement per subprocess ------------------------------------------------------------------------------


def _measure(kind: str, path: str, encoding: str) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "src"))
    from zhili.datahub.connectors import open_file

    t0 = time.perf_counter()
    rows = 0
    if kind == "floor":
        pass
    elif kind == "csv_latin1":
        with open(path, encoding="latin-1", newline="") as f:
            rows = sum(1 for _ in csv.reader(f)) - 1
    elif kind == "csv_codec":
        with open(path, encoding=encoding, newline="") as f:
            rows = sum(1 for _ in csv.reader(f)) - 1
    elif kind == "connector":
        rows = sum(1 for _ in open_file(path))
    elif kind == "pandas":
        import pandas as pd

        rows = len(pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False))
    seconds = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"rows": rows, "seconds": seconds, "rss_mib": rss_kib / 1024}


def _run(kind: str, path: Path, encoding: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one", kind, "--file", str(path), "--encoding", encoding],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


# ---- encoding detection --------------------------------------------------------------------------------------------


def _detection_table(seed: int = 7) -> list[dict[str, object]]:
    sys.path.insert(0, str(ROOT / "src"))
    from charset_normalizer import from_bytes

    from zhili.datahub.connectors import detect_encoding_bytes

    rng = random.Random(seed)
    text = "\n".join(",".join(r) for r in persons(3000, seed)) + "\n"
    samples: list[tuple[str, bytes, str]] = []
    for length in (40, 200, 1000, 8000, 65536):
        for _ in range(40):
            start = rng.randrange(0, len(text) - length)
            chunk = text[start:start + length // 3]  # ~length bytes once encoded
            for enc in ("utf-8", "utf-8-sig", "gbk", "gb18030"):
                samples.append((f"{enc} ~{length}B", chunk.encode(enc), chunk))
    results: list[dict[str, object]] = []
    for name, detect in (("hub rule", lambda b: detect_encoding_bytes(b, complete=True)),
                         ("charset-normalizer", lambda b: (from_bytes(b).best() or _NoMatch()).encoding)):
        right, t0 = 0, time.perf_counter()
        wrong: dict[str, int] = {}
        for label, data, chunk in samples:
            enc = detect(data)
            try:
                ok = enc is not None and data.decode(enc).lstrip("\ufeff") == chunk
            except (UnicodeDecodeError, LookupError):
                ok = False
            right += ok
            if not ok:
                wrong[label.split()[0]] = wrong.get(label.split()[0], 0) + 1
        seconds = time.perf_counter() - t0
        results.append({"detector": name, "samples": len(samples), "right": right,
                        "ms_per_sample": 1000 * seconds / len(samples), "wrong_by_encoding": wrong})
    return results


class _NoMatch:
    encoding = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the files here and keep them (default: a temporary directory)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--encoding", default="utf-8", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one, args.file, args.encoding)))
        return

    tmp = tempfile.TemporaryDirectory(prefix="hub_csv_stream_") if not args.keep else None
    folder = Path(args.keep or tmp.name)  # type: ignore[union-attr]
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"rows": args.rows, "readers": []}
    print(f"{args.rows:,} rows of persons, files in {folder}")
    try:
        for enc in ("utf-8", "gb18030"):
            path = folder / f"persons_{enc}.csv"
            t0 = time.perf_counter()
            write_persons_csv(path, args.rows, enc)
            size = path.stat().st_size
            print(f"\n{enc}: {size / 2**20:.1f} MiB written in {time.perf_counter() - t0:.1f} s")
            print(f"{'reader':<16}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'vs csv':>8}{'peak RSS MiB':>14}")
            base = None
            for kind, label in (("floor", "python floor"), ("csv_latin1", "csv latin-1"),
                                ("csv_codec", "csv + codec"), ("connector", "hub connector"),
                                ("pandas", "pandas whole")):
                r = _run(kind, path, enc)
                rate = r["rows"] / r["seconds"] if r["rows"] else 0.0
                if kind == "csv_latin1":
                    base = rate
                ratio = f"{rate / base:.2f}" if base and rate else ""
                print(f"{label:<16}{int(r['rows']):>11,}{r['seconds']:>9.2f}{rate:>11,.0f}{ratio:>8}"
                      f"{r['rss_mib']:>14.0f}")
                report["readers"].append({"encoding": enc, "file_mib": size / 2**20, "reader": label,  # type: ignore[union-attr]
                                          **r, "rows_per_s": rate})
        print("\nencoding detection (a sample is right when the chosen codec decodes it to the original text)")
        print(f"{'detector':<20}{'right':>12}{'ms/sample':>11}  wrong by encoding")
        table = _detection_table()
        for d in table:
            print(f"{d['detector']:<20}{d['right']:>6}/{d['samples']:<5}{d['ms_per_sample']:>11.2f}  "
                  f"{d['wrong_by_encoding'] or '—'}")
        report["detection"] = table
    finally:
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
