"""EES extracts: screener-clean files, byte-identical rebuilds, complete meta, lookup names, symbols."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from expectations.screener import screen
from publication.disclosure import apply_disclosure_control
from publication.extracts import GEOGRAPHY_COLUMNS, TIME_COLUMNS, ExtractError, build_extracts
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
HARMONISED = ("sen_", "primary_need", "ethnic", "school_type", "establishment_type", "provider_type")


@pytest.fixture(scope="module")
def published() -> pl.DataFrame:
    return apply_disclosure_control(load_mart(), **DISCLOSURE)


@pytest.fixture(scope="module")
def built(published, tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    return out, build_extracts(published, out, LOOKUP)


def read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_extract_set(built):
    _, infos = built
    names = [i.name for i in infos]
    for family in ("admin_indicators", "pupil_belonging"):
        for level in ("school", "mat", "la", "regional", "national"):
            assert f"{family}_{level}" in names
    info = next(i for i in infos if i.name == "admin_indicators_la")
    assert info.rows == 4 and info.csv_path.name == "admin_indicators_la.csv"
    assert info.meta_path.exists() and info.parquet_path.exists() and len(info.csv_sha256) == 64


def test_every_extract_passes_the_screener_rules(built):
    _, infos = built
    for info in infos:
        for result in screen(info.csv_path, info.meta_path, LOOKUP):
            assert result.passed, (info.name, result.name, result.message, result.offending)


def test_rebuild_is_byte_identical(published, built, tmp_path):
    _, infos = built
    shuffled = published.sample(fraction=1.0, shuffle=True, seed=7)
    again = build_extracts(shuffled, tmp_path / "again", LOOKUP)
    assert [(i.name, i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in again] == [
        (i.name, i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in infos
    ]


def test_meta_lists_every_filter_and_indicator_once(built):
    _, infos = built
    for info in infos:
        data_cols = read(info.csv_path)[0].keys()
        meta = read(info.meta_path)
        expected = [c for c in data_cols if c not in GEOGRAPHY_COLUMNS and c not in TIME_COLUMNS]
        assert [m["col_name"] for m in meta] == expected, info.name
        labels = [m["label"] for m in meta]
        assert len(labels) == len(set(labels))
        for m in meta:
            if m["col_type"] == "Filter":
                assert m["indicator_unit"] == "" and m["indicator_dp"] == ""
            else:
                assert m["col_type"] == "Indicator" and m["indicator_dp"].isdigit()
    meta = {
        m["col_name"]: m for m in read(next(i for i in infos if i.name == "pupil_belonging_la").meta_path)
    }
    assert meta["breakdown_value"]["filter_grouping_column"] == "breakdown"
    assert meta["belonging_positive_percent"]["indicator_unit"] == "%"


def test_columns_mandatory_and_screener_safe(built):
    _, infos = built
    by = {i.name: i for i in infos}
    school = read(by["admin_indicators_school"].csv_path)
    assert list(school[0])[:8] == [
        "time_period", "time_identifier", "geographic_level", "country_code", "country_name",
        "school_urn", "school_laestab", "school_name",
    ]  # fmt: skip
    assert "special_needs_support_percent" in school[0] and "ehc_plan_percent" in school[0]
    la = read(by["pupil_belonging_la"].csv_path)
    assert list(la[0])[5:12] == ["region_code", "region_name", "old_la_code", "new_la_code", "la_name",
                                 "breakdown", "breakdown_value"]  # an LA row names its region (EES screener)
    for info in infos:
        for col in read(info.csv_path)[0]:
            assert not any(p in col for p in HARMONISED), (info.name, col)


def test_values_symbols_and_formatting(built):
    _, infos = built
    by = {i.name: i for i in infos}
    school = {r["school_urn"]: r for r in read(by["admin_indicators_school"].csv_path)}
    assert school["100001"]["fsm_percent"] == "15.0"  # 90 / 600, one decimal place
    assert school["100001"]["suspension_rate"] == "116.67"  # a rate per 100 above 100, two places
    assert school["100006"]["fsm_percent"] == "c"  # the DfE's own suppression kept
    rows = read(by["pupil_belonging_school"].csv_path)
    tiny = next(r for r in rows if r["school_urn"] == "100004" and r["breakdown"] == "Total")
    assert tiny["respondents"] == "c" and tiny["belonging_score_mean"] == "c"
    girls = next(r for r in rows if r["school_urn"] == "100002" and r["breakdown_value"] == "Girl")
    assert girls["belonging_gap_special_needs_points"] == "z"  # a gap exists on Total rows only
    for r in rows:
        for k, v in r.items():
            assert v not in ("", "NA", "NULL", ":", ".", "nan"), (k, r)
    # rows sorted by key: school, then Total first
    keys = [
        (r["school_urn"], r["breakdown"] != "Total", r["breakdown"], r["breakdown_value"] != "Total")
        for r in rows
    ]
    assert keys == sorted(keys)


def test_names_come_from_the_lookup(published, tmp_path):
    misspelt = published.with_columns(
        pl.when(pl.col("la_name") == "Hartlepool").then(pl.lit("HARTLEPOOL ")).otherwise(pl.col("la_name")).alias("la_name"),
        pl.when(pl.col("region_name") == "North East").then(pl.lit("North-East")).otherwise(pl.col("region_name")).alias("region_name"),
    )  # fmt: skip
    infos = build_extracts(misspelt, tmp_path, LOOKUP)
    la = read(next(i for i in infos if i.name == "admin_indicators_la").csv_path)
    assert {r["la_name"] for r in la} == {"Hartlepool", "Middlesbrough", "Halton", "Warrington"}
    assert {(r["la_name"], r["region_code"], r["region_name"]) for r in la} == {
        ("Hartlepool", "E12000001", "North East"), ("Middlesbrough", "E12000001", "North East"),
        ("Halton", "E12000002", "North West"), ("Warrington", "E12000002", "North West")}  # fmt: skip
    reg = read(next(i for i in infos if i.name == "admin_indicators_regional").csv_path)
    assert {r["region_name"] for r in reg} == {"North East", "North West"}


def test_parquet_is_typed_with_status_columns(built):
    _, infos = built
    info = next(i for i in infos if i.name == "pupil_belonging_school")
    pq = pl.read_parquet(info.parquet_path)
    assert pq.schema["belonging_score_mean"] == pl.Float64 and pq.schema["time_period"] == pl.Int32
    tiny = pq.filter((pl.col("school_urn") == "100004") & (pl.col("breakdown") == "Total"))
    assert tiny["belonging_score_mean"][0] is None
    assert tiny["belonging_score_mean_status"][0] == "suppressed"
    assert pq.height == info.rows


def test_unknown_la_code_is_a_clear_error(published, tmp_path):
    bad = published.with_columns(
        pl.when(pl.col("new_la_code") == "E06000001").then(pl.lit("E06999999")).otherwise(pl.col("new_la_code")).alias("new_la_code")
    )  # fmt: skip
    with pytest.raises(
        ExtractError, match=r"row \d+: new_la_code 'E06999999' is not in the DfE geography lookup"
    ):
        build_extracts(bad, tmp_path, LOOKUP)


def test_refuses_a_mart_without_disclosure_control(tmp_path):
    with pytest.raises(ExtractError, match="apply_disclosure_control"):
        build_extracts(load_mart(), tmp_path, LOOKUP)


# Every published indicator as it appears in the extracts: mart indicator -> (extract family, column, label,
# EES unit, decimal places). The values as published today, written out: a catalogue of indicator definitions
# must reproduce them (or change this table on purpose).
PUBLISHED = [
    ("pupils_headcount", "admin_indicators", "pupils_headcount", "Pupils (headcount)", "", 0),
    ("fsm_percent", "admin_indicators", "fsm_percent", "Pupils eligible for free school meals (%)", "%", 1),
    ("sen_support_percent", "admin_indicators", "special_needs_support_percent", "Pupils receiving SEN support (%)", "%", 1),
    ("ehcp_percent", "admin_indicators", "ehc_plan_percent", "Pupils with an EHC plan (%)", "%", 1),
    ("overall_absence_percent", "admin_indicators", "overall_absence_percent", "Overall absence rate (%)", "%", 1),
    ("persistent_absence_percent", "admin_indicators", "persistent_absence_percent", "Persistent absentees, 10% or more sessions missed (%)", "%", 1),
    ("severe_absence_percent", "admin_indicators", "severe_absence_percent", "Severe absentees, 50% or more sessions missed (%)", "%", 1),
    ("suspension_rate", "admin_indicators", "suspension_rate", "Suspensions per 100 pupils", "", 2),
    ("one_plus_suspension_percent", "admin_indicators", "one_plus_suspension_percent", "Pupils with one or more suspensions (%)", "%", 2),
    ("permanent_exclusion_rate", "admin_indicators", "permanent_exclusion_rate", "Permanent exclusions per 100 pupils", "", 2),
    ("send_representation_ratio", "admin_indicators", "special_needs_representation_ratio", "SEN representation ratio (school share / LA phase share)", "", 2),
    ("fsm_representation_ratio", "admin_indicators", "free_meals_representation_ratio", "FSM representation ratio (school share / LA phase share)", "", 2),
    ("respondents", "pupil_belonging", "respondents", "Respondents (valid responses)", "", 0),
    ("response_rate_percent", "pupil_belonging", "response_rate_percent", "Response rate (%)", "%", 1),
    ("belonging_score_mean", "pupil_belonging", "belonging_score_mean", "Mean belonging score (0-100)", "", 1),
    ("belonging_positive_percent", "pupil_belonging", "belonging_positive_percent", "Respondents with a belonging score above 50 (%)", "%", 1),
    ("belonging_gap_send", "pupil_belonging", "belonging_gap_special_needs_points", "Belonging gap: pupils without minus pupils with special needs (score points)", "", 1),
    ("belonging_gap_fsm", "pupil_belonging", "belonging_gap_free_meals_points", "Belonging gap: pupils without minus with free school meals (score points)", "", 1),
    ("outsider_disagree_percent", "pupil_belonging", "outsider_disagree_percent", "Percent disagreeing: I feel like an outsider (or left out of things) at school", "%", 1),
    ("make_friends_agree_percent", "pupil_belonging", "make_friends_agree_percent", "Percent agreeing: I make friends easily at school", "%", 1),
    ("belong_agree_percent", "pupil_belonging", "belong_agree_percent", "Percent agreeing: I feel like I belong at school", "%", 1),
    ("awkward_disagree_percent", "pupil_belonging", "awkward_disagree_percent", "Percent disagreeing: I feel awkward and out of place in my school", "%", 1),
    ("liked_agree_percent", "pupil_belonging", "liked_agree_percent", "Percent agreeing: Other students seem to like me", "%", 1),
    ("lonely_disagree_percent", "pupil_belonging", "lonely_disagree_percent", "Percent disagreeing: I feel lonely at school", "%", 1),
    ("staff_respondents", "staff_belonging", "staff_respondents", "Staff respondents (valid responses)", "", 0),
    ("staff_response_rate_percent", "staff_belonging", "staff_response_rate_percent", "Staff response rate (%)", "%", 1),
    ("staff_belonging_score_mean", "staff_belonging", "staff_belonging_score_mean", "Mean staff belonging score (0-100)", "", 1),
    ("staff_belonging_positive_percent", "staff_belonging", "staff_belonging_positive_percent", "Staff with a belonging score above 50 (%)", "%", 1),
    ("staff_valued_agree_percent", "staff_belonging", "staff_valued_agree_percent", "Percent agreeing: I feel valued as a member of staff at this school", "%", 1),
    ("staff_be_myself_agree_percent", "staff_belonging", "staff_be_myself_agree_percent", "Percent agreeing: I can be myself at work", "%", 1),
    ("staff_listened_to_agree_percent", "staff_belonging", "staff_listened_to_agree_percent", "Percent agreeing: My views are listened to and acted on", "%", 1),
    ("staff_part_of_team_agree_percent", "staff_belonging", "staff_part_of_team_agree_percent", "Percent agreeing: I feel part of a team", "%", 1),
    ("staff_recommend_agree_percent", "staff_belonging", "staff_recommend_agree_percent", "Percent agreeing: I would recommend this school as a place to work", "%", 1),
]  # fmt: skip
# means and gaps also publish their 95% CI bounds, with the figure's unit and decimal places
WITH_CI = ("belonging_score_mean", "belonging_gap_send", "belonging_gap_fsm", "staff_belonging_score_mean")
# rates, shares and means publish their numerator and denominator: indicator -> their decimal places (counts
# none; a mean's sum of scores and a representation ratio's expected pupils the figure's)
WITH_PARTS = {indicator: (0, 0) for indicator, *_ in PUBLISHED
              if indicator not in ("pupils_headcount", "respondents", "staff_respondents")
              and not indicator.startswith("belonging_gap")}
WITH_PARTS |= {"belonging_score_mean": (1, 0), "staff_belonging_score_mean": (1, 0),
               "send_representation_ratio": (0, 2), "fsm_representation_ratio": (0, 2)}


def test_every_published_indicator_name_label_unit_and_decimal_places(tmp_path):
    """One school row per mart indicator (value 12.34567) through build_extracts: each extract's .meta.csv
    gives every indicator's published name, label, unit and decimal places, and the .csv shows the value with
    exactly those decimal places."""
    mart = load_mart()
    school = (pl.col("geography_code") == "100001") & (pl.col("breakdown") == "Total")
    template = {
        "admin": mart.filter(school & (pl.col("indicator") == "fsm_percent")),
        "survey": mart.filter(school & (pl.col("indicator") == "belonging_score_mean")),
    }
    rows = []
    for indicator, family, *_ in PUBLISHED:
        row = template["admin" if family == "admin_indicators" else "survey"]
        ci = indicator in WITH_CI
        rows.append(row.with_columns(
            indicator=pl.lit(indicator), source=pl.lit("admin" if family == "admin_indicators" else family),
            value=pl.lit(12.34567), value_status=pl.lit("value"), published_status=pl.lit("value"),
            numerator=pl.lit(123.0), denominator=pl.lit(1000.0),
            ci_lower=pl.lit(10.98765 if ci else None, pl.Float64), ci_upper=pl.lit(13.5 if ci else None, pl.Float64),
        ))  # fmt: skip
    infos = build_extracts(pl.concat(rows, how="vertical_relaxed"), tmp_path, LOOKUP)
    assert [i.name for i in infos] == ["admin_indicators_school", "pupil_belonging_school", "staff_belonging_school"]
    published, shown = {}, {}
    for info in infos:
        family = info.name.removesuffix("_school")
        for m in read(info.meta_path):
            assert m["col_type"] == "Indicator", m
            published[(family, m["col_name"])] = (m["label"], m["indicator_unit"], int(m["indicator_dp"]))
        (data,) = read(info.csv_path)
        shown |= {(family, c): v for c, v in data.items() if (family, c) in published}
    expected = {}
    for indicator, family, column, label, unit, dp in PUBLISHED:
        expected[(family, column)] = (label, unit, dp)
        if indicator in WITH_CI:
            for bound in ("lower", "upper"):
                expected[(family, f"{column}_ci_{bound}")] = (f"95% confidence interval, {bound} bound: {column}", unit, dp)
        if indicator in WITH_PARTS:  # rates, shares and means: the sums they are made of, counts with no decimals
            num_dp, den_dp = WITH_PARTS[indicator]
            expected[(family, f"{column}_numerator")] = (f"Numerator of {column}", "", num_dp)
            expected[(family, f"{column}_denominator")] = (f"Denominator of {column}", "", den_dp)
    assert published == expected
    value = {"": 12.34567, "_ci_lower": 10.98765, "_ci_upper": 13.5, "_numerator": 123.0, "_denominator": 1000.0}
    for (family, column), (_label, _unit, dp) in expected.items():
        suffix = next((s for s in value if s and column.endswith(s)), "")
        assert shown[(family, column)] == f"{value[suffix]:.{dp}f}", (family, column, dp)


# --- coverage: what each figure is made of -----------------------------------------------------------------


def test_a_trusts_rate_recomputes_from_its_coverage_columns(published, built):
    """A reader redoes a trust's arithmetic from the extract alone: each rate is its numerator over its
    denominator (x 100), rounded as published, with the schools it includes out of the trust's schools; the
    coverage matches the mart's sums."""
    _, infos = built
    mats = read(next(i for i in infos if i.name == "admin_indicators_mat").csv_path)
    truth = published.filter((pl.col("geographic_level") == "MAT") & (pl.col("source") == "admin"))
    checked = 0
    for row in mats:
        for indicator, column, scale in (("suspension_rate", "suspension_rate", 100),
                                         ("fsm_percent", "fsm_percent", 100)):  # fmt: skip
            num, den = float(row[f"{column}_numerator"]), float(row[f"{column}_denominator"])
            assert row[column] == f"{num / den * scale:.{len(row[column].split('.')[1])}f}", (row["trust_id"], column)
            mart = truth.filter((pl.col("geography_code") == row["trust_id"]) & (pl.col("indicator") == indicator))
            assert (num, den, int(row[f"{column}_schools"]), int(row["schools_total"])) == (
                mart["numerator"][0], mart["denominator"][0], mart["schools_included"][0], mart["schools_total"][0])
            assert int(row[f"{column}_schools"]) <= int(row["schools_total"])
            checked += 1
    assert checked == 2 * len(mats) > 0


