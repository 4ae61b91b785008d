"""landing/ is read, never followed out of.

Data suppliers (and `download`) drop files into `landing/<family>/...`. The pipeline opens and moves only
**regular files that really sit under landing/**:

- a symbolic link (to a file or a folder), or anything that is not a regular file (a FIFO, a socket, a
  device), is *refused*: one line names it, and it is never opened, moved or deleted;
- files are opened with `O_NOFOLLOW` (`files.open_no_follow`), so a link swapped in after the scan is not
  followed either;
- quarantine moves a file by renaming the directory entry itself, through folder handles opened with
  `O_NOFOLLOW` one component at a time from landing/: a link anywhere on either path (`landing/surveys`,
  `landing/quarantine`, a sub-folder) stops the move, so nothing outside landing/ (a published release,
  a system file) can be moved, overwritten or created through landing/.

`landing/` itself is the home's own folder: the owner of the home may make it a link (a mounted share).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

QUARANTINE = "quarantine"
META = ".meta.csv"  # an EES file's metadata: read with the data file of the same name beside it
SIDECAR = ".http.json"  # `.<name>.http.json`: a download's record of the server's ETag, beside <name>
# notes, never data: listed as ignored with this reason (a data file saved as .txt is read by its content)
NOT_DATA_SUFFIXES = (".md", ".json", ".reason.txt")
LINK = "a symbolic link, not followed: landing/ reads only regular files that sit under it"
NOT_REGULAR = "not a regular file (a FIFO, socket or device): only regular files are read"


class LandingRefused(Exception):
    """A landing path that is not a regular file under landing/ (the message is one line naming it)."""


@dataclass(frozen=True)
class Refused:
    """A landing entry that was refused, never opened, moved or deleted."""

    relative: str  # relative to landing/
    reason: str

    def line(self) -> str:
        return f"refused landing/{self.relative}: {self.reason}"


@dataclass(frozen=True)
class Ignored:
    """A regular file in landing/ that is not read on its own, and why: reported, never passed over silently."""

    relative: str
    reason: str
    companion: bool = False  # read with a data file beside it (an EES .meta.csv, a download's sidecar)

    def line(self) -> str:
        return f"ignored landing/{self.relative}: {self.reason}"


@dataclass
class Scan:
    files: list[Path]  # regular files under landing/<family>, in path order: read by their content
    refused: list[Refused]
    ignored: list[Ignored] = field(default_factory=list)  # companions included (`companion`)

    @property
    def reported(self) -> list[Ignored]:
        """The ignored entries a person is told about (companions read with their data file are not news)."""
        return [i for i in self.ignored if not i.companion]


def classify(name: str, siblings: set[str] | frozenset[str] = frozenset()) -> Ignored | None:
    """Why a regular file named `name` is not read on its own (an Ignored with its reason), or None: a data
    file, recognised by its content whatever its name. `siblings` are the names in its folder. The one rule
    shared by the loader (`scan`) and `belonging validate`."""
    lower = name.lower()
    if name.startswith("."):
        if lower.endswith(SIDECAR) and name[1:-len(SIDECAR)] in siblings:
            return Ignored(name, f"the download record of {name[1:-len(SIDECAR)]}: not data", companion=True)
        return Ignored(name, "a hidden file (a download in progress, an editor's backup): not read")
    if lower.endswith(META):
        data = name[:-len(META)] + ".csv"
        if data in siblings:
            return Ignored(name, f"the metadata of {data}: read with it (validate {data})", companion=True)
        return Ignored(name, f"EES metadata with no {data} beside it: read only with its data file")
    for suffix in NOT_DATA_SUFFIXES:
        if lower.endswith(suffix):
            return Ignored(name, f"a {suffix} file (notes, a record): not data; if it holds data, name it .csv")
    return None


def scan(landing: Path, family: str) -> Scan:
    """The data files of one landing family, the entries refused (links, non-regular files) and those ignored
    (`classify`: hidden files and folders, companions, notes), each with its reason. Folders that are links
    are refused, not descended into."""
    return walk(Path(landing) / family, Path(landing))


def walk(top: Path, base: Path) -> Scan:
    """`scan` of any folder: what is under `top`, named relative to `base`."""
    out = Scan([], [])
    if top.is_symlink():
        out.refused.append(Refused(_relative(base, top), LINK))
        return out
    if not top.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                out.refused.append(Refused(_relative(base, here / name), LINK))
                dirnames.remove(name)
            elif name.startswith("."):
                out.ignored.append(Ignored(_relative(base, here / name), "a hidden folder: not read"))
                dirnames.remove(name)
        siblings = set(filenames)
        for name in filenames:
            path = here / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                out.refused.append(Refused(_relative(base, path), LINK))
            elif not stat.S_ISREG(mode):
                out.refused.append(Refused(_relative(base, path), NOT_REGULAR))
            elif (ignored := classify(name, siblings)) is not None:
                out.ignored.append(Ignored(_relative(base, path), ignored.reason, ignored.companion))
            else:
                out.files.append(path)
    out.files.sort()
    out.refused.sort(key=lambda r: r.relative)
    out.ignored.sort(key=lambda r: r.relative)
    return out


def _relative(landing: Path, path: Path) -> str:
    return path.relative_to(landing).as_posix()


def check_inside(landing: Path, path: Path) -> None:
    """Raise LandingRefused unless every component of `path` below `landing` is a real (non-link) entry.

    For a path that is about to be written (a download's destination), components that do not exist yet
    are fine: they will be created as real folders.
    """
    landing = Path(landing)
    try:
        parts = Path(path).relative_to(landing).parts
    except ValueError:
        raise LandingRefused(f"{path}: not under {landing}") from None
    if not parts or ".." in parts:
        raise LandingRefused(f"{path}: not a path under landing/")
    current = landing
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise LandingRefused(f"refused landing/{_relative(landing, current)}: {LINK}")


def _open_dir(root_fd: int, parts: tuple[str, ...], create: bool) -> int:
    """A handle on folder `parts` below `root_fd`, each component opened with O_NOFOLLOW (a link fails)."""
    fd = os.dup(root_fd)
    for part in parts:
        if part in ("", ".", ".."):
            os.close(fd)
            raise LandingRefused(f"{'/'.join(parts)}: not a path under landing/")
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise LandingRefused(f"refused landing/{'/'.join(parts)}: {part} is {LINK}") from None
            raise
        os.close(fd)
        fd = child
    return fd


def _free_name(dir_fd: int, name: str, tag: str) -> str:
    """`name`, or `<stem>.<tag>[.<n>]<suffix>` when an entry of that name already exists in the folder."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidates = [name, f"{stem}.{tag}{suffix}", *(f"{stem}.{tag}.{n}{suffix}" for n in range(2, 1000))]
    for candidate in candidates:
        try:
            os.stat(candidate, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return candidate
    raise LandingRefused(f"quarantine/{name}: no free name left")  # pragma: no cover


def move_to_quarantine(landing: Path, relative: str, sha256: str, reason: str) -> Path:
    """Move regular file `landing/<relative>` to `landing/quarantine/<relative>` with a `.reason.txt`.

    Only the directory entry is renamed, through folder handles that refuse links, so the move can only
    ever take a regular file that sits under landing/ into landing/quarantine/. Returns the new path.
    """
    landing = Path(landing)
    parts = PurePosixPath(relative).parts
    if not parts or parts[0] == QUARANTINE:
        raise LandingRefused(f"landing/{relative}: not a landing data file")
    root = os.open(landing, os.O_RDONLY | os.O_DIRECTORY)
    src = dst = -1
    try:
        src = _open_dir(root, parts[:-1], create=False)
        st = os.stat(parts[-1], dir_fd=src, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise LandingRefused(f"refused landing/{relative}: {LINK}")
        if not stat.S_ISREG(st.st_mode):
            raise LandingRefused(f"refused landing/{relative}: {NOT_REGULAR}")
        dst = _open_dir(root, (QUARANTINE, *parts[:-1]), create=True)
        target = _free_name(dst, parts[-1], sha256[:8])
        try:
            os.rename(parts[-1], target, src_dir_fd=src, dst_dir_fd=dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _copy_then_unlink(src, parts[-1], dst, target)
        _write_new(dst, target + ".reason.txt", f"file: {relative}\nsha256: {sha256}\nreason: {reason}\n")
        return landing / QUARANTINE / Path(*parts[:-1]) / target
    finally:
        for fd in (root, src, dst):
            if fd >= 0:
                os.close(fd)


def _write_new(dir_fd: int, name: str, text: str) -> None:
    """Create `name` afresh in the folder (an entry of that name, a planted link included, is replaced)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)  # removes a link itself, never its target
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _copy_then_unlink(src_fd: int, name: str, dst_fd: int, target: str) -> None:
    """A move across file systems (landing/<family> on another mount): copy through handles, then unlink."""
    fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd)
    fout = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dst_fd)
    with os.fdopen(fin, "rb") as r, os.fdopen(fout, "wb") as w:
        while block := r.read(1 << 20):
            w.write(block)
    os.unlink(name, dir_fd=src_fd)


class KnownDigests:
    """The sha256 of landing files read before, by their `lstat` (size, modification and change times, inode,
    device), kept between refreshes in one JSON file (`<home>/cache/landing-sha256.json`, safe to delete): a
    file whose stat is unchanged is not read again to find that it is unchanged (a national landing is ~500 MB).
    As git's index does, an entry is trusted only when the file's last change came at least `RACY_NS` before the
    entry was written: a change within the same tick of a coarse clock can leave size and times as they were.
    The change time moves with any write and cannot be set back by a user. A link swapped in has another stat,
    so its digest is computed, which opens it without following it (refused)."""

    RACY_NS = 2_000_000_000

    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, list] = {}
        self.seen: dict[str, list] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.known = dict(json.loads(path.read_text(encoding="utf-8")))

    def sha256(self, path: Path) -> str:
        from ingestion.files import sha256_file

        st = os.lstat(path)
        key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        entry = self.known.get(str(path))
        if (isinstance(entry, list) and len(entry) == 7 and entry[:5] == key
                and st.st_ctime_ns + self.RACY_NS <= entry[6] and stat.S_ISREG(st.st_mode)):
            self.seen[str(path)] = entry
            return entry[5]
        digest = sha256_file(path)
        self.seen[str(path)] = [*key, digest, time.time_ns()]
        return digest

    def save(self) -> None:
        """Keep the files seen this time (written whole, then renamed)."""
        if self.path is None:
            return
        from ingestion.files import write_text_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(self.seen, sort_keys=True))
