"""`belonging validate` and the loader agree on every kind of landing entry, because they share one
classification (ingestion.landing.classify / walk): what one loads the other says would load, what one
quarantines the other says would be quarantined, and what one ignores both name with the same reason."""

from __future__ import annotations

import shutil

from ingestion.lake import Lake
from ingestion.load import load_dfe
from ingestion.validate import validate_path
from tests.conftest import FIXTURES


def validate_status(report) -> str:
    if report.refused:
        return "refused"
    if report.ignored:
        return "companion" if report.companion else "ignored"
    return "quarantined_file" if report.error else "loaded"


def test_validate_and_refresh_treat_every_entry_alike(tmp_path):
    landing = tmp_path / "landing"
    dfe = landing / "dfe"
    (dfe / "wave.csv").mkdir(parents=True)  # a folder with a data file's name
    shutil.copy(FIXTURES / "dfe" / "sen_2023.csv", dfe / "sen.csv")
    (dfe / "sen.meta.csv").write_text("col_name,col_type,label\n")  # its metadata: read with it
    (dfe / "orphan.meta.csv").write_text("col_name,col_type,label\n")  # metadata of no file here
    shutil.copy(FIXTURES / "dfe" / "absence_ees2024.csv", dfe / "exc_school_2024.txt")  # data, named .txt
    shutil.copy(FIXTURES / "dfe" / "census_spc_2023.csv", dfe / "wave.csv" / "census.csv")
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", dfe / "mystery.csv")
    (dfe / "README.md").write_text("# what these files are\n")
    (dfe / "notes.json").write_text("{}\n")
    (dfe / ".half_downloaded.csv").write_text("time_period\n")
    (dfe / ".git").mkdir()

    reports = {r.file.relative_to(landing).as_posix(): r for r in validate_path(dfe)}
    said = {name: validate_status(r) for name, r in reports.items()}
    loaded = {f.file: f.status for f in load_dfe(landing, Lake(tmp_path / "lake")).files}

    assert said == {
        "dfe/.git": "ignored",
        "dfe/.half_downloaded.csv": "ignored",
        "dfe/README.md": "ignored",
        "dfe/exc_school_2024.txt": "loaded",
        "dfe/mystery.csv": "quarantined_file",
        "dfe/notes.json": "ignored",
        "dfe/orphan.meta.csv": "ignored",
        "dfe/sen.csv": "loaded",
        "dfe/sen.meta.csv": "companion",
        "dfe/wave.csv/census.csv": "loaded",
    }
    # refresh says the same of each entry (a companion is read with its data file: not listed on its own)
    assert loaded == {name: status for name, status in said.items() if status != "companion"}
    # and gives the same reasons for what it does not read
    for name, status in loaded.items():
        if status == "ignored":
            outcome = next(f for f in load_dfe(landing, Lake(tmp_path / "lake")).files if f.file == name)
            assert outcome.message == reports[name].ignored
    assert "the metadata of sen.csv: read with it" in reports["dfe/sen.meta.csv"].text()
    assert "would be moved to landing/quarantine" not in reports["dfe/sen.meta.csv"].text()
    assert reports["dfe/sen.meta.csv"].ok
    assert "in landing/ refresh would list it as ignored" in reports["dfe/README.md"].text()


def test_a_missing_file_is_no_such_file_not_quarantine(tmp_path):
    (report,) = validate_path(tmp_path / "nope.csv")
    assert report.missing and not report.ok
    assert report.text().splitlines() == [f"file: {tmp_path / 'nope.csv'}", "no such file"]


def test_validate_says_when_the_lake_already_holds_the_file(tmp_path):
    landing = tmp_path / "landing"
    (landing / "dfe").mkdir(parents=True)
    shutil.copy(FIXTURES / "dfe" / "sen_2023.csv", landing / "dfe" / "sen.csv")
    lake = Lake(tmp_path / "lake")
    (report,) = validate_path(landing / "dfe" / "sen.csv", lake=lake)
    assert not any("in the lake" in n for n in report.notes)
    load_dfe(landing, lake)
    (report,) = validate_path(landing / "dfe" / "sen.csv", lake=lake)
    assert any("loaded on" in n and "as dfe/sen.csv: refresh would skip them as unchanged" in n
               for n in report.notes)
