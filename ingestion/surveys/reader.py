"""Read one survey export into the lake tables survey_responses, survey_answers and survey_items.

Personal data never leaves this module: only columns mapped to an item, a context question, the school,
the date or the response id are read, the response id only into a keyed hash. Everything else (names,
emails, IP addresses, locations, recipient fields, custom data, free text, unmapped columns) is dropped
and the personal-data columns found are named in `summary["personal_data_dropped"]`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingestion.lake import SourceFile
from ingestion.lake_schema import SURVEY_ANSWERS, SURVEY_ITEMS, SURVEY_RESPONSES
from ingestion.results import ReadResult, UnknownFormat, quarantine_frame
from ingestion.surveys.formats import Column, Export, date_order, parse_date, parse_export, slash_date
from ingestion.surveys.instruments import Instrument, Question, load_instruments, normalise
from ingestion.surveys.schools import SchoolRegister

DEFAULT_SCHOOL_FIELDS = ("School URN", "URN", "ExternalReference", "ExternalDataReference", "school_urn")

# Qualtrics `Status` (numeric or choice text): keep 0 IP Address, 4 Imported, 16 Offline only
STATUS_KEEP = {"0", "4", "16", "ip address", "imported", "offline"}
STATUS_REASON = {
    "1": "preview",
    "survey preview": "preview",
    "17": "preview",
    "offline preview": "preview",
    "2": "test",
    "survey test": "test",
    "8": "spam",
    "spam": "spam",
    "9": "spam",
    "preview spam": "spam",
}
# Qualtrics' "seen but not answered" code in numeric exports: unanswered, not off-scale
UNANSWERED = {"-99"}


def _schema(table: dict) -> dict:
    return {k: v for k, v in table.items() if not k.startswith("_")}


def _hash(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


# ------------------------------------------------------------------------------------- column matching


def text_forms(text: str) -> set[str]:
    """A column's question text and the statement inside its matrix forms, normalised:
    `<stem> - <statement>` (also `<stem>-<statement>`) and `<stem> [<statement>]`."""
    n = normalise(text)
    if not n:
        return set()
    forms = {n}
    for i, ch in enumerate(n):
        if ch == "-":
            forms.add(normalise(n[i + 1 :]))
    m = re.search(r"\[([^\[\]]+)\]$", n)
    if m:
        forms.add(normalise(m.group(1)))
    forms.discard("")
    return forms


def _matches(column: Column, question: Question, tool: str) -> bool:
    ids = {normalise(i) for i in column.ids if i}
    if ids & question.column_ids(tool):
        return True
    forms = set().union(*(text_forms(t) for t in column.texts)) if column.texts else set()
    return bool(forms & question.texts)


@dataclass
class Mapping:
    items: dict[str, Column]  # item id -> column
    context: dict[str, Column]  # context field -> column


def map_columns(export: Export, instrument: Instrument) -> Mapping:
    """Each item and context question of the instrument to at most one question column of the export."""
    items: dict[str, Column] = {}
    context: dict[str, Column] = {}
    used: set[int] = set()
    for column in export.columns:
        if column.role is not None or column.free_text:
            continue
        for q in instrument.items:
            if q.id not in items and _matches(column, q, export.tool):
                items[q.id] = column
                used.add(column.index)
                break
        else:
            for q in instrument.context:
                if q.id not in context and _matches(column, q, export.tool):
                    context[q.id] = column
                    used.add(column.index)
                    break
    return Mapping(items, context)


def choose_instrument(export: Export, instruments: list[Instrument], name: str) -> tuple[Instrument, Mapping]:
    """The instrument whose items the export's columns match (at least its minimum items answered)."""
    scored = [(len(m.items), inst, m) for inst in instruments for m in [map_columns(export, inst)]]
    fits = [s for s in scored if s[0] >= s[1].min_items_answered]
    if not fits:
        tried = ", ".join(f"{i.id} {n} of {len(i.items)} items" for n, i, _ in scored) or "none installed"
        questions = [c.label for c in export.columns if c.role is None]
        raise UnknownFormat(
            f"{name}: {export.tool} export matches no survey instrument ({tried}); "
            f"question columns not matched: {questions}"
        )
    best = max(s[0] for s in fits)
    top = [s for s in fits if s[0] == best]
    if len(top) > 1:
        raise UnknownFormat(
            f"{name}: {export.tool} export matches several instruments equally ({[s[1].id for s in top]})"
        )
    return top[0][1], top[0][2]


