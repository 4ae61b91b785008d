"""Fetching the DfE's public files into landing/ (the only part of the pipeline that needs the network).

The addresses are configuration (`config/downloads.yaml`, overridable per home), not code. Each file is
streamed to a hidden temporary file beside its destination, checksummed, and only then moved into place
with `os.replace`, so landing/ never holds half a file: a timeout, an HTTP error or a body shorter than its
Content-Length leaves the previous file (if any) exactly as it was. A download whose bytes equal the file
already there is discarded without touching it (its mtime stays), and a small hidden sidecar
`.<dest name>.http.json` keeps the server's ETag / Last-Modified so the next run asks conditionally and a
`304 Not Modified` costs nothing. Zipped responses (DfE releases often come zipped) are recognised from
their bytes and their CSV members extracted beside `dest` under their own names.

Hidden files (temporaries and sidecars) start with a dot: the landing walker skips them.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

import yaml

from ingestion.files import sha256_file, write_text_atomic
from ingestion.landing import check_inside

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "downloads.yaml"
HOME_CONFIG_NAME = "downloads.yaml"  # $BELONGING_HOME/downloads.yaml replaces the repository's list
DEFAULT_TIMEOUT = 60.0
DEFAULT_USER_AGENT = "belonging/0.1 (school belonging and inclusion indicators; python-urllib)"

ENTRY_KEYS = {"name", "url", "dest", "enabled", "timeout_seconds", "user_agent", "description"}
REQUIRED_KEYS = ("name", "url", "dest")

CHUNK = 1 << 16
ZIP_MAGIC = b"PK\x03\x04"

Status = Literal["downloaded", "unchanged", "failed"]


@dataclass(frozen=True)
class FetchResult:
    status: Status
    sha256: str | None  # of the response body (a zip's own bytes for a zipped response); None on failure
    bytes: int  # response body bytes received (0 for a 304)
    message: str  # one line a person can read: what happened, naming the address and the file
    url: str = ""
    dest: Path | None = None
    files: tuple[Path, ...] = ()  # files in landing/ this fetch stands for (dest, or a zip's CSV files)
    name: str = ""  # the configuration entry's name (fetch_all)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class DownloadConfigError(ValueError):
    """A downloads configuration that cannot be used; the message names the file, entry and rule."""


# ---------------------------------------------------------------------------------------------------------
# configuration


def resolve_download_config(home: Path | None = None) -> Path:
    """`$BELONGING_HOME/downloads.yaml` when the home has one, else the repository's `config/downloads.yaml`."""
    if home is not None:
        override = Path(home) / HOME_CONFIG_NAME
        if override.is_file():
            return override
    return DEFAULT_CONFIG


