"""Mapping-template speed: µs per row of the compiled mapper (``zhili.datahub.mapping``) on the shipped
templates, against a hand-written mapping of the same columns measured in the same run (the baseline: what a
one-off import script would do — plain dict look-ups, ``strptime`` with the right format, ``float``).

Rows: the shared NYC 311 and citizen-message files when present (``../shared/data``, not in the repo), repeated
to ``--rows``; otherwise synthetic rows of the same shape. Prints a table and the ratio to the baseline.

    PYTHONPATH=src .venv/bin/python bench/hub_mapping.py [--rows 200000] [--json]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from zhili.datahub.mapping import compile_template
from zhili.datahub.templates import builtin_documents

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")


def _rows(path: Path, synthetic: Callable[[int], dict[str, str]], n: int) -> tuple[list[dict[str, Any]], str]:
    if path.exists():
        with path.open(encoding="utf-8-sig", newline="") as fh:
            base = list(csv.DictReader(fh))
        origin = path.name
    else:
        base = [synthetic(i) for i in range(1000)]
        origin = "synthetic"
    return [base[i % len(base)] for i in range(n)], origin


def _nyc_synthetic(i: int) -> dict[str, str]:
    return {"Unique Key": str(19937896 + i), "Created Date": "03/01/2011 02:27:57 PM",
            "Closed Date": "03/14/2011 03:59:20 PM", "Agency": "DOT", "Agency Name": "Department of Transportation",
            "Complaint Type": "Street Condition", "Descriptor": "Pothole", "Location Type": "Street",
            "Incident Zip": "11232", "Incident Address": "186 25 STREET", "Street Name": "25 STREET",
            "Status": "Closed", "Resolution Description": "Done.", "Borough": "BROOKLYN",
            "Latitude": "40.66", "Longitude": "-73.99"}


def _msg_synthetic(i: int) -> dict[str, str]:
    return {"留言编号": str(i), "留言用户": f"A{i:08d}", "留言主题": "小区物业乱收停车费",
            "留言时间": "2019/2/28 11:25:05", "留言详情": "尊敬的领导：……" * 5,
            "答复意见": "您好，已转交相关部门处理。", "答复时间": "2019/3/8 9:01:00"}


def _parse(value: str, formats: list[str], tz: ZoneInfo) -> dt.datetime | None:
    for f in formats:
        try:
            return dt.datetime.strptime(value, f).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


def nyc_by_hand(categories: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    fmts = ["%m/%d/%Y %I:%M:%S %p"]

    def m(r: dict[str, Any]) -> dict[str, Any]:
        ct, desc = r.get("Complaint Type") or "", r.get("Descriptor") or ""
        lat, lon = r.get("Latitude") or "", r.get("Longitude") or ""
        closed = r.get("Closed Date") or ""
        return {
            "external_id": r["Unique Key"].strip(), "title": " - ".join(x for x in (ct, desc) if x),
            "category_label": ct or None, "category_code": categories.get(ct),
            "description": "; ".join(x for x in (ct, desc, r.get("Location Type"), r.get("Incident Address")) if x),
            "reported_at": _parse(r["Created Date"], fmts, NY),
            "closed_at": _parse(closed, fmts, NY) if closed else None, "status": r.get("Status") or None,
            "department": r.get("Agency Name") or None,
            "address": r.get("Incident Address") or r.get("Street Name") or None,
            "lat": float(lat) if lat else None, "lon": float(lon) if lon else None,
            "reply": r.get("Resolution Description") or None, "attributes.borough": r.get("Borough") or None,
            "attributes.zip": r.get("Incident Zip") or None, "attributes.agency": r.get("Agency") or None}
    return m


def messages_by_hand() -> Callable[[dict[str, Any]], dict[str, Any]]:
    fmts = ["%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"]

    def m(r: dict[str, Any]) -> dict[str, Any]:
        replied = r.get("答复时间") or ""
        return {
            "external_id": r["留言编号"].strip(), "title": r.get("留言主题") or None,
            "description": "\n".join(x for x in (r.get("留言主题"), r.get("留言详情")) if x),
            "reported_at": _parse(r["留言时间"], fmts, SH), "category_label": r.get("一级分类") or None,
            "reply": r.get("答复意见") or None, "replied_at": _parse(replied, fmts, SH) if replied else None,
            "attributes.user": r.get("留言用户") or None}
    return m


def _time(fn: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for r in rows:
        fn(r)
    return (time.perf_counter() - start) / len(rows) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs = {d["name"]: d for d in builtin_documents()}
    nyc_spec = docs["nyc311"]["spec"]
    categories = next(f for f in nyc_spec["fields"] if f["field"] == "category_code")["value_map"]
    cases = [
        ("nyc311", DATA / "us311" / "nyc311_2011_subset_2000.csv", _nyc_synthetic, nyc_by_hand(categories)),
        ("cn-gov-messages", DATA / "cn_gov_messages" / "messages_with_replies_2816.csv", _msg_synthetic,
         messages_by_hand()),
    ]
    results = []
    for name, path, synthetic, by_hand in cases:
        rows, origin = _rows(path, synthetic, args.rows)
        mapper = compile_template(docs[name]["spec"])
        mapper = mapper.bind(list(rows[0]))
        _time(mapper.map, rows[:2000])  # warm the date-format order
        base = _time(by_hand, rows)
        ours = _time(mapper.map, rows)
        results.append({"template": name, "rows": len(rows), "input": origin, "baseline_us_per_row": round(base, 2),
                        "mapper_us_per_row": round(ours, 2), "ratio": round(ours / base, 2),
                        "mapper_rows_per_s": round(1e6 / ours)})
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
        return
    print(f"{'template':<17}{'input':<34}{'rows':>9}{'by hand µs':>12}{'mapper µs':>11}{'ratio':>7}{'rows/s':>10}")
    for r in results:
        print(f"{r['template']:<17}{r['input']:<34}{r['rows']:>9,}{r['baseline_us_per_row']:>12.2f}"
              f"{r['mapper_us_per_row']:>11.2f}{r['ratio']:>7.2f}{r['mapper_rows_per_s']:>10,}")


if __name__ == "__main__":
    main()
