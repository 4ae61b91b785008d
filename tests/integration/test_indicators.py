"""The dbt project on a small lake built by hand: every indicator's value worked out on paper, at every level.

The lake (tests/fixtures/indicators/): 2017/18 and 2016/17; five schools in two LAs (Newcastle upon Tyne,
North East; Leeds, Yorkshire and The Humber, which GIAS spells "Yorkshire and the Humber"), two trusts
(TR01: 100001 + 100002; TR02: 100003 + 100004), one LA-maintained primary (100005); 100004 is the academy
that replaced 100014 on 1 September 2017 (GIAS links); 100003's suspensions are suppressed in 2017/18; the
2016/17 exclusions file has only LAESTAB; 100001's 2017/18 exclusions were re-issued (latest load wins);
a cumulative pupil-survey export repeats response r1, re-coded (Year 8, Boy, SEND, FSM, every item 0): the
first-loaded copy counts, so every figure below is the first export's; r4 answered 3 of 6 items (below the
minimum of 4).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingestion.lake import Lake, SourceFile
from ingestion.lake_schema import TABLES
from tests.conftest import FIXTURES
from tests.dbt_helpers import build_warehouse

FIX = FIXTURES / "indicators"
T0 = datetime(2018, 9, 1, tzinfo=UTC)

# one dbt build per session, shared by every test here: keep them on one xdist worker
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dbt_indicators")]


def _frame(table: str, csv: Path, drop: tuple[str, ...] = ()) -> pl.DataFrame:
    raw = pl.read_csv(csv, infer_schema=False).drop(list(drop))
    schema = TABLES[table]

    def cast(c: str) -> pl.Expr:
        col = pl.col(c).replace("", None)
        if schema[c] == pl.Date():
            return col.str.to_date("%Y-%m-%d")
        if schema[c] == pl.Boolean():
            return col.str.to_lowercase() == "true"
        return col.cast(schema[c])

    return raw.with_columns([cast(c) for c in raw.columns])


def _source(name: str, minutes: int) -> SourceFile:
    """A landing file's provenance; `minutes` after T0 orders the loads."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return SourceFile(FIX / name, f"fixtures/{name}", digest, T0 + timedelta(minutes=minutes))


def _survey(lake: Lake, csv_name: str, minutes: int) -> None:
    src = _source(csv_name, minutes)
    raw = pl.read_csv(FIX / csv_name, infer_schema=False)
    responses = _frame("survey_responses", FIX / csv_name, drop=("scores",))
    lake.write("survey_responses", responses, src)
    items = pl.read_csv(FIX / "survey_items__instruments.csv", infer_schema=False)
    rows = []
    for r in raw.iter_rows(named=True):
        ids = items.filter(pl.col("instrument") == r["instrument"])["item_id"].to_list()
        for item_id, score in zip(ids, r["scores"].split(";"), strict=True):
            if score:
                s = float(score)
                points = 4 if r["instrument"] == "pupil_belonging" else 5
                rows.append(
                    {
                        "response_key": r["response_key"],
                        "instrument": r["instrument"],
                        "item_id": item_id,
                        "answer_code": round(s / 100 * (points - 1)) + 1,
                        "score": s,
                        "agree": s > 50,
                    }
                )
    lake.write("survey_answers", pl.DataFrame(rows), src)


