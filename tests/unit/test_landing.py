"""landing/ is read, never followed out of: links and non-regular files are refused, never opened, moved or
deleted, and quarantine moves only regular files that sit under landing/ (ingestion/landing.py).

Each test plants what a hostile user or a careless supplier would, then checks that the file outside
landing/ (a system file, a published release) is exactly as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from ingestion.lake import Lake
from ingestion.landing import LandingRefused, move_to_quarantine, scan
from ingestion.load import load_dfe, load_gias, load_surveys
from ingestion.validate import validate_file
from tests.conftest import FIXTURES

SECRET = b"root:$6$not-a-real-hash:19000:0:99999:7:::\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the home that nothing may touch (stands in for /etc/passwd)."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd").write_bytes(SECRET)
    return folder / "passwd"


@pytest.fixture
def release(tmp_path) -> Path:
    """A published release: manifest and an extract, read-only as publish_release leaves them."""
    rel = tmp_path / "home" / "releases" / "20261122T190000Z-aaaaaa"
    (rel / "extracts").mkdir(parents=True)
    (rel / "manifest.json").write_text('{"release_id": "20261122T190000Z-aaaaaa"}\n')
    (rel / "extracts" / "admin_indicators_national.csv").write_text("time_period,x\n202526,1\n")
    for p in (rel / "manifest.json", rel / "extracts" / "admin_indicators_national.csv"):
        p.chmod(0o444)
    return rel


@pytest.fixture
def landing(tmp_path) -> Path:
    landing = tmp_path / "home" / "landing"
    for family in ("dfe", "gias", "surveys"):
        (landing / family).mkdir(parents=True)
    return landing


def test_a_link_to_a_file_outside_is_refused_and_its_target_never_moved(tmp_path, landing, outside, caplog):
    (landing / "surveys" / "x").mkdir()
    (landing / "surveys" / "x" / "passwd.csv").symlink_to(outside)
    (landing / "dfe" / "passwd.csv").symlink_to(outside)
    before = digest(outside)

    lake = Lake(tmp_path / "home" / "lake")
    report = load_dfe(landing, lake)
    surveys = load_surveys(landing, lake, pseudonym_key=b"k", settings={})

    assert outside.read_bytes() == SECRET and digest(outside) == before
    assert [(f.file, f.status) for f in report.files] == [("dfe/passwd.csv", "refused")]
    assert [(f.file, f.status) for f in surveys.files] == [("surveys/x/passwd.csv", "refused")]
    assert "symbolic link" in report.files[0].message
    # the link itself stays where it was: never opened, moved or deleted
    assert (landing / "dfe" / "passwd.csv").is_symlink()
    assert not (landing / "quarantine").exists()
    assert lake.read("quarantine").height == 0 and lake.read("file_loads").height == 0
    assert "refused landing/dfe/passwd.csv: a symbolic link" in caplog.text
    assert report.as_metadata()["files_refused"] == 1


def test_links_into_a_release_leave_it_whole(tmp_path, landing, release):
    """The attack that destroyed a release: links in landing to its manifest and to one of its extracts."""
    files = [release / "manifest.json", release / "extracts" / "admin_indicators_national.csv"]
    before = {p: digest(p) for p in files}
    (landing / "dfe" / "manifest.csv").symlink_to(files[0])
    (landing / "gias" / "extract.csv").symlink_to(files[1])
    (landing / "dfe" / "released").symlink_to(release, target_is_directory=True)

    lake = Lake(tmp_path / "home" / "lake")
    outcomes = load_dfe(landing, lake).files + load_gias(landing, lake).files

    assert {p: digest(p) for p in files} == before
    assert sorted((f.file, f.status) for f in outcomes) == [
        ("dfe/manifest.csv", "refused"), ("dfe/released", "refused"), ("gias/extract.csv", "refused")]
    assert sorted(p.name for p in release.rglob("*")) == ["admin_indicators_national.csv", "extracts",
                                                          "manifest.json"]


def test_a_linked_family_folder_is_not_descended(tmp_path, landing, outside):
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", outside.parent / "mystery.csv")
    shutil.rmtree(landing / "dfe")
    (landing / "dfe").symlink_to(outside.parent, target_is_directory=True)
    found = scan(landing, "dfe")
    assert found.files == [] and [r.relative for r in found.refused] == ["dfe"]
    report = load_dfe(landing, Lake(tmp_path / "lake"))
    assert [(f.file, f.status) for f in report.files] == [("dfe", "refused")]
    assert sorted(p.name for p in outside.parent.iterdir()) == ["mystery.csv", "passwd"]


def test_a_fifo_is_refused_without_being_opened(tmp_path, landing):
    os.mkfifo(landing / "dfe" / "pipe.csv")  # opening it for reading would block the refresh forever
    found = scan(landing, "dfe")
    assert found.files == [] and found.refused[0].relative == "dfe/pipe.csv"
    assert "not a regular file" in found.refused[0].reason


def test_quarantine_through_a_linked_quarantine_folder_moves_nothing(tmp_path, landing, release):
    """landing/quarantine made a link to a release folder: the unreadable file stays where it is."""
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", landing / "dfe" / "mystery.csv")
    (landing / "quarantine").symlink_to(release / "extracts", target_is_directory=True)
    lake = Lake(tmp_path / "home" / "lake")
    report = load_dfe(landing, lake)

    assert [(f.file, f.status) for f in report.files] == [("dfe/mystery.csv", "quarantined_file")]
    assert (landing / "dfe" / "mystery.csv").is_file()  # left in place, not moved through the link
    assert sorted(p.name for p in (release / "extracts").iterdir()) == ["admin_indicators_national.csv"]
    whole = lake.read("quarantine")
    assert whole["rule"].to_list() == ["unknown_format"]


def test_a_planted_reason_link_is_replaced_not_written_through(tmp_path, landing, release):
    target = release / "manifest.json"
    before = digest(target)
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", landing / "dfe" / "mystery.csv")
    (landing / "quarantine" / "dfe").mkdir(parents=True)
    (landing / "quarantine" / "dfe" / "mystery.csv.reason.txt").symlink_to(target)
    load_dfe(landing, Lake(tmp_path / "home" / "lake"))
    assert digest(target) == before
    reason = landing / "quarantine" / "dfe" / "mystery.csv.reason.txt"
    assert not reason.is_symlink() and "columns not placed" in reason.read_text()
    assert (landing / "quarantine" / "dfe" / "mystery.csv").is_file()


def test_move_to_quarantine_refuses_a_link_swapped_in_after_the_scan(tmp_path, landing, outside):
    (landing / "dfe" / "late.csv").symlink_to(outside)
    with pytest.raises(LandingRefused, match="symbolic link"):
        move_to_quarantine(landing, "dfe/late.csv", "ab" * 32, "unknown format")
    (landing / "dfe" / "sub").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(LandingRefused, match="sub is a symbolic link"):
        move_to_quarantine(landing, "dfe/sub/passwd", "ab" * 32, "unknown format")
    assert outside.read_bytes() == SECRET
    assert (landing / "dfe" / "late.csv").is_symlink()


def test_a_regular_unreadable_file_is_still_quarantined_with_its_reason(tmp_path, landing):
    shutil.copy(FIXTURES / "dfe" / "unknown_vintage.csv", landing / "dfe" / "mystery.csv")
    # another unreadable file (the same bytes twice would be read once: the second is skipped, naming the first)
    (landing / "dfe" / "again.csv").write_bytes((FIXTURES / "dfe" / "unknown_vintage.csv").read_bytes() + b"\n")
    (landing / "quarantine" / "dfe").mkdir(parents=True)
    (landing / "quarantine" / "dfe" / "mystery.csv").write_text("an earlier file of that name\n")
    report = load_dfe(landing, Lake(tmp_path / "lake"))
    assert {f.status for f in report.files} == {"quarantined_file"}
    moved = sorted(p.name for p in (landing / "quarantine" / "dfe").iterdir())
    sha = hashlib.sha256((FIXTURES / "dfe" / "unknown_vintage.csv").read_bytes()).hexdigest()[:8]
    assert moved == ["again.csv", "again.csv.reason.txt", "mystery.csv", f"mystery.{sha}.csv",
                     f"mystery.{sha}.csv.reason.txt"]
    assert (landing / "quarantine" / "dfe" / "mystery.csv").read_text() == "an earlier file of that name\n"


def test_validate_refuses_a_link_and_reads_nothing(tmp_path, outside):
    link = tmp_path / "export.csv"
    link.symlink_to(outside)
    report = validate_file(link)
    assert report.refused and not report.ok
    assert report.text().splitlines()[1].startswith("REFUSED: a symbolic link")
    assert SECRET.decode() not in report.text()
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert "not a regular file" in validate_file(fifo).text()


def test_status_lists_refused_entries(tmp_path, landing, outside):
    from orchestration.settings import Home
    from orchestration.status import status_text

    (landing / "surveys" / "passwd.csv").symlink_to(outside)
    text = status_text(Home(tmp_path / "home"))
    assert "refused in landing (never opened, moved or deleted): 1" in text
    assert "refused landing/surveys/passwd.csv: a symbolic link" in text
    # status reads the lake without writing to it
    assert not (tmp_path / "home" / "lake").exists()


def test_validate_writes_nothing_under_the_home(tmp_path, capsys):
    """`belonging validate FILE` says what would load: it creates no home and changes nothing in one."""
    from orchestration.cli import main

    export = tmp_path / "exclusions.csv"
    shutil.copy(FIXTURES / "dfe" / "quarantine__urn_format.csv", export)
    home = tmp_path / "never"
    assert main(["validate", str(export), "--home", str(home)]) == 0
    assert "rows that would be quarantined: 1" in capsys.readouterr().out
    assert not home.exists()
    existing = tmp_path / "home"
    (existing / "landing" / "dfe").mkdir(parents=True)
    before = sorted(p.relative_to(existing).as_posix() for p in existing.rglob("*"))
    main(["validate", str(export), "--home", str(existing)])
    assert sorted(p.relative_to(existing).as_posix() for p in existing.rglob("*")) == before
