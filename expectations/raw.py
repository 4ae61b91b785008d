"""Raw gates: one suite per raw lake table (ingestion/lake_schema.py TABLES), on what one row cannot show.

Row rules (key formats, time periods, geographic levels, symbols) are ingestion's: a reader quarantines the row
that breaks one, naming file, row and rule, so it never reaches the lake. The raw gate checks what no single row
shows:
- no duplicate keys within a source file (two rows the reader mapped to one key);
- volumes: a newer file of a DfE publication and year (a re-issue) or a newer GIAS snapshot does not hold far
  fewer schools than the one before it (`gates.row_count_tolerance`): a truncated download or a file of another
  scope is a failure, not a revision.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expectations.runner import Check, GateResult, merge, run_suite

DFE_KEYS = [
    "_source_sha256",
    "time_period",
    "geographic_level",
    "region_code",
    "new_la_code",
    "school_laestab",
    "school_urn",
    "phase",
]
KEYS = {
    "dfe_exclusions": DFE_KEYS,
    "dfe_absence": DFE_KEYS,
    "dfe_census": DFE_KEYS,
    "dfe_sen": DFE_KEYS,
    "gias_establishments": ["_source_sha256", "urn"],
    "gias_links": ["_source_sha256", "urn", "link_urn", "link_type"],
    "survey_responses": ["_source_sha256", "response_key"],
    "survey_answers": ["_source_sha256", "response_key", "item_id"],
    "survey_items": ["_source_sha256", "instrument", "item_id"],
}


def _unique(table: str) -> Check:
    keys = KEYS[table]
    return Check(
        "no_duplicate_keys",
        "expect_compound_columns_to_be_unique",
        {"column_list": keys},
        f"{table}: more than one row per key {keys} within one source file: the reader mapped two rows to one key",
        context_columns=("row_number", "_source_file"),
    )


def _volume(table: str) -> Check:
    return Check(
        "no_collapsed_volume",
        "expect_column_values_to_be_in_set",
        {"column": "collapsed", "value_set": [False]},
        f"{table}: a newer file holds far fewer schools than the one before it for the same period (more than "
        "gates.row_count_tolerance fewer): a truncated download or a file of another scope, not a revision; "
        "remove it from landing/ or raise the tolerance for this home",
        context_columns=("period", "file", "rows", "previous_file", "previous_rows"),
    )


def raw_checks(table: str) -> list[Check]:
    checks = [_unique(table)]
    if table.startswith("dfe_") or table == "gias_establishments":
        checks.append(_volume(table))
    return checks


def volume_frame(table: str, frame: pl.DataFrame, *, row_count_tolerance: float) -> pl.DataFrame:
    """Per period (a DfE academic year; GIAS: the register), each file's schools against the file loaded
    before it for that period: `collapsed` when it holds fewer than (1 - tolerance) x as many."""
    schema = {"period": pl.String, "file": pl.String, "rows": pl.Int64, "previous_file": pl.String,
              "previous_rows": pl.Int64, "collapsed": pl.Boolean}  # fmt: skip
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    if table == "gias_establishments":
        counted = frame.with_columns(pl.lit("register").alias("period"), pl.col("urn").alias("_school"))
    else:
        counted = frame.filter(pl.col("geographic_level") == "School").with_columns(
            pl.col("time_period").cast(pl.String).alias("period"),
            pl.coalesce("school_urn", "school_laestab").alias("_school"),
        )
    files = (
        counted.group_by("period", "_source_sha256")
        .agg(pl.col("_source_file").first().alias("file"), pl.col("_loaded_at").min(),
             pl.col("_school").n_unique().alias("rows"))
        .sort("period", "_loaded_at", "_source_sha256")
        .with_columns(
            pl.col("file").shift(1).over("period").alias("previous_file"),
            pl.col("rows").shift(1).over("period").alias("previous_rows"),
        )
    )  # fmt: skip
    collapsed = pl.col("rows") < (1 - row_count_tolerance) * pl.col("previous_rows")
    return files.select(
        "period", "file", pl.col("rows").cast(pl.Int64), "previous_file", pl.col("previous_rows").cast(pl.Int64),
        collapsed.fill_null(False).alias("collapsed"),
    )


def checked_columns(checks: list[Check]) -> list[str]:
    """The columns a list of checks reads (their column, column list and context columns), in order."""
    cols: list[str] = []
    for check in checks:
        for col in (check.kwargs.get("column"), *check.kwargs.get("column_list", ()), *check.context_columns):
            if col and col not in cols:
                cols.append(col)
    return cols


def raw_gate(table: str, frame: pl.DataFrame, *, row_count_tolerance: float, data_docs_dir: Path | None = None
             ) -> GateResult:
    """The raw gate of one lake table; the tolerance is a setting (config/settings.yaml gates), no default here."""
    checks = raw_checks(table)
    unique = [c for c in checks if c.name == "no_duplicate_keys"]
    # only what the checks read goes to Great Expectations (pandas objects cost ~5x polars memory)
    keyed = frame.select([c for c in checked_columns(unique) if c in frame.columns])
    results = [run_suite(f"raw_{table}", keyed, unique, data_docs_dir=data_docs_dir, table=table)]
    volume = [c for c in checks if c.name == "no_collapsed_volume"]
    if volume:
        frame_v = volume_frame(table, frame, row_count_tolerance=row_count_tolerance)
        results.append(run_suite(f"raw_{table}_volume", frame_v, volume, data_docs_dir=data_docs_dir, table=table))
    return merge(f"raw_{table}", results)
