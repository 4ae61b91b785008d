"""Gates: every check of every suite passes on good input and fails on bad, and a failure names the table,
column, rule and offending rows. Good and bad inputs are built here, named after the checks they exercise."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from expectations.extracts import extract_gate
from expectations.marts import mart_gate
from expectations.raw import raw_checks, raw_gate
from expectations.runner import Check, run_suite
from ingestion.lake_schema import conform
from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from tests.conftest import DISCLOSURE, GATES, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
PROV = {
    "_source_file": "dfe/excl.csv",
    "_source_sha256": "ab" * 32,
    "_loaded_at": datetime(2026, 11, 1, tzinfo=UTC),
}


def failed(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.failures:
        out.setdefault(f.rule, []).append(f)
    return out


# --- runner ------------------------------------------------------------------------------------------------


def test_runner_reports_table_column_rule_rows_and_writes_data_docs(tmp_path):
    frame = pl.DataFrame({"urn": ["100001", "10002", "100003"], "n": [1.0, 2.0, -3.0]})
    checks = [
        Check("urn_format", "expect_column_values_to_match_regex", {"column": "urn", "regex": r"^\d{6}$"}, "URN must be 6 digits"),
        Check("n_not_negative", "expect_column_values_to_be_between", {"column": "n", "min_value": 0}, "n must be >= 0",
              severity="warning", context_columns=("urn",)),
    ]  # fmt: skip
    result = run_suite("demo", frame, checks, data_docs_dir=tmp_path / "docs", table="gias_establishments")
    assert not result.passed and result.checks_run == 2
    urn = failed(result)["urn_format"][0]
    assert (urn.table, urn.column, urn.expectation) == (
        "gias_establishments",
        "urn",
        "expect_column_values_to_match_regex",
    )
    assert urn.offending == [{"row": 2, "urn": "10002"}]
    assert "URN must be 6 digits" in urn.message and "1 rows" in urn.message
    assert failed(result)["n_not_negative"][0].offending == [{"row": 3, "urn": "100003", "n": -3.0}]
    assert "gias_establishments.urn: urn_format" in result.summary()
    assert result.data_docs == tmp_path / "docs" / "index.html" and result.data_docs.exists()
    assert list((tmp_path / "docs" / "validations").rglob("*.html"))

    ok = run_suite("demo_ok", frame.filter((pl.col("n") > 0) & (pl.col("urn") != "10002")), checks, table="t")
    assert ok.passed and ok.failures == []
    # a warning alone does not fail the gate
    warn_only = run_suite("demo_warn", frame.filter(pl.col("urn") != "10002"), checks, table="t")
    assert warn_only.passed and [f.rule for f in warn_only.failures] == ["n_not_negative"]


def test_data_docs_once_builds_the_site_once_with_every_suite(tmp_path):
    from expectations.runner import data_docs_once

    docs = tmp_path / "docs"
    frame = pl.DataFrame({"urn": ["100001", "10002"]})
    check = Check("urn_format", "expect_column_values_to_match_regex", {"column": "urn", "regex": r"^\d{6}$"}, "6 digits")
    with data_docs_once():
        first = run_suite("first_suite", frame, [check], data_docs_dir=docs)
        second = run_suite("second_suite", frame.head(1), [check], data_docs_dir=docs)
        assert not (docs / "index.html").exists()  # not yet: built once, at the end
    assert not first.passed and second.passed
    assert first.data_docs == second.data_docs == docs / "index.html" and first.data_docs.exists()
    pages = {p.relative_to(docs / "validations").parts[0] for p in (docs / "validations").rglob("*.html")}
    assert pages == {"first_suite", "second_suite"}
    index = first.data_docs.read_text()
    assert "first_suite" in index and "second_suite" in index


def test_a_later_gate_renders_only_its_own_pages_and_the_index(tmp_path):
    """A run's gates share one Data Docs site: each gate renders its own suites' pages and the index, not again
    the pages of the gates before it (which made the n-th gate's Data Docs cost grow with n)."""
    import os

    from expectations.runner import data_docs_once

    docs = tmp_path / "docs"
    frame = pl.DataFrame({"urn": ["100001", "10002"]})
    check = Check("urn_format", "expect_column_values_to_match_regex", {"column": "urn", "regex": r"^\d{6}$"}, "6 digits")
    with data_docs_once():
        run_suite("earlier_gate", frame, [check], data_docs_dir=docs)
    earlier = [*(docs / "validations" / "earlier_gate").rglob("*.html"), docs / "expectations" / "earlier_gate.html"]
    assert all(p.exists() for p in earlier)
    for p in earlier:
        os.utime(p, (0, 0))  # marked: a page rendered again gets a new modification time
    with data_docs_once():
        later = run_suite("later_gate", frame.head(1), [check], data_docs_dir=docs)
    assert later.passed and list((docs / "validations" / "later_gate").rglob("*.html"))
    assert [p.stat().st_mtime for p in earlier] == [0] * len(earlier)
    index = later.data_docs.read_text()
    assert "earlier_gate" in index and "later_gate" in index


# --- raw ---------------------------------------------------------------------------------------------------

def dfe_rows(**changes) -> pl.DataFrame:
    base = {
        "time_period": 201617, "time_identifier": "Academic year", "geographic_level": "School",
        "country_code": "E92000001", "country_name": "England", "new_la_code": "E06000001", "old_la_code": "805",
        "school_urn": "100001", "school_laestab": "8054001", "phase": "Total", "publication": "exclusions",
        "vintage": "ees2019", "headcount": 600.0, "headcount_status": "value", "suspension": None,
        "suspension_status": "suppressed", "row_number": 1,
    }  # fmt: skip
    rows = [base, base | {"school_urn": "100002", "school_laestab": "8054002", "row_number": 2}]
    rows.append(
        base
        | {
            "geographic_level": "National",
            "school_urn": None,
            "school_laestab": None,
            "new_la_code": None,
            "old_la_code": None,
            "row_number": 3,
        }
    )
    for i, ch in changes.items():
        rows[int(i.removeprefix("r"))] = rows[int(i.removeprefix("r"))] | ch
    return conform(
        "dfe_exclusions",
        pl.DataFrame(rows, infer_schema_length=None).with_columns(**{k: pl.lit(v) for k, v in PROV.items()}),
    )


def raw(table: str, frame: pl.DataFrame):
    return raw_gate(table, frame, row_count_tolerance=GATES["row_count_tolerance"])


def another_file(frame: pl.DataFrame, name: str, minutes: int) -> pl.DataFrame:
    """The same rows as loaded from another landing file, `minutes` later (a re-issue)."""
    return frame.with_columns(_source_file=pl.lit(name), _source_sha256=pl.lit(name.encode().hex()[:64].ljust(64, "0")),
                              _loaded_at=pl.lit(PROV["_loaded_at"] + timedelta(minutes=minutes)))  # fmt: skip


def test_raw_dfe_checks_pass_on_good_rows():
    result = raw("dfe_exclusions", dfe_rows())
    assert result.passed, result.summary()
    assert [c.name for c in raw_checks("dfe_exclusions")] == ["no_duplicate_keys", "no_collapsed_volume",
                                                              "no_overlapping_files"]


def test_row_rules_are_ingestions_not_the_raw_gates():
    """A URN without its leading zero, a time period of non-consecutive years, an unknown level or symbol is
    quarantined by the reader (tests/unit/test_ees.py, one fixture per rule and publication), so the raw gate
    never sees it: one rule, one layer."""
    checks = {c.name for t in ("dfe_exclusions", "gias_establishments", "survey_responses") for c in raw_checks(t)}
    assert checks == {"no_duplicate_keys", "no_collapsed_volume", "no_overlapping_files"}


def test_raw_duplicate_keys():
    dup = dfe_rows(r1={"school_urn": "100001", "school_laestab": "8054001"})
    f = failed(raw("dfe_exclusions", dup))
    assert set(f) == {"no_duplicate_keys"}
    assert f["no_duplicate_keys"][0].column.startswith("_source_sha256,time_period")
    assert sorted(o["row_number"] for o in f["no_duplicate_keys"][0].offending) == [1, 2]
    # the same rows in two files are not duplicates: a re-issue (dbt takes the latest copy of each row)
    assert raw("dfe_exclusions", pl.concat([dfe_rows(), another_file(dfe_rows(), "dfe/excl_v2.csv", 5)])).passed


def test_raw_volume_a_reissue_with_far_fewer_schools_fails():
    """A newer file for the same year with half of the schools is a truncated download, not a revision;
    a re-issue with the same schools passes, and so does the smaller file within a looser tolerance."""
    first = dfe_rows()
    schools = first.filter(pl.col("geographic_level") == "School")["school_urn"].unique().sort()
    assert schools.len() == 2
    fewer = another_file(first.filter(pl.col("school_urn").is_null() | (pl.col("school_urn") == schools[0])),
                         "dfe/excl_truncated.csv", 5)
    f = failed(raw("dfe_exclusions", pl.concat([first, fewer])))
    # under another name with other schools it is not a re-issue either (no_overlapping_files)
    assert set(f) == {"no_collapsed_volume", "no_overlapping_files"}
    (o,) = f["no_collapsed_volume"][0].offending
    assert (o["file"], o["rows"], o["previous_file"], o["previous_rows"]) == (
        "dfe/excl_truncated.csv", 1, "dfe/excl.csv", schools.len())
    # the same truncated bytes as a later download of the same file: the volume check alone fails
    assert set(failed(raw("dfe_exclusions", pl.concat([first, another_file(fewer, "dfe/2026-09/excl.csv", 5)])))) == {
        "no_collapsed_volume"}  # fmt: skip
    # loaded the other way round (the small file first), the bigger file passes the volume check; a complete
    # download of the same file after a truncated one passes the gate
    assert "no_collapsed_volume" not in failed(
        raw("dfe_exclusions", pl.concat([another_file(fewer, "dfe/excl_truncated.csv", -5), first])))
    assert raw("dfe_exclusions", pl.concat([another_file(fewer, "dfe/2025-09/excl.csv", -5), first])).passed
    # at a tolerance that allows losing four fifths, the truncated file passes the volume check
    assert "no_collapsed_volume" not in failed(
        raw_gate("dfe_exclusions", pl.concat([first, fewer]), row_count_tolerance=0.8))


def test_raw_two_files_holding_one_school_and_year_fail_together_naming_both():
    """A school-level file and another of a different scope (a sub-population's file in the same layout, or one
    with another set of schools) both hold school 100001 in 2016/17. The later one is not a re-issue of the
    earlier (another name, and not the same schools), so the gate fails naming both files: whose rows are the
    school's own is not the gate's to pick. Same number of schools: the volume check has nothing to say."""
    whole = dfe_rows()  # 100001, 100002
    other = another_file(dfe_rows(r1={"school_urn": "100003", "school_laestab": "8054003"}),
                         "dfe/absence_four_year_olds.csv", 5)  # 100001, 100003  # fmt: skip
    result = raw("dfe_exclusions", pl.concat([whole, other]))
    f = failed(result)
    assert not result.passed and set(f) == {"no_overlapping_files"}
    (o,) = f["no_overlapping_files"][0].offending
    assert (o["file"], o["other_file"], o["periods"], o["school_years_shared"], o["example"]) == (
        "dfe/absence_four_year_olds.csv", "dfe/excl.csv", "201617", 1, "100001 in 201617")
    assert o["file_sha256"] == other["_source_sha256"][0] and o["other_sha256"] == PROV["_source_sha256"]
    assert "dfe/absence_four_year_olds.csv" in str(f["no_overlapping_files"][0])
    assert "dfe/excl.csv" in str(f["no_overlapping_files"][0])
    # a school matched by LAESTAB alone (a file with no URN, as 2016/17's) overlaps just the same
    laestab_only = another_file(dfe_rows(r0={"school_urn": None}, r1={"school_urn": None, "school_laestab": "8054009"}),
                                "dfe/other_scope.csv", 5)  # fmt: skip
    (o,) = failed(raw("dfe_exclusions", pl.concat([whole, laestab_only])))["no_overlapping_files"][0].offending
    assert (o["file"], o["example"]) == ("dfe/other_scope.csv", "8054001 in 201617")


def test_raw_a_reissue_of_a_file_passes():
    """A re-issue: the same file name in a later download (any folder), or exactly the same schools in every
    year both files hold (a revised file under a new name, as test_real_slice's doubled re-issue). Files
    of different years never overlap."""
    whole = dfe_rows()
    other_schools = dfe_rows(r1={"school_urn": "100003", "school_laestab": "8054003"})
    # the same name, downloaded again into a dated folder, with a school replaced: a re-issue
    assert raw("dfe_exclusions", pl.concat([whole, another_file(other_schools, "dfe/2026-09/EXCL.csv", 5)])).passed
    # another name, the same schools, every count changed: a re-issue
    revised = another_file(whole.with_columns(pl.col("headcount") * 2), "dfe/excl_revised.csv", 5)
    assert raw("dfe_exclusions", pl.concat([whole, revised])).passed
    # another name and other schools, but another year: no overlap
    next_year = another_file(other_schools.with_columns(time_period=pl.lit(201718)), "dfe/excl_1718.csv", 5)
    assert raw("dfe_exclusions", pl.concat([whole, next_year])).passed
    # a re-issue that also adds a year: the same schools in the year both hold
    both_years = another_file(pl.concat([whole, next_year.with_columns(_source_file=pl.lit("dfe/excl.csv"))]),
                              "dfe/excl_1617_1718.csv", 10)  # fmt: skip
    assert raw("dfe_exclusions", pl.concat([whole, both_years])).passed


def test_raw_gias_and_survey_tables():
    gias = conform(
        "gias_establishments",
        pl.DataFrame(
            {"urn": ["100001", "100002", "100003", "100004"], "laestab": ["8054001", "8054002", "8054003", "8054004"],
             "row_number": [1, 2, 3, 4]}
        ).with_columns(**{k: pl.lit(v) for k, v in PROV.items()}),
    )  # fmt: skip
    assert raw("gias_establishments", gias).passed
    bad = gias.with_columns(pl.Series("urn", ["100001", "100001", "100003", "100004"]))
    assert set(failed(raw("gias_establishments", bad))) == {"no_duplicate_keys"}
    snapshot = another_file(gias.head(2), "gias/edubasealldata20260901.csv", 60)
    f = failed(raw("gias_establishments", pl.concat([gias, snapshot])))
    assert set(f) == {"no_collapsed_volume"}
    assert f["no_collapsed_volume"][0].offending[0]["file"] == "gias/edubasealldata20260901.csv"
    links = conform("gias_links", pl.DataFrame({"urn": ["100001", "100001"], "link_urn": ["100002"] * 2,
                                                "link_type": ["Successor"] * 2}).with_columns(
        **{k: pl.lit(v) for k, v in PROV.items()}))  # fmt: skip
    assert set(failed(raw("gias_links", links))) == {"no_duplicate_keys"}
    assert raw("gias_links", links.head(1)).passed
    responses = conform("survey_responses", pl.DataFrame({
        "response_key": ["a", "b", "b"], "school_urn": ["100001", "100001", "100001"], "time_period": [202526] * 3,
    }).with_columns(**{k: pl.lit(v) for k, v in PROV.items()}))  # fmt: skip
    f = failed(raw("survey_responses", responses))
    assert set(f) == {"no_duplicate_keys"}
    assert raw("survey_responses", responses.head(2)).passed


# each DfE publication's own raw suite: one measure per publication, its status from the known set
DFE_MEASURE = {"dfe_absence": "sess_overall", "dfe_census": "fsm_eligible", "dfe_sen": "ehc_plan"}


def publication_rows(table: str, **changes) -> pl.DataFrame:
    """Three school rows and a national row of `table`, well formed; `r<i>={...}` changes row i."""
    m = DFE_MEASURE[table]
    base = {
        "time_period": 202324, "time_identifier": "Academic year", "geographic_level": "School",
        "country_code": "E92000001", "country_name": "England", "new_la_code": "E06000001", "old_la_code": "805",
        "school_urn": "100001", "school_laestab": "8054001", "phase": "Total", "publication": table[4:],
        "vintage": "ees2024", m: 12.0, f"{m}_status": "value", "row_number": 1,
    }  # fmt: skip
    rows = [
        base,
        base | {"school_urn": "100002", "school_laestab": "8054002", m: None, f"{m}_status": "suppressed",
                "row_number": 2},
        base | {"geographic_level": "National", "school_urn": None, "school_laestab": None, "new_la_code": None,
                "old_la_code": None, "row_number": 3},
        base | {"school_urn": "100003", "school_laestab": "8054003", "row_number": 4},
    ]  # fmt: skip
    for i, ch in changes.items():
        rows[int(i.removeprefix("r"))] |= ch
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(**{k: pl.lit(v) for k, v in PROV.items()})
    return conform(table, frame)


@pytest.mark.parametrize("table", sorted(DFE_MEASURE))
def test_raw_absence_census_sen_pass_good_rows_and_fail_bad_ones(table):
    good = raw(table, publication_rows(table))
    assert good.passed, good.summary()
    bad = publication_rows(table, r1={"school_urn": "100001", "school_laestab": "8054001"})  # row 0's key
    f = failed(raw(table, bad))
    assert set(f) == {"no_duplicate_keys"}
    assert all(x.table == table for fs in f.values() for x in fs)
    assert sorted(o["row_number"] for o in f["no_duplicate_keys"][0].offending) == [1, 2]
    truncated = another_file(publication_rows(table).filter(pl.col("school_urn") == "100001"), f"dfe/{table}_v2.csv", 5)
    f = failed(raw(table, pl.concat([publication_rows(table), truncated])))
    assert set(f) == {"no_collapsed_volume", "no_overlapping_files"}  # another name and other schools: no re-issue
    assert f["no_collapsed_volume"][0].offending[0]["rows"] == 1
    assert f["no_overlapping_files"][0].offending[0]["example"] == "100001 in 202324"


def test_raw_survey_answers_and_items_fail_duplicate_keys():
    answers = conform("survey_answers", pl.DataFrame({
        "response_key": ["k1", "k1", "k2"], "instrument": ["pupil_belonging"] * 3,
        "item_id": ["belong", "lonely", "belong"], "answer_code": [4, 1, 3], "score": [100.0, 100.0, 66.7],
        "agree": [True, True, True],
    }).with_columns(**{k: pl.lit(v) for k, v in PROV.items()}))  # fmt: skip
    twice = pl.concat([answers, answers.filter(pl.col("item_id") == "lonely").with_columns(score=pl.lit(0.0))])
    result = raw("survey_answers", twice)
    assert not result.passed, f"an answer twice in one file passed the raw gate: {result.summary()}"
    f = failed(result)
    assert set(f) == {"no_duplicate_keys"}
    dup = f["no_duplicate_keys"][0]
    assert dup.table == "survey_answers"
    assert {(o["response_key"], o["item_id"]) for o in dup.offending} == {("k1", "lonely")}
    assert raw("survey_answers", answers).passed

    items = conform("survey_items", pl.DataFrame({
        "instrument": ["pupil_belonging", "pupil_belonging", "staff_belonging"],
        "item_id": ["belong", "lonely", "belong"], "item_text": ["I belong.", "I feel lonely.", "I belong here."],
        "negative": [False, True, False], "scale_points": [4, 4, 5], "min_items_answered": [4, 4, 4],
        "items_total": [6, 6, 5],
    }).with_columns(**{k: pl.lit(v) for k, v in PROV.items()}))  # fmt: skip
    twice = pl.concat([items, items.head(1).with_columns(item_text=pl.lit("I feel I belong."))])
    result = raw("survey_items", twice)
    assert not result.passed, f"an item twice in one load passed the raw gate: {result.summary()}"
    f = failed(result)
    assert set(f) == {"no_duplicate_keys"}
    dup = f["no_duplicate_keys"][0]
    assert dup.table == "survey_items"
    assert {(o["instrument"], o["item_id"]) for o in dup.offending} == {("pupil_belonging", "belong")}
    assert raw("survey_items", items).passed


# --- marts -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mart() -> pl.DataFrame:
    return load_mart()


def gate(mart: pl.DataFrame, **kw):
    return mart_gate(mart, **(GATES | kw))


def reconciliation(ok: bool = True) -> pl.DataFrame:
    """England 10 short of the DfE's 1010: five suppressed school cells can hold it (5 x 2), four cannot."""
    return pl.DataFrame({
        "geographic_level": ["Local authority", "National"], "geography_code": ["E06000001", "E92000001"],
        "time_period": [202526, 202526], "publication": ["exclusions", "exclusions"], "measure": ["suspension", "suspension"],
        "ours": [100.0, 1000.0], "theirs": [100.0, 1010.0], "difference": [0.0, -10.0], "shortfall": [0.0, 10.0],
        "school_cells_suppressed": [0, 5 if ok else 4], "theirs_withheld": [False, False],
    })  # fmt: skip


def test_mart_gate_passes_on_good_mart(mart):
    previous = mart.filter(pl.col("geographic_level") != "School").vstack(
        mart.filter(pl.col("geographic_level") == "School")
    )
    previous = previous.with_columns(pl.col("value") * 1.01)
    result = gate(mart, previous=previous, reconciliation=reconciliation())
    assert result.passed, result.summary()
    # suspension rates above 100 per 100 pupils are allowed
    assert mart.filter((pl.col("indicator") == "suspension_rate") & (pl.col("value") > 100)).height > 0
    # no previous release: drift passes
    assert gate(mart).passed


def test_mart_gate_fails_on_bad_mart(mart):
    """Each value outside its catalogue range, a share's numerator above its denominator, an indicator the
    catalogue does not know, and an unreconciled aggregate: each named with its row."""
    row = mart.filter((pl.col("indicator") == "fsm_percent") & (pl.col("geography_code") == "100001"))
    bad = pl.concat([
        mart,
        row.with_columns(pl.lit("persistent_absence_percent").alias("indicator"), pl.lit(120.0).alias("value")),
        row.with_columns(pl.lit("permanent_exclusion_rate").alias("indicator"), pl.lit(-1.0).alias("value")),
        row.with_columns(pl.lit("overall_absence_percent").alias("indicator"), pl.lit(900.0).alias("numerator"), pl.lit(50.0).alias("value")),
        row.with_columns(pl.lit("happiness_percent").alias("indicator")),
    ], how="vertical_relaxed")  # fmt: skip
    result = gate(bad, reconciliation=reconciliation(ok=False))
    f = failed(result)
    assert not result.passed
    assert set(f) == {"value_within_catalogue_range", "numerator_not_above_denominator", "indicator_in_catalogue",
                      "reconciles_with_dfe_aggregates"}  # fmt: skip
    outside = f["value_within_catalogue_range"][0]
    assert outside.table == "mart_indicators" and outside.column == "value_outside_range"
    assert sorted((o["indicator"], o["value_outside_range"], o["range_min"], o["range_max"]) for o in outside.offending) == [
        ("permanent_exclusion_rate", -1.0, 0.0, None), ("persistent_absence_percent", 120.0, 0.0, 100.0)]  # fmt: skip
    assert [o["indicator"] for o in f["numerator_not_above_denominator"][0].offending] == ["overall_absence_percent"]
    assert [o["indicator_not_in_catalogue"] for o in f["indicator_in_catalogue"][0].offending] == ["happiness_percent"]
    rec = f["reconciles_with_dfe_aggregates"][0]
    assert rec.table == "mart_reconciliation" and rec.offending[0]["geography_code"] == "E92000001"


@pytest.mark.parametrize(("indicator", "value", "ok"), [
    ("belonging_score_mean", 100.5, False), ("belonging_score_mean", 100.0, True),
    ("belonging_gap_send", -100.5, False), ("belonging_gap_send", -40.0, True),
    ("staff_belonging_score_mean", -0.1, False), ("respondents", -1.0, False),
    ("send_representation_ratio", 7.5, True), ("suspension_rate", 250.0, True),
])  # fmt: skip
def test_every_indicator_has_its_range_checked(mart, indicator, value, ok):
    """Ranges come from the catalogue for every indicator, means and gaps too (once unchecked: no naming rule
    matched them)."""
    source = {"belonging_score_mean": "pupil_belonging", "belonging_gap_send": "pupil_belonging",
              "respondents": "pupil_belonging", "staff_belonging_score_mean": "staff_belonging"}.get(indicator, "admin")
    row = mart.filter(pl.col("geography_code") == "100001").head(1).with_columns(
        indicator=pl.lit(indicator), source=pl.lit(source), value=pl.lit(value), numerator=None, denominator=None,
        time_period=pl.lit(209900))  # fmt: skip
    result = gate(pl.concat([mart, row], how="vertical_relaxed"))
    assert result.passed == ok, result.summary()
    if not ok:
        assert {f.rule for f in result.failures} == {"value_within_catalogue_range"}


def facts(**columns) -> pl.DataFrame:
    """mart_reconciliation rows as dbt states them: exclusions suspensions unless given."""
    n = len(next(iter(columns.values())))
    base = {"publication": ["exclusions"] * n, "measure": ["suspension"] * n, "school_cells_suppressed": [0] * n,
            "theirs_withheld": [False] * n}  # fmt: skip
    frame = pl.DataFrame(base | columns)
    shortfall = pl.when(pl.col("theirs").is_not_null()).then(pl.max_horizontal(pl.col("theirs") - pl.col("ours"), 0.0))
    return frame.with_columns(shortfall.alias("shortfall")) if "shortfall" not in columns else frame


def test_reconciliation_tolerance_is_a_fraction_of_the_published_figure():
    """4 off 1004 is within 0.5%; 1 off 10 is not, though the difference is smaller; 499 off 99501 is not
    (497.5 allowed) though within 0.5% of our 100000: the fraction is of the DfE's figure, not of ours."""
    from expectations.marts import reconciliation_frame

    rec = facts(geography_code=["L1", "L2", "L3", "L4", "L5"], ours=[1000.0, 9.0, 100000.0, 250.0, 40.0],
                theirs=[1004.0, 10.0, 99501.0, 250.0, None], theirs_withheld=[False, False, False, False, True])  # fmt: skip
    judged = reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max={"default": 2})
    assert judged.select("geography_code", "within_tolerance", "reconciled").rows() == [
        ("L1", True, True), ("L2", False, False), ("L3", False, False), ("L4", True, True), ("L5", None, True)]
    # the tolerance is what it is given (the setting), not a constant: 8 off 1008 is out at 0.005, in at 0.01
    rec = facts(ours=[1000.0], theirs=[1008.0])
    assert reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max=2)["reconciled"].to_list() == [False]
    assert reconciliation_frame(rec, tolerance=0.01, suppressed_cell_max=2)["reconciled"].to_list() == [True]


