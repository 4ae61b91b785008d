"""EES extracts: screener-clean files, byte-identical rebuilds, complete meta, lookup names, symbols."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from expectations.screener import screen
from publication.disclosure import apply_disclosure_control
from publication.extracts import GEOGRAPHY_COLUMNS, TIME_COLUMNS, ExtractError, build_extracts
from tests.conftest import REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
HARMONISED = ("sen_", "primary_need", "ethnic", "school_type", "establishment_type", "provider_type")


@pytest.fixture(scope="module")
def published() -> pl.DataFrame:
    return apply_disclosure_control(load_mart())


@pytest.fixture(scope="module")
def built(published, tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    return out, build_extracts(published, out, LOOKUP)


def read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_extract_set(built):
    _, infos = built
    names = [i.name for i in infos]
    for family in ("admin_indicators", "pupil_belonging"):
        for level in ("school", "mat", "la", "regional", "national"):
            assert f"{family}_{level}" in names
    info = next(i for i in infos if i.name == "admin_indicators_la")
    assert info.rows == 4 and info.csv_path.name == "admin_indicators_la.csv"
    assert info.meta_path.exists() and info.parquet_path.exists() and len(info.csv_sha256) == 64


def test_every_extract_passes_the_screener_rules(built):
    _, infos = built
    for info in infos:
        for result in screen(info.csv_path, info.meta_path, LOOKUP):
            assert result.passed, (info.name, result.name, result.message, result.offending)


def test_rebuild_is_byte_identical(published, built, tmp_path):
    _, infos = built
    shuffled = published.sample(fraction=1.0, shuffle=True, seed=7)
    again = build_extracts(shuffled, tmp_path / "again", LOOKUP)
    assert [(i.name, i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in again] == [
        (i.name, i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in infos
    ]


def test_meta_lists_every_filter_and_indicator_once(built):
    _, infos = built
    for info in infos:
        data_cols = read(info.csv_path)[0].keys()
        meta = read(info.meta_path)
        expected = [c for c in data_cols if c not in GEOGRAPHY_COLUMNS and c not in TIME_COLUMNS]
        assert [m["col_name"] for m in meta] == expected, info.name
        labels = [m["label"] for m in meta]
        assert len(labels) == len(set(labels))
        for m in meta:
            if m["col_type"] == "Filter":
                assert m["indicator_unit"] == "" and m["indicator_dp"] == ""
            else:
                assert m["col_type"] == "Indicator" and m["indicator_dp"].isdigit()
    meta = {
        m["col_name"]: m for m in read(next(i for i in infos if i.name == "pupil_belonging_la").meta_path)
    }
    assert meta["breakdown_value"]["filter_grouping_column"] == "breakdown"
    assert meta["belonging_positive_percent"]["indicator_unit"] == "%"


def test_columns_mandatory_and_screener_safe(built):
    _, infos = built
    by = {i.name: i for i in infos}
    school = read(by["admin_indicators_school"].csv_path)
    assert list(school[0])[:8] == [
        "time_period", "time_identifier", "geographic_level", "country_code", "country_name",
        "school_urn", "school_laestab", "school_name",
    ]  # fmt: skip
    assert "special_needs_support_percent" in school[0] and "ehc_plan_percent" in school[0]
    la = read(by["pupil_belonging_la"].csv_path)
    assert list(la[0])[5:10] == ["old_la_code", "new_la_code", "la_name", "breakdown", "breakdown_value"]
    for info in infos:
        for col in read(info.csv_path)[0]:
            assert not any(p in col for p in HARMONISED), (info.name, col)


def test_values_symbols_and_formatting(built):
    _, infos = built
    by = {i.name: i for i in infos}
    school = {r["school_urn"]: r for r in read(by["admin_indicators_school"].csv_path)}
    assert school["100001"]["fsm_percent"] == "15.0"  # 90 / 600, one decimal place
    assert school["100001"]["suspension_rate"] == "116.67"  # a rate per 100 above 100, two places
    assert school["100006"]["fsm_percent"] == "c"  # the DfE's own suppression kept
    rows = read(by["pupil_belonging_school"].csv_path)
    tiny = next(r for r in rows if r["school_urn"] == "100004" and r["breakdown"] == "Total")
    assert tiny["respondents"] == "c" and tiny["belonging_score_mean"] == "c"
    girls = next(r for r in rows if r["school_urn"] == "100002" and r["breakdown_value"] == "Girl")
    assert girls["belonging_gap_special_needs_points"] == "z"  # a gap exists on Total rows only
    for r in rows:
        for k, v in r.items():
            assert v not in ("", "NA", "NULL", ":", ".", "nan"), (k, r)
    # rows sorted by key: school, then Total first
    keys = [
        (r["school_urn"], r["breakdown"] != "Total", r["breakdown"], r["breakdown_value"] != "Total")
        for r in rows
    ]
    assert keys == sorted(keys)


def test_names_come_from_the_lookup(published, tmp_path):
    misspelt = published.with_columns(
        pl.when(pl.col("la_name") == "Hartlepool").then(pl.lit("HARTLEPOOL ")).otherwise(pl.col("la_name")).alias("la_name"),
        pl.when(pl.col("region_name") == "North East").then(pl.lit("North-East")).otherwise(pl.col("region_name")).alias("region_name"),
    )  # fmt: skip
    infos = build_extracts(misspelt, tmp_path, LOOKUP)
    la = read(next(i for i in infos if i.name == "admin_indicators_la").csv_path)
    assert {r["la_name"] for r in la} == {"Hartlepool", "Middlesbrough", "Halton", "Warrington"}
    reg = read(next(i for i in infos if i.name == "admin_indicators_regional").csv_path)
    assert {r["region_name"] for r in reg} == {"North East", "North West"}


def test_parquet_is_typed_with_status_columns(built):
    _, infos = built
    info = next(i for i in infos if i.name == "pupil_belonging_school")
    pq = pl.read_parquet(info.parquet_path)
    assert pq.schema["belonging_score_mean"] == pl.Float64 and pq.schema["time_period"] == pl.Int32
    tiny = pq.filter((pl.col("school_urn") == "100004") & (pl.col("breakdown") == "Total"))
    assert tiny["belonging_score_mean"][0] is None
    assert tiny["belonging_score_mean_status"][0] == "suppressed"
    assert pq.height == info.rows


def test_unknown_la_code_is_a_clear_error(published, tmp_path):
    bad = published.with_columns(
        pl.when(pl.col("new_la_code") == "E06000001").then(pl.lit("E06999999")).otherwise(pl.col("new_la_code")).alias("new_la_code")
    )  # fmt: skip
    with pytest.raises(
        ExtractError, match=r"row \d+: new_la_code 'E06999999' is not in the DfE geography lookup"
    ):
        build_extracts(bad, tmp_path, LOOKUP)


def test_refuses_a_mart_without_disclosure_control(tmp_path):
    with pytest.raises(ExtractError, match="apply_disclosure_control"):
        build_extracts(load_mart(), tmp_path, LOOKUP)
