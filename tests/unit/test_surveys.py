"""Survey exports: detection, reading each tool's real layout for both instruments, scoring, waves,
instruments as configuration, pseudonymisation and personal data."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from ingestion.lake import SourceFile, with_provenance
from ingestion.lake_schema import GIAS_ESTABLISHMENTS, GIAS_LINKS, TABLES, conform
from ingestion.results import UnknownFormat
from ingestion.surveys import (
    InstrumentError,
    SchoolRegister,
    academic_year,
    detect_tool,
    load_instrument,
    load_instruments,
    parse_export,
    read_survey,
    sniff,
    term_of,
    wave_of,
)
from ingestion.surveys.instruments import normalise
from ingestion.surveys.reader import text_forms
from tests.conftest import FIXTURES

SURVEYS = FIXTURES / "surveys"
KEY = b"test-pseudonym-key"
SETTINGS = {
    "school_fields": ["School URN", "URN", "ExternalReference", "ExternalDataReference", "school_urn"],
    "wave_by_term": True,
}
PUPIL_STEM = "Thinking about your school: to what extent do you agree with the following statements?"
PUPIL_STATEMENTS = [
    "I feel like an outsider (or left out of things) at school.",
    "I make friends easily at school.",
    "I feel like I belong at school.",
    "I feel awkward and out of place in my school.",
    "Other students seem to like me.",
    "I feel lonely at school.",
]
STAFF_STATEMENTS = [
    "I feel valued as a member of staff at this school.",
    "I can be myself at work.",
    "My views are listened to and acted on.",
    "I feel part of a team.",
    "I would recommend this school as a place to work.",
]


def _est(urn, status="Open", opened=None, closed=None):
    return {"urn": urn, "establishment_status": status, "open_date": opened, "close_date": closed}


@pytest.fixture(scope="module")
def schools() -> SchoolRegister:
    est_schema = {k: v for k, v in GIAS_ESTABLISHMENTS.items() if not k.startswith("_")}
    link_schema = {k: v for k, v in GIAS_LINKS.items() if not k.startswith("_")}
    est = pl.DataFrame(
        [
            _est("100001"),
            _est("100002"),
            _est("100003"),
            _est("100010", "Closed", closed=date(2025, 8, 31)),
            _est("140010", opened=date(2025, 9, 1)),
            _est("100011", "Closed", closed=date(2024, 8, 31)),
        ],
        schema={k: est_schema[k] for k in ("urn", "establishment_status", "open_date", "close_date")},
    )
    links = pl.DataFrame(
        [{"urn": "100010", "link_urn": "140010", "link_type": "Successor", "link_established_date": None}],
        schema={k: link_schema[k] for k in ("urn", "link_urn", "link_type", "link_established_date")},
    )
    return SchoolRegister.from_frames(est, links)


def source_of(path: Path) -> SourceFile:
    return SourceFile(Path(path).resolve(), Path(path).name, "0" * 64, datetime(2026, 6, 1, tzinfo=UTC))


def read(path: Path, schools: SchoolRegister | None, **kw):
    settings = kw.pop("settings", SETTINGS)
    return read_survey(source_of(path), schools=schools, pseudonym_key=KEY, settings=settings, **kw)


def responses(result) -> list[dict]:
    return result.tables["survey_responses"].sort("row_number").to_dicts()


def answers_of(result, row_number: int) -> dict[str, tuple[int, float, bool]]:
    r = result.tables["survey_responses"].filter(pl.col("row_number") == row_number)
    key = r["response_key"][0]
    a = result.tables["survey_answers"].filter(pl.col("response_key") == key)
    return {d["item_id"]: (d["answer_code"], round(d["score"], 2), d["agree"]) for d in a.to_dicts()}


def write_msforms(path: Path, header: list[str], rows: list[list]) -> Path:
    """A Microsoft Forms export as Forms writes it: one sheet, one header row, statements alone."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


MSFORMS_HEAD = ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time"]


