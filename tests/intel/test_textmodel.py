"""The text classifier: trained on generated reports whose labels have their own vocabulary, it predicts unseen
reports, its probabilities are probabilities, it explains itself in words of the report, it refuses tampered or
foreign bytes, and its evaluation is honest (baselines on the same folds, test texts kept out of the corpus)."""

from __future__ import annotations

import hashlib
import hmac
import pickle
import random
from typing import Any

import numpy as np
import pytest
from clsdata import VOCAB, labelled, report

from zhili.intel import texteval, textfeatures, textmodel
from zhili.intel.textmodel import ModelIntegrityError, TextModel


@pytest.fixture(scope="module")
def model() -> TextModel:
    texts, labels = labelled(25, seed=1)
    return textmodel.fit(texts, labels)


def test_predicts_unseen_reports_with_probabilities_that_sum_to_one(model: TextModel) -> None:
    texts, labels = labelled(10, seed=99)
    p = model.proba(texts)
    assert model.labels == sorted(VOCAB)
    assert p.shape == (len(texts), len(VOCAB))
    assert np.allclose(p.sum(axis=1), 1.0) and (p >= 0).all()
    predicted = [model.labels[i] for i in p.argmax(axis=1)]
    assert np.mean([a == b for a, b in zip(predicted, labels, strict=True)]) >= 0.9
    top = model.top(texts[0], k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert top[0][0] == labels[0]


def test_explains_with_words_of_the_report_that_belong_to_the_label(model: TextModel) -> None:
    text = "幸福里学校门口问题\n最近每天晚上，学校门口校车乱停，老师和家长都很担心学生安全，希望尽快处理。"
    words = model.explain(text, "教育", k=5)
    assert words and len(words) <= 5
    assert all(w in text for w in words)
    assert set(words) & {"学校", "校车", "老师", "家长", "学生"}
    assert "晚上" not in words[:2]
    assert model.explain(text, "没有这个标签") == []


def test_dumps_and_loads_round_trip_and_refuse_tampered_or_foreign_bytes(model: TextModel) -> None:
    data = model.dumps()
    again = TextModel.loads(data)
    texts, _ = labelled(3, seed=5)
    assert np.allclose(again.proba(texts), model.proba(texts))
    tampered = bytearray(data)
    tampered[-10] ^= 0xFF
    with pytest.raises(ModelIntegrityError) as exc:
        TextModel.loads(bytes(tampered))
    assert "拒绝加载" in exc.value.message
    # the same payload signed with another installation's key
    payload = data[len(textmodel.MAGIC) + 64:]
    foreign = hmac.new(b"\x09" * 32, b"intel-text-model:" + hashlib.sha256(payload).hexdigest().upper().encode(),
                       hashlib.sha256).hexdigest()
    with pytest.raises(ModelIntegrityError):
        TextModel.loads(textmodel.MAGIC + foreign.encode() + payload)
    with pytest.raises(ModelIntegrityError) as exc:
        TextModel.loads(pickle.dumps({"model": model}))
    assert "不是智理的模型文件" in exc.value.message


def test_lean_path_gives_the_same_rows_as_the_vectorizers(model: TextModel) -> None:
    f = model.featurizer
    docs = f.analyse_many(labelled(10, seed=7)[0])
    assert len(docs) > textfeatures.FAST_ROWS
    big = f.transform(docs).toarray()
    small = np.vstack([f.transform([d]).toarray() for d in docs])
    assert np.allclose(big, small, atol=1e-6)


def test_extra_tokens_are_features() -> None:
    rng = random.Random(3)
    texts = [report(rng, "交通") for _ in range(40)]
    labels = ["热线" if i % 2 else "网格" for i in range(40)]
    extras = [["渠道:12345"] if lab == "热线" else ["渠道:网格员"] for lab in labels]
    m = textmodel.fit(texts, labels, extras=extras)
    assert m.top(texts[0], extra=["渠道:12345"])[0][0] == "热线"
    assert m.top(texts[0], extra=["渠道:网格员"])[0][0] == "网格"


def test_a_single_label_model_is_certain() -> None:
    m = textmodel.fit(["公交线路太少\n希望增加", "公交站点太远\n希望调整"], ["交通", "交通"])
    assert m.labels == ["交通"] and m.proba(["随便什么"]).tolist() == [[1.0]]


def test_cross_validation_reports_model_and_baselines_on_the_same_folds() -> None:
    texts, labels = labelled(12, seed=2)
    r = textmodel.cross_validate(texts, labels, folds=5)
    assert r["n"] == len(texts) and r["folds"] == 5 and r["split"] == "cv5"
    assert set(r["baselines"]) == {"majority", "tfidf_lr"}
    for key in ("top1", "top3", "macro_f1", "brier", "ece"):
        assert 0.0 <= r[key] <= 2.0
    assert r["top1"] >= 0.85 and r["top3"] >= r["top1"]
    assert r["top1"] > r["baselines"]["majority"]["top1"] + 0.3


def test_fewer_folds_when_a_label_is_rare() -> None:
    texts, labels = labelled(6, seed=4, labels=["教育", "交通"])
    rng = random.Random(8)
    texts += [report(rng, "环保"), report(rng, "环保")]
    labels += ["环保", "环保"]
    r = textmodel.cross_validate(texts, labels, folds=5)
    assert r["folds"] == 2 and r["folds_requested"] == 5


def test_test_texts_are_kept_out_of_the_unlabelled_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = labelled(5, seed=6)
    seen: list[tuple[set[str], list[str]]] = []
    real = texteval._model_proba

    def spy(docs: Any, y: Any, test_docs: Any, corpus: Any, *args: Any) -> Any:
        seen.append(({d.raw for d in test_docs}, [d.raw for d in corpus]))
        return real(docs, y, test_docs, corpus, *args)

    monkeypatch.setattr(texteval, "_model_proba", spy)
    extra = ["无关的历史留言\n路灯不亮"]
    textmodel.cross_validate(texts, labels, folds=5, unlabelled=[*texts, *extra])
    assert len(seen) == 5
    for test_raw, corpus_raw in seen:
        assert not test_raw & set(corpus_raw)
        assert len(corpus_raw) == len(texts) + 1 - len(test_raw)


def test_time_split_trains_on_the_past_and_tests_on_the_future() -> None:
    import datetime as dt

    texts, labels = labelled(10, seed=9)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    times: list[dt.datetime | None] = [start + dt.timedelta(days=i) for i in range(len(texts))]
    times[0] = None
    r = textmodel.time_split(texts, labels, times, test_fraction=0.25)
    assert r["split"] == "time" and r["train_until"] < r["test_from"]
    assert r["n"] + r["n_train"] == len(texts) - 1
    assert r["n"] == round((len(texts) - 1) * 0.25)
    assert r["top1"] >= 0.8
