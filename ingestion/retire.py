"""Taking a loaded file back out of the lake: recorded, reversible, never a silent delete.

The raw lake is append-only, and dbt takes every file in it: a file that loads but fails a raw gate (a
duplicate school row, a second file of another scope) would block every refresh. `retire` moves all of one
source file's Parquet parts (named by its sha256 in each `lake/raw/<table>/`, its `file_loads` and
`quarantine` rows included) into `lake/retired/<sha256>/<table>/`, and writes beside them `retired.json`: the
file's name, who retired it, when and why, and the parts moved. Every retirement and undo is also appended to
`lake/retired/log.jsonl`, which is never rewritten. dbt reads only `lake/raw/`, so the next refresh builds
without the file; the loader skips a retired sha256 with a one-line note (the file may still sit in
landing/). `undo` moves the parts back.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from ingestion.files import write_text_atomic

RETIRED = "retired"
RECORD = "retired.json"
LOG = "log.jsonl"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MIN_PREFIX = 8


class RetireError(ValueError):
    """A retirement that cannot be done; the message is one line saying why and what to do."""


def retired_root(lake_root: Path) -> Path:
    return Path(lake_root) / RETIRED


def record_of(lake_root: Path, sha256: str) -> dict | None:
    """The retirement record of a source file, or None when it is not retired."""
    path = retired_root(lake_root) / sha256 / RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def retired(lake_root: Path) -> list[dict]:
    """Every retired source file's record, oldest first."""
    root = retired_root(lake_root)
    records = [json.loads(p.read_text(encoding="utf-8")) for p in root.glob(f"*/{RECORD}")] if root.is_dir() else []
    return sorted(records, key=lambda r: (r["retired_at"], r["sha256"]))


def skip_note(lake_root: Path, sha256: str) -> str | None:
    """The loader's one line for a retired file found in landing/, or None when the file is not retired."""
    record = record_of(lake_root, sha256)
    if record is None:
        return None
    return (f"retired on {record['retired_at'][:10]} by {record['retired_by']} ({record['reason']}): not loaded; "
            f"take it out of landing/, or bring it back with `belonging retire --undo {sha256[:12]}`")


def _raw_parts(lake_root: Path, sha256: str) -> list[Path]:
    raw = Path(lake_root) / "raw"
    parts = []
    for table in sorted(p for p in raw.iterdir() if p.is_dir()) if raw.is_dir() else []:
        parts += sorted(table.glob(f"{sha256}.parquet")) + sorted(table.glob(f"{sha256}-*.parquet"))
    return parts


def _loaded_names(lake_root: Path) -> dict[str, str]:
    """sha256 -> the landing name recorded when the file was loaded (lake/raw/file_loads)."""
    import polars as pl

    files = sorted((Path(lake_root) / "raw" / "file_loads").glob("*.parquet"))
    names = {}
    for path in files:
        if path.name.startswith("_"):
            continue
        frame = pl.read_parquet(path, columns=["_source_file", "_source_sha256"])
        for name, sha in frame.iter_rows():
            names[sha] = name
    return names


def resolve(lake_root: Path, target: str) -> tuple[str, str]:
    """(sha256, file name) for what a user typed: a sha256 or its first 8+ hex digits, a path to the file, or
    the file's name as loaded (`dfe/exclusions_2024.csv`, as `belonging status` shows it)."""
    from ingestion.files import sha256_file

    loaded = _loaded_names(lake_root)
    known = {**{r["sha256"]: r["file"] for r in retired(lake_root)}, **loaded}
    text = target.strip()
    if re.fullmatch(r"[0-9a-fA-F]{8,64}", text):
        matches = sorted(sha for sha in known if sha.startswith(text.lower()))
        if len(matches) == 1:
            return matches[0], known[matches[0]]
        if len(matches) > 1:
            raise RetireError(f"{text} names {len(matches)} files in the lake: give more of the sha256")
        if SHA256.match(text.lower()):
            raise RetireError(f"no file with sha256 {text.lower()} is in the lake (`belonging status` lists them)")
    path = Path(text).expanduser()
    if path.is_file() and not path.is_symlink():
        sha = sha256_file(path)
        if sha not in known:
            raise RetireError(f"{path} (sha256 {sha[:12]}) was never loaded: nothing to retire; take it out of "
                              "landing/ if it should not be read")
        return sha, known[sha]
    by_name = sorted(sha for sha, name in known.items() if name == text.removeprefix("landing/"))
    if len(by_name) == 1:
        return by_name[0], known[by_name[0]]
    if len(by_name) > 1:
        raise RetireError(f"{text} was loaded {len(by_name)} times with different contents: give the sha256 "
                          f"({', '.join(s[:12] for s in by_name)})")
    raise RetireError(f"{text}: no such file, sha256 or loaded file name in the lake "
                      "(`belonging status` lists loaded and retired files)")


def _log(lake_root: Path, entry: dict) -> None:
    root = retired_root(lake_root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _write_record(path: Path, record: dict) -> None:
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name on this machine
        return f"uid {os.getuid()}"


def retire(lake_root: Path, sha256: str, file: str, reason: str, who: str | None = None,
           now: datetime | None = None) -> dict:
    """Move a loaded file's parts out of lake/raw into lake/retired/<sha256>/ with a record. A retirement
    interrupted half-way is finished by retiring again."""
    if not reason.strip():
        raise RetireError("say why the file is retired (--reason '...'): the record keeps it")
    parts = _raw_parts(lake_root, sha256)
    existing = record_of(lake_root, sha256)
    if existing is not None and not parts:
        raise RetireError(f"{file} ({sha256[:12]}) is already retired, on {existing['retired_at']} by "
                          f"{existing['retired_by']}")
    if existing is None and not parts:
        raise RetireError(f"no part of {file} ({sha256[:12]}) is in the lake: nothing to retire")
    folder = retired_root(lake_root) / sha256
    folder.mkdir(parents=True, exist_ok=True)
    record = existing or {
        "sha256": sha256, "file": file, "reason": reason.strip(), "retired_by": _who(who),
        "retired_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"), "parts": [],
    }
    # the record first: from here on the loader skips the file even if the moves below are interrupted
    _write_record(folder / RECORD, record)
    for part in parts:
        target = folder / part.parent.name / part.name
        target.parent.mkdir(exist_ok=True)
        os.replace(part, target)
        record["parts"].append(f"{part.parent.name}/{part.name}")
    record["parts"] = sorted(set(record["parts"]))
    _write_record(folder / RECORD, record)
    _log(lake_root, {"action": "retire", **record})
    return record


def undo(lake_root: Path, sha256: str, who: str | None = None, now: datetime | None = None) -> dict:
    """Move a retired file's parts back into lake/raw; the log keeps the retirement and its undoing."""
    record = record_of(lake_root, sha256)
    if record is None:
        raise RetireError(f"{sha256[:12]} is not retired (`belonging status` lists retired files)")
    folder = retired_root(lake_root) / sha256
    raw = Path(lake_root) / "raw"
    for part in sorted(p for p in folder.glob("*/*.parquet")):
        target = raw / part.parent.name / part.name
        if target.exists():
            raise RetireError(f"{target} exists already: undo stopped, nothing overwritten")
        os.replace(part, target)
    _log(lake_root, {"action": "undo", "sha256": sha256, "file": record["file"], "undone_by": _who(who),
                     "undone_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    (folder / RECORD).unlink()
    for sub in sorted(folder.glob("*"), reverse=True):
        sub.rmdir()  # empty table folders (their parts moved back)
    folder.rmdir()
    return record
