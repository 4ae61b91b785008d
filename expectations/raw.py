"""Raw gates: one suite per raw lake table (ingestion/lake_schema.py TABLES), on what one row cannot show.

Row rules (key formats, time periods, geographic levels, symbols) are ingestion's: a reader quarantines the row
that breaks one, naming file, row and rule, so it never reaches the lake. The raw gate checks what no single row
shows:
- no duplicate keys within a source file (two rows the reader mapped to one key);
- volumes: a newer file of a DfE publication and year (a re-issue) or a newer GIAS snapshot does not hold far
  fewer schools than the one before it (`gates.row_count_tolerance`): a truncated download or a file of another
  scope is a failure, not a revision;
- no overlapping files: two files of one DfE publication that hold the same school and year are refused
  together (the gate fails naming both) unless the later one is a re-issue of the earlier (`overlap_frame`).

The re-issue rule. The lake is append-only and dbt takes the latest loaded copy of a row, which is right for a
re-issue (a revised file, a later download) and wrong for a second file of another scope: a sub-population's
file in the whole-school layout (the absence of four-year-olds), or a file of another set of schools, would
silently replace the schools' own figures. Of two files holding a school (matched by URN or by LAESTAB) in a
year, the later-loaded one is a re-issue of the earlier when
  1. it has the same file name (the last part of its landing path, case ignored): a later download of the same
     file, into the same folder or a dated one; or
  2. it holds exactly the same schools as the earlier in every year both hold School rows for: the same scope,
     revised (a renamed file with corrected counts; it may add years the earlier does not have).
Anything else is a conflict; which file holds the schools' own figures is not the gate's to pick. Only School
rows are compared: aggregate rows of two files of one publication may legitimately coincide (the
exclusions-by-characteristic file's Total rows are the publication's National rows). Keys alone cannot tell a
file of another scope that holds exactly the same schools from a revision: telling such a file apart is the
reader's (ingestion/registry.yaml: whole-school absence needs the authorised/unauthorised split, which the
absence of four-year-olds never has).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expectations.runner import Check, GateResult, frames_in_duckdb, merge, run_suite

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
    # in-year attendance: a year's weeks and its year to date are rows of one academic year
    "dfe_attendance": [*DFE_KEYS, "time_identifier"],
    "dfe_exclusions_characteristics": [*DFE_KEYS, "characteristic_group", "characteristic"],
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


def _overlap(table: str) -> Check:
    return Check(
        "no_overlapping_files",
        "expect_column_values_to_be_in_set",
        {"column": "conflict", "value_set": [False]},
        f"{table}: two files of one publication hold the same school and year, and the later one is not a re-issue "
        "of the earlier (a re-issue has the same file name, or exactly the same schools in every year both hold): "
        "a sub-population or a file of another scope, whose rows would replace the schools' own; nothing from "
        "either is published. Keep the schools' whole file: take the other out of landing/ and its rows out of "
        f"the lake (lake/raw/{table}/<sha256>-*.parquet and lake/raw/file_loads/<sha256>.parquet)",
        context_columns=("file", "file_sha256", "other_file", "other_sha256", "periods", "school_years_shared",
                         "example"),
    )  # fmt: skip


def raw_checks(table: str) -> list[Check]:
    checks = [_unique(table)]
    if table.startswith("dfe_") or table == "gias_establishments":
        checks.append(_volume(table))
    if table.startswith("dfe_"):
        checks.append(_overlap(table))
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


OVERLAP_SCHEMA = {"file": pl.String, "file_sha256": pl.String, "other_file": pl.String, "other_sha256": pl.String,
                  "periods": pl.String, "school_years_shared": pl.Int64, "example": pl.String,
                  "same_name": pl.Boolean, "same_schools": pl.Boolean, "conflict": pl.Boolean}  # fmt: skip


def overlap_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per pair of source files of a DfE table that hold a school (same URN, or same LAESTAB) in the same
    year: the later-loaded `file` and the earlier `other_file`, the years and school-years they share, an
    example, whether the later one is a re-issue (`same_name`, `same_schools`: see the module docstring) and
    `conflict` when it is neither."""
    schools = frame.filter(pl.col("geographic_level") == "School")
    if schools.height == 0 or schools.get_column("_source_sha256").n_unique() < 2:
        return pl.DataFrame(schema=OVERLAP_SCHEMA)
    files = schools.group_by("_source_sha256").agg(
        pl.col("_source_file").first().alias("file"), pl.col("_loaded_at").min().alias("loaded_at"))  # fmt: skip
    # each distinct school of a file and year, by whatever identifiers its row carries
    ids = (
        schools.select("_source_sha256", "time_period", "school_urn", "school_laestab")
        .unique()
        .with_row_index("sid")
    )

    def matched(col: str) -> pl.DataFrame:
        side = ids.filter(pl.col(col).is_not_null()).select("_source_sha256", "time_period", col, "sid")
        return (
            side.join(side, on=["time_period", col], suffix="_b")
            .filter(pl.col("_source_sha256") < pl.col("_source_sha256_b"))
            .select("_source_sha256", "_source_sha256_b", "time_period", "sid", "sid_b")
        )

    pairs = pl.concat([matched("school_urn"), matched("school_laestab")]).unique()
    if pairs.height == 0:
        return pl.DataFrame(schema=OVERLAP_SCHEMA)
    pair = ["_source_sha256", "_source_sha256_b"]
    shared = pairs.group_by(*pair, "time_period").agg(
        pl.col("sid").n_unique().alias("shared"), pl.col("sid_b").n_unique().alias("shared_b"))  # fmt: skip
    held = ids.group_by("_source_sha256", "time_period").agg(pl.len().alias("n"))
    # every year both files of an overlapping pair hold School rows for, shared schools or not
    years = (
        pairs.select(pair).unique()
        .join(held, on="_source_sha256")
        .join(held.rename({"_source_sha256": "_source_sha256_b", "n": "n_b"}), on=["_source_sha256_b", "time_period"])
        .join(shared, on=[*pair, "time_period"], how="left")
        .with_columns(pl.col("shared", "shared_b").fill_null(0))
    )  # fmt: skip
    same_year = (pl.col("shared") == pl.col("n")) & (pl.col("shared_b") == pl.col("n_b"))
    summary = years.group_by(pair).agg(
        pl.col("time_period").filter(pl.col("shared") > 0).sort().cast(pl.String).str.join(", ").alias("periods"),
        pl.col("shared").sum().cast(pl.Int64).alias("school_years_shared"),
        same_year.all().alias("same_schools"),
    )
    # orient each pair: `file` is the later-loaded one (ties: the larger sha256, as dbt's latest-load-wins)
    info_a = files.rename({"file": "file_a", "loaded_at": "at_a"})
    info_b = files.rename({"_source_sha256": "_source_sha256_b", "file": "file_b", "loaded_at": "at_b"})
    summary = summary.join(info_a, on="_source_sha256").join(info_b, on="_source_sha256_b")
    b_later = pl.col("at_b") >= pl.col("at_a")
    later_sid = pl.when(b_later).then(pl.col("sid_b")).otherwise(pl.col("sid"))
    example = (
        pairs.join(summary.select(*pair, "at_a", "at_b"), on=pair)
        .sort("time_period", "sid", "sid_b")
        .group_by(pair, maintain_order=True)
        .first()
        .with_columns(later_sid.alias("sid"))
        .drop("time_period")
        .join(ids.select("sid", "time_period", "school_urn", "school_laestab"), on="sid")
        .select(*pair, pl.format("{} in {}", pl.coalesce("school_urn", "school_laestab"), "time_period")
                .alias("example"))
    )  # fmt: skip
    name = lambda c: pl.col(c).str.split("/").list.last().str.to_lowercase()  # noqa: E731
    out = summary.join(example, on=pair).select(
        pl.when(b_later).then("file_b").otherwise("file_a").alias("file"),
        pl.when(b_later).then("_source_sha256_b").otherwise("_source_sha256").alias("file_sha256"),
        pl.when(b_later).then("file_a").otherwise("file_b").alias("other_file"),
        pl.when(b_later).then("_source_sha256").otherwise("_source_sha256_b").alias("other_sha256"),
        "periods", "school_years_shared", "example",
        (name("file_a") == name("file_b")).alias("same_name"),
        "same_schools",
    )  # fmt: skip
    out = out.with_columns((~(pl.col("same_name") | pl.col("same_schools"))).alias("conflict"))
    return out.select([pl.col(c).cast(t) for c, t in OVERLAP_SCHEMA.items()]).sort("file", "other_file")