def test_coverage_follows_its_figure_through_disclosure_control(built):
    """A suppressed survey figure's numerator and denominator are `c` too (it cannot be recomputed from
    them); the schools it rests on are shown, so a reader sees why a trust's figure is `c`."""
    _, infos = built
    by = {i.name: i for i in infos}
    school = read(by["pupil_belonging_school"].csv_path)
    tiny = next(r for r in school if r["school_urn"] == "100004" and r["breakdown"] == "Total")
    parts = [c for c in tiny if c.endswith(("_numerator", "_denominator"))]
    assert parts and {tiny[c] for c in parts} == {"c"}
    assert "schools_included" not in tiny and not any(c.endswith("_schools") for c in tiny)  # School rows: none
    shown = next(r for r in school if r["school_urn"] == "100002" and r["breakdown"] == "Total")
    assert shown["belonging_score_mean"] != "c"
    assert float(shown["belonging_score_mean_numerator"]) / float(shown["belonging_score_mean_denominator"]) == (
        pytest.approx(float(shown["belonging_score_mean"]), abs=0.05))
    assert shown["belonging_score_mean_denominator"] == shown["respondents"]
    for name in ("pupil_belonging_mat", "pupil_belonging_la", "pupil_belonging_regional", "pupil_belonging_national"):
        for r in read(by[name].csv_path):
            assert r["schools_included"].isdigit() and r["schools_total"].isdigit(), (name, r)
            assert int(r["schools_included"]) <= int(r["schools_total"])
            if r["respondents"] != "c":
                assert int(r["schools_included"]) >= DISCLOSURE["min_schools"], (name, r)
            for c in r:
                if c.endswith(("_numerator", "_denominator")):
                    figure = c.rsplit("_", 1)[0]
                    assert (r[c] == "c") == (r[figure] == "c"), (name, c, r)


