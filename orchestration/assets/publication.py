"""Publication assets: audited extracts in the run's folder, then the release (write-audit-publish).

`extracts` applies disclosure control and writes the EES extracts into runs/<run_id>/extracts; blocking
checks audit them there. Only when every gate passed does `release` write the release: the audited extracts,
their data guidance and the validation summary in releases/<release_id>/public/, the warehouse copy in
releases/<release_id>/internal/, then switch releases/current. A refresh whose inputs, catalogue, settings
and code are those of the current release publishes nothing (publication.releases.unchanged_since) unless
its run config says `force` (`belonging refresh --force`).
"""


import hashlib
import json
import tempfile
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from ingestion.lake import Lake
from orchestration.layers import GATES, OWNERS, RELEASE
from orchestration.resources import HomeResource
from orchestration.settings import GEOGRAPHY_LOOKUP, duckdb_config

EXTRACTS_KEY = dg.AssetKey(["publication", "extracts"])
RELEASE_KEY = dg.AssetKey(["publication", "release"])
MART_KEY = dg.AssetKey(["mart_indicators"])


def read_mart(warehouse, table: str = "mart_indicators", columns: tuple[str, ...] | None = None,
              distinct: bool = False, scratch: Path | None = None, group_by: str = "", **equal) -> pl.DataFrame:
    """A mart table (or its `columns`) as polars, where each column of `equal` has its value (None: any), in the
    table's order. Each read opens its own connection, so that DuckDB's cache of the table is freed with it.
    With a `scratch` folder, through a Parquet file there (export_mart: half the peak memory of a large read)."""
    if scratch is not None:
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            return pl.read_parquet(export_mart(warehouse, Path(folder) / "rows.parquet", table, columns, **equal))
    query, params = _mart_query(table, columns, distinct, equal)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(query + (f" group by {group_by}" if group_by else ""), params=params).pl()
    finally:
        con.close()


def export_mart(warehouse, path: Path, table: str = "mart_indicators", columns: tuple[str, ...] | None = None,
                config: dict | None = None, **equal) -> Path:
    """read_mart's rows written to a Parquet file by DuckDB's COPY, which streams them (its Arrow export holds a
    national chunk twice over: reading the file back takes half the peak memory). `config`: DuckDB's settings
    (orchestration.settings.duckdb_config). One COPY per chunk: a single COPY partitioned by source and period
    took twice the time and memory on the national mart."""
    query, params = _mart_query(table, columns, False, equal)
    con = duckdb.connect(str(warehouse), read_only=True, config=config or {})
    try:
        con.execute(f"copy ({query}) to '{path}' (format parquet)", params)
    finally:
        con.close()
    return path


def _mart_query(table: str, columns, distinct: bool, equal: dict) -> tuple[str, list]:
    tests = {c: v for c, v in equal.items() if v is not None}
    where = " and ".join(f"{c} = ?" for c in tests)
    return (f"select {'distinct ' if distinct else ''}{', '.join(columns) if columns else '*'} "
            f"from main.{table}{' where ' + where if where else ''}", list(tests.values()))


# mart_indicators columns that neither disclosure control nor an extract reads (analysts' conveniences)
NOT_PUBLISHED = ("academic_year", "phase", "previous_value", "change", "urn_changed")


def extracts_of_warehouse(warehouse, out: Path, disclosure: dict, config: dict | None = None,
                          cache: Path | None = None):
    """Every extract of the warehouse's mart_indicators, disclosure-controlled, written to `out`: one source and
    period at a time (no disclosure rule crosses either: publication/disclosure.py), so a national mart is never
    in memory whole. With a `cache` folder, a chunk whose rows (a digest DuckDB computes in one pass), extract
    plans, code and settings are those of the last run is not read again (publication.extracts.ChunkCache).
    Returns publication.extracts.ExtractsWritten."""
    from publication.disclosure import RULE_COLUMNS, apply_disclosure_control, mask_suppressed
    from publication.extracts import (
        PLAN_COLUMNS,
        Chunk,
        ChunkCache,
        chunk_order,
        plan_extracts,
        write_extracts,
    )

    scratch = Path(out).parent  # the run's folder
    scratch.mkdir(parents=True, exist_ok=True)
    published = f"* exclude ({', '.join(NOT_PUBLISHED)})"
    plans = plan_extracts(read_mart(warehouse, columns=PLAN_COLUMNS, distinct=True))
    # each source and period, with a digest of its rows: count, sum and xor of a hash of every published column
    digests = read_mart(warehouse, columns=(
        "source", "time_period", "count(*)", f"sum(hash(*columns({published}))::hugeint)::varchar",
        f"bit_xor(hash(*columns({published})))", ), group_by="source, time_period")

    def load(source, period) -> pl.DataFrame:
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            path = export_mart(warehouse, Path(folder) / "chunk.parquet", columns=(published,), config=config,
                               source=source, time_period=period)
            # the statuses decided on the columns the rules read, then put beside the published columns (the
            # whole width of a chunk is not in memory while the rules run)
            status = apply_disclosure_control(pl.read_parquet(path, columns=list(RULE_COLUMNS)),
                                              min_respondents=disclosure["min_respondents"],
                                              min_schools=disclosure["min_schools"], mask=False)["published_status"]
            return mask_suppressed(pl.read_parquet(path).with_columns(status))

    chunks = [Chunk(source, period, load=lambda s=source, p=period: load(s, p), digest="-".join(map(str, rest)))
              for source, period, *rest in sorted(digests.iter_rows(), key=lambda r: chunk_order(r[0], r[1]))]
    store = ChunkCache(cache, _cache_salt(disclosure)) if cache is not None else None
    written = write_extracts(plans, chunks, out, GEOGRAPHY_LOOKUP, cache=store)
    if store is not None:
        store.prune()
    return written


def _cache_salt(disclosure: dict) -> str:
    """What makes an extract's piece besides its rows and plan: the code and catalogue that shape it, the geography
    lookup, the disclosure settings and the library versions."""
    from importlib.metadata import version

    from indicators import catalogue_path
    from publication import disclosure as rules
    from publication import extracts as writer

    digest = hashlib.sha256(json.dumps([disclosure, version("polars"), version("duckdb")], sort_keys=True).encode())
    for path in (writer.__file__, rules.__file__, catalogue_path(), GEOGRAPHY_LOOKUP):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


@dg.asset(key=EXTRACTS_KEY, deps=[MART_KEY], group_name=GATES, owners=OWNERS[GATES], kinds={"csv", "parquet"},
          description="Disclosure-controlled EES extracts (CSV + .meta.csv + Parquet), written to the run's "
          "folder for audit; published only by `release`.")
def extracts(context: dg.AssetExecutionContext, home: HomeResource) -> dg.MaterializeResult:
    h = home.home()
    out = h.run_dir(context.run_id) / "extracts"
    written = extracts_of_warehouse(h.warehouse, out, h.settings["disclosure"], duckdb_config(h.root, h.settings),
                                    cache=h.cache / "extracts")
    context.log.info(f"extracts: {written.chunks_built} chunk(s) of the mart built, {written.chunks_reused} "
                     "unchanged since the last run reused")
    return dg.MaterializeResult(metadata={
        "extracts": dg.MetadataValue.json({i.name: i.rows for i in sorted(written.infos, key=lambda i: i.name)}),
        "folder": dg.MetadataValue.path(str(out)),
        "survey_cells_suppressed": written.suppressed,
        "chunks_built": written.chunks_built,
        "chunks_reused": written.chunks_reused,
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
