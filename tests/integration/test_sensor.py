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


def test_new_export_requests_a_refresh_and_identical_redrop_does_not(tmp_path, dbt_manifest):
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
