"""Probabilistic entity resolution (概率匹配): a Fellegi–Sunter model run by Splink 5 on DuckDB.

The interface other hub modules use (golden records, the review queue, ``zhili hub resolve``)::

    matcher = matcher_for(EntityType.person)          # the default model; or Matcher(entity, settings=...)
    matcher.fit(records)                              # optional: estimate m/u from the data, no labels
    pairs = matcher.pairs(records)                    # dedupe within `records`
    pairs = matcher.pairs(new, against=existing)      # or link `new` to `existing`
    for p in pairs:                                   # Pair(left, right, probability, weight, evidence)
        if p.probability >= AUTO_MERGE: ...           # merge
        elif p.probability >= REVIEW: ...             # review queue
    stored = matcher.to_json(); Matcher.from_json(stored)   # a trained model is stored and reused

* ``records`` are mappings of standard values with an ``id`` (any string): persons ``name``, ``birth_date``
  (date or ISO string), ``gender``, ``phone``, ``id_number``, ``address``; organisations ``name``,
  ``credit_code``, ``address``, ``legal_rep``, ``contact_phone``; buildings ``address``, ``name``, ``compound``.
  Missing keys are allowed. Values are normalised in :mod:`zhili.datahub.matching_features` (NFKC, pinyin,
  phone digits, date parts, address tokens).
* :class:`Pair` ``left`` is always a record of ``records`` and ``right`` one of ``against`` (link mode); in
  dedupe mode ``left < right``. ``probability`` is the posterior match probability, ``weight`` the total match
  weight (log2 Bayes factor, prior included), ``evidence`` maps each compared standard field to the Chinese
  description of the comparison level the pair fell in (``{"name": "姓名拼音相同", "birth_date": "出生日期一致",
  "phone": "手机号不同"}``). Only pairs with ``probability >= threshold`` are returned, sorted by
  ``(left, right)``. A valid ID number / credit code is *also* compared here, but the deterministic match on a
  valid key belongs to the golden-record layer.
* Bands: :data:`AUTO_MERGE` (0.95) and :data:`REVIEW` (0.60), overridable through :class:`MatchSettings`.

How the model works:

* Comparisons per field with ordered levels (``LEVELS``): name exact / pinyin equal / pinyin with the syllables
  in another order / Jaro–Winkler ≥ 0.92 / ≥ 0.80 on pinyin / else; birth date exact / one part differs (or day
  and month swapped) / same year / else; gender; phone exact / last 8 digits / one or two digits off / else; ID
  number exact / Levenshtein ≤ 2 when at least one fails its check digit (a typo) / else; address tokens
  exact / Jaccard ≥ 0.8 / Jaccard ≥ 0.5 or Jaro–Winkler ≥ 0.9 / Jaccard ≥ 0.25 / else. A missing value on
  either side is a null level (no evidence).
* Blocking (``BLOCKING``) keeps the number of compared pairs near-linear: for persons same birth date; same name
  initials and birth year (both also same gender unless unknown on a side — halves the pairs at 1M records);
  same phone; same ID-number prefix (region + birth date); same main address token
  and surname pinyin. Pairs from several rules are counted once.
* :meth:`Matcher.fit` estimates *u* by random sampling (seeded) and *m* by expectation maximisation over two
  blocking passes, as Splink documents — no labels. The prior (probability that two random records match) is
  estimated from deterministic rules. Training uses at most ``train_sample`` records (a seeded sample).
* Trained m probabilities are floored at ``m_floor`` (0.001): EM on clean data says "a true match never has a
  different name", and one surprising field must not veto every other agreement.
* With fewer than ``min_train_records`` records :meth:`fit` keeps the hand-set default weights
  (``DEFAULT_WEIGHTS``, overridable as ``MatchSettings.default_weights``): tens of records cannot support an
  estimate, and the defaults are conservative enough for small imports and tests.
* Everything runs in an in-memory DuckDB per call, offline; results are deterministic for the same input.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from zhili.datahub import matching_features as features
from zhili.datahub.models import EntityType

AUTO_MERGE = 0.95
REVIEW = 0.60

MODEL_VERSION = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    left: str
    right: str
    probability: float
    weight: float
    evidence: dict[str, str]


@dataclass(frozen=True)
class MatchSettings:
    """Knobs of a :class:`Matcher`. ``default_weights`` maps a field to its (m, u) per non-null level, in the
    order of ``LEVELS``; fields left out keep the built-in defaults."""

    auto_merge: float = AUTO_MERGE
    review: float = REVIEW
    seed: int = 20161
    min_train_records: int = 1000
    train_sample: int = 200_000
    u_max_pairs: float = 2e6
    em_max_pairs: float = 5e6
    prior: float = 1e-4
    m_floor: float = 0.001
    default_weights: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "auto_merge": self.auto_merge,
            "review": self.review,
            "seed": self.seed,
            "min_train_records": self.min_train_records,
            "train_sample": self.train_sample,
            "u_max_pairs": self.u_max_pairs,
            "em_max_pairs": self.em_max_pairs,
            "prior": self.prior,
            "m_floor": self.m_floor,
            "default_weights": {k: [list(mu) for mu in v] for k, v in self.default_weights.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchSettings:
        values = dict(data)
        values["default_weights"] = {
            k: [tuple(mu) for mu in v] for k, v in (values.get("default_weights") or {}).items()
        }
        return cls(**values)


@dataclass(frozen=True)
class Level:
    sql: str  # condition on l.<col> / r.<col>
    label: str  # Chinese description shown as evidence
    m: float  # default m probability
    u: float  # default u probability


@dataclass(frozen=True)
class FieldSpec:
    field: str  # the standard field name (evidence key, Splink output column)
    column: str  # the feature column whose nullness is the null level
    missing: str  # Chinese description of the null level
    levels: tuple[Level, ...]


def _jaccard() -> str:
    """Token Jaccard of the two addresses from their 128-bit token sets (see ``matching_features.token_bits``)."""
    return (
        "((bit_count(l.addr_b1 & r.addr_b1) + bit_count(l.addr_b2 & r.addr_b2)) * 1.0"
        " / greatest(bit_count(l.addr_b1 | r.addr_b1) + bit_count(l.addr_b2 | r.addr_b2), 1))"
    )


def _name_spec(field_name: str, what: str) -> FieldSpec:
    return FieldSpec(
        field_name,
        "name_py",
        f"{what}缺失",
        (
            Level("l.name_n = r.name_n", f"{what}相同", 0.80, 0.0005),
            Level("l.name_py = r.name_py", f"{what}拼音相同", 0.08, 0.0003),
            Level("l.name_sw = r.name_sw", f"{what}拼音相同（顺序不同）", 0.02, 0.0001),
            Level("jaro_winkler_similarity(l.name_py, r.name_py) >= 0.92", f"{what}拼音高度相似", 0.05, 0.003),
            Level("jaro_winkler_similarity(l.name_py, r.name_py) >= 0.8", f"{what}拼音相似", 0.03, 0.03),
            Level("ELSE", f"{what}不同", 0.02, 0.9665),
        ),
    )


_DOB = FieldSpec(
    "birth_date",
    "dob",
    "出生日期缺失",
    (
        Level("l.dob = r.dob", "出生日期一致", 0.90, 0.00005),
        Level(
            "(l.dob_y = r.dob_y AND l.dob_m = r.dob_m) OR (l.dob_y = r.dob_y AND l.dob_d = r.dob_d)"
            " OR (l.dob_m = r.dob_m AND l.dob_d = r.dob_d) OR (l.dob_y = r.dob_y AND l.dob_m = r.dob_d"
            " AND l.dob_d = r.dob_m)",
            "出生日期有一处不同",
            0.06,
            0.002,
        ),
        Level("l.dob_y = r.dob_y", "仅出生年份相同", 0.02, 0.02),
        Level("ELSE", "出生日期不同", 0.003, 0.97795),
    ),
)
_GENDER = FieldSpec(
    "gender",
    "gender",
    "性别缺失",
    (Level("l.gender = r.gender", "性别相同", 0.98, 0.5), Level("ELSE", "性别不同", 0.02, 0.5)),
)


def _phone_spec(field_name: str) -> FieldSpec:
    return FieldSpec(
        field_name,
        "phone",
        "电话缺失",
        (
            Level("l.phone = r.phone", "手机号相同", 0.75, 0.0001),
            Level("l.phone8 = r.phone8", "手机号后8位相同", 0.05, 0.0001),
            Level("levenshtein(l.phone, r.phone) <= 2", "手机号相差一两位", 0.10, 0.001),
            Level("ELSE", "手机号不同", 0.10, 0.9988),
        ),
    )


def _key_spec(field_name: str, what: str) -> FieldSpec:
    return FieldSpec(
        field_name,
        "idn",
        f"{what}缺失",
        (
            Level("l.idn = r.idn", f"{what}相同", 0.85, 0.00001),
            # a typo breaks the check digit: two valid numbers a digit apart are two people
            Level("levenshtein(l.idn, r.idn) <= 2 AND NOT (l.idn_ok AND r.idn_ok)", f"{what}相差一两位", 0.10, 0.0001),
            Level("ELSE", f"{what}不同", 0.05, 0.99989),
        ),
    )


_ADDRESS = FieldSpec(
    "address",
    "addr",
    "地址缺失",
    (
        Level("l.addr = r.addr", "地址相同", 0.40, 0.001),
        Level(f"{_jaccard()} >= 0.8", "地址高度相似", 0.20, 0.002),
        Level(
            f"{_jaccard()} >= 0.5 OR jaro_winkler_similarity(l.addr, r.addr) >= 0.9",
            "地址相似",
            0.15,
            0.02,
        ),
        Level(f"{_jaccard()} >= 0.25", "地址部分相同", 0.10, 0.2),
        Level("ELSE", "地址不同", 0.05, 0.7775),
    ),
)

_EXTRA_REP = FieldSpec(
    "legal_rep",
    "extra",
    "法定代表人缺失",
    (
        Level("l.extra = r.extra", "法定代表人拼音相同", 0.8, 0.001),
        Level("jaro_winkler_similarity(l.extra, r.extra) >= 0.9", "法定代表人拼音相似", 0.1, 0.01),
        Level("ELSE", "法定代表人不同", 0.1, 0.989),
    ),
)
_EXTRA_COMPOUND = FieldSpec(
    "compound",
    "extra",
    "小区缺失",
    (
        Level("l.extra = r.extra", "小区相同", 0.9, 0.01),
        Level("jaro_winkler_similarity(l.extra, r.extra) >= 0.9", "小区名称相似", 0.05, 0.01),
        Level("ELSE", "小区不同", 0.05, 0.98),
    ),
)

LEVELS: dict[EntityType, tuple[FieldSpec, ...]] = {
    EntityType.person: (
        _name_spec("name", "姓名"),
        _DOB,
        _GENDER,
        _phone_spec("phone"),
        _key_spec("id_number", "证件号"),
        _ADDRESS,
    ),
    EntityType.organisation: (
        _name_spec("name", "名称"),
        _key_spec("credit_code", "统一社会信用代码"),
        _phone_spec("contact_phone"),
        _ADDRESS,
        _EXTRA_REP,
    ),
    EntityType.building: (_ADDRESS, _name_spec("name", "楼栋名称"), _EXTRA_COMPOUND),
}

# Same gender, or unknown on either side (Febrl-like sources have none): halves the two largest blocks.
_SAME_GENDER = "coalesce(l.gender, r.gender, '') = coalesce(r.gender, l.gender, '')"

# Blocking rules (SQL on the feature columns). Pairs from several rules are compared once.
BLOCKING: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: (
        f"l.dob = r.dob AND {_SAME_GENDER}",
        f"l.name_ini = r.name_ini AND l.dob_y = r.dob_y AND {_SAME_GENDER}",
        "l.phone = r.phone",
        "l.idn_p = r.idn_p",
        "l.addr_main = r.addr_main AND l.surname_py = r.surname_py",
    ),
    EntityType.organisation: (
        "l.name_py = r.name_py",
        "l.idn_p = r.idn_p",
        "l.phone = r.phone",
        "l.addr_main = r.addr_main AND l.surname_py = r.surname_py",
    ),
    EntityType.building: (
        "l.addr = r.addr",
        "l.addr_main = r.addr_main",
        "l.name_py = r.name_py AND l.extra = r.extra",
    ),
}

# EM passes: each estimates m for every field its blocking rule does not use.
TRAINING: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: ("l.dob = r.dob", "l.name_py = r.name_py"),
    EntityType.organisation: ("l.name_py = r.name_py", "l.idn = r.idn"),
    EntityType.building: ("l.addr_main = r.addr_main", "l.name_py = r.name_py AND l.extra = r.extra"),
}

# Deterministic rules used to estimate the prior (recall assumed below).
DETERMINISTIC: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: ("l.idn = r.idn", "l.name_py = r.name_py AND l.dob = r.dob"),
    EntityType.organisation: ("l.idn = r.idn", "l.name_n = r.name_n AND l.addr = r.addr"),
    EntityType.building: ("l.addr = r.addr",),
}
DETERMINISTIC_RECALL = 0.7

FEATURES: dict[EntityType, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    EntityType.person: features.person_features,
    EntityType.organisation: features.organisation_features,
    EntityType.building: features.building_features,
}


_SIDE = re.compile(r"\b([lr])\.(\w+)")


def _level_sql(sql: str) -> str:
    """Comparison levels see the pair's columns as ``col_l`` / ``col_r`` (blocking rules use ``l.col``)."""
    return _SIDE.sub(lambda m: f"{m.group(2)}_{m.group(1)}", sql)


