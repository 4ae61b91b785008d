"""The demo end to end, as a user runs it: `belonging demo`, then SQL while another refresh runs, the lock,
reproducible extracts, the screener on the published files, releases and roll back, status and validate."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from demo.surveys import NOT_IN_GIAS_URN
from orchestration.settings import GEOGRAPHY_LOOKUP
from tests.conftest import DISCLOSURE
from tests.pipeline_helpers import (
    belonging,
    current,
    manifest,
    popen_belonging,
    public,
    release_query,
    scan_for_markers,
    tree_hashes,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]

LEVELS = {"School", "MAT", "Local authority", "Regional", "National"}
ADMIN = ["pupils_headcount", "fsm_percent", "sen_support_percent", "ehcp_percent", "overall_absence_percent",
         "persistent_absence_percent", "severe_absence_percent", "suspension_rate", "one_plus_suspension_percent",
         "permanent_exclusion_rate", "send_representation_ratio", "fsm_representation_ratio"]
RAW_TABLES = ["dfe_absence", "dfe_census", "dfe_exclusions", "dfe_exclusions_characteristics", "dfe_sen",
              "gias_establishments", "gias_links",
              "survey_answers", "survey_items", "survey_responses"]
ROLL_STABILITY = ["roll_stability_y10_y11_percent", "roll_stability_y7_y8_percent", "roll_stability_y8_y9_percent",
                  "roll_stability_y9_y10_percent", "roll_stability_y7_y11_percent"]
PUPIL = ["respondents", "response_rate_percent", "belonging_score_mean", "belonging_positive_percent",
         "belonging_gap_send", "belonging_gap_fsm", "outsider_disagree_percent", "lonely_disagree_percent"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo") / "home"
    proc = belonging("demo", home=home, key=None)  # the demo sets its own pseudonym key
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"home": home, "first": current(home), "proc": proc}


def test_the_refresh_says_what_it_did_and_keeps_dbt_and_traces_in_its_log(demo):
    out = demo["proc"].stdout
    assert "START sql" not in out and "Traceback" not in out  # dbt's own lines are in the log, not here
    progress = [line for line in out.splitlines() if line.startswith("[") and "s] " in line]
    assert any("lake_dfe done:" in line and "files loaded" in line for line in progress)
    assert any("warehouse_dbt done:" in line and "models and tests" in line for line in progress)
    assert "  gates: 13 of 13 passed" in out
    assert re.search(r"^    passed  raw_gate +lake/dfe_census$", out, re.M)
    assert re.search(r"^    passed  extract_gate publication/extracts$", out, re.M)
    assert re.search(r"^  loaded: \d+ files \([\d,]+ rows\); 0 unchanged files skipped$", out, re.M)
    log = Path(re.search(r"log \(dbt output, stack traces\): (\S+)", out).group(1))
    assert "START sql" in log.read_text()
    assert (demo["home"] / "DEMO").is_file()


def test_demo_publishes_a_complete_read_only_release(demo):
    release = demo["first"]
    assert "published release" in demo["proc"].stdout
    m = manifest(release)
    assert m["release_id"] == release.name
    names = {e["name"] for e in m["extracts"]}
    for family in ("admin_indicators", "pupil_belonging", "staff_belonging"):
        for level in ("school", "mat", "la", "regional", "national"):
            assert f"{family}_{level}" in names
    for name in names:
        for suffix in (".csv", ".meta.csv", ".parquet"):
            assert (public(release) / "extracts" / f"{name}{suffix}").exists()
    kinds = {i["kind"] for i in m["inputs"]}
    assert {"dfe", "gias_establishments", "gias_links", "survey"} <= kinds
    # every landing data file is an input, with the sha256 of its bytes (metadata files ride with their data)
    landing = demo["home"] / "landing"
    files = {p.relative_to(landing).as_posix(): p for p in landing.rglob("*")
             if p.is_file() and not p.name.endswith(".meta.csv")}
    assert sorted(i["file"] for i in m["inputs"]) == sorted(files)
    assert all(i["sha256"] == sha256(files[i["file"]]) for i in m["inputs"])
    # every gate ran and passed: one raw gate per lake table, dbt's tests, the mart and extract gates
    # (each a Dagster check evaluation of the run, read back by the release)
    gates = {(g["asset"], g["name"]): g["passed"] for g in m["gates"]}
    ours = {(f"lake/{t}", "raw_gate") for t in RAW_TABLES} | {("mart_indicators", "mart_gate"),
                                                             ("publication/extracts", "extract_gate")}
    assert ours <= set(gates) and all(gates.values())
    dbt_tests = set(gates) - ours
    assert ("mart_indicators", "unique_key_mart_indicators_time_period__time_identifier__geographic_level__"
            "geography_code__indicator__breakdown__breakdown_value") in dbt_tests
    assert any(name.startswith("relationships_mart_indicators_school_urn") for _, name in dbt_tests)
    assert len(dbt_tests) >= 40
    # the manifest describes the files next to it (relative to the public part): their sha256 and data rows
    for extract in m["extracts"]:
        for entry in extract["files"].values():
            assert entry["sha256"] == sha256(public(release) / entry["file"]), entry
        csv_bytes = (public(release) / extract["files"]["csv"]["file"]).read_bytes()
        assert extract["rows"] == csv_bytes.count(b"\n") - 1 > 0, extract["name"]
    # beside the extracts: the data guidance, the validation summary and the report
    assert (m["data_guidance"], m["validation_summary"], m["report"]) == (
        "data-guidance.md", "validation.html", "report.html")  # fmt: skip
    assert sorted(p.name for p in public(release).iterdir()) == [
        "data-guidance.md", "extracts", "manifest.json", "report.html", "validation.html"]  # fmt: skip
    # the report shows England's latest belonging score exactly as the national extract publishes it
    national = pl.read_csv(public(release) / "extracts" / "pupil_belonging_national.csv", infer_schema=False)
    latest = national.filter(pl.col("breakdown") == "Total").sort("time_period", "time_identifier")[-1]
    report = (public(release) / "report.html").read_text(encoding="utf-8")
    card = re.search(r'Mean belonging score \(0-100\)</div><div class="value">([^<]+)</div>', report)
    assert card is not None and card.group(1) == latest["belonging_score_mean"][0]
    # the internal part: the warehouse copy, its manifest and a README saying it is not for publication
    internal = manifest(release, "internal")
    assert internal["warehouse"]["sha256"] == sha256(release / "internal" / "warehouse.duckdb")
    assert "not for publication" in (release / "internal" / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in release.iterdir()) == ["internal", "public"]
    assert m["fingerprint"]["sha256"] and set(m["fingerprint"]["parts"]) == {
        "inputs", "catalogue", "settings", "code", "versions"}
    for path in release.rglob("*"):
        if path.is_file():
            assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path


def test_every_indicator_at_every_level(demo):
    found = {}
    for indicator, level in release_query(demo["home"], """
            select distinct indicator, geographic_level from mart_indicators where value is not null"""):
        found.setdefault(indicator, set()).add(level)
    for indicator in ADMIN + ROLL_STABILITY + PUPIL + ["staff_belonging_score_mean"]:
        expected = {"School", "MAT"} if indicator.endswith("representation_ratio") else LEVELS
        assert found.get(indicator) == expected, (indicator, found.get(indicator))
    # England's figures are ratios of sums of its schools' cells that enter sums (schools_included: a published
    # cell, not a roll-stability cell flagged as unlike), every year, wave and breakdown (gaps and response
    # rates excepted: their parts are not school sums of one row)
    rows = release_query(demo["home"], """
        with schools as (
            select time_period, time_identifier, indicator, breakdown, breakdown_value,
                   sum(numerator) filter (where schools_included = 1) as num,
                   sum(denominator) filter (where schools_included = 1) as den,
                   count(*) filter (where schools_included = 1) as included
            from mart_indicators where geographic_level = 'School' group by all)
        select n.indicator, n.numerator, s.num, n.denominator, s.den, n.schools_included, s.included, n.value,
               n.value_status
        from mart_indicators as n
        join schools as s using (time_period, time_identifier, indicator, breakdown, breakdown_value)
        where n.geographic_level = 'National' and n.indicator not like '%gap%' and n.indicator not like '%response_rate%'
        """)
    representation = {"send_representation_ratio", "fsm_representation_ratio"}  # School and MAT only
    assert {r[0] for r in rows} >= (set(ADMIN) - representation) | set(ROLL_STABILITY) | (
        set(PUPIL) - {"response_rate_percent", "belonging_gap_send", "belonging_gap_fsm"})
    # a flagged school's roll stability is shown but enters no sum; the demo has some (special schools whose
    # youngest or oldest year group changed)
    (flagged,), = release_query(demo["home"], """
        select count(*) from mart_indicators where geographic_level = 'School' and indicator like 'roll_stability%'
        and value_status = 'low_reliability' and value is not null and schools_included = 0""")
    assert flagged > 0
    for indicator, num, s_num, den, s_den, included, s_included, value, status in rows:
        assert (num, den, included) == (pytest.approx(s_num), pytest.approx(s_den), s_included), indicator
        scale = 100 if indicator.endswith(("_percent", "_rate")) else 1
        if status in ("value", "low_reliability"):
            assert value == pytest.approx(num / (den or 1) * scale), indicator
    # the inclusion profile: one row per school and year of the spine, with the school's own suspension rate
    profile = release_query(demo["home"], """
        select count(*), count(*) filter (where abs(p.suspension_rate - m.value) < 1e-8
                                                or p.suspension_rate is null and m.value is null),
               min(suspension_rate_percentile), max(suspension_rate_percentile)
        from mart_inclusion_profile as p
        left join mart_indicators as m on m.geographic_level = 'School' and m.geography_code = p.school_urn
            and m.time_period = p.time_period and m.indicator = 'suspension_rate' and m.breakdown = 'Total'
            and m.time_identifier = 'Academic year'""")
    (spine,), = release_query(demo["home"], "select count(*) from int_school_years_spined")
    assert profile == [(spine, spine, 0.0, 100.0)] and spine > 0


def test_the_catalogue_is_exactly_what_is_published(demo):
    """Every indicator in mart_indicators and every indicator column of every extract has its catalogue entry,
    and every catalogue indicator (a pattern once per item) is in the mart and in its family's extracts."""
    from indicators import catalogue
    from publication.extracts import extract_families

    cat = catalogue()
    in_mart = set(release_query(demo["home"], "select distinct source, indicator from mart_indicators"))
    assert [pair for pair in sorted(in_mart) if cat.lookup(pair[1], pair[0]) is None] == []
    expected = {(e.source, e.id) for e in cat.expanded()}
    assert expected == in_mart
    extracts = public(demo["first"]) / "extracts"
    slugs = {"School": "school", "MAT": "mat", "Local authority": "la", "Regional": "regional", "National": "national"}
    for e in cat.expanded():
        families = [family for family, _ in extract_families(e.source)]  # attendance: weekly and year to date
        for level in (slugs[lv] for lv in e.levels):
            meta = {}
            for family in families:
                if (path := extracts / f"{family}_{level}.meta.csv").exists():
                    with open(path, encoding="utf-8", newline="") as fh:
                        meta |= {r["col_name"]: r for r in csv.DictReader(fh)}
            row = meta.get(e.published.name)
            assert row is not None, (e.id, families, level)
            assert (row["label"], row["indicator_unit"], row["indicator_dp"], row["indicator_grouping"]) == (
                e.published.label, e.ees_unit, str(e.dp), e.published.grouping)
    published = {e.published.name for e in cat.expanded()}
    published |= {f"{e.published.name}_ci_{b}" for e in cat.expanded() if e.ci for b in ("lower", "upper")}
    # and what each figure covers: its numerator, denominator and schools, the row's schools
    published |= {f"{e.published.name}_{k}" for e in cat.expanded() for k in ("numerator", "denominator", "schools")}
    published |= {"schools_total", "schools_included"}
    # a signal beside what is normal: England's roll stability below National level, its flag on School rows
    published |= {f"{e.published.name}_{k}" for e in cat.of(formula="cohort") for k in ("national", "flag")}
    for meta_path in extracts.glob("*.meta.csv"):
        with open(meta_path, encoding="utf-8", newline="") as fh:
            columns = {r["col_name"] for r in csv.DictReader(fh) if r["col_type"] == "Indicator"}
        assert columns <= published, (meta_path.name, columns - published)