def checked_columns(checks: list[Check]) -> list[str]:
    """The columns a list of checks reads (their column, column list and context columns), in order."""
    cols: list[str] = []
    for check in checks:
        for col in (check.kwargs.get("column"), *check.kwargs.get("column_list", ()), *check.context_columns):
            if col and col not in cols:
                cols.append(col)
    return cols


def duplicate_rows(con, relation: str, table: str) -> pl.DataFrame:
    """The rows of `relation` whose key occurs more than once within their source file (usually none), with
    the columns the check reads: what Great Expectations is given to judge, instead of every row."""
    keys = ", ".join(KEYS[table])
    have = con.sql(f"select * from {relation} limit 0").columns
    cols = [c for c in checked_columns([_unique(table)]) if c in have]
    order = ", ".join([*KEYS[table], *(["row_number"] if "row_number" in have else [])])
    return con.sql(
        f"select {', '.join(cols)} from {relation} qualify count(*) over (partition by {keys}) > 1 order by {order}"
    ).pl()


def _gate(table: str, con, new: str, every: str, *, row_count_tolerance: float, data_docs_dir: Path | None
          ) -> GateResult:
    """The raw gate on DuckDB relations: `new` (the rows to check for duplicate keys) and `every` (all the
    table's rows, for volumes and overlaps across files). DuckDB narrows each check to a frame Great
    Expectations can hold (candidate duplicate rows; one row per file and period; one per pair of files) and
    GX judges it, writing the Data Docs."""
    checks = raw_checks(table)
    unique = [c for c in checks if c.name == "no_duplicate_keys"]
    results = [run_suite(f"raw_{table}", duplicate_rows(con, new, table), unique, data_docs_dir=data_docs_dir,
                         table=table)]
    volume = [c for c in checks if c.name == "no_collapsed_volume"]
    overlap = [c for c in checks if c.name == "no_overlapping_files"]
    if volume or overlap:
        cols = ["_source_file", "_source_sha256", "_loaded_at",
                *(["urn"] if table == "gias_establishments" else
                  ["time_period", "geographic_level", "school_urn", "school_laestab"])]
        frame = con.sql(f"select {', '.join(cols)} from {every}").pl()
        if volume:
            frame_v = volume_frame(table, frame, row_count_tolerance=row_count_tolerance)
            results.append(run_suite(f"raw_{table}_volume", frame_v, volume, data_docs_dir=data_docs_dir,
                                     table=table))
        if overlap:
            results.append(run_suite(f"raw_{table}_overlap", overlap_frame(frame), overlap,
                                     data_docs_dir=data_docs_dir, table=table))
    return merge(f"raw_{table}", results)