def test_suppression_explains_a_shortfall_only_up_to_what_the_suppressed_cells_can_hold():
    """Each suppressed school cell hides at most `suppressed_cell_max` (default 2: the DfE's `c` covers counts
    of 1 and 2). L1: 30% short behind one `c` - it passed before, it fails now. L2: 2 short behind one `c`
    passes, L3: 3 short does not; L4: 6 short behind three passes. L5: a surplus beside a `c` never passes
    (suppression hides counts, it cannot add them). L6: the DfE withheld its own figure. L7: a cell `x` (not
    available) is not suppression: it explains nothing."""
    from expectations.marts import reconciliation_frame

    rec = facts(geography_code=["L1", "L2", "L3", "L4", "L5", "L6", "L7"],
                ours=[100.0, 128.0, 127.0, 124.0, 105.0, 40.0, 100.0],
                theirs=[130.0, 130.0, 130.0, 130.0, 100.0, None, 101.0],
                school_cells_suppressed=[1, 1, 1, 3, 1, 0, 0],
                theirs_withheld=[False, False, False, False, False, True, False])  # fmt: skip
    judged = reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max={"default": 2})
    assert judged.select("geography_code", "shortfall", "suppression_allowance", "explained_by_suppression",
                         "reconciled").rows() == [
        ("L1", 30.0, 2.0, False, False), ("L2", 2.0, 2.0, True, True), ("L3", 3.0, 2.0, False, False),
        ("L4", 6.0, 6.0, True, True), ("L5", 0.0, 2.0, False, False), ("L6", None, 0.0, True, True),
        ("L7", 1.0, 0.0, False, False)]  # fmt: skip
    # the largest hidden count is the setting's, per measure where given: suspensions up to 30 per `c` explain
    # L1, while another measure keeps the default
    wide = reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max={"default": 2, "exclusions.suspension": 30})
    assert wide.filter(pl.col("geography_code") == "L1")["reconciled"].to_list() == [True]
    other = rec.with_columns(pl.lit("perm_excl").alias("measure"))
    other = reconciliation_frame(other, tolerance=0.005, suppressed_cell_max={"default": 2, "exclusions.suspension": 30})
    assert other.filter(pl.col("geography_code") == "L1")["reconciled"].to_list() == [False]
    with pytest.raises(ValueError, match="default"):
        reconciliation_frame(rec, tolerance=0.005, suppressed_cell_max={"exclusions.suspension": 30})


