"""An incremental dbt build gives the warehouse a full build from scratch gives, table for table, and rebuilds
only what the new survey exports feed.

The demo's landing files (small scale), loaded but for some survey exports: every export of the 2024/25 summer
waves (new waves of a year already listed) and one of the 2023/24 autumn pupil wave (more responses in a wave of
the year before 2024/25: the autumn 2024/25 rows' previous_value and change move). A full build, then those exports
loaded and built as a refresh would (build_plan, build_args); against it a full build from scratch of the same lake.
The same comparison catches a rule that leaves out rows a new export changes (the rule's mutants below).
"""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from orchestration.dbt import build_args, build_plan, new_files_env
from orchestration.settings import Home
from tests.dbt_helpers import DBT_PROJECT_DIR, DbtFailed, run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("incremental_exact")]

KEY = b"a-key-for-this-test"
HELD_BACK_WAVE = "2024-25_summer"
HELD_BACK_EXPORT = "googleforms/2023-24_autumn"


def _load(home, settings) -> None:
    from ingestion.lake import Lake
    from ingestion.load import load_dfe, load_gias, load_surveys

    lake = Lake(home / "lake")
    load_gias(home / "landing", lake)
    load_dfe(home / "landing", lake)
    load_surveys(home / "landing", lake, pseudonym_key=KEY, settings=settings["surveys"])


def _build(home, work, project_dir=DBT_PROJECT_DIR) -> tuple[dict[str, str], object]:
    """The refresh's dbt step (orchestration/assets/dbt.py): plan, `dbt build`, state saved; each node's status."""
    h = Home(home)
    plan = build_plan(h)
    run_dbt(home, work, *build_args(plan, h.settings), project_dir=project_dir, env=new_files_env(plan.new_files))
    plan.save()
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results}, plan


def _tables(home) -> list[str]:
    """The warehouse's tables and views (the marts' wide views among them)."""
    con = duckdb.connect(str(home / "warehouse" / "warehouse.duckdb"), read_only=True)
    tables = con.execute("select table_name from duckdb_tables() where database_name = 'warehouse' union all "
                         "select view_name from duckdb_views() where database_name = 'warehouse' and not internal "
                         "order by 1").fetchall()
    con.close()
    return [t for (t,) in tables]


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    from demo import generate

    root = tmp_path_factory.mktemp("incremental_exact")
    home = root / "home"
    generate(home / "landing", scale="small", seed=2026)
    held = root / "held"
    surveys = home / "landing" / "surveys"
    later = sorted(surveys.glob(f"*/{HELD_BACK_WAVE}/*.csv"))
    one = next(p for p in sorted(surveys.glob(f"{HELD_BACK_EXPORT}/*.csv")) if "pupil_belonging" in p.name)
    for path in [*later, one]:
        target = held / path.relative_to(surveys)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    settings = Home(home).settings
    _load(home, settings)
    first, first_plan = _build(home, root / "dbt-first")
    # the warehouse as the first build left it, for the rule's mutants
    shutil.copytree(home / "warehouse", root / "first" / "warehouse")
    shutil.copytree(home / "dbt", root / "first" / "dbt")
    shutil.copytree(held, surveys, dirs_exist_ok=True)
    _load(home, settings)
    second, plan = _build(home, root / "dbt-second")
    # the same lake built from scratch in a home of its own
    scratch = root / "scratch"
    (scratch / "warehouse").mkdir(parents=True)
    shutil.copytree(home / "lake", scratch / "lake")
    from_scratch, scratch_plan = _build(scratch, root / "dbt-scratch")
    assert first_plan.full and scratch_plan.full
    return home, scratch, plan, first, second, root


def test_the_held_back_exports_are_built_incrementally(homes):
    _, _, plan, _, _, _ = homes
    assert not plan.full, plan.reason
    assert plan.changed_waves == ["pupil_belonging/2023-24/autumn", "staff_belonging/2024-25/summer"]


def test_an_incremental_build_rebuilds_only_what_the_surveys_feed(homes):
    _, _, _, first, second, root = homes
    rebuilt = {"int_survey_responses_scored", "int_survey_cells_computed", "int_indicators_aggregated",
               "mart_indicators", "mart_inclusion_profile", "school_indicators_wide", "national_indicators_wide",
               "int_survey_changes_located"}
    left = {"int_school_previous_urns", "int_dfe_measures_unpivoted", "int_admin_inputs_pivoted", "int_admin_cells_computed",
            "int_school_years_spined", "int_school_links_resolved", "int_academic_years_listed",
            "int_school_cohorts_followed", "mart_reconciliation", "geography_lookups", "stg_dfe__census_rows"}
    assert rebuilt | left <= set(first)  # the full build built them all
    assert all(second.get(m) == "success" for m in rebuilt), {m: second.get(m) for m in rebuilt}
    assert not left & set(second), left & set(second)
    # tests of what was rebuilt run, those of what was left do not; a test reading both runs
    tests = {n for n in second if n.startswith(("unique", "not_null", "relationships", "accepted"))}
    assert any(t.startswith("unique_key_mart_indicators_") for t in tests)
    assert any(t.startswith("relationships_mart_indicators_school_urn") for t in tests)
    assert not any(t.startswith("unique_key_int_dfe_measures_unpivoted") for t in tests)
    assert all(second[t] == "pass" for t in tests)
    # the key tests of the incremental tables read only the rows the build rebuilt (int_survey_changes_located)
    # then, and every row in a full build
    for build, limited in (("dbt-first", False), ("dbt-second", True)):
        sql = next((root / build / "target" / "compiled").rglob("unique_key_mart_indicators_*.sql")).read_text()
        assert ("int_survey_changes_located" in sql) == limited, build


