"""Publication assets: audited extracts in the run's folder, then the release (write-audit-publish).

`extracts` applies disclosure control and writes the EES extracts into runs/<run_id>/extracts; blocking
checks audit them there. Only when every gate passed does `release` write the release: the audited extracts,
their data guidance and the validation summary in releases/<release_id>/public/, the warehouse copy in
releases/<release_id>/internal/, then switch releases/current. A refresh whose inputs, catalogue, settings
and code are those of the current release publishes nothing (publication.releases.unchanged_since) unless
its run config says `force` (`belonging refresh --force`).
"""


import json

import dagster as dg
import duckdb
import polars as pl

from ingestion.lake import Lake
from orchestration.layers import GATES, OWNERS, RELEASE
from orchestration.resources import HomeResource
from orchestration.settings import GEOGRAPHY_LOOKUP

EXTRACTS_KEY = dg.AssetKey(["publication", "extracts"])
RELEASE_KEY = dg.AssetKey(["publication", "release"])
MART_KEY = dg.AssetKey(["mart_indicators"])


def read_mart(warehouse, table: str = "mart_indicators", columns: tuple[str, ...] | None = None,
              source: str | None = None) -> pl.DataFrame:
    """A mart table (or its `columns`) as polars; with `source`, only that source's rows."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        select = ", ".join(columns) if columns else "*"
        where, params = ("where source = ?", [source]) if source is not None else ("", [])
        return con.sql(f"select {select} from main.{table} {where}", params=params).pl()
    finally:
        con.close()


# mart_indicators columns that neither disclosure control nor an extract reads (analysts' conveniences)
NOT_PUBLISHED = ("academic_year", "phase", "previous_value", "change", "urn_changed")


def mart_sources(warehouse) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [r[0] for r in con.execute("select distinct source from main.mart_indicators order by 1").fetchall()]
    finally:
        con.close()


@dg.asset(key=EXTRACTS_KEY, deps=[MART_KEY], group_name=GATES, owners=OWNERS[GATES], kinds={"csv", "parquet"},
          description="Disclosure-controlled EES extracts (CSV + .meta.csv + Parquet), written to the run's "
          "folder for audit; published only by `release`.")
def extracts(context: dg.AssetExecutionContext, home: HomeResource) -> dg.MaterializeResult:
    from publication.disclosure import apply_disclosure_control
    from publication.extracts import build_extracts

    h = home.home()
    out = h.run_dir(context.run_id) / "extracts"
    disclosure = h.settings["disclosure"]
    infos, suppressed = [], 0
    # one source at a time (disclosure control never crosses sources): a national mart does not fit in memory twice
    for source in mart_sources(h.warehouse):
        mart = read_mart(h.warehouse, columns=(f"* exclude ({', '.join(NOT_PUBLISHED)})",), source=source)
        protected = apply_disclosure_control(mart,
                                             min_respondents=disclosure["min_respondents"],
                                             min_schools=disclosure["min_schools"])
        infos += build_extracts(protected, out, GEOGRAPHY_LOOKUP)
        suppressed += protected.filter(pl.col("published_status") == "suppressed").height
        del mart, protected
    return dg.MaterializeResult(metadata={
        "extracts": dg.MetadataValue.json({i.name: i.rows for i in sorted(infos, key=lambda i: i.name)}),
        "folder": dg.MetadataValue.path(str(out)),
        "survey_cells_suppressed": suppressed,
    })


def input_files(lake: Lake) -> list[dict]:
    loads = lake.read("file_loads").sort("_source_file")
    return [
        {"file": r["_source_file"], "sha256": r["_source_sha256"], "rows": r["rows_loaded"],
         "kind": r["source_kind"], "publication": r["publication"], "vintage": r["vintage"]}
        for r in loads.iter_rows(named=True)
    ]


def gate_results(context: dg.AssetExecutionContext) -> list[dict]:
    """Every asset check evaluated in this run (the raw, mart and extract gates, dbt's tests), as Dagster
    recorded it: name, asset, passed, and the gate's message, checks run and failures. (Their Great Expectations
    Data Docs stay in the run's folder: they need the network, the release's validation summary does not.)"""
    records = context.instance.get_records_for_run(
        run_id=context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000
    ).records
    gates = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
        gates.append({
            "name": evaluation.check_name,
            "asset": evaluation.asset_key.to_user_string(),
            "passed": evaluation.passed,
            **{k: meta[k] for k in ("message", "checks_run", "failures") if k in meta},
        })
    return sorted(gates, key=lambda g: (g["asset"], g["name"]))


class ReleaseConfig(dg.Config):
    """`force`: publish even when nothing changed since the current release (`belonging refresh --force`)."""

    force: bool = False


@dg.asset(key=RELEASE_KEY, deps=[EXTRACTS_KEY], group_name=RELEASE, owners=OWNERS[RELEASE], kinds={"duckdb", "json"},
          description="The release: audited extracts, data guidance, validation summary and manifest in "
          "releases/<release_id>/public/, a read-only warehouse copy in releases/<release_id>/internal/, then "
          "releases/current switched atomically. Nothing is published when nothing changed (unless forced).")
def release(context: dg.AssetExecutionContext, home: HomeResource, config: ReleaseConfig) -> dg.MaterializeResult:
    from indicators import catalogue_path
    from publication.guidance import data_guidance
    from publication.releases import (
        DATA_GUIDANCE,
        REPORT,
        VALIDATION_SUMMARY,
        code_version,
        extract_entries,
        new_release_id,
        nothing_changed,
        package_versions,
        prune_releases,
        publish_release,
        release_fingerprint,
        unchanged_since,
    )
    from publication.report import render_report
    from publication.validation import validation_html

    h = home.home()
    run_dir = h.run_dir(context.run_id)
    gates = gate_results(context)
    failed = [f"{g['asset']} / {g['name']}" for g in gates if not g["passed"]]
    if failed:  # blocking checks stop this asset first; this is the belt to their braces
        raise dg.Failure(description=f"not publishing: gates failed: {failed}")
    inputs = input_files(Lake(h.lake))
    fingerprint = release_fingerprint(inputs=[i["sha256"] for i in inputs], settings=h.settings,
                                      catalogue_file=catalogue_path())
    since = unchanged_since(h.root, fingerprint)
    if since and not config.force:
        message = nothing_changed(since)
        (run_dir / "release.json").write_text(
            json.dumps({"release_id": None, "unchanged_since": since, "message": message}), encoding="utf-8")
        context.log.info(message)
        return dg.MaterializeResult(metadata={"unchanged_since": since, "fingerprint": fingerprint["sha256"]})

    release_id = new_release_id()
    extracts_dir = run_dir / "extracts"
    extracts = extract_entries(extracts_dir)
    disclosure = h.settings["disclosure"]
    thresholds = {"min_respondents": disclosure["min_respondents"], "min_schools": disclosure["min_schools"]}
    public_files = {
        DATA_GUIDANCE: data_guidance(extracts_dir, release_id=release_id, inputs=inputs, code=code_version(),
                                     versions=package_versions(), **thresholds),
        VALIDATION_SUMMARY: validation_html(release_id, gates, extracts, **thresholds),
        REPORT: render_report(extracts_dir, release_id),  # from the audited extracts only
    }
    path = publish_release(
        h.root,
        release_id=release_id,
        warehouse=h.warehouse,
        extracts_dir=extracts_dir,
        extracts=extracts,
        public_files=public_files,
        manifest_extra={"inputs": inputs, "gates": gates, "run_id": context.run_id, "fingerprint": fingerprint},
    )
    keep = int(h.settings.get("releases", {}).get("keep", 0) or 0)
    pruned = prune_releases(h.root, keep) if keep else []
    (run_dir / "release.json").write_text(json.dumps({"release_id": release_id, "path": str(path)}),
                                          encoding="utf-8")
    context.log.info(f"published {release_id}; current -> {release_id}")
    return dg.MaterializeResult(metadata={"release_id": release_id, "path": dg.MetadataValue.path(str(path)),
                                          "fingerprint": fingerprint["sha256"],
                                          "pruned": dg.MetadataValue.json([str(p) for p in pruned or []])})
