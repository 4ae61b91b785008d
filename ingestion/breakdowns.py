"""Breakdowns: rows that split by a filter the registry does not map are not totals.

The project's rule: a column you don't know is a question, not noise; a file whose rows split by a filter you
don't map is a breakdown, not totals. The EES reader (`ingestion/ees.py`) asks this module, for every file it
recognises, which of the columns it does not map split the rows, and keeps only the rows that are totals.

A column is a **breakdown** (a filter of the file) when the registry does not map it and either
- the file's companion `<name>.meta.csv` declares it (`col_type` Filter), or
- it is a text column (a cell holding a letter that is not a symbol of the vintage) whose values differ between
  rows of one geography and year: rows that share time period, time identifier, geographic level, every
  geography column of the file (of any EES level: codes and names) and the mapped phase.
A column the registry maps (geography, phase, measures) is never a breakdown. Numeric columns are measures,
and a column that never varies within a geography and year (a school's academy type or opening date) is an
attribute of the row, so without a meta file neither is a breakdown.

What happens to a breakdown:
- Its `Total` level (the exact word, case ignored) is the total. When every geography × year × phase has a row
  that is `Total` in every breakdown column, those rows load; the others are counted, not loaded
  (`ReadResult.exclusions["breakdown_rows"]`, recorded in `file_loads`).
- Otherwise the whole file is refused (`FileRefused`, rule `breakdown_without_total`): one line naming the
  column, the first geography and year without a Total (with its row numbers) and a few of the column's values.
  A filter the meta file declares whose only level is a sub-population (every row `FSM eligible`, an age,
  `Reception`) is refused this way even though no two rows differ.

**Nested filters: the exclusions-by-characteristic file.** Its meta file declares `characteristic` a filter
grouped by `characteristic_group` (`filter_grouping_column`). In the real file (EES test data, 4,586 national
rows, 2011/12 to 2016/17) no group but `Total` has a `Total` characteristic: the Gender group holds `Gender
male` and `Gender female` only, and its total is the file's overall `Total`/`Total` row (2016/17, all school
types: 4,090,410 + 3,934,665 = 8,025,075 pupils, the Total row's headcount). Labels such as `Ethnicity Major
White Total` are sub-totals inside a group, not the total, so only the exact level counts. A nested filter's
total is therefore the row whose characteristic is `Total` (its group is `Total` too), and a grouping column
the meta file names is judged through its filter, not on its own. The real file has one such row per year and
school type (24 rows), and they equal the National rows of the publication's geographic-level file in every
count: taking them as totals is right, and the other 4,562 rows are breakdowns. Without the meta file both
columns split the rows and are breakdowns each; their `Total` rows are the same 24.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingestion.files import UnreadableFile, read_text
from ingestion.results import FileRefused

RULE = "breakdown_without_total"
TOTAL = "total"
MAX_VALUES = 3  # values of a breakdown named in a refusal
MAX_ROWS = 3  # row numbers named in a refusal

# The geography columns of every EES geographic level (the DfE screener's observational units, plus the older
# spellings the registry meets): they identify a row's place, so they are part of the key, never a breakdown.
GEOGRAPHY_COLUMNS = frozenset({
    "country_code", "country_name", "region_code", "region_name", "old_la_code", "new_la_code", "la_name",
    "rsc_region_lead_name", "pcon_code", "pcon_name", "parl_con_code", "parl_con_name", "parlc_code", "parlc_name",
    "lad_code", "lad_name", "local_enterprise_partnership_code", "local_enterprise_partnership_name",
    "mayoral_combined_authority_code", "mayoral_combined_authority_name", "opportunity_area_code",
    "opportunity_area_name", "ward_code", "ward_name", "trust_id", "trust_name", "sponsor_id", "sponsor_name",
    "school_laestab", "school_name", "school_urn", "school_estab", "school_postcode", "urn", "laestab", "estab",
    "provider_urn", "provider_name", "provider_ukprn", "provider_upin", "institution_id", "institution_name",
    "planning_area_code", "planning_area_name", "english_devolved_area_code", "english_devolved_area_name",
    "lsip_code", "lsip_name", "pfa_code", "pfa_name",
})  # fmt: skip


def _key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


@dataclass(frozen=True)
class MetaFilters:
    name: str  # the meta file's name
    filters: dict[str, str | None]  # filter column (matched as _key) -> its grouping column (_key) or None


def meta_path(path: Path) -> Path:
    """`<name>.meta.csv` beside `<name>.csv` (the EES convention)."""
    stem = path.name[:-4] if path.name.lower().endswith(".csv") else path.name
    return path.with_name(f"{stem}.meta.csv")


def read_meta(path: Path) -> tuple[MetaFilters | None, str | None]:
    """The filters a data file's companion meta file declares, or None with why not (None when it has none).

    Only a regular file is opened (never through a symbolic link, never a FIFO): the meta file sits in landing/."""
    meta = meta_path(Path(path))
    try:
        mode = os.lstat(meta).st_mode
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{meta.name} not read: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return None, f"{meta.name} not read: not a regular file"
    try:
        text = read_text(meta).text
    except UnreadableFile as exc:
        return None, f"{meta.name} not read: {exc.reason}"
    try:
        reader = csv.DictReader(io.StringIO(text))
        fields = {_key(f): f for f in reader.fieldnames or [] if f}
        if "col_name" not in fields or "col_type" not in fields:
            return None, f"{meta.name} not read: no col_name and col_type columns"
        filters: dict[str, str | None] = {}
        for row in reader:
            if _key(row.get(fields["col_type"]) or "") == "filter":
                group = _key(row.get(fields.get("filter_grouping_column", ""), "") or "")
                filters[_key(row.get(fields["col_name"]) or "")] = group or None
    except csv.Error as exc:
        return None, f"{meta.name} not read: {exc}"
    return MetaFilters(meta.name, filters), None


@dataclass(frozen=True)
class Totals:
    keep: pl.Series  # Boolean, one per row: the row is a total
    columns: list[str]  # the breakdown columns, in header order
    grouped_by: dict[str, str]  # declared filter -> its grouping column (as in the header)
    declared_in: str | None  # the meta file that declared filters, if any did

    @property
    def used(self) -> set[str]:
        """The columns this selection read: the breakdowns and their grouping columns."""
        return {*self.columns, *self.grouped_by.values()}

    @property
    def rows_total(self) -> int:
        return int(self.keep.sum())

    @property
    def rows_left_out(self) -> int:
        return self.keep.len() - self.rows_total

    def summary(self) -> dict:
        return {"columns": self.columns, "grouped_by": self.grouped_by, "declared_in": self.declared_in,
                "rows_total": self.rows_total, "rows_left_out": self.rows_left_out}  # fmt: skip


def _cell(col: str) -> pl.Expr:
    s = pl.col(col).str.strip_chars()
    return pl.when(s != "").then(s)


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:MAX_ROWS])
    more = ", ..." if len(numbers) > MAX_ROWS else ""
    return f"row {shown}" if len(numbers) == 1 else f"rows {shown}{more}"


def select_totals(
    raw: pl.DataFrame,
    keys: pl.DataFrame,
    mapped: set[str],
    symbols: dict[str, str],
    meta: MetaFilters | None,
    name: str,
) -> Totals | None:
    """The rows of a file that are totals, or None when no column splits its rows.

    `raw`: the file's cells as strings; `keys`: the same rows' `row_number` and the mapped key columns (time
    period, time identifier, level, geography codes, phase); `mapped`: the source columns the registry maps.
    Raises FileRefused (rule `breakdown_without_total`) when a breakdown has no Total for some geography and year.
    """
    geography = [c for c in raw.columns if c not in mapped and _key(c) in GEOGRAPHY_COLUMNS]
    candidates = [c for c in raw.columns if c not in mapped and c not in geography]
    if not candidates and meta is None:
        return None
    by_key = {_key(c): c for c in candidates}
    declared = [c for c in candidates if meta is not None and _key(c) in meta.filters]
    grouped_by = {}
    for c in declared:
        group = by_key.get(meta.filters[_key(c)] or "")  # type: ignore[union-attr]
        if group is not None and group not in declared:
            grouped_by[c] = group
    others = [c for c in candidates if c not in declared and c not in grouped_by.values()]
    cells = raw.select([_cell(c).alias(c) for c in (*declared, *others, *geography)])
    lowered = list(symbols)
    texts = cells.select([
        (pl.col(c).str.contains("[A-Za-z]") & ~pl.col(c).str.to_lowercase().is_in(lowered)).any().alias(c)
        for c in others
    ]).row(0, named=True) if others else {}  # fmt: skip
    texts = [c for c in others if texts[c]]
    frame = pl.concat([keys, cells], how="horizontal")
    group = [c for c in keys.columns if c != "row_number"] + geography
    split: list[str] = []
    if texts:
        spread = frame.group_by(group).agg([pl.col(c).n_unique() for c in texts])
        split = [c for c in texts if spread.get_column(c).max() > 1]
    columns = [c for c in raw.columns if c in declared or c in split]
    if not columns:
        return None
    is_total = {c: (pl.col(c).str.to_lowercase() == TOTAL).fill_null(False) for c in columns}
    every = pl.all_horizontal(list(is_total.values()))
    per_group = frame.group_by(group, maintain_order=True).agg(
        *[t.any().alias(f"_total_{i}") for i, t in enumerate(is_total.values())],
        every.any().alias("_total_all"),
        pl.col("row_number").head(MAX_ROWS + 1).alias("_rows"),
    )
    for i, c in enumerate(columns):
        missing = per_group.filter(~pl.col(f"_total_{i}"))
        if missing.height:
            raise FileRefused(_refusal(name, c, cells, missing, group, meta, grouped_by), RULE)
    missing = per_group.filter(~pl.col("_total_all"))
    if missing.height:
        listed = ", ".join(repr(c) for c in columns)
        raise FileRefused(
            f"{name}: no row is 'Total' in every one of {listed} for {_where(missing, group)}: each has a Total "
            f"level but never together, so no row is the total; a breakdown is not totals, so the whole file is "
            f"refused (rule {RULE})",
            RULE,
        )
    keep = frame.select(every.alias("keep")).get_column("keep")
    return Totals(keep, columns, grouped_by, meta.name if declared and meta is not None else None)


def _where(missing: pl.DataFrame, group: list[str]) -> str:
    first = missing.row(0, named=True)
    place = " ".join(str(first[c]) for c in group if c != "time_identifier" and first[c] is not None)
    return f"{place} ({_rows(first['_rows'])})"


def _refusal(name, column, cells, missing, group, meta, grouped_by) -> str:
    values = (cells.get_column(column).drop_nulls().filter(cells.get_column(column).drop_nulls().str.to_lowercase()
              != TOTAL).unique(maintain_order=True).to_list())  # fmt: skip
    shown = ", ".join(repr(v) for v in values[:MAX_VALUES]) + (", ..." if len(values) > MAX_VALUES else "")
    if meta is not None and _key(column) in meta.filters:
        origin = f"a Filter in {meta.name}" + (
            f", grouped by {grouped_by[column]!r}" if column in grouped_by else ""
        )
    else:
        origin = "its values differ between rows of one geography and year"
    return (
        f"{name}: rows split by {column!r} ({origin}), a column ingestion/registry.yaml does not map, with no "
        f"'Total' for {_where(missing, group)}; values {shown} ({len(values)} in all): a breakdown is not "
        f"totals, so the whole file is refused (rule {RULE})"
    )
