"""Reader for the DfE's "suspensions and permanent exclusions by pupil characteristic" files, every vintage.

Three layouts (ingestion/registry.yaml `exclusions_by_characteristic`), each placed by its header: the pre-EES
SFR CSVs (`year, level, characteristic_desc, characteristic_1, characteristic_2`), the 2019 EES CSVs
(`characteristic_group, characteristic`, `fixed_excl`) and the current EES CSVs (`suspension`, `education_phase`,
`breakdown_topic`/`breakdown` in the detailed files). Rows are National, Regional and Local authority; each
becomes one row of lake table `dfe_exclusions_characteristics` with the characteristic as published and the
category it maps to (config/characteristics.yaml), every measure a value and its status (the vintage's symbols
kept as statuses, never 0).

Refused whole (one line naming file, row and what is wrong): a column the layout does not know, a characteristic
label the label map does not know. Quarantined by row (file, row, column, rule): an unknown geographic level, a
bad time period, a cell that is neither a number nor a symbol of the vintage, a negative count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

from ingestion.ees import (
    NUMBER_RE,
    REGISTRY_PATH,
    _canonical_case,
    _cell,
    _number,
    _status,
    _symbol_counts,
    academic_year_ok,
    load_registry,
    read_csv_strings,
    read_header,
)
from ingestion.lake import SourceFile
from ingestion.lake_schema import CHARACTERISTIC_PUBLICATION, DFE_MEASURES, TABLES
from ingestion.results import FileRefused, ReadResult, UnknownFormat, concat_quarantine, quarantine_where

ROOT = Path(__file__).resolve().parent.parent
TABLE = "dfe_exclusions_characteristics"
UNKNOWN_LABEL_RULE = "unknown_characteristic"
UNKNOWN_COLUMN_RULE = "unknown_column"
NO_TOTAL_RULE = "breakdown_without_total"  # the rule of ingestion/breakdowns.py, for the same fault
MAX_ROWS = 3  # row numbers named in a refusal
MEASURES = DFE_MEASURES["exclusions"]
TEXTS = ("country_code", "country_name", "region_code", "region_name", "old_la_code", "new_la_code", "la_name")
LEVELS = ("National", "Regional", "Local authority")  # the levels these files publish


def _key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def label_key(label: str) -> str:
    """How a characteristic label is matched: case ignored, `_` and `-` as spaces, repeated spaces as one."""
    return " ".join(re.sub(r"[_\-]", " ", label).split()).lower()


def _label_expr(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[_\-]", " ").str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()


# --------------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Layout:
    vintage: str
    symbols: dict[str, str]
    identify_all: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (source, canonical)
    characteristics: tuple[tuple[str, str | None], ...]  # (group column, value column) or (filter column, None)
    known_unused: tuple[str, ...]
    unused_patterns: tuple[re.Pattern, ...]
    time_identifier: str | None

    def matches(self, keys: set[str]) -> bool:
        return all(_key(c) in keys for c in self.identify_all)

    def knows(self, key: str) -> bool:
        named = {_key(s) for s, _ in self.columns} | {_key(c) for c in self.known_unused}
        named |= {_key(c) for pair in self.characteristics for c in pair if c is not None}
        return key in named or any(p.search(key) for p in self.unused_patterns)


@dataclass(frozen=True)
class Labels:
    """config/characteristics.yaml, keyed by label_key."""

    path: Path
    groups: dict[str, str]  # group label -> breakdown
    groups_not_read: frozenset[str]
    values: dict[tuple[str, str], str]  # (breakdown, value label) -> category
    not_read: dict[str, frozenset[str]]  # breakdown -> value labels known and not read
    not_read_patterns: dict[str, tuple[re.Pattern, ...]]
    comparison: dict[str, str]  # breakdown -> its risk ratios' comparison (a category, or `rest`)
    categories: dict[str, tuple[str, ...]]  # breakdown -> its categories in declared order


@lru_cache(maxsize=4)
def load_layouts(path: Path | str = REGISTRY_PATH) -> tuple[tuple[Layout, ...], Path]:
    whole = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    doc, registry_doc = whole["exclusions_by_characteristic"], whole["symbols"]
    layouts = []
    for entry in doc["layouts"]:
        where = f"{path}: exclusions_by_characteristic/{entry.get('vintage')}"
        if entry["symbols"] not in registry_doc:
            raise ValueError(f"{where}: unknown symbol set {entry['symbols']!r}")
        canon = {str(c) for c in entry["columns"].values()}
        allowed = set(TEXTS) | {"time_period", "time_identifier", "geographic_level", "phase", *MEASURES}
        if canon - allowed:
            raise ValueError(f"{where}: canonical columns not in the lake table: {sorted(canon - allowed)}")
        chars = []
        for c in entry["characteristics"]:
            chars.append((str(c[0]), str(c[1])) if isinstance(c, list) else (str(c), None))
        unused = [str(c) for c in entry.get("known_unused", [])]
        layouts.append(
            Layout(
                vintage=str(entry["vintage"]),
                symbols={str(k).lower(): v for k, v in registry_doc[entry["symbols"]].items()},
                identify_all=tuple(entry["identify"]["all"]),
                columns=tuple((str(s), str(c)) for s, c in entry["columns"].items()),
                characteristics=tuple(chars),
                known_unused=tuple(c for c in unused if not c.startswith("re:")),
                unused_patterns=tuple(re.compile(c[3:], re.IGNORECASE) for c in unused if c.startswith("re:")),
                time_identifier=entry.get("time_identifier"),
            )
        )
    return tuple(layouts), ROOT / doc["labels"]


@lru_cache(maxsize=4)
def load_labels(path: Path | str | None = None) -> Labels:
    """The label map, checked: a label in two places is an error naming both."""
    path = Path(path) if path else load_layouts()[1]
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups: dict[str, str] = {}
    values: dict[tuple[str, str], str] = {}
    not_read: dict[str, frozenset[str]] = {}
    patterns: dict[str, tuple[re.Pattern, ...]] = {}
    comparison: dict[str, str] = {}
    categories: dict[str, tuple[str, ...]] = {}
    for breakdown, spec in doc["breakdowns"].items():
        for g in spec["groups"]:
            if groups.get(label_key(g), breakdown) != breakdown:
                raise ValueError(f"{path}: group {g!r} is in {groups[label_key(g)]!r} and {breakdown!r}")
            groups[label_key(g)] = breakdown
        for category, labels in spec["values"].items():
            for label in labels:
                if values.get((breakdown, label_key(label)), category) != category:
                    raise ValueError(f"{path}: {breakdown} label {label!r} maps to two categories")
                values[(breakdown, label_key(label))] = str(category)
        not_read[breakdown] = frozenset(label_key(v) for v in spec.get("not_read", []))
        patterns[breakdown] = tuple(re.compile(p, re.IGNORECASE) for p in spec.get("not_read_patterns", []))
        categories[breakdown] = tuple(map(str, spec["values"]))
        cmp = str(spec["comparison"])
        if cmp != "rest" and cmp not in categories[breakdown]:
            raise ValueError(f"{path}: {breakdown} comparison {cmp!r} is neither `rest` nor one of its values")
        comparison[breakdown] = cmp
    return Labels(
        path=path,
        groups=groups,
        groups_not_read=frozenset(label_key(g) for g in doc.get("groups_not_read", [])),
        values=values,
        not_read=not_read,
        not_read_patterns=patterns,
        comparison=comparison,
        categories=categories,
    )


# --------------------------------------------------------------------------------------------- recognition
def identify(columns: list[str]) -> Layout | None:
    """The layout these header columns are, or None when the file is not a by-characteristic file."""
    keys = {_key(c) for c in columns}
    found = [layout for layout in load_layouts()[0] if layout.matches(keys)]
    return max(found, key=lambda v: len(v.identify_all)) if found else None


def sniff(path: Path | str) -> bool:
    """True when the file's header is one of the by-characteristic layouts."""
    try:
        return identify(read_header(Path(path))) is not None
    except OSError:
        return False


