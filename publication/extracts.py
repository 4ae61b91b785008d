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
import hashlib
import io
import json
import re
import shutil
from collections.abc import Callable
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


# the columns an extract shows or is keyed by (a national mart has millions of rows)
USED_COLUMNS = {*TIME_COLUMNS, *GEOGRAPHY_COLUMNS, *FILTERS, "geography_code", "source", "indicator", "value",
                "ci_lower", "ci_upper", "published_status", *COVERAGE_FIELDS}
# what decides an extract's shape before any of its rows is written (plan_extracts)
PLAN_COLUMNS = ("source", "geographic_level", "time_identifier", "indicator", *FILTERS)
MART_ROW = "_mart_row"  # a chunk's rows numbered as in the mart they came from (1-based), for error messages


def build_extracts(indicators: pl.DataFrame, out_dir: Path, geography_lookup: Path) -> list[ExtractInfo]:
    """Write every extract of `indicators` (rows of mart_indicators with `published_status`) to `out_dir`, one
    time period at a time (write_extracts)."""
    _check_disclosed(indicators)
    frame = indicators.with_row_index(MART_ROW, offset=1)
    parts = frame.partition_by("source", "time_period", as_dict=True)
    chunks = [Chunk(*key, load=lambda part=parts[key]: part) for key in sorted(parts, key=lambda k: chunk_order(*k))]
    return write_extracts(plan_extracts(indicators), chunks, out_dir, geography_lookup).infos


def _check_disclosed(frame: pl.DataFrame) -> None:
    if "published_status" not in frame.columns:
        raise ExtractError("mart_indicators: no published_status column: run apply_disclosure_control first")


def chunk_order(source: str, time_period) -> tuple[str, str]:
    """The order write_extracts takes its chunks in: by source, then by the text of the period (an extract's rows
    are in key order, compared as text, and the period leads the key)."""
    return source, str(time_period)


@dataclass(frozen=True, eq=False)
class ExtractPlan:
    """What an extract shows, decided from all of its rows before any is written: its indicators in catalogue
    order, whether it has filters, and for each indicator the filter combinations it has rows for (a key with no
    row of an indicator shows `x` where the indicator has rows of that combination, else `z`)."""

    name: str
    source: str
    level: str
    family: pl.Expr  # its rows among the source's (extract_families)
    indicators: tuple[str, ...]
    has_filters: bool
    present: dict[str, pl.DataFrame]  # indicator -> its distinct FILTERS

    def fingerprint(self) -> str:
        """Everything that shapes the extract, as text (a ChunkCache key)."""
        present = {ind: sorted(map(repr, frame.iter_rows())) for ind, frame in sorted(self.present.items())}
        return json.dumps([self.name, self.source, self.level, str(self.family), self.indicators, self.has_filters,
                           present])


def plan_extracts(rows: pl.DataFrame) -> list[ExtractPlan]:
    """The extracts of mart rows (any frame with PLAN_COLUMNS: whole, or their distinct combinations), in the
    order they are written: by source, family, then level (LEVEL_SLUG)."""
    distinct = rows.select(PLAN_COLUMNS).with_columns(pl.col(pl.String).str.strip_chars()).unique()
    plans = []
    for source in sorted(distinct["source"].unique().to_list()):
        for family, of_family in extract_families(source):
            for level, slug in LEVEL_SLUG.items():
                part = distinct.filter((pl.col("source") == source) & (pl.col("geographic_level") == level)
                                       & of_family)
                if not part.height:
                    continue
                present = {ind: g.select(FILTERS).unique() for (ind,), g in part.group_by("indicator")}
                plans.append(ExtractPlan(f"{family}_{slug}", source, level, of_family,
                                         tuple(_indicator_order(list(present), source)),
                                         part.select(FILTERS).unique().height > 1, present))
    return plans


@dataclass(frozen=True)
class Chunk:
    """The mart rows of one source and period, read only when needed (`load`: rows with `published_status`).
    `digest` names its rows (orchestration/assets/publication.py reads it from the mart); with one, the chunk's
    part of each extract can come from a ChunkCache."""

    source: str
    period: object
    load: Callable[[], pl.DataFrame]
    digest: str | None = None


@dataclass(frozen=True)
class Piece:
    """One chunk's part of one extract: its CSV lines, its typed rows for the Parquet file, the text cells it
    neutralised and its row count."""

    csv: bytes
    table: pl.DataFrame
    neutralised: dict[str, int]
    rows: int


