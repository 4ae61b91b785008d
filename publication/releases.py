"""Write-audit-publish releases under `<home>/releases/`.

A release has two parts, kept apart:
- `public/`: what a sector body can hand over as it is. The extracts (`extracts/`: CSV, `.meta.csv`,
  Parquet), the data guidance (`data-guidance.md`), the validation summary (`validation.html`, a page with no
  network needs), the report (`report.html`, publication/report.py, built from the extracts alone) and
  `manifest.json`, which names every file relative to this folder. Nothing in it breaks disclosure control,
  holds row-level data or names a path of the machine (`public_leaks` is checked before publishing).
- `internal/`: the warehouse copy for the publishing body's own analysts (`warehouse.duckdb`: survey figures
  before disclosure control, pseudonymised respondent rows), its `README.md` saying so, and `manifest.json`
  describing it. `belonging sql` reads it.

Releases made before the split (warehouse, extracts and manifest side by side) are still listed, read and
selected; `release_parts` tells the two layouts apart.

`publish_release` writes a whole release into `releases/.<id>.tmp/`, makes every file read-only, renames
the folder to `releases/<id>/` and only then switches `releases/current` (a symlink replaced atomically:
a temporary symlink renamed over it). A reader sees the old release or the new one, never half of one; a
failure before the switch leaves `current` as it was (the temporary folder is removed).

A release records its fingerprint (`release_fingerprint`): what its content follows from. A refresh whose
fingerprint equals the current release's publishes nothing (`unchanged_since`) unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ingestion.files import sha256_file

CURRENT = "current"
MANIFEST = "manifest.json"
PUBLIC, INTERNAL = "public", "internal"
EXTRACTS = "extracts"
WAREHOUSE = "warehouse.duckdb"  # in internal/: the read-only copy analysts open
README = "README.md"
# the public part's files beside the extracts (publish_release `public_files`)
DATA_GUIDANCE = "data-guidance.md"  # publication/guidance.py
VALIDATION_SUMMARY = "validation.html"  # publication/validation.py
REPORT = "report.html"  # publication/report.py (the indicator report, built from the public extracts)
PUBLIC_FILES = {"data_guidance": DATA_GUIDANCE, "validation_summary": VALIDATION_SUMMARY, "report": REPORT}
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
VERSIONED = (
    "dbt-core",
    "dbt-duckdb",
    "great-expectations",
    "duckdb",
    "polars",
    "dagster",
    "pyarrow",
    "pandas",
)
REPO = Path(__file__).resolve().parents[1]
# the code a release's content follows from (release_fingerprint): these folders and files of the repository
CODE = ("config", "dbt_project", "expectations", "indicators", "ingestion", "orchestration", "publication",
        "pyproject.toml")  # fmt: skip
CODE_SUFFIXES = (".py", ".sql", ".yml", ".yaml", ".csv", ".toml", ".j2")
CODE_SKIP = ("target", "dbt_packages", "logs", "__pycache__")
# settings that change what is published (the others say how often or where from)
SETTINGS_SKIPPED = ("releases", "downloads")


class ReleaseError(ValueError):
    """A release that cannot be published or selected (unknown id, id already used, missing input)."""


def releases_dir(home: Path) -> Path:
    return Path(home) / "releases"


def new_release_id(now: datetime | None = None, salt: str = "") -> str:
    """`20261122T190000Z-<6 hex>`: sorts by time; the suffix separates releases made in the same second."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(
        f"{now.isoformat()}|{salt}|{os.getpid()}|{os.urandom(8).hex()}".encode()
    ).hexdigest()
    return f"{stamp}-{digest[:6]}"