def test_a_flagged_schools_roll_stability_is_shown_flagged_beside_england_and_never_ranked(demo):
    """End to end on the demo: a school that opened, closed, merged or changed its age range in the window
    (low_reliability in the warehouse) shows its roll stability in the public school file with `1` in the figure's
    flag column, every like-for-like school `0`; each school, trust, LA and regional row has England's figure of the
    year beside it, as the national file publishes it; the inclusion profile shows the flagged figure, never ranks it."""
    roll = "roll_stability_y10_y11_percent"
    extracts = public(demo["first"]) / "extracts"

    def rows(level):  # all pupils: the rows by pupil group (exclusions by characteristic) have no roll stability
        with open(extracts / f"admin_indicators_{level}.csv", encoding="utf-8", newline="") as fh:
            return [r for r in csv.DictReader(fh) if r.get("breakdown", "Total") == "Total"]

    mart = {(str(tp), urn): (value, status) for tp, urn, value, status in release_query(demo["home"], f"""
        select time_period, geography_code, value, value_status from mart_indicators
        where geographic_level = 'School' and indicator = '{roll}' and value is not null""")}
    flagged = {k for k, (_, status) in mart.items() if status == "low_reliability"}
    assert flagged and len(mart) > len(flagged)  # the demo has both
    school = rows("school")
    flags = {(r["time_period"], r["school_urn"]): (r[roll], r[f"{roll}_flag"]) for r in school}
    for key, (value, status) in mart.items():
        assert flags[key] == (f"{value:.1f}", "1" if status == "low_reliability" else "0"), key
    assert {k for k, (_, flag) in flags.items() if flag == "1"} == flagged
    england = {r["time_period"]: r[roll] for r in rows("national")}
    assert any(v not in ("x", "z", "c") for v in england.values())
    for level in ("school", "mat", "la", "regional"):
        assert all(r[f"{roll}_national"] == england[r["time_period"]] for r in rows(level)), level
    profile = {(str(tp), urn): (value, percentile, reliability, national) for tp, urn, value, percentile, reliability,
               national in release_query(demo["home"], f"""
        select time_period, school_urn, {roll}, {roll}_percentile, roll_stability_reliability, {roll}_national
        from mart_inclusion_profile""")}  # fmt: skip
    for key in flagged:
        value, percentile, reliability, national = profile[key]
        assert (value, percentile, reliability) == (pytest.approx(mart[key][0]), None, "low_reliability"), key
        assert f"{national:.1f}" == england[key[0]]
    ranked = {k for k, (_, percentile, _, _) in profile.items() if percentile is not None}
    assert ranked == set(mart) - flagged


