"""The one Definitions object of the code location (workspace.yaml loads this module)."""

from __future__ import annotations

import warnings

import dagster as dg

from orchestration.assets.dbt import warehouse_dbt
from orchestration.assets.lake import LAKE_SPEC, lake_dfe, lake_gias, lake_key, lake_surveys
from orchestration.assets.landing import downloads
from orchestration.assets.publication import extracts, release
from orchestration.checks import all_checks
from orchestration.jobs import download_job, refresh_job
from orchestration.resources import build_resources
from orchestration.schedules import schedules
from orchestration.sensors import sensors

# the code location is this project's: dagster's notes about its own API changes are not for a refresh's user
warnings.filterwarnings("ignore", category=dg.SupersessionWarning)

# the lake's own records, written by every lake asset as it loads: declared so the graph shows where dbt reads them
lake_records = [
    dg.AssetSpec(lake_key("file_loads"), **LAKE_SPEC, description="Every landing file loaded into the lake: its "
                 "sha256, publication or tool, vintage, rows loaded, quarantined and excluded (written by each lake "
                 "asset as it loads)."),
    dg.AssetSpec(lake_key("quarantine"), **LAKE_SPEC, description="Every rejected row and whole file, with its "
                 "file, row, column, rule and reason (written by each lake asset as it loads)."),
]

defs = dg.Definitions(
    assets=[downloads, lake_gias, lake_dfe, lake_surveys, *lake_records, warehouse_dbt, extracts, release],
    asset_checks=all_checks,
    jobs=[refresh_job, download_job],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(),
)
