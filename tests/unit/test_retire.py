"""Taking a bad file back out: a loaded file that fails its raw gate is retired (recorded, reversible, never
deleted), the gate passes without it, the loader skips it with a note while it sits in landing/, and undo
brings its rows back (the gate fails again)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from expectations.raw import raw_gate
from ingestion import retire
from ingestion.files import sha256_file
from ingestion.lake import Lake
from ingestion.load import load_dfe
from orchestration.cli import main
from tests.conftest import GATES

REAL_EXCLUSIONS = "ees2019_exclusions_by_geographic_level_201617_subset.csv"


def gate(lake: Lake):
    return raw_gate("dfe_exclusions", lake.read("dfe_exclusions"), row_count_tolerance=GATES["row_count_tolerance"])


@pytest.fixture
def home(tmp_path, reference):
    """A home whose lake holds a real exclusions file and a one-school "correction" of it under another name,
    which fails the raw gate (no_overlapping_files: not a re-issue)."""
    home = tmp_path / "home"
    dfe = home / "landing" / "dfe"
    dfe.mkdir(parents=True)
    lines = (reference / "dfe" / REAL_EXCLUSIONS).read_bytes().splitlines(keepends=True)[:301]  # 300 rows do
    (dfe / "exclusions.csv").write_bytes(b"".join(lines))
    school = next(line for line in lines if b",School," in line)
    (dfe / "revised.csv").write_bytes(lines[0] + school)
    load_dfe(home / "landing", Lake(home / "lake"))
    return home


def test_retire_takes_the_file_out_and_undo_brings_it_back(home):
    lake = Lake(home / "lake")
    sha = sha256_file(home / "landing" / "dfe" / "revised.csv")
    failing = gate(lake)
    assert not failing.passed and "no_overlapping_files" in str(failing.failures)
    rows_before = lake.read("dfe_exclusions").height

    record = retire.retire(lake.root, sha, "dfe/revised.csv", "duplicate school row", who="analyst",)
    assert record["retired_by"] == "analyst" and record["reason"] == "duplicate school row"
    assert "file_loads" in {p.split("/")[0] for p in record["parts"]}
    assert not lake.loaded(sha) and not list((lake.raw / "dfe_exclusions").glob(f"{sha}*"))
    assert gate(lake).passed  # the lake as dbt reads it: without the file
    # nothing is deleted: every part sits in lake/retired/<sha256>/ with the record
    moved = sorted(p.relative_to(lake.root / "retired" / sha).as_posix()
                   for p in (lake.root / "retired" / sha).rglob("*.parquet"))
    assert moved == record["parts"]

    # the next refresh meets the file in landing/: skipped with a note, not loaded again
    again = {f.file: f for f in load_dfe(home / "landing", lake).files}
    assert again["dfe/revised.csv"].status == "retired"
    assert "take it out of landing/" in again["dfe/revised.csv"].message
    assert f"belonging retire --undo {sha[:12]}" in again["dfe/revised.csv"].message
    assert not lake.loaded(sha) and gate(lake).passed

    retire.undo(lake.root, sha, who="analyst")
    assert lake.loaded(sha) and lake.read("dfe_exclusions").height == rows_before
    assert not gate(lake).passed and retire.retired(lake.root) == []
    log = [json.loads(line) for line in (lake.root / "retired" / "log.jsonl").read_text().splitlines()]
    assert [(e["action"], e["sha256"]) for e in log] == [("retire", sha), ("undo", sha)]


def test_what_a_user_types_is_resolved_or_refused_in_one_line(home, tmp_path):
    lake_root = home / "lake"
    sha = sha256_file(home / "landing" / "dfe" / "revised.csv")
    assert retire.resolve(lake_root, "dfe/revised.csv") == (sha, "dfe/revised.csv")
    assert retire.resolve(lake_root, sha[:10]) == (sha, "dfe/revised.csv")
    assert retire.resolve(lake_root, str(home / "landing" / "dfe" / "revised.csv")) == (sha, "dfe/revised.csv")
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("never loaded\n")
    for target, error in ((str(stranger), "was never loaded"), ("dfe/nothing.csv", "no such file, sha256"),
                          ("f" * 64, "no file with sha256")):
        with pytest.raises(retire.RetireError, match=error):
            retire.resolve(lake_root, target)
    with pytest.raises(retire.RetireError, match="say why"):
        retire.retire(lake_root, sha, "dfe/revised.csv", " ")
    retire.retire(lake_root, sha, "dfe/revised.csv", "duplicate")
    with pytest.raises(retire.RetireError, match="already retired"):
        retire.retire(lake_root, sha, "dfe/revised.csv", "again")
    assert retire.resolve(lake_root, sha[:8]) == (sha, "dfe/revised.csv")  # a retired file is still named
    with pytest.raises(retire.RetireError, match="is not retired"):
        retire.undo(lake_root, "0" * 64)


def test_the_command_retires_lists_and_undoes(home, capsys):
    sha = sha256_file(home / "landing" / "dfe" / "revised.csv")
    assert main(["retire", "dfe/revised.csv", "--home", str(home)]) == 2
    assert "say why with --reason" in capsys.readouterr().err
    assert main(["retire", "dfe/revised.csv", "--reason", "duplicate school row", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"retired dfe/revised.csv ({sha[:12]}):") and "the next refresh builds without it" in out
    assert main(["status", "--home", str(home)]) == 0
    status = capsys.readouterr().out
    assert f"  {sha[:12]} dfe/revised.csv: retired " in status and ": duplicate school row" in status
    assert main(["retire", "--home", str(home)]) == 0
    assert "dfe/revised.csv" in capsys.readouterr().out
    assert main(["retire", "--undo", sha[:12], "--home", str(home)]) == 0
    assert "brought back dfe/revised.csv" in capsys.readouterr().out
    loads = pl.read_parquet(str(home / "lake" / "raw" / "file_loads" / "*.parquet"))
    assert sha in loads["_source_sha256"].to_list()