@pytest.fixture
def msforms_pupil(tmp_path) -> Path:
    # no school column: the school is the URN in the file name
    header = [*MSFORMS_HEAD, *PUPIL_STATEMENTS, "What year are you in?", "Which best describes your gender?"]
    header += [
        "Do you have special educational needs or a disability (SEND)?",
        "Do you receive free school meals?",
    ]
    header += ["Anything else you want to tell us?"]
    answers1 = ["Disagree", "Agree", "Strongly agree", "Strongly disagree", "Agree", "Disagree"]
    answers2 = ["agree", "disagree", "Disagree", "agree", "Strongly disagree", "Agree"]
    rows = [
        [
            1,
            "4/15/2026 22:31",
            "4/15/2026 22:38",
            "anonymous",
            "",
            "",
            *answers1,
            "Year 5",
            "Boy",
            "No",
            "Yes",
            "",
        ],
        [
            2,
            datetime(2026, 4, 16, 9, 0),
            datetime(2026, 4, 16, 9, 4),
            "PIIMARK-MF-EMAIL-2@example.org",
            "PIIMARK-MF-NAME-2",
            "",
            *answers2,
            "Year 6",
            "Girl",
            "Don't know",
            "No",
            "PIIMARK-MF-FREETEXT-2",
        ],
    ]
    return write_msforms(tmp_path / "msforms_pupil_labels_100002.xlsx", header, rows)


@pytest.fixture
def msforms_staff(tmp_path) -> Path:
    # UK locale dates (day first) and a School URN question
    header = [*MSFORMS_HEAD[:5], "School URN", "What is your role?", *STAFF_STATEMENTS]
    rows = [
        [
            1,
            "15/04/2026 08:01",
            "15/04/2026 08:05",
            "PIIMARK-MS-EMAIL-1@example.org",
            "PIIMARK-MS-NAME-1",
            100001,
        ]
        + ["Leader", "Agree", "Strongly agree", "Neither agree nor disagree", "Agree", "Disagree"],
        [2, "02/05/2026 12:00", "02/05/2026 12:03", "anonymous", "", "100001"]
        + ["Support staff", "Strongly disagree", "Disagree", "Disagree", "Agree", "Agree"],
    ]
    return write_msforms(tmp_path / "msforms_staff.xlsx", header, rows)


# ----------------------------------------------------------------------------------------- detection

CSV_FIXTURES = {
    "qualtrics_pupil_labels.csv": "qualtrics",
    "qualtrics_pupil_codes_exclusions.csv": "qualtrics",
    "qualtrics_staff_codes_embedded_urn.csv": "qualtrics",
    "qualtrics_legacy_pupil_codes.csv": "qualtrics_legacy",
    "surveymonkey_staff_labels_100003.csv": "surveymonkey",
    "googleforms_pupil_labels.csv": "googleforms",
    "redcap_pupil_codes.csv": "redcap",
}


@pytest.mark.parametrize(("name", "tool"), sorted(CSV_FIXTURES.items()))
def test_detect_tool_from_headers(name, tool, tmp_path):
    # recognised from content, not the file name: a copy under a neutral name is still recognised
    neutral = tmp_path / "export.dat"
    shutil.copy(SURVEYS / name, neutral)
    assert detect_tool(neutral) == tool
    assert sniff(neutral)


def test_detect_msforms_xlsx(msforms_pupil, msforms_staff):
    assert detect_tool(msforms_pupil) == "msforms"
    assert detect_tool(msforms_staff) == "msforms"


def test_non_survey_files_are_not_sniffed(reference, tmp_path):
    assert detect_tool(reference / "dfe" / "gias_edubasealldata_sample_2018.csv") is None
    assert not sniff(reference / "dfe" / "gias_links_edubasealldata20250903_head.csv")
    other = write_msforms(tmp_path / "book.xlsx", ["URN", "Name"], [["100001", "x"]])
    assert detect_tool(other) is None
    with pytest.raises(UnknownFormat, match="book.xlsx: not recognised: an Excel workbook whose first row is not a Microsoft Forms header"):
        parse_export(other)


# ---------------------------------------------------------------------------- the real Qualtrics sample


def test_reference_qualtrics_sample_is_parsed_but_matches_no_instrument(reference, schools):
    path = reference / "surveys" / "qualtrics_sample_v3_3header.csv"
    assert detect_tool(path) == "qualtrics"
    export = parse_export(path)
    assert len(export.rows) == 1
    roles = {c.name: c.role for c in export.columns}
    assert roles["IPAddress"] == roles["LocationLatitude"] == roles["LocationLongitude"] == "personal"
    assert roles["ResponseId"] == "response_id"
    # the outcome: UnknownFormat naming the unmatched question columns (the loader quarantines the file)
    with pytest.raises(UnknownFormat) as err:
        read(path, schools)
    message = str(err.value)
    assert "matches no survey instrument" in message
    assert "pupil_belonging 0 of 6 items" in message and "staff_belonging 0 of 5 items" in message
    assert "Q1 (This is a multiple choice question.)" in message
    assert "130.92.34.66" not in message and "47.115097045898" not in message