@dataclass(frozen=True)
class ReleaseParts:
    """Where a release keeps its files: `public/` and `internal/`, or (`split` False) a release made before the
    split, with its warehouse beside its extracts and manifest."""

    folder: Path
    split: bool

    @property
    def public(self) -> Path:
        return self.folder / PUBLIC if self.split else self.folder

    @property
    def internal(self) -> Path:
        return self.folder / INTERNAL if self.split else self.folder

    @property
    def manifest(self) -> Path:
        return self.public / MANIFEST

    @property
    def extracts(self) -> Path:
        return self.public / EXTRACTS

    @property
    def warehouse(self) -> Path:
        return self.internal / WAREHOUSE

    @property
    def note(self) -> str:
        return "" if self.split else ("made before releases had a public part: its folder holds the warehouse "
                                      "beside the extracts; hand over its extracts/ only")


def release_parts(folder: Path) -> ReleaseParts:
    folder = Path(folder)
    return ReleaseParts(folder, split=not (folder / MANIFEST).is_file())


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def code_version() -> dict[str, str | None]:
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"git_commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        try:
            return {"git_commit": None, "package_version": metadata.version("belonging")}
        except metadata.PackageNotFoundError:
            return {"git_commit": None}


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for f in filenames:
            os.chmod(Path(dirpath) / f, READ_ONLY)
    # folders too: nothing can be added to or removed from a published release (prune chmods them back)
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        os.chmod(dirpath, READ_ONLY | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _split_extract_name(rel: str) -> tuple[str, str]:
    for suffix, kind in ((".meta.csv", "meta"), (".csv", "csv"), (".parquet", "parquet")):
        if rel.endswith(suffix):
            return rel.removesuffix(suffix), kind
    return rel, "other"


# where a cell `neutralise_formula` prefixed with ' can start in a CSV: the file's start, after a comma, a line
# break or an opening quote. A file holding none of these holds no neutralised cell.
NEUTRALISED_STARTS = (b",'", b"\n'", b"\"'")


def extract_entries(extracts_dir: Path) -> list[dict]:
    """One entry per extract (name, data rows, and each of its files with its sha256), sorted by name. Each file
    is read once (`_stream`: digest, lines and whether a cell may have been neutralised); only a CSV that may hold
    a neutralised cell is parsed again to count them (a national extract has tens of millions of cells)."""
    from publication.extracts import FORMULA_NOTE, neutralised_cells  # polars: not for `belonging sql`

    by_name: dict[str, dict] = {}
    for path in sorted(p for p in extracts_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(extracts_dir).as_posix()
        name, kind = _split_extract_name(rel)
        entry = by_name.setdefault(name, {"name": name, "rows": None, "files": {}})
        read = _stream(path, NEUTRALISED_STARTS if kind == "csv" else [])
        entry["files"][kind] = {"file": f"extracts/{rel}", "sha256": read.sha256}
        if kind == "csv":
            entry["rows"] = max(read.lines - 1, 0)
            if (read.found or read.first == b"'") and (neutralised := neutralised_cells(path)):
                # would-be formulas shown as text (FORMULA_NOTE)
                entry["formula_cells_neutralised"] = {"note": FORMULA_NOTE, "columns": neutralised}
    return [by_name[k] for k in sorted(by_name)]


@dataclass(frozen=True)
class Streamed:
    sha256: str
    lines: int  # as a text reader counts them: a last line without a line break counts too (0: not counted)
    found: bool  # whether any of the needles occurs
    first: bytes  # the first byte


def _stream(path: Path, needles, sink=None, *, stop_at_needle: bool = False, count_lines: bool = True,
            chunk: int = 1 << 24) -> Streamed:
    """One pass over a file: its sha256, its lines, whether its bytes hold any of `needles` (looked for across
    chunk boundaries), writing each chunk to `sink` (an open binary file) when given. With `stop_at_needle`, stops
    at the first needle found (the digest and lines are then of what was read)."""
    needles = [n for n in needles if n]
    overlap = max((len(n) for n in needles), default=1) - 1
    digest, lines, found, tail, first, last = hashlib.sha256(), 0, False, b"", b"", b""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            first = first or block[:1]
            if needles and not found:
                # within the block, and across its boundary with the one before (no copy of the block)
                seam = tail + block[:overlap]
                found = any(n in block or n in seam for n in needles)
                tail = (tail + block)[-overlap:] if len(block) < overlap else block[len(block) - overlap:]
                if found and stop_at_needle:
                    break
            digest.update(block)
            if count_lines:
                lines += block.count(b"\n")
            last = block[-1:]
            if sink is not None:
                sink.write(block)
    lines += 1 if count_lines and last not in (b"", b"\n") else 0
    return Streamed(digest.hexdigest(), lines, found, first)


# how `belonging sql` and the release copy open a warehouse: no file system beyond the database file itself
# (no COPY TO, ATTACH, INSTALL/LOAD, read_csv or glob of other paths), configuration locked
SANDBOX = {
    "enable_external_access": False,
    "lock_configuration": True,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def _copy_as_is(source: Path, target: Path, markers: list[str]) -> dict | None:
    """The warehouse copied byte for byte, when that is safe: no view of it reads files and its bytes name
    none of `markers` (the home's path: a file once holding views over the lake keeps their text in its free
    blocks). The staging views live in a database of their own (dbt_project/profiles.yml), so a warehouse
    built by this project's dbt is copied as it is: seconds, where rebuilding a national one takes a minute.
    One read of the source (`_stream`: markers looked for, digest computed and bytes written at once: a national
    warehouse is over a gigabyte). None (and no target) when it is not safe; else the contents and the copy's
    sha256."""
    import duckdb

    needles = [m.encode() for m in markers if m and m != "/"]
    if Path(f"{source}.wal").exists():
        return None
    with open(target, "wb") as sink:
        read = _stream(source, needles, sink, stop_at_needle=True, count_lines=False)
    if read.found:
        target.unlink()
        return None
    # read-only: the copy's bytes stay those digested
    con = duckdb.connect(str(target), read_only=True, config={"enable_external_access": False})
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' and not internal and not temporary "
            "order by table_name").fetchall()]
        views = [r[0] for r in con.execute(
            "select view_name from duckdb_views() where schema_name = 'main' and not internal and not temporary "
            "order by view_name").fetchall()]
        for name in views:
            con.execute(f'select * from main."{name}" limit 0')  # a view reading files is refused here
    except duckdb.Error:
        con.close()
        target.unlink()
        return None
    con.close()
    return {"tables": tables, "views": views, "views_left_out": {}, "sha256": read.sha256}


def copy_warehouse(source: Path, target: Path, markers: list[str] | None = None) -> dict:
    """Write the release's own warehouse: every table of `source`, and every view that reads only them.

    A view that reads files (the staging views over the lake's Parquet) is left out: in a release it would
    show the lake as it is now, not as released, it would name the home's absolute paths, and the sandbox
    analysts query in (SANDBOX) cannot open it. Copied as it is when it holds no such view and names none of
    `markers` (`_copy_as_is`); otherwise built afresh, not copied byte for byte, so nothing of what is left
    out remains in the file. Returns the tables, the views, the views left out with the reason, and the copy's
    sha256.
    """
    import duckdb

    source, target = Path(source), Path(target)
    if (as_is := _copy_as_is(source, target, markers or [])) is not None:
        return as_is
    con = duckdb.connect(str(target))
    try:
        con.execute("attach ? as build (read_only)", [str(source)])
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'build' and schema_name = 'main' "
                "and not internal and not temporary order by table_name"
            ).fetchall()
        ]
        views = dict(
            con.execute(
                "select view_name, sql from duckdb_views() where database_name = 'build' "
                "and schema_name = 'main' and not internal and not temporary order by view_name"
            ).fetchall()
        )
        for name in tables:
            con.execute(f'create table main."{name}" as from build.main."{name}"')
        con.execute("detach build")
        # from here the copy cannot read files: a view that does is refused, and so left out
        con.execute("set enable_external_access = false")
        left_out: dict[str, str] = {}
        while views:  # a view over another view is created once the one it reads exists
            errors: dict[str, str] = {}
            for name, sql in list(views.items()):
                try:
                    con.execute(sql)
                except duckdb.PermissionException:
                    left_out[name] = "reads files outside the database (the lake): not part of a release"
                except duckdb.Error as exc:
                    errors[name] = str(exc).splitlines()[0]
                    continue
                views.pop(name)
            if len(errors) == len(views):  # no view was created or refused in this pass: nothing more will be
                left_out.update(errors)
                break
        con.execute("checkpoint")
        kept = [
            r[0]
            for r in con.execute(
                "select view_name from duckdb_views() where not internal and not temporary order by view_name"
            ).fetchall()
        ]
    finally:
        con.close()
    return {"tables": tables, "views": kept, "views_left_out": dict(sorted(left_out.items())),
            "sha256": sha256_file(target)}


