"""Publication gates on every extract, read back from the files written.

One GX suite per extract (value rules, over one frame of its rows, cells and column names: `gate_frame`): no
duplicate rows (one row per key), no leading/trailing whitespace, no Total/All in geography or time columns,
geography code forms, only numbers or the GSS symbols in indicator columns, no cell that breaks disclosure
control (respondents under the threshold shown, or figures shown beside suppressed respondents), no
personal-data column. The screener's file-level rules
(expectations/screener.py) run beside them; `extract_gate` returns one result for both.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expectations.runner import (
    ERROR,
    WARNING,
    Check,
    Failure,
    GateResult,
    candidates,
    merge,
    python_result,
    run_suite,
)
from expectations.screener import ADVISORY, ScreenInput, respondents_column
from expectations.screener import RULES as SCREENER_RULES
from publication.extracts import (
    FILTERS,
    FORMULA_CELL,
    GEOGRAPHY_COLUMNS,
    PARTS,
    SCHOOL_COUNTS,
    TIME_COLUMNS,
    coverage_of,
)

TOTALS = ["Total", "All", "total", "all", "TOTAL", "ALL"]  # never a time or geography value of a row
NUMBER_OR_SYMBOL = r"^(?:-?\d+(?:\.\d+)?|c|x|z|low)$"
# what polars narrows the cell checks to before GX judges them (expectations/runner.py `candidates`): Python's \s
# also matches the separators \x1c-\x1f, which polars' does not; FORMULA_CELL's look-ahead is left to GX
WHITESPACE_CANDIDATE = r"^[\s\x1c-\x1f]|[\s\x1c-\x1f]$"
FORMULA_CANDIDATE = r"^[=+@\t\r-]"
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


def wide_checks(columns: list[str], min_respondents: int, min_schools: int, table: str) -> list[Check]:
    ctx = tuple(c for c in KEY_CONTEXT if c in columns)
    key = _key(columns)
    checks = [
        Check(
            "no_duplicate_rows",
            "expect_compound_columns_to_be_unique" if len(key) > 1 else "expect_column_values_to_be_unique",
            {"column_list": key, "ignore_row_if": "all_values_are_missing"} if len(key) > 1 else {"column": key[0]},
            f"{table}: more than one row per time, geography and filter combination {key}",
            context_columns=ctx,
        )
    ]
    # one expectation per rule, not one per column: the offending columns of a row are named in its own column
    # (`prepare_wide`), which Great Expectations expects to be empty
    if any(c in columns for c in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS)):
        checks.append(
            Check(
                "no_total_in_geography_or_time",
                "expect_column_values_to_be_null",
                {"column": "total_in_geography_or_time"},
                f"{table}: a time or geography column holds Total/All (the column and value are given): aggregate "
                "rows belong at their own geographic level",
                context_columns=ctx,
            )
        )
    forms = {c: regex for c, regex in CODE_FORMS.items() if c in columns}
    if forms:
        checks.append(
            Check(
                "geography_code_form",
                "expect_column_values_to_be_null",
                {"column": "code_not_in_its_form"},
                f"{table}: a code does not match its form ({', '.join(f'{c} {r}' for c, r in forms.items())}): "
                "use the DfE code, not a name or a padded number",
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
            Check(
                "no_part_beside_its_suppressed_figure",
                "expect_column_values_to_be_null",
                {"column": "parts_beside_suppressed_figure"},
                f"{table}: a numerator or denominator is shown beside its suppressed figure, which it would reveal",
                context_columns=ctx,
            ),
            Check(
                "schools_below_threshold_suppressed",
                "expect_column_values_to_be_null",
                {"column": "shown_on_too_few_schools"},
                f"{table}: a survey figure above School level is shown on fewer than {min_schools} schools with "
                "responses: it must be `c`",
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
            candidate_regex=WHITESPACE_CANDIDATE,
        ),
        Check(
            "no_formula_cells",
            "expect_column_values_to_not_match_regex",
            {"column": "value", "regex": FORMULA_CELL},
            f"{table}: a cell starts with = + - @, a tab or a carriage return: a spreadsheet would run it as a "
            "formula (publication.extracts.neutralise_formula prefixes it with ')",
            context_columns=ctx,
            candidate_regex=FORMULA_CANDIDATE,
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


def prepare_wide(data: pl.DataFrame, indicators: list[str], min_schools: int) -> pl.DataFrame:
    """The extract with the columns the row checks read: the time and geography cells holding Total/All and the
    codes not in their form (each as `column=value`), and for survey extracts respondents as a number, the figures
    shown beside suppressed respondents, the numerators and denominators shown beside a suppressed figure, and the
    survey figures shown on fewer than `min_schools` schools."""
    def listed(exprs: list[pl.Expr]) -> pl.Expr:
        joined = pl.concat_str(exprs, separator=",", ignore_nulls=True) if exprs else pl.lit(None, pl.String)
        return joined.replace("", None)

    def named(c: str, broken: pl.Expr) -> pl.Expr:  # `column=value` where the cell breaks the rule
        return pl.when(broken).then(pl.format("{}={}", pl.lit(c), pl.col(c)))

    data = data.with_columns(
        listed([named(c, pl.col(c).cast(pl.String).is_in(TOTALS)) for c in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS)
                if c in data.columns]).alias("total_in_geography_or_time"),
        listed([named(c, ~pl.col(c).cast(pl.String).str.contains(regex)) for c, regex in CODE_FORMS.items()
                if c in data.columns]).alias("code_not_in_its_form"),
    )
    respondents = respondents_column(data.columns)
    if respondents is None:
        return data
    cover = {c: coverage_of(c, data.columns) for c in data.columns}
    school_counts = {c for c, found in cover.items() if found and found[1] == "schools"} | set(SCHOOL_COUNTS)
    others = [c for c in indicators if c != respondents and c in data.columns and c not in school_counts]
    suppressed = pl.col(respondents) == "c"

    def is_shown(c: str) -> pl.Expr:
        return ~pl.col(c).is_in(["c", "z", "x"])

    beside = [pl.when(suppressed & is_shown(c)).then(pl.lit(c)) for c in others]
    parts = [pl.when((pl.col(fig) == "c") & is_shown(c)).then(pl.lit(c))
             for c, found in cover.items() if found and found[1] in PARTS for fig in found[:1]]  # fmt: skip
    schools_of = {found[0]: c for c, found in cover.items() if found and found[1] == "schools"}
    if "schools_included" in data.columns:
        schools_of[respondents] = "schools_included"
    few = [pl.when(is_shown(fig) & (pl.col(n).cast(pl.Int64, strict=False) < min_schools)).then(pl.lit(fig))
           for fig, n in schools_of.items()]  # fmt: skip
    return data.with_columns(
        pl.col(respondents).cast(pl.Float64, strict=False).alias("respondents_shown"),
        listed(beside).alias("shown_beside_suppressed"),
        listed(parts).alias("parts_beside_suppressed_figure"),
        listed(few).alias("shown_on_too_few_schools"),
    )


def long_frame(data: pl.DataFrame, indicators: list[str], checks: list[Check] | None = None) -> pl.DataFrame:
    """Every cell of the extract as a row (`line` of the file, `column`, `value`, and `indicator_value` in
    indicator columns); with `checks`, only the cells that could break one of them (runner.candidates), built
    column by column, so a national extract's tens of millions of cells are never all in one frame."""
    lined = data.with_row_index("line", offset=2)
    keep = None
    if checks:
        exprs = [candidates(c) for c in checks]
        keep = None if any(e is None for e in exprs) else pl.any_horizontal(exprs)
    parts = []
    for column in data.columns:
        cells = lined.select(
            "line",
            pl.lit(column).alias("column"),
            pl.col(column).alias("value"),
            (pl.col(column) if column in indicators else pl.lit(None, pl.String)).alias("indicator_value"),
        )
        parts.append(cells if keep is None else cells.filter(keep))
    return pl.concat(parts) if parts else pl.DataFrame()


