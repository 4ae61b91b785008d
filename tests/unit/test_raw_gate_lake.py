"""The raw gate as a refresh runs it on the lake: DuckDB narrows each check to what Great Expectations can hold
(the candidate duplicate rows, not the table), and only the lake files not yet published are checked again."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from expectations.raw import duplicate_rows, lake_files, raw_gate_lake
from ingestion.lake import Lake, SourceFile
from tests.conftest import GATES, REPO

GOOD, BAD = "a" * 64, "b" * 64


def answers(keys: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"response_key": [k for k, _ in keys], "instrument": ["pupil_belonging"] * len(keys),
                         "item_id": [i for _, i in keys], "answer_code": [1] * len(keys),
                         "score": [100.0] * len(keys), "agree": [True] * len(keys)})


def lake_with(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.ensure_tables()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    lake.write("survey_answers", answers([("k1", "belong"), ("k1", "lonely"), ("k2", "belong")]),
               SourceFile(tmp_path / "good.csv", "surveys/good.csv", GOOD, at))
    # one answer twice in one export: the reader never does this; the gate must catch it
    lake.write("survey_answers", answers([("k3", "belong"), ("k3", "belong"), ("k4", "belong")]),
               SourceFile(tmp_path / "bad.csv", "surveys/bad.csv", BAD, at))
    return lake


def gate(lake: Lake, checked: set[str] | None):
    con = duckdb.connect()
    return raw_gate_lake("survey_answers", lake.table_dir("survey_answers"), con, checked=checked,
                         row_count_tolerance=GATES["row_count_tolerance"])


def test_great_expectations_is_given_the_candidate_duplicates_not_the_table(tmp_path):
    lake = lake_with(tmp_path)
    con = duckdb.connect()
    rows = duplicate_rows(con, f"read_parquet({lake_files(lake.table_dir('survey_answers'))!r})", "survey_answers")
    assert rows.select("response_key", "item_id", "_source_file").rows() == [
        ("k3", "belong", "surveys/bad.csv"), ("k3", "belong", "surveys/bad.csv")]
    good_only = lake_files(lake.table_dir("survey_answers"), {GOOD})
    assert duplicate_rows(con, f"read_parquet({good_only!r})", "survey_answers").height == 0


def test_a_new_file_with_duplicate_keys_fails_naming_it(tmp_path):
    result = gate(lake_with(tmp_path), checked={GOOD})  # the good export was published, the bad one is new
    assert not result.passed
    [failure] = result.failures
    assert failure.rule == "no_duplicate_keys"
    assert {(o["response_key"], o["_source_file"]) for o in failure.offending} == {("k3", "surveys/bad.csv")}


def test_published_files_are_not_checked_again_unless_everything_is(tmp_path):
    lake = lake_with(tmp_path)
    both = gate(lake, checked={GOOD, BAD})
    assert both.passed and both.checks_run == 0  # nothing new: nothing to check
    assert not gate(lake, checked=None).passed  # a full rebuild checks every file again
    assert gate(lake, checked={BAD}).passed  # only the good export is new


def test_a_lake_assets_raw_gates_run_in_one_step_each_table_judged_and_a_failure_blocks(tmp_path):
    """The survey tables' raw gates are one Dagster step: every table gets its own evaluation (the failing one
    names the file), and the step fails, so nothing downstream runs."""
    import dagster as dg

    from orchestration.checks import raw_checks
    from orchestration.resources import HomeResource

    lake_with(tmp_path / "home")
    (check,) = [c for c in raw_checks if c.node_def.name == "lake_surveys_raw_gate"]
    tables = ("survey_responses", "survey_answers", "survey_items")
    specs = [dg.AssetSpec(["lake", t]) for t in tables]  # the lake assets, already materialized
    result = dg.materialize([*specs, check], resources={"home": HomeResource(root=str(tmp_path / "home"))},
                           selection=dg.AssetSelection.checks(check), raise_on_error=False)
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert {t: e.passed for t, e in evaluations.items()} == {"survey_responses": True, "survey_answers": False,
                                                            "survey_items": True}
    assert "surveys/bad.csv" in evaluations["survey_answers"].metadata["failures"].value
    assert not result.success  # blocking: the step fails after judging every table
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "lake/survey_answers: raw_gate" in failure.step_failure_data.error.message

    # one table's gate on its own (as the UI runs one check): only that table is judged
    one = dg.materialize([*specs, check], resources={"home": HomeResource(root=str(tmp_path / "home"))},
                        selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(["lake", "survey_items"]),
                                                                             "raw_gate")))
    assert one.success and [e.asset_key.path[-1] for e in one.get_asset_check_evaluations()] == ["survey_items"]


def published(home, inputs: list[str], **parts) -> None:
    """A current release (its manifest in its public part, as publish_release writes it) built from `inputs` by
    this code, catalogue and settings (its fingerprint; `parts` replace some of its parts)."""
    import json
    import os

    from indicators import catalogue_path
    from orchestration.settings import Home
    from publication.releases import release_fingerprint

    fingerprint = release_fingerprint(inputs=inputs, settings=Home(home).settings, catalogue_file=catalogue_path())
    fingerprint["parts"].update(parts)
    public = home / "releases" / "r1" / "public"
    public.mkdir(parents=True)
    (public / "manifest.json").write_text(json.dumps({"inputs": [{"sha256": s} for s in inputs],
                                                      "fingerprint": fingerprint}), encoding="utf-8")
    os.symlink("r1", home / "releases" / "current")


def test_the_current_releases_inputs_are_read_from_its_public_manifest(tmp_path):
    """The raw gates skip the lake files the current release was built from: its manifest is in public/ (a
    manifest looked for beside public/ was never found, and every refresh checked the whole lake again)."""
    import dagster as dg

    from orchestration.checks import checked_inputs
    from orchestration.dbt import FULL_REBUILD_TAG
    from orchestration.settings import Home

    home = tmp_path / "home"
    lake_with(home)
    h = Home(home)
    assert checked_inputs(h, dg.DagsterRun(job_name="refresh", run_id="r1")) is None  # no release: all is new
    published(home, [GOOD, BAD])
    assert checked_inputs(h, dg.DagsterRun(job_name="refresh", run_id="r2")) == {GOOD, BAD}
    assert checked_inputs(h, dg.DagsterRun(job_name="refresh", run_id="r3", tags={FULL_REBUILD_TAG: "true"})) is None


@pytest.mark.parametrize("part", ["code", "catalogue", "settings", "versions"])
def test_a_release_judged_by_other_rules_is_judged_again(tmp_path, part):
    """Its verdicts do not carry over when its code, catalogue, settings or library versions differ from this
    run's: every gate then validates everything."""
    import dagster as dg

    from orchestration.checks import carried_over, checked_inputs
    from orchestration.settings import Home

    home = tmp_path / "home"
    lake_with(home)
    published(home, [GOOD, BAD], **{part: "0" * 64})
    run = dg.DagsterRun(job_name="refresh", run_id="r", tags={})
    assert carried_over(Home(home), run) is None and checked_inputs(Home(home), run) is None