# --------------------------------------------------------------------------------------------- reading
def read_characteristics(source: SourceFile, labels: Labels | None = None) -> ReadResult:
    path = Path(source.path)
    name = path.name
    labels = labels or load_labels()
    raw, encoding = read_csv_strings(path)
    layout = identify(raw.columns)
    if layout is None:
        raise UnknownFormat(f"{name}: not a DfE exclusions-by-characteristic file (header not recognised)")
    src = {_key(c): c for c in raw.columns}
    surprise = [c for c in raw.columns if not layout.knows(_key(c))]
    if surprise:
        raise FileRefused(
            f"{name}: exclusions by characteristic ({layout.vintage}): column(s) {', '.join(surprise)} are not in "
            f"the layout ingestion/registry.yaml declares for it: a new column is a question, not noise, so the "
            f"whole file is refused (rule {UNKNOWN_COLUMN_RULE})",
            UNKNOWN_COLUMN_RULE,
        )
    source_of: dict[str, str] = {}
    for s, c in layout.columns:
        if c not in source_of and _key(s) in src:
            source_of[c] = src[_key(s)]
    registry = load_registry()
    frame = raw.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))

    # where each row's characteristic is: the one (group, value) that is not Total
    pairs = [(g, v) for g, v in layout.characteristics if _key(g) in src and (v is None or _key(v) in src)]
    if not pairs or layout.characteristics[0] not in pairs:
        raise UnknownFormat(f"{name}: exclusions by characteristic ({layout.vintage}): no characteristic columns")
    group_exprs, value_exprs, non_total = [], [], []
    for g, v in pairs:
        value_col = src[_key(v if v is not None else g)]
        group = _cell(src[_key(g)]) if v is not None else pl.lit(g)
        value = _cell(value_col)
        group_exprs.append(group)
        value_exprs.append(value)
        non_total.append(value.is_not_null() & (value.str.to_lowercase() != "total"))
    n_non_total = pl.sum_horizontal([e.cast(pl.Int32) for e in non_total])
    which = pl.coalesce([pl.when(nt).then(pl.lit(i)) for i, nt in enumerate(non_total)])
    group = pl.coalesce([pl.when(which == i).then(e) for i, e in enumerate(group_exprs)])
    value = pl.coalesce([pl.when(which == i).then(e) for i, e in enumerate(value_exprs)])
    frame = frame.with_columns(
        n_non_total.alias("_n_non_total"),
        pl.when(n_non_total == 0).then(pl.lit("Total")).otherwise(group).alias("characteristic_group"),
        pl.when(n_non_total == 0).then(pl.lit("Total")).otherwise(value).alias("characteristic"),
    )
    crosstab = frame.filter(pl.col("_n_non_total") > 1).height
    frame = frame.filter(pl.col("_n_non_total") <= 1)
    _refuse_without_total(frame, source_of, name)
    mapped, not_read = _map_labels(frame, labels, name)

    exprs: list[pl.Expr] = [pl.col("row_number")]
    tid = (
        _canonical_case(source_of["time_identifier"], registry.time_identifiers)
        if "time_identifier" in source_of
        else pl.lit(layout.time_identifier)
    )
    exprs.append(tid.alias("time_identifier"))
    exprs.append(_cell(source_of["time_period"]).alias("_time_period_raw"))
    exprs.append(_canonical_case(source_of["geographic_level"], registry.geographic_levels).alias("geographic_level"))
    for c in TEXTS:
        exprs.append(_cell(source_of[c]).alias(c) if c in source_of else pl.lit(None, pl.String).alias(c))
    if "phase" in source_of:
        ph = _cell(source_of["phase"])
        exprs.append(pl.when(ph.str.to_lowercase() == "total").then(pl.lit("Total")).otherwise(ph).alias("phase"))
    else:
        exprs.append(pl.lit("Total").alias("phase"))
    exprs += [pl.col(c) for c in ("characteristic_group", "characteristic", "breakdown", "breakdown_value")]
    for m in MEASURES:
        if m in source_of:
            exprs += [_cell(source_of[m]).alias(f"_{m}_raw"), _number(source_of[m]).alias(m),
                      _status(source_of[m], layout.symbols).alias(f"{m}_status")]  # fmt: skip
        else:
            exprs += [pl.lit(None, pl.String).alias(f"_{m}_raw"), pl.lit(None, pl.Float64).alias(m),
                      pl.lit("missing").alias(f"{m}_status")]  # fmt: skip
    out = mapped.select(exprs)
    quarantine = _quarantine(out, layout, source_of, registry, name)
    bad = quarantine.get_column("row_number").unique() if quarantine.height else pl.Series([], dtype=pl.Int64)
    loaded = out.filter(~pl.col("row_number").is_in(bad.implode())).with_columns(
        pl.col("_time_period_raw").cast(pl.Int32).alias("time_period"),
        pl.lit(CHARACTERISTIC_PUBLICATION).alias("publication"),
        pl.lit(layout.vintage).alias("vintage"),
        pl.lit(None, pl.String).alias("school_urn"),
        pl.lit(None, pl.String).alias("school_laestab"),
        pl.lit(None, pl.String).alias("school_name"),
    )
    schema = {c: t for c, t in TABLES[TABLE].items() if not c.startswith("_")}
    exclusions = {k: n for k, n in (("characteristic_rows_not_read", not_read), ("cross_tab_rows", crosstab)) if n}
    summary = {
        "publication": CHARACTERISTIC_PUBLICATION,
        "vintage": layout.vintage,
        "rows_by_level": dict(sorted(loaded.group_by("geographic_level").len().iter_rows())),
        "rows_by_breakdown": dict(sorted(loaded.group_by("breakdown").len().iter_rows())),
        "symbols": _symbol_counts(raw, [source_of[m] for m in MEASURES if m in source_of]),
        "time_periods": sorted(loaded.get_column("time_period").unique().to_list()),
        "rows_quarantined": int(bad.len()),
        **exclusions,
    }
    return ReadResult(
        tables={TABLE: loaded.select([pl.col(c).cast(t) for c, t in schema.items()])},
        quarantine=quarantine,
        source_kind="dfe",
        publication=CHARACTERISTIC_PUBLICATION,
        vintage=layout.vintage,
        encoding=encoding,
        rows_read=raw.height,
        exclusions=exclusions,
        summary=summary,
    )


