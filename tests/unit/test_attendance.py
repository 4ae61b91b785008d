"""In-year attendance (issue 15): the DfE's "Pupil attendance in schools" files read as they are, their weeks
placed in academic years, the catalogue's `published` figures, their extracts, screener and disclosure."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from expectations.screener import FAIL, PASS, ScreenInput, screen, time_consistent
from indicators import CatalogueError, catalogue
from ingestion.attendance import weeks_in_academic_years
from ingestion.ees import read_ees
from ingestion.lake import SourceFile
from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from tests.conftest import DISCLOSURE, REFERENCE, REPO

DFE = REFERENCE / "dfe"
LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
WEEKLY = "attendance_ees_weekly_2025_sample.csv"
YTD = "attendance_ees_ytd_202526_sample.csv"


def read(path: Path):
    return read_ees(SourceFile.of(path, path.parent))


@pytest.mark.parametrize(
    "name, by_level, c_cells",
    [
        (WEEKLY, {"Local authority": 126, "National": 6, "Regional": 54}, 180),
        (YTD, {"Local authority": 16, "National": 4, "Regional": 36}, 28),
    ],
)
def test_the_real_files_load_every_row_by_level_with_their_symbols(name, by_level, c_cells):
    r = read(DFE / name)
    assert (r.publication, r.vintage) == ("attendance", "ees2025")
    assert r.summary["rows_by_level"] == by_level
    assert r.summary["symbols"] == {"c": c_cells}
    assert r.quarantine.height == 0
    t = r.tables["dfe_attendance"]
    assert t.get_column("time_period").unique().to_list() == [202526]
    assert set(t["phase"]) == {"Primary", "Secondary", "Special", "Total"}
    # a one-school LA's `c` is kept as suppressed, never 0
    city = t.filter((pl.col("la_name") == "City of London") & (pl.col("phase") == "Primary"))
    assert city.height and set(city["overall_absence_status"]) == {"suppressed"}
    assert city["overall_absence"].null_count() == city.height
    assert city["num_schools"].to_list() == [1.0] * city.height
    assert not t.filter(pl.col("overall_absence_status") == "suppressed")["overall_absence"].is_not_null().any()


def test_year_to_date_keeps_quoted_and_fractional_numbers():
    t = read(DFE / YTD).tables["dfe_attendance"]
    row = t.filter((pl.col("region_name") == "Yorkshire and The Humber") & (pl.col("phase") == "Primary")
                   & (pl.col("geographic_level") == "Regional")).row(0, named=True)  # fmt: skip
    assert row["time_identifier"] == "Academic year"
    assert row["num_schools"] == pytest.approx(1701.81914893617)  # fractional, unquoted
    assert row["enrolments"] == pytest.approx(365245.707446809)  # quoted
    assert (row["overall_absence"], row["possible_sessions"]) == (7076795, 132526863)
    assert row["overall_absence_perc"] == pytest.approx(5.33989475024396)
    assert row["pa_perc"] == pytest.approx(14.1207806306647)
    assert row["week_number"] is None


def test_weekly_rows_sit_in_their_academic_year_and_have_no_persistent_absence():
    t = read(DFE / WEEKLY).tables["dfe_attendance"]
    week37 = t.filter(pl.col("time_identifier") == "Week 37")
    assert set(week37["week_commencing"]) == {dt.date(2025, 9, 8)}
    assert set(week37["week_year"]) == {2025} and set(week37["week_number"]) == {37}
    assert sorted(t["week_number"].unique()) == [37, 38, 39, 40, 41, 42, 43, 45]  # no week 44: half term
    # the weekly file publishes no persistent absence: null and `missing`, never 0
    assert t["pa_perc"].null_count() == t.height and set(t["pa_perc_status"]) == {"missing"}


def test_weeks_are_placed_by_their_thursday():
    frame = pl.DataFrame(
        {"_time_period_raw": ["2025", "2026", "2026", "2026", "2025", "202526", "25"],
         "time_identifier": ["Week 37", "week 1", "Week 35", "Week 36", "Week 53", "Academic year", "Week 2"]}
    )  # fmt: skip
    out = weeks_in_academic_years(frame)
    assert out["_time_period_raw"].to_list() == ["202526", "202526", "202526", "202627", "2025", "202526", "25"]
    assert out["week_commencing"].to_list() == [
        dt.date(2025, 9, 8), dt.date(2025, 12, 29), dt.date(2026, 8, 24), dt.date(2026, 8, 31), None, None, None,
    ]  # fmt: skip
    assert out["time_identifier"].to_list()[:2] == ["Week 37", "Week 1"]


def test_a_week_that_does_not_exist_is_quarantined(tmp_path):
    lines = (DFE / WEEKLY).read_text(encoding="utf-8").splitlines()
    bad = lines[1].replace('2025,"Week 37"', '2025,"Week 53"', 1)  # 2025 has 52 ISO weeks
    assert bad != lines[1]
    path = tmp_path / "weekly.csv"
    path.write_text("\n".join([lines[0], bad, lines[2]]) + "\n", encoding="utf-8")
    r = read(path)
    assert r.quarantine.select("row_number", "rule", "value").rows() == [(1, "time_period_format", "2025")]
    assert r.tables["dfe_attendance"].height == 1


# --------------------------------------------------------------------------------------------- catalogue
def _catalogue_with(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load((REPO / "indicators" / "catalogue.yaml").read_text(encoding="utf-8"))
    entry = next(e for e in doc["indicators"] if e["id"] == "in_year_overall_absence_percent")
    change(entry)
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_catalogue_defines_both_in_year_figures():
    ids = [e.id for e in catalogue().of(family="attendance")]
    assert ids == ["in_year_overall_absence_percent", "in_year_persistent_absence_percent"]
    assert catalogue().get("in_year_overall_absence_percent").has_parts
    assert not catalogue().get("in_year_persistent_absence_percent").has_parts


@pytest.mark.parametrize(
    "change, rule",
    [
        (lambda e: e.pop("rate"), "`rate`"),
        (lambda e: e.update(levels=["School", "National"]), "no School rows"),
        (lambda e: e.update(rate="attendance.no_such_perc"), "no attendance measure"),
        (lambda e: e.update(breakdowns=["Total", "gender"]), "education_phase"),
        (lambda e: e.pop("denominator"), "or neither"),
    ],
)
def test_the_catalogue_refuses_a_malformed_attendance_entry(tmp_path, change, rule):
    with pytest.raises(CatalogueError, match=rule):
        catalogue(_catalogue_with(tmp_path, change))


# --------------------------------------------------------------------------------------------- extracts
def _mart_rows() -> pl.DataFrame:
    """mart_indicators rows as int_attendance_indicators_published makes them: a week and the year to date."""
    base = {"geographic_level": "Local authority", "geography_code": "E09000007", "country_code": "E92000001",
            "country_name": "England", "region_code": "E12000007", "region_name": "London", "old_la_code": "202",
            "new_la_code": "E09000007", "la_name": "Camden", "source": "attendance", "respondents": None,
            "ci_lower": None, "ci_upper": None}  # fmt: skip
    rows = []
    for period, ident in ((2025, "Week 37"), (202526, "Academic year")):
        for phase, schools in (("Total", 49), ("Primary", 36), ("Secondary", 1)):
            status = "suppressed" if phase == "Secondary" else "value"
            shown = status == "value"
            rows.append(base | {
                "time_period": period, "time_identifier": ident, "indicator": "in_year_overall_absence_percent",
                "breakdown": "Total" if phase == "Total" else "education_phase", "breakdown_value": phase,
                "numerator": 8669.0 if shown else None, "denominator": 146370.0 if shown else None,
                "value": 5.922661747 if shown else None, "value_status": status,
                "schools_included": schools, "schools_total": schools,
            })  # fmt: skip
            if ident == "Academic year":
                rows.append(rows[-1] | {"indicator": "in_year_persistent_absence_percent", "numerator": None,
                                        "denominator": None, "value": 16.4 if shown else None})  # fmt: skip
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def attendance_extracts(tmp_path_factory):
    out = tmp_path_factory.mktemp("attendance_extracts")
    published = apply_disclosure_control(_mart_rows(), **DISCLOSURE)
    return {i.name: i for i in build_extracts(published, out, LOOKUP)}


def test_weeks_and_years_to_date_are_separate_extracts_that_pass_the_screener(attendance_extracts):
    assert sorted(attendance_extracts) == ["attendance_weekly_la", "attendance_year_to_date_la"]
    for info in attendance_extracts.values():
        results = screen(info.csv_path, info.meta_path, LOOKUP)
        assert [r for r in results if r.status != PASS] == []
    weekly = pl.read_csv(attendance_extracts["attendance_weekly_la"].csv_path, infer_schema=False)
    assert set(weekly["time_period"]) == {"2025"} and set(weekly["time_identifier"]) == {"Week 37"}
    assert "in_year_persistent_absence_percent" not in weekly.columns
    ytd = pl.read_csv(attendance_extracts["attendance_year_to_date_la"].csv_path, infer_schema=False)
    total = ytd.filter(pl.col("breakdown_value") == "Total").row(0, named=True)
    assert total["in_year_overall_absence_percent"] == "5.9"
    assert total["in_year_overall_absence_percent_numerator"] == "8669"
    assert total["in_year_persistent_absence_percent"] == "16.4"
    assert "in_year_persistent_absence_percent_numerator" not in ytd.columns
    # the DfE's `c` stays `c`; a single school is the DfE's own figure, never re-suppressed by our rules
    secondary = ytd.filter(pl.col("breakdown_value") == "Secondary").row(0, named=True)
    assert secondary["in_year_overall_absence_percent"] == "c"
    assert secondary["in_year_overall_absence_percent_numerator"] == "c"
    meta = attendance_extracts["attendance_year_to_date_la"].meta_path.read_text(encoding="utf-8")
    assert "provisional in-year" in meta


def test_attendance_is_never_re_suppressed_below_the_minimum_schools():
    rows = _mart_rows().with_columns(pl.lit(1).alias("schools_included"))
    out = apply_disclosure_control(rows, **DISCLOSURE)
    assert DISCLOSURE["min_schools"] > 1
    assert out["published_status"].to_list() == rows["value_status"].to_list()


def test_the_screener_fails_a_file_mixing_weeks_and_academic_years(attendance_extracts, tmp_path):
    info = attendance_extracts["attendance_weekly_la"]
    csv_path, meta_path = tmp_path / "mixed.csv", tmp_path / "mixed.meta.csv"
    shutil.copy(info.meta_path, meta_path)
    text = info.csv_path.read_text(encoding="utf-8")
    good = ScreenInput.read(info.csv_path, info.meta_path, LOOKUP)
    assert time_consistent(good).status == PASS
    lines = text.splitlines()
    lines[1] = lines[1].replace("2025,Week 37", "202526,Academic year", 1)
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert time_consistent(ScreenInput.read(csv_path, meta_path, LOOKUP)).status == FAIL
    lines[1] = lines[1].replace("202526,Academic year", "202526,Week 37", 1)  # a week is a calendar year
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert time_consistent(ScreenInput.read(csv_path, meta_path, LOOKUP)).status == FAIL


def test_the_report_shows_the_weeks_as_a_provisional_line_chart(tmp_path):
    from publication.report import _attendance

    assert _attendance(tmp_path) == ""
    head = "time_period,time_identifier,geographic_level,country_code,country_name,breakdown,breakdown_value," \
           "in_year_overall_absence_percent\n"
    rows = "".join(f"2025,Week {w},National,E92000001,England,{b},{v},{x}\n" for w, x in ((37, "5.1"), (38, "6.2"))
                   for b, v in (("Total", "Total"), ("education_phase", "Primary")))  # fmt: skip
    (tmp_path / "attendance_weekly_national.csv").write_text(head + rows, encoding="utf-8")
    html = _attendance(tmp_path)
    assert "Provisional in-year data" in html and "<svg" in html
    assert "Week 37 (2025)" in html and "Week 38 (2025)" in html
