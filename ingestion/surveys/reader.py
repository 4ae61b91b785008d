"""Read one survey export into the lake tables survey_responses, survey_answers and survey_items.

Personal data never leaves this module: only columns mapped to an item, a context question, the school,
the date or the response id are read, the response id only into a keyed hash. Everything else (names,
emails, IP addresses, locations, recipient fields, custom data, free text, unmapped columns) is dropped
and the personal-data columns found are named in `summary["personal_data_dropped"]`.

The rows are read column-wise (polars): answers are coded by joining each question's distinct answers against
its answer table, dates are parsed a column at a time, and only the per-file work (finding the columns) and
the keyed hashes are Python.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from ingestion.files import UnreadableFile
from ingestion.lake import SourceFile
from ingestion.lake_schema import SURVEY_ANSWERS, SURVEY_ITEMS, SURVEY_RESPONSES
from ingestion.results import ReadResult, UnknownFormat, quarantine_frame
from ingestion.surveys.formats import (
    Column,
    Export,
    cell,
    cell_text,
    is_slash_date,
    order_hint,
    parse_dates,
    parse_export,
)
from ingestion.surveys.instruments import CONTEXT_FIELDS, Instrument, Question, load_instruments, normalise
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


def _hashes(key: bytes, messages: list[str]) -> list[str]:
    """HMAC-SHA256 under the pseudonym key of each message (its parts joined by \\x1f), as hex."""
    return [hmac.digest(key, m.encode("utf-8"), hashlib.sha256).hex() for m in messages]


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


# header signature -> (the instruments it was matched against, [(items matched, instrument, mapping)]): exports
# of one tool and survey share their header, and matching question texts is most of reading a small export
_MATCHED: dict[tuple, tuple[tuple[Instrument, ...], list]] = {}


def _scored(export: Export, instruments: list[Instrument]) -> list[tuple[int, Instrument, Mapping]]:
    signature = (export.tool, tuple((c.index, c.name, c.texts, c.ids, c.role, c.free_text) for c in export.columns))
    hit = _MATCHED.get(signature)
    if hit is not None and len(hit[0]) == len(instruments) and all(a is b for a, b in zip(hit[0], instruments, strict=True)):
        return hit[1]
    scored = [(len(m.items), inst, m) for inst in instruments for m in [map_columns(export, inst)]]
    if len(_MATCHED) > 1024:
        _MATCHED.clear()
    _MATCHED[signature] = (tuple(instruments), scored)
    return scored


def choose_instrument(export: Export, instruments: list[Instrument], name: str) -> tuple[Instrument, Mapping]:
    """The instrument whose items the export's columns match (at least its minimum items answered)."""
    scored = _scored(export, instruments)
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

_URN = r"^\d{6}$"


def _urn_value(column: str) -> pl.Expr:
    """A school field's URN text: stripped, a trailing `.0` (a number cell) dropped."""
    return cell_text(column).str.replace(r"\.0+$", "")


def _find_column(export: Export, name: str, exclude: set[int]) -> Column | None:
    target = normalise(name)
    for c in export.columns:
        if c.index in exclude:
            continue
        if normalise(c.name) == target or any(normalise(t) == target for t in c.texts):
            return c
    return None


def school_candidates(export: Export, fields: list[str], exclude: set[int]) -> list[Column]:
    """The columns named by the configured school fields, in the fields' order (each at most once)."""
    found: list[Column] = []
    for f in fields:
        c = _find_column(export, f, exclude)
        if c is not None and c not in found:
            found.append(c)
    return found


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


def _waves(instrument: str, d: pl.Expr, by_term: bool) -> list[pl.Expr]:
    """wave, time_period and term of a date column, as `wave_of`."""
    start = pl.when(d.dt.month() >= 9).then(d.dt.year()).otherwise(d.dt.year() - 1)
    end = (start + 1) % 100
    label = pl.format("{}-{}", start, end.cast(pl.String).str.zfill(2))
    term = (
        pl.when(d.dt.month() >= 9).then(pl.lit("autumn")).when(d.dt.month() <= 4).then(pl.lit("spring"))
        .otherwise(pl.lit("summer"))
        if by_term
        else pl.lit(None, pl.String)
    )
    wave = pl.concat_str([pl.lit(f"{instrument}/"), label, pl.lit("/") + term], ignore_nulls=True)
    return [wave.alias("wave"), (start * 100 + end).cast(pl.Int32).alias("time_period"), term.alias("term")]