class _QuietSplink:
    """Splink warns on stderr about levels a data set never reaches (e.g. no phones in a source); the matcher
    handles those (default m/u kept), so its loggers are held at ERROR while the matcher runs."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger("splink")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)


def _probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    bf = 2.0**weight
    return bf / (1.0 + bf)


class Matcher:
    """A Fellegi–Sunter model for one entity type (see the module docstring)."""

    def __init__(self, entity: EntityType, *, settings: MatchSettings | None = None) -> None:
        self.entity = EntityType(entity)
        self.settings = settings or MatchSettings()
        self.trained = False
        self.last_stats: dict[str, Any] = {}
        self._model = self._default_model()

    # -- model ---------------------------------------------------------------------------------------------
    def _default_model(self) -> dict[str, Any]:
        comparisons = []
        for spec in LEVELS[self.entity]:
            overrides = list(self.settings.default_weights.get(spec.field, ()))
            levels: list[dict[str, Any]] = [
                {
                    "sql_condition": f"{spec.column}_l IS NULL OR {spec.column}_r IS NULL",
                    "label_for_charts": spec.missing,
                    "is_null_level": True,
                }
            ]
            for i, level in enumerate(spec.levels):
                m, u = overrides[i] if i < len(overrides) else (level.m, level.u)
                levels.append(
                    {
                        "sql_condition": _level_sql(level.sql),
                        "label_for_charts": level.label,
                        "m_probability": m,
                        "u_probability": u,
                    }
                )
            comparisons.append(
                {
                    "output_column_name": spec.field,
                    "comparison_description": spec.field,
                    "comparison_levels": levels,
                }
            )
        return {
            "link_type": "dedupe_only",
            "unique_id_column_name": "unique_id",
            "probability_two_random_records_match": self.settings.prior,
            "comparisons": comparisons,
            "blocking_rules_to_generate_predictions": list(BLOCKING[self.entity]),
            "retain_matching_columns": True,
            "retain_intermediate_calculation_columns": False,
            "additional_columns_to_retain": [],
        }

    def _frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        make = FEATURES[self.entity]
        rows = [make(r) for r in records]
        frame = pd.DataFrame.from_records(rows, columns=list(features.FEATURE_COLUMNS))
        for column, kind in features.FEATURE_COLUMNS.items():
            frame[column] = frame[column].astype("Int64" if kind == "BIGINT" else "string")
        return frame

    @staticmethod
    def _linker(frames: Sequence[pd.DataFrame], model: Mapping[str, Any], names: Sequence[str], *,
                threads: int | None = None) -> Any:
        from splink import DuckDBAPI, Linker

        if threads is None:
            db_api = DuckDBAPI()
        else:  # training: one thread, so sampling and EM sums come out the same on every run
            import duckdb

            db_api = DuckDBAPI(connection=duckdb.connect(config={"threads": threads}))
        tables = [db_api.register(frame, table_name=name) for frame, name in zip(frames, names, strict=True)]
        return Linker(tables if len(tables) > 1 else tables[0], copy.deepcopy(dict(model)), log_level=None)

    def fit(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Estimate u (random sampling) and m (EM over ``TRAINING`` blocking passes) from unlabelled records.

        Below ``min_train_records`` records the hand-set default weights are kept (``trained`` stays False).
        """
        n = len(records)
        if n < self.settings.min_train_records:
            self._model = self._default_model()
            self.trained = False
            return
        if n > self.settings.train_sample:
            rng = random.Random(self.settings.seed)
            chosen = sorted(rng.sample(range(n), self.settings.train_sample))
            records = [records[i] for i in chosen]
        with _QuietSplink():
            self._train(self._frame(records))

    def _train(self, frame: pd.DataFrame) -> None:
        model = self._default_model()
        linker = self._linker([frame], model, ["hub_train"], threads=1)
        training = linker.training
        try:
            training.estimate_probability_two_random_records_match(
                list(DETERMINISTIC[self.entity]), recall=DETERMINISTIC_RECALL
            )
        except Exception:  # noqa: BLE001 - Splink refuses when no deterministic pair exists: keep the prior
            log.info("hub matching: prior kept (no deterministic pairs)")
        training.estimate_u_using_random_sampling(
            max_pairs=self.settings.u_max_pairs, seed=self.settings.seed, min_count_per_level=None, num_chunks=1
        )
        for rule in TRAINING[self.entity]:
            training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, max_pairs=self.settings.em_max_pairs
            )
        trained = linker.misc.save_model_to_json()
        self._model = self._clean(trained)
        self.trained = True

    def _clean(self, trained: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the trained m/u, falling back to the defaults for levels no data reached; clamp to (0, 1)."""
        defaults = self._default_model()
        out = copy.deepcopy(defaults)
        out["probability_two_random_records_match"] = float(
            trained.get("probability_two_random_records_match") or self.settings.prior
        )
        by_name = {c["output_column_name"]: c for c in trained.get("comparisons", [])}
        for comparison in out["comparisons"]:
            got = by_name.get(comparison["output_column_name"])
            if not got:
                continue
            for level, new in zip(comparison["comparison_levels"], got["comparison_levels"], strict=False):
                if level.get("is_null_level"):
                    continue
                for key, floor in (("m_probability", self.settings.m_floor), ("u_probability", 1e-9)):
                    value = new.get(key)
                    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
                        level[key] = min(max(float(value), floor), 1.0)
        return out

    # -- scoring -------------------------------------------------------------------------------------------
    def pairs(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        against: Sequence[Mapping[str, Any]] | None = None,
        threshold: float = 0.5,
    ) -> list[Pair]:
        """Scored pairs with ``probability >= threshold``: within ``records``, or from ``records`` to ``against``."""
        with _QuietSplink():
            return self._pairs(records, against, threshold)

    def _pairs(
        self, records: Sequence[Mapping[str, Any]], against: Sequence[Mapping[str, Any]] | None, threshold: float
    ) -> list[Pair]:
        started = time.perf_counter()
        model = copy.deepcopy(self._model)
        left = self._frame(records)
        if against is None:
            if len(left) < 2:
                return []
            model["link_type"] = "dedupe_only"
            linker = self._linker([left], model, ["hub_records"])
        else:
            right = self._frame(against)
            if len(left) == 0 or len(right) == 0:
                return []
            model["link_type"] = "link_only"
            linker = self._linker([left, right], model, ["hub_records", "hub_against"])
        con = linker._db_api.duckdb_con
        t_features = time.perf_counter()
        blocked = linker.inference.compute_blocked_pairs_for_predict()  # cached: predict() reuses it
        compared = con.execute(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0]
        t_blocking = time.perf_counter()
        result = linker.inference.predict(threshold_match_probability=threshold)
        specs = LEVELS[self.entity]
        gammas = ", ".join(f"gamma_{spec.field}" for spec in specs)
        src = ", source_dataset_l" if against is not None else ""
        rows = con.execute(
            f"SELECT unique_id_l, unique_id_r, match_weight, {gammas}{src} FROM {result.physical_name}"
        ).fetchall()
        n_left = len(left)
        n_right = len(right) if against is not None else 0
        self.last_stats = {
            "records": n_left,
            "against": n_right,
            "compared": int(compared[0]) if compared else 0,
            "all_pairs": n_left * n_right if against is not None else n_left * (n_left - 1) // 2,
            "returned": len(rows),
            "seconds_features": round(t_features - started, 3),
            "seconds_blocking": round(t_blocking - t_features, 3),
            "seconds_scoring": round(time.perf_counter() - t_blocking, 3),
        }
        labels = [self._labels(spec) for spec in specs]
        out = []
        for row in rows:
            a, b = str(row[0]), str(row[1])
            if against is not None and row[-1] != "hub_records":
                a, b = b, a
            weight = float(row[2])
            evidence = {spec.field: labels[i][int(row[3 + i])] for i, spec in enumerate(specs)}
            out.append(Pair(a, b, _probability(weight), weight, evidence))
        out.sort(key=lambda p: (p.left, p.right))
        return out

    def _labels(self, spec: FieldSpec) -> dict[int, str]:
        """gamma value -> Chinese label: Splink numbers non-null levels from the last (0) up; null is -1."""
        labels = {-1: spec.missing}
        count = len(spec.levels)
        for i, level in enumerate(spec.levels):
            labels[count - 1 - i] = level.label
        return labels

    def band(self, probability: float) -> str:
        """``auto`` (merge), ``review`` (queue) or ``apart`` for a probability, by this matcher's settings."""
        if probability >= self.settings.auto_merge:
            return "auto"
        if probability >= self.settings.review:
            return "review"
        return "apart"

    # -- storage -------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION,
            "entity": self.entity.value,
            "trained": self.trained,
            "settings": self.settings.to_json(),
            "model": copy.deepcopy(self._model),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matcher:
        matcher = cls(EntityType(data["entity"]), settings=MatchSettings.from_json(data.get("settings") or {}))
        matcher._model = copy.deepcopy(dict(data["model"]))
        matcher.trained = bool(data.get("trained"))
        return matcher


_STORED: dict[EntityType, dict[str, Any]] = {}


def store_model(matcher: Matcher) -> None:
    """Keep ``matcher`` (usually a trained one) as the default model of its entity type in this process."""
    _STORED[matcher.entity] = matcher.to_json()


def matcher_for(entity: EntityType) -> Matcher:
    """The default model of ``entity``: the stored one (:func:`store_model`) or the hand-set default weights."""
    entity = EntityType(entity)
    stored = _STORED.get(entity)
    return Matcher.from_json(stored) if stored else Matcher(entity)
