"""Reader for the GIAS establishment register (`edubasealldata*.csv`) and its links file.

Only the declared columns of ingestion.lake_schema leave this module: head teachers' names, telephone
numbers, websites and addresses are never selected. Both the 133-column 2018 layout and the 140-column
2024 layout read (columns are taken by name). The kind of file is recognised from its header.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from ingestion.ees import read_csv_strings, read_header
from ingestion.lake import SourceFile
from ingestion.lake_schema import GIAS_ESTABLISHMENTS, GIAS_LINKS
from ingestion.results import (
    ReadResult,
    UnknownFormat,
    concat_quarantine,
    quarantine_duplicates,
    quarantine_where,
)

# GIAS column -> lake column (establishments); dates and numbers are parsed after renaming.
ESTABLISHMENT_COLUMNS: dict[str, str] = {
    "URN": "urn",
    "LA (code)": "la_code",
    "LA (name)": "la_name",
    "EstablishmentNumber": "establishment_number",
    "EstablishmentName": "establishment_name",
    "TypeOfEstablishment (name)": "type_of_establishment",
    "EstablishmentTypeGroup (name)": "establishment_type_group",
    "EstablishmentStatus (name)": "establishment_status",
    "PhaseOfEducation (name)": "phase_of_education",
    "OpenDate": "open_date",
    "CloseDate": "close_date",
    "Trusts (code)": "trust_code",
    "Trusts (name)": "trust_name",
    "GOR (name)": "region_name",
    "GSSLACode (name)": "gss_la_code",
    "NumberOfPupils": "number_of_pupils",
    "PercentageFSM": "percentage_fsm",
    "ParliamentaryConstituency (code)": "parliamentary_constituency_code",
}
LINK_COLUMNS: dict[str, str] = {
    "URN": "urn",
    "LinkURN": "link_urn",
    "LinkName": "link_name",
    "LinkType": "link_type",
    "LinkEstablishedDate": "link_established_date",
}
ESTABLISHMENT_REQUIRED = ("URN", "LA (code)", "EstablishmentNumber", "EstablishmentName")
LINK_REQUIRED = ("URN", "LinkURN", "LinkType")
# How GIAS writes "nothing here" in a text field (compared ignoring case: "Not Applicable" occurs too).
MISSING = ("", "Not applicable", "Does not apply", "None")
DATE_FORMAT = "%d-%m-%Y"
URN_RE = r"^\d{6}$"
LA_CODE_RE = r"^\d{3}$"
ESTAB_RE = r"^\d{1,4}$"
FILE_DATE_RE = re.compile(r"((?:19|20)\d{6})")


def sniff(path: Path | str) -> str | None:
    """ "establishments" for an edubasealldata file, "links" for a links file, else None (from the header)."""
    try:
        header = {c.replace("\ufeff", "").strip() for c in read_header(Path(path))}
    except OSError:
        return None
    if all(c in header for c in LINK_REQUIRED):
        return "links"
    if all(c in header for c in ESTABLISHMENT_REQUIRED):
        return "establishments"
    return None


def snapshot_from_name(path: Path | str) -> date | None:
    """The extract date in a name such as `edubasealldata20250903.csv` (None if there is no valid date)."""
    for m in FILE_DATE_RE.finditer(Path(path).stem):
        s = m.group(1)
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        except ValueError:
            continue
    return None


def _text(col: str) -> pl.Expr:
    """A text field, null where GIAS wrote one of its "nothing here" words (any case)."""
    s = pl.col(col).str.strip_chars()
    return pl.when(~s.str.to_lowercase().is_in([m.lower() for m in MISSING])).then(s)


def _date(col: str) -> pl.Expr:
    return _text(col).str.to_date(DATE_FORMAT, strict=False)


def _require(columns: list[str], required, name: str, kind: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise UnknownFormat(f"{name}: not a GIAS {kind} file: missing columns {', '.join(missing)}")


def _urn_check(frame: pl.DataFrame, col: str, src: str, name: str) -> pl.DataFrame | None:
    """Quarantine rows whose `col` (read from source column `src`) is missing or not a 6-digit URN."""
    urn = pl.col(col)
    return quarantine_where(
        frame,
        ~urn.str.contains(URN_RE) | urn.is_null(),
        src,
        urn,
        "urn_format",
        f"{src} is not 6 digits",
        name,
    )


def _date_checks(frame: pl.DataFrame, columns: dict[str, str], name: str) -> list:
    out = []
    for src, col in columns.items():
        raw = pl.col(f"_raw_{col}")
        bad = raw.is_not_null() & pl.col(col).is_null()
        out.append(
            quarantine_where(frame, bad, src, raw, "date_format", f"{src} is not a date dd-mm-yyyy", name)
        )
    return out


def read_gias(source: SourceFile) -> ReadResult:
    """Read an edubasealldata file into `gias_establishments`, or a links file into `gias_links`."""
    path = Path(source.path)
    raw, encoding = read_csv_strings(path)
    if all(c in raw.columns for c in LINK_REQUIRED):
        return _read_links(raw, encoding, path)
    _require(raw.columns, ESTABLISHMENT_REQUIRED, path.name, "edubasealldata")
    return _read_establishments(raw, encoding, path)


def _read_establishments(raw: pl.DataFrame, encoding: str, path: Path) -> ReadResult:
    name = path.name
    present = {s: c for s, c in ESTABLISHMENT_COLUMNS.items() if s in raw.columns}
    dates = {s: c for s, c in present.items() if c in ("open_date", "close_date")}
    frame = raw.with_row_index("row_number", offset=1).select(
        pl.col("row_number").cast(pl.Int64),
        *[_text(s).alias(c) for s, c in present.items()],
        *[_text(s).alias(f"_raw_{c}") for s, c in dates.items()],
        (_text("LastChangedDate") if "LastChangedDate" in raw.columns else pl.lit(None, pl.String)).alias(
            "_raw_last_changed"
        ),
    )
    frame = frame.with_columns(
        *[pl.col(c).str.to_date(DATE_FORMAT, strict=False) for c in dates.values()],
        pl.col("_raw_last_changed").str.to_date(DATE_FORMAT, strict=False).alias("_last_changed"),
    )
    checks = [
        _urn_check(frame, "urn", "URN", name),
        quarantine_where(
            frame,
            pl.col("la_code").is_not_null() & ~pl.col("la_code").str.contains(LA_CODE_RE),
            "LA (code)",
            pl.col("la_code"),
            "la_code_format",
            "LA (code) is not 3 digits",
            name,
        ),
        quarantine_where(
            frame,
            pl.col("establishment_number").is_not_null()
            & ~pl.col("establishment_number").str.contains(ESTAB_RE),
            "EstablishmentNumber",
            pl.col("establishment_number"),
            "establishment_number_format",
            "EstablishmentNumber is not a number of up to 4 digits",
            name,
        ),
        quarantine_where(
            frame,
            pl.col("_raw_last_changed").is_not_null() & pl.col("_last_changed").is_null(),
            "LastChangedDate",
            pl.col("_raw_last_changed"),
            "date_format",
            "LastChangedDate is not a date dd-mm-yyyy",
            name,
        ),
        *_date_checks(frame, dates, name),
        quarantine_duplicates(frame, ["urn"], name, "URN"),
    ]
    quarantine = concat_quarantine(checks)
    bad = quarantine.get_column("row_number").unique().implode()
    good = frame.filter(~pl.col("row_number").is_in(bad))
    snapshot = snapshot_from_name(path)
    snapshot_source = "file name"
    if snapshot is None:
        snapshot = good.get_column("_last_changed").max()
        snapshot_source = "latest LastChangedDate"
    numbers = {}
    for col, dtype in (("number_of_pupils", pl.Int64), ("percentage_fsm", pl.Float64)):
        if col in good.columns:
            numbers[col] = (
                good.get_column(col).is_not_null() & good.get_column(col).cast(dtype, strict=False).is_null()
            )
    table = good.with_columns(
        pl.lit(snapshot, pl.Date).alias("snapshot_date"),
        pl.when(pl.col("la_code").is_not_null() & pl.col("establishment_number").is_not_null())
        .then(
            (pl.col("la_code").cast(pl.Int64) * 10000 + pl.col("establishment_number").cast(pl.Int64))
            .cast(pl.String)
            .str.zfill(7)
        )
        .alias("laestab"),
        *[
            pl.col(c).cast(t, strict=False)
            for c, t in (("number_of_pupils", pl.Int64), ("percentage_fsm", pl.Float64))
            if c in good.columns
        ],
    )
    table = _conform(table, GIAS_ESTABLISHMENTS)
    summary = {
        "layout_columns": raw.width,
        "snapshot_date": snapshot.isoformat() if snapshot else None,
        "snapshot_date_from": snapshot_source if snapshot else None,
        "columns_missing": [s for s in ESTABLISHMENT_COLUMNS if s not in raw.columns],
        "columns_dropped": len([c for c in raw.columns if c not in ESTABLISHMENT_COLUMNS]),
        "non_numeric_set_null": {c: int(m.sum()) for c, m in numbers.items()},
        "rows_by_status": dict(sorted(table.group_by("establishment_status").len().iter_rows(), key=str)),
        "rows_quarantined": int(quarantine.get_column("row_number").n_unique()),
    }
    return ReadResult(
        tables={"gias_establishments": table},
        quarantine=quarantine,
        source_kind="gias_establishments",
        publication="gias",
        vintage=f"edubasealldata_{raw.width}",
        encoding=encoding,
        rows_read=raw.height,
        summary=summary,
    )


def _read_links(raw: pl.DataFrame, encoding: str, path: Path) -> ReadResult:
    name = path.name
    frame = raw.with_row_index("row_number", offset=1).select(
        pl.col("row_number").cast(pl.Int64),
        *[
            (_text(s) if s in raw.columns else pl.lit(None, pl.String)).alias(c)
            for s, c in LINK_COLUMNS.items()
        ],
    )
    frame = frame.with_columns(
        pl.col("link_established_date").alias("_raw_link_established_date"),
        pl.col("link_established_date").str.to_date(DATE_FORMAT, strict=False),
    )
    checks = [
        _urn_check(frame, "urn", "URN", name),
        _urn_check(frame, "link_urn", "LinkURN", name),
        *_date_checks(frame, {"LinkEstablishedDate": "link_established_date"}, name),
    ]
    quarantine = concat_quarantine(checks)
    good = frame.filter(~pl.col("row_number").is_in(quarantine.get_column("row_number").unique().implode()))
    snapshot = snapshot_from_name(path)
    table = _conform(good.with_columns(pl.lit(snapshot, pl.Date).alias("snapshot_date")), GIAS_LINKS)
    summary = {
        "snapshot_date": snapshot.isoformat() if snapshot else None,
        "snapshot_date_from": "file name" if snapshot else None,
        "rows_by_link_type": dict(sorted(table.group_by("link_type").len().iter_rows(), key=str)),
        "rows_quarantined": int(quarantine.get_column("row_number").n_unique()),
    }
    return ReadResult(
        tables={"gias_links": table},
        quarantine=quarantine,
        source_kind="gias_links",
        publication="gias",
        vintage="links",
        encoding=encoding,
        rows_read=raw.height,
        summary=summary,
    )


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly the declared columns (without provenance), in order; absent ones null."""
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
            if not c.startswith("_")
        ]
    )