def publish_release(
    home: Path,
    *,
    release_id: str,
    warehouse: Path,
    extracts_dir: Path,
    public_files: dict[str, str] | None = None,
    manifest_extra: dict | None = None,
    extracts: list[dict] | None = None,
) -> Path:
    """Publish a release and make it current: the audited extracts and `public_files` (name -> text: the data
    guidance, the validation summary, the report) in `public/`, the warehouse copy in `internal/`.
    `manifest_extra` adds keys to the public manifest (inputs with their sha256 and row counts, gate results,
    the fingerprint, ...); `extracts` is `extract_entries(extracts_dir)` when the caller has it already.
    Returns the release folder."""
    root = releases_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    final = root / release_id
    if not release_id or release_id.startswith(".") or "/" in release_id or release_id == CURRENT:
        raise ReleaseError(f"invalid release id {release_id!r}")
    if final.exists():
        raise ReleaseError(f"release {release_id} already exists: releases are never modified")
    warehouse, extracts_dir = Path(warehouse), Path(extracts_dir)
    if not warehouse.is_file():
        raise ReleaseError(f"warehouse {warehouse} not found")
    if not extracts_dir.is_dir():
        raise ReleaseError(f"extracts folder {extracts_dir} not found")
    unknown = sorted(set(public_files or {}) - set(PUBLIC_FILES.values()))
    if unknown:
        raise ReleaseError(f"public_files {unknown}: the public part holds {sorted(PUBLIC_FILES.values())}")

    tmp = root / f".{release_id}.tmp"
    if tmp.exists():
        _force_remove(tmp)
    parts = ReleaseParts(tmp, split=True)
    try:
        parts.public.mkdir(parents=True)
        parts.internal.mkdir()
        shutil.copytree(extracts_dir, parts.extracts)
        for name, text in sorted((public_files or {}).items()):
            (parts.public / name).write_text(text, encoding="utf-8")
        contents = copy_warehouse(warehouse, parts.warehouse, markers=[str(Path(home).resolve()), f"{Path.home()}/"])
        digest = contents.pop("sha256")  # a copy made as it is was digested while it was written
        created = datetime.now(UTC).isoformat(timespec="seconds")
        internal = {
            "release_id": release_id,
            "created_at": created,
            "warehouse": {"file": WAREHOUSE, "sha256": digest, **contents},
        }
        (parts.internal / MANIFEST).write_text(_json(internal), encoding="utf-8")
        (parts.internal / README).write_text(internal_readme(release_id, contents), encoding="utf-8")
        manifest = {
            "release_id": release_id,
            "created_at": created,
            "files_relative_to": "this folder, the release's public part",
            "code": code_version(),
            "versions": package_versions(),
            "extracts": extracts if extracts is not None else extract_entries(extracts_dir),
            **{key: name if (parts.public / name).is_file() else None for key, name in PUBLIC_FILES.items()},
        }
        for key, value in (manifest_extra or {}).items():
            if key in manifest:
                raise ReleaseError(f"manifest_extra may not replace {key!r}")
            manifest[key] = value
        moved = {extracts_dir: EXTRACTS, Path(home): ""}
        parts.manifest.write_text(_json(release_relative(manifest, moved)), encoding="utf-8")
        leaks = public_leaks(parts.public, markers=[str(Path(home).resolve()), f"{Path.home()}/"])
        if leaks:
            raise ReleaseError(f"not publishing: the public part would show {leaks[0]}"
                               + (f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""))
        _make_read_only(tmp)
        os.rename(tmp, final)
    except BaseException:
        if tmp.exists():
            _force_remove(tmp)
        raise
    _switch(root, release_id)
    return final