# ----------------------------------------------------------------------------------------------- reader
#
# read_surveys reads a batch of exports. The file-level steps run per export: parse it once, find the
# instrument and the columns to read (nothing else in an export is ever read: that is how personal data stays
# out). Each export's columns are then projected onto its instrument's layout (one column per item and context
# question, whatever the tool called it) and the row-level steps run on the rows of every export of the batch
# at once, in this order, a row stopping at the first step that excludes or quarantines it:
#   status (preview, test, spam: excluded) -> duplicate response id in its file (excluded) -> item answers (an
#   answer off the scale is quarantined and unanswered) -> too few items (excluded) -> response date
#   (quarantined when unreadable) -> school (quarantined when missing, not a URN, not in GIAS or closed without
#   a successor) -> context answers (an unknown answer is quarantined and unanswered) -> response and answers.


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


@dataclass
class _Facts:
    """What the file-level steps need from an export's rows (computed for a whole batch in one pass)."""

    rows_read: int = 0
    school_values: tuple[tuple[int, int], ...] = ()  # per school candidate: (cells with a value, 6-digit URNs)
    date_order: str = "mdy"
    slash_dates: bool = False  # any date written a/b/yyyy


@dataclass
class _Export:
    """One export after the file-level steps: its instrument and mapping, the school field candidates and date
    columns; `columns` (the only columns ever read) once the batch's facts chose its school field."""

    source: SourceFile
    export: Export
    instrument: Instrument
    mapping: Mapping
    mapped: set[int]  # indices of the item and context question columns
    candidates: list[Column]  # the configured school fields present, in the fields' order
    dates: list[Column]  # most telling first (record date, then end/completion)
    # the columns read for each choice of school field: one per candidate, then none (the file name's URN)
    choices: list[_Columns] = field(default_factory=list)
    columns: _Columns | None = None
    facts: _Facts = field(default_factory=_Facts)

    def items(self) -> list[Column | None]:
        return [self.mapping.items.get(q.id) for q in self.instrument.items]

    def context(self) -> list[Column | None]:
        return [self.mapping.context.get(q.id) for q in self.instrument.context]


def _columns(e: _Export, school_col: Column | None, settings: dict) -> _Columns:
    """The columns to read of an export for one choice of its school field."""
    export, mapped = e.export, e.mapped
    respondent_col = None
    for f in settings.get("respondent_fields") or []:
        respondent_col = _find_column(export, f, mapped | ({school_col.index} if school_col else set()))
        if respondent_col:
            break
    id_cols = export.column("response_id")
    status_cols = export.column("status")
    identity = sorted(
        {c.index for c in e.dates}
        | {c.index for c in export.columns if c.role == "personal"}
        | mapped
        | ({school_col.index} if school_col else set())
    )
    return _Columns(
        mapped=mapped,
        school=school_col,
        school_fields=list(settings.get("school_fields") or DEFAULT_SCHOOL_FIELDS),
        file_urn=None if school_col else urn_from_file_name(e.source.path),
        respondent=respondent_col,
        response_id=id_cols[0] if id_cols else None,
        status=status_cols[0] if status_cols else None,
        dates=e.dates,
        date_order="mdy",  # until the rows are read
        identity=identity,
    )


def _prepare(source: SourceFile, instruments: list[Instrument], settings: dict) -> _Export:
    export = parse_export(source.path)  # the tool, recognised from the headers, and its layout parsed
    instrument, mapping = choose_instrument(export, instruments, source.relative)
    mapped = {c.index for c in mapping.items.values()} | {c.index for c in mapping.context.values()}
    school_fields = list(settings.get("school_fields") or DEFAULT_SCHOOL_FIELDS)
    e = _Export(source, export, instrument, mapping, mapped, school_candidates(export, school_fields, mapped),
                _date_columns(export))
    e.choices = [_columns(e, c, settings) for c in [*e.candidates, None]]
    return e


def _raw_id(c: _Columns) -> pl.Expr:
    """A row's response id as the tool wrote it, or, for a tool without one, its identity cells joined (the same
    response twice in a file has the same raw id)."""
    # Google Forms has no response id: its timestamp, the respondent's email if collected, and the answers read
    # identify it (stable when a re-export adds unrelated columns)
    identity = (pl.concat_str([cell(f"c{i}").fill_null("") for i in c.identity], separator="\x1f")
                if c.identity else pl.lit(""))
    return pl.coalesce(cell_text(c.response_id.key), identity) if c.response_id else identity


def _raw_rows(group: list[tuple[int, _Export]]) -> pl.DataFrame:
    """The data rows of exports of one layout, stacked (no copy of their cells): `file`, then c0 .. c<width-1>;
    blank rows dropped and `row_number` counted per file."""
    width = group[0][1].export.width
    parts = []
    for file, e in group:
        table = e.export.table.frame
        frame = pl.DataFrame(table.get_columns()[:width]).slice(e.export.header_rows)
        parts.append(frame.insert_column(0, pl.repeat(file, frame.height, dtype=pl.Int32, eager=True).alias("file")))
    frame = pl.concat(parts, how="vertical", rechunk=False).lazy()
    cols = [pl.col(f"c{i}") for i in range(width)]
    if cols:
        frame = frame.filter(pl.any_horizontal([c.str.strip_chars() != "" for c in cols]))
    return frame.with_columns((pl.int_range(pl.len()).over("file") + 1).cast(pl.Int64).alias("row_number"))


