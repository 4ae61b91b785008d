"""Property-based tests of every reader: arbitrary bytes, and tables that are well formed but wrong (a real header
with arbitrary cells, arbitrary headers), give a result or a typed, explained error: UnreadableFile or
UnknownFormat (FileRefused included) with one line naming the file; never another exception, never a
traceback. Example counts are modest (EXAMPLES per property) so the suite stays fast."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import ees, gias
from ingestion.describe import looks_like
from ingestion.files import UnreadableFile, decode
from ingestion.lake import SourceFile
from ingestion.limits import check_file
from ingestion.results import ReadResult, UnknownFormat
from ingestion.surveys import read_surveys
from ingestion.validate import validate_file
from tests.conftest import SETTINGS
from tests.fixtures.bad_inputs.catalogue import MSFORMS_HEAD, ees_rows, gias_rows, qualtrics_rows

EXAMPLES = 40
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)
KEY = b"property-test-key"
NAME = "input.csv"

cells = st.one_of(st.text(max_size=12), st.sampled_from(["", "c", "x", "z", "-1", "1e+05", "202223", "School",
                                                         "National", "100001", "’", "\x00", "\r", '"']))


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def _source(data: bytes, name: str = NAME) -> SourceFile:
    folder = Path(tempfile.mkdtemp(prefix="prop-"))
    path = folder / name
    path.write_bytes(data)
    return SourceFile(path, name, "0" * 64, datetime(2026, 1, 1, tzinfo=UTC))


def _outcome(call, source: SourceFile):
    """What `call(source)` gives: its ReadResult, or the message of the typed error it raised (UnreadableFile,
    UnknownFormat); any other exception propagates and fails the property."""
    try:
        return call(source)
    except (UnreadableFile, UnknownFormat) as exc:
        return str(exc)


def _read_or_explained(outcome, source: SourceFile) -> bool:
    """A ReadResult, or one line naming the file (no traceback)."""
    if isinstance(outcome, str):
        return outcome.startswith(Path(source.path).name) and "\n" not in outcome and "Traceback" not in outcome
    return isinstance(outcome, ReadResult)


def _read_survey(source: SourceFile):
    (out,) = read_surveys([source], schools=None, pseudonym_key=KEY, settings=SETTINGS["surveys"])
    if isinstance(out, Exception):
        raise out
    return out


READERS = {"ees": lambda s: ees.read_ees(s, SETTINGS["limits"]), "gias": gias.read_gias,
           "survey": _read_survey}


@PROPERTY
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_are_read_or_explained_by_every_reader(data):
    for reader in READERS.values():
        source = _source(data)
        outcome = _outcome(reader, source)
        assert _read_or_explained(outcome, source), outcome


@PROPERTY
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_are_decoded_per_line_or_refused_naming_the_line(data):
    try:
        text, encoding, lines = decode(data, NAME)
    except UnreadableFile as exc:
        assert str(exc).startswith(f"{NAME}: line ") and "\n" not in str(exc)
        return
    assert encoding.startswith(("utf-8", "cp1252"))
    # no latin-1 guess: a C1 control character comes only from UTF-8 that holds one
    assert all(not ("\x80" <= ch <= "\x9f") for ch in text) or encoding.startswith("utf-8")


@PROPERTY
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_are_described_and_validated_in_one_line(data):
    source = _source(data)
    assert "\n" not in looks_like(source.path)
    check_file(source.path, SETTINGS["limits"]) if b"," in data else None
    report = validate_file(source.path, limits=SETTINGS["limits"], settings=SETTINGS["surveys"])
    assert report.ok or (report.error and "\n" not in report.error)


@PROPERTY
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=25), min_size=0, max_size=6))
def test_an_ees_header_with_arbitrary_cells_is_read_or_explained(rows):
    header = ees_rows()[0]
    source = _source(_csv([header, *[(r * 25)[:len(header)] for r in rows]]))
    outcome = _outcome(READERS["ees"], source)
    assert _read_or_explained(outcome, source), outcome


@PROPERTY
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=12), min_size=0, max_size=6))
def test_a_gias_header_with_arbitrary_cells_is_read_or_explained(rows):
    header = gias_rows()[0]
    source = _source(_csv([header, *[(r * 200)[:len(header)] for r in rows]]))
    outcome = _outcome(READERS["gias"], source)
    assert _read_or_explained(outcome, source), outcome


@PROPERTY
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=12), min_size=0, max_size=6))
def test_a_qualtrics_header_with_arbitrary_cells_is_read_or_explained(rows):
    head = qualtrics_rows()[:3]
    width = len(head[0])
    source = _source(_csv([*head, *[(r * 40)[:width] for r in rows]]))
    outcome = _outcome(READERS["survey"], source)
    assert _read_or_explained(outcome, source), outcome


@PROPERTY
@given(rows=st.lists(st.lists(st.one_of(cells, st.integers(-10, 10**7), st.none()), min_size=1, max_size=12),
                     min_size=0, max_size=5))
def test_a_forms_workbook_with_arbitrary_cells_is_read_or_explained(rows):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(MSFORMS_HEAD)
    for r in rows:
        # openpyxl refuses control characters in cells: those are the CSV properties' to try
        ws.append([c if not isinstance(c, str) else "".join(ch for ch in c if ch >= " ") for c in r])
    buf = io.BytesIO()
    wb.save(buf)
    source = _source(buf.getvalue(), "forms.xlsx")
    outcome = _outcome(READERS["survey"], source)
    assert _read_or_explained(outcome, source), outcome


@PROPERTY
@given(header=st.lists(st.text(min_size=1, max_size=10).filter(lambda t: "\x00" not in t), min_size=1,
                       max_size=8, unique=True),
       rows=st.lists(st.lists(cells, min_size=1, max_size=8), max_size=4))
def test_an_arbitrary_header_is_read_or_explained_by_every_reader(header, rows):
    data = _csv([header, *rows])
    for reader in READERS.values():
        source = _source(data)
        outcome = _outcome(reader, source)
        assert _read_or_explained(outcome, source), outcome