def build_fixture_lake(home: Path) -> Lake:
    lake = Lake(home / "lake")
    lake.ensure_tables()
    files = [
        ("gias_establishments", "gias_establishments__two_trusts_two_las_one_conversion.csv", 0),
        ("gias_links", "gias_links__conversion.csv", 1),
        ("dfe_exclusions", "dfe_exclusions_201617__laestab_only.csv", 2),
        ("dfe_exclusions", "dfe_exclusions_201718__first_issue.csv", 3),
        ("dfe_exclusions", "dfe_exclusions_201718__suppressed_cell.csv", 4),
        ("dfe_absence", "dfe_absence_201718__severe_suppressed.csv", 5),
        ("dfe_census", "dfe_census_201718__pupils_by_year_group.csv", 6),
        ("dfe_sen", "dfe_sen_201718__send_shares.csv", 7),
        ("survey_items", "survey_items__instruments.csv", 8),
    ]
    for table, name, minutes in files:
        lake.write(table, _frame(table, FIX / name), _source(name, minutes))
    _survey(lake, "survey_pupil_201718__first_export.csv", 10)
    _survey(lake, "survey_pupil_201718__cumulative_export.csv", 20)
    _survey(lake, "survey_staff_201718__roles.csv", 30)
    return lake


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    build_fixture_lake(home)
    con = build_warehouse(home, tmp_path_factory.mktemp("dbt"))
    yield con
    con.close()


Y = 201718
NE, YH = "E12000001", "E12000003"
NEWCASTLE, LEEDS = "E08000021", "E08000035"


def _row(con, indicator, level, code, time_period=Y, breakdown="Total", breakdown_value="Total"):
    rows = con.execute(
        """
        select numerator, denominator, value, value_status, schools_included, schools_total,
               ci_lower, ci_upper, respondents, previous_value, change, urn_changed
        from mart_indicators
        where time_period = ? and indicator = ? and geographic_level = ? and geography_code = ?
          and breakdown = ? and breakdown_value = ?
        """,
        [time_period, indicator, level, code, breakdown, breakdown_value],
    ).fetchall()
    assert len(rows) == 1, f"{indicator} {level} {code} {breakdown}={breakdown_value}: {len(rows)} rows"
    keys = "numerator denominator value value_status schools_included schools_total ci_lower ci_upper respondents previous_value change urn_changed"
    return dict(zip(keys.split(), rows[0], strict=True))


# (indicator, level, code, numerator, denominator, schools_included, schools_total) for 2017/18, on paper:
# value = numerator / denominator x 100 (x 1 for ratios and headcount)
ADMIN = [
    # suspensions: 100001 100/1000, 100002 10/500, 100003 suppressed (left out), 100004 30/600, 100005 0/200
    ("suspension_rate", "School", "100001", 100, 1000, 1, 1),
    ("suspension_rate", "School", "100004", 30, 600, 1, 1),
    ("suspension_rate", "MAT", "TR01", 110, 1500, 2, 2),
    ("suspension_rate", "MAT", "TR02", 30, 600, 1, 2),
    ("suspension_rate", "Local authority", NEWCASTLE, 110, 1500, 2, 2),
    ("suspension_rate", "Local authority", LEEDS, 30, 800, 2, 3),
    ("suspension_rate", "Regional", NE, 110, 1500, 2, 2),
    ("suspension_rate", "Regional", YH, 30, 800, 2, 3),
    ("suspension_rate", "National", "E92000001", 140, 2300, 4, 5),
    ("one_plus_suspension_percent", "MAT", "TR01", 58, 1500, 2, 2),
    ("one_plus_suspension_percent", "National", "E92000001", 78, 2300, 4, 5),
    # permanent exclusions were published for 100003 (1 of 400)
    ("permanent_exclusion_rate", "MAT", "TR02", 1, 1000, 2, 2),
    ("permanent_exclusion_rate", "Local authority", LEEDS, 1, 1200, 3, 3),
    ("permanent_exclusion_rate", "National", "E92000001", 3, 2700, 5, 5),
    ("overall_absence_percent", "School", "100003", 12000, 120000, 1, 1),
    ("overall_absence_percent", "MAT", "TR01", 21000, 450000, 2, 2),
    ("overall_absence_percent", "Local authority", LEEDS, 23400, 360000, 3, 3),
    ("overall_absence_percent", "National", "E92000001", 44400, 810000, 5, 5),
    ("persistent_absence_percent", "Regional", YH, 160, 1200, 3, 3),
    ("persistent_absence_percent", "National", "E92000001", 320, 2700, 5, 5),
    # severe absence suppressed at 100003
    ("severe_absence_percent", "MAT", "TR02", 6, 600, 1, 2),
    ("severe_absence_percent", "National", "E92000001", 18, 2300, 4, 5),
    ("fsm_percent", "School", "100005", 60, 200, 1, 1),
    ("fsm_percent", "MAT", "TR02", 180, 1000, 2, 2),
    ("fsm_percent", "Regional", NE, 250, 1500, 2, 2),
    ("fsm_percent", "National", "E92000001", 490, 2700, 5, 5),
    ("sen_support_percent", "MAT", "TR02", 108, 1000, 2, 2),
    ("sen_support_percent", "National", "E92000001", 278, 2700, 5, 5),
    ("ehcp_percent", "Local authority", LEEDS, 42, 1200, 3, 3),
    ("ehcp_percent", "National", "E92000001", 72, 2700, 5, 5),
]


