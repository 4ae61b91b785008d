"""Disclosure control for survey-derived figures, in one place.

Input: rows of `mart_indicators` (docs/ARCHITECTURE.md "Marts"). Output: the same rows with a
`published_status` column. Survey rows (`source != 'admin'`) get `suppressed` or keep their own status
(normally `value`); admin rows keep the DfE's own `value_status` (never re-suppressed).

Rules (spec/publication.md "Disclosure control"), applied until nothing changes:
1. Primary: a row based on fewer than `min_respondents` respondents; a trust, LA, regional or national
   row with fewer than `min_schools` schools with responses.
2. Cell: every figure of one cell (time, geography, instrument, breakdown value) follows the cell. When a
   cell-level figure (respondents, score mean, positive share, response rate) is suppressed, so are all the
   cell's figures, item agree percentages included.
3. Secondary within a breakdown: where a breakdown's subgroups add up to a shown Total and exactly one
   subgroup is suppressed, the next-smallest subgroup is suppressed too (the Total if there is none).
4. Secondary across levels: a shown trust, LA, region or nation figure whose children (schools of the
   trust, schools of the LA, LAs of the region, regions of the nation) include exactly one suppressed child
   gets its next-smallest child suppressed (the parent itself if there is none), so neither respondents nor
   score sums can be recovered by subtraction. Schools in a parent but in none of its aggregate children (an
   independent school with no region counts in England and in no region; a school with a region and no LA)
   are one more child of it, the remainder: England minus its regions is what they add up to. The remainder
   is never published, so it counts as suppressed unless every one of its schools is shown (then a reader
   can add them up anyway); it is never the child picked, since there is no row of it to suppress.
5. Gaps follow the subgroup means they are built from (both shown, or the gap is not).

Which figure follows which rule is its disclosure class in the indicator catalogue (indicators/catalogue.yaml):
`survey_cell` figures describe the whole cell (rule 2), `survey_figure` figures follow their cell, `survey_gap`
figures follow their `gap_of` subgroup means (rule 5), `admin` figures are the DfE's own.

With `mask=True` (the default) the numbers of a suppressed row (value, CI, numerator, denominator,
respondents) are set to null, so the returned frame is safe to publish as it is.

No rule crosses a time period or a source (every grouping above holds both), so a mart can be controlled one
source and period at a time with the same result (orchestration/assets/publication.py does, to bound memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from indicators import Catalogue, catalogue

CELL = [
    "time_period",
    "time_identifier",
    "geographic_level",
    "geography_code",
    "source",
    "breakdown",
    "breakdown_value",
]
SHOWN = ("value", "low_reliability")  # statuses whose number an extract shows
MASKED = ("value", "ci_lower", "ci_upper", "numerator", "denominator", "respondents")
GEOGRAPHY_KEYS = ("trust_id", "new_la_code", "region_code", "country_code")  # a row's parents (HIERARCHY)
# every column the rules read: a status can be decided on these alone and joined back (mask_suppressed)
RULE_COLUMNS = (*CELL, "indicator", *GEOGRAPHY_KEYS, "value_status", "respondents", "schools_included")

# child level -> (parent level, column on the child row holding the parent's geography_code)
HIERARCHY = (
    ("School", "MAT", "trust_id"),
    ("School", "Local authority", "new_la_code"),
    ("Local authority", "Regional", "region_code"),
    ("Regional", "National", "country_code"),
)
AGGREGATE_LEVELS = ("MAT", "Local authority", "Regional", "National")
# (child level, parent level) -> (the School row's column holding the parent, the one holding the child): the
# schools of a parent in none of its aggregate children, its remainder (rule 4)
REMAINDER = {
    ("Local authority", "Regional"): ("region_code", "new_la_code"),
    ("Regional", "National"): ("country_code", "region_code"),
}
# a breakdown's subgroups and its Total share these; a parent and its children share these
BREAKDOWN_BASE = [
    "time_period",
    "time_identifier",
    "geographic_level",
    "geography_code",
    "source",
    "indicator",
]
ID_BITS = 63  # a grouping id is a signed 64-bit number (_with_ids)
LEVEL_CELL = ["time_period", "time_identifier", "source", "indicator", "breakdown", "breakdown_value"]

_MAX_ROUNDS = 100


def apply_disclosure_control(
    indicators: pl.DataFrame,
    *,
    min_respondents: int,
    min_schools: int,
    mask: bool = True,
) -> pl.DataFrame:
    """Return `indicators` with `published_status` (see the module docstring for the rules). The thresholds
    are settings (config/settings.yaml `disclosure`), with no default here."""
    missing = [c for c in (*CELL, "indicator", "value_status", "respondents") if c not in indicators.columns]
    if missing:
        raise ValueError(f"mart_indicators: apply_disclosure_control needs columns {missing}")
    frame = indicators.with_row_index("_rid")
    for col in (*GEOGRAPHY_KEYS, "schools_included"):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(col))
    frame = frame.with_columns(
        pl.col(*GEOGRAPHY_KEYS, "geography_code").cast(pl.String)
    )

    # only the columns the rules read (a national mart has millions of rows and dozens of columns)
    rule_columns = ["_rid", *CELL, "indicator", *GEOGRAPHY_KEYS]
    classes = DisclosureClasses.of(catalogue())
    survey = frame.select(*rule_columns, "value_status", "respondents", "schools_included").filter(
        ~pl.col("source").is_in(classes.admin_sources)
    )
    sup = _primary(survey, min_respondents, min_schools)
    work = survey.select(
        "_rid",
        *CELL,
        "indicator",
        *GEOGRAPHY_KEYS,
        pl.col("respondents").cast(pl.Float64).fill_null(0).alias("_n"),
        pl.col("indicator").is_in(list(classes.gaps)).alias("_gap"),
    ).with_columns(pl.col("_rid").is_in(sup.implode()).alias("_sup"))
    # integer ids of the groupings the rounds below use again and again (a national mart has millions of
    # survey rows: grouping by one integer is much cheaper than by six text columns, with the same groups)
    work = _with_ids(work, {"_cell": CELL, "_base": BREAKDOWN_BASE, "_lcell": LEVEL_CELL})
    rounds = _coded(work, classes.cell)

    for _ in range(_MAX_ROUNDS):
        before = int(rounds["_sup"].sum())
        rounds = _propagate_cell(rounds)
        rounds = _secondary_breakdowns(rounds)
        for child, parent, key in HIERARCHY:
            rounds = _secondary_levels(rounds, child, parent, key)
        rounds = _propagate_cell(rounds)
        if int(rounds["_sup"].sum()) == before:
            break
    else:  # pragma: no cover - the suppressed set only grows, so this needs > _MAX_ROUNDS rounds
        raise RuntimeError("disclosure control did not converge")
    work = _gaps(work.with_columns(rounds["_sup"]), classes.gaps)  # the rounds keep the rows' order

    suppressed = work.filter(pl.col("_sup")).select("_rid")
    out = frame.with_columns(
        pl.when(pl.col("source").is_in(classes.admin_sources))
        .then(pl.col("value_status"))
        .when(pl.col("_rid").is_in(suppressed["_rid"].implode()))
        .then(pl.lit("suppressed"))
        .otherwise(pl.col("value_status"))
        .alias("published_status")
    )
    if mask:
        out = mask_suppressed(out)
    return out.select([c for c in indicators.columns] + ["published_status"])


def mask_suppressed(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (rows with `published_status`) with the numbers of every suppressed survey figure set to null (the
    MASKED columns it has): safe to publish as it is. For a status decided on the RULE_COLUMNS alone, joined back."""
    admin = DisclosureClasses.of(catalogue()).admin_sources
    hide = (~pl.col("source").is_in(admin)) & (pl.col("published_status") == "suppressed")
    return frame.with_columns(
        [pl.when(hide).then(None).otherwise(pl.col(c)).alias(c) for c in MASKED if c in frame.columns]
    )


