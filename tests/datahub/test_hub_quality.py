"""The data-quality report (数据质量): completeness, validity, uniqueness, freshness, cross-source consistency and the
overall score, per import and per source; who may read it; its JSON, page and command-line faces.

Rows are built directly (sources, imports, encrypted source records, quarantine rows, golden records and links), so
each figure can be checked exactly against what was put in."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.errors import Forbidden, NotFound
from zhili.datahub import quality
from zhili.datahub.models import (
    Connector,
    EntityType,
    GoldenLink,
    GoldenRecord,
    Import,
    ImportStatus,
    MatchType,
    QuarantineRow,
    SecurityLevel,
    Source,
    SourceRecord,
    Target,
)
from zhili.datahub.records import key_index, seal_raw, set_record_values

NOW = dt.datetime(2026, 6, 15, 4, 0, tzinfo=dt.UTC)  # 12:00 in the district


# -- building rows ----------------------------------------------------------------------------------------------

def principal(db: Session, world: Any, who: str) -> Any:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def make_source(db: Session, unit: Any, name: str, *, title: str | None = None, refresh_days: int | None = 7,
                target: Target = Target.persons) -> Source:
    src = Source(id=uuid.uuid4(), name=name, title=title or f"{name}台账", target=target, unit_id=unit.id,
                 path=unit.path, security_level=SecurityLevel.internal, refresh_days=refresh_days)
    db.add(src)
    db.flush()
    return src


def make_import(db: Session, src: Source, *, finished: dt.datetime = NOW, stats: dict[str, Any] | None = None,
                read: int = 0, quarantined: int = 0, status: ImportStatus = ImportStatus.done,
                filename: str = "人口.csv") -> Import:
    imp = Import(id=uuid.uuid4(), source_id=src.id, path=src.path, connector=Connector.csv, filename=filename,
                 status=status, started_at=finished - dt.timedelta(minutes=1), finished_at=finished,
                 rows_read=read, rows_imported=read - quarantined, rows_quarantined=quarantined, stats=stats or {})
    db.add(imp)
    db.flush()
    return imp


def make_record(db: Session, src: Source, imp: Import, key: str, values: dict[str, Any], *,
                strong_key: str | None = None) -> SourceRecord:
    rec = SourceRecord(id=uuid.uuid4(), source_id=src.id, natural_key=key, target_type=src.target, path=src.path,
                       first_import_id=imp.id, last_import_id=imp.id, row_number=1,
                       key_bidx=key_index(src.target, strong_key) if strong_key else None)
    set_record_values(rec, values)
    db.add(rec)
    db.flush()
    return rec


def quarantine(db: Session, src: Source, imp: Import, rules: list[str], row: int = 1) -> QuarantineRow:
    q = QuarantineRow(id=uuid.uuid4(), import_id=imp.id, source_id=src.id, path=src.path, row_number=row,
                      errors=[{"field": "phone", "rule": r, "message": "校验未通过"} for r in rules],
                      rules=",".join(rules))
    q.raw_enc = seal_raw({"电话": "x"}, q.id)
    db.add(q)
    db.flush()
    return q


def golden(db: Session, unit: Any, *records: SourceRecord, unlinked: SourceRecord | None = None) -> GoldenRecord:
    g = GoldenRecord(id=uuid.uuid4(), entity_type=EntityType.person, path=unit.path)
    db.add(g)
    db.flush()
    for i, rec in enumerate(records):
        db.add(GoldenLink(golden_id=g.id, source_record_id=rec.id,
                          match_type=MatchType.seed if i == 0 else MatchType.deterministic))
    if unlinked is not None:
        db.add(GoldenLink(golden_id=g.id, source_record_id=unlinked.id, match_type=MatchType.manual,
                          unlinked_at=NOW))
    db.flush()
    return g


@pytest.fixture
def at_noon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The clock stands at NOW (12:00 local on 15 June 2026)."""
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    yield


