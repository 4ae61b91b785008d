"""The DfE lake asset loads every academic year in one step; one year or a few can be (re)loaded on their own
(config `years`), and the rows of each table per year are in its materialization's metadata."""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg
import polars as pl
import pytest

from ingestion.lake import Lake

pytestmark = pytest.mark.integration

EXCLUSIONS = "ees2019_exclusions_by_geographic_level_201617_subset.csv"


def years_config(*years: str) -> dict:
    return {"ops": {"lake_dfe": {"config": {"years": list(years)}}}}


def test_academic_year_keys():
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

    result = dg.materialize([lake_dfe], run_config=years_config("201617"), resources=resources)
    assert result.success
    rows = lake.read("dfe_exclusions")
    assert set(rows["time_period"]) == {201617}
    assert rows.height == 587 + 604 + 40 + 4  # 2016/17: School, LA, Regional, National rows of the real file
    mats = result.asset_materializations_for_node("lake_dfe")
    assert len(mats) == 6  # one per DfE table, whatever the years: no event per table and year
    by_year = next(m for m in mats if m.asset_key == dg.AssetKey(["lake", "dfe_exclusions"])).metadata
    assert by_year["rows_by_academic_year"].value == {"201617": 1235}

    # the same year again: nothing new is written
    before = sorted(p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir())
    assert dg.materialize([lake_dfe], run_config=years_config("201617"), resources=resources).success
    assert sorted(p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir()) == before

    # two more years, in one run
    assert dg.materialize([lake_dfe], run_config=years_config("201415", "201516"), resources=resources).success
    assert set(lake.read("dfe_exclusions")["time_period"]) == {201415, 201516, 201617}

    # every year (no config, as the refresh): the whole file, 20,000 rows, one Parquet file per academic year
    result = dg.materialize([lake_dfe], resources=resources)
    assert result.success
    rows = lake.read("dfe_exclusions")
    assert rows.height == 20000
    assert rows.group_by("time_period").len().height == 11
    parts = [p.name for p in (home / "lake" / "raw" / "dfe_exclusions").iterdir() if p.name != "_empty.parquet"]
    assert len(parts) == 11 and all(p.endswith(tuple(f"-{y}.parquet" for y in rows["time_period"].unique()))
                                    for p in parts)
    assert pl.read_parquet(home / "lake" / "raw" / "file_loads" / "*.parquet")["time_periods"].drop_nulls().len() == 1
    mats = result.asset_materializations_for_node("lake_dfe")
    assert len(mats) == 6  # (with a partition per year, 6 tables x 27 years: 162 events, and as many planned)
    by_year = next(m for m in mats if m.asset_key == dg.AssetKey(["lake", "dfe_exclusions"])
                   ).metadata["rows_by_academic_year"].value
    assert sum(by_year.values()) == 20000 and len(by_year) == 11


def test_a_year_that_is_not_an_academic_year_is_refused_in_one_line(tmp_path, dbt_manifest):
    from orchestration.assets.lake import academic_year_keys, lake_dfe
    from orchestration.resources import HomeResource

    home = tmp_path / "home"
    (home / "landing" / "dfe").mkdir(parents=True)
    result = dg.materialize([lake_dfe], run_config=years_config("2016/17"), raise_on_error=False,
                            resources={"home": HomeResource(root=str(home))})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert failure.message.strip().splitlines()[-1].endswith(
        "lake_dfe config years: 2016/17 is not an academic year key (YYYYYY, as 201617 for 2016/17, from 200001 "
        f"to {academic_year_keys()[-1]})")
