"""Survey export layouts, recognised from their headers, parsed to one tool-neutral shape.

Each tool writes its header differently (see docs in /spec/sources.md section 3):
- qualtrics: 3 header rows (export tags, question text, `{"ImportId": ...}` JSON)
- qualtrics_legacy: 2 header rows (`V1..V10` + tags, then `ResponseID, ResponseSet, ...` + text), trailing comma
- surveymonkey: 2 header rows (question text once over its columns, then `Response` / option / statement)
- msforms: .xlsx, one header row (`ID, Start time, Completion time, Email, Name, ...`)
- googleforms: one header row (`Timestamp`, optional `Email address`, question text)
- redcap: one header row of variable names (`record_id`, ..., `<instrument>_timestamp`, `<instrument>_complete`)

The parsed `Export` keeps every column (so the reader can report what it drops) but says which are
system columns (response id, date, status) and which are personal data by their name.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ingestion.files import open_no_follow, read_text
from ingestion.results import UnknownFormat
from ingestion.surveys.instruments import normalise

TOOLS = ("qualtrics", "qualtrics_legacy", "surveymonkey", "msforms", "googleforms", "redcap")


@dataclass
class Column:
    index: int
    name: str  # the header as the tool names the column (export tag, variable name, or question text)
    texts: tuple[str, ...] = ()  # question text forms to match an item by text
    ids: tuple[str, ...] = ()  # per-tool column ids to match an item by id
    role: str | None = None  # response_id | date | status | finished | personal | meta | None (a question)
    free_text: bool = False

    @property
    def label(self) -> str:
        text = self.texts[0] if self.texts else ""
        return f"{self.name} ({text})" if text and normalise(text) != normalise(self.name) else self.name


@dataclass
class Export:
    tool: str
    path: Path
    encoding: str
    header_rows: int
    columns: list[Column]
    rows: list[list[object]]  # data rows, one cell per column (None when empty)
    notes: dict = field(default_factory=dict)

    def column(self, role: str) -> list[Column]:
        return [c for c in self.columns if c.role == role]


# Column names that are personal data in any tool (normalised name, regex search)
PERSONAL_PATTERNS = (
    r"e-?mail",
    r"ip ?address",
    r"latitude",
    r"longitude",
    r"location ?accuracy",
    r"recipient",
    r"^(first|last|full|middle|sur)? ?name$",
    r"(first|last|sur|full|given|family) ?name",
    r"custom ?data",
    r"redcap_survey_identifier",
    r"survey identifier",
    r"phone",
    r"post ?code",
    r"date of birth|^dob$",
    r"^externalreference$|^externaldatareference$|external data reference",
)


def is_personal(name: str) -> bool:
    n = normalise(name)
    return any(re.search(p, n) for p in PERSONAL_PATTERNS)


def _roles(columns: list[Column], table: dict[str, str]) -> None:
    for c in columns:
        n = normalise(c.name)
        if n in table:
            c.role = table[n]
        elif is_personal(c.name):
            c.role = "personal"


# ---------------------------------------------------------------------------------------------- reading


def _is_xlsx(path: Path) -> bool:
    try:
        with open_no_follow(path) as fh:
            return fh.read(4) == b"PK\x03\x04" and zipfile.is_zipfile(fh)
    except OSError:
        return False


def _csv_rows(path: Path) -> tuple[list[list[str]], str]:
    decoded = read_text(path)
    rows = list(csv.reader(io.StringIO(decoded.text)))
    return rows, decoded.encoding


def _xlsx_rows(path: Path) -> list[list[object]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(open_no_follow(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise UnknownFormat(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    while rows and all(v is None or str(v).strip() == "" for v in rows[-1]):
        rows.pop()
    return rows


def _head(path: Path, n: int = 3) -> list[list[str]]:
    if _is_xlsx(path):
        return [[("" if v is None else str(v)) for v in r] for r in _xlsx_rows(path)[:n]]
    try:
        rows, _ = _csv_rows(path)
    except Exception:
        return []
    return rows[:n]


def _norm_row(row: list[str]) -> list[str]:
    return [normalise(c) for c in row]


def detect_tool(path: Path | str) -> str | None:
    """The survey tool that wrote this export, from its header rows alone; None if not a known export."""
    path = Path(path)
    xlsx = _is_xlsx(path)
    head = _head(path)
    if not head:
        return None
    h1 = _norm_row(head[0])
    if xlsx:
        if h1[:3] == ["id", "start time", "completion time"] and "email" in h1[:6]:
            return "msforms"
        return None
    h2 = _norm_row(head[1]) if len(head) > 1 else []
    qualtrics_tags = {"startdate", "enddate", "status", "responseid"} <= set(h1)
    if qualtrics_tags and len(head) > 2 and any(c.strip().startswith('{"ImportId"') for c in head[2]):
        return "qualtrics"
    if h1[:2] == ["v1", "v2"] and {"responseid", "responseset", "status"} <= set(h2):
        return "qualtrics_legacy"
    if h1[:2] == ["respondent id", "collector id"]:
        return "surveymonkey"
    if h1 and h1[0] == "timestamp":
        return "googleforms"
    if (
        h1
        and h1[0] == "record_id"
        and (
            "redcap_survey_identifier" in h1
            or "redcap_event_name" in h1
            or any(c.endswith("_timestamp") or c.endswith("_complete") for c in h1)
        )
    ):
        return "redcap"
    return None


def sniff(path: Path | str) -> bool:
    """Whether the file is a survey export of a known tool."""
    try:
        return detect_tool(path) is not None
    except Exception:
        return False


# --------------------------------------------------------------------------------------------- parsing


def _pad(rows: list[list], width: int) -> list[list[object]]:
    out = []
    for r in rows:
        r = list(r[:width]) + [None] * (width - len(r))
        out.append([None if (v is None or (isinstance(v, str) and v.strip() == "")) else v for v in r])
    return out


def _drop_blank(rows: list[list[object]]) -> list[list[object]]:
    return [r for r in rows if any(v is not None for v in r)]


def _qualtrics(path: Path) -> Export:
    rows, enc = _csv_rows(path)
    tags, texts, imports = rows[0], rows[1], rows[2]
    width = len(tags)
    cols = []
    for i, tag in enumerate(tags):
        text = texts[i] if i < len(texts) else ""
        import_id = ""
        if i < len(imports):
            try:
                import_id = str(json.loads(imports[i]).get("ImportId", ""))
            except (ValueError, AttributeError):
                import_id = ""
        free = bool(re.search(r"_TEXT($|_)", import_id)) or bool(re.search(r"_TEXT$", tag))
        cols.append(Column(i, tag, texts=(text,), ids=(tag, import_id), free_text=free))
    _roles(
        cols,
        {
            "responseid": "response_id",
            "recordeddate": "date",
            "enddate": "date",
            "startdate": "date",
            "status": "status",
            "finished": "finished",
            "progress": "meta",
            "duration (in seconds)": "meta",
            "distributionchannel": "meta",
            "userlanguage": "meta",
        },
    )
    return Export("qualtrics", path, enc, 3, cols, _drop_blank(_pad(rows[3:], width)))


def _qualtrics_legacy(path: Path) -> Export:
    rows, enc = _csv_rows(path)
    tags, texts = rows[0], rows[1]
    # the trailing comma on every line adds an empty last column
    width = len(tags)
    while width and not (tags[width - 1].strip() or (width - 1 < len(texts) and texts[width - 1].strip())):
        width -= 1
    cols = []
    for i in range(width):
        tag = tags[i]
        text = texts[i] if i < len(texts) else ""
        system = re.fullmatch(r"V\d+", tag.strip()) is not None
        name = text if system else tag
        free = bool(re.search(r"_TEXT$", tag))
        cols.append(Column(i, name, texts=(text,), ids=(tag,), free_text=free))
    _roles(
        cols,
        {
            "responseid": "response_id",
            "enddate": "date",
            "startdate": "date",
            "status": "status",
            "finished": "finished",
            "responseset": "meta",
        },
    )
    return Export("qualtrics_legacy", path, enc, 2, cols, _drop_blank(_pad(rows[2:], width)))


def _surveymonkey(path: Path) -> Export:
    rows, enc = _csv_rows(path)
    top, sub = rows[0], rows[1] if len(rows) > 1 else []
    width = len(top)
    cols = []
    stem = ""
    system = {
        "respondent id": "response_id",
        "collector id": "meta",
        "start date": "date",
        "end date": "date",
        "ip address": "personal",
        "email address": "personal",
        "first name": "personal",
        "last name": "personal",
    }
    for i, head in enumerate(top):
        below = sub[i].strip() if i < len(sub) else ""
        if head.strip():
            stem = head.strip()
        if normalise(head) in system or normalise(head).startswith("custom data"):
            cols.append(Column(i, head, texts=(head,)))
            continue
        if normalise(below) in ("response", ""):
            texts: tuple[str, ...] = (stem,)
        else:
            texts = (f"{stem} - {below}", below)
        free = normalise(below) == "open-ended response" or "please specify" in normalise(below)
        name = stem if normalise(below) in ("response", "") else f"{stem} [{below}]"
        cols.append(Column(i, name, texts=texts, ids=(head, below), free_text=free))
    _roles(cols, {**system, "end date": "date", "start date": "date"})
    return Export("surveymonkey", path, enc, 2, cols, _drop_blank(_pad(rows[2:], width)))


def _msforms(path: Path) -> Export:
    rows = _xlsx_rows(path)
    header = ["" if v is None else str(v) for v in rows[0]]
    cols = [Column(i, h, texts=(h,), ids=(h,)) for i, h in enumerate(header)]
    _roles(
        cols,
        {
            "id": "response_id",
            "completion time": "date",
            "start time": "date",
            "last modified time": "meta",
            "email": "personal",
            "name": "personal",
            "total points": "meta",
            "quiz feedback": "meta",
        },
    )
    return Export("msforms", path, "xlsx", 1, cols, _drop_blank(_pad(rows[1:], len(header))))


def _googleforms(path: Path) -> Export:
    rows, enc = _csv_rows(path)
    header = rows[0]
    cols = [Column(i, h, texts=(h,), ids=(h,)) for i, h in enumerate(header)]
    _roles(cols, {"timestamp": "date", "email address": "personal", "score": "meta"})
    return Export("googleforms", path, enc, 1, cols, _drop_blank(_pad(rows[1:], len(header))))


def _redcap(path: Path) -> Export:
    rows, enc = _csv_rows(path)
    header = rows[0]
    cols = [Column(i, h, texts=(h,), ids=(h,)) for i, h in enumerate(header)]
    table = {
        "record_id": "response_id",
        "redcap_event_name": "meta",
        "redcap_repeat_instrument": "meta",
        "redcap_repeat_instance": "meta",
        "redcap_data_access_group": "meta",
        "redcap_survey_identifier": "personal",
    }
    _roles(cols, table)
    for c in cols:
        n = normalise(c.name)
        if c.role is None and n.endswith("_timestamp"):
            c.role = "date"
        elif c.role is None and n.endswith("_complete"):
            c.role = "finished"
        elif c.role is None and re.search(r"___\d+$", n):
            c.role = "meta"  # a checkbox option: never an item
    return Export("redcap", path, enc, 1, cols, _drop_blank(_pad(rows[1:], len(header))))


PARSERS = {
    "qualtrics": _qualtrics,
    "qualtrics_legacy": _qualtrics_legacy,
    "surveymonkey": _surveymonkey,
    "msforms": _msforms,
    "googleforms": _googleforms,
    "redcap": _redcap,
}


def parse_export(path: Path | str) -> Export:
    """Parse a survey export of any known tool. Raises UnknownFormat for anything else."""
    path = Path(path)
    tool = detect_tool(path)
    if tool is None:
        raise UnknownFormat(
            f"{path.name}: not a survey export of a known tool ({', '.join(TOOLS)}): header not recognised"
        )
    return PARSERS[tool](path)


# ------------------------------------------------------------------------------------------------ dates


def _slash_parts(s: str) -> tuple[int, int, int] | None:
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{2,4})\b", s)
    if not m:
        return None
    a, b, y = (int(x) for x in m.groups())
    if y < 100:
        y += 2000
    return a, b, y


def slash_date(value: object) -> bool:
    return isinstance(value, str) and _slash_parts(value.strip()) is not None


def date_order(values: list[object]) -> str:
    """`dmy` or `mdy` for a file's locale-formatted `a/b/yyyy` dates: decided by any part above 12;
    month first (the tools' en-US default) when every date is ambiguous."""
    for v in values:
        if isinstance(v, str):
            p = _slash_parts(v.strip())
            if p and p[0] > 12:
                return "dmy"
            if p and p[1] > 12:
                return "mdy"
    return "mdy"


def parse_date(value: object, order: str = "mdy") -> date | None:
    """The date of a timestamp cell as a tool writes it (time and time zone dropped)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip()
    # Google Forms: "2026/04/15 10:23:45 AM GMT+1"; ISO forms from Qualtrics and REDCap
    m = re.match(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    p = _slash_parts(s)
    if p:
        a, b, y = p
        month, day = (a, b) if order == "mdy" else (b, a)
        try:
            return date(y, month, day)
        except ValueError:
            return None
    m = re.match(r"^(\d{1,2})-(\d{1,2})-(\d{4})", s)  # dd-mm-yyyy
    if m:
        try:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            return None
    return None
