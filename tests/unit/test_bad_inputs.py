"""The catalogue of bad inputs (tests/fixtures/bad_inputs/): every one dropped into one landing folder, the lake
refreshed once. Nothing is lost: every landing entry ends loaded, quarantined (whole, or rows under a named rule),
skipped as already loaded, ignored or refused, each with a reason; `belonging validate` says the same of each
file; the other files still load."""

from __future__ import annotations

import polars as pl
import pytest

from ingestion.gias import read_gias
from ingestion.lake import Lake, SourceFile
from ingestion.lake_schema import empty_frame
from ingestion.load import load_dfe, load_gias, load_surveys
from ingestion.surveys.schools import SchoolRegister
from ingestion.validate import validate_path
from tests.conftest import SETTINGS
from tests.fixtures.bad_inputs.catalogue import CASES, GOOD, write_all

KEY = b"bad-inputs-test-key"
LIMITS = SETTINGS["limits"]
BY_ID = {c.id: c for c in CASES}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    home = tmp_path_factory.mktemp("bad_inputs")
    landing = home / "landing"
    paths = write_all(landing)
    # what validate says, before anything is loaded (the same files, read where they sit)
    register = read_gias(SourceFile.of(landing / next(iter(GOOD)), landing)).tables["gias_establishments"]
    schools = SchoolRegister.from_frames(register, empty_frame("gias_links"))
    validated = {cid: validate_path(p, limits=LIMITS, settings=SETTINGS["surveys"], schools=schools,
                                    pseudonym_key=KEY)[0] for cid, p in paths.items()}
    lake = Lake(home / "lake")
    reports = [load_gias(landing, lake, LIMITS), load_dfe(landing, lake, None, LIMITS),
               load_surveys(landing, lake, pseudonym_key=KEY, settings=SETTINGS["surveys"], limits=LIMITS)]
    outcomes = {o.file: o for r in reports for o in r.files}
    quarantine = lake.read("quarantine")
    return outcomes, quarantine, validated, lake


def test_the_catalogue_holds_at_least_sixty_bad_inputs():
    assert len(CASES) >= 60
    assert len(BY_ID) == len(CASES)  # ids unique


def test_no_input_is_lost(loaded):
    """Every file written into landing/ has exactly one outcome, and it is one that says what became of it."""
    outcomes, _, _, _ = loaded
    written = {c.entry or c.relative for c in CASES} | set(GOOD)
    assert set(outcomes) == written
    for file, outcome in outcomes.items():
        assert outcome.status in {"loaded", "quarantined_file", "ignored", "refused", "skipped"}, file
        if outcome.status != "loaded":
            assert outcome.message, f"{file}: {outcome.status} without a reason"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_input_gets_its_answer(loaded, case):
    outcomes, quarantine, _, _ = loaded
    outcome = outcomes[case.entry or case.relative]
    kind, detail = case.expect
    rules = set(quarantine.filter(pl.col("_source_file") == case.relative).get_column("rule").to_list())
    if kind == "loaded":
        assert outcome.status == "loaded", (outcome.status, outcome.message)
        if detail is None:
            assert outcome.rows_quarantined == 0, rules
        else:
            assert detail in rules, rules
    elif kind == "excluded":
        assert outcome.status == "loaded", (outcome.status, outcome.message)
        assert any(detail in reason for reason in outcome.exclusions), outcome
    else:
        assert outcome.status == kind, (outcome.status, outcome.message)
        assert detail in outcome.message, outcome.message
        assert "\n" not in outcome.message and "Traceback" not in outcome.message
    if kind == "quarantined_file":
        # one row in the lake's quarantine table for the whole file, with the same reason
        row = quarantine.filter(pl.col("_source_file") == case.relative)
        assert row.height == 1 and row["row_number"][0] is None and row["reason"][0] == outcome.message


@pytest.mark.parametrize("case", [c for c in CASES if c.expect[0] in ("loaded", "quarantined_file")],
                         ids=lambda c: c.id)
def test_validate_says_what_refresh_did(loaded, case):
    outcomes, quarantine, validated, _ = loaded
    report, outcome = validated[case.id], outcomes[case.relative]
    if outcome.status == "quarantined_file":
        assert report.error == outcome.message
    else:
        assert report.error is None, report.error
        rules = set(quarantine.filter(pl.col("_source_file") == case.relative).get_column("rule").to_list())
        assert set(report.result.quarantine.get_column("rule").to_list()) == rules


def test_one_bad_byte_spoils_one_line_not_the_file(loaded):
    _, _, _, lake = loaded
    names = set(lake.read("dfe_exclusions").filter(
        pl.col("_source_file") == BY_ID["utf8_one_cp1252_line"].relative).get_column("school_name").to_list())
    assert "St Joseph’s RC – Primary" in names  # the UTF-8 line: no mojibake (â€™)
    assert "Brunel’s Hospital School" in names  # the Windows-1252 line: ’ read as cp1252
    assert not any(n and ("â€" in n or any("\x80" <= ch <= "\x9f" for ch in n)) for n in names if n)


def test_a_truncated_download_loads_none_of_its_cut_row(loaded):
    outcomes, quarantine, _, lake = loaded
    rows = lake.read("dfe_exclusions").filter(pl.col("_source_file") == BY_ID["truncated_download"].relative)
    assert rows.filter((pl.col("geographic_level") == "School") & pl.col("school_urn").is_null()).is_empty()
    reason = quarantine.filter(pl.col("_source_file") == BY_ID["truncated_download"].relative)["reason"][0]
    assert reason.startswith("truncated.csv row 6: the file ends mid-row")


def test_the_other_files_still_load(loaded):
    outcomes, _, _, lake = loaded
    assert outcomes["gias/edubasealldata20240115.csv"].status == "loaded"
    assert lake.read("survey_responses").filter(pl.col("_source_file") == "surveys/forms_staff.xlsx").height == 2
