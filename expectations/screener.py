"""The EES open-data screener rules (spec/publication.md) that are about a file and its metadata as a whole.

Each rule is a named function `(ScreenInput) -> ScreenResult` (PASS/ADVISORY/FAIL, a message, offending rows),
as in the DfE's own screener (dfe-analytical-services/dfe-published-data-qa, R/mainTests.r): a FAIL stops
publication; an ADVISORY is published with a warning, and the demo's extracts have none. The advisories here
are the screener's `region_for_la` (Local authority rows carry region_code and region_name),
`variable_label_length` (labels of at most 80 characters) and `variable_name_length` (names of at most 50),
and ours, `schools_included_for_survey_aggregates` (spec/publication.md: a trust, LA, regional or national
survey figure needs at least `min_schools` schools with responses; the file says how many it had).
Rules that are a natural Great Expectations expectation on the values (duplicate rows, whitespace,
Total/All in geography or time columns, geography code forms, allowed symbols) live in the extracts suite
(`expectations/extracts.py`) instead: a rule lives in one place. `expectations.extracts.extract_gate`
runs both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from indicators import catalogue
from ingestion.ees import academic_year_ok
from publication.extracts import GEOGRAPHY_COLUMNS, META_COLUMNS, TIME_COLUMNS

PASS, ADVISORY, FAIL = "PASS", "ADVISORY", "FAIL"
MAX_OFFENDING = 5

# harmonised-variable patterns and the standard names that may contain them (EES screener)
HARMONISED_PATTERNS = ("sen_", "primary_need", "ethnic", "school_type", "establishment_type", "provider_type")
STANDARD_NAMES = frozenset(
    {
        "sen_status",
        "sen_primary_need",
        "sen_provision",
        "establishment_type",
        "establishment_type_group",
        "ethnicity_major",
        "ethnicity_minor",
        "ethnicity_minor_group",
        "minority_ethnic",
        "school_type",
        "provider_type",
        "primary_need",
    }
)
# time_identifier values and the form of time_period they go with
TIME_FORMS = {
    "Academic year": r"^\d{6}$",
    "Autumn term": r"^\d{6}$",
    "Spring term": r"^\d{6}$",
    "Summer term": r"^\d{6}$",
    "Autumn and spring term": r"^\d{6}$",
    "Financial year": r"^\d{6}$",
    "Calendar year": r"^\d{4}$",
    # weeks (in-year attendance): the ISO week of a calendar year, as the DfE's screener allows
    **{f"Week {n}": r"^\d{4}$" for n in range(1, 54)},
}
LEVEL_CODES = {  # level -> (code column, name column)
    "National": ("country_code", "country_name"),
    "Regional": ("region_code", "region_name"),
    "Local authority": ("new_la_code", "la_name"),
}


@dataclass
class ScreenInput:
    csv_path: Path
    meta_path: Path
    data: pl.DataFrame  # every column as text, exactly as written
    meta: pl.DataFrame
    lookup: pl.DataFrame

    @classmethod
    def read(cls, csv_path: Path, meta_path: Path, geography_lookup: Path) -> ScreenInput:
        def read(p: Path) -> pl.DataFrame:
            return pl.read_csv(p, infer_schema_length=0, empty_string_is_null=False)

        return cls(Path(csv_path), Path(meta_path), read(csv_path), read(meta_path), read(geography_lookup))

    def filters(self) -> list[str]:
        if "col_type" not in self.meta.columns:
            return []
        return self.meta.filter(pl.col("col_type") == "Filter")["col_name"].to_list()

    def indicators(self) -> list[str]:
        if "col_type" not in self.meta.columns:
            return []
        return self.meta.filter(pl.col("col_type") == "Indicator")["col_name"].to_list()


@dataclass
class ScreenResult:
    name: str
    status: str  # PASS | ADVISORY | FAIL
    message: str
    offending: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASS


def _result(name: str, file: Path, offending: list[dict], fail_message: str, status: str = FAIL) -> ScreenResult:
    if not offending:
        return ScreenResult(name, PASS, f"{file.name}: {name} passed")
    return ScreenResult(name, status, f"{file.name}: {fail_message}", offending[:MAX_OFFENDING])


def no_spaces_in_names(s: ScreenInput) -> ScreenResult:
    bad = [{"file": p.name} for p in (s.csv_path, s.meta_path) if " " in p.name]
    bad += [{"column": c} for c in s.data.columns if " " in c or c != c.strip()]
    return _result(
        "no_spaces_in_names",
        s.csv_path,
        bad,
        "file or column names contain spaces: rename them in snake_case",
    )


def filters_have_levels_and_default(s: ScreenInput) -> ScreenResult:
    bad = []
    for f in s.filters():
        if f not in s.data.columns:
            continue  # meta_complete reports it
        levels = s.data[f].unique().sort().to_list()
        if len(levels) < 2 or "Total" not in levels:
            bad.append({"column": f, "levels": levels})
    return _result(
        "filters_have_levels_and_default",
        s.csv_path,
        bad,
        "a filter has fewer than two levels or no `Total` default: drop single-level filters, add Total rows",
    )


def time_consistent(s: ScreenInput) -> ScreenResult:
    bad = []
    if not set(TIME_COLUMNS) <= set(s.data.columns):
        return _result("time_consistent", s.csv_path, [{"missing": list(TIME_COLUMNS)}], "no time columns")
    pairs = s.data.with_row_index("row", offset=2).select(
        "row", *TIME_COLUMNS, academic_year_ok(pl.col("time_period")).fill_null(False).alias("_academic")
    )
    for row, period, ident, academic in pairs.iter_rows():
        form = TIME_FORMS.get(ident)
        ok = form is not None and re.match(form, period) is not None
        if ok and len(period) == 6:
            ok = academic  # 201617: consecutive years (ingestion.ees.academic_year_ok)
        if not ok:
            bad.append({"row": row, "time_period": period, "time_identifier": ident})
    idents = s.data["time_identifier"].unique().to_list()
    if len(idents) > 1 and any(i == "Calendar year" or i.startswith("Week ") for i in idents) and not all(
        i.startswith("Week ") for i in idents
    ):
        bad.append({"time_identifier": idents, "rule": "calendar and academic years mixed in one file"})
    return _result(
        "time_consistent",
        s.csv_path,
        bad,
        "time_period does not match time_identifier (academic years are YYYYYY with consecutive years)",
    )


def geography_matches_lookup(s: ScreenInput) -> ScreenResult:
    bad = []
    lk = s.lookup
    allowed = {
        level: set(lk.filter(pl.col("geographic_level") == level).select("code", "name").iter_rows())
        for level in LEVEL_CODES
    }
    la_old = set(
        lk.filter(pl.col("geographic_level") == "Local authority")
        .select("code", "old_la_code", "name")
        .iter_rows()
    )
    data = s.data.with_row_index("row", offset=2)
    for level, (code, name) in LEVEL_CODES.items():
        if code not in data.columns or name not in data.columns:
            continue
        pairs = data.filter(pl.col(code) != "").select("row", code, name)
        for row, c, n in pairs.iter_rows():
            if (c, n) not in allowed[level]:
                bad.append(
                    {"row": row, "column": code, "code": c, "name": n, "rule": f"{level} code-name pair"}
                )
    if {"new_la_code", "old_la_code", "la_name"} <= set(data.columns):
        for row, new, old, name in (
            data.filter(pl.col("new_la_code") != "")
            .select("row", "new_la_code", "old_la_code", "la_name")
            .iter_rows()
        ):
            if (new, old, name) not in la_old:
                bad.append(
                    {"row": row, "column": "old_la_code", "code": old, "new_la_code": new, "name": name}
                )
    return _result(
        "geography_matches_lookup",
        s.csv_path,
        bad,
        "geography code-name pairs differ from the DfE geography lookup: take names from the lookup",
    )


def harmonised_names(s: ScreenInput) -> ScreenResult:
    bad = []
    for col in s.data.columns:
        if col in STANDARD_NAMES:
            continue
        hits = [p for p in HARMONISED_PATTERNS if p in col]
        if hits:
            bad.append({"column": col, "pattern": hits[0]})
    # filter values built into indicator names (`..._male`)
    for ind in s.indicators():
        tokens = f"_{ind}_"
        for f in s.filters():
            if f not in s.data.columns:
                continue
            for level in s.data[f].unique().to_list():
                snake = re.sub(r"[^a-z0-9]+", "_", level.lower()).strip("_")
                if snake and level != "Total" and f"_{snake}_" in tokens:
                    bad.append({"column": ind, "filter": f, "filter_value": level})
    return _result(
        "harmonised_names",
        s.csv_path,
        bad,
        "a column name uses a harmonised-variable pattern (sen_, ethnic, ...) outside its standard name, "
        "or has a filter value in an indicator name: rename it or make it a filter",
    )


def meta_complete(s: ScreenInput) -> ScreenResult:
    bad = []
    if list(s.meta.columns) != META_COLUMNS:
        bad.append({"meta_columns": list(s.meta.columns), "expected": META_COLUMNS})
        return _result(
            "meta_complete", s.meta_path, bad, "the meta file's columns are not the EES meta columns"
        )
    listed = s.meta["col_name"].to_list()
    expected = [c for c in s.data.columns if c not in GEOGRAPHY_COLUMNS and c not in TIME_COLUMNS]
    bad += [{"col_name": c, "rule": "missing from meta"} for c in expected if c not in listed]
    bad += [{"col_name": c, "rule": "in meta but not in the data"} for c in listed if c not in s.data.columns]
    bad += [{"col_name": c, "rule": "listed more than once"} for c in set(listed) if listed.count(c) > 1]
    labels = s.meta["label"].to_list()
    bad += [{"label": x, "rule": "label not unique"} for x in set(labels) if labels.count(x) > 1]
    for r in s.meta.iter_rows(named=True):
        if r["col_type"] not in ("Filter", "Indicator"):
            bad.append({"col_name": r["col_name"], "rule": f"col_type {r['col_type']!r}"})
        if not r["label"]:
            bad.append({"col_name": r["col_name"], "rule": "empty label"})
        if r["col_type"] == "Filter" and (r["indicator_unit"] or r["indicator_dp"]):
            bad.append({"col_name": r["col_name"], "rule": "filter with indicator unit or dp"})
        if r["col_type"] == "Indicator" and not r["indicator_dp"].isdigit():
            bad.append({"col_name": r["col_name"], "rule": "indicator without a whole-number indicator_dp"})
        grouping = r["filter_grouping_column"]
        if grouping and grouping not in s.data.columns:
            bad.append(
                {"col_name": r["col_name"], "rule": f"filter_grouping_column {grouping!r} not in the data"}
            )
    return _result(
        "meta_complete",
        s.meta_path,
        bad,
        "the meta file does not list every filter and indicator exactly once with a unique label",
    )


MAX_LABEL, MAX_NAME = 80, 50  # the EES screener's limits (variable_label_length, variable_name_length)
AGGREGATE_LEVELS = ("MAT", "Local authority", "Regional", "National")


def respondents_column(columns: list[str]) -> str | None:
    """The extract's respondents column: the published name of a catalogue `respondents` indicator
    (`respondents`, `staff_respondents`, ...), or None for an extract without survey cells."""
    names = {e.published.name for e in catalogue() if e.formula == "respondents"}
    found = [c for c in columns if c in names]
    return found[0] if found else None


def region_for_la(s: ScreenInput) -> ScreenResult:
    """Local authority rows name their region (region_code and region_name, both filled)."""
    data = s.data.with_row_index("row", offset=2).filter(pl.col("geographic_level") == "Local authority")
    bad: list[dict] = []
    if data.height:
        missing = [c for c in ("region_code", "region_name") if c not in data.columns]
        if missing:
            bad.append({"column": missing[0], "rule": f"Local authority rows without {' and '.join(missing)}"})
        else:
            empty = data.filter((pl.col("region_code") == "") | (pl.col("region_name") == ""))
            bad += [{"row": r, "column": "region_code", "la_name": n}
                    for r, n in empty.select("row", "la_name").iter_rows()]  # fmt: skip
    return _result("region_for_la", s.csv_path, bad,
                   "Local authority rows should carry region_code and region_name (from the DfE lookup)", ADVISORY)


def label_and_name_length(s: ScreenInput) -> ScreenResult:
    """Meta labels of at most MAX_LABEL characters and column names of at most MAX_NAME (the EES API's limits)."""
    bad = []
    if {"col_name", "label"} <= set(s.meta.columns):
        for name, label in s.meta.select("col_name", "label").iter_rows():
            if len(label) > MAX_LABEL:
                bad.append({"col_name": name, "rule": f"label of {len(label)} characters (at most {MAX_LABEL})"})
            if len(name) > MAX_NAME:
                bad.append({"col_name": name, "rule": f"name of {len(name)} characters (at most {MAX_NAME})"})
    return _result("label_and_name_length", s.meta_path, bad,
                   f"a label is over {MAX_LABEL} or a column name over {MAX_NAME} characters: shorten it "
                   "(indicators/catalogue.yaml `published`)", ADVISORY)


def schools_included_for_survey_aggregates(s: ScreenInput) -> ScreenResult:
    """A survey extract with trust, LA, regional or national rows says how many schools each row includes, so a
    reader can check the minimum-schools rule."""
    survey = respondents_column(s.data.columns) is not None
    aggregate = "geographic_level" in s.data.columns and s.data["geographic_level"].is_in(AGGREGATE_LEVELS).any()
    bad = [{"column": c, "rule": "missing"} for c in ("schools_included", "schools_total")
           if survey and aggregate and c not in s.data.columns]  # fmt: skip
    return _result("schools_included_for_survey_aggregates", s.csv_path, bad,
                   "survey figures above School level without schools_included and schools_total: the "
                   "minimum-schools rule cannot be checked by a reader", ADVISORY)


RULES: tuple[Callable[[ScreenInput], ScreenResult], ...] = (
    no_spaces_in_names,
    filters_have_levels_and_default,
    time_consistent,
    geography_matches_lookup,
    harmonised_names,
    meta_complete,
    region_for_la,
    label_and_name_length,
    schools_included_for_survey_aggregates,
)


def screen(csv_path: Path, meta_path: Path, geography_lookup: Path) -> list[ScreenResult]:
    """Run every rule of this module on one extract (CSV + meta) read back from disk."""
    s = ScreenInput.read(csv_path, meta_path, geography_lookup)
    return [rule(s) for rule in RULES]
