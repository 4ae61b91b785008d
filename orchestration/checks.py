"""Gates: Great Expectations suites (expectations/) run as blocking Dagster asset checks.

A failing check stops every downstream asset, so nothing is published. Each check writes its result to
runs/<run_id>/gates/<name>.json (collected into the release manifest) and GX Data Docs to
runs/<run_id>/data_docs/ (copied into the release).
"""


import json

import dagster as dg
import polars as pl

from ingestion.lake import Lake
from orchestration.assets.lake import DFE_TABLES, GIAS_TABLES, SURVEY_TABLES, lake_key
from orchestration.assets.publication import EXTRACTS_KEY, MART_KEY, read_mart
from orchestration.resources import HomeResource
from orchestration.settings import GEOGRAPHY_LOOKUP, Home

MAX_FAILURES_SHOWN = 10
# what the mart gate reads of mart_indicators (the key, the figures and their status): at national scale the
# whole mart is millions of rows, so the gate does not load columns it does not check
MART_GATE_COLUMNS = ("time_period", "time_identifier", "geographic_level", "geography_code", "indicator",
                     "breakdown", "breakdown_value", "numerator", "denominator", "value", "value_status")


def to_check_result(context, h: Home, gate) -> dg.AssetCheckResult:
    run_dir = h.run_dir(context.run.run_id)
    (run_dir / "gates").mkdir(parents=True, exist_ok=True)
    (run_dir / "gates" / f"{gate.name}.json").write_text(json.dumps(gate.as_dict(), indent=2), encoding="utf-8")
    failures = gate.failures[:MAX_FAILURES_SHOWN]
    if gate.passed:
        message = f"{gate.name}: all {gate.checks_run} checks passed"
    else:
        first = gate.errors[0] if gate.errors else gate.failures[0]
        message = f"{len(gate.errors)} of {gate.checks_run} checks failed; first: {first}"
    metadata = {
        "message": message,
        "checks_run": gate.checks_run,
        "failures": "\n".join(str(f) for f in failures) + (
            f"\n... and {len(gate.failures) - len(failures)} more" if len(gate.failures) > len(failures) else ""),
    }
    if gate.data_docs:
        metadata["data_docs"] = dg.MetadataValue.path(str(gate.data_docs))
    return dg.AssetCheckResult(passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


def _raw_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=lake_key(table), name="raw_gate", blocking=True,
                    description=f"Raw gate on {table}: keys well-formed, symbols known, no duplicate keys, "
                    "time periods valid (expectations/raw.py).")
    def check(context: dg.AssetCheckExecutionContext, home: HomeResource) -> dg.AssetCheckResult:
        from expectations.raw import raw_gate

        h = home.home()
        frame = Lake(h.lake).read(table)
        return to_check_result(context, h, raw_gate(table, frame, data_docs_dir=h.run_dir(context.run.run_id)
                                                    / "data_docs"))

    return check


raw_checks = [_raw_check(t) for t in (*GIAS_TABLES, *DFE_TABLES, *SURVEY_TABLES)]


def _previous_mart(h: Home) -> pl.DataFrame | None:
    from publication.releases import current_release

    current = current_release(h.root)
    if current is None or not (current / "warehouse.duckdb").exists():
        return None
    return read_mart(current / "warehouse.duckdb", columns=MART_GATE_COLUMNS)


@dg.asset_check(asset=MART_KEY, name="mart_gate", blocking=True,
                description="Ranges, numerator <= denominator, one row per key, every school in GIAS, drift "
                "against the current release, reconciliation with the DfE's own aggregate rows.")
def mart_gate_check(context: dg.AssetCheckExecutionContext, home: HomeResource) -> dg.AssetCheckResult:
    from expectations.marts import mart_gate

    h = home.home()
    gates = h.settings["gates"]
    mart = read_mart(h.warehouse, columns=MART_GATE_COLUMNS)
    urns = Lake(h.lake).read("gias_establishments")["urn"].unique().to_list()
    gate = mart_gate(
        mart,
        gias_urns=urns,
        previous=_previous_mart(h),
        reconciliation=read_mart(h.warehouse, "mart_reconciliation"),
        row_count_tolerance=gates["row_count_tolerance"],
        headline_tolerance=gates["headline_tolerance"],
        data_docs_dir=h.run_dir(context.run.run_id) / "data_docs",
    )
    return to_check_result(context, h, gate)


@dg.asset_check(asset=EXTRACTS_KEY, name="extract_gate", blocking=True,
                description="Every extract: disclosure control holds, no personal-data column, the DfE "
                "open-data screener rules pass.")
def extract_gate_check(context: dg.AssetCheckExecutionContext, home: HomeResource) -> dg.AssetCheckResult:
    from expectations.extracts import extracts_gate
    from publication.extracts import extract_files

    h = home.home()
    # the extracts are read back from the run's folder, as they will be published
    infos = extract_files(h.run_dir(context.run.run_id) / "extracts")
    gate = extracts_gate(infos, GEOGRAPHY_LOOKUP, min_respondents=h.settings["disclosure"]["min_respondents"],
                         data_docs_dir=h.run_dir(context.run.run_id) / "data_docs")
    return to_check_result(context, h, gate)


all_checks = [*raw_checks, mart_gate_check, extract_gate_check]
