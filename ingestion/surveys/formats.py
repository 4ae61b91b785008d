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
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path

import polars as pl

from ingestion.files import open_no_follow, read_text
from ingestion.results import UnknownFormat
from ingestion.surveys.instruments import normalise

TOOLS = ("qualtrics", "qualtrics_legacy", "surveymonkey", "msforms", "googleforms", "redcap")
HEADER_ROWS = {"qualtrics": 3, "qualtrics_legacy": 2, "surveymonkey": 2, "msforms": 1, "googleforms": 1, "redcap": 1}


@dataclass
class Column:
    index: int
    name: str  # the header as the tool names the column (export tag, variable name, or question text)
    texts: tuple[str, ...] = ()  # question text forms to match an item by text
    ids: tuple[str, ...] = ()  # per-tool column ids to match an item by id
    role: str | None = None  # response_id | date | status | finished | personal | meta | None (a question)
    free_text: bool = False

    @property
    def key(self) -> str:
        """The column of `Export.rows` holding this column's cells."""
        return f"c{self.index}"

    @property
    def label(self) -> str:
        text = self.texts[0] if self.texts else ""
        return f"{self.name} ({text})" if text and normalise(text) != normalise(self.name) else self.name


@dataclass(frozen=True)
class Table:
    """Every row of an export, header rows included: columns c0 .. cN (text; None when empty)."""

    frame: pl.DataFrame
    encoding: str

    def head(self, n: int = 3) -> list[list[str]]:
        return [["" if v is None else v for v in row] for row in self.frame.head(n).iter_rows()]


@dataclass
class Export:
    tool: str
    path: Path
    encoding: str
    header_rows: int
    columns: list[Column]
    table: Table  # every row of the file as read, header rows included
    width: int  # the columns of the layout (c0 .. c<width-1>)
    layout: tuple = ()  # the tool and header rows: exports with the same layout have the same columns

    def column(self, role: str) -> list[Column]:
        return [c for c in self.columns if c.role == role]

    def data(self) -> pl.LazyFrame:
        """The data rows below the header as read (c0 .. c<width-1>), blank rows dropped, and `row_number`:
        1-based among the rows kept."""
        cols = [pl.col(f"c{i}") for i in range(self.width)]
        frame = self.table.frame.lazy().slice(self.header_rows).select(cols)
        if cols:
            frame = frame.filter(pl.any_horizontal([c.str.strip_chars() != "" for c in cols]))
        return frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))

    @cached_property
    def rows(self) -> pl.DataFrame:
        """The data rows, a cell of whitespace only empty (None)."""
        return self.data().with_columns(cell(f"c{i}") for i in range(self.width)).collect()


def cell(key: str) -> pl.Expr:
    """A cell as written, None when empty or whitespace only."""
    return pl.when(pl.col(key).str.strip_chars() != "").then(pl.col(key)).alias(key)


def cell_text(key: str) -> pl.Expr:
    """A cell's text, stripped; None when empty or whitespace only."""
    text = pl.col(key).str.strip_chars()
    return pl.when(text != "").then(text).alias(key)


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
#
# An export is read once, into a frame of text cells (None when empty): polars' CSV reader (Python's csv module
# only for a file polars refuses, e.g. a stray quote) or fastexcel (calamine) for a Forms workbook. The tool is
# recognised from its first rows; the data rows stay a frame, one column `c<index>` per export column.


def _is_xlsx(path: Path) -> bool:
    try:
        with open_no_follow(path) as fh:
            return fh.read(4) == b"PK\x03\x04" and zipfile.is_zipfile(fh)
    except OSError:
        return False


def _named(frame: pl.DataFrame) -> pl.DataFrame:
    frame.columns = [f"c{i}" for i in range(frame.width)]  # in place: no copy, no query
    return frame


