"""Mart gates on `mart_indicators` (and `mart_reconciliation`): the thresholds, drift and reconciliation.

- the mart is not empty;
- a school's absence enrolments are not far below its census headcount (an absence file of part of the pupils
  read as the whole school's);
- every indicator is in the indicator catalogue (indicators/catalogue.yaml), and every value lies in its
  entry's `range` (percentages 0-100; rates per 100 and ratios not negative, not capped: suspensions per 100
  pupils can exceed 100; gaps -100 to 100);
- a share's numerator is not above its denominator (entries with `share: true`, with a value);
- drift against the previous release's mart: row counts per level, the number of schools and headline
  national values (Total breakdown) within the configured tolerances; no previous release = pass;
- reconciliation with the DfE's own aggregates: every `mart_reconciliation` row within tolerance or
  explained by suppression (a shortfall no larger than the suppressed school cells could hold).

Keys (one row per key) and relationships (every School row's URN in GIAS) are dbt's tests of the same build
(dbt_project/models/marts/_marts__models.yml); the tolerances are settings (config/settings.yaml `gates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from expectations.runner import Check, GateResult, frames_in_duckdb, merge, run_suite
from indicators import Catalogue, catalogue

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


def catalogue_rules(pairs: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """Per (source, indicator) of the mart: its catalogue range and share flag; `in_catalogue` false when
    the catalogue has no entry for it."""
    rows = []
    for source, indicator in pairs.select("source", "indicator").unique().sort("source", "indicator").iter_rows():
        e = cat.lookup(indicator, source)
        rows.append({"source": source, "indicator": indicator, "in_catalogue": e is not None,
                     "range_min": None if e is None else e.range[0], "range_max": None if e is None else e.range[1],
                     "share": bool(e and e.share)})  # fmt: skip
    schema = {"source": pl.String, "indicator": pl.String, "in_catalogue": pl.Boolean, "range_min": pl.Float64,
              "range_max": pl.Float64, "share": pl.Boolean}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def prepare_mart(mart: pl.DataFrame, cat: Catalogue | None = None) -> pl.DataFrame:
    """The columns the checks read: the value outside its catalogue range, a share's numerator minus its
    denominator, an indicator the catalogue does not know."""
    rules = catalogue_rules(mart, cat or catalogue())
    # each row's rules looked up by its (source, indicator), not joined: a join would copy every column of a
    # national mart; a lookup adds only the new columns beside the mart's own
    key = pl.concat_str("source", "indicator", separator="\x1f")
    keys = rules.select(key.alias("key"), pl.exclude("source", "indicator"))

    def rule(name: str, dtype: pl.DataType) -> pl.Expr:
        return key.replace_strict(keys["key"], keys[name], default=None, return_dtype=dtype)

    mart = mart.with_columns(rule("range_min", pl.Float64).alias("range_min"),
                             rule("range_max", pl.Float64).alias("range_max"),
                             rule("share", pl.Boolean).alias("share"),
                             rule("in_catalogue", pl.Boolean).alias("in_catalogue"))
    value = pl.col("value")
    outside = (value < pl.col("range_min")).fill_null(False) | (value > pl.col("range_max")).fill_null(False)
    published = pl.col("value_status").is_in(["value", "low_reliability"])
    numbers = pl.col("numerator").is_not_null() & pl.col("denominator").is_not_null()
    # only the columns the checks read go to Great Expectations (pandas objects cost ~5x polars memory)
    return mart.select(
        *ROW,
        "numerator",
        "denominator",
        "value",
        "range_min",
        "range_max",
        pl.when(outside).then(value).alias("value_outside_range"),
        pl.when(pl.col("share") & published & numbers)
        .then(pl.col("numerator") - pl.col("denominator"))
        .alias("numerator_minus_denominator"),
        pl.when(~pl.col("in_catalogue")).then(pl.col("indicator")).alias("indicator_not_in_catalogue"),
    )


def chunk_checks() -> list[Check]:
    """On the mart's chunks (one row per source and period, `chunk_frame`): the whole mart, whatever is
    validated row by row."""
    return [
        Check(
            "mart_not_empty",
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            "mart_indicators has no rows: nothing was loaded (an empty landing folder?) or every row was "
            "quarantined; a release is never empty",
        ),
    ]


def mart_checks() -> list[Check]:
    """On the rows of the chunks validated (`prepare_mart`)."""
    return [
        Check(
            "indicator_in_catalogue",
            "expect_column_values_to_be_null",
            {"column": "indicator_not_in_catalogue"},
            "mart_indicators has an indicator with no entry in the indicator catalogue (indicators/catalogue.yaml): "
            "add its entry, or stop computing it",
            context_columns=ROW,
        ),
        Check(
            "value_within_catalogue_range",
            "expect_column_values_to_be_null",
            {"column": "value_outside_range"},
            "mart_indicators.value lies outside its indicator's range in the catalogue (indicators/catalogue.yaml "
            "`range`): check its numerator and denominator",
            context_columns=(*ROW, "numerator", "denominator", "range_min", "range_max"),
        ),
        Check(
            "numerator_not_above_denominator",
            "expect_column_values_to_be_between",
            {"column": "numerator_minus_denominator", "max_value": 0},
            "mart_indicators: a share's numerator exceeds its denominator (`share: true` in the catalogue): the two "
            "come from different bases",
            context_columns=(*ROW, "numerator", "denominator"),
        ),
    ]


DRIFT_SCHEMA = {"measure": pl.String, "previous": pl.Float64, "current": pl.Float64, "tolerance": pl.Float64}


def drift_frame(
    current: pl.DataFrame,
    previous: pl.DataFrame | pl.LazyFrame | None,
    *,
    row_count_tolerance: float,
    headline_tolerance: float,
) -> pl.DataFrame:
    """`drift_frame_db` on marts in memory (the previous one may be lazy)."""
    with frames_in_duckdb(drift_current=current, drift_previous=previous) as con:
        return drift_frame_db(con, "drift_current", "drift_previous" if previous is not None else None,
                              row_count_tolerance=row_count_tolerance, headline_tolerance=headline_tolerance)


def drift_frame_db(con, current: str, previous: str | None, *, row_count_tolerance: float,
                   headline_tolerance: float) -> pl.DataFrame:
    """One row per compared measure: row counts per level, the number of schools, national Total values per
    period and indicator, each with its tolerance and verdict. Computed by DuckDB over the two marts (relations
    of `con`: the whole current mart and the previous release's, never loaded): a cross-partition rule, judged
    in full on every refresh."""
    if previous is None or con.execute(f"select count(*) from {previous}").fetchall()[0][0] == 0:
        return pl.DataFrame(schema={**DRIFT_SCHEMA, "relative_change": pl.Float64, "within_tolerance": pl.Boolean})

    def schools(rel: str) -> str:
        return f"(select count(distinct geography_code) from {rel} where geographic_level = 'School')::double"

    def national(rel: str) -> str:
        return (f"select time_period, time_identifier, indicator, value from {rel} "
                "where geographic_level = 'National' and breakdown = 'Total' and value is not null")

    both = con.sql(f"""
        with p as (select geographic_level, count(*)::double as n from {previous} group by all),
             c as (select geographic_level, count(*)::double as n from {current} group by all)
        select 0 as part, 'row count ' || geographic_level as measure, coalesce(p.n, 0) as previous,
               coalesce(c.n, 0) as current, {float(row_count_tolerance)} as tolerance
        from p full join c using (geographic_level)
        union all
        select 1, 'schools', {schools(previous)}, {schools(current)}, {float(row_count_tolerance)}
        union all
        select 2, format('national {{}} {{}} {{}}', indicator, time_period, time_identifier), p.value, c.value,
               {float(headline_tolerance)}
        from ({national(previous)}) p join ({national(current)}) c using (time_period, time_identifier, indicator)
        order by part, measure
    """).pl().drop("part").cast(DRIFT_SCHEMA)  # fmt: skip
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
            "the tolerance, and suppression does not explain it (a surplus, or a shortfall above what the "
            "suppressed school cells could hold: gates.suppressed_cell_max each): check the school rows of that "
            "geography",
            context_columns=(
                "geographic_level",
                "geography_code",
                "time_period",
                "publication",
                "measure",
                "ours",
                "theirs",
                "shortfall",
                "school_cells_suppressed",
                "suppression_allowance",
            ),
        )
    ]


def suppressed_cell_max_expr(suppressed_cell_max: Mapping[str, float] | float,
                             publication: str = "publication") -> pl.Expr:
    """The largest count one suppressed school cell of the row's measure can hide: the setting's
    `<publication>.<measure>` entry, else its `default` (config/settings.yaml gates.suppressed_cell_max; a
    bare number is the default for every measure). `publication`: the column naming the publication whose
    school cells were summed."""
    if isinstance(suppressed_cell_max, int | float):
        suppressed_cell_max = {"default": suppressed_cell_max}
    if "default" not in suppressed_cell_max:
        raise ValueError("gates.suppressed_cell_max needs a `default` (config/settings.yaml)")
    per_measure = {k: float(v) for k, v in suppressed_cell_max.items() if k != "default"}
    for key, value in (*per_measure.items(), ("default", float(suppressed_cell_max["default"]))):
        if value < 0:
            raise ValueError(f"gates.suppressed_cell_max.{key} is negative: {value}")
    return (
        pl.concat_str(publication, "measure", separator=".")
        .replace_strict(per_measure, default=float(suppressed_cell_max["default"]), return_dtype=pl.Float64)
    )


def reconciliation_frame(
    reconciliation: pl.DataFrame, *, tolerance: float, suppressed_cell_max: Mapping[str, float] | float
) -> pl.DataFrame:
    """mart_reconciliation with the gate's verdict:
    - `within_tolerance`: |ours - theirs| within `tolerance` as a fraction of |theirs| (null where the DfE
      published no number);
    - `suppression_allowance`: what the suppressed school cells could hold, their number x the largest count
      one can hide (`suppressed_cell_max`, per measure or its default);
    - `explained_by_suppression`: the DfE withheld its aggregate (nothing to compare with), or ours falls short
      of theirs by no more than the allowance (suppression hides counts: it never explains a surplus);
    - `reconciled`: within tolerance or explained by suppression."""
    within = (pl.col("ours") - pl.col("theirs")).abs() <= tolerance * pl.col("theirs").abs()
    # the school cells summed are those of `compared_with` (the exclusions file's, for the by-characteristic rows)
    summed = "compared_with" if "compared_with" in reconciliation.columns else "publication"
    allowance = pl.col("school_cells_suppressed").cast(pl.Float64) * suppressed_cell_max_expr(suppressed_cell_max,
                                                                                              summed)
    shortfall_covered = (pl.col("shortfall") > 0) & (pl.col("shortfall") <= pl.col("suppression_allowance"))
    return (
        reconciliation.with_columns(
            pl.when(pl.col("theirs").is_not_null()).then(within).alias("within_tolerance"),
            allowance.alias("suppression_allowance"),
        )
        .with_columns(
            (pl.col("theirs_withheld").fill_null(False) | shortfall_covered.fill_null(False)).alias(
                "explained_by_suppression"
            )
        )
        .with_columns(
            (pl.col("within_tolerance").fill_null(False) | pl.col("explained_by_suppression")).alias("reconciled")
        )
    )


def absence_coverage_frame(mart: pl.DataFrame, *, min_share: float) -> pl.DataFrame:
    """`absence_coverage_frame_db` on a mart in memory."""
    with frames_in_duckdb(coverage_mart=mart) as con:
        return absence_coverage_frame_db(con, "coverage_mart", min_share=min_share)


def absence_coverage_frame_db(con, mart: str, *, min_share: float) -> pl.DataFrame:
    """Per school and year with both: the absence enrolments (persistent absence's denominator) against the
    census headcount. Enrolments count every pupil on roll during the year, so they are at least about the
    January roll; far fewer (`below_roll`) means the absence file covers a sub-population (pupils aged four,
    one phase) read as the whole school. It pairs two rows of the mart, so DuckDB computes it over the whole
    mart (relation `mart` of `con`: one row per school and year reaches Great Expectations)."""
    return con.sql(f"""
        with school as (select * from {mart} where geographic_level = 'School')
        select a.time_period, a.geography_code, a.denominator as absence_enrolments,
               h.numerator as census_headcount, a.denominator < {float(min_share)} * h.numerator as below_roll
        from school a join school h using (time_period, geography_code)
        where a.indicator = 'persistent_absence_percent' and a.denominator is not null
          and h.indicator = 'pupils_headcount' and h.numerator is not null
        order by a.time_period, a.geography_code
    """).pl()  # fmt: skip


def absence_coverage_checks(min_share: float) -> list[Check]:
    return [
        Check(
            "absence_covers_the_roll",
            "expect_column_values_to_be_in_set",
            {"column": "below_roll", "value_set": [False]},
            f"absence enrolments far below the census headcount (under {min_share:.0%} of it): the absence file "
            "loaded for these schools covers part of their pupils (a sub-population file read as whole-school "
            "absence?): check the file behind them",
            context_columns=("time_period", "geography_code", "absence_enrolments", "census_headcount"),
        )
    ]


# what the mart gate reads of mart_indicators (the key, the figures and their status): at national scale the mart
# is millions of rows, so the gate does not load columns it does not check
MART_COLUMNS = ("time_period", "time_identifier", "geographic_level", "geography_code", "source", "indicator",
                "breakdown", "breakdown_value", "numerator", "denominator", "value", "value_status")
# a mart row's key (dbt's unique_key test on mart_indicators): how a row is matched with the previous release's
KEY_COLUMNS = ("time_period", "time_identifier", "geographic_level", "geography_code", "indicator", "breakdown",
               "breakdown_value")
# what the gate reports its scope by: a source's period
CHUNK = ("source", "time_period")


def changed_rows_query(current: str, previous: str | None) -> str:
    """The rows of `current` (the columns the gate reads) that the row rules must judge: every row, or those
    with no row in `previous` of the same key and the same content. A row is matched by two 64-bit hashes
    computed by DuckDB, of its key and of the columns the gate reads (an anti join on two integers, one pass over
    each mart: 1-2 s on the national mart, where joining on the key's seven columns took 3.4 s). A changed row
    is taken for a published one only if its content hash collides with that of its own key's previous row (one
    chance in 2^64 per changed row), or both hashes with another row's."""
    cols = ", ".join(MART_COLUMNS)
    if previous is None:
        return f"select {cols} from {current}"
    key = ", ".join(KEY_COLUMNS)
    return (f"select {cols} from (select *, hash({key}) as gate_key, hash({cols}) as gate_row from {current}) "
            f"anti join (select hash({key}) as gate_key, hash({cols}) as gate_row from {previous}) "
            "using (gate_key, gate_row)")


def chunk_frame(con, current: str, changed: str) -> pl.DataFrame:
    """One row per source and period of the current mart: its rows, and how many of them the row rules judge
    (`changed`, a relation of `con`)."""
    key = ", ".join(CHUNK)
    return con.sql(f"""
        select {key}, c.rows, coalesce(j.judged, 0) as judged
        from (select {key}, count(*) as rows from {current} group by all) c
        left join (select {key}, count(*) as judged from {changed} group by all) j using ({key})
        order by {key}
    """).pl()  # fmt: skip


def mart_gate(
    mart: pl.DataFrame,
    *,
    previous: pl.DataFrame | pl.LazyFrame | None = None,
    reconciliation: pl.DataFrame | None = None,
    row_count_tolerance: float,
    headline_tolerance: float,
    reconciliation_tolerance: float,
    suppressed_cell_max: Mapping[str, float] | float,
    absence_enrolment_min_share: float,
    carry_over: bool = False,
    data_docs_dir: Path | None = None,
) -> GateResult:
    """The mart gate on marts in memory (`mart_gate_db`); the tolerances are settings (config/settings.yaml
    `gates`), with no default here."""
    with frames_in_duckdb(gate_current=mart, gate_previous=previous) as con:
        return mart_gate_db(
            con, "gate_current", "gate_previous" if previous is not None else None, reconciliation=reconciliation,
            row_count_tolerance=row_count_tolerance, headline_tolerance=headline_tolerance,
            reconciliation_tolerance=reconciliation_tolerance, suppressed_cell_max=suppressed_cell_max,
            absence_enrolment_min_share=absence_enrolment_min_share, carry_over=carry_over,
            data_docs_dir=data_docs_dir)  # fmt: skip


def mart_gate_db(
    con,
    current: str,
    previous: str | None,
    *,
    reconciliation: pl.DataFrame | None,
    row_count_tolerance: float,
    headline_tolerance: float,
    reconciliation_tolerance: float,
    suppressed_cell_max: Mapping[str, float] | float,
    absence_enrolment_min_share: float,
    carry_over: bool,
    scratch: Path | None = None,
    data_docs_dir: Path | None = None,
) -> GateResult:
    """The mart gate on DuckDB relations of `con`: `current` (mart_indicators) and `previous` (the current
    release's, or None).

    What is validated. The rules that cross rows run on the whole mart, in DuckDB: the mart is not empty
    (`chunk_frame`), absence coverage (`absence_coverage_frame_db`), drift against the previous release
    (`drift_frame_db`) and reconciliation (the mart_reconciliation model, whole). The row rules (catalogue, range,
    shares: each reads one row) run on every row, or with `carry_over` only on the rows that differ from the
    previous release's (`changed_rows_query`): that release passed this gate, judged by the same code, catalogue,
    settings and versions (the caller checks that: orchestration/checks.py `carried_over`), and a row rule's
    verdict follows from the row alone. So one new survey export is judged by the rows it changed (its school and
    the aggregates above it), not the national mart. With `scratch`, the rows to judge are written to a Parquet
    file there (DuckDB's Arrow export of a national mart holds it twice)."""
    query = changed_rows_query(current, previous if carry_over else None)
    # the rows to judge written once (a Parquet file in `scratch`, or a temporary table), then counted and read
    path = Path(scratch) / "mart_gate_rows.parquet" if scratch is not None else None
    try:
        if path is not None:
            con.execute(f"copy ({query}) to '{path}' (format parquet)")
            changed = f"read_parquet('{path}')"
        else:
            con.execute(f"create or replace temp table gate_changed_rows as {query}")
            changed = "gate_changed_rows"
        chunks = chunk_frame(con, current, changed)
        mart = pl.read_parquet(path) if path is not None else con.sql(f"select * from {changed}").pl()
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
        else:
            con.execute("drop table if exists gate_changed_rows")
    results = [run_suite("mart_chunks", chunks, chunk_checks(), data_docs_dir=data_docs_dir, table="mart_indicators")]
    if mart.height:
        results.append(run_suite("mart_indicators", prepare_mart(mart), mart_checks(), data_docs_dir=data_docs_dir))
    del mart
    coverage = absence_coverage_frame_db(con, current, min_share=absence_enrolment_min_share)
    if coverage.height:
        results.append(run_suite("mart_absence_coverage", coverage, absence_coverage_checks(absence_enrolment_min_share),
                                 data_docs_dir=data_docs_dir))  # fmt: skip
    drift = drift_frame_db(con, current, previous, row_count_tolerance=row_count_tolerance,
                           headline_tolerance=headline_tolerance)
    if drift.height:
        results.append(run_suite("mart_indicators_drift", drift, drift_checks(), data_docs_dir=data_docs_dir))
    if reconciliation is not None and reconciliation.height:
        rec = reconciliation_frame(
            reconciliation, tolerance=reconciliation_tolerance, suppressed_cell_max=suppressed_cell_max
        )
        results.append(
            run_suite("mart_reconciliation", rec, reconciliation_checks(), data_docs_dir=data_docs_dir)
        )
    result = merge("mart_gates", results)
    if carry_over and previous is not None:
        judged = chunks.filter(pl.col("judged") > 0)
        result.scope = (f"row rules on {chunks['judged'].sum():,} of {chunks['rows'].sum():,} rows, those that "
                        f"changed since the current release (in {judged.height} of {chunks.height} source periods); "
                        "size, absence coverage, drift and reconciliation over the whole mart")
    return result