# the columns the gate adds to an extract's frame (`prepare_wide`, then the parts after its rows: `gate_frame`): no
# extract column may take them
PART_COLUMNS = ("line", "column", "value", "indicator_value", "column_name", "total_in_geography_or_time",
                "code_not_in_its_form")


def gate_frame(data: pl.DataFrame, indicators: list[str], min_schools: int, cell_checks: list[Check],
               table: str) -> pl.DataFrame:
    """The one frame of an extract's one suite, in three parts: its rows as `prepare_wide` gives them (each on its
    `line` of the file), then the cells that could break a cell check (`long_frame`: `line`, `column`, `value`,
    `indicator_value`), then one row per column name (`column_name`, on line 1: the header). A check reads its
    part's columns only, which are null in the other parts, and Great Expectations skips nulls (the duplicate-row
    check ignores rows whose key is all null). The rows come first, so a row's number is its place in the file."""
    clash = [c for c in PART_COLUMNS if c in data.columns]
    if clash:
        raise ValueError(f"{table}: column {', '.join(clash)} is a name the extract gate keeps for its cell checks")
    header = pl.DataFrame({"line": [1] * data.width, "column_name": data.columns}, schema_overrides={"line": pl.UInt32})
    return pl.concat([prepare_wide(data, indicators, min_schools).with_row_index("line", offset=2),
                      long_frame(data, indicators, cell_checks), header], how="diagonal")


