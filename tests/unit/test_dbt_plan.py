"""How a refresh builds the warehouse (orchestration/dbt.py): whole, or only what new survey exports feed."""

from __future__ import annotations

import json

import duckdb
import pytest

from orchestration.dbt import (
    build_args,
    build_plan,
    dbt_env,
    dbt_vars_args,
    incremental_exclusions,
    new_files_env,
)
from orchestration.settings import Home
from tests.conftest import SETTINGS


def _parquet(path, sql: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(f"copy ({sql}) to '{path}' (format parquet)")


def _responses(home, name: str, wave: str, period: int) -> None:
    _parquet(home / "lake" / "raw" / "survey_responses" / f"{name}.parquet",
             f"select 'r-{name}' as response_key, '{wave}' as wave, {period} as time_period")


@pytest.fixture
def home(tmp_path):
    """A home built once: a DfE file, a survey export of 2023/24, a warehouse listing 2022/23 and 2023/24."""
    root = tmp_path / "home"
    _parquet(root / "lake" / "raw" / "dfe_census" / "a.parquet", "select 1 as x")
    _responses(root, "first", "pupil_belonging/2023-24/autumn", 202324)
    (root / "warehouse").mkdir(parents=True)
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb")) as con:
        con.execute("create table int_academic_years_listed as select unnest([202223, 202324]) as time_period")
    first = build_plan(Home(root))
    assert first.full and "no earlier build" in first.reason
    first.save()
    return root


def test_nothing_new_is_nothing_to_build(home):
    plan = build_plan(Home(home))
    assert (plan.nothing, plan.full, plan.changed_waves, plan.new_files) == (True, False, [], [])
    assert plan.reason.startswith("dbt: nothing to build")
    assert not build_plan(Home(home), full_rebuild=True).nothing


@pytest.mark.parametrize("table", ["file_loads", "quarantine"])
def test_a_new_record_of_a_load_alone_is_built_incrementally(home, table):
    # a quarantined file adds rows to the lake's own records (source `lake`: mart_reconciliation), no survey export
    _parquet(home / "lake" / "raw" / table / "q.parquet", "select 1 as x")
    plan = build_plan(Home(home))
    assert (plan.nothing, plan.full, plan.new_files) == (False, False, [])


def test_a_new_export_of_a_listed_year_is_built_incrementally(home):
    _responses(home, "second", "pupil_belonging/2023-24/summer", 202324)
    _responses(home, "third-1", "pupil_belonging/2023-24/summer", 202324)  # one export in two lake files
    plan = build_plan(Home(home))
    assert (plan.full, plan.changed_waves) == (False, ["pupil_belonging/2023-24/summer"])
    assert plan.new_exports == ["second", "third"]  # the exports' sha256, which name their lake files
    raw = (home / "lake" / "raw" / "survey_responses").resolve()
    assert plan.new_files == [str(raw / "second.parquet"), str(raw / "third-1.parquet")]  # what dbt reads of them
    assert not plan.nothing
    assert build_plan(Home(home), full_rebuild=True).full


def test_a_wave_of_a_year_the_warehouse_does_not_list_builds_everything(home):
    # the year joins int_academic_years_listed, and so the school spine and every admin model below it
    _responses(home, "second", "pupil_belonging/2024-25/autumn", 202425)
    plan = build_plan(Home(home))
    assert plan.full
    assert plan.reason == "dbt: full build (survey waves of academic years the warehouse does not list yet: [202425])"


def test_a_new_dfe_file_builds_everything(home):
    _parquet(home / "lake" / "raw" / "dfe_census" / "b.parquet", "select 2 as x")
    plan = build_plan(Home(home))
    assert plan.full and plan.reason == "dbt: full build (new or changed lake files in dfe_census)"


# a project in the shape of ours: two sources, the years model between the survey source and the spine
MANIFEST = {
    "sources": {"source.belonging.surveys.survey_responses": {"source_name": "surveys"},
                "source.belonging.dfe.dfe_census": {"source_name": "dfe"}},
    "nodes": {f"{kind}.belonging.{name}": {"name": name, "resource_type": kind} for kind, name in [
        ("model", "stg_surveys__responses"), ("model", "stg_dfe__census_rows"), ("model", "int_academic_years_listed"),
        ("model", "int_school_years_spined"), ("model", "int_survey_cells_computed"), ("model", "mart_indicators"),
        ("seed", "geography_lookups"), ("test", "unique_spine"), ("test", "unique_mart"),
        ("test", "relationships_mart_to_spine"), ("unit_test", "a_unit_test")]},
    "child_map": {
        "source.belonging.surveys.survey_responses": ["model.belonging.stg_surveys__responses"],
        "source.belonging.dfe.dfe_census": ["model.belonging.stg_dfe__census_rows"],
        "model.belonging.stg_surveys__responses": ["model.belonging.int_academic_years_listed",
                                                   "model.belonging.int_survey_cells_computed"],
        "model.belonging.stg_dfe__census_rows": ["model.belonging.int_academic_years_listed"],
        "model.belonging.int_academic_years_listed": ["model.belonging.int_school_years_spined"],
        "seed.belonging.geography_lookups": ["model.belonging.int_school_years_spined"],
        "model.belonging.int_school_years_spined": ["model.belonging.mart_indicators", "test.belonging.unique_spine",
                                                    "test.belonging.relationships_mart_to_spine"],
        "model.belonging.int_survey_cells_computed": ["model.belonging.mart_indicators"],
        "model.belonging.mart_indicators": ["test.belonging.unique_mart", "test.belonging.relationships_mart_to_spine"],
    },
}


def test_an_incremental_build_leaves_what_the_survey_sources_do_not_feed():
    # the years model and the spine below it are left (a wave of an unlisted year builds in full), and so are
    # the DfE staging and the seed; a test of mart_indicators that reads the spine too runs
    assert incremental_exclusions(MANIFEST) == ["geography_lookups", "int_academic_years_listed",
                                                "int_school_years_spined", "stg_dfe__census_rows", "unique_spine"]


def test_build_args_of_a_full_and_an_incremental_plan(home):
    full = build_args(build_plan(Home(home), full_rebuild=True), SETTINGS, MANIFEST)
    assert full[:3] == ["build", "--exclude-resource-type", "unit_test"] and full[-1] == "--full-refresh"
    assert "--exclude" not in full and "--indirect-selection" not in full
    _responses(home, "second", "pupil_belonging/2023-24/summer", 202324)
    args = build_args(build_plan(Home(home)), SETTINGS, MANIFEST)
    assert "--full-refresh" not in args
    assert args[args.index("--vars") + 1] == dbt_vars_args(SETTINGS)[1]  # the vars of every build: parse valid
    plan = build_plan(Home(home))
    new_files = json.loads(new_files_env(plan.new_files)["BELONGING_NEW_SURVEY_FILES"])
    assert new_files == [str((home / "lake" / "raw" / "survey_responses" / "second.parquet").resolve())]
    assert new_files_env() == {"BELONGING_NEW_SURVEY_FILES": "[]"} and dbt_env(home)["BELONGING_NEW_SURVEY_FILES"] == "[]"
    # each test chosen by itself: excluding the spine must not take the tests that also read it away
    assert args[args.index("--indirect-selection") + 1] == "empty"
    assert args[args.index("--exclude") + 1] == ("geography_lookups int_academic_years_listed int_school_years_spined "
                                                 "stg_dfe__census_rows unique_spine")


def test_the_dbt_resource_builds_no_adapter_and_runs_no_version_command(monkeypatch):
    """dagster-dbt builds a dbt adapter (~2 s) for metadata no asset asks for, and runs `dbt --version` (~1.7 s)
    before each command: the project's resource builds none and reads the installed dbt-core's version, through
    private members this test pins (it fails if dagster-dbt renames them)."""
    from importlib.metadata import version

    from dagster_dbt import DbtCliResource
    from packaging.version import parse

    from orchestration.resources import WarehouseDbt, build_resources

    assert callable(getattr(DbtCliResource, "_initialize_dbt_core_adapter", None))
    assert "_cli_version" in vars(DbtCliResource)
    dbt = build_resources()["dbt"]
    assert isinstance(dbt, WarehouseDbt) and dbt._initialize_dbt_core_adapter(["build"]) is None
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", lambda *a, **k: pytest.fail("dbt --version ran"))
    assert dbt._cli_version == parse(version("dbt-core")) and dbt._cli_version.major == 1