def test_mart_gate_reconciles_a_row_only_within_tolerance_or_explained_by_suppression(mart):
    """A shortfall that the suppressed school cells can hold, a difference of 0.4% (within 0.5%) and a withheld
    aggregate pass; a surplus beside a suppressed school cell (suppression cannot add) and 30 short behind a
    single `c` fail, and they are the only offending rows."""
    rec = pl.DataFrame({
        "publication": ["exclusions"] * 5, "time_period": [202526] * 5, "time_identifier": ["Academic year"] * 5,
        "geographic_level": ["Local authority"] * 4 + ["National"],
        "geography_code": ["E06000001", "E06000002", "E06000006", "E06000007", "E92000001"], "phase": ["Total"] * 5,
        "measure": ["suspension", "headcount", "suspension", "suspension", "suspension"],
        "ours": [126.0, 1000.0, 100.0, 100.0, 400.0], "theirs": [130.0, 1004.0, 95.0, 130.0, None],
        "theirs_status": ["value", "value", "value", "value", "suppressed"], "difference": [-4.0, -4.0, 5.0, -30.0, None],
        "shortfall": [4.0, 4.0, 0.0, 30.0, None],
        "school_cells": [3, 1, 2, 2, 4], "school_cells_unpublished": [2, 0, 1, 1, 0], "school_cells_suppressed": [2, 0, 1, 1, 0],
        "theirs_withheld": [False, False, False, False, True],
    })  # fmt: skip
    f = failed(gate(mart, reconciliation=rec))
    assert set(f) == {"reconciles_with_dfe_aggregates"}
    offending = f["reconciles_with_dfe_aggregates"][0].offending
    assert [(o["geography_code"], o["ours"], o["theirs"], o["suppression_allowance"]) for o in offending] == [
        ("E06000006", 100.0, 95.0, 2.0), ("E06000007", 100.0, 130.0, 2.0)]  # fmt: skip
    assert gate(mart, reconciliation=rec.filter(~pl.col("geography_code").is_in(["E06000006", "E06000007"]))).passed