def _projected(group: list[tuple[int, _Export]], n_dates: int, n_candidates: int) -> pl.LazyFrame:
    """The cells read of the rows of exports of one layout, named by the instrument: file, row_number, status,
    date_<k> (most telling first), item_<i> and context_<j> (each question's answer text), and for each choice
    of school field (candidate <k>, or `x`: none) the school, the raw response id and the respondent field."""
    e = group[0][1]  # the layout's columns are the same in every export of the group
    none = pl.lit(None, pl.String)
    status = e.choices[-1].status
    exprs = [
        "file",
        "row_number",
        # Qualtrics Status, blank read as 0 (kept)
        (cell_text(status.key).fill_null("0") if status else none).alias("status"),
        *[(cell_text(e.dates[k].key) if k < len(e.dates) else none).alias(f"date_{k}") for k in range(n_dates)],
        *[(cell_text(col.key) if col else none).alias(f"item_{i}") for i, col in enumerate(e.items())],
        *[(cell_text(col.key) if col else none).alias(f"context_{j}") for j, col in enumerate(e.context())],
    ]
    for k in [*range(n_candidates), "x"]:
        c = e.choices[-1] if k == "x" else e.choices[k] if k < len(e.candidates) else None
        if c is None:
            exprs += [none.alias(f"school_{k}"), none.alias(f"raw_id_{k}"), none.alias(f"respondent_{k}")]
            continue
        # no school field: the URN in the file name (each file's own)
        school = _urn_value(c.school.key) if c.school else pl.col("file_urn")
        exprs += [school.alias(f"school_{k}"), _raw_id(c).alias(f"raw_id_{k}"),
                  (cell_text(c.respondent.key) if c.respondent else none).alias(f"respondent_{k}")]
    file_urns = pl.DataFrame([(f, x.choices[-1].file_urn) for f, x in group], orient="row",
                             schema={"file": pl.Int32, "file_urn": pl.String})
    return _raw_rows(group).join(file_urns.lazy(), on="file", how="left", maintain_order="left").select(exprs)


def _choose(exports: list[_Export], rows: pl.DataFrame, n_dates: int, n_candidates: int) -> pl.DataFrame:
    """The file-level facts of every export from its rows (rows read; each school candidate's values and
    6-digit URNs; what its dates say of day or month first) and the choices they make: the first configured
    school field whose values are mostly 6-digit URNs (an `ExternalReference` holding pupil numbers or emails
    is not a school field: it is dropped), and the date order. Sets each export's `columns` and `facts`;
    returns per file the choice made (`choice`: the candidate, -1 for none) and the date order."""
    aggs = [pl.len().alias("rows")]
    for k in range(n_candidates):
        urn = pl.col(f"school_{k}")
        aggs += [urn.is_not_null().sum().alias(f"n{k}"), urn.str.contains(_URN).sum().alias(f"u{k}")]
    for k in range(n_dates):
        date_k = pl.col(f"date_{k}")
        aggs += [order_hint(date_k).alias(f"o{k}"), is_slash_date(date_k).any().alias(f"s{k}")]
    facts = {r["file"]: r for r in rows.group_by("file").agg(aggs).iter_rows(named=True)}
    chosen = []
    for file, e in enumerate(exports):
        r = facts.get(file)
        if r is not None:  # else no data rows
            hints = [r[f"o{k}"] for k in range(len(e.dates)) if r[f"o{k}"] is not None]
            e.facts = _Facts(
                rows_read=r["rows"],
                school_values=tuple((r[f"n{k}"], r[f"u{k}"]) for k in range(len(e.candidates))),
                # `date_order`: the first telling cell, columns in order; month first when none tells
                date_order=hints[0] if hints else "mdy",
                slash_dates=any(r[f"s{k}"] for k in range(len(e.dates))),
            )
        k = next((k for k, (n, urns) in enumerate(e.facts.school_values) if n and urns * 2 > n), -1)
        e.columns = dataclasses.replace(e.choices[k], date_order=e.facts.date_order)
        chosen.append((file, k, e.facts.date_order))
    return pl.DataFrame(chosen, schema={"file": pl.Int32, "choice": pl.Int32, "date_order": pl.String},
                        orient="row")