def _csv_table(path: Path) -> Table:
    decoded = read_text(path)
    try:
        frame = pl.read_csv(decoded.text.encode("utf-8"), has_header=False, infer_schema=False,
                            truncate_ragged_lines=True, raise_if_empty=False)
    except pl.exceptions.PolarsError:
        # polars refuses what Python's csv module reads leniently (a quote inside an unquoted field): the
        # first row sets the width, as polars does
        rows = list(csv.reader(io.StringIO(decoded.text)))
        width = len(rows[0]) if rows else 0
        cells = [[(r[i] if i < len(r) and r[i] != "" else None) for i in range(width)] for r in rows]
        frame = pl.DataFrame(cells, schema=[f"c{i}" for i in range(width)], orient="row")
    return Table(_named(frame), decoded.encoding)


def _xlsx_table(path: Path) -> Table:
    import fastexcel

    with open_no_follow(path) as fh:
        raw = fh.read()
    try:
        # the first sheet from its first row (skip_rows=0 keeps leading blank rows, as the sheet has them),
        # every cell as text: numbers as written without a trailing .0, date cells as ISO timestamps
        reader = fastexcel.read_excel(raw)
        if len(reader.sheet_names) != 1:  # which sheet holds the responses is not guessed
            raise UnknownFormat(f"{path.name}: a workbook of {len(reader.sheet_names)} sheets")
        sheet = reader.load_sheet(0, header_row=None, skip_rows=0, dtypes="string")
        frame = sheet.to_polars()
    except Exception as exc:  # calamine raises its own types for a damaged workbook
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnknownFormat(f"{path.name}: not a readable .xlsx workbook ({first})") from exc
    return Table(_named(frame), "xlsx")


FORMULA_CELL = re.compile(rb'<c\b[^>]*\br="([A-Z]+[0-9]+)"[^>]*>(?:(?!</c>).)*?<f\b', re.S)
MAX_CELLS_NAMED = 10


