"""Spatial hotspots (热点区域): Gi* finds planted clusters, keeps the false-discovery rate on noise, flags a cell
rising against its own history, and a user sees only the cells and grids of their jurisdiction."""

from __future__ import annotations

import datetime as dt

import h3
import numpy as np
import pandas as pd
import pytest
from geocases import CENTRE, END, case_rows, days_back, disk, frame_from_counts, insert_cases

from zhili.core.errors import Forbidden, ValidationFailed
from zhili.intel.hotspots import grid_layer, hotspots, hotspots_for
from zhili.intel.hotspots_stats import bh_qvalues, gi_star, neighbour_matrix


def test_gi_star_equals_the_esda_reference() -> None:
    import warnings

    from esda.getisord import G_Local
    from libpysal.weights import W

    cells = disk(6)
    pos = {c: i for i, c in enumerate(cells)}
    nb = [[pos[n] for n in h3.grid_disk(c, 1) if n != c and n in pos] for c in cells]
    y = np.random.default_rng(5).poisson(8, len(cells)).astype(float)
    z, p = gi_star(y, neighbour_matrix(nb, len(cells)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = G_Local(y, W({i: v for i, v in enumerate(nb)}), transform="B", star=True, permutations=0)
    assert np.allclose(z, ref.Zs)
    assert np.allclose(p, 2 * ref.p_norm)  # ours is two-sided


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # sorted: .005 .01 .03 .04 .5 → ×5/rank: .025 .025 .05 .05 .5 (monotone from the top)
    assert np.allclose(bh_qvalues(p), [0.025, 0.05, 0.05, 0.025, 0.5])


def test_planted_cluster_is_hot_and_nothing_far_from_it_is() -> None:
    rng = np.random.default_rng(11)
    cells = disk(12)
    cluster_centre = sorted(h3.grid_ring(CENTRE, 6))[0]
    cluster = set(h3.grid_disk(cluster_centre, 1))  # 7 adjacent cells at three times the background rate
    halo = set(h3.grid_disk(cluster_centre, 2))  # Gi* smooths: the ring around a cluster may come out hot too
    counts = {c: int(rng.poisson(60 if c in cluster else 20)) for c in cells}
    result = hotspots(frame_from_counts(counts, rng))
    by_cell = {c["cell"]: c for c in result.cells}
    assert all(by_cell[c]["q"] < 0.05 and by_cell[c]["cls"].startswith("hot") for c in cluster)
    far = [c for c in result.cells if c["cell"] not in halo and c["significant"]]
    assert len(far) <= 2, far
    assert result.summary["cells"] == len(cells)
    assert result.cells[0]["cell"] in cluster  # sorted by z, hottest first


def test_uniform_noise_has_the_nominal_rate_before_fdr_and_almost_nothing_after() -> None:
    cells = disk(10)  # 331 cells
    raw, after = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        counts = {c: int(rng.poisson(30)) for c in cells}
        s = hotspots(frame_from_counts(counts, rng)).summary
        raw.append(s["raw_significant"] / s["cells"])
        after.append(s["hot"] + s["cold"])
    assert 0.025 <= float(np.mean(raw)) <= 0.09  # nominal 5 % (two-sided, α = 0.05)
    assert sum(after) <= 2  # the false-discovery-rate control removes the chance hits


def test_a_cell_rising_against_its_own_history_is_emerging() -> None:
    rng = np.random.default_rng(3)
    cells = disk(6)
    rising = sorted(h3.grid_ring(CENTRE, 3))[2]
    frame = frame_from_counts({c: int(rng.poisson(40)) for c in cells}, rng, recent={rising: 25})
    result = hotspots(frame, since=END - dt.timedelta(days=89), until=END)
    by_cell = {c["cell"]: c for c in result.cells}
    cell = by_cell[rising]
    assert cell["emerging"]
    assert cell["trend"]["recent"] > 2 * cell["trend"]["expected"]
    assert len(cell["trend"]["weekly"]) == 12 and cell["trend"]["weekly"][-1] > cell["trend"]["weekly"][0]
    assert sum(c["emerging"] for c in result.cells) <= 2


def test_a_category_counts_itself_and_its_subcategories_only() -> None:
    rng = np.random.default_rng(2)
    cells = disk(3)
    a = frame_from_counts({c: 5 for c in cells}, rng, category="SG-0101")
    b = frame_from_counts({c: 7 for c in cells}, rng, category="SJ-0102")
    frame = pd.concat([a, b], ignore_index=True)
    frame["category_code"] = pd.Categorical(frame["category_code"].astype(str))
    assert hotspots(frame, category="SG-01").summary["cases"] == 5 * len(cells)
    assert hotspots(frame, category="SJ-0102").summary["cases"] == 7 * len(cells)
    assert hotspots(frame).summary["cases"] == 12 * len(cells)


def test_grid_cells_are_neighbours_when_their_boundaries_touch() -> None:
    from shapely.geometry import box

    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]
    grids = pd.DataFrame({"name": ["甲网格", "乙网格", "丙网格", "丁网格"], "lon": np.nan, "lat": np.nan}, index=ids)
    shapes = {ids[0]: box(0, 0, 1, 1), ids[1]: box(1, 0, 2, 1), ids[2]: box(0, 1, 1, 2), ids[3]: box(5, 5, 6, 6)}
    frame = pd.DataFrame({"reported_day": np.array(["2026-01-01"] * 4, dtype="datetime64[D]"),
                          "category_code": pd.Categorical(["SG-0101"] * 4), "grid_id": pd.Categorical(ids),
                          "lon": np.nan, "lat": np.nan})
    layer = grid_layer(frame, grids, shapes)
    assert layer.neighbours[0] == [1, 2]
    assert layer.neighbours[3] == []  # has a boundary, touches none
    assert layer.names == ["甲网格", "乙网格", "丙网格", "丁网格"]
    assert layer.boundaries[0] is not None and layer.boundaries[0][0] == layer.boundaries[0][-1]


def test_the_result_is_a_geojson_layer_with_class_colours() -> None:
    rng = np.random.default_rng(1)
    result = hotspots(frame_from_counts({c: 10 for c in disk(2)}, rng))
    fc = result.geojson()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 19
    f = fc["features"][0]
    ring = f["geometry"]["coordinates"][0]
    assert f["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 7
    assert {"count", "z", "p", "q", "cls", "label", "colour", "emerging"} <= set(f["properties"])
    assert f["properties"]["label"] == "不显著" and f["properties"]["colour"].startswith("#")


# -- in the database ---------------------------------------------------------------------------------------------

def _principal(db, world, who):
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


@pytest.fixture
def placed(db, world):
    """Cases over the last 90 days in grids ga, gb (community c1) and gc (community c2)."""
    from zhili.core.clock import today as local_today

    rng = np.random.default_rng(4)
    today = local_today()
    rows = []
    for grid, lon, lat, n in ((world.units["ga"], 119.1, 31.1, 2), (world.units["gb"], 119.3, 31.1, 1),
                              (world.units["gc"], 119.6, 31.1, 1)):
        rows += case_rows(grid, n=n, days=days_back(today - dt.timedelta(days=1), 60), lon=lon, lat=lat, rng=rng,
                          spread=0.01)
    insert_cases(db, rows)
    return world


def test_a_community_user_sees_only_the_cells_and_grids_of_their_community(db, placed) -> None:
    world = placed
    district = hotspots_for(db, principal=_principal(db, world, "zhihui"), level="h3", resolution=7)
    community = hotspots_for(db, principal=_principal(db, world, "shequ1"), level="h3", resolution=7)
    assert district.summary["cases"] == 240 and community.summary["cases"] == 180
    west = {c["cell"] for c in community.cells}
    assert west < {c["cell"] for c in district.cells}
    assert all(c["lon"] < 119.5 for c in community.cells)
    assert {c["name"] for c in community.cells} <= {"金陵社区第1网格", "金陵社区第2网格"}
    grids = hotspots_for(db, principal=_principal(db, world, "shequ1"), level="grid")
    assert sorted((c["name"], c["count"]) for c in grids.cells) == [("金陵社区第1网格", 120), ("金陵社区第2网格", 60)]
    assert all(c["boundary"] for c in grids.cells)


def test_hotspots_need_the_intel_permission_and_sane_parameters(db, placed) -> None:
    with pytest.raises(Forbidden):
        hotspots_for(db, principal=_principal(db, placed, "wangge_a"))
    zhihui = _principal(db, placed, "zhihui")
    with pytest.raises(ValidationFailed):
        hotspots_for(db, principal=zhihui, level="county")
    with pytest.raises(ValidationFailed):
        hotspots_for(db, principal=zhihui, days=3)
    with pytest.raises(ValidationFailed):
        hotspots_for(db, principal=zhihui, category="NO-SUCH")


def test_case_frames_load_the_window_the_jurisdiction_and_the_category_asked_for(db, world) -> None:
    from zhili.intel.caseframe import CASE_COLUMNS, load_cases, load_grids

    rng = np.random.default_rng(0)
    u = world.units
    day = dt.date(2026, 3, 2)
    rows = case_rows(u["ga"], n=2, days=[day, day - dt.timedelta(days=10)], lon=119.1, lat=31.1, rng=rng)
    rows += case_rows(u["gc"], n=1, days=[day], lon=119.6, lat=31.1, category="SJ-0102", overdue=True, rng=rng)
    for r in rows:
        r["master_case_id"] = None
    rows[1]["state"], rows[1]["master_case_id"] = "merged", rows[0]["id"]  # a duplicate: the same incident
    insert_cases(db, rows)
    frame = load_cases(db, since=day, until=day)
    assert len(frame) == 2 and list(frame.columns) == ["reported_day", "category_code", "grid_id", "lon", "lat",
                                                      "state", "overdue"]
    assert sorted(frame["grid_id"].astype(str)) == sorted([str(u["ga"].id), str(u["gc"].id)])
    assert frame["reported_day"].dt.date.tolist() == [day, day] and frame["overdue"].sum() == 1
    assert len(load_cases(db, since=day - dt.timedelta(days=10), until=day, path_prefix=u["c1"].path)) == 3
    assert len(load_cases(db, path_prefix=[u["c2"].path], category_prefix="SJ-01")) == 1
    assert len(load_cases(db, include_merged=True, columns=("id",))) == 5
    every = load_cases(db, columns=CASE_COLUMNS)
    assert len(every) == 4 and every["reported_at"].dt.tz is not None
    assert load_cases(db, since=dt.date(2030, 1, 1)).empty
    grids = load_grids(db, path_prefix=u["c1"].path)
    assert grids["name"].tolist() == ["金陵社区第1网格", "金陵社区第2网格"] and set(grids["community"]) == {"金陵社区"}
