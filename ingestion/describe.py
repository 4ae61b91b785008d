"""What a file that no reader recognises looks like, and what was expected: one line, the same for
`belonging validate` and a refresh (whichever landing folder the file sits in).

A file is recognised by its content (ingestion/validate.py `detect_kind`); when none of the readers places it,
the reason names what the bytes are (empty, UTF-16, a workbook, a zip, a PDF), the delimiter when it is not a
comma, a known layout that lost something (a Qualtrics export without its header rows, a GIAS file without
URN), or the header it has.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from ingestion.files import open_no_follow

EXPECTED = ("expected an EES open-data CSV (time_period, time_identifier, geographic_level, ...), a GIAS "
            "establishments or links CSV (URN, ...) or a survey export (Qualtrics, SurveyMonkey, Microsoft Forms "
            ".xlsx, Google Forms, REDCap)")
DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "pipes (|)"}
HEAD_BYTES = 1 << 16
MAX_NAMED = 6


def binary_kind(raw: bytes) -> str:
    """What binary content is, from its first bytes."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 3 and raw[1:8:2] == b"\x00" * len(raw[1:8:2])):
        return "UTF-16 text (a NUL byte beside every character): save it as 'CSV UTF-8'"
    if raw.startswith(b"PK\x03\x04"):
        return workbook_kind(raw)
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel .xls (or other OLE) file: save it as CSV UTF-8 (or .xlsx for a Forms export)"
    if raw.startswith(b"%PDF"):
        return "a PDF document"
    if raw.startswith(b"\x1f\x8b"):
        return "a gzip archive: unpack it into landing/"
    return "binary content (NUL bytes)"


def workbook_kind(raw: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, EOFError, ValueError):
        return "a damaged zip (or .xlsx) archive: it cannot be opened; download it again"
    if "xl/workbook.xml" not in names:
        return f"a zip archive of {len(names)} file(s): unpack it into landing/"
    import fastexcel

    try:
        sheets = fastexcel.read_excel(raw).sheet_names
    except Exception as exc:  # calamine raises its own types for a damaged workbook
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        return f"a damaged .xlsx workbook ({first}): save or download it again"
    if len(sheets) != 1:
        return (f"an Excel workbook of {len(sheets)} sheets ({', '.join(sheets[:MAX_NAMED])}): a Microsoft Forms "
                "export has one sheet; keep only the responses sheet")
    return ("an Excel workbook whose first row is not a Microsoft Forms header (ID, Start time, Completion time, "
            "Email, ...): DfE and GIAS files are read as CSV")


def looks_like(path: Path | str) -> str:
    """One phrase saying what the file looks like (never raises for a readable file)."""
    with open_no_follow(path) as fh:
        raw = fh.read(HEAD_BYTES)
        if raw.startswith(b"PK\x03\x04"):
            raw += fh.read()  # a workbook is read whole (its size is bounded by the limits, checked first)
    if not raw:
        return "an empty file (0 bytes)"
    if b"\x00" in raw[:4096] or raw.startswith(b"PK\x03\x04"):
        return binary_kind(raw)
    text = raw.decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return f"no header: only blank lines ({text.count(chr(10))} line ends)"
    header = lines[0]
    if "," not in header:
        for delimiter, named in DELIMITERS.items():
            if delimiter in header:
                return (f"a table separated by {named}, not commas (header {_fields(header, delimiter)}): "
                        "save it as comma-separated CSV")
    fields = [f.strip().lstrip("\ufeff") for f in next(csv.reader([header]), [])]
    if (placed := _placed_elsewhere(Path(path))) is not None:
        return placed
    lower = {f.lower() for f in fields}
    if {"startdate", "enddate", "responseid"} <= lower:
        return ("a Qualtrics export without its header rows (the question-text row and the ImportId row after "
                "the column names): export it again with all three header rows")
    if "establishmentname" in lower and "urn" not in lower:
        return "a GIAS establishments file without its URN column"
    if len(lines) == 1:
        return f"a header with no data rows ({_fields(header, ',')})"
    return f"a CSV with header {_fields(header, ',')}"


def _placed_elsewhere(path: Path) -> str | None:
    """A file another family's reader recognises (a GIAS file dropped into landing/dfe/, ...)."""
    from ingestion import ees, gias, surveys

    if kind := gias.sniff(path):
        return f"a GIAS {kind} file, which belongs in landing/gias/"
    if ees.sniff(path):
        return "an EES open-data CSV, which belongs in landing/dfe/"
    if tool := surveys.detect_tool(path):
        return f"a {tool} survey export, which belongs in landing/surveys/"
    return None


def unrecognised(path: Path | str) -> str:
    """The one-line reason for a file no reader recognises: what it looks like, and what was expected."""
    path = Path(path)
    return f"{path.name}: not recognised: {looks_like(path)}; {EXPECTED}"


def _fields(header: str, delimiter: str) -> str:
    fields = [f.strip().lstrip("\ufeff") for f in next(csv.reader([header], delimiter=delimiter), [])]
    more = f", ... ({len(fields)} columns)" if len(fields) > MAX_NAMED else ""
    return "'" + ", ".join(f[:40] for f in fields[:MAX_NAMED]) + more + "'"