def _differences(home, scratch) -> dict[str, tuple[int, int, int]]:
    """{table: (rows, rows only in `home`'s warehouse, rows only in `scratch`'s)} over every table and view."""
    tables = _tables(home)
    assert tables == _tables(scratch)
    con = duckdb.connect()
    con.execute(f"attach '{home / 'warehouse' / 'warehouse.duckdb'}' as inc (read_only)")
    con.execute(f"attach '{scratch / 'warehouse' / 'warehouse.duckdb'}' as scratch (read_only)")
    differ = {}
    for t in tables:
        # the marts as they are; an intermediate table's doubles settled as the marts settle them (macros/settle.sql:
        # DuckDB sums doubles in no fixed order, so their last bits differ between any two builds)
        columns = con.execute(f"select column_name, data_type from duckdb_columns() where database_name = 'inc' "
                              f"and table_name = '{t}' order by column_index").fetchall()
        projection = ", ".join(f"round({c}, 9)" if kind == "DOUBLE" and t.startswith("int_") else c
                               for c, kind in columns)
        rows = con.execute(f"select count(*) from inc.{t}").fetchone()[0]
        counts = [con.execute(f"select count(*) from (select {projection} from {a}.{t} except all "
                              f"select {projection} from {b}.{t})").fetchone()[0]
                  for a, b in (("inc", "scratch"), ("scratch", "inc"))]
        if any(counts):
            differ[t] = (rows, *counts)
    con.close()
    return differ


def test_incremental_and_from_scratch_builds_hold_the_same_tables(homes):
    home, scratch, _, _, _, _ = homes
    assert {"mart_indicators", "mart_inclusion_profile", "mart_reconciliation", "int_indicators_aggregated",
            "school_indicators_wide"} <= set(_tables(home))
    differ = _differences(home, scratch)
    assert not differ, differ  # {table: (rows, rows only in the incremental build, rows only in the other)}
    con = duckdb.connect()
    con.execute(f"attach '{home / 'warehouse' / 'warehouse.duckdb'}' as inc (read_only)")
    # the held-back waves are there, and a previous_value read from the wave that grew
    assert con.execute("select count(*) from inc.mart_indicators where time_period = 202425 "
                       "and time_identifier = 'Summer term'").fetchone()[0] > 0
    assert con.execute("select count(*) from inc.mart_indicators where time_period = 202425 and time_identifier = "
                       "'Autumn term' and previous_value is not null").fetchone()[0] > 0


# The rule (dbt_project/macros/survey_changes.sql) with a part left out, in a copy of the project: the incremental
# build from the first build's warehouse must then differ from the build from scratch, in the tables named.
MUTANTS = {
    "no trusts": ("{%- set levels = ['MAT', 'Local authority', 'Regional', 'National'] %}",
                  "{%- set levels = ['Local authority', 'Regional', 'National'] %}",
                  {"int_indicators_aggregated", "mart_indicators"}),
    "no year after": ("select *, true as year_after from year_after",
                      "select *, true as year_after from year_after where false",
                      {"mart_indicators"}),
    "year after: schools only": ("from changed\n    union\n", "from changed where false\n    union\n",
                                 {"mart_indicators"}),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_a_rule_that_leaves_out_changed_rows_is_caught(homes, mutant, tmp_path):
    home, scratch, _, _, _, root = homes
    old, new, tables = MUTANTS[mutant]
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "intermediate" / "int_survey_changes_located.sql"
    assert old in model.read_text()
    model.write_text(model.read_text().replace(old, new))
    mutated = tmp_path / "home"
    shutil.copytree(home / "lake", mutated / "lake")
    shutil.copytree(root / "first" / "warehouse", mutated / "warehouse")
    shutil.copytree(root / "first" / "dbt", mutated / "dbt")
    _, plan = _build(mutated, tmp_path / "dbt", project_dir=project)
    assert not plan.full, plan.reason
    differ = _differences(mutated, scratch)
    assert tables <= set(differ), differ


def test_a_duplicate_among_the_rebuilt_rows_fails_the_incremental_build(homes, tmp_path):
    """int_indicators_aggregated writing each row twice: its key test, limited to the rows rebuilt, fails the build."""
    home, _, _, _, _, root = homes
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "intermediate" / "int_indicators_aggregated.sql"
    model.write_text(model.read_text().replace("\nfrom valued\n", "\nfrom valued, (values (1), (2)) as twice(n)\n"))
    mutated = tmp_path / "home"
    shutil.copytree(home / "lake", mutated / "lake")
    shutil.copytree(root / "first" / "warehouse", mutated / "warehouse")
    shutil.copytree(root / "first" / "dbt", mutated / "dbt")
    with pytest.raises(DbtFailed, match=r"FAIL \d+ unique_key_int_indicators_aggregated_time_period"):
        _build(mutated, tmp_path / "dbt", project_dir=project)