def _refuse_without_total(frame: pl.DataFrame, source_of: dict[str, str], name: str) -> None:
    """Every place (year, level, geography, phase) with rows by characteristic has its all-pupils `Total` row:
    the risk ratios against all other pupils need it, and a file without it is not the DfE's whole file."""
    keys = [source_of[c] for c in ("time_period", "geographic_level", "region_code", "new_la_code", "old_la_code",
                                   "phase") if c in source_of]  # fmt: skip
    places = frame.group_by(keys, maintain_order=True).agg(
        (pl.col("_n_non_total") == 0).any().alias("_has_total"), pl.col("row_number").head(MAX_ROWS + 1))
    lacking = places.filter(~pl.col("_has_total"))
    if not lacking.height:
        return
    first = lacking.row(0, named=True)
    place = " ".join(str(first[k]) for k in keys if first[k] not in (None, ""))
    rows = first["row_number"]
    at = ", ".join(map(str, rows[:MAX_ROWS])) + (", ..." if len(rows) > MAX_ROWS else "")
    more = f" ({lacking.height - 1} more place(s) like it)" if lacking.height > 1 else ""
    raise FileRefused(
        f"{name}: rows split by 'characteristic' but no 'Total' row for {place} (rows {at}){more}: the all-pupils "
        f"row is what each group is compared with, so the whole file is refused (rule {NO_TOTAL_RULE})",
        NO_TOTAL_RULE,
    )