# --- roll stability: a signal beside what is normal, its flag visible in the CSV ---------------------------------

ROLL = "roll_stability_y10_y11_percent"


def roll_stability_mart() -> pl.DataFrame:
    """The fixture mart's fsm_percent rows at every level as roll stability: England 92.345; school 100001 flagged
    (opened in the window: low_reliability, 150, in no sum), school 100002 not open a year earlier (not_applicable)."""
    rows = load_mart().filter(pl.col("indicator") == "fsm_percent").with_columns(indicator=pl.lit(ROLL))
    code, level = pl.col("geography_code"), pl.col("geographic_level")
    rows = rows.with_columns(
        value=pl.when(level == "National").then(92.345).when(code == "100001").then(150.0)
        .when(code == "100002").then(None).otherwise(pl.col("value")),
        value_status=pl.when(code == "100001").then(pl.lit("low_reliability"))
        .when(code == "100002").then(pl.lit("not_applicable")).otherwise(pl.col("value_status")),
    )
    return apply_disclosure_control(rows, **DISCLOSURE)


@pytest.fixture(scope="module")
def roll_stability(tmp_path_factory):
    infos = build_extracts(roll_stability_mart(), tmp_path_factory.mktemp("roll"), LOOKUP)
    return {i.name.removeprefix("admin_indicators_"): i for i in infos}


