"""Extracts written one source and time period at a time (issue 13: a national mart is never in memory whole).

The chunked path must publish exactly what controlling and writing the whole mart at once would: no disclosure
rule crosses a period or a source, and an extract's shape (its columns, filters, and `x` against `z` for a
missing cell) is decided from all of its periods before any row is written.
"""

from __future__ import annotations

import csv

import duckdb
import polars as pl
import pytest

from orchestration.assets.publication import extracts_of_warehouse
from publication.disclosure import apply_disclosure_control
from publication.extracts import Chunk, build_extracts, plan_extracts, write_extracts
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
EARLIER = 202425
GONE = ("belong_agree_percent", "gender", "In another way")  # rows the earlier year lacks


def two_years() -> pl.DataFrame:
    """The fixture mart (2025/26) and an earlier year: the same rows with fewer respondents at some schools (so
    the years suppress differently), and without one indicator's `In another way` rows."""
    mart = load_mart()
    indicator, breakdown, value = GONE
    earlier = mart.filter(
        ~((pl.col("indicator") == indicator) & (pl.col("breakdown") == breakdown)
          & (pl.col("breakdown_value") == value))
    ).with_columns(
        pl.lit(EARLIER).alias("time_period"),
        pl.lit("2024/25").alias("academic_year"),
        pl.when(pl.col("geography_code").str.ends_with("1")).then(pl.col("respondents") // 3)
        .otherwise(pl.col("respondents")).alias("respondents"),
    )  # fmt: skip
    return pl.concat([earlier, mart], how="vertical_relaxed")


@pytest.fixture(scope="module")
def mart() -> pl.DataFrame:
    return two_years()


def test_disclosure_control_by_period_is_control_of_the_whole(mart):
    whole = apply_disclosure_control(mart, **DISCLOSURE)
    by_period = pl.concat(
        [apply_disclosure_control(part, **DISCLOSURE) for part in mart.partition_by("source", "time_period")]
    )
    key = ["time_period", "geographic_level", "geography_code", "source", "indicator", "breakdown", "breakdown_value"]
    assert whole.sort(key).equals(by_period.sort(key))
    # the years really differ: the same cells are suppressed in one year and shown in the other
    statuses = whole.filter(pl.col("source") == "pupil_belonging").pivot(
        "time_period", index=[k for k in key if k != "time_period"], values="published_status")
    assert statuses.filter(pl.col(str(EARLIER)) != pl.col("202526")).height > 0


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _warehouse(path, mart: pl.DataFrame):
    con = duckdb.connect(str(path))
    con.register("rows", mart.sample(fraction=1.0, shuffle=True, seed=3))  # any table order
    con.execute("create or replace table mart_indicators as select * from rows")
    con.close()
    return path


def test_warehouse_extracts_are_those_of_the_whole_mart(mart, tmp_path):
    """The refresh's path (DuckDB chunks, statuses decided on the rule columns and put back) writes the bytes of
    disclosure control and extracts over the whole mart."""
    warehouse = _warehouse(tmp_path / "warehouse.duckdb", mart)
    written = extracts_of_warehouse(warehouse, tmp_path / "run" / "extracts", DISCLOSURE)
    whole = apply_disclosure_control(mart, **DISCLOSURE)
    expected = build_extracts(whole, tmp_path / "whole", LOOKUP)
    assert [i.name for i in written.infos] == [i.name for i in expected]
    assert _files(tmp_path / "run" / "extracts") == _files(tmp_path / "whole")
    assert written.suppressed == whole.filter(pl.col("published_status") == "suppressed").height > 0
    assert (written.chunks_built, written.chunks_reused) == (4, 0)  # two sources, two years
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["extracts"]  # no chunk file left behind


def test_an_unchanged_chunk_is_reused_and_a_changed_one_rebuilt(mart, tmp_path):
    """With a cache, the second run reads no chunk whose rows are unchanged, and its files are the bytes of a run
    without the cache; a changed figure rebuilds its own chunk only, and shows."""
    warehouse = _warehouse(tmp_path / "warehouse.duckdb", mart)
    cache = tmp_path / "cache"
    first = extracts_of_warehouse(warehouse, tmp_path / "1" / "extracts", DISCLOSURE, cache=cache)
    again = extracts_of_warehouse(warehouse, tmp_path / "2" / "extracts", DISCLOSURE, cache=cache)
    assert (first.chunks_built, first.chunks_reused, again.chunks_built, again.chunks_reused) == (4, 0, 0, 4)
    assert _files(tmp_path / "2" / "extracts") == _files(tmp_path / "1" / "extracts")
    assert again.suppressed == first.suppressed

    school = (pl.col("geographic_level") == "School") & (pl.col("indicator") == "belonging_score_mean")
    changed = mart.with_columns(  # one figure of the later year, at every school
        pl.when(school & (pl.col("time_period") == 202526)).then(pl.col("value") + 0.5).otherwise(pl.col("value"))
        .alias("value"))  # fmt: skip
    _warehouse(warehouse, changed)
    third = extracts_of_warehouse(warehouse, tmp_path / "3" / "extracts", DISCLOSURE, cache=cache)
    assert (third.chunks_built, third.chunks_reused) == (1, 3)
    build_extracts(apply_disclosure_control(changed, **DISCLOSURE), tmp_path / "whole", LOOKUP)
    assert _files(tmp_path / "3" / "extracts") == _files(tmp_path / "whole") != _files(tmp_path / "1" / "extracts")
    # the cache keeps only what the last run used: the 3 reused chunks and the rebuilt one
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 4


def test_a_settings_change_reads_every_chunk_again(mart, tmp_path):
    warehouse = _warehouse(tmp_path / "warehouse.duckdb", mart)
    cache = tmp_path / "cache"
    extracts_of_warehouse(warehouse, tmp_path / "1" / "extracts", DISCLOSURE, cache=cache)
    stricter = DISCLOSURE | {"min_respondents": DISCLOSURE["min_respondents"] + 5}
    written = extracts_of_warehouse(warehouse, tmp_path / "2" / "extracts", stricter, cache=cache)
    assert (written.chunks_built, written.chunks_reused) == (4, 0)
    assert written.suppressed > 0 and _files(tmp_path / "2" / "extracts") != _files(tmp_path / "1" / "extracts")


def _cell(path, **match) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if all(r[k] == v for k, v in match.items())]
    assert rows, match
    return rows[0]


