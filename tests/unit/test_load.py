"""Landing -> lake: idempotent loads, whole-file quarantine with a reason, provenance."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from ingestion.files import sha256_file
from ingestion.lake import Lake
from ingestion.load import load_dfe, load_gias
from tests.conftest import FIXTURES

REAL_EXCLUSIONS = "ees2019_exclusions_by_geographic_level_201617_subset.csv"


@pytest.fixture
def landing(tmp_path, reference):
    landing = tmp_path / "landing"
    (landing / "dfe" / "2017").mkdir(parents=True)
    (landing / "gias").mkdir(parents=True)
    shutil.copy(reference / "dfe" / REAL_EXCLUSIONS, landing / "dfe" / "2017" / "exclusions.csv")
    shutil.copy(reference / "dfe" / (REAL_EXCLUSIONS[:-4] + ".meta.csv"), landing / "dfe" / "2017")
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", landing / "dfe" / "mystery.csv")
    shutil.copy(FIXTURES / "dfe" / "unreadable_ragged.csv", landing / "dfe" / "ragged.csv")
    shutil.copy(FIXTURES / "dfe" / "quarantine__urn_format.csv", landing / "dfe" / "bad_urn.csv")
    shutil.copy(reference / "dfe" / "gias_edubasealldata_sample_2018.csv", landing / "gias" / "edubasealldata20180920.csv")
    return landing


def test_real_file_loads_with_provenance_and_bad_files_are_quarantined(tmp_path, landing):
    lake = Lake(tmp_path / "lake")
    report = load_dfe(landing, lake)

    statuses = {f.file: f.status for f in report.files}
    assert statuses == {
        "dfe/2017/exclusions.csv": "loaded",
        "dfe/bad_urn.csv": "loaded",
        "dfe/mystery.csv": "quarantined_file",
        "dfe/ragged.csv": "quarantined_file",
        # the metadata of a file renamed exclusions.csv sits beside no file of its name: reported, not read
        "dfe/2017/ees2019_exclusions_by_geographic_level_201617_subset.meta.csv": "ignored",
    }
    exclusions = lake.read("dfe_exclusions").filter(pl.col("_source_file") == "dfe/2017/exclusions.csv")
    assert exclusions.height == 20000
    assert exclusions["_source_sha256"].unique().to_list() == [
        sha256_file(landing / "dfe" / "2017" / "exclusions.csv")]
    assert exclusions["_loaded_at"].null_count() == 0

    # the unreadable/unknown files are moved, kept, with their reason beside them
    assert not (landing / "dfe" / "mystery.csv").exists()
    moved = landing / "quarantine" / "dfe" / "mystery.csv"
    assert moved.exists()
    reason = (landing / "quarantine" / "dfe" / "mystery.csv.reason.txt").read_text()
    assert "mystery.csv" in reason
    assert "columns not placed: suspensions_total, pupils_suspended" in reason
    quarantine = lake.read("quarantine")
    whole = quarantine.filter(pl.col("row_number").is_null())
    assert sorted(whole["rule"].to_list()) == ["file_unreadable", "unknown_format"]
    rows = quarantine.filter(pl.col("_source_file") == "dfe/bad_urn.csv")
    assert rows.height >= 1 and set(rows["rule"]) == {"urn_format"}


def test_loading_twice_changes_nothing(tmp_path, landing):
    lake = Lake(tmp_path / "lake")
    load_gias(landing, lake)
    load_dfe(landing, lake)
    before = sorted(p.relative_to(lake.root).as_posix() for p in lake.root.rglob("*.parquet"))
    mtimes = {p: p.stat().st_mtime_ns for p in lake.root.rglob("*.parquet")}

    again = load_dfe(landing, lake)
    assert {f.status for f in again.files if not f.file.endswith(".meta.csv")} == {"skipped"}
    after = sorted(p.relative_to(lake.root).as_posix() for p in lake.root.rglob("*.parquet"))
    assert before == after
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    counts = lake.read("dfe_exclusions").group_by("_source_file").len()
    assert dict(counts.iter_rows())["dfe/2017/exclusions.csv"] == 20000  # not doubled


def test_gias_loads_only_declared_columns(tmp_path, landing):
    lake = Lake(tmp_path / "lake")
    report = load_gias(landing, lake)
    assert [f.status for f in report.files] == ["loaded"]
    gias = lake.read("gias_establishments")
    assert gias.height == 4
    assert not any("head" in c.lower() or "telephone" in c.lower() for c in gias.columns)
    text = b"".join(p.read_bytes() for p in (tmp_path / "lake").rglob("*.parquet"))
    assert b"Bouette" not in text  # a head teacher's surname in the real sample


def test_survey_exports_are_not_read_without_a_pseudonym_key(tmp_path):
    from ingestion.load import PseudonymKeyMissing, load_surveys

    landing = tmp_path / "landing"
    (landing / "surveys").mkdir(parents=True)
    shutil.copy(FIXTURES / "surveys" / "googleforms_pupil_labels.csv", landing / "surveys")
    lake = Lake(tmp_path / "lake")
    with pytest.raises(PseudonymKeyMissing, match="BELONGING_PSEUDONYM_KEY is not set"):
        load_surveys(landing, lake, pseudonym_key=None, settings={})
    assert lake.read("survey_responses").is_empty()
    # with no survey exports there is nothing to protect: no key needed
    (landing / "surveys" / "googleforms_pupil_labels.csv").unlink()
    assert load_surveys(landing, lake, pseudonym_key=None, settings={}).files == []


def test_a_refresh_keeps_landing_digests_and_skips_without_reading(tmp_path, landing, monkeypatch):
    from ingestion import files
    from ingestion.landing import KnownDigests

    monkeypatch.setattr(KnownDigests, "RACY_NS", 0)  # as if the files were written long before
    lake, cache = Lake(tmp_path / "lake"), tmp_path / "cache"
    first = load_gias(landing, lake, cache=cache)
    assert first.count("loaded") == 1 and (cache / "landing-sha256-gias.json").is_file()
    reads = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda path: reads.append(path) or real(path))
    again = load_gias(landing, lake, cache=cache)
    assert again.count("skipped") == 1 and reads == []  # found unchanged by its stat alone
    assert load_gias(landing, lake).count("skipped") == 1 and len(reads) == 1  # without a cache: read
