"""The census and SEN layouts of every vintage: the 2023/24 wide census with its renamed columns, the long census
(2025/26 on) with the trust of that year, and the long SEN file (2024/25 on). Fixtures follow the column lists of
HEADERS.md ("School census and SEN, newest vintages"); see tests/fixtures/dfe/README.md."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion import ees
from ingestion.lake import SourceFile
from ingestion.results import FileRefused
from tests.conftest import FIXTURES
from tests.unit.test_ees import assert_contract, row

DFE = FIXTURES / "dfe"
WIDE_2023 = DFE / "census_spc_2023.csv"
WIDE_2024 = DFE / "census_spc_2024_renamed.csv"
LONG_CENSUS = DFE / "census_long_202526.csv"
LONG_SEN = DFE / "sen_long_202425.csv"
YEARS = [f"pupils_year_{n}" for n in range(1, 14)]


def read(path: Path):
    path = Path(path).resolve()
    return ees.read_ees(SourceFile(path, path.name, "0" * 64, datetime.now(UTC)))


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def write(tmp_path: Path, name: str, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def edited(tmp_path: Path, source: Path, name: str, edit) -> Path:
    """A copy of a fixture whose rows `edit(header, body)` returns (changed in place or anew)."""
    rows = rows_of(source)
    header, body = rows[0], [r[:] for r in rows[1:]]
    return write(tmp_path, name, [header, *(edit(header, body) or body)])


def header_of_headers_md(reference: Path, title_start: str) -> list[str]:
    md = (reference / "dfe" / "HEADERS.md").read_text(encoding="utf-8")
    start = md.index(title_start)
    block = md[md.index("```\n", start) + 4 :]
    return next(csv.reader([block[: block.index("\n")]]))


# ------------------------------------------------------------------------------------ 2023/24 wide census
def test_the_fixtures_follow_the_column_lists_of_headers_md(reference):
    long = header_of_headers_md(reference, "## School census and SEN, newest vintages")
    assert rows_of(LONG_CENSUS)[0] == long and len(long) == 41
    wide = rows_of(WIDE_2023)[0]
    renamed = rows_of(WIDE_2024)[0]
    assert len(renamed) == len(wide) == 256
    assert "urn" in renamed and "URN" not in renamed
    assert renamed[wide.index("Full time boys Year group 12")] == "full-time male Year group 12"
    assert renamed[wide.index("Part time girls Year group 3")] == "part-time female Year group 3"
    sen = rows_of(LONG_SEN)[0]
    assert sen[10:15] == ["school_urn", "estab", "school_name", "school_laestab", "open_date"]
    assert sen[-3:] == ["sen_provision", "sen_primary_need", "pupil_count"]


def test_2023_24_renamed_wide_census_reads_as_the_2022_23_layout():
    old, new = read(WIDE_2023), read(WIDE_2024)
    assert (old.vintage, new.vintage) == ("ees2023", "ees2024")
    frame = assert_contract(new, "census")
    assert new.quarantine.height == 0
    same = [c for c in frame.columns if c not in ("time_period", "vintage")]
    assert frame.select(same).equals(old.tables["dfe_census"].select(same))
    abbey = row(frame, school_urn="107085")
    assert (abbey["headcount"], abbey["pupils_year_1"], abbey["pupils_year_7"]) == (420, 60, 0)
    assert (
        abbey["trust"] is None and abbey["trust_status"] == "missing"
    )  # the wide layouts have no trust column
    assert len(new.summary["columns_unused"]) == len(old.summary["columns_unused"])


def test_a_2023_24_file_missing_a_renamed_year_group_is_not_read_as_2022_23(tmp_path):
    """The layouts differ only in spelling; a renamed file short of a year-group column names it, never
    reads as the older layout (URN and urn are one column name, case ignored)."""

    def drop(header, body):
        i = header.index("full-time male Year group 11")
        del header[i]
        for r in body:
            del r[i]

    path = edited(tmp_path, WIDE_2024, "short.csv", drop)
    with pytest.raises(
        ees.UnknownFormat, match="nearest: census/ees2024, which needs full-time male Year group 11"
    ):
        read(path)


# ------------------------------------------------------------------------------------ long census, 2025/26
@pytest.fixture(scope="module")
def long_census():
    return read(LONG_CENSUS)


def test_long_census_gives_one_record_per_school_in_the_wide_shape(long_census):
    r = long_census
    assert (r.publication, r.vintage, r.rows_read) == ("census", "ees2026", 90)
    frame = assert_contract(r, "census")
    assert r.quarantine.height == 0 and r.exclusions == {}
    assert r.summary["rows_by_level"] == {"School": 3}
    kingsway = row(frame, school_urn="141234")
    assert kingsway["school_laestab"] == "3734001" and kingsway["phase"] == "State-funded secondary"
    assert (kingsway["headcount"], kingsway["fsm_eligible"], kingsway["fsm_base"], kingsway["eal"]) == (
        1180, 272, 1010, 96)  # fmt: skip
    assert [kingsway[y] for y in YEARS] == [0, 0, 0, 0, 0, 0, 205, 203, 201, 200, 201, 90, 80]
    # the percentage the wide file published is not in the long one: missing, never 0
    assert kingsway["fsm_percent"] is None and kingsway["fsm_percent_status"] == "missing"
    # a suppressed count keeps its meaning
    hillside = row(frame, school_urn="148765")
    assert hillside["fsm_eligible"] is None and hillside["fsm_eligible_status"] == "suppressed"
    assert r.summary["symbols"] == {"c": 1}
    assert r.summary["long"] == {
        "rows": 90,
        "rows_of_the_pairs_read": 63,
        "rows_total_in_every_other_filter": 51,
        "records": 3,
        "topics": {"Total": 15, "Age": 18, "Free school meals": 9, "First language": 6,
                   "National curriculum year group": 42},
    }  # fmt: skip
    assert r.summary["breakdown"]["columns"] == ["attendance_pattern", "sex"]
    assert "measures_lacking" not in r.summary
    assert "pupil_percent" in r.summary["columns_unused"] and "trust" not in r.summary["columns_unused"]


def test_headcount_is_the_total_row_never_a_sum_of_the_other_filters(long_census):
    """Aldgate: 262 pupils on the Total/Total row; 240 full-time + 22 part-time and 130 female + 132 male are
    the same pupils again. Only rows `Total` in attendance_pattern and sex are read."""
    aldgate = row(long_census.tables["dfe_census"], school_urn="100000")
    assert aldgate["headcount"] == 262 and aldgate["row_number"] == 1


def test_urn_written_1e05_is_read_as_100000_and_an_excel_rounded_one_is_quarantined(long_census, tmp_path):
    frame = long_census.tables["dfe_census"]
    assert sorted(frame.get_column("school_urn")) == ["100000", "141234", "148765"]
    assert long_census.summary["keys_in_scientific_notation"] == 1

    def excel(header, body):
        for r in body:
            if r[header.index("school_urn")] == "141234":
                r[header.index("school_urn")] = "1.41E+05"  # Excel's rounding: not the URN any more

    r = read(edited(tmp_path, LONG_CENSUS, "excel.csv", excel))
    assert set(r.quarantine.get_column("rule")) == {"urn_format"}
    assert r.quarantine.row(0, named=True)["reason"] == (
        "excel.csv row 31: school_urn is not a 6-digit URN (value '1.41E+05', rule urn_format)"
    )
    assert sorted(r.tables["dfe_census"].get_column("school_urn")) == ["100000", "148765"]


@pytest.mark.parametrize(
    ("cell", "trust", "status"),
    [
        ("Northern Lights Learning Trust", "Northern Lights Learning Trust", "value"),
        ("  Kestrel   Valley Academy Trust ", "Kestrel Valley Academy Trust", "value"),
        ("", None, "not_applicable"),
        ("z", None, "not_applicable"),
        ("Not applicable", None, "not_applicable"),
        ("NOT IN A TRUST", None, "not_applicable"),
        ("x", None, "not_available"),
        ("Unknown", None, "not_available"),
        ("c", None, "suppressed"),
    ],
)
def test_the_trust_column_says_a_trust_no_trust_or_nothing(tmp_path, cell, trust, status):
    def set_trust(header, body):
        for r in body:
            r[header.index("trust")] = cell

    r = read(edited(tmp_path, LONG_CENSUS, "trust.csv", set_trust))
    frame = r.tables["dfe_census"]
    assert frame.get_column("trust").to_list() == [trust] * 3
    assert frame.get_column("trust_status").to_list() == [status] * 3
    assert r.summary["trust"] == {status: 3}


def test_the_fixture_trusts_by_school(long_census):
    frame = long_census.tables["dfe_census"].sort("school_urn")
    assert frame.select("school_urn", "trust", "trust_status").rows() == [
        ("100000", None, "not_applicable"),  # `z`: a voluntary aided school, in no trust
        ("141234", "Northern Lights Learning Trust", "value"),
        ("148765", "Kestrel Valley Academy Trust", "value"),  # spaces tidied
    ]


def test_an_unknown_topic_refuses_the_whole_file_naming_it(tmp_path):
    def ethnicity(header, body):
        for r in body:
            if r[header.index("breakdown_topic")] == "Age":
                r[header.index("breakdown_topic")] = "Ethnicity major"

    with pytest.raises(FileRefused) as refused:
        read(edited(tmp_path, LONG_CENSUS, "topic.csv", ethnicity))
    assert refused.value.rule == "unknown_breakdown_topic"
    assert str(refused.value) == (
        "topic.csv: breakdown_topic 'Ethnicity major' (first at rows 6, 7, 8, ...) is not a topic "
        "ingestion/registry.yaml knows for census/ees2026 (read: 'Total', 'Free school meals', 'First language', "
        "'National curriculum year group'; known and not read: 'Age'): a topic we do not know is a question, not "
        "noise, so the whole file is refused (rule unknown_breakdown_topic)"
    )


def test_an_unknown_topic_in_landing_quarantines_the_file_with_its_reason(tmp_path):
    from ingestion.lake import Lake
    from ingestion.load import load_dfe

    landing = tmp_path / "landing"
    (landing / "dfe").mkdir(parents=True)

    def ethnicity(header, body):
        body[5][header.index("breakdown_topic")] = "Ethnicity"

    edited(landing / "dfe", LONG_CENSUS, "spc_school_level_202526.csv", ethnicity)
    lake = Lake(tmp_path / "lake")
    report = load_dfe(landing, lake)
    (outcome,) = report.files
    assert outcome.status == "quarantined_file"
    assert outcome.message.startswith(
        "spc_school_level_202526.csv: breakdown_topic 'Ethnicity' (first at row 6)"
    )
    q = lake.read("quarantine")
    assert q.get_column("rule").to_list() == ["unknown_breakdown_topic"]
    assert lake.read("dfe_census").height == 0
    reason = landing / "quarantine" / "dfe" / "spc_school_level_202526.csv.reason.txt"
    assert "(rule unknown_breakdown_topic)" in reason.read_text(encoding="utf-8")


def test_a_measure_the_file_lacks_is_null_and_named_never_zero(tmp_path):
    def no_fsm(header, body):
        return [r for r in body if r[header.index("breakdown_topic")] != "Free school meals"]

    r = read(edited(tmp_path, LONG_CENSUS, "nofsm.csv", no_fsm))
    frame = assert_contract(r, "census")
    assert frame.height == 3 and r.quarantine.height == 0
    assert frame.get_column("fsm_eligible").null_count() == 3
    assert set(frame.get_column("fsm_eligible_status")) == {"missing"}
    assert frame.get_column("headcount").null_count() == 0  # what the file has still loads
    assert r.summary["measures_lacking"] == {
        "fsm_eligible": "no row of breakdown_topic 'Free school meals' with breakdown 'Known to be eligible for "
        "free school meals (performance tables)' that is Total in every other filter: null, never 0",
        "fsm_base": "no row of breakdown_topic 'Free school meals' with breakdown 'Pupils used for the FSM "
        "calculation in performance tables' that is Total in every other filter: null, never 0",
    }


def test_a_school_without_one_pair_has_that_measure_missing_the_others_keep_theirs(tmp_path):
    def drop_year_3(header, body):
        return [
            r for r in body
            if not (r[header.index("school_urn")] == "148765" and r[header.index("breakdown")] == "Year 3")
        ]  # fmt: skip

    r = read(edited(tmp_path, LONG_CENSUS, "noyear3.csv", drop_year_3))
    hillside = row(r.tables["dfe_census"], school_urn="148765")
    assert hillside["pupils_year_3"] is None and hillside["pupils_year_3_status"] == "missing"
    assert hillside["pupils_year_4"] == 50
    assert row(r.tables["dfe_census"], school_urn="141234")["pupils_year_3"] == 0
    assert "measures_lacking" not in r.summary


def test_a_file_with_none_of_the_pairs_is_refused(tmp_path):
    def ages_only(header, body):
        return [r for r in body if r[header.index("breakdown_topic")] == "Age"]

    with pytest.raises(FileRefused) as refused:
        read(edited(tmp_path, LONG_CENSUS, "ages.csv", ages_only))
    assert refused.value.rule == "long_measures_absent"
    assert str(refused.value) == (
        "ages.csv: census/ees2026: no row has any of the (breakdown_topic, breakdown) pairs ingestion/registry.yaml "
        "reads ('Total'/'Total' for headcount, 'Free school meals'/'Known to be eligible for free school meals "
        "(performance tables)' for fsm_eligible, 'Free school meals'/'Pupils used for the FSM calculation in "
        "performance tables' for fsm_base and 14 more) with every other filter Total, so nothing would load "
        "(rule long_measures_absent)"
    )


def test_a_pair_without_a_total_in_the_other_filters_refuses_the_file(tmp_path):
    """Kingsway's Total/Total row removed: its headcount rows are full-time, part-time, female and male only,
    so no row is its total; the breakdown rule of the wide files applies (ingestion/breakdowns.py)."""

    def drop(header, body):
        return [r for i, r in enumerate(body, start=1) if i != 31]

    with pytest.raises(
        FileRefused,
        match=r"no row is 'Total' in every one of 'attendance_pattern', 'sex' for "
        r"School 202526 .* 141234 State-funded secondary Total Total .*\(rows 31, 32, 33, \.\.\.\)",
    ):
        read(edited(tmp_path, LONG_CENSUS, "nototal.csv", drop))


def test_two_rows_for_one_count_quarantine_that_school(tmp_path):
    def twice(header, body):
        copy = body[0][:]
        copy[header.index("pupil_count")] = "263"
        body.insert(1, copy)

    r = read(edited(tmp_path, LONG_CENSUS, "dup.csv", twice))
    assert r.quarantine.select("row_number", "rule", "value").rows() == [
        (1, "duplicate_breakdown_row", "262"), (2, "duplicate_breakdown_row", "263")]  # fmt: skip
    assert sorted(r.tables["dfe_census"].get_column("school_urn")) == ["141234", "148765"]


def test_a_bad_count_is_quarantined_on_its_own_row_and_its_school_left_out(tmp_path):
    def bad(header, body):
        for r in body:
            if r[header.index("school_urn")] == "141234" and r[header.index("breakdown")] == "Year 10":
                r[header.index("pupil_count")] = "two hundred"
            if r[header.index("school_urn")] == "148765" and r[header.index("breakdown")] == "Year 2":
                r[header.index("pupil_count")] = "-50"

    r = read(edited(tmp_path, LONG_CENSUS, "bad.csv", bad))
    assert r.quarantine.select("row_number", "rule").rows() == [
        (56, "unknown_symbol"),
        (78, "negative_value"),
    ]
    assert r.quarantine.get_column("reason").to_list() == [
        "bad.csv row 56: pupil_count of breakdown_topic 'National curriculum year group', breakdown 'Year 10' is "
        "neither a number nor a symbol of the ees2026 vintage ('c', 'x', 'z', 'low', 'u') (value 'two hundred', "
        "rule unknown_symbol)",
        "bad.csv row 78: pupil_count of breakdown_topic 'National curriculum year group', breakdown 'Year 2' is "
        "negative: counts cannot be (value '-50', rule negative_value)",
    ]
    assert r.tables["dfe_census"].get_column("school_urn").to_list() == ["100000"]
    assert r.summary["rows_quarantined"] == 2


def test_impossible_numbers_across_pairs_are_quarantined(tmp_path):
    def more_fsm_than_pupils(header, body):
        for r in body:
            if r[header.index("school_urn")] == "1e+05" and r[header.index("breakdown")].startswith(
                "Known to be eligible"
            ):
                r[header.index("pupil_count")] = "500"

    r = read(edited(tmp_path, LONG_CENSUS, "bounds.csv", more_fsm_than_pupils))
    assert r.quarantine.select("row_number", "rule", "value").rows() == [
        (1, "numerator_exceeds_denominator", "500.0")
    ]
    assert sorted(r.tables["dfe_census"].get_column("school_urn")) == ["141234", "148765"]


# ------------------------------------------------------------------------------------ long SEN, 2024/25
def test_long_sen_file_reads_total_support_and_plans():
    r = read(LONG_SEN)
    assert (r.publication, r.vintage, r.encoding) == ("sen", "ees2026", "utf-8-sig")
    frame = assert_contract(r, "sen")
    assert r.quarantine.height == 0
    aldgate = row(frame, school_urn="100000")  # `1e+05` again
    assert (aldgate["total_pupils"], aldgate["sen_support"], aldgate["ehc_plan"]) == (262, 31, 7)
    kingsway = row(frame, school_urn="141234")
    assert (kingsway["total_pupils"], kingsway["sen_support"], kingsway["ehc_plan"]) == (1180, 141, 38)
    assert kingsway["region_code"] == "E12000003" and kingsway["phase"] == "State-funded secondary"
    assert r.summary["long"]["topics"] == {"Total": 4, "SEN support": 6, "EHC plan": 4, "No SEN": 2}
    # a suppressed primary-need count is not read, so it cannot hide a total
    assert r.summary["symbols"] == {}


def test_an_unknown_sen_provision_refuses_the_file(tmp_path):
    def combined(header, body):
        body[3][header.index("sen_provision")] = "SEN support or EHC plan"

    with pytest.raises(
        FileRefused,
        match=r"^sen.csv: sen_provision 'SEN support or EHC plan' \(first at row 4\) "
        r"is not a topic ingestion/registry.yaml knows for sen/ees2026 \(read: 'Total', 'SEN support', "
        r"'EHC plan'; known and not read: 'No SEN'\)",
    ):
        read(edited(tmp_path, LONG_SEN, "sen.csv", combined))


def test_a_long_registry_entry_with_a_measure_outside_the_lake_fails_loudly(tmp_path):
    text = ees.REGISTRY_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "registry.yaml"
    bad.write_text(
        text.replace("ehc_plan: [[EHC plan, Total]]", "ehc_plans: [[EHC plan, Total]]"), encoding="utf-8"
    )
    with pytest.raises(
        ValueError, match="sen/ees2026: long measure 'ehc_plans' is not a measure of the lake schema"
    ):
        ees.load_registry(bad)


def test_every_layout_is_sniffed_as_ees():
    for path in (WIDE_2024, LONG_CENSUS, LONG_SEN):
        assert ees.sniff(path)
    assert pl.read_csv(LONG_CENSUS, infer_schema=False).height == 90
