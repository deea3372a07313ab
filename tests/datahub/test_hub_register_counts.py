"""A data hub import writes register rows through its own batch path: the per-grid counts still equal a recount."""

from __future__ import annotations

from goldenkit import ID_A, ID_B, StubMatcher, make_hub, person

from zhili.registry import counts


def test_a_hub_import_of_persons_keeps_the_per_grid_counts_exact(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.0))
    hub.source("minzheng", trust=80)
    hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    hub.stage("minzheng", "m-2", person("李四", ID_B, phone="13800000002", grid=world.units["gb"]))
    db.flush()
    assert counts.recount(db, check_only=True) == []
    assert counts.totals_under(db, (world.units["district"].path,))["persons"] == 2
    assert counts.totals_under(db, (world.units["gb"].path,))["persons"] == 1
