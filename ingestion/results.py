"""What every reader returns: rows for the lake, rows for quarantine, and a summary a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ingestion.lake_schema import QUARANTINE


class UnknownFormat(Exception):
    """A readable file whose publication, vintage or tool the registry cannot place.

    The message is one line naming the file and the columns that could not be placed.
    """

    rule = "unknown_format"


class FileRefused(UnknownFormat):
    """A recognised file refused whole by a rule about all its rows (e.g. a breakdown with no `Total` level).

    The message is one line naming the file, the rule and what broke it; `rule` is the quarantine rule id.
    """

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule


@dataclass
class ReadResult:
    # lake table name -> rows (declared columns of ingestion.lake_schema, without provenance)
    tables: dict[str, pl.DataFrame]
    # rows that broke a rule: columns row_number, column, value, rule, reason
    quarantine: pl.DataFrame
    source_kind: str  # dfe | gias_establishments | gias_links | survey
    publication: str  # exclusions | absence | census | sen | gias | <survey tool>
    vintage: str
    encoding: str
    rows_read: int
    # responses or rows excluded by rule but not quarantined (survey previews, duplicates, ...): reason -> n
    exclusions: dict[str, int] = field(default_factory=dict)
    # anything a person wants to see in `belonging validate` (rows per level, symbols found, PII dropped)
    summary: dict = field(default_factory=dict)

    @property
    def rows_loaded(self) -> int:
        main = [t for t in self.tables if t not in ("survey_answers", "survey_items")]
        return sum(self.tables[t].height for t in main)


def quarantine_frame(rows: list[dict]) -> pl.DataFrame:
    """Build quarantine rows from dicts with keys row_number, column, value, rule, reason."""
    schema = {k: v for k, v in QUARANTINE.items() if not k.startswith("_")}
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema)


def quarantine_where(
    frame: pl.DataFrame, mask: pl.Expr, column: str, value: pl.Expr, rule: str, why: str, name: str
) -> pl.DataFrame | None:
    """Quarantine rows of `frame` (which has `row_number`) where `mask` holds; None when none do.

    Each row's reason reads `<name> row <n>: <why> (value '<value>', rule <rule>)`.
    """
    hit = frame.filter(mask.fill_null(False))
    if hit.height == 0:
        return None
    return hit.select(
        pl.col("row_number"),
        pl.lit(column).alias("column"),
        value.cast(pl.String).alias("value"),
        pl.lit(rule).alias("rule"),
        pl.concat_str(
            [
                pl.lit(f"{name} row "),
                pl.col("row_number").cast(pl.String),
                pl.lit(f": {why} (value '"),
                value.cast(pl.String).fill_null(""),
                pl.lit(f"', rule {rule})"),
            ]
        ).alias("reason"),
    )


def concat_quarantine(parts: list[pl.DataFrame | None]) -> pl.DataFrame:
    """One quarantine frame from the parts `quarantine_where` returned (None skipped), in row order."""
    frames = [f for f in parts if f is not None]
    if not frames:
        return quarantine_frame([])
    return pl.concat(frames).sort("row_number", maintain_order=True)


def quarantine_duplicates(frame: pl.DataFrame, keys: list[str], name: str, label: str) -> pl.DataFrame | None:
    """Rows of `frame` (which has `row_number`) whose `keys` repeat within the file: a copy identical to an
    earlier row is quarantined (`duplicate_row`; the first loads), and every row of a key whose rows differ is
    quarantined (`duplicate_key`: which one is right is not guessed). None when no key repeats. So a file with
    duplicates is answered row by row at reading, instead of failing the raw gate of every later refresh."""
    keys = [k for k in keys if k in frame.columns]
    repeated = pl.len().over(keys) > 1
    if not keys or not frame.select(repeated.any()).item():
        return None
    values = [c for c in frame.columns if c != "row_number"]
    dup = frame.filter(repeated).with_columns(
        (pl.struct(values).n_unique().over(keys) > 1).alias("_differ"),
        pl.struct(values).is_first_distinct().alias("_first"),
        pl.col("row_number").min().over(keys).alias("_first_row"),
    )
    key_text = pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys], separator="|")
    return concat_quarantine([
        quarantine_where(dup, pl.col("_differ"), label, key_text, "duplicate_key",
                         f"another row of this file has the same {label} with different values: which one is "
                         "right is not guessed", name),
        quarantine_where(dup, ~pl.col("_differ") & ~pl.col("_first"), label, key_text, "duplicate_row",
                         f"a copy of an earlier row with the same {label} (that one loads)", name),
    ])
