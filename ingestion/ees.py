"""Reader for DfE Explore Education Statistics (EES) open-data CSVs: census, SEN, absence, exclusions.

The publication and vintage are recognised from the header through the declared registry
(`ingestion/registry.yaml`), never from the file name. Every measure becomes a pair `<measure>` (Float64,
null unless a number was published) and `<measure>_status` (ingestion.lake_schema.STATUSES), the symbol's
meaning keyed to the vintage. Aggregate rows (National, Regional, Local authority, ...) are kept beside
School rows. Rows that break a rule go to quarantine (not to the lake table), one quarantine row per broken
rule, naming the file, row, column and rule. A file whose rows split by a column the registry does not map (a
filter declared in its `.meta.csv`, or a text column whose values differ within one geography and year) is a
breakdown: only its `Total` rows load, or the whole file is refused (`ingestion/breakdowns.py`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

from ingestion.breakdowns import read_meta, select_totals
from ingestion.files import UnreadableFile, open_no_follow, read_text
from ingestion.lake import SourceFile
from ingestion.lake_schema import DFE_MEASURES, STATUSES, dfe_schema
from ingestion.results import ReadResult, UnknownFormat, concat_quarantine, quarantine_where

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")

# A number as published: optional sign, digits with or without thousands separators, optional decimals.
NUMBER_RE = r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\.\d+$"
URN_RE = r"^\d{6}$"
LAESTAB_RE = r"^\d{7}$"
TIME_PERIOD_RE = r"^\d{6}$"
MAX_LISTED = 12  # columns named in a one-line UnknownFormat message before "... and N more"

# canonical column -> the rule id for its format check
_KEY_RULES = {
    "school_urn": ("urn_format", URN_RE, "a 6-digit URN"),
    "school_laestab": ("laestab_format", LAESTAB_RE, "a 7-digit LAESTAB"),
}


def _key(name: str) -> str:
    """How a column name is matched: no BOM, no surrounding whitespace, case ignored."""
    return name.replace("\ufeff", "").strip().lower()


@dataclass(frozen=True)
class Vintage:
    publication: str
    vintage: str
    symbols: dict[str, str]  # lower-case symbol -> status
    identify_all: tuple[str, ...]
    identify_any: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (source, canonical), in declared order
    phase: tuple[str, ...]
    sums: tuple[tuple[str, tuple[str, ...]], ...]
    bounds: tuple[tuple[str, str], ...]
    known_unused: tuple[str, ...]
    unused_patterns: tuple[re.Pattern, ...]
    identify_note: str = ""  # what a file with most but not all of identify_all is likely to be

    def missing(self, keys: set[str]) -> list[str]:
        """The identifying columns a header lacks (empty when it has them all)."""
        return [c for c in self.identify_all if _key(c) not in keys]

    def matches(self, keys: set[str]) -> bool:
        if not all(_key(c) in keys for c in self.identify_all):
            return False
        return not self.identify_any or any(_key(c) in keys for c in self.identify_any)

    def places(self, key: str) -> bool:
        """Whether this entry knows a source column (mapped, summed, phase or known unused)."""
        named = {_key(s) for s, _ in self.columns} | {_key(p) for p in self.phase}
        named |= {_key(p) for _, parts in self.sums for p in parts}
        named |= {_key(c) for c in self.known_unused}
        return key in named or any(p.search(key) for p in self.unused_patterns)


@dataclass(frozen=True)
class Registry:
    mandatory: tuple[str, ...]
    common: tuple[tuple[str, str], ...]
    geographic_levels: tuple[str, ...]
    time_identifiers: tuple[str, ...]
    vintages: tuple[Vintage, ...]


@lru_cache(maxsize=4)
def load_registry(path: Path | str = REGISTRY_PATH) -> Registry:
    """Parse and check the declared registry (a mistake in it fails loudly, naming the entry)."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    symbol_sets = {
        name: {str(sym).lower(): status for sym, status in table.items()}
        for name, table in doc["symbols"].items()
    }
    for name, table in symbol_sets.items():
        bad = [s for s in table.values() if s not in STATUSES]
        if bad:
            raise ValueError(f"{path}: symbol set {name!r} maps to unknown statuses {bad}")
    vintages = []
    for entry in doc["publications"]:
        where = f"{path}: {entry.get('publication')}/{entry.get('vintage')}"
        publication = entry["publication"]
        if publication not in DFE_MEASURES:
            raise ValueError(f"{where}: unknown publication {publication!r}")
        allowed = set(DFE_MEASURES[publication]) | {"school_urn", "school_laestab"}
        columns = tuple((str(s), str(c)) for s, c in entry.get("columns", {}).items())
        sums = tuple((str(c), tuple(map(str, parts))) for c, parts in entry.get("sums", {}).items())
        targets = {c for _, c in columns} | {c for c, _ in sums}
        if targets - allowed:
            raise ValueError(
                f"{where}: canonical columns not in the lake schema: {sorted(targets - allowed)}"
            )
        bounds = tuple((str(n), str(d)) for n, d in entry.get("bounds", []))
        if {m for pair in bounds for m in pair} - set(DFE_MEASURES[publication]):
            raise ValueError(f"{where}: bounds name columns that are not measures: {bounds}")
        if entry["symbols"] not in symbol_sets:
            raise ValueError(f"{where}: unknown symbol set {entry['symbols']!r}")
        unused = [str(c) for c in entry.get("known_unused", [])]
        vintages.append(
            Vintage(
                publication=publication,
                vintage=str(entry["vintage"]),
                symbols=symbol_sets[entry["symbols"]],
                identify_all=tuple(entry["identify"].get("all", [])),
                identify_any=tuple(entry["identify"].get("any", [])),
                columns=columns,
                phase=tuple(entry.get("phase", [])),
                sums=sums,
                bounds=bounds,
                known_unused=tuple(c for c in unused if not c.startswith("re:")),
                unused_patterns=tuple(
                    re.compile(c[3:], re.IGNORECASE) for c in unused if c.startswith("re:")
                ),
                identify_note=" ".join(str(entry["identify"].get("note", "")).split()),
            )
        )
    return Registry(
        mandatory=tuple(doc["mandatory"]),
        common=tuple((str(s), str(c)) for s, c in doc["common"].items()),
        geographic_levels=tuple(doc["geographic_levels"]),
        time_identifiers=tuple(doc["time_identifiers"]),
        vintages=tuple(vintages),
    )