@dataclass
class ExtractsWritten:
    infos: list[ExtractInfo]
    suppressed: int = 0  # survey figures suppressed, over every chunk
    chunks_built: int = 0
    chunks_reused: int = 0  # from the ChunkCache: rows, plan, code and settings all unchanged


def write_extracts(plans: list[ExtractPlan], chunks, out_dir: Path, geography_lookup: Path,
                   cache: ChunkCache | None = None) -> ExtractsWritten:
    """Write the extracts `plans` describes from `chunks` (Chunk, each of one source and one time period, in
    chunk_order). Only one chunk is held at a time: each extract's CSV grows chunk by chunk, in key order; its
    Parquet and metadata are written when its source's chunks end. With a `cache`, a chunk whose rows, extract
    plans, code and settings are those of an earlier run is not read at all: its pieces are reused."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lookup = load_geography_lookup(Path(geography_lookup))
    writers: dict[str, _ExtractWriter] = {}
    infos: dict[str, ExtractInfo] = {}
    written = ExtractsWritten([])
    last = None

    def finish(source):
        for plan in plans:
            if plan.source == source and plan.name in writers:
                infos[plan.name] = writers.pop(plan.name).finish()

    for chunk in chunks:
        if last is not None and chunk_order(chunk.source, chunk.period) <= last:
            raise ValueError(f"write_extracts: chunks must come in chunk_order ({chunk.source!r}, "
                             f"{chunk.period!r} came after {last!r})")
        if last is not None and last[0] != chunk.source:
            finish(last[0])
        last = chunk_order(chunk.source, chunk.period)
        ours = [plan for plan in plans if plan.source == chunk.source]
        reused = cache.get(chunk, ours) if cache is not None and chunk.digest else None
        if reused is None:
            pieces, suppressed = _pieces(chunk, ours, lookup)
            written.chunks_built += 1
            if cache is not None and chunk.digest:
                cache.put(chunk, ours, pieces, suppressed)
        else:
            pieces, suppressed = reused
            written.chunks_reused += 1
        written.suppressed += suppressed
        for plan in ours:
            if pieces.get(plan.name) is not None:
                if plan.name not in writers:
                    writers[plan.name] = _ExtractWriter(plan, out_dir)
                writers[plan.name].append(pieces[plan.name])
        del pieces  # before the next chunk is made
    if last is not None:
        finish(last[0])
    written.infos = [infos[plan.name] for plan in plans if plan.name in infos]
    return written


def _pieces(chunk: Chunk, plans: list[ExtractPlan], lookup: pl.DataFrame) -> tuple[dict[str, Piece | None], int]:
    """Each extract's piece of a chunk (None where the extract has no row in it), and its suppressed figures."""
    rows = chunk.load()
    _check_disclosed(rows)
    if rows.select(pl.col("source").n_unique() + pl.col("time_period").n_unique()).item() != 2 or (
        rows["source"][0], rows["time_period"][0]
    ) != (chunk.source, chunk.period):
        raise ValueError(f"write_extracts: a chunk must hold the rows of one source and period only "
                         f"({chunk.source!r}, {chunk.period!r})")
    suppressed = rows.filter(pl.col("published_status") == "suppressed").height
    frame = _with_lookup_geography(_published_columns(rows), lookup)
    del rows
    national = _national_figures(frame)
    pieces = {}
    for plan in plans:
        part = frame.filter((pl.col("geographic_level") == plan.level) & plan.family)
        pieces[plan.name] = _Shape(plan).piece(part, national) if part.height else None
        del part
    return pieces, suppressed