def test_disproportionality_at_every_published_level_and_reconciled(demo):
    """Issue 15: the demo's by-characteristic files give every group rate and the risk ratio at Local authority,
    Regional and National level for every pupil group, each LA's all-pupils row reconciles with the school rows, and
    the risk ratio's interval holds its value."""
    by_level = release_query(demo["home"], """
        select indicator, geographic_level, count(distinct breakdown_value), count(*) filter (where value_status = 'value')
        from mart_indicators where breakdown <> 'Total' group by all order by all""")
    levels = {(i, lv) for i, lv, _, shown in by_level if shown}
    for indicator in ("group_suspension_rate", "group_one_plus_suspension_percent", "group_permanent_exclusion_rate",
                      "one_plus_suspension_risk_ratio"):
        assert {lv for i, lv in levels if i == indicator} == {"Local authority", "Regional", "National"}, indicator
    groups = {(i, lv): n for i, lv, n, _ in by_level}
    # 3 SEN + 2 FSM + 2 sex + 6 ethnic groups; risk ratios: all but the comparison groups and sex
    assert groups[("group_suspension_rate", "National")] == 13
    assert groups[("one_plus_suspension_risk_ratio", "National")] == 2 + 1 + 6
    bad_ci = release_query(demo["home"], """
        select count(*) from mart_indicators where indicator = 'one_plus_suspension_risk_ratio'
        and value_status = 'value' and not (ci_lower < value and value < ci_upper)""")
    assert bad_ci == [(0,)]
    rec = release_query(demo["home"], """
        select geographic_level, count(*), count(*) filter (where shortfall <= school_cells_suppressed * 2 or theirs_withheld)
        from mart_reconciliation where publication = 'exclusions_characteristics' group by all order by all""")
    assert [lv for lv, *_ in rec] == ["Local authority", "National", "Regional"]
    assert all(n == ok for _, n, ok in rec), rec