def academic_year_ok(period: pl.Expr) -> pl.Expr:
    """THE academic-year rule of EES `time_period`: six digits naming two consecutive years (201617, not
    201618). Ingestion quarantines rows that break it; the extract gate's screener applies it to what we publish."""
    text = period.cast(pl.String)
    first = text.str.slice(0, 4).cast(pl.Int32, strict=False)
    second = text.str.slice(4, 2).cast(pl.Int32, strict=False)
    return text.str.contains(TIME_PERIOD_RE) & (((first + 1) % 100) == second)


# --------------------------------------------------------------------------------------------- sniffing
def read_header(path: Path) -> list[str]:
    """The first line of a file as CSV fields (encoding detected as read_text does, first 64 KiB only)."""
    with open_no_follow(path) as fh:
        raw = fh.read(1 << 16)
    if b"\x00" in raw[:4096]:
        return []
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    line = text.splitlines()[0] if text else ""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


def sniff(path: Path | str) -> bool:
    """True when the file's header has the EES mandatory columns (time_period, time_identifier, ...)."""
    try:
        keys = {_key(c) for c in read_header(Path(path))}
    except OSError:
        return False
    return all(_key(c) in keys for c in load_registry().mandatory)


def identify(columns: list[str], name: str = "file", registry: Registry | None = None) -> Vintage:
    """The registry entry that places these header columns, or UnknownFormat (one line, naming them)."""
    registry = registry or load_registry()
    keys = {_key(c) for c in columns}
    missing = [c for c in registry.mandatory if _key(c) not in keys]
    if missing:
        raise UnknownFormat(
            f"{name}: not an EES open-data CSV: missing mandatory columns {', '.join(missing)}"
        )
    candidates = [v for v in registry.vintages if v.matches(keys)]
    if candidates:
        # the entry that maps most of the file's columns (ties: the first declared)
        return max(candidates, key=lambda v: sum(_key(s) in keys for s, _ in v.columns))
    common = {_key(s) for s, _ in registry.common}
    unplaced = [
        c.strip()
        for c in columns
        if _key(c) not in common and not any(v.places(_key(c)) for v in registry.vintages)
    ]
    listed = ", ".join(unplaced[:MAX_LISTED]) or "(none: a column the registry needs is missing)"
    more = f" ... and {len(unplaced) - MAX_LISTED} more" if len(unplaced) > MAX_LISTED else ""
    raise UnknownFormat(
        f"{name}: no publication/vintage in ingestion/registry.yaml matches this EES header; "
        f"columns not placed: {listed}{more}{_nearest(registry, keys)}"
    )


