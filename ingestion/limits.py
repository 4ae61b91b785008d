"""Size limits on landing files (settings `limits:` in config/settings.yaml): a file over one is refused whole
with one line naming the limit, before it is parsed (so a 1 GB file of blank lines costs a scan, not a parse),
and a file whose rows break rules by the thousand is refused whole rather than filling every later release with
quarantine rows. The same checks run in `belonging validate` and in a refresh (ingestion/load.py).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingestion.files import open_no_follow
from ingestion.results import FileRefused, ReadResult

CHUNK = 1 << 24
BLANK = re.compile(rb"\n(?=\r?\n)")  # a line end followed by an empty line


def _refuse(name: str, what: str, setting: str, rule: str) -> FileRefused:
    return FileRefused(f"{name}: {what}, over the limit limits.{setting} (rule {rule}): refused whole before "
                       "reading; check the file, or raise the limit for this home in its settings.yaml", rule)


def check_file(path: Path | str, limits: dict | None) -> None:
    """Raise FileRefused when the file is over a size limit: bytes, rows (lines of a CSV, rows of a workbook
    sheet), blank lines, the longest field. `limits=None` checks nothing."""
    if not limits:
        return
    path = Path(path)
    name = path.name
    with open_no_follow(path) as fh:
        size = _size(fh)
        if size > limits["max_file_bytes"]:
            raise _refuse(name, f"{size:,} bytes", "max_file_bytes", "limit_file_bytes")
        head = fh.read(4)
        fh.seek(0)
        if head == b"PK\x03\x04" and zipfile.is_zipfile(fh):
            fh.seek(0)
            return _check_workbook(fh, name, limits)
        fh.seek(0)
        _check_text(fh, name, limits)


def _size(fh) -> int:
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    return size


def _field_re(n: int) -> re.Pattern:
    # a field (text between commas or line ends) of at least n characters, tried once from each field's start
    return re.compile(rb"(?<![^,\n\r])[^,\n\r]{%d}" % n)


def _check_text(fh, name: str, limits: dict) -> None:
    max_field = int(limits["max_field_chars"])
    field = _field_re(max_field + 1)
    lines = blank = 0
    tail = b""
    while block := fh.read(CHUNK):
        data = tail + block
        if (m := field.search(data)) is not None:
            line = lines + data.count(b"\n", len(tail), m.start()) + 1 if m.start() >= len(tail) else lines + 1
            raise _refuse(name, f"line {line} holds a field of more than {max_field:,} characters",
                          "max_field_chars", "limit_field_chars")
        lines += block.count(b"\n")
        blank += len(BLANK.findall(data)) - len(BLANK.findall(tail))
        # keep the last partial field, so a field split across two blocks is still seen whole
        cut = max(data.rfind(b","), data.rfind(b"\n"), data.rfind(b"\r"))
        tail = data[cut:] if cut >= 0 else data[-(max_field + 1):]
    if lines > limits["max_rows"]:
        raise _refuse(name, f"{lines:,} lines", "max_rows", "limit_rows")
    if blank > limits["max_quarantined_rows"]:
        raise _refuse(name, f"{blank:,} blank lines", "max_quarantined_rows", "limit_blank_lines")


ROW_TAG = re.compile(rb"<row\b")
TEXT_RE = lambda n: re.compile(rb">[^<]{%d}" % n)  # noqa: E731  a cell's text, from its tag's end


def _check_workbook(fh, name: str, limits: dict) -> None:
    try:
        z = zipfile.ZipFile(fh)
        infos = z.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError):
        return  # a damaged archive: the reader says so
    unpacked = sum(i.file_size for i in infos)
    if unpacked > limits["max_file_bytes"]:
        raise _refuse(name, f"{unpacked:,} bytes unpacked", "max_file_bytes", "limit_file_bytes")
    max_field = int(limits["max_field_chars"])
    text = TEXT_RE(max_field + 1)
    for info in infos:
        if not info.filename.endswith(".xml"):
            continue
        sheet = info.filename.startswith("xl/worksheets/")
        rows, tail = 0, b""
        try:
            with z.open(info) as member:  # streamed: a sheet of a million rows is never held whole
                while block := member.read(CHUNK):
                    data = tail + block
                    if sheet:
                        rows += len(ROW_TAG.findall(data)) - len(ROW_TAG.findall(tail))
                        if rows > limits["max_workbook_rows"]:
                            raise _refuse(name, f"more than {limits['max_workbook_rows']:,} rows in "
                                          f"{info.filename}", "max_workbook_rows", "limit_rows")
                    if text.search(data):
                        raise _refuse(name, f"a cell of more than {max_field:,} characters ({info.filename})",
                                      "max_field_chars", "limit_field_chars")
                    cut = data.rfind(b"<")
                    tail = data[cut:] if cut >= 0 else b""
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError):
            return  # a damaged archive: the reader says so


def check_result(result: ReadResult, limits: dict | None, name: str) -> None:
    """Raise FileRefused when more rows of a read file broke rules than `limits.max_quarantined_rows`: one line
    naming the rules, instead of thousands of quarantine rows in every later release."""
    if not limits or result.quarantine.height <= limits["max_quarantined_rows"]:
        return
    rules = result.quarantine.group_by("rule").len().sort(["len", "rule"], descending=[True, False])
    named = ", ".join(f"{rule} x{n:,}" for rule, n in rules.head(5).iter_rows())
    first = result.quarantine.row(0, named=True)
    raise FileRefused(
        f"{name}: {result.quarantine.height:,} rows broke rules ({named}; first: row {first['row_number']}, "
        f"{first['rule']}), over the limit limits.max_quarantined_rows (rule limit_quarantined_rows): refused "
        "whole rather than quarantined row by row", "limit_quarantined_rows")
