"""An attacker's test: unique markers planted in every personal-data field of every export format must not
appear anywhere under the home after a refresh (lake, warehouse, runs, releases, Dagster's own storage)."""

from __future__ import annotations

import shutil

import openpyxl
import polars as pl
import pytest

from ingestion.lake import Lake
from tests.conftest import FIXTURES
from tests.pipeline_helpers import belonging, scan_for_markers, write_gias

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]

MARK = "PIIMARK"
SECRET = "a-secret-key-for-this-test"  # the pseudonym key: hashes identifiers, is never written down
URNS = {"100001": ("Primary", "E08000021", "391", "Newcastle upon Tyne", "North East"),
        "100002": ("Secondary", "E08000021", "391", "Newcastle upon Tyne", "North East"),
        "100003": ("Secondary", "E08000035", "383", "Leeds", "Yorkshire and the Humber"),
        "100010": ("Primary", "E08000035", "383", "Leeds", "Yorkshire and the Humber"),
        "100011": ("Primary", "E08000035", "383", "Leeds", "Yorkshire and the Humber")}
STATEMENTS = ["I feel like an outsider (or left out of things) at school.", "I make friends easily at school.",
              "I feel like I belong at school.", "I feel awkward and out of place in my school.",
              "Other students seem to like me.", "I feel lonely at school."]


def msforms_export(path):
    """A Microsoft Forms workbook, the school in its file name, with markers in Email, Name and free text."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "Start time", "Completion time", "Email", "Name", "Last modified time", *STATEMENTS,
               "What year are you in?", "Anything else you want to tell us?"])
    for i in range(1, 4):
        ws.append([i, f"4/1{i}/2026 09:0{i}", f"4/1{i}/2026 09:1{i}", f"{MARK}-MS-EMAIL-{i}@school.example",
                   f"{MARK}-MS-NAME-{i}", "", "Disagree", "Agree", "Agree", "Disagree", "Agree", "Disagree",
                   "Year 8", f"{MARK}-MS-FREETEXT-{i}"])
    wb.save(path)


@pytest.fixture(scope="module")
def home(tmp_path_factory, reference):
    home = tmp_path_factory.mktemp("pii") / "home"
    surveys = home / "landing" / "surveys"
    surveys.mkdir(parents=True)
    (home / "landing" / "gias").mkdir(parents=True)
    write_gias(reference, home / "landing" / "gias" / "edubasealldata20250901.csv", [
        {"URN": urn, "LA (code)": la, "LA (name)": la_name, "EstablishmentNumber": f"{2000 + i}",
         "EstablishmentName": f"Test School {urn}", "TypeOfEstablishment (name)": "Community school",
         "EstablishmentTypeGroup (name)": "Local authority maintained schools",
         "PhaseOfEducation (name)": phase, "GOR (name)": region, "GSSLACode (name)": gss,
         "HeadLastName": f"{MARK}-GIAS-HEAD"}
        for i, (urn, (phase, gss, la, la_name, region)) in enumerate(URNS.items())])
    for fixture in sorted((FIXTURES / "surveys").iterdir()):
        shutil.copy(fixture, surveys / fixture.name)
    msforms_export(surveys / "pupil_belonging_100001.xlsx")
    proc = belonging("refresh", home=home, key=SECRET)
    return home, proc


def test_markers_were_planted_in_every_format(home):
    h, _ = home
    planted = {p.name for p in (h / "landing").rglob("*") if p.is_file()
               and (MARK.encode() in p.read_bytes() or p.suffix == ".xlsx")}
    assert len([p for p in planted if p.endswith((".csv", ".xlsx"))]) >= 6  # five tools + GIAS


def test_surveys_were_read_so_the_scan_means_something(home):
    h, proc = home
    lake = Lake(h / "lake")
    loads = lake.read("file_loads").filter(pl.col("source_kind") == "survey")
    tools = set(loads["publication"])
    assert {"qualtrics", "qualtrics_legacy", "surveymonkey", "msforms", "googleforms", "redcap"} <= tools, (
        proc.stdout[-3000:])
    assert lake.read("survey_responses").height >= 10
    assert lake.read("survey_answers").height >= 60


def test_no_marker_anywhere_under_the_home(home):
    h, _ = home
    assert scan_for_markers(h, MARK) == []


def test_respondent_identifiers_are_keyed_hashes(home):
    h, _ = home
    responses = Lake(h / "lake").read("survey_responses")
    assert responses["response_key"].str.len_chars().min() == 64
    assert not responses["response_key"].str.contains("R_").any()
    assert responses["response_date"].dtype == pl.Date  # timestamps coarsened to the day


def test_the_hashing_key_is_in_no_log_manifest_dagster_storage_or_error(home):
    """The key hashes respondent identifiers; anyone holding it can test guesses of an identifier against the
    published hashes. It must not be written anywhere under the home (run logs, refresh.log with dbt's output,
    manifests, Dagster's event storage, the lake, the warehouse), nor said in any command's output, errors
    included: its text, its bytes in hex, and its UTF-8 as a Python bytes literal."""
    h, proc = home
    forms = [SECRET, SECRET.encode().hex(), repr(SECRET.encode())[2:-1]]
    where = [hit for form in forms for hit in scan_for_markers(h, form)]
    assert where == []
    assert (h / "dagster").is_dir() and any((h / "dagster").rglob("*.db"))  # Dagster's storage was scanned
    assert any((h / "runs").rglob("refresh.log"))
    # errors: validate of an unreadable export beside the others (the line a refresh would give), and status
    broken = h / "broken.csv"
    broken.write_bytes(b"StartDate,EndDate\n\x00\x01")
    runs = [proc, belonging("validate", str(broken), home=h, key=SECRET),
            belonging("validate", str(h / "landing" / "surveys"), home=h, key=SECRET),
            belonging("status", home=h, key=SECRET)]
    assert "not recognised: binary content" in runs[1].stdout
    for p in runs:
        assert not any(form in p.stdout + p.stderr for form in forms), p.args
    assert [hit for form in forms for hit in scan_for_markers(h, form)] == []
