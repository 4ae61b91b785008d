"""Schedules: the annual DfE refresh, and a weekly look for new DfE and GIAS files.

All start STOPPED (they fetch from the network or publish): turn one on in the Dagster UI (Automation, the
schedule's toggle) or with `dagster schedule start <name> -w workspace.yaml`; they run while `dagster dev`
(or the Dagster daemon) runs.
"""

from __future__ import annotations

import dagster as dg

from ingestion.lake import Lake
from ingestion.landing import scan
from ingestion.retire import record_of
from orchestration.jobs import download_job, refresh_job
from orchestration.resources import HomeResource

TIMEZONE = "Europe/London"

def _every(name: str, job, cron: str, description: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone=TIMEZONE,
                                 default_status=dg.DefaultScheduleStatus.STOPPED, description=description)


# The DfE publishes census (June), SEN (June), absence (March) and exclusions (July) each year; GIAS daily.
# Fetch in October when the academic year's releases are out, then refresh the next morning.
annual_download = _every("annual_dfe_download", download_job, "0 5 1 10 *",
                         "Downloads the configured DfE and GIAS files on 1 October.")
annual_refresh = _every("annual_dfe_refresh", refresh_job, "0 5 2 10 *",
                        "Refreshes the warehouse and publishes a release on 2 October, after the download.")
weekly_download = _every("weekly_dfe_gias_download", download_job, "0 5 * * 1",
                         "Mondays 05:00: downloads the configured DfE and GIAS files (unchanged files are left "
                         "as they are).")


def new_public_files(home) -> list[str]:
    """DfE and GIAS files in landing/ whose bytes are neither in the lake nor retired."""
    from ingestion.files import sha256_file

    lake = Lake(home.lake)
    new = []
    for family in ("dfe", "gias"):
        for path in scan(home.landing, family).files:
            sha = sha256_file(path)
            if not lake.loaded(sha) and record_of(home.lake, sha) is None:
                new.append(path.relative_to(home.landing).as_posix())
    return new


@dg.schedule(job=refresh_job, cron_schedule="0 6 * * 1", execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.STOPPED, name="weekly_new_files_check",
             description="Mondays 06:00 (after the weekly download): refreshes when landing/dfe or landing/gias "
             "holds files not yet in the lake; skips, saying so, when nothing is new.")
def weekly_new_files_check(context: dg.ScheduleEvaluationContext, home: HomeResource):
    new = new_public_files(home.home())
    if not new:
        return dg.SkipReason("no new DfE or GIAS files in landing/")
    return dg.RunRequest(run_key=f"new-files-{context.scheduled_execution_time:%Y%m%d}",
                         tags={"trigger": "weekly_new_files_check", "files": ", ".join(new)[:1000]})


schedules = [annual_download, annual_refresh, weekly_download, weekly_new_files_check]
