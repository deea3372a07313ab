"""``zhili intel hot-issues --from-csv``: a file in an office encoding, both time formats of exported messages,
the JSON shape, and Chinese refusals (exit 1, no traceback). No database."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from typer.testing import CliRunner

from zhili.cli import app

FUMES = ["{p}楼下烧烤店油烟太大，晚上噪音扰民睡不着", "{p}的餐馆夜宵摊油烟直冲住户窗户，半夜还很吵",
         "投诉{p}临街饭店油烟和噪音问题，严重影响居民休息", "请管管{p}烧烤夜宵店，油烟呛人，深夜噪音不断"]
OTHER = ["路灯不亮已经一个月", "下水道堵塞污水外溢", "垃圾桶满了没人清运", "公交站台破损需要维修", "自来水水压太低"]


def write_file(path: Path, encoding: str = "gbk") -> None:
    rng = random.Random(5)
    rows = [["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "点赞数"]]
    for i in range(12):  # the hot issue: one place, one subject, two weeks, slash dates
        text = rng.choice(FUMES).format(p="翠湖花园小区")
        rows.append([str(100 + i), f"U{i % 5}", text[:14], f"2019/3/{1 + i} 2{i % 4}:0{i % 6}:05", text, str(i)])
    for i in range(30):  # noise: ISO-like dashes
        place = f"{'东南西北中'[i % 5]}{'湖山河林园桥'[i % 6]}小区"
        subject = OTHER[i % len(OTHER)]
        rows.append([str(500 + i), f"N{i}", f"{place}{subject}", f"2019-0{1 + i % 3}-1{i % 9} 08:30:00",
                     f"我们{place}{subject}，请处理。", "0"])
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def run(*args: str) -> object:
    return CliRunner().invoke(app, ["intel", "hot-issues", *args])


def test_the_hot_issues_of_a_file_as_json(tmp_path: Path) -> None:
    f = tmp_path / "留言.csv"
    write_file(f)
    result = run("--from-csv", str(f), "--text", "留言主题,留言详情", "--time", "留言时间", "--id", "留言编号",
                 "--votes", "点赞数", "--reporter", "留言用户", "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    issues = json.loads(result.output)
    assert 1 <= len(issues) <= 3
    first = issues[0]
    assert {"rank", "heat", "places", "terms", "first", "last", "ids", "representative", "size"} <= set(first)
    assert first["rank"] == 1 and first["places"] == ["翠湖花园"]
    assert sorted(first["ids"]) == [str(100 + i) for i in range(12)] and first["size"] == 12
    assert first["first"] == "2019-03-01T20:00:05" and first["last"] == "2019-03-12T23:05:05"
    assert first["votes"] == sum(range(12)) and first["reporters"] == 5
    assert first["representative"]["id"] in first["ids"] and "翠湖花园" in first["representative"]["text"]


def test_a_table_without_json(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    write_file(f, "utf-8-sig")
    result = run("--from-csv", str(f), "--text", "留言主题,留言详情", "--time", "留言时间")
    assert result.exit_code == 0, result.output
    assert "热点问题" in result.output and "翠湖花园" in result.output


def test_refusals_are_chinese_and_exit_1(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    write_file(f)
    missing = run("--from-csv", str(f), "--text", "内容", "--time", "留言时间")
    assert missing.exit_code == 1 and "文件中没有这些列：内容" in missing.output
    assert "Traceback" not in missing.output
    nofile = run("--from-csv", str(tmp_path / "none.csv"), "--text", "a", "--time", "b")
    assert nofile.exit_code == 1 and "文件不存在" in nofile.output
    bad = tmp_path / "bad.csv"
    bad.write_text("内容,时间\n路灯不亮,昨天下午\n", encoding="utf-8")
    badtime = run("--from-csv", str(bad), "--text", "内容", "--time", "时间")
    assert badtime.exit_code == 1 and "第 1 行的时间" in badtime.output and "Traceback" not in badtime.output