# ---------------------------------------------------------------------------------------------- schools

_URN = re.compile(r"^\d{6}$")


def _urn_value(value: object) -> str | None:
    s = _cell_text(value)
    if s is None:
        return None
    s = re.sub(r"\.0+$", "", s)
    return s


def _find_column(export: Export, name: str, exclude: set[int]) -> Column | None:
    target = normalise(name)
    for c in export.columns:
        if c.index in exclude:
            continue
        if normalise(c.name) == target or any(normalise(t) == target for t in c.texts):
            return c
    return None


def school_column(export: Export, fields: list[str], exclude: set[int]) -> Column | None:
    """The first configured school field present whose values are mostly 6-digit URNs (an
    `ExternalReference` holding pupil numbers or emails is not a school field: it is dropped)."""
    for f in fields:
        c = _find_column(export, f, exclude)
        if c is None:
            continue
        values = [_urn_value(r[c.index]) for r in export.rows]
        values = [v for v in values if v is not None]
        if values and sum(1 for v in values if _URN.match(v)) * 2 > len(values):
            return c
    return None


def urn_from_file_name(path: Path) -> str | None:
    found = set(re.findall(r"(?<!\d)(\d{6})(?!\d)", path.name))
    return found.pop() if len(found) == 1 else None


# --------------------------------------------------------------------------------------- academic year


def academic_year(d: date) -> tuple[int, str]:
    """(time_period, "YYYY-YY") of a date: the academic year runs 1 September to 31 August."""
    start = d.year if d.month >= 9 else d.year - 1
    return start * 100 + (start + 1) % 100, f"{start}-{(start + 1) % 100:02d}"


def term_of(d: date) -> str:
    """autumn (Sep-Dec), spring (Jan-Apr, Easter falling in March or April), summer (May-Aug)."""
    if d.month >= 9:
        return "autumn"
    return "spring" if d.month <= 4 else "summer"


def wave_of(instrument: str, d: date, by_term: bool) -> tuple[str, int, str | None]:
    period, label = academic_year(d)
    term = term_of(d) if by_term else None
    wave = f"{instrument}/{label}" + (f"/{term}" if term else "")
    return wave, period, term


# ----------------------------------------------------------------------------------------------- reader
#
# read_survey runs the steps below in order. The file-level steps find the instrument and the columns to read
# (nothing else in the export is ever read: that is how personal data stays out); the row-level steps run
# on each data row, and a row stops at the first step that excludes or quarantines it.


def _date_columns(export: Export) -> list[Column]:
    def rank(c: Column) -> int:
        n = normalise(c.name)
        if "record" in n:
            return 0
        if "end" in n or "completion" in n or "timestamp" in n:
            return 1
        return 2

    return sorted(export.column("date"), key=rank)


def _checked_key(pseudonym_key: bytes | str) -> bytes:
    """The pseudonym key as bytes (a str is UTF-8 encoded). Raises ValueError for an empty key."""
    if not pseudonym_key:
        raise ValueError("read_survey: an empty pseudonym key is refused (set BELONGING_PSEUDONYM_KEY)")
    if isinstance(pseudonym_key, str):
        pseudonym_key = pseudonym_key.encode("utf-8")
    return pseudonym_key


def _register_or_none(schools: SchoolRegister | None) -> SchoolRegister | None:
    """The GIAS register to resolve schools with, or None (keep the reported URN) for no or an empty one."""
    if schools is not None and len(schools) == 0:
        # no GIAS loaded yet: quarantining every response would lose them for good (the file is then
        # recorded as loaded), so the reported URN is kept and dbt's join to GIAS decides later
        return None
    return schools


@dataclass
class _Columns:
    """The export columns a response is read from. Columns not named here are never read."""

    mapped: set[int]  # indices of the item and context question columns
    school: Column | None  # the school field holding URNs
    school_fields: list[str]  # the school fields tried, in order
    file_urn: str | None  # the URN in the file name, when no school field holds URNs
    respondent: Column | None  # a configured respondent field: only read into a keyed hash
    response_id: Column | None
    status: Column | None
    dates: list[Column]  # most telling first (record date, then end/completion)
    date_order: str  # dmy or mdy, for dates written a/b/yyyy
    identity: list[int]  # indices of the cells that identify a response when the tool gives no id

    def read(self) -> set[int]:
        """Indices of every column whose values are read (the respondent field aside: it is only hashed)."""
        return (
            self.mapped
            | {c.index for c in (self.school, self.response_id, self.status) if c is not None}
            | {c.index for c in self.dates}
        )