def _nearest(registry: Registry, keys: set[str]) -> str:
    """'; nearest: <publication>/<vintage>, which needs <columns> (<note>)' for the entry whose identifying
    columns the header has most of (at least half, and its `any` column), else ''."""

    def held(v: Vintage) -> float:
        return 1 - len(v.missing(keys)) / len(v.identify_all)

    close = [
        v
        for v in registry.vintages
        if held(v) >= 0.5 and (not v.identify_any or any(_key(c) in keys for c in v.identify_any))
    ]
    if not close:
        return ""
    v = max(close, key=held)
    note = f": {v.identify_note}" if v.identify_note else ""
    return f"; nearest: {v.publication}/{v.vintage}, which needs {', '.join(v.missing(keys))}{note}"


# --------------------------------------------------------------------------------------------- reading
def read_csv_strings(path: Path) -> tuple[pl.DataFrame, str]:
    """Every column as a string, header names cleaned of BOMs and whitespace. Raises UnreadableFile."""
    decoded = read_text(path)
    try:
        frame = pl.read_csv(
            io.BytesIO(decoded.text.encode("utf-8")),
            infer_schema=False,
            truncate_ragged_lines=False,
        )
    except Exception as exc:  # polars raises several error types for malformed CSV
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(path, f"cannot be parsed as CSV: {reason}") from exc
    if frame.width == 0:
        raise UnreadableFile(path, "cannot be parsed as CSV: no header")
    frame = frame.rename({c: c.replace("\ufeff", "").strip() for c in frame.columns})
    return frame, decoded.encoding


def _resolve(frame_cols: list[str], wanted: str) -> str | None:
    k = _key(wanted)
    for c in frame_cols:
        if _key(c) == k:
            return c
    return None


def _cell(col: str) -> pl.Expr:
    """A cell without surrounding whitespace; an empty cell (also a quoted "") is null."""
    s = pl.col(col).str.strip_chars()
    return pl.when(s != "").then(s)


def _number(col: str) -> pl.Expr:
    s = _cell(col)
    return pl.when(s.str.contains(NUMBER_RE)).then(s.str.replace_all(",", "", literal=True).cast(pl.Float64))


def _status(col: str, symbols: dict[str, str]) -> pl.Expr:
    """The cell's status; null for text that is neither a number nor a symbol of the vintage."""
    s = _cell(col)
    symbol = s.str.to_lowercase().replace_strict(symbols, default=None, return_dtype=pl.String)
    return (
        pl.when(s.is_null() | (s == ""))
        .then(pl.lit("missing"))
        .when(s.str.contains(NUMBER_RE))
        .then(pl.lit("value"))
        .otherwise(symbol)
    )