def raw_gate(table: str, frame: pl.DataFrame, *, row_count_tolerance: float, data_docs_dir: Path | None = None
             ) -> GateResult:
    """The raw gate of one lake table's rows in memory (every row new); the tolerance is a setting
    (config/settings.yaml gates), no default here."""
    with frames_in_duckdb(raw_rows=frame) as con:
        return _gate(table, con, "raw_rows", "raw_rows", row_count_tolerance=row_count_tolerance,
                     data_docs_dir=data_docs_dir)


def lake_files(table_dir: Path, sha256s: set[str] | None = None) -> list[str]:
    """A lake table's Parquet files (`<sha256>.parquet` or `<sha256>-<part>.parquet`; not the empty schema
    file), only those of `sha256s` when given, sorted."""
    files = []
    for path in sorted(Path(table_dir).glob("*.parquet")):
        sha = path.stem.split("-")[0]
        if not path.name.startswith("_") and (sha256s is None or sha in sha256s):
            files.append(str(path))
    return files


def raw_gate_lake(table: str, table_dir: Path, con, *, checked: set[str] | None, row_count_tolerance: float,
                  data_docs_dir: Path | None = None) -> GateResult:
    """The raw gate of a lake table as a refresh runs it: duplicate keys in the files not yet checked (those
    whose sha256 is not in `checked`, the inputs of the current release; `checked=None` checks every file),
    volumes and overlaps across all the table's files when any file is new. Nothing new: nothing to check."""
    every = lake_files(table_dir)
    new = every if checked is None else [f for f in every if Path(f).stem.split("-")[0] not in checked]
    if not new:  # passes at once: Great Expectations is not even imported
        return GateResult(f"raw_{table}", True, [], 0,
                          scope=f"nothing new: all {len(every)} lake files passed the current release's gates")

    def relation(files: list[str]) -> str:
        return f"read_parquet({files!r}, union_by_name = true)"

    result = _gate(table, con, relation(new), relation(every), row_count_tolerance=row_count_tolerance,
                   data_docs_dir=data_docs_dir)
    if checked is not None:
        result.scope = (f"{len(new)} new of {len(every)} lake files checked for duplicate keys"
                        + (", volumes and overlaps across all of them" if len(raw_checks(table)) > 1 else "")
                        + "; the others passed the current release's gates")
    return result