def _find_columns(export: Export, mapping: Mapping, settings: dict, path: Path) -> _Columns:
    """Takes the export, its instrument's column mapping, the `surveys:` settings (`school_fields`,
    `respondent_fields`) and the file path (a URN in the file name); returns the columns to read."""
    mapped = {c.index for c in mapping.items.values()} | {c.index for c in mapping.context.values()}
    school_fields = list(settings.get("school_fields") or DEFAULT_SCHOOL_FIELDS)
    school_col = school_column(export, school_fields, mapped)
    respondent_col = None
    for f in settings.get("respondent_fields") or []:
        respondent_col = _find_column(export, f, mapped | ({school_col.index} if school_col else set()))
        if respondent_col:
            break
    id_cols = export.column("response_id")
    status_cols = export.column("status")
    date_cols = _date_columns(export)
    identity = sorted(
        {c.index for c in date_cols}
        | {c.index for c in export.columns if c.role == "personal"}
        | mapped
        | ({school_col.index} if school_col else set())
    )
    return _Columns(
        mapped=mapped,
        school=school_col,
        school_fields=school_fields,
        file_urn=None if school_col else urn_from_file_name(path),
        respondent=respondent_col,
        response_id=id_cols[0] if id_cols else None,
        status=status_cols[0] if status_cols else None,
        dates=date_cols,
        date_order=date_order([r[c.index] for c in date_cols for r in export.rows]),
        identity=identity,
    )


@dataclass
class _Rows:
    """What reading the rows gives: kept responses and their answers, quarantined rows, exclusion counts."""

    name: str  # the file, as quarantine reasons name it
    responses: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    exclusions: Counter[str] = field(default_factory=Counter)
    seen_ids: set[str] = field(default_factory=set)

    def quarantine_row(
        self, row_number: int, column: str | None, value: str | None, rule: str, why: str
    ) -> None:
        self.quarantine.append(
            {
                "row_number": row_number,
                "column": column,
                "value": value,
                "rule": rule,
                "reason": f"{self.name}, row {row_number}: {why} [{rule}]",
            }
        )


def _excluded_status(row: list[object], status_col: Column | None) -> str | None:
    """Takes a row and the Qualtrics `Status` column (if any); returns the exclusion reason of a preview,
    test or spam response (`preview`, `test`, `spam`, `status_<code>`, `status_other`), None to keep it."""
    if status_col is None:
        return None
    status = normalise(_cell_text(row[status_col.index]) or "0")
    if status in STATUS_KEEP:
        return None
    return STATUS_REASON.get(status) or (
        f"status_{status}" if re.fullmatch(r"\w{1,20}", status) else "status_other"
    )


def _raw_response_id(row: list[object], columns: _Columns) -> str:
    """Takes a row; returns its response id as the tool wrote it, or, for a tool without one, its identity
    cells joined (the same response twice in a file has the same raw id)."""
    raw_id = _cell_text(row[columns.response_id.index]) if columns.response_id is not None else None
    if raw_id is None:
        # Google Forms has no response id: its timestamp, the respondent's email if collected, and
        # the answers read identify it (stable when a re-export adds unrelated columns)
        raw_id = "\x1f".join("" if row[i] is None else str(row[i]) for i in columns.identity)
    return raw_id


def _answered(row: list[object], questions, columns: Mapping):
    """The questions a row answered: (question, its column, the answer text, its code or None when the
    answer is not one of the question's), skipping questions without a column and blank answers."""
    for q in questions:
        col = columns.get(q.id)
        if col is None:
            continue
        cell = row[col.index]
        text = _cell_text(cell)
        if text is None or text in UNANSWERED:
            continue
        yield q, col, text, q.code_of(cell)


