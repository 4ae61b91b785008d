"""The spine on real bytes: the real 2016/17 exclusions file (no URN: resolved from GIAS by LA code and
establishment number) and the real GIAS sample plus generated rows, through dbt and the gates to a release."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import shutil

import duckdb
import polars as pl
import pytest

from tests.pipeline_helpers import (
    belonging,
    current,
    manifest,
    public,
    release_query,
    scan_for_markers,
    tree_hashes,
    write_gias,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]

EXCLUSIONS = "ees2019_exclusions_by_geographic_level_201617_subset.csv"
PHASES = {"State-funded primary": "Primary", "State-funded secondary": "Secondary", "Special": "Not applicable"}
TYPE_GROUPS = {"Special": ("Community special school", "Special schools")}


# names a careless or hostile GIAS file can carry: spreadsheet formulas (the first schools, the first trust)
FORMULA_NAMES = ['=HYPERLINK("http://x","y")', "@SUM(1)"]
FORMULA_TRUST = "+cmd|' /C calc'!A0"


def gias_rows(schools: dict[str, dict]) -> tuple[list[dict], dict[str, str]]:
    """One generated GIAS row per school (LAESTAB) of the real exclusions file; academies in a trust."""
    rows, urns = [], {}
    first_trust = None
    for i, s in enumerate(sorted(schools.values(), key=lambda s: s["laestab"])):
        academy = "academy" in s["academy_type"].lower() or "free school" in s["academy_type"].lower()
        type_name, group = TYPE_GROUPS.get(s["school_type"], (
            "Academy converter" if academy else "Community school",
            "Academies" if academy else "Local authority maintained schools"))
        urns[s["laestab"]] = str(600000 + i)
        rows.append({
            "URN": urns[s["laestab"]], "LA (code)": s["old_la_code"], "LA (name)": s["la_name"],
            "EstablishmentNumber": s["estab"], "EstablishmentName": f"School {s['laestab']}",
            "TypeOfEstablishment (name)": type_name, "EstablishmentTypeGroup (name)": group,
            "PhaseOfEducation (name)": PHASES[s["school_type"]],
            "GOR (name)": "London" if "London" in s["region_name"] else s["region_name"],
            "GSSLACode (name)": s["new_la_code"],
            "Trusts (code)": f"5{s['old_la_code']}" if academy else "",
            "Trusts (name)": f"{s['la_name']} Academies Trust" if academy else "",
            "HeadFirstName": "Ada", "HeadLastName": "Planted-Head-Name",
        })
        if i < len(FORMULA_NAMES):
            rows[-1]["EstablishmentName"] = FORMULA_NAMES[i]
        if academy and first_trust in (None, rows[-1]["Trusts (code)"]):
            first_trust = rows[-1]["Trusts (code)"]
            rows[-1]["Trusts (name)"] = FORMULA_TRUST
    return rows, urns


@pytest.fixture(scope="module")
def real_home(tmp_path_factory, reference):
    home = tmp_path_factory.mktemp("real") / "home"
    (home / "landing" / "dfe").mkdir(parents=True)
    (home / "landing" / "gias").mkdir(parents=True)
    shutil.copy(reference / "dfe" / EXCLUSIONS, home / "landing" / "dfe" / EXCLUSIONS)
    shutil.copy(reference / "dfe" / EXCLUSIONS.replace(".csv", ".meta.csv"), home / "landing" / "dfe")
    with open(reference / "dfe" / EXCLUSIONS, encoding="utf-8-sig", newline="") as fh:
        school_rows = [r for r in csv.DictReader(fh) if r["geographic_level"] == "School"]
    schools = {r["laestab"]: r for r in school_rows}
    rows, urns = gias_rows(schools)
    # the 2016/17 snapshot (census week, January 2017): a year's trusts come only from a snapshot taken during it
    write_gias(reference, home / "landing" / "gias" / "edubasealldata20170119.csv", rows)
    # The reference file holds the first 12,880 of 235,050 school rows: its LA, regional and national totals
    # cannot reconcile with the sums of the rows it has, so this home allows any difference.
    (home / "settings.yaml").write_text("gates:\n  reconciliation_tolerance: 1000000000\n", encoding="utf-8")
    proc = belonging("refresh", home=home, key=None)
    return {"home": home, "proc": proc, "urns": urns, "rows": school_rows, "reference": reference}


def test_real_exclusions_file_is_published(real_home):
    proc = real_home["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "published release" in proc.stdout
    release = current(real_home["home"])
    m = manifest(release)
    inputs = {i["file"]: i for i in m["inputs"]}
    assert inputs[f"dfe/{EXCLUSIONS}"]["rows"] == 20000
    assert all(g["passed"] for g in m["gates"])


@pytest.mark.parametrize("laestab,year,suspension_rate,one_plus,perm_status", [
    ("2084002", 201617, 3 / 140 * 100, 3 / 140 * 100, "suppressed"),  # Lambeth 16-19 free school: perm `x`
    ("9354604", 201617, 0.0, 0.0, "value"),  # Suffolk 16-19 converter academy: all zeros are real zeros
])
def test_named_school_values_resolved_through_gias(real_home, laestab, year, suspension_rate, one_plus,
                                                   perm_status):
    urn = real_home["urns"][laestab]
    rows = dict((r[0], r[1:]) for r in release_query(real_home["home"], """
        select indicator, value, value_status, school_laestab from mart_indicators
        where geographic_level = 'School' and geography_code = ? and time_period = ?
          and breakdown = 'Total'""", [urn, year]))
    assert rows["suspension_rate"][0] == pytest.approx(suspension_rate)
    assert rows["one_plus_suspension_percent"][0] == pytest.approx(one_plus)
    assert rows["permanent_exclusion_rate"][1] == perm_status
    if perm_status == "suppressed":
        assert rows["permanent_exclusion_rate"][0] is None  # `x` is never 0
    assert rows["suspension_rate"][2] == laestab


def test_la_rate_is_ratio_of_sums_of_its_schools(real_home):
    """Lambeth 2016/17: summed suspensions over summed headcount of the schools with both published."""
    rows = [r for r in real_home["rows"] if r["new_la_code"] == "E09000022" and r["time_period"] == "201617"
            and r["fixed_excl"].isdigit() and r["headcount"].isdigit()]
    assert len(rows) >= 2
    expected = sum(int(r["fixed_excl"]) for r in rows) / sum(int(r["headcount"]) for r in rows) * 100
    (value, included), = release_query(real_home["home"], """
        select value, schools_included from mart_indicators where geographic_level = 'Local authority'
          and geography_code = 'E09000022' and time_period = 201617 and indicator = 'suspension_rate'
          and breakdown = 'Total'""")
    assert value == pytest.approx(expected)
    assert included == len(rows)


def test_formula_names_from_gias_are_neutralised_in_published_csvs(real_home):
    release = current(real_home["home"])
    school = (public(release) / "extracts" / "admin_indicators_school.csv").read_text(encoding="utf-8")
    for name in FORMULA_NAMES:
        assert "'" + name.replace('"', '""') in school
    rows = list(csv.DictReader(io.StringIO(school)))
    assert not [r for r in rows if r["school_name"][:1] in "=+-@\t\r"]
    mat = list(csv.DictReader(io.StringIO((public(release) / "extracts" / "admin_indicators_mat.csv").read_text("utf-8"))))
    assert "'" + FORMULA_TRUST in {r["trust_name"] for r in mat}
    # the Parquet keeps the true names; the manifest says which cells were neutralised and why
    true_names = set(pl.read_parquet(public(release) / "extracts" / "admin_indicators_school.parquet")["school_name"])
    assert set(FORMULA_NAMES) <= true_names
    entries = {e["name"]: e for e in manifest(release)["extracts"]}
    shown = sum(r["school_name"][:1] == "'" for r in rows)  # one row per school and year
    assert shown >= 2 and entries["admin_indicators_school"]["formula_cells_neutralised"]["columns"] == {
        "school_name": shown}
    shown = sum(r["trust_name"][:1] == "'" for r in mat)
    assert shown >= 1 and entries["admin_indicators_mat"]["formula_cells_neutralised"]["columns"] == {
        "trust_name": shown}


def test_no_machine_path_anywhere_in_the_release(real_home):
    home = real_home["home"]
    release = current(home)
    for path in release.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert str(home).encode() not in data and str(home.parent).encode() not in data, path
    # the staging views over the lake live in their own database (dbt_project/profiles.yml): the warehouse a
    # release copies as it is holds none of them, nor their text
    assert manifest(release, "internal")["warehouse"]["views_left_out"] == {}
    assert all(not v.startswith("stg_") for v in manifest(release, "internal")["warehouse"]["views"])


def test_links_in_landing_never_touch_a_release_or_a_file_outside(real_home, tmp_path):
    """A supplier's links to a release's manifest, to one of its extracts and to a file outside the home:
    the refresh refuses each (one line naming it), and every file it pointed at is unchanged. With nothing else
    new in landing, nothing changed since the current release: the refresh says so, exits 0 and publishes
    nothing (the demo's `refresh --force` in test_pipeline.py publishes anyway)."""
    home = real_home["home"]
    old = current(home)
    before = tree_hashes(old)
    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    links = {
        home / "landing" / "dfe" / "manifest.csv": public(old) / "manifest.json",
        home / "landing" / "dfe" / "extract.csv": public(old) / "extracts" / "admin_indicators_national.csv",
        home / "landing" / "gias" / "passwd.csv": outside,
    }
    for link, target in links.items():
        link.symlink_to(target)
    proc = belonging("refresh", home=home, key=None)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for link in links:
        assert link.is_symlink()
        assert f"refused landing/{link.relative_to(home / 'landing').as_posix()}: a symbolic link" in (
            proc.stdout + proc.stderr)
    assert tree_hashes(old) == before
    assert outside.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert f"nothing changed since release {old.name}" in proc.stdout and "--force" in proc.stdout
    assert "published release" not in proc.stdout
    listing = belonging("releases", home=home, key=None).stdout.splitlines()
    assert len(listing) == 1 and listing[0].startswith(f"* {old.name}")  # no new release
    assert belonging("publish", "--release", old.name, home=home, key=None).returncode == 0
    assert current(home) == old
    status = belonging("status", home=home, key=None).stdout
    assert "refused in landing (never opened, moved or deleted): 3" in status
    assert "last refresh: unchanged" in status and f"nothing changed since release {old.name}" in status
    for link in links:
        link.unlink()


def test_a_refresh_whose_headline_doubles_fails_on_drift_and_keeps_current(real_home):
    """A re-issued exclusions file with every suspension count doubled loads (the latest copy of a row wins),
    so England's suspension rate doubles against the current release: the mart gate's drift check stops the
    refresh (tolerance 25%), names the headline, and nothing published changes. Nothing else moved: drift is
    the only failed check, on that headline alone. (It leaves the doubled file loaded; the next test fails on reconciliation anyway.)"""
    home = real_home["home"]
    before = current(home)
    hashes = tree_hashes(before)
    (previous,), = release_query(home, """
        select value from mart_indicators where geographic_level = 'National' and indicator = 'suspension_rate'
          and time_period = 201617 and breakdown = 'Total'""")
    with open(real_home["reference"] / "dfe" / EXCLUSIONS, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    for r in rows:
        if r["fixed_excl"].isdigit():
            r["fixed_excl"] = str(2 * int(r["fixed_excl"]))
            if re.fullmatch(r"\d+(\.\d+)?", r["fixed_excl_rate"]):
                r["fixed_excl_rate"] = f"{2 * float(r['fixed_excl_rate']):.2f}"
    revised = home / "landing" / "dfe" / EXCLUSIONS.replace(".csv", "_revised.csv")
    with open(revised, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(real_home["reference"] / "dfe" / EXCLUSIONS.replace(".csv", ".meta.csv"),
                revised.with_name(revised.name.replace(".csv", ".meta.csv")))
    proc = belonging("refresh", home=home, key=None)
    assert proc.returncode == 1, f"a doubled headline was published (exit {proc.returncode}): {proc.stdout[-500:]}"
    assert "releases/current unchanged" in proc.stdout and "mart_indicators / mart_gate" in proc.stdout
    outcome = json.loads((home / "runs" / "last_refresh.json").read_text(encoding="utf-8"))
    (check,) = [c for c in outcome["failed_checks"] if c["check"] == "mart_gate"]
    gate = {"failures": check["details"]}
    assert [(c["asset"], c["check"]) for c in outcome["failed_checks"]] == [("mart_indicators", "mart_gate")]
    assert [f["rule"] for f in gate["failures"]] == ["drift_within_tolerance"]
    # England's suspension rate of every year the file holds (school-row and aggregate-only years) doubled,
    # and nothing else moved (the gate shows the first few offending rows and counts them all)
    (years,), = release_query(home, """
        select count(*) from mart_indicators where geographic_level = 'National' and indicator = 'suspension_rate'
          and breakdown = 'Total' and value > 0""")
    failure = gate["failures"][0]
    assert f"({years} rows)" in failure["message"]
    offending = [ast.literal_eval(o) for o in failure["offending"]]
    assert len(offending) == min(years, 5)
    for o in offending:
        assert re.fullmatch(r"national suspension_rate \d{6} Academic year", o["measure"]), o
        assert o["current"] == pytest.approx(2 * o["previous"], rel=1e-6), o
        assert o["relative_change"] == pytest.approx(1.0, rel=1e-6), o
    # the refresh built the doubled figure; it was never published
    con = duckdb.connect(str(home / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        (built,), = con.execute("""
            select value from mart_indicators where geographic_level = 'National' and indicator = 'suspension_rate'
              and time_period = 201617 and breakdown = 'Total'""").fetchall()
    finally:
        con.close()
    assert built == pytest.approx(2 * previous, rel=1e-6)
    assert current(home) == before and tree_hashes(before) == hashes


def test_failing_gate_keeps_current_and_names_the_check(real_home):
    """With the default tolerance the subset file's own totals do not reconcile: the gate says so and
    nothing published changes."""
    home = real_home["home"]
    before = current(home)
    hashes = tree_hashes(before)
    (home / "settings.yaml").unlink()
    proc = belonging("refresh", home=home, key=None)
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "releases/current unchanged" in proc.stdout
    assert "mart_gate" in proc.stdout and "reconcil" in proc.stdout
    assert current(home) == before
    assert tree_hashes(before) == hashes
    status = belonging("status", home=home, key=None)
    assert "last refresh: failed" in status.stdout and "mart_gate" in status.stdout


def test_personal_data_of_gias_never_reaches_the_home(real_home):
    home = real_home["home"]
    assert scan_for_markers(home, "Planted-Head-Name") == []
    # the scanner finds what is there: the landing file itself holds the name
    assert scan_for_markers(home, "Planted-Head-Name", skip=()) != []
