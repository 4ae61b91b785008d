"""Sensors: new survey exports launch a refresh; every finished refresh records its outcome.

`survey_exports_sensor` runs (default RUNNING) whenever `dagster dev` or the daemon runs: new or changed exports
in landing/surveys/ launch a refresh, identical re-drops do nothing. Without BELONGING_PSEUDONYM_KEY it launches
nothing and says why on each tick, so the exports are picked up as soon as the key is set (in the environment
of `dagster dev` or in .env). To stop it: the UI (Automation) or `dagster sensor stop survey_exports_sensor`.

`refresh_outcome_sensor` writes each refresh's outcome (each gate's result, the failed gates named) to
`runs/last_refresh.json`, which `belonging status` shows, and tags a failed run with the gates that failed
(`belonging/failed_gates`, in the UI's run list).
"""

import hashlib
import json

import dagster as dg

from ingestion.files import sha256_file
from ingestion.lake import Lake
from ingestion.load import landing_files
from ingestion.retire import record_of
from orchestration.jobs import refresh_job
from orchestration.refresh import CLI_TAG, FAILED_GATES_TAG
from orchestration.resources import HomeResource
from orchestration.settings import PSEUDONYM_KEY_VAR, SettingError, pseudonym_key


def pending_survey_files(home) -> dict[str, str]:
    """Survey exports whose bytes are neither in the lake nor retired: relative path -> sha256."""
    lake = Lake(home.lake)
    pending = {}
    for path in landing_files(home.landing, "surveys"):
        sha = sha256_file(path)
        if not lake.loaded(sha) and record_of(home.lake, sha) is None:
            pending[path.relative_to(home.landing).as_posix()] = sha
    return pending


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches a refresh when new or changed survey exports land in landing/surveys/ "
           f"(not without {PSEUDONYM_KEY_VAR}: it waits, saying so).")
def survey_exports_sensor(context: dg.SensorEvaluationContext, home: HomeResource):
    h = home.home()
    pending = pending_survey_files(h)
    if not pending:
        return dg.SkipReason("no new or changed survey exports")
    try:
        key = pseudonym_key(h)
    except SettingError as exc:
        return dg.SkipReason(f"{len(pending)} new survey export(s) wait: {exc}")
    if key is None:
        return dg.SkipReason(f"{len(pending)} new survey export(s) wait for {PSEUDONYM_KEY_VAR} (the key that "
                             "hashes respondent identifiers): set it where `dagster dev` runs, or in .env")
    fingerprint = hashlib.sha256(json.dumps(pending, sort_keys=True).encode()).hexdigest()[:16]
    if context.cursor == fingerprint:
        return dg.SkipReason("a refresh for these exports was already requested")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=f"surveys-{fingerprint}", tags={"trigger": "survey_exports",
                                                                  "files": ", ".join(sorted(pending))[:1000]})


def failed_gates(outcome: dict) -> str:
    return ", ".join(f"{c['asset']} {c['check']}" for c in outcome["failed_checks"])[:1000]


def _outcome_sensor(status: dg.DagsterRunStatus, name: str, description: str):
    @dg.run_status_sensor(run_status=status, monitored_jobs=[refresh_job], name=name, description=description,
                          default_status=dg.DefaultSensorStatus.RUNNING)
    def sensor(context: dg.RunStatusSensorContext):
        _record(context, succeeded=status == dg.DagsterRunStatus.SUCCESS)

    return sensor


refresh_failed_sensor = _outcome_sensor(
    dg.DagsterRunStatus.FAILURE, "refresh_failed_sensor",
    "Names the gates a failed refresh failed (run tag belonging/failed_gates) and records its outcome for "
    "`belonging status`.")
refresh_succeeded_sensor = _outcome_sensor(
    dg.DagsterRunStatus.SUCCESS, "refresh_succeeded_sensor",
    "Records a refresh's outcome (its release, each gate's result) for `belonging status`.")


def _record(context: dg.RunStatusSensorContext, succeeded: bool) -> None:
    from orchestration.refresh import record_run_outcome
    from orchestration.settings import Home

    run = context.dagster_run
    if run.tags.get(CLI_TAG):  # `belonging refresh` records its own, with the per-file notes
        return
    outcome = record_run_outcome(Home.from_env(), context.instance, run.run_id, run.job_name, succeeded)
    if outcome["failed_checks"]:
        context.instance.add_run_tags(run.run_id, {FAILED_GATES_TAG: failed_gates(outcome)})
        context.log.info(f"refresh {run.run_id[:8]} failed its gates: {failed_gates(outcome)}")


sensors = [survey_exports_sensor, refresh_failed_sensor, refresh_succeeded_sensor]