def _chosen(rows: pl.DataFrame, choices: pl.DataFrame, n_candidates: int) -> pl.DataFrame:
    """The rows with the school, raw response id and respondent field of their file's choice."""
    rows = rows.join(choices.select("file", "choice"), on="file", how="left", maintain_order="left")

    def pick(name: str) -> pl.Expr:
        expr = pl.col(f"{name}_x")
        for k in reversed(range(n_candidates)):
            expr = pl.when(pl.col("choice") == k).then(pl.col(f"{name}_{k}")).otherwise(expr)
        return expr.alias(name)

    variants = [f"{n}_{k}" for n in ("school", "raw_id", "respondent") for k in [*range(n_candidates), "x"]]
    return rows.with_columns(pick("school"), pick("raw_id"), pick("respondent")).drop(*variants, "choice")


def _lookup(frame: pl.DataFrame, expr: pl.Expr, fn, dtype: pl.DataType) -> pl.Expr:
    """`expr` mapped through `fn`, called once per distinct value of `expr` in `frame` (None stays None)."""
    values = frame.select(expr.unique().alias("v")).get_column("v").drop_nulls().to_list()
    if not values:
        return pl.lit(None, dtype)
    return expr.replace_strict(values, [fn(v) for v in values], default=None, return_dtype=dtype)


def _status_reason(status_cell: str) -> str | None:
    """The exclusion reason of a Qualtrics `Status` (`preview`, `test`, `spam`, `status_<code>`,
    `status_other`), None to keep the response."""
    status = normalise(status_cell)
    if status in STATUS_KEEP:
        return None
    return STATUS_REASON.get(status) or (f"status_{status}" if re.fullmatch(r"\w{1,20}", status) else "status_other")


# ---------------------------------------------------------------------------------- answers, coded by join


def _answers_long(rows: pl.DataFrame, prefix: str, n: int) -> pl.DataFrame:
    """One row per answered question of each row: file, row_number, q (the question's position in the
    instrument) and the answer text; blank answers and Qualtrics' seen-but-unanswered code are not answers."""
    cols = [f"{prefix}_{q}" for q in range(n)]
    if not cols:
        return pl.DataFrame(schema={"file": pl.Int32, "row_number": pl.Int64, "q": pl.Int32, "text": pl.String})
    long = rows.select("file", "row_number", *cols).unpivot(index=["file", "row_number"], on=cols,
                                                           variable_name="q", value_name="text")
    return long.filter(pl.col("text").is_not_null() & ~pl.col("text").is_in(list(UNANSWERED))).with_columns(
        pl.col("q").str.strip_prefix(f"{prefix}_").cast(pl.Int32))


def _coded(long: pl.DataFrame, questions: tuple[Question, ...], why_off_list) -> pl.DataFrame:
    """The answers with their code (1-based position in the question's answer list, by label or number) and
    label, joined from each question's distinct answers: the answer table; `why` for an answer off the list."""
    table = []
    for q, text in long.select("q", "text").unique().iter_rows():
        question = questions[q]
        code = question.code_of(text)
        table.append((q, text, code, None if code is None else question.answers[code - 1],
                      why_off_list(question, text) if code is None else None))
    schema = {"q": pl.Int32, "text": pl.String, "code": pl.Int32, "label": pl.String, "why": pl.String}
    return long.join(pl.DataFrame(table, schema=schema, orient="row"), on=["q", "text"], how="left")


# -------------------------------------------------------------------------------------------- quarantine

_Q_SCHEMA = {"file": pl.Int32, "row_number": pl.Int64, "step": pl.Int32, "sub": pl.Int32, "column": pl.String,
             "value": pl.String, "rule": pl.String, "why": pl.String}
_ITEMS, _DATE, _SCHOOL, _CONTEXT = 1, 2, 3, 4  # the order of the steps that quarantine, within a row


def _quarantined(frame: pl.DataFrame, step: int, column: pl.Expr, value: pl.Expr, rule: pl.Expr | str,
                 why: pl.Expr, sub: pl.Expr | None = None) -> pl.DataFrame:
    return frame.select(
        "file", "row_number", pl.lit(step, pl.Int32).alias("step"),
        (pl.lit(0, pl.Int32) if sub is None else sub).alias("sub"),
        column.cast(pl.String).alias("column"), value.cast(pl.String).alias("value"),
        (pl.lit(rule) if isinstance(rule, str) else rule).alias("rule"), why.alias("why"),
    ).cast(_Q_SCHEMA)


# ------------------------------------------------------------------------------------------------- batch


@dataclass
class _Batch:
    """The exports of one instrument read together, and what reading their rows gave."""

    instrument: Instrument
    exports: list[_Export]
    files: pl.DataFrame  # per export (file = its position): name, tool, date_order, school and date columns
    questions: pl.DataFrame  # per export, item (kind item) and context question: the column it was read from
    responses: pl.DataFrame = None  # type: ignore[assignment]
    answers: pl.DataFrame = None  # type: ignore[assignment]
    quarantine: pl.DataFrame = None  # type: ignore[assignment]
    exclusions: pl.DataFrame = None  # type: ignore[assignment]  # file, reason, n


