"""Weeks of "Pupil attendance in schools" (the DfE's fortnightly in-year attendance, from daily registers).

The weekly file publishes each week as time_period `2025` (the calendar year) with time_identifier `Week 37` (the
ISO week); the year-to-date file publishes the academic year (`202526`, `Academic year`). The lake keeps every row
under its academic year (the lake's partitions, ingestion/lake.py) and the week beside it (`week_year`,
`week_number`, `week_commencing`, ingestion/lake_schema.py DFE_ATTRIBUTES), so that a week of September 2025
and the year to date of 2025/26 sit in the same year. A week belongs to the academic year its Thursday falls in
(1 September to 31 August). A `Week N` row whose time_period is not a year of four digits, or whose N is no ISO
week of that year, keeps what it published and is quarantined by the reader's time_period rule (ingestion/ees.py).
"""

from __future__ import annotations

import polars as pl

WEEK_IDENTIFIER = r"(?i)^week\s*(\d{1,2})$"


def week_label(number: int) -> str:
    """The time_identifier of ISO week `number` as the DfE writes it (`Week 37`)."""
    return f"Week {number}"


def week_commencing(year: pl.Expr, week: pl.Expr) -> pl.Expr:
    """The Monday of ISO week `week` of `year` (the week holding 4 January is week 1)."""
    jan4 = pl.date(year, 1, 4)
    monday1 = jan4 - pl.duration(days=jan4.dt.weekday() - 1)
    return monday1 + pl.duration(weeks=week - 1)


def academic_year_of(day: pl.Expr) -> pl.Expr:
    """The academic year (YYYYYY, 1 September to 31 August) a date falls in."""
    first = pl.when(day.dt.month() >= 9).then(day.dt.year()).otherwise(day.dt.year() - 1)
    return (first * 100 + (first + 1) % 100).cast(pl.Int32)


def weeks_in_academic_years(out: pl.DataFrame) -> pl.DataFrame:
    """Rows of a placed EES frame (`_time_period_raw`, `time_identifier`) with every valid `Week N` row's
    time_period turned into its academic year, its time_identifier written `Week N`, and `week_year`,
    `week_number` and `week_commencing` set (null on other rows)."""
    ident = pl.col("time_identifier")
    number = ident.str.extract(WEEK_IDENTIFIER, 1).cast(pl.Int32, strict=False)
    raw = pl.col("_time_period_raw")
    year = pl.when(raw.str.contains(r"^\d{4}$")).then(raw.cast(pl.Int32, strict=False))
    monday = week_commencing(year, number)
    valid = (
        number.is_between(1, 53)
        & year.is_not_null()
        & (monday.dt.iso_year() == year)
        & (monday.dt.week() == number)
    ).fill_null(False)
    thursday = monday + pl.duration(days=3)
    return out.with_columns(
        pl.when(valid).then(academic_year_of(thursday).cast(pl.String)).otherwise(raw).alias("_time_period_raw"),
        pl.when(number.is_not_null()).then(pl.format("Week {}", number)).otherwise(ident).alias("time_identifier"),
        pl.when(valid).then(year).alias("week_year"),
        pl.when(valid).then(number).alias("week_number"),
        pl.when(valid).then(monday).alias("week_commencing"),
    )