class ChunkCache:
    """Pieces of extracts kept between runs (one folder per chunk, named by a digest of the chunk's rows, the plans
    of its source's extracts and `salt`: the code and settings that make them). An incremental refresh rewrites
    only the chunks whose rows changed. `prune` keeps only what the last run used."""

    def __init__(self, folder: Path, salt: str):
        self.folder, self.salt = Path(folder), salt
        self.used: set[str] = set()

    def _key(self, chunk: Chunk, plans: list[ExtractPlan]) -> str:
        digest = hashlib.sha256(self.salt.encode())
        digest.update(json.dumps([chunk.source, str(chunk.period), chunk.digest]).encode())
        for plan in plans:
            digest.update(plan.fingerprint().encode())
        return digest.hexdigest()

    def get(self, chunk: Chunk, plans: list[ExtractPlan]) -> tuple[dict[str, Piece | None], int] | None:
        key = self._key(chunk, plans)
        entry = self.folder / key
        try:
            index = json.loads((entry / "index.json").read_text(encoding="utf-8"))
            pieces = {name: None if p is None else Piece((entry / f"{name}.csv").read_bytes(),
                                                         pl.read_parquet(entry / f"{name}.parquet"),
                                                         p["neutralised"], p["rows"])
                      for name, p in index["pieces"].items()}
        except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
            return None  # not there, or not whole: built again
        self.used.add(key)
        return pieces, index["suppressed"]

    def put(self, chunk: Chunk, plans: list[ExtractPlan], pieces: dict[str, Piece | None], suppressed: int) -> None:
        key = self._key(chunk, plans)
        entry = self.folder / key
        staging = self.folder / f".{key}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, piece in pieces.items():
            if piece is not None:
                (staging / f"{name}.csv").write_bytes(piece.csv)
                piece.table.write_parquet(staging / f"{name}.parquet", compression="zstd")
        index = {"suppressed": suppressed, "pieces": {
            name: None if p is None else {"neutralised": p.neutralised, "rows": p.rows} for name, p in pieces.items()}}
        (staging / "index.json").write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)  # whole or not at all
        self.used.add(key)

    def prune(self) -> None:
        """Remove every entry the last run did not use (a cache holds one run's chunks)."""
        for path in self.folder.glob("*") if self.folder.exists() else []:
            if path.name not in self.used:
                shutil.rmtree(path, ignore_errors=True)


def _published_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the columns an extract reads (USED_COLUMNS and the mart row numbers), coverage columns added empty."""
    frame = frame.select([c for c in frame.columns if c in USED_COLUMNS or c == MART_ROW])
    return frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in sorted(COVERAGE_FIELDS - set(frame.columns)))


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
    frame = _stripped(frame)
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
    # rows numbered as in the mart (MART_ROW, when the frame is a chunk of it), else as in the frame
    numbered = frame.rename({MART_ROW: "_row"}) if MART_ROW in frame.columns else frame.with_row_index("_row", offset=1)
    work = numbered.with_columns(
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
        r = work.filter(pl.col("_row") == row).row(0, named=True)
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
    return work.select(c for c in frame.columns if c != MART_ROW)


def _stripped(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column without surrounding whitespace: only the columns that have any are replaced, one at a
    time (a chunk of a national mart is not copied whole)."""
    for name in [c for c, dtype in frame.schema.items() if dtype == pl.String]:
        stripped = frame[name].str.strip_chars()
        if not stripped.equals(frame[name]):
            frame = frame.with_columns(stripped)
    return frame


def _fmt_column(values: pl.Series, statuses: pl.Series, dp: int) -> list[str]:
    """`_fmt` over a column: `values` already null wherever the status is not a number. Python's `format`
    (exact decimal rounding, half to even) for every number; a negative that rounds to zero loses its sign."""
    spec = f".{dp}f"
    out = [SYMBOLS.get(st, "x") if v is None else format(v, spec)
           for v, st in zip(values.to_list(), statuses.to_list(), strict=True)]
    for i in (values <= 0).fill_null(False).arg_true().to_list():  # no negative zero (-0.0 included)
        if out[i][0] == "-" and out[i].lstrip("-").strip("0.") == "":
            out[i] = out[i][1:]
    return out


def _str_column(series: pl.Series) -> list[str]:
    """Each value as `str()` writes it (None as `None`, as the CSV has always shown a missing id)."""
    if series.dtype == pl.String or series.dtype.is_integer():  # polars writes these as str() does
        return series.cast(pl.String).fill_null("None").to_list()
    return [str(v) for v in series.to_list()]


# CSV injection (OWASP): a text cell a spreadsheet would run as a formula starts with = + - @, a tab or a
# carriage return. A plain number (`-1.5`) is data, not a formula. The extract gate checks the same pattern.
FORMULA_CELL = r"^(?:[=+@\t\r]|-(?!\d+(?:\.\d+)?$))"
_FORMULA = re.compile(FORMULA_CELL)
FORMULA_FIRST = r"^[=+@\t\r-]"  # every cell FORMULA_CELL matches starts with one of these
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