def _batch(instrument: Instrument, exports: list[_Export]) -> _Batch:
    files = pl.DataFrame(
        [
            {
                "file": i,
                "name": e.source.relative,
                "tool": e.export.tool,
                "date_order": e.columns.date_order,
                "school_column": e.columns.school.name if e.columns.school else None,
                "school_source": e.columns.school.name if e.columns.school else "file name",
                "first_date": e.columns.dates[0].name if e.columns.dates else None,
            }
            for i, e in enumerate(exports)
        ],
        schema={"file": pl.Int32, "name": pl.String, "tool": pl.String, "date_order": pl.String,
                "school_column": pl.String, "school_source": pl.String, "first_date": pl.String},
    )
    questions = pl.DataFrame(
        [(i, kind, q, col.name)
         for i, e in enumerate(exports)
         for kind, cols in (("item", e.items()), ("context", e.context()))
         for q, col in enumerate(cols) if col is not None],
        schema={"file": pl.Int32, "kind": pl.String, "q": pl.Int32, "column": pl.String}, orient="row",
    )
    return _Batch(instrument, exports, files, questions)


def _off_list(batch: _Batch, coded: pl.DataFrame, kind: str, rule: str, step: int) -> pl.DataFrame:
    """Quarantine rows for the answers not on their question's list, naming the export's column."""
    names = batch.questions.filter(pl.col("kind") == kind).drop("kind")
    off = coded.filter(pl.col("code").is_null()).join(names, on=["file", "q"], how="left")
    return _quarantined(off, step, pl.col("column"), pl.col("text"), rule, pl.col("why"), sub=pl.col("q"))