def sign_in(client: Any, token: str) -> None:
    """The test client as a browser holding this session cookie."""
    from zhili.http.deps import SESSION_COOKIE

    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)


def _codecheck() -> Any:
    """The page tests' checker of visible codes (tests/web/codecheck.py), loaded by path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("hubq_codecheck", Path(__file__).parents[1] / "web" / "codecheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_field(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["field"]: f for f in report["completeness"]["fields"]}


# -- completeness ------------------------------------------------------------------------------------------------

def test_source_completeness_counts_records_with_a_value_per_field_exactly(db: Session, world: Any) -> None:
    """Four records: every one has a name, three a phone (a blank one does not count), one an address. Each
    field's share is filled/records; required fields appear even when no record carries them."""
    src = make_source(db, world.units["c1"], "q-complete")
    imp = make_import(db, src, read=4)
    make_record(db, src, imp, "1", {"name": "张三", "phone": "13812345678", "address": "金陵路1号"})
    make_record(db, src, imp, "2", {"name": "李四", "phone": "13812345679"})
    make_record(db, src, imp, "3", {"name": "王五", "phone": "13812345670", "address": None})
    make_record(db, src, imp, "4", {"name": "赵六", "phone": "   "})
    rep = quality.source_quality(db, principal=principal(db, world, "admin"), source_id=src.id)
    fields = by_field(rep)
    assert rep["records"] == 4
    assert (fields["name"]["filled"], fields["name"]["share"]) == (4, 1.0)
    assert (fields["phone"]["filled"], fields["phone"]["share"]) == (3, 0.75)
    assert (fields["address"]["filled"], fields["address"]["share"]) == (1, 0.25)
    assert (fields["id_number"]["filled"], fields["id_number"]["share"]) == (0, 0.0)  # required, never given
    assert fields["phone"]["name"] == "手机号"  # the standard field's Chinese name
    assert rep["completeness"]["overall"] == pytest.approx((1 + 0.75 + 0.25 + 0) / 4)


def test_import_figures_come_from_the_pipelines_stats(db: Session, world: Any) -> None:
    """An import with ``stats`` = {rows, fields, rules} is reported from them: filled/rows per field, failures per
    rule over the rows checked with the rule's Chinese name, duplicates in the file."""
    src = make_source(db, world.units["c1"], "q-stats")
    imp = make_import(db, src, read=10, quarantined=3, stats={
        "rows": 10, "fields": {"name": 10, "phone": 6, "id_number": 9},
        "rules": {"id_number": 1, "duplicate_in_file": 2}})
    out = quality.import_quality(db, principal=principal(db, world, "shequ1"), import_id=imp.id)
    assert out["basis"] == "stats"
    fields = by_field(out)
    assert fields["phone"]["share"] == 0.6 and fields["id_number"]["filled"] == 9
    rules = {r["rule"]: r for r in out["validity"]["rules"]}
    assert rules["duplicate_in_file"]["failed"] == 2 and rules["duplicate_in_file"]["checked"] == 10
    assert rules["duplicate_in_file"]["name"] == "文件内重复"
    assert rules["id_number"]["share_failed"] == 0.1
    assert out["validity"]["overall"] == 0.7
    assert out["uniqueness"]["duplicate_in_file"] == 2
    assert out["counts"]["quarantined"] == 3 and out["source"]["title"] == src.title


def test_an_import_without_stats_is_measured_from_its_records_and_quarantine(db: Session, world: Any) -> None:
    """No stats: completeness over the records the import last wrote, failures per rule from its quarantine rows
    (a row failing two rules counts once for each); an unknown rule code reads 其他规则, never the code."""
    src = make_source(db, world.units["c1"], "q-nostats")
    imp = make_import(db, src, read=4, quarantined=2)
    make_record(db, src, imp, "1", {"name": "张三", "phone": "13812345678"})
    make_record(db, src, imp, "2", {"name": "李四", "phone": ""})
    quarantine(db, src, imp, ["mobile", "required"], row=3)
    quarantine(db, src, imp, ["mobile", "zz_never_heard_of"], row=4)
    out = quality.import_quality(db, principal=principal(db, world, "admin"), import_id=imp.id)
    assert out["basis"] == "records"
    assert by_field(out)["phone"]["share"] == 0.5
    rules = {r["rule"]: r for r in out["validity"]["rules"]}
    assert rules["mobile"]["failed"] == 2 and rules["required"]["failed"] == 1
    assert rules["zz_never_heard_of"]["name"] == "其他规则"
    assert out["validity"]["overall"] == 0.5


