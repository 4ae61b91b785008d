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