def _json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def internal_readme(release_id: str, contents: dict) -> str:
    """What the internal part is, for whoever finds it: not for publication, and why."""
    tables = "\n".join(f"- `{t}`" for t in contents["tables"])
    views = "\n".join(f"- `{v}`" for v in contents["views"]) or "- (none)"
    return f"""# Release {release_id}: internal part (not for publication)

This folder is for the publishing body's own analysts. **Do not publish it or hand it over.** What may be
published is the release's public part (`../public/`): the disclosure-controlled extracts, their data guidance,
the validation summary and the manifest.

`{WAREHOUSE}` is a read-only copy of the warehouse the release was built from. It holds:
- survey figures **before disclosure control** (small cells are numbers here, `c` in the public extracts);
- **pseudonymised respondent-level rows** (`int_survey_responses_scored`: one row per survey response, keyed
  by its pseudonym, with the school, wave, year group, gender, SEND, FSM or role answers and the score);
- every intermediate table and the marts (`mart_indicators` with its numerators, denominators and schools).

Query it with `belonging sql` (read-only, no file access), or open it read-only with any DuckDB client of
the same version. `manifest.json` beside this file gives its sha256, tables and views, and the views left out
(the staging views over the lake: they would show the lake as it is now, not as released).

Tables:
{tables}

Views:
{views}
"""