def _sum_status(parts: list[str]) -> pl.Expr:
    """Status of a sum of published parts: suppressed if any part is, then not available; with no number
    among the parts, the parts' common meaning; otherwise a value (low reliability if any part is)."""
    st = [pl.col(p) for p in parts]
    anyof = lambda s: pl.any_horizontal([c == s for c in st])  # noqa: E731
    return (
        pl.when(anyof("suppressed"))
        .then(pl.lit("suppressed"))
        .when(anyof("not_available"))
        .then(pl.lit("not_available"))
        .when(anyof("value") & anyof("low_reliability"))
        .then(pl.lit("low_reliability"))
        .when(anyof("value") | anyof("low_reliability"))
        .then(pl.lit("value"))
        .when(anyof("low"))
        .then(pl.lit("low"))
        .when(anyof("not_applicable"))
        .then(pl.lit("not_applicable"))
        .otherwise(pl.lit("missing"))
    )


def _canonical_case(col: str, allowed: tuple[str, ...]) -> pl.Expr:
    lookup = {a.lower(): a for a in allowed}
    s = _cell(col)
    return s.str.to_lowercase().replace_strict(lookup, default=None, return_dtype=pl.String).fill_null(s)


def read_ees(source: SourceFile) -> ReadResult:
    """Read one EES open-data CSV into its `dfe_<publication>` lake table and quarantine rows."""
    path = Path(source.path)
    name = path.name
    registry = load_registry()
    raw, encoding = read_csv_strings(path)
    rows_read = raw.height
    v = identify(raw.columns, name, registry)
    cols = raw.columns
    schema = {c: t for c, t in dfe_schema(v.publication).items() if not c.startswith("_")}
    measures = DFE_MEASURES[v.publication]
    used: set[str] = set()

    def src(wanted: str) -> str | None:
        c = _resolve(cols, wanted)
        if c is not None:
            used.add(c)
        return c

    frame = raw.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))

    # source column of every canonical column (first declared spelling present wins)
    source_of: dict[str, str] = {}
    for s, c in (*registry.common, *v.columns):
        if c not in source_of and (found := src(s)) is not None:
            source_of[c] = found
    phase_src = next((c for p in v.phase if (c := src(p)) is not None), None)
    sums = {canon: [src(p) for p in parts] for canon, parts in v.sums}
    for canon, parts in sums.items():
        if any(p is None for p in parts):
            missing = [p for p, s in zip(dict(v.sums)[canon], parts, strict=True) if s is None]
            raise UnknownFormat(
                f"{name}: {v.publication}/{v.vintage}: columns for {canon} not found: {missing}"
            )

    texts = ("country_code", "country_name", "region_code", "region_name", "old_la_code", "new_la_code", "la_name",
             "school_urn", "school_laestab", "school_name")  # fmt: skip
    exprs: list[pl.Expr] = [
        pl.col("row_number"),
        _canonical_case(source_of["time_identifier"], registry.time_identifiers).alias("time_identifier"),
        *[
            _cell(source_of[c]).alias(c) if c in source_of else pl.lit(None, pl.String).alias(c)
            for c in texts
        ],
    ]
    exprs.append(_cell(source_of["time_period"]).alias("_time_period_raw"))
    exprs.append(
        _canonical_case(source_of["geographic_level"], registry.geographic_levels).alias("geographic_level")
    )
    if phase_src is not None:
        ph = _cell(phase_src)
        exprs.append(
            pl.when(ph.str.to_lowercase() == "total").then(pl.lit("Total")).otherwise(ph).alias("phase")
        )
    else:
        exprs.append(pl.lit("Total").alias("phase"))

    # measures: value + status from one source column, or summed from several
    part_cols = sorted({p for parts in sums.values() for p in parts})
    for i, p in enumerate(part_cols):
        exprs.append(_cell(p).alias(f"_part{i}_raw"))
        exprs.append(_number(p).alias(f"_part{i}"))
        exprs.append(_status(p, v.symbols).alias(f"_part{i}_status"))
    part_idx = {p: i for i, p in enumerate(part_cols)}
    for m in measures:
        if m in source_of:
            exprs.append(_cell(source_of[m]).alias(f"_{m}_raw"))
            exprs.append(_number(source_of[m]).alias(m))
            exprs.append(_status(source_of[m], v.symbols).alias(f"{m}_status"))
    out = frame.select(exprs)
    for m in measures:
        if m in sums:
            idx = [part_idx[p] for p in sums[m]]
            st = _sum_status([f"_part{i}_status" for i in idx])
            total = pl.sum_horizontal([pl.col(f"_part{i}") for i in idx])
            out = out.with_columns(st.alias(f"{m}_status"))
            out = out.with_columns(
                pl.when(pl.col(f"{m}_status").is_in(["value", "low_reliability"])).then(total).alias(m)
            )
        elif m not in source_of:
            out = out.with_columns(pl.lit(None, pl.Float64).alias(m), pl.lit("missing").alias(f"{m}_status"))

    # SEN files have been seen with region code and name under each other's headers: put them back.
    code_like = r"^E1[23]\d{6}$"
    swapped = pl.col("region_name").str.contains(code_like) & ~pl.col("region_code").str.contains(code_like)
    out = out.with_columns(
        pl.when(swapped).then(pl.col("region_name")).otherwise(pl.col("region_code")).alias("region_code"),
        pl.when(swapped).then(pl.col("region_code")).otherwise(pl.col("region_name")).alias("region_name"),
    )

    # a column that splits the rows is never ignored: only the rows that are totals go on (ingestion/breakdowns.py)
    meta, meta_note = read_meta(path)
    key_cols = [
        "row_number",
        "geographic_level",
        "_time_period_raw",
        "time_identifier",
        "country_code",
        "region_code",
        "old_la_code",
        "new_la_code",
        "school_laestab",
        "school_urn",
        "phase",
    ]
    totals = select_totals(raw, out.select(key_cols), used, v.symbols, meta, name)
    if totals is not None:
        out = out.filter(totals.keep)
        raw = raw.filter(totals.keep)

    quarantine = _quarantine(raw, out, v, source_of, sums, part_cols, registry, name)
    bad_rows = (
        quarantine.get_column("row_number").unique() if quarantine.height else pl.Series([], dtype=pl.Int64)
    )
    loaded = out.filter(~pl.col("row_number").is_in(bad_rows.implode()))
    loaded = loaded.with_columns(
        pl.col("_time_period_raw").cast(pl.Int32).alias("time_period"),
        pl.lit(v.publication).alias("publication"),
        pl.lit(v.vintage).alias("vintage"),
    ).select([pl.col(c).cast(t) for c, t in schema.items()])

    measure_sources = [source_of[m] for m in measures if m in source_of] + part_cols
    symbols = _symbol_counts(raw, measure_sources)
    summary = {
        "publication": v.publication,
        "vintage": v.vintage,
        "rows_by_level": dict(sorted(loaded.group_by("geographic_level").len().iter_rows())),
        "symbols": symbols,
        "columns_unused": [c for c in cols if c not in used and c not in (totals.used if totals else ())],
        "time_periods": sorted(loaded.get_column("time_period").unique().to_list()),
        "rows_quarantined": int(bad_rows.len()),
    }
    if totals is not None:
        summary["breakdown"] = totals.summary()
    if meta_note:
        summary["meta_file"] = meta_note
    return ReadResult(
        tables={f"dfe_{v.publication}": loaded},
        quarantine=quarantine,
        source_kind="dfe",
        publication=v.publication,
        vintage=v.vintage,
        encoding=encoding,
        rows_read=rows_read,
        exclusions={"breakdown_rows": totals.rows_left_out}
        if totals is not None and totals.rows_left_out
        else {},
        summary=summary,
    )