@dataclass(frozen=True)
class DisclosureClasses:
    """The figures each rule reads, from the catalogue's disclosure classes."""

    cell: list[str]  # survey_cell: when suppressed, so is every figure of its cell
    gaps: dict[str, tuple[str, str]]  # survey_gap -> (the breakdown of its subgroups, the mean it compares)
    # the sources whose figures the DfE published (class `admin`: `admin`, in-year `attendance`): never re-suppressed
    admin_sources: list[str] = field(default_factory=lambda: ["admin"])

    @classmethod
    def of(cls, cat: Catalogue) -> DisclosureClasses:
        cell = [e.id for e in cat.expanded() if e.disclosure == "survey_cell"]
        gaps = {}
        for e in cat.of(disclosure="survey_gap"):
            (mean,) = [m.id for m in cat.of(source=e.source, formula="scale_mean")] or [None]
            if mean is None:
                raise ValueError(f"{cat.path}: gap {e.id!r} has no scale_mean indicator of {e.source!r} to follow")
            gaps[e.id] = (e.gap_of, mean)
        admin_sources = sorted({e.source for e in cat if e.disclosure == "admin"})
        return cls(cell, gaps, admin_sources)


def _primary(survey: pl.DataFrame, min_respondents: int, min_schools: int) -> pl.Series:
    """Figures shown as numbers that rest on too few respondents or (above School) too few schools. A figure
    with no number (not available, not applicable, missing) has nothing to protect and keeps its own symbol."""
    shown = pl.col("value_status").is_in(SHOWN)
    few_respondents = pl.col("respondents").is_not_null() & (pl.col("respondents") < min_respondents)
    few_schools = (
        pl.col("geographic_level").is_in(AGGREGATE_LEVELS)
        & pl.col("schools_included").is_not_null()
        & (pl.col("schools_included") < min_schools)
    )
    return survey.filter(shown & (few_respondents | few_schools))["_rid"]