# an absolute path of a POSIX machine (/srv/data/x) or of Windows (C:\Users\x); dates such as 2018/19, ratios
# such as "school share / LA phase share" and web addresses (https://...) are not paths
ABSOLUTE_PATH = re.compile(rb"(?<![\w.:/~-])/(?:[\w.@+-]+/)+[\w.@+-]*|\b[A-Za-z]:\\[\w]")
PUBLIC_TEXT = (".csv", ".json", ".md", ".html", ".txt")


def public_leaks(public: Path, markers: list[str]) -> list[str]:
    """What a public part must not hold: a database file (row-level tables), and in its text files an absolute
    path or any of `markers` (the home, the user's home folder). Each as `<file>: <what>`, relative to it."""
    found = []
    needles = [m.encode() for m in markers if m and m != "/"]
    for path in sorted(p for p in Path(public).rglob("*") if p.is_file()):
        rel = path.relative_to(public).as_posix()
        if path.suffix in (".duckdb", ".db", ".sqlite", ".wal"):
            found.append(f"{rel}: a database file")
            continue
        if path.suffix not in PUBLIC_TEXT:
            continue
        data = path.read_bytes()
        hits = [m.decode() for m in needles if m in data]
        # a path needs a / or a drive's :\ (found at memory speed): the pattern itself is slow on a national
        # extract's tens of megabytes, and is run only on a file that holds one
        if (b"/" in data or b":\\" in data) and (match := ABSOLUTE_PATH.search(data)):
            hits.append(match.group(0).decode(errors="replace"))
        found += [f"{rel}: the machine path {h!r}" for h in hits]
    return found


def release_fingerprint(*, inputs: list[str], settings: dict, catalogue_file: Path) -> dict:
    """What a release's content follows from, as sha256 digests: the lake's input files (their sha256), the
    indicator catalogue, the settings that change what is published (all but `releases` and `downloads`), the
    code (every source file of the folders in CODE) and the versions of the stack. `sha256` digests them all."""
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    kept = {k: v for k, v in sorted(settings.items()) if k not in SETTINGS_SKIPPED}
    parts = {
        "inputs": digest("\n".join(sorted(set(inputs)))),
        "catalogue": sha256_file(catalogue_file),
        "settings": digest(json.dumps(kept, sort_keys=True, default=str)),
        "code": code_digest(),
        "versions": digest(json.dumps(package_versions(), sort_keys=True)),
    }
    return {"sha256": digest(json.dumps(parts, sort_keys=True)), "parts": parts}