def test_demo_extracts_pass_the_screener_read_as_files(demo):
    """The public part's files as a reader gets them: every extract passes every screener rule with no FAIL
    and no ADVISORY, and every gate of the extract gate with no warning."""
    from expectations.extracts import extract_gate
    from expectations.screener import PASS, screen

    extracts = public(demo["first"]) / "extracts"
    csvs = sorted(p for p in extracts.glob("*.csv") if not p.name.endswith(".meta.csv"))
    assert len(csvs) == 21  # 5 levels x (admin, 2 instruments) + 3 levels x attendance (weekly, year to date)
    for path in csvs:
        meta = path.with_name(path.name[:-4] + ".meta.csv")
        results = screen(path, meta, GEOGRAPHY_LOOKUP)
        assert [(r.name, r.status, r.message) for r in results if r.status != PASS] == [], path.name
        assert {r.name for r in results} >= {"region_for_la", "label_and_name_length",
                                            "schools_included_for_survey_aggregates"}  # fmt: skip
        result = extract_gate(path, meta, GEOGRAPHY_LOOKUP, **DISCLOSURE)
        assert result.passed and result.failures == [], result.summary()
        text = path.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        assert all(cell not in ("", "NA", "NULL", ":", ".") for row in rows[1:] for cell in row), path.name


