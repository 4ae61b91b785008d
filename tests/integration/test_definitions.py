"""The code location loads: its assets, blocking gates, jobs, schedule and sensor."""

from __future__ import annotations

import dagster as dg


def test_definitions_list_assets_and_blocking_checks(dbt_manifest):
    from orchestration.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    for expected in ["landing/downloads", "lake/gias_establishments", "lake/gias_links", "lake/dfe_exclusions",
                     "lake/dfe_absence", "lake/dfe_census", "lake/dfe_sen", "lake/dfe_exclusions_characteristics",
                     "lake/survey_responses",
                     "lake/survey_answers", "mart_indicators", "mart_reconciliation", "mart_inclusion_profile",
                     "publication/extracts", "publication/release"]:
        assert expected in keys, expected

    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("lake/dfe_exclusions", "raw_gate") in checks
    assert ("mart_indicators", "mart_gate") in checks
    assert ("publication/extracts", "extract_gate") in checks
    # every gate we wrote is blocking: a failure stops publication
    gates = [spec for check_def in defs.asset_checks for spec in check_def.check_specs
             if spec.name in ("raw_gate", "mart_gate", "extract_gate")]
    assert len(gates) == 13  # 11 raw tables, the mart, the extracts
    assert all(spec.blocking for spec in gates)
    # the raw gates of a lake asset's tables run in one step (a step each cost a refresh 11 steps' set-up)
    raw_steps = {c.node_def.name: {k.asset_key.path[-1] for k in c.check_keys} for c in defs.asset_checks
                 if any(spec.name == "raw_gate" for spec in c.check_specs)}
    assert raw_steps == {"lake_gias_raw_gate": {"gias_establishments", "gias_links"},
                         "lake_dfe_raw_gate": {"dfe_exclusions", "dfe_absence", "dfe_census", "dfe_sen", "dfe_attendance",
                                               "dfe_exclusions_characteristics"},
                         "lake_surveys_raw_gate": {"survey_responses", "survey_answers", "survey_items"}}

    # lake assets feed dbt sources: the staging models depend on the lake keys
    deps = graph.get(dg.AssetKey(["stg_dfe__exclusions"])).parent_keys
    assert dg.AssetKey(["lake", "dfe_exclusions"]) in deps

    assert defs.resolve_job_def("refresh") is not None
    assert defs.resolve_job_def("download") is not None
    assert {s.name for s in defs.schedules} == {"annual_dfe_download", "annual_dfe_refresh",
                                                "weekly_dfe_gias_download", "weekly_new_files_check"}
    assert {s.name for s in defs.sensors} == {"survey_exports_sensor", "refresh_failed_sensor",
                                              "refresh_succeeded_sensor"}


def test_assets_are_grouped_by_layer_with_owners_kinds_and_descriptions(dbt_manifest):
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        groups.setdefault(node.group_name, set()).add(key.to_user_string())
        assert node.owners, key
        assert node.description, key
        assert node.kinds, key
    assert set(groups) == {"landing", "lake", "warehouse", "gates", "release"}
    assert groups["landing"] == {"landing/downloads"}
    assert "lake/dfe_census" in groups["lake"]
    assert {"mart_indicators", "stg_dfe__exclusions"} <= groups["warehouse"]
    assert groups["gates"] == {"publication/extracts"} and groups["release"] == {"publication/release"}
    assert graph.get(dg.AssetKey(["mart_indicators"])).kinds >= {"dbt", "duckdb"}
