"""Publication gates on every extract, read back from the files written.

GX suites (value rules): no duplicate rows (one row per key), no leading/trailing whitespace, no
Total/All in geography or time columns, geography code forms, only numbers or the GSS symbols in indicator
columns, no cell that breaks disclosure control (respondents under the threshold shown, or figures shown
beside suppressed respondents), no personal-data column. The screener's file-level rules
(expectations/screener.py) run beside them; `extract_gate` returns one result for both.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expectations.runner import Check, Failure, GateResult, merge, python_result, run_suite
from expectations.screener import RULES as SCREENER_RULES
from expectations.screener import ScreenInput
from indicators import catalogue
from publication.extracts import FILTERS, FORMULA_CELL, GEOGRAPHY_COLUMNS, TIME_COLUMNS

NUMBER_OR_SYMBOL = r"^(?:-?\d+(?:\.\d+)?|c|x|z|low)$"
CODE_FORMS = {
    "country_code": r"^E92000001$",
    "region_code": r"^E12\d{6}$",
    "new_la_code": r"^E(?:0[6-9]|10)\d{6}$",
    "old_la_code": r"^\d{3}$",
    "school_urn": r"^\d{6}$",
    "school_laestab": r"^\d{7}$",
    "time_period": r"^(?:\d{6}|\d{4})$",
}
PERSONAL_DATA = [
    r"e_?mail",
    r"(?:^|_)ip(?:_address)?$",
    r"ipaddress",
    r"latitude",
    r"longitude",
    r"(?:^|_)lat$",
    r"(?:^|_)lon(?:g)?$",
    r"postcode",
    r"date_of_birth|(?:^|_)dob$",
    r"(?:^|_)upn$",
    r"phone",
    r"^name$",
    r"(?:first|last|full|given|family|pupil|respondent|recipient|staff|user)_?name",
    r"external_?(?:data_?)?reference",
    r"custom_data",
    r"survey_identifier",
]
KEY_CONTEXT = (
    "time_period",
    "geographic_level",
    "school_urn",
    "trust_id",
    "new_la_code",
    "region_code",
    *FILTERS,
)


def _key(columns: list[str]) -> list[str]:
    return [c for c in columns if c in TIME_COLUMNS or c in GEOGRAPHY_COLUMNS or c in FILTERS]


def respondents_column(columns: list[str]) -> str | None:
    """The extract's respondents column: the published name of a catalogue `respondents` indicator
    (`respondents`, `staff_respondents`, ...), or None for an extract without survey cells."""
    names = {e.published.name for e in catalogue() if e.formula == "respondents"}
    found = [c for c in columns if c in names]
    return found[0] if found else None


def wide_checks(columns: list[str], min_respondents: int, table: str) -> list[Check]:
    ctx = tuple(c for c in KEY_CONTEXT if c in columns)
    key = _key(columns)
    checks = [
        Check(
            "no_duplicate_rows",
            "expect_compound_columns_to_be_unique" if len(key) > 1 else "expect_column_values_to_be_unique",
            {"column_list": key} if len(key) > 1 else {"column": key[0]},
            f"{table}: more than one row per time, geography and filter combination {key}",
            context_columns=ctx,
        )
    ]
    for col in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS):
        if col in columns:
            checks.append(
                Check(
                    "no_total_in_geography_or_time",
                    "expect_column_values_to_not_be_in_set",
                    {"column": col, "value_set": ["Total", "All", "total", "all", "TOTAL", "ALL"]},
                    f"{table}.{col} holds Total/All: aggregate rows belong at their own geographic level",
                    context_columns=ctx,
                )
            )
    for col, regex in CODE_FORMS.items():
        if col in columns:
            checks.append(
                Check(
                    "geography_code_form",
                    "expect_column_values_to_match_regex",
                    {"column": col, "regex": regex},
                    f"{table}.{col} must match {regex}: use the DfE code, not a name or a padded number",
                    context_columns=ctx,
                )
            )
    respondents = respondents_column(columns)
    if respondents:
        checks += [
            Check(
                "respondents_below_threshold_suppressed",
                "expect_column_values_to_be_between",
                {"column": "respondents_shown", "min_value": min_respondents},
                f"{table}: a survey cell with fewer than {min_respondents} respondents is shown: it must be `c` "
                "(run apply_disclosure_control before build_extracts)",
                context_columns=(*ctx, respondents),
            ),
            Check(
                "no_figure_beside_suppressed_respondents",
                "expect_column_values_to_be_null",
                {"column": "shown_beside_suppressed"},
                f"{table}: a figure is shown in a row whose respondents are `c`: every figure of a cell follows it",
                context_columns=ctx,
            ),
        ]
    return checks


def long_checks(table: str) -> list[Check]:
    ctx = ("line", "column")
    return [
        Check(
            "no_leading_or_trailing_whitespace",
            "expect_column_values_to_not_match_regex",
            {"column": "value", "regex": r"^\s|\s$"},
            f"{table}: a cell has leading or trailing whitespace: strip it",
            context_columns=ctx,
        ),
        Check(
            "no_formula_cells",
            "expect_column_values_to_not_match_regex",
            {"column": "value", "regex": FORMULA_CELL},
            f"{table}: a cell starts with = + - @, a tab or a carriage return: a spreadsheet would run it as a "
            "formula (publication.extracts.neutralise_formula prefixes it with ')",
            context_columns=ctx,
        ),
        Check(
            "only_numbers_or_gss_symbols",
            "expect_column_values_to_match_regex",
            {"column": "indicator_value", "regex": NUMBER_OR_SYMBOL},
            f"{table}: an indicator cell is neither a number nor one of the GSS symbols c, x, z, low "
            "(never blank, NA, NULL, ':' or '.')",
            context_columns=ctx,
        ),
    ]


def column_checks(table: str) -> list[Check]:
    return [
        Check(
            "no_personal_data_columns",
            "expect_column_values_to_not_match_regex_list",
            {"column": "column_name", "regex_list": PERSONAL_DATA},
            f"{table}: a column name looks like personal data (email, name, IP, location...): drop it at ingestion",
            context_columns=("column_name",),
        )
    ]


def prepare_wide(data: pl.DataFrame, indicators: list[str]) -> pl.DataFrame:
    respondents = respondents_column(data.columns)
    if respondents is None:
        return data
    others = [c for c in indicators if c != respondents and c in data.columns]
    suppressed = pl.col(respondents) == "c"
    shown = [pl.when(suppressed & ~pl.col(c).is_in(["c", "z", "x"])).then(pl.lit(c)) for c in others]
    return data.with_columns(
        pl.col(respondents).cast(pl.Float64, strict=False).alias("respondents_shown"),
        (pl.concat_str(shown, separator=",", ignore_nulls=True) if shown else pl.lit(None, pl.String))
        .replace("", None)
        .alias("shown_beside_suppressed"),
    )


def long_frame(data: pl.DataFrame, indicators: list[str]) -> pl.DataFrame:
    melted = data.with_row_index("line", offset=2).unpivot(
        index="line", variable_name="column", value_name="value"
    )
    return melted.with_columns(
        pl.when(pl.col("column").is_in(indicators)).then(pl.col("value")).alias("indicator_value")
    )


def extract_gate(
    csv_path: Path,
    meta_path: Path,
    geography_lookup: Path,
    *,
    min_respondents: int,
    data_docs_dir: Path | None = None,
) -> GateResult:
    s = ScreenInput.read(csv_path, meta_path, geography_lookup)
    table = Path(csv_path).name
    indicators = s.indicators() or [
        c for c in s.data.columns if c not in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS, *FILTERS)
    ]
    cols = pl.DataFrame({"column_name": s.data.columns})
    results = [
        run_suite(
            f"extract_{Path(csv_path).stem}",
            prepare_wide(s.data, indicators),
            wide_checks(s.data.columns, min_respondents, table),
            data_docs_dir=data_docs_dir,
            table=table,
        ),
        run_suite(
            f"extract_{Path(csv_path).stem}_cells",
            long_frame(s.data, indicators),
            long_checks(table),
            table=table,
        ),
        run_suite(f"extract_{Path(csv_path).stem}_columns", cols, column_checks(table), table=table),
    ]
    failures = []
    for rule in SCREENER_RULES:
        r = rule(s)
        if not r.passed:
            column = next(
                (o.get("column") or o.get("col_name") for o in r.offending if isinstance(o, dict)), None
            )
            failures.append(Failure(table, column, r.name, "python", "error", r.offending, r.message))
    results.append(python_result(f"screener_{table}", table, failures, len(SCREENER_RULES)))
    return merge(f"extract_gate_{table}", results)


def extracts_gate(
    infos, geography_lookup: Path, *, min_respondents: int, data_docs_dir: Path | None = None
) -> GateResult:
    """Every extract written by publication.extracts.build_extracts (a list of ExtractInfo)."""
    return merge(
        "extract_gates",
        [
            extract_gate(
                i.csv_path,
                i.meta_path,
                geography_lookup,
                min_respondents=min_respondents,
                data_docs_dir=data_docs_dir,
            )
            for i in infos
        ],
    )
