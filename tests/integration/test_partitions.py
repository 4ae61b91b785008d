"""DfE lake assets are partitioned by academic year: one year can be (re)loaded on its own."""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg
import polars as pl
import pytest

from ingestion.lake import Lake

pytestmark = pytest.mark.integration

EXCLUSIONS = "ees2019_exclusions_by_geographic_level_201617_subset.csv"


def test_partition_keys_are_academic_years():
    from orchestration.assets.lake import academic_year_keys

    keys = academic_year_keys(date(2026, 11, 22))
    assert keys[0] == "200001" and keys[-1] == "202627" and "201617" in keys
    assert academic_year_keys(date(2026, 8, 31))[-1] == "202526"


def test_one_year_then_the_rest(tmp_path, reference, dbt_manifest):
    from orchestration.assets.lake import lake_dfe
    from orchestration.resources import HomeResource

    home = tmp_path / "home"
    (home / "landing" / "dfe").mkdir(parents=True)
    shutil.copy(reference / "dfe" / EXCLUSIONS, home / "landing" / "dfe" / EXCLUSIONS)
    resources = {"home": HomeResource(root=str(home))}
    lake = Lake(home / "lake")

    result = dg.materialize([lake_dfe], partition_key="201617", resources=resources)
    assert result.success
    rows = lake.read("dfe_exclusions")
    assert set(rows["time_period"]) == {201617}
    assert rows.height == 587 + 604 + 40 + 4  # 2016/17: School, LA, Regional, National rows of the real file
    mats = result.asset_materializations_for_node("lake_dfe")
    assert {m.partition for m in mats} == {"201617"}
    by_year = next(m for m in mats if m.asset_key == dg.AssetKey(["lake", "dfe_exclusions"])).metadata
    assert by_year["rows_by_academic_year"].value == {"201617": 1235}

    # the same year again: nothing new is written
    before = sorted(p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir())
    assert dg.materialize([lake_dfe], partition_key="201617", resources=resources).success
    assert sorted(p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir()) == before

    # a range of two more years, in one run (single-run backfill policy)
    result = dg.materialize([lake_dfe], resources=resources, tags={
        "dagster/asset_partition_range_start": "201415", "dagster/asset_partition_range_end": "201516"})
    assert result.success
    assert set(lake.read("dfe_exclusions")["time_period"]) == {201415, 201516, 201617}

    # every year: the whole file, 20,000 rows, one Parquet file per academic year
    from orchestration.assets.lake import ALL_YEARS_TAGS

    assert dg.materialize([lake_dfe], resources=resources, tags=ALL_YEARS_TAGS).success
    rows = lake.read("dfe_exclusions")
    assert rows.height == 20000
    assert rows.group_by("time_period").len().height == 11
    parts = [p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir() if p.name != "_empty.parquet"]
    assert len(parts) == 11 and all(p.endswith(tuple(f"-{y}.parquet" for y in rows["time_period"].unique()))
                                    for p in parts)
    assert pl.read_parquet(home / "lake" / "raw" / "file_loads" / "*.parquet")["time_periods"].drop_nulls().len() == 1
