"""Run the `belonging` command on a temporary home, as a user would (a separate process each time)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb


def belonging(*args: str, home: Path, key: str | None = "test-pseudonym-key", timeout: int = 600,
              check: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BELONGING_HOME", None)
    env["DO_NOT_TRACK"] = "1"
    if key:
        env["BELONGING_PSEUDONYM_KEY"] = key
    else:
        env.pop("BELONGING_PSEUDONYM_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "orchestration.cli", *args, "--home", str(home)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"belonging {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def popen_belonging(*args: str, home: Path, key: str = "test-pseudonym-key") -> subprocess.Popen:
    env = dict(os.environ, DO_NOT_TRACK="1", BELONGING_PSEUDONYM_KEY=key)
    env.pop("BELONGING_HOME", None)
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args, "--home", str(home)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def current(home: Path) -> Path:
    return (home / "releases" / "current").resolve()


def public(release: Path) -> Path:
    """The part of a release a sector body hands over (extracts, data guidance, validation summary, manifest)."""
    return release / "public"


def release_query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    """A query on the current release's warehouse (its internal part)."""
    con = duckdb.connect(str(current(home) / "internal" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(release: Path, part: str = "public") -> dict:
    """The release's public manifest (or with part="internal", the internal part's: the warehouse's)."""
    return json.loads((release / part / "manifest.json").read_text(encoding="utf-8"))


def write_gias(reference: Path, path: Path, schools: list[dict]) -> None:
    """The real 133-column GIAS sample (cp1252, every field quoted) with generated rows appended.

    Each school is a dict of GIAS column -> value; columns not given are empty.
    """
    import csv

    with open(reference / "dfe" / "gias_edubasealldata_sample_2018.csv", encoding="cp1252", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    out = rows[1:]
    for school in schools:
        row = dict.fromkeys(header, "")
        row.update({"EstablishmentStatus (name)": "Open", "OpenDate": "01-09-2005"})
        row.update(school)
        out.append([row[h] for h in header])
    with open(path, "w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(out)


def scan_for_markers(root: Path, marker: str, *, skip: tuple[str, ...] = ("landing",)) -> list[str]:
    """Every place under root (but `skip`) where `marker` occurs: text and binary files byte for byte,
    Parquet files by value (their pages are compressed), DuckDB files by querying every text column."""
    import polars as pl

    hits: list[str] = []
    needle = marker.encode()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.relative_to(root).parts[0] in skip:
            continue
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            for col in frame.columns:
                if frame[col].cast(pl.String, strict=False).str.contains(marker, literal=True).any():
                    hits.append(f"{path}:{col}")
        elif path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                cols = con.execute("""select table_schema, table_name, column_name from information_schema.columns
                                      where data_type = 'VARCHAR'""").fetchall()
                for schema, table, col in cols:
                    n = con.execute(f'select count(*) from "{schema}"."{table}" where "{col}" like ?',
                                    [f"%{marker}%"]).fetchone()[0]
                    if n:
                        hits.append(f"{path}:{table}.{col}")
            finally:
                con.close()
        elif needle in path.read_bytes():
            hits.append(str(path))
    return hits