def _text_cells(series: pl.Series) -> tuple[list[str], int]:
    """A key column's cells as text (`_str_column`), every would-be formula neutralised, and how many were. Only
    a cell starting with one of the formula's first characters can be one: those alone are matched (an integer's
    text never is one: `-5` is a number)."""
    out = _str_column(series)
    if series.dtype == pl.String:
        candidates = series.str.contains(FORMULA_FIRST).fill_null(False).arg_true().to_list()
    elif series.dtype.is_integer():
        candidates = []
    else:
        candidates = [i for i, text in enumerate(out) if text[:1] in "=+@\t\r-"]
    n = 0
    for i in candidates:
        shown = neutralise_formula(out[i])
        if shown != out[i]:
            out[i], n = shown, n + 1
    return out, n


CSV_SLICE = 50_000  # keys formatted as text at a time (Python strings cost ~60 bytes each)


NUMBER_STATUSES = ("value", "low_reliability")  # a cell with one of these shows its number


def _column_exprs(columns: list[Column], fallback: pl.Expr) -> list[pl.Expr]:
    """Each published column of an indicator (its number, and `<name>_status`) over its rows aligned to the
    extract's keys: a figure's own status (else `fallback`), a CI bound's or coverage's `value` where it has a
    number (else `not_available`), `fallback` for a key with no row; the number only where the status shows it."""
    out = []
    for column in columns:
        number = pl.col(column.field).cast(pl.Float64)
        own = (pl.col(column.status).cast(pl.String).fill_null(fallback) if column.follows_figure
               else pl.when(number.is_not_null()).then(pl.lit("value")).otherwise(pl.lit("not_available")))
        status = pl.when(pl.col("_hit").fill_null(False)).then(own).otherwise(fallback)
        out += [pl.when(status.is_in(NUMBER_STATUSES) & number.is_not_null()).then(number).alias(column.name),
                status.alias(f"{column.name}_status")]
    return out


class _Shape:
    """An extract's columns, keys and header, from its plan; `piece` makes one chunk's part of it."""

    def __init__(self, plan: ExtractPlan):
        level = plan.level
        self.plan = plan
        self.geo_cols = ["country_code", "country_name", *LEVEL_CONTEXT.get(level, ()), *LEVEL_GEOGRAPHY[level]]
        self.key_cols = [*TIME_COLUMNS, "geographic_level", *(LEVEL_GEOGRAPHY[level] or self.geo_cols[:1])]
        self.ids = [*self.key_cols, *[c for c in self.geo_cols if c not in self.key_cols],
                    *(FILTERS if plan.has_filters else ())]
        # the published columns of each mart indicator (the figure, its CI bounds and its coverage), in order
        self.columns: dict[str, Column] = {}
        self.of_indicator = {}
        for ind in plan.indicators:
            self.of_indicator[ind] = indicator_columns(ind, plan.source, level)
            self.columns |= {c.name: c for c in self.of_indicator[ind]}
        self.header = [*MANDATORY, *[c for c in self.geo_cols if c not in MANDATORY],
                       *(FILTERS if plan.has_filters else ()), *self.columns]
        self.ids_out = [c for c in self.header if c not in self.columns]

    def piece(self, part: pl.DataFrame, national: pl.DataFrame) -> Piece:
        """The rows of one time period: one extract row per key, in key order: every value compared as text (None
        as ""); with filters the `Total` breakdown and value come first. `_k` numbers the keys in that order."""
        plan, ids = self.plan, self.ids
        text = [pl.col(c).cast(pl.String).fill_null("").alias(f"_s{i}") for i, c in enumerate(ids)]
        order = [f"_s{i}" for i in range(len(ids))]
        if plan.has_filters:
            *head, bd, bv = order
            order = [*head, pl.col(bd) != "Total", bd, pl.col(bv) != "Total", bv]
        keys = part.select(*ids).unique().with_columns(text).sort(order).select(ids).with_row_index("_k")
        n_keys = keys.height
        # a column with no cell for a key: `x` where the indicator has rows of the key's filter combination
        # (in any period of the extract: plan.present), else `z` (a gap exists only on the Total row)
        combos = keys.select(FILTERS).unique(maintain_order=True).with_row_index("_f") if plan.has_filters else None
        combo_of = (keys.join(combos, on=list(FILTERS), how="left", nulls_equal=True, maintain_order="left")["_f"]
                    if plan.has_filters else None)

        typed, statuses = {}, {}
        for ind, ind_columns in self.of_indicator.items():
            if plan.has_filters:
                held = combos.join(plan.present[ind], on=list(FILTERS), how="semi", nulls_equal=True)["_f"]
                present = combo_of.is_in(held.implode())
            else:
                present = pl.Series([True] * n_keys, dtype=pl.Boolean)
            rows = part.filter(pl.col("indicator") == ind).join(keys, on=ids, how="left", nulls_equal=True,
                                                                maintain_order="left")
            if any(c.field in COMPARISON_FIELDS for c in ind_columns):
                rows = _with_comparisons(rows, national)
            if rows["_k"].is_duplicated().any():
                first = rows.filter(pl.col("_k").is_duplicated()).row(0, named=True)
                dup = {c: first[c] for c in ids} | {"_col": ind_columns[0].name}
                raise ExtractError(f"{plan.name}: more than one mart row for "
                                   f"{dup | {'len': rows['_k'].eq(first['_k']).sum()}}")
            # every column of the indicator in one query over its rows aligned to the keys (`_hit`: the key has a
            # row); a key with no row: `x` or `z` as above, no number
            fields = list(dict.fromkeys([c.field for c in ind_columns]
                                        + [c.status for c in ind_columns if c.follows_figure]))
            aligned = keys.select("_k").with_columns(present.alias("_present")).join(
                rows.select("_k", *fields).with_columns(pl.lit(True).alias("_hit")), on="_k", how="left",
                maintain_order="left")
            fallback = pl.when(pl.col("_present")).then(pl.lit("not_available")).otherwise(pl.lit("not_applicable"))
            shown = aligned.select(_column_exprs(ind_columns, fallback))
            for column in ind_columns:
                typed[column.name] = shown[column.name]
                statuses[column.name] = shown[f"{column.name}_status"]
        keys = keys.drop("_k")
        # the CSV: text cells (names, codes, filter values) neutralised; indicator cells numbers or GSS symbols
        lines, neutralised = [], {}
        for start in range(0, n_keys, CSV_SLICE):
            cells = {}
            for c in self.header:
                if c in self.columns:
                    cells[c] = _fmt_column(typed[c].slice(start, CSV_SLICE), statuses[c].slice(start, CSV_SLICE),
                                           self.columns[c].dp)
                else:
                    cells[c], n = _text_cells(keys[c].slice(start, CSV_SLICE))
                    if n:
                        neutralised[c] = neutralised.get(c, 0) + n
            lines.append(_csv_bytes(zip(*(cells[c] for c in self.header), strict=True)))
        table = pl.DataFrame([keys[c] for c in self.ids_out] + [typed[c] for c in self.columns]
                             + list(statuses.values()))
        return Piece(b"".join(lines), table, neutralised, n_keys)


