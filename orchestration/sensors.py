"""Sensor: new or changed survey exports in landing/surveys/ launch a refresh; identical re-drops do nothing."""


import hashlib
import json

import dagster as dg

from ingestion.files import sha256_file
from ingestion.lake import Lake
from ingestion.load import landing_files
from orchestration.jobs import refresh_job
from orchestration.resources import HomeResource


def pending_survey_files(home) -> dict[str, str]:
    """Survey exports whose bytes are not yet in the lake: relative path -> sha256."""
    lake = Lake(home.lake)
    pending = {}
    for path in landing_files(home.landing, "surveys"):
        sha = sha256_file(path)
        if not lake.loaded(sha):
            pending[path.relative_to(home.landing).as_posix()] = sha
    return pending


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches a refresh when new or changed survey exports land in landing/surveys/.")
def survey_exports_sensor(context: dg.SensorEvaluationContext, home: HomeResource):
    pending = pending_survey_files(home.home())
    if not pending:
        return dg.SkipReason("no new or changed survey exports")
    fingerprint = hashlib.sha256(json.dumps(pending, sort_keys=True).encode()).hexdigest()[:16]
    if context.cursor == fingerprint:
        return dg.SkipReason("a refresh for these exports was already requested")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=f"surveys-{fingerprint}", tags={"trigger": "survey_exports",
                                                                  "files": ", ".join(sorted(pending))[:1000]})
