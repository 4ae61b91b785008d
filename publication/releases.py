"""Write-audit-publish releases under `<home>/releases/`.

`publish_release` writes a whole release into `releases/.<id>.tmp/`, makes every file read-only, renames
the folder to `releases/<id>/` and only then switches `releases/current` (a symlink replaced atomically:
a temporary symlink renamed over it). A reader sees the old release or the new one, never half of one; a
failure before the switch leaves `current` as it was (the temporary folder is removed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ingestion.files import sha256_file
from publication.extracts import FORMULA_NOTE, neutralised_cells

CURRENT = "current"
MANIFEST = "manifest.json"
WAREHOUSE = "warehouse.duckdb"  # the read-only copy analysts open: releases/current/warehouse.duckdb
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


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _code_version() -> dict[str, str | None]:
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


def _extract_entries(extracts_dir: Path) -> list[dict]:
    """One entry per extract (name, data rows, and each of its files with its sha256), sorted by name."""
    by_name: dict[str, dict] = {}
    for path in sorted(p for p in extracts_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(extracts_dir).as_posix()
        name, kind = _split_extract_name(rel)
        entry = by_name.setdefault(name, {"name": name, "rows": None, "files": {}})
        entry["files"][kind] = {"file": f"extracts/{rel}", "sha256": sha256_file(path)}
        if kind == "csv":
            with open(path, "rb") as fh:
                entry["rows"] = max(sum(1 for _ in fh) - 1, 0)
            if neutralised := neutralised_cells(path):  # would-be formulas shown as text (FORMULA_NOTE)
                entry["formula_cells_neutralised"] = {"note": FORMULA_NOTE, "columns": neutralised}
    return [by_name[k] for k in sorted(by_name)]


# how `belonging sql` and the release copy open a warehouse: no file system beyond the database file itself
# (no COPY TO, ATTACH, INSTALL/LOAD, read_csv or glob of other paths), configuration locked
SANDBOX = {
    "enable_external_access": False,
    "lock_configuration": True,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def copy_warehouse(source: Path, target: Path) -> dict:
    """Write the release's own warehouse: every table of `source`, and every view that reads only them.

    A view that reads files (the staging views over the lake's Parquet) is left out: in a release it would
    show the lake as it is now, not as released, it would name the home's absolute paths, and the sandbox
    analysts query in (SANDBOX) cannot open it. Built afresh, not copied byte for byte, so nothing of what
    is left out remains in the file. Returns the tables, the views, and the views left out with the reason.
    """
    import duckdb

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
    return {"tables": tables, "views": kept, "views_left_out": dict(sorted(left_out.items()))}


def publish_release(
    home: Path,
    *,
    release_id: str,
    warehouse: Path,
    extracts_dir: Path,
    data_docs_dir: Path | None = None,
    manifest_extra: dict | None = None,
) -> Path:
    """Publish a release and make it current. `manifest_extra` adds keys to the manifest (inputs with their
    sha256 and row counts, gate results, ...). Returns the release folder."""
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

    tmp = root / f".{release_id}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        shutil.copytree(extracts_dir, tmp / "extracts")
        if data_docs_dir is not None and Path(data_docs_dir).exists():
            shutil.copytree(data_docs_dir, tmp / "validation")
        contents = copy_warehouse(warehouse, tmp / WAREHOUSE)
        manifest = {
            "release_id": release_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "code": _code_version(),
            "versions": _versions(),
            "warehouse": {"file": WAREHOUSE, "sha256": sha256_file(tmp / WAREHOUSE), **contents},
            "extracts": _extract_entries(extracts_dir),
            "validation_report": "validation/index.html"
            if (tmp / "validation" / "index.html").exists()
            else None,
        }
        for key, value in (manifest_extra or {}).items():
            if key in ("release_id", "created_at"):
                raise ReleaseError(f"manifest_extra may not replace {key!r}")
            manifest[key] = value
        moved = {Path(data_docs_dir): "validation"} if data_docs_dir is not None else {}
        moved.update({extracts_dir: "extracts", Path(home): ""})
        text = json.dumps(release_relative(manifest, moved), indent=2, sort_keys=True, default=str) + "\n"
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        _make_read_only(tmp)
        os.rename(tmp, final)
    except BaseException:
        if tmp.exists():
            _force_remove(tmp)
        raise
    _switch(root, release_id)
    return final


def release_relative(value, moved: dict[Path, str]):
    """`value` (JSON-like) with every absolute path made relative to the release.

    `moved` maps folders outside the release to where their files sit in it (the run's Data Docs folder to
    `validation`, the home to ``). A path under none of them names the machine, not the release: refused.
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
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).exists()
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