def _symbol_counts(raw: pl.DataFrame, columns: list[str]) -> dict[str, int]:
    """Non-numeric, non-blank cells in the measure columns, by symbol as written."""
    if not columns:
        return {}
    cells = raw.select(pl.concat_list([_cell(c) for c in columns]).alias("v")).explode("v")
    cells = cells.filter(
        pl.col("v").is_not_null() & (pl.col("v") != "") & ~pl.col("v").str.contains(NUMBER_RE)
    )
    return dict(sorted(cells.group_by("v").len().iter_rows()))


def _quarantine(
    raw, out, v: Vintage, source_of, sums, part_cols, registry: Registry, name: str
) -> pl.DataFrame:
    parts: list[pl.DataFrame | None] = []
    # keys
    for canon, (rule, pattern, what) in _KEY_RULES.items():
        if canon in source_of:
            c = source_of[canon]
            val = pl.col(canon)
            parts.append(
                quarantine_where(
                    out,
                    val.is_not_null() & (val != "") & ~val.str.contains(pattern),
                    c,
                    val,
                    rule,
                    f"{c} is not {what}",
                    name,
                )
            )
    tp = pl.col("_time_period_raw")
    ok = academic_year_ok(tp)
    tp_src = source_of["time_period"]
    parts.append(
        quarantine_where(
            out,
            ~ok.fill_null(False),
            tp_src,
            tp,
            "time_period_format",
            f"{tp_src} is not YYYYYY with consecutive years (e.g. 201617)",
            name,
        )
    )
    gl = pl.col("geographic_level")
    gl_src = source_of["geographic_level"]
    parts.append(
        quarantine_where(
            out,
            gl.is_null() | ~gl.is_in(list(registry.geographic_levels)),
            gl_src,
            gl,
            "geographic_level",
            f"{gl_src} is not a level of the EES list (National, Regional, Local authority, School, ...)",
            name,
        )
    )
    # symbols: every measure source column and every summed part
    measure_sources = {m: source_of[m] for m in DFE_MEASURES[v.publication] if m in source_of}
    checked = [(c, f"_{m}_raw", f"{m}_status") for m, c in measure_sources.items()]
    checked += [(p, f"_part{i}_raw", f"_part{i}_status") for i, p in enumerate(part_cols)]
    allowed = ", ".join(repr(s) for s in v.symbols)
    for c, cell, st in checked:
        parts.append(
            quarantine_where(
                out,
                pl.col(st).is_null(),
                c,
                pl.col(cell),
                "unknown_symbol",
                f"{c} is neither a number nor a symbol of the {v.vintage} vintage ({allowed})",
                name,
            )
        )
    # impossible numbers
    for c, cell, _ in checked:
        negative = pl.col(cell).str.contains(NUMBER_RE) & pl.col(cell).str.starts_with("-")
        parts.append(
            quarantine_where(
                out,
                negative.fill_null(False),
                c,
                pl.col(cell),
                "negative_value",
                f"{c} is negative: counts and rates cannot be",
                name,
            )
        )
    for num, den in v.bounds:
        if num not in source_of and num not in sums or den not in source_of and den not in sums:
            continue
        label = source_of.get(num, num)
        dlabel = source_of.get(den, den)
        # a zero denominator is not a count to compare with: the DfE publishes headcount 0 (rates `.`) for
        # local authorities in years before they existed
        mask = ((pl.col(den) > 0) & (pl.col(num) > pl.col(den))).fill_null(False)
        parts.append(
            quarantine_where(
                out,
                mask,
                label,
                pl.col(f"_{num}_raw") if num in source_of else pl.col(num),
                "numerator_exceeds_denominator",
                f"{label} is greater than {dlabel}, which is impossible",
                name,
            )
        )
    return concat_quarantine(parts)