@pytest.mark.parametrize(("indicator", "level", "code", "num", "den", "included", "total"), ADMIN)
def test_admin_indicators_are_ratios_of_sums_at_every_level(
    warehouse, indicator, level, code, num, den, included, total
):
    r = _row(warehouse, indicator, level, code)
    assert (r["numerator"], r["denominator"]) == (num, den)
    assert r["value"] == pytest.approx(num / den * 100, abs=1e-9)
    assert r["value_status"] == "value"
    assert (r["schools_included"], r["schools_total"]) == (included, total)


def test_pupils_headcount_sums_the_census(warehouse):
    expected = {
        ("School", "100004"): (600, 1, 1),
        ("MAT", "TR01"): (1500, 2, 2),
        ("Local authority", LEEDS): (1200, 3, 3),
        ("Regional", YH): (1200, 3, 3),
        ("National", "E92000001"): (2700, 5, 5),
    }
    for (level, code), (value, included, total) in expected.items():
        r = _row(warehouse, "pupils_headcount", level, code)
        assert (r["value"], r["schools_included"], r["schools_total"]) == (value, included, total)
        assert r["denominator"] is None


def test_suppressed_school_keeps_its_status_and_is_left_out(warehouse):
    r = _row(warehouse, "suspension_rate", "School", "100003")
    assert r["value"] is None and r["value_status"] == "suppressed"
    assert (r["numerator"], r["denominator"], r["schools_included"]) == (None, None, 0)
    # the school's published (unsuppressed) permanent exclusions still count
    assert _row(warehouse, "permanent_exclusion_rate", "School", "100003")["value"] == pytest.approx(0.25)


def test_trust_rate_is_summed_numerator_over_summed_denominator_not_mean_of_school_rates(warehouse):
    trust = _row(warehouse, "suspension_rate", "MAT", "TR01")["value"]
    school_rates = [_row(warehouse, "suspension_rate", "School", u)["value"] for u in ("100001", "100002")]
    assert school_rates == [pytest.approx(10.0), pytest.approx(2.0)]
    assert trust == pytest.approx((100 + 10) / (1000 + 500) * 100)  # 7.333...
    assert trust != pytest.approx(sum(school_rates) / len(school_rates))  # 6.0
    # the pooled survey mean counts every respondent once: (100 + 33.3 + 66.7 + 100 + 0) / 5, not (66.7 + 50) / 2
    pooled = _row(warehouse, "belonging_score_mean", "MAT", "TR01")
    assert pooled["value"] == pytest.approx(60.0) and pooled["respondents"] == 5
    assert pooled["value"] != pytest.approx((200 / 3 + 50) / 2)