def test_a_gate_with_nothing_new_passes_at_once_and_says_so(tmp_path):
    import dagster as dg

    from orchestration.checks import raw_checks
    from orchestration.resources import HomeResource

    home = tmp_path / "home"
    lake_with(home)  # the bad export's duplicate keys were published already (say, before the gate existed)
    published(home, [GOOD, BAD])
    (check,) = [c for c in raw_checks if c.node_def.name == "lake_surveys_raw_gate"]
    specs = [dg.AssetSpec(["lake", t]) for t in ("survey_responses", "survey_answers", "survey_items")]
    result = dg.materialize([*specs, check], resources={"home": HomeResource(root=str(home))},
                            selection=dg.AssetSelection.checks(check))
    evaluation = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}["survey_answers"]
    assert evaluation.passed and evaluation.metadata["checks_run"].value == 0
    assert evaluation.metadata["scope"].value == "nothing new: all 2 lake files passed the current release's gates"
    assert "nothing new" in evaluation.metadata["message"].value

    # one new file: only it is judged, and the scope says so
    published_good_only = tmp_path / "home2"
    lake_with(published_good_only)
    published(published_good_only, [GOOD])
    failed = dg.materialize([*specs, check], resources={"home": HomeResource(root=str(published_good_only))},
                            selection=dg.AssetSelection.checks(check), raise_on_error=False)
    evaluation = {e.asset_key.path[-1]: e for e in failed.get_asset_check_evaluations()}["survey_answers"]
    assert not evaluation.passed
    assert evaluation.metadata["scope"].value.startswith("1 new of 2 lake files checked")


def test_nothing_new_does_not_start_great_expectations(tmp_path):
    """Checked in a process of its own: GX's import is the gate's largest fixed cost (~3 s)."""
    import subprocess
    import sys

    lake = lake_with(tmp_path)
    code = ("import sys, duckdb; from expectations.raw import raw_gate_lake; "
            f"r = raw_gate_lake('survey_answers', {str(lake.table_dir('survey_answers'))!r}, duckdb.connect(), "
            f"checked={{{GOOD!r}, {BAD!r}}}, row_count_tolerance=0.5); "
            "print(r.passed, r.checks_run, 'great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["True", "0", "False"]