def test_a_cell_missing_in_one_year_is_x_where_another_year_has_it(mart, tmp_path):
    """`x` (not available) where the indicator has rows of that filter combination in any year of the extract,
    `z` (not applicable) only where it has none: decided before the first year is written."""
    infos = {i.name: i for i in build_extracts(apply_disclosure_control(mart, **DISCLOSURE), tmp_path, LOOKUP)}
    path = infos["pupil_belonging_school"].csv_path
    indicator, breakdown, value = GONE
    name = next(c for c in _cell(path) if c.startswith("belong_agree"))
    assert indicator.startswith("belong_agree")
    earlier = _cell(path, time_period=str(EARLIER), breakdown=breakdown, breakdown_value=value)
    later = _cell(path, time_period="202526", breakdown=breakdown, breakdown_value=value,
                  school_urn=earlier["school_urn"])
    assert earlier[name] == "x" and later[name] not in ("x", "z")
    gap = next(c for c in _cell(path) if c.startswith("belonging_gap"))
    assert earlier[gap] == "z"  # a gap has rows on the Total row only, in every year


def test_write_extracts_takes_one_source_and_period_per_chunk_in_order(mart, tmp_path):
    published = apply_disclosure_control(mart, **DISCLOSURE)
    plans = plan_extracts(published)
    with pytest.raises(ValueError, match="one source and period"):
        write_extracts(plans, [Chunk("admin", EARLIER, load=lambda: published)], tmp_path, LOOKUP)
    later, earlier = (Chunk("admin", p, load=lambda p=p: published.filter(
        (pl.col("source") == "admin") & (pl.col("time_period") == p))) for p in (202526, EARLIER))
    with pytest.raises(ValueError, match="in chunk_order"):
        write_extracts(plans, [later, earlier], tmp_path, LOOKUP)
