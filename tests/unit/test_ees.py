"""EES open-data reader: the real 2019-era exclusions file, current-vintage fixtures, one fixture per rule."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion import ees
from ingestion.files import UnreadableFile
from ingestion.lake import SourceFile
from ingestion.lake_schema import STATUSES, dfe_schema
from ingestion.results import UnknownFormat
from tests.conftest import FIXTURES

DFE = FIXTURES / "dfe"
EXCLUSIONS_2019 = "dfe/ees2019_exclusions_by_geographic_level_201617_subset.csv"


def read(path: Path):
    return ees.read_ees(SourceFile(Path(path).resolve(), Path(path).name, "0" * 64, datetime.now(UTC)))


def row(frame: pl.DataFrame, **where) -> dict:
    hit = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in where.items()]))
    assert hit.height == 1, f"{where}: {hit.height} rows"
    return hit.row(0, named=True)


def assert_contract(result, publication: str) -> pl.DataFrame:
    frame = result.tables[f"dfe_{publication}"]
    schema = {c: t for c, t in dfe_schema(publication).items() if not c.startswith("_")}
    assert list(frame.columns) == list(schema)
    assert dict(frame.schema) == schema
    status_cols = [c for c in frame.columns if c.endswith("_status")]
    found = set(frame.select(pl.concat_list(status_cols).explode().unique()).to_series().to_list())
    assert found <= set(STATUSES)
    # a number only where one was published (`u` may stand alone); status `value` always has one
    for c in status_cols:
        m = c.removesuffix("_status")
        has_number = pl.col(m).is_not_null()
        bad = frame.filter(
            (has_number & ~pl.col(c).is_in(["value", "low_reliability"]))
            | (~has_number & (pl.col(c) == "value"))
        )
        assert bad.height == 0, (m, bad.head(3).to_dicts())
    return frame


# ----------------------------------------------------------------------- the real 2019-era exclusions file
@pytest.fixture(scope="module")
def exclusions_2019(reference):
    return read(reference / EXCLUSIONS_2019)


def test_real_2019_exclusions_rows_per_level(exclusions_2019):
    r = exclusions_2019
    assert (r.publication, r.vintage, r.source_kind) == ("exclusions", "ees2019", "dfe")
    assert r.rows_read == 20000
    frame = assert_contract(r, "exclusions")
    assert r.quarantine.height == 0
    assert r.summary["rows_by_level"] == {
        "School": 12880,
        "Local authority": 6636,
        "Regional": 440,
        "National": 44,
    }
    counts = dict(frame.group_by("geographic_level").len().iter_rows())
    assert counts == r.summary["rows_by_level"]


def test_real_2019_exclusions_periods_and_no_urn(exclusions_2019):
    frame = exclusions_2019.tables["dfe_exclusions"]
    assert exclusions_2019.summary["time_periods"] == [200607 + 101 * i for i in range(11)]
    assert frame.get_column("time_identifier").unique().to_list() == ["Academic year"]
    schools = frame.filter(pl.col("geographic_level") == "School")
    # the 2016/17 file has no URN: school_urn stays null, LAESTAB comes from `laestab`
    assert schools.get_column("school_urn").null_count() == schools.height
    assert schools.get_column("school_laestab").str.contains(r"^\d{7}$").all()
    assert set(frame.get_column("phase").unique()) == {
        "Total",
        "State-funded primary",
        "State-funded secondary",
        "Special",
    }
    assert exclusions_2019.summary["columns_unused"] == [
        "estab",
        "academy_type",
        "academy_open_date",
        "num_schools",
    ]
    assert exclusions_2019.summary["symbols"] == {".": 66, "x": 12172}


def test_real_2019_exclusions_named_school_values(exclusions_2019):
    frame = exclusions_2019.tables["dfe_exclusions"]
    # Hammersmith and Fulham 16-19 free school, 2016/17: 14 pupils, 7 fixed-period exclusions
    s = row(frame, school_laestab="2054003", time_period=201617)
    assert (s["la_name"], s["old_la_code"], s["new_la_code"]) == (
        "Hammersmith and Fulham",
        "205",
        "E09000013",
    )
    assert (s["region_code"], s["region_name"]) == ("E13000001", "Inner London")
    assert s["headcount"] == 14 and s["perm_excl"] == 0 and s["suspension"] == 7
    assert s["susp_rate"] == 50 and s["one_plus_susp"] == 5 and s["one_plus_susp_rate"] == 35.71
    assert s["row_number"] == 2


def test_real_2019_exclusions_symbols_never_zero(exclusions_2019):
    frame = exclusions_2019.tables["dfe_exclusions"]
    # Lambeth 16-19 free school, 2016/17: perm_excl `x`
    s = row(frame, school_laestab="2084002", time_period=201617)
    assert s["perm_excl"] is None and s["perm_excl_status"] == "suppressed"
    assert s["perm_excl_rate"] is None and s["perm_excl_rate_status"] == "suppressed"
    assert s["suspension"] == 3 and s["suspension_status"] == "value"
    # Cheshire West and Chester (new in 2009) in 2008/09: headcount 0, rates `.`
    la = row(
        frame,
        geographic_level="Local authority",
        new_la_code="E06000050",
        time_period=200809,
        phase="Special",
    )
    assert la["perm_excl"] is None and la["perm_excl_status"] == "suppressed"
    assert la["perm_excl_rate"] is None and la["perm_excl_rate_status"] == "not_applicable"
    assert la["one_plus_susp"] == 38 and la["headcount"] == 0
    # `x` and `.` never became 0
    assert frame.filter(pl.col("perm_excl_status") == "suppressed").height == 2979
    assert frame.filter(pl.col("susp_rate_status") == "not_applicable").height == 22
    nat = row(frame, geographic_level="National", time_period=201617, phase="Total")
    assert (nat["headcount"], nat["perm_excl"], nat["suspension"]) == (8025075, 7720, 381865)
    assert nat["region_code"] is None and nat["la_name"] is None


def test_sniff(reference):
    assert ees.sniff(reference / EXCLUSIONS_2019)
    assert ees.sniff(DFE / "census_spc_2023.csv")
    assert not ees.sniff(reference / "dfe/gias_edubasealldata_sample_2018.csv")
    assert not ees.sniff(reference / "surveys/qualtrics_sample_v3_3header.csv")


# ----------------------------------------------------------------------- current-vintage exclusions
def test_current_exclusions_gss_symbols():
    r = read(DFE / "exclusions_ees2024_gss_symbols.csv")
    assert (r.publication, r.vintage) == ("exclusions", "ees2024")
    frame = assert_contract(r, "exclusions")
    assert r.quarantine.height == 0
    assert r.summary["rows_by_level"] == {"National": 1, "Regional": 1, "Local authority": 1, "School": 3}
    assert r.summary["symbols"] == {"c": 2, "low": 1, "u": 1, "x": 2, "z": 2}
    cotham = row(frame, school_urn="137001")
    assert cotham["school_laestab"] == "8014001" and cotham["la_name"] == "Bristol, City of"
    assert (cotham["headcount"], cotham["suspension"], cotham["one_plus_susp_rate"]) == (1520, 210, 6.25)
    hill = row(frame, school_urn="108999")
    assert hill["perm_excl"] is None and hill["perm_excl_status"] == "suppressed"  # GSS c
    brunel = row(frame, school_urn="145678")
    assert brunel["perm_excl_status"] == "not_applicable" and brunel["perm_excl"] is None  # z
    assert (
        brunel["suspension_status"] == "not_available" and brunel["suspension"] is None
    )  # x (current meaning)
    assert brunel["one_plus_susp_status"] == "low" and brunel["one_plus_susp"] is None
    assert brunel["one_plus_susp_rate_status"] == "low_reliability"
    assert row(frame, geographic_level="National")["phase"] == "Total"


# ----------------------------------------------------------------------- absence, both vintages
def test_absence_2019_vintage_lower_case_levels_and_symbols():
    r = read(DFE / "absence_ees2019.csv")
    assert (r.publication, r.vintage) == ("absence", "ees2019")
    frame = assert_contract(r, "absence")
    assert r.summary["rows_by_level"] == {"National": 1, "Local authority": 1, "School": 3}
    assert frame.get_column("time_identifier").unique().to_list() == ["Academic year"]
    s = row(frame, school_urn="100000")
    assert s["school_laestab"] == "2023614" and s["phase"] == "State-funded primary"
    assert (s["enrolments"], s["sess_possible"], s["sess_overall"], s["enrolments_pa_10"]) == (
        243,
        82430,
        3211,
        16,
    )
    assert s["enrolments_pa_50"] is None and s["enrolments_pa_50_status"] == "missing"  # not published then
    assert row(frame, school_urn="100001")["enrolments_pa_10_status"] == "suppressed"  # x
    special = row(frame, school_urn="100002")
    assert special["sess_possible_status"] == "not_applicable"  # .
    assert special["enrolments_pa_10_status"] == "not_available"  # :
    assert row(frame, geographic_level="National")["sess_overall"] == 110488213
    assert "enrolments_pa_10_exact_percent" in r.summary["columns_unused"]


def test_absence_current_vintage_with_severe_absence():
    r = read(DFE / "absence_ees2024.csv")
    assert (r.publication, r.vintage) == ("absence", "ees2024")
    frame = assert_contract(r, "absence")
    assert r.summary["rows_by_level"] == {"National": 2, "School": 3}
    assert sorted(frame.filter(pl.col("geographic_level") == "National").get_column("phase")) == [
        "State-funded primary",
        "Total",
    ]
    kes = row(frame, school_urn="107146")
    assert (kes["enrolments_pa_10"], kes["enrolments_pa_50"], kes["sess_overall_percent"]) == (380, 37, 8.15)
    assert kes["region_name"] == "Yorkshire and The Humber"
    abbey = row(frame, school_urn="107085")
    assert abbey["enrolments_pa_50"] is None and abbey["enrolments_pa_50_status"] == "suppressed"
    talbot = row(frame, school_urn="107188")
    assert talbot["enrolments"] is None and talbot["enrolments_status"] == "not_applicable"


# ----------------------------------------------------------------------- census and SEN (real headers)
def test_census_real_header_year_group_sums():
    r = read(DFE / "census_spc_2023.csv")
    assert (r.publication, r.vintage) == ("census", "ees2023")
    frame = assert_contract(r, "census")
    assert r.quarantine.height == 0
    abbey = row(frame, school_urn="107085")
    assert abbey["school_laestab"] == "3732001" and abbey["phase"] == "State-funded primary"
    assert (abbey["headcount"], abbey["fsm_eligible"], abbey["fsm_base"], abbey["fsm_percent"]) == (
        420,
        61,
        360,
        16.9,
    )
    assert abbey["eal"] == 38
    assert abbey["pupils_year_1"] == 60 and abbey["pupils_year_2"] == 60 and abbey["pupils_year_6"] == 60
    assert abbey["pupils_year_7"] == 0 and abbey["pupils_year_7_status"] == "value"
    tiny = row(frame, school_urn="107086")
    assert tiny["pupils_year_1"] is None and tiny["pupils_year_1_status"] == "suppressed"  # one part `c`
    assert tiny["pupils_year_2"] == 3 and tiny["pupils_year_2_status"] == "value"  # 3 + z
    assert tiny["fsm_eligible_status"] == "suppressed" and tiny["eal_status"] == "low"
    nat = row(frame, geographic_level="National")
    assert nat["pupils_year_7"] == 306312 + 319850 and nat["phase"] == "Total"
    assert (
        "Estab" in r.summary["columns_unused"]
        and len(r.summary["columns_unused"]) == 256 - 11 - 2 - 1 - 5 - 52
    )


def test_sen_real_header_with_bom():
    r = read(DFE / "sen_2023.csv")
    assert (r.publication, r.vintage, r.encoding) == ("sen", "ees2023", "utf-8-sig")
    frame = assert_contract(r, "sen")
    abbey = row(frame, school_urn="114181")
    assert (abbey["total_pupils"], abbey["sen_support"]) == (172, 21)
    assert abbey["ehc_plan"] is None and abbey["ehc_plan_status"] == "suppressed"
    assert abbey["school_laestab"] == "8412000" and abbey["phase"] == "State-funded primary"
    # region code and name given under each other's headers are put back
    beaumont = row(frame, school_urn="114182")
    assert (beaumont["region_code"], beaumont["region_name"]) == ("E12000001", "North East")
    assert beaumont["ehc_plan"] == 248


# ----------------------------------------------------------------------- encodings, line endings, numbers
@pytest.mark.parametrize(
    ("fixture", "encoding"),
    [("encoding_cp1252.csv", "cp1252"), ("encoding_utf8_bom.csv", "utf-8-sig")],
)
def test_encodings(fixture, encoding):
    r = read(DFE / fixture)
    assert r.encoding == encoding
    s = row(assert_contract(r, "exclusions"), school_urn="109876")
    assert s["school_name"] == "St Mary’s – Redcliffe Primary"
    assert s["time_period"] == 202223 and s["headcount"] == 315


def test_crlf_reads_like_lf():
    crlf = read(DFE / "line_endings_crlf.csv").tables["dfe_exclusions"]
    lf = read(DFE / "exclusions_ees2024_gss_symbols.csv").tables["dfe_exclusions"].head(4)
    assert (DFE / "line_endings_crlf.csv").read_bytes().count(b"\r\n") == 5
    assert crlf.equals(lf)


def test_quoted_numbers_with_thousands_separators():
    r = read(DFE / "quoted_thousands.csv")
    frame = assert_contract(r, "exclusions")
    nat = row(frame, geographic_level="National")
    assert (nat["headcount"], nat["suspension"], nat["one_plus_susp"]) == (8218360, 787051, 185461)
    assert nat["region_code"] is None  # a quoted "" is blank, not an empty string
    assert row(frame, school_urn="137001")["suspension"] == 1210


# ----------------------------------------------------------------------- quarantine: one fixture per rule
RULES = [
    ("urn_format", "school_urn", "13700"),
    ("laestab_format", "school_laestab", "801400"),
    ("time_period_format", "time_period", "202224"),
    ("geographic_level", "geographic_level", "Schools"),
    ("unknown_symbol", "suspension", "NA"),
    ("negative_value", "suspension", "-4"),
    ("numerator_exceeds_denominator", "perm_excl", "1600"),
]


@pytest.mark.parametrize(("rule", "column", "value"), RULES)
def test_quarantine_rule(rule, column, value):
    fixture = DFE / f"quarantine__{rule}.csv"
    r = read(fixture)
    q = r.quarantine
    assert q.height == 1, q.to_dicts()
    got = q.row(0, named=True)
    assert (got["row_number"], got["column"], got["rule"], got["value"]) == (2, column, rule, value)
    assert got["reason"].startswith(f"{fixture.name} row 2: ") and f"rule {rule}" in got["reason"]
    # the quarantined row does not reach the lake table; the good rows around it do
    frame = r.tables["dfe_exclusions"]
    assert frame.get_column("row_number").to_list() == [1, 3]
    assert r.rows_read == 3


def test_quarantine_rules_pass_on_good_input():
    # the good rows of the rule fixtures, in their own file, raise nothing
    r = read(DFE / "exclusions_ees2024_gss_symbols.csv")
    assert r.quarantine.height == 0 and r.tables["dfe_exclusions"].height == r.rows_read == 6


def test_symbol_of_the_other_vintage_is_unknown(tmp_path):
    # `.` is a 2019-era symbol: in a current (GSS) file it is not a known symbol
    text = (DFE / "exclusions_ees2024_gss_symbols.csv").read_text(encoding="utf-8")
    bad = tmp_path / "gss_with_dot.csv"
    bad.write_text(text.replace(",c,c,14,", ",.,c,14,"), encoding="utf-8")
    q = read(bad).quarantine
    assert q.select("row_number", "column", "value", "rule").rows() == [
        (5, "perm_excl", ".", "unknown_symbol")
    ]


# ----------------------------------------------------------------------- whole-file errors
def test_unknown_vintage_names_unplaced_columns():
    with pytest.raises(UnknownFormat) as err:
        read(DFE / "unknown_vintage.csv")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("unknown_vintage.csv: ")
    assert message.endswith("columns not placed: suspensions_total, pupils_suspended; "
                            "nearest: exclusions/ees2019, which needs fixed_excl")


def test_not_ees_is_unknown_format(reference):
    with pytest.raises(
        UnknownFormat, match=r"gias_links_edubasealldata20250903_head.csv: not recognised: a GIAS links file, which belongs in landing/gias/"
    ):
        read(reference / "dfe/gias_links_edubasealldata20250903_head.csv")


def test_unparseable_csv_is_unreadable():
    with pytest.raises(UnreadableFile) as err:
        read(DFE / "unreadable_ragged.csv")
    assert err.value.path.name == "unreadable_ragged.csv"
    assert "cannot be parsed as CSV" in err.value.reason


def test_binary_file_is_unreadable(tmp_path):
    junk = tmp_path / "download.csv"
    junk.write_bytes(b"PK\x03\x04\x00\x00binary zip")
    with pytest.raises(UnknownFormat, match="a damaged zip"):
        read(junk)


def test_registry_declares_every_publication():
    reg = ees.load_registry()
    pairs = {(v.publication, v.vintage) for v in reg.vintages}
    assert pairs == {
        ("exclusions", "ees2019"),
        ("exclusions", "ees2024"),
        ("absence", "ees2019"),
        ("absence", "ees2024"),
        ("census", "ees2023"),
        ("census", "ees2024"),
        ("census", "ees2026"),
        ("sen", "ees2023"),
        ("sen", "ees2026"),
        ("attendance", "ees2025"),
    }


def test_registry_mistake_fails_loudly(tmp_path):
    text = ees.REGISTRY_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "registry.yaml"
    bad.write_text(text.replace("fixed_excl: suspension", "fixed_excl: suspensions"), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"exclusions/ees2019: canonical columns not in the lake schema: \['suspensions'\]"
    ):
        ees.load_registry(bad)
    bad.write_text(text.replace("z: not_applicable", "z: not_relevant"), encoding="utf-8")
    with pytest.raises(ValueError, match="symbol set 'gss' maps to unknown statuses"):
        ees.load_registry(bad)


# the row rules for every publication: absence, census and SEN rows break them in the same ways
PUBLICATION_FIXTURES = {"absence": ("absence_ees2024.csv", "sess_overall"),
                        "census": ("census_spc_2023.csv", "headcount of pupils"),
                        "sen": ("sen_2023.csv", "Total pupils")}  # a count column of each, as the file names it


@pytest.mark.parametrize("publication", sorted(PUBLICATION_FIXTURES))
def test_every_publication_quarantines_each_row_rule(publication, tmp_path):
    """The rules the raw gate no longer repeats (one rule, one layer): a URN that lost a digit, a time period of
    two non-consecutive years, an unknown geographic level and an unknown symbol are quarantined by the reader
    of each publication, each naming its row and rule, while the other rows load."""
    name, count = PUBLICATION_FIXTURES[publication]
    text = (DFE / name).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    col = {h.lower(): i for i, h in enumerate(header)}
    urn = col.get("school_urn", col.get("urn"))
    first = next(r for r in body if r[col["geographic_level"]].lower() == "school")
    laestab = col.get("school_laestab", col.get("laestab"))
    for k in range(4):  # four more schools like the first, each to break one rule
        row = list(first)
        row[urn], row[laestab] = f"90000{k}", f"999000{k}"
        body.append(row)
    a, b, c, d = range(len(body) - 4, len(body))
    body[a][urn] = body[a][urn][1:]  # leading digit lost
    body[b][col["time_period"]] = body[b][col["time_period"]][:4] + "25"  # 202325
    body[c][col["geographic_level"]] = "Country"
    body[d][header.index(count)] = "??"
    path = tmp_path / name
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    path.write_text(out.getvalue(), encoding="utf-8")
    q = read(path).quarantine
    rules = {(r["row_number"], r["rule"]) for r in q.iter_rows(named=True)}
    assert {(a + 1, "urn_format"), (b + 1, "time_period_format"), (c + 1, "geographic_level"),
            (d + 1, "unknown_symbol")} <= rules, q.select("row_number", "rule", "column", "value").rows()  # fmt: skip
