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
from datetime import date
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

from ingestion.breakdowns import MetaFilters, Totals, read_meta, select_totals
from ingestion.files import UnreadableFile, open_no_follow, read_text
from ingestion.lake import SourceFile
from ingestion.lake_schema import DFE_ATTRIBUTES, DFE_MEASURES, STATUSES, dfe_schema
from ingestion.results import (
    FileRefused,
    ReadResult,
    UnknownFormat,
    concat_quarantine,
    quarantine_duplicates,
    quarantine_where,
)

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")

# A number as published: optional sign, digits with or without thousands separators, optional decimals.
NUMBER_RE = r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\.\d+$"
URN_RE = r"^\d{6}$"
# A whole number written the way R's write.csv writes one: in scientific notation only when that is shorter than
# the digits (URN 100000 as `1e+05`), so the number is exact. Excel's `1.41E+05` or `5.00E+06` (rounded, and no
# shorter) is not read as a number: such a key is quarantined.
SCIENTIFIC_INTEGER_RE = r"^[1-9](?:\.\d*[1-9])?[eE]\+?\d{1,2}$"
UNKNOWN_TOPIC_RULE = "unknown_breakdown_topic"
DUPLICATE_RULE = "duplicate_breakdown_row"
ABSENT_RULE = "long_measures_absent"
LAESTAB_RE = r"^\d{7}$"
TIME_PERIOD_RE = r"^\d{6}$"
MAX_LISTED = 12  # columns named in a one-line UnknownFormat message before "... and N more"
MAX_VALUES = 3  # unknown topics named in a refusal
MAX_ROWS = 3  # row numbers named in a refusal

# canonical column -> the rule id for its format check
_KEY_RULES = {
    "school_urn": ("urn_format", URN_RE, "a 6-digit URN"),
    "school_laestab": ("laestab_format", LAESTAB_RE, "a 7-digit LAESTAB"),
}


def _key(name: str) -> str:
    """How a column name is matched: no BOM, no surrounding whitespace, case ignored."""
    return name.replace("\ufeff", "").strip().lower()


@dataclass(frozen=True)
class Long:
    """A long (tidy) layout: one row per school x breakdown, counts in one column (registry `long`)."""

    topic: str  # the column naming the topic (`breakdown_topic`; SEN: `sen_provision`)
    breakdown: str  # the column naming its level (`breakdown`; SEN: `sen_primary_need`)
    value: str  # the count (`pupil_count`)
    totals: tuple[str, ...]  # filter columns of which only `Total` rows are read
    measures: tuple[
        tuple[str, tuple[tuple[str, str], ...]], ...
    ]  # measure -> (topic, breakdown) pairs summed
    topics_unused: tuple[str, ...]  # topics known and not read

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every (topic, breakdown) pair a measure reads, once, in declared order."""
        return tuple(dict.fromkeys(p for _, pairs in self.measures for p in pairs))


@dataclass(frozen=True)
class TrustColumn:
    """The column naming a school's trust that year (registry `trust`) and the values that are not a trust."""

    column: str
    in_no_trust: tuple[str, ...]  # the school is in no trust (a blank cell and the not-applicable symbol too)
    unknown: tuple[str, ...]  # the file does not say (the vintage's other symbols too)


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
    long: Long | None = None
    trust: TrustColumn | None = None
    weeks: bool = False  # `Week N` rows carry a calendar year (registry `weeks`; ingestion/attendance.py)

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
        if self.long is not None:
            named |= {
                _key(c) for c in (self.long.topic, self.long.breakdown, self.long.value, *self.long.totals)
            }
        if self.trust is not None:
            named.add(_key(self.trust.column))
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
        long = _long_entry(entry.get("long"), publication, where)
        trust = entry.get("trust")
        if trust is not None and "trust" not in DFE_ATTRIBUTES.get(publication, {}):
            raise ValueError(f"{where}: a trust column for a publication whose lake table has none")
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
                long=long,
                trust=TrustColumn(
                    column=str(trust["column"]),
                    in_no_trust=tuple(map(str, trust.get("in_no_trust", []))),
                    unknown=tuple(map(str, trust.get("unknown", []))),
                )
                if trust is not None
                else None,
                weeks=bool(entry.get("weeks", False)),
            )
        )
    return Registry(
        mandatory=tuple(doc["mandatory"]),
        common=tuple((str(s), str(c)) for s, c in doc["common"].items()),
        geographic_levels=tuple(doc["geographic_levels"]),
        time_identifiers=tuple(doc["time_identifiers"]),
        vintages=tuple(vintages),
    )


