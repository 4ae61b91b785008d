"""EES open-data extracts from `mart_indicators` (after disclosure control).

One extract per source family and geographic level: `admin_indicators_<level>` (DfE-derived indicators) and
`<instrument>_<level>` (survey indicators with the `breakdown`/`breakdown_value` filter pair, `Total` the
default). Each extract is written as
- `<name>.csv`: tidy, UTF-8, LF, indicators wide with their unit in the name, GSS symbols (`c`, `x`, `z`,
  `low`) for anything that is not a number, numbers with the indicator's fixed decimal places, rows in key
  order, no timestamps: identical input gives identical bytes;
- `<name>.meta.csv`: the EES metadata file (every filter and indicator once);
- `<name>.parquet`: the same columns typed (Float64 indicators, null where a symbol is shown) plus a
  `<indicator>_status` column per indicator.
Geography names come from the DfE geography lookup (dbt_project/seeds/geography_lookups.csv), never from the
mart's spelling. Column names, labels, units and decimal places come from the indicator catalogue
(indicators/catalogue.yaml), whose published names pass the screener's harmonised-variable rule.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from indicators import catalogue
from ingestion.files import sha256_file

TIME_COLUMNS = ("time_period", "time_identifier")
MANDATORY = ("time_period", "time_identifier", "geographic_level", "country_code", "country_name")
# the columns that name a row's geography (its key within the level) ...
LEVEL_GEOGRAPHY = {
    "National": (),
    "Regional": ("region_code", "region_name"),
    "Local authority": ("old_la_code", "new_la_code", "la_name"),
    "MAT": ("trust_id", "trust_name"),
    "School": ("school_urn", "school_laestab", "school_name"),
}
# ... and those that place it in the level above (the EES screener advises region columns on LA rows)
LEVEL_CONTEXT = {"Local authority": ("region_code", "region_name")}
GEOGRAPHY_COLUMNS = ("geographic_level", "country_code", "country_name") + tuple(
    c for cols in LEVEL_GEOGRAPHY.values() for c in cols
)
LEVEL_SLUG = {
    "School": "school",
    "MAT": "mat",
    "Local authority": "la",
    "Regional": "regional",
    "National": "national",
}
FILTERS = ("breakdown", "breakdown_value")
# in-year attendance (source `attendance`, provisional): weeks and years to date are two extracts each, as the DfE
# publishes them (one kind of time_identifier per file: `Week N` with a calendar year, or `Academic year`)
ATTENDANCE_FAMILIES = {"attendance_weekly": True, "attendance_year_to_date": False}  # family -> weekly rows
FILTER_HINTS = {"attendance": "Choose an education phase (provisional in-year data)"}
SYMBOLS = {"suppressed": "c", "not_available": "x", "missing": "x", "not_applicable": "z", "low": "low"}


@dataclass(frozen=True)
class Column:
    """A column of an extract beside the filters: a figure, its CI bounds or its coverage, and its EES metadata."""

    name: str  # column name in the extract
    label: str
    unit: str  # EES indicator_unit: "%" or ""
    dp: int
    grouping: str
    field: str = "value"  # the mart_indicators column it shows
    # a figure's own columns (value, CI, numerator, denominator) show a number only where the figure does (after
    # disclosure control), else the figure's symbol; a count of schools is shown wherever the mart has one
    follows_figure: bool = True
    status: str = "published_status"  # the status a column that follows a figure follows (COMPARISON_FIELDS)


# Coverage (what a figure is made of, so a reader can redo its arithmetic and check the 3-school rule):
# a rate, share or mean publishes the numerator and denominator summed over its schools (`kind` ratio or mean);
# a count is its own numerator, and a gap is the difference of the breakdown rows' means, which publish theirs.
WITH_PARTS = ("ratio", "mean")
# the parts that are not whole counts: a mean's sum of scores, a representation ratio's expected pupils (the
# pupils at the local share); they are shown with the figure's decimal places, every other part with none
FRACTIONAL_PART = {"scale_mean": "numerator", "representation": "denominator"}
# the count that heads an extract (catalogue formula): its schools are the row's `schools_included`
HEADLINE_FORMULAS = ("respondents", "count")
HEADLINE_SCHOOLS_LABEL = {
    "respondents": "Schools with valid responses (the minimum-schools rule counts these)",
    "count": "Schools included in {name}",
}
COVERAGE_GROUPING = "Coverage"
COVERAGE_FIELDS = {"numerator", "denominator", "schools_included", "schools_total"}


PARTS = ("numerator", "denominator")
SCHOOL_COUNTS = ("schools_total", "schools_included")  # the row's own: the headline count's coverage

# A signal, not a verdict (catalogue formulas): roll stability (`cohort`) shows England's figure of the same year
# beside every figure below National level (`<name>_national`), so a reader sees what is normal, and at School
# level a flag a CSV reader sees (`<name>_flag`): 1 where the figure is `low_reliability` (the school opened,
# closed, merged or changed its age range in the window: shown, never ranked, in no sum above it), 0 where it is
# a plain value, the figure's own symbol where it has no number. Both follow build_extracts' COMPARISON_FIELDS.
COMPARED_WITH_NATIONAL = ("cohort",)
FLAGGED = ("cohort",)
COMPARISONS = ("national", "flag")
COMPARISON_FIELDS = ("national_value", "national_status", "low_reliability_flag")
LOW_RELIABILITY_FLAG = {"low_reliability": 1.0, "value": 0.0}  # published_status -> the flag's number


def coverage_of(column: str, columns, kinds=(*PARTS, "schools")) -> tuple[str, str] | None:
    """(the figure, `numerator` | `denominator` | `schools`) when `column` of an extract is a figure's coverage
    column (as indicator_columns names them); None otherwise. With `kinds=COMPARISONS`: (the figure, `national`
    | `flag`) for its comparison columns."""
    for kind in kinds:
        figure = column.removesuffix(f"_{kind}")
        if figure != column and figure in columns:
            return figure, kind
    return None


def headline(source: str):
    """The catalogue entry whose schools are an extract's `schools_included`: the source's first count
    (`respondents`, `staff_respondents`, `pupils_headcount`), or None."""
    return next((e for e in catalogue() if e.source == source and e.formula in HEADLINE_FORMULAS), None)


def indicator_columns(indicator: str, source: str, level: str = "School") -> list[Column]:
    """The extract columns of a mart indicator, from its catalogue entry (indicators/catalogue.yaml): the
    published (screener-safe) name, label, unit, grouping and decimal places; with a confidence interval, its
    lower and upper bounds; for a rate, share or mean its numerator and denominator; above School level the
    schools it includes (`<name>_schools`), or for the extract's headline count the row's `schools_total` and
    `schools_included`. Derived columns are labelled by the published name they belong to (labels stay short
    and unique; the data guidance says each in words)."""
    e = catalogue().get(indicator, source)
    name, grouping = e.published.name, e.published.grouping
    main = Column(name, e.published.label, e.ees_unit, e.dp, grouping)
    aggregate = level != "School"
    is_headline = (h := headline(source)) is not None and h.id == e.id
    out = []
    if aggregate and is_headline:
        out += [
            Column("schools_total", "Schools in this geography that year", "", 0, COVERAGE_GROUPING,
                   "schools_total", follows_figure=False),
            Column("schools_included", HEADLINE_SCHOOLS_LABEL[e.formula].format(name=name), "", 0,
                   COVERAGE_GROUPING, "schools_included", follows_figure=False),
        ]
    out.append(main)
    if e.ci:
        out += [Column(f"{name}_ci_{bound}", f"95% confidence interval, {bound} bound: {name}", main.unit, main.dp,
                       grouping, f"ci_{bound}") for bound in ("lower", "upper")]
    if e.formula in COMPARED_WITH_NATIONAL and level != "National":
        out.append(Column(f"{name}_national", f"England's {name} that year, for comparison", main.unit, main.dp,
                          grouping, "national_value", status="national_status"))
    if e.formula in FLAGGED and level == "School":
        out.append(Column(f"{name}_flag", f"Flag of {name}: 1 = low reliability, not ranked", "", 0,
                          grouping, "low_reliability_flag"))
    if e.has_parts:
        out += [Column(f"{name}_{part}", f"{part.capitalize()} of {name}", "",
                       e.dp if FRACTIONAL_PART.get(e.formula) == part else 0, grouping, part)
                for part in PARTS]
    # the DfE's own rows by pupil characteristic are not made of schools: no count of schools to show
    if aggregate and not is_headline and e.rollup != "published":
        out.append(Column(f"{name}_schools", f"Schools included in {name}", "", 0, grouping, "schools_included",
                          follows_figure=False))
    return out  # fmt: skip


def _indicator_order(indicators: list[str], source: str) -> list[str]:
    """The mart indicators of an extract in catalogue order (a pattern's items in item order)."""
    unknown = [i for i in indicators if catalogue().lookup(i, source) is None]
    if unknown:
        raise ExtractError(
            f"mart_indicators: indicators {sorted(unknown)} of {source!r} are not in the catalogue "
            f"({catalogue().path}): every published indicator has an entry"
        )
    return sorted(indicators, key=lambda i: catalogue().position(i, source))


@dataclass(frozen=True)
class ExtractInfo:
    name: str
    csv_path: Path
    meta_path: Path
    parquet_path: Path
    rows: int
    csv_sha256: str
    meta_sha256: str
    parquet_sha256: str
    # column -> cells neutralised as would-be spreadsheet formulas (FORMULA_NOTE); the Parquet keeps them as they are
    neutralised: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "rows": self.rows,
            "files": {
                self.csv_path.name: self.csv_sha256,
                self.meta_path.name: self.meta_sha256,
                self.parquet_path.name: self.parquet_sha256,
            },
        }