def test_reference_qualtrics_sample_reads_with_an_instrument_added_as_yaml_only(reference, schools, tmp_path):
    # a third instrument is a file, no Python: the sample's one multiple-choice question as a 3-point item
    folder = tmp_path / "instruments"
    folder.mkdir()
    (folder / "sample.yaml").write_text(
        "id: sample_check\n"
        "scale: {answers: [Low, Middle, High], agree_end: last}\n"
        "min_items_answered: 1\n"
        "items:\n"
        "  - {id: mc, text: This is a multiple choice question, negative: false}\n",
        encoding="utf-8",
    )
    # the export names no school: the URN comes from the file name
    copy = tmp_path / "qualtrics_sample_100001.csv"
    shutil.copy(reference / "surveys" / "qualtrics_sample_v3_3header.csv", copy)
    result = read(copy, schools, settings={**SETTINGS, "instruments_dir": str(folder)})
    [resp] = responses(result)
    assert resp["instrument"] == "sample_check"
    assert resp["response_date"] == date(2017, 7, 18)
    assert (resp["time_period"], resp["term"], resp["wave"]) == (
        201617,
        "summer",
        "sample_check/2016-17/summer",
    )
    assert resp["school_urn"] == "100001" and resp["items_answered"] == 1
    assert answers_of(result, 1) == {"mc": (2, 50.0, False)}
    dropped = result.summary["personal_data_dropped"]
    assert {"IPAddress", "LocationLatitude", "LocationLongitude"} <= set(dropped)
    assert "Q2" in dropped  # the free-text answer
    everything = _everything(result)
    for value in ("130.92.34.66", "47.115097045898", "7.2315979003906", "Hello World!", "R_2YPOQ602ER1jkf1"):
        assert value not in everything


# ------------------------------------------------------------------------------------ each tool's layout


def test_qualtrics_labels_pupil(schools):
    result = read(SURVEYS / "qualtrics_pupil_labels.csv", schools)
    assert (result.publication, result.vintage, result.source_kind) == (
        "qualtrics",
        "pupil_belonging",
        "survey",
    )
    assert result.encoding == "utf-8-sig" and result.rows_read == 3
    rows = responses(result)
    assert [r["wave"] for r in rows] == [
        "pupil_belonging/2025-26/spring",
        "pupil_belonging/2025-26/summer",
        "pupil_belonging/2025-26/autumn",
    ]
    assert [(r["year_group"], r["gender"], r["send"], r["fsm"]) for r in rows] == [
        ("Year 8", "Girl", "No", "Yes"),
        ("Prefer not to say", "Prefer not to say", "Don't know", "Prefer not to say"),  # curly ’ in the file
        ("Year 11", "In another way", "Yes", "No"),
    ]
    assert [r["school_urn"] for r in rows] == ["100001", "100002", "100001"]
    assert all((r["items_answered"], r["items_total"]) == (6, 6) for r in rows)
    # outsider (negative) Strongly disagree -> 100; Agree on a positive item -> 66.67; lonely (negative) SD -> 100
    assert answers_of(result, 1) == {
        "outsider": (4, 100.0, True),
        "make_friends": (2, 66.67, True),
        "belong": (1, 100.0, True),
        "awkward": (3, 66.67, True),
        "liked": (2, 66.67, True),
        "lonely": (4, 100.0, True),
    }
    # lower-case and upper-case labels; negative item answered Agree is on the not-belonging side
    assert answers_of(result, 2)["outsider"] == (2, 33.33, False)
    assert answers_of(result, 2)["belong"] == (3, 33.33, False)
    assert result.exclusions == {} and result.quarantine.height == 0
    assert result.summary["items_unmatched"] == [] and result.summary["school_from"] == "ExternalReference"