def _with_ids(work: pl.DataFrame, groupings: dict[str, list[str]]) -> pl.DataFrame:
    """`work` with one integer column per grouping (name -> columns): equal for rows whose columns are all equal
    (nulls equal to nulls), different otherwise. Each column is coded by its distinct values (1, 2, ...; a null
    0), and a grouping's id is its columns' codes as the digits of one number, exact while that number fits in
    63 bits (else the distinct combinations are numbered and joined back: slower, the same groups)."""
    columns = sorted({c for cols in groupings.values() for c in cols})
    codes = work.select(
        (pl.col(c).cast(pl.Categorical).to_physical() if work.schema[c] == pl.String else pl.col(c))
        .rank("dense").fill_null(0).cast(pl.UInt64).alias(c)
        for c in columns
    )
    radix = codes.select(pl.col(c).max() + 1 for c in columns).row(0, named=True) if codes.height else {}
    ids = []
    for name, cols in groupings.items():
        if codes.height and math.prod(radix[c] for c in cols) < 2**ID_BITS:
            digits = pl.lit(0, pl.UInt64)
            for c in cols:
                digits = digits * radix[c] + pl.col(c)
            ids.append(codes.select(digits.alias(name))[name])
        else:
            numbered = work.select(cols).unique().with_row_index(name)
            ids.append(work.join(numbered, on=cols, how="left", nulls_equal=True, maintain_order="left")[name]
                       .cast(pl.UInt64))
    return work.with_columns(ids)


def _places(values: pl.Series) -> dict[str, int]:
    """Each distinct text of `values` and its place in their sorted order: ordering or comparing by the place is
    ordering or comparing by the text."""
    order = values.drop_nulls().unique().sort()
    return dict(zip(order.to_list(), range(order.len()), strict=True))


def _code(column: str, places: dict[str, int]) -> pl.Expr:
    return pl.col(column).replace_strict(places, default=None, return_dtype=pl.Int32).alias(column)


def _coded(work: pl.DataFrame, cell_indicators: list[str]) -> pl.DataFrame:
    """The columns the rounds of rules 2-4 read, as integers and flags, in `work`'s row order (a round copies
    the rows it filters: integers copy much faster than text). Geography codes, a row's own and its parents',
    share one coding, so parents join children; the tie-breaks (a child's geography code, a subgroup's
    breakdown value) order by their places as by their text."""
    geo = ["geography_code", *GEOGRAPHY_KEYS]
    places = _places(pl.concat([work[c] for c in geo]))
    return work.select(
        "_rid", "_cell", "_base", "_lcell", "_n", "_gap", "_sup",
        pl.col("indicator").is_in(cell_indicators).alias("_cell_figure"),
        (pl.col("breakdown") == "Total").alias("_total"),
        _code("breakdown", _places(work["breakdown"])),
        _code("breakdown_value", _places(work["breakdown_value"])),
        pl.col("geographic_level").replace_strict(LEVEL_CODES, default=-1, return_dtype=pl.Int8),
        pl.col("geography_code").str.starts_with("E12").fill_null(False).alias("_e12"),
        *[_code(c, places) for c in geo],
    )


# the levels the rules name (any other level is -1: it is never a child or a parent)
LEVEL_CODES = {level: i for i, level in enumerate(["School", *AGGREGATE_LEVELS])}


def _propagate_cell(work: pl.DataFrame) -> pl.DataFrame:
    cell_sup = (pl.col("_sup") & pl.col("_cell_figure")).any().over("_cell")
    return work.with_columns((pl.col("_sup") | cell_sup).alias("_sup"))


def _mark_next_smallest(groups: pl.DataFrame, members: pl.DataFrame, group_key: list[str]) -> pl.DataFrame:
    """For groups with exactly one suppressed member, the _rid of the smallest unsuppressed member."""
    return (
        members.join(groups.select(group_key), on=group_key, how="semi", nulls_equal=True)
        .filter(~pl.col("_sup"))
        .sort([*group_key, "_n", "_tie"], nulls_last=True)
        .group_by(group_key, maintain_order=True)
        .first()
        .select(*group_key, "_rid")
    )