def _school(batch: _Batch, kept: pl.DataFrame, schools: SchoolRegister | None, school_fields: list[str]
            ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Each row's reported URN (the school field's, else the file name's) and school_urn, resolved through GIAS
    links when there is a register; the rows without one quarantined (`school_missing`, `school_urn_format`,
    `school_not_in_gias`, `school_closed_no_successor`)."""
    kept = kept.rename({"school": "reported_urn"}).join(
        batch.files.select("file", "school_column", "school_source"), on="file", how="left", maintain_order="left")
    missing = pl.col("reported_urn").is_null()
    malformed = ~missing & ~pl.col("reported_urn").str.contains(_URN)
    quarantine = [
        _quarantined(kept.filter(missing), _SCHOOL, pl.col("school_column"), pl.lit(None), "school_missing",
                     pl.lit(f"no school: none of the school fields {school_fields} holds a URN and the file name "
                            "has none")),
        _quarantined(kept.filter(malformed), _SCHOOL, pl.col("school_source"),
                     pl.when(pl.col("reported_urn").str.contains(r"^\d{1,12}$")).then(pl.col("reported_urn"))
                     .otherwise(pl.lit("(not shown: not a URN)")),
                     "school_urn_format", pl.lit("the school identifier is not a 6-digit URN")),
    ]
    kept = kept.filter(~missing & ~malformed)
    if schools is None:
        return kept.with_columns(pl.col("reported_urn").alias("school_urn")), quarantine
    resolved = [
        (urn, on, *schools.resolve(urn, on))
        for urn, on in kept.select("reported_urn", "response_date").unique().iter_rows()
    ]
    table = pl.DataFrame(resolved, orient="row", schema={"reported_urn": pl.String, "response_date": pl.Date,
                                                         "school_urn": pl.String, "problem": pl.String})
    kept = kept.join(table, on=["reported_urn", "response_date"], how="left", maintain_order="left")
    problem = pl.col("problem")
    why = (
        pl.when(problem == "school_not_in_gias").then(pl.format("URN {} is not in GIAS", "reported_urn"))
        .otherwise(pl.format("URN {} closed before {} and GIAS links give no open successor", "reported_urn",
                             pl.col("response_date").cast(pl.String)))
    )
    quarantine.append(_quarantined(kept.filter(problem.is_not_null()), _SCHOOL, pl.col("school_source"),
                                   pl.col("reported_urn"), problem, why))
    return kept.filter(problem.is_null()).drop("problem"), quarantine


def _excluded(frame: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    """Exclusions by file and reason (rows where `reason` is null are kept, not counted)."""
    reasons = frame.select("file", reason.alias("reason"))
    return reasons.filter(pl.col("reason").is_not_null()).group_by("file", "reason").len("n")


def _read_rows(batch: _Batch, rows: pl.DataFrame, schools: SchoolRegister | None, pseudonym_key: bytes,
               by_term: bool, school_fields: list[str], dates: tuple[date, date] | None = None) -> None:
    """Runs the row-level steps on the rows of every export of the batch: fills its responses, answers,
    quarantine rows and exclusion counts."""
    instrument = batch.instrument
    quarantine: list[pl.DataFrame] = []
    exclusions: list[pl.DataFrame] = []

    # Qualtrics Status: previews, tests and spam are excluded
    rows = rows.with_columns(_lookup(rows, pl.col("status"), _status_reason, pl.String).alias("excluded"))
    exclusions.append(_excluded(rows, pl.col("excluded")))
    rows = rows.filter(pl.col("excluded").is_null())

    # the same response id twice in a file: the first counts
    first = pl.struct("file", "raw_id").is_first_distinct()
    exclusions.append(_excluded(rows, pl.when(~first).then(pl.lit("duplicate"))))
    rows = rows.filter(first)

    # answers, then too few items answered: an answer off the scale is quarantined and counts as unanswered
    items = _coded(_answers_long(rows, "item", len(instrument.items)), instrument.items, lambda q, text: (
        f"answer {text!r} to item {q.id!r} is not on the {instrument.id} scale "
        f"({', '.join(instrument.answers)} or codes 1-{instrument.scale_points}); treated as unanswered"))
    quarantine.append(_off_list(batch, items, "item", "answer_not_on_scale", _ITEMS))
    items = items.filter(pl.col("code").is_not_null())
    answered = items.group_by("file", "row_number").len("items_answered")
    rows = rows.join(answered, on=["file", "row_number"], how="left", maintain_order="left").with_columns(
        pl.col("items_answered").fill_null(0))
    complete = pl.col("items_answered") >= instrument.min_items_answered
    exclusions.append(_excluded(rows, pl.when(~complete).then(pl.lit("incomplete"))))
    rows = rows.filter(complete)

    # the date of the first date column that reads, a/b/yyyy read in the file's order
    rows = rows.join(batch.files.select("file", "date_order", "first_date"), on="file", how="left",
                     maintain_order="left")
    rows = rows.with_columns(pl.lit(None, pl.Date).alias("response_date"))
    for date_k in [c for c in rows.columns if c.startswith("date_")]:
        # the next date column is read only where the ones before it gave no date
        undated = pl.col("response_date").is_null() & pl.col(date_k).is_not_null()
        if rows.select(undated.any()).item():
            rows = rows.with_columns(
                pl.when(undated).then(parse_dates(pl.col(date_k), pl.col("date_order")))
                .otherwise(pl.col("response_date")).alias("response_date"))
    quarantine.append(_quarantined(
        rows.filter(pl.col("response_date").is_null()), _DATE, pl.col("first_date"),
        pl.col("date_0") if "date_0" in rows.columns else pl.lit(None), "response_date_unreadable",
        pl.lit("no readable response date")))
    rows = rows.filter(pl.col("response_date").is_not_null())
    if dates is not None:  # a date outside the plausible window would make a wave of its own ("1899-00")
        outside = (pl.col("response_date") < dates[0]) | (pl.col("response_date") > dates[1])
        quarantine.append(_quarantined(
            rows.filter(outside), _DATE, pl.col("first_date"), pl.col("response_date").cast(pl.String),
            "response_date_range", pl.format("response date {} is outside the plausible window {} to {} "
                                             "(surveys.earliest_response_date, surveys.response_days_ahead)",
                                             pl.col("response_date"), pl.lit(str(dates[0])), pl.lit(str(dates[1])))))
        rows = rows.filter(~outside)

    rows, school_quarantine = _school(batch, rows, schools, school_fields)
    quarantine += school_quarantine

    # context answers: one not on the question's list is quarantined and left unanswered
    context = _coded(_answers_long(rows, "context", len(instrument.context)), instrument.context,
                     lambda q, text: f"answer {text!r} to {q.text!r} is not one of {list(q.answers)}; "
                     "treated as unanswered")
    quarantine.append(_off_list(batch, context, "context", "context_answer_unknown", _CONTEXT))
    if instrument.context:
        labels = context.filter(pl.col("code").is_not_null()).pivot(
            on="q", index=["file", "row_number"], values="label",
            on_columns=list(range(len(instrument.context))))
        labels = labels.rename({str(j): q.id for j, q in enumerate(instrument.context)})
        rows = rows.join(labels, on=["file", "row_number"], how="left", maintain_order="left")

    rows = rows.join(batch.files.select("file", "tool"), on="file", how="left", maintain_order="left")
    batch.responses = _responses(rows, instrument, pseudonym_key, by_term)
    batch.answers = _answers(batch.responses, items, instrument)
    batch.quarantine = pl.concat(quarantine)
    batch.exclusions = pl.concat(exclusions)


def _responses(rows: pl.DataFrame, instrument: Instrument, pseudonym_key: bytes, by_term: bool) -> pl.DataFrame:
    """The survey_responses rows (and `file`): the wave, `response_key` (keyed hash of tool, instrument,
    reported URN, date and raw id) and `respondent_key` (keyed hash of the respondent field, when filled)."""
    message = pl.concat_str([pl.col("tool"), pl.lit(instrument.id), pl.col("reported_urn"),
                             pl.col("response_date").dt.to_string("%Y-%m-%d"), pl.col("raw_id")],
                            separator="\x1f")
    keys = _hashes(pseudonym_key, rows.select(message).to_series().to_list())
    who = rows.get_column("respondent").to_list()
    filled = iter(_hashes(pseudonym_key, ["respondent\x1f" + normalise(w) for w in who if w is not None]))
    respondent = [None if w is None else next(filled) for w in who]
    schema = _schema(SURVEY_RESPONSES)
    return rows.select(
        pl.Series("response_key", keys, dtype=pl.String),
        pl.Series("respondent_key", respondent, dtype=pl.String),
        pl.lit(instrument.id).alias("instrument"),
        "tool",
        *_waves(instrument.id, pl.col("response_date"), by_term),
        "response_date", "reported_urn", "school_urn",
        *[(pl.col(f) if f in rows.columns else pl.lit(None, pl.String)).alias(f) for f in CONTEXT_FIELDS],
        "items_answered",
        pl.lit(len(instrument.items)).alias("items_total"),
        "row_number",
        "file",
    ).cast(schema)


def _answers(responses: pl.DataFrame, items: pl.DataFrame, instrument: Instrument) -> pl.DataFrame:
    """The survey_answers rows (and `file`) of the kept responses, in row and item order, each scored 0-100
    (negative items reversed) and `agree` when the score is above 50."""
    scores = pl.DataFrame(
        [(q, code, instrument.items[q].id, instrument.score(instrument.items[q], code))
         for q, code in items.select("q", "code").unique().iter_rows()],
        schema={"q": pl.Int32, "code": pl.Int32, "item_id": pl.String, "score": pl.Float64}, orient="row",
    )
    return (
        items.join(responses.select("file", "row_number", "response_key"), on=["file", "row_number"])
        .join(scores, on=["q", "code"])
        .sort("file", "row_number", "q")
        .select(
            "response_key", pl.lit(instrument.id).alias("instrument"), "item_id",
            pl.col("code").alias("answer_code"), "score", (pl.col("score") > 50.0).alias("agree"), "file",
        )
        .cast(_schema(SURVEY_ANSWERS))
    )


# ------------------------------------------------------------------------------------------------ results


def _items_frame(instrument: Instrument) -> pl.DataFrame:
    """The survey_items rows: the instrument's items and scoring rules."""
    return pl.DataFrame(
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


def _summary(e: _Export, responses_kept: int, exclusions: dict[str, int], quarantine: pl.DataFrame,
             schools: SchoolRegister | None) -> dict:
    """The summary `belonging validate` shows: instrument and columns matched, where the school came from,
    counts read, kept, excluded and quarantined, personal data dropped."""
    export, columns, mapping, instrument = e.export, e.columns, e.mapping, e.instrument
    read = columns.read()
    unmatched = [
        c.label for c in export.columns if c.index not in read and c.role is None and not c.free_text
    ]
    rules = Counter(quarantine.get_column("rule").to_list())
    return {
        "file": e.source.relative,
        "tool": export.tool,
        "instrument": instrument.id,
        "items_matched": {k: v.name for k, v in mapping.items.items()},
        "items_unmatched": [i.id for i in instrument.items if i.id not in mapping.items],
        "context_matched": {k: v.name for k, v in mapping.context.items()},
        "unmatched_columns": unmatched,
        "school_from": columns.school.name if columns.school else ("file name" if columns.file_urn else None),
        # only meaningful where the export wrote locale dates a/b/yyyy
        "date_order": columns.date_order if e.facts.slash_dates else None,
        "responses_read": e.facts.rows_read,
        "responses_kept": responses_kept,
        "excluded": exclusions,
        "quarantined": dict(sorted(rules.items())),
        "personal_data_dropped": _personal_data_dropped(export, columns),
        "gias_resolution": schools is not None,
    }


def _results(batch: _Batch, schools: SchoolRegister | None) -> list[ReadResult]:
    """One ReadResult per export of the batch, in the batch's order."""
    def parts(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
        return {k[0]: v.drop("file") for k, v in frame.partition_by("file", as_dict=True).items()}

    responses, answers = parts(batch.responses), parts(batch.answers)
    names = batch.files.select("file", "name")
    quarantine = parts(
        batch.quarantine.join(names, on="file")
        .sort("file", "row_number", "step", "sub", maintain_order=True)
        .select("file", "row_number", "column", "value", "rule",
                pl.format("{}, row {}: {} [{}]", "name", "row_number", "why", "rule").alias("reason"))
    )
    excluded: dict[int, dict[str, int]] = {}
    for file, reason, n in batch.exclusions.group_by("file", "reason").agg(pl.col("n").sum()).sort(
            "file", "reason").iter_rows():
        if n:
            excluded.setdefault(file, {})[reason] = int(n)
    items = _items_frame(batch.instrument)
    out = []
    # an export with no response kept, no answer or no quarantined row: an empty frame of the table
    no_responses, no_answers = batch.responses.clear().drop("file"), batch.answers.clear().drop("file")
    no_quarantine = quarantine_frame([])
    for i, e in enumerate(batch.exports):
        tables = {
            "survey_responses": responses.get(i, no_responses),
            "survey_answers": answers.get(i, no_answers),
            "survey_items": items,
        }
        q = quarantine.get(i, no_quarantine)
        exclusions = excluded.get(i, {})
        out.append(ReadResult(
            tables=tables,
            quarantine=q,
            source_kind="survey",
            publication=e.export.tool,
            vintage=batch.instrument.id,
            encoding=e.export.encoding,
            rows_read=e.facts.rows_read,
            exclusions=exclusions,
            summary=_summary(e, tables["survey_responses"].height, exclusions, q, schools),
        ))
    return out


def response_window(settings: dict) -> tuple[date, date] | None:
    """The plausible response dates of settings `surveys` (earliest_response_date, response_days_ahead), or
    None when neither is set (no window)."""
    if "earliest_response_date" not in settings and "response_days_ahead" not in settings:
        return None
    earliest = date.fromisoformat(str(settings.get("earliest_response_date", "1900-01-01")))
    return earliest, date.today() + timedelta(days=int(settings.get("response_days_ahead", 0)))


def read_surveys(
    sources: list[SourceFile],
    *,
    schools: SchoolRegister | None,
    pseudonym_key: bytes,
    settings: dict | None,
    instruments: list[Instrument] | None = None,
) -> list[ReadResult | UnknownFormat | UnreadableFile]:
    """Read survey exports (any known tool) against the instruments in ingestion/instruments/: for each source,
    in order, its ReadResult, or the UnknownFormat / UnreadableFile that refuses the whole file.

    `settings` is the `surveys:` section of config/settings.yaml: `school_fields` (tried in order),
    `wave_by_term`, and optionally `respondent_fields` (columns holding a pupil/staff identifier to hash
    into `respondent_key`) and `instruments_dir`. `schools=None` skips GIAS resolution (school_urn is the
    reported URN): for `belonging validate` before GIAS is loaded; an empty register is treated the same.

    Raises ValueError for an empty pseudonym key.
    """
    pseudonym_key = _checked_key(pseudonym_key)
    settings = settings or {}
    schools = _register_or_none(schools)
    if instruments is None:
        instruments = load_instruments(settings.get("instruments_dir"))
    by_term = bool(settings.get("wave_by_term", True))
    school_fields = list(settings.get("school_fields") or DEFAULT_SCHOOL_FIELDS)
    out: list[ReadResult | UnknownFormat | UnreadableFile | None] = [None] * len(sources)
    by_instrument: dict[str, list[tuple[int, _Export]]] = {}
    for i, source in enumerate(sources):
        try:
            e = _prepare(source, instruments, settings)
        except (UnknownFormat, UnreadableFile) as exc:
            out[i] = exc
            continue
        by_instrument.setdefault(e.instrument.id, []).append((i, e))
    for members in by_instrument.values():
        exports = [e for _, e in members]
        n_dates = max(len(e.dates) for e in exports)
        n_candidates = max(len(e.candidates) for e in exports)
        # the rows of every export in one frame: one query per layout, however many files
        layouts: dict[tuple, list[tuple[int, _Export]]] = {}
        for f, e in enumerate(exports):
            layouts.setdefault(e.export.layout, []).append((f, e))
        rows = pl.concat([_projected(g, n_dates, n_candidates) for g in layouts.values()]).collect()
        rows = _chosen(rows, _choose(exports, rows, n_dates, n_candidates), n_candidates)
        batch = _batch(exports[0].instrument, exports)
        _read_rows(batch, rows.sort("file", "row_number"), schools, pseudonym_key, by_term, school_fields,
                   response_window(settings))
        for (i, _), result in zip(members, _results(batch, schools), strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


def read_survey(
    source: SourceFile,
    *,
    schools: SchoolRegister | None,
    pseudonym_key: bytes,
    settings: dict | None,
    instruments: list[Instrument] | None = None,
) -> ReadResult:
    """Read one survey export (read_surveys of one). Raises ValueError for an empty pseudonym key,
    UnknownFormat for a file of no known tool or matching no instrument, UnreadableFile for a file that cannot
    be read."""
    [result] = read_surveys([source], schools=schools, pseudonym_key=pseudonym_key, settings=settings,
                            instruments=instruments)
    if isinstance(result, Exception):
        raise result
    return result