def test_qualtrics_numeric_codes_staff_with_embedded_urn(schools):
    result = read(SURVEYS / "qualtrics_staff_codes_embedded_urn.csv", schools)
    rows = responses(result)
    assert result.vintage == "staff_belonging"
    assert [(r["role"], r["school_urn"], r["items_answered"]) for r in rows] == [
        ("Teacher", "100002", 5),
        ("Support staff", "100002", 4),
    ]
    assert [r["wave"] for r in rows] == ["staff_belonging/2025-26/autumn"] * 2
    # staff: Strongly disagree=1 ... Strongly agree=5; Neither (3) scores 50 and is not agree
    assert answers_of(result, 1) == {
        "valued": (5, 100.0, True),
        "be_myself": (4, 75.0, True),
        "listened_to": (3, 50.0, False),
        "part_of_team": (2, 25.0, False),
        "recommend": (1, 0.0, False),
    }
    # ExternalReference holds emails here: not a school field, dropped as personal data
    assert result.summary["school_from"] == "URN"
    assert "ExternalReference" in result.summary["personal_data_dropped"]


def test_qualtrics_legacy_two_header_rows_trailing_comma(schools):
    result = read(SURVEYS / "qualtrics_legacy_pupil_codes.csv", schools)
    assert result.publication == "qualtrics_legacy"
    assert result.summary["items_matched"]["outsider"] == "Q1_1"  # `<stem>-<statement>` in row 2
    assert result.exclusions == {"preview": 1}
    rows = responses(result)
    assert [(r["row_number"], r["time_period"], r["term"], r["year_group"]) for r in rows] == [
        (1, 201516, "summer", "Year 9"),
        (3, 201617, "autumn", "Year 7"),
    ]
    assert rows[1]["items_answered"] == 5
    assert answers_of(result, 1)["outsider"] == (1, 0.0, False)
    assert set(result.summary["personal_data_dropped"]) >= {
        "Name",
        "EmailAddress",
        "IPAddress",
        "LocationAccuracy",
    }


def test_surveymonkey_stem_over_statements_and_school_from_file_name(schools):
    result = read(SURVEYS / "surveymonkey_staff_labels_100003.csv", schools)
    assert result.summary["school_from"] == "file name"
    rows = responses(result)
    assert [(r["response_date"], r["role"], r["school_urn"], r["items_answered"]) for r in rows] == [
        (date(2025, 11, 18), "Teacher", "100003", 5),
        (date(2025, 11, 19), "Other", "100003", 5),
        (date(2025, 12, 1), "Support staff", "100003", 4),
    ]
    assert answers_of(result, 1)["valued"] == (5, 100.0, True)
    assert answers_of(result, 2)["part_of_team"] == (3, 50.0, False)
    assert {"Custom Data 1", "Email Address", "IP Address"} <= set(result.summary["personal_data_dropped"])


def test_msforms_statement_alone_locale_dates(msforms_pupil, msforms_staff, schools):
    pupil = read(msforms_pupil, schools)
    rows = responses(pupil)
    assert pupil.publication == "msforms" and pupil.encoding == "xlsx"
    assert [(r["response_date"], r["year_group"], r["school_urn"]) for r in rows] == [
        (date(2026, 4, 15), "Year 5", "100002"),  # "4/15/2026 22:38"
        (date(2026, 4, 16), "Year 6", "100002"),  # a date cell
    ]
    assert answers_of(pupil, 1)["belong"] == (1, 100.0, True)
    staff = read(msforms_staff, schools)
    rows = responses(staff)
    assert staff.summary["date_order"] == "dmy"
    assert [(r["response_date"], r["term"], r["role"], r["school_urn"]) for r in rows] == [
        (date(2026, 4, 15), "spring", "Leader", "100001"),
        (date(2026, 5, 2), "summer", "Support staff", "100001"),
    ]
    assert answers_of(staff, 2)["valued"] == (1, 0.0, False)


def test_googleforms_bracket_matrix_with_dropped_full_stop(schools):
    result = read(SURVEYS / "googleforms_pupil_labels.csv", schools)
    assert result.summary["items_unmatched"] == []
    rows = responses(result)
    assert [(r["response_date"], r["school_urn"], r["year_group"], r["send"]) for r in rows] == [
        (date(2026, 3, 2), "100001", "Year 7", "No"),
        (date(2026, 3, 2), "100001", "Year 9", "Yes"),
        (date(2026, 5, 11), "100002", "Year 10", "Prefer not to say"),
    ]
    # two pupils in the same minute are two responses (no response id in Google Forms)
    assert result.tables["survey_responses"]["response_key"].n_unique() == 3
    assert answers_of(result, 2)["lonely"] == (1, 0.0, False)