class _ExtractWriter(_Shape):
    """One extract, written one chunk (time period) at a time: its CSV rows appended in key order as each chunk
    comes, its typed columns kept until `finish` writes the Parquet and the metadata."""

    def __init__(self, plan: ExtractPlan, out_dir: Path):
        super().__init__(plan)
        self.csv_path, self.meta_path, self.pq_path = extract_paths(out_dir, plan.name)
        self.csv = open(self.csv_path, "wb")  # noqa: SIM115 - closed by finish
        self.csv.write(_csv_bytes([self.header]))
        self.tables: list[pl.DataFrame] = []
        self.neutralised: dict[str, int] = {}
        self.rows = 0

    def append(self, piece: Piece) -> None:
        """The next chunk's piece: its lines after the CSV's, its rows kept for the Parquet file."""
        self.csv.write(piece.csv)
        self.tables.append(piece.table)
        for column, n in piece.neutralised.items():
            self.neutralised[column] = self.neutralised.get(column, 0) + n
        self.rows += piece.rows

    def finish(self) -> ExtractInfo:
        """Close the CSV; write the metadata and the Parquet file (the columns typed, an empty id column as Null)."""
        self.csv.close()
        _write_csv(self.meta_path, META_COLUMNS, _meta_rows(self.columns, self.plan.has_filters, self.neutralised,
                                                            FILTER_HINTS.get(self.plan.source)))
        table = pl.concat(self.tables, rechunk=True)
        self.tables = []
        table = table.with_columns(
            [table[c].cast(pl.Null) for c in self.ids_out if table[c].null_count() == table.height]
        ).with_columns(pl.col("time_period").cast(pl.Int32), *[pl.col(c).cast(pl.Float64) for c in self.columns])
        table.write_parquet(self.pq_path, compression="zstd", statistics=False)
        return ExtractInfo(self.plan.name, self.csv_path, self.meta_path, self.pq_path, self.rows,
                           sha256_file(self.csv_path), sha256_file(self.meta_path), sha256_file(self.pq_path),
                           self.neutralised)


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


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
