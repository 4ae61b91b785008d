"""Raw gates: one suite per raw lake table (ingestion/lake_schema.py TABLES).

Keys well-formed (URN 6 digits, LAESTAB 7 digits, `time_period` YYYYYY with consecutive years,
`geographic_level` from the EES list), statuses from the known set, no duplicate keys within a source file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expectations.runner import Check, GateResult, run_suite
from ingestion.lake_schema import DFE_MEASURES, STATUSES

# EES geographic levels (the open-data standard's list)
EES_LEVELS = (
    "National",
    "Regional",
    "Local authority",
    "Local authority district",
    "Local skills improvement plan area",
    "English devolved area",
    "Mayoral combined authority",
    "Parliamentary constituency",
    "Ward",
    "Opportunity area",
    "Police force area",
    "Health",
    "Planning area",
    "RSC region",
    "MAT",
    "Sponsor",
    "School",
    "Provider",
    "Institution",
)
URN = r"^\d{6}$"
LAESTAB = r"^\d{7}$"

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


def _time_checks(table: str) -> list[Check]:
    return [
        Check(
            "time_period_form",
            "expect_column_values_to_match_regex",
            {"column": "time_period_text", "regex": r"^\d{6}$"},
            f"{table}.time_period must be YYYYYY (201617 = 2016/17): fix the reader's time column mapping",
            context_columns=("row_number", "_source_file"),
        ),
        Check(
            "time_period_consecutive_years",
            "expect_column_values_to_be_in_set",
            {"column": "time_period_consecutive", "value_set": [True]},
            f"{table}.time_period must name two consecutive years (201617, not 201618)",
            context_columns=("time_period", "row_number", "_source_file"),
        ),
    ]


def _format(table: str, column: str, regex: str, what: str) -> Check:
    return Check(
        f"{column}_format",
        "expect_column_values_to_match_regex",
        {"column": column, "regex": regex},
        f"{table}.{column} must be {what}: check the source file's rows below (leading zeros lost?)",
        context_columns=("row_number", "_source_file"),
    )


def _unique(table: str) -> Check:
    keys = KEYS[table]
    return Check(
        "no_duplicate_keys",
        "expect_compound_columns_to_be_unique",
        {"column_list": keys},
        f"{table}: more than one row per key {keys} within one source file: the reader mapped two rows to one key",
        context_columns=("row_number", "_source_file"),
    )


def raw_checks(table: str) -> list[Check]:
    checks: list[Check] = []
    if table.startswith("dfe_"):
        publication = table.removeprefix("dfe_")
        checks += _time_checks(table)
        checks.append(_format(table, "school_urn", URN, "6 digits"))
        checks.append(_format(table, "school_laestab", LAESTAB, "7 digits"))
        checks.append(
            Check(
                "geographic_level_known",
                "expect_column_values_to_be_in_set",
                {"column": "geographic_level", "value_set": list(EES_LEVELS)},
                f"{table}.geographic_level must be one of the EES levels: map the file's level names",
                context_columns=("row_number", "_source_file"),
            )
        )
        for m in DFE_MEASURES[publication]:
            checks.append(
                Check(
                    f"{m}_status_known",
                    "expect_column_values_to_be_in_set",
                    {"column": f"{m}_status", "value_set": list(STATUSES)},
                    f"{table}.{m}_status must be one of {list(STATUSES)}: add the symbol to the vintage's symbol map",
                    context_columns=("row_number", "_source_file"),
                )
            )
        checks.append(_unique(table))
    elif table == "gias_establishments":
        checks += [
            _format(table, "urn", URN, "6 digits"),
            _format(table, "laestab", LAESTAB, "7 digits"),
            _unique(table),
        ]
    elif table == "gias_links":
        checks += [
            _format(table, "urn", URN, "6 digits"),
            _format(table, "link_urn", URN, "6 digits"),
            _unique(table),
        ]
    elif table == "survey_responses":
        checks += _time_checks(table)
        checks += [_format(table, "school_urn", URN, "6 digits"), _unique(table)]
    elif table in ("survey_answers", "survey_items"):
        checks.append(_unique(table))
    return checks


def prepare(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Derived columns the checks read (time period as text and its consecutive-years flag)."""
    if "time_period" in frame.columns:
        tp = pl.col("time_period").cast(pl.Int64)
        frame = frame.with_columns(
            pl.col("time_period").cast(pl.String).alias("time_period_text"),
            pl.when(tp.is_null())
            .then(None)
            .otherwise((tp // 100 + 1) % 100 == tp % 100)
            .alias("time_period_consecutive"),
        )
    if "_loaded_at" in frame.columns:  # GX's pandas path does not need tz-aware datetimes
        frame = frame.with_columns(pl.col("_loaded_at").cast(pl.String))
    return frame


def checked_columns(checks: list[Check]) -> list[str]:
    """The columns a list of checks reads (their column, column list and context columns), in order."""
    cols: list[str] = []
    for check in checks:
        for col in (check.kwargs.get("column"), *check.kwargs.get("column_list", ()), *check.context_columns):
            if col and col not in cols:
                cols.append(col)
    return cols


def raw_gate(table: str, frame: pl.DataFrame, *, data_docs_dir: Path | None = None) -> GateResult:
    checks = raw_checks(table)
    prepared = prepare(table, frame)
    # only what the checks read goes to Great Expectations (pandas objects cost ~5x polars memory)
    prepared = prepared.select([c for c in checked_columns(checks) if c in prepared.columns])
    return run_suite(f"raw_{table}", prepared, checks, data_docs_dir=data_docs_dir, table=table)
