"""``zhili ml`` on a labelled file: train (creating the schema of a fresh database), predict a file into the
documented columns, list, activate and roll back versions — and every mistake is one Chinese line with exit 1."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clsdata import labelled
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from filedb import process_engine_on_file
from zhili.cli import app


@pytest.fixture
def fresh_db(engine: Any, tmp_path: Path) -> Iterator[Any]:
    """An empty SQLite file (no schema) as the process-wide engine, as on a machine that has never run zhili."""
    with process_engine_on_file(engine, tmp_path / "fresh.db", migrated=False) as eng:
        yield eng


def _write_csv(path: Path, n_per_label: int = 8, encoding: str = "utf-8") -> Path:
    texts, labels = labelled(n_per_label, seed=21)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "主题", "详情", "时间", "分类"])
        for i, (t, lab) in enumerate(zip(texts, labels, strict=True)):
            title, body = t.split("\n", 1)
            when = (f"2019/{1 + i % 12}/{1 + i % 27} 9:0{i % 10}:05" if i % 2
                    else f"2018-0{1 + i % 9}-1{i % 10} 17:31:20")
            w.writerow([f"M{i:03d}", title, body, when, lab])
    return path


def test_train_predict_list_activate_and_rollback(fresh_db: Any, tmp_path: Path) -> None:
    from zhili.intel.models import ModelState, ModelVersion

    data = _write_csv(tmp_path / "labelled.csv", encoding="gbk")  # an office export: GBK, detected
    run = CliRunner()
    args = ["ml", "train", "--from-csv", str(data), "--text", "主题,详情", "--label", "分类", "--name", "hotline"]
    first = run.invoke(app, [*args, "--time", "时间"])
    assert first.exit_code == 0, first.output
    assert "已创建数据库结构" in first.output and "hotline@1" in first.output
    assert "多数类基线" in first.output and "TF-IDF+逻辑回归基线" in first.output and "按时间切分" in first.output
    with Session(fresh_db) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == "hotline"))
        assert mv is not None and mv.state == ModelState.active and mv.trained_by == "命令行"
        assert mv.metrics["split"] == "cv5" and mv.metrics["top1"] >= 0.8 and mv.metrics["time_split"]["n"] > 0
        assert mv.data_from is not None and mv.data_from.year == 2018 and mv.n_train == 32

    second = run.invoke(app, args)
    assert second.exit_code == 0 and "hotline@2" in second.output and "已创建数据库结构" not in second.output

    out = tmp_path / "pred.csv"
    pred = run.invoke(app, ["ml", "predict", "--model", "hotline", "--from-csv", str(data), "--text", "主题,详情",
                            "--id", "编号", "--top", "3", "--out", str(out)])
    assert pred.exit_code == 0, pred.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["id", "label_1", "prob_1", "label_2", "prob_2", "label_3", "prob_3"]
    assert len(rows) == 33 and rows[1][0] == "M000"
    truth = [r[4] for r in csv.reader(data.open(encoding="gbk"))][1:]
    assert sum(r[1] == t for r, t in zip(rows[1:], truth, strict=True)) >= 28
    assert all(float(r[2]) >= float(r[4]) >= float(r[6]) for r in rows[1:])

    by_row = tmp_path / "pred_rows.csv"
    assert run.invoke(app, ["ml", "predict", "--model", "hotline@1", "--from-csv", str(data), "--text", "主题,详情",
                            "--top", "2", "--out", str(by_row)]).exit_code == 0
    rows = list(csv.reader(by_row.open(encoding="utf-8")))
    assert rows[0] == ["id", "label_1", "prob_1", "label_2", "prob_2"] and rows[1][0] == "1"

    listed = run.invoke(app, ["ml", "list"])
    assert listed.exit_code == 0 and "hotline@2" in listed.output and "使用中" in listed.output
    assert run.invoke(app, ["ml", "rollback", "hotline"]).exit_code == 0
    assert run.invoke(app, ["ml", "activate", "hotline@2"]).exit_code == 0
    with Session(fresh_db) as s:
        states = {v: st for v, st in s.execute(select(ModelVersion.version, ModelVersion.state))}
        assert states == {1: ModelState.retired, 2: ModelState.active}


def test_mistakes_are_one_chinese_line_and_exit_1(fresh_db: Any, tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "labelled.csv")
    run = CliRunner()
    bad = run.invoke(app, ["ml", "train", "--from-csv", str(data), "--text", "标题", "--label", "分类", "--name", "x"])
    assert bad.exit_code == 1 and "没有列：标题" in bad.output and "编号、主题、详情、时间、分类" in bad.output
    assert "Traceback" not in bad.output
    missing = run.invoke(app, ["ml", "train", "--from-csv", str(tmp_path / "nope.csv"), "--text", "主题",
                               "--label", "分类", "--name", "x"])
    assert missing.exit_code == 1 and "找不到文件" in missing.output
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"")
    empty = run.invoke(app, ["ml", "train", "--from-csv", str(junk), "--text", "主题", "--label", "分类",
                             "--name", "x"])
    assert empty.exit_code == 1 and "无法读取文件" in empty.output
    unknown = run.invoke(app, ["ml", "predict", "--model", "nothing", "--from-csv", str(data), "--text", "主题",
                               "--out", str(tmp_path / "o.csv")])
    assert unknown.exit_code == 1 and "不存在" in unknown.output
    assert run.invoke(app, ["ml", "activate", "nothing"]).exit_code == 1
    assert "不存在" in run.invoke(app, ["ml", "rollback", "nothing"]).output
    bad_since = run.invoke(app, ["ml", "train", "--target", "category", "--since", "2026-13-01"])
    assert bad_since.exit_code == 1 and "格式不对，应为 YYYY-MM-DD" in bad_since.output
    file_since = run.invoke(app, ["ml", "train", "--from-csv", str(data), "--text", "主题", "--label", "分类",
                                  "--name", "x", "--since", "2026-01-01"])
    assert file_since.exit_code == 1 and "只用于平台模型" in file_since.output
    # a window after every case: nothing to learn from, said so (no model trained)
    later = run.invoke(app, ["ml", "train", "--target", "category", "--since", "2999-01-01"])
    assert later.exit_code == 0 and "未训练任何模型" in later.output


def test_too_few_rows_per_label_use_fewer_folds(fresh_db: Any, tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    texts, labels = labelled(3, seed=5, labels=["教育", "交通"])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))
    r = CliRunner().invoke(app, ["ml", "train", "--from-csv", str(path), "--text", "text", "--label", "label",
                                 "--name", "small"])
    assert r.exit_code == 0, r.output
    assert "只有 3 行，不够做 5 折交叉验证，改为 3 折" in r.output
    one = tmp_path / "one.csv"
    one.write_text("text,label\n公交太少,交通\n公交太挤,交通\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["ml", "train", "--from-csv", str(one), "--text", "text", "--label", "label",
                                 "--name", "one"])
    assert r.exit_code == 1 and "至少需要两个类别" in r.output


def test_unlabelled_files_feed_the_corpus(fresh_db: Any, tmp_path: Path) -> None:
    from zhili.intel.models import ModelVersion

    data = _write_csv(tmp_path / "labelled.csv", n_per_label=4)
    extra = tmp_path / "history.csv"
    extra.write_text("主题,详情,其他\n公交站点太远,希望调整线路,x\n学校门口拥堵,家长接送,y\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["ml", "train", "--from-csv", str(data), "--text", "主题,详情", "--label", "分类",
                                 "--name", "with-history", "--unlabelled", f"{extra},{extra}", "--no-activate"])
    assert r.exit_code == 0, r.output
    assert "无标签文本 4 条" in r.output and "已训练（未启用）" in r.output
    with Session(fresh_db) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == "with-history"))
        assert mv is not None and mv.params["unlabelled"] == 4 and mv.metrics["unlabelled"] == 4
    bad = CliRunner().invoke(app, ["ml", "train", "--from-csv", str(data), "--text", "主题,详情", "--label", "分类",
                                   "--name", "x", "--unlabelled", str(data.with_name("missing.csv"))])
    assert bad.exit_code == 1 and "找不到文件" in bad.output