def extract_gate(
    csv_path: Path,
    meta_path: Path,
    geography_lookup: Path,
    *,
    min_respondents: int,
    min_schools: int,
    data_docs_dir: Path | None = None,
) -> GateResult:
    s = ScreenInput.read(csv_path, meta_path, geography_lookup)
    table = Path(csv_path).name
    indicators = s.indicators() or [
        c for c in s.data.columns if c not in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS, *FILTERS)
    ]
    cell_checks = long_checks(table)
    results = [
        run_suite(
            f"extract_{Path(csv_path).stem}",
            gate_frame(s.data, indicators, min_schools, cell_checks, table),
            [*wide_checks(s.data.columns, min_respondents, min_schools, table), *cell_checks, *column_checks(table)],
            data_docs_dir=data_docs_dir,
            table=table,
        )
    ]
    failures = []
    for rule in SCREENER_RULES:
        r = rule(s)
        if not r.passed:  # a FAIL stops publication; an ADVISORY is a warning shown with the gate's results
            column = next(
                (o.get("column") or o.get("col_name") for o in r.offending if isinstance(o, dict)), None
            )
            severity = WARNING if r.status == ADVISORY else ERROR
            failures.append(Failure(table, column, r.name, "python", severity, r.offending, r.message))
    results.append(python_result(f"screener_{table}", table, failures, len(SCREENER_RULES)))
    return merge(f"extract_gate_{table}", results)


def extracts_gate(
    infos, geography_lookup: Path, *, min_respondents: int, min_schools: int, data_docs_dir: Path | None = None
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
                min_schools=min_schools,
                data_docs_dir=data_docs_dir,
            )
            for i in infos
        ],
    )


def changed_extracts(infos, published: list[dict]) -> list:
    """The extracts (publication.extracts.ExtractFiles) whose CSV or metadata file differs, byte for byte, from the
    one of the same name in `published` (a release manifest's `extracts`: name and each file's sha256), or that it
    does not have. Sound for a release whose gates judged with the same code, catalogue and settings
    (orchestration/checks.py `carried_over`): the gate reads only these two files and the geography lookup (code),
    so the same bytes get the same verdict, and that release passed. The Parquet file is not read by the gate."""
    from ingestion.files import sha256_file

    digests = {e["name"]: (e["files"].get("csv", {}).get("sha256"), e["files"].get("meta", {}).get("sha256"))
               for e in published}
    return [i for i in infos
            if digests.get(i.name, (None, None)) != (sha256_file(i.csv_path), sha256_file(i.meta_path))]