def _map_labels(frame: pl.DataFrame, labels: Labels, name: str) -> tuple[pl.DataFrame, int]:
    """Each row's (breakdown, breakdown_value) from the label map; rows known and not read left out (counted).
    An unknown group or label refuses the whole file, naming its first row."""
    g = _label_expr(pl.col("characteristic_group"))
    v = _label_expr(pl.col("characteristic"))
    work = frame.with_columns(g.alias("_g"), v.alias("_v"))
    work = work.with_columns(
        pl.when((pl.col("_g") == "total") & (pl.col("_v") == "total"))
        .then(pl.lit("Total"))
        .otherwise(pl.col("_g").replace_strict(labels.groups, default=None, return_dtype=pl.String))
        .alias("breakdown"),
        pl.col("_g").is_in(list(labels.groups_not_read)).alias("_group_not_read"),
    )
    value_of = {f"{b}\x1f{label}": c for (b, label), c in labels.values.items()}
    key = pl.concat_str(pl.col("breakdown"), pl.col("_v"), separator="\x1f")
    work = work.with_columns(
        pl.when(pl.col("breakdown") == "Total")
        .then(pl.lit("Total"))
        .otherwise(key.replace_strict(value_of, default=None, return_dtype=pl.String))
        .alias("breakdown_value")
    )
    value_not_read = pl.lit(False)
    for b, known in labels.not_read.items():
        pats = labels.not_read_patterns.get(b, ())
        hit = pl.col("_v").is_in(list(known))
        for p in pats:
            hit = hit | pl.col("_v").str.contains(p.pattern)
        value_not_read = value_not_read | ((pl.col("breakdown") == b) & hit)
    work = work.with_columns((pl.col("_group_not_read") | value_not_read).alias("_not_read"))
    unknown = work.filter(~pl.col("_not_read") & pl.col("breakdown_value").is_null())
    if unknown.height:
        r = unknown.row(0, named=True)
        more = f" ({unknown.height - 1} more row(s) like it)" if unknown.height > 1 else ""
        if r["breakdown"] is None:
            what = f"characteristic group {r['characteristic_group']!r} (label {r['characteristic']!r})"
        else:
            what = f"characteristic {r['characteristic']!r} of group {r['characteristic_group']!r} ({r['breakdown']})"
        raise FileRefused(
            f"{name} row {r['row_number']}: {what} is not in {labels.path.name}{more}: an unknown label is a "
            f"question, not noise, so the whole file is refused; add it to config/characteristics.yaml "
            f"(rule {UNKNOWN_LABEL_RULE})",
            UNKNOWN_LABEL_RULE,
        )
    kept = work.filter(~pl.col("_not_read"))
    return kept.drop("_g", "_v", "_group_not_read", "_not_read"), work.height - kept.height


