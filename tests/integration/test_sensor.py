"""The survey-exports sensor: a new export launches a refresh; the same bytes again do nothing."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from ingestion.lake import Lake
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration


def evaluate(home, cursor=None):
    from orchestration.resources import HomeResource
    from orchestration.sensors import survey_exports_sensor

    context = dg.build_sensor_context(cursor=cursor, resources={"home": HomeResource(root=str(home))})
    return survey_exports_sensor(context), context


def test_new_export_requests_a_refresh_and_identical_redrop_does_not(tmp_path, dbt_manifest, monkeypatch):
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", "test-pseudonym-key")
    home = tmp_path / "home"
    surveys = home / "landing" / "surveys"
    surveys.mkdir(parents=True)

    result, _ = evaluate(home)
    assert isinstance(result, dg.SkipReason)

    export = FIXTURES / "surveys" / "googleforms_pupil_labels.csv"
    shutil.copy(export, surveys / "wave1.csv")
    result, context = evaluate(home)
    assert isinstance(result, dg.RunRequest)
    assert result.job_name in (None, "refresh")
    assert "wave1.csv" in result.tags["files"]

    # asked again before the refresh ran: the same request is not made twice
    again, _ = evaluate(home, cursor=context.cursor)
    assert isinstance(again, dg.SkipReason)

    # once loaded, the same bytes dropped again under another name change nothing
    from ingestion.lake import SourceFile
    from ingestion.load import record
    from ingestion.results import ReadResult, quarantine_frame

    source = SourceFile.of(surveys / "wave1.csv", home / "landing")
    record(Lake(home / "lake"), source, ReadResult({}, quarantine_frame([]), "survey", "googleforms",
                                                    "pupil_belonging", "utf-8", 0))
    shutil.copy(export, surveys / "wave1_again.csv")
    result, _ = evaluate(home)
    assert isinstance(result, dg.SkipReason)

    # a changed export is new
    (surveys / "wave1_again.csv").write_bytes(export.read_bytes() + b"\n")
    result, _ = evaluate(home, cursor=context.cursor)
    assert isinstance(result, dg.RunRequest)
    assert "wave1_again.csv" in result.tags["files"]


def test_without_the_key_the_sensor_waits_and_says_why_then_requests_once_it_is_set(tmp_path, dbt_manifest,
                                                                                     monkeypatch):
    """Once, the sensor launched a run that failed on the missing key and never retried until the files
    changed. Now it launches nothing without the key, says so, and requests the refresh once the key is set."""
    home = tmp_path / "home"
    surveys = home / "landing" / "surveys"
    surveys.mkdir(parents=True)
    shutil.copy(FIXTURES / "surveys" / "googleforms_pupil_labels.csv", surveys / "wave1.csv")
    monkeypatch.delenv("BELONGING_PSEUDONYM_KEY", raising=False)
    result, context = evaluate(home)
    assert isinstance(result, dg.SkipReason)
    assert "wait for BELONGING_PSEUDONYM_KEY" in result.skip_message and context.cursor is None
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", "belonging-demo-key-not-secret")  # the demo's, in a real home
    result, _ = evaluate(home)
    assert isinstance(result, dg.SkipReason) and "demo's published key" in result.skip_message
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", "a-real-secret")
    result, _ = evaluate(home, cursor=context.cursor)
    assert isinstance(result, dg.RunRequest)


def test_weekly_check_refreshes_only_when_dfe_or_gias_files_are_new(tmp_path, dbt_manifest):
    from orchestration.resources import HomeResource
    from orchestration.schedules import weekly_new_files_check

    home = tmp_path / "home"
    (home / "landing" / "dfe").mkdir(parents=True)

    def tick():
        context = dg.build_schedule_context(resources={"home": HomeResource(root=str(home))},
                                            scheduled_execution_time=__import__("datetime").datetime(2026, 3, 2, 6))
        return weekly_new_files_check(context)

    assert isinstance(tick(), dg.SkipReason)
    (home / "landing" / "dfe" / "notes.md").write_text("not data\n")
    assert isinstance(tick(), dg.SkipReason)  # a note is not a new file
    shutil.copy(FIXTURES / "dfe" / "sen_2023.csv", home / "landing" / "dfe" / "sen.csv")
    request = tick()
    assert isinstance(request, dg.RunRequest) and request.tags["files"] == "dfe/sen.csv"
    assert request.run_key == "new-files-20260302"