# -- uniqueness --------------------------------------------------------------------------------------------------

def test_records_sharing_a_strong_key_lower_uniqueness(db: Session, world: Any) -> None:
    """Three keyed records, two of them with the same ID number under different natural keys: one group of two,
    uniqueness = distinct keys / keyed records = 2/3. A record without a key does not count."""
    src = make_source(db, world.units["c1"], "q-unique")
    imp = make_import(db, src, read=4)
    make_record(db, src, imp, "a", {"name": "张三"}, strong_key="330522198506150013")
    make_record(db, src, imp, "b", {"name": "张叁"}, strong_key="330522198506150013")
    make_record(db, src, imp, "c", {"name": "李四"}, strong_key="33052219900101002X")
    make_record(db, src, imp, "d", {"name": "王五"})
    u = quality.source_quality(db, principal=principal(db, world, "admin"), source_id=src.id)["uniqueness"]
    assert (u["records_with_key"], u["duplicate_key_groups"], u["records_sharing_key"]) == (3, 1, 2)
    assert u["overall"] == pytest.approx(2 / 3, abs=1e-4)


# -- freshness ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("days_ago", "status"), [(0, "fresh"), (6, "fresh"), (7, "due"), (8, "due"), (9, "overdue"),
                                                  (30, "overdue")])
def test_freshness_against_a_weekly_schedule(db: Session, world: Any, days_ago: int, status: str) -> None:
    """Weekly source: fresh below 7 days, due up to the grace of a quarter schedule (1 day), overdue after."""
    src = make_source(db, world.units["c1"], "q-fresh", refresh_days=7)
    last = make_import(db, src, finished=NOW - dt.timedelta(days=days_ago))
    f = quality.freshness(src, last, on=clock.to_local(NOW).date())
    assert (f["status"], f["age_days"], f["days_left"]) == (status, days_ago, 7 - days_ago)