def load_download_config(path: Path | None = None) -> list[dict]:
    """Read and check a downloads list (default: the repository's `config/downloads.yaml`).

    A per-home file replaces the whole list. Raises DownloadConfigError naming the file, the entry and the
    rule for: a top level that is not a list, an entry that is not a mapping, a missing or empty
    name/url/dest, an unknown key (typos are errors, not silently ignored), a duplicate name, a dest that is
    absolute or climbs out of landing/, a url that is not http(s).
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DownloadConfigError(f"{path}: cannot read downloads configuration: {exc}") from exc
    except yaml.YAMLError as exc:
        raise DownloadConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise DownloadConfigError(
            f"{path}: top level must be a list of entries {{name, url, dest}}, found {type(data).__name__}"
        )
    seen: dict[str, int] = {}
    entries: list[dict] = []
    for i, entry in enumerate(data, start=1):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict):
            raise DownloadConfigError(f"{where}: must be a mapping with name, url, dest")
        if isinstance(entry.get("name"), str):
            where = f"{path}: entry {i} ({entry['name']})"
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise DownloadConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(ENTRY_KEYS))})"
            )
        problem = _entry_problem(entry)
        if problem:
            raise DownloadConfigError(f"{where}: {problem}")
        if entry["name"] in seen:
            raise DownloadConfigError(
                f"{where}: duplicate name {entry['name']!r} (also entry {seen[entry['name']]})"
            )
        seen[entry["name"]] = i
        entries.append(dict(entry))
    return entries


def _entry_problem(entry: dict) -> str | None:
    for key in REQUIRED_KEYS:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"missing or empty {key!r}"
    if not entry["url"].lower().startswith(("http://", "https://")):
        return f"url must start with http:// or https://, got {entry['url']!r}"
    dest = PurePosixPath(entry["dest"].replace("\\", "/"))
    if dest.is_absolute() or ".." in dest.parts:
        return f"dest must be a path relative to landing/ without '..', got {entry['dest']!r}"
    if "enabled" in entry and not isinstance(entry["enabled"], bool):
        return f"enabled must be true or false, got {entry['enabled']!r}"
    if "timeout_seconds" in entry and (
        isinstance(entry["timeout_seconds"], bool)
        or not isinstance(entry["timeout_seconds"], int | float)
        or entry["timeout_seconds"] <= 0
    ):
        return f"timeout_seconds must be a positive number, got {entry['timeout_seconds']!r}"
    return None


def expand(template: str, today: date) -> str:
    """Fill `{date:<strftime format>}` placeholders, e.g. `edubasealldata{date:%Y%m%d}.csv`."""
    try:
        return template.format(date=today)
    except (KeyError, IndexError, ValueError) as exc:
        raise DownloadConfigError(
            f"template {template!r}: only {{date:<format>}} placeholders are allowed ({exc!r})"
        ) from exc


# ---------------------------------------------------------------------------------------------------------
# fetching


def fetch_all(
    config: list[dict],
    landing: Path,
    *,
    today: date,
    timeout: float = DEFAULT_TIMEOUT,
    user_agent: str = DEFAULT_USER_AGENT,
) -> list[FetchResult]:
    """Fetch every enabled entry into `landing`; one failed entry never stops the others.

    `{date:...}` templates in url and dest are filled from `today`. An entry's own `timeout_seconds` /
    `user_agent` override the arguments. Entries with `enabled: false` are skipped (no result). Returns one
    FetchResult per enabled entry, in configuration order, each carrying the entry's name.
    """
    landing = Path(landing)
    results: list[FetchResult] = []
    for i, entry in enumerate(config, start=1):
        name = str(entry.get("name") or f"entry {i}")
        if entry.get("enabled", True) is False:
            log.info("download %s: disabled, skipped", name)
            continue
        try:
            problem = _entry_problem(entry)
            if problem:
                raise DownloadConfigError(problem)
            url = expand(entry["url"], today)
            dest = landing / expand(entry["dest"], today)
            check_inside(landing, dest)  # never written through a link out of landing/ (a release, /etc)
            result = fetch(
                url,
                dest,
                timeout=float(entry.get("timeout_seconds", timeout)),
                user_agent=str(entry.get("user_agent", user_agent)),
            )
        except Exception as exc:  # one bad entry must not stop the others
            result = FetchResult("failed", None, 0, f"download {name}: {exc}", url=str(entry.get("url", "")))
        else:
            result = replace(result, message=f"download {name}: {result.message}")
        result = replace(result, name=name)
        (log.warning if result.status == "failed" else log.info)(result.message)
        results.append(result)
    return results


def fetch(url: str, dest: Path, *, timeout: float, user_agent: str) -> FetchResult:
    """Download `url` to `dest` atomically; see the module docstring. Never raises for network trouble."""
    dest = Path(dest)
    where = f"{url} -> {dest}"
    if not url.lower().startswith(("http://", "https://")):
        return FetchResult(
            "failed", None, 0, f"{where}: only http(s) addresses are fetched", url=url, dest=dest
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    sidecar = _sidecar_path(dest)
    previous = _read_sidecar(sidecar, url, dest.parent)

    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
    if previous:
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
    request = urllib.request.Request(url, headers=headers, method="GET")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
                status_code = response.status
                content_type = response.headers.get("Content-Type", "")
                length_header = response.headers.get("Content-Length")
                etag = response.headers.get("ETag")
                last_modified = response.headers.get("Last-Modified")
                digest = hashlib.sha256()
                received = 0
                first = b""
                while block := response.read(CHUNK):
                    if not first:
                        first = block[:16]
                    digest.update(block)
                    out.write(block)
                    received += len(block)
        except urllib.error.HTTPError as exc:
            if exc.code == 304 and previous:
                files = tuple(dest.parent / n for n in previous["files"])
                _write_sidecar(
                    sidecar,
                    previous
                    | {
                        "etag": exc.headers.get("ETag") or previous.get("etag"),
                        "last_modified": exc.headers.get("Last-Modified") or previous.get("last_modified"),
                        "checked_at": _now(),
                    },
                )
                return FetchResult(
                    "unchanged",
                    previous.get("sha256"),
                    0,
                    f"{where}: not modified (HTTP 304), kept {', '.join(previous['files'])}",
                    url=url,
                    dest=dest,
                    files=files,
                )
            return _failed(url, dest, f"HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _failed(url, dest, f"timed out after {timeout:g} s")
            return _failed(url, dest, f"cannot reach the server: {exc.reason}")
        except TimeoutError:
            return _failed(url, dest, f"timed out after {timeout:g} s")
        except (http.client.HTTPException, OSError) as exc:
            return _failed(url, dest, f"connection broken while reading: {type(exc).__name__}: {exc}")

        if status_code != 200:
            return _failed(url, dest, f"unexpected HTTP {status_code} (expected 200)")
        if length_header is not None and length_header.strip().isdigit() and received != int(length_header):
            return _failed(
                url,
                dest,
                f"truncated response: received {received} of {int(length_header)} bytes (Content-Length)",
            )
        if received == 0:
            return _failed(url, dest, "empty response body")
        if content_type.lower().startswith("text/html") or first.lstrip().lower().startswith(
            (b"<!doctype", b"<html")
        ):
            return _failed(url, dest, "the server returned an HTML page, not a data file")

        sha = digest.hexdigest()
        if first.startswith(ZIP_MAGIC):
            status, files, note = _install_zip(tmp, dest)
            if status == "failed":
                return _failed(url, dest, note, sha256=None)
        else:
            status, files, note = _install_file(tmp, dest, sha)
        _write_sidecar(
            sidecar,
            {
                "url": url,
                "etag": etag,
                "last_modified": last_modified,
                "sha256": sha,
                "files": {p.name: sha256_file(p) for p in files},
                "checked_at": _now(),
            },
        )
        return FetchResult(
            status,
            sha,
            received,
            f"{where}: {note} ({received} bytes)",
            url=url,
            dest=dest,
            files=tuple(files),
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _install_file(tmp: Path, dest: Path, sha: str) -> tuple[Status, list[Path], str]:
    if dest.is_file() and sha256_file(dest) == sha:
        return "unchanged", [dest], f"same bytes as {dest.name} (sha256 {sha[:12]}), file left untouched"
    existed = dest.exists()
    os.replace(tmp, dest)
    return "downloaded", [dest], f"{'replaced' if existed else 'wrote'} {dest.name} (sha256 {sha[:12]})"


def _install_zip(tmp: Path, dest: Path) -> tuple[Status, list[Path], str]:
    """Extract a zip's CSV members (including .meta.csv) into dest's folder under their own base names.

    Every member is written to a hidden temporary first; only when all are read without error are the
    changed ones moved into place, so a broken zip changes nothing.
    """
    folder = dest.parent
    staged: list[Path] = []  # temporaries still to be installed or removed
    changed: list[tuple[Path, Path]] = []  # (temporary, final)
    files: list[Path] = []
    try:
        with zipfile.ZipFile(tmp) as archive:
            members = [
                m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".csv")
            ]
            if not members:
                listing = ", ".join(m.filename for m in archive.infolist()[:10]) or "none"
                return "failed", [], f"zip holds no CSV file (members: {listing})"
            sources: dict[str, str] = {}
            for member in members:
                base = PurePosixPath(member.filename.replace("\\", "/")).name
                if base in sources:
                    return (
                        "failed",
                        [],
                        (
                            f"zip holds two CSV files named {base} ({sources[base]}, {member.filename}): "
                            "extract it by hand"
                        ),
                    )
                sources[base] = member.filename
                final = folder / base
                fd, part_name = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
                part = Path(part_name)
                staged.append(part)
                digest = hashlib.sha256()
                with os.fdopen(fd, "wb") as out, archive.open(member) as src:
                    while block := src.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                files.append(final)
                if not (final.is_file() and sha256_file(final) == digest.hexdigest()):
                    changed.append((part, final))
        for part, final in changed:
            os.replace(part, final)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        return "failed", [], f"broken zip: {type(exc).__name__}: {exc}"
    finally:
        for part in staged:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
    names = ", ".join(p.name for p in files)
    if not changed:
        return "unchanged", files, f"zip: same bytes as {names}, files left untouched"
    return "downloaded", files, f"zip: extracted {', '.join(f.name for _, f in changed)} (of {names})"


def _failed(url: str, dest: Path, reason: str, sha256: str | None = None) -> FetchResult:
    kept = " (the existing file is kept)" if dest.exists() else " (nothing written)"
    return FetchResult("failed", sha256, 0, f"{url} -> {dest}: {reason}{kept}", url=url, dest=dest)


# ---------------------------------------------------------------------------------------------------------
# the HTTP sidecar: .<dest name>.http.json beside dest


def _sidecar_path(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.http.json"


def _read_sidecar(path: Path, url: str, folder: Path) -> dict | None:
    """The previous fetch's validators, if they are still for this url and its files are intact on disk."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("url") != url or not isinstance(data.get("files"), dict):
        return None
    if not data["files"] or not (data.get("etag") or data.get("last_modified")):
        return None
    for name, sha in data["files"].items():
        file = folder / name
        if not file.is_file() or sha256_file(file) != sha:
            return None  # the file was removed or edited by hand: ask unconditionally
    return data


def _write_sidecar(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True), suffix=".part")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