def test_redcap_variable_names_and_codes(schools):
    result = read(SURVEYS / "redcap_pupil_codes.csv", schools)
    rows = responses(result)
    assert [(r["year_group"], r["gender"], r["send"], r["fsm"]) for r in rows] == [
        ("Year 7", "Girl", "No", "Yes"),
        ("Year 13", "Boy", "Yes", "No"),
    ]
    assert answers_of(result, 2)["outsider"] == (1, 0.0, False)
    assert result.exclusions == {"incomplete": 1}  # the [not completed] record answered 1 item of 6
    assert "redcap_survey_identifier" in result.summary["personal_data_dropped"]


def test_tables_conform_to_the_lake_contract(schools):
    result = read(SURVEYS / "qualtrics_pupil_labels.csv", schools)
    source = source_of(SURVEYS / "qualtrics_pupil_labels.csv")
    for table, frame in result.tables.items():
        conformed = conform(table, with_provenance(frame, source))
        assert conformed.columns == list(TABLES[table])
        assert conformed.height == frame.height
    items = result.tables["survey_items"].to_dicts()
    assert [i["item_id"] for i in items] == [
        "outsider",
        "make_friends",
        "belong",
        "awkward",
        "liked",
        "lonely",
    ]
    assert {i["item_id"] for i in items if i["negative"]} == {"outsider", "awkward", "lonely"}
    assert {(i["scale_points"], i["min_items_answered"], i["items_total"]) for i in items} == {(4, 4, 6)}
    assert result.rows_loaded == 3
    assert result.tables["survey_answers"].height == 18


# ------------------------------------------------------------------------------- waves and scoring


@pytest.mark.parametrize(
    ("day", "period", "label", "term"),
    [
        (date(2025, 9, 1), 202526, "2025-26", "autumn"),
        (date(2025, 12, 31), 202526, "2025-26", "autumn"),
        (date(2026, 1, 1), 202526, "2025-26", "spring"),
        (date(2026, 4, 30), 202526, "2025-26", "spring"),
        (date(2026, 5, 1), 202526, "2025-26", "summer"),
        (date(2026, 8, 31), 202526, "2025-26", "summer"),
        (date(1999, 10, 1), 199900, "1999-00", "autumn"),
    ],
)
def test_academic_year_and_term(day, period, label, term):
    assert academic_year(day) == (period, label)
    assert term_of(day) == term


def test_waves_by_year_only_when_configured(schools):
    assert wave_of("pupil_belonging", date(2026, 3, 1), False) == ("pupil_belonging/2025-26", 202526, None)
    result = read(
        SURVEYS / "qualtrics_pupil_labels.csv", schools, settings={**SETTINGS, "wave_by_term": False}
    )
    assert set(result.tables["survey_responses"]["wave"]) == {"pupil_belonging/2025-26"}
    assert result.tables["survey_responses"]["term"].null_count() == 3


@pytest.mark.parametrize(
    ("instrument", "item", "code", "score", "agree"),
    [
        ("pupil_belonging", "belong", 1, 100.0, True),  # Strongly agree, positive item
        ("pupil_belonging", "belong", 2, 66.67, True),
        ("pupil_belonging", "belong", 3, 33.33, False),
        ("pupil_belonging", "belong", 4, 0.0, False),
        ("pupil_belonging", "lonely", 1, 0.0, False),  # Strongly agree, negative item: reversed
        ("pupil_belonging", "lonely", 4, 100.0, True),
        ("staff_belonging", "valued", 5, 100.0, True),
        ("staff_belonging", "valued", 3, 50.0, False),  # Neither is not agree
        ("staff_belonging", "valued", 1, 0.0, False),
    ],
)
def test_item_scores(instrument, item, code, score, agree):
    inst = {i.id: i for i in load_instruments()}[instrument]
    question = {q.id: q for q in inst.items}[item]
    assert round(inst.score(question, code), 2) == score
    assert (inst.score(question, code) > 50) is agree


# ------------------------------------------------------------------------------ instruments as config