def code_digest(repo: Path = REPO) -> str:
    """sha256 over the path and bytes of every source file in CODE (not the git commit: it works for an
    installed package too, and a commit that touches only tests or docs changes nothing published)."""
    h = hashlib.sha256()
    for top in CODE:
        base = repo / top
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in files:
            rel = path.relative_to(repo)
            skipped = set(rel.parts) & set(CODE_SKIP) or any(part.startswith(".") for part in rel.parts)
            if path.is_file() and path.suffix in CODE_SUFFIXES and not skipped:
                h.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def unchanged_since(home: Path, fingerprint: dict) -> str | None:
    """The current release's id when its fingerprint is `fingerprint` (nothing to publish), else None."""
    current = current_release(home)
    if current is None:
        return None
    try:
        manifest = json.loads(release_parts(current).manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return current.name if (manifest.get("fingerprint") or {}).get("sha256") == fingerprint["sha256"] else None


def nothing_changed(release_id: str) -> str:
    """What a refresh says when it publishes nothing because nothing changed (printed by orchestration/refresh.py)."""
    return (f"nothing changed since release {release_id}: the same input files (by sha256), indicator catalogue, "
            "settings and code; no release published (`belonging refresh --force` publishes one anyway)")


def release_relative(value, moved: dict[Path, str]):
    """`value` (JSON-like) with every absolute path made relative to the release.

    `moved` maps folders outside the release to where their files sit in it (the run's extracts folder to
    `extracts`, the home to ``). A path under none of them names the machine, not the release: refused.
    """
    if isinstance(value, dict):
        return {k: release_relative(v, moved) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [release_relative(v, moved) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or "/" not in value:
        return value
    for folder, inside in sorted(moved.items(), key=lambda kv: -len(str(kv[0]))):
        prefix = str(folder).rstrip("/") + "/"
        if prefix in value:
            value = value.replace(prefix, f"{inside}/" if inside else "")
    if os.path.isabs(value) or str(Path.home()) + "/" in value:
        raise ReleaseError(f"manifest value {value!r} is an absolute path: a release names files relative to itself")
    return value


def _switch(root: Path, release_id: str) -> None:
    link = root / CURRENT
    tmp_link = root / f".{CURRENT}.{os.getpid()}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(release_id, tmp_link)  # relative: the home can move
    os.replace(tmp_link, link)


def list_releases(home: Path) -> list[str]:
    """Published release ids, oldest first (temporary folders are not releases)."""
    root = releases_dir(home)
    if not root.exists():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and release_parts(p).manifest.is_file()
    )


def current_release(home: Path) -> Path | None:
    """The folder of the current release (`releases/<id>`; its `.name` is the id), or None."""
    link = releases_dir(home) / CURRENT
    if not link.is_symlink():
        return None
    return releases_dir(home) / Path(os.readlink(link)).name


def set_current(home: Path, release_id: str) -> Path:
    """Point `current` at a published release (roll back or forward). Refuses unknown ids."""
    if release_id not in list_releases(home):
        raise ReleaseError(f"unknown release {release_id!r}; known: {list_releases(home)}")
    root = releases_dir(home)
    _switch(root, release_id)
    return root / release_id


def prune_releases(home: Path, keep: int) -> list[str]:
    """Remove the oldest releases beyond `keep` (0 keeps all); never the current one. Returns the removed ids."""
    if keep <= 0:
        return []
    ids = list_releases(home)
    current = current_release(home)
    kept = set(ids[-keep:]) | ({current.name} if current else set())
    removed = []
    for rid in ids:
        if rid not in kept:
            _force_remove(releases_dir(home) / rid)
            removed.append(rid)
    return removed


def _force_remove(path: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)  # a folder must be writable to remove what it holds
    shutil.rmtree(path)
