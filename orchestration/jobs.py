"""Jobs: the refresh (landing -> lake -> warehouse -> gates -> release) and the download of public files."""

from __future__ import annotations

import dagster as dg

from orchestration.layers import LANDING

DOWNLOAD_GROUP = LANDING

refresh_job = dg.define_asset_job(
    name="refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(DOWNLOAD_GROUP),
    description="Load new landing files into the lake, build the warehouse with dbt, run every gate and "
    "publish a release when all pass.",
    executor_def=dg.in_process_executor,
)

download_job = dg.define_asset_job(
    name="download",
    selection=dg.AssetSelection.groups(DOWNLOAD_GROUP),
    description="Fetch the configured public DfE and GIAS files into landing/ (unchanged files are skipped).",
    executor_def=dg.in_process_executor,
)
