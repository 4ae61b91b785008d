"""The data guidance of a release (`public/data-guidance.md`): the EES companion to its open-data files.

Generated from the indicator catalogue (indicators/catalogue.yaml: every figure's label, definition, unit,
decimal places and how it adds up) and from the extracts as written (their files, geographic levels, years,
filters and columns, read back), with the disclosure thresholds of the run's settings and the sources the
lake loaded (each input file with its sha256). For each file: what it contains, its levels and years, each
column's meaning; then the symbols and why a cell is `c`, how aggregates are made, and the sources with their
versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from indicators import Indicator, catalogue
from publication.extracts import (
    COMPARISONS,
    COVERAGE_GROUPING,
    FILTERS,
    LEVEL_SLUG,
    SCHOOL_COUNTS,
    coverage_of,
    extract_files,
    headline,
    source_of_family,
)
from publication.validation import render

# standard EES columns, in words
STANDARD = {
    "time_period": "Academic year as six digits, the first year then the second (201819 is 2018/19).",
    "time_identifier": "`Academic year`; survey figures by term where waves are termly (`Autumn term`, `Spring "
                       "term`, `Summer term`).",
    "geographic_level": "`School`, `MAT` (a multi-academy or single-academy trust), `Local authority`, "
                        "`Regional` or `National`.",
    "country_code": "ONS code of England (`E92000001`).",
    "country_name": "Country name (England).",
    "region_code": "ONS code of the region (`E12...`).",
    "region_name": "Region name, as in the DfE's geography lookup.",
    "old_la_code": "Three-digit DfE local authority number.",
    "new_la_code": "ONS code of the local authority (`E06...` to `E10...`).",
    "la_name": "Local authority name, as in the DfE's geography lookup.",
    "trust_id": "GIAS group id of the trust that year.",
    "trust_name": "Trust name (GIAS).",
    "school_urn": "Unique reference number of the school (GIAS).",
    "school_laestab": "LA number and establishment number (LAESTAB, seven digits).",
    "school_name": "School name (GIAS).",
    "breakdown": "Which respondents a row describes: `Total` (all), or the breakdown its figures are split by "
                 "(`year_group`, `gender`, `send`: self-reported special educational needs or disability, "
                 "`fsm`: self-reported free school meals, `role`: staff role). In the DfE-derived files: the pupil "
                 "characteristic of the DfE's by-characteristic rows (`sen_status`: SEN provision, `fsm_status`: "
                 "free school meal eligibility, `sex`, `ethnicity_major`: major ethnic group).",
    "breakdown_value": "The group of the breakdown (`Total` on Total rows): e.g. `Year 7`, `Girl`, `Yes`, "
                       "`Teacher`. `Prefer not to say` and `Don't know` are groups of their own. DfE pupil groups: "
                       "`Education, health and care plan`, `SEN support`, `No SEN`, `FSM eligible`, `Not FSM eligible`, `Female`, `Male`, "
                       "`White`, `Mixed`, `Asian`, `Black`, `Chinese`, `Any other ethnic group`.",
    "schools_total": "Schools at this geography that year (open schools in the GIAS register, a school that "
                     "converted during the year counted once).",
}
# what a figure's numerator and denominator are, by its catalogue formula (`{num}` / `{den}`: the DfE counts
# an admin figure names)
PARTS = {
    "ratio": ("the DfE count {num} summed over the schools included",
              "the DfE count {den} summed over the same schools"),
    "representation": ("the DfE counts {num} summed over the schools included",
                       "the pupils each school would have at its local share ({den} times the same share "
                       "across all schools of its phase in its local authority), summed over the same schools"),
    "published": ("the DfE's own count {num} of this row, as published", "the DfE's own count {den} of this row"),
    "cohort": ("the DfE count {num} summed over the schools included",
               "the same schools' DfE count {den} {years} academic year(s) earlier (a school that converted to an "
               "academy followed to its new URN through GIAS links)"),
    "scale_mean": ("the sum of the respondents' belonging scores (0-100)", "the respondents with a score"),
    "positive_share": ("respondents scoring above 50", "respondents with a score"),
    "item_agree": ("respondents answering the statement in the belonging direction",
                   "respondents answering the statement"),
    "response_rate": ("respondents in the surveyed year groups",
                      "pupils on roll in the surveyed year groups at the school census (staff: staff invited)"),
    "characteristic_rate": ("the DfE count {num} of the group, as the DfE published it for this geography",
                            "the DfE count {den} of the group, as published"),
}
# a signal's comparison columns (publication/extracts.py COMPARED_WITH_NATIONAL, FLAGGED), in words
COMPARISON_TEXT = {
    "national": "England's `{figure}` in the same year, beside every row so a reader sees what is normal (a ratio "
                "of sums over England's schools, flagged schools left out). Shown as a number wherever England's "
                "figure is; its own symbol where it is not.",
    "flag": "Whether `{figure}` is of low reliability: `1` where the school opened, closed (other than by academy "
            "conversion), merged or changed its age range in the window, so its pupils then and now are not like "
            "for like; the figure is still shown, but it is a signal to read with care, never ranked and left out "
            "of every trust, local authority, regional and national sum. `0` where the figure is a plain value; "
            "the figure's own symbol (`c`, `x`, `z`) where it has no number. The Parquet file says the same in "
            "`{figure}_status` (`low_reliability`).",
}
LEVEL_WORDS = {"School": "for each school", "MAT": "for each trust", "Local authority": "for each local authority",
               "Regional": "for each region", "National": "for England"}
ROLLUP = {
    "sum": "a sum over the schools included",
    "ratio_of_sums": "the numerator summed over the schools included, over the denominator summed over the same "
                     "schools (never a mean of school rates)",
    "pooled_mean": "every respondent of the schools included counted once (the sum of scores over the respondents)",
    "difference_of_pooled_means": "the difference of the two groups' pooled means",
    "as_published": "the DfE's own figure for the local authority, region or England, as published (not summed "
                    "from schools)",
    "published": "the DfE's own row for the geography and pupil group (its by-characteristic files), never summed "
                 "from schools; the `breakdown` filter names the pupil group (Total: all pupils)",
}


@dataclass(frozen=True)
class FileGuide:
    name: str
    files: list[str]
    rows: int
    what: str
    levels: list[str]
    periods: list[str]
    filters: list[tuple[str, list[str]]]
    columns: list[tuple[str, str]]


def _family(name: str) -> tuple[str, str]:
    """(source, level) of an extract name (`admin_indicators_la` -> admin, Local authority)."""
    family, slug = name.rsplit("_", 1)
    level = {v: k for k, v in LEVEL_SLUG.items()}[slug]
    return source_of_family(family), level


def _counts(measures) -> str:
    return " + ".join(f"`{m}`" for m in measures)


def _figure_text(e: Indicator) -> str:
    unit = {"%": "percent", "": e.unit.replace("_", " ")}[e.ees_unit]
    text = f"{e.published.label}. {e.definition} Unit: {unit}, {e.dp} decimal place{'' if e.dp == 1 else 's'}."
    if e.formula in PARTS or e.rollup != "sum":
        text += f" Above School level: {ROLLUP[e.rollup]}."
    return text


def _column_text(column: str, columns: list[str], figures: dict[str, Indicator], source: str,
                 min_schools: int) -> str:
    if column in STANDARD:
        return STANDARD[column]
    if column == "schools_included":
        lead = headline(source)
        return (f"Schools whose data entered `{lead.published.name}` in this row (survey rows: schools with valid "
                "responses; a trust, LA, regional or national survey figure is shown only from "
                f"{min_schools} of them)." if lead.formula == "respondents"
                else f"Schools whose data entered `{lead.published.name}` in this row.")
    if column in figures:
        return _figure_text(figures[column])
    for bound in ("lower", "upper"):
        figure = column.removesuffix(f"_ci_{bound}")
        if figure in figures:
            return f"The {bound} bound of the 95% confidence interval of `{figure}`."
    figure, kind = coverage_of(column, columns, COMPARISONS) or (None, None)
    if figure in figures:
        return COMPARISON_TEXT[kind].format(figure=figure)
    figure, kind = coverage_of(column, columns) or (None, None)
    if figure not in figures:
        return ""
    e = figures[figure]
    if kind == "schools" and e.formula == "published":
        return f"Schools the DfE counted in `{figure}` for this row (its average over the period's days, rounded)."
    if kind == "schools":
        return f"Schools whose data entered `{figure}` in this row (schools with a suppressed or missing input " \
               "are left out of its numerator and denominator alike)."
    num, den = PARTS[e.formula]
    words = (num if kind == "numerator" else den).format(num=_counts(e.numerator), den=_counts([e.denominator]),
                                                                  years=e.years)
    return (f"{kind.capitalize()} of `{figure}`: {words}. Shown where `{figure}` is shown, `c` where it is "
            "(it follows the figure through disclosure control).")


def file_guide(csv_path: Path, meta_path: Path, parquet_path: Path, *, min_schools: int) -> FileGuide:
    source, level = _family(csv_path.name.removesuffix(".csv"))
    header = pl.read_csv(csv_path, n_rows=0).columns
    wanted = [c for c in ("time_period", "time_identifier", "geographic_level", *FILTERS) if c in header]
    data = pl.scan_csv(csv_path, infer_schema=False).select(wanted).unique().collect()
    periods = data.select("time_period", "time_identifier").unique().sort("time_period", "time_identifier")
    filters = []
    if "breakdown" in header:
        for bd in data.filter(pl.col("breakdown") != "Total")["breakdown"].unique().sort().to_list():
            values = data.filter(pl.col("breakdown") == bd)["breakdown_value"].unique().sort().to_list()
            filters.append((bd, values))
    figures = {e.published.name: e for e in catalogue().expanded() if e.source == source}
    where = LEVEL_WORDS[level]
    if source == "attendance":
        what = (f"PROVISIONAL in-year attendance {where}, from schools' daily registers (the DfE's \"Pupil "
                "attendance in schools\"), "
                + ("week by week (`time_identifier` `Week N`: the ISO week, `time_period` its calendar year)"
                   if any(i.startswith("Week ") for i in periods["time_identifier"].to_list())
                   else "year to date (`Academic year`)")
                + ", by education phase (`breakdown` `education_phase`; `Total` all phases). The DfE revises "
                "these figures as the year goes on: the annual absence figures of `admin_indicators` are final.")
    elif source != "admin":
        what = (f"Survey figures of the `{source}` instrument {where}, by wave, for all respondents (`Total`) "
                "and by breakdown, after disclosure control.")
    else:
        what = f"Indicators from the DfE's published school data {where}, by academic year."
        if filters:
            what += (" Rows with a `breakdown` other than `Total` hold the DfE's own figures for one pupil group "
                     "(its by-characteristic files): suspension and exclusion rates by group and risk ratios "
                     "against a comparison group; the school-based indicators are `z` on those rows.")
    with open(csv_path, "rb") as fh:
        rows = max(sum(1 for _ in fh) - 1, 0)
    return FileGuide(
        name=csv_path.name.removesuffix(".csv"),
        files=[csv_path.name, meta_path.name, parquet_path.name],
        rows=rows,
        what=what,
        levels=data["geographic_level"].unique().sort().to_list(),
        periods=[f"{p[:4]}/{p[4:]} ({i})" if len(p) == 6 else f"{p} ({i})" for p, i in periods.iter_rows()],
        filters=filters,
        columns=[(c, _column_text(c, header, figures, source, min_schools)) for c in header],
    )


def data_guidance(extracts_dir: Path, *, release_id: str, inputs: list[dict], code: dict, versions: dict,
                  min_respondents: int, min_schools: int) -> str:
    """The data guidance (Markdown) of the extracts in `extracts_dir`, with the thresholds the run applied and
    the sources the lake loaded (`inputs`: file, kind, publication, vintage, rows, sha256)."""
    guides = [file_guide(f.csv_path, f.meta_path, f.parquet_path, min_schools=min_schools)
              for f in extract_files(extracts_dir)]
    return render(
        "data-guidance.md.j2",
        release_id=release_id,
        guides=guides,
        inputs=inputs,
        code=code,
        versions=versions,
        min_respondents=min_respondents,
        min_schools=min_schools,
        coverage=COVERAGE_GROUPING,
        school_counts=SCHOOL_COUNTS,
    )
