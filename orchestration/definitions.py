"""The one Definitions object of the code location (workspace.yaml loads this module)."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import warehouse_dbt
from orchestration.assets.lake import lake_dfe, lake_gias, lake_surveys
from orchestration.assets.landing import downloads
from orchestration.assets.publication import extracts, release
from orchestration.checks import all_checks
from orchestration.jobs import download_job, refresh_job
from orchestration.resources import build_resources
from orchestration.schedules import annual_download, annual_refresh
from orchestration.sensors import survey_exports_sensor

defs = dg.Definitions(
    assets=[downloads, lake_gias, lake_dfe, lake_surveys, warehouse_dbt, extracts, release],
    asset_checks=all_checks,
    jobs=[refresh_job, download_job],
    schedules=[annual_download, annual_refresh],
    sensors=[survey_exports_sensor],
    resources=build_resources(),
)
