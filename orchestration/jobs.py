"""Jobs: the refresh (landing -> lake -> warehouse -> gates -> release) and the download of public files."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.lake import ALL_YEARS_TAGS
from orchestration.layers import LANDING

DOWNLOAD_GROUP = LANDING

refresh_job = dg.define_asset_job(
    name="refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(DOWNLOAD_GROUP),
    description="Load new landing files into the lake, build the warehouse with dbt, run every gate and "
    "publish a release when all pass. Runs over every academic-year partition of the DfE lake assets.",
    executor_def=dg.in_process_executor,
    tags=ALL_YEARS_TAGS,
)

download_job = dg.define_asset_job(
    name="download",
    selection=dg.AssetSelection.groups(DOWNLOAD_GROUP),
    description="Fetch the configured public DfE and GIAS files into landing/ (unchanged files are skipped).",
    executor_def=dg.in_process_executor,
)