def test_shipped_instruments():
    found = {i.id: i for i in load_instruments()}
    assert set(found) == {"pupil_belonging", "staff_belonging"}
    pupil, staff = found["pupil_belonging"], found["staff_belonging"]
    assert [q.text for q in pupil.items] == PUPIL_STATEMENTS
    assert [q.text for q in staff.items] == STAFF_STATEMENTS
    assert (pupil.scale_points, pupil.min_items_answered, staff.scale_points, staff.min_items_answered) == (
        4,
        4,
        5,
        4,
    )
    context = {q.id: q.answers for q in pupil.context}
    assert context["year_group"][0] == "Year 5" and context["year_group"][-1] == "Prefer not to say"
    assert len(context["year_group"]) == 10
    assert context["send"] == ("Yes", "No", "Don't know", "Prefer not to say")  # not YAML booleans
    assert [q.answers for q in staff.context] == [("Teacher", "Leader", "Support staff", "Other")]
    # numeric code = position; labels case-insensitive
    year = {q.id: q for q in pupil.context}["year_group"]
    assert (year.code_of("1"), year.code_of(9), year.code_of("year 13"), year.code_of("11")) == (
        1,
        9,
        9,
        None,
    )


def test_instrument_file_errors_name_the_file_and_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\nscale: {answers: [No, Yes]}\nitems: [{id: a, text: A}]\n"
        "context: [{field: postcode, text: 'Where?', answers: [A]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(
        InstrumentError, match=r"bad.yaml context\[1\]: field 'postcode' is not a survey_responses"
    ):
        load_instrument(bad)
    bad.write_text("id: x\nscale: {answers: [No, Yes], agree_end: top}\nitems: [{id: a, text: A}]\n")
    with pytest.raises(InstrumentError, match="agree_end must be"):
        load_instrument(bad)
    good = tmp_path / "good.yaml"
    good.write_text("id: y\nscale: {answers: [No, Yes]}\nitems: [{id: a, text: A}, {id: b, text: B}]\n")
    assert load_instrument(good).min_items_answered == 2  # default: two-thirds rounded up


def test_text_matching_forms():
    assert normalise("  I feel LONELY   at school.  ") == "i feel lonely at school"
    assert normalise("Don’t know") == "don't know"
    assert "i feel lonely at school" in text_forms(f"{PUPIL_STEM} - I feel lonely at school.")
    assert "i feel lonely at school" in text_forms(f"{PUPIL_STEM} [I feel lonely at school]")
    assert "i feel lonely at school" in text_forms(f"{PUPIL_STEM}-I feel lonely at school.")
    assert "i feel lonely at school" not in text_forms("I feel lonely at school sometimes")


def test_an_export_matching_too_few_items_is_unknown(tmp_path, schools):
    path = tmp_path / "googleforms_100001.csv"
    path.write_text(
        "Timestamp,I feel lonely at school.,I feel like I belong at school.,Favourite colour\n"
        "2026/03/02 9:15:01 AM GMT,Agree,Agree,Blue\n",
        encoding="utf-8",
    )
    with pytest.raises(UnknownFormat, match=r"pupil_belonging 2 of 6 items.*Favourite colour"):
        read(path, schools)


# -------------------------------------------------------------------------- pseudonyms, personal data


def test_empty_pseudonym_key_is_refused(schools):
    with pytest.raises(ValueError, match="empty pseudonym key"):
        read_survey(
            source_of(SURVEYS / "qualtrics_pupil_labels.csv"),
            schools=schools,
            pseudonym_key=b"",
            settings=SETTINGS,
        )


def test_response_key_is_a_keyed_hash_stable_across_reads(schools):
    path = SURVEYS / "qualtrics_pupil_labels.csv"
    a = read(path, schools).tables["survey_responses"]["response_key"].to_list()
    b = read(path, schools).tables["survey_responses"]["response_key"].to_list()
    other = read_survey(source_of(path), schools=schools, pseudonym_key=b"another-key", settings=SETTINGS)
    assert a == b and len(set(a)) == 3
    # HMAC-SHA256 under the pseudonym key of tool, instrument, reported URN, response date and response id:
    # pinned exactly, because a key computed any other way no longer matches the keys already in the lake and
    # every cumulative re-export would count its responses again
    first = responses(read(path, schools))[0]
    assert (first["tool"], first["instrument"], first["reported_urn"], first["response_date"]) == (
        "qualtrics", "pupil_belonging", "100001", date(2026, 3, 10))  # fmt: skip
    message = "\x1f".join(["qualtrics", "pupil_belonging", "100001", "2026-03-10", "R_3kLpQ2aVb1"]).encode()
    assert first["response_key"] == hmac.new(KEY, message, hashlib.sha256).hexdigest()
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for k in a)
    assert set(a).isdisjoint(other.tables["survey_responses"]["response_key"].to_list())
    assert "R_3kLpQ2aVb1" not in _everything(read(path, schools))


