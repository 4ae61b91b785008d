"""Schedules: the annual DfE refresh (download the year's publications, then refresh)."""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import download_job, refresh_job

# The DfE publishes census (June), SEN (June), absence (March) and exclusions (July) each year; GIAS daily.
# Fetch in October when the academic year's releases are out, then refresh the next morning.
annual_download = dg.ScheduleDefinition(
    name="annual_dfe_download",
    job=download_job,
    cron_schedule="0 5 1 10 *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Downloads the configured DfE and GIAS files on 1 October.",
)

annual_refresh = dg.ScheduleDefinition(
    name="annual_dfe_refresh",
    job=refresh_job,
    cron_schedule="0 5 2 10 *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Refreshes the warehouse and publishes a release on 2 October, after the download.",
)