def _item_codes(
    row: list[object], row_number: int, instrument: Instrument, mapping: Mapping, rows: _Rows
) -> dict[str, int]:
    """Takes a row; returns item id -> answer code (1 .. scale points, read by label or code) for the items
    answered. An answer off the scale is quarantined (`answer_not_on_scale`) and counts as unanswered."""
    codes: dict[str, int] = {}
    for item, col, text, code in _answered(row, instrument.items, mapping.items):
        if code is None:
            rows.quarantine_row(
                row_number,
                col.name,
                text,
                "answer_not_on_scale",
                f"answer {text!r} to item {item.id!r} is not on the {instrument.id} scale "
                f"({', '.join(instrument.answers)} or codes 1-{instrument.scale_points}); treated as unanswered",
            )
            continue
        codes[item.id] = code
    return codes


def _response_date(row: list[object], row_number: int, columns: _Columns, rows: _Rows) -> date | None:
    """Takes a row; returns the date of the first date column that reads, or None after quarantining the
    row (`response_date_unreadable`)."""
    for c in columns.dates:
        response_date = parse_date(row[c.index], columns.date_order)
        if response_date is not None:
            return response_date
    col = columns.dates[0].name if columns.dates else None
    value = _cell_text(row[columns.dates[0].index]) if columns.dates else None
    rows.quarantine_row(row_number, col, value, "response_date_unreadable", "no readable response date")
    return None


def _school(
    row: list[object],
    row_number: int,
    columns: _Columns,
    schools: SchoolRegister | None,
    response_date: date,
    rows: _Rows,
) -> tuple[str, str] | None:
    """Takes a row and its response date; returns (reported URN, school_urn): the school field's URN (else
    the file name's), resolved through GIAS links when there is a register. Returns None after
    quarantining the row (`school_missing`, `school_urn_format`, `school_not_in_gias`,
    `school_closed_no_successor`)."""
    if columns.school is not None:
        reported = _urn_value(row[columns.school.index])
        school_source = columns.school.name
    else:
        reported, school_source = columns.file_urn, "file name"
    if reported is None:
        rows.quarantine_row(
            row_number,
            columns.school.name if columns.school else None,
            None,
            "school_missing",
            f"no school: none of the school fields {columns.school_fields} holds a URN and the file name has none",
        )
        return None
    if not _URN.match(reported):
        shown = reported if re.fullmatch(r"\d{1,12}", reported) else "(not shown: not a URN)"
        rows.quarantine_row(
            row_number,
            school_source,
            shown,
            "school_urn_format",
            "the school identifier is not a 6-digit URN",
        )
        return None
    if schools is None:
        return reported, reported
    school_urn, problem = schools.resolve(reported, response_date)
    if problem is not None:
        why = (
            f"URN {reported} is not in GIAS"
            if problem == "school_not_in_gias"
            else f"URN {reported} closed before {response_date} and GIAS links give no open successor"
        )
        rows.quarantine_row(row_number, school_source, reported, problem, why)
        return None
    return reported, school_urn


def _context_values(
    row: list[object], row_number: int, instrument: Instrument, mapping: Mapping, rows: _Rows
) -> dict[str, str | None]:
    """Takes a row; returns context question id (year_group, gender, send, fsm, role) -> the instrument's
    answer text, for the questions answered. An unknown answer is quarantined (`context_answer_unknown`)
    and left unanswered."""
    context_values: dict[str, str | None] = {}
    for q, col, text, code in _answered(row, instrument.context, mapping.context):
        if code is None:
            rows.quarantine_row(
                row_number,
                col.name,
                text,
                "context_answer_unknown",
                f"answer {text!r} to {q.text!r} is not one of {list(q.answers)}; treated as unanswered",
            )
            continue
        context_values[q.id] = q.answers[code - 1]
    return context_values