def test_respondent_key_from_a_configured_identifier_column(schools):
    path = SURVEYS / "qualtrics_staff_codes_embedded_urn.csv"
    result = read(path, schools, settings={**SETTINGS, "respondent_fields": ["ExternalReference"]})
    keys = result.tables["survey_responses"]["respondent_key"].to_list()
    assert all(k is not None and len(k) == 64 for k in keys) and len(set(keys)) == 2
    assert "ExternalReference" in result.summary["personal_data_dropped"]
    assert "PIIMARK" not in _everything(result)
    assert read(path, schools).tables["survey_responses"]["respondent_key"].null_count() == 2


def _everything(result) -> str:
    """Every value and column name of every returned frame, the quarantine and the summary, as text."""
    parts = []
    for frame in [*result.tables.values(), result.quarantine]:
        parts.append(" ".join(frame.columns))
        for column in frame.columns:
            parts.extend(str(v) for v in frame[column].to_list())
    parts.append(json.dumps(result.summary, default=str))
    parts.append(json.dumps(result.exclusions))
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(CSV_FIXTURES))
def test_no_personal_data_leaves_the_reader(name, schools):
    path = SURVEYS / name
    planted = path.read_text(encoding="utf-8-sig").count("PIIMARK")
    assert planted >= 3, "each fixture plants markers in its personal-data fields"
    result = read(path, schools)
    assert result.tables["survey_responses"].height >= 2
    assert "PIIMARK" not in _everything(result)


def test_no_personal_data_leaves_the_reader_msforms(msforms_pupil, msforms_staff, schools):
    for path in (msforms_pupil, msforms_staff):
        wb = openpyxl.load_workbook(path)
        cells = [str(c) for row in wb.active.iter_rows(values_only=True) for c in row]
        assert any("PIIMARK" in c for c in cells)
        result = read(path, schools)
        assert result.tables["survey_responses"].height == 2
        assert "PIIMARK" not in _everything(result)
        assert {"Email", "Name"} <= set(result.summary["personal_data_dropped"])


def test_a_response_id_twice_in_one_export_the_first_counts(tmp_path, schools):
    """Qualtrics labels export with its first response repeated at the end, re-answered: the first copy counts."""
    lines = (SURVEYS / "qualtrics_pupil_labels.csv").read_text(encoding="utf-8-sig").splitlines()
    again = lines[3].replace("Strongly disagree,Agree,Strongly agree", "Strongly agree,Disagree,Strongly disagree")
    assert again != lines[3] and "R_3kLpQ2aVb1" in again
    path = tmp_path / "qualtrics_repeated.csv"
    path.write_text("\r\n".join([*lines, again]) + "\r\n", encoding="utf-8")
    original = read(SURVEYS / "qualtrics_pupil_labels.csv", schools)
    repeated = read(path, schools)
    assert repeated.exclusions == original.exclusions | {"duplicate": 1}
    assert [r["response_key"] for r in responses(repeated)] == [r["response_key"] for r in responses(original)]
    assert answers_of(repeated, 1) == answers_of(original, 1)
    # the second copy's answers are other answers: had it counted, the first response's answers would differ
    swapped = tmp_path / "qualtrics_swapped.csv"
    swapped.write_text("\r\n".join([*lines[:3], again, *lines[4:]]) + "\r\n", encoding="utf-8")
    assert answers_of(read(swapped, schools), 1) != answers_of(original, 1)


def test_googleforms_cumulative_reexport_keeps_response_keys(tmp_path, schools):
    # a later export of the same form, with a question added at the end and a row submitted twice
    lines = (SURVEYS / "googleforms_pupil_labels.csv").read_text(encoding="utf-8").splitlines()
    grown = [lines[0] + ",Which clubs do you go to?"] + [line + "," for line in lines[1:]] + [lines[1] + ","]
    path = tmp_path / "googleforms_later.csv"
    path.write_text("\r\n".join(grown) + "\r\n", encoding="utf-8")
    first = read(SURVEYS / "googleforms_pupil_labels.csv", schools).tables["survey_responses"]["response_key"]
    later = read(path, schools)
    assert later.exclusions == {"duplicate": 1}
    assert later.tables["survey_responses"]["response_key"].to_list() == first.to_list()