def refuse_formulas(path: Path) -> None:
    """Raise FileRefused (rule `xlsx_formula`) naming the cells of a workbook that hold formulas: a formula's
    value is whatever the last program to save it computed (openpyxl and scripts save none, and calamine then
    reads a blank), so an export holding formulas was edited by hand and is not read as data."""
    from ingestion.results import FileRefused

    with open_no_follow(path) as fh, zipfile.ZipFile(fh) as z:
        cells = []
        for name in sorted(n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")):
            cells += [m.decode() for m in FORMULA_CELL.findall(z.read(name))]
    if cells:
        more = f" and {len(cells) - MAX_CELLS_NAMED} more" if len(cells) > MAX_CELLS_NAMED else ""
        raise FileRefused(
            f"{path.name}: cells {', '.join(cells[:MAX_CELLS_NAMED])}{more} hold spreadsheet formulas, not "
            "values (rule xlsx_formula): a formula may read as blank; paste them as values and drop the file in "
            "again", "xlsx_formula")


def read_table(path: Path | str) -> tuple[Table, bool]:
    """The export's cells and whether it is a workbook. Raises UnknownFormat for a damaged workbook and
    UnreadableFile for a text file that cannot be read."""
    path = Path(path)
    xlsx = _is_xlsx(path)
    return (_xlsx_table(path) if xlsx else _csv_table(path)), xlsx


def _norm_row(row: list[str]) -> list[str]:
    return [normalise(c) for c in row]


def _tool_of(head: list[list[str]], xlsx: bool) -> str | None:
    """The survey tool that wrote an export, from its first rows alone; None if not a known export."""
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


def _table_or_none(path: Path) -> tuple[Table | None, bool]:
    """read_table, with a text file that cannot be read as no table (it is then no known export); a damaged
    workbook still raises UnknownFormat."""
    try:
        return read_table(path)
    except UnknownFormat:
        raise
    except Exception:
        return None, False


def detect_tool(path: Path | str) -> str | None:
    """The survey tool that wrote this export, from its header rows alone; None if not a known export."""
    table, xlsx = _table_or_none(Path(path))
    return None if table is None else _tool_of(table.head(), xlsx)


def sniff(path: Path | str) -> bool:
    """Whether the file is a survey export of a known tool."""
    try:
        return detect_tool(path) is not None
    except Exception:
        return False


# --------------------------------------------------------------------------------------------- parsing


def _qualtrics(path: Path, table: Table) -> Export:
    tags, texts, imports = table.head(3)
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
    return Export("qualtrics", path, table.encoding, 3, cols, table, width)


def _qualtrics_legacy(path: Path, table: Table) -> Export:
    tags, texts = table.head(2)
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
    return Export("qualtrics_legacy", path, table.encoding, 2, cols, table, width)


def _surveymonkey(path: Path, table: Table) -> Export:
    head = table.head(2)
    top, sub = head[0], head[1] if len(head) > 1 else []
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
    for i, head_text in enumerate(top):
        below = sub[i].strip() if i < len(sub) else ""
        if head_text.strip():
            stem = head_text.strip()
        if normalise(head_text) in system or normalise(head_text).startswith("custom data"):
            cols.append(Column(i, head_text, texts=(head_text,)))
            continue
        if normalise(below) in ("response", ""):
            texts: tuple[str, ...] = (stem,)
        else:
            texts = (f"{stem} - {below}", below)
        free = normalise(below) == "open-ended response" or "please specify" in normalise(below)
        name = stem if normalise(below) in ("response", "") else f"{stem} [{below}]"
        cols.append(Column(i, name, texts=texts, ids=(head_text, below), free_text=free))
    _roles(cols, {**system, "end date": "date", "start date": "date"})
    return Export("surveymonkey", path, table.encoding, 2, cols, table, width)


def _one_header_row(tool: str, path: Path, table: Table, roles: dict[str, str]) -> Export:
    header = table.head(1)[0]
    cols = [Column(i, h, texts=(h,), ids=(h,)) for i, h in enumerate(header)]
    _roles(cols, roles)
    return Export(tool, path, table.encoding, 1, cols, table, len(header))


def _msforms(path: Path, table: Table) -> Export:
    roles = {
        "id": "response_id",
        "completion time": "date",
        "start time": "date",
        "last modified time": "meta",
        "email": "personal",
        "name": "personal",
        "total points": "meta",
        "quiz feedback": "meta",
    }
    return _one_header_row("msforms", path, table, roles)


def _googleforms(path: Path, table: Table) -> Export:
    return _one_header_row("googleforms", path, table, {"timestamp": "date", "email address": "personal",
                                                         "score": "meta"})


def _redcap(path: Path, table: Table) -> Export:
    table_roles = {
        "record_id": "response_id",
        "redcap_event_name": "meta",
        "redcap_repeat_instrument": "meta",
        "redcap_repeat_instance": "meta",
        "redcap_data_access_group": "meta",
        "redcap_survey_identifier": "personal",
    }
    export = _one_header_row("redcap", path, table, table_roles)
    for c in export.columns:
        n = normalise(c.name)
        if c.role is None and n.endswith("_timestamp"):
            c.role = "date"
        elif c.role is None and n.endswith("_complete"):
            c.role = "finished"
        elif c.role is None and re.search(r"___\d+$", n):
            c.role = "meta"  # a checkbox option: never an item
    return export


PARSERS = {
    "qualtrics": _qualtrics,
    "qualtrics_legacy": _qualtrics_legacy,
    "surveymonkey": _surveymonkey,
    "msforms": _msforms,
    "googleforms": _googleforms,
    "redcap": _redcap,
}


def parse_export(path: Path | str) -> Export:
    """Parse a survey export of any known tool, reading the file once. Raises UnknownFormat for anything
    else."""
    path = Path(path)
    try:
        table, xlsx = _table_or_none(path)
    except UnknownFormat:  # a damaged or multi-sheet workbook: said by `describe`, as validate says it
        table, xlsx = None, True
    tool = None if table is None else _tool_of(table.head(), xlsx)
    if tool is None:
        from ingestion.describe import unrecognised

        raise UnknownFormat(unrecognised(path))
    if xlsx:
        refuse_formulas(path)
    head = table.head(HEADER_ROWS[tool])
    key = (tool, tuple(tuple(row) for row in head))
    layout = _LAYOUTS.get(key)
    if layout is None:
        # exports of one tool and survey share their header: its columns are worked out once
        if len(_LAYOUTS) > 1024:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = PARSERS[tool](path, table)
    return Export(tool, path, table.encoding, layout.header_rows, layout.columns, table, layout.width, layout=key)


# (tool, header rows) -> the Export parsed from them (its columns are shared, never changed after parsing)
_LAYOUTS: dict[tuple, Export] = {}


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


# ------------------------------------------------------------------------------------- dates, column-wise
#
# The same rules as `date_order` and `parse_date` above, on a column of text cells at once.

_ISO = r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
_SLASH = r"^(\d{1,2})/(\d{1,2})/(\d{2,4})\b"
_DMY_DASH = r"^(\d{1,2})-(\d{1,2})-(\d{4})"


def _part(text: pl.Expr, pattern: str, group: int) -> pl.Expr:
    return text.str.extract(pattern, group).cast(pl.Int32, strict=False)


def is_slash_date(text: pl.Expr) -> pl.Expr:
    """Whether a cell is a locale-formatted `a/b/yyyy` date (slash_date)."""
    return text.str.strip_chars().str.contains(_SLASH).fill_null(False)


def slash_parts(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The first two numbers of an `a/b/yyyy` date cell (null when it is not one)."""
    text = text.str.strip_chars()
    return _part(text, _SLASH, 1), _part(text, _SLASH, 2)


def order_hint(text: pl.Expr) -> pl.Expr:
    """Per the `date_order` rule, what the first telling cell of a column says: "dmy" (its first part is above
    12), "mdy" (its second is), null when no cell tells."""
    a, b = slash_parts(text)
    telling = (a > 12) | (b > 12)
    return pl.when(a.filter(telling).first() > 12).then(pl.lit("dmy")).when(telling.any()).then(pl.lit("mdy"))


def _ymd(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    """The date of year, month and day columns; null where they make no date (30 February, month 13, year 0)."""
    text = pl.format("{}-{}-{}", *(e.cast(pl.String).str.zfill(n) for e, n in ((y, 4), (m, 2), (d, 2))))
    return pl.when(y >= 1).then(text.str.to_date("%Y-%m-%d", strict=False))


def parse_dates(cell: pl.Expr, order: pl.Expr) -> pl.Expr:
    """`parse_date` of a column of text cells, a/b/yyyy read in `order` ("mdy" or "dmy", per row): the first
    pattern a cell matches decides (ISO, then a/b/yyyy, then dd-mm-yyyy); a cell it makes no valid date of is
    null. One regular-expression pass per pattern."""
    text = cell.str.strip_chars()
    iso, slash, dash = (text.str.extract_groups(p) for p in (_ISO, _SLASH, _DMY_DASH))

    def part(groups: pl.Expr, n: int) -> pl.Expr:
        return groups.struct[n].cast(pl.Int32, strict=False)

    a, b, y = part(slash, 0), part(slash, 1), part(slash, 2)
    y = pl.when(y < 100).then(y + 2000).otherwise(y)
    dmy = order == "dmy"
    month, day = pl.when(dmy).then(b).otherwise(a), pl.when(dmy).then(a).otherwise(b)
    return (
        pl.when(iso.struct[0].is_not_null())
        .then(_ymd(part(iso, 0), part(iso, 1), part(iso, 2)))
        .when(slash.struct[0].is_not_null())
        .then(_ymd(y, month, day))
        .when(dash.struct[0].is_not_null())
        .then(_ymd(part(dash, 2), part(dash, 1), part(dash, 0)))
    )
