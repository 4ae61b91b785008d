"""dbt models as Dagster assets: `dbt build` (models, seeds and dbt tests) into the warehouse."""


import os
from collections.abc import Mapping
from graphlib import TopologicalSorter
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt import (
    FULL_REBUILD_TAG,
    build_args,
    build_plan,
    dbt_project,
    duckdb_env,
    new_files_env,
    wait_for_parse,
)
from orchestration.layers import OWNERS, WAREHOUSE
from orchestration.resources import HomeResource


class Translator(DagsterDbtTranslator):
    """dbt sources are the lake's raw tables: map them onto the lake assets' keys."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["lake", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return WAREHOUSE  # staging, intermediate and marts alike: the warehouse layer

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS[WAREHOUSE]


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator())
def warehouse_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, home: HomeResource):
    """`dbt build` into the warehouse: staging views, intermediate models, contracted marts, dbt tests."""
    h = home.home()
    # DuckDB's memory, threads and spill folder from the home's settings: dbt runs in a child process that
    # inherits this environment (profiles.yml reads it)
    os.environ.update(duckdb_env(h.root, h.settings))
    # one target folder per home (not per run): dbt's partial parse is reused, saving a full parse each refresh;
    # refreshes of a home never overlap (the refresh lock)
    target = h.dbt_target
    plan = build_plan(h, full_rebuild=context.run.tags.get(FULL_REBUILD_TAG) == "true")
    context.log.info(plan.reason)
    if plan.nothing:
        # no lake file and no definition changed since the last successful build: the warehouse is as dbt would
        # build it, so dbt is not run; each asset of the step is reported unchanged (so that what reads it runs)
        yield from unchanged_outputs(context, plan.reason)
        return
    wait_for_parse(target)  # a new home's parse, started with the refresh (orchestration.dbt.start_parse)
    os.environ.update(new_files_env(plan.new_files))  # set on every build: a full one reads none
    invocation = dbt.cli(build_args(plan, h.settings), context=context, target_path=target, raise_on_error=False)
    yield from invocation.stream()  # dbt's tests become asset check evaluations of this run (the release's gates)
    if not invocation.is_successful():
        results = invocation.get_artifact("run_results.json").get("results", [])
        failed = "; ".join(f"{r['unique_id']}: {r['status']} {r.get('message') or ''}"
                           for r in results if r["status"] not in ("success", "pass"))
        raise dg.Failure(description=f"dbt build failed: {failed[:3000]}")
    plan.save()  # only a successful build moves the state the next incremental build starts from


def unchanged_outputs(context: dg.AssetExecutionContext, reason: str):
    """Each selected asset of the step reported unchanged (`reason`), upstream first (as Dagster wants them)."""
    assets = context.assets_def
    selected = context.selected_asset_keys
    graph = {key: assets.asset_deps.get(key, set()) & selected for key in selected}
    for key in TopologicalSorter(graph).static_order():
        yield dg.Output(None, output_name=assets.get_output_name_for_asset_key(key),
                        metadata={"dbt": reason, "rebuilt": False})