def test_representation_ratios_compare_with_the_la_phase_share(warehouse):
    # Newcastle secondaries: (120 + 50) SEND of 1500 pupils; 100001 has 120 of 1000
    assert _row(warehouse, "send_representation_ratio", "School", "100001")["value"] == pytest.approx(
        (120 / 1000) / (170 / 1500)
    )
    # Leeds secondaries: FSM 180 of 1000; 100003 has 120 of 400; the lone primary is its own LA-phase share
    assert _row(warehouse, "fsm_representation_ratio", "School", "100003")["value"] == pytest.approx(
        0.3 / 0.18
    )
    assert _row(warehouse, "fsm_representation_ratio", "School", "100005")["value"] == pytest.approx(1.0)
    # a trust sums observed over expected pupils; above that it is 1 by construction, so not published there
    trust = _row(warehouse, "send_representation_ratio", "MAT", "TR01")
    assert trust["value"] == pytest.approx(trust["numerator"] / trust["denominator"])
    for level in ("Local authority", "Regional", "National"):
        (n,), = warehouse.execute("select count(*) from mart_indicators where geographic_level = ? and indicator in "
                                  "('send_representation_ratio', 'fsm_representation_ratio')", [level]).fetchall()
        assert n == 0, level


def test_spine_places_schools_in_that_years_geography_and_trust(warehouse):
    spine = warehouse.execute(
        "select time_period, urn, trust_id, new_la_code, old_la_code, la_name, region_code, region_name "
        "from int_school_years_spined order by time_period, urn"
    ).fetchall()
    leeds = ("E08000035", "383", "Leeds", YH, "Yorkshire and The Humber")  # GIAS: "... and the Humber"
    assert spine == [
        (201617, "100001", "TR01", NEWCASTLE, "391", "Newcastle upon Tyne", NE, "North East"),
        (201617, "100002", "TR01", NEWCASTLE, "391", "Newcastle upon Tyne", NE, "North East"),
        (201617, "100003", "TR02", *leeds),
        (201617, "100005", None, *leeds),
        (201617, "100014", None, *leeds),  # closed 31 August 2017: its last year
        (201718, "100001", "TR01", NEWCASTLE, "391", "Newcastle upon Tyne", NE, "North East"),
        (201718, "100002", "TR01", NEWCASTLE, "391", "Newcastle upon Tyne", NE, "North East"),
        (201718, "100003", "TR02", *leeds),
        (201718, "100004", "TR02", *leeds),  # opened 1 September 2017 in TR02
        (201718, "100005", None, *leeds),
    ]  # never the school closed in 2015 nor the independent school
    # trust of that year: TR02 had one school in 2016/17
    assert _row(warehouse, "suspension_rate", "MAT", "TR02", time_period=201617)["schools_total"] == 1
    # each year's trusts come from the snapshot taken during it, nearest its census
    years = warehouse.execute(
        "select time_period, cast(gias_snapshot_date as varchar) from int_academic_years_listed order by 1"
    ).fetchall()
    assert years == [(201617, "2017-01-12"), (201718, "2018-01-10")]


def test_laestab_only_file_resolves_urn_and_latest_load_wins(warehouse):
    # 2016/17 exclusions carry only LAESTAB: 3834004 is 100014 that year
    r = _row(warehouse, "suspension_rate", "School", "100014", time_period=201617)
    assert (r["numerator"], r["denominator"], r["value"]) == (58, 580, pytest.approx(10.0))
    # 100001's 2017/18 row was re-issued (90 -> 100 suspensions): the later load counts
    assert _row(warehouse, "suspension_rate", "School", "100001")["numerator"] == 100


def test_change_follows_the_converted_school_and_flags_it(warehouse):
    r = _row(warehouse, "suspension_rate", "School", "100004")
    assert (r["previous_value"], r["change"], r["urn_changed"]) == (
        pytest.approx(10.0),
        pytest.approx(-5.0),
        True,
    )
    same = _row(warehouse, "suspension_rate", "School", "100001")
    assert (same["previous_value"], same["change"], same["urn_changed"]) == (10.0, 0.0, False)
    trust = _row(warehouse, "suspension_rate", "MAT", "TR01")
    assert trust["previous_value"] == pytest.approx(107 / 1430 * 100)
    assert trust["change"] == pytest.approx(110 / 1500 * 100 - 107 / 1430 * 100)


