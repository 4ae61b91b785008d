"""The only writer of the raw lake: `lake/raw/<table>/<source sha256>.parquet`, append-only.

A landing file's rows land in a Parquet file named after the file's checksum, written to a temporary
name and renamed into place, so a reader sees the whole file or none of it. Loading the same bytes
again finds the file already there and writes nothing. A zero-row `_empty.parquet` per table carries
the declared schema, so every table can be read before its first file arrives.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ingestion.lake_schema import TABLES, empty_frame


@dataclass(frozen=True)
class SourceFile:
    """A landing file and its provenance."""

    path: Path  # absolute
    relative: str  # relative to landing/ (what provenance records)
    sha256: str
    loaded_at: datetime

    @classmethod
    def of(cls, path: Path, landing: Path, loaded_at: datetime | None = None, sha256: str | None = None) -> SourceFile:
        """The file at `path` (its digest computed, unless given: ingestion.landing.KnownDigests)."""
        from ingestion.files import sha256_file

        # never resolved: a link is refused by ingestion.landing, and resolving one would name its target
        path = Path(os.path.abspath(path))
        try:
            relative = path.relative_to(Path(os.path.abspath(landing))).as_posix()
        except ValueError:
            relative = path.name
        return cls(path, relative, sha256 or sha256_file(path), loaded_at or datetime.now(UTC))


def with_provenance(frame: pl.DataFrame, source: SourceFile) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(source.relative).alias("_source_file"),
        pl.lit(source.sha256).alias("_source_sha256"),
        pl.lit(source.loaded_at).cast(pl.Datetime("us", "UTC")).alias("_loaded_at"),
    )


def _conformed(table: str, frame: pl.DataFrame, source: SourceFile) -> pl.DataFrame:
    """conform(table, with_provenance(frame, source)) in one query: a national load writes tens of thousands of
    small files. Raises ValueError naming a column the table does not declare."""
    schema = TABLES[table]
    extra = [c for c in frame.columns if c not in schema]
    if extra:
        raise ValueError(f"{table}: undeclared columns {extra}")
    provenance = {"_source_file": pl.lit(source.relative), "_source_sha256": pl.lit(source.sha256),
                  "_loaded_at": pl.lit(source.loaded_at)}
    return frame.select([
        (provenance[c] if c in provenance else pl.col(c) if c in frame.columns else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in schema.items()
    ])


class Lake:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.raw = self.root / "raw"

    def table_dir(self, table: str) -> Path:
        if table not in TABLES:
            raise KeyError(f"unknown lake table {table!r}")
        return self.raw / table

    def glob(self, table: str) -> str:
        return str(self.table_dir(table) / "*.parquet")

    def ensure_tables(self) -> None:
        for table in TABLES:
            path = self.table_dir(table) / "_empty.parquet"
            if not path.exists():
                _atomic_parquet(empty_frame(table), path)

    def path(self, table: str, sha256: str, part: str | None = None) -> Path:
        return self.table_dir(table) / (f"{sha256}-{part}.parquet" if part else f"{sha256}.parquet")

    def has(self, table: str, sha256: str, part: str | None = None) -> bool:
        return self.path(table, sha256, part).exists()

    def loaded(self, sha256: str) -> bool:
        """Whether a landing file with these bytes has been recorded (loaded or quarantined)."""
        return self.has("file_loads", sha256)

    def write(self, table: str, frame: pl.DataFrame, source: SourceFile, part: str | None = None) -> Path | None:
        """Append one source file's rows (or one part of them, e.g. one academic year) to a raw table.

        Returns the path written, or None when that file (part) is already in the lake.
        """
        path = self.path(table, source.sha256, part)
        if path.exists():
            return None
        _atomic_parquet(_conformed(table, frame, source), path)
        return path

    def read_file(self, table: str, sha256: str) -> pl.DataFrame:
        return pl.read_parquet(self.path(table, sha256), schema=TABLES[table], missing_columns="insert")

    def read(self, table: str) -> pl.DataFrame:
        """A raw table as loaded so far (its declared schema, empty before its first file); writes nothing."""
        if not any(self.table_dir(table).glob("*.parquet")):
            return empty_frame(table)
        return pl.read_parquet(self.glob(table), schema=TABLES[table], missing_columns="insert")


def _atomic_parquet(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