def _quarantine(out: pl.DataFrame, layout: Layout, source_of: dict[str, str], registry, name: str) -> pl.DataFrame:
    parts: list[pl.DataFrame | None] = []
    tp_src = source_of["time_period"]
    tp = pl.col("_time_period_raw")
    parts.append(quarantine_where(out, ~academic_year_ok(tp).fill_null(False), tp_src, tp, "time_period_format",
                                  f"{tp_src} is not YYYYYY with consecutive years (e.g. 201617)", name))
    gl_src = source_of["geographic_level"]
    gl = pl.col("geographic_level")
    parts.append(quarantine_where(out, gl.is_null() | ~gl.is_in(list(LEVELS)), gl_src, gl, "geographic_level",
                                  f"{gl_src} is not a level these files publish ({', '.join(LEVELS)})", name))
    allowed = ", ".join(repr(s) for s in layout.symbols)
    for m in MEASURES:
        if m not in source_of:
            continue
        c, cell = source_of[m], pl.col(f"_{m}_raw")
        parts.append(quarantine_where(out, pl.col(f"{m}_status").is_null(), c, cell, "unknown_symbol",
                                      f"{c} is neither a number nor a symbol of the {layout.vintage} vintage "
                                      f"({allowed})", name))  # fmt: skip
        negative = cell.str.contains(NUMBER_RE) & cell.str.starts_with("-")
        parts.append(quarantine_where(out, negative, c, cell, "negative_value",
                                      f"{c} is negative: counts and rates cannot be", name))
    return concat_quarantine(parts)