def _apply(work: pl.DataFrame, rids: pl.Series) -> pl.DataFrame:
    if rids.len() == 0:
        return work
    return work.with_columns((pl.col("_sup") | pl.col("_rid").is_in(rids.implode())).alias("_sup"))


def _secondary_breakdowns(work: pl.DataFrame) -> pl.DataFrame:
    base = ["_base"]  # BREAKDOWN_BASE
    rows = work.filter(~pl.col("_gap"))
    totals = rows.filter(pl.col("_total")).select(
        *base, pl.col("_rid").alias("_total_rid"), pl.col("_sup").alias("_total_sup")
    )
    subs = rows.filter(~pl.col("_total")).with_columns(pl.col("breakdown_value").alias("_tie"))
    key = [*base, "breakdown"]
    stats = (
        subs.group_by(key)
        .agg(pl.col("_sup").sum().alias("_s"), pl.len().alias("_k"))
        .join(totals, on=base, how="inner", nulls_equal=True)
        .filter(~pl.col("_total_sup") & (pl.col("_s") == 1))
    )
    if stats.height == 0:
        return work
    pick = _mark_next_smallest(stats, subs, key)
    lone = stats.join(pick.select(key), on=key, how="anti", nulls_equal=True)["_total_rid"]
    return _apply(_apply(work, pick["_rid"]), lone)


def _secondary_levels(work: pl.DataFrame, child: str, parent: str, key_col: str) -> pl.DataFrame:
    cell = ["_lcell"]  # LEVEL_CELL
    rows = work.filter(~pl.col("_gap"))
    parents = rows.filter(pl.col("geographic_level") == LEVEL_CODES[parent]).select(
        *cell,
        pl.col("geography_code").alias("_parent"),
        pl.col("_rid").alias("_parent_rid"),
        pl.col("_sup").alias("_parent_sup"),
    )
    children = rows.filter(
        (pl.col("geographic_level") == LEVEL_CODES[child]) & pl.col(key_col).is_not_null()
    ).with_columns(pl.col(key_col).alias("_parent"), pl.col("geography_code").alias("_tie"))
    if child == "Regional":  # Inner/Outer London (E13) sit beside London: the nine regions partition England
        children = children.filter(pl.col("_e12"))
    key = [*cell, "_parent"]
    hidden = children.group_by(key).agg(pl.col("_sup").sum().alias("_s"))
    if (child, parent) in REMAINDER:  # the parent's schools in none of its children count as one more child
        parent_col, child_col = REMAINDER[(child, parent)]
        remainder = (
            rows.filter((pl.col("geographic_level") == LEVEL_CODES["School"]) & pl.col(parent_col).is_not_null()
                        & pl.col(child_col).is_null())
            .group_by(*cell, pl.col(parent_col).alias("_parent"))
            .agg(pl.col("_sup").any().cast(pl.UInt32).alias("_s"))
        )  # fmt: skip
        hidden = pl.concat([hidden, remainder], how="vertical_relaxed").group_by(key).agg(pl.col("_s").sum())
    stats = hidden.join(parents, on=key, how="inner", nulls_equal=True).filter(
        ~pl.col("_parent_sup") & (pl.col("_s") == 1)
    )
    if stats.height == 0:
        return work
    pick = _mark_next_smallest(stats, children, key)
    lone = stats.join(pick.select(key), on=key, how="anti", nulls_equal=True)["_parent_rid"]
    return _apply(_apply(work, pick["_rid"]), lone)


def _gaps(work: pl.DataFrame, gaps: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """A gap is shown only when both subgroup means behind it are shown."""
    geo = ["time_period", "time_identifier", "geographic_level", "geography_code", "source"]
    for gap, (breakdown, mean) in gaps.items():
        means = work.filter(
            (pl.col("indicator") == mean)
            & (pl.col("breakdown") == breakdown)
            & pl.col("breakdown_value").is_in(["Yes", "No"])
        )
        hidden = means.group_by(geo).agg((pl.col("_sup").any() | (pl.len() < 2)).alias("_hide"))
        gaps = work.filter(pl.col("indicator") == gap).join(hidden, on=geo, how="left", nulls_equal=True)
        # no subgroup means at all: the gap cannot be checked, so it is not shown
        rids = gaps.filter(pl.col("_hide").fill_null(True) | pl.col("_sup"))["_rid"]
        work = _apply(work, rids)
    return work