def test_freshness_flips_from_fresh_to_overdue_as_the_clock_moves(db: Session, world: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same import read on the service today and three weeks later: fresh, then overdue, and the score
    falls with it; a source without schedule is one-off, one never imported is ``never``."""
    who = principal(db, world, "admin")
    src = make_source(db, world.units["c1"], "q-clock", refresh_days=14)
    make_import(db, src, finished=NOW - dt.timedelta(days=2))
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    before = quality.source_quality(db, principal=who, source_id=src.id)
    assert before["freshness"]["status"] == "fresh" and before["freshness"]["age_days"] == 2
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + dt.timedelta(days=21))
    after = quality.source_quality(db, principal=who, source_id=src.id)
    assert after["freshness"]["status"] == "overdue" and after["freshness"]["days_left"] == -9
    assert after["score"] < before["score"]
    once = make_source(db, world.units["c1"], "q-once", refresh_days=None)
    make_import(db, once)
    assert quality.source_quality(db, principal=who, source_id=once.id)["freshness"]["status"] == "one_off"
    never = make_source(db, world.units["c1"], "q-never")
    assert quality.source_quality(db, principal=who, source_id=never.id)["freshness"]["status"] == "never"


# -- cross-source consistency ------------------------------------------------------------------------------------

def _two_sources(db: Session, world: Any) -> tuple[Source, Source, dict[str, GoldenRecord]]:
    unit = world.units["c1"]
    a, b = make_source(db, unit, "q-police", title="公安人口库"), make_source(db, unit, "q-civil", title="民政台账")
    ia, ib = make_import(db, a, read=3), make_import(db, b, read=3)
    same = golden(db, unit, make_record(db, a, ia, "a1", {"name": "张三", "phone": "138 1234 5678"}),
                  make_record(db, b, ib, "b1", {"name": "张三", "phone": "+86 13812345678"}))
    differ = golden(db, unit, make_record(db, a, ia, "a2", {"name": "李四", "phone": "13900001111"}),
                    make_record(db, b, ib, "b2", {"name": "李四", "phone": "13722223333"}),
                    unlinked=make_record(db, b, ib, "b3", {"name": "李斯", "phone": "13900001111"}))
    alone = golden(db, unit, make_record(db, a, ia, "a3", {"name": "王五", "phone": "13600000000"}))
    return a, b, {"same": same, "differ": differ, "alone": alone}


def test_same_person_with_different_phones_in_two_sources_is_inconsistent(db: Session, world: Any) -> None:
    """Of the two golden records A shares with B, the one with different phones disagrees on 联系电话 and the one
    with the same phone (written differently) does not; names agree; an unlinked record and a golden record of one
    source only are left out. The sample names the disagreeing golden record and shows the phones masked."""
    a, _b, g = _two_sources(db, world)
    rep = quality.source_quality(db, principal=principal(db, world, "admin"), source_id=a.id)
    c = rep["consistency"]
    assert (c["golden_shared"], c["golden_disagreeing"], c["overall"]) == (2, 1, 0.5)
    fields = {f["field"]: f for f in c["fields"]}
    assert (fields["phone"]["compared"], fields["phone"]["disagreeing"]) == (2, 1)
    assert (fields["name"]["compared"], fields["name"]["disagreeing"]) == (2, 0)
    (pair,) = c["pairs"]
    assert (pair["source_title"], pair["shared"], pair["disagreeing"]) == ("民政台账", 2, 1)
    (sample,) = c["sample"]
    assert sample["golden_id"] == str(g["differ"].id)
    (phone,) = sample["fields"]
    assert phone["field"] == "phone"
    assert sorted(v["value"] for v in phone["values"]) == ["137****3333", "139****1111"]
    text = json.dumps(rep, ensure_ascii=False)
    assert "13722223333" not in text and "13900001111" not in text
    assert rep["parts"]["consistency"] == 0.5


def test_consistency_leaves_out_sources_outside_the_readers_area(db: Session, world: Any) -> None:
    """A community reader sees the pair with a source of their own community, not one of another street; the
    sample shows no value from the hidden source."""
    unit = world.units["c1"]
    a = make_source(db, unit, "q-mine", title="金陵台账")
    far = make_source(db, world.units["c2"], "q-far", title="画溪台账")
    ia, ifar = make_import(db, a), make_import(db, far)
    golden(db, unit, make_record(db, a, ia, "1", {"name": "张三", "phone": "13900001111"}),
           make_record(db, far, ifar, "1", {"name": "张三", "phone": "13722223333"}))
    rep = quality.source_quality(db, principal=principal(db, world, "shequ1"), source_id=a.id)
    assert rep["consistency"]["golden_disagreeing"] == 1
    assert rep["consistency"]["pairs"] == []
    assert all(v["source_title"] != "画溪台账" for s in rep["consistency"]["sample"] for f in s["fields"]
               for v in f["values"])


# -- the cache ---------------------------------------------------------------------------------------------------

def test_source_figures_are_computed_once_per_import(db: Session, world: Any, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """The first report decrypts the records and keeps the figures in the latest import's stats (counts only, no
    value); the next report reads them without decrypting; a later run, finished or not, makes them stale."""
    who = principal(db, world, "admin")
    src = make_source(db, world.units["c1"], "q-cache")
    imp = make_import(db, src, read=1, stats={"rows": 1, "fields": {"name": 1}, "rules": {}})
    make_record(db, src, imp, "1", {"name": "张三", "phone": "13812345678"})
    first = quality.source_quality(db, principal=who, source_id=src.id)
    cached = imp.stats[quality.CACHE_KEY]
    assert cached["records"]["records"] == 1 and "13812345678" not in json.dumps(cached)
    assert imp.stats["fields"] == {"name": 1}  # the pipeline's figures stay as they were

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("decrypted again")

    monkeypatch.setattr(quality, "_record_figures", refuse)
    assert quality.source_quality(db, principal=who, source_id=src.id)["completeness"] == first["completeness"]
    killed = make_import(db, src, finished=NOW + dt.timedelta(hours=1), status=ImportStatus.running)
    with pytest.raises(AssertionError, match="decrypted again"):  # a run killed midway wrote records too
        quality.source_quality(db, principal=who, source_id=src.id)
    killed.status = ImportStatus.done
    db.flush()
    with pytest.raises(AssertionError, match="decrypted again"):  # and so did the next successful one
        quality.source_quality(db, principal=who, source_id=src.id)


# -- score, overview, permissions ---------------------------------------------------------------------------------

def test_score_is_the_weighted_mean_of_the_measures_present() -> None:
    """Missing measures are left out and the weights renormalised."""
    assert quality.score({"completeness": 1.0, "validity": 1.0, "uniqueness": None, "consistency": None,
                          "freshness": 1.0}) == 100.0
    assert quality.score({"completeness": 0.5, "validity": 1.0, "freshness": 0.0}) == pytest.approx(
        100 * (0.3 * 0.5 + 0.3 * 1.0) / 0.7, abs=0.1)
    assert quality.score({}) is None


def test_overview_lists_only_the_sources_of_the_callers_area(db: Session, world: Any, at_noon: None) -> None:
    """Community staff of 金陵 see their community's source, not 画溪's; the district sees both. Reading one of
    another area answers 404; a grid worker may not read quality at all."""
    mine = make_source(db, world.units["c1"], "q-jinling", title="金陵台账")
    other = make_source(db, world.units["c2"], "q-huaxi", title="画溪台账")
    oi = make_import(db, other, read=1)
    titles = {r["source"]["title"] for r in quality.overview(db, principal=principal(db, world, "shequ1"))}
    assert "金陵台账" in titles and "画溪台账" not in titles
    titles = {r["source"]["title"] for r in quality.overview(db, principal=principal(db, world, "lingdao"))}
    assert {"金陵台账", "画溪台账"} <= titles
    with pytest.raises(NotFound):
        quality.source_quality(db, principal=principal(db, world, "shequ1"), source_id=other.id)
    with pytest.raises(NotFound):
        quality.import_quality(db, principal=principal(db, world, "shequ1"), import_id=oi.id)
    with pytest.raises(Forbidden):
        quality.source_quality(db, principal=principal(db, world, "wangge_a"), source_id=mine.id)


def test_the_api_answers_json_of_the_documented_shape(client: Any, db: Session, world: Any, at_noon: None) -> None:
    """``GET /api/v1/hub/quality``, ``…/sources/{id}`` and ``…/imports/{id}`` answer the service's JSON; another
    area's source is 404."""
    a, _b, _g = _two_sources(db, world)
    h = world.headers("shequ1")
    rows = client.get("/api/v1/hub/quality", headers=h).json()
    row = next(r for r in rows if r["source"]["id"] == str(a.id))
    assert set(row) >= {"source", "score", "records", "completeness", "validity", "uniqueness", "consistency",
                        "freshness"}
    assert row["freshness"]["status"] == "fresh"
    r = client.get(f"/api/v1/hub/quality/sources/{a.id}?imports=5", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"source", "score", "parts", "records", "freshness", "completeness", "validity",
                         "uniqueness", "consistency", "trend", "open_quarantine"}
    assert body["consistency"]["golden_disagreeing"] == 1 and len(body["trend"]) == 1
    imp_id = body["trend"][0]["import_id"]
    r = client.get(f"/api/v1/hub/quality/imports/{imp_id}", headers=h)
    assert r.status_code == 200 and r.json()["id"] == imp_id
    far = make_source(db, world.units["c2"], "q-far-api")
    assert client.get(f"/api/v1/hub/quality/sources/{far.id}", headers=h).status_code == 404