EXTRACT_SUFFIXES = (".csv", ".meta.csv", ".parquet")


def extract_paths(out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """The CSV, metadata and Parquet files of extract `name` in `out_dir`."""
    csv_path, meta_path, pq_path = (Path(out_dir) / f"{name}{ext}" for ext in EXTRACT_SUFFIXES)
    return csv_path, meta_path, pq_path


@dataclass(frozen=True)
class ExtractFiles:
    name: str
    csv_path: Path
    meta_path: Path
    parquet_path: Path


def extract_files(out_dir: Path) -> list[ExtractFiles]:
    """The extracts written in a folder (by build_extracts), read back by name, sorted."""
    names = sorted(
        p.name[: -len(".csv")] for p in Path(out_dir).glob("*.csv") if not p.name.endswith(".meta.csv")
    )
    return [ExtractFiles(name, *extract_paths(out_dir, name)) for name in names]


class ExtractError(ValueError):
    """A mart row that cannot be published as it is (the message names the row and the rule)."""


def load_geography_lookup(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=0)


def build_extracts(indicators: pl.DataFrame, out_dir: Path, geography_lookup: Path) -> list[ExtractInfo]:
    """Write every extract of `indicators` (rows of mart_indicators with `published_status`) to `out_dir`."""
    if "published_status" not in indicators.columns:
        raise ExtractError("mart_indicators: no published_status column: run apply_disclosure_control first")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # only the columns an extract shows or is keyed by (a national mart has millions of rows)
    used = {*TIME_COLUMNS, *GEOGRAPHY_COLUMNS, *FILTERS, "geography_code", "source", "indicator", "value"}
    used |= {"ci_lower", "ci_upper", "published_status", *COVERAGE_FIELDS}
    indicators = indicators.select([c for c in indicators.columns if c in used]).with_columns(
        pl.lit(None, pl.Float64).alias(c) for c in sorted(COVERAGE_FIELDS - set(indicators.columns))
    )
    frame = _with_lookup_geography(indicators, load_geography_lookup(Path(geography_lookup)))
    national = _national_figures(frame)
    infos = []
    for source in sorted(frame["source"].unique().to_list()):
        for family, of_family in extract_families(source):
            for level, slug in LEVEL_SLUG.items():
                part = frame.filter((pl.col("source") == source) & (pl.col("geographic_level") == level) & of_family)
                if part.height:
                    infos.append(_write_extract(part, level, f"{family}_{slug}", out_dir, national))
    return infos


def extract_families(source: str) -> list[tuple[str, pl.Expr]]:
    """The extract families of a mart source and the rows of each: `admin_indicators`, an instrument's id, or for
    in-year attendance its weekly and year-to-date extracts."""
    if source == "attendance":
        weekly = pl.col("time_identifier").str.starts_with("Week ")
        return [(family, weekly if is_weekly else ~weekly) for family, is_weekly in ATTENDANCE_FAMILIES.items()]
    return [("admin_indicators" if source == "admin" else source, pl.lit(True))]


def source_of_family(family: str) -> str:
    """The mart source of an extract family (`admin_indicators` -> admin; extract_families in reverse)."""
    if family in ATTENDANCE_FAMILIES:
        return "attendance"
    return "admin" if family == "admin_indicators" else family


def _national_figures(frame: pl.DataFrame) -> pl.DataFrame:
    """England's figure (`national_value`) and its published status (`national_status`) of every indicator shown
    beside its figures (COMPARED_WITH_NATIONAL), by source, year and filter combination."""
    compared = [e.id for e in catalogue() if e.formula in COMPARED_WITH_NATIONAL]
    return frame.filter((pl.col("geographic_level") == "National") & pl.col("indicator").is_in(compared)).select(
        "source", "indicator", *TIME_COLUMNS, *FILTERS,
        pl.col("value").cast(pl.Float64).alias("national_value"), pl.col("published_status").alias("national_status"),
    )


def _with_comparisons(rows: pl.DataFrame, national: pl.DataFrame) -> pl.DataFrame:
    """An indicator's rows with the COMPARISON_FIELDS its comparison columns show: England's figure of the same
    year and filters and its status, and the row's low-reliability flag (LOW_RELIABILITY_FLAG)."""
    england = national.join(rows.select("source", "indicator").unique(), on=["source", "indicator"], how="semi")
    return rows.join(england.drop("source", "indicator"), on=[*TIME_COLUMNS, *FILTERS], how="left",
                     nulls_equal=True, maintain_order="left").with_columns(
        pl.col("published_status").replace_strict(LOW_RELIABILITY_FLAG, default=None, return_dtype=pl.Float64)
        .alias("low_reliability_flag"))


def _with_lookup_geography(frame: pl.DataFrame, lookup: pl.DataFrame) -> pl.DataFrame:
    """Replace geography names (and LA old codes) with the lookup's; fail on a code the lookup lacks.

    Column-wise: the error names the first offending mart row (1-based), as a row-by-row reading would.
    """
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars())
    nat = dict(lookup.filter(pl.col("geographic_level") == "National").select("code", "name").iter_rows())
    reg = dict(lookup.filter(pl.col("geographic_level") == "Regional").select("code", "name").iter_rows())
    las: dict[str, list[tuple[str, str]]] = {}
    for code, old, name in (
        lookup.filter(pl.col("geographic_level") == "Local authority")
        .select("code", "old_la_code", "name")
        .iter_rows()
    ):
        las.setdefault(code, []).append((old, name))

    def la_pair(new: str, old: str | None) -> tuple[str | None, str | None] | None:
        if new not in las:
            return None
        pairs = las[new]
        for o, n in pairs:
            if o == old:
                return o, n
        digits = [p for p in pairs if p[0] and p[0].isdigit()]
        return (digits or pairs)[-1 if len(digits) > 1 else 0]

    def col(name: str) -> pl.Expr:
        return pl.col(name) if name in frame.columns else pl.lit(None, pl.String)

    level = pl.col("geographic_level")
    work = frame.with_row_index("_row", offset=1).with_columns(
        pl.when((level == "Local authority") & col("new_la_code").is_null())
        .then(pl.col("geography_code"))
        .otherwise(col("new_la_code"))
        .alias("_new"),
        col("old_la_code").alias("_old"),
    )
    # every (new, old) LA pair present, resolved once through the lookup
    pairs = work.filter(pl.col("_new").is_not_null()).select("_new", "_old").unique()
    resolved = {(new, old): la_pair(new, old) for new, old in pairs.iter_rows()}
    # one text key per pair, so the resolution is a dictionary replace rather than a join of every row
    pair_key = pl.concat_str(pl.col("_new"), pl.col("_old").fill_null("\x00"), separator="\x1f")
    text_key = {f"{new}\x1f{chr(0) if old is None else old}": pair for (new, old), pair in resolved.items()}
    bad_country = work.filter(col("country_code").is_null() | ~col("country_code").is_in(list(nat)))["_row"]
    bad_region = work.filter(col("region_code").is_not_null() & ~col("region_code").is_in(list(reg)))["_row"]
    bad_pairs = [k for k, pair in text_key.items() if pair is None]
    bad_la = work.filter(pl.col("_new").is_not_null() & pair_key.is_in(bad_pairs))["_row"].to_list()
    firsts = (bad_country.min(), bad_region.min(), min(bad_la, default=None))
    found = [(row, order) for order, row in enumerate(firsts) if row is not None]
    if found:
        row, order = min(found)
        kind = ("country", "region", "la")[order]
        r = work.row(row - 1, named=True)
        if kind == "country":
            raise ExtractError(
                f"mart_indicators row {row}: country_code {r['country_code']!r} is not in the lookup"
            )
        if kind == "region":
            raise ExtractError(
                f"mart_indicators row {row}: region_code {r['region_code']!r} is not in the lookup"
            )
        raise ExtractError(
            f"mart_indicators row {row}: new_la_code {r['_new']!r} is not in the DfE geography lookup"
        )

    work = work.with_columns(
        pair_key.replace_strict(
            {k: v[0] for k, v in text_key.items()}, default=None, return_dtype=pl.String
        ).alias("_la_old"),
        pair_key.replace_strict(
            {k: v[1] for k, v in text_key.items()}, default=None, return_dtype=pl.String
        ).alias("_la_name"),
    )
    has_la = pl.col("_new").is_not_null()
    names = {
        "country_name": col("country_code").replace_strict(nat, default=None, return_dtype=pl.String),
        "new_la_code": pl.col("_new"),
        "old_la_code": pl.when(has_la).then(pl.col("_la_old")).otherwise(col("old_la_code")),
        "la_name": pl.when(has_la).then(pl.col("_la_name")).otherwise(col("la_name")),
    }
    regional_fill = (level == "Regional") & col("region_code").is_null()
    region_name = (
        pl.when(col("region_code").is_not_null())
        .then(col("region_code").replace_strict(reg, default=None, return_dtype=pl.String))
        .otherwise(col("region_name"))
    )
    names["region_name"] = (
        pl.when(regional_fill)
        .then(pl.col("geography_code").replace_strict(reg, default=None, return_dtype=pl.String))
        .otherwise(region_name)
    )
    names["region_code"] = pl.when(regional_fill).then(pl.col("geography_code")).otherwise(col("region_code"))
    names["trust_id"] = (
        pl.when((level == "MAT") & col("trust_id").is_null())
        .then(pl.col("geography_code"))
        .otherwise(col("trust_id"))
    )
    names["school_urn"] = (
        pl.when((level == "School") & col("school_urn").is_null())
        .then(pl.col("geography_code"))
        .otherwise(col("school_urn"))
    )
    work = work.with_columns(
        [expr.cast(frame.schema[name]).alias(name) for name, expr in names.items() if name in frame.columns]
    )
    return work.select(frame.columns)