def _response_record(
    row: list[object],
    row_number: int,
    *,
    tool: str,
    instrument: Instrument,
    columns: _Columns,
    pseudonym_key: bytes,
    by_term: bool,
    raw_id: str,
    response_date: date,
    school: tuple[str, str],
    codes: dict[str, int],
    context: dict[str, str | None],
) -> dict:
    """Takes a kept row and what the steps before read from it; returns its survey_responses row: the wave,
    `response_key` (keyed hash of tool, instrument, reported URN, date and raw id) and `respondent_key`
    (keyed hash of the respondent field, if configured and filled)."""
    reported, school_urn = school
    wave, period, term = wave_of(instrument.id, response_date, by_term)
    response_key = _hash(pseudonym_key, tool, instrument.id, reported, response_date.isoformat(), raw_id)
    respondent_key = None
    if columns.respondent is not None:
        who = _cell_text(row[columns.respondent.index])
        if who is not None:
            respondent_key = _hash(pseudonym_key, "respondent", normalise(who))
    return {
        "response_key": response_key,
        "respondent_key": respondent_key,
        "instrument": instrument.id,
        "tool": tool,
        "wave": wave,
        "time_period": period,
        "term": term,
        "response_date": response_date,
        "reported_urn": reported,
        "school_urn": school_urn,
        **{f: context.get(f) for f in ("year_group", "gender", "send", "fsm", "role")},
        "items_answered": len(codes),
        "items_total": len(instrument.items),
        "row_number": row_number,
    }


def _answer_records(response_key: str, instrument: Instrument, codes: dict[str, int]) -> list[dict]:
    """Takes a kept response's key and answer codes; returns its survey_answers rows, in item order, each
    scored 0-100 (negative items reversed) and `agree` when the score is above 50."""
    answers = []
    for item in instrument.items:
        if item.id in codes:
            score = instrument.score(item, codes[item.id])
            answers.append(
                {
                    "response_key": response_key,
                    "instrument": instrument.id,
                    "item_id": item.id,
                    "answer_code": codes[item.id],
                    "score": score,
                    "agree": score > 50.0,
                }
            )
    return answers


def _read_rows(
    export: Export,
    instrument: Instrument,
    mapping: Mapping,
    columns: _Columns,
    schools: SchoolRegister | None,
    pseudonym_key: bytes,
    by_term: bool,
    name: str,
) -> _Rows:
    """Takes the parsed export, its instrument and mapping, the columns to read, the register (or None),
    the key and whether waves are by term; reads every data row and returns the responses kept, their
    answers, the quarantined rows and the exclusion counts."""
    rows = _Rows(name)
    for row_number, row in enumerate(export.rows, start=1):
        # Qualtrics Status: previews, tests and spam are excluded
        excluded = _excluded_status(row, columns.status)
        if excluded is not None:
            rows.exclusions[excluded] += 1
            continue
        # the same response id twice in the file: the first counts
        raw_id = _raw_response_id(row, columns)
        if raw_id in rows.seen_ids:
            rows.exclusions["duplicate"] += 1
            continue
        rows.seen_ids.add(raw_id)
        # answers, then too few items answered
        codes = _item_codes(row, row_number, instrument, mapping, rows)
        if len(codes) < instrument.min_items_answered:
            rows.exclusions["incomplete"] += 1
            continue
        response_date = _response_date(row, row_number, columns, rows)
        if response_date is None:
            continue
        school = _school(row, row_number, columns, schools, response_date, rows)
        if school is None:
            continue
        context = _context_values(row, row_number, instrument, mapping, rows)
        response = _response_record(
            row,
            row_number,
            tool=export.tool,
            instrument=instrument,
            columns=columns,
            pseudonym_key=pseudonym_key,
            by_term=by_term,
            raw_id=raw_id,
            response_date=response_date,
            school=school,
            codes=codes,
            context=context,
        )
        rows.responses.append(response)
        rows.answers.extend(_answer_records(response["response_key"], instrument, codes))
    return rows


def _tables(instrument: Instrument, rows: _Rows) -> dict[str, pl.DataFrame]:
    """Takes the instrument and the rows read; returns the lake tables survey_responses, survey_answers and
    survey_items (the instrument's items), in the lake schema."""
    items_frame = pl.DataFrame(
        [
            {
                "instrument": instrument.id,
                "item_id": item.id,
                "item_text": item.text,
                "negative": item.negative,
                "scale_points": instrument.scale_points,
                "min_items_answered": instrument.min_items_answered,
                "items_total": len(instrument.items),
            }
            for item in instrument.items
        ],
        schema=_schema(SURVEY_ITEMS),
    )
    return {
        "survey_responses": pl.DataFrame(rows.responses, schema=_schema(SURVEY_RESPONSES)),
        "survey_answers": pl.DataFrame(rows.answers, schema=_schema(SURVEY_ANSWERS)),
        "survey_items": items_frame,
    }