def test_one_plus_suspension_share_may_pass_100_but_other_shares_may_not(mart):
    """The DfE publishes one_plus_fixed_rate 113.64 (25 pupils suspended, 22 on the census roll): pupils
    counted over the year against a January headcount. Other shares stay within 0-100."""
    row = mart.filter((pl.col("indicator") == "fsm_percent") & (pl.col("geography_code") == "100001"))
    over = row.with_columns(numerator=pl.lit(25.0), denominator=pl.lit(22.0), value=pl.lit(113.63636))
    good = pl.concat([mart, over.with_columns(indicator=pl.lit("one_plus_suspension_percent"))],
                     how="vertical_relaxed")
    result = gate(good.unique(subset=["time_period", "time_identifier", "geographic_level", "geography_code",
                                     "indicator", "breakdown", "breakdown_value"], keep="last"))
    assert result.passed, result.summary()
    bad = pl.concat([mart.filter(~((pl.col("indicator") == "ehcp_percent") & (pl.col("geography_code") == "100001"))),
                     over.with_columns(indicator=pl.lit("ehcp_percent"))], how="vertical_relaxed")
    f = failed(gate(bad))
    assert {"value_within_catalogue_range", "numerator_not_above_denominator"} <= set(f)


@pytest.mark.parametrize(("lazy", "carry_over"), [(False, False), (True, False), (False, True)],
                         ids=["previous in memory", "previous scanned", "unchanged periods carried over"])