# pupil survey, spring 2017/18 (scores: r1 100, r2 33.3, r3 66.7 at 100001; r5 100, r6 0 at 100002;
# r7 66.7, r8 33.3 at 100004; r4 answered too few items; r1's repeat in the cumulative export counts once)
A, B, C = 100.0, 100 / 3, 200 / 3


def _mean_ci(scores):
    n = len(scores)
    m = sum(scores) / n
    sd2 = sum((s - m) ** 2 for s in scores) / (n - 1)
    half = 1.96 * (sd2 / n) ** 0.5
    return m, m - half, m + half


def _wave(con, indicator, level, code, breakdown="Total", value="Total"):
    rows = con.execute(
        "select value, value_status, numerator, denominator, respondents, ci_lower, ci_upper, "
        "schools_included, schools_total from mart_indicators where time_period = ? "
        "and time_identifier = 'Spring term' and indicator = ? and geographic_level = ? "
        "and geography_code = ? and breakdown = ? and breakdown_value = ?",
        [Y, indicator, level, code, breakdown, value],
    ).fetchall()
    assert len(rows) == 1, (indicator, level, code, breakdown, value, rows)
    keys = [
        "value",
        "status",
        "numerator",
        "denominator",
        "respondents",
        "ci_lower",
        "ci_upper",
        "included",
        "total",
    ]
    return dict(zip(keys, rows[0], strict=True))


@pytest.mark.parametrize(
    ("level", "code", "scores", "included", "total"),
    [
        ("School", "100001", [A, B, C], 1, 1),
        ("School", "100004", [C, B], 1, 1),
        ("MAT", "TR01", [A, B, C, A, 0.0], 2, 2),
        ("MAT", "TR02", [C, B], 1, 2),
        ("Local authority", NEWCASTLE, [A, B, C, A, 0.0], 2, 2),
        ("Local authority", LEEDS, [C, B], 1, 3),
        ("Regional", YH, [C, B], 1, 3),
        ("National", "E92000001", [A, B, C, A, 0.0, C, B], 3, 5),
    ],
)
def test_belonging_mean_ci_positive_and_respondents_at_every_level(
    warehouse, level, code, scores, included, total
):
    mean, lo, hi = _mean_ci(scores)
    r = _wave(warehouse, "belonging_score_mean", level, code)
    assert r["value"] == pytest.approx(mean)
    assert (r["ci_lower"], r["ci_upper"]) == (pytest.approx(lo), pytest.approx(hi))
    assert (r["respondents"], r["denominator"], r["included"], r["total"]) == (
        len(scores),
        len(scores),
        included,
        total,
    )
    n = _wave(warehouse, "respondents", level, code)
    assert n["value"] == len(scores)
    positive = _wave(warehouse, "belonging_positive_percent", level, code)
    assert positive["value"] == pytest.approx(sum(s > 50 for s in scores) / len(scores) * 100)


def test_response_rates_use_census_roll_of_surveyed_year_groups(warehouse):
    # 100001 surveyed Years 7 and 8 (200 + 200 on roll); 100002 Year 7 (100); 100004 Year 9 (120)
    assert _wave(warehouse, "response_rate_percent", "School", "100001")["value"] == pytest.approx(
        3 / 400 * 100
    )
    trust = _wave(warehouse, "response_rate_percent", "MAT", "TR01")
    assert (trust["numerator"], trust["denominator"], trust["value"]) == (5, 500, pytest.approx(1.0))
    nat = _wave(warehouse, "response_rate_percent", "National", "E92000001")
    assert (nat["numerator"], nat["denominator"]) == (7, 620)
    y7 = _wave(warehouse, "response_rate_percent", "School", "100001", "year_group", "Year 7")
    assert y7["value"] == pytest.approx(2 / 200 * 100)