def _long_entry(doc: dict | None, publication: str, where: str) -> Long | None:
    """A registry entry's `long` block, checked: measures of the lake schema, pairs of two names each."""
    if doc is None:
        return None
    measures = []
    for measure, pairs in (doc.get("measures") or {}).items():
        if measure not in DFE_MEASURES[publication]:
            raise ValueError(f"{where}: long measure {measure!r} is not a measure of the lake schema")
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError(
                f"{where}: long measure {measure!r} needs [topic, breakdown] pairs, not {pairs!r}"
            )
        measures.append((str(measure), tuple((str(t), str(b)) for t, b in pairs)))
    if not measures:
        raise ValueError(f"{where}: a long layout without measures")
    return Long(
        topic=str(doc["topic"]),
        breakdown=str(doc["breakdown"]),
        value=str(doc["value"]),
        totals=tuple(map(str, doc.get("totals") or [])),
        measures=tuple(measures),
        topics_unused=tuple(map(str, doc.get("topics_unused") or [])),
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

    # ties: the entry whose summed parts the header has most of (the census vintages differ only there)
    def summed(v: Vintage) -> int:
        return sum(_key(p) in keys for _, parts in v.sums for p in parts)

    v = max(close, key=lambda v: (held(v), summed(v)))
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


def _label_key(label: str) -> str:
    """How a topic or breakdown label is matched: surrounding and repeated whitespace and case ignored."""
    return " ".join(label.split()).lower()


def _label_expr(col: str) -> pl.Expr:
    return _cell(col).str.replace_all(r"\s+", " ").str.to_lowercase().fill_null("")


def _key_cell(col: str) -> pl.Expr:
    """A URN or LAESTAB cell as published, or the whole number R wrote in scientific notation (`1e+05`)."""
    s = _cell(col)
    number = s.cast(pl.Float64, strict=False)
    digits = pl.when((number == number.floor()) & (number < 1e15)).then(number.cast(pl.Int64).cast(pl.String))
    r_wrote = s.str.contains(SCIENTIFIC_INTEGER_RE) & (s.str.len_chars() < digits.str.len_chars())
    return pl.when(r_wrote.fill_null(False)).then(digits).otherwise(s)


# the canonical text columns of every EES row, and the columns that identify a row (breakdowns.select_totals)
TEXTS = ("country_code", "country_name", "region_code", "region_name", "old_la_code", "new_la_code", "la_name",
         "school_urn", "school_laestab", "school_name")  # fmt: skip
KEY_COLUMNS = ["row_number", "geographic_level", "_time_period_raw", "time_identifier", "country_code",
               "region_code", "old_la_code", "new_la_code", "school_laestab", "school_urn", "phase"]  # fmt: skip


class _Columns:
    """The source column of each canonical column of one file (first declared spelling present wins), and every
    source column read (`used`)."""

    def __init__(self, cols: list[str], v: Vintage, registry: Registry):
        self.cols = cols
        self.used: set[str] = set()
        self.source_of: dict[str, str] = {}
        for s, c in (*registry.common, *v.columns):
            if c not in self.source_of and (found := self.src(s)) is not None:
                self.source_of[c] = found
        self.phase = next((c for p in v.phase if (c := self.src(p)) is not None), None)
        self.trust = self.src(v.trust.column) if v.trust is not None else None

    def src(self, wanted: str) -> str | None:
        c = _resolve(self.cols, wanted)
        if c is not None:
            self.used.add(c)
        return c


def _placed(columns: _Columns, v: Vintage, registry: Registry) -> list[pl.Expr]:
    """A row's place, canonical: row number, time, level, geography, phase, and the trust it names (if any)."""
    so = columns.source_of
    exprs: list[pl.Expr] = [
        pl.col("row_number"),
        _canonical_case(so["time_identifier"], registry.time_identifiers).alias("time_identifier"),
    ]
    for c in TEXTS:
        if c not in so:
            exprs.append(pl.lit(None, pl.String).alias(c))
        else:
            exprs.append((_key_cell(so[c]) if c in _KEY_RULES else _cell(so[c])).alias(c))
    keys = [so[c] for c in _KEY_RULES if c in so]
    exprs.append(
        pl.any_horizontal([_key_cell(c) != _cell(c) for c in keys]).fill_null(False).alias("_sci")
        if keys
        else pl.lit(False).alias("_sci")
    )
    exprs.append(_cell(so["time_period"]).alias("_time_period_raw"))
    level = _canonical_case(so["geographic_level"], registry.geographic_levels)
    exprs.append(level.alias("geographic_level"))
    if columns.phase is not None:
        ph = _cell(columns.phase)
        exprs.append(
            pl.when(ph.str.to_lowercase() == "total").then(pl.lit("Total")).otherwise(ph).alias("phase")
        )
    else:
        exprs.append(pl.lit("Total").alias("phase"))
    if v.trust is not None and columns.trust is not None:
        trust, status = _trust(columns.trust, v.trust, v.symbols)
        exprs.append(pl.when(level == "School").then(trust).alias("trust"))
        exprs.append(
            pl.when(level == "School").then(status).otherwise(pl.lit("missing")).alias("trust_status")
        )
    return exprs


def _trust(col: str, t: TrustColumn, symbols: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """The trust a row names and what the cell says: `value` (a trust), `not_applicable` (in no trust: blank,
    a declared no-trust wording or the not-applicable symbol), `not_available` (a declared unknown wording, `x`) or
    the meaning of another symbol of the vintage."""
    s = _cell(col).str.replace_all(r"\s+", " ")
    low = s.str.to_lowercase()
    status = (
        pl.when(s.is_null() | low.is_in([_label_key(x) for x in t.in_no_trust]))
        .then(pl.lit("not_applicable"))
        .when(low.is_in([_label_key(x) for x in t.unknown]))
        .then(pl.lit("not_available"))
        .otherwise(low.replace_strict(symbols, default="value", return_dtype=pl.String))
    )
    return pl.when(status == "value").then(s), status


def _unswap_regions(out: pl.DataFrame) -> pl.DataFrame:
    """SEN files have been seen with region code and name under each other's headers: put them back."""
    code_like = r"^E1[23]\d{6}$"
    swapped = pl.col("region_name").str.contains(code_like) & ~pl.col("region_code").str.contains(code_like)
    return out.with_columns(
        pl.when(swapped).then(pl.col("region_name")).otherwise(pl.col("region_code")).alias("region_code"),
        pl.when(swapped).then(pl.col("region_code")).otherwise(pl.col("region_name")).alias("region_name"),
    )


@dataclass
class _Read:
    """What a layout's reader hands to read_ees: one row per record (`out`: canonical columns, measures, their
    statuses), the rows to quarantine and the records they rule out, and what the summary reports."""

    out: pl.DataFrame
    quarantine: pl.DataFrame
    bad_rows: pl.Series  # out.row_number of the records not loaded
    cells: pl.DataFrame  # the source cells read for counts (symbols found)
    count_columns: list[str]
    columns: _Columns
    totals: Totals | None
    meta_note: str | None
    extra: dict


def current_academic_year(today: date | None = None) -> int:
    """The academic year (1 September to 31 August) of `today` as time_period, e.g. 202627."""
    today = today or date.today()
    start = today.year if today.month >= 9 else today.year - 1
    return start * 100 + (start + 1) % 100


def _truncated_last_row(path: Path, width: int) -> bool:
    """Whether the file ends mid-row: no line end after its last line, which has fewer fields than the header
    (a download cut off)."""
    with open_no_follow(path) as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return False
    last = tail.replace(b"\r\n", b"\n").rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    try:
        return len(next(csv.reader([last]), [])) < width
    except csv.Error:
        return True


def _row_limits(r: _Read, path: Path, name: str, width: int, limits: dict | None, wide: bool) -> None:
    """Rules on rows that no layout check holds: a key repeated within the file (`quarantine_duplicates`, wide
    layouts; the long reader has its own), a School row with neither URN nor LAESTAB (a cut-off row reads so),
    the last row cut off mid-line (`truncated_row`), and with `limits` a time_period outside the
    plausible range (`time_period_range`). Adds to r.quarantine and r.bad_rows."""
    out = r.out
    parts = [r.quarantine]
    if {"school_urn", "school_laestab"} <= set(out.columns):
        parts.append(quarantine_where(
            out, (pl.col("geographic_level") == "School") & pl.col("school_urn").is_null()
            & pl.col("school_laestab").is_null(), "school_urn", pl.col("school_urn"), "school_key_missing",
            "a School row with neither URN nor LAESTAB", name))
    if wide:
        keys = [k for k in KEY_COLUMNS if k != "row_number"]
        parts.append(quarantine_duplicates(out.select("row_number", *[c for c in out.columns if c != "row_number"
                                                                      and not c.startswith("_part")]),
                                           keys, name, "key (" + ", ".join(k.lstrip("_") for k in keys) + ")"))
    if out.height and _truncated_last_row(path, width):
        last = int(out.get_column("row_number").max())
        parts.append(quarantine_where(
            out, pl.col("row_number") == last, "(last line)", pl.lit(None, pl.String), "truncated_row",
            f"the file ends mid-row: its last line has fewer fields than the header's {width} and no line end "
            "(a download cut off?)", name))
    if limits:
        earliest = int(limits["earliest_time_period"])
        latest = current_academic_year()
        for _ in range(int(limits["time_periods_ahead"])):
            latest += 101
        tp = pl.col("_time_period_raw")
        number = tp.cast(pl.Int64, strict=False)
        parts.append(quarantine_where(
            out, academic_year_ok(tp).fill_null(False) & ((number < earliest) | (number > latest)), "time_period",
            tp, "time_period_range", f"time_period is outside the plausible range {earliest} to {latest} "
            "(limits.earliest_time_period, limits.time_periods_ahead)", name))
    added = concat_quarantine(parts[1:])
    if added.height:
        r.quarantine = concat_quarantine(parts)
        r.bad_rows = pl.concat([r.bad_rows.cast(pl.Int64), added.get_column("row_number").cast(pl.Int64)]).unique()


def read_ees(source: SourceFile, limits: dict | None = None) -> ReadResult:
    """Read one EES open-data CSV into its `dfe_<publication>` lake table and quarantine rows. With `limits`
    (settings `limits:`), a time_period outside the plausible range is quarantined."""
    path = Path(source.path)
    name = path.name
    registry = load_registry()
    if not sniff(path):  # not an EES file at all: say what it looks like (the same line validate gives)
        from ingestion.describe import unrecognised

        raise UnknownFormat(unrecognised(path))
    raw, encoding = read_csv_strings(path)
    v = identify(raw.columns, name, registry)
    r = (_read_long if v.long is not None else _read_wide)(raw, v, registry, path, name)
    _row_limits(r, path, name, raw.width, limits, v.long is None)
    schema = {c: t for c, t in dfe_schema(v.publication).items() if not c.startswith("_")}
    loaded = r.out.filter(~pl.col("row_number").is_in(r.bad_rows.implode()))
    loaded = loaded.with_columns(
        pl.col("_time_period_raw").cast(pl.Int32).alias("time_period"),
        pl.lit(v.publication).alias("publication"),
        pl.lit(v.vintage).alias("vintage"),
        # a layout without the publication's attribute columns (the wide census has no trust): null, `missing`
        *[
            pl.lit("missing" if c.endswith("_status") else None, t).alias(c)
            for c, t in DFE_ATTRIBUTES.get(v.publication, {}).items()
            if c not in r.out.columns
        ],
    )
    summary = {
        "publication": v.publication,
        "vintage": v.vintage,
        "rows_by_level": dict(sorted(loaded.group_by("geographic_level").len().iter_rows())),
        "symbols": _symbol_counts(r.cells, r.count_columns),
        "columns_unused": [
            c for c in raw.columns if c not in r.columns.used and c not in (r.totals.used if r.totals else ())
        ],
        "time_periods": sorted(loaded.get_column("time_period").unique().to_list()),
        "rows_quarantined": int(r.quarantine.get_column("row_number").n_unique())
        if r.quarantine.height
        else 0,
    }
    if sci := int(loaded.get_column("_sci").sum()):
        summary["keys_in_scientific_notation"] = sci  # URN 100000 published as 1e+05, read as 100000
    if "trust_status" in r.out.columns:
        summary["trust"] = dict(sorted(loaded.group_by("trust_status").len().drop_nulls().iter_rows()))
    summary |= r.extra
    if r.totals is not None:
        summary["breakdown"] = r.totals.summary()
    if r.meta_note:
        summary["meta_file"] = r.meta_note
    return ReadResult(
        tables={f"dfe_{v.publication}": loaded.select([pl.col(c).cast(t) for c, t in schema.items()])},
        quarantine=r.quarantine,
        source_kind="dfe",
        publication=v.publication,
        vintage=v.vintage,
        encoding=encoding,
        rows_read=raw.height,
        exclusions={"breakdown_rows": r.totals.rows_left_out}
        if r.totals is not None and r.totals.rows_left_out and v.long is None
        else {},
        summary=summary,
    )


def _read_wide(raw: pl.DataFrame, v: Vintage, registry: Registry, path: Path, name: str) -> _Read:
    """One row per record, one column per count (or per part of a count that is summed)."""
    columns = _Columns(raw.columns, v, registry)
    source_of = columns.source_of
    measures = DFE_MEASURES[v.publication]
    frame = raw.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
    sums = {canon: [columns.src(p) for p in parts] for canon, parts in v.sums}
    for canon, parts in sums.items():
        if any(p is None for p in parts):
            missing = [p for p, s in zip(dict(v.sums)[canon], parts, strict=True) if s is None]
            raise UnknownFormat(
                f"{name}: {v.publication}/{v.vintage}: columns for {canon} not found: {missing}"
            )
    exprs = _placed(columns, v, registry)

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
    out = _unswap_regions(out)
    if v.weeks:  # `Week N` rows: the calendar year and week become the academic year (ingestion/attendance.py)
        from ingestion.attendance import weeks_in_academic_years

        out = weeks_in_academic_years(out)

    # a column that splits the rows is never ignored: only the rows that are totals go on (ingestion/breakdowns.py)
    meta, meta_note = read_meta(path)
    totals = select_totals(raw, out.select(KEY_COLUMNS), columns.used, v.symbols, meta, name)
    if totals is not None:
        out = out.filter(totals.keep)
        raw = raw.filter(totals.keep)

    quarantine = _quarantine(out, v, source_of, sums, part_cols, registry, name)
    bad_rows = (
        quarantine.get_column("row_number").unique() if quarantine.height else pl.Series([], dtype=pl.Int64)
    )
    count_columns = [source_of[m] for m in measures if m in source_of] + part_cols
    return _Read(out, quarantine, bad_rows, raw, count_columns, columns, totals, meta_note, {})


def _read_long(raw: pl.DataFrame, v: Vintage, registry: Registry, path: Path, name: str) -> _Read:
    """One row per school x breakdown: the declared (topic, breakdown) pairs' rows that are `Total` in every
    other filter become one record per school, a column per measure (the pairs' counts added up)."""
    long = v.long
    assert long is not None
    columns = _Columns(raw.columns, v, registry)
    topic_c, level_c, value_c = (columns.src(c) for c in (long.topic, long.breakdown, long.value))
    if topic_c is None or level_c is None or value_c is None:
        raise UnknownFormat(
            f"{name}: {v.publication}/{v.vintage}: the long layout needs columns {long.topic}, {long.breakdown} "
            f"and {long.value}"
        )
    frame = raw.with_row_index("row_number", offset=1).with_columns(
        pl.col("row_number").cast(pl.Int64),
        _label_expr(topic_c).alias("_topic"),
        _label_expr(level_c).alias("_level"),
    )
    _refuse_unknown_topics(frame, long, topic_c, v, name)

    pairs = long.pairs
    pair_frame = pl.DataFrame(
        {
            "_topic": [_label_key(t) for t, _ in pairs],
            "_level": [_label_key(b) for _, b in pairs],
            "_pair": list(range(len(pairs))),
        },
        schema={"_topic": pl.String, "_level": pl.String, "_pair": pl.Int32},
    )
    rows = frame.join(pair_frame, on=["_topic", "_level"], how="inner", maintain_order="left")
    placed = rows.select(
        *_placed(columns, v, registry),
        pl.col("_pair"),
        _cell(value_c).alias("_raw"),
        _number(value_c).alias("_value"),
        _status(value_c, v.symbols).alias("_status"),
    )
    placed = _unswap_regions(placed)
    cells = rows.select(raw.columns)

    # of those rows, the ones `Total` in every other filter (declared in long.totals, in the .meta.csv or found
    # splitting a school's rows): a school's attributes the registry knows are not filters here
    meta, meta_note = read_meta(path)
    declared = {k: g for k, g in (meta.filters.items() if meta is not None else ()) if not v.places(k)}
    declared |= {_key(t): None for t in long.totals}
    filters = MetaFilters(meta.name if meta is not None else "ingestion/registry.yaml", declared)
    keys = placed.select(*KEY_COLUMNS).with_columns(
        rows.select(_cell(topic_c).alias(topic_c), _cell(level_c).alias(level_c))
    )
    totals = select_totals(cells, keys, columns.used, v.symbols, filters, name)
    if totals is not None:
        placed = placed.filter(totals.keep)
        cells = cells.filter(totals.keep)

    school = [c for c in KEY_COLUMNS if c != "row_number"]
    placed = placed.with_columns(
        pl.len().over(*school, "_pair").alias("_copies"),
        pl.col("row_number").min().over(school).alias("_school_row"),
    )
    parts: list[pl.DataFrame | None] = [
        quarantine_where(
            placed,
            pl.col("_copies") > 1,
            value_c,
            pl.col("_raw"),
            DUPLICATE_RULE,
            f"another row has the same school, {long.topic} and {long.breakdown} and is Total in every other "
            f"filter, so which one is the count is unknown",
            name,
        )
    ]
    allowed = ", ".join(repr(s) for s in v.symbols)
    negative = pl.col("_raw").str.contains(NUMBER_RE) & pl.col("_raw").str.starts_with("-")
    for j, (t, b) in enumerate(pairs):
        at = pl.col("_pair") == j
        what = f"{value_c} of {long.topic} {t!r}, {long.breakdown} {b!r}"
        parts.append(quarantine_where(
            placed, at & pl.col("_status").is_null(), value_c, pl.col("_raw"), "unknown_symbol",
            f"{what} is neither a number nor a symbol of the {v.vintage} vintage ({allowed})", name))  # fmt: skip
        parts.append(quarantine_where(
            placed, at & negative, value_c, pl.col("_raw"), "negative_value",
            f"{what} is negative: counts cannot be", name))  # fmt: skip

    # one record per school: each pair's count a column
    texts = ["country_name", "region_name", "la_name", "school_name", "_sci"]
    texts += [c for c in ("trust", "trust_status") if c in placed.columns]
    agg = [pl.col("row_number").min(), *[pl.col(c).first() for c in texts]]
    for j in range(len(pairs)):
        at = pl.col("_pair") == j
        agg += [
            pl.col("_raw").filter(at).first().alias(f"_pair{j}_raw"),
            pl.col("_value").filter(at).first().alias(f"_pair{j}"),
            pl.col("_status").filter(at).first().fill_null("missing").alias(f"_pair{j}_status"),
        ]
    out = (
        placed.group_by(school, maintain_order=True)
        .agg(agg)
        .select(pl.col("row_number"), pl.exclude("row_number"))
    )
    present = set(placed.get_column("_pair").unique().to_list())
    declared_measures = dict(long.measures)
    lacking: dict[str, str] = {}
    for m in DFE_MEASURES[v.publication]:
        idx = [pairs.index(p) for p in declared_measures.get(m, ())]
        if not idx or not present.intersection(idx):
            out = out.with_columns(pl.lit(None, pl.Float64).alias(m), pl.lit("missing").alias(f"{m}_status"))
            if idx:
                lacking[m] = (
                    "no row of "
                    + " or ".join(
                        f"{long.topic} {pairs[j][0]!r} with {long.breakdown} {pairs[j][1]!r}" for j in idx
                    )
                    + " that is Total in every other filter: null, never 0"
                )
        elif len(idx) == 1:
            j = idx[0]
            out = out.with_columns(
                pl.col(f"_pair{j}").alias(m), pl.col(f"_pair{j}_status").alias(f"{m}_status"),
                pl.col(f"_pair{j}_raw").alias(f"_{m}_raw"),
            )  # fmt: skip
        else:
            st = _sum_status([f"_pair{j}_status" for j in idx])
            total = pl.sum_horizontal([pl.col(f"_pair{j}") for j in idx])
            out = out.with_columns(st.alias(f"{m}_status")).with_columns(
                pl.when(pl.col(f"{m}_status").is_in(["value", "low_reliability"])).then(total).alias(m)
            )
    if len(lacking) == len(declared_measures):
        read = [f"{t!r}/{b!r} for {m}" for m, ps in long.measures for t, b in ps]
        more = f" and {len(read) - MAX_VALUES} more" if len(read) > MAX_VALUES else ""
        raise FileRefused(
            f"{name}: {v.publication}/{v.vintage}: no row has any of the ({long.topic}, {long.breakdown}) pairs "
            f"ingestion/registry.yaml reads ({', '.join(read[:MAX_VALUES])}{more}) with every other filter Total, "
            f"so nothing would load (rule {ABSENT_RULE})",
            ABSENT_RULE,
        )

    sums = {m: () for m, _ in long.measures}  # the bounds compare measures, whichever rows they came from
    parts.append(_quarantine(out, v, columns.source_of, sums, [], registry, name))
    quarantine = concat_quarantine(parts)
    hit = quarantine.get_column("row_number").unique() if quarantine.height else pl.Series([], dtype=pl.Int64)
    bad_rows = pl.concat([
        placed.filter(pl.col("row_number").is_in(hit.implode())).get_column("_school_row"), hit,
    ]).unique()  # fmt: skip
    topics = frame.group_by("_topic", maintain_order=True).agg(pl.col(topic_c).first(), pl.len())
    extra = {
        "long": {
            "rows": raw.height,
            "rows_of_the_pairs_read": rows.height,
            "rows_total_in_every_other_filter": placed.height,
            "records": out.height,
            "topics": {str(t): n for _, t, n in topics.iter_rows()},
        }
    }
    if lacking:
        extra["measures_lacking"] = lacking
    return _Read(out, quarantine, bad_rows, cells, [value_c], columns, totals, meta_note, extra)


def _refuse_unknown_topics(frame: pl.DataFrame, long: Long, topic_c: str, v: Vintage, name: str) -> None:
    """A topic the registry neither reads nor lists as unused is a question, not noise: refuse the whole file."""
    known = {_label_key(t) for t, _ in long.pairs} | {_label_key(t) for t in long.topics_unused}
    seen = frame.group_by("_topic", maintain_order=True).agg(
        pl.col(topic_c).first(), pl.col("row_number").head(MAX_ROWS + 1).alias("_rows")
    )
    unknown = seen.filter(~pl.col("_topic").is_in(list(known)))
    if not unknown.height:
        return
    first = unknown.row(0, named=True)
    shown = ", ".join(
        repr(t if t is not None else "") for t in unknown.get_column(topic_c).to_list()[:MAX_VALUES]
    )
    more = f" and {unknown.height - MAX_VALUES} more" if unknown.height > MAX_VALUES else ""
    rows = first["_rows"]
    at = ", ".join(map(str, rows[:MAX_ROWS])) + (", ..." if len(rows) > MAX_ROWS else "")
    read = ", ".join(dict.fromkeys(repr(t) for t, _ in long.pairs))
    unused = ", ".join(repr(t) for t in long.topics_unused) or "none"
    raise FileRefused(
        f"{name}: {long.topic} {shown}{more} (first at row{'s' if len(rows) > 1 else ''} {at}) is not a topic "
        f"ingestion/registry.yaml knows for {v.publication}/{v.vintage} (read: {read}; known and not read: "
        f"{unused}): a topic we do not know is a question, not noise, so the whole file is refused "
        f"(rule {UNKNOWN_TOPIC_RULE})",
        UNKNOWN_TOPIC_RULE,
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


def _quarantine(out, v: Vintage, source_of, sums, part_cols, registry: Registry, name: str) -> pl.DataFrame:
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