def test_mart_drift_halving_of_schools_fails(mart, lazy, carry_over):
    schools = mart.filter(pl.col("geographic_level") == "School")
    urns = sorted(set(schools["geography_code"]))
    halved = mart.filter(pl.col("geographic_level") != "School").vstack(
        schools.filter(pl.col("geography_code").is_in(urns[:8]))
    )
    headline = mart.with_columns(
        pl.when(pl.col("geographic_level") == "National")
        .then(pl.col("value") * 1.3)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    previous = mart.lazy() if lazy else mart
    # drift crosses periods: judged on the whole mart even when only the changed periods' rows are validated
    assert gate(mart, previous=previous, carry_over=carry_over).passed
    f = failed(gate(halved, previous=previous, carry_over=carry_over))
    assert set(f) == {"drift_within_tolerance"}
    assert f["drift_within_tolerance"][0].offending[0]["measure"] == "row count School"
    f = failed(gate(headline, previous=previous, headline_tolerance=0.25, carry_over=carry_over))
    assert set(f) == {"drift_within_tolerance"}
    assert f["drift_within_tolerance"][0].offending[0]["measure"].startswith("national ")


# --- extracts ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    infos = build_extracts(apply_disclosure_control(load_mart(), **DISCLOSURE), out, LOOKUP)
    return {i.name: i for i in infos}


def rewrite(info, tmp_path: Path, name: str, edit) -> tuple[Path, Path]:
    """A copy of an extract (csv + meta) with `edit(rows, header) -> (rows, header)` applied."""
    with open(info.csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    rows, header = edit(rows, header)
    csv_path, meta_path = tmp_path / f"{name}.csv", tmp_path / f"{name}.meta.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    shutil.copy(info.meta_path, meta_path)
    return csv_path, meta_path


def test_extract_gate_passes_on_written_extracts(extracts):
    for name in ("pupil_belonging_la", "admin_indicators_school"):
        result = extract_gate(extracts[name].csv_path, extracts[name].meta_path, LOOKUP, **DISCLOSURE)
        assert result.passed, result.summary()


def test_extract_value_rules_fail_on_bad_cells(extracts, tmp_path):
    def edit(rows, header):
        i = {c: header.index(c) for c in header}
        rows[0][i["respondents"]] = "7"  # a shown cell under the threshold
        rows[1][i["respondents"]] = "c"  # suppressed respondents, but the mean stays shown
        rows[2][i["belonging_score_mean"]] = "NA"
        rows[3][i["belonging_positive_percent"]] = " 40.1"
        rows[4][i["la_name"]] = "Total"
        rows[5][i["new_la_code"]] = "E6000001"
        rows.append(list(rows[6]))  # a duplicate row
        return rows, header

    csv_path, meta_path = rewrite(extracts["pupil_belonging_la"], tmp_path, "pupil_belonging_la", edit)
    result = extract_gate(csv_path, meta_path, LOOKUP, **DISCLOSURE)
    f = failed(result)
    assert not result.passed
    assert {"respondents_below_threshold_suppressed", "no_figure_beside_suppressed_respondents",
            "only_numbers_or_gss_symbols", "no_leading_or_trailing_whitespace", "no_total_in_geography_or_time",
            "geography_code_form", "no_duplicate_rows", "geography_matches_lookup"} <= set(f)  # fmt: skip
    small = f["respondents_below_threshold_suppressed"][0]
    assert small.table == "pupil_belonging_la.csv" and small.column == "respondents_shown"
    assert small.offending[0]["row"] == 1 and small.offending[0]["respondents"] == "7"
    beside = f["no_figure_beside_suppressed_respondents"][0].offending[0]
    assert beside["row"] == 2 and "belonging_score_mean" in beside["shown_beside_suppressed"]
    sym = f["only_numbers_or_gss_symbols"][0].offending
    assert {"column": "belonging_score_mean", "line": 4, "indicator_value": "NA"}.items() <= sym[0].items()
    code = f["geography_code_form"][0]
    assert (code.offending[0]["row"], code.offending[0]["code_not_in_its_form"]) == (6, "new_la_code=E6000001")
    assert f["no_total_in_geography_or_time"][0].offending[0]["total_in_geography_or_time"] == "la_name=Total"


def test_extract_gate_has_one_expectation_per_rule_whatever_the_columns(extracts, tmp_path):
    """Total/All in any time or geography column, and any code out of its form, are one expectation each (one
    per column made the demo's gate 557 expectations, 250 of them for Total/All), and each still fails on
    every column it covers, naming it."""
    from expectations.extracts import CODE_FORMS, TIME_COLUMNS, wide_checks
    from publication.extracts import GEOGRAPHY_COLUMNS

    info = extracts["admin_indicators_school"]
    header = info.csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    names = [c.name for c in wide_checks(header, 10, 3, "t")]
    assert names.count("no_total_in_geography_or_time") == 1 and names.count("geography_code_form") == 1
    covered = [c for c in (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS) if c in header]
    assert len(covered) > 5
    for column in covered:
        def edit(rows, header, column=column):
            rows[0][header.index(column)] = "All"
            return rows, header

        csv_path, meta_path = rewrite(info, tmp_path, f"admin_{column}", edit)
        f = failed(extract_gate(csv_path, meta_path, LOOKUP, **DISCLOSURE))
        assert f["no_total_in_geography_or_time"][0].offending[0]["total_in_geography_or_time"] == f"{column}=All"
        if column in CODE_FORMS:  # "All" is not a code either
            assert f"{column}=All" in f["geography_code_form"][0].offending[0]["code_not_in_its_form"]


def test_extract_column_rules_fail_on_bad_columns(extracts, tmp_path):
    def edit(rows, header):
        return [r + ["a@b.org", "1.0", "2"] for r in rows], header + [
            "email",
            "sen_support_percent",
            "girl count",
        ]

    csv_path, meta_path = rewrite(extracts["admin_indicators_la"], tmp_path, "admin_indicators_la", edit)
    f = failed(extract_gate(csv_path, meta_path, LOOKUP, **DISCLOSURE))
    assert {"no_personal_data_columns", "harmonised_names", "no_spaces_in_names", "meta_complete"} <= set(f)
    assert f["no_personal_data_columns"][0].offending[0]["column_name"] == "email"
    assert f["harmonised_names"][0].offending[0] == {"column": "sen_support_percent", "pattern": "sen_"}
    assert {"col_name": "email", "rule": "missing from meta"} in f["meta_complete"][0].offending


def test_extract_gate_is_one_suite_per_extract_with_its_cell_and_column_checks(extracts, tmp_path):
    """Rows, cells and column names are judged by one suite (one validation, one Data Docs page); each failure
    still names the file, the rule and the row, line or column."""
    def edit(rows, header):
        i = {c: header.index(c) for c in header}
        rows[3][i["belonging_positive_percent"]] = " 40.1"
        rows[4][i["la_name"]] = "Total"
        return [r + ["a@b.org"] for r in rows], header + ["email"]

    csv_path, meta_path = rewrite(extracts["pupil_belonging_la"], tmp_path, "pupil_belonging_la", edit)
    docs = tmp_path / "docs"
    result = extract_gate(csv_path, meta_path, LOOKUP, **DISCLOSURE, data_docs_dir=docs)
    f = failed(result)
    assert f["no_leading_or_trailing_whitespace"][0].offending == [
        {"row": f["no_leading_or_trailing_whitespace"][0].offending[0]["row"], "line": 5,
         "column": "belonging_positive_percent", "value": " 40.1"}]
    total = f["no_total_in_geography_or_time"][0]
    assert (total.table, total.offending[0]["row"], total.offending[0]["total_in_geography_or_time"]) == (
        "pupil_belonging_la.csv", 5, "la_name=Total")  # the row, and the column and value that break the rule
    assert [o["column_name"] for o in f["no_personal_data_columns"][0].offending] == ["email"]
    pages = list((docs / "validations").rglob("*.html"))
    assert [p.relative_to(docs / "validations").parts[0] for p in pages] == ["extract_pupil_belonging_la"]
    page = pages[0].read_text()
    assert all(name in page for name in ("la_name", "indicator_value", "column_name"))


def test_extract_file_rules_fail(extracts, tmp_path):
    def edit(rows, header):
        i = {c: header.index(c) for c in header}
        keep = [r for r in rows if r[i["breakdown"]] == "Total"]  # filters left with one level
        keep[0][i["time_period"]] = "202527"
        keep[1][i["old_la_code"]] = "999"
        return keep, header

    csv_path, meta_path = rewrite(extracts["pupil_belonging_la"], tmp_path, "pupil belonging la", edit)
    f = failed(extract_gate(csv_path, meta_path, LOOKUP, **DISCLOSURE))
    assert {
        "filters_have_levels_and_default",
        "time_consistent",
        "geography_matches_lookup",
        "no_spaces_in_names",
    } <= set(f)
    assert f["time_consistent"][0].offending[0] == {
        "row": 2,
        "time_period": "202527",
        "time_identifier": "Academic year",
    }
    assert f["filters_have_levels_and_default"][0].message.startswith("pupil belonging la.csv:")


def test_extract_gate_checks_staff_extracts_for_small_cells(tmp_path):
    pupil = load_mart().filter((pl.col("source") == "pupil_belonging") & (pl.col("geographic_level") == "School")
                               & pl.col("breakdown").is_in(["Total", "gender"]) & ~pl.col("indicator").str.contains("gap"))
    undisclosed = pupil.with_columns(
        source=pl.lit("staff_belonging"), indicator="staff_" + pl.col("indicator"),
        breakdown=pl.col("breakdown").replace({"gender": "role"}), published_status=pl.col("value_status"),
    )  # fmt: skip
    (info,) = build_extracts(undisclosed, tmp_path, LOOKUP)
    assert info.name == "staff_belonging_school"
    f = failed(extract_gate(info.csv_path, info.meta_path, LOOKUP, **DISCLOSURE))
    assert "respondents_below_threshold_suppressed" in f, "a staff extract shows cells of 2 respondents"


def test_mart_row_rules_are_judged_on_the_rows_that_changed(mart):
    """With the previous release's verdicts carried over, the row rules see only the rows that differ from the
    previous release's: a bad row that changed fails, naming it; a row published as it is was judged then and is
    not judged again; without carry-over (a full rebuild, other rules) every row is."""
    from expectations.marts import changed_rows_query, chunk_frame

    key = (pl.col("source") == "admin") & (pl.col("indicator") == "fsm_percent") & (pl.col("geographic_level") == "School")
    period = mart.filter(key)["time_period"].max()
    bad_row = key & (pl.col("time_period") == period) & (pl.col("geography_code") == mart.filter(
        key & (pl.col("time_period") == period))["geography_code"].min())  # fmt: skip
    bad = mart.with_columns(pl.when(bad_row).then(140.0).otherwise(pl.col("value")).alias("value"))
    assert mart.filter(bad_row).height == 1

    result = gate(bad, previous=mart, carry_over=True)  # the row changed: judged, and failed
    f = failed(result)
    assert set(f) == {"value_within_catalogue_range"}
    assert [(o["geography_code"], o["value_outside_range"]) for o in f["value_within_catalogue_range"][0].offending] == [
        (mart.filter(bad_row)["geography_code"][0], 140.0)]  # fmt: skip
    assert result.scope.startswith(f"row rules on 1 of {mart.height:,} rows")
    result = gate(bad, previous=bad, carry_over=True)  # the same bad row was published: not judged again
    assert result.passed and result.scope.startswith(f"row rules on 0 of {mart.height:,} rows")
    assert not gate(bad, previous=bad).passed  # without carry-over every row is judged

    import duckdb

    con = duckdb.connect()
    con.register("cur", bad.to_arrow())
    con.register("prev", mart.to_arrow())
    changed = con.sql(changed_rows_query("cur", "prev")).pl()
    assert changed.select("source", "time_period", "geography_code", "value").rows() == [
        ("admin", period, mart.filter(bad_row)["geography_code"][0], 140.0)]
    assert con.sql(changed_rows_query("cur", None)).pl().height == mart.height
    chunks = chunk_frame(con, "cur", f"({changed_rows_query('cur', 'prev')})")
    assert chunks["rows"].sum() == mart.height and chunks["judged"].sum() == 1


def with_absence(mart: pl.DataFrame, enrolments: float) -> tuple[str, pl.DataFrame]:
    """The mart with one school's headcount set to 400 and its absence enrolments to `enrolments` (a tenth of them
    persistent absentees): the school's URN and the mart."""
    row = mart.filter((pl.col("geographic_level") == "School") & (pl.col("indicator") == "fsm_percent")).head(1)
    urn = row["geography_code"][0]
    headcount = row.with_columns(indicator=pl.lit("pupils_headcount"), numerator=pl.lit(400.0),
                                 denominator=pl.lit(None, pl.Float64), value=pl.lit(400.0))  # fmt: skip
    absence = row.with_columns(indicator=pl.lit("persistent_absence_percent"), numerator=pl.lit(enrolments / 10),
                               denominator=pl.lit(enrolments), value=pl.lit(10.0))  # fmt: skip
    others = mart.filter(~((pl.col("geography_code") == urn) & pl.col("indicator").is_in(
        ["pupils_headcount", "persistent_absence_percent"])))  # fmt: skip
    return urn, pl.concat([others, headcount, absence], how="vertical_relaxed")


def test_absence_coverage_pairs_rows_across_the_whole_mart_when_one_changed(mart):
    """Absence coverage pairs two rows (a school's headcount and its absence enrolments): a new absence file
    that changed only the absence row is still judged against the headcount published before."""
    _, before = with_absence(mart, 420.0)
    urn, after = with_absence(mart, 30.0)
    assert gate(before, previous=before, carry_over=True).passed
    f = failed(gate(after, previous=before, carry_over=True))
    assert set(f) == {"absence_covers_the_roll"}
    assert f["absence_covers_the_roll"][0].offending[0]["geography_code"] == urn


def test_an_empty_mart_or_far_fewer_schools_fail(mart):
    """A refresh of an empty landing folder built an empty mart that passed every gate and was published; a
    mart with no rows fails, and so does one whose schools fall by more than the tolerance."""
    f = failed(gate(mart.head(0)))
    assert set(f) == {"mart_not_empty"}
    schools = sorted(set(mart.filter(pl.col("geographic_level") == "School")["geography_code"]))
    fewer = mart.filter((pl.col("geographic_level") != "School") | pl.col("geography_code").is_in(schools[:-6]))
    f = failed(gate(fewer, previous=mart))
    assert "drift_within_tolerance" in f
    measures = {o["measure"]: (o["previous"], o["current"]) for o in f["drift_within_tolerance"][0].offending}
    assert measures["schools"] == (len(schools), len(schools) - 6)
    assert gate(mart, previous=mart).passed


def test_absence_enrolments_far_below_the_census_roll_fail(mart):
    """The absence of four-year-olds, read as a school's whole absence, has a few enrolments against hundreds
    on roll: the gate names the school; whole-school absence (enrolments at or above the roll) passes."""
    from expectations.marts import absence_coverage_frame

    urn, part = with_absence(mart, 30.0)
    f = failed(gate(part))
    assert set(f) == {"absence_covers_the_roll"}
    (o,) = f["absence_covers_the_roll"][0].offending
    assert (o["geography_code"], o["absence_enrolments"], o["census_headcount"]) == (urn, 30.0, 400.0)
    assert gate(with_absence(mart, 420.0)[1]).passed
    coverage = absence_coverage_frame(part.filter(pl.col("geography_code") == urn), min_share=0.05)
    assert coverage["below_roll"].to_list() == [False]  # 30 of 400 is above a 5% share


def test_only_extracts_whose_bytes_changed_are_judged_again(extracts, tmp_path):
    """`changed_extracts`: an extract whose CSV and metadata are byte for byte the published ones is not
    validated again; one whose CSV or metadata differs, or that was not published, is."""
    from expectations.extracts import changed_extracts
    from ingestion.files import sha256_file
    from publication.extracts import ExtractFiles

    def entry(info) -> dict:
        return {"name": info.name, "files": {"csv": {"sha256": sha256_file(info.csv_path)},
                                             "meta": {"sha256": sha256_file(info.meta_path)}}}

    same, csv_changed, meta_changed, new = (extracts[n] for n in (
        "admin_indicators_school", "pupil_belonging_la", "admin_indicators_la", "pupil_belonging_school"))
    published = [entry(same), entry(csv_changed), entry(meta_changed)]

    def edit(rows, header):
        rows[0][header.index("la_name")] = "Total"
        return rows, header

    csv_path, meta_path = rewrite(csv_changed, tmp_path, csv_changed.name, edit)
    meta_copy = tmp_path / "admin_indicators_la.meta.csv"
    meta_copy.write_text(meta_changed.meta_path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    infos = [ExtractFiles(same.name, same.csv_path, same.meta_path, same.parquet_path),
             ExtractFiles(csv_changed.name, csv_path, meta_path, csv_changed.parquet_path),
             ExtractFiles(meta_changed.name, meta_changed.csv_path, meta_copy, meta_changed.parquet_path),
             ExtractFiles(new.name, new.csv_path, new.meta_path, new.parquet_path)]
    assert [i.name for i in changed_extracts(infos, published)] == [
        "pupil_belonging_la", "admin_indicators_la", "pupil_belonging_school"]
    assert changed_extracts(infos[:1], published) == []