def _fmt_column(values: pl.Series, statuses: pl.Series, dp: int) -> list[str]:
    """`_fmt` over a column: `values` already null wherever the status is not a number."""
    spec = f".{dp}f"
    out = []
    for v, st in zip(values.to_list(), statuses.to_list(), strict=True):
        if v is None:
            out.append(SYMBOLS.get(st, "x"))
            continue
        text = format(v, spec)
        if text[0] == "-" and text.lstrip("-").strip("0.") == "":  # no negative zero
            text = text[1:]
        out.append(text)
    return out


def _str_column(series: pl.Series) -> list[str]:
    """Each value as `str()` writes it (None as `None`, as the CSV has always shown a missing id)."""
    return [str(v) for v in series.to_list()]


# CSV injection (OWASP): a text cell a spreadsheet would run as a formula starts with = + - @, a tab or a
# carriage return. A plain number (`-1.5`) is data, not a formula. The extract gate checks the same pattern.
FORMULA_CELL = r"^(?:[=+@\t\r]|-(?!\d+(?:\.\d+)?$))"
_FORMULA = re.compile(FORMULA_CELL)
FORMULA_NOTE = (
    "Cells starting with = + - @, a tab or a carriage return are prefixed with an apostrophe (') so that "
    "spreadsheets show them as text instead of running them as formulas; the Parquet file holds the true value."
)


