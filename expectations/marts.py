"""Mart gates on `mart_indicators` (and `mart_reconciliation`).

- percentages within 0-100 (`*_percent`); rates per 100 (`*_rate`) and ratios non-negative, not capped:
  suspensions per 100 pupils can exceed 100;
- numerator <= denominator for shares (`*_percent`) with a value (UNCAPPED_SHARES excepted);
- one row per key;
- every School row joins GIAS (the set of URNs is a parameter);
- drift against the previous release's mart: row counts per level and headline national values (Total
  breakdown) within the configured tolerances; no previous release = pass;
- reconciliation with the DfE's own aggregates: every `mart_reconciliation` row within tolerance or
  explained by suppression.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from expectations.runner import Check, GateResult, merge, run_suite

KEY = [
    "time_period",
    "time_identifier",
    "geographic_level",
    "geography_code",
    "indicator",
    "breakdown",
    "breakdown_value",
]
ROW = ("geographic_level", "geography_code", "time_period", "indicator", "breakdown_value")
# Shares whose numerator counts pupils over the whole year but whose denominator is the January census
# headcount: pupil mobility lets them pass 100, and the DfE publishes such values (the real 2016/17 file has
# a special school with 25 pupils suspended of 22 on roll: one_plus_fixed_rate 113.64). Not capped at 100.
UNCAPPED_SHARES = ("one_plus_suspension_percent",)


def prepare_mart(mart: pl.DataFrame) -> pl.DataFrame:
    ind = pl.col("indicator")
    uncapped = ind.is_in(UNCAPPED_SHARES)
    share = ind.str.ends_with("_percent") & ~uncapped
    published = pl.col("value_status") == "value"
    # only the columns the checks read go to Great Expectations (pandas objects cost ~5x polars memory)
    return mart.select(
        *KEY,
        "numerator",
        "denominator",
        pl.when(share).then(pl.col("value")).alias("percent_value"),
        pl.when(ind.str.ends_with("_rate") | ind.str.ends_with("_ratio") | uncapped)
        .then(pl.col("value"))
        .alias("rate_value"),
        pl.when(share & published & pl.col("numerator").is_not_null() & pl.col("denominator").is_not_null())
        .then(pl.col("numerator") - pl.col("denominator"))
        .alias("numerator_minus_denominator"),
        pl.when(pl.col("geographic_level") == "School")
        .then(pl.col("geography_code"))
        .alias("school_row_urn"),
    )


def mart_checks(gias_urns: Iterable[str]) -> list[Check]:
    return [
        Check(
            "percent_within_0_100",
            "expect_column_values_to_be_between",
            {"column": "percent_value", "min_value": 0, "max_value": 100},
            "mart_indicators.value of a *_percent indicator is outside 0-100: check its numerator and denominator",
            context_columns=ROW,
        ),
        Check(
            "rates_not_negative",
            "expect_column_values_to_be_between",
            {"column": "rate_value", "min_value": 0},
            "mart_indicators.value of a rate or ratio is negative (rates per 100 may exceed 100, never go below 0)",
            context_columns=ROW,
        ),
        Check(
            "numerator_not_above_denominator",
            "expect_column_values_to_be_between",
            {"column": "numerator_minus_denominator", "max_value": 0},
            "mart_indicators: a share's numerator exceeds its denominator: the two come from different bases",
            context_columns=(*ROW, "numerator", "denominator"),
        ),
        Check(
            "one_row_per_key",
            "expect_compound_columns_to_be_unique",
            {"column_list": KEY},
            f"mart_indicators has more than one row per key {KEY}: a join fans out",
            context_columns=(),
        ),
        Check(
            "school_rows_join_gias",
            "expect_column_values_to_be_in_set",
            {"column": "school_row_urn", "value_set": sorted(set(gias_urns))},
            "mart_indicators has School rows whose URN is not in GIAS: load a newer GIAS extract or fix the URN",
            context_columns=("time_period", "indicator"),
        ),
    ]


def drift_frame(
    current: pl.DataFrame,
    previous: pl.DataFrame | None,
    *,
    row_count_tolerance: float,
    headline_tolerance: float,
) -> pl.DataFrame:
    """One row per compared measure: row counts per level, national Total values per period and indicator."""
    schema = {"measure": pl.String, "previous": pl.Float64, "current": pl.Float64, "relative_change": pl.Float64,
              "tolerance": pl.Float64}  # fmt: skip
    if previous is None or previous.height == 0:
        return pl.DataFrame(schema=schema)

    def counts(f: pl.DataFrame) -> pl.DataFrame:
        return f.group_by("geographic_level").agg(pl.len().cast(pl.Float64).alias("n"))

    rc = (
        counts(previous)
        .join(counts(current), on="geographic_level", how="full", suffix="_cur", coalesce=True)
        .select(
            ("row count " + pl.col("geographic_level")).alias("measure"),
            pl.col("n").fill_null(0).alias("previous"),
            pl.col("n_cur").fill_null(0).alias("current"),
        )
        .with_columns(pl.lit(row_count_tolerance).alias("tolerance"))
    )

    def national(f: pl.DataFrame) -> pl.DataFrame:
        return f.filter(
            (pl.col("geographic_level") == "National")
            & (pl.col("breakdown") == "Total")
            & pl.col("value").is_not_null()
        ).select("time_period", "time_identifier", "indicator", "value")

    hv = (
        national(previous)
        .join(national(current), on=["time_period", "time_identifier", "indicator"], suffix="_cur")
        .select(
            pl.format("national {} {} {}", "indicator", "time_period", "time_identifier").alias("measure"),
            pl.col("value").alias("previous"),
            pl.col("value_cur").alias("current"),
        )
        .with_columns(pl.lit(headline_tolerance).alias("tolerance"))
    )
    both = pl.concat([rc, hv], how="vertical_relaxed")
    return both.with_columns(
        pl.when(pl.col("previous") == 0)
        .then(pl.when(pl.col("current") == 0).then(0.0).otherwise(float("inf")))
        .otherwise((pl.col("current") - pl.col("previous")).abs() / pl.col("previous").abs())
        .alias("relative_change")
    ).with_columns((pl.col("relative_change") <= pl.col("tolerance")).alias("within_tolerance"))


def drift_checks() -> list[Check]:
    return [
        Check(
            "drift_within_tolerance",
            "expect_column_values_to_be_in_set",
            {"column": "within_tolerance", "value_set": [True]},
            "mart_indicators moved more than the tolerance since the previous release (gates: row_count_tolerance, "
            "headline_tolerance): check the inputs of this refresh before publishing",
            context_columns=("measure", "previous", "current", "relative_change"),
        )
    ]


def reconciliation_checks() -> list[Check]:
    return [
        Check(
            "reconciles_with_dfe_aggregates",
            "expect_column_values_to_be_in_set",
            {"column": "reconciled", "value_set": [True]},
            "mart_reconciliation: our sum of school rows differs from the DfE's published aggregate by more than "
            "the tolerance and suppression does not explain it: check the school rows of that geography",
            context_columns=(
                "geographic_level",
                "geography_code",
                "time_period",
                "publication",
                "measure",
                "ours",
                "theirs",
            ),
        )
    ]


def mart_gate(
    mart: pl.DataFrame,
    *,
    gias_urns: Iterable[str],
    previous: pl.DataFrame | None = None,
    reconciliation: pl.DataFrame | None = None,
    row_count_tolerance: float = 0.25,
    headline_tolerance: float = 0.25,
    data_docs_dir: Path | None = None,
) -> GateResult:
    results = [
        run_suite("mart_indicators", prepare_mart(mart), mart_checks(gias_urns), data_docs_dir=data_docs_dir),
    ]
    drift = drift_frame(
        mart, previous, row_count_tolerance=row_count_tolerance, headline_tolerance=headline_tolerance
    )
    if drift.height:
        results.append(run_suite("mart_indicators_drift", drift, drift_checks(), data_docs_dir=data_docs_dir))
    if reconciliation is not None and reconciliation.height:
        rec = reconciliation.with_columns(
            (
                pl.col("within_tolerance").fill_null(False)
                | pl.col("explained_by_suppression").fill_null(False)
            ).alias("reconciled")
        )
        results.append(
            run_suite("mart_reconciliation", rec, reconciliation_checks(), data_docs_dir=data_docs_dir)
        )
    return merge("mart_gates", results)