def test_items_breakdowns_and_gaps(warehouse):
    # agreement with "I feel like I belong" (scores above 50 agree): r1, r3 of 100001
    assert _wave(warehouse, "belong_agree_percent", "School", "100001")["value"] == pytest.approx(200 / 3)
    assert _wave(warehouse, "outsider_disagree_percent", "National", "E92000001")["value"] == pytest.approx(
        400 / 7
    )
    girls = _wave(warehouse, "belonging_score_mean", "MAT", "TR01", "gender", "Girl")  # r1, r3, r5
    assert (girls["value"], girls["respondents"]) == (pytest.approx((A + C + A) / 3), 3)
    fsm_yes = _wave(warehouse, "respondents", "National", "E92000001", "fsm", "Yes")  # r2, r3, r8
    assert fsm_yes["value"] == 3
    # SEND gap in TR01: non-SEND r1, r3, r5 minus SEND r2, r6
    no, yes = [A, C, A], [B, 0.0]
    gap = _wave(warehouse, "belonging_gap_send", "MAT", "TR01")
    m_no, m_yes = sum(no) / 3, sum(yes) / 2
    var_no = sum((s - m_no) ** 2 for s in no) / 2
    var_yes = sum((s - m_yes) ** 2 for s in yes) / 1
    half = 1.96 * (var_no / 3 + var_yes / 2) ** 0.5
    assert gap["value"] == pytest.approx(m_no - m_yes)  # 72.2: SEND pupils feel they belong less
    assert (gap["ci_lower"], gap["ci_upper"]) == (
        pytest.approx(m_no - m_yes - half),
        pytest.approx(m_no - m_yes + half),
    )
    # a school with no FSM pupil responding has no FSM gap
    assert _wave(warehouse, "belonging_gap_fsm", "School", "100002")["status"] == "missing"


def test_excluded_and_duplicate_responses_are_counted_once_or_not_at_all(warehouse):
    scored = warehouse.execute(
        "select response_key, gender, year_group, raw_scale_score, coalesce(excluded_reason, 'included') "
        "from int_survey_responses_scored order by response_key"
    ).fetchall()
    assert scored == [
        ("r1", "Girl", "Year 7", 100.0, "included"),  # once, as first loaded (the cumulative copy: Boy, 0)
        ("r2", "Boy", "Year 7", pytest.approx(100 / 3), "included"),
        ("r3", "Girl", "Year 8", pytest.approx(200 / 3), "included"),
        ("r4", "Boy", "Year 8", 100.0, "too_few_items"),
        ("r5", "Girl", "Year 7", 100.0, "included"),
        ("r6", "Boy", "Year 7", 0.0, "included"),
        ("r7", "Girl", "Year 9", pytest.approx(200 / 3), "included"),
        ("r8", "Boy", "Year 9", pytest.approx(100 / 3), "included"),
        ("s1", None, None, 75.0, "included"),
        ("s2", None, None, 50.0, "included"),
    ]
    # r1's answers are the first export's too: six, all scoring 100
    answers = warehouse.execute(
        "select count(*), min(score), max(score) from staging.stg_surveys__answers where response_key = 'r1'"
    ).fetchall()
    assert answers == [(6, 100.0, 100.0)]


def test_staff_indicators_by_role(warehouse):
    assert _wave(warehouse, "staff_belonging_score_mean", "School", "100001")["value"] == pytest.approx(62.5)
    assert _wave(warehouse, "staff_belonging_positive_percent", "National", "E92000001")["value"] == 50.0
    teacher = _wave(warehouse, "staff_belonging_score_mean", "MAT", "TR01", "role", "Teacher")
    assert (teacher["value"], teacher["respondents"]) == (75.0, 1)
    rate = _wave(warehouse, "staff_response_rate_percent", "National", "E92000001")
    assert (rate["value"], rate["status"]) == (None, "not_available")