# -- pages and CLI -----------------------------------------------------------------------------------------------

def test_pages_show_names_not_codes(client: Any, db: Session, world: Any, at_noon: None) -> None:
    """The overview and the source page name sources, fields, rules and freshness in Chinese; no rule or field
    code and no unmasked phone appears; the trend chart is drawn by the page's own script."""
    a, _b, _g = _two_sources(db, world)
    imp = make_import(db, a, finished=NOW - dt.timedelta(days=1), read=5, quarantined=2, filename="第二批.csv",
                      stats={"rows": 5, "fields": {"name": 5, "phone": 4},
                             "rules": {"duplicate_in_file": 1, "mobile": 1}})
    quarantine(db, a, imp, ["duplicate_in_file"])
    sign_in(client, world.tokens["shequ1"])
    overview = client.get("/console/hub/quality")
    assert overview.status_code == 200
    assert "公安人口库" in overview.text and "及时" in overview.text
    r = client.get(f"/console/hub/quality/{a.id}")
    assert r.status_code == 200
    html = r.text
    for shown in ("公安人口库", "姓名", "文件内重复", "民政台账", "139****1111", "及时", "hub_quality.js"):
        assert shown in html, shown
    for hidden in ("duplicate_in_file", ">phone<", ">mobile<", "13900001111", "hub_quality.freshness", ">fresh<"):
        assert hidden not in html, hidden
    codecheck = _codecheck()
    assert codecheck.visible_codes(html, []) == [] and codecheck.visible_codes(overview.text, []) == []
    assert client.get(f"/console/hub/quality/{uuid.uuid4()}").status_code == 404
    sign_in(client, world.tokens["wangge_a"])
    assert client.get("/console/hub/quality").status_code in (403, 303)