def neutralise_formula(text: str) -> str:
    """`text` as a spreadsheet shows it safely: a would-be formula gets a leading `'` (OWASP CSV injection)."""
    return "'" + text if _FORMULA.match(text) else text


def neutralised_cells(csv_path: Path) -> dict[str, int]:
    """Per column, the cells of a written extract that `neutralise_formula` prefixed (read back from the file)."""
    with open(csv_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        counts = [0] * len(header)
        for row in reader:
            for i, cell in enumerate(row):
                if cell[:1] == "'" and _FORMULA.match(cell[1:]):
                    counts[i] += 1
    return {c: n for c, n in zip(header, counts, strict=True) if n}


def _neutralise_column(values: list[str]) -> tuple[list[str], int]:
    """The column with every would-be formula neutralised, and how many cells were."""
    out = [neutralise_formula(v) for v in values]
    return out, sum(1 for a, b in zip(values, out, strict=True) if a != b)


def _write_extract(part: pl.DataFrame, level: str, name: str, out_dir: Path, national: pl.DataFrame) -> ExtractInfo:
    geo_cols = ["country_code", "country_name", *LEVEL_CONTEXT.get(level, ()), *LEVEL_GEOGRAPHY[level]]
    key_cols = [*TIME_COLUMNS, "geographic_level", *(LEVEL_GEOGRAPHY[level] or geo_cols[:1])]
    has_filters = part.select(pl.struct(FILTERS).n_unique()).item() > 1
    source = part["source"][0]
    ids = [*key_cols, *[c for c in geo_cols if c not in key_cols], *(FILTERS if has_filters else ())]

    # one row per key, in key order: every value compared as text (None as ""); with filters the `Total`
    # breakdown and value come first. `_k` numbers the keys in that order.
    text = [pl.col(c).cast(pl.String).fill_null("").alias(f"_s{i}") for i, c in enumerate(ids)]
    order = [f"_s{i}" for i in range(len(ids))]
    if has_filters:
        *head, bd, bv = order
        order = [*head, pl.col(bd) != "Total", bd, pl.col(bv) != "Total", bv]
    keys = part.select(*ids).unique().with_columns(text).sort(order).select(ids).with_row_index("_k")
    n_keys = keys.height

    # a column with no cell for a key: `x` where the key's filter combination has the column elsewhere,
    # else `z` (a gap exists only on the Total row)
    if has_filters:
        combos = keys.select(FILTERS).unique(maintain_order=True).with_row_index("_f")
        combo_of = keys.join(combos, on=list(FILTERS), how="left", nulls_equal=True, maintain_order="left")[
            "_f"
        ]
    else:
        combo_of = pl.Series("_f", [0] * n_keys, pl.UInt32)

    # the published columns of each mart indicator (the figure, its CI bounds and its coverage: indicator_columns),
    # one indicator at a time: its mart rows placed on their keys, each column scattered into key order
    columns: dict[str, Column] = {}
    typed, statuses, shown = {}, {}, {}
    number_status = ("value", "low_reliability")
    for ind in _indicator_order(part["indicator"].unique().to_list(), source):
        rows = part.filter(pl.col("indicator") == ind).join(keys, on=ids, how="left", nulls_equal=True,
                                                            maintain_order="left")
        ind_columns = indicator_columns(ind, source, level)
        if any(c.field in COMPARISON_FIELDS for c in ind_columns):
            rows = _with_comparisons(rows, national)
        if rows["_k"].is_duplicated().any():
            first = rows.filter(pl.col("_k").is_duplicated()).row(0, named=True)
            dup = {c: first[c] for c in ids} | {"_col": ind_columns[0].name}
            raise ExtractError(f"{name}: more than one mart row for {dup | {'len': rows['_k'].eq(first['_k']).sum()}}")
        at, present = rows["_k"], combo_of.is_in(combo_of.gather(rows["_k"]).unique().implode())
        for column in ind_columns:
            fallback = pl.select(  # a new Series each time: scatter writes into it
                pl.when(present).then(pl.lit("not_available")).otherwise(pl.lit("not_applicable"))
            ).to_series()
            columns[column.name] = column
            shown_values = rows[column.field].cast(pl.Float64)
            if column.follows_figure:
                own = rows[column.status].fill_null(fallback.gather(at))
            else:
                own = pl.select(pl.when(shown_values.is_not_null()).then(pl.lit("value"))
                                .otherwise(pl.lit("not_available"))).to_series()
            status = fallback.scatter(at, own)
            value = pl.Series(column.name, [None] * n_keys, pl.Float64).scatter(at, shown_values)
            value = pl.select(pl.when(status.is_in(number_status) & value.is_not_null()).then(value)).to_series()
            typed[column.name] = value.alias(column.name)
            statuses[column.name] = status.alias(f"{column.name}_status")
            shown[column.name] = _fmt_column(typed[column.name], statuses[column.name], column.dp)
    keys = keys.drop("_k")
    header = [
        *MANDATORY,
        *[c for c in geo_cols if c not in MANDATORY],
        *(FILTERS if has_filters else ()),
        *columns,
    ]
    csv_path, meta_path, pq_path = extract_paths(out_dir, name)
    # text cells (names, codes, filter values) are neutralised; indicator cells are numbers or GSS symbols
    id_text, neutralised = {}, {}
    for c in header:
        if c not in columns:
            id_text[c], n = _neutralise_column(_str_column(keys[c]))
            if n:
                neutralised[c] = n
    _write_csv(
        csv_path, header, zip(*(id_text[c] if c in id_text else shown[c] for c in header), strict=True)
    )
    _write_csv(meta_path, META_COLUMNS, _meta_rows(columns, has_filters, neutralised, FILTER_HINTS.get(source)))
    ids_out = [c for c in header if c not in columns]
    table = pl.DataFrame(
        [keys[c] if keys[c].null_count() < keys.height else keys[c].cast(pl.Null) for c in ids_out]
        + [typed[c].alias(c) for c in columns]
    ).with_columns(pl.col("time_period").cast(pl.Int32), *[pl.col(c).cast(pl.Float64) for c in columns])
    table = table.with_columns(list(statuses.values()))
    table.write_parquet(pq_path, compression="zstd", statistics=False)
    rows = keys.height
    return ExtractInfo(
        name,
        csv_path,
        meta_path,
        pq_path,
        rows,
        sha256_file(csv_path),
        sha256_file(meta_path),
        sha256_file(pq_path),
        neutralised,
    )


META_COLUMNS = [
    "col_name",
    "col_type",
    "label",
    "indicator_grouping",
    "indicator_unit",
    "indicator_dp",
    "filter_hint",
    "filter_grouping_column",
]


def _meta_rows(
    columns: dict[str, Column], has_filters: bool, neutralised: dict[str, int], filter_hint: str | None = None
) -> list[list[str]]:
    """The EES meta rows: filters, then indicators. A filter holding neutralised cells says so in its hint
    (geography columns have no meta row in the EES format: the manifest lists their counts)."""

    def hint(col: str, text: str) -> str:
        return f"{text}. {FORMULA_NOTE}".lstrip(". ") if col in neutralised else text

    rows = []
    if has_filters:
        rows.append(
            [
                "breakdown",
                "Filter",
                "Breakdown",
                "",
                "",
                "",
                hint("breakdown", filter_hint or "Choose a breakdown of respondents"),
                "",
            ]
        )
        rows.append(
            [
                "breakdown_value",
                "Filter",
                "Breakdown group",
                "",
                "",
                "",
                hint("breakdown_value", ""),
                "breakdown",
            ]
        )
    for col, info in columns.items():
        rows.append([col, "Indicator", info.label, info.grouping, info.unit, str(info.dp), "", ""])
    return rows


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
