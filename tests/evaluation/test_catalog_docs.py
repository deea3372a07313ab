"""docs/4e.md lists every default indicator with its formula, and the catalogue keeps the paper's structure: every
sub-dimension has indicators, every formula compiles against the figures the engine computes and the data set's
fields, weights are positive, target-normalised indicators have a target and threshold in the right order."""

from __future__ import annotations

from pathlib import Path

from zhili.evaluation import catalog, metrics, scoring

DOC = Path(__file__).resolve().parents[2] / "docs" / "4e.md"


def test_the_default_set_follows_the_paper_and_is_large_enough() -> None:
    assert len(catalog.INDICATORS) >= 24
    assert len({s.code for s in catalog.INDICATORS}) == len(catalog.INDICATORS)
    assert {s.sub_dimension for s in catalog.INDICATORS} == set(catalog.SUB_DIMENSIONS)
    names = set(metrics.PLATFORM_METRICS) | {f.code for d in catalog.DATASETS for f in d.fields}
    for s in catalog.INDICATORS:
        scoring.compile_formula(s.formula, names)  # an unknown figure would be refused
        assert s.weight > 0 and s.direction in ("higher", "lower") and s.scope in ("grid", "community")
        if s.normalisation == "target":
            assert s.target is not None and s.threshold is not None
            assert (s.target > s.threshold) == (s.direction == "higher"), s.code


def test_docs_list_every_default_indicator_with_its_formula() -> None:
    text = DOC.read_text(encoding="utf-8")
    for s in catalog.INDICATORS:
        assert f"`{s.code}`" in text and s.name in text and f"`{s.formula}`" in text, s.code