def _personal_data_dropped(export: Export, columns: _Columns) -> list[str]:
    """Takes the export and the columns read; returns the names of the personal-data and free-text columns
    left unread, and of the respondent field (read only into a hash), for the summary."""
    read = columns.read()
    return [
        c.name
        for c in export.columns
        if (c.index not in read and (c.role == "personal" or c.free_text))
        or (columns.respondent is not None and c.index == columns.respondent.index)
    ]


def _summary(
    name: str,
    export: Export,
    instrument: Instrument,
    mapping: Mapping,
    columns: _Columns,
    rows: _Rows,
    schools: SchoolRegister | None,
) -> dict:
    """Takes everything read; returns the summary `belonging validate` shows: instrument and columns
    matched, where the school came from, counts read, kept, excluded and quarantined, personal data
    dropped."""
    read = columns.read()
    unmatched = [
        c.label for c in export.columns if c.index not in read and c.role is None and not c.free_text
    ]
    rules = Counter(q["rule"] for q in rows.quarantine)
    return {
        "file": name,
        "tool": export.tool,
        "instrument": instrument.id,
        "items_matched": {k: v.name for k, v in mapping.items.items()},
        "items_unmatched": [i.id for i in instrument.items if i.id not in mapping.items],
        "context_matched": {k: v.name for k, v in mapping.context.items()},
        "unmatched_columns": unmatched,
        "school_from": columns.school.name if columns.school else ("file name" if columns.file_urn else None),
        # only meaningful where the export wrote locale dates a/b/yyyy
        "date_order": (
            columns.date_order
            if any(slash_date(r[c.index]) for c in columns.dates for r in export.rows)
            else None
        ),
        "responses_read": len(export.rows),
        "responses_kept": len(rows.responses),
        "excluded": dict(sorted(rows.exclusions.items())),
        "quarantined": dict(sorted(rules.items())),
        "personal_data_dropped": _personal_data_dropped(export, columns),
        "gias_resolution": schools is not None,
    }


def _result(
    name: str,
    export: Export,
    instrument: Instrument,
    mapping: Mapping,
    columns: _Columns,
    rows: _Rows,
    schools: SchoolRegister | None,
) -> ReadResult:
    """Takes everything read from the file; returns the ReadResult: lake tables, quarantine rows, exclusion
    counts and the summary."""
    return ReadResult(
        tables=_tables(instrument, rows),
        quarantine=quarantine_frame(rows.quarantine),
        source_kind="survey",
        publication=export.tool,
        vintage=instrument.id,
        encoding=export.encoding,
        rows_read=len(export.rows),
        exclusions=dict(sorted(rows.exclusions.items())),
        summary=_summary(name, export, instrument, mapping, columns, rows, schools),
    )


def read_survey(
    source: SourceFile,
    *,
    schools: SchoolRegister | None,
    pseudonym_key: bytes,
    settings: dict | None,
    instruments: list[Instrument] | None = None,
) -> ReadResult:
    """Read one survey export (any known tool) against the instruments in ingestion/instruments/.

    `settings` is the `surveys:` section of config/settings.yaml: `school_fields` (tried in order),
    `wave_by_term`, and optionally `respondent_fields` (columns holding a pupil/staff identifier to hash
    into `respondent_key`) and `instruments_dir`. `schools=None` skips GIAS resolution (school_urn is the
    reported URN): for `belonging validate` before GIAS is loaded; an empty register is treated the same.

    Raises ValueError for an empty pseudonym key, UnknownFormat for a file of no known tool or
    matching no instrument.
    """
    pseudonym_key = _checked_key(pseudonym_key)
    settings = settings or {}
    schools = _register_or_none(schools)
    export = parse_export(source.path)  # the tool, recognised from the headers, and its layout parsed
    if instruments is None:
        instruments = load_instruments(settings.get("instruments_dir"))
    instrument, mapping = choose_instrument(export, instruments, source.relative)
    columns = _find_columns(export, mapping, settings, source.path)  # the only columns ever read
    by_term = bool(settings.get("wave_by_term", True))
    rows = _read_rows(export, instrument, mapping, columns, schools, pseudonym_key, by_term, source.relative)
    return _result(source.relative, export, instrument, mapping, columns, rows, schools)