def test_roll_stability_shows_the_national_rate_beside_every_row_below_england(roll_stability):
    for level in ("school", "mat", "la", "regional"):
        info = roll_stability[level]
        data = read(info.csv_path)
        assert data and {r[f"{ROLL}_national"] for r in data} == {"92.3"}, level  # the figure's 1 dp
        meta = {m["col_name"]: m for m in read(info.meta_path)}
        assert (meta[f"{ROLL}_national"]["label"], meta[f"{ROLL}_national"]["indicator_unit"],
                meta[f"{ROLL}_national"]["indicator_dp"], meta[f"{ROLL}_national"]["indicator_grouping"]) == (
            f"England's {ROLL} that year, for comparison", "%", "1", "Roll stability")  # fmt: skip
        assert list(data[0]).index(f"{ROLL}_national") == list(data[0]).index(ROLL) + 1  # right beside it
    england = read(roll_stability["national"].csv_path)
    assert [r[ROLL] for r in england] == ["92.3"] and f"{ROLL}_national" not in england[0]


def test_roll_stability_flag_is_visible_in_the_csv_and_typed_in_the_parquet(roll_stability):
    """A flagged school's figure is shown with `1` in its flag column; a plain value has `0`; a school with no
    figure (not open a year earlier) has the figure's symbol in both. Only School rows can be flagged."""
    school = {r["school_urn"]: r for r in read(roll_stability["school"].csv_path)}
    assert (school["100001"][ROLL], school["100001"][f"{ROLL}_flag"]) == ("150.0", "1")
    assert (school["100002"][ROLL], school["100002"][f"{ROLL}_flag"]) == ("z", "z")
    others = {urn: (r[ROLL], r[f"{ROLL}_flag"]) for urn, r in school.items() if urn not in ("100001", "100002")}
    assert others.pop("100006") == ("c", "c")  # a DfE `c` input: the flag follows the figure's symbol
    assert len(others) == 13 and {flag for _, flag in others.values()} == {"0"}
    meta = {m["col_name"]: m for m in read(roll_stability["school"].meta_path)}
    assert (meta[f"{ROLL}_flag"]["label"], meta[f"{ROLL}_flag"]["indicator_unit"], meta[f"{ROLL}_flag"]["indicator_dp"]) == (
        f"Flag of {ROLL}: 1 = low reliability, not ranked", "", "0")
    typed = pl.read_parquet(roll_stability["school"].parquet_path).filter(
        pl.col("school_urn").is_in(["100001", "100002", "100003"])).sort("school_urn")
    assert typed[f"{ROLL}_flag"].to_list() == [1.0, None, 0.0]
    assert typed[f"{ROLL}_flag_status"].to_list() == ["low_reliability", "not_applicable", "value"]
    assert typed[f"{ROLL}_national"].to_list() == [92.345] * 3
    for level in ("mat", "la", "regional", "national"):
        assert f"{ROLL}_flag" not in read(roll_stability[level].csv_path)[0], level


def test_roll_stability_extracts_pass_the_screener_and_the_extract_gate(roll_stability):
    from expectations.extracts import extract_gate

    for level, info in roll_stability.items():
        for result in screen(info.csv_path, info.meta_path, LOOKUP):
            assert result.status == "PASS", (level, result.name, result.message, result.offending)
        gate = extract_gate(info.csv_path, info.meta_path, LOOKUP, **DISCLOSURE)
        assert gate.passed and gate.failures == [], (level, gate.summary())


def test_roll_stability_extracts_rebuild_byte_identical(roll_stability, tmp_path):
    """England's figure and the flag are joined and placed by key: the mart's row order changes no byte."""
    again = build_extracts(roll_stability_mart().sample(fraction=1.0, shuffle=True, seed=11), tmp_path, LOOKUP)
    assert [(i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in again] == [
        (i.csv_sha256, i.meta_sha256, i.parquet_sha256) for i in roll_stability.values()]