def test_import_partial_renders_the_import_figures(db: Session, world: Any) -> None:
    """``hub/_import_quality.html`` renders from ``iq`` alone (what the import page passes)."""
    from zhili.web import messages_hub_quality  # noqa: F401
    from zhili.web.render import env

    src = make_source(db, world.units["c1"], "q-partial")
    imp = make_import(db, src, read=4, quarantined=1, stats={"rows": 4, "fields": {"name": 4, "phone": 2},
                                                            "rules": {"mobile": 1}})
    iq = quality.import_quality(db, principal=principal(db, world, "admin"), import_id=imp.id)
    html = env.get_template("hub/_import_quality.html").render(iq=iq, locale="zh")
    assert "本批次数据质量" in html and "50.0%" in html and "手机号码格式" in html and "mobile" not in html


def test_cli_prints_the_overview_and_json(db: Session, world: Any, monkeypatch: pytest.MonkeyPatch,
                                          at_noon: None) -> None:
    """``zhili hub quality`` prints each source with its score; ``--source NAME --json`` prints the report."""
    from typer.testing import CliRunner

    import zhili.core.db as core_db
    from zhili.cli_hub import hub_app

    a, _b, _g = _two_sources(db, world)

    @contextlib.contextmanager
    def scope() -> Iterator[Session]:
        yield db

    monkeypatch.setattr(core_db, "session_scope", scope)
    out = CliRunner().invoke(hub_app, ["quality"])
    assert out.exit_code == 0, out.output
    assert "公安人口库" in out.output
    out = CliRunner().invoke(hub_app, ["quality", "--source", a.name, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["consistency"]["golden_disagreeing"] == 1
    out = CliRunner().invoke(hub_app, ["quality", "--source", "no-such-source"])
    assert out.exit_code == 1
