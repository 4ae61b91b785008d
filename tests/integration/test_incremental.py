"""An incremental refresh publishes what a full rebuild of the same inputs publishes, byte for byte.

One home: a spring export, refreshed; then a second export (a summer wave, and three more spring responses
of a school already in the first) refreshed incrementally (only the survey waves it holds are rebuilt, only
its lake files gated); then `belonging refresh --full-rebuild` on the same inputs. The two releases' extracts
and survey tables must be the same.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt import build_plan
from orchestration.settings import Home
from publication.releases import release_parts
from tests.integration.test_reproducible import STATEMENTS, STEM, digests, landing
from tests.pipeline_helpers import belonging, current, release_query

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("incremental")]

HEADER = ["Timestamp", "School URN", "What year are you in?", *[f"{STEM} [{s}]" for s in STATEMENTS],
          "Which best describes your gender?", "Do you have special educational needs or a disability (SEND)?",
          "Do you receive free school meals?"]


def second_export(path) -> None:
    """Three more spring responses for a school of the first export (no FSM, SEND or gender answer: the
    spring gaps the drift gate compares stay as they were), and a summer wave for three schools."""
    rows = []
    for n in range(36):
        answers = ["Disagree", "Agree", "Agree", "Disagree", "Agree", "Strongly disagree"] if n % 2 else \
            ["Agree", "Disagree", "Disagree", "Agree", "Disagree", "Agree"]
        if n < 3:
            rows.append([f"2026/03/05 10:00:{n:02d} AM GMT", "100003", f"Year {7 + n}", *answers, "", "", ""])
            continue
        urn = ("100001", "100002", "100004")[n % 3]
        rows.append([f"2026/05/11 10:{n // 60:02d}:{n % 60:02d} AM GMT", urn, f"Year {7 + n % 3}", *answers,
                     ("Boy", "Girl")[n % 2], ("Yes", "No", "No")[n % 3], ("No", "Yes")[n % 2]])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    from ingestion.lake import Lake
    from ingestion.load import load_surveys

    home = tmp_path_factory.mktemp("incremental") / "home"
    landing(home)
    # a new wave adds rows at every level: more than the default drift tolerance of a real refresh
    (home / "settings.yaml").write_text("gates:\n  row_count_tolerance: 3.0\n", encoding="utf-8")
    key = "a-key-for-this-home"
    first = belonging("refresh", home=home, key=key)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    unchanged = build_plan(Home(home))
    # nothing new: the dbt step does not run dbt (its last results stay), and nothing is published
    results = Home(home).dbt_target / "run_results.json"
    built = results.stat().st_mtime_ns
    again = belonging("refresh", home=home, key=key)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "nothing changed since release" in again.stdout
    assert results.stat().st_mtime_ns == built
    log = json.loads((Home(home).runs / "last_refresh.json").read_text(encoding="utf-8"))["log"]
    assert "INFO warehouse_dbt: dbt: nothing to build" in Path(log).read_text(encoding="utf-8")
    second_export(home / "landing" / "surveys" / "pupil_belonging_later.csv")
    # loaded here (the refresh then finds it in the lake) to see the plan the refresh's dbt step will follow
    load_surveys(home / "landing", Lake(home / "lake"), pseudonym_key=key.encode(),
                 settings=Home(home).settings["surveys"])
    plan = build_plan(Home(home))
    incremental = belonging("refresh", home=home, key=key)
    assert incremental.returncode == 0, incremental.stdout[-3000:] + incremental.stderr[-3000:]
    after_incremental = current(home)
    # the same inputs rebuilt in full: nothing changed, so publishing a release to compare needs --force
    full = belonging("refresh", "--full-rebuild", "--force", home=home, key=key)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    assert current(home) != after_incremental
    return home, after_incremental, current(home), (unchanged, plan)


def test_the_second_export_is_built_incrementally(releases):
    home, _, _, (unchanged, plan) = releases
    assert (unchanged.nothing, unchanged.full, unchanged.changed_waves) == (True, False, [])  # nothing to build
    # the waves the new export holds: the summer wave, and the spring wave it adds three responses to
    assert (plan.full, plan.changed_waves) == (False, ["pupil_belonging/2025-26/spring",
                                                       "pupil_belonging/2025-26/summer"])
    assert build_plan(Home(home), full_rebuild=True).full


def test_incremental_and_full_rebuild_publish_the_same_extracts(releases):
    _, incremental, full, _ = releases
    a, b = digests(release_parts(incremental).extracts), digests(release_parts(full).extracts)
    assert a == b
    assert {"pupil_belonging_school.csv", "pupil_belonging_national.csv"} <= set(a)


def test_incremental_and_full_rebuild_hold_the_same_survey_rows(releases):
    home, incremental, full, _ = releases
    for table in ("int_survey_responses_scored", "int_survey_cells_computed", "mart_indicators"):
        rows = []
        for release in (incremental, full):
            con = duckdb.connect(str(release_parts(release).warehouse), read_only=True)
            rows.append(con.execute(f"select * from {table} order by all").fetchall())
            con.close()
        assert rows[0] and rows[0] == rows[1], table
    summer = release_query(home, "select count(*) from int_survey_responses_scored where wave like '%summer'")
    assert summer == [(33,)]