def test_a_trusts_rate_recomputes_from_the_published_coverage(demo):
    """Every trust's suspension rate in the demo's public file is its published numerator over its published
    denominator x 100, over the schools it says it includes, as the warehouse has it."""
    path = public(demo["first"]) / "extracts" / "admin_indicators_mat.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["suspension_rate"] not in ("c", "x", "z")]
    truth = {(str(tp), code): (num, den, included, total) for tp, code, num, den, included, total in release_query(
        demo["home"], """select time_period, geography_code, numerator, denominator, schools_included, schools_total
                         from mart_indicators where geographic_level = 'MAT' and indicator = 'suspension_rate'""")}
    assert len(rows) > 20
    for r in rows:
        num, den = int(r["suspension_rate_numerator"]), int(r["suspension_rate_denominator"])
        assert r["suspension_rate"] == f"{num / den * 100:.2f}", r["trust_id"]
        included, total = int(r["suspension_rate_schools"]), int(r["schools_total"])
        assert (num, den, included, total) == truth[(r["time_period"], r["trust_id"])]
        assert 0 < included <= total


def test_the_public_part_holds_nothing_private(demo):
    """What a sector body hands over: no database and no table of respondents, no machine path (the home or
    any absolute path, in any file, Parquet by value), no survey cell under the thresholds; the validation
    summary loads nothing from the network."""

    from expectations.screener import respondents_column
    from publication.extracts import coverage_of
    from publication.releases import public_leaks

    home, release = demo["home"], demo["first"]
    part = public(release)
    assert public_leaks(part, markers=[str(home), str(home.parent)]) == []
    assert scan_for_markers(part, str(home), skip=()) == []
    files = sorted(p.relative_to(part).as_posix() for p in part.rglob("*") if p.is_file())
    m = manifest(release)
    listed = {f["file"] for e in m["extracts"] for f in e["files"].values()}
    assert set(files) == listed | {"manifest.json", "data-guidance.md", "validation.html", "report.html"}
    for name in (f for f in files if f.endswith(".csv") and not f.endswith(".meta.csv")):
        data = pl.read_csv(part / name, infer_schema=False)
        # tidy EES rows (time x geography x filter), never one row per respondent
        assert {"time_period", "geographic_level"} <= set(data.columns), name
        assert not {c for c in data.columns if re.search(r"response_(key|id|date)|respondent_id|pseudonym", c)}
        respondents = respondents_column(data.columns)
        if respondents is None:
            continue
        shown = data.filter(pl.col(respondents) != "c")
        assert shown.height and shown[respondents].cast(pl.Int64).min() >= DISCLOSURE["min_respondents"], name
        for column in data.columns:  # every shown survey denominator rests on enough respondents
            found = coverage_of(column, data.columns)
            if found and found[1] == "denominator":
                values = data.filter(~pl.col(column).is_in(["c", "x", "z"]))[column].cast(pl.Float64)
                assert values.min() is None or values.min() >= DISCLOSURE["min_respondents"], (name, column)
        if "schools_included" in data.columns:
            assert shown["schools_included"].cast(pl.Int64).min() >= DISCLOSURE["min_schools"], name
    page = (part / "validation.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and not re.search(r"https?://", page)
    report = (part / "report.html").read_text(encoding="utf-8")
    assert "<script" not in report and "<link" not in report
    assert set(re.findall(r"https?://[^\"' )]+", report)) == {"http://www.w3.org/2000/svg"}  # a name, not a fetch
    assert f"{len(m['gates'])} / {len(m['gates'])}" in page
    guidance = (part / "data-guidance.md").read_text(encoding="utf-8")
    for extract in m["extracts"]:
        assert f"### {extract['name']}" in guidance
    for i in m["inputs"]:
        assert f"`{i['file']}`" in guidance and i["sha256"] in guidance


def test_sql_answers_from_current_release_while_a_refresh_runs(demo):
    home = demo["home"]
    before = current(home)
    before_hashes = tree_hashes(before)
    expected = belonging("sql", "select count(*) from mart_indicators", "--format", "csv", home=home, check=True)
    # nothing changed since the demo's release: a plain refresh would publish nothing (tests/integration/
    # test_real_slice.py, test_links_in_landing_...); forced, it publishes
    refresh = popen_belonging("refresh", "--force", home=home)
    answers, overlapped, busy = [], 0, None
    deadline = time.time() + 600
    while refresh.poll() is None and time.time() < deadline:
        answer = belonging("sql", "select count(*) from mart_indicators", "--format", "csv", home=home)
        answers.append(answer)
        if refresh.poll() is None:
            overlapped += 1  # this query started and finished while the refresh was still running
            if busy is None and (home / ".refresh.lock").exists():
                busy = belonging("refresh", home=home)
    out, err = refresh.communicate(timeout=600)
    assert refresh.returncode == 0, out[-3000:] + err[-3000:]
    assert overlapped >= 2
    assert all(a.returncode == 0 for a in answers), [a.stderr for a in answers if a.returncode]
    assert {a.stdout for a in answers} == {expected.stdout}
    assert busy is not None and busy.returncode == 3
    assert "another refresh is running" in busy.stderr
    # the new release is current; the old one is untouched
    after = current(home)
    assert after != before
    assert tree_hashes(before) == before_hashes
    # reproducible: same landing files and code, byte-identical extracts
    for name in ("admin_indicators_school.csv", "pupil_belonging_mat.csv", "staff_belonging_national.meta.csv"):
        assert (public(before) / "extracts" / name).read_bytes() == (public(after) / "extracts" / name).read_bytes()


def test_releases_list_and_roll_back(demo):
    home = demo["home"]
    listing = belonging("releases", home=home, check=True).stdout
    lines = [line for line in listing.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[-1].startswith("*")  # the newest is current
    first = demo["first"].name
    assert belonging("publish", "--release", first, home=home, check=True).returncode == 0
    assert current(home).name == first
    refused = belonging("publish", "--release", "no-such-release", home=home)
    assert refused.returncode == 2 and "no-such-release" in refused.stderr  # 2: no such release (usage)
    assert current(home).name == first


def test_status_reports_release_refresh_and_quarantine(demo):
    home = demo["home"]
    out = belonging("status", home=home, check=True).stdout
    assert f"current release: {demo['first'].name}" in out
    assert "last refresh: published" in out
    # each extract's rows as counted in its file; every gate; every landing data file
    lines = out.splitlines()
    for path in sorted((public(demo["first"]) / "extracts").glob("*.csv")):
        if not path.name.endswith(".meta.csv"):
            rows = path.read_bytes().count(b"\n") - 1
            assert f"  {path.stem}: {rows} rows" in lines, path.name
    gates = len(manifest(demo["first"])["gates"])
    assert f"  gates: {gates}/{gates} passed" in lines
    # every demo year but the newest has its own GIAS snapshot (September); the newest year's trusts come from the
    # trust column of its long census (its GIAS is "today's", September 2025): no year's trust membership is unknown
    assert ("  trust membership by year: 2018/19 GIAS snapshot 2018-09-10; 2022/23 GIAS snapshot 2022-09-05; "
            "2023/24 GIAS snapshot 2023-09-04; 2024/25 the school census's trust column (300 schools)") in lines
    assert "trust membership unknown" not in out
    data_files = [p for p in (home / "landing").rglob("*") if p.is_file() and not p.name.endswith(".meta.csv")]
    assert f"lake: {len(data_files)} files loaded" in out
    # Qualtrics previews (Status 1) and spam (Status 8), as counted in the landing files themselves
    statuses = Counter()
    for path in (home / "landing" / "surveys").rglob("*.csv"):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        if rows and "Status" in rows[0]:
            i = rows[0].index("Status")
            statuses.update(r[i] for r in rows[1:] if r[i] in ("1", "8"))
    assert statuses["1"] > 0 and statuses["8"] > 0
    excluded = next(line for line in out.splitlines() if line.startswith("survey responses excluded"))
    assert f"preview={statuses['1']}" in excluded and f"spam={statuses['8']}" in excluded
    assert re.search(r"duplicate=[1-9]", excluded) and re.search(r"incomplete=[1-9]", excluded)
    # the demo's survey response from a URN GIAS does not know, quarantined with its reason
    assert f"URN {NOT_IN_GIAS_URN} is not in GIAS [school_not_in_gias]" in out
    assert "quarantined inputs: 0 whole files," in out


def test_validate_names_what_would_load_and_what_would_not(demo, tmp_path):
    home = demo["home"]
    dfe_file = next(p for p in (home / "landing" / "dfe").rglob("*.csv") if not p.name.endswith(".meta.csv"))
    ok = belonging("validate", str(dfe_file), home=home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "recognised: dfe /" in ok.stdout and "rows_by_level" in ok.stdout
    # the numbers are the file's: its data rows, all of them to load, and its rows by geographic level
    with open(dfe_file, encoding="utf-8-sig", newline="") as fh:
        levels = Counter(r["geographic_level"] for r in csv.DictReader(fh))
    publication = re.search(r"recognised: dfe / (\w+) /", ok.stdout).group(1)
    n = sum(levels.values())
    assert f"rows read: {n}; would load: dfe_{publication}={n}" in ok.stdout
    by_level = json.loads(re.search(r"^rows_by_level: (.*)$", ok.stdout, re.M).group(1))
    assert by_level == dict(levels)
    assert "rows that would be quarantined: 0" in ok.stdout
    bad = tmp_path / "suspensions.csv"
    bad.write_text("time_period,time_identifier,geographic_level,country_code,country_name,mystery_col\n"
                   "202324,Academic year,National,E92000001,England,1\n", encoding="utf-8")
    rejected = belonging("validate", str(bad), home=home)
    assert rejected.returncode == 1
    assert "REJECTED" in rejected.stdout and "mystery_col" in rejected.stdout
    assert not os.path.exists(home / "landing" / "quarantine" / "suspensions.csv")  # validate writes nothing


def _additive(path, column: str) -> dict[tuple, float | None]:
    """(time_period, time_identifier, geography code, breakdown, breakdown_value) -> the column's number, or None
    where it is `c`."""
    code = {"school": "school_urn", "mat": "trust_id", "la": "new_la_code", "regional": "region_code",
            "national": "country_code"}[path.stem.rsplit("_", 1)[1]]
    out = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r[column] in ("x", "z"):
                continue
            key = (r["time_period"], r["time_identifier"], r[code], r["breakdown"], r["breakdown_value"])
            out[key] = None if r[column] == "c" else float(r[column])
    return out


def _close(guess: float, true: float | None) -> bool:
    """The attacker's guess is the true value (within the rounding of published figures: a count exactly)."""
    return true is not None and abs(guess - true) < 0.5


def _attack(pub: dict, truth: dict, children: dict) -> list[tuple]:
    """Subtract shown parts from shown totals; return every suppressed cell whose true value comes out."""
    recovered = []
    # across breakdowns: Total minus every shown subgroup of one breakdown
    for level, cells in pub.items():
        groups: dict[tuple, list] = {}
        for (tp, ti, code, b, bv), n in cells.items():
            if b != "Total":
                groups.setdefault((tp, ti, code, b), []).append((bv, n))
        for (tp, ti, code, b), members in groups.items():
            total = cells.get((tp, ti, code, "Total", "Total"))
            hidden = [bv for bv, n in members if n is None]
            if total is not None and len(hidden) == 1:
                guess = total - sum(n for _, n in members if n is not None)
                if _close(guess, truth.get((tp, ti, code, b, hidden[0]))):
                    recovered.append((level, tp, code, b, hidden[0], guess))
    # across levels: a parent total minus its shown children
    for (parent_level, tp, parent), kids in children.items():
        for (ptp, ti, code, b, _bv), total in pub[parent_level].items():
            if (ptp, code, b) != (tp, parent, "Total") or total is None:
                continue
            shown, hidden = 0, []
            for child_level, child in kids:
                n = pub[child_level].get((tp, ti, child, "Total", "Total"), "absent")
                if n is None:
                    hidden.append(child)
                elif n != "absent":
                    shown += n
            if len(hidden) == 1 and _close(total - shown, truth.get((tp, ti, hidden[0], "Total", "Total"))):
                recovered.append((parent_level, tp, parent, "child", hidden[0], total - shown))
    return recovered


@pytest.mark.parametrize("instrument", ["pupil_belonging", "staff_belonging"])
def test_attacker_cannot_recover_a_suppressed_cell_by_subtraction(demo, instrument):
    """From the published files alone, subtract the shown parts from a shown total, across breakdowns and
    across levels (school -> trust and LA, LA -> region, region -> England; a school in no region or no LA
    counts directly in its England or region), for respondents and for the numerator and denominator of every
    figure, and compare what comes out with the true, unpublished value in the warehouse: no suppressed cell
    may be recovered exactly."""
    from indicators import catalogue

    home = demo["home"]
    extracts = public(current(home)) / "extracts"
    levels = ("school", "mat", "la", "regional", "national")
    respondents = "respondents" if instrument == "pupil_belonging" else "staff_respondents"
    with open(extracts / f"{instrument}_national.csv", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    columns = {respondents: (respondents, "numerator")} | {
        c: (c.rsplit("_", 1)[0], c.rsplit("_", 1)[1]) for c in header if c.endswith(("_numerator", "_denominator"))}
    published_names = {e.published.name: e.id for e in catalogue().expanded()}
    spine = release_query(home, "select time_period, urn, trust_id, new_la_code, region_code "
                                "from int_school_years_spined")
    children: dict[tuple, set] = {}
    for tp, urn, trust, la, region in spine:
        for parent_level, parent in (("mat", trust), ("la", la)):
            if parent:
                children.setdefault((parent_level, str(tp), parent), set()).add(("school", urn))
        if region is None:  # in England, in no region: England minus the regions adds it up
            children.setdefault(("national", str(tp), "E92000001"), set()).add(("school", urn))
            continue
        children.setdefault(("regional", str(tp), region), set()).add(("la", la) if la else ("school", urn))
        children.setdefault(("national", str(tp), "E92000001"), set()).add(("regional", region))
    attacked = suppressed = 0
    for column, (figure, part) in columns.items():
        pub = {lvl: _additive(extracts / f"{instrument}_{lvl}.csv", column) for lvl in levels}
        truth = {(str(tp), ti, code, b, bv): v for tp, ti, code, b, bv, v in release_query(home, f"""
            select time_period, time_identifier, geography_code, breakdown, breakdown_value, {part}
            from mart_indicators where indicator = ?""", [published_names[figure]])}
        suppressed += sum(v is None for level in pub.values() for v in level.values())
        assert _attack(pub, truth, children) == [], column
        attacked += 1
    assert attacked > 10 and suppressed > 500, "the demo has small cells, so the attack has targets"

    # the same attack does work against primary suppression alone (the true counts, small ones hidden)
    pub = {lvl: _additive(extracts / f"{instrument}_{lvl}.csv", respondents) for lvl in levels}
    truth = {(str(tp), ti, code, b, bv): n for tp, ti, code, b, bv, n in release_query(home, """
        select time_period, time_identifier, geography_code, breakdown, breakdown_value, respondents
        from mart_indicators where indicator = ?""", [respondents])}
    naive = {lvl: {k: (None if truth.get(k) is not None and truth[k] < 10 else truth.get(k)) for k in cells}
             for lvl, cells in pub.items()}
    assert len(_attack(naive, truth, children)) > 10


def test_a_file_that_breaks_a_raw_gate_publishes_nothing(demo):
    """Last in this module: it leaves the demo home with a file that fails its raw gate. A one-school
    "correction" of the exclusions under another name loads (its rows are well formed), then the raw gate stops
    the refresh (two files hold that school and year, and the later one is no re-issue): current stays where it
    was, byte for byte, and the output names table, rule and file. (A school row twice in one file no longer
    reaches the gate: the reader quarantines it, tests/unit/test_bad_inputs.py.)"""
    home = demo["home"]
    before = current(home)
    hashes = tree_hashes(before)
    source = next(p for p in sorted((home / "landing" / "dfe").rglob("*.csv"))
                  if not p.name.endswith(".meta.csv") and b"school_urn" in p.read_bytes()[:2000]
                  and b"suspension" in p.read_bytes()[:2000])
    lines = source.read_bytes().splitlines(keepends=True)
    school = next(line for line in lines if b",School," in line)
    (home / "landing" / "dfe" / "revised.csv").write_bytes(lines[0] + school)
    proc = belonging("refresh", home=home)
    assert proc.returncode == 1
    assert "lake/dfe_exclusions / raw_gate" in proc.stdout
    assert "no_overlapping_files" in proc.stdout and "revised.csv" in proc.stdout
    assert current(home) == before and tree_hashes(before) == hashes


def test_retiring_the_file_that_broke_the_gate_publishes_again(demo):
    """After the test above: the file that fails its raw gate is retired; the next refresh, a plain
    `belonging refresh` of the demo home without any key (the home records that it is a demo), passes without
    it (and, its inputs being the current release's, says nothing changed); undo brings its rows back, and the raw gate fails on them again."""
    from expectations.raw import raw_gate
    from ingestion.lake import Lake
    from tests.conftest import GATES

    home = demo["home"]
    before = current(home)
    retired = belonging("retire", "dfe/revised.csv", "--reason", "a one-school correction", home=home)
    assert retired.returncode == 0, retired.stderr
    proc = belonging("refresh", home=home, key=None)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # without the retired file the lake is the current release's again: the refresh passes every gate and, with
    # nothing changed since that release, publishes nothing new (it is no longer blocked)
    assert f"nothing changed since release {before.name}" in proc.stdout and current(home) == before
    assert "retired: 1 files" in proc.stdout and "retired landing/dfe/revised.csv: retired on" in proc.stdout
    assert "revised.csv" not in {i["file"].rsplit("/", 1)[-1] for i in manifest(current(home))["inputs"]}
    status = belonging("status", home=home)
    assert "dfe/revised.csv: retired" in status.stdout and "a one-school correction" in status.stdout

    undone = belonging("retire", "--undo", "dfe/revised.csv", home=home)
    assert undone.returncode == 0, undone.stderr
    gate = raw_gate("dfe_exclusions", Lake(home / "lake").read("dfe_exclusions"),
                    row_count_tolerance=GATES["row_count_tolerance"])
    assert not gate.passed and "no_overlapping_files" in str(gate.failures)


def test_an_empty_landing_folder_publishes_nothing(tmp_path):
    """Once, a refresh of a home with nothing in landing/ published an empty release as `current` with every
    gate passed. Now the mart gate says the mart is empty and no release is made."""
    home = tmp_path / "empty"
    proc = belonging("refresh", home=home)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "mart_indicators / mart_gate" in proc.stdout and "mart_not_empty" in proc.stdout
    assert not (home / "releases" / "current").exists()
    assert [p for p in (home / "releases").iterdir()] == []
