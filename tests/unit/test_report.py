"""The release report (publication/report.py): built only from the public extracts, self-contained, the same
bytes from the same extracts, and rendered by a real browser without errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publication.charts import nice_ticks
from publication.report import render_report, write_report

NATIONAL_ADMIN = """time_period,time_identifier,geographic_level,country_code,country_name,pupils_headcount,suspension_rate,special_needs_support_percent
202324,Academic year,National,E92000001,England,1000,10.50,12.0
202425,Academic year,National,E92000001,England,1010,11.25,12.4
"""
NATIONAL_PUPIL = """time_period,time_identifier,geographic_level,country_code,country_name,breakdown,breakdown_value,respondents,belonging_score_mean,belonging_score_mean_ci_lower,belonging_score_mean_ci_upper,belonging_gap_special_needs_points,belonging_gap_special_needs_points_ci_lower,belonging_gap_special_needs_points_ci_upper
202324,Autumn term,National,E92000001,England,Total,Total,500,55.5,54.0,57.0,8.1,4.0,12.2
202425,Autumn term,National,E92000001,England,Total,Total,520,54.4,53.0,55.8,9.6,5.5,13.7
202425,Autumn term,National,E92000001,England,send,Yes,60,47.0,44.0,50.0,z,z,z
"""
SCHOOL_ADMIN = """time_period,time_identifier,geographic_level,country_code,country_name,school_urn,school_laestab,school_name,pupils_headcount,suspension_rate,special_needs_representation_ratio
202425,Academic year,School,E92000001,England,100001,2011001,Alder School,300,4.00,1.10
202425,Academic year,School,E92000001,England,100002,2011002,Birch School,400,12.00,0.90
202425,Academic year,School,E92000001,England,100003,2011003,Cedar School,310,20.00,1.30
202425,Academic year,School,E92000001,England,100004,2011004,Hidden School,12,30.00,2.00
"""
SCHOOL_PUPIL = """time_period,time_identifier,geographic_level,country_code,country_name,school_urn,school_laestab,school_name,breakdown,breakdown_value,respondents,belonging_score_mean
202425,Autumn term,School,E92000001,England,100001,2011001,Alder School,Total,Total,100,61.0
202425,Autumn term,School,E92000001,England,100002,2011002,Birch School,Total,Total,120,55.0
202425,Autumn term,School,E92000001,England,100003,2011003,Cedar School,Total,Total,90,48.0
202425,Autumn term,School,E92000001,England,100004,2011004,Hidden School,Total,Total,c,c
"""
MAT_PUPIL = """time_period,time_identifier,geographic_level,country_code,country_name,trust_id,trust_name,breakdown,breakdown_value,respondents,belonging_score_mean
202425,Autumn term,MAT,E92000001,England,5001,Oak Learning Trust,Total,Total,310,57.9
202425,Autumn term,MAT,E92000001,England,5002,Small Trust,Total,Total,c,c
"""
MAT_ADMIN = """time_period,time_identifier,geographic_level,country_code,country_name,trust_id,trust_name,pupils_headcount,suspension_rate
202425,Academic year,MAT,E92000001,England,5001,Oak Learning Trust,1010,11.88
202425,Academic year,MAT,E92000001,England,5002,Small Trust,12,30.00
"""
META = "col_name,col_type,label,indicator_grouping,indicator_unit,indicator_dp,filter_hint,filter_grouping_column\n"


@pytest.fixture
def extracts(tmp_path: Path) -> Path:
    out = tmp_path / "extracts"
    out.mkdir()
    files = {
        "admin_indicators_national": NATIONAL_ADMIN,
        "pupil_belonging_national": NATIONAL_PUPIL,
        "admin_indicators_school": SCHOOL_ADMIN,
        "pupil_belonging_school": SCHOOL_PUPIL,
        "pupil_belonging_mat": MAT_PUPIL,
        "admin_indicators_mat": MAT_ADMIN,
    }
    for name, text in files.items():
        (out / f"{name}.csv").write_text(text, encoding="utf-8")
    (out / "pupil_belonging_national.meta.csv").write_text(
        META + "belonging_score_mean,Indicator,Mean belonging score (0-100),Belonging,,1,,\n", encoding="utf-8")
    return out


def test_headline_figures_are_the_published_text_of_the_latest_period(extracts):
    page = render_report(extracts, "R1")
    card = re.search(r'<div class="label">Mean belonging score \(0-100\)</div><div class="value">([^<]+)</div>'
                     r'<div class="period">([^<]+)</div><div class="change">([^<]+)</div>', page)
    assert card is not None
    assert card.groups() == ("54.4", "England, 2024/25 autumn", "-1.1 since 2023/24 autumn")
    suspension = re.search(r'<div class="label">Suspensions per 100 pupils</div><div class="value">([^<]+)', page)
    assert suspension is not None and suspension.group(1) == "11.25"


def test_a_suppressed_school_is_left_out_of_every_chart_and_counted(extracts):
    page = render_report(extracts, "R1")
    assert "Hidden School" not in page  # its admin figures are public, but its belonging score is `c`
    for name in ("Alder School", "Birch School", "Cedar School"):
        assert f"<title>{name}: " in page
    assert "(3 shown; 1 not shown because a figure is suppressed, not available or not applicable)" in page


def test_a_suppressed_trust_shows_c_in_the_table(extracts):
    page = render_report(extracts, "R1")
    row = re.search(r"<tr><td>Small Trust</td>(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells[:2] == ["c", "c"]  # respondents, mean belonging score
    assert "12" in cells and "30.00" in cells  # the DfE figures, exactly as published
    oak = re.search(r"<tr><td>Oak Learning Trust</td>(.*?)</tr>", page)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", oak.group(1))[:2] == ["310", "57.9"]


def test_gaps_are_drawn_with_their_confidence_intervals(extracts):
    page = render_report(extracts, "R1")
    section = page[page.index('id="gaps"'):page.index('id="inclusion"')]
    assert "9.6<tspan" in section and "(5.5 to 13.7)" in section
    assert "8.1<tspan" in section and "(4 to 12.2)" in section


def test_the_report_is_self_contained(extracts):
    page = render_report(extracts, "R1")
    for banned in ("<script", "<link", " src=", "url(", "@import", "<iframe", "<img"):
        assert banned not in page
    # the only address is the SVG namespace, which is a name, not something fetched
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}


def test_the_same_extracts_give_the_same_bytes(extracts, tmp_path):
    first = write_report(extracts, tmp_path / "a.html", "R1").read_bytes()
    second = write_report(extracts, tmp_path / "b.html", "R1").read_bytes()
    assert first == second
    changed = extracts / "admin_indicators_national.csv"
    changed.write_text(NATIONAL_ADMIN.replace("11.25", "11.26"), encoding="utf-8")
    assert write_report(extracts, tmp_path / "c.html", "R1").read_bytes() != first


def test_names_are_escaped(extracts):
    text = (extracts / "pupil_belonging_mat.csv").read_text(encoding="utf-8")
    (extracts / "pupil_belonging_mat.csv").write_text(text.replace("Oak Learning Trust", '"<b>Oak</b> & Co"'))
    page = render_report(extracts, "R1")
    assert "<b>Oak</b>" not in page and "&lt;b&gt;Oak&lt;/b&gt; &amp; Co" in page


@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False))
def test_ticks_span_the_values(lo, width):
    ticks = nice_ticks(lo, lo + width)
    assert ticks[0] <= lo and ticks[-1] >= lo + width and len(ticks) >= 2
    assert ticks == sorted(ticks)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_report_renders_its_charts_in_a_browser(extracts, tmp_path):
    """Opens the page in headless Chromium: every chart has a size, and the console shows no error."""
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: install Debian's package (`apt-get install chromium`); "
                    ".ci/run does")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    page_path = write_report(extracts, tmp_path / "report.html", "R1")
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])  # fmt: skip
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            sizes = page.eval_on_selector_all(
                "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })")
            dots = page.locator("svg circle").count()
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_path.as_uri()]  # nothing fetched but the page itself
    assert len(sizes) >= 6 and all(w > 50 and h > 40 for w, h in sizes)
    assert dots >= 3 + 3  # the schools' scatter dots and the trend points


def test_a_figure_flagged_low_reliability_is_counted_not_compared(extracts):
    """The typed extract's `<figure>_status` marks a value shown but not to be ranked (roll stability of a school
    that opened or closed in the window): the report leaves it out of the comparison and says so."""
    import polars as pl

    rows = pl.read_csv(extracts / "admin_indicators_school.csv", infer_schema=False)
    status = pl.Series("suspension_rate_status", ["value", "value", "low_reliability", "value"])
    rows.with_columns(status).write_parquet(extracts / "admin_indicators_school.parquet")
    page = render_report(extracts, "R1")
    scatter = page[page.index("Mean belonging score (0-100) against Suspensions per 100 pupils"):]
    scatter = scatter[:scatter.index("</figure>")]
    assert "<title>Cedar School: " not in scatter and "<title>Birch School: " in scatter
    assert "(2 shown; 1 not shown because a figure is suppressed, not available or not applicable; 1 flagged as " \
           "low reliability, shown in the extracts but not compared here)" in scatter


NATIONAL_ADMIN_BY_GROUP = """time_period,time_identifier,geographic_level,country_code,country_name,breakdown,breakdown_value,suspension_rate,group_one_plus_suspension_percent,one_plus_suspension_risk_ratio,one_plus_suspension_risk_ratio_ci_lower,one_plus_suspension_risk_ratio_ci_upper
202425,Academic year,National,E92000001,England,Total,Total,11.25,2.40,z,z,z
202425,Academic year,National,E92000001,England,sen_status,Education and care plan X,z,9.60,3.95,3.89,4.02
202425,Academic year,National,E92000001,England,sen_status,No SEN,z,2.43,z,z,z
202425,Academic year,National,E92000001,England,fsm_status,FSM eligible,z,5.27,c,c,c
202425,Academic year,National,E92000001,England,ethnicity_major,Asian,z,1.24,0.52,0.50,0.54
"""


def test_who_is_suspended_out_of_proportion_shows_risk_ratios_with_their_intervals(extracts):
    """Issue 15: the section reads the DfE's by-group rows of the national extract (not its Total row), names
    the group with the largest ratio in plain words, and shows a suppressed ratio as `c`, never 0."""
    (extracts / "admin_indicators_national.csv").write_text(NATIONAL_ADMIN_BY_GROUP, encoding="utf-8")
    page = render_report(extracts, "R1")
    section = page[page.index('id="disproportionality"'):page.index('id="inclusion"')]
    assert ("pupils in the group <b>Education and care plan X</b> were <b>3.95 times</b> as likely to be suspended "
            "at least once as the pupils they are compared with (95% confidence interval 3.89 to 4.02)") in section
    assert "Across all pupils, 2.40% were suspended at least once." in section
    row = re.search(r"<tr><td>free school meals</td><td>FSM eligible</td>(.*?)</tr>", section)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1)) == ["5.27", "c", "c", "c", "Not FSM eligible pupils"]
    asian = re.search(r"<tr><td>ethnicity</td><td>Asian</td>(.*?)</tr>", section)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", asian.group(1))[-1] == "all other pupils"
    assert "Asian: 0.52 (0.5 to 0.54)" in section  # drawn with its interval
    # the headline suspension rate is still the all-pupils row's
    assert re.search(r'<div class="label">Suspensions per 100 pupils</div><div class="value">11.25', page)


def test_no_by_group_rows_no_section(extracts):
    assert 'id="disproportionality"' not in render_report(extracts, "R1")
