"""Survey exclusions (counted) and quarantine rules (rows with the value), each shown passing on a good
file and firing on the row of tests/fixtures/surveys/qualtrics_pupil_codes_exclusions.csv built for it;
and SchoolRegister's resolution of stale URNs through GIAS links."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from ingestion.lake_schema import GIAS_ESTABLISHMENTS, GIAS_LINKS
from ingestion.surveys import SchoolRegister
from tests.unit.test_surveys import SURVEYS, read, responses, schools  # noqa: F401  (schools is a fixture)

BAD = SURVEYS / "qualtrics_pupil_codes_exclusions.csv"
GOOD = SURVEYS / "qualtrics_pupil_labels.csv"


@pytest.fixture(scope="module")
def bad(schools):  # noqa: F811
    return read(BAD, schools)


@pytest.fixture(scope="module")
def good(schools):  # noqa: F811
    return read(GOOD, schools)


# ------------------------------------------------------------------------------------------ exclusions


@pytest.mark.parametrize(
    ("reason", "row"),
    [
        ("preview", 2),  # Status 1 Survey Preview
        ("test", 3),  # Status 2 Survey Test
        ("spam", 4),  # Status 8 Spam
        ("duplicate", 5),  # R_x01 again: the first (row 1) is kept
        ("incomplete", 6),  # 3 of 6 items answered, minimum 4
    ],
)
def test_exclusion_reason(reason, row, bad, good):
    assert bad.exclusions[reason] == 1
    assert row not in {r["row_number"] for r in responses(bad)}
    assert reason not in good.exclusions


def test_exclusions_total_and_kept_rows(bad):
    assert bad.exclusions == {"duplicate": 1, "incomplete": 1, "preview": 1, "spam": 1, "test": 1}
    assert bad.summary["excluded"] == bad.exclusions
    # kept: Status 0, 16 Offline and 4 Imported; the first of the duplicated pair
    assert [r["row_number"] for r in responses(bad)] == [1, 7, 8, 11, 12, 14]
    assert bad.rows_read == 16 and bad.summary["responses_kept"] == 6


def test_seen_but_unanswered_code_is_unanswered_not_off_scale(bad):
    row14 = next(r for r in responses(bad) if r["row_number"] == 14)
    assert row14["items_answered"] == 5
    assert 14 not in bad.quarantine["row_number"].to_list()


def test_status_as_choice_text(tmp_path, schools):  # noqa: F811
    # "Export as choice text" writes Status labels instead of codes
    text = BAD.read_text(encoding="utf-8-sig")
    text = text.replace(",0,PIIMARK-QX-IP-1,", ",IP Address,PIIMARK-QX-IP-1,")
    text = text.replace(",1,PIIMARK-QX-IP-2,", ",Survey Preview,PIIMARK-QX-IP-2,")
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    result = read(path, schools)
    assert result.exclusions["preview"] == 1
    assert 1 in [r["row_number"] for r in responses(result)]


# ------------------------------------------------------------------------------------ quarantine rules


@pytest.mark.parametrize(
    ("rule", "row", "column", "value", "kept"),
    [
        ("answer_not_on_scale", 7, "Q1_3", "7", True),  # kept, that answer unanswered
        ("context_answer_unknown", 11, "Q3", "9", True),  # kept, gender null
        ("school_not_in_gias", 9, "ExternalReference", "999999", False),
        ("school_closed_no_successor", 10, "ExternalReference", "100011", False),
        ("school_missing", 15, "ExternalReference", None, False),
        ("school_urn_format", 16, "ExternalReference", "10001", False),
        ("response_date_unreadable", 13, "RecordedDate", "garbled", False),
    ],
)
def test_quarantine_rule(rule, row, column, value, kept, bad, good):
    q = bad.quarantine.filter(pl.col("rule") == rule).to_dicts()
    assert len(q) == 1
    assert (q[0]["row_number"], q[0]["column"], q[0]["value"]) == (row, column, value)
    assert q[0]["reason"].startswith(f"qualtrics_pupil_codes_exclusions.csv, row {row}: ")
    assert q[0]["reason"].endswith(f"[{rule}]")
    assert (row in [r["row_number"] for r in responses(bad)]) is kept
    assert good.quarantine.filter(pl.col("rule") == rule).height == 0


def test_answer_off_scale_is_treated_as_unanswered(bad):
    row7 = next(r for r in responses(bad) if r["row_number"] == 7)
    assert row7["items_answered"] == 5
    answers = bad.tables["survey_answers"].filter(pl.col("response_key") == row7["response_key"])
    assert sorted(answers["item_id"]) == ["awkward", "liked", "lonely", "make_friends", "outsider"]
    row11 = next(r for r in responses(bad) if r["row_number"] == 11)
    assert row11["gender"] is None and row11["year_group"] == "Year 10"


def test_closed_school_follows_its_successor(bad):
    row8 = next(r for r in responses(bad) if r["row_number"] == 8)
    assert (row8["reported_urn"], row8["school_urn"]) == ("100010", "140010")


def test_urn_quarantine_value_never_shows_a_non_numeric_identifier(tmp_path, schools):  # noqa: F811
    text = BAD.read_text(encoding="utf-8-sig").replace(",R_x16,,,,10001,", ",R_x16,,,,pupil@example.org,")
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    q = read(path, schools).quarantine.filter(pl.col("rule") == "school_urn_format").to_dicts()
    assert q[0]["value"] == "(not shown: not a URN)"


def test_without_gias_the_reported_urn_is_kept(tmp_path):
    result = read(BAD, None)
    rows = {r["row_number"]: r for r in responses(result)}
    assert rows[9]["school_urn"] == "999999" and rows[8]["school_urn"] == "100010"
    assert result.summary["gias_resolution"] is False


# --------------------------------------------------------------------------------------- SchoolRegister


def _register(est_rows, link_rows):
    est_schema = {k: v for k, v in GIAS_ESTABLISHMENTS.items() if not k.startswith("_")}
    link_schema = {k: v for k, v in GIAS_LINKS.items() if not k.startswith("_")}
    est = pl.DataFrame(est_rows, schema=est_schema)
    links = pl.DataFrame(link_rows, schema=link_schema)
    return SchoolRegister.from_frames(est, links)


def _e(urn, status="Open", closed=None, snapshot=date(2025, 9, 3)):
    return {"urn": urn, "establishment_status": status, "close_date": closed, "snapshot_date": snapshot}


def _l(urn, link_urn, kind):
    return {"urn": urn, "link_urn": link_urn, "link_type": kind}


@pytest.fixture(scope="module")
def register():
    return _register(
        [
            _e("100001"),
            _e("100010", "Closed", date(2025, 8, 31)),  # converted: successor 140010
            _e("140010"),
            _e("100020", "Closed", date(2019, 3, 31)),  # chain: 100020 -> 120020 (closed) -> 140020
            _e("120020", "Closed", date(2023, 8, 31)),
            _e("140020"),
            _e("100030", "Closed", date(2024, 8, 31)),  # no successor
            _e("100040", "Open", None, date(2020, 1, 1)),  # closed in a later snapshot
            _e("100040", "Closed", date(2024, 12, 31), date(2025, 9, 3)),
        ],
        [
            _l("100010", "140010", "Successor"),
            _l("100020", "120020", "Successor - merged"),
            _l("140020", "120020", "Predecessor"),  # the same link recorded from the new school's side
            _l("100030", "100001", "Sixth Form Centre Link"),  # not a succession
        ],
    )


@pytest.mark.parametrize(
    ("urn", "on", "expected"),
    [
        ("100001", date(2026, 1, 1), ("100001", None)),
        ("100010", date(2025, 8, 30), ("100010", None)),  # still open that day
        ("100010", date(2025, 9, 15), ("140010", None)),
        ("100020", date(2025, 1, 1), ("140020", None)),
        ("100020", date(2021, 1, 1), ("120020", None)),
        ("100030", date(2025, 1, 1), (None, "school_closed_no_successor")),
        ("100040", date(2025, 3, 1), (None, "school_closed_no_successor")),  # latest snapshot wins
        ("999999", date(2025, 1, 1), (None, "school_not_in_gias")),
    ],
)
def test_school_register_resolve(register, urn, on, expected):
    assert register.resolve(urn, on) == expected


def test_empty_register_quarantines_every_urn():
    register = _register([], [])
    assert len(register) == 0
    assert register.resolve("100001", date(2025, 1, 1)) == (None, "school_not_in_gias")


def test_an_empty_register_means_gias_not_loaded_yet():
    result = read(GOOD, _register([], []))
    assert result.summary["gias_resolution"] is False
    assert [r["school_urn"] for r in responses(result)] == ["100001", "100002", "100001"]
    assert result.quarantine.height == 0