def test_reconciliation_with_dfe_aggregates(warehouse):
    """dbt states the facts (ours, theirs, shortfall, suppressed school cells); the mart gate judges them with
    the tolerance and the largest count a suppressed cell can hide (gates.suppressed_cell_max)."""
    from expectations.marts import reconciliation_frame

    rec = warehouse.sql("select * from mart_reconciliation").pl()

    def judged(suppressed_cell_max):
        frame = reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max=suppressed_cell_max)
        return {
            (r["geographic_level"], r["geography_code"], r["measure"]): (
                r["ours"], r["theirs"], r["shortfall"], r["school_cells_suppressed"], r["explained_by_suppression"],
                r["within_tolerance"])
            for r in frame.filter((pl.col("time_period") == 201718) & (pl.col("phase") == "Total")).iter_rows(
                named=True)
        }

    rows = judged({"default": 2})
    # 100003's suspensions were suppressed: Leeds sums to 30 of the published 35. One `c` hides at most 2, so
    # 5 short is more than suppression explains (it passed before: any shortfall beside a `c` did)
    assert rows[("Local authority", LEEDS, "suspension")] == (30, 35, 5, 1, False, False)
    assert rows[("National", "E92000001", "suspension")] == (140, 145, 5, 1, False, False)
    assert rows[("National", "E92000001", "headcount")] == (2700, 2700, 0, 0, False, True)
    # the fixture's North East published 5 permanent exclusions; its schools sum to 2, nothing suppressed
    assert rows[("Regional", NE, "perm_excl")] == (2, 5, 3, 0, False, False)
    # were the DfE to hide counts up to 5 behind a `c`, the same shortfall would be explained
    wide = judged({"default": 2, "exclusions.suspension": 5})
    assert wide[("Local authority", LEEDS, "suspension")] == (30, 35, 5, 1, True, False)
    assert wide[("Regional", NE, "perm_excl")][4] is False
    # 2016/17 (LAESTAB-only school rows) reconciles exactly
    nat = reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max=2).filter(
        (pl.col("time_period") == 201617) & (pl.col("geographic_level") == "National")
        & (pl.col("phase") == "Total") & (pl.col("measure") == "suspension"))
    assert nat.select("ours", "theirs", "within_tolerance").rows() == [(186, 186, True)]


def test_inclusion_profile_percentiles_within_phase(warehouse):
    rows = {
        urn: (rate, pct, belonging, bpct)
        for urn, rate, pct, belonging, bpct in warehouse.execute(
            "select school_urn, suspension_rate, suspension_rate_percentile, belonging_score_mean, "
            "belonging_score_mean_percentile from mart_inclusion_profile where time_period = 201718"
        ).fetchall()
    }
    # secondaries with a published rate: 100002 (2) < 100004 (5) < 100001 (10); 100003 suppressed
    assert rows["100002"][:2] == (pytest.approx(2.0), 0.0)
    assert rows["100004"][:2] == (pytest.approx(5.0), 50.0)
    assert rows["100001"][:2] == (pytest.approx(10.0), 100.0)
    assert rows["100003"][:2] == (None, None)
    assert rows["100005"][:2] == (0.0, 0.0)  # the only primary
    # three pupils' belonging score is shown, but under the disclosure threshold it is not ranked
    assert rows["100001"][2:] == (pytest.approx(200 / 3), None)
    (reliability,), = warehouse.execute("select belonging_reliability from mart_inclusion_profile "
                                        "where time_period = 201718 and school_urn = '100001'").fetchall()
    assert reliability == "low_reliability"


def test_wide_views_show_gss_symbols(warehouse):
    school = warehouse.execute(
        "select suspension_rate, suspension_rate_symbol, pupil_belonging_score_mean "
        "from school_indicators_wide where time_period = 201718 and geography_code = '100003'"
    ).fetchall()
    assert school == [(None, "c", None)]
    trust = warehouse.execute(
        "select suspension_rate, pupil_belonging_score_mean, staff_belonging_score_mean "
        "from trust_indicators_wide where time_period = 201718 and geography_code = 'TR01'"
    ).fetchall()
    assert trust == [(pytest.approx(110 / 15), pytest.approx(60.0), pytest.approx(62.5))]
